"""The standard set of supplier-disruption scenarios of the criticality ranking, and their
probabilities.

For each material the engine can simulate, the suppliers are the largest producers at the
material's controlling stage (the most concentrated stage the baseline traces: separation for
the rare-earth elements, magnet for the magnets, refining for Ga and Ge, mine for Sb). Each
supplier gets a grid of disruptions - who is hit (every destination, or the importer alone),
how much of the supplier's exports is lost and for how long - written as engine scenarios
with the importer as the ``targets`` segment.

Probabilities follow one documented rule (``docs/ranking.md``): a supplier's yearly rate of
new export restrictions is the count of restriction events in the ``policies`` table over the
years the table covers, with a Jeffreys prior (half an event) scaled by the supplier's
governance score (``countries.governance_score``: 0 best, 10 worst, 5 the midpoint); the
kind of disruption (all destinations, the importer alone, or someone else) is weighted by its
share among the recorded events; severities and durations are weighted equally (estimates).
Nothing here is fitted to a published ranking.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError
from oreflow.simulate.baseline import Baseline, Regions
from oreflow.simulate.compile import resolve_regions
from oreflow.simulate.run import cached_baseline
from oreflow.simulate.scenario import (
    MATERIALS,
    MINERALS,
    PRODUCTS,
    Scenario,
    ScenarioError,
    expand_materials,
)

__all__ = [
    "BASELINE_YEAR",
    "COVERAGE",
    "DURATIONS",
    "HORIZON_MONTHS",
    "KINDS",
    "MAX_SUPPLIERS",
    "MIN_SHARE",
    "PRIOR_EVENTS",
    "RESTRICTIVE_KINDS",
    "SEVERITIES",
    "START",
    "Importer",
    "ScenarioSet",
    "Supplier",
    "check_materials",
    "controlling_stage",
    "disruption_rates",
    "governance_scores",
    "history_years",
    "importer_baseline",
    "kind_weights",
    "resolve_importer",
    "restriction_events",
    "scenario_for",
    "standard_scenarios",
    "suppliers",
    "world_shares",
]

#: First simulated month of every scenario (the first month after the baseline year).
START = "2025-01"
#: Simulated months: the disruption plus at least a year of recovery after the longest one.
HORIZON_MONTHS = 36
#: Baseline year of the market (the newest complete year of the data).
BASELINE_YEAR = 2024
#: Shares of a supplier's exports lost [fraction], weighted equally (estimate).
SEVERITIES: tuple[float, ...] = (0.25, 0.5, 1.0)
#: Durations of a disruption [months], weighted equally (estimate).
DURATIONS: tuple[int, ...] = (6, 12, 24)
#: Suppliers are taken, largest first, until they cover this share of world output.
COVERAGE = 0.9
#: At most this many suppliers per material.
MAX_SUPPLIERS = 5
#: A supplier below this share of world output at the stage is left out [fraction].
MIN_SHARE = 0.01
#: Prior events of a country with the midpoint governance score (5 of 10): Jeffreys' prior
#: for a Poisson rate (half an event).
PRIOR_EVENTS = 0.5
#: ``policies.kind`` values that restrict a supplier's output or exports.
RESTRICTIVE_KINDS: frozenset[str] = frozenset({
    "export_duty", "export_tax", "quota", "embargo_de_facto", "export_suspension_reported",
    "export_ban", "licence", "production_cap", "disruption_event"})
#: Kinds of disruption: ``all`` (every destination of the supplier), ``targeted`` (the
#: importer alone), ``outage`` (a loss of the supplier's output, where the engine cannot
#: make the supplier a controller: the mineral markets are built around China's exports).
KINDS: tuple[str, ...] = ("all", "targeted", "outage")
#: Residual codes of the data that are no country and so no actor.
_RESIDUAL = re.compile(r"^(OTH|X[A-Z]{2}|ROW|WLD)$")
_STAGE_ORDER = ("mine", "separation", "metal", "magnet")
_DATE = re.compile(r"(\d{4})(?:-(\d{2}))?")
#: The engine's reference controller; the mineral markets accept no other.
_REFERENCE = "CHN"


@dataclass(frozen=True)
class Importer:
    """The importer (a country or a bloc) as the engine resolves it.

    Attributes
    ----------
    name : str
        As given (``USA``, ``EU27``, ``Japan`` …).
    members : tuple of str
        ISO3 members (one for a country).
    codes : tuple of str
        Codes that name the importer in the ``policies`` table's ``target_iso3`` (members and
        the bloc code, ``EUU`` for the EU).
    """

    name: str
    members: tuple[str, ...]
    codes: tuple[str, ...]


@dataclass(frozen=True)
class Supplier:
    """One supplier of one material at its controlling stage."""

    material: str
    country: str
    stage: str
    share: float
    """Share of world output at ``stage`` [0-1]."""


def _dormant(importer: str, material: str, controller: str) -> dict[str, object]:
    """An export restriction that takes effect after the horizon: it acts on nothing and
    only names the importer's segment (the engine forms ``targets`` from restrictions)."""
    return {"kind": "export_restriction", "id": "importer-segment", "controller": controller,
            "materials": [material], "stages": _stages(material), "targets": [importer],
            "effective": "2028-01", "approval_rate": 1.0}


