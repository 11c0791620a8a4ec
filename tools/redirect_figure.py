"""The figure of docs/myanmar-redirect.md: redirected ore, what outside separators take, and
Dy/Tb prices in and outside China, with and without China's Dy/Tb export licensing.

Run from the repository root (about 20 s):

    python tools/redirect_figure.py [--draws 1000] [--seed 0] [--out FILE.png]

It prints the numbers the document quotes (P10/P50/P90) so the text can be checked
against the figure.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
from matplotlib.axes import Axes

from oreflow.simulate import simulate
from oreflow.simulate.result import Result
from oreflow.simulate.state import REDIRECT_COLUMNS

SCENARIOS = ("myanmar-redirect", "myanmar-redirect-retaliation")


def _band(ax: Axes, x: np.ndarray, a: np.ndarray, label: str, color: str,
          style: str = "-") -> None:
    """P50 line and P10-P90 band of per-draw paths ``a`` (draws, months)."""
    q = np.quantile(a, (0.1, 0.5, 0.9), axis=0)
    ax.fill_between(x, q[0], q[2], color=color, alpha=0.18, lw=0)
    ax.plot(x, q[1], style, color=color, label=label, lw=1.6)


def _report(res: Result) -> None:
    """Print the quoted figures of one run."""
    red = res.arrays.redirect
    assert red is not None
    share = res.plan.redirects[0].base / res.plan.redirects[0].base.sum()
    print(f"== {res.scenario.name}")
    for col in ("redirected_t", "separated_t"):
        v = red[:, -1, 0, REDIRECT_COLUMNS.index(col)] * 12
        print(f"  {col} at the end [t/yr HREE]: "
              + " / ".join(f"{x:,.0f}" for x in np.quantile(v, (0.1, 0.5, 0.9))))
        for el in ("Dy", "Tb"):
            e = v * share[res.materials.index(el)]
            print(f"    of which {el} [t/yr]: "
                  + " / ".join(f"{x:,.0f}" for x in np.quantile(e, (0.1, 0.5, 0.9))))
    st = red[:, -1, 0, REDIRECT_COLUMNS.index("stock_t")]
    print("  ore waiting at the end [t HREE]: "
          + " / ".join(f"{x:,.0f}" for x in np.quantile(st, (0.1, 0.5, 0.9))))


def main() -> None:
    """Run both scenarios and draw the figure."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("docs/figures/myanmar-redirect.png"))
    args = ap.parse_args()
    runs = {name: simulate(name, draws=args.draws, seed=args.seed) for name in SCENARIOS}
    base = runs[SCENARIOS[0]]
    x = base.dates.to_pydatetime()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), constrained_layout=True)
    red = base.arrays.redirect
    assert red is not None
    ax = axes[0]
    for col, color, label in (("redirected_t", "tab:red", "redirected (China's separators lose)"),
                              ("separated_t", "tab:blue", "separated outside China"),
                              ("capacity_t", "tab:gray", "usable capacity outside China")):
        _band(ax, x, red[:, :, 0, REDIRECT_COLUMNS.index(col)] * 12, label, color,
              "--" if col == "capacity_t" else "-")
    ax.set_ylabel("t/yr of heavy-RE content (annual rate)")
    ax.set_title("Myanmar heavy-RE ore: moved vs separated")
    ax.legend(fontsize=8, loc="upper left")
    for ax, el in zip(axes[1:], ("Dy", "Tb"), strict=True):
        i = base.materials.index(el)
        for name, style in zip(SCENARIOS, ("-", ":"), strict=True):
            pm = runs[name].price_multiple()
            tag = "" if name == SCENARIOS[0] else ", China licenses Dy/Tb"
            _band(ax, x, pm[:, :, i, 0], f"China{tag}", "tab:red", style)
            _band(ax, x, pm[:, :, i, 1], f"outside China{tag}", "tab:blue", style)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_ylabel("price / 2024 price")
        ax.set_title(f"{el} price (P50, P10-P90 band)")
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.suptitle(f"myanmar-redirect: {args.draws} draws, seed {args.seed}", fontsize=10)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    for res in runs.values():
        _report(res)


if __name__ == "__main__":
    main()
