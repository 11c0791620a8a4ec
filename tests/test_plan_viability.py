"""Project viability (oreflow.plan.viability): cash flows and NPV against hand computations,
the price floor's effect and break-even search, price mapping gaps, the shipped pipeline, and
file:line:field errors of the defaults' viability section."""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oreflow.errors import InputError, ValidationError
from oreflow.plan import (
    Option,
    PriceBasis,
    PricePaths,
    break_even_floor,
    cash_flows,
    irr,
    load_defaults,
    npv,
    price_basis,
    price_paths,
    project_npv,
    project_options,
    viability_table,
)

DEFAULTS_FILE = Path(__file__).resolve().parents[1] / "src" / "oreflow" / "plan" / "defaults.yaml"
FUZZ = int(os.environ.get("OREFLOW_FUZZ_EXAMPLES", "200"))


def _option(**kw: object) -> Option:
    base: dict[str, object] = {
        "option_id": "project:toy", "kind": "project", "name": "toy", "stage": "separation",
        "iso3": "AUS", "material": "NdPr oxide", "capacity_t_per_yr": 1200.0,
        "capacity_t_per_yr_low": 1200.0, "capacity_t_per_yr_high": 1200.0,
        "capex_musd": 10.0, "capex_musd_low": 10.0, "capex_musd_high": 10.0,
        "capex_estimated": False, "lead_time_years_low": 0.0, "lead_time_years_median": 0.0,
        "lead_time_years_high": 0.0, "ramp_years": 0.0, "earliest_decision_year": 2026,
        "status": "under construction", "status_class": "construction", "p_fail": 0.1,
        "p_fail_low": 0.1, "p_fail_high": 0.1, "delay_years_low": 0.0,
        "delay_years_median": 0.0, "delay_years_high": 0.0, "source_ids": (),
        "estimate": False, "method": ""}
    base.update(kw)
    return Option(**base)  # type: ignore[arg-type]


#: One kg of product = one kg of the "Nd" market; NdPr floor applies.
NDPR = PriceBasis("NdPr oxide", (("Nd", 1.0),), ndpr_weight=1.0, opex_usd_per_kg=5.0)


def _flat(price: float) -> PricePaths:
    return PricePaths((2024, 1), {"Nd": price, "Pr": price})


# -- cash flows and NPV by hand ------------------------------------------------------------------


def test_npv_of_a_hand_built_project_matches_a_hand_computation():
    # 1,200 t/yr = 100 t = 100,000 kg a month at a margin of 10 - 5 = 5 USD/kg: 0.5 M USD a
    # month for 12 months; capex 10 M USD at month 0.
    o = _option()
    assert float(project_npv(o, NDPR, _flat(10.0), rate_pct=0.0, life_years=1.0)[0]) == \
        pytest.approx(-10 + 12 * 0.5)
    v = 1.08 ** (-1 / 12)  # monthly discount factor at 8%/yr
    hand = -10 + 0.5 * (1 - v ** 12) / (1 - v)  # Σ_{m=0}^{11} 0.5 v^m
    assert float(project_npv(o, NDPR, _flat(10.0), rate_pct=8.0, life_years=1.0)[0]) == \
        pytest.approx(hand, rel=1e-12)


def test_ramp_and_lead_time_shape_the_cash_flows():
    # linear ramp over 1 year: month m runs at (m + 1/2)/12 of nameplate; over the first
    # (and only) year Σ (m + 1/2)/12 = 72/12 = 6 months of full output: 600 t, 3 M USD margin
    o = _option(ramp_years=1.0)
    assert float(project_npv(o, NDPR, _flat(10.0), rate_pct=0.0, life_years=1.0)[0]) == \
        pytest.approx(-10 + 3)
    # one year of lead time: capex in 12 equal monthly parts, output from month 12
    o = _option(lead_time_years_median=1.0)
    cf = cash_flows(o, NDPR, _flat(10.0), life_years=1.0)
    assert cf.first_output_month == 12
    np.testing.assert_allclose(cf.capex_musd[:12], 10 / 12)
    assert cf.output_t[:12].sum() == 0 and cf.output_t[12:24] == pytest.approx(100.0)
    # a delay adds to the lead time; for a ramping project it lengthens the ramp instead
    assert cash_flows(_option(delay_years_median=0.5), NDPR, _flat(10.0),
                      life_years=1.0).first_output_month == 6
    cf = cash_flows(_option(status_class="ramping", delay_years_median=1.0), NDPR,
                    _flat(10.0), life_years=2.0)
    assert cf.first_output_month == 0 and cf.output_t[0] == pytest.approx(100 * 0.5 / 12)
    # the decision year counts from the discounting base year
    cf = cash_flows(_option(earliest_decision_year=2027), NDPR, _flat(10.0), life_years=1.0)
    assert cf.capex_musd[12] == 10 and cf.capex_musd[:12].sum() == 0


