"""The JRC split of world Dy mine output in 2021 by country, in tonnes.

World Dy 2021 (JRC RMIS) times the JRC's country shares, with the residual as ``ROW``: a
published split turned into tonnes (element-level mine output the chain can use for 2021).
"""

from __future__ import annotations

from .common import FactBase
from .production import so_row
from .rows import Row, add_note, find_one, fnum, join_flags, num


def dy_split_rows(facts: FactBase) -> list[Row]:
    """World Dy 2021 (JRC) split by the JRC country shares, plus the residual."""
    mine = facts.read("production", "mine_production.csv")
    shares = facts.read("production", "stage_shares.csv")
    dy = find_one(mine, edition="JRC RMIS", material="Dy")
    dy_t = num(dy["tonnes"])
    base = {
        "year": 2021,
        "stage": "mine",
        "material": "Dy",
        "vintage": "JRC RMIS",
        "unit": "t",
        "estimate": True,
        "source_id": dy["source_id"],
    }
    out: list[Row] = []
    named = 0.0
    for sh in shares:
        if sh["material"] == "Dy" and sh["source_id"] == "jrc_rmis_dysprosium":
            frac = num(sh["share_pct"]) / 100
            named += frac
            out.append(
                so_row(
                    **base,
                    iso3=sh["iso3"],
                    tonnes=fnum(dy_t * frac),
                    flag=join_flags("derived", dy["flag"], sh["flag"]),
                    method=f"{sh['iso3']} = world Dy 2021 {dy['tonnes']} t x {sh['share_pct']}% "
                    f"(both {dy['source_id']}, stage_shares)",
                    note=add_note("tonnes of Dy", sh["note"]),
                )
            )
    out.append(
        so_row(
            **base,
            iso3="ROW",
            tonnes=fnum(dy_t * (1 - named)),
            flag=join_flags("derived", dy["flag"]),
            method=f"ROW = {dy['tonnes']} t x (1 - sum of the named shares "
            f"{fnum(named * 100, 2)}%)",
            note="tonnes of Dy; residual of the JRC split",
        )
    )
    return out
