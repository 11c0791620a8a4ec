"""Settings of one API server: where its jobs live, who may write, and its limits.

One concern: the knobs of :func:`oreflow.api.app.create_app`, with their defaults and the
environment variables ``oreflow serve`` reads (``OREFLOW_API_TOKEN``, ``OREFLOW_DATA_DIR``).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["DB_NAME", "ApiSettings", "is_loopback"]

#: File name of the jobs and saved-scenarios database, under ``<data dir>/api/``.
DB_NAME = "oreflow-api.sqlite3"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts connections from this
    machine (``127.0.0.0/8``, ``::1``)."""
    if host.strip().lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _default_data_dir() -> Path:
    from oreflow.data.catalog import default_user_dir

    return default_user_dir()


@dataclass(frozen=True)
class ApiSettings:
    """Settings of one API server.

    Attributes
    ----------
    data_dir : pathlib.Path
        User data directory; the jobs and saved scenarios live in
        ``data_dir/api/oreflow-api.sqlite3`` (default: ``$OREFLOW_DATA_DIR`` or the platform's
        per-user directory, as the rest of oreflow).
    token : str or None
        Bearer token for job-creating and writing endpoints (default
        ``$OREFLOW_API_TOKEN``). Required when ``host`` is not a loopback address.
    host : str
        Address the server is bound to; anything but loopback turns the token check on.
    workers : int
        Worker processes (or threads) running jobs concurrently.
    executor : {"process", "thread"}
        Jobs run in a process pool (default: CPU work never holds the server's GIL) or a
        thread pool (tests: no process start-up).
    max_body_bytes : int
        Largest request body accepted [bytes]; larger ones get 413 before being read.
    max_draws : int
        Most Monte Carlo draws a job may ask for.
    max_sweep_points : int
        Most points a posted sweep may have.
    max_sweep_draws : int
        Most draws per point of a posted sweep.
    sql_timeout_s : float
        Time limit of ``/api/data/sql`` [s].
    sql_max_rows : int
        Most rows ``/api/data/sql`` returns.
    page_max : int
        Most rows one page of ``/api/data/tables/{name}`` returns.
    cache_entries : int
        Most results kept by the read endpoints' in-memory cache.
    warm : bool
        Start the worker processes when the server starts (each builds the default
        baseline), so the first job pays only its draws; ``oreflow serve`` turns it on.
    """

    data_dir: Path = field(default_factory=_default_data_dir)
    token: str | None = field(default_factory=lambda: os.environ.get("OREFLOW_API_TOKEN")
                              or None)
    host: str = "127.0.0.1"
    workers: int = 2
    executor: Literal["process", "thread"] = "process"
    max_body_bytes: int = 2 * 1024 * 1024
    max_draws: int = 20_000
    max_sweep_points: int = 50
    max_sweep_draws: int = 1_000
    sql_timeout_s: float = 10.0
    sql_max_rows: int = 10_000
    page_max: int = 5_000
    cache_entries: int = 512
    warm: bool = False

    @property
    def db_path(self) -> Path:
        """The SQLite file of jobs and saved scenarios."""
        return self.data_dir / "api" / DB_NAME

    @property
    def needs_token(self) -> bool:
        """Whether writing endpoints require the bearer token (bound beyond loopback)."""
        return not is_loopback(self.host)
