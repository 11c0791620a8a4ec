"""Stand-alone mineral markets (gallium, germanium, antimony) of the engine's baseline, and the
segment helpers the rare-earth baseline shares.

Each mineral is one market at its refined level (no recipe, no magnet coupling, demand only in
``other_uses``), built from the store's tables for one year:

- **production** by segment: China's output at the mineral's stage (``stage_output``), the
  other countries' rows of the same edition; where no country outside China has a row
  (germanium) the rest of the world is derived from China's published share of world output
  (``stage_shares``), flagged;
- **China's exports** (``trade``): the year's reported total, else derived from a reported
  change, else from the importers' side (apparent consumption x net import reliance x China's
  share of imports: antimony);
- **trade between segments**: China's exports go to the rest of the world unless targets are
  named; then to the targets by the destination split the trade table gives for that year, else
  by the targets' reported imports from China, else by the targets' share of non-Chinese
  apparent consumption (flagged), else none (flagged);
- **consumption** = production + imports - exports (apparent consumption: recycling and stock
  changes are not modelled);
- **prices**: China FOB (export) where reported, else China domestic; per segment China
  domestic for the controller and Europe/Rotterdam for the others, else flagged fallbacks.

No value dated after the baseline year is used as a base value; each base value's period and
source are recorded in the material's notes (a ``dates:`` line). Methods and gaps:
``docs/engine-baseline.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.data.store import Store

from .baseline import Regions

__all__ = [
    "KG_PER_LB",
    "MINERAL_SPECS",
    "MineralMarket",
    "MineralSpec",
    "NoteBook",
    "available_minerals",
    "mineral_market",
    "net_segment_trade",
    "period_months",
    "segment_members",
    "year_quote",
]

F = NDArray[np.float64]

#: Kilograms per avoirdupois pound (exact, by definition) [kg/lb].
KG_PER_LB = 0.45359237
#: Country codes that are never nodes of a segment (aggregates).
_AGGREGATES = frozenset({"WLD", "EUU", "ROW", "TOP3", "TOP10", "SEL18", "MMR+CHN"})


# -- notes ---------------------------------------------------------------------------------


class NoteBook:
    """Per-material notes and the period and source of every base value.

    ``add`` keeps free-text notes (method, source id, flags); ``date`` records which period a
    base value describes, rendered as one ``dates:`` note per material by :meth:`freeze`
    (``key=period [source] | ...``), so that tests and readers can check that no base value
    comes from after the baseline year.

    Examples
    --------
    >>> nb = NoteBook()
    >>> nb.add("Ga", "derived: something")
    >>> nb.date("Ga", "exports", "2022", "reuters_cna_2023_07_04_factbox")
    >>> nb.freeze()["Ga"]
    ('derived: something', 'dates: exports=2022 [reuters_cna_2023_07_04_factbox]')
    """

    def __init__(self) -> None:
        self._notes: dict[str, list[str]] = {}
        self._dates: dict[str, dict[str, str]] = {}

    def add(self, material: str, text: str) -> None:
        """Add a note to a material (duplicates are dropped)."""
        lst = self._notes.setdefault(material, [])
        if text not in lst:
            lst.append(text)

    def add_all(self, materials: Iterable[str], text: str) -> None:
        """Add the same note to several materials."""
        for m in materials:
            self.add(m, text)

    def date(self, material: str, key: str, period: str, source: str = "") -> None:
        """Record the period (``YYYY``, ``YYYY-MM``, ``YYYY-MM..MM``) a base value describes."""
        self._dates.setdefault(material, {})[key] = f"{period} [{source}]" if source else period

    def period(self, material: str, key: str) -> str:
        """The period recorded for a base value (without its source), or ``""``."""
        return self._dates.get(material, {}).get(key, "").split(" [")[0]

    def freeze(self) -> dict[str, tuple[str, ...]]:
        """Notes per material, with the ``dates:`` line last."""
        out: dict[str, tuple[str, ...]] = {}
        for m in {**self._notes, **self._dates}:
            lines = list(self._notes.get(m, []))
            if m in self._dates:
                d = self._dates[m]
                lines.append("dates: " + " | ".join(f"{k}={v}" for k, v in d.items()))
            out[m] = tuple(lines)
        return out


# -- segments ------------------------------------------------------------------------------


def segment_members(regions: Regions, eu27: Iterable[str] = ()) -> tuple[str, frozenset[str]]:
    """Controller and the effective set of target codes.

    The residual node ``XEU`` (EU27 members without a figure of their own) counts as a target
    when every EU27 member is a target (``eu27``: the members, e.g. from the ``blocs`` table).

    Examples
    --------
    >>> segment_members(Regions("CHN", ("DEU", "FRA")), ("DEU", "FRA"))[1] == {"DEU", "FRA", "XEU"}
    True
    """
    targets = set(regions.targets)
    eu = {c for c in eu27 if c != "XEU"}
    if eu and eu <= targets:
        targets.add("XEU")
    return regions.controller, frozenset(targets)


def _segment(iso3: str, controller: str, targets: frozenset[str]) -> int:
    if iso3 == controller:
        return 0
    return 2 if iso3 in targets else 1


def net_segment_trade(trade: F) -> F:
    """Net trade between segments that passes :func:`~oreflow.simulate.baseline.check_baseline`.

    Flows both ways between two segments are netted, and material that reaches a segment from
    the controller and leaves it again for the third segment is routed directly (controller
    -> third segment). Every segment's net position is unchanged; afterwards no segment that
    imports from the controller exports, so imports from the controller never exceed net
    imports.

    Parameters
    ----------
    trade : numpy.ndarray
        Gross flows, shape (M, 3, 3): ``trade[m, i, j]`` from segment i to j [t/yr].

    Returns
    -------
    numpy.ndarray
        Net flows, same shape, zero diagonal [t/yr].

    Examples
    --------
    >>> g = np.array([[[0.0, 10.0, 0.0], [2.0, 0.0, 3.0], [0.0, 0.0, 0.0]]])
    >>> net_segment_trade(g)[0]
    array([[0., 5., 3.],
           [0., 0., 0.],
           [0., 0., 0.]])
    """
    t = np.array(trade, dtype=np.float64, copy=True)
    idx = np.arange(3)
    t[:, idx, idx] = 0.0
    for _ in range(4):  # converges in two passes; bounded for safety
        for i, j in ((0, 1), (0, 2), (1, 2)):
            m = np.minimum(t[:, i, j], t[:, j, i])
            t[:, i, j] -= m
            t[:, j, i] -= m
        moved = 0.0
        for s, u in ((1, 2), (2, 1)):
            x = np.minimum(t[:, 0, s], t[:, s, u])
            t[:, 0, s] -= x
            t[:, s, u] -= x
            t[:, 0, u] += x
            moved += float(x.sum())
        if moved == 0.0:
            break
    return t


# -- small parsers -------------------------------------------------------------------------


def period_months(period: object, year: int) -> int | None:
    """Months of ``year`` a period label covers, or None if it is not inside the year.

    Examples
    --------
    >>> labels = ("2024", "2024-03", "2024-03-15", "2024-01..11", "2023", "c.2024")
    >>> [period_months(p, 2024) for p in labels]
    [12, 1, 1, 11, None, None]
    """
    s = str(period).strip()
    if s == str(year):
        return 12
    if re.fullmatch(rf"{year}-(0[1-9]|1[0-2])-\d\d", s):
        return 1
    m = re.fullmatch(rf"{year}-(\d\d)(?:\.\.(\d\d))?", s)
    if not m:
        return None
    a = int(m.group(1))
    b = int(m.group(2)) if m.group(2) else a
    return b - a + 1 if 1 <= a <= b <= 12 else None


def _mask(periods: pd.Series, year: int, *, single_month: bool = False) -> pd.Series:
    """Boolean mask of the labels inside ``year`` (only single months if asked)."""
    months = periods.map(lambda p: period_months(p, year))
    if single_month:
        return months == 1
    return months.notna()


def _period_span(period: object) -> tuple[int, int] | None:
    """(first year, last year) of a multi-year label such as ``2021-2024``."""
    s = str(period).strip()
    m = re.fullmatch(r"(\d{4})-(\d{4})", s)
    if m:
        return int(m.group(1)), int(m.group(2))
    m = re.fullmatch(r"(\d{4})", s)
    return (int(s), int(s)) if m else None


def _tonnes(value: float, unit: object) -> float | None:
    u = str(unit)
    if u == "t":
        return float(value)
    if u == "kg":
        return float(value) / 1000.0
    return None


def _with_tonnes(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with a column ``t``: the value in tonnes (NaN for other units)."""
    t = [_tonnes(v, u) for v, u in zip(rows["value"], rows["unit"], strict=True)]
    return rows.assign(t=pd.Series([np.nan if x is None else x for x in t], index=rows.index,
                                   dtype=np.float64))


