"""Complete, lossless exports of a disruption run, and the run limits checked before work.

The library parts run on the toy baseline (fast, independent of dataset updates); the CLI
parts on built-in scenarios with few draws.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import oreflow.simulate
from oreflow.cli import app
from oreflow.errors import InputError
from oreflow.simulate import NOT_RECOVERED, Result, Scenario, simulate, toy_baseline
from oreflow.simulate.result import VARIABLES, check_output
from oreflow.simulate.run import check_limits, estimate_bytes, max_horizon

runner = CliRunner()
GOLDEN = Path(__file__).parent / "golden" / "simulate_toy_scenario.yaml"


@pytest.fixture(scope="module")
def toy() -> Result:
    return simulate(Scenario.from_yaml(GOLDEN), draws=30, seed=5, baseline=toy_baseline())


# -- dates and durations: one convention ---------------------------------------------------


def test_dates_are_datetime64_month_starts_and_months_integers(toy: Result) -> None:
    assert toy.dates.dtype == np.dtype("datetime64[ns]")
    assert list(toy.dates[:3].strftime("%Y-%m-%d")) == ["2025-01-01", "2025-02-01", "2025-03-01"]
    assert toy.month_offsets.dtype == np.int64
    assert toy.month_offsets.tolist() == list(range(12))
    q = toy.quantiles("price")
    assert pd.api.types.is_datetime64_dtype(q["date"])
    assert pd.api.types.is_integer_dtype(q["month"])
    # the date of a row is the start plus its month
    row = q.iloc[-1]
    assert row["date"] == pd.Timestamp("2025-01-01") + pd.DateOffset(months=int(row["month"]))


def test_to_xarray_is_labelled_and_carries_provenance(toy: Result) -> None:
    ds = toy.to_xarray()
    assert ds["price"].dims == ("draw", "date", "material", "region")
    assert ds.sizes == {"draw": 30, "date": 12, "material": len(toy.materials), "region": 3}
    assert set(VARIABLES) <= set(ds.data_vars)
    assert ds["cost_usd"].dims == ("draw", "material", "region")
    assert ds["date"].dtype == np.dtype("datetime64[ns]")
    assert ds["month"].values.tolist() == list(range(12))
    assert list(ds["role"].values) == ["controller", "rest", "targets"]
    assert ds.attrs["seed"] == 5 and ds.attrs["scenario_hash"] == toy.provenance["scenario_hash"]
    # labels select the same numbers as the positional engine arrays
    i, r = toy.materials.index("Dy"), 1
    got = ds["shortfall"].sel(material="Dy", region=toy.regions[r], date="2025-06-01").values
    assert np.array_equal(got, toy.arrays.shortfall[:, 5, i, r])
    assert ds["price"].attrs["units"] == "USD/kg"


def test_draws_frame_is_long_form_of_every_draw(toy: Result) -> None:
    df = toy.draws_frame("price_multiple")
    assert list(df.columns) == ["draw", "date", "material", "region", "variable", "value"]
    pairs = int(toy.present.sum())
    assert len(df) == 30 * 12 * pairs
    i, r = toy.materials.index("Dy"), 2
    one = df[(df["draw"] == 7) & (df["date"] == "2025-04-01") & (df["material"] == "Dy")
             & (df["region"] == toy.regions[r])]
    assert one["value"].tolist() == [pytest.approx(toy.price_multiple()[7, 3, i, r])]


def test_repr_html_shows_provenance_and_bands(toy: Result) -> None:
    text = toy._repr_html_()
    assert "golden-toy" in text and toy.provenance["scenario_hash"] in text
    assert "<table" in text and "Dy" in text and "P50 (P10–P90)" in text


# -- writing -------------------------------------------------------------------------------


def test_parquet_directory_has_draws_long_form_scenario_and_provenance(
        toy: Result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import oreflow.simulate.result as result_mod

    monkeypatch.setattr(result_mod, "_DRAW_ROWS", 1000)  # several chunks of draws
    out = tmp_path / "run"
    written = toy.write(out)
    names = sorted(p.name for p in written)
    assert names == ["draws.parquet", "paths.parquet", "provenance.json", "scenario.yaml",
                     "sector_shortfall.parquet", "summary.parquet"]
    draws = pd.read_parquet(out / "draws.parquet")
    assert list(draws.columns) == ["draw", "date", "material", "region", "variable", "value"]
    assert set(draws["variable"]) == set(VARIABLES)
    assert len(draws) == len(VARIABLES) * 30 * 12 * int(toy.present.sum())
    assert not draws.duplicated(["draw", "date", "material", "region", "variable"]).any()
    assert sorted(set(draws["draw"])) == list(range(30))
    i = toy.materials.index("Dy")
    sel = draws[(draws["variable"] == "inventory") & (draws["draw"] == 3)
                & (draws["material"] == "Dy") & (draws["region"] == toy.regions[0])]
    assert np.allclose(sel.sort_values("date")["value"], toy.arrays.inventory[3, :, i, 0])
    assert pd.api.types.is_datetime64_any_dtype(draws["date"])
    # the scenario beside the tables is the one that ran
    assert Scenario.from_yaml(out / "scenario.yaml").hash() == toy.provenance["scenario_hash"]
    assert json.loads((out / "provenance.json").read_text())["seed"] == 5
    summary = pd.read_parquet(out / "summary.parquet")
    pd.testing.assert_frame_equal(summary, toy.summary())


def test_xlsx_has_one_sheet_per_table_and_text_for_not_recovered(tmp_path: Path) -> None:
    import openpyxl

    sc = Scenario.from_yaml(GOLDEN).with_horizon(4)  # too short to recover
    res = simulate(sc, draws=20, seed=1, baseline=toy_baseline())
    assert np.isinf(res.summary()["months_to_recovery_p90"]).any()
    path = tmp_path / "out" / "run.xlsx"
    written = res.write(path)
    assert written == [path, tmp_path / "out" / "run.scenario.yaml"]
    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames == ["summary", "paths", "sector_shortfall", "provenance"]
    summary = pd.read_excel(path, sheet_name="summary")
    assert NOT_RECOVERED in set(summary["months_to_recovery_p90"])
    paths = pd.read_excel(path, sheet_name="paths")
    assert len(paths) == len(res.to_pandas())
    assert pd.Timestamp(paths["date"].iloc[0]) == pd.Timestamp("2025-01-01")
    prov = pd.read_excel(path, sheet_name="provenance")
    assert dict(zip(prov["key"], prov["value"], strict=True))["seed"] == 1


def test_csv_directory_writes_not_recovered_as_text(tmp_path: Path) -> None:
    sc = Scenario.from_yaml(GOLDEN).with_horizon(4)
    res = simulate(sc, draws=20, seed=1, baseline=toy_baseline())
    res.write(tmp_path, "csv")
    summ = pd.read_csv(tmp_path / "summary.csv")
    assert NOT_RECOVERED in set(summ["months_to_recovery_p90"].astype(str))
    assert not summ["months_to_recovery_p90"].isna().any()
    assert pd.read_csv(tmp_path / "paths.csv")["date"].iloc[0] == "2025-01-01"


def test_check_output_refuses_before_writing(tmp_path: Path) -> None:
    afile = tmp_path / "a-file"
    afile.write_text("x")
    with pytest.raises(InputError, match="is a file, not a directory"):
        check_output(afile / "sub" / "run")
    with pytest.raises(InputError, match="exists and is not a directory"):
        check_output(afile)
    with pytest.raises(InputError, match="unknown output format"):
        check_output(tmp_path / "run", "feather")
    with pytest.raises(InputError, match=r"\.xlsx"):
        check_output(tmp_path / "run.xlsx", "csv")
    with pytest.raises(InputError, match=r"\.xlsx"):
        check_output(tmp_path / "run", "xlsx")
    assert check_output(tmp_path / "new" / "deeper").fmt == "parquet"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    assert check_output(tmp_path / "r.xlsx").fmt == "xlsx"


def _unwritable_dirs(tmp_path: Path) -> list[Path]:
    """Places this process cannot write in: under a file, and (for root too) /sys."""
    afile = tmp_path / "a-file"
    afile.write_text("x")
    out = [afile / "results"]
    if Path("/sys").is_dir() and not _can_write(Path("/sys")):
        out.append(Path("/sys") / "oreflow-results")
    return out


def _can_write(d: Path) -> bool:
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=d):
            return True
    except OSError:
        return False


@pytest.mark.usefixtures("user_dir")
def test_stress_unwritable_out_fails_before_the_run(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the run started before --out was checked")

    monkeypatch.setattr(oreflow.simulate, "simulate", must_not_run)
    for bad in _unwritable_dirs(tmp_path):
        for extra in ([], ["--out-format", "csv"]):
            res = runner.invoke(app, ["stress", "china-2025-04", "--draws", "5000", "--out",
                                      str(bad), *extra])
            assert res.exit_code == 2, res.output
            assert str(bad) in res.stderr and "internal error" not in res.stderr
    xlsx = tmp_path / "a-file" / "run.xlsx"
    res = runner.invoke(app, ["stress", "china-2025-04", "--out", str(xlsx)])
    assert res.exit_code == 2 and "is a file, not a directory" in res.stderr


# -- stress --json / --csv -------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_json() -> dict:
    """china-2025-04 over 8 months: some segments do not recover within the horizon."""
    mp = pytest.MonkeyPatch()
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        mp.setenv("OREFLOW_DATA_DIR", d)
        res = runner.invoke(app, ["stress", "china-2025-04", "--draws", "60", "--seed", "2",
                                  "--horizon", "8", "--paths", "--json"])
    mp.undo()
    assert res.exit_code == 0, res.output

    def reject(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    out: dict = json.loads(res.stdout, parse_constant=reject)
    return out


def test_stress_json_not_recovered_is_distinct_from_missing(short_json: dict) -> None:
    values = [r[f"months_to_recovery_{q}"] for r in short_json["summary"]
              for q in ("p10", "p50", "p90")]
    assert NOT_RECOVERED in values
    assert None not in values
    # whole months (the April 2025 controls start on the 4th: no 7.9 months)
    assert all(v == NOT_RECOVERED or isinstance(v, int) for v in values)
    assert any(isinstance(v, int) and v > 0 for v in values)
    assert NOT_RECOVERED in short_json["conventions"]["months_to_recovery"]


def test_stress_json_carries_paths_with_iso_month_starts(short_json: dict) -> None:
    p = short_json["paths"]
    assert p["dates"] == ["2025-04-01", "2025-05-01", "2025-06-01", "2025-07-01", "2025-08-01",
                          "2025-09-01", "2025-10-01", "2025-11-01"]
    by = {(s["material"], s["region"], s["variable"]): s for s in p["series"]}
    assert {v for (_, _, v) in by} == set(VARIABLES)
    dy = by[("Dy", "rest", "price_multiple")]
    assert dy["role"] == "rest" and dy["unit"] == "x base"
    assert len(dy["p10"]) == len(dy["p50"]) == len(dy["p90"]) == 8
    assert all(a <= b <= c for a, b, c in zip(dy["p10"], dy["p50"], dy["p90"], strict=True))
    assert max(dy["p50"]) > 1.2  # the licence gap shows in the path
    # everything the table shows: the summary of every segment, notes, sources, provenance
    assert "Dy" in short_json["affected_materials"]
    assert short_json["sources"] and isinstance(short_json["notes"], list)
    assert short_json["provenance"]["horizon_months"] == 8
    assert short_json["sector_shortfall"]


@pytest.mark.usefixtures("user_dir")
def test_stress_csv_never_drops_a_table_silently() -> None:
    res = runner.invoke(app, ["stress", "china-2025-04", "--draws", "20", "--csv", "--paths"])
    assert res.exit_code == 2 and "--table" in res.stderr
    res = runner.invoke(app, ["stress", "china-2025-04", "--draws", "20", "--horizon", "6",
                              "--csv", "--table", "paths"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "variable,unit,material,region,month,date,p10,p50,p90"
    assert lines[1].split(",")[4:6] == ["0", "2025-04-01"]
    res = runner.invoke(app, ["stress", "china-2025-04", "--draws", "20", "--horizon", "6",
                              "--csv"])
    assert res.exit_code == 0 and NOT_RECOVERED in res.stdout and ",inf" not in res.stdout
    res = runner.invoke(app, ["stress", "china-2025-04", "--table", "paths", "--json"])
    assert res.exit_code == 2


# -- limits -----------------------------------------------------------------------------------


def test_horizon_bound_applies_whatever_the_source() -> None:
    assert max_horizon() == 600
    base = toy_baseline()
    sc = Scenario.from_yaml(GOLDEN)
    with pytest.raises(InputError, match=r"outside 1\.\.600"):
        simulate(sc, draws=2, horizon=601, baseline=base)
    with pytest.raises(InputError, match=r"outside 1\.\.600"):  # bypasses pydantic
        simulate(sc.with_horizon(100_000), draws=2, baseline=base)
    assert simulate(sc, draws=2, horizon=24, seed=0, baseline=base).dates.size == 24


def test_memory_estimate_refuses_and_suggests_fewer_draws() -> None:
    sc = Scenario.builtin("china-2025-04")
    need = estimate_bytes(1000, 36, 19)
    check_limits(sc, 1000, memory=2 * need)
    with pytest.raises(InputError, match="use at most") as exc:
        check_limits(sc, 1000, memory=need // 2)
    # the suggestion fits
    fit = int(str(exc.value).split("use at most ")[1].split(" ")[0].replace(",", ""))
    assert 0 < fit < 1000
    check_limits(sc, fit, memory=need // 2)


def test_seed_and_draws_must_be_valid() -> None:
    sc = Scenario.from_yaml(GOLDEN)
    with pytest.raises(InputError, match="non-negative"):
        simulate(sc, draws=2, seed=-1, baseline=toy_baseline())
    with pytest.raises(InputError, match="positive"):
        simulate(sc, draws=0, seed=1, baseline=toy_baseline())


@pytest.mark.usefixtures("user_dir")
def test_cli_limits_are_input_errors_before_work() -> None:
    for args, msg in ((["--seed", "-1"], "non-negative"),
                      (["--horizon", "100000"], "outside 1..600"),
                      (["--draws", "100000000"], "use at most")):
        t0 = time.perf_counter()
        res = runner.invoke(app, ["stress", "china-2025-04", *args])
        assert res.exit_code == 2, res.output
        assert msg in res.stderr and "internal error" not in res.stderr
        assert time.perf_counter() - t0 < 20  # refused before work: no run, no allocation


# -- scenarios show ---------------------------------------------------------------------------


def test_scenarios_show_prints_the_yaml_with_comments(tmp_path: Path) -> None:
    res = runner.invoke(app, ["scenarios", "show", "china-2025-04"])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("#")  # the file's comments come along
    mine = tmp_path / "mine.yaml"
    mine.write_text(res.stdout)
    assert Scenario.from_yaml(mine).hash() == Scenario.builtin("china-2025-04").hash()
    res = runner.invoke(app, ["scenarios", "show", "china-2025-4"])
    assert res.exit_code == 2 and "did you mean 'china-2025-04'" in res.stderr
