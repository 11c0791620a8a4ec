"""Production tables (fact family ``production``): stage_output, stage_shares, reserves.

This module holds the published rows; the rows oreflow derives for 2024 are in
:mod:`estimates`, the other critical minerals in :mod:`minerals`.
"""

from __future__ import annotations

from typing import Any

from .common import FactBase, blank_row, copy_rows
from .rows import Row, add_note, join_ids, number_row, pct_to_frac, status_flag

# --- stage_output: published rows ------------------------------------------------------------

MINE_MATERIAL = {"REO": "REO", "REO (official production)": "REO", "Y2O3": "Y", "Dy": "Dy"}
MINE_UNIT = {
    "t_REO": ("t_REO", ""),
    "t": ("t", ""),
    "t_TREO": ("t_REO", "unit in source t_TREO (total REO)"),
    "t_Y2O3_equivalent": ("t_REO", "unit in source t_Y2O3_equivalent (oxide of Y, i.e. REO of Y)"),
    "t_Dy": ("t", "unit in source t_Dy (tonnes of Dy)"),
}

MAGNET_MATERIAL = {
    "sintered NdFeB (semi-finished)": "NdFeB_sintered",
    "NdFeB permanent magnets": "NdFeB",
    "sintered NdFeB blanks": "NdFeB_sintered",
    "bonded NdFeB powder": "NdFeB_bonded",
    "SmCo magnet alloy": "SmCo",
    "NdFeB": "NdFeB",
    "RE permanent magnets": "REPM",
    "Nd (NdFeB) magnets": "NdFeB",
    "RE permanent magnet materials (SmCo and NdFeB)": "REPM",
    "NdFeB permanent magnet materials": "NdFeB",
    "sintered NdFeB": "NdFeB_sintered",
    "SmCo magnets": "SmCo",
}

SO_KEY = ("year", "stage", "material", "iso3", "basis", "vintage")


def so_row(**kw: Any) -> Row:
    """A stage_output row with defaults."""
    row: Row = blank_row("stage_output")
    row.update(year=0, material="REO", basis="production", unit="t_REO", estimate=False)
    row.update(kw)
    return row


def ranged(r: Row, value_col: str) -> Row:
    """``tonnes``, ``tonnes_low``, ``tonnes_high`` and ``qualifier`` of a fact-base row."""
    return {
        "tonnes": r[value_col],
        "tonnes_low": r[f"{value_col}_low"],
        "tonnes_high": r[f"{value_col}_high"],
        "qualifier": r["qualifier"],
    }


def mine_rows(facts: FactBase) -> list[Row]:
    """Mine-stage rows from mine_production.csv (all editions), conflicts resolved."""
    out: list[Row] = []
    seen: dict[tuple[Any, ...], Row] = {}
    for r in facts.read("production", "mine_production.csv"):
        unit, unit_note = MINE_UNIT[r["unit"]]
        note = r["note"]
        if r["material"] == "REO (official production)":
            note = add_note(note, "material in source: 'REO (official production)'")
        row = so_row(
            year=int(r["year"]),
            stage="mine",
            material=MINE_MATERIAL[r["material"]],
            iso3=r["iso3"],
            vintage=r["edition"],
            unit=unit,
            source_id=r["source_id"],
            flag=status_flag(r["flag"], r["year_status"]),
            note=add_note(note, unit_note),
            **ranged(r, "tonnes"),
        )
        key = tuple(row[k] for k in SO_KEY)
        if key in seen:
            # Rule: keep the first row in fact-base order; record the alternative in its note.
            keep = seen[key]
            keep["note"] = add_note(
                keep["note"],
                f"alternative value in the same vintage: {r['tonnes']} ({r['source_id']}: "
                f"{r['note']}) - not kept as a row",
            )
            continue
        seen[key] = row
        out.append(row)
    return out


def magnet_history_rows(facts: FactBase) -> list[Row]:
    """Magnet production rows (all years) from magnet_production.csv; vintage = source_id."""
    return [
        so_row(
            year=int(r["year"]),
            stage="magnet",
            material=MAGNET_MATERIAL[r["product"]],
            iso3=r["iso3"],
            vintage=r["source_id"],
            unit="t_product",
            source_id=r["source_id"],
            flag=r["flag"],
            note=add_note(f"product in source: '{r['product']}'", r["note"]),
            **ranged(r, "value"),
        )
        for r in facts.read("production", "magnet_production.csv")
        if r["metric"] == "production" and r["unit"] == "t" and r["iso3"]
    ]


def published_rows(facts: FactBase) -> list[Row]:
    """stage_output rows as published: mine output (all editions) and magnet history."""
    return mine_rows(facts) + magnet_history_rows(facts)


# --- stage_shares and reserves ---------------------------------------------------------------


def build_stage_shares(facts: FactBase) -> list[Row]:
    """stage_shares: fact-base shares as fractions plus producer shares from the magnet file."""

    def country_share(r: Row, row: Row) -> None:
        row["share"] = pct_to_frac(r["share_pct"])

    def producer_share(r: Row, row: Row) -> None:
        row.update(
            stage="magnet",
            share=pct_to_frac(r["value"]),
            basis="producer share (from magnet_production.csv, metric market_share)",
        )

    out = copy_rows(
        facts.read("production", "stage_shares.csv"), "stage_shares", transform=country_share
    )
    out += copy_rows(
        (
            r
            for r in facts.read("production", "magnet_production.csv")
            if r["metric"] == "market_share"
        ),
        "stage_shares",
        rename={"stage_in_source": "product", "material": "product"},
        transform=producer_share,
    )
    return number_row(out, "stage_shares")


def reserve_rank(r: Row) -> tuple[int, int]:
    """Which of two rows with one key to keep: USGS first, then the one with fewer flags."""
    usgs = 0 if r["source_id"].startswith("usgs_") else 1
    return (usgs, len([f for f in r["flag"].split(";") if f]))


def build_reserves(facts: FactBase) -> list[Row]:
    """reserves: all editions; duplicate keys merged (primary source kept, other listed)."""
    groups: dict[tuple[str, ...], list[Row]] = {}
    for r in facts.read("production", "reserves.csv"):
        groups.setdefault((r["edition"], r["material"], r["iso3"], r["metric"]), []).append(r)
    out: list[Row] = []
    for (ed, _mat, iso, met), grp in groups.items():
        best = min(grp, key=reserve_rank)
        others = [r for r in grp if r is not best]
        note = best["note"]
        for o in others:
            if o["tonnes"] != best["tonnes"]:
                raise ValueError(f"reserves conflict not handled: {ed} {iso} {met}")
            note = add_note(note, f"same value also in {o['source_id']}: {o['note']}".rstrip(": "))
        row = copy_rows([best], "reserves")[0]
        row.update(note=note, other_source_ids=join_ids([o["source_id"] for o in others]))
        out.append(row)
    return out