def _usd_per_kg(row: Mapping[Any, Any]) -> float | None:
    """A price row's value in USD/kg (the low-high midpoint when only a range is given);
    None for other currencies (the data hold no exchange rate)."""
    v = row.get("value")
    val = float(v) if isinstance(v, (int, float)) and np.isfinite(v) else float("nan")
    if not np.isfinite(val):
        lo, hi = row.get("value_low"), row.get("value_high")
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) \
                and np.isfinite(lo) and np.isfinite(hi):
            val = (float(lo) + float(hi)) / 2.0
    if not np.isfinite(val):
        return None
    unit = str(row.get("unit"))
    if unit == "usd_per_kg":
        return val
    if unit == "usd_per_lb":
        return val / KG_PER_LB
    if unit == "usd_per_t":
        return val / 1000.0
    return None


def _source_dates(st: Store) -> dict[str, str]:
    src = st.table("sources")
    return {str(s): str(e) for s, e in zip(src["source_id"], src["edition"], strict=True)}


def _newest(rows: pd.DataFrame, st: Store) -> pd.DataFrame:
    """Rows sorted by publication (sources.edition; undated last), newest first."""
    dates = _source_dates(st)
    key = rows["source_id"].map(lambda s: dates.get(str(s), ""))
    key = key.where(key.str.match(r"^\d{4}"), "")
    return rows.assign(_pub=key).sort_values("_pub", ascending=False).drop(columns="_pub")


