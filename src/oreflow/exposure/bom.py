"""The bill-of-materials schema and its validation against the data.

A :class:`Bom` lists products (units per year, plant country, unit value) and, per product,
its rare-earth inputs — magnets (NdFeB or SmCo, mass per unit, grade or element content) and
other rare-earth materials — with the current suppliers by country and share, inventory
[months of use], qualification time of a new supplier [months], and price sensitivity. Every
figure is a :class:`Quantity`: a value or a range with its citations or an assumption flag;
its randomness is that of :mod:`oreflow.uncertain` (:attr:`Quantity.distribution`).

:func:`check_bom` checks a BOM against a store (countries, materials, grades, projects,
sources and cited rows); :func:`parse_bom` and :func:`read_bom` read text or a file through
:mod:`oreflow.exposure.bom_io` (file, line and field of every problem), validate it with the
schema and the data checks, and return a :class:`Bom` only when nothing is wrong. Built-in
examples (:func:`list_examples`, :meth:`Bom.example`) ship in ``oreflow/examples/bom``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from oreflow.base import Model
from oreflow.chain import RARE_EARTHS
from oreflow.chain.names import NON_NODE_CODES, RESIDUAL_CODES
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError, Problem, ValidationError, did_you_mean, unknown
from oreflow.exposure.bom_io import (
    MAX_CSV_BYTES,
    FieldPath,
    dedupe_problems,
    pydantic_problems,
    read_raw,
)
from oreflow.uncertain import MAX_ABS, Fixed, Uniform, fixed, uniform
from oreflow.yamlio import MAX_BYTES, YamlInputError, read_text

__all__ = [
    "CITABLE_TABLES",
    "DEFAULT_QUALIFICATION",
    "MAGNET_TYPES",
    "Alternative",
    "Bom",
    "Citation",
    "ContentClaim",
    "Input",
    "Product",
    "Quantity",
    "Supplier",
    "check_bom",
    "list_examples",
    "parse_bom",
    "quantities",
    "read_bom",
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
_SHARE_TOL = 1e-3
_EXAMPLES_PACKAGE = "oreflow.examples"


# ============================================================================================
# the schema (oreflow.base.Model: frozen, extra="forbid")


class _Input(Model):
    """Base of the BOM models: float fields must be finite (``.nan``/``.inf`` rejected)."""

    model_config = ConfigDict(allow_inf_nan=False)


#: Longest time a month-valued BOM figure may take [months] (100 years).
MAX_MONTHS: float = 1200.0
_MONTHS = (MAX_MONTHS, "at most 1200 months (100 years)")
#: Upper bounds of the BOM figures, each with its reason: beyond them a figure is a typo, and
#: products of figures could overflow to infinity (then NaN) in the results.
_UPPER: dict[str, tuple[float, str]] = {
    "units_per_year": (1e10, "at most 1e10 units a year, more than the world makes of "
                             "any product"),
    "unit_value_usd": (1e11, "at most 1e11 USD a unit"),
    "mass_kg_per_unit": (1e6, "at most 1e6 kg (1,000 t) of one input in one unit"),
    "price_usd_per_kg": (1e6, "at most 1e6 USD/kg; rare-earth prices are at most a few "
                              "thousand USD/kg"),
    "capacity_kg_per_month": (1e9, "at most 1e9 kg a month, above world rare-earth output"),
    "inventory_months": _MONTHS,
    "qualification_months": _MONTHS,
    "delivery_months": _MONTHS,
}


def _check_upper(q: Quantity | None, field: str) -> Quantity | None:
    """Reject a figure above the bound of ``field`` in :data:`_UPPER` (reason in the message)."""
    if q is None:
        return q
    hi, reason = _UPPER[field]
    top = max(x for x in (q.value, q.low, q.high) if x is not None)
    if top > hi:
        raise ValueError(f"must be {reason} (got {top:g})")
    return q


class Citation(_Input):
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


class Quantity(_Input):
    """A number with its provenance: a point ``value``, a ``low``–``high`` range, or both.

    Written as a bare number (``1.5``) or as a mapping
    ``{value: 1.5, low: 1, high: 2, source: [...], assumption: false, note: "..."}``. A range
    is sampled uniformly under a scenario (:attr:`distribution`, :meth:`sample`); the point
    used without a scenario is ``value``, else the midpoint of the range. A figure that is not
    read from a source is flagged ``assumption: true`` and says why in ``note``.
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
        if any(abs(x) > MAX_ABS for x in nums):
            raise ValueError(f"numbers must lie within +-{MAX_ABS:g} (larger ones overflow "
                             "the results)")
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

    @property
    def distribution(self) -> Fixed | Uniform:
        """The figure as a distribution of :mod:`oreflow.uncertain`.

        Uniform over the range when one is given (a value with a range is its point estimate,
        :attr:`point`, and does not shape the draws), else the value fixed.
        """
        lo, hi = self.bounds
        return uniform(lo, hi) if hi > lo else fixed(lo)

    def sample(self, n: int, *, rng: np.random.Generator) -> FloatArray:
        """``n`` draws of :attr:`distribution`: uniform over the range, or the value repeated."""
        return self.distribution.sample(n, rng=rng)

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


