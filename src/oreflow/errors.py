"""User-facing errors.

Every error a user can cause (bad input file, unknown name, invalid query) is raised as an
:class:`OreflowError`. The CLI prints its message as one line (or one line per problem) and
exits with its ``exit_code``; only ``--debug`` shows a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "InputError",
    "OreflowError",
    "Problem",
    "ValidationError",
    "closest",
    "did_you_mean",
    "unknown",
]


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


#: Least share of the longer of two spellings that must match for a did-you-mean: keeps a
#: long word from being "close" to a short code it merely contains ("Japan" and "PAN").
_COVERAGE = 0.7
#: Least similarity of spellings of six letters or more: typos of words score above 0.85
#: ("Phillipines"), unrelated names of similar letters near 0.6 ("Deutschland").
_LONG_CUTOFF = 0.75


def _closeness(a: str, b: str) -> float:
    """difflib similarity of two lower-cased spellings; 0 if their lengths differ by more
    than one and less than :data:`_COVERAGE` of the longer one matches."""
    m = difflib.SequenceMatcher(None, a, b)
    if abs(len(a) - len(b)) > 1:
        matched = sum(block.size for block in m.get_matching_blocks())
        if matched < _COVERAGE * max(len(a), len(b)):
            return 0.0
    return m.ratio()


def closest(value: str, choices: Iterable[str],
            names: Mapping[str, Sequence[str]] | None = None, *,
            cutoff: float = 0.6) -> str | None:
    """The choice closest to ``value``, comparing it with the choices and their names.

    Parameters
    ----------
    value : str
        What the user typed.
    choices : iterable of str
        The valid values (codes).
    names : mapping of str to sequence of str, optional
        Other spellings of each choice (English names, aliases), compared as well.
    cutoff : float, default 0.6
        Least difflib ratio (case-insensitive) for a match.

    Returns
    -------
    str or None
        The best choice, or ``None`` if nothing is close.

    Examples
    --------
    >>> closest("Japan", ["JPN", "PAN"]) is None  # codes alone: "PAN" is not a near miss
    True
    >>> closest("Japn", ["JPN", "PAN"], {"JPN": ["Japan"], "PAN": ["Panama"]})
    'JPN'
    >>> closest("duration", ["duration_months", "end"])
    'duration_months'
    """
    v = value.strip().lower()
    best: tuple[float, str] | None = None
    for choice in choices:
        for spelling in (choice, *(names or {}).get(choice, ())):
            s = spelling.lower()
            if s == v:
                return choice
            score = _closeness(v, s)
            if len(v) >= 4 and s.startswith(v) and s[len(v)] in "_ -":
                score = max(score, 0.9)  # the leading words of a name: duration_months
            least = max(cutoff, _LONG_CUTOFF) if min(len(v), len(s)) >= 6 else cutoff
            if score >= least and (best is None or score > best[0]):
                best = (score, choice)
    return None if best is None else best[1]


def did_you_mean(value: str, choices: Iterable[str],
                 names: Mapping[str, Sequence[str]] | None = None) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` if none is close.

    With ``names`` (other spellings of each choice, the first its display name) a name is
    matched too and shown after the code: ``" (did you mean 'JPN' (Japan)?)"``.
    """
    hit = closest(value, list(choices), names)
    if hit is None:
        return ""
    label = (names or {}).get(hit, ())
    shown = f" ({label[0]})" if label and label[0].lower() != hit.lower() else ""
    return f" (did you mean '{hit}'{shown}?)"


def unknown(kind: str, value: str, choices: Iterable[str],
            names: Mapping[str, Sequence[str]] | None = None) -> InputError:
    """Build the error for an unknown table, country, material, bloc or scenario name.

    ``names`` gives other spellings of each choice for the did-you-mean (see
    :func:`did_you_mean`).
    """
    options = sorted(set(choices))
    hint = did_you_mean(value, options, names)
    if not hint and len(options) <= 30:
        hint = f" (known: {', '.join(options)})"
    return InputError(f"unknown {kind} '{value}'{hint}")
