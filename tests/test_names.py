"""Names people type: countries, blocs and materials resolved to the data's codes
(:mod:`oreflow.chain.lookup`), the did-you-mean of :mod:`oreflow.errors`, and their use in
the chain verbs and in compiled scenarios (targets, regions, the magnet-stage rule)."""

from __future__ import annotations

import numpy as np
import pytest

from oreflow.chain import analysis
from oreflow.chain.lookup import (
    bloc_code,
    bloc_table,
    country_code,
    data_material,
    material_code,
    region_code,
)
from oreflow.data.store import Store
from oreflow.errors import InputError, did_you_mean
from oreflow.simulate.baseline import toy_baseline
from oreflow.simulate.compile import (
    MAGNET_ELEMENTS,
    RESTRICTION_NOTES,
    compile_plan,
    resolve_regions,
)
from oreflow.simulate.run import cached_baseline
from oreflow.simulate.scenario import GROUPS, MATERIALS, Scenario, ScenarioError

# -- countries ----------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["Japan", "japan", "JAPAN", "JPN", "jpn", "JP", "jp"])
def test_japan_every_way(typed: str) -> None:
    assert country_code(typed) == "JPN"


@pytest.mark.parametrize(("typed", "code"), [
    ("South Korea", "KOR"), ("Russia", "RUS"), ("Vietnam", "VNM"), ("Viet Nam", "VNM"),
    ("United States", "USA"), ("US", "USA"), ("UK", "GBR"), ("Burma", "MMR"),
    ("Iran", "IRN"), ("Congo", "COG"), ("DRC", "COD"), ("Cote d'Ivoire", "CIV"),
    ("the Netherlands", "NLD"), ("Türkiye", "TUR"), ("Turkey", "TUR"),
])
def test_countries_by_common_names(typed: str, code: str) -> None:
    assert country_code(typed) == code


def test_residual_codes_stay_valid() -> None:
    assert [country_code(c) for c in ("OTH", "ROW", "XEU", "row")] == ["OTH", "ROW", "XEU",
                                                                        "ROW"]
    assert country_code("rest of world") == "ROW"
    # codes of the data's countries table that ISO does not have, when the caller allows them
    assert country_code("wld", extra=["WLD"]) == "WLD"
    with pytest.raises(InputError):
        country_code("WLD")


def test_country_misspelling_suggests_code_and_name() -> None:
    with pytest.raises(InputError, match=r"unknown country 'Japn' \(did you mean 'JPN' "
                                         r"\(Japan\)\?\)"):
        country_code("Japn")
    with pytest.raises(InputError, match=r"did you mean 'DEU' \(Germany\)"):
        country_code("Germny")
    with pytest.raises(InputError, match=r"ambiguous: KOR .* or PRK"):
        country_code("Korea")


def test_did_you_mean_does_not_offer_a_code_a_long_word_contains() -> None:
    # before: "Japan" → "did you mean 'PAN'?" (Panama), from the letters p-a-n alone
    assert did_you_mean("Japan", ["JPN", "PAN", "CHN"]) == ""
    assert did_you_mean("Japan", ["JPN", "PAN"], {"JPN": ["Japan"], "PAN": ["Panama"]}) == (
        " (did you mean 'JPN' (Japan)?)")
    # near misses of short codes are still found
    assert did_you_mean("Dyy", ["Dy", "Tb"]) == " (did you mean 'Dy'?)"
    assert did_you_mean("MPS", ["MSP", "G7"]) == " (did you mean 'MSP'?)"
    # long words need a close spelling, not a few shared letters
    assert did_you_mean("Deutschland", ["NLD"], {"NLD": ["Netherlands"]}) == ""


# -- blocs --------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["EU", "eu", "European Union", "european union", "EU27",
                                   "eu27", "EU-27", "EUU"])
def test_eu_every_way(typed: str, store: Store) -> None:
    assert bloc_code(typed, bloc_table(store)) == "EU27"


def test_blocs_by_name(store: Store) -> None:
    table = bloc_table(store)
    assert bloc_code("Minerals Security Partnership", table) == "MSP"
    assert bloc_code("quad", table) == "QUAD"
    assert bloc_code("g-7", table) == "G7"
    assert bloc_code("Japan", table) is None
    assert region_code("Japan", table) == "JPN"
    assert region_code("eu", table) == "EU27"
    with pytest.raises(InputError, match=r"unknown bloc or country 'MPS' \(did you mean "
                                         r"'MSP' \(Minerals Security Partnership\)\?\)"):
        region_code("MPS", table)


