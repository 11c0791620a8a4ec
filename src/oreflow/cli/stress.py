"""Disruption verbs: ``stress``, ``scenarios``.
Imports inside command functions are deliberate: each verb loads only what it uses, so
`oreflow --help` and `oreflow data list` start in well under a second.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from oreflow.cli._app import (
    CsvOpt,
    Format,
    JsonOpt,
    _fmt,
    _jsonable,
    app,
    console,
    emit,
    print_json,
)


def _multiple(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


#: Bands printed in the stress table: (column stem, header, number format).
BANDS: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("peak_price_multiple", "peak price ×", _multiple),
    ("shortfall_share", "shortfall share", "{:.0%}".format),
    ("months_to_recovery", "months to recovery", "{:.0f}".format),
    ("cost_musd", "cost [M USD]", "{:,.0f}".format),
)


def _band(row: dict[str, Any], stem: str, fmt: Callable[[float], str]) -> str:
    """``P50 (P10–P90)`` of one summary row, as text."""

    def one(v: float) -> str:
        return "∞" if v == float("inf") else fmt(v)

    return f"{one(row[stem + '_p50'])} ({one(row[stem + '_p10'])}–{one(row[stem + '_p90'])})"


def _display(summary: Any) -> Any:
    """Compact table: one row per material and segment, each band as P50 (P10–P90)."""
    import pandas as pd

    rows = []
    for r in summary.to_dict("records"):
        seg = r["region"] if r["region"] == r["role"] else f"{r['region']} ({r['role']})"
        row = {"material": r["material"], "segment": seg}
        for stem, header, fmt in BANDS:
            if f"{stem}_p50" in r:
                row[header] = _band(r, stem, fmt)
        rows.append(row)
    return pd.DataFrame(rows)


def _load_scenario(name_or_path: str) -> Any:
    # imported here: the simulator's modules are heavy and the CLI must start fast
    from oreflow.simulate import Scenario

    return Scenario.load(name_or_path)


def _scenario_sources(sc: Any) -> list[str]:
    """Source ids a scenario cites, for itself and each shock, in order of first mention."""
    ids: list[str] = list(getattr(sc, "source_ids", []))
    for shock in getattr(sc, "shocks", []):
        ids += list(getattr(shock, "source_ids", []))
    return list(dict.fromkeys(ids))


def _affected(summary: Any) -> Any:
    """Rows of materials whose price or supply moves in any region (P90 band)."""
    moved = ((summary["peak_price_multiple_p90"] - 1).abs() > 1e-6) | (
        summary["shortfall_share_p90"] > 1e-6)
    materials = set(summary.loc[moved, "material"])
    return summary[summary["material"].isin(materials)]


@app.command()
def scenarios(as_json: JsonOpt = False, as_csv: CsvOpt = False) -> None:
    """List the built-in scenarios."""
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
         caption="oreflow stress NAME · or a YAML file of your own")


class OutFormat(StrEnum):
    """File formats of ``stress --out``."""

    parquet = "parquet"
    csv = "csv"
    json = "json"


@app.command()
def stress(
    scenario: Annotated[str, typer.Argument(
        help="Built-in scenario name (see `oreflow scenarios`) or a YAML file.")],
    draws: Annotated[int, typer.Option(help="Monte Carlo draws.", min=1)] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed (recorded in the result).")] = 0,
    horizon: Annotated[int | None, typer.Option(help="Override the horizon [months].",
                                                min=1)] = None,
    out: Annotated[Path | None, typer.Option(
        help="Directory to write the full result to (Parquet, or --out-format).")] = None,
    out_format: Annotated[OutFormat, typer.Option(help="Format of --out files.")]
    = OutFormat.parquet,
    all_materials: Annotated[bool, typer.Option(
        "--all-materials", help="Table: also materials the scenario leaves unchanged.")]
    = False,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Run a disruption scenario: price, shortfall and recovery bands (P10/P50/P90)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from oreflow.simulate import simulate

    sc = _load_scenario(scenario)
    fmt = _fmt(as_json, as_csv)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                  console=console if fmt is Format.table else None,
                  disable=fmt is not Format.table or not console.is_terminal,
                  transient=True) as bar:
        task = bar.add_task(f"{sc.name}: {draws} draws", total=1.0)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done / max(total, 1))

        result = simulate(sc, draws=draws, seed=seed, horizon=horizon, progress=progress)
    summary = result.summary()
    written = result.write(out, out_format.value) if out is not None else []
    if fmt is Format.json:
        payload = {"provenance": result.provenance, "summary": _jsonable(summary),
                   "sources": _scenario_sources(sc),
                   "written": [str(p) for p in written]}
        print_json(payload)
        return
    if fmt is Format.csv:
        emit(summary, fmt)
        return
    shown = summary if all_materials else _affected(summary)
    emit(_display(shown), fmt,
         title=f"{sc.name}: {draws} draws, seed {seed} — P50 (P10–P90) over draws",
         caption=f"peak price × = peak price ÷ {result.provenance.get('baseline_year')} price "
                 "in that segment; shortfall = unmet share of baseline demand; cost = buyers' "
                 "loss (negative: gain)")
    for col, what in (("at_backstop_share", "price at its backstop (buyers switch or stop; "
                       "unmet demand is lost output)"),
                      ("guard_share", "a numerical guard bound (price floor or stock guard)")):
        hit = shown[shown[col] > 0]
        if not hit.empty:
            worst = hit.loc[hit[col].idxmax()]
            names = ", ".join(dict.fromkeys(hit["material"]))
            share = _share(float(worst[col]))
            console.print(f"[yellow]{what} in some draws for {names} (most: "
                          f"{worst['material']} {worst['region']}, {share} of draws; "
                          "docs/engine.md 4.11)[/]")
    sources = _scenario_sources(sc)
    if sources:
        console.print(f"[dim]scenario sources: {', '.join(sources)} "
                      "(trace: oreflow data sources sources|policies|licensing ID); parameters: "
                      "docs/engine.md §5[/]")
    prov = result.provenance
    console.print(f"[dim]scenario hash {prov.get('scenario_hash')} · dataset "
                  f"{prov.get('dataset_version')} · oreflow {prov.get('package_version')}[/]")
    for p in written:
        console.print(f"wrote {p}")


def _share(x: float) -> str:
    """A share of draws as a percentage; under 1% as '<1%' (a bound hit in 3 of 1,000 draws
    is not '0%')."""
    return "<1%" if 0 < x < 0.005 else f"{x:.0%}"

