"""``/api/jobs`` and the job-creating endpoints: ``/api/stress``, ``/api/validate``,
``/api/plan``, ``/api/sweeps``, ``/api/reports`` (and ``POST /api/jobs/{kind}``).

A job's inputs are checked when it is posted (unknown scenario, bad BOM, bad targets, a
sweep over the limits: 400 at once, nothing queued); then it is recorded, queued and
answered with 202, ``{"id": …}`` and a ``Location``. ``GET /api/jobs/{id}`` gives its status,
progress (0–1 and a message), timestamps and, when done, the result (the CLI's ``--json``
frame) or a one-line error; ``/file`` serves a report.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from oreflow.api.deps import Jobs, Runner
from oreflow.api.jobs import ACTIVE, STATUSES, JobStore
from oreflow.api.schemas import (
    ExposureJob,
    JobAccepted,
    JobOut,
    PlanJob,
    ReportJob,
    ScenarioRef,
    StressJob,
    SweepJob,
    ValidateJob,
)
from oreflow.api.security import require_token
from oreflow.api.settings import ApiSettings
from oreflow.errors import InputError

__all__ = ["MODELS", "router", "submit"]

router = APIRouter(tags=["jobs"])

#: The request model of each job kind.
MODELS: dict[str, type[BaseModel]] = {
    "stress": StressJob, "validate": ValidateJob, "plan": PlanJob, "exposure": ExposureJob,
    "sweep": SweepJob, "report": ReportJob,
}
_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "Queued: poll the Location (GET /api/jobs/{id})."},
    400: {"description": "Bad input (one line)."}, 401: {"description": "Token needed."},
}


def _check_draws(draws: int, cfg: ApiSettings) -> None:
    if draws > cfg.max_draws:
        raise InputError(f"draws: {draws} is over this server's limit of {cfg.max_draws}")


def _resolve_scenario(ref: ScenarioRef | ExposureJob, store: JobStore) -> dict[str, Any]:
    """Check a scenario reference; a saved one's YAML is copied into the job's inputs."""
    if ref.scenario_id is not None:
        row = store.scenario(ref.scenario_id)
        if row is None:
            raise HTTPException(status_code=404,
                                detail=f"no saved scenario '{ref.scenario_id}'")
        return {"scenario_yaml": row["yaml"], "scenario_name": row["name"]}
    if ref.scenario is not None:
        from oreflow.simulate import Scenario

        Scenario.builtin(ref.scenario)  # unknown: the CLI's error, with its suggestion
    return {}


def prepare(kind: str, body: BaseModel, cfg: ApiSettings, store: JobStore) -> dict[str, Any]:
    """Check a job's inputs (fast checks only) and return the parameters recorded."""
    from oreflow.api import tasks

    params = body.model_dump(mode="json")
    if isinstance(body, StressJob | ExposureJob | ReportJob):
        _check_draws(body.draws, cfg)
        params.update(_resolve_scenario(body, store))
    if isinstance(body, ExposureJob):
        tasks.load_bom(params)  # a bad BOM fails now, naming its line and field
    elif isinstance(body, ValidateJob):
        _check_draws(body.draws, cfg)
        from oreflow.errors import unknown
        from oreflow.simulate.episodes import EPISODES

        for n in body.episodes or []:
            if n not in EPISODES:
                raise InputError(unknown("episode", n, list(EPISODES)).lines()[0])
    elif isinstance(body, PlanJob):
        from oreflow.plan.targets import parse_targets

        specs = [t for t in body.targets if t.strip()]
        parse_targets(specs, body.presets, preset_year=body.preset_year)
    elif isinstance(body, SweepJob):
        params.update(max_points=cfg.max_sweep_points, max_draws=cfg.max_sweep_draws)
        with tempfile.TemporaryDirectory(prefix="oreflow-api-sweep-") as tmp:
            tasks.check_sweep_spec(body.spec, max_points=cfg.max_sweep_points,
                                   max_draws=cfg.max_sweep_draws, workdir=Path(tmp))
    elif isinstance(body, ReportJob) and (body.example or body.bom):
        tasks.load_bom({"example": body.example, "bom": body.bom, "bom_format": "yaml"})
    return params


def submit(request: Request, kind: str, params: dict[str, Any], *,
           resubmitted_from: str | None = None) -> JSONResponse:
    """Record and queue a job; answer 202 with its id and Location."""
    store: JobStore = request.app.state.jobs
    job_id = store.create(kind, params, resubmitted_from=resubmitted_from)
    request.app.state.runner.submit(job_id)
    url = f"/api/jobs/{job_id}"
    return JSONResponse({"id": job_id, "status": "queued", "url": url}, status_code=202,
                        headers={"Location": url})


def _create(kind: str, body: BaseModel, request: Request) -> JSONResponse:
    params = prepare(kind, body, request.app.state.settings, request.app.state.jobs)
    return submit(request, kind, params)


_WRITE = [Depends(require_token)]


@router.post("/stress", status_code=202, response_model=JobAccepted, responses=_ACCEPTED,
             dependencies=_WRITE, summary="Run a disruption scenario (job)")
def stress(
    request: Request,
    body: StressJob,
) -> JSONResponse:
    """Price, shortfall and recovery bands (P10/P50/P90 over draws) of a scenario; the
    result is ``oreflow stress SCENARIO --json``'s frame."""
    return _create("stress", body, request)


