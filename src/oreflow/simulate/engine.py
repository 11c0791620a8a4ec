"""The monthly disruption engine, vectorised over Monte Carlo draws.

:func:`simulate` turns a :class:`~oreflow.simulate.scenario.Scenario` and a
:class:`~oreflow.simulate.baseline.Baseline` into a :class:`~oreflow.simulate.result.Result`.
State arrays have shape (draws, materials, 3 segments); the only Python loops in a step run
over shocks and the two magnet products, never over draws or segments.

One step of ``dt`` months (see ``docs/engine.md`` for the equations):

1. Shocks in force at the step midpoint: export-restriction caps (zero during the licence lag,
   then ``approval x baseline flow``), de-minimis blocking of non-controller output,
   outages carried downstream by origin shares, demand changes, stockpile releases, price
   floors, tariffs; a precautionary-hoarding signal from announced or binding controls and
   outages.
2. Element supply: baseline output plus the bounded non-controller ramp, times outage factors,
   plus pipeline projects and recycling.
3. Element markets clear (:func:`oreflow.simulate.market.clear`): isoelastic demand by sector,
   magnet makers' derived demand, an inventory term with a floor and a hoarding target.
4. Magnet output per segment is the minimum over its elements of purchased input / content
   (stage coupling); unused inputs go to stock. Magnet markets clear.
5. Substitution/thrifting, recycling, expectations and the ramp update.

Mass balance holds in every step and segment:
``production + imports + stockpile release = consumption + stock change`` (no losses are
modelled; see :func:`mass_balance_residual`).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oreflow.rng import named_stream

from .baseline import Baseline, Regions, build_baseline
from .market import ClearingResult, MarketInputs, clear
from .scenario import (
    DemandChange,
    ExportRestriction,
    PriceFloor,
    ProductionOutage,
    Scenario,
    ScenarioError,
    StockpileRelease,
    Tariff,
    expand_materials,
)

__all__ = [
    "Draws",
    "Plan",
    "compile_plan",
    "resolve_regions",
    "run_plan",
    "sample_draws",
    "simulate",
]

F = NDArray[np.float64]
ProgressFn = Callable[[int, int], None]


# --------------------------------------------------------------------------------------
# Random draws
# --------------------------------------------------------------------------------------


def _entropy(seed: int | None, rng: np.random.Generator | int | None) -> int:
    if seed is not None and rng is not None:
        raise TypeError("give either seed or rng, not both")
    src = rng if rng is not None else seed
    if src is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(src, np.random.Generator):
        return int(src.integers(0, 2**63 - 1))
    if isinstance(src, int | np.integer) and src >= 0:
        return int(src)
    raise TypeError("seed must be a non-negative int; rng a Generator, int or None")


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


def elasticity_key(scenario: Scenario, sector: str) -> str:
    """Which elasticity distribution a sector uses (sectors sharing a key share the draw).

    Explicit ``parameters.elasticity[sector]`` first; ``magnet_makers`` otherwise uses
    ``input_elasticity`` (key ``input``); every other sector ``elasticity['default']``.
    """
    el = scenario.parameters.elasticity
    if sector in el:
        return sector
    if sector == "magnet_makers":
        return "input"
    if "default" not in el:
        raise ScenarioError(f"no elasticity for sector {sector!r} and no 'default'")
    return "default"


def sample_draws(
    scenario: Scenario, baseline: Baseline, n: int, *, rng: np.random.Generator | int | None
) -> Draws:
    """Sample ``n`` parameter draws for a scenario.

    Each quantity has its own child stream of ``numpy.random.SeedSequence(entropy)`` keyed by
    its name, so the first ``k`` of ``n`` draws equal the ``k`` draws of a smaller run.

    Parameters
    ----------
    scenario : Scenario
        Scenario (its ``parameters`` and shock distributions are sampled).
    baseline : Baseline
        Baseline (sectors and projects).
    n : int
        Number of draws.
    rng : numpy.random.Generator, int or None
        Seed entropy (int), a generator to derive it from, or None for fresh entropy.
    """
    if n < 1:
        raise ValueError("draws must be >= 1")
    ent = _entropy(None, rng)
    par = scenario.parameters

    def s(name: str, dist: Any) -> F:
        return np.asarray(dist.sample(n, rng=named_stream(ent, name)), dtype=np.float64)

    eps = np.empty((n, len(baseline.sectors)))
    cache: dict[str, F] = {}
    for k, sec in enumerate(baseline.sectors):
        key = elasticity_key(scenario, sec)
        if key not in cache:
            d = par.input_elasticity if key == "input" else par.elasticity[key]
            cache[key] = s(f"elasticity.{key}", d)
        eps[:, k] = cache[key]
    if np.any(eps >= 0):
        raise ScenarioError("demand elasticities must be negative")
    restr = [x for x in scenario.shocks if isinstance(x, ExportRestriction)]
    outs = [x for x in scenario.shocks if isinstance(x, ProductionOutage)]
    dems = [x for x in scenario.shocks if isinstance(x, DemandChange)]

    def per_shock(items: list[Any], attr: str, tag: str) -> F:
        cols = []
        for i, it in enumerate(items):
            d = getattr(it, attr)
            cols.append(np.full(n, np.nan) if d is None else s(f"{tag}{i}.{attr}", d))
        return np.stack(cols, axis=1) if cols else np.zeros((n, 0))

    lag = per_shock(restr, "licence_lag_months", "restriction")
    approval = per_shock(restr, "approval_rate", "restriction")
    quota = per_shock(restr, "quota_t_per_yr", "restriction")
    approval = np.where(np.isnan(approval) & np.isnan(quota), 0.0, approval)
    reach = per_shock(restr, "de_minimis_reach", "restriction")
    if np.any(lag < 0) or np.any((approval < 0) | (approval > 1)) or np.any(quota < 0):
        raise ScenarioError("licence lags must be >= 0 and approval rates in [0, 1]")
    outage_share = per_shock(outs, "share", "outage")
    if np.any((outage_share < 0) | (outage_share > 1)):
        raise ScenarioError("outage shares must be in [0, 1]")
    # projects: announced start (months from scenario start) plus a random delay
    n_proj = len(baseline.projects) if scenario.pipeline else 0
    if n_proj:
        p_late = s("project_delay_probability", par.project_delay_probability)
        late = named_stream(ent, "project_late").random((n, n_proj)) < p_late[:, None]
        delay = named_stream(ent, "project_delay").random((n, n_proj))
        dmin = par.project_delay_months
        dl = np.asarray(dmin.sample(n * n_proj, rng=named_stream(ent, "project_delay_months")))
        delay = dl.reshape(n, n_proj)
        base = np.array(
            [
                (p.start_year - scenario.start.year) * 12.0 - (scenario.start.month - 1)
                for p in baseline.projects
            ]
        )
        proj_start = base[None, :] + np.where(late, delay, 0.0)
    else:
        proj_start = np.zeros((n, 0))
    cb = par.cross_border_share
    return Draws(
        n=n,
        entropy=ent,
        eps=eps,
        eta=s("inventory_price_response", par.inventory_price_response),
        cover=s("inventory_cover_months", par.inventory_cover_months),
        floor_months=s("inventory_floor_months", par.inventory_floor_months),
        kappa=np.clip(s("inventory_adjustment", par.inventory_adjustment), 0.0, 1.0),
        kappa_sell=np.clip(s("inventory_release", par.inventory_release), 0.0, 1.0),
        tau_e=np.maximum(s("expectation_memory_months", par.expectation_memory_months), 1e-6),
        hoard=np.maximum(s("hoarding_strength", par.hoarding_strength), 0.0),
        sup_el=np.maximum(s("supply_elasticity", par.supply_elasticity), 0.0),
        ramp=np.maximum(s("ramp_rate_per_year", par.ramp_rate_per_year), 0.0),
        ramp_thr=np.maximum(s("ramp_price_threshold", par.ramp_price_threshold), 1.0 + 1e-6),
        sub_rate=np.maximum(s("substitution_rate_per_year", par.substitution_rate_per_year), 0.0),
        sub_cap=np.clip(s("substitution_cap", par.substitution_cap), 0.0, 0.99),
        sub_thr=np.maximum(
            s("substitution_price_threshold", par.substitution_price_threshold), 1.0 + 1e-6
        ),
        tau_s=np.maximum(s("substitution_memory_months", par.substitution_memory_months), 1e-6),
        rec_rate=np.maximum(s("recycling_rate_per_year", par.recycling_rate_per_year), 0.0),
        tau_r=np.maximum(s("recycling_lag_months", par.recycling_lag_months), 1e-6),
        proj_start=proj_start,
        proj_ramp=np.maximum(s("project_ramp_months", par.project_ramp_months), 1e-6),
        cross_border=np.full(n, np.nan) if cb is None else np.clip(s("cross_border", cb), 0, 1),
        lag=lag,
        approval=approval,
        quota=quota,
        reach=np.clip(reach, 0.0, 1.0),
        outage_share=outage_share,
        dem_level=per_shock(dems, "level", "demand"),
        dem_growth=per_shock(dems, "growth_per_year", "demand"),
    )


# --------------------------------------------------------------------------------------
# Compiled plan (the deterministic part of a scenario on a baseline)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Restr:
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
class _Outage:
    start: float
    end: float
    recovery: float
    weight: F  # (M, 3) share of segment output depending on (country, stage)
    world: F  # (M,) share of world output depending on it


@dataclass(frozen=True)
class _Demand:
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
    restrictions: tuple[_Restr, ...]
    outages: tuple[_Outage, ...]
    demands: tuple[_Demand, ...]
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


def resolve_regions(scenario: Scenario) -> Regions:
    """Controller and named targets (bloc names expanded through the ``blocs`` table)."""
    targets: list[str] = []
    blocs = _bloc_table()
    for t in scenario.named_targets():
        members = blocs.get(t)
        if members is None:
            if len(t) != 3 or not t.isupper():
                raise ScenarioError(f"unknown target {t!r}: not an ISO3 code or a known bloc")
            members = (t,)
        for m in members:
            if m != scenario.controller and m not in targets:
                targets.append(m)
    return Regions(controller=scenario.controller, targets=tuple(targets))


@lru_cache(maxsize=1)
def _bloc_table() -> dict[str, tuple[str, ...]]:
    try:
        from importlib import resources

        import pandas as pd

        res = resources.files("oreflow").joinpath("data", "blocs.csv")
        if not res.is_file():
            return {}
        with res.open("r", encoding="utf-8") as fh:
            df = pd.read_csv(fh, dtype=str)
    except (ModuleNotFoundError, FileNotFoundError, OSError):  # pragma: no cover
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for bloc, grp in df.groupby("bloc"):
        codes = tuple(sorted({c for c in grp["iso3"].dropna() if len(c) == 3 and c != "EUU"}))
        out[str(bloc)] = codes
    return out


def _region_mask(baseline: Baseline, region: str) -> NDArray[np.bool_]:
    r = np.zeros(3, dtype=bool)
    if region == "all":
        r[:] = True
    elif region in ("controller", "rest", "targets"):
        r[("controller", "rest", "targets").index(region)] = True
    elif len(region) == 3 and region.isupper():
        r[baseline.region_of(region)] = True
    else:
        raise ScenarioError(f"unknown region {region!r}")
    return r


def _mat_mask(baseline: Baseline, names: list[str]) -> NDArray[np.bool_]:
    want = set(expand_materials(names))
    return np.array([m in want for m in baseline.materials])


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _groups(
    scenario: Scenario, sectors: tuple[str, ...], ks: NDArray[np.intp]
) -> tuple[F, NDArray[np.intp]]:
    """Sectors sharing an elasticity draw, as a (sectors x groups) 0/1 matrix and one
    representative sector column per group (their demands add up exactly)."""
    keys = [elasticity_key(scenario, sectors[k]) for k in ks]
    uniq = list(dict.fromkeys(keys))
    gmat = np.array([[1.0 if kk == u else 0.0 for u in uniq] for kk in keys]).reshape(
        len(keys), len(uniq)
    )
    rep = np.array([ks[keys.index(u)] for u in uniq], dtype=np.intp)
    return gmat, rep


def compile_plan(scenario: Scenario, baseline: Baseline) -> Plan:
    """Compile the deterministic schedule of a scenario against a baseline.

    Raises
    ------
    ScenarioError
        If a shock refers to materials, sectors or origins that the baseline lacks.
    """
    b = baseline
    nm = b.n_materials
    nk = len(b.sectors)
    dt = float(scenario.step_months)
    n_t = scenario.horizon_months // scenario.step_months
    t0 = np.arange(n_t) * dt
    t_mid = t0 + 0.5 * dt
    is_prod = b.is_product
    el = np.flatnonzero(~is_prod)
    pr = np.flatnonzero(is_prod)
    d_el = b.demand[el].sum(axis=(0, 1)) if el.size else np.zeros(nk)
    d_pr = b.demand[pr].sum(axis=(0, 1)) if pr.size else np.zeros(nk)
    kmag = b.sectors.index("magnet_makers") if "magnet_makers" in b.sectors else -1
    k_el = (
        np.array([k for k in range(nk) if d_el[k] > 0 or k == kmag], dtype=np.intp)
        if el.size
        else np.zeros(0, dtype=np.intp)
    )
    k_pr = np.array([k for k in range(nk) if d_pr[k] > 0], dtype=np.intp)
    if pr.size and k_pr.size == 0:
        k_pr = np.array([k for k in range(nk) if k != kmag][:1], dtype=np.intp)
    # cost share of each element in the magnets that use it (recipe x base prices)
    input_share = np.zeros(b.n_materials)
    for e in el:
        shares = [b.recipe[e, p] * b.price[e] / b.price[p] for p in pr if b.recipe[e, p] > 0]
        input_share[e] = min(max(shares), 1.0) if shares else 0.0
    g_el, gc_el = _groups(scenario, b.sectors, k_el)
    g_pr, gc_pr = _groups(scenario, b.sectors, k_pr)
    q0 = b.production / 12.0
    d0 = b.demand / 12.0
    nonc = q0.copy()
    nonc[:, 0] = 0.0
    tot = nonc.sum(axis=1, keepdims=True)
    ramp_weight = np.divide(nonc, tot, out=np.zeros_like(nonc), where=tot > 0)
    volume = q0.sum(axis=1)
    cb = b.cross_border if b.cross_border is not None else np.full((nm, 3), 0.5)
    content = b.controller_content if b.controller_content is not None else np.zeros((nm, 3))
    restr: list[_Restr] = []
    outages: list[_Outage] = []
    demands: list[_Demand] = []
    release = np.zeros((n_t, nm, 3))
    gov0 = np.zeros((nm, 3))
    log_floor = np.full((n_t, nm, 3), -np.inf)
    wedge = np.zeros((n_t, nm, 3))
    onset = math.inf
    start = scenario.start
    for sh in scenario.shocks:
        if isinstance(sh, ExportRestriction):
            ann, eff, end = sh.window(start)
            mats = np.array([m in sh.controlled_materials() for m in b.materials])
            regs = (
                np.array([False, True, True])
                if sh.all_destinations
                else np.array([False, False, True])
            )
            qbase = float((b.imports_from_controller * np.outer(mats, regs)).sum())
            if sh.quota_t_per_yr is not None:
                if qbase <= 0:
                    raise ScenarioError(f"restriction {sh.id}: no baseline exports for a quota")
                mean_share = min(1.0, sh.quota_t_per_yr.mean() / qbase)
            else:
                mean_share = 0.0 if sh.approval_rate is None else sh.approval_rate.mean()
            if not sh.all_destinations and not b.members[2]:
                raise ScenarioError(f"restriction {sh.id}: baseline has no targets segment")
            restr.append(
                _Restr(
                    ann=ann,
                    eff=eff,
                    end=end,
                    mats=mats,
                    regs=regs,
                    mean_approval=mean_share,
                    quota_base=qbase,
                    deminimis=sh.de_minimis_threshold is not None,
                    reach_base=content,
                )
            )
            onset = min(onset, ann)
        elif isinstance(sh, ProductionOutage):
            s0, s1 = sh.window(start)
            key = (sh.country, sh.stage)
            if key not in b.origin:
                known = ", ".join(f"{c}/{s}" for c, s in b.origin) or "none"
                raise ScenarioError(
                    f"outage {sh.id or sh.country}: the baseline has no origin shares for "
                    f"{sh.country} at stage {sh.stage} (known: {known})"
                )
            mats = _mat_mask(b, sh.materials)
            w = np.where(mats[:, None], b.origin[key], 0.0)
            qsum = b.production.sum(axis=1)
            world = np.divide(
                (w * b.production).sum(axis=1), qsum, out=np.zeros(nm), where=qsum > 0
            )
            outages.append(_Outage(s0, s1, sh.recovery_months, w, world))
            onset = min(onset, s0)
        elif isinstance(sh, DemandChange):
            s0, s1 = sh.window(start)
            mask = np.zeros((nm, 3, nk))
            mats = _mat_mask(b, sh.materials)
            regs = _region_mask(b, sh.region)
            if sh.sector == "all":
                secs = np.ones(nk, dtype=bool)
            elif sh.sector in b.sectors:
                secs = np.array([s == sh.sector for s in b.sectors])
            else:
                raise ScenarioError(
                    f"demand change {sh.id}: unknown sector {sh.sector!r} "
                    f"(baseline sectors: {', '.join(b.sectors)})"
                )
            mask[np.ix_(mats, regs, secs)] = 1.0
            demands.append(_Demand(s0, s1, mask, sh.persist))
            onset = min(onset, s0)
        elif isinstance(sh, StockpileRelease):
            s0, s1 = sh.window(start)
            mats = _mat_mask(b, sh.materials)
            regs = _region_mask(b, sh.region)
            frac = np.array([_overlap(a, a + dt, s0, s1) for a in t0]) / (s1 - s0)
            amount = np.outer(mats, regs) * sh.tonnes
            release += frac[:, None, None] * amount[None]
            gov0 += amount * frac.sum()
            onset = min(onset, s0)
        elif isinstance(sh, PriceFloor):
            s0, s1 = sh.window(start)
            mats = _mat_mask(b, sh.materials)
            regs = _region_mask(b, sh.region)
            on = (t_mid >= s0) & (t_mid < s1)
            lf = np.log(sh.usd_per_kg / b.price)
            val = np.where(np.outer(mats, regs), lf[:, None], -np.inf)
            log_floor[on] = np.maximum(log_floor[on], val[None])
        elif isinstance(sh, Tariff):
            s0, s1 = sh.window(start)
            mats = _mat_mask(b, sh.materials)
            regs = _region_mask(b, sh.region)
            regs[0] = False
            on = (t_mid >= s0) & (t_mid < s1)
            wedge[on] += np.outer(mats, regs)[None] * math.log1p(sh.rate)
            onset = min(onset, s0)
    if scenario.pipeline and b.projects:
        proj_cap = np.zeros((len(b.projects), nm, 3))
        for j, p in enumerate(b.projects):
            proj_cap[j, :, p.region] = p.capacity / 12.0
    else:
        proj_cap = np.zeros((0, nm, 3))
    choke = scenario.parameters.choke_price_multiple
    return Plan(
        scenario=scenario,
        baseline=b,
        dt=dt,
        n_steps=n_t,
        t_mid=np.asarray(t_mid, dtype=np.float64),
        q0=q0,
        d0=d0,
        x0flow=b.imports_from_controller / 12.0,
        p0=b.price.copy(),
        el=el,
        pr=pr,
        k_el=k_el,
        k_pr=k_pr,
        kmag=kmag,
        input_share=input_share,
        g_el=g_el,
        gc_el=gc_el,
        g_pr=g_pr,
        gc_pr=gc_pr,
        recipe=b.recipe,
        ramp_weight=ramp_weight,
        volume=volume,
        restrictions=tuple(restr),
        outages=tuple(outages),
        demands=tuple(demands),
        release=release,
        gov0=gov0,
        log_floor=log_floor,
        log_wedge=wedge,
        proj_cap=proj_cap,
        cross_border=cb,
        x_lo=math.log(1.0 / choke),
        x_hi=math.log(choke),
        onset=max(onset, 0.0) if math.isfinite(onset) else math.inf,
        n_regions=3
        if b.members[2] and float(b.consumption()[:, 2].sum() + b.production[:, 2].sum()) > 0
        else 2,
        notes=dict(b.notes),
    )


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


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


def _ema(dt: float, tau: F) -> F:
    return np.asarray(1.0 - np.exp(-dt / tau))


def _step_schedule(plan: Plan, d: Draws, t: int, bind: NDArray[np.bool_]) -> dict[str, Any]:
    """Shocks in force in step ``t`` for a chunk of draws (see module docstring)."""
    tm = plan.t_mid[t]
    nd = d.n
    nm = plan.baseline.n_materials
    nr = plan.q0.shape[1]
    share = np.full((nd, nm, nr), np.inf)
    signal = np.zeros((nd, nm, nr))
    block = np.zeros((nd, nm, nr))
    leak = np.ones((nd, nm))
    for i, r in enumerate(plan.restrictions):
        mr = r.mats[:, None] & r.regs[None, :]  # (nm, nr)
        if r.ann <= tm < min(r.eff, r.end):
            signal = np.maximum(signal, np.where(mr, 1.0 - r.mean_approval, 0.0)[None])
        if r.eff <= tm < r.end:
            in_lag = tm < r.eff + d.lag[:, i]
            granted = np.where(
                np.isnan(d.quota[:, i]), d.approval[:, i], d.quota[:, i] / max(r.quota_base, 1e-300)
            )
            sh = np.where(in_lag, 0.0, granted)[:, None, None]  # (nd, 1, 1)
            share = np.where(mr[None], np.minimum(share, sh), share)
            # precautionary buying where some licensed flow exists and the cap binds
            signal = np.maximum(signal, np.where(mr[None] & bind & (sh > 0), 1.0 - sh, 0.0))
            if r.deminimis:
                reach = d.reach[:, i]
                rch = np.where(
                    np.isnan(reach)[:, None, None], r.reach_base[None], reach[:, None, None]
                )
                cbx = np.where(
                    np.isnan(d.cross_border)[:, None, None],
                    plan.cross_border[None],
                    d.cross_border[:, None, None],
                )
                block = np.maximum(block, np.where(mr[None], rch * cbx * (1.0 - sh), 0.0))
                if nr == 3 and r.regs[2] and not r.regs[1]:
                    lk = 1.0 - rch[:, :, 1] * (1.0 - sh[:, :, 0])
                    leak = np.where(r.mats[None, :], np.minimum(leak, lk), leak)
    loss = np.zeros((nd, nm, nr))
    for j, o in enumerate(plan.outages):
        if tm < o.start:
            continue
        if tm < o.end:
            inten = 1.0
        elif o.recovery > 0 and tm < o.end + o.recovery:
            inten = 1.0 - (tm - o.end) / o.recovery
        else:
            continue
        sj = d.outage_share[:, j][:, None, None] * inten
        loss = loss + sj * o.weight[None]
        signal = np.maximum(signal, (sj[:, :, 0] * o.world[None, :])[:, :, None])
    out_factor = np.clip(1.0 - loss, 0.0, 1.0)
    dm: F = np.ones((1, nm, nr, len(plan.baseline.sectors)))
    for j, dc in enumerate(plan.demands):
        if tm < dc.start or (tm >= dc.end and not dc.persist):
            continue
        years = (min(tm, dc.end) - dc.start) / 12.0
        f = (1.0 + d.dem_level[:, j]) * (1.0 + d.dem_growth[:, j]) ** years
        dm = dm * (1.0 + (f[:, None, None, None] - 1.0) * dc.mask[None])
    return {
        "share": share,
        "signal": signal,
        "block": block,
        "leak": leak,
        "out": out_factor,
        "dm": dm,
    }


def _projects(plan: Plan, d: Draws, t: int) -> F:
    if plan.proj_cap.shape[0] == 0:
        return np.zeros((1, plan.baseline.n_materials, plan.q0.shape[1]))
    tm = plan.t_mid[t]
    frac = np.clip((tm - d.proj_start) / d.proj_ramp[:, None], 0.0, 1.0)  # (D, P)
    return np.asarray(np.einsum("dp,pmr->dmr", frac, plan.proj_cap))


def _trimmed(plan: Plan) -> Plan:
    """The plan with segment arrays cut to the live segments (drops an empty targets
    segment, so two-segment scenarios do a third less work)."""
    nr = plan.n_regions
    if nr == 3:
        return plan
    restr = tuple(
        replace(r, regs=r.regs[:nr], reach_base=r.reach_base[:, :nr]) for r in plan.restrictions
    )
    outs = tuple(replace(o, weight=o.weight[:, :nr]) for o in plan.outages)
    dems = tuple(replace(dc, mask=dc.mask[:, :nr]) for dc in plan.demands)
    return replace(
        plan,
        q0=plan.q0[:, :nr],
        d0=plan.d0[:, :nr],
        x0flow=plan.x0flow[:, :nr],
        ramp_weight=plan.ramp_weight[:, :nr],
        release=plan.release[..., :nr],
        gov0=plan.gov0[:, :nr],
        log_floor=plan.log_floor[..., :nr],
        log_wedge=plan.log_wedge[..., :nr],
        proj_cap=plan.proj_cap[..., :nr],
        cross_border=plan.cross_border[:, :nr],
        restrictions=restr,
        outages=outs,
        demands=dems,
    )


def material_elasticities(plan: Plan, d: Draws) -> F:
    """Demand elasticities per draw, material and sector, shape (D, M, K).

    Sector draws as sampled; the magnet makers' demand for an element follows the
    Hicks-Marshall rule of derived demand for an input of a fixed-proportion product:

    .. math:: \\varepsilon_e = -\\left(s_e |\\varepsilon_{magnet}| + (1 - s_e)\\,\\sigma\\right)

    with ``s_e`` the element's cost share in the magnet (recipe x base prices),
    ``eps_magnet`` the magnet demand elasticity (the first product sector's draw) and
    ``sigma = -input_elasticity`` the short-run substitution among a magnet's inputs.
    """
    nm = plan.baseline.n_materials
    eps = np.repeat(d.eps[:, None, :], nm, axis=1)
    k = plan.kmag
    if k >= 0 and plan.el.size and plan.k_pr.size:
        sigma = -d.eps[:, k][:, None]  # (D, 1)
        e_mag = np.abs(d.eps[:, plan.k_pr[0]])[:, None]
        s = plan.input_share[plan.el][None, :]
        eps[:, plan.el, k] = -(s * e_mag + (1.0 - s) * sigma)
    return np.asarray(eps)


def run_plan(
    plan: Plan,
    d: Draws,
    *,
    progress: Callable[[int], None] | None = None,
    out: RunArrays | None = None,
    mat_index: NDArray[np.intp] | None = None,
) -> RunArrays:
    """Run a compiled plan for one chunk of draws (vectorised over draws and segments).

    Parameters
    ----------
    plan : Plan
        Compiled scenario.
    d : Draws
        Parameter draws of this chunk.
    progress : callable, optional
        Called with 1 after each step.
    out : RunArrays, optional
        Preallocated arrays with exactly ``d.n`` draws (views into a larger result) to
        write into instead of allocating.
    mat_index : numpy.ndarray, optional
        Positions of the plan's materials in ``out`` (when ``out`` holds more materials,
        e.g. markets without volume that are not simulated).

    Returns
    -------
    RunArrays
    """
    full = plan
    plan = _trimmed(plan)
    nr = plan.n_regions
    b = plan.baseline
    nd, nm, nt = d.n, b.n_materials, plan.n_steps
    nk = len(b.sectors)
    dt = plan.dt
    el, pr, k_el, k_pr, kmag = plan.el, plan.pr, plan.k_el, plan.k_pr, plan.kmag
    nel, npr = el.size, pr.size
    # index elements and products by slices (views, no copies) when they are contiguous
    sel: Any = slice(int(el[0]), int(el[-1]) + 1) if nel and np.all(np.diff(el) == 1) else el
    spr: Any = slice(int(pr[0]), int(pr[-1]) + 1) if npr and np.all(np.diff(pr) == 1) else pr
    q0, d0, p0 = plan.q0, plan.d0, plan.p0
    cons0 = d0.sum(axis=2)  # (M, 3) t/month
    recipe_ep = plan.recipe[np.ix_(el, pr)]  # (E, P)
    jm = int(np.flatnonzero(k_el == kmag)[0]) if kmag >= 0 and kmag in k_el else -1
    # state
    ramp_x = np.zeros((nd, nm, nr))  # non-controller expansion [t/month]
    inv = d.cover[:, None, None] * cons0[None]
    inv0 = inv.copy()
    blocked = np.zeros((nd, nm, nr))
    sigma = np.zeros((nd, nm, nr))
    rec = np.zeros((nd, nm, nr))
    xe = np.zeros((nd, nm, nr))
    xs = np.zeros((nd, nm, nr))
    xr = np.zeros((nd, nm, nr))
    xprev = np.zeros((nd, nm, nr))
    bind = np.zeros((nd, nm, nr), dtype=bool)
    flow = np.zeros((nd, nm))  # N -> T sales between capped segments [t per step]
    # outputs
    ra = out if out is not None else RunArrays.empty(nd, nt, nm, nk)
    mi: Any = slice(None) if mat_index is None else mat_index
    # consecutive runs of output positions: (source slice, destination slice) pairs
    runs: list[tuple[slice, slice]] = [(slice(None), slice(None))]
    if mat_index is not None:
        runs = []
        start = 0
        for k in range(1, len(mat_index) + 1):
            if k == len(mat_index) or mat_index[k] != mat_index[k - 1] + 1:
                runs.append(
                    (slice(start, k), slice(int(mat_index[start]), int(mat_index[k - 1]) + 1))
                )
                start = k
    if nr < 3:  # the empty segment: base price, no flows
        for arr in (ra.supply, ra.consumption, ra.imports, ra.inventory, ra.shortfall, ra.desired):
            arr[..., nr:] = 0.0
        ra.price[:, :, mi, nr:] = full.p0[None, None, :, None]
        ra.inventory0[..., nr:] = 0.0
        ra.cost[..., nr:] = 0.0
        ra.shortfall_sector[:, :, nr:] = 0.0
    out_ = {
        "price": ra.price[..., :nr],
        "supply": ra.supply[..., :nr],
        "cons": ra.consumption[..., :nr],
        "imp": ra.imports[..., :nr],
        "inv": ra.inventory[..., :nr],
        "short": ra.shortfall[..., :nr],
        "des": ra.desired[..., :nr],
    }
    cost = np.zeros((nd, nm, nr))
    a_e = _ema(dt, d.tau_e)[:, None, None]
    a_s = _ema(dt, d.tau_s)[:, None, None]
    a_r = _ema(dt, d.tau_r)[:, None, None]
    kap = (1.0 - (1.0 - d.kappa) ** dt)[:, None, None]
    kap_s = (1.0 - (1.0 - d.kappa_sell) ** dt)[:, None, None]
    eta = d.eta[:, None, None]
    eps = material_elasticities(plan, d)  # (D, M, K)
    theta = d.sup_el[:, None, None]
    iters = 0
    # baseline demand by kind and sector [t/month]
    d0_el = d0[sel][..., k_el]  # (E, 3, Je)
    d0_pr = d0[spr][..., k_pr]  # (P, 3, Jp)
    short_el = np.zeros((nd, nel, nr, k_el.size))
    short_pr = np.zeros((nd, npr, nr, k_pr.size))
    for t in range(nt):
        sch = _step_schedule(plan, d, t, bind)
        out_f = sch["out"]
        dm = sch["dm"]
        block = sch["block"]
        proj = _projects(plan, d, t)
        # desired (base-price) demand by sector after substitution [t per step]
        keep = (1.0 - sigma)[..., None] * dt
        base_el = d0_el[None] * dm[:, sel][..., k_el] * keep[:, sel]  # (D, E, 3, Je)
        base_pr = d0_pr[None] * dm[:, spr][..., k_pr] * keep[:, spr]  # (D, P, 3, Jp)
        cons_base = np.empty((nd, nm, nr))
        cons_base[:, sel] = base_el.sum(axis=-1) / dt
        cons_base[:, spr] = base_pr.sum(axis=-1) / dt
        # own output at the base price [t per step]; cut below base within the clearing
        prod0 = ((q0[None] + ramp_x) * out_f + proj + rec) * dt
        # inventory target (raised by the hoarding signal) and floor [t]
        flo = d.floor_months[:, None, None] * cons_base
        tgt = d.cover[:, None, None] * cons_base * (1.0 + d.hoard[:, None, None] * sch["signal"])
        tgt = np.maximum(tgt, flo)
        xlog = np.empty((nd, nm, nr))
        prod = np.empty((nd, nm, nr))
        cons_tot = np.empty((nd, nm, nr))
        imp = np.empty((nd, nm, nr))
        d_inv = np.empty((nd, nm, nr))
        des = np.empty((nd, nm, nr))
        short_t = np.empty((nd, nm, nr))
        blk = np.zeros((nd, nm, nr))
        # magnet makers plan output on world demand and the expected magnet price
        resp_pr = np.exp(theta * xe[:, spr])
        plan_out = (
            q0[None][:, spr]
            * _product_index(d0, dm, sigma, pr, spr)[:, :, None]
            * out_f[:, spr]
            * resp_pr
        )
        cap_pr = ((q0[None][:, spr] + ramp_x[:, spr]) * out_f[:, spr] + proj[:, spr]) * dt
        cap_pr = cap_pr * np.maximum(resp_pr, 1.0)
        q_pr = np.minimum(cap_pr, plan_out * dt)
        # ---- element markets --------------------------------------------------------
        if nel:
            keep_e = 1.0 - sigma[:, sel]
            po = np.swapaxes(plan_out * dt, 1, 2)  # (D, 3, P)
            need_p = [recipe_ep[None, :, None, p] * po[:, None, :, p] * keep_e for p in range(npr)]
            need_tot = _add(need_p, (nd, nel, nr))  # (D, E, 3)
            sec_el = base_el
            if jm >= 0 and npr:
                sec_el[..., jm] = need_tot
            res = _clear_kind(
                plan, d, t, sel, (plan.g_el, plan.gc_el), sec_el, prod0[:, sel], theta,
                block[:, sel], inv[:, sel], tgt[:, sel], flo[:, sel], xe[:, sel], xprev[:, sel],
                sch, kap, kap_s, eta, eps[:, sel], flow[:, sel],
            )  # fmt: skip
            flow[:, sel] = res.flow  # type: ignore[attr-defined]
            iters = max(iters, res.iterations)
            cons_el = res.consumption  # (D, E, 3, Je)
            d_inv_el = res.stock_change
            cons_el_tot = _add([cons_el[..., j] for j in range(cons_el.shape[-1])], (nd, nel, nr))
            p_el = prod0[:, sel] * np.exp(theta * np.minimum(res.x, 0.0))
            blk[:, sel] = block[:, sel] * p_el
            prod[:, sel] = p_el
            # magnet output: minimum over inputs of purchase / content (stage coupling)
            if npr and jm >= 0:
                buy = cons_el[..., jm]  # (D, E, 3)
                fill = np.divide(buy, need_tot, out=np.full_like(buy, np.inf), where=need_tot > 0)
                used = np.zeros((nd, nel, nr))
                for p in range(npr):
                    uses = recipe_ep[:, p] > 0
                    fp = fill[:, uses].min(axis=1) if uses.any() else np.ones((nd, nr))
                    fp = np.where(np.isfinite(fp), fp, 1.0)  # (D, 3)
                    q_pr[:, p] = np.maximum(np.minimum(cap_pr[:, p], plan_out[:, p] * dt * fp), 0.0)
                    used += recipe_ep[None, :, None, p] * q_pr[:, p][:, None, :]
                used *= keep_e
                used = np.minimum(used, buy)
                leftover = buy - used
                d_inv_el = d_inv_el + leftover
                cons_el_tot = cons_el_tot - leftover
            xlog[:, sel] = res.x
            cons_tot[:, sel] = cons_el_tot
            imp[:, sel] = res.imports
            d_inv[:, sel] = d_inv_el
            des[:, sel] = _add([sec_el[..., j] for j in range(sec_el.shape[-1])], (nd, nel, nr))
            sh = np.maximum(sec_el - cons_el, 0.0)
            short_el += sh
            short_t[:, sel] = _add([sh[..., j] for j in range(sh.shape[-1])], (nd, nel, nr))
            cost[:, sel] += _cs_loss(res.x, eps[:, sel][..., k_el], p0[sel], sec_el)
        # ---- magnet markets ---------------------------------------------------------
        if npr:
            res = _clear_kind(
                plan, d, t, spr, (plan.g_pr, plan.gc_pr), base_pr, q_pr, np.zeros_like(theta),
                block[:, spr], inv[:, spr], tgt[:, spr], flo[:, spr], xe[:, spr], xprev[:, spr],
                sch, kap, kap_s, eta, eps[:, spr], flow[:, spr],
            )  # fmt: skip
            flow[:, spr] = res.flow  # type: ignore[attr-defined]
            iters = max(iters, res.iterations)
            xlog[:, spr] = res.x
            prod[:, spr] = q_pr
            blk[:, spr] = block[:, spr] * q_pr
            cons_tot[:, spr] = _add(
                [res.consumption[..., j] for j in range(res.consumption.shape[-1])], (nd, npr, nr)
            )
            imp[:, spr] = res.imports
            d_inv[:, spr] = res.stock_change
            des[:, spr] = _add([base_pr[..., j] for j in range(base_pr.shape[-1])], (nd, npr, nr))
            sh = np.maximum(base_pr - res.consumption, 0.0)
            short_pr += sh
            short_t[:, spr] = _add([sh[..., j] for j in range(sh.shape[-1])], (nd, npr, nr))
            cost[:, spr] += _cs_loss(res.x, eps[:, spr][..., k_pr], p0[spr], base_pr)
        # ---- state updates ----------------------------------------------------------
        inv = inv + d_inv
        if np.any(inv < -1e-6 * (1.0 + inv0)):
            raise FloatingPointError("negative inventory: mass balance broken")
        inv = np.maximum(inv, 0.0)
        blocked = blocked + blk
        free = block <= 0
        inv = np.where(free, inv + blocked, inv)
        blocked = np.where(free, 0.0, blocked)
        x = xlog
        # bounded ramp of non-controller output (incentive: market price or floor)
        px = np.exp(np.maximum(x, plan.log_floor[t][None]))
        thr = d.ramp_thr[:, None, None]
        up = np.clip((px - 1.0) / (thr - 1.0), 0.0, 1.0)
        down = np.clip((1.0 - px) / (1.0 - 1.0 / thr), 0.0, 1.0)
        rate = d.ramp[:, None, None] * plan.volume[None, :, None] * plan.ramp_weight[None]
        ramp_x = np.maximum(ramp_x + rate * (up - down) * dt / 12.0, 0.0)
        # substitution and thrifting (irreversible, capped)
        xs = xs + a_s * (x - xs)
        g_s = np.clip((np.exp(xs) - 1.0) / (d.sub_thr[:, None, None] - 1.0), 0.0, 1.0)
        sigma = np.minimum(
            sigma + d.sub_rate[:, None, None] * g_s * dt / 12.0, d.sub_cap[:, None, None]
        )
        # slow recycling response
        xr = xr + a_r * (x - xr)
        g_r = np.clip((np.exp(xr) - 1.0) / (d.sub_thr[:, None, None] - 1.0), 0.0, 1.0)
        rec = rec + d.rec_rate[:, None, None] * cons0[None] * g_r * dt / 12.0
        # expectations; which caps bound
        xe = xe + a_e * (x - xe)
        bind = np.isfinite(sch["share"]) & (x > x[..., :1] + plan.log_wedge[t][None] + 1e-6)
        xprev = x
        # record (monthly rates)
        for key, val in (
            ("price", p0[None, :, None] * np.exp(x)),
            ("supply", prod / dt),
            ("cons", cons_tot / dt),
            ("imp", imp / dt),
            ("inv", inv + blocked),
            ("short", short_t / dt),
            ("des", des / dt),
        ):
            dest = out_[key][:, t]
            for src, dst in runs:
                dest[:, dst] = val[:, src]
        if progress is not None:
            progress(1)
    short_cum = np.zeros((nd, nm, nr, nk))
    if nel:
        tmp = np.zeros((nd, nel, nr, nk))
        tmp[..., k_el] = short_el
        short_cum[:, sel] = tmp
    if npr:
        tmp = np.zeros((nd, npr, nr, nk))
        tmp[..., k_pr] = short_pr
        short_cum[:, spr] = tmp
    dest4 = ra.shortfall_sector[:, :, :nr]
    dest4[:, mi] = short_cum
    dest_inv = ra.inventory0[..., :nr]
    dest_inv[:, mi] = inv0
    dest_cost = ra.cost[..., :nr]
    dest_cost[:, mi] = cost
    ra.iterations = max(ra.iterations, iters)
    return ra


def _add(parts: list[F], shape: tuple[int, ...]) -> F:
    """Sum of a short list of arrays (faster than a reduction over a tiny last axis)."""
    if not parts:
        return np.zeros(shape)
    out = np.array(parts[0], dtype=np.float64, copy=True)
    for p in parts[1:]:
        out += p
    return out


def _product_index(d0: F, dm: F, sigma: F, pr: NDArray[np.intp], spr: Any) -> F:
    """World demand index of each product at the base price (1 at baseline), (D, P)."""
    if pr.size == 0:
        return np.ones((sigma.shape[0], 0))
    base = d0[spr].sum(axis=(1, 2))  # (P,)
    cur = (d0[None, spr] * dm[:, spr] * (1.0 - sigma[:, spr])[..., None]).sum(axis=(2, 3))
    return np.asarray(np.divide(cur, base[None], out=np.ones_like(cur), where=base[None] > 0))


#: Log-price gap at which the lagged N<->T arbitrage moves all available own output.
ARB_BAND = 0.1


def _clear_kind(
    plan: Plan,
    d: Draws,
    t: int,
    idx: Any,
    groups: tuple[F, NDArray[np.intp]],
    sec: F,
    prod0: F,
    theta: F,
    block: F,
    inv: F,
    tgt: F,
    flo: F,
    xe: F,
    xprev: F,
    sch: dict[str, Any],
    kap: F,
    kap_sell: F,
    eta: F,
    eps: F,
    transfer: F,
) -> ClearingResult:
    """Assemble and solve the market problem for one kind of material (elements/products).

    Terms: consumption sectors ``sec`` (isoelastic; sectors sharing an elasticity draw are
    cleared as one term and split back in proportion); the inventory term
    ``kappa (target - floor) exp(-eta max(x - xe, 0))`` (restock to target at most, sell when
    the price exceeds expectations; buying closes kap, selling kap_sell of the gap per step);
    own output net of blocked output
    ``(1 - block) prod0 exp(theta min(x, 0))`` (cuts below the base price). The returned
    consumption is per sector.
    """
    nd, nm, nr = d.n, sec.shape[1], sec.shape[2]
    gmat, gcol = groups
    share = sch["share"][:, idx]
    fin = np.isfinite(share)
    cap = np.where(fin, np.where(fin, share, 0.0) * plan.x0flow[None, idx] * plan.dt, np.inf)
    ident = gmat.shape[0] == gmat.shape[1] and np.array_equal(gmat, np.eye(gmat.shape[0]))
    a_g = sec if ident else sec @ gmat  # (D, m, 3, G)
    rel = np.broadcast_to(plan.release[t][idx][None], (nd, nm, nr))
    # lagged arbitrage between two capped destination segments: N's own output may go to T
    # (and T's to N) towards the higher price, adjusting halfway each step
    k_nt = sch["leak"][:, idx] * (1.0 - block[:, :, 1]) * prod0[:, :, 1]
    moved = np.zeros((nd, nm, nr))
    flow = np.zeros((nd, nm))
    if nr == 3:
        both = np.isfinite(cap[..., 1]) & np.isfinite(cap[..., 2])
        k_tn = (1.0 - block[:, :, 2]) * prod0[:, :, 2]
        gap = xprev[..., 2] - xprev[..., 1]
        target = k_nt * np.clip(gap / ARB_BAND, 0.0, 1.0) - k_tn * np.clip(
            -gap / ARB_BAND, 0.0, 1.0
        )
        flow = np.where(both, transfer + 0.5 * (target - transfer), 0.0)
        moved[..., 1] = -flow
        moved[..., 2] = flow
    fixed = rel + moved
    inp = MarketInputs(
        a=a_g,
        eps=eps[..., gcol][:, :, None, :],
        stock=inv,
        floor=flo,
        target=tgt,
        kap_buy=kap,
        kap_sell=kap_sell,
        inv_eta=eta,
        inv_kink=xe,
        prod=(1.0 - block) * prod0,
        theta=theta,
        fixed_supply=fixed,
        log_wedge=np.broadcast_to(plan.log_wedge[t][idx][None], (nd, nm, nr)),
        cap=cap,
        cap_nt=k_nt,
        x0=xprev,
        x_lo=plan.x_lo,
        x_hi=plan.x_hi,
    )
    res = clear(inp)
    res.imports = res.imports + moved  # record N<->T sales as trade
    res.flow = flow  # type: ignore[attr-defined]
    if not ident:
        ratio = np.divide(
            res.consumption, a_g, out=np.zeros_like(a_g), where=a_g > 0
        )  # (D, m, 3, G)
        res.consumption = sec * (ratio @ gmat.T)
    return res


def _cs_loss(x: F, eps: F, p0: F, sec: F) -> F:
    """Consumer-surplus loss against the base price, per (D, M, 3) [USD].

    For isoelastic demand ``q = A (p/p0)^eps`` the loss from ``p0`` to ``p`` is
    ``A p0 ((p/p0)^(1+eps) - 1)/(1+eps)``; ``A`` is the base-price demand in the step.
    """
    e1 = 1.0 + eps[:, :, None, :]  # (D, m, 1, J)
    z = e1 * x[..., None]
    safe = np.abs(e1) >= 1e-9
    g = np.where(safe, np.expm1(z) / np.where(safe, e1, 1.0), x[..., None])
    loss = sec * g
    loss *= p0[None, :, None, None] * 1000.0
    return np.asarray(loss.sum(axis=-1))


# --------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _cached_baseline(year: int, mats: tuple[str, ...], regions: Regions) -> Baseline:
    return build_baseline(year, mats, regions)


def _as_scenario(s: Scenario | str | Path) -> Scenario:
    if isinstance(s, Scenario):
        return s
    p = Path(s)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return Scenario.from_yaml(p)
    return Scenario.builtin(str(s))


def simulate(
    scenario: Scenario | str | Path,
    draws: int = 1000,
    seed: int | None = None,
    horizon: int | None = None,
    progress: ProgressFn | None = None,
    *,
    rng: np.random.Generator | int | None = None,
    baseline: Baseline | None = None,
    workers: int | None = None,
    chunk_size: int = 2500,
) -> Any:
    """Run a scenario over Monte Carlo draws.

    Parameters
    ----------
    scenario : Scenario, str or pathlib.Path
        A scenario, a built-in name or a YAML path.
    draws : int, default 1000
        Number of Monte Carlo draws.
    seed : int, optional
        Seed entropy; recorded in the result. ``None`` draws fresh entropy.
    horizon : int, optional
        Override the scenario horizon [months].
    progress : callable, optional
        ``progress(done, total)`` after each step of each chunk.
    rng : numpy.random.Generator or int, optional
        Keyword-only alternative to ``seed``.
    baseline : Baseline, optional
        Use this baseline instead of building one from the embedded data.
    workers : int, optional
        Threads running chunks of draws (default ``min(2, cpu count)``); results do not
        depend on it.
    chunk_size : int, default 2500
        Draws per chunk.

    Returns
    -------
    oreflow.simulate.result.Result

    Examples
    --------
    >>> from oreflow.simulate.baseline import toy_baseline
    >>> sc = Scenario.parse_yaml('''
    ... name: toy
    ... start: 2025-01
    ... horizon_months: 12
    ... shocks:
    ...   - {kind: export_restriction, materials: [Dy], targets: [JPN], effective: 2025-03,
    ...      licence_lag_months: 2, approval_rate: 0.5}
    ... ''')
    >>> res = simulate(sc, draws=50, seed=1, baseline=toy_baseline())
    >>> bool((res.summary()["peak_price_multiple_p50"] >= 1).all())
    True
    """
    from .result import Result

    sc = _as_scenario(scenario)
    if horizon is not None:
        sc = sc.with_horizon(int(horizon))
    if baseline is None:
        baseline = _cached_baseline(sc.baseline_year, sc.material_list(), resolve_regions(sc))
    else:
        want = [m for m in sc.material_list() if m in baseline.materials]
        if len(want) < baseline.n_materials:
            baseline = baseline.subset(want)
    ent = _entropy(seed, rng)
    t_start = time.perf_counter()
    plan = compile_plan(sc, baseline)
    dr = sample_draws(sc, baseline, draws, rng=ent)
    chunks = [slice(i, min(i + chunk_size, draws)) for i in range(0, draws, chunk_size)]
    total = len(chunks) * plan.n_steps
    done = [0]
    lock = threading.Lock()

    def tick(k: int) -> None:
        with lock:
            done[0] += k
            if progress is not None:
                progress(done[0], total)

    nw = workers if workers is not None else min(2, os.cpu_count() or 1)
    arrays = RunArrays.empty(draws, plan.n_steps, baseline.n_materials, len(baseline.sectors))
    views = [arrays.view(sl) for sl in chunks]
    # markets without any volume (no data: e.g. Pm) stay at their base price; not simulated
    vol = baseline.production.sum(axis=1) + baseline.demand.sum(axis=(1, 2))
    active = [m for m, v in zip(baseline.materials, vol, strict=True) if v > 0]
    run_with, mat_index = plan, None
    if 0 < len(active) < baseline.n_materials:
        sub = baseline.subset(active)
        run_with = compile_plan(sc, sub)
        mat_index = np.array([baseline.index(m) for m in sub.materials], dtype=np.intp)
        idle = np.setdiff1d(np.arange(baseline.n_materials), mat_index)
        for arr in (arrays.supply, arrays.consumption, arrays.imports, arrays.inventory,
                    arrays.shortfall, arrays.desired):  # fmt: skip
            arr[:, :, idle] = 0.0
        arrays.price[:, :, idle] = baseline.price[idle][None, None, :, None]
        arrays.inventory0[:, idle] = 0.0

    def job(k: int) -> int:
        ra = run_plan(
            run_with, dr.take(chunks[k]), progress=tick, out=views[k], mat_index=mat_index
        )
        return ra.iterations

    if nw > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(max_workers=nw) as ex:
            iters = list(ex.map(job, range(len(chunks))))
    else:
        iters = [job(k) for k in range(len(chunks))]
    arrays.iterations = max(iters)
    elapsed = time.perf_counter() - t_start
    return Result.from_run(sc, plan, dr, arrays, seed=ent, elapsed_s=elapsed)


def mass_balance_residual(res: Any) -> F:
    """Largest absolute mass-balance residual per material [t/month].

    ``supply + imports + release - consumption - stock change`` per draw, step and segment,
    and ``sum(imports)`` over segments, for a :class:`~oreflow.simulate.result.Result`.
    """
    ra: RunArrays = res.arrays
    dt = res.plan.dt
    inv = np.concatenate(
        [ra.inventory0[:, None].astype(np.float64), ra.inventory.astype(np.float64)], axis=1
    )
    d_inv = np.diff(inv, axis=1) / dt
    rel = res.plan.release[None] / dt
    gap = ra.supply.astype(np.float64) + ra.imports + rel - ra.consumption - d_inv
    trade = np.abs(ra.imports.astype(np.float64).sum(axis=-1))
    return np.asarray(np.maximum(np.abs(gap).max(axis=(0, 1, 3)), trade.max(axis=(0, 1))))
