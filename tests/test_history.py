"""The history series, the other minerals and the years the data cover, read through the
public Store, the library (oreflow.chain.history) and the CLI.

Every expected value is copied from the fact files (facts/history/*.csv,
facts/minerals/*.csv, facts/production/*.csv), with the source id the file gives for it.
"""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from oreflow.chain.history import (
    ROUNDING,
    SPLIT_MIN_COVER,
    chain_year_check,
    coverage,
    history_table,
    share_history,
    stage_year_check,
    years_text,
)
from oreflow.cli import app
from oreflow.data.store import Store
from oreflow.errors import InputError

runner = CliRunner()


def months(first: str, last: str) -> list[str]:
    return [str(p) for p in pd.period_range(first, last, freq="M")]


def one(df: pd.DataFrame) -> pd.Series:
    assert len(df) == 1, df
    return df.iloc[0]


# --- prices -----------------------------------------------------------------------------------


def test_nd_fob_monthly_average_series(store: Store) -> None:
    p = store.table("prices")
    nd = store.filter(
        "prices", p, {"material": "Nd", "market": "china_fob", "period_type": "month_avg"}
    ).sort_values("date")
    assert nd["date"].tolist() == months("2010-07", "2012-12")
    aug = one(nd[nd["date"] == "2011-08"])
    # KOMIS 99.5% Nd oxide FOB China, mean of the August 2011 daily quotes
    assert aug["value"] == pytest.approx(359.04)
    assert (aug["value_low"], aug["value_high"]) == (pytest.approx(319.46), pytest.approx(373))
    assert aug["unit"] == "usd_per_kg" and aug["source_id"] == "komis_minor_metals_prices"
    assert "derived" in aug["flag"].split(";") and "arithmetic mean" in aug["method"]
    assert aug["series"] == "re_2009_2012"


def test_cli_selects_the_monthly_series(user_dir) -> None:
    res = runner.invoke(app, ["data", "show", "prices", "material=Nd", "market=china_fob",
                              "period_type=month_avg", "--csv"])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(io.StringIO(res.stdout), dtype=str)
    assert df["date"].tolist() == months("2010-07", "2012-12")
    assert set(df["source_id"]) == {"komis_minor_metals_prices"}


def test_prices_keep_currency_vat_and_method(store: Store) -> None:
    p = store.table("prices")
    ga = one(p[(p["material"] == "Ga") & (p["date"] == "2023-08-31")])
    assert (ga["value"], ga["unit"], ga["market"]) == (1655, "cny_per_kg", "china_domestic")
    assert ga["source_id"] == "reuters_todayonline_2023_09_20_gage"
    # China domestic RE prices in CNY keep the fact base's VAT basis
    cny = p[(p["series"] == "re_2009_2012") & (p["unit"] == "cny_per_t")]
    assert len(cny) == 53 and set(cny["vat"].dropna()) == {"unknown"}
    derived = p[p["flag"].fillna("").str.contains("derived") & p["series"].notna()]
    assert len(derived) > 60 and derived["method"].notna().all()


def test_mineral_annual_prices_stay_as_published(store: Store) -> None:
    p = store.table("prices")
    sb = p[(p["material"] == "Sb") & (p["date"] == "2024") & (p["period_type"] == "annual_avg")]
    assert dict(zip(sb["edition"], sb["value"], strict=True)) == {"MCS2025": 9.5, "MCS2026": 10.24}
    assert set(sb["unit"]) == {"usd_per_lb"}
    # the Huanqiu germanium averages are in both fact files: one row each, noted
    ge = p[(p["material"] == "Ge") & (p["date"] == "2024") & (p["market"] == "china_domestic")
           & (p["period_type"] == "annual_avg")]
    assert one(ge)["value"] == pytest.approx(13610.77)
    assert "also in minerals/prices_annual.csv" in one(ge)["note"]


# --- trade, quotas, licensing, demand --------------------------------------------------------


