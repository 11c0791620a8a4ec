"""The ``plan`` verb: which projects, stockpiles and recycling close a bloc's gap, by when, at
what cost (issue 12).

Imports inside the command function are deliberate: each verb loads only what it uses, so
`oreflow --help` starts in well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oreflow.cli._app import (
    CsvOpt,
    Format,
    JsonOpt,
    SourcesOpt,
    TableOpt,
    WideOpt,
    _fmt,
    app,
    print_json,
    renderer,
)
from oreflow.cli.render import Col, Renderer, progress
from oreflow.errors import InputError
from oreflow.jsonview import records

if TYPE_CHECKING:
    import pandas as pd

    from oreflow.exposure import Bom
    from oreflow.plan.evaluate import PlanEvaluation
    from oreflow.plan.result import PlanResult
    from oreflow.simulate.scenario import Scenario

__all__ = ["check_rows", "parse_years", "plan", "timeline_rows"]

#: Columns of the plan's tables (over the registry of cli/render.py).
COLUMNS: dict[str, Col] = {
    "option": Col("option", kind="id", priority=0),
    "kind": Col("kind", kind="id", priority=6),
    "units": Col("units", kind="count", priority=4),
    "capacity_t_per_yr": Col("capacity", "t/yr", priority=2),
    "what": Col("of", kind="id", priority=5),
    "capex_musd": Col("capex", "M USD", priority=1),
    "start": Col("start", kind="year", priority=1),
    "online": Col("online", kind="id", priority=2),
    "timeline": Col("timeline", kind="id", priority=0),
    "demand": Col("demand", "unit/yr", priority=3),
    "self_sufficiency_without": Col("self-suff. without", kind="share", priority=2),
    "self_sufficiency": Col("self-suff. with plan", kind="share", priority=0),
    "controller_share_without": Col("controller share without", kind="share", priority=4),
    "controller_share": Col("controller share with plan", kind="share", priority=1),
    "target": Col("target", kind="id", priority=1),
    "total_musd": Col("total", "M USD", priority=0),
    "present_value_musd": Col("present value", "M USD", priority=2),
    "asked": Col("asked", kind="share", priority=0),
    "reachable": Col("best reachable", kind="share", priority=0),
    "earliest_year": Col("earliest year", kind="id", priority=0),
    "feasible": Col("met", kind="bool", priority=0),
    "options": Col("what it starts", kind="text", priority=3),
    "plan": Col("plan", kind="id", priority=0),
    "expected_shortfall_t_reo_per_yr": Col("expected shortfall", "t REO/yr", priority=0),
    "p10": Col("P10", "t REO/yr", priority=2),
    "p50": Col("P50", "t REO/yr", priority=1),
    "p90": Col("P90", "t REO/yr", priority=2),
    "gap": Col("MIP gap", kind="share", priority=6),
}
_BAR = {"build": "░", "ramp": "▒", "full": "█", "none": "·"}


def parse_years(text: str, what: str) -> list[int]:
    """``2030``, ``2028:2035`` or ``2028,2030,2035`` as a list of years."""
    try:
        if ":" in text:
            a, b = (int(p) for p in text.split(":", 1))
            if b < a:
                raise ValueError
            return list(range(a, b + 1))
        return sorted({int(p) for p in text.split(",") if p.strip()})
    except ValueError:
        raise InputError(f"{what} '{text}': expected YEAR, FIRST:LAST or YEAR,YEAR,...") \
            from None


def timeline_rows(plan: PlanResult) -> pd.DataFrame:
    """One row per choice with a text bar over the plan's years: ``·`` nothing yet, ``░``
    building, ``▒`` ramping, ``█`` at nameplate (a stockpile: ``█`` from when it is full)."""
    import pandas as pd

    years = sorted(int(y) for y in plan.balance["year"].unique())
    rows = []
    for c in plan.choices:
        bar = ""
        for y in years:
            mid = y + 0.5
            if mid < c.start_year:
                bar += _BAR["none"]
            elif mid < c.online_year:
                bar += _BAR["build"]
            elif mid < c.full_year:
                bar += _BAR["ramp"]
            else:
                bar += _BAR["full"]
        stock = c.kind == "stockpile"
        rows.append({
            "option": c.option_id + (" (decided)" if c.decided else ""),
            "kind": c.kind, "stage": c.stage, "iso3": c.iso3 or "bloc",
            "units": c.units,
            "capacity_t_per_yr": c.stock_t if stock else c.capacity_t_per_yr,
            "what": ("t " if stock else "") + c.material,
            "capex_musd": c.capex_musd, "start": c.start_year,
            "online": f"{c.online_year:.1f}", "timeline": bar,
        })  # fmt: skip
    return pd.DataFrame(rows)


def _cost_rows(plan: PlanResult) -> pd.DataFrame:
    import pandas as pd

    if plan.cost.empty:
        return pd.DataFrame(columns=["year", "total_musd", "present_value_musd"])
    wide = plan.cost.pivot_table(index="year", columns="kind", values="capex_musd",
                                 aggfunc="sum", fill_value=0.0)
    wide.columns = [f"{c}_musd" for c in wide.columns]
    wide["total_musd"] = wide.sum(axis=1)
    wide["present_value_musd"] = plan.cost.groupby("year")["present_value_musd"].sum()
    return wide.reset_index()


def _balance_rows(plan: PlanResult, *, all_stages: bool) -> pd.DataFrame:
    bal = plan.balance
    stages = {t.split(":", 1)[0] for t in plan.targets}
    if "recycling" in stages:
        stages.add("separation")
    keep = bal if all_stages or not stages else bal[bal["stage"].isin(stages)]
    return keep[["year", "stage", "unit", "demand", "self_sufficiency_without",
                 "self_sufficiency", "controller_share_without", "controller_share",
                 "target"]]


def _miss_rows(plan: PlanResult) -> list[dict[str, Any]]:
    from oreflow.jsonview import plan_misses

    return plan_misses(plan)


def _plan_payload(plan: PlanResult) -> dict[str, Any]:
    from oreflow.jsonview import plan_payload

    return plan_payload(plan)


def _show_plan(out: Renderer, plan: PlanResult, *, wide: bool) -> None:
    years = sorted(plan.balance["year"].unique())
    status = "meets every target" if plan.feasible else "cannot meet every target"
    out.print(f"[bold]{plan.bloc}[/bold] ({', '.join(plan.members)}) against "
              f"{plan.controller}: {', '.join(plan.targets) or 'least expected shortfall'} — "
              f"{status}; capex {plan.total_capex_musd:,.0f} M USD "
              f"({plan.status}, MIP gap {plan.gap:.2%}, {plan.seconds:.1f} s)")
    out.table("plan", timeline_rows(plan), columns=COLUMNS,
              title=f"Timeline {years[0]}–{years[-1]}",
              caption="· nothing yet  ░ building  ▒ ramping  █ at nameplate; (decided) = "
                      "financed or building already, not the plan's money")
    if plan.misses:
        out.table("misses", _miss_rows(plan), columns=COLUMNS,
                  title="Targets no plan within the budget meets")
    out.table("balance", _balance_rows(plan, all_stages=wide), columns=COLUMNS,
              title="By year, without and with the plan",
              caption="self-sufficiency = output the bloc can make from allowed material / "
                      "its demand; controller share = of the bloc's supply at the stage")
    out.table("cost", _cost_rows(plan), columns=COLUMNS, default=Col("", "M USD"),
              title="Spending by year")
    out.notes(plan.notes)
    out.sources(list(plan.source_ids))


@app.command()
def plan(
    bloc: Annotated[str | None, typer.Option(
        help="The bloc: MSP, EU27, QUAD, G7... (oreflow data show blocs), an ISO3 code, or "
             "codes joined by '+'.")] = None,
    target: Annotated[list[str] | None, typer.Option(
        "--target", "-t", help="STAGE:self>=SHARE@YEAR, STAGE:supplier<=SHARE@YEAR or "
                               "recycling:self>=SHARE@YEAR (repeatable); shares as 0.4 or "
                               "40%.")] = None,
    preset: Annotated[list[str] | None, typer.Option(
        help="Named targets: crma (EU CRMA 10/40/25% and 65%), eu65 (65% at every stage).")
    ] = None,
    preset_year: Annotated[int, typer.Option(help="Year of the preset targets.")] = 2030,
    budget: Annotated[float | None, typer.Option(
        help="Total capital the plan may commit [USD], e.g. 5e9.", min=0)] = None,
    annual_budget: Annotated[float | None, typer.Option(
        help="Capital the plan may spend in any one year [USD].", min=0)] = None,
    objective: Annotated[str, typer.Option(
        help="cost: least cost to meet the targets; shortfall: least expected shortfall "
             "under --scenario within the budget, over sampled futures.")] = "cost",
    scenario: Annotated[str | None, typer.Option(
        help="A stress scenario (built-in name or YAML): the shortfall objective's stress, "
             "and the scenario --check runs (with the cost objective, giving it implies "
             "--check).")] = None,
    stress_years: Annotated[str | None, typer.Option(
        "--stress-years", help="Years the stress may hit, equally likely (shortfall "
                               "objective), e.g. 2028:2032; default the target years.")] = None,
    futures: Annotated[int, typer.Option(
        help="Sampled futures of the shortfall objective.", min=1, max=500)] = 30,
    seed: Annotated[int, typer.Option(help="Seed of the sampled futures.", min=0)] = 0,
    frontier: Annotated[str | None, typer.Option(
        "--frontier", metavar="FIRST:LAST",
        help="Least cost of the (single) target for each target year in this range.")
    ] = None,
    year: Annotated[int, typer.Option(help="Planning year: first year an option can start.")
                    ] = 2026,
    basis: Annotated[str, typer.Option(
        help="expected: lead time + median delay, capacity × (1 − failure probability); "
             "nominal: announced dates and capacity.")] = "expected",
    countries: Annotated[list[str] | None, typer.Option(
        help="Where new generic capacity may be built (default: the bloc's members).")
    ] = None,
    controller: Annotated[str, typer.Option(help="The supplier the targets are about.")
                          ] = "CHN",
    build_rate: Annotated[float | None, typer.Option(
        help="New generic capacity of a stage the bloc may start a year [% of world "
             "output] (default 4, Sprecher et al. 2017).")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Check the plan with the disruption engine: --scenario (default "
                        "china-2025-04) moved to --check-year, run without and with the "
                        "plan on the same draws.")] = False,
    check_year: Annotated[int | None, typer.Option(
        help="Year the checked shock happens (default: the last target or stress year).")
    ] = None,
    draws: Annotated[int, typer.Option(help="Engine draws of --check.", min=1)] = 300,
    example: Annotated[str | None, typer.Option(
        help="With --check: units at risk of a built-in example BOM (drone, ev-motor, "
             "wind-turbine, fighter).")] = None,
    viability: Annotated[bool, typer.Option(
        "--viability", help="Each pipeline project's NPV without and with the US NdPr "
                            "floor, and the floor that would make it viable (prices flat at "
                            "the latest year, or --scenario's paths over --draws).")] = False,
    after: Annotated[str, typer.Option(
        help="With --viability and --scenario: prices after the horizon, 'base' or 'last' "
             "(the shock's last year persists).")] = "base",
    time_limit: Annotated[float, typer.Option(help="Solver time limit [s].", min=1)] = 60.0,
    defaults: Annotated[Path | None, typer.Option(
        help="Your planning defaults (YAML, the schema of plan/defaults.yaml).")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Write the timeline (or the frontier) to a .html (offline), .png, .svg or .pdf "
             "file (static formats need Chromium).")] = None,
    align: Annotated[str | None, typer.Option(
        "--align", metavar="COUNTRY=SIDE",
        help="A country's output and deposits aligned with the bloc or the controller: "
             "VNM=MSP, VNM=CHN, VNM=MSP:option (the bloc may develop them), @YEAR from "
             "when.")] = None,
    compare_alignment: Annotated[str | None, typer.Option(
        "--compare-alignment", metavar="COUNTRY",
        help="Solve the plan with COUNTRY (e.g. VNM) as is, aligned with the bloc and "
             "with the controller; compare self-sufficiency and the controller's shares "
             "by year.")] = None,
    compare_years: Annotated[str, typer.Option(
        help="Years of --compare-alignment (targets hold in every year from their own).")
    ] = "2030:2035",
    align_status: Annotated[str | None, typer.Option(
        help="Status class of the aligned country's reserve modules (default: its mine "
             "project's in the data; Vietnam: stalled), e.g. study.")] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
    sources: SourcesOpt = False,
    table: TableOpt = None,
) -> None:
    """Plan a bloc's way out of dependence: which projects, generic plants, recycling and
    stockpiles to start when, to meet its targets at least cost (or to cut its expected
    shortfall under a stress within a budget), with its timeline, spending and metrics by
    year with and without the plan. Infeasible targets get the best reachable value and the
    earliest year they can be met.
    """
    fmt = _fmt(as_json, as_csv)
    if viability:
        _viability(renderer(fmt, wide=wide, sources=sources, table=table), scenario, draws,
                   seed, after, year, defaults, fmt is Format.table)
        return
    if bloc is None:
        raise InputError("give --bloc (or --viability for the projects' NPV)")
    if example is not None and not check:
        raise InputError("--example needs --check (units at risk come from the engine check)")
    if objective not in ("cost", "shortfall"):
        raise InputError(f"--objective must be 'cost' or 'shortfall' (got '{objective}')")
    if basis not in ("expected", "nominal"):
        raise InputError(f"--basis must be 'expected' or 'nominal' (got '{basis}')")
    if plot is not None:
        from oreflow.report.export import check_figure_path

        check_figure_path(plot)

    from oreflow.plan.defaults import load_defaults
    from oreflow.plan.formulate import PlanSettings
    from oreflow.plan.targets import parse_targets

    specs = [t for t in target or [] if t.strip()]
    targets = parse_targets(specs, preset or [], preset_year=preset_year) \
        if specs or preset or objective == "cost" else ()
    members: str | list[str] = bloc.split("+") if "+" in bloc else bloc
    from oreflow.chain.lookup import country_code

    where = tuple(country_code(c.strip()) for item in (countries or [])
                  for c in item.split(",") if c.strip()) or None
    settings = PlanSettings(
        year=year, budget_musd=None if budget is None else budget / 1e6,
        annual_budget_musd=None if annual_budget is None else annual_budget / 1e6,
        basis=basis,  # type: ignore[arg-type]
        countries=where, build_rate_pct_per_yr=build_rate, time_limit_s=time_limit)
    dfl = load_defaults(defaults) if defaults is not None else None
    out = renderer(fmt, wide=wide, sources=sources, table=table)
    show = fmt is Format.table
    alignment = _alignment_request(align, compare_alignment, align_status, bloc, controller,
                                   frontier is not None or objective != "cost" or check
                                   or scenario is not None or plot is not None)
    if compare_alignment is not None:
        _compare(out, members, targets, compare_alignment, parse_years(
            compare_years, "--compare-years"), settings, dfl, controller, align_status, show)
        return

    if frontier is not None:
        if check:
            raise InputError("--check takes one plan, not a frontier")
        _frontier(out, members, targets, parse_years(frontier, "--frontier"), settings, dfl,
                  controller, plot, show)
        return
    # with the cost objective a scenario has one use: checking the plan in the engine
    check = check or (objective == "cost" and scenario is not None)
    checking = _Check.checked(scenario or "china-2025-04", check_year, draws, seed,
                              example) if check else None
    if objective == "shortfall":
        if scenario is None:
            raise InputError("--objective shortfall needs --scenario (the stress)")
        yrs = parse_years(stress_years, "--stress-years") if stress_years else sorted(
            {t.year for t in targets})
        if not yrs:
            raise InputError("--objective shortfall needs --stress-years or a --target")
        _shortfall(out, members, targets, scenario, yrs, futures, seed, settings, dfl,
                   controller, plot, show, checking)
        return

    from oreflow.plan.formulate import solve_plan

    with progress("planning", enabled=show) as bar:
        result = solve_plan(members, targets, controller=controller, settings=settings,
                            defaults=dfl, progress=bar.describe, alignment=alignment)
    ev = checking.run(result, show) if checking is not None else None
    if plot is not None:
        from oreflow.report.export import write_figure
        from oreflow.report.figures import timeline_figure

        write_figure(timeline_figure(result), plot)
    if fmt is Format.json:
        print_json({**_plan_payload(result), **_check_payload(ev)})
        return
    _show_plan(out, result, wide=wide)
    _show_check(out, ev)
    if plot is not None:
        out.print(f"timeline written to {plot}")
    out.finish()


@dataclass(frozen=True)
class _Check:
    """What ``--check`` runs: the scenario, the year, draws, seed and an example BOM, all
    checked before the plan is solved."""

    scenario: Scenario
    year: int | None
    draws: int
    seed: int
    bom: Bom | None

    @classmethod
    def checked(cls, scenario: str, year: int | None, draws: int, seed: int,
                example: str | None) -> _Check:
        """Load the scenario and the example BOM now: a bad name fails before any work."""
        from oreflow.errors import unknown
        from oreflow.exposure import Bom, list_examples
        from oreflow.simulate.scenario import Scenario

        bom = None
        if example is not None:
            if example not in list_examples():
                raise unknown("example BOM", example, list_examples())
            bom = Bom.example(example)
        return cls(Scenario.load(scenario), year, draws, seed, bom)

    def run(self, plan: PlanResult, show: bool) -> PlanEvaluation:
        from oreflow.plan.evaluate import evaluate_plan

        year = self.year or max(int(y) for y in plan.balance["year"])
        with progress(f"engine check ({self.scenario.name} in {year})", enabled=show) as bar:
            return evaluate_plan(plan, self.scenario, draws=self.draws, seed=self.seed,
                                 at_year=year, bom=self.bom, progress=bar)


def check_rows(ev: PlanEvaluation) -> tuple[pd.DataFrame, list[str]]:
    """The engine check for people: per material and segment outside the controller where
    the plan changes anything, each metric's P50 (P10–P90) without and with the plan and
    the change of the P50; and the materials it leaves unchanged."""
    import numpy as np
    import pandas as pd

    from oreflow.cli.compare import METRIC_LABELS, format_metric

    def band(r: Any, side: str) -> str:
        m = str(r["metric"])
        return (f"{format_metric(m, r[f'{side}_p50'])} ({format_metric(m, r[f'{side}_p10'])}"
                f"–{format_metric(m, r[f'{side}_p90'])})")

    df = ev.comparison[ev.comparison["role"] != "controller"]
    change = df[["change_p10", "change_p50", "change_p90"]].abs().to_numpy()
    moved = (np.nan_to_num(change, nan=0.0, posinf=1.0) > 1e-6).any(axis=1)
    keys = df.assign(moved=moved).groupby(["material", "region"], sort=False)["moved"].any()
    rows = []
    for _, r in df.iterrows():
        if not keys[(r["material"], r["region"])]:
            continue
        m = str(r["metric"])
        rows.append({"material": r["material"], "segment": r["region"],
                     "metric": METRIC_LABELS.get(m, m), "without": band(r, "without"),
                     "with plan": band(r, "with"),
                     "change (P50)": format_metric(m, r["change_p50"], signed=True)})
    same = [f"{key[0]} ({key[1]})" for key, v in keys.items()  # type: ignore[index]
            if not v]
    return pd.DataFrame(rows), same


def _bom_rows(bom: pd.DataFrame) -> pd.DataFrame:
    """Units delayed per product: P50 (P10–P90) without and with, and the change."""
    import pandas as pd

    def band(r: Any, side: str) -> str:
        q = [f"{r[f'units_delayed_{side}_{k}']:,.0f}" for k in ("p50", "p10", "p90")]
        return f"{q[0]} ({q[1]}–{q[2]})"

    return pd.DataFrame([{"product": r["product"], "country": r["plant_country"],
                          "units per year": f"{r['units_per_year']:,.0f}",
                          "delayed without": band(r, "without"),
                          "delayed with plan": band(r, "with"),
                          "change (P50)": f"{r['units_delayed_change_p50']:+,.0f}"}
                         for _, r in bom.iterrows()])


def _show_check(out: Renderer, ev: PlanEvaluation | None) -> None:
    if ev is None:
        return
    rows, same = check_rows(ev)
    title = (f"Engine check: {ev.scenario}, {ev.provenance.get('draws', '')} draws, seed "
             f"{ev.provenance.get('seed', '')} (same draws without and with)")
    text = {c: Col(c, kind="id", priority=1) for c in ("without", "with plan",
                                                         "change (P50)", "delayed without",
                                                         "delayed with plan", "units per year")}
    if rows.empty:
        out.print(f"{title}: the plan changes nothing the engine simulates (its markets are "
                  "separated oxides and magnets: mine and metal capacity are not engine "
                  "inputs; see --json check.mapping)")
    else:
        out.table("check", rows, columns=text, title=title,
                  caption="P50 (P10–P90) over the draws; ∞ months = not recovered within "
                          "the horizon")
    if same and not rows.empty:
        out.note("unchanged by the plan: " + ", ".join(same))
    if ev.bom is not None:
        out.table("check_bom", _bom_rows(ev.bom), columns=text,
                  title="Units of product delayed, without and with the plan")
    out.notes([n for n in ev.notes if "; sources:" not in n])
    out.sources(list(ev.source_ids))


def _check_payload(ev: PlanEvaluation | None) -> dict[str, Any]:
    if ev is None:
        return {}
    return {"check": {
        "scenario": ev.scenario, "at_year": ev.at_year, "demand_factor": ev.demand_factor,
        "comparison": records(ev.comparison), "mapping": records(ev.mapping),
        "bom": records(ev.bom) if ev.bom is not None else None,
        "notes": list(ev.notes), "source_ids": list(ev.source_ids),
        "provenance": dict(ev.provenance)}}


#: Columns of the viability table for people (its own names, units in them).
_VIABILITY = {
    "option_id": Col("project", kind="id", priority=0),
    "price_usd_per_kg": Col("price", "USD/kg", priority=3),
    "margin_usd_per_kg": Col("margin", "USD/kg", priority=4),
    "npv": Col("NPV", "M USD", kind="id", priority=0),
    "npv_floor": Col("NPV with floor", "M USD", kind="id", priority=1),
    "break_even": Col("break-even price", "USD/kg", kind="id", priority=1),
    "floor_verdict": Col("floor", kind="text", priority=2),
    "first_output_year": Col("first output", kind="year", priority=5),
}


def _viability(out: Renderer, scenario: str | None, draws: int, seed: int, after: str,
               year: int, defaults: Path | None, show: bool) -> None:
    import pandas as pd

    from oreflow.plan.defaults import load_defaults
    from oreflow.plan.options import project_options, recycling_options
    from oreflow.plan.viability import AFTER_HORIZON, viability_table

    if after not in AFTER_HORIZON:
        raise InputError(f"--after must be one of {', '.join(AFTER_HORIZON)} (got '{after}')")
    dfl = load_defaults(defaults) if defaults is not None else None
    opts = project_options(defaults=dfl, year=year) + recycling_options(defaults=dfl,
                                                                        year=year)
    result = None
    if scenario is not None:
        from oreflow.simulate import simulate

        with progress(f"simulating {scenario}", enabled=show) as bar:
            result = simulate(scenario, draws=draws, seed=seed, progress=bar)
    table = viability_table(opts, result, defaults=dfl, year=year,
                            after=after)  # type: ignore[arg-type]
    if out.fmt == "json":
        print_json({"scenario": scenario, "draws": draws if scenario else None,
                    "seed": seed if scenario else None, "after": after,
                    "rows": records(table)})
        return

    def band(r: Any, stem: str) -> str:
        v = [r[f"{stem}_{q}_musd"] for q in ("p50", "p10", "p90")]
        if pd.isna(v[0]):
            return "–"
        return f"{v[0]:,.0f}" if v[1] == v[2] else f"{v[0]:,.0f} ({v[1]:,.0f}–{v[2]:,.0f})"

    view = table.assign(npv=[band(r, "npv") for _, r in table.iterrows()],
                        npv_floor=[band(r, "npv_floor") for _, r in table.iterrows()])
    view["floor_verdict"] = [v if v != "unknown" else str(r)
                             for v, r in zip(view["floor_verdict"], view["break_even_status"],
                                             strict=True)]
    view["break_even"] = ["–" if pd.isna(v) else f"{v:,.1f} ({on})" if v > 0 else "0"
                          for v, on in zip(view["break_even_floor_usd_per_kg"],
                                           view["break_even_on"], strict=True)]
    cols = ["option_id", "stage", "iso3", "first_output_year", "price_usd_per_kg",
            "margin_usd_per_kg", "npv", "npv_floor", "break_even", "floor_verdict"]
    prices = "flat latest prices" if scenario is None else \
        f"{scenario}, {draws} draws, after the horizon: {after}"
    out.table("viability", view[cols], columns=_VIABILITY, csv_df=table,
              title="Project viability: NPV at 8%/yr without and with the US NdPr floor "
                    f"(USD 110/kg, 10 years), {prices}",
              caption="break-even price = the floor on the named product that brings NPV to "
                      "zero (0: viable without one); the US floor covers NdPr only; – = no "
                      "price or cost in the data (docs/plan.md, Project viability)")
    out.sources(sorted({s for ids in table["source_ids"]
                        for s in str(ids).replace(";", " ").split()}))
    out.finish()


def _frontier(out: Renderer, members: str | list[str], targets: Any, years: list[int],
              settings: Any, dfl: Any, controller: str, plot: Path | None,
              show: bool) -> None:
    from oreflow.plan.formulate import frontier as run_frontier

    if len(targets) != 1:
        raise InputError("--frontier takes exactly one --target (its year is replaced by each "
                         "year of the range)")
    with progress("frontier", enabled=show) as bar:
        front = run_frontier(members, targets[0], years, controller=controller,
                             settings=settings, defaults=dfl, progress=bar.describe)
    if plot is not None:
        from oreflow.report.export import write_figure
        from oreflow.report.figures import frontier_figure

        write_figure(frontier_figure(front), plot)
    if out.fmt == "json":
        print_json({"target": front.target, "rows": records(front.table),
                    "notes": list(front.plans[0].notes) if front.plans else []})
        return
    out.table("frontier", front.table, columns=COLUMNS,
              title=f"What closes the gap by when: {front.target.rsplit('@', 1)[0]}",
              caption="least capital (M USD) to meet the target in each year; best "
                      "reachable share where no plan meets it")
    if front.plans:
        out.notes(front.plans[0].notes)
        out.sources(list(front.plans[0].source_ids))
    if plot is not None:
        out.print(f"frontier written to {plot}")
    out.finish()


def _shortfall(out: Renderer, members: str | list[str], targets: Any, scenario: str,
               years: list[int], futures: int, seed: int, settings: Any, dfl: Any,
               controller: str, plot: Path | None, show: bool,
               checking: _Check | None) -> None:
    from oreflow.plan.stochastic import solve_stochastic

    with progress("planning under uncertainty", enabled=show) as bar:
        res = solve_stochastic(members, scenario, years, targets=targets, futures=futures,
                               seed=seed, controller=controller, settings=settings,
                               defaults=dfl, progress=bar.describe)
    ev = checking.run(res.plan, show) if checking is not None else None
    if plot is not None:
        from oreflow.report.export import write_figure
        from oreflow.report.figures import timeline_figure

        write_figure(timeline_figure(res.plan), plot)
    if out.fmt == "json":
        print_json({**_check_payload(ev), "plan": _plan_payload(res.plan),
                    "deterministic": _plan_payload(res.deterministic),
                    "scores": records(res.scores), "futures": futures, "seed": seed,
                    "stress": {"scenario": res.stress.name, "withheld": res.stress.withheld,
                               "approval": res.stress.approval}})
        return
    _show_plan(out, res.plan, wide=out.wide)
    out.table("scores", res.scores, columns=COLUMNS,
              title=f"Expected shortfall under {res.stress.name} over {futures} futures "
                    f"(seed {seed}), stress in {years[0]}–{years[-1]}",
              caption="mean over futures and stress years; the deterministic plan is solved "
                      "for median delays and no failures, then scored on the same futures")
    _show_check(out, ev)
    if plot is not None:
        out.print(f"timeline written to {plot}")
    out.finish()


# --------------------------------------------------------------------------------------
# Alignment of a country's output and deposits (issue 15, item 3)
# --------------------------------------------------------------------------------------

if TYPE_CHECKING:
    from oreflow.plan.alignment import Alignment
    from oreflow.plan.alignment_effect import AlignmentComparison

#: Columns of the alignment comparison (``<measure>:<alignment>`` after widening).
_ALIGN_LABELS = {"as_is": "as is", "bloc": "with {bloc}", "controller": "with {ctrl}"}


def _alignment_request(align: str | None, compare: str | None, status: str | None,
                       bloc: str, controller: str, other_mode: bool) -> Alignment | None:
    """The ``--align`` alignment, checked before any solve (one line on bad input)."""
    from oreflow.plan.alignment import parse_alignment

    if align is not None and compare is not None:
        raise InputError("--align and --compare-alignment exclude each other (the comparison "
                         "solves as is, with the bloc and with the controller)")
    if (align is not None or compare is not None) and other_mode:
        raise InputError("--align and --compare-alignment take the cost objective without "
                         "--frontier, --check, --scenario or --plot")
    if status is not None and align is None and compare is None:
        raise InputError("--align-status needs --align or --compare-alignment")
    if compare is not None and not (len(compare.strip()) == 3 and compare.strip().isalpha()):
        raise InputError(f"--compare-alignment '{compare}': expected an ISO3 country code, "
                         "e.g. VNM")
    if align is None:
        return None
    a = parse_alignment(align, bloc, controller)
    if status is not None:
        from dataclasses import replace

        a = replace(a, status_class=status)
    return a


def alignment_rows(cmp: AlignmentComparison) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The comparison for people: self-sufficiency without and with the plan, and the
    controller's shares (of the bloc's supply, of world output), by year and stage, one
    column per alignment."""
    import pandas as pd

    def wide(column: str, prefix: str) -> pd.DataFrame:
        w = cmp.wide(column).set_index(["year", "stage"])
        return w.rename(columns={c: f"{prefix}:{c}" for c in w.columns})

    first = pd.concat([wide("self_sufficiency_without", "without"),
                       wide("self_sufficiency", "with")], axis=1).reset_index()
    first["change"] = first["with:bloc"] - first["with:controller"]
    second = pd.concat([wide("controller_share", "supply"),
                        wide("controller_world_share", "world")], axis=1).reset_index()
    return first, second


