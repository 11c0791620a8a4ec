"""What each job kind does, run inside a worker (a process of the pool, or a thread).

One concern: the work of a job, from its recorded inputs to its JSON result (or file). Each
kind calls the same library functions as its CLI verb and builds the same JSON frame
(:mod:`oreflow.jsonview`), so a job's numbers are the CLI's. Scenarios arrive as a
built-in name or as the YAML text of a saved scenario (copied into the job's inputs when it
was submitted): no input is ever used as a file path. Sweeps run in a private temporary
directory.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from oreflow.api.errors import one_line
from oreflow.api.jobstore import JobStore
from oreflow.errors import InputError, OreflowError

__all__ = ["KINDS", "JobCancelledError", "Reporter", "check_sweep_spec", "execute",
           "figures_json", "init_worker", "load_bom", "load_scenario", "ping"]

#: Least time between two progress writes to the database [s].
PROGRESS_EVERY_S = 0.2

JobResult = tuple[Any, tuple[bytes, str, str] | None]


class JobCancelledError(Exception):
    """The job was cancelled while running (raised from a progress report)."""


class Reporter:
    """A job's ``progress(done, total)`` callback: writes the fraction and a message to the
    database at most every :data:`PROGRESS_EVERY_S` s, and stops the job when a cancel was
    asked. ``span`` maps a sub-task onto part of the whole (several runs in one job)."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        self.store = store
        self.job_id = job_id
        self.label = ""
        self.span = (0.0, 1.0)
        self._last = 0.0

    def describe(self, text: str) -> None:
        """Change the message shown with the progress."""
        self.label = text
        self.report(0.0, force=True)

    def report(self, fraction: float, *, force: bool = False, message: str | None = None
               ) -> None:
        """Record ``fraction`` (0–1) of the current span."""
        t = time.monotonic()
        if not force and fraction < 1.0 and t - self._last < PROGRESS_EVERY_S:
            return
        self._last = t
        lo, hi = self.span
        whole = lo + (hi - lo) * min(max(fraction, 0.0), 1.0)
        text = message if message is not None else (
            f"{self.label}: {fraction:.0%}" if self.label else f"{whole:.0%}")
        if self.store.progress(self.job_id, whole, text):
            raise JobCancelledError

    def __call__(self, done: int, total: int) -> None:
        """``progress(done, total)`` as the library calls it."""
        self.report(done / total if total else 1.0)

    def part(self, k: int, n: int, label: str) -> None:
        """Start part ``k`` (0-based) of ``n`` equal parts."""
        self.span = (k / n, (k + 1) / n)
        self.label = label
        self.report(0.0, force=True)


# -- inputs -------------------------------------------------------------------------------
def load_scenario(params: dict[str, Any]) -> Any:
    """The job's scenario: a built-in by name, or a saved scenario's YAML text."""
    from oreflow.simulate import Scenario

    text = params.get("scenario_yaml")
    if text is not None:
        label = f"saved scenario {params.get('scenario_id')}"
        return Scenario.parse_yaml(str(text), source=label)
    return Scenario.builtin(str(params["scenario"]))


def load_bom(params: dict[str, Any]) -> Any:
    """The job's BOM: a built-in example, or BOM text parsed and validated."""
    from oreflow.errors import unknown
    from oreflow.exposure import Bom, list_examples, parse_bom

    example = params.get("example")
    if example is not None:
        if example not in list_examples():
            raise unknown("example BOM", str(example), list_examples())
        return Bom.example(str(example))
    fmt: Literal["yaml", "csv"] = "csv" if params.get("bom_format") == "csv" else "yaml"
    return parse_bom(str(params["bom"]), fmt=fmt, label=f"bom.{fmt}")


