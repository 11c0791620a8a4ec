"""Diversification options: what a planner can decide to build, buy or sign (issue 12).

One concern: turn the data tables and the planning defaults into a flat list of
:class:`Option` records, each with its capacity, cost, lead time, failure risk and the sources
of every number, for the optimisation model (:mod:`oreflow.plan.model`) to choose from.

Kinds of option
---------------
``project``
    A project of the ``projects`` table that is not yet producing at full capacity
    (:func:`project_options`), with a probability of failure and a delay distribution from
    its status (:data:`STATUS_RULES`, the ``status_classes`` of the defaults).
``generic``
    "Build a module of stage *s* in country *c*" (:func:`generic_options`): unit capex,
    lead time, module size and ramp from the defaults (``defaults.yaml``).
``stockpile``
    Buy a strategic stock of a material (:func:`stockpile_options`): tonnes from months of
    cover of a bloc's demand, cost from the ``prices`` table.
``recycling``
    Scrap-to-oxide capacity (:func:`recycling_options`): the recycling rows of ``projects``
    and a generic module per country.
``offtake``
    A price-floor or offtake contract (:func:`offtake_options`): the 2025 US DoD–MP Materials
    NdPr floor, terms only (its effect is not modelled yet).

Units are in the field names: ``_t_per_yr`` [t of ``material`` per year], ``_musd``
[million USD], ``_years``, ``_usd_per_kg``. Every number carries ``source_ids`` (keys of the
``sources`` table) or ``estimate=True`` with its ``method``; ``docs/plan.md`` lists them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError, unknown
from oreflow.plan.defaults import (
    STAGES,
    STATUS_RULES,
    Cited,
    PlanDefaults,
    Probability,
    Span,
    Stage,
    StageDefaults,
    StatusClass,
    Value,
    load_defaults,
    parse_defaults,
)

__all__ = [
    "DEFAULT_YEAR",
    "KINDS",
    "STAGES",
    "STATUS_RULES",
    "UNIT_RULES",
    "Cited",
    "Option",
    "PlanDefaults",
    "Probability",
    "Span",
    "StageDefaults",
    "StatusClass",
    "Value",
    "classify_projects",
    "derive_module_size",
    "derive_unit_capex",
    "generic_options",
    "load_defaults",
    "map_capacity",
    "offtake_options",
    "options_table",
    "parse_defaults",
    "project_options",
    "recycling_options",
    "status_class",
    "stockpile_options",
]

Kind = Literal["project", "generic", "stockpile", "recycling", "offtake"]
#: Kinds of option (see the module docstring).
KINDS: tuple[str, ...] = ("project", "generic", "stockpile", "recycling", "offtake")
#: First year a planner can decide in, by default: the data run to early 2026.
DEFAULT_YEAR: int = 2026


# --------------------------------------------------------------------------------------
# The option record
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One decision the planner can take. Units are in the names; ``None`` means unknown.

    Attributes
    ----------
    option_id : str
        Unique key: ``project:<project_id>``, ``generic:<stage>:<ISO3>``,
        ``stockpile:<material>:<months>m``, ``recycling:<project_id>`` or
        ``recycling:generic:<ISO3>``, ``offtake:<policy_id>``.
    kind : str
        One of :data:`KINDS`.
    name : str
        Human-readable name.
    stage : str
        Chain stage the capacity (or stock) belongs to: one of :data:`STAGES`.
    iso3 : str
        Country of the capacity (``""`` when not tied to one: a stockpile of a bloc).
    material : str
        What the capacity is counted in: ``REO`` (rare-earth oxide content), a separated
        product (``NdPr oxide``, ``Dy+Tb oxide``), a metal (``NdPr metal``) or a magnet
        (``NdFeB``); see :data:`UNIT_RULES`.
    capacity_t_per_yr, capacity_t_per_yr_low, capacity_t_per_yr_high : float or None
        Nameplate capacity [t material/yr] and its range (``None`` for stockpiles and
        offtakes).
    stock_t : float or None
        Tonnes bought (stockpiles only) [t material].
    capex_musd, capex_musd_low, capex_musd_high : float or None
        Total investment [million USD] (for a stockpile: the purchase cost). For projects
        already producing (status class ``ramping``) it is largely spent.
    capex_estimated : bool
        True when ``capex_musd`` is not from the data but unit capex × capacity.
    opex_usd_per_kg : float or None
        Operating cost [USD/kg product] where the data give one.
    holding_cost_pct_per_yr : float or None
        Yearly cost of holding a stock [% of its value per year] (stockpiles only).
    lead_time_years_low, lead_time_years_median, lead_time_years_high : float
        Years from the decision to first output (for a project: from ``earliest_decision_year``
        to its target start, before any delay).
    ramp_years : float
        Years from first output to nameplate capacity.
    earliest_decision_year : int
        First year the option can be decided.
    status : str
        The project's status text from the data (generic options: ``"generic"``).
    status_class : str
        Class of the status (a key of :attr:`PlanDefaults.status_classes`).
    p_fail, p_fail_low, p_fail_high : float
        Probability that the option never produces, with its range.
    delay_years_low, delay_years_median, delay_years_high : float
        Delay beyond ``lead_time_years`` [years] (low / median / high; a triangular
        distribution with the median as mode is the intended reading).
    price_floor_usd_per_kg : float or None
        Guaranteed floor price (offtakes only) [USD/kg].
    term_years : float or None
        Length of an offtake contract [years].
    source_ids : tuple of str
        Keys of the ``sources`` table behind the numbers.
    estimate : bool
        True when any number of the option is an oreflow estimate (see ``method``).
    method : str
        How the estimated numbers were made.
    note : str
        Anything else a reader should know (unit mappings, conflicts, terms).
    """

    option_id: str
    kind: Kind
    name: str
    stage: Stage
    iso3: str
    material: str
    capacity_t_per_yr: float | None
    capacity_t_per_yr_low: float | None
    capacity_t_per_yr_high: float | None
    capex_musd: float | None
    capex_musd_low: float | None
    capex_musd_high: float | None
    capex_estimated: bool
    lead_time_years_low: float
    lead_time_years_median: float
    lead_time_years_high: float
    ramp_years: float
    earliest_decision_year: int
    status: str
    status_class: str
    p_fail: float
    p_fail_low: float
    p_fail_high: float
    delay_years_low: float
    delay_years_median: float
    delay_years_high: float
    source_ids: tuple[str, ...]
    estimate: bool
    method: str
    note: str = ""
    stock_t: float | None = None
    opex_usd_per_kg: float | None = None
    holding_cost_pct_per_yr: float | None = None
    price_floor_usd_per_kg: float | None = None
    term_years: float | None = None
    project_id: str | None = field(default=None)


