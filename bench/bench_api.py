"""Benchmark the REST API: cached reads under load, and a stress job against the library.

Run by hand: ``.venv/bin/python bench/bench_api.py [--clients 20] [--seconds 10]
[--draws 2000]``. Starts ``oreflow serve`` on a free loopback port with a temporary data
directory, then

- warms every cached read endpoint, and has ``--clients`` threads (one HTTP connection
  each) hammer them round-robin for ``--seconds``: latency P50/P95/P99 and errors
  (target: P95 under 100 ms, no errors);
- runs a ``--draws`` ``china-2025-04`` stress job through the API (POST, poll every 20 ms
  until done; the workers are warm) and the same run in this process with the library
  (``simulate`` plus the JSON frame the CLI prints), each after a warm-up: the ratio API /
  library (target: at most 1.5).

Prints a markdown table (the numbers are not written anywhere).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

READS = [
    "/api/health",
    "/api/overview",
    "/api/concentration?material=REO",
    "/api/concentration?material=Dy",
    "/api/trace?material=Nd&country=JPN",
    "/api/blocs",
    "/api/blocs?bloc=EU27",
    "/api/risk?material=Dy",
    "/api/data/tables",
    "/api/data/tables/stage_output?limit=100",
    "/api/data/sources",
    "/api/scenarios",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(port: int, data: Path, workers: int) -> subprocess.Popen[str]:
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [sys.executable, "-c", "from oreflow.cli import main; main()", "serve", "--port",
         str(port), "--workers", str(workers), "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_up(base: str, proc: subprocess.Popen[str]) -> None:
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            if proc.poll() is not None:
                raise SystemExit(f"server exited: {proc.communicate()[1]}") from None
            time.sleep(0.1)
    raise SystemExit("server did not start within 60 s")


def _hammer(base: str, clients: int, seconds: float) -> tuple[list[float], int, int]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = time.monotonic() + seconds
    start = threading.Barrier(clients)

    def client(k: int) -> None:
        with httpx.Client(base_url=base, timeout=10) as c:
            start.wait()
            i = k
            while time.monotonic() < stop:
                url = READS[i % len(READS)]
                i += 1
                t = time.perf_counter()
                try:
                    ok = c.get(url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies[k].append(time.perf_counter() - t)
                errors[k] += not ok

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [x for xs in latencies for x in xs]
    return flat, sum(errors), len(flat)


def _job(base: str, body: dict[str, object]) -> tuple[float, dict[str, object]]:
    with httpx.Client(base_url=base, timeout=60) as c:
        t = time.perf_counter()
        r = c.post("/api/stress", json=body)
        r.raise_for_status()
        url = r.headers["location"]
        while True:
            job: dict[str, object] = c.get(url).json()
            if job["status"] not in ("queued", "running"):
                return time.perf_counter() - t, job
            time.sleep(0.02)


def _library(draws: int) -> float:
    from oreflow.jsonview import stress_payload
    from oreflow.simulate import Scenario, simulate

    sc = Scenario.builtin("china-2025-04")
    simulate(sc, draws=1, seed=0)  # warm: the baseline, as the server's warm workers
    t = time.perf_counter()
    stress_payload(sc, simulate(sc, draws=draws, seed=0))
    return time.perf_counter() - t


def _pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="oreflow-bench-api-") as tmp:
        proc = _start(port, Path(tmp), args.workers)
        try:
            _wait_up(base, proc)
            with httpx.Client(base_url=base, timeout=60) as c:  # warm every cached read
                for url in READS:
                    c.get(url).raise_for_status()
            _job(base, {"scenario": "china-2025-04", "draws": 10})  # warm a worker
            lat, errors, n = _hammer(base, args.clients, args.seconds)
            api_s, job = _job(base, {"scenario": "china-2025-04", "draws": args.draws,
                                     "seed": 0})
            if job["status"] != "done":
                raise SystemExit(f"stress job {job['status']}: {job.get('error')}")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)
    lib_s = _library(args.draws)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, load average {load:.1f} (clients and server "
          "share these CPUs)")
    print()
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| cached reads: {args.clients} clients x {args.seconds:g} s, requests | {n:,} "
          f"({n / args.seconds:,.0f}/s) | |")
    print(f"| latency P50 / P95 / P99 [ms] | {_pct(lat, 50):.1f} / {_pct(lat, 95):.1f} / "
          f"{_pct(lat, 99):.1f} | P95 < 100 |")
    print(f"| errors | {errors} | 0 |")
    print(f"| stress china-2025-04, {args.draws:,} draws: API job (POST to done) [s] | "
          f"{api_s:.2f} | |")
    print(f"| same run, library in this process (simulate + JSON frame) [s] | {lib_s:.2f} | |")
    print(f"| ratio API / library | {api_s / lib_s:.2f} | <= 1.5 |")


if __name__ == "__main__":
    main()
