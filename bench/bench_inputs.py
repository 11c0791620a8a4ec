"""Benchmark the safety limits of issue 11: large user layers and inputs stay fast.

Run by hand: ``.venv/bin/python bench/bench_inputs.py``. Prints a markdown table for
``bench/RESULTS.md``, each time beside a reference measured in the same run (a bare
``oreflow --help`` start for the CLI figures):

- ``oreflow data list`` over a user layer of 200,000 imported ``stage_output`` rows (issue
  11 measured 22 s before the row-count cache);
- ``data import`` of those rows (validation and the locked, atomic write);
- parsing a CSV BOM of 5,000 products (a 50,000-product file had not finished in 240 s)
  and refusing one of 50,000 (over the 10,000-product cap);
- ``oreflow stress ... --out`` into an unwritable place (fails before any work).
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from oreflow.cli import main; main()"]
HEADER = "year,stage,material,iso3,basis,vintage,tonnes,unit,estimate,source_id\n"


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    res = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - t0, res.returncode


def _stage_rows(n: int) -> str:
    from oreflow.data.store import Store

    countries = Store.default().table("countries")
    codes = list(countries.loc[countries["kind"] == "country", "iso3"].astype(str))[:250]
    rows = []
    for k in range(n):  # unique keys: year x country x stage
        year = 1800 + k % 400
        iso = codes[(k // 400) % len(codes)]
        stage = ("mine", "separation", "metal", "magnet")[(k // (400 * len(codes))) % 4]
        rows.append(f"{year},{stage},REO,{iso},production,MCS2026,{1 + k % 997},t_REO,false,"
                    "usgs_mcs2026_ree\n")
    return HEADER + "".join(rows)


def _bom_timings(tmp: Path) -> tuple[float, float]:
    """Seconds to read a CSV BOM of 5,000 products, and to refuse one of 50,000."""
    import csv

    from oreflow.errors import ValidationError
    from oreflow.exposure import read_bom

    def write(n: int) -> Path:
        p = tmp / f"bom{n}.csv"
        cols = ["product", "units_per_year", "plant_country", "input", "kind", "type",
                "mass_kg_per_unit", "inventory_months", "supplier_country", "share"]
        with p.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            w.writerows([f"p{i}", 1000, "USA", "m1", "magnet", "NdFeB", 1.5, 2, "CHN", 1]
                        for i in range(n))
        return p

    small, big = write(5000), write(50_000)
    read_bom(small)  # warm the store and imports
    t0 = time.perf_counter()
    read_bom(small)
    t_small = time.perf_counter() - t0
    t0 = time.perf_counter()
    with contextlib.suppress(ValidationError):
        read_bom(big)
    return t_small, time.perf_counter() - t0


def main() -> None:
    env = {**os.environ, "COLUMNS": "100"}
    with tempfile.TemporaryDirectory() as tmp:
        env["OREFLOW_DATA_DIR"] = tmp
        bare, _ = _timed([sys.executable, "-c", "pass"], env)
        t_help = min(_timed([*CLI, "--help"], env)[0] for _ in range(3))
        f = Path(tmp) / "rows.csv"
        f.write_text(_stage_rows(200_000))
        t_import, rc = _timed([*CLI, "data", "import", str(f), "--table", "stage_output"], env)
        assert rc == 0, "import failed"
        t_list = min(_timed([*CLI, "data", "list"], env)[0] for _ in range(3))
        t_out, rc_out = _timed([*CLI, "stress", "china-2025-04", "--out", "/sys/x/y"], env)
        t5k, t50k = _bom_timings(Path(tmp))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}")
    print("| measurement | time | reference |")
    print("|---|---|---|")
    ref = f"oreflow --help {t_help:.2f} s; python start {bare:.2f} s"
    print(f"| data import, 200,000 rows | {t_import:.1f} s | {ref} |")
    print(f"| data list over them (best of 3) | {t_list:.2f} s | {ref} |")
    print(f"| stress --out unwritable (exit {rc_out}) | {t_out:.2f} s | {ref} |")
    print(f"| BOM CSV, 5,000 products parsed | {t5k:.2f} s | |")
    print(f"| BOM CSV, 50,000 products refused | {t50k:.2f} s | |")


if __name__ == "__main__":
    main()
