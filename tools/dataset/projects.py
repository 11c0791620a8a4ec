"""Project tables (fact family ``projects``): projects, project_events, stockpiles, lead_times.

Producer and plant capacities of ``production/magnet_production.csv`` join the project tables:
a capacity of a known project becomes one of its events, any other a project of its own.
"""

from __future__ import annotations

from pathlib import Path

from .common import FactBase, copy_rows, read_csv
from .rows import Row, number_row

#: Magnet capacity rows (year, iso3, producer) that belong to projects of projects.csv.
KNOWN_PROJECTS = {
    ("end-2022", "USA", "USA Rare Earth"): "usar_stillwater",
    ("end-2022", "USA", "Urban Mining Co"): "noveon_san_marcos",
    ("end-2022", "USA", "MP Materials"): "mp_independence",
    ("end-2022", "VNM", "Shin-Etsu"): "mag_vn_shinetsu",
    ("2027", "CHN", "JL MAG"): "mag_cn_jl_mag",
}

#: Magnet capacity rows (year, iso3, producer, product) that become projects: (id, name).
NEW_PROJECTS = {
    (r["year"], r["iso3"], r["producer"], r["product"]): (r["project_id"], r["name"])
    for r in read_csv(Path(__file__).with_name("magnet_plants.csv"))
}

#: magnet_production.csv columns as project columns.
AS_PROJECT = {
    "owner": "producer",
    "capacity": "value",
    "capacity_low": "value_low",
    "capacity_high": "value_high",
    "capacity_qualifier": "qualifier",
    "materials": "product",
    "status_date": "year",
}


def is_capacity(r: Row) -> bool:
    """A magnet_production row that states a capacity (also 'production' in t_per_yr)."""
    metric: str = r["metric"]
    return metric == "capacity" or (metric == "production" and r["unit"] == "t_per_yr")


def origin(r: Row) -> str:
    """Where a project or event row taken from the magnet file comes from."""
    return f"from magnet_production.csv (metric {r['metric']}, year {r['year']})"


def plant_stage(product: str) -> str:
    """Stage of a plant from its product wording."""
    if "alloy" in product:
        return "magnet alloy"
    return "recycling" if "scrap" in product else "magnet"


def capacity_project(r: Row) -> Row:
    """A projects row for a magnet capacity of a plant not in projects.csv."""
    pid, name = NEW_PROJECTS[(r["year"], r["iso3"], r["producer"], r["product"])]
    row = copy_rows([r], "projects", rename=AS_PROJECT)[0]
    row.update(
        project_id=pid,
        name=name,
        location=r["country"] if not r["iso3"] else "",
        stage=plant_stage(r["product"]),
        capacity_unit=f"{r['unit']} {r['product']}",
        capacity_note=origin(r),
    )
    return row


def capacity_event(r: Row) -> Row:
    """A project_events row for a magnet capacity of a known project."""
    row = copy_rows([r], "project_events", rename={"date": "year"})[0]
    row.update(
        project_id=KNOWN_PROJECTS[(r["year"], r["iso3"], r["producer"])],
        event_type="capacity",
        metric=f"{r['product']} capacity ({r['producer']})",
        detail=origin(r),
    )
    return row


def build_projects(facts: FactBase) -> tuple[list[Row], list[Row]]:
    """projects and project_events, plus producer capacities from magnet_production.csv."""
    projects = copy_rows(facts.read("projects", "projects.csv"), "projects")
    events = copy_rows(facts.read("projects", "project_events.csv"), "project_events")
    for r in filter(is_capacity, facts.read("production", "magnet_production.csv")):
        if (r["year"], r["iso3"], r["producer"], r["product"]) in NEW_PROJECTS:
            projects.append(capacity_project(r))
        elif (r["year"], r["iso3"], r["producer"]) in KNOWN_PROJECTS:
            events.append(capacity_event(r))
        else:
            raise ValueError(f"magnet capacity row not mapped: {r}")
    return projects, number_row(events, "project_events")


def build_stockpiles(facts: FactBase) -> list[Row]:
    """stockpiles: as in the fact base, numbered."""
    rows = copy_rows(facts.read("projects", "stockpiles.csv"), "stockpiles")
    return number_row(rows, "stockpiles")


def build_lead_times(facts: FactBase) -> list[Row]:
    """lead_times: as in the fact base."""
    return copy_rows(facts.read("projects", "lead_times.csv"), "lead_times")
