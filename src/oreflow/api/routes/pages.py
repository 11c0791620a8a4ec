"""The dashboard: server-rendered pages over the library, drawn by the browser with Plotly.js.

One concern: the HTML pages of ``oreflow serve``. Pages are Jinja2 templates
(``api/templates``) with a little vanilla JavaScript (``api/static/dashboard.js``). Every
chart is a figure of :mod:`oreflow.report.figures`: the server builds it (here for the
dataset's figures, in a job with ``figures: true`` for runs) and the browser only hands its
JSON to ``Plotly.newPlot``. Plotly.js (oreflow's bundle of the trace types its figures use,
:mod:`oreflow.report.plotlyjs`: a third of the full file, so a first visit compiles less)
and the world outlines are served by the app itself from the package (long cache headers,
versioned URLs): no page names an outside URL, so the dashboard works offline.

Pages: ``/`` overview (world map and bars of stage shares, concentration table),
``/supply-chain`` (Sankey), ``/scenario`` (builder and run), ``/planner``, ``/exposure``,
``/data`` (tables, rows, sources; ``/data/sources/<id>`` one source).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from oreflow import __version__
from oreflow.errors import OreflowError
from oreflow.report.plotlyjs import PLOTLYJS_VERSION, bundle_path

__all__ = ["PAGES", "PLOTLY_URL", "TOPOJSON_URL", "mount", "router"]

router = APIRouter(include_in_schema=False)

#: Where the app serves oreflow's Plotly.js bundle (versioned by plotly.js and oreflow:
#: cached for a year).
PLOTLY_URL = f"/assets/plotly-oreflow-{PLOTLYJS_VERSION}-{__version__}.min.js"
#: Directory URL Plotly.js is told to load ``world_110m.json`` from (``topojsonURL``).
TOPOJSON_URL = f"/assets/topojson-{__version__}/"
_LONG_CACHE = {"Cache-Control": "public, max-age=31536000, immutable"}

#: Navigation: path, label, one-line explanation.
PAGES: tuple[tuple[str, str], ...] = (
    ("/", "Overview"), ("/supply-chain", "Supply chain"), ("/scenario", "Scenario builder"),
    ("/planner", "Planner"), ("/exposure", "Exposure"), ("/data", "Data & sources"))

_MATERIALS = ("REO", "Nd", "Pr", "Dy", "Tb", "Sm", "Y", "Gd", "Lu")
_STAGES = ("mine", "separation", "metal", "magnet")
_COUNTRIES = ("JPN", "USA", "DEU", "KOR", "FRA", "GBR", "IND", "VNM", "ITA", "CHN")


def _package_dir(name: str) -> Path:
    return Path(str(resources.files("oreflow.api") / name))


@cache
def _templates() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("oreflow.api", "templates"),
        autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)
    env.globals.update(pages=PAGES, plotly_url=PLOTLY_URL, topojson_url=TOPOJSON_URL,
                       version=__version__)
    return env


def _page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    html = _templates().get_template(name).render(path=request.url.path, **ctx)
    return HTMLResponse(html, status_code=status)


def _error(request: Request, exc: OreflowError) -> HTMLResponse:
    """An input error as the page's one-line message (status 400), never a traceback."""
    lines = [str(line) for line in exc.lines() if str(line).strip()]
    return _page(request, "error.html", status=400,
                 message=lines[0] if lines else type(exc).__name__)


def _figure(fig: Any, key: str) -> dict[str, Any]:
    """A figure for a template: its id, JSON (for ``Plotly.newPlot``) and source ids."""
    meta = fig.layout.meta or {}
    return {"id": key, "json": fig.to_json(), "sources": list(meta.get("sources", []))}


def _cached(request: Request, key: tuple[Any, ...], compute: Any) -> Any:
    return request.app.state.cache.get(("page", *key), compute)


def _records(df: Any) -> tuple[list[str], list[list[Any]]]:
    from oreflow.jsonview import finite

    cols = [str(c) for c in df.columns]
    return cols, [[finite(v) for v in row] for row in df.itertuples(index=False)]


# -- pages --------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def overview(request: Request, material: Annotated[str, Query()] = "REO",
             stage: Annotated[str, Query()] = "mine",
             year: Annotated[int | None, Query()] = None) -> HTMLResponse:
    """World map of a stage's country shares, bars of every stage, concentration table."""
    from oreflow.data.catalog import DEFAULT_YEAR

    yr = year or DEFAULT_YEAR

    def compute() -> dict[str, Any]:
        from oreflow.chain.analysis import concentration
        from oreflow.report.figures import stage_share_bars, stage_share_map

        ans = concentration(material, yr)
        table = ans.tables["concentration"]
        cols = ["stage", "unit", "total", "top_producer", "top_share", "cr3", "hhi"]
        t = table[[c for c in cols if c in table.columns]].copy()
        return {"map": _figure(stage_share_map(ans, stage), "fig-map"),
                "bars": _figure(stage_share_bars(ans), "fig-bars"),
                "conc": _records(t)}

    try:
        ctx = _cached(request, ("overview", material, stage, yr), compute)
    except OreflowError as exc:
        return _error(request, exc)
    return _page(request, "overview.html", materials=_MATERIALS, stages=_STAGES,
                 material=material, stage=stage, year=yr, **ctx)


