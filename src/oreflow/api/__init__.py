"""The oreflow REST API (FastAPI): ``create_app`` in :mod:`oreflow.api.app`.

Layout (dependencies point down):

- :mod:`~oreflow.api.app` — :func:`~oreflow.api.app.create_app`, the app factory;
- :mod:`~oreflow.api.routes` — one module per family of endpoints, all under ``/api``;
- :mod:`~oreflow.api.schemas` — request and response models (documented in OpenAPI);
- :mod:`~oreflow.api.security` — bearer token beyond loopback, request body limit;
- :mod:`~oreflow.api.errors` — every error as one line of JSON;
- :mod:`~oreflow.api.deps` — per-app state and the read cache;
- :mod:`~oreflow.api.jobstore` — jobs and saved scenarios in SQLite;
- :mod:`~oreflow.api.jobs` — the worker pool that runs jobs;
- :mod:`~oreflow.api.tasks` — what each job kind runs, inside a worker;
- :mod:`~oreflow.api.settings` — :class:`~oreflow.api.settings.ApiSettings`.

Kept free of imports so a worker process loading :mod:`oreflow.api.tasks` does not load the
web stack it does not need. See ``docs/api.md``.
"""
