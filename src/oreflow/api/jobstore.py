"""The record of jobs and saved scenarios, in an embedded SQLite database.

One concern: what is stored. :class:`JobStore` keeps jobs and saved scenarios in
``<data dir>/api/oreflow-api.sqlite3`` (WAL mode, one short connection per operation, so the
server and its worker processes share it); the server (:mod:`oreflow.api.jobs`) queues and
lists jobs through it, the workers (:mod:`oreflow.api.tasks`) write progress, results and
errors.

Statuses: ``queued`` → ``running`` → ``done`` | ``failed`` | ``cancelled``; a job queued or
running when the server stopped shows as ``interrupted`` at the next start, with its inputs
kept (``POST /api/jobs/{id}/resubmit`` runs it again).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from oreflow.api.errors import one_line
from oreflow.data.userdir import write_error
from oreflow.errors import InputError

__all__ = ["ACTIVE", "INTERRUPTED_MESSAGE", "STATUSES", "JobStore", "Status", "new_id", "now"]

Status = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
#: Every status a job can have.
STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled", "interrupted")
#: Statuses of jobs not finished yet.
ACTIVE: tuple[str, ...] = ("queued", "running")
#: Error of a job the server stopped under.
INTERRUPTED_MESSAGE = ("the server stopped before the job finished; its inputs are kept: "
                       "POST /api/jobs/{id}/resubmit to run it again")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    started TEXT,
    finished TEXT,
    result TEXT,
    error TEXT,
    file BLOB,
    file_type TEXT,
    file_name TEXT,
    cancel INTEGER NOT NULL DEFAULT 0,
    resubmitted_from TEXT
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created);
CREATE TABLE IF NOT EXISTS scenarios (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    yaml TEXT NOT NULL,
    hash TEXT NOT NULL,
    created TEXT NOT NULL
);
"""
_SUMMARY_COLUMNS = ("id", "kind", "status", "progress", "message", "created", "started",
                    "finished", "error", "file_type", "file_name", "resubmitted_from")


