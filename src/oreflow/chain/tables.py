"""Reading the data tables into a chain: vintage choice, material rows, units, flows, ore mixes.

Helpers of :meth:`oreflow.chain.SupplyChain.from_tables`: each takes rows of one table (the
columns of ``docs/data-model.md``) and returns what the network needs, with what it skipped
noted in the chain's ``meta``. Pure pandas; no IO.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.chain.elements import (
    DEFAULT_RE_CONTENT_NDFEB,
    oxide_factor,
    recipe_content,
    reo_per_tonne,
)
from oreflow.chain.names import (
    BLOC_RESIDUALS,
    MATERIAL_ALIASES,
    NON_NODE_CODES,
    PRODUCT_ALIASES,
    RARE_EARTHS,
    REO_UNITS,
    RESIDUAL_CODES,
    STAGES,
)
from oreflow.errors import InputError

FloatArray = NDArray[np.float64]

__all__ = [
    "aggregate_codes",
    "chain_inputs",
    "cited_sources",
    "country_composition",
    "element_inputs",
    "final_use_frame",
    "known_flow_arrays",
    "market_average",
    "pick_vintage",
    "prepare_flows",
    "select_material",
    "stage_frame",
    "unit_factor",
    "vintage_ranks",
]

def cited_sources(rows: pd.DataFrame) -> list[str]:
    """Sorted ``source_id`` and ``other_source_ids`` cited by ``rows``."""
    ids: set[str] = set()
    for col in ("source_id", "other_source_ids"):
        if col in rows:
            for cell in rows[col].dropna().astype(str):
                ids.update(x.strip() for x in cell.split(";") if x.strip())
    return sorted(ids)


def aggregate_codes(countries: pd.DataFrame | None) -> frozenset[str]:
    codes = set(NON_NODE_CODES)
    if countries is not None and "kind" in countries:
        agg = countries.loc[countries["kind"].astype(str) == "aggregate", "iso3"].astype(str)
        codes |= set(agg)
    return frozenset(codes - RESIDUAL_CODES)


def vintage_ranks(vintages: pd.DataFrame | None) -> dict[str, float]:
    if vintages is None or vintages.empty:
        return {}
    ranks = pd.to_numeric(vintages["rank"], errors="coerce")
    return {str(v): float(r) for v, r in zip(vintages["vintage"], ranks, strict=True)}


def pick_vintage(
    rows: pd.DataFrame,
    key: list[str],
    wanted: str | None,
    ranks: Mapping[str, float],
    preferred: pd.Series | None = None,
) -> pd.DataFrame:
    """Newest vintage per key (or only ``wanted`` when the rows have it).

    ``preferred`` (aligned with ``rows``) marks rows that win over newer ones — flows whose
    vintage matches the exporter's output row.
    """
    if "vintage" not in rows or rows.empty:
        return rows
    labels = rows["vintage"].astype(str)
    if wanted is not None and (labels == wanted).any():
        return rows[labels == wanted]
    rank = labels.map(lambda v: ranks.get(v, -1.0)).astype(np.float64)
    if preferred is not None:
        rank = rank.where(~preferred.astype(bool), np.inf)
    order = pd.DataFrame({"rank": rank, "label": labels}, index=rows.index).sort_values(
        ["rank", "label"], kind="stable"
    )
    ordered = rows.loc[order.index]
    return ordered.drop_duplicates(key, keep="last")


def select_material(rows: pd.DataFrame, material: str, product: str) -> pd.DataFrame:
    """Rows of the chain's material at a stage (the product for the magnet stage)."""
    if rows.empty:
        return rows
    names = rows["material"].astype(str)
    for choice in (material, product, *PRODUCT_ALIASES):
        if (names == choice).any():
            return rows[names == choice]
    if material in MATERIAL_ALIASES:
        alias = names.isin(list(MATERIAL_ALIASES))
        if alias.any():
            return rows[alias]
    return rows.iloc[0:0]


def unit_factor(stage: str, unit: str, product_factor: float, material: str = "REO") -> float:
    """t REO-eq per unit of output at a stage; NaN if not convertible.

    Minerals other than rare earths (Ga, W, graphite …) are counted in plain tonnes of the
    material at every stage (factor 1).
    """
    u = unit.strip()
    if u in REO_UNITS:
        return 1.0
    rare = material in MATERIAL_ALIASES or material in RARE_EARTHS or material in (
        PRODUCT_ALIASES)
    if not rare and u == "t":
        return 1.0
    if stage == "magnet" and u in {"t_product", "t", "t_NdFeB"}:
        return product_factor
    if stage == "metal" and u in {"t", "t_metal"}:
        return oxide_factor("Nd")
    return float("nan")


