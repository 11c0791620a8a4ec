"""Checks of the balanced chain: mass balance per material, stage and year; shares beside the
published ones; every estimate with its method and range.

What ``oreflow data check`` prints, the first thing a reviewer runs. The balance is computed
from the same tables the chain reads (stage output, recycled feed, final use) and the sourced
loss rates; the residual is what no recorded use or sourced loss explains.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from oreflow.answer import Answer
from oreflow.chain.names import RARE_EARTHS, STAGES
from oreflow.chain.network import SupplyChain
from oreflow.data.store import Store, resolve_store

__all__ = ["CHECK_ELEMENTS", "ELEMENT_TOLERANCE", "TOLERANCE", "check_data",
           "concentration_check", "estimates", "mass_balance"]

#: Largest residual that counts as closed, as a share of the stage's supply [-]: the sources
#: round to two significant digits and most downstream rows are estimates with ranges of
#: +-10% or more.
TOLERANCE = 0.10
#: The same for element balances: they also rest on country ore mixes taken from single
#: deposits (USGS) and on the market-average magnet recipe, each uncertain by 10-20%.
ELEMENT_TOLERANCE = 0.15
#: Elements balanced besides total REO: the magnet rare earths.
CHECK_ELEMENTS = ("Nd", "Pr", "Dy", "Tb")


def share_range(parameter_id: str, *, store: Store | None = None) -> tuple[float, float, float]:
    """A percentage row of the ``parameters`` table as shares (low, central, high) [-]:
    ``separation_recovery`` (ore concentrate to separated oxides, MIIT 2016 minimums) or
    ``magnet_process_scrap`` (share of magnet output, argus_2025_china_recycled)."""
    par = resolve_store(store).table("parameters")
    row = par[par["parameter_id"] == parameter_id]
    if row.empty:
        raise KeyError(f"the parameters table has no parameter {parameter_id!r}")
    r = row.iloc[0]
    return float(r["value_low"]) / 100, float(r["value"]) / 100, float(r["value_high"]) / 100


def _row(material: str, link: str, supply: float, use: float, loss: tuple[float, float],
         what: str) -> dict[str, object]:
    """One balance row; the residual is judged against the loss range and the tolerance."""
    lo, hi = loss
    gap = supply - use
    residual = gap - min(max(gap, lo), hi)  # zero when the gap lies within the loss range
    pct = residual / supply if supply > 0 else np.nan
    tol = TOLERANCE if material == "REO" else ELEMENT_TOLERANCE
    return {"material": material, "link": link, "supply": supply, "use": use,
            "loss_low": lo, "loss_high": hi, "residual": residual, "residual_share": pct,
            "tolerance": tol, "status": "closed" if abs(pct) <= tol else "open", "note": what}


def mass_balance(year: int, *, materials: Iterable[str] = ("REO", *CHECK_ELEMENTS),
                 store: Store | None = None) -> pd.DataFrame:
    """Mass balance per material and link between stages [t REO-eq/yr].

    Links: ``mine -> separation`` (mined plus recycled feed against separated output and the
    recovery losses of the ore that is separated), ``separation -> metal + use`` (separated
    output against the metal plants' feed and final use of oxides), ``metal -> magnet`` and
    ``magnet -> use`` (magnets made against magnets used and process scrap). A residual within
    the loss range is zero; ``status`` is ``closed`` when |residual| ≤ :data:`TOLERANCE` of
    the supply (:data:`ELEMENT_TOLERANCE` for elements). For elements the separation output is
    what producers report where they do (China's PrNd, Dy and Tb oxide), so the
    ``mine -> separation`` residual is the reported output that the recorded feed cannot
    explain (or the feed rejected, when negative).
    """
    st = resolve_store(store)
    reo = SupplyChain.from_default_data(year, store=st)
    r_lo, _, r_hi = share_range("separation_recovery", store=st)
    s_lo, _, s_hi = share_range("magnet_process_scrap", store=st)
    rows: list[dict[str, object]] = []
    for material in materials:
        ch = reo if material == "REO" else reo.for_element(material)
        k = ch.reo_per_unit.to_numpy()
        out = ch.output.to_numpy() * k[:, None]
        use = ch.final_use.to_numpy() * k[:, None]
        sec = ch.secondary.to_numpy()
        pos = {s: i for i, s in enumerate(ch.stages)}
        if not {"mine", "separation"} <= set(pos):
            continue
        i_m, i_s = pos["mine"], pos["separation"]
        separated, recycled = out[i_s].sum(), sec[i_s].sum()
        primary = max(separated - recycled, 0.0)
        rows.append(_row(material, "mine -> separation", out[i_m].sum() + recycled,
                         separated + use[i_m].sum(),
                         (primary * (1 / r_hi - 1), primary * (1 / r_lo - 1)),
                         f"loss: recovery {r_lo}-{r_hi} of the primary feed; recycled feed "
                         f"{recycled:,.0f} t"))
        for a, b in zip(ch.stages[1:], ch.stages[2:], strict=False):
            ia, ib = pos[a], pos[b]
            rows.append(_row(material, f"{a} -> {b} + use", out[ia].sum(),
                             out[ib].sum() - sec[ib].sum() + use[ia].sum(), (0.0, 0.0),
                             "no sourced loss rate; final use of the stage's product included"))
        last = ch.stages[-1]
        if last == "magnet":
            made = out[pos[last]].sum()
            rows.append(_row(material, "magnet -> use", made, use[pos[last]].sum(),
                             (made * s_lo, made * s_hi),
                             f"loss: process scrap {s_lo:.0%}-{s_hi:.0%} "
                             "of output, recycled"))
    frame = pd.DataFrame(rows)
    frame.insert(0, "year", year)
    return frame


def concentration_check(year: int, *, controller: str = "CHN",
                        store: Store | None = None) -> pd.DataFrame:
    """The controller's share of each stage: oreflow's bottom-up figure beside published ones.

    Published shares are the ``stage_shares`` rows of the year (or a span or approximate year
    naming it, e.g. ``2024/25``, ``c.2024``) for the controller and the stage's material.
    """
    st = resolve_store(store)
    chain = SupplyChain.from_default_data(year, store=st)
    ours = chain.shares().get(controller, pd.Series(0.0, index=chain.stages))
    ss = st.table("stage_shares")
    yr = ss["year"].astype(str)
    near = yr.str.contains(str(year)) & (ss["iso3"] == controller) & ss["share"].notna()
    rows = []
    for stage in chain.stages:
        pub = ss[near & (ss["stage"] == stage)
                 & ss["material"].isin(["REE", "RE permanent magnets", "NdFeB", "REO"])]
        own = float(ours[stage])
        for r in pub.to_dict("records"):
            published = float(r["share"])
            rows.append({"year": year, "stage": stage, "oreflow": own, "published": published,
                         "difference": own - published, "source_id": r["source_id"],
                         "published_year": r["year"], "wording": r["stage_in_source"]})
        if pub.empty:
            rows.append({"year": year, "stage": stage, "oreflow": own,
                         "published": np.nan, "difference": np.nan, "source_id": "",
                         "published_year": "", "wording": "no published share for the year"})
    return pd.DataFrame(rows)


def estimates(year: int, *, store: Store | None = None) -> pd.DataFrame:
    """Every oreflow estimate the chain of ``year`` reads, with its range and method."""
    st = resolve_store(store)
    rows = []
    for table, key in (("stage_output", ("stage", "material", "iso3")),
                       ("consumption", ("stage", "material", "iso3")),
                       ("flows", ("exporter", "importer")),
                       ("recycling", ("material", "iso3"))):
        if table not in st.tables():
            continue
        df = st.table(table, latest=True)
        sel = df[(pd.to_numeric(df["year"], errors="coerce") == year)
                 & df["estimate"].fillna(False).astype(bool)]
        for r in sel.to_dict("records"):
            rows.append({
                "year": year, "table": table, "key": "/".join(str(r[c]) for c in key),
                "tonnes": r["tonnes"], "low": r.get("tonnes_low"), "high": r.get("tonnes_high"),
                "method": r.get("method") or "",
            })
    return pd.DataFrame(rows)


def check_data(years: Iterable[int] = (2024, 2025), *, store: Store | None = None) -> Answer:
    """The balance, the shares beside the published ones and the estimates, for ``years``."""
    st = resolve_store(store)
    ys = list(years)
    bal = pd.concat([mass_balance(y, store=st) for y in ys], ignore_index=True)
    conc = pd.concat([concentration_check(y, store=st) for y in ys], ignore_index=True)
    est = pd.concat([estimates(y, store=st) for y in ys], ignore_index=True)
    open_rows = bal[bal["status"] == "open"]
    notes = [f"balance closed for {', '.join(map(str, ys))}: every residual within "
             f"{TOLERANCE:.0%} of its supply ({ELEMENT_TOLERANCE:.0%} for elements)"
             if open_rows.empty else f"{len(open_rows)} balance rows are open (residual above "
             f"{TOLERANCE:.0%} of supply, {ELEMENT_TOLERANCE:.0%} for elements)"]
    notes.append(f"{len(est)} estimate rows, each with its method and range (table "
                 "'estimates'); published shares are cross-checks, never inputs")
    sources = sorted(set(conc["source_id"]) - {""})
    return Answer({"balance": bal, "concentration": conc, "estimates": est}, sources, notes,
                  {"years": ys, "tolerance": TOLERANCE,
                   "elements": [e for e in CHECK_ELEMENTS if e in RARE_EARTHS],
                   "stages": list(STAGES)})
