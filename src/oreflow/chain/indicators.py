"""Indicator tables of a chain: concentration, bloc balances, EU CRMA benchmarks, supply risk.

Each table is a function of :class:`Links` — the numbers a built chain holds (output per
node, REO-equivalent factors, allocation between stages, governance scores, blocs) — and
of the pure measures in :mod:`oreflow.chain.metrics`. The direction is fixed: indicators use
metrics; metrics know nothing of chains. :class:`~oreflow.chain.SupplyChain` exposes each table
as a method (``chain.concentration_table()``) that calls the function here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.chain import metrics
from oreflow.chain.lookup import region_code
from oreflow.chain.names import RESIDUAL_CODES
from oreflow.errors import unknown

__all__ = [
    "Links",
    "bloc_table",
    "concentration_table",
    "crma_table",
    "deminimis_table",
    "risk_table",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Links:
    """The numbers of a built chain that indicator tables read.

    Attributes
    ----------
    stages : tuple of str
        Stages in chain order (production stages, then ``use`` if modelled).
    countries : pandas.Index
        Node countries (ISO3).
    q : numpy.ndarray, shape (stages, countries)
        Output by node [stage unit/yr].
    k : numpy.ndarray, shape (stages,)
        t REO-eq per unit of each stage's output [t REO-eq / unit].
    allocation : numpy.ndarray, shape (stages − 1, countries, countries)
        A[t][j, c]: flow from stage t in j to stage t+1 in c [t REO-eq/yr].
    use : numpy.ndarray, shape (stages, countries)
        Final use of each stage's product by country [stage unit/yr].
    use_allocation : numpy.ndarray, shape (stages, countries, countries)
        A^U[t][j, c]: flow of stage-t product from j to final users in c [t REO-eq/yr].
    units : tuple of str
        Unit of each stage.
    governance : pandas.Series or None
        Governance score by country, 0–10, higher = worse [-].
    blocs : mapping of str to frozenset of str
        Named country groups.
    """

    stages: tuple[str, ...]
    countries: pd.Index
    q: FloatArray
    k: FloatArray
    allocation: FloatArray
    use: FloatArray
    use_allocation: FloatArray
    units: tuple[str, ...]
    governance: pd.Series | None
    blocs: Mapping[str, frozenset[str]]

    @property
    def supply_stages(self) -> tuple[str, ...]:
        """Production stages (all stages: final use is not a stage)."""
        return self.stages

    def stage_pos(self, stage: str) -> int:
        """Position of ``stage``; unknown stages get a did-you-mean error."""
        if stage not in self.stages:
            raise unknown("stage", stage, self.stages)
        return self.stages.index(stage)

    def members(self, bloc: str | Iterable[str]) -> frozenset[str]:
        """Resolve a bloc, a country or an iterable of codes to ISO3 codes.

        A bloc or country may be given by code or name in any case (``EU`` → the members of
        ``EU27``, ``Japan`` → ``JPN``; :func:`oreflow.chain.lookup.region_code`).
        """
        if isinstance(bloc, str):
            if bloc in self.blocs:
                return self.blocs[bloc]
            if bloc in self.countries or re.fullmatch(r"[A-Z]{3}", bloc):
                return frozenset({bloc})
            code = region_code(bloc, list(self.blocs), countries=map(str, self.countries))
            return self.blocs.get(code, frozenset({code}))
        return frozenset(str(c) for c in bloc)

    def mask(self, bloc: str | Iterable[str]) -> BoolArray:
        """Boolean mask over :attr:`countries` of the members of ``bloc``."""
        mask: BoolArray = np.asarray(self.countries.isin(list(self.members(bloc))))
        return mask




def _flows_out(net: Links, t: int) -> FloatArray:
    """Everything stage t ships: to the next stage's plants and to final users [t REO-eq/yr]."""
    alloc: FloatArray = net.use_allocation[t]
    return alloc + net.allocation[t] if t + 1 < len(net.stages) else alloc


