"""Tests of oreflow.chain.metrics on hand-computed toy distributions and hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from oreflow.chain import metrics

# Toy world, 3 countries × 2 materials (t REO/yr):
#   REO: CHN 60, MMR 20, USA 20  → shares 0.6, 0.2, 0.2
#   Dy:  CHN  3, MMR  6, USA  0  → shares 1/3, 2/3, 0
OUTPUT = pd.DataFrame(
    {"CHN": [60.0, 3.0], "MMR": [20.0, 6.0], "USA": [20.0, 0.0]},
    index=pd.Index(["REO", "Dy"], name="material"),
)
GOV = pd.Series({"CHN": 5.6, "MMR": 8.0, "USA": 2.8})


def test_shares_series_frame_array_agree():
    s = metrics.shares(OUTPUT)
    assert s.loc["REO"].tolist() == pytest.approx([0.6, 0.2, 0.2])
    assert s.loc["Dy"].tolist() == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert metrics.shares(OUTPUT.loc["REO"]).tolist() == pytest.approx([0.6, 0.2, 0.2])
    arr = metrics.shares(OUTPUT.to_numpy())
    np.testing.assert_allclose(arr, s.to_numpy())


def test_shares_nan_is_missing_not_zero_and_zero_total_is_nan():
    s = metrics.shares(pd.Series({"A": 30.0, "B": np.nan, "C": 10.0}))
    assert s["A"] == pytest.approx(0.75)
    assert np.isnan(s["B"])
    assert metrics.shares(pd.Series({"A": 0.0, "B": 0.0})).isna().all()
    with pytest.raises(ValueError, match="non-negative"):
        metrics.shares(pd.Series({"A": -1.0}))


def test_hhi_by_hand():
    s = metrics.shares(OUTPUT)
    # REO: 60² + 20² + 20² = 3600 + 400 + 400 = 4400
    # Dy: (100/3)² + (200/3)² = 1111.1 + 4444.4 = 5555.6
    h = metrics.hhi(s)
    assert h["REO"] == pytest.approx(4400.0)
    assert h["Dy"] == pytest.approx(50000 / 9)
    assert metrics.hhi(s.loc["REO"]) == pytest.approx(4400.0)
    assert metrics.hhi(pd.Series({"A": 1.0})) == pytest.approx(10_000.0)
    assert math.isnan(metrics.hhi(pd.Series({"A": np.nan})))
    with pytest.raises(ValueError, match="fractions"):
        metrics.hhi(pd.Series({"A": 60.0, "B": 40.0}))  # percent, not fractions


def test_cr_and_top_producer_by_hand():
    s = metrics.shares(OUTPUT)
    assert metrics.cr(s, 1)["REO"] == pytest.approx(0.6)
    assert metrics.cr(s, 3)["REO"] == pytest.approx(1.0)
    assert metrics.cr(s, 1)["Dy"] == pytest.approx(2 / 3)  # MMR
    assert metrics.cr(s.loc["Dy"], 5) == pytest.approx(1.0)  # fewer producers than n
    top = metrics.top_producer(s)
    assert top.loc["REO", "top_producer"] == "CHN"
    assert top.loc["Dy", "top_producer"] == "MMR"
    assert top.loc["Dy", "top_share"] == pytest.approx(2 / 3)
    assert metrics.top_producer(s.loc["REO"]) == ("CHN", pytest.approx(0.6))
    assert metrics.top_producer(pd.Series({"A": np.nan})) == (
        None,
        pytest.approx(np.nan, nan_ok=True),
    )
    with pytest.raises(ValueError):
        metrics.cr(s, 0)


def test_wgi_weighted_hhi_by_hand():
    s = metrics.shares(OUTPUT)
    # REO: 0.36·5.6 + 0.04·8.0 + 0.04·2.8 = 2.016 + 0.32 + 0.112 = 2.448
    # Dy:  (1/9)·5.6 + (4/9)·8.0 = 0.6222 + 3.5556 = 4.1778
    h = metrics.wgi_weighted_hhi(s, GOV)
    assert h["REO"] == pytest.approx(2.448)
    assert h["Dy"] == pytest.approx(5.6 / 9 + 32 / 9)
    # trade adjustment t=1.2 on CHN: 0.36·5.6·1.2 = 2.4192 → 2.4192 + 0.432 = 2.8512
    t = pd.Series({"CHN": 1.2})
    assert metrics.wgi_weighted_hhi(s.loc["REO"], GOV, trade_adjustment=t) == pytest.approx(2.8512)
    # EU scale: a single producer with the worst score gives 10
    assert metrics.wgi_weighted_hhi(pd.Series({"X": 1.0}), pd.Series({"X": 10.0})) == 10.0


def test_wgi_missing_governance_is_never_zero():
    s = metrics.shares(OUTPUT.loc["REO"])
    gov = GOV.drop("MMR")
    assert math.isnan(metrics.wgi_weighted_hhi(s, gov))  # propagate (default)
    with pytest.raises(ValueError, match="MMR"):
        metrics.wgi_weighted_hhi(s, gov, missing="raise")
    # worst: 0.04·10 replaces 0.04·8 → 2.448 − 0.32 + 0.4 = 2.528
    assert metrics.wgi_weighted_hhi(s, gov, missing="worst") == pytest.approx(2.528)
    # exclude: lower bound 2.448 − 0.32 = 2.128
    assert metrics.wgi_weighted_hhi(s, gov, missing="exclude") == pytest.approx(2.128)
    assert metrics.wgi_weighted_hhi(s, gov, missing=5.0) == pytest.approx(2.128 + 0.2)
    # a country with zero share needs no score
    dy = metrics.shares(OUTPUT.loc["Dy"])
    assert metrics.wgi_weighted_hhi(dy, GOV.drop("USA")) == pytest.approx(5.6 / 9 + 32 / 9)
    with pytest.raises(ValueError, match="0–10"):
        metrics.wgi_weighted_hhi(s, GOV * 10)


def test_supply_risk_by_hand():
    # SR = [2.448·0.5/2 + 2.1·(1 − 0.5/2)]·(1 − 0.1)·0.9
    #    = [0.612 + 1.575]·0.81 = 2.187·0.81 = 1.77147
    assert metrics.supply_risk(2.448, 2.1, 0.5, 0.1, 0.9) == pytest.approx(1.77147)
    # IR = 1 → equal weights on global and sourcing
    assert metrics.supply_risk(4.0, 2.0, 1.0) == pytest.approx(3.0)
    # IR = 0 → sourcing only
    assert metrics.supply_risk(4.0, 2.0, 0.0) == pytest.approx(2.0)
    sr = metrics.supply_risk(pd.Series({"mine": 4.0, "sep": 6.0}), 2.0, 1.0)
    assert sr.to_dict() == pytest.approx({"mine": 3.0, "sep": 4.0})
    assert math.isnan(metrics.supply_risk(np.nan, 2.0, 1.0))
    with pytest.raises(ValueError, match="EU scale"):
        metrics.supply_risk(4400.0, 2.0, 1.0)  # HHI on the 0–10,000 scale is refused


def test_bottleneck():
    assert metrics.bottleneck(pd.Series({"mine": 2.8, "sep": 2.7, "mag": np.nan})) == (
        "mine",
        pytest.approx(2.8),
    )
    label, value = metrics.bottleneck(pd.Series({"a": np.nan}))
    assert label is None and math.isnan(value)


def test_import_reliance_by_hand():
    # (10 − 0)/(10 + 10 − 0) = 0.5
    assert metrics.import_reliance(10.0, 10.0, 0.0) == pytest.approx(0.5)
    # net exporter: (0 − 10)/(20 − 10) = −1 → clipped to 0
    assert metrics.import_reliance(20.0, 0.0, 10.0) == 0.0
    assert metrics.import_reliance(20.0, 0.0, 10.0, clip=False) == pytest.approx(-1.0)
    # no production: (5 − 0)/(0 + 5) = 1
    assert metrics.import_reliance(0.0, 5.0, 0.0) == pytest.approx(1.0)
    # apparent consumption ≤ 0 from stocks: net exporter → 0; nothing at all → NaN
    assert metrics.import_reliance(0.0, 0.0, 5.0) == 0.0
    assert math.isnan(metrics.import_reliance(0.0, 0.0, 0.0))
    ir = metrics.import_reliance(pd.Series({"a": 10.0, "b": 0.0}), 10.0, 0.0)
    assert ir.to_dict() == pytest.approx({"a": 0.5, "b": 1.0})


def test_single_points_of_failure():
    s = metrics.shares(OUTPUT)
    spof = metrics.single_points_of_failure(s, 0.5)
    # REO: CHN 0.6; Dy: MMR 0.667
    assert spof[["material", "country"]].values.tolist() == [["Dy", "MMR"], ["REO", "CHN"]]
    assert metrics.single_points_of_failure(s.loc["REO"], 0.65).empty
    with pytest.raises(ValueError):
        metrics.single_points_of_failure(s, 0.0)


def test_bloc_functions_by_hand():
    assert metrics.bloc_self_sufficiency(10.0, 20.0) == pytest.approx(0.5)
    assert metrics.bloc_self_sufficiency(10.0, 0.0) == math.inf
    assert math.isnan(metrics.bloc_self_sufficiency(0.0, 0.0))
    supply = pd.Series({"CHN": 10.0, "USA": 10.0, "MMR": 0.0})
    assert metrics.largest_outside_supplier_share(supply, {"USA"}) == ("CHN", pytest.approx(0.5))
    assert metrics.largest_outside_supplier_share(supply, {"USA", "CHN"}) == (None, 0.0)
    who, share = metrics.largest_outside_supplier_share(supply * 0, {"USA"})
    assert who is None and math.isnan(share)


def test_crma_benchmarks_by_hand():
    out = pd.Series({"mine": 1.0, "separation": 5.0, "metal": 0.0})
    dem = pd.Series({"mine": 20.0, "separation": 10.0, "metal": 8.0})
    sup = pd.DataFrame(
        {"CHN": [0.5, 0.7, 0.9], "DEU": [0.05, 0.3, 0.0], "AUS": [0.45, 0.0, 0.1]},
        index=["mine", "separation", "metal"],
    )
    t = metrics.crma_benchmarks(out, dem, sup, {"DEU", "FRA"}, recycling_output=6.0)
    got = {(r.benchmark, r.stage): (r.value, r.passes) for r in t.itertuples()}
    # extraction 1/20 = 0.05 < 0.10 fails; processing 5/10 = 0.5 passes; metal 0/8 fails
    assert got[("extraction", "mine")] == (pytest.approx(0.05), False)
    assert got[("processing", "separation")] == (pytest.approx(0.5), True)
    assert got[("processing", "metal")] == (pytest.approx(0.0), False)
    # single third country: 0.5 ok, 0.7 > 0.65 fails, 0.9 fails
    assert got[("single_third_country", "separation")] == (pytest.approx(0.7), False)
    assert got[("single_third_country", "mine")] == (pytest.approx(0.5), True)
    # recycling 6/20 (first extraction stage's demand) = 0.3 ≥ 0.25
    assert got[("recycling", "recycling")] == (pytest.approx(0.3), True)
    assert str(t["passes"].dtype) == "boolean"
    zero = metrics.crma_benchmarks(out, dem.where(dem.index != "separation", 0.0), sup, {"DEU"})
    row = zero[(zero["benchmark"] == "processing") & (zero["stage"] == "separation")].iloc[0]
    assert row["passes"] is pd.NA and "zero" in row["detail"]  # no demand: moot, not a pass
    none = metrics.crma_benchmarks(out, dem, sup, {"DEU"})
    assert none.loc[none["benchmark"] == "recycling", "passes"].isna().all()


# -- properties -------------------------------------------------------------------------------

outputs = arrays(
    np.float64,
    st.integers(1, 30),
    elements=st.floats(0, 1e6, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=200, deadline=None)
@given(outputs)
def test_hhi_bounds(x):
    s = metrics.shares(x)
    producers = int((x > 0).sum())
    h = float(metrics.hhi(s))
    if producers == 0:
        assert math.isnan(h)
        return
    assert np.nansum(s) == pytest.approx(1.0)
    assert 10_000 / producers - 1e-6 <= h <= 10_000 + 1e-6
    c1, c3 = float(metrics.cr(s, 1)), float(metrics.cr(s, 3))
    assert c1 <= c3 + 1e-12 <= 1 + 1e-9
    assert c1 >= 1 / producers - 1e-12


@settings(max_examples=200, deadline=None)
@given(outputs, st.floats(0, 10))
def test_wgi_hhi_bounds(x, g):
    s = metrics.shares(pd.Series(x, index=[f"C{i}" for i in range(len(x))]))
    if s.isna().all():
        return
    gov = pd.Series(g, index=s.index)
    value = metrics.wgi_weighted_hhi(s, gov)
    # uniform governance g: HHI_WGI = g · HHI / 10,000
    assert value == pytest.approx(g * metrics.hhi(s) / 10_000, abs=1e-9)
    assert 0 <= value <= 10 + 1e-9


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 10), st.floats(0, 10), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_supply_risk_between_its_hhi_terms(g, so, ir, eol, si):
    sr = metrics.supply_risk(g, so, ir, eol, si)
    factor = (1 - eol) * si
    assert min(g, so) * factor - 1e-9 <= sr <= max(g, so) * factor + 1e-9


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 1e6), st.floats(0, 1e6), st.floats(0, 1e6))
def test_import_reliance_in_unit_interval(p, i, e):
    ir = metrics.import_reliance(p, i, e)
    assert math.isnan(ir) or 0.0 <= ir <= 1.0
