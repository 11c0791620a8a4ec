"""The ``history`` verb: each country's share of a stage across the years the data hold.

Imports inside the command function are deliberate: each verb loads only what it uses, so
`oreflow --help` and `oreflow data list` start in well under a second.
"""

from __future__ import annotations

from typing import Annotated

import typer

from oreflow.cli._app import (
    CsvOpt,
    Format,
    JsonOpt,
    SourcesOpt,
    WideOpt,
    _fmt,
    app,
    json_payload,
    print_json,
    renderer,
)
from oreflow.cli.render import Col
from oreflow.jsonview import records

__all__ = ["history"]

#: The year table's columns: keys first; the producers' columns (``CHN share`` …) are
#: shares, dropped from the right when the terminal is narrow.
COLUMNS = {
    "year": Col("year", kind="year", priority=0),
    "edition": Col("edition", kind="id", priority=0),
    "world_t": Col("world total", unit="t", priority=3),
}
SHARE = Col("", kind="share", priority=5)


@app.command()
def history(
    material: Annotated[str, typer.Option(
        "--material", "-m", help="REO, an element (Dy, …), a product (NdFeB) or another "
                                 "mineral (Ga, W, …).")] = "REO",
    stage: Annotated[str, typer.Option(help="mine, separation, metal or magnet.")] = "mine",
    country: Annotated[list[str] | None, typer.Option(
        "--country", "-c", help="Country to show, ISO3 code or name (repeatable); default: the top "
                                "producers.")] = None,
    edition: Annotated[str, typer.Option(
        help="latest (newest edition with a world total, per year), all (every edition: "
             "revisions) or one edition label (e.g. MCS2025).")] = "latest",
    top: Annotated[int, typer.Option(min=1, help="Producers shown without --country.")] = 5,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
    show_sources: SourcesOpt = False,
) -> None:
    """Each country's share (and tonnes) of a stage across the years and editions in the data.

    Years as rows, shares in % (fractions in --csv, the tidy rows, and --json, everything).
    """
    from oreflow.chain.history import history as run

    countries = [c.strip() for c in country or [] if c.strip()] or None
    answer = run(material, stage, countries=countries, edition=edition, top=top)
    fmt = _fmt(as_json, as_csv)
    unit = answer.meta.get("unit", "t")
    if fmt is Format.json:
        payload = json_payload(answer, material=material, stage=stage, edition=edition,
                               unit=unit, years=answer.meta.get("years", []))
        payload["table"] = records(answer.tables["table"])
        payload["rows"] = records(answer.tables["history"])
        print_json(payload)
        return
    which = {"latest": "newest edition per year", "all": "every edition"}.get(
        edition, f"edition {edition}")
    out = renderer(fmt, wide=wide, sources=show_sources)
    out.table("history", answer.tables["table"], columns=COLUMNS, default=SHARE,
              csv_df=answer.tables["history"],
              title=f"{material} {stage} output: share of each producer by year ({which})")
    out.notes(answer.notes)
    out.sources(answer.sources_by_part)
    out.finish()
