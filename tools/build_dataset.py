#!/usr/bin/env python3
"""Build oreflow's embedded default dataset from the sourced fact base.

The fact base (``shared/data/*.csv``, next to the repository) holds sourced facts as published.
This script turns it into the tables of the data contract (``docs/data-model.md``): one CSV per
table in ``src/oreflow/data/`` plus a Frictionless ``datapackage.json`` describing every column.

Rules (documented in ``docs/data.md``):

* figures are carried over exactly, with their ``source_id``; percentages become fractions in
  columns named ``share`` (exact decimal arithmetic, no float noise);
* oreflow's own derived rows (separation, metal and magnet stages for 2024, feedstock flows,
  country-average ore mixes, element splits) carry ``estimate = true`` and a ``method`` text with
  the equation and the input ``source_id`` values; nothing is invented;
* the output is deterministic: sorted rows, stable ``row_id`` values, ``\\n`` line endings.

Usage::

    python tools/build_dataset.py                 # build, then self-check
    python tools/build_dataset.py --src PATH      # read the fact base from PATH
    python tools/build_dataset.py --check         # only validate the committed outputs
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pycountry

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SRC = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "src" / "oreflow" / "data" / "tables"

DATASET_NAME = "oreflow-default"
DATASET_VERSION = "2026.11.0"
DATASET_CREATED = "2026-11-28T00:00:00Z"
#: Date on which the sources added by this script were read.
ACCESSED = "2026-11-28"
#: Vintage label of every row oreflow derives from several inputs (ranked lowest, see vintages).
EST_VINTAGE = "oreflow-2026.11"
EST_SOURCE = "oreflow_estimate"
BASELINE_YEAR = 2024

Row = dict[str, Any]

# ---------------------------------------------------------------------------------------------
# Table schemas (the single source of truth for column names, types and keys)
# ---------------------------------------------------------------------------------------------

FLAG_VOCAB = (
    "secondary",
    "UNVERIFIED",
    "derived",
    "estimate",
    "projection",
    "conflict",
    "as_quoted",
)
STAGES = ("mine", "separation", "metal", "magnet")


@dataclass(frozen=True)
class Col:
    """One column of a table: Frictionless field descriptor."""

    name: str
    type: str
    description: str
    unit: str | None = None
    constraints: dict[str, Any] = field(default_factory=dict)

    def descriptor(self) -> dict[str, Any]:
        """Return the Frictionless field descriptor."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "description": self.description,
        }
        if self.unit:
            out["unit"] = self.unit
        if self.constraints:
            out["constraints"] = dict(self.constraints)
        return out


