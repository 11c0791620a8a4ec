"""``oreflow data``: list, show, sources, query, import and diff the sourced dataset.
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
    _store,
    console,
    data_app,
    emit,
    emit_answer,
    renderer,
)
from oreflow.cli.render import Col, column
from oreflow.errors import unknown

__all__ = [
    "data_check",
    "data_diff",
    "data_import",
    "data_list",
    "data_query",
    "data_show",
    "data_sources",
]


@data_app.command("list")
def data_list(as_json: JsonOpt = False, as_csv: CsvOpt = False,
              wide: WideOpt = False) -> None:
    """List the tables with their row counts and vintages."""
    from oreflow.data.catalog import Catalog  # the pandas-free catalogue: starts fast

    store = Catalog.default()
    fmt = _fmt(as_json, as_csv)
    emit(store.summary(), fmt, wide=wide, title=f"oreflow dataset {store.version}",
         caption="oreflow data show TABLE · oreflow data sources TABLE KEY")


@data_app.command("show")
def data_show(
    table: Annotated[str, typer.Argument(help="Table name (see `oreflow data list`).")],
    filters: Annotated[list[str] | None, typer.Argument(
        help="Filters as column=value, e.g. iso3=CHN stage=mine.")] = None,
    vintage: Annotated[str | None, typer.Option(help="Only this edition.")] = None,
    latest: Annotated[bool, typer.Option("--latest", help="Newest edition of each figure.")]
    = False,
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns to show.")]
    = None,
    limit: Annotated[int, typer.Option(help="At most this many rows (0 = all).")] = 0,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
) -> None:
    """Show the rows of a table, optionally filtered."""
    store = _store()
    df = store.table(table, vintage=vintage, latest=latest)
    from oreflow.data.store import parse_filters

    df = store.filter(table, df, parse_filters(filters or []))
    if columns:
        cols = [c.strip() for c in columns.split(",") if c.strip()]
        info = store.info(table)
        for c in cols:
            if c not in df.columns:
                raise unknown(f"column of {table}", c, info.columns)
        df = df[cols]
    elif _fmt(as_json, as_csv) is Format.table:
        drop = [c for c in ("note", "other_source_ids", "method", "detail", "capacity_note",
                            "start_year_note", "approval_note", "description")
                if c in df.columns]
        df = df.drop(columns=drop)
    if limit:
        df = df.head(limit)
    caption = None
    if not columns and len(df.columns) > 8:
        caption = (f"{len(df.columns)} columns; pick some with --columns "
                   f"{','.join(map(str, df.columns[:4]))},… (all: --csv or --json)")
    from dataclasses import replace

    import pandas as pd

    keys = {k: replace(column(k, numeric=k in df.columns and bool(
        pd.api.types.is_numeric_dtype(df[k]))), priority=0)
        for k in store.info(table).primary_key}
    emit(df, _fmt(as_json, as_csv), title=f"{table} ({len(df)} rows)", caption=caption,
         wide=wide, columns=keys)


@data_app.command("sources")
def data_sources(
    table: Annotated[str | None, typer.Argument(help="Table whose figure to trace.")] = None,
    key: Annotated[str | None, typer.Argument(
        help="Leading key values joined by '/', e.g. 2024/mine/REO/CHN.")] = None,
    where: Annotated[list[str] | None, typer.Option(
        "--where", help="Extra filter column=value (repeatable).")] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
) -> None:
    """Trace figures to their publication, edition and URL (all sources without a table)."""
    store = _store()
    fmt = _fmt(as_json, as_csv)
    if table is None:
        df = store.table("sources")
        if fmt is Format.table:
            df = df[["source_id", "publisher", "title", "edition", "licence"]]
        emit(df, fmt, title=f"{len(df)} sources", wide=wide,
             columns={"source_id": Col("source", kind="id", priority=0)})
        return
    if table == "sources" and key:
        df = store.filter("sources", store.table("sources"), {"source_id": key})
        emit(df, fmt, title=f"source {key}", wide=wide)
        return
    parts = [p for p in (key or "").split("/") if p != ""]
    from oreflow.data.store import parse_filters

    df = store.sources_for(table, parts, parse_filters(where or []))
    emit(df, fmt, title=f"sources of {table} {key or ''}".strip(), wide=wide)


@data_app.command("query")
def data_query(
    sql: Annotated[str, typer.Argument(help="One SELECT statement; tables are named as in "
                                            "`oreflow data list`.")],
    timeout: Annotated[float, typer.Option(help="Time limit [s].")] = 10.0,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
) -> None:
    """Run a read-only SQL query (DuckDB; no file access) over the tables.

    CSV output is formula-safe: a text cell starting with = + - @ is prefixed with '.
    """
    df = _store().query(sql, timeout_s=timeout)
    emit(df, _fmt(as_json, as_csv), title=f"{len(df)} rows", wide=wide)


@data_app.command("import")
def data_import(
    file: Annotated[Path, typer.Argument(help="CSV file with the table's columns.")],
    table: Annotated[str, typer.Option("--table", "-t", help="Target table.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; write nothing.")]
    = False,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Validate a file and add its rows to your data layer (the embedded data never change)."""
    import pandas as pd

    report = _store().import_file(file, table, dry_run=dry_run)
    fmt = _fmt(as_json, as_csv)
    if fmt is Format.table:
        verb = "would import" if dry_run else "imported"
        console.print(
            f"{verb} {report.rows} rows into '{table}' ({report.added} new, "
            f"{report.replaced} replacing existing keys)"
            + ("" if dry_run else f" → {report.target}")
        )
    else:
        emit(pd.DataFrame([report.as_dict()]), fmt)


