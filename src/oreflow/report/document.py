"""The report as a file: check the output before any work, build it, return or write bytes.

One entry point for the CLI (``oreflow report``) and a web server: :func:`report_bytes`
returns the HTML or PDF bytes, :func:`write_report` writes them to a checked path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from oreflow.errors import InputError, OreflowError

from .export import chromium_path

if TYPE_CHECKING:
    from oreflow.data.store import Store
    from oreflow.exposure import Bom
    from oreflow.simulate import Scenario

__all__ = ["REPORT_FORMATS", "check_report_out", "report_bytes", "write_report"]

#: Report formats and their file suffix.
REPORT_FORMATS: dict[str, str] = {"html": ".html", "pdf": ".pdf"}


def check_report_out(out: str | Path, fmt: str) -> Path:
    """The report path checked before any work: a known format whose suffix the file name
    has, in an existing directory, not a directory itself; PDF also needs Chromium.

    Raises
    ------
    oreflow.errors.InputError
        One line naming the path or the format.
    oreflow.errors.OreflowError
        PDF without a Chromium browser.
    """
    if fmt not in REPORT_FORMATS:
        raise InputError(f"--format {fmt}: use html or pdf")
    p = Path(out).expanduser()
    if p.suffix.lower() != REPORT_FORMATS[fmt]:
        raise InputError(f"--out {out}: a {fmt} report needs a file name ending in "
                         f"{REPORT_FORMATS[fmt]}")
    if p.is_dir():
        raise InputError(f"--out {out}: is a directory; give a file name")
    if not p.resolve().parent.is_dir():
        raise InputError(f"--out {out}: directory {p.resolve().parent} does not exist")
    if fmt == "pdf" and chromium_path() is None:
        raise OreflowError("a PDF report needs the Chromium browser and none was found; "
                           "install chromium or use --format html")
    return p


def report_bytes(scenario: str | Path | Scenario, fmt: str = "html", *,
                 bom: Bom | None = None, draws: int = 500, seed: int = 0,
                 store: Store | None = None,
                 progress: Callable[[int, int], None] | None = None) -> bytes:
    """The report of ``scenario`` as bytes: the self-contained HTML page (UTF-8) or the PDF
    printed from it (:func:`oreflow.report.pdf.html_to_pdf`)."""
    from .html import build_report

    if fmt not in REPORT_FORMATS:
        raise InputError(f"--format {fmt}: use html or pdf")
    rep = build_report(scenario, bom=bom, draws=draws, seed=seed, store=store,
                       progress=progress)
    if fmt == "html":
        return rep.html_bytes
    from .pdf import html_to_pdf

    return html_to_pdf(rep.html)


def write_report(scenario: str | Path | Scenario, out: str | Path, fmt: str = "html", *,
                 bom: Bom | None = None, draws: int = 500, seed: int = 0,
                 store: Store | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Path:
    """Check ``out`` first, build the report and write it (nothing is written on error)."""
    p = check_report_out(out, fmt)
    data = report_bytes(scenario, fmt, bom=bom, draws=draws, seed=seed, store=store,
                        progress=progress)
    try:
        p.write_bytes(data)
    except OSError as exc:
        raise OreflowError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    return p
