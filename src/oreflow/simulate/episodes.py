"""The two historical episodes the engine is calibrated and validated on.

* ``re-2010`` — China's 2010-2012 rare-earth export quotas, the autumn 2010 halt of
  shipments to Japan and the 2011 production cap (scenario ``china-2010-quota``);
* ``gage-2023`` — China's gallium and germanium export licensing from August 2023 and the
  December 2024 ban on shipments to the United States (scenario ``gage-2023``).

:func:`observations` turns the history rows of the store (``prices`` and ``trade`` with a
``series``, docs/data.md *History*; plus the dated rows of the older price table for
2010-2012) into observed *multiples* of the pre-episode level, each with its month in the
scenario, its source and a label; :func:`model_values` reads the same quantities off a run,
per draw. Nothing here encodes an outcome in a scenario: the scenarios hold policy facts,
the observations are only compared with.

Conventions (docs/validation.md): an outside price is the non-controller segments'
consumption-weighted price; the base of an observed multiple is the same market's level at
the scenario start, where the engine starts from its base (the 2010-Q1 average FOB China
for rare earths; the last quote before 3 July 2023 for gallium and germanium); a ratio
observation compares two quotes of one market (e.g. 'fell 9% on the month'); an export
observation is the controller's exports over its pre-episode monthly rate. The peak month
of a series is the first month within 5% of its highest value.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.data.store import Store, resolve_store

from .result import Result
from .scenario import ELEMENTS, month_offset

__all__ = [
    "EPISODES",
    "MIN_NOISE_MONTHS",
    "Episode",
    "model_values",
    "month_noise",
    "observations",
    "peak_month",
]

F = NDArray[np.float64]

#: Share of the highest value at which a series counts as at its peak (plateaus).
PEAK_SHARE = 0.95


@dataclass(frozen=True)
class Episode:
    """A calibration episode: its scenario, the series whose peak is scored, its data."""

    name: str
    """Short identifier (``re-2010``, ``gage-2023``)."""
    title: str
    """One line for reports."""
    scenario: str
    """Built-in scenario that encodes the episode's policy facts."""
    headline: tuple[str, ...]
    """Materials whose outside price peak is scored."""
    build: Callable[[Store, _dt.date], pd.DataFrame]
    """Builds the observation table (see :func:`observations`)."""


# --------------------------------------------------------------------------------------
# Dates and values
# --------------------------------------------------------------------------------------


def _span(date: str, period: str, start: _dt.date) -> tuple[float, float] | None:
    """Months [from, to) from ``start`` that a dated row covers (None: unparseable)."""
    s = str(date)
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", s):
        a = month_offset(_dt.date(int(m[1]), int(m[2]), 1), start)
        return a, a + 1.0
    if m := re.fullmatch(r"(\d{4})-(\d{2})", s):
        a = month_offset(_dt.date(int(m[1]), int(m[2]), 1), start)
        return a, a + 1.0
    if m := re.fullmatch(r"(\d{4})-Q([1-4])", s):
        a = month_offset(_dt.date(int(m[1]), 3 * int(m[2]) - 2, 1), start)
        return a, a + 3.0
    if m := re.fullmatch(r"(\d{4})-(\d{2})\.\.(\d{2})", s):
        a = month_offset(_dt.date(int(m[1]), int(m[2]), 1), start)
        return a, month_offset(_dt.date(int(m[1]), int(m[3]), 1), start) + 1.0
    if m := re.fullmatch(r"(\d{4})", s):
        a = month_offset(_dt.date(int(m[1]), 1, 1), start)
        if period == "year_end":
            return a + 11.0, a + 12.0
        return a, a + 12.0
    return None


def _mid(row: pd.Series) -> float:
    """A row's value, or the midpoint of its range."""
    v = row.get("value")
    if pd.notna(v):
        return float(v)
    return 0.5 * (float(row["value_low"]) + float(row["value_high"]))


