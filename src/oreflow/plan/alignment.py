"""Which bloc a country's rare-earth output and deposits join (issue 15, item 3).

One concern: turn "Vietnam aligns with the MSP" (or with China) into what the planner's
program (:mod:`oreflow.plan.formulate`) counts differently. An :class:`Alignment` says which
country, which side, from which year and how (a constraint or an option);
:func:`resolve_alignment` reads the country's balance from the REO supply chain of the data
and its reserves and potential from the tables, and returns the :class:`Aligned` changes.

What an alignment changes
-------------------------
With the bloc, as a **constraint** (``VNM=MSP``): the country's output of the data year at
every stage counts as the bloc's own capacity from ``from_year`` on (like a member's: it is
self-sufficiency only when fed from allowed material), its supply to the bloc leaves the
"allowed outsiders" (it is now counted as capacity), its pipeline projects are the bloc's
(decided ones counted, the others options), and its undeveloped reserves become mine and
separation modules only the bloc may build, capped by the country's potential.

With the bloc, as an **option** (``VNM=MSP:option``): only the projects and the reserve
modules are the bloc's to choose (at their cost); today's output is not re-counted. The
program has every option it had without the alignment, and some more: the plan is never
costlier and never reaches less.

With the controller (``VNM=CHN``): the country's output counts as the controller's (its
world share rises by the country's share of world output), its supply to the bloc leaves the
allowed outsiders (the controller now supplies it), and its projects are not available to
the bloc.

References
----------
Reserves: ``reserves`` table, the newest USGS edition of the country (MCS2026 v1.3 for
Vietnam: 3.5 Mt REO, revised down from 22 Mt in MCS2025, ``usgs_mcs2025_ree``). Potential:
the government's goal in the ``projects`` table's note of the country's mine row
(Vietnam: about 60,000 t REO a year by the end of the decade,
``straitstimes_reuters_2023_10_20``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
import pycountry

from oreflow.chain.analysis import build_chain
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError
from oreflow.plan.defaults import PlanDefaults, load_defaults
from oreflow.plan.options import Option, classify_projects, generic_options
from oreflow.plan.targets import BlocBaseline

__all__ = [
    "MINE_LIFE_YEARS",
    "SIDES",
    "Aligned",
    "Alignment",
    "country_table",
    "parse_alignment",
    "reserve_potential",
    "resolve_alignment",
]

#: Sides a country can align with: the bloc being planned, or the controller.
SIDES: tuple[str, ...] = ("bloc", "controller")
#: Years of output the reserves must last at the potential (assumption, range 15-30 years:
#: the usual life of a rare-earth mine plan); used to bound the potential by the reserves
#: and, when the data give no goal, to derive it from them.
MINE_LIFE_YEARS = 20.0
#: A production goal in a ``projects`` note: "goal about 60,000 t REO".
_GOAL = re.compile(r"goal about ([0-9][0-9,]*)\s*t\s*REO", re.IGNORECASE)
_SPEC = re.compile(r"^\s*([A-Za-z]{3})\s*=\s*([A-Za-z0-9_+-]+)\s*(?::\s*([a-z]+))?"
                   r"\s*(?:@\s*([0-9]{4}))?\s*$")

Mode = Literal["constraint", "option"]


@dataclass(frozen=True)
class Alignment:
    """A country aligned with one side of the plan.

    Attributes
    ----------
    country : str
        ISO3 code (not a member of the bloc, not the controller).
    side : {"bloc", "controller"}
        Which side its output and deposits join.
    mode : {"constraint", "option"}, default "constraint"
        ``constraint``: the alignment holds (its output is counted for the side);
        ``option``: the bloc *may* develop its projects and reserves at their cost, today's
        output is not re-counted (with the bloc only).
    from_year : int, optional
        From when it holds (default the planning year): output counts and options may start
        from then.
    reserves : bool, default True
        Whether its undeveloped reserves are mine and separation modules the aligned bloc
        may build (capped by :func:`reserve_potential`).
    status_class : str, optional
        Status class of the reserve modules (failure probability and delay); default the
        class of the country's pipeline mine project in the data (Vietnam: Dong Pao,
        ``stalled``), else ``study``.
    """

    country: str
    side: str
    mode: Mode = "constraint"
    from_year: int | None = None
    reserves: bool = True
    status_class: str | None = None

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise InputError(f"alignment side must be one of {', '.join(SIDES)} "
                             f"(got '{self.side}')")
        if self.mode not in ("constraint", "option"):
            raise InputError(f"alignment mode must be 'constraint' or 'option' "
                             f"(got '{self.mode}')")
        if self.mode == "option" and self.side != "bloc":
            raise InputError("an option alignment is with the bloc (the bloc may develop "
                             "the country's deposits); with the controller use a constraint")

    @property
    def label(self) -> str:
        """Short name: ``VNM=bloc``, ``VNM=controller:option``..."""
        return f"{self.country}={self.side}" + (":option" if self.mode == "option" else "")


def parse_alignment(text: str, bloc: str, controller: str = "CHN") -> Alignment:
    """Parse ``COUNTRY=SIDE[:option][@YEAR]``: ``VNM=MSP``, ``VNM=CHN``, ``VNM=MSP:option``,
    ``VNM=MSP@2028``; SIDE is the bloc's name (or ``bloc``) or the controller's code.

    Raises
    ------
    oreflow.errors.InputError
        One line naming ``--align`` and what is wrong.

    Examples
    --------
    >>> parse_alignment("VNM=MSP", "MSP").side
    'bloc'
    >>> parse_alignment("vnm=chn@2028", "MSP").from_year
    2028
    """
    m = _SPEC.match(str(text))
    if m is None:
        raise InputError(f"--align '{text}': expected COUNTRY=SIDE[:option][@YEAR], e.g. "
                         f"'VNM={bloc}' or 'VNM={controller}'")
    country, side, mode, year = m.group(1).upper(), m.group(2).upper(), m.group(3), m.group(4)
    if side in (bloc.upper(), "BLOC"):
        where = "bloc"
    elif side in (controller.upper(), "CONTROLLER"):
        where = "controller"
    else:
        raise InputError(f"--align '{text}': side '{m.group(2)}' is neither the bloc "
                         f"'{bloc}' nor the controller '{controller}'")
    if mode not in (None, "option", "constraint"):
        raise InputError(f"--align '{text}': ':{mode}' must be ':option' or ':constraint'")
    return Alignment(country, where, "option" if mode == "option" else "constraint",
                     int(year) if year else None)


@dataclass(frozen=True)
class Aligned:
    """What an alignment changes in the program (built by :func:`resolve_alignment`).

    Attributes
    ----------
    alignment : Alignment
        The alignment resolved.
    from_year : int
        The year it holds from.
    shift : mapping of str to (float, float)
        Per stage ``(Δ bloc output, Δ allowed outside supply)`` [stage unit/yr].
    options : tuple of Option
        Reserve modules the aligned bloc may build (``reserve:<stage>:<ISO3>``).
    caps : tuple of ((str, ...), float)
        ``(option ids, most capacity)`` [t REO/yr]: the potential of the reserves.
    allied : frozenset of str
        Countries whose options count as the bloc's.
    blocked : frozenset of str
        Countries whose options the bloc cannot take.
    counts_decided : bool
        Whether the country's decided projects count as the bloc's (a constraint).
    table : pandas.DataFrame
        The country's balance by stage (:func:`country_table`).
    notes : tuple of str
        What was assumed, with sources.
    source_ids : tuple of str
        Sources of the reserves and potential.
    """

    alignment: Alignment
    from_year: int
    shift: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    options: tuple[Option, ...] = ()
    caps: tuple[tuple[tuple[str, ...], float], ...] = ()
    allied: frozenset[str] = frozenset()
    blocked: frozenset[str] = frozenset()
    counts_decided: bool = True
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: tuple[str, ...] = ()
    source_ids: tuple[str, ...] = ()


def country_table(country: str, base: BlocBaseline, *, store: Store | None = None
                  ) -> pd.DataFrame:
    """The country's place in the bloc's balance, by stage, from the REO supply chain.

    Returns
    -------
    pandas.DataFrame
        Indexed by stage: ``output`` (the country's), ``to_bloc`` (its supply to the bloc's
        members), ``controller_output`` and ``world_output`` [stage unit/yr], all of the
        chain's data year (:attr:`BlocBaseline.year`).
    """
    st = resolve_store(store)
    chain = build_chain("REO", base.year, store=st) if base.year else build_chain(
        "REO", store=st)
    net = chain.links()
    members = net.mask(list(base.members))
    where = np.asarray([c == country for c in net.countries])
    ctrl = net.mask(base.controller)
    rows = []
    for t, stage in enumerate(net.stages):
        if stage not in base.stages:
            continue
        k = float(net.k[t])
        alloc = net.use_allocation[t] + (net.allocation[t] if t + 1 < len(net.stages) else 0.0)
        to_bloc = float(np.nan_to_num(alloc[where][:, members]).sum()) / k
        rows.append({"stage": stage, "output": float(np.nansum(net.q[t][where])),
                     "to_bloc": to_bloc,
                     "controller_output": float(np.nansum(net.q[t][ctrl])),
                     "world_output": float(np.nansum(net.q[t]))})
    return pd.DataFrame(rows).set_index("stage")


def _edition_key(edition: str) -> tuple[int, str]:
    m = re.search(r"([0-9]{4})", edition)
    return (int(m.group(1)) if m else 0, edition)


def reserve_potential(country: str, *, store: Store | None = None
                      ) -> tuple[float, float, str, list[str], list[str]]:
    """The country's reserves and the most mine output its deposits can add [t REO/yr].

    Returns
    -------
    tuple
        ``(reserves_t, potential_t_per_yr, edition, source_ids, notes)``: the newest
        edition's reserves [t REO] (0 when the data have none); the potential: the
        government goal in a ``projects`` note of the country (``goal about N t REO``),
        bounded by reserves / :data:`MINE_LIFE_YEARS`, else reserves /
        :data:`MINE_LIFE_YEARS` (an assumption); the edition; sources; notes.
    """
    st = resolve_store(store)
    res = st.table("reserves")
    rows = res[(res["iso3"] == country) & (res["material"] == "REO")
               & (res["metric"] == "reserves")]
    notes: list[str] = []
    ids: list[str] = []
    if rows.empty:
        return 0.0, 0.0, "", ids, [f"{country} has no REO reserves in the data: no reserve "
                                  "modules."]
    newest = max((str(e) for e in rows["edition"]), key=_edition_key)
    row = rows[rows["edition"] == newest].iloc[0]
    reserves = float(row["tonnes"])
    ids.append(str(row["source_id"]))
    # the latest edition that gave another figure (a revision)
    older = rows[[abs(float(v) - reserves) > 1e-6 * max(reserves, 1.0)
                  for v in rows["tonnes"]]]
    revised = ""
    if not older.empty:
        prev = max((str(e) for e in older["edition"]), key=_edition_key)
        was = float(older[older["edition"] == prev]["tonnes"].iloc[0])
        revised = f"; {was:,.0f} t up to {prev}"
    notes.append(f"{country} reserves {reserves:,.0f} t REO, {newest}{revised} "
                 f"({row['source_id']}).")
    by_life = reserves / MINE_LIFE_YEARS
    goal = None
    for r in st.table("projects").to_dict("records"):
        if str(r.get("iso3")) != country:
            continue
        m = _GOAL.search(str(r.get("note") or ""))
        if m:
            goal = (float(m.group(1).replace(",", "")), str(r["project_id"]),
                    str(r["source_id"]))
            break
    if goal is not None:
        value = min(goal[0], by_life)
        ids.append(goal[2])
        notes.append(f"{country}'s deposits can add at most {value:,.0f} t REO/yr of mine "
                     f"output and as much separation: the government goal of about "
                     f"{goal[0]:,.0f} t REO a year (projects {goal[1]}, {goal[2]})"
                     + (f", bounded by reserves / {MINE_LIFE_YEARS:g} years" if value < goal[0]
                        else f"; reserves last {reserves / goal[0]:,.0f} years at it")
                     + " (a ceiling, not a forecast: assumed range 0 to the goal).")
    else:
        value = by_life
        notes.append(f"{country}'s deposits can add at most {value:,.0f} t REO/yr (reserves "
                     f"/ {MINE_LIFE_YEARS:g} years of mine life: an assumption, range 15-30 "
                     "years; no production goal in the data).")
    return reserves, value, newest, ids, notes


def _mine_class(country: str, st: Store, d: PlanDefaults) -> tuple[str, str]:
    """Status class of the country's pipeline mine project (the first), and which."""
    cls = classify_projects(store=st, defaults=d)
    proj = st.table("projects").set_index("project_id")
    for _, r in cls.iterrows():
        pid = str(r["project_id"])
        if pid in proj.index and str(proj.loc[pid, "iso3"]) == country and bool(
                r["pipeline"]) and str(proj.loc[pid, "stage"]) == "mine":
            return str(r["status_class"]), pid
    return "study", ""


