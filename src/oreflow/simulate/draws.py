"""Monte Carlo draws of a scenario's uncertain parameters.

Each quantity has its own child stream keyed by its name (:func:`oreflow.rng.named_stream`),
so the first ``k`` of ``n`` draws equal the ``k`` draws of a smaller run, and results do not
depend on chunking or threads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oreflow.rng import named_stream

from .baseline import PRODUCT_SECTORS, Baseline
from .posterior import load_posterior
from .scenario import (
    DemandChange,
    ExportRestriction,
    FlowRedirect,
    ProductionOutage,
    Scenario,
    ScenarioError,
)
from .state import Draws

__all__ = ["HOLD_SAMPLE", "elasticity_key", "entropy_of", "sample_draws"]

F = NDArray[np.float64]

#: Draws from which a held input's median is taken (``sample_draws(hold=True)``).
HOLD_SAMPLE = 2001


def entropy_of(seed: int | None, rng: np.random.Generator | int | None) -> int:
    """Seed entropy from a seed or a generator (fresh entropy when both are None)."""
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


def elasticity_key(scenario: Scenario, sector: str) -> str:
    """Which elasticity distribution a sector uses (sectors sharing a key share the draw).

    Explicit ``parameters.elasticity[sector]`` first; ``magnet_makers`` otherwise uses
    ``input_elasticity`` (key ``input``); the magnet markets' product sectors
    ``elasticity['magnets']`` where given; every other sector ``elasticity['default']``.
    """
    el = scenario.parameters.elasticity
    if sector in el:
        return sector
    if sector == "magnet_makers":
        return "input"
    if sector in PRODUCT_SECTORS and "magnets" in el:
        return "magnets"
    if "default" not in el:
        raise ScenarioError(f"no elasticity for sector {sector!r} and no 'default'")
    return "default"


def _calibrated(scenario: Scenario, n: int, ent: int, hold: bool) -> dict[str, F]:
    """Rows of the shipped calibrated sample for the parameters the scenario leaves at
    their defaults (none when ``parameters.calibrated`` is false or nothing is shipped);
    with ``hold``, each parameter's median in every row."""
    par = scenario.parameters
    post = load_posterior() if par.calibrated else None
    if not post:
        return {}
    size = len(next(iter(post.values())))
    rows = named_stream(ent, "calibration.rows").integers(0, size, n)
    out: dict[str, F] = {}
    for name, col in post.items():
        field, _, key = name.partition(".")
        if field in par.model_fields_set and (not key or key in getattr(par, field)):
            continue  # the scenario sets this parameter itself
        out[name] = np.full(n, float(np.median(col))) if hold else col[rows]
    return out


