"""Disruption engine: agreement with the reference loop, invariants, determinism, mechanisms.

The reference (``tests/reference_engine.py``) is written from ``docs/engine.md`` section 4.
Mechanism tests run the toy baseline with every behavioural parameter fixed (one draw is
then the whole distribution) and check numbers that follow from the equations by hand.

Toy baseline (``toy_baseline()``), per month: Nd exports of the controller 14.25/12 t to the
rest and 60/12 t to Japan (the targets), Dy 4.465/12 and 5/12 t, NdFeB 50/12 and 50/12 t;
no baseline trade between rest and targets; Japan produces 150 t/yr of magnets and no
elements; a third of the controller's Dy passes through Myanmar mines.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oreflow.simulate import Scenario, mass_balance_residual, simulate, toy_baseline
from oreflow.simulate.result import Result
from oreflow.simulate.state import FLAG_BACKSTOP, FLAG_STOCK_GUARD, RunArrays

sys.path.insert(0, str(Path(__file__).parent))
from reference_engine import run_reference

ND, DY, MAG = 0, 1, 2  # toy materials
C, N, T = 0, 1, 2  # segments: controller, rest, targets

#: Every behavioural parameter fixed (priors replaced), for the mechanism tests.
FIXED: dict[str, Any] = {
    "calibrated": False,
    "elasticity": {"default": -0.25},
    "input_elasticity": -0.05,
    "backstop_multiple": {"default": 30},
    "user_cover_months": 1.5,
    "trader_cover_months": 1.5,
    "stock_adjustment_months": 2,
    "hoarding_strength": 1.0,
    "speculative_response": 0.5,
    "price_cover_sensitivity": 1.0,
    "price_adjustment_months": 1.0,
    "expectation_memory_months": 4.0,
    "price_reversion_months": 24.0,
    "quota_premium_response": 0.5,
    "trade_response": 2.0,
    "trade_diversion": 0.3,
    "leakage": 0.0,
    "quota_leakage": 0.0,
    "licence_processing_initial": 0.5,
    "licence_processing_final": 1.0,
    "licence_processing_ramp_months": 3.0,
    "licence_capacity_months": 0.001,  # at full capacity from the first decision
    "supply_elasticity": 0.2,
    "controller_supply_response": 0.5,
    "state_purchase_rate": 0.0,
    "state_purchase_threshold": 0.1,
    "ramp_rate_per_year": 0.0,
    "ramp_price_threshold": 2.0,
    "substitution_rate_per_year": 0.0,
    "substitution_cap": 0.35,
    "substitution_price_threshold": 3.0,
    "substitution_memory_months": 6.0,
    "recycling_rate_per_year": 0.0,
    "project_ramp_months": 24.0,
}


def scenario(
    shocks: list[dict[str, Any]],
    *,
    horizon: int = 12,
    params: dict[str, Any] | None = None,
    fixed: bool = True,
    **top: Any,
) -> Scenario:
    """A toy scenario from Python values, through YAML (``Scenario.parse_yaml``)."""
    par: dict[str, Any] = dict(FIXED) if fixed else {"calibrated": False}
    par.update(params or {})
    doc = {"name": "toy", "start": "2025-01", "horizon_months": horizon, **top,
           "parameters": par, "shocks": shocks}  # fmt: skip
    return Scenario.parse_yaml(yaml.safe_dump(doc, sort_keys=False))


def restriction(**kw: Any) -> dict[str, Any]:
    """Dy to Japan from March 2025 unless overridden."""
    return {"kind": "export_restriction", "materials": ["Dy"], "targets": ["JPN"],
            "effective": "2025-03", **kw}  # fmt: skip


def run(sc: Scenario, n: int = 1, seed: int = 1, baseline: Any = None, **kw: Any) -> Result:
    return simulate(sc, draws=n, seed=seed, baseline=baseline or toy_baseline(), **kw)


def f0(res: Result, m: int, i: int, j: int) -> float:
    """Baseline trade flow [t/month]."""
    return float(res.plan.f0[m, i, j])


def pm(res: Result) -> np.ndarray:
    """Price multiples (D, T, M, 3)."""
    return res.price_multiple()


# --------------------------------------------------------------------------------------
# (a) the vectorised engine equals the reference loop
# --------------------------------------------------------------------------------------

ALL_SHOCKS = [
    restriction(materials=["Dy", "NdFeB"], stages=["separation", "magnet"],
                announced="2025-02", effective="2025-04", duration_months=14,
                licence_lag_months={"dist": "uniform", "low": 1, "high": 3},
                approval_rate={"dist": "uniform", "low": 0.2, "high": 0.4},
                approval_path=[{"start": "2025-09", "rate": 0.6},
                               {"start": "2025-12", "rate": 0.9}],
                general_licence={"start": "2025-10", "share": 0.2},
                end_use_denied_share=0.1, de_minimis_threshold=0.001),
    {"kind": "export_restriction", "materials": ["Nd"], "targets": ["all"],
     "effective": "2025-06", "duration_months": 6,
     "quota_t_per_yr": {"dist": "uniform", "low": 20, "high": 50}},
    {"kind": "production_outage", "country": "MMR", "stage": "mine", "materials": ["Dy"],
     "share": {"dist": "uniform", "low": 0.3, "high": 0.8}, "start": "2025-03",
     "duration_months": 4, "recovery_months": 3},
    {"kind": "demand_change", "region": "all", "materials": ["NdFeB"], "sector": "automotive",
     "level": 0.05, "growth_per_year": {"dist": "uniform", "low": 0, "high": 0.2},
     "start": "2025-02"},
    {"kind": "demand_change", "region": "rest", "materials": ["Nd"], "level": -0.1,
     "start": "2025-05", "end": "2025-09", "persist": False},
    {"kind": "stockpile_release", "region": "targets", "materials": ["Dy"], "tonnes": 0.5,
     "start": "2025-05", "duration_months": 4},
    {"kind": "price_floor", "region": "rest", "materials": ["Nd"], "usd_per_kg": 70,
     "start": "2025-01"},
    {"kind": "tariff", "region": "targets", "materials": ["NdFeB"], "rate": 0.25,
     "start": "2025-03"},
]  # fmt: skip


def _all_shocks(leakage: Any) -> Scenario:
    return scenario(ALL_SHOCKS, horizon=24, fixed=False, pipeline=True,
                    params={"leakage": leakage, "quota_leakage": leakage})  # fmt: skip


_LEAKY = [
    restriction(materials=["Dy", "NdFeB"], stages=["separation", "magnet"],
                approval_rate=0.3, licence_lag_months=2),
    {"kind": "export_restriction", "materials": ["Nd"], "targets": ["all"],
     "effective": "2025-02", "quota_t_per_yr": 30},
]  # fmt: skip
_TWO_SEGMENT = [
    {"kind": "export_restriction", "materials": ["Dy", "NdFeB"],
     "stages": ["separation", "magnet"], "targets": ["all"], "announced": "2025-02",
     "effective": "2025-03", "licence_lag_months": 2, "approval_rate": 0.4},
    {"kind": "production_outage", "country": "MMR", "stage": "mine", "materials": ["Dy"],
     "share": 0.5, "start": "2025-06", "duration_months": 3},
]  # fmt: skip


def _cases() -> dict[str, tuple[Scenario, dict[str, Any]]]:
    """Scenario and simulate() keywords of each comparison case (priors, calibrated off)."""
    return {
        # every shock kind, leakage 0
        "all-shocks": (_all_shocks(0.0), {}),
        # leakage > 0 where the licensed share has no effect (no hoarding, no de-minimis);
        # 12 months, while the quota binds (``quota_capped_at_requirement``)
        "leakage": (
            scenario(_LEAKY, horizon=12, fixed=False, params={"hoarding_strength": 0.0}),
            {},
        ),
        "two-segment": (
            scenario(_TWO_SEGMENT, horizon=18, fixed=False, params={"leakage": 0.0}),
            {"baseline": toy_baseline(targets=False)},
        ),
        "no-shock": (scenario([], horizon=12, fixed=False), {}),
        # every Dy export blocked: backstop, stock guard, lost output; 12 months,
        # before magnet stocks run out (``empty_magnet_stock_ratio_one``)
        "severe": (
            scenario(
                [restriction(targets=["all"], licence_lag_months=100, approval_rate=0.0)],
                horizon=12,
                fixed=False,
                params={
                    "backstop_multiple": {"default": 1.5},
                    "leakage": 0.0,
                    "controller_supply_response": 0.0,
                    "state_purchase_rate": 0.0,
                },
            ),
            {},
        ),
    }


def assert_agree(got: RunArrays, ref: RunArrays, rtol: float = 1e-6) -> None:
    """Paths equal to ``rtol`` of the larger of the value and its material's scale."""
    for name in RunArrays.PATHS:
        a = getattr(got, name).astype(np.float64)
        b = np.asarray(getattr(ref, name), np.float64)
        scale = np.abs(b).max(axis=(0, 1, 3), keepdims=True)
        err = np.abs(a - b)
        tol = rtol * np.maximum(np.abs(b), scale) + 1e-12
        bad = err > tol
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            raise AssertionError(
                f"{name} differs at (draw, step, material, segment) {at}: "
                f"engine {a[at]:.9g}, reference {b[at]:.9g}"
            )
    assert np.array_equal(got.flags, ref.flags)
    for name in ("inventory0", "cost", "shortfall_sector"):
        a, b = getattr(got, name), np.asarray(getattr(ref, name))
        scale = np.abs(b).max() + 1.0  # roundoff around zero (USD, t)
        assert np.allclose(a, b, rtol=rtol, atol=rtol * scale), name