# -- specification -------------------------------------------------------------------------


@dataclass(frozen=True)
class MineralSpec:
    """How a mineral's market is read from the tables."""

    stage: str
    """``stage_output`` stage of the traded level."""
    level: str
    """What the traded level is (for notes)."""
    trade_word: str
    """Word that marks the mineral's rows in the ``trade`` product column."""
    rest_from_share: bool
    """Derive the rest of the world's output from China's published share when no country
    outside China has a row (germanium)."""
    domestic_product: str = ""
    """Preferred product word for price rows (e.g. ``low-purity``, ``metal``)."""


#: The three minerals and how each is read (``docs/engine-baseline.md``, *Minerals*).
MINERAL_SPECS: dict[str, MineralSpec] = {
    "Ga": MineralSpec("separation", "primary low-purity gallium metal", "gallium", False,
                      "low-purity"),
    "Ge": MineralSpec("separation", "refined germanium (refinery output)", "germanium", True,
                      "metal"),
    "Sb": MineralSpec("mine", "antimony in mine output (Sb content; no refined output by "
                      "country in the data)", "antimony", False, "metal"),
}


@dataclass
class MineralMarket:
    """One mineral's baseline market by segment (t/yr; prices USD/kg)."""

    material: str
    production: F
    """Output of the traded level, shape (3,) [t/yr]."""
    consumption: F
    """Apparent consumption, shape (3,) [t/yr]."""
    trade: F
    """Flows between segments, shape (3, 3) [t/yr]."""
    price: float
    """Base price: China FOB, else China domestic, else a flagged fallback [USD/kg]."""
    price_by_region: F
    """Base price in each segment's market, shape (3,) [USD/kg]."""
    origin: dict[tuple[str, str], F] = field(default_factory=dict)
    """(iso3, stage) -> share of each segment's output made there, shape (3,) [0-1]."""
    members_rest: tuple[str, ...] = ()
    """Countries with output in the rest segment."""


# -- production ----------------------------------------------------------------------------


def _stage_rows(st: Store, material: str, stage: str) -> pd.DataFrame:
    so = st.table("stage_output")
    sel = so[(so["material"].astype(str) == material) & (so["stage"].astype(str) == stage)
             & (so["basis"].astype(str) == "production") & so["tonnes"].notna()]
    rank = dict(zip(st.table("vintages")["vintage"].astype(str),
                    st.table("vintages")["rank"].astype(float), strict=True))
    return sel.assign(year=pd.to_numeric(sel["year"], errors="coerce"),
                      _rank=sel["vintage"].astype(str).map(rank).fillna(0.0))


def _china_share(st: Store, material: str, stage: str, year: int) -> tuple[float, str, str]:
    """China's published share of world output at the stage: mean of the rows of ``year``,
    else of the latest earlier year [0-1], with its period and sources."""
    ss = st.table("stage_shares")
    rows = ss[(ss["material"].astype(str) == material) & (ss["iso3"] == "CHN")
              & (ss["stage"].astype(str) == stage) & ss["share"].notna()]
    yr = pd.to_numeric(rows["year"].astype(str).str.slice(0, 4), errors="coerce")
    rows = rows.assign(_y=yr)[yr <= year]
    if rows.empty:
        return float("nan"), "", ""
    last = int(rows["_y"].max())
    sel = rows[rows["_y"] == last]
    return (float(sel["share"].astype(float).mean()), str(last),
            ", ".join(sorted(set(sel["source_id"].astype(str)))))