def _stages(material: str) -> list[str]:
    return ["magnet"] if material in PRODUCTS else ["separation", "metal"]


def resolve_importer(importer: str, *, store: Store | None = None) -> Importer:
    """The importer's members, as the engine resolves a restriction's ``targets``.

    Raises
    ------
    oreflow.errors.InputError
        One line, when ``importer`` is neither a country nor a bloc of the store.
    """
    name = str(importer).strip()
    if not name or name.lower() in {"all", "world", "wld", "all destinations"}:
        raise InputError(f"importer {importer!r}: give a country (ISO3 code or name) or a bloc")
    sc = Scenario.model_validate({
        "name": "importer", "start": START, "horizon_months": HORIZON_MONTHS,
        "materials": ["Nd"], "shocks": [_dormant(name, "Nd", _REFERENCE)],
        "controller": _REFERENCE})
    try:
        regions = resolve_regions(sc, store=store)
    except ScenarioError as exc:
        raise InputError(f"importer {name!r}: {str(exc).splitlines()[0]}") from None
    except InputError as exc:
        raise InputError(f"importer {name!r}: {exc.lines()[0]}") from None
    members = tuple(regions.targets)
    if not members:
        raise InputError(f"importer {name!r}: China is the engine's reference controller and "
                         "cannot be the importer segment; give another country or bloc")
    codes = set(members)
    if len(members) > 1:
        codes.add("EUU" if "DEU" in members and "FRA" in members else name.upper())
    return Importer(name=name, members=members, codes=tuple(sorted(codes)))


def check_materials(materials: Sequence[str] | None) -> tuple[str, ...]:
    """The materials expanded (groups, names), in the engine's order; default all.

    Raises
    ------
    oreflow.errors.InputError
        One line naming an unknown material.
    """
    try:
        return expand_materials(list(materials) if materials else list(MATERIALS))
    except ValueError as exc:
        raise InputError(str(exc)) from None


def importer_baseline(importer: Importer, *, store: Store | None = None) -> Baseline:
    """The baseline of every material with the importer as the ``targets`` segment."""
    return cached_baseline(BASELINE_YEAR, MATERIALS,
                           Regions(controller=_REFERENCE, targets=importer.members), store=store)


def world_shares(baseline: Baseline) -> pd.DataFrame:
    """Each country's share of world output per material and stage, from the baseline's
    origin shares (what the engine's outages act on).

    Returns
    -------
    pandas.DataFrame
        Columns ``material``, ``stage``, ``country``, ``share`` [0-1]; rows with a share
        above zero only.
    """
    prod = baseline.production
    world = prod.sum(axis=1)
    rows = []
    for (country, stage), origin in baseline.origin.items():
        out = (np.asarray(origin) * prod).sum(axis=1)
        for i, m in enumerate(baseline.materials):
            if world[i] > 0 and out[i] > 0:
                rows.append({"material": m, "stage": stage, "country": country,
                             "share": float(out[i] / world[i])})
    return pd.DataFrame(rows, columns=["material", "stage", "country", "share"])


