"""Building the engine's baseline market from a store's tables.

:func:`build_baseline` assembles a :class:`~oreflow.simulate.baseline.Baseline` for one year
from three families of markets, each read from the store given as ``store=`` (no other IO):

- **rare earths and magnets, 2024 and 2025** - on the balanced chain
  (:meth:`oreflow.chain.SupplyChain.from_default_data`): separated output, final use and the
  allocation of every element (:meth:`~oreflow.chain.SupplyChain.for_element`), magnets made
  and used by country, the market-average recipe;
- **rare earths and magnets, 2009** - the pre-episode market of the 2010-2012 backtest, from
  the few sourced facts of that year (world mine output, China's share and exports, magnet
  output, 2009 FOB prices);
- **gallium, germanium, antimony** - stand-alone markets (:mod:`.baseline_minerals`).

Every number not read directly from the data carries a note in ``Baseline.notes`` (method and
source id), and each material's last note (``dates: ...``) gives the period of every base
value. The methods, figures and gaps are in ``docs/engine-baseline.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.chain import SupplyChain, oxide_factor
from oreflow.chain.checks import share_range
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError

from .baseline import SECTORS, Baseline, Project, Regions, check_baseline
from .baseline_minerals import (
    MINERAL_SPECS,
    MineralMarket,
    NoteBook,
    available_minerals,
    mineral_market,
    net_segment_trade,
    segment_members,
)
from .baseline_prices import RE_MATS, re_prices, re_projects
from .scenario import ELEMENTS, MATERIALS, MINERALS, PRODUCTS

__all__ = ["build_baseline"]

F = NDArray[np.float64]

#: Stoichiometric Sm mass fraction of Sm2Co17 from atomic masses (Sm 150.36, Co 58.933); the
#: data have no SmCo recipe.
SM_IN_SM2CO17 = 2 * 150.36 / (2 * 150.36 + 17 * 58.933)
#: Last year built by the 2009-style historic rules (world mine output, quotas, DS140 era).
HISTORIC_LAST_YEAR = 2014
#: Magnet-demand sectors read from the ``demand`` table: (sector, metric, table sector).
_SECTOR_ROWS = {
    "electronics": ("share of NdFeB demand", "consumer electronics"),
    "automotive": ("EV share of magnet REE demand", "electric vehicles"),
}


def build_baseline(
    year: int,
    materials: Sequence[str] | None = None,
    regions: Regions | None = None,
    *,
    store: Store | None = None,
) -> Baseline:
    """Baseline market of one year from a store (default: the embedded data).

    Parameters
    ----------
    year : int
        Baseline year. 2024 and 2025: rare earths and magnets on the balanced chain, plus the
        minerals the data cover. 2022 and 2023: gallium, germanium (and antimony, 2023).
        2009 (years up to 2014): the historic rare-earth market of the 2010 backtest.
    materials : sequence of str, optional
        Materials to include (names of :data:`~oreflow.simulate.scenario.MATERIALS`);
        default every material the data cover for the year. Elements in a listed product's
        recipe are kept.
    regions : Regions, optional
        Controller and named targets (default China, no targets).
    store : oreflow.data.store.Store, optional
        Where the tables are read.

    Returns
    -------
    Baseline
        Flows in t/yr (t oxide for rare-earth elements, t product for magnets, t metal for
        gallium and germanium, t Sb content for antimony), prices in USD/kg.

    Raises
    ------
    ValueError
        If a requested material cannot be built for the year from the data.

    Notes
    -----
    ``Baseline.notes[m]`` holds every method, fallback and estimate for material ``m`` with
    its source id, and a last ``dates:`` line with the period of each base value.
    ``docs/engine-baseline.md`` describes the methods.
    """
    st = resolve_store(store)
    regions = regions or Regions()
    year = int(year)
    eu27 = _eu27(st)
    notes = NoteBook()
    want = tuple(materials) if materials is not None else None
    re_part: _REPart | None = None
    re_reason = ""
    if want is not None and all(m in MINERALS for m in want):
        re_reason = "not requested"
    elif _has_balanced_chain(st, year):
        re_part = _modern(st, year, regions, notes, eu27)
    elif year <= HISTORIC_LAST_YEAR:
        try:
            re_part = _historic(st, year, regions, notes, eu27)
        except ValueError as exc:
            re_reason = str(exc)
    else:
        re_reason = f"no separation-stage data for {year} (the balanced chain covers 2024-2025)"
    minerals = (available_minerals(st, year)
                if want is None or any(m in MINERALS for m in want) else ())
    if want is not None:
        missing_re = [m for m in want if m not in MINERALS and re_part is None]
        missing_min = [m for m in want if m in MINERALS and m not in minerals]
        unknown = [m for m in want if m not in MATERIALS]
        if unknown:
            raise ValueError(f"unknown materials {unknown}; use names of {MATERIALS}")
        if missing_re or missing_min:
            why = []
            if missing_re:
                why.append(f"{missing_re}: no rare-earth baseline for {year} ({re_reason})")
            if missing_min:
                why.append(f"{missing_min}: the data lack China's output or exports for {year}")
            raise ValueError("cannot build " + "; ".join(why))
        minerals = tuple(m for m in minerals if m in want)
    markets = [mineral_market(st, m, year, regions, notes, eu27=eu27) for m in minerals]
    full = _assemble(st, year, regions, eu27, re_part, markets, notes)
    check_baseline(full, rtol=1e-6)
    if want is None or set(want) == set(full.materials):
        return full
    return full.subset(want)


# -- shared helpers ------------------------------------------------------------------------


def _eu27(st: Store) -> tuple[str, ...]:
    b = st.table("blocs")
    return tuple(sorted({str(c) for c in b[b["bloc"] == "EU27"]["iso3"].dropna()
                         if len(str(c)) == 3 and str(c) != "EUU"}))


def _has_balanced_chain(st: Store, year: int) -> bool:
    so = st.table("stage_output")
    yr = pd.to_numeric(so["year"], errors="coerce") == year
    return bool((yr & (so["stage"] == "separation") & (so["material"] == "REO")).any()
                and (yr & (so["stage"] == "magnet")).any())


def _seg_vector(countries: Sequence[str], controller: str, targets: frozenset[str]
                ) -> NDArray[np.intp]:
    return np.array([0 if c == controller else 2 if c in targets else 1 for c in countries],
                    dtype=np.intp)


def _by_segment(values: F, seg: NDArray[np.intp]) -> F:
    return np.bincount(seg, weights=values, minlength=3).astype(np.float64)


def _segment_flows(flows: F, seg: NDArray[np.intp]) -> F:
    """Country flows (n, n) summed into segment flows (3, 3), diagonal kept."""
    onehot = np.zeros((len(seg), 3))
    onehot[np.arange(len(seg)), seg] = 1.0
    return np.asarray(onehot.T @ flows @ onehot)


def _cross_border(flows: F, seg: NDArray[np.intp], shipped: F) -> F:
    """Share of each segment's shipments that cross a border inside the segment [0-1]."""
    out = np.zeros(3)
    off = flows * (1.0 - np.eye(len(seg)))
    same = seg[:, None] == seg[None, :]
    inside = _by_segment((off * same).sum(axis=1), seg)
    tot = _by_segment(shipped, seg)
    np.divide(inside, tot, out=out, where=tot > 0)
    return np.clip(out, 0.0, 1.0)


