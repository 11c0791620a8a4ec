"""Disruption engine: export-control scenarios and a monthly Monte Carlo market model.

Public API
----------
- :class:`Scenario` (``Scenario.builtin(name)``, ``Scenario.from_yaml(path)``),
  :func:`list_builtin`
- :func:`simulate` -> :class:`Result` (``summary()``, ``to_pandas()``, ``write()``)
- :func:`backtest` -> :class:`BacktestResult` (``table()``, ``sources``)
- :class:`Baseline`, :func:`build_baseline`, :class:`Regions`, :func:`toy_baseline`
"""

from __future__ import annotations

from .backtest import BacktestResult, backtest
from .baseline import Baseline, Regions, toy_baseline
from .baseline_data import build_baseline
from .result import Result
from .run import mass_balance_residual, simulate
from .scenario import Parameters, Scenario, ScenarioError, list_builtin

__all__ = [
    "BacktestResult",
    "Baseline",
    "Parameters",
    "Regions",
    "Result",
    "Scenario",
    "ScenarioError",
    "backtest",
    "build_baseline",
    "list_builtin",
    "mass_balance_residual",
    "simulate",
    "toy_baseline",
]
