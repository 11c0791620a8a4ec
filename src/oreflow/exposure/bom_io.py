"""Reading BOM files: YAML and CSV text to a raw mapping, with line numbers for every field.

The formats layer of :mod:`oreflow.exposure`: it knows files, lines and columns, not the
schema. :func:`read_raw` turns YAML (line numbers from the node tree) or CSV (one row per
product × input × supplier) into the mapping the schema (:mod:`oreflow.exposure.bom`)
validates, and a :class:`Locator` that maps a field path back to (file, line, field);
:func:`pydantic_problems` turns pydantic's errors into located
:class:`~oreflow.errors.Problem` reports. :func:`oreflow.exposure.read_bom` and
:func:`~oreflow.exposure.parse_bom` put the two together.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from oreflow.errors import Problem, ValidationError, did_you_mean
from oreflow.yamlio import FieldPath, YamlInputError, known_fields, line_map, parse_yaml

__all__ = [
    "CSV_REQUIRED",
    "MAX_CSV_BYTES",
    "MAX_CSV_ROWS",
    "MAX_PRODUCTS",
    "FieldPath",
    "Locator",
    "csv_columns",
    "dedupe_problems",
    "dotted",
    "parse_mapping",
    "pydantic_problems",
    "read_raw",
]



@dataclass
class Locator:
    """Maps a field path to (line, field label) for problem reports."""

    label: str
    lines: dict[FieldPath, int]
    columns: dict[FieldPath, str] = field(default_factory=dict)

    def problem(self, path: Sequence[str | int], rule: str) -> Problem:
        p: FieldPath = tuple(path)
        line = 1
        for n in range(len(p), -1, -1):
            if p[:n] in self.lines:
                line = self.lines[p[:n]]
                break
        if not self.columns:
            return Problem(self.label, line, dotted(p) or None, rule)
        col = self.columns.get(p)
        if col is None and p and isinstance(p[-1], str):
            col = _csv_column(p)
        if col is None:
            for n in range(len(p), 0, -1):
                if p[:n] in self.columns:
                    col = self.columns[p[:n]]
                    break
        return Problem(self.label, line, col, rule)


def _csv_column(path: FieldPath) -> str | None:
    """CSV column of a BOM field path (``None`` if the field has no column)."""
    strs = [x for x in path if isinstance(x, str)]
    if "source" in strs:
        return "source_id"
    name = strs[-1]
    level = {("products",): "product", ("products", "inputs"): "input",
             ("products", "inputs", "suppliers"): "supplier",
             ("products", "inputs", "content"): "content"}.get(tuple(strs[:-1]), "bom")
    special = {
        ("product", "id"): "product", ("product", "name"): "product_name",
        ("input", "id"): "input", ("input", "name"): "input_name",
        ("input", "content"): "content_<El>", ("supplier", "name"): "supplier",
        ("supplier", "country"): "supplier_country",
    }
    if level == "content":
        return f"content_{name}"
    col = special.get((level, name), name)
    return col if col in csv_columns() else None


def dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_mapping(text: str, label: str, *,
                  shape: str = "a BOM is a YAML mapping with 'name' and 'products'",
                  ) -> tuple[dict[str, Any], Locator]:
    """A YAML document that must be a mapping (read safely by :func:`oreflow.yamlio.parse_yaml`)
    and the locator of its fields' lines; ``shape`` says what was expected when it is not."""
    try:
        data, node = parse_yaml(text, source=label)
    except YamlInputError as exc:
        raise ValidationError([Problem(label, exc.line, None, exc.rule)]) from None
    if node is None or not isinstance(data, dict):
        raise ValidationError([Problem(label, 1, None, shape)])
    return data, Locator(label, line_map(node))


