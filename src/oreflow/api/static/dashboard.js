/* oreflow dashboard: draws the server's Plotly figures and runs jobs through /api.
   No plotting code: every figure arrives as Plotly JSON built by oreflow.report.figures. */
"use strict";
const TOPOJSON = document.body.dataset.topojson;
const CONFIG = {responsive: true, displaylogo: false, topojsonURL: TOPOJSON};

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/* Draw a figure (Plotly JSON) into a new box inside `host`, with its "Sources:" links. */
function drawFigure(host, fig, id) {
  const box = el("figure", {"class": "chart-box"});
  const div = el("div", {"class": "chart", id: id});
  const cap = el("figcaption", {"class": "sources"}, "Sources: ");
  const ids = ((fig.layout || {}).meta || {}).sources || [];
  ids.forEach((s, k) => {
    cap.appendChild(el("a", {href: "/data/sources/" + encodeURIComponent(s)}, s));
    if (k < ids.length - 1) cap.appendChild(document.createTextNode(", "));
  });
  if (!ids.length) cap.appendChild(document.createTextNode("none recorded"));
  box.append(div, cap);
  host.appendChild(box);
  return Plotly.newPlot(div, fig.data, fig.layout, CONFIG);
}

/* Server-rendered figures: <div data-figure="ID-json"> with its JSON in a script tag. */
function drawPageFigures() {
  document.querySelectorAll("[data-figure]").forEach((div) => {
    const fig = JSON.parse(document.getElementById(div.dataset.figure).textContent);
    Plotly.newPlot(div, fig.data, fig.layout, CONFIG);
  });
}

function table(host, rows, columns) {
  host.textContent = "";
  if (!rows || !rows.length) { host.appendChild(el("p", {}, "No rows.")); return; }
  const cols = columns || Object.keys(rows[0]);
  const t = el("table"), head = el("tr");
  cols.forEach((c) => head.appendChild(el("th", {scope: "col"}, c)));
  t.appendChild(el("thead")).appendChild(head);
  const body = t.appendChild(el("tbody"));
  rows.forEach((r) => {
    const tr = body.appendChild(el("tr"));
    cols.forEach((c) => tr.appendChild(el("td", {}, /year/.test(c) && r[c] !== null ? String(r[c]) : fmt(r[c]))));
  });
  host.appendChild(t);
}

function fmt(v) {
  if (v === null || v === undefined) return "∞";
  if (typeof v === "number") {
    return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en")
      : Number(v.toPrecision(3)).toLocaleString("en");
  }
  return String(v);
}

async function api(url, options) {
  const resp = await fetch(url, options);
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
  if (!resp.ok) {
    const msg = body && body.error ? body.error : `${resp.status} ${resp.statusText}`;
    throw new Error(msg);
  }
  return body;
}

function postJSON(url, data) {
  return api(url, {method: "POST", headers: {"content-type": "application/json"},
                   body: JSON.stringify(data)});
}

function say(text, isError) {
  const m = document.getElementById("message");
  m.textContent = text;
  m.classList.toggle("error", !!isError);
}

/* Poll a job until it ends, moving the progress bar; resolves with the finished job. */
async function follow(jobId, bar, show) {
  bar.hidden = false;
  for (;;) {
    const job = await api(`/api/jobs/${jobId}`);
    bar.value = job.progress || 0;
    show(job.message || job.status);
    if (job.status === "done") { bar.value = 1; return job; }
    if (["failed", "cancelled", "interrupted"].includes(job.status)) {
      throw new Error(job.error || `the job was ${job.status}`);
    }
    await new Promise((r) => setTimeout(r, 400));
  }
}

/* ---- scenario builder ---------------------------------------------------------------- */
let baseScenario = null;

function dist(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return {low: v, mode: v, high: v};
  if (v.dist === "triangular") return {low: v.low, mode: v.mode, high: v.high};
  return null;
}

async function loadBase() {
  const name = document.getElementById("base").value;
  const out = await api(`/api/scenarios/builtin/${encodeURIComponent(name)}`);
  baseScenario = out.scenario;
  const sc = baseScenario, shock = (sc.shocks || [])[0] || {};
  const set = (id, v) => { document.getElementById(id).value = v === null || v === undefined ? "" : v; };
  set("controller", shock.controller || sc.controller || "");
  set("materials", (shock.materials || []).join(", "));
  set("targets", (shock.targets || []).join(", "));
  set("start", String(sc.start || "").slice(0, 7));
  set("effective", String(shock.effective || shock.start || "").slice(0, 10));
  set("duration", shock.duration_months || "");
  set("horizon", sc.horizon_months);
  const d = dist(shock.approval_rate);
  document.getElementById("approval-box").disabled = !d;
  set("appr-low", d ? d.low : ""); set("appr-mode", d ? d.mode : ""); set("appr-high", d ? d.high : "");
  const path = shock.approval_path || [];
  document.getElementById("path-text").textContent = path.length
    ? path.map((p) => { const r = dist(p.rate); return `from ${p.start}: ${r ? r.mode : "?"}`; }).join("; ")
    : "none";
  const yaml = await fetch(`/api/scenarios/builtin/${encodeURIComponent(name)}?format=yaml`);
  document.getElementById("yaml").value = await yaml.text();
}