# --------------------------------------------------------------------------------------
# Status classes and capacity units of the projects table
# --------------------------------------------------------------------------------------



def status_class(text: object) -> str:
    """The status class of a project's status text (see :data:`STATUS_RULES`).

    Examples
    --------
    >>> status_class("under construction (FEED done Dec 2023)")
    'construction'
    >>> status_class(None)
    'listed'
    """
    if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
        return "listed"
    low = str(text).lower()
    for pattern, cls in STATUS_RULES:
        if re.search(pattern, low):
            return cls
    return "unknown"


@dataclass(frozen=True)
class _Capacity:
    stage: Stage
    material: str
    value: float
    low: float
    high: float
    derived: str  # how the number was derived from the row ("" if read as is)


#: Capacity unit (lower case, pattern) → (stage, material, kind of mapping). ``None`` as the
#: stage marks a unit that cannot be mapped to a yearly tonnage of a product: such rows are
#: dropped from the options and listed by :func:`classify_projects` with the reason.
#: Kinds: ``as_is`` (the number is t material/yr), ``grade`` (t concentrate/yr × the TREO
#: grade in the unit), ``over_years`` (a total over N years ÷ N).
UNIT_RULES: tuple[tuple[str, Stage | None, str, str], ...] = (
    (r"concentrate at (\d+(?:\.\d+)?)% treo", "mine", "REO", "grade"),
    (r"over about (\d+) years", "separation", "magnet REO (separated)", "over_years"),
    (r"t_t?reo_per_yr.*(concentrate|mrec)", "mine", "REO", "as_is"),
    (r"ndpr metal", "metal", "NdPr metal", "as_is"),
    (r"ndpr oxide|t_per_yr ndpr\b", "separation", "NdPr oxide", "as_is"),
    (r"dy\+tb", "separation", "Dy+Tb oxide", "as_is"),
    (r"seg/heavy feed|heavy-re feedstock", "separation", "heavy REO", "as_is"),
    (r"light ree separation", "separation", "light REO", "as_is"),
    (r"y oxide", "separation", "Y oxide", "as_is"),
    (r"didymium and dy recovered", "separation", "NdPr+Dy (recycled)", "as_is"),
    (r"ndfeb powder|magnet alloy", "metal", "NdFeB alloy", "as_is"),
    (r"ndfeb|re magnets", "magnet", "NdFeB", "as_is"),
    (r"\bmrec\b", None, "MREC (TREO grade not stated)", "none"),
    (r"concentrate/material", None, "RE concentrate (grade not stated)", "none"),
    (r"t_t?reo_per_yr", "separation", "REO", "as_is"),
)  # fmt: skip


