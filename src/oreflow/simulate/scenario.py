"""Declarative disruption scenarios: pydantic models loaded from YAML.

A :class:`Scenario` names a start month, a horizon, a list of shocks (export restrictions,
production outages, demand changes and policy responses) and the distributions of the
behavioural parameters that the Monte Carlo engine samples. Scenarios are frozen, reject
unknown keys, and are identified by a content hash (:meth:`Scenario.hash`).

Files are read with :meth:`Scenario.from_yaml`; validation errors name the file, the line and
the field. Built-in scenarios ship in ``oreflow/simulate/builtin/*.yaml``
(:func:`list_builtin`, :meth:`Scenario.builtin`).

Examples
--------
>>> sc = Scenario.builtin("full-embargo")
>>> sc.horizon_months, sc.controller
(36, 'CHN')
>>> len(sc.hash())
16
"""

from __future__ import annotations

import calendar
import datetime as _dt
import hashlib
import html
import json
import math
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from oreflow.base import FiniteModel
from oreflow.chain.lookup import material_code
from oreflow.chain.names import RARE_EARTHS
from oreflow.data.store import Store
from oreflow.errors import InputError, did_you_mean, unknown
from oreflow.simulate.parameters import MAX_MONTHS, MONTHS_REASON, Parameters
from oreflow.simulate.scenario_yaml import check_source_ids, locate
from oreflow.uncertain import (
    Beta,
    Dist,
    Distribution,
    Fixed,
    LogNormal,
    Normal,
    Triangular,
    Uniform,
    check_within,
    fixed,
)
from oreflow.yamlio import YamlInputError, known_fields, parse_yaml, read_text

__all__ = [
    "ELEMENTS",
    "GROUPS",
    "MATERIALS",
    "MINERALS",
    "PRODUCTS",
    "ApprovalStep",
    "Beta",
    "DemandChange",
    "Distribution",
    "ExportRestriction",
    "Fixed",
    "FlowRedirect",
    "GeneralLicence",
    "LogNormal",
    "Normal",
    "Parameters",
    "PriceFloor",
    "ProductionOutage",
    "Scenario",
    "ScenarioError",
    "SeparationCapacity",
    "Shock",
    "StockpileRelease",
    "Tariff",
    "Triangular",
    "Uniform",
    "expand_materials",
    "list_builtin",
    "month_offset",
]

