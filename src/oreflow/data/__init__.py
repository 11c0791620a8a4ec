"""The data layer: the embedded sourced tables, their schemas, and the store that reads them.

``oreflow.data.store.Store`` reads and layers the tables (embedded package data under
``oreflow/data/tables/`` plus a per-user layer), validates imports and answers read-only SQL;
``oreflow.data.schemas`` declares what a valid row is; ``oreflow.data.catalog`` lists the
tables without pandas (for a fast ``oreflow data list``). Everything above this layer takes
a ``Store`` through an explicit ``store=`` argument. This package module imports nothing, so
that the catalogue can be loaded alone.
"""