/* The scenario as the form says: the base with the key fields replaced. */
function composed() {
  const sc = JSON.parse(JSON.stringify(baseScenario));
  const shock = (sc.shocks || [])[0];
  const v = (id) => document.getElementById(id).value.trim();
  const list = (id) => v(id).split(",").map((s) => s.trim()).filter((s) => s);
  if (v("controller")) { sc.controller = v("controller").toUpperCase(); if (shock && "controller" in shock && shock.controller) shock.controller = sc.controller; }
  if (v("start")) sc.start = v("start");
  if (v("horizon")) sc.horizon_months = Number(v("horizon"));
  if (shock) {
    if ("materials" in shock) shock.materials = list("materials");
    if ("targets" in shock) shock.targets = list("targets");
    if (v("effective")) { if ("effective" in shock) shock.effective = v("effective"); else if ("start" in shock) shock.start = v("effective"); }
    if ("duration_months" in shock) shock.duration_months = v("duration") ? Number(v("duration")) : null;
    if (dist(shock.approval_rate)) {
      const [lo, mo, hi] = ["appr-low", "appr-mode", "appr-high"].map((id) => Number(v(id)));
      shock.approval_rate = lo === hi ? lo : {dist: "triangular", low: lo, mode: mo, high: hi};
      if (!document.getElementById("keep-path").checked) shock.approval_path = [];
    }
  }
  return sc;
}

function scenarioBody() {
  if (document.getElementById("use-yaml").checked) return {text: document.getElementById("yaml").value};
  return {scenario: composed()};
}

/* Run with the built-in by name when nothing was changed, else save and run the copy. */
async function scenarioRef() {
  const body = scenarioBody();
  if (!body.text && JSON.stringify(body.scenario) === JSON.stringify(baseScenario)) {
    return {scenario: document.getElementById("base").value};
  }
  const saved = await postJSON("/api/scenarios/saved", body);
  return {scenario_id: saved.id};
}

let lastRef = null;

async function runScenario() {
  const run = document.getElementById("run"), bar = document.getElementById("progress");
  run.disabled = true;
  document.getElementById("results").hidden = true;
  try {
    say("Checking the scenario…");
    await postJSON("/api/scenarios/validate", scenarioBody());
    lastRef = await scenarioRef();
    const draws = Number(document.getElementById("draws").value) || 300;
    const seed = Number(document.getElementById("seed").value) || 0;
    const job = await postJSON("/api/stress", {...lastRef, draws, seed, figures: true});
    const done = await follow(job.id, bar, (m) => say(`Running: ${m}`));
    const res = done.result;
    document.getElementById("results").hidden = false;
    table(document.getElementById("headline"), res.headline);
    const fans = document.getElementById("fans"), sf = document.getElementById("shortfall");
    fans.textContent = ""; sf.textContent = "";
    for (const [name, fig] of Object.entries(res.figures)) {
      if (name.startsWith("fan:")) await drawFigure(fans, fig, "fig-" + name.replace(":", "-"));
    }
    await drawFigure(sf, res.figures.shortfall, "fig-shortfall");
    say(`Done: ${res.scenario}, ${draws} draws, seed ${seed}.`);
  } catch (e) {
    say(e.message, true);
  } finally {
    run.disabled = false;
  }
}

async function report(format) {
  const msg = document.getElementById("report-message");
  const bar = document.getElementById("progress");
  const draws = Number(document.getElementById("draws").value) || 300;
  const seed = Number(document.getElementById("seed").value) || 0;
  try {
    msg.classList.remove("error");
    msg.textContent = `Building the ${format.toUpperCase()} report…`;
    const job = await postJSON("/api/reports", {...lastRef, draws, seed, format});
    await follow(job.id, bar, (m) => { msg.textContent = `Report: ${m}`; });
    const a = el("a", {href: `/api/jobs/${job.id}/file`, download: ""});
    document.body.appendChild(a); a.click(); a.remove();
    msg.textContent = `The ${format.toUpperCase()} report is downloading (`;
    msg.appendChild(el("a", {href: `/api/jobs/${job.id}/file`}, "link"));
    msg.appendChild(document.createTextNode(")."));
  } catch (e) {
    msg.textContent = e.message; msg.classList.add("error");
  }
}

