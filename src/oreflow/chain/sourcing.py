"""Network algebra of the chain: sourcing matrices, origin matrices, control shares.

Pure numpy. Equations and references are in ``docs/model.md`` (section *Supply chain*).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["control_shares", "origin_matrices", "sourcing_matrix"]

FloatArray = NDArray[np.float64]

def sourcing_matrix(
    supply: ArrayLike, requirement: ArrayLike, known: ArrayLike | None = None
) -> tuple[FloatArray, FloatArray]:
    """Allocate upstream supply to downstream requirement: known flows, domestic, imports.

    Parameters
    ----------
    supply : array_like, shape (n,)
        Output of the upstream stage s−1 by country [t REO-eq/yr].
    requirement : array_like, shape (n,)
        Input requirement of stage s by country [t REO-eq/yr].
    known : array_like, shape (n, n), optional
        Known flows K[j, c] from stage s−1 in j to stage s in c [t REO-eq/yr].

    Returns
    -------
    sourcing : numpy.ndarray, shape (n, n)
        S[j, c]: share of c's stage-s inputs that come from j [-]; every column sums to 1.
    allocation : numpy.ndarray, shape (n, n)
        A[j, c]: allocated flow [t REO-eq/yr]; zero columns for countries without requirement.

    Notes
    -----
    With upstream output q, requirement d and known flows K (an exporter's known flows are
    first scaled down to its output q_j if they exceed it):

    .. math::

        a_j &= \\max(q_j - \\textstyle\\sum_c K_{jc},\\,0), \\qquad
        r_c = \\max(d_c - \\textstyle\\sum_j K_{jc},\\,0)\\\\
        h_c &= \\min(a_c, r_c) \\quad\\text{(domestic supply)}\\\\
        u_j &= a_j - h_j, \\quad m_c = r_c - h_c \\quad\\text{(surplus, import need)}\\\\
        A_{jc} &= K_{jc} + \\delta_{jc} h_c + m_c\\,\\frac{u_j}{\\sum_k u_k}, \\qquad
        S_{jc} = A_{jc} \\Big/ \\sum_k A_{kc}

    If the world surplus is smaller than the import need (stocks, unrecorded output) imports
    are still split in proportion to surplus, so shares stay defined; the gap shows in
    :meth:`SupplyChain.balance`. If there is no surplus at all the import mix is the upstream
    output mix q/Σq. A country without requirement gets the column it would have at the
    margin: domestic if it has surplus, else the import mix.

    Examples
    --------
    >>> S, A = sourcing_matrix([100.0, 50.0, 0.0], [60.0, 0.0, 90.0])
    >>> S.round(3)  # c=0 domestic; c=2 imports the surplus of 0 (40) and 1 (50)
    array([[1.   , 0.   , 0.444],
           [0.   , 1.   , 0.556],
           [0.   , 0.   , 0.   ]])
    """
    q = np.asarray(supply, dtype=np.float64)
    d = np.asarray(requirement, dtype=np.float64)
    n = q.shape[0]
    if q.shape != (n,) or d.shape != (n,):
        raise ValueError("supply and requirement must be 1-d arrays of the same length")
    k = np.zeros((n, n)) if known is None else np.array(known, dtype=np.float64, copy=True)
    if k.shape != (n, n):
        raise ValueError("known flows must be an (n, n) array")
    for name, arr in (("supply", q), ("requirement", d), ("known flows", k)):
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"{name} must be finite and non-negative")
    if not q.sum() > 0:
        raise ValueError("the upstream stage has no output to source from")
    shipped = k.sum(axis=1)
    over = shipped > q
    if over.any():  # an exporter cannot ship more than it produces: scale its flows down
        k[over] *= (q[over] / shipped[over])[:, None]
    available = np.maximum(q - k.sum(axis=1), 0.0)
    need = np.maximum(d - k.sum(axis=0), 0.0)
    domestic = np.minimum(available, need)
    surplus = available - domestic
    imports = need - domestic
    total_surplus = surplus.sum()
    mix = surplus / total_surplus if total_surplus > 0 else q / q.sum()
    alloc = k
    alloc[np.diag_indices(n)] += domestic
    alloc += np.outer(mix, imports)
    col = alloc.sum(axis=0)
    empty = ~(col > 0)
    sourcing = np.divide(alloc, np.where(empty, 1.0, col)[None, :])
    if empty.any():
        fallback = np.repeat(mix[:, None], int(empty.sum()), axis=1)
        own = surplus[empty] > 0
        idx = np.flatnonzero(empty)
        fallback[:, own] = 0.0
        fallback[idx[own], np.flatnonzero(own)] = 1.0
        sourcing[:, empty] = fallback
    return sourcing, alloc


def origin_matrices(sourcing: Sequence[FloatArray] | FloatArray) -> FloatArray:
    """Upstream origin mix of every node: products of sourcing matrices.

    Parameters
    ----------
    sourcing : sequence of numpy.ndarray, shape (T, n, n)
        Sourcing matrices of the stages after the first: ``sourcing[t][j, c]`` is the share of
        stage t+1 inputs in c from stage t in j [-].

    Returns
    -------
    numpy.ndarray, shape (T + 1, n, n)
        ``O[s][j, c]``: share of the material at node (s, c) that was mined in j [-];
        columns sum to 1; ``O[0]`` is the identity.

    Notes
    -----
    .. math:: O_0 = I, \\qquad O_s = O_{s-1} S_s = S_1 S_2 \\cdots S_s
    """
    mats = np.asarray(sourcing, dtype=np.float64)
    n = mats.shape[-1]
    out = np.empty((mats.shape[0] + 1, n, n))
    out[0] = np.eye(n)
    for t in range(mats.shape[0]):  # loop over stages, not countries
        np.matmul(out[t], mats[t], out=out[t + 1])
    return out


def control_shares(
    sourcing: Sequence[FloatArray] | FloatArray,
    indicator: ArrayLike,
    *,
    from_stage: int = 0,
    counts: ArrayLike | None = None,
) -> FloatArray:
    """Probability that the material of each node passed through a controller set.

    Parameters
    ----------
    sourcing : sequence of numpy.ndarray, shape (T, n, n)
        Sourcing matrices as in :func:`origin_matrices`.
    indicator : array_like, shape (n,) or (n, m)
        1 where a country belongs to the controller set X (one column per set) [-].
    from_stage : int, default 0
        First stage (position) at which passing through X counts; nodes of earlier stages get
        NaN. 0 gives the control share; k > 0 the X-origin content "at stage k or later".
    counts : array_like of bool, shape (T + 1,), optional
        Whether each stage counts at all (False for a consumption stage, where being in X is
        not "passing through" a producer). Default: every stage counts.

    Returns
    -------
    numpy.ndarray, shape (T + 1, n) or (T + 1, n, m)
        P[s, c(, x)] in [0, 1] [-].

    Notes
    -----
    Dynamic programming over stages, with x_c = 1 if c ∈ X:

    .. math::

        P_k(c) = x_c, \\qquad
        P_s(c) = x_c + (1 - x_c) \\sum_j S_s[j, c]\\, P_{s-1}(j), \\quad s > k

    P_s(c) is the probability that a unit of material at node (s, c), traced back along the
    sourcing shares, was at a node of X at some stage between k and s.
    """
    mats = np.asarray(sourcing, dtype=np.float64)
    x = np.asarray(indicator, dtype=np.float64)
    vector = x.ndim == 1
    if vector:
        x = x[:, None]
    n_stages = mats.shape[0] + 1
    if not 0 <= from_stage < n_stages:
        raise ValueError("from_stage out of range")
    count = np.ones(n_stages, dtype=bool) if counts is None else np.asarray(counts, dtype=bool)
    p = np.full((n_stages, *x.shape), np.nan)
    p[from_stage] = x if count[from_stage] else 0.0
    for s in range(from_stage + 1, n_stages):  # loop over stages, not countries
        carried = mats[s - 1].T @ p[s - 1]
        p[s] = x + (1.0 - x) * carried if count[s] else carried
    result: FloatArray = p[..., 0] if vector else p
    return result


