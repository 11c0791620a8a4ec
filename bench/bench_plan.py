"""Benchmark: the diversification planner's solver core on a synthetic option x start-year MILP.

Shaped like issue 12's target: 200 candidate options (mines, separation plants, magnet
lines) x 15 start years, binaries ``x[o, t]`` (start option o in year t), at most one start
per option, capacity online ``lead(o)`` years after the start, a yearly target of online
capacity, a yearly capital budget. Two sizes:

- **deterministic**: one future, nominal lead times; a target shortfall ``s[y] >= 0`` is
  allowed at a penalty, so the instance is always feasible;
- **stochastic**: the same first-stage starts shared by 50 sampled futures; in each future
  every option is delayed by a random number of years (Poisson(0.7), at most 4) or fails
  outright (probability 0.1); second-stage shortfalls ``s[f, y]`` per future, and the
  objective is capital cost plus the mean penalised shortfall (a two-stage stochastic program,
  sample-average approximation).

Capacity online uses cumulative start variables ``S[o, t] = sum(x[o, t'] for t' <= t)``
(see docs/plan-solver.md): each target row then has one term per option instead of one per
(option, start year), 15 times fewer non-zeros.

Reported per size: model size, build time (Python expressions to constraints), matrix and
solve time, the MIP gap reached, and whether it met "1% gap in under 60 s" (HiGHS through
scipy uses the machine's cores; run on 2 cores to check the target).

Run: ``python bench/bench_plan.py [--seed N] [--time-limit S]`` (prints a markdown table).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass

import numpy as np
import scipy

from oreflow.plan.model import Model, Solution, quicksum

N_OPTIONS = 200
START_YEARS = tuple(range(2026, 2041))  # 15 start years
HORIZON = tuple(range(2026, 2046))  # years with a target
N_FUTURES = 50
SEED = 20261129
GAP = 0.01  # the target: 1% relative gap
TIME_LIMIT = 60.0  # [s]
PENALTY = 50.0  # cost of one t/yr of target shortfall for one year [M USD per t/yr-year]
DISCOUNT = 0.05


@dataclass(frozen=True)
class Instance:
    """Synthetic options and targets (units: t/yr of capacity, M USD)."""

    capacity: np.ndarray  # [t/yr] by option
    lead: np.ndarray  # [yr] by option
    capex: np.ndarray  # [M USD] by option, undiscounted
    target: np.ndarray  # [t/yr] by horizon year
    budget: np.ndarray  # [M USD] by start year
    delay: np.ndarray  # [yr] by future x option
    failed: np.ndarray  # bool by future x option


def synthetic(seed: int = SEED, n_options: int = N_OPTIONS,
              n_futures: int = N_FUTURES) -> Instance:
    """A seeded instance: skewed capacities, lead times 2-6 years, rising targets."""
    rng = np.random.default_rng(seed)
    capacity = np.round(rng.lognormal(np.log(1_500.0), 0.8, n_options), -1)
    lead = rng.integers(2, 7, n_options)
    unit = rng.uniform(0.02, 0.06, n_options)  # [M USD per t/yr]
    capex = np.round(capacity * unit * rng.uniform(0.8, 1.2, n_options), 1)
    years = np.arange(len(HORIZON))
    # Targets rise to 30% of all candidate capacity by the last year, from zero in year 3.
    target = np.round(0.3 * capacity.sum() * np.clip((years - 2) / (len(HORIZON) - 3), 0, 1))
    # Budgets: the whole programme (30-40% of all capex) spread over the start years.
    budget = np.full(len(START_YEARS), 0.45 * capex.sum() / len(START_YEARS))
    delay = np.minimum(rng.poisson(0.7, (n_futures, n_options)), 4)
    failed = rng.random((n_futures, n_options)) < 0.1
    return Instance(capacity, lead, capex, target, budget, delay, failed)


def build(inst: Instance, *, stochastic: bool, cumulative: bool = True) -> Model:
    """The option x start-year model; one nominal future unless ``stochastic``.

    ``cumulative=False`` writes each target row over the binaries ``x[o, t]`` directly
    (one term per option and start year) instead of the cumulative ``S[o, t]``.
    """
    m = Model()
    n = len(inst.capacity)
    y0 = START_YEARS[0]
    x = {}
    s_cum = {}
    for o in range(n):
        prev = None
        for t in START_YEARS:
            disc = (1 + DISCOUNT) ** -(t - y0)
            x[o, t] = m.add_var(("start", o, t), ub=1, integer=True,
                                cost=float(inst.capex[o]) * disc)
            s_cum[o, t] = m.add_var(("started", o, t), ub=1)
            # S[o, t] = S[o, t-1] + x[o, t]
            m.add_constraint(s_cum[o, t] - x[o, t] - (prev if prev is not None else 0), "==",
                             0.0, ("cumulative", o, t), group="cumulative")
            prev = s_cum[o, t]
        m.add_constraint(s_cum[o, START_YEARS[-1]], "<=", 1.0, ("once", o), group="once")
    for k, t in enumerate(START_YEARS):
        m.add_constraint(quicksum(float(inst.capex[o]) * x[o, t] for o in range(n)), "<=",
                         float(inst.budget[k]), ("budget", t), group="budget")
    futures = range(inst.delay.shape[0]) if stochastic else [None]
    weight = PENALTY / len(futures)
    for f in futures:
        for j, y in enumerate(HORIZON):
            if inst.target[j] <= 0:
                continue
            terms = []
            for o in range(n):
                if f is not None and inst.failed[f, o]:
                    continue
                lag = int(inst.lead[o]) + (int(inst.delay[f, o]) if f is not None else 0)
                last = min(y - lag, START_YEARS[-1])  # latest start online in year y
                if last < y0:
                    continue
                if cumulative:
                    terms.append(float(inst.capacity[o]) * s_cum[o, last])
                else:
                    terms.extend(float(inst.capacity[o]) * x[o, t]
                                 for t in START_YEARS if t <= last)
            short = m.add_var(("shortfall", f, y), cost=weight * (1 + DISCOUNT) ** -(y - y0))
            m.add_constraint(quicksum(terms) + short, ">=", float(inst.target[j]),
                             ("target", f, y), group="target")
    return m


def run(stochastic: bool, seed: int, time_limit: float, *, futures: int = N_FUTURES,
        cumulative: bool = True) -> tuple[Model, Solution, float]:
    """Build and solve one size; return the model, its solution and the build time [s]."""
    inst = synthetic(seed, n_futures=futures)
    t0 = time.perf_counter()
    m = build(inst, stochastic=stochastic, cumulative=cumulative)
    built = time.perf_counter() - t0
    sol = m.solve(time_limit=time_limit, mip_rel_gap=GAP)
    return m, sol, built


def main() -> None:
    """Print the markdown table of both sizes."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--time-limit", type=float, default=TIME_LIMIT)
    p.add_argument("--futures", type=int, default=N_FUTURES, help="sampled futures")
    p.add_argument("--direct", action="store_true",
                   help="target rows over x[o, t] directly, not cumulative starts")
    args = p.parse_args()
    form = "direct" if args.direct else "cumulative"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, scipy {scipy.__version__}; seed {args.seed}; "
          f"{form} formulation; time limit {args.time_limit:g} s, gap {GAP:.0%}\n")
    print("| size | variables (binary) | rows | non-zeros | build [s] | solve [s] | status "
          "| objective | gap | 1% gap < 60 s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, stochastic in (("200 x 15, deterministic", False),
                              (f"200 x 15 x {args.futures} futures", True)):
        m, sol, built = run(stochastic, args.seed, args.time_limit, futures=args.futures,
                            cumulative=not args.direct)
        a, _, _ = m.matrix()
        n_bin = sum(1 for v in m.variables if v.name[0] == "start")
        gap = "-" if sol.gap is None else f"{100 * sol.gap:.2f}%"
        obj = "-" if sol.objective is None else f"{sol.objective:,.1f}"
        met = sol.gap is not None and sol.gap <= GAP + 1e-9 and sol.seconds < TIME_LIMIT
        print(f"| {label} | {m.num_vars:,} ({n_bin:,}) | {m.num_constraints:,} | {a.nnz:,} "
              f"| {built:.2f} | {sol.seconds:.2f} | {sol.status} | {obj} | {gap} "
              f"| {'yes' if met else 'no'} |")


if __name__ == "__main__":
    main()
