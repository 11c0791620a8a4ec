"""Backtest: the model against the observed record of a historical episode.

:func:`backtest` runs a built-in historical scenario and sets the simulated export-market
price (the rest-of-world price, consumption-weighted over the non-controller segments)
against sourced price observations from the embedded ``prices`` table: oxide prices of the
scenario's backtest materials, as multiples of the baseline's pre-episode price. It adds
the peak (multiple and month) and the retreat (last observation relative to the peak).

Only ``china-2010-quota`` has an observed record in the data; the default parameters are
calibrated on it (:func:`calibration_grid`, documented in ``docs/engine.md``) and on no other
episode.

Examples
--------
>>> bt = backtest("china-2010-quota", draws=40, seed=1)
>>> sorted(set(bt.table()["material"]))
['Dy', 'Nd']
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.data.store import Store, resolve_store
from oreflow.errors import unknown

from .baseline_data import calibration_prices
from .result import Result
from .run import simulate
from .scenario import Scenario, month_offset

__all__ = ["BACKTESTS", "BacktestResult", "backtest", "calibration_grid", "observations"]

#: Built-in scenarios with an observed record, and the materials compared.
BACKTESTS: dict[str, tuple[str, ...]] = {"china-2010-quota": ("Dy", "Nd")}
_MARKETS = ("china_fob", "china_fob_export", "unspecified (MCS)")
_PERIODS = ("point", "quarter_avg", "year_end")


def _obs_window(date: str, period: str, start: _dt.date) -> tuple[float, float] | None:
    """Months [from, to) from the scenario start that an observation covers."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", date)
    if m:
        s = month_offset(_dt.date(int(m.group(1)), int(m.group(2)), 1), start)
        return s, s + 1.0
    m = re.fullmatch(r"(\d{4})-Q([1-4])", date)
    if m:
        s = month_offset(_dt.date(int(m.group(1)), 3 * int(m.group(2)) - 2, 1), start)
        return s, s + 3.0
    m = re.fullmatch(r"(\d{4})", date)
    if m and period == "year_end":
        s = month_offset(_dt.date(int(m.group(1)), 12, 1), start)
        return s, s + 1.0
    return None


def observations(
    scenario: Scenario, base_prices: Mapping[str, float], *, store: Store | None = None
) -> pd.DataFrame:
    """Observed oxide prices for a backtest scenario, as multiples of the base price.

    Parameters
    ----------
    scenario : Scenario
        The historical scenario (its start and horizon select the dates).
    base_prices : mapping
        Pre-episode base price per material [USD/kg] (the baseline's).
    store : oreflow.data.store.Store, optional
        Where the observed prices are read (default: the embedded data with user imports).

    Returns
    -------
    pandas.DataFrame
        One row per observation: ``material``, ``date``, ``date_text``, ``period_type``,
        ``market``, ``month_from``, ``month_to`` (months from the start), ``usd_per_kg``
        (midpoint of a range), ``multiple``, ``source_id``, ``flag``, ``row_id``.
    """
    p = calibration_prices(resolve_store(store))
    mats = BACKTESTS.get(scenario.name, ())
    sel = p[
        p["material"].isin(mats)
        & p["product"].astype(str).str.contains("oxide")
        & p["market"].isin(_MARKETS)
        & p["period_type"].isin(_PERIODS)
        & (p["unit"] == "usd_per_kg")
    ]
    rows = []
    for _, r in sel.iterrows():
        win = _obs_window(str(r["date"]), str(r["period_type"]), scenario.start)
        if win is None or win[0] < 0 or win[1] > scenario.horizon_months:
            continue
        lo, hi = r.get("value_low"), r.get("value_high")
        val = r["value"]
        if pd.isna(val):
            val = 0.5 * (float(str(lo)) + float(str(hi)))
        base = float(base_prices[str(r["material"])])
        rows.append(
            {
                "material": r["material"],
                "date": r["date"],
                "date_text": r.get("date_text", ""),
                "period_type": r["period_type"],
                "market": r["market"],
                "month_from": win[0],
                "month_to": win[1],
                "usd_per_kg": float(val),
                "multiple": float(val) / base,
                "source_id": r["source_id"],
                "flag": "" if pd.isna(r.get("flag")) else str(r.get("flag")),
                "row_id": r["row_id"],
            }
        )
    return pd.DataFrame(rows).sort_values(["material", "month_from"]).reset_index(drop=True)


