"""Who may write, and how much may be sent: the bearer token and the body-size limit.

* :func:`require_token` is the dependency of every job-creating or writing endpoint. On a
  loopback address it lets everything through (only this machine can connect); bound to
  any other address it requires ``Authorization: Bearer <OREFLOW_API_TOKEN>`` (compared in
  constant time). :func:`check_bind` refuses to start such a server without a token.
* :class:`BodyLimit` is an ASGI middleware that answers 413 (JSON) when ``Content-Length``
  exceeds the limit, before the body is read, and stops a chunked body as soon as it passes
  the limit.
"""

from __future__ import annotations

import json
import secrets

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oreflow.api.settings import ApiSettings
from oreflow.errors import InputError

__all__ = ["BodyLimit", "check_bind", "require_token"]


def check_bind(settings: ApiSettings) -> None:
    """Raise :class:`InputError` if the server would listen beyond loopback without a
    token (anyone on the network could start jobs)."""
    if settings.needs_token and not settings.token:
        raise InputError(f"refusing to bind {settings.host} without a token: set "
                         "OREFLOW_API_TOKEN (or bind 127.0.0.1)")


def require_token(request: Request) -> None:
    """Dependency of writing endpoints: 401 unless loopback or the right bearer token."""
    settings: ApiSettings = request.app.state.settings
    if not settings.needs_token:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    expected = settings.token or ""
    if scheme.lower() != "bearer" or not expected or not secrets.compare_digest(
            given.strip().encode(), expected.encode()):
        raise HTTPException(status_code=401, detail="this endpoint needs 'Authorization: "
                                                    "Bearer <OREFLOW_API_TOKEN>'",
                            headers={"WWW-Authenticate": "Bearer"})


class _TooLargeError(Exception):
    """A chunked body passed the limit while being read."""


class BodyLimit:
    """ASGI middleware: 413 JSON for request bodies over ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def _message(self) -> bytes:
        return json.dumps({"error": f"request body too large (limit {self.limit:,} bytes)",
                           "limit_bytes": self.limit}).encode()

    async def _reject(self, send: Send) -> None:
        body = self._message()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count the bytes actually received."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.limit
            except ValueError:
                too_big = False
            if too_big:
                await self._reject(send)
                return
        seen = 0
        started = False
        replaced = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            # the framework may turn the stopped read into its own error response: a body
            # over the limit always answers 413
            nonlocal started, replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                started = True
                if seen > self.limit:
                    replaced = True
                    await self._reject(send)
                    return
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLargeError:
            if not started:
                await self._reject(send)