def _obs(episode: str, kind: str, side: str, material: str, span: tuple[float, float],
         value: float, row: pd.Series, label: str, *, ref: tuple[float, float] | None = None,
         ref_stat: str = "mean", low: float = np.nan, high: float = np.nan,
         noise_sd: float = 0.0) -> dict[str, object]:
    return {
        "episode": episode, "kind": kind, "side": side, "material": material,
        "month_from": span[0], "month_to": span[1],
        "ref_from": np.nan if ref is None else ref[0], "ref_to": np.nan if ref is None else ref[1],
        "ref_stat": ref_stat,
        "observed": value, "observed_low": low, "observed_high": high,
        "noise_sd": noise_sd, "label": label,
        "source_id": str(row.get("source_id", "")),
        "flag": "" if pd.isna(row.get("flag")) else str(row.get("flag")),
        "row_id": str(row.get("row_id", "")),
    }  # fmt: skip


def _in_window(span: tuple[float, float] | None, horizon: float) -> bool:
    return span is not None and span[0] >= 0 and span[1] <= horizon + 1e-9


# --------------------------------------------------------------------------------------
# 2010-2012 rare earths
# --------------------------------------------------------------------------------------

#: Markets read as the price outside China (FOB China, FOB export, international, USGS).
_RE_OUTSIDE = ("china_fob", "china_fob_export", "other", "international", "unspecified (MCS)")
_RE_MATERIALS = ("La", "Ce", "Pr", "Nd", "Dy")
_RE_HORIZON = 36.0
#: The quote that sets each material's pre-episode level: the first quarter of the
#: scenario (prices had already risen 15-45% above their 2009 average, before any 2010
#: policy; the engine starts from its base in January 2010).
_RE_BASE = "2010-Q1"


def _re2010(st: Store, start: _dt.date) -> pd.DataFrame:
    """Observations of the 2010-2012 episode (docs/validation.md lists the rules)."""
    p = st.table("prices")
    rows: list[dict[str, object]] = []
    # base: the market at the scenario start, the 2010-Q1 average FOB China of the same
    # material (Lynas table via RareMetalBlog); the base quote itself is not an observation
    base_rows = p[(p["date"].astype(str) == _RE_BASE) & (p["period_type"] == "quarter_avg")
                  & (p["market"] == "china_fob") & (p["series"] == "re_2009_2012")]
    base = {str(r["material"]): _mid(r) for _, r in base_rows.iterrows()}
    base_ids = set(base_rows["row_id"].astype(str))
    sel = p[p["material"].isin(_RE_MATERIALS) & p["market"].isin(_RE_OUTSIDE)
            & (p["unit"] == "usd_per_kg") & p["product"].astype(str).str.contains("oxide")
            & p["period_type"].isin(["month_avg", "quarter_avg", "point", "year_end"])]
    for _, r in sel.iterrows():
        m = str(r["material"])
        span = _span(str(r["date"]), str(r["period_type"]), start)
        if m not in base or str(r["row_id"]) in base_ids or span is None \
                or not _in_window(span, _RE_HORIZON):
            continue
        lo, hi = r.get("value_low"), r.get("value_high")
        rows.append(_obs(
            "re-2010", "price", "outside", m, span, _mid(r) / base[m], r,
            f"{r['date']} {r['market']}",
            low=float(lo) / base[m] if pd.notna(lo) else np.nan,
            high=float(hi) / base[m] if pd.notna(hi) else np.nan))
    # inside China: the fall from the 2011 high to late 2012 (one market, one unit)
    dom = p[(p["market"] == "china_domestic") & (p["series"] == "re_2009_2012")]
    dom = dom[dom["product"].astype(str).str.contains("oxide")]
    for m, top, end in (("NdPr", "2011", "2012-12-25"), ("Dy", "2011-09-09", "2012-12")):
        hi_rows = dom[(dom["material"] == m) & (dom["date"].astype(str) == top)]
        lo_rows = dom[(dom["material"] == m) & (dom["date"].astype(str) == end)]
        if hi_rows.empty or lo_rows.empty:
            continue
        h, lo_row = hi_rows.iloc[0], lo_rows.iloc[0]
        scale = 1000.0 if str(h["unit"]) == "cny_per_kg" and str(lo_row["unit"]) == "cny_per_t" \
            else 1.0
        ratio = _mid(lo_row) / (_mid(h) * scale)
        # 'the highest point in 2011' is undated: compare with the model's 2011 high
        high = str(h["period_type"]) == "point" and len(top) == 4
        ref = _span(top, "annual_avg" if high else "point", start)
        span = _span(end, "point", start)
        if span is None or ref is None:
            continue
        material = "Nd" if m == "NdPr" else m
        rows.append(_obs("re-2010", "ratio", "inside", material, span, ratio, lo_row,
                         f"{end} / {top}{' high' if high else ''} china_domestic {m}",
                         ref=ref, ref_stat="max" if high else "mean"))
    # exports: China's rare-earth exports over the 2009 monthly rate
    tr = st.table("trade")
    ex = tr[(tr["series"] == "re_2009_2012") & (tr["reporter"] == "CHN")
            & (tr["flow"] == "export") & (tr["partner_iso3"] == "WLD")
            & (tr["metric"] == "exports") & (tr["unit"] == "t")
            & tr["product"].astype(str).str.startswith("rare earths (ores")]
    y2009 = ex[ex["period"].astype(str) == "2009"]
    if not y2009.empty:
        monthly = float(y2009["value"].iloc[0]) / 12.0
        for _, r in ex.iterrows():
            span = _span(str(r["period"]), "", start)
            if not _in_window(span, _RE_HORIZON) or span is None or pd.isna(r["value"]):
                continue
            if any(f in str(r.get("flag", "")) for f in ("projection", "UNVERIFIED")):
                continue
            rate = float(r["value"]) / (span[1] - span[0])
            rows.append(_obs("re-2010", "exports", "controller", "REE", span, rate / monthly,
                             r, f"{r['period']} exports"))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# 2023-2024 gallium and germanium