@pytest.mark.parametrize("case", ["all-shocks", "leakage", "two-segment", "no-shock", "severe"])
def test_engine_matches_reference(case):
    sc, kw = _cases()[case]
    res = run(sc, n=4, seed=11, **kw)
    assert_agree(res.arrays, run_reference(res.plan, res.draws))
    if case == "severe":  # the case reaches what it is meant to
        assert (res.arrays.lost > 0).any()
        assert ((res.arrays.flags & FLAG_BACKSTOP) > 0).any()
        assert ((res.arrays.flags & FLAG_STOCK_GUARD) > 0).any()


@pytest.fixture(scope="module")
def china() -> Result:
    """Six months of china-2025-04 on the embedded data, three draws, leakage 0."""
    sc = Scenario.builtin("china-2025-04")
    return simulate(sc, draws=3, seed=11, horizon=6, values={"leakage": np.zeros(3)})


def test_engine_matches_reference_on_data(china):
    # the full plan, Pm (no volume) included: the engine runs only the active markets
    assert_agree(china.arrays, run_reference(china.plan, china.draws))
    assert (china.arrays.exports_controller[:, 1:, :, 0] > 0).any()


@pytest.mark.parametrize("case", ["all-shocks", "leakage", "severe", "quotas-on-data"])
def test_engine_matches_reference_on_hard_cases(case):
    """Leakage, hoarding and quotas as sampled; china-2010-quota has a rate quota, two
    window quotas, an outage and a demand change on the 2009 market (three segments)."""
    if case == "quotas-on-data":
        res = simulate(Scenario.builtin("china-2010-quota"), draws=2, seed=4, horizon=30)
    else:
        sc = _all_shocks({"dist": "uniform", "low": 0.1, "high": 0.5}) if case == "all-shocks" \
            else _cases()[case][0]  # fmt: skip
        res = run(sc, n=4, seed=11)
    assert_agree(res.arrays, run_reference(res.plan, res.draws))


def _settled(name: str) -> Result:
    """A small run on which a point where doc and engine first disagreed shows (settled in
    the doc; see ``reference_engine.py``)."""
    if name == "licensed share counts leaked shipments":  # leakage, hoarding, de-minimis
        return run(_all_shocks({"dist": "uniform", "low": 0.1, "high": 0.5}), n=4, seed=11)
    if name == "quota share capped at the requirement":  # a slack quota, prices abroad up
        return run(scenario(
            [{"kind": "export_restriction", "materials": ["Nd"], "targets": ["all"],
              "effective": "2025-01", "quota_t_per_yr": 150},
             {"kind": "demand_change", "region": "targets", "materials": ["Nd"],
              "level": 0.3, "start": "2025-01"}], horizon=3))  # fmt: skip
    if name == "no magnet stock left":  # magnet stocks run out after a year
        return run(_cases()["severe"][0].with_horizon(18), n=4, seed=11)
    assert name == "trade gap clipped"  # a prohibitive tariff: a gap of -ln(1 + e^8) < -5
    return run(scenario([{"kind": "tariff", "region": "targets", "materials": ["Dy"],
                          "rate": math.exp(8.0), "start": "2025-01"}], horizon=3,
                        params={"trade_response": 1.0}))  # fmt: skip


@pytest.mark.parametrize("name", ["licensed share counts leaked shipments",
                                  "quota share capped at the requirement",
                                  "no magnet stock left", "trade gap clipped"])
def test_engine_matches_reference_where_doc_and_code_once_differed(name):
    res = _settled(name)
    assert_agree(res.arrays, run_reference(res.plan, res.draws))


# --------------------------------------------------------------------------------------
# (b) no shock: a steady state at base prices
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("targets", [True, False])
def test_no_shock_steady_state_toy(targets):
    res = run(scenario([], horizon=24, fixed=False), n=20, seed=3,
              baseline=toy_baseline(targets=targets))  # fmt: skip
    _assert_steady(res)


def test_no_shock_steady_state_data():
    sc = Scenario.parse_yaml(
        "name: calm\nstart: 2025-04\nhorizon_months: 12\n"
        "baseline_year: 2024\nparameters: {calibrated: false}\n"
    )
    _assert_steady(simulate(sc, draws=5, seed=3))


