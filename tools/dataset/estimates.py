"""oreflow's 2024 stage estimates in stage_output (separation, magnet, metal) and the JRC Dy split.

Every input figure is read from the fact base; the code holds only the method (the equations
and which published rows they combine). Each row's ``method`` gives the equation, the inputs
and their source_ids; docs/data.md explains the methods.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .common import BASELINE_YEAR, EST_SOURCE, EST_VINTAGE, Estimates, FactBase
from .composition import MOUNT_WELD, Mix, deposit_fractions, ndpr_fraction
from .production import so_row
from .rows import (
    Row,
    add_note,
    find_one,
    fnum,
    grouped,
    join_flags,
    join_ids,
    num,
    quality_flags,
    taken_as_derived,
)


@dataclass
class Inputs:
    """The fact-base files the estimates read."""

    quotas: list[Row]
    shares: list[Row]
    events: list[Row]
    projects: dict[str, Row]
    magnets: list[Row]
    recipes: list[Row]
    usstat: list[Row]
    mine: list[Row]
    fracs: dict[str, Mix]

    @classmethod
    def read(cls, facts: FactBase) -> Inputs:
        """Read the inputs from the fact base."""
        return cls(
            quotas=facts.read("policy", "china_quotas.csv"),
            shares=facts.read("production", "stage_shares.csv"),
            events=facts.read("projects", "project_events.csv"),
            projects={r["project_id"]: r for r in facts.read("projects", "projects.csv")},
            magnets=facts.read("production", "magnet_production.csv"),
            recipes=facts.read("magnets", "recipes.csv"),
            usstat=facts.read("trade", "us_statistics.csv"),
            mine=facts.read("production", "mine_production.csv"),
            fracs=deposit_fractions(facts),
        )


def stage_base(stage: str, material: str, unit: str) -> Row:
    """Common columns of the 2024 estimate rows of one stage."""
    return {
        "year": BASELINE_YEAR,
        "stage": stage,
        "material": material,
        "unit": unit,
        "vintage": EST_VINTAGE,
        "estimate": True,
    }


def derived(base: Row, iso3: str, tonnes: str, inputs: Iterable[str] = (), **kw: Any) -> Row:
    """An oreflow estimate row; ``inputs`` are the source_ids listed in other_source_ids."""
    kw.setdefault("source_id", EST_SOURCE)
    return so_row(**base, iso3=iso3, tonnes=tonnes, other_source_ids=join_ids(inputs), **kw)


def china_anchor(c_row: Row, c_col: str, s_row: Row) -> tuple[float, float, float]:
    """China's output C, its share s of the stage (fraction) and the world W = C / s."""
    c_t, s = num(c_row[c_col]), num(s_row["share_pct"]) / 100
    return c_t, s, c_t / s


def china_and_world(
    base: Row,
    china: tuple[Row, str, str],
    share: tuple[Row, str],
    chn: tuple[str, str],
    wld: tuple[str, str, list[str]],
) -> list[Row]:
    """CHN = C, China's stated output, and WLD = C / s, s being China's share of the stage.

    ``china`` is (row, value column, text of C); ``share`` is (stage_shares row, text of s);
    ``chn`` is (method tail, note) of the CHN row; ``wld`` is (method tail, note, further
    input source_ids) of the WLD row.
    """
    c_row, c_col, c_text = china
    s_row, s_text = share
    c_t, s, w_t = china_anchor(c_row, c_col, s_row)
    return [
        derived(
            base,
            "CHN",
            fnum(c_t),
            source_id=c_row["source_id"],
            flag=join_flags("derived", quality_flags([c_row["flag"]])),
            method=f"CHN = C; {c_text}; {chn[0]}",
            note=chn[1],
        ),
        derived(
            base,
            "WLD",
            fnum(w_t),
            [c_row["source_id"], s_row["source_id"], *wld[2]],
            flag=join_flags("derived", quality_flags([c_row["flag"], s_row["flag"]])),
            method=f"WLD = C / s = {c_row[c_col]} / {fnum(s, 4)}; {c_text}; s = {s_text}{wld[0]}",
            note=wld[1],
        ),
    ]


