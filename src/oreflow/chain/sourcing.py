"""Network algebra of the chain: sourcing matrices, origin matrices, control shares.

Pure numpy. Equations and references are in ``docs/model.md`` (section *Supply chain*).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["allocate", "allocate_stages", "control_shares", "origin_matrices", "sourcing_matrix"]

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

    If the world surplus is smaller than the import need (stocks, unrecorded output), the
    imports beyond the surplus come from producers in proportion to their output (see
    :func:`allocate`), so shares stay defined; the gap shows in
    :meth:`SupplyChain.balance`. With no surplus at all the import mix is the upstream output
    mix q/Σq. A country without requirement gets the column it would have at the margin:
    domestic if it has surplus, else the import mix.

    Examples
    --------
    >>> S, A = sourcing_matrix([100.0, 50.0, 0.0], [60.0, 0.0, 90.0])
    >>> S.round(3)  # c=0 domestic; c=2 imports the surplus of 0 (40) and 1 (50)
    array([[1.   , 0.   , 0.444],
           [0.   , 1.   , 0.556],
           [0.   , 0.   , 0.   ]])
    """
    d = np.asarray(requirement, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError("supply and requirement must be 1-d arrays of the same length")
    sourcing, alloc = allocate(supply, d[None, :], known)
    return sourcing[0], alloc[0]


def allocate(
    supply: ArrayLike, requirements: ArrayLike, known: ArrayLike | None = None
) -> tuple[FloatArray, FloatArray]:
    """Allocate a stage's output to several groups of buyers in every country.

    The rule of :func:`sourcing_matrix` with ``g`` buyer groups (e.g. the next stage's plants
    and the final users of this stage's product): known flows (to the first group only), then
    domestic supply shared among a country's groups in proportion to their need, then imports
    in proportion to the exporters' surplus.

    Parameters
    ----------
    supply : array_like, shape (n,)
        Output by country [t REO-eq/yr].
    requirements : array_like, shape (g, n)
        Need of each buyer group by country [t REO-eq/yr].
    known : array_like, shape (n, n), optional
        Known flows K[j, c] to the first group [t REO-eq/yr].

    Returns
    -------
    sourcing : numpy.ndarray, shape (g, n, n)
        S[g, j, c]: share of group g's supply in c that comes from j [-]; columns sum to 1.
    allocation : numpy.ndarray, shape (g, n, n)
        A[g, j, c]: allocated flow [t REO-eq/yr].

    Notes
    -----
    With need r_gc (after known flows), domestic supply h_c = min(a_c, Σ_g r_gc) is split as
    h_gc = h_c r_gc / Σ_g r_gc; imports m_gc = r_gc − h_gc come from the exporters' surplus
    u_j = a_j − h_j in proportion to it (an importer has no surplus, so it never imports from
    itself). Where imports exceed the world's recorded surplus, each importer gets the covered
    fraction f = Σu/Σm of its imports from the surplus and the rest (stocks, unrecorded
    output) from all producers in proportion to their output q_j/Σq — itself included, so a
    large producer's unrecorded output stays at home instead of being charged to small
    exporters. Every exporter's surplus is used up exactly. With one group this is
    :func:`sourcing_matrix`.

    Examples
    --------
    >>> S, A = allocate([100.0, 0.0], [[60.0, 30.0], [20.0, 10.0]])
    >>> A.sum(axis=(1, 2)).tolist()  # plants and users get their need: the 20 t gap to
    [90.0, 30.0]
    >>> S[1][:, 1].tolist()  # supply shows in SupplyChain.balance(); c1's users import all
    [1.0, 0.0]
    """
    q = np.asarray(supply, dtype=np.float64)
    d = np.asarray(requirements, dtype=np.float64)
    n = q.shape[0]
    if q.ndim != 1 or d.ndim != 2 or d.shape[1] != n:
        raise ValueError("supply must be (n,) and requirements (groups, n)")
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
    need = d.copy()
    need[0] = np.maximum(d[0] - k.sum(axis=0), 0.0)
    need_tot = need.sum(axis=0)
    domestic_tot = np.minimum(available, need_tot)
    part = np.divide(need, need_tot[None, :], out=np.zeros_like(need), where=need_tot[None] > 0)
    domestic = domestic_tot[None, :] * part
    surplus = available - domestic_tot
    imports = need - domestic
    total_surplus = surplus.sum()
    total_imports = imports.sum()
    # imports within the recorded surplus come from the exporters in proportion to their
    # surplus (an importer has none of its own); imports beyond it (stocks, unrecorded output)
    # from all producers, the importer included, in proportion to their output
    covered = 1.0 if total_imports <= total_surplus else total_surplus / total_imports
    w = surplus[:, None] * (1.0 - np.eye(n))
    cols = w.sum(axis=0)
    w[:, ~(cols > 0)] = q[:, None]
    surplus_mix = w / w.sum(axis=0)[None, :]
    output_mix = np.repeat((q / q.sum())[:, None], n, axis=1)
    mix = covered * surplus_mix + (1.0 - covered) * output_mix  # (j, c): import mix of c
    alloc = np.zeros((d.shape[0], n, n))
    alloc[0] += k
    idx = np.arange(n)
    alloc[:, idx, idx] += domestic
    alloc += mix[None, :, :] * imports[:, None, :]
    col = alloc.sum(axis=1)  # (g, n)
    empty = ~(col > 0)
    sourcing = np.divide(alloc, np.where(empty, 1.0, col)[:, None, :])
    if empty.any():
        own = surplus > 0  # a country with surplus would source at home at the margin
        for g in range(d.shape[0]):  # loop over buyer groups (two), not countries
            cols_g = np.flatnonzero(empty[g])
            if cols_g.size:
                sub = mix[:, cols_g].copy()
                mine = own[cols_g]
                sub[:, mine] = 0.0
                sub[cols_g[mine], np.flatnonzero(mine)] = 1.0
                sourcing[g][:, cols_g] = sub
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


def allocate_stages(
    stages: Sequence[str],
    supply: FloatArray,
    use: FloatArray,
    known: Sequence[FloatArray | None],
    secondary: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Allocate every stage's output to the next stage's plants and to its own final users.

    ``secondary[t, c]`` is feed that the plants of stage t in c take from outside the chain
    (material recycled from scrap) [t REO-eq/yr]: it enters as a known flow from c to c on top
    of the upstream stage's output, so it covers that part of the plants' need and is traced
    to c as its origin.

    Returns plant sourcing and allocation, shape (stages − 1, n, n), and final-user sourcing
    and allocation, shape (stages, n, n) [-, t REO-eq/yr] (see :func:`allocate`).
    """
    n_st, n = supply.shape
    sec = np.zeros((n_st, n)) if secondary is None else secondary
    s_arr = np.zeros((n_st - 1, n, n))
    a_arr = np.zeros((n_st - 1, n, n))
    su_arr = np.zeros((n_st, n, n))
    au_arr = np.zeros((n_st, n, n))
    for t in range(n_st):  # loop over stages, not countries
        last = t == n_st - 1
        needs = use[t][None] if last else np.stack([supply[t + 1], use[t]])
        if not supply[t].sum() > 0:
            if needs.sum() > 0:
                what = f"'{stages[t + 1]}'" if not last else "final use"
                raise ValueError(f"sourcing {what} from '{stages[t]}': the upstream stage has "
                                 "no output to source from")
            eye = np.eye(n)
            su_arr[t] = eye
            if not last:
                s_arr[t] = eye
            continue
        k_t = None if last else known[t]
        sup_t = supply[t]
        if not last and sec[t + 1].any():
            k_t = (np.zeros((n, n)) if k_t is None else k_t) + np.diag(sec[t + 1])
            sup_t = supply[t] + sec[t + 1]
        try:
            s_g, a_g = allocate(sup_t, needs, k_t)
        except ValueError as exc:
            target = "final use" if last else f"'{stages[t + 1]}'"
            raise ValueError(f"sourcing {target} from '{stages[t]}': {exc}") from exc
        if last:
            su_arr[t], au_arr[t] = s_g[0], a_g[0]
        else:
            s_arr[t], a_arr[t] = s_g[0], a_g[0]
            su_arr[t], au_arr[t] = s_g[1], a_g[1]
    return s_arr, a_arr, su_arr, au_arr
