"""Pictures of a plan: its timeline and the frontier (matplotlib, for ``--plot``).

One concern: draw from results, never recompute them. Matplotlib is imported inside the
functions (it takes about half a second), with the non-interactive Agg backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from oreflow.plan.result import PlanResult
from oreflow.plotting import check_plot_path, pyplot, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from oreflow.plan.formulate import Frontier

__all__ = ["check_plot_path", "frontier_figure", "save_figure", "timeline_figure"]

_COLOURS = {"mine": "#8c6d31", "separation": "#3182bd", "metal": "#756bb1",
            "magnet": "#e6550d", "stockpile": "#31a354"}




def timeline_figure(plan: PlanResult) -> Figure:
    """A Gantt chart of the plan: building (light) and producing (dark) years per option,
    the decided pipeline greyed, the targets' years marked."""
    plt = pyplot()
    rows = list(plan.choices)
    fig, ax = plt.subplots(figsize=(9, 0.35 * max(len(rows), 4) + 1.5))
    last = max([int(plan.balance["year"].max())] + [int(c.full_year) + 1 for c in rows])
    for k, c in enumerate(rows):
        colour = "#bbbbbb" if c.decided else _COLOURS.get(
            "stockpile" if c.kind == "stockpile" else c.stage, "#636363")
        ax.barh(k, c.online_year - c.start_year, left=c.start_year, color=colour, alpha=0.35)
        ax.barh(k, c.full_year - c.online_year, left=c.online_year, color=colour, alpha=0.7)
        ax.barh(k, max(0.0, last - c.full_year), left=c.full_year, color=colour)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{c.option_id}{f' ×{c.units}' if c.units > 1 else ''}"
                        + (" (decided)" if c.decided else "") for c in rows], fontsize=7)
    ax.invert_yaxis()
    for t in plan.targets:
        year = int(t.rsplit("@", 1)[1])
        ax.axvline(year, color="black", lw=0.8, ls="--")
        ax.text(year, -0.8, t, fontsize=7, ha="center")
    ax.set_xlabel("year (light: building; mid: ramping; dark: at nameplate)")
    ax.set_title(f"{plan.bloc}: plan ({plan.status}), capex {plan.total_capex_musd:,.0f} M USD")
    fig.tight_layout()
    return cast("Figure", fig)


def frontier_figure(front: Frontier) -> Figure:
    """Least capital cost to reach the target, by target year; years no plan reaches are
    marked with the best share reachable."""
    plt = pyplot()
    tab = front.table
    fig, ax = plt.subplots(figsize=(7, 4))
    ok = tab[tab["feasible"]]
    ax.plot(ok["year"], ok["capex_musd"], marker="o", color="#3182bd",
            label="least capex to meet the target")
    for _, r in tab[~tab["feasible"]].iterrows():
        ax.annotate(f"not reachable\n(best {r['reachable']:.0%})", (r["year"], 0),
                    fontsize=7, ha="center", color="#de2d26")
    ax.set_xlabel("target year")
    ax.set_ylabel("capital cost [million USD]")
    ax.set_title(f"What closes the gap by when: {front.target.rsplit('@', 1)[0]}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return cast("Figure", fig)