def sample_draws(
    scenario: Scenario,
    baseline: Baseline,
    n: int,
    *,
    rng: np.random.Generator | int | None,
    values: Mapping[str, NDArray[np.float64]] | None = None,
    hold: bool = False,
) -> Draws:
    """Sample ``n`` parameter draws for a scenario.

    Each quantity has its own child stream of ``numpy.random.SeedSequence(entropy)`` keyed by
    its name, so the first ``k`` of ``n`` draws equal the ``k`` draws of a smaller run.
    With ``parameters.calibrated`` (the default), the behavioural parameters the scenario
    does not set itself are whole rows of the shipped calibrated sample
    (:func:`~oreflow.simulate.posterior.load_posterior`), drawn with their own stream, so
    fitted parameters keep their joint distribution.

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
    values : mapping of str to numpy.ndarray, optional
        Explicit values (length ``n``) for parameters by path (``price_cover_sensitivity``,
        ``elasticity.default``, ``backstop_multiple.default`` …): used instead of sampling
        (calibration and sensitivity runs).
    hold : bool, default False
        Hold every input not in ``values`` at one value in every draw: its median (over
        :data:`HOLD_SAMPLE` draws of its own stream, or the calibrated sample's), a
        project's delay at its expected value (delay probability times the median delay)
        and its failure at the likelier outcome. A sensitivity run varies the analysed
        parameters alone, so the variance it apportions is theirs.
    """
    if n < 1:
        raise ValueError("draws must be >= 1")
    ent = entropy_of(None, rng)
    par = scenario.parameters
    given = dict(_calibrated(scenario, n, ent, hold))
    for name, arr in (values or {}).items():
        v = np.asarray(arr, dtype=np.float64)
        if v.shape != (n,) or not np.all(np.isfinite(v)):
            raise ValueError(f"values[{name!r}] must be {n} finite numbers")
        given[name] = v

    def s(name: str, dist: Any) -> F:
        if name in given:
            return given[name]
        if hold:
            many = dist.sample(HOLD_SAMPLE, rng=named_stream(ent, name))
            return np.full(n, float(np.median(many)))
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
    quota = per_shock(restr, "quota_t_per_yr", "restriction")
    budget = per_shock(restr, "quota_t", "restriction")
    denied = np.nan_to_num(per_shock(restr, "end_use_denied_share", "restriction"), nan=0.0)
    reach = per_shock(restr, "de_minimis_reach", "restriction")
    general = np.zeros((n, len(restr)))
    approval: list[F] = []
    for i, r in enumerate(restr):
        first = (np.zeros(n) if r.approval_rate is None
                 else s(f"restriction{i}.approval_rate", r.approval_rate))
        cols = [first] + [s(f"restriction{i}.approval_path{j}", st.rate)
                          for j, st in enumerate(r.approval_path)]
        approval.append(np.stack(cols, axis=1))
        if r.general_licence is not None:
            general[:, i] = s(f"restriction{i}.general_licence", r.general_licence.share)
    if np.any(lag < 0) or np.any(quota < 0) or np.any(budget < 0) or any(
        np.any((a < 0) | (a > 1)) for a in approval
    ):
        raise ScenarioError("licence lags must be >= 0 and approval rates in [0, 1]")
    outage_share = per_shock(outs, "share", "outage")
    if np.any((outage_share < 0) | (outage_share > 1)):
        raise ScenarioError("outage shares must be in [0, 1]")
    # projects: announced start (months from scenario start) plus a random delay, or
    # never where the project fails (probability p_fail per draw)
    n_proj = len(baseline.projects) if scenario.pipeline else 0
    if n_proj:
        p_late = s("project_delay_probability", par.project_delay_probability)
        dmin = par.project_delay_months
        delay_stream = named_stream(ent, "project_delay_months")
        base = np.array(
            [
                (p.start_year - scenario.start.year) * 12.0 - (scenario.start.month - 1)
                for p in baseline.projects
            ]
        )
        p_fail = np.array([p.p_fail for p in baseline.projects])
        if hold:  # the expected delay; failure where it is the likelier outcome
            median_delay = float(np.median(dmin.sample(HOLD_SAMPLE, rng=delay_stream)))
            proj_start = base[None, :] + p_late[:, None] * median_delay
            failed = np.broadcast_to(p_fail[None, :] > 0.5, (n, n_proj))
        else:
            late = named_stream(ent, "project_late").random((n, n_proj)) < p_late[:, None]
            delay = np.asarray(dmin.sample(n * n_proj, rng=delay_stream)).reshape(n, n_proj)
            proj_start = base[None, :] + np.where(late, delay, 0.0)
            failed = named_stream(ent, "project_failed").random((n, n_proj)) < p_fail[None, :]
        # a failed project never starts (start at +inf: no output in that draw)
        proj_start = np.where(failed, np.inf, proj_start)
    else:
        proj_start = np.zeros((n, 0))
    # backstop multiple per material (its own entry or 'default'; one draw per key)
    backstop = np.empty((n, baseline.n_materials))
    bcache: dict[str, F] = {}
    for j, m in enumerate(baseline.materials):
        key = m if m in par.backstop_multiple else "default"
        if key not in bcache:
            bcache[key] = s(f"backstop_multiple.{key}", par.backstop_multiple[key])
        backstop[:, j] = bcache[key]
    if np.any(backstop <= 1.0):
        raise ScenarioError("backstop multiples must exceed 1")
    cb = par.cross_border_share

    def pos(name: str, dist: Any, lo: float = 0.0) -> F:
        return np.maximum(s(name, dist), lo)

    red_share, red_cap, red_delay = _redirect_draws(scenario, n, s)
    return Draws(
        n=n,
        entropy=ent,
        eps=eps,
        backstop=backstop,
        cover_user=pos("user_cover_months", par.user_cover_months, 1e-3),
        cover_trader=pos("trader_cover_months", par.trader_cover_months, 1e-3),
        tau_u=pos("stock_adjustment_months", par.stock_adjustment_months, 1e-3),
        hoard=pos("hoarding_strength", par.hoarding_strength),
        spec=s("speculative_response", par.speculative_response),
        alpha=pos("price_cover_sensitivity", par.price_cover_sensitivity, 1e-6),
        tau_p=pos("price_adjustment_months", par.price_adjustment_months, 1e-3),
        tau_e=pos("expectation_memory_months", par.expectation_memory_months, 1e-3),
        tau_c=pos("price_reversion_months", par.price_reversion_months, 1e-3),
        beta=pos("trade_response", par.trade_response),
        divert=np.clip(s("trade_diversion", par.trade_diversion), 0.0, 1.0),
        leak=np.clip(s("leakage", par.leakage), 0.0, 1.0),
        leak_quota=np.clip(s("quota_leakage", par.quota_leakage), 0.0, 1.0),
        kappa_q=pos("quota_premium_response", par.quota_premium_response),
        k0=pos("licence_processing_initial", par.licence_processing_initial),
        k1=pos("licence_processing_final", par.licence_processing_final),
        tau_k=pos("licence_processing_ramp_months", par.licence_processing_ramp_months, 1e-3),
        tau_cap=pos("licence_capacity_months", par.licence_capacity_months, 1e-3),
        sup_el=pos("supply_elasticity", par.supply_elasticity),
        theta_c=pos("controller_supply_response", par.controller_supply_response),
        g_state=pos("state_purchase_rate", par.state_purchase_rate),
        delta_state=pos("state_purchase_threshold", par.state_purchase_threshold),
        ramp=pos("ramp_rate_per_year", par.ramp_rate_per_year),
        ramp_thr=pos("ramp_price_threshold", par.ramp_price_threshold, 1.0 + 1e-6),
        sub_rate=pos("substitution_rate_per_year", par.substitution_rate_per_year),
        sub_cap=np.clip(s("substitution_cap", par.substitution_cap), 0.0, 0.99),
        sub_thr=pos("substitution_price_threshold", par.substitution_price_threshold,
                    1.0 + 1e-6),
        tau_s=pos("substitution_memory_months", par.substitution_memory_months, 1e-6),
        rec_rate=pos("recycling_rate_per_year", par.recycling_rate_per_year),
        tau_r=pos("recycling_lag_months", par.recycling_lag_months, 1e-6),
        proj_start=proj_start,
        proj_ramp=pos("project_ramp_months", par.project_ramp_months, 1e-6),
        cross_border=np.full(n, np.nan) if cb is None else np.clip(s("cross_border", cb), 0, 1),
        lag=lag,
        approval=tuple(approval),
        quota=quota,
        budget=budget,
        denied=np.clip(denied, 0.0, 1.0),
        general=np.clip(general, 0.0, 1.0),
        reach=np.clip(reach, 0.0, 1.0),
        outage_share=outage_share,
        dem_level=per_shock(dems, "level", "demand"),
        dem_growth=per_shock(dems, "growth_per_year", "demand"),
        redirect_share=red_share,
        redirect_cap=red_cap,
        redirect_delay=red_delay,
    )