def shares_of(total: float, weights: dict[str, float]) -> dict[str, float]:
    """``total`` shared out in proportion to ``weights``."""
    den = sum(weights.values())
    return {k: total * w / den for k, w in weights.items()}


def share_text(r: Row) -> str:
    """'91% (2024/25, iea_2025_10_23)' for a stage_shares row."""
    return f"{r['share_pct']}% ({r['year']}, {r['source_id']})"


# --- separation ------------------------------------------------------------------------------


def separation_rows(inp: Inputs, est: Estimates) -> list[Row]:
    """2024 separated REO: China from its quota, world from China's IEA share, the rest split."""
    base = stage_base("separation", "REO", "t_REO")
    q = find_one(inp.quotas, year="2024", period="full year", metric="separation_quota")
    sep = {"stage": "separation", "iso3": "CHN"}
    s = find_one(inp.shares, year="2024", **sep, source_id="automotiveworld_2025_06_19")
    iea_2425 = find_one(inp.shares, **sep, source_id="iea_2025_10_23")
    iea_2023 = find_one(inp.shares, **sep, source_id="iea_gcmo2024")
    iea_mys = find_one(inp.shares, stage="separation", iso3="MYS", source_id="iea_gcmo2024")
    us = find_one(
        inp.usstat,
        edition="MCS2026",
        year="2024",
        item="production: compounds and metals (California + Utah)",
    )
    lyn = find_one(
        inp.events, project_id="lynas_malaysia", date="c.2024", metric="NdPr oxide production"
    )
    silmet = inp.projects["neo_silmet"]
    sep_flags = quality_flags([q["flag"], s["flag"]])
    v = est.values
    c_sep, s_sep, w_sep = china_anchor(q, "value", s)
    v.update(sep_chn=c_sep, sep_share=s_sep, sep_wld=w_sep)
    v["sep_usa"] = usa_sep = num(us["value"])
    v["sep_resid"] = resid = w_sep - c_sep - usa_sep
    v["mw_ndpr"] = mw_ndpr = ndpr_fraction(inp.fracs, MOUNT_WELD)
    v["lyn_ndpr"] = lyn_ndpr = (num(lyn["value_low"]) + num(lyn["value_high"])) / 2
    v["lyn_reo"] = w_mys = lyn_ndpr / mw_ndpr
    v["lyn_reo_low"] = num(lyn["value_low"]) / mw_ndpr
    v["lyn_reo_high"] = num(lyn["value_high"]) / mw_ndpr
    w_est = num(silmet["capacity"])
    split = shares_of(resid, {"MYS": w_mys, "EST": w_est})
    v["sep_mys"], v["sep_est"] = split["MYS"], split["EST"]
    common_m = (
        f"R = WLD - CHN - USA = {fnum(w_sep)} - {fnum(c_sep)} - {us['value']} = "
        f"{fnum(resid)} t split over the documented non-China, non-US separators in "
        f"proportion to REO-equivalent weights: MYS (Lynas Malaysia) = NdPr output "
        f"c.2024 {lyn['value_low']}-{lyn['value_high']} t (mid {fnum(lyn_ndpr)}; "
        f"{lyn['source_id']}) / NdPr share of Mount Weld REO {fnum(mw_ndpr, 4)} "
        f"(usgs_myb2022_ree) = {fnum(w_mys)} t; EST (NPM Silmet) = light-REE separation "
        f"capacity {silmet['capacity']} t/yr ({silmet['source_id']}). FRA (Solvay magnet "
        "line) started 2025 and CAN (SRC) has no 2024 annual figure: not allocated; "
        "other separators (e.g. RUS, IND) undocumented: gap"
    )
    resid_ids = [
        q["source_id"],
        s["source_id"],
        us["source_id"],
        lyn["source_id"],
        "usgs_myb2022_ree",
        silmet["source_id"],
    ]
    weights = f"({fnum(w_mys)} + {w_est:g}); {common_m}"
    return [
        *china_and_world(
            base,
            (q, "value", f"C = China 2024 separation quota {q['value']} t ({q['source_id']})"),
            (
                s,
                f"China share of separation/processing 2024 {s['share_pct']}% "
                f"({s['source_id']}, IEA as quoted)",
            ),
            (
                "the quota is taken as output (imported feed processed outside the quota is not "
                "counted)",
                "separated REO output proxied by the separation quota",
            ),
            (
                f"; other IEA readings: {share_text(iea_2425)}, {share_text(iea_2023)}",
                "world separated REO implied by China's quota and IEA share",
                [iea_2425["source_id"], iea_2023["source_id"]],
            ),
        ),
        derived(
            base,
            "USA",
            us["value"],
            **taken_as_derived(us),
            method=f"USA = US production of compounds and metals {BASELINE_YEAR} "
            f"({us['value']} t REO, MCS2026 salient statistics, California + Utah) taken as "
            "separation output (commercial NdPr metal started only in 2025)",
            note="published USGS figure; a derived row only in its stage mapping, kept in the "
            "estimate vintage so that the 2024 separation rows form one set",
        ),
        *(
            derived(
                base,
                iso,
                fnum(split[iso]),
                resid_ids,
                flag=join_flags("derived", sep_flags, weight_row["flag"]),
                method=f"{iso} = R * {weight} / {weights}",
                note=note,
            )
            for iso, weight_row, weight, note in (
                (
                    "MYS",
                    lyn,
                    fnum(w_mys),
                    f"IEA gives Malaysia {iea_mys['share_pct']}% of refining in "
                    f"{iea_mys['year']} (stage_shares)",
                ),
                ("EST", silmet, f"{w_est:g}", "capacity used as the weight (no output figure)"),
            )
        ),
    ]