def _assert_steady(res: Result) -> None:
    live = res.present
    p = pm(res)
    assert np.allclose(p, 1.0, rtol=0, atol=2e-6)
    ra = res.arrays
    demand = float(ra.desired.max())
    assert float(np.abs(ra.shortfall).max()) <= 1e-9 * demand  # roundoff only
    assert float(np.abs(ra.lost).max()) <= 1e-9 * demand
    cons0 = res.plan.baseline.consumption() / 12.0
    assert np.allclose(ra.consumption, cons0[None, None], rtol=1e-6)
    assert np.allclose(ra.desired, cons0[None, None], rtol=1e-6)
    assert np.allclose(ra.inventory, ra.inventory0[:, None], rtol=1e-6)
    assert live.any()
    summ = res.summary()
    assert (summ["months_to_recovery_p90"] == 0).all()
    assert (summ["at_backstop_share"] == 0).all() and (summ["guard_share"] == 0).all()


# --------------------------------------------------------------------------------------
# (c) mass balance every step; (d) determinism and the prefix property
# --------------------------------------------------------------------------------------


def _mass_tolerance(res: Result) -> np.ndarray:
    """Float32 resolution of each material's stocks and flows [t/month]."""
    ra = res.arrays
    scale = np.maximum(np.abs(ra.inventory).max(axis=(0, 1, 3)),
                       np.abs(ra.consumption).max(axis=(0, 1, 3)))  # fmt: skip
    return 2e-6 * scale / res.plan.dt + 1e-9


@pytest.mark.parametrize("case", ["all-shocks", "two-segment"])
def test_mass_balance_every_step(case):
    sc, kw = _cases()[case]
    res = run(sc, n=30, seed=5, **kw)
    assert np.all(mass_balance_residual(res) <= _mass_tolerance(res))


def test_mass_balance_on_data(china):
    assert np.all(mass_balance_residual(china) <= _mass_tolerance(china))


def test_mass_balance_de_minimis_exporter():
    """Output a de-minimis rule holds cannot also be shipped (it once was: material was
    created when the traders' stock was clamped at zero)."""
    # Nd to all destinations with a de-minimis rule that reaches the whole rest-of-world
    # output; Japan's demand quadruples, so the rest diverts its output to Japan
    sc = scenario(
        [{"kind": "export_restriction", "materials": ["Nd"], "targets": ["all"],
          "effective": "2025-01", "approval_rate": 0.5, "de_minimis_threshold": 0.001,
          "de_minimis_reach": 1.0},
         {"kind": "demand_change", "region": "targets", "materials": ["Nd"], "level": 3.0,
          "start": "2025-01"}],
        horizon=6, fixed=False,
        params={"cross_border_share": 1.0, "trade_diversion": 0.5, "trade_response": 4.0,
                "leakage": 0.0},
    )  # fmt: skip
    res = run(sc, seed=5, baseline=toy_baseline(materials=["Nd"]))
    assert np.all(mass_balance_residual(res) <= _mass_tolerance(res))


@pytest.mark.parametrize("calibrated", [False, True])
def test_determinism_workers_chunks_and_prefix(calibrated):
    # calibrated: rows of the shipped sample where one exists (priors otherwise)
    sc = _all_shocks({"dist": "uniform", "low": 0.0, "high": 0.5})
    if calibrated:
        doc = yaml.safe_load(sc.to_yaml())
        for key in [k for k in doc["parameters"] if k != "leakage"]:
            doc["parameters"].pop(key)
        sc = Scenario.parse_yaml(yaml.safe_dump(doc))
        assert sc.parameters.calibrated
    a = run(sc, n=12, seed=9, workers=1, chunk_size=100).arrays
    b = run(sc, n=12, seed=9, workers=2, chunk_size=5).arrays
    c = run(sc, n=5, seed=9, workers=2, chunk_size=2).arrays
    for name in (*RunArrays.PATHS, "flags", "cost", "shortfall_sector", "inventory0"):
        x, y, z = getattr(a, name), getattr(b, name), getattr(c, name)
        assert np.array_equal(x, y), name
        assert np.array_equal(x[:5], z), name


# --------------------------------------------------------------------------------------
# (e) mechanisms
# --------------------------------------------------------------------------------------


def test_licence_lag_blocks_then_queue_clears():
    # effective 2025-03 (month 2), lag 3: steps with midpoints 2.5, 3.5, 4.5 decide nothing;
    # processing k = 1/month throughout, approval 0.3, the control ends at month 14; no
    # diversion from the rest, so Japan's Dy imports are the controller's shipments
    sc = scenario([restriction(licence_lag_months=3, approval_rate=0.3, duration_months=12)],
                  horizon=18, params={"licence_processing_initial": 1.0,
                                      "trade_diversion": 0.0})  # fmt: skip
    res = run(sc)
    ra = res.arrays
    ex = ra.exports_controller[0, :, DY, T].astype(float)
    bl = ra.backlog[0, :, DY, T].astype(float)
    base = f0(res, DY, C, T)
    assert ex[0] == pytest.approx(base, rel=1e-6)  # before the control: the baseline flow
    assert np.all(ex[2:5] == 0.0)  # the lag: no controlled legal exports
    assert bl[1] == 0.0 and 0 < bl[2] < bl[3] < bl[4]  # applications queue during the lag
    assert bl[4] > 2.0 * base  # about three months of need
    # first decisions: the step decides Q (1 - e^-k) of the queue Q (after this step's
    # applications), at most the office's capacity of 3 x normal a month, and leaves bl5,
    # so approved / dt = 0.3 min(bl5 (e - 1), 3 f0); shipped up to what buyers want,
    # F* = f0 min(exp(beta (x_T - x_C)), 3) at last step's prices
    x = np.log(pm(res)[0, 4, DY])
    want = base * min(math.exp(2.0 * (x[T] - x[C])), 3.0)
    decided = min(bl[5] * (math.e - 1.0), 3.0 * base)
    assert ex[5] == pytest.approx(min(want, 0.3 * decided), rel=1e-5)
    assert ex[5] > 0.2 * base
    # the queue clears: at least the capacity leaves it (one month of applications, at
    # most 3 x normal, joins it)
    assert bl[5] <= bl[4] + 3.0 * base - decided + 1e-6
    assert bl[5] < bl[4]
    assert bl[8] < 0.3 * bl[4]
    assert np.all(bl[14:] == 0.0)  # a restriction that ends drops its backlog
    assert np.allclose(ra.imports[0, :, DY, T], ex, rtol=1e-5, atol=1e-7)


def test_licence_office_builds_its_capacity():
    # as above with approval 100%, but the office builds its capacity over 4 months: at
    # step midpoints 5.5, 6.5, 7.5 it has decided for 0.5, 1.5, 2.5 months and decides at
    # most 3 f0 x 0.5/4, 1.5/4, 2.5/4 a month; the lag's backlog leaves slowly
    params = {"licence_processing_initial": 1.0, "trade_diversion": 0.0}
    shock = [restriction(licence_lag_months=3, approval_rate=1.0, duration_months=12)]
    slow = run(scenario(shock, horizon=18, params=params | {"licence_capacity_months": 4.0}))
    fast = run(scenario(shock, horizon=18, params=params))
    base = f0(slow, DY, C, T)
    ex = slow.arrays.exports_controller[0, :, DY, T].astype(float)
    ex_fast = fast.arrays.exports_controller[0, :, DY, T].astype(float)
    assert np.array_equal(ex[:5], ex_fast[:5])  # nothing differs before decisions start
    for t, since in ((5, 0.5), (6, 1.5), (7, 2.5)):
        assert 0 < ex[t] <= 3.0 * base * since / 4.0 * (1 + 1e-6)
    assert ex[5] < 0.5 * ex_fast[5]
    bl = slow.arrays.backlog[0, :, DY, T]
    assert bl[6] > fast.arrays.backlog[0, 6, DY, T]
    assert np.all(bl[14:] == 0.0)


