"""The data baselines of the engine: balanced, tied to the chain, sourced, dated.

Covers :func:`oreflow.simulate.baseline_data.build_baseline` for the rare-earth years on the
balanced chain (2024, 2025), the 2009 backtest market and the gallium, germanium and antimony
markets (2022-2025). Baselines and chains are cached per key, so the module runs in a few
seconds.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest

from oreflow.chain import SupplyChain, oxide_factor
from oreflow.chain.checks import ELEMENT_TOLERANCE
from oreflow.data.store import Store
from oreflow.simulate.baseline import Baseline, Regions, check_baseline
from oreflow.simulate.baseline_data import build_baseline
from oreflow.simulate.baseline_minerals import net_segment_trade
from oreflow.simulate.compile import bloc_members
from oreflow.simulate.scenario import ELEMENTS

BACKTEST_2009 = ("La", "Ce", "Pr", "Nd", "Sm", "Dy", "NdFeB")


@functools.cache
def _store() -> Store:
    return Store.default()


@functools.cache
def _eu27() -> tuple[str, ...]:
    return bloc_members(_store())["EU27"]


@functools.cache
def baseline(year: int, materials: tuple[str, ...] | None = None,
             targets: tuple[str, ...] = ()) -> Baseline:
    return build_baseline(year, materials, Regions("CHN", targets), store=_store())


@functools.cache
def chain(year: int) -> SupplyChain:
    return SupplyChain.from_default_data(year=year, store=_store())


@functools.cache
def element_chain(year: int, element: str) -> SupplyChain:
    return chain(year).for_element(element)


def _seg(countries, targets=()) -> np.ndarray:
    return np.array([0 if c == "CHN" else 2 if c in targets else 1 for c in countries])


def _by_seg(values, seg) -> np.ndarray:
    return np.bincount(seg, weights=np.asarray(values, dtype=float), minlength=3)


def _supply_balancing(b: Baseline, material: str) -> np.ndarray:
    """Supply added by the segment balance, read back from the material's notes [t]."""
    out = np.zeros(3)
    for note in b.notes[material]:
        for s, v in re.findall(r"segment (\d): \+([\d,\.]+) t supply", note):
            out[int(s)] += float(v.replace(",", ""))
    return out


CASES = [
    (2024, None, ()),
    (2025, None, ()),
    (2024, None, ("USA",)),
    (2024, None, ("JPN", "USA")),
    (2024, None, "EU27"),
    (2025, None, "EU27"),
    (2022, None, ()),
    (2022, ("Ga", "Ge"), ("USA",)),
    (2023, None, ()),
    (2025, ("Ga", "Ge", "Sb"), ("USA",)),
    (2009, BACKTEST_2009, ()),
    (2009, BACKTEST_2009, ("JPN",)),
]


def _case(year, materials, targets) -> Baseline:
    t = _eu27() if targets == "EU27" else targets
    return baseline(year, materials, t)


@pytest.mark.parametrize(("year", "materials", "targets"), CASES)
def test_every_baseline_passes_the_checks(year, materials, targets):
    b = _case(year, materials, targets)
    check_baseline(b)
    assert b.trade is not None and b.price_by_region is not None
    assert np.allclose(b.trade[:, 0, :], b.imports_from_controller)
    # every segment closes: production + imports - exports = consumption
    net = b.trade.sum(axis=1) - b.trade.sum(axis=2)
    assert np.allclose(b.production + net, b.consumption(), atol=1e-6)
    # minerals only use other_uses; products only the product sectors
    k_other = b.sectors.index("other_uses")
    for m in b.materials:
        i = b.index(m)
        if m in ("Ga", "Ge", "Sb"):
            others = np.delete(b.demand[i], k_other, axis=1)
            assert np.all(others == 0)
        if m in ("NdFeB", "SmCo"):
            assert np.all(b.demand[i, :, :2] == 0)
    # every material carries notes and its dates line
    for m in b.materials:
        assert b.notes.get(m), m


