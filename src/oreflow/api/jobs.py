"""Jobs: long work run off the event loop.

One concern: running jobs. :class:`JobRunner` runs them in a process pool (or a thread
pool): the worker (:func:`oreflow.api.tasks.execute`) marks its job running, writes progress
back through the database (:class:`oreflow.api.jobstore.JobStore`), and stores the result
(JSON, or a file such as a report) or a one-line error.

Statuses: ``queued`` → ``running`` → ``done`` | ``failed`` | ``cancelled``; a job queued or
running when the server stopped shows as ``interrupted`` at the next start, with its inputs
kept (``POST /api/jobs/{id}/resubmit`` runs it again).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import threading
from typing import Literal

from oreflow.api.errors import one_line
from oreflow.api.jobstore import ACTIVE, INTERRUPTED_MESSAGE, STATUSES, JobStore, now

__all__ = ["ACTIVE", "INTERRUPTED_MESSAGE", "STATUSES", "JobRunner", "JobStore", "now"]


class JobRunner:
    """Runs jobs of one :class:`JobStore` in a pool of ``workers`` processes or threads.

    The pool starts lazily (the first job, or :meth:`warm`); :meth:`close` stops it and
    marks the jobs it was running ``interrupted``.
    """

    def __init__(self, store: JobStore, *, workers: int = 2,
                 executor: Literal["process", "thread"] = "process") -> None:
        self.store = store
        self.workers = max(1, int(workers))
        self.kind = executor
        self._pool: cf.Executor | None = None
        self._futures: dict[str, cf.Future[None]] = {}
        self._lock = threading.Lock()

    def _executor(self) -> cf.Executor:
        with self._lock:
            if self._pool is None:
                if self.kind == "process":
                    from oreflow.api.tasks import init_worker

                    self._pool = cf.ProcessPoolExecutor(
                        max_workers=self.workers,
                        mp_context=multiprocessing.get_context("spawn"),
                        initializer=init_worker)
                else:
                    self._pool = cf.ThreadPoolExecutor(max_workers=self.workers,
                                                       thread_name_prefix="oreflow-job")
            return self._pool

    def warm(self) -> None:
        """Start every worker now (each builds the default baseline once), so the first
        job does not pay the start-up."""
        from oreflow.api.tasks import ping

        pool = self._executor()
        for _ in range(self.workers):
            pool.submit(ping)

    def submit(self, job_id: str) -> None:
        """Queue a recorded job on the pool."""
        from oreflow.api.tasks import execute

        future = self._executor().submit(execute, str(self.store.path), job_id)
        with self._lock:
            self._futures[job_id] = future
        future.add_done_callback(lambda f: self._done(job_id, f))

    def _done(self, job_id: str, future: cf.Future[None]) -> None:
        with self._lock:
            self._futures.pop(job_id, None)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:  # the worker died (killed, out of memory) or the pool broke
            with contextlib.suppress(Exception):
                self.store.fail(job_id, f"the worker stopped: {type(exc).__name__}: "
                                        f"{one_line(exc) or 'no message'}")

    def cancel(self, job_id: str) -> None:
        """Cancel a job: a queued one never starts; a running one stops at its next
        progress report."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None and future.cancel():
            self.store.fail(job_id, "cancelled before it started", status="cancelled")
            return
        self.store.request_cancel(job_id)

    def close(self) -> None:
        """Stop the pool (running worker processes are terminated) and mark the jobs it
        was running ``interrupted``."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list(getattr(pool, "_processes", {}).values()) if isinstance(
            pool, cf.ProcessPoolExecutor) else []
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            with contextlib.suppress(Exception):
                p.terminate()
        for p in procs:
            with contextlib.suppress(Exception):
                p.join(timeout=5)
        with contextlib.suppress(Exception):
            self.store.interrupt_active()