def _pct(x: float, of: float) -> str:
    return f"{100.0 * x / of:.2f}%" if of > 0 else "n/a"


@dataclass
class _REPart:
    """Rare-earth and magnet markets in :data:`RE_MATS` order."""

    production: F
    other: F
    trade: F
    consumption_products: F
    recipe: F
    price: F
    price_by_region: F
    origin: dict[tuple[str, str], dict[str, F]]
    content: F
    cross_border: F
    sector_shares: dict[str, float]
    projects: list[tuple[str, str, dict[str, float], float, str]]
    members_rest: tuple[str, ...]
    provenance: dict[str, str] = field(default_factory=dict)




# -- rare earths: the balanced chain -------------------------------------------------------


@dataclass
class _Element:
    """One element's flows by country in the balanced chain [t oxide/yr]."""

    sep: F  # separated output (n,)
    rec: F  # recycled feed into separation (n,)
    oxide_flows: F  # separator j -> final user d of oxides and metal (n, n)
    magnet_flows: F  # separator j -> magnet plant d, through the metal plants (n, n)
    content: float  # t oxide per t of magnet (0 if not in the recipe)
    origin: F  # mine origin of each separator's output (n, n), origin j x node c
    reached: F  # separator reached by a controller de-minimis rule (n,) 0/1
    observed: frozenset[str] = frozenset()


def _observed_elements(st: Store, year: int) -> dict[str, set[str]]:
    """Elements reported by producers at the separation stage, by country (NdPr -> Nd, Pr)."""
    so = st.table("stage_output")
    rows = so[(pd.to_numeric(so["year"], errors="coerce") == year)
              & (so["stage"] == "separation") & (so["basis"] == "production")
              & ~so["material"].isin(["REO", *MINERALS])]
    out: dict[str, set[str]] = {}
    for iso, mat in zip(rows["iso3"].astype(str), rows["material"].astype(str), strict=True):
        out.setdefault(iso, set()).update(("Nd", "Pr") if mat == "NdPr" else (mat,))
    return out


def _element_data(chain: SupplyChain, st: Store, year: int, controller: str, notes: NoteBook
                  ) -> dict[str, _Element]:
    """Element flows of the chain, with unreported element outputs of a separator scaled to
    its REO output where the element chain puts more through it than it separates."""
    countries = [str(c) for c in chain.countries]
    n = len(countries)
    observed = _observed_elements(st, year)
    data: dict[str, _Element] = {}
    for e in ELEMENTS:
        try:
            ce = chain.for_element(e)
        except InputError as exc:
            notes.add(e, f"no supply data: {exc}; market volume zero (shocks do not move it)")
            continue
        stages = ce.stages
        sep = ce.output.loc["separation"].reindex(countries).fillna(0.0).to_numpy(np.float64)
        rec = ce.secondary.loc["separation"].reindex(countries).fillna(0.0).to_numpy(np.float64)
        aus = ce.use_allocation("separation").to_numpy(np.float64)
        mag = np.zeros((n, n))
        if "metal" in stages:
            a1 = ce.allocation("metal").to_numpy(np.float64)
            col = a1.sum(axis=0)
            s1 = np.divide(a1, col[None, :], out=np.zeros_like(a1), where=col[None, :] > 0)
            aus = aus + s1 @ ce.use_allocation("metal").to_numpy(np.float64)
            if "magnet" in stages:
                mag = s1 @ ce.allocation("magnet").to_numpy(np.float64)
        origin = ce.origin_matrix("separation").reindex(index=countries, columns=countries)
        ctl = ce.origin_content(controller).loc["separation"].reindex(countries).fillna(0.0)
        data[e] = _Element(
            sep=sep, rec=rec, oxide_flows=aus, magnet_flows=mag,
            content=float(ce.meta.get("recipe_content", 0.0) or 0.0),
            origin=origin.fillna(0.0).to_numpy(np.float64),
            reached=(ctl.to_numpy(np.float64) >= 0.001 - 1e-12).astype(np.float64),
            observed=frozenset(c for c, els in observed.items() if e in els),
        )
    reo = chain.output.loc["separation"].reindex(countries).fillna(0.0).to_numpy(np.float64)
    for c, iso in enumerate(countries):
        total = sum(d.sep[c] for d in data.values())
        if not (reo[c] > 0 and total > reo[c] * (1 + 1e-6)):
            continue
        obs = sum(d.sep[c] for d in data.values() if iso in d.observed)
        unobs = total - obs
        target = max(reo[c] - obs, 0.0)
        if unobs <= 0:
            continue
        f = target / unobs
        for e, d in data.items():
            if iso in d.observed or d.sep[c] <= 0:
                continue
            before = d.sep[c]
            d.sep[c] *= f
            d.oxide_flows[c] *= f
            d.magnet_flows[c] *= f
            notes.add(e, f"derived: {iso}'s separated output of the element scaled from "
                      f"{before:,.0f} t to {d.sep[c]:,.0f} t (x {f:.3f}): the element chain "
                      f"passes its whole feed through, but {iso} separates {reo[c]:,.0f} t REO "
                      f"of a feed of {total:,.0f} t (unreported elements scaled so the node's "
                      "elements add up to its REO output; reported ones kept)")
    return data


