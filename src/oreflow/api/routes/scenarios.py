"""``/api/scenarios``: the built-in scenarios, validation, and saved scenarios.

Built-ins are looked up by name among :func:`oreflow.simulate.list_builtin`; saved
scenarios live in the jobs database by id. A posted scenario is checked by
:meth:`oreflow.simulate.Scenario.parse_yaml`, so its errors are the CLI's one-line errors
(``scenario.yaml:LINE: field …``); nothing posted is ever used as a file path.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from oreflow.api.deps import Cache, Jobs
from oreflow.api.schemas import SavedScenarioOut, ScenarioIn
from oreflow.api.security import require_token

__all__ = ["parse_posted", "router"]

router = APIRouter(prefix="/scenarios", tags=["scenarios"])


def parse_posted(body: ScenarioIn) -> tuple[Any, str]:
    """The scenario of a posted body and its text (YAML, or JSON which is YAML too)."""
    from oreflow.simulate import Scenario

    if body.text is not None:
        text, label = body.text, "scenario.yaml"
    else:
        text, label = json.dumps(body.scenario, indent=2, ensure_ascii=False), "scenario.json"
    return Scenario.parse_yaml(text, source=label), text


def _describe(sc: Any) -> dict[str, Any]:
    return {"name": sc.name, "title": sc.title or "", "start": str(sc.start),
            "horizon_months": sc.horizon_months, "shocks": len(sc.shocks), "hash": sc.hash()}


@router.get("", summary="List built-in and saved scenarios")
def list_scenarios(
    rc: Cache,
    store: Jobs,
) -> dict[str, Any]:
    """The built-in scenarios (as ``oreflow scenarios --json``: name, title, start,
    horizon [months], number of shocks) and the saved ones."""

    def compute() -> list[dict[str, Any]]:
        from oreflow.simulate import Scenario, list_builtin

        rows = []
        for name in list_builtin():
            sc = Scenario.builtin(name)
            rows.append({"scenario": name, "title": sc.title or "", "start": str(sc.start),
                         "horizon_months": sc.horizon_months, "shocks": len(sc.shocks)})
        return rows

    return {"builtin": rc.get(("scenarios",), compute), "saved": store.scenarios()}


@router.get("/builtin/{name}", summary="One built-in scenario, as JSON or YAML")
def builtin(
    name: str,
    format: Annotated[Literal["json", "yaml"], Query(
        description="json: the parsed scenario; yaml: the file, comments included.")] = "json",
) -> Any:
    """A built-in scenario by name (404 with a did-you-mean if unknown)."""
    from importlib import resources

    from oreflow.errors import unknown
    from oreflow.simulate import Scenario, list_builtin

    names = list_builtin()
    if name not in names:
        raise HTTPException(status_code=404,
                            detail=str(unknown("built-in scenario", name, names)))
    if format == "yaml":
        text = resources.files("oreflow.simulate").joinpath("builtin", f"{name}.yaml"
                                                            ).read_text(encoding="utf-8")
        return Response(text, media_type="application/yaml")
    sc = Scenario.builtin(name)
    return {**_describe(sc), "scenario": sc.model_dump(mode="json", by_alias=True)}


@router.post("/validate", summary="Validate a scenario")
def validate(
    body: ScenarioIn,
) -> dict[str, Any]:
    """Check a scenario (YAML or JSON text, or an object) as ``oreflow stress FILE`` would:
    200 with its name, hash and shock count, or 400 with the CLI's one-line error (and
    every problem under ``problems``)."""
    sc, _ = parse_posted(body)
    return {"valid": True, **_describe(sc)}


@router.post("/saved", status_code=201, response_model=SavedScenarioOut,
             dependencies=[Depends(require_token)], summary="Save a scenario")
def save(
    store: Jobs,
    body: ScenarioIn,
) -> dict[str, Any]:
    """Validate and save a scenario; its id can be given as ``scenario_id`` to jobs."""
    sc, text = parse_posted(body)
    sid = store.save_scenario(sc.name, sc.title or "", text, sc.hash())
    saved = store.scenario(sid)
    assert saved is not None
    return {k: saved[k] for k in ("id", "name", "title", "hash", "created")}


@router.get("/saved", response_model=list[SavedScenarioOut], summary="List saved scenarios")
def saved(
    store: Jobs,
) -> list[dict[str, Any]]:
    """Saved scenarios, newest first."""
    return store.scenarios()


@router.get("/saved/{sid}", summary="One saved scenario")
def saved_one(
    store: Jobs,
    sid: str,
) -> dict[str, Any]:
    """A saved scenario with its text (404 if unknown)."""
    row = store.scenario(sid)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no saved scenario '{sid}'")
    return {**row, "text": row.pop("yaml")}


@router.delete("/saved/{sid}", status_code=204, dependencies=[Depends(require_token)],
               summary="Delete a saved scenario")
def delete(
    store: Jobs,
    sid: str,
) -> Response:
    """Delete a saved scenario (404 if unknown); jobs that used it keep their copy."""
    if not store.delete_scenario(sid):
        raise HTTPException(status_code=404, detail=f"no saved scenario '{sid}'")
    return Response(status_code=204)
