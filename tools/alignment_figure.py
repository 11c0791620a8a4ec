"""Draw the figure and print the tables of docs/vietnam-alignment.md from the code and data.

Runs the comparison of ``oreflow plan --bloc MSP -t 'separation:self>=0.4@2030'
-t 'metal:self>=0.4@2030' --compare-alignment VNM`` (2030-2035; the CRMA's 40% processing
benchmarks, held every year) and writes ``docs/figures/vietnam-alignment.png``: the MSP's
self-sufficiency by stage and year with Vietnam as is, aligned with the MSP and aligned
with China (left), and China's share of world output (right). The markdown tables go to
standard output. Run ``python tools/alignment_figure.py`` after a change to the planner, the
defaults or the data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import pandas as pd

from oreflow.plan import compare_alignment, parse_targets
from oreflow.plan.alignment_effect import CASES, AlignmentComparison

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures" / "vietnam-alignment.png"
TARGETS = ["separation:self>=0.4@2030", "metal:self>=0.4@2030"]
LABELS = {"as_is": "Vietnam as is", "bloc": "aligned with the MSP",
          "controller": "aligned with China"}
STYLE = {"as_is": ("#636363", "-"), "bloc": ("#3182bd", "--"), "controller": ("#e6550d", ":")}


def figure(cmp: AlignmentComparison, path: Path) -> None:
    """Two panels: self-sufficiency (no plan) at metal and magnet; China's world share."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    t = cmp.table
    for case in CASES:
        colour, line = STYLE[case]
        for stage, marker in (("metal", "o"), ("magnet", "s")):
            rows = t[(t["alignment"] == case) & (t["stage"] == stage)]
            left.plot(rows["year"], 100 * rows["self_sufficiency_without"], line,
                      color=colour, marker=marker, ms=4,
                      label=f"{stage}, {LABELS[case]}")
        rows = t[(t["alignment"] == case) & (t["stage"] == "magnet")]
        right.plot(rows["year"], 100 * rows["controller_world_share"], line, color=colour,
                   marker="s", ms=4, label=LABELS[case])
    left.set_title("MSP self-sufficiency, no new plan [%]", fontsize=10)
    right.set_title("China's share of world magnet output [%]", fontsize=10)
    left.set_ylim(0, 50)
    right.set_ylim(85, 95)  # a narrow axis: the change is under one point
    left.legend(fontsize=6.5, ncol=2, loc="lower left")
    right.legend(fontsize=7, loc="lower right")
    for ax in (left, right):
        ax.set_xlabel("year")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def markdown(df: pd.DataFrame) -> str:
    """A pipe table, shares as percent with one decimal."""
    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{100 * v:.1f}%"
        return str(v)
    head = "| " + " | ".join(map(str, df.columns)) + " |\n|" + "---|" * len(df.columns)
    return head + "\n" + "\n".join("| " + " | ".join(cell(v) for v in r) + " |"
                                   for r in df.itertuples(index=False))


def main() -> int:
    cmp = compare_alignment("MSP", parse_targets(TARGETS), "VNM")
    figure(cmp, OUT)
    for column in ("self_sufficiency_without", "self_sufficiency", "controller_share",
                   "controller_world_share"):
        print(f"\n### {column}\n")
        print(markdown(cmp.wide(column)))
    print("\n### cost\n")
    print(cmp.cost[["alignment", "feasible", "capex_musd", "present_value_musd",
                    "options"]].to_string(index=False))
    print(f"\nfigure written to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
