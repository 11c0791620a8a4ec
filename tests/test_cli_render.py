"""Tables for people: width, unbroken numbers, --wide, multi-table CSV, formula-safe CSV,
key: value records, explanations, --help without <bool>, progress, silenced warnings."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from oreflow.cli import app
from oreflow.cli.render import (
    Col,
    column,
    csv_safe,
    format_cell,
    format_share,
    progress,
    region_label,
    write_csv,
)
from oreflow.data.store import Store

runner = CliRunner()

#: A comma after a digit not followed by exactly three digits: a number cut at its
#: thousands separator ("389," / "310", "5,07" / "2.4"), or a list of numbers.
SPLIT_THOUSANDS = re.compile(r"\d,(?!\d{3}(?!\d))")
BORDERS_LEFT = "┏┃┡│└"
BORDERS_RIGHT = "┓┃┩│┘"


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch, user_dir: Path) -> None:
    """An 80-column terminal."""
    monkeypatch.setenv("COLUMNS", "80")


def run(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res.stdout


def cells(line: str) -> list[str]:
    return [c.strip() for c in re.split("[│┃]", line)[1:-1]]


def check_narrow(text: str, width: int = 80) -> None:
    """No line wider than the terminal, no table cut at the edge, no number split."""
    for line in text.splitlines():
        assert cell_len(line) <= width, line
        if line[:1] in BORDERS_LEFT:
            assert line.rstrip()[-1:] in BORDERS_RIGHT, f"table cut at the edge: {line}"
        if line[:1] == "│":
            for cell in cells(line):
                assert not SPLIT_THOUSANDS.search(cell), f"split number in {line!r}"
                assert not re.match(r"^[.,]\d", cell), f"number continued in {line!r}"


VERBS = [
    ("overview",),
    ("concentration", "--shares"),
    ("concentration", "-m", "Dy"),
    ("trace", "-m", "Dy", "-c", "JPN"),
    ("blocs",),
    ("blocs", "--bloc", "MSP", "--without", "CHN", "--crma"),
    ("risk", "--bloc", "EU27"),
    ("scenarios",),
    ("exposure", "--example", "drone"),
    ("data", "list"),
    ("data", "show", "projects", "--limit", "5"),
    ("data", "sources", "stage_output", "2024/mine/REO/CHN"),
    ("data", "diff", "reserves", "--from", "MCS2024", "--to", "MCS2025"),
    ("data", "check", "--year", "2025"),
    ("stress", "china-2025-04", "--draws", "20"),
]


@pytest.mark.usefixtures("narrow")
@pytest.mark.parametrize("args", VERBS, ids=lambda a: " ".join(a))
def test_every_verb_fits_80_columns_without_breaking_a_value(args: tuple[str, ...]) -> None:
    check_narrow(run(*args))


@pytest.mark.usefixtures("narrow")
@pytest.mark.parametrize(("args", "key", "names"), [
    (("overview",), "stages", ["total", "top_share", "cr3", "hhi"]),
    (("overview",), "controller", ["mine", "separation", "metal", "magnet"]),
    (("trace", "-m", "Dy"), "origin", ["share"]),
    (("blocs", "--bloc", "MSP", "--without", "CHN"), "balance",
     ["bloc_output", "bloc_demand", "self_sufficiency"]),
    (("risk",), "risk", ["supply_risk", "hhi_wgi_global"]),
])
def test_numbers_stay_whole_on_one_line(args: tuple[str, ...], key: str,
                                        names: list[str]) -> None:
    """Every number of these columns appears, formatted, unbroken within one line."""
    text = run(*args)
    lines = text.splitlines()
    rows = json.loads(run(*args, "--json"))[key]
    default = Col("", kind="share") if key == "controller" else None
    for name in names:
        col = column(name, default=default)
        for r in rows:
            shown = format_cell(col, r[name])
            assert any(shown in line for line in lines), (name, shown)


def test_old_style_split_is_caught() -> None:
    """The checks above fail on what the old renderer printed at 80 columns."""
    old = ("│ separat │ t_REO   │ 353,386 │\n│ ion     │         │         │\n"
           "│ metal   │ t_REO   │ 5,07    │\n│         │         │ 2.4     │\n")
    with pytest.raises(AssertionError, match="split number"):
        check_narrow(old)


@pytest.mark.usefixtures("narrow")
def test_dropped_columns_are_named_and_wide_shows_them() -> None:
    text = run("concentration")
    footer = text[text.index("not shown at 80 columns:"):].split("shows all)")[0]
    assert "CR1" in footer and "--wide" in footer.replace("\n", " ")
    assert "┃ CR1" not in text
    wide = run("concentration", "--wide")
    assert "not shown" not in wide
    headers = " ".join(line for line in wide.splitlines() if line.startswith("┃"))
    for h in ("CR1", "producers", "WGI", "imputed", "unit"):
        assert h in headers, h
    assert max(cell_len(line) for line in wide.splitlines()) > 80


@pytest.mark.usefixtures("narrow")
def test_shares_are_percent_in_tables_and_fractions_in_json_and_csv() -> None:
    out = json.loads(run("overview", "--json"))
    reo = next(r for r in out["controller"] if r["material"] == "REO")
    assert 0.5 < reo["mine"] < 1
    assert f"{reo['mine']:.1%}" in run("overview")
    csv_text = run("overview", "--csv", "--table", "controller")
    df = pd.read_csv(io.StringIO(csv_text))
    assert df.loc[df["material"] == "REO", "mine"].iloc[0] == pytest.approx(reo["mine"])


@pytest.mark.usefixtures("user_dir")
def test_csv_writes_every_table_under_a_marker() -> None:
    text = run("concentration", "--shares", "--csv")
    sections = re.split(r"^# table: (\S+)\n", text, flags=re.M)
    assert sections[0] == ""
    names = sections[1::2]
    assert names == ["concentration", "shares"]
    conc = pd.read_csv(io.StringIO(sections[2]))
    shares = pd.read_csv(io.StringIO(sections[4]))
    assert set(conc["stage"]) == {"mine", "separation", "metal", "magnet"}
    assert 0 < conc["top_share"].max() <= 1  # fractions, not percent
    assert "CHN" in shares.columns
    # one table by name, as plain CSV
    only = run("concentration", "--shares", "--csv", "--table", "shares")
    assert not only.startswith("#") and only.splitlines()[0].startswith("stage,")
    # exposure and data check: every table, none dropped silently
    exp = run("exposure", "--example", "drone", "--csv")
    assert re.findall(r"^# table: (\S+)$", exp, flags=re.M) == ["inputs", "alternatives"]
    chk = run("data", "check", "--year", "2025", "--csv")
    assert re.findall(r"^# table: (\S+)$", chk, flags=re.M) == [
        "balance", "concentration", "estimates"]
    # a single-table command stays plain CSV
    assert run("blocs", "--csv").startswith("bloc,")
    res = runner.invoke(app, ["concentration", "--csv", "--table", "sharez", "--shares"])
    assert res.exit_code == 2 and "did you mean 'shares'" in res.stderr


def test_csv_safe_cells() -> None:
    for bad in ("=1+2", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"x\")"):
        assert csv_safe(bad) == "'" + bad
    for fine in ("-12.5", "+3", "-1e-5", "CHN", "a=b", "", 3, -4.5, None):
        assert csv_safe(fine) == fine
    buf = io.StringIO()
    write_csv(pd.DataFrame({"=h": ["=cmd", "ok"], "n": [-1.5, 2.0]}), buf)
    assert buf.getvalue().splitlines() == ["'=h,n", "'=cmd,-1.5", "ok,2.0"]
    buf = io.StringIO()
    write_csv([{"a": "@x", "b": -3}], buf)
    assert buf.getvalue().splitlines() == ["a,b", "'@x,-3"]


def test_csv_output_escapes_formula_cells(toy_cli: Store) -> None:
    sql = ("select '=1+2' as a, '-12.5' as b, '+cmd' as c, '@x' as d, -3 as e, "
           "1 as \"=h\"")
    text = run("data", "query", sql, "--csv")
    assert text.splitlines() == ["a,b,c,d,e,'=h", "'=1+2,-12.5,'+cmd,'@x,-3,1"]
    # JSON keeps the values as they are (a program reads them, not a spreadsheet)
    assert json.loads(run("data", "query", sql, "--json"))[0]["a"] == "=1+2"


def test_one_record_prints_as_key_value_lines(toy_cli: Store) -> None:
    text = run("data", "sources", "stage_output", "2024/mine/REO/AUS")
    assert "┃" not in text and "│" not in text
    lines = text.splitlines()
    assert re.search(r"^tonnes \[t\]\s+29,000\s*$", text, flags=re.M), text
    assert any(re.match(r"^title\s+MCS B\s*$", line) for line in lines)
    assert any(re.match(r"^url\s+https://example.org/b\s*$", line) for line in lines)


@pytest.mark.usefixtures("narrow")
def test_symbols_are_explained_once() -> None:
    text = run("concentration", "--shares", "--wide")
    for term in ("HHI =", "HHI-WGI =", "CR3 =", "CR1 =", "WGI imputed =", "WGI missing ="):
        assert text.count(term) == 1, term
    narrow = run("concentration")  # a column not shown is not explained
    assert "CR1 =" not in narrow and "CR3 =" in narrow
    risk = run("risk")
    for term in ("EOL-RIR =", "SI/SR =", "SR = EU supply risk", "IR = net import reliance"):
        assert risk.count(term) == 1, term


@pytest.mark.usefixtures("user_dir")
def test_infinity_is_explained() -> None:
    res = runner.invoke(app, ["exposure", "--example", "wind-turbine", "--scenario",
                              "full-embargo", "--draws", "30"])
    assert res.exit_code == 0, res.output
    assert re.search(r"│\s+∞ │", res.stdout)  # no stock-out within the horizon
    assert res.stdout.count("∞ = no stock-out within the horizon") == 1
    assert "building the baseline" in res.stderr  # the spinner's plain-text form


@pytest.mark.usefixtures("narrow")
def test_sources_fold_into_one_line() -> None:
    text = run("overview")
    src = [line for line in text.splitlines() if line.startswith("sources")]
    assert len(src) == 1 and "--sources" in src[0] and cell_len(src[0]) <= 80
    full = run("overview", "--sources")
    assert "sources (consumption):" in full and "usgs_mcs2026_ree" in full


def test_help_shows_flags_without_bool() -> None:
    for verb in (["overview"], ["concentration"], ["exposure"], ["data", "check"],
                 ["stress"]):
        res = runner.invoke(app, [*verb, "--help"])
        assert res.exit_code == 0, res.output
        assert "<bool>" not in res.stdout and "--json" in res.stdout
    assert "<int>" in runner.invoke(app, ["overview", "--help"]).stdout  # valued options keep it


def test_progress_plain_lines_every_ten_percent() -> None:
    buf = io.StringIO()
    with progress("job", waiting="building the baseline", stream=buf) as p:
        for k in range(1, 101):
            p(k, 100)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "job: building the baseline …"
    assert [line.split(" (")[0] for line in lines[1:]] == [f"job: {d}%" for d in
                                                          range(10, 101, 10)]
    assert "left)" in lines[1]  # an ETA while running
    quiet = io.StringIO()
    with progress("job", enabled=False, stream=quiet) as p:
        p(1, 2)
    assert quiet.getvalue() == ""


def test_format_share_and_region_label() -> None:
    assert [format_share(v) for v in (0.6935, 0.0, 0.0001, 6.11, 1.0, float("nan"))] == [
        "69.3%", "0%", "<0.1%", "611%", "100%", ""]
    blocs = {"EU27": ("AUT", "BEL", "DEU", "FRA", "XEU"), "G7": ("DEU", "FRA", "JPN", "USA")}
    assert region_label("targets:AUT+BEL+DEU+FRA+XEU", blocs) == "EU27"
    assert region_label("targets:AUT+BEL+DEU+FRA+XEU+JPN (targets)", blocs) == \
        "EU27+JPN (targets)"
    assert region_label("rest", blocs) == "rest"
    assert region_label("targets:USA", blocs) == "USA"


@pytest.mark.usefixtures("user_dir")
def test_region_label_names_a_shipped_bloc() -> None:
    from oreflow.simulate.compile import bloc_members

    eu = bloc_members(Store.default())["EU27"]
    assert region_label("targets:" + "+".join(eu)) == "EU27"


@pytest.mark.usefixtures("user_dir")
def test_runtime_warnings_are_silenced_only_at_the_program_boundary(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import oreflow.chain.analysis as analysis

    real = analysis.supply_risk

    def noisy(*args: object, **kwargs: object) -> object:
        np.float64(1.0) / np.float64(0.0)  # RuntimeWarning: divide by zero
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(analysis, "supply_risk", noisy)
    # as a program (main() calls app(...)): no warning reaches the terminal
    app(["risk", "--json"], prog_name="oreflow", standalone_mode=False)
    out = capsys.readouterr()
    assert "RuntimeWarning" not in out.err and json.loads(out.out)["risk"]
    # commands invoked directly (as tests do) still see it: pytest turns it into an error
    res = runner.invoke(app, ["risk", "--json"])
    assert res.exit_code == 1 and "RuntimeWarning" in res.stderr
