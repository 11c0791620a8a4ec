"""The store on a toy package: layering, vintages, validation, atomic import, SQL, diff."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oreflow.data.store import Store
from oreflow.errors import InputError, ValidationError

HEADER = "year,stage,material,iso3,basis,vintage,tonnes,estimate,source_id\n"


def write(tmp_path: Path, text: str, name: str = "in.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_table_types_and_latest(toy_store: Store) -> None:
    df = toy_store.table("stage_output")
    assert len(df) == 6
    assert str(df["year"].dtype) == "Int64"
    assert df["tonnes"].dtype == float
    latest = toy_store.table("stage_output", latest=True)
    assert sorted(latest["vintage"]) == ["B", "B", "B"]
    assert latest.set_index("iso3")["tonnes"]["AUS"] == 29000


def test_unknown_table_suggests(toy_store: Store) -> None:
    with pytest.raises(InputError, match="did you mean 'stage_output'"):
        toy_store.table("stage_outptu")


def test_unknown_vintage_suggests(toy_store: Store) -> None:
    with pytest.raises(InputError, match="unknown vintage"):
        toy_store.table("stage_output", vintage="C")


def test_diff_shows_revisions(toy_store: Store) -> None:
    d = toy_store.diff("stage_output", "A", "B")
    by = d.set_index("iso3")
    assert set(by.index) == {"USA", "AUS"}
    assert by.loc["AUS", "tonnes_from"] == 13000
    assert by.loc["AUS", "tonnes_to"] == 29000
    assert by.loc["AUS", "status"] == "changed"
    assert toy_store.diff("stage_output", "A", "B", changed_only=False).shape[0] == 3


def test_import_valid_rows_layer_over_embedded(toy_store: Store, tmp_path: Path) -> None:
    f = write(tmp_path, HEADER + "2024,mine,REO,AUS,production,B,30000,true,usgs_b\n"
              "2025,mine,REO,AUS,production,B,31000,,usgs_b\n")
    rep = toy_store.import_file(f, "stage_output")
    assert (rep.rows, rep.added, rep.replaced) == (2, 1, 1)
    df = toy_store.table("stage_output", vintage="B").set_index(["year", "iso3"])
    assert df.loc[(2024, "AUS"), "tonnes"] == 30000
    assert df.loc[(2025, "AUS"), "tonnes"] == 31000
    assert len(toy_store.table("stage_output")) == 7
    # the embedded file is untouched
    emb = (toy_store.embedded / "stage_output.csv").read_text()
    assert "30000" not in emb


def test_dry_run_writes_nothing(toy_store: Store, tmp_path: Path) -> None:
    f = write(tmp_path, HEADER + "2024,mine,REO,AUS,production,B,30000,true,usgs_b\n")
    rep = toy_store.import_file(f, "stage_output", dry_run=True)
    assert rep.dry_run and rep.rows == 1
    assert not toy_store.user_file("stage_output").exists()


@pytest.mark.parametrize(
    ("row", "line", "column", "rule"),
    [
        ("2024,mine,REO,AUS,production,B,-5,,usgs_b", 3, "tonnes", "must be >= 0"),
        ("2024,mine,REO,AUS,production,B,abc,,usgs_b", 3, "tonnes", "not a number"),
        ("2024,mine,REO,AUX,production,B,5,,usgs_b", 3, "iso3", "unknown country code 'AUX'"),
        ("2024,mine,REO,AUS,production,B,5,,nowhere", 3, "source_id", "unknown source"),
        ("2024,mining,REO,AUS,production,B,5,,usgs_b", 3, "stage", "must be one of"),
        ("2024,mine,Nb,AUS,production,B,5,,usgs_b", 3, "material", "unknown material"),
        ("2024.5,mine,REO,AUS,production,B,5,,usgs_b", 3, "year", "not an integer"),
        ("2024,mine,REO,AUS,production,B,5,maybe,usgs_b", 3, "estimate", "not a boolean"),
    ],
)
def test_bad_rows_are_named(toy_store: Store, tmp_path: Path, row: str, line: int,
                            column: str, rule: str) -> None:
    good = "2024,mine,REO,USA,production,B,1,,usgs_b\n"
    f = write(tmp_path, HEADER + good + row + "\n")
    with pytest.raises(ValidationError) as info:
        toy_store.import_file(f, "stage_output")
    probs = info.value.problems
    assert any(p.line == line and p.column == column and rule in p.rule for p in probs), probs
    assert all(str(f) in str(p) for p in probs)
    assert not toy_store.user_file("stage_output").exists()


def test_duplicate_keys_and_missing_columns(toy_store: Store, tmp_path: Path) -> None:
    row = "2024,mine,REO,AUS,production,B,5,,usgs_b\n"
    with pytest.raises(ValidationError, match="problem") as info:
        toy_store.import_file(write(tmp_path, HEADER + row + row), "stage_output")
    assert any("duplicate primary key" in p.rule for p in info.value.problems)
    with pytest.raises(ValidationError) as info:
        toy_store.import_file(write(tmp_path, "year,stage\n2024,mine\n"), "stage_output")
    assert {p.column for p in info.value.problems} >= {"iso3", "source_id"}
    with pytest.raises(ValidationError) as info:
        toy_store.import_file(write(tmp_path, HEADER.strip() + ",tonnage\n"), "stage_output")
    assert any("unknown column" in p.rule for p in info.value.problems)


def test_failed_import_keeps_previous_user_state(toy_store: Store, tmp_path: Path) -> None:
    ok = write(tmp_path, HEADER + "2024,mine,REO,AUS,production,B,30000,,usgs_b\n", "ok.csv")
    toy_store.import_file(ok, "stage_output")
    before = toy_store.user_file("stage_output").read_bytes()
    bad = write(tmp_path, HEADER + "2024,mine,REO,AUS,production,B,-1,,usgs_b\n", "bad.csv")
    with pytest.raises(ValidationError):
        toy_store.import_file(bad, "stage_output")
    assert toy_store.user_file("stage_output").read_bytes() == before


def test_interrupted_write_leaves_state(toy_store: Store, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ok = write(tmp_path, HEADER + "2024,mine,REO,AUS,production,B,30000,,usgs_b\n", "ok.csv")
    toy_store.import_file(ok, "stage_output")
    before = toy_store.user_file("stage_output").read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("os.fsync", boom)
    new = write(tmp_path, HEADER + "2024,mine,REO,USA,production,B,1,,usgs_b\n", "new.csv")
    with pytest.raises(KeyboardInterrupt):
        toy_store.import_file(new, "stage_output")
    assert toy_store.user_file("stage_output").read_bytes() == before
    leftovers = [p for p in toy_store.user_file("stage_output").parent.iterdir()
                 if p.name.endswith(".tmp")]
    assert leftovers == []


def test_query_is_read_only(toy_store: Store) -> None:
    df = toy_store.query(
        "select s.iso3, s.tonnes, c.name from stage_output s join countries c using (iso3) "
        "where vintage = 'B' order by tonnes desc"
    )
    assert df["iso3"].tolist() == ["CHN", "USA", "AUS"]
    for sql in ["delete from countries", "copy countries to '/tmp/x.csv'",
                "select * from read_csv('/etc/passwd')", "select 1; select 2",
                "attach '/tmp/x.db'"]:
        with pytest.raises(InputError, match="SQL"):
            toy_store.query(sql)
    with pytest.raises(InputError, match="SQL"):
        toy_store.query("select * from nonexistent_table")


def test_query_time_limit(toy_store: Store) -> None:
    slow = "select count(*) from range(100000000000) a"
    with pytest.raises(InputError, match="limit"):
        toy_store.query(slow, timeout_s=0.3)


def test_sources_for_traces_newest(toy_store: Store) -> None:
    df = toy_store.sources_for("stage_output", ["2024", "mine", "REO", "AUS"])
    assert df["source_id"].tolist() == ["usgs_b"]
    assert df["title"].tolist() == ["MCS B"]
    df = toy_store.sources_for("stage_output", ["2024", "mine", "REO", "AUS", "production", "A"])
    assert df["tonnes"].tolist() == [13000]
    with pytest.raises(InputError, match="no row"):
        toy_store.sources_for("stage_output", ["2031"])


cell = st.text(alphabet=string.ascii_letters + string.digits + " -.", max_size=8)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["2024", "2025", "x", "", "2024.5"]),
            st.sampled_from(["mine", "separation", "mining", ""]),
            st.sampled_from(["CHN", "USA", "AUS", "XXX", ""]),
            st.one_of(st.floats(-1e6, 1e6, allow_nan=False).map(str), cell),
            st.sampled_from(["usgs_a", "usgs_b", "bogus", ""]),
        ),
        min_size=1, max_size=6,
    )
)
def test_import_validator_property(toy_store: Store, tmp_path: Path,
                                   rows: list[tuple[str, str, str, str, str]]) -> None:
    """A file is accepted iff every row is valid; a rejected file changes nothing."""
    text = HEADER + "".join(f"{y},{s},REO,{c},production,B,{t},,{src}\n"
                            for y, s, c, t, src in rows)
    f = write(tmp_path, text)
    toy_store.reset_user("stage_output")

    def valid(y: str, s: str, c: str, t: str, src: str) -> bool:
        try:
            tv = float(t) if t.strip() else 0.0  # tonnes is optional: empty is allowed
        except ValueError:
            return False
        return (y in {"2024", "2025"} and s in {"mine", "separation"}
                and c in {"CHN", "USA", "AUS"} and tv >= 0 and src in {"usgs_a", "usgs_b"})

    keys = [(y, s, c) for y, s, c, _, _ in rows]
    expect_ok = all(valid(*r) for r in rows) and len(set(keys)) == len(keys)
    try:
        toy_store.import_file(f, "stage_output")
        ok = True
    except ValidationError as exc:
        ok = False
        assert exc.problems and all(p.file == str(f) for p in exc.problems)
        assert not toy_store.user_file("stage_output").exists()
    assert ok == expect_ok


def test_duckdb_views(toy_store: Store) -> None:
    con = toy_store.duckdb()
    n = con.execute("select count(*) from stage_output join countries using (iso3)").fetchone()
    assert n == (6,)


def test_each_broken_rule_is_reported_once(toy_store: Store, tmp_path: Path) -> None:
    f = write(tmp_path, HEADER + "2024,mine,REO,AUS,production,B,-5,,usgs_b\n")
    with pytest.raises(ValidationError) as info:
        toy_store.import_file(f, "stage_output")
    assert [(p.line, p.column) for p in info.value.problems] == [(2, "tonnes")]


def test_check_functions_guard_undeclared_columns() -> None:
    import pandas as pd

    from oreflow.data.schemas import check_nonnegative, check_shares

    df = pd.DataFrame({"share": [0.5, 1.2, -0.1], "tonnes": [1.0, -2.0, None]})
    assert [p.line for p in check_shares(df, ["share"], label="f")] == [3, 4]
    assert [(p.line, p.column) for p in check_nonnegative(df, ["tonnes"], label="f")] == [
        (3, "tonnes")]


# -- issue 11: safe under bad input ------------------------------------------------------------
GOOD = "2024,mine,REO,USA,production,B,1,,usgs_b\n"


def _import_rows(embedded: str, user: str, years: list[int], iso3: str) -> None:
    """Child process: import one file per year into the same user table."""
    st = Store(embedded=Path(embedded), user=Path(user))
    for year in years:
        f = Path(user).parent / f"in-{iso3}-{year}.csv"
        f.write_text(HEADER + f"{year},mine,REO,{iso3},production,B,{year},,usgs_b\n")
        st.import_file(f, "stage_output")


def test_concurrent_imports_lose_no_rows(toy_store: Store) -> None:
    """Two processes importing into one table: every row of every file survives."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    years = list(range(2030, 2045))
    jobs = [ctx.Process(target=_import_rows,
                        args=(str(toy_store.embedded), str(toy_store.user), years, iso3))
            for iso3 in ("USA", "AUS")]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join(60)
    assert [j.exitcode for j in jobs] == [0, 0]
    user = toy_store.user_file("stage_output").read_text().splitlines()
    assert len(user) == 1 + 2 * len(years), "rows of a concurrent import were lost"
    assert toy_store.summary()[-1]["user_rows"] == 2 * len(years)