def _reserve_options(a: Alignment, potential: float, year: int, st: Store,
                     d: PlanDefaults) -> tuple[list[Option], list[str], list[str]]:
    """Mine and separation modules on the country's deposits, only the aligned bloc's."""
    cls, pid = (a.status_class, "") if a.status_class else _mine_class(a.country, st, d)
    if cls not in d.status_classes:
        raise InputError(f"--align-status: unknown status class '{cls}' (known: "
                         f"{', '.join(d.status_classes)})")
    sc = d.status_classes[cls]
    span = d.stages["mine"].project_lead_time_years or d.stages["mine"].lead_time_years
    out: list[Option] = []
    for o in generic_options(("mine", "separation"), (a.country,), store=st, defaults=d,
                             year=year):
        extra: dict[str, object] = {}
        if o.stage == "mine":
            # a known deposit: the studied-deposit lead time, not discovery to production
            extra = {"lead_time_years_low": span.low, "lead_time_years_median": span.median,
                     "lead_time_years_high": span.high, "status": cls, "status_class": cls,
                     "p_fail": sc.p_fail.value, "p_fail_low": sc.p_fail.low,
                     "p_fail_high": sc.p_fail.high,
                     "delay_years_low": sc.delay_years.low,
                     "delay_years_median": sc.delay_years.median,
                     "delay_years_high": sc.delay_years.high,
                     "source_ids": tuple(dict.fromkeys([*o.source_ids, *span.source_ids,
                                                        *sc.p_fail.source_ids,
                                                        *sc.delay_years.source_ids]))}
        out.append(replace(o, option_id=f"reserve:{o.stage}:{a.country}",
                           name=f"{o.stage} module on {a.country}'s deposits",
                           note=f"{o.note}; only the bloc {a.country} aligns with may build it",
                           **extra))  # type: ignore[arg-type]
    which = f"{pid}'s class" if pid else "no pipeline mine in the data: assumed"
    notes = [f"Reserve modules in {a.country} (mine {out[0].capacity_t_per_yr:,.0f} t REO/yr, "
             f"separation {out[1].capacity_t_per_yr:,.0f} t/yr a module, each stage capped at "
             f"{potential:,.0f} t/yr): a known deposit, so the mine takes the studied-deposit "
             f"lead time ({span.median:g} years) plus the delay of status class '{cls}' "
             f"({which}; median {sc.delay_years.median:g} years, p_fail "
             f"{sc.p_fail.value:g})."]
    return out, notes, list(span.source_ids)


