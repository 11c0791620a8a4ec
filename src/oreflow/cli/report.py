"""``oreflow report``: a scenario's stress report as one self-contained HTML page or a PDF.

Imports inside the command are deliberate: the CLI starts fast.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from oreflow.cli._app import app
from oreflow.errors import InputError

__all__ = ["report"]


class ReportFormat(StrEnum):
    """Formats of ``oreflow report``."""

    html = "html"
    pdf = "pdf"


@app.command()
def report(
    scenario: Annotated[str, typer.Argument(
        help="Built-in scenario name (see `oreflow scenarios`) or a YAML file.")],
    out: Annotated[Path, typer.Option(
        help="The report file: .html for --format html, .pdf for --format pdf (checked "
             "before the run).")],
    fmt: Annotated[ReportFormat, typer.Option(
        "--format", help="html (self-contained, opens offline) or pdf (printed by "
                         "Chromium).")] = ReportFormat.html,
    bom: Annotated[Path | None, typer.Option(
        help="A bill of materials (YAML or CSV): adds its months to stock-out, units and "
             "cost under the scenario.")] = None,
    draws: Annotated[int, typer.Option(help="Monte Carlo draws.", min=1)] = 500,
    seed: Annotated[int, typer.Option(
        help="Random seed, a non-negative integer (in the footer).")] = 0,
) -> None:
    """Write a scenario's stress report: summary, headline table, price fan charts,
    shortfall by region and sector, concentration context, the BOM's exposure and a
    provenance footer with every source cited."""
    from oreflow.cli.render import progress
    from oreflow.report.document import check_report_out, report_bytes

    if seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {seed}")
    path = check_report_out(out, fmt.value)
    from oreflow.simulate import Scenario

    sc = Scenario.load(scenario)
    b = None
    if bom is not None:
        from oreflow.exposure import read_bom

        b = read_bom(bom)
    with progress(f"{sc.name}: {draws} draws", waiting="building the baseline") as bar:
        data = report_bytes(sc, fmt.value, bom=b, draws=draws, seed=seed, progress=bar)
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    typer.echo(f"wrote {path}")
