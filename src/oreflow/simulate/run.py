"""The entry point of the disruption engine: :func:`simulate` and its executor.

Builds (or reuses) the baseline from a store, compiles the scenario, samples the draws and
runs chunks of draws on a thread pool; results do not depend on the number of workers or the
chunk size. Baselines are cached per dataset fingerprint, so a user import in the same
process is seen by the next run.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError

from .baseline import Baseline, Regions
from .baseline_data import build_baseline
from .compile import compile_plan, resolve_regions
from .draws import entropy_of, sample_draws
from .engine import run_plan
from .result import Result
from .scenario import Scenario
from .state import RunArrays

__all__ = [
    "BYTES_PER_CELL",
    "available_memory",
    "check_limits",
    "estimate_bytes",
    "mass_balance_residual",
    "max_horizon",
    "redirect_residual",
    "simulate",
]

F = NDArray[np.float64]
ProgressFn = Callable[[int, int], None]


#: Bytes held per (draw, step, material, segment) by a run and its summary: ten float32
#: paths and a uint8 flag in :class:`~oreflow.simulate.state.RunArrays` (41 bytes), the
#: float64 price multiple (8) and the float64 temporaries of :meth:`Result.summary` (about 24).
BYTES_PER_CELL = 73
#: Share of the available memory a run may plan to use.
MEMORY_SHARE = 0.8


def max_horizon() -> int:
    """The longest horizon a scenario may have [months]: the bound of
    ``Scenario.horizon_months``'s validation (600)."""
    for meta in Scenario.model_fields["horizon_months"].metadata:
        le = getattr(meta, "le", None)
        if le is not None:
            return int(le)
    return 600  # pragma: no cover - the field always carries its bound


