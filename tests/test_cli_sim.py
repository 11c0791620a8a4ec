"""Disruption and exposure verbs through Typer's runner (small draw counts for speed)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oreflow.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("user_dir")


def run_json(*args: str) -> dict:
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_scenarios_lists_builtins() -> None:
    rows = run_json("scenarios")
    names = {r["scenario"] for r in rows}
    assert {"china-2010-quota", "china-2025-04", "china-2025-10", "full-embargo",
            "myanmar-outage"} <= names


def test_stress_splits_prices_inside_and_outside_china(tmp_path: Path) -> None:
    out = run_json("stress", "china-2025-04", "--draws", "200", "--seed", "3",
                   "--out", str(tmp_path), "--out-format", "csv")
    assert out["provenance"]["seed"] == 3 and out["provenance"]["draws"] == 200
    rows = {(r["material"], r["role"]): r for r in out["summary"]}
    dy_out, dy_in = rows[("Dy", "rest")], rows[("Dy", "controller")]
    # buyers outside pay the licence gap: their peak is well above the controller's
    assert dy_out["peak_price_multiple_p50"] > 1.5
    assert dy_out["peak_price_multiple_p50"] > 1.2 * dy_in["peak_price_multiple_p50"]
    assert dy_out["shortfall_share_p50"] > 0
    # an uncontrolled light rare earth does not move
    assert rows[("La", "rest")]["peak_price_multiple_p90"] == pytest.approx(1.0)
    assert out["written"] and all(Path(p).exists() for p in out["written"])


def test_stress_same_seed_same_numbers() -> None:
    a = run_json("stress", "myanmar-outage", "--draws", "100", "--seed", "7")
    b = run_json("stress", "myanmar-outage", "--draws", "100", "--seed", "7")
    assert a["summary"] == b["summary"]


def test_stress_table_and_errors(tmp_path: Path) -> None:
    res = runner.invoke(app, ["stress", "china-2025-04", "--draws", "50"])
    assert res.exit_code == 0, res.output
    assert "Dy" in res.stdout and "scenario hash" in res.stdout
    res = runner.invoke(app, ["stress", "china-2025-4"])
    assert res.exit_code == 2 and "did you mean 'china-2025-04'" in res.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstart: 2025-01\nhorizon_months: 12\nshocks:\n"
                   "  - kind: export_restriction\n    materials: [Dy]\n    effective: 2025-02\n"
                   "    approval_rate: 1.7\n")
    res = runner.invoke(app, ["stress", str(bad)])
    assert res.exit_code == 2
    assert f"{bad}:8: field shocks[0].approval_rate" in res.stderr
    assert "Traceback" not in res.output


def test_validate_shows_model_against_history(tmp_path: Path) -> None:
    out = run_json("validate", "gage-2023", "--draws", "40", "--figures", str(tmp_path))
    eps = out["episodes"]
    assert [e["fitted_on"] for e in eps] == ["both", "re-2010"]  # in and out of sample
    for e in eps:
        assert e["verdict"].startswith("gage-2023")
        obs = e["observations"]
        assert obs and all(r["source_id"] for r in obs)
        assert {r["kind"] for r in obs} == {"price", "ratio", "exports"}
        assert all(r["p10"] <= r["p50"] <= r["p90"] for r in obs)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "validation-gage-2023-in-sample.png", "validation-gage-2023-out-of-sample.png"]
    res = runner.invoke(app, ["validate", "gage-2024"])
    assert res.exit_code == 2 and "did you mean 'gage-2023'" in res.stderr


def test_sensitivity_ranks_the_fitted_parameters() -> None:
    out = run_json("sensitivity", "gage-2023", "--material", "Ga", "--n", "16")
    rows = out["indices"]
    from oreflow.simulate.calibrate import FITTED

    assert out["material"] == "Ga" and out["runs"] == 16 * (len(FITTED) + 2)  # Saltelli
    outputs = {r["output"] for r in rows}
    assert outputs == {"peak_price_multiple", "shortfall_share", "recovery_month"}
    assert all(math.isfinite(r["ST"]) for r in rows)


def test_exposure_drone_under_april_2025() -> None:
    out = run_json("exposure", "--example", "drone", "--scenario", "china-2025-04",
                   "--draws", "100")
    (summary,) = out["impact"]["summary"]
    # one month of stock, 90% from the controller: some draws run out within the horizon
    # (null months = fewer than the quantile's share of draws run out)
    assert 0 < summary["stockout_share_of_draws"] < 1
    assert summary["first_input_out"] == "motor_magnets"
    p10, p50 = summary["months_to_stockout_p10"], summary["months_to_stockout_p50"]
    assert p50 is None or (p10 is not None and 0 < p10 <= p50 < 36)
    assert summary["cost_increase_usd_per_unit_p50"] > 0
    assert out["exposure"]["alternatives"]
    assert out["sources"]


def test_exposure_without_scenario_and_bad_bom(tmp_path: Path) -> None:
    out = run_json("exposure", "--example", "fighter")
    claims = out["exposure"]["content_claims"]
    assert len(claims) >= 2  # the disputed F-35 content: both sources, not one number
    assert "impact" not in out
    bad = tmp_path / "bom.yaml"
    bad.write_text("name: bad\nproducts:\n  - id: p\n    plant_country: USA\n"
                   "    units_per_year: 10\n    inputs:\n      - kind: magnet\n"
                   "        type: NdFeB\n        mass_kg_per_unit: -1\n")
    res = runner.invoke(app, ["exposure", str(bad)])
    assert res.exit_code == 2 and str(bad) in res.stderr
    res = runner.invoke(app, ["exposure", "--example", "drones"])
    assert res.exit_code == 2 and "did you mean 'drone'" in res.stderr
    res = runner.invoke(app, ["exposure"])
    assert res.exit_code == 2


def test_json_is_strict() -> None:
    """NaN and infinity (e.g. 'no stock-out within the horizon') come out as null."""
    res = runner.invoke(app, ["exposure", "--example", "wind-turbine", "--scenario",
                              "full-embargo", "--draws", "50", "--json"])
    assert res.exit_code == 0, res.output

    def reject(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    out = json.loads(res.stdout, parse_constant=reject)
    assert not any(isinstance(v, float) and math.isnan(v)
                   for v in out["impact"]["summary"][0].values())
    res = runner.invoke(app, ["stress", "china-2025-04", "--draws", "50", "--json"])
    json.loads(res.stdout, parse_constant=reject)


def test_builtin_scenarios_cite_known_keys() -> None:
    from oreflow.cli.stress import _scenario_sources
    from oreflow.data.store import Store
    from oreflow.simulate import Scenario, list_builtin

    store = Store.default()
    known = (set(store.table("sources")["source_id"]) | set(store.table("policies")["policy_id"])
             | set(store.table("licensing")["stat_id"]))
    for name in list_builtin():
        cited = _scenario_sources(Scenario.builtin(name))
        if name.startswith("china-20"):  # historical episodes must cite their facts
            assert cited, name
        assert set(cited) <= known, (name, set(cited) - known)


def test_scenario_errors_reach_every_verb(tmp_path: Path) -> None:
    bad = tmp_path / "sign.yaml"
    bad.write_text("name: x\nstart: 2025-01\nhorizon_months: 12\nshocks:\n"
                   "  - kind: export_restriction\n    materials: [Dy]\n    effective: 2025-02\n"
                   "parameters:\n  elasticity: {default: 0.5}\n")
    for args in (["stress", str(bad)], ["exposure", "--example", "drone", "--scenario", str(bad)]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, res.output
        assert f"{bad}:9: field parameters.elasticity" in res.stderr


def test_stress_out_writes_tables_draws_scenario_and_provenance(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = runner.invoke(app, ["stress", "myanmar-outage", "--draws", "20", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "draws.parquet", "paths.parquet", "provenance.json", "scenario.yaml",
        "sector_shortfall.parquet", "summary.parquet"]
    book = tmp_path / "run.xlsx"
    res = runner.invoke(app, ["stress", "myanmar-outage", "--draws", "20", "--out", str(book)])
    assert res.exit_code == 0, res.output
    assert book.exists() and (tmp_path / "run.scenario.yaml").exists()
    assert f"wrote {book}" in res.stdout.replace("\n", "")


def test_stress_says_what_the_magnet_stage_added(tmp_path: Path) -> None:
    # a Dy restriction at the magnet stage that names no magnet also controls NdFeB; the
    # user reads it under the table and in --json
    f = tmp_path / "dy.yaml"
    f.write_text("name: dy-magnet\nstart: 2025-01\nhorizon_months: 6\nshocks:\n"
                 "  - {kind: export_restriction, materials: [Dy], stages: [separation, magnet],"
                 " targets: [all], effective: 2025-02}\n")
    out = run_json("stress", str(f), "--draws", "10")
    assert any("also controls NdFeB (it contains Dy)" in n for n in out["notes"])
    res = runner.invoke(app, ["stress", str(f), "--draws", "10"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "also controls NdFeB" in res.stdout


def test_stress_understands_names_people_type(tmp_path: Path) -> None:
    # Dysprosium, EU and Japan in a scenario file run like Dy, EU27 and JPN
    body = ("start: 2025-01\nhorizon_months: 6\nshocks:\n"
            "  - {{kind: export_restriction, materials: [{m}], stages: [separation, metal],"
            " targets: [{t}], effective: 2025-02}}\n")
    named, coded = tmp_path / "named.yaml", tmp_path / "coded.yaml"
    named.write_text("name: named\n" + body.format(m="Dysprosium", t="EU, Japan"))
    coded.write_text("name: coded\n" + body.format(m="Dy", t="EU27, JPN"))
    a = run_json("stress", str(named), "--draws", "10")["summary"]
    b = run_json("stress", str(coded), "--draws", "10")["summary"]
    assert a == b and any(r["material"] == "Dy" for r in a)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\n" + body.format(m="Dysprosim", t="EU"))
    res = runner.invoke(app, ["stress", str(bad), "--draws", "10"])
    assert res.exit_code == 2 and "did you mean 'Dy'" in res.output


def test_sensitivity_gives_no_index_to_a_parameter_the_scenario_never_uses() -> None:
    # china-2025-04 is a licence regime: the quota's leakage share moves nothing. The
    # scenario's own uncertain inputs (approval rate, lag ...) are held at their medians,
    # so no resampled input shows up as the index of an idle parameter
    out = run_json("sensitivity", "china-2025-04", "--material", "Dy", "--n", "16")
    idle = [r for r in out["indices"] if r["parameter"] == "quota_leakage"]
    assert len(idle) == 3
    assert all(r["S1"] == 0.0 and r["ST"] == 0.0 for r in idle)
    used = [r for r in out["indices"] if r["parameter"] == "price_cover_sensitivity"]
    assert all(r["ST"] > 0.0 for r in used)
