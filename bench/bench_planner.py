"""Benchmark: the diversification planner on the shipped data (issue 12).

Measures the real code path (`oreflow.plan.solve_plan`, `frontier`, `solve_stochastic`):

1. least cost, MSP ``magnet:self>=0.4@2030`` (infeasible: diagnosis, best reachable plan and
   the earliest-year search) and EU27 with the CRMA preset;
2. the frontier of MSP ``magnet:self>=0.3`` for target years 2028-2040;
2b. Vietnam's alignment (``compare_alignment``): MSP with the CRMA's 40% processing
   benchmarks held 2030-2035, Vietnam as is, with the MSP and with China (three solves), and
   the CRMA preset (infeasible: three diagnoses, no earliest-year search);
3. least expected shortfall, MSP under ``china-2025-04`` in 2028-2032 within USD 2 bn, with
   10, 30, 50 and 100 sampled futures: solve time, MIP gap, and the in-sample and
   out-of-sample expected shortfall (the plan of each size scored on 300 fresh futures of
   another seed) of the stochastic plan, the deterministic plan and no plan — how many
   futures the sample-average approximation needs.

Run: ``python bench/bench_planner.py [--time-limit S]`` (prints markdown).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import scipy

from oreflow.plan import (
    PlanSettings,
    Problem,
    compare_alignment,
    frontier,
    parse_targets,
    solve_plan,
)
from oreflow.plan.stochastic import (
    sample_futures,
    score_plan,
    solve_stochastic,
    stock_options,
    stress_from_scenario,
)
from oreflow.plan.targets import parse_target

YEARS = list(range(2028, 2033))
OUT_OF_SAMPLE = 300
OUT_SEED = 99


def _timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, scipy {scipy.__version__}")
    print()
    print("| run | result | time [s] |")
    print("|---|---|---|")
    plan, sec = _timed(lambda: solve_plan("MSP", parse_targets(["magnet:self>=0.4@2030"])))
    m = plan.misses[0]
    print(f"| MSP magnet:self>=0.4@2030 (least cost) | {plan.status}; reachable "
          f"{m.reachable:.1%}, earliest {m.earliest_year}; capex "
          f"{plan.total_capex_musd:,.0f} M USD | {sec:.1f} |")
    plan, sec = _timed(lambda: solve_plan("EU27", parse_targets([], ["crma"]),
                                          settings=PlanSettings(budget_musd=5000)))
    print(f"| EU27 CRMA preset 2030, USD 5 bn | {plan.status}; {len(plan.misses)} of "
          f"{len(plan.targets)} targets missed (earliest "
          + ", ".join(f"{x.target.split('@')[0]} {x.earliest_year}" for x in plan.misses)
          + f") | {sec:.1f} |")
    front, sec = _timed(lambda: frontier("MSP", parse_target("magnet:self>=0.3@2030"),
                                         range(2028, 2041)))
    met = front.table[front.table["feasible"]]
    print(f"| frontier MSP magnet:self>=0.3, 2028-2040 (13 solves) | first met "
          f"{int(met['year'].min())} at {met['capex_musd'].iloc[0]:,.0f} M USD | {sec:.1f} |")
    for label, tg in (("separation, metal self>=0.4", parse_targets(
            ["separation:self>=0.4@2030", "metal:self>=0.4@2030"])),
                      ("CRMA preset", parse_targets([], ["crma"]))):
        cmp, sec = _timed(lambda tg=tg: compare_alignment(  # type: ignore[misc]
            "MSP", tg, "VNM", settings=PlanSettings(time_limit_s=args.time_limit)))
        w = cmp.wide("self_sufficiency_without").set_index(["year", "stage"])
        gap = float((w["bloc"] - w["controller"]).abs().max())
        print(f"| VNM alignment, MSP {label} held 2030-2035 (3 solves) | largest "
              f"self-sufficiency gap MSP vs CHN {gap:.1%}; capex "
              + " / ".join(f"{v:,.0f}" for v in cmp.cost["capex_musd"])
              + f" M USD | {sec:.1f} |")
    print()
    cfg = PlanSettings(budget_musd=2000, time_limit_s=args.time_limit)
    prob = Problem.build("MSP", (), settings=cfg, horizon=YEARS[-1])
    stress = stress_from_scenario("china-2025-04")
    stocks = stock_options(prob, ("NdPr", "Dy", "Tb"), None, prob.defaults)
    fresh = sample_futures(prob, OUT_OF_SAMPLE, OUT_SEED)
    print(f"Least expected shortfall, MSP, china-2025-04 stress in {YEARS[0]}-{YEARS[-1]}, "
          f"USD 2 bn; out of sample: {OUT_OF_SAMPLE} futures of seed {OUT_SEED} "
          "[t REO-eq/yr]")
    print()
    print("| futures | solve [s] | MIP gap | stochastic in / out of sample | deterministic "
          "out | none out | capex [M USD] |")
    print("|---|---|---|---|---|---|---|")
    none = float(score_plan(prob, {}, {}, fresh, stress, stocks, YEARS).mean())
    for n in (10, 30, 50, 100):
        res, sec = _timed(lambda n=n: solve_stochastic(  # type: ignore[misc]
            "MSP", "china-2025-04", YEARS, futures=n, seed=1, settings=cfg))
        outs = []
        for p in (res.plan, res.deterministic):
            starts = {(c.option_id, c.start_year): float(c.units) for c in p.chosen
                      if c.kind != "stockpile"}
            stock_years = {c.option_id: c.start_year for c in p.chosen
                           if c.kind == "stockpile"}
            outs.append(float(np.mean(score_plan(prob, starts, stock_years, fresh, stress,
                                                 stocks, YEARS))))
        ins = float(res.scores.set_index("plan").loc["stochastic",
                                                      "expected_shortfall_t_reo_per_yr"])
        print(f"| {n} | {sec:.1f} | {res.plan.gap:.2%} | {ins:,.0f} / {outs[0]:,.0f} | "
              f"{outs[1]:,.0f} | {none:,.0f} | {res.plan.total_capex_musd:,.0f} |")


if __name__ == "__main__":
    main()
