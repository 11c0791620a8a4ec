"""Figures of a product line's exposure (the :class:`~oreflow.answer.Answer` of
:func:`oreflow.exposure.impact`): months to stock-out per product and per input, P50 with
the P10-P90 band. Drawn from the answer's tables; nothing is re-simulated.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from oreflow.answer import Answer
from oreflow.errors import InputError

from ._style import PALETTE, new_figure, set_meta

__all__ = ["stockout_figure"]


def _finite(v: float, cap: float) -> float:
    return cap if not math.isfinite(v) else v


def stockout_figure(answer: Answer) -> go.Figure:
    """Months to stock-out [months], P50 with a P10-P90 whisker: one bar per product (all
    its inputs together) and one per input alone. A value beyond the horizon (never out of
    stock) is drawn at the horizon and labelled so.

    Parameters
    ----------
    answer : oreflow.answer.Answer
        From :func:`oreflow.exposure.impact` (tables ``summary`` and ``inputs``).
    """
    if "summary" not in answer.tables or "months_to_stockout_p50" not in \
            answer.tables["summary"].columns:
        raise InputError("this answer has no months to stock-out: use the answer of "
                         "oreflow.exposure.impact (with a scenario)")
    finite = [float(v) for t in ("summary", "inputs") if t in answer.tables
              for c in answer.tables[t].columns if c.startswith("months_to_stockout")
              for v in answer.tables[t][c] if math.isfinite(float(v))]
    horizon = float(answer.meta.get("horizon_months") or 0) or max([*finite, 12.0])
    rows: list[dict[str, object]] = []
    for _, r in answer.tables["summary"].iterrows():
        rows.append({"label": f"{r['product']} (all inputs)", "p10": r["months_to_stockout_p10"],
                     "p50": r["months_to_stockout_p50"], "p90": r["months_to_stockout_p90"],
                     "kind": "product"})
    inputs = answer.tables.get("inputs")
    if inputs is not None and "months_to_stockout_alone_p50" in inputs.columns:
        for _, r in inputs.iterrows():
            rows.append({"label": f"{r['product']}: {r['input']}",
                         "p10": r["months_to_stockout_alone_p10"],
                         "p50": r["months_to_stockout_alone_p50"],
                         "p90": r["months_to_stockout_alone_p90"], "kind": "input"})
    df = pd.DataFrame(rows)
    fig = new_figure(f"{answer.meta.get('bom', '')} under {answer.meta.get('scenario', '')}: "
                     "months to stock-out [months], P50 (P10-P90)",
                     height=int(140 + 28 * max(len(df), 3)))
    for k, kind in enumerate(("product", "input")):
        g = df[df["kind"] == kind]
        if g.empty:
            continue
        p50 = [_finite(float(v), horizon) for v in g["p50"]]
        p10 = [_finite(float(v), horizon) for v in g["p10"]]
        p90 = [_finite(float(v), horizon) for v in g["p90"]]
        fig.add_trace(go.Bar(
            y=g["label"].tolist(), x=p50, orientation="h", name=kind,
            marker_color=PALETTE[(5, 1)[k]],
            text=["beyond horizon" if not math.isfinite(float(v)) else f"{float(v):.1f}"
                  for v in g["p50"]], textposition="auto",
            error_x={"type": "data", "symmetric": False,
                     "array": [max(0.0, b - a) for a, b in zip(p50, p90, strict=True)],
                     "arrayminus": [max(0.0, a - b) for a, b in zip(p50, p10, strict=True)]},
            hovertemplate="%{y}: P50 %{x:.1f} months<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="months to stock-out from the shock [months]",
                     rangemode="tozero")
    return set_meta(fig, answer.sources, figure="stockout", unit="months",
                    scenario=answer.meta.get("scenario"))
