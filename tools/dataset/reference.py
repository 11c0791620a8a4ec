"""Reference tables: sources, countries, blocs and vintages (fact family ``reference``).

Sources come from every sources file of the fact base (:meth:`FactBase.sources_files`):
``reference/sources.csv`` plus any ``<family>/*sources*.csv`` whose name has the word
``sources`` between underscores (``seed_sources.csv``, ``materials_sources.csv``, ...). A
source_id that appears twice must have the same content in both places.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from pathlib import Path

from .common import (
    DATASET_CREATED,
    DATASET_VERSION,
    EST_SOURCE,
    EST_VINTAGE,
    FactBase,
    copy_rows,
    read_csv,
)
from .rows import Row, add_note, fnum, num

# --- sources ---------------------------------------------------------------------------------

#: Columns of every sources file; ``accessed`` (ISO date the publication was read) is optional.
SOURCE_FILE_COLUMNS = ("source_id", "publisher", "title", "edition_or_date", "url", "note")
SOURCE_FILE_OPTIONAL = ("accessed",)

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
    if source_id == "wb_wgi_2024":  # the World Bank publishes the WGI under CC BY 4.0
        return "CC BY 4.0"
    if publisher.startswith(FEDERAL_PREFIXES) and "as cited by" not in publisher:
        return "public domain (U.S. Government work)"
    return "facts cited with attribution; publisher's copyright"


#: oreflow's own source: the derived rows. Its note is kept word for word (it names the old
#: script) so that dataset 2026.11.0 is rebuilt byte for byte; reword it with the next version.
ESTIMATE_SOURCE: Row = {
    "source_id": EST_SOURCE,
    "publisher": "oreflow",
    "title": "oreflow documented estimates (method in each row)",
    "edition": DATASET_VERSION,
    "url": "",
    "accessed": "",
    "note": "Rows derived by tools/build_dataset.py from sourced inputs; each row names its "
    "inputs in method and other_source_ids. Methods in docs/data.md.",
}


def read_sources_file(path: Path) -> list[Row]:
    """Rows of one sources file in the contract's column names; the header is checked."""
    rows = read_csv(path)
    with path.open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh), [])
    missing = set(SOURCE_FILE_COLUMNS) - set(header)
    unknown = set(header) - set(SOURCE_FILE_COLUMNS) - set(SOURCE_FILE_OPTIONAL)
    if missing or unknown:
        raise ValueError(
            f"{path}: a sources file needs the columns {list(SOURCE_FILE_COLUMNS)} "
            f"(optional {list(SOURCE_FILE_OPTIONAL)}); missing {sorted(missing)}, "
            f"unknown {sorted(unknown)}"
        )
    return [
        {
            "source_id": r["source_id"],
            "publisher": r["publisher"],
            "title": r["title"],
            "edition": r["edition_or_date"],
            "url": r["url"],
            "accessed": r.get("accessed", ""),
            "note": r["note"],
        }
        for r in rows
    ]


def merge_sources(files: Iterable[tuple[str, list[Row]]]) -> list[Row]:
    """Union of the sources files' rows; a source_id repeated with other content is an error."""
    merged: dict[str, Row] = {EST_SOURCE: ESTIMATE_SOURCE}
    origin: dict[str, str] = {EST_SOURCE: "the build (oreflow's own source)"}
    for name, rows in files:
        for row in rows:
            sid = row["source_id"]
            if sid not in merged:
                merged[sid], origin[sid] = row, name
            elif merged[sid] != row:
                raise ValueError(
                    f"source {sid!r} in {name} differs from its row in {origin[sid]}: "
                    f"{row} != {merged[sid]}"
                )
    return list(merged.values())


def build_sources(facts: FactBase) -> list[Row]:
    """sources: the rows of every sources file plus oreflow's own, with their licence."""
    files = [
        (p.relative_to(facts.root).as_posix(), read_sources_file(p)) for p in facts.sources_files()
    ]
    return [
        {**r, "licence": licence_for(r["source_id"], r["publisher"])} for r in merge_sources(files)
    ]


# --- countries -------------------------------------------------------------------------------

AGGREGATES: list[tuple[str, str, str]] = [
    ("WLD", "World", "world total"),
    ("OTH", "Other countries", "residual 'other countries' row of a source table"),
    ("EUU", "European Union", "the EU as one actor; expands to the EU27 bloc members at use time"),
    ("ROW", "Rest of world", "oreflow estimate residual (world minus the countries named)"),
    ("TOP3", "Top three countries combined", "used by IEA stage shares"),
    ("TOP10", "Top ten partners combined", "used by China trade (top-10 importers)"),
    ("SEL18", "18 selected partner countries", "denominator of a USITC DataWeb extract"),
    ("MMR+CHN", "Myanmar and China together", "used by a heavy-RE supply share"),
    ("XEU", "Rest of EU27", "the EU27 members without a figure of their own in a table "
     "(ISO 3166 user-assigned code); counted in the EU27 bloc (oreflow.chain.names)"),
]
WGI_INDICATORS = {"VA", "PV", "GE", "RQ", "RL", "CC"}
NO_WGI: Row = {"wgi_year": "", "wgi_estimate": "", "governance_score": "", "wgi_source_id": ""}