def map_capacity(unit: object, capacity: object, low: object, high: object,
                 stage_text: object = "") -> tuple[_Capacity | None, str]:
    """Map a ``projects`` row's capacity to t product/yr of a stage.

    Returns the mapping (``None`` if the row cannot be mapped) and, for a dropped row, the
    reason. A ``t_REO_per_yr`` row whose stage text starts with ``mine`` is a mine.
    """
    def num(x: object) -> float | None:
        try:
            v = float(x)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        return v if math.isfinite(v) else None

    u = str(unit or "").strip()
    if not u or u.lower() == "nan":
        return None, "no capacity unit"
    v, lo, hi = num(capacity), num(low), num(high)
    if v is None and lo is not None and hi is not None:
        v = (lo + hi) / 2
    if v is None:
        return None, "no capacity"
    if v <= 0:
        return None, "capacity is not a positive finite number"
    if any(x is not None and x <= 0 for x in (lo, hi)):
        return None, "capacity range is not a positive finite number"
    lo = v if lo is None else min(lo, v)
    hi = v if hi is None else max(hi, v)
    lu = u.lower()
    cap, why = _map_unit(u, lu, v, lo, hi, stage_text)
    if cap is not None and not all(math.isfinite(x) and x > 0
                                   for x in (cap.value, cap.low, cap.high)):
        return None, "capacity is not a positive finite number once mapped"
    return cap, why


def _map_unit(u: str, lu: str, v: float, lo: float, hi: float,
              stage_text: object) -> tuple[_Capacity | None, str]:
    for pattern, stage, material, how in UNIT_RULES:
        m = re.search(pattern, lu)
        if not m:
            continue
        if stage is None:
            return None, f"capacity unit '{u}' cannot be mapped to t/yr of a product " \
                         f"({material})"
        if how == "grade":
            f = float(m.group(1)) / 100
            return _Capacity(stage, material, v * f, lo * f, hi * f,
                             f"{v:g} t/yr concentrate × {f:g} TREO grade (from the unit)"), ""
        if how == "over_years":
            n = float(m.group(1))
            if n <= 0:
                return None, f"capacity unit '{u}': a total over {n:g} years is not a " \
                             "finite yearly capacity"
            return _Capacity(stage, material, v / n, lo / n, hi / n,
                             f"{v:g} t over {n:g} years ÷ {n:g}"), ""
        if stage == "separation" and material == "REO" and str(stage_text).lower().startswith(
                "mine"):
            stage = "mine"
        return _Capacity(stage, material, v, lo, hi, ""), ""
    return None, f"capacity unit '{u}' not recognised"


def classify_projects(*, store: Store | None = None,
                      defaults: PlanDefaults | None = None) -> pd.DataFrame:
    """Every ``projects`` row with its status class, mapped capacity and whether it is an
    option (``included``) or why not (``reason``).

    Columns: project_id, status, status_class, pipeline, kind, stage, material,
    capacity_t_per_yr, capacity_derivation, included, reason.
    """
    st = resolve_store(store)
    d = defaults or load_defaults(store=st)
    rows = []
    for r in st.table("projects").to_dict("records"):
        cls = status_class(r.get("status"))
        cap, why = map_capacity(r.get("capacity_unit"), r.get("capacity"),
                                r.get("capacity_low"), r.get("capacity_high"), r.get("stage"))
        kind = "recycling" if str(r.get("stage", "")).lower().startswith("recycling") \
            else "project"
        pipeline = d.status_classes[cls].pipeline
        reason = ""
        if not pipeline:
            reason = f"status class '{cls}': {d.status_classes[cls].description}"
        elif cap is None:
            reason = why
        elif not str(r.get("iso3") or "").strip() or str(r.get("iso3")) == "nan":
            reason = "no country"
        rows.append({
            "project_id": str(r["project_id"]), "status": _text(r.get("status")),
            "status_class": cls, "pipeline": pipeline, "kind": kind,
            "stage": cap.stage if cap else None, "material": cap.material if cap else None,
            "capacity_t_per_yr": cap.value if cap else None,
            "capacity_derivation": cap.derived if cap else "",
            "included": reason == "", "reason": reason,
        })
    return pd.DataFrame(rows)


def _text(x: object) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def _ids(*cells: object) -> tuple[str, ...]:
    out: list[str] = []
    for c in cells:
        for s in re.split(r"[;,]", _text(c)):
            if s.strip() and s.strip() not in out:
                out.append(s.strip())
    return tuple(out)


# --------------------------------------------------------------------------------------
# Derivations from the projects table
# --------------------------------------------------------------------------------------


