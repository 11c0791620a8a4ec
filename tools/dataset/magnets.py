"""The ``recipes`` table: weight composition of NdFeB magnets (fact family ``magnets``)."""

from __future__ import annotations

from .common import FactBase, copy_rows
from .rows import Row, element_label, pct_to_frac


def build_recipes(facts: FactBase) -> list[Row]:
    """recipes: wt% to fractions; colliding keys get the source_id appended to the grade."""
    rows = facts.read("magnets", "recipes.csv")
    count: dict[tuple[str, str, str], int] = {}
    for r in rows:
        k = (r["product"], r["grade"], r["element"])
        count[k] = count.get(k, 0) + 1

    def tf(r: Row, row: Row) -> None:
        k = (r["product"], r["grade"], r["element"])
        element, note = element_label(r["element"], r["note"])
        row.update(
            grade=r["grade"] if count[k] == 1 else f"{r['grade']} [{r['source_id']}]",
            element=element,
            note=note,
            **{f"wt_frac{end}": pct_to_frac(r[f"wt_pct{end}"]) for end in ("", "_low", "_high")},
        )

    return copy_rows(rows, "recipes", transform=tf)