# --- magnet ----------------------------------------------------------------------------------


def magnet_inputs(inp: Inputs) -> tuple[Row, Row]:
    """China's 2024 magnet output and its share of magnet manufacturing (2024/25)."""
    cm = find_one(inp.magnets, year="2024", iso3="CHN", metric="production")
    sm = find_one(inp.shares, year="2024/25", stage="magnet", iso3="CHN")
    return cm, sm


def magnet_rows(inp: Inputs, est: Estimates) -> list[Row]:
    """2024 NdFeB output: China as stated, world from China's share, the rest by capacity."""
    base = stage_base("magnet", "NdFeB", "t_product")
    cm, sm = magnet_inputs(inp)
    mags = inp.magnets
    jp = find_one(mags, year="2020", iso3="JPN", metric="production")
    vn = find_one(mags, year="end-2022", iso3="VNM", metric="capacity")
    th = find_one(mags, year="end-2022", iso3="THA", metric="capacity")
    vn_plan = find_one(mags, year="2016/2017", iso3="VNM", metric="capacity")
    smco = find_one(mags, iso3="CHN", product="SmCo magnets", metric="production")
    world = [
        find_one(mags, iso3="WLD", year=y, source_id="metalnomist_2025_10")
        for y in ("2023", "2025")
    ]
    argus = find_one(inp.shares, stage="magnet", iso3="JPN", source_id="argus_2023_01_03")
    nv = inp.projects["noveon_san_marcos"]
    v = est.values
    c_mag, s_mag, w_mag = china_anchor(cm, "value", sm)
    v.update(mag_chn=c_mag, mag_share=s_mag, mag_wld=w_mag)
    v["mag_jpn"] = jpn = num(jp["value"])
    v["mag_r2"] = r2 = w_mag - c_mag - jpn
    v["mag_vnm"] = vnm = min(num(vn["value"]), r2)
    v["mag_r3"] = r3 = r2 - vnm
    split = shares_of(r3, {"USA": num(nv["capacity"]), "THA": num(th["value"])})
    v["mag_usa"], v["mag_tha"] = split["USA"], split["THA"]
    mag_flags = quality_flags([cm["flag"], sm["flag"]])
    rest = (
        f"R2 = WLD - CHN - JPN = {fnum(w_mag)} - {fnum(c_mag)} - {jp['value']} = {fnum(r2)}; "
        f"VNM = Shin-Etsu Vietnam capacity {vn['value']} t/yr ({vn['source_id']}, end-2022; "
        f"C&EN gave {grouped(vn_plan['value'])} t/yr for {vn_plan['year']}), assumed fully "
        f"used; R3 = R2 - VNM = {fnum(r3)} split by documented capacities of makers operating "
        f"in 2024: USA Noveon {nv['capacity']} t/yr ({nv['source_id']}), THA Neo {th['value']} "
        f"t/yr NdFeB powder ({th['source_id']}); not allocated (started 2025 or later, or no "
        "country split): USA Rare Earth, MP Independence, e-VAC, Neo Narva, SGI; Europe (VAC) "
        "and Korea: no capacity data (gap)"
    )
    chain = [vn["source_id"], cm["source_id"], sm["source_id"], jp["source_id"]]
    cross_check = " and ".join(
        f"{w['qualifier']}{grouped(w['value'])} t {w['year']}" for w in world
    )
    out = [
        *china_and_world(
            base,
            (
                cm,
                "value",
                f"C = China RE permanent magnet output 2024 ~{cm['value']} t "
                f"({cm['source_id']}, expected value stated May 2024, taken as NdFeB)",
            ),
            (
                sm,
                f"China share of permanent magnet manufacturing {sm['share_pct']}% "
                f"(2024/25, {sm['source_id']})",
            ),
            (
                f"SmCo ({grouped(smco['value'])} t in {smco['year']}, {smco['source_id']}) is "
                "not subtracted",
                "input is a projection made in May 2024 (flag projection in magnet_production)",
            ),
            (
                "",
                f"cross-check: world RE magnet output {cross_check} ({world[0]['source_id']})",
                [],
            ),
        ),
        derived(
            base,
            "JPN",
            fnum(jpn),
            [cm["source_id"], sm["source_id"]],
            **taken_as_derived(jp),
            method=f"JPN = last Japan Society of Newer Metals figure (2020, ~{jp['value']} t, "
            f"{jp['source_id']}) carried forward to 2024 (no later Japanese tonnage found)",
            note=f"carry-forward; Argus puts Japan below {argus['share_pct']}% of world "
            f"permanent-magnet output {argus['year']}",
        ),
        derived(
            base,
            "VNM",
            fnum(vnm),
            [*chain, vn_plan["source_id"]],
            flag=join_flags("derived", mag_flags, vn["flag"]),
            method=f"VNM = min(capacity, R2); {rest}",
            note="capacity proxy",
        ),
    ]
    for iso, cap in (("USA", nv), ("THA", th)):
        out.append(
            derived(
                base,
                iso,
                fnum(split[iso]),
                [cap["source_id"], *chain],
                flag=join_flags("derived", mag_flags, vn["flag"], cap["flag"]),
                method=f"{iso} = R3 * capacity share; {rest}",
                note="capacity-weighted residual",
            )
        )
    return out


