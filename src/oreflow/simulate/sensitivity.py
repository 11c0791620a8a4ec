"""Global sensitivity of a scenario's headline results to the fitted parameters (SALib).

:func:`sensitivity` samples the fitted parameters (:data:`~oreflow.simulate.calibrate.FITTED`)
uniformly over their calibrated ranges (the 5th to 95th percentile of the shipped sample),
with Saltelli's scheme for Sobol indices or Morris trajectories, runs the scenario once per
sample row — all rows in one vectorised run, with the scenario's other uncertain inputs
(approval rates, licence lags, the magnets' elasticity, backstops …) held at their medians,
so the variance apportioned is the fitted parameters' alone — and reports, for the peak
outside price of a material, its cumulative outside shortfall (share of demand) and its
outside recovery month, the first-order and total Sobol indices (or Morris mu* and sigma)
with confidence intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.data.store import Store
from oreflow.errors import InputError, unknown

from .calibrate import FITTED
from .posterior import POSTERIOR, load_posterior
from .result import Result
from .run import simulate
from .scenario import Scenario

__all__ = ["OUTPUTS", "Sensitivity", "sensitivity"]

F = NDArray[np.float64]

#: Outputs analysed, with their units.
OUTPUTS: dict[str, str] = {
    "peak_price_multiple": "x base (outside, highest month)",
    "shortfall_share": "share of outside base-price demand over the horizon",
    "recovery_month": "months from the first shock (horizon + 1 if not recovered)",
}


@dataclass
class Sensitivity:
    """Indices per output and parameter, and the run behind them."""

    scenario: str
    material: str
    method: str
    indices: pd.DataFrame
    """``output``, ``parameter``, then S1, S1_conf, ST, ST_conf (Sobol) or mu_star,
    mu_star_conf, sigma (Morris); sorted by importance within each output."""
    runs: int


def _outputs(res: Result, i: int) -> dict[str, F]:
    """Per-draw headline results of material ``i`` outside the controller."""
    b = res.plan.baseline
    w = b.consumption()[i].copy()
    w[0] = 0.0
    w = w / w.sum() if w.sum() > 0 else np.array([0.0, 1.0, 0.0])
    pm = res.price_multiple()[:, :, i, :]
    peak = np.einsum("dtr,r->dt", pm, w).max(axis=1)
    short = res.cumulative_shortfall()[:, i, 1:].sum(axis=1)
    des = np.asarray(res.arrays.desired[:, :, i, 1:], np.float64).sum(axis=(1, 2)) * res.plan.dt
    share = np.divide(short, des, out=np.zeros_like(short), where=des > 0)
    rec = res.months_to_recovery()[:, i, 1:].max(axis=1)
    rec = np.where(np.isfinite(rec), rec, res.scenario.horizon_months + 1.0)
    return {"peak_price_multiple": peak, "shortfall_share": share, "recovery_month": rec}


def sensitivity(
    scenario: Scenario | str | Path,
    material: str | None = None,
    *,
    method: Literal["sobol", "morris"] = "sobol",
    n: int = 128,
    seed: int = 1,
    store: Store | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Sensitivity:
    """Sobol (Saltelli sampling, ``n (2D + 2)`` runs) or Morris (``n (D + 1)`` runs) indices.

    An output that no draw changes (e.g. the recovery month when no draw recovers within
    the horizon) gets indices of zero for every parameter instead of a division by its
    zero variance.

    Parameters
    ----------
    scenario : Scenario, str or pathlib.Path
        A scenario, a built-in name or a YAML path.
    material : str, optional
        Material analysed (default: the one with the highest P50 outside peak).
    n : int, default 128
        Base sample size (a power of two for Sobol).
    """
    # imported here: SALib (and the scipy parts it pulls in) takes about a second to import
    # and only this function needs it; `import oreflow.simulate` stays light
    from SALib.analyze import morris as morris_an
    from SALib.analyze import sobol as sobol_an
    from SALib.sample import morris as morris_sa
    from SALib.sample import sobol as sobol_sa

    post = load_posterior(POSTERIOR)
    if not post:
        raise FileNotFoundError("no calibrated sample shipped (run: oreflow calibrate)")
    names = [p for p in FITTED if p in post]
    bounds = [[float(np.quantile(post[p], 0.05)), float(np.quantile(post[p], 0.95))]
              for p in names]
    bounds = [[lo, hi if hi > lo else lo + 1e-9] for lo, hi in bounds]
    problem = {"num_vars": len(names), "names": names, "bounds": bounds}
    if method == "sobol":
        x = sobol_sa.sample(problem, n, calc_second_order=False, seed=seed)
    else:
        x = morris_sa.sample(problem, n, seed=seed)
    values = {p: np.ascontiguousarray(x[:, j]) for j, p in enumerate(names)}
    sc = Scenario.load(scenario)
    res = simulate(sc, draws=x.shape[0], seed=seed, values=values, store=store,
                   progress=progress, hold=True)
    mats = res.materials
    if material is None:
        peaks = res.peak_multiple()
        w = res.plan.baseline.consumption().copy()
        w[:, 0] = 0.0
        outside = np.where(w.sum(axis=1) > 0, np.median(peaks[:, :, 1:].max(axis=2), axis=0),
                           0.0)
        material = mats[int(np.argmax(outside))]
    if material not in mats:
        raise InputError(unknown("material of this scenario", material, list(mats)).lines()[0])
    outs = _outputs(res, mats.index(material))
    rows = []
    for name, y in outs.items():
        if np.ptp(y) == 0.0:  # e.g. no draw recovers: no parameter moves the output
            zero = np.zeros(len(names))
            keys = ("S1", "S1_conf", "ST", "ST_conf") if method == "sobol" else (
                "mu_star", "mu_star_conf", "sigma")
            rows.append(pd.DataFrame({"output": name, "parameter": names,
                                      **dict.fromkeys(keys, zero)}))
            continue
        if method == "sobol":
            si = sobol_an.analyze(problem, y, calc_second_order=False, seed=seed)
            cols = {"S1": si["S1"], "S1_conf": si["S1_conf"], "ST": si["ST"],
                    "ST_conf": si["ST_conf"]}
        else:
            si = morris_an.analyze(problem, x, y, seed=seed)
            cols = {"mu_star": si["mu_star"], "mu_star_conf": si["mu_star_conf"],
                    "sigma": si["sigma"]}
        df = pd.DataFrame({"output": name, "parameter": names, **cols})
        key = "ST" if method == "sobol" else "mu_star"
        rows.append(df.sort_values(key, ascending=False))
    return Sensitivity(sc.name, material, method, pd.concat(rows, ignore_index=True),
                       int(x.shape[0]))
