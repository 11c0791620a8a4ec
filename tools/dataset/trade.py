"""Trade tables: trade (family ``trade`` plus Myanmar flows), hs_codes, us_statistics."""

from __future__ import annotations

from .common import FactBase, copy_rows
from .rows import Row, name_into_note, number_row


def metric_for(flow: str, unit: str) -> str:
    """The trade metric of a China customs row (value, share or quantity)."""
    if unit.startswith(("usd", "eur", "cny")):
        return f"{flow}s value"
    if unit.startswith("pct"):
        return f"{flow} share ({unit})"
    return f"{flow}s"


def customs_rows(rows: list[Row], reporter: str, china: bool) -> list[Row]:
    """China or US customs rows; a partner name without a code moves into the note."""

    def tf(r: Row, row: Row) -> None:
        row["reporter"] = reporter
        row["note"] = name_into_note(r["note"], r["partner_iso3"], r["partner"], "partner")
        if china:
            row["metric"] = metric_for(r["flow"], r["unit"])
        else:
            row["flow"] = "import"

    return copy_rows(rows, "trade", transform=tf)


def myanmar_rows(rows: list[Row]) -> list[Row]:
    """Myanmar flows: China's imports from Myanmar, or the exporter's side of the flow."""

    def tf(r: Row, row: Row) -> None:
        exp, imp, metric = r["exporter_iso3"], r["importer_iso3"], r["metric"]
        if imp == "CHN" and metric.startswith("China") and "import" in metric.lower():
            row.update(reporter="CHN", flow="import", partner_iso3=exp)
            return
        reporter = exp or imp
        low = metric.lower()
        row.update(
            reporter=reporter,
            partner_iso3=imp if reporter == exp else "",
            flow="export" if ("export" in low or "supply to" in low) else "",
        )

    return copy_rows(rows, "trade", transform=tf)


def build_trade(facts: FactBase) -> list[Row]:
    """trade: China, US and Myanmar series in one table (mapping rules in docs/data.md)."""
    out = customs_rows(facts.read("trade", "china_trade.csv"), "CHN", china=True)
    out += customs_rows(facts.read("trade", "us_trade.csv"), "USA", china=False)
    out += myanmar_rows(facts.read("production", "myanmar_flows.csv"))
    return number_row(out, "trade")


def build_hs_codes(facts: FactBase) -> list[Row]:
    """hs_codes: as in the fact base."""
    return copy_rows(facts.read("reference", "hs_codes.csv"), "hs_codes")


def build_us_statistics(facts: FactBase) -> list[Row]:
    """us_statistics: as in the fact base, numbered."""
    rows = copy_rows(facts.read("trade", "us_statistics.csv"), "us_statistics")
    return number_row(rows, "us_statistics")