# --- metal -----------------------------------------------------------------------------------


def metal_rows(inp: Inputs, est: Estimates) -> list[Row]:
    """2024 RE metal in magnet alloys: world NdFeB x RE content, split by China's share."""
    cm, sm = magnet_inputs(inp)
    w_mag = est.values["mag_wld"]
    rc = find_one(inp.recipes, product="sintered NdFeB", grade="general", element="RE total")
    mt = find_one(inp.shares, year="c.2022", stage="metal", iso3="CHN", material="REE metals")
    gao = find_one(inp.shares, year="2009/10", stage="metal", iso3="CHN")
    v = est.values
    v["met_f"] = f_re = num(rc["wt_pct"]) / 100
    v["met_share"] = s_met = num(mt["share_pct"]) / 100
    v["met_wld"] = w_met = w_mag * f_re
    v["met_chn"] = c_met = w_met * s_met
    v["met_row"] = w_met - c_met
    met_in = (
        f"M = world NdFeB 2024 (oreflow estimate, {fnum(w_mag)} t); f = RE content of "
        f"sintered NdFeB ~{rc['wt_pct']} wt% ({rc['source_id']}); s = China share of RE "
        f"metals used for permanent magnets {mt['share_pct']}% (c.2022, {mt['source_id']}, "
        f"UNVERIFIED; the GAO 2009/10 alloy share was {gao['share_pct']}%, {gao['source_id']})"
    )
    mag_flags = quality_flags([cm["flag"], sm["flag"]])
    met_flags = join_flags("derived", mag_flags, quality_flags([rc["flag"], mt["flag"]]))
    base = stage_base("metal", "REO", "t")
    ids = [cm["source_id"], sm["source_id"], rc["source_id"], mt["source_id"]]
    scope = "tonnes of rare-earth metal in magnet alloys (scope: RE metals for permanent magnets)"
    row_method = (
        ("WLD", w_met, "WLD = M * f"),
        ("CHN", c_met, "CHN = M * f * s"),
        ("ROW", w_met - c_met, "ROW = M * f * (1 - s)"),
    )
    row_extra = {
        "ROW": "; no country split: documented ex-China metal/alloy capacities are c.2010 "
        "(Showa Denko JPN/VNM) or ramping after 2024 (SRC CAN, MP Independence USA)"
    }
    return [
        derived(
            base,
            iso,
            fnum(t),
            ids,
            flag=met_flags,
            method=f"{eq}; {met_in}{row_extra.get(iso, '')}",
            note=scope,
        )
        for iso, t, eq in row_method
    ]