# -- materials ----------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["Dysprosium", "dysprosium", "dy", "DY", "Dy"])
def test_dysprosium_every_way(typed: str, store: Store) -> None:
    assert data_material(typed, store=store) == "Dy"
    assert material_code(typed, (*MATERIALS, *GROUPS)) == "Dy"


@pytest.mark.parametrize(("typed", "code"), [
    ("neodymium", "Nd"), ("rare earth oxide", "REO"), ("Rare-earth oxides", "REO"),
    ("TREO", "REO"), ("gallium", "Ga"), ("GA", "Ga"), ("germanium", "Ge"),
    ("ndfeb", "NdFeB"), ("neodymium magnets", "NdFeB"), ("Samarium-cobalt", "SmCo"),
    ("natural graphite", "graphite"), ("bonded NdFeB", "NdFeB_bonded"),
    ("tungsten", "W"), ("didymium", "NdPr"),
])
def test_data_materials_by_name(typed: str, code: str, store: Store) -> None:
    assert data_material(typed, store=store) == code


def test_scenario_vocabulary() -> None:
    known = (*MATERIALS, *GROUPS)
    # no REO in a scenario: the oxide aliases stand for the group of all rare earths
    assert material_code("rare earth oxide", known) == "REE"
    assert material_code("magnets", known) == "magnets"
    assert material_code("samarium", known) == "Sm"
    with pytest.raises(InputError, match=r"did you mean 'Dy' \(dysprosium\)"):
        material_code("Dysprosim", known)


# -- the chain verbs ----------------------------------------------------------------------


def test_trace_by_names_is_trace_by_codes(store: Store) -> None:
    by_code = analysis.trace("Dy", "JPN", year=2024, store=store)
    by_name = analysis.trace("Dysprosium", "Japan", year=2024, controllers=["China"],
                             store=store)
    assert by_name.meta["country"] == "JPN"
    assert by_name.tables["control"]["controller"].tolist() == ["CHN"]
    np.testing.assert_allclose(by_name.tables["control"].drop(columns="controller"),
                               by_code.tables["control"].drop(columns="controller"))
    with pytest.raises(InputError, match=r"did you mean 'JPN' \(Japan\)"):
        analysis.trace("Dy", "Japn", year=2024, store=store)


def test_blocs_risk_concentration_overview_by_names(store: Store) -> None:
    eu = analysis.bloc_balance("EU27", year=2024, store=store)
    for typed in ("EU", "European Union"):
        ans = analysis.bloc_balance(typed, year=2024, without="China", store=store)
        assert ans.meta["members"] == eu.meta["members"]
        assert set(ans.tables["balance"]["case"]) == {"all", "ex_CHN"}
    risk = analysis.supply_risk(year=2024, bloc="eu", store=store).tables["risk"]
    np.testing.assert_allclose(
        risk["supply_risk"],
        analysis.supply_risk(year=2024, bloc="EU27", store=store).tables["risk"]["supply_risk"])
    conc = analysis.concentration("dysprosium", 2024, stage="mine", store=store)
    assert conc.tables["concentration"]["top_producer"].tolist() == ["MMR"]
    assert analysis.concentration("gallium", store=store).tables["concentration"][
        "top_producer"].iloc[0] == "CHN"
    ov = analysis.overview(2024, elements=("dysprosium", "TB"), controller="China",
                           store=store)
    assert ov.tables["controller"]["material"].tolist() == ["REO", "Dy", "Tb"]


# -- scenarios ----------------------------------------------------------------------------


def _scenario(**restriction: object) -> Scenario:
    shock = {"kind": "export_restriction", "id": "r", "materials": ["Dy"],
             "effective": "2025-03", "approval_rate": 0.5, **restriction}
    return Scenario.model_validate({"name": "t", "start": "2025-01", "horizon_months": 12,
                                    "shocks": [shock]})