class Supplier(_Input):
    """A current supplier of one input."""

    country: str
    """ISO 3166 alpha-3 code of the plant that ships the input."""
    share: float = Field(gt=0, le=1)
    """Share of the input bought from this supplier [-]; shares of an input sum to 1."""
    name: str = ""
    """Supplier name (free text)."""
    note: str = ""
    """Free text."""


class Alternative(_Input):
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
    price_premium: float = Field(default=0.0, ge=0, le=100)
    """Price premium over your current price [-] (0.2 = 20 % dearer)."""
    project_id: str | None = None
    """Key in the ``projects`` table, if it is a listed project."""
    note: str = ""
    """Free text."""

    @field_validator("capacity_kg_per_month", "qualification_months")
    @classmethod
    def _nonneg(cls, v: Quantity | None, info: ValidationInfo) -> Quantity | None:
        return _check_upper(_check_sign(v, strict=False), str(info.field_name))


class Input(_Input):
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
    price_sensitivity: float = Field(default=1.0, ge=0, le=1)
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
    def _positive(cls, v: Quantity | None, info: ValidationInfo) -> Quantity | None:
        return _check_upper(_check_sign(v, strict=True), str(info.field_name))

    @field_validator("inventory_months", "qualification_months", "delivery_months")
    @classmethod
    def _nonneg(cls, v: Quantity | None, info: ValidationInfo) -> Quantity | None:
        return _check_upper(_check_sign(v, strict=False), str(info.field_name))

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


class ContentClaim(_Input):
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


class Product(_Input):
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
    def _positive(cls, v: Quantity | None, info: ValidationInfo) -> Quantity | None:
        return _check_upper(_check_sign(v, strict=True), str(info.field_name))


class Bom(_Input):
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
        store : oreflow.data.store.Store, optional
            Store used to validate names and citations (default the embedded data plus user
            imports).
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


def quantities(obj: BaseModel, path: FieldPath = ()) -> Iterable[tuple[FieldPath, Quantity]]:
    """Every Quantity in a model tree with its field path."""
    for name in type(obj).model_fields:
        val = getattr(obj, name)
        yield from _walk_value(val, (*path, name))


def _walk_value(val: Any, path: FieldPath) -> Iterable[tuple[FieldPath, Quantity]]:
    if isinstance(val, Quantity):
        yield path, val
    elif isinstance(val, BaseModel):
        yield from quantities(val, path)
    elif isinstance(val, tuple | list):
        for i, v in enumerate(val):
            yield from _walk_value(v, (*path, i))
    elif isinstance(val, dict):
        for k, v in val.items():
            yield from _walk_value(v, (*path, str(k)))


# ============================================================================================
# checks against the data


def _recipe_key(row: Mapping[str, Any]) -> str:
    return f"{row['product']} | {row['grade']} | {row['element']}"


def check_bom(bom: Bom | Mapping[str, Any], *,
              store: Store | None = None) -> list[tuple[FieldPath, str]]:
    """Check a BOM against the data; return (field path, rule) per problem.

    Works on a :class:`Bom` or on the raw mapping read from a file (then values of the wrong
    type are skipped: the schema reports them), so that schema and data problems are
    reported together. Checks: known controller, countries, materials, grades, projects and
    sources; cited table rows that exist and carry the cited source; element symbols in
    ``content``; SmCo content given; supplier shares summing to 1; unique ids.
    """
    data: Mapping[str, Any] = bom.model_dump() if isinstance(bom, Bom) else bom
    st = resolve_store(store)
    out: list[tuple[FieldPath, str]] = []
    countries = st.table("countries")
    aggregates = _aggregates(countries)
    codes = set(countries["iso3"].astype(str)) - set(aggregates)
    blocs = set(st.table("blocs")["bloc"].astype(str)) if "blocs" in st.tables() else set()
    materials = set(st.table("materials")["material"].astype(str))
    rare = RARE_EARTHS
    recipes = st.table("recipes") if "recipes" in st.tables() else pd.DataFrame()
    project_ids: set[str] | None = None

    def country(path: FieldPath, code: Any) -> None:
        if isinstance(code, str) and code in aggregates:
            out.append((path, f"'{code}' ({aggregates[code]}) is an aggregate, not a "
                        "country: name the country (ISO3 code) where the plant is"))
        elif isinstance(code, str) and code not in codes:
            out.append((path, f"unknown country code '{code}'" + did_you_mean(code, codes)))

    ctrl = data.get("controller", "CHN")
    if isinstance(ctrl, str) and ctrl in aggregates:
        out.append((("controller",), f"'{ctrl}' ({aggregates[ctrl]}) is an aggregate, not a "
                    "country or bloc: name the restricting country (e.g. CHN)"))
    elif isinstance(ctrl, str) and ctrl not in codes and ctrl not in blocs:
        out.append((("controller",), f"unknown country or bloc '{ctrl}'"
                    + did_you_mean(ctrl, codes | blocs)))
    seen_p: set[str] = set()
    for pi, prod in _items(data.get("products")):
        pp: FieldPath = ("products", pi)
        pid = prod.get("id")
        if isinstance(pid, str):
            if pid in seen_p:
                out.append(((*pp, "id"), f"product id '{pid}' appears more than once"))
            seen_p.add(pid)
        country((*pp, "plant_country"), prod.get("plant_country"))
        seen_i: set[str] = set()
        for ii, inp in _items(prod.get("inputs")):
            ip: FieldPath = (*pp, "inputs", ii)
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
                ap: FieldPath = (*ip, "alternatives", ai)
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


