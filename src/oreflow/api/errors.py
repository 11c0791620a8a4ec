"""Every error as one line of JSON: ``{"error": "<one line>", ...}`` with a proper status.

One concern: the exception handlers of the API. Library errors (:class:`OreflowError`) keep
their one-line messages (400 for bad input; a file's several problems also come as
``problems``); FastAPI's request validation becomes one line naming the field (422); HTTP
errors keep their status; anything else is a 500 naming only the exception type, never a
traceback.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from oreflow.errors import InputError, OreflowError

__all__ = ["error_response", "install_handlers", "one_line", "validation_line"]

_log = logging.getLogger("oreflow.api")
#: A problem line naming where it is: ``FILE:LINE:``.
_LOCATED = re.compile(r"^\S+:\d+\b")


def one_line(text: object) -> str:
    """The first non-empty line of ``text``, stripped."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def error_response(status: int, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    """A JSON error response ``{"error": message, **extra}``."""
    return JSONResponse({"error": one_line(message), **extra}, status_code=status,
                        headers=headers)


def oreflow_error_lines(exc: OreflowError) -> tuple[str, list[str]]:
    """The headline of a library error and its problem lines (empty for one-liners).

    An error about a file lists its problems with a header or a summary line (``3 problems
    found``); the headline is the first problem that names a line (``FILE:LINE: field …``),
    else the first line."""
    lines = [one_line(x) for text in exc.lines() for x in str(text).splitlines() if x.strip()]
    if not lines:
        return type(exc).__name__, []
    located = next((x for x in lines if _LOCATED.search(x)), lines[0])
    return located, lines if len(lines) > 1 else []


def validation_line(exc: RequestValidationError) -> str:
    """One line for FastAPI's request validation: the first problem's field and message."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    where = ".".join(loc) or "request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {one_line(first.get('msg', 'invalid'))}{more}"


def install_handlers(app: FastAPI) -> None:
    """Register the JSON one-line handlers on ``app``."""

    async def on_oreflow(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OreflowError)
        head, lines = oreflow_error_lines(exc)
        status = 400 if isinstance(exc, InputError) else 500
        extra: dict[str, Any] = {"problems": lines} if lines else {}
        return error_response(status, head, **extra)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, str(exc.detail), headers=headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, validation_line(exc))

    async def on_any(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("internal error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error: {type(exc).__name__}")

    app.add_exception_handler(OreflowError, on_oreflow)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_any)
