"""Shared state of one app, as FastAPI dependencies: settings, jobs, runner, read cache.

One concern: reaching the per-app objects from a route. The read cache keeps results of
read endpoints in memory keyed by the endpoint and its query (the dataset does not change
while a server runs), least recently used first out.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from oreflow.api.jobs import JobRunner, JobStore
from oreflow.api.settings import ApiSettings

__all__ = ["Cache", "Jobs", "ReadCache", "Runner", "Settings", "cache", "cached_json",
           "encode", "jobs", "runner", "settings"]

T = TypeVar("T")


class ReadCache:
    """A thread-safe LRU cache of computed read results (``entries`` at most)."""

    def __init__(self, entries: int = 512) -> None:
        self.entries = max(1, entries)
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def peek(self, key: Hashable) -> Any:
        """The cached value of ``key`` (counted as a hit), or ``None``."""
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return self._data[key]

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value of ``key``, computing (outside the lock) and keeping it if
        absent. Errors are not cached."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                value: T = self._data[key]
                return value
            self.misses += 1
        value = compute()
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.entries:
                self._data.popitem(last=False)
        return value


def encode(payload: Any) -> bytes:
    """Strict JSON bytes of a payload (NaN and ±inf as ``null``)."""
    from oreflow.jsonview import finite

    return json.dumps(finite(payload), ensure_ascii=False, allow_nan=False, default=str,
                      separators=(",", ":")).encode("utf-8")


async def cached_json(rc: ReadCache, key: Hashable, compute: Callable[[], Any]) -> Response:
    """The response of a cached read: on a hit the stored JSON bytes at once (no thread, no
    re-encoding); on a miss ``compute`` runs in a worker thread, off the event loop, and its
    encoded result is kept."""
    body = rc.peek(key)
    if body is None:
        body = await run_in_threadpool(rc.get, key, lambda: encode(compute()))
    return Response(body, media_type="application/json")


def settings(request: Request) -> ApiSettings:
    """The app's settings."""
    value: ApiSettings = request.app.state.settings
    return value


def jobs(request: Request) -> JobStore:
    """The app's job and saved-scenario store."""
    value: JobStore = request.app.state.jobs
    return value


def runner(request: Request) -> JobRunner:
    """The app's job runner."""
    value: JobRunner = request.app.state.runner
    return value


def cache(request: Request) -> ReadCache:
    """The app's read cache."""
    value: ReadCache = request.app.state.cache
    return value


#: Route parameter types: ``rc: Cache`` gets the app's read cache, and so on.
Cache = Annotated[ReadCache, Depends(cache)]
Jobs = Annotated[JobStore, Depends(jobs)]
Runner = Annotated[JobRunner, Depends(runner)]
Settings = Annotated[ApiSettings, Depends(settings)]
