"""Which years and stages the data cover, and each country's share of a stage over the years.

``stage_output`` holds many years and several editions (vintages) of each figure: USGS Data
Series 140 gives the world's mine output of rare earths from 2000 with the United States as
the only named producer, the Minerals Yearbook 2022 and the Mineral Commodity Summaries give a
country split from 2018, and most later stages exist for a few years only. This module says
which of those years can carry a supply-chain view (:func:`coverage`,
:func:`chain_year_check`) and reads a share over time (:func:`share_history`) without mixing
what one edition says with what another does.

Pure functions over the store's tables (an explicit ``store=``); no printing.

Coverage rule
-------------
A stage has a **country split** in a year when the newest row of each country (the rows a
chain uses) either covers at least :data:`SPLIT_MIN_COVER` of the newest world total (``WLD``)
for that year, or, where no edition gives a world total, names at least two producers. A
stage with a world total and no such split has a **world total only**. The chain verbs need a
country split at the mine stage (every other stage is sourced from it); later stages without
a split in the year are left out of the chain, with a note.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from oreflow.answer import Answer
from oreflow.chain.names import MATERIAL_ALIASES, RARE_EARTHS, RESIDUAL_CODES, STAGES
from oreflow.chain.tables import aggregate_codes, cited_sources, pick_vintage, select_material
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError, unknown

__all__ = [
    "HISTORY_COLUMNS",
    "ROUNDING",
    "SPLIT_MIN_COVER",
    "ChainYear",
    "chain_year_check",
    "coverage",
    "coverage_text",
    "history",
    "history_table",
    "share_history",
    "stage_year_check",
    "years_text",
]

#: Least share of the world total [-] the named producers must cover for a country split.
SPLIT_MIN_COVER = 0.5
#: Product the chain reads at the magnet stage (as :meth:`SupplyChain.from_tables` does).
_PRODUCT = "NdFeB"
#: Share of the world total [-] below which world less the named producers is rounding
#: (no residual row; the year's shares then sum to between 1 - ROUNDING and 1).
ROUNDING = 0.005
#: Code of the residual row: world total less the named producers.
RESIDUAL = "ROW"
#: Columns of :func:`share_history`, in order.
HISTORY_COLUMNS = ("year", "iso3", "tonnes", "share", "vintage", "source_id", "world_tonnes",
                   "share_of", "unit", "stage", "material", "flag", "latest")

Edition = Literal["latest", "all"] | str


def years_text(years: Iterable[int]) -> str:
    """Years as compact runs: ``[2000, 2005, 2008, 2009, 2010]`` → ``"2000, 2005, 2008-2010"``.

    Examples
    --------
    >>> years_text([2018, 2019, 2020, 2024, 2025, 2012])
    '2012, 2018-2020, 2024-2025'
    """
    ys = sorted({int(y) for y in years})
    runs: list[list[int]] = []
    for y in ys:
        if runs and y == runs[-1][-1] + 1:
            runs[-1].append(y)
        else:
            runs.append([y])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _is_chain_material(material: str) -> bool:
    return material in MATERIAL_ALIASES or material in RARE_EARTHS


def _stage_order(stages: Iterable[str]) -> list[str]:
    order = {s: i for i, s in enumerate(STAGES)}
    return sorted({str(s) for s in stages}, key=lambda s: (order.get(s, 99), s))


def _rows_of(so: pd.DataFrame, material: str, stage: str) -> pd.DataFrame:
    """Rows of ``material`` at one stage (any number of years).

    Chain materials are read as the chain reads them (the product at the magnet stage, the
    REO aliases), year by year; other minerals by their exact name.
    """
    rows = so[so["stage"].astype(str) == stage]
    if not _is_chain_material(material):
        return rows[rows["material"].astype(str) == material]
    parts = [select_material(g, material, _PRODUCT) for _, g in rows.groupby("year")]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts) if parts else rows.iloc[0:0]


def _ranked(rows: pd.DataFrame, ranks: dict[str, float]) -> pd.DataFrame:
    return rows.assign(_rank=rows["vintage"].astype(str).map(ranks).fillna(-1.0))


def coverage(material: str = "REO", *, store: Store | None = None,
             basis: str = "production", years: Iterable[int] | None = None) -> pd.DataFrame:
    """Per stage and year: the world total, the named producers and whether they split it.

    Element chains without their own mine rows for a year are the REO chain resolved by ore
    composition, so their coverage in that year is REO's (as for
    :meth:`SupplyChain.from_tables`).

    Returns
    -------
    pandas.DataFrame
        One row per stage and year with output: ``stage``, ``year``, ``material`` (the rows
        read), ``world_tonnes`` (newest world total, NaN if none) [t/yr],
        ``world_vintage``, ``producers`` (named producers with a tonnage), ``named_tonnes``
        [t/yr], ``cover`` (named / world [-], NaN without a world total) and ``split``
        (country split by the rule of :data:`SPLIT_MIN_COVER`). ``years`` limits the
        rows to those years.
    """
    st = resolve_store(store)
    so = st.table("stage_output")
    so = so[(so["basis"].astype(str) == basis) & so["year"].notna()]
    if years is not None:
        so = so[so["year"].isin([int(y) for y in years])]
    ranks = st.vintage_rank()
    excluded = aggregate_codes(st.table("countries") if "countries" in st.tables() else None)
    rows: list[dict[str, object]] = []
    for year in sorted({int(y) for y in so["year"]}):
        ys = so[so["year"] == year]
        read = material
        if material in RARE_EARTHS:
            own = ys[(ys["material"].astype(str) == material) & (ys["stage"] == "mine")
                     & ~ys["iso3"].astype(str).isin(excluded)]
            if own.empty:
                read = "REO"
        for stage in _stage_order(ys["stage"].dropna()):
            srows = _rows_of(ys, read, stage)
            if srows.empty:
                continue
            tonnes = pd.to_numeric(srows["tonnes"], errors="coerce")
            world_rows = _ranked(srows[(srows["iso3"] == "WLD") & tonnes.notna()], ranks)
            world = wv = None
            if not world_rows.empty:
                top = world_rows.sort_values("_rank", kind="stable").iloc[-1]
                world, wv = float(top["tonnes"]), str(top["vintage"])
            picked = pick_vintage(srows, ["iso3"], None, ranks)
            codes = picked["iso3"].astype(str)
            t = pd.to_numeric(picked["tonnes"], errors="coerce")
            named = picked[~codes.isin(excluded) & t.notna()]
            named_t = float(pd.to_numeric(named["tonnes"]).sum())
            producers = int((~named["iso3"].astype(str).isin(RESIDUAL_CODES)).sum())
            if world is not None and world > 0:
                cover = named_t / world
                split = cover >= SPLIT_MIN_COVER
            else:
                cover = float("nan")
                split = world is None and producers >= 2 and named_t > 0
            rows.append({
                "stage": stage, "year": year,
                "material": ", ".join(sorted(set(srows["material"].astype(str)))),
                "world_tonnes": world if world is not None else float("nan"),
                "world_vintage": wv, "producers": producers, "named_tonnes": named_t,
                "named_codes": ", ".join(sorted(set(named["iso3"].astype(str)))),
                "cover": cover, "split": bool(split)})
    cols = ["stage", "year", "material", "world_tonnes", "world_vintage", "producers",
            "named_tonnes", "named_codes", "cover", "split"]
    return pd.DataFrame(rows, columns=cols)


def coverage_text(cov: pd.DataFrame) -> str:
    """The coverage of :func:`coverage` in words, one clause per stage.

    Example: ``mine: world total 2000, 2005, 2008-2025, country split 2010, 2018-2025;
    magnet: country split 2017, 2020, 2024-2025, one producer only 2012, 2018-2019``
    (one producer only: a single country named and no world total).
    """
    parts = []
    for stage in _stage_order(cov["stage"]):
        c = cov[cov["stage"] == stage]
        bits = []
        world = c.loc[c["world_tonnes"].notna(), "year"]
        if not world.empty:
            bits.append(f"world total {years_text(world)}")
        split = c.loc[c["split"], "year"]
        bits.append(f"country split {years_text(split)}" if not split.empty
                    else "no country split")
        one = c.loc[~c["split"] & c["world_tonnes"].isna() & (c["producers"] == 1), "year"]
        if not one.empty:
            bits.append(f"one producer only {years_text(one)}")
        parts.append(f"{stage}: {', '.join(bits)}")
    return "; ".join(parts) if parts else "nothing"


@dataclass(frozen=True)
class ChainYear:
    """What the data give a chain of one material in one year.

    Attributes
    ----------
    leave_out : tuple of str
        Stages with output in the year but no country split (left out of the chain).
    notes : tuple of str
        Notes for the answer: stages left out or missing in the year, with the years that
        have a country split.
    """

    leave_out: tuple[str, ...]
    notes: tuple[str, ...]


def _why_not_split(row: Mapping[Any, Any]) -> str:
    """Why a stage-year of :func:`coverage` (one record) has no country split."""
    if pd.notna(row["world_tonnes"]):
        return (f"world total only ({row['world_tonnes']:,.0f} t, {row['world_vintage']}; "
                f"named producers {row['cover']:.0%} of it)")
    if int(row["producers"]) <= 1:
        who = row["named_codes"] or "no country"
        return f"one producer named ({who}) and no world total"
    return "no tonnage to split"


def chain_year_check(material: str, year: int, *, store: Store | None = None) -> ChainYear:
    """Check that ``year`` can carry a chain of ``material`` and say which stages it has.

    Raises
    ------
    InputError
        If the mine stage has no country split in ``year``; the one-line message lists the
        years with a world total and with a country split, stage by stage.
    """
    st = resolve_store(store)
    here = {str(r["stage"]): r for r in
            coverage(material, store=st, years=[year]).to_dict("records")}
    complete = all(s in here and bool(here[s]["split"]) for s in STAGES)
    if complete:  # the usual case, without reading every year
        return ChainYear((), ())
    cov = coverage(material, store=st)
    label = "REO" if material in RARE_EARTHS else material
    where = f"the data cover {label}: {coverage_text(cov)}"
    if material in RARE_EARTHS:
        where += f" ({material} from REO by ore composition where it has no mine rows)"
    hint = f"; oreflow history --material {label} --stage mine shows the years"
    if "mine" not in here:
        raise InputError(f"no {label} mine output in the data for {year}, so no supply chain "
                         f"for {year}; {where}{hint}")
    mine = here["mine"]
    if not bool(mine["split"]):
        raise InputError(f"{label} mine output for {year} has no country split: "
                         f"{_why_not_split(mine)}, so no supply chain for {year}; "
                         f"{where}{hint}")
    leave = [s for s in _stage_order(here) if not bool(here[s]["split"])]
    parts = []
    for stage in STAGES:
        years = cov.loc[(cov["stage"] == stage) & cov["split"], "year"]
        has = f" (country split in {years_text(years)})" if not years.empty else ""
        if stage in leave:
            parts.append(f"{stage} left out: {_why_not_split(here[stage])}{has}")
        elif stage not in here:
            parts.append(f"{stage}: no output in the data{has}")
    notes = (f"{year}: " + "; ".join(parts),) if parts else ()
    return ChainYear(tuple(leave), notes)


def stage_year_check(material: str, year: int, stage: str, *,
                     store: Store | None = None) -> None:
    """Raise a one-line :class:`InputError` if ``stage`` of the chain has no split in ``year``.

    The error of :func:`chain_year_check` if the year has no chain at all; otherwise, for a
    stage of :data:`STAGES` missing or left out in the year, says why and which years have a
    country split. Other stage names are left to the caller (an unknown-stage error).
    """
    chain_year_check(material, year, store=store)
    if stage not in STAGES:
        return
    cov = coverage(material, store=store)
    rows = cov[cov["stage"] == stage]
    label = "REO" if material in RARE_EARTHS else material
    years = rows.loc[rows["split"], "year"]
    has = f" (country split in {years_text(years)})" if not years.empty else ""
    here = rows[rows["year"] == year].to_dict("records")
    if not here:
        raise InputError(f"no {label} {stage} output in the data for {year}{has}")
    if not bool(here[0]["split"]):
        raise InputError(f"no country split of {label} {stage} output for {year}: "
                         f"{_why_not_split(here[0])}{has}")


# --- share history ---------------------------------------------------------------------------


def _shares_of(group: pd.DataFrame, excluded: frozenset[str]) -> pd.DataFrame:
    """Shares of one edition's (or one year's picked) rows, with the residual ``ROW`` row.

    ``group`` carries a boolean column ``latest``; the residual row takes the world total's.
    """
    t = pd.to_numeric(group["tonnes"], errors="coerce")
    codes = group["iso3"].astype(str)
    world_rows = group[(codes == "WLD") & t.notna()]
    world = float(world_rows["tonnes"].iloc[0]) if not world_rows.empty else None
    named = group[~codes.isin(excluded)].copy()
    named_t = float(pd.to_numeric(named["tonnes"], errors="coerce").sum())
    if world is not None and world >= named_t:
        denom, share_of = world, "world total"
        rest = world - named_t
        if rest > ROUNDING * world:  # less is the rounding of the published world total
            w = world_rows.iloc[0]
            res = w.copy()
            res["iso3"], res["tonnes"] = RESIDUAL, rest
            res["flag"] = "residual: world total less the named producers"
            named = pd.concat([named, res.to_frame().T])
    elif world is not None:
        denom, share_of = named_t, "named producers (their sum exceeds the rounded world total)"
    else:
        denom, share_of = named_t, "named producers (no world total)"
    named["tonnes"] = pd.to_numeric(named["tonnes"], errors="coerce")
    named["share"] = named["tonnes"] / denom if denom > 0 else float("nan")
    named["world_tonnes"] = world if world is not None else float("nan")
    named["share_of"] = share_of
    return named


def _check_countries(countries: Sequence[str] | None, st: Store) -> list[str] | None:
    """The countries as ISO3 codes (given by code or name: ``Japan`` → ``JPN``)."""
    from oreflow.chain.lookup import country_code

    if not countries:
        return None
    known = [str(c) for c in st.table("countries")["iso3"]]
    return [country_code(c, extra=known) for c in countries]


def share_history(material: str = "REO", stage: str = "mine", *, store: Store | None = None,
                  countries: Sequence[str] | None = None, edition: Edition = "latest",
                  basis: str = "production") -> pd.DataFrame:
    """Each country's output and share of a stage, year by year, with edition and source.

    Parameters
    ----------
    material : str, default "REO"
        Material as stored (``REO``, ``Dy``, ``Ga``, ``graphite`` …; at the magnet stage a
        chain material reads the magnet product, as the chain does).
    stage : str, default "mine"
        Stage (``mine``, ``separation``, ``metal``, ``magnet``).
    store : Store, optional
        Store to read (default: the embedded data with the user's imports).
    countries : sequence of str, optional
        ISO3 codes to keep (shares stay shares of the whole stage).
    edition : {"latest", "all"} or a vintage label, default "latest"
        ``latest``: per year, the newest edition with a world total, with its own country rows
        (no country carried over from another edition); where no edition gives a world total,
        the newest row of each country. ``all``: every edition of every year, each with
        shares of its own world total (shows revisions). A label (``MCS2025``): that
        edition only.
    basis : str, default "production"
        ``production`` or ``capacity`` rows.

    Returns
    -------
    pandas.DataFrame
        Tidy, one row per year, edition and country (:data:`HISTORY_COLUMNS`): ``tonnes``
        [t/yr], ``share`` [-] of ``share_of`` (the world total ``world_tonnes``, or the
        named producers' sum where there is no world total or it is below their sum),
        ``vintage``, ``source_id``, ``latest`` (the row the default view uses). Where the
        world total exceeds the named producers, a row ``ROW`` holds the difference (its
        source is the world total's), so each year's (and edition's) shares sum to 1 (to
        within :data:`ROUNDING` where the difference is only the world total's rounding).
        Countries without a tonnage (a range, a withheld figure) have NaN tonnes and share.

    Examples
    --------
    >>> h = share_history("REO", "mine")
    >>> h.loc[(h["year"] == 2024) & (h["iso3"] == "CHN"), ["vintage", "tonnes"]].values.tolist()
    [['MCS2026', 270000.0]]
    """
    st = resolve_store(store)
    mats = set(st.table("materials")["material"].astype(str))
    if material not in mats:
        raise unknown("material", material, mats)
    so = st.table("stage_output")
    if stage not in set(so["stage"].astype(str)):
        raise unknown("stage", stage, set(so["stage"].astype(str)))
    so = so[(so["basis"].astype(str) == basis) & so["year"].notna()]
    rows = _rows_of(so, material, stage)
    if rows.empty:
        has = so[so["material"].astype(str) == material]
        stages = [f"{s} ({years_text(has.loc[has['stage'] == s, 'year'])})"
                  for s in _stage_order(has["stage"].dropna())]
        raise InputError(f"no {basis} of {material} at the {stage} stage in the data"
                         + (f"; {material} has: {', '.join(stages)}" if stages else ""))
    countries = _check_countries(countries, st)
    ranks = st.vintage_rank()
    excluded = aggregate_codes(st.table("countries") if "countries" in st.tables() else None)
    if edition not in ("latest", "all"):
        labels = set(rows["vintage"].astype(str))
        if edition not in labels:
            raise unknown(f"edition of {material} {stage}", str(edition), labels)
    frames = []
    for _, ys in rows.groupby("year"):
        ys = _ranked(ys, ranks)
        world = ys[(ys["iso3"] == "WLD") & ys["tonnes"].notna()]
        if not world.empty:
            newest = str(world.sort_values("_rank", kind="stable")["vintage"].iloc[-1])
            pick_index = ys.index[ys["vintage"].astype(str) == newest]
        else:
            pick_index = pick_vintage(ys, ["iso3"], None, ranks).index
        ys = ys.assign(latest=ys.index.isin(pick_index))
        if edition == "latest":
            frames.append(_shares_of(ys.loc[pick_index], excluded))
            continue
        for vintage, g in ys.groupby("vintage", sort=False):
            if edition in ("all", vintage):
                frames.append(_shares_of(g, excluded))
    # object columns: editions differ in which columns are blank (no dtype guessing)
    out = pd.concat([f.astype(object) for f in frames])
    out["year"] = out["year"].astype(int)
    for col in ("share", "tonnes", "world_tonnes"):
        out[col] = out[col].astype(float)
    out["latest"] = out["latest"].astype(bool)
    out = out.assign(_r=out["vintage"].astype(str).map(ranks).fillna(-1.0),
                     _res=out["iso3"] == RESIDUAL)
    out = out.sort_values(["year", "_r", "_res", "tonnes", "iso3"],
                          ascending=[True, True, True, False, True], kind="stable")
    if countries:
        out = out[out["iso3"].isin(list(countries))]
    for col in HISTORY_COLUMNS:
        if col not in out:
            out[col] = pd.NA
    return out[list(HISTORY_COLUMNS)].reset_index(drop=True)


def history_table(hist: pd.DataFrame, *, countries: Sequence[str] | None = None,
                  top: int = 5) -> pd.DataFrame:
    """Years (and editions) as rows, the top producers' shares as columns, plus the rest.

    Parameters
    ----------
    hist : pandas.DataFrame
        Output of :func:`share_history` (all countries).
    countries : sequence of str, optional
        Countries to show; default: the ``top`` producers by their largest share in any year.
    top : int, default 5
        How many producers to show when ``countries`` is not given.

    Returns
    -------
    pandas.DataFrame
        ``year``, ``edition`` (vintages of the year's rows), ``world_t`` (world total [t/yr],
        blank where none), ``<ISO3> share`` per country shown, ``others share`` (the other
        named producers) and ``not split share`` (world total less the named producers, the
        ``ROW`` rows): each row sums to 1 [-].
    """
    key = ["year", "vintage"] if not hist["latest"].all() else ["year"]
    named = hist[hist["iso3"] != RESIDUAL]
    if countries:
        shown = list(countries)
    else:
        best = (named[~named["iso3"].isin(RESIDUAL_CODES)].groupby("iso3")["share"].max()
                .sort_values(ascending=False, kind="stable"))
        shown = [str(c) for c in best.index[:top]]
    rows = []
    for _, g in hist.groupby(key, sort=True):
        row: dict[str, object] = {"year": int(g["year"].iloc[0]),
                                  "edition": ", ".join(dict.fromkeys(g["vintage"].astype(str)))}
        world = g["world_tonnes"].dropna()
        row["world_t"] = float(world.iloc[0]) if not world.empty else float("nan")
        by = g.groupby("iso3")["share"].sum(min_count=1)
        for c in shown:
            row[f"{c} share"] = float(by.get(c, float("nan")))
        rest = g[~g["iso3"].isin([*shown, RESIDUAL])]["share"]
        row["others share"] = float(rest.sum()) if rest.notna().any() else 0.0
        row["not split share"] = float(by.get(RESIDUAL, 0.0))
        rows.append(row)
    return pd.DataFrame(rows)


def _history_notes(hist: pd.DataFrame, full: pd.DataFrame, edition: Edition) -> list[str]:
    def by_edition(rows: pd.DataFrame) -> str:
        if edition == "latest":
            return years_text(rows["year"])
        return "; ".join(f"{v} {years_text(g['year'])}"
                         for v, g in rows.groupby("vintage", sort=False))

    notes = []
    res = hist.assign(_res=hist["share"].where(hist["iso3"] == RESIDUAL, 0.0).fillna(0.0))
    per = res.groupby(["year", "vintage"], sort=False)["_res"].sum().reset_index()
    thin = per[per["_res"] > 1 - SPLIT_MIN_COVER]
    if not thin.empty:
        notes.append(f"less than {SPLIT_MIN_COVER:.0%} of the world total split by country "
                     f"('not split' is the rest): "
                     f"{by_edition(thin)}")
    for share_of in sorted(set(hist["share_of"].dropna()) - {"world total"}):
        rows = hist[hist["share_of"] == share_of].drop_duplicates(["year", "vintage"])
        notes.append(f"shares of the {share_of}: {by_edition(rows)}")
    if edition == "latest":
        unused = full[~full["latest"]]
        if not unused.empty:
            listed = "; ".join(f"{v} {years_text(g['year'])}"
                               for v, g in unused.groupby("vintage", sort=False))
            notes.append("other editions in the data, not used (older, or without a world "
                         f"total; --edition all shows them): {listed}")
    blank = hist[hist["tonnes"].isna()]
    if not blank.empty:
        notes.append("no single tonnage (a range or a withheld figure): "
                     + ", ".join(f"{i} {y}" for i, y in zip(blank["iso3"], blank["year"],
                                                           strict=True)))
    return notes


def history(material: str = "REO", stage: str = "mine", *, store: Store | None = None,
            countries: Sequence[str] | None = None, edition: Edition = "latest", top: int = 5,
            basis: str = "production") -> Answer:
    """The share history of a stage as an :class:`~oreflow.answer.Answer`.

    Tables: ``history`` (tidy rows of :func:`share_history`, only ``countries`` if given)
    and ``table`` (:func:`history_table`: years as rows, the top producers, or ``countries``,
    plus the others). Notes say which years lack a country split or a world total, and
    which editions were not used; sources are every ``source_id`` behind the rows shown.
    """
    st = resolve_store(store)
    countries = _check_countries(countries, st)
    hist = share_history(material, stage, store=st, edition=edition, basis=basis)
    full = (share_history(material, stage, store=st, edition="all", basis=basis)
            if edition == "latest" else hist)
    table = history_table(hist, countries=countries, top=top)
    rows = hist[hist["iso3"].isin(list(countries))] if countries else hist
    notes = _history_notes(hist, full, edition)
    for c in countries or ():
        if c not in set(hist["iso3"]):
            notes.append(f"{c}: no {material} {stage} figure of its own in the data")
    sources = cited_sources(hist)
    unit = ", ".join(sorted(set(hist["unit"].dropna().astype(str))))
    return Answer({"history": rows.reset_index(drop=True), "table": table}, sources, notes,
                  {"sources_by_part": {"stage_output": sources}, "unit": unit,
                   "years": sorted({int(y) for y in hist["year"]})})
