"""Product-line exposure: a bill of materials in; dependence, stock-out and money at risk out."""

from __future__ import annotations

from oreflow.exposure.impact import *  # noqa: F403
from oreflow.exposure.impact import __all__ as __all__
