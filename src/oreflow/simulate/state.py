"""State and schedule types of the disruption engine: draws, compiled plan, run arrays.

Plain frozen dataclasses with units in their docstrings, shared by the engine (which fills
them), the result (which reads them) and the reference engine of the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .baseline import Baseline
from .scenario import Scenario

__all__ = ["DemandShift", "Draws", "Outage", "Plan", "Restriction", "RunArrays"]

F = NDArray[np.float64]


@dataclass(frozen=True)
class Draws:
    """Sampled parameters, one row per Monte Carlo draw.

    Scalars per draw have shape (n,); shock-specific values (n, number of such shocks).
    Units as in :class:`~oreflow.simulate.scenario.Parameters`; ``eps`` has one column per
    baseline sector.
    """

    n: int
    entropy: int
    eps: F
    eta: F
    cover: F
    floor_months: F
    kappa: F
    kappa_sell: F
    tau_e: F
    hoard: F
    sup_el: F
    ramp: F
    ramp_thr: F
    sub_rate: F
    sub_cap: F
    sub_thr: F
    tau_s: F
    rec_rate: F
    tau_r: F
    proj_start: F
    proj_ramp: F
    cross_border: F
    lag: F
    approval: F
    quota: F
    reach: F
    outage_share: F
    dem_level: F
    dem_growth: F

    def take(self, sl: slice) -> Draws:
        """The draws in ``sl`` (a view)."""
        kw: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v[sl] if isinstance(v, np.ndarray) else v
        kw["n"] = len(range(*sl.indices(self.n)))
        return Draws(**kw)


@dataclass(frozen=True)
class Restriction:
    """An export restriction compiled against the baseline (months from start)."""

    ann: float
    eff: float
    end: float
    mats: NDArray[np.bool_]  # (M,)
    regs: NDArray[np.bool_]  # (3,)
    mean_approval: float
    quota_base: float
    deminimis: bool
    reach_base: F  # (M, 3) controller-origin content share from the baseline


@dataclass(frozen=True)
class Outage:
    """A production outage compiled against the baseline (months from start)."""

    start: float
    end: float
    recovery: float
    weight: F  # (M, 3) share of segment output depending on (country, stage)
    world: F  # (M,) share of world output depending on it


@dataclass(frozen=True)
class DemandShift:
    """A demand change compiled against the baseline (months from start)."""

    start: float
    end: float
    mask: F  # (M, 3, K) 1 where the change applies
    persist: bool = True


@dataclass(frozen=True)
class Plan:
    """A scenario compiled against a baseline (deterministic schedule).

    Attributes hold per-month rates: ``q0`` baseline production [t/month], ``d0`` baseline
    demand [t/month] by sector, ``x0flow`` baseline imports from the controller [t/month],
    ``p0`` base prices [USD/kg]; ``t_mid`` the step midpoints [months from start].
    """

    scenario: Scenario
    baseline: Baseline
    dt: float
    n_steps: int
    t_mid: F
    q0: F
    d0: F
    x0flow: F
    p0: F
    el: NDArray[np.intp]
    pr: NDArray[np.intp]
    k_el: NDArray[np.intp]
    k_pr: NDArray[np.intp]
    kmag: int
    input_share: F
    g_el: F
    gc_el: NDArray[np.intp]
    g_pr: F
    gc_pr: NDArray[np.intp]
    recipe: F
    ramp_weight: F
    volume: F
    restrictions: tuple[Restriction, ...]
    outages: tuple[Outage, ...]
    demands: tuple[DemandShift, ...]
    release: F  # (T, M, 3) t per step
    gov0: F  # (M, 3) t
    log_floor: F  # (T, M, 3)
    log_wedge: F  # (T, M, 3)
    proj_cap: F  # (P, M, 3) t/month at nameplate
    cross_border: F  # (M, 3)
    x_lo: float
    x_hi: float
    onset: float
    notes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    n_regions: int = 3


@dataclass
class RunArrays:
    """Per-draw paths of one run, shapes (D, T, M, 3) in float32 unless noted.

    Flows are monthly rates [t/month]: ``supply`` (production of the traded level, incl.
    projects and recycling; magnet output for products), ``consumption``, ``imports`` (net,
    sum over segments zero), ``shortfall`` (base-price demand not served) and ``desired``
    (base-price demand). ``inventory`` is the end-of-step private stock incl. output blocked by
    a de-minimis rule [t] and ``inventory0`` its initial value (D, M, 3). ``price`` [USD/kg].
    ``cost`` (D, M, 3) is the consumer cost of the shock over the horizon [USD] (float64) and
    ``shortfall_sector`` (D, M, 3, K) the cumulative shortfall by sector [t] (float64).
    """

    price: NDArray[np.float32]
    supply: NDArray[np.float32]
    consumption: NDArray[np.float32]
    imports: NDArray[np.float32]
    inventory: NDArray[np.float32]
    shortfall: NDArray[np.float32]
    desired: NDArray[np.float32]
    inventory0: NDArray[np.float32]
    cost: NDArray[np.float64]
    shortfall_sector: NDArray[np.float64]
    iterations: int = 0

    @classmethod
    def empty(cls, nd: int, nt: int, nm: int, nk: int) -> RunArrays:
        """Uninitialised arrays for ``nd`` draws, ``nt`` steps, ``nm`` materials."""
        shp = (nd, nt, nm, 3)

        def f32() -> NDArray[np.float32]:
            return np.empty(shp, np.float32)

        return cls(
            price=f32(),
            supply=f32(),
            consumption=f32(),
            imports=f32(),
            inventory=f32(),
            shortfall=f32(),
            desired=f32(),
            inventory0=np.empty((nd, nm, 3), np.float32),
            cost=np.zeros((nd, nm, 3)),
            shortfall_sector=np.zeros((nd, nm, 3, nk)),
        )

    def view(self, sl: slice) -> RunArrays:
        """Views of the draws in ``sl`` (writes go to this object)."""
        kw = {f.name: getattr(self, f.name)[sl] for f in fields(self) if f.name != "iterations"}
        return RunArrays(**kw, iterations=0)
