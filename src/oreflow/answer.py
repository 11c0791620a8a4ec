"""The answer to one question: tables plus the sources, notes and provenance behind them.

A leaf module: every library entry point that answers a user's question (supply-chain verbs,
exposure) returns an :class:`Answer`, so the CLI, a REST API and notebooks show the same
numbers with the same provenance.
"""

from __future__ import annotations

import html
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

    def _repr_html_(self) -> str:
        """Notebook view: each table (shares as fractions, as in the data), then the notes
        and the sources behind the numbers."""
        parts = []
        for name, df in self.tables.items():
            parts.append(f"<p><b>{html.escape(name)}</b></p>")
            parts.append(df.to_html(index=False, escape=True, max_rows=60))
        parts += [f"<p><i>note:</i> {html.escape(n)}</p>" for n in self.notes]
        for part, ids in self.sources_by_part.items():
            if ids:
                parts.append(f"<p><small>sources ({html.escape(part)}): "
                             f"{html.escape(', '.join(ids))}</small></p>")
        return "\n".join(parts)