# --------------------------------------------------------------------------------------

_GAGE_HORIZON = 18.0
#: Pre-announcement quote of each outside market (date, market, material).
_GAGE_BASE = {("Ga", "rotterdam"): "2023-06-30", ("Ga", "europe"): "2023-06-30",
              ("Ge", "europe"): "2023-07"}  # fmt: skip


def _gage2023(st: Store, start: _dt.date) -> pd.DataFrame:
    """Observations of the 2023-2024 gallium/germanium episode."""
    p = st.table("prices")
    p = p[p["series"] == "gage_2022_2025"]
    rows: list[dict[str, object]] = []
    for (m, market), day in _GAGE_BASE.items():
        mk = p[(p["material"] == m) & (p["market"] == market) & (p["unit"] == "usd_per_kg")
               & ~p["product"].astype(str).str.contains("dioxide|oxide")]
        b = mk[mk["date"].astype(str) == day]
        if b.empty:
            continue
        base = _mid(b.iloc[0])
        for _, r in mk.iterrows():
            span = _span(str(r["date"]), str(r["period_type"]), start)
            if str(r["date"]) == day or not _in_window(span, _GAGE_HORIZON) or span is None:
                continue
            lo, hi = r.get("value_low"), r.get("value_high")
            rows.append(_obs(
                "gage-2023", "price", "outside", m, span, _mid(r) / base, r,
                f"{r['date']} {market}",
                low=float(lo) / base if pd.notna(lo) else np.nan,
                high=float(hi) / base if pd.notna(hi) else np.nan))
    # inside China: USGS monthly gallium averages in USD over June 2023
    dom = p[p["market"] == "china_domestic"]
    ga_usd = dom[(dom["material"] == "Ga") & (dom["unit"] == "usd_per_kg")]
    b = ga_usd[ga_usd["date"].astype(str) == "2023-06"]
    if not b.empty:
        base = _mid(b.iloc[0])
        for _, r in ga_usd.iterrows():
            span = _span(str(r["date"]), str(r["period_type"]), start)
            if not _in_window(span, _GAGE_HORIZON) or span is None:
                continue
            rows.append(_obs("gage-2023", "price", "inside", "Ga", span, _mid(r) / base, r,
                             f"{r['date']} china_domestic"))
    # inside China, yuan quotes: month-on-month changes stated by the source, and levels over
    # the first yuan quote after the controls took effect (31 Aug 2023)
    for _, r in dom[(dom["period_type"] == "change") & (dom["unit"] == "pct_mom")].iterrows():
        span = _span(str(r["date"]), "month_avg", start)
        if not _in_window(span, _GAGE_HORIZON) or span is None:
            continue
        rows.append(_obs("gage-2023", "ratio", "inside", str(r["material"]), span,
                         1.0 + _mid(r) / 100.0, r, f"{r['date']} m/m china_domestic",
                         ref=(span[0] - 1.0, span[0])))
    cny = dom[(dom["unit"] == "cny_per_kg") & (dom["period_type"] == "point")]
    for m in ("Ga", "Ge"):
        mk = cny[cny["material"] == m]
        ref_row = mk[mk["date"].astype(str) == "2023-08-31"]
        ref = _span("2023-08-31", "point", start)
        if ref_row.empty or ref is None:
            continue
        ref_v = _mid(ref_row.iloc[0])
        for _, r in mk.iterrows():
            span = _span(str(r["date"]), "point", start)
            if str(r["date"]) == "2023-08-31" or not _in_window(span, _GAGE_HORIZON):
                continue
            if span is None or span[0] <= ref[0]:
                continue
            rows.append(_obs("gage-2023", "ratio", "inside", m, span, _mid(r) / ref_v, r,
                             f"{r['date']} / 2023-08-31 china_domestic", ref=ref))
    # exports over the 2022 monthly average: wrought and unwrought metal where published,
    # else wrought products alone (the bulk: 7.67 of 7.87 t a month in 2022)
    tr = st.table("trade")
    ex = tr[(tr["series"] == "gage_2022_2025") & (tr["reporter"] == "CHN")
            & (tr["flow"] == "export") & (tr["partner_iso3"] == "WLD")
            & (tr["metric"] == "exports") & tr["unit"].isin(["t", "kg"])]
    rates: list[tuple[str, tuple[float, float], float, pd.Series, str]] = []
    for m in ("Ga", "Ge"):
        em = ex[ex["material"] == m]
        base_row = em[em["period"].astype(str) == "2022"]
        if base_row.empty:
            continue
        monthly = float(base_row["value"].iloc[0]) / 12.0
        both = em["product"].astype(str).str.contains("wrought and unwrought|unwrought and wrought")
        wrought = em["product"].astype(str).str.match(r"wrought (gallium|germanium)( products)?$")
        for per, grp in em[both | wrought].groupby("period"):
            span = _span(str(per), "", start)
            if span is None:
                continue
            pick = grp[grp["product"].astype(str).str.contains("unwrought")]
            r = (pick if not pick.empty else grp).iloc[0]
            tonnes = float(r["value"]) / (1000.0 if str(r["unit"]) == "kg" else 1.0)
            rates.append((m, span, tonnes / (span[1] - span[0]) / monthly, r, str(per)))
    sd = month_noise([v for _, sp, v, _, _ in rates if sp[1] <= 0 and sp[1] - sp[0] == 1.0])
    for m, span, value, r, per in rates:
        if _in_window(span, _GAGE_HORIZON):
            rows.append(_obs("gage-2023", "exports", "controller", m, span, value, r,
                             f"{per} exports {m} ({r['product']})",
                             noise_sd=sd / np.sqrt(span[1] - span[0])))
    return pd.DataFrame(rows)


