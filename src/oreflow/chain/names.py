"""The chain's vocabulary: stages, rare-earth symbols, aggregate country codes, unit labels.

A leaf module (it imports only the data catalogue's default year) so that every part of the
chain, the simulator and the exposure model speak of the same stages and codes.
"""

from __future__ import annotations

from oreflow.data.catalog import DEFAULT_YEAR

__all__ = [
    "BLOC_RESIDUALS",
    "DEFAULT_YEAR",
    "MATERIAL_ALIASES",
    "NON_NODE_CODES",
    "PRODUCT_ALIASES",
    "RARE_EARTHS",
    "REO_UNITS",
    "RESIDUAL_CODES",
    "STAGES",
]

#: Production stages in chain order.
STAGES: tuple[str, ...] = ("mine", "separation", "metal", "magnet")
#: Residual country codes kept as one node each ("other countries", "rest of world", "rest of
#: EU27": the members without a figure of their own, an ISO 3166 user-assigned code).
RESIDUAL_CODES = frozenset({"OTH", "ROW", "XEU"})
#: Residual nodes that belong to a bloc: the bloc's members without a figure of their own.
BLOC_RESIDUALS: dict[str, str] = {"EU27": "XEU"}
#: Aggregate codes that are never nodes (their members are, or they double-count).
NON_NODE_CODES = frozenset({"WLD", "EUU", "TOP3", "TOP10", "SEL18", "MMR+CHN"})
#: The 17 rare-earth elements by symbol.
RARE_EARTHS: tuple[str, ...] = (
    "Sc", "Y", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu",
    "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu",
)  # fmt: skip
#: Units that are tonnes of rare-earth oxide.
REO_UNITS = frozenset({"t_REO", "t_TREO", "t REO"})
#: Labels meaning "all rare earths as oxide".
MATERIAL_ALIASES = frozenset({"REO", "REE", "TREO"})
#: Labels of the magnet product in ``stage_output``, in order of preference.
PRODUCT_ALIASES = ("NdFeB", "sintered NdFeB", "RE permanent magnets", "REPM")
