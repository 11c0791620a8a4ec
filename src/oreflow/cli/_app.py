"""Shared pieces of the ``oreflow`` command line: the app, output formats, error handling.

Every command prints a Rich table by default, or machine-readable ``--json`` / ``--csv``.
User errors (bad files, unknown names) print one line per problem and exit non-zero (2 for
bad input); a traceback appears only with ``--debug``.

Imports inside command functions are deliberate: each verb loads only what it uses, so
`oreflow --help` and `oreflow data list` start in well under a second.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from oreflow import __version__
from oreflow.errors import InputError, OreflowError

if TYPE_CHECKING:
    import pandas as pd

    from oreflow.data.store import Store

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
err_console = Console(stderr=True)
_state = {"debug": False}


def _fail(lines: Sequence[str], exit_code: int) -> typer.Exit:
    """Print ``lines`` as ``error: …`` on stderr and return the Exit to raise."""
    for line in (part.strip() for text in lines for part in str(text).splitlines()):
        if line:
            typer.echo(f"error: {line}", err=True)
    return typer.Exit(code=exit_code)


def _guard(fn: F) -> F:
    """Turn library errors into one-line CLI errors (tracebacks only with ``--debug``)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except OreflowError as exc:
            if _state["debug"]:
                raise
            raise _fail(exc.lines(), exc.exit_code) from None
        except KeyboardInterrupt:
            raise _fail(["interrupted"], 130) from None
        except BrokenPipeError:  # the reader went away (``| head``): stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(code=0) from None
        except Exception as exc:
            if _state["debug"]:
                raise
            msg = f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)"
            raise _fail([msg], 1) from None

    return wrapper  # type: ignore[return-value]


class App(typer.Typer):
    """Typer app whose commands are wrapped by :func:`_guard`."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        """Register a command, guarding it against tracebacks."""
        register = super().command(*args, **kwargs)

        def decorator(fn: F) -> F:
            register(_guard(fn))
            return fn

        return decorator


app = App(
    name="oreflow",
    help="Model and stress-test the global rare-earth supply chain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = App(help="Browse, trace, query, import and compare the sourced dataset.",
               no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(data_app, name="data")


class Format(StrEnum):
    """Output format."""

    table = "table"
    json = "json"
    csv = "csv"


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV (for scripts).")]


def _fmt(as_json: bool, as_csv: bool) -> Format:
    if as_json and as_csv:
        raise InputError("choose one of --json and --csv")
    return Format.json if as_json else Format.csv if as_csv else Format.table


def _finite(obj: Any) -> Any:
    """Replace NaN and ±inf (not valid JSON) by ``None``, recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def print_json(payload: Any) -> None:
    """Write ``payload`` to stdout as strict JSON (non-finite numbers become ``null``)."""
    text = json.dumps(_finite(payload), indent=2, ensure_ascii=False, default=str,
                      allow_nan=False)
    sys.stdout.write(text + "\n")


def _jsonable(df: pd.DataFrame) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(df.to_json(orient="records", date_format="iso"))
    return out


def emit(df: pd.DataFrame | list[dict[str, Any]], fmt: Format, *, title: str | None = None,
         caption: str | None = None, meta: dict[str, Any] | None = None) -> None:
    """Print ``df`` as a Rich table, JSON (records, with ``meta`` if given) or CSV.

    A list of dicts is printed without importing pandas (fast paths such as ``data list``).
    """
    if isinstance(df, list):
        _emit_records(df, fmt, title=title, caption=caption, meta=meta)
        return
    import pandas as pd

    if fmt is Format.json:
        payload: Any = _jsonable(df)
        if meta is not None:
            payload = {**meta, "rows": payload}
        print_json(payload)
        return
    if fmt is Format.csv:
        df.to_csv(sys.stdout, index=False, lineterminator="\n")
        return
    table = Table(title=title, caption=caption, show_lines=False, header_style="bold")
    for col in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(
            df[col]
        )
        table.add_column(str(col), justify="right" if numeric else "left",
                         overflow="fold")
    is_year = [str(c) == "year" or str(c).endswith("_year") for c in df.columns]
    for row in df.itertuples(index=False):
        cells = []
        for v, year_col in zip(row, is_year, strict=True):
            if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
                cells.append("")
            elif year_col and isinstance(v, int | float):
                cells.append(f"{v:.0f}")
            elif isinstance(v, float):
                cells.append(format_number(v))
            else:
                cells.append(str(v))
        table.add_row(*cells)
    console.print(table)


def _emit_records(records: list[dict[str, Any]], fmt: Format, *, title: str | None,
                  caption: str | None, meta: dict[str, Any] | None) -> None:
    if fmt is Format.json:
        payload: Any = records if meta is None else {**meta, "rows": records}
        print_json(payload)
        return
    columns = list(records[0]) if records else []
    if fmt is Format.csv:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return
    table = Table(title=title, caption=caption, header_style="bold")
    for col in columns:
        numeric = all(isinstance(r[col], int | float) for r in records)
        table.add_column(col, justify="right" if numeric else "left", overflow="fold")
    for r in records:
        table.add_row(*[format_number(v) if isinstance(v, float) else str(v)
                        for v in r.values()])
    console.print(table)


def format_number(v: float) -> str:
    """Human format: thousands separators for large or whole numbers, 4 significant digits
    for small ones (``270,000``; ``0.9123``; ``1,234.5``)."""
    if v != v or v in (float("inf"), float("-inf")):
        return "" if v != v else ("∞" if v > 0 else "-∞")
    if v == int(v) and abs(v) < 1e15:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:,.1f}"
    return f"{v:.4g}"


def _store() -> Store:
    from oreflow.data.store import Store

    return Store.default()


def _parse_filters(filters: Sequence[str]) -> dict[str, str]:
    where: dict[str, str] = {}
    for item in filters:
        if "=" not in item:
            raise InputError(f"filter '{item}' must look like column=value")
        col, val = item.split("=", 1)
        where[col.strip()] = val.strip()
    return where


@app.callback(invoke_without_command=True)
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    """oreflow: who controls each stage of the rare-earth supply chain, and what if they stop."""
    _state["debug"] = debug
    if version:
        from oreflow.data.store import Store

        console.print(f"oreflow {__version__} (dataset {Store.default().version})")
        raise typer.Exit()


def footer(answer: Any, fmt: Format) -> None:
    """Print the notes and sources of an answer under a Rich table."""
    if fmt is not Format.table:
        return
    for note in answer.notes:
        console.print(f"[yellow]note:[/] {note}")
    for part, ids in answer.sources_by_part.items():
        if ids:
            console.print(f"[dim]sources ({part}): {', '.join(ids)}[/]")
    if answer.sources:
        console.print("[dim]details of a source: oreflow data sources sources ID[/]")


def json_payload(answer: Any, **extra: Any) -> dict[str, Any]:
    """The JSON frame of an answer: extra keys, sources by part and notes."""
    return {**extra, "sources": answer.sources_by_part, "notes": answer.notes}


def emit_answer(answer: Any, fmt: Format, order: list[tuple[str, str]],
                 **extra: Any) -> None:
    """Print an answer's tables (by key, with titles) as Rich tables, JSON or CSV."""
    if fmt is Format.json:
        payload = json_payload(answer, **extra)
        payload.update({key: _jsonable(answer.tables[key]) for key, _ in order})
        print_json(payload)
        return
    if fmt is Format.csv:
        key, _ = order[0]
        emit(answer.tables[key], fmt)
        return
    for key, title in order:
        emit(answer.tables[key], fmt, title=title)
    footer(answer, fmt)