def derive_unit_capex(*, store: Store | None = None) -> pd.DataFrame:
    """Unit capex by stage from the ``projects`` rows that have both ``capex_musd`` and a
    capacity :func:`map_capacity` can map (any status).

    Notes
    -----
    unit capex [USD per t/yr] = capex_musd × 1e6 / capacity_t_per_yr, per row; the stage's
    value is the median over its rows, the range their minimum and maximum.

    Returns
    -------
    pandas.DataFrame
        One row per stage that has data: stage, n, median, low, high
        [USD per t/yr], project_ids (``;``-joined), source_ids.
    """
    st = resolve_store(store)
    per: dict[str, list[tuple[float, str, str]]] = {}
    for r in st.table("projects").to_dict("records"):
        capex = r.get("capex_musd")
        if capex is None or pd.isna(capex) or float(capex) <= 0:
            continue
        cap, _ = map_capacity(r.get("capacity_unit"), r.get("capacity"),
                              r.get("capacity_low"), r.get("capacity_high"), r.get("stage"))
        if cap is None:
            continue
        per.setdefault(cap.stage, []).append(
            (float(capex) * 1e6 / cap.value, str(r["project_id"]), str(r["source_id"])))
    out = []
    for stage in STAGES:
        if stage not in per:
            continue
        vals = sorted(per[stage])
        s = pd.Series([v for v, _, _ in vals])
        out.append({"stage": stage, "n": len(vals), "median": float(s.median()),
                    "low": float(s.min()), "high": float(s.max()),
                    "project_ids": ";".join(p for _, p, _ in vals),
                    "source_ids": ";".join(dict.fromkeys(x for _, _, x in vals))})
    return pd.DataFrame(out)


def derive_module_size(*, store: Store | None = None) -> pd.DataFrame:
    """Median mapped capacity [t/yr] of the ``projects`` pipeline rows of each stage
    (status classes that are options), with minimum and maximum: the generic module size.

    Returns
    -------
    pandas.DataFrame
        stage, n, median, low, high, project_ids.
    """
    c = classify_projects(store=store)
    c = c[c["included"] & (c["kind"] == "project")]
    out = []
    for stage in STAGES:
        rows = c[c["stage"] == stage]
        if rows.empty:
            continue
        s = rows["capacity_t_per_yr"].astype(float)
        out.append({"stage": stage, "n": len(rows), "median": float(s.median()),
                    "low": float(s.min()), "high": float(s.max()),
                    "project_ids": ";".join(sorted(rows["project_id"]))})
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------


def _status_fields(d: PlanDefaults, cls: str) -> dict[str, Any]:
    sc = d.status_classes[cls]
    return {"status_class": cls, "p_fail": sc.p_fail.value, "p_fail_low": sc.p_fail.low,
            "p_fail_high": sc.p_fail.high, "delay_years_low": sc.delay_years.low,
            "delay_years_median": sc.delay_years.median,
            "delay_years_high": sc.delay_years.high}


def _cited_ids(*items: Cited) -> list[str]:
    return [s for c in items for s in c.source_ids]


def _methods(named: Iterable[tuple[str, Cited]]) -> list[str]:
    return [f"{name}: {c.method}" for name, c in named if c.estimate]


def _capex_from_unit(unit: Value, capacity: float) -> tuple[float, float, float]:
    lo, mid, hi = unit.span()
    return lo * capacity / 1e6, mid * capacity / 1e6, hi * capacity / 1e6


def _start_year(x: object) -> int | None:
    m = re.match(r"^\s*(\d{4})", _text(x))
    return int(m.group(1)) if m else None


def _opex(text: object) -> float | None:
    """An opex [USD/kg] stated in a capex text ('opex USD 33.86/kg')."""
    m = re.search(r"opex usd ([\d.]+)/kg", _text(text).lower())
    return float(m.group(1)) if m else None


def project_options(*, store: Store | None = None, defaults: PlanDefaults | None = None,
                    year: int = DEFAULT_YEAR) -> list[Option]:
    """Options from the project pipeline: ``projects`` rows not yet at full capacity.

    A row is an option when its status class is a pipeline class (``defaults.status_classes``
    with ``pipeline: true``: ramping, construction, committed, study, announced, stalled,
    unknown), its capacity unit maps to t/yr of a product (:data:`UNIT_RULES`), it has a
    country, and its stage is not recycling (those are :func:`recycling_options`).
    :func:`classify_projects` lists every row with the reason it is left out.

    Parameters
    ----------
    store : oreflow.data.store.Store, optional
        Data (default: the embedded tables plus user imports).
    defaults : PlanDefaults, optional
        Planning defaults (default: :func:`load_defaults`).
    year : int
        The planning year: the earliest decision year, and the year lead times count from.

    Notes
    -----
    Lead time: zero for a project already producing (status class ``ramping``); else years
    from ``year`` to the row's ``start_year`` (the announced first output; zero when it has
    passed) when the row gives one, else the stage default (estimate).
    Capex: ``capex_musd`` of the row, else the stage's unit capex × capacity
    (``capex_estimated``). Failure and delay: the row's status class.
    """
    return _pipeline(store, defaults, year, "project")