def test_targets_by_name(store: Store) -> None:
    eu = resolve_regions(_scenario(targets=["EU27"]), store=store)
    assert len(eu.targets) == 28  # 27 members and the residual XEU
    for typed in ("EU", "eu", "European Union"):
        assert resolve_regions(_scenario(targets=[typed]), store=store) == eu
    for typed in ("Japan", "japan", "JP", "JPN"):
        assert resolve_regions(_scenario(targets=[typed]), store=store).targets == ("JPN",)
    got = resolve_regions(_scenario(targets=["Japan", "South Korea", "quad"]), store=store)
    assert got.targets[:2] == ("JPN", "KOR") and {"USA", "AUS", "IND"} <= set(got.targets)
    with pytest.raises(ScenarioError, match=r"did you mean 'JPN' \(Japan\)"):
        resolve_regions(_scenario(targets=["Japn"]), store=store)


def test_regions_and_outage_countries_by_name() -> None:
    b = toy_baseline()
    sc = Scenario.model_validate({"name": "t", "start": "2025-01", "horizon_months": 6,
                                  "shocks": [
        {"kind": "tariff", "region": "Japan", "materials": ["Dy"], "rate": 0.25,
         "start": "2025-02"},
        {"kind": "production_outage", "country": "China", "stage": "separation",
         "materials": ["Dy"], "share": 0.5, "start": "2025-02"}]})
    plan = compile_plan(sc, b)
    assert plan.log_wedge[-1, b.index("Dy"), 2] == pytest.approx(np.log1p(0.25))  # targets
    assert plan.outages[0].weight[b.index("Dy")].sum() > 0


def test_magnet_stage_covers_the_magnets_containing_the_elements() -> None:
    # the trap: Dy restricted at stages [separation, magnet] with no magnet listed used to
    # leave NdFeB (which contains Dy) uncontrolled, silently
    b = toy_baseline()
    plan = compile_plan(_scenario(stages=["separation", "magnet"], targets=["JPN"]), b)
    (r,) = plan.restrictions
    assert r.mats.tolist() == [False, True, True]  # Nd, Dy, NdFeB
    (note,) = plan.notes[RESTRICTION_NOTES]
    assert "also controls NdFeB (it contains Dy)" in note
    # without the magnet stage nothing is added and nothing said
    plan = compile_plan(_scenario(stages=["separation"], targets=["JPN"]), b)
    assert plan.restrictions[0].mats.tolist() == [False, True, False]
    assert RESTRICTION_NOTES not in plan.notes


def test_magnet_stage_explicit_list_is_kept_and_said() -> None:
    b = toy_baseline()
    plan = compile_plan(_scenario(materials=["Dy", "SmCo"], stages=["separation", "magnet"],
                                  targets=["JPN"]), b)
    assert plan.restrictions[0].mats.tolist() == [False, True, False]
    (note,) = plan.notes[RESTRICTION_NOTES]
    assert "NdFeB contains Dy but is not among its materials, which name SmCo" in note


def test_magnet_stage_with_the_magnet_not_simulated_is_said() -> None:
    b = toy_baseline().subset(["Nd", "Dy"])
    plan = compile_plan(_scenario(stages=["separation", "magnet"], targets=["JPN"]), b)
    assert plan.restrictions[0].mats.tolist() == [False, True]
    (note,) = plan.notes[RESTRICTION_NOTES]
    assert "NdFeB contains Dy but is not simulated" in note


def test_builtin_restrictions_listing_their_magnets_are_unchanged(store: Store) -> None:
    sc = Scenario.builtin("china-2025-04")
    b = cached_baseline(sc.baseline_year, sc.material_list(), resolve_regions(sc, store=store),
                        store=store)
    plan = compile_plan(sc, b)
    for shock, r in zip(sc.restrictions(), plan.restrictions, strict=True):
        assert r.mats.tolist() == [m in shock.controlled_materials() for m in b.materials]
    assert RESTRICTION_NOTES not in plan.notes
    # the magnets' elements named for magnets outside a run are those of the data's recipes
    for magnet, elements in MAGNET_ELEMENTS.items():
        j = b.index(magnet)
        inside = {e for i, e in enumerate(b.materials) if b.recipe[i, j] > 0}
        assert inside == elements, magnet


def test_answers_carry_the_resolved_material(store: Store) -> None:
    # the CLI titles its tables from meta["material"], not from what the user typed
    assert analysis.concentration("dysprosium", 2024, store=store).meta["material"] == "Dy"
    assert analysis.concentration("gallium", store=store).meta["material"] == "Ga"
    assert analysis.trace("neodymium", "Japan", year=2024, store=store).meta["material"] == "Nd"