def _align_cols(cmp: AlignmentComparison) -> dict[str, Col]:
    cols: dict[str, Col] = {"year": Col("year", kind="year", priority=0),
                            "stage": Col("stage", kind="id", priority=0),
                            "change": Col(f"with {cmp.bloc} − with {cmp.controller}",
                                          kind="share", priority=1)}
    for prefix, what, pr in (("without", "self-suff. no plan", 3), ("with", "self-suff.", 0),
                             ("supply", f"{cmp.controller} share of supply", 2),
                             ("world", f"{cmp.controller} world share", 0)):
        for case, label in _ALIGN_LABELS.items():
            cols[f"{prefix}:{case}"] = Col(
                f"{what} {label.format(bloc=cmp.bloc, ctrl=cmp.controller)}", kind="share",
                priority=pr)
    return cols


def _compare(out: Renderer, members: str | list[str], targets: Any, country: str,
             years: list[int], settings: Any, dfl: Any, controller: str,
             status: str | None, show: bool) -> None:
    from oreflow.plan.alignment_effect import compare_alignment

    with progress(f"{country}: as is, with the bloc, with {controller}", enabled=show) as bar:
        cmp = compare_alignment(members, targets, country.strip().upper(), years=years,
                                controller=controller, settings=settings, defaults=dfl,
                                status_class=status, progress=bar.describe)
    if out.fmt == "json":
        print_json({"country": cmp.country, "bloc": cmp.bloc, "controller": cmp.controller,
                    "years": list(cmp.years), "targets": list(cmp.plans["as_is"].targets),
                    "rows": records(cmp.table), "cost": records(cmp.cost),
                    "plans": {k: _plan_payload(p) for k, p in cmp.plans.items()},
                    "notes": list(cmp.notes), "source_ids": list(cmp.source_ids)})
        return
    first, second = alignment_rows(cmp)
    cols = _align_cols(cmp)
    span = f"{cmp.years[0]}–{cmp.years[-1]}"
    out.print(f"[bold]{cmp.bloc}[/bold] with [bold]{cmp.country}[/bold] as is, aligned with "
              f"{cmp.bloc}, aligned with {cmp.controller}: "
              f"{', '.join(sorted({t.rsplit('@', 1)[0] for t in cmp.plans['as_is'].targets}))}"
              f" held {span}")
    out.table("alignment", first, columns=cols,
              title=f"{cmp.bloc} self-sufficiency by year and stage, {span}",
              caption="no plan = today's output and the decided pipeline; with the least-cost "
                      "plan for the targets (best reachable where none meets them)")
    out.table("alignment_shares", second, columns=cols,
              title=f"{cmp.controller}'s share of {cmp.bloc}'s supply and of world output",
              caption="world share = its output of the data year (plus the country's when "
                      "aligned with it) over world output plus the bloc's new capacity")
    cost = cmp.cost.assign(alignment=[_ALIGN_LABELS[a].format(bloc=cmp.bloc,
                                                              ctrl=cmp.controller)
                                      for a in cmp.cost["alignment"]])
    out.table("alignment_cost", cost, columns={
        "alignment": Col("alignment", kind="id", priority=0),
        "feasible": Col("met", kind="bool", priority=0),
        "capex_musd": Col("capex", "M USD", priority=0),
        "present_value_musd": Col("present value", "M USD", priority=0),
        "capex_change_musd": Col("capex vs as is", "M USD", priority=1),
        "misses": Col("missed (best reachable)", kind="text", priority=2),
        "options": Col("what it starts", kind="text", priority=4)},
        title="Cost of each alignment's plan")
    out.notes(cmp.notes)
    out.sources(list(cmp.source_ids))
    out.finish()
