"""Product-line exposure: BOM reading and validation, exposure without a scenario, impact
under synthetic and engine paths, the line model and its invariants."""

from __future__ import annotations

import csv
import doctest
import importlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oreflow.data.store import Store
from oreflow.errors import InputError, ValidationError
from oreflow.exposure import (
    Bom,
    MarketPaths,
    Quantity,
    exposure,
    impact,
    list_examples,
    read_bom,
    run_line,
)
from oreflow.exposure.bom import quantities
from oreflow.exposure.bom_io import dotted
from oreflow.exposure.impact import market_paths
from oreflow.uncertain import Fixed, Uniform

EXAMPLES = ("drone", "ev-motor", "fighter", "wind-turbine")


# --------------------------------------------------------------------------------------------
# helpers


def paths(avail: float = 0.5, price: float = 1.5, *, draws: int = 40, steps: int = 24,
          onset: float = 0.0, materials: tuple[str, ...] = ("NdFeB", "SmCo", "Nd", "Dy", "Sm"),
          ) -> MarketPaths:
    """Synthetic market paths: constant availability and price multiple from the onset."""
    m = len(materials)
    t = np.arange(steps)[None, :, None]
    on = t >= onset
    av = np.where(on, avail, 1.0) * np.ones((draws, steps, m))
    pm = np.where(on, price, 1.0) * np.ones((draws, steps, m))
    base = np.array([{"NdFeB": 60.0, "SmCo": 90.0, "Nd": 56.0, "Dy": 257.0,
                      "Sm": 2.0}.get(x, 10.0) for x in materials])
    return MarketPaths(materials, pm, av, base, onset_month=onset, start="2025-01")


def bom_dict(**input_overrides: Any) -> dict[str, Any]:
    """A small valid BOM as a mapping (one product, one NdFeB input)."""
    inp: dict[str, Any] = {
        "id": "m1", "kind": "magnet", "type": "NdFeB", "mass_kg_per_unit": 2.0,
        "inventory_months": 2, "suppliers": [{"country": "CHN", "share": 0.8},
                                             {"country": "JPN", "share": 0.2}],
    }
    inp.update(input_overrides)
    return {"name": "t", "products": [{"id": "p1", "plant_country": "USA",
                                       "units_per_year": 1200, "unit_value_usd": 1000,
                                       "inputs": [inp]}]}