#: Fewest pre-episode months from which the month-to-month noise of a customs series is
#: estimated (none: observations are compared without noise).
MIN_NOISE_MONTHS = 5


def month_noise(ratios: list[float]) -> float:
    """Month-to-month noise of a customs export series [log sd]: the root mean square of
    the log of single pre-episode months over the pre-episode average, pooled over the
    series given (0 with fewer than :data:`MIN_NOISE_MONTHS` months or any zero month).

    A model's monthly flow is smooth; a single month of customs data is not (before the
    2023 controls, single months of Ga and Ge exports ranged 0.2-2.8 x their 2022 average).
    Comparing the two needs that noise, measured where no control acts: before the
    episode."""
    v = np.asarray(ratios, np.float64)
    if v.size < MIN_NOISE_MONTHS or np.any(v <= 0):
        return 0.0
    return float(np.sqrt(np.mean(np.log(v) ** 2)))


#: The calibration episodes, by name.
EPISODES: dict[str, Episode] = {
    "re-2010": Episode("re-2010", "Rare-earth export quotas and production cap, 2010-2012",
                       "china-2010-quota", ("Nd", "Dy"), _re2010),
    "gage-2023": Episode("gage-2023", "Gallium and germanium export licensing, 2023-2024",
                         "gage-2023", ("Ga", "Ge"), _gage2023),
}