def _production(st: Store, material: str, year: int, spec: MineralSpec, notes: NoteBook
                ) -> dict[str, float] | None:
    """Output by country at the traded level [t/yr]; None if China's is unknown."""
    rows = _stage_rows(st, material, spec.stage)
    yr = rows[rows["year"] == year]
    chn = yr[yr["iso3"] == "CHN"].sort_values("_rank", ascending=False)
    out: dict[str, float] = {}
    if len(chn):
        r = chn.iloc[0]
        out["CHN"] = float(r["tonnes"])
        edition = str(r["vintage"])
        flag = f"; flags: {r['flag']}" if isinstance(r.get("flag"), str) else ""
        notes.add(material, f"China's output {out['CHN']:,.0f} t ({year}, {r['source_id']}"
                  f"{flag}; {spec.level})")
        notes.date(material, "production_CHN", str(year), str(r["source_id"]))
        others = chn.iloc[1:]
        if len(others):
            alt = ", ".join(f"{o['tonnes']:,.0f} t ({o['vintage']})" for _, o in others.iterrows())
            notes.add(material, f"other editions of China's {year} output not used: {alt}")
    else:
        edition = ""
        wld = yr[yr["iso3"] == "WLD"].sort_values("_rank", ascending=False)
        share, s_year, s_src = _china_share(st, material, spec.stage, year)
        if len(wld) and np.isfinite(share) and s_year == str(year):
            w = wld.iloc[0]
            out["CHN"] = float(w["tonnes"]) * share
            notes.add(material, f"fallback: no {year} output for China; world output "
                      f"{w['tonnes']:,.0f} t ({w['source_id']}) x China's share {share:.3f} "
                      f"(mean of the {year} rows, stage_shares: {s_src}) = {out['CHN']:,.1f} t")
            notes.date(material, "production_CHN", str(year), f"{w['source_id']}; {s_src}")
            edition = str(w["vintage"])
        else:
            early = rows[(rows["iso3"] == "CHN") & (rows["year"] < year)]
            if early.empty:
                return None
            r = early.sort_values(["year", "_rank"], ascending=False).iloc[0]
            out["CHN"] = float(r["tonnes"])
            notes.add(material, f"fallback: no {year} output for China; latest earlier figure "
                      f"carried: {out['CHN']:,.1f} t ({int(r['year'])}, {r['source_id']}, "
                      f"flags: {r.get('flag')}) - stale, later figures are not used because "
                      "they are dated after the baseline year")
            notes.date(material, "production_CHN", str(int(r["year"])), str(r["source_id"]))
    # other countries: the same edition as China's row, else the newest with country rows
    others = yr[~yr["iso3"].isin(["CHN", *_AGGREGATES]) & yr["iso3"].notna()]
    same = others[others["vintage"].astype(str) == edition] if edition else others.iloc[0:0]
    if same.empty and len(others):
        best = others.sort_values("_rank", ascending=False)["vintage"].iloc[0]
        same = others[others["vintage"] == best]
    for _, r in same.iterrows():
        out[str(r["iso3"])] = out.get(str(r["iso3"]), 0.0) + float(r["tonnes"])
    if len(same):
        ed = str(same["vintage"].iloc[0])
        listed = ", ".join(f"{c} {v:,.0f}" for c, v in out.items() if c != "CHN")
        notes.add(material, f"output outside China ({year}, {ed}): {listed} t")
        notes.date(material, "production_rest", str(year), str(same["source_id"].iloc[0]))
        wld = yr[(yr["iso3"] == "WLD") & (yr["vintage"].astype(str) == ed)]
        if len(wld):
            gap = float(wld["tonnes"].iloc[0]) - sum(out.values())
            if gap > 0.01 * float(wld["tonnes"].iloc[0]):
                out["OTH"] = out.get("OTH", 0.0) + gap
                notes.add(material, f"derived: world total less the listed countries, "
                          f"{gap:,.0f} t, assigned to other countries (OTH)")
    rest = sum(v for c, v in out.items() if c != "CHN")
    if rest <= 0 and spec.rest_from_share:
        share, s_year, s_src = _china_share(st, material, spec.stage, year)
        if np.isfinite(share) and 0 < share < 1:
            out["OTH"] = out["CHN"] * (1 - share) / share
            notes.add(material, f"estimate: no output by country outside China in the data; "
                      f"rest of world = China's output x (1 - s)/s with China's share s = "
                      f"{share:.3f} ({s_year}, stage_shares: {s_src}) = {out['OTH']:,.1f} t "
                      "(a published share used as a divisor; no bottom-up figure exists)")
            notes.date(material, "production_rest", s_year, s_src)
    elif rest <= 0:
        notes.add(material, f"no {year} output outside China in the data at the "
                  f"{spec.stage} stage: rest-of-world output zero (see docs/engine-baseline.md)")
    return out


# -- exports -------------------------------------------------------------------------------


def _trade_rows(st: Store, material: str, spec: MineralSpec) -> pd.DataFrame:
    tr = st.table("trade")
    word = tr["product"].astype(str).str.contains(spec.trade_word, case=False)
    return tr[(tr["material"].astype(str) == material) | word]


