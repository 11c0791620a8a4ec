"""Figure of a validation (:class:`oreflow.simulate.validate.Validation`): per headline
material, the observed price multiples over the model's fan (P10-P90, P50) outside and
inside the controller. Drawn from the validation's run and table; nothing is re-simulated.
(The matplotlib PNGs of ``oreflow validate --figures`` stay in
:func:`oreflow.simulate.validate.figure`, for the docs.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from oreflow.simulate.episodes import EPISODES

from ._style import PALETTE, new_figure, rgba, set_meta

if TYPE_CHECKING:
    from oreflow.simulate.validate import Validation

__all__ = ["validation_figure"]


def validation_figure(v: Validation) -> go.Figure:
    """Observed points over the model fan, one panel per headline material [x pre-episode
    level, log axis], months from the episode start on x.

    Returns
    -------
    plotly.graph_objects.Figure
        Per material: ``model outside P50``, ``model inside P50`` (each with a P10-P90 band
        of two traces) and ``observed outside`` / ``observed inside`` markers.
    """
    res = v.run.result
    months = res.months.tolist()
    mats = [m for m in EPISODES[v.episode].headline if m in res.materials]
    base = new_figure("")
    fig = make_subplots(rows=1, cols=max(len(mats), 1), subplot_titles=[
        f"{m}: price [x pre-episode level]" for m in mats])
    fig.update_layout(base.layout)
    fig.update_layout(title_text=f"{v.verdict()} — observed vs model P10-P50-P90 "
                                 "[x pre-episode level]")
    inside = res.price_multiple()[..., 0]
    t = v.table
    for j, m in enumerate(mats):
        i = res.materials.index(m)
        for series, colour, name in ((v.run.outside[:, :, i], PALETTE[4], "outside"),
                                     (inside[:, :, i], PALETTE[0], "inside (controller)")):
            q = np.quantile(series, (0.1, 0.5, 0.9), axis=0)
            show = j == 0
            fig.add_trace(go.Scatter(x=months, y=q[2].tolist(), mode="lines",
                                     line={"width": 0, "color": colour}, showlegend=False,
                                     legendgroup=name, hoverinfo="skip",
                                     name=f"model {name} P90"), 1, j + 1)
            fig.add_trace(go.Scatter(x=months, y=q[0].tolist(), mode="lines", fill="tonexty",
                                     fillcolor=rgba(colour, 0.2),
                                     line={"width": 0, "color": colour}, legendgroup=name,
                                     showlegend=show, name=f"model {name} P10-P90"),
                          1, j + 1)
            fig.add_trace(go.Scatter(x=months, y=q[1].tolist(), mode="lines",
                                     line={"color": colour, "width": 2}, legendgroup=name,
                                     showlegend=show, name=f"model {name} P50"), 1, j + 1)
        o = t[(t["kind"] == "price") & (t["material"] == m)]
        for side, symbol in (("outside", "circle"), ("inside", "square-open")):
            s = o[o["side"] == side]
            if s.empty:
                continue
            fig.add_trace(go.Scatter(
                x=s["month_from"].tolist(), y=s["observed"].tolist(), mode="markers",
                marker={"symbol": symbol, "color": "#000000", "size": 7},
                name=f"observed {side}", legendgroup=f"obs-{side}", showlegend=j == 0,
                text=s["source_id"].astype(str).tolist(),
                hovertemplate="month %{x}: %{y:.3g}× (%{text})<extra>observed " + side
                              + "</extra>"), 1, j + 1)
        fig.update_xaxes(title_text=f"months from {res.scenario.start:%b %Y}", row=1,
                         col=j + 1)
    fig.update_yaxes(type="log")
    ids = t["source_id"].dropna().astype(str).tolist() if "source_id" in t.columns else []
    return set_meta(fig, ids, figure="validation", episode=v.episode, fitted_on=v.fitted_on,
                    passes=v.passes, unit="x pre-episode level")
