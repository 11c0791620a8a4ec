"""State and schedule types of the disruption engine: draws, compiled plan, run arrays.

Plain dataclasses with units in their docstrings, shared by the engine (which fills them),
the result (which reads them) and the reference engine of the tests. Array axes: D draws,
T steps, M materials, 3 market segments (controller, rest, targets), K demand sectors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .baseline import Baseline
from .scenario import Scenario

__all__ = [
    "FLAG_BACKSTOP",
    "FLAG_FLOOR",
    "FLAG_STOCK_GUARD",
    "REDIRECT_COLUMNS",
    "DemandShift",
    "Draws",
    "MarketState",
    "Outage",
    "Plan",
    "Redirect",
    "Restriction",
    "RunArrays",
    "SectorArrays",
]

F = NDArray[np.float64]

#: Columns of :attr:`RunArrays.redirect`: ore redirected, separated by the receiving side,
#: waiting in stock, lost, and the receiving side's separation capacity.
REDIRECT_COLUMNS = ("redirected_t", "separated_t", "stock_t", "lost_t", "capacity_t")

#: Bits of :attr:`RunArrays.flags`: the price sat at the backstop (buyers switch or stop;
#: unmet demand is lost output) ...
FLAG_BACKSTOP = 1
#: ... the price sat at the numerical floor (a tenth of base) ...
FLAG_FLOOR = 2
#: ... the stock cover fell to the numerical guard of the price formula (1% of desired).
FLAG_STOCK_GUARD = 4


@dataclass(frozen=True)
class Draws:
    """Sampled parameters, one row per Monte Carlo draw.

    Scalars per draw have shape (n,); per-material values (n, M); shock-specific values
    (n, number of such shocks); ``approval`` holds one (n, steps) array per restriction (its
    approval path: the rate before the first dated step, then one column per step). Units
    as in :class:`~oreflow.simulate.scenario.Parameters`; ``eps`` has one column per
    baseline sector.
    """

    n: int
    entropy: int
    eps: F
    backstop: F
    cover_user: F
    cover_trader: F
    tau_u: F
    hoard: F
    spec: F
    alpha: F
    tau_p: F
    tau_e: F
    tau_c: F
    beta: F
    divert: F
    leak: F
    leak_quota: F
    kappa_q: F
    k0: F
    k1: F
    tau_k: F
    tau_cap: F
    sup_el: F
    theta_c: F
    g_state: F
    delta_state: F
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
    approval: tuple[F, ...]
    quota: F
    budget: F
    denied: F
    general: F
    reach: F
    outage_share: F
    dem_level: F
    dem_growth: F
    #: Flow redirects (one column each): the redirected share [0-1] ...
    redirect_share: F = field(default_factory=lambda: np.zeros((0, 0)))
    #: ... and per redirect, (n, plants): usable separation capacity [t/yr of the plant's
    #: basis] (capacity x available share) and start delay [months].
    redirect_cap: tuple[F, ...] = ()
    redirect_delay: tuple[F, ...] = ()

    def take(self, sl: slice) -> Draws:
        """The draws in ``sl`` (views)."""
        kw: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                kw[f.name] = v[sl]
            elif isinstance(v, tuple):
                kw[f.name] = tuple(a[sl] for a in v)
            else:
                kw[f.name] = v
        kw["n"] = len(range(*sl.indices(self.n)))
        if self.redirect_share.shape[0] != self.n:  # the empty default (no redirects)
            kw["redirect_share"] = np.zeros((kw["n"], 0))
        return Draws(**kw)


@dataclass(frozen=True)
class Restriction:
    """An export restriction compiled against the baseline (times in months from start).

    ``steps`` are the start times of the approval path (the first is ``eff``); ``general``
    the start of a general licence (inf: none); ``is_quota`` a rate quota, ``is_budget`` a
    quota for the whole window; ``quota_base`` the baseline controlled
    exports a quota is compared with [t/yr]; ``reach_base`` (M, 3) the controller-origin
    content share of each segment's output (de-minimis rule).
    """

    ann: float
    eff: float
    end: float
    mats: NDArray[np.bool_]  # (M,)
    regs: NDArray[np.bool_]  # (3,)
    steps: F
    general: float
    is_quota: bool
    is_budget: bool
    mean_approval: float
    quota_base: float
    deminimis: bool
    reach_base: F


@dataclass(frozen=True)
class Outage:
    """A production outage compiled against the baseline (months from start)."""

    start: float
    end: float
    recovery: float
    weight: F  # (M, 3) share of segment output depending on (country, stage)
    world: F  # (M,) share of world output depending on it


@dataclass(frozen=True)
class Redirect:
    """A flow redirect compiled against the baseline (times in months from start; after
    ``end`` the ore goes back to its old buyer, and what waits in stock is still separated).

    ``base`` (M,) the controller's baseline output from the origin's ore of the redirected
    materials [t/month] (origin share x baseline output; 0 outside the materials); ``dest``
    the receiving segment; ``lost`` whether ore that cannot be separated is lost (else it
    waits in an ore stock); per plant ``cap_start`` [months from start], ``cap_ramp``
    [months] and ``cap_factor``, which turns its capacity [t/yr of its basis] into t/month
    of the redirected materials' content (the ore's composition).
    """

    start: float
    end: float
    ramp: float
    base: F
    dest: int
    lost: bool
    cap_start: F
    cap_ramp: F
    cap_factor: F


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

    Rates per month: ``q0`` baseline production [t/month] (M, 3), ``d0`` baseline demand by
    sector [t/month] (M, 3, K), ``f0`` baseline trade between segments [t/month] (M, 3, 3),
    ``p0`` base FOB prices [USD/kg] (M,), ``p0_region`` base prices by segment [USD/kg]
    (M, 3); ``input_share`` an element's largest cost share in a magnet and ``cost_share``
    (M, M) the cost share of element (row) in product (column) at base prices [0-1];
    ``t_mid`` the step midpoints [months from start]; ``release`` stockpile sales per step
    [t] (T, M, 3); ``log_floor`` producers' floor and ``log_wedge`` tariff wedges on
    imports from the controller, both in log price units (T, M, 3).
    """

    scenario: Scenario
    baseline: Baseline
    dt: float
    n_steps: int
    t_mid: F
    q0: F
    d0: F
    f0: F
    p0: F
    p0_region: F
    el: NDArray[np.intp]
    pr: NDArray[np.intp]
    kmag: int
    input_share: F
    cost_share: F
    recipe: F
    ramp_weight: F
    volume: F
    restrictions: tuple[Restriction, ...]
    outages: tuple[Outage, ...]
    demands: tuple[DemandShift, ...]
    release: F
    log_floor: F
    log_wedge: F
    proj_cap: F  # (P, M, 3) t/month at nameplate
    cross_border: F  # (M, 3)
    onset: float
    notes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    n_regions: int = 3
    redirects: tuple[Redirect, ...] = ()