def write_yaml(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bom.yaml"
    p.write_text(text)
    return p


def problems(path: Path) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(ValidationError) as err:
        read_bom(path)
    return [(p.line, p.column, p.rule) for p in err.value.problems]


# --------------------------------------------------------------------------------------------
# examples


def test_list_examples() -> None:
    assert tuple(list_examples()) == EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_loads_and_cites_every_figure(name: str) -> None:
    bom = Bom.example(name)
    assert bom.origin == f"example:{name}"
    # every number is sourced or flagged as an assumption (with a note)
    for path, q in quantities(bom):
        field = dotted(path)
        if field.endswith(("price_sensitivity",)):
            continue
        assert q.source or q.assumption, field
        if q.assumption:
            assert q.note, field
    # production volumes are illustrative inputs, flagged as such
    for prod in bom.products:
        assert prod.units_per_year.assumption
        assert "illustrative" in prod.units_per_year.note


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_exposure_tables(name: str, store: Any) -> None:
    ans = exposure(Bom.example(name), store=store)
    inputs = ans.tables["inputs"]
    assert len(inputs) == sum(len(p.inputs) for p in Bom.example(name).products)
    assert inputs["control_share"].between(0, 1).all()
    # passing through the controller at any stage includes having been mined there
    assert (inputs["control_share"] >= inputs["mined_in_controller"] - 1e-9).all()
    assert ans.sources and ans.meta["bom_hash"]
    cit = ans.tables["citations"]
    assert set(cit.columns) >= {"field", "source_id", "assumption"}
    # spare capacity is never invented: every missing figure says why
    alts = ans.tables["alternatives"]
    unknown = alts[alts["spare_capacity_t_per_yr"].isna()]
    assert unknown["spare_note"].str.len().gt(0).all()


def test_ev_japanese_magnet_from_chinese_oxide_counts(store: Any) -> None:
    ans = exposure(Bom.example("ev-motor"), store=store)
    tr = ans.tables["tracing"]
    jpn = tr[(tr["country"] == "JPN")]
    assert not jpn.empty
    # a Japanese magnet counts as controller-dependent through its Chinese oxide and metal
    assert (jpn["control_share"] > 0.5).all()
    assert jpn["deminimis_reached"].all()
    assert set(jpn["rule"]) == {"de-minimis: controlled-origin content at or above the threshold"}
    assert set(tr.loc[tr["country"] == "CHN", "rule"]) == {"direct: made in the controller"}
    row = ans.tables["inputs"].iloc[0]
    assert row["controller_supplier_share"] == pytest.approx(0.85)
    assert row["control_share"] > row["controller_supplier_share"]
    assert row["deminimis_share"] == pytest.approx(0.15)
    spof = ans.tables["single_points"]
    assert ((spof["country"] == "CHN") & (spof["level"] == "upstream")).any()
    prods = ans.tables["products"].iloc[0]
    assert 0 < prods["controller_value_share"] < 1
    assert bool(prods["deminimis_value_reached"]) is True


def test_fighter_shows_the_disputed_content_range(store: Any) -> None:
    ans = exposure(Bom.example("fighter"), store=store)
    claims = ans.tables["content_claims"]
    dod = claims[claims["source_ids"] == "crs_r41744"]
    adamas = claims[(claims["source_ids"] == "adamas_2026_04_22")
                    & (claims["material"] == "elemental REE")]
    assert dod["value"].tolist() == [417.0]
    assert (adamas["low"].tolist(), adamas["high"].tolist()) == ([11.0], [20.0])
    assert any("disagree" in n for n in ans.notes)
    # a US SmCo maker still depends on the controller through its Sm metal
    row = ans.tables["inputs"].iloc[0]
    assert row["type"] == "SmCo" and row["controller_supplier_share"] == 0
    assert row["control_share"] > 0.5
    # the data list no SmCo maker outside China: said, not invented
    assert any("no SmCo producer" in n for n in ans.notes)


def test_drone_magnet_mass_is_a_flagged_assumption() -> None:
    q = Bom.example("drone").products[0].inputs[0].mass_kg_per_unit
    assert q.assumption and not q.source
    assert "no citable" in q.note


def test_wind_mass_derived_from_sourced_intensity() -> None:
    q = Bom.example("wind-turbine").products[0].inputs[0].mass_kg_per_unit
    assert q.bounds == (1875.0, 2550.0)
    assert q.source[0].key == "intensity-0020"


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_impact_with_synthetic_paths(name: str, store: Any) -> None:
    ans = impact(Bom.example(name), paths(avail=0.3, price=2.0), seed=7, store=store)
    s = ans.tables["summary"]
    assert len(s) == len(Bom.example(name).products)
    for col in ("months_to_stockout", "units_delayed", "cost_increase_usd_per_unit",
                "cost_increase_usd_per_year", "alternative_months"):
        assert (s[f"{col}_p10"] <= s[f"{col}_p50"]).all()
        assert (s[f"{col}_p50"] <= s[f"{col}_p90"]).all()
    assert (s["cost_increase_usd_per_unit_p50"] > 0).all()
    monthly = ans.tables["monthly"]
    assert len(monthly) == 24 * len(s)
    assert ans.meta["seed"] == 7


def test_impact_without_a_shock_costs_nothing(store: Any) -> None:
    ans = impact(Bom.example("ev-motor"), paths(avail=1.0, price=1.0), seed=1, store=store)
    s = ans.tables["summary"].iloc[0]
    assert math.isinf(s["months_to_stockout_p50"])
    assert s["units_delayed_p90"] == 0
    assert s["cost_increase_usd_per_unit_p90"] == pytest.approx(0.0)


def test_impact_is_reproducible_with_a_seed(store: Any) -> None:
    a = impact(Bom.example("wind-turbine"), paths(), seed=3, store=store)
    b = impact(Bom.example("wind-turbine"), paths(), seed=3, store=store)
    pd.testing.assert_frame_equal(a.tables["summary"], b.tables["summary"])


def test_impact_stockout_matches_hand_calculation(store: Any) -> None:
    # 2 months of stock; controller-dependent supply at 50 %: the stock drains at
    # kappa * 0.5 of need per month, so it lasts 2 / (0.5 kappa) months after the onset
    bom = Bom.model_validate(bom_dict(suppliers=[{"country": "CHN", "share": 1.0}]))
    ans = impact(bom, paths(avail=0.5, onset=3), seed=0, store=store)
    s = ans.tables["summary"].iloc[0]
    assert s["months_to_stockout_p50"] == pytest.approx(4.0)
    # from then on half the planned output (100 units/month) is delayed
    monthly = ans.tables["monthly"]
    late = monthly[monthly["months_from_onset"] >= 5]
    assert late["units_delayed_p50"].to_numpy() == pytest.approx(50.0)
    assert s["revenue_at_risk_usd_p50"] == pytest.approx(s["units_delayed_p50"] * 1000)


def test_declared_alternative_capacity_cuts_delays(store: Any) -> None:
    base = bom_dict(suppliers=[{"country": "CHN", "share": 1.0}], inventory_months=0)
    alt = bom_dict(suppliers=[{"country": "CHN", "share": 1.0}], inventory_months=0,
                   qualification_months=2,
                   alternatives=[{"country": "DEU", "capacity_kg_per_month": 1000,
                                  "price_premium": 0.3}])
    p = paths(avail=0.0)
    a = impact(Bom.model_validate(base), p, seed=0, store=store).tables["summary"].iloc[0]
    b = impact(Bom.model_validate(alt), p, seed=0, store=store).tables["summary"].iloc[0]
    assert b["units_delayed_p50"] < a["units_delayed_p50"]
    assert b["alternative_months_p50"] == pytest.approx(2.0)


def test_grade_with_more_dysprosium_costs_more(store: Any) -> None:
    p = paths(avail=1.0, price=1.0)
    dy_up = np.where(np.array(p.materials) == "Dy", 3.0, 1.0)[None, None, :]
    p2 = MarketPaths(p.materials, p.price_multiple * dy_up, p.availability,
                     p.base_price_usd_per_kg)
    low = Bom.model_validate(bom_dict(content={"Dy": 0.0}))
    high = Bom.model_validate(bom_dict(content={"Dy": 0.06}))
    c_low = impact(low, p2, seed=0, store=store).tables["summary"].iloc[0]
    c_high = impact(high, p2, seed=0, store=store).tables["summary"].iloc[0]
    assert c_high["cost_increase_usd_per_unit_p50"] > c_low["cost_increase_usd_per_unit_p50"]


def test_market_paths_from_an_engine_result(store: Any) -> None:
    from oreflow.simulate import Scenario, simulate
    from oreflow.simulate.baseline import toy_baseline

    sc = Scenario.parse_yaml(
        "name: toy\nstart: 2025-01\nhorizon_months: 18\nshocks:\n"
        "  - {kind: export_restriction, materials: [Dy], effective: 2025-03,\n"
        "     licence_lag_months: 2, approval_rate: 0.2}\n")
    res = simulate(sc, draws=30, seed=5, baseline=toy_baseline(targets=False))
    p = market_paths(res, "USA")
    assert p.availability.shape == (30, 18, 3) and p.materials == ("Nd", "Dy", "NdFeB")
    assert (p.availability >= 0).all() and (p.availability <= 1).all()
    assert p.onset_month == pytest.approx(2.0)
    assert p.meta["seed"] == 5
    ans = impact(Bom.example("ev-motor"), res, store=store)
    s = ans.tables["summary"].iloc[0]
    assert ans.meta["scenario"] == "toy" and ans.meta["seed"] == 5
    assert s["cost_increase_usd_per_unit_p50"] > 0
    # a buyer inside the controller sees the controller segment's fill rate
    pc = market_paths(res, "CHN")
    assert pc.meta["region"] == "CHN"


def test_market_paths_rejects_bad_arrays() -> None:
    with pytest.raises(ValueError, match="shape"):
        MarketPaths(("NdFeB",), np.ones((2, 3, 2)), np.ones((2, 3, 2)), np.ones(1))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        MarketPaths(("NdFeB",), np.ones((2, 3, 1)), np.full((2, 3, 1), 1.5), np.ones(1))


def test_material_without_a_market_is_unaffected_and_said(store: Any) -> None:
    p = paths(materials=("NdFeB",))
    ans = impact(Bom.example("fighter"), p, seed=0, store=store)
    assert any("treated as unaffected" in n for n in ans.notes)


# --------------------------------------------------------------------------------------------
# the line model


def test_run_line_simple_drawdown() -> None:
    r = run_line(np.array([10.0]), np.array([[2.0]]), np.array([[60.0]]),
                 np.full((1, 8, 1), 0.5))
    # need 20 kg/month, 10 delivered: 60 kg last 6 months; then 5 units/month delayed
    assert r.stockout[0] == pytest.approx(6.0)
    assert r.delayed[0].tolist() == pytest.approx([0, 0, 0, 0, 0, 0, 5, 5])


def test_run_line_inputs_are_complements() -> None:
    # input 0 is plentiful, input 1 runs out after one month: output stops for both
    r = run_line(np.array([10.0]), np.array([[1.0, 1.0]]), np.array([[100.0, 10.0]]),
                 np.stack([np.ones((1, 4)), np.zeros((1, 4))], axis=2))
    assert r.stockout[0] == pytest.approx(1.0)
    assert r.input_stockout[0, 0] == np.inf
    assert r.produced[0].tolist() == pytest.approx([10, 0, 0, 0])


def test_run_line_alternatives_fill_the_gap() -> None:
    alt = np.zeros((1, 6, 1))
    alt[:, 3:] = 10.0
    r = run_line(np.array([10.0]), np.array([[1.0]]), np.array([[0.0]]),
                 np.zeros((1, 6, 1)), alt)
    assert r.produced[0].tolist() == pytest.approx([0, 0, 0, 10, 10, 10])
    assert r.from_alternatives[0, :, 0].sum() == pytest.approx(30.0)


@settings(max_examples=60, deadline=None)
@given(
    units=st.floats(1, 1e4), mass=st.lists(st.floats(0.01, 10), min_size=1, max_size=3),
    stock_months=st.lists(st.floats(0, 12), min_size=3, max_size=3),
    extra=st.floats(0, 12), which=st.integers(0, 2),
    supply=st.lists(st.floats(0, 1), min_size=12, max_size=12), seed=st.integers(0, 99),
)
def test_more_inventory_never_shortens_months_to_stockout(
    units: float, mass: list[float], stock_months: list[float], extra: float, which: int,
    supply: list[float], seed: int,
) -> None:
    n = len(mass)
    m = np.array([mass])
    need = units * m
    stock = np.array([stock_months[:n]]) * need
    rng = np.random.default_rng(seed)
    sig = np.clip(np.array(supply)[None, :, None] * rng.uniform(0.5, 1.5, (1, 12, n)), 0, 1)
    alt = rng.uniform(0, 1, (1, 12, n)) * need[:, None, :] * (rng.uniform() < 0.5)
    base = run_line(np.array([units]), m, stock, sig, alt)
    more = stock.copy()
    more[0, which % n] += extra * need[0, which % n]
    bigger = run_line(np.array([units]), m, more, sig, alt)
    assert bigger.stockout[0] >= base.stockout[0] - 1e-9
    assert (bigger.input_stockout >= base.input_stockout - 1e-9).all()


@settings(max_examples=15, deadline=None)
@given(inv=st.floats(0, 6), extra=st.floats(0, 6), avail=st.floats(0, 1),
       onset=st.integers(0, 5))
def test_more_inventory_never_shortens_stockout_through_impact(
    inv: float, extra: float, avail: float, onset: int, store: Any,
) -> None:
    p = paths(avail=avail, onset=onset, draws=8, steps=18)
    a = impact(Bom.model_validate(bom_dict(inventory_months=inv)), p, seed=1, store=store)
    b = impact(Bom.model_validate(bom_dict(inventory_months=inv + extra)), p, seed=1,
               store=store)
    for q in ("p10", "p50", "p90"):
        col = f"months_to_stockout_{q}"
        assert b.tables["summary"][col].iloc[0] >= a.tables["summary"][col].iloc[0] - 1e-9


# --------------------------------------------------------------------------------------------
# bad input: every problem with file, line and field; nothing computed


def test_yaml_problems_name_line_and_field(tmp_path: Path) -> None:
    p = write_yaml(tmp_path, """\
name: bad
controller: CHX
products:
  - id: p1
    plant_country: USA
    units_per_year: 100
    inputs:
      - id: m1
        kind: magnet
        type: NdFeb
        mass_kg_per_unit: -1.5
        inventory_months: 2
        suppliers:
          - {country: CHN, share: 0.5}
          - {country: XYZ, share: 0.3}
      - id: m2
        kind: material
        type: Unobtanium
        mass_kg_per_unit: {value: 1, source: {source_id: no_such_source}}
        suppliers:
          - {country: JPN, share: 1}
        colour: red
""")
    got = problems(p)
    f = "products[0].inputs"
    expected = {
        (2, "controller"): "unknown country or bloc 'CHX'",
        (10, f"{f}[0].type"): "unknown magnet type 'NdFeb' (did you mean 'NdFeB'?)",
        (11, f"{f}[0].mass_kg_per_unit"): "must be positive (got -1.5)",
        (13, f"{f}[0].suppliers"): "supplier shares sum to 0.8, not 1",
        (15, f"{f}[0].suppliers[1].country"): "unknown country code 'XYZ'",
        (16, f"{f}[1].inventory_months"): "required field is missing",
        (18, f"{f}[1].type"): "unknown material 'Unobtanium'",
        (19, f"{f}[1].mass_kg_per_unit.source.source_id"): "unknown source 'no_such_source'",
        (22, f"{f}[1].colour"): "unknown field",
    }
    by_place = {(line, col): rule for line, col, rule in got}
    for place, rule in expected.items():
        assert place in by_place, place
        assert by_place[place].startswith(rule), (place, by_place[place])
    with pytest.raises(ValidationError) as err:
        read_bom(p)
    assert all(pr.file == str(p) for pr in err.value.problems)
    assert err.value.exit_code == 2


@pytest.mark.parametrize(("snippet", "field", "rule"), [
    ({"mass_kg_per_unit": {"low": 3, "high": 1}}, "mass_kg_per_unit", "low (3) is above"),
    ({"mass_kg_per_unit": 0}, "mass_kg_per_unit", "must be positive"),
    ({"inventory_months": -1}, "inventory_months", "must not be negative"),
    ({"content": {"Dy": 1.5}}, "content", "element content is a mass fraction"),
    ({"content": {"Fe": 0.6}}, "content.Fe", "'Fe' is not a rare-earth element"),
    ({"type": "SmCo"}, "content", "the data have no SmCo recipe"),
    ({"grade": "N52 unobtainium"}, "grade", "unknown NdFeB grade"),
    ({"kind": "material", "type": "NdPr"}, "type", "'NdPr' is not a rare-earth element"),
    ({"suppliers": []}, "suppliers", "Tuple should have at least 1 item"),
    ({"suppliers": [{"country": "CHN", "share": 1.2}]}, "suppliers[0].share",
     "Input should be less than or equal to 1"),
    ({"mass_kg_per_unit": {"value": 1, "source": {"source_id": "crs_r41744",
                                                  "table": "intensity",
                                                  "key": "intensity-9999"}}},
     "mass_kg_per_unit.source.key", "no row 'intensity-9999' in table intensity"),
    ({"mass_kg_per_unit": {"value": 1, "source": {"source_id": "crs_r41744",
                                                  "table": "intensity",
                                                  "key": "intensity-0003"}}},
     "mass_kg_per_unit.source.source_id", "row 'intensity-0003' of intensity cites"),
    ({"alternatives": [{"country": "DEU", "project_id": "nope"}]},
     "alternatives[0].project_id", "unknown project 'nope'"),
])
def test_each_input_problem(tmp_path: Path, snippet: dict[str, Any], field: str,
                            rule: str) -> None:
    import yaml

    p = write_yaml(tmp_path, yaml.safe_dump(bom_dict(**snippet), sort_keys=False))
    got = problems(p)
    want = f"products[0].inputs[0].{field}"
    hits = [g for g in got if g[1] == want and g[2].startswith(rule)]
    assert hits, got
    assert all(isinstance(line, int) and line > 1 for line, _, _ in hits)


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    p = write_yaml(tmp_path, "name: x\nproducts:\n  - id: [unclosed\n")
    ((line, _col, rule),) = problems(p)
    assert line is not None and line >= 3 and rule.startswith("not valid YAML")


def test_duplicate_ids_and_unknown_plant(tmp_path: Path) -> None:
    import yaml

    d = bom_dict()
    d["products"].append({**d["products"][0], "plant_country": "USX"})
    p = write_yaml(tmp_path, yaml.safe_dump(d, sort_keys=False))
    rules = {(c, r.split(" (")[0]) for _, c, r in problems(p)}
    assert ("products[1].id", "product id 'p1' appears more than once") in rules
    assert ("products[1].plant_country", "unknown country code 'USX'") in rules


def _write_csv(tmp_path: Path, header: list[str], rows: list[dict[str, Any]]) -> Path:
    p = tmp_path / "bom.csv"
    with p.open("w", newline="") as fh:
        w = csv.DictWriter(fh, header)
        w.writeheader()
        w.writerows(rows)
    return p


CSV_HEADER = ["product", "units_per_year", "plant_country", "unit_value_usd", "input", "kind",
              "type", "grade", "mass_kg_per_unit", "mass_kg_per_unit_low",
              "mass_kg_per_unit_high", "source_id", "source_table", "source_key",
              "inventory_months", "qualification_months_low", "qualification_months_high",
              "supplier", "supplier_country", "share", "content_Dy"]


def test_csv_bom_reads_like_yaml(tmp_path: Path, store: Any) -> None:
    first = {
        "product": "ev", "units_per_year": 100000, "plant_country": "USA",
        "unit_value_usd": 1500, "input": "rotor", "kind": "magnet", "type": "NdFeB",
        "grade": "typical", "mass_kg_per_unit": 1.5, "mass_kg_per_unit_low": 1,
        "mass_kg_per_unit_high": 2, "source_id": "daryllgomas_note",
        "source_table": "intensity", "source_key": "intensity-0015", "inventory_months": 2,
        "qualification_months_low": 4, "qualification_months_high": 7, "supplier": "A",
        "supplier_country": "CHN", "share": 0.85, "content_Dy": 0.03,
    }
    rows = [
        first,
        {"product": "ev", "input": "rotor", "supplier": "B", "supplier_country": "JPN",
         "share": 0.15},
        {"product": "ev", "input": "dy", "kind": "material", "type": "Dy",
         "mass_kg_per_unit": 0.01, "inventory_months": 3, "supplier_country": "CHN",
         "share": 1},
    ]
    bom = read_bom(_write_csv(tmp_path, CSV_HEADER, rows), store=store)
    (prod,) = bom.products
    rotor, dy = prod.inputs
    assert [s.country for s in rotor.suppliers] == ["CHN", "JPN"]
    assert rotor.mass_kg_per_unit.bounds == (1.0, 2.0)
    assert rotor.mass_kg_per_unit.source[0].key == "intensity-0015"
    assert rotor.content is not None and rotor.content["Dy"].point == 0.03
    assert rotor.qualification_months is not None
    assert rotor.qualification_months.bounds == (4.0, 7.0)
    assert dy.kind == "material" and bom.name == "bom"
    ans = exposure(bom, store=store)
    assert ans.tables["inputs"]["binding_element"].tolist() == ["Dy", "Dy"]


def test_csv_missing_and_unknown_columns(tmp_path: Path) -> None:
    header = ["product", "units_per_year", "input", "kind", "type", "mass_kg_per_unit",
              "supplier_country", "shares"]
    row = {"product": "p", "units_per_year": 1, "input": "m", "kind": "magnet",
           "type": "NdFeB", "mass_kg_per_unit": 1, "supplier_country": "CHN", "shares": 1}
    p = _write_csv(tmp_path, header, [row])
    got = problems(p)
    assert (1, "plant_country", "required column is missing") in got
    assert (1, "inventory_months", "required column is missing") in got
    assert (1, "share", "required column is missing") in got
    assert (1, "shares", "unknown column (did you mean 'share'?)") in got


def test_csv_cell_problems_name_line_and_column(tmp_path: Path) -> None:
    base = {"product": "p1", "units_per_year": 1000, "plant_country": "USA", "input": "m1",
            "kind": "magnet", "type": "NdFeB", "mass_kg_per_unit": 1.5, "inventory_months": 2,
            "supplier_country": "CHN", "share": 0.6}
    rows = [
        base,  # line 2
        {"product": "p1", "input": "m1", "supplier_country": "JPN", "share": 0.3},  # 3
        dict(base, input="m2", units_per_year=2000, mass_kg_per_unit="abc", share=1),  # 4
        dict(base, product="p2", plant_country="USX", type="SmCo", mass_kg_per_unit=-2,
             share=1),  # line 5
        dict(base, product="p3", input="m1", kind="material", type="Unobtanium",
             supplier_country="XYZ", share=1),  # line 6
    ]
    got = problems(_write_csv(tmp_path, CSV_HEADER, rows))
    got_set = {(line, col, rule.split(" (")[0]) for line, col, rule in got}
    for want in [
        (2, "share", "supplier shares sum to 0.9, not 1"),
        (4, "units_per_year", "'2000' conflicts with '1000' on line 2"),
        (4, "mass_kg_per_unit", "'abc' is not a number"),
        (5, "plant_country", "unknown country code 'USX'"),
        (5, "mass_kg_per_unit", "must be positive"),
        (5, "content_<El>", "the data have no SmCo recipe: give the element content"),
        (6, "type", "unknown material 'Unobtanium'"),
        (6, "supplier_country", "unknown country code 'XYZ'"),
    ]:
        assert want in got_set, (want, got)
    # the unreadable cell is not reported a second time as missing
    assert not [g for g in got if g[0] == 4 and g[2] == "required field is missing"]


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_bom(tmp_path / "nope.yaml")
    other = tmp_path / "bom.txt"
    other.write_text("x")
    with pytest.raises(InputError, match=r"\.yaml, \.yml or \.csv"):
        read_bom(other)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValidationError):
        read_bom(empty)
    with pytest.raises(InputError, match="unknown example BOM 'dron'"):
        Bom.example("dron")


