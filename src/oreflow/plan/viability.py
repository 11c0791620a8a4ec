"""Project viability (issue 12): cash flows, net present value and the break-even price floor.

One concern: given an :class:`~oreflow.plan.options.Option` (a pipeline project or a generic
module), the price it sells at (from the data, or from a scenario's price paths), its costs
and its timing, compute its net present value and the price floor that would make it viable,
so an investor sees which projects a floor such as the 2025 US DoD–MP NdPr floor keeps alive.

Pure functions over an explicit ``store=`` and ``defaults=``; nothing is printed or read from
files here. ``docs/plan-viability.md`` gives the method, every default and its source.

Units: tonnes [t], prices and costs [USD/kg of the product], money [million USD] (``_musd``),
time in years or months as named.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.chain import SupplyChain, oxide_factor
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError
from oreflow.plan.defaults import PlanDefaults, Value, load_defaults
from oreflow.plan.options import DEFAULT_YEAR, Option, offtake_options

if TYPE_CHECKING:
    from oreflow.simulate.result import Result

__all__ = [
    "AFTER_HORIZON",
    "HEAVY",
    "BreakEven",
    "CashFlows",
    "PriceBasis",
    "PricePaths",
    "break_even_floor",
    "cash_flows",
    "irr",
    "npv",
    "price_basis",
    "price_paths",
    "project_npv",
    "viability_table",
]

F = NDArray[np.float64]
AfterHorizon = Literal["base", "last"]
#: Rules for the price after a scenario's horizon: ``base`` (back to the baseline price) or
#: ``last`` (the mean of the horizon's last 12 months, held for the rest of the life).
AFTER_HORIZON: tuple[str, ...] = ("base", "last")
#: Heavy rare earths (with Y): what a ``heavy REO`` capacity is priced as.
HEAVY: tuple[str, ...] = ("Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Y")
_MAGNET_RE: tuple[str, ...] = ("Nd", "Pr", "Dy", "Tb")
_NDPR: tuple[str, ...] = ("Nd", "Pr")


# --------------------------------------------------------------------------------------
# Price basis: what one kg of an option's output is worth and costs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceBasis:
    """How one kg of an option's product is priced and costed.

    Attributes
    ----------
    material : str
        The option's material (``NdPr oxide``, ``REO`` ...).
    components : tuple of (str, float)
        Priced markets (engine materials: ``Nd``, ``Pr``, ``Dy`` ..., ``NdFeB``) and the kg of
        each in one kg of product (a basket sums to 1); the product price is
        ``payability × ratio × Σ w_i p_i`` [USD/kg].
    payability : float
        Share of the basket value a buyer pays [0-1] (concentrate); 1 for separated products.
    ratio : float
        Price of the product per price of its components (the metal premium; 1 otherwise).
    ndpr_weight : float
        Weight of Nd+Pr among the components when the product is a separated oxide the NdPr
        floor applies to; 0 when it does not (see ``floor_note``).
    floor_note : str
        Why the NdPr floor does not apply (empty when it does).
    opex_usd_per_kg : float or None
        Fixed operating cost [USD/kg product]; ``None`` when unknown (see ``reason``).
    inputs : tuple of (str, float)
        Markets bought as feed per kg of product [kg/kg], costed at the same price path.
    reason : str
        Why the option cannot be valued (empty when it can).
    basis : str
        Human-readable description of the price and cost used.
    source_ids : tuple of str
        Sources of the numbers used.
    estimate : bool
        True when any number used is an estimate.
    """

    material: str
    components: tuple[tuple[str, float], ...] = ()
    payability: float = 1.0
    ratio: float = 1.0
    ndpr_weight: float = 0.0
    floor_note: str = ""
    opex_usd_per_kg: float | None = None
    inputs: tuple[tuple[str, float], ...] = ()
    reason: str = ""
    basis: str = ""
    source_ids: tuple[str, ...] = ()
    estimate: bool = False

    @property
    def ok(self) -> bool:
        """True when the option can be valued."""
        return not self.reason


@dataclass(frozen=True)
class _Context:
    comp: pd.DataFrame | None
    recipe: Mapping[str, float]


def _context(st: Store, year: int) -> _Context:
    chain = SupplyChain.from_default_data(year=year, store=st)
    rec = {str(k): float(v) for k, v in chain.meta.get("recipe", {}).items()
           if k != "recipe"}
    return _Context(chain.composition(), rec)


def _composition(ctx: _Context, iso3: str) -> tuple[dict[str, float], str]:
    comp = ctx.comp
    if comp is None or comp.empty:
        return {}, "no deposit composition in the data"
    if iso3 in comp.index:
        row, how = comp.loc[iso3], f"{iso3} ore composition"
    else:
        row = comp.mean()
        how = f"mean ore composition of the data's countries (none for {iso3 or 'no country'})"
    return {str(e): float(v) for e, v in row.items() if pd.notna(v) and float(v) > 0}, how


def _norm(w: Mapping[str, float], keep: Iterable[str]) -> dict[str, float]:
    sub = {e: v for e, v in w.items() if e in set(keep)}
    tot = sum(sub.values())
    return {e: v / tot for e, v in sub.items()} if tot > 0 else {}


def _cite(*vals: Value) -> tuple[tuple[str, ...], bool]:
    ids: list[str] = [s for v in vals for s in v.source_ids]
    return tuple(dict.fromkeys(ids)), any(v.estimate for v in vals)


def price_basis(option: Option, *, store: Store | None = None,
                defaults: PlanDefaults | None = None, year: int = 2024,
                _ctx: _Context | None = None) -> PriceBasis:
    """Map an option's material to priced markets, payability and operating cost.

    Parameters
    ----------
    option : Option
        A project, recycling or generic option with a capacity.
    store, defaults
        Data and planning defaults (``defaults.viability``).
    year : int
        Year of the chain whose ore composition prices a mixed REO product.

    Notes
    -----
    ==========================  ===========================================================
    material                    price [USD/kg product] and opex
    ==========================  ===========================================================
    ``NdPr oxide``              Nd and Pr oxide prices, split by the magnet recipe's Pr share;
                                opex ``separation_usd_per_kg_ndpr`` (or the row's own opex)
    ``REO`` at a mine           basket of the country's ore composition × ``payability_pct``;
                                opex ``mine_usd_per_kg_reo``
    ``REO`` at separation       the basket at full value; opex = the NdPr-basis cost × the
                                basket's NdPr share (every cost charged to NdPr, as the
                                feasibility studies report it)
    ``magnet REO (separated)``  basket of Nd, Pr, Dy, Tb of the composition; the row's opex
    ``Dy+Tb oxide``             Dy and Tb in the recipe's Dy:Tb oxide ratio; no opex source
    ``heavy REO``               basket of :data:`HEAVY` in the composition; no opex source
    ``Y oxide``                 the Y oxide price; no opex source
    ``NdPr metal``              NdPr oxide price × ``metal_price_ratio``; opex = oxide feed
                                (``oxide_factor``, 1.166 kg per kg metal) at the same price
                                path + ``metal_conversion_usd_per_kg``
    ``NdFeB``                   the NdFeB price; opex = the recipe's rare earths bought as
                                metal (oxide-basis kg × price × ``metal_price_ratio`` /
                                ``oxide_factor``) + ``magnet_conversion_usd_per_kg``
    ==========================  ===========================================================

    Anything else gets a ``reason`` and no price: it is never guessed.
    """
    st = resolve_store(store)
    d = defaults or load_defaults(store=st)
    v = d.viability
    ctx = _ctx or _context(st, year)
    m = option.material
    rec = ctx.recipe
    nd, pr = rec.get("Nd", 0.0), rec.get("Pr", 0.0)
    pr_share = pr / (nd + pr) if nd + pr > 0 else 0.5
    ndpr = (("Nd", 1 - pr_share), ("Pr", pr_share))
    ndpr_txt = f"Nd:Pr {1 - pr_share:.3f}:{pr_share:.3f} (recipe Pr share)"
    own = option.opex_usd_per_kg
    sep = v.opex.separation_usd_per_kg_ndpr
    not_oxide = "the floor guarantees a separated NdPr oxide price"
    if m == "NdPr oxide":
        ids, est = _cite(sep) if own is None else (option.source_ids, option.estimate)
        return PriceBasis(
            m, ndpr, ndpr_weight=1.0,
            opex_usd_per_kg=own if own is not None else sep.value,
            basis=f"NdPr oxide price ({ndpr_txt}); opex "
            + ("of the projects row" if own is not None else "separation_usd_per_kg_ndpr"),
            source_ids=ids, estimate=est)
    if m in ("REO", "magnet REO (separated)", "heavy REO"):
        comp, how = _composition(ctx, option.iso3)
        if not comp:
            return PriceBasis(m, reason=how)
        if m == "REO" and option.stage == "mine":
            w = _norm(comp, comp)
            ids, est = _cite(v.payability_pct, v.opex.mine_usd_per_kg_reo)
            return PriceBasis(
                m, tuple(w.items()), payability=v.payability_pct.value / 100,
                floor_note=f"sells concentrate; {not_oxide}",
                opex_usd_per_kg=own if own is not None else v.opex.mine_usd_per_kg_reo.value,
                basis=f"concentrate: basket of the {how} × payability "
                      f"{v.payability_pct.value:g}%; opex mine_usd_per_kg_reo",
                source_ids=ids, estimate=est)
        keep = {"REO": tuple(comp), "magnet REO (separated)": _MAGNET_RE, "heavy REO": HEAVY}[m]
        w = _norm(comp, keep)
        if not w:
            return PriceBasis(m, reason=f"{how} has none of {', '.join(keep)}")
        share = sum(w.get(e, 0.0) for e in _NDPR)
        if own is not None:
            opex: float | None = own
            ids, est = option.source_ids, option.estimate
            otxt = "opex of the projects row"
        elif share > 0 and m != "heavy REO":
            opex = sep.value * share
            ids, est = _cite(sep)
            est = True
            otxt = (f"opex = separation_usd_per_kg_ndpr × NdPr share {share:.3f} of the basket "
                    "(derived)")
        else:
            return PriceBasis(m, tuple(w.items()), reason=(
                f"no operating cost for {m} separation in the data or the defaults"))
        return PriceBasis(
            m, tuple(w.items()), ndpr_weight=share if m != "heavy REO" else 0.0,
            floor_note="" if share > 0 and m != "heavy REO" else "no NdPr in the product",
            opex_usd_per_kg=opex, basis=f"separated oxides: basket of the {how}"
            + ("" if m == "REO" else f" restricted to {', '.join(keep)}") + f"; {otxt}",
            source_ids=ids, estimate=est)
    if m in ("Dy+Tb oxide", "Y oxide"):
        if m == "Dy+Tb oxide":
            dy = rec.get("Dy", 0.0) * oxide_factor("Dy")
            tb = rec.get("Tb", 0.0) * oxide_factor("Tb")
            s = dy / (dy + tb) if dy + tb > 0 else 0.5
            comps: tuple[tuple[str, float], ...] = (("Dy", s), ("Tb", 1 - s))
        else:
            comps = (("Y", 1.0),)
        if own is None:
            return PriceBasis(m, comps, reason=(
                f"no operating cost for {m} separation in the data or the defaults"))
        return PriceBasis(m, comps, opex_usd_per_kg=own, floor_note="no NdPr in the product",
                          basis=f"{m} price; opex of the projects row",
                          source_ids=option.source_ids, estimate=option.estimate)
    if m == "NdPr metal":
        r = v.metal_price_ratio
        conv = v.opex.metal_conversion_usd_per_kg
        f = oxide_factor("Nd")
        ids, est = _cite(r, conv)
        return PriceBasis(
            m, ndpr, ratio=r.value, floor_note=f"sells metal; {not_oxide}",
            opex_usd_per_kg=conv.value, inputs=tuple((e, w * f) for e, w in ndpr),
            basis=f"NdPr oxide price × metal_price_ratio {r.value:g}; opex = {f:.3f} kg oxide "
                  f"feed per kg metal at market + metal_conversion_usd_per_kg {conv.value:g}",
            source_ids=ids, estimate=est)
    if m == "NdFeB":
        r = v.metal_price_ratio
        conv = v.opex.magnet_conversion_usd_per_kg
        feed = tuple((e, w * r.value / oxide_factor(e)) for e, w in rec.items()
                     if w > 0)
        if not feed:
            return PriceBasis(m, (("NdFeB", 1.0),), reason="no magnet recipe in the data")
        ids, est = _cite(r, conv)
        return PriceBasis(
            m, (("NdFeB", 1.0),), floor_note=f"sells magnets; {not_oxide}",
            opex_usd_per_kg=conv.value, inputs=feed,
            basis="NdFeB price; opex = the market-average recipe's rare earths bought as metal "
                  f"+ magnet_conversion_usd_per_kg {conv.value:g}",
            source_ids=ids, estimate=est)
    return PriceBasis(m, reason=f"no price for '{m}' in the data (not mapped to a priced "
                                 "product)")


# --------------------------------------------------------------------------------------
# Price paths
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PricePaths:
    """Monthly prices by market, per draw, from a calendar month on.

    Attributes
    ----------
    start : tuple of (int, int)
        (year, month) of column 0 of the paths.
    base : mapping of str to float
        Base price of each market [USD/kg] (before and, with ``after='base'``, after the
        paths).
    paths : mapping of str to numpy.ndarray
        Prices, shape (draws, months) [USD/kg]; may be empty (flat prices).
    after : str
        What the price is after the paths (:data:`AFTER_HORIZON`).
    segment : str
        Segment whose prices these are (``flat`` without a scenario).
    draws : int
        Number of draws.
    """

    start: tuple[int, int]
    base: Mapping[str, float]
    paths: Mapping[str, F] = field(default_factory=dict)
    after: str = "base"
    segment: str = "flat"
    draws: int = 1

    def monthly(self, market: str, year0: int, months: int) -> F:
        """Prices of ``market`` from January of ``year0`` for ``months`` months, shape
        (draws, months) [USD/kg]."""
        if market not in self.base:
            raise InputError(f"no base price for market '{market}'")
        out = np.full((self.draws, months), float(self.base[market]))
        path = self.paths.get(market)
        if path is None:
            return out
        off = (self.start[0] - year0) * 12 + self.start[1] - 1
        n = path.shape[1]
        lo, hi = max(off, 0), min(off + n, months)
        if hi > lo:
            out[:, lo:hi] = path[:, lo - off:hi - off]
        if self.after == "last" and off + n < months:
            tail = path[:, max(n - 12, 0):].mean(axis=1)
            out[:, max(off + n, 0):] = tail[:, None]
        return out


def _flat_base(st: Store, year: int) -> dict[str, float]:
    from oreflow.simulate.baseline_minerals import NoteBook
    from oreflow.simulate.baseline_prices import RE_MATS, re_prices
    price, _ = re_prices(st, year, NoteBook())
    return {m: float(p) for m, p in zip(RE_MATS, price, strict=True)}


def price_paths(result: Result | None = None, iso3: str = "", *, store: Store | None = None,
                year: int = 2024, after: AfterHorizon = "base") -> PricePaths:
    """The price paths a project in ``iso3`` sells at.

    Parameters
    ----------
    result : oreflow.simulate.result.Result, optional
        A disruption run; ``None`` gives flat prices of ``year`` (the engine's base prices:
        China FOB oxide annual averages, China's magnet export value).
    iso3 : str
        The project's country: its segment's prices are used (``Baseline.region_of``: the
        controller, a named target, else ``rest``); a segment without baseline volume falls
        back to ``rest``.
    after : str
        The price after the horizon: ``base`` (the segment's base price: the scenario is a
        shock, and the baseline is the sourced price level) or ``last`` (the mean of the
        horizon's last 12 months, per draw: a lasting shift).

    Raises
    ------
    oreflow.errors.InputError
        An unknown ``after`` rule.
    """
    if after not in AFTER_HORIZON:
        raise InputError(f"unknown rule after the horizon {after!r}; known: "
                         f"{', '.join(AFTER_HORIZON)}")
    if result is None:
        return PricePaths((year, 1), _flat_base(resolve_store(store), year), after=after)
    b = result.plan.baseline
    seg = b.region_of(iso3)
    present = result.present
    price = result.arrays.price
    base: dict[str, float] = {}
    paths: dict[str, F] = {}
    for i, m in enumerate(result.materials):
        s = seg if present[i, seg] else 1
        base[m] = float(result.plan.p0_region[i, s])
        paths[m] = np.asarray(price[:, :, i, s], dtype=np.float64)
    start = result.scenario.start
    step = round(float(result.plan.dt))
    if step != 1:
        for m in paths:
            paths[m] = np.repeat(paths[m], step, axis=1)
    return PricePaths((start.year, start.month), base, paths, after=after,
                      segment=result.roles[seg], draws=int(result.draws.n))


# --------------------------------------------------------------------------------------
# Cash flows and NPV
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CashFlows:
    """Monthly cash flows of one option, per draw.

    Attributes
    ----------
    year0 : int
        Calendar year of month 0 (January), the discounting base.
    capex_musd, revenue_musd, opex_musd, floor_musd : numpy.ndarray
        Per month [million USD]; revenue and opex shape (draws, months), capex (months,);
        ``floor_musd`` is the part of revenue owed to the floor (0 without one).
    output_t : numpy.ndarray
        Output per month [t product], shape (months,).
    first_output_month : float
        Months from January of ``year0`` to first output.
    """

    year0: int
    capex_musd: F
    revenue_musd: F
    opex_musd: F
    floor_musd: F
    output_t: F
    first_output_month: float

    @property
    def net_musd(self) -> F:
        """Revenue − opex − capex per month, shape (draws, months) [million USD]."""
        return self.revenue_musd - self.opex_musd - self.capex_musd[None, :]


def npv(flows: F, rate_pct: float) -> F:
    """Net present value of monthly cash flows at a yearly rate.

    Parameters
    ----------
    flows : numpy.ndarray
        Cash flows, shape (..., months); month ``m`` is discounted from its start.
    rate_pct : float
        Real discount rate [%/yr].

    Notes
    -----
    NPV = Σ_m CF_m / (1 + r)^(m / 12).

    Examples
    --------
    >>> abs(float(npv(np.array([-100.0] + [0.0] * 11 + [110.0]), 10.0))) < 1e-9
    True
    """
    m = np.arange(flows.shape[-1], dtype=np.float64)
    return np.asarray((flows / (1 + rate_pct / 100) ** (m / 12)).sum(axis=-1))


def _timing(option: Option) -> tuple[float, float]:
    """(months from the decision to first output, ramp months)."""
    ramp = option.ramp_years
    if option.status_class == "ramping":  # producing: the delay lengthens the ramp
        return 0.0, 12 * (ramp + option.delay_years_median)
    return 12 * (option.lead_time_years_median + option.delay_years_median), 12 * ramp


def cash_flows(option: Option, basis: PriceBasis, prices: PricePaths, *,
               life_years: float, year0: int = DEFAULT_YEAR,
               floor_usd_per_kg: float | None = None, floor_on: str = "auto",
               floor_term_years: float = 10.0, floor_start_year: int | None = None,
               sunk_capex: bool = False) -> CashFlows:
    """Monthly cash flows of an option under price paths and an optional price floor.

    Parameters
    ----------
    option : Option
        The project (capacity [t/yr], capex [M USD], lead time, delay, ramp, status).
    basis : PriceBasis
        Its price and cost mapping (:func:`price_basis`); must be ``ok``.
    prices : PricePaths
        Market prices (:func:`price_paths`).
    life_years : float
        Years of output from first output.
    year0 : int
        Discounting base: January of this year; the decision is taken at the start of
        ``option.earliest_decision_year`` (not before ``year0``).
    floor_usd_per_kg : float, optional
        A price floor [USD/kg] paid for ``floor_term_years`` from first output, or from
        January of ``floor_start_year`` when given (a contract fixed in the calendar, as the
        DoD–MP floor from 2025).
    floor_on : str
        ``ndpr`` (the floor is on the NdPr price of a separated oxide, as the DoD–MP floor),
        ``product`` (on the product's own price) or ``auto`` (``ndpr`` when the floor applies
        to the product, else ``product``).
    sunk_capex : bool
        Leave out the capex of a project already producing (status class ``ramping``).

    Notes
    -----
    Timing: first output at decision + (lead time median + delay median) years; for a
    ramping project at the decision, with the delay added to the ramp. Capex is spent in
    equal monthly parts from the decision to first output (all at the decision when there is
    no lead time). Output [t/month] = capacity / 12 × min(1, (m + 1/2 − t₀) / ramp) from
    first output t₀ for ``life_years``. Per month: revenue = output × price, opex = output ×
    (opex + Σ feed × feed price), with price = payability × ratio × Σ w_i p_i, or under a
    floor F on NdPr: payability × ratio × (Σ_{i∉NdPr} w_i p_i + w_NdPr max(p_NdPr, F)).
    """
    if not basis.ok or basis.opex_usd_per_kg is None:
        raise InputError(f"{option.option_id}: cannot be valued: {basis.reason}")
    cap = option.capacity_t_per_yr
    if cap is None or not cap > 0:
        raise InputError(f"{option.option_id}: no capacity")
    if life_years <= 0:
        raise InputError(f"life_years must be positive (got {life_years:g})")
    lead, ramp = _timing(option)
    dec = 12.0 * max(option.earliest_decision_year - year0, 0)
    t0 = dec + lead
    months = math.ceil(t0 + 12 * life_years)
    mm = np.arange(months, dtype=np.float64)
    capex = np.zeros(months)
    cx = 0.0 if (sunk_capex and option.status_class == "ramping") else (option.capex_musd or 0.0)
    if lead <= 0:
        capex[int(dec)] += cx
    else:
        n = max(round(lead), 1)
        capex[int(dec):int(dec) + n] += cx / n
    since = mm + 0.5 - t0
    frac = np.where(since < 0, 0.0, np.minimum(1.0, since / ramp) if ramp > 0 else 1.0)
    frac = np.where(mm + 0.5 >= t0 + 12 * life_years, 0.0, frac)
    out_t = cap / 12 * frac
    p = {k: prices.monthly(k, year0, months) for k, _ in (*basis.components, *basis.inputs)}
    value = sum(w * p[k] for k, w in basis.components)
    gross = basis.payability * basis.ratio * np.asarray(value)
    floored = gross
    if floor_usd_per_kg is not None:
        how = floor_on if floor_on != "auto" else ("ndpr" if basis.ndpr_weight > 0
                                                   else "product")
        f0 = t0 if floor_start_year is None else 12.0 * (floor_start_year - year0)
        term = (mm + 0.5 >= f0) & (mm + 0.5 < f0 + 12 * floor_term_years)
        if how == "ndpr":
            if basis.ndpr_weight <= 0:
                raise InputError(f"{option.option_id}: the NdPr floor does not apply "
                                 f"({basis.floor_note})")
            wn = sum(w for k, w in basis.components if k in _NDPR)
            p_ndpr = sum(w * p[k] for k, w in basis.components if k in _NDPR) / wn
            lift = wn * np.maximum(floor_usd_per_kg - p_ndpr, 0.0)
            floored = gross + basis.payability * basis.ratio * lift * term[None, :]
        elif how == "product":
            floored = np.where(term[None, :], np.maximum(gross, floor_usd_per_kg), gross)
        else:
            raise InputError(f"unknown floor_on {floor_on!r}; known: auto, ndpr, product")
    unit_cost = basis.opex_usd_per_kg + sum(w * p[k] for k, w in basis.inputs)
    kg = out_t * 1000 / 1e6  # t → kg, USD → M USD
    rev = floored * kg[None, :]
    return CashFlows(year0, capex, rev, np.asarray(unit_cost * kg[None, :]) + np.zeros_like(rev),
                     (floored - gross) * kg[None, :], out_t, t0)


def project_npv(option: Option, basis: PriceBasis, prices: PricePaths, *,
                rate_pct: float, life_years: float, year0: int = DEFAULT_YEAR,
                floor_usd_per_kg: float | None = None, floor_on: str = "auto",
                floor_term_years: float = 10.0, floor_start_year: int | None = None,
                sunk_capex: bool = False) -> F:
    """NPV per draw [million USD] at ``rate_pct`` to January of ``year0``
    (:func:`cash_flows`, :func:`npv`)."""
    cf = cash_flows(option, basis, prices, life_years=life_years, year0=year0,
                    floor_usd_per_kg=floor_usd_per_kg, floor_on=floor_on,
                    floor_term_years=floor_term_years, floor_start_year=floor_start_year,
                    sunk_capex=sunk_capex)
    return npv(cf.net_musd, rate_pct)


def irr(flows: F, *, low_pct: float = -50.0, high_pct: float = 200.0,
        tol_pct: float = 1e-4) -> float:
    """Internal rate of return of one monthly cash-flow path [%/yr]: the rate at which
    :func:`npv` is zero, by bisection on [``low_pct``, ``high_pct``].

    Returns NaN when the NPV does not change sign on that range (e.g. a project that never
    pays back, or flows without an outlay).

    Examples
    --------
    >>> round(irr(np.array([-100.0] + [0.0] * 11 + [110.0])), 3)
    10.0
    """
    f_lo, f_hi = float(npv(flows, low_pct)), float(npv(flows, high_pct))
    if not (f_lo >= 0 >= f_hi or f_lo <= 0 <= f_hi):
        return float("nan")
    lo, hi = low_pct, high_pct
    while hi - lo > tol_pct:
        mid = (lo + hi) / 2
        f_mid = float(npv(flows, mid))
        if (f_mid >= 0) == (f_lo >= 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return (lo + hi) / 2


# --------------------------------------------------------------------------------------
# Break-even floor
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BreakEven:
    """The price floor that brings an option's NPV to zero.

    Attributes
    ----------
    floor_usd_per_kg : float or None
        The floor [USD/kg]; 0 when viable without one; ``None`` when no floor up to
        ``high_usd_per_kg`` helps, or the option cannot be valued.
    status : str
        ``viable without a floor``, ``floor needed``, ``not viable below USD X/kg`` or
        ``unknown: <reason>``.
    floor_on : str
        ``NdPr oxide`` or the product the floor is on.
    high_usd_per_kg : float
        Top of the searched range [USD/kg].
    """

    floor_usd_per_kg: float | None
    status: str
    floor_on: str
    high_usd_per_kg: float


def break_even_floor(option: Option, basis: PriceBasis, prices: PricePaths, *,
                     rate_pct: float, life_years: float, year0: int = DEFAULT_YEAR,
                     term_years: float = 10.0, quantile: float = 0.5,
                     high_usd_per_kg: float | None = None, tol_usd_per_kg: float = 0.01,
                     floor_start_year: int | None = None,
                     sunk_capex: bool = False) -> BreakEven:
    """The floor F [USD/kg] with NPV(price max(p_t, F) over ``term_years`` from first
    output, or from ``floor_start_year``) = 0, at the ``quantile`` of the NPV over draws.

    The floor is on the NdPr price for a separated oxide that contains NdPr, else on the
    product's own price. NPV is non-decreasing in F, so bisection on [0, high] finds it;
    ``high`` defaults to 10 × the base price of what the floor is on.

    Examples
    --------
    A floor that is never binding (F = 0) leaves the NPV unchanged; the result is
    ``viable without a floor`` with floor 0 when the NPV is already ≥ 0.
    """
    on = "ndpr" if basis.ndpr_weight > 0 else "product"
    what = "NdPr oxide" if on == "ndpr" else basis.material
    if not basis.ok or basis.opex_usd_per_kg is None:
        return BreakEven(None, f"unknown: {basis.reason}", what, float("nan"))
    if high_usd_per_kg is None:
        if on == "ndpr":
            ref = sum(w * prices.base[k] for k, w in basis.components if k in _NDPR) / sum(
                w for k, w in basis.components if k in _NDPR)
        else:
            ref = basis.payability * basis.ratio * sum(w * prices.base[k]
                                                       for k, w in basis.components)
        high_usd_per_kg = 10 * ref

    def f(x: float | None) -> float:
        v = project_npv(option, basis, prices, rate_pct=rate_pct, life_years=life_years,
                        year0=year0, floor_usd_per_kg=x, floor_on=on,
                        floor_term_years=term_years, floor_start_year=floor_start_year,
                        sunk_capex=sunk_capex)
        return float(np.quantile(v, quantile))

    if f(None) >= 0:
        return BreakEven(0.0, "viable without a floor", what, high_usd_per_kg)
    if f(high_usd_per_kg) < 0:
        return BreakEven(None, f"not viable below USD {high_usd_per_kg:,.0f}/kg", what,
                         high_usd_per_kg)
    lo, hi = 0.0, high_usd_per_kg
    while hi - lo > tol_usd_per_kg:
        mid = (lo + hi) / 2
        if f(mid) >= 0:
            hi = mid
        else:
            lo = mid
    return BreakEven(hi, "floor needed", what, high_usd_per_kg)


# --------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------


def _q(v: F) -> tuple[float, float, float]:
    a, b, c = np.quantile(v, (0.1, 0.5, 0.9))
    return float(a), float(b), float(c)


def viability_table(options: Sequence[Option], result: Result | None = None, *,
                    store: Store | None = None, defaults: PlanDefaults | None = None,
                    floor: Option | float | None = None, year: int = DEFAULT_YEAR,
                    price_year: int | None = None, after: AfterHorizon = "base",
                    floor_term_years: float | None = None,
                    floor_from: Literal["first_output", "contract"] = "first_output",
                    sunk_capex: bool = False) -> pd.DataFrame:
    """One row per option with a capacity: NPV without and with an NdPr price floor, the
    break-even floor, and whether the floor keeps the project alive.

    Parameters
    ----------
    options : sequence of Option
        Options (those without a capacity, e.g. stockpiles and offtakes, are skipped).
    result : oreflow.simulate.result.Result, optional
        A disruption run: NPV P10/P50/P90 over its draws. ``None``: flat prices of
        ``price_year`` (one value; P10 = P50 = P90).
    store, defaults
        Data and planning defaults (discount rate ``planning.discount_rate_pct``, project
        life, payability, opex: ``viability``).
    floor : Option or float, optional
        The floor: an offtake option (its price and term) or a price [USD/kg]; default the
        2025 US DoD–MP NdPr floor (:func:`~oreflow.plan.options.offtake_options`).
    year : int
        Discounting base year (January) and the earliest decision year.
    price_year : int, optional
        Year of the flat prices (default: the result's baseline year, else 2024, the last
        year with annual prices).
    after : str
        Price after the scenario's horizon (:data:`AFTER_HORIZON`).
    floor_term_years : float, optional
        Years the floor is paid (default the floor option's term, else 10).
    floor_from : str
        When the floor's term starts: ``first_output`` (a floor offered to each project for
        its first years of output; the default) or ``contract`` (the floor option's own
        start year, e.g. 2025 for the DoD–MP floor; a float floor has none, so this falls
        back to first output).
    sunk_capex : bool
        Leave out the capex of projects already producing.

    Returns
    -------
    pandas.DataFrame
        Columns: option_id, name, iso3, stage, material, status_class, p_fail,
        capacity_t_per_yr, capex_musd, capex_estimated, first_output_year, segment,
        price_usd_per_kg (the product's base price), payability_pct, opex_usd_per_kg (at
        base prices, feed included), margin_usd_per_kg, npv_p10_musd, npv_p50_musd,
        npv_p90_musd, irr_p50_pct (IRR of the draw with the median NPV; NaN when none in
        -50% to 200%), floor_usd_per_kg, npv_floor_p10_musd, npv_floor_p50_musd,
        npv_floor_p90_musd, floor_applies, kept_alive (NPV P50 < 0 without and ≥ 0 with the
        floor; ``None`` when not applicable), floor_verdict (``viable without the floor``,
        ``kept alive by the floor``, ``not viable even with the floor``, ``N/A``,
        ``unknown``), break_even_floor_usd_per_kg, break_even_status, break_even_on,
        basis, reason, source_ids, estimate.
    """
    st = resolve_store(store)
    d = defaults or load_defaults(store=st)
    rate = d.planning.discount_rate_pct.value
    life = d.viability.project_life_years.value
    if floor is None:
        offs = offtake_options(store=st)
        floor = offs[0] if offs else None
    f_start: int | None = None
    if isinstance(floor, Option):
        f_price = floor.price_floor_usd_per_kg
        f_term = floor.term_years or 10.0
        if floor_from == "contract":
            f_start = floor.earliest_decision_year
    else:
        f_price, f_term = floor, 10.0
    if floor_from not in ("first_output", "contract"):
        raise InputError(f"unknown floor_from {floor_from!r}; known: first_output, contract")
    if floor_term_years is not None:
        f_term = floor_term_years
    py = price_year or (int(result.plan.baseline.year) if result is not None else 2024)
    ctx = _context(st, py)
    cache: dict[str, PricePaths] = {}
    rows = []
    nan = float("nan")
    for o in options:
        if o.capacity_t_per_yr is None:
            continue
        basis = price_basis(o, store=st, defaults=d, year=py, _ctx=ctx)
        key = o.iso3 if result is not None else ""
        if key not in cache:
            cache[key] = price_paths(result, o.iso3, store=st, year=py, after=after)
        pp = cache[key]
        lead, _ = _timing(o)
        row: dict[str, object] = {
            "option_id": o.option_id, "name": o.name, "iso3": o.iso3, "stage": o.stage,
            "material": o.material, "status_class": o.status_class, "p_fail": o.p_fail,
            "capacity_t_per_yr": o.capacity_t_per_yr, "capex_musd": o.capex_musd,
            "capex_estimated": o.capex_estimated,
            "first_output_year": max(o.earliest_decision_year, year) + lead / 12,
            "segment": pp.segment, "price_usd_per_kg": nan,
            "payability_pct": basis.payability * 100, "opex_usd_per_kg": nan,
            "margin_usd_per_kg": nan, "npv_p10_musd": nan, "npv_p50_musd": nan,
            "npv_p90_musd": nan, "irr_p50_pct": nan, "floor_usd_per_kg": f_price,
            "npv_floor_p10_musd": nan,
            "npv_floor_p50_musd": nan, "npv_floor_p90_musd": nan,
            "floor_applies": basis.ok and basis.ndpr_weight > 0 and f_price is not None,
            "kept_alive": None, "floor_verdict": "", "break_even_floor_usd_per_kg": nan,
            "break_even_status": "", "break_even_on": "", "basis": basis.basis,
            "reason": basis.reason, "source_ids": ";".join(basis.source_ids),
            "estimate": basis.estimate,
        }
        if basis.components and all(k in pp.base for k, _ in basis.components):
            row["price_usd_per_kg"] = basis.payability * basis.ratio * sum(
                w * pp.base[k] for k, w in basis.components)
        if basis.ok and basis.opex_usd_per_kg is not None:
            cost = basis.opex_usd_per_kg + sum(w * pp.base[k] for k, w in basis.inputs)
            row["opex_usd_per_kg"] = cost
            row["margin_usd_per_kg"] = float(row["price_usd_per_kg"]) - cost  # type: ignore[arg-type]
            kw = {"rate_pct": rate, "life_years": life, "year0": year,
                  "sunk_capex": sunk_capex}
            cf = cash_flows(o, basis, pp, life_years=life, year0=year, sunk_capex=sunk_capex)
            base = npv(cf.net_musd, rate)
            row["npv_p10_musd"], row["npv_p50_musd"], row["npv_p90_musd"] = _q(base)
            mid = int(np.argsort(base)[len(base) // 2])
            row["irr_p50_pct"] = irr(cf.net_musd[mid])
            if row["floor_applies"]:
                fl = project_npv(o, basis, pp, floor_usd_per_kg=f_price, floor_on="ndpr",
                                 floor_term_years=f_term, floor_start_year=f_start,
                                 **kw)  # type: ignore[arg-type]
                (row["npv_floor_p10_musd"], row["npv_floor_p50_musd"],
                 row["npv_floor_p90_musd"]) = _q(fl)
                n0 = float(row["npv_p50_musd"])  # type: ignore[arg-type]
                n1 = float(row["npv_floor_p50_musd"])  # type: ignore[arg-type]
                row["kept_alive"] = bool(n0 < 0 <= n1)
                row["floor_verdict"] = ("viable without the floor" if n0 >= 0 else
                                        "kept alive by the floor" if n1 >= 0 else
                                        "not viable even with the floor")
            else:
                row["reason"] = f"NdPr floor N/A: {basis.floor_note}"
                row["floor_verdict"] = "N/A" if f_price is not None else "no floor given"
            be = break_even_floor(o, basis, pp, rate_pct=rate, life_years=life, year0=year,
                                  term_years=f_term, floor_start_year=f_start,
                                  sunk_capex=sunk_capex)
            row["break_even_floor_usd_per_kg"] = (nan if be.floor_usd_per_kg is None
                                                  else be.floor_usd_per_kg)
            row["break_even_status"], row["break_even_on"] = be.status, be.floor_on
        else:
            row["break_even_status"] = f"unknown: {basis.reason}"
            row["floor_verdict"] = "unknown"
        rows.append(row)
    return pd.DataFrame(rows)
