"""Benchmark the data layer: CLI cold start and a three-table SQL join.

Run by hand: ``.venv/bin/python bench/bench_data.py``. Prints a markdown table for
``bench/RESULTS.md``. Absolute times on shared machines are noisy, so each figure is also
given as a ratio to a reference measured in the same run:

- cold start of ``oreflow data list`` and ``oreflow --help`` (a new process each time)
  against a bare ``python -c pass`` start, median of N runs; target: under 1 s;
- ``Store.query`` on a join of ``stage_output``, ``countries`` and ``sources`` against the
  same join done with pandas ``merge`` on the already loaded tables.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_COLD = 7
N_QUERY = 20
SQL = """
select s.stage, c.name, s.tonnes, src.publisher
from stage_output s
join countries c on c.iso3 = s.iso3
join sources src on src.source_id = s.source_id
where s.year = 2024 and s.material = 'REO'
order by s.tonnes desc
"""


def _time_cmd(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def main() -> None:
    """Run the benchmarks and print the markdown table."""
    exe = shutil.which("oreflow", path=str(Path(sys.executable).parent)) or "oreflow"
    env = {**os.environ, "OREFLOW_DATA_DIR": tempfile.mkdtemp(prefix="oreflow-bench-")}
    _time_cmd([exe, "data", "list", "--csv"], env)  # warm the OS file cache once
    bare = statistics.median(_time_cmd([sys.executable, "-c", "pass"], env)
                             for _ in range(N_COLD))
    cold = statistics.median(_time_cmd([exe, "data", "list", "--csv"], env)
                             for _ in range(N_COLD))
    helpt = statistics.median(_time_cmd([exe, "--help"], env) for _ in range(N_COLD))

    from oreflow.data.store import Store

    store = Store(user=Path(env["OREFLOW_DATA_DIR"]))
    store.query(SQL)  # load tables once
    t_sql = []
    for _ in range(N_QUERY):
        t0 = time.perf_counter()
        store.query(SQL)
        t_sql.append(time.perf_counter() - t0)
    so, co, src = (store.table(t) for t in ("stage_output", "countries", "sources"))
    t_pd = []
    for _ in range(N_QUERY):
        t0 = time.perf_counter()
        s = so[(so["year"] == 2024) & (so["material"] == "REO")]
        s.merge(co, on="iso3").merge(src, on="source_id").sort_values("tonnes")
        t_pd.append(time.perf_counter() - t0)
    q, p = statistics.median(t_sql), statistics.median(t_pd)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}\n")
    print("| benchmark | median | reference (same run) | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| `oreflow data list` cold start (new process, n={N_COLD}) | {cold:.3f} s | "
          f"`python -c pass` {bare:.3f} s | {cold / bare:.1f}× | < 1 s |")
    print(f"| `oreflow --help` cold start (new process, n={N_COLD}) | {helpt:.3f} s | "
          f"`python -c pass` {bare:.3f} s | {helpt / bare:.1f}× | < 1 s |")
    print(f"| `data query` 3-table join (stage_output × countries × sources, n={N_QUERY}) | "
          f"{q * 1e3:.1f} ms | pandas merge {p * 1e3:.1f} ms | {q / p:.1f}× | — |")


if __name__ == "__main__":
    main()
