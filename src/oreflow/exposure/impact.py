"""Product-line exposure: a bill of materials (BOM) in; dependence, stock-out and money at risk out.

A :class:`Bom` lists products (units per year, plant country, unit value) and, per product,
its rare-earth inputs — magnets (NdFeB or SmCo, mass per unit, grade or element content) and
other rare-earth materials — with the current suppliers by country and share, inventory
[months of use], qualification time of a new supplier [months], and price sensitivity.

Two questions are answered:

- :func:`exposure` (no scenario): the controller-origin content and control share of every
  input, traced through the supply chain (:class:`oreflow.chain.SupplyChain`) so that a
  Japanese magnet made from Chinese oxide counts; whether a de-minimis rule reaches it; the
  single points of failure up the chain; and the alternative producers and projects in the
  data, with their capacity and spare capacity where the data give one (never invented).
- :func:`impact` (under a disruption scenario): months until stock-out, units delayed per
  month, cost increase per unit and per year, and the earliest month an alternative supplier
  could be qualified and deliver — P10/P50/P90 over the Monte Carlo draws of the disruption
  engine (:mod:`oreflow.simulate`). The engine's per-draw paths reach this module through one
  small adapter, :func:`market_paths`, as plain arrays (:class:`MarketPaths`); the line model
  itself, :func:`run_line`, is a pure function of arrays.

Inputs are read by :func:`read_bom` (YAML or CSV); every problem in a file is reported with
file, line and field, and nothing is computed on partial input. Built-in examples
(:func:`list_examples`, :meth:`Bom.example`) ship in ``oreflow/examples/bom``. Units and
equations are in ``docs/exposure.md``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import yaml
from numpy.typing import NDArray
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from oreflow.answer import Answer
from oreflow.errors import InputError, Problem, ValidationError, did_you_mean, unknown
from oreflow.rng import named_stream

if TYPE_CHECKING:
    from oreflow.chain import SupplyChain
    from oreflow.data.store import Store
    from oreflow.simulate.result import Result
    from oreflow.simulate.scenario import Scenario

__all__ = [
    "CSV_REQUIRED",
    "DEFAULT_QUALIFICATION",
    "MAGNET_TYPES",
    "Alternative",
    "Bom",
    "Citation",
    "ContentClaim",
    "Input",
    "LineResult",
    "MarketPaths",
    "Product",
    "Quantity",
    "Supplier",
    "check_bom",
    "csv_columns",
    "exposure",
    "impact",
    "list_examples",
    "market_paths",
    "parse_bom",
    "read_bom",
    "run_line",
]

FloatArray = NDArray[np.float64]

#: Magnet types a BOM may name (``kind: magnet``).
MAGNET_TYPES: tuple[str, ...] = ("NdFeB", "SmCo")
#: Tables a citation may point into, with the column holding the row key.
CITABLE_TABLES: dict[str, str] = {
    "intensity": "row_id",
    "lead_times": "lead_id",
    "projects": "project_id",
    "prices": "row_id",
    "recipes": "product | grade | element",
}
#: ``lead_times`` rows used when an input gives no qualification time (magnets, materials).
DEFAULT_QUALIFICATION: dict[str, str] = {
    "magnet": "ndfeb_supplier_qualification_auto",
    "material": "oem_material_qualification_forum",
}
#: Share at or above which one supplier, country or upstream node is a single point of failure.
SPOF_THRESHOLD = 0.5
#: Upstream shares below this are left out of the ``upstream`` table [-].
_UPSTREAM_MIN = 0.01
_SHARE_TOL = 1e-3
_EXAMPLES_PACKAGE = "oreflow.examples"
_STAGE_OF = {"NdFeB": "magnet", "SmCo": "magnet", "oxide": "separation", "metal": "metal"}


# ============================================================================================
# the BOM schema (pydantic, extra="forbid", frozen)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Citation(_Model):
    """Where a number comes from: a ``sources`` key, optionally the table row it was read from.

    At least one of ``source_id`` (a key of the embedded ``sources`` table) or ``url`` (an
    external reference that is not in the dataset; flagged as such in every output) is given.
    """

    source_id: str | None = None
    """Key of the ``sources`` table."""
    table: Literal["intensity", "lead_times", "projects", "prices", "recipes"] | None = None
    """Table the figure was read from."""
    key: str | None = None
    """Row key in ``table``: ``row_id`` (intensity, prices), ``lead_id`` (lead_times),
    ``project_id`` (projects) or ``product | grade | element`` (recipes)."""
    url: str | None = None
    """External reference not in the dataset."""
    note: str = ""
    """How the figure was derived from the source, if not read as is."""

    @model_validator(mode="after")
    def _need_reference(self) -> Citation:
        if self.source_id is None and self.url is None:
            raise ValueError("a citation needs a source_id (sources table) or a url")
        if self.key is not None and self.table is None:
            raise ValueError("a citation key needs its table")
        return self


class Quantity(_Model):
    """A number with its provenance: a point ``value``, a ``low``–``high`` range, or both.

    Written as a bare number (``1.5``) or as a mapping
    ``{value: 1.5, low: 1, high: 2, source: [...], assumption: false, note: "..."}``. A range
    is sampled uniformly in :func:`impact`; the point used without a scenario is ``value``, else
    the midpoint of the range. A figure that is not read from a source is flagged
    ``assumption: true`` and says why in ``note``.
    """

    value: float | None = None
    """Point value (unit as in the field name)."""
    low: float | None = None
    """Lower end of the range."""
    high: float | None = None
    """Upper end of the range."""
    source: tuple[Citation, ...] = ()
    """Citations (one mapping or a list)."""
    assumption: bool = False
    """True for a user or illustrative assumption rather than a sourced figure."""
    note: str = ""
    """Free text: derivation, caveats, why it is an assumption."""

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, v: Any) -> Any:
        if isinstance(v, bool):
            return v  # rejected below as not a mapping
        if isinstance(v, int | float | str) and not isinstance(v, bool):
            return {"value": v}
        if isinstance(v, dict) and isinstance(v.get("source"), dict):
            return {**v, "source": [v["source"]]}
        return v

    @model_validator(mode="after")
    def _check(self) -> Quantity:
        nums = [x for x in (self.value, self.low, self.high) if x is not None]
        if any(not math.isfinite(x) for x in nums):
            raise ValueError("numbers must be finite")
        if self.value is None and (self.low is None or self.high is None):
            raise ValueError("give a value, or both low and high")
        if (self.low is None) != (self.high is None):
            raise ValueError("give both low and high, or neither")
        if self.low is not None and self.high is not None:
            if self.low > self.high:
                raise ValueError(f"low ({self.low:g}) is above high ({self.high:g})")
            if self.value is not None and not self.low <= self.value <= self.high:
                raise ValueError(f"value {self.value:g} lies outside [{self.low:g}, {self.high:g}]")
        return self

    @property
    def point(self) -> float:
        """The value, else the midpoint of the range."""
        if self.value is not None:
            return float(self.value)
        assert self.low is not None and self.high is not None
        return 0.5 * (float(self.low) + float(self.high))

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high), both equal to the value when no range is given."""
        if self.low is not None and self.high is not None:
            return float(self.low), float(self.high)
        return self.point, self.point

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        """``n`` draws: uniform over the range, or the value repeated."""
        lo, hi = self.bounds
        if hi > lo:
            return np.asarray(rng.uniform(lo, hi, size=n), dtype=np.float64)
        return np.full(n, lo, dtype=np.float64)

    def text(self, digits: int = 3) -> str:
        """Short display: ``1.5``, ``1–2`` or ``1.5 (1–2)``."""
        fmt = f"{{:.{digits}g}}"
        if self.low is None or self.high is None:
            return fmt.format(self.point)
        rng_txt = f"{fmt.format(self.low)}–{fmt.format(self.high)}"
        return rng_txt if self.value is None else f"{fmt.format(self.value)} ({rng_txt})"


def _check_sign(q: Quantity | None, *, strict: bool) -> Quantity | None:
    if q is None:
        return q
    for x in (q.value, q.low, q.high):
        if x is None:
            continue
        if strict and not x > 0:
            raise ValueError(f"must be positive (got {x:g})")
        if not strict and x < 0:
            raise ValueError(f"must not be negative (got {x:g})")
    return q


class Supplier(_Model):
    """A current supplier of one input."""

    country: str
    """ISO 3166 alpha-3 code of the plant that ships the input."""
    share: float = Field(gt=0, le=1)
    """Share of the input bought from this supplier [-]; shares of an input sum to 1."""
    name: str = ""
    """Supplier name (free text)."""
    note: str = ""
    """Free text."""


class Alternative(_Model):
    """A supplier you could qualify: its capacity offered to you and its qualification time."""

    country: str
    """ISO3 code of the alternative plant."""
    name: str = ""
    """Name (free text)."""
    capacity_kg_per_month: Quantity | None = None
    """Volume it could ship to you once qualified [kg/month]; unknown if not given (then it
    adds no supply in :func:`impact`)."""
    qualification_months: Quantity | None = None
    """Qualification time of this supplier [months]; default the input's."""
    price_premium: float = Field(default=0.0, ge=0)
    """Price premium over your current price [-] (0.2 = 20 % dearer)."""
    project_id: str | None = None
    """Key in the ``projects`` table, if it is a listed project."""
    note: str = ""
    """Free text."""

    @field_validator("capacity_kg_per_month", "qualification_months")
    @classmethod
    def _nonneg(cls, v: Quantity | None) -> Quantity | None:
        return _check_sign(v, strict=False)


class Input(_Model):
    """One rare-earth input of a product: a magnet or a rare-earth material."""

    id: str = Field(min_length=1)
    """Identifier, unique within the product."""
    kind: Literal["magnet", "material"]
    """``magnet`` (type NdFeB or SmCo) or ``material`` (a rare-earth element)."""
    type: str
    """``NdFeB`` or ``SmCo`` for magnets; an element symbol (``Dy``, ``Tb``, ``Nd`` …) for
    materials."""
    form: Literal["oxide", "metal"] = "oxide"
    """Form of a material input (the mass is of the oxide or of the metal)."""
    name: str = ""
    """Display name."""
    mass_kg_per_unit: Quantity
    """Mass of the input in one unit of product [kg/unit] (magnet or material as bought)."""
    grade: str | None = None
    """NdFeB grade from the ``recipes`` table (e.g. ``typical``); default ``typical``."""
    content: dict[str, Quantity] | None = None
    """Rare-earth content by element [kg element (metal) / kg magnet]; overrides the grade's
    value for the elements it names. Required for SmCo (the data have no SmCo recipe)."""
    suppliers: tuple[Supplier, ...] = Field(min_length=1)
    """Current suppliers; shares sum to 1."""
    inventory_months: Quantity
    """Stock on hand (yours plus in transit) [months of use at full production]."""
    qualification_months: Quantity | None = None
    """Time to qualify a new supplier [months]; default from ``lead_times``
    (:data:`DEFAULT_QUALIFICATION`)."""
    delivery_months: Quantity = Field(default_factory=lambda: Quantity(value=0.0))
    """Time from a supplier's approval to its first delivery [months]."""
    price_sensitivity: float = Field(default=1.0, ge=0)
    """Share of a market price change that reaches the price you pay [-] (1 = spot-indexed,
    0 = fixed-price contract over the horizon)."""
    price_usd_per_kg: Quantity | None = None
    """Price you pay now [USD/kg]; default the engine's base price of the material."""
    alternatives: tuple[Alternative, ...] = ()
    """Suppliers you could qualify."""
    note: str = ""
    """Free text."""

    @field_validator("mass_kg_per_unit", "price_usd_per_kg")
    @classmethod
    def _positive(cls, v: Quantity | None) -> Quantity | None:
        return _check_sign(v, strict=True)

    @field_validator("inventory_months", "qualification_months", "delivery_months")
    @classmethod
    def _nonneg(cls, v: Quantity | None) -> Quantity | None:
        return _check_sign(v, strict=False)

    @field_validator("content")
    @classmethod
    def _fractions(cls, v: dict[str, Quantity] | None) -> dict[str, Quantity] | None:
        if v is None:
            return v
        for q in v.values():
            _check_sign(q, strict=False)
            if q.bounds[1] > 1:
                raise ValueError("element content is a mass fraction: at most 1 kg/kg")
        if sum(q.point for q in v.values()) > 1 + 1e-9:
            raise ValueError("element contents sum to more than 1 kg/kg")
        return v