def test_default_materials_follow_the_data():
    assert baseline(2022).materials == ("Ga", "Ge")
    assert baseline(2023).materials == ("Ga", "Ge", "Sb")
    b = baseline(2024)
    assert b.materials[-2:] == ("NdFeB", "SmCo")
    assert {"Ga", "Ge", "Sb"} <= set(b.materials)
    with pytest.raises(ValueError, match="no rare-earth baseline for 2022"):
        build_baseline(2022, ["Nd"], store=_store())
    with pytest.raises(ValueError, match="lack China's output or exports for 2009"):
        build_baseline(2009, ["Ga"], store=_store())


@pytest.mark.parametrize("year", [2024, 2025])
@pytest.mark.parametrize("element", ["Nd", "Pr", "Dy", "Tb"])
def test_element_production_is_the_chains_primary_separation(year, element):
    b = baseline(year)
    ce = element_chain(year, element)
    countries = [str(c) for c in ce.countries]
    seg = _seg(countries)
    sep = ce.output.loc["separation"].reindex(countries).fillna(0.0)
    rec = ce.secondary.loc["separation"].reindex(countries).fillna(0.0)
    primary = _by_seg(sep - rec, seg)
    i = b.index(element)
    assert b.production[i] == pytest.approx(primary + _supply_balancing(b, element), abs=0.5)
    # the balancing item stays within the chain's element tolerance
    assert _supply_balancing(b, element).sum() <= ELEMENT_TOLERANCE * b.production[i].sum()


@pytest.mark.parametrize("year", [2024, 2025])
def test_reo_total_matches_the_chain(year):
    """Elements add up to the REO chain's separated output by segment (recycled feed and the
    balancing items accounted for; the rest is rounding of the ore mixes)."""
    b = baseline(year)
    ch = chain(year)
    countries = [str(c) for c in ch.countries]
    seg = _seg(countries)
    reo = _by_seg(ch.output.loc["separation"].reindex(countries).fillna(0.0), seg)
    total = np.zeros(3)
    for e in ELEMENTS:
        total += b.production[b.index(e)] - _supply_balancing(b, e)
        if e in ("Nd", "Pr", "Dy", "Tb"):  # the elements with recycled feed rows
            sec = element_chain(year, e).secondary.loc["separation"]
            total += _by_seg(sec.reindex(countries).fillna(0.0), seg)
    # the element chains read China's reported NdPr, Dy and Tb output: the sum differs from
    # the REO chain by the gap the baseline's notes report (-0.07% in 2024, -1.2% in 2025)
    assert total == pytest.approx(reo, rel=0.02)
    gap = 100 * (total.sum() / reo.sum() - 1)
    note = next(n for n in b.notes["Nd"] if n.startswith(f"chain check {year}"))
    assert f"{gap:+.2f}%" in note


@pytest.mark.parametrize("year", [2024, 2025])
@pytest.mark.parametrize("targets", [(), ("USA",), "EU27"])
def test_magnets_are_the_chains_magnet_stage(year, targets):
    t = _eu27() if targets == "EU27" else targets
    b = baseline(year, None, t)
    ch = chain(year)
    countries = [str(c) for c in ch.countries]
    seg = _seg(countries, set(t) | ({"XEU"} if targets == "EU27" else set()))
    made = _by_seg(ch.output.loc["magnet"].reindex(countries).fillna(0.0), seg)
    used = _by_seg(ch.final_use.loc["magnet"].reindex(countries).fillna(0.0), seg)
    j = b.index("NdFeB")
    # China's process scrap is the only difference between magnets made and sold
    scrap = made.sum() - used.sum()
    assert 0.25 <= scrap / made[0] <= 0.30
    assert b.production[j] == pytest.approx(made - np.array([scrap, 0.0, 0.0]), abs=1e-6)
    assert b.consumption()[j] == pytest.approx(used, abs=1e-6)


