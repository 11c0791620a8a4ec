"""Sweeps: thousands of scenarios from one base, resumable, on a process pool or Dask.

Public API
----------
- :func:`load_sweep` (a sweep YAML file, checked before any work) -> :class:`Sweep`
- :func:`run_sweep` (chunked Parquet + manifest, resumable) -> :class:`SweepResult`
  (``table()``); :func:`read_table` (a sweep directory)
- :func:`run_points` (in memory) with :func:`make_point` / :class:`Point`
  (each point's seed from the sweep seed and its key: :func:`point_seed`)
- executors: :class:`LocalPool`, :class:`SerialExecutor`, :class:`DaskExecutor`
  (:class:`Executor` is the seam)

See ``docs/sweeps.md``.
"""

from __future__ import annotations

from .executor import DaskExecutor, Executor, LocalPool, SerialExecutor, make_executor
from .load import Sweep, load_sweep
from .points import Point, canonical_key, expand_axes, make_point, point_seed
from .runner import SweepResult, read_table, run_points, run_sweep
from .spec import SweepSpec, SweepSpecError

__all__ = [
    "DaskExecutor",
    "Executor",
    "LocalPool",
    "Point",
    "SerialExecutor",
    "Sweep",
    "SweepResult",
    "SweepSpec",
    "SweepSpecError",
    "canonical_key",
    "expand_axes",
    "load_sweep",
    "make_executor",
    "make_point",
    "point_seed",
    "read_table",
    "run_points",
    "run_sweep",
]