def test_approval_path_rising_lets_exports_recover():
    path = [{"start": "2025-07", "rate": 0.6}, {"start": "2025-10", "rate": 1.0}]
    rising = run(scenario([restriction(licence_lag_months=1, approval_rate=0.2,
                                       approval_path=path)], horizon=36))  # fmt: skip
    stuck = run(scenario([restriction(licence_lag_months=1, approval_rate=0.2)], horizon=36))
    base = f0(rising, DY, C, T)
    ex_r = rising.arrays.exports_controller[0, :, DY, T].astype(float)
    ex_s = stuck.arrays.exports_controller[0, :, DY, T].astype(float)
    # identical until the first step of the path (month 6), more approved from then on
    assert np.array_equal(ex_r[:6], ex_s[:6])
    assert ex_r[6] > ex_s[6]
    # approval 1 from month 9: decided = applied in a steady queue (about need x f0)
    assert ex_r[12:].mean() > 0.8 * base
    # approval 0.2: at most 0.2 x the applications, themselves at most 3 x normal
    assert ex_s[2:].mean() <= 0.6 * base
    mtr_r = rising.months_to_recovery()[0, DY, T]
    assert np.isfinite(mtr_r) and mtr_r < 36 - 2
    assert np.isinf(stuck.months_to_recovery()[0, DY, T])


def test_general_licence_lets_its_share_through():
    # nothing approved (lag beyond the horizon); a general licence for 30% from month 5
    g = 0.3
    sc = scenario([restriction(licence_lag_months=100, approval_rate=0.0,
                               general_licence={"start": "2025-06", "share": g})],
                  horizon=12)  # fmt: skip
    res = run(sc)
    ex = res.arrays.exports_controller[0, :, DY, T].astype(float)
    bl = res.arrays.backlog[0, :, DY, T].astype(float)
    assert np.all(ex[2:5] == 0.0)
    assert np.all(ex[5:] > 0.0)
    # the licence lets g n f0 through; at most (1 - g) n f0 dt joins the queue (missing
    # stock only net of what is pending), so exports >= g / (1 - g) x the queue's growth
    growth = np.diff(bl)[4:]
    assert np.all(growth > 0.0)
    assert np.all(ex[5:] >= g / (1 - g) * growth * (1 - 1e-6))
    # before the licence the whole need queued: n f0 dt with n >= about 1
    assert np.diff(bl)[1] > 0.5 * f0(res, DY, C, T)


def expected_prices(res: Result, draw: int = 0) -> np.ndarray:
    """The expected price xe [log] at the end of each step (T, M, 3), rebuilt from the
    quoted prices with 4.11: ``xe = (xe + (1 - e^-dt/tau_e)(x - xe)) e^-dt/tau_c``."""
    x = np.log(pm(res)[draw])
    dt = res.plan.dt
    a_e = 1.0 - math.exp(-dt / res.draws.tau_e[draw])
    keep = math.exp(-dt / res.draws.tau_c[draw])
    xe = np.zeros_like(x)
    prev = np.zeros_like(x[0])
    for t in range(x.shape[0]):
        prev = (prev + a_e * (x[t] - prev)) * keep
        xe[t] = prev
    return xe


def test_quota_caps_legal_exports_and_prices_its_rent():
    # a rate quota of 29.7 t/yr of Nd against 74.25 t/yr baseline controlled exports
    sc = scenario([{"kind": "export_restriction", "materials": ["Nd"], "targets": ["all"],
                    "effective": "2025-03", "duration_months": 6, "quota_t_per_yr": 29.7}],
                  horizon=12)  # fmt: skip
    res = run(sc)
    ex = res.arrays.exports_controller[0]
    p = pm(res)[0]
    for j in (N, T):
        assert ex[0, ND, j] == pytest.approx(f0(res, ND, C, j), rel=1e-6)
        # first step: requirement W = f0 (n = 1), Q/sum(W) = 40% of each destination's
        assert ex[2, ND, j] == pytest.approx(0.4 * f0(res, ND, C, j), rel=1e-6)
    assert np.allclose(ex[2:8, ND, C], 29.7 / 12, rtol=1e-6)  # column 0: the quota, binding
    assert ex[8:, ND, T].max() > 0.4 * f0(res, ND, C, T)  # lifted
    assert ex[2, DY, T] == pytest.approx(f0(res, DY, C, T), rel=1e-6)  # other materials
    # the rent: orders W/Q = 74.25/29.7 = 2.5 x the quota: pi = kappa p_bar (2.5 - 1) dt =
    # 0.5 x 60 x 1.5 = 45 USD/kg after the first step; the importers' floor
    # ln((60 + 45)/60) = ln 1.75 is above their stock-cover term (stocks 4-20% short), so
    # x = (1 - e^-1) ln 1.75 there
    assert p[2, ND, N] == pytest.approx(1.75 ** (1.0 - math.exp(-1.0)), rel=1e-6)
    assert p[2, ND, T] == pytest.approx(1.75 ** (1.0 - math.exp(-1.0)), rel=1e-6)
    assert p[2, ND, C] < 1.0  # exports held back at home


def test_leakage_ships_its_share_outside_the_statistics():
    # two segments, Nd only: the rest imports from the controller alone; the quota (40%
    # of 74.25 t/yr) is all the rest's
    b = toy_baseline(targets=False, materials=["Nd"])
    shock = [{"kind": "export_restriction", "materials": ["Nd"], "targets": ["all"],
              "effective": "2025-03", "quota_t_per_yr": 29.7}]  # fmt: skip
    leak, beta = 0.25, FIXED["trade_response"]
    res = run(scenario(shock, params={"quota_leakage": leak}), baseline=b)
    # the licence regime's share does not apply to a quota
    assert np.array_equal(run(scenario(shock, params={"leakage": 0.6}), baseline=b).arrays.imports,
                          run(scenario(shock), baseline=b).arrays.imports)
    tight = run(scenario(shock), baseline=b)
    base = f0(res, 0, C, N)
    cap = 0.4 * base
    ra = res.arrays
    assert np.allclose(ra.exports_controller[0, 2:, 0, N], cap, rtol=1e-6)
    assert np.allclose(tight.arrays.imports[0, 2:, 0, N], cap, rtol=1e-6)
    # first step: normal requirement W = f0 = F*. A quota's licences carry a rent that
    # smuggled goods do not pay: 25% of the requirement leaks, the quota ships legally
    assert ra.imports[0, 2, 0, N] == pytest.approx(base * (0.4 + leak), rel=1e-6)
    # later: leaked = 25% of min(W, F*), W at most 3 f0, F* = f0 min(e^{beta gap}, 3)
    x = np.log(pm(res)[0, :, 0, :])
    want = base * np.minimum(np.exp(beta * (x[1:-1, N] - x[1:-1, C])), 3.0)
    leaked = (ra.imports[0, 2:, 0, N] - ra.exports_controller[0, 2:, 0, N]).astype(float)
    assert np.all(leaked > 0)
    assert np.all(leaked <= leak * np.minimum(want, 3.0 * base) * (1 + 1e-5))


