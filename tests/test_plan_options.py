"""Diversification options (oreflow.plan.options): sourced numbers, the projects pipeline
checked against hand-read rows of the projects table, the unit-capex derivation against a
hand calculation, the status table, and user overrides with file:line:field errors."""

from __future__ import annotations

import math
import os
import statistics
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oreflow.data.store import Store
from oreflow.errors import InputError, ValidationError
from oreflow.plan import (
    STAGES,
    Option,
    classify_projects,
    derive_module_size,
    derive_unit_capex,
    generic_options,
    load_defaults,
    map_capacity,
    offtake_options,
    options_table,
    parse_defaults,
    project_options,
    recycling_options,
    status_class,
    stockpile_options,
)

DEFAULTS_FILE = Path(__file__).resolve().parents[1] / "src" / "oreflow" / "plan" / "defaults.yaml"


@pytest.fixture(scope="module")
def all_options(store: Store) -> list[Option]:
    return (project_options(store=store, year=2026)
            + generic_options(STAGES, ["USA", "AUS", "DEU"], store=store)
            + stockpile_options(["NdPr", "Dy", "Tb"],
                                demand_t_per_yr={"NdPr": 1200.0, "Dy": 60.0, "Tb": 12.0},
                                bloc="EU", store=store)
            + recycling_options(["USA"], store=store)
            + offtake_options(store=store))


def _by_id(options: list[Option]) -> dict[str, Option]:
    return {o.option_id: o for o in options}


# -- every number is sourced or a marked estimate ---------------------------------------------


def test_every_option_cites_known_sources_or_is_a_marked_estimate(all_options, store):
    known = set(store.table("sources")["source_id"].astype(str))
    assert {o.kind for o in all_options} == {"project", "generic", "stockpile", "recycling",
                                             "offtake"}
    for o in all_options:
        unknown = [s for s in o.source_ids if s not in known]
        assert unknown == [], (o.option_id, unknown)
        assert o.source_ids or (o.estimate and o.method), o.option_id
        if o.estimate:
            assert o.method.strip(), o.option_id
        if o.capex_estimated:
            assert o.estimate and "capex" in o.method, o.option_id


def test_capacity_and_capex_positive_and_finite(all_options):
    for o in all_options:
        if o.kind in ("project", "generic", "recycling"):
            for v in (o.capacity_t_per_yr, o.capacity_t_per_yr_low, o.capacity_t_per_yr_high,
                      o.capex_musd, o.capex_musd_low, o.capex_musd_high):
                assert v is not None and math.isfinite(v) and v > 0, o.option_id
            assert o.capacity_t_per_yr_low <= o.capacity_t_per_yr <= o.capacity_t_per_yr_high
            assert o.capex_musd_low <= o.capex_musd <= o.capex_musd_high
        if o.kind == "stockpile":
            assert o.stock_t is not None and o.stock_t > 0
            assert o.capex_musd is not None and math.isfinite(o.capex_musd) and o.capex_musd > 0
        assert 0 <= o.p_fail_low <= o.p_fail <= o.p_fail_high <= 1
        assert 0 <= o.lead_time_years_low <= o.lead_time_years_median <= o.lead_time_years_high
        assert 0 <= o.delay_years_low <= o.delay_years_median <= o.delay_years_high
        assert o.stage in STAGES


def test_option_ids_are_unique(all_options):
    ids = [o.option_id for o in all_options]
    assert len(ids) == len(set(ids))


def test_defaults_cite_only_known_sources(store):
    d = load_defaults(store=store)
    # every Cited has sources or an estimate with a method (the schema enforces it) ...
    assert d.stages["mine"].lead_time_years.source_ids == ["spglobal_2023_06_06"]
    # ... and a source id that is not in the sources table is refused at load
    text = DEFAULTS_FILE.read_text(encoding="utf-8").replace(
        "source_ids: [spglobal_2023_06_06]", "source_ids: [no_such_source]")
    with pytest.raises(ValidationError) as e:
        parse_defaults(text, source="mine.yaml", store=store)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "no_such_source" in t)
    assert f"mine.yaml:{line}:" in e.value.lines()[0]
    assert "unknown source 'no_such_source'" in e.value.lines()[0]


# -- the pipeline against hand-read rows of the projects table ---------------------------------


