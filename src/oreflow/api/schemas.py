"""Request and response models of the API (pydantic), documented for ``/openapi.json``.

One concern: the shapes on the wire, with a description and unit on every field. Shares are
fractions in [0, 1]; money is in USD unless a field says M USD; durations in months. The
numbers inside results are the library's (the same as ``oreflow … --json``), so result
payloads are typed loosely (``dict``) and described by the CLI's JSON documentation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "BomInput",
    "ErrorOut",
    "ExposureJob",
    "JobAccepted",
    "JobOut",
    "PlanJob",
    "ReportJob",
    "SavedScenarioOut",
    "ScenarioIn",
    "ScenarioRef",
    "SqlIn",
    "StressJob",
    "SweepJob",
    "ValidateJob",
]

_STRICT = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    """Every error: one line, plus the problems of an invalid file when there are several."""

    error: str = Field(description="What went wrong, in one line (names the field or line).")
    problems: list[str] | None = Field(
        default=None, description="Every problem of an invalid file, one line each.")


class ScenarioRef(BaseModel):
    """A scenario by reference: a built-in name or the id of a saved scenario (never a
    file path)."""

    model_config = _STRICT

    scenario: str | None = Field(
        default=None, description="Built-in scenario name (GET /api/scenarios), e.g. "
                                  "china-2025-04.", examples=["china-2025-04"])
    scenario_id: str | None = Field(
        default=None, description="Id of a saved scenario (POST /api/scenarios/saved).")

    def has_scenario(self) -> bool:
        """Whether a scenario was given."""
        return self.scenario is not None or self.scenario_id is not None

    @model_validator(mode="after")
    def _one(self) -> ScenarioRef:
        if self.scenario is not None and self.scenario_id is not None:
            raise ValueError("give scenario or scenario_id, not both")
        return self


class StressJob(ScenarioRef):
    """A disruption run: price, shortfall and recovery bands (P10/P50/P90)."""

    draws: int = Field(default=1000, ge=1, description="Monte Carlo draws.")
    seed: int = Field(default=0, ge=0, description="Random seed (recorded in the result).")
    horizon: int | None = Field(default=None, ge=1, le=600,
                                description="Override the horizon [months].")
    paths: bool = Field(default=False, description="Also the monthly P10/P50/P90 paths.")
    all_materials: bool = Field(default=False, description="Notes over every material, not "
                                                           "only those the scenario moves.")
    figures: bool = Field(default=False, description="Also the Plotly figures (JSON, as "
                                                     "oreflow.report.figures builds them) "
                                                     "under result.figures; the dashboard "
                                                     "draws these.")

    @model_validator(mode="after")
    def _needs(self) -> StressJob:
        if not self.has_scenario():
            raise ValueError("give scenario (a built-in name) or scenario_id")
        return self


class ValidateJob(BaseModel):
    """The engine against history, in sample and leave-one-episode-out."""

    model_config = _STRICT

    episodes: list[str] | None = Field(default=None, description="Episodes (default all).")
    draws: int = Field(default=500, ge=10, description="Monte Carlo draws per fit.")
    seed: int = Field(default=2010, ge=0, description="Random seed.")


class PlanJob(BaseModel):
    """A least-cost plan to meet a bloc's targets (the cost objective of ``oreflow plan``)."""

    model_config = _STRICT

    bloc: str = Field(description="MSP, EU27, QUAD, G7..., an ISO3 code, or codes joined "
                                  "by '+'.", examples=["EU27"])
    targets: list[str] = Field(default_factory=list, description=(
        "STAGE:self>=SHARE@YEAR, STAGE:supplier<=SHARE@YEAR or recycling:self>=SHARE@YEAR; "
        "shares as 0.4 or 40%."), examples=[["magnet:self>=0.2@2030"]])
    presets: list[str] = Field(default_factory=list,
                               description="Named targets: crma, eu65.")
    preset_year: int = Field(default=2030, description="Year of the preset targets.")
    budget_usd: float | None = Field(default=None, ge=0,
                                     description="Total capital the plan may commit [USD].")
    annual_budget_usd: float | None = Field(
        default=None, ge=0, description="Capital the plan may spend in any one year [USD].")
    year: int = Field(default=2026, description="Planning year: first year an option can "
                                                "start.")
    basis: Literal["expected", "nominal"] = Field(
        default="expected", description="expected: lead time + median delay, capacity × "
                                        "(1 − failure probability); nominal: as announced.")
    countries: list[str] = Field(default_factory=list, description=(
        "Where new generic capacity may be built (default: the bloc's members)."))
    controller: str = Field(default="CHN", description="The supplier the targets are about.")
    build_rate_pct_per_yr: float | None = Field(
        default=None, ge=0, description="New generic capacity a stage may start a year "
                                        "[% of world output].")
    time_limit_s: float = Field(default=60.0, ge=1, le=600,
                                description="Solver time limit [s].")
    figures: bool = Field(default=False, description="Also the Plotly figures (JSON, as "
                                                     "oreflow.report.figures builds them) "
                                                     "under result.figures; the dashboard "
                                                     "draws these.")
    frontier: bool = Field(default=False, description="Also the frontier of the first "
                                                      "target: least cost with its year "
                                                      "moved from 2 years earlier to 3 later.")


