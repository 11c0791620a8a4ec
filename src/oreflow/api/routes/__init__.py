"""The API's routes, one module per family (all mounted under ``/api``).

``meta`` (version, health), ``data`` (tables, rows, sources, SQL), ``chain``
(concentration, trace, blocs, risk, overview), ``scenarios`` (built-in, validate, saved),
``exposure`` (a BOM's exposure; under a scenario a job) and ``jobs`` (stress, validate,
plan, sweeps, reports; status, result, file, cancel). The dashboard pages, when present,
live in ``pages`` (see :mod:`oreflow.api.app`).
"""