def test_npv_discounts_from_each_months_start():
    flows = np.array([-100.0] + [0.0] * 11 + [110.0])
    assert float(npv(flows, 10.0)) == pytest.approx(0.0, abs=1e-12)


def test_irr_is_the_rate_of_zero_npv():
    # -100 now, +121 in two years: 10%/yr
    flows = np.array([-100.0] + [0.0] * 23 + [121.0])
    assert irr(flows) == pytest.approx(10.0, abs=1e-3)
    assert math.isnan(irr(np.array([-100.0, 1.0])))  # never pays back in range
    assert math.isnan(irr(np.array([1.0, 1.0])))  # no outlay


def test_feed_inputs_follow_the_price_path_and_payability_scales_the_price():
    # a metal maker: sells at 1.3 x oxide, buys 1.166 kg oxide a kg, converts at 8 USD/kg
    b = PriceBasis("NdPr metal", (("Nd", 1.0),), ratio=1.3, opex_usd_per_kg=8.0,
                   inputs=(("Nd", 1.166),))
    cf = cash_flows(_option(material="NdPr metal"), b, _flat(50.0), life_years=1.0)
    margin = 1.3 * 50 - (8 + 1.166 * 50)
    assert cf.revenue_musd[0, 0] - cf.opex_musd[0, 0] == pytest.approx(margin * 0.1)
    c = PriceBasis("REO", (("Nd", 1.0),), payability=0.5, opex_usd_per_kg=1.0)
    cf = cash_flows(_option(material="REO"), c, _flat(50.0), life_years=1.0)
    assert cf.revenue_musd[0, 0] == pytest.approx(25 * 0.1)


# -- price paths -----------------------------------------------------------------------------


def test_price_paths_place_the_scenario_months_and_apply_the_after_rule():
    path = np.arange(1.0, 25.0)[None, :]  # 24 months from April 2025
    base = PricePaths((2025, 4), {"Nd": 100.0}, {"Nd": path}, after="base")
    last = replace(base, after="last")
    got = base.monthly("Nd", 2025, 36)[0]
    assert got[:3].tolist() == [100.0] * 3  # Jan-Mar 2025: before the scenario
    assert got[3:27].tolist() == path[0].tolist()
    assert got[27:].tolist() == [100.0] * 9  # back to base
    assert last.monthly("Nd", 2025, 36)[0, 27:] == pytest.approx(path[0, -12:].mean())
    # a base year after the scenario start skips the months before it
    assert base.monthly("Nd", 2026, 3)[0].tolist() == [10.0, 11.0, 12.0]
    with pytest.raises(InputError, match="unknown rule after the horizon"):
        price_paths(None, after="never")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no base price for market 'Xx'"):
        base.monthly("Xx", 2025, 1)


# -- the floor -------------------------------------------------------------------------------


@settings(max_examples=FUZZ, deadline=None)
@given(st.floats(0, 300), st.floats(0, 300),
       st.lists(st.floats(0.1, 5.0), min_size=24, max_size=24), st.sampled_from([0.0, 1.0, 2.0]))
def test_a_floor_never_lowers_npv_and_is_monotone(f1, f2, mult, lead):
    pp = PricePaths((2026, 1), {"Nd": 56.0, "Pr": 56.0},
                    {"Nd": 56.0 * np.array([mult, mult[::-1]])}, )
    pp = replace(pp, draws=2)
    o = _option(lead_time_years_median=lead, ramp_years=1.0)
    kw = {"rate_pct": 8.0, "life_years": 3.0}
    none = project_npv(o, NDPR, pp, **kw)
    lo, hi = sorted((f1, f2))
    a = project_npv(o, NDPR, pp, floor_usd_per_kg=lo, **kw)
    b = project_npv(o, NDPR, pp, floor_usd_per_kg=hi, **kw)
    assert np.all(a >= none - 1e-9) and np.all(b >= a - 1e-9)


