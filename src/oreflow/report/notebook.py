"""HTML of results in notebooks with their main figure.

The results' own ``_repr_html_`` (:class:`oreflow.simulate.Result`,
:class:`oreflow.plan.PlanResult`, :class:`oreflow.simulate.validate.Validation`) shows their
tables and loads no Plotly (science modules do not import the report layer). These functions
add the main figure below that table: ``IPython.display.HTML(result_html(result))``. Figures
carry Plotly.js inlined, so a saved notebook shows them offline (about 5 MB per figure);
any figure of :mod:`oreflow.report.figures` also displays itself in a notebook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from oreflow.headline import affected, top_material

from .export import figure_html

if TYPE_CHECKING:
    from oreflow.plan.result import PlanResult
    from oreflow.simulate import Result
    from oreflow.simulate.validate import Validation

__all__ = ["plan_html", "result_html", "validation_html"]


def _fig(fig: go.Figure) -> str:
    return figure_html(fig, full_html=False, include_plotlyjs=True)


def result_html(result: Result, *, figure: bool = True) -> str:
    """The run's own view (provenance, the P50 (P10–P90) of the headline numbers where
    price or supply moved) and the price fan chart of the material with the highest P50
    peak outside the controller."""
    out = result._repr_html_()
    rows = affected(result.summary())
    if figure and not rows.empty:
        from .figures.stress import fan_chart

        out += _fig(fan_chart(result, top_material(rows)))
    return out


def plan_html(plan: PlanResult, *, figure: bool = True) -> str:
    """The plan's own view (status, cost, choices) and its timeline."""
    out = plan._repr_html_()
    if figure and plan.choices:
        from .figures.plan import timeline_figure

        out += _fig(timeline_figure(plan))
    return out


def validation_html(v: Validation, *, figure: bool = True) -> str:
    """The validation's own view (verdict and bands) and the observed-over-model figure."""
    out = v._repr_html_()
    if figure:
        from .figures.validation import validation_figure

        out += _fig(validation_figure(v))
    return out
