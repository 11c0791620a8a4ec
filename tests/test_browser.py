"""The dashboard in a real browser: Playwright drives Debian's headless Chromium against
``oreflow serve`` on loopback, with every request beyond this server blocked (the pages and
the world map must work offline). Skipped only where no ``chromium`` is on PATH."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="no chromium on PATH: browser tests need Debian's "
                                       "chromium (apt-get install chromium)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
BAD_BOM = "product: drone\nparts: [this is not a bill of materials\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``oreflow serve`` in a subprocess on a free loopback port and a temporary data dir."""
    port = _free_port()
    data = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
    log = (data / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from oreflow.cli import main; main()", "serve",
         "--port", str(port), "--data-dir", str(data), "--workers", "1"],
        env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/api/health", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError((data / "serve.log").read_text()) from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser: Any, server: str) -> Iterator[Any]:
    """A page that may reach only the server: any other request is aborted and recorded."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    pg.outside = []  # type: ignore[attr-defined]

    def guard(route: Any) -> None:
        if route.request.url.startswith(server) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            pg.outside.append(route.request.url)  # type: ignore[attr-defined]
            route.abort()

    pg.route("**/*", guard)
    pg.set_default_timeout(30_000)
    yield pg
    assert pg.outside == []  # type: ignore[attr-defined]
    ctx.close()


def _charts(page: Any, n: int) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}")


@pytest.mark.parametrize(("path", "charts"), [("/", 2), ("/supply-chain", 1)])
def test_page_draws_its_charts_offline(page: Any, server: str, path: str, charts: int) -> None:
    page.goto(server + path)
    _charts(page, charts)
    assert page.locator(".js-plotly-plot svg").count() >= charts


def test_world_map_draws_country_outlines_without_network(page: Any, server: str) -> None:
    page.goto(server + "/?stage=mine")
    page.wait_for_function("document.querySelectorAll('#fig-map .choroplethlocation').length > 5")
    # filled country shapes, drawn from the locally served outlines
    assert page.locator("#fig-map path.choroplethlocation").count() > 5


def test_scenario_builder_runs_to_fans_and_pdf_report(page: Any, server: str) -> None:
    from pypdf import PdfReader

    page.goto(server + "/scenario")
    page.wait_for_function("document.getElementById('materials').value.includes('Dy')")
    assert page.locator("#base").input_value() == "china-2025-04"
    page.fill("#draws", "20")
    page.click("#run")
    page.wait_for_selector("#results:not([hidden])", timeout=60_000)
    _charts(page, 2)
    assert page.locator("#fans .js-plotly-plot").count() >= 1
    assert page.locator("#shortfall .js-plotly-plot").count() == 1
    assert page.locator("#headline td").count() > 0
    with page.expect_download(timeout=90_000) as dl:
        page.click("#pdf")
    data = Path(dl.value.path()).read_bytes()
    assert len(PdfReader(io.BytesIO(data)).pages) >= 2


def test_edited_scenario_is_validated_with_a_clear_error(page: Any, server: str) -> None:
    page.goto(server + "/scenario")
    page.wait_for_function("document.getElementById('materials').value.includes('Dy')")
    page.fill("#materials", "Dy, Kryptonite")
    page.click("#validate")
    msg = page.locator("#message.error")
    msg.wait_for()
    assert "Kryptonite" in msg.inner_text()
    assert "Traceback" not in page.content()


def test_bom_upload_shows_results_and_bad_upload_an_error(page: Any, server: str,
                                                          tmp_path: Path) -> None:
    from importlib import resources

    good = tmp_path / "drone.yaml"
    good.write_text(resources.files("oreflow").joinpath("examples", "bom", "drone.yaml")
                    .read_text(encoding="utf-8"), encoding="utf-8")
    page.goto(server + "/exposure")
    page.fill("#draws", "20")
    page.set_input_files("#bom-file", str(good))
    page.click("#exposure-run")
    page.wait_for_selector("#results:not([hidden])", timeout=60_000)
    _charts(page, 1)
    assert page.locator("#units td").count() > 0

    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_BOM, encoding="utf-8")
    page.set_input_files("#bom-file", str(bad))
    page.click("#exposure-run")
    msg = page.locator("#message.error")
    msg.wait_for()
    text = msg.inner_text()
    assert "bom" in text.lower() and "\n" not in text.strip()
    assert "Traceback" not in page.content()


def test_figure_source_link_leads_to_its_entry(page: Any, server: str) -> None:
    page.goto(server + "/")
    link = page.locator("#fig-map").locator("xpath=..").locator(".sources a").first
    sid = link.inner_text()
    link.click()
    page.wait_for_url(f"**/data/sources/{sid}")
    assert page.locator(f"h1[id='{sid}']").count() == 1


def test_phone_width_has_no_horizontal_overflow(browser: Any, server: str) -> None:
    ctx = browser.new_context(viewport={"width": 375, "height": 800})
    pg = ctx.new_page()
    try:
        for path in ("/", "/scenario", "/data/sources", "/data?table=stage_output"):
            pg.goto(server + path)
            if path == "/":
                _charts(pg, 2)
            wide = pg.evaluate("document.documentElement.scrollWidth")
            assert wide <= 375, (path, wide)
    finally:
        ctx.close()


def _file_page_offline(browser: Any, out: Path) -> tuple[Any, Any, list[str]]:
    """A new context and page that may load ``out`` only: every other request is aborted and
    its URL collected (the list returned). Close the context when done."""
    ctx = browser.new_context()
    pg = ctx.new_page()
    outside: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url == out.as_uri():
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    pg.route("**/*", guard)
    return ctx, pg, outside


def test_self_contained_html_map_draws_offline(browser: Any, tmp_path: Path) -> None:
    """write_figure's .html of the world map inlines the outlines: drawn with every
    request but the file itself blocked."""
    from oreflow.chain.analysis import concentration
    from oreflow.report.export import write_figure
    from oreflow.report.figures import stage_share_map

    out = write_figure(stage_share_map(concentration("REO"), "mine"), tmp_path / "map.html")
    ctx, pg, outside = _file_page_offline(browser, out)
    try:
        pg.goto(out.as_uri())
        pg.wait_for_function("document.querySelectorAll('.choroplethlocation').length > 5",
                             timeout=30_000)
        assert outside == []
    finally:
        ctx.close()


def test_static_map_export_uses_the_shipped_outlines(tmp_path: Path) -> None:
    """write_figure(.png) of the world map hands kaleido the package's outlines (without
    them kaleido fetches from a CDN) and leaves plotly's default as it was."""
    import plotly.io as pio

    from oreflow.chain.analysis import concentration
    from oreflow.report.export import write_figure
    from oreflow.report.figures import stage_share_map

    before = pio.defaults.topojson
    out = write_figure(stage_share_map(concentration("REO"), "mine"), tmp_path / "map.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    assert pio.defaults.topojson == before


def test_bundle_draws_every_kind_of_figure(browser: Any, tmp_path: Path) -> None:
    """One page with oreflow's Plotly.js bundle inlined once and a figure of each kind (fan
    and shortfall of a small run, stage bars and map, Sankey, ranking with error bars):
    every one draws, with no script error and nothing fetched."""
    import pandas as pd

    from oreflow.answer import Answer
    from oreflow.chain.analysis import concentration, trace
    from oreflow.report.export import figure_html, geo_preload_script
    from oreflow.report.figures import (
        fan_chart,
        ranking_figure,
        shortfall_figure,
        stage_share_bars,
        stage_share_map,
        trace_sankey,
    )
    from oreflow.report.plotlyjs import bundle_path, script_tag
    from oreflow.simulate import Scenario, simulate

    run = simulate(Scenario.builtin("china-2025-04"), draws=8, seed=1)
    conc = concentration("REO")
    ranking = pd.DataFrame({"material": ["Dy", "Tb"], "expected_loss_musd_per_yr": [50.0, 5.0],
                            "loss_musd_p10": [10.0, 1.0], "loss_musd_p50": [100.0, 9.0],
                            "loss_musd_p90": [400.0, 30.0]})
    figs = [fan_chart(run, "Tb"), shortfall_figure(run), stage_share_bars(conc),
            stage_share_map(conc, "mine"), trace_sankey(trace("REO", "JPN", year=2024)),
            ranking_figure(Answer({"ranking": ranking}, ["src"], meta={"importer": "USA"}))]
    head = script_tag(figs)
    assert bundle_path().read_text("utf-8") in head  # the bundle, not the full Plotly.js
    out = tmp_path / "all.html"
    out.write_text("<!doctype html><html><head><meta charset='utf-8'>" + head
                   + geo_preload_script() + "</head><body>"
                   + "".join(figure_html(f, full_html=False, include_plotlyjs=False)
                             for f in figs) + "</body></html>", encoding="utf-8")
    ctx, pg, outside = _file_page_offline(browser, out)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        pg.goto(out.as_uri())
        pg.wait_for_function(
            "[...document.querySelectorAll('.plotly-graph-div')].every("
            "d => d.querySelector('.main-svg'))", timeout=30_000)
        assert pg.locator(".plotly-graph-div").count() == len(figs)
        assert pg.locator(".choroplethlocation").count() > 5
        assert pg.locator(".sankey-node").count() > 3
        assert pg.evaluate("Plotly.version") == "4.1.1"
        assert errors == [] and outside == []
    finally:
        ctx.close()