def test_nothing_is_computed_on_partial_input(tmp_path: Path) -> None:
    import yaml

    d = bom_dict()
    d["products"].append({"id": "p2", "plant_country": "USA", "units_per_year": 10,
                          "inputs": [{**d["products"][0]["inputs"][0], "type": "Bogus"}]})
    p = write_yaml(tmp_path, yaml.safe_dump(d, sort_keys=False))
    with pytest.raises(ValidationError):
        read_bom(p)  # the valid first product is not returned on its own


def test_doctests() -> None:
    failed = attempted = 0
    for name in ("bom", "bom_io", "trace", "impact"):
        module = importlib.import_module(f"oreflow.exposure.{name}")
        res = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        failed, attempted = failed + res.failed, attempted + res.attempted
    assert failed == 0 and attempted >= 5


def test_impact_with_a_builtin_scenario(store: Any) -> None:
    ans = impact(Bom.example("drone"), "china-2025-04", draws=40, seed=2, store=store)
    s = ans.tables["summary"].iloc[0]
    assert ans.meta["scenario"] == "china-2025-04" and ans.meta["engine"]["seed"] == 2
    assert ans.meta["regions"]["USA"] == s["region"]
    assert 0 <= s["units_delayed_share_p50"] <= 1
    assert s["months_to_stockout_p10"] <= s["months_to_stockout_p90"]
    assert ans.tables["monthly"]["date"].iloc[0] == "2025-04"