def controlling_stage(shares: pd.DataFrame, material: str) -> str | None:
    """The stage of ``material`` with the highest Herfindahl-Hirschman index (the chokepoint);
    ties go to the upstream stage. ``None`` when the data trace no stage of it."""
    sub = shares[shares["material"] == material]
    best: tuple[float, int, str] | None = None
    for stage, grp in sub.groupby("stage"):
        hhi = float((grp["share"] ** 2).sum())
        rank = _STAGE_ORDER.index(str(stage)) if stage in _STAGE_ORDER else len(_STAGE_ORDER)
        key = (-round(hhi, 12), rank, str(stage))
        if best is None or key < best:
            best = key
    return None if best is None else best[2]


def suppliers(shares: pd.DataFrame, material: str, exclude: Sequence[str] = (), *,
              coverage: float = COVERAGE, max_suppliers: int = MAX_SUPPLIERS,
              min_share: float = MIN_SHARE) -> list[Supplier]:
    """The largest producers of ``material`` at its controlling stage, largest first, until
    they cover ``coverage`` of world output (at most ``max_suppliers``, each at least
    ``min_share``); countries in ``exclude`` (the importer) and residual codes are skipped."""
    stage = controlling_stage(shares, material)
    if stage is None:
        return []
    sub = shares[(shares["material"] == material) & (shares["stage"] == stage)]
    sub = sub.sort_values(["share", "country"], ascending=[False, True])
    out: list[Supplier] = []
    covered = 0.0
    for country, share in zip(sub["country"], sub["share"], strict=True):
        if covered >= coverage or len(out) >= max_suppliers:
            break
        covered += float(share)
        if country in exclude or _RESIDUAL.match(str(country)) or share < min_share:
            continue
        out.append(Supplier(material, str(country), stage, float(share)))
    return out


# --------------------------------------------------------------------------------------
# Probabilities
# --------------------------------------------------------------------------------------


def _text(v: object) -> str:
    """A cell as stripped text ("" for a missing value)."""
    return v.strip() if isinstance(v, str) else ""


def _month(text: object) -> tuple[int, int] | None:
    """(year, month) of a ``policies`` date (month 0 when only the year is known)."""
    if not isinstance(text, str):
        return None
    m = _DATE.search(text)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def restriction_events(policies: pd.DataFrame) -> pd.DataFrame:
    """Export-restriction events of the ``policies`` table: one per actor and month.

    A row counts when its ``kind`` is in :data:`RESTRICTIVE_KINDS`, it has one actor
    (``actor_iso3`` a single code), is not flagged ``UNVERIFIED`` and acts on the actor's
    own supply (not on its imports: targets not starting with "imports"). Its date is the
    announcement, else the effective date. Rows of one actor in the same month are one event
    (an omnibus announcement, or two reports of one event); the event reaches every
    destination when any of its rows does (targets ``all …`` or none).

    Returns
    -------
    pandas.DataFrame
        Columns ``actor``, ``year``, ``month`` (0 = unknown), ``scope`` (``all`` or
        ``targeted``), ``targets`` (ISO3 codes ``;``-joined), ``policy_ids``, ``source_ids``.
    """
    scope_of: dict[tuple[str, int, int], str] = {}
    targets_of: dict[tuple[str, int, int], set[str]] = {}
    ids_of: dict[tuple[str, int, int], list[str]] = {}
    sources_of: dict[tuple[str, int, int], list[str]] = {}
    for rec in policies.to_dict("records"):
        if _text(rec.get("kind")) not in RESTRICTIVE_KINDS:
            continue
        actor = _text(rec.get("actor_iso3"))
        if not re.fullmatch(r"[A-Z]{3}", actor):
            continue
        if "UNVERIFIED" in _text(rec.get("flag")).upper():
            continue
        targets = _text(rec.get("targets"))
        if targets.lower().startswith("imports"):
            continue
        when = _month(rec.get("announced")) or _month(rec.get("effective"))
        if when is None:
            continue
        codes = [c.strip() for c in _text(rec.get("target_iso3")).split(";") if c.strip()]
        scope = "all" if (not targets or targets.lower().startswith("all") or not codes) \
            else "targeted"
        key = (actor, when[0], when[1])
        if scope == "all" or key not in scope_of:
            scope_of[key] = scope
        targets_of.setdefault(key, set()).update(codes if scope == "targeted" else [])
        ids_of.setdefault(key, []).append(_text(rec.get("policy_id")))
        sid = _text(rec.get("source_id"))
        sources_of.setdefault(key, []).extend([sid] if sid else [])
    out = [{"actor": k[0], "year": k[1], "month": k[2], "scope": scope_of[k],
            "targets": ";".join(sorted(targets_of[k])) if scope_of[k] == "targeted" else "",
            "policy_ids": ";".join(ids_of[k]),
            "source_ids": ";".join(dict.fromkeys(sources_of[k]))} for k in scope_of]
    cols = ["actor", "year", "month", "scope", "targets", "policy_ids", "source_ids"]
    return pd.DataFrame(out, columns=cols).sort_values(["actor", "year", "month"],
                                                       ignore_index=True)


