"""The engine's check of a plan (oreflow.plan.evaluate): mapping, common random numbers,
moving a shock to another year, stockpile releases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

from oreflow.errors import InputError
from oreflow.plan import (
    PlanEvaluation,
    element_tonnes,
    evaluate_plan,
    grow_baseline,
    plan_mapping,
    plan_projects,
    shift_scenario,
    stockpile_releases,
)
from oreflow.plan.defaults import load_defaults
from oreflow.plan.result import Choice
from oreflow.simulate import Scenario, toy_baseline
from oreflow.simulate.baseline import check_baseline
from oreflow.simulate.baseline_prices import CapacitySplit

# A hand-made split: Pr is a quarter of NdPr, Dy 80% of Dy+Tb; one ore (USA) of 45% Nd,
# 10% Pr, 10% Dy, 5% Y, 30% Ce; a magnet recipe with 0.3 t Nd, 0.1 Pr, 0.05 Dy, 0.05 Tb oxide
# per t of magnet.
COMP = pd.DataFrame({"Nd": [0.45], "Pr": [0.10], "Dy": [0.10], "Y": [0.05], "Ce": [0.30]},
                    index=pd.Index(["USA"], name="country"))
SPLIT = CapacitySplit(0.25, 0.8, COMP, {"Nd": 0.3, "Pr": 0.1, "Dy": 0.05, "Tb": 0.05})

# The toy market: a Dy restriction towards the targets (JPN), 24 months from 2025-01.
TOY = """
name: toy-dy
start: 2025-01
horizon_months: 24
shocks:
  - {kind: export_restriction, id: dy, materials: [Dy], targets: [JPN], effective: 2025-03,
     licence_lag_months: 2, approval_rate: 0.3}
