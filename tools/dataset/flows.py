"""The ``flows`` table: known cross-border feedstock flows of 2024 and 2025, derived with
documented methods.

Inputs: ``production/mine_production.csv`` (USGS table notes), ``trade/us_statistics.csv``,
``trade/china_trade.csv``, ``production/china_feed.csv``, ``production/downstream_output.csv``
and ``projects/project_events.csv``.
"""

from __future__ import annotations

from .common import EST_SOURCE, EST_VINTAGE, Estimates, FactBase, blank_row, share_range
from .composition import MOUNT_WELD, MOUNTAIN_PASS, deposit_fractions, ndpr_fraction
from .rows import (
    Row,
    find_one,
    fnum,
    grouped,
    join_flags,
    join_ids,
    num,
    quality_flags,
    taken_as_derived,
)

#: Editions whose tables anchor the derived flows: the newest only. An older-edition flow
#: would survive as "newest per exporter/importer pair" where the newer edition no longer
#: supports it (Nigeria 2024: 13,000 t from China import data in MCS2025, 1,500 t without
#: that note in MCS2026).
FLOW_EDITIONS = ("MCS2026",)


#: Years with derived flows.
YEARS = (2024, 2025)


def flow_row(year: int, exporter: str, importer: str, vintage: str, tonnes: str,
             **kw: str) -> Row:
    """A mine-stage REO flow (an oreflow estimate)."""
    row: Row = blank_row("flows")
    row.update(year=year, stage="mine", material="REO", unit="t_REO", estimate=True)
    row.update(exporter=exporter, importer=importer, vintage=vintage, tonnes=tonnes, **kw)
    return row


def import_data_flows(mine: list[Row], year: int) -> list[Row]:
    """X -> CHN where USGS estimated X's mine output from China's import data."""
    out: list[Row] = []
    for edition in FLOW_EDITIONS:
        for r in mine:
            if (
                r["edition"] != edition
                or r["year"] != str(year)
                or "estimated from China import data" not in r["note"]
            ):
                continue
            if r["iso3"] == "AUS":
                continue  # see docs/data.md: Australia's feed goes mainly to Malaysia (Lynas)
            if num(r["tonnes"]) <= 0:
                continue
            out.append(
                flow_row(
                    year,
                    r["iso3"],
                    "CHN",
                    edition,
                    r["tonnes"],
                    **taken_as_derived(r),
                    method=f"{r['iso3']}->CHN = all of {r['iso3']}'s {year} mine output "
                    f"in {edition} ({r['tonnes']} t REO): USGS estimated that output from China's "
                    "import data (table note), so the tonnage is what China recorded as imported",
                    note=r["note"],
                )
            )
    return out