def test_magnet_makers_demand_is_recipe_times_magnets():
    for b in (baseline(2024), baseline(2025), baseline(2009, BACKTEST_2009),
              baseline(2024, None, ("USA",))):
        k = b.sectors.index("magnet_makers")
        assert np.allclose(b.demand[:, :, k], b.recipe @ b.production)
    b = baseline(2024)
    rec = chain(2024).meta["recipe"]
    j = b.index("NdFeB")
    for e in ("Nd", "Pr", "Dy", "Tb"):
        assert b.recipe[b.index(e), j] == pytest.approx(rec[e] * oxide_factor(e))
    # Nd in magnets made in China = recipe x finished magnets
    assert b.demand[b.index("Nd"), 0, k] == pytest.approx(
        rec["Nd"] * oxide_factor("Nd") * b.production[j, 0])


def test_gallium_germanium_2022_are_the_sourced_figures():
    b = baseline(2022)
    ga, ge = b.index("Ga"), b.index("Ge")
    assert b.trade[ga, 0, 1] == pytest.approx(94.0)  # China's exports (reuters factbox)
    assert b.trade[ge, 0, 1] == pytest.approx(43.7)
    assert b.production[ga, 0] == pytest.approx(606.0)  # askci, 2022
    assert b.production[ga, 1] == 0.0  # no 2022 output outside China in the data
    assert b.consumption()[ga] == pytest.approx([606.0 - 94.0, 94.0, 0.0])
    assert b.production[ge, 0] == pytest.approx(104.2)  # latest at or before 2022 (2017)
    assert b.production[ge, 1] == pytest.approx(104.2 * 0.4 / 0.6)  # China's 2022 share 60%
    assert any("stale" in n for n in b.notes["Ge"])
    assert any("estimate: no output by country outside China" in n for n in b.notes["Ge"])
    # prices: China domestic June 2022 (no FOB), US import unit value outside China
    assert b.price[ga] == pytest.approx(510.0)
    assert b.price_by_region[ga] == pytest.approx([510.0, 394.0, 394.0])
    assert b.price[ge] == pytest.approx(1294.0)  # Europe 2022 annual, flagged fallback
    assert any("fallback" in n for n in b.notes["Ge"])


def test_antimony_2024_is_the_importers_view():
    b = baseline(2024)
    sb = b.index("Sb")
    assert b.production[sb, 0] == pytest.approx(40000.0)  # MCS2026 mine output
    assert b.production[sb].sum() == pytest.approx(118990.0)  # country rows (world 119,000)
    assert b.trade[sb, 0, 1] == pytest.approx(28600.0 * 0.86 * 0.55)
    assert any(n.startswith("gap: China's exports are not in the data") for n in b.notes["Sb"])


def _dates(b: Baseline, material: str) -> dict[str, str]:
    line = next(n for n in b.notes[material] if n.startswith("dates: "))
    return dict(item.split("=", 1) for item in line[len("dates: "):].split(" | "))


@pytest.mark.parametrize(("year", "materials", "targets"),
                         [c for c in CASES if c[0] != 2009])
def test_no_base_value_after_the_baseline_year(year, materials, targets):
    b = _case(year, materials, targets)
    for m in b.materials:
        if m in ("Sc", "Pm"):
            continue  # no volume
        dates = _dates(b, m)
        assert "price" in dates, m
        for key, period in dates.items():
            years = [int(y) for y in re.findall(r"\d{4}", period.split(" [")[0])]
            assert years and max(years) <= year, (m, key, period)


def test_2009_prices_are_2009_and_exceptions_are_flagged():
    b = baseline(2009, BACKTEST_2009)
    for m in b.materials:
        dates = _dates(b, m)
        assert int(dates["price"][:4]) == 2009, m
        for key, period in dates.items():
            if int(period[:4]) > 2009:
                assert "after the base year" in period, (m, key, period)
    assert b.price[b.index("Dy")] == pytest.approx(115.67)  # 2009 annual average FOB
    assert b.price[b.index("Nd")] == pytest.approx(19.12)
    assert all("fallback: no 2009 China-domestic" in " ".join(b.notes[m]) for m in b.materials)


