"""Side-by-side comparison of disruption scenarios: headline bands and differences.

:func:`compare` runs each scenario with the same draws and seed (common random numbers: the
parameter draws that do not depend on a scenario's shocks are the same in every run, so
differences are less noisy than between independent runs) and returns one tidy table of the
P10/P50/P90 of the headline numbers per scenario, material and segment, with the difference
of each P50 to the first scenario's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oreflow.data.store import Store
from oreflow.errors import InputError, did_you_mean

from .baseline import Baseline
from .result import ROLES
from .run import check_limits, simulate
from .scenario import Scenario

__all__ = ["METRICS", "compare"]

#: Metrics compared: summary column stem and unit. ``months_to_recovery`` is ``inf`` when a
#: segment has not recovered within the horizon.
METRICS: dict[str, str] = {
    "peak_price_multiple": "x base price",
    "shortfall_share": "share of base demand",
    "months_to_recovery": "months",
    "cost_musd": "million USD",
}


def _diff(a: float, b: float) -> float:
    """``a - b``, with two "not recovered" (inf) giving 0 and one giving ±inf."""
    if np.isinf(a) and np.isinf(b) and np.sign(a) == np.sign(b):
        return 0.0
    return float(a - b)


def _labels(scenarios: Sequence[Scenario]) -> list[str]:
    """Scenario names, made unique (``name (2)``) when two scenarios share one."""
    out: list[str] = []
    for sc in scenarios:
        name, k = sc.name, 2
        while name in out:
            name, k = f"{sc.name} ({k})", k + 1
        out.append(name)
    return out


@dataclass(frozen=True)
class _Run:
    """What a comparison keeps of one run."""

    summary: pd.DataFrame
    regions: tuple[str, str, str]
    materials: tuple[str, ...]
    provenance: dict[str, Any]


def _segments(segments: Sequence[str] | None, results: Sequence[_Run]) -> list[str]:
    """Roles selected by role or region label (``None``: all three)."""
    if segments is None:
        return list(ROLES)
    out: list[str] = []
    for seg in segments:
        if seg in ROLES:
            role = seg
        else:
            role = next((ROLES[i] for res in results for i, lab in enumerate(res.regions)
                         if lab == seg), "")
            if not role:
                known = list(ROLES) + [lab for res in results for lab in res.regions]
                known = list(dict.fromkeys(known))
                raise InputError(f"unknown segment {seg!r}{did_you_mean(seg, known)}; known: "
                                 f"{', '.join(known)}")
        if role not in out:
            out.append(role)
    return out


def _moved(summary: pd.DataFrame) -> set[str]:
    """Materials whose price or supply moves in any segment (P90 band)."""
    moved = ((summary["peak_price_multiple_p90"] - 1).abs() > 1e-6) | (
        summary["shortfall_share_p90"] > 1e-6)
    return set(summary.loc[moved, "material"])


def compare(
    scenarios: Sequence[Scenario | str | Path],
    *,
    draws: int = 1000,
    seed: int = 0,
    materials: Sequence[str] | None = None,
    segments: Sequence[str] | None = None,
    horizon: int | None = None,
    store: Store | None = None,
    baseline: Baseline | None = None,
) -> pd.DataFrame:
    """Run scenarios side by side and tabulate their headline numbers.

    Parameters
    ----------
    scenarios : sequence of Scenario, str or pathlib.Path
        Scenarios, built-in names or YAML files; the first is the reference of ``diff_p50``.
    draws : int, default 1000
        Monte Carlo draws per scenario.
    seed : int, default 0
        The same seed for every scenario (non-negative).
    materials : sequence of str, optional
        Materials to keep (default: those whose price or supply moves in any scenario).
    segments : sequence of str, optional
        Segments by role (``controller``, ``rest``, ``targets``) or region label (e.g.
        ``CHN``); default all.
    horizon : int, optional
        Horizon override for every scenario [months].
    store, baseline
        As for :func:`~oreflow.simulate.run.simulate`.

    Returns
    -------
    pandas.DataFrame
        One row per scenario, material, segment and metric (:data:`METRICS`), sorted by
        material, segment, metric and scenario order: ``scenario``, ``material``,
        ``region`` (label in that scenario), ``role``, ``metric``, ``unit``, ``p10``,
        ``p50``, ``p90`` and ``diff_p50`` (P50 minus the first scenario's P50 for the same
        material, role and metric; NaN where the first has no such segment).
        ``months_to_recovery`` values are ``inf`` when not recovered within the horizon.
        ``attrs["provenance"]`` maps each scenario label to its run's provenance.

    Raises
    ------
    oreflow.errors.InputError
        No scenario, an unknown scenario, material or segment, or a run limit (checked for
        every scenario before the first runs).

    Examples
    --------
    >>> df = compare(["china-2025-04", "full-embargo"], draws=50, materials=["Dy"],
    ...              segments=["rest"])
    >>> p50 = df.pivot(index="metric", columns="scenario", values="p50")
    >>> bool(p50.loc["peak_price_multiple", "full-embargo"]
    ...      > p50.loc["peak_price_multiple", "china-2025-04"])
    True
    """
    if not scenarios:
        raise InputError("compare needs at least one scenario")
    loaded = [Scenario.load(s) for s in scenarios]
    if horizon is not None:
        loaded = [sc.with_horizon(int(horizon)) for sc in loaded]
    for sc in loaded:
        check_limits(sc, draws, seed)
    simulated = list(dict.fromkeys(m for sc in loaded for m in sc.material_list()))
    for m in materials or ():
        if m not in simulated:
            raise InputError(f"unknown material {m!r}{did_you_mean(m, simulated)}; the "
                             f"scenarios simulate {', '.join(simulated)}")
    labels = _labels(loaded)
    runs: list[_Run] = []
    for sc in loaded:  # one run's arrays in memory at a time
        res = simulate(sc, draws=draws, seed=seed, store=store, baseline=baseline)
        runs.append(_Run(res.summary(), res.regions, res.materials, dict(res.provenance)))
        del res
    summaries = [run.summary for run in runs]
    roles = _segments(segments, runs)
    known = list(dict.fromkeys(m for run in runs for m in run.materials))
    if materials is None:
        moved = set().union(*(_moved(s) for s in summaries))
        keep = [m for m in known if m in moved]
    else:
        for m in materials:
            if m not in known:
                raise InputError(f"unknown material {m!r}{did_you_mean(m, known)}")
        keep = list(dict.fromkeys(materials))
    rows: list[dict[str, Any]] = []
    for label, summ in zip(labels, summaries, strict=True):
        sel = summ[summ["material"].isin(keep) & summ["role"].isin(roles)]
        for r in sel.to_dict("records"):
            for metric, unit in METRICS.items():
                rows.append({
                    "scenario": label, "material": r["material"], "region": r["region"],
                    "role": r["role"], "metric": metric, "unit": unit,
                    "p10": float(r[f"{metric}_p10"]), "p50": float(r[f"{metric}_p50"]),
                    "p90": float(r[f"{metric}_p90"]),
                })
    cols = ["scenario", "material", "region", "role", "metric", "unit", "p10", "p50", "p90"]
    df = pd.DataFrame(rows, columns=cols)
    ref = {(r["material"], r["role"], r["metric"]): r["p50"]
           for r in rows if r["scenario"] == labels[0]}
    df["diff_p50"] = [
        _diff(p50, ref[(m, ro, me)]) if (m, ro, me) in ref else float("nan")
        for m, ro, me, p50 in zip(df["material"], df["role"], df["metric"], df["p50"],
                                  strict=True)
    ]
    order = {
        "material": {m: i for i, m in enumerate(known)},
        "role": {r: i for i, r in enumerate(ROLES)},
        "metric": {m: i for i, m in enumerate(METRICS)},
        "scenario": {s: i for i, s in enumerate(labels)},
    }
    df = df.sort_values(["material", "role", "metric", "scenario"],
                        key=lambda col: col.map(order[str(col.name)]), kind="stable")
    df = df.reset_index(drop=True)
    df.attrs["provenance"] = {lab: run.provenance
                              for lab, run in zip(labels, runs, strict=True)}
    return df
