"""Integrity of the embedded dataset: every shipped row validates, and key facts hold."""

from __future__ import annotations

import pandas as pd

from oreflow.data.store import Store

RARE_EARTHS = ["La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm",
               "Yb", "Lu", "Sc", "Y"]


def test_every_shipped_row_validates(store: Store) -> None:
    problems = store.validate_all()
    assert problems == [], "\n".join(map(str, problems[:20]))


def test_materials_cover_elements_groups_products(store: Store) -> None:
    m = store.table("materials").set_index("material")
    assert set(RARE_EARTHS) <= set(m.index)
    assert (m.loc[RARE_EARTHS, "kind"] == "element").all()
    for group in ("LREE", "HREE", "NdPr"):
        assert m.loc[group, "kind"] == "group"
    for product in ("NdFeB", "SmCo"):
        assert m.loc[product, "kind"] == "product"
    assert {"Ga", "Ge", "graphite", "Sb", "W"} <= set(m.index)


def test_baseline_2024_mine_is_complete_newest_usgs(store: Store) -> None:
    so = store.table("stage_output", vintage="MCS2026")
    mine = so[(so["year"] == 2024) & (so["stage"] == "mine") & (so["material"] == "REO")]
    by = mine.set_index("iso3")["tonnes"]
    assert by["CHN"] == 270_000 and by["WLD"] == 380_000 and by["MMR"] == 27_000
    countries = by.drop(["WLD"])
    # the country rows (incl. "other") add up to the rounded world total
    assert abs(countries.sum() - by["WLD"]) / by["WLD"] < 0.02  # USGS rounds the world
    assert (mine["source_id"] == "usgs_mcs2026_ree").all()


def test_revisions_are_visible_as_vintages(store: Store) -> None:
    d = store.diff("reserves", "MCS2024", "MCS2026 v1.3").set_index("iso3")
    assert d.loc["VNM", "tonnes_from"] == 22_000_000 and d.loc["VNM", "tonnes_to"] == 3_500_000
    d = store.diff("reserves", "MCS2026 v1.0-1.2", "MCS2026 v1.3").set_index("iso3")
    assert d.loc["BRA", "tonnes_from"] == 21_000_000 and d.loc["BRA", "tonnes_to"] == 11_000_000
    d = store.diff("stage_output", "MCS2025", "MCS2026")
    aus = d[(d["iso3"] == "AUS") & (d["year"] == 2024) & (d["stage"] == "mine")
            & (d["material"] == "REO")]
    assert aus["tonnes_from"].tolist() == [13_000] and aus["tonnes_to"].tolist() == [29_000]


def test_estimates_say_how(store: Store) -> None:
    so = store.table("stage_output")
    est = so[so["estimate"].fillna(False).astype(bool)]
    assert not est.empty
    assert est["method"].notna().all(), est[est["method"].isna()]
    flows = store.table("flows")
    assert flows["method"].notna().all()


def test_every_figure_traces_to_a_publication(store: Store) -> None:
    src = store.sources_for("stage_output", ["2024", "mine", "REO", "CHN"])
    assert "usgs_mcs2026_ree" in set(src["source_id"])
    assert src["url"].str.contains("usgs.gov").any()
    sources = set(store.table("sources")["source_id"])
    for name in store.tables():
        df = store.table(name)
        if "source_id" in df.columns:
            missing = set(df["source_id"].dropna()) - sources
            assert not missing, (name, missing)


def test_governance_is_real_or_empty(store: Store) -> None:
    c = store.table("countries").set_index("iso3")
    wgi = c["governance_score"].dropna()
    assert 30 <= len(wgi) <= 60  # WGI shipped for the fact base's 41 countries only
    assert wgi.between(0, 10).all()
    assert c.loc["CHN", "wgi_source_id"] == "wb_wgi_2024"
    assert c.loc["NOR", "governance_score"] < c.loc["CHN", "governance_score"]
    assert pd.isna(c.loc["TUV", "governance_score"])


def test_blocs_named_in_the_issue_exist(store: Store) -> None:
    b = store.table("blocs")
    for bloc in ("MSP", "G7", "QUAD", "EU27"):
        assert bloc in set(b["bloc"]), bloc
    assert len(b[b["bloc"] == "EU27"]) == 27
    assert {"USA", "JPN", "IND", "AUS"} <= set(b[b["bloc"] == "QUAD"]["iso3"])
