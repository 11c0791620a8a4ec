"""oreflow: model and stress-test the global rare-earth supply chain.

Stages are ``mine``, ``separation``, ``metal`` and ``magnet``; countries are ISO 3166
alpha-3 codes; elements are symbols (``Nd``, ``Dy``); tonnes are metric tonnes of rare-earth
oxide (t REO) unless named otherwise; prices are USD/kg.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
