"""oreflow's own Plotly.js bundle: only the trace types its figures draw.

The full ``plotly.min.js`` of the ``plotly`` package (4.8 MB, every trace type) is mostly
code oreflow never runs, and a browser compiles all of it before the first chart: on the
dashboard's overview that was most of the first render. ``report/assets/`` ships
``plotly-oreflow-<version>.min.js`` (about 1.6 MB), built from the SAME plotly.js release
the ``plotly`` package embeds with the trace types in :data:`TRACES` only (scatter is in
plotly.js's core). ``tools/plotly_bundle`` rebuilds it (npm + esbuild, plotly.js's own
build options); a figure with a new trace type needs a rebuild (a test checks the figures
of :mod:`oreflow.report.figures` against :data:`TRACES`).

The dashboard serves the bundle, and HTML output (the report, notebook views,
``write_figure(".html")``) inlines it when every trace of the figures is in :data:`TRACES`
(:func:`plotlyjs_for`); any other figure gets the full Plotly.js of the ``plotly`` package.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["BUNDLE_NAME", "PLOTLYJS_VERSION", "TRACES", "bundle_path", "covers",
           "plotlyjs_for", "script_tag"]

#: The plotly.js release the bundle is built from: the one the ``plotly`` package embeds.
PLOTLYJS_VERSION = "4.1.1"
#: Trace types the bundle registers (``type`` of a trace); everything else is left out.
TRACES: tuple[str, ...] = ("scatter", "bar", "choropleth", "sankey")
#: File name of the bundle in ``oreflow/report/assets``.
BUNDLE_NAME = f"plotly-oreflow-{PLOTLYJS_VERSION}.min.js"


def bundle_path() -> Path:
    """Path of the shipped bundle (MIT-licensed, ``LICENSE-plotly.js`` beside it)."""
    return Path(str(resources.files("oreflow.report") / "assets" / BUNDLE_NAME))


@cache
def _bundle_text() -> str:
    return bundle_path().read_text(encoding="utf-8")


def covers(figures: Iterable[go.Figure]) -> bool:
    """Whether the bundle draws every trace of ``figures`` (each trace type in
    :data:`TRACES`)."""
    return all(str(t.type) in TRACES for fig in figures for t in fig.data)


def plotlyjs_for(figures: Iterable[go.Figure]) -> str:
    """The Plotly.js source to inline for ``figures``: the bundle if it :func:`covers`
    them, else the full Plotly.js of the ``plotly`` package."""
    if covers(figures):
        return _bundle_text()
    import plotly.offline

    return str(plotly.offline.get_plotlyjs())


def script_tag(figures: Iterable[go.Figure]) -> str:
    """``<script>`` elements that define ``window.Plotly`` for ``figures``
    (:func:`plotlyjs_for`), as ``plotly``'s own ``include_plotlyjs=True`` writes them."""
    return ("<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n<script>"
            + plotlyjs_for(figures) + "</script>\n")