def test_quantity_draws_through_the_shared_distribution() -> None:
    q = Quantity(value=1.5, low=1.0, high=2.0)  # the value is the point, the range the draws
    assert isinstance(q.distribution, Uniform) and q.distribution.support() == (1.0, 2.0)
    assert q.point == 1.5
    x = q.sample(50, rng=np.random.default_rng(4))
    assert np.array_equal(x, np.random.default_rng(4).uniform(1.0, 2.0, size=50))
    p = Quantity.model_validate(3)
    assert isinstance(p.distribution, Fixed)
    assert p.sample(3, rng=np.random.default_rng(0)).tolist() == [3.0, 3.0, 3.0]

def test_impact_simulates_on_the_store_it_is_given(tmp_path: Path, store: Any) -> None:
    """``impact(..., store=S)`` runs the engine on S: a user import in S moves the result."""
    dear = Store(user=tmp_path / "user")  # embedded data + a user layer with dearer Dy oxide
    row = dear.table("prices").set_index("row_id").loc[["prices-0044"]]
    assert row["material"].iloc[0] == "Dy" and str(row["date"].iloc[0]) == "2024"
    row["value"] = row["value"] * 4
    f = tmp_path / "dy.csv"
    row.reset_index().to_csv(f, index=False)
    assert dear.import_file(f, "prices").replaced == 1
    assert dear.fingerprint() != store.fingerprint()
    bom = Bom.example("drone")
    a = impact(bom, "china-2025-04", draws=40, seed=2, store=store)
    b = impact(bom, "china-2025-04", draws=40, seed=2, store=dear)
    # the engine's baseline was built from the store passed in, not from the default store
    assert a.meta["engine"]["dataset_hash"] == store.fingerprint()
    assert b.meta["engine"]["dataset_hash"] == dear.fingerprint()
    # and its dearer Dy base price raises the cost of the magnets' Dy content
    cost = "cost_increase_usd_per_unit_p50"
    assert b.tables["summary"][cost].iloc[0] > a.tables["summary"][cost].iloc[0]


