"""Other critical minerals in stage_output (fact family ``minerals``).

Gallium, antimony, tungsten and natural graphite for 2024 from USGS MCS2025, read from
``facts/minerals/mcs2025_minerals.csv`` (sources in ``facts/minerals/seed_sources.csv``).
Figures are stored as published; the build converts kilograms to tonnes.
"""

from __future__ import annotations

from decimal import Decimal

from .common import FactBase
from .production import so_row
from .rows import Row, dec_str, status_flag

#: Tonnes per published unit.
TONNES_PER_UNIT = {"t": Decimal(1), "kg": Decimal("0.001")}


def mineral_rows(facts: FactBase) -> list[Row]:
    """Stage rows for the other critical minerals (mass in tonnes, unit ``t``)."""
    return [
        so_row(
            year=int(r["year"]),
            stage=r["stage"],
            material=r["material"],
            iso3=r["iso3"],
            vintage=r["edition"],
            tonnes=dec_str(Decimal(r["value"]) * TONNES_PER_UNIT[r["unit"]]),
            unit="t",
            source_id=r["source_id"],
            flag=status_flag(r["flag"], r["year_status"]),
            note=r["note"],
        )
        for r in facts.read("minerals", "mcs2025_minerals.csv")
    ]
