"""JSON views of results, shared by the CLI's ``--json`` and the REST API.

One concern: turning library results (a stress :class:`~oreflow.simulate.result.Result`, an
exposure :class:`~oreflow.answer.Answer`, a plan, a validation) into the plain JSON frames
that ``oreflow … --json`` prints and ``/api/…`` returns, so both show the same numbers with
the same keys. Pure functions, no printing; pandas is imported only by the callers' results
(this module starts fast).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from oreflow.headline import affected, scenario_sources

if TYPE_CHECKING:
    import pandas as pd

    from oreflow.answer import Answer
    from oreflow.exposure import Bom
    from oreflow.plan.result import PlanResult
    from oreflow.simulate.result import Result
    from oreflow.simulate.scenario import Scenario
    from oreflow.simulate.validate import Validation

__all__ = [
    "CONVENTIONS",
    "NOT_RECOVERED",
    "answer_payload",
    "concentration_payload",
    "exposure_payload",
    "finite",
    "nonzero_columns",
    "paths_json",
    "plan_payload",
    "records",
    "scenario_sources",
    "share_text",
    "stress_notes",
    "stress_payload",
    "validation_payload",
]

#: What JSON says for "not recovered within the horizon" (as
#: :data:`oreflow.simulate.result.NOT_RECOVERED`).
NOT_RECOVERED = "not within horizon"

#: What a stress payload says about its conventions.
CONVENTIONS = {
    "dates": "ISO month starts (YYYY-MM-DD): the first day of each simulated month",
    "months": "integer months from the scenario start",
    "months_to_recovery": f"months from the first shock until price and shortfall stay near "
                          f"base; the string '{NOT_RECOVERED}' when not recovered within the "
                          "horizon (never null: null means not available)",
}


def finite(obj: Any) -> Any:
    """Replace NaN and ±inf (not valid JSON) by ``None``, recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as a list of records (dates as ISO text, NaN as ``None``)."""
    out: list[dict[str, Any]] = json.loads(df.to_json(orient="records", date_format="iso"))
    return out


def answer_payload(answer: Answer, keys: Sequence[str], **extra: Any) -> dict[str, Any]:
    """The JSON frame of an answer: ``extra`` keys, sources by part, notes and the tables
    named by ``keys`` as records (what ``emit_answer`` prints with ``--json``)."""
    payload: dict[str, Any] = {**extra, "sources": answer.sources_by_part,
                               "notes": answer.notes}
    payload.update({key: records(answer.tables[key]) for key in keys})
    return payload


def nonzero_columns(shares: pd.DataFrame) -> pd.DataFrame:
    """A wide share table without the countries that hold nothing at any stage."""
    return shares.loc[:, (shares > 0).any()]


def concentration_payload(answer: Answer, material: str, year: int) -> dict[str, Any]:
    """What ``oreflow concentration --json`` prints: the concentration table per stage
    (CR1, CR3, HHI, WGI-weighted HHI) and each country's share of each stage (stages as
    rows, countries with no share left out)."""
    shares = nonzero_columns(answer.tables["shares"]).reset_index()
    payload = answer_payload(answer, ["concentration"], material=material, year=year)
    payload["shares"] = records(shares)
    return payload


# -- stress ----------------------------------------------------------------------------------
def share_text(x: float) -> str:
    """A share of draws as a percentage; under 1% as '<1%' (a bound hit in 3 of 1,000 draws
    is not '0%')."""
    return "<1%" if 0 < x < 0.005 else f"{x:.0%}"


def stress_notes(shown: pd.DataFrame, result: Result) -> list[str]:
    """Notes of a stress run: what the restrictions' magnet-stage rule added or left out
    (:data:`~oreflow.simulate.compile.RESTRICTION_NOTES`), and bounds hit in some draws."""
    from oreflow.simulate.compile import RESTRICTION_NOTES

    notes = list(result.plan.notes.get(RESTRICTION_NOTES, ()))
    for col, what in (("at_backstop_share", "price at its backstop (buyers switch or stop; "
                       "unmet demand is lost output)"),
                      ("guard_share", "a numerical guard bound (price floor or stock guard)")):
        hit = shown[shown[col] > 0]
        if not hit.empty:
            worst = hit.loc[hit[col].idxmax()]
            names = ", ".join(dict.fromkeys(hit["material"]))
            share = share_text(float(worst[col]))
            notes.append(f"{what} in some draws for {names} (most: {worst['material']} "
                         f"{worst['region']}, {share} of draws; docs/engine.md 4.11)")
    return notes


def paths_json(paths: pd.DataFrame, roles: dict[tuple[str, str], str]) -> dict[str, Any]:
    """Monthly quantile paths as one date axis and one series per material, segment and
    variable (lists of P10, P50, P90 along the dates)."""
    dates = sorted(paths["date"].unique())
    series = []
    for (var, mat, reg), g in paths.groupby(["variable", "material", "region"], sort=False):
        g = g.sort_values("month")
        series.append({"material": mat, "region": reg, "role": roles.get((str(mat), str(reg)), ""),
                       "variable": var, "unit": g["unit"].iloc[0],
                       "p10": g["p10"].tolist(), "p50": g["p50"].tolist(),
                       "p90": g["p90"].tolist()})
    return {"dates": [f"{d:%Y-%m-%d}" for d in dates], "series": series}


def stress_payload(sc: Scenario, result: Result, *, paths: bool = False,
                   all_materials: bool = False, written: Sequence[Any] = ()
                   ) -> dict[str, Any]:
    """What ``oreflow stress --json`` prints: provenance, conventions, the summary bands
    (P10/P50/P90 per material and segment), sector shortfall, notes and sources; with
    ``paths`` the monthly quantile paths."""
    from oreflow.simulate.result import export_recovery

    summary = result.summary()
    shown = summary if all_materials else affected(summary)
    roles = {(str(r["material"]), str(r["region"])): str(r["role"])
             for r in summary.to_dict("records")}
    payload: dict[str, Any] = {
        "scenario": sc.name, "title": sc.title, "provenance": result.provenance,
        "conventions": CONVENTIONS,
        "affected_materials": list(dict.fromkeys(affected(summary)["material"])),
        "summary": records(export_recovery(summary)),
        "sector_shortfall": records(result.sector_shortfall()),
        "notes": stress_notes(shown, result), "sources": scenario_sources(sc),
        "written": [str(p) for p in written],
    }
    if result.arrays.redirect is not None:
        payload["redirect"] = records(result.redirect_table())
    if paths:
        payload["paths"] = paths_json(result.to_pandas(), roles)
    return payload


# -- exposure --------------------------------------------------------------------------------
def exposure_payload(bom: Bom, exp: Answer, imp: Answer | None, *, scenario: str | None,
                     draws: int, seed: int) -> dict[str, Any]:
    """What ``oreflow exposure --json`` prints: every table of the exposure and, under a
    scenario, of the impact (P10/P50/P90 over draws), with sources and notes."""
    payload: dict[str, Any] = {
        "bom": bom.name, "scenario": scenario, "draws": draws if scenario else None,
        "seed": seed if scenario else None,
        "exposure": {k: records(v) for k, v in exp.tables.items()},
        "sources": exp.sources, "notes": exp.notes,
    }
    if imp is not None:
        payload["impact"] = {k: records(v) for k, v in imp.tables.items()}
        payload["notes"] = exp.notes + [n for n in imp.notes if n not in exp.notes]
    return payload


# -- plan ------------------------------------------------------------------------------------
def plan_misses(plan: PlanResult) -> list[dict[str, Any]]:
    """Targets no plan within the budget meets: asked, reachable and earliest year."""
    return [{"target": m.target, "asked": m.asked, "reachable": m.reachable,
             "earliest_year": str(m.earliest_year) if m.earliest_year is not None
             else "none by +30 yr"} for m in plan.misses]


def plan_payload(plan: PlanResult) -> dict[str, Any]:
    """What ``oreflow plan --json`` prints for one plan (capex in M USD)."""
    return {
        "bloc": plan.bloc, "members": list(plan.members), "controller": plan.controller,
        "targets": list(plan.targets), "objective": plan.objective, "status": plan.status,
        "feasible": plan.feasible, "gap": plan.gap, "seconds": plan.seconds,
        "capex_musd": plan.total_capex_musd,
        "choices": records(plan.choices_frame()) if plan.choices else [],
        "balance": records(plan.balance), "cost": records(plan.cost),
        "misses": plan_misses(plan), "notes": list(plan.notes),
        "source_ids": list(plan.source_ids),
    }


# -- validation ------------------------------------------------------------------------------
def validation_payload(results: Sequence[Validation],
                       written: dict[int, str] | None = None,
                       plots: dict[int, str] | None = None) -> dict[str, Any]:
    """What ``oreflow validate --json`` prints: per episode and fit, the verdict, the
    observations against the model's bands, the peaks and the checks (and the figure files
    written: ``figure`` by ``--figures``, ``plot`` by ``--plot``)."""
    figs = written or {}
    plotted = plots or {}
    return {"episodes": [{
        "episode": v.episode, "fitted_on": v.fitted_on, "verdict": v.verdict(),
        "passes": v.passes, "observations": records(v.table), "peaks": records(v.peaks),
        "checks": records(v.checks), "figure": figs.get(k),
        "plot": plotted.get(k)}
        for k, v in enumerate(results)]}