def _pipeline(store: Store | None, defaults: PlanDefaults | None, year: int,
              kind: Kind) -> list[Option]:
    st = resolve_store(store)
    d = defaults or load_defaults(store=st)
    cls = classify_projects(store=st, defaults=d).set_index("project_id")
    out: list[Option] = []
    for r in st.table("projects").to_dict("records"):
        pid = str(r["project_id"])
        c = cls.loc[pid]
        if not bool(c["included"]) or c["kind"] != kind:
            continue
        cap, _ = map_capacity(r.get("capacity_unit"), r.get("capacity"),
                              r.get("capacity_low"), r.get("capacity_high"), r.get("stage"))
        if cap is None:  # never for an included row; keeps the type checker informed
            continue
        sd = d.stages[cap.stage]
        estimates: list[str] = []
        notes: list[str] = []
        if cap.derived:
            estimates.append(f"capacity {cap.value:g} t/yr {cap.material} = {cap.derived}")
        ids = list(_ids(r.get("source_id"), r.get("other_source_ids")))
        capex = r.get("capex_musd")
        if capex is not None and pd.notna(capex) and float(capex) > 0:
            cx = (float(capex), float(capex), float(capex))
            cx_est = False
        else:
            cx = _capex_from_unit(sd.unit_capex_usd_per_t_per_yr, cap.value)
            cx_est = True
            estimates.append(f"capex = {cap.stage} unit capex "
                             f"{sd.unit_capex_usd_per_t_per_yr.value:,.0f} USD per t/yr × "
                             f"{cap.value:g} t/yr (no capex_musd in the data"
                             + (f"; capex text: {_text(r.get('capex_text'))}"
                                if _text(r.get("capex_text")) else "") + ")")
            ids += _cited_ids(sd.unit_capex_usd_per_t_per_yr)
        sy = _start_year(r.get("start_year"))
        sclass = str(c["status_class"])
        if sclass == "ramping":
            lt = (0.0, 0.0, 0.0)
            notes.append("already producing: no lead time, ramp and delay only")
        elif sy is not None:
            lead = float(max(sy - year, 0))
            lt = (lead, lead, lead)
            notes.append(f"announced start {sy}")
        else:
            span = sd.project_lead_time_years or sd.lead_time_years
            lt = (span.low, span.median, span.high)
            estimates.append(f"no start year: {cap.stage} project lead time "
                             f"({span.method or 'sourced'})")
            ids += _cited_ids(span)
        sc = d.status_classes[sclass]
        ids += _cited_ids(sd.ramp_years, sc.p_fail, sc.delay_years)
        estimates += _methods([("ramp", sd.ramp_years), ("p_fail", sc.p_fail),
                               ("delay", sc.delay_years)])
        flag = _text(r.get("flag"))
        if flag:
            notes.append(f"data flag: {flag}")
        if _text(r.get("capacity_qualifier")):
            notes.append(f"capacity qualifier '{r['capacity_qualifier']}'")
        oid = f"{'recycling' if kind == 'recycling' else 'project'}:{pid}"
        out.append(Option(
            option_id=oid, kind=kind, name=_text(r.get("name")), stage=cap.stage,
            iso3=_text(r.get("iso3")), material=cap.material,
            capacity_t_per_yr=cap.value, capacity_t_per_yr_low=cap.low,
            capacity_t_per_yr_high=cap.high, capex_musd=cx[1], capex_musd_low=cx[0],
            capex_musd_high=cx[2], capex_estimated=cx_est,
            opex_usd_per_kg=_opex(r.get("capex_text")),
            lead_time_years_low=lt[0], lead_time_years_median=lt[1], lead_time_years_high=lt[2],
            ramp_years=sd.ramp_years.value, earliest_decision_year=year,
            status=_text(r.get("status")), **_status_fields(d, sclass),
            source_ids=tuple(dict.fromkeys(ids)), estimate=bool(estimates),
            method="; ".join(estimates), note="; ".join(notes), project_id=pid,
        ))
    return out


def _lead_factor(st: Store, d: PlanDefaults, iso3: str) -> tuple[float, list[str], str]:
    """Country factor of mine lead times: country value / study average (``jurisdiction``)."""
    lt = st.table("lead_times").set_index("lead_id")
    j = d.jurisdiction
    if j.reference_lead_id not in lt.index:
        return 1.0, [], ""
    rows: dict[str, dict[str, Any]] = {
        str(k): {str(c): x for c, x in v.items()} for k, v in lt.to_dict("index").items()}
    ref = rows[j.reference_lead_id]
    for lid in j.lead_ids:
        row = rows.get(lid)
        if row is not None and str(row["iso3"]) == iso3 and pd.notna(row["value"]):
            v = float(row["value"])
            f = v / float(ref["value"])
            return f, [str(row["source_id"]), str(ref["source_id"])], (
                f"lead time × {f:.3f} = {iso3} mine development time {v:g} years ({lid}) / "
                f"study average {float(ref['value']):g} years ({j.reference_lead_id})")
    return 1.0, [], ""