@dataclass
class MarketState:
    """The engine's state for a chunk of draws, arrays (D, M, R) unless noted.

    Prices are log multiples of the segment's base price: ``x`` the quoted price, ``xe`` the
    expected price, ``xs``/``xr`` the slow averages that drive substitution and recycling
    [log]. Stocks [t]: ``user`` (manufacturers, magnet makers), ``trader`` (traders,
    processors, distributors), ``state`` (the controller's state reserve), ``blocked``
    (output held by a de-minimis rule). ``backlog`` (n_restrictions, D, M, R) licence
    applications waiting for a decision [t] and ``backlog_gap`` the part of them that buyers
    filed for missing stock [t]; ``budget`` (n_restrictions, D) what is left of a
    window quota [t]; ``premium`` (n_restrictions, D) the quota rent, the price of an export
    licence per kg under a tonnage quota [USD/kg]. ``ramp`` non-controller expansion and ``rec``
    recycled supply [t/month]; ``sigma`` cumulative substitution [share of demand];
    ``licensed`` the share of wanted controller exports that got through last step [0-1];
    ``pinned`` whether last step's indicated price sat on its floor (the market wanted a
    lower price than the floor allows) [bool].
    """

    x: F
    xe: F
    xs: F
    xr: F
    user: F
    trader: F
    state: F
    blocked: F
    backlog: F
    backlog_gap: F
    budget: F
    premium: F
    ramp: F
    rec: F
    sigma: F
    licensed: F
    pinned: NDArray[np.bool_]

    @classmethod
    def initial(cls, d0_total: F, cover_user: F, cover_trader: F, budget: F) -> MarketState:
        """Steady state at base prices: stocks at their normal cover of baseline demand
        ``d0_total`` (M, R) [t/month]; window quotas ``budget`` (D, n_restrictions) [t] unused."""
        n_restr = budget.shape[1]
        nd = cover_user.shape[0]
        shape = (nd, *d0_total.shape)
        z = np.zeros(shape)
        return cls(
            x=z.copy(), xe=z.copy(), xs=z.copy(), xr=z.copy(),
            user=cover_user[:, None, None] * d0_total[None],
            trader=cover_trader[:, None, None] * d0_total[None],
            state=z.copy(), blocked=z.copy(), backlog=np.zeros((n_restr, *shape)),
            backlog_gap=np.zeros((n_restr, *shape)),
            budget=np.nan_to_num(budget.T, nan=0.0).copy(), premium=np.zeros(budget.T.shape),
            ramp=z.copy(), rec=z.copy(), sigma=z.copy(), licensed=np.ones(shape),
            pinned=np.zeros(shape, bool),
        )  # fmt: skip


