"""Regenerate the project-viability tables of docs/plan.md from the code and the data.

Each table sits between ``<!-- viability:NAME -->`` and ``<!-- /viability:NAME -->``; run
``python tools/viability_tables.py`` after a change to the options, the defaults or the
engine (the scenario tables run china-2025-04, 200 draws, seed 1).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from oreflow.plan import project_options, recycling_options, viability_table
from oreflow.simulate import simulate

DOC = Path(__file__).resolve().parents[1] / "docs" / "plan.md"


def _cell(v: object, col: str) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, float):
        if col == "first_output_year":
            return f"{v:.1f}"
        return f"{v:,.0f}" if col == "capex_musd" else f"{v:,.1f}"
    return str(v)


def _markdown(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "\n".join("| " + " | ".join(_cell(v, str(c)) for c, v in r.items()) + " |"
                            for _, r in df.iterrows())


def tables() -> dict[str, str]:
    opts = project_options() + recycling_options()
    flat = viability_table(opts)
    flat["option_id"] = flat["option_id"].str.split(":").str[-1]
    flat["capex_musd"] = [f"{c:,.0f}" + (" (est.)" if e else "")
                          for c, e in zip(flat["capex_musd"], flat["capex_estimated"],
                                          strict=True)]
    run = simulate("china-2025-04", draws=200, seed=1)
    out = {
        "flat": flat[["option_id", "material", "first_output_year", "capex_musd",
                      "price_usd_per_kg", "opex_usd_per_kg", "margin_usd_per_kg",
                      "npv_p50_musd", "irr_p50_pct", "npv_floor_p50_musd", "floor_verdict",
                      "break_even_floor_usd_per_kg", "break_even_on"]],
        "basis": flat[["option_id", "break_even_status", "reason", "basis"]],
    }
    bands = ["option_id", "npv_p10_musd", "npv_p50_musd", "npv_p90_musd",
             "npv_floor_p10_musd", "npv_floor_p50_musd", "npv_floor_p90_musd",
             "floor_verdict", "break_even_floor_usd_per_kg", "break_even_status"]
    for name, after in (("scenario", "base"), ("last", "last")):
        t = viability_table(opts, run, after=after)  # type: ignore[arg-type]
        t["option_id"] = t["option_id"].str.split(":").str[-1]
        out[name] = t[bands]
    t = viability_table(opts, floor_from="contract")
    t["option_id"] = t["option_id"].str.split(":").str[-1]
    out["contract"] = t[t["floor_applies"]][["option_id", "npv_p50_musd", "npv_floor_p50_musd",
                                             "floor_verdict", "break_even_floor_usd_per_kg"]]
    t = viability_table(opts, sunk_capex=True)
    t["option_id"] = t["option_id"].str.split(":").str[-1]
    producing = t["status_class"] == "ramping"
    out["sunk"] = t[producing][["option_id", "npv_p50_musd", "break_even_floor_usd_per_kg",
                                "break_even_status"]]
    return {k: _markdown(v) for k, v in out.items()}


def _replacer(table: str) -> Callable[[re.Match[str]], str]:
    def sub(m: re.Match[str]) -> str:
        return m.group(1) + table + m.group(2)

    return sub


def main() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, table in tables().items():
        pat = re.compile(rf"(<!-- viability:{name} -->\n).*?(\n<!-- /viability:{name} -->)",
                         re.S)
        if not pat.search(text):
            raise SystemExit(f"docs/plan.md has no markers for table {name}")
        text = pat.sub(_replacer(table), text)
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
