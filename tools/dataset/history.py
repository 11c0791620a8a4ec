"""History series for the engine's calibration (fact family ``history``).

Two episodes, each a prices file and a trade file:

* ``re_2009_2012_*``: the rare-earth crisis. Monthly KOMIS FOB-China quotes (month averages
  and month-end quotes, derived from the daily series with their method), China domestic
  prices in CNY, quarterly and annual averages; China's monthly exports, Japan's imports,
  export quotas by half-year, smuggling estimates and demand.
* ``gage_2022_2025_*``: gallium and germanium around China's export licensing of 1 Aug 2023:
  prices in and outside China, China's monthly exports by destination, licensing milestones.

Rows are carried over as published, with their ``source_id``, ``other_source_ids``, ``flag``
and ``method``. The trade files mix several kinds of rows; :func:`trade_tables` routes each
``flow`` to the table that fits it (rules in docs/data.md, "History").
"""

from __future__ import annotations

import re

from .common import FactBase, copy_rows
from .rows import Row, add_note, name_into_note
from .trade import metric_for

PRICE_FILES = ("re_2009_2012_prices.csv", "gage_2022_2025_prices.csv")
TRADE_FILES = ("re_2009_2012_trade.csv", "gage_2022_2025_trade.csv")

#: Fact-base trade metrics that are the plain quantity, value or partner share of a flow; they
#: take the names the China customs rows use (``exports``, ``exports value``,
#: ``export share (pct)``), so that one filter selects a series across files.
CORE_METRICS = {
    "volume", "export_quantity", "value", "export_value", "share", "export_share",
}

#: The policy of each licensing milestone, by (date, metric). Every licensing row must be
#: listed: a new row in the fact base needs a decision here. ``""`` = no matching policy.
LICENSING_POLICY = {
    ("2023-07-03", "controlled_items"): "cn_2023_ga_ge",
    ("2023-08-01", "controls_effective"): "cn_2023_ga_ge",
    ("2023-08", "licence_processing_time"): "cn_2023_ga_ge",
    ("2023-09", "licence_processing_time"): "cn_2023_ga_ge",
    ("2023-09-21", "licences_granted"): "cn_2023_ga_ge",
    ("2023-09", "licences_granted_to_traders"): "cn_2023_ga_ge",
    ("2023-11", "licences_granted"): "cn_2023_ga_ge",
    ("2023-11", "exports_resume"): "cn_2023_ga_ge",
    ("2024-11-15", "dual_use_list_published"): "cn_2024_dual_use_regulations",
    ("2024-12-03", "export_ban"): "cn_2024_us_ban",
    ("2025-01-02", "technology_control"): "cn_2025_ga_extraction_tech",
    ("2025-05", "anti_smuggling_campaign"): "cn_2025_anti_smuggling",
    ("2025", "licence_processing_time"): "cn_2023_ga_ge",
    ("2025-11-05", "us_entities_eased"): "cn_2025_us_easing",
    ("2025-11-09", "export_ban_suspended"): "cn_2025_us_easing",
    ("2026-01", "controls_tightened"): "",
}

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def series_of(name: str) -> str:
    """The series name of a history file: ``re_2009_2012_prices.csv`` -> ``re_2009_2012``."""
    return name.rsplit("_", 1)[0]


def checked(rows: list[Row], where: str) -> list[Row]:
    """The rows, after checking that every derived row says how it was derived."""
    for r in rows:
        if "derived" in r["flag"].split(";") and not r["method"]:
            raise ValueError(f"{where}: derived row without method: {r}")
    return rows


def price_rows(facts: FactBase) -> list[Row]:
    """prices rows of both episodes, as published (currency and VAT basis kept)."""
    out: list[Row] = []
    for name in PRICE_FILES:
        rows = copy_rows(checked(facts.read("history", name), f"history/{name}"), "prices")
        for row in rows:
            row["series"] = series_of(name)
        out += rows
    return out


# --- trade files ------------------------------------------------------------------------------


def _trade(r: Row) -> Row:
    """An export, import or smuggling-estimate row of the trade table."""
    flow, metric = r["flow"], r["metric"]
    if flow == "smuggling_estimate":
        flow, metric = "", f"smuggling estimate: {metric}"
    elif metric in CORE_METRICS:
        metric = metric_for(flow, r["unit"])
    row = copy_rows([r], "trade", rename={"reporter": "reporter_iso3"})[0]
    row.update(
        flow=flow,
        metric=metric,
        note=name_into_note(r["note"], r["partner_iso3"], r["partner"], "partner"),
    )
    return row


