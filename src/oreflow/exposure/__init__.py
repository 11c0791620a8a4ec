"""Product-line exposure: a bill of materials (BOM) in; dependence, stock-out and money at risk out.

Two questions are answered:

- :func:`exposure` (no scenario): the controller-origin content and control share of every
  input, traced through the supply chain (:class:`oreflow.chain.SupplyChain`) so that a
  Japanese magnet made from Chinese oxide counts; whether a de-minimis rule reaches it; the
  single points of failure up the chain; and the alternative producers and projects in the
  data, with their capacity and spare capacity where the data give one (never invented).
- :func:`impact` (under a disruption scenario): months until stock-out, units delayed per
  month, cost increase per unit and per year, and the earliest month an alternative supplier
  could be qualified and deliver — P10/P50/P90 over the Monte Carlo draws of the disruption
  engine (:mod:`oreflow.simulate`).

Layout (dependencies point down; nothing imports a module above it):

- :mod:`~oreflow.exposure.impact` — impact under a scenario: :class:`MarketPaths`, the
  adapter :func:`market_paths`, the line model :func:`run_line`, :func:`impact`;
- :mod:`~oreflow.exposure.trace` — exposure through the supply chain without a scenario:
  :func:`exposure`, upstream shares, single points of failure, alternatives;
- :mod:`~oreflow.exposure.bom` — the BOM schema (:class:`Bom`, :class:`Quantity`, …), its
  checks against the data (:func:`check_bom`), :func:`parse_bom`, :func:`read_bom` and the
  built-in examples;
- :mod:`~oreflow.exposure.bom_io` — YAML and CSV text to a raw mapping with the line and
  field of every value, for problem reports.

The function :func:`impact` shadows the submodule of the same name as an attribute of this
package; import module internals from the submodules (``from oreflow.exposure.impact import
...``). Units and equations are in ``docs/exposure.md``.
"""

from __future__ import annotations

from oreflow.exposure.bom import (
    DEFAULT_QUALIFICATION,
    MAGNET_TYPES,
    Alternative,
    Bom,
    Citation,
    ContentClaim,
    Input,
    Product,
    Quantity,
    Supplier,
    check_bom,
    list_examples,
    parse_bom,
    read_bom,
)
from oreflow.exposure.bom_io import CSV_REQUIRED, csv_columns
from oreflow.exposure.impact import LineResult, MarketPaths, impact, market_paths, run_line
from oreflow.exposure.trace import exposure

__all__ = [
    "CSV_REQUIRED",
    "DEFAULT_QUALIFICATION",
    "MAGNET_TYPES",
    "Alternative",
    "Bom",
    "Citation",
    "ContentClaim",
    "Input",
    "LineResult",
    "MarketPaths",
    "Product",
    "Quantity",
    "Supplier",
    "check_bom",
    "csv_columns",
    "exposure",
    "impact",
    "list_examples",
    "market_paths",
    "parse_bom",
    "read_bom",
    "run_line",
]
