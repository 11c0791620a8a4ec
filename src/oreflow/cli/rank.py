"""The ``rank`` verb: materials ranked by an importer's expected loss from supplier
disruptions (method: ``docs/ranking.md``).

Imports inside the command function are deliberate: each verb loads only what it uses.
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
    WideOpt,
    _fmt,
    app,
    json_payload,
    print_json,
    renderer,
)
from oreflow.cli.render import Col
from oreflow.jsonview import records

__all__ = ["rank"]

#: Columns of the ranking table (keys first; the detail is dropped first when narrow).
COLUMNS = {
    "rank": Col("rank", kind="count", priority=0),
    "material": Col("material", kind="id", priority=0),
    "expected_loss_musd_per_yr": Col("expected loss", unit="M USD/yr", priority=0),
    "probability_per_yr": Col("P(disruption)", unit="%/yr", kind="share", priority=2),
    "loss_musd_p10": Col("loss P10", unit="M USD", priority=3),
    "loss_musd_p50": Col("loss P50", unit="M USD", priority=1),
    "loss_musd_p90": Col("loss P90", unit="M USD", priority=3),
    "worst_scenario": Col("worst scenario", kind="id", priority=4),
    "worst_loss_musd": Col("worst loss", unit="M USD", priority=4),
    "worst_probability_per_yr": Col("P(worst)", unit="%/yr", kind="share", priority=5),
    "main_supplier": Col("main supplier", kind="id", priority=2),
    "scenarios": Col("scenarios", kind="count", priority=6),
    "reason": Col("reason", kind="text", priority=0),
}
_SHOWN = ["rank", "material", "expected_loss_musd_per_yr", "probability_per_yr",
          "loss_musd_p10", "loss_musd_p50", "loss_musd_p90", "worst_scenario",
          "worst_loss_musd", "worst_probability_per_yr", "main_supplier"]


@app.command()
def rank(
    importer: Annotated[str, typer.Option(
        "--importer", "-i", help="Importer: ISO3 code, country name or bloc (USA, Japan, "
                                 "EU27).")],
    draws: Annotated[int, typer.Option(min=1, help="Monte Carlo draws per scenario.")] = 300,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the run (each scenario's seed "
                                                  "derives from it).")] = 0,
    materials: Annotated[list[str] | None, typer.Option(
        "--materials", "-m", help="Materials or groups to rank (repeatable or comma-"
                                  "separated; default: all the engine simulates).")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Write a bar chart of the expected losses to a .html (offline), .png, .svg or "
             ".pdf file (static formats need Chromium).")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Worker processes (default: the CPUs available); the numbers do not "
                    "depend on it.")] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
    show_sources: SourcesOpt = False,
) -> None:
    """Rank materials by an importer's expected loss from supplier disruptions.

    For each material the engine simulates: its largest suppliers at the controlling stage
    lose 25-100% of their exports for 6-24 months (to every destination or to the importer
    alone); each scenario's yearly rate comes from the history of export restrictions in the
    policies data and governance scores; the loss is the importer's shortfall at base price
    plus its cost of higher prices. Method and sources: docs/ranking.md.
    """
    from oreflow.cli.render import progress
    from oreflow.rank import rank as run
    from oreflow.rank.scenarios import check_materials, resolve_importer
    from oreflow.report.export import check_figure_path

    if plot is not None:
        check_figure_path(plot)
    mats = [p.strip() for m in materials or [] for p in m.split(",") if p.strip()] or None
    resolve_importer(importer)  # bad input fails here, before the progress line
    check_materials(mats)
    fmt = _fmt(as_json, as_csv)
    with progress(f"ranking for {importer}", waiting="building the scenarios",
                  enabled=fmt is Format.table) as bar:
        answer = run(importer, draws=draws, seed=seed, materials=mats, progress=bar,
                     workers=workers)
    if plot is not None:
        from oreflow.report.export import write_figure
        from oreflow.report.figures import ranking_figure

        write_figure(ranking_figure(answer), plot)
    if fmt is Format.json:
        payload = json_payload(answer, **{k: v for k, v in answer.meta.items()
                                          if k != "sources_by_part"})
        for key in ("ranking", "not_ranked", "scenarios", "rates", "events"):
            payload[key] = records(answer.tables[key])
        print_json(payload)
        return
    out = renderer(fmt, wide=wide, sources=show_sources)
    name = answer.meta["importer"]
    ranking = answer.tables["ranking"]
    out.table("ranking", ranking[_SHOWN], columns=COLUMNS, csv_df=ranking,
              title=f"Criticality ranking for {name}: expected loss from supplier "
                    f"disruptions ({draws} draws per scenario, seed {seed})")
    if len(answer.tables["not_ranked"]):
        out.table("not_ranked", answer.tables["not_ranked"], columns=COLUMNS,
                  title="Not ranked")
    if fmt is not Format.table:
        out.table("scenarios", answer.tables["scenarios"])
        out.table("rates", answer.tables["rates"])
    out.notes(answer.notes)
    out.sources(answer.sources_by_part)
    if plot is not None and fmt is Format.table:
        out.print(f"figure written to {plot}")
    out.finish()