class BomInput(BaseModel):
    """A bill of materials: the text of a BOM file, or a built-in example."""

    model_config = _STRICT

    bom: str | None = Field(default=None, description="BOM file text (YAML, or CSV with "
                                                      "one row per supplier; docs/exposure.md).")
    bom_format: Literal["yaml", "csv"] = Field(default="yaml",
                                               description="Format of the bom text.")
    example: str | None = Field(default=None, description="A built-in example BOM: drone, "
                                                          "ev-motor, wind-turbine, fighter.")

    @model_validator(mode="after")
    def _one(self) -> BomInput:
        if (self.bom is None) == (self.example is None):
            raise ValueError("give bom (the file's text) or example (one of them)")
        return self


class ExposureJob(BomInput):
    """Exposure of a product line, and under a scenario its impact."""

    scenario: str | None = Field(default=None, description="Built-in scenario: adds months "
                                                           "to stock-out, units and cost.")
    scenario_id: str | None = Field(default=None, description="Id of a saved scenario.")
    draws: int = Field(default=500, ge=1, description="Monte Carlo draws (with a scenario).")
    seed: int = Field(default=0, ge=0, description="Random seed.")
    figures: bool = Field(default=False, description="Also the Plotly figures (JSON, as "
                                                     "oreflow.report.figures builds them) "
                                                     "under result.figures; the dashboard "
                                                     "draws these.")


class SweepJob(BaseModel):
    """A sweep: a base scenario over axes (docs/sweeps.md), with small limits."""

    model_config = _STRICT

    spec: str = Field(description="Sweep YAML text; its base must be a built-in scenario "
                                  "name or an inline mapping (no file paths).")


class ReportJob(ScenarioRef):
    """A report (HTML, or PDF) of a scenario (a built-in or a saved one), optionally with a
    product line."""

    example: str | None = Field(default=None, description="A built-in example BOM.")
    bom: str | None = Field(default=None, description="BOM file text (YAML).")
    draws: int = Field(default=500, ge=1, description="Monte Carlo draws.")
    seed: int = Field(default=0, ge=0, description="Random seed.")
    format: Literal["html", "pdf"] = Field(default="html", description="File format.")

    @model_validator(mode="after")
    def _needs(self) -> ReportJob:
        if not self.has_scenario():
            raise ValueError("give scenario (a built-in name) or scenario_id")
        return self


class JobAccepted(BaseModel):
    """A job was queued."""

    id: str = Field(description="Job id: GET /api/jobs/{id} for its status and result.")
    status: str = Field(description="queued")
    url: str = Field(description="Where to poll the job.")


class JobOut(BaseModel):
    """A job's status, progress and (when done) its result or one-line error."""

    id: str
    kind: str = Field(description="stress, validate, plan, exposure, sweep or report.")
    status: str = Field(description="queued, running, done, failed, cancelled or "
                                    "interrupted (the server stopped under it).")
    progress: float = Field(description="Share of the work done, 0–1.")
    message: str = Field(description="What the job is doing now.")
    created: str = Field(description="When it was submitted (UTC, ISO 8601).")
    started: str | None = Field(default=None, description="When it started (UTC).")
    finished: str | None = Field(default=None, description="When it ended (UTC).")
    error: str | None = Field(default=None, description="One-line error of a failed job.")
    params: dict[str, Any] | None = Field(default=None, description="The job's inputs.")
    result: Any = Field(default=None, description="The result (JSON) of a done job: the "
                                                  "same frame as the CLI's --json.")
    file_type: str | None = Field(default=None, description="Media type of the job's file "
                                                            "(GET /api/jobs/{id}/file).")
    file_name: str | None = Field(default=None, description="Download name of the file.")
    resubmitted_from: str | None = Field(default=None,
                                         description="Id of the job this one re-runs.")


class ScenarioIn(BaseModel):
    """A scenario to validate or save: YAML (or JSON) text, or a JSON object."""

    model_config = _STRICT

    text: str | None = Field(default=None, description="Scenario YAML or JSON text.")
    scenario: dict[str, Any] | None = Field(default=None,
                                            description="The scenario as a JSON object.")

    @model_validator(mode="after")
    def _one(self) -> ScenarioIn:
        if (self.text is None) == (self.scenario is None):
            raise ValueError("give text (YAML or JSON) or scenario (an object), one of them")
        return self


class SavedScenarioOut(BaseModel):
    """A saved scenario."""

    id: str = Field(description="Id to pass as scenario_id.")
    name: str
    title: str
    hash: str = Field(description="Content hash of the scenario (16 hex digits).")
    created: str = Field(description="When it was saved (UTC).")


class SqlIn(BaseModel):
    """A read-only SQL query over the tables (DuckDB dialect)."""

    model_config = _STRICT

    sql: str = Field(description="One SELECT (or WITH … SELECT) statement; tables are named "
                                 "as in GET /api/data/tables.",
                     examples=["SELECT stage, SUM(value) FROM production GROUP BY stage"])
    timeout_s: float | None = Field(default=None, gt=0, description="Time limit [s] (at most "
                                                                    "the server's).")
    max_rows: int | None = Field(default=None, ge=1, description="Most rows (at most the "
                                                                 "server's).")
