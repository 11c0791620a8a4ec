"""The ``prices`` table: annual averages and dated price points (fact family ``prices``)."""

from __future__ import annotations

from .common import FactBase, copy_rows
from .rows import Row, add_note, number_row, status_flag


def annual_rows(rows: list[Row]) -> list[Row]:
    """Annual averages in USD/kg, one row per edition (revisions stay visible)."""

    def tf(r: Row, row: Row) -> None:
        row.update(
            period_type="annual_avg",
            unit="usd_per_kg",
            flag=status_flag(r["flag"], r["year_status"]),
        )

    rename = {"date": "year", "value": "usd_per_kg"}
    return copy_rows(rows, "prices", rename=rename, transform=tf)


def point_rows(rows: list[Row]) -> list[Row]:
    """Dated points: ``value`` is the low figure when it is the only one or equals the high."""

    def tf(r: Row, row: Row) -> None:
        lo, hi = r["value_low"], r["value_high"]
        row["value"] = lo if (lo and (lo == hi or not hi)) else ""
        if r["period_type"] == "annual":
            row["period_type"] = "annual_avg"
            row["note"] = add_note(r["note"], "period_type 'annual' in the fact base")

    return copy_rows(rows, "prices", transform=tf)


def build_prices(facts: FactBase) -> list[Row]:
    """prices: annual averages (USGS, MP) then dated points, one table."""
    out = annual_rows(facts.read("prices", "prices_annual.csv"))
    out += point_rows(facts.read("prices", "prices_points.csv"))
    return number_row(out, "prices")