def _magnets(chain: SupplyChain, notes: NoteBook, scrap_range: tuple[float, float]
             ) -> tuple[F, F, F, float]:
    """Finished magnets made and used by country [t/yr], the flows supplier x user [t/yr],
    and China's process-scrap share [-], checked against the sourced ``scrap_range``
    (low, high) [-]."""
    countries = [str(c) for c in chain.countries]
    made = chain.output.loc["magnet"].reindex(countries).fillna(0.0).to_numpy(np.float64)
    used = chain.final_use.loc["magnet"].reindex(countries).fillna(0.0).to_numpy(np.float64)
    k = float(chain.reo_per_unit["magnet"])
    flows = chain.use_allocation("magnet").to_numpy(np.float64) / k
    gap = float(made.sum() - used.sum())
    finished = made.copy()
    scrap = 0.0
    if "CHN" in countries and gap > 0:
        c = countries.index("CHN")
        scrap = gap / made[c]
        finished[c] = made[c] - gap
        lo, hi = scrap_range
        within = "within" if lo - 1e-3 <= scrap <= hi + 1e-3 else "OUTSIDE"
        notes.add("NdFeB", f"derived: the traded level is finished magnets (consumption-table "
                  f"basis): China's {made[c]:,.0f} t as produced (blanks) less process scrap "
                  f"{gap:,.0f} t = {scrap:.1%} of its output ({within} the sourced "
                  f"{lo:.0%}-{hi:.0%}, argus_2025_china_recycled), so world output equals "
                  f"world final use {used.sum():,.0f} t; other countries' output is finished "
                  "magnets as the consumption table counts it")
    elif abs(gap) > 1e-6 * max(made.sum(), 1.0):
        notes.add("NdFeB", f"balancing: magnet output and final use differ by {gap:,.0f} t "
                  f"({_pct(gap, made.sum())} of output); closed by the segment balance")
    return finished, used, flows, scrap


def _sector_shares(st: Store, year: int, world_use: float, notes: NoteBook
                   ) -> dict[str, float]:
    """Split of magnet demand into the product sectors, from the ``demand`` table [0-1]."""
    d = st.table("demand")
    yr = pd.to_numeric(d["year"].astype(str).str.extract(r"(\d{4})")[0], errors="coerce")
    d = d.assign(_y=yr)
    shares = dict.fromkeys(("automotive", "wind", "electronics"), 0.0)
    used: list[str] = []
    for sector, (metric, tsector) in _SECTOR_ROWS.items():
        rows = d[(d["metric"] == metric) & (d["sector"] == tsector) & (d["_y"] <= year)]
        if len(rows):
            r = rows.sort_values("_y").iloc[-1]
            shares[sector] = float(r["value"]) / 100.0
            used.append(f"{sector} {shares[sector]:.1%} ({r['year']}, {r['source_id']})")
            notes.date("NdFeB", f"sector_{sector}", str(int(r["_y"])), str(r["source_id"]))
    wind = d[(d["metric"] == "wind-turbine magnet demand") & (d["_y"] <= year)
             & d["value"].notna()]
    if len(wind) and world_use > 0:
        r = wind.sort_values("_y").iloc[-1]
        shares["wind"] = float(r["value"]) / world_use
        stale = "" if int(r["_y"]) == year else f"; {int(r['_y'])} figure, stale"
        used.append(f"wind {shares['wind']:.1%} = {float(r['value']):,.0f} t "
                    f"({r['year']}, {r['source_id']}) / world use {world_use:,.0f} t{stale}")
        notes.date("NdFeB", "sector_wind", str(int(r["_y"])), str(r["source_id"]))
    total = sum(shares.values())
    if total > 1.0:
        shares = {k: v / total for k, v in shares.items()}
    shares["industrial_other"] = 1.0 - sum(shares.values())
    if used:
        notes.add_all(PRODUCTS, "derived: magnet demand split by sector, the same in every "
                      "segment: " + "; ".join(used) + "; industrial and other = the rest "
                      f"({shares['industrial_other']:.1%}). Automotive counts only EV traction "
                      "(conventional vehicles are not separated in the data), so it is a lower "
                      "bound")
    else:
        notes.add_all(PRODUCTS, f"fallback: no sector split of magnet demand dated {year} or "
                      "earlier in the data: all magnet demand in industrial_other")
    return shares