# --------------------------------------------------------------------------------------------
# bad input (issue 11): safe YAML, finite bounded figures, hints, aggregates, size


def _yaml_problems(tmp_path: Path, text: str) -> list[tuple[int | None, str | None, str]]:
    return problems(write_yaml(tmp_path, text))


def test_alias_bomb_bom_is_rejected_at_once(tmp_path: Path) -> None:
    import time

    text = "name: bomb\nproducts:\n  - &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        text += f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n"
    assert len(text) < 1024
    t0 = time.perf_counter()
    ((_line, col, rule),) = _yaml_problems(tmp_path, text)
    assert time.perf_counter() - t0 < 10  # a hang guard: it took minutes and 7 GB before
    assert col is None and "expands (through its aliases)" in rule


def test_deep_and_repeated_yaml_are_problems_with_lines(tmp_path: Path) -> None:
    ((line, _, rule),) = _yaml_problems(tmp_path, "name: x\nproducts: " + "[" * 3000
                                        + "]" * 3000 + "\n")
    assert line == 2 and "nested more than" in rule
    import yaml

    text = yaml.safe_dump(bom_dict(), sort_keys=False).replace(
        "    inventory_months: 2\n", "    inventory_months: 2\n    inventory_months: 9\n")
    ((line, _, rule),) = _yaml_problems(tmp_path, text)
    assert rule == "key 'inventory_months' appears more than once (first on line 12)"
    assert line == 13


