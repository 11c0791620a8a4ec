"""Figures of a plan (:class:`oreflow.plan.PlanResult`) and of a cost frontier
(:class:`oreflow.plan.formulate.Frontier`): the timeline of the chosen options and the least
capital cost by target year. Drawn from the results; nothing is re-solved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from ._style import STAGE_COLOURS, new_figure, rgba, set_meta

if TYPE_CHECKING:
    from oreflow.plan.formulate import Frontier
    from oreflow.plan.result import PlanResult

__all__ = ["frontier_figure", "timeline_figure"]


def _label(c: object) -> str:
    units = int(getattr(c, "units", 1))
    return (f"{getattr(c, 'option_id', '')}{f' ×{units}' if units > 1 else ''}"
            + (" (decided)" if getattr(c, "decided", False) else ""))


def timeline_figure(plan: PlanResult) -> go.Figure:
    """Gantt chart of a plan [years]: per option, building (light), ramping (mid) and at
    nameplate (dark) years; the decided pipeline in grey; target years as dashed lines.

    Returns
    -------
    plotly.graph_objects.Figure
        Three horizontal bar traces (``building``, ``ramping``, ``at nameplate``), one bar
        per choice in ``plan.choices`` order.
    """
    rows = list(plan.choices)
    last = max([int(plan.balance["year"].max())] + [int(c.full_year) + 1 for c in rows]) \
        if rows else int(plan.balance["year"].max())
    labels = [_label(c) for c in rows]
    colours = ["#BBBBBB" if c.decided else STAGE_COLOURS.get(
        "stockpile" if c.kind == "stockpile" else c.stage, "#666666") for c in rows]
    fig = new_figure(f"{plan.bloc}: plan ({plan.status}), capital cost "
                     f"{plan.total_capex_musd:,.0f} M USD — timeline [year]",
                     height=int(120 + 28 * max(len(rows), 4)))
    phases = (("building", [c.start_year for c in rows],
               [c.online_year - c.start_year for c in rows], 0.35),
              ("ramping", [c.online_year for c in rows],
               [c.full_year - c.online_year for c in rows], 0.7),
              ("at nameplate", [c.full_year for c in rows],
               [max(0.0, last - c.full_year) for c in rows], 1.0))
    for name, base, width, alpha in phases:
        fig.add_trace(go.Bar(
            y=labels, x=width, base=base, orientation="h", name=name,
            marker_color=[rgba(col, alpha) for col in colours],
            customdata=[[c.stage, c.capex_musd, c.capacity_t_per_yr] for c in rows],
            hovertemplate="%{y}: " + name + " from %{base:.1f}<br>stage %{customdata[0]}, "
                          "capex %{customdata[1]:,.0f} M USD, %{customdata[2]:,.0f} t/yr"
                          "<extra></extra>"))
    for t in plan.targets:
        year = int(t.rsplit("@", 1)[1])
        fig.add_vline(x=year, line_dash="dash", line_color="#333333", line_width=1)
        fig.add_annotation(x=year, y=1.02, yref="paper", text=t, showarrow=False,
                           font={"size": 9})
    fig.update_layout(barmode="overlay", showlegend=True)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="year")
    ids = list(plan.source_ids) + [s for c in rows for s in c.source_ids]
    return set_meta(fig, ids, figure="plan_timeline", bloc=plan.bloc, unit="year",
                    capex_musd=plan.total_capex_musd)


def frontier_figure(front: Frontier) -> go.Figure:
    """Least capital cost to meet a target by each target year [M USD]; years no plan
    reaches are marked at zero with the best share reachable.

    Returns
    -------
    plotly.graph_objects.Figure
        Trace ``least capex`` (feasible years) and, if any, ``not reachable``.
    """
    tab = front.table
    ok = tab[tab["feasible"]]
    bad = tab[~tab["feasible"]]
    fig = new_figure(f"What closes the gap by when: {front.target.rsplit('@', 1)[0]} — "
                     "least capital cost [M USD]")
    fig.add_trace(go.Scatter(x=ok["year"].tolist(), y=ok["capex_musd"].tolist(),
                             mode="lines+markers", name="least capex",
                             line={"color": "#0072B2"},
                             hovertemplate="%{x}: %{y:,.0f} M USD<extra></extra>"))
    if not bad.empty:
        fig.add_trace(go.Scatter(
            x=bad["year"].tolist(), y=[0.0] * len(bad), mode="markers+text",
            name="not reachable", marker={"symbol": "x", "color": "#D55E00", "size": 10},
            text=[f"best {r:.0%}" for r in bad["reachable"]], textposition="top center"))
    fig.update_xaxes(title_text="target year", dtick=1)
    fig.update_yaxes(title_text="capital cost [M USD]", rangemode="tozero")
    ids = [s for p in front.plans for s in p.source_ids]
    return set_meta(fig, ids, figure="plan_frontier", target=front.target, unit="M USD")
