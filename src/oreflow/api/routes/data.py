"""``/api/data``: the dataset's tables, a table's rows (paged), sources and read-only SQL.

Numbers are the store's (``oreflow data list|show|sources|query --json``). Reads are
cached per query; SQL runs in :meth:`oreflow.data.store.Store.query`'s sandbox (one
SELECT, read-only in-memory copy, time limit, row cap).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from oreflow.api.deps import Cache, Settings, cached_json
from oreflow.api.schemas import SqlIn
from oreflow.errors import InputError, unknown

__all__ = ["router"]

router = APIRouter(prefix="/data", tags=["data"])


def _store() -> Any:
    from oreflow.data.store import Store

    return Store.default()


@router.get("/tables", summary="List the tables")
async def tables(rc: Cache) -> Response:
    """Every table with its rows (embedded plus user rows), key, vintages and description
    (as ``oreflow data list --json``)."""

    def compute() -> dict[str, Any]:
        from oreflow.data.catalog import Catalog

        cat = Catalog.default()
        return {"dataset": cat.version, "tables": cat.summary()}

    return await cached_json(rc, ("tables",), compute)


@router.get("/tables/{name}", summary="A table's rows, paged")
async def table_rows(
    rc: Cache,
    cfg: Settings,
    name: str,
    offset: Annotated[int, Query(ge=0, description="First row (0-based).")] = 0,
    limit: Annotated[int, Query(ge=1, description="Rows per page (at most the server's "
                                                  "page limit).")] = 100,
    where: Annotated[list[str] | None, Query(
        description="Filters column=value (repeatable), e.g. iso3=CHN.")] = None,
    vintage: Annotated[str | None, Query(description="Only this edition.")] = None,
    latest: Annotated[bool, Query(description="Newest edition of each figure.")] = False,
) -> Response:
    """Rows ``offset`` to ``offset + limit`` of a table (filtered as ``oreflow data show``),
    with the total row count after filtering and the table's columns and key."""
    if limit > cfg.page_max:
        raise InputError(f"limit {limit} is over the page limit {cfg.page_max}")
    from oreflow.data.store import parse_filters

    filters = parse_filters(where or [], "where")
    key = ("table", name, vintage, latest, tuple(sorted(filters.items())))

    def page() -> dict[str, Any]:
        from oreflow.jsonview import records

        store = _store()
        if name not in store.tables():
            raise unknown("table", name, store.tables())

        def frame() -> Any:
            df = store.table(name, vintage=vintage, latest=latest)
            return store.filter(name, df, filters)

        df = rc.get(key, frame)
        return {"table": name, "total": len(df), "offset": offset, "limit": limit,
                "columns": list(map(str, df.columns)),
                "primary_key": list(store.info(name).primary_key),
                "rows": records(df.iloc[offset:offset + limit])}

    return await cached_json(rc, (*key, offset, limit), page)


def _sources() -> dict[str, Any]:
    from oreflow.jsonview import records

    df = _store().table("sources")
    return {"total": len(df), "rows": records(df)}


@router.get("/sources", summary="Every source")
async def sources(rc: Cache) -> Response:
    """Every source: ``source_id``, publisher, title, edition, URL and licence (as
    ``oreflow data sources --json``)."""
    return await cached_json(rc, ("sources",), _sources)


@router.get("/sources/{source_id}", summary="One source")
async def source(rc: Cache, source_id: str) -> Response:
    """One source by id (404 if unknown)."""

    def compute() -> dict[str, Any]:
        for row in rc.get(("source-rows",), _sources)["rows"]:
            if row.get("source_id") == source_id:
                return dict(row)
        raise HTTPException(status_code=404, detail=f"unknown source '{source_id}'")

    return await cached_json(rc, ("source", source_id), compute)


@router.post("/sql", summary="Run a read-only SQL query")
def sql(
    cfg: Settings,
    body: SqlIn,
) -> dict[str, Any]:
    """Run one SELECT (DuckDB dialect) over the tables, read-only, with a time limit and a
    row cap; anything else (INSERT, DROP, several statements) is refused with 400."""
    from oreflow.jsonview import finite, records

    timeout = min(body.timeout_s or cfg.sql_timeout_s, cfg.sql_timeout_s)
    max_rows = min(body.max_rows or cfg.sql_max_rows, cfg.sql_max_rows)
    df = _store().query(body.sql, timeout_s=timeout, max_rows=max_rows)
    out: dict[str, Any] = finite({"rows_returned": len(df),
                                  "columns": list(map(str, df.columns)), "rows": records(df)})
    return out
