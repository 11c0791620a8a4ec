"""Writing a figure to a file: self-contained HTML, or PNG/SVG/PDF through kaleido.

HTML inlines Plotly.js from the installed ``plotly`` package (``include_plotlyjs=True``): the
file opens offline and loads nothing from the web. Static images go through kaleido, which
drives a Chromium-family browser (Debian's ``chromium``); without one the error says so in
one line and suggests ``.html``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import plotly.graph_objects as go

from oreflow.errors import OreflowError
from oreflow.plotting import check_plot_path

__all__ = ["FIGURE_SUFFIXES", "STATIC_SUFFIXES", "check_figure_path", "chromium_path",
           "figure_html", "write_figure"]

#: Suffixes written through kaleido (a browser is needed).
STATIC_SUFFIXES: tuple[str, ...] = (".png", ".svg", ".pdf")
#: Suffixes :func:`write_figure` writes.
FIGURE_SUFFIXES: tuple[str, ...] = (".html", *STATIC_SUFFIXES)
#: Names of the browser looked up on ``PATH`` (``BROWSER_PATH`` wins when set).
_BROWSERS: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "chrome")


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
    inlined from the installed package unless ``include_plotlyjs`` is False (a page that
    inlines it once for many figures)."""
    return str(fig.to_html(full_html=full_html, include_plotlyjs=include_plotlyjs,
                           div_id=div_id, config={"responsive": True,
                                                  "displaylogo": False}))


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
    try:
        data = fig.to_image(format=suffix[1:], scale=2 if suffix == ".png" else 1)
    except Exception as exc:  # kaleido raises many types; one line for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OreflowError(f"{path}: static export failed ({first}); try .html") from None
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise OreflowError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return out
