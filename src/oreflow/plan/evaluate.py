"""The engine's check of a diversification plan (issue 12, item 6).

One concern: run a stress scenario of the disruption engine (:mod:`oreflow.simulate`) without
and with a plan's capacity and stocks, on the same draws, and compare. The planner
(:mod:`oreflow.plan`) sizes a plan on yearly balances; this module asks what the plan changes
when the shock of a scenario hits: peak prices, cumulative shortfall, months to recovery and,
for an example bill of materials, units of product delayed.

How a plan becomes engine input
-------------------------------
:func:`plan_mapping` turns each :class:`~oreflow.plan.result.Choice` into tonnes per year of
the engine's markets (the elements at oxide level, NdFeB magnets) in the segment of its
country; :func:`plan_projects` makes those :class:`~oreflow.simulate.baseline.Project` records,
which the engine adds as supply from their online year with its own delay and ramp draws.
Stockpiles become :class:`~oreflow.simulate.scenario.StockpileRelease` shocks
(:func:`stockpile_releases`). The rules, in short (``docs/plan-evaluate.md`` has the table):

- separation (and recycling) capacity gives elements, split as the baseline splits its own
  pipeline (:func:`oreflow.simulate.baseline_prices.split_capacity`): NdPr by the recipe's Pr
  share, Dy+Tb by the recipe's Dy:Tb oxide ratio, REO and a generic separation module by the
  country's ore composition; heavy/light REO by the heavy/light part of that composition, Y
  oxide as Y, magnet REO and magnet-scrap recycling by the magnet recipe's oxide shares;
- magnet capacity gives NdFeB (the engine couples its element needs through the recipe);
- mine and metal capacity give nothing: ore reaches the element markets only through
  separation, and metal is made from oxide (the element markets are oxide-level);
- ``p_fail``: the expected capacity ``capacity x (1 - p_fail)`` (the engine draws delays,
  not failures).

:func:`shift_scenario` moves a scenario's dates by whole years and :func:`grow_baseline`
scales the baseline market, for "the same shock in year Y" (:func:`evaluate_plan`
``at_year=``).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from oreflow.chain import SupplyChain
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError
from oreflow.exposure.bom import Bom
from oreflow.plan.defaults import load_defaults
from oreflow.plan.result import Choice, PlanResult
from oreflow.simulate.baseline import REGIONS, Baseline, Project
from oreflow.simulate.baseline_prices import CapacitySplit, capacity_split, split_capacity
from oreflow.simulate.compile import resolve_regions
from oreflow.simulate.result import Result
from oreflow.simulate.run import cached_baseline, simulate
from oreflow.simulate.scenario import (
    ELEMENTS,
    GROUPS,
    YEARS,
    Scenario,
    StockpileRelease,
    month_offset,
)

__all__ = [
    "EVALUATED_MATERIALS",
    "PlanEvaluation",
    "element_tonnes",
    "evaluate_plan",
    "grow_baseline",
    "plan_mapping",
    "plan_projects",
    "shift_scenario",
    "stockpile_releases",
]

#: Materials the comparison reports by default (where the scenario simulates them).
EVALUATED_MATERIALS: tuple[str, ...] = ("Nd", "Pr", "Dy", "Tb", "NdFeB")
#: Months over which a stockpile is released, from the first export restriction's effect.
RELEASE_MONTHS: float = 12.0
#: Metrics of the comparison: column stem of :meth:`Result.summary` and unit.
METRICS: tuple[tuple[str, str], ...] = (
    ("peak_price_multiple", "x base"),
    ("shortfall_share", "share of base-price demand"),
    ("shortfall_t", "t"),
    ("months_to_recovery", "months"),
)
_Q = ("p10", "p50", "p90")

Failure = Literal["draw", "expected", "ignore"]
ProgressFn = Callable[[int, int], None]


# --------------------------------------------------------------------------------------
# Choices -> engine tonnes
# --------------------------------------------------------------------------------------


def _group_split(capacity: float, iso3: str, split: CapacitySplit,
                 group: Sequence[str]) -> dict[str, float] | None:
    """``capacity`` split by the country's ore composition restricted to ``group``."""
    comp = split.composition
    if comp is None:
        return None
    row = comp.loc[iso3] if iso3 in comp.index else comp.mean()
    part = {str(e): float(v) for e, v in row.items() if str(e) in group and pd.notna(v)}
    tot = sum(part.values())
    if tot <= 0:
        return None
    return {e: capacity * v / tot for e, v in part.items() if v > 0}


