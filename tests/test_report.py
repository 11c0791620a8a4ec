"""The scenario report (oreflow.report.html/pdf, ``oreflow report``), ``--plot`` on the CLI
verbs, and the notebook views."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oreflow.cli import app
from oreflow.report.export import chromium_path
from oreflow.report.html import Report, render_html
from oreflow.simulate import Result, Scenario, simulate

cli = CliRunner()
needs_chromium = pytest.mark.skipif(chromium_path() is None,
                                    reason="the PDF report is printed by Chromium; none "
                                           "installed")
DRONE = Path(__file__).resolve().parents[1] / "src" / "oreflow" / "examples" / "bom" / \
    "drone.yaml"


@pytest.fixture(scope="module")
def result() -> Result:
    return simulate(Scenario.builtin("china-2025-04"), draws=12, seed=5)


@pytest.fixture(scope="module")
def report(result: Result) -> Report:
    from oreflow.exposure import Bom, impact

    return render_html(result, exposure=impact(Bom.example("drone"), result, seed=5))


def test_report_is_self_contained_with_every_part(report: Report, result: Result) -> None:
    page = report.html
    assert page.count("<script") >= 1
    assert not re.search(r"<script[^>]+src=", page)  # Plotly.js inlined, nothing fetched
    assert page.count("plotly.min.js") <= 1 and "cdn.plot.ly/plotly" not in page
    prov = result.provenance
    for text in ("Headline: price, shortfall and recovery", "Shortfall by region and sector",
                 "Concentration context", "Bill of materials", "Provenance",
                 str(prov["scenario_hash"]), str(prov["dataset_version"]),
                 str(prov["package_version"]), "no18-2025", "cn_2025_no18"):
        assert text in page, text
    # one fan chart per affected material, plus shortfall, concentration, stock-out
    fans = [k for k in report.figures if k.startswith("fan:")]
    assert "fan:Dy" in fans and "fan:Ce" not in fans
    assert page.count('class="plotly-graph-div"') == len(report.figures)
    # a source from the sources table appears with its title
    assert "Mineral Commodity Summaries" in page or "USGS" in page


def test_report_headline_table_is_what_stress_prints(report: Report, result: Result) -> None:
    from oreflow.headline import affected, headline_table

    table = headline_table(affected(result.summary()))
    first = table.iloc[0]
    assert f"<td>{first['peak price ×']}</td>" in report.html


@pytest.mark.usefixtures("user_dir")
def test_cli_report_html(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    res = cli.invoke(app, ["report", "china-2025-04", "--draws", "8", "--seed", "2",
                           "--bom", str(DRONE), "--format", "html", "--out", str(out)])
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=[\"']?https?:", page)
    assert "<footer>" in page and "seed · draws</td><td>2 · 8" in page
    assert "tactical_drone" in page
    # a policy the scenario cites is named in the sources, not left as a bare id
    assert "policy: " in page and "not in the data" not in page


@needs_chromium
@pytest.mark.usefixtures("user_dir")
def test_cli_report_pdf_has_pages(tmp_path: Path) -> None:
    import pypdf

    out = tmp_path / "r.pdf"
    res = cli.invoke(app, ["report", "china-2025-04", "--draws", "8", "--format", "pdf",
                           "--out", str(out)])
    assert res.exit_code == 0, res.output
    reader = pypdf.PdfReader(io.BytesIO(out.read_bytes()))
    assert len(reader.pages) >= 2
    text = "".join(p.extract_text() or "" for p in reader.pages)
    assert "Provenance" in text


@pytest.mark.usefixtures("user_dir")
@pytest.mark.parametrize("args, words", [
    (["nosuch", "--out", "{d}/r.html"], "unknown built-in scenario 'nosuch'"),
    (["china-2025-04", "--out", "{d}/r.pdf"], "ending in .html"),
    (["china-2025-04", "--format", "pdf", "--out", "{d}/r.html"], "ending in .pdf"),
    (["china-2025-04", "--out", "{d}/missing/r.html"], "does not exist"),
    (["china-2025-04", "--out", "{d}/r.html", "--bom", "{d}/bad.yaml"], "bad.yaml"),
    (["china-2025-04", "--out", "{d}/r.html", "--seed", "-1"], "--seed"),
])
def test_cli_report_bad_input_exits_2_and_writes_nothing(tmp_path: Path, args: list[str],
                                                         words: str) -> None:
    (tmp_path / "bad.yaml").write_text("name: x\nproducts: [\n", encoding="utf-8")
    res = cli.invoke(app, ["report", *[a.format(d=tmp_path) for a in args]])
    assert res.exit_code == 2, res.output
    assert words in res.stderr
    assert res.stderr.splitlines()[0].startswith("error: ")
    assert not list(tmp_path.rglob("r.*"))


# -- --plot on the verbs ------------------------------------------------------------------


@pytest.mark.usefixtures("user_dir")
@pytest.mark.parametrize("args, word", [
    (["stress", "china-2025-04", "--draws", "8", "--plot-material", "Tb"], "Tb: price"),
    (["concentration", "-m", "REO"], "share of each stage"),
    (["trace", "-c", "JPN"], "by stage"),
    (["exposure", "--example", "drone", "--scenario", "china-2025-04", "--draws", "8"],
     "months to stock-out"),
])
def test_cli_plot_writes_an_offline_html_figure(tmp_path: Path, args: list[str],
                                                word: str) -> None:
    out = tmp_path / "fig.html"
    res = cli.invoke(app, [*args, "--plot", str(out), "--json"])
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    assert word in page and not re.search(r"<script[^>]+src=[\"']?https?:", page)


@pytest.mark.usefixtures("user_dir")
@pytest.mark.parametrize("args", [
    ["stress", "china-2025-04", "--draws", "4"],
    ["concentration"],
    ["trace", "-c", "JPN"],
    ["exposure", "--example", "drone", "--scenario", "china-2025-04", "--draws", "4"],
    ["validate", "gage-2023", "--draws", "10"],
])
def test_cli_bad_plot_path_exits_2_before_work(tmp_path: Path, args: list[str]) -> None:
    res = cli.invoke(app, [*args, "--plot", str(tmp_path / "fig.gif")])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and "%" not in ln]
    assert lines == [f"error: --plot {tmp_path / 'fig.gif'}: use a .html, .png, .svg or "
                     ".pdf file name"]


@pytest.mark.usefixtures("user_dir")
def test_cli_exposure_plot_needs_a_scenario(tmp_path: Path) -> None:
    res = cli.invoke(app, ["exposure", "--example", "drone", "--plot",
                           str(tmp_path / "x.html")])
    assert res.exit_code == 2 and "--scenario" in res.stderr


# -- notebooks -----------------------------------------------------------------------------


def test_result_repr_html_has_the_table_and_the_notebook_view_a_figure(result: Result) -> None:
    from oreflow.report.notebook import result_html

    own = result._repr_html_()
    assert "peak price ×" in own and str(result.provenance["scenario_hash"]) in own
    assert "plotly-graph-div" not in own  # the simulator draws nothing
    page = result_html(result)
    assert page.startswith(own) and page.count('class="plotly-graph-div"') == 1


def test_science_modules_do_not_load_plotly_on_import_or_display(result: Result) -> None:
    import subprocess
    import sys

    code = ("import sys, oreflow.simulate, oreflow.plan, oreflow.exposure, oreflow.chain; "
            "from oreflow.simulate import Scenario, simulate; "
            "simulate(Scenario.builtin('full-embargo'), draws=5, seed=0)._repr_html_(); "
            "print('plotly' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