def export_price_multiple(res: Result) -> NDArray[np.float64]:
    """Rest-of-world price multiple per draw, step and material, shape (D, T, M).

    The non-controller segments weighted by their baseline consumption (the export market
    that China FOB quotes describe).
    """
    b = res.plan.baseline
    w = b.consumption()[:, 1:]  # (M, 2)
    w = np.where(w.sum(axis=1, keepdims=True) > 0, w, 1.0)
    w = w / w.sum(axis=1, keepdims=True)
    pm = res.price_multiple()[..., 1:]  # (D, T, M, 2)
    return np.asarray((pm * w[None, None]).sum(axis=-1))


@dataclass
class BacktestResult:
    """Model against history for one episode.

    Attributes
    ----------
    scenario : Scenario
        The scenario run.
    result : Result
        The simulation.
    observed : pandas.DataFrame
        Observations (see :func:`observations`).
    """

    scenario: Scenario
    result: Result
    observed: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sources(self) -> list[str]:
        """Source keys of the observations and of the scenario's policy facts."""
        out = list(dict.fromkeys([*self.observed["source_id"].astype(str)]))
        for s in self.scenario.source_ids:
            if s not in out:
                out.append(s)
        return out

    def table(self) -> pd.DataFrame:
        """Model P10/P50/P90 against each observation, the peak and the retreat.

        Columns: ``material``, ``what`` (``price`` at a date, ``peak multiple``,
        ``peak month``, ``retreat``), ``date``, ``observed``, ``model_p10``, ``model_p50``,
        ``model_p90``, ``unit``, ``source_id``, ``flag``. Multiples are relative to the
        baseline (pre-episode) price; months count from the scenario start.
        """
        res = self.result
        mats = list(res.materials)
        xp = export_price_multiple(res)  # (D, T, M)
        rows: list[dict[str, Any]] = []
        q = (0.1, 0.5, 0.9)
        for mat, grp in self.observed.groupby("material", sort=False):
            i = mats.index(str(mat))
            for _, o in grp.iterrows():
                a, b = math.floor(o["month_from"]), math.ceil(o["month_to"])
                v = xp[:, a:b, i].mean(axis=1)
                pq = np.quantile(v, q)
                rows.append(
                    {
                        "material": mat,
                        "what": "price multiple",
                        "date": o["date_text"] or o["date"],
                        "observed": o["multiple"],
                        "model_p10": pq[0],
                        "model_p50": pq[1],
                        "model_p90": pq[2],
                        "unit": "x base",
                        "source_id": o["source_id"],
                        "flag": o["flag"],
                    }
                )
            peak_obs = grp.loc[grp["multiple"].idxmax()]
            peak = xp[:, :, i].max(axis=1)
            t_peak = xp[:, :, i].argmax(axis=1).astype(float)
            last = grp.loc[grp["month_from"].idxmax()]
            a = int(last["month_from"])
            retreat = xp[:, a, i] / np.maximum(peak, 1e-12)
            for what, obs, arr, unit in (
                ("peak multiple", peak_obs["multiple"], peak, "x base"),
                ("peak month", peak_obs["month_from"], t_peak, "months from start"),
                (
                    f"retreat (at {last['date_text'] or last['date']} / peak)",
                    last["multiple"] / peak_obs["multiple"],
                    retreat,
                    "ratio",
                ),
            ):
                pq = np.quantile(arr, q)
                rows.append(
                    {
                        "material": mat,
                        "what": what,
                        "date": peak_obs["date_text"] if what != "retreat" else last["date"],
                        "observed": float(obs),
                        "model_p10": pq[0],
                        "model_p50": pq[1],
                        "model_p90": pq[2],
                        "unit": unit,
                        "source_id": peak_obs["source_id"],
                        "flag": peak_obs["flag"],
                    }
                )
        return pd.DataFrame(rows)

    def fit(self) -> dict[str, float]:
        """Fit statistics: RMS log error of the P50 against the observed multiples, the
        share of observations inside P10-P90, and the peak-month error of the P50."""
        t = self.table()
        price = t[t["what"] == "price multiple"]
        err = np.log(price["model_p50"].to_numpy() / price["observed"].to_numpy())
        inside = (price["observed"] >= price["model_p10"]) & (
            price["observed"] <= price["model_p90"]
        )
        pm = t[t["what"] == "peak month"]
        return {
            "rms_log_error": float(np.sqrt(np.mean(err**2))),
            "coverage_p10_p90": float(inside.mean()),
            "peak_month_error": float(np.mean(np.abs(pm["model_p50"] - pm["observed"]))),
        }


