'use strict';
// Build src/oreflow/report/assets/plotly-oreflow-<version>.min.js with the options of
// plotly.js's own esbuild-config.js (format iife, globalName Plotly, same plugins, alias,
// define and target), minified as plotly.js's tasks/partial_bundle does.
const fs = require('fs');
const path = require('path');
const esbuild = require('esbuild');
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');

const version = require('plotly.js/package.json').version;
const assets = path.resolve(__dirname, '..', '..', 'src', 'oreflow', 'report', 'assets');
const outfile = path.join(assets, `plotly-oreflow-${version}.min.js`);
const traces = ['scatter', 'bar', 'choropleth', 'sankey'];
const header = [
    '/**',
    `* plotly.js (oreflow bundle: ${traces.join(', ')}) v${version}`,
    '* Copyright 2012-2026, Plotly, Inc.',
    '* All rights reserved.',
    '* Licensed under the MIT license',
    '*/'
].join('\n');

esbuild.build({
    entryPoints: [path.join(__dirname, 'entry.js')],
    outfile,
    format: 'iife',
    globalName: 'Plotly',
    bundle: true,
    minify: true,
    sourcemap: false,
    banner: { js: header },
    plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
    alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
    define: { global: 'window', 'define.amd': 'false' },
    target: 'es2016',
    logLevel: 'info'
}).then(() => {
    fs.copyFileSync(require.resolve('plotly.js/LICENSE'), path.join(assets, 'LICENSE-plotly.js'));
}).catch(() => process.exit(1));
