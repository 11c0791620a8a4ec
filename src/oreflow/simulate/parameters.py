"""Behavioural parameters of the disruption engine: one distribution per parameter, sampled
once per Monte Carlo draw (docs/engine.md section 5 gives each its prior and source).

A leaf of :mod:`oreflow.simulate.scenario` (a scenario holds one :class:`Parameters`): the
schema only, with each field's unit, prior and evidence under the field.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, field_validator, model_validator

from oreflow.base import FiniteModel
from oreflow.uncertain import (
    Beta,
    Dist,
    Distribution,
    Fixed,
    LogNormal,
    Normal,
    Triangular,
    Uniform,
    check_within,
    fixed,
    triangular,
    uniform,
)

__all__ = ["MAX_MONTHS", "MONTHS_REASON", "Parameters"]

#: Longest span a month-valued field may take [months]: 100 years, beyond the longest
#: horizon (600 months).
MAX_MONTHS: float = 1200.0
MONTHS_REASON = "at most 1200 months (100 years), beyond the longest horizon of 600 months"

# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


_u = uniform
_tri = triangular


def _default_elasticity() -> dict[str, Fixed | Uniform | Triangular | Normal | LogNormal | Beta]:
    return {"default": triangular(-0.35, -0.25, -0.15),
            "magnets": triangular(-0.15, -0.08, -0.03)}


def _default_backstop() -> dict[str, Fixed | Uniform | Triangular | Normal | LogNormal | Beta]:
    return {"default": triangular(10.0, 30.0, 100.0)}


#: Parameters of earlier engine versions and what replaced them (named in the error).
_REPLACED: dict[str, str] = {
    "inventory_cover_months": "user_cover_months and trader_cover_months",
    "inventory_floor_months": "user_cover_months",
    "inventory_adjustment": "stock_adjustment_months",
    "inventory_release": "speculative_response",
    "inventory_price_response": "speculative_response",
    "choke_price_multiple": "backstop_multiple",
}


class Parameters(FiniteModel):
    """Behavioural parameters, each a distribution sampled once per Monte Carlo draw.

    Grouped by the mechanism they drive (``docs/engine.md``, section 4); their sources and
    the calibration that fitted some of them are in section 5 and ``docs/validation.md``.
    """

    @model_validator(mode="before")
    @classmethod
    def _replaced(cls, data: Any) -> Any:
        if isinstance(data, dict):
            old = [k for k in data if k in _REPLACED]
            if old:
                raise ValueError("; ".join(
                    f"parameter {k!r} was replaced by {_REPLACED[k]}" for k in old))
        return data

    calibrated: bool = True
    """Draw the fitted parameters jointly from the shipped calibrated sample (rows of
    ``simulate/calibration/posterior.csv``) wherever this scenario does not set them; false:
    use the distributions given here (the priors of the calibration) for every parameter."""

    # -- demand ------------------------------------------------------------------------
    elasticity: dict[str, Distribution] = Field(default_factory=lambda: _default_elasticity())
    """Short-run own-price elasticity of demand by sector [dimensionless, negative]: a
    sector's own key, else ``magnets`` for the product sectors of the magnet markets (near
    inelastic: a magnet is a small part of its product's cost; docs/engine.md 4.3), else
    ``default``. No numeric elasticity is sourced (facts/model: el_usgs_2025_method; only
    'very high price inelasticity', binnemans_miningcom)."""
    input_elasticity: Distribution = Field(default_factory=lambda: _tri(-0.08, -0.05, -0.03))
    """Minus the short-run elasticity of substitution among a magnet's rare-earth inputs
    (grade changes within a month) [negative]. The magnet makers' demand elasticity for
    element e is -(s_e |eps_magnet| + (1 - s_e) sigma), s_e its cost share (Hicks-Marshall)."""
    backstop_multiple: dict[str, Distribution] = Field(
        default_factory=lambda: _default_backstop())
    """Price at which the buyers left switch to their backstop or stop production, by
    material (key ``default``) [x base]. The price never exceeds it; demand still unmet
    there is lost output. Estimate (docs/engine.md, *Backstop*)."""

    @field_validator("elasticity")
    @classmethod
    def _negative_demand(cls, v: dict[str, Dist]) -> dict[str, Dist]:
        for sector, dist in v.items():
            if dist.support()[1] >= 0:
                raise ValueError(f"elasticity of '{sector}' must be negative (every draw < 0); "
                                 "use high: -0.01 to clip an unbounded shape")
        return v

    @field_validator("input_elasticity")
    @classmethod
    def _negative_input(cls, v: Dist) -> Dist:
        if v.support()[1] > 0:
            raise ValueError("input_elasticity must not be positive")
        return v

    @field_validator("backstop_multiple")
    @classmethod
    def _above_base(cls, v: dict[str, Dist]) -> dict[str, Dist]:
        if "default" not in v:
            raise ValueError("backstop_multiple needs a 'default' entry")
        for material, dist in v.items():
            if dist.support()[0] <= 1.0:
                raise ValueError(f"backstop_multiple of '{material}' must exceed 1 (every "
                                 "draw above the base price)")
        return v

    @field_validator(
        "user_cover_months", "trader_cover_months", "stock_adjustment_months",
        "price_adjustment_months", "expectation_memory_months", "price_reversion_months",
        "licence_processing_ramp_months", "licence_capacity_months",
        "substitution_memory_months",
        "recycling_lag_months", "project_delay_months", "project_ramp_months",
    )
    @classmethod
    def _months(cls, v: Dist) -> Dist:
        check_within(v, 0.0, MAX_MONTHS, reason=MONTHS_REASON)
        return v

    @field_validator(
        "trade_diversion", "leakage", "quota_leakage", "project_delay_probability",
        "substitution_cap", "cross_border_share", "state_purchase_rate", "ramp_rate_per_year",
        "substitution_rate_per_year", "recycling_rate_per_year",
    )
    @classmethod
    def _shares(cls, v: Dist | None) -> Dist | None:
        check_within(v, 0.0, 1.0, reason="a share")
        return v

    @field_validator(
        "licence_processing_initial", "licence_processing_final", "state_purchase_threshold",
        "hoarding_strength", "trade_response", "price_cover_sensitivity",
        "supply_elasticity", "controller_supply_response", "quota_premium_response",
    )
    @classmethod
    def _nonnegative(cls, v: Dist) -> Dist:
        check_within(v, 0.0, math.inf, reason="a rate or a response that cannot be negative")
        return v

    # -- inventories by tier -----------------------------------------------------------
    user_cover_months: Distribution = Field(default_factory=lambda: _tri(0.5, 1.5, 2.5))
    """Normal stock of manufacturers and magnet makers [months of consumption]; 2-4 weeks
    in autos (miningbusinessinsights_2025_06, UNVERIFIED), 1.7-2.2 months for US gallium
    consumers (us_ga_stock_cover_mcs2025/2026)."""
    trader_cover_months: Distribution = Field(default_factory=lambda: _tri(0.5, 1.5, 3.0))
    """Normal stock of traders, processors and distributors [months of consumption]; users
    and traders together held about 3 months in Japan (japantimes_2011_01_26)."""
    stock_adjustment_months: Distribution = Field(default_factory=lambda: _u(1.0, 3.0))
    """Time users take to bring their stock back to the desired level [months].
    Assumption."""
    hoarding_strength: Distribution = Field(default_factory=lambda: _u(0.0, 2.0))
    """Relative rise of desired stocks per unit of expected shortage share (precautionary
    buying) [dimensionless]; pre-buying before controls (ge23_exports_jul_wrought,
    jp2010_imports_cn_year). Calibrated."""
    speculative_response: Distribution = Field(default_factory=lambda: _u(-0.5, 1.5))
    """Elasticity of traders' desired stock to the price's departure from its expected
    level [dimensionless]: positive = buying into a rise and selling into a fall
    (speculation and the destocking after a spike, ree2011_speculation), negative =
    selling into a rise (competitive storage). Calibrated."""

    # -- price formation ---------------------------------------------------------------
    price_cover_sensitivity: Distribution = Field(default_factory=lambda: _u(0.3, 3.0))
    """Elasticity of the indicated price to the ratio of desired to actual stock cover
    [dimensionless]. Calibrated."""
    price_adjustment_months: Distribution = Field(default_factory=lambda: _u(0.5, 3.0))
    """Time for the quoted price to move to the indicated price [months]. Calibrated."""
    expectation_memory_months: Distribution = Field(default_factory=lambda: _u(2.0, 12.0))
    """Time constant of the expected price [months]; prices followed the Sep 2010 halt with
    about 3 months lag (price_timing_2010). Calibrated."""

    price_reversion_months: Distribution = Field(default_factory=lambda: _u(6.0, 48.0))
    """Time constant with which the expected price returns to base, the long-run cost of
    supply [months]: without a stock imbalance a high price decays back. Calibrated."""

    # -- trade -------------------------------------------------------------------------
    trade_response: Distribution = Field(default_factory=lambda: _u(1.0, 4.0))
    """Elasticity of a trade flow to the log price gap between buyer and seller
    [dimensionless]. Assumption."""
    trade_diversion: Distribution = Field(default_factory=lambda: _u(0.1, 0.5))
    """Share of a non-controller segment's output that can be diverted to another
    non-controller segment when it pays more [0-1]. Assumption."""

    leakage: Distribution = Field(default_factory=lambda: _u(0.0, 0.8))
    """Share of the flow a licence regime holds back that leaves anyway (transshipment
    through third countries, mislabelled goods, smuggling) [0-1]. No source quantifies it:
    China reported no gallium or germanium exports to the United States in 2024 while US
    data showed imports from China, transshipment via Belgium suspected (mulemstudies).
    The range is an assumption; the upper bound 0.8 keeps a control binding. Calibrated
    (on the 2023-2024 gallium and germanium licensing)."""
    quota_leakage: Distribution = Field(default_factory=lambda: _u(0.0, 0.8))
    """The same share under a tonnage quota, where smuggled goods, which pay no quota rent,
    compete with legal ones for the whole requirement (docs/engine.md 4.8) [0-1]. A
    quota and a licence are policed differently (exporters' quota allocations against
    per-shipment end-user licences), so each has its own share. China's smuggled
    rare-earth exports in 2011 were put at 20% to 1.2 times the 18,600 t of legal exports,
    about 0.15 to 0.85 of the 25-27 kt by which they fell short of 2009's
    (q2010_smuggling, facts/history: re_2009_2012_trade export and smuggling rows; derived,
    rough); the upper bound 0.8 is an assumption that keeps a control binding. Calibrated
    (on the 2010-2011 rare-earth quotas)."""

    quota_premium_response: Distribution = Field(default_factory=lambda: _u(0.05, 1.0))
    """Speed at which the quota rent (the price of an export licence per kg under a tonnage
    quota, the same for every element it covers) moves with the excess of exporters'
    orders over the quota [share of the average base price per month at twice the quota];
    a licence premium of about USD 15/kg in 2010 (q2010_licence_premium) and traded quota at
    CNY 200,000-300,000/t (q2010_quota_price). Calibrated."""

    # -- licensing (the licensing office) ----------------------------------------------
    licence_processing_initial: Distribution = Field(default_factory=lambda: _u(0.02, 0.6))
    """Share of the application queue decided per month when decisions start [1/month];
    about 45 working days per application (gage23_processing_estimate). Calibrated."""
    licence_processing_final: Distribution = Field(default_factory=lambda: _u(0.5, 2.0))
    """Share of the queue decided per month once the office has scaled up [1/month].
    Calibrated."""
    licence_processing_ramp_months: Distribution = Field(default_factory=lambda: _u(1.0, 9.0))
    """Time constant of the office's scale-up [months]; exports of Ga/Ge resumed
    October-December 2023 after first licences in late September
    (gage23_exports_pickup_nov). Calibrated."""
    licence_capacity_months: Distribution = Field(default_factory=lambda: _u(1.0, 12.0))
    """Time the licensing office takes to build its capacity [months]: it decides at most
    ``TRADE_MAX`` times the baseline flow a month at full capacity, starting from nothing
    when decisions start and growing linearly over this time. The first Ga/Ge licences went
    to some applicants on 21 Sep 2023, with 'more companies obtaining permits in October
    and November' and exports picking up only in November (gage23_first_licences,
    gage23_exports_pickup_nov): an office deciding a share of its whole queue from the
    first day would release the lag's backlog at once. The range is an assumption.
    Calibrated."""

    # -- supply ------------------------------------------------------------------------
    supply_elasticity: Distribution = Field(default_factory=lambda: _u(0.1, 0.3))
    """Elasticity of non-controller output to an expected price below base [positive].
    Assumption: sources say only 'inelastic supply' (voxeu_gbfinance_ree_innovation)."""
    controller_supply_response: Distribution = Field(default_factory=lambda: _u(0.0, 1.0))
    """Elasticity of the controller's output to a fall of its domestic price below its
    expected level: production quotas and halts when exports are blocked or a spike unwinds
    (cn_baotou_halt_2011, cn_baotou_halt_2012) [positive]. Calibrated."""
    state_purchase_rate: Distribution = Field(default_factory=lambda: _u(0.0, 0.3))
    """Largest state-reserve purchase in the controller [share of its consumption per
    month], when its domestic price falls below its expected level by more than the
    threshold (cn_nfsra_ge_2024, cn_srb_ge_2013, cn_baotou_buy_2011). Calibrated."""
    state_purchase_threshold: Distribution = Field(default_factory=lambda: _u(0.0, 0.2))
    """Fall of the controller's domestic price below its expected level at which the state
    starts to buy [log points]; purchases reach the full rate 0.1 log points below it.
    Calibrated."""
    ramp_rate_per_year: Distribution = Field(default_factory=lambda: _u(0.03, 0.05))
    """Maximum growth of non-controller production [share of world market volume per year];
    4%/yr in 2010-2013 (sprecher_2017)."""
    ramp_price_threshold: Distribution = Field(default_factory=lambda: _u(1.5, 2.5))
    """Price multiple at which non-controller expansion runs at full speed [x base]."""
    substitution_rate_per_year: Distribution = Field(default_factory=lambda: _u(0.05, 0.10))
    """Maximum growth of substitution and thrifting [share of demand per year]; up to 10%/yr
    (sprecher_2017)."""
    substitution_cap: Distribution = Field(default_factory=lambda: _u(0.3, 0.4))
    """Ceiling on cumulative substitution [share of demand]; -40% magnet use per car in Japan
    by 2013 (jmb_2013_07)."""
    substitution_price_threshold: Distribution = Field(default_factory=lambda: _u(2.0, 4.0))
    """Sustained price multiple at which substitution runs at full speed [x base]."""
    substitution_memory_months: Distribution = Field(default_factory=lambda: _u(4.0, 8.0))
    """Averaging time of the price that drives substitution [months]."""
    recycling_rate_per_year: Distribution = Field(default_factory=lambda: _u(0.0, 0.01))
    """Maximum growth of recycled supply [share of demand per year]; 'no appreciable
    increase in recycling' in 2010-2013 (sprecher_2017)."""
    recycling_lag_months: Distribution = Field(default_factory=lambda: fixed(24.0))
    """Averaging time of the price that drives recycling [months]."""
    project_delay_probability: Distribution = Field(default_factory=lambda: fixed(0.5))
    """Probability that a pipeline project is late [0-1]; assumption (Iluka slipped 2 years,
    kallanish_iluka_2024_12)."""
    project_delay_months: Distribution = Field(default_factory=lambda: _u(6.0, 24.0))
    """Delay of a late project [months]."""
    project_ramp_months: Distribution = Field(default_factory=lambda: _u(12.0, 36.0))
    """Months from first output to nameplate [months]; Molycorp at ~25% after 2 years
    (molycorp_ramp), Lynas heavy circuit ~11 months (lynas_hree_build)."""
    cross_border_share: Distribution | None = None
    """Share of a segment's output at a controlled stage that crosses borders inside the
    segment (reached by a de-minimis rule) [0-1]; none = from the baseline."""
    recovery_tolerance: float = Field(default=0.1, gt=0, le=1)
    """A region has recovered when its price is within this relative band of base and its
    shortfall below this share of demand [fraction]."""
