"""Points of a sweep: the axes applied to the base scenario, each point with its own seed.

A point is one scenario of the sweep: its ``key`` (axis name → value) says what differs from
the base, its ``seed`` derives from the sweep seed and the key alone (:func:`point_seed`), so
a point gives the same numbers whatever the order of the axes' values, the backend, the
number of workers, or which other points the sweep holds.

Axis names (:data:`CONVENIENCE_AXES`, else a dotted path into the scenario):

``materials``
    a material (or list of materials): the first export restriction's or production
    outage's ``materials`` AND the scenario's simulated ``materials``, so a one-material
    point simulates one material (fast).
``supplier``
    ISO3 code: the scenario ``controller``, every restriction's ``controller`` and every
    outage's ``country``.
``share_lost``
    share [0-1]: the first restriction's ``approval_rate`` = 1 − value (its
    ``approval_path`` removed: the share is constant over the window), or the first
    outage's ``share``.
``duration_months``
    months: the first restriction's or outage's ``duration_months`` (its ``end`` removed).
``importer`` / ``targets``
    ISO3 code, bloc name or list: the first restriction's ``targets``.
dotted path
    e.g. ``horizon_months``, ``shocks[0].approval_rate``, ``parameters.leakage``: the value
    replaces that field (which must exist in the scenario model).

Examples
--------
>>> from oreflow.simulate import Scenario
>>> base = Scenario.builtin("full-embargo")
>>> pts = expand_axes(base, {"materials": ["Dy", "Tb"], "share_lost": [0.5, 1.0]},
...                   mode="product", draws=100, seed=7)
>>> [(p.index, p.key["materials"], p.scenario.material_list()) for p in pts][:2]
[(0, 'Dy', ('Dy',)), (1, 'Dy', ('Dy',))]
>>> pts[1].seed == make_point(9, {"share_lost": 1.0, "materials": "Dy"}, pts[1].scenario,
...                           sweep_seed=7, draws=100).seed
True
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel

from oreflow.simulate.scenario import Scenario

__all__ = [
    "CONVENIENCE_AXES",
    "AxisError",
    "Point",
    "apply_axis",
    "canonical_key",
    "expand_axes",
    "make_point",
    "point_seed",
]

#: Axis names with a meaning beyond a path into the scenario (see the module docstring).
CONVENIENCE_AXES: tuple[str, ...] = ("materials", "supplier", "share_lost", "duration_months",
                                     "importer", "targets")
_RESTRICTION = "export_restriction"
_OUTAGE = "production_outage"


class AxisError(ValueError):
    """An axis name or value cannot be applied to the base scenario (the message is the
    rule; the caller adds file, line and field)."""


@dataclass(frozen=True)
class Point:
    """One scenario of a sweep.

    Attributes
    ----------
    index : int
        Position in the sweep (0-based); orders the result table, does not affect numbers.
    key : dict
        Axis name → value: what makes this point (JSON-able).
    scenario : Scenario
        The validated scenario of the point.
    seed : int
        Seed entropy of the point's draws (:func:`point_seed`).
    draws : int
        Monte Carlo draws.
    """

    index: int
    key: dict[str, Any] = field(hash=False)
    scenario: Scenario = field(hash=False)
    seed: int
    draws: int


def canonical_key(key: Mapping[str, Any]) -> str:
    """A key as canonical JSON (sorted keys, no spaces): the identity of a point.

    Examples
    --------
    >>> canonical_key({"share_lost": 0.5, "materials": "Dy"})
    '{"materials":"Dy","share_lost":0.5}'
    """
    return json.dumps(dict(key), sort_keys=True, separators=(",", ":"), default=str)


def point_seed(sweep_seed: int, key: Mapping[str, Any]) -> int:
    """Seed entropy of a point: a function of the sweep seed and the point's key only.

    ``SeedSequence(sweep_seed, spawn_key=words)`` where ``words`` are the eight 32-bit words
    of the SHA-256 of :func:`canonical_key` (no collisions in practice, unlike a CRC-32 over
    100,000 keys); its first 64-bit state word, shifted right by one bit (a non-negative
    int64, as Parquet stores it), is the seed given to :func:`oreflow.simulate.simulate`.

    Examples
    --------
    >>> point_seed(0, {"materials": "Dy"}) == point_seed(0, {"materials": "Dy"})
    True
    >>> point_seed(0, {"materials": "Dy"}) == point_seed(1, {"materials": "Dy"})
    False
    """
    digest = hashlib.sha256(canonical_key(key).encode()).digest()
    words = tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 32, 4))
    ss = np.random.SeedSequence(int(sweep_seed), spawn_key=words)
    return int(ss.generate_state(1, dtype=np.uint64)[0]) >> 1


def make_point(index: int, key: Mapping[str, Any], scenario: Scenario, *, sweep_seed: int,
               draws: int) -> Point:
    """A :class:`Point` from its key and scenario, its seed derived by :func:`point_seed`.

    The public way to build points outside a sweep file (e.g. ``oreflow rank``): give each
    point a key that names what makes it (JSON-able values), then pass the points to
    :func:`oreflow.sweep.runner.run_points`.
    """
    return Point(index=int(index), key=dict(key), scenario=scenario,
                 seed=point_seed(sweep_seed, key), draws=int(draws))


# --------------------------------------------------------------------------------------
# Applying an axis value to a scenario (as a dict dumped with exclude_unset: fields the
# scenario did not set stay unset, so the calibrated sample still fills them)
# --------------------------------------------------------------------------------------


def _first(shocks: list[dict[str, Any]], *kinds: str) -> dict[str, Any]:
    for s in shocks:
        if s.get("kind") in kinds:
            return s
    raise AxisError(f"the base scenario has no {' or '.join(k.replace('_', ' ') for k in kinds)}"
                    " for this axis to act on")


def _as_list(value: Any, what: str) -> list[Any]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise AxisError(f"{what} must be a name or a list of names, got {value!r}")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AxisError(f"{what} must be a number, got {value!r}")
    return float(value)


_PATH_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$")


def parse_path(text: str) -> list[str | int]:
    """A dotted path (``shocks[0].approval_rate``) as keys and indices; ``AxisError`` if
    malformed."""
    out: list[str | int] = []
    for part in text.split("."):
        m = _PATH_PART.match(part)
        if m is None:
            raise AxisError(f"unknown axis '{text}'")
        out.append(m.group(1))
        out.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return out


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models named anywhere in a type annotation (unions, lists, dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models(a)]


def _field_kind(models: list[type[BaseModel]],
                name: str) -> tuple[bool, list[type[BaseModel]]]:
    """Whether field ``name`` of any of ``models`` is a mapping (``dict[...]``), and the
    models its values may be."""
    for m in models:
        f = m.model_fields.get(name)
        if f is not None:
            ann = f.annotation
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            mapping = typing.get_origin(ann) is dict or any(
                typing.get_origin(a) is dict for a in args)
            return mapping, _models(ann)
    return False, []


def _set_path(data: dict[str, Any], full: dict[str, Any], name: str, value: Any) -> None:
    """Set ``name`` (a dotted path) in ``data``; the path must exist in ``full`` (the
    scenario dumped with every field)."""
    path = parse_path(name)
    models: list[type[BaseModel]] = [Scenario]
    cur_full: Any = full
    cur: Any = data
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(part, int):
            if not isinstance(cur_full, list) or part >= len(cur_full):
                raise AxisError(f"'{name}': no item [{part}] in the base scenario")
        elif not isinstance(cur_full, dict) or part not in cur_full:
            known = sorted(cur_full) if isinstance(cur_full, dict) else []
            hint = f" (known here: {', '.join(known)})" if known else ""
            raise AxisError(f"unknown axis '{name}': not one of {', '.join(CONVENIENCE_AXES)} "
                            f"and '{part}' is not a scenario field{hint}")
        if last:
            cur[part] = value
            return
        nxt_full = cur_full[part]
        if isinstance(part, int):
            nxt = cur[part]
        else:
            mapping, models = _field_kind(models, part)
            if part not in cur or cur[part] is None:
                # a model stays sparse (its unset fields keep their defaults and the
                # calibrated sample); a mapping (elasticity by sector) is copied whole
                cur[part] = ([] if isinstance(nxt_full, list) else
                             copy.deepcopy(nxt_full) if mapping else {})
            nxt = cur[part]
            if isinstance(nxt_full, list) and len(nxt) < len(nxt_full):
                nxt[:] = copy.deepcopy(nxt_full)  # a list is set whole
        cur, cur_full = nxt, nxt_full


def apply_axis(data: dict[str, Any], full: dict[str, Any], name: str, value: Any) -> None:
    """Apply one axis value to a scenario dict in place (see the module docstring).

    ``data`` is the scenario dumped with ``exclude_unset=True``; ``full`` with every field
    (to tell a real field path from a typo). Raises :class:`AxisError` with the rule.
    """
    shocks: list[dict[str, Any]] = data.setdefault("shocks", [])
    if name == "materials":
        mats = _as_list(value, "materials")
        _first(shocks, _RESTRICTION, _OUTAGE)["materials"] = mats
        data["materials"] = list(mats)
    elif name == "supplier":
        if not isinstance(value, str):
            raise AxisError(f"supplier must be an ISO3 code, got {value!r}")
        data["controller"] = value
        for s in shocks:
            if s.get("kind") == _RESTRICTION:
                s["controller"] = value
            elif s.get("kind") == _OUTAGE:
                s["country"] = value
    elif name == "share_lost":
        v = _number(value, "share_lost")
        if not 0 <= v <= 1:
            raise AxisError(f"share_lost must lie in [0, 1], got {value!r}")
        s = _first(shocks, _RESTRICTION, _OUTAGE)
        if s["kind"] == _RESTRICTION:
            s["approval_rate"] = round(1.0 - v, 12)
            s.pop("approval_path", None)
        else:
            s["share"] = v
    elif name == "duration_months":
        v = _number(value, "duration_months")
        s = _first(shocks, _RESTRICTION, _OUTAGE)
        s["duration_months"] = v
        s.pop("end", None)
    elif name in ("importer", "targets"):
        _first(shocks, _RESTRICTION)["targets"] = _as_list(value, name)
    else:
        _set_path(data, full, name, copy.deepcopy(value))


def scenario_dicts(base: Scenario) -> tuple[dict[str, Any], dict[str, Any]]:
    """The base scenario as (fields it sets, every field), JSON-mode dicts."""
    return (base.model_dump(mode="json", by_alias=True, exclude_unset=True),
            base.model_dump(mode="json", by_alias=True))


def point_scenario(base_set: dict[str, Any], base_full: dict[str, Any],
                   key: Mapping[str, Any]) -> Scenario:
    """The scenario of one key: axes applied in the key's order, then validated.

    Raises :class:`AxisError` (an axis cannot apply) or pydantic's ``ValidationError``.
    """
    data = copy.deepcopy(base_set)
    for name, value in key.items():
        apply_axis(data, base_full, name, value)
    return Scenario.model_validate(data)


def keys_of(axes: Mapping[str, Sequence[Any]], mode: str) -> list[dict[str, Any]]:
    """Keys of a sweep's points in order: the product (last axis fastest) or the list."""
    names = list(axes)
    if mode == "list":
        n = len(next(iter(axes.values())))
        return [{a: axes[a][i] for a in names} for i in range(n)]
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(axes[a] for a in names))]


def expand_axes(base: Scenario, axes: Mapping[str, Sequence[Any]], *, mode: str, draws: int,
                seed: int) -> list[Point]:
    """Every point of a sweep (no file: errors are raised as they come; a sweep file is
    checked with file:line:field messages by :func:`oreflow.sweep.load.load_sweep`)."""
    base_set, base_full = scenario_dicts(base)
    return [make_point(i, key, point_scenario(base_set, base_full, key), sweep_seed=seed,
                       draws=draws)
            for i, key in enumerate(keys_of(axes, mode))]