def check_sweep_spec(text: str, *, max_points: int, max_draws: int,
                     workdir: Path) -> Any:
    """Check a posted sweep (its base must be a built-in name or a mapping: never a path)
    and the server's limits; return the loaded :class:`~oreflow.sweep.load.Sweep`.

    The text is written to ``workdir/sweep.yaml`` (a directory the caller made) and loaded
    from there; errors name ``sweep.yaml``.
    """
    from oreflow.simulate import list_builtin
    from oreflow.sweep.load import load_sweep
    from oreflow.yamlio import YamlInputError, parse_yaml

    try:
        data, _ = parse_yaml(text, source="sweep.yaml")
    except YamlInputError as exc:
        raise InputError(str(exc)) from None
    base = data.get("base") if isinstance(data, dict) else None
    if isinstance(base, str) and base not in list_builtin():
        raise InputError(f"sweep.yaml: field 'base': {base!r} is not a built-in scenario; "
                         "the API takes a built-in name or an inline mapping (no files)")
    if isinstance(data, dict):  # the limits first: checking a huge sweep takes long
        _check_sweep_limits(data, max_points=max_points, max_draws=max_draws)
    path = workdir / "sweep.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        sw = load_sweep(path)
    except OreflowError as exc:
        lines = [line.replace(str(path), "sweep.yaml") for line in exc.lines()]
        raise InputError("\n".join(lines)) from None
    _check_sweep_limits({"draws": sw.spec.draws, "axes": {"points": list(range(len(sw)))}},
                        max_points=max_points, max_draws=max_draws)
    return sw


def _check_sweep_limits(data: dict[str, Any], *, max_points: int, max_draws: int) -> None:
    """Refuse a sweep over the API's limits, from its raw fields (points: the product of
    the axes' lengths, or the longest axis in ``list`` mode)."""
    axes = data.get("axes")
    if isinstance(axes, dict) and axes and all(isinstance(v, list) for v in axes.values()):
        lengths = [len(v) for v in axes.values()]
        n = max(lengths) if data.get("mode") == "list" else math.prod(lengths)
        if n > max_points:
            raise InputError(f"sweep.yaml: the sweep has {n} points; the API runs at most "
                             f"{max_points} (run bigger sweeps with `oreflow sweep`)")
    draws = data.get("draws")
    if isinstance(draws, int) and draws > max_draws:
        raise InputError(f"sweep.yaml: field 'draws': {draws} draws per point; the API runs "
                         f"at most {max_draws}")


def figures_json(figs: dict[str, Any]) -> dict[str, Any]:
    """Plotly figures as plain JSON (``{"data": …, "layout": …}``, Plotly's own encoder), by
    name: what a browser hands to ``Plotly.newPlot``."""
    import json

    return {name: json.loads(fig.to_json()) for name, fig in figs.items()}


# -- kinds --------------------------------------------------------------------------------
def run_stress(params: dict[str, Any], progress: Reporter) -> JobResult:
    """``oreflow stress SCENARIO --json``."""
    from oreflow.jsonview import stress_payload
    from oreflow.simulate import simulate

    sc = load_scenario(params)
    progress.label = f"{sc.name}: {params['draws']} draws"
    result = simulate(sc, draws=int(params["draws"]), seed=int(params["seed"]),
                      horizon=params.get("horizon"), progress=progress)
    payload = stress_payload(sc, result, paths=bool(params.get("paths")),
                             all_materials=bool(params.get("all_materials")))
    if params.get("figures"):
        from oreflow.report.figures import affected_materials, fan_chart, shortfall_figure

        figs = {f"fan:{m}": fan_chart(result, m) for m in affected_materials(result)}
        figs["shortfall"] = shortfall_figure(result)
        payload["figures"] = figures_json(figs)
        from oreflow.headline import affected, headline_table
        from oreflow.jsonview import records

        rows = affected(result.summary())
        payload["headline"] = records(headline_table(rows)) if not rows.empty else []
    return payload, None


