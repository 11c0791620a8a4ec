"""Row helpers of the dataset build: exact decimal formatting, flags, source ids and notes."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

Row = dict[str, Any]

FLAG_VOCAB = (
    "secondary",
    "UNVERIFIED",
    "derived",
    "estimate",
    "projection",
    "conflict",
    "as_quoted",
)


def dec_str(d: Decimal) -> str:
    """Format a Decimal without exponent and without trailing zeros."""
    s = format(d.normalize(), "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def pct_to_frac(value: str) -> str:
    """Convert a published percent string to an exact fraction string ('' stays '')."""
    v = value.strip()
    if not v:
        return ""
    return dec_str(Decimal(v) / Decimal(100))


def fnum(x: float, ndigits: int = 0) -> str:
    """Format a derived float rounded to ``ndigits`` decimals, no exponent."""
    return dec_str(Decimal(repr(round(x, ndigits))))


def grouped(value: str) -> str:
    """A published number with thousands separators, for method and note texts (3723 -> 3,723)."""
    return f"{Decimal(value):,}"


def num(s: str) -> float:
    """Parse a numeric string from the fact base."""
    return float(s)


def join_flags(*parts: str) -> str:
    """Union of ';'-separated flag lists, in vocabulary order, without duplicates."""
    seen: set[str] = set()
    for p in parts:
        for f in p.split(";"):
            f = f.strip()
            if f:
                seen.add(f)
    ordered = [f for f in FLAG_VOCAB if f in seen] + sorted(seen - set(FLAG_VOCAB))
    return ";".join(ordered)


def status_flag(flag: str, year_status: str) -> str:
    """Add the flag ``estimate`` where the fact base says ``year_status = estimate``."""
    return join_flags(flag, "estimate") if year_status == "estimate" else flag


def taken_as_derived(r: Row) -> dict[str, str]:
    """``source_id`` and ``flag`` of a row that re-uses the published row ``r`` (flag derived)."""
    return {"source_id": r["source_id"], "flag": join_flags("derived", r["flag"])}


def quality_flags(flags: Iterable[str]) -> str:
    """Propagate only the quality flags (secondary, UNVERIFIED) of input rows."""
    keep: list[str] = []
    for f in flags:
        for part in f.split(";"):
            if part in ("secondary", "UNVERIFIED") and part not in keep:
                keep.append(part)
    return ";".join(keep)


def join_ids(ids: Iterable[str], exclude: str = "") -> str:
    """';'-join source ids, deduplicated in order, without ``exclude``."""
    out: list[str] = []
    for i in ids:
        for p in i.split(";"):
            p = p.strip()
            if p and p != exclude and p not in out:
                out.append(p)
    return ";".join(out)


def norm_iso_list(v: str) -> str:
    """Normalise '; '-separated code lists to ';'."""
    return ";".join(p.strip() for p in v.split(";") if p.strip())


def add_note(note: str, extra: str) -> str:
    """Append ``extra`` to a note."""
    if not extra:
        return note
    return f"{note}; {extra}" if note else extra


def name_into_note(note: str, code: str, name: str, label: str) -> str:
    """Keep a readable name whose code is blank (the contract drops name columns)."""
    if not code and name:
        return add_note(f"{label}: {name}", note)
    return note


def number_row(rows: list[Row], prefix: str) -> list[Row]:
    """Assign stable row_ids in the given (fact-base) order."""
    width = max(4, len(str(len(rows))))
    for i, r in enumerate(rows, 1):
        r["row_id"] = f"{prefix}-{i:0{width}d}"
    return rows


def find_one(rows: list[Row], **conds: str) -> Row:
    """Return the single row matching all conditions (raises otherwise)."""
    hits = [r for r in rows if all(r.get(k, "") == v for k, v in conds.items())]
    if len(hits) != 1:
        raise LookupError(f"expected one row for {conds}, found {len(hits)}")
    return hits[0]


#: Source wordings of element groups, mapped to codes of the materials table.
ELEMENT_LABELS = {
    "HREE (Dy, Tb, Y)": "Dy+Tb+Y",
    "Nd, Pr, Dy, Tb and other major REE": "majorREE",
}


def element_label(raw: str, note: str) -> tuple[str, str]:
    """Map a source's element wording to a code of ``materials`` (or ``A+B`` of codes).

    The source wording is kept at the front of the note when it changes, so nothing of the
    source is lost: ``RE total (…)`` → ``RE``; ``HREE (Dy, Tb, Y)`` → ``Dy+Tb+Y``.
    """
    code = ELEMENT_LABELS.get(raw)
    if code is None and raw.startswith("RE total"):
        code = "RE"
    if code is None:
        return raw, note
    return code, "; ".join(x for x in (f"source wording: '{raw}'", note) if x)
