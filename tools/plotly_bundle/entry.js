'use strict';
// oreflow's plotly.js bundle: core (scatter) + the trace types oreflow's figures use.
var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/bar'),
    require('plotly.js/lib/choropleth'),
    require('plotly.js/lib/sankey')
]);

module.exports = Plotly;