def test_under_licensing_only_what_is_held_back_leaks():
    # licences: nothing passes in the lag, so 40% of the requirement leaks; a general
    # licence for every shipment from month 4 holds nothing back, and nothing leaks
    b = toy_baseline(targets=False, materials=["Nd"])
    shock = [{"kind": "export_restriction", "materials": ["Nd"], "targets": ["all"],
              "effective": "2025-03", "licence_lag_months": 12, "approval_rate": 0.0,
              "general_licence": {"start": "2025-05", "share": 1.0}}]  # fmt: skip
    res = run(scenario(shock, params={"leakage": 0.4}), baseline=b)
    ra, base = res.arrays, f0(res, 0, C, N)
    assert ra.exports_controller[0, 2, 0, N] == 0.0
    assert ra.imports[0, 2, 0, N] == pytest.approx(0.4 * base, rel=1e-6)
    assert np.allclose(ra.imports[0, 4:, 0, N], ra.exports_controller[0, 4:, 0, N], rtol=1e-6)
    assert np.all(ra.exports_controller[0, 4:, 0, N] > 0)


def test_announcement_brings_precautionary_buying():
    # announced month 1, effective month 7, first approval 0.25: signal 0.75, hoarding 1
    ann = run(scenario([restriction(announced="2025-02", effective="2025-08",
                                    approval_rate=0.25, licence_lag_months=1)]))  # fmt: skip
    quiet = run(scenario([restriction(effective="2025-08", approval_rate=0.25,
                                      licence_lag_months=1)]))  # fmt: skip
    p_a, p_q = pm(ann)[0], pm(quiet)[0]
    assert np.allclose(p_q[:7], 1.0, atol=1e-6)  # no announcement: nothing before effective
    assert p_a[0, DY, T] == pytest.approx(1.0, abs=1e-7)
    # step 1: desired stock x 1.75 with the stock unchanged; alpha 1, tau_p 1 month
    x1 = (1.0 - math.exp(-1.0)) * math.log(1.75)
    assert p_a[1, DY, T] == pytest.approx(math.exp(x1), rel=1e-6)
    assert p_a[1, DY, C] == pytest.approx(1.0, abs=1e-6)  # not covered
    # step 2: the controller ships f0 exp(beta x_T) to the covered segment
    ex = ann.arrays.exports_controller[0, :, DY, T]
    base = f0(ann, DY, C, T)
    assert ex[2] == pytest.approx(base * math.exp(2.0 * x1), rel=1e-5)
    assert np.all(p_a[1:7, DY, T] > 1.05)
    assert np.all(ex[2:5] > base) and ex[2:7].sum() > 5 * base  # stocks built up
    assert np.allclose(quiet.arrays.exports_controller[0, :7, DY, T], base, rtol=1e-6)


def test_state_purchases_hold_up_the_controllers_price():
    # all Dy exports blocked; the controller's output does not respond (theta_C 0)
    sc = scenario([restriction(targets=["all"], licence_lag_months=100, approval_rate=0.0)],
                  horizon=18, params={"controller_supply_response": 0.0})  # fmt: skip
    delta = 0.05
    runs = {
        g: run(sc, values={"state_purchase_rate": np.array([g]),
                           "state_purchase_threshold": np.array([delta])})
        for g in (0.0, 0.3)
    }  # fmt: skip
    p0, p3 = pm(runs[0.0])[0, :, DY, C], pm(runs[0.3])[0, :, DY, C]
    # the reserve buys in step t when x_C < xe_C - delta at its start (end of step t - 1)
    x = np.log(p0)
    xe = expected_prices(runs[0.0])[:, DY, C]
    first = 1 + int(np.argmax(x[:-1] < xe[:-1] - delta - 1e-6))
    assert first > 2  # not before the glut has pushed the price down
    assert np.array_equal(p0[:first], p3[:first])
    assert np.all(p3[first:] > p0[first:])
    # without purchases the blocked exports (0.79 t/month against 2 t/month of domestic
    # demand) keep pushing the price down; 30% of demand a month holds it up
    assert p0[-1] < 0.25 and p3.min() > p0.min() + 0.3
    inv0 = runs[0.0].arrays.inventory[0, :, DY, C]
    inv3 = runs[0.3].arrays.inventory[0, :, DY, C]
    assert np.all(inv3 >= inv0 - 1e-4)  # the reserve holds what it bought


def test_controller_cuts_output_when_its_price_falls_below_expectations():
    # all Dy exports blocked: P_C = q0 exp(-theta_C max(xe - x, 0)) at the step's start
    theta = 0.5
    sc = scenario([restriction(targets=["all"], licence_lag_months=100, approval_rate=0.0)],
                  horizon=12, params={"controller_supply_response": theta})  # fmt: skip
    res = run(sc)
    x = np.log(pm(res)[0, :, DY, C])
    xe = expected_prices(res)[:, DY, C]
    q0 = float(res.plan.q0[DY, C])
    sup = res.arrays.supply[0, :, DY, C].astype(float)
    want = q0 * np.exp(-theta * np.maximum(xe[:-1] - x[:-1], 0.0))
    assert sup[0] == pytest.approx(q0, rel=1e-6)
    assert np.allclose(sup[1:], want, rtol=1e-5)
    assert sup.min() < 0.95 * q0


def test_magnet_output_follows_its_scarcest_input():
    # Japan gets no Dy (no approvals, no diversion from the rest) and has no Dy output;
    # supply elasticity 0 and no speculation, so that planned magnet output is
    # q0 min(S*/S, 1) with S* = (c_u + c_t) x magnet demand at the going price
    sc = scenario([restriction(effective="2025-02", licence_lag_months=100,
                               approval_rate=0.0)],
                  horizon=12, params={"trade_diversion": 0.0, "supply_elasticity": 0.0,
                                      "speculative_response": 0.0})  # fmt: skip
    res = run(sc)
    ra = res.arrays
    q0 = float(res.plan.q0[MAG, T])
    p = pm(res)[0]
    assert float(ra.lost[0, :, ND, T].max()) == 0.0  # Nd is not scarce
    cons = ra.consumption[0, :, DY, T].astype(float)
    lost = ra.lost[0, :, DY, T].astype(float)
    fill = cons / (cons + lost)
    # at the start of each step: last step's price and stock
    p_start = np.concatenate([[1.0], p[:-1, MAG, T]])
    demand = float(res.plan.d0[MAG, T].sum()) * p_start ** FIXED["elasticity"]["default"]
    stock = np.concatenate([ra.inventory0[0, None, MAG, T], ra.inventory[0, :-1, MAG, T]])
    ratio = np.clip(3.0 * demand / stock, 0.5, 1.5)  # c_u + c_t = 3 months
    planned = q0 * np.minimum(ratio, 1.0)  # capacity q0 (theta 0, no expansion)
    sup = ra.supply[0, :, MAG, T].astype(float)
    assert sup[0] == pytest.approx(q0, rel=1e-6)
    assert np.allclose(sup[1:], planned[:-1] * fill[:-1], rtol=1e-5)  # one step of WIP
    assert sup.min() < 0.7 * q0 and fill.min() < 0.7
    # makers pass input costs on: x_mag moves at least towards c = ln(1 + sum s (e^x - 1))
    share = res.plan.cost_share[:2, MAG]
    xm = np.log(p[:, MAG, T])
    xel = np.log(p[:, :2, T])
    cost = np.log1p(np.expm1(xel[:-1]) @ share)
    a_p = 1.0 - math.exp(-1.0)
    assert np.all(xm[1:] >= xm[:-1] + a_p * (cost - xm[:-1]) - 1e-5)
    assert p[:, DY, T].max() > 5.0 and p[-1, MAG, T] > 1.5


