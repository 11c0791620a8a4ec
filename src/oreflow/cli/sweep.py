"""The ``sweep`` verb: run a sweep file (many scenarios from one base) into a directory.

Everything is checked before any work (the sweep file, its base scenario, every point);
then a progress bar with ETA, then a short summary (``--json`` for scripts). Imports inside
the command are deliberate: the CLI must start fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from oreflow.cli._app import Format, JsonOpt, _fmt, app, print_json
from oreflow.errors import InputError

__all__ = ["sweep"]


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="Sweep YAML file (docs/sweeps.md).")],
    out: Annotated[Path, typer.Option(
        help="Output directory: chunked Parquet (part-*.parquet) and manifest.json. An "
             "interrupted sweep in it is resumed.")],
    workers: Annotated[int | None, typer.Option(
        help="Worker processes (default: the CPUs available); with --dask local, the "
             "LocalCluster's workers.", min=1)] = None,
    dask: Annotated[str | None, typer.Option(
        "--dask", metavar="local", help="Run on a Dask LocalCluster on this machine "
                                        "('local'); needs oreflow[dist].")] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", metavar="ADDR", help="Run on an existing Dask cluster "
                                            "(tcp://host:8786); its workers need oreflow.")]
    = None,
    no_resume: Annotated[bool, typer.Option(
        "--no-resume", help="Start over: delete the chunks of a sweep found in --out.")]
    = False,
    chunk_points: Annotated[int | None, typer.Option(
        help="Points per Parquet chunk (default: 1% of the sweep, 10 to 1,000).", min=1)]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a sweep: a base scenario over axes of materials, suppliers, shares lost,
    durations, importers or any scenario field; each point N draws with its own seed.

    Results stream to --out as chunked Parquet; kill it and run the same command again to
    resume (the final table is the same as an uninterrupted run's). --json prints the
    summary as JSON.
    """
    fmt = _fmt(as_json, False)
    if dask is not None and scheduler is not None:
        raise InputError("choose one of --dask local and --scheduler ADDR")
    if dask is not None and dask != "local":
        raise InputError(f"--dask takes 'local' (a LocalCluster on this machine), got "
                         f"{dask!r}; for an existing cluster use --scheduler tcp://HOST:8786")
    from oreflow.sweep.load import load_sweep

    sw = load_sweep(spec)  # every check, before any work or any directory is made
    from oreflow.cli.render import progress
    from oreflow.sweep.executor import make_executor
    from oreflow.sweep.runner import check_out_dir, run_sweep

    check_out_dir(sw, out, resume=not no_resume)  # before starting any worker

    n = len(sw)
    backend = ("dask " + scheduler if scheduler else "dask LocalCluster" if dask
               else "process pool")
    with progress(f"{sw.spec.name}: {n:,} points x {sw.spec.draws:,} draws",
                  waiting=f"starting the {backend}") as bar:
        ex = make_executor(workers=workers, dask=dask, scheduler=scheduler,
                           warm=sw.point(0).scenario)
        try:
            res = run_sweep(sw, out, executor=ex, resume=not no_resume, progress=bar,
                            chunk_points=chunk_points)
            n_workers = ex.workers
        finally:
            ex.close()
    rate = res.points_run / res.elapsed_s if res.elapsed_s > 0 else 0.0
    payload: dict[str, Any] = {
        "sweep": sw.spec.name, "spec_hash": sw.hash, "out": str(out),
        "manifest": str(out / "manifest.json"), "points_total": res.points_total,
        "points_done": res.points_done, "points_run": res.points_run,
        "points_resumed": res.points_done - res.points_run, "complete": res.complete,
        "draws": sw.spec.draws, "seed": sw.spec.seed, "backend": backend,
        "workers": n_workers, "chunks": len(res.manifest["chunks"]),
        "elapsed_s": round(res.elapsed_s, 3), "points_per_s": round(rate, 3),
    }
    if fmt is Format.json:
        print_json(payload)
        return
    import pandas as pd

    from oreflow.cli._app import renderer

    rows = [{"what": k.replace("_", " "), "value": v} for k, v in payload.items()]
    r = renderer(fmt)
    r.table("summary", pd.DataFrame(rows).astype({"value": str}),
            title=f"sweep {sw.spec.name}",
            caption="read the results: oreflow.sweep.read_table(DIR) or any Parquet reader "
                    "(DIR/part-*.parquet)")
    r.finish()
