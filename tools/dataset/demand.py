"""Demand tables (fact family ``demand``): intensity, demand, import_dependence."""

from __future__ import annotations

from .common import FactBase, copy_rows
from .rows import Row, name_into_note, number_row, pct_to_frac


def build_intensity(facts: FactBase) -> list[Row]:
    """intensity: as in the fact base, numbered."""
    return number_row(copy_rows(facts.read("demand", "intensity.csv"), "intensity"), "intensity")


def build_demand(facts: FactBase) -> list[Row]:
    """demand: region_iso3 becomes iso3."""
    rows = copy_rows(facts.read("demand", "demand.csv"), "demand", rename={"iso3": "region_iso3"})
    return number_row(rows, "demand")


def build_import_dependence(facts: FactBase) -> list[Row]:
    """import_dependence: shares as fractions; names without a code move into the note."""

    def tf(r: Row, row: Row) -> None:
        is_share = r["unit"] == "pct"
        note = name_into_note(r["note"], r["importer_iso3"], r["importer"], "importer")
        row.update(
            share=pct_to_frac(r["share_pct"]),
            share_low=pct_to_frac(r["share_low"]) if is_share else r["share_low"],
            share_high=pct_to_frac(r["share_high"]) if is_share else r["share_high"],
            unit="fraction" if is_share else r["unit"],
            note=name_into_note(note, r["supplier_iso3"], r["supplier"], "supplier"),
        )

    rows = copy_rows(
        facts.read("demand", "import_dependence.csv"), "import_dependence", transform=tf
    )
    return number_row(rows, "import_dependence")