def generic_options(stages: Sequence[str], countries: Sequence[str], *,
                    store: Store | None = None, defaults: PlanDefaults | None = None,
                    year: int = DEFAULT_YEAR) -> list[Option]:
    """"Build one module of stage *s* in country *c*", for every stage × country.

    Parameters
    ----------
    stages : sequence of str
        Stages (:data:`STAGES`).
    countries : sequence of str
        ISO3 codes.
    store, defaults, year
        As in :func:`project_options`.

    Notes
    -----
    capacity = module size; capex [M USD] = unit capex [USD per t/yr] × module [t/yr] / 1e6
    (low/high from the unit capex range); lead time = stage default, for the stages listed
    in ``jurisdiction.stages`` × the country's factor when the ``lead_times`` study has the
    country; failure and delay from status class ``generic_status``.

    Raises
    ------
    oreflow.errors.InputError
        An unknown stage.
    """
    st = resolve_store(store)
    d = defaults or load_defaults(store=st)
    out: list[Option] = []
    for s in stages:
        if s not in STAGES:
            raise unknown("stage", s, STAGES)
    for s in stages:
        sd = d.stages[s]  # type: ignore[index]
        for iso in countries:
            iso = iso.upper()
            f, fids, fnote = (_lead_factor(st, d, iso) if s in d.jurisdiction.stages
                              else (1.0, [], ""))
            cap = sd.module_t_per_yr.span()
            cx = _capex_from_unit(sd.unit_capex_usd_per_t_per_yr, cap[1])
            sc = d.status_classes[d.generic_status]
            named = [("unit capex", sd.unit_capex_usd_per_t_per_yr),
                     ("lead time", sd.lead_time_years), ("module", sd.module_t_per_yr),
                     ("ramp", sd.ramp_years), ("p_fail", sc.p_fail),
                     ("delay", sc.delay_years)]
            methods = _methods(named) + ([fnote] if fnote else [])
            ids = _cited_ids(*(c for _, c in named)) + fids
            out.append(Option(
                option_id=f"generic:{s}:{iso}", kind="generic",
                name=f"new {s} module in {iso}", stage=s, iso3=iso,  # type: ignore[arg-type]
                material=sd.material, capacity_t_per_yr=cap[1], capacity_t_per_yr_low=cap[0],
                capacity_t_per_yr_high=cap[2], capex_musd=cx[1], capex_musd_low=cx[0],
                capex_musd_high=cx[2], capex_estimated=True,
                lead_time_years_low=sd.lead_time_years.low * f,
                lead_time_years_median=sd.lead_time_years.median * f,
                lead_time_years_high=sd.lead_time_years.high * f,
                ramp_years=sd.ramp_years.value, earliest_decision_year=year,
                status="generic", **_status_fields(d, d.generic_status),
                source_ids=tuple(dict.fromkeys(ids)), estimate=True,
                method="; ".join(methods) or "capex = unit capex × module size",
                note=f"capacity in t {sd.material}/yr",
            ))
    return out


def _price(st: Store, material: str, year: int) -> tuple[float, str, str] | None:
    """The latest China FOB oxide price [USD/kg] of ``material`` dated ``year`` or before:
    (price, source_id, what)."""
    p = st.table("prices")
    p = p[(p["material"] == material) & (p["unit"] == "usd_per_kg") & p["value"].notna()
          & p["product"].astype(str).str.contains("oxide")
          & ~p["product"].astype(str).str.contains("realised")]
    y = pd.to_numeric(p["date"].astype(str).str.extract(r"^(\d{4})")[0], errors="coerce")
    p = p.assign(_y=y)[y <= year]
    if p.empty:
        return None
    fob = p[p["market"].astype(str).str.startswith("china_fob")
            & (p["period_type"] == "annual_avg")]
    pick = fob if not fob.empty else p
    pick = pick[pick["_y"] == pick["_y"].max()].sort_values("source_id", ascending=False)
    r = pick.iloc[0]
    return (float(r["value"]), str(r["source_id"]),
            f"{r['product']} {r['market']} {r['period_type']} {r['date']}")