def test_break_even_floor_gives_zero_npv_and_reports_the_edges():
    kw = {"rate_pct": 8.0, "life_years": 10.0}
    o = _option(ramp_years=1.0)
    pp = _flat(4.0)  # price 4 < opex 5: loses money without a floor
    be = break_even_floor(o, NDPR, pp, term_years=10.0, **kw)
    assert be.status == "floor needed" and be.floor_on == "NdPr oxide"
    assert be.floor_usd_per_kg is not None and 5 < be.floor_usd_per_kg < 40
    at = project_npv(o, NDPR, pp, floor_usd_per_kg=be.floor_usd_per_kg, floor_on="ndpr", **kw)
    below = project_npv(o, NDPR, pp, floor_usd_per_kg=be.floor_usd_per_kg - 0.01,
                        floor_on="ndpr", **kw)
    # NPV crosses zero within the 0.01 USD/kg tolerance; 0.01 USD/kg on at most 1.2 M kg a
    # year for 10 years is under 0.12 M USD
    assert float(below[0]) < 0 <= float(at[0]) < 0.12
    # a floor shorter than the life needs to be higher
    short = break_even_floor(o, NDPR, pp, term_years=5.0, **kw)
    assert short.floor_usd_per_kg > be.floor_usd_per_kg  # type: ignore[operator]
    ok = break_even_floor(o, NDPR, _flat(50.0), **kw)
    assert (ok.floor_usd_per_kg, ok.status) == (0.0, "viable without a floor")
    huge = _option(capex_musd=1e6)
    no = break_even_floor(huge, NDPR, pp, **kw)
    assert no.floor_usd_per_kg is None and no.status == "not viable below USD 40/kg"
    gap = break_even_floor(o, PriceBasis("NdFeB alloy", reason="no price"), pp, **kw)
    assert gap.floor_usd_per_kg is None and gap.status == "unknown: no price"


def test_ndpr_floor_lifts_only_the_ndpr_part_of_a_basket():
    # half Nd (price 50), half Dy (price 300); floor 110 on NdPr adds 0.5 x 60 = 30 USD/kg
    b = PriceBasis("REO", (("Nd", 0.5), ("Dy", 0.5)), ndpr_weight=0.5, opex_usd_per_kg=0.0)
    pp = PricePaths((2026, 1), {"Nd": 50.0, "Dy": 300.0})
    o = _option(material="REO")
    cf = cash_flows(o, b, pp, life_years=20.0, floor_usd_per_kg=110.0, floor_term_years=10.0)
    assert cf.floor_musd[0, 0] == pytest.approx(30 * 0.1)
    assert cf.floor_musd[0, 119] == pytest.approx(3.0) and cf.floor_musd[0, 120] == 0
    # a floor fixed in the calendar (from January 2025, 10 years) pays only until 2035
    cf = cash_flows(o, b, pp, life_years=20.0, floor_usd_per_kg=110.0, floor_term_years=10.0,
                    floor_start_year=2025)
    assert cf.floor_musd[0, 107] == pytest.approx(3.0) and cf.floor_musd[0, 108] == 0
    with pytest.raises(InputError, match="the NdPr floor does not apply"):
        cash_flows(o, replace(b, ndpr_weight=0.0, floor_note="sells magnets"), pp,
                   life_years=1.0, floor_usd_per_kg=110.0, floor_on="ndpr")


# -- price mapping and the table -------------------------------------------------------------


def test_unmapped_material_gets_nan_with_the_reason(store):
    alloy = _option(option_id="project:alloy", material="NdFeB alloy", stage="metal")
    heavy = _option(option_id="project:heavy", material="heavy REO")
    t = viability_table([alloy, heavy], store=store).set_index("option_id")
    assert math.isnan(t.loc["project:alloy", "npv_p50_musd"])
    assert "no price for 'NdFeB alloy'" in t.loc["project:alloy", "reason"]
    assert math.isnan(t.loc["project:heavy", "npv_p50_musd"])
    assert t.loc["project:heavy", "reason"] == \
        "no operating cost for heavy REO separation in the data or the defaults"
    assert t.loc["project:heavy", "break_even_status"].startswith("unknown: no operating cost")
    assert t.loc["project:heavy", "floor_verdict"] == "unknown"
    with pytest.raises(InputError, match="cannot be valued"):
        cash_flows(alloy, price_basis(alloy, store=store), _flat(1.0), life_years=1.0)


