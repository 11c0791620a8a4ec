"""Exposure of a BOM through the supply chain, without a scenario.

:func:`exposure` traces every input through the element-resolved chain
(:class:`oreflow.chain.SupplyChain`) so that a Japanese magnet made from Chinese oxide counts:
the controller-origin content and control share of every input, whether a de-minimis rule
reaches it, the single points of failure up the chain (:data:`SPOF_THRESHOLD`), and the
alternative producers and projects in the data, with their capacity and spare capacity where
the data give one (never invented). :class:`Tracer` and :class:`Trace` are shared with
:mod:`oreflow.exposure.impact`, which weights the engine's paths by the same control shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from oreflow.answer import Answer
from oreflow.chain import (
    NON_NODE_CODES,
    RESIDUAL_CODES,
    SupplyChain,
    oxide_factor,
    recipe_content,
)
from oreflow.chain.analysis import build_chain, chain_sources
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError
from oreflow.exposure.bom import DEFAULT_QUALIFICATION, Bom, Citation, Input, Quantity, quantities
from oreflow.exposure.bom_io import dotted

__all__ = [
    "SPOF_THRESHOLD",
    "Trace",
    "Tracer",
    "citation_table",
    "exposure",
    "qualification",
    "traced_sources",
]

#: Share at or above which one supplier, country or upstream node is a single point of failure.
SPOF_THRESHOLD = 0.5
#: Upstream shares below this are left out of the ``upstream`` table [-].
_UPSTREAM_MIN = 0.01
_STAGE_OF = {"NdFeB": "magnet", "SmCo": "magnet", "oxide": "separation", "metal": "metal"}


# ============================================================================================
# tracing through the supply chain


@dataclass
class Trace:
    """Controller exposure of one input, per element and supplier."""

    elements: pd.Series  # kg element (metal) per kg input
    stage: str
    rows: list[dict[str, Any]]  # per supplier × element
    upstream: list[dict[str, Any]]
    kappa_by_element: dict[str, float]  # supplier-weighted control share
    mined_by_element: dict[str, float]
    processed_by_element: dict[str, float]

    @property
    def binding(self) -> str | None:
        """Element with the highest controller control share (the weakest link)."""
        if not self.kappa_by_element:
            return None
        return max(self.kappa_by_element, key=lambda e: self.kappa_by_element[e])

    @property
    def kappa(self) -> float:
        """Controller control share of the input [-] (its weakest-link element)."""
        b = self.binding
        return float(self.kappa_by_element[b]) if b is not None else 0.0


class Tracer:
    """Builds and caches the chains and lookups a BOM needs (read from ``store``)."""

    def __init__(self, bom: Bom, store: Store) -> None:
        self.bom = bom
        self.store = store
        self._reo: SupplyChain | None = None
        self._el: dict[str, SupplyChain] = {}
        self._ctrl: dict[str, pd.DataFrame] = {}
        self._proc: dict[str, pd.DataFrame] = {}
        self.notes: list[str] = []

    @property
    def reo(self) -> SupplyChain:
        if self._reo is None:
            self._reo = build_chain("REO", self.bom.year, store=self.store)
        return self._reo

    @property
    def members(self) -> frozenset[str]:
        return self.reo.members(self.bom.controller)

    def chain(self, element: str) -> SupplyChain:
        if element not in self._el:
            self._el[element] = self.reo.for_element(element)
        return self._el[element]

    def control(self, element: str) -> pd.DataFrame:
        if element not in self._ctrl:
            self._ctrl[element] = self.chain(element).control_share(self.members)
        return self._ctrl[element]

    def processed(self, element: str) -> pd.DataFrame:
        if element not in self._proc:
            self._proc[element] = self.chain(element).origin_content(self.members, "separation")
        return self._proc[element]

    def column(self, chain: SupplyChain, stage: str, country: str) -> tuple[str, str]:
        """Chain node standing for a supplier in ``country`` at ``stage``, and why."""
        out = chain.output
        stages = list(chain.stages)
        prev = stages[stages.index(stage) - 1] if stages.index(stage) > 0 else stage
        if country in chain.countries:
            if _at(out, stage, country) > 0:
                return country, "producer in the data"
            if prev != stage and _at(out, prev, country) > 0:
                return country, (f"no {stage} output in the data: supplied from its own {prev} "
                                 "output (the chain's rule for a node without output)")
            return country, (f"no {stage} output in the data: buys on the world market (the "
                             "chain's import mix)")
        for c in chain.countries:
            if (c in self.members or c in RESIDUAL_CODES or _at(out, stage, str(c)) > 0
                    or _at(out, prev, str(c)) > 0):
                continue
            return str(c), (f"not in the data: buys on the world market (the chain's import "
                            f"mix, as for {c})")
        raise InputError(f"cannot place a {stage} plant in {country} in the chain")

    def kappa(self, tr: Trace, country: str) -> float:
        """Control share of a plant in ``country`` for the input's weakest-link element.

        1 in the controller; otherwise the chain's value at the input's stage for that
        country's node (or its stand-in, :meth:`column`); 1 if it cannot be placed.
        """
        if country in self.members:
            return 1.0
        b = tr.binding
        if b is None:
            return 0.0
        try:
            col, _ = self.column(self.chain(b), tr.stage, country)
        except InputError:
            return 1.0
        return _at(self.control(b), tr.stage, col)

    def content(self, inp: Input) -> pd.Series:
        """Element content of an input [kg element (metal) / kg input]."""
        if inp.kind == "material":
            per_kg = 1.0 / oxide_factor(inp.type) if inp.form == "oxide" else 1.0
            return pd.Series({inp.type: per_kg}, dtype=np.float64)
        base = pd.Series(dtype=np.float64)
        if inp.type == "NdFeB" and (inp.grade is not None or not inp.content):
            recipes = self.store.table("recipes")
            grade = inp.grade or "typical"
            family = recipes["grade"].fillna("").astype(str).str.replace(
                r"\s*\[[^\]]*\]$", "", regex=True)
            # the grade and its per-source variants ("typical [source_id]"), as documented in
            # docs/model.md; recipe_content on its own prefers an exact grade match
            rows = recipes[(family == grade) | (recipes["grade"] == grade)]
            base = recipe_content(rows if not rows.empty else recipes, "NdFeB",
                                  None if not rows.empty else grade)
        given = pd.Series({e: q.point for e, q in (inp.content or {}).items()}, dtype=np.float64)
        merged = given.combine_first(base) if not base.empty else given
        return merged[merged > 0].sort_index()

    def trace(self, inp: Input) -> Trace:
        stage = _STAGE_OF[inp.type] if inp.kind == "magnet" else _STAGE_OF[inp.form]
        elements = self.content(inp)
        rows: list[dict[str, Any]] = []
        upstream: dict[tuple[str, str, str], float] = {}
        kappa: dict[str, float] = {}
        mined: dict[str, float] = {}
        processed: dict[str, float] = {}
        for el in elements.index:
            ch = self.chain(str(el))
            ctrl = self.control(str(el))
            proc = self.processed(str(el))
            k = m = p = 0.0
            for sup in inp.suppliers:
                col, basis = self.column(ch, stage, sup.country)
                own = sup.country in self.members
                mix = ch.origin_mix(stage, col)
                mined_x = float(mix.reindex(sorted(self.members)).fillna(0.0).sum())
                ctrl_x = 1.0 if own else _at(ctrl, stage, col)
                proc_x = 1.0 if own else _at(proc, stage, col) if stage != "mine" else 0.0
                rows.append({
                    "supplier": sup.name, "country": sup.country, "share": sup.share,
                    "element": str(el), "stage": stage, "node": col, "basis": basis,
                    "mined_in_controller": mined_x, "control_share": ctrl_x,
                    "processed_in_controller": proc_x,
                    "deminimis_reached": ctrl_x >= self.bom.deminimis_threshold - 1e-12,
                    "rule": ("direct: made in the controller" if own else
                             "de-minimis: controlled-origin content at or above the threshold"
                             if ctrl_x >= self.bom.deminimis_threshold - 1e-12 else
                             "not reached"),
                })
                k += sup.share * ctrl_x
                m += sup.share * mined_x
                p += sup.share * proc_x
                for st_name, vec in _upstream_shares(ch, stage, col).items():
                    for c, v in vec.items():
                        key = (str(el), st_name, str(c))
                        upstream[key] = upstream.get(key, 0.0) + sup.share * float(v)
            kappa[str(el)], mined[str(el)], processed[str(el)] = k, m, p
        # the supplier's own stage: by the BOM's supplier countries (not the proxy node)
        up_rows = []
        for (el, st_name, c), v in upstream.items():
            if st_name == stage:
                continue
            if v >= _UPSTREAM_MIN:
                up_rows.append({"element": el, "stage": st_name, "country": c, "share": v})
        by_country: dict[str, float] = {}
        for sup in inp.suppliers:
            by_country[sup.country] = by_country.get(sup.country, 0.0) + sup.share
        for el in elements.index:
            for c, v in by_country.items():
                up_rows.append({"element": str(el), "stage": stage, "country": c, "share": v})
        return Trace(elements, stage, rows, up_rows, kappa, mined, processed)


def _upstream_shares(chain: SupplyChain, stage: str, country: str) -> dict[str, pd.Series]:
    """Share of a node's material that came through each country at each upstream stage.

    ``v_s = e_c``; ``v_{t-1} = S_t v_t`` with ``S_t`` the sourcing matrix into stage t.
    """
    stages = list(chain.stages)
    pos = stages.index(stage)
    countries = chain.countries
    v = np.zeros(len(countries))
    v[list(countries).index(country)] = 1.0
    out: dict[str, pd.Series] = {stage: pd.Series(v.copy(), index=countries)}
    for t in range(pos, 0, -1):
        s = chain.sourcing(stages[t]).to_numpy(dtype=np.float64)
        v = s @ v
        out[stages[t - 1]] = pd.Series(v.copy(), index=countries)
    return out



# ============================================================================================
# exposure (no scenario)


def _oxide_prices(st: Store, year: int) -> tuple[pd.Series, list[str]]:
    """Oxide price by element [USD/kg] (China FOB annual average, newest edition ≤ year)."""
    p = st.table("prices")
    sel = p[(p["period_type"] == "annual_avg") & (p["market"] == "china_fob")
            & (p["unit"] == "usd_per_kg")
            & p["product"].astype(str).str.contains("oxide|O3", case=False, regex=True)].copy()
    sel["year"] = pd.to_numeric(sel["date"], errors="coerce")
    sel = sel[sel["year"] <= year].dropna(subset=["year", "value"])
    sel = sel.sort_values(["year", "edition"])
    last = sel.groupby("material").tail(1).set_index("material")
    return last["value"].astype(float), sorted(set(last["source_id"].astype(str)))


def _alternatives(inp: Input, trace: Trace, tracer: Tracer) -> list[dict[str, Any]]:
    """Alternative producers and projects outside the controller for one input."""
    st = tracer.store
    members = tracer.members
    rows: list[dict[str, Any]] = []
    current = {s.country for s in inp.suppliers}
    binding = trace.binding

    def kappa_of(country: str) -> float:
        return tracer.kappa(trace, country) if binding is not None else float("nan")

    for alt in inp.alternatives:
        cap = alt.capacity_kg_per_month
        rows.append({
            "kind": "declared", "name": alt.name, "country": alt.country, "stage": trace.stage,
            "output_t_per_yr": np.nan, "capacity": cap.point * 12 / 1000 if cap else np.nan,
            "capacity_unit": "t_per_yr offered to you" if cap else "",
            "status": "declared in the BOM", "start_year": np.nan,
            "spare_capacity_t_per_yr": cap.point * 12 / 1000 if cap else np.nan,
            "spare_note": "as declared in the BOM" if cap else
            "unknown: no capacity declared (adds no supply in impact)",
            "controller_content": kappa_of(alt.country), "current_supplier":
            alt.country in current, "source_id": "",
        })
    # producers in stage_output
    so = st.table("stage_output", latest=True)
    if inp.kind == "magnet":
        mats = {"NdFeB": ("NdFeB", "NdFeB_sintered"), "SmCo": ("SmCo",)}[inp.type]
        stage = "magnet"
    else:
        mats, stage = ("REO",), trace.stage
    sel = so[(so["stage"] == stage) & so["material"].isin(mats) & (so["basis"] == "production")
             & (so["year"] <= tracer.bom.year)]
    aggregates = set(st.table("countries").query("kind == 'aggregate'")["iso3"]) | NON_NODE_CODES
    sel = sel[~sel["iso3"].isin(aggregates | set(members))]
    if not sel.empty:
        sel = sel.sort_values("year").groupby("iso3").tail(1)
    for _, r in sel.iterrows():
        rows.append({
            "kind": "producer", "name": f"{r['iso3']} {stage} output ({r['material']})",
            "country": r["iso3"], "stage": stage,
            "output_t_per_yr": float(r["tonnes"]), "capacity": np.nan,
            "capacity_unit": str(r.get("unit", "")), "status": f"output {int(r['year'])}"
            + (" (estimate)" if bool(r.get("estimate", False)) else ""),
            "start_year": np.nan, "spare_capacity_t_per_yr": np.nan,
            "spare_note": "unknown: the data give output but no capacity",
            "controller_content": kappa_of(str(r["iso3"])),
            "current_supplier": r["iso3"] in current, "source_id": str(r["source_id"]),
        })
    # projects
    pj = st.table("projects")
    stage_txt = pj["stage"].fillna("").astype(str).str.lower()
    mat_txt = pj["materials"].fillna("").astype(str)
    if inp.kind == "magnet":
        word = "NdFeB|RE magnets|magnet" if inp.type == "NdFeB" else "SmCo"
        hit = stage_txt.str.contains("magnet") & mat_txt.str.contains(word, regex=True)
    else:
        el = inp.type
        groups = {"Nd": "NdPr|didymium", "Pr": "NdPr|didymium", "Dy": "heavy|HREE",
                  "Tb": "heavy|HREE", "Sm": "heavy|HREE|SEG"}.get(el, "")
        pat = rf"\b{el}\b" + (f"|{groups}" if groups else "")
        hit = (stage_txt.str.contains("separation|metal|refin|recycl", regex=True)
               & mat_txt.str.contains(pat, regex=True))
    for _, r in pj[hit & ~pj["iso3"].isin(members)].iterrows():
        start = _num(r.get("start_year"))
        future = bool(np.isfinite(start) and start > tracer.bom.year)
        capacity = _num(r.get("capacity"))
        note = ("not yet producing (announced start "
                f"{int(start)})" if future else
                "unknown: nameplate capacity only; output and contracted volumes not in the data"
                if np.isfinite(capacity) else "unknown: no capacity figure in the data")
        rows.append({
            "kind": "project", "name": str(r["name"]), "country": _text(r["iso3"]),
            "stage": _text(r["stage"]), "output_t_per_yr": np.nan,
            "capacity": capacity,
            "capacity_unit": _text(r.get("capacity_unit")),
            "status": _text(r.get("status")),
            "start_year": start,
            "spare_capacity_t_per_yr": np.nan, "spare_note": note,
            "controller_content": kappa_of(str(r["iso3"])) if isinstance(r["iso3"], str)
            else np.nan,
            "current_supplier": r["iso3"] in current, "source_id": str(r["source_id"]),
        })
    return rows


def _at(frame: pd.DataFrame, row: str, col: str) -> float:
    """One value of a stages × countries frame as a float."""
    return float(frame[col].to_numpy(dtype=np.float64)[list(frame.index).index(row)])


def _num(x: Any) -> float:
    """A table cell as a float; missing or non-numeric values as NaN."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def _text(x: Any) -> str:
    """A table cell as text; missing values as ""."""
    return x if isinstance(x, str) else "" if x is None or pd.isna(x) else str(x)


