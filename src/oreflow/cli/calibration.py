"""Engine checks against history: ``calibrate``, ``validate``, ``sensitivity``.

Imports inside command functions are deliberate: each verb loads only what it uses, so
``oreflow --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from oreflow.cli._app import (
    CsvOpt,
    Format,
    JsonOpt,
    _fmt,
    _jsonable,
    app,
    console,
    emit,
    print_json,
)


def _progress_bar(fmt: Format) -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                    TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                    console=console, transient=True,
                    disable=fmt is not Format.table or not console.is_terminal)


@app.command()
def calibrate(
    draws: Annotated[int, typer.Option(help="Parameter vectors drawn from the priors.",
                                       min=100)] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the prior draws and runs.")] = 2026,
    accept: Annotated[float, typer.Option(help="Share of vectors kept.", min=1e-4,
                                          max=1.0)] = 0.02,
    out: Annotated[Path, typer.Option(help="Directory for the samples and report.")]
    = Path("calibration"),
    write_package: Annotated[bool, typer.Option(
        "--write-package", help="Replace the calibration shipped with oreflow (developers).")]
    = False,
    check: Annotated[bool, typer.Option(
        "--check", help="Compare with the shipped calibration; exit 1 if it differs.")]
    = False,
    as_json: JsonOpt = False,
) -> None:
    """Fit the engine's behavioural parameters to the two calibration episodes (ABC).

    Writes posterior.csv (both episodes), posterior-<episode>.csv (one each, for the
    leave-one-episode-out validation) and calibration.json (objective, data, seed).
    """
    import filecmp
    import tempfile

    from oreflow.errors import InputError
    from oreflow.simulate.calibrate import calibrate as run
    from oreflow.simulate.calibrate import write_calibration
    from oreflow.simulate.posterior import calibration_dir

    fmt = _fmt(as_json, False)
    target = calibration_dir() if write_package else out
    if not check:  # fail before the work, not after it
        try:
            target.mkdir(parents=True, exist_ok=True)
            (target / ".write-test").touch()
            (target / ".write-test").unlink()
        except OSError as exc:
            raise InputError(f"{target}: cannot write the calibration there ({exc.strerror})"
                             ) from None
    with _progress_bar(fmt) as bar:
        task = bar.add_task(f"calibrating: {draws} prior draws", total=1.0)

        def progress(episode: str, done: int, total: int) -> None:
            bar.update(task, description=f"calibrating: {episode}",
                       completed=done / max(total, 1))

        cal = run(draws=draws, seed=seed, accept=accept, progress=progress)
    if check:
        with tempfile.TemporaryDirectory() as tmp:
            written = write_calibration(cal, tmp)
            same = [filecmp.cmp(p, calibration_dir() / p.name, shallow=False)
                    if (calibration_dir() / p.name).is_file() else False for p in written]
        differ = [p.name for p, ok in zip(written, same, strict=True) if not ok]
        if differ:
            console.print(f"[red]differs from the shipped calibration: {', '.join(differ)}[/]")
            raise typer.Exit(1)
        console.print("the shipped calibration is reproduced exactly "
                      f"(seed {seed}, {draws} draws, accept {accept:g})")
        return
    written = write_calibration(cal, target)
    rep = cal.report
    if fmt is Format.json:
        print_json({"report": rep, "written": [str(p) for p in written]})
        return
    import pandas as pd

    post = rep["samples"]["posterior"]["parameters"]
    rows = [{"parameter": k, "p10": v["p10"], "p50": v["p50"], "p90": v["p90"]}
            for k, v in post.items()]
    emit(pd.DataFrame(rows), fmt, title=f"calibrated on both episodes: {rep['accepted']} of "
         f"{draws} prior draws kept (seed {seed})")
    for p in written:
        console.print(f"wrote {p}")


@app.command()
def validate(
    episodes: Annotated[list[str] | None, typer.Argument(
        help="Episodes (default: re-2010 gage-2023).")] = None,
    draws: Annotated[int, typer.Option(help="Monte Carlo draws.", min=10)] = 500,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2010,
    figures: Annotated[Path | None, typer.Option(
        help="Write a PNG per episode and fit (observed points over the fan chart).")] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """The engine against history, in sample and leave-one-episode-out, with a verdict.

    Every dated observation (prices outside and inside the controller, exports) against the
    model's P10/P50/P90, the headline peaks and recovery, and the bands.
    """
    from oreflow.simulate.episodes import EPISODES
    from oreflow.simulate.validate import figure
    from oreflow.simulate.validate import validate as run

    names = episodes or list(EPISODES)
    for n in names:
        if n not in EPISODES:
            from oreflow.errors import InputError, unknown

            raise InputError(unknown("episode", n, list(EPISODES)).lines()[0])
    fmt = _fmt(as_json, as_csv)
    results = []
    with _progress_bar(fmt) as bar:
        for n in names:
            for loo in (False, True):
                task = bar.add_task(f"{n} ({'out of sample' if loo else 'in sample'})",
                                    total=1.0)

                def progress(done: int, total: int, _t: Any = task) -> None:
                    bar.update(_t, completed=done / max(total, 1))

                results.append(run(n, draws, seed, out_of_sample=loo, progress=progress))
    written: dict[int, str] = {}
    if figures is not None:
        for k, v in enumerate(results):
            tag = "in-sample" if v.fitted_on == "both" else "out-of-sample"
            written[k] = str(figure(v, figures / f"validation-{v.episode}-{tag}.png"))
    if fmt is Format.json:
        print_json({"episodes": [{
            "episode": v.episode, "fitted_on": v.fitted_on, "verdict": v.verdict(),
            "passes": v.passes, "observations": _jsonable(v.table), "peaks": _jsonable(v.peaks),
            "checks": _jsonable(v.checks), "figure": written.get(k)}
            for k, v in enumerate(results)]})
        return
    for k, v in enumerate(results):
        if fmt is Format.csv:
            emit(v.table.assign(fitted_on=v.fitted_on), fmt)
            continue
        shown = v.table[["kind", "side", "material", "label", "observed", "p10", "p50", "p90",
                         "inside", "source_id"]]
        where = "in sample" if v.fitted_on == "both" else f"fitted on {v.fitted_on} only"
        emit(shown, fmt, title=f"{v.episode} ({where}): observed vs model P10/P50/P90 "
             "(multiples of the pre-episode level)")
        emit(v.peaks, fmt, title=f"{v.episode}: headline peaks (months from the start) and "
             "recovery")
        emit(v.checks, fmt, title=f"{v.episode}: bands")
        style = "green" if v.passes else "red"
        console.print(f"[{style}]{v.verdict()}[/]")
        if k in written:
            console.print(f"wrote {written[k]}")


@app.command()
def sensitivity(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML file.")],
    material: Annotated[str | None, typer.Option(
        help="Material analysed (default: the one with the highest outside peak).")] = None,
    method: Annotated[str, typer.Option(help="sobol or morris.")] = "sobol",
    n: Annotated[int, typer.Option(help="Base sample size (Sobol: a power of two).",
                                   min=8)] = 128,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Global sensitivity of peak price, shortfall and recovery to the fitted parameters."""
    from oreflow.errors import InputError
    from oreflow.simulate.sensitivity import OUTPUTS
    from oreflow.simulate.sensitivity import sensitivity as run

    if method not in ("sobol", "morris"):
        raise InputError(f"--method must be sobol or morris, not {method!r}")
    fmt = _fmt(as_json, as_csv)
    with _progress_bar(fmt) as bar:
        task = bar.add_task(f"{scenario}: {method}", total=1.0)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done / max(total, 1))

        s = run(scenario, material, method=method, n=n, seed=seed,  # type: ignore[arg-type]
                progress=progress)
    if fmt is Format.json:
        print_json({"scenario": s.scenario, "material": s.material, "method": s.method,
                    "runs": s.runs, "outputs": OUTPUTS, "indices": _jsonable(s.indices)})
        return
    emit(s.indices, fmt, title=f"{s.scenario}, {s.material} outside the controller: "
         f"{s.method} indices over {s.runs} runs")
    if fmt is Format.table:
        for k, v in OUTPUTS.items():
            console.print(f"[dim]{k}: {v}[/]")
