"""Impact of a disruption scenario on a BOM's product lines: the engine adapter and the line model.

:func:`impact` answers, under a scenario, months until stock-out, units delayed per month,
cost increase per unit and per year, revenue at risk and the earliest month an alternative
supplier could be qualified and deliver — P10/P50/P90 over the Monte Carlo draws of the
disruption engine (:mod:`oreflow.simulate`). The engine's per-draw paths reach this module
through one small adapter, :func:`market_paths`, as plain arrays (:class:`MarketPaths`); the
line model itself, :func:`run_line`, is a pure function of arrays. The suppliers' control
shares come from the tracing of :mod:`oreflow.exposure.trace`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.answer import Answer
from oreflow.chain import oxide_factor
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError
from oreflow.exposure.bom import Bom, Input
from oreflow.exposure.trace import Trace, Tracer, citation_table, qualification, traced_sources
from oreflow.rng import named_stream
from oreflow.simulate import Result, Scenario, simulate

__all__ = ["LineResult", "MarketPaths", "impact", "market_paths", "run_line"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class MarketPaths:
    """Per-draw monthly market paths seen by a buyer in one market segment.

    This is the whole interface between the disruption engine and the exposure model: plain
    arrays, so the line model can be tested with synthetic paths. :func:`market_paths` builds
    one from an engine :class:`~oreflow.simulate.result.Result`.

    Attributes
    ----------
    materials : tuple of str
        Material names (elements, ``NdFeB``, ``SmCo``), length M.
    price_multiple : numpy.ndarray, shape (D, T, M)
        Price in the buyer's segment relative to the base price [-].
    availability : numpy.ndarray, shape (D, T, M)
        Share of the buyer's baseline **controller-dependent** supply that is delivered in
        each step [-], in [0, 1]; supply without controller content is not cut.
    base_price_usd_per_kg : numpy.ndarray, shape (M,)
        Base price [USD/kg] (oxide for elements, product for magnets).
    dt_months : float
        Step length [months].
    onset_month : float
        Months from the start of the paths to the first shock (0 if the paths start there).
    start : str
        First month of the paths (``YYYY-MM``), or ``""`` if unknown.
    meta : mapping
        Provenance (scenario, seed, draws, region).
    """

    materials: tuple[str, ...]
    price_multiple: FloatArray
    availability: FloatArray
    base_price_usd_per_kg: FloatArray
    dt_months: float = 1.0
    onset_month: float = 0.0
    start: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pm = np.asarray(self.price_multiple, dtype=np.float64)
        av = np.asarray(self.availability, dtype=np.float64)
        bp = np.asarray(self.base_price_usd_per_kg, dtype=np.float64)
        m = len(self.materials)
        if pm.ndim != 3 or pm.shape[2] != m or av.shape != pm.shape:
            raise ValueError("price_multiple and availability must both have shape "
                             f"(draws, steps, {m})")
        if bp.shape != (m,):
            raise ValueError(f"base_price_usd_per_kg must have shape ({m},)")
        if not (np.all(np.isfinite(pm)) and np.all(pm > 0)):
            raise ValueError("price multiples must be finite and positive")
        if not (np.all(np.isfinite(av)) and np.all(av >= -1e-9) and np.all(av <= 1 + 1e-9)):
            raise ValueError("availability must lie in [0, 1]")
        if not self.dt_months > 0:
            raise ValueError("dt_months must be positive")
        object.__setattr__(self, "price_multiple", pm)
        object.__setattr__(self, "availability", np.clip(av, 0.0, 1.0))
        object.__setattr__(self, "base_price_usd_per_kg", bp)

    @property
    def draws(self) -> int:
        """Number of draws D."""
        return int(self.price_multiple.shape[0])

    @property
    def steps(self) -> int:
        """Number of steps T."""
        return int(self.price_multiple.shape[1])

    def index(self, material: str) -> int | None:
        """Array index of a material, or None."""
        return self.materials.index(material) if material in self.materials else None


def market_paths(result: Result, country: str) -> MarketPaths:
    """Adapter: the engine's per-draw paths as seen by a buyer in ``country``.

    Parameters
    ----------
    result : oreflow.simulate.result.Result
        Output of :func:`oreflow.simulate.simulate`.
    country : str
        ISO3 code of the buyer's plant; selects its market segment (controller, targets or
        rest of the world).

    Returns
    -------
    MarketPaths

    Notes
    -----
    With f(t) = consumption ÷ base-price demand in the buyer's segment (its fill rate) and
    κ̄ the segment's baseline controller dependence — (imports from the controller + own output
    with controller-origin content at or above the de-minimis threshold) ÷ consumption — the
    controller-dependent supply is delivered at a(t) = clip(1 − (1 − f(t)) / κ̄, 0, 1): the
    segment's shortfall falls on its controller-dependent supply. In the controller's own
    segment a(t) = f(t). The buyer is rationed like the average buyer of its segment.
    """
    b = result.plan.baseline
    r = b.region_of(country)
    arrays = result.arrays
    pm = np.asarray(result.price_multiple()[..., r], dtype=np.float64)
    des = np.asarray(arrays.desired[..., r], dtype=np.float64)
    cons = np.asarray(arrays.consumption[..., r], dtype=np.float64)
    fill = np.clip(np.divide(cons, des, out=np.ones_like(des), where=des > 0), 0.0, 1.0)
    if r == 0:
        avail = fill
        dep = np.ones(b.n_materials)
    else:
        cons0 = b.consumption()[:, r]
        cc = b.controller_content[:, r] if b.controller_content is not None else 0.0
        dep_num = b.imports_from_controller[:, r] + b.production[:, r] * cc
        dep = np.clip(np.divide(dep_num, cons0, out=np.ones_like(cons0), where=cons0 > 0),
                      0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            cut = np.where(dep[None, None, :] > 0, (1.0 - fill) / dep[None, None, :], 0.0)
        avail = np.clip(1.0 - cut, 0.0, 1.0)
    onset = float(result.plan.onset)
    start = result.scenario.start
    return MarketPaths(
        materials=tuple(b.materials), price_multiple=pm, availability=avail,
        base_price_usd_per_kg=np.asarray(result.plan.p0, dtype=np.float64),
        dt_months=float(result.plan.dt), onset_month=onset if math.isfinite(onset) else 0.0,
        start=f"{start.year:04d}-{start.month:02d}",
        meta={"scenario": result.scenario.name, "region": b.region_labels[r],
              "segment_dependence": dict(zip(b.materials, map(float, dep), strict=True)),
              **{k: result.provenance.get(k) for k in ("seed", "draws", "scenario_hash",
                                                       "dataset_version", "baseline_year")}},
    )


@dataclass(frozen=True)
class LineResult:
    """Per-draw output of :func:`run_line` (D draws, T steps, I inputs).

    Attributes
    ----------
    produced : numpy.ndarray, shape (D, T)
        Units made per step [units/step].
    delayed : numpy.ndarray, shape (D, T)
        Planned units not made per step [units/step].
    delivered : numpy.ndarray, shape (D, T, I)
        Input delivered per step, current suppliers and alternatives [kg/step].
    from_alternatives : numpy.ndarray, shape (D, T, I)
        Part of ``delivered`` from alternatives [kg/step].
    stockout : numpy.ndarray, shape (D,)
        Time of the first stock-out from the start of the paths [months]; ``inf`` if none
        within the horizon.
    input_stockout : numpy.ndarray, shape (D, I)
        Stock-out time of each input alone at planned production [months] (``inf``: none).
    """

    produced: FloatArray
    delayed: FloatArray
    delivered: FloatArray
    from_alternatives: FloatArray
    stockout: FloatArray
    input_stockout: FloatArray


def run_line(
    units_per_step: FloatArray,
    mass_kg_per_unit: FloatArray,
    stock_kg: FloatArray,
    supply_share: FloatArray,
    alt_kg_per_step: FloatArray | None = None,
    *,
    dt_months: float = 1.0,
) -> LineResult:
    """Monthly model of one product line: inventories, deliveries, output (pure, vectorised).

    Parameters
    ----------
    units_per_step : numpy.ndarray, shape (D,)
        Planned output per step [units/step].
    mass_kg_per_unit : numpy.ndarray, shape (D, I)
        Input per unit [kg/unit].
    stock_kg : numpy.ndarray, shape (D, I)
        Initial inventory [kg].
    supply_share : numpy.ndarray, shape (D, T, I)
        Share of the planned need delivered by the current suppliers in each step [-].
    alt_kg_per_step : numpy.ndarray, shape (D, T, I), optional
        What qualified alternatives can deliver in each step [kg/step] (0 before
        qualification).
    dt_months : float, default 1
        Step length [months].

    Returns
    -------
    LineResult

    Notes
    -----
    With need n_i = U m_i per step, deliveries d_i(t) = min(n_i, n_i σ_i(t) + A_i(t)), stock
    S_i and output P(t) = min(U, min_i (S_i + d_i)/m_i) (all inputs are needed, Leontief),
    S_i ← S_i + d_i − P m_i. The first stock-out is at t* + S_i(t*)/(n_i − d_i(t*)) steps for
    the first input with S_i + d_i < n_i; before it every input runs at plan, so the input
    stock-outs are independent and the product's is their minimum. More initial stock never
    brings a stock-out forward.

    Examples
    --------
    >>> import numpy as np
    >>> r = run_line(np.array([10.0]), np.array([[2.0]]), np.array([[60.0]]),
    ...              np.full((1, 8, 1), 0.5))
    >>> float(r.stockout[0]), r.delayed[0].round(1).tolist()
    (6.0, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0, 5.0])
    """
    u = np.asarray(units_per_step, dtype=np.float64)
    m = np.asarray(mass_kg_per_unit, dtype=np.float64)
    s = np.array(stock_kg, dtype=np.float64)
    sig = np.asarray(supply_share, dtype=np.float64)
    d_n, t_n, i_n = sig.shape
    alt = (np.zeros_like(sig) if alt_kg_per_step is None
           else np.asarray(alt_kg_per_step, dtype=np.float64))
    if u.shape != (d_n,) or m.shape != (d_n, i_n) or s.shape != (d_n, i_n) \
            or alt.shape != sig.shape:
        raise ValueError("inconsistent shapes")
    need = u[:, None] * m  # (D, I) kg/step
    produced = np.zeros((d_n, t_n))
    delivered = np.zeros((d_n, t_n, i_n))
    from_alt = np.zeros((d_n, t_n, i_n))
    stockout = np.full(d_n, np.inf)
    alone = np.full((d_n, i_n), np.inf)
    s_alone = s.copy()
    for t in range(t_n):  # loop over steps, never over draws
        base = need * np.clip(sig[:, t], 0.0, 1.0)
        d = np.minimum(need, base + np.maximum(alt[:, t], 0.0))
        delivered[:, t] = d
        from_alt[:, t] = d - base
        # each input alone at planned production
        gap = need - d
        short = (s_alone + d < need - 1e-9 * need) & ~np.isfinite(alone)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(gap > 0, s_alone / gap, 0.0)
        alone = np.where(short, (t + np.clip(frac, 0.0, 1.0)) * dt_months, alone)
        s_alone = np.maximum(s_alone + d - need, 0.0)
        # the coupled line
        avail = s + d
        with np.errstate(divide="ignore", invalid="ignore"):
            cap = np.where(m > 0, avail / np.where(m > 0, m, 1.0), np.inf).min(axis=1)
        p = np.minimum(u, cap)
        produced[:, t] = p
        s = np.maximum(avail - p[:, None] * m, 0.0)
    stockout = alone.min(axis=1) if i_n else stockout
    delayed = np.maximum(u[:, None] - produced, 0.0)
    return LineResult(produced, delayed, delivered, from_alt, stockout, alone)


def _q3(x: FloatArray) -> tuple[float, float, float]:
    q = np.quantile(np.asarray(x, dtype=np.float64), (0.1, 0.5, 0.9), method="inverted_cdf")
    return float(q[0]), float(q[1]), float(q[2])


def _add_months(start: str, months: float) -> str:
    if not start or not math.isfinite(months):
        return ""
    y, mo = (int(x) for x in start.split("-"))
    k = mo - 1 + math.floor(months)
    return f"{y + k // 12:04d}-{k % 12 + 1:02d}"


def impact(
    bom: Bom,
    scenario: Scenario | str | Path | Result | MarketPaths,
    *,
    draws: int = 500,
    seed: int | None = None,
    store: Store | None = None,
    horizon: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Answer:
    """Impact of a disruption scenario on each product line, P10/P50/P90 over draws.

    ``progress(done, total)`` is passed to the engine run (draws done of the total).

    Parameters
    ----------
    bom : Bom
        The bill of materials.
    scenario : Scenario, str, pathlib.Path, Result or MarketPaths
        A scenario (built-in name, YAML file or :class:`~oreflow.simulate.Scenario`, read by
        :meth:`~oreflow.simulate.Scenario.load`) run by :func:`oreflow.simulate.simulate`
        on ``store``; an engine result already computed; or synthetic :class:`MarketPaths`
        (then used for every product whatever its plant country).
    draws : int, default 500
        Monte Carlo draws of the engine (ignored for a Result or MarketPaths).
    seed : int, optional
        Seed of the engine run and of the BOM's uncertain quantities (ranges are sampled
        uniformly per draw); recorded in ``meta``. Default: the engine result's seed, else
        fresh entropy.
    store : oreflow.data.store.Store, optional
        Data store (default the embedded data plus user imports): the tracing reads it, and
        a scenario is simulated on it (:func:`oreflow.simulate.simulate` with ``store=``).
    horizon : int, optional
        Override the scenario horizon [months].

    Returns
    -------
    oreflow.answer.Answer
        Tables (months counted from the onset of the first shock):

        - ``summary`` (one row per product): months to stock-out, units delayed over the
          horizon, cost increase [USD/unit] (mean over the months after onset) and
          [USD/yr] (annualised), revenue at risk [USD] (delayed units × unit value), earliest
          month an alternative could be qualified and deliver — each ``_p10/_p50/_p90``;
          the input that runs out first most often;
        - ``inputs`` (one row per input): exposed share (supplier-weighted control share),
          the segment's baseline controller dependence, lowest availability, peak price
          multiple, stock-out of the input alone, cost increase, qualification and first
          delivery from alternatives, P10/P50/P90;
        - ``monthly`` (product × step): units planned, units delayed and cost increase per
          unit, P10/P50/P90.

    Notes
    -----
    Each supplier s of input i delivers the share 1 − κ_s (1 − a_i(t)) of its baseline volume,
    with κ_s its controller control share (:func:`exposure`; 1 in the controller) and
    a_i(t) the engine's availability of controller-dependent supply of the input's material
    in the buyer's segment (:func:`market_paths`). Alternatives deliver their declared
    capacity (times the same factor for their own controller content) from the month their
    qualification and first delivery are done, counted from the onset. Inventory, output and
    stock-out follow :func:`run_line`. The price paid moves by
    ``price_sensitivity × max(p0 (multiple − 1), Σ_e w_e f_ox(e) p0_e (multiple_e − 1))``:
    the magnet market's price change, but at least the change in the cost of the magnet's
    own rare-earth content (so a grade with more Dy costs more when Dy prices rise); p0 is
    your price if given, else the engine's base price. Alternatives add their premium.

    Examples
    --------
    >>> import numpy as np
    >>> paths = MarketPaths(("NdFeB",), np.full((20, 12, 1), 1.5), np.full((20, 12, 1), 0.5),
    ...                     np.array([60.0]))
    >>> ans = impact(Bom.example("ev-motor"), paths, seed=1)
    >>> bool(ans.tables["summary"]["months_to_stockout_p50"].iloc[0] > 0)
    True
    """
    st = resolve_store(store)
    paths_by_country, run_meta, seed_used = _resolve_paths(bom, scenario, draws, seed, horizon,
                                                           store=st, progress=progress)

    def stream(name: str) -> np.random.Generator:  # one stream per BOM quantity
        return named_stream(seed_used, "exposure", name)

    tracer = Tracer(bom, st)
    sum_rows, inp_rows, mon_rows = [], [], []
    notes: list[str] = []
    for prod in bom.products:
        paths = paths_by_country[prod.plant_country]
        d_n, t_n, dt = paths.draws, paths.steps, paths.dt_months
        onset = paths.onset_month
        in_ctrl = prod.plant_country in tracer.members
        pfx = f"{prod.id}"
        units_yr = prod.units_per_year.sample(d_n, rng=stream(f"{pfx}.units"))
        u_step = units_yr / 12.0 * dt
        n_in = len(prod.inputs)
        mass = np.zeros((d_n, n_in))
        stock = np.zeros((d_n, n_in))
        sigma = np.ones((d_n, t_n, n_in))
        alt_kg = np.zeros((d_n, t_n, n_in))
        dprice = np.zeros((d_n, t_n, n_in))  # USD/kg change of the price paid
        premium = np.zeros((d_n, t_n, n_in))  # USD/kg premium on alternative volumes
        first_alt = np.full((d_n, n_in), np.inf)
        info: list[dict[str, Any]] = []
        months = np.arange(t_n) * dt
        for i, inp in enumerate(prod.inputs):
            ipfx = f"{pfx}.{inp.id}"
            tr = tracer.trace(inp)
            mass[:, i] = inp.mass_kg_per_unit.sample(d_n, rng=stream(f"{ipfx}.mass"))
            inv = inp.inventory_months.sample(d_n, rng=stream(f"{ipfx}.inventory"))
            stock[:, i] = inv / dt * u_step * mass[:, i]
            avail, pm, base_price, used, how = _input_paths(inp, tr, paths)
            if how:
                notes.append(f"{prod.id}/{inp.id}: {how}")
            kappa_sup = np.array([1.0 if in_ctrl else tracer.kappa(tr, s.country)
                                  for s in inp.suppliers])
            shares = np.array([s.share for s in inp.suppliers])
            kbar = float(shares @ kappa_sup) if not in_ctrl else 1.0
            sigma[:, :, i] = 1.0 - kbar * (1.0 - avail)
            if inp.price_usd_per_kg is not None:
                p_now = inp.price_usd_per_kg.sample(d_n, rng=stream(f"{ipfx}.price"))
            else:
                p_now = np.full(d_n, base_price)
            change = p_now[:, None] * (pm - 1.0)
            content_change = _content_cost_change(inp, tr, paths)
            if content_change is not None and used == inp.type:
                # a magnet's price rises at least by the cost of its rare-earth content
                change = np.maximum(change, content_change)
            dprice[:, :, i] = inp.price_sensitivity * change
            qual, _src = qualification(inp, st)
            q_in = qual.sample(d_n, rng=stream(f"{ipfx}.qualification"))
            deliv = inp.delivery_months.sample(d_n, rng=stream(f"{ipfx}.delivery"))
            ready_any = np.full(d_n, np.inf)
            for a_i, alt in enumerate(inp.alternatives):
                apfx = f"{ipfx}.alt{a_i}"
                q_alt = (alt.qualification_months.sample(d_n, rng=stream(f"{apfx}.q"))
                         if alt.qualification_months is not None else q_in)
                ready = onset + q_alt + deliv  # months from the start of the paths
                ready_any = np.minimum(ready_any, ready)
                if alt.capacity_kg_per_month is None:
                    continue
                cap = alt.capacity_kg_per_month.sample(d_n, rng=stream(f"{apfx}.cap"))
                k_alt = 1.0 if in_ctrl else tracer.kappa(tr, alt.country)
                share_on = np.clip((months[None, :] + dt - ready[:, None]) / dt, 0.0, 1.0)
                vol = cap[:, None] * dt * share_on * (1.0 - k_alt * (1.0 - avail))
                alt_kg[:, :, i] += vol
                premium[:, :, i] += alt.price_premium * p_now[:, None] * (vol > 0)
            if not inp.alternatives:
                ready_any = onset + q_in + deliv
            first_alt[:, i] = ready_any
            info.append({"input": inp, "trace": tr, "kbar": kbar, "avail": avail, "pm": pm,
                         "material": used, "declared_capacity": any(
                             a.capacity_kg_per_month is not None for a in inp.alternatives)})
        res = run_line(u_step, mass, stock, sigma, alt_kg, dt_months=dt)
        after = months + dt > onset  # steps at or after the onset
        horizon_after = max(float(t_n * dt - onset), dt)
        # costs
        alt_share = np.divide(res.from_alternatives, res.delivered,
                              out=np.zeros_like(res.delivered), where=res.delivered > 0)
        per_kg = dprice + premium * alt_share
        cost_unit_t = (mass[:, None, :] * per_kg).sum(axis=2)  # (D, T) USD/unit
        cost_t = (res.delivered * dprice + res.from_alternatives * premium).sum(axis=2)
        cost_unit = cost_unit_t[:, after].mean(axis=1) if after.any() else np.zeros(d_n)
        cost_year = cost_t[:, after].sum(axis=1) * 12.0 / horizon_after
        delayed_total = res.delayed[:, after].sum(axis=1)
        planned_total = u_step * int(after.sum())
        value = (prod.unit_value_usd.sample(d_n, rng=stream(f"{pfx}.value"))
                 if prod.unit_value_usd else None)
        mts = np.maximum(res.stockout - onset, 0.0)
        binding = np.where(np.isfinite(res.stockout), res.input_stockout.argmin(axis=1), -1)
        counts = np.bincount(binding[binding >= 0], minlength=n_in)
        row: dict[str, Any] = {"product": prod.id, "plant_country": prod.plant_country,
                               "region": paths.meta.get("region", ""),
                               "units_per_year": prod.units_per_year.point}
        _put3(row, "months_to_stockout", mts)
        row["stockout_share_of_draws"] = float(np.isfinite(res.stockout).mean())
        row["first_input_out"] = (prod.inputs[int(counts.argmax())].id
                                  if counts.sum() > 0 else "")
        _put3(row, "units_delayed", delayed_total)
        _put3(row, "units_delayed_share", np.divide(delayed_total, planned_total,
                                                    out=np.zeros(d_n),
                                                    where=planned_total > 0))
        _put3(row, "cost_increase_usd_per_unit", cost_unit)
        _put3(row, "cost_increase_usd_per_year", cost_year)
        if value is not None:
            _put3(row, "revenue_at_risk_usd", delayed_total * value)
        _put3(row, "alternative_months", np.maximum(first_alt.min(axis=1) - onset, 0.0))
        sum_rows.append(row)
        for i, meta in enumerate(info):
            inp = meta["input"]
            dep = paths.meta.get("segment_dependence", {}).get(meta["material"], np.nan)
            irow: dict[str, Any] = {"product": prod.id, "input": inp.id,
                                    "material_path": meta["material"],
                                    "exposed_share": meta["kbar"],
                                    "segment_dependence": dep}
            _put3(irow, "min_availability", meta["avail"].min(axis=1))
            _put3(irow, "peak_price_multiple", meta["pm"].max(axis=1))
            _put3(irow, "months_to_stockout_alone",
                  np.maximum(res.input_stockout[:, i] - onset, 0.0))
            _put3(irow, "cost_increase_usd_per_unit",
                  (mass[:, None, i] * per_kg[:, :, i])[:, after].mean(axis=1)
                  if after.any() else np.zeros(d_n))
            _put3(irow, "alternative_months", np.maximum(first_alt[:, i] - onset, 0.0))
            irow["alternative_capacity_declared"] = meta["declared_capacity"]
            irow["alternative_date_p50"] = _add_months(
                paths.start, float(np.quantile(first_alt[:, i], 0.5, method="inverted_cdf")))
            _put3(irow, "kg_from_alternatives", res.from_alternatives[:, :, i].sum(axis=1))
            inp_rows.append(irow)
        dq = np.quantile(res.delayed, (0.1, 0.5, 0.9), axis=0, method="inverted_cdf")
        cq = np.quantile(cost_unit_t, (0.1, 0.5, 0.9), axis=0, method="inverted_cdf")
        for t in range(t_n):
            mon_rows.append({
                "product": prod.id, "month": float(months[t]),
                "months_from_onset": float(months[t] - onset),
                "date": _add_months(paths.start, float(months[t])),
                "units_planned": float(np.median(u_step)),
                "units_delayed_p10": float(dq[0, t]), "units_delayed_p50": float(dq[1, t]),
                "units_delayed_p90": float(dq[2, t]),
                "cost_increase_usd_per_unit_p10": float(cq[0, t]),
                "cost_increase_usd_per_unit_p50": float(cq[1, t]),
                "cost_increase_usd_per_unit_p90": float(cq[2, t]),
            })
    if any(not any(a.capacity_kg_per_month for a in inp.alternatives)
           for p in bom.products for inp in p.inputs):
        notes.append("inputs without a declared alternative capacity get no alternative "
                     "supply: spare capacity is not in the data and is not assumed")
    notes.append("months are counted from the onset of the first shock; inf = no stock-out "
                 "within the horizon; P10 is the pessimistic end for stock-out and the "
                 "optimistic end for delays and costs")
    tables = {"summary": pd.DataFrame(sum_rows), "inputs": pd.DataFrame(inp_rows),
              "monthly": pd.DataFrame(mon_rows)}
    meta = {"bom": bom.name, "bom_origin": bom.origin, "bom_hash": bom.hash(),
            "seed": seed_used, **run_meta}
    cit = citation_table(bom)
    sources = sorted({s for s in cit["source_id"] if s}
                     | {s for ids in traced_sources(tracer).values() for s in ids})
    return Answer(tables, sources, list(dict.fromkeys(notes)), meta)


def _put3(row: dict[str, Any], name: str, x: FloatArray) -> None:
    p10, p50, p90 = _q3(x)
    row[f"{name}_p10"], row[f"{name}_p50"], row[f"{name}_p90"] = p10, p50, p90


def _input_paths(
    inp: Input, tr: Trace, paths: MarketPaths
) -> tuple[FloatArray, FloatArray, float, str, str]:
    """Availability (D, T), price multiple (D, T), base price [USD/kg], path used, note."""
    d_n, t_n = paths.draws, paths.steps
    name = inp.type
    j = paths.index(name)
    if j is not None:
        bp = float(paths.base_price_usd_per_kg[j])
        if inp.kind == "material" and inp.form == "metal":
            bp = bp * oxide_factor(inp.type)  # oxide price per kg metal (lower bound)
        return (paths.availability[:, :, j], paths.price_multiple[:, :, j], bp, name, "")
    # fall back on the elements of a magnet
    idx = [paths.index(str(e)) for e in tr.elements.index]
    have = [(str(e), k) for e, k in zip(tr.elements.index, idx, strict=True) if k is not None]
    if have:
        avail = np.min([paths.availability[:, :, k] for _, k in have], axis=0)
        w = np.array([float(tr.elements[e]) * oxide_factor(e)
                      * float(paths.base_price_usd_per_kg[k]) for e, k in have])
        bp = float(w.sum())
        pm = (np.tensordot(w, np.stack([paths.price_multiple[:, :, k] for _, k in have]),
                           axes=1) / bp) if bp > 0 else np.ones((d_n, t_n))
        used = "+".join(e for e, _ in have)
        return (avail, pm, bp, used, f"no {name} market in the scenario: follows its "
                f"elements {used} (price on rare-earth content only)")
    return (np.ones((d_n, t_n)), np.ones((d_n, t_n)), 0.0, "",
            f"no market for {name} or its elements in the scenario: treated as unaffected")


def _content_cost_change(inp: Input, tr: Trace, paths: MarketPaths) -> FloatArray | None:
    """Change in the cost of a magnet's rare-earth content [USD/kg magnet], (D, T).

    Σ_e w_e f_ox(e) p0_e (multiple_e − 1), with w_e the grade's content [kg metal/kg], f_ox
    the oxide factor and p0_e the oxide base price, over the elements the paths carry;
    ``None`` for a material input or when the paths carry none of the elements.
    """
    if inp.kind != "magnet":
        return None
    out = np.zeros((paths.draws, paths.steps))
    found = False
    for e, w in tr.elements.items():
        k = paths.index(str(e))
        if k is None:
            continue
        found = True
        out += (float(w) * oxide_factor(str(e)) * float(paths.base_price_usd_per_kg[k])
                * (paths.price_multiple[:, :, k] - 1.0))
    return out if found else None


def _resolve_paths(
    bom: Bom,
    scenario: Scenario | str | Path | Result | MarketPaths,
    draws: int,
    seed: int | None,
    horizon: int | None,
    *,
    store: Store,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, MarketPaths], dict[str, Any], int]:
    """Market paths per plant country, run metadata and the seed used for BOM sampling.

    A scenario (name, YAML path or :class:`~oreflow.simulate.Scenario`, read by
    :meth:`Scenario.load`) is simulated on ``store``.
    """
    countries = sorted({p.plant_country for p in bom.products})
    if isinstance(scenario, MarketPaths):
        entropy = np.random.SeedSequence().entropy
        seed_used = int(seed) if seed is not None else int(str(entropy)) % (2**63)
        meta = {"scenario": scenario.meta.get("scenario", "synthetic paths"),
                "draws": scenario.draws, "paths_meta": dict(scenario.meta)}
        return dict.fromkeys(countries, scenario), meta, seed_used
    if isinstance(scenario, Result):
        result = scenario
    else:
        if draws < 1:
            raise InputError("draws must be at least 1")
        result = simulate(Scenario.load(scenario), draws=draws, seed=seed, horizon=horizon,
                          store=store, progress=progress)
    prov = dict(result.provenance)
    seed_used = int(seed) if seed is not None else int(prov.get("seed", 0))
    paths = {c: market_paths(result, c) for c in countries}
    meta = {"scenario": result.scenario.name, "draws": int(prov.get("draws", 0)),
            "engine": {k: prov.get(k) for k in ("scenario_hash", "seed", "dataset_version",
                                                "dataset_hash", "baseline_year",
                                                "horizon_months")},
            "regions": {c: p.meta.get("region", "") for c, p in paths.items()}}
    return paths, meta, seed_used