def test_project_options_match_hand_checked_rows(store):
    opts = _by_id(project_options(store=store, year=2026))
    d = load_defaults(store=store)
    # songwe_hill: capacity 5,954 t_TREO_per_yr in MREC -> mine, REO; capex_musd 277.4;
    # status "DFS Jul 2022; ..." -> study; no start year -> a studied mine project's lead
    # time, 16.9 - 12.5 = 4.4 years (sp_top35), not the discovery-to-production 15.7
    o = opts["project:songwe_hill"]
    assert (o.stage, o.iso3, o.material) == ("mine", "MWI", "REO")
    assert o.capacity_t_per_yr == 5954.0
    assert o.capex_musd == pytest.approx(277.4) and not o.capex_estimated
    assert o.status_class == "study" and o.p_fail == 0.5
    assert (o.lead_time_years_low, o.lead_time_years_median, o.lead_time_years_high) == (
        4.4, 4.4, 4.4)
    assert "projectblue_2022_07_13" in o.source_ids
    # hastings_yangibana: 37,000 t/yr concentrate at 27% TREO -> 9,990 t REO/yr; no capex_musd
    # -> 9,990 x mine unit capex (46,590.5 USD per t/yr) = 465.44 M USD, estimated; start 2026
    o = opts["project:hastings_yangibana"]
    assert o.capacity_t_per_yr == pytest.approx(9990.0)
    assert o.capex_estimated and o.capex_musd == pytest.approx(9990 * 46590.5 / 1e6)
    assert d.stages["mine"].unit_capex_usd_per_t_per_yr.value == 46590.5
    assert o.status_class == "committed" and o.lead_time_years_median == 0.0
    assert "0.27 TREO grade" in o.method
    # iluka_eneabba: 23,000 t_REO_per_yr, separation, under construction, start 2027
    o = opts["project:iluka_eneabba"]
    assert (o.stage, o.material, o.capacity_t_per_yr) == ("separation", "REO", 23000.0)
    assert o.status_class == "construction" and o.p_fail == 0.1
    assert o.lead_time_years_median == 1.0  # 2027 - 2026
    assert o.capex_musd == pytest.approx(23000 * 17297.3 / 1e6)
    # vulcan_elements: 10,000 t/yr NdFeB for USD 1,400 m (from the data, not estimated)
    o = opts["project:vulcan_elements"]
    assert (o.stage, o.material, o.capacity_t_per_yr, o.capex_musd) == (
        "magnet", "NdFeB", 10000.0, 1400.0)
    assert not o.capex_estimated
    # rainbow_phalaborwa: capex text "not found (PEA NPV10 USD 627 m; opex USD 33.86/kg)"
    o = opts["project:rainbow_phalaborwa"]
    assert o.opex_usd_per_kg == 33.86 and o.capex_estimated
    assert o.capacity_t_per_yr == pytest.approx(26208 / 14)


def test_lead_time_counts_from_the_planning_year(store):
    early = _by_id(project_options(store=store, year=2024))
    assert early["project:iluka_eneabba"].lead_time_years_median == 3.0  # 2027 - 2024
    assert early["project:iluka_eneabba"].earliest_decision_year == 2024


def test_pipeline_leaves_out_operating_defunct_and_unmappable_rows(store):
    opts = _by_id(project_options(store=store))
    table = classify_projects(store=store).set_index("project_id")
    assert len(table) == len(store.table("projects"))
    for pid, cls in (("lynas_malaysia", "operating"), ("molycorp_phoenix", "defunct"),
                     ("mag_cn_jl_mag", "listed")):
        assert f"project:{pid}" not in opts
        assert table.loc[pid, "status_class"] == cls and not table.loc[pid, "included"]
    # MREC of unstated grade and "RE concentrate/material" cannot be turned into t REO/yr
    assert "project:pensana_longonjo" not in opts
    assert "MREC" in table.loc["pensana_longonjo", "reason"]
    assert "project:tanbreez" not in opts
    # the options are exactly the included project rows
    included = set(table.index[table["included"] & (table["kind"] == "project")])
    assert {o.project_id for o in opts.values()} == included


