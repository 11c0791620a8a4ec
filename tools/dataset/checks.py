"""The post-build checks: schema, keys, sources, flags, codes and the published ranges.

:func:`check` reads the written files back (``datapackage.json`` and every CSV it lists) and
returns a list of problems; an empty list means the dataset passes.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import EST_VINTAGE, Table, read_csv
from .rows import FLAG_VOCAB, Row

Report = Callable[[str], None]
Data = dict[str, list[Row]]

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

#: Plausible ranges for China's 2024 stage shares, spanning the published figures in
#: stage_shares (mine: IEA 61-62%, USGS-based 69%, Benchmark 70%; separation: IEA 87-92%;
#: magnets: more than 90%, IEA 94%); see docs/data.md.
#: Sanity bounds of China's share per stage (far wider than the published figures, which
#: ``oreflow data check`` prints beside oreflow's own shares).
CHINA_BOUNDS = {"mine": (0.5, 0.8), "separation": (0.8, 0.99), "metal": (0.8, 1.0),
                "magnet": (0.85, 1.0)}

#: Blocs the contract requires, and vintages that must rank in this order (newest first).
REQUIRED_BLOCS = ("MSP", "G7", "QUAD", "EU27")
VINTAGE_ORDER = ["MCS2026 v1.3", "MCS2026 v1.0-1.2", "MCS2026", "MCS2025", "MCS2024"]


def load_outputs(out: Path) -> tuple[dict[str, Any], Data]:
    """Read datapackage.json and every CSV it lists."""
    pkg = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    data: Data = {}
    for res in pkg["resources"]:
        raw = (out / res["path"]).read_bytes()
        if b"\r" in raw:
            raise ValueError(f"{res['path']}: CR line endings")
        data[res["name"]] = read_csv(out / res["path"])
    return pkg, data


def check_value(f: dict[str, Any], v: str, where: str, err: Report) -> None:
    """One non-blank cell against its field's type and constraints."""
    cons = f.get("constraints", {})
    if f["type"] in ("number", "integer"):
        try:
            x = float(v)
        except ValueError:
            err(f"{where}: not a number: {v!r}")
            return
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


def check_resource(
    out: Path, res: dict[str, Any], data: Data, contract: dict[str, Table], err: Report
) -> None:
    """Header, cell types and constraints, primary and foreign keys of one table."""
    name = res["name"]
    rows = data[name]
    fields = res["schema"]["fields"]
    with (out / res["path"]).open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    if header != [f["name"] for f in fields]:
        err(f"{name}: header differs from the schema")
    if name in contract and header != contract[name].names:
        err(f"{name}: header differs from the contract definition in the build")
    for f in fields:
        for i, r in enumerate(rows):
            v = r[f["name"]]
            if v != "":
                check_value(f, v, f"{name}[{i}].{f['name']}", err)
            elif f.get("constraints", {}).get("required"):
                err(f"{name}[{i}].{f['name']}: required value missing")
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


def check_rows(data: Data, contract: dict[str, Table], err: Report) -> None:
    """Sources resolve, flags are in the vocabulary, codes are known, derived rows say how."""
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
        if "source_id" in contract[name].names and name != "vintages":
            for r in rows:
                if not r["source_id"]:
                    err(f"{name}: fact row without source_id")


def check_composition(data: Data, err: Report) -> None:
    """Country ore mixes sum to 1."""
    mix: dict[str, float] = {}
    for r in data["composition"]:
        if r["deposit"].startswith("country:"):
            mix[r["deposit"]] = mix.get(r["deposit"], 0.0) + float(r["share"])
    for d, s in mix.items():
        if abs(s - 1) > 1e-4:
            err(f"composition {d}: shares sum to {s}")


def check_stage_output(data: Data, err: Report) -> None:
    """The balanced chain is complete and China's shares are plausible (a sanity bound only:
    the published shares are cross-checks printed by ``oreflow data check``, not targets)."""
    so = [r for r in data["stage_output"] if r["basis"] == "production"]
    for year in (2024, 2025):
        for stage, material, vints in (("mine", "REO", ("MCS2026",)),
                                       ("separation", "REO", (EST_VINTAGE,)),
                                       ("metal", "REO", (EST_VINTAGE,)),
                                       ("magnet", "NdFeB", (EST_VINTAGE,))):
            rows = [r for r in so if r["year"] == str(year) and r["stage"] == stage
                    and r["material"] == material and r["vintage"] in vints
                    and r["iso3"] not in ("WLD", "OTH")]
            chn = sum(float(r["tonnes"]) for r in rows if r["iso3"] == "CHN")
            total = sum(float(r["tonnes"]) for r in rows)
            if not total > 0 or not chn > 0:
                err(f"{year} {stage}: no output (China {chn}, all {total})")
                continue
            lo, hi = CHINA_BOUNDS[stage]
            if not lo <= chn / total <= hi:
                err(f"{year} {stage}: China share {chn / total:.3f} outside [{lo}, {hi}]")
            for r in rows:
                lo_t, hi_t = r["tonnes_low"], r["tonnes_high"]
                if lo_t and hi_t and not float(lo_t) <= float(r["tonnes"]) <= float(hi_t):
                    err(f"{year} {stage} {r['iso3']}: value outside its range")
    uses = data["consumption"]
    for year in (2024, 2025):
        for stage in ("separation", "magnet"):
            if not any(r["year"] == str(year) and r["stage"] == stage for r in uses):
                err(f"{year}: no final use at the {stage} stage")


def check_stage_shares(data: Data, err: Report) -> None:
    """Per source, year, stage and material the country shares do not exceed 1.

    Aggregates and producer-level rows are left out.
    """
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


def check_blocs_and_vintages(data: Data, err: Report) -> None:
    """The required blocs exist and the USGS vintages rank in publication order."""
    blocs = {r["bloc"] for r in data["blocs"]}
    for b in REQUIRED_BLOCS:
        if b not in blocs:
            err(f"bloc {b} missing")
    rank = {r["vintage"]: int(r["rank"]) for r in data["vintages"]}
    if any(rank[a] <= rank[b] for a, b in itertools.pairwise(VINTAGE_ORDER)):
        err("vintage ranks not in the required order")


def check(out: Path, contract: dict[str, Table]) -> list[str]:
    """Validate the written dataset; return a list of problems (empty = OK)."""
    errors: list[str] = []
    err = errors.append
    pkg, data = load_outputs(out)
    for res in pkg["resources"]:
        check_resource(out, res, data, contract, err)
    check_rows(data, contract, err)
    check_composition(data, err)
    check_stage_output(data, err)
    check_stage_shares(data, err)
    check_blocs_and_vintages(data, err)
    return errors
