"""Results of a disruption run: per-draw paths, P10/P50/P90 summaries and provenance.

A :class:`Result` keeps the per-draw monthly paths (price per segment, supply, consumption,
imports, inventories, shortfall) plus per-draw totals (consumer cost of the shock, shortfall
by sector, months to recovery). :meth:`Result.summary` reduces them to P10/P50/P90 per
material and segment; :meth:`Result.to_pandas` gives the monthly quantile paths in long form;
:meth:`Result.draws_frame` the per-draw paths in long form; :meth:`Result.to_xarray` a labelled
dataset; :meth:`Result.write` exports Parquet, CSV, JSON or one Excel workbook together with
the provenance block and the scenario.

Conventions (every public output of a result): dates are ``datetime64`` month starts (column
or coordinate ``date``), durations and offsets integer months (``month``: months from the
scenario start). ``months_to_recovery`` is ``inf`` in numbers when a segment has not
recovered within the horizon; exports that cannot hold ``inf`` (JSON, CSV, Excel) write the
string :data:`NOT_RECOVERED` instead, so it is never confused with a missing value.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import json
import math
import os
import platform
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.errors import InputError

from .scenario import FlowRedirect, Scenario
from .state import (
    FLAG_BACKSTOP,
    FLAG_FLOOR,
    FLAG_STOCK_GUARD,
    REDIRECT_COLUMNS,
    Draws,
    Plan,
    RunArrays,
)

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "NOT_RECOVERED",
    "OUT_FORMATS",
    "QUANTILES",
    "ROLES",
    "VARIABLES",
    "OutputTarget",
    "Result",
    "check_output",
    "export_recovery",
]

#: What exports write for "not recovered within the horizon" (``inf`` in the numbers).
NOT_RECOVERED = "not within horizon"
#: Segment roles, in array order.
ROLES: tuple[str, str, str] = ("controller", "rest", "targets")
#: Rows of the per-draw long form built at once when writing ``draws.parquet``.
_DRAW_ROWS = 4_000_000
#: Formats of :meth:`Result.write`.
OUT_FORMATS: tuple[str, ...] = ("parquet", "csv", "json", "xlsx")

#: Quantiles reported everywhere (P10, P50, P90).
QUANTILES: tuple[float, float, float] = (0.1, 0.5, 0.9)
_QNAMES = ("p10", "p50", "p90")
#: Monthly path variables and their units.
VARIABLES: dict[str, str] = {
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


def export_recovery(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose ``months_to_recovery*`` columns hold :data:`NOT_RECOVERED`
    (a string) where the number is ``inf``: for JSON, CSV and Excel, which cannot hold
    ``inf``, and where ``null`` would read as "missing"."""
    out = df.copy()
    for col in out.columns:
        if str(col).startswith("months_to_recovery") and pd.api.types.is_float_dtype(out[col]):
            vals = out[col].to_numpy(dtype=np.float64)
            if np.isinf(vals).any():
                out[col] = pd.Series(
                    [NOT_RECOVERED if np.isinf(v) else _whole(v) for v in vals],
                    index=out.index, dtype=object)
    return out


def _whole(v: float) -> int | float:
    """``v`` as an int when it is a whole number (months), else unchanged (NaN stays)."""
    return int(v) if math.isfinite(v) and v == int(v) else float(v)


@dataclass(frozen=True)
class OutputTarget:
    """Where and how :meth:`Result.write` writes: a directory of tables (``parquet``,
    ``csv``, ``json``) or one workbook file (``xlsx``)."""

    path: Path
    fmt: str

    @property
    def is_file(self) -> bool:
        """True for a single-file output (the Excel workbook)."""
        return self.fmt == "xlsx"


