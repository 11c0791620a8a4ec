"""The scenario report as PDF: the HTML report printed by headless Chromium (Playwright).

The page is loaded from a temporary file (it needs no network), printed on A4 with its
backgrounds once every Plotly chart has drawn. Chromium is Debian's ``chromium`` (or the
``BROWSER_PATH`` browser); without one the error says so in one line.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from oreflow.errors import OreflowError

from .export import chromium_path

__all__ = ["CHROMIUM_ARGS", "html_to_pdf"]

#: Flags of the headless browser: no sandbox (containers), no GPU, no background traffic.
CHROMIUM_ARGS: tuple[str, ...] = ("--no-sandbox", "--disable-gpu",
                                  "--disable-background-networking",
                                  "--disable-component-update", "--disable-sync")
#: How long the charts may take to draw [ms].
RENDER_TIMEOUT_MS = 120_000
_ALL_DRAWN = """() => {
  const divs = Array.from(document.querySelectorAll('.plotly-graph-div'));
  // a map is drawn when its country shapes are (outlines load asynchronously)
  return divs.every(d => d.querySelector('.main-svg') !== null
    && (!(d.data || []).some(t => t.type === 'choropleth')
        || d.querySelector('.choroplethlocation') !== null));
}"""


def html_to_pdf(page: str) -> bytes:
    """Print an HTML page (the report) to PDF bytes, A4, backgrounds printed, after every
    Plotly chart on it has drawn.

    Raises
    ------
    oreflow.errors.OreflowError
        No Chromium browser, Playwright missing, or the browser failed (one line).
    """
    browser_path = chromium_path()
    if browser_path is None:
        raise OreflowError("PDF needs the Chromium browser and none was found; install "
                           "chromium or use --format html")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - installed with the package
        raise OreflowError("PDF needs the playwright package; use --format html") from None
    with tempfile.TemporaryDirectory(prefix="oreflow-report-") as tmp:
        src = Path(tmp) / "report.html"
        src.write_text(page, encoding="utf-8")
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=browser_path, headless=True,
                                             args=list(CHROMIUM_ARGS))
                try:
                    tab = browser.new_page(viewport={"width": 1100, "height": 1400})
                    tab.goto(src.as_uri(), wait_until="load")
                    tab.wait_for_function(_ALL_DRAWN, timeout=RENDER_TIMEOUT_MS)
                    tab.emulate_media(media="print")
                    data: bytes = tab.pdf(format="A4", print_background=True,
                                          margin={"top": "12mm", "bottom": "12mm",
                                                  "left": "10mm", "right": "10mm"})
                finally:
                    browser.close()
        except PlaywrightError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise OreflowError(f"PDF printing failed in Chromium ({first}); "
                               "use --format html") from None
    return data