def run_validate(params: dict[str, Any], progress: Reporter) -> JobResult:
    """``oreflow validate [EPISODES] --json``."""
    from oreflow.errors import unknown
    from oreflow.jsonview import validation_payload
    from oreflow.simulate.episodes import EPISODES
    from oreflow.simulate.validate import validate

    names = params.get("episodes") or list(EPISODES)
    for n in names:
        if n not in EPISODES:
            raise InputError(unknown("episode", n, list(EPISODES)).lines()[0])
    results = []
    runs = [(n, loo) for n in names for loo in (False, True)]
    for k, (n, loo) in enumerate(runs):
        progress.part(k, len(runs), f"{n} ({'out of sample' if loo else 'in sample'})")
        results.append(validate(n, int(params["draws"]), int(params["seed"]),
                                out_of_sample=loo, progress=progress))
    return validation_payload(results), None


def run_plan(params: dict[str, Any], progress: Reporter) -> JobResult:
    """``oreflow plan --bloc … --target … --json`` (the cost objective)."""
    from oreflow.chain.lookup import country_code
    from oreflow.jsonview import plan_payload
    from oreflow.plan.formulate import PlanSettings, solve_plan
    from oreflow.plan.targets import parse_targets

    specs = [t for t in params.get("targets") or [] if t.strip()]
    targets = parse_targets(specs, params.get("presets") or [],
                            preset_year=int(params["preset_year"]))
    bloc = str(params["bloc"])
    members: str | list[str] = bloc.split("+") if "+" in bloc else bloc
    where = tuple(country_code(c.strip()) for item in params.get("countries") or []
                  for c in item.split(",") if c.strip()) or None
    budget, annual = params.get("budget_usd"), params.get("annual_budget_usd")
    settings = PlanSettings(
        year=int(params["year"]), budget_musd=None if budget is None else budget / 1e6,
        annual_budget_musd=None if annual is None else annual / 1e6,
        basis=params["basis"], countries=where,
        build_rate_pct_per_yr=params.get("build_rate_pct_per_yr"),
        time_limit_s=float(params["time_limit_s"]))
    progress.describe("planning")
    result = solve_plan(members, targets, controller=str(params["controller"]),
                        settings=settings, progress=progress.describe)
    payload = plan_payload(result)
    if params.get("figures"):
        from oreflow.report.figures import frontier_figure, timeline_figure

        figs = {"plan_timeline": timeline_figure(result)}
        if params.get("frontier") and targets:
            from oreflow.plan.formulate import frontier

            first = targets[0]
            years = range(max(first.year - 2, settings.year), first.year + 4)
            front = frontier(members, first, years, controller=str(params["controller"]),
                             settings=settings, progress=progress.describe)
            figs["plan_frontier"] = frontier_figure(front)
        payload["figures"] = figures_json(figs)
    return payload, None


def run_exposure(params: dict[str, Any], progress: Reporter) -> JobResult:
    """``oreflow exposure BOM [--scenario S] --json``."""
    from oreflow.exposure import exposure, impact
    from oreflow.jsonview import exposure_payload

    bom = load_bom(params)
    exp = exposure(bom)
    imp = None
    has_scenario = params.get("scenario") is not None or params.get("scenario_yaml")
    label = params.get("scenario") or params.get("scenario_id")
    if has_scenario:
        sc = load_scenario(params)
        progress.label = f"{sc.name}: {params['draws']} draws"
        imp = impact(bom, sc, draws=int(params["draws"]), seed=int(params["seed"]),
                     progress=progress)
    payload = exposure_payload(bom, exp, imp, scenario=label, draws=int(params["draws"]),
                               seed=int(params["seed"]))
    if params.get("figures") and imp is not None:
        from oreflow.report.figures import stockout_figure

        payload["figures"] = figures_json({"stockout": stockout_figure(imp)})
    return payload, None