def _china_exports(st: Store, material: str, year: int, spec: MineralSpec, notes: NoteBook,
                   depth: int = 0) -> tuple[float, str] | None:
    """China's exports of the year [t], with the source; None if not in the data."""
    tr = _trade_rows(st, material, spec)
    ex = tr[(tr["reporter"] == "CHN") & (tr["flow"] == "export") & (tr["partner_iso3"] == "WLD")]
    annual = ex[(ex["period"].astype(str) == str(year)) & (ex["metric"] == "exports")]
    annual = _with_tonnes(annual)
    annual = annual[annual["t"].notna()]
    if len(annual):
        ranked = _newest(annual, st)
        r = ranked.iloc[0]
        vals = sorted({round(float(v), 3) for v in annual["t"]})
        if len(vals) > 1:
            notes.add(material, f"conflict: China's {year} exports reported as "
                      f"{', '.join(f'{v:,.2f}' for v in vals)} t; the most recently published "
                      f"figure is used ({float(r['t']):,.2f} t, {r['source_id']})")
        return float(r["t"]), str(r["source_id"])
    chg = ex[(ex["period"].astype(str) == str(year))
             & (ex["metric"] == "export_quantity_decline_yoy")]
    if len(chg) and depth == 0:
        prev = _china_exports(st, material, year - 1, spec, NoteBook(), depth + 1)
        if prev is not None:
            r = chg.iloc[0]
            val = prev[0] * (1 - float(r["value"]) / 100.0)
            notes.add(material, f"derived: China's {year} exports = {year - 1} exports "
                      f"{prev[0]:,.2f} t ({prev[1]}) x (1 - {float(r['value']):g}%) "
                      f"({r['source_id']}: '{r['metric']}') = {val:,.2f} t")
            return val, f"{prev[1]}; {r['source_id']}"
    months = ex[(ex["metric"] == "exports")]
    months = months[_mask(months["period"], year, single_month=True)]
    months = _with_tonnes(months)
    if len(months) and months["period"].nunique() == 12:
        tot = float(_newest(months, st).groupby("period")["t"].first().sum())
        notes.add(material, f"derived: China's {year} exports = sum of the 12 monthly rows "
                  f"= {tot:,.2f} t")
        return tot, "monthly rows"
    return None


def _importer_flows(st: Store, material: str, year: int, notes: NoteBook
                    ) -> list[tuple[str, float, float, str]]:
    """Importers' supply from China and from others [t/yr], from apparent consumption x net
    import reliance x China's share of imports (``demand``, ``import_dependence``)."""
    dem = st.table("demand")
    imp = st.table("import_dependence")
    out: list[tuple[str, float, float, str]] = []
    shares = imp[(imp["material"] == material) & (imp["supplier_iso3"] == "CHN")]
    for importer in sorted(set(shares["importer_iso3"].dropna().astype(str))):
        cons = dem[(dem["material"] == material) & (dem["iso3"] == importer)
                   & (dem["metric"] == "consumption") & (dem["sector"].astype(str) == "all")
                   & (dem["year"].astype(str) == str(year)) & dem["value"].notna()]
        cons = _with_tonnes(cons)
        cons = cons[cons["t"].notna()]
        nir = imp[(imp["material"] == material) & (imp["importer_iso3"] == importer)
                  & imp["supplier_iso3"].isna() & (imp["period"].astype(str) == str(year))
                  & imp["share"].notna()]
        sh = shares[shares["importer_iso3"] == importer]
        spans = [_period_span(p) for p in sh["period"]]
        sh = sh.assign(_a=[s[0] if s else np.nan for s in spans],
                       _b=[s[1] if s else np.nan for s in spans])
        # the latest period ending at or before the base year (never one that runs past it)
        cover = sh[sh["_b"] <= year]
        cover = cover[cover["_b"] == cover["_b"].max()] if len(cover) else cover
        stale = bool(len(cover)) and float(cover["_b"].max()) < year
        if cons.empty or nir.empty or cover.empty:
            continue
        form = cover["basis"].astype(str)
        pref = cover[form.str.contains("metal and oxide|combined")]
        pick = _newest(pref if len(pref) else cover, st).iloc[0]
        c = _newest(cons, st).iloc[0]
        n = _newest(nir, st).iloc[0]
        total = float(c["t"]) * float(n["share"])
        from_chn = total * float(pick["share"])
        src = f"{c['source_id']}; {n['source_id']}; {pick['source_id']}"
        notes.add(material, f"derived: {importer} imports {total:,.0f} t = apparent consumption "
                  f"{float(c['t']):,.0f} t x net import reliance {float(n['share']):.2f} "
                  f"({year}); from China {from_chn:,.0f} t = x China's share "
                  f"{float(pick['share']):.2f} of imports ({pick['period']}, {pick['basis']})"
                  f" [{src}]" + (" - the share's period ends before the baseline year (stale)"
                                 if stale else ""))
        notes.date(material, f"import_share_{importer}", str(pick["period"]),
                   str(pick["source_id"]))
        out.append((importer, from_chn, total - from_chn, src))
    return out


