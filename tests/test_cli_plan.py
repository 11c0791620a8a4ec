"""The ``plan`` verb through Typer's runner, on the shipped data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oreflow.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("user_dir")


def run_json(*args: str) -> dict:
    res = runner.invoke(app, ["plan", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_plan_prints_timeline_balance_and_cost() -> None:
    res = runner.invoke(app, ["plan", "--bloc", "MSP", "-t", "magnet:self>=0.3@2033",
                              "--budget", "5e9", "--wide"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    for words in ("Timeline 2026–2033", "By year, without and with the plan",
                  "Spending by year", "generic:metal", "░", "█"):
        assert words in res.stdout
    assert "Traceback" not in res.output


def test_plan_json_meets_a_reachable_target_within_budget() -> None:
    out = run_json("--bloc", "MSP", "-t", "magnet:self>=0.3@2033", "--budget", "5e9")
    assert out["feasible"] and out["misses"] == []
    assert 0 < out["capex_musd"] <= 5000
    last = next(r for r in out["balance"] if r["year"] == 2033 and r["stage"] == "magnet")
    assert last["self_sufficiency"] >= 0.3 - 1e-6 > last["self_sufficiency_without"]
    assert out["source_ids"] and out["notes"]


def test_plan_says_which_target_cannot_be_met_and_when_it_can() -> None:
    out = run_json("--bloc", "MSP", "-t", "magnet:self>=0.4@2030")
    assert not out["feasible"]
    (miss,) = out["misses"]
    assert miss["target"] == "magnet:self>=0.4@2030" and miss["reachable"] < 0.4
    assert int(miss["earliest_year"]) > 2030


def test_frontier_table_and_plot(tmp_path: Path) -> None:
    page = tmp_path / "frontier.html"
    out = run_json("--bloc", "MSP", "-t", "magnet:self>=0.3@2030", "--frontier",
                   "2029:2034", "--plot", str(page))
    rows = out["rows"]
    assert [r["year"] for r in rows] == list(range(2029, 2035))
    met = [r for r in rows if r["feasible"]]
    assert met and not rows[0]["feasible"] and rows[0]["capex_musd"] is None
    text = page.read_text(encoding="utf-8")
    assert "least capex" in text and "<script src=\"http" not in text


def test_shortfall_objective_scores_both_plans() -> None:
    out = run_json("--bloc", "MSP", "--objective", "shortfall", "--scenario",
                   "china-2025-04", "--stress-years", "2029:2030", "--budget", "1e9",
                   "--futures", "5")
    scores = {r["plan"]: r["expected_shortfall_t_reo_per_yr"] for r in out["scores"]}
    assert scores["stochastic"] <= scores["deterministic"] + 1e-6 <= scores["none"] + 2e-6
    assert out["plan"]["capex_musd"] <= 1000 + 1e-6
    assert out["stress"]["withheld"]["magnet"] > 0


@pytest.mark.parametrize("args, words", [
    (["--bloc", "MSP", "-t", "magnet:self=0.4@2030"], "expected STAGE:MEASURE"),
    (["--bloc", "NOPE", "-t", "magnet:self>=0.4@2030"], "NOPE"),
    (["--bloc", "MSP", "--objective", "shortfall", "--budget", "1e9"], "--scenario"),
    (["--bloc", "MSP", "-t", "magnet:self>=0.4@2030", "--plot", "x.gif"], ".png"),
    (["--bloc", "MSP", "-t", "magnet:self>=0.4@2030", "--frontier", "2035:2030"],
     "FIRST:LAST"),
    (["--bloc", "MSP", "--preset", "crm"], "crma"),
    (["--bloc", "MSP", "-t", "magnet:self>=0.3@2033", "--countries", "XXX"], "XXX"),
    (["--bloc", "MSP", "-t", "magnet:self>=0.3@2033", "--check", "--scenario", "nosuch"],
     "nosuch"),
    (["--bloc", "MSP", "-t", "magnet:self>=0.3@2033", "--check", "--example", "nope"],
     "nope"),
])
def test_bad_input_gets_one_line_and_exit_2(args: list[str], words: str) -> None:
    res = runner.invoke(app, ["plan", *args])
    assert res.exit_code == 2, res.output
    err = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert err and words in err[0] and "Traceback" not in res.output


def test_check_runs_the_engine_without_and_with_the_plan() -> None:
    out = run_json("--bloc", "EU27", "-t", "separation:supplier<=0.5@2030", "--check",
                   "--draws", "60", "--example", "drone")
    chk = out["check"]
    assert chk["scenario"] == "china-2025-04@2030" and chk["at_year"] == 2030
    rows = {(r["material"], r["role"], r["metric"]): r for r in chk["comparison"]}
    dy = rows[("Dy", "rest", "peak_price_multiple")]
    # new separation in the EU adds Dy outside China: never a higher peak on the same draws
    assert dy["with_p50"] <= dy["without_p50"] + 1e-9
    assert dy["with_p90"] <= dy["without_p90"] + 1e-9
    assert any(r["included"] for r in chk["mapping"])
    assert chk["bom"] and chk["bom"][0]["product"] == "tactical_drone"


def test_check_of_a_plan_the_engine_cannot_see_says_so() -> None:
    res = runner.invoke(app, ["plan", "--bloc", "MSP", "-t", "magnet:self>=0.3@2033",
                              "--check", "--draws", "40"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "the plan changes nothing the engine simulates" in res.stdout


def test_example_without_check_is_refused() -> None:
    res = runner.invoke(app, ["plan", "--bloc", "MSP", "-t", "magnet:self>=0.3@2033",
                              "--example", "drone"])
    assert res.exit_code == 2 and "--check" in res.output


def test_viability_lists_npv_with_and_without_the_floor() -> None:
    out = run_json("--viability")
    rows = {r["option_id"]: r for r in out["rows"]}
    nolans = rows["project:arafura_nolans"]
    # the USD 110/kg NdPr floor turns Nolans from a loss into a gain (docs/plan.md)
    assert nolans["npv_p50_musd"] < 0 < nolans["npv_floor_p50_musd"]
    assert nolans["floor_verdict"] == "kept alive by the floor"
    # a magnet plant sells NdFeB: the NdPr floor does not apply to it
    assert rows["project:mp_10x"]["npv_floor_p50_musd"] is None
    res = runner.invoke(app, ["plan", "--viability"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "kept alive by the floor" in res.stdout


def test_plan_without_bloc_or_viability_is_refused() -> None:
    res = runner.invoke(app, ["plan", "-t", "magnet:self>=0.3@2033"])
    assert res.exit_code == 2 and "--bloc" in res.output


# -- alignment of a country (issue 15, item 3) ---------------------------------------------


def test_compare_alignment_table_names_each_side() -> None:
    res = runner.invoke(app, ["plan", "--bloc", "MSP", "-t", "metal:self>=0.4@2030",
                              "--compare-alignment", "VNM", "--compare-years", "2030:2031",
                              "--wide"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    for words in ("MSP self-sufficiency by year and stage, 2030–2031", "with MSP",
                  "with CHN", "CHN's share of MSP's supply and of world output",
                  "Cost of each alignment's plan",
                  "VNM reserves 3,500,000 t REO"):
        assert words in res.stdout, words
    assert "Traceback" not in res.output


def test_compare_alignment_json() -> None:
    out = run_json("--bloc", "MSP", "-t", "metal:self>=0.4@2030", "--compare-alignment",
                   "vnm", "--compare-years", "2030,2035")
    assert out["country"] == "VNM" and out["bloc"] == "MSP" and out["years"] == [2030, 2035]
    assert {r["alignment"] for r in out["rows"]} == {"as_is", "bloc", "controller"}
    assert {r["year"] for r in out["rows"]} == {2030, 2035}
    assert set(out["plans"]) == {"as_is", "bloc", "controller"}
    assert [c["alignment"] for c in out["cost"]] == ["as_is", "bloc", "controller"]
    # the target of 2030 holds through 2035
    assert "metal:self>=0.4@2035" in out["targets"]


def test_align_one_plan_json_counts_vietnam_as_the_blocs() -> None:
    plain = run_json("--bloc", "MSP", "-t", "mine:self>=0.1@2030")
    aligned = run_json("--bloc", "MSP", "-t", "mine:self>=0.1@2030", "--align", "VNM=MSP")

    def metal(out: dict) -> float:
        return next(r["self_sufficiency_without"] for r in out["balance"]
                    if r["year"] == 2030 and r["stage"] == "metal")

    assert metal(aligned) > metal(plain)
    assert any("VNM aligned with MSP" in n for n in aligned["notes"])


@pytest.mark.parametrize("args, words", [
    (["--align", "VNM"], "--align 'VNM': expected COUNTRY=SIDE"),
    (["--align", "VNM=EU27"], "--align 'VNM=EU27': side 'EU27' is neither"),
    (["--align", "XYZ=MSP"], "--align: unknown country 'XYZ'"),
    (["--align", "USA=MSP"], "USA is a member of MSP"),
    (["--compare-alignment", "Vietnam"], "--compare-alignment 'Vietnam': expected an ISO3"),
    (["--compare-alignment", "XYZ"], "unknown country 'XYZ'"),
    (["--align", "VNM=MSP", "--compare-alignment", "VNM"], "exclude each other"),
    (["--align", "VNM=MSP", "--frontier", "2030:2031"], "take the cost objective"),
    (["--align-status", "study"], "--align-status needs --align"),
    (["--align", "VNM=MSP", "--align-status", "nope"], "unknown status class 'nope'"),
])
def test_bad_alignment_exits_2_in_one_line(args: list[str], words: str) -> None:
    res = runner.invoke(app, ["plan", "--bloc", "MSP", "-t", "mine:self>=0.1@2030", *args])
    assert res.exit_code == 2, res.output
    assert words in res.output
    assert "Traceback" not in res.output
    assert len([ln for ln in res.output.splitlines() if ln.strip()]) == 1, res.output


def test_compare_alignment_unknown_bloc_exits_2() -> None:
    res = runner.invoke(app, ["plan", "--bloc", "NOPE", "-t", "mine:self>=0.1@2030",
                              "--compare-alignment", "VNM"])
    assert res.exit_code == 2, res.output
    assert "NOPE" in res.output and "Traceback" not in res.output
