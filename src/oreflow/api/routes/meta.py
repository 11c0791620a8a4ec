"""``/api/health``: the package and dataset versions, and whether the server is up."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from oreflow import __version__
from oreflow.api.deps import Cache, cached_json

__all__ = ["router"]

router = APIRouter(tags=["meta"])


@router.get("/health", summary="Versions and status")
async def health(rc: Cache) -> Response:
    """The package version, the dataset version and ``status: ok``."""

    def compute() -> dict[str, Any]:
        from oreflow.data.catalog import Catalog

        return {"status": "ok", "oreflow": __version__, "dataset": Catalog.default().version}

    return await cached_json(rc, ("health",), compute)
