"""A country's alignment in the planner (oreflow.plan.alignment, alignment_effect): hand-made
toy instances, then the shipped data for Vietnam.

Toy bloc (test_plan_formulate's: growth 0, discount 0): demand 100 t of ore, 50 t of
separated oxide, 50 t REO-eq of metal and 100 t NdFeB a year; it mines 1,000 t REO and makes
nothing else. Country ZZZ makes 20 t of separated oxide a year, 5 of which it ships to the
bloc.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from oreflow.chain.elements import oxide_factor
from oreflow.errors import InputError
from oreflow.plan import PlanSettings, parse_targets, solve_plan
from oreflow.plan.alignment import (
    Aligned,
    Alignment,
    country_table,
    parse_alignment,
    reserve_potential,
    resolve_alignment,
)
from oreflow.plan.alignment_effect import compare_alignment, controller_world_share
from oreflow.plan.formulate import PlanSettings as Settings
from oreflow.plan.formulate import Problem
from oreflow.plan.options import Option
from oreflow.plan.targets import BlocBaseline, bloc_baseline

STAGES = ("mine", "separation", "metal", "magnet")


def toy_base() -> BlocBaseline:
    """test_plan_formulate's toy bloc (a magnet needs 0.5 t REO-eq of metal)."""
    table = pd.DataFrame({
        "unit": ["t_REO", "t_REO", "t_REO", "t_product"],
        "reo_per_unit": [1.0, 1.0, 1.0, 0.5],
        "demand": [100.0, 50.0, 50.0, 100.0], "output": [1000.0, 0.0, 0.0, 0.0],
        "world_output": [1e6] * 4, "controller_supply": [0.0, 50.0, 50.0, 100.0],
        "other_supply": [0.0, 0.0, 0.0, 0.0], "own_supply": [100.0, 0.0, 0.0, 0.0],
        "largest_other": ["", "", "", ""], "largest_other_share": [0.0] * 4,
    }, index=pd.Index(STAGES, name="stage"))
    return BlocBaseline("TOY", ("AAA",), "CCC", 2025, STAGES, table, 0.0, 1e6)


def opt(oid: str, stage: str, cap: float, capex: float, *, iso3: str = "AAA",
        kind: str = "generic") -> Option:
    """A toy option online one year after its start, at full capacity."""
    return Option(
        option_id=oid, kind=kind, name=oid, stage=stage, iso3=iso3,  # type: ignore[arg-type]
        material="NdFeB" if stage == "magnet" else "REO", capacity_t_per_yr=cap,
        capacity_t_per_yr_low=cap, capacity_t_per_yr_high=cap, capex_musd=capex,
        capex_musd_low=capex, capex_musd_high=capex, capex_estimated=False,
        lead_time_years_low=1.0, lead_time_years_median=1.0, lead_time_years_high=1.0,
        ramp_years=0.0, earliest_decision_year=2026, status="generic",
        status_class="committed", p_fail=0.0, p_fail_low=0.0, p_fail_high=0.0,
        delay_years_low=0.0, delay_years_median=0.0, delay_years_high=0.0,
        source_ids=("toy",), estimate=False, method="")


TOY_OPTIONS = [opt("generic:separation:AAA", "separation", 100.0, 10.0),
               opt("generic:metal:AAA", "metal", 50 / oxide_factor("Nd"), 20.0),
               opt("generic:magnet:AAA", "magnet", 100.0, 30.0)]


def settings(**kw: object) -> Settings:
    base: dict[str, object] = {"year": 2026, "discount_rate_pct": 0.0,
                               "demand_growth_pct_per_yr": 0.0, "basis": "nominal"}
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


ZZZ = pd.DataFrame({"output": [0.0, 20.0, 0.0, 0.0], "to_bloc": [0.0, 5.0, 0.0, 0.0],
                    "controller_output": [500.0, 800.0, 900.0, 950.0],
                    "world_output": [1000.0] * 4}, index=pd.Index(STAGES, name="stage"))


def toy_plan(aligned: Aligned | None, targets: list[str], options: list | None = None,
             **kw: object):  # type: ignore[no-untyped-def]
    base = toy_base()
    base.table.loc["separation", "other_supply"] = 5.0  # ZZZ's shipment
    prob = Problem.build("TOY", parse_targets(targets), controller="CCC",
                         settings=settings(**kw), options=options or TOY_OPTIONS, base=base,
                         alignment=aligned)
    return prob.solve(search=False)


def toy_aligned(side: str, *, from_year: int = 2026) -> Aligned:
    a = Alignment("ZZZ", side, from_year=from_year, reserves=False)
    if side == "bloc":
        shift = {s: (float(ZZZ.loc[s, "output"]), -float(ZZZ.loc[s, "to_bloc"]))
                 for s in STAGES}
        return Aligned(a, from_year, shift, allied=frozenset({"ZZZ"}), table=ZZZ)
    shift = {s: (0.0, -float(ZZZ.loc[s, "to_bloc"])) for s in STAGES}
    return Aligned(a, from_year, shift, blocked=frozenset({"ZZZ"}), counts_decided=False,
                   table=ZZZ)


