"""Monte Carlo draws of a scenario's uncertain parameters.

Each quantity has its own child stream keyed by its name (:func:`oreflow.rng.named_stream`),
so the first ``k`` of ``n`` draws equal the ``k`` draws of a smaller run, and results do not
depend on chunking or threads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from oreflow.rng import named_stream

from .baseline import Baseline
from .scenario import DemandChange, ExportRestriction, ProductionOutage, Scenario, ScenarioError
from .state import Draws

__all__ = ["elasticity_key", "entropy_of", "sample_draws"]

F = NDArray[np.float64]


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
    ent = entropy_of(None, rng)
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
