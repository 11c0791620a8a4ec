"""Helpers of the API tests: an app on a temporary data directory, TestClient, the CLI's
JSON and polling a job."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from oreflow.api.app import create_app
from oreflow.api.settings import ApiSettings
from oreflow.cli import app as cli_app

with warnings.catch_warnings():  # starlette's TestClient warns about its httpx dependency
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

__all__ = ["TestClient", "cli_json", "make_client", "wait"]

runner = CliRunner()


def make_client(data_dir: Path, **settings: Any) -> TestClient:
    """A TestClient (use it as a context manager) over a fresh app on ``data_dir``; jobs run
    in threads unless ``executor="process"`` is given."""
    settings.setdefault("executor", "thread")
    app = create_app(ApiSettings(data_dir=data_dir, **settings))
    return TestClient(app, raise_server_exceptions=False)


def cli_json(*args: str) -> Any:
    """What ``oreflow ARGS --json`` prints, parsed."""
    res = runner.invoke(cli_app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def wait(client: TestClient, job_id: str, *, timeout: float = 60.0,
         until: tuple[str, ...] = ("done", "failed", "cancelled", "interrupted")
         ) -> dict[str, Any]:
    """Poll a job until its status is one of ``until``; return it."""
    end = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in until:
            return job
        assert time.monotonic() < end, f"job {job_id} still {job['status']}"
        time.sleep(0.05)