def _aggregates(countries: pd.DataFrame) -> dict[str, str]:
    """Aggregate codes (world, rest of world, other countries, combined partners …) with
    their names: rows of kind ``aggregate`` and the codes of :mod:`oreflow.chain.names`."""
    names = dict(zip(countries["iso3"].astype(str), countries["name"].astype(str),
                     strict=True))
    kind = countries["kind"].astype(str) if "kind" in countries else pd.Series(dtype=str)
    codes = set(countries.loc[kind == "aggregate", "iso3"].astype(str))
    codes |= RESIDUAL_CODES | NON_NODE_CODES
    return {c: names.get(c, "an aggregate code") for c in sorted(codes)}


def _items(x: Any) -> Iterable[tuple[int, Mapping[str, Any]]]:
    """(index, mapping) for the mappings of a list; nothing for anything else."""
    if isinstance(x, list | tuple):
        for i, v in enumerate(x):
            if isinstance(v, Mapping):
                yield i, v


def _raw_citations(x: Any, path: FieldPath = ()) -> Iterable[tuple[FieldPath, Mapping[str, Any]]]:
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


def _check_citations(data: Mapping[str, Any], st: Store) -> list[tuple[FieldPath, str]]:
    out: list[tuple[FieldPath, str]] = []
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
# reading and validating


def read_bom(path: str | Path, *, store: Store | None = None) -> Bom:
    """Read and validate a BOM file (YAML, or CSV with one row per supplier).

    Parameters
    ----------
    path : str or pathlib.Path
        ``.yaml``/``.yml`` or ``.csv`` file; the schema is in ``docs/exposure.md``.
    store : oreflow.data.store.Store, optional
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
    if not p.exists():
        raise InputError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix in (".yaml", ".yml"):
        fmt: Literal["yaml", "csv"] = "yaml"
    elif suffix == ".csv":
        fmt = "csv"
    else:
        raise InputError(f"{p}: a BOM is a .yaml, .yml or .csv file")
    try:
        text = read_text(p, what="BOM file", max_bytes=MAX_CSV_BYTES if fmt == "csv"
                         else MAX_BYTES)
    except YamlInputError as exc:
        raise ValidationError([Problem(str(path), exc.line, None, exc.rule)]) from None
    return parse_bom(text, fmt=fmt, label=str(path), store=store)


def _resolve_country_names(data: Any, store: Store | None) -> None:
    """Replace country and bloc names in a raw BOM (``Japan``, ``EU``) by their codes, in
    place: the controller, plant countries, suppliers' and alternatives' countries. What
    does not resolve is left as written for :func:`check_bom` to report."""
    if not isinstance(data, dict):
        return
    from oreflow.chain.lookup import bloc_table, country_code, region_code

    st = resolve_store(store)
    codes = list(st.table("countries")["iso3"].astype(str))
    known = set(codes)

    def fix(m: Mapping[str, Any], key: str) -> None:
        v = m.get(key)
        if isinstance(m, dict) and isinstance(v, str) and v not in known:
            with contextlib.suppress(InputError):
                m[key] = country_code(v, extra=codes)

    ctrl = data.get("controller")
    if isinstance(ctrl, str) and ctrl not in known:
        with contextlib.suppress(InputError):
            data["controller"] = region_code(ctrl, bloc_table(st), countries=codes)
    for _, prod in _items(data.get("products")):
        fix(prod, "plant_country")
        for _, inp in _items(prod.get("inputs")):
            for _, sup in _items(inp.get("suppliers")):
                fix(sup, "country")
            for _, alt in _items(inp.get("alternatives")):
                fix(alt, "country")


def parse_bom(text: str, *, fmt: Literal["yaml", "csv"] = "yaml", label: str = "<bom>",
              store: Store | None = None) -> Bom:
    """Parse and validate BOM text (see :func:`read_bom`); ``label`` names it in problems.
    Countries and the controller may be given by name (``Japan``, ``EU``)."""
    data, loc, problems = read_raw(text, fmt, label)
    _resolve_country_names(data, store)
    bom: Bom | None = None
    try:
        bom = Bom.model_validate(data)
    except PydanticValidationError as exc:
        problems += pydantic_problems(exc, loc, Bom)
    problems += [loc.problem(path, rule) for path, rule in check_bom(data, store=store)]
    if problems or bom is None:
        raise ValidationError(dedupe_problems(problems))
    bom._origin = label
    return bom
