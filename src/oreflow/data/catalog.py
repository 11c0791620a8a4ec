"""The catalogue of the data package: table schemas, row counts, vintages — without pandas.

What ``oreflow data list`` shows needs only the standard library, so the command starts in
well under a second; :class:`~oreflow.data.store.Store` extends :class:`Catalog` with the
pandas tables, validation, imports and SQL.
"""

from __future__ import annotations

import csv
import functools
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir

from oreflow.data.userdir import check_user_dir, read_counts
from oreflow.errors import InputError, unknown

__all__ = [
    "DEFAULT_YEAR",
    "ISO3_COLUMNS",
    "NONNEGATIVE_BY_TABLE",
    "NONNEGATIVE_COLUMNS",
    "SHARE_COLUMNS",
    "YEAR_COLUMNS",
    "YEAR_RANGE",
    "Catalog",
    "TableInfo",
    "csv_records",
    "default_user_dir",
    "embedded_dir",
]

#: Default data year of the analysis verbs: the newest year with output at every stage and
#: final use by country in the embedded data (2025: USGS MCS2026 and company reports; stages
#: without a 2025 figure carry documented estimates, which ``oreflow data check`` lists).
DEFAULT_YEAR = 2025

#: Columns holding country codes, checked against the ``countries`` table.
ISO3_COLUMNS = frozenset(
    {"iso3", "exporter", "importer", "partner_iso3", "importer_iso3", "supplier_iso3"}
)
#: Columns holding fractions that must lie in [0, 1].
SHARE_COLUMNS = frozenset(
    {"share", "share_low", "share_high", "wt_frac", "wt_frac_low", "wt_frac_high",
     "de_minimis_share"}
)
#: Tonnage, capacity, cost and delay columns that must not be negative (capital cost
#: [million USD], licence lag [working days]).
NONNEGATIVE_COLUMNS = frozenset(
    {"tonnes", "tonnes_low", "tonnes_high", "capacity", "capacity_low", "capacity_high",
     "quantity", "usd_per_kg", "capex_musd", "licence_lag_working_days"}
)
#: Columns that must not be negative in one table only (their names are generic elsewhere):
#: lead times are durations [years or months] and rates, never negative.
NONNEGATIVE_BY_TABLE: dict[str, frozenset[str]] = {
    "lead_times": frozenset({"value", "value_low", "value_high"}),
}
#: Columns holding a calendar year (integer columns, or text columns such as ``2024/25``
#: whose cells, where written as a plain number, must be a year).
YEAR_COLUMNS = frozenset({"year", "wgi_year", "start_year"})
#: Years accepted in :data:`YEAR_COLUMNS` (inclusive): the data reach back to the first
#: rare-earth mining and forward to long-range projections.
YEAR_RANGE = (1800, 2200)
#: Columns naming the edition a figure comes from, in the order they are looked for.
VINTAGE_COLUMNS = ("vintage", "edition")
#: Columns holding the figure a vintage diff compares, in the order they are looked for.
VALUE_COLUMNS = ("tonnes", "value", "share", "usd_per_kg")

#: Spellings of true and false accepted in boolean columns.
TRUE_WORDS = {"true", "1", "yes", "y", "t"}
FALSE_WORDS = {"false", "0", "no", "n", "f"}


def embedded_dir() -> Path:
    """Return the directory of the embedded dataset shipped inside the package."""
    return Path(str(resources.files("oreflow.data") / "tables"))


def default_user_dir() -> Path:
    """Return the per-user data directory (``$OREFLOW_DATA_DIR`` or the platform default)."""
    env = os.environ.get("OREFLOW_DATA_DIR")
    if env:
        path = Path(env)
        check_user_dir(path, setting="OREFLOW_DATA_DIR")
        return path
    return Path(user_data_dir("oreflow", appauthor=False))


@dataclass(frozen=True, eq=False)
class TableInfo:
    """Schema of one table as declared in ``datapackage.json``."""

    name: str
    path: str
    fields: tuple[dict[str, Any], ...]
    primary_key: tuple[str, ...]
    description: str = ""

    @property
    def columns(self) -> list[str]:
        """Column names in declared order."""
        return [f["name"] for f in self.fields]

    def field(self, name: str) -> dict[str, Any]:
        """Return the field descriptor named ``name``."""
        for f in self.fields:
            if f["name"] == name:
                return f
        raise KeyError(name)

    def undeclared(self, columns: Iterable[str], *constraints: str) -> list[str]:
        """Those of ``columns`` in this table lacking one of the named schema constraints."""
        return [c for c in columns if c in self.columns
                and not all(k in self.field(c).get("constraints", {}) for k in constraints)]

    @property
    def vintage_column(self) -> str | None:
        """The column naming the edition of each figure, if the table has one.

        ``sources.edition`` describes a publication, not a vintage of a figure.
        """
        if self.name == "sources":
            return None
        return next((c for c in VINTAGE_COLUMNS if c in self.columns), None)

    @property
    def value_column(self) -> str | None:
        """The main numeric column (compared by :meth:`Store.diff`)."""
        return next((c for c in VALUE_COLUMNS if c in self.columns), None)