def _modern(st: Store, year: int, regions: Regions, notes: NoteBook, eu27: Sequence[str]
            ) -> _REPart:
    """Rare earths and magnets on the balanced chain (years with separation and magnet data).

    Per element: production = separated output less the recycled scrap feed (primary
    separation); magnet makers' demand = recipe x finished magnets; other uses = final use of
    oxides and metal; trade = the chain's flows from separators to final users (through the
    metal plants) summed over segment pairs; a per-segment balancing item closes what the
    chain leaves open (its element deficits and unallocated output).
    """
    controller, targets = segment_members(regions, eu27)
    chain = SupplyChain.from_default_data(year=year, store=st)
    countries = [str(c) for c in chain.countries]
    seg = _seg_vector(countries, controller, targets)
    nm = len(RE_MATS)
    data = _element_data(chain, st, year, controller, notes)
    s_lo, _, s_hi = share_range("magnet_process_scrap", store=st)
    finished, used, mflows, scrap = _magnets(chain, notes, (s_lo, s_hi))
    production = np.zeros((nm, 3))
    other = np.zeros((nm, 3))
    trade = np.zeros((nm, 3, 3))
    cons_p = np.zeros((nm, 3))
    recipe = np.zeros((nm, nm))
    content = np.zeros((nm, 3))
    cross = np.zeros((nm, 3))
    origin: dict[tuple[str, str], dict[str, F]] = {}
    jn, js = RE_MATS.index("NdFeB"), RE_MATS.index("SmCo")
    # -- magnets
    production[jn] = _by_segment(finished, seg)
    cons_p[jn] = _by_segment(used, seg)
    g = _segment_flows(mflows, seg)
    trade[jn] = g * (1 - np.eye(3))
    cross[jn] = _cross_border(mflows, seg, mflows.sum(axis=1))
    resid = production[jn] + trade[jn].sum(axis=0) - trade[jn].sum(axis=1) - cons_p[jn]
    for s_i in range(3):
        r = float(resid[s_i])
        if abs(r) > 1e-6 * max(float(production[jn].sum()), 1.0):
            if r < 0:
                production[jn, s_i] -= r
            else:
                cons_p[jn, s_i] += r
            notes.add("NdFeB", f"balancing: segment {s_i} {'output' if r < 0 else 'use'} "
                      f"+{abs(r):,.1f} t ({_pct(abs(r), float(production[jn].sum()))} of world "
                      "supply) to close the chain's magnet flows")
    notes.date("NdFeB", "production", str(year), "stage_output (balanced chain)")
    notes.date("NdFeB", "consumption", str(year), "consumption table (balanced chain)")
    mctl = chain.origin_content(controller).loc["magnet"].reindex(countries).fillna(0.0)
    reached = (mctl.to_numpy(np.float64) >= 0.001 - 1e-12).astype(np.float64)
    tot = production[jn]
    np.divide(_by_segment(finished * reached, seg), tot, out=content[jn], where=tot > 0)
    for c, iso in enumerate(countries):
        if finished[c] > 0:
            origin.setdefault((iso, "magnet"), {})["NdFeB"] = np.where(
                np.arange(3) == seg[c], finished[c] / np.maximum(tot, 1e-12), 0.0)
    # -- SmCo: China's latest output, used like NdFeB (no SmCo use or trade data)
    smco = _smco(st, year, controller, notes)
    if smco > 0:
        production[js, 0] = smco
        share_use = cons_p[jn] / cons_p[jn].sum()
        cons_p[js] = smco * share_use
        trade[js, 0, 1:] = cons_p[js, 1:]
        content[js] = [1.0, 0.0, 0.0]
        origin.setdefault((controller, "magnet"), {})["SmCo"] = np.array([1.0, 0.0, 0.0])
    # -- recipe (t oxide per t of magnet)
    chain_recipe = dict(chain.meta.get("recipe", {}))
    for e in ("Nd", "Pr", "Dy", "Tb"):
        if e in data:
            recipe[RE_MATS.index(e), jn] = data[e].content
    recipe[RE_MATS.index("Sm"), js] = SM_IN_SM2CO17 * oxide_factor("Sm")
    notes.add("NdFeB", f"recipe: {chain_recipe.get('recipe', 'NdFeB')} (recipes table, "
              "oreflow_estimate from Argus and USGS figures), metal converted to oxide by "
              "stoichiometry; applied to finished magnets - the process scrap returns to "
              "separation as recycled feed, which the element markets net out")
    notes.add("SmCo", f"recipe: stoichiometric Sm2Co17, {SM_IN_SM2CO17:.4f} Sm by mass "
              "(assumption; no SmCo recipe in the data)")
    need = recipe @ production  # (nm, 3)
    # -- elements
    pieces: dict[str, list[str]] = {}
    for i, e in enumerate(ELEMENTS):
        if e not in data:
            continue
        d = data[e]
        primary = d.sep - d.rec
        production[i] = _by_segment(primary, seg)
        oth = _by_segment(d.oxide_flows.sum(axis=0), seg)
        flows = d.oxide_flows + d.magnet_flows
        g = _segment_flows(flows, seg)
        trade[i] = g * (1 - np.eye(3))
        if e == "Sm" and need[i].sum() > 0:
            take = np.minimum(need[i], oth)
            oth = oth - take
            notes.add(e, f"derived: SmCo makers' Sm ({need[i].sum():,.0f} t) taken out of the "
                      "chain's oxide final use of the same segment (the chain has no SmCo "
                      "stage)")
        other[i] = oth
        resid = production[i] + trade[i].sum(axis=0) - trade[i].sum(axis=1) - need[i] - oth
        world = float(production[i].sum())
        for s_i in range(3):
            r = float(resid[s_i])
            if abs(r) <= 1e-9 * max(world, 1.0):
                continue
            if r < 0:
                production[i, s_i] -= r
                pieces.setdefault(e, []).append(
                    f"segment {s_i}: +{-r:,.1f} t supply ({_pct(-r, world)} of world supply; "
                    "unrecorded output or stock draw)")
            else:
                other[i, s_i] += r
                pieces.setdefault(e, []).append(
                    f"segment {s_i}: +{r:,.1f} t to other uses ({_pct(r, world)} of world "
                    "supply; stock building or unrecorded use)")
        rec_tot = float(d.rec.sum())
        gross = float(d.sep.sum())
        scrap_need = d.content * float(chain.output.loc["magnet"].sum() - finished.sum())
        notes.add(e, f"production = the element chain's separated output {gross:,.0f} t less "
                  f"recycled scrap feed {rec_tot:,.0f} t (recycling table) = primary "
                  f"{gross - rec_tot:,.0f} t; magnet makers' demand = recipe x finished "
                  f"magnets (the scrap loop, {scrap_need:,.0f} t of the element in process "
                  "scrap, is netted out of both sides); other uses = final use of oxides and "
                  "metal by country (consumption table via the chain); trade = the chain's "
                  "flows from separators to final users (through the metal plants) summed "
                  "over segment pairs")
        if e in pieces:
            notes.add(e, "balancing: the chain's element flows leave " + "; ".join(pieces[e])
                      + " - closed in the segment where the chain shows the gap")
        notes.date(e, "production", str(year), "stage_output/recycling (balanced chain)")
        notes.date(e, "other_uses", str(year), "consumption (balanced chain)")
        shipped = flows.sum(axis=1)
        cross[i] = _cross_border(flows, seg, shipped)
        p_seg = production[i]
        np.divide(_by_segment(primary * d.reached, seg), p_seg, out=content[i], where=p_seg > 0)
        mine_w = d.origin * d.sep[None, :] - np.diag(d.rec)
        for j, iso in enumerate(countries):
            w = _by_segment(np.maximum(mine_w[j], 0.0), seg)
            if np.any(w > 0):
                origin.setdefault((iso, "mine"), {})[e] = np.clip(
                    np.divide(w, p_seg, out=np.zeros(3), where=p_seg > 0), 0.0, 1.0)
            if primary[j] > 0:
                own = np.where(np.arange(3) == seg[j], primary[j], 0.0)
                share = np.divide(own, p_seg, out=np.zeros(3), where=p_seg > 0)
                origin.setdefault((iso, "separation"), {})[e] = share
                origin.setdefault((iso, "metal"), {})[e] = share
    notes.add_all(ELEMENTS, "origin (country, metal) = the country's share of separated "
                  "output (its separators feed its metal plants; approximation)")
    gross_trade = trade.copy()
    trade = net_segment_trade(trade)
    moved = float(np.abs(gross_trade - trade).sum())
    if moved > 0:
        for m_i, m in enumerate(RE_MATS):
            diff = float(np.abs(gross_trade[m_i] - trade[m_i]).sum())
            if diff > 1e-9:
                gt = gross_trade[m_i]
                pairs = ", ".join(f"{a}->{b} {gt[a, b]:,.1f}" for a in range(3)
                                  for b in range(3) if a != b and gt[a, b] > 0)
                notes.add(m, f"trade netted per segment pair: the chain's gross flows ({pairs}"
                          f" t) become net {trade[m_i].sum():,.1f} t - flows both ways "
                          "between two segments and transit through a segment are netted so "
                          "that imports from the controller never exceed net imports "
                          "(check_baseline)")
    _reo_note(chain, data, notes, year)
    prices, pbr = re_prices(st, year, notes)
    sectors = _sector_shares(st, year, float(used.sum()), notes)
    notes.add_all(RE_MATS, "cross-border share inside segments: from the chain's flows "
                  "between countries of the same segment (0 for a one-country segment)")
    rest = tuple(c for c, s_ in zip(countries, seg, strict=True) if s_ == 1)
    return _REPart(
        production=production, other=other, trade=trade, consumption_products=cons_p,
        recipe=recipe, price=prices, price_by_region=pbr, origin=origin, content=content,
        cross_border=cross, sector_shares=sectors,
        projects=re_projects(st, year, chain, notes), members_rest=rest,
        provenance={"chain": repr(chain), "rare_earths": f"balanced chain {year}",
                    "magnet_scrap_share": f"{scrap:.4f}"},
    )


