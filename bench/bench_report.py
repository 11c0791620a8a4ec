"""Benchmark the figures and the stress report of china-2025-04.

Run by hand: ``.venv/bin/python bench/bench_report.py [DRAWS]``. Prints a markdown table:
the simulation once (for scale), each figure built from that result (median of N builds),
``write_figure`` to HTML and to PNG (kaleido and Chromium), the HTML report rendered from the
result, and the PDF printed from it (Playwright and Chromium). Static steps are skipped,
and said so, without Chromium.
"""

from __future__ import annotations

import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

N = 5


def timed(fn: Callable[[], Any], n: int = 1) -> tuple[float, Any]:
    """Median seconds of ``n`` calls, and the last value."""
    times, out = [], None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    draws = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    from oreflow.chain.analysis import concentration, trace
    from oreflow.report.export import chromium_path, write_figure
    from oreflow.report.figures import (
        fan_chart,
        shortfall_figure,
        stage_share_bars,
        trace_sankey,
    )
    from oreflow.report.html import render_html
    from oreflow.simulate import Scenario, simulate

    rows: list[tuple[str, str]] = []
    t, result = timed(lambda: simulate(Scenario.builtin("china-2025-04"), draws=draws, seed=0))
    rows.append((f"simulate china-2025-04, {draws} draws", f"{t:.2f} s"))
    conc = concentration("REO", 2024)
    tr = trace("REO", "JPN", year=2024)
    for name, fn in (("fan chart (Dy)", lambda: fan_chart(result, "Dy")),
                     ("shortfall by region and sector", lambda: shortfall_figure(result)),
                     ("stage share bars", lambda: stage_share_bars(conc)),
                     ("trace Sankey (JPN magnets)", lambda: trace_sankey(tr))):
        t, _ = timed(fn, N)
        rows.append((f"figure: {name}", f"{t * 1000:.0f} ms"))
    fig = fan_chart(result, "Dy")
    with tempfile.TemporaryDirectory() as tmp:
        t, _ = timed(lambda: write_figure(fig, Path(tmp) / "f.html"), N)
        rows.append(("write_figure .html", f"{t * 1000:.0f} ms"))
        has_browser = chromium_path() is not None
        if has_browser:
            t, _ = timed(lambda: write_figure(fig, Path(tmp) / "f.png"), 3)
            rows.append(("write_figure .png (kaleido + Chromium)", f"{t:.2f} s"))
        else:
            rows.append(("write_figure .png", "skipped: no Chromium"))
        t, rep = timed(lambda: render_html(result), 3)
        rows.append(("HTML report from the result", f"{t:.2f} s "
                     f"({len(rep.html_bytes) / 1e6:.1f} MB, {len(rep.figures)} figures)"))
        if has_browser:
            from oreflow.report.pdf import html_to_pdf

            t, pdf = timed(lambda: html_to_pdf(rep.html), 1)
            rows.append(("PDF report (Playwright + Chromium)", f"{t:.2f} s "
                         f"({len(pdf) / 1e3:.0f} kB)"))
        else:
            rows.append(("PDF report", "skipped: no Chromium"))
    print(f"# bench_report ({platform.python_version()}, {platform.machine()})\n")
    print("| step | time |\n| --- | --- |")
    for step, value in rows:
        print(f"| {step} | {value} |")


if __name__ == "__main__":
    main()
