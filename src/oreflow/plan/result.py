"""What a plan is: the chosen options with their dates and costs, and the bloc's balance by
year with and without them (issue 12).

One concern: the records the planner returns (:class:`Choice`, :class:`PlanResult`) and that
the engine's check of a plan (:mod:`oreflow.plan.evaluate`), the viability of projects
(:mod:`oreflow.plan.viability`) and the CLI read. No solving, no IO here.

Units are in the names: ``_t_per_yr`` [t of the named material per year], ``_musd``
[million USD], ``_year`` [calendar year, decimal where a date falls inside a year].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Choice", "PlanResult", "TargetMiss", "year_share"]


def year_share(year: int, online_year: float, ramp_years: float) -> float:
    """Average share of nameplate produced over calendar year ``year`` [0-1] by capacity
    that starts producing at ``online_year`` and ramps linearly to nameplate over
    ``ramp_years``.

    Exact: the integral of ``clip((s - online) / ramp, 0, 1)`` over ``[year, year + 1]``.

    Examples
    --------
    >>> year_share(2030, 2030.0, 0.0), year_share(2030, 2030.0, 2.0), year_share(2031, 2030.0, 2.0)
    (1.0, 0.25, 0.75)
    """
    def cum(s: float) -> float:
        if s <= online_year:
            return 0.0
        if ramp_years <= 0 or s >= online_year + ramp_years:
            return s - online_year - ramp_years / 2.0
        return (s - online_year) ** 2 / (2.0 * ramp_years)

    return max(0.0, min(1.0, cum(year + 1.0) - cum(float(year))))


@dataclass(frozen=True)
class Choice:
    """One option the plan takes (or one already decided project it counts on).

    Attributes
    ----------
    option_id, kind, name : str
        The option's key, kind (``project``, ``generic``, ``stockpile``, ``recycling``) and
        label (:class:`oreflow.plan.options.Option`).
    stage : str
        Chain stage of the capacity (``mine``, ``separation``, ``metal``, ``magnet``).
    iso3 : str
        Country of the capacity (``""`` for a bloc's stockpile).
    material : str
        What ``capacity_t_per_yr`` counts (``REO``, ``NdPr oxide``, ``NdPr metal``,
        ``NdFeB``, ...).
    start_year : int
        Year the decision is taken and money starts to be spent.
    online_year : float
        First output [decimal year]: start + lead time (+ the delay the plan assumes).
    full_year : float
        Nameplate reached [decimal year]: online + ramp.
    units : int
        Modules built (generic options; 1 for a project).
    capacity_t_per_yr : float
        Nameplate added [t material/yr] (all units together); for a stockpile 0.
    stage_t_per_yr : float
        The same in the chain's unit of the stage [t REO/yr, t REO-eq/yr for metal,
        t NdFeB/yr for magnets].
    stock_t : float
        Tonnes bought (stockpiles; else 0) [t material].
    capex_musd : float
        Capital (stockpile: purchase) cost of all units [million USD].
    p_fail : float
        Probability the option never produces [-].
    decided : bool
        True for a pipeline project counted as already decided (its money is not the
        plan's); False for what the plan chooses.
    source_ids : tuple of str
        Sources of the option's numbers.
    estimate : bool
        True when any of the option's numbers is an oreflow estimate.
    """

    option_id: str
    kind: str
    name: str
    stage: str
    iso3: str
    material: str
    start_year: int
    online_year: float
    full_year: float
    units: int
    capacity_t_per_yr: float
    stage_t_per_yr: float
    stock_t: float
    capex_musd: float
    p_fail: float
    decided: bool
    source_ids: tuple[str, ...] = ()
    estimate: bool = False

    def output_share(self, year: int) -> float:
        """Average share of nameplate produced over calendar ``year`` [0-1]: zero before
        ``online_year``, a linear ramp to ``full_year``, one after (the planner's rule,
        :func:`year_share`)."""
        return year_share(year, self.online_year, self.full_year - self.online_year)


@dataclass(frozen=True)
class TargetMiss:
    """A target the plan cannot meet, and what it would take.

    Attributes
    ----------
    target : str
        The target as the user wrote it (``magnet:self>=0.4@2030``).
    year : int
        Year the target applies to.
    asked, reachable : float
        The target's value and the best any plan within the constraints reaches [-].
    earliest_year : int or None
        First year the target could be met (within the planning horizon), ``None`` if never.
    """

    target: str
    year: int
    asked: float
    reachable: float
    earliest_year: int | None


@dataclass(frozen=True)
class PlanResult:
    """The answer of :func:`oreflow.plan.solve_plan`.

    Attributes
    ----------
    bloc : str
        The bloc (a bloc name or an ISO3 code).
    members : tuple of str
        Its ISO3 members.
    controller : str
        The supplier the targets are about (ISO3).
    targets : tuple of str
        The targets as given.
    objective : str
        ``cost`` (least cost to meet the targets) or ``shortfall`` (least expected shortfall
        within the budget).
    status : str
        The solver's status (``optimal``, ``feasible`` at the time limit, ``infeasible``, ...).
    gap : float
        Relative MIP gap of the returned plan [-].
    seconds : float
        Solver wall time [s].
    choices : tuple of Choice
        What the plan builds or buys, and the decided pipeline it counts on.
    balance : pandas.DataFrame
        One row per (year, stage): ``demand`` and ``existing``, ``decided``, ``planned``
        capacity [stage unit/yr], ``outside`` (allowed supply from non-members other than
        the controller) and ``recycled`` [stage unit/yr], ``self_sufficiency`` (output the
        bloc can make from allowed material over demand) and ``controller_share`` (of the
        bloc's supply) with the plan, and ``self_sufficiency_without``,
        ``controller_share_without`` with the decided pipeline only [-]; ``unit``;
        ``target`` (the targets of that stage and year, comma-separated; recycling targets
        at separation, where recycled oxide enters).
    cost : pandas.DataFrame
        Spending by year and kind [million USD].
    misses : tuple of TargetMiss
        Targets that cannot be met (empty when the plan meets them all).
    notes : tuple of str
        Assumptions and data caveats a reader must see (demand growth, unit conversions).
    source_ids : tuple of str
        Sources behind the options and the baseline.
    """

    bloc: str
    members: tuple[str, ...]
    controller: str
    targets: tuple[str, ...]
    objective: str
    status: str
    gap: float
    seconds: float
    choices: tuple[Choice, ...]
    balance: pd.DataFrame
    cost: pd.DataFrame
    misses: tuple[TargetMiss, ...] = ()
    notes: tuple[str, ...] = ()
    source_ids: tuple[str, ...] = field(default=())

    @property
    def feasible(self) -> bool:
        """True when the plan meets every target."""
        return not self.misses and self.status in ("optimal", "feasible")

    @property
    def chosen(self) -> tuple[Choice, ...]:
        """The choices the plan pays for (not the decided pipeline)."""
        return tuple(c for c in self.choices if not c.decided)

    @property
    def total_capex_musd(self) -> float:
        """Capital cost of what the plan chooses [million USD]."""
        return float(sum(c.capex_musd for c in self.chosen))

    def _repr_html_(self) -> str:
        """Notebook view: status, cost and the choices (with the timeline:
        :func:`oreflow.report.notebook.plan_html`)."""
        import html

        head = (f"<p><b>{html.escape(self.bloc)}</b>: plan {html.escape(self.status)}, "
                f"capital cost {self.total_capex_musd:,.0f} M USD; targets "
                f"{html.escape(', '.join(self.targets) or 'none')}</p>")
        cols = ["option_id", "stage", "start_year", "online_year", "full_year", "units",
                "capacity_t_per_yr", "capex_musd", "decided"]
        frame = self.choices_frame()
        return head + (frame[[c for c in cols if c in frame.columns]].to_html(
            index=False, escape=True) if not frame.empty else "<p>No options chosen.</p>")

    def choices_frame(self, choices: Sequence[Choice] | None = None) -> pd.DataFrame:
        """The choices as a table, one row per choice (units in the column names)."""
        rows: list[dict[str, Any]] = [asdict(c) for c in (choices or self.choices)]
        frame = pd.DataFrame(rows)
        if not frame.empty:
            frame["source_ids"] = frame["source_ids"].map(" ".join)
        return frame
