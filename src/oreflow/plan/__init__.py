"""Diversification planning (issue 12): the options a planner can choose from.

:mod:`oreflow.plan.options` builds the options (pipeline projects, generic capacity,
stockpiles, recycling, offtake contracts) from the data tables and ``defaults.yaml``.
"""

from __future__ import annotations

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
    "KINDS",
    "STAGES",
    "STATUS_RULES",
    "UNIT_RULES",
    "Option",
    "PlanDefaults",
    "classify_projects",
    "derive_module_size",
    "derive_unit_capex",
    "generic_options",
    "load_defaults",
    "map_capacity",
    "offtake_options",
    "options_table",
    "parse_defaults",
    "project_options",
    "recycling_options",
    "status_class",
    "stockpile_options",
]
