"""Orchestration of the supply-chain questions users ask, on the embedded or user data.

Each function builds the :class:`~oreflow.chain.SupplyChain` it needs from the store and
returns tidy pandas objects plus the ``source_id`` list behind them, so that the CLI, the
REST API and notebooks show the same numbers with the same provenance. No modelling lives
here: the science is in :mod:`oreflow.chain.network`, :mod:`oreflow.chain.indicators` and
:mod:`oreflow.chain.metrics`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from oreflow.answer import Answer
from oreflow.chain import metrics
from oreflow.chain.history import (
    chain_year_check,
    coverage,
    coverage_text,
    stage_year_check,
)
from oreflow.chain.lookup import bloc_table, country_code, data_material, material_code, region_code
from oreflow.chain.names import DEFAULT_YEAR, RARE_EARTHS, RESIDUAL_CODES, STAGES
from oreflow.chain.network import SupplyChain
from oreflow.chain.tables import cited_sources
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError, Problem, ValidationError, unknown

__all__ = [
    "CHAIN_MATERIALS",
    "bloc_balance",
    "bloc_summary",
    "build_chain",
    "chain_sources",
    "concentration",
    "load_blocs",
    "mineral_shares",
    "mineral_stage_shares",
    "overview",
    "supply_risk",
    "trace",
]

#: Elements shown in the overview: the magnet rare earths.
OVERVIEW_ELEMENTS = ("Nd", "Pr", "Dy", "Tb")
#: Blocs summarised when no bloc is named.
DEFAULT_BLOCS = ("MSP", "G7", "QUAD", "EU27")


#: Materials with a full mine → magnet chain: total REO and the 17 rare earths.
CHAIN_MATERIALS = ("REO", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho",
                   "Er", "Tm", "Yb", "Lu", "Sc", "Y")


def _check_material(material: str, store: Store) -> str:
    """The ``materials`` code that ``material`` (a code or name, any case) stands for."""
    return data_material(material, store=store)


def build_chain(material: str = "REO", year: int = DEFAULT_YEAR, *, store: Store | None = None,
                vintage: str | None = None) -> SupplyChain:
    """The mine → magnet chain of ``material`` (``REO`` or a rare-earth symbol) for ``year``.

    Unknown materials get a did-you-mean error; other minerals (Ga, W, graphite …) have
    stage totals only, which :func:`concentration` handles without a chain.

    The year must give the mine stage a country split (the rule of
    :mod:`oreflow.chain.history`); otherwise the error lists the years the data cover, stage
    by stage. Later stages without a country split in the year (a world total only, or one
    producer named and no world total) are left out of the chain;
    :func:`_estimate_notes` says so.
    """

    st = resolve_store(store)
    material = _check_material(material, st)
    if material not in CHAIN_MATERIALS:
        raise InputError(f"{material} has no mine-to-magnet chain in the data (only "
                         f"REO and rare-earth elements do); try: oreflow concentration "
                         f"--material {material}")
    leave_out = chain_year_check(material, year, store=st).leave_out
    if not leave_out:
        return SupplyChain.from_default_data(year=year, material=material, store=st,
                                             vintage=vintage)
    return _chain_without(st, material, year, leave_out, vintage)


def _chain_without(st: Store, material: str, year: int, stages: Sequence[str],
                   vintage: str | None) -> SupplyChain:
    """:meth:`SupplyChain.from_default_data` without the ``stages`` rows of ``year``."""
    so = st.table("stage_output")
    so = so[~(so["year"].eq(year).fillna(False) & so["stage"].isin(list(stages)))]
    return SupplyChain.from_default_data(year, material, vintage=vintage, store=st,
                                         stage_output=so)


def mineral_shares(material: str, year: int = DEFAULT_YEAR, *,
                   store: Store | None = None) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Country shares per stage of a mineral with stage totals only.

    Per stage, one edition: the newest vintage that publishes a world total (``WLD``) for
    the stage, with its own country rows (so a country dropped by a newer edition is not
    carried over from an older one). A stage without any world total uses the newest row of
    each country, and its shares are of the named producers only. Where the world total is
    larger than the named countries, the remainder is one residual producer ``ROW`` (so HHI
    and CR-n are upper bounds). :func:`mineral_stage_shares` also returns notes saying which
    data each stage rests on.

    Returns
    -------
    (shares, totals, sources, notes)
        Stages × countries [-], world total per stage [t/yr], source ids, notes.
    """
    shares, totals, sources, _ = mineral_stage_shares(material, year, store=store)
    return shares, totals, sources


