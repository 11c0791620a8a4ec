"""Results of a disruption run: per-draw paths, P10/P50/P90 summaries and provenance.

A :class:`Result` keeps the per-draw monthly paths (price per segment, supply, consumption,
imports, inventories, shortfall) plus per-draw totals (consumer cost of the shock, shortfall
by sector, months to recovery). :meth:`Result.summary` reduces them to P10/P50/P90 per
material and segment; :meth:`Result.to_pandas` gives the monthly quantile paths in long form;
:meth:`Result.write` exports Parquet, CSV or JSON together with the provenance block.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .scenario import Scenario
from .state import FLAG_BACKSTOP, FLAG_FLOOR, FLAG_STOCK_GUARD, Draws, Plan, RunArrays

__all__ = ["QUANTILES", "Result"]

#: Quantiles reported everywhere (P10, P50, P90).
QUANTILES: tuple[float, float, float] = (0.1, 0.5, 0.9)
_QNAMES = ("p10", "p50", "p90")
_VARIABLES = {
    "price": "USD/kg",
    "price_multiple": "x base",
    "supply": "t/month",
    "consumption": "t/month",
    "imports": "t/month",
    "inventory": "t",
    "shortfall": "t/month",
    "lost": "t/month",
    "exports_controller": "t/month",
    "backlog": "t",
}


def _package_version() -> str:
    try:
        return metadata.version("oreflow")
    except metadata.PackageNotFoundError:  # pragma: no cover - source checkout
        return "0+unknown"


def _add_months(d: _dt.date, months: int) -> _dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    return _dt.date(d.year + y, m + 1, 1)


@dataclass
class Result:
    """Outcome of :func:`oreflow.simulate.simulate`.

    Attributes
    ----------
    scenario : Scenario
        The scenario run (with any horizon override).
    plan : Plan
        The compiled schedule and baseline.
    draws : Draws
        The sampled parameters.
    arrays : RunArrays
        Per-draw paths, shapes (draws, steps, materials, 3 segments).
    provenance : dict
        Package and dataset version, dataset hash, scenario hash, seed, draws, time.
    """

    scenario: Scenario
    plan: Plan
    draws: Draws
    arrays: RunArrays
    provenance: dict[str, Any] = field(default_factory=dict)
    _multiple: NDArray[np.float64] | None = field(default=None, init=False, repr=False,
                                                  compare=False)

    @classmethod
    def from_run(
        cls,
        scenario: Scenario,
        plan: Plan,
        draws: Draws,
        arrays: RunArrays,
        *,
        seed: int,
        elapsed_s: float,
    ) -> Result:
        """Wrap engine output and record provenance."""
        b = plan.baseline
        prov = {
            "package": "oreflow",
            "package_version": _package_version(),
            "dataset": b.provenance.get("dataset", ""),
            "dataset_version": b.provenance.get("version", ""),
            "dataset_hash": b.provenance.get("hash", ""),
            "baseline_year": b.year,
            "scenario": scenario.name,
            "scenario_hash": scenario.hash(),
            "seed": int(seed),
            "draws": int(draws.n),
            "horizon_months": scenario.horizon_months,
            "step_months": scenario.step_months,
            "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "elapsed_s": round(float(elapsed_s), 3),
            "python": platform.python_version(),
            "numpy": np.__version__,
        }
        return cls(scenario=scenario, plan=plan, draws=draws, arrays=arrays, provenance=prov)

    # -- axes ------------------------------------------------------------------------

    @property
    def materials(self) -> tuple[str, ...]:
        """Material names (array order)."""
        return self.plan.baseline.materials

    @property
    def regions(self) -> tuple[str, str, str]:
        """Segment labels (controller, rest, targets)."""
        return self.plan.baseline.region_labels

    @property
    def present(self) -> NDArray[np.bool_]:
        """Segments with any baseline volume, shape (materials, 3)."""
        b = self.plan.baseline
        return np.asarray((b.production + b.consumption()) > 0)

    @property
    def months(self) -> NDArray[np.float64]:
        """Start of each step in months from the scenario start."""
        return np.arange(self.plan.n_steps, dtype=np.float64) * float(self.plan.dt)

    @property
    def dates(self) -> list[_dt.date]:
        """First day of each step."""
        return [_add_months(self.scenario.start, int(m)) for m in self.months]

    # -- per-draw derived quantities --------------------------------------------------

    def price_multiple(self) -> NDArray[np.float64]:
        """Price relative to the segment's base price, shape (draws, steps, materials, 3)
        (computed once and read-only; the arrays of a result do not change)."""
        if self._multiple is None:
            pm = np.asarray(self.arrays.price.astype(np.float64)
                            / self.plan.p0_region[None, None])
            pm.setflags(write=False)  # shared by every caller
            self._multiple = pm
        return self._multiple

    def peak_multiple(self) -> NDArray[np.float64]:
        """Highest price multiple over the horizon, shape (draws, materials, 3)."""
        return np.asarray(self.price_multiple().max(axis=1))

    def cumulative_shortfall(self) -> NDArray[np.float64]:
        """Shortfall summed over the horizon, shape (draws, materials, 3) [t]."""
        return np.asarray(self.arrays.shortfall.astype(np.float64).sum(axis=1) * self.plan.dt)

    def months_to_recovery(self) -> NDArray[np.float64]:
        """Months from the first shock until price and shortfall stay back near base.

        A step counts as normal when the price is at most ``(1 + tol)`` times base and the
        shortfall at most ``tol`` of base-price demand (``tol`` =
        ``parameters.recovery_tolerance``). The result is the time from the first shock to
        the start of the run of normal steps that lasts to the horizon; 0 if never
        disrupted, ``inf`` if not recovered within the horizon. Shape (draws, materials, 3).
        """
        tol = self.scenario.parameters.recovery_tolerance
        ra = self.arrays
        pm = self.price_multiple()
        des = ra.desired.astype(np.float64)
        bad = (pm > 1.0 + tol) | (ra.shortfall > tol * np.maximum(des, 1e-12))
        n_t = bad.shape[1]
        onset = self.plan.onset
        if not np.isfinite(onset):
            return np.zeros(bad.shape[:1] + bad.shape[2:])
        any_bad = bad.any(axis=1)
        last_bad = n_t - 1 - np.argmax(bad[:, ::-1], axis=1)
        rec = (last_bad + 1) * self.plan.dt - onset
        rec = np.where(last_bad == n_t - 1, np.inf, np.maximum(rec, 0.0))
        return np.asarray(np.where(any_bad, rec, 0.0))

    # -- tables -----------------------------------------------------------------------

    def quantiles(self, variable: str) -> pd.DataFrame:
        """Monthly P10/P50/P90 of one variable in long form.

        Parameters
        ----------
        variable : str
            One of ``price``, ``price_multiple``, ``supply``, ``consumption``, ``imports``,
            ``inventory``, ``shortfall``, ``lost``, ``exports_controller``, ``backlog``.
        """
        if variable not in _VARIABLES:
            raise KeyError(f"unknown variable {variable!r}; known: {', '.join(_VARIABLES)}")
        arr = (
            self.price_multiple()
            if variable == "price_multiple"
            else np.asarray(getattr(self.arrays, variable), np.float64)
        )
        q = np.quantile(arr, QUANTILES, axis=0)  # (3, T, M, R)
        n_t, n_m, n_r = q.shape[1:]
        tt, mm, rr = np.meshgrid(np.arange(n_t), np.arange(n_m), np.arange(n_r), indexing="ij")
        keep = self.present[mm, rr]
        dates = np.array(self.dates, dtype=object)
        return pd.DataFrame(
            {
                "variable": variable,
                "unit": _VARIABLES[variable],
                "material": np.array(self.materials, dtype=object)[mm[keep]],
                "region": np.array(self.regions, dtype=object)[rr[keep]],
                "month": self.months[tt[keep]],
                "date": dates[tt[keep]],
                "p10": q[0][keep],
                "p50": q[1][keep],
                "p90": q[2][keep],
            }
        )

    def to_pandas(self) -> pd.DataFrame:
        """All monthly quantile paths in long form (one row per variable, material,
        segment and month; columns p10, p50, p90)."""
        return pd.concat([self.quantiles(v) for v in _VARIABLES], ignore_index=True)

    def sector_shortfall(self) -> pd.DataFrame:
        """Cumulative shortfall by material, segment and sector: P10/P50/P90 [t]."""
        ss = self.arrays.shortfall_sector
        q = np.quantile(ss, QUANTILES, axis=0)  # (3, M, R, K)
        b = self.plan.baseline
        rows = []
        for i, m in enumerate(self.materials):
            for r, lab in enumerate(self.regions):
                for k, sec in enumerate(b.sectors):
                    if b.demand[i, r, k] <= 0:
                        continue
                    rows.append(
                        {
                            "material": m,
                            "region": lab,
                            "sector": sec,
                            "baseline_t": b.demand[i, r, k] * self.scenario.horizon_months / 12.0,
                            "shortfall_t_p10": q[0, i, r, k],
                            "shortfall_t_p50": q[1, i, r, k],
                            "shortfall_t_p90": q[2, i, r, k],
                        }
                    )
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """Headline numbers per material and segment, P10/P50/P90 over draws.

        Columns: ``material``, ``region``, ``role`` (controller/rest/targets),
        ``base_price_usd_per_kg`` (the segment's own market), ``peak_price_multiple_*``,
        ``mean_price_multiple_*``, ``shortfall_t_*`` (cumulative), ``shortfall_share_*`` (of
        base-price demand), ``lost_output_t_*`` (demand at the going price that found no
        material: production stopped), ``licence_backlog_months_*`` (the largest queue of
        licence applications, in months of the baseline flow from the controller),
        ``months_to_recovery_*`` (inf = not within horizon), ``cost_musd_*`` (consumer cost
        of the shock, million USD), and ``at_backstop_share`` / ``guard_share``: the share
        of draws in which the price reached its backstop / a numerical guard bound.
        """
        pm = self.price_multiple()
        peak = pm.max(axis=1)
        mean = pm.mean(axis=1)
        short = self.cumulative_shortfall()
        dt = self.plan.dt
        des = np.asarray(self.arrays.desired, np.float64).sum(axis=1) * dt
        share = np.divide(short, des, out=np.zeros_like(short), where=des > 0)
        lost = np.asarray(self.arrays.lost, np.float64).sum(axis=1) * dt
        base_flow = self.plan.f0[:, 0, :]  # t/month
        queue = np.asarray(self.arrays.backlog, np.float64).max(axis=1)
        backlog = np.divide(queue, base_flow[None], out=np.zeros_like(queue),
                            where=base_flow[None] > 0)
        rec = self.months_to_recovery()
        cost = self.arrays.cost / 1e6
        flags = self.arrays.flags
        at_backstop = (flags & FLAG_BACKSTOP).any(axis=1).mean(axis=0)
        guard = (flags & (FLAG_FLOOR | FLAG_STOCK_GUARD)).any(axis=1).mean(axis=0)
        cols: dict[str, NDArray[np.float64]] = {}
        for name, arr in (
            ("peak_price_multiple", peak),
            ("mean_price_multiple", mean),
            ("shortfall_t", short),
            ("shortfall_share", share),
            ("lost_output_t", lost),
            ("licence_backlog_months", backlog),
            ("months_to_recovery", rec),
            ("cost_musd", cost),
        ):
            q = np.quantile(arr, QUANTILES, axis=0, method="inverted_cdf")
            for qi, qn in enumerate(_QNAMES):
                cols[f"{name}_{qn}"] = q[qi]
        present = self.present
        roles = ("controller", "rest", "targets")
        rows = []
        for i, m in enumerate(self.materials):
            for r in range(3):
                if not present[i, r]:
                    continue
                row: dict[str, Any] = {
                    "material": m,
                    "region": self.regions[r],
                    "role": roles[r],
                    "base_price_usd_per_kg": float(self.plan.p0_region[i, r]),
                }
                for k, v in cols.items():
                    row[k] = float(v[i, r])
                row["at_backstop_share"] = float(at_backstop[i, r])
                row["guard_share"] = float(guard[i, r])
                rows.append(row)
        return pd.DataFrame(rows)

    # -- export -----------------------------------------------------------------------

    def write(
        self, directory: str | Path, fmt: Literal["parquet", "csv", "json"] = "parquet"
    ) -> list[Path]:
        """Write summary, monthly quantiles, sector shortfall and provenance.

        Parameters
        ----------
        directory : str or pathlib.Path
            Output directory (created if missing).
        fmt : {"parquet", "csv", "json"}
            Table format; ``provenance.json`` is always JSON. Parquet needs ``pyarrow``.

        Returns
        -------
        list of pathlib.Path
            Files written.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        tables = {
            "summary": self.summary(),
            "timeseries": self.to_pandas(),
            "sector_shortfall": self.sector_shortfall(),
        }
        paths: list[Path] = []
        for name, df in tables.items():
            df = df.copy()
            if "date" in df:
                df["date"] = df["date"].astype(str)
            if fmt == "parquet":
                import importlib.util

                if importlib.util.find_spec("pyarrow") is None:  # pragma: no cover
                    raise ModuleNotFoundError(
                        "Parquet export needs pyarrow (pip install 'oreflow[dist]')"
                    )
                p = out / f"{name}.parquet"
                df.to_parquet(p, index=False)
            elif fmt == "csv":
                p = out / f"{name}.csv"
                df.to_csv(p, index=False)
            elif fmt == "json":
                p = out / f"{name}.json"
                df.to_json(p, orient="records", indent=1)
            else:
                raise ValueError("fmt must be parquet, csv or json")
            paths.append(p)
        pp = out / "provenance.json"
        pp.write_text(json.dumps(self.provenance, indent=2), encoding="utf-8")
        paths.append(pp)
        return paths

    def __repr__(self) -> str:
        p = self.provenance
        return (
            f"Result(scenario={self.scenario.name!r}, draws={p.get('draws')}, "
            f"horizon={self.scenario.horizon_months} months, seed={p.get('seed')}, "
            f"materials={len(self.materials)})"
        )
