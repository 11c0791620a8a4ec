"""Engine checks against history: ``calibrate``, ``validate``, ``sensitivity``.

Imports inside command functions are deliberate: each verb loads only what it uses, so
``oreflow --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from oreflow.cli._app import (
    CsvOpt,
    Format,
    JsonOpt,
    TableOpt,
    WideOpt,
    _fmt,
    app,
    console,
    emit,
    print_json,
    renderer,
)
from oreflow.cli.render import Col, progress
from oreflow.jsonview import records

__all__ = ["calibrate", "sensitivity", "validate"]

#: Validation tables: observations and model quantiles are multiples of the pre-episode level.
MULTIPLE = {q: Col(q.upper(), "×", priority=2 if q != "p50" else 1, term="P10/P50/P90")
            for q in ("p10", "p50", "p90")}


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
    wide: WideOpt = False,
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
    with progress(f"calibrating: {draws} prior draws", waiting="building the baselines") as bar:

        def tick(episode: str, done: int, total: int) -> None:
            bar.describe(f"calibrating: {episode}")
            bar(done, total)

        cal = run(draws=draws, seed=seed, accept=accept, progress=tick)
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
         f"{draws} prior draws kept (seed {seed}); posterior P10/P50/P90",
         columns={q: Col(q.upper(), priority=1) for q in ("p10", "p50", "p90")}, wide=wide)
    for p in written:
        console.print(f"wrote {p}")


@app.command()
def validate(
    episodes: Annotated[list[str] | None, typer.Argument(
        help="Episodes (default: re-2010 gage-2023).")] = None,
    draws: Annotated[int, typer.Option(help="Monte Carlo draws.", min=10)] = 500,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2010,
    figures: Annotated[Path | None, typer.Option(
        help="Write a PNG per episode and fit (observed points over the fan chart; "
             "matplotlib, as in the docs).")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Write the interactive figure per episode and fit to FILE with "
             "-EPISODE-in-sample / -EPISODE-out-of-sample before the suffix: .html "
             "(offline), .png, .svg or .pdf (static formats need Chromium).")] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    wide: WideOpt = False,
    table: TableOpt = None,
) -> None:
    """The engine against history, in sample and leave-one-episode-out, with a verdict.

    Every dated observation (prices outside and inside the controller, exports) against the
    model's P10/P50/P90, the headline peaks and recovery, and the bands. Tables, per episode
    and fit: EPISODE-in-sample-observations, -peaks, -checks (and -out-of-sample-…).
    """
    from oreflow.simulate.episodes import EPISODES
    from oreflow.simulate.validate import figure
    from oreflow.simulate.validate import validate as run

    names = episodes or list(EPISODES)
    if plot is not None:
        from oreflow.report.export import check_figure_path

        check_figure_path(plot)
    for n in names:
        if n not in EPISODES:
            from oreflow.errors import InputError, unknown

            raise InputError(unknown("episode", n, list(EPISODES)).lines()[0])
    fmt = _fmt(as_json, as_csv)
    results = []
    for n in names:
        for loo in (False, True):
            with progress(f"{n} ({'out of sample' if loo else 'in sample'}): {draws} draws",
                          waiting="building the baseline") as bar:
                results.append(run(n, draws, seed, out_of_sample=loo, progress=bar))
    written: dict[int, str] = {}
    if figures is not None:
        for k, v in enumerate(results):
            tag = "in-sample" if v.fitted_on == "both" else "out-of-sample"
            written[k] = str(figure(v, figures / f"validation-{v.episode}-{tag}.png"))
    plots: dict[int, str] = {}
    if plot is not None:
        from oreflow.report.export import write_figure
        from oreflow.report.figures import validation_figure

        for k, v in enumerate(results):
            tag = "in-sample" if v.fitted_on == "both" else "out-of-sample"
            path = plot.with_name(f"{plot.stem}-{v.episode}-{tag}{plot.suffix}")
            plots[k] = str(write_figure(validation_figure(v), path))
    if fmt is Format.json:
        from oreflow.jsonview import validation_payload

        print_json(validation_payload(results, written, plots))
        return
    out = renderer(fmt, wide=wide, table=table)
    for k, v in enumerate(results):
        tag = "in-sample" if v.fitted_on == "both" else "out-of-sample"
        shown = v.table[["kind", "side", "material", "label", "observed", "p10", "p50", "p90",
                         "inside", "source_id"]]
        where = "in sample" if v.fitted_on == "both" else f"fitted on {v.fitted_on} only"
        out.table(f"{v.episode}-{tag}-observations", shown, columns=MULTIPLE,
                  csv_df=v.table.assign(fitted_on=v.fitted_on),
                  title=f"{v.episode} ({where}): observed vs model P10/P50/P90 "
                        "(multiples of the pre-episode level)")
        out.table(f"{v.episode}-{tag}-peaks", v.peaks,
                  title=f"{v.episode}: headline peaks (months from the start) and recovery")
        out.table(f"{v.episode}-{tag}-checks", v.checks, title=f"{v.episode}: bands")
        out.print(Text(v.verdict(), style="green" if v.passes else "red"))
        for done in (written, plots):
            if k in done:
                out.print(f"wrote {done[k]}")
    out.finish()


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
    wide: WideOpt = False,
) -> None:
    """Global sensitivity of peak price, shortfall and recovery to the fitted parameters."""
    from oreflow.errors import InputError
    from oreflow.simulate.sensitivity import OUTPUTS
    from oreflow.simulate.sensitivity import sensitivity as run

    if method not in ("sobol", "morris"):
        raise InputError(f"--method must be sobol or morris, not {method!r}")
    fmt = _fmt(as_json, as_csv)
    with progress(f"{scenario}: {method}", waiting="building the baseline") as bar:
        s = run(scenario, material, method=method, n=n, seed=seed,  # type: ignore[arg-type]
                progress=bar)
    if fmt is Format.json:
        print_json({"scenario": s.scenario, "material": s.material, "method": s.method,
                    "runs": s.runs, "outputs": OUTPUTS, "indices": records(s.indices)})
        return
    out = renderer(fmt, wide=wide)
    out.table("indices", s.indices, title=f"{s.scenario}, {s.material} outside the "
              f"controller: {s.method} indices over {s.runs} runs")
    for k, v in OUTPUTS.items():
        out.print(Text(f"{k}: {v}", style="dim"))
    out.finish()