def mineral_stage_shares(material: str, year: int = DEFAULT_YEAR, *, store: Store | None = None,
                         ) -> tuple[pd.DataFrame, pd.Series, list[str], list[str]]:
    """:func:`mineral_shares` plus notes on the data behind each stage (editions used,
    missing world totals, tonnages left out)."""
    st = resolve_store(store)
    material = _check_material(material, st)
    so = st.table("stage_output")
    rows = so[(so["material"] == material) & (so["year"] == year)
              & (so["basis"] == "production")]
    if rows.empty:
        raise InputError(f"no {material} output in the data for {year}; "
                         f"{_coverage_hint(material, st)}")
    rank = st.vintage_rank()
    out: dict[str, pd.Series] = {}
    totals: dict[str, float] = {}
    used: list[pd.DataFrame] = []
    notes: list[str] = []
    order = {s: i for i, s in enumerate(STAGES)}
    for stage in sorted(rows["stage"].unique(), key=lambda s: (order.get(str(s), 99), str(s))):
        stage = str(stage)
        grp = rows[rows["stage"] == stage]
        grp = grp.assign(_rank=grp["vintage"].map(rank).fillna(-1.0))
        world_rows = grp[grp["iso3"] == "WLD"]
        if not world_rows.empty:
            vintage = str(world_rows.sort_values("_rank")["vintage"].iloc[-1])
            pick = grp[grp["vintage"] == vintage]
            others = sorted(set(grp["vintage"].astype(str)) - {vintage})
            if others:
                notes.append(f"{stage}: edition {vintage} (newest with a world total); "
                             f"also in the data: {', '.join(others)}")
        else:
            pick = grp.sort_values("_rank", kind="stable").drop_duplicates("iso3", keep="last")
        pick = pick.drop(columns="_rank")
        blank = pick[pick["tonnes"].isna()]
        if not blank.empty:
            notes.append(f"{stage}: {', '.join(blank['iso3'].astype(str))} left out "
                         "(no single tonnage: a range or a withheld figure)")
        known = pick[pick["tonnes"].notna()]
        by = known.set_index("iso3")["tonnes"].astype(float)
        world = float(by.pop("WLD")) if "WLD" in by.index else None
        named = float(by.sum())
        if world is None:
            if named <= 0:
                notes.append(f"{stage}: no world total and no named output in {year}; "
                             "stage left out")
                continue
            listed = ", ".join(
                f"{iso} {t:,.0f} t ({v})" for iso, t, v in zip(
                    known["iso3"].astype(str), known["tonnes"].astype(float),
                    known["vintage"].astype(str), strict=True))
            notes.append(f"{stage}: no world total in the data, so shares are of the named "
                         f"producers only ({listed}), not of world output"
                         + _published_shares(st, material, year, stage))
            world = named
        elif by.empty:
            notes.append(f"{stage}: world total only ({world:,.0f} t, {pick['vintage'].iloc[0]}),"
                         " no country split; stage left out")
            continue
        elif named > world:
            notes.append(f"{stage}: the named producers ({named:,.0f} t) exceed the rounded "
                         f"world total ({world:,.0f} t); shares are of their sum")
            world = named
        elif world > named:
            by["ROW"] = world - named
        if world <= 0:
            notes.append(f"{stage}: world total is zero; stage left out")
            continue
        out[stage] = by / world
        totals[stage] = world
        used.append(known)
    if not out:
        raise InputError(f"no country split of {material} output for {year}: "
                         + "; ".join(notes) + f"; {_coverage_hint(material, st)}")
    shares = pd.DataFrame(out).T.fillna(0.0)
    shares.index.name = "stage"
    return (shares, pd.Series(totals, name="total"), cited_sources(pd.concat(used)), notes)


def _coverage_hint(material: str, st: Store) -> str:
    """'the data cover X: mine: world total …, country split …; …' (one line)."""
    return (f"the data cover {material}: {coverage_text(coverage(material, store=st))}; "
            f"oreflow history --material {material} --stage STAGE shows the years")