def test_china_monthly_exports(store: Store) -> None:
    t = store.table("trade")
    ex = t[(t["reporter"] == "CHN") & (t["flow"] == "export") & (t["metric"] == "exports")]
    re_sep = one(ex[(ex["period"] == "2010-09") & (ex["partner_iso3"] == "WLD")])
    assert (re_sep["value"], re_sep["unit"]) == (3660, "t")
    assert re_sep["source_id"] == "afr_2010_11_23_lynas_agm"
    ga_aug = one(ex[(ex["period"] == "2023-08") & (ex["material"] == "Ga")])
    assert ga_aug["value"] == 0 and ga_aug["source_id"] == "reuters_todayonline_2023_09_20_gage"
    ga_2024 = ex[(ex["material"] == "Ga") & (ex["partner_iso3"] == "WLD")
                 & ex["period"].str.fullmatch(r"2024-\d\d")]
    assert len(ga_2024) == 10  # Jan and Feb are published together (2024-01..02)
    assert set(ga_2024["series"]) == {"gage_2022_2025"}


def test_japan_imports_and_smuggling_estimates(store: Store) -> None:
    t = store.table("trade")
    jp = one(t[(t["reporter"] == "JPN") & (t["flow"] == "import") & (t["period"] == "2010-10")
               & (t["partner_iso3"] == "CHN") & (t["metric"] == "imports")])
    assert jp["value"] == 1278 and jp["source_id"] == "smm_reuters_2010_12_27"
    smug = t[t["metric"].fillna("").str.startswith("smuggling estimate")]
    assert len(smug) == 11 and smug["flow"].isna().all()  # not a recorded flow


def test_quotas_and_licensing_milestones(store: Store) -> None:
    q = store.table("quotas")
    h1 = one(q[(q["year"] == "2009") & (q["period"] == "first half (H1)")
               & (q["segment"] == "all REE")])
    assert h1["value"] == 21728 and h1["source_id"] == "techmetalsresearch_2011_07_14_h2_quota"
    lic = store.table("licensing").set_index("stat_id")
    ga = lic.loc["hist_ga_controlled_items_2023-07-03"]
    assert (ga["policy_id"], ga["value"]) == ("cn_2023_ga_ge", 8)
    assert lic.loc["hist_ga_ge_sb_export_ban_2024-12-03", "policy_id"] == "cn_2024_us_ban"
    policies = set(store.table("policies")["policy_id"])
    assert set(lic["policy_id"].dropna()) <= policies


def test_consumption_use_and_import_reliance(store: Store) -> None:
    d = store.table("demand")
    ic = one(d[(d["material"] == "Ga") & (d["iso3"] == "USA") & (d["metric"] == "end_use_share")
               & (d["sector"] == "integrated circuits")])
    assert (ic["value"], ic["unit"], ic["source_id"]) == (79, "pct", "usgs_mcs2025_gallium")
    jp = one(d[(d["material"] == "REE") & (d["iso3"] == "JPN") & (d["year"] == "2012")])
    assert jp["value"] == 14470 and jp["source_id"] == "jmb_2013_jp_demand_2012"
    dep = store.table("import_dependence")
    nir = dep[(dep["material"] == "Ga") & (dep["period"] == "2024")
              & dep["basis"].str.startswith("net import reliance")]
    assert set(nir["share"]) == {1.0} and set(nir["source_id"]) == {
        "usgs_mcs2025_gallium", "usgs_mcs2026_data"}
    chn = one(dep[(dep["material"] == "Ga") & (dep["period"] == "2020-2023")
                  & (dep["supplier_iso3"] == "CHN")])
    assert chn["share"] == pytest.approx(0.19)


# --- other minerals in stage_output -----------------------------------------------------------


def test_gallium_editions_stay_vintages(store: Store) -> None:
    so = store.table("stage_output")
    ga = so[(so["material"] == "Ga") & (so["year"] == 2024) & (so["stage"] == "separation")
            & (so["basis"] == "production")]
    chn = ga[ga["iso3"] == "CHN"].set_index("vintage")["tonnes"]
    assert chn["MCS2025"] == 750 and chn["MCS2026"] == 839  # published in kg
    wld = ga[ga["iso3"] == "WLD"].set_index("vintage")["tonnes"]
    assert wld["MCS2025"] == 760 and wld["MCS2026"] == 848
    assert set(so.loc[so["material"].isin(["Ga", "Ge", "Sb", "W", "graphite"]), "unit"]) == {"t"}
    cap = so[(so["material"] == "Ga") & (so["basis"] == "capacity") & (so["year"] == 2025)
             & (so["iso3"] == "CHN")]
    assert one(cap)["tonnes"] == 1600