def _bloc_rows(
    net: Links,
    mask: BoolArray,
    controller: BoolArray | None,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    req = net.q * net.k[:, None]
    for t, stage in enumerate(net.stages):
        k = net.k[t]
        output_b = float(net.q[t][mask].sum())
        alloc = _flows_out(net, t)
        supply = alloc[:, mask].sum(axis=1) / k
        imports = float(alloc[np.ix_(~mask, mask)].sum()) / k
        exports = float(alloc[np.ix_(mask, ~mask)].sum()) / k
        demand = float(net.use[t][mask].sum())
        if t + 1 < len(net.stages):
            demand += float(req[t + 1][mask].sum()) / k
        cases: list[tuple[str, BoolArray | None]] = [("all", None)]
        if controller is not None:
            label = "ex_" + "+".join(str(c) for c in net.countries[controller])
            cases.append((label, controller))
        for case, removed in cases:
            sup = supply.copy()
            out_b = output_b
            if removed is not None:
                sup[removed] = 0.0
                out_b = float(net.q[t][mask & ~removed].sum())
            series = pd.Series(sup, index=net.countries)
            total = float(np.nansum(sup)) if np.isfinite(sup).any() else np.nan
            who, share = metrics.largest_outside_supplier_share(
                series, net.countries[mask]
            ) if np.isfinite(sup).any() else (None, np.nan)  # fmt: skip
            ctrl_share = (
                float(supply[controller].sum()) / float(np.nansum(supply))
                if controller is not None and removed is None and np.nansum(supply) > 0
                else (0.0 if removed is not None else np.nan)
            )
            rows.append(
                {
                    "stage": stage,
                    "case": case,
                    "unit": net.units[t],
                    "bloc_output": out_b,
                    "bloc_demand": demand,
                    "self_sufficiency": metrics.bloc_self_sufficiency(out_b, demand),
                    "bloc_supply": total,
                    "supply_coverage": metrics.bloc_self_sufficiency(total, demand)
                    if np.isfinite(total)
                    else np.nan,
                    "imports": imports,
                    "exports": exports,
                    "import_reliance": metrics.import_reliance(output_b, imports, exports)
                    if np.isfinite(imports)
                    else np.nan,
                    "largest_outside_supplier": who,
                    "largest_outside_share": share,
                    "controller_share": ctrl_share,
                }
            )
    return rows



def bloc_table(
    net: Links,
    members: str | Iterable[str],
    *,
    controller: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """Bloc balance per stage: output, demand, self-sufficiency, outside suppliers.

    Parameters
    ----------
    members : str or iterable of str
        The bloc: a bloc name (:attr:`blocs`), an ISO3 code or several codes.
    controller : str or iterable of str, optional
        A country (or set) whose supply to the bloc is removed in the second case.

    Returns
    -------
    pandas.DataFrame
        One row per (stage, case); ``case`` is ``all`` or ``ex_<controller>``. Columns:
        ``unit``; ``bloc_output`` and ``bloc_demand`` (the bloc's next-stage plants' input
        need plus its final use of the stage's product) [unit/yr]; ``self_sufficiency`` =
        output / demand [-]; ``bloc_supply`` (stage-s material delivered to the bloc's
        plants and users, own supply included) [unit/yr]; ``supply_coverage`` = supply /
        demand [-]; ``imports``, ``exports`` [unit/yr]; ``import_reliance`` [-];
        ``largest_outside_supplier`` and ``largest_outside_share`` (of bloc supply) [-];
        ``controller_share`` of bloc supply [-]. Removing the controller is static
        accounting — no re-routing (that is the disruption engine's job).

    Notes
    -----
    With A_s the flows of stage-s product to the next stage's plants and A^U_s those to final
    users (see :func:`~oreflow.chain.sourcing.allocate`), and bloc B:

    .. math::

        x_j = \\sum_{c\\in B} (A_s + A^U_s)[j, c],\\quad
        D_B = \\sum_{c\\in B} R_{s+1}(c) + U_s(c),\\quad
        SS_B = \\frac{\\sum_{c\\in B} Q_s(c)}{D_B},\\quad
        \\sigma^{out}_B = \\max_{j\\notin B} x_j \\Big/ \\sum_j x_j
    """
    mask = net.mask(members)
    ctrl = None if controller is None else net.mask(controller)
    return pd.DataFrame(_bloc_rows(net, mask, ctrl))



def crma_table(
    net: Links,
    members: str | Iterable[str] = "EU27",
    *,
    recycling_output: float | None = None,
) -> pd.DataFrame:
    """EU Critical Raw Materials Act benchmarks for a bloc (default EU27).

    Parameters
    ----------
    members : str or iterable of str, default "EU27"
        The bloc.
    recycling_output : float, optional
        Bloc recycling output or capacity [t REO/yr]; the recycling test is NA without it.

    Returns
    -------
    pandas.DataFrame
        See :func:`oreflow.chain.metrics.crma_benchmarks`. Built on this chain's basis
        (production or capacity); the Act's shares are of capacity.
    """
    mask = net.mask(members)
    table = pd.DataFrame(_bloc_rows(net, mask, None)).set_index("stage")
    supplier = {
        stage: metrics.shares(pd.Series(_flows_out(net, t)[:, mask].sum(axis=1),
                                        index=net.countries))
        for t, stage in enumerate(net.stages)
    }
    supplier_shares = pd.DataFrame(supplier).T
    return metrics.crma_benchmarks(
        table["bloc_output"],
        table["bloc_demand"],
        supplier_shares,
        net.countries[mask],
        recycling_output=recycling_output,
    )



def _hhi_wgi(
    net: Links,
    share_rows: FloatArray,
    score: pd.Series | None,
    missing_governance: metrics.MissingGovernance,
    trade_adjustment: pd.Series | None,
) -> tuple[FloatArray, list[str], list[str]]:
    """WGI-weighted HHI of each row of ``share_rows`` (rows × countries).

    A residual node (OTH/ROW) without a score gets the share-weighted mean score of the
    row's scored producers. Returns values and, per row, the comma-separated codes of
    unscored producers and of imputed residual nodes.
    """
    rows = share_rows.shape[0]
    if score is None:
        return np.full(rows, np.nan), ["no governance scores given"] * rows, [""] * rows
    g = score.reindex(net.countries).to_numpy(dtype=np.float64)
    s = np.nan_to_num(share_rows, nan=0.0)
    producing = s > 0
    lacking = np.isnan(g)
    residual = np.asarray(net.countries.isin(list(RESIDUAL_CODES)))
    known = producing & ~lacking
    weight = (s * known).sum(axis=1)
    mean = np.divide(
        (s * np.nan_to_num(g) * known).sum(axis=1), weight, out=np.full(rows, np.nan),
        where=weight > 0,
    )  # fmt: skip
    imputable = residual & lacking
    grid = np.where(imputable[None, :], mean[:, None], g[None, :])
    imputed_mask = imputable[None, :] & producing & ~np.isnan(grid)
    missing_mask = producing & np.isnan(grid)
    values = metrics.wgi_weighted_hhi(
        pd.DataFrame(share_rows, columns=net.countries),
        pd.DataFrame(grid, columns=net.countries),
        trade_adjustment=trade_adjustment,
        missing=missing_governance,
    ).to_numpy(dtype=np.float64)
    codes = np.asarray(net.countries, dtype=object)
    missing = [",".join(codes[m]) for m in missing_mask]  # loop over stages
    imputed = [",".join(codes[m]) for m in imputed_mask]
    return values, missing, imputed



def concentration_table(
    net: Links,
    governance: pd.Series | None = None,
    *,
    missing_governance: metrics.MissingGovernance = "propagate",
    trade_adjustment: pd.Series | None = None,
) -> pd.DataFrame:
    """Concentration of each production stage.

    Parameters
    ----------
    governance : pandas.Series, optional
        Governance score by country, 0–10 higher = worse [-]; default the scores the chain
        was built with (``countries`` table). Without any, ``hhi_wgi`` is NaN.
    missing_governance : see :data:`oreflow.chain.metrics.MissingGovernance`
        Treatment of a producing country without a score. A residual node (``OTH``,
        ``ROW``) without a score gets the share-weighted mean of the stage's other
        producers (listed in ``wgi_imputed``).
    trade_adjustment : pandas.Series, optional
        Export-restriction factors t_c ≥ 1 (EU methodology) by country.

    Returns
    -------
    pandas.DataFrame
        Indexed by stage, columns: ``unit``, ``total`` [unit/yr], ``n_producers``,
        ``top_producer``, ``top_share`` [-], ``cr1``, ``cr3`` [-], ``hhi`` [0–10,000],
        ``hhi_wgi`` [0–10, EU scale], ``wgi_missing`` and ``wgi_imputed`` (comma-separated
        codes). A residual node counts as one producer.
    """
    stages = list(net.supply_stages)
    pos = [net.stage_pos(s) for s in stages]
    out = net.q[pos]
    sh = metrics.shares(out)
    has = out.sum(axis=1) > 0
    top_pos = np.argmax(np.nan_to_num(sh, nan=-1.0), axis=1)
    codes = np.asarray(net.countries, dtype=object)
    score = governance if governance is not None else net.governance
    wgi, wgi_missing, wgi_imputed = _hhi_wgi(net,
        sh, score, missing_governance, trade_adjustment
    )
    return pd.DataFrame(
        {
            "unit": [net.units[p] for p in pos],
            "total": out.sum(axis=1),
            "n_producers": (out > 0).sum(axis=1),
            "top_producer": np.where(has, codes[top_pos], None),
            "top_share": np.where(has, sh[np.arange(len(pos)), top_pos], np.nan),
            "cr1": metrics.cr(sh, 1),
            "cr3": metrics.cr(sh, 3),
            "hhi": metrics.hhi(sh),
            "hhi_wgi": wgi,
            "wgi_missing": wgi_missing,
            "wgi_imputed": wgi_imputed,
        },
        index=pd.Index(stages, name="stage"),
    )



def risk_table(
    net: Links,
    members: str | Iterable[str] | None = None,
    *,
    import_reliance: float | Mapping[str, float] | None = None,
    eol_rir: float | Mapping[str, float] = 0.0,
    si_sr: float | Mapping[str, float] = 1.0,
    governance: pd.Series | None = None,
    missing_governance: metrics.MissingGovernance = "propagate",
    trade_adjustment: pd.Series | None = None,
) -> pd.DataFrame:
    """EU-style supply risk of each production stage, and the bottleneck.

    Parameters
    ----------
    members : str or iterable of str, optional
        The importer whose risk is assessed (a bloc name such as ``"EU27"``, an ISO3 code
        or codes). Without it the global view is taken: sourcing = global supply.
    import_reliance : float or mapping of stage to float, optional
        IR [-]; default computed from the chain's allocation (bloc imports and exports of
        the stage's material). Global view: 0.
    eol_rir : float or mapping of stage to float, default 0.0
        End-of-life recycling input rate [-]. Default 0: the user should supply the
        value of the EU factsheets for the material.
    si_sr : float or mapping of stage to float, default 1.0
        Substitution index for supply risk [-]; 1 = no substitute (conservative).
    governance, missing_governance, trade_adjustment
        As in :meth:`concentration_table`.

    Returns
    -------
    pandas.DataFrame
        Indexed by stage: ``hhi_wgi_global``, ``hhi_wgi_sourcing`` [0–10],
        ``import_reliance``, ``eol_rir``, ``si_sr`` [-], ``supply_risk`` [0–10] and
        ``bottleneck`` (True on the stage of highest SR). The sourcing mix of a stage is
        the supply of its product to the bloc's next-stage plants and final users (NaN
        where the bloc buys none of it).

    Notes
    -----
    .. math::

        SR_s = \\left[\\mathrm{HHI}^{GS}_{WGI,s}\\frac{IR_s}{2}
        + \\mathrm{HHI}^{B}_{WGI,s}\\left(1-\\frac{IR_s}{2}\\right)\\right]
        (1-\\mathrm{EoL_{RIR}})\\,SI_{SR}, \\qquad
        \\text{bottleneck} = \\arg\\max_s SR_s
    """
    score = governance if governance is not None else net.governance
    stages = list(net.supply_stages)
    conc = concentration_table(net,
        score, missing_governance=missing_governance, trade_adjustment=trade_adjustment
    )
    glob = conc["hhi_wgi"]
    if members is None:
        sourcing_hhi = glob.copy()
        ir = pd.Series(0.0, index=stages)
    else:
        mask = net.mask(members)
        rows = pd.DataFrame(_bloc_rows(net, mask, None)).set_index("stage")
        ir = rows["import_reliance"].reindex(stages).astype(np.float64)
        mix = np.stack([metrics.shares(_flows_out(net, t)[:, mask].sum(axis=1))
                        for t in range(len(stages))])  # loop over stages, not countries
        values = _hhi_wgi(net, mix, score, missing_governance, trade_adjustment)[0]
        sourcing_hhi = pd.Series(values, index=stages, dtype=np.float64)
    if import_reliance is not None:
        ir = _per_stage(import_reliance, stages)
    eol = _per_stage(eol_rir, stages)
    si = _per_stage(si_sr, stages)
    sr = metrics.supply_risk(glob, sourcing_hhi, ir, eol, si)
    top, _ = metrics.bottleneck(sr)
    return pd.DataFrame(
        {
            "hhi_wgi_global": glob,
            "hhi_wgi_sourcing": sourcing_hhi,
            "import_reliance": ir,
            "eol_rir": eol,
            "si_sr": si,
            "supply_risk": sr,
            "bottleneck": [s == top for s in stages],
        },
        index=pd.Index(stages, name="stage"),
    )



def _per_stage(value: float | Mapping[str, float], stages: Sequence[str]) -> pd.Series:
    if isinstance(value, Mapping):
        return pd.Series([float(value.get(s, np.nan)) for s in stages], index=list(stages))
    return pd.Series(float(value), index=list(stages))


def deminimis_table(
    net: Links,
    content: pd.DataFrame,
    mask: BoolArray,
    start: int,
    threshold: float,
    *,
    producers_only: bool = True,
) -> pd.DataFrame:
    """Nodes a de-minimis rule reaches (:meth:`SupplyChain.deminimis_reach`).

    ``content`` is the X-origin content by stage (rows) and country (columns) [-], ``mask``
    the members of X, ``start`` the first stage counted. Columns ``stage``, ``country``,
    ``output`` [stage unit/yr], ``member``, ``content`` [-], ``reached`` (content at or
    above ``threshold``).
    """
    stages = list(net.stages[start:])
    values = content.loc[stages].to_numpy()
    n_st, n = values.shape
    frame = pd.DataFrame({
        "stage": np.repeat(stages, n),
        "country": np.tile(np.asarray(net.countries, dtype=object), n_st),
        "output": net.q[start:].ravel(),
        "member": np.tile(mask, n_st),
        "content": values.ravel(),
    })  # fmt: skip
    frame["reached"] = frame["content"] >= threshold - 1e-12
    if producers_only:
        frame = frame[frame["output"] > 0]
    return frame.reset_index(drop=True)
