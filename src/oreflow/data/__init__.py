"""The data layer: the embedded sourced tables, their schemas, and the store that reads them.

``oreflow.data.store`` reads and layers the tables (embedded package data under
``oreflow/data/tables/`` plus a per-user layer), validates imports and answers read-only SQL;
``oreflow.data.schemas`` declares what a valid row is. Everything above this layer takes a
:class:`Store` through an explicit ``store=`` argument.
"""

from __future__ import annotations

from oreflow.data.store import ImportReport, Store, default_user_dir, embedded_dir

__all__ = ["ImportReport", "Store", "default_user_dir", "embedded_dir"]
