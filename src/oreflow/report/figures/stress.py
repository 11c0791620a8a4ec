"""Figures of a disruption run (:class:`oreflow.simulate.Result`): price fan charts inside
and outside the controller with the shock dates marked, and shortfall by region and sector.

Built from the result's own P10/P50/P90 tables (:meth:`~oreflow.simulate.Result.quantiles`,
:meth:`~oreflow.simulate.Result.sector_shortfall`); nothing is re-simulated.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go

from oreflow.errors import InputError, unknown
from oreflow.headline import affected, scenario_sources

from ._style import PALETTE, new_figure, rgba, set_meta

if TYPE_CHECKING:
    from oreflow.simulate import Result, Scenario

__all__ = ["affected_materials", "fan_chart", "scenario_sources", "shock_dates",
           "shortfall_figure"]


def shock_dates(scenario: Scenario) -> list[tuple[_dt.date, str]]:
    """Dated events of a scenario's shocks: (date, label), e.g. a restriction's effect,
    end, approval steps and general licence; sorted by date, events of one calendar month
    on one line (dated by the first)."""
    out: list[tuple[_dt.date, str]] = []
    for shock in scenario.shocks:
        sid = str(getattr(shock, "id", None) or getattr(shock, "kind", "shock"))
        for attr, what in (("announced", "announced"), ("effective", "in effect"),
                           ("start", "starts"), ("end", "ends")):
            d = getattr(shock, attr, None)
            if isinstance(d, _dt.date):
                out.append((d, f"{sid} {what}"))
        for step in getattr(shock, "approval_path", None) or []:
            out.append((step.start, f"{sid}: approvals change"))
        gl = getattr(shock, "general_licence", None)
        if gl is not None:
            out.append((gl.start, f"{sid}: general licences"))
    # events within one month share a line (labels would overlap on a monthly axis)
    merged: dict[tuple[int, int], tuple[_dt.date, str]] = {}
    for d, label in sorted(out, key=lambda x: x[0]):
        key = (d.year, d.month)
        if key in merged:
            first, text = merged[key]
            merged[key] = (first, text if label in text else f"{text}; {label}")
        else:
            merged[key] = (d, label)
    return sorted(merged.values())


def affected_materials(result: Result) -> list[str]:
    """Materials whose price or supply moves in any segment (P90 band), in result order:
    the ones ``oreflow stress`` shows."""
    return list(dict.fromkeys(affected(result.summary())["material"]))


def _check_material(result: Result, material: str) -> None:
    if material not in result.materials:
        raise unknown("material", material, result.materials)


def fan_chart(result: Result, material: str, *, variable: str = "price") -> go.Figure:
    """Fan chart of one material: P10-P90 band and P50 line per market segment (inside the
    controller, the rest of the world, the targets), shock dates as dashed lines.

    Parameters
    ----------
    result : oreflow.simulate.Result
        A disruption run.
    material : str
        One of ``result.materials``.
    variable : str, default ``price``
        A variable of :data:`oreflow.simulate.result.VARIABLES` (``price`` [USD/kg],
        ``price_multiple`` [x base], ``shortfall`` [t/month] …).

    Returns
    -------
    plotly.graph_objects.Figure
        Traces per segment: ``"<region> P10-P90"`` (band, two traces) and ``"<region> P50"``;
        ``layout.meta`` has the sources, ``figure="fan"``, the material and variable.
    """
    _check_material(result, material)
    try:
        q = result.quantiles(variable)
    except KeyError as exc:
        raise InputError(str(exc.args[0])) from None
    unit = str(q["unit"].iloc[0]) if not q.empty else ""
    q = q[q["material"] == material]
    sc = result.scenario
    fig = new_figure(f"{material}: {variable.replace('_', ' ')} [{unit}], P50 and P10-P90 "
                     f"over {result.provenance.get('draws', '?')} draws — {sc.name}")
    for k, region in enumerate(result.regions):
        g = q[q["region"] == region].sort_values("month")
        if g.empty:
            continue
        role = result.roles[k]
        name = region if region == role else f"{region} ({role})"
        colour = PALETTE[(4, 0, 2)[k]]
        x = g["date"].tolist()
        fig.add_trace(go.Scatter(x=x, y=g["p90"].tolist(), mode="lines",
                                 line={"width": 0, "color": colour}, name=f"{name} P90",
                                 legendgroup=name, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=x, y=g["p10"].tolist(), mode="lines", fill="tonexty",
                                 fillcolor=rgba(colour, 0.2), line={"width": 0,
                                                                    "color": colour},
                                 name=f"{name} P10-P90", legendgroup=name))
        fig.add_trace(go.Scatter(x=x, y=g["p50"].tolist(), mode="lines",
                                 line={"width": 2, "color": colour}, name=f"{name} P50",
                                 legendgroup=name,
                                 hovertemplate=f"%{{x|%b %Y}}: %{{y:.3g}} {unit}<extra>"
                                               f"{name} P50</extra>"))
    first, last = result.dates[0].date(), result.dates[-1].date()
    for d, label in shock_dates(sc):
        if first <= d <= last:
            fig.add_vline(x=pd.Timestamp(d).timestamp() * 1000, line_dash="dash",
                          line_color="#555555", line_width=1)
            fig.add_annotation(x=pd.Timestamp(d), y=1.0, yref="paper", text=label,
                               showarrow=False, textangle=-90, xanchor="right",
                               yanchor="top", font={"size": 9, "color": "#555555"})
    fig.update_xaxes(title_text="month")
    fig.update_yaxes(title_text=f"{variable.replace('_', ' ')} [{unit}]", rangemode="tozero")
    return set_meta(fig, scenario_sources(sc), figure="fan", material=material,
                    variable=variable, unit=unit, scenario=sc.name,
                    scenario_hash=result.provenance.get("scenario_hash"),
                    seed=result.provenance.get("seed"), draws=result.provenance.get("draws"))


def shortfall_figure(result: Result, *, materials: list[str] | None = None) -> go.Figure:
    """Cumulative shortfall over the horizon by region and sector [t], P50 bars with a
    P10-P90 whisker, one bar group per material and sector (those with any P90 shortfall).

    Returns
    -------
    plotly.graph_objects.Figure
        One bar trace per region; ``customdata`` holds the P10 and P90.
    """
    ss = result.sector_shortfall()
    if materials is not None:
        for m in materials:
            _check_material(result, m)
        ss = ss[ss["material"].isin(materials)]
    ss = ss[ss["shortfall_t_p90"] > 0]
    fig = new_figure(f"Shortfall by region and sector over {result.scenario.horizon_months} "
                     f"months [t], P50 and P10-P90 — {result.scenario.name}")
    for k, region in enumerate(result.regions):
        g = ss[ss["region"] == region]
        if g.empty:
            continue
        fig.add_trace(go.Bar(
            x=[f"{m} · {s}" for m, s in zip(g["material"], g["sector"], strict=True)],
            y=g["shortfall_t_p50"].tolist(), name=region,
            marker_color=PALETTE[(4, 0, 2)[k]],
            error_y={"type": "data", "symmetric": False,
                     "array": (g["shortfall_t_p90"] - g["shortfall_t_p50"]).tolist(),
                     "arrayminus": (g["shortfall_t_p50"] - g["shortfall_t_p10"]).tolist()},
            customdata=g[["shortfall_t_p10", "shortfall_t_p90"]].to_numpy(),
            hovertemplate="%{x}: %{y:,.0f} t (P10 %{customdata[0]:,.0f}, "
                          "P90 %{customdata[1]:,.0f})<extra>" + region + "</extra>"))
    if not ss.empty:
        fig.update_layout(barmode="group")
    else:
        fig.add_annotation(text="no shortfall in any draw", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    fig.update_yaxes(title_text="cumulative shortfall [t]")
    return set_meta(fig, scenario_sources(result.scenario), figure="shortfall", unit="t",
                    scenario=result.scenario.name,
                    scenario_hash=result.provenance.get("scenario_hash"))