def prepare_flows(
    flows: pd.DataFrame,
    year: int,
    material: str,
    product: str,
    units: Mapping[str, str],
    factors: Mapping[str, float],
    excluded: frozenset[str],
    ranks: Mapping[str, float],
    output_vintages: Mapping[tuple[str, str], str],
    meta: dict[str, Any],
) -> pd.DataFrame | None:
    rows = flows[pd.to_numeric(flows["year"], errors="coerce") == year]
    kept: list[pd.DataFrame] = []
    skipped: list[str] = []
    for stage in STAGES:
        srows = select_material(rows[rows["stage"].astype(str) == stage], material, product)
        if srows.empty or stage not in units:
            continue
        same = None
        if "vintage" in srows:
            exporter_vintage = pd.Series(
                [output_vintages.get((stage, c)) for c in srows["exporter"].astype(str)],
                index=srows.index, dtype=object)
            same = srows["vintage"].astype(str) == exporter_vintage
        srows = pick_vintage(srows, ["exporter", "importer"], None, ranks, same)
        unit = (
            srows["unit"].fillna("t_REO").astype(str)
            if "unit" in srows
            else pd.Series("t_REO", index=srows.index)
        )
        factor = pd.Series(
            [1.0 / factors[stage] if u in {"t_REO", "t_TREO"}
             else (1.0 if u == units[stage] else np.nan) for u in unit],
            index=unit.index, dtype=float)
        bad = (
            factor.isna()
            | srows["exporter"].astype(str).isin(excluded)
            | srows["importer"].astype(str).isin(excluded)
        )
        for _, r in srows[bad].iterrows():
            skipped.append(f"{stage}:{r['exporter']}->{r['importer']} ({r.get('unit', '')})")
        good = srows[~bad]
        if good.empty:
            continue
        kept.append(
            pd.DataFrame(
                {
                    "stage": stage,
                    "exporter": good["exporter"].astype(str).to_numpy(),
                    "importer": good["importer"].astype(str).to_numpy(),
                    "tonnes": (
                        pd.to_numeric(good["tonnes"], errors="coerce") * factor[~bad]
                    ).to_numpy(),
                }
            )
        )
    meta["flows_skipped"] = skipped
    return pd.concat(kept, ignore_index=True) if kept else None