def _recipe_split(capacity: float, split: CapacitySplit,
                  elements: Sequence[str]) -> dict[str, float] | None:
    """``capacity`` split in the magnet recipe's oxide shares of ``elements``."""
    part = {e: float(split.oxide_recipe.get(e, 0.0)) for e in elements}
    tot = sum(part.values())
    if tot <= 0:
        return None
    return {e: capacity * v / tot for e, v in part.items() if v > 0}


def element_tonnes(stage: str, material: str, capacity: float, iso3: str,
                   split: CapacitySplit) -> tuple[dict[str, float] | None, str]:
    """Tonnes per year of the engine's markets that a capacity adds, and how.

    Parameters
    ----------
    stage : str
        The choice's stage (``mine``, ``separation``, ``metal``, ``magnet``).
    material : str
        What ``capacity`` counts (:data:`oreflow.plan.options.UNIT_RULES` materials).
    capacity : float
        Capacity counted [t material/yr].
    iso3 : str
        Country (its ore composition splits REO).
    split : CapacitySplit
        Recipe and ore composition (:func:`~oreflow.simulate.baseline_prices.capacity_split`).

    Returns
    -------
    (vector, text)
        ``{engine material: t/yr}`` and the rule used, or ``None`` and why the capacity adds
        nothing to the engine's markets.

    Examples
    --------
    >>> sp = CapacitySplit(0.25, 0.8, None, {"Nd": 0.3, "Pr": 0.1, "Dy": 0.0, "Tb": 0.0})
    >>> element_tonnes("separation", "NdPr oxide", 100.0, "USA", sp)[0]
    {'Nd': 75.0, 'Pr': 25.0}
    >>> element_tonnes("mine", "REO", 100.0, "USA", sp)[0] is None
    True
    """
    low = material.lower()
    if stage == "mine":
        return None, ("mine capacity adds ore, which reaches the engine's element markets only "
                      "through separation")
    if stage == "metal":
        return None, ("metal capacity turns oxide into metal and adds no element (the "
                      "engine's element markets are oxide-level)")
    if stage == "magnet":
        mag = (split_capacity(material, "magnet", capacity, iso3, split)
               if low == "ndfeb" else None)  # not an alloy or powder: magnets
        if mag is None or set(mag) != {"NdFeB"}:
            return None, f"no engine market for magnet capacity in '{material}'"
        return mag, "NdFeB magnets as is"
    if stage != "separation":
        return None, f"unknown stage '{stage}'"
    vec: dict[str, float] | None
    if low == "y oxide":
        return {"Y": capacity}, "Y oxide as Y"
    if "recycled" in low or "magnet reo" in low:
        els: tuple[str, ...] = (("Nd", "Pr", "Dy") if "ndpr+dy" in low
                                else ("Nd", "Pr", "Dy", "Tb"))
        vec = _recipe_split(capacity, split, els)
        how = f"split {'/'.join(els)} in the NdFeB recipe's oxide shares"
    elif low.startswith("heavy"):
        vec = _group_split(capacity, iso3, split, GROUPS["HREE"])
        how = f"split by the heavy part of the ore composition of {iso3 or 'the mean mix'}"
    elif low.startswith("light"):
        vec = _group_split(capacity, iso3, split, GROUPS["LREE"])
        how = f"split by the light part of the ore composition of {iso3 or 'the mean mix'}"
    elif low == "separated oxide" or low == "reo":
        vec = split_capacity("REO", "separation", capacity, iso3, split)
        known = split.composition is not None and iso3 in split.composition.index
        how = (f"split by the ore composition of {iso3}" if known
               else "split by the mean ore composition (none for the country)")
    else:
        vec = split_capacity(material, "separation", capacity, iso3, split)
        how = ("split Nd:Pr by the recipe's Pr share" if "ndpr" in low
               else "split Dy:Tb by the recipe's oxide ratio" if "dy+tb" in low
               else "as the baseline's pipeline")
    if vec is None:
        return None, f"separation capacity in '{material}' cannot be split into elements"
    return vec, how


def _pipeline_id(option_id: str) -> str | None:
    """The ``projects`` row of a project or recycling option (``None`` for generic ones)."""
    kind, _, rest = option_id.partition(":")
    if kind in ("project", "recycling") and rest and not rest.startswith("generic:"):
        return rest
    return None


def _split_for(baseline: Baseline, store: Store | None) -> CapacitySplit:
    st = resolve_store(store)
    return capacity_split(SupplyChain.from_default_data(year=baseline.year, store=st))