class Catalog:
    """The data package's tables: schemas, files, row counts and vintages (no pandas).

    Parameters
    ----------
    embedded : pathlib.Path, optional
        Directory with ``datapackage.json`` and the CSV files (default: the package data).
    user : pathlib.Path, optional
        Per-user directory for imported rows (default: :func:`default_user_dir`).
    """

    def __init__(self, embedded: Path | None = None, user: Path | None = None) -> None:
        self.embedded = embedded or embedded_dir()
        self.user = user or default_user_dir()

    @classmethod
    def default(cls) -> Catalog:
        """The catalogue of the embedded data and the current user's directory."""
        return cls()

    # -- schema ---------------------------------------------------------------------------
    @functools.cached_property
    def package(self) -> dict[str, Any]:
        """The parsed ``datapackage.json`` of the embedded dataset."""
        path = self.embedded / "datapackage.json"
        if not path.exists():
            raise InputError(f"{path}: the embedded data package is missing (broken install?)")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    @functools.cached_property
    def infos(self) -> dict[str, TableInfo]:
        """Table schemas by name, in the data package's order."""
        out: dict[str, TableInfo] = {}
        for res in self.package["resources"]:
            schema = res.get("schema", {})
            pk = schema.get("primaryKey", [])
            out[res["name"]] = TableInfo(
                name=res["name"],
                path=res["path"],
                fields=tuple(schema.get("fields", [])),
                primary_key=tuple([pk] if isinstance(pk, str) else pk),
                description=res.get("description", res.get("title", "")),
            )
        return out

    @property
    def version(self) -> str:
        """Dataset version from the data package."""
        return str(self.package.get("version", "unknown"))

    def info(self, table: str) -> TableInfo:
        """Return the schema of ``table``; unknown names get a did-you-mean error."""
        try:
            return self.infos[table]
        except KeyError:
            raise unknown("table", table, self.infos) from None

    def tables(self) -> list[str]:
        """Names of all tables."""
        return list(self.infos)

    def user_file(self, table: str) -> Path:
        """Where user rows of ``table`` live."""
        return self.user / "tables" / f"{table}.csv"

    def summary(self) -> list[dict[str, Any]]:
        """Per table: rows (embedded layered with user rows), user rows, key, vintages.

        Reads the CSV files with the standard library only, so ``oreflow data list`` starts
        fast (no pandas import); a user table's counts come from the record the last import
        left (:func:`~oreflow.data.userdir.read_counts`) while the files are unchanged, so a
        large user layer is not re-read.
        """
        rank = self.vintage_rank()
        out: list[dict[str, Any]] = []
        for name, info in self.infos.items():
            counts = self.table_counts(info)
            found = sorted(counts["vintages"], key=lambda v: (rank.get(v, -1.0), v))
            out.append({"table": name, "rows": counts["rows"],
                        "user_rows": counts["user_rows"], "key": "/".join(info.primary_key),
                        "vintages": ", ".join(found), "description": info.description})
        return out

    def embedded_stamp(self, info: TableInfo) -> str:
        """Identity of the embedded file of ``info`` (dataset version, size, mtime)."""
        st = (self.embedded / info.path).stat()
        return f"{self.version}:{st.st_size}:{st.st_mtime_ns}"

    def table_counts(self, info: TableInfo) -> dict[str, Any]:
        """``rows`` (layered), ``user_rows`` and ``vintages`` (a list) of one table."""
        user_path = self.user_file(info.name)
        if not user_path.exists():
            user = None
        else:
            cached = read_counts(user_path, self.embedded_stamp(info))
            if cached is not None:
                return cached
            user = _key_scan(user_path, info)
        emb = _key_scan(self.embedded / info.path, info)
        if user is None:
            return {"rows": emb.rows, "user_rows": 0, "vintages": sorted(emb.vintages)}
        rows = len(emb.keys | user.keys) if info.primary_key else emb.rows + user.rows
        return {"rows": rows, "user_rows": user.rows,
                "vintages": sorted(emb.vintages | user.vintages)}

    def vintage_rank(self) -> dict[str, float]:
        """Map vintage label → rank (higher = newer), from the ``vintages`` table.

        Read with the standard library (embedded rows, then user rows, which win), so the
        fast ``data list`` path needs no pandas.
        """
        if "vintages" not in self.infos:
            return {}
        info = self.infos["vintages"]
        user_path = self.user_file("vintages")
        recs = csv_records(self.embedded / info.path) + (
            csv_records(user_path) if user_path.exists() else [])
        return {r["vintage"]: float(r["rank"]) for r in recs if r.get("rank")}


@dataclass
class _Scan:
    rows: int
    keys: set[tuple[str, ...]]
    vintages: set[str]


def _key_scan(path: Path, info: TableInfo) -> _Scan:
    """Row count, primary keys and vintages of one CSV file (standard library only)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            where = {h: i for i, h in enumerate(header)}
            kpos = [where.get(k) for k in info.primary_key]
            vcol = info.vintage_column
            vpos = where.get(vcol) if vcol else None
            rows, keys, vintages = 0, set(), set()
            for rec in reader:
                if not rec:
                    continue
                rows += 1
                if info.primary_key:
                    keys.add(tuple(rec[i].strip() if i is not None and i < len(rec) else ""
                                   for i in kpos))
                if vpos is not None and vpos < len(rec) and rec[vpos]:
                    vintages.add(rec[vpos])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: unreadable table ({exc})") from None
    return _Scan(rows, keys, vintages)


def csv_records(path: Path) -> list[dict[str, str]]:
    """Read a CSV into dicts of strings with the standard library (fast, no pandas)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))