def test_outage_follows_origin_shares():
    # Myanmar mines feed a third of the controller's Dy: a 60% outage cuts it by 20%
    sc = scenario([{"kind": "production_outage", "country": "MMR", "stage": "mine",
                    "materials": ["Dy"], "share": 0.6, "start": "2025-03",
                    "duration_months": 4, "recovery_months": 4}], horizon=14)  # fmt: skip
    res = run(sc)
    sup = res.arrays.supply[0, :, DY].astype(float)
    q0 = res.plan.q0[DY]
    p = pm(res)[0, :, DY]
    tm = res.plan.t_mid
    out = np.ones_like(tm)
    out[(tm >= 2) & (tm < 6)] = 0.8
    rec = (tm >= 6) & (tm < 10)
    out[rec] = 1.0 - 0.2 * (1.0 - (tm[rec] - 6.0) / 4.0)
    # where the expected price is not below base the output is q0 x the outage factor
    ok = np.minimum.accumulate(p[:, C]) >= 1.0
    assert ok[2:10].all()
    assert np.allclose(sup[ok, C], q0[C] * out[ok], rtol=1e-6)
    assert np.all(sup[:, N] >= q0[N] * (1 - 1e-6))  # no Myanmar content outside


def test_expansion_is_bounded_by_the_ramp():
    # all Dy exports blocked: the rest's price soars; ramp 5%/yr of the world market
    ramp, thr = 0.05, 2.0
    sc = scenario([restriction(targets=["all"], effective="2025-01", licence_lag_months=100,
                               approval_rate=0.0)],
                  horizon=24, params={"ramp_rate_per_year": ramp})  # fmt: skip
    res = run(sc)
    sup = res.arrays.supply[0, :, DY, N].astype(float)
    q0 = float(res.plan.q0[DY, N])
    step = ramp * float(res.plan.q0[DY].sum()) / 12.0  # t/month gained per month at most
    p = pm(res)[0, :, DY, N]
    assert np.all(p >= 1.0)  # expected price above base: output = q0 + expansion
    up = np.clip((p - 1.0) / (thr - 1.0), 0.0, 1.0)
    assert np.allclose(np.diff(sup), step * up[:-1], rtol=1e-4, atol=1e-9)
    assert np.all(sup <= q0 + step * np.arange(sup.size) + 1e-6)
    assert sup[-1] > q0 + 0.8 * step * (sup.size - 1)  # mostly at full speed


def test_substitution_is_capped_and_sticky():
    # Dy alone (no magnet product): base-price demand of the rest = d0 (1 - sigma)
    b = toy_baseline(materials=["Dy"])
    rate, cap = 0.6, 0.3
    sc = scenario([restriction(targets=["all"], effective="2025-01", duration_months=12,
                               licence_lag_months=100, approval_rate=0.0)],
                  horizon=36, params={"substitution_rate_per_year": rate,
                                      "substitution_cap": cap,
                                      "substitution_price_threshold": 2.0,
                                      "substitution_memory_months": 2.0})  # fmt: skip
    res = run(sc, baseline=b)
    d0 = float(res.plan.d0[0, N].sum())
    sigma = 1.0 - res.arrays.desired[0, :, 0, N].astype(float) / d0
    assert sigma[0] == pytest.approx(0.0, abs=1e-7)
    assert np.all(np.diff(sigma) >= -1e-7)  # never reverts
    assert np.all(np.diff(sigma) <= rate / 12 + 1e-6)
    assert sigma.max() == pytest.approx(cap, abs=1e-6)
    p = pm(res)[0, :, 0, N]
    assert p[-1] < 2.0 and sigma[-1] == pytest.approx(cap, abs=1e-6)  # price back, sigma not


def test_backstop_caps_price_flags_and_loses_output():
    sc = scenario([restriction(licence_lag_months=100, approval_rate=0.0)], horizon=12,
                  params={"backstop_multiple": {"default": 1.5}})  # fmt: skip
    res = run(sc, n=2)
    p = pm(res)
    assert p.max() <= 1.5 * (1 + 1e-6)
    assert ((res.arrays.flags[:, :, DY, T] & FLAG_BACKSTOP) > 0).any()
    assert (res.arrays.lost[:, :, DY, T] > 0).any()
    s = res.summary().set_index(["material", "role"])
    assert s.loc[("Dy", "targets"), "at_backstop_share"] == 1.0
    assert s.loc[("Dy", "targets"), "lost_output_t_p50"] > 0
    assert s.loc[("Dy", "targets"), "peak_price_multiple_p90"] == pytest.approx(1.5, rel=1e-6)


def test_tariff_is_a_wedge_on_imports_from_the_controller():
    tau, beta = 0.25, FIXED["trade_response"]
    sc = scenario([{"kind": "tariff", "region": "targets", "materials": ["NdFeB"],
                    "rate": tau, "start": "2025-01"}], horizon=12)  # fmt: skip
    res = run(sc)
    ex = res.arrays.exports_controller[0]
    assert ex[0, MAG, T] == pytest.approx(f0(res, MAG, C, T) * (1 + tau) ** -beta, rel=1e-6)
    assert ex[0, MAG, N] == pytest.approx(f0(res, MAG, C, N), rel=1e-6)
    # Japan pays at least the controller's price plus the tariff: the floor ln(1.25) is
    # above its stock-cover term in the first step (imports 36% short of 3 months' stock)
    p = pm(res)[0]
    assert p[0, MAG, T] == pytest.approx(1.25 ** (1.0 - math.exp(-1.0)), rel=1e-6)
    x = np.log(p[:, MAG])
    a_p = 1.0 - math.exp(-1.0)
    assert np.all(x[1:, T] >= x[:-1, T] + a_p * (x[:-1, C] + math.log1p(tau) - x[:-1, T]) - 1e-6)
    # the controller's magnets pile up: its makers cut output (S*/S < 1)
    assert res.arrays.supply[0, :, MAG, C].min() < 0.995 * float(res.plan.q0[MAG, C])


# --------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------

_MATS = ["Nd", "Dy", "NdFeB"]


def _restricted(mat: int, rate: float, lag: float) -> Result:
    """One material restricted to Japan, approval ``rate`` after ``lag`` months."""
    sh = restriction(materials=[_MATS[mat]], stages=["separation", "magnet"],
                     approval_rate=rate, licence_lag_months=lag)  # fmt: skip
    return run(scenario([sh], horizon=18))