def test_map_capacity_units():
    cap, _ = map_capacity("t_per_yr concentrate at 27% TREO (Stage 1)", 37000, None, None)
    assert cap is not None and (cap.stage, cap.material) == ("mine", "REO")
    assert cap.value == pytest.approx(9990)
    cap, _ = map_capacity("t separated magnet REO over about 14 years (PEA)", 26208, None, None)
    assert cap is not None and cap.value == pytest.approx(26208 / 14)
    cap, _ = map_capacity("t_per_yr NdPr (Phase 1)", None, 850, 1000)
    assert cap is not None and (cap.value, cap.low, cap.high) == (925, 850, 1000)
    cap, why = map_capacity("t_per_yr MREC (Phase 1)", 20000, None, None)
    assert cap is None and "cannot be mapped" in why
    cap, why = map_capacity("t_per_yr concentrate at 27% TREO", 1e308, None, 1e308)
    assert cap is not None or "finite" in why  # 1e308 x 0.27 is finite
    cap, why = map_capacity("t over about 0 years", 5.0, None, None)
    assert cap is None and "finite" in why  # 5 / 0
    cap, why = map_capacity("t_REO_per_yr", 100, 50, -1)
    assert cap is None and "positive finite" in why
    cap, _ = map_capacity("t_REO_per_yr", 100, 150, 120)  # a range that misses the value
    assert cap is not None and (cap.low, cap.value, cap.high) == (100, 100, 120)
    cap, why = map_capacity("furlongs per fortnight", 5, None, None)
    assert cap is None and "not recognised" in why


# -- the unit capex derivation against a hand calculation --------------------------------------


def test_unit_capex_derivation_reproduces_hand_calculation(store):
    got = derive_unit_capex(store=store).set_index("stage")
    pj = store.table("projects").set_index("project_id")
    # separation: the three rows with both capex_musd and a mappable capacity
    sep = [pj.loc["ef_white_mesa", "capex_musd"] * 1e6 / ((850 + 1000) / 2),
           pj.loc["lynas_malaysia_hree", "capex_musd"] * 1e6 / 1500,
           pj.loc["arafura_nolans", "capex_musd"] * 1e6 / 4440]
    assert sep == pytest.approx([16e6 / 925, 25e6 / 1500, 1220e6 / 4440])
    assert got.loc["separation", "n"] == 3
    assert got.loc["separation", "median"] == pytest.approx(statistics.median(sep))
    assert got.loc["separation", "median"] == pytest.approx(17297.297, rel=1e-6)
    assert got.loc["separation", "low"] == pytest.approx(min(sep))
    assert got.loc["separation", "high"] == pytest.approx(max(sep))
    assert got.loc["mine", "median"] == pytest.approx(277.4e6 / 5954)
    assert got.loc["magnet", "median"] == pytest.approx(1400e6 / 10000)
    assert "metal" not in got.index  # no metal row has both: the default is an estimate
    assert load_defaults(store=store).stages["metal"].unit_capex_usd_per_t_per_yr.estimate


def test_defaults_yaml_agrees_with_the_derivations(store):
    d = load_defaults(store=store)
    for r in derive_unit_capex(store=store).to_dict("records"):
        v = d.stages[r["stage"]].unit_capex_usd_per_t_per_yr
        assert v.value == pytest.approx(r["median"], rel=1e-5), r["stage"]
        if r["n"] > 1:
            assert (v.low, v.high) == pytest.approx((r["low"], r["high"]), rel=1e-5)
        for sid in r["source_ids"].split(";"):
            assert sid in v.source_ids
    for r in derive_module_size(store=store).to_dict("records"):
        m = d.stages[r["stage"]].module_t_per_yr
        assert (m.low, m.value, m.high) == pytest.approx((r["low"], r["median"], r["high"]))


# -- status table -----------------------------------------------------------------------------


def test_status_table_covers_every_status_in_the_projects_table(store):
    d = load_defaults(store=store)
    for text in store.table("projects")["status"].tolist():
        cls = status_class(text)
        assert cls != "unknown", text  # every shipped status is recognised ...
        assert cls in d.status_classes  # ... and has a failure and delay entry
    assert status_class(None) == status_class("") == "listed"
    assert status_class("something nobody wrote") == "unknown"
    assert d.status_classes["unknown"].pipeline


@pytest.mark.parametrize(("text", "cls"), [
    ("bankrupt 2015", "defunct"),
    ("'unlikely to proceed' (chairman, Nov 2025 AGM)", "stalled"),
    ("under construction (FEED done Dec 2023)", "construction"),
    ("inaugurated 19 Sep 2025; commercial ramp 2026", "ramping"),
    ("operating", "operating"),
    ("pre-FID (early works started)", "study"),
    ("funded (USD 80 m loan, 2025)", "committed"),
    ("memorandum of understanding", "announced"),
])
def test_status_rules(text, cls):
    assert status_class(text) == cls


# -- generic, stockpile, recycling and offtake options ---------------------------------------


