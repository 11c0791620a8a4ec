"""Figure of a criticality ranking (the :class:`~oreflow.answer.Answer` of
:func:`oreflow.rank.rank`): expected loss per material with the P10-P90 band of one
disruption's loss. Drawn from the ranking table; nothing is re-ranked.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from oreflow.answer import Answer
from oreflow.errors import InputError

from ._style import PALETTE, new_figure, set_meta

__all__ = ["ranking_figure"]


def ranking_figure(answer: Answer) -> go.Figure:
    """Two panels, one row per material (highest expected loss on top): expected loss
    [M USD/yr] and loss per disruption, P50 with a P10-P90 whisker [M USD]; both on a log
    axis (losses span orders of magnitude; non-positive values are left out of the axis).

    Returns
    -------
    plotly.graph_objects.Figure
        Traces ``expected loss`` (bars) and ``loss per disruption`` (markers).
    """
    if "ranking" not in answer.tables:
        raise InputError("this answer has no 'ranking' table: use the answer of "
                         "oreflow.rank.rank")
    df = answer.tables["ranking"].reset_index(drop=True)
    importer = answer.meta.get("importer", "")
    base = new_figure("")
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("expected loss [M USD/yr]",
                                        "loss per disruption, P50 (P10-P90) [M USD]"))
    fig.update_layout(base.layout)
    fig.update_layout(title_text=f"Criticality ranking for {importer}: expected loss from "
                                 "supplier disruptions [M USD/yr]",
                      height=int(140 + 26 * max(len(df), 4)), showlegend=False)
    mats = df["material"].astype(str).tolist()
    fig.add_trace(go.Bar(y=mats, x=df["expected_loss_musd_per_yr"].tolist(), orientation="h",
                         name="expected loss", marker_color=PALETTE[4],
                         hovertemplate="%{y}: %{x:,.3g} M USD/yr<extra></extra>"), 1, 1)
    mid = df["loss_musd_p50"].astype(float)
    fig.add_trace(go.Scatter(
        y=mats, x=mid.tolist(), mode="markers", name="loss per disruption",
        marker={"color": PALETTE[5], "size": 8},
        error_x={"type": "data", "symmetric": False,
                 "array": (df["loss_musd_p90"].astype(float) - mid).clip(lower=0).tolist(),
                 "arrayminus": (mid - df["loss_musd_p10"].astype(float)).clip(lower=0)
                 .tolist()},
        hovertemplate="%{y}: P50 %{x:,.3g} M USD<extra></extra>"), 1, 2)
    fig.update_xaxes(type="log")
    fig.update_yaxes(autorange="reversed")
    return set_meta(fig, answer.sources, figure="ranking", importer=importer,
                    unit="M USD/yr")
