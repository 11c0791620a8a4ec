"""The planner under uncertainty: least expected shortfall under a stress within a budget,
over sampled futures (issue 12).

One concern: a two-stage stochastic program (sample-average approximation). The first stage
is the plan — which options start when, and which stockpiles are bought — shared by every
future; each sampled future draws the options' delays and failures (from their status
classes) and the bloc's demand growth, and its second stage is the bloc's output from
allowed material and its shortfall when the controller holds back part of its supply.

Stress (from a scenario's export restrictions, :func:`stress_from_scenario`)
-----------------------------------------------------------------------------
In a year of stress the controller withholds the share ``w_s`` of what the bloc needs from
it at stage *s*: ``w_s = c_s (1 − ā)``, with ``ā`` the restriction's approval share averaged
over its first twelve months (zero during the licence lag) and ``c_s`` the share of the
stage's tonnage the restriction covers (1 for magnets when NdFeB is covered; for oxide and
metal the controlled elements' share of the controller's ore composition). Shortfall in
future *f*, year *y*, stage *s* [stage unit/yr]:

``short[f, s, y] >= w_s (D_f[s, y] − u_f[s, y] − O_f[s, y]) − B[s, y]``, ``short >= 0``

with ``u_f`` the bloc's output from allowed material (the coupling rows of
:mod:`oreflow.plan.formulate` under the future's delays and failures), ``O_f`` allowed
outside supply and ``B`` the stockpiles bought by year *y* (oxide, at separation; a stock is
released in full in the year of stress). The objective is the mean over futures and stress
years of ``Σ_s k_s short`` [t REO-eq/yr], plus the discounted cost times a small weight
(``cost_weight``, so that among plans of equal shortfall the cheaper one wins).

The deterministic plan solves the same program for one future at the median delays, no
failure and the central growth; :func:`solve_stochastic` scores both plans on the same
sampled futures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from oreflow.chain.analysis import build_chain
from oreflow.chain.elements import oxide_factor
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError
from oreflow.plan.defaults import PlanDefaults
from oreflow.plan.formulate import PlanSettings, Problem
from oreflow.plan.model import Expr, Model, Var, quicksum
from oreflow.plan.options import Option, stockpile_options
from oreflow.plan.result import Choice, PlanResult
from oreflow.plan.targets import BlocBaseline, Target
from oreflow.rng import named_stream
from oreflow.simulate.scenario import ExportRestriction, Scenario, expand_materials

__all__ = [
    "Future",
    "Stochastic",
    "Stock",
    "Stress",
    "sample_futures",
    "score_plan",
    "solve_stochastic",
    "stock_options",
    "stress_from_scenario",
]

#: Weight of the discounted cost [t REO-eq per million USD] in the shortfall objective: a
#: tie-breaker, small against any tonne of shortfall.
COST_WEIGHT = 1e-4


@dataclass(frozen=True)
class Stress:
    """A controller's restriction as the planner sees it.

    Attributes
    ----------
    name : str
        The scenario it comes from.
    withheld : dict of str to float
        Share of the bloc's need from the controller withheld, by stage [0-1].
    approval : float
        Mean approval share over the first twelve months [0-1].
    notes : tuple of str
        How it was derived.
    """

    name: str
    withheld: dict[str, float]
    approval: float
    notes: tuple[str, ...] = ()


def _mean_approval(r: ExportRestriction) -> float:
    """Approval share averaged over the first 12 months after ``effective`` (0 in the lag)."""
    lag = r.licence_lag_months.mean()
    steps = [(0.0, r.approval_rate.mean() if r.approval_rate is not None else 0.0)]
    eff = r.effective
    for st in r.approval_path:
        months = (st.start.year - eff.year) * 12 + st.start.month - eff.month \
            + (st.start.day - eff.day) / 30.0
        steps.append((max(0.0, months), st.rate.mean()))
    steps.sort()
    total = 0.0
    for k, (start, rate) in enumerate(steps):
        end = steps[k + 1][0] if k + 1 < len(steps) else 12.0
        lo, hi = max(start, lag), min(end, 12.0)
        if hi > lo:
            total += rate * (hi - lo)
    return total / 12.0


def stress_from_scenario(scenario: Scenario | str, *, store: Store | None = None) -> Stress:
    """The planner's stress from a scenario's export restrictions (the strictest one per
    stage), see the module docstring.

    Raises
    ------
    oreflow.errors.InputError
        The scenario has no export restriction, or a tonnage quota (not a licence regime).
    """
    sc = Scenario.builtin(scenario) if isinstance(scenario, str) else scenario
    rs = [s for s in sc.shocks if isinstance(s, ExportRestriction)]
    if not rs:
        raise InputError(f"scenario '{sc.name}' has no export restriction to plan against")
    st = resolve_store(store)
    comp = build_chain("REO", store=st).composition()
    if comp is None:
        raise InputError("the data have no ore composition to weigh controlled elements by")
    row = comp.loc[sc.controller] if sc.controller in comp.index else comp.mean()
    withheld: dict[str, float] = {}
    notes = []
    approvals = []
    for r in rs:
        if r.quota_t is not None or r.quota_t_per_yr is not None:
            raise InputError(f"restriction '{r.id}' of '{sc.name}' is a tonnage quota; the "
                             "planner's stress reads licence regimes (approval rates)")
        a = _mean_approval(r)
        approvals.append(a)
        mats = set(expand_materials(r.materials))
        oxide = float(sum(float(v) for e, v in row.items() if str(e) in mats and pd.notna(v)))
        magnet = 1.0 if "NdFeB" in mats else 0.0
        for stage in r.stages:
            cover = magnet if stage == "magnet" else oxide
            withheld[stage] = max(withheld.get(stage, 0.0), cover * (1.0 - a))
        notes.append(f"{r.id or 'restriction'}: mean approval {a:.2f} over its first 12 "
                     f"months; covers {oxide:.1%} of {sc.controller}'s oxide tonnage"
                     + (" and NdFeB" if magnet else ""))
    return Stress(sc.name, withheld, float(np.mean(approvals)), tuple(notes))


@dataclass(frozen=True)
class Future:
    """One sampled future: each option's delay beyond its lead time [years] and whether it
    produces (1) or fails (0); the bloc's demand growth [%/yr]."""

    delays: dict[str, float]
    alive: dict[str, float]
    growth_pct_per_yr: float


