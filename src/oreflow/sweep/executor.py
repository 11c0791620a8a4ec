"""Where sweep points run: one seam, three backends.

An :class:`Executor` runs a picklable function over items and yields the results as they
complete (in any order: every result carries its point index). At most 2 tasks per worker
are in flight (a task is one item, or on Dask a batch of a few), so memory stays flat
whatever the number of points: results are streamed to the caller, never gathered.

- :class:`SerialExecutor`: in this process, one item after another (tests, small runs).
- :class:`LocalPool`: a pool of worker processes on this machine (``spawn``: no state
  copied from the parent, safe with threads); each worker builds its baseline once, in its
  initializer, and keeps it in :func:`oreflow.simulate.run.cached_baseline`'s cache.
- :class:`DaskExecutor`: a Dask ``distributed`` cluster, an existing one by scheduler
  address (``tcp://host:8786``; its workers need oreflow installed) or a ``LocalCluster``
  of worker processes (one thread each).

Results do not depend on the executor: each point's seed derives from its key
(:func:`oreflow.sweep.points.point_seed`) and each point runs single-threaded.
"""

from __future__ import annotations

import importlib
import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from oreflow.errors import InputError

from .worker import warm_baseline

__all__ = ["DaskExecutor", "Executor", "LocalPool", "SerialExecutor", "default_workers",
           "make_executor"]

T = TypeVar("T")
R = TypeVar("R")

#: Items in flight per worker: enough to keep each worker busy while a result travels back.
IN_FLIGHT_PER_WORKER = 2


def default_workers() -> int:
    """Worker processes by default: the CPUs this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Executor(Protocol):
    """The seam between a sweep and where its points run."""

    #: Workers running items at once.
    workers: int

    def submit_all(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Run ``fn`` on every item; yield results as they complete (any order), with at
        most ``IN_FLIGHT_PER_WORKER * workers`` items outstanding."""
        ...

    def close(self) -> None:
        """Release the workers (idempotent)."""
        ...


class _Closing:
    """Context-manager support for executors."""

    def close(self) -> None:
        """Release the workers (idempotent)."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(_Closing):
    """Run items one after another in this process (deterministic order)."""

    def __init__(self) -> None:
        self.workers = 1

    def submit_all(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Yield ``fn(item)`` for each item, in order."""
        for item in items:
            yield fn(item)


class LocalPool(_Closing):
    """A pool of ``workers`` processes on this machine (``spawn`` start method).

    Parameters
    ----------
    workers : int, optional
        Worker processes (default :func:`default_workers`).
    warm : Scenario, optional
        A scenario whose baseline each worker builds once when it starts.
    """

    def __init__(self, workers: int | None = None, *, warm: Any = None) -> None:
        self.workers = int(workers or default_workers())
        if self.workers < 1:
            raise InputError(f"workers must be at least 1, got {workers}")
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=warm_baseline, initargs=(warm,))

    def submit_all(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Yield results as they complete, keeping at most 2 items per worker in flight."""
        it = iter(items)
        window = IN_FLIGHT_PER_WORKER * self.workers
        pending: set[Future[R]] = {self._pool.submit(fn, x) for x in itertools.islice(it, window)}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
                    nxt = next(it, _END)
                    if nxt is not _END:
                        pending.add(self._pool.submit(fn, nxt))
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        """Shut the pool down (pending items are cancelled)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


_END: Any = object()


def run_batch(fn: Callable[[T], R], items: list[T]) -> list[R]:
    """``[fn(x) for x in items]``: one Dask task for several items."""
    return [fn(x) for x in items]

#: Dask configuration of the LocalCluster this module starts (``--dask local``), so that a
#: point costs the same CPU as in the process pool: no statistical profiling of the tasks
#: (it samples every thread's stack every 10 ms, holding the GIL), and glibc's own malloc
#: trimming instead of Dask's ``MALLOC_TRIM_THRESHOLD_=65536`` (which returns freed memory
#: to the OS at once, so every point's arrays of a few hundred kB fault their pages in
#: again). The thread limits of numerical libraries stay at 1 (one point per worker).
LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.nanny.pre-spawn-environ": {
        "OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1},
}


