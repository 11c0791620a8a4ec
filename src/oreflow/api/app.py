"""The oreflow REST API: one FastAPI app, everything under ``/api``.

:func:`create_app` builds the app from :class:`~oreflow.api.settings.ApiSettings`: the
routes (one module per family in :mod:`oreflow.api.routes`), the JSON one-line error
handlers (:mod:`oreflow.api.errors`), the body-size limit and the bearer token
(:mod:`oreflow.api.security`), and the jobs (:mod:`oreflow.api.jobs`) in an SQLite database
under the data directory. Jobs left queued or running by a previous server are marked
``interrupted`` when the app starts.

Dashboard pages hook: if a module ``oreflow.api.routes.pages`` exists and defines
``router`` (an ``APIRouter`` serving ``/``, ``/supply-chain``, ``/scenario``, ``/planner``,
``/exposure``, ``/data``), it is included after the API routes, and if it defines
``mount(app)`` that is called too (static files, templates). The API itself only uses
``/api/...``, ``/docs`` and ``/openapi.json``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from oreflow import __version__
from oreflow.api.deps import ReadCache
from oreflow.api.errors import install_handlers
from oreflow.api.jobs import JobRunner, JobStore
from oreflow.api.security import BodyLimit
from oreflow.api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]

_DESCRIPTION = """\
Model and stress-test the global rare-earth supply chain over HTTP.

Every number is the library's, as `oreflow … --json` prints it. Shares are fractions in
[0, 1]; tonnes per year unless a `unit` column says otherwise; money in USD (M USD where a
field says `musd`). Long work (stress, validate, plan, exposure under a scenario, sweeps,
reports) runs as a job: `POST` returns **202** and the job's URL; poll `GET /api/jobs/{id}`.
Errors are always JSON `{"error": "<one line>"}`. Bound beyond loopback, writing endpoints
need `Authorization: Bearer <OREFLOW_API_TOKEN>`. See docs/api.md.
"""

_TAGS = [
    {"name": "meta", "description": "Version and health."},
    {"name": "data", "description": "The sourced dataset: tables, rows, sources, SQL."},
    {"name": "chain", "description": "Concentration, tracing, blocs, risk, overview."},
    {"name": "scenarios", "description": "Built-in and saved disruption scenarios."},
    {"name": "exposure", "description": "A bill of materials' exposure."},
    {"name": "jobs", "description": "Long work: stress, validate, plan, sweeps, reports."},
]


def _preload() -> None:
    """Import the simulator and parse the built-in scenarios once, so the first job's
    checks do not pay for it (best effort)."""
    with contextlib.suppress(Exception):
        from oreflow.simulate import Scenario, list_builtin

        for name in list_builtin():
            Scenario.builtin(name)


def _include_pages(app: FastAPI) -> None:
    """Include the dashboard pages if :mod:`oreflow.api.routes.pages` is installed."""
    if importlib.util.find_spec("oreflow.api.routes.pages") is None:
        return
    pages = importlib.import_module("oreflow.api.routes.pages")
    router = getattr(pages, "router", None)
    if router is not None:
        app.include_router(router)
    mount = getattr(pages, "mount", None)
    if callable(mount):
        mount(app)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the API app.

    Parameters
    ----------
    settings : ApiSettings, optional
        Data directory (jobs database), token, bound host, limits, workers (default:
        :class:`ApiSettings` from the environment, bound to 127.0.0.1).

    Returns
    -------
    fastapi.FastAPI
        The app; its job pool starts with the first job (or at start-up when served, to
        warm the workers) and stops at shutdown, marking unfinished jobs ``interrupted``.
    """
    cfg = settings or ApiSettings()
    store = JobStore(cfg.db_path)
    store.interrupt_active()  # left by a server that stopped: no worker runs them now
    runner = JobRunner(store, workers=cfg.workers, executor=cfg.executor)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if cfg.warm:
            runner.warm()
            await run_in_threadpool(_preload)  # before serving: the first job is not slower
        try:
            yield
        finally:
            runner.close()

    app = FastAPI(title="oreflow API", version=__version__, description=_DESCRIPTION,
                  openapi_tags=_TAGS, lifespan=lifespan)
    app.state.settings = cfg
    app.state.jobs = store
    app.state.runner = runner
    app.state.cache = ReadCache(cfg.cache_entries)
    install_handlers(app)
    app.add_middleware(BodyLimit, limit=cfg.max_body_bytes)

    from oreflow.api.routes import chain, data, exposure, jobs, meta, scenarios

    for module in (meta, data, chain, scenarios, exposure, jobs):
        app.include_router(module.router, prefix="/api")
    _include_pages(app)
    return app