class ContentClaim(_Model):
    """A published figure of a product's rare-earth content, shown for context only.

    Sources often disagree (the F-35: 417 kg "rare earth materials" in a DoD figure quoted by
    CRS against 11–20 kg of elemental rare earths estimated by Adamas); every claim is listed,
    none is picked. Claims are not used in the calculations, which rest on the inputs.
    """

    material: str
    """What the source counts, in its words (``rare earth materials``, ``elemental REE``)."""
    kg_per_unit: Quantity
    """The figure [kg per unit of product], with its source."""
    basis: str = ""
    """How the source arrived at it."""


class Product(_Model):
    """A product line."""

    id: str = Field(min_length=1)
    """Identifier, unique within the BOM."""
    name: str = ""
    """Display name."""
    plant_country: str
    """ISO3 code of the plant that builds it (its market segment in :func:`impact`)."""
    units_per_year: Quantity
    """Planned output [units/yr]."""
    unit_value_usd: Quantity | None = None
    """Value (price) of one unit [USD]; enables revenue at risk and the value-based
    de-minimis test."""
    inputs: tuple[Input, ...] = Field(min_length=1)
    """Rare-earth inputs."""
    reported_content: tuple[ContentClaim, ...] = ()
    """Published rare-earth content figures, for context."""
    note: str = ""
    """Free text."""

    @field_validator("units_per_year", "unit_value_usd")
    @classmethod
    def _positive(cls, v: Quantity | None) -> Quantity | None:
        return _check_sign(v, strict=True)


