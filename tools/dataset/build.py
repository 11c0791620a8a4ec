"""Build oreflow's embedded default dataset from the curated fact base in ``facts/``.

The fact base (``facts/<family>/*.csv``, conventions in ``facts/README.md``) holds sourced facts
as published. The build turns it into the tables of the data contract (``docs/data-model.md``):
one CSV per table in ``src/oreflow/data/tables/`` plus a Frictionless ``datapackage.json``
describing every column, then checks what it wrote.

Rules (documented in ``docs/data.md``):

* figures are carried over exactly, with their ``source_id``; percentages become fractions in
  columns named ``share`` (exact decimal arithmetic, no float noise);
* oreflow's own derived rows (separation, metal and magnet stages for 2024, feedstock flows,
  country-average ore mixes, element splits) carry ``estimate = true`` and a ``method`` text with
  the equation and the input ``source_id`` values; nothing is invented;
* the output is deterministic: sorted rows, stable ``row_id`` values, ``\\n`` line endings.

Usage (from the repository root)::

    python -m tools.dataset                 # build, then check
    python -m tools.dataset --src PATH      # read the fact base from PATH
    python -m tools.dataset --out PATH      # write the tables to PATH
    python -m tools.dataset --check         # only check the committed outputs
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from . import (
    balance,
    composition,
    demand,
    flows,
    history,
    jrc,
    magnets,
    materials,
    minerals,
    model,
    policy,
    prices,
    production,
    projects,
    reference,
    trade,
)
from .checks import check
from .common import (
    CONTRACT,
    DEFAULT_OUT,
    DEFAULT_SRC,
    Estimates,
    FactBase,
    datapackage,
    write_json,
    write_table,
)
from .rows import Row, number_row

#: Tables built from the fact base alone, with their builders.
FACT_TABLES: dict[str, Callable[[FactBase], list[Row]]] = {
    "sources": reference.build_sources,
    "countries": reference.build_countries,
    "blocs": reference.build_blocs,
    "stage_shares": production.build_stage_shares,
    "reserves": production.build_reserves,
    "recipes": magnets.build_recipes,
    "intensity": demand.build_intensity,
    "demand": demand.build_demand,
    "import_dependence": demand.build_import_dependence,
    "prices": prices.build_prices,
    "policies": policy.build_policies,
    "licensing": policy.build_licensing,
    "quotas": policy.build_quotas,
    "stockpiles": projects.build_stockpiles,
    "lead_times": projects.build_lead_times,
    "parameters": model.build_parameters,
    "trade": trade.build_trade,
    "hs_codes": trade.build_hs_codes,
    "us_statistics": trade.build_us_statistics,
}


def append_series(t: dict[str, list[Row]], facts: FactBase) -> None:
    """Append the history series and the other minerals' rows to the fact tables.

    They come after the rows of each table's own files, so earlier ``row_id`` values stay.
    """
    hist = history.trade_tables(facts)
    used = minerals.consumption_rows(facts)
    hist_prices = history.price_rows(facts)
    t["prices"] = number_row(
        t["prices"] + hist_prices + minerals.price_rows(facts, hist_prices), "prices"
    )
    t["trade"] = number_row(t["trade"] + hist["trade"] + used["trade"], "trade")
    t["quotas"] = number_row(t["quotas"] + hist["quotas"], "quotas")
    t["licensing"] = t["licensing"] + hist["licensing"]
    t["demand"] = number_row(t["demand"] + hist["demand"] + used["demand"], "demand")
    t["import_dependence"] = number_row(
        t["import_dependence"] + used["import_dependence"], "import_dependence"
    )
    t["stage_shares"] = number_row(t["stage_shares"] + minerals.share_rows(facts), "stage_shares")


def build_tables(facts: FactBase, est: Estimates) -> dict[str, list[Row]]:
    """Every table's rows, from the fact base."""
    t = {name: builder(facts) for name, builder in FACT_TABLES.items()}
    append_series(t, facts)
    t["materials"] = materials.build_materials()
    t["flows"] = flows.build_flows(facts, est)
    bal = balance.build_balance(facts, t["flows"], composition.deposit_fractions(facts))
    t["stage_output"] = (
        production.published_rows(facts)
        + minerals.mineral_rows(facts)
        + bal.stage_output
        + jrc.dy_split_rows(facts)
    )
    t["recycling"] = bal.recycling
    t["consumption"] = bal.consumption
    t["recipes"] += bal.recipes
    t["composition"] = composition.build_composition(facts, t["stage_output"])
    t["projects"], t["project_events"] = projects.build_projects(facts)
    # vintages come last: they rank the labels that the other tables use
    sources = {s["source_id"]: s for s in t["sources"]}
    t["vintages"] = reference.build_vintages(facts, t, sources)
    return t


def build(src: Path, out: Path) -> tuple[dict[str, int], Estimates]:
    """Build every table from the fact base ``src`` into ``out``."""
    est = Estimates()
    rows = build_tables(FactBase(src), est)
    missing = set(CONTRACT) ^ set(rows)
    if missing:
        raise ValueError(f"tables built and tables of the contract differ: {sorted(missing)}")
    out.mkdir(parents=True, exist_ok=True)
    counts = {name: write_table(t, rows[name], out) for name, t in CONTRACT.items()}
    write_json(out / "datapackage.json", datapackage(CONTRACT.values(), rows["sources"]))
    return counts, est


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(
        prog="python -m tools.dataset", description=(__doc__ or "").splitlines()[0]
    )
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC, help="fact-base directory")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    ap.add_argument("--check", action="store_true", help="only validate the existing outputs")
    args = ap.parse_args(argv)
    if not args.check:
        counts, est = build(args.src, args.out)
        for name, n in counts.items():
            print(f"{name:18s} {n:6d} rows")
        print("estimates:", json.dumps({k: round(v, 4) for k, v in est.values.items()}))
    errors = check(args.out, CONTRACT)
    for e in errors[:200]:
        print("CHECK:", e, file=sys.stderr)
    if errors:
        print(f"self-check failed: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print("self-check passed")
    return 0