def sample_futures(prob: Problem, n: int, seed: int) -> list[Future]:
    """``n`` futures for the problem's options and decided pipeline.

    Each option's delay is triangular(low, median, high) of its status class, its failure
    Bernoulli(p_fail); growth is uniform over the defaults' range. Streams are named per
    option (:func:`oreflow.rng.named_stream`), so adding an option leaves the others' draws
    unchanged.
    """
    if n < 1:
        raise InputError("the number of futures must be at least 1")
    items = (*prob.options, *prob.decided)
    delays = {}
    alive = {}
    for o in items:
        oid = o.option.option_id
        lo, mode, hi = o.delay_span
        rng = named_stream(seed, "plan", "delay", oid)
        delays[oid] = rng.triangular(lo, mode, hi, n) if hi > lo else np.full(n, mode)
        fails = named_stream(seed, "plan", "fail", oid).random(n) < o.option.p_fail
        alive[oid] = np.where(fails, 0.0, 1.0)
    g = prob.defaults.planning.demand_growth_pct_per_yr
    lo_g, _, hi_g = g.span()
    growth = named_stream(seed, "plan", "growth").uniform(lo_g, hi_g, n) if hi_g > lo_g \
        else np.full(n, g.value)
    return [Future({k: float(v[i]) for k, v in delays.items()},
                   {k: float(v[i]) for k, v in alive.items()}, float(growth[i]))
            for i in range(n)]


def _central(prob: Problem) -> Future:
    """The deterministic plan's single future: median delays, no failure, central growth."""
    items = (*prob.options, *prob.decided)
    return Future({o.option.option_id: o.delay_span[1] for o in items},
                  {o.option.option_id: 1.0 for o in items}, prob.growth)


@dataclass(frozen=True)
class Stock:
    """A stockpile option as the stochastic program sees it: lead time [yr], tonnes of
    oxide counted at separation [t], purchase [M USD] and holding cost [share/yr]."""

    option: Option
    lead: float
    tonnes: float  # t oxide, counted at separation
    cost: float  # M USD purchase
    holding: float  # share of the purchase per year