def _quota(r: Row) -> Row:
    """An export-quota row of the quotas table (year, period, metric, segment)."""
    metric = r["metric"]
    segment = "all REE"
    if metric.endswith("_domestic_firms"):
        segment = "domestic firms"
    elif metric.endswith("_foreign_firms"):
        segment = "foreign-invested firms"
    row = copy_rows([r], "quotas")[0]
    row.update(
        year=r["period"][:4],
        period=quota_period(r["period"]),
        metric="quota_utilisation" if metric == "utilisation" else "export_quota",
        segment=segment,
        note=add_note(r["note"].strip(), f"period in fact base: {r['period']}"),
    )
    return row


def quota_period(p: str) -> str:
    """The quotas table's wording of a fact-base period (2009-H1, 2011-01..09, 2012 …)."""
    if re.fullmatch(r"\d{4}", p):
        return "full year"
    if p.endswith("-H1"):
        return "first half (H1)"
    if p.endswith("-H2"):
        return "second half (H2)"
    m = re.fullmatch(r"\d{4}-(\d{2})\.\.(\d{2})", p)
    if m:
        return f"{MONTHS[int(m.group(1)) - 1]}-{MONTHS[int(m.group(2)) - 1]}"
    m = re.fullmatch(r"\d{4} \((.*)\)", p)
    if m:
        return m.group(1)
    raise ValueError(f"history: quota period {p!r} not understood")


def _licence(r: Row, seen: set[str]) -> Row:
    """A licensing milestone of the licensing table, linked to its policy."""
    key = (r["period"], r["metric"])
    if key not in LICENSING_POLICY:
        raise ValueError(f"history: licensing row {key} has no policy decision (history.py)")
    if r["method"]:
        raise ValueError(f"history: licensing row {key} has a method the table cannot hold")
    material = r["material"].replace(" ", "")
    stat_id = f"hist_{material.replace(';', '_').lower()}_{r['metric']}_{r['period']}"
    if stat_id in seen:
        raise ValueError(f"history: duplicate licensing stat_id {stat_id}")
    seen.add(stat_id)
    dest = "all destinations" if r["partner_iso3"] == "WLD" else f"to {r['partner']}"
    policy = LICENSING_POLICY[key]
    note = r["note"]
    if not policy:
        note = add_note(note, "no matching policy in policies.csv")
    row = copy_rows([r], "licensing")[0]
    row.update(
        stat_id=stat_id,
        policy_id=policy,
        date=r["period"],
        metric=r["metric"].replace("_", " "),
        scope=f"China's exports of {r['material']}, {dest}",
        note=note,
    )
    return row


def _consumption(r: Row) -> Row:
    """A rare-earth demand figure of the demand table."""
    row = copy_rows([r], "demand", rename={"iso3": "reporter_iso3", "year": "period"})[0]
    row.update(metric="consumption", sector="all", material="REE", basis=r["product"])
    return row


def trade_tables(facts: FactBase) -> dict[str, list[Row]]:
    """The rows of both trade files, by target table.

    ``export``/``import`` rows and smuggling estimates (blank flow: not a recorded flow) go to
    trade; ``quota`` rows to quotas; ``licensing`` milestones to licensing; ``consumption``
    rows to demand.
    """
    out: dict[str, list[Row]] = {"trade": [], "quotas": [], "licensing": [], "demand": []}
    seen: set[str] = set()
    for name in TRADE_FILES:
        for r in checked(facts.read("history", name), f"history/{name}"):
            r.setdefault("material", "")
            flow = r["flow"]
            if flow in ("export", "import", "smuggling_estimate"):
                out["trade"].append({**_trade(r), "series": series_of(name)})
            elif flow == "quota":
                if r["method"]:
                    raise ValueError(f"history: quota row has a method: {r}")
                out["quotas"].append(_quota(r))
            elif flow == "licensing":
                out["licensing"].append(_licence(r, seen))
            elif flow == "consumption":
                out["demand"].append(_consumption(r))
            else:
                raise ValueError(f"history/{name}: flow {flow!r} has no table")
    return out
