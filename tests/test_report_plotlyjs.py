"""oreflow's Plotly.js bundle (oreflow.report.plotlyjs): built from the plotly.js release the
``plotly`` package embeds, registering exactly TRACES, and every figure of
``oreflow.report.figures`` draws only trace types in TRACES (a new one needs a rebuild with
tools/plotly_bundle). HTML output inlines the bundle only when it covers the figure."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import plotly
import plotly.graph_objects as go
from plotly.basedatatypes import BaseTraceType

from oreflow.report.export import figure_html
from oreflow.report.plotlyjs import (
    BUNDLE_NAME,
    PLOTLYJS_VERSION,
    TRACES,
    bundle_path,
    covers,
    plotlyjs_for,
)

FIGURES = Path(__file__).parents[1] / "src" / "oreflow" / "report" / "figures"
FULL = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _registered() -> list[str]:
    """Trace types the bundle registers (each trace module reads ``moduleType:"trace",
    name:"<type>"`` once minified)."""
    return re.findall(r'moduleType:"trace",name:"(\w+)"', bundle_path().read_text("utf-8"))


def test_bundle_is_the_embedded_release_with_exactly_the_traces() -> None:
    with FULL.open(encoding="utf-8") as f:
        full_head = f.read(200)
    assert f"plotly.js v{PLOTLYJS_VERSION}\n" in full_head  # else rebuild tools/plotly_bundle
    head = bundle_path().read_text("utf-8")[:300]
    assert f"v{PLOTLYJS_VERSION}" in head and BUNDLE_NAME.endswith(f"{PLOTLYJS_VERSION}.min.js")
    assert sorted(_registered()) == sorted(TRACES)
    assert "var Plotly=" in head  # an IIFE that defines window.Plotly in a classic script
    assert (bundle_path().parent / "LICENSE-plotly.js").read_text("utf-8").startswith(
        "MIT License")


def _trace_types_in(path: Path) -> set[str]:
    """Trace types a figure module builds: ``go.<Trace>(...)`` calls and ``type="..."``
    keyword or ``{"type": "..."}`` of a trace dict (``add_trace(dict(...))``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "go":
            cls = getattr(go, node.attr, None)
            if isinstance(cls, type) and issubclass(cls, BaseTraceType):
                found.add(str(cls().type))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("add_trace", "add_traces"):
            for sub in ast.walk(node):
                if isinstance(sub, ast.keyword) and sub.arg == "type" \
                        and isinstance(sub.value, ast.Constant):
                    found.add(str(sub.value.value))
    return found


def test_every_figure_uses_only_bundled_trace_types() -> None:
    used = {p.name: _trace_types_in(p) for p in sorted(FIGURES.glob("*.py"))}
    assert set().union(*used.values()) == set(TRACES)  # scatter, bar, choropleth, sankey
    missing = {name: sorted(t - set(TRACES)) for name, t in used.items() if t - set(TRACES)}
    assert missing == {}, f"not in the Plotly.js bundle (rebuild tools/plotly_bundle): {missing}"


def test_trace_scan_sees_other_trace_types(tmp_path: Path) -> None:
    """The scan is not vacuous: it finds a heatmap built either way."""
    mod = tmp_path / "fig.py"
    mod.write_text("fig = go.Figure(go.Heatmap(z=[[1]]))\nfig.add_trace(dict(type='pie'))\n")
    assert _trace_types_in(mod) == {"heatmap", "pie"}


def test_html_inlines_the_bundle_only_when_it_draws_every_trace() -> None:
    small = bundle_path().read_text("utf-8")
    bars = go.Figure(go.Bar(x=["a"], y=[1]))
    pie = go.Figure(go.Pie(values=[1, 2]))
    assert covers([bars]) and not covers([bars, pie])
    assert plotlyjs_for([bars]) == small
    assert plotlyjs_for([pie]) == plotly.offline.get_plotlyjs()
    page = figure_html(bars)
    assert small in page and page.count("<script") == 3  # config, bundle, the figure
    assert small not in figure_html(pie) and "plotly.js v4" in figure_html(pie)
    assert small not in figure_html(bars, full_html=False, include_plotlyjs=False)
    assert figure_html(bars, full_html=False).startswith("<script>window.PlotlyConfig")
    assert len(page) < 0.5 * FULL.stat().st_size