@dataclass(frozen=True)
class SectorArrays:
    """A quantity by demand sector, computed on the live sectors of each kind of material.

    ``blocks`` pairs each kind's materials (a slice: element and mineral markets, then
    magnet products) with the indices of the sectors computed for it; ``parts`` holds one
    array per block, (k, D, m, R) with the block's k sectors first, so a sum over sectors
    adds whole arrays. Sectors outside a block are zero. Units are the quantity's.
    """

    blocks: tuple[tuple[slice, NDArray[np.intp]], ...]
    parts: tuple[F, ...]

    def _cells(self) -> tuple[int, int, int]:
        """(D, M, R): draws, materials and segments of the quantity."""
        p = self.parts[0]
        return p.shape[1], max(ms.stop for ms, _ in self.blocks), p.shape[3]

    def total(self) -> F:
        """Sum over sectors, (D, M, R)."""
        out = np.zeros(self._cells())
        for (ms, _), p in zip(self.blocks, self.parts, strict=True):
            np.sum(p, axis=0, out=out[:, ms])
        return out

    def scaled(self, by: float, f: F | None = None) -> SectorArrays:
        """Every sector times ``by`` and, if given, the per-material factor ``f`` (D, M, R)."""
        parts = (p * by if f is None else p * by * f[:, ms]
                 for (ms, _), p in zip(self.blocks, self.parts, strict=True))  # fmt: skip
        return SectorArrays(self.blocks, tuple(parts))

    def sector(self, mats: slice, k: int) -> F:
        """Sector ``k`` of the block of materials ``mats``, (D, m, R) (a view)."""
        for (ms, ks), p in zip(self.blocks, self.parts, strict=True):
            if ms == mats and k in ks:
                return np.asarray(p[int(np.flatnonzero(ks == k)[0])])
        raise KeyError(f"sector {k} is not computed for materials {mats}")

    def dense(self, nk: int) -> F:
        """All ``nk`` sectors, (D, M, R, K) (zeros outside the blocks)."""
        out = np.zeros((*self._cells(), nk))
        for (ms, ks), p in zip(self.blocks, self.parts, strict=True):
            out[:, ms, :, ks] = np.moveaxis(p, 0, -1)
        return out


