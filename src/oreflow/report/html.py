"""The scenario report as one self-contained HTML page.

:func:`build_report` runs a scenario (:func:`oreflow.simulate.simulate` on the store), an
optional bill of materials' exposure (:func:`oreflow.exposure.impact` on the same run), and
fills ``templates/report.html.j2``: title, scenario summary, the headline table of ``oreflow
stress``, a price fan chart per affected material, shortfall by region and sector, the
concentration context (stage shares), the BOM results and a provenance footer (versions,
hashes, seed, draws, dates and every source cited with its title and edition). Plotly.js is
inlined once from the installed package, and the world map's country outlines with it
(:func:`~oreflow.report.export.geo_preload_script`): the page opens offline.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from oreflow.answer import Answer
from oreflow.headline import affected, headline_table

from .export import figure_html, geo_preload_script
from .figures.chain import stage_share_bars, stage_share_map
from .figures.exposure import stockout_figure
from .figures.stress import affected_materials, fan_chart, scenario_sources, shortfall_figure
from .plotlyjs import plotlyjs_for

if TYPE_CHECKING:
    from oreflow.data.store import Store
    from oreflow.exposure import Bom
    from oreflow.simulate import Result, Scenario

__all__ = ["Report", "build_report", "render_html"]


@dataclass
class Report:
    """A built report: the page and what it was built from (for a web server or tests)."""

    html: str
    """The whole page, self-contained."""
    result: Result
    figures: dict[str, go.Figure] = field(default_factory=dict)
    """The figures shown, by name (``fan:<material>``, ``shortfall``, ``concentration``,
    ``concentration_map``, ``stockout``)."""
    exposure: Answer | None = None
    sources: list[str] = field(default_factory=list)

    @property
    def html_bytes(self) -> bytes:
        """The page as UTF-8 bytes (what a download serves)."""
        return self.html.encode("utf-8")


def _env() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("oreflow.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined)


def _shock_rows(sc: Scenario) -> list[dict[str, str]]:
    rows = []
    for s in sc.shocks:
        dates = []
        for attr in ("announced", "effective", "start", "end"):
            d = getattr(s, attr, None)
            if isinstance(d, _dt.date):
                dates.append(f"{attr} {d:%Y-%m-%d}")
        if getattr(s, "duration_months", None):
            dates.append(f"{s.duration_months:g} months")
        rows.append({"id": str(getattr(s, "id", "") or ""), "kind": str(s.kind),
                     "controller": str(getattr(s, "controller", "") or ""),
                     "materials": ", ".join(getattr(s, "materials", None) or []),
                     "stages": ", ".join(getattr(s, "stages", None) or []),
                     "dates": "; ".join(dates) or "open-ended"})
    return rows


def _source_rows(ids: list[str], store: Store | None) -> list[dict[str, str]]:
    """Publisher, title and edition of each cited id; a policy or licensing record shows its
    actor, what it is and its date."""
    from oreflow.data.store import resolve_store

    st = resolve_store(store)
    rows = []
    for sid in ids:
        found = st.source_record(sid)
        kind, r = found if found is not None else ("", {})

        def text(*cols: str, rec: dict[str, object] = r) -> str:
            return next((str(rec[c]) for c in cols if c in rec and _filled(rec[c])), "")

        if kind == "source":
            row = {"publisher": text("publisher"), "title": text("title"),
                   "edition": text("edition")}
        elif kind:
            row = {"publisher": text("actor", "scope"),
                   "title": f"{kind}: " + text("detail", "metric", "instrument", "kind"),
                   "edition": text("announced", "effective", "date")}
        else:
            row = {"publisher": "", "title": "(not in the data)", "edition": ""}
        rows.append({"source_id": sid, **row})
    return rows


def _filled(v: object) -> bool:
    """A cell with something in it (not None, NaN or blank)."""
    return v is not None and v == v and str(v).strip() != ""


def render_html(result: Result, *, exposure: Answer | None = None,
                store: Store | None = None) -> Report:
    """The report of an existing run (and optional BOM impact on it); nothing re-runs."""
    from oreflow.chain.analysis import concentration

    sc = result.scenario
    prov = dict(result.provenance)
    summary = result.summary()
    figures: dict[str, go.Figure] = {}
    for m in affected_materials(result):
        figures[f"fan:{m}"] = fan_chart(result, m)
    figures["shortfall"] = shortfall_figure(result)
    year = int(prov.get("baseline_year") or 2024)
    conc = concentration("REO", year, store=store)
    figures["concentration"] = stage_share_bars(conc)
    figures["concentration_map"] = stage_share_map(conc, "mine")

    def div(fig: go.Figure) -> str:
        return figure_html(fig, full_html=False, include_plotlyjs=False)

    rows = affected(summary)
    headline = (headline_table(rows).to_html(index=False, escape=True) if not rows.empty
                else "<p>No price or supply moved in any segment.</p>")
    from oreflow.simulate.compile import RESTRICTION_NOTES

    notes = [str(n) for n in result.plan.notes.get(RESTRICTION_NOTES, ())]
    ids = scenario_sources(sc)
    exp_ctx = None
    if exposure is not None:
        figures["stockout"] = stockout_figure(exposure)
        cols = ["product", "plant_country", "months_to_stockout_p10", "months_to_stockout_p50",
                "months_to_stockout_p90", "units_delayed_share_p50",
                "cost_increase_usd_per_unit_p50", "revenue_at_risk_usd_p50"]
        summ = exposure.tables["summary"]
        exp_ctx = {"name": str(exposure.meta.get("bom", "")),
                   "table": summ[[c for c in cols if c in summ.columns]].to_html(
                       index=False, escape=True, float_format=lambda v: f"{v:,.3g}"),
                   "figure": div(figures["stockout"])}
        ids += list(exposure.sources)
    ids += list(figures["concentration"].layout.meta["sources"])
    ids = list(dict.fromkeys(ids))
    page = _env().get_template("report.html.j2").render(
        title=f"oreflow stress report: {sc.name}",
        scenario=sc, description=str(getattr(sc, "description", "") or ""),
        start=f"{result.dates[0]:%B %Y}", prov=prov, shocks=_shock_rows(sc),
        headline=headline, notes=notes,
        fans=[div(f) for k, f in figures.items() if k.startswith("fan:")],
        shortfall=div(figures["shortfall"]), concentration=div(figures["concentration"]),
        concentration_map=div(figures["concentration_map"]), geo_preload=geo_preload_script(),
        exposure=exp_ctx, sources=_source_rows(ids, store),
        generated=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        plotlyjs=plotlyjs_for(figures.values()))
    return Report(html=page, result=result, figures=figures, exposure=exposure, sources=ids)


def build_report(scenario: str | Path | Scenario, *, bom: Bom | None = None,
                 draws: int = 500, seed: int = 0, store: Store | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Report:
    """Run ``scenario`` (a built-in name, a YAML path or a Scenario) and build its report.

    Parameters
    ----------
    scenario : str, pathlib.Path or Scenario
        E.g. ``"china-2025-04"``.
    bom : oreflow.exposure.Bom, optional
        A bill of materials: its impact under the same run is added.
    draws, seed : int
        Monte Carlo draws and seed of the run (recorded in the footer).
    store : oreflow.data.store.Store, optional
        Data store (default: the embedded data plus user imports).

    Raises
    ------
    oreflow.errors.InputError
        Unknown scenario or a bad scenario file (one line).
    """
    from oreflow.simulate import Scenario, simulate

    sc = scenario if isinstance(scenario, Scenario) else Scenario.load(str(scenario))
    result = simulate(sc, draws=draws, seed=seed, store=store, progress=progress)
    exposure = None
    if bom is not None:
        from oreflow.exposure import impact

        exposure = impact(bom, result, seed=seed, store=store)
    return render_html(result, exposure=exposure, store=store)