def _reo_note(chain: SupplyChain, data: Mapping[str, _Element], notes: NoteBook, year: int
              ) -> None:
    reo = float(chain.output.loc["separation"].sum())
    tot = sum(float(d.sep.sum()) for d in data.values())
    notes.add_all(ELEMENTS, f"chain check {year}: the element chains' separated output adds "
                  f"up to {tot:,.0f} t against the REO chain's {reo:,.0f} t "
                  f"({100 * (tot / reo - 1):+.2f}%; reported element outputs in China and "
                  "rounding of the ore mixes)")


def _smco(st: Store, year: int, controller: str, notes: NoteBook) -> float:
    """The controller's SmCo output: the latest stage_output row at or before ``year`` [t]."""
    so = st.table("stage_output")
    rows = so[(so["material"] == "SmCo") & (so["stage"] == "magnet")
              & (so["iso3"] == controller) & so["tonnes"].notna()]
    rows = rows[pd.to_numeric(rows["year"], errors="coerce") <= year]
    if rows.empty:
        notes.add("SmCo", f"no SmCo output dated {year} or earlier in the data: market volume "
                  "zero (shocks do not move it)")
        return 0.0
    r = rows.assign(y=pd.to_numeric(rows["year"])).sort_values("y").iloc[-1]
    stale = "" if int(r["y"]) == year else f" (the {int(r['y'])} figure, carried to {year})"
    notes.add("SmCo", f"derived: controller output {float(r['tonnes']):,.0f} t{stale} "
              f"({r['source_id']}); no SmCo output outside China, no SmCo use or trade in "
              "the data: use split by segment like NdFeB use (assumption), so the rest "
              "imports what it uses from the controller; output outside China understated")
    notes.date("SmCo", "production", str(int(r["y"])), str(r["source_id"]))
    return float(r["tonnes"])