def plan_mapping(choices: Iterable[Choice], baseline: Baseline, *, store: Store | None = None,
                 split: CapacitySplit | None = None,
                 failure: Failure = "expected") -> pd.DataFrame:
    """What each capacity choice adds to the engine's markets, or why nothing.

    Stockpiles are not capacity and are left out (see :func:`stockpile_releases`).

    Parameters
    ----------
    choices : iterable of Choice
        The plan's choices (chosen and decided).
    baseline : Baseline
        The engine's baseline: segments, simulated materials and its pipeline (a choice that
        is one of ``baseline.projects`` is already counted and is dropped).
    store : oreflow.data.store.Store, optional
        Where the recipe and ore composition are read (default: the embedded data plus user
        imports); not read when ``split`` is given.
    split : CapacitySplit, optional
        Recipe and ore composition (default: from the chain of the baseline year).
    failure : {"draw", "expected", "ignore"}, default "expected"
        ``expected``: count ``capacity x (1 - p_fail)``; ``draw`` and ``ignore``: the full
        capacity (with ``draw`` the engine fails each project in a draw with its
        ``p_fail``, see :func:`plan_projects`).

    Returns
    -------
    pandas.DataFrame
        One row per (choice, engine material) added, and one row per choice or material
        dropped (``included`` False, ``reason``). Columns: ``option_id``, ``kind``,
        ``stage``, ``iso3``, ``material``, ``capacity_t_per_yr``, ``p_fail``,
        ``counted_t_per_yr`` (after ``failure``), ``segment`` (controller/rest/targets),
        ``engine_material``, ``engine_t_per_yr``, ``online_year``, ``decided``, ``rule``,
        ``included``, ``reason``, ``source_ids``.
    """
    if failure not in ("draw", "expected", "ignore"):
        raise InputError(f"failure must be 'draw', 'expected' or 'ignore', got {failure!r}")
    sp = split if split is not None else _split_for(baseline, store)
    pipeline = {p.project_id for p in baseline.projects}
    rows: list[dict[str, Any]] = []
    for c in choices:
        if c.kind == "stockpile":
            continue
        keep = 1.0 - c.p_fail if failure == "expected" else 1.0
        counted = c.capacity_t_per_yr * keep
        seg = REGIONS[baseline.region_of(c.iso3)]
        base = {"option_id": c.option_id, "kind": c.kind, "stage": c.stage, "iso3": c.iso3,
                "material": c.material, "capacity_t_per_yr": c.capacity_t_per_yr,
                "p_fail": c.p_fail, "counted_t_per_yr": counted, "segment": seg,
                "online_year": c.online_year, "decided": c.decided,
                "source_ids": " ".join(c.source_ids)}
        pid = _pipeline_id(c.option_id)
        if pid is not None and pid in pipeline:
            rows.append({**base, "engine_material": "", "engine_t_per_yr": 0.0, "rule": "",
                         "included": False,
                         "reason": f"already in the engine's pipeline as project {pid}"})
            continue
        vec, how = element_tonnes(c.stage, c.material, counted, c.iso3, sp)
        if vec is None:
            rows.append({**base, "engine_material": "", "engine_t_per_yr": 0.0, "rule": "",
                         "included": False, "reason": how})
            continue
        for m, t in vec.items():
            ok = m in baseline.materials
            rows.append({**base, "engine_material": m, "engine_t_per_yr": t, "rule": how,
                         "included": ok,
                         "reason": "" if ok else f"{m} is not simulated in this scenario"})
    cols = ["option_id", "kind", "stage", "iso3", "material", "capacity_t_per_yr", "p_fail",
            "counted_t_per_yr", "segment", "engine_material", "engine_t_per_yr",
            "online_year", "decided", "rule", "included", "reason", "source_ids"]
    out = pd.DataFrame(rows, columns=cols)
    out["included"] = out["included"].astype(bool)
    return out


def _projects_from(mapping: pd.DataFrame, baseline: Baseline,
                   failure: Failure = "expected") -> tuple[Project, ...]:
    inc = mapping[mapping["included"]]
    out: list[Project] = []
    for oid, grp in inc.groupby("option_id", sort=False):
        cap = np.zeros(baseline.n_materials)
        for m, t in zip(grp["engine_material"], grp["engine_t_per_yr"], strict=True):
            cap[baseline.index(str(m))] += float(t)
        first = grp.iloc[0]
        out.append(Project(f"plan:{oid}", REGIONS.index(str(first["segment"])), cap,
                           float(first["online_year"]),
                           ";".join(str(first["source_ids"]).split()),
                           p_fail=float(first["p_fail"]) if failure == "draw" else 0.0))
    return tuple(out)


