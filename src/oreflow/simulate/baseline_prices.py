"""Base prices and the project pipeline of the rare-earth baselines.

Split from :mod:`oreflow.simulate.baseline_data` (one concern: what a baseline's markets cost
and what new supply is announced); reads only the store it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.chain import SupplyChain, oxide_factor
from oreflow.data.store import Store

from .baseline_minerals import NoteBook, year_quote
from .scenario import ELEMENTS, PRODUCTS

__all__ = ["RE_COST_SHARE", "RE_MATS", "CapacitySplit", "capacity_split", "re_prices",
           "re_projects", "split_capacity"]

F = NDArray[np.float64]

#: Rare-earth and magnet markets, in array order.
RE_MATS: tuple[str, ...] = (*ELEMENTS, *PRODUCTS)
#: Rare-earth share of NdFeB production cost: 'raw materials about 80% of product cost, rare
#: earths over 90% of raw-material cost' (recipes table, sdm_nd_price_trend, UNVERIFIED).
#: Used only for the 2009 magnet price, which has no trade unit value.
RE_COST_SHARE = 0.8 * 0.9


def re_prices(st: Store, year: int, notes: NoteBook) -> tuple[F, F]:
    """Base prices [USD/kg] of the elements and magnets, and by segment."""
    p = st.table("prices")
    p = p[(p["unit"] == "usd_per_kg") & p["value"].notna()]
    dates = p["date"].astype(str)
    yr = pd.to_numeric(dates.str.extract(r"^(\d{4})")[0], errors="coerce")
    p = p.assign(_y=yr)
    fob = p[p["market"].isin(["china_fob", "china_fob_export"])
            & p["product"].astype(str).str.contains("oxide|O3", regex=True)
            & (p["_y"] <= year)]
    src_date = {str(s): str(e) for s, e in zip(st.table("sources")["source_id"],
                                              st.table("sources")["edition"], strict=True)}
    out: dict[str, float] = {}
    for e in ELEMENTS:
        rows = fob[fob["material"] == e]
        annual = rows[(rows["period_type"] == "annual_avg") & (rows["_y"] == year)]
        pick = None
        how = ""
        if len(annual):
            pick = _best_fob(annual, src_date)
            how = f"{year} annual average China FOB"
        elif len(rows[rows["_y"] == year]):
            sel = rows[rows["_y"] == year]
            out[e] = float(sel["value"].mean())
            srcs = ", ".join(sorted(set(sel["source_id"].astype(str))))
            notes.add(e, f"base price {out[e]:g} USD/kg: mean of the {year} China FOB quotes "
                      f"({', '.join(sel['date'].astype(str))}; {srcs}); no annual average")
            notes.date(e, "price", str(year), srcs)
            continue
        elif len(rows[rows["period_type"] == "annual_avg"]):
            cand = rows[rows["period_type"] == "annual_avg"]
            pick = _best_fob(cand[cand["_y"] == cand["_y"].max()], src_date)
            how = f"fallback: no {year} China FOB price; latest earlier annual average"
        if pick is not None:
            out[e] = float(pick["value"])
            notes.add(e, f"base price {out[e]:g} USD/kg: {how} ({pick['date']}, "
                      f"{pick['product']}, {pick['source_id']})")
            notes.date(e, "price", str(pick["date"]), str(pick["source_id"]))
            continue
        anyp = p[(p["material"] == e) & (p["_y"] <= year)]
        if len(anyp):
            r = anyp.sort_values("_y").iloc[-1]
            out[e] = float(r["value"])
            notes.add(e, f"fallback: no China FOB price for {e}; latest price dated {year} or "
                      f"earlier: {out[e]:g} USD/kg ({r['date']}, {r['product']}, {r['market']},"
                      f" {r['source_id']})")
            notes.date(e, "price", str(r["date"]), str(r["source_id"]))
    for e in ELEMENTS:
        if e in out:
            continue
        i = ELEMENTS.index(e)
        lo = next((ELEMENTS[j] for j in range(i - 1, -1, -1) if ELEMENTS[j] in out), None)
        hi = next((ELEMENTS[j] for j in range(i + 1, len(ELEMENTS)) if ELEMENTS[j] in out),
                  None)
        nb = [x for x in (lo, hi) if x is not None]
        out[e] = float(np.exp(np.mean([np.log(out[x]) for x in nb])))
        notes.add(e, f"fallback: no price for {e} dated {year} or earlier; geometric mean of the "
                  f"neighbouring elements ({', '.join(nb)}) = {out[e]:.2f} USD/kg - placeholder, "
                  "affects only USD costs")
        notes.date(e, "price", str(year), "placeholder")
    # magnets: China's export unit value
    tr = st.table("trade")
    ex = tr[(tr["reporter"] == "CHN") & (tr["flow"] == "export")
            & tr["product"].astype(str).str.contains("permanent magnets")]
    ex = ex.assign(_y=pd.to_numeric(ex["period"].astype(str), errors="coerce"))
    ex = ex[ex["_y"] <= year]
    t_rows = ex[ex["unit"] == "t"]
    v_rows = ex[ex["unit"] == "usd_billion"]
    both = sorted(set(t_rows["_y"]) & set(v_rows["_y"]))
    if both:
        y = both[-1]
        tq = float(t_rows[t_rows["_y"] == y]["value"].iloc[0])
        vq = float(v_rows[v_rows["_y"] == y]["value"].iloc[0])
        src = str(t_rows[t_rows["_y"] == y]["source_id"].iloc[0])
        out["NdFeB"] = vq * 1e9 / (tq * 1000.0)
        stale = "" if int(y) == year else f" - fallback: the {int(y)} value, no {year} figure"
        notes.add("NdFeB", f"derived: base price {out['NdFeB']:.2f} USD/kg = China's magnet "
                  f"export value {vq:g} USD bn / {tq:,.0f} t ({int(y)}, {src}){stale}")
        notes.date("NdFeB", "price", str(int(y)), src)
    else:
        rec = st.table("recipes")
        rec = rec[(rec["product"] == "NdFeB") & (rec["grade"] == "market average 2024")]
        recipe_cost = sum(float(r["wt_frac"]) * oxide_factor(str(r["element"]))
                          * out[str(r["element"])] for _, r in rec.iterrows()
                          if str(r["element"]) in out)
        out["NdFeB"] = recipe_cost / RE_COST_SHARE
        notes.add("NdFeB", f"derived: no magnet export value dated {year} or earlier; base "
                  f"price {out['NdFeB']:.2f} USD/kg = oxide cost of the market-average recipe "
                  f"at the {year} prices / {RE_COST_SHARE:.2f} (rare earths ~90% of raw "
                  "materials, ~80% of cost: recipes table, sdm_nd_price_trend, UNVERIFIED) - "
                  "a lower bound when rare-earth prices are low and their cost share smaller")
        notes.date("NdFeB", "price", str(year), "element prices")
    out["SmCo"] = out["NdFeB"]
    notes.add("SmCo", "fallback: no SmCo price in the data; the NdFeB base price is used")
    notes.date("SmCo", "price", notes.period("NdFeB", "price"), "the NdFeB price")
    price = np.array([out[m] for m in RE_MATS])
    pbr = np.repeat(price[:, None], 3, axis=1)
    found = []
    for i, m in enumerate(ELEMENTS):
        dom = year_quote(st, m, year, ("china_domestic",), "oxide")
        abroad = year_quote(st, m, year, ("europe", "rotterdam", "international"), "oxide")
        if dom is not None:
            pbr[i, 0] = dom[0]
            found.append(m)
            notes.add(m, f"controller price {dom[0]:,.2f} USD/kg: China domestic, {dom[1]} "
                      f"[{dom[2]}]")
        if abroad is not None:
            pbr[i, 1:] = abroad[0]
            found.append(m)
            notes.add(m, f"rest/targets price {abroad[0]:,.2f} USD/kg: {abroad[1]} "
                      f"[{abroad[2]}]")
    missing = [m for m in RE_MATS if m not in found]
    notes.add_all(missing, f"fallback: no {year} China-domestic or outside-China USD quote in "
                  "the prices table: the base (China FOB) price in every segment")
    return price, pbr


def _best_fob(rows: pd.DataFrame, src_date: Mapping[str, str]) -> pd.Series:
    """The preferred FOB row: market ``china_fob`` first, then the newest publication."""
    ranked = rows.assign(
        _m=(rows["market"] != "china_fob").astype(int),
        _p=rows["source_id"].map(lambda s: src_date.get(str(s), "")),
    ).sort_values(["_m", "_p"], ascending=[True, False])
    return ranked.iloc[0]


@dataclass(frozen=True)
class CapacitySplit:
    """How a capacity counted in a separated product becomes tonnes of elements.

    Shared by the baseline's project pipeline (:func:`re_projects`) and the engine's check of a
    diversification plan (:mod:`oreflow.plan.evaluate`), so both split NdPr, Dy+Tb and REO
    alike.

    Attributes
    ----------
    pr_share : float
        Pr share of NdPr, from the chain's magnet recipe (metal basis, as the chain splits
        NdPr) [-].
    dy_share : float
        Dy share of Dy+Tb oxide, from the recipe's Dy and Tb converted to oxide [-].
    composition : pandas.DataFrame or None
        Ore composition by mining country x element (shares of REO) [-]; ``None`` if unknown.
    oxide_recipe : mapping of str to float
        Rare-earth oxide content of one tonne of NdFeB by element (Nd, Pr, Dy, Tb) [t/t].
    """

    pr_share: float
    dy_share: float
    composition: pd.DataFrame | None
    oxide_recipe: Mapping[str, float]


def capacity_split(chain: SupplyChain) -> CapacitySplit:
    """The element splits of a chain: its magnet recipe and ore composition."""
    rec = dict(chain.meta.get("recipe", {}))
    nd, pr = float(rec.get("Nd", 0.0)), float(rec.get("Pr", 0.0))
    pr_share = pr / (nd + pr) if nd + pr > 0 else 0.0
    dy_ox = float(rec.get("Dy", 0.0)) * oxide_factor("Dy")
    tb_ox = float(rec.get("Tb", 0.0)) * oxide_factor("Tb")
    dy_share = dy_ox / (dy_ox + tb_ox) if dy_ox + tb_ox > 0 else 0.0
    ox = {e: float(rec.get(e, 0.0)) * oxide_factor(e) for e in ("Nd", "Pr", "Dy", "Tb")}
    return CapacitySplit(pr_share, dy_share, chain.composition(), ox)


def split_capacity(unit: str, stage: str, capacity: float, iso3: str,
                   split: CapacitySplit) -> dict[str, float] | None:
    """Tonnes per year by element (or NdFeB) of a capacity in ``unit``; ``None`` if the unit
    cannot be converted.

    NdFeB at the magnet stage stays NdFeB; NdPr is split Nd:Pr by the recipe's Pr share (NdPr
    metal x the Nd oxide factor); Dy+Tb by the recipe's Dy:Tb oxide ratio; REO by the
    country's ore composition (the mean composition for a country without one).

    Examples
    --------
    >>> sp = CapacitySplit(0.25, 0.8, None, {})
    >>> split_capacity("t NdPr oxide", "separation", 100.0, "USA", sp)
    {'Nd': 75.0, 'Pr': 25.0}
    """
    u = unit.lower()
    comp = split.composition
    vec: dict[str, float] = {}
    if "ndfeb" in u and "magnet" in stage.lower():
        vec["NdFeB"] = capacity
    elif "ndpr" in u:
        f = oxide_factor("Nd") if "metal" in u else 1.0
        vec["Nd"] = capacity * (1 - split.pr_share) * f
        vec["Pr"] = capacity * split.pr_share * f
    elif "dy+tb" in u:
        vec["Dy"] = capacity * split.dy_share
        vec["Tb"] = capacity * (1 - split.dy_share)
    elif "reo" in u and comp is not None:
        row = comp.loc[iso3] if iso3 in comp.index else comp.mean()
        for e, v in row.items():
            if str(e) in ELEMENTS and pd.notna(v):
                vec[str(e)] = capacity * float(v)
    else:
        return None
    return vec


def re_projects(st: Store, year: int, chain: SupplyChain, notes: NoteBook
              ) -> list[tuple[str, str, dict[str, float], float, str]]:
    """Pipeline projects starting after ``year`` with a capacity the recipe or ore mix can
    turn into element or magnet tonnes: (id, iso3, t/yr by material, start, source)."""
    pj = st.table("projects")
    split = capacity_split(chain)
    out: list[tuple[str, str, dict[str, float], float, str]] = []
    skipped: list[str] = []
    for r in pj.to_dict("records"):
        sy, cap = r.get("start_year"), r.get("capacity")
        unit = str(r.get("capacity_unit") or "").lower()
        iso = str(r.get("iso3") or "")
        if pd.isna(sy) or float(sy) <= year or pd.isna(cap) or iso in ("", "nan"):
            continue
        vec = split_capacity(unit, str(r.get("stage", "")), float(cap), iso, split)
        if vec is None:
            skipped.append(str(r["project_id"]))
            continue
        if set(vec) == {"Dy", "Tb"}:
            notes.add("Tb", f"project {r['project_id']}: Dy+Tb capacity split "
                      f"{split.dy_share:.2f}/{1 - split.dy_share:.2f} in the ratio of Dy to Tb "
                      "oxide in the market-average recipe (derived)")
        out.append((str(r["project_id"]), iso, vec, float(sy), str(r.get("source_id", ""))))
    notes.add("Nd", f"NdPr project capacities split Nd:Pr {1 - split.pr_share:.3f}:"
              f"{split.pr_share:.3f} by the recipe's Pr share (as the chain splits NdPr)")
    if skipped:
        notes.add("NdFeB", "projects skipped (capacity unit not convertible): "
                  + ", ".join(skipped))
    return out


# -- rare earths: the 2009 market ----------------------------------------------------------
