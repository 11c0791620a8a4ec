"""User-facing errors.

Every error a user can cause (bad input file, unknown name, invalid query) is raised as an
:class:`OreflowError`. The CLI prints its message as one line (or one line per problem) and
exits with its ``exit_code``; only ``--debug`` shows a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class OreflowError(Exception):
    """Base class of errors meant for the user; ``exit_code`` is the process exit status."""

    exit_code: int = 1

    def lines(self) -> list[str]:
        """Return the message as the lines the CLI prints."""
        return [str(self)]


class InputError(OreflowError):
    """Bad input from the user: unknown name, malformed option, invalid file (exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One rule broken by one cell of an input file.

    Attributes
    ----------
    file : str
        File name as given by the user (or the table name for stored data).
    line : int | None
        1-based line number in the file (the header is line 1), ``None`` for file-level problems.
    column : str | None
        Column (field) name, ``None`` for row- or file-level problems.
    rule : str
        What is wrong, in words.
    """

    file: str
    line: int | None
    column: str | None
    rule: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.column is not None:
            where += f": column '{self.column}'"
        return f"{where}: {self.rule}"


class ValidationError(InputError):
    """A file or table broke one or more rules; one :class:`Problem` per broken rule."""

    def __init__(self, problems: Sequence[Problem], *, limit: int = 50) -> None:
        self.problems = list(problems)
        self.limit = limit
        n = len(self.problems)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} found; nothing was written")

    def lines(self) -> list[str]:
        """One line per problem (at most ``limit``), then a summary line."""
        shown = [str(p) for p in self.problems[: self.limit]]
        if len(self.problems) > self.limit:
            shown.append(f"... and {len(self.problems) - self.limit} more problems")
        shown.append(str(self))
        return shown


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` if none is close."""
    options = list(choices)
    lower = {c.lower(): c for c in options}
    if value.lower() in lower:
        return f" (did you mean '{lower[value.lower()]}'?)"
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    if not close:
        close = [lower[c] for c in difflib.get_close_matches(value.lower(), list(lower), n=1)]
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown(kind: str, value: str, choices: Iterable[str]) -> InputError:
    """Build the error for an unknown table, country, material, bloc or scenario name."""
    options = sorted(set(choices))
    hint = did_you_mean(value, options)
    if not hint and len(options) <= 30:
        hint = f" (known: {', '.join(options)})"
    return InputError(f"unknown {kind} '{value}'{hint}")