def plan_projects(choices: Iterable[Choice], baseline: Baseline, *,
                  store: Store | None = None, split: CapacitySplit | None = None,
                  failure: Failure = "expected") -> tuple[Project, ...]:
    """The plan's capacity as engine projects (one per choice that adds something).

    Each project sits in the segment of its country (controller 0, a target 2, else rest 1),
    carries the tonnes of :func:`plan_mapping` by engine material [t/yr] and starts at the
    choice's ``online_year``; the engine adds its own delay and ramp draws
    (``parameters.project_delay_probability``, ``project_delay_months``,
    ``project_ramp_months``), so the choice's ``full_year`` is not used. Its id is
    ``plan:<option_id>``, its ``source_id`` the choice's sources joined by ``;``.

    Examples
    --------
    >>> from oreflow.simulate import toy_baseline
    >>> c = Choice("generic:magnet:JPN", "generic", "magnet module", "magnet", "JPN", "NdFeB",
    ...            2026, 2027.0, 2029.0, 1, 100.0, 100.0, 0.0, 14.0, 0.2, False)
    >>> p = plan_projects([c], toy_baseline(), split=CapacitySplit(0.25, 0.8, None, {}))[0]
    >>> p.region, p.capacity.tolist()
    (2, [0.0, 0.0, 80.0])
    """
    mapping = plan_mapping(choices, baseline, store=store, split=split, failure=failure)
    return _projects_from(mapping, baseline, failure)


# --------------------------------------------------------------------------------------
# Stockpiles -> releases
# --------------------------------------------------------------------------------------


def _decimal_year(d: _dt.date) -> float:
    days = 366 if d.year % 4 == 0 and (d.year % 100 != 0 or d.year % 400 == 0) else 365
    return d.year + (d.timetuple().tm_yday - 1) / days


def _release_start(scenario: Scenario) -> _dt.date:
    """The first export restriction's effective date; else the first shock's start; else
    the scenario start."""
    eff = [r.effective for r in scenario.restrictions()]
    if eff:
        return min(eff)
    starts = [getattr(s, "start", None) for s in scenario.shocks]
    dates = [d for d in starts if isinstance(d, _dt.date)]
    return min(dates) if dates else scenario.start


def _stock_material(material: str, stock_t: float,
                    split: CapacitySplit) -> dict[str, float] | None:
    name = material.removesuffix(" oxide").strip()
    if name == "NdPr":
        return {"Nd": stock_t * (1 - split.pr_share), "Pr": stock_t * split.pr_share}
    if name in ELEMENTS:
        return {name: stock_t}
    return None


def stockpile_releases(choices: Iterable[Choice], scenario: Scenario, baseline: Baseline, *,
                       split: CapacitySplit | None = None, store: Store | None = None,
                       months: float = RELEASE_MONTHS, failure: Failure = "expected",
                       ) -> tuple[tuple[StockpileRelease, ...], list[str]]:
    """The plan's stockpiles as releases into the bloc's segment, and notes.

    Rule: a stock held by the release start (the choice's ``online_year`` at or before it)
    is sold at a constant rate from the first export restriction's ``effective`` date (with
    no restriction: the first shock's start; with no shock: the scenario start) over
    ``months`` months, cut to the months left in the horizon, so that the whole stock is
    released within the run. NdPr is split Nd:Pr by the recipe's Pr share. The segment is
    ``targets`` when the baseline has named targets, else ``rest`` (a scenario aimed at all
    destinations has every non-controller country in ``rest``). Because the release starts
    at or after the first announcement, it does not move the onset the engine counts
    months to recovery from.

    Returns
    -------
    (releases, notes)
        One :class:`~oreflow.simulate.scenario.StockpileRelease` per (choice, element) and
        one note per stock used or dropped.
    """
    sp = split if split is not None else _split_for(baseline, store)
    start = _release_start(scenario)
    left = scenario.horizon_months - month_offset(start, scenario.start)
    region = "targets" if baseline.members[2] else "rest"
    out: list[StockpileRelease] = []
    notes: list[str] = []
    for c in choices:
        if c.kind != "stockpile":
            continue
        tonnes = c.stock_t * (1.0 - c.p_fail if failure == "expected" else 1.0)
        if c.online_year > _decimal_year(start):
            notes.append(f"stockpile {c.option_id}: not held by {start} (bought by "
                         f"{c.online_year:.1f}); not released")
            continue
        if left <= 0:
            notes.append(f"stockpile {c.option_id}: the release would start at {start}, after "
                         "the horizon; not released")
            continue
        per = _stock_material(c.material, tonnes, sp)
        if per is None:
            notes.append(f"stockpile {c.option_id}: no engine market for '{c.material}'; "
                         "not released")
            continue
        dur = min(float(months), left)
        for m, t in per.items():
            if m not in baseline.materials:
                notes.append(f"stockpile {c.option_id}: {m} ({t:,.0f} t) is not simulated in "
                             "this scenario; not released")
                continue
            if t <= 0:
                continue
            out.append(StockpileRelease.model_validate({
                "kind": "stockpile_release", "id": f"plan:{c.option_id}:{m}",
                "region": region, "materials": [m], "tonnes": t, "start": start,
                "duration_months": dur, "source_ids": list(c.source_ids)}))
        parts = ", ".join(f"{m} {t:,.0f} t" for m, t in per.items())
        notes.append(f"stockpile {c.option_id}: {parts} released into {region} from {start} "
                     f"over {dur:g} months")
    return tuple(out), notes