def run_sweep_job(params: dict[str, Any], progress: Reporter) -> JobResult:
    """``oreflow sweep SPEC --out DIR``, then the table of results (one row per point and
    segment)."""
    from oreflow.jsonview import records
    from oreflow.sweep.executor import SerialExecutor
    from oreflow.sweep.runner import read_table, run_sweep

    with tempfile.TemporaryDirectory(prefix="oreflow-api-sweep-") as tmp:
        work = Path(tmp)
        sw = check_sweep_spec(str(params["spec"]), max_points=int(params["max_points"]),
                              max_draws=int(params["max_draws"]), workdir=work)
        progress.label = f"{sw.spec.name}: {len(sw)} points"
        ex = SerialExecutor()
        try:
            res = run_sweep(sw, work / "out", executor=ex, resume=False, progress=progress)
        finally:
            ex.close()
        table = read_table(work / "out")
    return {"sweep": sw.spec.name, "spec_hash": sw.hash, "points": res.points_total,
            "draws": sw.spec.draws, "seed": sw.spec.seed, "rows": records(table)}, None


def run_report(params: dict[str, Any], progress: Reporter) -> JobResult:
    """A report of a built-in scenario (and a product line) as HTML or PDF, by
    :func:`oreflow.report.document.report_bytes` (what ``oreflow report`` writes)."""
    from oreflow.data.store import Store
    from oreflow.report.document import report_bytes

    sc = load_scenario(params)  # an unknown name fails here, with its suggestion
    name = str(params.get("scenario") or sc.name)
    bom = load_bom(params) if params.get("example") or params.get("bom") else None
    fmt = "pdf" if params.get("format") == "pdf" else "html"
    progress.part(0, 1, f"{name}: running the scenario for the report")
    data = report_bytes(sc, fmt, bom=bom, draws=int(params["draws"]), seed=int(params["seed"]),
                        store=Store.default(), progress=progress)
    stem = f"oreflow-report-{name}"
    kind = "application/pdf" if fmt == "pdf" else "text/html; charset=utf-8"
    return {"format": fmt, "bytes": len(data)}, (data, kind, f"{stem}.{fmt}")


#: Job kinds and their work.
KINDS: dict[str, Callable[[dict[str, Any], Reporter], JobResult]] = {
    "stress": run_stress,
    "validate": run_validate,
    "plan": run_plan,
    "exposure": run_exposure,
    "sweep": run_sweep_job,
    "report": run_report,
}


# -- the worker's entry points ------------------------------------------------------------
def execute(db_path: str, job_id: str) -> None:
    """Run one recorded job to its end: done with a result, failed with a one-line error,
    or cancelled. Never raises (the pool's future only fails if the worker dies)."""
    store = JobStore(Path(db_path))
    if not store.start(job_id):
        return  # cancelled or deleted while queued
    job = store.get(job_id, with_result=False)
    if job is None:
        return
    reporter = Reporter(store, job_id)
    try:
        with warnings.catch_warnings():
            # as at the CLI boundary: numerical warnings are handled and explained in results
            warnings.simplefilter("ignore", RuntimeWarning)
            result, file = KINDS[job["kind"]](job["params"], reporter)
        from oreflow.jsonview import finite

        store.finish(job_id, finite(result), file=file)
    except JobCancelledError:
        store.fail(job_id, "cancelled while running", status="cancelled")
    except OreflowError as exc:
        lines = [line for text in exc.lines() for line in str(text).splitlines()
                 if line.strip()]
        store.fail(job_id, lines[0] if lines else type(exc).__name__)
    except Exception as exc:
        store.fail(job_id, f"internal error: {type(exc).__name__}: {one_line(exc)}")


def init_worker() -> None:
    """Initialise a worker process: build the default baseline once (best effort), so a
    job pays only its own draws."""
    with contextlib.suppress(Exception), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from oreflow.simulate import simulate

        simulate("china-2025-04", draws=1, seed=0)


def ping() -> bool:
    """A no-op task that makes the pool start a worker."""
    return True
