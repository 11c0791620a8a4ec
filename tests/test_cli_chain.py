"""Supply-chain verbs on the embedded data, through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oreflow.cli import app

runner = CliRunner()


def run_json(*args: str) -> dict:
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.mark.usefixtures("user_dir")
class TestChainVerbs:
    def test_overview_china_shares_near_the_published_ones(self) -> None:
        # bottom-up shares (results, not inputs) within 5 points of the IEA's 2024 figures
        out = run_json("overview", "--year", "2024")
        ctrl = {r["material"]: r for r in out["controller"]}
        assert abs(ctrl["REO"]["mine"] - 0.69) <= 0.05
        assert abs(ctrl["REO"]["separation"] - 0.91) <= 0.05
        assert abs(ctrl["REO"]["magnet"] - 0.94) <= 0.05
        assert "usgs_mcs2026_ree" in out["sources"]["mine"]
        assert {"Nd", "Pr", "Dy", "Tb"} <= set(ctrl)

    def test_overview_table_prints(self) -> None:
        res = runner.invoke(app, ["overview"])
        assert res.exit_code == 0, res.output
        assert "separation" in res.stdout and "sources (mine)" in res.stdout

    def test_concentration_element_and_mineral(self) -> None:
        out = run_json("concentration", "--material", "Dy", "--stage", "mine", "--year", "2024")
        (row,) = out["concentration"]
        assert row["top_producer"] == "MMR"  # ionic clays: Myanmar leads Dy mining
        assert 0 < row["hhi"] <= 10_000
        out = run_json("concentration", "-m", "Ga")
        assert out["concentration"][0]["top_producer"] == "CHN"
        assert out["sources"] == {"stage_output": ["usgs_mcs2026_data"]}  # newest edition
        res = runner.invoke(app, ["concentration", "-m", "Dyy"])
        assert res.exit_code == 2 and "did you mean 'Dy'" in res.stderr

    def test_trace_dy_japan(self) -> None:
        out = run_json("trace", "--material", "Dy", "--country", "JPN", "--year", "2024")
        assert out["stage"] == "magnet" and out["node"] == "use"
        (ctrl,) = out["control"]
        assert ctrl["controller"] == "CHN"
        # more of Japan's Dy passed through China than was mined there (Myanmar's ore)
        assert ctrl["passed_through"] > 0.9 > ctrl["mined_there"]
        origin = {r["mined_in"]: r["share"] for r in out["origin"]}
        # Myanmar's ore (separated in China) is a large part; China's own share includes its
        # recycled scrap, which counts as of Chinese origin
        assert sorted(origin, key=origin.__getitem__)[-2:] == ["MMR", "CHN"]
        assert origin["MMR"] > 0.3
        assert sum(origin.values()) == pytest.approx(1.0)
        assert out["sources"]["mine"] == ["usgs_mcs2026_ree"]

    def test_trace_errors(self) -> None:
        res = runner.invoke(app, ["trace", "-m", "Dy", "-c", "JPX"])
        assert res.exit_code == 2 and "unknown country 'JPX'" in res.stderr
        res = runner.invoke(app, ["trace", "-m", "Dy", "-c", "NZL"])
        assert res.exit_code == 2 and "neither makes nor uses Dy" in res.stderr
        res = runner.invoke(app, ["trace", "-m", "Dy", "-c", "JPN", "--stage", "mine"])
        assert res.exit_code == 2 and "it has at:" in res.stderr and "magnet" in res.stderr
        res = runner.invoke(app, ["trace", "-m", "Dy", "-c", "ITA", "--node", "output"])
        assert res.exit_code == 2 and "no Dy output" in res.stderr

    def test_names_as_people_type_them(self) -> None:
        by_code = run_json("trace", "-m", "Dy", "-c", "JPN", "--year", "2024")
        for material, country in (("Dysprosium", "Japan"), ("dy", "jp"), ("DY", "japan")):
            got = run_json("trace", "-m", material, "-c", country, "--year", "2024")
            assert got["country"] == "JPN" and got["control"] == by_code["control"]
        res = runner.invoke(app, ["trace", "-m", "Dy", "-c", "Japn"])
        assert res.exit_code == 2 and "did you mean 'JPN' (Japan)" in res.stderr
        res = runner.invoke(app, ["concentration", "-m", "Dysprosim"])
        assert res.exit_code == 2 and "did you mean 'Dy' (dysprosium)" in res.stderr
        eu = run_json("blocs", "--bloc", "EU27", "--year", "2024")
        for typed in ("EU", "eu", "European Union"):
            got = run_json("blocs", "--bloc", typed, "--year", "2024")
            assert got["members"] == eu["members"] and got["balance"] == eu["balance"]

    def test_trace_a_consuming_country(self) -> None:
        # Germany makes almost no magnets but uses about 10,000 t: its Dy can be traced
        out = run_json("trace", "--material", "Dy", "--country", "DEU", "--year", "2024")
        assert out["node"] == "use" and out["stage"] == "magnet" and out["tonnes"] > 50
        (ctrl,) = out["control"]
        assert ctrl["passed_through"] > 0.95  # Dy was separated only in China in 2024
        origin = {r["mined_in"]: r["share"] for r in out["origin"]}
        assert origin["MMR"] > 0.3  # Myanmar's ore, separated in China

    def test_blocs_msp_without_china(self) -> None:
        out = run_json("blocs", "--bloc", "MSP", "--without", "CHN", "--year", "2024")
        cases = {(r["stage"], r["case"]): r for r in out["balance"]}
        assert set(cases) == {(s, c) for s in ("mine", "separation", "metal", "magnet")
                              for c in ("all", "ex_CHN")}
        mine_all, mine_ex = cases[("mine", "all")], cases[("mine", "ex_CHN")]
        assert mine_all["bloc_output"] == pytest.approx(77_400)  # USA+AUS+IND+… (MCS2026)
        assert mine_ex["controller_share"] == 0
        assert "USA" in out["members"] and "CHN" not in out["members"]

    def test_blocs_summary_and_user_file(self, tmp_path: Path) -> None:
        out = run_json("blocs")
        by = {r["bloc"]: r for r in out["summary"]}
        assert set(by) >= {"MSP", "G7", "QUAD", "EU27"}
        assert by["EU27"]["members"] == 27
        f = tmp_path / "mine.csv"
        f.write_text("bloc,iso3\nPACIFIC,AUS\nPACIFIC,JPN\nPACIFIC,USA\n")
        out = run_json("blocs", "--bloc-file", str(f), "--bloc", "PACIFIC")
        assert sorted(out["members"]) == ["AUS", "JPN", "USA"]
        bad = tmp_path / "bad.csv"
        bad.write_text("bloc,iso3\nX,AUS\nX,AUZ\n")
        res = runner.invoke(app, ["blocs", "--bloc-file", str(bad)])
        assert res.exit_code == 2 and f"{bad}:3: column 'iso3'" in res.stderr
        res = runner.invoke(app, ["blocs", "--bloc", "MPS"])
        assert res.exit_code == 2 and "did you mean 'MSP'" in res.stderr

    def test_user_bloc_files_are_checked(self, tmp_path: Path) -> None:
        # members by name; lines counted past a blank line; an aggregate, a bloc of the
        # data's name and an unreadable file are input errors, never internal ones
        f = tmp_path / "b.csv"
        f.write_text("bloc,iso3\nPAC,Japan\n\nPAC,australia\n")
        assert sorted(run_json("blocs", "--bloc-file", str(f), "--bloc", "PAC")["members"]) \
            == ["AUS", "JPN"]
        f.write_text("bloc,iso3\nPAC,AUS\n\nPAC,WLD\nMSP,JPN\n")
        res = runner.invoke(app, ["blocs", "--bloc-file", str(f)])
        assert res.exit_code == 2
        assert f"{f}:4: column 'iso3'" in res.stderr and "aggregate" in res.stderr
        assert f"{f}:5: column 'bloc'" in res.stderr and "a bloc in the data" in res.stderr
        for bad in (tmp_path, tmp_path / "latin1.csv"):
            if bad != tmp_path:
                bad.write_bytes("bloc,iso3\nPAC,C\xf4te\n".encode("latin-1"))
            res = runner.invoke(app, ["blocs", "--bloc-file", str(bad)])
            assert res.exit_code == 2 and "internal error" not in res.stderr, res.stderr

    def test_blocs_crma(self) -> None:
        out = run_json("blocs", "--bloc", "EU27", "--crma", "--year", "2024")
        benches = {(r["benchmark"], r["stage"]): r for r in out["crma"]}
        assert benches[("extraction", "mine")]["passes"] is False
        # every stage evaluates (the EU has final use at each stage it buys from)
        for stage in ("mine", "separation", "metal", "magnet"):
            b = benches[("single_third_country", stage)]
            assert b["value"] is not None and 0 < b["value"] <= 1, stage
        for stage in ("separation", "metal", "magnet"):
            assert benches[("single_third_country", stage)]["detail"] == "CHN"
        assert benches[("processing", "separation")]["value"] is not None

    def test_blocs_print_a_percentage_for_every_stage(self) -> None:
        for bloc in ("MSP", "EU27"):
            out = run_json("blocs", "--bloc", bloc, "--without", "CHN")
            for r in out["balance"]:
                assert r["self_sufficiency"] is not None, (bloc, r["stage"])
                assert 0 <= r["self_sufficiency"] < 1e6, (bloc, r["stage"])

    def test_risk_bottleneck(self) -> None:
        out = run_json("risk", "--eol-rir", "0.05")
        rows = out["risk"]
        assert sum(r["bottleneck"] for r in rows) == 1
        assert all(r["eol_rir"] == 0.05 for r in rows)
        res = runner.invoke(app, ["risk", "--eol-rir", "2"])
        assert res.exit_code == 2
