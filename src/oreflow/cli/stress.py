"""Disruption verbs: ``stress``, ``scenarios`` (and ``scenarios show``).

Imports inside command functions are deliberate: each verb loads only what it uses, so
`oreflow --help` and `oreflow data list` start in well under a second.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from oreflow.cli._app import (
    App,
    CsvOpt,
    Format,
    JsonOpt,
    SourcesOpt,
    WideOpt,
    _fmt,
    _guard,
    app,
    emit,
    print_json,
)
from oreflow.errors import InputError
from oreflow.headline import BANDS, top_material
from oreflow.headline import affected as _affected
from oreflow.headline import scenario_sources as _scenario_sources
from oreflow.jsonview import CONVENTIONS  # the JSON frames live in the library (no pandas)
from oreflow.jsonview import stress_notes as _notes

__all__ = ["BANDS", "CONVENTIONS", "NOT_RECOVERED", "scenarios", "scenarios_show", "stress"]

#: What JSON and CSV say for "not recovered within the horizon" (as
#: :data:`oreflow.simulate.result.NOT_RECOVERED`; repeated here so the CLI starts fast).
NOT_RECOVERED = "not within horizon"


def _display(summary: Any) -> Any:
    """Compact table: one row per material and segment, each band as P50 (P10–P90)."""
    from oreflow.headline import headline_table

    return headline_table(summary)


def _load_scenario(name_or_path: str) -> Any:
    # imported here: the simulator's modules are heavy and the CLI must start fast
    from oreflow.simulate import Scenario

    return Scenario.load(name_or_path)


scenarios_app = App(help="List the built-in scenarios, or print one's YAML to start from.",
                    pretty_exceptions_enable=False)
app.add_typer(scenarios_app, name="scenarios")


@scenarios_app.callback(invoke_without_command=True)
def scenarios(ctx: typer.Context, as_json: JsonOpt = False, as_csv: CsvOpt = False) -> None:
    """List the built-in scenarios (`oreflow scenarios show NAME` prints one's YAML)."""
    if ctx.invoked_subcommand is None:
        _guard(_list_scenarios)(as_json, as_csv)


def _list_scenarios(as_json: bool, as_csv: bool) -> None:
    import pandas as pd

    from oreflow.simulate import Scenario, list_builtin

    rows = []
    for name in list_builtin():
        sc = Scenario.builtin(name)
        rows.append({"scenario": name, "title": getattr(sc, "title", "") or "",
                     "start": str(getattr(sc, "start", "")),
                     "horizon_months": getattr(sc, "horizon_months", None),
                     "shocks": len(getattr(sc, "shocks", []))})
    emit(pd.DataFrame(rows), _fmt(as_json, as_csv), title="built-in scenarios",
         caption="oreflow stress NAME · oreflow scenarios show NAME > mine.yaml to start "
                 "your own")


@scenarios_app.command("show")
def scenarios_show(name: Annotated[str, typer.Argument(
        help="Built-in scenario name (see `oreflow scenarios`).")]) -> None:
    """Print a built-in scenario's YAML file, comments included: a start for your own."""
    import sys
    from importlib import resources

    from oreflow.simulate import Scenario, list_builtin

    if name not in list_builtin():
        Scenario.builtin(name)  # raises the unknown-name error with its suggestion
    text = resources.files("oreflow.simulate").joinpath("builtin", f"{name}.yaml").read_text(
        encoding="utf-8")
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


class OutFormat(StrEnum):
    """File formats of ``stress --out``."""

    parquet = "parquet"
    csv = "csv"
    json = "json"
    xlsx = "xlsx"


class StressTable(StrEnum):
    """Tables of ``stress`` (``--csv`` prints one)."""

    summary = "summary"
    paths = "paths"
    sectors = "sectors"
    redirect = "redirect"


@app.command()
def stress(
    scenario: Annotated[str, typer.Argument(
        help="Built-in scenario name (see `oreflow scenarios`) or a YAML file.")],
    draws: Annotated[int, typer.Option(help="Monte Carlo draws.", min=1)] = 1000,
    seed: Annotated[int, typer.Option(
        help="Random seed, a non-negative integer (recorded in the result).")] = 0,
    horizon: Annotated[int | None, typer.Option(
        help="Override the horizon, in months (at most 600).", min=1)] = None,
    out: Annotated[Path | None, typer.Option(
        help="Write the full result: a directory (tables in --out-format, per-draw paths in "
             "draws.parquet, scenario.yaml, provenance.json) or a .xlsx workbook (a sheet "
             "per table). Checked before the run.")] = None,
    out_format: Annotated[OutFormat | None, typer.Option(
        help="Format of --out: parquet (default for a directory), csv, json, or xlsx "
             "(default for a .xlsx path).")] = None,
    paths: Annotated[bool, typer.Option(
        "--paths", help="--json/--csv: also the monthly P10/P50/P90 paths of every variable "
                        "per material and segment.")] = False,
    table: Annotated[StressTable | None, typer.Option(
        help="--csv: the table to print (summary, paths, sectors); needed with --paths.")]
    = None,
    all_materials: Annotated[bool, typer.Option(
        "--all-materials", help="Table: also materials the scenario leaves unchanged.")]
    = False,
    plot: Annotated[Path | None, typer.Option(
        help="Write the price fan chart (P10-P50-P90 inside and outside the controller, "
             "shock dates marked) to a .html (offline), .png, .svg or .pdf file (static "
             "formats need Chromium). Checked before the run.")] = None,
    plot_material: Annotated[str | None, typer.Option(
        help="Material of --plot (default: the one with the highest peak price multiple "
             "outside the controller).")] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
    show_sources: SourcesOpt = False,
) -> None:
    """Run a disruption scenario: price, shortfall and recovery bands (P10/P50/P90).

    --json carries the whole summary, notes, sources and provenance (with --paths the
    monthly paths); months_to_recovery is the string 'not within horizon' when a segment
    has not recovered by the end (null only where a value is not available). Dates are ISO
    month starts.
    """
    from oreflow.simulate.result import check_output

    fmt = _fmt(as_json, as_csv)
    target = check_output(out, out_format.value if out_format else None) if out else None
    if fmt is Format.csv and table is None and paths:
        raise InputError("--csv prints one table: add --table summary or --table paths "
                         "(or use --json, or --out for every table)")
    if table is not None and fmt is not Format.csv:
        raise InputError("--table chooses the table of --csv; --json carries every table")
    if table is StressTable.paths and not paths:
        paths = True
    if seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {seed}")
    if plot is not None:
        from oreflow.report.export import check_figure_path

        check_figure_path(plot)
    elif plot_material is not None:
        raise InputError("--plot-material chooses the material of --plot: add --plot FILE")

    from oreflow.simulate import simulate

    sc = _load_scenario(scenario)
    from oreflow.cli.render import progress

    with progress(f"{sc.name}: {draws} draws", waiting="building the baseline") as bar:
        result = simulate(sc, draws=draws, seed=seed, horizon=horizon, progress=bar)
    from oreflow.simulate.result import export_recovery

    summary = result.summary()
    if plot is not None and plot_material is not None and plot_material not in result.materials:
        from oreflow.errors import unknown

        raise unknown("material", plot_material, result.materials)
    written = result.write(target.path, target.fmt) if target is not None else []
    if plot is not None:
        from oreflow.report.export import write_figure
        from oreflow.report.figures import fan_chart

        written.append(write_figure(fan_chart(result, plot_material or top_material(summary)),
                                    plot))
    shown = summary if all_materials else _affected(summary)
    sources = _scenario_sources(sc)
    if fmt is Format.json:
        from oreflow.jsonview import stress_payload

        print_json(stress_payload(sc, result, paths=paths, all_materials=all_materials,
                                  written=written))
        return
    if fmt is Format.csv:
        if table is StressTable.paths:
            emit(result.to_pandas(), fmt)
        elif table is StressTable.sectors:
            emit(result.sector_shortfall(), fmt)
        elif table is StressTable.redirect:
            emit(result.redirect_table(), fmt)
        else:
            emit(export_recovery(summary), fmt)
        return
    from oreflow.cli._app import renderer

    out_ = renderer(fmt, wide=wide, sources=show_sources)
    out_.table("summary", _display(shown),
               title=f"{sc.name}: {draws} draws, seed {seed} — P50 (P10–P90) over draws",
               caption=f"peak price × = peak price ÷ {result.provenance.get('baseline_year')} "
                       "price in that segment; shortfall = unmet share of baseline demand; "
                       "cost = buyers' loss (negative: gain); ∞ months = not recovered within "
                       "the horizon")
    if result.arrays.redirect is not None:
        out_.table("redirect", _redirect_display(result.redirect_table(), every=1 if wide else 3),
                   title="flow redirect, t of the redirected content: P50 (P10–P90)",
                   caption="redirected = feed the controller's separators lose; separated = "
                           "what the receiving side separates, at most its usable capacity; "
                           "stock = ore waiting at month end [t]; the rest in t/month; "
                           "quarterly rows (--wide: every month)")
    out_.notes(_notes(shown, result))
    if paths:
        out_.print("monthly paths: --json --paths, --csv --table paths, or --out", style="dim")
    out_.sources(sources, hint="trace: oreflow data sources sources|policies|licensing ID; "
                               "parameters: docs/engine.md §5")
    prov = result.provenance
    out_.print(f"scenario hash {prov.get('scenario_hash')} · dataset "
               f"{prov.get('dataset_version')} · oreflow {prov.get('package_version')}",
               style="dim")
    for p in written:
        out_.print(f"wrote {p}")
    out_.finish()


def _redirect_display(table: Any, every: int) -> Any:
    """The redirect table of a result, one row per redirect and month (every ``every``
    months), one "P50 (P10–P90)" column per quantity (``lost`` only where some ore is)."""
    import pandas as pd

    order = ["redirected_t", "separated_t", "capacity_t", "stock_t", "lost_t"]
    if not (table.loc[table["quantity"] == "lost_t", "p90"] > 0).any():
        order.remove("lost_t")
    t = table[(table["month"] % every == 0) & table["quantity"].isin(order)]
    t = t.assign(_o=t["quantity"].map(order.index)).sort_values(["redirect", "month", "_o"],
                                                                  kind="stable")
    many = t["redirect"].nunique() > 1
    rows = []
    for (rid, _), g in t.groupby(["redirect", "month"], sort=False):
        row: dict[str, Any] = {"redirect": rid} if many else {}
        row["date"] = str(g["date"].iloc[0])[:7]
        for q in g.to_dict("records"):
            row[str(q["quantity"]).removesuffix("_t")] = (
                f"{q['p50']:,.0f} ({q['p10']:,.0f}–{q['p90']:,.0f})")
        rows.append(row)
    return pd.DataFrame(rows)


def _share(x: float) -> str:
    """A share of draws as a percentage; under 1% as '<1%' (a bound hit in 3 of 1,000 draws
    is not '0%')."""
    return "<1%" if 0 < x < 0.005 else f"{x:.0%}"