# --------------------------------------------------------------------------------------
# The same shock in another year
# --------------------------------------------------------------------------------------


def _shift_date(d: _dt.date, years: int, where: str, name: str) -> _dt.date:
    y = d.year + years
    if not YEARS[0] <= y <= YEARS[1]:
        raise InputError(f"scenario {name}: {where} {d} cannot move by {years} years: "
                         f"{y} is outside {YEARS[0]}-{YEARS[1]}")
    try:
        return d.replace(year=y)
    except ValueError:
        raise InputError(f"scenario {name}: {where} {d} cannot move by {years} years "
                         f"(29 February in {y}, not a leap year)") from None


def _shift_value(v: Any, years: int, where: str, name: str) -> Any:
    if isinstance(v, _dt.date):
        return _shift_date(v, years, where, name)
    if isinstance(v, BaseModel):
        upd = {}
        for f in type(v).model_fields:
            old = getattr(v, f)
            new = _shift_value(old, years, f"{where}.{f}" if where else f, name)
            if new is not old:
                upd[f] = new
        return v.model_copy(update=upd) if upd else v
    if isinstance(v, list):
        items = [_shift_value(x, years, f"{where}[{i}]", name) for i, x in enumerate(v)]
        return items if any(a is not b for a, b in zip(items, v, strict=True)) else v
    if isinstance(v, dict):
        moved = {k: _shift_value(x, years, f"{where}.{k}", name) for k, x in v.items()}
        return moved if any(moved[k] is not v[k] for k in v) else v
    return v


def shift_scenario(scenario: Scenario, years: int) -> Scenario:
    """The same scenario ``years`` whole years later (or earlier): its start and every date
    of every shock (announced, effective, end, approval steps, general licences) moved.

    Durations, shares and tonnages stay as they are; the baseline year does not move (see
    :func:`grow_baseline`). A pure function: the scenario given is not changed.

    Raises
    ------
    oreflow.errors.InputError
        A date that cannot move: 29 February into a year that is not a leap year, or a year
        outside the range scenarios accept.

    Examples
    --------
    >>> sc = shift_scenario(Scenario.builtin("china-2025-04"), 5)
    >>> str(sc.start), str(sc.shocks[0].effective)
    ('2030-04-01', '2030-04-04')
    """
    if isinstance(years, bool) or not isinstance(years, int):
        raise InputError(f"years must be a whole number, got {years!r}")
    if years == 0:
        return scenario
    out = _shift_value(scenario, years, "", scenario.name)
    if not isinstance(out, Scenario):  # pragma: no cover - a model copy stays a Scenario
        raise TypeError("shifting a scenario did not return a Scenario")
    return out


def grow_baseline(baseline: Baseline, factor: float) -> Baseline:
    """The baseline market with every flow multiplied by ``factor``.

    Production, demand by sector, imports from the controller and trade between segments
    scale alike, so the grown market is balanced as the original is and every segment keeps
    its share of world output and use; prices, recipes and origin shares are unchanged. The
    pipeline projects keep their capacity (they come on top).

    Examples
    --------
    >>> from oreflow.simulate import toy_baseline
    >>> b = toy_baseline()
    >>> float(grow_baseline(b, 1.5).production.sum() / b.production.sum())
    1.5
    """
    if not (math.isfinite(factor) and factor > 0):
        raise InputError(f"demand growth factor must be positive and finite, got {factor!r}")
    if factor == 1.0:
        return baseline
    b = baseline
    return replace(
        b,
        production=b.production * factor,
        demand=b.demand * factor,
        imports_from_controller=b.imports_from_controller * factor,
        trade=None if b.trade is None else b.trade * factor,
        provenance={**b.provenance, "grown": f"x{factor:.6g}"},
    )