@dataclass
class RunArrays:
    """Per-draw paths of one run, shapes (D, T, M, 3) in float32 unless noted.

    Flows are monthly rates [t/month]: ``supply`` (production of the traded level incl.
    projects and recycling; magnet output for products), ``consumption``, ``imports`` (net,
    summing to zero over segments), ``exports_controller`` (the controller's legal shipments
    to the segment, as its export statistics would show them; column 0 its total),
    ``shortfall`` (base-price demand not served),
    ``lost`` (demand at the going price that found no material: production stopped) and
    ``desired`` (base-price demand). Stocks [t]: ``inventory`` all stocks incl. the state
    reserve and blocked output, ``backlog`` licence applications waiting. ``price``
    [USD/kg]. ``flags`` (D, T, M, 3) uint8: :data:`FLAG_BACKSTOP`, :data:`FLAG_FLOOR`,
    :data:`FLAG_STOCK_GUARD`. ``inventory0`` (D, M, 3) the initial stock; ``cost`` (D, M, 3)
    the consumer cost of the shock [USD] and ``shortfall_sector`` (D, M, 3, K) the
    cumulative shortfall by sector [t] (float64).
    """

    price: NDArray[np.float32]
    supply: NDArray[np.float32]
    consumption: NDArray[np.float32]
    imports: NDArray[np.float32]
    exports_controller: NDArray[np.float32]
    inventory: NDArray[np.float32]
    backlog: NDArray[np.float32]
    shortfall: NDArray[np.float32]
    lost: NDArray[np.float32]
    desired: NDArray[np.float32]
    flags: NDArray[np.uint8]
    inventory0: NDArray[np.float32]
    cost: NDArray[np.float64]
    shortfall_sector: NDArray[np.float64]
    #: Flow redirects (D, T, J, 5) [float64]: per redirect the ore redirected [t/month],
    #: separated by the receiving side [t/month], waiting in the ore stock at the step's end
    #: [t], lost [t/month] and the receiving side's capacity [t/month], all in tonnes of the
    #: redirected materials' content (:data:`REDIRECT_COLUMNS`); None without redirects.
    redirect: NDArray[np.float64] | None = None

    #: The float32 paths (D, T, M, 3).
    PATHS = ("price", "supply", "consumption", "imports", "exports_controller", "inventory",
             "backlog", "shortfall", "lost", "desired")  # fmt: skip

    @classmethod
    def empty(cls, nd: int, nt: int, nm: int, nk: int, n_redirects: int = 0) -> RunArrays:
        """Zeroed arrays for ``nd`` draws, ``nt`` steps, ``nm`` materials and
        ``n_redirects`` flow redirects (in small pages: :func:`small_pages`)."""
        shp = (nd, nt, nm, 3)
        with small_pages():
            paths = {name: np.zeros(shp, np.float32) for name in cls.PATHS}
            return cls(
                **paths,
                flags=np.zeros(shp, np.uint8),
                inventory0=np.zeros((nd, nm, 3), np.float32),
                cost=np.zeros((nd, nm, 3)),
                shortfall_sector=np.zeros((nd, nm, 3, nk)),
                redirect=(np.zeros((nd, nt, n_redirects, len(REDIRECT_COLUMNS)))
                          if n_redirects else None),
            )

    def view(self, sl: slice) -> RunArrays:
        """Views of the draws in ``sl`` (writes go to this object)."""
        kw: dict[str, Any] = {f.name: (None if getattr(self, f.name) is None
                                       else getattr(self, f.name)[sl]) for f in fields(self)}
        return RunArrays(**kw)


@contextmanager
def small_pages() -> Iterator[None]:
    """Allocate large numpy arrays without asking the kernel for transparent huge pages.

    numpy advises huge pages for every large array (``madvise``); where the kernel then
    compacts memory on the first touch (``transparent_hugepage/defrag = madvise``, as on the
    benchmark machine), writing 0.8 GB of fresh result arrays took 2.5 s instead of 0.5 s
    (bench/RESULTS.md). The result arrays are written once, step by step, so huge pages
    bring them nothing. numpy's switch is process-wide: it is restored on exit (the
    allocations happen before any worker thread starts); without the switch (another
    numpy), nothing changes.
    """
    try:
        from numpy._core.multiarray import (  # type: ignore[attr-defined]
            _get_madvise_hugepage,
            _set_madvise_hugepage,
        )
    except ImportError:  # pragma: no cover - numpy without the switch
        yield
        return
    old = _get_madvise_hugepage()
    _set_madvise_hugepage(False)
    try:
        yield
    finally:
        _set_madvise_hugepage(old)