def qualification(inp: Input, st: Store) -> tuple[Quantity, str]:
    """Qualification time of an input and where it comes from."""
    if inp.qualification_months is not None:
        src = ("BOM" if not inp.qualification_months.source else
               ", ".join(c.source_id or c.url or "" for c in inp.qualification_months.source))
        return inp.qualification_months, src
    lead_id = DEFAULT_QUALIFICATION[inp.kind]
    lt = st.table("lead_times").set_index("lead_id")
    row = lt.loc[lead_id]
    factor = 12.0 if str(row["unit"]) == "years" else 1.0
    lo = float(row["value_low"]) * factor
    hi = float(row["value_high"]) * factor
    q = Quantity(low=lo, high=hi, source=(Citation(source_id=str(row["source_id"]),
                                                   table="lead_times", key=lead_id),))
    return q, f"default: lead_times {lead_id} ({row['source_id']})"


def exposure(bom: Bom, *, store: Store | None = None) -> Answer:
    """Exposure of a BOM without a scenario: controller content, de-minimis reach, single
    points of failure, alternatives.

    Parameters
    ----------
    bom : Bom
        The bill of materials (:func:`read_bom`, :meth:`Bom.example`).
    store : oreflow.data.store.Store, optional
        Data store (default the embedded data plus user imports).

    Returns
    -------
    oreflow.answer.Answer
        Tables:

        - ``products``: per product, units per year, unit value, rare-earth content
          [kg element/unit], the controller-origin value share of the rare-earth content
          [-] and whether a value-based de-minimis rule reaches it (needs a unit value);
        - ``inputs``: per input, annual need [kg/yr], element content, suppliers, the share
          bought in the controller (under its export control directly), the controller
          **control share** (share of the input's material that passed through the
          controller at any stage, for the weakest-link element) and the share mined and
          processed there [-], de-minimis reach (``deminimis_share``: the share bought
          outside the controller whose controlled-origin content reaches the threshold),
          single points of failure, inventory and qualification time [months], alternatives;
        - ``tracing``: per input × supplier × element, the chain node used and its shares;
        - ``upstream``: per input × element × stage × country, the share of the input's
          material that came through that country at that stage [-];
        - ``single_points``: suppliers, countries and upstream nodes holding at least half
          of an input;
        - ``alternatives``: producers and projects outside the controller, with output,
          capacity and spare capacity [t/yr] where known (NaN and a note otherwise);
        - ``content_claims``: published rare-earth content figures per product, all of them;
        - ``citations``: every number of the BOM with its source or assumption flag.

    Notes
    -----
    The control share is that of :meth:`oreflow.chain.SupplyChain.control_share` at the
    supplier's node: the magnet stage for NdFeB and SmCo (the chain has no SmCo stage: a SmCo
    maker is traced as a magnet plant buying metal, Sm-weighted), the metal stage for metal
    inputs, the separation stage for oxides. A supplier located in the controller counts 1. A
    supplier country with no node in the data buys on the world market (the chain's import
    mix); a node without output at its stage follows the chain's marginal rule (own upstream
    output if any, else the import mix).
    Tracing counts REO mass, a de-minimis rule counts value (see ``docs/model.md``).

    Examples
    --------
    >>> ans = exposure(Bom.example("ev-motor"))
    >>> sorted(ans.tables)[:3]
    ['alternatives', 'citations', 'content_claims']
    """
    st = resolve_store(store)
    tracer = Tracer(bom, st)
    prices, price_sources = _oxide_prices(st, bom.year)
    residual = RESIDUAL_CODES  # "rest of world" residuals are not single countries

    prod_rows, inp_rows, trace_rows, up_rows, spof_rows, alt_rows = [], [], [], [], [], []
    claim_rows: list[dict[str, Any]] = []
    sources: set[str] = set()
    notes: list[str] = []
    defaults_used: list[str] = []
    missing_price: set[str] = set()
    for prod in bom.products:
        units = prod.units_per_year.point
        re_kg = 0.0
        ctrl_value = 0.0
        for inp in prod.inputs:
            tr = tracer.trace(inp)
            mass = inp.mass_kg_per_unit.point
            for el, w in tr.elements.items():
                re_kg += mass * float(w)
                price = prices.get(str(el))
                if price is None or not np.isfinite(price):
                    missing_price.add(str(el))
                    continue
                ctrl_value += (mass * float(w) * oxide_factor(str(el)) * float(price)
                               * tr.kappa_by_element[str(el)])
            qual, qual_src = qualification(inp, st)
            if inp.qualification_months is None:
                defaults_used.append(f"{prod.id}/{inp.id}: qualification {qual.text()} months "
                                     f"({qual_src})")
            if inp.kind == "magnet" and inp.type == "NdFeB" and inp.grade is None \
                    and not inp.content:
                defaults_used.append(f"{prod.id}/{inp.id}: NdFeB grade 'typical' (recipes)")
            ctrl_direct = sum(s.share for s in inp.suppliers if s.country in tracer.members)
            # single points of failure
            spof: list[str] = []
            for s in inp.suppliers:
                if s.share >= SPOF_THRESHOLD - 1e-12 and s.name:
                    spof_rows.append({"product": prod.id, "input": inp.id, "level": "supplier",
                                      "element": "", "stage": tr.stage, "who": s.name,
                                      "country": s.country, "share": s.share})
                    spof.append(f"supplier {s.name} {s.share:.0%}")
            for r in tr.upstream:
                if r["share"] >= SPOF_THRESHOLD - 1e-12 and r["country"] not in residual:
                    level = "country" if r["stage"] == tr.stage else "upstream"
                    spof_rows.append({"product": prod.id, "input": inp.id, "level": level,
                                      "element": r["element"], "stage": r["stage"], "who": "",
                                      "country": r["country"], "share": r["share"]})
                    if r["element"] == tr.binding:
                        spof.append(f"{r['country']} at {r['stage']} {r['share']:.0%}")
            alts = _alternatives(inp, tr, tracer)
            if not alts:
                notes.append(f"{prod.id}/{inp.id}: the data list no {inp.type} producer or "
                             f"project outside {bom.controller}")
            for a in alts:
                alt_rows.append({"product": prod.id, "input": inp.id, **a})
                if a["source_id"]:
                    sources.add(a["source_id"])
            binding = tr.binding
            inp_rows.append({
                "product": prod.id, "input": inp.id, "kind": inp.kind, "type": inp.type,
                "grade": inp.grade or ("typical (default)" if inp.type == "NdFeB"
                                       and not inp.content else ""),
                "mass_kg_per_unit": mass, "mass_text": inp.mass_kg_per_unit.text(),
                "annual_need_kg": mass * units,
                "content": ", ".join(f"{e} {w:.3g}" for e, w in tr.elements.items()),
                "suppliers": "; ".join(f"{s.country} {s.share:.0%}" for s in inp.suppliers),
                "trace_stage": tr.stage,
                "controller_supplier_share": ctrl_direct,
                "binding_element": binding or "",
                "control_share": tr.kappa,
                "mined_in_controller": tr.mined_by_element.get(binding or "", np.nan),
                "processed_in_controller": tr.processed_by_element.get(binding or "", np.nan),
                "deminimis_reached": tr.kappa >= bom.deminimis_threshold - 1e-12,
                "deminimis_share": _deminimis_share(tr, tracer.members,
                                                    bom.deminimis_threshold),
                "single_points": "; ".join(dict.fromkeys(spof)),
                "inventory_months": inp.inventory_months.point,
                "qualification_months": qual.text(),
                "alternatives_listed": len(alts),
                "alternatives_spare_known": int(sum(np.isfinite(a["spare_capacity_t_per_yr"])
                                                    for a in alts)),
            })
            for r in tr.rows:
                trace_rows.append({"product": prod.id, "input": inp.id, **r})
            for r in tr.upstream:
                up_rows.append({"product": prod.id, "input": inp.id, **r})
        value = prod.unit_value_usd.point if prod.unit_value_usd else None
        share = ctrl_value / value if value else np.nan
        prod_rows.append({
            "product": prod.id, "name": prod.name, "plant_country": prod.plant_country,
            "units_per_year": units, "units_text": prod.units_per_year.text(),
            "units_assumption": prod.units_per_year.assumption,
            "unit_value_usd": value if value else np.nan,
            "inputs": len(prod.inputs), "re_content_kg_per_unit": re_kg,
            "controller_re_value_usd_per_unit": ctrl_value,
            "controller_value_share": share,
            "deminimis_value_reached": (bool(share >= bom.deminimis_threshold - 1e-12)
                                        if value else None),
        })
        for c in prod.reported_content:
            q = c.kg_per_unit
            flags = _claim_flags(st, q)
            claim_rows.append({
                "product": prod.id, "material": c.material, "value": q.value,
                "low": q.low, "high": q.high, "unit": "kg_per_unit", "basis": c.basis,
                "source_ids": ", ".join(x.source_id or x.url or "" for x in q.source),
                "rows": ", ".join(f"{x.table}:{x.key}" for x in q.source if x.key),
                "flags": flags, "note": q.note,
            })
    citations = citation_table(bom)
    sources |= {s for s in citations["source_id"] if s}
    sources |= {s for ids in traced_sources(tracer).values() for s in ids}
    sources |= set(price_sources)
    assumed = citations[citations["assumption"]]
    if not assumed.empty:
        notes.append(f"{len(assumed)} figure(s) are assumptions, not data: "
                     + "; ".join(f"{f}" for f in assumed["field"]))
    notes += [f"default used — {d}" for d in defaults_used]
    notes[:0] = list(bom.notes)
    for prod in bom.products:
        claims = prod.reported_content
        if len(claims) > 1:
            shown = "; ".join(f"{c.kg_per_unit.text()} kg {c.material} ("
                              + ", ".join(x.source_id or x.url or "" for x in c.kg_per_unit.source)
                              + ")" for c in claims)
            notes.append(f"{prod.id}: published rare-earth content figures disagree — {shown}; "
                         "all are in table content_claims, none is used in the calculation")
        elif claims:
            notes.append(f"{prod.id}: a published rare-earth content figure is shown in table "
                         "content_claims for context; it is not used in the calculation")
    notes.append("control share counts REO mass through the chain; de-minimis rules count "
                 "value (the value share in table products uses rare-earth oxide prices, a "
                 "lower bound when whole magnets count as controlled items)")
    notes.append("spare capacity is unknown where the data give output or nameplate capacity "
                 "but not both; it is never estimated")
    if missing_price:
        notes.append("no oxide price for " + ", ".join(sorted(missing_price))
                     + ": left out of the value share")
    notes += tracer.notes
    tables = {
        "products": pd.DataFrame(prod_rows),
        "inputs": pd.DataFrame(inp_rows),
        "tracing": pd.DataFrame(trace_rows),
        "upstream": pd.DataFrame(up_rows),
        "single_points": pd.DataFrame(spof_rows, columns=["product", "input", "level",
                                                          "element", "stage", "who",
                                                          "country", "share"]),
        "alternatives": pd.DataFrame(alt_rows, columns=[
            "product", "input", "kind", "name", "country", "stage", "output_t_per_yr",
            "capacity", "capacity_unit", "status", "start_year", "spare_capacity_t_per_yr",
            "spare_note", "controller_content", "current_supplier", "source_id"]),
        "content_claims": pd.DataFrame(claim_rows, columns=[
            "product", "material", "value", "low", "high", "unit", "basis", "source_ids",
            "rows", "flags", "note"]),
        "citations": citations,
    }
    meta = {"bom": bom.name, "bom_origin": bom.origin, "bom_hash": bom.hash(),
            "controller": bom.controller, "year": bom.year,
            "deminimis_threshold": bom.deminimis_threshold,
            "dataset_version": st.version,
            "sources_by_part": {"bom": sorted({s for s in citations["source_id"] if s}),
                                "chain": sorted({s for ids in traced_sources(tracer).values()
                                                 for s in ids}),
                                "prices": price_sources}}
    return Answer(tables, sorted(sources), notes, meta)


