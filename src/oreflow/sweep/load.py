"""Load a sweep file and check every point before any work: :func:`load_sweep`.

Order of the checks (all problems of a stage are reported together, one line each):

1. the file itself (size, YAML safety, schema of :class:`~oreflow.sweep.spec.SweepSpec`);
2. the base scenario (built-in name, file relative to the sweep file, or inline mapping);
3. the axes: known names, list-mode lengths, the number of points
   (:data:`~oreflow.sweep.spec.MAX_POINTS`) and draws x points
   (:data:`~oreflow.sweep.spec.MAX_DRAW_POINTS`);
4. each axis value applied alone to the base (errors name ``axes.NAME[i]`` and its line);
5. every point's scenario validated by the Scenario model, its regions resolved
   (supplier, importers) and its run limits checked (horizon, memory).
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from oreflow.errors import InputError
from oreflow.simulate.scenario import MATERIALS, Scenario, ScenarioError, list_builtin
from oreflow.yamlio import FieldPath

from .points import (
    CONVENIENCE_AXES,
    AxisError,
    Point,
    apply_axis,
    canonical_key,
    keys_of,
    make_point,
    parse_path,
    point_scenario,
    scenario_dicts,
)
from .spec import (
    MAX_DRAW_POINTS,
    MAX_POINTS,
    SweepSpec,
    SweepSpecError,
    _clean_loc,
    field_text,
    problem,
    read_spec,
    spec_hash,
    validation_problems,
)

__all__ = ["Sweep", "load_sweep", "resolve_base"]

ROLES = ("controller", "rest", "targets")


@dataclass(frozen=True)
class Sweep:
    """A checked sweep, ready to run. Points are built on demand (:meth:`point`,
    :meth:`iter_points`) from their keys, so a sweep of 100,000 points holds 100,000 small
    keys, not 100,000 scenarios (about 20 kB each).

    Attributes
    ----------
    spec : SweepSpec
        The sweep file's content.
    base : Scenario
        The base scenario.
    keys : tuple of dict
        Every point's key (axis name → value), in sweep order: point ``i`` has ``keys[i]``.
    source : str
        The sweep file (for messages and the manifest).
    hash : str
        :func:`~oreflow.sweep.spec.spec_hash`: identifies the results (resume checks it).
    """

    spec: SweepSpec
    base: Scenario
    keys: tuple[dict[str, Any], ...]
    source: str
    hash: str
    _dicts: tuple[dict[str, Any], dict[str, Any]] = field(init=False, repr=False,
                                                          compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_dicts", scenario_dicts(self.base))

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def axis_names(self) -> list[str]:
        """The axes, in file order (the key columns of the result table)."""
        return list(self.spec.axes)

    def point(self, index: int) -> Point:
        """Point ``index``: its scenario built from the base and its key, its seed from the
        key (:func:`~oreflow.sweep.points.point_seed`)."""
        key = self.keys[index]
        sc = point_scenario(*self._dicts, key)
        return make_point(index, key, sc, sweep_seed=self.spec.seed, draws=self.spec.draws)

    def iter_points(self, skip: Collection[int] = ()) -> Iterator[Point]:
        """Every point in order, built one at a time, except the indices in ``skip``."""
        for i in range(len(self.keys)):
            if i not in skip:
                yield self.point(i)

    @property
    def points(self) -> list[Point]:
        """Every point, built at once (small sweeps, tests; the runner iterates)."""
        return list(self.iter_points())

    def head(self, n: int) -> Sweep:
        """The sweep of its first ``n`` points (same spec hash: a prefix of the same
        results; benchmarks and tests)."""
        return Sweep(spec=self.spec, base=self.base, keys=self.keys[:n], source=self.source,
                     hash=self.hash)


def _scenario_rule(exc: ValidationError, data: Any) -> str:
    """The scenario's errors in one line; a rule broken by several fields (a material of
    both the scenario and its shock) is said once, under its first field."""
    parts: dict[str, str] = {}
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.setdefault(msg, f"{field_text(_clean_loc(tuple(err['loc']), data))}: {msg}")
    return "the point's scenario is invalid: " + "; ".join(parts.values())


def resolve_base(spec: SweepSpec, root: Path, source: str,
                 lines: dict[FieldPath, int]) -> Scenario:
    """The base scenario of a spec: inline mapping, a YAML file relative to ``root``, or a
    built-in name. Raises :class:`SweepSpecError` naming the ``base`` line."""
    base = spec.base
    if isinstance(base, dict):
        try:
            return Scenario.model_validate(base)
        except ValidationError as exc:
            raise SweepSpecError(validation_problems(exc, base, source, lines, ("base",),
                                                     model=Scenario)) from None
    path = Path(base)
    if not path.is_absolute():
        path = root / path
    if path.suffix in {".yaml", ".yml"} or path.is_file():
        if not path.is_file():
            raise SweepSpecError([problem(source, lines, ("base",),
                                          f"no scenario file {base!r} (paths are relative to "
                                          "the sweep file)")])
        try:
            return Scenario.from_yaml(path)
        except ScenarioError as exc:
            raise SweepSpecError([problem(source, lines, ("base",), f"base scenario {base!r}"
                                          " is invalid:"), *exc.lines()]) from None
    if base not in list_builtin():
        try:
            Scenario.builtin(base)
        except ScenarioError as exc:
            raise SweepSpecError([problem(source, lines, ("base",), str(exc))]) from None
    return Scenario.builtin(base)


def _check_axes(spec: SweepSpec, base: Scenario, source: str,
                lines: dict[FieldPath, int]) -> None:
    """Axis names, list lengths, point counts and each value applied alone."""
    out: list[str] = []
    base_set, base_full = scenario_dicts(base)
    for name in spec.axes:
        if name in CONVENIENCE_AXES:
            continue
        try:
            parse_path(name)
            apply_axis(copy.deepcopy(base_set), base_full, name, None)
        except AxisError as exc:
            out.append(problem(source, lines, ("axes", name), str(exc)))
    if out:
        raise SweepSpecError(out)
    sizes = {a: len(v) for a, v in spec.axes.items()}
    if spec.mode == "list" and len(set(sizes.values())) > 1:
        first = next(iter(sizes))
        for a, n in sizes.items():
            if n != sizes[first]:
                out.append(problem(source, lines, ("axes", a),
                                   f"mode list needs every axis the same length: '{a}' has "
                                   f"{n} values, '{first}' has {sizes[first]}"))
        raise SweepSpecError(out)
    n_points = next(iter(sizes.values())) if spec.mode == "list" else 1
    if spec.mode == "product":
        for n in sizes.values():
            n_points *= n
    if n_points > MAX_POINTS:
        raise SweepSpecError([problem(source, lines, ("axes",),
                                      f"{n_points:,} points; a sweep may have at most "
                                      f"{MAX_POINTS:,} (split it into several sweeps)")])
    if n_points * spec.draws > MAX_DRAW_POINTS:
        raise SweepSpecError([problem(source, lines, ("draws",),
                                      f"{n_points:,} points x {spec.draws:,} draws = "
                                      f"{n_points * spec.draws:,} draw-points; at most "
                                      f"{MAX_DRAW_POINTS:,} (fewer draws or points)")])
    from oreflow.simulate.compile import resolve_regions

    regions: dict[tuple[str, tuple[str, ...]], str | None] = {}
    for name, values in spec.axes.items():
        for i, value in enumerate(values):
            try:
                sc = point_scenario(base_set, base_full, {name: value})
                rk = (sc.controller, sc.named_targets())
                if rk not in regions:  # supplier and importers: known countries or blocs
                    try:
                        resolve_regions(sc)
                        regions[rk] = None
                    except InputError as exc:
                        regions[rk] = str(exc)
                if regions[rk] is not None:
                    out.append(problem(source, lines, ("axes", name, i), str(regions[rk])))
            except AxisError as exc:
                out.append(problem(source, lines, ("axes", name, i), str(exc)))
            except ValidationError as exc:
                out.append(problem(source, lines, ("axes", name, i),
                                   _scenario_rule(exc, base_full)))
    if out:
        raise SweepSpecError(out)


def _check_outputs(spec: SweepSpec, source: str, lines: dict[FieldPath, int]) -> None:
    if spec.outputs is None or spec.outputs.materials is None:
        return
    out = [problem(source, lines, ("outputs", "materials", i),
                   f"unknown material {m!r} (use codes such as Dy, Ga, NdFeB)")
           for i, m in enumerate(spec.outputs.materials) if m not in MATERIALS]
    if out:
        raise SweepSpecError(out)


class _PointChecks:
    """Regions (supplier, importers) and run limits of a point's scenario, each distinct
    case checked once."""

    def __init__(self, source: str, lines: dict[FieldPath, int]) -> None:
        self.source = source
        self.lines = lines
        self.regions: dict[tuple[str, tuple[str, ...]], str | None] = {}
        self.limits: dict[tuple[int, int, int], str | None] = {}

    def __call__(self, sc: Scenario, ck: str, draws: int) -> list[str]:
        from oreflow.simulate.compile import resolve_regions
        from oreflow.simulate.run import check_limits

        rk = (sc.controller, sc.named_targets())
        if rk not in self.regions:
            try:
                resolve_regions(sc)
                self.regions[rk] = None
            except InputError as exc:
                self.regions[rk] = str(exc)
        lk = (sc.horizon_months, sc.step_months, len(sc.material_list()))
        if lk not in self.limits:
            try:
                check_limits(sc, draws)
                self.limits[lk] = None
            except InputError as exc:
                self.limits[lk] = str(exc)
        return [problem(self.source, self.lines, ("axes",), f"point {ck}: {why}")
                for why in (self.regions[rk], self.limits[lk]) if why is not None]


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep file and check everything a run needs, before any work.

    Parameters
    ----------
    path : str or pathlib.Path
        The sweep YAML file.

    Returns
    -------
    Sweep

    Raises
    ------
    SweepSpecError
        One line per problem: ``FILE:LINE: field 'PATH': rule`` (exit code 2 in the CLI).
    """
    source = str(path)
    spec, lines, _ = read_spec(path)
    base = resolve_base(spec, Path(path).resolve().parent, source, lines)
    _check_axes(spec, base, source, lines)
    _check_outputs(spec, source, lines)
    base_set, base_full = scenario_dicts(base)
    keys: list[dict[str, Any]] = []
    out: list[str] = []
    seen: dict[str, int] = {}
    checks = _PointChecks(source, lines)
    for i, key in enumerate(keys_of(spec.axes, spec.mode)):
        ck = canonical_key(key)
        if ck in seen:
            out.append(problem(source, lines, ("axes",), f"point {i} repeats point {seen[ck]} "
                                                         f"({ck}): each point must differ"))
            continue
        seen[ck] = i
        try:
            sc = point_scenario(base_set, base_full, key)
        except (AxisError, ValidationError) as exc:
            rule = (_scenario_rule(exc, base_full) if isinstance(exc, ValidationError)
                    else str(exc))
            out.append(problem(source, lines, ("axes",), f"point {ck}: {rule}"))
            continue
        out += checks(sc, ck, spec.draws)  # the scenario is dropped: rebuilt when run
        keys.append(key)
        if len(out) >= 20:
            break
    if out:
        raise SweepSpecError(list(dict.fromkeys(out)))
    return Sweep(spec=spec, base=base, keys=tuple(keys), source=source,
                 hash=spec_hash(spec, base.hash()))
