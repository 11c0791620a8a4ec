"""Benchmark of ``oreflow sweep``: 1,200 scenarios x 1,000 draws on 2 cores.

Case: the ``full-embargo`` built-in scenario (36 months, pipeline on) swept over 20 materials
(one simulated material per point) x 5 shares lost x 4 durations x 3 licence lags = 1,200
points of 1,000 draws each, written to chunked Parquet as ``oreflow sweep`` does.

Each measurement runs in a fresh child process (``--one``), so its peak memory (ru_maxrss
of the process and of its worker processes, which have exited when it is read) and its CPU
time (the process and its workers) belong to that run alone; the 1-minute load average
(the larger of before and after) says how busy the machine was. Measured:

- the process pool with 2 workers on all 1,200 points (target: under 10 minutes);
- a Dask LocalCluster with 2 workers on the same points (target: within 1.2x of the pool);
- throughput with 1 and 2 workers on the first 200 points (scaling);
- peak memory on the first 100, 400 and 1,200 points (target: flat).

Run::

    python bench/bench_sweep.py [--points 1200] [--draws 1000]
    python bench/bench_sweep.py --ab 3        # pool and Dask alternately, medians

Prints a markdown section for ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MATERIALS = ["La", "Ce", "Pr", "Nd", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb",
             "Lu", "Y", "Ga", "Ge", "Sb", "NdFeB", "SmCo"]
SPEC = """\
name: bench-1200
base: full-embargo
draws: {draws}
seed: 2026
axes:
  materials: [{materials}]
  share_lost: [0.2, 0.4, 0.6, 0.8, 1.0]
  duration_months: [3, 6, 12, 24]
  shocks[0].licence_lag_months: [0, 2, 4]
"""


def write_spec(folder: Path, draws: int) -> Path:
    path = folder / "bench-1200.yaml"
    path.write_text(SPEC.format(draws=draws, materials=", ".join(MATERIALS)))
    return path


def one(spec: Path, out: Path, backend: str, workers: int, points: int) -> dict[str, float]:
    """Run the first ``points`` points of the spec on one backend; time and memory."""
    from oreflow.sweep import DaskExecutor, LocalPool, SerialExecutor, load_sweep, run_sweep

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    sw = load_sweep(spec)
    sw = sw.head(points)
    t_load = time.perf_counter() - t0
    t1 = time.perf_counter()
    if backend == "dask":
        ex: object = DaskExecutor(workers=workers, warm=sw.point(0).scenario)
    elif workers == 1:
        ex = SerialExecutor()
    else:
        ex = LocalPool(workers, warm=sw.point(0).scenario)
    t_start = time.perf_counter() - t1
    try:
        t2 = time.perf_counter()
        res = run_sweep(sw, out, executor=ex)  # type: ignore[arg-type]
        t_run = time.perf_counter() - t2
    finally:
        ex.close()  # type: ignore[attr-defined]
    time.sleep(0.5)  # let the workers exit so RUSAGE_CHILDREN counts them
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_mb = me.ru_maxrss / 1024
    child_mb = kids.ru_maxrss / 1024
    cpu_s = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    rows = len(res.table())
    return {"points": res.points_done, "rows": rows, "load_s": t_load, "start_s": t_start,
            "run_s": t_run, "total_s": time.perf_counter() - t0,
            "points_per_s": res.points_done / t_run, "cpu_s": cpu_s,
            "cpu_ms_per_point": 1000 * cpu_s / res.points_done, "parent_mb": self_mb,
            "load": max(load_before, os.getloadavg()[0]),
            "worker_mb": child_mb}


def child(spec: Path, backend: str, workers: int, points: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--one", str(spec), "--backend", backend,
               "--workers", str(workers), "--n", str(points), "--out", str(Path(tmp) / "o")]
        done = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
        result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def ab(draws: int, points: int, rounds: int) -> None:
    """Pool and Dask alternately, ``rounds`` times each, on the same points: on a shared
    machine whose load changes by the minute, alternating and taking medians compares the
    backends under the same conditions."""
    import statistics

    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(Path(tmp), draws)
        got: dict[str, list[dict[str, float]]] = {"pool": [], "dask": []}
        for k in range(rounds):
            for backend in ("pool", "dask") if k % 2 == 0 else ("dask", "pool"):
                r = child(spec, backend, 2, points)
                got[backend].append(r)
                print(f"# {backend} {points}: {r}", file=sys.stderr)
    print(f"| backend (2 workers, {points} points, {rounds} alternating runs) | median total [s] "
          "| median run [s] | median CPU per point [ms] | loads |")
    print("|---|---:|---:|---:|---|")
    med = {}
    for b, rs in got.items():
        med[b] = {f: statistics.median(r[f] for r in rs)
                  for f in ("total_s", "run_s", "cpu_ms_per_point")}
        loads = ", ".join(f"{r['load']:.1f}" for r in rs)
        print(f"| {b} | {med[b]['total_s']:.1f} | {med[b]['run_s']:.1f} "
              f"| {med[b]['cpu_ms_per_point']:.0f} | {loads} |")
    print(f"\nDask / pool: total {med['dask']['total_s'] / med['pool']['total_s']:.2f}x, run "
          f"{med['dask']['run_s'] / med['pool']['run_s']:.2f}x, CPU per point "
          f"{med['dask']['cpu_ms_per_point'] / med['pool']['cpu_ms_per_point']:.2f}x.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--points", type=int, default=1200)
    ap.add_argument("--scaling-points", type=int, default=200)
    ap.add_argument("--ab", type=int, default=0, metavar="ROUNDS",
                    help="only the A/B comparison: ROUNDS alternating pool and Dask runs on "
                         "--scaling-points points (the median of each)")
    ap.add_argument("--one", type=Path)
    ap.add_argument("--backend", default="pool")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.out, args.backend, args.workers, args.n)))
        return

    if args.ab:
        ab(args.draws, args.scaling_points, args.ab)
        return
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(Path(tmp), args.draws)
        n = args.points
        runs: list[tuple[str, str, int, int]] = [
            ("pool, 2 workers", "pool", 2, n),
            ("Dask LocalCluster, 2 workers", "dask", 2, n),
            ("in process, 1 worker", "pool", 1, args.scaling_points),
            ("pool, 2 workers", "pool", 2, args.scaling_points),
            ("pool, 2 workers", "pool", 2, 100),
            ("pool, 2 workers", "pool", 2, 400),
        ]
        got = []
        for label, backend, workers, points in runs:
            r = child(spec, backend, workers, points)
            got.append((label, backend, workers, points, r))
            print(f"# {label} {points}: {r}", file=sys.stderr)

    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {time.strftime('%Y-%m-%d')}.\n")
    print("| run | points | total [s] | of which start-up [s] | points/s | CPU per point [ms] "
          "| parent peak [MB] | worker peak [MB] | load avg |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, _, _, points, r in got:
        print(f"| {label} | {points:,} | {r['total_s']:.1f} | {r['load_s'] + r['start_s']:.1f} "
              f"| {r['points_per_s']:.2f} | {r['cpu_ms_per_point']:.0f} | {r['parent_mb']:.0f} "
              f"| {r['worker_mb']:.0f} | {r['load']:.1f} |")
    pool, dask = got[0][4], got[1][4]
    one_w, two_w = got[2][4], got[3][4]
    print(f"\nDask / pool (total time, {n:,} points): {dask['total_s'] / pool['total_s']:.2f}x; "
          f"2 workers / 1 worker throughput ({args.scaling_points} points): "
          f"{two_w['points_per_s'] / one_w['points_per_s']:.2f}x.")


if __name__ == "__main__":
    main()
