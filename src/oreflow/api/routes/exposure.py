"""``/api/exposure``: a bill of materials' exposure; under a scenario, its impact (a job).

The BOM comes as JSON (``bom`` text or ``example``) or as an uploaded file
(``/api/exposure/upload``, multipart). It is parsed and validated by the library's BOM
parser (:func:`oreflow.exposure.parse_bom`) before any use, so a bad one is a 400 naming
its line and field. Without a scenario the answer comes at once (``oreflow exposure
--json``'s frame); with one, the impact runs as a job (202).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse

from oreflow.api.routes.jobs import _ACCEPTED, prepare, submit
from oreflow.api.schemas import ExposureJob
from oreflow.api.security import require_token
from oreflow.errors import InputError

__all__ = ["router"]

router = APIRouter(prefix="/exposure", tags=["exposure"])


def _run(body: ExposureJob, request: Request) -> Any:
    params = prepare("exposure", body, request.app.state.settings, request.app.state.jobs)
    if body.scenario is not None or body.scenario_id is not None:
        require_token(request)
        return submit(request, "exposure", params)
    from oreflow.api.tasks import load_bom
    from oreflow.exposure import exposure
    from oreflow.jsonview import exposure_payload, finite

    bom = load_bom(params)
    return JSONResponse(finite(exposure_payload(bom, exposure(bom), None, scenario=None,
                                                draws=body.draws, seed=body.seed)))


@router.post("", summary="Exposure of a BOM (JSON)", responses={
    200: {"description": "The exposure (no scenario)."}, **_ACCEPTED})
def exposure_json(
    request: Request,
    body: ExposureJob,
) -> Any:
    """Every input's controller-origin content, control share, de-minimis reach and the
    alternatives (tables ``inputs``, ``alternatives`` …). With ``scenario`` or
    ``scenario_id``: a job (202) whose result adds ``impact`` (months to stock-out, units
    delayed, cost [USD], P10/P50/P90)."""
    return _run(body, request)


@router.post("/upload", summary="Exposure of an uploaded BOM file (multipart)", responses={
    200: {"description": "The exposure (no scenario)."}, **_ACCEPTED})
def exposure_upload(
    file: Annotated[UploadFile, File(description="BOM file: .yaml/.yml or .csv (UTF-8).")],
    request: Request,
    bom_format: Annotated[Literal["yaml", "csv"] | None, Form(
        description="yaml or csv (default from the file name).")] = None,
    scenario: Annotated[str | None, Form(description="Built-in scenario (makes it a job).")] = None,
    scenario_id: Annotated[str | None, Form(description="Saved scenario id (a job).")] = None,
    draws: Annotated[int, Form(ge=1, description="Monte Carlo draws (with a scenario).")] = 500,
    seed: Annotated[int, Form(ge=0, description="Random seed.")] = 0,
    figures: Annotated[bool, Form(description="Also the Plotly figures (with a scenario).")
                       ] = False,
) -> Any:
    """As ``POST /api/exposure``, with the BOM as an uploaded file."""
    name = (file.filename or "").lower()
    fmt = bom_format or ("csv" if name.endswith(".csv") else "yaml")
    raw = file.file.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("file: the BOM is not UTF-8 text") from None
    body = ExposureJob(bom=text, bom_format=fmt, scenario=scenario, scenario_id=scenario_id,
                       draws=draws, seed=seed, figures=figures)
    return _run(body, request)