@pytest.mark.parametrize(
    "override, field, words",
    [
        ({"mass_kg_per_unit": {"low": 1, "high": 1e308}}, "mass_kg_per_unit",
         "within +-1e+12"),
        ({"mass_kg_per_unit": {"low": 1, "high": 1e9}}, "mass_kg_per_unit", "1,000 t"),
        ({"mass_kg_per_unit": float("nan")}, "mass_kg_per_unit", "finite"),
        ({"inventory_months": float("inf")}, "inventory_months", "finite"),
        ({"inventory_months": 5000}, "inventory_months", "100 years"),
        ({"qualification_months": {"low": 1, "high": 1e5}}, "qualification_months",
         "100 years"),
        ({"price_usd_per_kg": 1e9}, "price_usd_per_kg", "few thousand USD/kg"),
        ({"price_sensitivity": float("nan")}, "price_sensitivity", "finite"),
        ({"price_sensitivity": 5}, "price_sensitivity", "less than or equal to 1"),
        ({"suppliers": [{"country": "CHN", "share": float("nan")}]}, "suppliers[0].share",
         "finite"),
        ({"alternatives": [{"country": "AUS", "capacity_kg_per_month": 1e300}]},
         "alternatives[0].capacity_kg_per_month", "within +-1e+12"),
    ],
)
def test_figures_must_be_finite_and_sane(tmp_path: Path, override: dict[str, Any],
                                         field: str, words: str) -> None:
    import yaml

    got = _yaml_problems(tmp_path, yaml.safe_dump(bom_dict(**override), sort_keys=False))
    want = f"products[0].inputs[0].{field}"
    assert [g for g in got if str(g[1]).startswith(want) and words in g[2]], got


