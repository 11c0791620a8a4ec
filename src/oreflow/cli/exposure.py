"""``oreflow exposure``: a bill of materials in; exposure and scenario impact out.
Imports inside command functions are deliberate: each verb loads only what it uses, so
`oreflow --help` and `oreflow data list` start in well under a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from oreflow.cli._app import (
    CsvOpt,
    Format,
    JsonOpt,
    SourcesOpt,
    TableOpt,
    WideOpt,
    _fmt,
    app,
    print_json,
    renderer,
)
from oreflow.cli.render import Col, progress
from oreflow.errors import InputError, unknown

__all__ = ["exposure"]

_NO_STOCKOUT = "no stock-out within the horizon (months until stock-out)"
#: The impact view's quantile columns: ∞ means no stock-out within the horizon.
IMPACT_COLUMNS = {q: Col(q.upper(), priority=1, term="P10/P50/P90", inf=_NO_STOCKOUT)
                  for q in ("p10", "p50", "p90")}

#: Headline impact metrics (column stem in the impact summary → label with unit).
IMPACT_METRICS = {
    "months_to_stockout": "months until stock-out",
    "units_delayed": "units delayed over the horizon",
    "cost_increase_usd_per_unit": "cost increase per unit [USD]",
    "cost_increase_usd_per_year": "cost increase per year [USD]",
    "alternative_months": "months until alternatives qualified and delivered",
}
INPUT_COLUMNS = ("product", "input", "type", "controller_supplier_share", "control_share",
                 "mined_in_controller", "processed_in_controller", "deminimis_reached",
                 "inventory_months", "qualification_months")
ALTERNATIVE_COLUMNS = ("input", "name", "country", "stage", "output_t_per_yr", "capacity",
                       "capacity_unit",
                       "status", "start_year", "spare_capacity_t_per_yr", "source_id")


def _impact_rows(summary: Any) -> Any:
    """One row per (product, metric) with P10/P50/P90 columns."""
    import pandas as pd

    rows = []
    for rec in summary.to_dict("records"):
        for stem, label in IMPACT_METRICS.items():
            if f"{stem}_p50" in rec:
                rows.append({"product": rec["product"], "metric": label,
                             "p10": rec[f"{stem}_p10"], "p50": rec[f"{stem}_p50"],
                             "p90": rec[f"{stem}_p90"]})
    return pd.DataFrame(rows)


def _pick(df: Any, columns: tuple[str, ...]) -> Any:
    return df[[c for c in columns if c in df.columns]]


@app.command()
def exposure(
    bom: Annotated[Path | None, typer.Argument(help="BOM file (YAML or CSV).")] = None,
    example: Annotated[str | None, typer.Option(
        help="A built-in example BOM: drone, ev-motor, wind-turbine, fighter.")] = None,
    scenario: Annotated[str | None, typer.Option(
        help="Built-in scenario or YAML file: adds months to stock-out, units and cost.")]
    = None,
    draws: Annotated[int, typer.Option(help="Monte Carlo draws for --scenario.", min=1)]
    = 500,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    plot: Annotated[Path | None, typer.Option(
        help="With --scenario: write months to stock-out per product and input to a .html "
             "(offline), .png, .svg or .pdf file (static formats need Chromium).")] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
    show_sources: SourcesOpt = False,
    table: TableOpt = None,
) -> None:
    """What a product line depends on, and what a disruption does to it.

    Tables: impact (with --scenario; in CSV one row per product with every P10/P50/P90),
    inputs, alternatives. --json carries every table of the exposure and the impact.
    """
    from oreflow.exposure import Bom, impact, list_examples, read_bom
    from oreflow.exposure import exposure as run_exposure

    if (bom is None) == (example is None):
        raise InputError("give a BOM file or --example NAME (one of them)")
    if plot is not None:
        from oreflow.report.export import check_figure_path

        if not scenario:
            raise InputError("--plot draws months to stock-out: add --scenario NAME")
        check_figure_path(plot)
    if example is not None:
        if example not in list_examples():
            raise unknown("example BOM", example, list_examples())
        b = Bom.example(example)
    else:
        assert bom is not None
        b = read_bom(bom)
    fmt = _fmt(as_json, as_csv)
    exp = run_exposure(b)
    imp = None
    if scenario:
        with progress(f"{scenario}: {draws} draws", waiting="building the baseline") as bar:
            imp = impact(b, scenario, draws=draws, seed=seed, progress=bar)
        if plot is not None:
            from oreflow.report.export import write_figure
            from oreflow.report.figures import stockout_figure

            write_figure(stockout_figure(imp), plot)
    if fmt is Format.json:
        from oreflow.jsonview import exposure_payload

        print_json(exposure_payload(b, exp, imp, scenario=scenario, draws=draws, seed=seed))
        return
    out = renderer(fmt, wide=wide, sources=show_sources, table=table)
    if imp is not None:
        out.table("impact", _impact_rows(imp.tables["summary"]), columns=IMPACT_COLUMNS,
                  title=f"{b.name} under {scenario}: {draws} draws, seed {seed}",
                  csv_df=imp.tables["summary"], record=False)
    out.table("inputs", _pick(exp.tables["inputs"], INPUT_COLUMNS),
              title=f"{b.name}: exposure of each input to the controller",
              csv_df=exp.tables["inputs"])
    alt = exp.tables.get("alternatives")
    if alt is not None and not alt.empty:
        out.table("alternatives", _pick(alt, ALTERNATIVE_COLUMNS), title="where else to buy",
                  csv_df=alt)
    out.notes(exp.notes + ([n for n in imp.notes if n not in exp.notes] if imp else []))
    out.sources(exp.sources)
    out.finish()
