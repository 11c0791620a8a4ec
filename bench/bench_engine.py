"""Benchmark of the disruption engine against its reference loop.

Case: the ``full-embargo`` built-in scenario (every rare earth and both magnet products
shocked) - 10,000 draws x 36 months x 17 elements + NdFeB + SmCo - on the embedded 2024
baseline. The vectorised engine runs all draws (threads over chunks of draws); the plain
reference loop (``tests/reference_engine.py``) runs on the first draws of the same sample and
its time is scaled linearly to all draws (every draw is independent and costs the same in
the reference). Both are timed in this one process, side by side, and checked to agree on
the shared draws.

Run::

    python bench/bench_engine.py [--draws 10000] [--ref-draws 20] [--workers 2]

Prints a markdown table for ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from oreflow.simulate import Scenario, simulate  # noqa: E402
from oreflow.simulate.draws import sample_draws  # noqa: E402
from reference_engine import run_reference  # noqa: E402


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="full-embargo")
    ap.add_argument("--draws", type=int, default=10_000)
    ap.add_argument("--ref-draws", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk-size", type=int, default=2500)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()

    sc = Scenario.builtin(args.scenario)
    t0 = time.perf_counter()
    warm = simulate(sc, draws=2, seed=args.seed)  # builds and caches the data baseline
    t_baseline = time.perf_counter() - t0
    base_mb = _peak_mb()

    t0, c0 = time.perf_counter(), time.process_time()
    res = simulate(
        sc, draws=args.draws, seed=args.seed, workers=args.workers, chunk_size=args.chunk_size
    )
    t_engine = time.perf_counter() - t0
    cpu_engine = time.process_time() - c0
    peak_mb = _peak_mb()

    # reference loop on the first draws of the same sample
    plan = res.plan
    draws = sample_draws(sc, plan.baseline, args.ref_draws, rng=args.seed)
    t0 = time.perf_counter()
    ref = run_reference(plan, draws)
    t_ref = time.perf_counter() - t0
    t_ref_scaled = t_ref * args.draws / args.ref_draws
    n = args.ref_draws
    live = (plan.baseline.production + plan.baseline.consumption()) > 0
    diff = np.abs(res.arrays.price[:n].astype(float) - ref.price.astype(float))
    rel = np.where(live[None, None], diff / ref.price.astype(float), 0.0).max()

    nm = plan.baseline.n_materials
    rows = [
        (
            "case",
            f"`{args.scenario}`: {args.draws:,} draws x {plan.n_steps} months x {nm} "
            f"materials ({', '.join(plan.baseline.materials)})",
        ),
        (
            "machine",
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, numpy {np.__version__}",
        ),
        (
            "engine wall time",
            f"{t_engine:.2f} s ({args.workers} threads, chunks of {args.chunk_size} draws)",
        ),
        ("engine CPU time", f"{cpu_engine:.2f} s"),
        ("engine throughput", f"{args.draws / t_engine:,.0f} draws/s"),
        (
            "peak memory (process, max RSS)",
            f"{peak_mb:,.0f} MB (after baseline build: {base_mb:,.0f} MB)",
        ),
        ("baseline build (once, cached)", f"{t_baseline:.2f} s"),
        (
            "reference loop",
            f"{t_ref:.2f} s for {n} draws -> {t_ref_scaled:,.0f} s scaled "
            f"to {args.draws:,} draws (linear)",
        ),
        ("speed-up vs reference", f"{t_ref_scaled / t_engine:,.0f}x"),
        ("agreement on shared draws", f"max relative price difference {rel:.1e}"),
        ("targets", "< 5 s, < 2 GB, >= 100x"),
        (
            "met",
            "yes" if (t_engine < 5 and peak_mb < 2048 and t_ref_scaled / t_engine >= 100)
            else "no",
        ),
    ]
    print("| item | value |")
    print("|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    del warm


if __name__ == "__main__":
    main()
