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
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from oreflow import __version__
from oreflow.cli.render import Col, PipeConsole, Renderer, format_number
from oreflow.errors import InputError, OreflowError
from oreflow.jsonview import finite, records

if TYPE_CHECKING:
    import pandas as pd

    from oreflow.data.store import Store

__all__ = ["Col", "Format", "Renderer", "app", "data_app", "emit", "emit_answer",
           "format_number", "print_json", "renderer"]

F = TypeVar("F", bound=Callable[..., Any])

console = PipeConsole()
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
            result = fn(*args, **kwargs)
            sys.stdout.flush()  # a reader that went away (``| head``) shows here, not at exit
            return result
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
    """Typer app whose commands are wrapped by :func:`_guard`.

    Called as a program (``main()``), numerical ``RuntimeWarning`` s (numpy's divide by zero,
    invalid value …) are silenced: the numbers they concern are handled and explained in the
    output, and a warning is noise to a reader. Tests invoke the commands directly, where
    warnings stay errors.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the app with numerical warnings silenced (the CLI boundary)."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return super().__call__(*args, **kwargs)

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


JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print JSON (for scripts): every table, shares as fractions.")]
CsvOpt = Annotated[bool, typer.Option(
    "--csv", help="Print CSV (for scripts), shares as fractions; several tables each under "
                  "a '# table: NAME' line.")]
WideOpt = Annotated[bool, typer.Option(
    "--wide", help="Show every column, however wide the terminal (lines may be longer).")]
SourcesOpt = Annotated[bool, typer.Option(
    "--sources", help="List every source by part (default: one folded line).")]
TableOpt = Annotated[str | None, typer.Option(
    "--table", metavar="NAME", help="Print only this table (with --csv: plain CSV).")]


def _hide_flag_metavar() -> None:
    """Show flags in ``--help`` without a ``<bool>`` type (a flag takes no value)."""
    from typer import core

    option = getattr(core, "TyperOption", None)
    original = getattr(option, "display_type_rich", None)
    if option is None or original is None or getattr(original, "_oreflow", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False):
            return None
        result: str | None = original(self, ctx)
        return result

    display_type_rich._oreflow = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich


_hide_flag_metavar()


def _fmt(as_json: bool, as_csv: bool) -> Format:
    if as_json and as_csv:
        raise InputError("choose one of --json and --csv")
    return Format.json if as_json else Format.csv if as_csv else Format.table


def print_json(payload: Any) -> None:
    """Write ``payload`` to stdout as strict JSON (non-finite numbers become ``null``)."""
    text = json.dumps(finite(payload), indent=2, ensure_ascii=False, default=str,
                      allow_nan=False)
    sys.stdout.write(text + "\n")


def renderer(fmt: Format, *, wide: bool = False, sources: bool = False,
             table: str | None = None) -> Renderer:
    """The :class:`~oreflow.cli.render.Renderer` of one command run (``--wide``,
    ``--sources``, ``--table``)."""
    return Renderer(fmt, wide=wide, sources=sources, only=table)


def emit(df: pd.DataFrame | list[dict[str, Any]], fmt: Format, *, title: str | None = None,
         caption: str | None = None, meta: dict[str, Any] | None = None,
         out: Renderer | None = None, name: str = "rows",
         columns: Mapping[str, Col] | None = None, default: Col | None = None,
         wide: bool = False) -> None:
    """Print one table: a Rich table (through ``out``), JSON (records, with ``meta`` if
    given) or CSV (formula-safe).

    With ``out`` the table joins that renderer's output (several tables, one CSV stream);
    without, it is the command's only table. A list of dicts is printed without importing
    pandas (fast paths such as ``data list``).
    """
    if fmt is Format.json:
        payload: Any = df if isinstance(df, list) else records(df)
        if meta is not None:
            payload = {**meta, "rows": payload}
        print_json(payload)
        return
    r = out or Renderer(fmt, wide=wide)
    r.table(name, df, title=title, caption=caption, columns=columns, default=default)
    if out is None:
        r.finish()


def _store() -> Store:
    from oreflow.data.store import Store

    return Store.default()


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


def json_payload(answer: Any, **extra: Any) -> dict[str, Any]:
    """The JSON frame of an answer: extra keys, sources by part and notes."""
    return {**extra, "sources": answer.sources_by_part, "notes": answer.notes}


def emit_answer(answer: Any, out: Renderer, order: list[tuple[str, str]], *,
                columns: Mapping[str, Col] | None = None,
                defaults: Mapping[str, Col] | None = None,
                views: Mapping[str, Any] | None = None, **extra: Any) -> None:
    """Print an answer's tables (by key, with titles), notes and sources.

    ``views`` holds table views for people (transposed or trimmed) by key; ``--csv`` and
    ``--json`` always get the answer's own tables. ``defaults`` gives the metadata of the
    unregistered numeric columns of a table (e.g. shares in a pivot table).
    """
    if out.fmt == Format.json:
        payload = json_payload(answer, **extra)
        payload.update({key: records(answer.tables[key]) for key, _ in order})
        print_json(payload)
        return
    for key, title in order:
        view = (views or {}).get(key)
        out.table(key, answer.tables[key] if view is None else view, title=title,
                  columns=columns, default=(defaults or {}).get(key),
                  csv_df=answer.tables[key])
    out.notes(answer.notes)
    out.sources(answer.sources_by_part)
    out.finish()