@data_app.command("diff")
def data_diff(
    table: Annotated[str, typer.Argument(help="Table with editions (vintages).")],
    from_: Annotated[str, typer.Option("--from", help="Older edition.")],
    to: Annotated[str, typer.Option("--to", help="Newer edition.")],
    all_rows: Annotated[bool, typer.Option("--all", help="Include unchanged figures.")]
    = False,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
) -> None:
    """Show what changed between two editions of a table (revisions, additions, removals).

    A figure found in one edition only is 'added' or 'removed' where the other edition's data
    cover its group (e.g. material and metric); otherwise it is marked as not in that
    edition's data, since that edition's figures are incomplete (JSON/CSV status
    not_in_from_edition / not_in_to_edition).
    """
    df = _store().diff(table, from_, to, changed_only=not all_rows)
    fmt = _fmt(as_json, as_csv)
    caption = None
    if fmt is Format.table:
        labels = {"not_in_from_edition": f"not in {from_} data",
                  "not_in_to_edition": f"not in {to} data"}
        if df["status"].isin(list(labels)).any():
            caption = ("'not in … data': that edition's figures for the group (same material, "
                       "metric, year …) are incomplete, so the absence is no addition or "
                       "removal; 'added'/'removed' only where both editions cover the group")
        df = df.assign(status=df["status"].replace(labels))
    cols = {c: Col(c.replace("_", " ").replace(" from", f" {from_}").replace(" to", f" {to}"),
                   priority=1 if c.endswith("_to") else 2)
            for c in df.columns if c.endswith(("_from", "_to"))}
    cols.update(change=Col("change", priority=3), change_pct=Col("change", "%", priority=4),
                status=Col("status", kind="text", priority=0))
    emit(df, fmt, title=f"{table}: {from_} → {to} ({len(df)} rows)", caption=caption,
         wide=wide, columns=cols)


@data_app.command("check")
def data_check(
    year: Annotated[list[int] | None, typer.Option(
        "--year", help="Data year (repeatable; default 2024 and 2025).")] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
    show_sources: SourcesOpt = False,
    table: TableOpt = None,
) -> None:
    """Check the data: mass balance, shares beside the published ones, every estimate.

    The balance runs per material (REO, Nd, Pr, Dy, Tb), year and link between stages; a
    residual is what neither a recorded use nor a sourced loss rate explains. China's share of
    each stage is oreflow's own sum of country rows, printed beside the published shares
    (cross-checks, never inputs). Every estimate is listed with its range and method.
    Tables: balance, concentration, estimates.
    """
    from oreflow.chain.checks import check_data

    answer = check_data(year or (2024, 2025), store=_store())
    fmt = _fmt(as_json, as_csv)
    # compact views for the terminal; JSON and CSV keep every column
    views = _check_views(answer.tables) if fmt is Format.table else None
    emit_answer(answer, renderer(fmt, wide=wide, sources=show_sources, table=table), [
        ("balance", "mass balance per material and link (t REO-eq per year); residual = "
                    "what neither use nor the sourced loss range explains"),
        ("concentration", "China's share of each stage: oreflow (bottom-up) vs published"),
        ("estimates", "oreflow estimates read by the chain, with range and method"),
    ], views=views, columns=CHECK_COLUMNS, years=answer.meta["years"],
       tolerance=answer.meta["tolerance"])


#: Columns of the data-check views.
CHECK_COLUMNS = {
    "link": Col("link", kind="id", priority=0),
    "supply": Col("supply", "t", priority=1),
    "use": Col("use", "t", priority=1),
    "loss": Col("loss range", "t", kind="id", priority=3),
    "residual": Col("residual", kind="share", priority=1),
    "oreflow": Col("oreflow", kind="share", priority=0),
    "published": Col("published", kind="share", priority=0),
    "range": Col("range", "t", kind="id", priority=2),
    "status": Col("status", kind="id", priority=1),
}


def _check_views(tables: dict[str, Any]) -> dict[str, Any]:
    """Terminal views of the data-check tables: the columns people read (JSON and CSV keep
    every column)."""
    import pandas as pd

    bal = tables["balance"]
    short = {"mine -> separation": "mine>sep", "separation -> metal + use": "sep>metal+use",
             "metal -> magnet + use": "metal>magnet", "magnet -> use": "magnet>use"}
    balance = pd.DataFrame({
        "year": bal["year"], "material": bal["material"], "link": bal["link"].map(
            lambda v: short.get(v, v)),
        "supply": bal["supply"], "use": bal["use"],
        "loss": [f"{a:,.0f}-{b:,.0f}" if b else "-" for a, b in
                 zip(bal["loss_low"], bal["loss_high"], strict=True)],
        "residual": bal["residual_share"], "status": bal["status"],
    })
    conc = tables["concentration"]
    concentration = pd.DataFrame({
        "year": conc["year"], "stage": conc["stage"], "oreflow": conc["oreflow"],
        "published": conc["published"], "source_id": conc["source_id"],
    })
    est = tables["estimates"]
    estimates = pd.DataFrame({
        "year": est["year"], "table": est["table"], "key": est["key"],
        "tonnes": est["tonnes"],
        "range": [_range(v, a, b) for v, a, b in
                  zip(est["tonnes"], est["low"], est["high"], strict=True)],
    })
    return {"balance": balance, "concentration": concentration, "estimates": estimates}


def _range(value: float, low: float, high: float) -> str:
    """'low-high' of an estimate (a missing end is the value itself), '-' for none."""
    import pandas as pd

    lo = value if pd.isna(low) else low
    hi = value if pd.isna(high) else high
    return "-" if lo == hi else f"{lo:,.0f}-{hi:,.0f}"