def resolve_alignment(alignment: Alignment, base: BlocBaseline, *, year: int,
                      store: Store | None = None, defaults: PlanDefaults | None = None
                      ) -> Aligned:
    """What ``alignment`` changes in the bloc's program (see the module docstring).

    Parameters
    ----------
    alignment : Alignment
        The country, side, mode and year.
    base : BlocBaseline
        The bloc's balance (:func:`oreflow.plan.targets.bloc_baseline`).
    year : int
        The planning year (the default ``from_year``).
    store, defaults : optional
        Data store and planning defaults.

    Raises
    ------
    oreflow.errors.InputError
        An unknown country, a member of the bloc, the controller itself, or a year before
        the planning year.
    """
    st = resolve_store(store)
    d = defaults or load_defaults(store=st)
    a = alignment
    c = a.country.upper()
    if pycountry.countries.get(alpha_3=c) is None:
        raise InputError(f"--align: unknown country '{a.country}' (an ISO3 code, e.g. VNM)")
    if c in base.members:
        raise InputError(f"--align: {c} is a member of {base.bloc} already")
    if c == base.controller:
        raise InputError(f"--align: {c} is the controller the targets are about")
    start = year if a.from_year is None else int(a.from_year)
    if start < year:
        raise InputError(f"--align: from year {start} is before the planning year {year}")
    a = replace(a, country=c, from_year=start)
    table = country_table(c, base, store=st)
    notes: list[str] = []
    ids: list[str] = []
    shift: dict[str, tuple[float, float]] = {}
    options: list[Option] = []
    caps: list[tuple[tuple[str, ...], float]] = []
    out_text = ", ".join(f"{s} {table.loc[s, 'output']:,.0f}" for s in table.index
                         if table.loc[s, "output"] > 0) or "none"
    if a.side == "controller":
        for s in table.index:
            shift[str(s)] = (0.0, -float(table.loc[s, "to_bloc"]))
        notes.append(f"{c} aligned with {base.controller} from {start}: its output ({out_text}"
                     f" stage units/yr, {base.year}) counts as {base.controller}'s, its supply "
                     f"to {base.bloc} is no longer allowed, and its projects are not the "
                     "bloc's to take.")
        return Aligned(a, start, shift, (), (), frozenset(), frozenset({c}), False, table,
                       tuple(notes), ())
    if a.mode == "constraint":
        for s in table.index:
            shift[str(s)] = (float(table.loc[s, "output"]), -float(table.loc[s, "to_bloc"]))
        notes.append(f"{c} aligned with {base.bloc} from {start}: its output ({out_text} stage "
                     f"units/yr, {base.year}) counts as the bloc's own capacity (self-"
                     "sufficiency only where fed from allowed material, as a member's); its "
                     "demand is not added to the bloc's.")
    else:
        notes.append(f"{c} as an option for {base.bloc} from {start}: the bloc may develop its "
                     "projects and deposits at their cost; today's output is not re-counted.")
    if a.reserves:
        _, potential, _, rid, rnotes = reserve_potential(c, store=st)
        notes += rnotes
        ids += rid
        if potential > 0 and math.isfinite(potential):
            opts, onotes, oids = _reserve_options(a, potential, start, st, d)
            options += opts
            notes += onotes
            ids += oids
            caps += [((o.option_id,), potential) for o in opts]
    return Aligned(a, start, shift, tuple(options), tuple(caps), frozenset({c}), frozenset(),
                   a.mode == "constraint", table, tuple(notes), tuple(dict.fromkeys(ids)))
