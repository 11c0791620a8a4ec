"""Benchmark the dashboard's overview page: first render in headless Chromium.

Run by hand: ``.venv/bin/python bench/bench_dashboard.py [RUNS]``. Starts ``oreflow serve``
on a free loopback port (temporary data directory), warms it with one request, then for each
run opens a fresh browser context (empty cache: a first visit) and times from ``goto("/")``
until both charts (world map with its country outlines, stage bars) are drawn, then loads
the page again in the same context (a return visit: Plotly.js from the browser cache, which
the app allows for a year). Also the first contentful paint (text and tables, before the
charts). Prints medians as a markdown table; the first run (cold server cache) apart. The
target is under 2 s. Needs Debian's ``chromium``; requests beyond the server are blocked.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
DRAWN = ("document.querySelectorAll('#fig-map .choroplethlocation').length > 5 && "
         "document.querySelectorAll('#fig-bars .js-plotly-plot .main-svg, "
         "#fig-bars.js-plotly-plot .main-svg').length > 0")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    chromium = shutil.which("chromium")
    if chromium is None:
        print("skipped: no chromium on PATH")
        return
    from playwright.sync_api import sync_playwright

    port = _port()
    url = f"http://127.0.0.1:{port}"
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, "-c", "from oreflow.cli import main; main()",
                                 "serve", "--port", str(port), "--data-dir", tmp,
                                 "--workers", "1"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(url + "/api/health", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            times, fcp, warm = [], [], []
            paint = ("performance.getEntriesByName('first-contentful-paint')[0]"
                     ".startTime / 1000")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
                for _ in range(runs):
                    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
                    page = ctx.new_page()
                    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(url)
                               else r.abort())
                    t = time.perf_counter()
                    page.goto(url + "/")
                    page.wait_for_function(DRAWN, timeout=30_000)
                    times.append(time.perf_counter() - t)
                    fcp.append(float(page.evaluate(paint)))
                    t = time.perf_counter()
                    page.goto(url + "/?stage=separation")
                    page.wait_for_function(DRAWN, timeout=30_000)
                    warm.append(time.perf_counter() - t)
                    ctx.close()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print(f"oreflow dashboard bench — {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, {runs} runs\n")
    print("| step | seconds |")
    print("|---|---|")
    print(f"| overview first render, cold server (first run) | {times[0]:.2f} |")
    rest = times[1:] or times
    print(f"| overview first render, median of {len(rest)} (fresh browser context) | "
          f"{statistics.median(rest):.2f} |")
    print(f"| overview first render, worst | {max(rest):.2f} |")
    print(f"| first contentful paint (text, table), median | "
          f"{statistics.median(fcp[1:] or fcp):.2f} |")
    print(f"| return visit (browser cache), median | {statistics.median(warm[1:] or warm):.2f} |")


if __name__ == "__main__":
    main()