def test_price_basis_reads_the_data_and_defaults(store):
    d = load_defaults(store=store)
    mine = _option(material="REO", stage="mine", iso3="USA", opex_usd_per_kg=None)
    b = price_basis(mine, store=store, defaults=d)
    assert b.payability == pytest.approx(d.viability.payability_pct.value / 100)
    assert sum(w for _, w in b.components) == pytest.approx(1.0)
    assert b.ndpr_weight == 0 and "concentrate" in b.floor_note
    own = price_basis(_option(opex_usd_per_kg=33.86), store=store, defaults=d)
    assert own.opex_usd_per_kg == 33.86
    dflt = price_basis(_option(), store=store, defaults=d)
    assert dflt.opex_usd_per_kg == d.viability.opex.separation_usd_per_kg_ndpr.value


def test_shipped_pipeline_flat_prices(store):
    opts = project_options(store=store, year=2026)
    t = viability_table(opts, store=store).set_index("option_id")
    assert len(t) == len([o for o in opts if o.capacity_t_per_yr is not None])
    a = t.loc["project:arafura_nolans"]
    # NdPr 56 USD/kg (2024) against a 40 USD/kg cost does not pay back USD 1.22 bn; the
    # 110 USD/kg floor for 10 years does, and the break-even floor lies between
    assert a["price_usd_per_kg"] == pytest.approx(56.0)
    assert a["npv_p50_musd"] < 0 <= a["npv_floor_p50_musd"] and a["kept_alive"] is True
    assert a["floor_verdict"] == "kept alive by the floor"
    assert 56 < a["break_even_floor_usd_per_kg"] < 110
    assert a["npv_p10_musd"] == a["npv_p50_musd"] == a["npv_p90_musd"]
    assert a["irr_p50_pct"] < 8  # below the discount rate, as its NPV is negative
    # the DoD-MP floor's own calendar (2025-2035) covers only 5 of Nolans' years: less help
    c = viability_table(opts, store=store, floor_from="contract").set_index("option_id")
    assert c.loc["project:arafura_nolans", "npv_floor_p50_musd"] < a["npv_floor_p50_musd"]
    assert c.loc["project:arafura_nolans", "floor_verdict"] == "not viable even with the floor"
    mag = t.loc["project:vulcan_elements"]
    assert not mag["floor_applies"] and mag["kept_alive"] is None
    assert mag["floor_verdict"] == "N/A" and bool(mag["capex_estimated"]) is False
    assert mag["break_even_on"] == "NdFeB" and mag["break_even_floor_usd_per_kg"] > 49


def test_shipped_pipeline_on_a_scenario(store):
    from oreflow.simulate import simulate
    from oreflow.simulate.scenario import Scenario
    r = simulate(Scenario.builtin("china-2025-04"), draws=20, seed=3, store=store)
    opts = project_options(store=store, year=2026)
    t = viability_table(opts, r, store=store).set_index("option_id")
    ok = t[t["npv_p50_musd"].notna()]
    assert (ok["npv_p10_musd"] <= ok["npv_p50_musd"]).all()
    assert (ok["npv_p50_musd"] <= ok["npv_p90_musd"]).all()
    assert set(t["segment"]) == {"rest"}
    # output from 2026 meets the shock's months: the NPV spreads over draws
    e = t.loc["project:mp_independence"]
    assert e["npv_p10_musd"] < e["npv_p90_musd"]


# -- defaults file errors ---------------------------------------------------------------------


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line) + 1


def test_bad_viability_defaults_give_file_line_field(tmp_path, store):
    base = DEFAULTS_FILE.read_text(encoding="utf-8")
    text = base.replace("  payability_pct:\n    value: 47.4\n",
                        "  payability_pct:\n    value: -47.4\n")
    assert text != base
    p = tmp_path / "bad.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError) as e:
        load_defaults(p, store=store)
    msg = e.value.lines()[0]
    assert msg.startswith(f"{p}:{_line_of(text, 'value: -47.4')}: column "
                          "'viability.payability_pct.value'"), msg
    assert e.value.exit_code == 2
    text = base.replace("source_ids: [pitchsend_mp_q3_2023_deck]",
                        "source_ids: [no_such_source]")
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError) as e:
        load_defaults(p, store=store)
    msg = "\n".join(e.value.lines())
    assert f"{p}:{_line_of(text, 'no_such_source')}:" in msg
    assert "viability.opex.mine_usd_per_kg_reo.source_ids" in msg
    assert "unknown source 'no_such_source'" in msg
    text = base[:base.index("\n# Project cash flows")] + "\n"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError) as e:
        load_defaults(p, store=store)
    assert "'viability'" in "\n".join(e.value.lines())
