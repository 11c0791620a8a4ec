"""The planner: choose which options to start when, to meet a bloc's targets at least cost
(issue 12).

One concern: turn a bloc's starting balance (:mod:`oreflow.plan.targets`), its targets and
the options (:mod:`oreflow.plan.options`) into a mixed-integer program
(:mod:`oreflow.plan.model`), solve it, and read the plan back (:mod:`oreflow.plan.result`).
The two-stage stochastic version over sampled futures is in :mod:`oreflow.plan.stochastic`
and reuses the pieces here.

The program (units: stage units per year, ``t REO`` for mine, separation and metal,
``t NdFeB`` for magnets; money in million USD)
------------------------------------------------------------------------------------------
Decisions: ``x[o, t]`` — start option *o* in year *t* (binary for a project, at most once;
an integer number of modules for a generic option). Started in *t*, option *o* produces in
year *y* the share ``h(y; t + L_o + d_o, R_o)`` of its nameplate ``K_o`` (exact yearly
average of a linear ramp, :func:`oreflow.plan.result.year_share`), with lead time ``L_o``,
the delay ``d_o`` the plan assumes and ramp ``R_o``; in the ``expected`` basis times
``1 - p_fail`` (an expected capacity), in the ``nominal`` basis at the announced dates.

Capacity of the bloc at stage *s* in year *y*:
``C[s, y] = Q_s + Σ_decided K h + Σ_{o member} K_o h x[o, t]``;
supply from allowed outsiders (non-members other than the controller):
``O[s, y] = O_s + Σ_{o non-member} K_o h x[o, t]`` (a non-member project counts as an
offtake: all its output may go to the bloc).

Output the bloc can make from allowed material (stage coupling), ``u[s, y] >= 0``:
``u[s, y] <= C[s, y]`` and ``a_s u[s, y] <= u[s-1, y] + O[s-1, y]`` with ``a_s`` the REO-eq
input per unit of output over the upstream unit (1 for separation and metal, 0.365 t REO per
t NdFeB for magnets). Recycled oxide enters at separation and needs no ore.

Targets, in year *y* with demand ``D[s, y] = D_s (1 + g)^{y - y_data}``:
``self``: ``u[s, y] >= θ D[s, y]``; ``supplier``: ``D[s, y] - C[s, y] - O[s, y] <= θ D[s, y]``
(the controller supplies what the bloc's plants and allowed outsiders cannot);
``recycling``: ``Rec[y] >= θ D[mine, y]``.

Money: option *o* started in *t* spends ``I_o`` evenly over the years from *t* to its first
output (at least one); the total and each year's spending are at most the budgets; the
objective is the spending discounted to the planning year at rate *r*.

Infeasible targets are answered by :func:`oreflow.plan.model.diagnose` (the cheapest
relaxation of the target rows) and, per missed target, the earliest year it could be met.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import pandas as pd
import pycountry

from oreflow.chain.elements import oxide_factor
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError
from oreflow.plan.alignment import Aligned, Alignment, resolve_alignment
from oreflow.plan.defaults import STAGES, PlanDefaults, load_defaults
from oreflow.plan.model import Expr, Model, Solution, Var, Violation, diagnose, quicksum
from oreflow.plan.options import (
    DEFAULT_YEAR,
    Option,
    generic_options,
    project_options,
    recycling_options,
)
from oreflow.plan.result import Choice, PlanResult, TargetMiss, year_share
from oreflow.plan.targets import BlocBaseline, Target, bloc_baseline

__all__ = [
    "DECIDED_CLASSES",
    "Frontier",
    "PlanSettings",
    "Problem",
    "frontier",
    "option_stage_factor",
    "solve_plan",
]

#: Status classes counted as already decided (financed or building): not the plan's
#: choice and not its money.
DECIDED_CLASSES: tuple[str, ...] = ("ramping", "construction", "committed")
#: Years after the last target year an infeasible target is tried at (earliest-year search).
EARLIEST_SEARCH_YEARS = 30
#: Tolerance on a target row when reading a solution [share].
_TOL = 1e-6

Basis = Literal["expected", "nominal"]


@dataclass(frozen=True)
class PlanSettings:
    """How the planner reads the options and the money.

    Attributes
    ----------
    year : int, default 2026
        Planning year: the first year an option can be started; spending is discounted to it.
    budget_musd : float, optional
        Total capital the plan may commit [million USD, undiscounted].
    annual_budget_musd : float, optional
        Spending allowed in any one year [million USD].
    discount_rate_pct : float, optional
        Real discount rate [%/yr] (default: the defaults file, 8%).
    demand_growth_pct_per_yr : float, optional
        Growth of the bloc's demand [%/yr] (default: the defaults file, 8.7%).
    basis : {"expected", "nominal"}, default "expected"
        ``expected``: options come online after their lead time plus the median delay of
        their status class, with capacity × (1 − p_fail); ``nominal``: at the announced
        dates, full capacity.
    decided_classes : tuple of str
        Status classes counted as already decided (default :data:`DECIDED_CLASSES`).
    countries : tuple of str, optional
        Where generic capacity and recycling may be built (default: the bloc's members with
        an ISO 3166 code, not aggregates such as ``EUU``).
    build_rate_pct_per_yr : float, optional
        Most new generic capacity of a stage the whole bloc may start in one year, as a
        share of the world's output of the stage [%/yr] (default: the defaults file, 4%,
        Sprecher et al. 2017's growth of supply outside China after 2011; recycling modules
        against the world's recycled output). Pipeline projects are not limited by it; the
        result says when it binds.
    time_limit_s : float, default 60
        HiGHS time limit [s].
    mip_rel_gap : float, default 0.005
        Relative MIP gap at which HiGHS stops.
    """

    year: int = DEFAULT_YEAR
    budget_musd: float | None = None
    annual_budget_musd: float | None = None
    discount_rate_pct: float | None = None
    demand_growth_pct_per_yr: float | None = None
    basis: Basis = "expected"
    decided_classes: tuple[str, ...] = DECIDED_CLASSES
    countries: tuple[str, ...] | None = None
    build_rate_pct_per_yr: float | None = None
    time_limit_s: float = 60.0
    mip_rel_gap: float = 0.005

    def __post_init__(self) -> None:
        for name in ("budget_musd", "annual_budget_musd"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise InputError(f"{name.removesuffix('_musd')} must be a non-negative number "
                                 f"of million USD (got {v})")
        if self.basis not in ("expected", "nominal"):
            raise InputError(f"basis must be 'expected' or 'nominal' (got '{self.basis}')")
        if self.build_rate_pct_per_yr is not None and not (
                math.isfinite(self.build_rate_pct_per_yr) and self.build_rate_pct_per_yr > 0):
            raise InputError("the build rate must be a positive share of world output [%/yr] "
                             f"(got {self.build_rate_pct_per_yr})")
        if not self.time_limit_s > 0:
            raise InputError("the time limit must be positive")


def option_stage_factor(option: Option) -> float:
    """Chain-stage units per unit of the option's capacity.

    Mine and separation capacities are tonnes of oxide (REO, NdPr oxide, Dy+Tb oxide...),
    counted one to one as t REO; metal capacities are tonnes of metal, counted as their oxide
    equivalent (× 1.166 for NdPr, the Nd2O3/Nd mass ratio); magnet capacities are tonnes of
    NdFeB, the chain's magnet unit.
    """
    if option.stage == "metal":
        return oxide_factor("Nd")
    return 1.0


@dataclass(frozen=True)
class _Opt:
    """One option as the program sees it."""

    option: Option
    member: bool
    integer: bool
    ub: int
    lead: float
    delay: float
    ramp: float
    avail: float
    capacity: float  # stage units per year, one unit
    capex: float  # M USD per unit
    recycling: bool
    delay_span: tuple[float, float, float]  # low, mode, high beyond the lead time [yr]

    def online(self, t: int, delay: float | None = None) -> float:
        return t + self.lead + (self.delay if delay is None else delay)

    def spend_years(self, t: int) -> list[int]:
        n = max(1, math.ceil(self.lead + self.delay - 1e-9))
        return list(range(t, t + n))


@dataclass
class Problem:
    """A planning problem: the bloc's start, its targets, the options and the settings.

    Built by :meth:`build`; :func:`solve_plan` and :mod:`oreflow.plan.stochastic` assemble
    programs from it. Fields are read-only by convention.
    """

    base: BlocBaseline
    targets: tuple[Target, ...]
    settings: PlanSettings
    defaults: PlanDefaults
    options: tuple[_Opt, ...]
    decided: tuple[_Opt, ...]
    years: tuple[int, ...]
    discount: float
    growth: float
    build_limit: dict[str, float]
    notes: list[str] = field(default_factory=list)
    #: Per stage ``(Δ output, Δ allowed outside supply)`` [stage unit/yr] from a country's
    #: alignment (:mod:`oreflow.plan.align`), counted from :attr:`shift_from` on.
    shift: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    shift_from: int = 0
    #: ``(option ids, most capacity)``: the started capacity of these options over all
    #: years is at most the bound [stage unit/yr] (an aligned country's potential).
    caps: tuple[tuple[tuple[str, ...], float], ...] = ()

    # -- construction ------------------------------------------------------------------

    @classmethod
    def build(cls, bloc: str | Sequence[str], targets: Sequence[Target], *,
              controller: str = "CHN", settings: PlanSettings | None = None,
              options: Sequence[Option] | None = None, store: Store | None = None,
              defaults: PlanDefaults | None = None, horizon: int | None = None,
              base: BlocBaseline | None = None, alignment: Aligned | None = None) -> Problem:
        """Assemble the problem from the data (see :func:`solve_plan` for the arguments;
        ``horizon`` extends the planning years beyond the last target year; ``base``
        replaces the bloc's balance read from the data, e.g. a hand-made one in tests;
        ``alignment`` a country's alignment resolved by :func:`oreflow.plan.align.resolve`)."""
        st = resolve_store(store)
        cfg = settings or PlanSettings()
        dfl = defaults or load_defaults(store=st)
        if not targets and horizon is None:
            raise InputError("no target to plan for")
        if base is None:
            base = bloc_baseline(bloc, controller, store=st)
        last = max([t.year for t in targets] + ([horizon] if horizon is not None else []))
        if last <= cfg.year:
            raise InputError(f"every target year must be after the planning year {cfg.year} "
                             f"(got {last})")
        countries = tuple(cfg.countries) if cfg.countries is not None else tuple(
            c for c in base.members if pycountry.countries.get(alpha_3=c) is not None)
        if options is None:
            options = (project_options(store=st, defaults=dfl, year=cfg.year)
                       + generic_options(STAGES, countries, store=st, defaults=dfl,
                                         year=cfg.year)
                       + recycling_options(countries, store=st, defaults=dfl, year=cfg.year))
        rate = dfl.planning.discount_rate_pct.value if cfg.discount_rate_pct is None \
            else cfg.discount_rate_pct
        growth = dfl.planning.demand_growth_pct_per_yr.value \
            if cfg.demand_growth_pct_per_yr is None else cfg.demand_growth_pct_per_yr
        notes = [
            f"Bloc demand grows {growth:g}%/yr from the {base.year} data at every stage "
            "(NdFeB demand CAGR, adamas_2024_q3; an approximation for stages that also serve "
            "non-magnet uses).",
            f"Spending is discounted to {cfg.year} at {rate:g}%/yr (estimate).",
            "Self-sufficiency counts output the bloc can make from allowed material: its own "
            "upstream output and supply from non-members other than "
            f"{base.controller} (a magnet needs {base.value('magnet', 'reo_per_unit'):.3f} "
            "t REO-eq of metal per tonne).",
            "Non-member projects count as allowed supply to the bloc (an offtake of all their "
            "output).",
        ]
        if cfg.basis == "expected":
            notes.append("Options come online after their lead time plus the median delay of "
                         "their status class, at capacity × (1 − p_fail).")
        build = dfl.planning.build_rate_pct_per_yr.value if cfg.build_rate_pct_per_yr is None \
            else cfg.build_rate_pct_per_yr
        limit = {s: build / 100.0 * base.value(s, "world_output") for s in base.stages}
        limit["recycling"] = build / 100.0 * base.world_recycling_t_per_yr
        notes.append(f"New generic capacity started per year is at most {build:g}% of world "
                     "output of the stage (" + ", ".join(f"{k} {v:,.0f}" for k, v in
                                                        limit.items()) + " a year; "
                     "sprecher_2017, estimate).")
        allied: frozenset[str] = frozenset()
        blocked: frozenset[str] = frozenset()
        if alignment is not None:
            options = [*options, *alignment.options]
            allied, blocked = alignment.allied, alignment.blocked
            notes += list(alignment.notes)
        opts, decided = [], []
        skipped, elsewhere = [], []
        for o in options:
            item = _item(o, base, cfg, limit, allied=allied, blocked=blocked)
            if item is None:
                skipped.append(o.option_id)
            elif o.project_id is not None and o.status_class in cfg.decided_classes:
                if item.member and (alignment is None or alignment.counts_decided
                                    or o.iso3 not in allied):
                    decided.append(item)
                else:
                    elsewhere.append(o.option_id)
            else:
                opts.append(item)
        if elsewhere:
            notes.append("Decided projects outside the bloc are not counted as its supply "
                         "(they serve their own buyers unless the plan pays for an offtake): "
                         + ", ".join(sorted(elsewhere)) + ".")
        if skipped:
            notes.append("Options the planner cannot use (a stockpile, an offtake, no "
                         "capacity or cost, or the controller's country): "
                         + ", ".join(sorted(skipped)) + ".")
        years = tuple(range(cfg.year, last + 1))
        if alignment is None:
            return cls(base, tuple(targets), cfg, dfl, tuple(opts), tuple(decided), years,
                       rate / 100.0, growth, limit, notes)
        return cls(base, tuple(targets), cfg, dfl, tuple(opts), tuple(decided), years,
                   rate / 100.0, growth, limit, notes, shift=dict(alignment.shift),
                   shift_from=alignment.from_year, caps=tuple(alignment.caps))

    # -- pieces of the program ---------------------------------------------------------

    def base_output(self, stage: str, year: int) -> float:
        """The bloc's output of the data year at ``stage`` as counted in ``year``, with an
        aligned country's output from its alignment year [stage unit/yr]."""
        extra = self.shift.get(stage, (0.0, 0.0))[0] if year >= self.shift_from else 0.0
        return self.base.value(stage, "output") + extra

    def base_other(self, stage: str, year: int) -> float:
        """Supply of the data year to the bloc from allowed outsiders at ``stage`` as
        counted in ``year`` (an aligned country's supply moves out of it) [stage unit/yr]."""
        extra = self.shift.get(stage, (0.0, 0.0))[1] if year >= self.shift_from else 0.0
        return max(0.0, self.base.value(stage, "other_supply") + extra)

    def demand(self, stage: str, year: int, growth: float | None = None) -> float:
        """Bloc demand at ``stage`` in ``year`` [stage unit/yr]."""
        return self.base.demand(stage, year, self.growth if growth is None else growth)

    def starts(self, o: _Opt) -> list[int]:
        """Years ``o`` may start in so that it produces before the last target year ends."""
        first = max(self.settings.year, o.option.earliest_decision_year)
        return [t for t in range(first, self.years[-1] + 1)
                if o.online(t) < self.years[-1] + 1]

    def input_need(self, stage: str) -> float:
        """Upstream units one unit of ``stage`` output needs (REO-eq over REO-eq)."""
        up = _upstream(self.base.stages, stage)
        return self.base.value(stage, "reo_per_unit") / self.base.value(up, "reo_per_unit")

    def decided_capacity(self, stage: str, year: int, *, recycling: bool = False,
                         delays: Mapping[str, float] | None = None,
                         alive: Mapping[str, float] | None = None) -> float:
        """Capacity of the decided pipeline (members' projects) at ``stage`` in ``year``
        [stage unit/yr]; ``delays``/``alive`` as in :meth:`contributions`."""
        total = 0.0
        for o in self.decided:
            if o.option.stage != stage or o.recycling != recycling:
                continue
            oid = o.option.option_id
            avail = o.avail if alive is None else alive[oid]
            d = None if delays is None else delays[oid]
            total += o.capacity * avail * year_share(year, o.online(self.settings.year, d),
                                                     o.ramp)
        return total

    def add_starts(self, m: Model, tag: Hashable = "x") -> dict[tuple[str, int], Var]:
        """Start variables of every option, the at-most-once rows of projects and the
        bloc's build rate (generic modules of a stage started in a year)."""
        x: dict[tuple[str, int], Var] = {}
        rate: dict[tuple[str, int], list[Expr]] = {}
        for o in self.options:
            ts = self.starts(o)
            for t in ts:
                v = m.add_var((tag, o.option.option_id, t), ub=o.ub, integer=True)
                x[o.option.option_id, t] = v
                if o.integer:
                    rate.setdefault((_rate_key(o), t), []).append(v * o.capacity)
            if ts and not o.integer:
                m.add_constraint(quicksum(x[o.option.option_id, t] for t in ts), "<=", 1,
                                 ("once", tag, o.option.option_id), group="once")
        for (key, t), vs in rate.items():
            m.add_constraint(quicksum(vs), "<=", self.build_limit[key],
                             ("build_rate", tag, key, t), group="build_rate")
        by_id = {o.option.option_id: o for o in self.options}
        for k, (ids, most) in enumerate(self.caps):
            terms = [x[oid, t] * by_id[oid].capacity for oid in ids if oid in by_id
                     for t in self.starts(by_id[oid])]
            if terms:
                m.add_constraint(quicksum(terms), "<=", most, ("potential", tag, k),
                                 group="potential")
        return x

    def contributions(self, stage: str, year: int, *, member: bool, recycling: bool = False,
                      delays: Mapping[str, float] | None = None,
                      alive: Mapping[str, float] | None = None,
                      ) -> list[tuple[str, int, float]]:
        """``(option_id, start, stage units/yr per unit started)`` of every option that adds
        capacity at ``stage`` in ``year`` when started then: members' or non-members',
        primary or recycled; ``delays``/``alive`` override the plan's delay and
        availability per option (a sampled future)."""
        out = []
        for o in self.options:
            if o.option.stage != stage or o.member != member or o.recycling != recycling:
                continue
            oid = o.option.option_id
            avail = o.avail if alive is None else alive[oid]
            if avail <= 0:
                continue
            d = None if delays is None else delays[oid]
            for t in self.starts(o):
                h = year_share(year, o.online(t, d), o.ramp)
                if h > 0:
                    out.append((oid, t, o.capacity * avail * h))
        return out

    def capacity(self, x: Mapping[tuple[str, int], Var], stage: str, year: int, *,
                 member: bool, recycling: bool = False,
                 delays: Mapping[str, float] | None = None,
                 alive: Mapping[str, float] | None = None) -> Expr:
        """New capacity at ``stage`` in ``year`` from the started options [stage unit/yr]
        (see :meth:`contributions`)."""
        return quicksum(x[oid, t] * c for oid, t, c in self.contributions(
            stage, year, member=member, recycling=recycling, delays=delays, alive=alive))

    def spending(self, x: Mapping[tuple[str, int], Var]) -> dict[int, Expr]:
        """Spending by calendar year [million USD]."""
        by_year: dict[int, list[Expr]] = {}
        for o in self.options:
            for t in self.starts(o):
                yrs = o.spend_years(t)
                for y in yrs:
                    by_year.setdefault(y, []).append(x[o.option.option_id, t]
                                                     * (o.capex / len(yrs)))
        return {y: quicksum(v) for y, v in sorted(by_year.items())}

    def discounted(self, spend: Mapping[int, Expr]) -> Expr:
        """Spending by year discounted to the planning year [million USD]."""
        return quicksum(e * (1 + self.discount) ** -(y - self.settings.year)
                        for y, e in spend.items())

    def add_budgets(self, m: Model, spend: Mapping[int, Expr]) -> None:
        """The total and annual budget rows (hard) over spending by year."""
        cfg = self.settings
        if cfg.budget_musd is not None and spend:
            m.add_constraint(quicksum(spend.values()), "<=", cfg.budget_musd, ("budget",),
                             group="budget")
        if cfg.annual_budget_musd is not None:
            for y, e in spend.items():
                m.add_constraint(e, "<=", cfg.annual_budget_musd, ("budget", y),
                                 group="budget")

    def add_balance(self, m: Model, x: Mapping[tuple[str, int], Var], years: Iterable[int],
                    tag: Hashable = "u", *, delays: Mapping[str, float] | None = None,
                    alive: Mapping[str, float] | None = None,
                    ) -> dict[tuple[str, int], tuple[Var, Expr, Expr, Expr]]:
        """Coupled output ``u[s, y]`` with its capacity, allowed outside supply and recycled
        supply expressions: ``(u, C, O, Rec)`` per (stage, year)."""
        out: dict[tuple[str, int], tuple[Var, Expr, Expr, Expr]] = {}
        for y in years:
            prev: tuple[Var, Expr] | None = None
            for s in self.base.stages:
                dm = self.decided_capacity(s, y, delays=delays, alive=alive)
                rm = self.decided_capacity(s, y, recycling=True, delays=delays, alive=alive)
                cap = (self.base_output(s, y) + dm
                       + self.capacity(x, s, y, member=True, delays=delays, alive=alive))
                other = (self.base_other(s, y)
                         + self.capacity(x, s, y, member=False, delays=delays, alive=alive))
                rec = (self.base.recycling_t_per_yr + rm
                       + self.capacity(x, s, y, member=True, recycling=True, delays=delays,
                                       alive=alive))
                u = m.add_var((tag, s, y))
                m.add_constraint(u - cap - (rec if s == "separation" else 0.0), "<=", 0.0,
                                 (tag, "cap", s, y), group="capacity")
                if prev is not None:
                    need = self.input_need(s)
                    pu, pother = prev
                    # recycled oxide needs no ore: only primary separation is fed by mines
                    lhs = u * need - (rec if s == "separation" else 0.0)
                    m.add_constraint(lhs - pu - pother, "<=", 0.0, (tag, "feed", s, y),
                                     group="coupling")
                out[s, y] = (u, cap, other, rec)
                prev = (u, other)
        return out

    def add_targets(self, m: Model, bal: Mapping[tuple[str, int], tuple[Var, Expr, Expr, Expr]],
                    targets: Iterable[Target], tag: Hashable = "target",
                    growth: float | None = None) -> None:
        """One row per target (group ``target``, soft in a diagnosis)."""
        for tg in targets:
            if tg.measure == "recycling":
                _, _, _, rec = bal["separation", tg.year]
                rhs = tg.value * self.demand(self.base.stages[0], tg.year, growth)
                m.add_constraint(rec, ">=", rhs, (tag, tg.spec), group="target")
                continue
            u, cap, other, _ = bal[tg.stage, tg.year]
            d = self.demand(tg.stage, tg.year, growth)
            if tg.measure == "self":
                m.add_constraint(u, ">=", tg.value * d, (tag, tg.spec), group="target")
            else:
                m.add_constraint(cap + other, ">=", (1 - tg.value) * d, (tag, tg.spec),
                                 group="target")


    # -- solving -------------------------------------------------------------------------

    def with_targets(self, targets: Sequence[Target]) -> Problem:
        """The same problem for other targets (years follow the targets)."""
        last = max(t.year for t in targets) if targets else self.years[-1]
        return replace(self, targets=tuple(targets),
                       years=tuple(range(self.settings.year, last + 1)))

    def solve(self, say: Callable[[str], None] = lambda _m: None, *,
              search: bool = True) -> PlanResult:
        """Least cost to meet the targets; when they cannot be met, the least-cost plan for
        the cheapest relaxation, with what each missed target can reach and (``search``)
        from which year."""
        cfg = self.settings
        m, x = _cost_model(self, self.targets)
        say(f"solving ({m.num_vars} variables, {m.num_constraints} rows)")
        sol = m.solve(time_limit=cfg.time_limit_s, mip_rel_gap=cfg.mip_rel_gap)
        if sol.has_values:
            return self.read(_starts(sol, x), status=str(sol.status), gap=sol.gap or 0.0,
                             seconds=sol.seconds)
        if sol.status not in ("infeasible", "other"):
            raise InputError(f"the solver stopped without a plan ({sol.status}: "
                             f"{sol.message}); raise the time limit")
        say("diagnosing the targets")
        by_spec = {("target", t.spec): t for t in self.targets}
        weights: dict[Hashable, float] = {name: 1.0 / max(self.demand(
            self.base.stages[0] if t.measure == "recycling" else t.stage, t.year), 1e-9)
            for name, t in by_spec.items()}
        diag = diagnose(m, ["target"], penalty=weights, time_limit=cfg.time_limit_s,
                        mip_rel_gap=cfg.mip_rel_gap)
        if not diag.hard_feasible:
            raise InputError("no plan satisfies the budgets and build limits even without "
                             "the targets")
        relaxed: list[Target] = []
        misses: list[TargetMiss] = []
        missed = {v.name: v for v in diag.violations}
        for name, tg in by_spec.items():
            if name not in missed:
                relaxed.append(tg)
                continue
            share = _share(self, tg, missed[name])
            if search:
                say(f"searching the earliest year for {tg.spec}")
            misses.append(TargetMiss(tg.spec, tg.year, tg.value, share,
                                     _earliest(self, tg) if search else None))
            # a hair inside the reachable value, so the least-cost re-solve is feasible
            eps = 1e-7
            relaxed.append(replace(tg, value=share + eps if tg.measure == "supplier"
                                   else max(0.0, share - eps)))
        say("least cost of the best reachable plan")
        m2, x2 = _cost_model(self, relaxed)
        sol2 = m2.solve(time_limit=cfg.time_limit_s, mip_rel_gap=cfg.mip_rel_gap)
        use, xs = (sol2, x2) if sol2.has_values else (diag.solution, x)
        return self.read(_starts(use, xs), status="infeasible", gap=use.gap or 0.0,
                         seconds=sol.seconds + diag.solution.seconds + sol2.seconds,
                         misses=tuple(misses))

    # -- reading a plan ----------------------------------------------------------------

    def balance_numbers(self, starts: Mapping[tuple[str, int], float], year: int, *,
                        delays: Mapping[str, float] | None = None,
                        alive: Mapping[str, float] | None = None,
                        ) -> dict[str, dict[str, float]]:
        """Per stage in ``year``: ``existing``, ``decided``, ``planned`` member capacity,
        ``outside`` allowed supply (base + planned non-members), ``recycled``,
        and ``output`` the bloc can make from allowed material (forward pass of the
        coupling rows; the most the program's ``u`` can reach) [stage unit/yr]."""
        rows: dict[str, dict[str, float]] = {}
        prev: tuple[float, float] | None = None

        def new(stage: str, member: bool, recycling: bool = False) -> float:
            return sum(starts.get((oid, t), 0.0) * c for oid, t, c in self.contributions(
                stage, year, member=member, recycling=recycling, delays=delays, alive=alive))

        for s in self.base.stages:
            dm = self.decided_capacity(s, year, delays=delays, alive=alive)
            rm = self.decided_capacity(s, year, recycling=True, delays=delays, alive=alive)
            planned = new(s, True)
            outside_new = new(s, False)
            rec = (self.base.recycling_t_per_yr + rm + new(s, True, True)
                   if s == "separation" else 0.0)
            cap = self.base_output(s, year) + dm + planned
            outside = self.base_other(s, year) + outside_new
            if prev is None:
                out = cap
            else:
                need = self.input_need(s)
                out = min(cap + rec, (prev[0] + prev[1]) / need + rec)
            rows[s] = {"existing": self.base_output(s, year), "decided": dm,
                       "planned": planned, "outside": outside, "recycled": rec,
                       "output": out}
            prev = (out, outside)
        return rows

    def read(self, starts: Mapping[tuple[str, int], float], *, status: str, gap: float,
             seconds: float, misses: tuple[TargetMiss, ...] = (),
             objective: str = "cost") -> PlanResult:
        """The plan as a :class:`PlanResult` from its started units per (option, year)."""
        by_id = {o.option.option_id: o for o in self.options}
        choices = [self._choice(o, self.settings.year, 1, decided=True) for o in self.decided]
        choices += [self._choice(by_id[oid], t, int(n), decided=False)
                    for (oid, t), n in sorted(starts.items(), key=lambda kv: (kv[0][1],
                                                                              kv[0][0]))]
        # every target of a stage and year (recycled oxide enters at separation)
        targets: dict[tuple[str, int], list[str]] = {}
        for t in self.targets:
            stage = "separation" if t.measure == "recycling" else t.stage
            targets.setdefault((stage, t.year), []).append(t.spec)
        rows = []
        for y in self.years:
            before = self.balance_numbers({}, y)
            after = self.balance_numbers(starts, y)
            for s in self.base.stages:
                d = self.demand(s, y)
                b, a = before[s], after[s]
                rows.append({
                    "year": y, "stage": s, "unit": self.base.unit(s),
                    "demand": d, "existing": a["existing"], "decided": a["decided"],
                    "planned": a["planned"], "outside": a["outside"],
                    "recycled": a["recycled"],
                    "self_sufficiency_without": b["output"] / d if d > 0 else math.nan,
                    "self_sufficiency": a["output"] / d if d > 0 else math.nan,
                    "controller_share_without": _ctrl(b, d),
                    "controller_share": _ctrl(a, d),
                    "target": ", ".join(targets.get((s, y), [])),
                })  # fmt: skip
        balance = pd.DataFrame(rows)
        cost = _cost_table(self, choices)
        ids = sorted({sid for c in choices for sid in c.source_ids} | set(self.base.source_ids))
        return PlanResult(
            bloc=self.base.bloc, members=self.base.members, controller=self.base.controller,
            targets=tuple(t.spec for t in self.targets), objective=objective, status=status,
            gap=float(gap) if gap is not None and math.isfinite(gap) else 0.0,
            seconds=float(seconds), choices=tuple(choices), balance=balance, cost=cost,
            misses=misses, notes=tuple(self.notes) + _binding_notes(self, starts),
            source_ids=tuple(ids))

    def _choice(self, o: _Opt, t: int, units: int, *, decided: bool) -> Choice:
        op = o.option
        online = o.online(t)
        return Choice(
            option_id=op.option_id, kind=op.kind, name=op.name, stage=op.stage, iso3=op.iso3,
            material=op.material, start_year=t, online_year=online,
            full_year=online + o.ramp, units=units,
            capacity_t_per_yr=(op.capacity_t_per_yr or 0.0) * units,
            stage_t_per_yr=o.capacity * units, stock_t=0.0,
            capex_musd=o.capex * units, p_fail=op.p_fail, decided=decided,
            source_ids=tuple(op.source_ids), estimate=op.estimate)


def _ctrl(row: Mapping[str, float], demand: float) -> float:
    """The controller's share of the bloc's supply: what the bloc's plants, recycling and
    allowed outsiders cannot supply [0-1]."""
    if demand <= 0:
        return math.nan
    own = row["existing"] + row["decided"] + row["planned"] + row["recycled"]
    return max(0.0, demand - own - row["outside"]) / demand


def _cost_table(prob: Problem, choices: Sequence[Choice]) -> pd.DataFrame:
    """Spending by year and kind [million USD], with the discounted total."""
    by_id = {o.option.option_id: o for o in prob.options}
    rows = []
    for c in choices:
        if c.decided:
            continue
        yrs = by_id[c.option_id].spend_years(c.start_year)
        for y in yrs:
            rows.append({"year": y, "kind": c.kind, "capex_musd": c.capex_musd / len(yrs)})
    frame = pd.DataFrame(rows, columns=["year", "kind", "capex_musd"])
    if frame.empty:
        return pd.DataFrame(columns=["year", "kind", "capex_musd", "present_value_musd"])
    frame = frame.groupby(["year", "kind"], as_index=False).agg(capex_musd=("capex_musd", "sum"))
    frame["present_value_musd"] = frame["capex_musd"] * (1 + prob.discount) ** -(
        frame["year"] - prob.settings.year)
    return frame


def _rate_key(o: _Opt) -> str:
    """What a generic option's build rate is shared with: its stage (recycling apart)."""
    return "recycling" if o.recycling else o.option.stage


def _binding_notes(prob: Problem, starts: Mapping[tuple[str, int], float]) -> tuple[str, ...]:
    by_id = {o.option.option_id: o for o in prob.options}
    used: dict[tuple[str, int], float] = {}
    smallest: dict[str, float] = {}
    for o in prob.options:
        if o.integer:
            k = _rate_key(o)
            smallest[k] = min(smallest.get(k, math.inf), o.capacity)
    for (oid, t), n in starts.items():
        o = by_id[oid]
        if o.integer:
            used[_rate_key(o), t] = used.get((_rate_key(o), t), 0.0) + n * o.capacity
    hit = sorted(f"{k} in {t}" for (k, t), v in used.items()
                 if v + smallest[k] > prob.build_limit[k] + 1e-6)
    if not hit:
        return ()
    return ("The bloc's build rate binds (" + ", ".join(hit) + "): a faster build-out would "
            "reach the targets sooner or cheaper (build_rate_pct_per_yr).",)


def _observed_span(o: Option) -> bool:
    """True when the option's lead time is an observed span that already holds its delays
    (a generic mine: discovery to production of 127 mines, sp_2023_avg)."""
    return o.kind == "generic" and o.stage == "mine"


def _upstream(stages: Sequence[str], stage: str) -> str:
    return stages[list(stages).index(stage) - 1]


def _item(o: Option, base: BlocBaseline, cfg: PlanSettings,
          limit: Mapping[str, float], *, allied: frozenset[str] = frozenset(),
          blocked: frozenset[str] = frozenset()) -> _Opt | None:
    """The program's view of an option, or None when it cannot add capacity (``allied``:
    countries whose options count as members'; ``blocked``: countries whose options the
    bloc cannot take, e.g. aligned with the controller)."""
    if o.kind not in ("project", "generic", "recycling") or o.iso3 == base.controller \
            or o.iso3 in blocked:
        return None
    if o.capacity_t_per_yr is None or o.capex_musd is None or o.capacity_t_per_yr <= 0:
        return None
    expected = cfg.basis == "expected"
    # a generic mine's lead time is the observed discovery-to-production span, slips
    # included: adding its status class's delay would count them twice
    span = (0.0, 0.0, 0.0) if _observed_span(o) else (
        o.delay_years_low, o.delay_years_median, o.delay_years_high)
    generic = o.kind == "generic" or o.option_id.startswith("recycling:generic:")
    capacity = o.capacity_t_per_yr * option_stage_factor(o)
    key = "recycling" if o.kind == "recycling" else o.stage
    most = math.floor(limit.get(key, 0.0) / capacity + 1e-9) if generic else 1
    if most < 1:
        return None
    return _Opt(
        option=o,
        member=o.iso3 in base.members or o.iso3 in allied,
        integer=generic,
        ub=most,
        lead=o.lead_time_years_median,
        delay=span[1] if expected else 0.0,
        ramp=o.ramp_years,
        avail=1.0 - o.p_fail if expected else 1.0,
        capacity=capacity,
        capex=o.capex_musd,
        recycling=o.kind == "recycling",
        delay_span=span,
    )


# --------------------------------------------------------------------------------------
# Solve, read back
# --------------------------------------------------------------------------------------


def solve_plan(bloc: str | Sequence[str], targets: Sequence[Target], *,
               controller: str = "CHN", settings: PlanSettings | None = None,
               options: Sequence[Option] | None = None, store: Store | None = None,
               defaults: PlanDefaults | None = None,
               progress: Callable[[str], None] | None = None,
               alignment: Alignment | None = None) -> PlanResult:
    """The least-cost plan that meets a bloc's targets, or why none does.

    Parameters
    ----------
    bloc : str or sequence of str
        A bloc of the ``blocs`` table (``MSP``, ``EU27``...), an ISO3 code or several.
    targets : sequence of Target
        From :func:`oreflow.plan.targets.parse_targets`.
    controller : str, default "CHN"
        The supplier the targets are about.
    settings : PlanSettings, optional
        Planning year, budgets, discounting, basis, solver limits.
    options : sequence of Option, optional
        What may be chosen (default: the project pipeline, generic modules of every stage in
        the bloc's members, recycling).
    store, defaults : optional
        Data store and planning defaults.
    progress : callable, optional
        Called with a short message at each phase (build, solve, diagnose).
    alignment : Alignment, optional
        A country's output and deposits aligned with the bloc or the controller
        (:mod:`oreflow.plan.alignment`).

    Returns
    -------
    PlanResult
        The plan, its balance by year with and without it, its spending, and, when a target
        cannot be met, what can be reached and from which year.

    Examples
    --------
    >>> from oreflow.plan.targets import parse_targets
    >>> plan = solve_plan("MSP", parse_targets(["magnet:self>=0.3@2032"]))
    >>> plan.status, plan.feasible
    ('optimal', True)
    """
    say = progress or (lambda _msg: None)
    say("building the program")
    st = resolve_store(store)
    aligned = None
    if alignment is not None:
        cfg = settings or PlanSettings()
        dfl = defaults or load_defaults(store=st)
        base = bloc_baseline(bloc, controller, store=st)
        aligned = resolve_alignment(alignment, base, year=cfg.year, store=st, defaults=dfl)
        prob = Problem.build(bloc, targets, controller=controller, settings=cfg,
                             options=options, store=st, defaults=dfl, base=base,
                             alignment=aligned)
    else:
        prob = Problem.build(bloc, targets, controller=controller, settings=settings,
                             options=options, store=st, defaults=defaults)
    return prob.solve(say)


def _cost_model(prob: Problem, targets: Sequence[Target]) -> tuple[Model, dict[tuple[str, int],
                                                                               Var]]:
    m = Model()
    x = prob.add_starts(m)
    bal = prob.add_balance(m, x, prob.years)
    prob.add_targets(m, bal, targets)
    spend = prob.spending(x)
    prob.add_budgets(m, spend)
    m.minimize(prob.discounted(spend))
    return m, x


def _starts(sol: Solution, x: Mapping[tuple[str, int], Var]) -> dict[tuple[str, int], float]:
    """Started units per (option, year), read by label (works on a diagnosis' copy)."""
    return {k: round(sol[v.name]) for k, v in x.items() if round(sol[v.name]) > 0}


def _share(prob: Problem, tg: Target, v: Violation) -> float:
    """A missed target's best reachable share from the relaxation's left-hand side."""
    stage = prob.base.stages[0] if tg.measure == "recycling" else tg.stage
    d = prob.demand(stage, tg.year)
    reach = v.achieved / d if d > 0 else 0.0
    return max(0.0, 1.0 - reach) if tg.measure == "supplier" else max(0.0, reach)


def _feasible(prob: Problem, targets: Sequence[Target]) -> bool:
    sub = prob.with_targets(targets)
    m, _ = _cost_model(sub, targets)
    sol = m.solve(time_limit=prob.settings.time_limit_s, mip_rel_gap=prob.settings.mip_rel_gap)
    return sol.has_values


def _earliest(prob: Problem, tg: Target) -> int | None:
    """First year after ``tg.year`` the target alone can be met within the budgets, or
    None within :data:`EARLIEST_SEARCH_YEARS`.

    Probes 1, 2, 4, 8, ... years later, then bisects between the last year that failed and
    the first that works: about ten solves instead of thirty. This assumes that between
    those two probes the target, once met, stays met (more years to build against more
    demand: true unless demand outgrows the build rate within the interval).
    """
    lo, step = tg.year, 1
    hi: int | None = None
    while hi is None:
        y = min(tg.year + step, tg.year + EARLIEST_SEARCH_YEARS)
        if _feasible(prob, [tg.at(y)]):
            hi = y
        elif y == tg.year + EARLIEST_SEARCH_YEARS:
            return None
        else:
            lo, step = y, step * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _feasible(prob, [tg.at(mid)]):
            hi = mid
        else:
            lo = mid
    return hi


# --------------------------------------------------------------------------------------
# The frontier: least cost by target year
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frontier:
    """Least cost to reach one target share, for each target year.

    Attributes
    ----------
    target : str
        The target with its first year (``magnet:self>=0.4@2028``).
    table : pandas.DataFrame
        One row per target year: ``year``, ``feasible``, ``capex_musd`` (undiscounted
        capital of the plan), ``present_value_musd`` (discounted to the planning year),
        ``reachable`` (the best share any plan within the budgets reaches that year),
        ``options`` (what the plan starts, ``id×units@year``), ``gap``.
    plans : tuple of PlanResult
        The plan of each year, in the table's order.
    """

    target: str
    table: pd.DataFrame
    plans: tuple[PlanResult, ...]


def frontier(bloc: str | Sequence[str], target: Target, years: Iterable[int], *,
             controller: str = "CHN", settings: PlanSettings | None = None,
             options: Sequence[Option] | None = None, store: Store | None = None,
             defaults: PlanDefaults | None = None,
             progress: Callable[[str], None] | None = None) -> Frontier:
    """What closes the gap by when: the least-cost plan for ``target`` moved to each year.

    The options, the data and the settings are built once; each year is one solve (and a
    diagnosis where the target cannot be met, without the earliest-year search: the
    frontier itself answers that).

    Examples
    --------
    >>> from oreflow.plan.targets import parse_target
    >>> f = frontier("MSP", parse_target("magnet:self>=0.3@2028"), range(2028, 2031))
    >>> list(f.table["year"])
    [2028, 2029, 2030]
    """
    say = progress or (lambda _msg: None)
    yrs = sorted({int(y) for y in years})
    if not yrs:
        raise InputError("the frontier needs at least one target year")
    prob = Problem.build(bloc, [target.at(yrs[-1])], controller=controller, settings=settings,
                         options=options, store=store, defaults=defaults)
    rows, plans = [], []
    for k, y in enumerate(yrs):
        say(f"target year {y} ({k + 1}/{len(yrs)})")
        sub = prob.with_targets([target.at(y)])
        plan = replace(sub, notes=list(prob.notes)).solve(search=False)
        plans.append(plan)
        reach = plan.misses[0].reachable if plan.misses else target.value
        cost = plan.total_capex_musd if plan.feasible else math.nan
        present = (float(plan.cost["present_value_musd"].sum()) if not plan.cost.empty
                   else 0.0) if plan.feasible else math.nan
        rows.append({
            "year": y, "feasible": plan.feasible, "capex_musd": cost,
            "present_value_musd": present,
            "reachable": reach,
            "options": " ".join(f"{c.option_id}×{c.units}@{c.start_year}" for c in plan.chosen),
            "gap": plan.gap,
        })  # fmt: skip
    return Frontier(target.at(yrs[0]).spec, pd.DataFrame(rows), tuple(plans))
