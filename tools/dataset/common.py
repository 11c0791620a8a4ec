"""Shared parts of the dataset build.

Constants of the dataset, the table contract (:class:`Col` and :class:`Table`, loaded from
``contract.json`` into :data:`CONTRACT`), access to the fact base (:class:`FactBase`), row
helpers with exact decimal arithmetic, and writing of the CSV files and ``datapackage.json``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .rows import Row, fnum

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The curated fact base: ``facts/<family>/<name>.csv`` (conventions in facts/README.md).
DEFAULT_SRC = REPO_ROOT / "facts"
DEFAULT_OUT = REPO_ROOT / "src" / "oreflow" / "data" / "tables"

DATASET_NAME = "oreflow-default"
DATASET_VERSION = "2026.11.0"
DATASET_CREATED = "2026-11-28T00:00:00Z"
#: Vintage label of every row oreflow derives from several inputs (ranked lowest, see vintages).
EST_VINTAGE = "oreflow-2026.11"
EST_SOURCE = "oreflow_estimate"
BASELINE_YEAR = 2024


# ---------------------------------------------------------------------------------------------
# The table contract (declared in contract.json)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """One column of a table: Frictionless field descriptor."""

    name: str
    type: str
    description: str
    unit: str | None = None
    constraints: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_descriptor(cls, d: dict[str, Any]) -> Col:
        """The column described by a Frictionless field descriptor."""
        return cls(d["name"], d["type"], d["description"], d.get("unit"), d.get("constraints", {}))

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


CONTRACT_PATH = Path(__file__).with_name("contract.json")


def load_contract(path: Path = CONTRACT_PATH) -> dict[str, Table]:
    """The tables of ``contract.json``, in datapackage order.

    A field given by name alone stands for the entry of that name in ``shared_fields``.
    """
    doc = json.loads(path.read_text(encoding="utf-8"))
    shared: dict[str, dict[str, Any]] = doc["shared_fields"]
    out: dict[str, Table] = {}
    for t in doc["tables"]:
        fields = [shared[f] if isinstance(f, str) else f for f in t["fields"]]
        out[t["name"]] = Table(
            t["name"],
            t["title"],
            t["description"],
            tuple(Col.from_descriptor(f) for f in fields),
            tuple(t["primaryKey"]),
            tuple((a, b, c) for a, b, c in t.get("foreignKeys", [])),
        )
    return out


#: The table contract (``contract.json``): every table's columns, keys and descriptions.
CONTRACT = load_contract()


# ---------------------------------------------------------------------------------------------
# The fact base
# ---------------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[Row]:
    """Read a CSV as a list of string dicts (file order kept)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [dict(r) for r in csv.DictReader(fh)]


def is_sources_file(path: Path) -> bool:
    """True for a sources file: a CSV whose name has the word ``sources`` between underscores.

    ``sources.csv``, ``seed_sources.csv`` and ``sources_2026.csv`` are sources files;
    ``resources.csv`` is not.
    """
    return path.suffix == ".csv" and "sources" in path.stem.split("_")


class FactBase:
    """The curated fact base: ``<root>/<family>/<name>.csv``, one folder per table family."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, family: str, name: str) -> Path:
        """The file ``name`` of ``family``; a missing file is an error."""
        p = self.root / family / name
        if not p.is_file():
            raise FileNotFoundError(f"fact file {family}/{name} not found under {self.root}")
        return p

    def read(self, family: str, name: str) -> list[Row]:
        """The rows of ``<family>/<name>``."""
        return read_csv(self.path(family, name))

    def sources_files(self) -> list[Path]:
        """``reference/sources.csv`` first, then every other sources file in path order."""
        main = self.path("reference", "sources.csv")
        others = sorted(
            (p for p in self.root.glob("*/*.csv") if is_sources_file(p) and p != main),
            key=lambda p: p.relative_to(self.root).as_posix(),
        )
        return [main, *others]


def share_range(facts: FactBase, parameter_id: str) -> tuple[float, float, float]:
    """A percentage row of ``model/parameters.csv`` as shares (low, central, high) [-], e.g.
    ``separation_recovery``: the overall recovery of ore concentrate to separated oxides."""
    for r in facts.read("model", "parameters.csv"):
        if r["parameter_id"] == parameter_id:
            return (float(r["value_low"]) / 100, float(r["value"]) / 100,
                    float(r["value_high"]) / 100)
    raise KeyError(f"model/parameters.csv has no parameter {parameter_id!r}")


def blank_row(table: str) -> Row:
    """A row of ``table`` with every column blank."""
    return dict.fromkeys(CONTRACT[table].names, "")


def copy_rows(
    rows: Iterable[Row],
    table: str,
    rename: dict[str, str] | None = None,
    transform: Callable[[Row, Row], None] | None = None,
) -> list[Row]:
    """Copy fact-base rows into a contract table: same-named columns ('' where missing).

    ``rename`` maps a contract column to its fact-base column; ``transform(fact_row, row)``
    adjusts a copied row in place. ``row_id`` is left to :func:`number_row`.
    """
    names = [n for n in CONTRACT[table].names if n != "row_id"]
    out: list[Row] = []
    for r in rows:
        row = {col: r.get((rename or {}).get(col, col), "") for col in names}
        if transform:
            transform(r, row)
        out.append(row)
    return out


@dataclass
class Estimates:
    """Intermediate numbers of the 2024 estimates (reused by flows and the report)."""

    values: dict[str, float] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)


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


def resource(t: Table) -> dict[str, Any]:
    """The data-package resource describing table ``t``."""
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
    return {
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


def datapackage(tables: Iterable[Table], sources: list[Row]) -> dict[str, Any]:
    """The Frictionless data package descriptor."""
    return {
        "profile": "tabular-data-package",
        "name": DATASET_NAME,
        "title": "oreflow default dataset: the global rare-earth supply chain",
        # Kept word for word (it names the old script) so that dataset 2026.11.0 is rebuilt
        # byte for byte; reword it together with the next dataset version.
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
        "resources": [resource(t) for t in tables],
    }


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON with a final newline."""
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