def test_generic_options_scale_mine_lead_time_by_country(store):
    opts = _by_id(generic_options(["mine", "magnet"], ["USA", "DEU"], store=store))
    # USA: 29 years (sp_us) / 24.1 years study average (sp_copper) x 15.7 years
    assert opts["generic:mine:USA"].lead_time_years_median == pytest.approx(29 / 24.1 * 15.7)
    assert "spglobal_nma_2024_07_18" in opts["generic:mine:USA"].source_ids
    assert opts["generic:mine:DEU"].lead_time_years_median == 15.7  # no country figure
    assert opts["generic:magnet:USA"].lead_time_years_median == 2.0  # not scaled
    o = opts["generic:magnet:DEU"]
    assert o.capacity_t_per_yr == 3000 and o.capex_musd == pytest.approx(3000 * 140000 / 1e6)
    assert o.estimate and o.capex_estimated and o.status_class == "committed"
    with pytest.raises(InputError, match="unknown stage 'smelter'"):
        generic_options(["smelter"], ["USA"], store=store)


def test_stockpile_cost_is_tonnes_times_price(store):
    opts = _by_id(stockpile_options(["NdPr"], demand_t_per_yr={"NdPr": 1200.0},
                                    months_of_cover=[6], year=2024, store=store))
    o = opts["stockpile:NdPr:6m"]
    assert o.stock_t == pytest.approx(600.0)
    # 2024 annual average NdPr oxide China FOB: 55 USD/kg (usgs_mcs2026_ree)
    assert o.capex_musd == pytest.approx(600 * 1000 * 55 / 1e6)
    assert "usgs_mcs2026_ree" in o.source_ids and o.holding_cost_pct_per_yr == 5
    # default sizes: 2 and 6 months (Japan's 60-day and 180-day targets)
    assert {x.option_id for x in stockpile_options(
        ["Dy"], demand_t_per_yr={"Dy": 60.0}, store=store)} == {"stockpile:Dy:2m",
                                                                  "stockpile:Dy:6m"}
    with pytest.raises(InputError, match="no demand given"):
        stockpile_options(["Tb"], demand_t_per_yr={}, store=store)
    with pytest.raises(InputError, match="positive"):
        stockpile_options(["Tb"], demand_t_per_yr={"Tb": float("nan")}, store=store)


def test_recycling_options(store):
    opts = _by_id(recycling_options(["JPN"], store=store))
    assert "recycling:reelement" in opts  # the recycling row of the pipeline
    assert opts["recycling:reelement"].lead_time_years_high == 0.0  # producing: ramping
    g = opts["recycling:generic:JPN"]
    assert g.capacity_t_per_yr == 800 and g.estimate
    assert "argus_2025_china_recycled" in g.source_ids  # scale of scrap-based output
    assert not any(o.option_id.startswith("project:reelement")
                   for o in project_options(store=store))


def test_offtake_is_the_dod_mp_ndpr_floor(store):
    (o,) = offtake_options(store=store)
    assert (o.kind, o.iso3, o.material) == ("offtake", "USA", "NdPr oxide")
    assert o.price_floor_usd_per_kg == 110.0 and o.term_years == 10.0
    assert "defence_industry_eu_2025_07" in o.source_ids
    assert o.capacity_t_per_yr is None and o.capex_musd is None  # effect not modelled yet


def test_options_table_one_row_per_option_with_unit_columns(all_options):
    t = options_table(all_options)
    assert len(t) == len(all_options)
    for col in ("capacity_t_per_yr", "capex_musd", "lead_time_years_median", "p_fail",
                "delay_years_high", "stock_t", "price_floor_usd_per_kg", "source_ids"):
        assert col in t.columns
    assert t["option_id"].is_unique
    assert isinstance(t.loc[0, "source_ids"], str)
    assert options_table([]).columns.tolist() == t.columns.tolist()
    assert pd.api.types.is_float_dtype(t["capacity_t_per_yr"])


# -- user overrides ---------------------------------------------------------------------------


def test_user_override_file_replaces_the_defaults(tmp_path, store):
    text = DEFAULTS_FILE.read_text(encoding="utf-8").replace(
        "  magnet:\n    material: NdFeB\n    unit_capex_usd_per_t_per_yr:\n      value: 140000",
        "  magnet:\n    material: NdFeB\n    unit_capex_usd_per_t_per_yr:\n      value: 150000")
    p = tmp_path / "mine.yaml"
    p.write_text(text, encoding="utf-8")
    d = load_defaults(p, store=store)
    assert d.stages["magnet"].unit_capex_usd_per_t_per_yr.value == 150000
    (o,) = generic_options(["magnet"], ["USA"], store=store, defaults=d)
    assert o.capex_musd == pytest.approx(3000 * 150000 / 1e6)


