"""Uncertain quantities: one family of distributions and one way to sample them.

Scenario parameters, engine priors and the figures of a bill of materials are all uncertain
numbers. They share this module: a :data:`Distribution` is a plain number (a constant) or a
mapping ``{dist: uniform|triangular|normal|lognormal|beta|fixed, ...}`` with optional ``low``
and ``high`` clip bounds, and every one is drawn with ``sample(n, *, rng)`` from an explicit
:class:`numpy.random.Generator`. Values are non-finite-free: ``nan`` and ``inf`` are rejected
when a distribution is read.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from oreflow.base import Model

__all__ = [
    "MAX_ABS",
    "Beta",
    "Dist",
    "Distribution",
    "Fixed",
    "LogNormal",
    "Normal",
    "Triangular",
    "Uniform",
    "check_within",
    "coerce_number",
    "fixed",
    "triangular",
    "uniform",
]


#: Largest magnitude of any number in a distribution; beyond it products and sums of draws
#: can overflow to infinity (and then to NaN) in the simulation.
MAX_ABS: float = 1e12


class Dist(Model):
    """Base of the distribution family: sampling, support and mean, with optional clipping.

    Every uncertain input of oreflow is one of the subclasses below (through
    :data:`Distribution`), sampled with one signature, ``sample(n, *, rng)``.
    """

    model_config = ConfigDict(allow_inf_nan=False)

    low: float | None = None
    """Lower clip bound of sampled values (same unit as the parameter); none if absent."""
    high: float | None = None
    """Upper clip bound of sampled values (same unit as the parameter); none if absent."""

    @model_validator(mode="after")
    def _finite(self) -> Dist:
        for name, value in self:
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")
            if isinstance(value, float) and abs(value) > MAX_ABS:
                raise ValueError(f"{name} must lie within +-{MAX_ABS:g} (larger numbers "
                                 f"overflow the model's arithmetic), got {value:g}")
        return self

    def _raw(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        raise NotImplementedError

    def _raw_mean(self) -> float:
        raise NotImplementedError

    def sample(self, n: int, *, rng: np.random.Generator) -> NDArray[np.float64]:
        """Draw ``n`` values (float64), clipped to ``[low, high]`` where given."""
        x = np.asarray(self._raw(n, rng), dtype=np.float64)
        if self.low is not None or self.high is not None:
            lo = -np.inf if self.low is None else self.low
            hi = np.inf if self.high is None else self.high
            x = np.clip(x, lo, hi)
        return x

    def _raw_support(self) -> tuple[float, float]:
        return (-math.inf, math.inf)

    def support(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take, after clipping."""
        lo, hi = self._raw_support()
        if self.low is not None:
            lo = max(lo, self.low)
        if self.high is not None:
            hi = min(hi, self.high)
        return lo, hi

    def mean(self) -> float:
        """Expected value before clipping (used for announced-policy expectations)."""
        m = self._raw_mean()
        if self.low is not None:
            m = max(m, self.low)
        if self.high is not None:
            m = min(m, self.high)
        return m


