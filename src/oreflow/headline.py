"""The headline table of a disruption run, as ``oreflow stress`` prints it and reports,
notebooks and the API show it: one row per material and segment, each band as
``P50 (P10–P90)``; and the sources a scenario cites.

A leaf module, light on purpose (pandas is imported inside the functions): the CLI imports
:data:`BANDS` when it starts, and the simulator's notebook view uses it without importing
the report layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BANDS", "affected", "band", "headline_table", "scenario_sources", "top_material"]


def _multiple(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


#: Bands of the headline table: (summary column stem, header, number format).
BANDS: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("peak_price_multiple", "peak price ×", _multiple),
    ("shortfall_share", "shortfall share", "{:.0%}".format),
    ("months_to_recovery", "months to recovery", "{:.0f}".format),
    ("cost_musd", "cost [M USD]", "{:,.0f}".format),
)


def band(row: Mapping[Any, Any], stem: str, fmt: Callable[[float], str], *,
         inf: str = "∞") -> str:
    """``P50 (P10–P90)`` of one summary row as text; ``inf`` (not recovered within the
    horizon) written as ``inf``."""

    def one(v: float) -> str:
        return inf if v == float("inf") else fmt(v)

    return f"{one(row[stem + '_p50'])} ({one(row[stem + '_p10'])}–{one(row[stem + '_p90'])})"


def affected(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows of :meth:`oreflow.simulate.Result.summary` for the materials whose price or
    supply moves in any segment (P90 band)."""
    moved = ((summary["peak_price_multiple_p90"] - 1).abs() > 1e-6) | (
        summary["shortfall_share_p90"] > 1e-6)
    materials = set(summary.loc[moved, "material"])
    return summary[summary["material"].isin(materials)]


def top_material(summary: pd.DataFrame) -> str:
    """The material with the highest P50 peak price multiple outside the controller (in
    any segment if the summary has none outside): the one a single chart of a run shows."""
    outside = summary[summary["role"] != "controller"]
    rows = outside if not outside.empty else summary
    return str(rows.loc[rows["peak_price_multiple_p50"].idxmax(), "material"])


def headline_table(summary: pd.DataFrame, *, inf: str = "∞") -> pd.DataFrame:
    """One row per material and segment of ``summary`` (``segment`` is the region, with its
    role when they differ), each of :data:`BANDS` as ``P50 (P10–P90)`` text."""
    import pandas as pd

    rows = []
    for r in summary.to_dict("records"):
        seg = r["region"] if r["region"] == r["role"] else f"{r['region']} ({r['role']})"
        row = {"material": r["material"], "segment": seg}
        for stem, header, fmt in BANDS:
            if f"{stem}_p50" in r:
                row[header] = band(r, stem, fmt, inf=inf)
        rows.append(row)
    return pd.DataFrame(rows, columns=["material", "segment",
                                       *[h for _, h, _ in BANDS]] if not rows else None)


def scenario_sources(scenario: Any) -> list[str]:
    """Source ids a scenario cites, for itself and each shock, in order of first mention."""
    ids: list[str] = list(getattr(scenario, "source_ids", []))
    for shock in getattr(scenario, "shocks", []):
        ids += list(getattr(shock, "source_ids", []))
        for step in getattr(shock, "approval_path", None) or []:
            ids += list(getattr(step, "source_ids", []))
        gl = getattr(shock, "general_licence", None)
        if gl is not None:
            ids += list(getattr(gl, "source_ids", []))
    return list(dict.fromkeys(ids))