def governance(facts: FactBase) -> dict[str, Row]:
    """WGI columns per ISO3 for the countries with all six 2023 estimates."""
    est: dict[str, dict[str, float]] = {}
    last: dict[str, Row] = {}
    for r in facts.read("reference", "governance_wgi.csv"):
        est.setdefault(r["iso3"], {})[r["indicator"]] = num(r["estimate"])
        last[r["iso3"]] = r
    out: dict[str, Row] = {}
    for code, ind in est.items():
        if set(ind) != WGI_INDICATORS:
            continue
        mean = sum(ind.values()) / 6
        score = min(10.0, max(0.0, (2.5 - mean) * 2))
        out[code] = {
            "wgi_year": int(last[code]["year"]),
            "wgi_estimate": fnum(mean, 6),
            "governance_score": fnum(score, 4),
            "wgi_source_id": last[code]["source_id"],
        }
    out.update(dict.fromkeys(set(est) - set(out), NO_WGI))
    return out


def build_countries(facts: FactBase) -> list[Row]:
    """countries: the ISO 3166-1 code list with UN M49 regions, aggregates, WGI governance."""
    wgi = governance(facts)
    out: list[Row] = [
        {
            "iso3": r["iso3"],
            "name": r["name"],
            "kind": "country",
            "region": r["m49_region"],
            "subregion": r["m49_subregion"],
            **wgi.get(r["iso3"], NO_WGI),
        }
        for r in facts.read("reference", "iso3166_m49.csv")
    ]
    unknown = set(wgi) - {r["iso3"] for r in out}
    if unknown:
        raise ValueError(f"WGI codes not in ISO 3166: {sorted(unknown)}")
    for code, name, _note in AGGREGATES:
        out.append(
            {"iso3": code, "name": name, "kind": "aggregate", "region": "", "subregion": ""}
            | NO_WGI
        )
    return out


# --- blocs -----------------------------------------------------------------------------------

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


def build_blocs(facts: FactBase) -> list[Row]:
    """blocs: alliances.csv as is, plus the G7 and QUAD aliases."""
    rows = facts.read("reference", "alliances.csv")
    out = copy_rows(rows, "blocs")
    for alias, (code, role, name) in BLOC_ALIASES.items():
        for r in rows:
            if r["bloc"] == code and r["role"] == role:
                row = copy_rows([r], "blocs")[0]
                row.update(
                    bloc=alias,
                    bloc_name=name,
                    joined="",
                    note=f"alias of bloc {code} (role '{role}'); 'joined' of {code} "
                    f"({r['joined']}) is not a membership date and is left blank",
                )
                out.append(row)
    return out


# --- vintages --------------------------------------------------------------------------------

#: Fixed order of USGS labels that share a publication date (higher index = newer).
SAME_DATE_ORDER = ["MCS2026 (Heavy)", "MCS2026", "MCS2026 v1.0-1.2", "MCS2026 v1.3"]
ESTIMATE_VINTAGE = (
    DATASET_CREATED[:10],
    EST_SOURCE,
    "oreflow estimates; ranked lowest so that any published figure for the same key wins",
)


def iso_prefix(text_: str) -> str:
    """First ISO-like date (YYYY, YYYY-MM or YYYY-MM-DD) in a text, or ''."""
    m = re.search(r"\b(\d{4})(-\d{2})?(-\d{2})?\b", text_)
    return "".join(g for g in m.groups() if g) if m else ""


def used_vintages(tables: dict[str, list[Row]]) -> dict[str, set[int]]:
    """Every vintage label used by the tables, with the data years it labels."""
    labels: dict[str, set[int]] = {}
    uses = (  # table, label column, data-year column, characters of it that hold the year
        ("stage_output", "vintage", "year", None),
        ("flows", "vintage", "year", None),
        ("reserves", "edition", "", None),
        ("prices", "edition", "date", 4),
        ("us_statistics", "edition", "year", None),
    )
    for table, label_col, year_col, width in uses:
        for r in tables[table]:
            year = str(r[year_col])[:width] if year_col else "0"
            if r[label_col]:
                labels.setdefault(r[label_col], set()).add(int(year) if year.isdigit() else 0)
    return labels


def vintage_sort_key(r: Row) -> tuple[int, str, int, str]:
    """oreflow estimates first, then by publication date (order fixed for equal dates)."""
    if r["vintage"] == EST_VINTAGE:
        return (0, "", 0, "")
    same = SAME_DATE_ORDER.index(r["vintage"]) if r["vintage"] in SAME_DATE_ORDER else -1
    # A date known only to the month or year sorts before the dated ones of that period.
    key = (r["_key"] + "-00-00")[:10]
    return (1, key, same, r["vintage"])


def build_vintages(
    facts: FactBase, tables: dict[str, list[Row]], sources: dict[str, Row]
) -> list[Row]:
    """vintages: every label used, ranked by publication date (oreflow estimates lowest)."""
    info: dict[str, tuple[str, str, str]] = {
        r["vintage"]: (r["published"], r["source_id"], r["note"])
        for r in facts.read("reference", "vintage_labels.csv")
    }
    info[EST_VINTAGE] = ESTIMATE_VINTAGE
    rows: list[Row] = []
    for label, years in used_vintages(tables).items():
        if label in info:
            published, sid, note = info[label]
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
    rows.sort(key=vintage_sort_key)
    for i, r in enumerate(rows, 1):
        r["rank"] = i
        del r["_key"]
    return rows