#: CSV columns (one row per product × input × supplier). Product- and input-level cells may be
#: left blank on the rows after the first of their product or input.
CSV_REQUIRED: tuple[str, ...] = (
    "product", "units_per_year", "plant_country", "input", "kind", "type",
    "mass_kg_per_unit", "inventory_months", "supplier_country", "share",
)  # fmt: skip
_CSV_BOM = ("name", "controller", "year", "deminimis_threshold")
_CSV_PRODUCT = {"product_name": "name", "plant_country": "plant_country"}
_CSV_PRODUCT_Q = ("units_per_year", "unit_value_usd")
_CSV_INPUT = {"input_name": "name", "kind": "kind", "type": "type", "form": "form",
              "grade": "grade", "price_sensitivity": "price_sensitivity"}
_CSV_INPUT_Q = ("mass_kg_per_unit", "inventory_months", "qualification_months",
                "delivery_months", "price_usd_per_kg")
_CSV_CITE = ("source_id", "source_table", "source_key")
_CSV_SUPPLIER = {"supplier": "name", "supplier_country": "country", "share": "share"}
_NUMERIC = {"share", "price_sensitivity", "year", "deminimis_threshold"}
#: Most products a BOM may list; each is traced and simulated on its own, and a BOM of this
#: size already takes tens of seconds to check.
MAX_PRODUCTS: int = 10_000
#: Most data rows a CSV BOM may have (one per product x input x supplier).
MAX_CSV_ROWS: int = 100_000
#: Largest CSV BOM accepted [bytes or characters]; YAML BOMs are capped at
#: :data:`oreflow.yamlio.MAX_BYTES`.
MAX_CSV_BYTES: int = 10_000_000


def csv_columns() -> list[str]:
    """Every column a CSV BOM may have (``content_<El>`` stands for one per element)."""
    cols = [*CSV_REQUIRED, *_CSV_BOM, "product_name", "unit_value_usd", "input_name", "form",
            "grade", "qualification_months", "delivery_months", "price_sensitivity",
            "price_usd_per_kg", *_CSV_CITE, "supplier", "content_<El>"]
    for q in (*_CSV_PRODUCT_Q, *_CSV_INPUT_Q):
        cols += [f"{q}_low", f"{q}_high"]
    return list(dict.fromkeys(cols))


def _csv_allowed(col: str) -> bool:
    if col in csv_columns():
        return True
    return bool(re.fullmatch(r"content_[A-Z][a-z]?(_low|_high)?", col))