def available_memory() -> int | None:
    """Memory this process may still use [bytes]: ``MemAvailable`` from /proc/meminfo,
    else the physical memory (``os.sysconf``); ``None`` when neither is known."""
    try:
        with Path("/proc/meminfo").open(encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


def estimate_bytes(draws: int, steps: int, materials: int) -> int:
    """Memory a run of ``draws`` x ``steps`` x ``materials`` x 3 segments needs [bytes]
    (:data:`BYTES_PER_CELL` per cell)."""
    return int(draws) * int(steps) * int(materials) * 3 * BYTES_PER_CELL


def _size(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError  # pragma: no cover


def check_limits(scenario: Scenario, draws: int, seed: int | None = None, *,
                 materials: int | None = None, memory: int | None = None) -> None:
    """Refuse a run that cannot work, before any work: the horizon beyond the scenario
    bound (:func:`max_horizon`), fewer than one draw, a negative seed, or result arrays
    larger than :data:`MEMORY_SHARE` of the available memory.

    Parameters
    ----------
    scenario : Scenario
        The scenario as it will run (horizon override applied).
    draws : int
        Monte Carlo draws.
    seed : int, optional
        Seed entropy (must be non-negative).
    materials : int, optional
        Materials simulated (default: the scenario's list).
    memory : int, optional
        Available memory [bytes] (default :func:`available_memory`).

    Raises
    ------
    oreflow.errors.InputError
        With the limit and what to change.
    """
    bound = max_horizon()
    h = scenario.horizon_months
    if isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= bound:
        raise InputError(f"horizon {h!r} months is outside 1..{bound} months")
    if h % scenario.step_months:
        raise InputError(f"horizon {h} months is not a multiple of the step "
                         f"({scenario.step_months} months)")
    if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < 1:
        raise InputError(f"draws must be a positive integer, got {draws!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)
                             or seed < 0):
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    n_m = materials if materials is not None else len(scenario.material_list())
    steps = h // scenario.step_months
    need = estimate_bytes(int(draws), steps, n_m)
    have = memory if memory is not None else available_memory()
    if have is not None and need > MEMORY_SHARE * have:
        fit = int(MEMORY_SHARE * have // max(estimate_bytes(1, steps, n_m), 1))
        raise InputError(
            f"{int(draws):,} draws x {steps} months x {n_m} materials x 3 segments need about "
            f"{_size(need)} of memory; {_size(have)} is available: use at most "
            f"{max(fit, 0):,} draws (--draws), or fewer months or materials")


_BASELINES: dict[tuple[str, int, tuple[str, ...], Regions], Baseline] = {}
_BASELINES_LOCK = threading.Lock()


def cached_baseline(
    year: int, materials: tuple[str, ...], regions: Regions, *, store: Store | None = None
) -> Baseline:
    """:func:`build_baseline` cached per (dataset fingerprint, year, materials, regions).

    Keyed by the store's fingerprint (embedded files and user layer), so an import in the same
    process gives a new baseline instead of a stale one.
    """
    st = resolve_store(store)
    key = (st.fingerprint(), year, materials, regions)
    with _BASELINES_LOCK:
        hit = _BASELINES.get(key)
    if hit is None:
        hit = build_baseline(year, materials, regions, store=st)
        with _BASELINES_LOCK:
            if len(_BASELINES) >= 16:
                _BASELINES.pop(next(iter(_BASELINES)))
            _BASELINES[key] = hit
    return hit


def simulate(
    scenario: Scenario | str | Path,
    draws: int = 1000,
    seed: int | None = None,
    horizon: int | None = None,
    progress: ProgressFn | None = None,
    *,
    rng: np.random.Generator | int | None = None,
    baseline: Baseline | None = None,
    workers: int | None = None,
    chunk_size: int = 2500,
    store: Store | None = None,
    values: Mapping[str, NDArray[np.float64]] | None = None,
    hold: bool = False,
) -> Result:
    """Run a scenario over Monte Carlo draws.

    Parameters
    ----------
    scenario : Scenario, str or pathlib.Path
        A scenario, a built-in name or a YAML path.
    draws : int, default 1000
        Number of Monte Carlo draws.
    seed : int, optional
        Seed entropy (non-negative); recorded in the result. ``None`` draws fresh entropy.
    horizon : int, optional
        Override the scenario horizon [months]; at most :func:`max_horizon`.
    progress : callable, optional
        ``progress(done, total)`` after each step of each chunk.
    rng : numpy.random.Generator or int, optional
        Keyword-only alternative to ``seed``.
    baseline : Baseline, optional
        Use this baseline instead of building one from the embedded data.
    workers : int, optional
        Threads running chunks of draws (default ``min(2, cpu count)``); results do not
        depend on it.
    chunk_size : int, default 2500
        Draws per chunk.
    store : oreflow.data.store.Store, optional
        Data the baseline and blocs are read from (default: the embedded data with the user's
        imports); ignored for the baseline when ``baseline`` is given.
    values : mapping of str to numpy.ndarray, optional
        Explicit per-draw values of parameters by path (length ``draws``), used instead of
        sampling them (:func:`~oreflow.simulate.draws.sample_draws`).
    hold : bool, default False
        Hold every uncertain input not in ``values`` at its median in every draw
        (sensitivity runs; :func:`~oreflow.simulate.draws.sample_draws`).

    Returns
    -------
    oreflow.simulate.result.Result

    Raises
    ------
    oreflow.errors.InputError
        Before any work, when a limit is broken (:func:`check_limits`): horizon, draws,
        seed, or memory.

    Examples
    --------
    >>> from oreflow.simulate.baseline import toy_baseline
    >>> sc = Scenario.parse_yaml('''
    ... name: toy
    ... start: 2025-01
    ... horizon_months: 12
    ... shocks:
    ...   - {kind: export_restriction, materials: [Dy], targets: [JPN], effective: 2025-03,
    ...      licence_lag_months: 2, approval_rate: 0.5}
    ... ''')
    >>> res = simulate(sc, draws=50, seed=1, baseline=toy_baseline())
    >>> bool((res.summary()["peak_price_multiple_p50"] >= 1).all())
    True
    """
    sc = Scenario.load(scenario)
    if horizon is not None:
        if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer):
            raise InputError(f"horizon must be a whole number of months, got {horizon!r}")
        sc = sc.with_horizon(int(horizon))
    want_m = (len([m for m in sc.material_list() if m in baseline.materials])
              if baseline is not None else None)
    check_limits(sc, draws, seed, materials=want_m)
    if baseline is None:
        baseline = cached_baseline(
            sc.baseline_year, sc.material_list(), resolve_regions(sc, store=store), store=store
        )
    else:
        want = [m for m in sc.material_list() if m in baseline.materials]
        if len(want) < baseline.n_materials:
            baseline = baseline.subset(want)
    ent = entropy_of(seed, rng)
    t_start = time.perf_counter()
    plan = compile_plan(sc, baseline)
    dr = sample_draws(sc, baseline, draws, rng=ent, values=values, hold=hold)
    chunks = [slice(i, min(i + chunk_size, draws)) for i in range(0, draws, chunk_size)]
    total = len(chunks) * plan.n_steps
    done = [0]
    lock = threading.Lock()

    def tick(k: int) -> None:
        with lock:
            done[0] += k
            if progress is not None:
                progress(done[0], total)

    nw = workers if workers is not None else min(2, os.cpu_count() or 1)
    arrays = RunArrays.empty(draws, plan.n_steps, baseline.n_materials, len(baseline.sectors),
                             len(plan.redirects))
    views = [arrays.view(sl) for sl in chunks]
    # markets without any volume (no data: e.g. Pm) stay at their base price; not simulated
    vol = baseline.production.sum(axis=1) + baseline.demand.sum(axis=(1, 2))
    active = [m for m, v in zip(baseline.materials, vol, strict=True) if v > 0]
    run_with, mat_index = plan, None
    if 0 < len(active) < baseline.n_materials:
        sub = baseline.subset(active)
        run_with = compile_plan(sc, sub)
        mat_index = np.array([baseline.index(m) for m in sub.materials], dtype=np.intp)
        idle = np.setdiff1d(np.arange(baseline.n_materials), mat_index)
        arrays.price[:, :, idle] = baseline.regional_price()[idle][None, None]

    def job(k: int) -> None:
        run_plan(run_with, dr.take(chunks[k]), progress=tick, out=views[k], mat_index=mat_index)

    if nw > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(max_workers=nw) as ex:
            list(ex.map(job, range(len(chunks))))
    else:
        for k in range(len(chunks)):
            job(k)
    elapsed = time.perf_counter() - t_start
    return Result.from_run(sc, plan, dr, arrays, seed=ent, elapsed_s=elapsed)


def redirect_residual(res: Result) -> F:
    """Largest absolute mass-balance residual of each flow redirect [t/month], (J,).

    ``redirected - separated - lost - stock change`` per draw and step (the ore leaving
    the controller's separators is separated by the receiving side, waits in stock or is
    lost), and ``redirected`` against the controller's lost output is carried by the
    segments' own balance (:func:`mass_balance_residual`). Empty without redirects.
    """
    red = res.arrays.redirect
    if red is None:
        return np.zeros(0)
    dt = res.plan.dt
    stock = np.concatenate([np.zeros_like(red[:, :1, :, 2]), red[:, :, :, 2]], axis=1)
    gap = red[..., 0] - red[..., 1] - red[..., 3] - np.diff(stock, axis=1) / dt
    return np.asarray(np.abs(gap).max(axis=(0, 1)))


def mass_balance_residual(res: Result) -> F:
    """Largest absolute mass-balance residual per material [t/month].

    ``supply + imports + release - consumption - stock change`` per draw, step and segment,
    and ``sum(imports)`` over segments, for a :class:`~oreflow.simulate.result.Result`.
    """
    ra = res.arrays
    dt = res.plan.dt
    inv = np.concatenate(
        [ra.inventory0[:, None].astype(np.float64), ra.inventory.astype(np.float64)], axis=1
    )
    d_inv = np.diff(inv, axis=1) / dt
    rel = res.plan.release[None] / dt
    gap = ra.supply.astype(np.float64) + ra.imports + rel - ra.consumption - d_inv
    trade = np.abs(ra.imports.astype(np.float64).sum(axis=-1))
    return np.asarray(np.maximum(np.abs(gap).max(axis=(0, 1, 3)), trade.max(axis=(0, 1))))