def _published_shares(st: Store, material: str, year: int, stage: str) -> str:
    """' ; published shares: …' from stage_shares for one material, year and stage."""
    ss = st.table("stage_shares")
    hit = ss[(ss["material"] == material) & (ss["year"].astype(str) == str(year))
             & (ss["stage"] == stage) & ss["share"].notna()]
    if hit.empty:
        return ""
    parts = [f"{iso} {q + ' ' if isinstance(q, str) else ''}{sh:.2f} ({sid})"
             for iso, q, sh, sid in zip(hit["iso3"].astype(str), hit["qualifier"],
                                        hit["share"].astype(float), hit["source_id"].astype(str),
                                        strict=True)]
    return "; published shares for comparison: " + ", ".join(parts)


def chain_sources(chain: SupplyChain) -> dict[str, list[str]]:
    """Sources behind a chain, by the part they feed (stage, flows, composition, recipes).

    The ore composition only matters for element-resolved chains, so it is left out of a
    chain of total REO.
    """
    used: dict[str, list[str]] = dict(chain.meta.get("sources", {}))
    if chain.material in {"REO"} or "parent_material" not in chain.meta:
        used.pop("composition", None)
    return used


def _chain_sources(chain: SupplyChain) -> list[str]:
    return sorted({i for ids in chain_sources(chain).values() for i in ids})


def concentration(material: str = "REO", year: int = DEFAULT_YEAR, *, stage: str | None = None,
                  store: Store | None = None) -> Answer:
    """Concentration per stage: total, top producer, CR1, CR3, HHI, WGI-weighted HHI.

    Returns an :class:`Answer` with tables ``concentration`` (one row per stage) and
    ``shares`` (country shares per stage, wide).
    """
    material = _check_material(material, resolve_store(store))
    if stage is not None and material in CHAIN_MATERIALS:  # a stage the year lacks: why
        stage_year_check(material, year, stage, store=store)
    if material not in CHAIN_MATERIALS:
        return _mineral_concentration(material, year, stage=stage, store=store)
    chain = build_chain(material, year, store=store)
    table = chain.concentration_table()
    shares = chain.shares().rename_axis("stage")
    if stage is not None:
        if stage not in table.index:
            raise unknown("stage", stage, table.index)
        table, shares = table.loc[[stage]], shares.loc[[stage]]
    notes = _estimate_notes(chain, store)
    return Answer({"concentration": table.reset_index(), "shares": shares},
                  _chain_sources(chain), notes, _meta(chain))


def _mineral_concentration(material: str, year: int, *, stage: str | None,
                           store: Store | None) -> Answer:

    shares, totals, sources, data_notes = mineral_stage_shares(material, year, store=store)
    if stage is not None:
        if stage not in shares.index:
            raise unknown("stage", stage, shares.index)
        shares, totals = shares.loc[[stage]], totals.loc[[stage]]
    top = metrics.top_producer(shares)
    table = pd.DataFrame({
        "stage": shares.index, "unit": "t", "total": totals.to_numpy(),
        "top_producer": top["top_producer"].to_numpy(), "top_share": top["top_share"].to_numpy(),
        "cr1": metrics.cr(shares, 1).to_numpy(), "cr3": metrics.cr(shares, 3).to_numpy(),
        "hhi": metrics.hhi(shares).to_numpy(),
    })
    notes = [n for n in data_notes if stage is None or n.startswith(f"{stage}:")]
    if "ROW" in shares.columns:
        notes.append("ROW = world total less the named producers, counted as one producer: "
                     "CR3 and HHI are upper bounds")
    return Answer({"concentration": table, "shares": shares}, sources, notes,
                  {"material": material, "sources_by_part": {"stage_output": sources}})


def _meta(chain: SupplyChain, **extra: Any) -> dict[str, Any]:
    # "material": the chain's own code (resolved from what the user typed, "Dysprosium" → Dy)
    return {**chain.meta, "material": chain.material, "sources_by_part": chain_sources(chain),
            **extra}