def row(plan, year: int, stage: str):  # type: ignore[no-untyped-def]
    b = plan.balance
    return b[(b["year"] == year) & (b["stage"] == stage)].iloc[0]


# -- toy: hand-checkable -------------------------------------------------------------------


def test_aligning_with_the_bloc_moves_self_sufficiency_by_the_countrys_share() -> None:
    # separation: 20 t of ZZZ's oxide over 50 t of demand = +0.40, fed by the bloc's ore
    before = toy_plan(None, ["mine:self>=0.1@2028"])
    after = toy_plan(toy_aligned("bloc"), ["mine:self>=0.1@2028"])
    for y in (2026, 2027, 2028):
        d = row(before, y, "separation")
        assert row(after, y, "separation")["self_sufficiency_without"] == pytest.approx(
            d["self_sufficiency_without"] + 20.0 / 50.0)
        # the controller supplied 45 of 50 t; now 50 - 20 = 30
        assert d["controller_share_without"] == pytest.approx(45.0 / 50.0)
        assert row(after, y, "separation")["controller_share_without"] == pytest.approx(0.6)


def test_alignment_holds_from_its_year_only() -> None:
    plan = toy_plan(toy_aligned("bloc", from_year=2028), ["mine:self>=0.1@2028"])
    assert row(plan, 2027, "separation")["self_sufficiency_without"] == pytest.approx(0.0)
    assert row(plan, 2028, "separation")["self_sufficiency_without"] == pytest.approx(0.4)


def test_aligning_with_the_controller_takes_the_countrys_supply_and_raises_its_share(
        ) -> None:
    before = toy_plan(None, ["mine:self>=0.1@2028"])
    after = toy_plan(toy_aligned("controller"), ["mine:self>=0.1@2028"])
    # the bloc's 5 t from ZZZ now come from the controller: 45/50 -> 50/50
    assert row(after, 2027, "separation")["controller_share_without"] == pytest.approx(1.0)
    assert row(before, 2027, "separation")["controller_share_without"] == pytest.approx(0.9)
    # world share at separation: (800 + 20) / 1000 against 800 / 1000
    as_is = Aligned(Alignment("ZZZ", "bloc", "option", 2026, False), 2026, table=ZZZ)
    w0 = controller_world_share(before, as_is)
    w1 = controller_world_share(after, toy_aligned("controller"))
    sep = before.balance["stage"] == "separation"
    assert list(w0[sep]) == pytest.approx([0.8] * int(sep.sum()))
    assert list(w1[sep]) == pytest.approx([0.82] * int(sep.sum()))


def test_a_country_aligned_with_the_controller_offers_the_bloc_nothing() -> None:
    cheap = opt("generic:separation:ZZZ", "separation", 100.0, 1.0, iso3="ZZZ")
    options = [*TOY_OPTIONS, cheap]
    free = toy_plan(None, ["separation:self>=0.5@2028"], options)
    tied = toy_plan(toy_aligned("controller"), ["separation:self>=0.5@2028"], options)
    assert "generic:separation:ZZZ" not in {c.option_id for c in tied.chosen}
    assert tied.total_capex_musd >= free.total_capex_musd


def test_an_option_alignment_never_makes_the_plan_costlier_or_worse() -> None:
    # ZZZ's cheap separation module counts as the bloc's own once it is allied: without
    # the alignment it is an offtake, which feeds metal but is not self-sufficiency
    cheap = opt("generic:separation:ZZZ", "separation", 100.0, 1.0, iso3="ZZZ")
    options = [*TOY_OPTIONS, cheap]
    allied = Aligned(Alignment("ZZZ", "bloc", "option", 2026, False), 2026,
                     allied=frozenset({"ZZZ"}), counts_decided=False, table=ZZZ)
    for targets in (["separation:self>=0.5@2028"], ["metal:self>=0.6@2028"],
                    ["separation:self>=0.5@2028", "separation:supplier<=0.2@2028"]):
        without = toy_plan(None, targets, options)
        with_ = toy_plan(allied, targets, options)
        assert with_.feasible or not without.feasible
        if without.feasible:
            assert with_.total_capex_musd <= without.total_capex_musd + 1e-9
        assert sum(m.reachable for m in with_.misses) >= sum(
            m.reachable for m in without.misses) - 1e-9 or not with_.misses
    plan = toy_plan(allied, ["separation:self>=0.5@2028"], options)
    assert {c.option_id for c in plan.chosen} == {"generic:separation:ZZZ"}


def test_the_potential_caps_what_the_reserve_modules_add() -> None:
    mod = opt("reserve:separation:ZZZ", "separation", 30.0, 1.0, iso3="ZZZ")
    capped = Aligned(Alignment("ZZZ", "bloc", "option", 2026), 2026, options=(mod,),
                     caps=((("reserve:separation:ZZZ",), 60.0),),
                     allied=frozenset({"ZZZ"}), table=ZZZ)
    plan = toy_plan(capped, ["separation:self>=1.0@2028"], list(TOY_OPTIONS))
    units = sum(c.units for c in plan.chosen if c.option_id == "reserve:separation:ZZZ")
    assert units == 2  # 60 t of potential / 30 t a module, the rest elsewhere