def stockpile_options(materials: Sequence[str], *, demand_t_per_yr: Mapping[str, float],
                      bloc: str = "", months_of_cover: Sequence[float] | None = None,
                      store: Store | None = None, defaults: PlanDefaults | None = None,
                      year: int = DEFAULT_YEAR) -> list[Option]:
    """Strategic stockpiles: ``months`` of a bloc's demand of each material.

    Parameters
    ----------
    materials : sequence of str
        Price-table materials (``NdPr``, ``Dy``, ``Tb``, ``Nd``, ``Pr`` ...), stocked as oxide.
    demand_t_per_yr : mapping of str to float
        The bloc's demand of each material [t oxide/yr], from the caller (e.g. a baseline);
        not read from the data here, so the planner and the stock agree on one demand.
    bloc : str
        Name of the bloc (for ids and names).
    months_of_cover : sequence of float, optional
        Stock sizes [months of demand] (default ``defaults.stockpile.months_of_cover``).
    store, defaults, year
        As in :func:`project_options`; the price is the latest dated ``year`` or before.

    Notes
    -----
    stock_t = demand_t_per_yr × months / 12; capex [M USD] = stock_t × 1000 × price [USD/kg]
    / 1e6. A material without a price gets ``capex_musd=None`` and a note.

    Raises
    ------
    oreflow.errors.InputError
        A material with no demand given, or a demand that is not positive and finite.
    """
    st = resolve_store(store)
    d = defaults or load_defaults(store=st)
    sp = d.stockpile
    months = list(months_of_cover) if months_of_cover is not None else sp.months_of_cover
    out: list[Option] = []
    for m in materials:
        if m not in demand_t_per_yr:
            raise InputError(f"stockpile of '{m}': no demand given for it")
        dem = float(demand_t_per_yr[m])
        if not math.isfinite(dem) or dem <= 0:
            raise InputError(f"stockpile of '{m}': demand must be a positive number of "
                             f"t/yr (got {dem:g})")
        price = _price(st, m, year)
        for mo in months:
            if not math.isfinite(mo) or mo <= 0:
                raise InputError(f"stockpile of '{m}': months of cover must be positive "
                                 f"(got {mo:g})")
            tonnes = dem * mo / 12
            cost = None if price is None else tonnes * 1000 * price[0] / 1e6
            named = [("holding cost", sp.holding_cost_pct_per_yr),
                     ("lead time", sp.lead_time_years)]
            ids = _cited_ids(*(c for _, c in named))
            if months_of_cover is None:
                ids += sp.months_source.source_ids
            note = (f"price {price[0]:g} USD/kg ({price[2]}, {price[1]})" if price
                    else f"no USD/kg oxide price of {m} in the prices table: cost unknown")
            if price:
                ids.append(price[1])
            out.append(Option(
                option_id=f"stockpile:{m}:{mo:g}m" + (f":{bloc}" if bloc else ""),
                kind="stockpile", name=f"{mo:g}-month stock of {m} oxide"
                + (f" for {bloc}" if bloc else ""), stage="separation", iso3="",
                material=f"{m} oxide", capacity_t_per_yr=None, capacity_t_per_yr_low=None,
                capacity_t_per_yr_high=None, capex_musd=cost, capex_musd_low=cost,
                capex_musd_high=cost, capex_estimated=False,
                lead_time_years_low=sp.lead_time_years.low,
                lead_time_years_median=sp.lead_time_years.median,
                lead_time_years_high=sp.lead_time_years.high, ramp_years=0.0,
                earliest_decision_year=year, status="stockpile", status_class="stockpile",
                p_fail=0.0, p_fail_low=0.0, p_fail_high=0.0, delay_years_low=0.0,
                delay_years_median=0.0, delay_years_high=0.0,
                source_ids=tuple(dict.fromkeys(ids)), estimate=True,
                method="; ".join(_methods(named))
                + f"; stock = {dem:g} t/yr demand (given) × {mo:g}/12",
                note=note + "; p_fail 0: a purchase of material in the market",
                stock_t=tonnes, holding_cost_pct_per_yr=sp.holding_cost_pct_per_yr.value,
            ))
    return out


