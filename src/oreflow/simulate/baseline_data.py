"""Building the engine's baseline market from a store's tables.

:func:`build_baseline` reads production, prices, recipes, demand shares and projects from a
:class:`~oreflow.data.store.Store` and assembles a :class:`~oreflow.simulate.baseline.Baseline`:
through :class:`~oreflow.chain.SupplyChain` for years with downstream data, by the historic
rules of ``docs/engine.md`` before. Every number not read directly from the data carries a
note in ``Baseline.notes``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.chain import SupplyChain, oxide_factor
from oreflow.data.store import Store, resolve_store

from .baseline import SECTORS, Baseline, Project, Regions, check_baseline, controller_flows
from .scenario import ELEMENTS, PRODUCTS

__all__ = ["build_baseline"]


def build_baseline(
    year: int,
    materials: Sequence[str] | None = None,
    regions: Regions | None = None,
    *,
    store: Store | None = None,
) -> Baseline:
    """Baseline market from a store (default: the embedded data with the user's imports).

    Parameters
    ----------
    year : int
        Baseline year: a year with separation and magnet data in ``stage_output`` (2024) uses
        :class:`oreflow.chain.SupplyChain`; earlier years (the 2009 pre-episode baseline of
        the 2010 backtest) use the historic rules in ``docs/engine.md``.
    materials : sequence of str, optional
        Materials to include (default all 17 elements, NdFeB and SmCo).
    regions : Regions, optional
        Controller and named targets (default China, no targets).
    store : oreflow.data.store.Store, optional
        Where the tables are read.

    Returns
    -------
    Baseline

    Notes
    -----
    Every number not read directly from the data carries a note in ``Baseline.notes``
    (``derived``, ``fallback`` or ``assumption``); ``docs/engine.md`` lists the rules.
    """
    regions = regions or Regions()
    mats = tuple(materials) if materials is not None else (*ELEMENTS, *PRODUCTS)
    full = _full_baseline(resolve_store(store), int(year), regions)
    return full if mats == full.materials else full.subset(mats)


#: Share of an element's separated supply that magnet makers may take when recipe x magnet
#: output asks for more than is supplied (assumption, see docs/engine.md).
MAGNET_USE_CAP = 0.9
#: Rare-earth share of NdFeB production cost: 'raw materials about 80% of product cost, rare
#: earths over 90% of raw-material cost' (recipes table, sdm_nd_price_trend, UNVERIFIED).
RE_COST_SHARE = 0.8 * 0.9
#: Default cross-border share of a segment's output (no country demand data; assumption).
CROSS_BORDER_DEFAULT = 0.5
#: Stoichiometric Sm mass fraction of Sm2Co17 (atomic masses; no SmCo recipe in the data).
SM_IN_SM2CO17 = 2 * 150.36 / (2 * 150.36 + 17 * 58.933)


def calibration_prices(st: Store) -> pd.DataFrame:
    """The ``prices`` rows the engine reads: all but the history series (``series`` column:
    the 2009-2012 and 2022-2025 monthly records), which are not part of the calibration
    documented in docs/engine.md (section 7) yet."""
    p: pd.DataFrame = st.table("prices")
    if "series" in p.columns:
        p = p[p["series"].isna()]
    return p


def _full_baseline(st: Store, year: int, regions: Regions) -> Baseline:
    seps = st.table("stage_output")
    has_sep = bool(((seps["year"].astype(int) == year) & (seps["stage"] == "separation")
                    & (seps["material"] == "REO")).any())
    b = _modern(st, year, regions) if has_sep else _historic(st, year, regions)
    check_baseline(b, rtol=1e-6)
    return b


class _Notes:
    def __init__(self) -> None:
        self.d: dict[str, list[str]] = {}

    def add(self, m: str, text: str) -> None:
        self.d.setdefault(m, [])
        if text not in self.d[m]:
            self.d[m].append(text)

    def freeze(self) -> dict[str, tuple[str, ...]]:
        return {k: tuple(v) for k, v in self.d.items()}


def _seg_masks(countries: Sequence[str], regions: Regions) -> NDArray[np.float64]:
    """(3, n) 0/1 matrix mapping countries to segments."""
    m = np.zeros((3, len(countries)))
    for i, c in enumerate(countries):
        if c == regions.controller:
            m[0, i] = 1.0
        elif c in regions.targets:
            m[2, i] = 1.0
        else:
            m[1, i] = 1.0
    return m


def _price_2024(st: Any, year: int, notes: _Notes) -> dict[str, float]:
    """China FOB base prices [USD/kg] for elements (newest edition) with flagged fallbacks."""
    p: pd.DataFrame = calibration_prices(st)
    rows = p[
        (p["date"].astype(str) == str(year))
        & (p["market"].astype(str).str.startswith("china_fob"))
        & (p["unit"] == "usd_per_kg")
        & (p["period_type"] == "annual_avg")
        & (p["product"].astype(str).str.contains("oxide|O3", regex=True))
    ]
    rank = {"MCS2026": 3, "MCS2025": 2}
    out: dict[str, float] = {}
    for mat, grp in rows.groupby("material"):
        g = grp.assign(r=grp["edition"].map(rank).fillna(0)).sort_values("r", ascending=False)
        out[str(mat)] = float(g["value"].iloc[0])
    for e in ELEMENTS:
        if e in out:
            continue
        older = p[
            (p["material"] == e)
            & (p["unit"] == "usd_per_kg")
            & p["date"].astype(str).str.fullmatch(r"\d{4}")
        ]
        if len(older):
            last = older.sort_values("date").iloc[-1]
            out[e] = float(last["value"])
            notes.add(
                e,
                f"fallback: no {year} China FOB price; latest price in the data "
                f"({last['date']}, {last['product']}, {last['market']}, {last['source_id']})",
            )
            continue
        i = ELEMENTS.index(e)
        lo = next((ELEMENTS[j] for j in range(i - 1, -1, -1) if ELEMENTS[j] in out), None)
        hi = next((ELEMENTS[j] for j in range(i + 1, len(ELEMENTS)) if ELEMENTS[j] in out), None)
        nb = [x for x in (lo, hi) if x is not None]
        out[e] = float(np.exp(np.mean([np.log(out[x]) for x in nb])))
        notes.add(
            e,
            "fallback: no price in the data; geometric mean of the neighbouring elements "
            f"({', '.join(nb)}) - placeholder, affects only USD costs",
        )
    return out


def _recipes(
    chain_recipe: Mapping[str, object], notes: _Notes, pr_ratio: float
) -> dict[str, dict[str, float]]:
    """Element content of products [t oxide per t product]."""
    nd = float(chain_recipe.get("Nd", 0.0))  # type: ignore[arg-type]
    dy = float(chain_recipe.get("Dy", 0.0))  # type: ignore[arg-type]
    tb = float(chain_recipe.get("Tb", 0.0))  # type: ignore[arg-type]
    name = str(chain_recipe.get("recipe", "NdFeB"))
    ndfeb = {
        "Nd": nd * (1 - pr_ratio) * oxide_factor("Nd"),
        "Pr": nd * pr_ratio * oxide_factor("Pr"),
        "Dy": dy * oxide_factor("Dy"),
    }
    if tb > 0:
        ndfeb["Tb"] = tb * oxide_factor("Tb")
    notes.add(
        "NdFeB",
        f"recipe: {name} from the recipes table (Nd stands for Nd+Pr); split Nd:Pr in the "
        f"ratio of Pr to Nd in Chinese ore ({pr_ratio:.3f} Pr, composition table; derived); "
        "metal converted to oxide by stoichiometry",
    )
    notes.add(
        "SmCo",
        "recipe: no SmCo recipe in the data; stoichiometric Sm2Co17 "
        f"({SM_IN_SM2CO17:.4f} Sm by mass; assumption)",
    )
    return {"NdFeB": ndfeb, "SmCo": {"Sm": SM_IN_SM2CO17 * oxide_factor("Sm")}}


def _assemble(
    *,
    year: int,
    regions: Regions,
    countries: Sequence[str],
    sep: Mapping[str, NDArray[np.float64]],
    mag: Mapping[str, NDArray[np.float64]],
    mag_cons_controller: Mapping[str, float],
    row_other_share: float,
    target_share: float,
    recipes: Mapping[str, Mapping[str, float]],
    prices: Mapping[str, float],
    origin: Mapping[tuple[str, str], NDArray[np.float64]],
    content: NDArray[np.float64],
    projects: Sequence[Project],
    notes: _Notes,
    provenance: Mapping[str, str],
    member_rest: Sequence[str],
) -> Baseline:
    """Common assembly: balance each market and split demand by segment and sector."""
    mats = (*ELEMENTS, *PRODUCTS)
    nm, nk = len(mats), len(SECTORS)
    seg = _seg_masks(countries, regions)
    production = np.zeros((nm, 3))
    demand = np.zeros((nm, 3, nk))
    recipe = np.zeros((nm, nm))
    price = np.array([prices[m] for m in mats])
    kmag, koth = SECTORS.index("magnet_makers"), SECTORS.index("other_uses")
    # magnets: production by segment, consumption split
    mag_seg = {p: seg @ mag[p] for p in PRODUCTS}
    for p in PRODUCTS:
        j = mats.index(p)
        q = mag_seg[p]
        production[j] = q
        world = q.sum()
        c_cons = min(mag_cons_controller[p], world)
        rest = world - c_cons
        cons = np.array([c_cons, rest * (1 - target_share), rest * target_share])
        shares = _product_sector_shares(notes, p)
        for k, sh in shares.items():
            demand[j, :, SECTORS.index(k)] = cons * sh
    # elements: supply by segment, magnet makers' need, other uses
    for i, e in enumerate(ELEMENTS):
        q = seg @ sep[e]
        production[i] = q
        supply = q.sum()
        need = np.zeros(3)
        for p in PRODUCTS:
            c = recipes[p].get(e, 0.0)
            need += c * mag_seg[p]
        if supply <= 0:
            if need.sum() > 0:
                notes.add(e, "no separated supply in the data: magnet makers' use set to zero")
            need[:] = 0.0
            for p in PRODUCTS:
                recipe[i, mats.index(p)] = 0.0
        else:
            scale = 1.0
            if need.sum() > MAGNET_USE_CAP * supply:
                scale = MAGNET_USE_CAP * supply / need.sum()
                notes.add(
                    e,
                    f"derived: recipe x magnet output ({need.sum():.0f} t) exceeds separated "
                    f"supply ({supply:.0f} t); magnet content scaled by {scale:.3f} so magnet "
                    f"makers take {MAGNET_USE_CAP:.0%} of supply (assumption)",
                )
            need *= scale
            for p in PRODUCTS:
                recipe[i, mats.index(p)] = recipes[p].get(e, 0.0) * scale
        demand[i, :, kmag] = need
        other = max(supply - need.sum(), 0.0)
        # non-magnet uses: the rest of the world takes row_other_share
        rest = other * row_other_share
        demand[i, :, koth] = [other - rest, rest * (1 - target_share), rest * target_share]
    # magnet production needs recipe consistency: demand magnet_makers = recipe @ production
    demand[:, :, kmag] = recipe @ production
    # rebalance elements: other uses absorb the difference to supply
    for i in range(len(ELEMENTS)):
        gap = production[i].sum() - demand[i].sum()
        if abs(gap) > 1e-9:
            tot_o = demand[i, :, koth].sum()
            if tot_o > 0:
                demand[i, :, koth] *= (tot_o + gap) / tot_o
            elif production[i].sum() > 0:
                demand[i, 0, koth] += gap
    imports = controller_flows(production, demand.sum(axis=2))
    labels: tuple[str, str, str] = (
        regions.controller,
        "rest",
        "targets:" + "+".join(regions.targets) if regions.targets else "targets",
    )
    b = Baseline(
        year=year,
        materials=mats,
        region_labels=labels,
        members=((regions.controller,), tuple(member_rest), tuple(regions.targets)),
        sectors=SECTORS,
        production=production,
        demand=demand,
        price=price,
        imports_from_controller=imports,
        recipe=recipe,
        origin=origin,
        controller_content=content,
        cross_border=np.full((nm, 3), CROSS_BORDER_DEFAULT),
        projects=tuple(projects),
        notes=notes.freeze(),
        provenance=dict(provenance),
    )
    for m in mats:
        notes.add(m, f"cross-border share inside segments: {CROSS_BORDER_DEFAULT} (assumption)")
    return replace(b, notes=notes.freeze())


def _product_sector_shares(notes: _Notes, product: str) -> dict[str, float]:
    """Sector split of magnet demand (electronics ~30%, EVs 7%; the rest industrial/other)."""
    shares = {"automotive": 0.07, "wind": 0.0, "electronics": 0.30}
    shares["industrial_other"] = 1.0 - sum(shares.values())
    notes.add(
        product,
        "sector split: electronics 30% of NdFeB demand (heim_vanderwal_2023), automotive 7% "
        "= EV share of magnet-REE demand (iea_gcmo2024; conventional vehicles not separated), "
        "wind 0 (no figure in the data), rest industrial/other (derived)",
    )
    return shares


def _modern(st: Any, year: int, regions: Regions) -> Baseline:
    """Baseline for a year with separation and magnet data, through SupplyChain."""

    notes = _Notes()
    chain = SupplyChain.from_default_data(year=year)
    countries = [str(c) for c in chain.countries]
    comp = chain.composition()
    pr_ratio = 0.25
    if comp is not None and regions.controller in comp.index:
        row = comp.loc[regions.controller]
        pr_ratio = float(row.get("Pr", 0.0) / (row.get("Pr", 0.0) + row.get("Nd", 0.0)))
    sep: dict[str, NDArray[np.float64]] = {}
    origin: dict[tuple[str, str], NDArray[np.float64]] = {}
    nm = len(ELEMENTS) + len(PRODUCTS)
    content = np.zeros((nm, 3))
    seg = _seg_masks(countries, regions)
    mine_keys: dict[str, NDArray[np.float64]] = {}
    for i, e in enumerate(ELEMENTS):
        try:
            ce = chain.for_element(e)
        except Exception as exc:
            sep[e] = np.zeros(len(countries))
            notes.add(e, f"no supply data: {exc}; market volume zero (shocks do not move it)")
            continue
        q = ce.output.loc["separation"].reindex(countries).fillna(0.0).to_numpy(np.float64)
        sep[e] = q
        om = ce.origin_matrix("separation").reindex(index=countries, columns=countries)
        o = om.fillna(0.0).to_numpy(np.float64)  # (origin j, node c)
        for j, cj in enumerate(countries):
            w = seg @ (q * o[j])
            if np.any(w > 0):
                mine_keys.setdefault(cj, np.zeros((nm, 3)))[i] = w
        ctl = ce.origin_content(regions.controller).loc["separation"]
        reached = (ctl.reindex(countries).fillna(0.0).to_numpy() >= 0.001 - 1e-12).astype(float)
        content[i] = _share(seg, q, reached)
    # origin shares: (country, mine) from tracing, (country, separation) = own output
    segq = {e: seg @ sep[e] for e in ELEMENTS}
    for cj, w in mine_keys.items():
        arr = np.zeros((nm, 3))
        for i, e in enumerate(ELEMENTS):
            arr[i] = np.divide(w[i], segq[e], out=np.zeros(3), where=segq[e] > 0)
        origin[(cj, "mine")] = np.clip(arr, 0.0, 1.0)
    for j, cj in enumerate(countries):
        arr = np.zeros((nm, 3))
        for i, e in enumerate(ELEMENTS):
            own = seg[:, j] * sep[e][j]
            arr[i] = np.divide(own, segq[e], out=np.zeros(3), where=segq[e] > 0)
        if arr.any():
            origin[(cj, "separation")] = arr
            origin[(cj, "metal")] = arr
    # magnets
    mag_out = chain.output.loc["magnet"].reindex(countries).fillna(0.0).to_numpy(np.float64)
    so = st.table("stage_output")
    smco_rows = so[(so["material"] == "SmCo") & (so["stage"] == "magnet")]
    smco_c = float(smco_rows.sort_values("year").iloc[-1]["tonnes"]) if len(smco_rows) else 0.0
    smco_year = int(smco_rows.sort_values("year").iloc[-1]["year"]) if len(smco_rows) else 0
    ss = st.table("stage_shares")
    sh_rows = ss[(ss["material"] == "SmCo") & (ss["iso3"] == regions.controller)]
    smco_share = float(sh_rows["share"].iloc[0]) if len(sh_rows) else 1.0
    smco = np.zeros(len(countries))
    if regions.controller in countries:
        smco[countries.index(regions.controller)] = smco_c
    if "OTH" in countries and smco_share < 1.0:
        smco[countries.index("OTH")] = smco_c * (1 - smco_share) / smco_share
    notes.add(
        "SmCo",
        f"derived: controller output {smco_c:.0f} t ({smco_year}, stage_output); others from "
        f"the controller's share {smco_share:.0%} (stage_shares 2009/10, old) - estimate",
    )
    mag = {"NdFeB": mag_out, "SmCo": smco}
    for p, outp in mag.items():
        j = nm - len(PRODUCTS) + PRODUCTS.index(p)
        for c_i, cj in enumerate(countries):
            own = seg[:, c_i] * outp[c_i]
            tot = seg @ outp
            val = np.divide(own, tot, out=np.zeros(3), where=tot > 0)
            if val.any():
                origin.setdefault((cj, "magnet"), np.zeros((nm, 3)))[j] = val
    mctl = chain.origin_content(regions.controller).loc["magnet"]
    m_reached = (mctl.reindex(countries).fillna(0.0).to_numpy() >= 0.001 - 1e-12).astype(float)
    for p, outp in mag.items():
        j = nm - len(PRODUCTS) + PRODUCTS.index(p)
        content[j] = _share(seg, outp, m_reached if p == "NdFeB" else np.ones(len(countries)))
    # controller's own magnet consumption: output minus exports (trade table)
    tr = st.table("trade")
    ex = tr[
        (tr["reporter"] == regions.controller)
        & (tr["flow"] == "export")
        & (tr["product"].astype(str).str.contains("permanent magnets"))
        & (tr["period"].astype(str) == str(year))
    ]
    ex_t = ex[ex["unit"] == "t"]["value"]
    ex_v = ex[ex["unit"] == "usd_billion"]["value"]
    c_mag = float((seg @ mag_out)[0])
    mag_exports = float(ex_t.iloc[0]) if len(ex_t) else 0.0
    notes.add(
        "NdFeB",
        f"derived: controller consumption = output {c_mag:.0f} t - exports {mag_exports:.0f} t "
        f"({year}, trade table, adamas_2025_china_exports_2024)",
    )
    mag_cons = {
        "NdFeB": c_mag - mag_exports,
        "SmCo": float((seg @ smco)[0]) * (1 - mag_exports / max(c_mag, 1.0)),
    }
    notes.add("SmCo", "derived: controller consumption share taken equal to NdFeB's (assumption)")
    # non-magnet uses outside the controller: from the controller's exports of RE compounds
    gross = tr[
        (tr["reporter"] == regions.controller)
        & (tr["flow"] == "export")
        & (tr["product"].astype(str).str.startswith("rare earths (GAC category"))
        & (tr["period"].astype(str) == str(year))
        & (tr["unit"] == "t")
    ]["value"]
    re_exports = float(gross.iloc[0]) if len(gross) else 0.0
    chain_recipe = dict(chain.meta.get("recipe", {}))
    recipes = _recipes(chain_recipe, notes, pr_ratio)
    world_sep = sum(float(v.sum()) for v in sep.values())
    row_sep = sum(float((seg @ v)[1:].sum()) for v in sep.values())
    magnet_reo = sum(
        float(c * (seg @ mag[p])[1:].sum()) for p in PRODUCTS for c in recipes[p].values()
    )
    world_magnet_reo = sum(float(c * mag[p].sum()) for p in PRODUCTS for c in recipes[p].values())
    row_other = max(row_sep + re_exports - magnet_reo, 0.0)
    world_other = max(world_sep - min(world_magnet_reo, MAGNET_USE_CAP * world_sep), 1.0)
    row_other_share = min(row_other / world_other, 1.0)
    for e in ELEMENTS:
        notes.add(
            e,
            f"derived: non-controller share of non-magnet use {row_other_share:.3f} = "
            f"(non-controller separated output {row_sep:.0f} t + controller exports of RE "
            f"compounds and metals {re_exports:.0f} t gross weight taken as t REO "
            "(reuters_2025_01_china_2024; overstates REO) - non-controller magnet makers' "
            "need) / world non-magnet use; same for every element (assumption)",
        )
    target_share = _target_share(st, year, regions, countries, mag_out, notes)
    prices = _price_2024(st, year, notes)
    prices["NdFeB"] = (
        float(ex_v.iloc[0]) * 1e9 / (mag_exports * 1000.0) if len(ex_v) and mag_exports else 50.0
    )
    notes.add(
        "NdFeB",
        f"derived: base price {prices['NdFeB']:.1f} USD/kg = controller magnet export value / "
        "tonnage (trade table)",
    )
    prices["SmCo"] = prices["NdFeB"]
    notes.add("SmCo", "fallback: no SmCo price in the data; NdFeB export unit value used")
    projects = _projects(st, year, regions, countries, comp, pr_ratio, notes)
    labels_rest = [c for c in countries if c != regions.controller and c not in regions.targets]
    return _assemble(
        year=year,
        regions=regions,
        countries=countries,
        sep=sep,
        mag=mag,
        mag_cons_controller=mag_cons,
        row_other_share=row_other_share,
        target_share=target_share,
        recipes=recipes,
        prices=prices,
        origin=origin,
        content=content,
        projects=projects,
        notes=notes,
        provenance={
            "dataset": "oreflow embedded data",
            "version": str(chain.meta.get("dataset_version", "")),
            "hash": _fingerprint(st),
            "chain": repr(chain),
        },
        member_rest=labels_rest,
    )


def _share(
    seg: NDArray[np.float64], q: NDArray[np.float64], flag: NDArray[np.float64]
) -> NDArray[np.float64]:
    tot = seg @ q
    return np.asarray(np.divide(seg @ (q * flag), tot, out=np.zeros(3), where=tot > 0))


def _fingerprint(st: Any) -> str:
    try:
        return str(st.fingerprint())
    except Exception:
        return ""


def _target_share(
    st: Any,
    year: int,
    regions: Regions,
    countries: Sequence[str],
    mag_out: NDArray[np.float64],
    notes: _Notes,
) -> float:
    """Targets' share of non-controller consumption (flagged proxy)."""
    if not regions.targets:
        return 0.0
    seg = _seg_masks(countries, regions)
    q = seg @ mag_out
    if q[1] + q[2] > 0 and q[2] > 0:
        share = float(q[2] / (q[1] + q[2]))
        rule = "their share of non-controller magnet output"
    else:
        share = len(regions.targets) / (len(regions.targets) + 1.0)
        rule = "equal split with the rest (no magnet output to weight by)"
    for m in (*ELEMENTS, *PRODUCTS):
        notes.add(
            m,
            f"fallback: targets' share of non-controller consumption {share:.3f} = {rule} "
            "(no demand by country in the data)",
        )
    return share


def _projects(
    st: Any,
    year: int,
    regions: Regions,
    countries: Sequence[str],
    comp: Any,
    pr_ratio: float,
    notes: _Notes,
) -> list[Project]:
    """Pipeline projects with a start year after the baseline and a parseable capacity."""
    pj: pd.DataFrame = st.table("projects")
    mats = (*ELEMENTS, *PRODUCTS)
    out: list[Project] = []
    skipped: list[str] = []
    for _, r in pj.iterrows():
        sy = r.get("start_year")
        cap = r.get("capacity")
        unit = str(r.get("capacity_unit") or "")
        iso = str(r.get("iso3") or "")
        if pd.isna(sy) or float(sy) <= year or pd.isna(cap) or not iso:
            continue
        vec = np.zeros(len(mats))
        u = unit.lower()
        if "ndfeb" in u and "magnet" in str(r.get("stage", "")):
            vec[mats.index("NdFeB")] = float(cap)
        elif "ndpr" in u:
            f = oxide_factor("Nd") if "metal" in u else 1.0
            vec[mats.index("Nd")] = float(cap) * (1 - pr_ratio) * f
            vec[mats.index("Pr")] = float(cap) * pr_ratio * f
        elif "dy+tb" in u:
            vec[mats.index("Dy")] = float(cap) * 0.8
            vec[mats.index("Tb")] = float(cap) * 0.2
            notes.add("Tb", f"project {r['project_id']}: Dy+Tb capacity split 80/20 (assumption)")
        elif "reo" in u and comp is not None:
            c: Any = comp
            row = c.loc[iso] if iso in c.index else c.mean()
            for e, v in row.items():
                if e in mats and pd.notna(v):
                    vec[mats.index(str(e))] = float(cap) * float(v)
        else:
            skipped.append(str(r["project_id"]))
            continue
        region = 0 if iso == regions.controller else 2 if iso in regions.targets else 1
        out.append(
            Project(str(r["project_id"]), region, vec, float(sy), str(r.get("source_id", "")))
        )
    if skipped:
        notes.add(
            "NdFeB", "projects skipped (capacity unit not convertible): " + ", ".join(skipped)
        )
    return out


def _historic(st: Any, year: int, regions: Regions) -> Baseline:
    """Pre-2015 baseline (the 2009 market before the 2010 episode), from sparse data.

    World mine output (DS140) x controller share of separation (stage_shares 2009/10),
    the 2024 element mix, sintered NdFeB output 2010 and shares, and controller exports
    derived from the quotas table; every step is noted.
    """
    notes = _Notes()
    so: pd.DataFrame = st.table("stage_output")
    wld = so[(so["iso3"] == "WLD") & (so["stage"] == "mine") & (so["material"] == "REO")]
    wld = wld[wld["year"].astype(int) == year]
    if not len(wld):
        raise ValueError(f"no world mine production for {year} in stage_output")
    world = float(wld["tonnes"].iloc[0])
    ss: pd.DataFrame = st.table("stage_shares")
    period = ss[ss["year"].astype(str).str.contains(str(year))]
    csep = period[(period["stage"] == "separation") & (period["iso3"] == regions.controller)]
    c_share = float(csep["share"].iloc[0]) if len(csep) else 0.97
    # element mix of separated output from the 2024 chain (applied to the earlier year)
    modern = _full_baseline(st, 2024, Regions(regions.controller, ()))
    mix = modern.production[: len(ELEMENTS)].sum(axis=1)
    mix = mix / mix.sum()
    countries = [regions.controller, "OTH", *regions.targets]
    sep = {}
    for i, e in enumerate(ELEMENTS):
        v = np.zeros(len(countries))
        v[0] = world * c_share * mix[i]
        v[1] = world * (1 - c_share) * mix[i]
        sep[e] = v
        notes.add(
            e,
            f"derived: {year} separated supply = world mine output {world:.0f} t (DS140) x "
            f"element share of separated supply in 2024 ({mix[i]:.4f}; assumption: mix "
            f"unchanged); controller share {c_share:.0%} (stage_shares 2009/10)",
        )
    # magnets: sintered NdFeB output 2010 and country shares
    mrow = so[
        (so["stage"] == "magnet")
        & (so["iso3"] == "WLD")
        & (so["material"].astype(str).str.startswith("NdFeB"))
    ]
    mrow = mrow.assign(dy=(mrow["year"].astype(int) - year).abs()).sort_values("dy")
    mag_world = float(mrow["tonnes"].iloc[0]) if len(mrow) else 0.0
    mag_year = int(mrow["year"].iloc[0]) if len(mrow) else year
    msh = ss[(ss["stage"] == "magnet") & (ss["year"].astype(str) == str(mag_year))]
    mag = np.zeros(len(countries))
    for _, r in msh.iterrows():
        iso = str(r["iso3"]) if pd.notna(r["iso3"]) else "OTH"
        k = countries.index(iso) if iso in countries else 1
        mag[k] += mag_world * float(r["share"])
    notes.add(
        "NdFeB",
        f"derived: magnet output {mag_world:.0f} t sintered NdFeB ({mag_year}) split by the "
        f"{mag_year} country shares (stage_shares); no magnet trade assumed",
    )
    smco = np.zeros(len(countries))
    notes.add("SmCo", "no SmCo output for the year in the data: market volume zero")
    # controller exports (t REO/yr), from the quotas table
    q: pd.DataFrame = st.table("quotas")
    exports = float("nan")
    full = q[
        (q["metric"] == "actual_exports")
        & (q["period"] == "full year")
        & (q["year"].astype(str) == str(year))
    ]
    if len(full):
        exports = float(full["value"].iloc[0])
        notes.add("Nd", f"controller exports {exports:.0f} t ({year}, quotas table)")
    else:
        nxt = q[(q["metric"] == "actual_exports") & (q["year"].astype(str) == str(year + 1))]
        for _, r in nxt.iterrows():
            m = re.search(r"([+-]?\d+(?:\.\d+)?)% y/y", str(r.get("note", "")))
            per = re.match(r"Jan-(\w{3})", str(r["period"]))
            if m and per:
                months = [
                    "Jan",
                    "Feb",
                    "Mar",
                    "Apr",
                    "May",
                    "Jun",
                    "Jul",
                    "Aug",
                    "Sep",
                    "Oct",
                    "Nov",
                    "Dec",
                ].index(per.group(1)) + 1
                exports = float(r["value"]) / (1 + float(m.group(1)) / 100) * 12 / months
                for e in (*ELEMENTS, *PRODUCTS):
                    notes.add(
                        e,
                        f"derived: controller exports {year} = {r['value']:.0f} t "
                        f"({year + 1} {r['period']}) / (1 {m.group(1)}%) x 12/{months} = "
                        f"{exports:.0f} t REO/yr ({r['source_id']}); split by element in "
                        "proportion to the controller's output",
                    )
                break
    if not np.isfinite(exports):
        raise ValueError(f"no controller export figure for {year}")
    row_prod = world * (1 - c_share)
    row_cons = row_prod + exports
    row_other_share = row_cons / world
    target_share = 0.0
    if regions.targets:
        target_share = _historic_target_share(st, year, regions, row_cons, notes)
    chain = SupplyChain.from_default_data(year=2024)
    comp = chain.composition()
    row = (
        comp.loc[regions.controller]
        if comp is not None and regions.controller in comp.index
        else None
    )
    pr_ratio = float(row["Pr"] / (row["Pr"] + row["Nd"])) if row is not None else 0.25
    recipes = _recipes(dict(chain.meta.get("recipe", {})), notes, pr_ratio)
    prices = _historic_prices(st, year, recipes, notes)
    nm = len(ELEMENTS) + len(PRODUCTS)
    seg = _seg_masks(countries, regions)
    origin = {}
    for j, cj in enumerate(countries):
        arr = np.zeros((nm, 3))
        for i, e in enumerate(ELEMENTS):
            tot = seg @ sep[e]
            arr[i] = np.divide(seg[:, j] * sep[e][j], tot, out=np.zeros(3), where=tot > 0)
        origin[(cj, "separation")] = arr
    content = np.zeros((nm, 3))
    content[nm - 2] = [1.0, 1.0, 1.0]
    return _assemble(
        year=year,
        regions=regions,
        countries=countries,
        sep=sep,
        mag={"NdFeB": mag, "SmCo": smco},
        mag_cons_controller={"NdFeB": float((seg @ mag)[0]), "SmCo": 0.0},
        row_other_share=row_other_share,
        target_share=target_share,
        recipes=recipes,
        prices=prices,
        origin=origin,
        content=content,
        projects=(),
        notes=notes,
        provenance={
            "dataset": "oreflow embedded data",
            "version": str(chain.meta.get("dataset_version", "")),
            "hash": _fingerprint(st),
            "chain": f"historic rules for {year}",
        },
        member_rest=["OTH"],
    )


def _historic_target_share(
    st: Any, year: int, regions: Regions, row_cons: float, notes: _Notes
) -> float:
    """Targets' share of non-controller consumption in a historic year."""
    pa: pd.DataFrame = st.table("parameters")
    if regions.targets == ("JPN",):
        r = pa[pa["parameter_id"] == "jp_re_market_change_2011"]
        if len(r):
            m = re.search(r"about ([\d,]+) t", str(r["note"].iloc[0]))
            if m:
                after = float(m.group(1).replace(",", ""))
                before = after / (1 + float(r["value"].iloc[0]) / 100)
                share = min(before / row_cons, 0.95)
                for e in (*ELEMENTS, *PRODUCTS):
                    notes.add(
                        e,
                        f"derived: Japan's share of non-controller consumption {share:.3f} = "
                        f"Japanese market before 2011 ({after:.0f} t / "
                        f"(1 {r['value'].iloc[0]:+.0f}%) "
                        f"= {before:.0f} t, parameters jp_re_market_change_2011) / "
                        f"non-controller consumption {row_cons:.0f} t",
                    )
                return share
    share = len(regions.targets) / (len(regions.targets) + 1.0)
    for e in (*ELEMENTS, *PRODUCTS):
        notes.add(
            e, f"fallback: targets' share of non-controller consumption {share:.3f} (equal split)"
        )
    return share


def _historic_prices(
    st: Any, year: int, recipes: Mapping[str, Mapping[str, float]], notes: _Notes
) -> dict[str, float]:
    """Pre-episode oxide prices [USD/kg]: same-year China FOB, else 'pre-spike', else the
    previous year's average; elements without any get a flagged fallback."""
    p: pd.DataFrame = calibration_prices(st)
    p = p[
        (p["unit"] == "usd_per_kg")
        & p["period_type"].isin(["point", "annual_avg", "annual", "quarter_avg"])
    ]
    out: dict[str, float] = {}
    for e in ELEMENTS:
        rows = p[p["material"] == e]
        date = rows["date"].astype(str)
        fob = rows["market"].astype(str).str.startswith("china_fob")
        oxide = rows["product"].astype(str).str.contains("oxide")
        pick = rows[date.str.startswith(str(year)) & fob & oxide].sort_values("date")
        how = f"{year} China FOB"
        if not len(pick):
            pick = rows[date == "pre-spike"]
            how = "'before the spike' (secondary; form not stated)"
        if not len(pick):
            pick = rows[date.str.startswith(str(year - 1)) & fob & oxide]
            how = f"{year - 1} average China FOB"
        if len(pick):
            r = pick.iloc[0]
            out[e] = float(r["value"])
            notes.add(e, f"base price {out[e]:g} USD/kg: {how} ({r['date']}, {r['source_id']})")
    modern = _price_2024(st, 2024, _Notes())
    have = [e for e in out if e in modern]
    ratio = float(np.exp(np.median([np.log(out[e] / modern[e]) for e in have]))) if have else 1.0
    for e in ELEMENTS:
        if e not in out:
            out[e] = modern[e] * ratio
            notes.add(
                e,
                f"fallback: no pre-episode price; 2024 price x median ratio of elements with "
                f"both ({ratio:.3f}) - placeholder",
            )
    cost = sum(c * out[e] for e, c in recipes["NdFeB"].items())
    out["NdFeB"] = cost / RE_COST_SHARE
    out["SmCo"] = out["NdFeB"]
    notes.add(
        "NdFeB",
        f"derived: base price = element cost of the recipe / {RE_COST_SHARE:.2f} (rare earths "
        "~90% of raw materials, ~80% of cost: recipes table, sdm_nd_price_trend, UNVERIFIED)",
    )
    return out