def _estimate_notes(chain: SupplyChain, store: Store | None = None) -> list[str]:
    notes: list[str] = []
    if chain.year is not None:  # stages missing or left out in the year
        notes.extend(chain_year_check(chain.material, chain.year, store=store).notes)
    vint = chain.meta.get("vintages", {})
    est = [s for s, v in vint.items() if any(x.startswith("oreflow") for x in v)]
    if est:
        notes.append(f"stages {', '.join(est)} include oreflow estimates (bottom-up, each with "
                     "its method and range: oreflow data check)")
    if chain.meta.get("composition_imputed"):
        notes.append("ore mix imputed for " + ", ".join(chain.meta["composition_imputed"]))
    deficit = float(chain.meta.get("element_deficit", 0.0))
    if deficit > 0.01 * max(float(chain.output.iloc[1:2].to_numpy().sum()), 1.0):
        notes.append(f"metal plants need {deficit:,.0f} t more {chain.material} oxide than their "
                     "separators report (see oreflow data check)")
    return notes


def overview(year: int = DEFAULT_YEAR, *, elements: Sequence[str] = OVERVIEW_ELEMENTS,
             controller: str = "CHN", store: Store | None = None) -> Answer:
    """Stage-by-stage overview: REO concentration and the controller's share per element.

    Tables: ``stages`` (REO: total, unit, top producer and share, HHI, CR3 per stage) and
    ``controller`` (share of the controller at each stage, for REO and each element).
    """
    st = resolve_store(store)
    controller = country_code(controller)
    elements = [material_code(el, RARE_EARTHS, kind="rare-earth element") for el in elements]
    reo = build_chain("REO", year, store=st)
    conc = reo.concentration_table()
    stages = conc[["unit", "total", "top_producer", "top_share", "cr3", "hhi", "hhi_wgi"]]
    rows = {"REO": reo.shares().get(controller, pd.Series(0.0, index=reo.stages))}
    for el in elements:
        ch = reo.for_element(el)
        rows[el] = ch.shares().get(controller, pd.Series(0.0, index=ch.stages))
    ctrl = pd.DataFrame(rows).T
    ctrl.index.name = "material"
    return Answer({"stages": stages.reset_index(), "controller": ctrl.reset_index()},
                  _chain_sources(reo), _estimate_notes(reo, st), _meta(reo))


def trace(material: str, country: str, *, stage: str | None = None, year: int = DEFAULT_YEAR,
          controllers: Iterable[str] = ("CHN",), node: str | None = None,
          store: Store | None = None) -> Answer:
    """Where ``country``'s ``material`` was mined and whom it passed through.

    The node traced is the country's final use of a stage's product (``node="use"``: the
    magnets its industry uses) or its own output at that stage (``node="output"``); by default
    its use where it has one, else its output. ``stage`` defaults to the last stage at which
    the country uses or makes the material. Tables: ``origin`` (share of the node's material
    mined in each country [-]) and ``control`` (for each controller: the share mined there,
    the share that passed through it at any stage up to this node, and its origin content
    counting only stages from ``s`` on, ``content_from_<s>``, which is what a de-minimis rule
    reads).
    """
    chain = build_chain(material, year, store=store)
    material = chain.material
    codes = resolve_store(store).table("countries")["iso3"].tolist()
    country = country_code(country, extra=codes)
    controllers = [region_code(c, bloc_table(store), countries=codes, kind="controller")
                   for c in controllers]
    if country not in chain.countries:
        if country not in codes:
            raise unknown("country", country, codes)
        raise InputError(f"{country} neither makes nor uses {material} at any stage in {year} "
                         f"in the data; countries in the chain: {', '.join(chain.countries)}")
    made: dict[Any, Any] = chain.output[country].to_dict()
    used: dict[Any, Any] = chain.final_use[country].to_dict()
    active = [s for s in chain.stages if made[s] > 0 or used[s] > 0]
    if stage is None:
        if not active:
            raise InputError(f"{country} neither makes nor uses {material} in {year}")
        stage = active[-1]
    elif stage not in chain.stages:
        raise unknown("stage", stage, chain.stages)
    elif stage not in active:
        raise InputError(f"{country} neither makes nor uses {material} at stage '{stage}' in "
                         f"{year}" + (f"; it has at: {', '.join(active)}" if active else ""))
    if node is None:
        node = "use" if used[stage] > 0 else "output"
    if node not in ("use", "output"):
        raise unknown("node", node, ("use", "output"))
    if (used if node == "use" else made)[stage] <= 0:
        raise InputError(f"{country} has no {material} {node} at stage '{stage}' in {year}")
    if node == "use":
        mix = chain.use_origin_mix(stage, country)
        passed, content = chain.use_control_share, chain.use_origin_content
    else:
        mix = chain.origin_mix(stage, country)
        passed, content = chain.control_share, chain.origin_content
    tonnes = float((used if node == "use" else made)[stage])
    origin = pd.DataFrame({"mined_in": mix.index, "share": mix.to_numpy()})
    origin = origin[origin["share"] > 0].sort_values("share", ascending=False)
    control_rows = []
    stages = list(chain.stages)
    for ctrl in controllers:
        members = chain.members(ctrl)
        row: dict[str, Any] = {
            "controller": ctrl,
            "mined_there": float(mix.reindex(sorted(members)).fillna(0.0).sum()),
            "passed_through": _cell(passed(members), stage, country),
        }
        for s in stages[1: stages.index(stage) + 1]:
            row[f"content_from_{s}"] = _cell(content(members, s), stage, country)
        control_rows.append(row)
    control = pd.DataFrame(control_rows)
    return Answer({"origin": origin, "control": control},
                  _chain_sources(chain), _estimate_notes(chain, store),
                  _meta(chain, stage=stage, country=country, node=node, tonnes=tonnes,
                        unit=str(chain.units[stage])))