@router.get("/supply-chain", response_class=HTMLResponse)
def supply_chain(request: Request, material: Annotated[str, Query()] = "REO",
                 country: Annotated[str, Query()] = "JPN",
                 year: Annotated[int | None, Query()] = None) -> HTMLResponse:
    """Sankey of where a country's material comes from, stage by stage."""
    from oreflow.data.catalog import DEFAULT_YEAR

    yr = year or DEFAULT_YEAR

    def compute() -> dict[str, Any]:
        from oreflow.chain.analysis import trace
        from oreflow.report.figures import trace_sankey

        ans = trace(material, country.upper(), year=yr)
        return {"sankey": _figure(trace_sankey(ans), "fig-sankey"),
                "tonnes": float(ans.meta["tonnes"]),
                "unit": str(ans.meta.get("unit", "t")).replace("_", " "),
                "node": str(ans.meta.get("node")), "stage": str(ans.meta.get("stage"))}

    try:
        ctx = _cached(request, ("trace", material, country.upper(), yr), compute)
    except OreflowError as exc:
        return _error(request, exc)
    return _page(request, "supply_chain.html", materials=_MATERIALS, countries=_COUNTRIES,
                 material=material, country=country.upper(), year=yr, **ctx)


@router.get("/scenario", response_class=HTMLResponse)
def scenario(request: Request) -> HTMLResponse:
    """The scenario builder: a built-in to start from, key fields, run, fans, reports."""
    from oreflow.simulate import Scenario, list_builtin

    def compute() -> list[dict[str, str]]:
        return [{"name": n, "title": Scenario.builtin(n).title or ""} for n in list_builtin()]

    return _page(request, "scenario.html", builtins=_cached(request, ("builtins",), compute),
                 default="china-2025-04")


@router.get("/planner", response_class=HTMLResponse)
def planner(request: Request) -> HTMLResponse:
    """The planner: bloc, targets and budget; a plan job draws timeline and frontier."""
    return _page(request, "planner.html")


@router.get("/exposure", response_class=HTMLResponse)
def exposure(request: Request) -> HTMLResponse:
    """A bill of materials under a scenario: months to stock-out, units at risk."""
    from oreflow.exposure import list_examples
    from oreflow.simulate import list_builtin

    return _page(request, "exposure.html", examples=list_examples(),
                 scenarios=list_builtin())


@router.get("/data", response_class=HTMLResponse)
def data(request: Request, table: Annotated[str | None, Query()] = None,
         offset: Annotated[int, Query(ge=0)] = 0,
         limit: Annotated[int, Query(ge=1, le=500)] = 50) -> HTMLResponse:
    """The tables, and one table's rows a page at a time."""
    from oreflow.data.catalog import Catalog
    from oreflow.data.store import Store
    from oreflow.errors import unknown

    tables = _cached(request, ("tables",), lambda: Catalog.default().summary())
    rows: dict[str, Any] | None = None
    if table is not None:
        store = Store.default()
        if table not in store.tables():
            return _error(request, unknown("table", table, store.tables()))
        df = _cached(request, ("table", table), lambda: store.table(table))
        cols, page = _records(df.iloc[offset:offset + limit])
        rows = {"name": table, "columns": cols, "rows": page, "total": len(df),
                "offset": offset, "limit": limit,
                "source_col": cols.index("source_id") if "source_id" in cols else -1}
    return _page(request, "data.html", tables=tables, rows=rows)


@router.get("/data/sources", response_class=HTMLResponse)
def sources(request: Request) -> HTMLResponse:
    """Every source with its id (the anchor ``#<id>``), publisher, title, edition, URL."""
    from oreflow.data.store import Store

    cols, rows = _records(Store.default().table("sources"))
    return _page(request, "sources.html", columns=cols, rows=rows)


@router.get("/data/sources/{source_id}", response_class=HTMLResponse)
def source(request: Request, source_id: str) -> HTMLResponse:
    """One source: a dataset source, or a policy or licensing record (with its sources)."""
    import pandas as pd

    from oreflow.data.store import Store

    found = Store.default().source_record(source_id)
    if found is not None:
        kind, record = found
        cols, rows = _records(pd.DataFrame([record]))
        return _page(request, "source.html", source_id=source_id, kind=kind,
                     fields=list(zip(cols, rows[0], strict=True)))
    return _page(request, "error.html", status=404,
                 message=f"unknown source '{source_id}': see the list of sources")


# -- assets -------------------------------------------------------------------------------
@router.get(PLOTLY_URL)
def plotly_js() -> FileResponse:
    """oreflow's Plotly.js bundle (scatter, bar, choropleth, sankey), cached for a year."""
    return FileResponse(bundle_path(), media_type="text/javascript", headers=_LONG_CACHE)


@router.get(TOPOJSON_URL + "{name}.json")
def topojson(name: str) -> Response:
    """The world outlines Plotly.js asks for (``world_110m``), shipped with oreflow."""
    from oreflow.report.export import TOPOJSON_NAME, topojson_dir

    if name != TOPOJSON_NAME:
        return Response(json.dumps({"error": f"no map outlines '{name}'"}), status_code=404,
                        media_type="application/json")
    return FileResponse(topojson_dir() / f"{TOPOJSON_NAME}.json",
                        media_type="application/json", headers=_LONG_CACHE)


def mount(app: FastAPI) -> None:
    """Serve the dashboard's CSS and JavaScript at ``/static``."""
    app.mount("/static", StaticFiles(directory=_package_dir("static")), name="static")