def us_export_flows(facts: FactBase, est: Estimates) -> list[Row]:
    """USA -> CHN: 2024 US exports of ores and compounds (destination China); 2025 from China's
    imports of US concentrate (Jan-Sep) at the 2024 REO content of MP's concentrate."""
    events = facts.read("projects", "project_events.csv")
    mp = {"project_id": "mp_mountain_pass", "date": "2024"}
    mp_reo = find_one(events, **mp, metric="REO in concentrate")
    mp_ndpr = find_one(events, **mp, metric="NdPr oxide production", source_id="mp_fy2024_results")
    ore = find_one(
        facts.read("trade", "china_trade.csv"),
        period="2024",
        product="rare earth metal ore",
        partner_iso3="USA",
    )
    mp_ndpr_frac = ndpr_fraction(deposit_fractions(facts), MOUNTAIN_PASS)
    cross = num(mp_reo["value"]) - num(mp_ndpr["value"]) / mp_ndpr_frac
    est.values["mp_export_crosscheck"] = cross
    usstat = facts.read("trade", "us_statistics.csv")
    out: list[Row] = []
    for edition in FLOW_EDITIONS:
        exp = find_one(usstat, edition=edition, year="2024", item="exports: ores and compounds")
        out.append(
            flow_row(
                2024,
                "USA",
                "CHN",
                edition,
                exp["value"],
                **taken_as_derived(exp),
                other_source_ids=join_ids([mp_reo["source_id"], ore["source_id"]]),
                method="USA->CHN = US exports of ores and compounds 2024 "
                f"({exp['value']} t REO, {edition}), destination assumed China: MP Materials "
                "sold its concentrate under a Shenghe offtake (Jan 2024) and China imported ~"
                f"{ore['value']} t (gross weight) of RE ore almost entirely from MP "
                f"({ore['source_id']}); "
                f"cross-check: MP REO in concentrate {mp_reo['value']} t - NdPr oxide "
                f"{mp_ndpr['value']} t / NdPr share of Mountain Pass REO {fnum(mp_ndpr_frac, 4)} "
                f"= {fnum(cross)} t",
                note="exports include small amounts of compounds",
            )
        )
    feed = facts.read("production", "china_feed.csv")
    sold = find_one(feed, year="2024", exporter_iso3="USA", unit="t_REO",
                    product="REO sold by MP Materials (mainly concentrate to Shenghe, China)")
    y25 = find_one(feed, year="2025-01..09", exporter_iso3="USA", product="RE concentrates")
    grade = num(sold["value"]) / num(ore["value"])
    t25 = num(y25["value"]) * grade
    out.append(
        flow_row(
            2025, "USA", "CHN", EST_VINTAGE, fnum(t25), source_id=EST_SOURCE,
            other_source_ids=join_ids([y25["source_id"], sold["source_id"], ore["source_id"]]),
            flag=join_flags("derived", quality_flags([y25["flag"], sold["flag"]])),
            method=f"USA->CHN 2025 = China's imports of US RE concentrate Jan-Sep 2025 "
            f"{grouped(y25['value'])} t gross ({y25['source_id']}; none after MP Materials "
            f"stopped shipping in April) x REO content {grade:.3f} = MP's 2024 REO sold "
            f"{grouped(sold['value'])} t / China's 2024 ore imports from the US "
            f"{grouped(ore['value'])} t gross",
            note="2025 concentrate shipments ended in April 2025",
        )
    )
    return out


def lynas_flow(facts: FactBase, mine: list[Row], year: int) -> Row:
    """AUS -> MYS: Lynas concentrate/MREC to Malaysia, from Lynas' NdPr output of the year."""
    down = facts.read("production", "downstream_output.csv")
    lyn = find_one(down, year=str(year), stage="separation", iso3="MYS", material="NdPr",
                   metric="production", period=f"calendar {year}")
    mw = ndpr_fraction(deposit_fractions(facts), MOUNT_WELD)
    lo, mid, hi = share_range(facts, "separation_recovery")
    ndpr = num(lyn["value"])
    newest = {"edition": "MCS2026", "year": str(year), "material": "REO"}
    aus = find_one(mine, **newest, iso3="AUS")
    cap = num(aus["tonnes"])
    return flow_row(
        year,
        "AUS",
        "MYS",
        EST_VINTAGE,
        fnum(min(ndpr / (mw * mid), cap)),
        tonnes_low=fnum(min(ndpr / (mw * hi), cap)),
        tonnes_high=fnum(min(ndpr / (mw * lo), cap)),
        source_id=EST_SOURCE,
        other_source_ids=join_ids([lyn["source_id"], "usgs_myb2022_ree", aus["source_id"],
                                   "miit_2016_gfzt_bbjja"]),
        flag=join_flags("derived", lyn["flag"]),
        method=f"AUS->MYS = Lynas NdPr output {year} {grouped(lyn['value'])} t (sum of quarters,"
        f" {lyn['source_id']}) / (NdPr share of Mount Weld REO {fnum(mw, 4)}, usgs_myb2022_ree"
        f" x recovery {mid} ({lo}-{hi})), at most Australia's mine output "
        f"{grouped(aus['tonnes'])} t: Lynas Malaysia is fed from Mount Weld (via Kalgoorlie) and "
        "keeps NdPr and heavy REE; much of the La and Ce is rejected early in the process",
        note="Lynas' finished REO output is far below this feed: La/Ce rejected (Lynas FY2024 "
        "briefing) and process losses",
    )


def build_flows(facts: FactBase, est: Estimates) -> list[Row]:
    """flows: mine-stage feedstock flows of 2024 and 2025, with methods."""
    mine = facts.read("production", "mine_production.csv")
    out = us_export_flows(facts, est)
    for year in YEARS:
        out += import_data_flows(mine, year)
        out.append(lynas_flow(facts, mine, year))
    return out
