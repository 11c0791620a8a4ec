"""The supply chain: network and sourcing, origin tracing, indicator tables, pure metrics.

Layout (dependencies point down; nothing here imports a module above it):

- :mod:`~oreflow.chain.analysis` — the questions users ask (concentration, trace, blocs,
  risk), answered from a store with the sources behind every table;
- :mod:`~oreflow.chain.network` — :class:`SupplyChain`, one material and year: nodes, sourcing,
  tracing, element resolution;
- :mod:`~oreflow.chain.indicators` — concentration, bloc, CRMA and supply-risk tables of a
  chain, built on
- :mod:`~oreflow.chain.metrics` — pure measures (HHI, CR-n, WGI-HHI, EU supply risk, …) that
  know nothing of chains;
- :mod:`~oreflow.chain.sourcing`, :mod:`~oreflow.chain.elements`,
  :mod:`~oreflow.chain.tables`, :mod:`~oreflow.chain.names` — network algebra, element
  chemistry and recipes, table parsing, vocabulary.
"""

from __future__ import annotations

from oreflow.chain import metrics
from oreflow.chain.elements import (
    DEFAULT_RE_CONTENT_NDFEB,
    oxide_factor,
    recipe_content,
    reo_per_tonne,
)
from oreflow.chain.names import NON_NODE_CODES, RARE_EARTHS, RESIDUAL_CODES, STAGES
from oreflow.chain.network import SupplyChain
from oreflow.chain.sourcing import allocate, control_shares, origin_matrices, sourcing_matrix
from oreflow.chain.tables import cited_sources

__all__ = [
    "DEFAULT_RE_CONTENT_NDFEB",
    "NON_NODE_CODES",
    "RARE_EARTHS",
    "RESIDUAL_CODES",
    "STAGES",
    "SupplyChain",
    "allocate",
    "cited_sources",
    "control_shares",
    "metrics",
    "origin_matrices",
    "oxide_factor",
    "recipe_content",
    "reo_per_tonne",
    "sourcing_matrix",
]
