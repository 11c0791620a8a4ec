"""The ``compare`` verb: disruption scenarios side by side.

Imports inside the command function are deliberate: each verb loads only what it uses, so
`oreflow --help` starts in well under a second.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from oreflow.cli._app import CsvOpt, Format, JsonOpt, WideOpt, _fmt, app, console, emit, print_json
from oreflow.cli.render import Col
from oreflow.cli.stress import NOT_RECOVERED
from oreflow.errors import InputError

__all__ = ["CONVENTIONS", "METRIC_LABELS", "compare", "format_metric", "table_rows"]

#: Short metric labels for the 80-column table, and the number format of each.
METRIC_LABELS = {
    "peak_price_multiple": "peak price×",
    "shortfall_share": "shortfall",
    "months_to_recovery": "recovery (mo)",
    "cost_musd": "cost (M$)",
    "shortfall_t": "shortfall (t)",
}
#: How ``--json``/``--csv`` write "not recovered within the horizon".
CONVENTIONS = {
    "months_to_recovery": f"p10/p50/p90 are '{NOT_RECOVERED}' when not recovered within the "
                          "horizon (never null)",
    "diff_p50": f"'{NOT_RECOVERED}' when this scenario's P50 has not recovered and the "
                f"reference's has; 'reference {NOT_RECOVERED}' for the reverse; null when the "
                "reference has no such segment",
}


def format_metric(metric: str, v: float, *, signed: bool = False) -> str:
    """One number in the metric's format (``∞`` = not recovered within the horizon)."""
    if v != v:
        return "–"
    if v in (float("inf"), float("-inf")):
        return ("+" if signed and v > 0 else "-" if v < 0 else "") + "∞"
    sign = "+" if signed else ""
    if metric == "shortfall_share":
        if v == 0 or abs(v) < 0.0005:
            return "0%"
        return f"{v:{sign}.0%}" if abs(v) >= 0.01 else f"{v:{sign}.1%}"
    if metric in ("months_to_recovery", "cost_musd", "shortfall_t") or abs(v) >= 100:
        out = f"{v:{sign},.0f}"
        return "0" if out in ("-0", "+0") else out
    if signed:
        return "0" if abs(v) < 0.005 else f"{v:+.2f}"
    return f"{v:.3g}"


def table_rows(df: Any, *, with_segment: bool) -> Any:
    """The compact table: one row per material (segment) and metric, one column per
    scenario with its P50 (and ``Δ``, the difference of P50 to the first scenario's) over
    ``(P10–P90)``."""
    import pandas as pd

    scenarios = list(dict.fromkeys(df["scenario"]))
    rows = []
    last = None
    for (mat, role, metric), g in df.groupby(["material", "role", "metric"], sort=False):
        first = (mat, role) != last
        last = (mat, role)
        seg = str(g["region"].iloc[0])
        row: dict[str, str] = {"material": str(mat) if first else ""}
        if with_segment:
            row["segment"] = seg if first else ""
        row["metric"] = METRIC_LABELS.get(str(metric), str(metric))
        by = {r["scenario"]: r for r in g.to_dict("records")}
        for k, sc in enumerate(scenarios):
            r = by.get(sc)
            if r is None:
                row[sc] = "–"
                continue
            cell = format_metric(str(metric), r["p50"])
            if k:
                cell += f"  Δ {format_metric(str(metric), r['diff_p50'], signed=True)}"
            row[sc] = (f"{cell}\n({format_metric(str(metric), r['p10'])}–"
                       f"{format_metric(str(metric), r['p90'])})")
        rows.append(row)
    return pd.DataFrame(rows)


@app.command()
def compare(
    scenarios: Annotated[list[str], typer.Argument(
        help="Two or more built-in scenario names (see `oreflow scenarios`) or YAML files; "
             "the first is the reference of the differences.")],
    materials: Annotated[list[str] | None, typer.Option(
        "--materials", "-m", help="Materials to show (comma-separated or repeated; default: "
                                  "those that move in any scenario).")] = None,
    segment: Annotated[str, typer.Option(
        help="Segment: rest (buyers outside the controller), controller, targets, a region "
             "label such as CHN, or all.")] = "rest",
    draws: Annotated[int, typer.Option(help="Monte Carlo draws per scenario.", min=1)] = 1000,
    seed: Annotated[int, typer.Option(
        help="Random seed, the same for every scenario (non-negative).")] = 0,
    horizon: Annotated[int | None, typer.Option(
        help="Override every scenario's horizon, in months (at most 600).", min=1)] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
) -> None:
    """Compare scenarios: P50 (P10–P90) of peak price, shortfall, recovery and cost, and
    each scenario's P50 minus the first's (Δ), per material.

    --json/--csv give the tidy table (one row per scenario, material, segment and metric;
    months_to_recovery 'not within horizon' when not recovered by the end of the horizon).
    """
    fmt = _fmt(as_json, as_csv)
    if len(scenarios) < 2:
        raise InputError("compare needs two or more scenarios (the first is the reference)")
    if seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {seed}")
    mats = None
    if materials:
        mats = [m.strip() for item in materials for m in item.split(",") if m.strip()]
    segments = None if segment == "all" else [segment]

    from contextlib import nullcontext

    from oreflow.simulate import compare as run_compare

    busy = fmt is Format.table and console.is_terminal
    with (console.status(f"running {len(scenarios)} scenarios x {draws} draws")
          if busy else nullcontext()):
        df = run_compare(scenarios, draws=draws, seed=seed, materials=mats,
                         segments=segments, horizon=horizon)
    prov = df.attrs.get("provenance", {})
    if fmt is Format.json:
        from oreflow.jsonview import records

        print_json({"scenarios": list(prov), "reference": next(iter(prov), None),
                    "draws": draws, "seed": seed, "conventions": CONVENTIONS,
                    "rows": records(_recovery_text(df)), "provenance": prov})
        return
    if fmt is Format.csv:
        emit(_recovery_text(df), fmt)
        return
    if df.empty:
        console.print("no material moves in these scenarios for that segment "
                      "(--materials, --segment all)")
        return
    from oreflow.cli._app import renderer

    rows = table_rows(df, with_segment=segments is None)
    keys = ("material", "segment", "metric")  # registered columns; a column per scenario
    out = renderer(fmt, wide=wide)
    out.table("compare", rows, record=False,
              columns={c: Col(c, kind="id", priority=1) for c in rows.columns
                       if c not in keys},
              title=f"{' vs '.join(prov)}: {draws} draws, seed {seed}",
              caption="P50 over (P10–P90) across draws; Δ = P50 minus the first scenario's; "
                      "∞ months = not recovered within the horizon")
    out.finish()


def _recovery_text(df: Any) -> Any:
    """The tidy table with ``not within horizon`` for infinite recovery months."""
    import math

    out = df.copy().astype({"p10": object, "p50": object, "p90": object,
                            "diff_p50": object})
    rec = out["metric"] == "months_to_recovery"
    def months(v: Any, inf_text: str) -> Any:
        if isinstance(v, float) and math.isinf(v):
            return inf_text if v > 0 else f"reference {NOT_RECOVERED}"
        return int(v) if isinstance(v, float) and math.isfinite(v) and v == int(v) else v

    for col in ("p10", "p50", "p90"):
        out.loc[rec, col] = [months(v, NOT_RECOVERED) for v in out.loc[rec, col]]
    out.loc[rec, "diff_p50"] = [months(v, NOT_RECOVERED) for v in out.loc[rec, "diff_p50"]]
    return out