def history_years(policies: pd.DataFrame, events: pd.DataFrame) -> tuple[int, int]:
    """First and last year of the history: the first event's year and the latest year in
    which the ``policies`` table records anything happening (a row's announcement, else its
    effective date; later effective dates of earlier announcements are plans, not history)."""
    if events.empty:
        raise InputError("the policies table holds no export-restriction event: no rate can "
                         "be estimated")
    first = int(events["year"].min())
    last = first
    for rec in policies.to_dict("records"):
        when = _month(rec.get("announced")) or _month(rec.get("effective"))
        if when is not None:
            last = max(last, when[0])
    return first, last


def disruption_rates(events: pd.DataFrame, countries: Sequence[str],
                     governance: Mapping[str, float], years: float, *,
                     prior_events: float = PRIOR_EVENTS) -> pd.DataFrame:
    """Yearly rate of new export restrictions per supplier country.

    ``rate = (n + a0 · g/5) / T``: ``n`` the country's events, ``T`` the years of history,
    ``a0`` the prior events (Jeffreys: 0.5) and ``g`` the governance score (0-10, higher =
    worse; 5 when missing, flagged). The posterior mean of a Poisson rate under a
    Gamma(a0·g/5, 0) prior: the history decides where it holds events, governance where it
    holds none.

    Parameters
    ----------
    events : pandas.DataFrame
        From :func:`restriction_events`.
    countries : sequence of str
        ISO3 codes of the suppliers.
    governance : mapping of str to float
        Governance score by ISO3 code [0-10].
    years : float
        Years of history ``T`` [yr].

    Returns
    -------
    pandas.DataFrame
        Columns ``country``, ``events``, ``governance_score``, ``governance_missing``,
        ``rate_per_yr``, ``probability_per_yr`` (``1 - exp(-rate)``).

    Examples
    --------
    >>> ev = pd.DataFrame({"actor": ["AAA", "AAA"], "year": [2000, 2010]})
    >>> r = disruption_rates(ev, ["AAA", "BBB"], {"AAA": 5.0, "BBB": 10.0}, 20)
    >>> [round(x, 4) for x in r["rate_per_yr"]]
    [0.125, 0.05]
    """
    if not years > 0:
        raise ValueError("years of history must be positive")
    counts = events["actor"].value_counts() if len(events) else pd.Series(dtype=int)
    rows = []
    for c in countries:
        g = governance.get(c)
        missing = g is None or not math.isfinite(float(g))
        gs = 5.0 if missing else float(g)  # type: ignore[arg-type]
        n = int(counts.get(c, 0))
        rate = (n + prior_events * gs / 5.0) / years
        rows.append({"country": c, "events": n, "governance_score": gs,
                     "governance_missing": missing, "rate_per_yr": rate,
                     "probability_per_yr": -math.expm1(-rate)})
    return pd.DataFrame(rows, columns=["country", "events", "governance_score",
                                       "governance_missing", "rate_per_yr",
                                       "probability_per_yr"])