def _line_of(text: str, needle: str, start: int = 0) -> int:
    lines = text.splitlines()
    return next(i for i in range(start, len(lines)) if needle in lines[i]) + 1


def test_bad_override_gives_file_line_field(tmp_path, store):
    base = DEFAULTS_FILE.read_text(encoding="utf-8")
    # a negative lead time of the mine stage
    text = base.replace("    lead_time_years:\n      low: 6\n",
                        "    lead_time_years:\n      low: -6\n")
    p = tmp_path / "bad.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError) as e:
        load_defaults(p, store=store)
    line = _line_of(text, "low: -6")
    msg = e.value.lines()[0]
    assert msg.startswith(f"{p}:{line}: column 'stages.mine.lead_time_years.low'"), msg
    assert e.value.exit_code == 2
    # a misspelt field gets a did-you-mean
    text = base.replace("  metal:\n    material: metal\n", "  metal:\n    materail: metal\n")
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError) as e:
        load_defaults(p, store=store)
    out = "\n".join(e.value.lines())
    line = _line_of(text, "materail")
    assert f"{p}:{line}: column 'stages.metal.materail': unknown field (did you mean " \
           "'material'?)" in out
    # an estimate without a method
    text = base.replace('method: "assumption, as the study class (no evidence in '
                        'project_events)"', 'method: ""')
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError) as e:
        load_defaults(p, store=store)
    assert "status_classes.announced.delay_years" in e.value.lines()[0]
    assert "needs a 'method'" in e.value.lines()[0]


def test_unreadable_override_is_an_input_error(tmp_path, store):
    def first_line(path: Path) -> str:
        with pytest.raises(ValidationError) as e:
            load_defaults(path, store=store)
        assert e.value.exit_code == 2
        return e.value.lines()[0]

    assert first_line(tmp_path / "missing.yaml") == f"{tmp_path / 'missing.yaml'}: no such file"
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n", encoding="utf-8")
    assert first_line(p).startswith(f"{p}:1: planning defaults are a YAML mapping")
    p.write_text("stages: [\n", encoding="utf-8")
    assert first_line(p).startswith(f"{p}:2: not valid YAML")


def test_an_imported_project_becomes_an_option_and_moves_the_derivation(tmp_path, store):
    """The options and the derivation read the store given, user imports included."""
    cols = list(store.table("projects").columns)
    row = dict.fromkeys(cols, "")
    row.update(project_id="test_mag", name="Test magnets", iso3="DEU", stage="magnet",
               capacity="2000", capacity_unit="t_per_yr NdFeB", status="under construction",
               start_year="2028", capex_musd="100", source_id="prnewswire_vulcan_2025_11_03")
    p = tmp_path / "p.csv"
    p.write_text(",".join(cols) + "\n" + ",".join(row[c] for c in cols) + "\n",
                 encoding="utf-8")
    Store(user=tmp_path / "user").import_file(p, "projects")
    mine = Store(user=tmp_path / "user")
    o = _by_id(project_options(store=mine, year=2026))["project:test_mag"]
    assert (o.capex_musd, o.capacity_t_per_yr, o.lead_time_years_median) == (100.0, 2000.0, 2.0)
    assert o.status_class == "construction" and not o.capex_estimated
    got = derive_unit_capex(store=mine).set_index("stage")
    # magnet: median of vulcan_elements 140,000 and the new 100e6 / 2,000 = 50,000
    assert got.loc["magnet", "n"] == 2
    assert got.loc["magnet", "median"] == pytest.approx((140000 + 50000) / 2)


FUZZ = int(os.environ.get("OREFLOW_FUZZ_EXAMPLES", "200"))
_CLASSES = set(load_defaults().status_classes)


@settings(max_examples=FUZZ, deadline=None)
@given(st.text(max_size=120), st.floats(allow_nan=True, allow_infinity=True))
def test_status_and_unit_mapping_take_any_text(text, number):
    assert status_class(text) in _CLASSES
    cap, why = map_capacity(text, number, None, None, text)
    assert (cap is None) == (why != "")
    if cap is not None:
        assert math.isfinite(cap.value) and cap.value > 0 and cap.stage in STAGES


@settings(max_examples=FUZZ, deadline=None)
@given(st.text(max_size=300))
def test_any_text_as_defaults_is_a_located_input_error(store, text):
    try:
        parse_defaults(text, source="x.yaml", store=store)
    except ValidationError as e:
        assert all(line.startswith("x.yaml") for line in e.lines()[:-1])