def stock_options(prob: Problem, materials: Sequence[str], store: Store | None,
                  defaults: PlanDefaults) -> list[Stock]:
    """Stockpile options of ``materials`` sized on the bloc's magnet demand (the oxide
    content of its NdFeB use), from :func:`oreflow.plan.options.stockpile_options`."""
    if not materials:
        return []
    chain = build_chain("REO", store=store)
    recipe = {k: float(v) for k, v in dict(chain.meta.get("recipe", {})).items()
              if k != "recipe"}
    magnets = prob.base.value("magnet", "demand")
    need = {"NdPr": magnets * (recipe.get("Nd", 0.0) * oxide_factor("Nd")
                               + recipe.get("Pr", 0.0) * oxide_factor("Pr")),
            "Dy": magnets * recipe.get("Dy", 0.0) * oxide_factor("Dy"),
            "Tb": magnets * recipe.get("Tb", 0.0) * oxide_factor("Tb")}
    mats = [m for m in materials if need.get(m, 0.0) > 0]
    opts = stockpile_options(mats, demand_t_per_yr={m: need[m] for m in mats},
                             bloc=prob.base.bloc, store=store, defaults=defaults,
                             year=prob.settings.year)
    return [Stock(o, o.lead_time_years_median, float(o.stock_t or 0.0),
                   float(o.capex_musd), (o.holding_cost_pct_per_yr or 0.0) / 100.0)
            for o in opts if o.capex_musd is not None and o.stock_t]


@dataclass(frozen=True)
class Stochastic:
    """The answer of :func:`solve_stochastic`.

    Attributes
    ----------
    plan : PlanResult
        The stochastic plan (``objective="shortfall"``); stockpiles are among its choices.
    deterministic : PlanResult
        The plan of the same program for the central future only.
    scores : pandas.DataFrame
        Both plans scored on the same sampled futures: ``plan`` (``stochastic``,
        ``deterministic``, ``none``), ``expected_shortfall_t_reo_per_yr`` (mean over futures
        and stress years), ``p10``, ``p50``, ``p90`` of the per-future mean, and
        ``capex_musd``.
    stress : Stress
        The stress the plans answer.
    futures : int
        Number of sampled futures.
    seed : int
        Seed of the futures.
    """

    plan: PlanResult
    deterministic: PlanResult
    scores: pd.DataFrame
    stress: Stress
    futures: int
    seed: int


def _program(prob: Problem, futures: Sequence[Future], stress: Stress,
             stocks: Sequence[Stock], years: Sequence[int],
             targets: Sequence[Target]) -> tuple[Model, dict[tuple[str, int], Var],
                                                 dict[tuple[str, int], Var]]:
    m = Model()
    x = prob.add_starts(m)
    b: dict[tuple[str, int], Var] = {}
    first = prob.settings.year
    for k in stocks:
        oid = k.option.option_id
        ts = [t for t in range(first, years[-1] + 1) if t + k.lead <= years[-1]]
        for t in ts:
            b[oid, t] = m.add_var(("stock", oid, t), ub=1, integer=True)
        if ts:
            m.add_constraint(quicksum(b[oid, t] for t in ts), "<=", 1, ("once", "stock", oid),
                             group="once")
    if targets:  # targets hold on the expected basis (the first stage)
        bal = prob.add_balance(m, x, sorted({t.year for t in targets}), tag="u_target")
        prob.add_targets(m, bal, targets)
    by_id = {k.option.option_id: k for k in stocks}
    # stock held in each stress year [t oxide]: the same in every future
    held = {y: quicksum(v * by_id[oid].tonnes for (oid, t), v in b.items()
                        if t + by_id[oid].lead <= y) for y in years}
    terms: list[Expr] = []
    weight = 1.0 / (len(futures) * len(years))
    for f, fut in enumerate(futures):
        bal = prob.add_balance(m, x, years, tag=("u", f), delays=fut.delays, alive=fut.alive)
        for y in years:
            for s, w in stress.withheld.items():
                if w <= 0 or (s, y) not in bal:
                    continue
                u, _, other, _ = bal[s, y]
                d = prob.demand(s, y, fut.growth_pct_per_yr)
                stock = held[y] if s == "separation" else 0.0
                short = m.add_var(("short", f, s, y))
                m.add_constraint(short + u * w + other * w + stock, ">=", w * d,
                                 ("short", f, s, y), group="shortfall")
                terms.append(short * (weight * prob.base.value(s, "reo_per_unit")))
    spend = _spending(prob, x, b, stocks, years)
    prob.add_budgets(m, spend)
    m.minimize(quicksum(terms) + prob.discounted(spend) * COST_WEIGHT)
    return m, x, b