def _historic(st: Store, year: int, regions: Regions, notes: NoteBook, eu27: Sequence[str]
              ) -> _REPart:
    """The pre-episode market of a year before the balanced chain (the 2009 baseline).

    World mine output (DS140) x China's separation share (stage_shares 2009/10) x the 2024
    primary element mix; sintered NdFeB output of 2010 and its country shares; China's
    exports from the quotas table; 2009 China FOB prices. Every step is noted.
    """
    controller, targets = segment_members(regions, eu27)
    nm = len(RE_MATS)
    so = st.table("stage_output")
    syear = pd.to_numeric(so["year"], errors="coerce")
    wld = so[(so["iso3"] == "WLD") & (so["stage"] == "mine") & (so["material"] == "REO")
             & (syear == year)]
    if wld.empty:
        raise ValueError(f"no world mine production for {year} in stage_output")
    world = float(wld["tonnes"].iloc[0])
    wsrc = str(wld["source_id"].iloc[0])
    ss = st.table("stage_shares")
    csep = ss[ss["year"].astype(str).str.contains(str(year)) & (ss["stage"] == "separation")
              & (ss["iso3"] == controller)]
    if csep.empty:
        raise ValueError(f"no {year} separation share for {controller} in stage_shares")
    c_share = float(csep["share"].iloc[0])
    csrc = str(csep["source_id"].iloc[0])
    # element mix: primary separated output of the 2024 chain (recycled feed excluded)
    chain24 = SupplyChain.from_default_data(year=2024, store=st)
    data24 = _element_data(chain24, st, 2024, controller, NoteBook())
    prim = np.array([float((data24[e].sep - data24[e].rec).sum()) if e in data24 else 0.0
                     for e in ELEMENTS])
    mix = prim / prim.sum()
    ne = len(ELEMENTS)
    production = np.zeros((nm, 3))
    production[:ne, 0] = world * c_share * mix
    production[:ne, 1] = world * (1 - c_share) * mix
    for i, e in enumerate(ELEMENTS):
        if mix[i] <= 0:
            notes.add(e, "no supply data: no mine output of the element in the chain's ore "
                      "mixes; market volume zero")
            continue
        notes.add(e, f"derived: {year} separated supply = world mine output {world:,.0f} t "
                  f"({wsrc}) x the element's share of primary separated output in 2024 "
                  f"({mix[i]:.4f}; assumption: mix unchanged; recycled feed excluded); "
                  f"controller share {c_share:.0%} ({csrc}, 2009/10); separation losses not "
                  "applied; no separation by country outside China in the data: the rest "
                  "of the world produces the remainder, targets none")
        notes.date(e, "production", str(year), wsrc)
        notes.date(e, "element_mix", "2024", "balanced chain (structure, after the base year)")
    # magnets: sintered NdFeB output nearest the year and its country shares
    mrow = so[(so["stage"] == "magnet") & (so["iso3"] == "WLD")
              & so["material"].astype(str).str.startswith("NdFeB")]
    mrow = mrow.assign(dy=(pd.to_numeric(mrow["year"]) - year).abs()).sort_values("dy")
    jn, js = RE_MATS.index("NdFeB"), RE_MATS.index("SmCo")
    if len(mrow):
        mag_world = float(mrow["tonnes"].iloc[0])
        mag_year = int(mrow["year"].iloc[0])
        msrc = str(mrow["source_id"].iloc[0])
        msh = ss[(ss["stage"] == "magnet") & (ss["year"].astype(str) == str(mag_year))]
        for r in msh.to_dict("records"):
            iso = str(r["iso3"]) if pd.notna(r["iso3"]) else "OTH"
            production[jn, _seg_of(iso, controller, targets)] += mag_world * float(r["share"])
        notes.add("NdFeB", f"derived: magnet output {mag_world:,.0f} t sintered NdFeB "
                  f"(semi-finished, {mag_year}, {msrc}) split by the {mag_year} country shares "
                  f"(stage_shares, {msrc}); the {mag_year} figure stands for {year} (no {year} "
                  "figure in the data; dated after the base year, flagged); no process-scrap "
                  "netting (no recycling data for the year)")
        notes.date("NdFeB", "production", str(mag_year), f"{msrc} (after the base year)")
    notes.add("SmCo", f"no SmCo output dated {year} or earlier in the data: market volume zero")
    # recipe: the market-average recipe (the only NdFeB recipe with every element)
    rec = dict(chain24.meta.get("recipe", {}))
    recipe = np.zeros((nm, nm))
    for e in ("Nd", "Pr", "Dy", "Tb"):
        recipe[RE_MATS.index(e), jn] = float(rec.get(e, 0.0)) * oxide_factor(e)
    recipe[RE_MATS.index("Sm"), js] = SM_IN_SM2CO17 * oxide_factor("Sm")
    notes.add("NdFeB", f"recipe: {rec.get('recipe')} (the only recipe with every element; "
              "pre-2011 magnets held more Dy - thrifting after the 2011 spike, parameters "
              "jp_magnet_thrifting - so Dy demand is understated); structure dated after the "
              "base year")
    notes.date("NdFeB", "recipe", "2024", "oreflow_estimate (structure, after the base year)")
    need = recipe @ production
    # controller exports and their destinations
    exports, xsrc, xperiod = _historic_exports(st, year, notes)
    x_t, tsrc, tperiod = _historic_target_imports(st, year, targets, exports, notes)
    x_seg = np.array([0.0, exports - x_t, x_t])
    for e in ELEMENTS:
        notes.date(e, "exports", xperiod, xsrc)
        if targets:
            notes.date(e, "target_imports", tperiod, tsrc)
    # element split of the exports: importers' magnet needs first, the remainder from what
    # the controller has left after its own magnet makers
    trade = np.zeros((nm, 3, 3))
    other = np.zeros((nm, 3))
    el = slice(0, ne)
    for s_i in (1, 2):
        m_need = np.maximum(need[el, s_i] - production[el, s_i], 0.0)
        if m_need.sum() > x_seg[s_i] + 1e-9:
            notes.add_all(ELEMENTS, f"derived: segment {s_i} imports raised from "
                          f"{x_seg[s_i]:,.0f} t to its magnet makers' import need "
                          f"{m_need.sum():,.0f} t")
            x_seg[s_i] = float(m_need.sum())
        trade[el, 0, s_i] = m_need
    avail = np.maximum(production[el, 0] - need[el, 0] - trade[el, 0, 1:].sum(axis=1), 0.0)
    for s_i in (1, 2):
        remainder = x_seg[s_i] - trade[el, 0, s_i].sum()
        if remainder > 0 and avail.sum() > 0:
            trade[el, 0, s_i] += remainder * avail / avail.sum()
    avail_left = production[el, 0] - need[el, 0] - trade[el, 0, 1:].sum(axis=1)
    notes.add_all(ELEMENTS, f"derived: the controller's exports {exports:,.0f} t REO are split "
                  "by element: each importing segment's magnet makers' need (recipe x magnets "
                  "- own output) first, the remainder in proportion to what the controller has "
                  "left after its own magnet makers (assumption; the data have no 2009 export "
                  "mix)")
    for i, e in enumerate(ELEMENTS):
        other[i, 1:] = production[i, 1:] + trade[i, 0, 1:] - need[i, 1:]
        if avail_left[i] < 0:
            short = -float(avail_left[i])
            production[i, 0] += short
            world_e = float(production[i].sum())
            notes.add(e, f"balancing: the controller's magnet makers and exports need "
                      f"{short:,.0f} t more than its derived output ({_pct(short, world_e)}"
                      " of world supply); added to its output as undocumented production "
                      "(China's 2010 output incl. undocumented mining is put at 118,900 t "
                      "against DS140's world 101,000 t: stage_output tmr_wsj_2011_08)")
            other[i, 0] = 0.0
        else:
            other[i, 0] = float(avail_left[i])
    # magnets: no magnet trade in the data for the year
    cons_p = np.zeros((nm, 3))
    cons_p[jn] = production[jn]
    notes.add("NdFeB", f"no {year} magnet trade in the data: each segment uses its own output")
    sectors = _sector_shares(st, year, float(cons_p[jn].sum()), notes)
    prices, pbr = re_prices(st, year, notes)
    content = np.zeros((nm, 3))
    content[:ne, 0] = 1.0
    content[jn] = 1.0
    notes.add_all(ELEMENTS, "controller content: 1 for the controller's output, 0 for the rest "
                  "(separated outside China)")
    notes.add("NdFeB", f"controller content 1 in every segment: {c_share:.0%} of separated "
              "rare earths were Chinese (assumption: every magnet holds some)")
    cross = np.zeros((nm, 3))
    notes.add_all(RE_MATS, f"cross-border share inside segments 0: no country-level flows "
                  f"for {year}")
    origin: dict[tuple[str, str], dict[str, F]] = {}
    for i, e in enumerate(ELEMENTS):
        p_seg = production[i]
        if p_seg.sum() <= 0:
            continue
        origin.setdefault((controller, "separation"), {})[e] = np.array(
            [world * c_share * mix[i] / p_seg[0] if p_seg[0] > 0 else 0.0, 0.0, 0.0])
        origin.setdefault(("OTH", "separation"), {})[e] = np.array([0.0, 1.0, 0.0])
    notes.add_all(RE_MATS, f"no pipeline projects in the {year} baseline (the projects table "
                  "records later announcements)")
    return _REPart(
        production=production, other=other, trade=trade, consumption_products=cons_p,
        recipe=recipe, price=prices, price_by_region=pbr, origin=origin, content=content,
        cross_border=cross, sector_shares=sectors, projects=[], members_rest=("OTH",),
        provenance={"chain": f"historic rules for {year}", "rare_earths": f"historic {year}"},
    )