def country_composition(composition: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame | None:
    """Country-average ore mix (rows ``deposit = country:ISO3``) as country × element."""
    deposit = composition["deposit"].astype(str)
    rows = composition[deposit.str.startswith("country:")]
    if rows.empty:
        meta["composition"] = "no country:ISO3 rows"
        return None
    iso = rows["deposit"].astype(str).str.slice(len("country:"))
    element = rows["element"].astype(str)
    share = pd.to_numeric(rows["share"], errors="coerce")
    ok = element.isin(list(RARE_EARTHS)) & share.notna()
    frame = pd.DataFrame({"iso3": iso[ok], "element": element[ok], "share": share[ok]})
    table = frame.pivot_table(index="iso3", columns="element", values="share", aggfunc="mean")
    table = table.fillna(0.0)
    sums = table.sum(axis=1)
    off = sums[(sums - 1.0).abs() > 0.01]
    if not off.empty:
        meta["composition_renormalised"] = {str(k): float(v) for k, v in off.items()}
    table = table.div(sums.where(sums > 0), axis=0).dropna(how="all")
    table.columns = pd.Index([str(c) for c in table.columns], name="element")
    table.index = pd.Index([str(c) for c in table.index], name="country")
    return table


def chain_inputs(
    stage_output: pd.DataFrame,
    flows: pd.DataFrame | None,
    composition: pd.DataFrame | None,
    recipes: pd.DataFrame | None,
    *,
    year: int,
    material: str,
    vintage: str | Mapping[str, str] | None,
    basis: str,
    vintages: pd.DataFrame | None,
    countries: pd.DataFrame | None,
    blocs: pd.DataFrame | None,
    consumption: pd.DataFrame | None,
    final_use: pd.DataFrame | None,
    recycling: pd.DataFrame | None,
    product: str,
    grade: str | None,
    excluded: frozenset[str],
) -> dict[str, Any]:
    """Keyword arguments of :class:`~oreflow.chain.SupplyChain` read from the data tables.

    The work of :meth:`SupplyChain.from_tables` (parameters documented there): pick each
    stage's rows of the material and year (newest vintage per key unless ``vintage`` names
    one), convert units to t REO-eq where a stage mixes them, drop aggregate codes (noted in
    ``meta``), read known flows, final use by stage and country, the country ore mixes,
    governance scores and blocs.
    """
    meta: dict[str, Any] = {"year": year, "material": material, "basis": basis}
    ranks = vintage_ranks(vintages)
    rows = stage_output[
        (pd.to_numeric(stage_output["year"], errors="coerce") == year)
        & (stage_output["basis"].astype(str) == basis)
    ]
    if rows.empty:
        raise InputError(f"no {basis} rows in stage_output for {year}")
    recipe: pd.Series | None = None
    if recipes is not None and not recipes.empty:
        recipe = recipe_content(recipes, product, grade or market_average(recipes, year))
        meta["recipe"] = {"recipe": str(recipe.name), **recipe.round(6).to_dict()}
    if recipe is None or recipe.empty:
        recipe = pd.Series({"Nd": DEFAULT_RE_CONTENT_NDFEB}, name="default 30 wt% RE as Nd")
        meta["recipe"] = {"recipe": str(recipe.name), "Nd": DEFAULT_RE_CONTENT_NDFEB}
    product_factor = reo_per_tonne(recipe)
    frames: dict[str, pd.Series] = {}
    units: dict[str, str] = {}
    factors: dict[str, float] = {}
    vintages_used: dict[str, list[str]] = {}
    output_vintages: dict[tuple[str, str], str] = {}
    dropped: dict[str, float] = {}
    sources_used: dict[str, list[str]] = {}
    for stage in STAGES:
        srows = select_material(rows[rows["stage"].astype(str) == stage], material, product)
        if srows.empty:
            continue
        wanted = vintage.get(stage) if isinstance(vintage, Mapping) else vintage
        srows = pick_vintage(srows, ["iso3"], wanted, ranks)
        sources_used[stage] = cited_sources(srows)
        tonnes = pd.to_numeric(srows["tonnes"], errors="coerce")
        codes = srows["iso3"].astype(str)
        is_node = ~codes.isin(excluded) & tonnes.notna()
        for code, value in zip(codes[~is_node], tonnes[~is_node], strict=True):
            if code != "WLD" and np.isfinite(value):
                dropped[f"{stage}:{code}"] = float(value)
        srows, tonnes, codes = srows[is_node], tonnes[is_node], codes[is_node]
        stage_units = (
            srows["unit"].fillna("t_REO").astype(str)
            if "unit" in srows
            else pd.Series("t_REO", index=srows.index)
        )
        row_factor = pd.Series(
            [unit_factor(stage, u, product_factor, material) for u in stage_units],
            index=stage_units.index, dtype=float)
        if row_factor.isna().any():
            bad = sorted(set(stage_units[row_factor.isna()]))
            raise InputError(f"stage '{stage}': cannot convert unit(s) {bad} to t REO")
        if stage_units.nunique() == 1:
            units[stage] = str(stage_units.iloc[0])
            factors[stage] = float(row_factor.iloc[0])
            values = tonnes
        else:  # mixed units: express the whole stage in t REO-eq
            units[stage] = "t_REO"
            factors[stage] = 1.0
            values = tonnes * row_factor
        frames[stage] = (
            pd.Series(values.to_numpy(), index=codes.to_numpy()).groupby(level=0).sum()
        )
        if "vintage" in srows:
            vintages_used[stage] = sorted(set(srows["vintage"].dropna().astype(str)))
            output_vintages.update(
                {(stage, c): str(v) for c, v in zip(codes, srows["vintage"], strict=True)}
            )
    if "mine" not in frames:
        raise InputError(f"no mine output of {material} in {year} ({basis})")
    missing_stages = [s for s in STAGES if s not in frames]
    for name, table in (("flows", flows), ("composition", composition),
                        ("recipes", recipes)):
        if table is not None and not table.empty:
            sources_used[name] = cited_sources(table)
    meta.update(
        vintages=vintages_used, stages_missing=missing_stages, aggregates_dropped=dropped,
        sources=sources_used,
    )
    output = pd.DataFrame(frames).T.fillna(0.0)
    uses = (final_use_frame(consumption, year, material, product, units, factors, excluded,
                            ranks, meta)
            if consumption is not None and not consumption.empty else None)
    if final_use is not None:
        given = final_use.copy()
        given.index = pd.Index([str(x) for x in given.index])
        uses = given if uses is None else pd.concat(
            [uses.drop(index=[x for x in given.index if x in uses.index]), given])
    if uses is not None:
        sources_used["consumption"] = meta.pop("consumption_sources", [])
    secondary, elements = element_inputs(stage_output, recycling, year, basis, ranks)
    if recycling is not None and secondary is not None:
        sources_used["recycling"] = cited_sources(
            recycling[pd.to_numeric(recycling["year"], errors="coerce") == year])
    flow_frame = None
    if flows is not None and not flows.empty:
        flow_frame = prepare_flows(
            flows, year, material, product, units, factors, excluded, ranks,
            output_vintages, meta,
        )  # fmt: skip
    comp = country_composition(composition, meta) if composition is not None else None
    governance = None
    if countries is not None and "governance_score" in countries:
        governance = pd.Series(
            pd.to_numeric(countries["governance_score"], errors="coerce").to_numpy(),
            index=countries["iso3"].astype(str).to_numpy(),
            name="governance_score",
        )
    bloc_map: dict[str, set[str]] = {}
    if blocs is not None and not blocs.empty:
        for b, code in zip(blocs["bloc"].astype(str), blocs["iso3"].astype(str), strict=True):
            bloc_map.setdefault(b, set()).add(code)
    for b, residual in BLOC_RESIDUALS.items():
        if b in bloc_map:
            bloc_map[b].add(residual)
    return {
        "output": output, "units": units, "reo_per_unit": factors, "flows": flow_frame,
        "final_use": uses, "secondary": secondary, "elements": elements,
        "composition": comp, "recipe": recipe, "governance": governance, "blocs": bloc_map,
        "year": year, "material": material, "meta": meta,
    }


def final_use_frame(
    consumption: pd.DataFrame,
    year: int,
    material: str,
    product: str,
    units: Mapping[str, str],
    factors: Mapping[str, float],
    excluded: frozenset[str],
    ranks: Mapping[str, float],
    meta: dict[str, Any],
) -> pd.DataFrame | None:
    """Final use of each stage's product by country from the ``consumption`` table.

    Rows of the year and of the stage's material (or product, for magnets) are summed over
    sectors, newest vintage per (stage, country, sector); aggregate codes are dropped (noted
    in ``meta["consumption_dropped"]``). Quantities in t REO at a stage counted in product
    are converted with the stage's REO factor. Returns stages × countries in each stage's
    unit, or None when the table has nothing for the year.
    """
    rows = consumption[pd.to_numeric(consumption["year"], errors="coerce") == year]
    out: dict[str, pd.Series] = {}
    dropped: dict[str, float] = {}
    cited: set[str] = set()
    for stage in units:
        srows = select_material(rows[rows["stage"].astype(str) == stage], material, product)
        if srows.empty:
            continue
        key = [c for c in ("iso3", "sector") if c in srows]
        srows = pick_vintage(srows, key, None, ranks)
        codes = srows["iso3"].astype(str)
        tonnes = pd.to_numeric(srows["tonnes"], errors="coerce")
        unit = srows["unit"].fillna(units[stage]).astype(str) if "unit" in srows else (
            pd.Series(units[stage], index=srows.index))
        scale = pd.Series(
            [1.0 if u == units[stage] else (1.0 / factors[stage] if u in REO_UNITS else np.nan)
             for u in unit], index=srows.index, dtype=float)
        if scale.isna().any():
            bad = sorted(set(unit[scale.isna()]))
            raise InputError(f"consumption at stage '{stage}': unit(s) {bad} do not match the "
                             f"stage's unit {units[stage]}")
        node = ~codes.isin(excluded) & tonnes.notna()
        for code, value in zip(codes[~node], tonnes[~node], strict=True):
            if np.isfinite(value):
                dropped[f"{stage}:{code}"] = dropped.get(f"{stage}:{code}", 0.0) + float(value)
        values = (tonnes * scale)[node]
        out[stage] = pd.Series(values.to_numpy(), index=codes[node].to_numpy()).groupby(
            level=0).sum()
        cited.update(cited_sources(srows[node]))
    if not out:
        return None
    meta["consumption_dropped"] = dropped
    meta["consumption_sources"] = sorted(cited)
    return pd.DataFrame(out).T.fillna(0.0)


def stage_frame(frame: pd.DataFrame, stages: Sequence[str], countries: pd.Index,
                 what: str) -> FloatArray:
    """A stages × countries frame as a finite, non-negative array in chain order."""
    f = frame.copy()
    f.index = pd.Index([str(s) for s in frame.index])
    f.columns = pd.Index([str(c) for c in frame.columns])
    arr: FloatArray = np.nan_to_num(
        f.reindex(index=list(stages), columns=countries).to_numpy(dtype=np.float64), nan=0.0)
    if np.any(arr < 0) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite and non-negative")
    return arr


def known_flow_arrays(
    flows: pd.DataFrame | None,
    stages: tuple[str, ...],
    countries: pd.Index,
    k: FloatArray,
) -> list[FloatArray | None]:
    """Known flows of each link as (n, n) arrays in t REO-eq/yr (None where there are none).

    ``flows`` rows name the exporting stage; tonnes are in that stage's unit.
    """
    links = len(stages) - 1
    known: list[FloatArray | None] = [None] * links
    if flows is None or flows.empty:
        return known
    position = {s: i for i, s in enumerate(stages[:-1])}
    stage_of = flows["stage"].astype(str)
    bad_stage = ~stage_of.isin(list(position))
    if bad_stage.any():
        raise ValueError(
            f"known flows must leave one of the stages {list(position)} (the exporting "
            f"stage); got {sorted(set(stage_of[bad_stage]))}"
        )
    t_idx = stage_of.map(position).to_numpy(dtype=np.intp)
    exp = countries.get_indexer(pd.Index(flows["exporter"].astype(str)))
    imp = countries.get_indexer(pd.Index(flows["importer"].astype(str)))
    tonnes = pd.to_numeric(flows["tonnes"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(tonnes)) or np.any(tonnes < 0):
        raise ValueError("known flows must be finite and non-negative")
    n = len(countries)
    arr = np.zeros((links, n, n))
    np.add.at(arr, (t_idx, exp, imp), tonnes * k[t_idx])
    present = np.bincount(t_idx, minlength=links) > 0
    return [arr[t] if present[t] else None for t in range(links)]


def element_inputs(
    stage_output: pd.DataFrame,
    recycling: pd.DataFrame | None,
    year: int,
    basis: str,
    ranks: Mapping[str, float],
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Recycled feed by stage and country [t REO/yr], and element data for element chains.

    Returns the secondary-feed frame (stages × countries, the recycling table's REO rows) and
    a long frame ``kind, stage, iso3, element, tonnes`` [t oxide/yr]: ``secondary`` rows are
    the elements in the recycled feed, ``output`` rows the element output that producers
    report (stage_output rows of an element or NdPr below the mine stage, newest vintage).
    """
    parts: list[pd.DataFrame] = []
    secondary = None
    if recycling is not None and not recycling.empty:
        rec = recycling[pd.to_numeric(recycling["year"], errors="coerce") == year]
        reo = rec[rec["material"].astype(str) == "REO"]
        if not reo.empty:
            secondary = reo.pivot_table(index="stage", columns="iso3", values="tonnes",
                                        aggfunc="sum").fillna(0.0)
        el = rec[rec["material"].astype(str).isin([*RARE_EARTHS, "NdPr"])]
        parts.append(pd.DataFrame({"kind": "secondary", "stage": el["stage"].astype(str),
                                   "iso3": el["iso3"].astype(str),
                                   "element": el["material"].astype(str),
                                   "tonnes": pd.to_numeric(el["tonnes"], errors="coerce")}))
    so = stage_output[(pd.to_numeric(stage_output["year"], errors="coerce") == year)
                      & (stage_output["basis"].astype(str) == basis)
                      & (stage_output["stage"].astype(str) != "mine")
                      & stage_output["material"].astype(str).isin([*RARE_EARTHS, "NdPr"])]
    if not so.empty:
        so = pick_vintage(so, ["stage", "material", "iso3"], None, ranks)
        parts.append(pd.DataFrame({"kind": "output", "stage": so["stage"].astype(str),
                                   "iso3": so["iso3"].astype(str),
                                   "element": so["material"].astype(str),
                                   "tonnes": pd.to_numeric(so["tonnes"], errors="coerce")}))
    elements = pd.concat(parts, ignore_index=True) if parts else None
    return secondary, elements


def market_average(recipes: pd.DataFrame, year: int) -> str | None:
    """The derived market-average grade for ``year`` (or the newest one before it), if any."""
    grades = sorted({str(g) for g in recipes["grade"].dropna()
                     if str(g).startswith("market average ")})
    dated = [(int(g.rsplit(" ", 1)[1]), g) for g in grades if g.rsplit(" ", 1)[1].isdigit()]
    before = [g for y, g in sorted(dated) if y <= year]
    return before[-1] if before else (grades[0] if grades else None)