def _deminimis_share(tr: Trace, members: frozenset[str], threshold: float) -> float:
    """Share of an input bought outside the controller that a de-minimis rule reaches [-].

    A supplier is reached when any of the input's elements has controlled-origin content at
    or above the threshold at its node.
    """
    reached: dict[tuple[str, str, float], bool] = {}
    for r in tr.rows:
        if r["country"] in members:
            continue
        key = (str(r["supplier"]), str(r["country"]), float(r["share"]))
        reached[key] = reached.get(key, False) or bool(r["deminimis_reached"])
    return float(sum(k[2] for k, hit in reached.items() if hit))


def traced_sources(tracer: Tracer) -> dict[str, list[str]]:
    """Source ids of the chain data a tracer has read, by part (none if it traced nothing)."""
    if tracer._reo is None:
        return {}
    out = chain_sources(tracer.reo)
    if tracer._el:
        out.setdefault("composition", [])
        comp = tracer.reo.meta.get("sources", {}).get("composition", [])
        out["composition"] = sorted(set(out["composition"]) | set(comp))
    return out


def _claim_flags(st: Store, q: Quantity) -> str:
    flags: list[str] = []
    for c in q.source:
        if c.table == "intensity" and c.key:
            df = st.table("intensity").set_index("row_id")
            if c.key in df.index and isinstance(df.at[c.key, "flag"], str):
                flags.append(str(df.at[c.key, "flag"]))
    return "; ".join(dict.fromkeys(flags))


def citation_table(bom: Bom) -> pd.DataFrame:
    """Every sourced, flagged or annotated number of a BOM: one row per citation."""
    rows = []
    for path, q in quantities(bom):
        if not q.source and not q.assumption and not q.note:
            continue
        base = {"field": dotted(path), "value": q.text(), "assumption": q.assumption,
                "note": " ".join(q.note.split())}
        if not q.source:
            rows.append({**base, "source_id": "", "table": "", "key": "", "url": ""})
        for c in q.source:
            rows.append({**base, "source_id": c.source_id or "", "table": c.table or "",
                         "key": c.key or "", "url": c.url or "",
                         "note": "; ".join(x for x in (" ".join(q.note.split()), c.note)
                                           if x)})
    return pd.DataFrame(rows, columns=["field", "value", "assumption", "source_id", "table",
                                       "key", "url", "note"])