def _cell(frame: pd.DataFrame, row: str, col: str) -> float:
    """One value of a stages × countries frame as a float."""
    return float(frame[col].to_numpy(dtype=float)[list(frame.index).index(row)])


def load_blocs(path: Path, *, store: Store | None = None) -> dict[str, list[str]]:
    """Read user blocs from a CSV with columns ``bloc`` and ``iso3`` (one member a row).

    A member is an ISO3 code or a country name (``Japan``); a residual node such as ``XEU``
    counts, an aggregate (``WLD``, ``EUU`` …) does not, and a user bloc may not take the
    name of a bloc in the data (``MSP`` would silently stand for other members). Every
    problem is reported with its file line, and the whole file is rejected; an unreadable
    file (a directory, not UTF-8, broken rows) is an input error too.
    """
    from oreflow.chain.names import NON_NODE_CODES
    from oreflow.data.csvfile import read_csv_text

    label = str(path)
    text = read_csv_text(path, label=label)
    raw = text.frame
    missing = [c for c in ("bloc", "iso3") if c not in raw.columns]
    if missing:
        raise ValidationError([Problem(label, 1, c, "required column is missing")
                               for c in missing])
    st = resolve_store(store)
    countries = st.table("countries")
    codes = [str(c) for c in countries["iso3"]]
    aggregates = set(countries.loc[countries["kind"] == "aggregate", "iso3"].astype(str))
    aggregates = (aggregates | NON_NODE_CODES) - RESIDUAL_CODES
    builtin = bloc_table(st)
    problems: list[Problem] = []
    out: dict[str, list[str]] = {}
    for i, (b, c) in enumerate(zip(raw["bloc"], raw["iso3"], strict=True)):
        line = text.line_of(i)
        if pd.isna(b) or pd.isna(c):
            problems += [Problem(label, line, col, "a value is required")
                         for col, v in (("bloc", b), ("iso3", c)) if pd.isna(v)]
            continue
        bloc, member = str(b), str(c)
        clash = next((k for k in builtin if k.lower() == bloc.lower()), None)
        if clash is not None:
            problems.append(Problem(label, line, "bloc", f"'{bloc}' is a bloc in the data "
                                    f"({builtin[clash]}); give yours another name"))
            continue
        if member.upper() in aggregates:
            problems.append(Problem(label, line, "iso3", f"'{member}' is an aggregate, not a "
                                    "country"))
            continue
        try:
            code = country_code(member, extra=codes)
        except InputError as exc:
            problems.append(Problem(label, line, "iso3", str(exc)))
            continue
        if code not in codes and code not in RESIDUAL_CODES:
            problems.append(Problem(label, line, "iso3", f"'{member}' is not in the countries "
                                    "table"))
            continue
        out.setdefault(bloc, []).append(code)
    if problems:
        raise ValidationError(problems)
    return out


