"""The ``composition`` table: deposit element distributions and country-average ore mixes.

Deposit rows come from ``facts/production/element_composition.csv``; the country mixes are
oreflow estimates built from the USGS deposit distributions (method in each row).
"""

from __future__ import annotations

from .common import BASELINE_YEAR, EST_SOURCE, FactBase, copy_rows
from .rows import Row, element_label, find_one, fnum, join_ids, num, pct_to_frac

#: USGS deposits used as proxies (deposit names as in element_composition.csv).
BAYAN_OBO = "Bayan Obo, Inner Mongolia"
MOUNTAIN_PASS = "Mountain Pass, California"
MOUNT_WELD = "Mount Weld CLD"
MANAVALAKURICHI = "Manavalakurichi, Tamil Nadu"
REVDA = "Revda, Murmansk"
XUNWU = "Xunwu, Jiangxi"
LONGNAN = "Longnan, Jiangxi"

Mix = dict[str, float]


def deposit_fractions(facts: FactBase) -> dict[str, Mix]:
    """USGS deposit element shares renormalised to sum 1 over the elements present."""
    dep: dict[str, Mix] = {}
    for r in facts.read("production", "element_composition.csv"):
        if r["source_id"] == "usgs_myb2022_ree":
            dep.setdefault(r["deposit"], {})[r["element"]] = num(r["share_pct"])
    return {d: {e: v / sum(m.values()) for e, v in m.items()} for d, m in dep.items()}


def ndpr_fraction(fracs: dict[str, Mix], deposit: str) -> float:
    """Nd + Pr share of REO of a deposit (renormalised USGS distribution)."""
    return fracs[deposit]["Nd"] + fracs[deposit]["Pr"]


def deposit_rows(facts: FactBase) -> list[Row]:
    """The fact base's deposit rows, shares as fractions."""

    def tf(r: Row, row: Row) -> None:
        element, note = element_label(r["element"], r["note"])
        row.update(
            element=element,
            note=note,
            share=pct_to_frac(r["share_pct"]),
            basis=r["basis"].replace("% of", "share of"),
            estimate=False,
        )

    return copy_rows(
        facts.read("production", "element_composition.csv"), "composition", transform=tf
    )


def country_mixes(
    facts: FactBase, fracs: dict[str, Mix]
) -> dict[str, tuple[Mix, str, str, list[str]]]:
    """Ore mix per producing country: (mix, mineral, method, extra source ids)."""
    quotas = facts.read("policy", "china_quotas.csv")
    h1 = {"year": "2024", "period": "first half (H1)", "metric": "mining_quota"}
    tot = find_one(quotas, **h1, segment="all REE")
    ion = find_one(quotas, **h1, segment="ion-adsorption clay (medium/heavy)")
    w_ion = num(ion["value"]) / num(tot["value"])
    ionic = {
        e: (fracs[XUNWU].get(e, 0.0) + fracs[LONGNAN].get(e, 0.0)) / 2
        for e in set(fracs[XUNWU]) | set(fracs[LONGNAN])
    }
    ionic_m = "ion-adsorption clay = element-wise mean of Xunwu and Longnan (Jiangxi)"
    mixes: dict[str, tuple[Mix, str, str, list[str]]] = {
        "CHN": (
            {
                e: (1 - w_ion) * fracs[BAYAN_OBO].get(e, 0.0) + w_ion * ionic.get(e, 0.0)
                for e in set(fracs[BAYAN_OBO]) | set(ionic)
            },
            "bastnaesite + ion-adsorption clay",
            f"CHN = (1 - w) x {BAYAN_OBO} + w x ionic, w = ion-adsorption share of China's H1 "
            f"2024 mining quota = {ion['value']} / {tot['value']} = {fnum(w_ion, 4)} "
            f"({ion['source_id']}); {ionic_m}; hard-rock (light) quota represented by Bayan Obo "
            "(Sichuan bastnaesite, e.g. Maoniuping, not separated)",
            [ion["source_id"]],
        ),
        "MMR": (
            ionic,
            "ion-adsorption clay",
            f"MMR = ionic proxy (Kachin ionic clay; no Myanmar assay in the fact base); {ionic_m}",
            [],
        ),
        "USA": (fracs[MOUNTAIN_PASS], "bastnaesite", f"USA = {MOUNTAIN_PASS}", []),
        "AUS": (fracs[MOUNT_WELD], "monazite", f"AUS = {MOUNT_WELD} (Lynas)", []),
        "RUS": (fracs[REVDA], "loparite", f"RUS = {REVDA}", []),
        "IND": (fracs[MANAVALAKURICHI], "monazite", f"IND = {MANAVALAKURICHI}", []),
        "BRA": (
            ionic,
            "ion-adsorption clay",
            "BRA = ionic proxy: Brazil's 2024 output is dominated by Serra Verde Pela Ema "
            "(ionic clay, commercial MREC production from 2024; projects.csv, "
            f"miningcom_2023_serraverde); {ionic_m}",
            ["miningcom_2023_serraverde"],
        ),
    }
    for iso in ("THA", "MDG", "VNM", "NGA", "MYS"):
        mixes[iso] = (
            fracs[MANAVALAKURICHI],
            "monazite",
            f"{iso} = monazite proxy = {MANAVALAKURICHI} (mineral-sands/monazite producer "
            f"proxy; no assay of {iso} concentrate in the fact base)",
            [],
        )
    return mixes


def build_composition(facts: FactBase, stage_rows: list[Row]) -> list[Row]:
    """composition: USGS deposit rows as fractions plus country-average ore mixes."""
    out = deposit_rows(facts)
    mixes = country_mixes(facts, deposit_fractions(facts))
    # OTH: production-weighted mean of the named producers (MCS2026, 2024).
    prod = {
        r["iso3"]: num(r["tonnes"])
        for r in stage_rows
        if r["stage"] == "mine"
        and r["vintage"] == "MCS2026"
        and r["year"] == BASELINE_YEAR
        and r["material"] == "REO"
    }
    named = {i: t for i, t in prod.items() if i in mixes and t > 0}
    tot_t = sum(named.values())
    oth: Mix = {}
    for iso, t in named.items():
        for e, s in mixes[iso][0].items():
            oth[e] = oth.get(e, 0.0) + s * t / tot_t
    mixes["OTH"] = (
        oth,
        "mixed",
        "OTH = mean of the named producers' mixes weighted by their 2024 mine output (MCS2026)",
        ["usgs_mcs2026_ree"],
    )
    missing = [i for i, t in prod.items() if t > 0 and i not in mixes and i != "WLD"]
    if missing:
        raise ValueError(f"no ore mix for 2024 producers {missing}")
    for iso, (mix, mineral, method, extra) in sorted(mixes.items()):
        total = sum(mix.values())
        for e in sorted(mix):
            share = mix[e] / total
            if share <= 0:
                continue
            out.append(
                {
                    "deposit": f"country:{iso}",
                    "element": e,
                    "iso3": iso,
                    "mineral": mineral,
                    "share": fnum(share, 6),
                    "qualifier": "",
                    "basis": "share of REO in the country-average ore mix (estimate)",
                    "source_id": EST_SOURCE,
                    "flag": "derived",
                    "note": "USGS deposit distributions renormalised to sum 1 over the elements "
                    "given (NA cells count as 0; '<' values taken at the bound)",
                    "estimate": True,
                    "method": method,
                    "other_source_ids": join_ids(["usgs_myb2022_ree", *extra]),
                }
            )
    return out
