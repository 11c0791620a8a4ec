"""The criticality ranking: materials ranked by the expected loss a supplier disruption
causes an importer (``oreflow rank``; method in ``docs/ranking.md``).

:func:`rank` builds the standard scenario set (:mod:`oreflow.rank.scenarios`), runs it
through a runner (default :func:`sweep_runner`: the scenarios as points of a sweep, each
seeded from the run's seed and the scenario's key) and ranks the materials
(:mod:`oreflow.rank.loss`). A runner is any callable
``runner(scenarios, draws, seed) -> DataFrame`` with ``scenarios`` a list of
``(key, Scenario)``: it returns each scenario's ``Result.summary()`` rows with the key's
columns and ``shortfall_t_mean``, ``cost_musd_mean``, ``lost_output_t_mean`` (means over
draws).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from oreflow.answer import Answer
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError
from oreflow.simulate.scenario import Scenario

from .loss import loss_distribution, rank_materials, scenario_losses, weighted_quantiles
from .scenarios import (
    DURATIONS,
    HORIZON_MONTHS,
    SEVERITIES,
    Importer,
    ScenarioSet,
    importer_baseline,
    resolve_importer,
    standard_scenarios,
)

__all__ = [
    "DEFAULT_DRAWS",
    "Importer",
    "Runner",
    "ScenarioSet",
    "loss_distribution",
    "rank",
    "rank_materials",
    "scenario_losses",
    "standard_scenarios",
    "sweep_runner",
    "weighted_quantiles",
]

#: Draws per scenario by default: the expected loss of the top materials is stable to a few
#: per cent at this size (docs/ranking.md, "Monte Carlo error").
DEFAULT_DRAWS = 300
#: A runner: (key, scenario) pairs, draws per scenario, seed -> summary rows with key columns.
Runner = Callable[[list[tuple[dict[str, Any], Scenario]], int, int], pd.DataFrame]
ProgressFn = Callable[[int, int], None]


def sweep_runner(scenarios: list[tuple[dict[str, Any], Scenario]], draws: int, seed: int, *,
                 workers: int | None = 1, progress: ProgressFn | None = None
                 ) -> pd.DataFrame:
    """Run the scenarios as sweep points (:func:`oreflow.sweep.run_points`): each seeded
    from the run's seed and its key only (:func:`oreflow.sweep.point_seed`), so the numbers
    do not depend on the order, the other scenarios or the number of ``workers`` (1: in
    process; more: a local process pool); ``progress(done, total)`` after each."""
    from oreflow.sweep import make_point, run_points

    points = [make_point(i, key, sc, sweep_seed=seed, draws=draws)
              for i, (key, sc) in enumerate(scenarios)]
    return run_points(points, workers=workers, progress=progress)


def _source_ids(text: str) -> list[str]:
    return [s.strip() for part in re.findall(r"\[([^\]]+)\]", text)
            for s in re.split(r"[;,]", part) if s.strip()]


def rank(importer: str, *, runner: Runner | None = None, draws: int = DEFAULT_DRAWS,
         seed: int = 0, materials: list[str] | None = None, store: Store | None = None,
         progress: ProgressFn | None = None, workers: int | None = 1) -> Answer:
    """Rank materials by the importer's expected loss from supplier disruptions.

    Parameters
    ----------
    importer : str
        ISO3 code, country name or bloc (``USA``, ``Japan``, ``EU27``).
    runner : callable, optional
        ``runner(scenarios, draws, seed) -> DataFrame`` (see the module doc); default
        :func:`sweep_runner`.
    draws : int, default 300
        Monte Carlo draws per scenario.
    seed : int, default 0
        Seed of the run; each scenario's seed derives from it and the scenario's key.
    materials : list of str, optional
        Materials or groups to rank (default every material the engine simulates).
    store : oreflow.data.store.Store, optional
        Data (default the embedded data with the user's imports).
    progress : callable, optional
        ``progress(done, total)`` for the default runner.
    workers : int, optional
        Processes of the default runner (1: in process; ``None``: the CPUs available); the
        numbers do not depend on it.

    Returns
    -------
    oreflow.answer.Answer
        Tables ``ranking`` (:func:`rank_materials`), ``not_ranked`` (material, reason),
        ``scenarios`` (:func:`scenario_losses`), ``rates`` (per supplier) and ``events``
        (the export restrictions counted); notes; sources; ``meta`` with the parameters.

    Raises
    ------
    oreflow.errors.InputError
        Unknown importer or material, bad draws or seed.
    """
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise InputError(f"draws must be a positive integer, got {draws!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    st = resolve_store(store)
    imp = resolve_importer(importer, store=st)
    sset = standard_scenarios(imp, materials, store=st)
    run = runner
    if run is None:
        def run(scs: list[tuple[dict[str, Any], Scenario]], n: int, s: int) -> pd.DataFrame:
            return sweep_runner(scs, n, s, workers=workers, progress=progress)
    results = run(sset.scenarios, draws, seed) if sset.scenarios else pd.DataFrame(
        columns=["scenario_id", "material", "role", "base_price_usd_per_kg"])
    losses = scenario_losses(results, sset.probabilities)
    ranking = rank_materials(losses)
    skipped = dict(sset.skipped)
    for m, grp in losses.groupby("material"):
        if not grp["simulated"].any():
            skipped[str(m)] = f"the engine reported no segment for {imp.name}"
    ranking = ranking[~ranking["material"].isin(skipped)].reset_index(drop=True)
    ranking["rank"] = np.arange(1, len(ranking) + 1)
    not_ranked = pd.DataFrame([{"material": m, "reason": r} for m, r in skipped.items()],
                              columns=["material", "reason"])
    first, last = sset.history
    notes = [
        f"expected loss = sum over scenarios of (yearly rate x mean loss to {imp.name}); loss "
        "= shortfall x base price + consumers' cost of higher prices, over a "
        f"{HORIZON_MONTHS}-month horizon (docs/ranking.md)",
        f"rates: export-restriction events per supplier in the policies table, {first}-{last} "
        f"({last - first + 1} years), with half a prior event scaled by governance (WGI); "
        f"kinds: all destinations {sset.kinds['all']:.0%}, {imp.name} named "
        f"{sset.kinds['targeted']:.0%}, others named {sset.kinds['other']:.0%} (no direct loss)",
        f"severities {', '.join(f'{s:.0%}' for s in SEVERITIES)} of the supplier's exports and "
        f"durations {', '.join(str(d) for d in DURATIONS)} months, weighted equally "
        "(estimates)",
        "P10/P50/P90: the loss of one disruption, scenarios mixed by rate, each scenario's "
        "draws by its P10/P50/P90 (Swanson weights 0.3/0.4/0.3)",
        f"{draws} draws per scenario, seed {seed}; {len(sset.scenarios)} scenarios",
    ]
    missing_gov = sset.rates[sset.rates["governance_missing"]]["country"].tolist()
    if missing_gov:
        notes.append("no governance score (midpoint 5 used): " + ", ".join(missing_gov))
    neg = ranking[ranking["expected_loss_musd_per_yr"] < 0]["material"].tolist()
    if neg:
        notes.append("negative expected loss (prices fall for the importer on balance): "
                     + ", ".join(neg))
    sources = sorted({s for ids in sset.events["source_ids"] for s in str(ids).split(";") if s})
    known = set(st.table("sources")["source_id"].astype(str))
    base_sources: set[str] = set()
    for texts in importer_baseline(imp, store=st).notes.values():  # cached: built above
        for t in texts:
            base_sources.update(s for s in _source_ids(t) if s in known)
    wgi = st.table("countries")
    wgi_ids = {str(s) for c, s in zip(wgi["iso3"], wgi.get("wgi_source_id", []), strict=False)
               if c in set(sset.rates["country"]) and isinstance(s, str) and s}
    by_part = {"policies (restriction history)": sources,
               "governance (WGI)": sorted(wgi_ids),
               "baseline market (shares, prices, demand)": sorted(base_sources)}
    meta = {"importer": imp.name, "members": list(imp.members), "draws": draws, "seed": seed,
            "history": [first, last], "kinds": sset.kinds,
            "severities": list(SEVERITIES), "durations_months": list(DURATIONS),
            "horizon_months": HORIZON_MONTHS, "sources_by_part": by_part}
    tables = {"ranking": ranking, "not_ranked": not_ranked, "scenarios": losses,
              "rates": sset.rates, "events": sset.events}
    all_sources = sorted(set(sources) | wgi_ids | base_sources)
    return Answer(tables=tables, sources=all_sources, notes=notes, meta=meta)
