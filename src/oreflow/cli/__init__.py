"""The ``oreflow`` command line: a thin shell over the library (Typer + Rich).

Every command prints a Rich table by default, or machine-readable ``--json`` / ``--csv``.
User errors (bad files, unknown names) print one line per problem and exit non-zero (2 for
bad input); a traceback appears only with ``--debug``.
"""

from __future__ import annotations

from oreflow.cli import (  # noqa: F401  (registers commands)
    analysis,
    calibration,
    compare,
    data,
    exposure,
    history,
    plan,
    rank,
    report,
    serve,
    stress,
    sweep,
)
from oreflow.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app(prog_name="oreflow")
