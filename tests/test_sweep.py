"""Sweeps: expansion, key-derived seeds, spec errors, resume after kill -9, backends agree.

Small points throughout (one material, 12 months, 60-150 draws) so each test stays a few
seconds; the Dask LocalCluster is started once for the module.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import oreflow
from oreflow.cli import app
from oreflow.errors import InputError
from oreflow.sweep import (
    LocalPool,
    SerialExecutor,
    Sweep,
    SweepSpecError,
    load_sweep,
    make_point,
    point_seed,
    read_table,
    run_points,
    run_sweep,
)

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("user_dir")

BASE = """\
base:
  name: grid
  start: 2025-01
  horizon_months: 12
  shocks:
    - kind: export_restriction
      id: ctl
      materials: [Dy]
      effective: 2025-02
      approval_rate: 0.5
"""


def write_spec(tmp_path: Path, axes: str, *, draws: int = 60, mode: str = "product",
               name: str = "sweep.yaml", extra: str = "") -> Path:
    path = tmp_path / name
    path.write_text(f"name: t\n{BASE}draws: {draws}\nseed: 3\nmode: {mode}\n{extra}"
                    f"axes:\n{axes}")
    return path


SMALL = "  materials: [Dy, Tb, Ga]\n  share_lost: [0.5, 1.0]\n  duration_months: [3, 6]\n"


# -- expansion and seeds -------------------------------------------------------------------


def test_product_and_list_expansion(tmp_path: Path) -> None:
    sw = load_sweep(write_spec(tmp_path, SMALL))
    assert len(sw.points) == 12
    # last axis fastest, first slowest
    assert [p.key for p in sw.points[:3]] == [
        {"materials": "Dy", "share_lost": 0.5, "duration_months": 3},
        {"materials": "Dy", "share_lost": 0.5, "duration_months": 6},
        {"materials": "Dy", "share_lost": 1.0, "duration_months": 3}]
    p = sw.points[2]
    assert p.scenario.material_list() == ("Dy",)
    r = p.scenario.restrictions()[0]
    assert r.approval_rate is not None and r.approval_rate.mean() == 0.0
    assert r.duration_months == 3.0
    assert sw.points[-1].scenario.material_list() == ("Ga",)
    lst = load_sweep(write_spec(tmp_path, "  materials: [Dy, Tb]\n  share_lost: [0.2, 0.9]\n",
                                mode="list", name="l.yaml"))
    assert [p.key for p in lst.points] == [{"materials": "Dy", "share_lost": 0.2},
                                           {"materials": "Tb", "share_lost": 0.9}]


def test_supplier_importer_and_dotted_paths(tmp_path: Path) -> None:
    axes = ("  supplier: [CHN]\n  importer: [USA, [JPN, KOR]]\n"
            "  parameters.recovery_tolerance: [0.05]\n  horizon_months: [6]\n")
    sw = load_sweep(write_spec(tmp_path, axes))
    sc = sw.points[1].scenario
    assert sc.controller == "CHN" and sc.restrictions()[0].targets == ["JPN", "KOR"]
    assert sc.horizon_months == 6 and sc.parameters.recovery_tolerance == 0.05
    # a field the axes do not touch stays unset: the calibrated sample still fills it
    assert "leakage" not in sc.parameters.model_fields_set
    # a path into a mapping changes one entry and keeps the others
    el = load_sweep(write_spec(tmp_path, "  parameters.elasticity.default: [-0.3]\n",
                               name="el.yaml")).point(0).scenario.parameters.elasticity
    from oreflow.simulate import Parameters

    assert set(el) == set(Parameters().elasticity) and el["default"].mean() == -0.3


def test_seeds_come_from_the_key_not_the_order(tmp_path: Path) -> None:
    a = load_sweep(write_spec(tmp_path, "  materials: [Dy, Tb]\n  share_lost: [0.5, 1.0]\n"))
    b = load_sweep(write_spec(tmp_path, "  share_lost: [1.0]\n  materials: [Tb, Ga]\n",
                              name="b.yaml"))
    seeds_a = {json.dumps(p.key, sort_keys=True): p.seed for p in a.points}
    seeds_b = {json.dumps(p.key, sort_keys=True): p.seed for p in b.points}
    shared = set(seeds_a) & set(seeds_b)
    assert shared == {json.dumps({"materials": "Tb", "share_lost": 1.0}, sort_keys=True)}
    assert all(seeds_a[k] == seeds_b[k] for k in shared)
    assert len(set(seeds_a.values())) == 4
    # the same numbers too: point (Tb, 1.0) is index 3 in a, index 0 in b
    ta = run_points([a.points[3]], workers=1)
    tb = run_points([b.points[0]], workers=1)
    num = [c for c in ta.columns if c.endswith(("_p50", "_mean"))]
    pd.testing.assert_frame_equal(ta[num], tb[num], check_exact=True)
    assert point_seed(3, {"x": 1}) != point_seed(4, {"x": 1})


def test_run_points_table_columns(tmp_path: Path) -> None:
    sw = load_sweep(write_spec(tmp_path, SMALL))
    pts = [make_point(i, p.key, p.scenario, sweep_seed=3, draws=60)
           for i, p in enumerate(reversed(sw.points[:3]))]
    assert [p.seed for p in pts] == [p.seed for p in reversed(sw.points[:3])]
    t = run_points(pts, workers=1)
    assert list(t.columns[:7]) == ["point", "key", "materials", "share_lost",
                                   "duration_months", "seed", "material"]
    assert {"shortfall_t_mean", "cost_musd_mean", "lost_output_t_mean",
            "peak_price_multiple_p50"} <= set(t.columns)
    assert t["point"].is_monotonic_increasing
    assert t["share_lost"].dtype == "float64" and t["duration_months"].dtype == "int64"
    assert (t["shortfall_t_mean"] >= 0).all()
    # a material without a market (Sc: no production or demand in the baseline) has no rows
    sc = load_sweep(write_spec(tmp_path, "  materials: [Sc, Dy]\n", name="sc.yaml"))
    both = run_points(sc.points, workers=1)
    assert set(both["point"]) == {1} and set(both["materials"]) == {"Dy"}


# -- bad specs: one line with file:line:field, exit 2, nothing written ------------------


@pytest.mark.parametrize(("axes", "extra", "line", "field", "rule"), [
    ("  materials: [Dy]\n  shar_lost: [0.5]\n", "", 17, "axes.shar_lost", "unknown axis"),
    ("  share_lost: [0.5, 1.0, 1.5]\n", "", 16, "axes.share_lost[2]", "[0, 1]"),
    ("  materials: [Dy, Unobtainium]\n", "", 16, "axes.materials[1]", "unknown material"),
    ("  materials: [Dy, Tb]\n  share_lost: [0.5]\n", "", 17, "axes.share_lost",
     "same length"),
    ("  parameters.leakage: [2.5]\n", "", 16, "axes.parameters.leakage[0]", "leakage"),
    ("  importer: [USA, Atlantis]\n", "", 16, "axes.importer[1]", "Atlantis"),
])
def test_bad_spec_is_one_line_with_file_line_field(tmp_path: Path, axes: str, extra: str,
                                                   line: int, field: str, rule: str) -> None:
    mode = "list" if "same length" in rule else "product"
    spec = write_spec(tmp_path, axes, mode=mode, extra=extra)
    out = tmp_path / "out"
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out)])
    assert res.exit_code == 2, res.output
    first = res.stderr.splitlines()[0]
    assert first.startswith(f"error: {spec}:{line}: field '{field}'"), res.stderr
    assert rule in res.stderr
    assert "Traceback" not in res.output
    assert not out.exists()


def test_unknown_base_and_schema_errors(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("name: t\nbase: full-embargoo\ndraws: 10\naxes:\n  share_lost: [1]\n")
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert f"{spec}:2: field 'base'" in res.stderr and "full-embargo" in res.stderr
    spec.write_text("name: t\nbase: full-embargo\ndraws: 0\nmodee: list\naxes:\n"
                    "  share_lost: [1]\n")
    with pytest.raises(SweepSpecError) as exc:
        load_sweep(spec)
    assert exc.value.lines() == [
        f"{spec}:3: field 'draws': Input should be greater than or equal to 1",
        f"{spec}:4: field 'modee': unknown field 'modee' (did you mean 'mode'?)"]
    spec.write_text("name: t\nbase: missing.yaml\naxes:\n  share_lost: [1]\n")
    with pytest.raises(SweepSpecError, match=r"s.yaml:2: field 'base': no scenario file"):
        load_sweep(spec)
    assert not (tmp_path / "o").exists()


def test_limits_on_points(tmp_path: Path) -> None:
    many = ", ".join(str(i) for i in range(1, 401))
    spec = write_spec(tmp_path, f"  duration_months: [{many}]\n  horizon_months: [{many}]\n")
    with pytest.raises(SweepSpecError, match=r"160,000 points; a sweep may have at most"):
        load_sweep(spec)


# -- on disk: resume and refusal -----------------------------------------------------------


def test_resume_skips_done_points_and_refuses_another_spec(tmp_path: Path) -> None:
    sw = load_sweep(write_spec(tmp_path, SMALL))
    out = tmp_path / "out"
    part = sw.head(5)  # as if interrupted after 5 points
    run_sweep(part, out, workers=1, chunk_points=2)
    man = json.loads((out / "manifest.json").read_text())
    assert [c["points"] for c in man["chunks"]] == [[0, 1], [2, 3], [4]]
    (out / "part-00009.parquet.tmp").write_bytes(b"half a file")  # left by a kill
    (out / "part-00007.parquet").write_bytes(b"not in the manifest")
    seen: list[int] = []
    res = run_sweep(sw, out, workers=1, chunk_points=4, progress=lambda d, t: seen.append(d))
    assert res.points_run == 7 and res.complete and seen[0] == 5 and seen[-1] == 12
    assert not (out / "part-00009.parquet.tmp").exists()
    assert not (out / "part-00007.parquet").exists()
    whole = run_sweep(sw, tmp_path / "whole", executor=SerialExecutor())
    pd.testing.assert_frame_equal(res.table(), whole.table(), check_exact=True)
    other = load_sweep(write_spec(tmp_path, SMALL, draws=61, name="o.yaml"))
    with pytest.raises(InputError, match="spec hash"):
        run_sweep(other, out, workers=1)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty and holds no sweep"):
        run_sweep(sw, tmp_path / "junk", workers=1)


def _src() -> str:
    return str(Path(oreflow.__file__).resolve().parents[1])


def test_resume_after_a_real_kill_9_gives_the_same_table(tmp_path: Path) -> None:
    axes = ("  materials: [Dy, Tb, Ga, Ge, Nd]\n  share_lost: [0.25, 0.5, 0.75, 1.0]\n"
            "  duration_months: [3, 6, 9]\n")
    spec = write_spec(tmp_path, axes, draws=150)
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": _src() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-c", "from oreflow.cli import main; main()", "sweep", str(spec),
           "--out", str(out), "--workers", "1", "--chunk-points", "5"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    man: dict[str, object] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                man = json.loads((out / "manifest.json").read_text())
            except (OSError, ValueError):
                man = {}
            if man.get("chunks"):
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    chunks = man.get("chunks")
    assert isinstance(chunks, list) and chunks
    before = json.loads((out / "manifest.json").read_text())
    assert not before["complete"] and len(before["chunks"]) < 12  # killed mid-way
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out), "--workers", "1",
                              "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["complete"] and info["points_total"] == 60
    assert info["points_resumed"] >= 5 and info["points_run"] == 60 - info["points_resumed"]
    whole = run_sweep(load_sweep(spec), tmp_path / "whole", workers=1, chunk_points=7)
    pd.testing.assert_frame_equal(read_table(out), whole.table(), check_exact=True)


# -- backends agree ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[object]:
    """One Dask LocalCluster (2 worker processes) for the module."""
    pytest.importorskip("distributed")
    from oreflow.sweep import DaskExecutor

    # no warning filter: the executor starts its LocalCluster on a free dashboard port
    # (Dask warns when its default 8787 is taken) and closes it; warnings stay errors
    ex = DaskExecutor(workers=2)
    try:
        yield ex
    finally:
        ex.close()


def test_serial_pool_and_dask_give_identical_tables(tmp_path: Path,
                                                    dask_executor: object) -> None:
    sw: Sweep = load_sweep(write_spec(tmp_path, SMALL))
    serial = run_sweep(sw, tmp_path / "serial", executor=SerialExecutor(), chunk_points=3)
    with LocalPool(2, warm=sw.point(0).scenario) as pool:
        pooled = run_sweep(sw, tmp_path / "pool", executor=pool, chunk_points=5)
    dask_executor.batch = 5  # type: ignore[attr-defined]  # 12 points: a short last batch
    dasked = run_sweep(sw, tmp_path / "dask", executor=dask_executor,  # type: ignore[arg-type]
                       chunk_points=4)
    want = serial.table()
    assert len(want) == 24 and want["point"].nunique() == 12
    pd.testing.assert_frame_equal(pooled.table(), want, check_exact=True)
    pd.testing.assert_frame_equal(dasked.table(), want, check_exact=True)
    pd.testing.assert_frame_equal(run_points(sw.points, workers=1), want, check_exact=True)


def test_cli_json_summary_and_outputs_filter(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "  materials: [Dy, Tb]\n",
                      extra="outputs:\n  segments: [rest]\n")
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "o"), "--workers",
                              "1", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["points_done"] == 2 and info["backend"] == "process pool"
    t = read_table(tmp_path / "o")
    assert set(t["role"]) == {"rest"} and list(t["material"]) == ["Dy", "Tb"]
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "o"),
                              "--dask", "remote"])
    assert res.exit_code == 2 and "--dask takes 'local'" in res.stderr
    other = write_spec(tmp_path, "  materials: [Dy, Ga]\n", name="other.yaml")
    before = (tmp_path / "o" / "manifest.json").read_text()
    res = runner.invoke(app, ["sweep", str(other), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "spec hash" in res.stderr and "--no-resume" in res.stderr
    assert (tmp_path / "o" / "manifest.json").read_text() == before
    res = runner.invoke(app, ["sweep", str(other), "--out", str(tmp_path / "o"), "--workers",
                              "1", "--no-resume", "--json"])
    assert res.exit_code == 0, res.output
    assert set(read_table(tmp_path / "o")["material"]) == {"Dy", "Ga"}


def test_shipped_example_sweep_is_valid() -> None:
    from importlib import resources

    root = resources.files("oreflow").joinpath("examples", "sweeps")
    names = sorted(p.name for p in root.iterdir() if p.name.endswith(".yaml"))
    assert names == ["embargo-grid.yaml"]
    sw = load_sweep(Path(str(root.joinpath(names[0]))))
    assert len(sw.points) == 45 and sw.points[0].scenario.material_list() == ("Dy",)


# -- fuzz: any sweep file is either loaded or refused with file:line messages -------------

_AXES = ["materials", "supplier", "share_lost", "duration_months", "importer", "targets",
         "horizon_months", "shocks[0].approval_rate", "shocks[5].x", "parameters.leakage",
         "parameters.nope", "bogus", "a.b[", ""]
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 700),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["Dy", "Ga", "NdFeB", "USA", "EU27", "CHN", "Atlantis", "",
                                     "[", "{a: 1}"]),
                    st.lists(st.sampled_from(["Dy", "Tb", "JPN", 3]), max_size=3))


@settings(max_examples=int(os.environ.get("OREFLOW_FUZZ_EXAMPLES", "200")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(axes=st.dictionaries(st.sampled_from(_AXES), st.lists(_VALUES, max_size=3),
                            max_size=3),
       mode=st.sampled_from(["product", "list", "zip"]),
       draws=st.sampled_from(["10", "0", "-1", "x", "1e12"]))
def test_fuzz_spec_is_loaded_or_refused_with_lines(tmp_path: Path, axes: dict[str, list[object]],
                                                   mode: str, draws: str) -> None:
    import yaml

    text = yaml.safe_dump({"name": "f", "base": "gage-2023", "draws": 1, "mode": mode,
                           "axes": axes}, sort_keys=False)
    spec = tmp_path / "f.yaml"
    spec.write_text(text.replace("draws: 1\n", f"draws: {draws}\n"))
    try:
        sw = load_sweep(spec)
    except SweepSpecError as exc:
        assert exc.lines() and all(line.startswith(str(spec)) for line in exc.lines())
        return
    assert len(sw) >= 1 and sw.point(0).scenario.name == "gage-2023"


def test_cli_scheduler_address_runs_on_an_existing_cluster(tmp_path: Path,
                                                          dask_executor: object) -> None:
    # the module's LocalCluster stands in for a cluster: `--scheduler ADDR` connects to it
    # (a client of its own) and gives exactly the in-process table
    address = dask_executor._cluster.scheduler_address  # type: ignore[attr-defined]
    spec = write_spec(tmp_path, "  materials: [Dy, Tb]\n")
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "c"),
                              "--scheduler", address, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["points_done"] == 2
    want = run_points(load_sweep(spec).points, workers=1)
    pd.testing.assert_frame_equal(read_table(tmp_path / "c"), want, check_exact=True)