def _resolve_bloc(chain: SupplyChain, bloc: str, extra: dict[str, list[str]],
                  store: Store | None) -> list[str]:
    """Members of ``bloc`` (user blocs first, then the data's blocs, then a country), by code
    or name in any case (``EU`` → ``EU27``, ``Japan`` → ``JPN``)."""
    if bloc in extra:
        return sorted(extra[bloc])
    named = {b: n for b, n in bloc_table(store).items() if b in chain.blocs}
    named.update({b: b for b in chain.blocs if b not in named} | {b: b for b in extra})
    codes = resolve_store(store).table("countries")["iso3"].tolist()
    code = region_code(bloc, named, countries=codes, kind="bloc")
    if code in extra:
        return sorted(extra[code])
    if code in chain.blocs:
        return sorted(chain.members(code))
    return [code]


def bloc_summary(material: str = "REO", year: int = DEFAULT_YEAR, *,
                 blocs: Sequence[str] = DEFAULT_BLOCS,
                 extra_blocs: dict[str, list[str]] | None = None,
                 store: Store | None = None) -> Answer:
    """Each bloc's share of world output per stage (table ``summary``)."""
    chain = build_chain(material, year, store=store)
    extra = extra_blocs or {}
    shares = chain.shares()
    rows = []
    for b in [*blocs, *extra]:
        members = _resolve_bloc(chain, b, extra, store)
        present = [m for m in members if m in shares.columns]
        row: dict[str, Any] = {
            "bloc": b, "members": len([m for m in members if m not in RESIDUAL_CODES])}
        per_stage = shares[present].sum(axis=1) if present else shares.sum(axis=1) * 0.0
        row.update({str(k): float(v) for k, v in per_stage.items()})
        rows.append(row)
    return Answer({"summary": pd.DataFrame(rows)}, _chain_sources(chain),
                  _estimate_notes(chain, store), _meta(chain))


def bloc_balance(bloc: str, material: str = "REO", year: int = DEFAULT_YEAR, *,
                 without: str | None = None, extra_blocs: dict[str, list[str]] | None = None,
                 crma: bool = False, store: Store | None = None) -> Answer:
    """A bloc's output, needs, self-sufficiency and outside suppliers per stage.

    Table ``balance`` (see :meth:`~oreflow.chain.SupplyChain.bloc_table`; with ``without``
    a second case per stage removes that controller's supply); with ``crma``, table
    ``crma`` (EU Critical Raw Materials Act benchmarks).
    """
    chain = build_chain(material, year, store=store)
    members = _resolve_bloc(chain, bloc, extra_blocs or {}, store)
    if without is not None and without not in chain.countries:
        codes = resolve_store(store).table("countries")["iso3"].tolist()
        without = country_code(without, extra=codes)
        if without not in codes:
            raise unknown("country", without, codes)
    table = chain.bloc_table(members, controller=without)
    if without is None:
        table = table[table["case"] == "all"]
    tables = {"balance": table.reset_index(drop=True)}
    if crma:
        tables["crma"] = chain.crma_table(members)
    notes = _estimate_notes(chain, store)
    residual = [m for m in members if m in RESIDUAL_CODES]
    if residual:
        notes.append(f"{', '.join(residual)} stands for the bloc's members without a figure of "
                     "their own")
    return Answer(tables, _chain_sources(chain), notes, _meta(chain, members=members))


def supply_risk(material: str = "REO", year: int = DEFAULT_YEAR, *, bloc: str | None = None,
                eol_rir: float = 0.0, si_sr: float = 1.0,
                store: Store | None = None) -> Answer:
    """EU-style supply risk per stage and the bottleneck (table ``risk``)."""
    if not 0 <= eol_rir <= 1 or not 0 <= si_sr <= 1:
        raise InputError("--eol-rir and --si-sr must lie in [0, 1]")
    chain = build_chain(material, year, store=store)
    members = _resolve_bloc(chain, bloc, {}, store) if bloc else None
    table = chain.risk_table(members, eol_rir=eol_rir, si_sr=si_sr)
    notes = _estimate_notes(chain, store)
    if eol_rir == 0:
        notes.append("EoL-RIR taken as 0 (no cited value shipped); pass --eol-rir")
    return Answer({"risk": table.reset_index()}, _chain_sources(chain), notes,
                  _meta(chain))
