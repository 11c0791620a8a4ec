"""Fuzzing the readers of user files: scenario YAML, BOM YAML and BOM CSV.

Each document starts from a valid one; hypothesis mutates values (non-finite, huge, negative,
wrong types, unicode), keys (unknown, removed) and the text itself (repeated lines and keys,
aliases, deep nesting, truncation, stray bytes). Whatever comes in, the reader returns a
valid object or raises an :class:`oreflow.errors.InputError` (exit code 2), within seconds,
and an accepted object holds no non-finite number and no negative quantity.

``OREFLOW_FUZZ_EXAMPLES`` sets the number of examples per test (200 by default; the nightly
run sets thousands).
"""

from __future__ import annotations

import copy
import csv
import io
import math
import os
import time
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oreflow.data.store import Store
from oreflow.errors import InputError
from oreflow.exposure import Bom, parse_bom
from oreflow.exposure.bom import quantities
from oreflow.exposure.bom_io import CSV_REQUIRED
from oreflow.simulate import Scenario
from oreflow.yamlio import MAX_DEPTH, YamlInputError, parse_yaml

FUZZ = settings(
    max_examples=int(os.environ.get("OREFLOW_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Slowest acceptable read of one fuzzed document [s] (the real ones take milliseconds).
SLOW = 10.0

SCENARIO: dict[str, Any] = {
    "name": "fuzz",
    "start": "2025-01",
    "horizon_months": 24,
    "source_ids": ["usgs_mcs2026_ree"],
    "shocks": [
        {"kind": "export_restriction", "materials": ["Dy", "NdFeB"],
         "stages": ["separation", "magnet"], "effective": "2025-03",
         "duration_months": 6,
         "licence_lag_months": {"dist": "uniform", "low": 1, "high": 3},
         "approval_rate": 0.5, "source_ids": ["cn_2025_no18"]},
        {"kind": "demand_change", "materials": ["NdFeB"], "start": "2025-01",
         "growth_per_year": 0.1, "level": {"dist": "triangular", "low": -0.1, "mode": 0,
                                           "high": 0.1}},
        {"kind": "production_outage", "country": "MMR", "stage": "mine", "start": "2025-02",
         "share": {"dist": "beta", "a": 2, "b": 3}, "recovery_months": 3},
        {"kind": "stockpile_release", "materials": ["Dy"], "start": "2025-04",
         "duration_months": 3, "tonnes": 100},
        {"kind": "tariff", "materials": ["Dy"], "start": "2025-02", "rate": 0.25},
        {"kind": "price_floor", "materials": ["Nd"], "start": "2025-02", "usd_per_kg": 80},
    ],
    "parameters": {"calibrated": False, "leakage": {"dist": "uniform", "low": 0, "high": 0.5},
                   "user_cover_months": {"dist": "normal", "mean": 1.5, "sd": 0.3, "low": 0.5,
                                         "high": 3}},
}

BOM: dict[str, Any] = {
    "name": "fuzz",
    "controller": "CHN",
    "products": [{
        "id": "p1", "plant_country": "USA", "units_per_year": 1200,
        "unit_value_usd": {"value": 1000, "low": 800, "high": 1200, "assumption": True},
        "inputs": [{
            "id": "m1", "kind": "magnet", "type": "NdFeB", "grade": "typical",
            "mass_kg_per_unit": {"value": 2.0, "low": 1.5, "high": 2.5,
                                 "source": {"source_id": "usgs_mcs2026_ree"}},
            "inventory_months": 2, "qualification_months": {"low": 4, "high": 7},
            "delivery_months": 1, "price_sensitivity": 0.5, "price_usd_per_kg": 60,
            "content": {"Dy": 0.03, "Nd": 0.25},
            "suppliers": [{"country": "CHN", "share": 0.8}, {"country": "JPN", "share": 0.2}],
            "alternatives": [{"country": "AUS", "capacity_kg_per_month": 100,
                              "price_premium": 0.2}],
        }, {
            "id": "dy", "kind": "material", "type": "Dy", "mass_kg_per_unit": 0.01,
            "inventory_months": 3, "suppliers": [{"country": "CHN", "share": 1}],
        }],
    }],
}

BAD_VALUES = st.one_of(
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 1e12, -1e12,
                     10**400, -(10**30), -1, -1.5, 0, 0.0, 1, 2, -0.0, 1e-320, True, False,
                     None, "", "nan", "inf", "-inf", "1e309", "1e308", "-1", "2025-02-30",
                     "2025-13", "99999", "WLD", "ROW", "OTH", "all", "REE", "NdFeB",
                     "\u00e9\u4e2d\U0001f600", "\x00", "x" * 500, [], {}, [1, 2],
                     {"dist": "uniform"}, {"dist": "normal", "mean": 0, "sd": 1},
                     {"dist": "uniform", "low": 0, "high": float("nan")},
                     {"value": float("inf")}, {"low": -5, "high": 1e300}]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(max_size=20),
)
KEYS = st.sampled_from(["duration", "duration_months", "hgh", "value", "low", "high", "kind",
                        "<<", "source_ids", "share", "x\u00e9", "1", "shares", "mass_kg"])


def _leaf_paths(x: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value (leaf or container) below the root."""
    out: list[tuple[Any, ...]] = []
    items: list[tuple[Any, Any]] = []
    if isinstance(x, dict):
        items = list(x.items())
    elif isinstance(x, list):
        items = list(enumerate(x))
    for k, v in items:
        out.append((*path, k))
        out += _leaf_paths(v, (*path, k))
    return out


def _get_parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path[:-1]:
        doc = doc[p]
    return doc


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with a few values replaced, keys removed or keys added."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        paths = _leaf_paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _get_parent(doc, path)
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = copy.deepcopy(draw(BAD_VALUES))
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(KEYS)] = copy.deepcopy(draw(BAD_VALUES))
    return doc


@st.composite
def yaml_text(draw: st.DrawFn, base: dict[str, Any]) -> str:
    """A mutated document as YAML text, then possibly mangled as text."""
    doc = draw(mutated(base))
    try:
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, ValueError, OverflowError):
        text = yaml.safe_dump(base, sort_keys=False)
    lines = text.splitlines(keepends=True)
    edit = draw(st.sampled_from(["none", "none", "repeat", "alias", "bomb", "deep", "cut",
                                 "insert"]))
    if edit == "repeat" and lines:  # repeats a key (or a list item) on the next line
        i = draw(st.integers(0, len(lines) - 1))
        lines.insert(i + 1, lines[i])
    elif edit == "alias":
        lines[0:0] = ["x_anchor: &a {dist: uniform, low: 0, high: 1}\n"]
        i = draw(st.integers(1, len(lines) - 1))
        lines[i] = lines[i].rstrip("\n").split(":")[0] + ": *a\n"
    elif edit == "bomb":
        lines.append("bomb:\n  - &b0 [x, x, x, x, x, x, x, x, x, x]\n")
        lines += [f"  - &b{i} [" + ", ".join([f"*b{i - 1}"] * 10) + "]\n" for i in range(1, 9)]
    elif edit == "deep":
        depth = draw(st.integers(MAX_DEPTH - 5, 20 * MAX_DEPTH))
        lines.append("deep: " + "[" * depth + "1" + "]" * depth + "\n")
    elif edit == "cut":
        return "".join(lines)[: draw(st.integers(0, max(0, len(text) - 1)))]
    elif edit == "insert":
        joined = "".join(lines)
        i = draw(st.integers(0, len(joined)))
        return joined[:i] + draw(st.text(min_size=1, max_size=8)) + joined[i:]
    return "".join(lines)


def _numbers(x: Any) -> list[float]:
    """Every number in a dumped model."""
    if isinstance(x, bool):
        return []
    if isinstance(x, int | float):
        return [float(x)]
    if isinstance(x, dict):
        return [n for v in x.values() for n in _numbers(v)]
    if isinstance(x, list | tuple):
        return [n for v in x for n in _numbers(v)]
    return []


def _timed(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; return its result or the InputError it raised; fail on anything else."""
    t0 = time.perf_counter()
    try:
        out = fn(*args, **kwargs)
    except InputError as exc:
        out = exc
        assert str(exc).strip(), "an input error has a message"
    assert time.perf_counter() - t0 < SLOW, "reading one document took too long"
    return out


@pytest.fixture(scope="module")
def fuzz_store(store: Store) -> Store:
    return store


def test_the_base_documents_are_valid(store: Store) -> None:
    Scenario.parse_yaml(yaml.safe_dump(SCENARIO, sort_keys=False), store=store)
    parse_bom(yaml.safe_dump(BOM, sort_keys=False), fmt="yaml", store=store)
    parse_bom(_csv_text(_csv_rows()), fmt="csv", store=store)


@FUZZ
@given(text=yaml_text(SCENARIO))
def test_scenario_reader_survives_anything(fuzz_store: Store, text: str) -> None:
    out = _timed(Scenario.parse_yaml, text, source="fuzz.yaml", store=fuzz_store)
    if isinstance(out, InputError):
        assert str(out).startswith("fuzz.yaml")
        return
    assert isinstance(out, Scenario)
    nums = _numbers(out.model_dump())
    assert all(math.isfinite(n) for n in nums), nums
    for shock in out.shocks:
        for name in ("duration_months", "tonnes", "usd_per_kg", "rate", "recovery_months"):
            v = getattr(shock, name, None)
            assert v is None or (isinstance(v, float | int) and v >= 0), (name, v)
        for name in ("approval_rate", "share"):
            d = getattr(shock, name, None)
            if d is not None and hasattr(d, "support"):
                lo, hi = d.support()
                assert 0 <= lo <= hi <= 1, (name, lo, hi)
        growth = getattr(shock, "growth_per_year", None)
        if growth is not None:
            assert growth.support()[0] > -1


def _check_bom(out: Any) -> None:
    assert isinstance(out, Bom)
    assert all(math.isfinite(n) for n in _numbers(out.model_dump()))
    for path, q in quantities(out):
        lo, hi = q.bounds
        assert 0 <= lo <= hi and math.isfinite(hi), (path, q)
    for prod in out.products:
        for inp in prod.inputs:
            assert 0 <= inp.price_sensitivity <= 1
            assert all(0 < s.share <= 1 for s in inp.suppliers)


@FUZZ
@given(text=yaml_text(BOM))
def test_bom_yaml_reader_survives_anything(fuzz_store: Store, text: str) -> None:
    out = _timed(parse_bom, text, fmt="yaml", label="fuzz.yaml", store=fuzz_store)
    if isinstance(out, InputError):
        assert "fuzz.yaml" in "\n".join(out.lines())
        return
    _check_bom(out)


def _csv_rows() -> list[dict[str, Any]]:
    first = {"product": "p1", "units_per_year": 1000, "plant_country": "USA",
             "unit_value_usd": 1500, "input": "m1", "kind": "magnet", "type": "NdFeB",
             "mass_kg_per_unit": 1.5, "mass_kg_per_unit_low": 1, "mass_kg_per_unit_high": 2,
             "inventory_months": 2, "qualification_months": 6, "supplier_country": "CHN",
             "share": 0.7, "content_Dy": 0.03, "price_sensitivity": 1}
    return [first,
            {"product": "p1", "input": "m1", "supplier_country": "JPN", "share": 0.3},
            {"product": "p1", "input": "dy", "kind": "material", "type": "Dy",
             "mass_kg_per_unit": 0.01, "inventory_months": 3, "supplier_country": "CHN",
             "share": 1}]


_CSV_COLUMNS = [*CSV_REQUIRED, "unit_value_usd", "mass_kg_per_unit_low",
                "mass_kg_per_unit_high", "qualification_months", "content_Dy",
                "price_sensitivity"]


def _csv_text(rows: list[dict[str, Any]], header: list[str] | None = None) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, header or _CSV_COLUMNS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


CELLS = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e308", "-1e308", "1e309", "-1", "-0",
                     "0", "", "  ", "abc", "1,5", "0x10", "1_000", "WLD", "ROW", "OTH",
                     "XEU", "\u00e9\u4e2d", "\ufeff", "\x00", '"', "p1", "m1", "CHN"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)


@FUZZ
@given(data=st.data())
def test_bom_csv_reader_survives_anything(fuzz_store: Store, data: st.DataObject) -> None:
    rows = _csv_rows()
    header = list(_CSV_COLUMNS)
    for _ in range(data.draw(st.integers(1, 5))):
        r = data.draw(st.integers(0, len(rows) - 1))
        col = data.draw(st.sampled_from(header))
        rows[r][col] = data.draw(CELLS)
    if data.draw(st.booleans()):
        rows.append(dict(data.draw(st.sampled_from(rows))))
    if data.draw(st.integers(0, 9)) == 0:
        header.append(data.draw(st.sampled_from(["shares", "content_Xx", "product",
                                                 "content_Tb_high", "\u00e9"])))
    text = _csv_text(rows, header)
    out = _timed(parse_bom, text, fmt="csv", label="fuzz.csv", store=fuzz_store)
    if isinstance(out, InputError):
        assert "fuzz.csv" in "\n".join(out.lines())
        return
    _check_bom(out)


@FUZZ
@given(text=st.text(max_size=300))
def test_yaml_loader_on_arbitrary_text(text: str) -> None:
    """Any text at all: data, or a YamlInputError with a message; never another exception."""
    t0 = time.perf_counter()
    try:
        parse_yaml(text, source="any.yaml")
    except YamlInputError as exc:
        assert str(exc).startswith("any.yaml")
    assert time.perf_counter() - t0 < SLOW