def test_2009_exports_and_the_japan_target():
    b = build_baseline(2009, None, Regions(), store=_store())
    els = [b.index(e) for e in b.materials if e in ELEMENTS]
    exports = b.trade[els, 0, :].sum()
    # Jan-Nov 2010 exports 35,000 t at +14.5% y/y (quotas: windpowermonthly_2010_12)
    assert exports == pytest.approx(35000.0 / 1.145 * 12 / 11, rel=1e-6)
    j = baseline(2009, BACKTEST_2009, ("JPN",))
    els = [j.index(e) for e in j.materials if e in ELEMENTS]
    # Japan's 2009 imports from China (importer-reported), all elements of the baseline:
    # the subset keeps the recipe elements, and the seven backtest materials cover most
    assert j.trade[els, 0, 2].sum() <= 15644.0 + 1e-6
    full = build_baseline(2009, None, Regions("CHN", ("JPN",)), store=_store())
    fels = [full.index(e) for e in full.materials if e in ELEMENTS]
    assert full.trade[fels, 0, 2].sum() == pytest.approx(15644.0)
    assert full.production[full.index("NdFeB"), 2] == pytest.approx(98200.0 * 0.193)


def test_named_targets_split_volumes():
    world = baseline(2024)
    usa = baseline(2024, None, ("USA",))
    eu = baseline(2024, None, _eu27())
    for b in (usa, eu):  # world totals do not depend on the segments
        assert b.production.sum(axis=1) == pytest.approx(world.production.sum(axis=1))
        assert b.consumption().sum(axis=1) == pytest.approx(world.consumption().sum(axis=1))
    j = usa.index("NdFeB")
    assert usa.consumption()[j, 2] == pytest.approx(8458.0)  # US use (consumption table)
    assert usa.production[j, 2] == pytest.approx(500.0)
    assert usa.trade[j, 0, 2] == pytest.approx(8458.0 - 500.0)
    assert eu.consumption()[eu.index("NdFeB"), 2] == pytest.approx(20000.0)  # EU use
    assert "XEU" in eu.members[2]
    # China reported no Ga or Ge exports to the US in 2024
    assert usa.trade[usa.index("Ge"), 0, 2] == 0.0
    assert usa.trade[usa.index("Ga"), 0, 2] == 0.0
    # antimony: the US imports from China and from the rest
    sb = usa.index("Sb")
    assert usa.consumption()[sb, 2] == pytest.approx(28600.0 * 0.86)
    assert usa.trade[sb, 1, 2] > 0
    # gallium 2022 with the US as target: capped by US imports, flagged
    g22 = baseline(2022, ("Ga", "Ge"), ("USA",))
    assert 0 < g22.trade[g22.index("Ga"), 0, 2] <= 11.4 + 1e-9
    assert any("upper bound" in n for n in g22.notes["Ga"])


def test_net_segment_trade_keeps_net_positions():
    rng = np.random.default_rng(3)
    g = rng.uniform(0, 10, size=(50, 3, 3))
    t = net_segment_trade(g)
    idx = np.arange(3)
    g[:, idx, idx] = 0.0
    assert np.allclose(t.sum(axis=1) - t.sum(axis=2), g.sum(axis=1) - g.sum(axis=2))
    assert np.all(t >= -1e-12)
    importers = t[:, 0, 1:] > 1e-12
    exports_of = np.stack([t[:, 1, :].sum(axis=1), t[:, 2, :].sum(axis=1)], axis=1)
    assert np.all(exports_of[importers] <= 1e-9)


def test_prices_and_fallbacks_are_flagged():
    b = baseline(2024)
    assert b.price[b.index("Dy")] == pytest.approx(257.0)  # USGS MCS2026 China FOB 2024
    assert b.price[b.index("Nd")] == pytest.approx(56.0)
    assert b.price[b.index("NdFeB")] == pytest.approx(2.86e9 / 58152e3)  # export unit value
    assert any("placeholder" in n for n in b.notes["Tm"])
    assert any("no supply data" in n for n in b.notes["Pm"])
    assert np.all(b.production[b.index("Pm")] == 0)
    b25 = baseline(2025)
    assert any("fallback: no 2025 China FOB price" in n for n in b25.notes["Dy"])
    # Myanmar's mines feed Chinese heavy-RE separation
    assert b.origin[("MMR", "mine")][b.index("Dy"), 0] > 0.2