def _spending(prob: Problem, x: Mapping[tuple[str, int], Var], b: Mapping[tuple[str, int], Var],
              stocks: Sequence[Stock], years: Sequence[int]) -> dict[int, Expr]:
    """Capital and stock spending by year [million USD]: options as in the cost program;
    a stock's purchase over its lead time, then its holding cost every year to the end."""
    spend: dict[int, list[Expr]] = {y: [e] for y, e in prob.spending(x).items()}
    by_id = {k.option.option_id: k for k in stocks}
    for (oid, t), var in b.items():
        for y, v in _stock_spending(by_id[oid], t, years[-1]).items():
            spend.setdefault(y, []).append(var * v)
    return {y: quicksum(v) for y, v in sorted(spend.items())}


def score_plan(prob: Problem, starts: Mapping[tuple[str, int], float],
               stock_years: Mapping[str, int], futures: Sequence[Future], stress: Stress,
               stocks: Sequence[Stock], years: Sequence[int]) -> np.ndarray:
    """Mean shortfall per future [t REO-eq/yr] of a fixed plan: the second stage in closed
    form (the most output the coupling allows, then the stress rows)."""
    by_id = {k.option.option_id: k for k in stocks}
    out = np.zeros(len(futures))
    for f, fut in enumerate(futures):
        total = 0.0
        for y in years:
            rows = prob.balance_numbers(starts, y, delays=fut.delays, alive=fut.alive)
            stock = sum(by_id[oid].tonnes for oid, t in stock_years.items()
                        if t + by_id[oid].lead <= y)
            for s, w in stress.withheld.items():
                r = rows[s]
                gap = w * (prob.demand(s, y, fut.growth_pct_per_yr) - r["output"]
                           - r["outside"]) - (stock if s == "separation" else 0.0)
                total += max(0.0, gap) * prob.base.value(s, "reo_per_unit")
        out[f] = total / len(years)
    return out


def solve_stochastic(bloc: str | Sequence[str], scenario: Scenario | str | Stress,
                     years: Sequence[int],
                     *, targets: Sequence[Target] = (), futures: int = 30, seed: int = 0,
                     controller: str = "CHN", settings: PlanSettings | None = None,
                     options: Sequence[Option] | None = None,
                     stockpiles: Sequence[str] = ("NdPr", "Dy", "Tb"),
                     store: Store | None = None, defaults: PlanDefaults | None = None,
                     base: BlocBaseline | None = None,
                     progress: Callable[[str], None] | None = None) -> Stochastic:
    """Least expected shortfall under ``scenario``'s stress within the budget.

    Parameters
    ----------
    bloc : str or sequence of str
        The bloc.
    scenario : Scenario, str or Stress
        The stress (a scenario's export restrictions, :func:`stress_from_scenario`, or a
        :class:`Stress` itself).
    years : sequence of int
        Years the stress may hit, equally likely (e.g. 2028-2032).
    targets : sequence of Target, optional
        Targets the plan must also meet on the expected basis.
    futures : int, default 30
        Sampled futures (delays, failures, demand growth).
    seed : int, default 0
        Seed of the futures.
    stockpiles : sequence of str
        Materials a stockpile may be bought of (sizes from the defaults).
    base : BlocBaseline, optional
        The bloc's balance (default: read from the data).

    Raises
    ------
    oreflow.errors.InputError
        No budget (without one the least shortfall is to build everything), no stress in the
        scenario, years not after the planning year.
    """
    say = progress or (lambda _msg: None)
    cfg = settings or PlanSettings()
    if cfg.budget_musd is None and cfg.annual_budget_musd is None:
        raise InputError("the shortfall objective needs a budget (--budget): without one the "
                         "least shortfall is to build everything")
    yrs = sorted({int(y) for y in years})
    if not yrs or yrs[0] <= cfg.year:
        raise InputError(f"stress years must be after the planning year {cfg.year}")
    st = resolve_store(store)
    stress = scenario if isinstance(scenario, Stress) else stress_from_scenario(scenario,
                                                                               store=st)
    say("building the program")
    prob = Problem.build(bloc, targets, controller=controller, settings=cfg, options=options,
                         store=st, defaults=defaults, horizon=yrs[-1], base=base)
    stocks = stock_options(prob, stockpiles, st, prob.defaults)
    sampled = sample_futures(prob, futures, seed)
    say(f"solving over {futures} futures")
    stoch = _solve(prob, sampled, stress, stocks, yrs, list(targets))
    say("solving the deterministic plan")
    det = _solve(prob, [_central(prob)], stress, stocks, yrs, list(targets))
    say("scoring both plans on the sampled futures")
    rows = []
    for name, (starts, stock_years, plan) in (("stochastic", stoch), ("deterministic", det),
                                               ("none", ({}, {}, None))):
        per = score_plan(prob, starts, stock_years, sampled, stress, stocks, yrs)
        p10, p50, p90 = np.percentile(per, [10, 50, 90])
        rows.append({"plan": name, "expected_shortfall_t_reo_per_yr": float(per.mean()),
                     "p10": float(p10), "p50": float(p50), "p90": float(p90),
                     "capex_musd": plan.total_capex_musd if plan is not None else 0.0})
    return Stochastic(stoch[2], det[2], pd.DataFrame(rows), stress, futures, seed)


