"""Disruption engine: invariants, mechanisms, determinism, agreement with the reference loop."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oreflow.simulate import Scenario, mass_balance_residual, simulate, toy_baseline
from oreflow.simulate.compile import compile_plan
from oreflow.simulate.draws import sample_draws
from oreflow.simulate.engine import run_plan

sys.path.insert(0, str(Path(__file__).parent))
from reference_engine import run_reference

FIELDS = ("price", "supply", "consumption", "imports", "inventory", "shortfall", "desired")


def sc(text: str) -> Scenario:
    return Scenario.parse_yaml("name: t\nstart: 2025-01\n" + text)


def restriction(**kw: object) -> str:
    base = {
        "kind": "export_restriction",
        "materials": "[Dy]",
        "targets": "[JPN]",
        "effective": "2025-03",
        "licence_lag_months": 1,
        "approval_rate": 0.3,
    }
    base.update({k: str(v) for k, v in kw.items()})
    return "  - {" + ", ".join(f"{k}: {v}" for k, v in base.items()) + "}\n"


COMPLEX = sc(
    "horizon_months: 18\npipeline: true\nshocks:\n"
    "  - {kind: export_restriction, materials: [all], stages: [separation, magnet],"
    " targets: [all], announced: 2025-02, effective: 2025-04, duration_months: 8,"
    " licence_lag_months: {dist: uniform, low: 1, high: 3},"
    " approval_rate: {dist: uniform, low: 0.2, high: 0.6}}\n"
    "  - {kind: export_restriction, materials: [Dy, NdFeB], stages: [separation, magnet],"
    " targets: [JPN], effective: 2025-05, duration_months: 6, de_minimis_threshold: 0.001}\n"
    "  - {kind: production_outage, country: MMR, stage: mine, materials: [Dy], share: 0.8,"
    " start: 2025-02, duration_months: 4, recovery_months: 3}\n"
    "  - {kind: tariff, region: targets, materials: [NdFeB], rate: 0.25, start: 2025-01}\n"
    "  - {kind: stockpile_release, region: rest, materials: [Dy], tonnes: 1.0,"
    " start: 2025-04, duration_months: 4}\n"
    "  - {kind: demand_change, region: all, materials: [NdFeB], sector: automotive,"
    " growth_per_year: 0.1, start: 2025-01}\n"
    "  - {kind: price_floor, region: rest, materials: [Nd], usd_per_kg: 70, start: 2025-01}\n"
)
TWO_SEG = sc(
    "horizon_months: 18\nshocks:\n"
    "  - {kind: export_restriction, materials: [Dy, Nd, NdFeB], stages: [separation, magnet],"
    " targets: [all], effective: 2025-02, duration_months: 9, licence_lag_months: 2,"
    " approval_rate: {dist: uniform, low: 0.0, high: 0.5}, de_minimis_threshold: 0.001}\n"
    "  - {kind: production_outage, country: MMR, stage: mine, materials: [Dy],"
    " share: {dist: uniform, low: 0.5, high: 1.0}, start: 2025-06, duration_months: 6}\n"
)
NO_SHOCK = sc("horizon_months: 12\n")


def _compare(a, r, rtol=2e-5, baseline=None):
    """Engine and reference agree (segments without any volume carry no meaningful price)."""
    live = np.ones(a.price.shape[2:], dtype=bool)
    if baseline is not None:
        live = (baseline.production + baseline.consumption()) > 0
    for f in FIELDS:
        x, y = getattr(a, f).astype(float), getattr(r, f).astype(float)
        scale = np.abs(y) + 1e-3 * (np.abs(y).max() + 1.0)
        ok = np.abs(x - y) <= rtol * scale
        assert np.all(ok | ~live[None, None]), f
    assert np.allclose(a.cost, r.cost, rtol=1e-6, atol=1e-3)
    assert np.allclose(a.shortfall_sector, r.shortfall_sector, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("scenario", "targets"), [(COMPLEX, True), (TWO_SEG, False), (NO_SHOCK, True)]
)
def test_vectorised_engine_matches_reference_loop(scenario, targets):
    b = toy_baseline(targets=targets)
    plan = compile_plan(scenario, b)
    draws = sample_draws(scenario, b, 5, rng=11)
    _compare(run_plan(plan, draws), run_reference(plan, draws), baseline=b)


def test_reference_agrees_on_data_baseline():
    scn = Scenario.builtin("china-2025-04").with_horizon(6)
    res = simulate(scn, draws=3, seed=5)
    ref = run_reference(res.plan, res.draws)
    _compare(res.arrays, ref, rtol=1e-4, baseline=res.plan.baseline)


def test_no_shock_no_change():
    res = simulate(NO_SHOCK, draws=20, seed=1, baseline=toy_baseline())
    assert np.allclose(res.price_multiple(), 1.0, atol=1e-9)
    assert np.all(res.arrays.shortfall == 0.0)
    s = res.summary()
    assert np.allclose(s["cost_musd_p50"], 0.0, atol=1e-9)
    assert np.all(s["months_to_recovery_p90"] == 0.0)


def test_no_shock_no_change_on_data_baseline():
    scn = Scenario.parse_yaml("name: calm\nstart: 2025-01\nhorizon_months: 6\n")
    res = simulate(scn, draws=8, seed=2)
    assert np.allclose(res.price_multiple(), 1.0, atol=1e-9)
    assert float(res.arrays.shortfall.max()) == 0.0


@pytest.mark.parametrize("scenario", [COMPLEX, TWO_SEG])
def test_mass_balance_every_step(scenario):
    b = toy_baseline(targets=scenario is COMPLEX)
    res = simulate(scenario, draws=40, seed=3, baseline=b)
    scale = float(np.abs(res.arrays.supply).max() + np.abs(res.arrays.consumption).max())
    assert float(mass_balance_residual(res).max()) <= 1e-5 * scale
    assert np.all(res.arrays.inventory >= -1e-6)
    assert np.all(res.arrays.price > 0)


def test_determinism_chunks_and_prefix():
    b = toy_baseline()
    a = simulate(COMPLEX, draws=30, seed=7, baseline=b, workers=1, chunk_size=30)
    c = simulate(COMPLEX, draws=30, seed=7, baseline=b, workers=2, chunk_size=7)
    for f in FIELDS:
        assert np.array_equal(getattr(a.arrays, f), getattr(c.arrays, f)), f
    small = simulate(COMPLEX, draws=10, seed=7, baseline=b)
    assert np.array_equal(small.arrays.price, a.arrays.price[:10])
    other = simulate(COMPLEX, draws=10, seed=8, baseline=b)
    assert not np.array_equal(other.arrays.price, small.arrays.price)
    assert a.provenance["seed"] == 7
    rng = np.random.default_rng(3)
    g = simulate(COMPLEX, draws=5, rng=rng, baseline=b)
    assert g.provenance["seed"] >= 0
    with pytest.raises(TypeError):
        simulate(COMPLEX, draws=5, seed=1, rng=2, baseline=b)


# -- invariants by hypothesis -------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    approval=st.floats(0.0, 0.9),
    harsher=st.floats(0.05, 1.0),
    lag=st.floats(0.0, 3.0),
    month=st.integers(1, 5),
    mats=st.sampled_from(["[Dy]", "[Nd]"]),
    seed=st.integers(0, 1000),
)
def test_harsher_restriction_never_helps_the_target(approval, harsher, lag, month, mats, seed):
    b = toy_baseline()
    low = approval * (1 - harsher)
    kw = {"materials": mats, "effective": f"2025-{month:02d}", "licence_lag_months": lag,
          "duration_months": 6}  # fmt: skip
    mild = sc("horizon_months: 12\nshocks:\n" + restriction(approval_rate=approval, **kw))
    hard = sc("horizon_months: 12\nshocks:\n" + restriction(approval_rate=low, **kw))
    rm = simulate(mild, draws=4, seed=seed, baseline=b)
    rh = simulate(hard, draws=4, seed=seed, baseline=b)
    assert np.all(rh.arrays.price > 0) and np.all(rm.arrays.price > 0)
    for m in ("Dy", "Nd") if mats == "[Dy, Nd]" else (mats[1:-1],):
        i = b.materials.index(m)
        pm, ph = rm.arrays.price[:, :, i, 2], rh.arrays.price[:, :, i, 2]
        assert np.all(ph.max(axis=1) >= pm.max(axis=1) * (1 - 1e-5))
        window = slice(month - 1, month + 5)
        sm = (rm.arrays.imports + rm.arrays.supply)[:, window, i, 2].sum(axis=1)
        sh = (rh.arrays.imports + rh.arrays.supply)[:, window, i, 2].sum(axis=1)
        assert np.all(sh <= sm * (1 + 1e-5) + 1e-6)


@settings(max_examples=10, deadline=None)
@given(share=st.floats(0.0, 1.0), start=st.integers(0, 6), seed=st.integers(0, 100))
def test_outage_prices_positive_and_balanced(share, start, seed):
    scn = sc(
        "horizon_months: 12\nshocks:\n  - {kind: production_outage, country: MMR, stage: mine,"
        f" materials: [Dy], share: {share}, start: 2025-{start + 1:02d}, duration_months: 4}}\n"
    )
    res = simulate(scn, draws=4, seed=seed, baseline=toy_baseline())
    assert np.all(res.arrays.price > 0)
    assert float(mass_balance_residual(res).max()) < 1e-3


# -- mechanisms ---------------------------------------------------------------------------


def _run(text, draws=30, seed=1, targets=True):
    return simulate(sc(text), draws=draws, seed=seed, baseline=toy_baseline(targets=targets))


def test_licence_lag_stops_controlled_exports():
    res = _run(
        "horizon_months: 8\nshocks:\n  - {kind: export_restriction, materials: [Dy],"
        " targets: [all], effective: 2025-03, licence_lag_months: 2, approval_rate: 0.5}\n",
        targets=False,
    )
    i = res.materials.index("Dy")
    lag_steps = res.arrays.imports[:, 2:4, i, 1]  # months 2-3: inside the lag
    assert np.all(lag_steps <= 1e-9)  # the rest gets nothing from the controller
    after = res.arrays.imports[:, 5:, i, 1]
    assert np.all(after <= 0.5 * res.plan.x0flow[i, 1] * (1 + 1e-9) + 1e-9)
    # freed supply stays at home: the controller's price falls
    assert np.all(res.arrays.price[:, 2:4, i, 0] < res.plan.p0[i])


def test_pre_announcement_rush():
    res = _run(
        "horizon_months: 8\nshocks:\n  - {kind: export_restriction, materials: [Dy],"
        " targets: [JPN], announced: 2025-02, effective: 2025-05, approval_rate: 0.2}\n"
    )
    i = res.materials.index("Dy")
    before = res.arrays.imports[:, 1:4, i, 2]
    assert np.all(before.mean(axis=1) > res.plan.x0flow[i, 2])  # buying ahead of the control
    assert np.all(res.arrays.inventory[:, 3, i, 2] > res.arrays.inventory0[:, i, 2])


def test_stage_coupling_magnets_need_oxide():
    res = _run(
        "horizon_months: 8\nshocks:\n  - {kind: export_restriction, materials: [Dy],"
        " targets: [JPN], effective: 2025-02, approval_rate: 0.0}\n",
        draws=10,
    )
    j = res.materials.index("NdFeB")
    q0 = res.plan.q0[j, 2]
    late = res.arrays.supply[:, -1, j, 2]
    assert np.all(late < 0.9 * q0)  # magnet makers in T without Dy cannot produce
    assert np.all(res.arrays.price[:, -1, j, 2] > res.plan.p0[j])


def test_outage_carried_downstream_by_origin():
    res = _run(
        "horizon_months: 4\nshocks:\n  - {kind: production_outage, country: MMR, stage: mine,"
        " materials: [Dy], share: 1.0, start: 2025-01, duration_months: 12}\n",
        draws=5,
    )
    i = res.materials.index("Dy")
    ratio = res.arrays.supply[:, 0, i, 0] / res.plan.q0[i, 0]
    assert np.all(ratio <= 2 / 3 + 1e-6)  # a third of the controller's Dy comes via MMR


def test_ramp_is_bounded():
    res = _run(
        "horizon_months: 12\nparameters: {recycling_rate_per_year: 0}\nshocks:\n"
        "  - {kind: export_restriction, materials: [Nd], targets: [all], effective: 2025-01,"
        " approval_rate: 0.0}\n",
        targets=False,
    )
    i = res.materials.index("Nd")
    q = res.arrays.supply[:, :, i, 1].astype(float)
    step = np.diff(q, axis=1)
    bound = res.draws.ramp[:, None] * res.plan.volume[i] / 12.0
    assert np.all(step <= bound * (1 + 1e-4) + 1e-6)
    assert np.all(q[:, -1] > q[:, 0])  # it does ramp up


def test_substitution_capped_and_sticky():
    res = _run(
        "horizon_months: 36\nshocks:\n  - {kind: export_restriction, materials: [Nd],"
        " targets: [all], effective: 2025-01, duration_months: 18, approval_rate: 0.0}\n",
        targets=False,
        draws=10,
    )
    i = res.materials.index("Nd")
    des = res.arrays.desired[:, :, i, 1].astype(float)
    base = des[:, 0]
    cut = 1 - des.min(axis=1) / base
    assert np.all(cut <= res.draws.sub_cap + 1e-5)
    assert np.all(des[:, -1] <= base * (1 + 1e-6))  # demand does not come back


def test_policy_responses():
    base = ("horizon_months: 10\nshocks:\n  - {kind: export_restriction, materials: [Dy, NdFeB],"
            " stages: [separation, magnet], targets: [JPN], effective: 2025-01,"
            " approval_rate: 0.2}\n")  # fmt: skip
    plain = _run(base, draws=10)
    release = _run(base + "  - {kind: stockpile_release, region: targets, materials: [Dy],"
                   " tonnes: 2.0, start: 2025-03, duration_months: 3}\n", draws=10)  # fmt: skip
    tariff = _run(base + "  - {kind: tariff, region: rest, materials: [NdFeB], rate: 0.3,"
                  " start: 2025-01}\n", draws=10)  # fmt: skip
    i, j = plain.materials.index("Dy"), plain.materials.index("NdFeB")
    assert np.all(release.arrays.price[:, 3, i, 2] < plain.arrays.price[:, 3, i, 2])
    assert np.allclose(
        tariff.arrays.price[:, :, j, 1] / tariff.arrays.price[:, :, j, 0], 1.3, rtol=1e-5
    )


# -- results API --------------------------------------------------------------------------


def test_result_tables_and_export(tmp_path):
    res = simulate(COMPLEX, draws=25, seed=4, baseline=toy_baseline())
    s = res.summary()
    for col in ("material", "region", "role", "peak_price_multiple_p10", "peak_price_multiple_p50",
                "peak_price_multiple_p90", "shortfall_t_p50", "months_to_recovery_p50",
                "cost_musd_p90"):  # fmt: skip
        assert col in s.columns
    assert set(s["role"]) == {"controller", "rest", "targets"}
    assert np.all(s["peak_price_multiple_p10"] <= s["peak_price_multiple_p90"])
    df = res.to_pandas()
    assert {"variable", "material", "region", "month", "date", "p10", "p50", "p90"} <= set(df)
    assert set(df["variable"]) == {"price", "price_multiple", "supply", "consumption", "imports",
                                   "inventory", "shortfall"}  # fmt: skip
    assert np.all(df["p10"] <= df["p90"] + 1e-9)
    sec = res.sector_shortfall()
    assert {"sector", "shortfall_t_p50"} <= set(sec)
    for fmt in ("parquet", "csv", "json"):
        paths = res.write(tmp_path / fmt, fmt)  # type: ignore[arg-type]
        assert all(p.exists() for p in paths)
    prov = json.loads((tmp_path / "csv" / "provenance.json").read_text())
    for key in ("package_version", "dataset_version", "scenario_hash", "seed", "draws"):
        assert key in prov
    back = pd.read_parquet(tmp_path / "parquet" / "summary.parquet")
    assert len(back) == len(s)
    assert "scenario=" in repr(res)


def test_progress_and_horizon_override():
    calls = []
    res = simulate(COMPLEX, draws=10, seed=1, horizon=6, baseline=toy_baseline(),
                   progress=lambda d, t: calls.append((d, t)), chunk_size=5)  # fmt: skip
    assert res.arrays.price.shape[1] == 6
    assert calls[-1] == (12, 12)


def test_elements_only_baseline_is_steady_and_matches_reference():
    b = toy_baseline(materials=("Nd", "Dy"))
    assert b.materials == ("Nd", "Dy")
    calm = simulate(NO_SHOCK, draws=5, seed=1, baseline=b)
    assert np.allclose(calm.price_multiple(), 1.0, atol=1e-9)
    plan = compile_plan(TWO_SEG.model_copy(update={"shocks": TWO_SEG.shocks[:1]}), b)
    draws = sample_draws(TWO_SEG, b, 3, rng=2)
    _compare(run_plan(plan, draws), run_reference(plan, draws), baseline=b)
