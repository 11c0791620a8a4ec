"""How much it matters which side a country's output and deposits join (issue 15, item 3).

One concern: solve the bloc's plan with the country as it is, aligned with the bloc and
aligned with the controller (:mod:`oreflow.plan.alignment`), and set side by side, by year
and stage, the bloc's self-sufficiency (without and with each plan), the controller's share
of the bloc's supply and of world output, and each plan's cost.

The controller's **world share** at stage *s* in year *y* is its output of the data year
(plus the aligned country's, when aligned with it) over the world's output of the data year
plus the new capacity the bloc's balance counts that year (its decided pipeline and its
plan, the aligned country's reserve modules included). The controller's own expansion and
other non-members' projects are not modelled: read it as how the bloc's and the country's
choices move the share, not as a forecast of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError
from oreflow.plan.alignment import Aligned, Alignment, resolve_alignment
from oreflow.plan.defaults import PlanDefaults, load_defaults
from oreflow.plan.formulate import PlanSettings, Problem
from oreflow.plan.result import PlanResult
from oreflow.plan.targets import Target, bloc_baseline

__all__ = ["AlignmentComparison", "compare_alignment", "controller_world_share", "hold_targets"]

#: The alignments compared, in order: as is, with the bloc, with the controller.
CASES: tuple[str, ...] = ("as_is", "bloc", "controller")


@dataclass(frozen=True)
class AlignmentComparison:
    """One country's alignment, three ways (:data:`CASES`).

    Attributes
    ----------
    country : str
        ISO3 code.
    bloc, controller : str
        The bloc planned and the supplier its targets are about.
    years : tuple of int
        The years compared.
    table : pandas.DataFrame
        Long: ``alignment`` (a :data:`CASES` name), ``year``, ``stage``, ``demand`` [stage
        unit/yr], ``self_sufficiency_without`` (no plan) and ``self_sufficiency`` (with the
        plan), ``controller_share`` (of the bloc's supply, with the plan),
        ``controller_world_share`` (of world output, with the plan) [0-1].
    cost : pandas.DataFrame
        One row per alignment: ``alignment``, ``feasible``, ``capex_musd``,
        ``present_value_musd``, ``capex_change_musd`` (against as is), ``misses`` (missed
        targets with the best reachable share), ``options`` (what the plan starts).
    plans : dict of str to PlanResult
        Each alignment's plan.
    notes : tuple of str
        Assumptions and what each alignment changes.
    source_ids : tuple of str
        Sources of the plans and the alignment.
    """

    country: str
    bloc: str
    controller: str
    years: tuple[int, ...]
    table: pd.DataFrame
    cost: pd.DataFrame
    plans: dict[str, PlanResult]
    notes: tuple[str, ...]
    source_ids: tuple[str, ...]

    def wide(self, column: str = "self_sufficiency") -> pd.DataFrame:
        """``column`` by year and stage (rows) and alignment (columns)."""
        out = self.table.pivot_table(index=["year", "stage"], columns="alignment",
                                     values=column, sort=False)
        return out[[c for c in CASES if c in out.columns]].reset_index()

    def change(self, column: str = "self_sufficiency") -> pd.DataFrame:
        """Per year and stage: ``column`` with the bloc minus with the controller
        (``bloc_minus_controller``), and with the bloc minus as is (``bloc_minus_as_is``)."""
        w = self.wide(column)
        return w.assign(bloc_minus_controller=w["bloc"] - w["controller"],
                        bloc_minus_as_is=w["bloc"] - w["as_is"])[
            ["year", "stage", "bloc_minus_as_is", "bloc_minus_controller"]]


def hold_targets(targets: Iterable[Target], years: Sequence[int]) -> tuple[Target, ...]:
    """Each target in its year and every later year of ``years`` (a target of 2030 holds
    through 2035), duplicates dropped."""
    out: list[Target] = []
    last = max(years) if years else 0
    for t in targets:
        out.append(t)
        out += [t.at(y) for y in range(t.year + 1, last + 1)]
    return tuple(dict.fromkeys(out))


def controller_world_share(plan: PlanResult, aligned: Aligned | None) -> pd.Series:
    """The controller's share of world output by (year, stage) row of ``plan.balance``
    (see the module docstring) [0-1]."""
    table = aligned.table if aligned is not None else None
    if table is None or table.empty:
        raise InputError("the controller's world share needs the country's balance")
    a = aligned
    assert a is not None
    ctrl_q = {str(k): float(v) for k, v in table["controller_output"].items()}
    world_q = {str(k): float(v) for k, v in table["world_output"].items()}
    own_q = {str(k): float(v) for k, v in table["output"].items()}
    vals = []
    for _, r in plan.balance.iterrows():
        s, y = str(r["stage"]), int(r["year"])
        ctrl = ctrl_q.get(s, 0.0)
        world = world_q.get(s, math.nan)
        if a.alignment.side == "controller" and y >= a.from_year:
            ctrl += own_q.get(s, 0.0)
        world += float(r["decided"]) + float(r["planned"])
        vals.append(ctrl / world if world > 0 else math.nan)
    return pd.Series(vals, index=plan.balance.index, name="controller_world_share")


def compare_alignment(bloc: str | Sequence[str], targets: Sequence[Target],
                      country: str = "VNM", *, years: Iterable[int] = range(2030, 2036),
                      controller: str = "CHN", settings: PlanSettings | None = None,
                      from_year: int | None = None, reserves: bool = True,
                      status_class: str | None = None, store: Store | None = None,
                      defaults: PlanDefaults | None = None,
                      progress: Callable[[str], None] | None = None) -> AlignmentComparison:
    """The bloc's plan with ``country`` as is, aligned with the bloc, and with the
    controller.

    Parameters
    ----------
    bloc : str or sequence of str
        The bloc (``MSP``...).
    targets : sequence of Target
        The bloc's targets; each holds in its year and every later year of ``years``.
    country : str, default "VNM"
        The country whose alignment is compared (not a member, not the controller).
    years : iterable of int, default 2030-2035
        The years compared (the planning horizon reaches the last).
    controller, settings, store, defaults
        As in :func:`oreflow.plan.formulate.solve_plan`.
    from_year, reserves, status_class
        As in :class:`oreflow.plan.alignment.Alignment` (the same for both sides).
    progress : callable, optional
        Called with a short message per solve.

    Returns
    -------
    AlignmentComparison
        Self-sufficiency and the controller's shares by year, stage and alignment, and
        each plan's cost. Plans that cannot meet every target show the least-cost plan for
        the best reachable values (no earliest-year search).

    Examples
    --------
    >>> from oreflow.plan.targets import parse_targets
    >>> cmp = compare_alignment("MSP", parse_targets(["mine:self>=0.1@2030"]),
    ...                         years=[2030, 2031])
    >>> list(cmp.cost["alignment"])
    ['as_is', 'bloc', 'controller']
    """
    say = progress or (lambda _msg: None)
    yrs = tuple(sorted({int(y) for y in years}))
    if not yrs:
        raise InputError("the alignment comparison needs at least one year")
    st = resolve_store(store)
    cfg = settings or PlanSettings()
    if yrs[0] <= cfg.year:
        raise InputError(f"compared years must be after the planning year {cfg.year} "
                         f"(got {yrs[0]})")
    dfl = defaults or load_defaults(store=st)
    base = bloc_baseline(bloc, controller, store=st)
    held = hold_targets(targets, yrs)
    cases: dict[str, Aligned | None] = {"as_is": None}
    for side in ("bloc", "controller"):
        cases[side] = resolve_alignment(
            Alignment(country, side, "constraint", from_year, reserves, status_class), base,
            year=cfg.year, store=st, defaults=dfl)
    ref = cases["bloc"]
    assert ref is not None
    plans: dict[str, PlanResult] = {}
    frames, costs = [], []
    notes: list[str] = []
    for k, (name, aligned) in enumerate(cases.items()):
        say(f"{name} ({k + 1}/{len(cases)})")
        prob = Problem.build(bloc, held, controller=controller, settings=cfg, store=st,
                             defaults=dfl, base=base, horizon=yrs[-1], alignment=aligned)
        plan = prob.solve(search=False)
        plans[name] = plan
        if not notes:
            notes = list(plan.notes)
        elif aligned is not None:
            notes += list(aligned.notes)
        bal = plan.balance.copy()
        bal["controller_world_share"] = controller_world_share(
            plan, aligned if aligned is not None else _as_is(ref))
        bal = bal[bal["year"].isin(yrs)]
        frames.append(bal.assign(alignment=name)[
            ["alignment", "year", "stage", "demand", "self_sufficiency_without",
             "self_sufficiency", "controller_share", "controller_world_share"]])
        pv = float(plan.cost["present_value_musd"].sum()) if not plan.cost.empty else 0.0
        costs.append({
            "alignment": name, "feasible": plan.feasible, "capex_musd": plan.total_capex_musd,
            "present_value_musd": pv,
            "misses": "; ".join(f"{m.target} best {m.reachable:.1%}" for m in plan.misses),
            "options": " ".join(f"{c.option_id}×{c.units}@{c.start_year}"
                                for c in plan.chosen),
        })  # fmt: skip
    cost = pd.DataFrame(costs)
    cost["capex_change_musd"] = cost["capex_musd"] - float(cost["capex_musd"].iloc[0])
    ids = sorted({s for p in plans.values() for s in p.source_ids}
                 | {s for a in cases.values() if a is not None for s in a.source_ids})
    return AlignmentComparison(
        country=ref.alignment.country, bloc=base.bloc, controller=base.controller, years=yrs,
        table=pd.concat(frames, ignore_index=True), cost=cost, plans=plans,
        notes=tuple(dict.fromkeys(notes)), source_ids=tuple(ids))


def _as_is(ref: Aligned) -> Aligned:
    """The country's balance with no alignment (for the world share of the as-is plan)."""
    return Aligned(Alignment(ref.alignment.country, "bloc", "option", ref.from_year, False),
                   ref.from_year, table=ref.table)