def _redirect_draws(scenario: Scenario, n: int, s: Callable[[str, Any], F]
                    ) -> tuple[F, tuple[F, ...], tuple[F, ...]]:
    """Draws of the flow redirects: the share (n, J) and, per redirect, each plant's usable
    capacity [t/yr] (capacity x available share) and start delay [months], (n, plants).
    Each has its own stream (``redirect{j}.share``, ``redirect{j}.capacity{c}.t_per_yr`` …),
    so a scenario without redirects draws exactly what it drew before."""
    reds = [x for x in scenario.shocks if isinstance(x, FlowRedirect)]
    share = np.zeros((n, len(reds)))
    caps: list[F] = []
    delays: list[F] = []
    for j, r in enumerate(reds):
        share[:, j] = np.clip(s(f"redirect{j}.share", r.share), 0.0, 1.0)
        cap = np.zeros((n, len(r.capacity)))
        delay = np.zeros((n, len(r.capacity)))
        for c, p in enumerate(r.capacity):
            tag = f"redirect{j}.capacity{c}"
            avail = np.clip(s(f"{tag}.available_share", p.available_share), 0.0, 1.0)
            cap[:, c] = np.maximum(s(f"{tag}.t_per_yr", p.t_per_yr), 0.0) * avail
            delay[:, c] = np.maximum(s(f"{tag}.delay_months", p.delay_months), 0.0)
        caps.append(cap)
        delays.append(delay)
    return share, tuple(caps), tuple(delays)