@dataclass(frozen=True)
class Table:
    """A table of the contract: columns, primary key and foreign keys."""

    name: str
    title: str
    description: str
    cols: tuple[Col, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[tuple[str, str, str], ...] = ()

    @property
    def names(self) -> list[str]:
        """Column names in order."""
        return [c.name for c in self.cols]

    def col(self, name: str) -> Col:
        """Return the column called ``name``."""
        for c in self.cols:
            if c.name == name:
                return c
        raise KeyError(name)


def c(name: str, type_: str, description: str, unit: str | None = None, **cons: Any) -> Col:
    """Shorthand constructor for :class:`Col`."""
    return Col(name, type_, description, unit, dict(cons))


REQ: dict[str, Any] = {"required": True}
SHARE: dict[str, Any] = {"minimum": 0, "maximum": 1}


def source_id_col() -> Col:
    """The ``source_id`` column (required on every fact row)."""
    return c("source_id", "string", "Publication the row comes from (key into sources).", **REQ)


def other_sources_col() -> Col:
    """The ``other_source_ids`` column."""
    return c(
        "other_source_ids",
        "string",
        "Further publications for the same row, ';'-separated source_ids (no per-figure "
        "attribution).",
    )


def flag_col() -> Col:
    """The ``flag`` column."""
    return c(
        "flag",
        "string",
        "';'-separated quality flags: secondary, UNVERIFIED, derived, estimate, projection, "
        "conflict, as_quoted (meanings in docs/data.md).",
    )


def note_col() -> Col:
    """The ``note`` column."""
    return c(
        "note", "string", "Free-text note carried over from the fact base (plus oreflow notes)."
    )


def qualifier_col() -> Col:
    """The ``qualifier`` column."""
    return c(
        "qualifier",
        "string",
        "Qualifier of the number (~, >, <, >=, up to, NA, ...); the numeric column holds only "
        "the number.",
    )


def value_cols(what: str = "value") -> tuple[Col, ...]:
    """``value``, ``value_low``, ``value_high``."""
    return (
        c("value", "number", f"The {what} as published (unit in the unit column)."),
        c("value_low", "number", "Low end where the source gives a range."),
        c("value_high", "number", "High end where the source gives a range."),
    )


def unit_col(desc: str = "Unit of the numeric columns (see docs/data.md for the codes).") -> Col:
    """The ``unit`` column."""
    return c("unit", "string", desc)


def estimate_col() -> Col:
    """The ``estimate`` column."""
    return c(
        "estimate",
        "boolean",
        "true for rows that oreflow derives itself (the method column says how).",
        **REQ,
    )


def method_col() -> Col:
    """The ``method`` column."""
    return c(
        "method",
        "string",
        "For derived rows: the equation, its inputs and their source_ids.",
    )


SRC_FK = ("source_id", "sources", "source_id")

TABLES: dict[str, Table] = {}


def register(t: Table) -> None:
    """Add a table to :data:`TABLES`."""
    TABLES[t.name] = t


register(
    Table(
        "sources",
        "Sources",
        "Every publication cited by any table, with the licence rule applied.",
        (
            c("source_id", "string", "Short stable key.", **REQ),
            c("publisher", "string", "Publisher or outlet (as recorded in the fact base)."),
            c(
                "title",
                "string",
                "Title; square brackets mark descriptions where none was recorded.",
            ),
            c("edition", "string", "Edition or date of the publication as recorded."),
            c("url", "string", "Address where recorded."),
            c(
                "licence",
                "string",
                "Licence status of the publication (rule in docs/data.md).",
                **REQ,
            ),
            c("accessed", "date", "Date the publication was read, where known."),
            note_col(),
        ),
        ("source_id",),
    )
)

register(
    Table(
        "vintages",
        "Vintages",
        "Every edition/vintage label used by stage_output, flows, reserves, prices and "
        "us_statistics, ranked (higher = newer; oreflow estimates lowest).",
        (
            c("vintage", "string", "Edition or vintage label.", **REQ),
            c("rank", "integer", "Order of vintages: higher = newer.", required=True, minimum=1),
            c("published", "string", "Publication date (ISO YYYY, YYYY-MM or YYYY-MM-DD)."),
            c("source_id", "string", "Publication that defines the vintage, where one does."),
            c("note", "string", "How the date and rank were set."),
        ),
        ("vintage",),
        (SRC_FK,),
    )
)

register(
    Table(
        "countries",
        "Countries and aggregates",
        "ISO 3166-1 alpha-3 countries and the aggregate codes used by the data, with World "
        "Bank WGI governance.",
        (
            c("iso3", "string", "ISO 3166-1 alpha-3 code or aggregate code.", **REQ),
            c("name", "string", "Name (ISO 3166 short name for countries)."),
            c(
                "kind",
                "string",
                "country or aggregate.",
                required=True,
                enum=["country", "aggregate"],
            ),
            c("region", "string", "UN M49 region (Africa, Americas, Asia, Europe, Oceania)."),
            c("wgi_year", "integer", "Year of the WGI estimates used."),
            c(
                "wgi_estimate",
                "number",
                "Mean of the six WGI estimates (VA, PV, GE, RQ, RL, CC); -2.5..2.5, higher = "
                "better governance.",
                minimum=-2.5,
                maximum=2.5,
            ),
            c(
                "governance_score",
                "number",
                "(2.5 - wgi_estimate) * 2 clipped to 0..10; higher = worse governance.",
                minimum=0,
                maximum=10,
            ),
            c("wgi_source_id", "string", "Source of the WGI values."),
            c("subregion", "string", "UN M49 sub-region (added column)."),
        ),
        ("iso3",),
        (("wgi_source_id", "sources", "source_id"),),
    )
)

register(
    Table(
        "blocs",
        "Blocs",
        "Membership of minerals alliances, frameworks and the EU.",
        (
            c("bloc", "string", "Bloc code (MSP, G7, QUAD, EU27, ... as in the fact base).", **REQ),
            c("iso3", "string", "Member (EUU = the European Union as one member).", **REQ),
            c("bloc_name", "string", "Name of the bloc."),
            c("role", "string", "Role of the member."),
            c("joined", "string", "Date joined or signed (ISO) where known."),
            source_id_col(),
            flag_col(),
            note_col(),
            other_sources_col(),
        ),
        ("bloc", "iso3"),
        (SRC_FK, ("iso3", "countries", "iso3")),
    )
)

register(
    Table(
        "materials",
        "Materials",
        "Rare-earth elements, groups, products and other critical minerals.",
        (
            c("material", "string", "Material code.", **REQ),
            c(
                "kind",
                "string",
                "element, group, product, aggregate or mineral.",
                required=True,
                enum=["element", "group", "product", "aggregate", "mineral"],
            ),
            c("parent", "string", "Parent material (LREE/HREE for elements; NdFeB for its forms)."),
            c("name", "string", "Readable name."),
            note_col(),
        ),
        ("material",),
    )
)

register(
    Table(
        "stage_output",
        "Stage output",
        "Output by year, supply-chain stage, material and country, with vintages; 2024 "
        "separation, metal and magnet rows are oreflow estimates.",
        (
            c("year", "integer", "Data year.", **REQ),
            c("stage", "string", "Supply-chain stage.", required=True, enum=list(STAGES)),
            c("material", "string", "Material (key into materials).", **REQ),
            c("iso3", "string", "Country or aggregate (key into countries).", **REQ),
            c(
                "basis",
                "string",
                "production or capacity.",
                required=True,
                enum=["production", "capacity"],
            ),
            c("vintage", "string", "Edition/vintage (key into vintages).", **REQ),
            c("tonnes", "number", "Metric tonnes in the unit of the unit column.", minimum=0),
            c(
                "unit",
                "string",
                "t_REO (rare-earth oxide), t_product (tonnes of magnet product), t (tonnes of "
                "metal or contained element/mineral).",
                required=True,
                enum=["t_REO", "t_product", "t"],
            ),
            estimate_col(),
            method_col(),
            source_id_col(),
            flag_col(),
            note_col(),
            c("tonnes_low", "number", "Low end of a published range (added column).", minimum=0),
            c("tonnes_high", "number", "High end of a published range (added column).", minimum=0),
            qualifier_col(),
            other_sources_col(),
        ),
        ("year", "stage", "material", "iso3", "basis", "vintage"),
        (
            SRC_FK,
            ("iso3", "countries", "iso3"),
            ("material", "materials", "material"),
            ("vintage", "vintages", "vintage"),
        ),
    )
)

register(
    Table(
        "stage_shares",
        "Stage shares",
        "Published country shares of supply-chain stages (fractions).",
        (
            c("row_id", "string", "Stable row key.", **REQ),
            c("year", "string", "Year or span as written by the source (2024/25, c.2022, ...)."),
            c("stage", "string", "mine, separation, metal, magnet or unspecified."),
            c("stage_in_source", "string", "Stage wording used by the source."),
            c("material", "string", "Material as described by the source."),
            c("iso3", "string", "Country or aggregate; blank for regions without a code."),
            c("country", "string", "Name as in the fact base."),
            c("share", "number", "Share as a fraction (source percent / 100).", **SHARE),
            qualifier_col(),
            c("basis", "string", "Basis of the share as stated."),
            source_id_col(),
            flag_col(),
            note_col(),
            c(
                "producer",
                "string",
                "Company for producer-level shares (added column; blank for country shares).",
            ),
        ),
        ("row_id",),
        (SRC_FK, ("iso3", "countries", "iso3")),
    )
)

register(
    Table(
        "reserves",
        "Reserves",
        "Reserves and resources by country and edition (all editions kept).",
        (
            c("edition", "string", "Edition (key into vintages).", **REQ),
            c("material", "string", "Material.", **REQ),
            c("iso3", "string", "Country or aggregate.", **REQ),
            c(
                "metric",
                "string",
                "reserves, jorc_reserves, resources_measured_indicated, monazite_reserves.",
                **REQ,
            ),
            c("tonnes", "number", "Tonnes in the unit of the unit column.", minimum=0),
            qualifier_col(),
            unit_col("t_REO unless stated (t_monazite)."),
            source_id_col(),
            flag_col(),
            note_col(),
            other_sources_col(),
        ),
        ("edition", "material", "iso3", "metric"),
        (SRC_FK, ("iso3", "countries", "iso3"), ("edition", "vintages", "vintage")),
    )
)

register(
    Table(
        "flows",
        "Feedstock flows",
        "Known cross-border feedstock flows (2024), derived with documented methods.",
        (
            c("year", "integer", "Data year.", **REQ),
            c(
                "stage",
                "string",
                "Stage of the material that moves (mine = ore/concentrate).",
                required=True,
                enum=list(STAGES),
            ),
            c("material", "string", "Material (key into materials).", **REQ),
            c("exporter", "string", "Exporting country.", **REQ),
            c("importer", "string", "Importing country.", **REQ),
            c("vintage", "string", "Vintage of the anchoring figure (key into vintages).", **REQ),
            c("tonnes", "number", "Tonnes in the unit of the unit column.", minimum=0),
            unit_col("t_REO."),
            estimate_col(),
            method_col(),
            source_id_col(),
            flag_col(),
            note_col(),
            c("tonnes_low", "number", "Low end of the estimate (added column).", minimum=0),
            c("tonnes_high", "number", "High end of the estimate (added column).", minimum=0),
            qualifier_col(),
            other_sources_col(),
        ),
        ("year", "stage", "material", "exporter", "importer", "vintage"),
        (
            SRC_FK,
            ("exporter", "countries", "iso3"),
            ("importer", "countries", "iso3"),
            ("material", "materials", "material"),
            ("vintage", "vintages", "vintage"),
        ),
    )
)

register(
    Table(
        "composition",
        "Ore composition",
        "Element distribution of deposits (USGS) and oreflow's country-average ore mixes "
        "(deposit = 'country:ISO3').",
        (
            c(
                "deposit",
                "string",
                "Named deposit, or country:ISO3 for a country-average mix.",
                **REQ,
            ),
            c("element", "string", "Element (or element group as described by the source).", **REQ),
            c("iso3", "string", "Country of the deposit."),
            c("mineral", "string", "Ore mineral."),
            c("share", "number", "Share of total REO as a fraction.", **SHARE),
            qualifier_col(),
            c("basis", "string", "What the share is a share of."),
            source_id_col(),
            flag_col(),
            note_col(),
            estimate_col(),
            method_col(),
            other_sources_col(),
        ),
        ("deposit", "element"),
        (SRC_FK, ("iso3", "countries", "iso3")),
    )
)

register(
    Table(
        "recipes",
        "Magnet recipes",
        "Weight composition of NdFeB magnets (fractions).",
        (
            c("product", "string", "Product.", **REQ),
            c(
                "grade",
                "string",
                "Grade or variant (source_id appended where two sources collide).",
                **REQ,
            ),
            c("element", "string", "Element or element group.", **REQ),
            c("wt_frac", "number", "Weight fraction (wt% / 100).", **SHARE),
            c("wt_frac_low", "number", "Low end of a range.", **SHARE),
            c("wt_frac_high", "number", "High end of a range.", **SHARE),
            qualifier_col(),
            source_id_col(),
            flag_col(),
            note_col(),
        ),
        ("product", "grade", "element"),
        (SRC_FK,),
    )
)

register(
    Table(
        "intensity",
        "Material intensity",
        "Rare-earth content per unit of end product.",
        (
            c("row_id", "string", "Stable row key.", **REQ),
            c("product", "string", "End product."),
            c("material", "string", "Material as described by the source."),
            *value_cols("intensity"),
            qualifier_col(),
            unit_col(),
            c("basis", "string", "Basis as stated."),
            source_id_col(),
            other_sources_col(),
            flag_col(),
            note_col(),
        ),
        ("row_id",),
        (SRC_FK,),
    )
)

register(
    Table(
        "demand",
        "Demand",
        "Demand, end-use shares and outlooks.",
        (
            c("row_id", "string", "Stable row key.", **REQ),
            c("metric", "string", "What is measured."),
            c("year", "string", "Year or span."),
            c("scenario", "string", "Scenario (e.g. APS)."),
            c("iso3", "string", "Region code (fact-base region_iso3)."),
            c("region", "string", "Region name."),
            c("sector", "string", "Sector or end use."),
            c("material", "string", "Material."),
            *value_cols(),
            qualifier_col(),
            unit_col(),
            source_id_col(),
            flag_col(),
            note_col(),
        ),
        ("row_id",),
        (SRC_FK, ("iso3", "countries", "iso3")),
    )
)

register(
    Table(
        "prices",
        "Prices",
        "Annual average prices (USGS, Argus, MP) and dated price points and changes.",
        (
            c("row_id", "string", "Stable row key.", **REQ),
            c("date", "string", "Year, ISO date or span."),
            c(
                "period_type",
                "string",
                "annual_avg, quarter_avg, point, year_end or change.",
                required=True,
                enum=["annual_avg", "quarter_avg", "point", "year_end", "change"],
            ),
            c("material", "string", "Material."),
            c("product", "string", "Product."),
            c("purity", "string", "Purity where stated."),
            c("market", "string", "Market or price basis."),
            *value_cols("price or change"),
            qualifier_col(),
            unit_col(),
            c("edition", "string", "Edition for annual series (key into vintages)."),
            source_id_col(),
            flag_col(),
            note_col(),
            c("date_text", "string", "Date as written by the source (points; added column)."),
        ),
        ("row_id",),
        (SRC_FK, ("edition", "vintages", "vintage")),
    )
)

register(
    Table(
        "policies",
        "Policies",
        "Export controls and other trade and industrial-policy measures.",
        (
            c("policy_id", "string", "Stable key.", **REQ),
            c("announced", "string", "Announcement date."),
            c("effective", "string", "Effective date."),
            c("ended", "string", "End (or suspension) date; blank = in force or not found."),
            c("actor", "string", "Acting body."),
            c("actor_iso3", "string", "Acting country/countries (';'-separated)."),
            c("kind", "string", "Kind of measure."),
            c("instrument", "string", "Legal instrument."),
            c("materials", "string", "Materials covered."),
            c("stages", "string", "Stages covered."),
            c("targets", "string", "Targeted destinations."),
            c("target_iso3", "string", "Targeted countries (';'-separated)."),
            c("licence_lag_working_days", "number", "Licence processing time.", "working_days"),
            c(
                "de_minimis_share",
                "number",
                "De-minimis value share as a fraction (fact-base pct / 100).",
                **SHARE,
            ),
            c("approval_note", "string", "Notes on approvals."),
            c("detail", "string", "Detail of the measure."),
            source_id_col(),
            other_sources_col(),
            flag_col(),
            note_col(),
        ),
        ("policy_id",),
        (SRC_FK,),
    )
)

register(
    Table(
        "licensing",
        "Licensing statistics",
        "Licence mechanics and approval statistics.",
        (
            c("stat_id", "string", "Stable key.", **REQ),
            c("policy_id", "string", "Policy (key into policies)."),
            c("date", "string", "Date."),
            c("metric", "string", "What is measured."),
            *value_cols(),
            qualifier_col(),
            unit_col(),
            c("scope", "string", "Scope."),
            source_id_col(),
            other_sources_col(),
            flag_col(),
            note_col(),
        ),
        ("stat_id",),
        (SRC_FK, ("policy_id", "policies", "policy_id")),
    )
)

register(
    Table(
        "quotas",
        "China quotas",
        "China's export, mining and separation quotas and actual exports.",
        (
            c("row_id", "string", "Stable row key.", **REQ),
            c("year", "string", "Year or span."),
            c("period", "string", "Period (full year, batch, half-year, months)."),
            c("metric", "string", "export_quota, actual_exports, mining_quota, ..."),
            c("segment", "string", "Segment (all REE, light, medium/heavy, company, ...)."),
            c("value", "number", "Value as published."),
            qualifier_col(),
            unit_col(),
            source_id_col(),
            other_sources_col(),
            flag_col(),
            note_col(),
        ),
        ("row_id",),
        (SRC_FK,),
    )
)

register(
    Table(
        "projects",
        "Projects and plants",
        "Ex-China project pipeline and plants, plus producer capacities from the magnet file.",
        (
            c("project_id", "string", "Stable key.", **REQ),
            c("name", "string", "Name."),
            c("iso3", "string", "Country."),
            c("location", "string", "Location."),
            c("stage", "string", "Stage(s)."),
            c("owner", "string", "Owner."),
            c("capacity", "number", "Capacity (unit in capacity_unit)."),
            c("capacity_low", "number", "Low end of a capacity range."),
            c("capacity_high", "number", "High end of a capacity range."),
            c("capacity_qualifier", "string", "Qualifier of the capacity."),
            c("capacity_unit", "string", "Unit of the capacity, spelled out."),
            c("capacity_note", "string", "Other phases, resources."),
            c("materials", "string", "Materials."),
            c("status", "string", "Status."),
            c("status_date", "string", "Date of the status."),
            c("start_year", "string", "Actual or targeted start."),
            c("start_year_note", "string", "Note on the start."),
            c("capex_musd", "number", "Capex in million USD where given in USD.", "usd_million"),
            c("capex_text", "string", "Capex as written."),
            c("funding", "string", "Funding."),
            source_id_col(),
            other_sources_col(),
            flag_col(),
            note_col(),
        ),
        ("project_id",),
        (SRC_FK, ("iso3", "countries", "iso3")),
    )
)

register(
    Table(
        "project_events",
        "Project events",
        "Dated milestones, outputs, funding and status changes per project.",
        (
            c("row_id", "string", "Stable row key.", **REQ),
            c("project_id", "string", "Project (key into projects).", **REQ),
            c("date", "string", "Date or span."),
            c("event_type", "string", "milestone, output, capacity, funding, offtake, status."),
            c("metric", "string", "What is measured."),
            *value_cols(),
            qualifier_col(),
            unit_col(),
            c("detail", "string", "Detail."),
            source_id_col(),
            other_sources_col(),
            flag_col(),
            note_col(),
        ),
        ("row_id",),
        (SRC_FK, ("project_id", "projects", "project_id")),
    )
)

register(
    Table(
        "stockpiles",
        "Stockpiles",
        "Government and industry stockpiles, reserve programmes and inventory behaviour.",
        (
            c("row_id", "string", "Stable row key.", **REQ),
            c("holder", "string", "Holder."),
            c("iso3", "string", "Country."),
            c("material", "string", "Material."),
            c("metric", "string", "What is measured."),
            *value_cols(),
            qualifier_col(),
            unit_col(),
            c("date", "string", "Date."),
            source_id_col(),
            other_sources_col(),
            flag_col(),
            note_col(),
        ),
        ("row_id",),
        (SRC_FK, ("iso3", "countries", "iso3")),
    )
)

register(
    Table(
        "lead_times",
        "Lead times",
        "Mine, permitting, plant, qualification and substitution lead times.",
        (
            c("lead_id", "string", "Stable key.", **REQ),
            c("category", "string", "Category."),
            c("subject", "string", "Subject."),
            c("iso3", "string", "Country."),
            c("jurisdiction", "string", "Jurisdiction."),
            *value_cols(),
            qualifier_col(),
            unit_col(),
            c("scope", "string", "Scope."),
            c("date", "string", "Date."),
            source_id_col(),
            other_sources_col(),
            flag_col(),
            note_col(),
        ),
        ("lead_id",),
        (SRC_FK, ("iso3", "countries", "iso3")),
    )
)

register(
    Table(
        "parameters",
        "Model parameters",
        "Literature parameters for the dynamic model.",
        (
            c("parameter_id", "string", "Stable key.", **REQ),
            c("parameter", "string", "Parameter."),
            *value_cols(),
            qualifier_col(),
            unit_col(),
            c("context", "string", "Context."),
            source_id_col(),
            flag_col(),
            note_col(),
        ),
        ("parameter_id",),
        (SRC_FK,),
    )
)

register(
    Table(
        "trade",
        "Trade",
        "China, US and Myanmar trade series of the fact base in one table.",
        (
            c("row_id", "string", "Stable row key.", **REQ),
            c("period", "string", "Period."),
            c("reporter", "string", "Reporting country (whose trade the row describes)."),
            c(
                "flow",
                "string",
                "export or import (blank: context figure, not a flow).",
                enum=["export", "import"],
            ),
            c("product", "string", "Product."),
            c("hs_code", "string", "HS code where given."),
            c("partner_iso3", "string", "Partner."),
            c("metric", "string", "What is measured."),
            *value_cols(),
            qualifier_col(),
            unit_col(),
            c("basis", "string", "Basis."),
            source_id_col(),
            other_sources_col(),
            flag_col(),
            note_col(),
        ),
        ("row_id",),
        (SRC_FK, ("reporter", "countries", "iso3"), ("partner_iso3", "countries", "iso3")),
    )
)

register(
    Table(
        "import_dependence",
        "Import dependence",
        "Import dependence of the EU and Japan.",
        (
            c("row_id", "string", "Stable row key.", **REQ),
            c("importer_iso3", "string", "Importer."),
            c("period", "string", "Period."),
            c("material", "string", "Material."),
            c("supplier_iso3", "string", "Supplier."),
            c("share", "number", "Share as a fraction.", **SHARE),
            c("share_low", "number", "Low end (fraction).", **SHARE),
            c("share_high", "number", "High end (fraction).", **SHARE),
            c("quantity", "number", "Quantity (unit in unit)."),
            qualifier_col(),
            unit_col("Unit of quantity (t, t_per_yr); 'fraction' for share rows."),
            c("basis", "string", "Basis."),
            source_id_col(),
            flag_col(),
            note_col(),
        ),
        ("row_id",),
        (SRC_FK, ("importer_iso3", "countries", "iso3"), ("supplier_iso3", "countries", "iso3")),
    )
)

register(
    Table(
        "hs_codes",
        "Trade codes",
        "HS, US HTS and China national codes for rare-earth products.",
        (
            c("system", "string", "HS6, US_HTS10 or CN_national.", **REQ),
            c("code", "string", "Code.", **REQ),
            c("description", "string", "Description."),
            c("stage", "string", "Stage."),
            c("ree_specific", "string", "yes, no, partly."),
            c("cn_export_regime", "string", "China export regime codes."),
            c("us_tariff_note", "string", "US tariff note."),
            source_id_col(),
            other_sources_col(),
            flag_col(),
            note_col(),
        ),
        ("system", "code"),
        (SRC_FK,),
    )
)

register(
    Table(
        "us_statistics",
        "US salient statistics",
        "USGS salient statistics for the United States.",
        (
            c("row_id", "string", "Stable row key.", **REQ),
            c("edition", "string", "Edition (key into vintages).", **REQ),
            c("year", "string", "Data year."),
            c("item", "string", "Item."),
            c("value", "number", "Value."),
            qualifier_col(),
            unit_col(),
            c("year_status", "string", "estimate for USGS 'e' years."),
            source_id_col(),
            flag_col(),
            note_col(),
        ),
        ("row_id",),
        (SRC_FK, ("edition", "vintages", "vintage")),
    )
)

TABLE_ORDER = [
    "sources",
    "vintages",
    "countries",
    "blocs",
    "materials",
    "stage_output",
    "stage_shares",
    "reserves",
    "flows",
    "composition",
    "recipes",
    "intensity",
    "demand",
    "prices",
    "policies",
    "licensing",
    "quotas",
    "projects",
    "project_events",
    "stockpiles",
    "lead_times",
    "parameters",
    "trade",
    "import_dependence",
    "hs_codes",
    "us_statistics",
]

# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[Row]:
    """Read a fact-base CSV as a list of string dicts (file order kept)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [dict(r) for r in csv.DictReader(fh)]


def pct_to_frac(value: str) -> str:
    """Convert a published percent string to an exact fraction string ('' stays '')."""
    v = value.strip()
    if not v:
        return ""
    return dec_str(Decimal(v) / Decimal(100))


def dec_str(d: Decimal) -> str:
    """Format a Decimal without exponent and without trailing zeros."""
    s = format(d.normalize(), "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def fnum(x: float, ndigits: int = 0) -> str:
    """Format a derived float rounded to ``ndigits`` decimals, no exponent."""
    return dec_str(Decimal(repr(round(x, ndigits))))


def num(s: str) -> float:
    """Parse a numeric string from the fact base."""
    return float(s)


def join_flags(*parts: str) -> str:
    """Union of ';'-separated flag lists, in vocabulary order, without duplicates."""
    seen: set[str] = set()
    for p in parts:
        for f in p.split(";"):
            f = f.strip()
            if f:
                seen.add(f)
    ordered = [f for f in FLAG_VOCAB if f in seen] + sorted(seen - set(FLAG_VOCAB))
    return ";".join(ordered)


def quality_flags(flags: Iterable[str]) -> str:
    """Propagate only the quality flags (secondary, UNVERIFIED) of input rows."""
    keep: list[str] = []
    for f in flags:
        for part in f.split(";"):
            if part in ("secondary", "UNVERIFIED") and part not in keep:
                keep.append(part)
    return ";".join(keep)


def join_ids(ids: Iterable[str], exclude: str = "") -> str:
    """';'-join source ids, deduplicated in order, without ``exclude``."""
    out: list[str] = []
    for i in ids:
        for p in i.split(";"):
            p = p.strip()
            if p and p != exclude and p not in out:
                out.append(p)
    return ";".join(out)


def norm_iso_list(v: str) -> str:
    """Normalise '; '-separated code lists to ';'."""
    return ";".join(p.strip() for p in v.split(";") if p.strip())


def add_note(note: str, extra: str) -> str:
    """Append ``extra`` to a note."""
    if not extra:
        return note
    return f"{note}; {extra}" if note else extra


def name_into_note(note: str, code: str, name: str, label: str) -> str:
    """Keep a readable name whose code is blank (the contract drops name columns)."""
    if not code and name:
        return add_note(f"{label}: {name}", note)
    return note


def number_row(rows: list[Row], prefix: str) -> list[Row]:
    """Assign stable row_ids in the given (fact-base) order."""
    width = max(4, len(str(len(rows))))
    for i, r in enumerate(rows, 1):
        r["row_id"] = f"{prefix}-{i:0{width}d}"
    return rows


def pick(r: Row, cols: Iterable[str]) -> Row:
    """Copy the listed columns of a fact-base row ('' where missing)."""
    return {k: r.get(k, "") for k in cols}


def find_one(rows: list[Row], **conds: str) -> Row:
    """Return the single row matching all conditions (raises otherwise)."""
    hits = [r for r in rows if all(r.get(k, "") == v for k, v in conds.items())]
    if len(hits) != 1:
        raise LookupError(f"expected one row for {conds}, found {len(hits)}")
    return hits[0]


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------

FEDERAL_PREFIXES = (
    "U.S. Geological Survey",
    "US Department of",
    "Congressional Research Service",
    "US Federal Register",
    "US International Trade Commission",
    "US International Development Finance Corporation",
    "US GAO",
    "U.S. Government Accountability Office",
    "The White House",
)


def licence_for(source_id: str, publisher: str) -> str:
    """Licence rule (documented in docs/data.md)."""
    if source_id == EST_SOURCE:
        return "Apache-2.0 (oreflow project; derived rows)"
    if source_id == "wb_wgi_2024":
        return "CC BY 4.0"
    if publisher.startswith(FEDERAL_PREFIXES) and "as cited by" not in publisher:
        return "public domain (U.S. Government work)"
    return "facts cited with attribution; publisher's copyright"


#: Sources added by this script: things verified while building (see docs/data.md).
NEW_SOURCES: list[Row] = [
    {
        "source_id": EST_SOURCE,
        "publisher": "oreflow",
        "title": "oreflow documented estimates (method in each row)",
        "edition": DATASET_VERSION,
        "url": "",
        "accessed": "",
        "note": "Rows derived by tools/build_dataset.py from sourced inputs; each row names its "
        "inputs in method and other_source_ids. Methods in docs/data.md.",
    },
    {
        "source_id": "usgs_mcs2025_gallium",
        "publisher": "U.S. Geological Survey",
        "title": "Mineral Commodity Summaries 2025 - Gallium, pp. 74-75",
        "edition": "2025-01",
        "url": "https://pubs.usgs.gov/periodicals/mcs2025/mcs2025-gallium.pdf",
        "accessed": ACCESSED,
        "note": "Read through a plain-text extraction of the PDF in public GitHub repository "
        "Vanakka/metals-encyclopedia (src/data/usgs/text/mcs2025-gallium.txt, commit ad87eb5); "
        "table 'World Low-Purity Production and Production Capacity', kilograms of gallium.",
    },
    {
        "source_id": "usgs_mcs2025_antimony",
        "publisher": "U.S. Geological Survey",
        "title": "Mineral Commodity Summaries 2025 - Antimony, pp. 34-35",
        "edition": "2025-01",
        "url": "https://pubs.usgs.gov/periodicals/mcs2025/mcs2025-antimony.pdf",
        "accessed": ACCESSED,
        "note": "Read through a plain-text extraction of the PDF in public GitHub repository "
        "Vanakka/metals-encyclopedia (src/data/usgs/text/mcs2025-antimony.txt, commit ad87eb5); "
        "table 'World Mine Production and Reserves', metric tons of antimony content.",
    },
    {
        "source_id": "usgs_mcs2025_tungsten",
        "publisher": "U.S. Geological Survey",
        "title": "Mineral Commodity Summaries 2025 - Tungsten, pp. 190-191",
        "edition": "2025-01",
        "url": "https://pubs.usgs.gov/periodicals/mcs2025/mcs2025-tungsten.pdf",
        "accessed": ACCESSED,
        "note": "Read through a plain-text extraction of the PDF in public GitHub repository "
        "Vanakka/metals-encyclopedia (src/data/usgs/text/mcs2025-tungsten.txt, commit ad87eb5); "
        "table 'World Mine Production and Reserves' (mine production estimated), metric tons of "
        "tungsten content.",
    },
    {
        "source_id": "usgs_mcs2025_graphite",
        "publisher": "U.S. Geological Survey",
        "title": "Mineral Commodity Summaries 2025 - Graphite (Natural), pp. 84-85",
        "edition": "2025-01",
        "url": "https://pubs.usgs.gov/periodicals/mcs2025/mcs2025-graphite.pdf",
        "accessed": ACCESSED,
        "note": "Read through a plain-text extraction of the PDF in public GitHub repository "
        "Vanakka/metals-encyclopedia (src/data/usgs/text/mcs2025-graphite.txt, commit ad87eb5); "
        "table 'World Mine Production and Reserves', metric tons.",
    },
    {
        "source_id": "usgs_cordier_ree_groups",
        "publisher": "U.S. Geological Survey (D.J. Cordier), via EarthMagazine.org",
        "title": "Mineral Resource of the Month: Rare Earth Elements",
        "edition": "reprint dated 2021-08-27",
        "url": "https://keygroupenergies.com/mineral-resource-of-the-month-rare-earth-elements/",
        "accessed": ACCESSED,
        "note": "Defines light REE as La (57) through Gd (64) and heavy REE as Tb (65) through "
        "Lu (71) plus Y; Sc in neither group. Used for materials.parent.",
    },
]


def build_sources(src: Path) -> list[Row]:
    """sources: all fact-base sources plus the ones this script adds."""
    out: list[Row] = []
    for r in read_csv(src / "sources.csv"):
        out.append(
            {
                "source_id": r["source_id"],
                "publisher": r["publisher"],
                "title": r["title"],
                "edition": r["edition_or_date"],
                "url": r["url"],
                "licence": licence_for(r["source_id"], r["publisher"]),
                "accessed": "",
                "note": r["note"],
            }
        )
    for n in NEW_SOURCES:
        row = dict(n)
        row["licence"] = licence_for(row["source_id"], row["publisher"])
        out.append(row)
    return out


AGGREGATES: list[tuple[str, str, str]] = [
    ("WLD", "World", "world total"),
    ("OTH", "Other countries", "residual 'other countries' row of a source table"),
    ("EUU", "European Union", "the EU as one actor; expands to the EU27 bloc members at use time"),
    ("ROW", "Rest of world", "oreflow estimate residual (world minus the countries named)"),
    ("TOP3", "Top three countries combined", "used by IEA stage shares"),
    ("TOP10", "Top ten partners combined", "used by China trade (top-10 importers)"),
    ("SEL18", "18 selected partner countries", "denominator of a USITC DataWeb extract"),
    ("MMR+CHN", "Myanmar and China together", "used by a heavy-RE supply share"),
]

M49_REGION = {
    "Northern Africa": "Africa",
    "Eastern Africa": "Africa",
    "Middle Africa": "Africa",
    "Southern Africa": "Africa",
    "Western Africa": "Africa",
    "Caribbean": "Americas",
    "Central America": "Americas",
    "South America": "Americas",
    "Northern America": "Americas",
    "Central Asia": "Asia",
    "Eastern Asia": "Asia",
    "South-eastern Asia": "Asia",
    "Southern Asia": "Asia",
    "Western Asia": "Asia",
    "Eastern Europe": "Europe",
    "Northern Europe": "Europe",
    "Southern Europe": "Europe",
    "Western Europe": "Europe",
    "Australia and New Zealand": "Oceania",
    "Melanesia": "Oceania",
    "Micronesia": "Oceania",
    "Polynesia": "Oceania",
}


def m49_subregions(codes: list[str]) -> dict[str, str]:
    """UN M49 sub-region per ISO3 from country_converter (blank if the package is missing)."""
    try:
        import country_converter as coco  # build-time only dependency
    except ImportError:  # pragma: no cover - documented fallback
        print("warning: country_converter not installed; region left blank", file=sys.stderr)
        return {}
    import logging

    logging.getLogger("country_converter").setLevel(logging.ERROR)
    conv = coco.CountryConverter()
    res = conv.convert(codes, src="ISO3", to="UNregion", not_found="")
    return {code: (r if isinstance(r, str) else "") for code, r in zip(codes, res, strict=True)}


def build_countries(src: Path) -> list[Row]:
    """countries: ISO 3166-1 countries, aggregates and WGI governance."""
    wgi: dict[str, dict[str, float]] = {}
    wgi_year: dict[str, str] = {}
    wgi_src: dict[str, str] = {}
    for r in read_csv(src / "governance_wgi.csv"):
        wgi.setdefault(r["iso3"], {})[r["indicator"]] = num(r["estimate"])
        wgi_year[r["iso3"]] = r["year"]
        wgi_src[r["iso3"]] = r["source_id"]
    codes = sorted(c_.alpha_3 for c_ in pycountry.countries)
    sub = m49_subregions(codes)
    out: list[Row] = []
    for c_ in pycountry.countries:
        code = c_.alpha_3
        row: Row = {
            "iso3": code,
            "name": c_.name,
            "kind": "country",
            "region": M49_REGION.get(sub.get(code, ""), ""),
            "subregion": sub.get(code, "") if sub.get(code, "") != "Antarctica" else "",
            "wgi_year": "",
            "wgi_estimate": "",
            "governance_score": "",
            "wgi_source_id": "",
        }
        ind = wgi.get(code, {})
        if set(ind) == {"VA", "PV", "GE", "RQ", "RL", "CC"}:
            mean = sum(ind.values()) / 6
            score = min(10.0, max(0.0, (2.5 - mean) * 2))
            row.update(
                {
                    "wgi_year": int(wgi_year[code]),
                    "wgi_estimate": fnum(mean, 6),
                    "governance_score": fnum(score, 4),
                    "wgi_source_id": wgi_src[code],
                }
            )
        out.append(row)
    unknown = set(wgi) - {r["iso3"] for r in out}
    if unknown:
        raise ValueError(f"WGI codes not in ISO 3166: {sorted(unknown)}")
    for code, name, _note in AGGREGATES:
        out.append(
            {
                "iso3": code,
                "name": name,
                "kind": "aggregate",
                "region": "",
                "subregion": "",
                "wgi_year": "",
                "wgi_estimate": "",
                "governance_score": "",
                "wgi_source_id": "",
            }
        )
    return out


#: Blocs the contract requires by exact name, as aliases of the fact base's bloc codes.
BLOC_ALIASES = {
    "G7": (
        "G7_CMAP",
        "G7 member",
        "G7 (members as listed for the G7 Critical Minerals Action Plan)",
    ),
    "QUAD": (
        "QUAD_CMI",
        "member",
        "Quad (members as listed for the Quad Critical Minerals Initiative)",
    ),
}


def build_blocs(src: Path) -> list[Row]:
    """blocs: alliances.csv as is, plus the G7 and QUAD aliases."""
    rows = read_csv(src / "alliances.csv")
    cols = [
        "bloc",
        "iso3",
        "bloc_name",
        "role",
        "joined",
        "source_id",
        "flag",
        "note",
        "other_source_ids",
    ]
    out = [pick(r, cols) for r in rows]
    for alias, (code, role, name) in BLOC_ALIASES.items():
        for r in rows:
            if r["bloc"] == code and r["role"] == role:
                out.append(
                    {
                        "bloc": alias,
                        "iso3": r["iso3"],
                        "bloc_name": name,
                        "role": r["role"],
                        "joined": "",
                        "source_id": r["source_id"],
                        "flag": r["flag"],
                        "note": f"alias of bloc {code} (role '{role}'); 'joined' of {code} "
                        f"({r['joined']}) is not a membership date and is left blank",
                        "other_source_ids": r["other_source_ids"],
                    }
                )
    return out


ELEMENTS = [
    ("La", "lanthanum", 57),
    ("Ce", "cerium", 58),
    ("Pr", "praseodymium", 59),
    ("Nd", "neodymium", 60),
    ("Pm", "promethium", 61),
    ("Sm", "samarium", 62),
    ("Eu", "europium", 63),
    ("Gd", "gadolinium", 64),
    ("Tb", "terbium", 65),
    ("Dy", "dysprosium", 66),
    ("Ho", "holmium", 67),
    ("Er", "erbium", 68),
    ("Tm", "thulium", 69),
    ("Yb", "ytterbium", 70),
    ("Lu", "lutetium", 71),
    ("Sc", "scandium", 21),
    ("Y", "yttrium", 39),
]


def ree_group(symbol: str, z: int) -> str:
    """LREE/HREE per USGS (Cordier): La-Gd light, Tb-Lu and Y heavy, Sc neither."""
    if symbol == "Sc":
        return ""
    if symbol == "Y":
        return "HREE"
    return "LREE" if z <= 64 else "HREE"


def build_materials() -> list[Row]:
    """materials: elements, groups, products and other critical minerals."""
    cls = "group per USGS (Cordier; source usgs_cordier_ree_groups)"
    out: list[Row] = []
    for sym, name, z in ELEMENTS:
        parent = ree_group(sym, z)
        note = f"Z={z}; {cls}" if parent else f"Z={z}; in neither LREE nor HREE ({cls})"
        out.append(
            {"material": sym, "kind": "element", "parent": parent, "name": name, "note": note}
        )
    out += [
        {
            "material": "REO",
            "kind": "aggregate",
            "parent": "",
            "name": "total rare-earth oxide",
            "note": "all rare earths together; tonnes as oxide (t_REO), except stage_output metal-"
            "stage rows whose unit t means tonnes of rare-earth metal",
        },
        {
            "material": "LREE",
            "kind": "group",
            "parent": "REO",
            "name": "light rare earths",
            "note": "La-Gd (USGS, Cordier)",
        },
        {
            "material": "HREE",
            "kind": "group",
            "parent": "REO",
            "name": "heavy rare earths",
            "note": "Tb-Lu and Y (USGS, Cordier); the MCS2026 heavy chapter covers Tb-Lu without Y",
        },
        {
            "material": "NdPr",
            "kind": "group",
            "parent": "LREE",
            "name": "neodymium + praseodymium",
            "note": "didymium; the magnet light rare earths",
        },
        {
            "material": "RE",
            "kind": "group",
            "parent": "",
            "name": "rare-earth elements in total (metal basis)",
            "note": "used for recipe totals (wt% of all rare earths in a magnet alloy)",
        },
        {
            "material": "majorREE",
            "kind": "group",
            "parent": "",
            "name": "major rare earths as named by a source (Nd, Pr, Dy, Tb and others)",
            "note": "a source-defined group without an element list; see the row's note",
        },
        {
            "material": "NdFeB",
            "kind": "product",
            "parent": "",
            "name": "neodymium-iron-boron magnets",
            "note": "all NdFeB (sintered and bonded)",
        },
        {
            "material": "NdFeB_sintered",
            "kind": "product",
            "parent": "NdFeB",
            "name": "sintered NdFeB",
            "note": "sintered magnets or blanks",
        },
        {
            "material": "NdFeB_bonded",
            "kind": "product",
            "parent": "NdFeB",
            "name": "bonded NdFeB (powder)",
            "note": "bonded magnets or magnet powder",
        },
        {
            "material": "SmCo",
            "kind": "product",
            "parent": "",
            "name": "samarium-cobalt magnets",
            "note": "magnets or magnet alloy as stated",
        },
        {
            "material": "REPM",
            "kind": "product",
            "parent": "",
            "name": "rare-earth permanent magnets",
            "note": "NdFeB and SmCo together, as reported by sources that do not split them",
        },
        {
            "material": "Ga",
            "kind": "mineral",
            "parent": "",
            "name": "gallium",
            "note": "primary low-purity gallium (USGS)",
        },
        {
            "material": "Ge",
            "kind": "mineral",
            "parent": "",
            "name": "germanium",
            "note": "no world production table in USGS MCS2025",
        },
        {
            "material": "graphite",
            "kind": "mineral",
            "parent": "",
            "name": "natural graphite",
            "note": "stage_shares writes 'natural graphite'",
        },
        {"material": "Sb", "kind": "mineral", "parent": "", "name": "antimony", "note": ""},
        {"material": "W", "kind": "mineral", "parent": "", "name": "tungsten", "note": ""},
    ]
    for sym, name in [
        ("Mg", "magnesium"),
        ("Bi", "bismuth"),
        ("Be", "beryllium"),
        ("Nb", "niobium"),
        ("Co", "cobalt"),
        ("Pt", "platinum"),
        ("Ir", "iridium"),
        ("Rh", "rhodium"),
        ("Ru", "ruthenium"),
    ]:
        out.append(
            {
                "material": sym,
                "kind": "mineral",
                "parent": "",
                "name": name,
                "note": "comparator in the EU CRM 2020 supplier shares (stage_shares)",
            }
        )
    return out


# --- stage_output ----------------------------------------------------------------------------

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


def so_row(**kw: Any) -> Row:
    """A stage_output row with defaults."""
    row: Row = {
        "year": 0,
        "stage": "",
        "material": "REO",
        "iso3": "",
        "basis": "production",
        "vintage": "",
        "tonnes": "",
        "unit": "t_REO",
        "estimate": False,
        "method": "",
        "source_id": "",
        "flag": "",
        "note": "",
        "tonnes_low": "",
        "tonnes_high": "",
        "qualifier": "",
        "other_source_ids": "",
    }
    row.update(kw)
    return row


@dataclass
class Estimates:
    """Intermediate numbers of the 2024 estimates (reused by flows and the report)."""

    values: dict[str, float] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)


def mine_rows(src: Path) -> list[Row]:
    """Mine-stage rows from mine_production.csv (all editions), conflicts resolved."""
    out: list[Row] = []
    seen: dict[tuple[Any, ...], Row] = {}
    for r in read_csv(src / "mine_production.csv"):
        unit, unit_note = MINE_UNIT[r["unit"]]
        note = r["note"]
        if r["material"] == "REO (official production)":
            note = add_note(note, "material in source: 'REO (official production)'")
        note = add_note(note, unit_note)
        flag = r["flag"]
        if r["year_status"] == "estimate":
            flag = join_flags(flag, "estimate")
        row = so_row(
            year=int(r["year"]),
            stage="mine",
            material=MINE_MATERIAL[r["material"]],
            iso3=r["iso3"],
            vintage=r["edition"],
            tonnes=r["tonnes"],
            unit=unit,
            source_id=r["source_id"],
            flag=flag,
            note=note,
            tonnes_low=r["tonnes_low"],
            tonnes_high=r["tonnes_high"],
            qualifier=r["qualifier"],
        )
        key = (
            row["year"],
            row["stage"],
            row["material"],
            row["iso3"],
            row["basis"],
            row["vintage"],
        )
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


def magnet_history_rows(src: Path) -> list[Row]:
    """Magnet production rows (all years) from magnet_production.csv; vintage = source_id."""
    out: list[Row] = []
    for r in read_csv(src / "magnet_production.csv"):
        if r["metric"] != "production" or r["unit"] != "t" or not r["iso3"]:
            continue
        out.append(
            so_row(
                year=int(r["year"]),
                stage="magnet",
                material=MAGNET_MATERIAL[r["product"]],
                iso3=r["iso3"],
                vintage=r["source_id"],
                tonnes=r["value"],
                unit="t_product",
                source_id=r["source_id"],
                flag=r["flag"],
                note=add_note(f"product in source: '{r['product']}'", r["note"]),
                tonnes_low=r["value_low"],
                tonnes_high=r["value_high"],
                qualifier=r["qualifier"],
            )
        )
    return out


#: Other critical minerals read from USGS MCS2025 (see NEW_SOURCES); tonnes as published
#: (gallium converted from kilograms to tonnes).
OTHER_MINERALS: list[tuple[str, str, str, str, str, str]] = [
    # material, stage, iso3, tonnes, source_id, note
    (
        "Ga",
        "separation",
        "CHN",
        "750",
        "usgs_mcs2025_gallium",
        "primary low-purity gallium 2024e, published as 750,000 kg (footnote: estimated from a "
        "China Nonferrous Metals Industry Association article); primary gallium recovery from "
        "alumina/zinc processing mapped to the refining (separation) stage",
    ),
    (
        "Ga",
        "separation",
        "WLD",
        "760",
        "usgs_mcs2025_gallium",
        "world total (rounded) of primary low-purity gallium 2024e, published as 760,000 kg; "
        "refining (separation) stage mapping as for China",
    ),
    ("Sb", "mine", "CHN", "60000", "usgs_mcs2025_antimony", "mine production 2024e, Sb content"),
    (
        "Sb",
        "mine",
        "WLD",
        "100000",
        "usgs_mcs2025_antimony",
        "world total (rounded) 2024e, Sb content",
    ),
    (
        "W",
        "mine",
        "CHN",
        "67000",
        "usgs_mcs2025_tungsten",
        "mine production 2024 (table marked estimated), W content",
    ),
    (
        "W",
        "mine",
        "WLD",
        "81000",
        "usgs_mcs2025_tungsten",
        "world total (rounded) 2024 (table marked estimated), W content",
    ),
    (
        "graphite",
        "mine",
        "CHN",
        "1270000",
        "usgs_mcs2025_graphite",
        "natural graphite mine production 2024e",
    ),
    (
        "graphite",
        "mine",
        "WLD",
        "1600000",
        "usgs_mcs2025_graphite",
        "natural graphite world total (rounded) 2024e",
    ),
]


def other_mineral_rows() -> list[Row]:
    """Stage rows for Ga, Sb, W and graphite (2024, USGS MCS2025)."""
    return [
        so_row(
            year=BASELINE_YEAR,
            stage=stage,
            material=mat,
            iso3=iso,
            vintage="MCS2025",
            tonnes=t,
            unit="t",
            source_id=sid,
            flag="estimate",
            note=note,
        )
        for mat, stage, iso, t, sid, note in OTHER_MINERALS
    ]


def deposit_fractions(src: Path) -> dict[str, dict[str, float]]:
    """USGS deposit element shares renormalised to sum 1 over the elements present."""
    rows = [
        r for r in read_csv(src / "element_composition.csv") if r["source_id"] == "usgs_myb2022_ree"
    ]
    dep: dict[str, dict[str, float]] = {}
    for r in rows:
        dep.setdefault(r["deposit"], {})[r["element"]] = num(r["share_pct"])
    return {d: {e: v / sum(m.values()) for e, v in m.items()} for d, m in dep.items()}


BAYAN_OBO = "Bayan Obo, Inner Mongolia"
MOUNTAIN_PASS = "Mountain Pass, California"
MOUNT_WELD = "Mount Weld CLD"
MANAVALAKURICHI = "Manavalakurichi, Tamil Nadu"
REVDA = "Revda, Murmansk"
XUNWU = "Xunwu, Jiangxi"
LONGNAN = "Longnan, Jiangxi"


def ndpr_fraction(fracs: dict[str, dict[str, float]], deposit: str) -> float:
    """Nd + Pr share of REO of a deposit (renormalised USGS distribution)."""
    return fracs[deposit]["Nd"] + fracs[deposit]["Pr"]


def estimate_rows(src: Path, est: Estimates) -> list[Row]:
    """2024 separation, metal and magnet estimates and the JRC Dy split (method in each row)."""
    quotas = read_csv(src / "china_quotas.csv")
    shares = read_csv(src / "stage_shares.csv")
    events = read_csv(src / "project_events.csv")
    projects = {r["project_id"]: r for r in read_csv(src / "projects.csv")}
    magnets = read_csv(src / "magnet_production.csv")
    recipes = read_csv(src / "recipes.csv")
    usstat = read_csv(src / "us_statistics.csv")
    mine = read_csv(src / "mine_production.csv")
    fracs = deposit_fractions(src)
    out: list[Row] = []
    v = est.values

    # ---- separation ---------------------------------------------------------------------
    q = find_one(quotas, year="2024", period="full year", metric="separation_quota")
    s = find_one(
        shares, year="2024", stage="separation", iso3="CHN", source_id="automotiveworld_2025_06_19"
    )
    us = find_one(
        usstat,
        edition="MCS2026",
        year="2024",
        item="production: compounds and metals (California + Utah)",
    )
    lyn = find_one(
        events, project_id="lynas_malaysia", date="c.2024", metric="NdPr oxide production"
    )
    silmet = projects["neo_silmet"]
    c_sep = num(q["value"])
    s_sep = num(s["share_pct"]) / 100
    w_sep = c_sep / s_sep
    usa_sep = num(us["value"])
    resid = w_sep - c_sep - usa_sep
    mw_ndpr = ndpr_fraction(fracs, MOUNT_WELD)
    lyn_ndpr = (num(lyn["value_low"]) + num(lyn["value_high"])) / 2
    w_mys = lyn_ndpr / mw_ndpr
    w_est = num(silmet["capacity"])
    mys = resid * w_mys / (w_mys + w_est)
    est_ = resid * w_est / (w_mys + w_est)
    v.update(
        sep_chn=c_sep,
        sep_share=s_sep,
        sep_wld=w_sep,
        sep_usa=usa_sep,
        sep_resid=resid,
        mw_ndpr=mw_ndpr,
        lyn_ndpr=lyn_ndpr,
        lyn_reo=w_mys,
        lyn_reo_low=num(lyn["value_low"]) / mw_ndpr,
        lyn_reo_high=num(lyn["value_high"]) / mw_ndpr,
        sep_mys=mys,
        sep_est=est_,
    )
    sep_inputs = (
        f"C = China 2024 separation quota {q['value']} t ({q['source_id']}); "
        f"s = China share of separation/processing 2024 {s['share_pct']}% "
        f"({s['source_id']}, IEA as quoted)"
    )
    sep_flags = quality_flags([q["flag"], s["flag"]])
    base = {
        "year": BASELINE_YEAR,
        "stage": "separation",
        "material": "REO",
        "unit": "t_REO",
        "vintage": EST_VINTAGE,
        "estimate": True,
    }
    out.append(
        so_row(
            **base,
            iso3="CHN",
            tonnes=fnum(c_sep),
            source_id=q["source_id"],
            flag=join_flags("derived", quality_flags([q["flag"]])),
            method=f"CHN = C; {sep_inputs.split('; s =')[0]}; the quota is taken as output "
            "(imported feed processed outside the quota is not counted)",
            note="separated REO output proxied by the separation quota",
        )
    )
    out.append(
        so_row(
            **base,
            iso3="WLD",
            tonnes=fnum(w_sep),
            source_id=EST_SOURCE,
            other_source_ids=join_ids(
                [q["source_id"], s["source_id"], "iea_2025_10_23", "iea_gcmo2024"]
            ),
            flag=join_flags("derived", sep_flags),
            method=f"WLD = C / s = {q['value']} / {fnum(s_sep, 4)}; {sep_inputs}; other IEA "
            "readings: 91% (2024/25, iea_2025_10_23), 92% (2023, iea_gcmo2024)",
            note="world separated REO implied by China's quota and IEA share",
        )
    )
    out.append(
        so_row(
            year=BASELINE_YEAR,
            stage="separation",
            material="REO",
            unit="t_REO",
            iso3="USA",
            vintage=EST_VINTAGE,
            tonnes=us["value"],
            source_id=us["source_id"],
            estimate=True,
            flag=join_flags("derived", us["flag"]),
            method=f"USA = US production of compounds and metals {BASELINE_YEAR} "
            f"({us['value']} t REO, MCS2026 salient statistics, California + Utah) taken as "
            "separation output (commercial NdPr metal started only in 2025)",
            note="published USGS figure; a derived row only in its stage mapping, kept in the "
            "estimate vintage so that the 2024 separation rows form one set",
        )
    )
    common_m = (
        f"R = WLD - CHN - USA = {fnum(w_sep)} - {fnum(c_sep)} - {us['value']} = "
        f"{fnum(resid)} t split over the documented non-China, non-US separators in "
        f"proportion to REO-equivalent weights: MYS (Lynas Malaysia) = NdPr output "
        f"c.2024 {lyn['value_low']}-{lyn['value_high']} t (mid {fnum(lyn_ndpr)}; "
        f"{lyn['source_id']}) / NdPr share of Mount Weld REO {fnum(mw_ndpr, 4)} "
        f"(usgs_myb2022_ree) = {fnum(w_mys)} t; EST (NPM Silmet) = light-REE separation "
        f"capacity {silmet['capacity']} t/yr ({silmet['source_id']}). FRA (Solvay magnet "
        "line) started 2025 and CAN (SRC) has no 2024 annual figure: not allocated; "
        "other separators (e.g. RUS, IND) undocumented: gap"
    )
    out.append(
        so_row(
            **base,
            iso3="MYS",
            tonnes=fnum(mys),
            source_id=EST_SOURCE,
            other_source_ids=join_ids(
                [
                    q["source_id"],
                    s["source_id"],
                    us["source_id"],
                    lyn["source_id"],
                    "usgs_myb2022_ree",
                    silmet["source_id"],
                ]
            ),
            flag=join_flags("derived", sep_flags, lyn["flag"]),
            method=f"MYS = R * {fnum(w_mys)} / ({fnum(w_mys)} + {w_est:g}); {common_m}",
            note="IEA gives Malaysia 5% of refining in 2023 (stage_shares)",
        )
    )
    out.append(
        so_row(
            **base,
            iso3="EST",
            tonnes=fnum(est_),
            source_id=EST_SOURCE,
            other_source_ids=join_ids(
                [
                    q["source_id"],
                    s["source_id"],
                    us["source_id"],
                    lyn["source_id"],
                    "usgs_myb2022_ree",
                    silmet["source_id"],
                ]
            ),
            flag=join_flags("derived", sep_flags, silmet["flag"]),
            method=f"EST = R * {w_est:g} / ({fnum(w_mys)} + {w_est:g}); {common_m}",
            note="capacity used as the weight (no output figure)",
        )
    )

    # ---- magnet ---------------------------------------------------------------------------
    cm = find_one(magnets, year="2024", iso3="CHN", metric="production")
    sm = find_one(shares, year="2024/25", stage="magnet", iso3="CHN")
    jp = find_one(magnets, year="2020", iso3="JPN", metric="production")
    vn = find_one(magnets, year="end-2022", iso3="VNM", metric="capacity")
    th = find_one(magnets, year="end-2022", iso3="THA", metric="capacity")
    nv = projects["noveon_san_marcos"]
    c_mag = num(cm["value"])
    s_mag = num(sm["share_pct"]) / 100
    w_mag = c_mag / s_mag
    jpn = num(jp["value"])
    r2 = w_mag - c_mag - jpn
    vnm = min(num(vn["value"]), r2)
    r3 = r2 - vnm
    cap_us, cap_th = num(nv["capacity"]), num(th["value"])
    usa_mag = r3 * cap_us / (cap_us + cap_th)
    tha_mag = r3 * cap_th / (cap_us + cap_th)
    v.update(
        mag_chn=c_mag,
        mag_share=s_mag,
        mag_wld=w_mag,
        mag_jpn=jpn,
        mag_r2=r2,
        mag_vnm=vnm,
        mag_r3=r3,
        mag_usa=usa_mag,
        mag_tha=tha_mag,
    )
    mag_in = (
        f"C = China RE permanent magnet output 2024 ~{cm['value']} t ({cm['source_id']}, "
        f"expected value stated May 2024, taken as NdFeB); s = China share of permanent "
        f"magnet manufacturing {sm['share_pct']}% (2024/25, {sm['source_id']})"
    )
    mag_flags = quality_flags([cm["flag"], sm["flag"]])
    mbase = {
        "year": BASELINE_YEAR,
        "stage": "magnet",
        "material": "NdFeB",
        "unit": "t_product",
        "vintage": EST_VINTAGE,
        "estimate": True,
    }
    out.append(
        so_row(
            **mbase,
            iso3="CHN",
            tonnes=fnum(c_mag),
            source_id=cm["source_id"],
            flag=join_flags("derived", quality_flags([cm["flag"]])),
            method=f"CHN = C; {mag_in.split('; s =')[0]}; "
            "SmCo (3,723 t in 2023, kinzokufocus_2024_10) "
            "is not subtracted",
            note="input is a projection made in May 2024 (flag projection in magnet_production)",
        )
    )
    out.append(
        so_row(
            **mbase,
            iso3="WLD",
            tonnes=fnum(w_mag),
            source_id=EST_SOURCE,
            other_source_ids=join_ids([cm["source_id"], sm["source_id"]]),
            flag=join_flags("derived", mag_flags),
            method=f"WLD = C / s = {cm['value']} / {fnum(s_mag, 4)}; {mag_in}",
            note="cross-check: world RE magnet output ~270,000 t 2023 and ~310,000 t 2025 "
            "(metalnomist_2025_10)",
        )
    )
    rest = (
        f"R2 = WLD - CHN - JPN = {fnum(w_mag)} - {fnum(c_mag)} - {jp['value']} = {fnum(r2)}; "
        f"VNM = Shin-Etsu Vietnam capacity {vn['value']} t/yr ({vn['source_id']}, end-2022; "
        f"C&EN gave 2,000 t/yr for 2016/2017), assumed fully used; R3 = R2 - VNM = "
        f"{fnum(r3)} split by documented capacities of makers operating in 2024: USA Noveon "
        f"{nv['capacity']} t/yr ({nv['source_id']}), THA Neo {th['value']} t/yr NdFeB "
        f"powder ({th['source_id']}); not allocated (started 2025 or later, or no "
        "country split): USA Rare Earth, MP Independence, e-VAC, Neo Narva, SGI; Europe (VAC) "
        "and Korea: no capacity data (gap)"
    )
    out.append(
        so_row(
            **mbase,
            iso3="JPN",
            tonnes=fnum(jpn),
            source_id=jp["source_id"],
            other_source_ids=join_ids([cm["source_id"], sm["source_id"]]),
            flag=join_flags("derived", jp["flag"]),
            method=f"JPN = last Japan Society of Newer Metals figure (2020, ~{jp['value']} t, "
            f"{jp['source_id']}) carried forward to 2024 (no later Japanese tonnage found)",
            note="carry-forward; Argus puts Japan below 9% of world permanent-magnet output c.2022",
        )
    )
    out.append(
        so_row(
            **mbase,
            iso3="VNM",
            tonnes=fnum(vnm),
            source_id=EST_SOURCE,
            other_source_ids=join_ids(
                [
                    vn["source_id"],
                    cm["source_id"],
                    sm["source_id"],
                    jp["source_id"],
                    "cen_2014_04_28",
                ]
            ),
            flag=join_flags("derived", mag_flags, vn["flag"]),
            method=f"VNM = min(capacity, R2); {rest}",
            note="capacity proxy",
        )
    )
    for iso, val, cap_src, fl in (
        ("USA", usa_mag, nv, nv["flag"]),
        ("THA", tha_mag, th, th["flag"]),
    ):
        out.append(
            so_row(
                **mbase,
                iso3=iso,
                tonnes=fnum(val),
                source_id=EST_SOURCE,
                other_source_ids=join_ids(
                    [
                        cap_src["source_id"],
                        vn["source_id"],
                        cm["source_id"],
                        sm["source_id"],
                        jp["source_id"],
                    ]
                ),
                flag=join_flags("derived", mag_flags, vn["flag"], fl),
                method=f"{iso} = R3 * capacity share; {rest}",
                note="capacity-weighted residual",
            )
        )

    # ---- metal ----------------------------------------------------------------------------
    rc = find_one(recipes, product="sintered NdFeB", grade="general", element="RE total")
    mt = find_one(shares, year="c.2022", stage="metal", iso3="CHN", material="REE metals")
    gao = find_one(shares, year="2009/10", stage="metal", iso3="CHN")
    f_re = num(rc["wt_pct"]) / 100
    s_met = num(mt["share_pct"]) / 100
    w_met = w_mag * f_re
    c_met = w_met * s_met
    v.update(met_f=f_re, met_share=s_met, met_wld=w_met, met_chn=c_met, met_row=w_met - c_met)
    met_in = (
        f"M = world NdFeB 2024 (oreflow estimate, {fnum(w_mag)} t); f = RE content of "
        f"sintered NdFeB ~{rc['wt_pct']} wt% ({rc['source_id']}); s = China share of RE "
        f"metals used for permanent magnets {mt['share_pct']}% (c.2022, {mt['source_id']}, "
        f"UNVERIFIED; the GAO 2009/10 alloy share was {gao['share_pct']}%, crs_r41744)"
    )
    met_flags = join_flags("derived", mag_flags, quality_flags([rc["flag"], mt["flag"]]))
    tbase = {
        "year": BASELINE_YEAR,
        "stage": "metal",
        "material": "REO",
        "unit": "t",
        "vintage": EST_VINTAGE,
        "estimate": True,
        "source_id": EST_SOURCE,
    }
    ids = join_ids([cm["source_id"], sm["source_id"], rc["source_id"], mt["source_id"]])
    scope = "tonnes of rare-earth metal in magnet alloys (scope: RE metals for permanent magnets)"
    out.append(
        so_row(
            **tbase,
            iso3="WLD",
            tonnes=fnum(w_met),
            other_source_ids=ids,
            flag=met_flags,
            method=f"WLD = M * f; {met_in}",
            note=scope,
        )
    )
    out.append(
        so_row(
            **tbase,
            iso3="CHN",
            tonnes=fnum(c_met),
            other_source_ids=ids,
            flag=met_flags,
            method=f"CHN = M * f * s; {met_in}",
            note=scope,
        )
    )
    out.append(
        so_row(
            **tbase,
            iso3="ROW",
            tonnes=fnum(w_met - c_met),
            other_source_ids=ids,
            flag=met_flags,
            method=f"ROW = M * f * (1 - s); {met_in}; no country split: documented ex-China "
            "metal/alloy capacities are c.2010 (Showa Denko JPN/VNM) or ramping after 2024 "
            "(SRC CAN, MP Independence USA)",
            note=scope,
        )
    )

    # ---- element-level: JRC Dy 2021 split ------------------------------------------------
    dy = find_one(mine, edition="JRC RMIS", material="Dy")
    dy_t = num(dy["tonnes"])
    named = 0.0
    for sh in shares:
        if sh["material"] == "Dy" and sh["source_id"] == "jrc_rmis_dysprosium":
            frac = num(sh["share_pct"]) / 100
            named += frac
            out.append(
                so_row(
                    year=2021,
                    stage="mine",
                    material="Dy",
                    iso3=sh["iso3"],
                    vintage="JRC RMIS",
                    tonnes=fnum(dy_t * frac),
                    unit="t",
                    estimate=True,
                    source_id=dy["source_id"],
                    flag=join_flags("derived", dy["flag"], sh["flag"]),
                    method=f"{sh['iso3']} = world Dy 2021 {dy['tonnes']} t x {sh['share_pct']}% "
                    f"(both {dy['source_id']}, stage_shares)",
                    note=add_note("tonnes of Dy", sh["note"]),
                )
            )
    out.append(
        so_row(
            year=2021,
            stage="mine",
            material="Dy",
            iso3="ROW",
            vintage="JRC RMIS",
            tonnes=fnum(dy_t * (1 - named)),
            unit="t",
            estimate=True,
            source_id=dy["source_id"],
            flag=join_flags("derived", dy["flag"]),
            method=f"ROW = {dy['tonnes']} t x (1 - sum of the named shares "
            f"{fnum(named * 100, 2)}%)",
            note="tonnes of Dy; residual of the JRC split",
        )
    )
    return out


def build_stage_output(src: Path, est: Estimates) -> list[Row]:
    """stage_output: mine (all editions), magnet history, other minerals, 2024 estimates."""
    return (
        mine_rows(src) + magnet_history_rows(src) + other_mineral_rows() + estimate_rows(src, est)
    )


# --- flows -----------------------------------------------------------------------------------


#: Editions whose tables anchor the derived flows: the newest only. An older-edition flow
#: would survive as "newest per exporter/importer pair" where the newer edition no longer
#: supports it (Nigeria 2024: 13,000 t from China import data in MCS2025, 1,500 t without
#: that note in MCS2026).
FLOW_EDITIONS = ("MCS2026",)


def build_flows(src: Path, est: Estimates) -> list[Row]:
    """flows: 2024 mine-stage feedstock flows with methods."""
    mine = read_csv(src / "mine_production.csv")
    usstat = read_csv(src / "us_statistics.csv")
    trade = read_csv(src / "china_trade.csv")
    events = read_csv(src / "project_events.csv")
    out: list[Row] = []
    base = {
        "year": BASELINE_YEAR,
        "stage": "mine",
        "material": "REO",
        "unit": "t_REO",
        "estimate": True,
        "tonnes_low": "",
        "tonnes_high": "",
        "qualifier": "",
        "other_source_ids": "",
    }
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
                {
                    **base,
                    "exporter": r["iso3"],
                    "importer": "CHN",
                    "vintage": edition,
                    "tonnes": r["tonnes"],
                    "source_id": r["source_id"],
                    "flag": join_flags("derived", r["flag"]),
                    "method": f"{r['iso3']}->CHN = all of {r['iso3']}'s {BASELINE_YEAR} "
                    "mine output "
                    f"in {edition} ({r['tonnes']} t REO): USGS estimated that output from China's "
                    "import data (table note), so the tonnage is what China recorded as imported",
                    "note": r["note"],
                }
            )
    # USA -> CHN: US exports of ores and compounds (destination assumed China).
    mp_reo = find_one(
        events, project_id="mp_mountain_pass", date="2024", metric="REO in concentrate"
    )
    mp_ndpr = find_one(
        events,
        project_id="mp_mountain_pass",
        date="2024",
        metric="NdPr oxide production",
        source_id="mp_fy2024_results",
    )
    ore = find_one(trade, period="2024", product="rare earth metal ore", partner_iso3="USA")
    fracs = deposit_fractions(src)
    mp_ndpr_frac = ndpr_fraction(fracs, MOUNTAIN_PASS)
    cross = num(mp_reo["value"]) - num(mp_ndpr["value"]) / mp_ndpr_frac
    est.values["mp_export_crosscheck"] = cross
    for edition in FLOW_EDITIONS:
        exp = find_one(usstat, edition=edition, year="2024", item="exports: ores and compounds")
        out.append(
            {
                **base,
                "exporter": "USA",
                "importer": "CHN",
                "vintage": edition,
                "tonnes": exp["value"],
                "source_id": exp["source_id"],
                "other_source_ids": join_ids([mp_reo["source_id"], ore["source_id"]]),
                "flag": join_flags("derived", exp["flag"]),
                "method": f"USA->CHN = US exports of ores and compounds {BASELINE_YEAR} "
                f"({exp['value']} t REO, {edition}), destination assumed China: MP Materials sold "
                "its concentrate under a Shenghe offtake (Jan 2024) and China imported ~"
                f"{ore['value']} t (gross weight) of RE ore almost entirely from MP "
                f"({ore['source_id']}); "
                f"cross-check: MP REO in concentrate {mp_reo['value']} t - NdPr oxide "
                f"{mp_ndpr['value']} t / NdPr share of Mountain Pass REO {fnum(mp_ndpr_frac, 4)} = "
                f"{fnum(cross)} t",
                "note": "exports include small amounts of compounds",
            }
        )
    # AUS -> MYS: Lynas concentrate/MREC to Malaysia.
    v = est.values
    lyn = find_one(
        events, project_id="lynas_malaysia", date="c.2024", metric="NdPr oxide production"
    )
    out.append(
        {
            **base,
            "exporter": "AUS",
            "importer": "MYS",
            "vintage": EST_VINTAGE,
            "tonnes": fnum(v["lyn_reo"]),
            "tonnes_low": fnum(v["lyn_reo_low"]),
            "tonnes_high": fnum(v["lyn_reo_high"]),
            "source_id": EST_SOURCE,
            "other_source_ids": join_ids(
                [lyn["source_id"], "usgs_myb2022_ree", "usgs_mcs2026_ree"]
            ),
            "flag": join_flags("derived", lyn["flag"]),
            "method": f"AUS->MYS = Lynas Malaysia NdPr oxide output c.2024 {lyn['value_low']}-"
            f"{lyn['value_high']} t (mid {fnum(v['lyn_ndpr'])}; {lyn['source_id']}) / "
            "NdPr share of "
            f"Mount Weld REO {fnum(v['mw_ndpr'], 4)} (usgs_myb2022_ree) = REO in the feed, "
            "assuming "
            "full recovery and that Lynas Malaysia is fed only from Mount Weld (via the Kalgoorlie "
            "plant); Malaysia's own mine output (140 t) goes to China",
            "note": "below Australia's 2024 mine output of 29,000 t (MCS2026); "
            "the MYS separation row "
            "is smaller because it is scaled to the IEA China share",
        }
    )
    return out


# --- composition -----------------------------------------------------------------------------

COUNTRY_PROXY: dict[str, tuple[list[tuple[str, float]], str]] = {}


#: Source wordings of element groups, mapped to codes of the materials table.
ELEMENT_LABELS = {
    "HREE (Dy, Tb, Y)": "Dy+Tb+Y",
    "Nd, Pr, Dy, Tb and other major REE": "majorREE",
}


def element_label(raw: str, note: str) -> tuple[str, str]:
    """Map a source's element wording to a code of ``materials`` (or ``A+B`` of codes).

    The source wording is kept at the front of the note when it changes, so nothing of the
    source is lost: ``RE total (…)`` → ``RE``; ``HREE (Dy, Tb, Y)`` → ``Dy+Tb+Y``.
    """
    code = ELEMENT_LABELS.get(raw)
    if code is None and raw.startswith("RE total"):
        code = "RE"
    if code is None:
        return raw, note
    return code, "; ".join(x for x in (f"source wording: '{raw}'", note) if x)


def build_composition(src: Path, stage_rows: list[Row]) -> list[Row]:
    """composition: USGS deposit rows as fractions plus country-average ore mixes."""
    out: list[Row] = []
    for r in read_csv(src / "element_composition.csv"):
        element, note = element_label(r["element"], r["note"])
        out.append(
            {
                "deposit": r["deposit"],
                "element": element,
                "iso3": r["iso3"],
                "mineral": r["mineral"],
                "share": pct_to_frac(r["share_pct"]),
                "qualifier": r["qualifier"],
                "basis": r["basis"].replace("% of", "share of"),
                "source_id": r["source_id"],
                "flag": r["flag"],
                "note": note,
                "estimate": False,
                "method": "",
                "other_source_ids": "",
            }
        )
    fracs = deposit_fractions(src)
    quotas = read_csv(src / "china_quotas.csv")
    tot = find_one(
        quotas, year="2024", period="first half (H1)", metric="mining_quota", segment="all REE"
    )
    ion = find_one(
        quotas,
        year="2024",
        period="first half (H1)",
        metric="mining_quota",
        segment="ion-adsorption clay (medium/heavy)",
    )
    w_ion = num(ion["value"]) / num(tot["value"])
    ionic = {
        e: (fracs[XUNWU].get(e, 0.0) + fracs[LONGNAN].get(e, 0.0)) / 2
        for e in set(fracs[XUNWU]) | set(fracs[LONGNAN])
    }
    ionic_m = "ion-adsorption clay = element-wise mean of Xunwu and Longnan (Jiangxi)"
    monaz = f"monazite proxy = {MANAVALAKURICHI}"
    mixes: dict[str, tuple[dict[str, float], str, str, list[str]]] = {
        "CHN": (
            {
                e: (1 - w_ion) * fracs[BAYAN_OBO].get(e, 0.0) + w_ion * ionic.get(e, 0.0)
                for e in set(fracs[BAYAN_OBO]) | set(ionic)
            },
            "bastnaesite + ion-adsorption clay",
            f"CHN = (1 - w) x {BAYAN_OBO} + w x ionic, w = ion-adsorption share of China's H1 "
            f"2024 mining quota = {ion['value']} / {tot['value']} = {fnum(w_ion, 4)} "
            f"({ion['source_id']}); {ionic_m}; hard-rock (light) quota represented by Bayan Obo "
            "(Sichuan bastnaesite, e.g. Maoniuping, not separated)",
            [ion["source_id"]],
        ),
        "MMR": (
            ionic,
            "ion-adsorption clay",
            f"MMR = ionic proxy (Kachin ionic clay; no Myanmar assay in the fact base); {ionic_m}",
            [],
        ),
        "USA": (fracs[MOUNTAIN_PASS], "bastnaesite", f"USA = {MOUNTAIN_PASS}", []),
        "AUS": (fracs[MOUNT_WELD], "monazite", f"AUS = {MOUNT_WELD} (Lynas)", []),
        "RUS": (fracs[REVDA], "loparite", f"RUS = {REVDA}", []),
        "IND": (fracs[MANAVALAKURICHI], "monazite", f"IND = {MANAVALAKURICHI}", []),
        "BRA": (
            ionic,
            "ion-adsorption clay",
            "BRA = ionic proxy: Brazil's 2024 output is dominated by Serra Verde Pela Ema "
            "(ionic clay, commercial MREC production from 2024; projects.csv, "
            f"miningcom_2023_serraverde); {ionic_m}",
            ["miningcom_2023_serraverde"],
        ),
    }
    for iso in ("THA", "MDG", "VNM", "NGA", "MYS"):
        mixes[iso] = (
            fracs[MANAVALAKURICHI],
            "monazite",
            f"{iso} = {monaz} (mineral-sands/monazite producer proxy; no assay of "
            f"{iso} concentrate in the fact base)",
            [],
        )
    # OTH: production-weighted mean of the named producers (MCS2026, 2024).
    prod = {
        r["iso3"]: num(r["tonnes"])
        for r in stage_rows
        if r["stage"] == "mine"
        and r["vintage"] == "MCS2026"
        and r["year"] == BASELINE_YEAR
        and r["material"] == "REO"
    }
    named = {i: t for i, t in prod.items() if i in mixes and t > 0}
    tot_t = sum(named.values())
    oth: dict[str, float] = {}
    for iso, t in named.items():
        for e, s in mixes[iso][0].items():
            oth[e] = oth.get(e, 0.0) + s * t / tot_t
    mixes["OTH"] = (
        oth,
        "mixed",
        "OTH = mean of the named producers' mixes weighted by their 2024 mine output (MCS2026)",
        ["usgs_mcs2026_ree"],
    )
    missing = [i for i, t in prod.items() if t > 0 and i not in mixes and i != "WLD"]
    if missing:
        raise ValueError(f"no ore mix for 2024 producers {missing}")
    for iso, (mix, mineral, method, extra) in sorted(mixes.items()):
        total = sum(mix.values())
        for e in sorted(mix):
            share = mix[e] / total
            if share <= 0:
                continue
            out.append(
                {
                    "deposit": f"country:{iso}",
                    "element": e,
                    "iso3": iso,
                    "mineral": mineral,
                    "share": fnum(share, 6),
                    "qualifier": "",
                    "basis": "share of REO in the country-average ore mix (estimate)",
                    "source_id": EST_SOURCE,
                    "flag": "derived",
                    "note": "USGS deposit distributions renormalised to sum 1 over the elements "
                    "given (NA cells count as 0; '<' values taken at the bound)",
                    "estimate": True,
                    "method": method,
                    "other_source_ids": join_ids(["usgs_myb2022_ree", *extra]),
                }
            )
    return out


# --- straightforward tables ------------------------------------------------------------------


def build_stage_shares(src: Path) -> list[Row]:
    """stage_shares: fact-base shares as fractions plus producer shares from the magnet file."""
    out: list[Row] = []
    for r in read_csv(src / "stage_shares.csv"):
        out.append(
            {
                "year": r["year"],
                "stage": r["stage"],
                "stage_in_source": r["stage_in_source"],
                "material": r["material"],
                "iso3": r["iso3"],
                "country": r["country"],
                "share": pct_to_frac(r["share_pct"]),
                "qualifier": r["qualifier"],
                "basis": r["basis"],
                "source_id": r["source_id"],
                "flag": r["flag"],
                "note": r["note"],
                "producer": "",
            }
        )
    for r in read_csv(src / "magnet_production.csv"):
        if r["metric"] != "market_share":
            continue
        out.append(
            {
                "year": r["year"],
                "stage": "magnet",
                "stage_in_source": r["product"],
                "material": r["product"],
                "iso3": r["iso3"],
                "country": r["country"],
                "share": pct_to_frac(r["value"]),
                "qualifier": r["qualifier"],
                "basis": "producer share (from magnet_production.csv, metric market_share)",
                "source_id": r["source_id"],
                "flag": r["flag"],
                "note": r["note"],
                "producer": r["producer"],
            }
        )
    return number_row(out, "stage_shares")


def build_reserves(src: Path) -> list[Row]:
    """reserves: all editions; duplicate keys merged (primary source kept, other listed)."""
    rows = read_csv(src / "reserves.csv")
    groups: dict[tuple[str, ...], list[Row]] = {}
    for r in rows:
        groups.setdefault((r["edition"], r["material"], r["iso3"], r["metric"]), []).append(r)

    def badness(r: Row) -> tuple[int, int]:
        usgs = 0 if r["source_id"].startswith("usgs_") else 1
        return (usgs, len([f for f in r["flag"].split(";") if f]))

    out: list[Row] = []
    for (ed, mat, iso, met), grp in groups.items():
        best = min(grp, key=badness)
        others = [r for r in grp if r is not best]
        note = best["note"]
        for o in others:
            if o["tonnes"] != best["tonnes"]:
                raise ValueError(f"reserves conflict not handled: {ed} {iso} {met}")
            note = add_note(note, f"same value also in {o['source_id']}: {o['note']}".rstrip(": "))
        out.append(
            {
                "edition": ed,
                "material": mat,
                "iso3": iso,
                "metric": met,
                "tonnes": best["tonnes"],
                "qualifier": best["qualifier"],
                "unit": best["unit"],
                "source_id": best["source_id"],
                "flag": best["flag"],
                "note": note,
                "other_source_ids": join_ids([o["source_id"] for o in others]),
            }
        )
    return out


def build_recipes(src: Path) -> list[Row]:
    """recipes: wt% to fractions; colliding keys get the source_id appended to the grade."""
    rows = read_csv(src / "recipes.csv")
    count: dict[tuple[str, str, str], int] = {}
    for r in rows:
        k = (r["product"], r["grade"], r["element"])
        count[k] = count.get(k, 0) + 1
    out = []
    for r in rows:
        k = (r["product"], r["grade"], r["element"])
        grade = r["grade"] if count[k] == 1 else f"{r['grade']} [{r['source_id']}]"
        element, note = element_label(r["element"], r["note"])
        out.append(
            {
                "product": r["product"],
                "grade": grade,
                "element": element,
                "wt_frac": pct_to_frac(r["wt_pct"]),
                "wt_frac_low": pct_to_frac(r["wt_pct_low"]),
                "wt_frac_high": pct_to_frac(r["wt_pct_high"]),
                "qualifier": r["qualifier"],
                "source_id": r["source_id"],
                "flag": r["flag"],
                "note": note,
            }
        )
    return out


def simple(
    src: Path,
    file: str,
    table: str,
    prefix: str | None = None,
    rename: dict[str, str] | None = None,
    transform: Callable[[Row, Row], None] | None = None,
) -> list[Row]:
    """Copy a fact-base file into a contract table (optionally numbered / renamed)."""
    t = TABLES[table]
    out: list[Row] = []
    for r in read_csv(src / file):
        row: Row = {}
        for col in t.names:
            if col == "row_id":
                continue
            src_col = (rename or {}).get(col, col)
            row[col] = r.get(src_col, "")
        if transform:
            transform(r, row)
        out.append(row)
    return number_row(out, prefix) if prefix else out


def build_prices(src: Path) -> list[Row]:
    """prices: annual averages (USGS, MP) then dated points, one table."""
    out: list[Row] = []
    for r in read_csv(src / "prices_annual.csv"):
        flag = r["flag"]
        if r["year_status"] == "estimate":
            flag = join_flags(flag, "estimate")
        out.append(
            {
                "date": r["year"],
                "period_type": "annual_avg",
                "material": r["material"],
                "product": r["product"],
                "purity": r["purity"],
                "market": r["market"],
                "value": r["usd_per_kg"],
                "value_low": "",
                "value_high": "",
                "qualifier": "",
                "unit": "usd_per_kg",
                "edition": r["edition"],
                "source_id": r["source_id"],
                "flag": flag,
                "note": r["note"],
                "date_text": "",
            }
        )
    for r in read_csv(src / "prices_points.csv"):
        lo, hi = r["value_low"], r["value_high"]
        value = lo if (lo and (lo == hi or not hi)) else ""
        ptype = r["period_type"]
        note = r["note"]
        if ptype == "annual":
            ptype = "annual_avg"
            note = add_note(note, "period_type 'annual' in the fact base")
        out.append(
            {
                "date": r["date"],
                "period_type": ptype,
                "material": r["material"],
                "product": r["product"],
                "purity": "",
                "market": r["market"],
                "value": value,
                "value_low": lo,
                "value_high": hi,
                "qualifier": r["qualifier"],
                "unit": r["unit"],
                "edition": "",
                "source_id": r["source_id"],
                "flag": r["flag"],
                "note": note,
                "date_text": r["date_text"],
            }
        )
    return number_row(out, "prices")


def build_policies(src: Path) -> list[Row]:
    """policies: de-minimis share as a fraction; code lists normalised."""

    def tf(r: Row, row: Row) -> None:
        row["de_minimis_share"] = pct_to_frac(r["de_minimis_value_share_pct"])
        row["actor_iso3"] = norm_iso_list(r["actor_iso3"])
        row["target_iso3"] = norm_iso_list(r["target_iso3"])

    return simple(src, "policies.csv", "policies", transform=tf)


def build_projects(src: Path) -> tuple[list[Row], list[Row]]:
    """projects and project_events, plus producer capacities from magnet_production.csv."""
    projects = simple(src, "projects.csv", "projects")
    events = [
        {k: r.get(k, "") for k in TABLES["project_events"].names if k != "row_id"}
        for r in read_csv(src / "project_events.csv")
    ]
    mags = read_csv(src / "magnet_production.csv")
    existing = {  # (year, iso3, producer) of magnet capacity rows that belong to known projects
        ("end-2022", "USA", "USA Rare Earth"): "usar_stillwater",
        ("end-2022", "USA", "Urban Mining Co"): "noveon_san_marcos",
        ("end-2022", "USA", "MP Materials"): "mp_independence",
        ("end-2022", "VNM", "Shin-Etsu"): "mag_vn_shinetsu",
        ("2027", "CHN", "JL MAG"): "mag_cn_jl_mag",
    }
    new_ids = {
        ("2025", "CHN", "JL MAG", "sintered NdFeB"): ("mag_cn_jl_mag", "JL MAG magnet plants"),
        ("2025", "CHN", "Zhongke Sanhuan", "sintered NdFeB"): (
            "mag_cn_zhongke_sanhuan_sintered",
            "Zhongke Sanhuan sintered NdFeB plants",
        ),
        ("2025", "CHN", "Zhongke Sanhuan", "bonded NdFeB"): (
            "mag_cn_zhongke_sanhuan_bonded",
            "Zhongke Sanhuan bonded NdFeB plants",
        ),
        ("end-2022", "THA", "Neo Performance Materials", "NdFeB powder"): (
            "mag_th_neo_powder",
            "Neo Performance Materials NdFeB powder plant (Thailand)",
        ),
        ("end-2022", "CHN", "Neo Performance Materials", "NdFeB (form not stated)"): (
            "mag_cn_neo",
            "Neo Performance Materials NdFeB capacity (China)",
        ),
        (
            "2013",
            "JPN",
            "Intermetallics Japan (Daido Steel, Mitsubishi Corp., Molycorp)",
            "sintered NdFeB",
        ): ("mag_jp_intermetallics", "Intermetallics Japan magnet plant"),
        ("2016/2017", "VNM", "Shin-Etsu Chemical", "RE magnets"): (
            "mag_vn_shinetsu",
            "Shin-Etsu Chemical magnet plant, Hai Phong",
        ),
        ("c.2010", "JPN", "Showa Denko (Chichibu)", "RE magnet alloy"): (
            "alloy_jp_showa_denko_chichibu",
            "Showa Denko magnet-alloy plant, Chichibu",
        ),
        (
            "c.2010",
            "CHN",
            "Showa Denko (Baotou Showa Rare Earth Hi-tech New Material)",
            "RE magnet alloy",
        ): ("alloy_cn_showa_denko_baotou", "Showa Denko magnet-alloy plant, Baotou"),
        (
            "c.2010",
            "CHN",
            "Showa Denko (Ganzhou Zhaori Rare Earth New Materials)",
            "RE magnet alloy",
        ): ("alloy_cn_showa_denko_ganzhou", "Showa Denko magnet-alloy plant, Ganzhou"),
        (
            "c.2010",
            "VNM",
            "Showa Denko Rare Earth Vietnam",
            "didymium and Dy recovered from scrap",
        ): ("recycling_vn_showa_denko", "Showa Denko Rare Earth Vietnam scrap-recovery plant"),
        ("2023", "", "Star Group Industrial (SGI)", "NdFeB magnets"): (
            "mag_kr_cn_sgi",
            "Star Group Industrial (SGI) magnet factories",
        ),
        ("2025", "VNM", "Star Group Industrial (SGI)", "NdFeB magnets (high-end)"): (
            "mag_vn_sgi",
            "Star Group Industrial (SGI) Vietnam plant",
        ),
    }
    for r in mags:
        if r["metric"] not in ("capacity",) and not (
            r["metric"] == "production" and r["unit"] == "t_per_yr"
        ):
            continue
        k3 = (r["year"], r["iso3"], r["producer"])
        k4 = (*k3, r["product"])
        origin = f"from magnet_production.csv (metric {r['metric']}, year {r['year']})"
        if k4 in new_ids:
            pid, name = new_ids[k4]
            stage = (
                "magnet alloy"
                if "alloy" in r["product"]
                else ("recycling" if "scrap" in r["product"] else "magnet")
            )
            projects.append(
                {
                    "project_id": pid,
                    "name": name,
                    "iso3": r["iso3"],
                    "location": r["country"] if not r["iso3"] else "",
                    "stage": stage,
                    "owner": r["producer"],
                    "capacity": r["value"],
                    "capacity_low": r["value_low"],
                    "capacity_high": r["value_high"],
                    "capacity_qualifier": r["qualifier"],
                    "capacity_unit": f"{r['unit']} {r['product']}",
                    "capacity_note": origin,
                    "materials": r["product"],
                    "status": "",
                    "status_date": r["year"],
                    "start_year": "",
                    "start_year_note": "",
                    "capex_musd": "",
                    "capex_text": "",
                    "funding": "",
                    "source_id": r["source_id"],
                    "other_source_ids": "",
                    "flag": r["flag"],
                    "note": r["note"],
                }
            )
        elif k3 in existing:
            events.append(
                {
                    "project_id": existing[k3],
                    "date": r["year"],
                    "event_type": "capacity",
                    "metric": f"{r['product']} capacity ({r['producer']})",
                    "value": r["value"],
                    "value_low": r["value_low"],
                    "value_high": r["value_high"],
                    "qualifier": r["qualifier"],
                    "unit": r["unit"],
                    "detail": origin,
                    "source_id": r["source_id"],
                    "other_source_ids": "",
                    "flag": r["flag"],
                    "note": r["note"],
                }
            )
        else:
            raise ValueError(f"magnet capacity row not mapped: {k4}")
    return projects, number_row(events, "project_events")


def build_trade(src: Path) -> list[Row]:
    """trade: China, US and Myanmar series in one table (mapping rules in docs/data.md)."""
    out: list[Row] = []

    def metric_for(flow: str, unit: str) -> str:
        if unit.startswith(("usd", "eur", "cny")):
            return f"{flow}s value"
        if unit.startswith("pct"):
            return f"{flow} share ({unit})"
        return f"{flow}s"

    for r in read_csv(src / "china_trade.csv"):
        out.append(
            {
                "period": r["period"],
                "reporter": "CHN",
                "flow": r["flow"],
                "product": r["product"],
                "hs_code": r["hs_code"],
                "partner_iso3": r["partner_iso3"],
                "metric": metric_for(r["flow"], r["unit"]),
                "value": r["value"],
                "value_low": "",
                "value_high": "",
                "qualifier": r["qualifier"],
                "unit": r["unit"],
                "basis": r["basis"],
                "source_id": r["source_id"],
                "other_source_ids": r["other_source_ids"],
                "flag": r["flag"],
                "note": name_into_note(r["note"], r["partner_iso3"], r["partner"], "partner"),
            }
        )
    for r in read_csv(src / "us_trade.csv"):
        out.append(
            {
                "period": r["period"],
                "reporter": "USA",
                "flow": "import",
                "product": r["product"],
                "hs_code": r["hs_code"],
                "partner_iso3": r["partner_iso3"],
                "metric": r["metric"],
                "value": r["value"],
                "value_low": "",
                "value_high": "",
                "qualifier": r["qualifier"],
                "unit": r["unit"],
                "basis": r["basis"],
                "source_id": r["source_id"],
                "other_source_ids": r["other_source_ids"],
                "flag": r["flag"],
                "note": name_into_note(r["note"], r["partner_iso3"], r["partner"], "partner"),
            }
        )
    for r in read_csv(src / "myanmar_flows.csv"):
        exp, imp, metric = r["exporter_iso3"], r["importer_iso3"], r["metric"]
        if imp == "CHN" and metric.startswith("China") and "import" in metric.lower():
            reporter, flow, partner = "CHN", "import", exp
        else:
            reporter = exp or imp
            partner = imp if reporter == exp else ""
            low = metric.lower()
            flow = "export" if ("export" in low or "supply to" in low) else ""
        out.append(
            {
                "period": r["period"],
                "reporter": reporter,
                "flow": flow,
                "product": "",
                "hs_code": "",
                "partner_iso3": partner,
                "metric": metric,
                "value": r["value"],
                "value_low": r["value_low"],
                "value_high": r["value_high"],
                "qualifier": r["qualifier"],
                "unit": r["unit"],
                "basis": r["basis"],
                "source_id": r["source_id"],
                "other_source_ids": r["other_source_ids"],
                "flag": r["flag"],
                "note": r["note"],
            }
        )
    return number_row(out, "trade")


def build_import_dependence(src: Path) -> list[Row]:
    """import_dependence: shares as fractions."""
    out: list[Row] = []
    for r in read_csv(src / "import_dependence.csv"):
        is_share = r["unit"] == "pct"
        note = name_into_note(r["note"], r["importer_iso3"], r["importer"], "importer")
        note = name_into_note(note, r["supplier_iso3"], r["supplier"], "supplier")
        out.append(
            {
                "importer_iso3": r["importer_iso3"],
                "period": r["period"],
                "material": r["material"],
                "supplier_iso3": r["supplier_iso3"],
                "share": pct_to_frac(r["share_pct"]),
                "share_low": pct_to_frac(r["share_low"]) if is_share else r["share_low"],
                "share_high": pct_to_frac(r["share_high"]) if is_share else r["share_high"],
                "quantity": r["quantity"],
                "qualifier": r["qualifier"],
                "unit": "fraction" if is_share else r["unit"],
                "basis": r["basis"],
                "source_id": r["source_id"],
                "flag": r["flag"],
                "note": note,
            }
        )
    return number_row(out, "import_dependence")


def build_us_statistics(src: Path) -> list[Row]:
    """us_statistics: as in the fact base, numbered."""
    return simple(src, "us_statistics.csv", "us_statistics", prefix="us_statistics")


def build_demand(src: Path) -> list[Row]:
    """demand: region_iso3 becomes iso3."""
    return simple(src, "demand.csv", "demand", prefix="demand", rename={"iso3": "region_iso3"})


# --- vintages --------------------------------------------------------------------------------

#: Fixed order of USGS labels that share a publication date (higher index = newer).
SAME_DATE_ORDER = ["MCS2026 (Heavy)", "MCS2026", "MCS2026 v1.0-1.2", "MCS2026 v1.3"]

VINTAGE_INFO: dict[str, tuple[str, str, str]] = {
    # label: (published, source_id, note)
    "MCS2026 v1.3": (
        "2026-05-27",
        "usgs_mcs2026_ree",
        "MCS2026 rare-earths chapter version 1.3 (Brazil and world reserves revised)",
    ),
    "MCS2026 v1.0-1.2": (
        "2026-02-06",
        "usgs_mcs2026_ree",
        "MCS2026 versions 1.0-1.2 (dates of 1.1 and 1.2 not recorded); ranked above plain MCS2026",
    ),
    "MCS2026": ("2026-02-06", "usgs_mcs2026_ree", "USGS Mineral Commodity Summaries 2026"),
    "MCS2026 (Heavy)": ("2026-02", "usgs_mcs2026_ree_heavy", "MCS2026 heavy rare earths chapter"),
    "MCS2025": ("2025-01", "usgs_mcs2025_ree", "USGS Mineral Commodity Summaries 2025"),
    "MCS2024": ("2024", "", "seen only through secondary restatements (flagged rows)"),
    "MCS2023": ("2023", "", "seen only through secondary restatements (flagged rows)"),
    "MCS2022": ("2022", "", "seen only through secondary restatements (flagged rows)"),
    "MCS2021": ("2021", "usgs_mcs2021_ree", ""),
    "MCS2020": ("2020", "usgs_mcs2020_ree", ""),
    "MCS2019": ("2019", "usgs_mcs2019_ree", ""),
    "MCS2016": ("2016", "usgs_mcs2016", ""),
    "MYB2022": ("2024", "usgs_myb2022_ree", "Minerals Yearbook 2022 tables-only release (2024)"),
    "DS140": ("2023-09-27", "usgs_ds140_ree", "Data Series 140, last modified 2023-09-27"),
    "Roskill": ("", "roskill_northernminer", ""),
    "Arafura": ("", "arafura_arultd", ""),
    "JRC RMIS": ("", "jrc_rmis_dysprosium", "JRC Raw Materials Information System (c.2021)"),
    "TMR": ("2011-08", "tmr_wsj_2011_08", "Technology Metals Research via the WSJ"),
    "MP FY2024": ("", "mp_fy2024_results", "MP Materials FY2024 results"),
    EST_VINTAGE: (
        DATASET_CREATED[:10],
        EST_SOURCE,
        "oreflow estimates; ranked lowest so that any published figure for the same key wins",
    ),
}


def iso_prefix(text: str) -> str:
    """First ISO-like date (YYYY, YYYY-MM or YYYY-MM-DD) in a text, or ''."""
    m = re.search(r"\b(\d{4})(-\d{2})?(-\d{2})?\b", text)
    return "".join(g for g in m.groups() if g) if m else ""


def build_vintages(tables: dict[str, list[Row]], sources: dict[str, Row]) -> list[Row]:
    """vintages: every label used, ranked by publication date (oreflow estimates lowest)."""
    labels: dict[str, set[int]] = {}

    def add(label: str, year: Any) -> None:
        if label:
            y = int(year) if str(year).isdigit() else 0
            labels.setdefault(label, set()).add(y)

    for r in tables["stage_output"]:
        add(r["vintage"], r["year"])
    for r in tables["flows"]:
        add(r["vintage"], r["year"])
    for r in tables["reserves"]:
        add(r["edition"], 0)
    for r in tables["prices"]:
        add(r["edition"], str(r["date"])[:4])
    for r in tables["us_statistics"]:
        add(r["edition"], r["year"])
    rows: list[Row] = []
    for label, years in labels.items():
        if label in VINTAGE_INFO:
            published, sid, note = VINTAGE_INFO[label]
        elif label in sources:
            published, sid = iso_prefix(sources[label]["edition"]), label
            note = "vintage label = source_id (publication without an edition label)"
        else:
            raise ValueError(f"vintage {label!r} has no publication info")
        if not published:
            note = add_note(
                note,
                f"publication date not recorded; ranked as if published at the "
                f"end of its latest data year ({max(years)})",
            )
        rows.append(
            {
                "vintage": label,
                "published": published,
                "source_id": sid,
                "note": note,
                "_key": published or f"{max(years)}-12-31",
            }
        )

    def sort_key(r: Row) -> tuple[int, str, int, str]:
        if r["vintage"] == EST_VINTAGE:
            return (0, "", 0, "")
        same = SAME_DATE_ORDER.index(r["vintage"]) if r["vintage"] in SAME_DATE_ORDER else -1
        # A date known only to the month or year sorts before the dated ones of that period.
        key = (r["_key"] + "-00-00")[:10]
        return (1, key, same, r["vintage"])

    rows.sort(key=sort_key)
    for i, r in enumerate(rows, 1):
        r["rank"] = i
        del r["_key"]
    return rows


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def fmt_cell(col: Col, v: Any) -> str:
    """Format one cell for CSV output."""
    if v is None or v == "":
        return ""
    if col.type == "boolean":
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)
    if col.type == "integer":
        return str(int(v))
    if col.type == "number" and isinstance(v, float):
        return fnum(v, 6)
    return str(v)


def sort_rows(t: Table, rows: list[Row]) -> list[Row]:
    """Sort by primary key (integers numerically)."""

    def key(r: Row) -> tuple[Any, ...]:
        out: list[Any] = []
        for k in t.primary_key:
            val = r.get(k, "")
            out.append((0, int(val), "") if t.col(k).type == "integer" else (1, 0, str(val)))
        return tuple(out)

    return sorted(rows, key=key)


def write_table(t: Table, rows: list[Row], out_dir: Path) -> int:
    """Write one table as CSV (header = contract columns); return the row count."""
    path = out_dir / f"{t.name}.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(t.names)
        for r in sort_rows(t, rows):
            extra = set(r) - set(t.names)
            if extra:
                raise ValueError(f"{t.name}: unexpected columns {sorted(extra)}")
            w.writerow([fmt_cell(col, r.get(col.name, "")) for col in t.cols])
    return len(rows)


def datapackage(sources: list[Row]) -> dict[str, Any]:
    """The Frictionless data package descriptor."""
    resources = []
    for name in TABLE_ORDER:
        t = TABLES[name]
        schema: dict[str, Any] = {
            "fields": [col.descriptor() for col in t.cols],
            "primaryKey": list(t.primary_key),
            "missingValues": [""],
        }
        if t.foreign_keys:
            schema["foreignKeys"] = [
                {"fields": f, "reference": {"resource": res, "fields": ref}}
                for f, res, ref in t.foreign_keys
            ]
        resources.append(
            {
                "name": t.name,
                "path": f"{t.name}.csv",
                "profile": "tabular-data-resource",
                "title": t.title,
                "description": t.description,
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": schema,
            }
        )
    return {
        "profile": "tabular-data-package",
        "name": DATASET_NAME,
        "title": "oreflow default dataset: the global rare-earth supply chain",
        "description": "Sourced facts on rare-earth mining, separation, metal, magnets, trade, "
        "policy and projects, compiled from the oreflow fact base by tools/build_dataset.py. "
        "Every fact row names its source; oreflow's derived rows carry estimate = true and a "
        "method. See docs/data.md.",
        "version": DATASET_VERSION,
        "created": DATASET_CREATED,
        "licenses": [
            {
                "name": "Apache-2.0",
                "path": "https://www.apache.org/licenses/LICENSE-2.0",
                "title": "oreflow compilation: table structure, derived estimates and "
                "documentation. Facts keep the status of their publications (sources.licence).",
            }
        ],
        "sources": [
            {
                "title": f"{s['publisher']}: {s['title']} ({s['edition']})",
                **({"path": s["url"]} if s["url"] else {}),
                "source_id": s["source_id"],
            }
            for s in sorted(sources, key=lambda s: s["source_id"])
        ],
        "resources": resources,
    }


def build(src: Path, out: Path) -> tuple[dict[str, int], Estimates]:
    """Build every table from the fact base ``src`` into ``out``."""
    est = Estimates()
    tables: dict[str, list[Row]] = {}
    tables["sources"] = build_sources(src)
    tables["countries"] = build_countries(src)
    tables["blocs"] = build_blocs(src)
    tables["materials"] = build_materials()
    tables["stage_output"] = build_stage_output(src, est)
    tables["stage_shares"] = build_stage_shares(src)
    tables["reserves"] = build_reserves(src)
    tables["flows"] = build_flows(src, est)
    tables["composition"] = build_composition(src, tables["stage_output"])
    tables["recipes"] = build_recipes(src)
    tables["intensity"] = simple(src, "intensity.csv", "intensity", prefix="intensity")
    tables["demand"] = build_demand(src)
    tables["prices"] = build_prices(src)
    tables["policies"] = build_policies(src)
    tables["licensing"] = simple(src, "licensing_stats.csv", "licensing")
    tables["quotas"] = simple(src, "china_quotas.csv", "quotas", prefix="quotas")
    tables["projects"], tables["project_events"] = build_projects(src)
    tables["stockpiles"] = simple(src, "stockpiles.csv", "stockpiles", prefix="stockpiles")
    tables["lead_times"] = simple(src, "lead_times.csv", "lead_times")
    tables["parameters"] = simple(src, "parameters.csv", "parameters")
    tables["trade"] = build_trade(src)
    tables["import_dependence"] = build_import_dependence(src)
    tables["hs_codes"] = simple(src, "hs_codes.csv", "hs_codes")
    tables["us_statistics"] = build_us_statistics(src)
    srcmap = {s["source_id"]: s for s in tables["sources"]}
    tables["vintages"] = build_vintages(tables, srcmap)

    out.mkdir(parents=True, exist_ok=True)
    counts = {name: write_table(TABLES[name], tables[name], out) for name in TABLE_ORDER}
    pkg = datapackage(tables["sources"])
    (out / "datapackage.json").write_text(
        json.dumps(pkg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return counts, est


# ---------------------------------------------------------------------------------------------
# Self-check
# ---------------------------------------------------------------------------------------------

ISO_COLUMNS = {
    "countries": ["iso3"],
    "blocs": ["iso3"],
    "stage_output": ["iso3"],
    "stage_shares": ["iso3"],
    "reserves": ["iso3"],
    "flows": ["exporter", "importer"],
    "composition": ["iso3"],
    "demand": ["iso3"],
    "policies": ["actor_iso3", "target_iso3"],
    "projects": ["iso3"],
    "stockpiles": ["iso3"],
    "lead_times": ["iso3"],
    "trade": ["reporter", "partner_iso3"],
    "import_dependence": ["importer_iso3", "supplier_iso3"],
}

#: Published ranges for China's 2024 stage shares (see docs/data.md).
CHINA_RANGES = {"mine": (0.60, 0.72), "separation": (0.85, 0.92), "magnet": (0.90, 1.0)}


def load_outputs(out: Path) -> tuple[dict[str, Any], dict[str, list[Row]]]:
    """Read datapackage.json and every CSV it lists."""
    pkg = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    data: dict[str, list[Row]] = {}
    for res in pkg["resources"]:
        raw = (out / res["path"]).read_bytes()
        if b"\r" in raw:
            raise ValueError(f"{res['path']}: CR line endings")
        data[res["name"]] = read_csv(out / res["path"])
    return pkg, data


def check(out: Path) -> list[str]:
    """Validate the written dataset; return a list of problems (empty = OK)."""
    errors: list[str] = []
    pkg, data = load_outputs(out)
    err = errors.append
    for res in pkg["resources"]:
        name = res["name"]
        rows = data[name]
        fields = res["schema"]["fields"]
        with (out / res["path"]).open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh))
        if header != [f["name"] for f in fields]:
            err(f"{name}: header differs from the schema")
        if name in TABLES and header != TABLES[name].names:
            err(f"{name}: header differs from the contract definition in the script")
        for f in fields:
            cons = f.get("constraints", {})
            for i, r in enumerate(rows):
                v = r[f["name"]]
                where = f"{name}[{i}].{f['name']}"
                if v == "":
                    if cons.get("required"):
                        err(f"{where}: required value missing")
                    continue
                if f["type"] in ("number", "integer"):
                    try:
                        x = float(v)
                    except ValueError:
                        err(f"{where}: not a number: {v!r}")
                        continue
                    if f["type"] == "integer" and not re.fullmatch(r"-?\d+", v):
                        err(f"{where}: not an integer: {v!r}")
                    if "minimum" in cons and x < cons["minimum"]:
                        err(f"{where}: {v} below minimum {cons['minimum']}")
                    if "maximum" in cons and x > cons["maximum"]:
                        err(f"{where}: {v} above maximum {cons['maximum']}")
                elif f["type"] == "boolean" and v not in ("true", "false"):
                    err(f"{where}: not a boolean: {v!r}")
                elif f["type"] == "date" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
                    err(f"{where}: not an ISO date: {v!r}")
                if "enum" in cons and v not in cons["enum"]:
                    err(f"{where}: {v!r} not in {cons['enum']}")
        pk = res["schema"]["primaryKey"]
        keys = [tuple(r[k] for k in pk) for r in rows]
        if len(keys) != len(set(keys)):
            err(f"{name}: primary key {pk} not unique")
        for fk in res["schema"].get("foreignKeys", []):
            ref = {r[fk["reference"]["fields"]] for r in data[fk["reference"]["resource"]]}
            for r in rows:
                if r[fk["fields"]] and r[fk["fields"]] not in ref:
                    err(
                        f"{name}: {fk['fields']}={r[fk['fields']]!r} not in "
                        f"{fk['reference']['resource']}"
                    )
    # sources resolve (incl. other_source_ids), flags in vocabulary, iso codes known
    src_ids = {r["source_id"] for r in data["sources"]}
    isos = {r["iso3"] for r in data["countries"]}
    for name, rows in data.items():
        for r in rows:
            for col in ("source_id", "other_source_ids", "wgi_source_id"):
                for s in r.get(col, "").split(";"):
                    if s and s not in src_ids:
                        err(f"{name}: unknown source {s!r} in {col}")
            for fl in r.get("flag", "").split(";"):
                if name != "sources" and fl and fl not in FLAG_VOCAB:
                    err(f"{name}: flag {fl!r} outside the vocabulary")
            for col in ISO_COLUMNS.get(name, []):
                for code in r[col].split(";"):
                    if code and code not in isos:
                        err(f"{name}: {col} {code!r} not in countries")
            if (
                name in ("stage_output", "flows", "composition")
                and r["estimate"] == "true"
                and not r["method"]
            ):
                err(f"{name}: estimate row without method: {r}")
    # fact rows carry a source
    for name, rows in data.items():
        if "source_id" in TABLES[name].names and name not in ("vintages",):
            for r in rows:
                if not r["source_id"]:
                    err(f"{name}: fact row without source_id")
    # composition: country mixes sum to 1
    mix: dict[str, float] = {}
    for r in data["composition"]:
        if r["deposit"].startswith("country:"):
            mix[r["deposit"]] = mix.get(r["deposit"], 0.0) + float(r["share"])
    for d, s in mix.items():
        if abs(s - 1) > 1e-4:
            err(f"composition {d}: shares sum to {s}")
    # China 2024 stage shares in the published ranges
    so = data["stage_output"]

    def tonnes(stage: str, iso: str, material: str, vintage: str) -> float:
        hit = [
            r
            for r in so
            if r["year"] == str(BASELINE_YEAR)
            and r["stage"] == stage
            and r["iso3"] == iso
            and r["material"] == material
            and r["vintage"] == vintage
            and r["basis"] == "production"
        ]
        if len(hit) != 1:
            raise LookupError(f"{stage} {iso} {material} {vintage}: {len(hit)} rows")
        return float(hit[0]["tonnes"])

    for stage, material, vint in (
        ("mine", "REO", "MCS2026"),
        ("separation", "REO", EST_VINTAGE),
        ("magnet", "NdFeB", EST_VINTAGE),
    ):
        try:
            share = tonnes(stage, "CHN", material, vint) / tonnes(stage, "WLD", material, vint)
        except LookupError as e:
            err(f"China {stage} share: {e}")
            continue
        lo, hi = CHINA_RANGES[stage]
        if not (lo - 1e-6 <= share <= hi + 1e-6):
            err(f"China {BASELINE_YEAR} {stage} share {share:.4f} outside [{lo}, {hi}]")
    # the estimated stages add up to their world rows
    for stage, material in (("separation", "REO"), ("metal", "REO"), ("magnet", "NdFeB")):
        parts = [
            float(r["tonnes"])
            for r in so
            if r["vintage"] == EST_VINTAGE
            and r["stage"] == stage
            and r["material"] == material
            and r["iso3"] != "WLD"
        ]
        world = tonnes(stage, "WLD", material, EST_VINTAGE)
        if abs(sum(parts) - world) > 3:
            err(f"{stage} {BASELINE_YEAR}: parts {sum(parts)} != world {world}")
    # published stage shares: per source, year, stage and material the country shares
    # (aggregates and producer-level rows excluded) must not exceed 1
    aggregates = {r["iso3"] for r in data["countries"] if r["kind"] == "aggregate"}
    sums: dict[tuple[str, ...], float] = {}
    for r in data["stage_shares"]:
        if r["iso3"] in aggregates or r["producer"] or not r["share"]:
            continue
        skey = (r["source_id"], r["year"], r["stage"], r["material"], r["stage_in_source"])
        sums[skey] = sums.get(skey, 0.0) + float(r["share"])
    for group, total in sums.items():
        if total > 1 + 1e-9:
            err(f"stage_shares {group}: country shares sum to {total:.3f} > 1")
    # required blocs and vintage order
    blocs = {r["bloc"] for r in data["blocs"]}
    for b in ("MSP", "G7", "QUAD", "EU27"):
        if b not in blocs:
            err(f"bloc {b} missing")
    rank = {r["vintage"]: int(r["rank"]) for r in data["vintages"]}
    order = ["MCS2026 v1.3", "MCS2026 v1.0-1.2", "MCS2026", "MCS2025", "MCS2024"]
    if any(rank[a] <= rank[b] for a, b in itertools.pairwise(order)):
        err("vintage ranks not in the required order")
    return errors


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC, help="fact-base directory")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    ap.add_argument("--check", action="store_true", help="only validate the existing outputs")
    args = ap.parse_args(argv)
    if not args.check:
        counts, est = build(args.src, args.out)
        for name in TABLE_ORDER:
            print(f"{name:18s} {counts[name]:6d} rows")
        print("estimates:", json.dumps({k: round(v, 4) for k, v in est.values.items()}))
    errors = check(args.out)
    for e in errors[:200]:
        print("CHECK:", e, file=sys.stderr)
    if errors:
        print(f"self-check failed: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print("self-check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