def _seg_of(iso3: str, controller: str, targets: frozenset[str]) -> int:
    return 0 if iso3 == controller else 2 if iso3 in targets else 1


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _historic_exports(st: Store, year: int, notes: NoteBook) -> tuple[float, str, str]:
    """The controller's exports of a historic year [t REO/yr], source and period."""
    q = st.table("quotas")
    full = q[(q["metric"] == "actual_exports") & (q["period"] == "full year")
             & (q["year"].astype(str) == str(year))]
    if len(full):
        v = float(full["value"].iloc[0])
        src = str(full["source_id"].iloc[0])
        notes.add_all(RE_MATS, f"controller exports {v:,.0f} t ({year}, quotas table, {src})")
        return v, src, str(year)
    tr = st.table("trade")
    direct = tr[(tr["reporter"] == "CHN") & (tr["flow"] == "export")
                & (tr["partner_iso3"] == "WLD") & (tr["metric"] == "exports")
                & (tr["period"].astype(str) == str(year))
                & tr["product"].astype(str).str.startswith("rare earths (ores")]
    nxt = q[(q["metric"] == "actual_exports") & (q["year"].astype(str) == str(year + 1))]
    for r in nxt.to_dict("records"):
        m = re.search(r"([+-]?\d+(?:\.\d+)?)% y/y", str(r.get("note", "")))
        per = re.match(r"Jan-(\w{3})", str(r["period"]))
        if not (m and per) or per.group(1) not in _MONTHS:
            continue
        months = _MONTHS.index(per.group(1)) + 1
        growth = float(m.group(1))
        part = float(r["value"]) / (1 + growth / 100)
        v = part * 12 / months
        alt = ""
        if len(direct):
            d = direct.iloc[0]
            dec = float(d["value"]) - part
            alt = (f". Not used: the trade table's {year} total {float(d['value']):,.0f} t "
                   f"({d['source_id']}; derived there from the {year + 1} total and a -9.3% "
                   f"y/y change) implies {dec:,.0f} t in December {year} alone, against the "
                   f"Jan-{per.group(1)} {year} exports of {part:,.0f} t that the Jan-"
                   f"{per.group(1)} {year + 1} volume change gives (its value and unit-price "
                   "changes agree with the Jan-Nov export values in the trade table, "
                   "reuters_ajot_2010_12_20_nov_exports)")
        notes.add_all(RE_MATS, f"derived: controller exports {year} = {r['value']:,.0f} t "
                      f"(Jan-{per.group(1)} {year + 1}, {r['source_id']}) / (1 {growth:+g}%) "
                      f"= {part:,.0f} t for Jan-{per.group(1)} {year}, x 12/{months} "
                      f"(December at the monthly average) = {v:,.0f} t REO/yr (customs "
                      f"tonnes read as t REO){alt}")
        return v, str(r["source_id"]), f"{year} (from {year + 1} Jan-{per.group(1)} data)"
    if len(direct):
        d = direct.iloc[0]
        notes.add_all(RE_MATS, f"controller exports {float(d['value']):,.0f} t ({year}, "
                      f"trade table, {d['source_id']})")
        return float(d["value"]), str(d["source_id"]), str(year)
    raise ValueError(f"no controller export figure for {year}")