def _probe_writable(directory: Path, shown: Path) -> None:
    """Raise :class:`InputError` unless a file can be created in ``directory``."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise InputError(f"{shown}: cannot write in {directory} ({why}); "
                         "choose another output path") from None


def check_output(path: str | Path, fmt: str | None = None) -> OutputTarget:
    """Check an output path before any work: format known, its library installed, and the
    place writable. Creates nothing.

    Parameters
    ----------
    path : str or pathlib.Path
        A directory (created when missing) for ``parquet``/``csv``/``json`` tables, or a file
        ending in ``.xlsx`` for one Excel workbook.
    fmt : str, optional
        One of :data:`OUT_FORMATS`; default ``xlsx`` for a ``.xlsx`` path, else ``parquet``.

    Raises
    ------
    oreflow.errors.InputError
        Unknown format, a format that does not fit the path, a missing library (pyarrow,
        openpyxl), or a place that cannot be written.
    """
    p = Path(path).expanduser()
    is_xlsx = p.suffix.lower() == ".xlsx"
    if fmt is None:
        fmt = "xlsx" if is_xlsx else "parquet"
    if fmt not in OUT_FORMATS:
        raise InputError(f"{p}: unknown output format {fmt!r}; known: {', '.join(OUT_FORMATS)}")
    if is_xlsx != (fmt == "xlsx"):
        raise InputError(
            f"{p}: an Excel workbook is one file ending in .xlsx; other formats write a "
            "directory (give a path without .xlsx, or format xlsx)")
    need = {"parquet": "pyarrow", "xlsx": "openpyxl"}.get(fmt)
    if need is not None and importlib.util.find_spec(need) is None:  # pragma: no cover
        raise InputError(f"{p}: {fmt} output needs the {need} package")
    target = OutputTarget(p, fmt)
    if p.exists():
        if target.is_file and p.is_dir():
            raise InputError(f"{p}: is a directory; give a file name ending in .xlsx")
        if not target.is_file and not p.is_dir():
            raise InputError(f"{p}: exists and is not a directory")
    probe = p if p.is_dir() else p.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{p}: {probe} is a file, not a directory")
    if target.is_file and p.exists() and not os.access(p, os.W_OK):
        raise InputError(f"{p}: file is not writable")
    _probe_writable(probe, p)
    return target


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
        """Start of each step in months from the scenario start, as floats (for arithmetic
        with the engine's float times such as ``plan.onset``; for display and export use
        :attr:`month_offsets` and :attr:`dates`)."""
        return np.arange(self.plan.n_steps, dtype=np.float64) * float(self.plan.dt)

    @property
    def month_offsets(self) -> NDArray[np.int64]:
        """Start of each step in whole months from the scenario start [months]."""
        return np.arange(self.plan.n_steps, dtype=np.int64) * round(self.plan.dt)

    @property
    def dates(self) -> pd.DatetimeIndex:
        """First day of each step: month starts as ``datetime64[ns]``."""
        start = _add_months(self.scenario.start, 0)
        return pd.DatetimeIndex(
            [pd.Timestamp(_add_months(start, int(m))) for m in self.month_offsets],
            name="date")

    @property
    def roles(self) -> tuple[str, str, str]:
        """Segment roles (controller, rest, targets), in the order of :attr:`regions`."""
        return ROLES

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
        if variable not in VARIABLES:
            raise KeyError(f"unknown variable {variable!r}; known: {', '.join(VARIABLES)}")
        arr = (
            self.price_multiple()
            if variable == "price_multiple"
            else np.asarray(getattr(self.arrays, variable), np.float64)
        )
        q = np.quantile(arr, QUANTILES, axis=0)  # (3, T, M, R)
        n_t, n_m, n_r = q.shape[1:]
        tt, mm, rr = np.meshgrid(np.arange(n_t), np.arange(n_m), np.arange(n_r), indexing="ij")
        keep = self.present[mm, rr]
        dates = self.dates.to_numpy()
        return pd.DataFrame(
            {
                "variable": variable,
                "unit": VARIABLES[variable],
                "material": np.array(self.materials, dtype=object)[mm[keep]],
                "region": np.array(self.regions, dtype=object)[rr[keep]],
                "month": self.month_offsets[tt[keep]],
                "date": dates[tt[keep]],
                "p10": q[0][keep],
                "p50": q[1][keep],
                "p90": q[2][keep],
            }
        )

    def redirect_table(self) -> pd.DataFrame:
        """Month-by-month P10/P50/P90 of every flow redirect, long form (empty without one).

        Columns ``redirect`` (the shock's id), ``month``, ``date``, ``quantity`` and
        ``p10``/``p50``/``p90``. Quantities, in tonnes of the redirected materials' content
        (:data:`~oreflow.simulate.state.REDIRECT_COLUMNS`): ``redirected_t`` ore taken from
        the controller's separators (the feed it loses) [t/month], ``separated_t`` what the
        receiving side separates [t/month], ``stock_t`` ore waiting at the month's end [t],
        ``lost_t`` ore lost [t/month], ``capacity_t`` the receiving side's usable
        separation capacity [t/month]. Each quantity's bands are taken on its own (the P50
        rows need not add up).
        """
        red = self.arrays.redirect
        cols = ["redirect", "month", "date", "quantity", "p10", "p50", "p90"]
        if red is None:
            return pd.DataFrame(columns=cols)
        ids = [sh.id or f"redirect{j}" for j, sh in
               enumerate(x for x in self.scenario.shocks if isinstance(x, FlowRedirect))]
        q = np.quantile(red, QUANTILES, axis=0)  # (3, T, J, 5)
        n_t, n_j, n_c = q.shape[1:]
        grid = np.meshgrid(np.arange(n_t), np.arange(n_j), np.arange(n_c), indexing="ij")
        tt, jj, cc = (a.transpose(1, 0, 2).ravel() for a in grid)
        return pd.DataFrame({
            "redirect": np.array(ids, dtype=object)[jj],
            "month": self.month_offsets[tt],
            "date": self.dates.to_numpy()[tt],
            "quantity": np.array(REDIRECT_COLUMNS, dtype=object)[cc],
            "p10": q[0][tt, jj, cc],
            "p50": q[1][tt, jj, cc],
            "p90": q[2][tt, jj, cc],
        }, columns=cols)

    def to_pandas(self, variables: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
        """Monthly quantile paths in long form: one row per variable, material, segment and
        month; columns ``variable``, ``unit``, ``material``, ``region``, ``month`` (integer
        months from the start), ``date`` (month start, datetime64), ``p10``, ``p50``,
        ``p90``. ``variables`` default: all of :data:`VARIABLES`."""
        names = list(VARIABLES) if variables is None else list(variables)
        return pd.concat([self.quantiles(v) for v in names], ignore_index=True)

    def _pairs(self) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Material and segment indices of the segments with baseline volume."""
        mm, rr = np.nonzero(self.present)
        return mm.astype(np.intp), rr.astype(np.intp)

    def draw_values(self, variable: str) -> NDArray[Any]:
        """Per-draw monthly values of one variable, shape (draws, steps, materials, 3)
        (float32 for engine paths, float64 for ``price_multiple``; not a copy)."""
        if variable not in VARIABLES:
            raise KeyError(f"unknown variable {variable!r}; known: {', '.join(VARIABLES)}")
        if variable == "price_multiple":
            return self.price_multiple()
        return np.asarray(getattr(self.arrays, variable))

    def draws_frame(self, variable: str, draws: slice | None = None) -> pd.DataFrame:
        """Per-draw monthly values of one variable in long form.

        Columns ``draw`` (0-based), ``date`` (month start, datetime64), ``material``,
        ``region`` (categoricals), ``variable``, ``value`` (float64, in the unit of
        :data:`VARIABLES`); segments without baseline volume are left out. ``draws``
        selects a range of draws (default all; a frame of every draw of a large run is
        large: about 30 bytes a row).
        """
        sl = draws if draws is not None else slice(None)
        first = range(self.draws.n)[sl]
        arr = self.draw_values(variable)[sl]
        mm, rr = self._pairs()
        sel = arr[:, :, mm, rr]  # (D, T, P)
        n_d, n_t, n_p = sel.shape
        codes: Any = (np.tile(mm, n_d * n_t), np.tile(rr, n_d * n_t))  # pandas stubs: lists
        mats = pd.Categorical.from_codes(codes[0], categories=pd.Index(self.materials))
        regs = pd.Categorical.from_codes(codes[1], categories=pd.Index(self.regions))
        return pd.DataFrame({
            "draw": np.repeat(np.asarray(first, dtype=np.int32), n_t * n_p),
            "date": np.tile(np.repeat(self.dates.to_numpy(), n_p), n_d),
            "material": mats,
            "region": regs,
            "variable": pd.Categorical([variable] * (n_d * n_t * n_p), categories=[variable]),
            "value": sel.reshape(-1).astype(np.float64),
        })

    def to_xarray(self) -> xr.Dataset:
        """The per-draw results as a labelled :class:`xarray.Dataset`.

        Monthly variables (:data:`VARIABLES`) have dimensions ``(draw, date, material,
        region)``, each with its ``units`` attribute; per-draw totals ``cost_usd``,
        ``peak_price_multiple`` and ``months_to_recovery`` (``inf``: not within the
        horizon) have ``(draw, material, region)``. Coordinates: ``date`` (month starts,
        datetime64), ``month`` (integer months from the start, along ``date``), ``role``
        (along ``region``) and ``present`` (segments with baseline volume). ``attrs``
        hold the provenance block. The engine arrays are shared, not copied.

        Examples
        --------
        >>> from oreflow.simulate import Scenario, simulate, toy_baseline
        >>> sc = Scenario.parse_yaml('''
        ... name: toy
        ... start: 2025-01
        ... horizon_months: 12
        ... shocks:
        ...   - {kind: export_restriction, materials: [Dy], effective: 2025-03,
        ...      approval_rate: 0.5}
        ... ''')
        >>> ds = simulate(sc, draws=20, seed=1, baseline=toy_baseline()).to_xarray()
        >>> ds["price_multiple"].dims
        ('draw', 'date', 'material', 'region')
        >>> str(ds["date"].values[2])[:10], int(ds["month"].values[2])
        ('2025-03-01', 2)
        """
        import xarray as xr

        dims = ("draw", "date", "material", "region")
        data: dict[str, Any] = {
            v: (dims, self.draw_values(v), {"units": u}) for v, u in VARIABLES.items()
        }
        totals = ("draw", "material", "region")
        data["cost_usd"] = (totals, np.asarray(self.arrays.cost), {"units": "USD"})
        data["peak_price_multiple"] = (totals, self.peak_multiple(), {"units": "x base"})
        data["months_to_recovery"] = (
            totals, self.months_to_recovery(),
            {"units": "months", "note": "inf: not recovered within the horizon"})
        coords: dict[str, Any] = {
            "draw": np.arange(self.draws.n),
            "date": self.dates.to_numpy(),
            "material": list(self.materials),
            "region": list(self.regions),
            "month": ("date", self.month_offsets),
            "role": ("region", list(ROLES)),
            "present": (("material", "region"), self.present),
        }
        attrs = {k: v for k, v in self.provenance.items()
                 if isinstance(v, str | int | float | bool)}
        return xr.Dataset(data, coords=coords, attrs=attrs)


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
        ``months_to_recovery_*`` (whole months, rounded: a shock can start within a month;
        inf = not within horizon), ``cost_musd_*`` (consumer cost
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
        rec = np.where(np.isfinite(rec), np.floor(rec + 0.5), rec)  # whole months
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

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables every export holds: ``summary``, ``paths`` (monthly P10/P50/P90 of
        every variable) and ``sector_shortfall``; with a flow redirect, ``redirect``
        (:meth:`redirect_table`)."""
        out = {
            "summary": self.summary(),
            "paths": self.to_pandas(),
            "sector_shortfall": self.sector_shortfall(),
        }
        if self.arrays.redirect is not None:
            out["redirect"] = self.redirect_table()
        return out

    def write(self, path: str | Path, fmt: str | None = None, *,
              per_draw: bool = True) -> list[Path]:
        """Write the result's tables, the scenario (YAML) and the provenance block.

        Parameters
        ----------
        path : str or pathlib.Path
            A directory (created if missing) for ``parquet``, ``csv`` or ``json``: one file
            per table of :meth:`tables`, ``scenario.yaml`` (the scenario as run, horizon
            override included), ``provenance.json`` and, for ``parquet``, ``draws.parquet``
            (every per-draw monthly value in long form: ``draw``, ``date``, ``material``,
            ``region``, ``variable``, ``value``). Or a file ending in ``.xlsx``: one
            workbook with a sheet per table plus ``provenance``, and
            ``<name>.scenario.yaml`` beside it.
        fmt : {"parquet", "csv", "json", "xlsx"}, optional
            Default: ``xlsx`` for a ``.xlsx`` path, else ``parquet``.
        per_draw : bool, default True
            Parquet only: also write ``draws.parquet``.

        Returns
        -------
        list of pathlib.Path
            Files written.

        Raises
        ------
        oreflow.errors.InputError
            If the format or the place is not usable (checked before anything is computed or
            written; see :func:`check_output`) or writing fails.
        """
        target = check_output(path, fmt)
        try:
            if target.is_file:
                return self._write_xlsx(target.path)
            return self._write_dir(target.path, target.fmt, per_draw=per_draw)
        except OSError as exc:
            raise InputError(f"{target.path}: writing failed: "
                             f"{exc.strerror or exc}") from None

    def _export_tables(self) -> dict[str, pd.DataFrame]:
        return {name: export_recovery(df) for name, df in self.tables().items()}

    def _write_dir(self, out: Path, fmt: str, *, per_draw: bool) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        # Parquet holds inf (not recovered) as a number; text formats get NOT_RECOVERED
        tables = self.tables() if fmt == "parquet" else self._export_tables()
        for name, df in tables.items():
            p = out / f"{name}.{fmt}"
            if fmt == "parquet":
                df.to_parquet(p, index=False)
            elif fmt == "csv":
                df.to_csv(p, index=False, date_format="%Y-%m-%d")
            else:
                df.to_json(p, orient="records", indent=1, date_format="iso")
            paths.append(p)
        if fmt == "parquet" and per_draw:
            paths.append(self._write_draws(out / "draws.parquet"))
        paths += self._write_sidecars(out / "scenario.yaml", out / "provenance.json")
        return paths

    def _write_draws(self, p: Path) -> Path:
        """Per-draw paths in long form, one variable at a time (bounded memory)."""
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        per_draw = max(self.plan.n_steps * int(self.present.sum()), 1)
        step = max(_DRAW_ROWS // per_draw, 1)
        writer: pq.ParquetWriter | None = None
        try:
            for v in VARIABLES:
                for d0 in range(0, self.draws.n, step):
                    df = self.draws_frame(v, slice(d0, d0 + step))
                    df["variable"] = df["variable"].cat.set_categories(list(VARIABLES))
                    table = pa.Table.from_pandas(df, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(p, table.schema)
                    writer.write_table(table.cast(writer.schema))
        finally:
            if writer is not None:
                writer.close()
        return p

    def _write_sidecars(self, yaml_path: Path, prov_path: Path | None) -> list[Path]:
        yaml_path.write_text(self.scenario.to_yaml(), encoding="utf-8")
        out = [yaml_path]
        if prov_path is not None:
            prov_path.write_text(json.dumps(self.provenance, indent=2), encoding="utf-8")
            out.append(prov_path)
        return out

    def _write_xlsx(self, p: Path) -> list[Path]:
        p.parent.mkdir(parents=True, exist_ok=True)
        tables = self._export_tables()
        prov = pd.DataFrame({"key": list(self.provenance),
                             "value": [v if isinstance(v, int | float) else str(v)
                                       for v in self.provenance.values()]})
        with pd.ExcelWriter(p, engine="openpyxl") as xw:
            for name, df in tables.items():
                df.to_excel(xw, sheet_name=name, index=False)
            prov.to_excel(xw, sheet_name="provenance", index=False)
        side = p.with_name(p.stem + ".scenario.yaml")
        return [p, *self._write_sidecars(side, None)]

    def _repr_html_(self) -> str:
        """Notebook view: the provenance line and the P50 (P10-P90) of the headline numbers
        in the segments whose price or supply moved (with the fan chart:
        :func:`oreflow.report.notebook.result_html`)."""
        import html

        from oreflow.headline import affected, headline_table

        prov = self.provenance
        head = (f"<p><b>{html.escape(self.scenario.name)}</b>: {prov.get('draws')} draws, "
                f"seed {prov.get('seed')}, {self.scenario.horizon_months} months from "
                f"{self.dates[0]:%Y-%m}; scenario hash "
                f"{html.escape(str(prov.get('scenario_hash')))}, dataset "
                f"{html.escape(str(prov.get('dataset_version')))}, oreflow "
                f"{html.escape(str(prov.get('package_version')))}</p>")
        rows = affected(self.summary())
        if rows.empty:
            return head + "<p>No price or supply moved in any segment.</p>"
        table = headline_table(rows, inf=NOT_RECOVERED).to_html(index=False, escape=True)
        return head + table + "<p><small>P50 (P10–P90) over draws</small></p>"

    def __repr__(self) -> str:
        p = self.provenance
        return (
            f"Result(scenario={self.scenario.name!r}, draws={p.get('draws')}, "
            f"horizon={self.scenario.horizon_months} months, seed={p.get('seed')}, "
            f"materials={len(self.materials)})"
        )