# --------------------------------------------------------------------------------------
# The evaluation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # tables and results: compared by identity
class PlanEvaluation:
    """A plan checked by the disruption engine: the same scenario and draws without and with
    the plan.

    Attributes
    ----------
    scenario : str
        Name of the scenario run (``<name>@<year>`` when moved by ``at_year``).
    at_year : int or None
        The year the shock was moved to (``None``: the scenario's own dates).
    shift_years : int
        Years every date moved.
    demand_factor : float
        Factor the baseline market was grown by, ``(1 + g)^shift_years`` [-].
    comparison : pandas.DataFrame
        One row per (material, segment, metric): ``material``, ``region``, ``role``,
        ``metric`` (``peak_price_multiple``, ``shortfall_share``, ``shortfall_t``,
        ``months_to_recovery``), ``unit``, ``without_p10/_p50/_p90``, ``with_p10/_p50/_p90``
        and ``change_p10/_p50/_p90`` (with minus without, quantile by quantile; 0 where both
        are ``inf``, i.e. not recovered within the horizon).
    mapping : pandas.DataFrame
        What each capacity choice added to the engine (:func:`plan_mapping`).
    releases : tuple of StockpileRelease
        The stockpile releases added to the run with the plan.
    bom : pandas.DataFrame or None
        With a BOM: per product, ``units_delayed`` and ``units_delayed_share``
        ``_without/_with/_change`` at P10/P50/P90 (:func:`oreflow.exposure.impact`).
    notes : tuple of str
        Rules applied, what was dropped and why, the approximations, the choices' sources.
    source_ids : tuple of str
        Sources of the choices, the scenario and the growth rate.
    provenance : mapping
        Seed, draws, scenario hashes of both runs, and the package provenance.
    without, with_plan : Result
        The two engine runs.
    """

    scenario: str
    at_year: int | None
    shift_years: int
    demand_factor: float
    comparison: pd.DataFrame
    mapping: pd.DataFrame
    releases: tuple[StockpileRelease, ...]
    bom: pd.DataFrame | None
    notes: tuple[str, ...]
    source_ids: tuple[str, ...]
    provenance: Mapping[str, Any]
    without: Result = field(repr=False, compare=False)
    with_plan: Result = field(repr=False, compare=False)

    def headline(self, role: str | None = None, quantile: str = "p50") -> pd.DataFrame:
        """One row per (material, segment) and one column per metric: without, with and the
        change at ``quantile`` (``p10``, ``p50``, ``p90``); ``role`` keeps one segment."""
        df = self.comparison
        if role is not None:
            df = df[df["role"] == role]
        wide = df.pivot_table(index=["material", "role"], columns="metric",
                              values=[f"without_{quantile}", f"with_{quantile}",
                                      f"change_{quantile}"], sort=False)
        wide.columns = [f"{col[1]}_{str(col[0]).split('_')[0]}" for col in wide.columns]
        return wide.reset_index()


def _compare(without: Result, with_plan: Result, materials: Sequence[str]) -> pd.DataFrame:
    a, b = without.summary(), with_plan.summary()
    key = ["material", "region", "role"]
    a = a[a["material"].isin(materials)]
    b = b[b["material"].isin(materials)]
    both = a.merge(b, on=key, suffixes=("_without", "_with"), how="inner")
    rows: list[dict[str, Any]] = []
    order = {m: i for i, m in enumerate(materials)}
    for _, r in both.iterrows():
        for metric, unit in METRICS:
            row: dict[str, Any] = {"material": r["material"], "region": r["region"],
                                   "role": r["role"], "metric": metric, "unit": unit}
            for q in _Q:
                w0 = float(r[f"{metric}_{q}_without"])
                w1 = float(r[f"{metric}_{q}_with"])
                row[f"without_{q}"] = w0
                row[f"with_{q}"] = w1
                row[f"change_{q}"] = 0.0 if w0 == w1 else w1 - w0
            rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["_o"] = df["material"].map(order)
    return df.sort_values(["_o", "role"], kind="stable").drop(columns="_o").reset_index(
        drop=True)


def _bom_table(bom: Bom, without: Result, with_plan: Result, seed: int,
               store: Store) -> pd.DataFrame:
    from oreflow.exposure.impact import impact

    s0 = impact(bom, without, seed=seed, store=store).tables["summary"]
    s1 = impact(bom, with_plan, seed=seed, store=store).tables["summary"]
    rows = []
    for (_, r0), (_, r1) in zip(s0.iterrows(), s1.iterrows(), strict=True):
        row: dict[str, Any] = {"product": r0["product"], "plant_country": r0["plant_country"],
                               "region": r0["region"], "units_per_year": r0["units_per_year"]}
        for stem in ("units_delayed", "units_delayed_share"):
            for q in _Q:
                v0, v1 = float(r0[f"{stem}_{q}"]), float(r1[f"{stem}_{q}"])
                row[f"{stem}_without_{q}"] = v0
                row[f"{stem}_with_{q}"] = v1
                row[f"{stem}_change_{q}"] = v1 - v0
        rows.append(row)
    return pd.DataFrame(rows)