def test_product_figures_are_bounded(tmp_path: Path) -> None:
    import yaml

    d = bom_dict()
    d["products"][0]["units_per_year"] = {"value": 1e11}
    d["products"][0]["unit_value_usd"] = float("inf")
    got = _yaml_problems(tmp_path, yaml.safe_dump(d, sort_keys=False))
    assert any(c == "products[0].units_per_year" and "1e10 units" in r for _, c, r in got)
    assert any(str(c).startswith("products[0].unit_value_usd") and "finite" in r
               for _, c, r in got), got


def test_unknown_bom_fields_suggest_the_nearest(tmp_path: Path) -> None:
    import yaml

    d = bom_dict(mass_kg_per_units=2.0)
    d["products"][0]["units_per_yr"] = 5
    d["descripton"] = "x"
    got = _yaml_problems(tmp_path, yaml.safe_dump(d, sort_keys=False))
    rules = {c: r for _, c, r in got}
    assert rules["products[0].inputs[0].mass_kg_per_units"] == (
        "unknown field (did you mean 'mass_kg_per_unit'?)")
    assert rules["products[0].units_per_yr"] == "unknown field (did you mean 'units_per_year'?)"
    assert rules["descripton"] == "unknown field (did you mean 'description'?)"


@pytest.mark.parametrize("code", ["WLD", "ROW", "OTH", "XEU", "EUU", "TOP3"])
def test_aggregate_codes_are_not_countries(tmp_path: Path, code: str) -> None:
    import yaml

    d = bom_dict(suppliers=[{"country": code, "share": 1.0}])
    d["products"][0]["plant_country"] = code
    got = _yaml_problems(tmp_path, yaml.safe_dump(d, sort_keys=False))
    for field in ("products[0].plant_country", "products[0].inputs[0].suppliers[0].country"):
        hits = [r for _, c, r in got if c == field]
        assert hits and hits[0].startswith(f"'{code}' (") and "is an aggregate, not a " \
            "country" in hits[0], got


