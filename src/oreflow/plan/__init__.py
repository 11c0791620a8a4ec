"""Diversification planning (issue 12): the options a planner can choose from, and the
mixed-integer program it solves.

:mod:`oreflow.plan.options` builds the options (pipeline projects, generic capacity,
stockpiles, recycling, offtake contracts) from the data tables and ``defaults.yaml``;
:mod:`oreflow.plan.model` is a small builder of mixed-integer programs over labelled
variables, solved with HiGHS, with an elastic relaxation that says which target cannot be
met and by how much (:func:`~oreflow.plan.model.diagnose`).
"""

from __future__ import annotations

from oreflow.plan.model import Diagnosis, Model, Solution, Status, diagnose, quicksum
from oreflow.plan.options import (
    DEFAULT_YEAR,
    KINDS,
    STAGES,
    STATUS_RULES,
    UNIT_RULES,
    Option,
    PlanDefaults,
    classify_projects,
    derive_module_size,
    derive_unit_capex,
    generic_options,
    load_defaults,
    map_capacity,
    offtake_options,
    options_table,
    parse_defaults,
    project_options,
    recycling_options,
    status_class,
    stockpile_options,
)
from oreflow.plan.viability import (
    BreakEven,
    CashFlows,
    PriceBasis,
    PricePaths,
    break_even_floor,
    cash_flows,
    irr,
    npv,
    price_basis,
    price_paths,
    project_npv,
    viability_table,
)

__all__ = [
    "DEFAULT_YEAR",
    "KINDS",
    "STAGES",
    "STATUS_RULES",
    "UNIT_RULES",
    "BreakEven",
    "CashFlows",
    "Diagnosis",
    "Model",
    "Option",
    "PlanDefaults",
    "PriceBasis",
    "PricePaths",
    "Solution",
    "Status",
    "break_even_floor",
    "cash_flows",
    "classify_projects",
    "derive_module_size",
    "derive_unit_capex",
    "diagnose",
    "generic_options",
    "irr",
    "load_defaults",
    "map_capacity",
    "npv",
    "offtake_options",
    "options_table",
    "parse_defaults",
    "price_basis",
    "price_paths",
    "project_npv",
    "project_options",
    "quicksum",
    "recycling_options",
    "status_class",
    "stockpile_options",
    "viability_table",
]
