"""The work of one sweep point, as it runs on a worker: :func:`run_point`.

A point's result is small: the point's summary rows (one per material and segment, as
:meth:`oreflow.simulate.result.Result.summary`) with the mean over draws of shortfall, cost
and lost output (needed for expected losses), tagged with the point's index, key and seed.
The full per-draw result is dropped on the worker, so memory stays flat in the number of
points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from oreflow.simulate.result import Result

from .points import Point, canonical_key

__all__ = ["MEAN_COLUMNS", "means", "run_indexed", "run_point", "summary_rows", "warm_baseline"]

#: Mean-over-draws columns added to each summary row: name → unit.
MEAN_COLUMNS: dict[str, str] = {
    "shortfall_t_mean": "t (cumulative over the horizon)",
    "cost_musd_mean": "million USD",
    "lost_output_t_mean": "t (cumulative over the horizon)",
}
_ROLES = ("controller", "rest", "targets")


def means(result: Result) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
    """Means over draws per (material, segment), as :meth:`Result.summary` computes the
    quantiles: cumulative shortfall [t], consumer cost [million USD] and lost output [t]."""
    dt = result.plan.dt
    lost = np.asarray(result.arrays.lost, np.float64).sum(axis=1) * dt
    return {
        "shortfall_t_mean": result.cumulative_shortfall().mean(axis=0),
        "cost_musd_mean": np.asarray(result.arrays.cost / 1e6, np.float64).mean(axis=0),
        "lost_output_t_mean": lost.mean(axis=0),
    }


def summary_rows(result: Result) -> pd.DataFrame:
    """:meth:`Result.summary` with the :data:`MEAN_COLUMNS` added."""
    table = result.summary()
    if table.empty:  # no market for any simulated material (e.g. Sc, Pm: no volume)
        return pd.DataFrame()
    mean = means(result)
    idx = {m: i for i, m in enumerate(result.materials)}
    mi = np.array([idx[m] for m in table["material"]], dtype=np.intp)
    ri = np.array([_ROLES.index(r) for r in table["role"]], dtype=np.intp)
    for name, arr in mean.items():
        table[name] = arr[mi, ri]
    return table


def run_point(point: Point, outputs: tuple[Sequence[str] | None, Sequence[str] | None] | None
              = None) -> pd.DataFrame:
    """Simulate one point (``point.draws`` draws, its own seed, one thread) and return its
    rows: ``point``, ``key``, ``seed``, the summary columns and the mean columns.

    ``outputs`` = (materials, segments) keeps only those rows (segments by role or region).
    A point whose materials have no market (no production or demand in the baseline: Sc,
    Pm) has no rows.
    """
    from oreflow.simulate.run import simulate

    res = simulate(point.scenario, draws=point.draws, seed=point.seed, workers=1)
    table = summary_rows(res)
    if outputs is not None and not table.empty:
        mats, segs = outputs
        keep = np.ones(len(table), dtype=bool)
        if mats is not None:
            keep &= table["material"].isin(list(mats)).to_numpy()
        if segs is not None:
            want = list(segs)
            keep &= (table["role"].isin(want) | table["region"].isin(want)).to_numpy()
        table = table[keep].reset_index(drop=True)
    head = pd.DataFrame({"point": np.full(len(table), point.index, dtype=np.int64),
                         "key": [canonical_key(point.key)] * len(table),
                         "seed": np.full(len(table), point.seed, dtype=np.int64)})
    return pd.concat([head, table], axis=1)


def run_indexed(point: Point, outputs: tuple[Sequence[str] | None, Sequence[str] | None]
                | None = None) -> tuple[int, pd.DataFrame]:
    """``(point.index, run_point(point, outputs))``: the index travels with rows that the
    outputs filter may have emptied."""
    return point.index, run_point(point, outputs)


def warm_baseline(scenario: Any) -> None:
    """Build the baseline of ``scenario`` into this process's cache (a worker's
    initializer: the first points then do not each pay for it)."""
    if scenario is None:
        return
    from oreflow.simulate.compile import resolve_regions
    from oreflow.simulate.run import cached_baseline

    cached_baseline(scenario.baseline_year, scenario.material_list(), resolve_regions(scenario))
