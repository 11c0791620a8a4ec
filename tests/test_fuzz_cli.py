"""Fuzzing the command line: random option values and names for every verb family never
produce a traceback or an internal error, only output or a one-line input error.

Sized by ``OREFLOW_FUZZ_EXAMPLES`` (a fifth of it per verb family here: each example runs a
command; a nightly run sets thousands).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from oreflow.cli import app

runner = CliRunner()
N = max(20, int(os.environ.get("OREFLOW_FUZZ_EXAMPLES", "200")) // 5)
FUZZ = settings(max_examples=N, deadline=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])

#: Text people (and attackers) type: names, near-names, numbers, junk.
words = st.one_of(
    st.sampled_from(["Dy", "dysprosium", "Dysprosim", "REO", "NdFeB", "Ga", "Japan", "JPN",
                     "EU", "MSP", "WLD", "china-2025-04", "gage-2023", "", " ", "-1", "nan",
                     "inf", "1e308", "../etc/passwd", "'; drop table x; --", "=cmd|' /C"]),
    st.text(max_size=12),
)
numbers = st.one_of(st.integers(-5, 40).map(str), st.sampled_from(["nan", "inf", "-inf",
                                                                  "1e9", "x", "", "0.5"]))
years = st.one_of(st.integers(1700, 2300).map(str), st.sampled_from(["inf", "x", "-1"]))


def _clean(args: list[str]) -> None:
    res = runner.invoke(app, args, env={"COLUMNS": "80"})
    out = res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), (args, res.exception)
    assert "internal error" not in out and "Traceback" not in out, (args, out)
    assert res.exit_code in (0, 2), (args, res.exit_code, out)


@FUZZ
@given(verb=st.sampled_from(["concentration", "history", "risk"]), material=words,
       year=years)
def test_chain_verbs_take_any_names_and_years(verb: str, material: str, year: str) -> None:
    args = [verb, "-m", material]
    if verb != "history":
        args += ["--year", year]
    _clean(args)


@FUZZ
@given(material=words, country=words, bloc=words)
def test_trace_and_blocs_take_any_names(material: str, country: str, bloc: str) -> None:
    _clean(["trace", "-m", material, "-c", country])
    _clean(["blocs", "--bloc", bloc])


@FUZZ
@given(scenario=words, draws=numbers, seed=numbers, horizon=numbers)
def test_stress_takes_any_options(scenario: str, draws: str, seed: str, horizon: str) -> None:
    # keep real runs small: large draw counts are the limit checks' business (test_exports)
    if draws.lstrip("-").isdigit() and int(draws) > 30:
        draws = "30"
    _clean(["stress", scenario, "--draws", draws, "--seed", seed, "--horizon", horizon])


@FUZZ
@given(sql=st.one_of(words, st.sampled_from([
    "select 1", "select * from countries", "with x as (delete from countries returning *) "
    "select * from x", "select * from read_csv('/etc/passwd')", "attach 'x.db'",
    "select 1; select 2", "set threads=64", "install httpfs"])), timeout=numbers)
def test_data_query_takes_any_text(sql: str, timeout: str) -> None:
    _clean(["data", "query", sql, "--timeout", timeout])


@FUZZ
@given(name=words)
def test_scenario_and_table_names(name: str) -> None:
    _clean(["scenarios", "show", name])
    _clean(["data", "show", name])
