"""Supply-chain reads: ``/api/overview``, ``/api/concentration``, ``/api/trace``,
``/api/blocs``, ``/api/risk``.

Each calls the library function its CLI verb calls (:mod:`oreflow.chain.analysis`) and
returns the same JSON frame as ``oreflow VERB --json`` (tables as records, shares as
fractions, sources by part, notes). Results are cached per query.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from oreflow.api.deps import Cache, cached_json
from oreflow.data.catalog import DEFAULT_YEAR

__all__ = ["router"]

router = APIRouter(tags=["chain"])

YEAR = Query(description="Data year.")
MATERIAL = Query(description="REO, an element (Nd, Dy, …) or another mineral "
                                    "(Ga, W, …).")


@router.get("/overview", summary="Stage shares of the rare-earth chain")
async def overview(
    rc: Cache,
    year: Annotated[int, YEAR] = DEFAULT_YEAR,
) -> Response:
    """Concentration of each stage (REO) and China's share of each stage by element
    (tables ``stages`` and ``controller``; shares as fractions), as ``oreflow overview
    --json``."""

    def compute() -> dict[str, Any]:
        from oreflow.chain.analysis import overview as run
        from oreflow.jsonview import answer_payload

        return answer_payload(run(year), ["stages", "controller"], year=year)

    return await cached_json(rc, ("overview", year), compute)


@router.get("/concentration", summary="Concentration per stage")
async def concentration(
    rc: Cache,
    material: Annotated[str, MATERIAL] = "REO",
    stage: Annotated[str | None, Query(description="One stage only.")] = None,
    year: Annotated[int, YEAR] = DEFAULT_YEAR,
) -> Response:
    """Top producer, CR1, CR3, HHI and WGI-weighted HHI per stage, and each country's share
    of each stage, as ``oreflow concentration --json``."""

    def compute() -> dict[str, Any]:
        from oreflow.chain.analysis import concentration as run
        from oreflow.jsonview import concentration_payload

        answer = run(material, year, stage=stage)
        return concentration_payload(answer, str(answer.meta.get("material", material)),
                                     year)

    return await cached_json(rc, ("concentration", material, stage, year), compute)


@router.get("/trace", summary="Where a country's material was mined and whom it passed")
async def trace(
    rc: Cache,
    material: Annotated[str, MATERIAL] = "REO",
    country: Annotated[str, Query(description="ISO3/ISO2 code or English name.")] = "JPN",
    stage: Annotated[str | None, Query(description="Stage (default: the last stage the "
                                                      "country uses or makes).")] = None,
    controller: Annotated[list[str] | None, Query(
        description="Countries or blocs to test for (repeatable; default CHN).")] = None,
    node: Annotated[str | None, Query(description="use or output (default use where it "
                                                     "has any).")] = None,
    year: Annotated[int, YEAR] = DEFAULT_YEAR,
) -> Response:
    """Tables ``control`` (share that passed through each controller) and ``origin``
    (where it was mined), with the node's tonnes [unit/yr], as ``oreflow trace --json``."""

    def compute() -> dict[str, Any]:
        from oreflow.chain.analysis import trace as run
        from oreflow.jsonview import answer_payload

        answer = run(material, country.upper(), stage=stage, year=year,
                     controllers=ctrl, node=node)
        m = answer.meta
        return answer_payload(answer, ["control", "origin"],
                              material=str(m.get("material", material)),
                              country=m["country"], stage=m["stage"], node=m["node"],
                              tonnes=m["tonnes"], unit=m["unit"], year=year)

    ctrl = controller or ["CHN"]
    key = ("trace", material, country.upper(), stage, tuple(ctrl), node, year)
    return await cached_json(rc, key, compute)


@router.get("/blocs", summary="Blocs' output, needs and outside supply")
async def blocs(
    rc: Cache,
    bloc: Annotated[str | None, Query(description="Bloc name (MSP, G7, QUAD, EU27, …); "
                                                     "none: every bloc's share.")] = None,
    without: Annotated[str | None, Query(description="Remove this country's supply to "
                                                        "the bloc (e.g. CHN).")] = None,
    material: Annotated[str, MATERIAL] = "REO",
    crma: Annotated[bool, Query(description="Also the EU CRMA benchmarks.")] = False,
    year: Annotated[int, YEAR] = DEFAULT_YEAR,
) -> Response:
    """Without ``bloc``: table ``summary`` (each bloc's share of world output per stage).
    With: table ``balance`` (and ``crma``), as ``oreflow blocs --json``."""

    def compute() -> dict[str, Any]:
        from oreflow.chain.analysis import bloc_balance, bloc_summary
        from oreflow.jsonview import answer_payload

        if bloc is None:
            return answer_payload(bloc_summary(material, year), ["summary"],
                                  material=material, year=year)
        answer = bloc_balance(bloc, material, year, without=without, crma=crma)
        keys = ["balance", "crma"] if crma else ["balance"]
        return answer_payload(answer, keys, bloc=bloc, material=material, year=year,
                              without=without, members=answer.meta.get("members") or [])

    return await cached_json(rc, ("blocs", bloc, without, material, crma, year), compute)


@router.get("/risk", summary="EU-style supply risk per stage")
async def risk(
    rc: Cache,
    material: Annotated[str, MATERIAL] = "REO",
    bloc: Annotated[str | None, Query(description="Importer assessed (bloc or ISO3); "
                                                    "default the global view.")] = None,
    eol_rir: Annotated[float, Query(ge=0, le=1, description="End-of-life recycling input "
                                                             "rate [0-1].")] = 0.0,
    si_sr: Annotated[float, Query(ge=0, le=1, description="Substitution index [0-1].")] = 1.0,
    year: Annotated[int, YEAR] = DEFAULT_YEAR,
) -> Response:
    """Table ``risk`` (WGI-weighted concentration and the bottleneck), as ``oreflow risk
    --json``."""

    def compute() -> dict[str, Any]:
        from oreflow.chain.analysis import supply_risk
        from oreflow.jsonview import answer_payload

        answer = supply_risk(material, year, bloc=bloc, eol_rir=eol_rir, si_sr=si_sr)
        return answer_payload(answer, ["risk"],
                              material=str(answer.meta.get("material", material)),
                              year=year, bloc=bloc)

    return await cached_json(rc, ("risk", material, bloc, eol_rir, si_sr, year), compute)
