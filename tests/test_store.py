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
