"""HTML of results in notebooks: a compact table and the main figure.

The ``_repr_html_`` methods of :class:`oreflow.simulate.Result`,
:class:`oreflow.plan.PlanResult` and :class:`oreflow.simulate.validate.Validation` call these
functions (imported inside the method: science modules must not load Plotly when imported).
Figures carry Plotly.js inlined, so a saved notebook shows them offline (about 5 MB per
figure); ``figure=False`` gives the table alone.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from .export import figure_html
from .tables import affected, headline_table

if TYPE_CHECKING:
    from oreflow.plan.result import PlanResult
    from oreflow.simulate import Result
    from oreflow.simulate.validate import Validation

__all__ = ["plan_html", "result_html", "validation_html"]

NOT_RECOVERED = "not within horizon"


def _fig(fig: go.Figure) -> str:
    return figure_html(fig, full_html=False, include_plotlyjs=True)


def result_html(result: Result, *, figure: bool = True) -> str:
    """A run's provenance line, the P50 (P10–P90) of the headline numbers in the segments
    whose price or supply moved, and the price fan chart of the material with the highest
    P50 peak outside the controller."""
    prov = result.provenance
    head = (f"<p><b>{html.escape(result.scenario.name)}</b>: {prov.get('draws')} draws, "
            f"seed {prov.get('seed')}, {result.scenario.horizon_months} months from "
            f"{result.dates[0]:%Y-%m}; scenario hash "
            f"{html.escape(str(prov.get('scenario_hash')))}, dataset "
            f"{html.escape(str(prov.get('dataset_version')))}, oreflow "
            f"{html.escape(str(prov.get('package_version')))}</p>")
    rows = affected(result.summary())
    if rows.empty:
        return head + "<p>No price or supply moved in any segment.</p>"
    table = headline_table(rows, inf=NOT_RECOVERED).to_html(index=False, escape=True)
    out = head + table + "<p><small>P50 (P10–P90) over draws</small></p>"
    if figure:
        from .figures.stress import fan_chart

        outside = rows[rows["role"] != "controller"]
        pick = outside if not outside.empty else rows
        top = str(pick.loc[pick["peak_price_multiple_p50"].idxmax(), "material"])
        out += _fig(fan_chart(result, top))
    return out


def plan_html(plan: PlanResult, *, figure: bool = True) -> str:
    """A plan's status and cost, its choices, and its timeline."""
    head = (f"<p><b>{html.escape(plan.bloc)}</b>: plan {html.escape(plan.status)}, capital "
            f"cost {plan.total_capex_musd:,.0f} M USD; targets "
            f"{html.escape(', '.join(plan.targets) or 'none')}</p>")
    cols = ["option_id", "stage", "start_year", "online_year", "full_year", "units",
            "capacity_t_per_yr", "capex_musd", "decided"]
    frame = plan.choices_frame()
    body = (frame[[c for c in cols if c in frame.columns]].to_html(index=False, escape=True)
            if not frame.empty else "<p>No options chosen.</p>")
    if figure and plan.choices:
        from .figures.plan import timeline_figure

        body += _fig(timeline_figure(plan))
    return head + body


def validation_html(v: Validation, *, figure: bool = True) -> str:
    """A validation's verdict, its bands and the observed-over-model figure."""
    colour = "green" if v.passes else "#D55E00"
    out = (f"<p style='color:{colour}'><b>{html.escape(v.verdict())}</b></p>"
           + v.checks.to_html(index=False, escape=True))
    if figure:
        from .figures.validation import validation_figure

        out += _fig(validation_figure(v))
    return out
