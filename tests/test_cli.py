"""CLI through Typer's runner: data verbs, output formats, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from oreflow.cli import app
from oreflow.data.store import Store

runner = CliRunner()
HEADER = "year,stage,material,iso3,basis,vintage,tonnes,estimate,source_id\n"


def test_data_list_json(toy_cli: Store) -> None:
    res = runner.invoke(app, ["data", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["table"]: r for r in json.loads(res.stdout)}
    assert rows["stage_output"]["rows"] == 6
    assert rows["stage_output"]["vintages"] == "A, B"


def test_data_show_filters_and_csv(toy_cli: Store) -> None:
    res = runner.invoke(app, ["data", "show", "stage_output", "iso3=AUS", "--csv"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("year,stage")
    assert len(lines) == 3
    res = runner.invoke(app, ["data", "show", "stage_output", "--latest", "--json",
                              "--columns", "iso3,tonnes"])
    assert json.loads(res.stdout) == [
        {"iso3": "CHN", "tonnes": 270000.0}, {"iso3": "USA", "tonnes": 45500.0},
        {"iso3": "AUS", "tonnes": 29000.0},
    ]
    res = runner.invoke(app, ["data", "show", "stage_output"])
    assert res.exit_code == 0 and "stage_output (6 rows)" in res.stdout and "CHN" in res.stdout


def test_unknown_names_get_suggestions(toy_cli: Store) -> None:
    res = runner.invoke(app, ["data", "show", "stage_outpt"])
    assert res.exit_code == 2
    assert "did you mean 'stage_output'" in res.stderr
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["data", "show", "stage_output", "iso3=CHA"])
    assert res.exit_code == 2 and "unknown country 'CHA'" in res.stderr
    res = runner.invoke(app, ["data", "show", "stage_output", "isso3=CHN"])
    assert res.exit_code == 2 and "did you mean 'iso3'" in res.stderr


def test_sources_traces_figure(toy_cli: Store) -> None:
    res = runner.invoke(app, ["data", "sources", "stage_output", "2024/mine/REO/AUS", "--json"])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    assert row["tonnes"] == 29000 and row["title"] == "MCS B"
    assert row["url"] == "https://example.org/b"


def test_query_and_refusal(toy_cli: Store) -> None:
    res = runner.invoke(app, ["data", "query", "select count(*) as n from stage_output",
                              "--json"])
    assert json.loads(res.stdout) == [{"n": 6}]
    res = runner.invoke(app, ["data", "query", "drop table countries"])
    assert res.exit_code == 2 and "only SELECT" in res.stderr


def test_import_bad_file_is_rejected_whole(toy_cli: Store, tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(HEADER + "2024,mine,REO,USA,production,B,1,,usgs_b\n"
                 "2024,mine,REO,AUS,production,B,-3,,usgs_b\n"
                 "2024,mine,REO,XYZ,production,B,3,,usgs_b\n")
    res = runner.invoke(app, ["data", "import", str(f), "--table", "stage_output"])
    assert res.exit_code == 2
    err = res.stderr.strip().splitlines()
    assert f"{f}:3: column 'tonnes'" in err[0]
    assert any(f"{f}:4: column 'iso3'" in line for line in err)
    assert err[-1].endswith("nothing was written")
    assert not toy_cli.user_file("stage_output").exists()


def test_import_dry_run_then_real(toy_cli: Store, tmp_path: Path) -> None:
    f = tmp_path / "ok.csv"
    f.write_text(HEADER + "2025,mine,REO,AUS,production,B,31000,,usgs_b\n")
    res = runner.invoke(app, ["data", "import", str(f), "-t", "stage_output", "--dry-run"])
    assert res.exit_code == 0 and "would import 1 rows" in res.stdout
    assert not toy_cli.user_file("stage_output").exists()
    res = runner.invoke(app, ["data", "import", str(f), "-t", "stage_output", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)[0]["added"] == 1
    assert toy_cli.user_file("stage_output").exists()


def test_diff_verb(toy_cli: Store) -> None:
    res = runner.invoke(app, ["data", "diff", "stage_output", "--from", "A", "--to", "B",
                              "--json"])
    rows = {r["iso3"]: r for r in json.loads(res.stdout)}
    assert rows["AUS"]["tonnes_from"] == 13000 and rows["AUS"]["tonnes_to"] == 29000
    res = runner.invoke(app, ["data", "diff", "countries", "--from", "A", "--to", "B"])
    assert res.exit_code == 2 and "no vintages" in res.stderr


def test_missing_file_and_debug(toy_cli: Store, tmp_path: Path) -> None:
    res = runner.invoke(app, ["data", "import", str(tmp_path / "nope.csv"), "-t", "sources"])
    assert res.exit_code == 2 and "no such file" in res.stderr
    res = runner.invoke(app, ["--debug", "data", "show", "nope"])
    assert res.exit_code != 0 and res.exception is not None


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    # `oreflow overview | head -1`: exit 0 and nothing on stderr, as other tools do (Rich's
    # own handling exits with 1)
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", "from oreflow.cli import main; main()", "overview"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "100"})
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0, err
    assert b"Traceback" not in err and b"error" not in err
