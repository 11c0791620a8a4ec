"""The history series and the other minerals, read through the public Store and CLI.

Every expected value is copied from the fact files (facts/history/*.csv,
facts/minerals/*.csv), with the source id the file gives for it.
"""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from oreflow.cli import app
from oreflow.data.store import Store

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
