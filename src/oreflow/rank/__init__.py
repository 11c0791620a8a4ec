"""The criticality ranking: materials ranked by the expected loss a supplier disruption
causes an importer (``oreflow rank``; method in ``docs/ranking.md``).

:func:`rank` builds the standard scenario set (:mod:`oreflow.rank.scenarios`), runs it
through a runner (default :func:`serial_runner`: one :func:`oreflow.simulate.simulate` call per
scenario, seeded from the run's seed and the scenario's key) and ranks the materials
(:mod:`oreflow.rank.loss`). A runner is any callable
``runner(scenarios, draws, seed) -> DataFrame`` with ``scenarios`` a list of
``(key, Scenario)``: it returns each scenario's ``Result.summary()`` rows with the key's
columns and ``shortfall_t_mean``, ``cost_musd_mean``, ``lost_output_t_mean`` (means over
draws), so a parallel sweep runner can replace the serial one.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from oreflow.answer import Answer
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError
from oreflow.simulate.result import Result
from oreflow.simulate.run import simulate
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
    "result_means",
    "scenario_losses",
    "scenario_seed",
    "serial_runner",
    "standard_scenarios",
    "weighted_quantiles",
]

#: Draws per scenario by default: the expected loss of the top materials is stable to a few
#: per cent at this size (docs/ranking.md, "Monte Carlo error").
DEFAULT_DRAWS = 300
#: A runner: (key, scenario) pairs, draws per scenario, seed -> summary rows with key columns.
Runner = Callable[[list[tuple[dict[str, Any], Scenario]], int, int], pd.DataFrame]
ProgressFn = Callable[[int, int], None]


def scenario_seed(seed: int, key: Mapping[str, Any]) -> int:
    """The seed of one scenario: ``SeedSequence(seed, spawn_key=(crc32(key JSON),))`` as a
    63-bit integer; the canonical JSON of the key (sorted keys, no spaces) identifies it, so
    a scenario's draws do not depend on which other scenarios run or in what order.

    Examples
    --------
    >>> scenario_seed(0, {"a": 1}) == scenario_seed(0, {"a": 1})
    True
    >>> scenario_seed(0, {"a": 1}) != scenario_seed(1, {"a": 1})
    True
    """
    blob = json.dumps(dict(key), sort_keys=True, separators=(",", ":"), default=str)
    ss = np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(blob.encode()),))
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def result_means(res: Result) -> pd.DataFrame:
    """``Result.summary()`` with ``shortfall_t_mean``, ``cost_musd_mean`` and
    ``lost_output_t_mean``: means over draws of the quantities the summary's quantiles are
    taken of (cumulative shortfall [t], consumer cost [M USD], lost output [t])."""
    summ = res.summary()
    short = res.cumulative_shortfall().mean(axis=0)
    cost = (np.asarray(res.arrays.cost, np.float64) / 1e6).mean(axis=0)
    lost = (np.asarray(res.arrays.lost, np.float64).sum(axis=1) * res.plan.dt).mean(axis=0)
    roles = ("controller", "rest", "targets")
    idx = {m: i for i, m in enumerate(res.materials)}
    i = [idx[m] for m in summ["material"]]
    r = [roles.index(x) for x in summ["role"]]
    summ["shortfall_t_mean"] = short[i, r]
    summ["cost_musd_mean"] = cost[i, r]
    summ["lost_output_t_mean"] = lost[i, r]
    return summ


def serial_runner(scenarios: list[tuple[dict[str, Any], Scenario]], draws: int, seed: int, *,
                  store: Store | None = None, progress: ProgressFn | None = None
                  ) -> pd.DataFrame:
    """Run each scenario in turn (:func:`oreflow.simulate.simulate`, one thread) and stack
    :func:`result_means` with the key's columns; ``progress(done, total)`` after each."""
    frames = []
    total = len(scenarios)
    for k, (key, sc) in enumerate(scenarios, start=1):
        res = simulate(sc, draws, seed=scenario_seed(seed, key), workers=1, store=store)
        df = result_means(res)
        clash = sorted(set(key).intersection(df.columns))
        if clash:
            raise ValueError(f"scenario key names summary column(s) {', '.join(clash)}")
        for name, value in key.items():
            df[name] = value
        frames.append(df)
        if progress is not None:
            progress(k, total)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def _source_ids(text: str) -> list[str]:
    return [s.strip() for part in re.findall(r"\[([^\]]+)\]", text)
            for s in re.split(r"[;,]", part) if s.strip()]


def rank(importer: str, *, runner: Runner | None = None, draws: int = DEFAULT_DRAWS,
         seed: int = 0, materials: list[str] | None = None, store: Store | None = None,
         progress: ProgressFn | None = None) -> Answer:
    """Rank materials by the importer's expected loss from supplier disruptions.

    Parameters
    ----------
    importer : str
        ISO3 code, country name or bloc (``USA``, ``Japan``, ``EU27``).
    runner : callable, optional
        ``runner(scenarios, draws, seed) -> DataFrame`` (see the module doc); default
        :func:`serial_runner`.
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
            return serial_runner(scs, n, s, store=st, progress=progress)
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