def kind_weights(events: pd.DataFrame, importer: Importer) -> dict[str, float]:
    """Share of recorded events that reached every destination (``all``), the importer alone
    or with others by name (``targeted``), and someone else (``other``: no direct loss to
    the importer), pooled over all actors.

    Examples
    --------
    >>> ev = pd.DataFrame({"scope": ["all", "all", "targeted", "targeted"],
    ...                    "targets": ["", "", "USA", "JPN"]})
    >>> kind_weights(ev, Importer("USA", ("USA",), ("USA",)))
    {'all': 0.5, 'targeted': 0.25, 'other': 0.25}
    """
    n = len(events)
    if n == 0:
        return {"all": 1.0, "targeted": 0.0, "other": 0.0}
    codes = set(importer.codes)
    n_all = n_tgt = 0
    for scope, targets in zip(events["scope"], events["targets"], strict=True):
        if scope == "all":
            n_all += 1
        elif codes.intersection(str(targets).split(";")):
            n_tgt += 1
    return {"all": n_all / n, "targeted": n_tgt / n, "other": (n - n_all - n_tgt) / n}


def governance_scores(store: Store) -> dict[str, float]:
    """``countries.governance_score`` by ISO3 code (rows without a score left out)."""
    df = store.table("countries")
    vals = pd.to_numeric(df["governance_score"], errors="coerce")
    return {str(c): float(v) for c, v in zip(df["iso3"], vals, strict=True)
            if pd.notna(v)}


# --------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------


def scenario_for(importer: Importer, supplier: Supplier, kind: str, severity: float,
                 duration_months: int) -> Scenario:
    """One engine scenario: ``supplier`` loses ``severity`` of its exports (``all`` or
    ``targeted``) or output (``outage``) of one material for ``duration_months`` from
    :data:`START`, with the importer as the ``targets`` segment."""
    m = supplier.material
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    if not 0 < severity <= 1:
        raise ValueError(f"severity must lie in (0, 1], got {severity}")
    label = f"{m}-{supplier.country}-{kind}-{severity:g}-{duration_months}m"
    controller = _REFERENCE if kind == "outage" else supplier.country
    shocks: list[dict[str, object]] = []
    if kind == "outage":
        shocks.append({"kind": "production_outage", "id": "outage", "country": supplier.country,
                       "stage": supplier.stage, "materials": [m], "share": severity,
                       "start": START, "duration_months": duration_months})
    else:
        shocks.append({"kind": "export_restriction", "id": "restriction",
                       "controller": controller, "materials": [m], "stages": _stages(m),
                       "targets": [importer.name] if kind == "targeted" else ["all"],
                       "effective": START, "duration_months": duration_months,
                       "approval_rate": 1.0 - severity})
    if kind != "targeted":
        shocks.append(_dormant(importer.name, m, controller))
    return Scenario.model_validate({
        "name": f"rank-{label}", "title": f"{supplier.country} cuts {severity:.0%} of its "
        f"{m} {'output' if kind == 'outage' else 'exports'} for {duration_months} months",
        "start": START, "horizon_months": HORIZON_MONTHS, "baseline_year": BASELINE_YEAR,
        "controller": controller, "materials": [m], "shocks": shocks})


def _kinds_for(supplier: Supplier) -> list[str]:
    """Kinds the engine can write for a supplier: the mineral markets take only China as
    controller, so another mineral supplier's disruption is an outage of its output."""
    if supplier.material in MINERALS and supplier.country != _REFERENCE:
        return ["outage"]
    return ["all", "targeted"]