class Bom(_Model):
    """A bill of materials: the product lines whose rare-earth exposure is assessed.

    Examples
    --------
    >>> bom = Bom.example("ev-motor")
    >>> bom.products[0].inputs[0].type
    'NdFeB'
    """

    oreflow_bom: Literal[1] = 1
    """Schema version."""
    name: str = Field(min_length=1)
    """Name of the BOM."""
    description: str = ""
    """Free text."""
    controller: str = "CHN"
    """Country (ISO3) or bloc whose control is measured (the restricting country)."""
    year: int = Field(default=2024, ge=1990, le=2100)
    """Data year of the supply chain used for tracing."""
    deminimis_threshold: float = Field(default=0.001, gt=0, le=1)
    """Controlled-origin content at which a de-minimis rule reaches a product [-] (0.1 %)."""
    products: tuple[Product, ...] = Field(min_length=1)
    """Product lines."""
    notes: tuple[str, ...] = ()
    """Free text shown with the results."""

    _origin: str = PrivateAttr(default="")

    @property
    def origin(self) -> str:
        """File (or ``example:<name>``) the BOM was read from."""
        return self._origin

    @classmethod
    def example(cls, name: str, *, store: Store | None = None) -> Bom:
        """A built-in example BOM (see :func:`list_examples`).

        Parameters
        ----------
        name : str
            Example name, e.g. ``"drone"``.
        store : oreflow.data.Store, optional
            Store used to validate names and citations (default the embedded data).
        """
        names = list_examples()
        if name not in names:
            raise unknown("example BOM", name, names)
        res = resources.files(_EXAMPLES_PACKAGE).joinpath("bom", f"{name}.yaml")
        text = res.read_text(encoding="utf-8")
        return parse_bom(text, fmt="yaml", label=f"example:{name}", store=store)

    def hash(self) -> str:
        """SHA-256 of the canonical JSON of the BOM (identifies results)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def list_examples() -> list[str]:
    """Names of the built-in example BOMs.

    Examples
    --------
    >>> list_examples()
    ['drone', 'ev-motor', 'fighter', 'wind-turbine']
    """
    root = resources.files(_EXAMPLES_PACKAGE).joinpath("bom")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


# ============================================================================================
# reading: YAML (line numbers from the node tree) and CSV (one row per supplier)

Path_ = tuple[str | int, ...]


@dataclass
class _Locator:
    """Maps a field path to (line, field label) for problem reports."""

    label: str
    lines: dict[Path_, int]
    columns: dict[Path_, str] = field(default_factory=dict)

    def problem(self, path: Sequence[str | int], rule: str) -> Problem:
        p: Path_ = tuple(path)
        line = 1
        for n in range(len(p), -1, -1):
            if p[:n] in self.lines:
                line = self.lines[p[:n]]
                break
        if not self.columns:
            return Problem(self.label, line, _dotted(p) or None, rule)
        col = self.columns.get(p)
        if col is None and p and isinstance(p[-1], str):
            col = _csv_column(p)
        if col is None:
            for n in range(len(p), 0, -1):
                if p[:n] in self.columns:
                    col = self.columns[p[:n]]
                    break
        return Problem(self.label, line, col, rule)


def _csv_column(path: Path_) -> str | None:
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


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _yaml_lines(node: yaml.Node) -> dict[Path_, int]:
    out: dict[Path_, int] = {(): node.start_mark.line + 1}

    def walk(n: yaml.Node, path: Path_) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                p = (*path, str(k.value))
                out[p] = k.start_mark.line + 1
                walk(v, p)
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                p = (*path, i)
                out[p] = v.start_mark.line + 1
                walk(v, p)

    walk(node, ())
    return out


def _parse_yaml(text: str, label: str) -> tuple[Any, _Locator]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValidationError([Problem(label, line, None, f"not valid YAML: {what}")]) from None
    if node is None or not isinstance(data, dict):
        raise ValidationError([Problem(label, 1, None, "a BOM is a YAML mapping with "
                                                       "'name' and 'products'")])
    return data, _Locator(label, _yaml_lines(node))


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


def _parse_csv(text: str, label: str) -> tuple[dict[str, Any], _Locator, list[Problem]]:
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
    lines: dict[Path_, int] = {(): 1}
    columns: dict[Path_, str] = {}
    data: dict[str, Any] = {}
    products: dict[str, dict[str, Any]] = {}
    first_line: dict[tuple[Any, ...], int] = {}
    n_rows = 0
    for row in reader:
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        n_rows += 1
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

        def put(target: dict[str, Any], key: str, value: Any, path: Path_, col: str,
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
            products[pid] = {"id": pid, "inputs": {}}
            idx = len(products) - 1
            lines[("products", idx)] = line
            lines[("products", idx, "id")] = line
            columns[("products", idx, "id")] = "product"
        p_idx = list(products).index(pid)
        prod = products[pid]
        ppath: Path_ = ("products", p_idx)
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
            inputs[iid] = {"id": iid, "suppliers": []}
            ii = len(inputs) - 1
            lines[(*ppath, "inputs", ii)] = line
            lines[(*ppath, "inputs", ii, "id")] = line
            columns[(*ppath, "inputs", ii, "id")] = "input"
        i_idx = list(inputs).index(iid)
        inp = inputs[iid]
        ipath: Path_ = (*ppath, "inputs", i_idx)
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
        spath: Path_ = (*ipath, "suppliers", s_idx)
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
    return data, _Locator(label, lines, columns), problems


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_show(x)}" for k, x in v.items())
    return str(v)


def _pydantic_problems(exc: PydanticValidationError, loc: _Locator) -> list[Problem]:
    out = []
    errors = exc.errors()
    locs = [tuple(e["loc"]) for e in errors]
    for err in errors:
        here = tuple(err["loc"])
        if err["type"] == "too_short" and any(len(o) > len(here) and o[:len(here)] == here
                                              for o in locs):
            continue  # a list "too short" only because its items failed
        path = [p for p in err["loc"] if isinstance(p, str | int)]
        # drop pydantic's internal markers ("function-after[...]" etc.)
        path = [p for p in path if not (isinstance(p, str) and "[" in p and "]" in p)]
        kind = err["type"]
        if kind == "missing":
            rule = "required field is missing"
        elif kind == "extra_forbidden":
            rule = "unknown field"
        else:
            rule = str(err["msg"]).removeprefix("Value error, ")
        out.append(loc.problem(path, rule))
    return out


def read_bom(path: str | Path, *, store: Store | None = None) -> Bom:
    """Read and validate a BOM file (YAML, or CSV with one row per supplier).

    Parameters
    ----------
    path : str or pathlib.Path
        ``.yaml``/``.yml`` or ``.csv`` file; the schema is in ``docs/exposure.md``.
    store : oreflow.data.Store, optional
        Store whose ``countries``, ``materials``, ``recipes``, ``sources`` and cited tables
        names are checked against (default the embedded data plus user imports).

    Returns
    -------
    Bom

    Raises
    ------
    oreflow.errors.ValidationError
        With one :class:`~oreflow.errors.Problem` (file, line, field, rule) per problem:
        unknown materials, countries or sources, negative masses, shares not summing to one,
        missing fields or columns. Nothing is computed on partial input.
    oreflow.errors.InputError
        If the file does not exist or its format is not recognised.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix in (".yaml", ".yml"):
        fmt: Literal["yaml", "csv"] = "yaml"
    elif suffix == ".csv":
        fmt = "csv"
    else:
        raise InputError(f"{p}: a BOM is a .yaml, .yml or .csv file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError([Problem(str(p), None, None, "not UTF-8 text")]) from None
    return parse_bom(text, fmt=fmt, label=str(path), store=store)


def parse_bom(text: str, *, fmt: Literal["yaml", "csv"] = "yaml", label: str = "<bom>",
              store: Store | None = None) -> Bom:
    """Parse and validate BOM text (see :func:`read_bom`); ``label`` names it in problems."""
    if fmt == "yaml":
        data, loc = _parse_yaml(text, label)
        problems: list[Problem] = []
    else:
        data, loc, problems = _parse_csv(text, label)
    bom: Bom | None = None
    try:
        bom = Bom.model_validate(data)
    except PydanticValidationError as exc:
        problems += _pydantic_problems(exc, loc)
    problems += [loc.problem(path, rule) for path, rule in check_bom(data, store=store)]
    if problems or bom is None:
        raise ValidationError(_dedupe(problems))
    bom._origin = label
    return bom


def _dedupe(problems: list[Problem]) -> list[Problem]:
    """Drop repeats and "missing" reports of cells already reported as unreadable."""
    seen: set[tuple[int | None, str | None]] = set()
    out: list[Problem] = []
    for p in problems:
        if p.rule == "required field is missing" and (p.line, p.column) in seen:
            continue
        if p in out:
            continue
        seen.add((p.line, p.column))
        out.append(p)
    return out


# ============================================================================================
# semantic checks against the data


def _store(store: Store | None) -> Store:
    from oreflow.data.store import Store

    return store if store is not None else Store.default()


def _rare_earths() -> tuple[str, ...]:
    from oreflow.chain import RARE_EARTHS

    return RARE_EARTHS


def _quantities(obj: BaseModel, path: Path_ = ()) -> Iterable[tuple[Path_, Quantity]]:
    """Every Quantity in a model tree with its field path."""
    for name in type(obj).model_fields:
        val = getattr(obj, name)
        yield from _walk_value(val, (*path, name))


def _walk_value(val: Any, path: Path_) -> Iterable[tuple[Path_, Quantity]]:
    if isinstance(val, Quantity):
        yield path, val
    elif isinstance(val, BaseModel):
        yield from _quantities(val, path)
    elif isinstance(val, tuple | list):
        for i, v in enumerate(val):
            yield from _walk_value(v, (*path, i))
    elif isinstance(val, dict):
        for k, v in val.items():
            yield from _walk_value(v, (*path, str(k)))


def _citations(obj: BaseModel) -> Iterable[tuple[Path_, Citation]]:
    for path, q in _quantities(obj):
        for i, c in enumerate(q.source):
            yield (*path, "source", i), c


def _recipe_key(row: Mapping[str, Any]) -> str:
    return f"{row['product']} | {row['grade']} | {row['element']}"


def check_bom(bom: Bom | Mapping[str, Any], *,
              store: Store | None = None) -> list[tuple[Path_, str]]:
    """Check a BOM against the data; return (field path, rule) per problem.

    Works on a :class:`Bom` or on the raw mapping read from a file (then values of the wrong
    type are skipped: the schema reports them), so that schema and data problems are
    reported together. Checks: known controller, countries, materials, grades, projects and
    sources; cited table rows that exist and carry the cited source; element symbols in
    ``content``; SmCo content given; supplier shares summing to 1; unique ids.
    """
    data: Mapping[str, Any] = bom.model_dump() if isinstance(bom, Bom) else bom
    st = _store(store)
    out: list[tuple[Path_, str]] = []
    countries = st.table("countries")
    codes = set(countries["iso3"].astype(str)) - {"WLD"}
    blocs = set(st.table("blocs")["bloc"].astype(str)) if "blocs" in st.tables() else set()
    materials = set(st.table("materials")["material"].astype(str))
    rare = _rare_earths()
    recipes = st.table("recipes") if "recipes" in st.tables() else pd.DataFrame()
    project_ids: set[str] | None = None

    def country(path: Path_, code: Any) -> None:
        if isinstance(code, str) and code not in codes:
            out.append((path, f"unknown country code '{code}'" + did_you_mean(code, codes)))

    ctrl = data.get("controller", "CHN")
    if isinstance(ctrl, str) and ctrl not in codes and ctrl not in blocs:
        out.append((("controller",), f"unknown country or bloc '{ctrl}'"
                    + did_you_mean(ctrl, codes | blocs)))
    seen_p: set[str] = set()
    for pi, prod in _items(data.get("products")):
        pp: Path_ = ("products", pi)
        pid = prod.get("id")
        if isinstance(pid, str):
            if pid in seen_p:
                out.append(((*pp, "id"), f"product id '{pid}' appears more than once"))
            seen_p.add(pid)
        country((*pp, "plant_country"), prod.get("plant_country"))
        seen_i: set[str] = set()
        for ii, inp in _items(prod.get("inputs")):
            ip: Path_ = (*pp, "inputs", ii)
            iid = inp.get("id")
            if isinstance(iid, str):
                if iid in seen_i:
                    out.append(((*ip, "id"), f"input id '{iid}' appears more than once"))
                seen_i.add(iid)
            kind, typ, grade = inp.get("kind"), inp.get("type"), inp.get("grade")
            content = inp.get("content")
            content = content if isinstance(content, Mapping) else {}
            if kind == "magnet" and isinstance(typ, str):
                if typ not in MAGNET_TYPES:
                    hint = (did_you_mean(typ, MAGNET_TYPES)
                            or f" (known: {', '.join(MAGNET_TYPES)})")
                    out.append(((*ip, "type"), f"unknown magnet type '{typ}'{hint}"))
                elif typ == "SmCo" and not content:
                    out.append(((*ip, "content"), "the data have no SmCo recipe: give the "
                                "element content (e.g. {Sm: 0.25}) [kg/kg]"))
                if typ == "SmCo" and grade is not None:
                    out.append(((*ip, "grade"), "grades come from the NdFeB recipes; give "
                                "'content' for SmCo"))
                if typ == "NdFeB" and isinstance(grade, str) and not recipes.empty:
                    fam = _grade_families(recipes)
                    if grade not in fam:
                        out.append(((*ip, "grade"), f"unknown NdFeB grade '{grade}'"
                                    + (did_you_mean(grade, fam) or
                                       f" (known: {', '.join(sorted(fam))})")))
            elif kind == "material" and isinstance(typ, str):
                if typ not in rare:
                    if typ in materials:
                        rule = (f"'{typ}' is not a rare-earth element; material inputs are "
                                "element symbols (give a group such as NdPr as one input per "
                                "element)")
                    else:
                        rule = f"unknown material '{typ}'" + did_you_mean(typ, rare)
                    out.append(((*ip, "type"), rule))
                if content:
                    out.append(((*ip, "content"), "content applies to magnets; a material "
                                "input is one element"))
                if grade is not None:
                    out.append(((*ip, "grade"), "grade applies to NdFeB magnets"))
            for el in content:
                if str(el) not in rare:
                    out.append(((*ip, "content", str(el)), f"'{el}' is not a rare-earth "
                                "element" + did_you_mean(str(el), rare)))
            sups = list(_items(inp.get("suppliers")))
            raw = [s.get("share") for _, s in sups]
            shares = [float(x) for x in raw if isinstance(x, int | float)
                      and not isinstance(x, bool)]
            if sups and len(shares) == len(raw):
                total = sum(shares)
                if abs(total - 1.0) > _SHARE_TOL:
                    out.append(((*ip, "suppliers"), f"supplier shares sum to {total:.4g}, "
                                "not 1"))
            for si, sup in sups:
                country((*ip, "suppliers", si, "country"), sup.get("country"))
            for ai, alt in _items(inp.get("alternatives")):
                ap: Path_ = (*ip, "alternatives", ai)
                country((*ap, "country"), alt.get("country"))
                pj = alt.get("project_id")
                if isinstance(pj, str):
                    if project_ids is None:
                        project_ids = set(st.table("projects")["project_id"].astype(str))
                    if pj not in project_ids:
                        out.append(((*ap, "project_id"), f"unknown project '{pj}'"
                                    + did_you_mean(pj, project_ids)))
    out += _check_citations(data, st)
    return out


def _items(x: Any) -> Iterable[tuple[int, Mapping[str, Any]]]:
    """(index, mapping) for the mappings of a list; nothing for anything else."""
    if isinstance(x, list | tuple):
        for i, v in enumerate(x):
            if isinstance(v, Mapping):
                yield i, v


def _raw_citations(x: Any, path: Path_ = ()) -> Iterable[tuple[Path_, Mapping[str, Any]]]:
    """Every citation mapping (under a ``source`` key) in a raw BOM, with its path."""
    if isinstance(x, Mapping):
        for k, v in x.items():
            if k == "source":
                if isinstance(v, Mapping):
                    yield (*path, "source"), v
                else:
                    for i, c in _items(v):
                        yield (*path, "source", i), c
            else:
                yield from _raw_citations(v, (*path, str(k)))
    elif isinstance(x, list | tuple):
        for i, v in enumerate(x):
            yield from _raw_citations(v, (*path, i))


def _grade_families(recipes: pd.DataFrame) -> set[str]:
    nd = recipes[recipes["product"].astype(str).str.contains("NdFeB", case=False)]
    grades = nd["grade"].dropna().astype(str)
    return set(grades) | set(grades.str.replace(r"\s*\[[^\]]*\]$", "", regex=True))


def _check_citations(data: Mapping[str, Any], st: Store) -> list[tuple[Path_, str]]:
    out: list[tuple[Path_, str]] = []
    sources = set(st.table("sources")["source_id"].astype(str))
    keys: dict[str, dict[str, set[str]]] = {}
    for path, cite in _raw_citations(data):
        sid, table, key = cite.get("source_id"), cite.get("table"), cite.get("key")
        if isinstance(sid, str) and sid not in sources:
            out.append(((*path, "source_id"), f"unknown source '{sid}'"
                        + did_you_mean(sid, sources)))
        if not isinstance(table, str) or table not in CITABLE_TABLES or not isinstance(key, str):
            continue
        if table not in keys:
            keys[table] = _row_sources(st, table)
        rows = keys[table]
        if key not in rows:
            out.append(((*path, "key"), f"no row '{key}' in table {table}"
                        + did_you_mean(key, rows)))
        elif isinstance(sid, str) and sid not in rows[key]:
            out.append(((*path, "source_id"), f"row '{key}' of {table} cites "
                        f"{', '.join(sorted(rows[key]))}, not '{sid}'"))
    return out


def _row_sources(st: Store, table: str) -> dict[str, set[str]]:
    """Row key → source ids (``source_id`` and ``other_source_ids``) of a citable table."""
    df = st.table(table)
    if table == "recipes":
        key = df.apply(_recipe_key, axis=1)
    else:
        key = df[CITABLE_TABLES[table]].astype(str)
    out: dict[str, set[str]] = {}
    other = df["other_source_ids"] if "other_source_ids" in df else pd.Series("", index=df.index)
    for k, s, o in zip(key, df["source_id"], other, strict=True):
        ids = {str(s)} if isinstance(s, str) else set()
        if isinstance(o, str):
            ids |= {x.strip() for x in o.split(";") if x.strip()}
        out.setdefault(str(k), set()).update(ids)
    return out


# ============================================================================================
# tracing through the supply chain


@dataclass
class _Trace:
    """Controller exposure of one input, per element and supplier."""

    elements: pd.Series  # kg element (metal) per kg input
    stage: str
    rows: list[dict[str, Any]]  # per supplier × element
    upstream: list[dict[str, Any]]
    kappa_by_element: dict[str, float]  # supplier-weighted control share
    mined_by_element: dict[str, float]
    processed_by_element: dict[str, float]

    @property
    def binding(self) -> str | None:
        """Element with the highest controller control share (the weakest link)."""
        if not self.kappa_by_element:
            return None
        return max(self.kappa_by_element, key=lambda e: self.kappa_by_element[e])

    @property
    def kappa(self) -> float:
        """Controller control share of the input [-] (its weakest-link element)."""
        b = self.binding
        return float(self.kappa_by_element[b]) if b is not None else 0.0


class _Tracer:
    """Builds and caches the chains and lookups a BOM needs."""

    def __init__(self, bom: Bom, store: Store) -> None:
        self.bom = bom
        self.store = store
        self._reo: SupplyChain | None = None
        self._el: dict[str, SupplyChain] = {}
        self._ctrl: dict[str, pd.DataFrame] = {}
        self._proc: dict[str, pd.DataFrame] = {}
        self.notes: list[str] = []

    @property
    def reo(self) -> SupplyChain:
        if self._reo is None:
            from oreflow.chain.analysis import build_chain

            self._reo = build_chain("REO", self.bom.year, store=self.store)
        return self._reo

    @property
    def members(self) -> frozenset[str]:
        return self.reo.members(self.bom.controller)

    def chain(self, element: str) -> SupplyChain:
        if element not in self._el:
            self._el[element] = self.reo.for_element(element)
        return self._el[element]

    def control(self, element: str) -> pd.DataFrame:
        if element not in self._ctrl:
            self._ctrl[element] = self.chain(element).control_share(self.members)
        return self._ctrl[element]

    def processed(self, element: str) -> pd.DataFrame:
        if element not in self._proc:
            self._proc[element] = self.chain(element).origin_content(self.members, "separation")
        return self._proc[element]

    def column(self, chain: SupplyChain, stage: str, country: str) -> tuple[str, str]:
        """Chain node standing for a supplier in ``country`` at ``stage``, and why."""
        out = chain.output
        stages = list(chain.stages)
        prev = stages[stages.index(stage) - 1] if stages.index(stage) > 0 else stage
        if country in chain.countries:
            if _at(out, stage, country) > 0:
                return country, "producer in the data"
            if prev != stage and _at(out, prev, country) > 0:
                return country, (f"no {stage} output in the data: supplied from its own {prev} "
                                 "output (the chain's rule for a node without output)")
            return country, (f"no {stage} output in the data: buys on the world market (the "
                             "chain's import mix)")
        from oreflow.chain import RESIDUAL_CODES

        for c in chain.countries:
            if (c in self.members or c in RESIDUAL_CODES or _at(out, stage, str(c)) > 0
                    or _at(out, prev, str(c)) > 0):
                continue
            return str(c), (f"not in the data: buys on the world market (the chain's import "
                            f"mix, as for {c})")
        raise InputError(f"cannot place a {stage} plant in {country} in the chain")

    def kappa(self, tr: _Trace, country: str) -> float:
        """Control share of a plant in ``country`` for the input's weakest-link element.

        1 in the controller; otherwise the chain's value at the input's stage for that
        country's node (or its stand-in, :meth:`column`); 1 if it cannot be placed.
        """
        if country in self.members:
            return 1.0
        b = tr.binding
        if b is None:
            return 0.0
        try:
            col, _ = self.column(self.chain(b), tr.stage, country)
        except InputError:
            return 1.0
        return _at(self.control(b), tr.stage, col)

    def content(self, inp: Input) -> pd.Series:
        """Element content of an input [kg element (metal) / kg input]."""
        from oreflow.chain import oxide_factor, recipe_content

        if inp.kind == "material":
            per_kg = 1.0 / oxide_factor(inp.type) if inp.form == "oxide" else 1.0
            return pd.Series({inp.type: per_kg}, dtype=np.float64)
        base = pd.Series(dtype=np.float64)
        if inp.type == "NdFeB" and (inp.grade is not None or not inp.content):
            recipes = self.store.table("recipes")
            grade = inp.grade or "typical"
            family = recipes["grade"].fillna("").astype(str).str.replace(
                r"\s*\[[^\]]*\]$", "", regex=True)
            # the grade and its per-source variants ("typical [source_id]"), as documented in
            # docs/model.md; recipe_content on its own prefers an exact grade match
            rows = recipes[(family == grade) | (recipes["grade"] == grade)]
            base = recipe_content(rows if not rows.empty else recipes, "NdFeB",
                                  None if not rows.empty else grade)
        given = pd.Series({e: q.point for e, q in (inp.content or {}).items()}, dtype=np.float64)
        merged = given.combine_first(base) if not base.empty else given
        return merged[merged > 0].sort_index()

    def trace(self, inp: Input) -> _Trace:
        stage = _STAGE_OF[inp.type] if inp.kind == "magnet" else _STAGE_OF[inp.form]
        elements = self.content(inp)
        rows: list[dict[str, Any]] = []
        upstream: dict[tuple[str, str, str], float] = {}
        kappa: dict[str, float] = {}
        mined: dict[str, float] = {}
        processed: dict[str, float] = {}
        for el in elements.index:
            ch = self.chain(str(el))
            ctrl = self.control(str(el))
            proc = self.processed(str(el))
            k = m = p = 0.0
            for sup in inp.suppliers:
                col, basis = self.column(ch, stage, sup.country)
                own = sup.country in self.members
                mix = ch.origin_mix(stage, col)
                mined_x = float(mix.reindex(sorted(self.members)).fillna(0.0).sum())
                ctrl_x = 1.0 if own else _at(ctrl, stage, col)
                proc_x = 1.0 if own else _at(proc, stage, col) if stage != "mine" else 0.0
                rows.append({
                    "supplier": sup.name, "country": sup.country, "share": sup.share,
                    "element": str(el), "stage": stage, "node": col, "basis": basis,
                    "mined_in_controller": mined_x, "control_share": ctrl_x,
                    "processed_in_controller": proc_x,
                    "deminimis_reached": ctrl_x >= self.bom.deminimis_threshold - 1e-12,
                    "rule": ("direct: made in the controller" if own else
                             "de-minimis: controlled-origin content at or above the threshold"
                             if ctrl_x >= self.bom.deminimis_threshold - 1e-12 else
                             "not reached"),
                })
                k += sup.share * ctrl_x
                m += sup.share * mined_x
                p += sup.share * proc_x
                for st_name, vec in _upstream_shares(ch, stage, col).items():
                    for c, v in vec.items():
                        key = (str(el), st_name, str(c))
                        upstream[key] = upstream.get(key, 0.0) + sup.share * float(v)
            kappa[str(el)], mined[str(el)], processed[str(el)] = k, m, p
        # the supplier's own stage: by the BOM's supplier countries (not the proxy node)
        up_rows = []
        for (el, st_name, c), v in upstream.items():
            if st_name == stage:
                continue
            if v >= _UPSTREAM_MIN:
                up_rows.append({"element": el, "stage": st_name, "country": c, "share": v})
        by_country: dict[str, float] = {}
        for sup in inp.suppliers:
            by_country[sup.country] = by_country.get(sup.country, 0.0) + sup.share
        for el in elements.index:
            for c, v in by_country.items():
                up_rows.append({"element": str(el), "stage": stage, "country": c, "share": v})
        return _Trace(elements, stage, rows, up_rows, kappa, mined, processed)


def _upstream_shares(chain: SupplyChain, stage: str, country: str) -> dict[str, pd.Series]:
    """Share of a node's material that came through each country at each upstream stage.

    ``v_s = e_c``; ``v_{t-1} = S_t v_t`` with ``S_t`` the sourcing matrix into stage t.
    """
    stages = list(chain.stages)
    pos = stages.index(stage)
    countries = chain.countries
    v = np.zeros(len(countries))
    v[list(countries).index(country)] = 1.0
    out: dict[str, pd.Series] = {stage: pd.Series(v.copy(), index=countries)}
    for t in range(pos, 0, -1):
        s = chain.sourcing(stages[t]).to_numpy(dtype=np.float64)
        v = s @ v
        out[stages[t - 1]] = pd.Series(v.copy(), index=countries)
    return out


# ============================================================================================
# exposure (no scenario)


def _oxide_prices(st: Store, year: int) -> tuple[pd.Series, list[str]]:
    """Oxide price by element [USD/kg] (China FOB annual average, newest edition ≤ year)."""
    p = st.table("prices")
    sel = p[(p["period_type"] == "annual_avg") & (p["market"] == "china_fob")
            & (p["unit"] == "usd_per_kg")
            & p["product"].astype(str).str.contains("oxide|O3", case=False, regex=True)].copy()
    sel["year"] = pd.to_numeric(sel["date"], errors="coerce")
    sel = sel[sel["year"] <= year].dropna(subset=["year", "value"])
    sel = sel.sort_values(["year", "edition"])
    last = sel.groupby("material").tail(1).set_index("material")
    return last["value"].astype(float), sorted(set(last["source_id"].astype(str)))


def _alternatives(inp: Input, trace: _Trace, tracer: _Tracer) -> list[dict[str, Any]]:
    """Alternative producers and projects outside the controller for one input."""
    st = tracer.store
    members = tracer.members
    rows: list[dict[str, Any]] = []
    current = {s.country for s in inp.suppliers}
    binding = trace.binding

    def kappa_of(country: str) -> float:
        return tracer.kappa(trace, country) if binding is not None else float("nan")

    for alt in inp.alternatives:
        cap = alt.capacity_kg_per_month
        rows.append({
            "kind": "declared", "name": alt.name, "country": alt.country, "stage": trace.stage,
            "output_t_per_yr": np.nan, "capacity": cap.point * 12 / 1000 if cap else np.nan,
            "capacity_unit": "t_per_yr offered to you" if cap else "",
            "status": "declared in the BOM", "start_year": np.nan,
            "spare_capacity_t_per_yr": cap.point * 12 / 1000 if cap else np.nan,
            "spare_note": "as declared in the BOM" if cap else
            "unknown: no capacity declared (adds no supply in impact)",
            "controller_content": kappa_of(alt.country), "current_supplier":
            alt.country in current, "source_id": "",
        })
    # producers in stage_output
    so = st.table("stage_output", latest=True)
    if inp.kind == "magnet":
        mats = {"NdFeB": ("NdFeB", "NdFeB_sintered"), "SmCo": ("SmCo",)}[inp.type]
        stage = "magnet"
    else:
        mats, stage = ("REO",), trace.stage
    sel = so[(so["stage"] == stage) & so["material"].isin(mats) & (so["basis"] == "production")
             & (so["year"] <= tracer.bom.year)]
    from oreflow.chain import NON_NODE_CODES

    aggregates = set(st.table("countries").query("kind == 'aggregate'")["iso3"]) | NON_NODE_CODES
    sel = sel[~sel["iso3"].isin(aggregates | set(members))]
    if not sel.empty:
        sel = sel.sort_values("year").groupby("iso3").tail(1)
    for _, r in sel.iterrows():
        rows.append({
            "kind": "producer", "name": f"{r['iso3']} {stage} output ({r['material']})",
            "country": r["iso3"], "stage": stage,
            "output_t_per_yr": float(r["tonnes"]), "capacity": np.nan,
            "capacity_unit": str(r.get("unit", "")), "status": f"output {int(r['year'])}"
            + (" (estimate)" if bool(r.get("estimate", False)) else ""),
            "start_year": np.nan, "spare_capacity_t_per_yr": np.nan,
            "spare_note": "unknown: the data give output but no capacity",
            "controller_content": kappa_of(str(r["iso3"])),
            "current_supplier": r["iso3"] in current, "source_id": str(r["source_id"]),
        })
    # projects
    pj = st.table("projects")
    stage_txt = pj["stage"].fillna("").astype(str).str.lower()
    mat_txt = pj["materials"].fillna("").astype(str)
    if inp.kind == "magnet":
        word = "NdFeB|RE magnets|magnet" if inp.type == "NdFeB" else "SmCo"
        hit = stage_txt.str.contains("magnet") & mat_txt.str.contains(word, regex=True)
    else:
        el = inp.type
        groups = {"Nd": "NdPr|didymium", "Pr": "NdPr|didymium", "Dy": "heavy|HREE",
                  "Tb": "heavy|HREE", "Sm": "heavy|HREE|SEG"}.get(el, "")
        pat = rf"\b{el}\b" + (f"|{groups}" if groups else "")
        hit = (stage_txt.str.contains("separation|metal|refin|recycl", regex=True)
               & mat_txt.str.contains(pat, regex=True))
    for _, r in pj[hit & ~pj["iso3"].isin(members)].iterrows():
        start = _num(r.get("start_year"))
        future = bool(np.isfinite(start) and start > tracer.bom.year)
        capacity = _num(r.get("capacity"))
        note = ("not yet producing (announced start "
                f"{int(start)})" if future else
                "unknown: nameplate capacity only; output and contracted volumes not in the data"
                if np.isfinite(capacity) else "unknown: no capacity figure in the data")
        rows.append({
            "kind": "project", "name": str(r["name"]), "country": _text(r["iso3"]),
            "stage": _text(r["stage"]), "output_t_per_yr": np.nan,
            "capacity": capacity,
            "capacity_unit": _text(r.get("capacity_unit")),
            "status": _text(r.get("status")),
            "start_year": start,
            "spare_capacity_t_per_yr": np.nan, "spare_note": note,
            "controller_content": kappa_of(str(r["iso3"])) if isinstance(r["iso3"], str)
            else np.nan,
            "current_supplier": r["iso3"] in current, "source_id": str(r["source_id"]),
        })
    return rows


def _at(frame: pd.DataFrame, row: str, col: str) -> float:
    """One value of a stages × countries frame as a float."""
    return float(frame[col].to_numpy(dtype=np.float64)[list(frame.index).index(row)])


def _num(x: Any) -> float:
    """A table cell as a float; missing or non-numeric values as NaN."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def _text(x: Any) -> str:
    """A table cell as text; missing values as ""."""
    return x if isinstance(x, str) else "" if x is None or pd.isna(x) else str(x)


def _qualification(inp: Input, st: Store) -> tuple[Quantity, str]:
    """Qualification time of an input and where it comes from."""
    if inp.qualification_months is not None:
        src = ("BOM" if not inp.qualification_months.source else
               ", ".join(c.source_id or c.url or "" for c in inp.qualification_months.source))
        return inp.qualification_months, src
    lead_id = DEFAULT_QUALIFICATION[inp.kind]
    lt = st.table("lead_times").set_index("lead_id")
    row = lt.loc[lead_id]
    factor = 12.0 if str(row["unit"]) == "years" else 1.0
    lo = float(row["value_low"]) * factor
    hi = float(row["value_high"]) * factor
    q = Quantity(low=lo, high=hi, source=(Citation(source_id=str(row["source_id"]),
                                                   table="lead_times", key=lead_id),))
    return q, f"default: lead_times {lead_id} ({row['source_id']})"


def exposure(bom: Bom, *, store: Store | None = None) -> Answer:
    """Exposure of a BOM without a scenario: controller content, de-minimis reach, single
    points of failure, alternatives.

    Parameters
    ----------
    bom : Bom
        The bill of materials (:func:`read_bom`, :meth:`Bom.example`).
    store : oreflow.data.Store, optional
        Data store (default the embedded data plus user imports).

    Returns
    -------
    oreflow.answer.Answer
        Tables:

        - ``products``: per product, units per year, unit value, rare-earth content
          [kg element/unit], the controller-origin value share of the rare-earth content
          [-] and whether a value-based de-minimis rule reaches it (needs a unit value);
        - ``inputs``: per input, annual need [kg/yr], element content, suppliers, the share
          bought in the controller (under its export control directly), the controller
          **control share** (share of the input's material that passed through the
          controller at any stage, for the weakest-link element) and the share mined and
          processed there [-], de-minimis reach (``deminimis_share``: the share bought
          outside the controller whose controlled-origin content reaches the threshold),
          single points of failure, inventory and qualification time [months], alternatives;
        - ``tracing``: per input × supplier × element, the chain node used and its shares;
        - ``upstream``: per input × element × stage × country, the share of the input's
          material that came through that country at that stage [-];
        - ``single_points``: suppliers, countries and upstream nodes holding at least half
          of an input;
        - ``alternatives``: producers and projects outside the controller, with output,
          capacity and spare capacity [t/yr] where known (NaN and a note otherwise);
        - ``content_claims``: published rare-earth content figures per product, all of them;
        - ``citations``: every number of the BOM with its source or assumption flag.

    Notes
    -----
    The control share is that of :meth:`oreflow.chain.SupplyChain.control_share` at the
    supplier's node: the magnet stage for NdFeB and SmCo (the chain has no SmCo stage: a SmCo
    maker is traced as a magnet plant buying metal, Sm-weighted), the metal stage for metal
    inputs, the separation stage for oxides. A supplier located in the controller counts 1. A
    supplier country with no node in the data buys on the world market (the chain's import
    mix); a node without output at its stage follows the chain's marginal rule (own upstream
    output if any, else the import mix).
    Tracing counts REO mass, a de-minimis rule counts value (see ``docs/model.md``).

    Examples
    --------
    >>> ans = exposure(Bom.example("ev-motor"))
    >>> sorted(ans.tables)[:3]
    ['alternatives', 'citations', 'content_claims']
    """
    st = _store(store)
    tracer = _Tracer(bom, st)
    prices, price_sources = _oxide_prices(st, bom.year)
    from oreflow.chain import RESIDUAL_CODES, oxide_factor

    residual = RESIDUAL_CODES  # "rest of world" residuals are not single countries

    prod_rows, inp_rows, trace_rows, up_rows, spof_rows, alt_rows = [], [], [], [], [], []
    claim_rows: list[dict[str, Any]] = []
    sources: set[str] = set()
    notes: list[str] = []
    defaults_used: list[str] = []
    missing_price: set[str] = set()
    for prod in bom.products:
        units = prod.units_per_year.point
        re_kg = 0.0
        ctrl_value = 0.0
        for inp in prod.inputs:
            tr = tracer.trace(inp)
            mass = inp.mass_kg_per_unit.point
            for el, w in tr.elements.items():
                re_kg += mass * float(w)
                price = prices.get(str(el))
                if price is None or not np.isfinite(price):
                    missing_price.add(str(el))
                    continue
                ctrl_value += (mass * float(w) * oxide_factor(str(el)) * float(price)
                               * tr.kappa_by_element[str(el)])
            qual, qual_src = _qualification(inp, st)
            if inp.qualification_months is None:
                defaults_used.append(f"{prod.id}/{inp.id}: qualification {qual.text()} months "
                                     f"({qual_src})")
            if inp.kind == "magnet" and inp.type == "NdFeB" and inp.grade is None \
                    and not inp.content:
                defaults_used.append(f"{prod.id}/{inp.id}: NdFeB grade 'typical' (recipes)")
            ctrl_direct = sum(s.share for s in inp.suppliers if s.country in tracer.members)
            # single points of failure
            spof: list[str] = []
            for s in inp.suppliers:
                if s.share >= SPOF_THRESHOLD - 1e-12 and s.name:
                    spof_rows.append({"product": prod.id, "input": inp.id, "level": "supplier",
                                      "element": "", "stage": tr.stage, "who": s.name,
                                      "country": s.country, "share": s.share})
                    spof.append(f"supplier {s.name} {s.share:.0%}")
            for r in tr.upstream:
                if r["share"] >= SPOF_THRESHOLD - 1e-12 and r["country"] not in residual:
                    level = "country" if r["stage"] == tr.stage else "upstream"
                    spof_rows.append({"product": prod.id, "input": inp.id, "level": level,
                                      "element": r["element"], "stage": r["stage"], "who": "",
                                      "country": r["country"], "share": r["share"]})
                    if r["element"] == tr.binding:
                        spof.append(f"{r['country']} at {r['stage']} {r['share']:.0%}")
            alts = _alternatives(inp, tr, tracer)
            if not alts:
                notes.append(f"{prod.id}/{inp.id}: the data list no {inp.type} producer or "
                             f"project outside {bom.controller}")
            for a in alts:
                alt_rows.append({"product": prod.id, "input": inp.id, **a})
                if a["source_id"]:
                    sources.add(a["source_id"])
            binding = tr.binding
            inp_rows.append({
                "product": prod.id, "input": inp.id, "kind": inp.kind, "type": inp.type,
                "grade": inp.grade or ("typical (default)" if inp.type == "NdFeB"
                                       and not inp.content else ""),
                "mass_kg_per_unit": mass, "mass_text": inp.mass_kg_per_unit.text(),
                "annual_need_kg": mass * units,
                "content": ", ".join(f"{e} {w:.3g}" for e, w in tr.elements.items()),
                "suppliers": "; ".join(f"{s.country} {s.share:.0%}" for s in inp.suppliers),
                "trace_stage": tr.stage,
                "controller_supplier_share": ctrl_direct,
                "binding_element": binding or "",
                "control_share": tr.kappa,
                "mined_in_controller": tr.mined_by_element.get(binding or "", np.nan),
                "processed_in_controller": tr.processed_by_element.get(binding or "", np.nan),
                "deminimis_reached": tr.kappa >= bom.deminimis_threshold - 1e-12,
                "deminimis_share": _deminimis_share(tr, tracer.members,
                                                    bom.deminimis_threshold),
                "single_points": "; ".join(dict.fromkeys(spof)),
                "inventory_months": inp.inventory_months.point,
                "qualification_months": qual.text(),
                "alternatives_listed": len(alts),
                "alternatives_spare_known": int(sum(np.isfinite(a["spare_capacity_t_per_yr"])
                                                    for a in alts)),
            })
            for r in tr.rows:
                trace_rows.append({"product": prod.id, "input": inp.id, **r})
            for r in tr.upstream:
                up_rows.append({"product": prod.id, "input": inp.id, **r})
        value = prod.unit_value_usd.point if prod.unit_value_usd else None
        share = ctrl_value / value if value else np.nan
        prod_rows.append({
            "product": prod.id, "name": prod.name, "plant_country": prod.plant_country,
            "units_per_year": units, "units_text": prod.units_per_year.text(),
            "units_assumption": prod.units_per_year.assumption,
            "unit_value_usd": value if value else np.nan,
            "inputs": len(prod.inputs), "re_content_kg_per_unit": re_kg,
            "controller_re_value_usd_per_unit": ctrl_value,
            "controller_value_share": share,
            "deminimis_value_reached": (bool(share >= bom.deminimis_threshold - 1e-12)
                                        if value else None),
        })
        for c in prod.reported_content:
            q = c.kg_per_unit
            flags = _claim_flags(st, q)
            claim_rows.append({
                "product": prod.id, "material": c.material, "value": q.value,
                "low": q.low, "high": q.high, "unit": "kg_per_unit", "basis": c.basis,
                "source_ids": ", ".join(x.source_id or x.url or "" for x in q.source),
                "rows": ", ".join(f"{x.table}:{x.key}" for x in q.source if x.key),
                "flags": flags, "note": q.note,
            })
    citations = _citation_table(bom)
    sources |= {s for s in citations["source_id"] if s}
    sources |= {s for ids in _chain_sources(tracer).values() for s in ids}
    sources |= set(price_sources)
    assumed = citations[citations["assumption"]]
    if not assumed.empty:
        notes.append(f"{len(assumed)} figure(s) are assumptions, not data: "
                     + "; ".join(f"{f}" for f in assumed["field"]))
    notes += [f"default used — {d}" for d in defaults_used]
    notes[:0] = list(bom.notes)
    for prod in bom.products:
        claims = prod.reported_content
        if len(claims) > 1:
            shown = "; ".join(f"{c.kg_per_unit.text()} kg {c.material} ("
                              + ", ".join(x.source_id or x.url or "" for x in c.kg_per_unit.source)
                              + ")" for c in claims)
            notes.append(f"{prod.id}: published rare-earth content figures disagree — {shown}; "
                         "all are in table content_claims, none is used in the calculation")
        elif claims:
            notes.append(f"{prod.id}: a published rare-earth content figure is shown in table "
                         "content_claims for context; it is not used in the calculation")
    notes.append("control share counts REO mass through the chain; de-minimis rules count "
                 "value (the value share in table products uses rare-earth oxide prices, a "
                 "lower bound when whole magnets count as controlled items)")
    notes.append("spare capacity is unknown where the data give output or nameplate capacity "
                 "but not both; it is never estimated")
    if missing_price:
        notes.append("no oxide price for " + ", ".join(sorted(missing_price))
                     + ": left out of the value share")
    notes += tracer.notes
    tables = {
        "products": pd.DataFrame(prod_rows),
        "inputs": pd.DataFrame(inp_rows),
        "tracing": pd.DataFrame(trace_rows),
        "upstream": pd.DataFrame(up_rows),
        "single_points": pd.DataFrame(spof_rows, columns=["product", "input", "level",
                                                          "element", "stage", "who",
                                                          "country", "share"]),
        "alternatives": pd.DataFrame(alt_rows, columns=[
            "product", "input", "kind", "name", "country", "stage", "output_t_per_yr",
            "capacity", "capacity_unit", "status", "start_year", "spare_capacity_t_per_yr",
            "spare_note", "controller_content", "current_supplier", "source_id"]),
        "content_claims": pd.DataFrame(claim_rows, columns=[
            "product", "material", "value", "low", "high", "unit", "basis", "source_ids",
            "rows", "flags", "note"]),
        "citations": citations,
    }
    meta = {"bom": bom.name, "bom_origin": bom.origin, "bom_hash": bom.hash(),
            "controller": bom.controller, "year": bom.year,
            "deminimis_threshold": bom.deminimis_threshold,
            "dataset_version": st.version,
            "sources_by_part": {"bom": sorted({s for s in citations["source_id"] if s}),
                                "chain": sorted({s for ids in _chain_sources(tracer).values()
                                                 for s in ids}),
                                "prices": price_sources}}
    return Answer(tables, sorted(sources), notes, meta)


def _deminimis_share(tr: _Trace, members: frozenset[str], threshold: float) -> float:
    """Share of an input bought outside the controller that a de-minimis rule reaches [-].

    A supplier is reached when any of the input's elements has controlled-origin content at
    or above the threshold at its node.
    """
    reached: dict[tuple[str, str, float], bool] = {}
    for r in tr.rows:
        if r["country"] in members:
            continue
        key = (str(r["supplier"]), str(r["country"]), float(r["share"]))
        reached[key] = reached.get(key, False) or bool(r["deminimis_reached"])
    return float(sum(k[2] for k, hit in reached.items() if hit))


def _chain_sources(tracer: _Tracer) -> dict[str, list[str]]:
    from oreflow.chain.analysis import chain_sources

    if tracer._reo is None:
        return {}
    out = chain_sources(tracer.reo)
    if tracer._el:
        out.setdefault("composition", [])
        comp = tracer.reo.meta.get("sources", {}).get("composition", [])
        out["composition"] = sorted(set(out["composition"]) | set(comp))
    return out


def _claim_flags(st: Store, q: Quantity) -> str:
    flags: list[str] = []
    for c in q.source:
        if c.table == "intensity" and c.key:
            df = st.table("intensity").set_index("row_id")
            if c.key in df.index and isinstance(df.at[c.key, "flag"], str):
                flags.append(str(df.at[c.key, "flag"]))
    return "; ".join(dict.fromkeys(flags))


def _citation_table(bom: Bom) -> pd.DataFrame:
    rows = []
    for path, q in _quantities(bom):
        if not q.source and not q.assumption and not q.note:
            continue
        base = {"field": _dotted(path), "value": q.text(), "assumption": q.assumption,
                "note": " ".join(q.note.split())}
        if not q.source:
            rows.append({**base, "source_id": "", "table": "", "key": "", "url": ""})
        for c in q.source:
            rows.append({**base, "source_id": c.source_id or "", "table": c.table or "",
                         "key": c.key or "", "url": c.url or "",
                         "note": "; ".join(x for x in (" ".join(q.note.split()), c.note)
                                           if x)})
    return pd.DataFrame(rows, columns=["field", "value", "assumption", "source_id", "table",
                                       "key", "url", "note"])


# ============================================================================================
# impact under a scenario: the engine adapter and the line model


@dataclass(frozen=True)
class MarketPaths:
    """Per-draw monthly market paths seen by a buyer in one market segment.

    This is the whole interface between the disruption engine and the exposure model: plain
    arrays, so the line model can be tested with synthetic paths. :func:`market_paths` builds
    one from an engine :class:`~oreflow.simulate.result.Result`.

    Attributes
    ----------
    materials : tuple of str
        Material names (elements, ``NdFeB``, ``SmCo``), length M.
    price_multiple : numpy.ndarray, shape (D, T, M)
        Price in the buyer's segment relative to the base price [-].
    availability : numpy.ndarray, shape (D, T, M)
        Share of the buyer's baseline **controller-dependent** supply that is delivered in
        each step [-], in [0, 1]; supply without controller content is not cut.
    base_price_usd_per_kg : numpy.ndarray, shape (M,)
        Base price [USD/kg] (oxide for elements, product for magnets).
    dt_months : float
        Step length [months].
    onset_month : float
        Months from the start of the paths to the first shock (0 if the paths start there).
    start : str
        First month of the paths (``YYYY-MM``), or ``""`` if unknown.
    meta : mapping
        Provenance (scenario, seed, draws, region).
    """

    materials: tuple[str, ...]
    price_multiple: FloatArray
    availability: FloatArray
    base_price_usd_per_kg: FloatArray
    dt_months: float = 1.0
    onset_month: float = 0.0
    start: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pm = np.asarray(self.price_multiple, dtype=np.float64)
        av = np.asarray(self.availability, dtype=np.float64)
        bp = np.asarray(self.base_price_usd_per_kg, dtype=np.float64)
        m = len(self.materials)
        if pm.ndim != 3 or pm.shape[2] != m or av.shape != pm.shape:
            raise ValueError("price_multiple and availability must both have shape "
                             f"(draws, steps, {m})")
        if bp.shape != (m,):
            raise ValueError(f"base_price_usd_per_kg must have shape ({m},)")
        if not (np.all(np.isfinite(pm)) and np.all(pm > 0)):
            raise ValueError("price multiples must be finite and positive")
        if not (np.all(np.isfinite(av)) and np.all(av >= -1e-9) and np.all(av <= 1 + 1e-9)):
            raise ValueError("availability must lie in [0, 1]")
        if not self.dt_months > 0:
            raise ValueError("dt_months must be positive")
        object.__setattr__(self, "price_multiple", pm)
        object.__setattr__(self, "availability", np.clip(av, 0.0, 1.0))
        object.__setattr__(self, "base_price_usd_per_kg", bp)

    @property
    def draws(self) -> int:
        """Number of draws D."""
        return int(self.price_multiple.shape[0])

    @property
    def steps(self) -> int:
        """Number of steps T."""
        return int(self.price_multiple.shape[1])

    def index(self, material: str) -> int | None:
        """Array index of a material, or None."""
        return self.materials.index(material) if material in self.materials else None


def market_paths(result: Result, country: str) -> MarketPaths:
    """Adapter: the engine's per-draw paths as seen by a buyer in ``country``.

    Parameters
    ----------
    result : oreflow.simulate.result.Result
        Output of :func:`oreflow.simulate.simulate`.
    country : str
        ISO3 code of the buyer's plant; selects its market segment (controller, targets or
        rest of the world).

    Returns
    -------
    MarketPaths

    Notes
    -----
    With f(t) = consumption ÷ base-price demand in the buyer's segment (its fill rate) and
    κ̄ the segment's baseline controller dependence — (imports from the controller + own output
    with controller-origin content at or above the de-minimis threshold) ÷ consumption — the
    controller-dependent supply is delivered at a(t) = clip(1 − (1 − f(t)) / κ̄, 0, 1): the
    segment's shortfall falls on its controller-dependent supply. In the controller's own
    segment a(t) = f(t). The buyer is rationed like the average buyer of its segment.
    """
    b = result.plan.baseline
    r = b.region_of(country)
    arrays = result.arrays
    pm = np.asarray(result.price_multiple()[..., r], dtype=np.float64)
    des = np.asarray(arrays.desired[..., r], dtype=np.float64)
    cons = np.asarray(arrays.consumption[..., r], dtype=np.float64)
    fill = np.clip(np.divide(cons, des, out=np.ones_like(des), where=des > 0), 0.0, 1.0)
    if r == 0:
        avail = fill
        dep = np.ones(b.n_materials)
    else:
        cons0 = b.consumption()[:, r]
        cc = b.controller_content[:, r] if b.controller_content is not None else 0.0
        dep_num = b.imports_from_controller[:, r] + b.production[:, r] * cc
        dep = np.clip(np.divide(dep_num, cons0, out=np.ones_like(cons0), where=cons0 > 0),
                      0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            cut = np.where(dep[None, None, :] > 0, (1.0 - fill) / dep[None, None, :], 0.0)
        avail = np.clip(1.0 - cut, 0.0, 1.0)
    onset = float(result.plan.onset)
    start = result.scenario.start
    return MarketPaths(
        materials=tuple(b.materials), price_multiple=pm, availability=avail,
        base_price_usd_per_kg=np.asarray(result.plan.p0, dtype=np.float64),
        dt_months=float(result.plan.dt), onset_month=onset if math.isfinite(onset) else 0.0,
        start=f"{start.year:04d}-{start.month:02d}",
        meta={"scenario": result.scenario.name, "region": b.region_labels[r],
              "segment_dependence": dict(zip(b.materials, map(float, dep), strict=True)),
              **{k: result.provenance.get(k) for k in ("seed", "draws", "scenario_hash",
                                                       "dataset_version", "baseline_year")}},
    )


@dataclass(frozen=True)
class LineResult:
    """Per-draw output of :func:`run_line` (D draws, T steps, I inputs).

    Attributes
    ----------
    produced : numpy.ndarray, shape (D, T)
        Units made per step [units/step].
    delayed : numpy.ndarray, shape (D, T)
        Planned units not made per step [units/step].
    delivered : numpy.ndarray, shape (D, T, I)
        Input delivered per step, current suppliers and alternatives [kg/step].
    from_alternatives : numpy.ndarray, shape (D, T, I)
        Part of ``delivered`` from alternatives [kg/step].
    stockout : numpy.ndarray, shape (D,)
        Time of the first stock-out from the start of the paths [months]; ``inf`` if none
        within the horizon.
    input_stockout : numpy.ndarray, shape (D, I)
        Stock-out time of each input alone at planned production [months] (``inf``: none).
    """

    produced: FloatArray
    delayed: FloatArray
    delivered: FloatArray
    from_alternatives: FloatArray
    stockout: FloatArray
    input_stockout: FloatArray


def run_line(
    units_per_step: FloatArray,
    mass_kg_per_unit: FloatArray,
    stock_kg: FloatArray,
    supply_share: FloatArray,
    alt_kg_per_step: FloatArray | None = None,
    *,
    dt_months: float = 1.0,
) -> LineResult:
    """Monthly model of one product line: inventories, deliveries, output (pure, vectorised).

    Parameters
    ----------
    units_per_step : numpy.ndarray, shape (D,)
        Planned output per step [units/step].
    mass_kg_per_unit : numpy.ndarray, shape (D, I)
        Input per unit [kg/unit].
    stock_kg : numpy.ndarray, shape (D, I)
        Initial inventory [kg].
    supply_share : numpy.ndarray, shape (D, T, I)
        Share of the planned need delivered by the current suppliers in each step [-].
    alt_kg_per_step : numpy.ndarray, shape (D, T, I), optional
        What qualified alternatives can deliver in each step [kg/step] (0 before
        qualification).
    dt_months : float, default 1
        Step length [months].

    Returns
    -------
    LineResult

    Notes
    -----
    With need n_i = U m_i per step, deliveries d_i(t) = min(n_i, n_i σ_i(t) + A_i(t)), stock
    S_i and output P(t) = min(U, min_i (S_i + d_i)/m_i) (all inputs are needed, Leontief),
    S_i ← S_i + d_i − P m_i. The first stock-out is at t* + S_i(t*)/(n_i − d_i(t*)) steps for
    the first input with S_i + d_i < n_i; before it every input runs at plan, so the input
    stock-outs are independent and the product's is their minimum. More initial stock never
    brings a stock-out forward.

    Examples
    --------
    >>> import numpy as np
    >>> r = run_line(np.array([10.0]), np.array([[2.0]]), np.array([[60.0]]),
    ...              np.full((1, 8, 1), 0.5))
    >>> float(r.stockout[0]), r.delayed[0].round(1).tolist()
    (6.0, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0, 5.0])
    """
    u = np.asarray(units_per_step, dtype=np.float64)
    m = np.asarray(mass_kg_per_unit, dtype=np.float64)
    s = np.array(stock_kg, dtype=np.float64)
    sig = np.asarray(supply_share, dtype=np.float64)
    d_n, t_n, i_n = sig.shape
    alt = (np.zeros_like(sig) if alt_kg_per_step is None
           else np.asarray(alt_kg_per_step, dtype=np.float64))
    if u.shape != (d_n,) or m.shape != (d_n, i_n) or s.shape != (d_n, i_n) \
            or alt.shape != sig.shape:
        raise ValueError("inconsistent shapes")
    need = u[:, None] * m  # (D, I) kg/step
    produced = np.zeros((d_n, t_n))
    delivered = np.zeros((d_n, t_n, i_n))
    from_alt = np.zeros((d_n, t_n, i_n))
    stockout = np.full(d_n, np.inf)
    alone = np.full((d_n, i_n), np.inf)
    s_alone = s.copy()
    for t in range(t_n):  # loop over steps, never over draws
        base = need * np.clip(sig[:, t], 0.0, 1.0)
        d = np.minimum(need, base + np.maximum(alt[:, t], 0.0))
        delivered[:, t] = d
        from_alt[:, t] = d - base
        # each input alone at planned production
        gap = need - d
        short = (s_alone + d < need - 1e-9 * need) & ~np.isfinite(alone)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(gap > 0, s_alone / gap, 0.0)
        alone = np.where(short, (t + np.clip(frac, 0.0, 1.0)) * dt_months, alone)
        s_alone = np.maximum(s_alone + d - need, 0.0)
        # the coupled line
        avail = s + d
        with np.errstate(divide="ignore", invalid="ignore"):
            cap = np.where(m > 0, avail / np.where(m > 0, m, 1.0), np.inf).min(axis=1)
        p = np.minimum(u, cap)
        produced[:, t] = p
        s = np.maximum(avail - p[:, None] * m, 0.0)
    stockout = alone.min(axis=1) if i_n else stockout
    delayed = np.maximum(u[:, None] - produced, 0.0)
    return LineResult(produced, delayed, delivered, from_alt, stockout, alone)


def _q3(x: FloatArray) -> tuple[float, float, float]:
    q = np.quantile(np.asarray(x, dtype=np.float64), (0.1, 0.5, 0.9), method="inverted_cdf")
    return float(q[0]), float(q[1]), float(q[2])


def _add_months(start: str, months: float) -> str:
    if not start or not math.isfinite(months):
        return ""
    y, mo = (int(x) for x in start.split("-"))
    k = mo - 1 + math.floor(months)
    return f"{y + k // 12:04d}-{k % 12 + 1:02d}"


def impact(
    bom: Bom,
    scenario: Scenario | str | Path | Result | MarketPaths,
    *,
    draws: int = 500,
    seed: int | None = None,
    store: Store | None = None,
    horizon: int | None = None,
) -> Answer:
    """Impact of a disruption scenario on each product line, P10/P50/P90 over draws.

    Parameters
    ----------
    bom : Bom
        The bill of materials.
    scenario : Scenario, str, pathlib.Path, Result or MarketPaths
        A scenario (built-in name, YAML file or :class:`~oreflow.simulate.Scenario`) run by
        :func:`oreflow.simulate.simulate`; an engine result already computed; or synthetic
        :class:`MarketPaths` (then used for every product whatever its plant country).
    draws : int, default 500
        Monte Carlo draws of the engine (ignored for a Result or MarketPaths).
    seed : int, optional
        Seed of the engine run and of the BOM's uncertain quantities (ranges are sampled
        uniformly per draw); recorded in ``meta``. Default: the engine result's seed, else
        fresh entropy.
    store : oreflow.data.Store, optional
        Data store for tracing (the engine builds its own baseline from the embedded data).
    horizon : int, optional
        Override the scenario horizon [months].

    Returns
    -------
    oreflow.answer.Answer
        Tables (months counted from the onset of the first shock):

        - ``summary`` (one row per product): months to stock-out, units delayed over the
          horizon, cost increase [USD/unit] (mean over the months after onset) and
          [USD/yr] (annualised), revenue at risk [USD] (delayed units × unit value), earliest
          month an alternative could be qualified and deliver — each ``_p10/_p50/_p90``;
          the input that runs out first most often;
        - ``inputs`` (one row per input): exposed share (supplier-weighted control share),
          the segment's baseline controller dependence, lowest availability, peak price
          multiple, stock-out of the input alone, cost increase, qualification and first
          delivery from alternatives, P10/P50/P90;
        - ``monthly`` (product × step): units planned, units delayed and cost increase per
          unit, P10/P50/P90.

    Notes
    -----
    Each supplier s of input i delivers the share 1 − κ_s (1 − a_i(t)) of its baseline volume,
    with κ_s its controller control share (:func:`exposure`; 1 in the controller) and
    a_i(t) the engine's availability of controller-dependent supply of the input's material
    in the buyer's segment (:func:`market_paths`). Alternatives deliver their declared
    capacity (times the same factor for their own controller content) from the month their
    qualification and first delivery are done, counted from the onset. Inventory, output and
    stock-out follow :func:`run_line`. The price paid moves by
    ``price_sensitivity × max(p0 (multiple − 1), Σ_e w_e f_ox(e) p0_e (multiple_e − 1))``:
    the magnet market's price change, but at least the change in the cost of the magnet's
    own rare-earth content (so a grade with more Dy costs more when Dy prices rise); p0 is
    your price if given, else the engine's base price. Alternatives add their premium.

    Examples
    --------
    >>> import numpy as np
    >>> paths = MarketPaths(("NdFeB",), np.full((20, 12, 1), 1.5), np.full((20, 12, 1), 0.5),
    ...                     np.array([60.0]))
    >>> ans = impact(Bom.example("ev-motor"), paths, seed=1)
    >>> bool(ans.tables["summary"]["months_to_stockout_p50"].iloc[0] > 0)
    True
    """
    st = _store(store)
    paths_by_country, run_meta, seed_used = _resolve_paths(bom, scenario, draws, seed, horizon)

    def stream(name: str) -> np.random.Generator:  # one stream per BOM quantity
        return named_stream(seed_used, "exposure", name)

    tracer = _Tracer(bom, st)
    sum_rows, inp_rows, mon_rows = [], [], []
    notes: list[str] = []
    from oreflow.chain import oxide_factor

    for prod in bom.products:
        paths = paths_by_country[prod.plant_country]
        d_n, t_n, dt = paths.draws, paths.steps, paths.dt_months
        onset = paths.onset_month
        in_ctrl = prod.plant_country in tracer.members
        pfx = f"{prod.id}"
        units_yr = prod.units_per_year.sample(d_n, stream(f"{pfx}.units"))
        u_step = units_yr / 12.0 * dt
        n_in = len(prod.inputs)
        mass = np.zeros((d_n, n_in))
        stock = np.zeros((d_n, n_in))
        sigma = np.ones((d_n, t_n, n_in))
        alt_kg = np.zeros((d_n, t_n, n_in))
        dprice = np.zeros((d_n, t_n, n_in))  # USD/kg change of the price paid
        premium = np.zeros((d_n, t_n, n_in))  # USD/kg premium on alternative volumes
        first_alt = np.full((d_n, n_in), np.inf)
        info: list[dict[str, Any]] = []
        months = np.arange(t_n) * dt
        for i, inp in enumerate(prod.inputs):
            ipfx = f"{pfx}.{inp.id}"
            tr = tracer.trace(inp)
            mass[:, i] = inp.mass_kg_per_unit.sample(d_n, stream(f"{ipfx}.mass"))
            inv = inp.inventory_months.sample(d_n, stream(f"{ipfx}.inventory"))
            stock[:, i] = inv / dt * u_step * mass[:, i]
            avail, pm, base_price, used, how = _input_paths(inp, tr, paths, oxide_factor)
            if how:
                notes.append(f"{prod.id}/{inp.id}: {how}")
            kappa_sup = np.array([1.0 if in_ctrl else tracer.kappa(tr, s.country)
                                  for s in inp.suppliers])
            shares = np.array([s.share for s in inp.suppliers])
            kbar = float(shares @ kappa_sup) if not in_ctrl else 1.0
            sigma[:, :, i] = 1.0 - kbar * (1.0 - avail)
            if inp.price_usd_per_kg is not None:
                p_now = inp.price_usd_per_kg.sample(d_n, stream(f"{ipfx}.price"))
            else:
                p_now = np.full(d_n, base_price)
            change = p_now[:, None] * (pm - 1.0)
            content_change = _content_cost_change(inp, tr, paths, oxide_factor)
            if content_change is not None and used == inp.type:
                # a magnet's price rises at least by the cost of its rare-earth content
                change = np.maximum(change, content_change)
            dprice[:, :, i] = inp.price_sensitivity * change
            qual, _src = _qualification(inp, st)
            q_in = qual.sample(d_n, stream(f"{ipfx}.qualification"))
            deliv = inp.delivery_months.sample(d_n, stream(f"{ipfx}.delivery"))
            ready_any = np.full(d_n, np.inf)
            for a_i, alt in enumerate(inp.alternatives):
                apfx = f"{ipfx}.alt{a_i}"
                q_alt = (alt.qualification_months.sample(d_n, stream(f"{apfx}.q"))
                         if alt.qualification_months is not None else q_in)
                ready = onset + q_alt + deliv  # months from the start of the paths
                ready_any = np.minimum(ready_any, ready)
                if alt.capacity_kg_per_month is None:
                    continue
                cap = alt.capacity_kg_per_month.sample(d_n, stream(f"{apfx}.cap"))
                k_alt = 1.0 if in_ctrl else tracer.kappa(tr, alt.country)
                share_on = np.clip((months[None, :] + dt - ready[:, None]) / dt, 0.0, 1.0)
                vol = cap[:, None] * dt * share_on * (1.0 - k_alt * (1.0 - avail))
                alt_kg[:, :, i] += vol
                premium[:, :, i] += alt.price_premium * p_now[:, None] * (vol > 0)
            if not inp.alternatives:
                ready_any = onset + q_in + deliv
            first_alt[:, i] = ready_any
            info.append({"input": inp, "trace": tr, "kbar": kbar, "avail": avail, "pm": pm,
                         "material": used, "declared_capacity": any(
                             a.capacity_kg_per_month is not None for a in inp.alternatives)})
        res = run_line(u_step, mass, stock, sigma, alt_kg, dt_months=dt)
        after = months + dt > onset  # steps at or after the onset
        horizon_after = max(float(t_n * dt - onset), dt)
        # costs
        alt_share = np.divide(res.from_alternatives, res.delivered,
                              out=np.zeros_like(res.delivered), where=res.delivered > 0)
        per_kg = dprice + premium * alt_share
        cost_unit_t = (mass[:, None, :] * per_kg).sum(axis=2)  # (D, T) USD/unit
        cost_t = (res.delivered * dprice + res.from_alternatives * premium).sum(axis=2)
        cost_unit = cost_unit_t[:, after].mean(axis=1) if after.any() else np.zeros(d_n)
        cost_year = cost_t[:, after].sum(axis=1) * 12.0 / horizon_after
        delayed_total = res.delayed[:, after].sum(axis=1)
        planned_total = u_step * int(after.sum())
        value = (prod.unit_value_usd.sample(d_n, stream(f"{pfx}.value"))
                 if prod.unit_value_usd else None)
        mts = np.maximum(res.stockout - onset, 0.0)
        binding = np.where(np.isfinite(res.stockout), res.input_stockout.argmin(axis=1), -1)
        counts = np.bincount(binding[binding >= 0], minlength=n_in)
        row: dict[str, Any] = {"product": prod.id, "plant_country": prod.plant_country,
                               "region": paths.meta.get("region", ""),
                               "units_per_year": prod.units_per_year.point}
        _put3(row, "months_to_stockout", mts)
        row["stockout_share_of_draws"] = float(np.isfinite(res.stockout).mean())
        row["first_input_out"] = (prod.inputs[int(counts.argmax())].id
                                  if counts.sum() > 0 else "")
        _put3(row, "units_delayed", delayed_total)
        _put3(row, "units_delayed_share", np.divide(delayed_total, planned_total,
                                                    out=np.zeros(d_n),
                                                    where=planned_total > 0))
        _put3(row, "cost_increase_usd_per_unit", cost_unit)
        _put3(row, "cost_increase_usd_per_year", cost_year)
        if value is not None:
            _put3(row, "revenue_at_risk_usd", delayed_total * value)
        _put3(row, "alternative_months", np.maximum(first_alt.min(axis=1) - onset, 0.0))
        sum_rows.append(row)
        for i, meta in enumerate(info):
            inp = meta["input"]
            dep = paths.meta.get("segment_dependence", {}).get(meta["material"], np.nan)
            irow: dict[str, Any] = {"product": prod.id, "input": inp.id,
                                    "material_path": meta["material"],
                                    "exposed_share": meta["kbar"],
                                    "segment_dependence": dep}
            _put3(irow, "min_availability", meta["avail"].min(axis=1))
            _put3(irow, "peak_price_multiple", meta["pm"].max(axis=1))
            _put3(irow, "months_to_stockout_alone",
                  np.maximum(res.input_stockout[:, i] - onset, 0.0))
            _put3(irow, "cost_increase_usd_per_unit",
                  (mass[:, None, i] * per_kg[:, :, i])[:, after].mean(axis=1)
                  if after.any() else np.zeros(d_n))
            _put3(irow, "alternative_months", np.maximum(first_alt[:, i] - onset, 0.0))
            irow["alternative_capacity_declared"] = meta["declared_capacity"]
            irow["alternative_date_p50"] = _add_months(
                paths.start, float(np.quantile(first_alt[:, i], 0.5, method="inverted_cdf")))
            _put3(irow, "kg_from_alternatives", res.from_alternatives[:, :, i].sum(axis=1))
            inp_rows.append(irow)
        dq = np.quantile(res.delayed, (0.1, 0.5, 0.9), axis=0, method="inverted_cdf")
        cq = np.quantile(cost_unit_t, (0.1, 0.5, 0.9), axis=0, method="inverted_cdf")
        for t in range(t_n):
            mon_rows.append({
                "product": prod.id, "month": float(months[t]),
                "months_from_onset": float(months[t] - onset),
                "date": _add_months(paths.start, float(months[t])),
                "units_planned": float(np.median(u_step)),
                "units_delayed_p10": float(dq[0, t]), "units_delayed_p50": float(dq[1, t]),
                "units_delayed_p90": float(dq[2, t]),
                "cost_increase_usd_per_unit_p10": float(cq[0, t]),
                "cost_increase_usd_per_unit_p50": float(cq[1, t]),
                "cost_increase_usd_per_unit_p90": float(cq[2, t]),
            })
    if any(not any(a.capacity_kg_per_month for a in inp.alternatives)
           for p in bom.products for inp in p.inputs):
        notes.append("inputs without a declared alternative capacity get no alternative "
                     "supply: spare capacity is not in the data and is not assumed")
    notes.append("months are counted from the onset of the first shock; inf = no stock-out "
                 "within the horizon; P10 is the pessimistic end for stock-out and the "
                 "optimistic end for delays and costs")
    tables = {"summary": pd.DataFrame(sum_rows), "inputs": pd.DataFrame(inp_rows),
              "monthly": pd.DataFrame(mon_rows)}
    meta = {"bom": bom.name, "bom_origin": bom.origin, "bom_hash": bom.hash(),
            "seed": seed_used, **run_meta}
    cit = _citation_table(bom)
    sources = sorted({s for s in cit["source_id"] if s}
                     | {s for ids in _chain_sources(tracer).values() for s in ids})
    return Answer(tables, sources, list(dict.fromkeys(notes)), meta)


def _put3(row: dict[str, Any], name: str, x: FloatArray) -> None:
    p10, p50, p90 = _q3(x)
    row[f"{name}_p10"], row[f"{name}_p50"], row[f"{name}_p90"] = p10, p50, p90


def _input_paths(
    inp: Input, tr: _Trace, paths: MarketPaths, oxide_factor: Any
) -> tuple[FloatArray, FloatArray, float, str, str]:
    """Availability (D, T), price multiple (D, T), base price [USD/kg], path used, note."""
    d_n, t_n = paths.draws, paths.steps
    name = inp.type
    j = paths.index(name)
    if j is not None:
        bp = float(paths.base_price_usd_per_kg[j])
        if inp.kind == "material" and inp.form == "metal":
            bp = bp * oxide_factor(inp.type)  # oxide price per kg metal (lower bound)
        return (paths.availability[:, :, j], paths.price_multiple[:, :, j], bp, name, "")
    # fall back on the elements of a magnet
    idx = [paths.index(str(e)) for e in tr.elements.index]
    have = [(str(e), k) for e, k in zip(tr.elements.index, idx, strict=True) if k is not None]
    if have:
        avail = np.min([paths.availability[:, :, k] for _, k in have], axis=0)
        w = np.array([float(tr.elements[e]) * oxide_factor(e)
                      * float(paths.base_price_usd_per_kg[k]) for e, k in have])
        bp = float(w.sum())
        pm = (np.tensordot(w, np.stack([paths.price_multiple[:, :, k] for _, k in have]),
                           axes=1) / bp) if bp > 0 else np.ones((d_n, t_n))
        used = "+".join(e for e, _ in have)
        return (avail, pm, bp, used, f"no {name} market in the scenario: follows its "
                f"elements {used} (price on rare-earth content only)")
    return (np.ones((d_n, t_n)), np.ones((d_n, t_n)), 0.0, "",
            f"no market for {name} or its elements in the scenario: treated as unaffected")


def _content_cost_change(inp: Input, tr: _Trace, paths: MarketPaths,
                         oxide_factor: Any) -> FloatArray | None:
    """Change in the cost of a magnet's rare-earth content [USD/kg magnet], (D, T).

    Σ_e w_e f_ox(e) p0_e (multiple_e − 1), with w_e the grade's content [kg metal/kg], f_ox
    the oxide factor and p0_e the oxide base price, over the elements the paths carry;
    ``None`` for a material input or when the paths carry none of the elements.
    """
    if inp.kind != "magnet":
        return None
    out = np.zeros((paths.draws, paths.steps))
    found = False
    for e, w in tr.elements.items():
        k = paths.index(str(e))
        if k is None:
            continue
        found = True
        out += (float(w) * oxide_factor(str(e)) * float(paths.base_price_usd_per_kg[k])
                * (paths.price_multiple[:, :, k] - 1.0))
    return out if found else None


def _resolve_paths(
    bom: Bom,
    scenario: Scenario | str | Path | Result | MarketPaths,
    draws: int,
    seed: int | None,
    horizon: int | None,
) -> tuple[dict[str, MarketPaths], dict[str, Any], int]:
    """Market paths per plant country, run metadata and the seed used for BOM sampling."""
    countries = sorted({p.plant_country for p in bom.products})
    if isinstance(scenario, MarketPaths):
        entropy = np.random.SeedSequence().entropy
        seed_used = int(seed) if seed is not None else int(str(entropy)) % (2**63)
        meta = {"scenario": scenario.meta.get("scenario", "synthetic paths"),
                "draws": scenario.draws, "paths_meta": dict(scenario.meta)}
        return dict.fromkeys(countries, scenario), meta, seed_used
    from oreflow.simulate.result import Result

    if isinstance(scenario, Result):
        result = scenario
    else:
        from oreflow.simulate import simulate

        if draws < 1:
            raise InputError("draws must be at least 1")
        result = simulate(scenario, draws=draws, seed=seed, horizon=horizon)
    prov = dict(result.provenance)
    seed_used = int(seed) if seed is not None else int(prov.get("seed", 0))
    paths = {c: market_paths(result, c) for c in countries}
    meta = {"scenario": result.scenario.name, "draws": int(prov.get("draws", 0)),
            "engine": {k: prov.get(k) for k in ("scenario_hash", "seed", "dataset_version",
                                                "dataset_hash", "baseline_year",
                                                "horizon_months")},
            "regions": {c: p.meta.get("region", "") for c, p in paths.items()}}
    return paths, meta, seed_used
