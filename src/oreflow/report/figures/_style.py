"""Shared look of every oreflow figure: the colour-blind-safe palette and the layout.

One concern: how figures look, so the CLI, notebooks, reports and the dashboard agree.
The palette is Okabe & Ito's (2008) eight colours, distinguishable under the common
colour-vision deficiencies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import plotly.graph_objects as go

__all__ = ["PALETTE", "SEQUENTIAL", "STAGE_COLOURS", "new_figure", "rgba", "set_meta"]

#: Okabe-Ito colours (black last): orange, sky blue, bluish green, yellow, blue, vermillion,
#: reddish purple, grey.
PALETTE: tuple[str, ...] = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2",
                            "#D55E00", "#CC79A7", "#999999")
#: Sequential scale for maps (viridis: colour-blind safe, prints in grey).
SEQUENTIAL = "Viridis"
#: One colour per supply-chain stage.
STAGE_COLOURS: dict[str, str] = {"mine": "#E69F00", "separation": "#56B4E9",
                                 "metal": "#009E73", "magnet": "#D55E00",
                                 "stockpile": "#CC79A7"}


def rgba(hex_colour: str, alpha: float) -> str:
    """``#RRGGBB`` as a CSS ``rgba()`` string with opacity ``alpha`` [0-1]."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[k:k + 2], 16) for k in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def new_figure(title: str, *, height: int | None = None) -> go.Figure:
    """An empty figure with oreflow's defaults: white template, readable fonts, the
    palette, a responsive size (``autosize``) and the title (which carries the units)."""
    fig = go.Figure()
    fig.update_layout(
        template="plotly_white",
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        colorway=list(PALETTE),
        font={"family": "Helvetica, Arial, sans-serif", "size": 12},
        autosize=True,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "h", "y": -0.18, "x": 0},
        hovermode="closest",
    )
    if height is not None:
        fig.update_layout(height=height)
    return fig


def set_meta(fig: go.Figure, sources: Iterable[str], **extra: Any) -> go.Figure:
    """Record the source ids behind a figure's numbers (in order, without repeats) and any
    other facts (``figure`` name, units, scenario hash …) in ``fig.layout.meta``."""
    meta: dict[str, Any] = {"sources": list(dict.fromkeys(str(s) for s in sources if s))}
    meta.update(extra)
    fig.update_layout(meta=meta)
    return fig