def evaluate_plan(
    plan_or_choices: PlanResult | Iterable[Choice],
    scenario: Scenario | str | Path = "china-2025-04",
    *,
    draws: int = 500,
    seed: int = 0,
    at_year: int | None = None,
    bom: Bom | None = None,
    store: Store | None = None,
    progress: ProgressFn | None = None,
    baseline: Baseline | None = None,
    materials: Sequence[str] = EVALUATED_MATERIALS,
    release_months: float = RELEASE_MONTHS,
    failure: Failure = "draw",
) -> PlanEvaluation:
    """Run a stress scenario without and with a plan, on the same draws, and compare.

    Parameters
    ----------
    plan_or_choices : PlanResult or iterable of Choice
        The plan (its ``choices``: chosen and decided) or the choices themselves.
    scenario : Scenario, str or pathlib.Path, default "china-2025-04"
        A scenario, a built-in name or a YAML path.
    draws : int, default 500
        Monte Carlo draws of each run.
    seed : int, default 0
        Seed of both runs: the two runs use the same draws (common random numbers), so the
        difference is the plan's, not sampling noise.
    at_year : int, optional
        Evaluate "the same shock happening in year ``at_year``": every date of the scenario
        moves by ``at_year - start year`` whole years (:func:`shift_scenario`) and the
        baseline market grows by the planner's demand growth over those years
        (:func:`grow_baseline`). Capacity online by then counts through the projects' own
        start years: decided choices in both runs, chosen ones in the run with the plan.
    bom : oreflow.exposure.Bom, optional
        An example bill of materials: adds the units of product delayed without and with.
    store : oreflow.data.store.Store, optional
        Data (default: the embedded data plus user imports).
    progress : callable, optional
        ``progress(done, total)`` over both runs.
    baseline : Baseline, optional
        Use this baseline instead of the one built from the data (tests, toy markets).
    materials : sequence of str, default :data:`EVALUATED_MATERIALS`
        Materials the comparison reports (where simulated).
    release_months : float, default 12
        Months over which a stockpile is released (:func:`stockpile_releases`).
    failure : {"draw", "expected", "ignore"}, default "draw"
        How ``p_fail`` counts: ``draw``, each plan project produces nothing in a draw with
        probability ``p_fail`` (the engine's per-draw project failure, its own random
        stream); ``expected``, capacity ``x (1 - p_fail)`` in every draw; ``ignore``.

    Returns
    -------
    PlanEvaluation

    Raises
    ------
    oreflow.errors.InputError
        An unknown scenario; ``at_year`` before the scenario's start year; a date that
        cannot move; a plan whose choices all add nothing the engine can represent (the
        message names them and why); bad draws or seed (from the engine).

    Notes
    -----
    Both runs share the list of engine projects: in the run without the plan, the chosen
    (not decided) projects are present with zero capacity, so the engine's per-project
    delay draws line up and the draws of both runs are identical. The stockpile releases
    start at or after the first announcement, so they do not move the onset from which
    months to recovery are counted.
    """
    st = resolve_store(store)
    sc = Scenario.load(scenario, store=st)
    choices = tuple(plan_or_choices.choices if isinstance(plan_or_choices, PlanResult)
                    else plan_or_choices)
    for c in choices:
        if not isinstance(c, Choice):
            raise InputError(f"a plan's choices must be Choice records, got {type(c).__name__}")
    notes: list[str] = []
    sources: list[str] = list(sc.source_ids)
    shift, factor = 0, 1.0
    if at_year is not None:
        if isinstance(at_year, bool) or not isinstance(at_year, int):
            raise InputError(f"at_year must be a whole year, got {at_year!r}")
        if at_year < sc.start.year:
            raise InputError(f"at_year {at_year} is before the start of scenario {sc.name} "
                             f"({sc.start:%Y-%m}); give {sc.start.year} or later")
        shift = at_year - sc.start.year
        growth = load_defaults(store=st).planning.demand_growth_pct_per_yr
        factor = (1.0 + growth.value / 100.0) ** shift
        moved = shift_scenario(sc, shift)
        sc = moved.model_copy(update={"name": f"{sc.name}@{at_year}"}) if shift else moved
        sources += list(growth.source_ids)
        notes.append(
            f"at_year {at_year}: every date of the scenario moved by {shift} years; the market "
            f"is the {sc.baseline_year} baseline with every flow x {factor:.3f} "
            f"((1 + {growth.value:g}%)^{shift}, the planner's demand growth, "
            f"{', '.join(growth.source_ids)}) - supply and demand of every segment grow alike; "
            "the pipeline and the plan's capacity come on top, so supply outside the "
            "controller is if anything generous in both runs")
    if baseline is None:
        b = cached_baseline(sc.baseline_year, sc.material_list(),
                            resolve_regions(sc, store=st), store=st)
    else:
        b = baseline
    b = grow_baseline(b, factor)
    base_projects = b.projects if sc.pipeline else ()
    b = replace(b, projects=base_projects)
    split = _split_for(b, st)
    mapping = plan_mapping(choices, b, split=split, failure=failure)
    projects = _projects_from(mapping, b, failure)
    rel_all, rel_notes = stockpile_releases(choices, sc, b, split=split,
                                            months=release_months, failure=failure)
    decided_ids = {f"plan:{c.option_id}" for c in choices if c.decided}
    rel_decided = tuple(r for r in rel_all if r.id.rsplit(":", 1)[0] in decided_ids)
    stocks = [c for c in choices if c.kind == "stockpile"]
    if choices and not projects and not rel_all:
        dropped = mapping[~mapping["included"]].drop_duplicates("option_id")
        why = [f"{r.option_id} ({r.reason})" for r in dropped.itertuples()]
        why += [f"{c.option_id} (stockpile not released)" for c in stocks]
        raise InputError("the plan has nothing the engine can represent: dropped "
                         + "; ".join(why))
    without_projects = tuple(
        p if p.project_id in decided_ids else replace(p, capacity=np.zeros_like(p.capacity))
        for p in projects)
    if projects and not sc.pipeline:
        sc = sc.model_copy(update={"pipeline": True})
        notes.append("the scenario has no pipeline: only the plan's projects are added (the "
                     "data's pipeline stays out)")
    sc_without = sc.model_copy(update={"shocks": [*sc.shocks, *rel_decided]})
    sc_with = sc.model_copy(update={"shocks": [*sc.shocks, *rel_all]})
    b_without = replace(b, projects=(*base_projects, *without_projects))
    b_with = replace(b, projects=(*base_projects, *projects))

    state = {"offset": 0, "total": 0}

    def tick(done: int, total: int) -> None:
        if progress is not None:
            state["total"] = total
            progress(state["offset"] + done, 2 * total)

    r0 = simulate(sc_without, draws, seed, progress=tick, baseline=b_without, store=st)
    state["offset"] = state["total"]
    r1 = simulate(sc_with, draws, seed, progress=tick, baseline=b_with, store=st)
    if r0.plan.onset != r1.plan.onset:
        notes.append("the stockpile release moved the onset of the first shock: months to "
                     "recovery are counted from different months in the two runs")
    # notes: mapping rules, drops, sources
    notes.append("p_fail: " + {
        "draw": "each plan project fails (produces nothing) in a draw with its probability, "
                "on its own random stream: the same draws fail in both runs",
        "expected": "each capacity counted as its expected value, capacity x (1 - p_fail), in "
                    "every draw",
        "ignore": "ignored: every capacity counted in full"}[failure])
    notes.append("capacity starts at the choice's online_year; the engine adds its own delay "
                 "and ramp draws (project_delay_probability, project_delay_months, "
                 "project_ramp_months), so the choice's full_year is not used")
    for oid, grp in mapping.groupby("option_id", sort=False):
        first = grp.iloc[0]
        inc = grp[grp["included"]]
        src = str(first["source_ids"]) or "none given"
        if len(inc):
            parts = ", ".join(f"{m} {t:,.0f}" for m, t in
                              zip(inc["engine_material"], inc["engine_t_per_yr"], strict=True))
            notes.append(f"{oid}: {first['counted_t_per_yr']:,.0f} t/yr {first['material']} "
                         f"in {first['segment']} from {first['online_year']:.1f} -> {parts} "
                         f"t/yr ({first['rule']}); sources: {src}")
        for r in grp[~grp["included"]].itertuples():
            notes.append(f"{oid}: dropped - {r.reason}; sources: {src}")
    notes += rel_notes
    for c in choices:
        sources.extend(c.source_ids)
    comparison = _compare(r0, r1, materials)
    bom_table = _bom_table(bom, r0, r1, seed, st) if bom is not None else None
    prov = {"seed": int(seed), "draws": int(draws),
            "scenario_hash_without": sc_without.hash(), "scenario_hash_with": sc_with.hash(),
            **{k: v for k, v in r0.provenance.items()
               if k in ("package_version", "dataset_version", "dataset_hash")}}
    return PlanEvaluation(
        scenario=sc.name, at_year=at_year, shift_years=shift, demand_factor=factor,
        comparison=comparison, mapping=mapping, releases=rel_all, bom=bom_table,
        notes=tuple(dict.fromkeys(notes)), source_ids=tuple(dict.fromkeys(sources)),
        provenance=prov, without=r0, with_plan=r1)