@router.post("/validate", status_code=202, response_model=JobAccepted, responses=_ACCEPTED,
             dependencies=_WRITE, summary="Validate the engine against history (job)")
def validate(
    request: Request,
    body: ValidateJob,
) -> JSONResponse:
    """The backtest of ``oreflow validate --json``: each episode in sample and
    leave-one-episode-out, observed against the model's bands, with a verdict."""
    return _create("validate", body, request)


@router.post("/plan", status_code=202, response_model=JobAccepted, responses=_ACCEPTED,
             dependencies=_WRITE, summary="Plan a bloc's way out of dependence (job)")
def plan(
    request: Request,
    body: PlanJob,
) -> JSONResponse:
    """The least-cost plan meeting the targets, as ``oreflow plan --json`` (capex in
    M USD; shares as fractions)."""
    return _create("plan", body, request)


@router.post("/sweeps", status_code=202, response_model=JobAccepted, responses=_ACCEPTED,
             dependencies=_WRITE, summary="Run a small sweep (job)")
def sweeps(
    request: Request,
    body: SweepJob,
) -> JSONResponse:
    """A posted sweep spec (docs/sweeps.md) within the server's limits; the result holds
    the table of every point's bands."""
    return _create("sweep", body, request)


@router.post("/reports", status_code=202, response_model=JobAccepted, responses=_ACCEPTED,
             dependencies=_WRITE, summary="Build a report (job)")
def reports(
    request: Request,
    body: ReportJob,
) -> JSONResponse:
    """An HTML or PDF report of a scenario (and a product line); fetch it from
    ``GET /api/jobs/{id}/file`` when done."""
    return _create("report", body, request)


@router.post("/jobs/{kind}", status_code=202, response_model=JobAccepted,
             responses=_ACCEPTED, dependencies=_WRITE, summary="Start a job of any kind")
def create_job(
    body: Annotated[dict[str, Any], Body(description="The inputs of the kind: see "
                                                            "/api/stress, /api/plan …")],
    request: Request,
    kind: str,
) -> JSONResponse:
    """Start a ``stress``, ``validate``, ``plan``, ``exposure``, ``sweep`` or ``report``
    job with the body its own endpoint takes."""
    from fastapi.exceptions import RequestValidationError

    model = MODELS.get(kind)
    if model is None:
        raise HTTPException(status_code=404, detail=f"unknown job kind '{kind}' (known: "
                                                    f"{', '.join(MODELS)})")
    try:
        parsed = model.model_validate(body)
    except PydanticValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    return _create(kind, parsed, request)


@router.get("/jobs", summary="List jobs")
def list_jobs(
    store: Jobs,
    status: Annotated[str | None, Query(description=f"One of {', '.join(STATUSES)}.")] = None,
    kind: Annotated[str | None, Query(description="Job kind.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Jobs, newest first, without their results."""
    if status is not None and status not in STATUSES:
        raise InputError(f"status must be one of {', '.join(STATUSES)} (got '{status}')")
    return {"jobs": store.list_jobs(status=status, kind=kind, limit=limit)}


def _job(store: JobStore, job_id: str) -> dict[str, Any]:
    job = store.get(job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"no job '{job_id}'")
    return job


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job's status and result")
def get_job(
    store: Jobs,
    job_id: str,
) -> dict[str, Any]:
    """Status (queued, running, done, failed, cancelled, interrupted), progress 0–1 with a
    message, timestamps (UTC), the inputs, and the result or one-line error."""
    return _job(store, job_id)


@router.get("/jobs/{job_id}/file", summary="A job's file (report)",
            responses={200: {"content": {"text/html": {}, "application/pdf": {}}}})
def job_file(
    store: Jobs,
    job_id: str,
) -> Response:
    """The file a done job made (an HTML or PDF report), as a download."""
    job = _job(store, job_id)
    found = store.file(job_id)
    if found is None:
        state = job["status"]
        raise HTTPException(status_code=404, detail=f"job '{job_id}' has no file"
                            + ("" if state == "done" else f" (it is {state})"))
    content, media, name = found
    return Response(content, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/jobs/{job_id}/cancel", dependencies=_WRITE, summary="Cancel a job")
def cancel(
    store: Jobs,
    run: Runner,
    job_id: str,
) -> dict[str, Any]:
    """A queued job never starts; a running one stops at its next progress report
    (status ``cancelled``). Finished jobs are left as they are."""
    job = _job(store, job_id)
    if job["status"] in ACTIVE:
        run.cancel(job_id)
    return {k: v for k, v in _job(store, job_id).items() if k != "result"}


@router.post("/jobs/{job_id}/resubmit", status_code=202, response_model=JobAccepted,
             responses=_ACCEPTED, dependencies=_WRITE, summary="Run a job again")
def resubmit(
    request: Request,
    store: Jobs,
    job_id: str,
) -> JSONResponse:
    """Queue a new job with the same kind and inputs (e.g. an ``interrupted`` one)."""
    job = _job(store, job_id)
    return submit(request, job["kind"], job["params"], resubmitted_from=job_id)


@router.delete("/jobs/{job_id}", status_code=204, dependencies=_WRITE,
               summary="Delete a job")
def delete(
    store: Jobs,
    run: Runner,
    job_id: str,
) -> Response:
    """Forget a job (cancelling it first if it has not finished)."""
    job = _job(store, job_id)
    if job["status"] in ACTIVE:
        run.cancel(job_id)
    store.delete(job_id)
    return Response(status_code=204)
