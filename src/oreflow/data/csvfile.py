"""Strict reading of CSV files given by users (and of the tables oreflow writes).

One concern: turn a file into a rectangular frame of strings, or into an
:class:`~oreflow.errors.InputError` that names the file and line. Every way a file can be
unreadable is an input error here, never an internal one: a missing path, a directory, a
file over :data:`MAX_FILE_BYTES`, text that is not UTF-8, broken quoting, a cell over the
size limit, NUL characters, a header with empty or repeated names, and rows with more or
fewer cells than the header (pandas would silently pad short rows and shift long ones).

Blank lines are skipped, and a quoted cell may span lines, so the frame keeps the file line
of every row (:attr:`CsvText.lines`); validation reports row positions and the importer maps
them back with :meth:`CsvText.line_of`.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from oreflow.errors import Problem, ValidationError
from oreflow.textfile import decode_utf8, read_limited

__all__ = [
    "DECIMAL_PATTERN",
    "MAX_CELL_CHARS",
    "MAX_FILE_BYTES",
    "UNLIMITED",
    "CsvText",
    "is_decimal",
    "is_non_finite_word",
    "parse_csv_text",
    "parse_number",
    "printable",
    "read_csv_strings",
    "read_csv_text",
    "read_limited",
]

#: Largest file :func:`read_csv_text` reads [bytes] (100 MiB): an import is a table of
#: figures, and a bigger file is a mistake (or an attack) that would only exhaust memory.
MAX_FILE_BYTES = 100 * 1024 * 1024
#: ``max_bytes`` for files oreflow itself wrote (embedded tables, the user layer): no cap.
UNLIMITED = 1 << 62
#: Longest cell accepted [characters] (128 KiB, the ``csv`` module's default limit).
MAX_CELL_CHARS = 128 * 1024
#: Problems listed before a file is given up on (the rest would repeat the same mistake).
_MAX_PROBLEMS = 200

#: A plain decimal number (optional sign, digits with an optional fraction, an optional
#: exponent): what numeric cells may hold.
DECIMAL_PATTERN = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_NUMBER = re.compile(DECIMAL_PATTERN)
_NON_FINITE = {"inf", "infinity", "nan"}


@dataclass
class CsvText:
    """A parsed CSV: the header, a frame of strings (empty cells missing) and row lines.

    Attributes
    ----------
    frame : pandas.DataFrame
        One column per header name, ``object`` dtype, ``NaN`` for empty cells.
    lines : list of int
        1-based file line on which each row of ``frame`` starts (the header is line 1 or
        later, after any blank lines).
    """

    frame: pd.DataFrame
    lines: list[int]

    def line_of(self, position: int) -> int:
        """File line of the row at 0-based ``position`` (past the end: the next line)."""
        if 0 <= position < len(self.lines):
            return self.lines[position]
        return (self.lines[-1] + 1) if self.lines else 2


def parse_csv_text(text: str, label: str, *, strip: bool = True) -> CsvText:
    """Parse CSV ``text`` strictly (see the module docstring); ``label`` names it in errors.

    ``strip`` trims blanks around header names and cells (user files); the embedded files
    are written clean.

    Raises
    ------
    oreflow.errors.ValidationError
        One :class:`~oreflow.errors.Problem` per bad row or cell, with its line.
    """
    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[list[object]] = []
    lines: list[int] = []
    start = 1
    has_nul = "\x00" in text
    limit = csv.field_size_limit()
    csv.field_size_limit(MAX_CELL_CHARS)
    try:
        while len(problems) < _MAX_PROBLEMS:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                rule = str(exc)
                if "field larger" in rule:
                    rule = f"a cell is longer than {MAX_CELL_CHARS} characters"
                elif "end of data" in rule:
                    rule = "a quoted cell is never closed (unbalanced '\"')"
                problems.append(Problem(label, start, None, f"not valid CSV: {rule}"))
                break
            line, start = start, reader.line_num + 1
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line
            if header is None:
                header = _check_header([c.strip() for c in record], label, line, problems)
                continue
            cells = [c.strip() for c in record] if strip else record
            if has_nul:
                for name, cell in zip(header, cells, strict=False):
                    if "\x00" in cell:
                        problems.append(Problem(label, line, name, "contains a NUL character"))
            if len(cells) != len(header):
                more = len(cells) > len(header)
                problems.append(Problem(
                    label, line, None,
                    f"row has {len(cells)} cells but the header has {len(header)} "
                    + ("(an unquoted comma in a value?)" if more
                       else "(write missing values as empty cells: add the commas)")))
                continue
            rows.append([c if c != "" else math.nan for c in cells])
            lines.append(line)
    finally:
        csv.field_size_limit(limit)
    if header is None and not problems:
        problems.append(Problem(label, None, None, "empty file (no header line)"))
    if problems:
        raise ValidationError(problems)
    assert header is not None
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    return CsvText(frame=frame, lines=lines)


def _check_header(cells: list[str], label: str, line: int,
                  problems: list[Problem]) -> list[str]:
    """The header names; empty, repeated and NUL-holding names are problems."""
    seen: set[str] = set()
    for i, name in enumerate(cells, start=1):
        if not name:
            problems.append(Problem(label, line, None, f"header cell {i} has no column name"))
        elif "\x00" in name:
            problems.append(Problem(label, line, None,
                                    f"header cell {i} contains a NUL character"))
        elif name in seen:
            problems.append(Problem(label, line, printable(name),
                                    "column appears twice in the header"))
        seen.add(name)
    return cells


def printable(text: str, width: int = 40) -> str:
    """``text`` fit for a one-line message: control characters escaped, long text cut."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return out if len(out) <= width else out[: width - 1] + "…"


def read_csv_text(path: Path, *, label: str | None = None, strip: bool = True,
                  max_bytes: int | None = None) -> CsvText:
    """Read and strictly parse the CSV at ``path`` (see :func:`parse_csv_text`).

    Raises
    ------
    oreflow.errors.InputError
        For every unreadable file (a :class:`~oreflow.errors.ValidationError` for problems
        with a line).
    """
    label = label or str(path)
    data = read_limited(path, label=label,
                        max_bytes=MAX_FILE_BYTES if max_bytes is None else max_bytes)
    return parse_csv_text(decode_utf8(data, label), label, strip=strip)


def read_csv_strings(path: Path, *, strip: bool = True) -> pd.DataFrame:
    """Read a CSV with every cell as a string and empty cells as missing (``NaN``).

    ``strip`` trims blanks around cells (user files); the embedded files are written clean.
    Unreadable or malformed files raise :class:`~oreflow.errors.InputError`.
    """
    return read_csv_text(path, strip=strip).frame


def parse_number(cell: str) -> float | None:
    """The finite number written in ``cell``, or ``None`` if it is not one.

    Accepts plain decimal notation with an optional exponent (``12``, ``-0.5``, ``1e6``);
    rejects ``inf``, ``nan``, hex, digit separators and values beyond the float range.
    """
    text = cell.strip()
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def is_decimal(cell: str) -> bool:
    """Whether ``cell`` is written as a plain decimal number (finite or not: ``1e400``)."""
    return _NUMBER.fullmatch(cell.strip()) is not None


def is_non_finite_word(cell: str) -> bool:
    """Whether ``cell`` spells infinity or NaN (``inf``, ``-Infinity``, ``nan`` …)."""
    return cell.strip().lower().lstrip("+-") in _NON_FINITE
