"""The ``parameters`` table: literature parameters for the dynamic model (family ``model``)."""

from __future__ import annotations

from .common import FactBase, copy_rows
from .rows import Row


def build_parameters(facts: FactBase) -> list[Row]:
    """parameters: as in the fact base."""
    return copy_rows(facts.read("model", "parameters.csv"), "parameters")