class Fixed(Dist):
    """A constant. A plain number in YAML means ``{dist: fixed, value: number}``."""

    dist: Literal["fixed"] = "fixed"
    value: float
    """The constant value."""

    def _raw(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return np.full(n, self.value)

    def _raw_mean(self) -> float:
        return self.value

    def _raw_support(self) -> tuple[float, float]:
        return (self.value, self.value)


class Uniform(Dist):
    """Uniform on ``[low, high]``."""

    dist: Literal["uniform"]
    low: float
    """Lower end of the interval."""
    high: float
    """Upper end of the interval."""

    @model_validator(mode="after")
    def _order(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("uniform: high must be >= low")
        return self

    def _raw(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return rng.uniform(self.low, self.high, n)

    def _raw_mean(self) -> float:
        return 0.5 * (self.low + self.high)

    def _raw_support(self) -> tuple[float, float]:
        return (self.low, self.high)


class Triangular(Dist):
    """Triangular on ``[low, high]`` with its mode at ``mode``."""

    dist: Literal["triangular"]
    low: float
    """Lower end."""
    mode: float
    """Most likely value."""
    high: float
    """Upper end."""

    @model_validator(mode="after")
    def _order(self) -> Triangular:
        if not self.low <= self.mode <= self.high or self.low == self.high:
            raise ValueError("triangular: need low <= mode <= high and low < high")
        return self

    def _raw(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return rng.triangular(self.low, self.mode, self.high, n)

    def _raw_mean(self) -> float:
        return (self.low + self.mode + self.high) / 3.0

    def _raw_support(self) -> tuple[float, float]:
        return (self.low, self.high)


class Normal(Dist):
    """Normal with mean ``mean`` and standard deviation ``sd``, clipped to ``[low, high]``."""

    dist: Literal["normal"]
    mean_: float = Field(alias="mean")
    """Mean."""
    sd: float = Field(ge=0)
    """Standard deviation."""

    def _raw(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return rng.normal(self.mean_, self.sd, n)

    def _raw_mean(self) -> float:
        return self.mean_


class LogNormal(Dist):
    """Log-normal with median ``median`` and log standard deviation ``sigma``."""

    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    """Median (same unit as the parameter)."""
    sigma: float = Field(ge=0)
    """Standard deviation of the natural logarithm."""

    def _raw(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return rng.lognormal(math.log(self.median), self.sigma, n)

    def _raw_mean(self) -> float:
        return self.median * math.exp(0.5 * self.sigma**2)

    def _raw_support(self) -> tuple[float, float]:
        return (0.0, math.inf)


class Beta(Dist):
    """Beta(a, b) rescaled to ``[low, high]`` (default ``[0, 1]``)."""

    dist: Literal["beta"]
    a: float = Field(gt=0)
    """First shape parameter."""
    b: float = Field(gt=0)
    """Second shape parameter."""
    low: float = 0.0
    """Lower end of the support."""
    high: float = 1.0
    """Upper end of the support."""

    def _raw(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return self.low + (self.high - self.low) * rng.beta(self.a, self.b, n)

    def _raw_mean(self) -> float:
        return self.low + (self.high - self.low) * self.a / (self.a + self.b)

    def _raw_support(self) -> tuple[float, float]:
        return (self.low, self.high)


def check_within(dist: Dist | None, lo: float, hi: float, *, reason: str = "") -> None:
    """Reject a distribution that can draw values outside ``[lo, hi]`` (clip it with
    ``low``/``high`` to keep an unbounded shape); ``reason`` says why, in the message."""
    if dist is None:
        return
    a, b = dist.support()
    if not (lo <= a and b <= hi):  # written so that a NaN bound fails too
        bounds = f"[{lo:g}, {hi:g}]" if math.isfinite(hi) else f">= {lo:g}"
        why = f" ({reason})" if reason else ""
        raise ValueError(f"must lie in {bounds}{why}; this distribution can draw "
                         f"[{a:g}, {b:g}] (add low/high to clip it)")


def coerce_number(v: Any) -> Any:
    """Turn a plain number (or a number written as text) into ``{dist: fixed, value: v}``;
    anything else is passed on for the schema to judge."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        try:
            return {"dist": "fixed", "value": float(v)}
        except OverflowError:  # an integer beyond float range: rejected as not finite
            return {"dist": "fixed", "value": math.inf if v > 0 else -math.inf}
    if isinstance(v, dict) and "dist" not in v and "value" in v:
        return {"dist": "fixed", **v}
    if isinstance(v, str):  # YAML 1.1 reads '1e-3' as a string
        try:
            return {"dist": "fixed", "value": float(v)}
        except ValueError:
            return v
    return v


#: A parameter distribution: a number (fixed) or ``{dist: uniform|triangular|normal|
#: lognormal|beta|fixed, ...}``.
Distribution = Annotated[
    Fixed | Uniform | Triangular | Normal | LogNormal | Beta,
    Field(discriminator="dist"),
    BeforeValidator(coerce_number),
]


def fixed(v: float) -> Fixed:
    """A constant as a distribution."""
    return Fixed(value=v)


def uniform(low: float, high: float) -> Uniform:
    """Uniform on ``[low, high]``."""
    return Uniform(dist="uniform", low=low, high=high)


def triangular(low: float, mode: float, high: float) -> Triangular:
    """Triangular on ``[low, high]`` with its mode at ``mode``."""
    return Triangular(dist="triangular", low=low, mode=mode, high=high)