def _destination_share(ex: pd.DataFrame, country: str, year: int, exports: float
                       ) -> tuple[int, float, str, str] | None:
    """A country's share of China's exports from China's destination rows inside ``year``:
    the longest period with a quantity or percentage row for it (months, share, period,
    sources)."""
    best: tuple[int, float, str, str] | None = None
    for period, grp in ex.groupby(ex["period"].astype(str)):
        months = period_months(period, year)
        if months is None:
            continue
        own = grp[grp["partner_iso3"] == country]
        pct = own[own["metric"].astype(str).str.startswith("export share")]
        qty = own[own["metric"] == "exports"]
        if pct.empty and qty.empty:  # e.g. only export values (USD)
            continue
        if len(pct):
            share = float(pct["value"].astype(float).sum()) / 100.0
            srcs = ", ".join(sorted(set(pct["source_id"].astype(str))))
        else:
            wld = grp[(grp["partner_iso3"] == "WLD") & (grp["metric"] == "exports")]
            q_t = [_tonnes(v, u) for v, u in zip(qty["value"], qty["unit"], strict=True)]
            q_w = [x for x in (_tonnes(v, u) for v, u in zip(wld["value"], wld["unit"],
                                                             strict=True)) if x is not None]
            w_tot = max(q_w) if q_w else (exports if months == 12 else 0.0)
            if not w_tot > 0 or any(x is None for x in q_t):
                continue
            share = float(sum(x for x in q_t if x is not None)) / w_tot
            srcs = ", ".join(sorted(set(qty["source_id"].astype(str))))
        if best is None or months > best[0]:
            best = (months, min(share, 1.0), str(period), srcs)
    return best


def _target_share(st: Store, material: str, year: int, spec: MineralSpec,
                  targets: frozenset[str], exports: float, rest_output: float,
                  notes: NoteBook) -> tuple[float, str, str]:
    """Share of China's exports going to the targets [0-1], with its periods and sources.

    Per target country: China's destination rows inside the year (longest period), else the
    country's reported imports from China for the year, else its share of non-Chinese
    apparent consumption capped at its reported imports from all sources (flagged), else
    nothing (flagged).
    """
    tr = _trade_rows(st, material, spec)
    ex = tr[(tr["reporter"] == "CHN") & (tr["flow"] == "export")]
    dem = st.table("demand")
    total = 0.0
    periods: set[str] = set()
    sources: set[str] = set()
    none: list[str] = []
    for c in sorted(targets):
        dest = _destination_share(ex, c, year, exports)
        if dest is not None:
            months, share, period, srcs = dest
            notes.add(material, f"{c}: share of China's exports {share:.3f} from China's "
                      f"destination rows for {period} ({months} month(s); {srcs})"
                      + ("" if months == 12 else " - a part of the year, flagged"))
            total += share
            periods.add(period)
            sources.add(srcs)
            continue
        imp = tr[(tr["reporter"] == c) & (tr["flow"] == "import") & (tr["partner_iso3"] == "CHN")
                 & (tr["metric"] == "imports") & (tr["period"].astype(str) == str(year))]
        q = [_tonnes(v, u) for v, u in zip(imp["value"], imp["unit"], strict=True)]
        if len(imp) and all(x is not None for x in q) and exports > 0:
            tot = float(sum(x for x in q if x is not None))
            srcs = ", ".join(sorted(set(imp["source_id"].astype(str))))
            notes.add(material, f"{c}: share of China's exports {tot / exports:.3f} = its "
                      f"reported imports from China {tot:,.2f} t ({year}, {srcs}) / exports")
            total += tot / exports
            periods.add(str(year))
            sources.add(srcs)
            continue
        cons = dem[(dem["material"] == material) & (dem["iso3"] == c)
                   & (dem["metric"] == "consumption") & (dem["sector"].astype(str) == "all")
                   & (dem["year"].astype(str) == str(year)) & dem["value"].notna()]
        if len(cons) and exports + rest_output > 0:
            cons = _with_tonnes(cons)
            r = _newest(cons, st).iloc[0]
            share = float(r["t"]) / (exports + rest_output)
            text = (f"{c}: fallback - no destination split of China's {year} exports; share = "
                    f"its reported consumption {float(r['t']):,.2f} t ({r['source_id']}) / "
                    f"non-Chinese apparent consumption {exports + rest_output:,.2f} t = "
                    f"{share:.3f}")
            imps = tr[(tr["reporter"] == c) & (tr["flow"] == "import")
                      & (tr["partner_iso3"] == "WLD") & (tr["metric"] == "imports")
                      & (tr["period"].astype(str) == str(year))
                      & (tr["product"].astype(str).str.strip() == "metal")]
            if len(imps) and exports > 0:
                imps = _with_tonnes(imps)
                cap_row = _newest(imps, st).iloc[0]
                cap = float(cap_row["t"])
                if share * exports > cap:
                    share = cap / exports
                    text += (f"; capped at its reported imports from all sources {cap:,.2f} t "
                             f"({year}, {cap_row['source_id']}) -> {share:.3f}: an upper bound "
                             "(all of those imports treated as coming from China)")
            notes.add(material, text)
            total += share
            periods.add(str(year))
            sources.add(str(r["source_id"]))
            continue
        none.append(c)
    if none:
        notes.add(material, f"fallback: no destination split, imports from China or "
                  f"consumption for {year} in the data for {', '.join(none)}: none of China's "
                  "exports assigned to them")
    if total > 1.0:
        notes.add(material, f"targets' shares add up to {total:.3f}; capped at 1")
    return min(total, 1.0), ", ".join(sorted(periods)), "; ".join(sorted(sources))


