"""Disruption engine: export-control scenarios and a monthly Monte Carlo market model.

Public API
----------
- :class:`Scenario` (``Scenario.builtin(name)``, ``Scenario.from_yaml(path)``),
  :func:`list_builtin`
- :func:`simulate` -> :class:`Result` (``summary()``, ``to_pandas()``, ``draws_frame()``,
  ``to_xarray()``, ``write()``); :func:`check_limits` (the run limits, checked before work),
  :func:`check_output` (an output place, checked before work)
- :func:`compare` (scenarios side by side, a tidy DataFrame)
- :func:`calibrate` (ABC on the two calibration episodes), :func:`validate` ->
  :class:`Validation` (in and out of sample), :func:`sensitivity` (Sobol/Morris)
- :class:`Baseline`, :func:`build_baseline`, :class:`Regions`, :func:`toy_baseline`
"""

from __future__ import annotations

from .baseline import Baseline, Regions, toy_baseline
from .baseline_data import build_baseline
from .calibrate import calibrate
from .compare import compare
from .result import NOT_RECOVERED, Result, check_output
from .run import check_limits, mass_balance_residual, simulate
from .scenario import Parameters, Scenario, ScenarioError, list_builtin
from .sensitivity import sensitivity
from .validate import Validation, validate

__all__ = [
    "NOT_RECOVERED",
    "Baseline",
    "Parameters",
    "Regions",
    "Result",
    "Scenario",
    "ScenarioError",
    "Validation",
    "build_baseline",
    "calibrate",
    "check_limits",
    "check_output",
    "compare",
    "list_builtin",
    "mass_balance_residual",
    "sensitivity",
    "simulate",
    "toy_baseline",
    "validate",
]