def observations(episode: str | Episode, start: _dt.date, *,
                 store: Store | None = None) -> pd.DataFrame:
    """The observed record of an episode as multiples, one row per observation.

    Columns: ``episode``, ``kind`` (price, ratio, exports), ``side`` (outside, inside,
    controller), ``material``, ``month_from``/``month_to`` (the months it covers, from the
    scenario start ``start``), ``ref_from``/``ref_to`` (a ratio's reference months) and
    ``ref_stat`` (``mean`` of them, or ``max`` for an undated high),
    ``observed`` (multiple of the pre-episode level, or ratio) with ``observed_low``/
    ``observed_high`` for ranges, ``noise_sd`` (the measurement noise of the observed series
    over the observation's months [log sd], :func:`month_noise`; 0 where the data give no
    pre-episode months), ``label``, ``source_id``, ``flag``, ``row_id``.
    """
    ep = EPISODES[episode] if isinstance(episode, str) else episode
    df = ep.build(resolve_store(store), start)
    return df.sort_values(["kind", "side", "material", "month_from"]).reset_index(drop=True)


def _weights(res: Result) -> F:
    """Consumption weights of the non-controller segments, (M, R)."""
    w = res.plan.baseline.consumption().copy()
    w[:, 0] = 0.0
    tot = w.sum(axis=1, keepdims=True)
    return np.asarray(np.divide(w, tot, out=np.zeros_like(w), where=tot > 0))


def outside_multiple(res: Result) -> F:
    """Outside price multiple per draw, step and material, (D, T, M): the non-controller
    segments weighted by their baseline consumption (what buyers outside the controller pay
    on average, the market an FOB China or Rotterdam quote prices)."""
    return np.asarray(np.einsum("dtmr,mr->dtm", res.price_multiple(), _weights(res)))


def _mean_over(arr: F, a: float, b: float, dt: float) -> F:
    """Mean of (D, T) over the steps in months [a, b) (at least the step containing a)."""
    i0 = int(np.floor(a / dt + 1e-9))
    i1 = max(int(np.ceil(b / dt - 1e-9)), i0 + 1)
    return np.asarray(arr[:, i0:min(i1, arr.shape[1])].mean(axis=1))


def model_values(res: Result, obs: pd.DataFrame, *, outside: F | None = None) -> F:
    """The model's value of every observation, per draw, shape (draws, observations).

    Prices: the outside (or controller) multiple averaged over the observation's months;
    ratios: the quotient of two such averages (or over the highest month of the reference
    months, ``ref_stat`` max); exports: the controller's legal exports of the material
    (``REE``: every rare earth) over its baseline rate. ``outside`` is
    :func:`outside_multiple` if the caller has it already.
    """
    mats = res.materials
    dt = float(res.plan.dt)
    out_m = outside_multiple(res) if outside is None else outside
    ins_m = res.price_multiple()[..., 0]
    exp = np.asarray(res.arrays.exports_controller[..., 0], np.float64)  # (D, T, M)
    base_exp = res.plan.f0[:, 0, :].sum(axis=1)  # (M,) t/month
    cols = []
    for _, o in obs.iterrows():
        m = str(o["material"])
        if o["kind"] == "exports":
            idx = [i for i, x in enumerate(mats) if x == m or (m == "REE" and x in ELEMENTS)]
            series = exp[:, :, idx].sum(axis=2) / max(float(base_exp[idx].sum()), 1e-12)
            cols.append(_mean_over(series, o["month_from"], o["month_to"], dt))
            continue
        i = mats.index(m)
        series = out_m[:, :, i] if o["side"] == "outside" else ins_m[:, :, i]
        val = _mean_over(series, o["month_from"], o["month_to"], dt)
        if o["kind"] == "ratio":
            if o.get("ref_stat") == "max":
                i0, i1 = int(o["ref_from"] / dt), int(np.ceil(o["ref_to"] / dt))
                val = val / series[:, i0:i1].max(axis=1)
            else:
                val = val / _mean_over(series, o["ref_from"], o["ref_to"], dt)
        cols.append(val)
    return np.stack(cols, axis=1) if cols else np.zeros((res.draws.n, 0))


def peak_month(series: F, months: F) -> tuple[F, F]:
    """Peak value and peak month of each row of ``series`` (rows, points): the highest value
    and the first month within :data:`PEAK_SHARE` of it."""
    top = np.nanmax(series, axis=1)
    at = series >= PEAK_SHARE * top[:, None]
    first = np.argmax(at, axis=1)
    return top, np.asarray(months[first], dtype=np.float64)