function initScenario() {
  document.getElementById("base").addEventListener("change", () => loadBase().catch((e) => say(e.message, true)));
  document.getElementById("validate").addEventListener("click", async () => {
    try {
      const out = await postJSON("/api/scenarios/validate", scenarioBody());
      say(`Valid: ${out.name}, ${out.shocks} shock(s), ${out.horizon_months} months from ${out.start}.`);
    } catch (e) { say(e.message, true); }
  });
  document.getElementById("run").addEventListener("click", runScenario);
  document.getElementById("pdf").addEventListener("click", () => report("pdf"));
  document.getElementById("html").addEventListener("click", () => report("html"));
  loadBase().catch((e) => say(e.message, true));
}

/* ---- planner ------------------------------------------------------------------------- */
function initPlanner() {
  document.getElementById("plan-run").addEventListener("click", async () => {
    const btn = document.getElementById("plan-run");
    btn.disabled = true;
    document.getElementById("results").hidden = true;
    try {
      const targets = document.getElementById("targets").value.split("\n").map((s) => s.trim()).filter((s) => s);
      const preset = document.getElementById("preset").value;
      const budget = document.getElementById("budget").value;
      const body = {bloc: document.getElementById("bloc").value.trim(), targets,
                    presets: preset ? [preset] : [], figures: true,
                    frontier: document.getElementById("frontier").checked};
      if (budget) body.budget_usd = Number(budget);
      const job = await postJSON("/api/plan", body);
      const done = await follow(job.id, document.getElementById("progress"), (m) => say(`Planning: ${m}`));
      const res = done.result;
      document.getElementById("results").hidden = false;
      const tl = document.getElementById("timeline"), fr = document.getElementById("frontier-fig");
      tl.textContent = ""; fr.textContent = "";
      await drawFigure(tl, res.figures.plan_timeline, "fig-timeline");
      if (res.figures.plan_frontier) await drawFigure(fr, res.figures.plan_frontier, "fig-frontier");
      else fr.textContent = "Not asked (tick 'also the frontier').";
      document.getElementById("capex").textContent =
        `${res.feasible ? "Feasible" : "Not feasible within the budget"}: total capex ${fmt(res.capex_musd)} M USD.`;
      table(document.getElementById("cost"), res.cost);
      say(res.feasible ? `Done: a plan meets every target (${res.status}).`
        : "Done: no plan meets every target by its year within the budget; the timeline shows the best try, the frontier the years that can be met.");
    } catch (e) { say(e.message, true); } finally { btn.disabled = false; }
  });
}

/* ---- exposure ------------------------------------------------------------------------ */
function initExposure() {
  document.getElementById("exposure-run").addEventListener("click", async () => {
    const btn = document.getElementById("exposure-run");
    btn.disabled = true;
    document.getElementById("results").hidden = true;
    try {
      const file = document.getElementById("bom-file").files[0];
      const scenario = document.getElementById("scenario").value;
      const draws = Number(document.getElementById("draws").value) || 200;
      let job;
      say("Checking the bill of materials…");
      if (file) {
        const form = new FormData();
        form.append("file", file); form.append("scenario", scenario); form.append("draws", String(draws)); form.append("figures", "true");
        job = await api("/api/exposure/upload", {method: "POST", body: form});
      } else {
        job = await postJSON("/api/exposure", {example: document.getElementById("example").value, scenario, draws, figures: true});
      }
      const done = await follow(job.id, document.getElementById("progress"), (m) => say(`Running: ${m}`));
      const res = done.result;
      document.getElementById("results").hidden = false;
      const so = document.getElementById("stockout");
      so.textContent = "";
      if (res.figures && res.figures.stockout) await drawFigure(so, res.figures.stockout, "fig-stockout");
      const cols = ["product", "plant_country", "months_to_stockout_p50", "units_delayed_share_p50",
                    "cost_increase_usd_per_unit_p50", "revenue_at_risk_usd_p50"];
      const rows = (res.impact || {}).summary || [];
      table(document.getElementById("units"), rows, cols.filter((c) => rows.length && c in rows[0]));
      say(`Done: ${res.bom} under ${res.scenario}.`);
    } catch (e) { say(e.message, true); } finally { btn.disabled = false; }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  drawPageFigures();
  if (document.getElementById("scenario-form")) initScenario();
  if (document.getElementById("plan-form")) initPlanner();
  if (document.getElementById("exposure-form")) initExposure();
});