def test_bom_file_problems_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    ((line, _, rule),) = problems(tmp_path / "dir.yaml")
    assert line is None and rule == "is a directory, not a BOM file"
    bad = tmp_path / "bom.yaml"
    bad.write_bytes(b"name: x\nproducts: []\ndescription: caf\xe9\n")
    with pytest.raises(ValidationError) as err:
        read_bom(bad)
    (p,) = err.value.problems
    assert (p.file, p.line) == (str(bad), 3) and p.rule.startswith("not UTF-8 text")
    assert err.value.exit_code == 2


def _big_csv(tmp_path: Path, n: int) -> Path:
    rows = [{"product": f"p{i}", "units_per_year": 1000, "plant_country": "USA",
             "input": "m1", "kind": "magnet", "type": "NdFeB", "mass_kg_per_unit": 1.5,
             "inventory_months": 2, "supplier_country": "CHN", "share": 1}
            for i in range(n)]
    return _write_csv(tmp_path, CSV_HEADER, rows)


def test_a_5000_product_csv_bom_reads(tmp_path: Path, store: Any) -> None:
    # its time is measured by bench/bench_inputs.py (about 1 s; 50,000 did not finish in
    # 240 s before the lookups were made linear)
    bom = read_bom(_big_csv(tmp_path, 5000), store=store)
    assert len(bom.products) == 5000


def test_a_50000_product_csv_bom_is_refused_quickly(tmp_path: Path, store: Any) -> None:
    import time

    path = _big_csv(tmp_path, 50_000)
    t0 = time.perf_counter()
    ((line, col, rule),) = problems(path)
    assert time.perf_counter() - t0 < 30  # a hang guard: over 240 s before
    assert (line, col) == (10_002, "product") and rule.startswith("more than 10,000 products")


def test_bom_countries_and_controller_by_name() -> None:
    # Japan, "United States" and a bloc name read like their codes; a misspelling is a
    # problem with its line and a suggestion
    from oreflow.exposure.bom import parse_bom

    text = (Path(__file__).parents[1] / "src/oreflow/examples/bom/ev-motor.yaml").read_text()
    named = (text.replace("plant_country: USA", "plant_country: United States")
             .replace("country: JPN", "country: Japan"))
    assert named != text
    a, b = parse_bom(text), parse_bom(named)
    assert a.model_dump() == b.model_dump()
    bad = text.replace("country: JPN", "country: Japn", 1)
    with pytest.raises(ValidationError) as exc:
        parse_bom(bad)
    assert any("did you mean 'JPN'" in line for line in exc.value.lines())
