"""Diversification planning (issue 12): the options a planner can choose from, and the
mixed-integer program it solves.

:mod:`oreflow.plan.options` builds the options (pipeline projects, generic capacity,
stockpiles, recycling, offtake contracts) from the data tables and ``defaults.yaml``;
:mod:`oreflow.plan.model` is a small builder of mixed-integer programs over labelled
variables, solved with HiGHS, with an elastic relaxation that says which target cannot be
met and by how much (:func:`~oreflow.plan.model.diagnose`).
"""

from __future__ import annotations

from oreflow.plan.evaluate import (
    EVALUATED_MATERIALS,
    PlanEvaluation,
    element_tonnes,
    evaluate_plan,
    grow_baseline,
    plan_mapping,
    plan_projects,
    shift_scenario,
    stockpile_releases,
)
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

__all__ = [
    "DEFAULT_YEAR",
    "EVALUATED_MATERIALS",
    "KINDS",
    "STAGES",
    "STATUS_RULES",
    "UNIT_RULES",
    "Diagnosis",
    "Model",
    "Option",
    "PlanDefaults",
    "PlanEvaluation",
    "Solution",
    "Status",
    "classify_projects",
    "derive_module_size",
    "derive_unit_capex",
    "diagnose",
    "element_tonnes",
    "evaluate_plan",
    "generic_options",
    "grow_baseline",
    "load_defaults",
    "map_capacity",
    "offtake_options",
    "options_table",
    "parse_defaults",
    "plan_mapping",
    "plan_projects",
    "project_options",
    "quicksum",
    "recycling_options",
    "shift_scenario",
    "status_class",
    "stockpile_options",
    "stockpile_releases",
]