# -- parsing and resolving -----------------------------------------------------------------


@pytest.mark.parametrize("text, side, mode, year", [
    ("VNM=MSP", "bloc", "constraint", None), ("vnm=chn", "controller", "constraint", None),
    ("VNM=MSP:option", "bloc", "option", None), ("VNM=bloc@2028", "bloc", "constraint", 2028),
])
def test_parse_alignment(text: str, side: str, mode: str, year: int | None) -> None:
    a = parse_alignment(text, "MSP")
    assert (a.country, a.side, a.mode, a.from_year) == ("VNM", side, mode, year)


@pytest.mark.parametrize("text, words", [
    ("VNM", "expected COUNTRY=SIDE"), ("VNM=EU27", "neither the bloc 'MSP'"),
    ("VNM=MSP:maybe", "':option'"), ("VNM=CHN:option", "option alignment is with the bloc"),
])
def test_parse_alignment_rejects_bad_text_in_one_line(text: str, words: str) -> None:
    with pytest.raises(InputError, match=words) as err:
        parse_alignment(text, "MSP")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("country, words", [("XYZ", "unknown country 'XYZ'"),
                                            ("USA", "member of MSP"),
                                            ("CHN", "controller")])
def test_resolve_rejects_members_the_controller_and_unknown_codes(country: str,
                                                                  words: str) -> None:
    base = bloc_baseline("MSP")
    with pytest.raises(InputError, match=words):
        resolve_alignment(Alignment(country, "bloc"), base, year=2026)
    with pytest.raises(InputError, match="before the planning year"):
        resolve_alignment(Alignment("VNM", "bloc", from_year=2020), base, year=2026)


# -- the shipped data: Vietnam and the MSP ---------------------------------------------------


def test_vietnam_reserves_are_the_newest_edition_and_the_potential_is_sourced() -> None:
    reserves, potential, edition, ids, notes = reserve_potential("VNM")
    assert reserves == 3_500_000 and edition.startswith("MCS2026")
    assert potential == 60_000  # the government goal, below reserves / 20 years
    assert "straitstimes_reuters_2023_10_20" in ids and "usgs_mcs2026_ree" in ids
    assert "22,000,000 t up to MCS2024" in " ".join(notes)


def test_vietnam_with_the_msp_adds_its_mine_output_share_exactly() -> None:
    tg = parse_targets(["mine:self>=0.1@2030"])
    base = bloc_baseline("MSP")
    vnm = country_table("VNM", base)
    as_is = solve_plan("MSP", tg)
    aligned = solve_plan("MSP", tg, alignment=Alignment("VNM", "bloc"))
    for y in (2026, 2030):
        d = row(as_is, y, "mine")
        assert row(aligned, y, "mine")["self_sufficiency_without"] == pytest.approx(
            d["self_sufficiency_without"] + vnm.loc["mine", "output"] / d["demand"])
    assert vnm.loc["mine", "output"] > 0


def test_vietnam_comparison_on_the_shipped_data() -> None:
    cmp = compare_alignment("MSP", parse_targets(["metal:self>=0.4@2030"]),
                            years=[2030, 2035])
    assert list(cmp.cost["alignment"]) == ["as_is", "bloc", "controller"]
    assert set(cmp.table["year"]) == {2030, 2035}
    w = cmp.wide("self_sufficiency_without").set_index(["year", "stage"])
    # Vietnam's 85 t REO-eq of metal are the bloc's with it, not with China
    assert w.loc[(2030, "metal"), "bloc"] > w.loc[(2030, "metal"), "as_is"]
    assert w.loc[(2030, "metal"), "controller"] == pytest.approx(
        w.loc[(2030, "metal"), "as_is"], abs=1e-9)
    # small: Vietnam's output is small next to the bloc's demand
    assert (w["bloc"] - w["as_is"]).abs().max() < 0.05
    cw = cmp.wide("controller_world_share").set_index(["year", "stage"])
    vnm = country_table("VNM", bloc_baseline("MSP"))
    plan = cmp.plans["controller"].balance
    r = plan[(plan["year"] == 2030) & (plan["stage"] == "magnet")].iloc[0]
    world = vnm.loc["magnet", "world_output"] + r["decided"] + r["planned"]
    assert cw.loc[(2030, "magnet"), "controller"] == pytest.approx(
        (vnm.loc["magnet", "controller_output"] + vnm.loc["magnet", "output"]) / world)
    assert all(math.isfinite(v) for v in cmp.cost["capex_musd"])


def test_vietnam_reserves_help_a_mine_target_as_an_option() -> None:
    cfg = PlanSettings(basis="nominal")
    tg = parse_targets(["mine:self>=3.2@2035"])
    without = Problem.build("MSP", tg, settings=cfg).solve(search=False)
    with_ = solve_plan("MSP", tg, settings=cfg, alignment=Alignment(
        "VNM", "bloc", "option", status_class="study"))
    assert not without.feasible and with_.feasible
    assert {c.option_id for c in with_.chosen} == {"reserve:mine:VNM"}