# -- prices --------------------------------------------------------------------------------


def year_quote(st: Store, material: str, year: int, markets: Sequence[str],
            product_word: str = "", fob_other: bool = False) -> tuple[float, str, str] | None:
    """Base price of the year in the given markets [USD/kg]: the annual average (preferring
    rows whose product names ``product_word``), else the mean of the year's quotes.

    Returns (price [USD/kg], what it is, source ids), or None when the prices table has no
    USD-convertible row of the year in those markets (``fob_other``: also rows of market
    ``other`` that say they are China export prices).
    """
    p = st.table("prices")
    rows = p[(p["material"] == material)]
    mk = rows["market"].astype(str)
    is_fob = mk.isin(markets)
    if fob_other:
        txt = (rows["product"].astype(str) + " " + rows["note"].astype(str)).str.lower()
        said = txt.str.contains("export price|export fob|free-on-board")
        is_fob = is_fob | ((mk == "other") & said)
    rows = rows[is_fob]
    rows = rows[_mask(rows["date"], year)]
    if rows.empty:
        return None
    usd = [_usd_per_kg(r) for r in rows.to_dict("records")]
    rows = rows.assign(usd=pd.Series([np.nan if x is None else x for x in usd],
                                     index=rows.index, dtype=np.float64))
    rows = rows[rows["usd"].notna()]
    if rows.empty:
        return None
    if product_word:
        pref = rows[rows["product"].astype(str).str.contains(product_word, case=False)]
        rows = pref if len(pref) else rows
    annual = rows[rows["period_type"] == "annual_avg"]
    if len(annual):
        r = _newest(annual, st).iloc[0]
        return float(r["usd"]), f"{year} annual average, {r['product']} ({r['market']})", \
            str(r["source_id"])
    vals = rows["usd"].astype(float)
    dates = ", ".join(str(d) for d in rows["date"])
    srcs = ", ".join(sorted(set(rows["source_id"].astype(str))))
    return float(vals.mean()), f"mean of {len(vals)} quote(s) of {year} ({dates})", srcs


def _prices(st: Store, material: str, year: int, spec: MineralSpec, notes: NoteBook
            ) -> tuple[float, F]:
    fob = year_quote(st, material, year, ("china_fob", "china_fob_export"), fob_other=True)
    dom = year_quote(st, material, year, ("china_domestic",), spec.domestic_product)
    eur = year_quote(st, material, year, ("europe", "rotterdam"), spec.domestic_product)
    usa = year_quote(st, material, year, ("us",), spec.domestic_product)
    cny = st.table("prices")
    cny = cny[(cny["material"] == material) & (cny["market"] == "china_domestic")
              & cny["unit"].astype(str).str.startswith("cny")]
    cny = cny[_mask(cny["date"], year)]
    if len(cny):
        notes.add(material, f"{len(cny)} China-domestic quote(s) of {year} in CNY not used: "
                  "the data hold no exchange rate")
    base = fob or dom or eur or usa
    if base is None:
        raise ValueError(f"no {year} price for {material} in the prices table")
    which = ("China FOB (export)" if fob else "China domestic (no FOB quote)" if dom
             else "fallback: no China quote; Europe/Rotterdam" if eur
             else "fallback: no China or European quote; US price")
    notes.add(material, f"base price {base[0]:,.2f} USD/kg: {which}, {base[1]} [{base[2]}]")
    notes.date(material, "price", str(year), base[2])
    p0 = dom or base
    if dom is None:
        notes.add(material, f"fallback: no {year} China-domestic USD quote; the controller "
                  "segment gets the base price")
    else:
        notes.add(material, f"controller segment price {dom[0]:,.2f} USD/kg: China domestic, "
                  f"{dom[1]} [{dom[2]}]")
    p1 = eur or usa or base
    if eur is not None:
        notes.add(material, f"rest/targets price {eur[0]:,.2f} USD/kg: Europe/Rotterdam, "
                  f"{eur[1]} [{eur[2]}]")
    elif usa is not None:
        notes.add(material, f"fallback: no {year} Europe/Rotterdam quote; rest/targets price "
                  f"{usa[0]:,.2f} USD/kg from the US market, {usa[1]} [{usa[2]}] (customs "
                  "unit value or CIF, not a European quotation)")
    else:
        notes.add(material, f"fallback: no {year} price outside China; rest/targets get the "
                  "base price")
    notes.date(material, "price_by_region", str(year), f"{p0[2]}; {p1[2]}")
    return base[0], np.array([p0[0], p1[0], p1[0]])