def _parse_csv(text: str, label: str) -> tuple[dict[str, Any], Locator, list[Problem]]:
    if len(text) > MAX_CSV_BYTES:
        raise ValidationError([Problem(label, None, None, f"larger than {MAX_CSV_BYTES:,} "
                                       "characters; split the BOM")])
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ValidationError([Problem(label, 1, None, "the file is empty")]) from None
    problems: list[Problem] = []
    missing = [c for c in CSV_REQUIRED if c not in header]
    problems += [Problem(label, 1, c, "required column is missing") for c in missing]
    problems += [Problem(label, 1, c, "unknown column" + did_you_mean(c, csv_columns()))
                 for c in header if c and not _csv_allowed(c)]
    dup = sorted({c for c in header if header.count(c) > 1})
    problems += [Problem(label, 1, c, "column appears more than once") for c in dup]
    if problems:
        raise ValidationError(problems)
    lines: dict[FieldPath, int] = {(): 1}
    columns: dict[FieldPath, str] = {}
    data: dict[str, Any] = {}
    products: dict[str, dict[str, Any]] = {}
    # positions by id: list(products).index(pid) per row made reading quadratic in the rows
    product_index: dict[str, int] = {}
    input_index: dict[tuple[str, str], int] = {}
    first_line: dict[tuple[Any, ...], int] = {}
    n_rows = 0
    for row in reader:
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        n_rows += 1
        if n_rows > MAX_CSV_ROWS:
            raise ValidationError([Problem(label, line, None, f"more than {MAX_CSV_ROWS:,} "
                                           "rows; split the BOM")])
        if len(row) > len(header):
            problems.append(Problem(label, line, None,
                                    f"{len(row)} cells but {len(header)} columns"))
            continue
        cells = {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)}

        def num(col: str, cells: dict[str, str] = cells, line: int = line) -> float | None:
            raw = cells.get(col, "")
            if raw == "":
                return None
            try:
                return float(raw)
            except ValueError:
                problems.append(Problem(label, line, col, f"'{raw}' is not a number"))
                return None

        def put(target: dict[str, Any], key: str, value: Any, path: FieldPath, col: str,
                scope: tuple[Any, ...], line: int = line) -> None:
            if value is None or value == "":
                return
            if key in target and target[key] != value:
                problems.append(Problem(label, line, col, f"'{_show(value)}' conflicts with "
                                        f"'{_show(target[key])}' on line "
                                        f"{first_line[(*scope, key)]}"))
                return
            if key not in target:
                target[key] = value
                first_line[(*scope, key)] = line
                lines[(*path, key)] = line
                columns[(*path, key)] = col

        def quantity(name: str, cite: bool = False, cells: dict[str, str] = cells) -> Any:
            v, lo, hi = num(name), num(f"{name}_low"), num(f"{name}_high")
            if v is None and lo is None and hi is None:
                return None
            q: dict[str, Any] = {}
            if v is not None:
                q["value"] = v
            if lo is not None:
                q["low"] = lo
            if hi is not None:
                q["high"] = hi
            if cite and cells.get("source_id"):
                c: dict[str, Any] = {"source_id": cells["source_id"]}
                if cells.get("source_table"):
                    c["table"] = cells["source_table"]
                if cells.get("source_key"):
                    c["key"] = cells["source_key"]
                q["source"] = [c]
            return q if set(q) != {"value"} else q["value"]

        for col in _CSV_BOM:
            val: Any = num(col) if col in _NUMERIC else cells.get(col, "")
            put(data, col, val, (), col, ("bom",))
        pid = cells.get("product", "")
        if not pid:
            problems.append(Problem(label, line, "product", "a value is required"))
            continue
        if pid not in products:
            if len(products) >= MAX_PRODUCTS:
                raise ValidationError([Problem(label, line, "product", f"more than "
                                               f"{MAX_PRODUCTS:,} products; split the BOM")])
            product_index[pid] = len(products)
            products[pid] = {"id": pid, "inputs": {}}
            idx = product_index[pid]
            lines[("products", idx)] = line
            lines[("products", idx, "id")] = line
            columns[("products", idx, "id")] = "product"
        p_idx = product_index[pid]
        prod = products[pid]
        ppath: FieldPath = ("products", p_idx)
        for col, key in _CSV_PRODUCT.items():
            put(prod, key, cells.get(col, ""), ppath, col, (pid,))
        for q in _CSV_PRODUCT_Q:
            put(prod, q, quantity(q), ppath, q, (pid,))
        iid = cells.get("input", "")
        if not iid:
            problems.append(Problem(label, line, "input", "a value is required"))
            continue
        inputs: dict[str, dict[str, Any]] = prod["inputs"]
        if iid not in inputs:
            input_index[(pid, iid)] = len(inputs)
            inputs[iid] = {"id": iid, "suppliers": []}
            ii = input_index[(pid, iid)]
            lines[(*ppath, "inputs", ii)] = line
            lines[(*ppath, "inputs", ii, "id")] = line
            columns[(*ppath, "inputs", ii, "id")] = "input"
        i_idx = input_index[(pid, iid)]
        inp = inputs[iid]
        ipath: FieldPath = (*ppath, "inputs", i_idx)
        scope = (pid, iid)
        for col, key in _CSV_INPUT.items():
            val = num(col) if col in _NUMERIC else cells.get(col, "")
            put(inp, key, val, ipath, col, scope)
        for q in _CSV_INPUT_Q:
            put(inp, q, quantity(q, cite=q == "mass_kg_per_unit"), ipath, q, scope)
        for col in header:
            m = re.fullmatch(r"content_([A-Z][a-z]?)", col)
            if m:
                content = inp.setdefault("content", {})
                put(content, m.group(1), quantity(col), (*ipath, "content"), col, (*scope, "c"))
        if "content" in inp and not inp["content"]:
            del inp["content"]
        sup: dict[str, Any] = {}
        s_idx = len(inp["suppliers"])
        spath: FieldPath = (*ipath, "suppliers", s_idx)
        lines[spath] = line
        for col, key in _CSV_SUPPLIER.items():
            val = num(col) if col in _NUMERIC else cells.get(col, "")
            if val is not None and val != "":
                sup[key] = val
            lines[(*spath, key)] = line
            columns[(*spath, key)] = col
        inp["suppliers"].append(sup)
        lines.setdefault((*ipath, "suppliers"), line)
        columns.setdefault((*ipath, "suppliers"), "share")
    if n_rows == 0:
        raise ValidationError([Problem(label, 2, None, "the file has a header but no rows")])
    data.setdefault("name", Path(label).stem or "bom")
    data["products"] = [
        {**{k: v for k, v in p.items() if k != "inputs"}, "inputs": list(p["inputs"].values())}
        for p in products.values()
    ]
    for i in range(len(products)):
        columns.setdefault(("products", i), "product")
        columns.setdefault(("products", i, "inputs"), "input")
    return data, Locator(label, lines, columns), problems


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_show(x)}" for k, x in v.items())
    return str(v)


