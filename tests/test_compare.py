"""Scenarios side by side: ``oreflow.simulate.compare`` and ``oreflow compare``."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from typer.testing import CliRunner

from oreflow.cli import app
from oreflow.errors import InputError
from oreflow.simulate import NOT_RECOVERED, compare, simulate
from oreflow.simulate.compare import METRICS

runner = CliRunner()
THREE = ["china-2025-04", "china-2025-10", "full-embargo"]


@pytest.fixture(scope="module")
def tidy() -> pd.DataFrame:
    return compare(THREE, draws=60, seed=4, materials=["Dy", "La"], segments=["rest", "CHN"])


def test_compare_returns_a_tidy_frame(tidy: pd.DataFrame) -> None:
    assert list(tidy.columns) == ["scenario", "material", "region", "role", "metric", "unit",
                                  "p10", "p50", "p90", "diff_p50"]
    assert list(dict.fromkeys(tidy["scenario"])) == THREE
    assert set(tidy["metric"]) == set(METRICS)
    assert set(tidy["role"]) == {"rest", "controller"}  # the label CHN names the controller
    # one row per scenario, material, segment and metric
    assert len(tidy) == 3 * 2 * 2 * len(METRICS)
    assert not tidy.duplicated(["scenario", "material", "role", "metric"]).any()
    fin = tidy[tidy[["p10", "p50", "p90"]].apply(lambda c: c.map(math.isfinite)).all(axis=1)]
    assert (fin["p10"] <= fin["p50"]).all() and (fin["p50"] <= fin["p90"]).all()
    # differences are to the first scenario
    ref = tidy[tidy["scenario"] == THREE[0]]
    assert (ref["diff_p50"] == 0).all()
    key = ["material", "role", "metric"]
    emb = tidy[tidy["scenario"] == "full-embargo"].merge(ref, on=key, suffixes=("", "_ref"))
    fin = emb[emb["p50"].map(math.isfinite) & emb["p50_ref"].map(math.isfinite)]
    assert fin["diff_p50"].tolist() == pytest.approx((fin["p50"] - fin["p50_ref"]).tolist())
    assert tidy.attrs["provenance"]["full-embargo"]["seed"] == 4


def test_compare_matches_single_runs(tidy: pd.DataFrame) -> None:
    """Each scenario's numbers are those of its own run with the same draws and seed."""
    summ = simulate("full-embargo", draws=60, seed=4).summary()
    want = summ[(summ["material"] == "La") & (summ["role"] == "rest")].iloc[0]
    got = tidy[(tidy["scenario"] == "full-embargo") & (tidy["material"] == "La")
               & (tidy["role"] == "rest") & (tidy["metric"] == "peak_price_multiple")].iloc[0]
    assert got["p50"] == pytest.approx(want["peak_price_multiple_p50"])
    # an embargo on everything moves La; the April 2025 list does not include it
    la = tidy[(tidy["material"] == "La") & (tidy["role"] == "rest")
              & (tidy["metric"] == "peak_price_multiple")].set_index("scenario")
    assert la.loc["full-embargo", "p50"] > 1.5 > la.loc["china-2025-04", "p90"]


def test_compare_rejects_unknown_names() -> None:
    with pytest.raises(InputError, match="did you mean 'Dy'"):
        compare(THREE[:2], draws=5, materials=["Dyy"])
    with pytest.raises(InputError, match="unknown segment"):
        compare(THREE[:2], draws=5, segments=["outside"])
    with pytest.raises(InputError, match="at least one"):
        compare([], draws=5)
    with pytest.raises(InputError, match="non-negative"):
        compare(THREE[:2], draws=5, seed=-3)


@pytest.mark.usefixtures("user_dir")
def test_cli_compare_prints_one_readable_table_at_80_columns() -> None:
    res = runner.invoke(app, ["compare", *THREE, "--draws", "40"], env={"COLUMNS": "80"},
                        terminal_width=80)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "material" in line)
    assert all(name in header for name in THREE)
    assert sum("material" in line for line in lines) == 1  # one table
    text = res.stdout
    assert "Dy" in text and "peak price×" in text and "Δ +" in text


@pytest.mark.usefixtures("user_dir")
def test_cli_compare_json_and_csv() -> None:
    res = runner.invoke(app, ["compare", "china-2025-04", "full-embargo", "--draws", "30",
                              "--materials", "Dy", "--horizon", "6", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["reference"] == "china-2025-04" and out["scenarios"] == ["china-2025-04",
                                                                        "full-embargo"]
    rows = out["rows"]
    assert {r["material"] for r in rows} == {"Dy"} and {r["role"] for r in rows} == {"rest"}
    rec = [r[q] for r in rows if r["metric"] == "months_to_recovery"
           for q in ("p10", "p50", "p90")]
    assert NOT_RECOVERED in rec and None not in rec  # six months: no recovery in sight
    assert all(v == NOT_RECOVERED or isinstance(v, int) for v in rec)
    res = runner.invoke(app, ["compare", "china-2025-04", "full-embargo", "--draws", "30",
                              "-m", "Dy,Tb", "--segment", "all", "--csv"])
    assert res.exit_code == 0, res.output
    head = res.stdout.splitlines()[0]
    assert head == "scenario,material,region,role,metric,unit,p10,p50,p90,diff_p50"
    assert {"CHN", "rest"} <= {line.split(",")[2] for line in res.stdout.splitlines()[1:]}


@pytest.mark.usefixtures("user_dir")
def test_cli_compare_errors() -> None:
    res = runner.invoke(app, ["compare", "china-2025-04"])
    assert res.exit_code == 2 and "two or more" in res.stderr
    res = runner.invoke(app, ["compare", "china-2025-04", "full-embargoo"])
    assert res.exit_code == 2 and "did you mean 'full-embargo'" in res.stderr
    res = runner.invoke(app, ["compare", "china-2025-04", "full-embargo", "--seed", "-1"])
    assert res.exit_code == 2 and "non-negative" in res.stderr
