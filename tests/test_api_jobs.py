"""API jobs: 202 → poll → done with the library's numbers, progress, failures, cancel,
persistence across restarts, the process pool keeping the server responsive, and the real
``oreflow serve`` in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _api_helpers import TestClient, cli_json, make_client, wait
from oreflow.api import tasks
from oreflow.api.jobs import JobStore
from oreflow.api.settings import ApiSettings
from oreflow.errors import InputError


@pytest.fixture
def client(user_dir: Path, tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path / "api-data", workers=1) as c:
        yield c


def submit(c: TestClient, url: str, body: dict[str, Any]) -> str:
    r = c.post(url, json=body)
    assert r.status_code == 202, r.text
    job_id = str(r.json()["id"])
    assert r.headers["location"] == f"/api/jobs/{job_id}" == r.json()["url"]
    return job_id


# -- real work gives the CLI's numbers --------------------------------------------------------
def test_stress_job_returns_the_cli_json(client: TestClient) -> None:
    job_id = submit(client, "/api/stress", {"scenario": "full-embargo", "draws": 30,
                                            "seed": 3})
    job = wait(client, job_id)
    assert job["status"] == "done", job
    assert job["progress"] == 1.0 and job["started"] and job["finished"]
    want = cli_json("stress", "full-embargo", "--draws", "30", "--seed", "3")
    got = job["result"]
    for key in ("summary", "sector_shortfall", "affected_materials", "notes", "sources"):
        assert got[key] == want[key], key
    assert got["provenance"]["seed"] == want["provenance"]["seed"]


def test_exposure_job_under_a_scenario_returns_the_cli_json(client: TestClient) -> None:
    job_id = submit(client, "/api/exposure", {"example": "drone", "scenario": "full-embargo",
                                              "draws": 20})
    job = wait(client, job_id)
    assert job["status"] == "done", job
    want = cli_json("exposure", "--example", "drone", "--scenario", "full-embargo",
                    "--draws", "20")
    assert job["result"] == want


def test_plan_job_returns_the_cli_json(client: TestClient) -> None:
    job_id = submit(client, "/api/plan", {"bloc": "MSP", "targets": ["magnet:self>=0.3@2033"],
                                          "budget_usd": 5e9})
    job = wait(client, job_id)
    assert job["status"] == "done", job
    want = cli_json("plan", "--bloc", "MSP", "-t", "magnet:self>=0.3@2033", "--budget", "5e9")
    got = job["result"]
    for key in ("feasible", "capex_musd", "choices", "balance", "cost", "misses"):
        assert got[key] == want[key], key


def test_sweep_job_runs_a_small_spec_and_refuses_paths_and_big_ones(client: TestClient
                                                                     ) -> None:
    spec = ("name: tiny\nbase: full-embargo\ndraws: 10\nseed: 0\nmode: product\naxes:\n"
            "  materials: [Dy]\n  share_lost: [0.5, 1.0]\n")
    job = wait(client, submit(client, "/api/sweeps", {"spec": spec}))
    assert job["status"] == "done", job
    res = job["result"]
    assert res["points"] == 2 and res["draws"] == 10 and res["rows"]
    assert {r["point"] for r in res["rows"]} == {0, 1}
    r = client.post("/api/sweeps", json={"spec": spec.replace("full-embargo",
                                                                "../../etc/x.yaml")})
    assert r.status_code == 400 and "not a built-in scenario" in r.json()["error"]
    big = spec.replace("[0.5, 1.0]", "[" + ", ".join(f"0.{k}" for k in range(1, 10)) + "]"
                       ).replace("[Dy]", "[Dy, Tb, Nd, Pr, Ga, Ge]")
    r = client.post("/api/sweeps", json={"spec": big})
    assert r.status_code == 400 and "at most 50" in r.json()["error"]
    assert client.get("/api/jobs").json()["jobs"][0]["id"] == job["id"]  # nothing queued


def test_job_inputs_are_checked_before_queueing(client: TestClient) -> None:
    for url, body, words in [
        ("/api/stress", {"scenario": "china-2025-4"}, "did you mean 'china-2025-04'"),
        ("/api/stress", {"scenario_id": "nope"}, "no saved scenario"),
        ("/api/stress", {"scenario": "full-embargo", "draws": 10**6}, "limit"),
        ("/api/validate", {"episodes": ["re-2011"]}, "unknown episode"),
        ("/api/plan", {"bloc": "MSP", "targets": ["magnet:self=0.4@2030"]}, "STAGE:MEASURE"),
        ("/api/exposure", {"example": "tank", "scenario": "full-embargo"}, "example BOM"),
        ("/api/jobs/dance", {}, "unknown job kind"),
    ]:
        r = client.post(url, json=body)
        assert r.status_code in (400, 404), (url, r.text)
        assert words in r.json()["error"], (url, r.json())
    assert client.get("/api/jobs").json()["jobs"] == []


def test_generic_job_endpoint_and_saved_scenarios(client: TestClient) -> None:
    from importlib import resources

    text = resources.files("oreflow.simulate").joinpath("builtin", "full-embargo.yaml"
                                                        ).read_text(encoding="utf-8")
    sid = client.post("/api/scenarios/saved", json={"text": text}).json()["id"]
    job_id = submit(client, "/api/jobs/stress", {"scenario_id": sid, "draws": 20})
    client.delete(f"/api/scenarios/saved/{sid}")  # the job keeps its copy
    job = wait(client, job_id)
    assert job["status"] == "done", job
    direct = wait(client, submit(client, "/api/stress", {"scenario": "full-embargo",
                                                         "draws": 20}))
    assert job["result"]["summary"] == direct["result"]["summary"]
    assert job["params"]["scenario_yaml"] == text
    r = client.post("/api/jobs/stress", json={"draws": 5})
    assert r.status_code == 422 and "\n" not in r.json()["error"]


# -- the job machinery (a controllable kind) --------------------------------------------------
@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """A job kind ``gated`` that reports 1/5 … 4/5 then waits for the event; ``broken``
    fails with a two-line error."""
    from oreflow.api import routes

    release = threading.Event()

    def gated(params: dict[str, Any], progress: tasks.Reporter) -> Any:
        for k in range(1, 5):
            progress.report(k / 5, force=True, message=f"step {k} of 5")
        while not release.wait(0.05):
            progress.report(0.8, force=True, message="waiting")
        return {"answer": 42}, None

    def broken(params: dict[str, Any], progress: tasks.Reporter) -> Any:
        raise InputError("first line of the problem\nsecond line")

    monkeypatch.setitem(tasks.KINDS, "gated", gated)
    monkeypatch.setitem(tasks.KINDS, "broken", broken)
    monkeypatch.setitem(routes.jobs.MODELS, "gated", routes.jobs.ValidateJob)
    monkeypatch.setitem(routes.jobs.MODELS, "broken", routes.jobs.ValidateJob)
    yield release
    release.set()


def test_progress_advances_then_done(client: TestClient, gate: threading.Event) -> None:
    job_id = submit(client, "/api/jobs/gated", {})
    job = wait(client, job_id, until=("running",))
    seen = wait(client, job_id, until=("running",))
    end = time.monotonic() + 10
    while seen["progress"] < 0.8 and time.monotonic() < end:
        seen = client.get(f"/api/jobs/{job_id}").json()
    assert seen["status"] == "running" and 0 < seen["progress"] < 1
    assert seen["message"] in ("step 4 of 5", "waiting") and seen["result"] is None
    gate.set()
    job = wait(client, job_id)
    assert job["status"] == "done" and job["progress"] == 1 and job["result"] == {"answer": 42}
    assert job["created"] <= job["started"] <= job["finished"]


def test_failed_job_has_a_one_line_error(client: TestClient, gate: threading.Event) -> None:
    job = wait(client, submit(client, "/api/jobs/broken", {}))
    assert job["status"] == "failed" and job["error"] == "first line of the problem"
    assert job["result"] is None


def test_cancel_queued_and_running_jobs_and_delete(client: TestClient,
                                                   gate: threading.Event) -> None:
    running = submit(client, "/api/jobs/gated", {})  # one worker: the next one queues
    wait(client, running, until=("running",))
    queued = submit(client, "/api/jobs/gated", {})
    assert client.get(f"/api/jobs/{queued}").json()["status"] == "queued"
    assert client.post(f"/api/jobs/{queued}/cancel").json()["status"] == "cancelled"
    client.post(f"/api/jobs/{running}/cancel")
    job = wait(client, running)
    assert job["status"] == "cancelled" and job["error"] == "cancelled while running"
    listed = {j["id"]: j["status"] for j in client.get("/api/jobs").json()["jobs"]}
    assert listed == {running: "cancelled", queued: "cancelled"}
    assert client.delete(f"/api/jobs/{running}").status_code == 204
    assert client.get(f"/api/jobs/{running}").status_code == 404
    assert client.get("/api/jobs?status=cancelled").json()["jobs"][0]["id"] == queued
    assert client.get("/api/jobs?status=sleeping").status_code == 400


def test_jobs_survive_a_restart_and_running_ones_become_interrupted(
        user_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "d"
    with make_client(data) as c:
        done = wait(c, submit(c, "/api/stress", {"scenario": "full-embargo", "draws": 10}))
        assert done["status"] == "done"
    store = JobStore(ApiSettings(data_dir=data).db_path)
    stuck = store.create("stress", {"scenario": "full-embargo", "draws": 10, "seed": 0,
                                    "horizon": None, "paths": False, "all_materials": False})
    assert store.start(stuck)  # as a worker would, then the server dies
    with make_client(data) as c:  # a new server on the same directory
        again = c.get(f"/api/jobs/{done['id']}").json()
        assert again["status"] == "done" and again["result"] == done["result"]
        job = c.get(f"/api/jobs/{stuck}").json()
        assert job["status"] == "interrupted" and "resubmit" in job["error"]
        assert job["params"]["scenario"] == "full-embargo"
        r = c.post(f"/api/jobs/{stuck}/resubmit")
        assert r.status_code == 202
        rerun = wait(c, r.json()["id"])
        assert rerun["status"] == "done" and rerun["resubmitted_from"] == stuck
        assert rerun["result"]["summary"] == done["result"]["summary"]


# -- the process pool keeps the server responsive ---------------------------------------------
def test_reads_answer_while_a_stress_job_runs_in_a_process(user_dir: Path,
                                                           tmp_path: Path) -> None:
    with make_client(tmp_path / "d", executor="process", workers=1) as c:
        assert c.get("/api/data/sources").status_code == 200  # cached from now on
        job_id = submit(c, "/api/stress", {"scenario": "china-2025-04", "draws": 800})
        wait(c, job_id, until=("running", "done", "failed"), timeout=30)
        slowest, answered = 0.0, 0
        while c.get(f"/api/jobs/{job_id}").json()["status"] == "running":
            t = time.perf_counter()
            r = c.get("/api/data/sources")
            slowest = max(slowest, time.perf_counter() - t)
            assert r.status_code == 200
            answered += 1
            time.sleep(0.05)
        job = wait(c, job_id)
        assert job["status"] == "done", job
        assert answered >= 3 and slowest < 0.5, (answered, slowest)
        assert job["result"]["provenance"]["draws"] == 800


# -- reports ----------------------------------------------------------------------------------
def test_report_job_serves_the_html_file(client: TestClient) -> None:
    job = wait(client, submit(client, "/api/reports", {"scenario": "full-embargo",
                                                       "draws": 20}), timeout=120)
    assert job["status"] == "done", job
    r = client.get(f"/api/jobs/{job['id']}/file")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'filename="oreflow-report-full-embargo.html"' in r.headers["content-disposition"]
    assert "<html" in r.text.lower()


# -- the real server ------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_oreflow_serve_answers_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OREFLOW_API_TOKEN": ""}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from oreflow.cli import main; main()", "serve", "--port",
         str(port), "--workers", "1", "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{base}/api/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < end, "server did not start"
                time.sleep(0.1)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        r = httpx.get(f"{base}/api/data/sources/usgs_mcs2026_ree", timeout=30)
        assert r.status_code == 200 and r.json()["source_id"] == "usgs_mcs2026_ree"
        r = httpx.post(f"{base}/api/data/sql", json={"sql": "SELECT 1 AS one; DROP TABLE x"},
                       timeout=30)
        assert r.status_code == 400 and "one statement" in r.json()["error"]
        assert (tmp_path / "data" / "api" / "oreflow-api.sqlite3").is_file()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/api" in out
    assert "Traceback" not in err