@dataclass(frozen=True)
class ScenarioSet:
    """The standard scenarios of one importer with their probabilities and the inputs of
    the probability rule."""

    importer: Importer
    scenarios: list[tuple[dict[str, object], Scenario]]
    """(key, scenario) pairs; the key holds ``scenario_id`` (``material:supplier:kind:
    severity:months``), ``supplier``, ``supplier_stage``, ``kind``, ``severity``,
    ``duration_months``: no name of a ``Result.summary()`` column, so a runner can add the
    key's columns to the summary rows without overwriting any (a scenario's summary holds
    coupled materials too: the magnets' elements)."""
    probabilities: pd.DataFrame
    """One row per scenario: the key columns, ``material``, ``supplier_share``,
    ``rate_per_yr`` (of the scenario: supplier rate x kind, severity and duration weights)
    [1/yr]."""
    suppliers: list[Supplier]
    rates: pd.DataFrame
    """From :func:`disruption_rates`."""
    kinds: dict[str, float]
    """From :func:`kind_weights`."""
    events: pd.DataFrame
    history: tuple[int, int]
    skipped: dict[str, str]
    """Materials with no scenario, with the reason."""


def standard_scenarios(importer: str | Importer, materials: Sequence[str] | None = None, *,
                       store: Store | None = None) -> ScenarioSet:
    """The standard scenario set of an importer (country or bloc).

    Parameters
    ----------
    importer : str or Importer
        ISO3 code, country name or bloc name.
    materials : sequence of str, optional
        Materials or groups (default: every material the engine simulates).
    store : oreflow.data.store.Store, optional
        Data (default: the embedded data with the user's imports).

    Raises
    ------
    oreflow.errors.InputError
        Unknown importer or material; no restriction event in the policies table.
    """
    st = resolve_store(store)
    imp = importer if isinstance(importer, Importer) else resolve_importer(importer, store=st)
    mats = check_materials(materials)
    base = importer_baseline(imp, store=st)
    shares = world_shares(base)
    policies = st.table("policies")
    events = restriction_events(policies)
    first, last = history_years(policies, events)
    years = float(last - first + 1)
    kinds = kind_weights(events, imp)
    skipped: dict[str, str] = {}
    sups: list[Supplier] = []
    t_idx = 2
    for m in mats:
        i = base.index(m)
        if base.production[i].sum() <= 0:
            skipped[m] = "no output in the baseline: no supplier data"
            continue
        if base.consumption()[i, t_idx] <= 0:
            skipped[m] = (f"no consumption by {imp.name} in the baseline: the data hold no "
                          "figure for its use, so no loss can be computed")
            continue
        found = suppliers(shares, m, exclude=imp.members)
        if not found:
            skipped[m] = f"no supplier outside {imp.name} at the controlling stage"
            continue
        sups.extend(found)
    gov = governance_scores(st)
    rates = disruption_rates(events, sorted({s.country for s in sups}), gov, years)
    rate_of = dict(zip(rates["country"], rates["rate_per_yr"], strict=True))
    w_sev = 1.0 / len(SEVERITIES)
    w_dur = 1.0 / len(DURATIONS)
    pairs: list[tuple[dict[str, object], Scenario]] = []
    prob_rows = []
    for s in sups:
        for kind in _kinds_for(s):
            w_kind = kinds["all"] + kinds["targeted"] if kind == "outage" else kinds[kind]
            if w_kind <= 0:
                continue
            for sev in SEVERITIES:
                for dur in DURATIONS:
                    key: dict[str, object] = {
                        "scenario_id": f"{s.material}:{s.country}:{kind}:{sev:g}:{dur}",
                        "supplier": s.country, "supplier_stage": s.stage, "kind": kind,
                        "severity": sev, "duration_months": dur}
                    pairs.append((key, scenario_for(imp, s, kind, sev, dur)))
                    prob_rows.append({**key, "material": s.material, "supplier_share": s.share,
                                      "rate_per_yr": rate_of[s.country] * w_kind * w_sev
                                      * w_dur})
    probs = pd.DataFrame(prob_rows, columns=[
        "scenario_id", "material", "supplier", "supplier_stage", "kind", "severity",
        "duration_months", "supplier_share", "rate_per_yr"])
    return ScenarioSet(importer=imp, scenarios=pairs, probabilities=probs, suppliers=sups,
                       rates=rates, kinds=kinds, events=events, history=(first, last),
                       skipped=skipped)
