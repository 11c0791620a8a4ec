"""Diversification planning (issue 12): the options a planner can choose from, the targets,
and the mixed-integer programs it solves (least cost; least expected shortfall over sampled
futures).

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
from oreflow.plan.formulate import (
    DECIDED_CLASSES,
    Frontier,
    PlanSettings,
    Problem,
    frontier,
    solve_plan,
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
from oreflow.plan.result import Choice, PlanResult, TargetMiss, year_share
from oreflow.plan.stochastic import Stochastic, Stress, solve_stochastic, stress_from_scenario
from oreflow.plan.targets import PRESETS, BlocBaseline, Target, bloc_baseline, parse_targets

__all__ = [
    "DECIDED_CLASSES",
    "DEFAULT_YEAR",
    "EVALUATED_MATERIALS",
    "KINDS",
    "PRESETS",
    "STAGES",
    "STATUS_RULES",
    "UNIT_RULES",
    "BlocBaseline",
    "Choice",
    "Diagnosis",
    "Frontier",
    "Model",
    "Option",
    "PlanDefaults",
    "PlanEvaluation",
    "PlanResult",
    "PlanSettings",
    "Problem",
    "Solution",
    "Status",
    "Stochastic",
    "Stress",
    "Target",
    "TargetMiss",
    "bloc_baseline",
    "classify_projects",
    "derive_module_size",
    "derive_unit_capex",
    "diagnose",
    "element_tonnes",
    "evaluate_plan",
    "frontier",
    "generic_options",
    "grow_baseline",
    "load_defaults",
    "map_capacity",
    "offtake_options",
    "options_table",
    "parse_defaults",
    "parse_targets",
    "plan_mapping",
    "plan_projects",
    "project_options",
    "quicksum",
    "recycling_options",
    "shift_scenario",
    "solve_plan",
    "solve_stochastic",
    "status_class",
    "stockpile_options",
    "stockpile_releases",
    "stress_from_scenario",
    "year_share",
]
