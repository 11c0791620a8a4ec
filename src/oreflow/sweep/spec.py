"""The sweep specification: a base scenario plus axes, read from YAML and checked up front.

A sweep file names a base scenario (a built-in name, a YAML path relative to the sweep file,
or an inline scenario mapping), the draws per point, the sweep seed, and axes (name → list of
values) expanded as a product or as a list (see :mod:`oreflow.sweep.points`). Every problem
is found before any work starts and reported one line each as
``spec.yaml:LINE: field 'axes.share_lost[2]': rule`` (a :class:`SweepSpecError`, exit code 2
in the CLI).

Examples
--------
>>> spec = SweepSpec.model_validate({"name": "demo", "base": "full-embargo", "draws": 100,
...                                  "axes": {"share_lost": [0.5, 1.0]}})
>>> spec.mode, spec.seed
('product', 0)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from oreflow.base import Model
from oreflow.errors import InputError, did_you_mean
from oreflow.yamlio import FieldPath, YamlInputError, line_map, parse_yaml, read_text

__all__ = [
    "MAX_DRAW_POINTS",
    "MAX_POINTS",
    "Outputs",
    "SweepSpec",
    "SweepSpecError",
    "field_text",
    "locate",
    "read_spec",
]

#: Most points a sweep may have (the product of its axes' lengths, or a list's length).
MAX_POINTS: int = 100_000
#: Most draws x points a sweep may ask for: 1e9 draw-points, about half a day on 2 cores
#: for one-material points (a one-material point of 1,000 draws takes about 0.1 s).
MAX_DRAW_POINTS: int = 1_000_000_000
#: Most draws per point (as ``oreflow stress`` allows in practice: memory is checked too).
MAX_DRAWS: int = 1_000_000


class SweepSpecError(InputError):
    """A sweep file is invalid; one line per problem, each naming file, line and field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def lines(self) -> list[str]:
        """One line per problem."""
        return list(self.problems)


class Outputs(Model):
    """Which rows of each point's summary to keep (default: every material and segment)."""

    materials: list[str] | None = None
    """Materials to keep (codes such as ``Dy``, ``NdFeB``); none = all simulated."""
    segments: list[str] | None = None
    """Segments to keep, by role (``controller``, ``rest``, ``targets``) or by region name
    (``CHN``, ``USA`` …); none = all."""


class SweepSpec(Model):
    """A sweep: a base scenario, axes of values, draws per point and the sweep seed."""

    name: str = Field(min_length=1)
    """Identifier of the sweep (recorded in the manifest)."""
    base: str | dict[str, Any]
    """Base scenario: a built-in name (``oreflow scenarios``), a YAML path relative to the
    sweep file, or an inline scenario mapping."""
    draws: int = Field(default=1000, ge=1, le=MAX_DRAWS)
    """Monte Carlo draws per point."""
    seed: int = Field(default=0, ge=0, lt=2**63)
    """Sweep seed; each point's seed derives from it and the point's key
    (:func:`oreflow.sweep.points.point_seed`)."""
    mode: Literal["product", "list"] = "product"
    """``product``: every combination of the axes' values; ``list``: the i-th values of all
    axes form point i (all axes the same length)."""
    axes: dict[str, list[Any]] = Field(min_length=1)
    """Axis name → values. Names: ``materials``, ``supplier``, ``share_lost``,
    ``duration_months``, ``importer`` (or ``targets``), or a dotted path into the scenario
    (``horizon_months``, ``shocks[0].approval_rate``, ``parameters.leakage``)."""
    outputs: Outputs | None = None
    """Rows to keep of each point's summary (materials, segments)."""

    @field_validator("axes")
    @classmethod
    def _axes(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, values in v.items():
            if not values:
                raise ValueError(f"axis '{name}' has no values")
        return v

    def canonical(self) -> str:
        """The spec as canonical JSON (sorted keys), the input of :meth:`hash`."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
                          default=str)


def field_text(path: FieldPath) -> str:
    """A field path as text: ``('axes', 'share_lost', 2)`` → ``axes.share_lost[2]``."""
    text = ""
    for p in path:
        if isinstance(p, int):
            text += f"[{p}]"
        else:
            text += p if not text else f".{p}"
    return text or "<root>"


def locate(lines: dict[FieldPath, int], path: FieldPath) -> int | None:
    """Line of the longest prefix of ``path`` found in a :func:`~oreflow.yamlio.line_map`."""
    for k in range(len(path), -1, -1):
        if path[:k] in lines:
            return lines[path[:k]]
    return None


def problem(source: str, lines: dict[FieldPath, int], path: FieldPath, rule: str) -> str:
    """One error line: ``source:LINE: field 'PATH': rule``."""
    line = locate(lines, path)
    where = source if line is None else f"{source}:{line}"
    return f"{where}: field '{field_text(path)}': {rule}"


def _clean_loc(loc: Sequence[int | str], data: Any) -> FieldPath:
    """A pydantic error location with its union tags dropped (kept: keys and indices that
    exist in ``data``, or the last part)."""
    out: list[str | int] = []
    cur = data
    for i, part in enumerate(loc):
        found = (isinstance(cur, dict) and isinstance(part, str) and part in cur) or (
            isinstance(cur, list) and isinstance(part, int) and part < len(cur))
        if found:
            out.append(part)
            cur = cur[part]
        elif i == len(loc) - 1 and not ("[" in str(part) or "(" in str(part)):
            out.append(part)
        # else: a union tag (or a key the data lacks): stay where we are
    return tuple(out)


def validation_problems(exc: ValidationError, data: Any, source: str,
                        lines: dict[FieldPath, int], prefix: FieldPath = (),
                        model: type[Model] | None = None) -> list[str]:
    """One line per pydantic error, located through ``lines`` (paths under ``prefix``)."""
    from oreflow.yamlio import known_fields

    out: list[str] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = (*prefix, *_clean_loc(loc, data))
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden" and loc and model is not None:
            name = str(loc[-1])
            msg = f"unknown field '{name}'" + did_you_mean(name, known_fields(model, loc))
        line = problem(source, lines, path, msg)
        if line not in out:
            out.append(line)
    return out


def read_spec(path: str | Path) -> tuple[SweepSpec, dict[FieldPath, int], Any]:
    """Read and validate a sweep file's own fields (not yet its scenarios).

    Returns
    -------
    tuple
        The :class:`SweepSpec`, the line map of the file (:func:`oreflow.yamlio.line_map`)
        and the raw data (for locating later errors).

    Raises
    ------
    SweepSpecError
        The file cannot be read or parsed safely (size, aliases, depth, repeated keys), is
        not a mapping, or breaks the schema; one line per problem.
    """
    source = str(path)
    try:
        text = read_text(path, what="sweep file")
        data, node = parse_yaml(text, source=source)
    except YamlInputError as exc:
        raise SweepSpecError([str(exc)]) from None
    if not isinstance(data, dict) or node is None:
        raise SweepSpecError([f"{source}:1: a sweep file must be a mapping (name, base, "
                              "draws, seed, mode, axes)"])
    lines = line_map(node) if isinstance(node, yaml.Node) else {}
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise SweepSpecError(validation_problems(exc, data, source, lines,
                                                 model=SweepSpec)) from None
    return spec, lines, data


def spec_hash(spec: SweepSpec, base_hash: str) -> str:
    """Identity of a sweep's results: 16 hex digits of SHA-256 over the spec's canonical
    JSON and the base scenario's content hash (a changed base file changes it)."""
    blob = json.dumps({"spec": spec.canonical(), "base": base_hash}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