def test_stale_temp_files_are_removed_on_the_next_write(toy_store: Store,
                                                         tmp_path: Path) -> None:
    tables = toy_store.user / "tables"
    tables.mkdir(parents=True)
    debris = [tables / ".stage_output.csv.k1ll3d.tmp", tables / ".countries.csv.x.tmp"]
    for d in debris:
        d.write_text("half a table")
    toy_store.import_file(write(tmp_path, HEADER + GOOD), "stage_output")
    assert [p for p in debris if p.exists()] == []
    assert toy_store.user_file("stage_output").exists()


def test_user_tables_respect_the_umask(toy_store: Store, tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        toy_store.import_file(write(tmp_path, HEADER + GOOD), "stage_output")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(toy_store.user_file("stage_output").stat().st_mode)
    assert mode == 0o644, oct(mode)


@pytest.mark.parametrize(
    ("cell", "column", "rule"),
    [
        ("inf", "tonnes", "not a finite number"),
        ("Infinity", "tonnes", "not a finite number"),
        ("-inf", "tonnes", "not a finite number"),
        ("nan", "tonnes", "not a finite number"),
        ("NaN", "tonnes", "not a finite number"),
        ("1e400", "tonnes", "not a finite number"),
        ("0x10", "tonnes", "not a number"),
        ("٣", "tonnes", "not a number"),
    ],
)
def test_non_finite_numbers_are_rejected(toy_store: Store, tmp_path: Path, cell: str,
                                         column: str, rule: str) -> None:
    f = write(tmp_path, HEADER + GOOD + f"2024,mine,REO,AUS,production,B,{cell},,usgs_b\n")
    with pytest.raises(ValidationError) as info:
        toy_store.import_file(f, "stage_output")
    assert [(p.line, p.column) for p in info.value.problems] == [(3, column)]
    assert rule in info.value.problems[0].rule
    assert not toy_store.user_file("stage_output").exists()


@pytest.mark.parametrize("year", ["inf", "-inf", "nan", "1e30", "-5", "0", "99999"])
def test_bad_years_are_input_errors(toy_store: Store, tmp_path: Path, year: str) -> None:
    f = write(tmp_path, HEADER + f"{year},mine,REO,AUS,production,B,5,,usgs_b\n")
    with pytest.raises(ValidationError) as info:
        toy_store.import_file(f, "stage_output")
    assert [(p.line, p.column) for p in info.value.problems] == [(2, "year")]


def test_negative_capex_lags_and_years_rejected_in_real_tables(tmp_path: Path) -> None:
    st = Store(user=tmp_path / "user")
    cases = {
        "projects": ("project_id,name,iso3,capex_musd,start_year,source_id\n"
                     "p1,x,CHN,-5,2026,usgs_mcs2026_ree\np2,y,CHN,5,-2025,usgs_mcs2026_ree\n",
                     [(2, "capex_musd"), (3, "start_year")]),
        "policies": ("policy_id,actor,kind,licence_lag_working_days,source_id\n"
                     "p1,x,quota,-3,usgs_mcs2026_ree\n", [(2, "licence_lag_working_days")]),
        "lead_times": ("lead_id,category,value,source_id\nl1,permitting,-2,usgs_mcs2026_ree\n",
                       [(2, "value")]),
        "countries": ("iso3,name,kind,wgi_year\nZZZ,Z,country,-2023\n", [(2, "wgi_year")]),
    }
    for table, (text, where) in cases.items():
        with pytest.raises(ValidationError) as info:
            st.import_file(write(tmp_path, text, f"{table}.csv"), table)
        assert [(p.line, p.column) for p in info.value.problems] == where, table
    assert not (tmp_path / "user" / "tables").exists()
    # text years written as spans or approximations stay accepted
    ok = ("project_id,name,iso3,capex_musd,start_year,source_id\n"
          "p3,z,CHN,0,c.2027,usgs_mcs2026_ree\n")
    assert st.import_file(write(tmp_path, ok), "projects", dry_run=True).rows == 1


@pytest.mark.parametrize(
    ("text", "line", "rule"),
    [
        (HEADER + GOOD + "2024,mine,REO,AUS,production,B,5,,usgs_b,extra\n", 3,
         "row has 10 cells but the header has 9"),
        (HEADER + GOOD + "2024,mine,REO,AUS,production\n", 3,
         "row has 5 cells but the header has 9"),
        (HEADER + "\n\n" + GOOD + "2024,mine,REO,AUS\n", 5, "row has 4 cells"),
        (HEADER + '2024,mine,REO,AUS,production,B,5,"a\nb\n' + GOOD, 2, "never closed"),
        (HEADER + GOOD.replace("USA", "US\x00A"), 2, "NUL"),
        ("year,year,stage\n2024,2024,mine\n", 1, "appears twice"),
        ("year,,stage\n2024,2024,mine\n", 1, "no column name"),
        ("", None, "empty file"),
    ],
)
def test_malformed_csv_is_an_input_error_naming_the_line(
        toy_store: Store, tmp_path: Path, text: str, line: int | None, rule: str) -> None:
    f = write(tmp_path, text)
    with pytest.raises(ValidationError) as info:
        toy_store.import_file(f, "stage_output")
    probs = info.value.problems
    assert any(p.line == line and rule in p.rule for p in probs), probs
    assert all("\n" not in ln for ln in info.value.lines())
    assert not toy_store.user_file("stage_output").exists()


def test_lines_are_file_lines_after_blank_lines_and_multiline_cells(
        toy_store: Store, tmp_path: Path) -> None:
    """Blank lines are skipped and a quoted cell may span lines; errors name file lines."""
    text = (HEADER + "\n" + GOOD + "\n"
            + '2024,mine,REO,AUS,production,B,-5,,usgs_b\n')
    with pytest.raises(ValidationError) as info:
        toy_store.import_file(write(tmp_path, text), "stage_output")
    assert [(p.line, p.column) for p in info.value.problems] == [(5, "tonnes")]


def test_unreadable_inputs_are_input_errors(toy_store: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        toy_store.import_file(tmp_path, "stage_output")
    latin = tmp_path / "latin.csv"
    latin.write_bytes((HEADER + GOOD).encode() + "2024,mine,REO,AUS,production,B,5,,usgé\n"
                      .encode("latin-1"))
    with pytest.raises(InputError) as info:
        toy_store.import_file(latin, "stage_output")
    assert "latin.csv:3: not UTF-8" in "\n".join(info.value.lines())
    with pytest.raises(InputError, match="no such file"):
        toy_store.import_file(tmp_path / "missing.csv", "stage_output")
    with pytest.raises(ValidationError, match="problem"):
        toy_store.import_file(write(tmp_path, HEADER), "stage_output")  # no data rows
    assert not toy_store.user_file("stage_output").exists()


def test_import_size_cap(toy_store: Store, tmp_path: Path,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("oreflow.data.csvfile.MAX_FILE_BYTES", 1000)
    f = write(tmp_path, HEADER + GOOD * 30)
    with pytest.raises(InputError, match="more than the 1000 bytes limit"):
        toy_store.import_file(f, "stage_output")


def test_data_dir_that_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from oreflow.data.catalog import default_user_dir

    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.setenv("OREFLOW_DATA_DIR", str(afile))
    with pytest.raises(InputError, match=r"OREFLOW_DATA_DIR .* is a file"):
        default_user_dir()


def test_data_dir_under_a_file_is_an_input_error(toy_store: Store, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    st = Store(embedded=toy_store.embedded, user=afile)
    with pytest.raises(InputError, match="afile"):
        st.import_file(write(tmp_path, HEADER + GOOD), "stage_output")
    assert afile.read_text() == "x"


@pytest.mark.parametrize("err", ["ENOSPC", "EROFS", "EACCES"])
def test_full_or_read_only_data_dir_is_a_clear_input_error(
        toy_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: str) -> None:
    import errno
    import os

    toy_store.import_file(write(tmp_path, HEADER + GOOD, "ok.csv"), "stage_output")
    before = toy_store.user_file("stage_output").read_bytes()

    def failing_fdopen(fd: int, *args: object, **kwargs: object) -> object:
        os.close(fd)
        raise OSError(getattr(errno, err), os.strerror(getattr(errno, err)))

    monkeypatch.setattr("oreflow.data.userdir.os.fdopen", failing_fdopen)
    new = write(tmp_path, HEADER + "2024,mine,REO,AUS,production,B,2,,usgs_b\n", "new.csv")
    with pytest.raises(InputError) as info:
        toy_store.import_file(new, "stage_output")
    msg = str(info.value)
    assert str(toy_store.user / "tables") in msg and "cannot write" in msg
    assert "\n" not in msg
    assert toy_store.user_file("stage_output").read_bytes() == before
    assert [p for p in (toy_store.user / "tables").iterdir() if p.suffix == ".tmp"] == []


def test_summary_counts_without_rereading_the_user_layer(
        toy_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`data list` takes a big user table's counts from the record the import left."""
    import oreflow.data.catalog as catalog

    rows = "".join(f"{y},mine,REO,AUS,production,B,{y},,usgs_b\n" for y in range(1900, 2100))
    toy_store.import_file(write(tmp_path, HEADER + rows), "stage_output")
    fresh = {r["table"]: r for r in Store(toy_store.embedded, tmp_path / "none").summary()}
    assert fresh["stage_output"]["user_rows"] == 0
    scanned: list[Path] = []
    real = catalog._key_scan

    def spy(path: Path, info: catalog.TableInfo) -> catalog._Scan:
        scanned.append(path)
        return real(path, info)

    monkeypatch.setattr(catalog, "_key_scan", spy)
    summary = {r["table"]: r for r in toy_store.summary()}
    assert toy_store.user_file("stage_output") not in scanned
    so = summary["stage_output"]
    # 6 embedded rows, 200 user rows of which (2024, AUS, B) replaces an embedded one
    assert (so["rows"], so["user_rows"], so["vintages"]) == (205, 200, "A, B")
    # the record is ignored once the file changes: then the file is scanned
    (toy_store.user / "tables" / ".stage_output.counts.json").write_text("{}")
    assert {r["table"]: r for r in toy_store.summary()}["stage_output"] == so
    assert toy_store.user_file("stage_output") in scanned


# -- the SQL sandbox -------------------------------------------------------------------------
@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), 1e9])
def test_query_timeout_must_be_positive_and_finite(toy_store: Store, timeout: float) -> None:
    with pytest.raises(InputError, match="time limit"):
        toy_store.query("select 1", timeout_s=timeout)


@pytest.mark.parametrize("rows", [0, -5, 10**12])
def test_query_row_limit_is_validated(toy_store: Store, rows: int) -> None:
    with pytest.raises(InputError, match="row limit"):
        toy_store.query("select 1", max_rows=rows)


def test_query_row_cap_applies_while_fetching(toy_store: Store) -> None:
    """A huge result is refused at max_rows + 1 rows, long before the time limit."""
    import time

    start = time.monotonic()
    with pytest.raises(InputError, match="more than 10 rows"):
        toy_store.query("select range, repeat('x', 1000) from range(1000000000000)",
                        max_rows=10, timeout_s=20)
    assert time.monotonic() - start < 10
    assert len(toy_store.query("select * from range(10)", max_rows=10)) == 10


def test_query_time_limit_covers_fetching(toy_store: Store) -> None:
    import time

    start = time.monotonic()
    with pytest.raises(InputError, match="limit"):
        toy_store.query("select a.range from range(100000000000) a "
                        "where a.range % 1000000007 = 3", timeout_s=0.5)
    assert time.monotonic() - start < 8


def test_query_memory_and_threads_are_limited(toy_store: Store) -> None:
    df = toy_store.query("select current_setting('memory_limit') as m, "
                         "current_setting('threads') as t, "
                         "current_setting('enable_external_access') as x")
    m, t, x = df.iloc[0]
    assert m.endswith("MiB") and float(m.split()[0]) <= 1024
    assert int(t) <= 2
    assert str(x).lower() == "false"


def test_query_memory_limit_stops_a_hungry_query(toy_store: Store) -> None:
    with pytest.raises(InputError, match="memory limit"):
        toy_store.query("select list(repeat('x', 1000)) from range(3000000)", timeout_s=120)


@pytest.mark.parametrize("sql", [
    "WITH x AS (DELETE FROM countries RETURNING *) SELECT * FROM x",
    "WITH x AS (INSERT INTO countries VALUES ('ZZZ', 'Z', 1) RETURNING *) SELECT * FROM x",
    "WITH x AS (UPDATE countries SET name = 'z' RETURNING *) SELECT * FROM x",
    "SELECT * FROM (WITH y AS (DELETE FROM countries RETURNING iso3) SELECT * FROM y)",
    "update countries set name = 'x'",
    "create table x as select 1",
    "set memory_limit = '10GB'",
    "reset memory_limit",
    "install httpfs",
    "load httpfs",
    "select * from read_parquet('/tmp/x.parquet')",
    "select * from glob('/*')",
    "select * from read_text('/etc/hostname')",
    "pragma version",
    "checkpoint",
    "export database '/tmp/oreflow-x'",
])
def test_query_refuses_anything_but_reading(toy_store: Store, sql: str) -> None:
    with pytest.raises(InputError, match="SQL"):
        toy_store.query(sql)
    assert len(toy_store.table("countries")) == 4


def test_query_accepts_terminators_comments_and_keeps_order(toy_store: Store) -> None:
    df = toy_store.query("select iso3 from countries order by iso3 desc; -- last line\n")
    assert df["iso3"].tolist() == ["WLD", "USA", "CHN", "AUS"]
    df = toy_store.query("select 1 as a -- a comment")
    assert df["a"].tolist() == [1]
    df = toy_store.query("with recursive r(n) as (select 1 union all select n + 1 from r "
                         "where n < 3) select * from r union all select 10")
    assert sorted(df["n"].tolist()) == [1, 2, 3, 10]


def test_a_held_lock_makes_a_second_writer_wait_then_fail_clearly(toy_store: Store) -> None:
    from oreflow.data.userdir import StoreBusyError, locked

    with (locked(toy_store.user), pytest.raises(StoreBusyError, match="another oreflow"),
          locked(toy_store.user, timeout_s=0.2)):
        pass
    with locked(toy_store.user, timeout_s=0.2):  # released: the next writer gets it at once
        pass


def test_source_record_names_publications_policies_and_licensing_records() -> None:
    from oreflow.data.store import Store

    st = Store.default()
    kind, row = st.source_record("usgs_mcs2026_ree") or ("", {})
    assert kind == "source" and row["publisher"] == "U.S. Geological Survey"
    kind, row = st.source_record("cn_2025_no18") or ("", {})
    assert kind == "policy" and row["actor_iso3"] == "CHN"
    lic = str(st.table("licensing")["stat_id"].iloc[0])
    assert (st.source_record(lic) or ("",))[0] == "licensing record"
    assert st.source_record("no_such_source") is None