def now() -> str:
    """The current UTC time as ISO 8601 text (seconds, ``Z``)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    """A fresh random job or scenario id (16 hex digits)."""
    return secrets.token_hex(8)


class JobStore:
    """Jobs and saved scenarios in one SQLite file.

    Parameters
    ----------
    path : pathlib.Path
        The database file; its directory is created. Failures to create or write are
        :class:`~oreflow.errors.InputError` s naming the directory.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as con:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise InputError(f"{self.path}: cannot open the jobs database "
                             f"({one_line(exc)})") from None
        except OSError as exc:
            raise write_error(self.path.parent, exc) from None

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30.0)
        con.row_factory = sqlite3.Row
        try:
            with con:  # one transaction: commit or roll back
                yield con
        finally:
            con.close()

    # -- jobs ---------------------------------------------------------------------------
    def create(self, kind: str, params: dict[str, Any], *,
               resubmitted_from: str | None = None) -> str:
        """Record a queued job of ``kind`` with its inputs; return its id."""
        job_id = new_id()
        with self._connect() as con:
            con.execute("INSERT INTO jobs (id, kind, status, params, created, message, "
                        "resubmitted_from) VALUES (?, ?, 'queued', ?, ?, 'queued', ?)",
                        (job_id, kind, json.dumps(params), now(), resubmitted_from))
        return job_id

    def get(self, job_id: str, *, with_result: bool = True) -> dict[str, Any] | None:
        """A job as a dict (``params`` and ``result`` parsed), or ``None``."""
        cols = "*" if with_result else ", ".join((*_SUMMARY_COLUMNS, "params"))
        with self._connect() as con:
            row = con.execute(f"SELECT {cols} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        job = dict(row)
        job["params"] = json.loads(job["params"])
        if with_result:
            job["result"] = json.loads(job["result"]) if job.get("result") else None
            job.pop("file", None)
        return job

    def file(self, job_id: str) -> tuple[bytes, str, str] | None:
        """A finished job's file: (content, media type, download name), or ``None``."""
        with self._connect() as con:
            row = con.execute("SELECT file, file_type, file_name FROM jobs WHERE id = ? AND "
                              "status = 'done' AND file IS NOT NULL", (job_id,)).fetchone()
        return None if row is None else (bytes(row[0]), str(row[1]), str(row[2]))

    def list_jobs(self, *, status: str | None = None, kind: str | None = None,
             limit: int = 100) -> list[dict[str, Any]]:
        """Jobs, newest first, without results (at most ``limit``)."""
        where, args = [], []
        if status:
            where.append("status = ?")
            args.append(status)
        if kind:
            where.append("kind = ?")
            args.append(kind)
        sql = (f"SELECT {', '.join(_SUMMARY_COLUMNS)} FROM jobs"
               + (f" WHERE {' AND '.join(where)}" if where else "")
               + " ORDER BY created DESC LIMIT ?")
        with self._connect() as con:
            rows = con.execute(sql, (*args, limit)).fetchall()
        return [dict(r) for r in rows]

    def start(self, job_id: str) -> bool:
        """Mark a queued job running; ``False`` if it is no longer queued (cancelled)."""
        with self._connect() as con:
            cur = con.execute("UPDATE jobs SET status = 'running', started = ?, message = "
                              "'started' WHERE id = ? AND status = 'queued' AND cancel = 0",
                              (now(), job_id))
        return cur.rowcount == 1

    def progress(self, job_id: str, fraction: float, message: str) -> bool:
        """Record progress (0–1) of a running job; return whether a cancel was asked."""
        with self._connect() as con:
            con.execute("UPDATE jobs SET progress = ?, message = ? WHERE id = ? AND "
                        "status = 'running'", (min(max(fraction, 0.0), 1.0), message, job_id))
            row = con.execute("SELECT cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row is None or row[0])

    def finish(self, job_id: str, result: Any, *,
               file: tuple[bytes, str, str] | None = None) -> None:
        """Store a running job's result (JSON-able) and optional file; mark it done."""
        content, media, name = file if file is not None else (None, None, None)
        with self._connect() as con:
            con.execute("UPDATE jobs SET status = 'done', progress = 1, message = 'done', "
                        "finished = ?, result = ?, file = ?, file_type = ?, file_name = ? "
                        "WHERE id = ? AND status = 'running'",
                        (now(), json.dumps(result, allow_nan=False), content, media, name,
                         job_id))

    def fail(self, job_id: str, error: str, *, status: Status = "failed") -> None:
        """Mark an unfinished job failed (or cancelled/interrupted) with a one-line error."""
        with self._connect() as con:
            con.execute("UPDATE jobs SET status = ?, finished = ?, error = ?, message = ? "
                        "WHERE id = ? AND status IN ('queued', 'running')",
                        (status, now(), one_line(error), status, job_id))

    def request_cancel(self, job_id: str) -> None:
        """Ask a running job to stop at its next progress report."""
        with self._connect() as con:
            con.execute("UPDATE jobs SET cancel = 1 WHERE id = ?", (job_id,))

    def delete(self, job_id: str) -> bool:
        """Forget a job; ``False`` if there was none."""
        with self._connect() as con:
            cur = con.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return cur.rowcount == 1

    def interrupt_active(self) -> int:
        """Mark every queued or running job ``interrupted`` (at start-up and shutdown: no
        worker of this server runs them any more); return how many."""
        with self._connect() as con:
            rows = con.execute("SELECT id FROM jobs WHERE status IN ('queued', 'running')"
                               ).fetchall()
            for (job_id,) in rows:
                con.execute("UPDATE jobs SET status = 'interrupted', finished = ?, error = ?, "
                            "message = 'interrupted' WHERE id = ?",
                            (now(), INTERRUPTED_MESSAGE.replace("{id}", job_id), job_id))
        return len(rows)

    # -- saved scenarios ----------------------------------------------------------------
    def save_scenario(self, name: str, title: str, yaml_text: str, digest: str) -> str:
        """Save a (validated) scenario's YAML; return its id."""
        sid = new_id()
        with self._connect() as con:
            con.execute("INSERT INTO scenarios (id, name, title, yaml, hash, created) VALUES "
                        "(?, ?, ?, ?, ?, ?)", (sid, name, title, yaml_text, digest, now()))
        return sid

    def scenarios(self) -> list[dict[str, Any]]:
        """Saved scenarios, newest first, without their YAML."""
        with self._connect() as con:
            rows = con.execute("SELECT id, name, title, hash, created FROM scenarios "
                               "ORDER BY created DESC").fetchall()
        return [dict(r) for r in rows]

    def scenario(self, sid: str) -> dict[str, Any] | None:
        """One saved scenario with its YAML, or ``None``."""
        with self._connect() as con:
            row = con.execute("SELECT * FROM scenarios WHERE id = ?", (sid,)).fetchone()
        return None if row is None else dict(row)

    def delete_scenario(self, sid: str) -> bool:
        """Delete a saved scenario; ``False`` if there was none."""
        with self._connect() as con:
            cur = con.execute("DELETE FROM scenarios WHERE id = ?", (sid,))
        return cur.rowcount == 1