# -- the market ----------------------------------------------------------------------------


def available_minerals(st: Store, year: int) -> tuple[str, ...]:
    """Minerals whose market can be built for ``year`` (China's output and a China-export or
    importer figure for the year in the data)."""
    out = []
    for m, spec in MINERAL_SPECS.items():
        nb = NoteBook()
        if _production(st, m, year, spec, nb) is None:
            continue
        if _china_exports(st, m, year, spec, nb) is None and not _importer_flows(st, m, year,
                                                                                  nb):
            continue
        out.append(m)
    return tuple(out)


def mineral_market(st: Store, material: str, year: int, regions: Regions,
                   notes: NoteBook, *, eu27: Iterable[str] = ()) -> MineralMarket:
    """One mineral's baseline market for ``year``.

    Parameters
    ----------
    st : oreflow.data.store.Store
        Where the tables are read.
    material : str
        ``Ga``, ``Ge`` or ``Sb``.
    year : int
        Baseline year; no value dated after it is used.
    regions : Regions
        Controller and named targets.
    notes : NoteBook
        Receives the method notes and the period of every base value.
    eu27 : iterable of str, optional
        EU27 members (``XEU`` counts as a target when all are targets).

    Returns
    -------
    MineralMarket

    Raises
    ------
    ValueError
        If the data do not allow the market for the year, or the controller is not China.

    Notes
    -----
    With q the output by segment, X China's exports and s the targets' share of them:
    trade[0, 1] = (1 - s) X, trade[0, 2] = s X and consumption = q + imports - exports.
    Antimony has no China-export row: X is the importers' supply from China (apparent
    consumption x net import reliance x China's share of imports), and the importer's
    supply from others flows from the rest segment.
    """
    spec = MINERAL_SPECS[material]
    controller, targets = segment_members(regions, eu27)
    if controller != "CHN":
        raise ValueError(f"the {material} market is built around China's output and exports: "
                         f"controller {controller!r} is not supported")
    prod_c = _production(st, material, year, spec, notes)
    if prod_c is None:
        raise ValueError(f"no {year} output of {material} for China in stage_output")
    q = np.zeros(3)
    for c, v in prod_c.items():
        q[_segment(c, controller, targets)] += v
    trade = np.zeros((3, 3))
    exp = _china_exports(st, material, year, spec, notes)
    if exp is not None:
        x, src = exp
        notes.add(material, f"China's exports {x:,.2f} t ({year}, {src})")
        notes.date(material, "exports", str(year), src)
        s, s_period, s_src = (0.0, "", "")
        if targets:
            s, s_period, s_src = _target_share(st, material, year, spec, targets, x,
                                               float(q[1] + q[2]), notes)
            if s_period:
                notes.date(material, "target_share", s_period, s_src)
        trade[0, 1] = x * (1 - s)
        trade[0, 2] = x * s
    else:
        flows = _importer_flows(st, material, year, notes)
        if not flows:
            raise ValueError(f"no {year} China-export figure for {material} in the data")
        for importer, from_chn, from_other, src in flows:
            seg = _segment(importer, controller, targets)
            if seg == 0:
                continue
            trade[0, seg] += from_chn
            if seg == 2:
                trade[1, 2] += from_other
            notes.date(material, f"imports_{importer}", str(year), src)
        notes.add(material, "gap: China's exports are not in the data; the baseline's controller "
                  f"exports are the importers' supply from China only ({trade[0].sum():,.0f} t;"
                  " other destinations unknown, set to zero) - China's controlled exports are "
                  "understated")
    cons = q + trade.sum(axis=0) - trade.sum(axis=1)
    for s_i in range(3):
        if cons[s_i] < 0:
            notes.add(material, f"balancing: segment {s_i} exports {-cons[s_i]:,.2f} t more "
                      f"than it produces ({100 * -cons[s_i] / q.sum():.1f}% of world supply); "
                      "the shortfall is added to its output (stock draw or unrecorded output)")
            q[s_i] -= cons[s_i]
            cons[s_i] = 0.0
    notes.add(material, "consumption = output + imports - exports (apparent consumption; "
              "recycling, stocks and state purchases not modelled)")
    price, pbr = _prices(st, material, year, spec, notes)
    origin: dict[tuple[str, str], F] = {}
    for c, v in prod_c.items():
        sg = _segment(c, controller, targets)
        if v > 0 and q[sg] > 0:
            arr = np.zeros(3)
            arr[sg] = v / q[sg]
            origin[(c, spec.stage)] = arr
    rest = tuple(sorted(c for c in prod_c if _segment(c, controller, targets) == 1))
    return MineralMarket(material, q, cons, trade, price, pbr, origin, rest)