"""


def choice(option_id: str, stage: str, iso3: str, material: str, cap: float = 0.0, *,
           online: float = 2024.0, decided: bool = False, kind: str = "generic",
           stock: float = 0.0, p_fail: float = 0.0) -> Choice:
    return Choice(option_id=option_id, kind=kind, name=option_id, stage=stage, iso3=iso3,
                  material=material, start_year=2023, online_year=online,
                  full_year=online + 1.0, units=1, capacity_t_per_yr=cap, stage_t_per_yr=cap,
                  stock_t=stock, capex_musd=1.0, p_fail=p_fail, decided=decided,
                  source_ids=(f"src_{option_id}",))


def toy_scenario() -> Scenario:
    return Scenario.parse_yaml(TOY)


# -- mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(("stage", "material", "iso3", "want"), [
    ("separation", "NdPr oxide", "USA", {"Nd": 75.0, "Pr": 25.0}),
    ("separation", "Dy+Tb oxide", "USA", {"Dy": 80.0, "Tb": 20.0}),
    ("separation", "REO", "USA", {"Nd": 45.0, "Pr": 10.0, "Dy": 10.0, "Y": 5.0, "Ce": 30.0}),
    # a country without a composition takes the mean ore (here the one row)
    ("separation", "separated oxide", "FRA",
     {"Nd": 45.0, "Pr": 10.0, "Dy": 10.0, "Y": 5.0, "Ce": 30.0}),
    # heavy part of the USA ore: Dy 0.10, Y 0.05 -> 2/3 and 1/3
    ("separation", "heavy REO", "USA", {"Dy": 100 * 2 / 3, "Y": 100 / 3}),
    # light part: Nd 0.45, Pr 0.10, Ce 0.30 of 0.85
    ("separation", "light REO", "USA",
     {"Nd": 100 * 0.45 / 0.85, "Pr": 100 * 0.10 / 0.85, "Ce": 100 * 0.30 / 0.85}),
    ("separation", "Y oxide", "USA", {"Y": 100.0}),
    # recipe oxide shares 0.3 : 0.1 : 0.05 : 0.05 of 0.5
    ("separation", "magnet REO (separated)", "USA",
     {"Nd": 60.0, "Pr": 20.0, "Dy": 10.0, "Tb": 10.0}),
    ("separation", "REO (recycled from magnet scrap)", "USA",
     {"Nd": 60.0, "Pr": 20.0, "Dy": 10.0, "Tb": 10.0}),
    ("magnet", "NdFeB", "USA", {"NdFeB": 100.0}),
])
def test_mapping_conserves_tonnes(stage: str, material: str, iso3: str,
                                  want: dict[str, float]) -> None:
    vec, how = element_tonnes(stage, material, 100.0, iso3, SPLIT)
    assert vec is not None, how
    assert vec.keys() == want.keys()
    for m, t in want.items():
        assert vec[m] == pytest.approx(t)
    assert sum(vec.values()) == pytest.approx(100.0)


@pytest.mark.parametrize(("stage", "material", "why"), [
    ("mine", "REO", "separation"),
    ("metal", "NdPr metal", "oxide-level"),
    ("metal", "metal", "oxide-level"),
    ("magnet", "NdFeB alloy", "no engine market"),
])
def test_mine_and_metal_add_nothing(stage: str, material: str, why: str) -> None:
    vec, reason = element_tonnes(stage, material, 100.0, "USA", SPLIT)
    assert vec is None
    assert why in reason


def test_plan_projects_segments_and_expected_capacity() -> None:
    b = toy_baseline()
    cs = [choice("jp-dy", "separation", "JPN", "Dy+Tb oxide", 10.0, p_fail=0.5),
          choice("us-mag", "magnet", "USA", "NdFeB", 100.0),
          choice("cn-mag", "magnet", "CHN", "NdFeB", 100.0, p_fail=0.2)]
    projects = {p.project_id: p for p in plan_projects(cs, b, split=SPLIT)}
    jp, us, cn = projects["plan:jp-dy"], projects["plan:us-mag"], projects["plan:cn-mag"]
    assert (jp.region, us.region, cn.region) == (2, 1, 0)
    # 10 t x (1 - 0.5) = 5 t Dy+Tb, Dy 80% = 4 t; Tb is not in the toy market
    assert jp.capacity[b.index("Dy")] == pytest.approx(4.0)
    assert us.capacity[b.index("NdFeB")] == pytest.approx(100.0)
    assert cn.capacity[b.index("NdFeB")] == pytest.approx(80.0)
    assert jp.start_year == 2024.0 and jp.source_id == "src_jp-dy"
    m = plan_mapping(cs, b, split=SPLIT, failure="ignore")
    tb = m[m["engine_material"] == "Tb"].iloc[0]
    assert not tb["included"] and "not simulated" in tb["reason"]
    assert m.loc[m["engine_material"] == "Dy", "engine_t_per_yr"].iloc[0] == pytest.approx(8.0)


def test_pipeline_project_is_not_counted_twice() -> None:
    b = toy_baseline()  # has project toy-mine in its pipeline
    m = plan_mapping([choice("project:toy-mine", "separation", "USA", "NdPr oxide", 10.0,
                             kind="project", decided=True)], b, split=SPLIT)
    assert not m["included"].any()
    assert "already in the engine's pipeline" in m["reason"].iloc[0]


# -- the runs ------------------------------------------------------------------------------


def run(cs: list[Choice], **kw: Any) -> PlanEvaluation:
    return evaluate_plan(cs, toy_scenario(), draws=60, seed=3, baseline=toy_baseline(), **kw)


def row(ev: PlanEvaluation, material: str, role: str, metric: str) -> pd.Series:
    c = ev.comparison
    return c[(c["material"] == material) & (c["role"] == role)
             & (c["metric"] == metric)].iloc[0]


def test_capacity_in_targets_lowers_their_shortfall_and_price() -> None:
    # Dy separation in Japan (the targets), online before the shock: 4 t/yr of Dy against
    # the targets' 5 t/yr of Dy use
    ev = run([choice("jp-dy", "separation", "JPN", "Dy+Tb oxide", 5.0, online=2024.0)])
    short = row(ev, "Dy", "targets", "shortfall_t")
    peak = row(ev, "Dy", "targets", "peak_price_multiple")
    assert short["without_p50"] > 0
    assert short["with_p50"] < short["without_p50"]
    assert peak["with_p50"] < peak["without_p50"]
    a0 = ev.without.cumulative_shortfall()[:, 1, 2]
    a1 = ev.with_plan.cumulative_shortfall()[:, 1, 2]
    assert np.all(a1 <= a0 + 1e-9) and np.any(a1 < a0)


@pytest.mark.parametrize("pipeline", [False, True])
def test_capacity_after_the_horizon_changes_nothing(pipeline: bool) -> None:
    # online in 2031: after the 24-month horizon even without a delay; with the toy's own
    # pipeline project in both runs, its delay draws must line up too
    sc = Scenario.parse_yaml(TOY + "pipeline: true\n") if pipeline else toy_scenario()
    cs = [choice("jp-dy", "separation", "JPN", "Dy+Tb oxide", 5.0, online=2031.0),
          choice("jp-mag", "magnet", "JPN", "NdFeB", 100.0, online=2031.0)]
    ev = evaluate_plan(cs, sc, draws=60, seed=3, baseline=toy_baseline())
    assert len(ev.with_plan.plan.baseline.projects) == 2 + pipeline
    assert (ev.comparison[[f"change_{q}" for q in ("p10", "p50", "p90")]] == 0).all().all()
    np.testing.assert_array_equal(ev.without.arrays.price, ev.with_plan.arrays.price)
    np.testing.assert_array_equal(ev.without.arrays.shortfall, ev.with_plan.arrays.shortfall)


def test_empty_plan_gives_identical_runs() -> None:
    ev = run([])
    assert not ev.comparison.empty
    np.testing.assert_array_equal(ev.without.arrays.price, ev.with_plan.arrays.price)
    assert (ev.comparison["change_p50"] == 0).all()


def test_decided_choices_are_in_both_runs() -> None:
    ev = run([choice("jp-dy", "separation", "JPN", "Dy+Tb oxide", 5.0, decided=True)])
    np.testing.assert_array_equal(ev.without.arrays.supply, ev.with_plan.arrays.supply)
    # ... and they do add supply: compare with an empty plan on the same draws
    empty = run([])
    assert ev.without.arrays.supply.sum() > empty.without.arrays.supply.sum()


def test_same_draws_in_both_runs_with_a_plan() -> None:
    ev = evaluate_plan([choice("jp-dy", "separation", "JPN", "Dy+Tb oxide", 5.0)],
                       Scenario.parse_yaml(TOY + "pipeline: true\n"), draws=60, seed=3,
                       baseline=toy_baseline())
    d0, d1 = ev.without.draws, ev.with_plan.draws
    np.testing.assert_array_equal(d0.proj_start, d1.proj_start)
    np.testing.assert_array_equal(d0.eps, d1.eps)
    np.testing.assert_array_equal(d0.lag, d1.lag)


# -- stockpiles ----------------------------------------------------------------------------


def test_stockpile_release_mass() -> None:
    ev = run([choice("stockpile:Dy:6m", "separation", "", "Dy oxide", stock=2.5,
                     kind="stockpile", online=2024.5)])
    b = ev.with_plan.plan.baseline
    rel = ev.with_plan.plan.release  # (steps, materials, 3) t per step
    assert rel[:, b.index("Dy"), 2].sum() == pytest.approx(2.5)
    assert rel.sum() == pytest.approx(2.5)
    assert ev.without.plan.release.sum() == 0
    (r,) = ev.releases
    # from the restriction's effective date (2025-03), 12 months
    assert r.start == dt.date(2025, 3, 1) and r.duration_months == 12
    assert ev.without.plan.onset == ev.with_plan.plan.onset
    short = row(ev, "Dy", "targets", "shortfall_t")
    assert short["with_p50"] < short["without_p50"]


def test_stockpile_split_and_cut_to_the_horizon() -> None:
    sc = toy_scenario().with_horizon(6)  # 4 months left after 2025-03
    b = toy_baseline()
    rel, notes = stockpile_releases(
        [choice("stockpile:NdPr:2m", "separation", "", "NdPr oxide", stock=100.0,
                kind="stockpile")], sc, b, split=SPLIT)
    (r,) = rel  # Nd only: the toy market has no Pr
    assert r.materials == ["Nd"] and r.tonnes == pytest.approx(75.0)
    assert r.duration_months == pytest.approx(4.0) and r.region == "targets"
    assert any("Pr (25 t) is not simulated" in n for n in notes)


def test_stockpile_bought_after_the_shock_is_not_released() -> None:
    rel, notes = stockpile_releases(
        [choice("stockpile:Dy:6m", "separation", "", "Dy oxide", stock=2.0, kind="stockpile",
                online=2026.0)], toy_scenario(), toy_baseline(), split=SPLIT)
    assert rel == () and "not held" in notes[0]


# -- the same shock in another year --------------------------------------------------------


def _dates(x: Any, path: str = "") -> dict[str, dt.date]:
    if isinstance(x, dt.date):
        return {path: x}
    out: dict[str, dt.date] = {}
    if isinstance(x, dict):
        for k, v in x.items():
            out.update(_dates(v, f"{path}.{k}"))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            out.update(_dates(v, f"{path}[{i}]"))
    return out


def test_shift_moves_every_date_by_whole_years() -> None:
    sc = Scenario.builtin("china-2025-04")
    moved = shift_scenario(sc, 5)
    before, after = _dates(sc.model_dump()), _dates(moved.model_dump())
    assert before.keys() == after.keys() and len(before) >= 6  # start, announced, steps...
    for k, d in before.items():
        assert after[k] == d.replace(year=d.year + 5), k
    # nothing else changed, and the original is untouched
    assert moved.model_dump(exclude={"start", "shocks"}) == sc.model_dump(
        exclude={"start", "shocks"})
    assert sc.start == dt.date(2025, 4, 1)
    assert moved.shocks[0].licence_lag_months == sc.shocks[0].licence_lag_months


def test_shift_refuses_a_date_that_cannot_move() -> None:
    sc = Scenario.parse_yaml(TOY.replace("effective: 2025-03", "effective: 2028-02-29")
                             .replace("start: 2025-01", "start: 2028-01"))
    with pytest.raises(InputError, match=r"2028-02-29 cannot move by 1 years"):
        shift_scenario(sc, 1)


def test_at_year_shifts_and_grows_the_market() -> None:
    g = load_defaults().planning.demand_growth_pct_per_yr.value
    ev = run([], at_year=2030)
    assert ev.shift_years == 5
    assert ev.demand_factor == pytest.approx((1 + g / 100) ** 5)
    assert ev.without.scenario.start == dt.date(2030, 1, 1)
    assert ev.without.scenario.shocks[0].effective == dt.date(2030, 3, 1)
    b0 = toy_baseline()
    np.testing.assert_allclose(ev.without.plan.baseline.production,
                               b0.production * ev.demand_factor)
    assert any("every flow x" in n for n in ev.notes)


def test_at_year_counts_capacity_online_by_then() -> None:
    # online 2027: after the 2025 horizon, long online by a 2030 shock
    cs = [choice("jp-dy", "separation", "JPN", "Dy+Tb oxide", 5.0, online=2027.0)]
    now, later = run(cs), run(cs, at_year=2030)
    assert (now.comparison["change_p50"] == 0).all()
    short = row(later, "Dy", "targets", "shortfall_t")
    assert short["with_p50"] < short["without_p50"]


def test_grown_baseline_is_balanced() -> None:
    b = grow_baseline(toy_baseline(), 1.7)
    check_baseline(b)
    assert b.price.tolist() == toy_baseline().price.tolist()


# -- errors --------------------------------------------------------------------------------


def test_errors_are_one_line() -> None:
    with pytest.raises(InputError, match="built-in scenario") as e1:
        evaluate_plan([], "china-2099-nope", draws=10)
    with pytest.raises(InputError, match=r"at_year 2020 is before the start") as e2:
        run([], at_year=2020)
    with pytest.raises(InputError, match=r"nothing the engine can represent.*us-mine.*ore"
                       ) as e3:
        run([choice("us-mine", "mine", "USA", "REO", 1000.0),
             choice("us-metal", "metal", "USA", "NdPr metal", 100.0)])
    for e in (e1, e2, e3):
        assert "\n" not in str(e.value)


# -- the real market -----------------------------------------------------------------------


def test_real_market_with_bom() -> None:
    from oreflow.exposure.bom import Bom

    cs = [choice("generic:magnet:USA", "magnet", "USA", "NdFeB", 10_000.0, online=2026.0),
          choice("generic:separation:USA", "separation", "USA", "Dy+Tb oxide", 500.0,
                 online=2026.0)]
    ev = evaluate_plan(cs, "china-2025-04", draws=50, seed=1, at_year=2030,
                       bom=Bom.example("ev-motor"))
    assert set(ev.comparison["material"]) == {"Nd", "Pr", "Dy", "Tb", "NdFeB"}
    assert set(ev.comparison["role"]) == {"controller", "rest"}  # all destinations: no targets
    dy = row(ev, "Dy", "rest", "shortfall_t")
    assert dy["with_p50"] < dy["without_p50"]
    assert ev.bom is not None and "units_delayed_with_p50" in ev.bom.columns
    assert "src_generic:magnet:USA" in ev.source_ids
    assert any("src_generic:separation:USA" in n for n in ev.notes)


def test_plan_result_progress_and_headline() -> None:
    from oreflow.plan.result import PlanResult

    cs = (choice("jp-dy", "separation", "JPN", "Dy+Tb oxide", 5.0),)
    plan = PlanResult(bloc="JPN", members=("JPN",), controller="CHN", targets=(),
                      objective="cost", status="optimal", gap=0.0, seconds=0.0, choices=cs,
                      balance=pd.DataFrame(), cost=pd.DataFrame())
    seen: list[tuple[int, int]] = []
    ev = evaluate_plan(plan, toy_scenario(), draws=40, seed=2, baseline=toy_baseline(),
                       progress=lambda d, t: seen.append((d, t)))
    assert seen[-1][0] == seen[-1][1] and all(t == seen[0][1] for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    h = ev.headline("targets")
    dy = h[h["material"] == "Dy"].iloc[0]
    assert dy["shortfall_t_change"] == pytest.approx(dy["shortfall_t_with"]
                                                     - dy["shortfall_t_without"])
    assert dy["shortfall_t_change"] < 0


def test_failures_drawn_per_draw_fail_some_draws_and_not_others() -> None:
    # p_fail 0.5 drawn: in about half the draws the Dy plant produces nothing (that draw's
    # shortfall is the same as without the plan), in the others its full capacity counts;
    # p_fail 1 drawn: nothing changes anywhere; the expected reading (2.5 t in every draw)
    # gives a narrower spread than the drawn one
    half = run([choice("jp-dy", "separation", "JPN", "Dy+Tb oxide", 5.0, p_fail=0.5)],
               failure="draw")
    a0 = half.without.cumulative_shortfall()[:, 1, 2]
    a1 = half.with_plan.cumulative_shortfall()[:, 1, 2]
    same = np.isclose(a1, a0, rtol=0, atol=1e-9)
    assert 0.2 < same.mean() < 0.8
    gone = run([choice("jp-dy", "separation", "JPN", "Dy+Tb oxide", 5.0, p_fail=1.0)],
               failure="draw")
    assert (gone.comparison[[f"change_{q}" for q in ("p10", "p50", "p90")]] == 0).all().all()
    with pytest.raises(InputError, match="failure must be"):
        run([choice("jp-dy", "separation", "JPN", "Dy+Tb oxide", 5.0)], failure="maybe")
