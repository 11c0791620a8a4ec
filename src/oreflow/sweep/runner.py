"""Run a sweep: results streamed to chunked Parquet with a manifest, resumable after a kill.

Layout of an output directory::

    DIR/manifest.json        what the sweep is and which points each chunk holds
    DIR/part-00000.parquet   the rows of K completed points (sorted by point)
    DIR/part-00001.parquet   ...

A chunk is written to a temporary file, flushed to disk (fsync) and renamed into place; the
manifest is then rewritten the same way. A ``kill -9`` at any moment therefore leaves either
a chunk listed in the manifest (complete) or a file the manifest does not list (removed on
the next start). Starting again on the same directory runs only the points no listed chunk
holds; :meth:`SweepResult.table` reads every chunk sorted by point, so the final table is
identical to an uninterrupted run's whatever the completion order, the backend or the kills.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oreflow.errors import InputError

from .executor import Executor, LocalPool, SerialExecutor, default_workers
from .load import Sweep
from .points import Point
from .worker import run_indexed, run_point

__all__ = ["MANIFEST", "SweepResult", "check_out_dir", "key_columns", "read_table", "run_points",
           "run_sweep"]

#: Name of the manifest file in an output directory.
MANIFEST = "manifest.json"
#: Version of the manifest layout.
MANIFEST_FORMAT = 1
#: Seconds after which buffered points are written even if the chunk is not full.
FLUSH_SECONDS = 30.0

ProgressFn = Callable[[int, int], None]
_PART = "part-{:05d}.parquet"


def default_chunk(n_points: int) -> int:
    """Points per chunk: 1% of the sweep, between 10 and 1,000 (at most ~100 chunks)."""
    return min(1000, max(10, n_points // 100))


# --------------------------------------------------------------------------------------
# Key columns: one column per axis, with one type per column for the whole sweep
# --------------------------------------------------------------------------------------


def _kind(values: Sequence[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "float"
    return "str"


def _as_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return "+".join(v)
    return json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)


def key_columns(keys: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Axis name → column kind (``bool``, ``int``, ``float`` or ``str``; lists of names as
    ``Nd+Pr``, other values as JSON), from every point's key."""
    names: list[str] = []
    for k in keys:
        names += [a for a in k if a not in names]
    out: dict[str, str] = {}
    for a in names:
        kind = _kind([k[a] for k in keys if a in k])
        if any(a not in k for k in keys):  # missing values: NaN or None
            kind = "float" if kind in ("int", "float") else "str"
        out[a] = kind
    return out


_DTYPES = {"bool": "bool", "int": "int64", "float": "float64", "str": "object"}


def _with_keys(frame: pd.DataFrame, keys: Mapping[int, Mapping[str, Any]],
               kinds: dict[str, str]) -> pd.DataFrame:
    """``frame`` (rows of points) with one column per axis after ``key``.

    Raises
    ------
    oreflow.errors.InputError
        An axis is named like a result column (``material``, ``seed``...): it would shadow it.
    """
    clash = sorted(set(kinds).intersection(frame.columns))
    if clash:
        raise InputError(f"point keys name result column(s) {', '.join(clash)}; rename the "
                         "axis (e.g. 'materials')")
    idx = frame["point"].to_numpy()
    cols: dict[str, Any] = {}
    for a, kind in kinds.items():
        raw = [keys[int(i)].get(a) for i in idx]
        if kind == "str":
            cols[a] = pd.Series([None if v is None else _as_text(v) for v in raw],
                                dtype=object, index=frame.index)
        else:
            cols[a] = pd.Series([np.nan if v is None else v for v in raw],
                                dtype=_DTYPES[kind], index=frame.index)
    at = list(frame.columns).index("key") + 1
    head, tail = frame.iloc[:, :at], frame.iloc[:, at:]
    return pd.concat([head, pd.DataFrame(cols, index=frame.index), tail], axis=1)


