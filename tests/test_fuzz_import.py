"""Fuzzing the import parser: any text is either valid rows or a clean input error.

Random CSV text (headers right, shuffled or wrong; cells with unicode, quotes, commas, line
breaks, NUL bytes, huge, non-finite and negative numbers, empty cells; rows with extra or
missing cells; bytes that are not UTF-8) goes through :meth:`Store.import_file`. Whatever
the input, the outcome is accepted valid rows or an :class:`~oreflow.errors.InputError`
with one-line messages; never another exception and never a hang. A rejected file leaves
every file of the user layer byte-identical, and no accepted row holds a non-finite or
negative quantity or a year outside the accepted range.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from oreflow.data.catalog import YEAR_RANGE
from oreflow.data.store import Store
from oreflow.errors import InputError, ValidationError

COLUMNS = ["year", "stage", "material", "iso3", "basis", "vintage", "tonnes", "estimate",
           "source_id"]
BASE = ",".join(COLUMNS) + "\n2024,mine,REO,AUS,production,B,30000,,usgs_b\n"
EXAMPLES = int(os.environ.get("OREFLOW_FUZZ_EXAMPLES", "200"))
#: Longest one import may take [s] before the example counts as a hang.
HANG_S = 20

VALID = {
    "year": ["2024", "2025", "1999"],
    "stage": ["mine", "separation"],
    "material": ["REO", "Nd"],
    "iso3": ["CHN", "USA", "AUS"],
    "basis": ["production"],
    "vintage": ["A", "B"],
    "tonnes": ["0", "5", "1e3", "270000.5"],
    "estimate": ["true", "false", ""],
    "source_id": ["usgs_a", "usgs_b"],
}
NASTY = [
    "inf", "-inf", "Infinity", "-Infinity", "nan", "NaN", "+inf", "1e400", "-1e400",
    "9" * 40, "-0", "-5", "-1e-9", "0x1F", "1_000", "١٢٣", "1,5", " 7 ", "", " ",
    "\x00", "a\x00b", '"', '""', "a\"b", "\n", "\r\n", "é", "漢字", "🙂", "\u202e", ";",
    "=1+1", "true", "TRUE", "yes", "2024.0", "2024.5", "-2024", "99999", "0",
]
cell = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)


@st.composite
def csv_texts(draw: st.DrawFn) -> bytes:
    """A CSV file as bytes: mostly near-valid, with random damage."""
    header = draw(st.one_of(
        st.just(COLUMNS),
        st.permutations(COLUMNS),
        st.lists(st.sampled_from([*COLUMNS, "tonnage", "", "year", "YEAR", " iso3 "]),
                 min_size=1, max_size=11),
    ))
    n_rows = draw(st.integers(min_value=0, max_value=5))
    damage = draw(st.integers(0, 2))  # 0: clean rows (may still hold duplicate keys)
    rows: list[list[str]] = []
    for _ in range(n_rows):
        row = [draw(st.sampled_from(VALID.get(name, ["x"]))) for name in header]
        if damage == 0:
            rows.append(row)
            continue
        for i in draw(st.lists(st.integers(0, max(len(row) - 1, 0)), max_size=damage)):
            if row:
                row[i] = draw(cell)
        shape = draw(st.sampled_from(["same"] * 6 + ["extra", "short"]))
        if shape == "extra":
            row = [*row, draw(cell)]
        elif shape == "short" and row:
            row = row[: draw(st.integers(0, len(row) - 1))]
        rows.append(row)
    if draw(st.booleans()):  # written by a CSV writer: quoting is right
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
        writer.writerow(header)
        writer.writerows(rows)
        text = buf.getvalue()
    else:  # joined by hand: stray quotes and commas break the structure
        text = "\n".join(",".join(r) for r in [header, *rows]) + draw(
            st.sampled_from(["\n", "", "\n\n"]))
    if draw(st.integers(0, 9)) == 0:
        text = draw(st.text(max_size=200))
    data = text.encode("utf-8")
    if draw(st.integers(0, 9)) == 0:  # damage the encoding
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


def _snapshot(directory: Path) -> dict[str, bytes]:
    """Every file of the user layer, by name (the lock file is empty and never changes)."""
    if not directory.exists():
        return {}
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@contextlib.contextmanager
def _no_hang(seconds: int) -> Iterator[None]:
    """Fail (raise ``TimeoutError``) if the block runs longer than ``seconds`` (POSIX)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"import took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=csv_texts())
def test_any_text_is_valid_rows_or_an_input_error(toy_store: Store, tmp_path: Path,
                                                  data: bytes) -> None:
    tables = toy_store.user / "tables"
    if not toy_store.user_file("stage_output").exists():
        base = tmp_path / "base.csv"
        base.write_text(BASE)
        toy_store.import_file(base, "stage_output")
    before = _snapshot(tables)
    f = tmp_path / "fuzz.csv"
    f.write_bytes(data)
    try:
        with _no_hang(HANG_S):
            report = toy_store.import_file(f, "stage_output")
    except InputError as exc:
        for line in exc.lines():
            assert line and "\n" not in line and "\r" not in line, line
        if isinstance(exc, ValidationError):
            assert exc.problems and all(p.file == str(f) for p in exc.problems)
        assert _snapshot(tables) == before, "a rejected file changed the user layer"
        event("rejected")
        return
    event("accepted")
    assert report.rows >= 1
    df = toy_store.table("stage_output")
    tonnes = df["tonnes"].dropna()
    assert all(math.isfinite(t) and t >= 0 for t in tonnes), tonnes.tolist()
    low, high = YEAR_RANGE
    assert df["year"].notna().all() and df["year"].between(low, high).all()
    assert df["stage"].isin(["mine", "separation", "metal", "magnet"]).all()
    assert not df.astype(str).apply(lambda s: s.str.contains("\x00")).any().any()
