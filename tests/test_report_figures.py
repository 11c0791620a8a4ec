"""Figures of oreflow.report.figures: each built from a real small result, holding the
result's numbers; write_figure to HTML always, to PNG/SVG when Chromium is installed."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from oreflow.answer import Answer
from oreflow.errors import InputError, OreflowError
from oreflow.report.export import chromium_path, write_figure
from oreflow.report.figures import (
    FIGURES,
    affected_materials,
    fan_chart,
    frontier_figure,
    ranking_figure,
    shortfall_figure,
    stage_share_bars,
    stage_share_map,
    stockout_figure,
    timeline_figure,
    trace_flows,
    trace_sankey,
)
from oreflow.report.figures.stress import shock_dates
from oreflow.simulate import Result, Scenario, simulate

needs_chromium = pytest.mark.skipif(chromium_path() is None,
                                    reason="static export needs the Chromium browser "
                                           "(kaleido drives it); none installed")


@pytest.fixture(scope="module")
def result() -> Result:
    """One small run of the main built-in scenario, shared by the module."""
    return simulate(Scenario.builtin("china-2025-04"), draws=16, seed=3)


def _sources(fig: go.Figure) -> list[str]:
    meta = fig.layout.meta
    assert isinstance(meta, dict) and meta["sources"], "a figure must name its sources"
    return list(meta["sources"])


def test_fan_chart_p50_is_the_results_p50_path(result: Result) -> None:
    fig = fan_chart(result, "Dy")
    q = result.quantiles("price")
    rest = q[(q["material"] == "Dy") & (q["region"] == "rest")].sort_values("month")
    (p50,) = [t for t in fig.data if t.name == "rest P50"]
    np.testing.assert_allclose(np.asarray(p50.y, dtype=float), rest["p50"].to_numpy())
    (band,) = [t for t in fig.data if t.name == "rest P10-P90"]
    np.testing.assert_allclose(np.asarray(band.y, dtype=float), rest["p10"].to_numpy())
    assert "USD/kg" in fig.layout.title.text and fig.layout.autosize
    assert "cn_2025_no18" in _sources(fig)
    # the restriction's effective date (2025-04-04) is marked
    assert any(s.type == "line" for s in fig.layout.shapes)
    assert any("no18-2025" in str(a.text) for a in fig.layout.annotations)


def test_shock_dates_merge_events_of_one_month() -> None:
    dates = shock_dates(Scenario.builtin("china-2025-04"))
    months = [(d.year, d.month) for d, _ in dates]
    assert len(months) == len(set(months)) and dates[0][0].isoformat() == "2025-04-04"


def test_fan_chart_rejects_an_unknown_material(result: Result) -> None:
    with pytest.raises(InputError, match="unknown material 'Qq'"):
        fan_chart(result, "Qq")


def test_shortfall_bars_hold_the_sector_p50(result: Result) -> None:
    fig = shortfall_figure(result)
    ss = result.sector_shortfall()
    ss = ss[ss["shortfall_t_p90"] > 0]
    shown = sum(len(t.y) for t in fig.data)
    assert shown == len(ss)
    got = sorted(float(v) for t in fig.data for v in t.y)
    np.testing.assert_allclose(got, sorted(ss["shortfall_t_p50"]))
    assert "[t]" in fig.layout.title.text


def test_affected_materials_are_those_stress_shows(result: Result) -> None:
    mats = affected_materials(result)
    assert "Dy" in mats and "Tb" in mats and "Ce" not in mats


@pytest.fixture(scope="module")
def concentration() -> Answer:
    from oreflow.chain.analysis import concentration as run

    return run("REO", 2024)


def test_stage_share_map_values_are_the_shares(concentration: Answer) -> None:
    fig = stage_share_map(concentration, "mine")
    (geo,) = fig.data
    shares = concentration.tables["shares"].loc["mine"]
    for loc, z in zip(geo.locations, geo.z, strict=True):
        assert z == pytest.approx(100 * shares[loc])
    assert "CHN" in geo.locations and "OTH" not in geo.locations
    assert _sources(fig) == ["usgs_mcs2026_ree"]
    with pytest.raises(InputError, match="unknown stage"):
        stage_share_map(concentration, "smelting")


def test_stage_share_bars_sum_to_100_per_stage(concentration: Answer) -> None:
    fig = stage_share_bars(concentration)
    totals = np.sum([np.asarray(t.y, dtype=float) for t in fig.data], axis=0)
    np.testing.assert_allclose(totals, 100.0, atol=1e-6)
    chn = next(t for t in fig.data if t.name == "CHN")
    assert chn.y[0] == pytest.approx(100 * concentration.tables["shares"].loc["mine", "CHN"])


def test_sankey_links_carry_the_traced_tonnes_back_to_the_origin_shares() -> None:
    from oreflow.chain.analysis import trace

    ans = trace("REO", "JPN", year=2024)
    flows = trace_flows(ans)
    tonnes = ans.meta["tonnes"]
    by_stage = flows.groupby("source_stage")["value"].sum()
    np.testing.assert_allclose(by_stage.to_numpy(), tonnes, rtol=1e-9)  # mass kept
    mine = flows[flows["source_stage"] == "mine"].groupby("source")["value"].sum() / tonnes
    origin = ans.tables["origin"].set_index("mined_in")["share"]
    for country, share in mine.drop("other", errors="ignore").items():
        assert share == pytest.approx(origin[country], rel=1e-9)
    fig = trace_sankey(ans)
    (sankey,) = fig.data
    assert sum(sankey.link.value) == pytest.approx(tonnes * len(by_stage))
    assert "t product/yr" in fig.layout.title.text and _sources(fig)


def test_stockout_figure_from_an_impact(result: Result) -> None:
    from oreflow.exposure import Bom, impact

    ans = impact(Bom.example("drone"), result, seed=3)
    fig = stockout_figure(ans)
    (prod, *_) = fig.data
    p50 = float(ans.tables["summary"]["months_to_stockout_p50"].iloc[0])
    if np.isfinite(p50):
        assert prod.x[0] == pytest.approx(p50)
    else:  # never out of stock within the horizon: drawn at the axis end, said so
        assert prod.text[0] == "beyond horizon" and np.isfinite(prod.x[0])
    inputs = ans.tables["inputs"]
    alone = next(t for t in fig.data if t.name == "input")
    assert len(alone.y) == len(inputs)
    assert "[months]" in fig.layout.title.text
    with pytest.raises(InputError):
        stockout_figure(Answer({"inputs": pd.DataFrame()}))


def _plan() -> object:
    from oreflow.plan.result import Choice, PlanResult

    choices = (
        Choice("sep-a", "project", "Separation A", "separation", "USA", "REO", 2026, 2028.0,
               2029.0, 1, 5000.0, 5000.0, 0.0, 300.0, 0.1, False, ("src_a",)),
        Choice("mag-b", "generic", "Magnets B", "magnet", "JPN", "NdFeB", 2025, 2027.5,
               2028.5, 2, 3000.0, 3000.0, 0.0, 120.0, 0.05, True, ()),
    )
    balance = pd.DataFrame({"year": [2026, 2030], "stage": ["magnet", "magnet"]})
    return PlanResult("MSP", ("USA", "JPN"), "CHN", ("magnet:self>=0.4@2030",), "cost",
                      "optimal", 0.0, 0.1, choices, balance, pd.DataFrame(),
                      source_ids=("plan_src",))


def test_timeline_bars_start_at_the_choices_years() -> None:
    plan = _plan()
    fig = timeline_figure(plan)  # type: ignore[arg-type]
    building, ramping, _full = fig.data
    assert list(building.base) == [2026, 2025]
    assert list(building.x) == pytest.approx([2.0, 2.5])
    assert list(ramping.base) == pytest.approx([2028.0, 2027.5])
    assert set(_sources(fig)) == {"plan_src", "src_a"}


def test_frontier_marks_unreachable_years() -> None:
    from oreflow.plan.formulate import Frontier

    tab = pd.DataFrame({"year": [2029, 2030, 2031], "feasible": [False, True, True],
                        "capex_musd": [None, 900.0, 600.0], "reachable": [0.3, 0.4, 0.4]})
    fig = frontier_figure(Frontier("magnet:self>=0.4@2029", tab, (_plan(),)))  # type: ignore[arg-type]
    least, bad = fig.data
    assert list(least.x) == [2030, 2031] and list(least.y) == [900.0, 600.0]
    assert list(bad.x) == [2029] and "30%" in bad.text[0]
    assert "[M USD]" in fig.layout.title.text


def test_ranking_figure_from_a_rank_answer() -> None:
    ranking = pd.DataFrame({"material": ["Dy", "Tb"], "expected_loss_musd_per_yr": [50.0, 5.0],
                            "loss_musd_p10": [10.0, 1.0], "loss_musd_p50": [100.0, 9.0],
                            "loss_musd_p90": [400.0, 30.0]})
    fig = ranking_figure(Answer({"ranking": ranking}, ["rank_src"], meta={"importer": "USA"}))
    bars, dots = fig.data
    assert list(bars.y) == ["Dy", "Tb"] and list(bars.x) == [50.0, 5.0]
    assert list(dots.error_x.array) == [300.0, 21.0]
    assert _sources(fig) == ["rank_src"] and "USA" in fig.layout.title.text


def test_registry_names_every_builder() -> None:
    assert {"fan", "shortfall", "stage_share_bars", "stage_share_map", "trace_sankey",
            "validation", "plan_timeline", "plan_frontier", "stockout", "ranking"} == set(FIGURES)
    assert all(callable(spec.build) for spec in FIGURES.values())


def test_write_figure_html_is_self_contained(result: Result, tmp_path: Path) -> None:
    out = write_figure(fan_chart(result, "Tb"), tmp_path / "fan.html")
    text = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=[\"']https?:", text)
    assert "Plotly.newPlot" in text or "newPlot" in text
    assert len(text) > 1_000_000  # Plotly.js inlined


@pytest.mark.parametrize("name, why", [("fan.gif", "use a .html, .png"),
                                       ("missing/fan.html", "does not exist")])
def test_write_figure_checks_the_path_first(result: Result, tmp_path: Path, name: str,
                                            why: str) -> None:
    with pytest.raises(InputError, match=why):
        write_figure(go.Figure(), tmp_path / name)
    assert not list(tmp_path.rglob("fan.*"))


def test_static_export_without_chromium_is_one_line(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    monkeypatch.setattr("oreflow.report.export.shutil.which", lambda name: None)
    with pytest.raises(OreflowError, match=r"needs the Chromium browser.*\.html") as err:
        write_figure(go.Figure(), tmp_path / "x.png")
    assert "\n" not in str(err.value) and not (tmp_path / "x.png").exists()


@needs_chromium
def test_write_figure_static(result: Result, tmp_path: Path) -> None:
    png = write_figure(shortfall_figure(result), tmp_path / "s.png")
    assert png.read_bytes()[:4] == b"\x89PNG"  # (SVG goes the same way; one browser start)


def test_validation_figure_puts_observations_over_the_fan() -> None:
    from oreflow.report.figures import validation_figure
    from oreflow.simulate.validate import validate

    v = validate("gage-2023", draws=10, seed=1)
    fig = validation_figure(v)
    obs = [t for t in fig.data if t.name == "observed outside"]
    prices = v.table[(v.table["kind"] == "price") & (v.table["side"] == "outside")]
    assert sum(len(t.y) for t in obs) == len(prices)
    assert sorted(float(y) for t in obs for y in t.y) == pytest.approx(
        sorted(prices["observed"]))
    p50 = next(t for t in fig.data if t.name == "model outside P50")
    mat = next(m for m in ("Ga", "Ge") if m in v.run.result.materials)
    i = v.run.result.materials.index(mat)
    np.testing.assert_allclose(p50.y, np.quantile(v.run.outside[:, :, i], 0.5, axis=0))
    assert fig.layout.meta["episode"] == "gage-2023" and _sources(fig)
    from oreflow.report.notebook import validation_html

    assert "plotly-graph-div" not in v._repr_html_()
    assert validation_html(v).count("plotly-graph-div") == 1


def test_plan_repr_html_has_the_choices_and_the_notebook_view_the_timeline() -> None:
    from oreflow.report.notebook import plan_html

    plan = _plan()
    own = plan._repr_html_()  # type: ignore[attr-defined]
    assert "sep-a" in own and "mag-b" in own and "optimal" in own
    assert "plotly-graph-div" not in own
    assert plan_html(plan).count('class="plotly-graph-div"') == 1  # type: ignore[arg-type]
