"""The answer to one question: tables plus the sources, notes and provenance behind them.

A leaf module: every library entry point that answers a user's question (supply-chain verbs,
exposure) returns an :class:`Answer`, so the CLI, a REST API and notebooks show the same
numbers with the same provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Answer"]


@dataclass
class Answer:
    """Tables answering one question, with the sources and notes behind them."""

    tables: dict[str, pd.DataFrame]
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def sources_by_part(self) -> dict[str, list[str]]:
        """Sources grouped by the part of the chain they feed (if known)."""
        by = self.meta.get("sources_by_part")
        return dict(by) if by else {"all": self.sources}