def _solve(prob: Problem, futures: Sequence[Future], stress: Stress, stocks: Sequence[Stock],
           years: Sequence[int], targets: Sequence[Target]
           ) -> tuple[dict[tuple[str, int], float], dict[str, int], PlanResult]:
    cfg = prob.settings
    m, x, b = _program(prob, futures, stress, stocks, years, targets)
    sol = m.solve(time_limit=cfg.time_limit_s, mip_rel_gap=cfg.mip_rel_gap)
    if not sol.has_values:
        raise InputError(f"no plan within the budget meets the targets ({sol.status}); run "
                         "the cost objective for a diagnosis")
    starts = {k: float(round(sol[v.name])) for k, v in x.items() if round(sol[v.name]) > 0}
    stock_years = {oid: t for (oid, t), v in b.items() if round(sol[v.name]) > 0}
    plan = prob.read(starts, status=str(sol.status), gap=sol.gap or 0.0,
                     seconds=sol.seconds, objective="shortfall")
    by_id = {k.option.option_id: k for k in stocks}
    extra = tuple(_stock_choice(by_id[oid], t) for oid, t in sorted(stock_years.items()))
    rows = [{"year": y, "kind": "stockpile", "capex_musd": v}
            for oid, t in stock_years.items()
            for y, v in _stock_spending(by_id[oid], t, years[-1]).items()]
    cost = pd.concat([plan.cost, pd.DataFrame(rows)], ignore_index=True) if rows else plan.cost
    if rows:
        cost = cost.groupby(["year", "kind"], as_index=False).agg(capex_musd=("capex_musd",
                                                                            "sum"))
        cost["present_value_musd"] = cost["capex_musd"] * (1 + prob.discount) ** -(
            cost["year"] - prob.settings.year)
    plan = replace(plan, choices=plan.choices + extra, cost=cost,
                   notes=plan.notes + stress.notes)
    return starts, stock_years, plan


def _stock_spending(k: Stock, t: int, last: int) -> dict[int, float]:
    """A stock's purchase spread over its lead time, then its holding cost each year to
    ``last`` [million USD]."""
    n = max(1, math.ceil(k.lead - 1e-9))
    out = dict.fromkeys(range(t, t + n), k.cost / n)
    out.update(dict.fromkeys(range(t + n, last + 1), k.cost * k.holding))
    return out


def _stock_choice(k: Stock, t: int) -> Choice:
    o = k.option
    return Choice(option_id=o.option_id, kind="stockpile", name=o.name, stage=o.stage,
                  iso3="", material=o.material, start_year=t, online_year=t + k.lead,
                  full_year=t + k.lead, units=1, capacity_t_per_yr=0.0, stage_t_per_yr=0.0,
                  stock_t=k.tonnes, capex_musd=k.cost, p_fail=0.0, decided=False,
                  source_ids=tuple(o.source_ids), estimate=o.estimate)

