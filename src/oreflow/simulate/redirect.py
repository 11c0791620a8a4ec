"""The flow-redirect step of the engine (docs/engine.md 4.13): ore moved from the
controller's separators to another segment, separated there up to its plants' capacity.

One engine step in its own module (it runs right after production, only when a scenario
has a ``flow_redirect`` shock); :mod:`oreflow.simulate.engine` calls it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .state import Draws, Plan

__all__ = ["redirect_flows"]

F = NDArray[np.float64]


def redirect_flows(plan: Plan, d: Draws, t: int, prod: F, stock: list[F]) -> F:
    """Move redirected ore from the controller's output to the receiving segment's.

    For each redirect j, in force from its start to its end, the ore redirected is
    ``O = share * clip((t - start) / ramp, 0, 1) * base`` [t/month per material], taken out
    of the controller's output (at most that output). The receiving side separates
    ``S = phi * (K + O * dt)`` in the step [t], ``K`` the ore waiting in stock [t] and
    ``phi = min(1, C * dt / sum(K + O * dt))`` with ``C`` its capacity [t/month of the
    ore's content]: every plant's usable capacity from its drawn start, ramping linearly,
    converted with the ore's composition; the ore's elements are separated in the
    proportions they hold. ``S / dt`` adds to the receiving segment's output; what is left
    waits in ``stock`` (updated in place, (D, M) per redirect) or is lost.

    Parameters
    ----------
    prod : numpy.ndarray
        Output of the step [t/month] (D, M, R); changed in place.
    stock : list of numpy.ndarray
        Ore waiting per redirect [t of content] (D, M); changed in place.

    Returns
    -------
    numpy.ndarray
        (D, J, 5): per redirect the ore redirected [t/month], separated [t/month], waiting
        at the step's end [t], lost [t/month] and the capacity [t/month], summed over the
        redirected materials (:data:`~oreflow.simulate.state.REDIRECT_COLUMNS`).
    """
    tm, dt = plan.t_mid[t], plan.dt
    rec = np.zeros((d.n, len(plan.redirects), 5))
    for j, r in enumerate(plan.redirects):
        if tm < r.start:
            continue
        on = 1.0 if tm < r.end else 0.0
        ramp = 1.0 if r.ramp <= 0 else min(max((tm - r.start) / r.ramp, 0.0), 1.0)
        want = d.redirect_share[:, j][:, None] * (on * ramp) * r.base[None]  # (D, M)
        ore = np.minimum(want, np.maximum(prod[:, :, 0], 0.0))
        prod[:, :, 0] -= ore
        start = r.cap_start[None] + d.redirect_delay[j]  # (D, C)
        ramp_c = np.where(r.cap_ramp[None] > 0,
                          np.clip((tm - start) / np.maximum(r.cap_ramp[None], 1e-12), 0, 1),
                          (tm >= start).astype(np.float64))
        cap = (d.redirect_cap[j] * ramp_c * r.cap_factor[None]).sum(axis=1)  # (D,) t/month
        avail = stock[j] + ore * dt  # (D, M) t
        tot = avail.sum(axis=1)
        phi = np.divide(cap * dt, tot, out=np.ones_like(tot), where=tot > cap * dt)
        done = avail * phi[:, None]
        prod[:, :, r.dest] += done / dt
        left = avail - done
        if r.lost:
            stock[j] = np.zeros_like(left)
            rec[:, j, 3] = left.sum(axis=1) / dt
        else:
            stock[j] = left
        rec[:, j, 0] = ore.sum(axis=1)
        rec[:, j, 1] = done.sum(axis=1) / dt
        rec[:, j, 2] = stock[j].sum(axis=1)
        rec[:, j, 4] = cap
    return rec