@pytest.mark.parametrize(("material", "year", "share"), [
    ("Ga", 2024, 839 / 848),
    ("Ga", 2025, 900 / 909),  # the rounded world total (900 t) is below the countries' sum
    ("Ge", 2024, 1.0),
    ("Ge", 2025, 1.0),
])
def test_concentration_of_gallium_and_germanium(user_dir, material: str, year: int,
                                                share: float) -> None:
    res = runner.invoke(app, ["concentration", "-m", material, "--year", str(year), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    (row,) = out["concentration"]
    assert row["stage"] == "separation" and row["top_producer"] == "CHN"
    assert row["top_share"] == pytest.approx(share)
    if material == "Ge":  # no world total: the output says which data exist
        (note,) = [n for n in out["notes"] if "no world total" in n]
        assert "named producers only" in note and "published shares" in note
    else:
        assert out["sources"] == {"stage_output": ["usgs_mcs2026_data"]}


def test_germanium_table_output_says_what_the_data_are(user_dir) -> None:
    res = runner.invoke(app, ["concentration", "-m", "Ge", "--year", "2024"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "no world total in the data" in text and "minmetals_2025_04_25_germanium" in text


# --- vintage diff -----------------------------------------------------------------------------


def test_diff_does_not_call_a_partial_edition_an_addition(store: Store) -> None:
    d = store.diff("reserves", "MCS2024", "MCS2025").set_index(["iso3", "metric"])
    for iso in ("AUS", "CAN", "USA"):
        assert d.loc[(iso, "reserves"), "status"] == "not_in_from_edition"
    assert d.loc[("VNM", "reserves"), "status"] == "changed"
    back = store.diff("reserves", "MCS2025", "MCS2024").set_index(["iso3", "metric"])
    assert back.loc[("AUS", "reserves"), "status"] == "not_in_to_edition"
    assert not {"added", "removed"} & (set(d["status"]) | set(back["status"]))


def test_diff_keeps_added_and_removed_where_both_editions_are_whole(store: Store) -> None:
    d = store.diff("stage_output", "MCS2025", "MCS2026")
    kor = d[(d["material"] == "Ga") & (d["iso3"] == "KOR") & (d["year"] == 2024)]
    status = dict(zip(kor["basis"], kor["status"], strict=True))
    # MCS2026 folds Korea into 'other countries' (production); it gives capacity for 2025 only
    assert status == {"production": "removed", "capacity": "not_in_to_edition"}
    # MCS2026 has no 2023 figures: not a removal
    assert set(d.loc[d["year"] == 2023, "status"]) == {"not_in_to_edition"}


def test_cli_diff_labels_incomplete_editions(user_dir) -> None:
    res = runner.invoke(app, ["data", "diff", "reserves", "--from", "MCS2024", "--to", "MCS2025"])
    assert res.exit_code == 0, res.output
    cells = [c.strip() for c in res.stdout.replace("┃", "│").split("│")]
    assert "not in" in cells and "MCS2024" in cells  # the status label, wrapped by Rich
    assert "incomplete" in res.stdout and "added" not in res.stdout.replace("'added'", "")
    res = runner.invoke(app, ["data", "diff", "reserves", "--from", "MCS2024", "--to", "MCS2025",
                              "--json"])
    rows = json.loads(res.stdout)
    aus = [r for r in rows if r["iso3"] == "AUS" and r["metric"] == "reserves"]
    assert [r["status"] for r in aus] == ["not_in_from_edition"]


# --- which years the chain covers (oreflow.chain.history) --------------------------------------

#: What the embedded data say about REO, stage by stage (read off stage_output: DS140 gives the
#: world and the USA 2000-2020, MYB2022 and the MCS editions a country split from 2018; TMR's
#: China estimate for 2010 exceeds DS140's world total, so 2010 counts as split).
REO_MINE_COVER = "mine: world total 2000, 2005, 2008-2025, country split 2010, 2018-2025"


def test_years_text_runs() -> None:
    assert years_text([2025, 2000, 2008, 2009, 2010, 2005]) == "2000, 2005, 2008-2010, 2025"
    assert years_text([]) == ""


@pytest.mark.parametrize("year", [2015, 1990])
@pytest.mark.parametrize("verb", [["overview"], ["concentration"], ["concentration", "-m", "Dy"],
                                  ["trace", "-c", "USA"], ["blocs"], ["risk"]])
def test_uncovered_year_is_an_input_error_listing_the_covered_years(user_dir, verb: list[str],
                                                                    year: int) -> None:
    res = runner.invoke(app, [*verb, "--year", str(year)])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    msg = lines[0]
    assert "ore compositions" not in msg and "production rows" not in msg
    assert REO_MINE_COVER in msg
    assert "magnet: world total 2027, country split 2017, 2020, 2024-2025" in msg
    assert "oreflow history" in msg
    if year == 2015:  # the year has a world total, but only the USA is named in it
        assert "for 2015 has no country split: world total only (129,000 t, DS140" in msg
    else:
        assert "no REO mine output in the data for 1990" in msg


def test_library_raises_the_same_coverage_error(store: Store) -> None:
    with pytest.raises(InputError, match="country split 2010, 2018-2025"):
        chain_year_check("REO", 2015, store=store)
    assert chain_year_check("REO", 2024, store=store).leave_out == ()
    assert chain_year_check("REO", 2024, store=store).notes == ()


def test_a_stage_without_a_split_is_left_out_with_a_note(user_dir) -> None:
    # 2018: the magnet stage names Japan alone (JSNM), with no world total; it used to come
    # out as "top producer JPN, share 1"
    res = runner.invoke(app, ["concentration", "--year", "2018", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [r["stage"] for r in out["concentration"]] == ["mine"]
    (note,) = [n for n in out["notes"] if n.startswith("2018:")]
    assert "magnet left out: one producer named (JPN) and no world total" in note
    assert "separation: no output in the data (country split in 2024-2025)" in note
    # 2020 has a magnet split (CHN and JPN): kept, and the missing stages are noted
    res = runner.invoke(app, ["overview", "--year", "2020", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [r["stage"] for r in out["stages"]] == ["mine", "magnet"]
    assert any(n.startswith("2020: separation: no output") for n in out["notes"])


def test_a_stage_asked_for_in_a_year_without_it(user_dir, store: Store) -> None:
    with pytest.raises(InputError, match=r"no country split of REO magnet output for 2018: "
                                         r"one producer named \(JPN\)"):
        stage_year_check("REO", 2018, "magnet", store=store)
    stage_year_check("REO", 2020, "magnet", store=store)  # CHN and JPN: no error
    res = runner.invoke(app, ["concentration", "--stage", "separation", "--year", "2020"])
    assert res.exit_code == 2
    assert "no REO separation output in the data for 2020 (country split in 2024-2025)" in (
        res.stderr)


def test_mineral_without_the_year_lists_its_years(user_dir) -> None:
    res = runner.invoke(app, ["concentration", "-m", "Ga", "--year", "2015"])
    assert res.exit_code == 2
    msg = res.stderr.strip()
    assert len(msg.splitlines()) == 1
    assert "no Ga output in the data for 2015" in msg
    assert "separation: world total 2021, 2023-2025, country split 2023-2025" in msg


def test_coverage_rule(store: Store) -> None:
    cov = coverage("REO", store=store).set_index(["stage", "year"])
    # DS140 2015: USA 5,900 t of a 129,000 t world: 4.6 % named, below the threshold
    c = cov.loc[("mine", 2015)]
    assert c["cover"] == pytest.approx(5900 / 129000) and not c["split"]
    assert c["cover"] < SPLIT_MIN_COVER
    assert cov.loc[("mine", 2024), "split"]
    # no world total: two producers make a split, one does not
    assert cov.loc[("magnet", 2020), "split"] and not cov.loc[("magnet", 2019), "split"]


# --- share history ------------------------------------------------------------------------------


def test_reo_mine_history_newest_edition_per_year(store: Store) -> None:
    h = share_history("REO", "mine", store=store)
    years = sorted(set(h["year"]))
    assert years[0] == 2000 and years[-1] == 2025 and len(years) == 20
    # one edition per year: the newest with a world total
    per_year = h.groupby("year")["vintage"].nunique()
    assert (per_year == 1).all()
    ed = h.groupby("year")["vintage"].first()
    assert ed[2015] == "DS140" and ed[2018] == "MYB2022" and ed[2023] == "MCS2025"
    assert ed[2024] == "MCS2026"
    # shares sum to one per year (to the rounding of the world total)
    sums = h.groupby("year")["share"].sum()
    assert ((sums > 1 - ROUNDING) & (sums < 1 + 1e-9)).all(), sums
    # China each year with a country split, with its tonnage and source
    chn = h[h["iso3"] == "CHN"].set_index("year")
    assert list(chn.index) == list(range(2018, 2026))
    assert (chn.loc[2024, "tonnes"], chn.loc[2024, "source_id"]) == (270000, "usgs_mcs2026_ree")
    # MCS2026 names 384,000 t against a rounded world total of 380,000: shares of the sum
    assert chn.loc[2024, "share"] == pytest.approx(270000 / 384000)
    assert chn.loc[2023, "share"] == pytest.approx(255000 / 376090)  # MCS2025: 376,000 world
    assert chn.loc[2018, "tonnes"] == 120000 and chn.loc[2018, "vintage"] == "MYB2022"
    # before 2018 only the USA is named: the rest of the world total is one residual row
    y15 = h[h["year"] == 2015].set_index("iso3")
    assert set(y15.index) == {"USA", "ROW"}
    assert y15.loc["ROW", "tonnes"] == 129000 - 5900
    assert y15.loc["ROW", "share"] == pytest.approx(123100 / 129000)


def test_history_values_trace_to_stored_rows_and_sources(store: Store) -> None:
    so = store.table("stage_output")
    known = set(store.table("sources")["source_id"])
    h = share_history("REO", "mine", store=store, edition="all")
    assert set(h["source_id"]) <= known
    named = h[h["iso3"] != "ROW"].dropna(subset=["tonnes"])
    stored = so[(so["material"] == "REO") & (so["stage"] == "mine")].set_index(
        ["year", "iso3", "vintage"])
    for r in named.itertuples():
        row = stored.loc[(r.year, r.iso3, r.vintage)]
        assert (row["tonnes"], row["source_id"]) == (r.tonnes, r.source_id)
    # a residual is the world total less the edition's named producers
    res = h[h["iso3"] == "ROW"]
    for r in res.itertuples():
        same = h[(h["year"] == r.year) & (h["vintage"] == r.vintage) & (h["iso3"] != "ROW")]
        assert r.tonnes == pytest.approx(r.world_tonnes - same["tonnes"].sum())


def test_edition_all_shows_revisions(store: Store) -> None:
    h = share_history("REO", "mine", store=store, edition="all", countries=["AUS"])
    aus = h[h["year"] == 2024].set_index("vintage")
    assert aus.loc["MCS2025", "tonnes"] == 13000 and aus.loc["MCS2026", "tonnes"] == 29000
    assert not aus.loc["MCS2025", "latest"] and aus.loc["MCS2026", "latest"]
    # MCS2025's 2024 countries sum to 393,950 t, above its rounded world total of 390,000
    assert aus.loc["MCS2025", "share"] == pytest.approx(13000 / 393950)
    one = share_history("REO", "mine", store=store, edition="MCS2025")
    assert set(one["vintage"]) == {"MCS2025"} and set(one["year"]) == {2023, 2024}
    with pytest.raises(InputError, match="unknown edition"):
        share_history("REO", "mine", store=store, edition="MCS2099")
    with pytest.raises(InputError, match="unknown country 'XXX'"):
        share_history("REO", "mine", store=store, countries=["XXX"])


def test_history_on_the_toy_store(toy_store: Store) -> None:
    # no world total in either edition: the newest row of each country, shares of their sum
    h = share_history("REO", "mine", store=toy_store).set_index("iso3")
    assert set(h["vintage"]) == {"B"}
    assert h.loc["CHN", "share"] == pytest.approx(270000 / (270000 + 45500 + 29000))
    assert set(h["share_of"]) == {"named producers (no world total)"}
    a = share_history("REO", "mine", store=toy_store, edition="all")
    chn_a = a[(a["iso3"] == "CHN") & (a["vintage"] == "A")]
    assert one(chn_a)["share"] == pytest.approx(270000 / (270000 + 45000 + 13000))
    assert not one(chn_a)["latest"]
    t = history_table(a, countries=["CHN"])
    assert list(t.columns) == ["year", "edition", "world_t", "CHN share", "others share",
                               "not split share"]
    assert t[["CHN share", "others share", "not split share"]].sum(axis=1).tolist() == [
        pytest.approx(1.0), pytest.approx(1.0)]


def test_history_table_rows_sum_to_one(store: Store) -> None:
    t = history_table(share_history("REO", "mine", store=store), top=3)
    share_cols = [c for c in t.columns if c.endswith("share")]
    assert share_cols[:3] == ["CHN share", "USA share", "MMR share"]
    sums = t[share_cols].fillna(0.0).sum(axis=1)
    assert ((sums > 1 - ROUNDING) & (sums < 1 + 1e-9)).all()


def test_cli_history(user_dir) -> None:
    res = runner.invoke(app, ["history", "--material", "REO", "--stage", "mine"])
    assert res.exit_code == 0, res.output
    assert "CHN" in res.stdout and "2024" in res.stdout and "not split" in res.stdout
    assert "usgs_ds140_ree" in res.stdout  # sources under the table
    res = runner.invoke(app, ["history", "-m", "REO", "-c", "CHN", "-c", "usa", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {r["iso3"] for r in out["rows"]} == {"CHN", "USA"}
    assert out["years"][0] == 2000 and out["years"][-1] == 2025
    row24 = next(r for r in out["table"] if r["year"] == 2024)
    assert row24["CHN share"] == pytest.approx(270000 / 384000)
    assert set(row24) == {"year", "edition", "world_t", "CHN share", "USA share",
                          "others share", "not split share"}
    assert out["sources"] == {"stage_output": ["usgs_ds140_ree", "usgs_mcs2025_ree",
                                               "usgs_mcs2026_ree", "usgs_myb2022_ree"]}
    assert any("--edition all shows them" in n for n in out["notes"])
    res = runner.invoke(app, ["history", "--edition", "all", "--csv"])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(io.StringIO(res.stdout))
    assert {"year", "iso3", "tonnes", "share", "vintage", "source_id"} <= set(df.columns)
    assert len(df[(df["year"] == 2024) & (df["iso3"] == "CHN")]) == 2  # MCS2025 and MCS2026


@pytest.mark.parametrize(("args", "text"), [
    (["-c", "XXX"], "unknown country 'XXX'"),
    (["--edition", "MCS2099"], "unknown edition of REO mine 'MCS2099'"),
    (["-m", "Ga", "--stage", "mine"], "Ga has: separation (2019-2025, 2028), metal"),
    (["-m", "Gx"], "unknown material 'Gx'"),
])
def test_cli_history_bad_input(user_dir, args: list[str], text: str) -> None:
    res = runner.invoke(app, ["history", *args])
    assert res.exit_code == 2
    assert text in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_history_countries_by_name() -> None:
    from oreflow.chain.history import history

    by_name = history("REO", "mine", countries=["China", "united states"]).tables["history"]
    by_code = history("REO", "mine", countries=["CHN", "USA"]).tables["history"]
    assert by_name.equals(by_code) and set(by_name["iso3"]) == {"CHN", "USA"}