def _peak_and_legal(res: Result, mat: int) -> tuple[float, float]:
    """The target's peak price multiple and its cumulative legal imports [t]."""
    return (float(pm(res)[0, :, mat, T].max()),
            float(res.arrays.exports_controller[0, :, mat, T].astype(float).sum()))  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mat=st.sampled_from([ND, DY, MAG]),
    a=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)).map(sorted),
    lag=st.floats(0.0, 6.0),
)
def test_lower_approval_never_helps_the_target(mat, a, lag):
    """A clearly lower approval share (15 points or more) never lowers the target's peak
    price; no lower share gives it more than a few % more legal imports. Shares closer than
    that can order the peak the other way (the strict xfail below): the target's price
    cycles, and within the 18 months the milder control's peak can land on a later, higher
    swing (0 of 350 random pairs 15+ points apart, 1 of 400 of any gap, broke it)."""
    peak_h, legal_h = _peak_and_legal(_restricted(mat, a[0], lag), mat)
    peak_m, legal_m = _peak_and_legal(_restricted(mat, a[1], lag), mat)
    if a[1] - a[0] >= 0.15:
        assert peak_h >= peak_m * (1 - 1e-6)
    # at most a few % more legal imports: a harsher control leaves the target shorter, and
    # its requirement (stock gap, the magnet makers' orders for inputs, 4.2 and 4.7) grows,
    # so the same approval share of it can add up to a little more over the horizon (up to
    # 3.6% on a grid of approvals and lags, before and after the 2026-11 magnet planning)
    assert legal_h <= legal_m * 1.05 + 1e-9


@pytest.mark.xfail(strict=True, reason="issue 10: the target's price cycles; with approval "
                   "42.5% the Dy peak within 18 months is 7.8x (month 13), with 45% 9.1x "
                   "(month 15, a later swing)")
def test_nearby_approval_shares_order_the_peak():
    peak_h, _ = _peak_and_legal(_restricted(DY, 0.425, 2.0), DY)
    peak_m, _ = _peak_and_legal(_restricted(DY, 0.45, 2.0), DY)
    assert peak_h >= peak_m * (1 - 1e-6)


# (material, (approval, lag) of the harsher control, (approval, lag) of the milder one)
_HARSHER = [
    pytest.param(DY, (0.2, 3.0), (0.6, 1.0), id="Dy-lower-approval-longer-lag"),
    pytest.param(MAG, (0.0, 2.0), (0.5, 2.0), id="NdFeB-lower-approval"),
    pytest.param(DY, (0.3, 2.0), (0.3, 0.0), id="Dy-longer-lag-lowers-peak"),
    pytest.param(MAG, (0.5, 6.0), (0.5, 2.0), id="NdFeB-longer-lag-more-legal-imports"),
]  # fmt: skip


@pytest.mark.parametrize(("mat", "harsh", "mild"), _HARSHER)
def test_harsher_restriction_never_helps_the_target(mat, harsh, mild):
    """A harsher control (lower approval, longer lag) never lowers the target's peak
    price nor raises its legal imports. The lag cases were counterexamples (8.77x peak
    with a 2-month lag vs 9.58x without; more legal imports with a 6-month lag) while
    buyers re-applied every month for the same missing stock; applications for missing
    stock now net out what is pending (docs/engine.md 4.7)."""
    peak_h, legal_h = _peak_and_legal(_restricted(mat, *harsh), mat)
    peak_m, legal_m = _peak_and_legal(_restricted(mat, *mild), mat)
    assert peak_h >= peak_m * (1 - 1e-6)
    # at most a few % more legal imports: a harsher control leaves the target shorter, and
    # its requirement (stock gap, the magnet makers' orders for inputs, 4.2 and 4.7) grows,
    # so the same approval share of it can add up to a little more over the horizon (up to
    # 3.6% on a grid of approvals and lags, before and after the 2026-11 magnet planning)
    assert legal_h <= legal_m * 1.05 + 1e-9


def _nd_demand_up_5pct(horizon: int, **params: float) -> np.ndarray:
    """Price multiples of Nd after a 5% rise in Japan's Nd demand (T, 3)."""
    sc = scenario([{"kind": "demand_change", "region": "targets", "materials": ["Nd"],
                    "level": 0.05, "start": "2025-02"}], horizon=horizon,
                  params=params)  # fmt: skip
    return pm(run(sc))[0, :, ND]


def test_small_demand_change_keeps_prices_near_base():
    # a 5% rise in imports needs a price gap of ln(1.05)/beta = 0.012 for beta 4: a stable
    # market stays within a few percent. Trade answers last month's price gap: with a fast
    # trade response, a high cover sensitivity and thin stocks (all inside the priors)
    # the engine of 7e3c340 swung between 0.3 and 2 x base (a cobweb); the importers'
    # price floor at the controller's price now damps it
    p = _nd_demand_up_5pct(24, trade_response=4.0, price_cover_sensitivity=2.5,
                           user_cover_months=0.9, trader_cover_months=0.9,
                           speculative_response=0.0)  # fmt: skip
    assert np.all((p > 0.9) & (p < 1.1)), p.round(3)


def test_small_demand_change_stays_small_below_the_loop_gain_of_one():
    # loop gain alpha eta c_t / (c_u + c_t) = 3 x 0.66 x 0.5 = 0.99 (calibrate.loop_gain):
    # strong speculation with a sensitive price, still a stable market
    p = _nd_demand_up_5pct(60, price_cover_sensitivity=3.0, speculative_response=0.66)
    assert np.all((p > 0.95) & (p < 1.1)), p.round(2)


def test_price_stock_loop_runs_away_far_above_a_gain_of_one():
    # gain 3 x 1.5 x 0.5 = 2.25: a 5% demand change grows into cycles between the floor and
    # the backstop, which is why the calibration never accepts a vector with gain >= 1
    # (docs/validation.md section 2); the lags of price and expectation damp the loop, so
    # the runaway starts somewhat above 1 (about 1.6 on this market)
    p = _nd_demand_up_5pct(60, price_cover_sensitivity=3.0, speculative_response=1.5)
    assert p.max() > 10.0 and p.min() < 0.3, p.round(2)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    origin=st.sampled_from([("MMR", "mine"), ("CHN", "separation")]),
    mats=st.sets(st.sampled_from(["Nd", "Dy"]), min_size=1).map(sorted),
    share=st.floats(0.0, 1.0),
    start=st.integers(1, 8),
    dur=st.integers(1, 12),
    recovery=st.integers(0, 6),
    seed=st.integers(0, 1000),
)
def test_random_outages_keep_prices_positive_and_balances_closed(
    origin, mats, share, start, dur, recovery, seed
):
    sh = {"kind": "production_outage", "country": origin[0], "stage": origin[1],
          "materials": mats, "share": share, "start": f"2025-{start:02d}",
          "duration_months": dur, "recovery_months": recovery}  # fmt: skip
    res = run(scenario([sh], horizon=18, fixed=False), n=2, seed=seed)
    price = res.arrays.price
    assert np.all(np.isfinite(price)) and np.all(price > 0)
    assert np.all(pm(res) >= 0.1 * (1 - 1e-6))
    assert np.all(mass_balance_residual(res) <= _mass_tolerance(res))
    assert np.all(res.arrays.consumption >= -1e-9) and np.all(res.arrays.inventory >= -1e-6)


