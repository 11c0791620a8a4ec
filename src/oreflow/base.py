"""The one pydantic base of every declarative input (scenarios, bills of materials, specs).

Frozen, ``extra="forbid"`` (a misspelt field is an error, never silently ignored) and with
field docstrings as descriptions, so a field's documentation lives under the field and reaches
error messages and generated docs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["FiniteModel", "Model"]


class Model(BaseModel):
    """Frozen pydantic model that rejects unknown fields; the base of every input schema."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class FiniteModel(Model):
    """A :class:`Model` whose float fields must be finite: ``.nan`` and ``.inf`` in a file
    are rejected with the field's name (scenarios, their parameters)."""

    model_config = ConfigDict(allow_inf_nan=False)