def backtest(
    name: str = "china-2010-quota",
    draws: int = 500,
    seed: int | None = 0,
    *,
    scenario: Scenario | None = None,
    store: Store | None = None,
) -> BacktestResult:
    """Run a historical built-in scenario and compare it with the observed record.

    Parameters
    ----------
    name : str, default "china-2010-quota"
        Built-in scenario with an observed record (see :data:`BACKTESTS`).
    draws : int, default 500
        Monte Carlo draws.
    seed : int, optional
        Seed (recorded).
    scenario : Scenario, optional
        Use this scenario (same name) instead of the built-in one, e.g. with other
        parameters during calibration.
    store : oreflow.data.store.Store, optional
        Data for the baseline and the observed record (default: embedded data with imports).

    Returns
    -------
    BacktestResult
    """
    if name not in BACKTESTS:
        raise unknown("backtest (an episode with an observed record)", name, BACKTESTS)
    sc = scenario if scenario is not None else Scenario.builtin(name)
    st = resolve_store(store)
    res = simulate(sc, draws=draws, seed=seed, store=st)
    base = {m: float(p) for m, p in zip(res.materials, res.plan.p0, strict=True)}
    obs = observations(sc, base, store=st)
    return BacktestResult(scenario=sc, result=res, observed=obs)


def calibration_grid(
    grid: Mapping[str, Iterable[float]],
    *,
    name: str = "china-2010-quota",
    draws: int = 100,
    seed: int = 0,
) -> pd.DataFrame:
    """Evaluate the backtest fit over a grid of fixed parameter values.

    Each grid point sets the named :class:`~oreflow.simulate.scenario.Parameters` fields to
    fixed values (``elasticity`` sets the ``default`` sector elasticity) and reports
    :meth:`BacktestResult.fit` and the P50 peak multiples. Used to calibrate the defaults on
    the 2010 episode only.

    Parameters
    ----------
    grid : mapping of str to iterable of float
        Parameter name -> values.
    name : str
        Backtest scenario.
    draws, seed : int
        Draws per grid point and seed.

    Returns
    -------
    pandas.DataFrame
        One row per grid point.
    """
    base = Scenario.builtin(name)
    keys = list(grid)
    rows = []
    for combo in itertools.product(*(list(grid[k]) for k in keys)):
        upd: dict[str, Any] = {}
        for k, v in zip(keys, combo, strict=True):
            if k == "elasticity":
                upd[k] = {"default": {"dist": "fixed", "value": v}}
            else:
                upd[k] = {"dist": "fixed", "value": v}
        params = base.parameters.model_dump(mode="json", by_alias=True)
        params.update(upd)
        sc = base.model_copy(update={"parameters": type(base.parameters).model_validate(params)})
        bt = backtest(name, draws=draws, seed=seed, scenario=sc)
        t = bt.table()
        row: dict[str, Any] = dict(zip(keys, combo, strict=True))
        row.update(bt.fit())
        for _, r in t[t["what"] == "peak multiple"].iterrows():
            row[f"peak_{r['material']}_p50"] = r["model_p50"]
            row[f"peak_{r['material']}_obs"] = r["observed"]
        rows.append(row)
    return pd.DataFrame(rows)