def pydantic_problems(exc: PydanticValidationError, loc: Locator,
                      model: type[BaseModel] | None = None) -> list[Problem]:
    """Located problems of a pydantic error; with ``model`` (the root schema) an unknown
    field gets the nearest allowed name as a did-you-mean hint."""
    out = []
    errors = exc.errors()
    # every proper prefix of an error location (a set: checking each error against every
    # other was quadratic in the number of errors)
    parents = {tuple(e["loc"])[:n] for e in errors for n in range(len(e["loc"]))}
    for err in errors:
        here = tuple(err["loc"])
        if err["type"] == "too_short" and here in parents:
            continue  # a list "too short" only because its items failed
        path = [p for p in err["loc"] if isinstance(p, str | int)]
        # drop pydantic's internal markers ("function-after[...]" etc.)
        path = [p for p in path if not (isinstance(p, str) and "[" in p and "]" in p)]
        kind = err["type"]
        if kind == "missing":
            rule = "required field is missing"
        elif kind == "extra_forbidden":
            rule = "unknown field"
            if model is not None and err["loc"]:
                name = str(err["loc"][-1])
                rule += did_you_mean(name, known_fields(model, err["loc"]))
        else:
            rule = str(err["msg"]).removeprefix("Value error, ")
        out.append(loc.problem(path, rule))
    return out



def read_raw(text: str, fmt: Literal["yaml", "csv"],
             label: str) -> tuple[Any, Locator, list[Problem]]:
    """The raw BOM mapping of YAML or CSV text, its locator and the problems found reading it.

    Raises :class:`~oreflow.errors.ValidationError` at once for text that cannot be read at
    all (invalid YAML, not a mapping, an empty CSV file, missing or unknown CSV columns).
    """
    if fmt == "yaml":
        data, loc = parse_mapping(text, label)
        return data, loc, []
    return _parse_csv(text, label)


def dedupe_problems(problems: list[Problem]) -> list[Problem]:
    """Drop repeats and "missing" reports of cells already reported as unreadable."""
    seen: set[tuple[int | None, str | None]] = set()
    kept: set[Problem] = set()
    out: list[Problem] = []
    for p in problems:
        if p.rule == "required field is missing" and (p.line, p.column) in seen:
            continue
        if p in kept:
            continue
        seen.add((p.line, p.column))
        kept.add(p)
        out.append(p)
    return out
