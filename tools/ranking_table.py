"""Regenerate the USA ranking of docs/ranking.md (section 5) and its figure from the code.

The table sits between ``<!-- ranking:usa -->`` and ``<!-- /ranking:usa -->``; run
``python tools/ranking_table.py`` after a change to the engine, the data or the method.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from oreflow.rank import rank
from oreflow.report.export import write_figure
from oreflow.report.figures import ranking_figure

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ranking.md"
FIGURE = ROOT / "docs" / "figures" / "ranking-usa.png"


def _num(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}" if v < 10 else f"{v:.1f}"


def _worst(sid: str, loss: float, p: float) -> str:
    _, supplier, kind, sev, months = sid.split(":")
    kind = {"all": "all", "targeted": "USA only", "outage": "outage"}.get(kind, kind)
    return f"{supplier} {kind} {float(sev):.0%} {months} months ({_num(loss)}; {p:.2%})"


def table(ranking: pd.DataFrame) -> str:
    head = ("| rank | material | expected loss [M USD/yr] | P(disruption) [/yr] | loss per "
            "disruption P10 / P50 / P90 [M USD] | worst scenario (mean loss [M USD]; P [/yr]) "
            "|\n| --- | --- | --- | --- | --- | --- |\n")
    rows = [f"| {r['rank']} | {r['material']} | {_num(r['expected_loss_musd_per_yr'])} | "
            f"{r['probability_per_yr']:.1%} | {_num(r['loss_musd_p10'])} / "
            f"{_num(r['loss_musd_p50'])} / {_num(r['loss_musd_p90'])} | "
            f"{_worst(r['worst_scenario'], r['worst_loss_musd'], r['worst_probability_per_yr'])}"
            " |" for _, r in ranking.iterrows()]
    return head + "\n".join(rows)


def main() -> None:
    answer = rank("USA", workers=None)
    ranking = answer.tables["ranking"]
    text = DOC.read_text(encoding="utf-8")
    pat = re.compile(r"(<!-- ranking:usa -->\n).*?(\n<!-- /ranking:usa -->)", re.S)
    if not pat.search(text):
        raise SystemExit("docs/ranking.md has no ranking:usa markers")
    new = table(ranking)
    DOC.write_text(pat.sub(lambda m: m.group(1) + new + m.group(2), text), encoding="utf-8")
    write_figure(ranking_figure(answer), FIGURE)  # PNG through kaleido (needs Chromium)


if __name__ == "__main__":
    main()