class DaskExecutor(_Closing):
    """Run items on a Dask ``distributed`` cluster.

    Parameters
    ----------
    address : str, optional
        Scheduler of an existing cluster (``tcp://host:8786``); none = start a
        ``LocalCluster`` of ``workers`` processes with one thread each, closed by
        :meth:`close`.
    workers : int, optional
        Workers of the LocalCluster (default :func:`default_workers`).
    warm : Scenario, optional
        A scenario whose baseline every worker builds once, before the first item.
    timeout : float
        Seconds to wait for the scheduler [s].
    batch : int, default 4
        Items run by one Dask task, one after another (a point takes ~0.1 s; Dask's own
        cost per task is tens of ms of CPU across its processes).

    Raises
    ------
    oreflow.errors.InputError
        ``distributed`` is not installed, or the scheduler cannot be reached.
    """

    def __init__(self, address: str | None = None, *, workers: int | None = None,
                 warm: Any = None, timeout: float = 20.0, batch: int = 4) -> None:
        if batch < 1:
            raise InputError(f"batch must be at least 1, got {batch}")
        #: Items per Dask task.
        self.batch = int(batch)
        try:
            # through importlib: typed as Any (distributed ships no type hints), and an
            # optional dependency (oreflow[dist])
            distributed: Any = importlib.import_module("distributed")
        except ImportError:
            raise InputError("Dask is not installed: pip install 'oreflow[dist]' (or use "
                             "the local process pool: drop --dask/--scheduler)") from None
        import logging

        self._cluster: Any = None
        self.client: Any = None
        try:
            if address is None:
                n = int(workers or default_workers())
                dask: Any = importlib.import_module("dask")
                # the workers get this config from their nannies
                with dask.config.set(LOCAL_CLUSTER_CONFIG):
                    self._cluster = distributed.LocalCluster(
                        n_workers=n, threads_per_worker=1, processes=True,
                        host="127.0.0.1", dashboard_address="127.0.0.1:0",
                        silence_logs=logging.ERROR)
                self.client = distributed.Client(self._cluster, set_as_default=False)
            else:
                self.client = distributed.Client(address, timeout=timeout,
                                                 set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise InputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        info = self.client.scheduler_info()
        self.workers = max(1, len(info.get("workers", {})))
        if warm is not None:
            self.client.run(warm_baseline, warm)

    def submit_all(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Yield results as they complete, keeping at most 2 tasks per worker in flight,
        each task a batch of :attr:`batch` items (Dask's cost per task — scheduling, a round
        trip, serialisation — is paid once per batch); each result is released on the
        cluster once read."""
        as_completed: Any = importlib.import_module("distributed").as_completed
        it = iter(items)
        window = IN_FLIGHT_PER_WORKER * self.workers

        def submit() -> Any:
            batch = list(itertools.islice(it, self.batch))
            return self.client.submit(run_batch, fn, batch, pure=False) if batch else None

        first = [f for f in (submit() for _ in range(window)) if f is not None]
        ac = as_completed(first, loop=self.client.loop)  # this client's loop, not a default
        del first
        try:
            for fut in ac:
                res: list[R] = fut.result()
                fut.release()
                yield from res
                nxt = submit()
                if nxt is not None:
                    ac.add(nxt)
        finally:
            if not ac.is_empty():
                self.client.cancel(list(ac.futures))

    def close(self) -> None:
        """Close the client, and the LocalCluster if this executor started it."""
        client = self.client
        if client is not None:
            client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def make_executor(*, workers: int | None = None, dask: str | None = None,
                  scheduler: str | None = None, warm: Any = None) -> Executor:
    """The executor a CLI run asks for: ``scheduler`` (an existing Dask cluster), ``dask``
    ``"local"`` (a LocalCluster), else a :class:`LocalPool` (or :class:`SerialExecutor`
    for one worker)."""
    if scheduler is not None and dask is not None:
        raise InputError("choose one of --dask and --scheduler")
    if dask is not None and dask != "local":
        raise InputError(f"--dask takes 'local' (a LocalCluster on this machine), got {dask!r}; "
                         "for an existing cluster use --scheduler tcp://HOST:8786")
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if scheduler is not None:
        return DaskExecutor(scheduler, warm=warm)
    if dask == "local":
        return DaskExecutor(None, workers=workers, warm=warm)
    n = workers or default_workers()
    return SerialExecutor() if n == 1 else LocalPool(n, warm=warm)