# --- element level: the JRC Dy 2021 split ----------------------------------------------------


def dy_split_rows(inp: Inputs) -> list[Row]:
    """World Dy 2021 (JRC) split by the JRC country shares, plus the residual."""
    dy = find_one(inp.mine, edition="JRC RMIS", material="Dy")
    dy_t = num(dy["tonnes"])
    base = {
        "year": 2021,
        "stage": "mine",
        "material": "Dy",
        "vintage": "JRC RMIS",
        "unit": "t",
        "estimate": True,
        "source_id": dy["source_id"],
    }
    out: list[Row] = []
    named = 0.0
    for sh in inp.shares:
        if sh["material"] == "Dy" and sh["source_id"] == "jrc_rmis_dysprosium":
            frac = num(sh["share_pct"]) / 100
            named += frac
            out.append(
                so_row(
                    **base,
                    iso3=sh["iso3"],
                    tonnes=fnum(dy_t * frac),
                    flag=join_flags("derived", dy["flag"], sh["flag"]),
                    method=f"{sh['iso3']} = world Dy 2021 {dy['tonnes']} t x {sh['share_pct']}% "
                    f"(both {dy['source_id']}, stage_shares)",
                    note=add_note("tonnes of Dy", sh["note"]),
                )
            )
    out.append(
        so_row(
            **base,
            iso3="ROW",
            tonnes=fnum(dy_t * (1 - named)),
            flag=join_flags("derived", dy["flag"]),
            method=f"ROW = {dy['tonnes']} t x (1 - sum of the named shares "
            f"{fnum(named * 100, 2)}%)",
            note="tonnes of Dy; residual of the JRC split",
        )
    )
    return out


def estimate_rows(facts: FactBase, est: Estimates) -> list[Row]:
    """All 2024 stage estimates and the JRC Dy split (method in each row)."""
    inp = Inputs.read(facts)
    return (
        separation_rows(inp, est)
        + magnet_rows(inp, est)
        + metal_rows(inp, est)
        + dy_split_rows(inp)
    )
