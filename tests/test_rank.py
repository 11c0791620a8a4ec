"""The criticality ranking: the probability rule, the loss arithmetic, order invariance,
reproducibility, materials that cannot be ranked, and the ``rank`` verb."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from oreflow.cli import app
from oreflow.data.store import Store
from oreflow.errors import InputError
from oreflow.rank import rank, sweep_runner
from oreflow.rank.loss import (
    loss_distribution,
    rank_materials,
    scenario_losses,
    weighted_quantiles,
)
from oreflow.rank.scenarios import (
    Importer,
    Supplier,
    controlling_stage,
    disruption_rates,
    history_years,
    kind_weights,
    resolve_importer,
    restriction_events,
    scenario_for,
    standard_scenarios,
    suppliers,
)
from oreflow.simulate.run import simulate
from oreflow.simulate.scenario import Scenario
from oreflow.sweep.worker import summary_rows

cli = CliRunner()
USA = Importer("USA", ("USA",), ("USA",))


def _policies(rows: list[dict[str, Any]]) -> pd.DataFrame:
    cols = ["policy_id", "announced", "effective", "ended", "actor_iso3", "kind", "targets",
            "target_iso3", "source_id", "flag"]
    return pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)


HAND = _policies([
    # two rows of one omnibus announcement: one event, reaching every destination
    {"policy_id": "a1", "announced": "2010-07-08", "effective": "2010-09", "actor_iso3": "AAA",
     "kind": "quota", "targets": "all destinations", "source_id": "s1"},
    {"policy_id": "a2", "announced": "2010-07", "effective": "2010", "actor_iso3": "AAA",
     "kind": "licence", "targets": "Japan", "target_iso3": "JPN", "source_id": "s2"},
    # a targeted ban on the USA
    {"policy_id": "a3", "effective": "2015-03-01", "actor_iso3": "AAA", "kind": "export_ban",
     "targets": "United States", "target_iso3": "USA", "source_id": "s3"},
    # not counted: unverified, an import ban, a liberal kind, an actor of two countries
    {"policy_id": "x1", "effective": "2012", "actor_iso3": "AAA", "kind": "export_ban",
     "targets": "Japan", "target_iso3": "JPN", "flag": "secondary;UNVERIFIED"},
    {"policy_id": "x2", "effective": "2013", "actor_iso3": "AAA", "kind": "quota",
     "targets": "imports from BBB", "target_iso3": "BBB"},
    {"policy_id": "x3", "effective": "2014", "actor_iso3": "AAA", "kind": "suspension"},
    {"policy_id": "x4", "effective": "2016", "actor_iso3": "AAA;BBB", "kind": "quota"},
    # a disruption at another actor, named target someone else
    {"policy_id": "b1", "effective": "2018-10", "actor_iso3": "BBB", "kind": "disruption_event",
     "targets": "China", "target_iso3": "CHN"},
    # a later announcement of something else sets the end of the history
    {"policy_id": "z1", "announced": "2019-05", "effective": "2030", "actor_iso3": "CCC",
     "kind": "regulation"},
])


# --------------------------------------------------------------------------------------
# The probability rule
# --------------------------------------------------------------------------------------


def test_events_counted_once_per_actor_and_month() -> None:
    ev = restriction_events(HAND)
    assert list(zip(ev["actor"], ev["year"], ev["month"], ev["scope"], strict=True)) == [
        ("AAA", 2010, 7, "all"), ("AAA", 2015, 3, "targeted"), ("BBB", 2018, 10, "targeted")]
    assert ev.loc[0, "policy_ids"] == "a1;a2" and ev.loc[0, "source_ids"] == "s1;s2"
    assert ev.loc[1, "targets"] == "USA"


def test_history_spans_first_event_to_last_announcement() -> None:
    assert history_years(HAND, restriction_events(HAND)) == (2010, 2019)


def test_rates_by_hand() -> None:
    ev = restriction_events(HAND)
    r = disruption_rates(ev, ["AAA", "BBB", "DDD", "EEE"],
                         {"AAA": 5.0, "BBB": 8.0, "DDD": 2.0}, 10.0).set_index("country")
    # (n + 0.5 g/5) / T
    assert r.at["AAA", "rate_per_yr"] == pytest.approx((2 + 0.5) / 10)
    assert r.at["BBB", "rate_per_yr"] == pytest.approx((1 + 0.5 * 8 / 5) / 10)
    assert r.at["DDD", "rate_per_yr"] == pytest.approx(0.5 * 2 / 5 / 10)
    assert r.at["EEE", "rate_per_yr"] == pytest.approx(0.05)  # no score: midpoint 5
    assert bool(r.at["EEE", "governance_missing"]) and not bool(r.at["DDD", "governance_missing"])
    assert r.at["AAA", "probability_per_yr"] == pytest.approx(1 - math.exp(-0.25))
    # worse governance, same history: a higher rate
    assert r.at["BBB", "rate_per_yr"] > (1 + 0.5) / 10


def test_kind_weights_by_hand() -> None:
    ev = restriction_events(HAND)
    assert kind_weights(ev, USA) == pytest.approx({"all": 1 / 3, "targeted": 1 / 3,
                                                   "other": 1 / 3})
    jpn = Importer("JPN", ("JPN",), ("JPN",))
    assert kind_weights(ev, jpn) == pytest.approx({"all": 1 / 3, "targeted": 0.0,
                                                   "other": 2 / 3})


def test_suppliers_cover_the_controlling_stage() -> None:
    shares = pd.DataFrame({
        "material": ["M"] * 6,
        "stage": ["mine", "mine", "separation", "separation", "separation", "separation"],
        "country": ["AAA", "BBB", "AAA", "USA", "CCC", "OTH"],
        "share": [0.5, 0.5, 0.8, 0.1, 0.05, 0.05]})
    assert controlling_stage(shares, "M") == "separation"  # HHI 0.655 > 0.5
    got = suppliers(shares, "M", exclude=("USA",))
    assert [(s.country, s.stage) for s in got] == [("AAA", "separation")]
    got = suppliers(shares, "M", exclude=("USA",), coverage=0.99)
    assert [s.country for s in got] == ["AAA", "CCC"]  # USA excluded, OTH no actor
    assert controlling_stage(shares, "N") is None


# --------------------------------------------------------------------------------------
# Losses and the ranking
# --------------------------------------------------------------------------------------


def _results(rows: list[tuple[str, str, float, float, float]]) -> pd.DataFrame:
    """(scenario_id, material, price, shortfall mean, cost mean); quantiles = mean ± 50%."""
    out = []
    for sid, m, p, s, c in rows:
        for role in ("controller", "rest", "targets"):
            k = 1.0 if role == "targets" else 100.0  # other segments must be ignored
            out.append({"scenario_id": sid, "material": m, "role": role,
                        "base_price_usd_per_kg": p, "shortfall_t_mean": s * k,
                        "cost_musd_mean": c * k,
                        "shortfall_t_p10": 0.5 * s * k, "shortfall_t_p50": s * k,
                        "shortfall_t_p90": 1.5 * s * k, "cost_musd_p10": 0.5 * c * k,
                        "cost_musd_p50": c * k, "cost_musd_p90": 1.5 * c * k})
        # a coupled material of the same run (a magnet's elements): never the loss
        out.append({**out[-1], "material": "Z", "base_price_usd_per_kg": 1e6,
                    "shortfall_t_mean": 1e6, "cost_musd_mean": 1e6})
    return pd.DataFrame(out)


RES = _results([("a1", "A", 100.0, 10.0, 1.0), ("a2", "A", 100.0, 40.0, 2.0),
                ("b1", "B", 1000.0, 5.0, 0.0), ("c1", "C", 10.0, 1.0, 0.1)])
PROB = pd.DataFrame({"scenario_id": ["a1", "a2", "b1", "c1"], "material": ["A", "A", "B", "C"],
                     "supplier": ["AAA", "BBB", "AAA", "AAA"],
                     "rate_per_yr": [0.2, 0.05, 0.1, 0.5]})


def test_loss_arithmetic_by_hand() -> None:
    loss = scenario_losses(RES, PROB).set_index("scenario_id")
    # L = shortfall [t] x price [USD/kg] / 1000 + cost [M USD]
    assert loss.at["a1", "loss_musd_mean"] == pytest.approx(10 * 100 / 1e3 + 1.0)  # 2.0
    assert loss.at["a2", "loss_musd_mean"] == pytest.approx(40 * 100 / 1e3 + 2.0)  # 6.0
    assert loss.at["b1", "loss_musd_mean"] == pytest.approx(5.0)
    assert loss.at["a1", "loss_musd_p90"] == pytest.approx(1.5 * 2.0)
    rk = rank_materials(scenario_losses(RES, PROB)).set_index("material")
    assert rk.at["A", "expected_loss_musd_per_yr"] == pytest.approx(0.2 * 2 + 0.05 * 6)  # 0.7
    assert rk.at["B", "expected_loss_musd_per_yr"] == pytest.approx(0.5)
    assert rk.at["C", "expected_loss_musd_per_yr"] == pytest.approx(0.5 * 0.11)
    assert list(rk.index) == ["A", "B", "C"] and list(rk["rank"]) == [1, 2, 3]
    assert rk.at["A", "probability_per_yr"] == pytest.approx(1 - math.exp(-0.25))
    assert rk.at["A", "worst_scenario"] == "a2" and rk.at["A", "worst_loss_musd"] == 6.0
    assert rk.at["A", "worst_probability_per_yr"] == pytest.approx(1 - math.exp(-0.05))
    assert rk.at["A", "main_supplier"] == "AAA"  # 0.4 of 0.7


def test_loss_distribution_mixes_scenarios_by_rate() -> None:
    dist = loss_distribution(scenario_losses(RES, PROB)).set_index("material")
    # A: points 1, 2, 3 (a1: rate 0.2) and 3, 6, 9 (a2: rate 0.05), Swanson 0.3/0.4/0.3
    assert dist.at["A", "loss_musd_p10"] == pytest.approx(1.0)
    assert dist.at["A", "loss_musd_p50"] == pytest.approx(2.0)
    assert dist.at["A", "loss_musd_p90"] == pytest.approx(6.0)  # cum. weight 0.86 at 3
    assert dist.at["A", "loss_musd_mean"] == pytest.approx(0.7 / 0.25)
    assert weighted_quantiles([], [], [0.5]) == [pytest.approx(math.nan, nan_ok=True)]


def test_missing_importer_segment_is_flagged_not_invented() -> None:
    res = RES[~((RES["scenario_id"] == "c1") & (RES["role"] == "targets"))]
    loss = scenario_losses(res, PROB).set_index("scenario_id")
    assert not bool(loss.at["c1", "simulated"]) and loss.at["c1", "loss_musd_mean"] == 0.0


def test_ranking_does_not_depend_on_scenario_order() -> None:
    base = rank_materials(scenario_losses(RES, PROB))
    rng = np.random.default_rng(3)
    for _ in range(5):
        perm_r = RES.iloc[rng.permutation(len(RES))].reset_index(drop=True)
        perm_p = PROB.iloc[rng.permutation(len(PROB))].reset_index(drop=True)
        pd.testing.assert_frame_equal(rank_materials(scenario_losses(perm_r, perm_p)), base)


# --------------------------------------------------------------------------------------
# Scenarios, runner, reproducibility (the engine, few draws)
# --------------------------------------------------------------------------------------


def test_scenarios_name_the_importer_segment(store: Store) -> None:
    sup = Supplier("Dy", "CHN", "separation", 0.99)
    for kind in ("all", "targeted", "outage"):
        sc = scenario_for(USA, sup, kind, 0.5, 12)
        assert Scenario.parse_yaml(sc.to_yaml()) == sc  # a valid, round-tripping scenario
        assert sc.named_targets() == ("USA",)
        res = simulate(sc, 10, seed=1, store=store)
        assert "targets" in set(res.summary()["role"])
    with pytest.raises(ValueError):
        scenario_for(USA, sup, "all", 0.0, 12)


def test_result_means_match_the_draws(store: Store) -> None:
    sc = scenario_for(USA, Supplier("Dy", "CHN", "separation", 0.99), "all", 1.0, 12)
    res = simulate(sc, 40, seed=2, store=store)
    df = summary_rows(res)
    row = df[(df["material"] == "Dy") & (df["role"] == "targets")].iloc[0]
    i, r = res.materials.index("Dy"), 2
    assert row["shortfall_t_mean"] == pytest.approx(res.cumulative_shortfall()[:, i, r].mean())
    assert row["cost_musd_mean"] == pytest.approx(float(res.arrays.cost[:, i, r].mean()) / 1e6)


def test_magnet_loss_uses_the_magnet_row(store: Store) -> None:
    sset = standard_scenarios("USA", ["NdFeB"], store=store)
    pairs = [p for p in sset.scenarios if p[0]["kind"] == "all"][:1]
    res = sweep_runner(pairs, 5, 0)
    assert {"Nd", "NdFeB"} <= set(res["material"])  # the run holds the coupled elements
    loss = scenario_losses(res, sset.probabilities)
    row = loss[loss["scenario_id"] == pairs[0][0]["scenario_id"]].iloc[0]
    mag = res[(res["material"] == "NdFeB") & (res["role"] == "targets")].iloc[0]
    assert row["price_usd_per_kg"] == mag["base_price_usd_per_kg"]
    assert row["shortfall_t_mean"] == mag["shortfall_t_mean"]


def test_standard_set_for_usa(store: Store) -> None:
    sset = standard_scenarios("USA", ["Nd", "Sb", "Sc", "Ga"], store=store)
    assert set(sset.skipped) == {"Sc", "Ga"}
    sups = {(s.material, s.country) for s in sset.suppliers}
    assert ("Nd", "CHN") in sups and ("Nd", "USA") not in sups  # the importer is no supplier
    kinds = set(sset.probabilities["kind"])
    assert {"all", "targeted", "outage"} <= kinds  # Sb outside China: outages
    assert (sset.probabilities["rate_per_yr"] > 0).all()
    ids = [k["scenario_id"] for k, _ in sset.scenarios]
    assert len(ids) == len(set(ids)) == len(sset.probabilities)


def test_rank_reproducible_and_reports_unrankable(store: Store) -> None:
    a = rank("USA", draws=8, seed=5, materials=["Dy", "Sc"], store=store)
    b = rank("USA", draws=8, seed=5, materials=["Dy", "Sc"], store=store)
    pd.testing.assert_frame_equal(a.tables["ranking"], b.tables["ranking"])
    assert list(a.tables["ranking"]["material"]) == ["Dy"]
    assert list(a.tables["not_ranked"]["material"]) == ["Sc"]
    assert "no supplier data" in a.tables["not_ranked"]["reason"].iloc[0]
    c = rank("USA", draws=8, seed=6, materials=["Dy"], store=store)
    assert not np.isclose(c.tables["ranking"]["expected_loss_musd_per_yr"].iloc[0],
                          a.tables["ranking"]["expected_loss_musd_per_yr"].iloc[0])
    assert "wb_wgi_2024" in a.sources


def test_runner_numbers_depend_on_keys_not_order_or_workers(store: Store) -> None:
    sset = standard_scenarios("USA", ["Dy"], store=store)
    pairs = sset.scenarios[:3]
    fwd = sweep_runner(pairs, 5, 9)
    bwd = sweep_runner(pairs[::-1], 5, 9, workers=2)
    key = ["scenario_id", "material", "role"]
    drop = ["point"]  # the point index is the position in the list
    pd.testing.assert_frame_equal(
        fwd.drop(columns=drop).sort_values(key, ignore_index=True),
        bwd.drop(columns=drop).sort_values(key, ignore_index=True)[fwd.columns.drop(drop)])


def test_injected_runner_is_used(store: Store) -> None:
    seen: dict[str, Any] = {}

    def fake(scenarios: list[tuple[dict[str, Any], Scenario]], draws: int,
             seed: int) -> pd.DataFrame:
        seen.update(n=len(scenarios), draws=draws, seed=seed)
        rows = [{**key, "material": str(key["scenario_id"]).split(":")[0],
                 "role": "targets", "base_price_usd_per_kg": 100.0,
                 "shortfall_t_mean": 10.0 * float(key["severity"]),  # type: ignore[arg-type]
                 "cost_musd_mean": 0.0} for key, _ in scenarios]
        return pd.DataFrame(rows)

    ans = rank("USA", runner=fake, draws=7, seed=3, materials=["Dy"], store=store)
    assert seen["draws"] == 7 and seen["seed"] == 3 and seen["n"] > 0
    sc = ans.tables["scenarios"]
    assert sc["loss_musd_mean"].tolist() == pytest.approx((sc["severity"]).tolist())
    exp = float((sc["rate_per_yr"] * sc["severity"]).sum())
    assert ans.tables["ranking"]["expected_loss_musd_per_yr"].iloc[0] == pytest.approx(exp)


def test_bad_input_is_one_line(store: Store) -> None:
    with pytest.raises(InputError, match="Atlantis"):
        resolve_importer("Atlantis", store=store)
    with pytest.raises(InputError, match="China"):
        resolve_importer("CHN", store=store)
    with pytest.raises(InputError, match="draws"):
        rank("USA", draws=0, store=store)
    with pytest.raises(InputError, match="unknown material"):
        rank("USA", materials=["Xx"], store=store)
    assert "DEU" in resolve_importer("EU27", store=store).members
    assert "EUU" in resolve_importer("EU27", store=store).codes


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("user_dir")
def test_cli_json_shape(tmp_path: Path) -> None:
    fig = tmp_path / "rank.html"
    res = cli.invoke(app, ["rank", "--importer", "USA", "--draws", "5", "-m", "Dy,Sc",
                           "--json", "--plot", str(fig)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["importer"] == "USA" and out["draws"] == 5 and out["seed"] == 0
    assert {"ranking", "not_ranked", "scenarios", "rates", "events", "notes",
            "sources"} <= set(out)
    row = out["ranking"][0]
    assert row["material"] == "Dy" and row["rank"] == 1
    assert {"expected_loss_musd_per_yr", "loss_musd_p10", "loss_musd_p50", "loss_musd_p90",
            "worst_scenario", "worst_probability_per_yr"} <= set(row)
    assert out["not_ranked"][0]["material"] == "Sc"
    assert fig.stat().st_size > 1000 and "expected loss" in fig.read_text(encoding="utf-8")


@pytest.mark.usefixtures("user_dir")
@pytest.mark.parametrize("args", [["--importer", "Atlantis"], ["--importer", "USA", "-m", "Qq"],
                                  ["--importer", "USA", "--plot", "x.txt"]])
def test_cli_bad_input_exits_2(args: list[str]) -> None:
    res = cli.invoke(app, ["rank", *args, "--draws", "2"])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in res.output
