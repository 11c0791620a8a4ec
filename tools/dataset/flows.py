"""The ``flows`` table: known 2024 cross-border feedstock flows, derived with documented methods.

Inputs: ``production/mine_production.csv`` (USGS table notes), ``trade/us_statistics.csv``,
``trade/china_trade.csv`` and ``projects/project_events.csv``; the Lynas feed reuses the
separation estimate (:mod:`estimates`).
"""

from __future__ import annotations

from .common import BASELINE_YEAR, EST_SOURCE, EST_VINTAGE, Estimates, FactBase, blank_row
from .composition import MOUNTAIN_PASS, deposit_fractions, ndpr_fraction
from .rows import Row, find_one, fnum, grouped, join_flags, join_ids, num, taken_as_derived

#: Editions whose tables anchor the derived flows: the newest only. An older-edition flow
#: would survive as "newest per exporter/importer pair" where the newer edition no longer
#: supports it (Nigeria 2024: 13,000 t from China import data in MCS2025, 1,500 t without
#: that note in MCS2026).
FLOW_EDITIONS = ("MCS2026",)


def flow_row(exporter: str, importer: str, vintage: str, tonnes: str, **kw: str) -> Row:
    """A 2024 mine-stage REO flow (an oreflow estimate)."""
    row: Row = blank_row("flows")
    row.update(year=BASELINE_YEAR, stage="mine", material="REO", unit="t_REO", estimate=True)
    row.update(exporter=exporter, importer=importer, vintage=vintage, tonnes=tonnes, **kw)
    return row


def import_data_flows(mine: list[Row]) -> list[Row]:
    """X -> CHN where USGS estimated X's mine output from China's import data."""
    out: list[Row] = []
    for edition in FLOW_EDITIONS:
        for r in mine:
            if (
                r["edition"] != edition
                or r["year"] != str(BASELINE_YEAR)
                or "estimated from China import data" not in r["note"]
            ):
                continue
            if r["iso3"] == "AUS":
                continue  # see docs/data.md: Australia's feed goes mainly to Malaysia (Lynas)
            if num(r["tonnes"]) <= 0:
                continue
            out.append(
                flow_row(
                    r["iso3"],
                    "CHN",
                    edition,
                    r["tonnes"],
                    **taken_as_derived(r),
                    method=f"{r['iso3']}->CHN = all of {r['iso3']}'s {BASELINE_YEAR} mine output "
                    f"in {edition} ({r['tonnes']} t REO): USGS estimated that output from China's "
                    "import data (table note), so the tonnage is what China recorded as imported",
                    note=r["note"],
                )
            )
    return out


def us_export_flows(facts: FactBase, est: Estimates) -> list[Row]:
    """USA -> CHN: US exports of ores and compounds (destination assumed China)."""
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
                "USA",
                "CHN",
                edition,
                exp["value"],
                **taken_as_derived(exp),
                other_source_ids=join_ids([mp_reo["source_id"], ore["source_id"]]),
                method=f"USA->CHN = US exports of ores and compounds {BASELINE_YEAR} "
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
    return out


def lynas_flow(facts: FactBase, mine: list[Row], est: Estimates) -> Row:
    """AUS -> MYS: Lynas concentrate/MREC to Malaysia, from Lynas' NdPr output."""
    v = est.values
    lyn = find_one(
        facts.read("projects", "project_events.csv"),
        project_id="lynas_malaysia",
        date="c.2024",
        metric="NdPr oxide production",
    )
    newest = {"edition": "MCS2026", "year": str(BASELINE_YEAR), "material": "REO"}
    aus = find_one(mine, **newest, iso3="AUS")
    mys = find_one(mine, **newest, iso3="MYS")
    return flow_row(
        "AUS",
        "MYS",
        EST_VINTAGE,
        fnum(v["lyn_reo"]),
        tonnes_low=fnum(v["lyn_reo_low"]),
        tonnes_high=fnum(v["lyn_reo_high"]),
        source_id=EST_SOURCE,
        other_source_ids=join_ids([lyn["source_id"], "usgs_myb2022_ree", aus["source_id"]]),
        flag=join_flags("derived", lyn["flag"]),
        method=f"AUS->MYS = Lynas Malaysia NdPr oxide output c.2024 {lyn['value_low']}-"
        f"{lyn['value_high']} t (mid {fnum(v['lyn_ndpr'])}; {lyn['source_id']}) / NdPr share "
        f"of Mount Weld REO {fnum(v['mw_ndpr'], 4)} (usgs_myb2022_ree) = REO in the feed, "
        "assuming full recovery and that Lynas Malaysia is fed only from Mount Weld (via the "
        f"Kalgoorlie plant); Malaysia's own mine output ({grouped(mys['tonnes'])} t) goes to "
        "China",
        note=f"below Australia's {BASELINE_YEAR} mine output of {grouped(aus['tonnes'])} t "
        f"({aus['edition']}); the MYS separation row is smaller because it is scaled to the IEA "
        "China share",
    )


def build_flows(facts: FactBase, est: Estimates) -> list[Row]:
    """flows: 2024 mine-stage feedstock flows with methods."""
    mine = facts.read("production", "mine_production.csv")
    return [
        *import_data_flows(mine),
        *us_export_flows(facts, est),
        lynas_flow(facts, mine, est),
    ]