def recycling_options(countries: Sequence[str] = (), *, store: Store | None = None,
                      defaults: PlanDefaults | None = None,
                      year: int = DEFAULT_YEAR) -> list[Option]:
    """Recycling capacity: the recycling rows of ``projects`` that are options, plus one
    generic scrap-to-oxide module per country in ``countries``.

    The generic module's numbers are ``defaults.recycling`` (estimates: no recycling plant in
    the data has both capex and capacity). Its note gives the scale of scrap-based oxide
    output from the ``recycling`` table (the latest year not marked an estimate).
    """
    st = resolve_store(store)
    d = defaults or load_defaults(store=st)
    out = _pipeline(st, d, year, "recycling")
    rc = d.recycling
    rec = st.table("recycling")
    rec = rec[(rec["material"] == "REO") & ~rec["estimate"].fillna(False).astype(bool)]
    scale = ""
    scale_ids: list[str] = []
    if not rec.empty:
        r = rec.sort_values("year").iloc[-1]
        scale = (f"scale: {r['iso3']} made {float(r['tonnes']):,.0f} t REO from "
                 f"{r['feed']} in {r['year']} ({r['source_id']})")
        scale_ids = [str(r["source_id"])]
    sc = d.status_classes[d.generic_status]
    for iso in countries:
        iso = iso.upper()
        cap = rc.module_t_per_yr.span()
        cx = _capex_from_unit(rc.unit_capex_usd_per_t_per_yr, cap[1])
        named = [("unit capex", rc.unit_capex_usd_per_t_per_yr),
                 ("lead time", rc.lead_time_years), ("module", rc.module_t_per_yr),
                 ("ramp", rc.ramp_years), ("p_fail", sc.p_fail), ("delay", sc.delay_years)]
        out.append(Option(
            option_id=f"recycling:generic:{iso}", kind="recycling",
            name=f"new recycling module in {iso}", stage=rc.stage, iso3=iso,
            material=rc.material, capacity_t_per_yr=cap[1], capacity_t_per_yr_low=cap[0],
            capacity_t_per_yr_high=cap[2], capex_musd=cx[1], capex_musd_low=cx[0],
            capex_musd_high=cx[2], capex_estimated=True,
            lead_time_years_low=rc.lead_time_years.low,
            lead_time_years_median=rc.lead_time_years.median,
            lead_time_years_high=rc.lead_time_years.high, ramp_years=rc.ramp_years.value,
            earliest_decision_year=year, status="generic",
            **_status_fields(d, d.generic_status),
            source_ids=tuple(dict.fromkeys(_cited_ids(*(c for _, c in named)) + scale_ids)),
            estimate=True, method="; ".join(_methods(named)),
            note=scale,
        ))
    return out


def offtake_options(*, store: Store | None = None, year: int = DEFAULT_YEAR,
                    policy_ids: Sequence[str] = ("us_2025_dod_mp_partnership",)
                    ) -> list[Option]:
    """Price-floor and offtake contracts from the ``policies`` table, as terms only.

    The 2025 US DoD–MP Materials partnership (policy ``us_2025_dod_mp_partnership``): a
    10-year NdPr oxide price floor of USD 110/kg. The floor price and the term are read from
    the policy's ``detail`` text (``USD <n>/kg``, ``<n>-year ... price floor``); a policy not
    in the table, or whose text gives no floor, yields no option. Capacity and cost are
    ``None``: the effect of a floor is not modelled yet.
    """
    st = resolve_store(store)
    pol = st.table("policies").set_index("policy_id")
    out: list[Option] = []
    for pid in policy_ids:
        if pid not in pol.index:
            continue
        r = pol.loc[pid]
        detail = _text(r["detail"])
        m = re.search(r"(\d+)-year ndpr price floor of usd (\d+(?:\.\d+)?)/kg", detail.lower())
        if not m:
            continue
        term, floor = float(m.group(1)), float(m.group(2))
        eff = _start_year(r.get("effective")) or year
        out.append(Option(
            option_id=f"offtake:{pid}", kind="offtake",
            name=f"{_text(r['actor'])}: NdPr price floor", stage="separation",
            iso3=_text(r.get("actor_iso3")), material="NdPr oxide", capacity_t_per_yr=None,
            capacity_t_per_yr_low=None, capacity_t_per_yr_high=None, capex_musd=None,
            capex_musd_low=None, capex_musd_high=None, capex_estimated=False,
            lead_time_years_low=0.0, lead_time_years_median=0.0, lead_time_years_high=0.0,
            ramp_years=0.0, earliest_decision_year=eff, status="in force",
            status_class="contract", p_fail=0.0, p_fail_low=0.0, p_fail_high=0.0,
            delay_years_low=0.0, delay_years_median=0.0, delay_years_high=0.0,
            source_ids=_ids(r.get("source_id"), r.get("other_source_ids")), estimate=False,
            method="", note=detail, price_floor_usd_per_kg=floor, term_years=term,
        ))
    return out


#: Columns of :func:`options_table`, in order (the field names of :class:`Option`).
_COLUMNS: tuple[str, ...] = tuple(Option.__dataclass_fields__)


def options_table(options: Iterable[Option]) -> pd.DataFrame:
    """One row per option; the columns are the :class:`Option` fields (units in the names),
    ``source_ids`` joined with ``;``.

    Examples
    --------
    >>> t = options_table(generic_options(["magnet"], ["USA"]))
    >>> t.loc[0, "option_id"], t.loc[0, "capacity_t_per_yr"] > 0
    ('generic:magnet:USA', np.True_)
    """
    rows = []
    for o in options:
        row = asdict(o)
        row["source_ids"] = ";".join(o.source_ids)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(_COLUMNS))