def _sorted(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Frames concatenated and sorted by point (rows within a point keep their order)."""
    parts = [f for f in frames if len(f)]
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values("point", kind="stable").reset_index(drop=True)


def _outputs(sweep_outputs: Any) -> tuple[Any, Any] | None:
    if sweep_outputs is None:
        return None
    m, s = sweep_outputs.materials, sweep_outputs.segments
    return None if m is None and s is None else (tuple(m) if m else None,
                                                 tuple(s) if s else None)


# --------------------------------------------------------------------------------------
# In memory
# --------------------------------------------------------------------------------------


def run_points(points: Sequence[Point], *, executor: Executor | None = None,
               workers: int | None = None, progress: ProgressFn | None = None,
               outputs: tuple[Sequence[str] | None, Sequence[str] | None] | None = None,
               ) -> pd.DataFrame:
    """Run points and return their rows in one table, sorted by point (small sweeps).

    Parameters
    ----------
    points : sequence of Point
        Built with :func:`oreflow.sweep.points.make_point` (unique indices).
    executor : Executor, optional
        Where to run (default: a :class:`~oreflow.sweep.executor.LocalPool` of ``workers``
        processes, or in process for one worker); an executor given is not closed.
    workers : int, optional
        Workers of the default executor (default: the CPUs available).
    progress : callable, optional
        ``progress(done, total)`` after each point.
    outputs : tuple, optional
        (materials, segments) to keep; none = every row.

    Returns
    -------
    pandas.DataFrame
        Columns: ``point``, ``key`` (canonical JSON), one per axis, ``seed``, then
        :meth:`~oreflow.simulate.result.Result.summary`'s columns and ``shortfall_t_mean``,
        ``cost_musd_mean``, ``lost_output_t_mean``. Identical whatever the executor.
    """
    by_index = {p.index: p.key for p in points}
    if len(by_index) != len(points):
        raise InputError("points must have distinct indices")
    kinds = key_columns(list(by_index.values()))
    own = executor is None
    ex = executor if executor is not None else _default_executor(
        workers, len(points), points[0] if points else None)
    frames: list[pd.DataFrame] = []
    try:
        for k, frame in enumerate(ex.submit_all(partial(run_point, outputs=outputs), points), 1):
            frames.append(_with_keys(frame, by_index, kinds))
            if progress is not None:
                progress(k, len(points))
    finally:
        if own:
            ex.close()
    return _sorted(frames)


def _default_executor(workers: int | None, n_points: int, first: Point | None) -> Executor:
    n = int(workers or default_workers())
    if n < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    if n == 1 or n_points <= 1:
        return SerialExecutor()
    return LocalPool(n, warm=first.scenario if first is not None else None)


# --------------------------------------------------------------------------------------
# On disk, resumable
# --------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """What a sweep run left in its directory.

    Attributes
    ----------
    out_dir : pathlib.Path
        The output directory.
    manifest : dict
        The manifest as written last.
    points_total : int
        Points of the sweep.
    points_done : int
        Points whose rows are on disk.
    points_run : int
        Points run by this call (the rest were there already: resumed).
    elapsed_s : float
        Wall time of this call [s].
    """

    out_dir: Path
    manifest: dict[str, Any]
    points_total: int
    points_done: int
    points_run: int
    elapsed_s: float

    @property
    def complete(self) -> bool:
        """True when every point is on disk."""
        return self.points_done == self.points_total

    def table(self) -> pd.DataFrame:
        """Every row on disk, sorted by point (:func:`read_table`)."""
        return read_table(self.out_dir)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write through ``path.tmp``: write, fsync, rename over ``path``, fsync the directory."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    with tmp.open("rb+") as fh:
        os.fsync(fh.fileno())
    tmp.replace(path)
    _fsync_dir(path.parent)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    _write_atomic(path, lambda p: p.write_text(json.dumps(payload, indent=1) + "\n",
                                               encoding="utf-8"))


def read_manifest(out_dir: str | Path) -> dict[str, Any] | None:
    """The manifest of a sweep directory, or ``None`` if it has none.

    Raises ``InputError`` if the file is not a sweep manifest."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a sweep manifest ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise InputError(f"{path}: not a sweep manifest of format {MANIFEST_FORMAT}")
    return data


def read_table(out_dir: str | Path) -> pd.DataFrame:
    """Every chunk listed in a sweep directory's manifest, concatenated and sorted by point.

    The same set of points gives the same table, byte for byte, whatever the order they
    completed in, the chunks they landed in, or the backend that ran them.
    """
    man = read_manifest(out_dir)
    if man is None:
        raise InputError(f"{out_dir}: no {MANIFEST}: not a sweep output directory")
    root = Path(out_dir)
    return _sorted(pd.read_parquet(root / c["file"]) for c in man["chunks"])


def _provenance() -> dict[str, Any]:
    from oreflow import __version__
    from oreflow.data.store import resolve_store

    st = resolve_store(None)
    return {"package_version": __version__, "dataset_version": st.version,
            "dataset_fingerprint": st.fingerprint(),
            "engine": "oreflow.simulate (monthly Monte Carlo)"}


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def check_out_dir(sweep: Sweep, out_dir: str | Path, *, resume: bool = True) -> None:
    """Check, without touching it, that ``out_dir`` can take this sweep (as
    :func:`run_sweep` would): new, empty, or holding this same sweep (or any sweep with
    ``resume=False``). Lets a caller refuse before starting workers."""
    _prepare(Path(out_dir), sweep, resume, _provenance(), dry=True)


def _prepare(out: Path, sweep: Sweep, resume: bool, prov: dict[str, Any], *,
             dry: bool = False) -> dict[str, Any]:
    """The manifest to continue from (an existing one, checked) or a new one; ``dry``:
    delete nothing."""
    man = read_manifest(out) if out.exists() else None
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory")
    if man is None and out.exists() and any(out.iterdir()):
        raise InputError(f"--out {out}: not empty and holds no sweep ({MANIFEST}); choose an "
                         "empty or new directory")
    if man is not None and not resume:
        if dry:
            return man
        for c in man.get("chunks", []):
            (out / str(c["file"])).unlink(missing_ok=True)
        man = None
    if man is not None:
        if man.get("spec_hash") != sweep.hash:
            raise InputError(
                f"--out {out}: holds sweep '{man.get('name')}' with spec hash "
                f"{man.get('spec_hash')}; this sweep's is {sweep.hash} (the spec or its base "
                "scenario changed): use another --out, or --no-resume to start over")
        if man.get("dataset_fingerprint") != prov["dataset_fingerprint"] or man.get(
                "package_version") != prov["package_version"]:
            raise InputError(
                f"--out {out}: was started with oreflow {man.get('package_version')} and "
                f"dataset {man.get('dataset_fingerprint')}; now {prov['package_version']} and "
                f"{prov['dataset_fingerprint']}: results would mix; use another --out, or "
                "--no-resume to start over")
        return man
    return {"format": MANIFEST_FORMAT, "name": sweep.spec.name, "spec_hash": sweep.hash,
            "spec": sweep.spec.model_dump(mode="json"), "source": sweep.source,
            "base_scenario": sweep.base.name, "base_scenario_hash": sweep.base.hash(),
            **prov, "points_total": len(sweep), "draws": sweep.spec.draws,
            "seed": sweep.spec.seed, "seeds": "oreflow.sweep.points.point_seed(seed, key)",
            "created_utc": _now(), "updated_utc": _now(), "complete": False, "chunks": []}


def _clean(out: Path, man: dict[str, Any]) -> None:
    """Remove what a kill left behind: temporary files and chunks the manifest does not
    list."""
    listed = {str(c["file"]) for c in man["chunks"]}
    for p in out.iterdir():
        if p.name.endswith(".tmp") or (p.name.startswith("part-")
                                       and p.name.endswith(".parquet")
                                       and p.name not in listed):
            p.unlink(missing_ok=True)


def run_sweep(sweep: Sweep, out_dir: str | Path, *, executor: Executor | None = None,
              workers: int | None = None, resume: bool = True,
              progress: ProgressFn | None = None,
              chunk_points: int | None = None) -> SweepResult:
    """Run a sweep into ``out_dir``, streaming results to chunked Parquet.

    Parameters
    ----------
    sweep : Sweep
        From :func:`oreflow.sweep.load.load_sweep` (already checked).
    out_dir : str or pathlib.Path
        Output directory: new, empty, or holding this sweep (then resumed).
    executor : Executor, optional
        Where points run (default a :class:`~oreflow.sweep.executor.LocalPool` of
        ``workers`` processes; one worker runs in process); an executor given is not closed.
    workers : int, optional
        Workers of the default executor (default: the CPUs available).
    resume : bool, default True
        Continue a sweep found in ``out_dir``; false: delete its chunks and start over.
    progress : callable, optional
        ``progress(done, total)`` in points, resumed ones included.
    chunk_points : int, optional
        Points per Parquet chunk (default :func:`default_chunk`); a chunk is also written
        after :data:`FLUSH_SECONDS` of work.

    Returns
    -------
    SweepResult

    Raises
    ------
    oreflow.errors.InputError
        ``out_dir`` holds something else (another sweep, other files), or was started with
        another package or dataset version.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    prov = _provenance()
    man = _prepare(out, sweep, resume, prov)
    out.mkdir(parents=True, exist_ok=True)
    _clean(out, man)
    _write_json(out / MANIFEST, man)
    done = {int(i) for c in man["chunks"] for i in c["points"]}
    total = len(sweep)
    todo = sweep.iter_points(skip=done)  # built one at a time, as the executor asks
    k = int(chunk_points or default_chunk(total))
    if k < 1:
        raise InputError(f"chunk_points must be at least 1, got {chunk_points}")
    by_index = dict(enumerate(sweep.keys))
    kinds = key_columns(sweep.keys)
    n_done = len(done)
    if progress is not None:
        progress(n_done, total)
    buffer: list[pd.DataFrame] = []
    buffered: list[int] = []
    last = time.monotonic()

    def flush() -> None:
        nonlocal last
        if not buffered:
            return
        name = _PART.format(len(man["chunks"]))
        frame = _sorted(buffer)
        if frame.empty:  # every row filtered out by outputs: keep the columns
            frame = buffer[0].iloc[:0]
        _write_atomic(out / name, lambda p: frame.to_parquet(p, index=False))
        man["chunks"].append({"file": name, "points": sorted(buffered), "rows": len(frame)})
        man["updated_utc"] = _now()
        _write_json(out / MANIFEST, man)
        buffer.clear()
        buffered.clear()
        last = time.monotonic()

    left = total - len(done)
    own = executor is None and left > 0
    ex = executor if executor is not None else (
        _default_executor(workers, left, sweep.point(0)) if left else SerialExecutor())
    fn = partial(run_indexed, outputs=_outputs(sweep.spec.outputs))
    try:
        for index, frame in ex.submit_all(fn, todo):
            buffer.append(_with_keys(frame, by_index, kinds))
            buffered.append(index)
            n_done += 1
            if progress is not None:
                progress(n_done, total)
            if len(buffered) >= k or time.monotonic() - last >= FLUSH_SECONDS:
                flush()
        flush()
    finally:
        if own:
            ex.close()
    man["complete"] = n_done == total
    man["updated_utc"] = _now()
    _write_json(out / MANIFEST, man)
    return SweepResult(out_dir=out, manifest=man, points_total=total, points_done=n_done,
                       points_run=n_done - len(done), elapsed_s=time.perf_counter() - t0)