#: The 17 rare-earth elements, by symbol, in atomic-number order (Sc and Y first).
ELEMENTS: tuple[str, ...] = RARE_EARTHS
#: Other critical minerals modelled as stand-alone markets (no magnet coupling): gallium,
#: germanium and antimony, at their refined stage.
MINERALS: tuple[str, ...] = ("Ga", "Ge", "Sb")
#: Magnet products modelled as their own markets (stage ``magnet``).
PRODUCTS: tuple[str, ...] = ("NdFeB", "SmCo")
#: Every material name, in array order: rare earths, other minerals, magnet products.
MATERIALS: tuple[str, ...] = (*RARE_EARTHS, *MINERALS, *PRODUCTS)
#: Material group names accepted in scenario files. The light/heavy split follows the common
#: convention (La-Sm light; Eu-Lu and Y heavy); sources differ on Eu, Gd and Sc.
GROUPS: dict[str, tuple[str, ...]] = {
    "REE": ELEMENTS,
    "all": (*ELEMENTS, *PRODUCTS),
    "LREE": ("La", "Ce", "Pr", "Nd", "Pm", "Sm"),
    "HREE": ("Y", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu"),
    "NdPr": ("Nd", "Pr"),
    "magnets": PRODUCTS,
    "minerals": MINERALS,
}
Stage = Literal["mine", "separation", "metal", "magnet"]
#: Stages whose output is traded in the element (oxide/metal) markets of the engine.
ELEMENT_STAGES: frozenset[str] = frozenset({"mine", "separation", "metal"})
#: Words accepted in ``targets`` for "every destination except the controller".
ALL_DESTINATIONS: frozenset[str] = frozenset({"all", "all destinations", "world", "WLD"})


class ScenarioError(InputError, ValueError):
    """A scenario file or object is invalid; the message names file, line and field.

    An :class:`~oreflow.errors.InputError`, so the CLI reports it in one line per problem
    with exit code 2 wherever it surfaces (``stress``, ``exposure --scenario``, …).
    """


#: Base of the scenario models: a float field must be finite.
_Input = FiniteModel


# --------------------------------------------------------------------------------------
# Bounds on numbers (each with its reason, shown in the error)
# --------------------------------------------------------------------------------------

#: Largest tonnage a quota or stockpile may name [t]: a thousand times world rare-earth
#: output (about 0.4 Mt REO a year).
MAX_TONNES: float = 1e9
_TONNES_REASON = "at most 1e9 t, a thousand times world rare-earth output"
#: Largest relative change of demand (level or yearly growth) [fraction]: +10,000%.
MAX_RELATIVE_CHANGE: float = 100.0
#: Highest price a floor may set [USD/kg]; base prices are at most a few thousand USD/kg.
MAX_PRICE_USD_PER_KG: float = 1e6
#: Highest ad-valorem tariff [fraction]: 1e6 (100,000,000%), prohibitive many times over
#: (the engine's tests use e^8, about 3,000, as a prohibitive tariff).
MAX_TARIFF: float = 1e6
#: Earliest and latest year of a date in a scenario (the data cover 1990 on).
YEARS: tuple[int, int] = (1900, 2200)


def _months_gt0(v: float) -> float:
    if not 0 < v <= MAX_MONTHS:
        raise ValueError(f"must be above 0 and {MONTHS_REASON}, got {v:g}")
    return v


def _months_ge0(v: float) -> float:
    if not 0 <= v <= MAX_MONTHS:
        raise ValueError(f"must be 0 or more and {MONTHS_REASON}, got {v:g}")
    return v


def _tonnes(v: float) -> float:
    if v > MAX_TONNES:
        raise ValueError(f"must be {_TONNES_REASON}, got {v:g}")
    return v


def _price(v: float) -> float:
    if v > MAX_PRICE_USD_PER_KG:
        raise ValueError(f"must be at most {MAX_PRICE_USD_PER_KG:g} USD/kg (base prices are "
                         f"at most a few thousand USD/kg), got {v:g}")
    return v


def _tariff(v: float) -> float:
    if v > MAX_TARIFF:
        raise ValueError(f"must be at most {MAX_TARIFF:g} (100,000,000%, prohibitive many "
                         f"times over; 0.25 = 25%), got {v:g}")
    return v


#: A duration in months: finite, above 0, at most :data:`MAX_MONTHS`.
MonthsSpan = Annotated[float, AfterValidator(_months_gt0)]


# --------------------------------------------------------------------------------------
# Dates and materials
# --------------------------------------------------------------------------------------


def _parse_date(v: Any) -> Any:
    bad = f"not a date (YYYY, YYYY-MM or YYYY-MM-DD): {v!r}"
    if isinstance(v, _dt.datetime):
        v = v.date()
    if isinstance(v, _dt.date):
        d = v
    elif isinstance(v, bool) or not isinstance(v, int | str):
        raise ValueError(bad)
    elif isinstance(v, int):
        if not YEARS[0] <= v <= YEARS[1]:
            raise ValueError(f"{bad}; a year must lie in {YEARS[0]}-{YEARS[1]}")
        d = _dt.date(v, 1, 1)
    else:
        parts = v.strip().split("-")
        if not 1 <= len(parts) <= 3 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(bad)
        nums = [int(p) for p in parts] + [1] * (3 - len(parts))
        try:
            d = _dt.date(nums[0], nums[1], nums[2])
        except ValueError as exc:
            raise ValueError(f"{bad} ({exc})") from None
    if not YEARS[0] <= d.year <= YEARS[1]:
        raise ValueError(f"{bad}; the year must lie in {YEARS[0]}-{YEARS[1]}")
    return d


Month = Annotated[_dt.date, BeforeValidator(_parse_date)]


def month_offset(d: _dt.date, start: _dt.date) -> float:
    """Months from ``start`` to ``d`` (fractional; day 1 of a month is a whole month).

    Examples
    --------
    >>> month_offset(_dt.date(2025, 4, 4), _dt.date(2025, 1, 1))  # doctest: +ELLIPSIS
    3.1
    """
    whole = (d.year - start.year) * 12 + (d.month - start.month)
    days = calendar.monthrange(d.year, d.month)[1]
    frac_d = (d.day - 1) / days
    frac_s = (start.day - 1) / calendar.monthrange(start.year, start.month)[1]
    return round(whole + frac_d - frac_s, 6)


def expand_materials(names: Iterable[str]) -> tuple[str, ...]:
    """Expand group names (``REE``, ``LREE``, ``HREE``, ``NdPr``, ``magnets``, ``all``).

    Examples
    --------
    >>> expand_materials(["NdPr", "Dy", "magnets"])
    ('Pr', 'Nd', 'Dy', 'NdFeB', 'SmCo')
    """
    out: list[str] = []
    known = set(MATERIALS)
    for n in names:
        n = material_name(n)
        members = GROUPS.get(n)
        if members is None:
            if n not in known:
                raise ValueError(
                    f"unknown material {n!r}; use element symbols, Ga, Ge, Sb, NdFeB, SmCo or a "
                    "group "
                    f"({', '.join(sorted(GROUPS))})"
                )
            members = (n,)
        for m in members:
            if m not in out:
                out.append(m)
    order = {m: i for i, m in enumerate(MATERIALS)}
    return tuple(sorted(out, key=order.__getitem__))


def material_name(name: str) -> str:
    """The scenario code a material name stands for (``Dysprosium`` → ``Dy``, ``magnets``
    stays a group); ``ValueError`` (a field error) if none."""
    try:
        return material_code(name, (*MATERIALS, *GROUPS))
    except InputError as exc:
        raise ValueError(f"{exc}; use element symbols or names, Ga, Ge, Sb, NdFeB, SmCo or a "
                         f"group ({', '.join(sorted(GROUPS))})") from None


def _check_materials(v: list[str]) -> list[str]:
    """The materials as codes (names resolved), each known."""
    expand_materials(v)
    return [material_name(n) for n in v]


#: Material names (elements, groups or products), checked against the known names.
Materials = Annotated[list[str], Field(min_length=1), AfterValidator(_check_materials)]


class _Timed(_Input):
    start: Month
    """First day the shock acts (``YYYY-MM`` or ``YYYY-MM-DD``)."""
    end: Month | None = None
    """Day the shock stops acting (exclusive); none = to the end of the horizon."""
    duration_months: MonthsSpan | None = None
    """Alternative to ``end``: months after ``start`` [months]."""

    @model_validator(mode="after")
    def _end(self) -> _Timed:
        if self.end is not None and self.duration_months is not None:
            raise ValueError("give either end or duration_months, not both")
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def window(self, scenario_start: _dt.date) -> tuple[float, float]:
        """Start and end of the shock in months from the scenario start (end may be inf)."""
        s = month_offset(self.start, scenario_start)
        if self.end is not None:
            return s, month_offset(self.end, scenario_start)
        if self.duration_months is not None:
            return s, s + self.duration_months
        return s, math.inf


# --------------------------------------------------------------------------------------
# Shocks
# --------------------------------------------------------------------------------------


def _default_stages() -> list[Stage]:
    return ["separation", "metal"]


def _in_unit_interval(v: Dist) -> Dist:
    check_within(v, 0.0, 1.0, reason="a share")
    return v


#: A distribution of a share: every draw in [0, 1].
Share = Annotated[Distribution, AfterValidator(_in_unit_interval)]


class ApprovalStep(_Input):
    """One step of a licence approval path: from ``start`` on, this share of decided
    applications is approved."""

    start: Month
    """First day the rate applies."""
    rate: Share
    """Share of decided applications approved [0-1]."""
    source_ids: list[str] = Field(default_factory=list)
    """Licensing data behind the rate (keys into ``sources``/``licensing``)."""


class GeneralLicence(_Input):
    """From ``start`` on, a share of the controlled flow ships under a general licence
    (no individual application)."""

    start: Month
    """First day general licences apply."""
    share: Share
    """Share of the controlled flow covered [0-1]."""
    source_ids: list[str] = Field(default_factory=list)
    """Source keys."""


class ExportRestriction(_Input):
    """An export control by ``controller`` on ``materials`` towards ``targets``.

    Licensing is a process (``docs/engine.md``, *Licensing*): from ``effective`` on, buyers'
    orders become applications that queue; no decision is taken during the licence lag; then
    the licensing office decides a share of the queue each month (a processing rate that
    grows as it clears its backlog, a behavioural parameter) and approves the share given
    by the approval path; a general licence lets a share of the flow pass without
    application. A quota instead caps licensed exports, with no queue: ``quota_t`` is a
    budget for the restriction's whole window (a calendar-year quota: exports stop when it is
    used up), ``quota_t_per_yr`` a cap on the rate.
    """

    kind: Literal["export_restriction"]
    id: str = ""
    """Short label, used in results and messages."""
    controller: str = "CHN"
    """ISO3 code of the restricting country (must equal the scenario controller)."""
    materials: Materials
    """Controlled materials: element symbols, ``NdFeB``, ``SmCo`` or group names."""
    stages: list[Stage] = Field(default_factory=lambda: _default_stages())
    """Controlled supply-chain stages; ``magnet`` controls the magnet products, the other
    stages the element (oxide/metal) markets."""
    targets: list[str] = Field(default_factory=lambda: ["all"])
    """Destinations: ``all`` (every country except the controller), ISO3 codes or bloc names."""
    announced: Month | None = None
    """Announcement date; before ``effective`` it triggers precautionary buying."""
    effective: Month
    """Date the control takes effect."""
    end: Month | None = None
    """Date the control is lifted or suspended (exclusive); none = in force to the horizon.
    An end before ``effective`` (suspended before taking effect) leaves only the
    announcement."""
    duration_months: MonthsSpan | None = None
    """Alternative to ``end`` [months after ``effective``]."""
    licence_lag_months: Distribution = Field(default_factory=lambda: fixed(0.0))
    """Months after ``effective`` with no licensed exports [months]."""
    approval_rate: Share | None = None
    """Share of decided applications approved from the end of the lag [0-1] (a one-step
    approval path); default 0 (nothing approved) unless ``approval_path`` or
    ``quota_t_per_yr`` is given."""
    approval_path: list[ApprovalStep] = Field(default_factory=list)
    """Approval rate over time, from the licensing data: each step applies from its
    ``start`` until the next; before the first step ``approval_rate`` (or 0) applies."""
    general_licence: GeneralLicence | None = None
    """A general licence exempting a share of the controlled flow from a date on."""
    end_use_denied_share: Share | None = None
    """Share of applications refused whatever the approval path (e.g. military end users
    or a listed destination) [0-1]."""
    quota_t: Distribution | None = None
    """Alternative to ``approval_rate``: an export quota for the whole window from
    ``effective`` to ``end`` over all controlled materials and destinations [t REO]; licensed
    exports stop when it is used up."""
    quota_t_per_yr: Distribution | None = None
    """Alternative to ``approval_rate``: an export quota over all controlled materials and
    destinations [t REO/yr]; the licensed share is quota / baseline controlled exports, the
    same for every material."""
    de_minimis_threshold: float | None = Field(default=None, ge=0, le=1)
    """Controller-origin content (share of value) at or above which foreign-made goods are
    controlled too (0.001 = 0.1%); none = no extraterritorial reach."""
    de_minimis_reach: Share | None = None
    """Share of non-controller output at the controlled stages that contains controller-origin
    content at or above the threshold [0-1]; none = from the baseline's origin tracing."""
    source_ids: list[str] = Field(default_factory=list)
    """Keys into the ``sources``/``policies`` tables for the facts encoded here."""

    @field_validator("licence_lag_months")
    @classmethod
    def _lag(cls, v: Dist) -> Dist:
        check_within(v, 0.0, MAX_MONTHS, reason=MONTHS_REASON)
        return v

    @field_validator("quota_t_per_yr", "quota_t")
    @classmethod
    def _quota(cls, v: Dist | None) -> Dist | None:
        check_within(v, 0.0, MAX_TONNES, reason=_TONNES_REASON)
        return v

    @field_validator("targets")
    @classmethod
    def _targets(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("targets must not be empty (use [all])")
        if any(t in ALL_DESTINATIONS for t in v) and len(v) > 1:
            raise ValueError("'all' cannot be combined with named targets")
        return v

    @model_validator(mode="after")
    def _check(self) -> ExportRestriction:
        if self.end is not None and self.duration_months is not None:
            raise ValueError("give either end or duration_months, not both")
        first = self.announced or self.effective
        if self.end is not None and self.end <= first:
            raise ValueError("end must be after announced/effective")
        if self.announced is not None and self.announced > self.effective:
            raise ValueError("announced must not be after effective")
        mats = expand_materials(self.materials)
        has_prod = any(m in PRODUCTS for m in mats)
        has_el = any(m not in PRODUCTS for m in mats)
        if has_prod and "magnet" not in self.stages:
            raise ValueError("magnet products are listed but 'magnet' is not among stages")
        if has_el and not ELEMENT_STAGES.intersection(self.stages):
            raise ValueError("elements are listed but no mine/separation/metal stage is")
        quotas = [q for q in (self.quota_t, self.quota_t_per_yr) if q is not None]
        if len(quotas) > 1:
            raise ValueError("give either quota_t or quota_t_per_yr, not both")
        if quotas and (self.approval_rate is not None or self.approval_path
                       or self.general_licence or self.end_use_denied_share is not None):
            raise ValueError("a quota has no approval rate, path, general licence or denied "
                             "share: give one or the other")
        if self.quota_t is not None and self.end is None and self.duration_months is None:
            raise ValueError("quota_t is a budget for a window: give end or duration_months")
        starts = [st.start for st in self.approval_path]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError("approval_path steps must have increasing start dates")
        if starts and starts[0] < self.effective:
            raise ValueError("approval_path must not start before effective")
        if self.de_minimis_reach is not None and self.de_minimis_threshold is None:
            raise ValueError("de_minimis_reach needs de_minimis_threshold")
        return self

    @property
    def all_destinations(self) -> bool:
        """True if the control applies to every destination except the controller."""
        return any(t in ALL_DESTINATIONS for t in self.targets)

    def window(self, scenario_start: _dt.date) -> tuple[float, float, float]:
        """Announcement, effect and end in months from the scenario start (end may be inf)."""
        eff = month_offset(self.effective, scenario_start)
        ann = eff if self.announced is None else month_offset(self.announced, scenario_start)
        if self.end is not None:
            end = month_offset(self.end, scenario_start)
        elif self.duration_months is not None:
            end = eff + self.duration_months
        else:
            end = math.inf
        return ann, eff, end

    def controlled_materials(self) -> tuple[str, ...]:
        """Materials the control acts on, after matching materials to stages."""
        out = []
        for m in expand_materials(self.materials):
            if (m in PRODUCTS and "magnet" in self.stages) or (
                m not in PRODUCTS and ELEMENT_STAGES.intersection(self.stages)
            ):
                out.append(m)
        return tuple(out)


class ProductionOutage(_Timed):
    """Loss of a share of one country's output at one stage (mine, plant, region)."""

    kind: Literal["production_outage"]
    id: str = ""
    """Short label."""
    country: str
    """ISO3 code of the country whose output stops."""
    stage: Stage
    """Stage at which output is lost; downstream output elsewhere falls with the baseline's
    origin shares (e.g. Myanmar mine output feeding Chinese separation)."""
    materials: Materials = Field(default_factory=lambda: ["REE"])
    """Materials affected."""
    share: Share
    """Share of the country's output at that stage that is lost [0-1]."""
    recovery_months: Annotated[float, AfterValidator(_months_ge0)] = 0.0
    """Months over which output returns linearly after ``end`` [months]."""
    source_ids: list[str] = Field(default_factory=list)
    """Source keys."""


class SeparationCapacity(_Input):
    """One plant (or project) on the receiving side able to separate the redirected ore.

    Its capacity counts tonnes of the content of ``materials`` (default: the redirect's own
    materials) per year; the engine converts it to the redirect's basis with the redirected
    ore's own composition. It separates redirected ore from ``start`` plus a drawn
    ``delay_months``, ramping linearly over ``ramp_months``; ``available_share`` is the part
    of it free for the redirected ore (the rest runs the plant's own feed).
    """

    id: str
    """Plant or project key (``projects.csv`` ``project_id`` where the data hold it)."""
    t_per_yr: Distribution
    """Separation capacity [t/yr of the content of ``materials``]."""
    materials: Materials | None = None
    """Materials whose content ``t_per_yr`` counts (e.g. ``[Dy, Tb]`` for a plant rated in
    Dy+Tb oxide); default: the redirect's materials."""
    start: Month
    """First month the plant can take the ore (announced start)."""
    delay_months: Distribution = Field(default_factory=lambda: fixed(0.0))
    """Delay on ``start`` [months]: an uncertain start."""
    ramp_months: Annotated[float, AfterValidator(_months_ge0)] = 0.0
    """Months from the (delayed) start to full capacity, linear [months]."""
    available_share: Share = Field(default_factory=lambda: fixed(1.0))
    """Share of the capacity free for the redirected ore [0-1]."""
    source_ids: list[str] = Field(default_factory=list)
    """Source keys of the capacity and the date."""
    note: str = ""
    """What is sourced and what is assumed."""

    @field_validator("t_per_yr")
    @classmethod
    def _tonnes(cls, v: Dist) -> Dist:
        check_within(v, 0.0, MAX_TONNES, reason=_TONNES_REASON)
        return v

    @field_validator("delay_months")
    @classmethod
    def _delay(cls, v: Dist) -> Dist:
        check_within(v, 0.0, MAX_MONTHS, reason=MONTHS_REASON)
        return v


class FlowRedirect(_Timed):
    """A share of one country's output at one stage leaves its current buyer for another
    segment, limited by that segment's separation capacity for the ore.

    The controller's output that depends on the origin (the baseline's origin shares, as
    for an outage) falls by ``share x ramp``; the receiving segment separates the
    redirected ore up to the plants' capacity (``capacity``); ore it cannot separate waits
    in an ore stock (``unprocessed: stock``, separated later as capacity allows) or is
    lost (``unprocessed: lost``). ``docs/engine.md`` section 4.13.
    """

    kind: Literal["flow_redirect"]
    id: str = ""
    """Short label."""
    country: str
    """ISO3 code (or name) of the origin country whose output is redirected."""
    stage: Stage = "mine"
    """Stage of the origin's output (its ore feeds the current buyer's next stage)."""
    materials: Materials = Field(default_factory=lambda: ["HREE"])
    """Materials whose content is redirected (default: heavy rare earths)."""
    from_buyer: str = "CHN"
    """Current buyer: the scenario's controller (ISO3), whose separation loses the feed."""
    to: str = "rest"
    """Receiving segment: ``rest``, ``targets`` or a country (ISO3 or name: its segment)."""
    share: Share
    """Share of the origin's output redirected once the ramp is complete [0-1]."""
    ramp_months: Annotated[float, AfterValidator(_months_ge0)] = 0.0
    """Months from ``start`` over which the redirected share rises linearly [months]."""
    unprocessed: Literal["stock", "lost"] = "stock"
    """Ore the receiving side cannot separate: ``stock`` waits (separated later as capacity
    allows), ``lost`` is lost (stays unmined, is sold elsewhere outside the model)."""
    capacity: list[SeparationCapacity] = Field(default_factory=list)
    """The receiving side's plants able to separate this ore (none: nothing is separated)."""
    source_ids: list[str] = Field(default_factory=list)
    """Source keys."""


class DemandChange(_Timed):
    """A change in demand of a sector in a region: a step ``level`` and/or compound growth."""

    kind: Literal["demand_change"]
    id: str = ""
    """Short label."""
    materials: Materials = Field(default_factory=lambda: ["all"])
    """Materials whose demand changes."""
    sector: str = "all"
    """Demand sector (a baseline sector name) or ``all``."""
    region: str = "all"
    """``all``, ``controller``, ``targets``, ``rest`` or an ISO3 code (its segment)."""
    level: Distribution = Field(default_factory=lambda: fixed(0.0))
    """One-off relative change at ``start`` (0.1 = +10%) [fraction]."""
    growth_per_year: Distribution = Field(default_factory=lambda: fixed(0.0))
    """Compound growth from ``start`` [fraction per year]."""
    persist: bool = True
    """Keep the level reached at ``end`` afterwards (False: demand returns to baseline)."""
    source_ids: list[str] = Field(default_factory=list)
    """Source keys."""

    @field_validator("level")
    @classmethod
    def _level(cls, v: Dist) -> Dist:
        check_within(v, -1.0, MAX_RELATIVE_CHANGE,
                     reason="demand cannot fall by more than 100%, and a rise above "
                     f"{MAX_RELATIVE_CHANGE:g}x is not a demand change the model can price")
        return v

    @field_validator("growth_per_year")
    @classmethod
    def _growth(cls, v: Dist) -> Dist:
        lo, _ = v.support()
        if not lo > -1.0:
            raise ValueError(f"every draw must be above -1 (a fall of 100% a year leaves no "
                             f"demand); this distribution can draw {lo:g}")
        check_within(v, -1.0, MAX_RELATIVE_CHANGE,
                     reason=f"growth above {MAX_RELATIVE_CHANGE:g}x a year is not a demand "
                     "change the model can price")
        return v


class StockpileRelease(_Timed):
    """A government stockpile sold into a region's market at a constant rate."""

    kind: Literal["stockpile_release"]
    id: str = ""
    """Short label."""
    region: str = "targets"
    """``controller``, ``targets``, ``rest`` or an ISO3 code (its segment)."""
    materials: Materials
    """Released materials."""
    tonnes: Annotated[float, Field(gt=0), AfterValidator(_tonnes)]
    """Total release per material over the release period [t]."""
    source_ids: list[str] = Field(default_factory=list)
    """Source keys."""

    @model_validator(mode="after")
    def _finite(self) -> StockpileRelease:
        if self.end is None and self.duration_months is None:
            raise ValueError("stockpile_release needs end or duration_months")
        return self


class PriceFloor(_Timed):
    """A guaranteed producer price (contract for difference) in a region.

    Producers decide on expansion with ``max(market price, floor)``; the market price itself is
    not set by the floor.
    """

    kind: Literal["price_floor"]
    id: str = ""
    """Short label."""
    region: str = "rest"
    """``targets``, ``rest`` or an ISO3 code (its segment)."""
    materials: Materials
    """Materials covered."""
    usd_per_kg: Annotated[float, Field(gt=0), AfterValidator(_price)]
    """Floor price [USD/kg]."""
    source_ids: list[str] = Field(default_factory=list)
    """Source keys."""


class Tariff(_Timed):
    """An ad-valorem import tariff of a region on goods from the controller."""

    kind: Literal["tariff"]
    id: str = ""
    """Short label."""
    region: str = "targets"
    """Importing region: ``targets``, ``rest`` or an ISO3 code (its segment)."""
    materials: Materials
    """Materials covered."""
    rate: Annotated[float, Field(ge=0), AfterValidator(_tariff)]
    """Ad-valorem rate (0.25 = 25%) [fraction]."""
    source_ids: list[str] = Field(default_factory=list)
    """Source keys."""


#: Any shock, told apart by its ``kind``.
Shock = Annotated[
    ExportRestriction | ProductionOutage | DemandChange | StockpileRelease | PriceFloor | Tariff
    | FlowRedirect,
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------------------
# Scenario
# --------------------------------------------------------------------------------------


class Scenario(_Input):
    """A disruption scenario: timing, shocks and parameter distributions."""

    name: str
    """Identifier (the built-in file name without ``.yaml``)."""
    title: str = ""
    """One-line human title."""
    description: str = ""
    """What the scenario encodes and from which sources."""
    start: Month
    """First simulated month."""
    horizon_months: int = Field(default=36, gt=0, le=600)
    """Simulated months [months]."""
    step_months: int = Field(default=1, gt=0, le=12)
    """Length of one step [months]; must divide the horizon."""
    baseline_year: int = Field(default=2024, ge=1990, le=2100)
    """Year of the baseline market (supply, demand, prices)."""
    controller: str = "CHN"
    """ISO3 code of the country whose controls define the market segments."""
    materials: list[str] | None = None
    """Materials simulated (default: all 17 elements, NdFeB and SmCo)."""
    pipeline: bool = False
    """Add the baseline's project pipeline (with lead times and delay risk) as new supply."""
    shocks: list[Shock] = Field(default_factory=list)
    """Shocks and policy responses."""
    parameters: Parameters = Field(default_factory=Parameters)
    """Parameter distributions for the Monte Carlo draws."""
    source_ids: list[str] = Field(default_factory=list)
    """Sources for the scenario as a whole."""

    @field_validator("materials")
    @classmethod
    def _materials(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _check_materials(v)

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        if self.horizon_months % self.step_months:
            raise ValueError("step_months must divide horizon_months")
        for s in self.shocks:
            if isinstance(s, ExportRestriction) and s.controller != self.controller:
                raise ValueError(
                    f"export restriction {s.id or '?'} has controller {s.controller}; the "
                    f"scenario controller is {self.controller} (one controller per scenario)"
                )
        return self

    # -- constructors ------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path: str | Path, *, store: Store | None = None) -> Scenario:
        """Read a scenario file; errors name the file, line and field.

        Parameters
        ----------
        path : str or pathlib.Path
            YAML file (UTF-8, at most :data:`oreflow.yamlio.MAX_BYTES` bytes).
        store : oreflow.data.store.Store, optional
            Store whose ``sources``, ``policies`` and ``licensing`` keys the ``source_ids``
            are checked against (default the embedded data plus user imports).

        Raises
        ------
        ScenarioError
            If the file cannot be read (missing, a directory, too large, not UTF-8), the YAML
            cannot be parsed safely, or the content is invalid.
        """
        try:
            text = read_text(path, what="scenario file")
        except YamlInputError as exc:
            raise ScenarioError(str(exc)) from None
        return cls.parse_yaml(text, source=str(path), store=store)

    @classmethod
    def parse_yaml(cls, text: str, *, source: str = "<string>",
                   store: Store | None = None) -> Scenario:
        """Parse a scenario from YAML text (``source`` names it in error messages).

        The text is read with :func:`oreflow.yamlio.parse_yaml` (size, alias, node and depth
        limits; repeated keys rejected); every ``source_ids`` entry must be a key of the
        store's ``sources``, ``policies`` or ``licensing`` table.
        """
        try:
            data, node = parse_yaml(text, source=source)
        except YamlInputError as exc:
            raise ScenarioError(str(exc)) from None
        if not isinstance(data, dict):
            raise ScenarioError(f"{source}:1: a scenario must be a mapping")
        try:
            scenario = cls.model_validate(data)
        except ValidationError as exc:
            raise ScenarioError(_format_errors(exc, node, source)) from None
        problems = check_source_ids(data, node, source, store)
        if problems:
            lines = [f"{source}: invalid scenario ({len(problems)} error(s))", *problems]
            raise ScenarioError("\n".join(lines))
        return scenario

    @classmethod
    def builtin(cls, name: str, *, store: Store | None = None) -> Scenario:
        """Load a built-in scenario by name (see :func:`list_builtin`)."""
        names = list_builtin()
        if name not in names:
            raise ScenarioError(unknown("built-in scenario", name, names).lines()[0])
        res = resources.files("oreflow.simulate").joinpath("builtin", f"{name}.yaml")
        return cls.parse_yaml(res.read_text(encoding="utf-8"), source=f"builtin/{name}.yaml",
                              store=store)

    @classmethod
    def load(cls, scenario: Scenario | str | Path, *, store: Store | None = None) -> Scenario:
        """The one scenario loader: a :class:`Scenario`, a built-in name or a YAML path.

        A string ending in ``.yaml``/``.yml``, or naming an existing file, is read as a file
        (:meth:`from_yaml`); any other string is a built-in name (:meth:`builtin`), with a
        did-you-mean suggestion when it is unknown.

        Examples
        --------
        >>> Scenario.load("full-embargo").name
        'full-embargo'
        """
        if isinstance(scenario, Scenario):
            return scenario
        path = Path(scenario)
        if path.suffix in {".yaml", ".yml"} or path.exists():
            return cls.from_yaml(path, store=store)
        return cls.builtin(str(scenario), store=store)

    # -- helpers -----------------------------------------------------------------------

    def hash(self) -> str:
        """Content hash (16 hex digits of SHA-256 over the canonical JSON form)."""
        blob = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _repr_html_(self) -> str:
        """Notebook view: name, title, timing and one row per shock (kind, id, what and
        when); the full definition is :meth:`to_yaml`."""
        rows = []
        for sh in self.shocks:
            d = sh.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            kind = str(d.pop("kind", type(sh).__name__))
            ident = str(d.pop("id", ""))
            d.pop("source_ids", None)
            what = "; ".join(f"{k}: {v}" for k, v in d.items())
            rows.append(f"<tr><td>{html.escape(kind)}</td><td>{html.escape(ident)}</td>"
                        f"<td>{html.escape(what)}</td></tr>")
        head = (f"<p><b>{html.escape(self.name)}</b> {html.escape(self.title)}<br>"
                f"start {html.escape(str(self.start))}, {self.horizon_months} months, "
                f"controller {html.escape(str(self.controller))}, hash {self.hash()}</p>")
        table = ("<table><tr><th>shock</th><th>id</th><th>definition</th></tr>"
                 + "".join(rows) + "</table>") if rows else "<p>No shocks.</p>"
        return head + table

    def to_yaml(self) -> str:
        """The scenario as YAML text (round-trips through :meth:`parse_yaml`)."""
        return yaml.safe_dump(
            self.model_dump(mode="json", by_alias=True, exclude_defaults=True), sort_keys=False
        )

    def with_horizon(self, months: int) -> Scenario:
        """A copy with another horizon [months]."""
        return self.model_copy(update={"horizon_months": months})

    def material_list(self) -> tuple[str, ...]:
        """Simulated materials, expanded and ordered."""
        return expand_materials(self.materials or ["all"])

    def restrictions(self) -> list[ExportRestriction]:
        """The export restrictions among the shocks."""
        return [s for s in self.shocks if isinstance(s, ExportRestriction)]

    def named_targets(self) -> tuple[str, ...]:
        """Destinations named by any restriction (ISO3 codes or bloc names), in order."""
        out: list[str] = []
        for r in self.restrictions():
            if not r.all_destinations:
                out.extend(t for t in r.targets if t not in out)
        return tuple(out)


def list_builtin() -> list[str]:
    """Names of the built-in scenarios.

    Examples
    --------
    >>> "china-2025-04" in list_builtin()
    True
    """
    root = resources.files("oreflow.simulate").joinpath("builtin")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


# --------------------------------------------------------------------------------------
# Error reporting with line numbers
# --------------------------------------------------------------------------------------


def _format_errors(exc: ValidationError, node: yaml.Node | None, source: str) -> str:
    """One headline and one ``file:line: field PATH: message`` line per pydantic error."""
    lines = [f"{source}: invalid scenario ({exc.error_count()} error(s))"]
    for err in exc.errors():
        loc = err["loc"]
        line, field = locate(node, loc)
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden" and loc:
            name = str(loc[-1])
            msg = f"unknown field '{name}'" + did_you_mean(name, known_fields(Scenario, loc))
        where = f"{source}:{line}" if line is not None else source
        lines.append(f"  {where}: field {field}: {msg}")
    return "\n".join(lines)