def _historic_target_imports(st: Store, year: int, targets: frozenset[str], exports: float,
                             notes: NoteBook) -> tuple[float, str, str]:
    """The targets' imports from the controller in a historic year [t REO/yr]."""
    if not targets:
        return 0.0, "", ""
    tr = st.table("trade")
    imp = tr[(tr["reporter"].isin(targets)) & (tr["flow"] == "import")
             & (tr["partner_iso3"] == "CHN") & (tr["metric"] == "imports")
             & (tr["period"].astype(str) == str(year)) & (tr["unit"] == "t")]
    if len(imp):
        v = min(float(imp["value"].sum()), exports)
        srcs = ", ".join(sorted(set(imp["source_id"].astype(str))))
        notes.add_all(RE_MATS, f"targets' imports from the controller {v:,.0f} t ({year}, "
                      f"importer-reported, {srcs}; {', '.join(imp['note'].astype(str))})")
        return v, srcs, str(year)
    sh = tr[(tr["reporter"] == "CHN") & (tr["flow"] == "export")
            & tr["partner_iso3"].isin(targets)
            & (tr["metric"] == "export share (pct)")]
    sh = sh[sh["period"].astype(str).str.startswith(str(year + 1))]
    if len(sh):
        share = float(sh["value"].sum()) / 100.0
        srcs = ", ".join(sorted(set(sh["source_id"].astype(str))))
        per = str(sh["period"].iloc[0])
        notes.add_all(RE_MATS, f"fallback: no {year} figure for the targets; their share of "
                      f"the controller's exports in {per} ({share:.3f}, {srcs}) applied to "
                      f"{year} - dated after the base year, flagged")
        return exports * share, srcs, f"{per} (after the base year)"
    notes.add_all(RE_MATS, f"fallback: no {year} imports from the controller for the targets "
                  "in the data: targets' volume zero")
    return 0.0, "", ""


# -- assembly ------------------------------------------------------------------------------


def _assemble(st: Store, year: int, regions: Regions, eu27: Sequence[str],
              re_part: _REPart | None, markets: Sequence[MineralMarket], notes: NoteBook
              ) -> Baseline:
    """One Baseline in :data:`MATERIALS` order from the rare-earth part and the minerals."""
    mats = tuple(m for m in MATERIALS
                 if (re_part is not None and m in RE_MATS)
                 or any(mk.material == m for mk in markets))
    nm, nk = len(mats), len(SECTORS)
    idx = {m: i for i, m in enumerate(mats)}
    production = np.zeros((nm, 3))
    demand = np.zeros((nm, 3, nk))
    trade = np.zeros((nm, 3, 3))
    price = np.zeros(nm)
    pbr = np.zeros((nm, 3))
    recipe = np.zeros((nm, nm))
    content = np.zeros((nm, 3))
    cross = np.zeros((nm, 3))
    origin: dict[tuple[str, str], F] = {}
    kmag, koth = SECTORS.index("magnet_makers"), SECTORS.index("other_uses")
    rest_members: set[str] = set()
    provenance = {"dataset": "oreflow embedded data", "version": str(st.version),
                  "hash": _fingerprint(st), "year": str(year)}
    projects: list[Project] = []
    if re_part is not None:
        for j, m in enumerate(RE_MATS):
            i = idx[m]
            production[i] = re_part.production[j]
            trade[i] = re_part.trade[j]
            price[i] = re_part.price[j]
            pbr[i] = re_part.price_by_region[j]
            content[i] = re_part.content[j]
            cross[i] = re_part.cross_border[j]
            if m in PRODUCTS:
                for k, sh in re_part.sector_shares.items():
                    demand[i, :, SECTORS.index(k)] = re_part.consumption_products[j] * sh
            else:
                demand[i, :, koth] = re_part.other[j]
        pos = np.array([idx[m] for m in RE_MATS])
        recipe[np.ix_(pos, pos)] = re_part.recipe
        for key, per in re_part.origin.items():
            arr = origin.setdefault(key, np.zeros((nm, 3)))
            for m, v in per.items():
                arr[idx[m]] = v
        rest_members.update(re_part.members_rest)
        provenance.update(re_part.provenance)
        controller, targets = segment_members(regions, eu27)
        for pid, iso, vec, start, src in re_part.projects:
            cap = np.zeros(nm)
            for m, t_yr in vec.items():
                if m in idx:
                    cap[idx[m]] = t_yr
            projects.append(Project(pid, _seg_of(iso, controller, targets), cap, start, src))
    for mk in markets:
        i = idx[mk.material]
        production[i] = mk.production
        demand[i, :, koth] = mk.consumption
        trade[i] = mk.trade
        price[i] = mk.price
        pbr[i] = mk.price_by_region
        content[i] = [1.0, 0.0, 0.0]
        for key, v in mk.origin.items():
            origin.setdefault(key, np.zeros((nm, 3)))[i] = v
        rest_members.update(mk.members_rest)
        notes.add(mk.material, "controller content 1 for the controller's output, 0 outside "
                  "(own feed); cross-border share inside segments 0 (no country-level flows)")
        provenance[f"mineral_{mk.material}"] = MINERAL_SPECS[mk.material].level
    demand[:, :, kmag] = recipe @ production
    for i, m in enumerate(mats):
        sup = float(production[i].sum())
        mag_use = float(demand[i, :, kmag].sum())
        if sup > 0 and mag_use > 0.95 * sup:
            notes.add(m, f"warning: magnet makers take {mag_use / sup:.1%} of the element's "
                      "supply in this baseline; other uses are a thin residual")
    trade = net_segment_trade(trade)
    controller = regions.controller
    _, targets = segment_members(regions, eu27)
    tgt = tuple(sorted(targets))
    labels: tuple[str, str, str] = (
        controller, "rest",
        "targets:" + "+".join(t for t in regions.targets) if regions.targets else "targets")
    return Baseline(
        year=year,
        materials=mats,
        region_labels=labels,
        members=((controller,), tuple(sorted(rest_members - {controller, *tgt})), tgt),
        sectors=SECTORS,
        production=production,
        demand=demand,
        price=price,
        imports_from_controller=trade[:, 0, :].copy(),
        recipe=recipe,
        origin=origin,
        controller_content=np.clip(content, 0.0, 1.0),
        cross_border=cross,
        projects=tuple(projects),
        trade=trade,
        price_by_region=pbr,
        notes=notes.freeze(),
        provenance=provenance,
    )


def _fingerprint(st: Any) -> str:
    try:
        return str(st.fingerprint())
    except Exception:
        return ""

