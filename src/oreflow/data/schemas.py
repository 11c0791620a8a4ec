"""Validation of tables: a pandera schema per table, plus small ``check_*`` functions.

The pandera schemas are built from ``datapackage.json`` (the single source of truth for
column types, required fields, ranges, enumerations and primary keys), so the embedded data
and a user's import pass through the same rules. The ``check_*`` functions cover the rules
that need other tables (known countries and materials, resolvable sources) or whole groups of
rows (shares per stage summing to at most 1). Each returns a list of
:class:`~oreflow.errors.Problem` naming file, line and column.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from oreflow.data.catalog import (
    FALSE_WORDS,
    ISO3_COLUMNS,
    TRUE_WORDS,
    YEAR_RANGE,
    TableInfo,
)
from oreflow.data.csvfile import (
    DECIMAL_PATTERN,
    is_decimal,
    is_non_finite_word,
    parse_number,
    printable,
)
from oreflow.errors import Problem, did_you_mean

__all__ = [
    "check_columns",
    "check_iso3",
    "check_known",
    "check_nonnegative",
    "check_shares",
    "check_source_ids",
    "check_stage_share_sums",
    "check_years",
    "coerce",
    "show",
    "validate_frame",
]

if TYPE_CHECKING:
    import pandera.pandas as pa

#: Tolerance on sums of shares (the sources round to whole percent).
SHARE_SUM_TOLERANCE = 0.011
#: Codes in share tables that are not single countries (combined top-N etc.); skipped in sums.
_COMBINED = {"TOP3", "TOP10", "SEL18", "WLD", "MMR+CHN"}


@functools.cache
def _pandera_schema(info: TableInfo) -> pa.DataFrameSchema:
    import pandera.pandas as pa  # imported on use (0.8 s): `oreflow data list` stays under 1 s

    columns: dict[str, pa.Column] = {}
    for f in info.fields:
        name = f["name"]
        cons: dict[str, Any] = f.get("constraints", {})
        checks: list[pa.Check] = []
        if "minimum" in cons:
            checks.append(pa.Check.ge(cons["minimum"], error=f"must be >= {cons['minimum']}"))
        if "maximum" in cons:
            checks.append(pa.Check.le(cons["maximum"], error=f"must be <= {cons['maximum']}"))
        if "enum" in cons:
            allowed = ", ".join(map(str, cons["enum"]))
            checks.append(pa.Check.isin(cons["enum"], error=f"must be one of {allowed}"))
        if "pattern" in cons:
            checks.append(pa.Check.str_matches(cons["pattern"],
                                               error=f"must match {cons['pattern']}"))
        required = bool(cons.get("required")) or name in info.primary_key
        columns[name] = pa.Column(
            checks=checks or None, nullable=not required, required=True, coerce=False
        )
    unique = list(info.primary_key) or None
    return pa.DataFrameSchema(columns, unique=unique, report_duplicates="all", strict=False)


def validate_frame(info: TableInfo, df: pd.DataFrame, *, label: str,
                   first_line: int = 2) -> list[Problem]:
    """Check typed frame ``df`` against the pandera schema of its table.

    Returns one :class:`Problem` per failing cell (line = ``first_line`` + row position).
    """
    import pandera.errors as pae  # imported on use, as above

    schema = _pandera_schema(info)
    frame = df.reset_index(drop=True)
    try:
        schema.validate(frame, lazy=True)
    except pae.SchemaErrors as exc:
        return _problems_from_failures(exc.failure_cases, info, label, first_line)
    return []


def _problems_from_failures(fc: pd.DataFrame, info: TableInfo, label: str,
                            first_line: int) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[int | None, str | None, str]] = set()
    for rec in fc.to_dict("records"):
        idx = rec.get("index")
        line = int(idx) + first_line if idx is not None and pd.notna(idx) else None
        column = rec.get("column")
        column = str(column) if column is not None and pd.notna(column) else None
        check = str(rec.get("check", ""))
        case = rec.get("failure_case")
        if check == "not_nullable":
            rule = "a value is required"
        elif "field_uniqueness" in check or check.startswith("multiple_fields_uniqueness"):
            key = "/".join(info.primary_key)
            rule = f"duplicate primary key ({key})"
            column = None
        elif check == "column_in_dataframe":
            rule, column, line = "required column is missing", str(case), 1
        else:
            rule = f"{check}; got '{show(case)}'"
        tag = (line, column, rule)
        if tag not in seen:
            seen.add(tag)
            problems.append(Problem(label, line, column, rule))
    return sorted(problems, key=lambda p: (p.line or 0, p.column or ""))


def _rows(df: pd.DataFrame, mask: pd.Series, column: str, rule: str, label: str,
          first_line: int) -> list[Problem]:
    positions = [i for i, bad in enumerate(mask.to_numpy()) if bad]
    return [
        Problem(label, first_line + i, column, rule.format(value=show(df[column].iloc[i])))
        for i in positions
    ]


def check_source_ids(df: pd.DataFrame, sources: set[str], *, label: str,
                     first_line: int = 2) -> list[Problem]:
    """Every ``source_id`` (and each id in ``other_source_ids``) must name a known source."""
    problems: list[Problem] = []
    if "source_id" in df.columns:
        col = df["source_id"]
        problems += _rows(df, col.notna() & ~col.isin(sources), "source_id",
                          "unknown source '{value}' (add it to the sources table first)",
                          label, first_line)
    if "other_source_ids" in df.columns:
        for i, cell in enumerate(df["other_source_ids"]):
            if cell is None or (isinstance(cell, float) and pd.isna(cell)):
                continue
            for sid in (s.strip() for s in str(cell).split(";")):
                if sid and sid not in sources:
                    problems.append(Problem(label, first_line + i, "other_source_ids",
                                            f"unknown source '{show(sid)}'"))
    return problems


def check_iso3(df: pd.DataFrame, countries: set[str], *, label: str,
               first_line: int = 2) -> list[Problem]:
    """Country columns must hold codes of the ``countries`` table (ISO 3166 alpha-3)."""
    problems: list[Problem] = []
    for column in sorted(ISO3_COLUMNS & set(df.columns)):
        col = df[column]
        bad = col.notna() & ~col.isin(countries)
        for i in (j for j, b in enumerate(bad.to_numpy()) if b):
            value = str(col.iloc[i])
            problems.append(Problem(label, first_line + i, column,
                                    f"unknown country code '{show(value)}'"
                                    + did_you_mean(value.upper(), countries)))
    return problems


def check_known(df: pd.DataFrame, column: str, known: Iterable[str], kind: str, *,
                label: str, first_line: int = 2, combos: bool = False) -> list[Problem]:
    """Values of ``column`` must be in ``known`` (materials, elements).

    With ``combos``, a sum of known names written ``A+B`` (e.g. ``Dy+Tb``) is accepted too.
    """
    if column not in df.columns:
        return []
    names = set(known)
    col = df[column]

    def ok(value: str) -> bool:
        return value in names or (combos and all(p in names for p in value.split("+")))

    bad = col.notna() & ~col.map(lambda v: v is None or (isinstance(v, float) and pd.isna(v))
                                 or ok(str(v)))
    return [
        Problem(label, first_line + i, column,
                f"unknown {kind} '{show(col.iloc[i])}'" + did_you_mean(str(col.iloc[i]), names))
        for i in (j for j, b in enumerate(bad.to_numpy()) if b)
    ]


def check_nonnegative(df: pd.DataFrame, columns: Iterable[str], *, label: str,
                      first_line: int = 2) -> list[Problem]:
    """Tonnage-like columns must not be negative."""
    problems: list[Problem] = []
    for column in columns:
        if column in df.columns:
            col = pd.to_numeric(df[column], errors="coerce")
            problems += _rows(df, col < 0, column, "must not be negative; got {value}",
                              label, first_line)
    return problems


def check_years(df: pd.DataFrame, columns: Iterable[str], *, label: str,
                first_line: int = 2) -> list[Problem]:
    """Year columns must hold years in :data:`~oreflow.data.catalog.YEAR_RANGE`.

    Integer columns are checked cell by cell; in text columns (``2024/25``, ``c.2022``) a
    cell written as a plain number (or as ``inf``/``nan``) must be a whole year in range.
    """
    low, high = YEAR_RANGE
    problems: list[Problem] = []
    for column in columns:
        if column not in df.columns:
            continue
        for i, cell in enumerate(df[column].tolist()):
            if _missing(cell):
                continue
            if isinstance(cell, str):
                if not (is_decimal(cell) or is_non_finite_word(cell)):
                    continue  # a span or an approximate year written as text
                value = parse_number(cell)
            else:
                value = float(cell)
            if value is None or value % 1 != 0 or not low <= value <= high:
                problems.append(Problem(label, first_line + i, column,
                                        f"must be a year from {low} to {high}; "
                                        f"got {show(cell)}"))
    return problems


def check_shares(df: pd.DataFrame, columns: Iterable[str], *, label: str,
                 first_line: int = 2) -> list[Problem]:
    """Share columns must lie in [0, 1] (fractions, not percent)."""
    problems: list[Problem] = []
    for column in columns:
        if column in df.columns:
            col = pd.to_numeric(df[column], errors="coerce")
            problems += _rows(df, (col < 0) | (col > 1), column,
                              "share must be a fraction in [0, 1]; got {value}",
                              label, first_line)
    return problems


def check_stage_share_sums(df: pd.DataFrame, *, label: str,
                           first_line: int = 2) -> list[Problem]:
    """Country shares of one (year, stage, material, source, wording) must sum to at most 1.

    Combined codes (``TOP3``, ``WLD`` …) and rows with a ``>``/``<`` qualifier are left out
    of the sum; a tolerance of ``SHARE_SUM_TOLERANCE`` absorbs rounding to whole percent.
    """
    need = {"year", "stage", "material", "iso3", "share", "source_id"}
    if not need <= set(df.columns):
        return []
    d = df.reset_index(drop=True)
    qual = d["qualifier"] if "qualifier" in d.columns else pd.Series([None] * len(d))
    keep = d["iso3"].notna() & ~d["iso3"].isin(_COMBINED) & qual.isna()
    sub = d[keep]
    problems: list[Problem] = []
    by = ["year", "stage", "material", "source_id"] + [
        c for c in ("stage_in_source", "basis") if c in sub.columns
    ]
    for (year, stage, material, source, *_), grp in sub.groupby(by, dropna=False):
        total = float(pd.to_numeric(grp["share"], errors="coerce").sum())
        if total > 1 + SHARE_SUM_TOLERANCE:
            problems.append(Problem(
                label, first_line + int(grp.index[0]), "share",
                f"shares of {stage}/{material}/{year} from {source} sum to {total:.3f} > 1",
            ))
    return problems


def check_columns(info: TableInfo, raw: pd.DataFrame, label: str) -> list[Problem]:
    """File-level problems: missing required columns, unknown columns."""
    problems: list[Problem] = []
    cols = list(raw.columns)
    for f in info.fields:
        required = f.get("constraints", {}).get("required", False) or f["name"] in info.primary_key
        if f["name"] not in cols and required:
            problems.append(Problem(label, 1, f["name"], "required column is missing"))
    for c in cols:
        if c not in info.columns:
            problems.append(
                Problem(label, 1, show(c), f"unknown column for table '{info.name}'"
                        + did_you_mean(c, info.columns))
            )
    return problems


def coerce(info: TableInfo, raw: pd.DataFrame, label: str) -> tuple[pd.DataFrame, list[Problem]]:
    """Convert a frame of strings to the declared types; report cells that do not convert.

    Numbers must be finite and written in plain decimal notation (``inf``, ``nan``, ``1e400``
    and hex are refused); integers must be whole and within ±2**53 (exact in a float).
    Missing optional columns are added empty. Line numbers are row positions plus 2 (a
    header on line 1); an importer maps them to file lines.
    """
    problems: list[Problem] = []
    out: dict[str, pd.Series] = {}
    n = len(raw)
    for f in info.fields:
        name, kind = f["name"], f.get("type", "string")
        col = raw[name] if name in raw.columns else pd.Series([None] * n, index=raw.index)
        if kind in {"integer", "number"}:
            num, rules = _numbers(col, integer=kind == "integer")
            problems += [Problem(label, pos + 2, name, rule) for pos, rule in rules]
            out[name] = num.round().astype("Int64") if kind == "integer" else num
        elif kind == "boolean":
            low = col.map(lambda v: None if _missing(v) else str(v).lower())
            bad = low.notna() & ~low.isin(TRUE_WORDS | FALSE_WORDS)
            for pos in (j for j, b in enumerate(bad.to_numpy()) if b):
                problems.append(Problem(label, pos + 2, name,
                                        f"'{show(col.iloc[pos])}' is not a boolean (true/false)"))
            out[name] = low.map(
                lambda v: None if v is None or v not in TRUE_WORDS | FALSE_WORDS
                else v in TRUE_WORDS).astype("boolean")
        else:
            out[name] = col.astype(object)
    return pd.DataFrame(out, index=raw.index).reset_index(drop=True), problems


#: Largest magnitude of an integer cell: every integer up to 2**53 is exact in a float.
MAX_INTEGER = 2**53


def _numbers(col: pd.Series, *, integer: bool) -> tuple[pd.Series, list[tuple[int, str]]]:
    """Values of a numeric column of strings and the (position, rule) of each bad cell.

    Vectorised for the common case (plain decimal, finite, whole where required); every
    other present cell goes through :func:`_number` for its value or rule.
    """
    text = col.astype(object)
    present = text.notna().to_numpy()
    num = pd.to_numeric(text, errors="coerce").astype(float).to_numpy(copy=True)
    plain = text.where(present, "").astype(str).str.fullmatch(DECIMAL_PATTERN).to_numpy(
        dtype=bool)
    ok = present & plain & np.isfinite(num)
    if integer:
        with np.errstate(invalid="ignore"):
            ok &= (np.mod(num, 1) == 0) & (np.abs(num) <= MAX_INTEGER)
    rules: list[tuple[int, str]] = []
    for pos in np.flatnonzero(present & ~ok):
        value, rule = _number(str(text.iloc[pos]), integer=integer)
        num[pos] = math.nan if value is None else value
        if rule is not None:
            rules.append((int(pos), rule))
    num[~present] = math.nan
    return pd.Series(num, index=col.index, dtype=float), rules


def _number(text: str, *, integer: bool) -> tuple[float | None, str | None]:
    """The value of a numeric cell and the rule it breaks (``None`` when it is fine)."""
    word = "an integer" if integer else "a number"
    value = parse_number(text)
    if value is None:
        if is_non_finite_word(text) or is_decimal(text):
            return None, f"'{show(text)}' is not a finite number"
        return None, f"'{show(text)}' is not {word}"
    if integer and value % 1 != 0:
        return None, f"'{show(text)}' is not {word}"
    if integer and abs(value) > MAX_INTEGER:
        return None, f"'{show(text)}' is out of range for an integer (at most 2**53)"
    return value, None


def _missing(cell: object) -> bool:
    return cell is None or (isinstance(cell, float) and math.isnan(cell)) or cell is pd.NA


def show(value: object, width: int = 40) -> str:
    """``value`` fit for a one-line message: control characters escaped, long text cut."""
    return printable(str(value), width)
