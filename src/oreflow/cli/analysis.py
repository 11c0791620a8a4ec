"""Supply-chain verbs: ``overview``, ``concentration``, ``trace``, ``blocs``, ``risk``.
Imports inside command functions are deliberate: each verb loads only what it uses, so
`oreflow --help` and `oreflow data list` start in well under a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    emit_answer,
    renderer,
)
from oreflow.cli.render import Col
from oreflow.data.catalog import DEFAULT_YEAR

__all__ = ["blocs", "concentration", "overview", "risk", "trace"]

#: Numeric columns of pivot tables (stages or countries as columns) are shares.
SHARE = Col("", kind="share", priority=5)

YearOpt = Annotated[int, typer.Option(help="Data year.")]
MaterialOpt = Annotated[str, typer.Option(
    "--material", "-m", help="REO, an element (Nd, Dy, …) or another mineral (Ga, W, …).")]


def _check_plot(plot: Path | None) -> None:
    """Check a --plot path before any work."""
    if plot is not None:
        from oreflow.report.export import check_figure_path

        check_figure_path(plot)


@app.command()
def overview(year: YearOpt = DEFAULT_YEAR, as_json: JsonOpt = False,
             as_csv: CsvOpt = False, wide: WideOpt = False, show_sources: SourcesOpt = False,
             table: TableOpt = None) -> None:
    """Stage-by-stage concentration of the rare-earth chain, and China's share by element.

    Tables: stages, controller.
    """
    from oreflow.chain.analysis import overview as run

    answer = run(year)
    fmt = _fmt(as_json, as_csv)
    emit_answer(answer, renderer(fmt, wide=wide, sources=show_sources, table=table), [
        ("stages", f"Rare-earth supply chain {year}: concentration by stage"),
        ("controller", f"China's share of each stage, {year}"),
    ], defaults={"controller": SHARE}, year=year)


@app.command()
def concentration(
    material: MaterialOpt = "REO",
    stage: Annotated[str | None, typer.Option(help="One stage only.")] = None,
    year: YearOpt = DEFAULT_YEAR,
    shares: Annotated[bool, typer.Option("--shares", help="Also print country shares.")]
    = False,
    plot: Annotated[Path | None, typer.Option(
        help="Write the stage shares by country as stacked bars to a .html (offline), "
             ".png, .svg or .pdf file (static formats need Chromium).")] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
    show_sources: SourcesOpt = False,
    table: TableOpt = None,
) -> None:
    """Concentration per stage: top producer, CR1, CR3, HHI, WGI-weighted HHI.

    Tables: concentration, shares (with --shares; stages as rows in CSV and JSON, countries
    as rows on the terminal).
    """
    from oreflow.chain.analysis import concentration as run

    _check_plot(plot)
    answer = run(material, year, stage=stage)
    if plot is not None:
        from oreflow.report.export import write_figure
        from oreflow.report.figures import stage_share_bars

        write_figure(stage_share_bars(answer), plot)
    material = str(answer.meta.get("material", material))  # the code: Dysprosium -> Dy
    fmt = _fmt(as_json, as_csv)
    order = [("concentration", f"{material} {year}: concentration by stage")]
    views = {}
    if shares or fmt is Format.json:
        from oreflow.jsonview import nonzero_columns

        sh = nonzero_columns(answer.tables["shares"])
        answer.tables["shares"] = sh.reset_index()
        by_country = sh.T
        by_country = by_country.loc[by_country.max(axis=1).sort_values(ascending=False).index]
        views["shares"] = by_country.rename_axis("country").reset_index()
        order.append(("shares", f"{material} {year}: each country's share of each stage"))
    emit_answer(answer, renderer(fmt, wide=wide, sources=show_sources, table=table), order,
                defaults={"shares": SHARE}, views=views, material=material, year=year)


@app.command()
def trace(
    material: MaterialOpt = "REO",
    country: Annotated[str, typer.Option(
        "--country", "-c", help="ISO3/ISO2 code or English name, e.g. JPN or Japan.")]
    = "JPN",
    stage: Annotated[str | None, typer.Option(
        help="Stage (default: the last stage the country uses or makes).")] = None,
    controller: Annotated[list[str] | None, typer.Option(
        "--controller", help="Country or bloc to test for (repeatable; default CHN).")] = None,
    node: Annotated[str | None, typer.Option(
        help="use (what the country's industry uses) or output (what it makes); default "
             "use where it has any.")] = None,
    year: YearOpt = DEFAULT_YEAR,
    plot: Annotated[Path | None, typer.Option(
        help="Write a Sankey of the flows, mine to the country, stage by stage, to a .html "
             "(offline), .png, .svg or .pdf file (static formats need Chromium).")] = None,

    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
    show_sources: SourcesOpt = False,
    table: TableOpt = None,
) -> None:
    """Where a country's material was mined, and how much passed through a controller.

    Tables: control, origin.
    """
    from oreflow.chain.analysis import trace as run

    _check_plot(plot)
    answer = run(material, country.upper(), stage=stage, year=year,
                 controllers=controller or ["CHN"], node=node)
    if plot is not None:
        from oreflow.report.export import write_figure
        from oreflow.report.figures import trace_sankey

        write_figure(trace_sankey(answer), plot)
    m = answer.meta
    material = str(m.get("material", material))  # the code: Dysprosium -> Dy
    fmt = _fmt(as_json, as_csv)
    what = "use of" if m["node"] == "use" else "output at"
    unit = str(m["unit"]).replace("_", " ")
    emit_answer(answer, renderer(fmt, wide=wide, sources=show_sources, table=table), [
        ("control", f"{material}: {m['country']}'s {what} the {m['stage']} stage "
                    f"({m['tonnes']:,.0f} {unit}/yr): share that passed through each "
                    "controller"),
        ("origin", "where it was mined (share of that material)"),
    ], material=material, country=m["country"], stage=m["stage"], node=m["node"],
       tonnes=m["tonnes"], unit=m["unit"], year=year)


@app.command()
def blocs(
    bloc: Annotated[str | None, typer.Option(
        help="Bloc name (MSP, G7, QUAD, EU27, … or one from --bloc-file).")] = None,
    without: Annotated[str | None, typer.Option(
        help="Remove this country's supply to the bloc (e.g. CHN).")] = None,
    material: MaterialOpt = "REO",
    bloc_file: Annotated[Path | None, typer.Option(
        help="CSV with columns bloc,iso3 defining your own blocs.")] = None,
    crma: Annotated[bool, typer.Option(
        "--crma", help="Also test the EU Critical Raw Materials Act benchmarks.")] = False,
    year: YearOpt = DEFAULT_YEAR,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
    show_sources: SourcesOpt = False,
    table: TableOpt = None,
) -> None:
    """What a bloc produces and needs at each stage, and who supplies the rest.

    Tables: summary (without --bloc); balance, crma (with --crma).
    """
    from oreflow.chain.analysis import bloc_balance, bloc_summary, load_blocs

    extra = load_blocs(bloc_file) if bloc_file else {}
    fmt = _fmt(as_json, as_csv)
    out = renderer(fmt, wide=wide, sources=show_sources, table=table)
    if bloc is None:
        answer = bloc_summary(material, year, extra_blocs=extra)
        emit_answer(answer, out, [("summary", f"Blocs' share of world {material} output, "
                                              f"{year}")],
                    defaults={"summary": SHARE}, material=material, year=year)
        return
    answer = bloc_balance(bloc, material, year, without=without, extra_blocs=extra,
                          crma=crma)
    keep = ["stage", "case", "unit", "bloc_output", "bloc_demand", "self_sufficiency",
            "import_reliance", "largest_outside_supplier", "largest_outside_share",
            "controller_share", "bloc_supply", "supply_coverage", "imports", "exports"]
    bal = answer.tables["balance"]
    views = {"balance": bal[[c for c in keep if c in bal.columns]]}
    members = answer.meta.get("members") or []
    order = [("balance", f"{bloc} ({len(members)} members) {material} {year}: output, needs "
              "and outside supply by stage"
              + (f" (with and without {without})" if without else ""))]
    if crma:
        order.append(("crma", f"{bloc}: EU Critical Raw Materials Act benchmarks (2030)"))
    emit_answer(answer, out, order, views=views,
                columns={"value": Col("value", kind="share", priority=1),
                         "threshold": Col("threshold", kind="share", priority=2)},
                bloc=bloc, material=material, year=year, without=without, members=members)


@app.command()
def risk(
    material: MaterialOpt = "REO",
    bloc: Annotated[str | None, typer.Option(
        help="Importer whose risk is assessed (bloc or ISO3); default: global view.")] = None,
    eol_rir: Annotated[float, typer.Option(
        help="End-of-life recycling input rate [0-1] (EU factsheet value).")] = 0.0,
    si_sr: Annotated[float, typer.Option(
        help="Substitution index for supply risk [0-1] (1 = no substitute).")] = 1.0,
    year: YearOpt = DEFAULT_YEAR,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
    show_sources: SourcesOpt = False,
) -> None:
    """EU-style supply risk per stage (WGI-weighted concentration), and the bottleneck."""
    from oreflow.chain.analysis import supply_risk

    answer = supply_risk(material, year, bloc=bloc, eol_rir=eol_rir, si_sr=si_sr)
    material = str(answer.meta.get("material", material))  # the code: Dysprosium -> Dy
    out = renderer(_fmt(as_json, as_csv), wide=wide, sources=show_sources)
    emit_answer(answer, out, [
        ("risk", f"{material} {year}: supply risk by stage"
                 + (f" for {bloc}" if bloc else " (global view)")),
    ], material=material, year=year, bloc=bloc)
