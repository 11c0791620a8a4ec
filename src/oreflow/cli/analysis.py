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
    _fmt,
    app,
    emit_answer,
)
from oreflow.data.catalog import DEFAULT_YEAR

YearOpt = Annotated[int, typer.Option(help="Data year.")]
MaterialOpt = Annotated[str, typer.Option(
    "--material", "-m", help="REO, an element (Nd, Dy, …) or another mineral (Ga, W, …).")]


@app.command()
def overview(year: YearOpt = DEFAULT_YEAR, as_json: JsonOpt = False,
             as_csv: CsvOpt = False) -> None:
    """Stage-by-stage concentration of the rare-earth chain, and China's share by element."""
    from oreflow.chain.analysis import overview as run

    answer = run(year)
    fmt = _fmt(as_json, as_csv)
    emit_answer(answer, fmt, [
        ("stages", f"Rare-earth supply chain {year}: concentration by stage (t REO unless "
                   "unit says)"),
        ("controller", f"China's share of each stage, {year}"),
    ], year=year)


@app.command()
def concentration(
    material: MaterialOpt = "REO",
    stage: Annotated[str | None, typer.Option(help="One stage only.")] = None,
    year: YearOpt = DEFAULT_YEAR,
    shares: Annotated[bool, typer.Option("--shares", help="Also print country shares.")]
    = False,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Concentration per stage: top producer, CR1, CR3, HHI, WGI-weighted HHI."""
    from oreflow.chain.analysis import concentration as run

    answer = run(material, year, stage=stage)
    fmt = _fmt(as_json, as_csv)
    order = [("concentration", f"{material} {year}: concentration by stage")]
    if shares or fmt is Format.json:
        sh = answer.tables["shares"]
        answer.tables["shares"] = sh.loc[:, (sh > 0).any()].reset_index()
        order.append(("shares", "country shares by stage"))
    emit_answer(answer, fmt, order, material=material, year=year)


@app.command()
def trace(
    material: MaterialOpt = "REO",
    country: Annotated[str, typer.Option("--country", "-c", help="ISO3 code, e.g. JPN.")]
    = "JPN",
    stage: Annotated[str | None, typer.Option(
        help="Stage (default: the last stage the country uses or makes).")] = None,
    controller: Annotated[list[str] | None, typer.Option(
        "--controller", help="Country or bloc to test for (repeatable; default CHN).")] = None,
    node: Annotated[str | None, typer.Option(
        help="use (what the country's industry uses) or output (what it makes); default "
             "use where it has any.")] = None,
    year: YearOpt = DEFAULT_YEAR,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Where a country's material was mined, and how much passed through a controller."""
    from oreflow.chain.analysis import trace as run

    answer = run(material, country.upper(), stage=stage, year=year,
                 controllers=controller or ["CHN"], node=node)
    m = answer.meta
    fmt = _fmt(as_json, as_csv)
    what = "use of" if m["node"] == "use" else "output at"
    emit_answer(answer, fmt, [
        ("control", f"{material}: {m['country']}'s {what} the {m['stage']} stage "
                    f"({m['tonnes']:,.0f} {m['unit']}): share that passed through each "
                    "controller"),
        ("origin", "where it was mined (share of the node's material)"),
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
) -> None:
    """What a bloc produces and needs at each stage, and who supplies the rest."""
    from oreflow.chain.analysis import bloc_balance, bloc_summary, load_blocs

    extra = load_blocs(bloc_file) if bloc_file else {}
    fmt = _fmt(as_json, as_csv)
    if bloc is None:
        answer = bloc_summary(material, year, extra_blocs=extra)
        emit_answer(answer, fmt, [("summary", f"Blocs' share of world {material} output, "
                                               f"{year}")], material=material, year=year)
        return
    answer = bloc_balance(bloc, material, year, without=without, extra_blocs=extra,
                          crma=crma)
    if fmt is Format.table:
        keep = ["stage", "case", "unit", "bloc_output", "bloc_demand", "self_sufficiency",
                "import_reliance", "largest_outside_supplier", "largest_outside_share",
                "controller_share"]
        bal = answer.tables["balance"]
        answer.tables["balance"] = bal[[c for c in keep if c in bal.columns]]
    order = [("balance", f"{bloc} {material} {year}: output, needs and outside supply by stage"
              + (f" (with and without {without})" if without else ""))]
    if crma:
        order.append(("crma", f"{bloc}: EU CRMA benchmarks"))
    emit_answer(answer, fmt, order, bloc=bloc, material=material, year=year,
                 without=without, members=answer.meta.get("members"))


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
) -> None:
    """EU-style supply risk per stage (WGI-weighted concentration), and the bottleneck."""
    from oreflow.chain.analysis import supply_risk

    answer = supply_risk(material, year, bloc=bloc, eol_rir=eol_rir, si_sr=si_sr)
    emit_answer(answer, _fmt(as_json, as_csv), [
        ("risk", f"{material} {year}: supply risk by stage"
                 + (f" for {bloc}" if bloc else " (global view)")),
    ], material=material, year=year, bloc=bloc)
