"""The README opens with the two commands a newcomer runs; keep them true."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oreflow.cli import app

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_two_commands() -> None:
    main_job, tests = _commands()
    assert "pip install" in main_job and ".venv/bin/oreflow " in main_job
    assert "pip install" in tests and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_cmd = tests.split("&&")[-1].strip()
    assert test_cmd in ci, f"{test_cmd!r} is not what .ci/run runs"


@pytest.mark.usefixtures("user_dir")
def test_main_job_runs() -> None:
    main_job = _commands()[0]
    args = shlex.split(main_job.split(".venv/bin/oreflow ", 1)[1])
    res = CliRunner().invoke(app, [*args, "--draws", "50"])
    assert res.exit_code == 0, res.output
    assert "peak price" in res.stdout