def test_magnet_product_sectors_share_the_magnets_elasticity():
    """The product sectors of the magnet markets draw one 'magnets' elasticity (near
    inelastic: magnets are a small part of their products' cost); element markets keep
    'default'; the magnet makers' element demand follows Hicks-Marshall from the magnets'
    draw."""
    from oreflow.simulate.baseline import PRODUCT_SECTORS
    from oreflow.simulate.engine import material_elasticities

    res = run(scenario([], fixed=False), n=400)  # the default priors
    sectors = res.plan.baseline.sectors
    eps = res.draws.eps
    prod = [sectors.index(s) for s in PRODUCT_SECTORS]
    other = sectors.index("other_uses")
    assert np.all(eps[:, prod] == eps[:, prod[:1]])  # one draw for every product sector
    assert np.all((eps[:, prod] >= -0.15) & (eps[:, prod] <= -0.03))
    assert np.all(eps[:, other] <= -0.15)  # the element markets' default: more elastic
    el = material_elasticities(res.plan, res.draws)
    k = res.plan.kmag
    assert np.all(np.abs(el[:, res.plan.el, k]) < np.abs(eps[:, [other]]))
    # an explicit entry for a product sector still wins
    sc = scenario([], fixed=False,
                  params={"elasticity": {"default": {"dist": "fixed", "value": -0.3},
                                             "magnets": {"dist": "fixed", "value": -0.05},
                                             "wind": {"dist": "fixed", "value": -0.2}}})
    d = run(sc, n=2).draws.eps
    assert d[0, sectors.index("wind")] == -0.2
    assert d[0, sectors.index("automotive")] == -0.05


def test_a_glut_at_the_anchor_cuts_imports_instead_of_piling_up():
    """Under china-2025-04 new projects and substitution leave the outside Dy market with
    more than it wants while the importer anchor holds its price at China's (4.11). Where
    the price sits on its floor, imports from the controller are capped at the buyers'
    orders (4.6): China's Dy exports fall and outside stocks stay bounded (without the cap
    they reached 8-11 x their start by month 36, at about China's price)."""
    res = simulate(Scenario.builtin("china-2025-04"), draws=60, seed=5)
    dy = res.materials.index("Dy")
    inv = np.asarray(res.arrays.inventory[:, :, dy, 1], np.float64)
    start = np.asarray(res.arrays.inventory0[:, dy, 1], np.float64)
    ratio = np.median(inv[:, -1] / start)
    assert ratio < 4.0, ratio
    ex = np.asarray(res.arrays.exports_controller[:, :, dy, 1], np.float64)
    base = float(res.plan.f0[dy, 0, 1])
    assert np.median(ex[:, -6:].mean(axis=1)) < 0.5 * base  # China ships less into the glut



def _magnet_embargo(capacity: float) -> Result:
    """Japan's magnet demand doubled (400 t/yr) and its 50 t/yr of Chinese magnets
    embargoed from 2025-03 (no approvals), for 24 months; Japan's makers (150 t/yr) have
    ``capacity`` t/yr more, online before the start."""
    from dataclasses import replace

    from oreflow.simulate.baseline import Project

    b = toy_baseline()
    cap = np.zeros(len(b.materials))
    cap[MAG] = capacity
    b = replace(b, projects=(Project("jp-mag", T, cap, 2024.0),))
    shocks = [restriction(materials=["NdFeB"], stages=["magnet"], approval_rate=0.0,
                          licence_lag_months=1.0),
              {"kind": "demand_change", "region": "targets", "materials": ["NdFeB"],
               "level": 1.0, "start": "2025-01"}]
    sc = scenario(shocks, horizon=24, pipeline=True,
                  params={"project_delay_probability": 0.0, "project_ramp_months": 1.0})
    return run(sc, baseline=b)


def test_spare_magnet_capacity_replaces_lost_imports():
    """Makers with spare capacity take the orders other suppliers did not fill (4.2):
    Japan's output goes past 1.5 x its baseline times the world demand index (1.5 x 150 x
    1.2 = 270 t/yr, the ceiling of the stock ratio that planned output before 2026-11)
    towards its demand of 400 t/yr, and the shortfall and the price fall with the
    capacity."""
    spare = _magnet_embargo(250.0)
    none = _magnet_embargo(0.0)
    out = np.asarray(spare.arrays.supply[0, -6:, MAG, T], np.float64).mean() * 12.0
    assert out > 300.0, out
    short = [float(np.asarray(r.arrays.shortfall[0, :, MAG, T], np.float64).sum())
             for r in (spare, none)]
    assert short[0] < 0.5 * short[1]
    assert float(pm(spare)[0, -1, MAG, T]) < float(pm(none)[0, -1, MAG, T])


def _with_mine(p_fail: float, n: int = 200) -> Result:
    """The toy's rest-of-world mine project (20 t/yr Nd from mid-2024) with ``p_fail``."""
    from dataclasses import replace

    b = toy_baseline()
    b = replace(b, projects=tuple(replace(p, p_fail=p_fail) for p in b.projects))
    sc = scenario([restriction(materials=["Nd"])], horizon=12, pipeline=True, fixed=False)
    return run(sc, n=n, seed=3, baseline=b)


def test_a_failed_project_adds_nothing_in_its_draw():
    """p_fail: each draw's project fails with that probability (its own stream): a failed
    project never starts; every other draw and every other quantity is unchanged."""
    ok, half, dead = _with_mine(0.0), _with_mine(0.5), _with_mine(1.0)
    start = [np.asarray(r.draws.proj_start[:, 0]) for r in (ok, half, dead)]
    assert np.isfinite(start[0]).all() and np.isinf(start[2]).all()
    failed = np.isinf(start[1])
    assert 0.35 < failed.mean() < 0.65
    np.testing.assert_array_equal(start[1][~failed], start[0][~failed])
    np.testing.assert_array_equal(half.draws.tau_u, ok.draws.tau_u)
    # the rest's Nd supply: a failed draw runs exactly as with no project at all
    sup = [np.asarray(r.arrays.supply[:, :, ND, N], np.float64) for r in (ok, half, dead)]
    np.testing.assert_array_equal(sup[1][failed], sup[2][failed])
    np.testing.assert_array_equal(sup[1][~failed], sup[0][~failed])
    assert np.median(sup[0][:, -1] - sup[2][:, -1]) > 0.5  # t/month: the project adds


@pytest.mark.parametrize("p_fail", [-0.1, 1.5, float("nan")])
def test_project_p_fail_outside_0_1_is_refused(p_fail: float) -> None:
    from oreflow.errors import InputError
    from oreflow.simulate.baseline import Project

    with pytest.raises(InputError, match="p_fail must be in"):
        Project("x", 1, np.zeros(3), 2025.0, "src", p_fail=p_fail)
