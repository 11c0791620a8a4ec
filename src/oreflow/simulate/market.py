"""Vectorised market clearing for three linked segments (controller, rest, targets).

Pure numpy functions, no IO. Inputs carry a batch shape ``S`` (draws, materials), a segment
axis of length 3 (0 controller C, 1 rest N, 2 targets T) and, for consumption terms, a last
axis J.

Prices are log price relatives ``x = ln(p / p0)``. In each segment the excess demand is

.. math::

    E_r(x) = \\sum_j a_{rj} e^{\\varepsilon_{j} x}
             + b_r e^{-\\eta \\max(x, k_r)} - q_r e^{\\theta \\min(x, 0)} + c_r

with isoelastic consumption terms (``a >= 0``, ``eps < 0``), a precautionary inventory term
(``b >= 0``; flat below the expected price ``k_r``: holders restock at most to target, and sell
when the price exceeds expectations), own production ``q >= 0`` that is cut below the base
price with elasticity ``theta >= 0``, and fixed terms ``c_r``. ``E_r`` is non-increasing and
strictly decreasing where consumption is positive. Segments are linked by trade:

* C -> N is free with a price wedge ``w_N`` (tariff) unless capped by an all-destination
  control (``cap[..., 1] < inf``).
* C -> T is free with wedge ``w_T`` unless capped (``cap[..., 2]``).
* N -> T sales of N's own output are free up to ``cap_nt`` when C -> N is free.
* Flows towards C and from T to N are free.

Given the controller price ``x_C`` the other prices follow in closed form from the supply
staircase each faces (:func:`follower_prices`), so the equilibrium is the root of the
non-decreasing ``G(x_C) = -E_C(x_C) - imports_N - imports_T``, found by safeguarded Newton
(:func:`solve_increasing`). Prices are bounded by ``[x_lo, x_hi]``; at the upper bound
consumption is rationed so that every flow balances.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ClearingResult",
    "MarketInputs",
    "clear",
    "excess_demand",
    "follower_prices",
    "solve_increasing",
]

F = NDArray[np.float64]
B = NDArray[np.bool_]
I = NDArray[np.intp]  # noqa: E741
#: ``make(idx)`` returns ``fun(x) -> (g, dg)`` for the batch elements ``idx`` (None = all).
FunFactory = Callable[[I | None], Callable[[F], tuple[F, F]]]
_NEG = -1e300


def excess_demand(
    x: F,
    a: F,
    eps: F,
    gap: F,
    floor: F,
    stock: F,
    kb: F,
    ks: F,
    eta: F,
    k: F,
    q: F,
    theta: F,
    fixed: F,
) -> tuple[F, F]:
    """Excess demand of segments and its derivative in log price.

    Parameters
    ----------
    x : numpy.ndarray
        Log price relatives, shape (...).
    a, eps : numpy.ndarray
        Consumption terms [t per step] and their elasticities, with the term axis first:
        shape (J, ...) each.
    gap, floor, stock : numpy.ndarray
        Inventory target above the floor, the floor and the current stock [t].
    kb, ks : numpy.ndarray
        Shares of the gap to the desired stock closed per step when buying and selling.
    eta, k : numpy.ndarray
        Price response of the desired stock (positive) and its kink (expected log price):
        desired stock ``floor + gap exp(-eta max(x - k, 0))``.
    q, theta : numpy.ndarray
        Own production at the base price [t per step] and its elasticity below base.
    fixed : numpy.ndarray
        Price-independent supply [t per step].

    Returns
    -------
    e, de : numpy.ndarray
        ``E(x)`` and ``dE/dx``.

    Examples
    --------
    >>> one, zero = np.array([1.0]), np.array([0.0])
    >>> e, de = excess_demand(zero, np.array([[1.0], [2.0]]), np.array([[-0.5], [-1.0]]),
    ...     zero, zero, zero, one, one, one, zero, np.array([3.0]), np.array([0.2]), zero)
    >>> float(e[0]), float(de[0])
    (0.0, -2.5)
    """
    above = x > k
    extra = gap * np.exp(-eta * np.maximum(x - k, 0.0))  # desired stock above the floor
    diff = floor + extra - stock
    kap = np.where(diff >= 0.0, kb, ks)
    ts = q * np.exp(theta * np.minimum(x, 0.0))
    e = kap * diff - ts - fixed
    de = np.where(above, -kap * eta * extra, 0.0) - np.where(x < 0.0, theta * ts, 0.0)
    for j in range(a.shape[0]):
        tj = a[j] * np.exp(eps[j] * x)
        e += tj
        de += eps[j] * tj
    return e, de


def solve_increasing(
    make: FunFactory,
    x0: F,
    x_lo: float,
    x_hi: float,
    scale: F,
    *,
    tol: float,
    max_iter: int = 200,
) -> tuple[F, int]:
    """Roots of non-decreasing functions (a flat batch) by safeguarded Newton.

    Each element keeps a bracket. A Newton step that leaves it, or that does not at least
    halve the step of two iterations before, is replaced by Illinois false position (or
    bisection while one end is unknown, after trying the bound once to detect clamping).
    Converged elements are dropped from later evaluations when fewer than half remain.

    Parameters
    ----------
    make : callable
        ``make(idx)`` returns ``fun(x) -> (g, dg)`` for the elements ``idx`` of the batch
        (``None``: all).
    x0 : numpy.ndarray
        Starting values, shape (n,).
    x_lo, x_hi : float
        Bounds; an element whose ``g`` keeps its sign at a bound is clamped there.
    scale : numpy.ndarray
        Scale of ``g`` for the convergence test ``|g| <= tol * scale``.
    tol : float
        Relative tolerance.
    max_iter : int
        Iteration limit.

    Returns
    -------
    x : numpy.ndarray
        Roots or bounds, shape (n,).
    iterations : int
        Iterations used.
    """
    n = x0.shape[0]
    x_out = np.clip(x0, x_lo, x_hi).astype(np.float64)
    idx: I | None = None
    fun = make(None)
    x = x_out.copy()
    sc = scale
    lo = np.full(n, x_lo)
    hi = np.full(n, x_hi)
    glo = np.zeros(n)
    ghi = np.zeros(n)
    lo_known = np.zeros(n, dtype=bool)
    hi_known = np.zeros(n, dtype=bool)
    last = np.zeros(n, dtype=np.int8)
    dx_old = np.full(n, x_hi - x_lo)
    dx = np.full(n, x_hi - x_lo)
    done = np.zeros(n, dtype=bool)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        g, dg = fun(x)
        upd = ~done
        pos = (g > 0) & upd
        neg = (g <= 0) & upd
        glo = np.where(pos & (last == 1), 0.5 * glo, glo)
        ghi = np.where(neg & (last == -1), 0.5 * ghi, ghi)
        hi = np.where(pos, x, hi)
        ghi = np.where(pos, g, ghi)
        hi_known |= pos
        lo = np.where(neg, x, lo)
        glo = np.where(neg, g, glo)
        lo_known |= neg
        last = np.where(pos, 1, np.where(neg, -1, last)).astype(np.int8)
        done |= (
            (np.abs(g) <= tol * sc)
            | ((x >= x_hi) & (g <= 0))
            | ((x <= x_lo) & (g >= 0))
            | (hi - lo <= 4e-16 * (1.0 + np.abs(x)))
        )
        n_active = int((~done).sum())
        if n_active == 0:
            break
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            prop = x - g / dg
            both = lo_known & hi_known
            fp = lo - glo * (hi - lo) / (ghi - glo)
        mid = 0.5 * (lo + hi)
        fp = np.where(both & np.isfinite(fp) & (fp > lo) & (fp < hi), fp, mid)
        outside = ~np.isfinite(prop) | (prop <= lo) | (prop >= hi)
        slow = np.abs(2.0 * g) > np.abs(dx_old * dg)
        edge = np.where(prop >= hi, np.where(hi_known, fp, hi), np.where(lo_known, fp, lo))
        # no usable slope: step to the unknown bound on the root's side (detects clamping)
        flat = np.where(g > 0, np.where(lo_known, fp, lo), np.where(hi_known, fp, hi))
        prop = np.where(
            outside, np.where(np.isfinite(prop), edge, flat), np.where(slow & both, fp, prop)
        )
        dx_old = dx
        dx = np.where(done, dx, prop - x)
        x = np.where(done, x, prop)
        if n_active <= 0.5 * x.shape[0] and x.shape[0] > 64:
            # compact: write back converged values, keep only the active elements
            if idx is None:
                x_out[:] = x
            else:
                x_out[idx] = x
            keep = np.flatnonzero(~done)
            idx = keep if idx is None else idx[keep]
            fun = make(idx)
            x, sc, lo, hi, glo, ghi = x[keep], sc[keep], lo[keep], hi[keep], glo[keep], ghi[keep]
            lo_known, hi_known, last = lo_known[keep], hi_known[keep], last[keep]
            dx_old, dx, done = dx_old[keep], dx[keep], done[keep]
    if idx is None:
        x_out[:] = x
    else:
        x_out[idx] = x
    return x_out, it


@dataclass
class MarketInputs:
    """One clearing problem (arrays with leading batch shape S, e.g. (draws, materials)).

    Attributes
    ----------
    a : numpy.ndarray
        Consumption terms at the base price, shape S + (3, J) [t per step].
    eps : numpy.ndarray
        Their elasticities, broadcastable to ``a`` [negative].
    stock, floor, target : numpy.ndarray
        Current inventory, its floor and its target (desired stock at or below the
        expected price), shape S + (3,) [t].
    kap_buy, kap_sell : numpy.ndarray
        Shares of the gap to the desired stock closed per step when buying / selling,
        broadcastable to S + (3,) [0-1].
    inv_eta : numpy.ndarray
        Price response of the desired stock, broadcastable to S + (3,) [positive].
    inv_kink : numpy.ndarray
        Expected log price above which holders want less than target, shape S + (3,).
    prod : numpy.ndarray
        Own production offered at the base price, shape S + (3,) [t per step].
    theta : numpy.ndarray
        Elasticity of production below the base price, broadcastable to S + (3,).
    fixed_supply : numpy.ndarray
        Price-independent supply (stockpile releases, transfers), shape S + (3,) [t per step].
    log_wedge : numpy.ndarray
        Log price wedge on imports from C (tariffs), shape S + (3,).
    cap : numpy.ndarray
        Cap on imports from C, shape S + (3,) [t per step]; ``inf`` = free.
    cap_nt : numpy.ndarray
        Cap on N -> T sales of N's own output, shape S [t per step].
    x0 : numpy.ndarray
        Starting log prices, shape S + (3,).
    x_lo, x_hi : float
        Log price bounds.
    """

    a: F
    eps: F
    stock: F
    floor: F
    target: F
    kap_buy: F
    kap_sell: F
    inv_eta: F
    inv_kink: F
    prod: F
    theta: F
    fixed_supply: F
    log_wedge: F
    cap: F
    cap_nt: F
    x0: F
    x_lo: float
    x_hi: float


@dataclass
class ClearingResult:
    """Solution of :func:`clear` (shapes S + (3,) unless noted).

    Attributes
    ----------
    x : numpy.ndarray
        Log price relatives per segment.
    imports : numpy.ndarray
        Net imports per segment [t per step] (the sum over segments is zero).
    consumption : numpy.ndarray
        Consumption by term, shape S + (3, J) [t per step].
    production : numpy.ndarray
        Own production sold [t per step].
    stock_change : numpy.ndarray
        Net inventory purchases ``fixed_supply + production + imports - consumption``.
    iterations : int
        Solver iterations used.
    """

    x: F
    imports: F
    consumption: F
    production: F
    stock_change: F
    iterations: int


def follower_prices(
    xc: F,
    qn: F,
    q1: F,
    q2: F,
    qt: F,
    lw_n: F,
    lw_a: F,
    lw_b: F,
    lw_t: F,
    nt_open: B,
    x_hi: float,
) -> tuple[F, F, F, F]:
    """Prices of N and T given the controller price, with derivatives (0 or 1).

    Parameters
    ----------
    xc : numpy.ndarray
        Controller log price.
    qn : numpy.ndarray
        Log price at which N's imports equal its cap (very negative if uncapped).
    q1, q2 : numpy.ndarray
        Log prices at which T's imports equal the cheaper source's cap and both caps (used
        when N is uncapped).
    qt : numpy.ndarray
        Log price at which T's imports equal its cap from C (used when N is capped).
    lw_n, lw_t : numpy.ndarray
        Log wedges of N and T on imports from C.
    lw_a, lw_b : numpy.ndarray
        Log wedges of T's cheaper and dearer source.
    nt_open : numpy.ndarray of bool
        N is uncapped (N -> T sales possible).
    x_hi : float
        Upper price bound.

    Returns
    -------
    xn, dxn, xt, dxt : numpy.ndarray

    Notes
    -----
    T faces a staircase: source a at ``c_a`` up to ``k_a``, then source b at ``c_b`` up to
    ``k_b``. With decreasing import demand the intersection is
    ``max(c_a, min(q1, max(c_b, q2)))``; T can always sell to N, so ``x_T >= x_N`` when N is
    open.
    """
    cn = xc + lw_n
    xn = np.maximum(cn, qn)
    dxn = (cn >= qn).astype(np.float64)
    # T buying from C only (every N capped) ...
    ct = xc + lw_t
    xt = np.maximum(ct, qt)
    dxt = (ct >= qt).astype(np.float64)
    if nt_open.any():  # ... or, where N -> T trade is open, also through N
        ca = xc + lw_a
        cb = xc + lw_b
        inner = np.maximum(cb, q2)
        d_inner = (cb >= q2).astype(np.float64)
        mid = np.minimum(q1, inner)
        d_mid = np.where(q1 <= inner, 0.0, d_inner)
        xst = np.maximum(ca, mid)
        d_st = np.where(ca >= mid, 1.0, d_mid)
        xt = np.where(nt_open, np.maximum(xst, xn), xt)
        dxt = np.where(nt_open, np.where(xst >= xn, d_st, dxn), dxt)
    hi_n = xn >= x_hi
    hi_t = xt >= x_hi
    return (
        np.where(hi_n, x_hi, xn),
        np.where(hi_n, 0.0, dxn),
        np.where(hi_t, x_hi, xt),
        np.where(hi_t, 0.0, dxt),
    )


class _Flat:
    """Flattened inputs: (n, nr) per segment, consumption terms (J, n, nr); nr is 3, or 2
    when the (empty) targets segment is left out."""

    def __init__(self, inp: MarketInputs) -> None:
        shp = inp.x0.shape[:-1]
        nr = inp.x0.shape[-1]  # 3, or 2 when the targets segment is dropped
        self.shape = shp
        self.nr = nr
        n = int(np.prod(shp)) if shp else 1
        jc = inp.a.shape[-1]
        self.n = n
        self.jc = jc

        self.a = np.ascontiguousarray(
            np.moveaxis(np.broadcast_to(inp.a, (*shp, nr, jc)).reshape(n, nr, jc), -1, 0)
        )
        self.eps = np.ascontiguousarray(
            np.moveaxis(np.broadcast_to(inp.eps, (*shp, nr, jc)).reshape(n, nr, jc), -1, 0)
        )
        rr = (*shp, nr)

        def flat(v: F) -> F:
            return np.ascontiguousarray(np.broadcast_to(v, rr)).reshape(n, nr)

        self.stock = flat(inp.stock)
        self.floor = flat(inp.floor)
        self.gap = flat(np.maximum(inp.target - inp.floor, 0.0))
        self.kb = flat(inp.kap_buy)
        self.ks = flat(inp.kap_sell)
        self.eta = flat(inp.inv_eta)
        self.k = flat(inp.inv_kink)
        self.q = flat(inp.prod)
        self.theta = flat(inp.theta)
        self.fixed = flat(inp.fixed_supply)
        self.lw = flat(inp.log_wedge)
        self.cap = flat(inp.cap)
        self.cap_nt = np.broadcast_to(inp.cap_nt, shp).reshape(n)
        self.x0 = flat(inp.x0)
        #: magnitude of each segment's flows, for scales and for skipping empty segments
        self.vol = self.a.sum(axis=0) + self.gap + self.stock + self.q + np.abs(self.fixed)

    def seg(self, r: int, idx: I | None) -> tuple[F, ...]:
        """Arguments of :func:`excess_demand` after ``x`` for segment ``r`` (elements
        ``idx``; None = all)."""
        one = (self.gap, self.floor, self.stock, self.kb, self.ks, self.eta, self.k)
        two = (self.q, self.theta, self.fixed)
        if idx is None:
            return (self.a[:, :, r], self.eps[:, :, r], *(v[:, r] for v in one + two))
        return (self.a[:, idx, r], self.eps[:, idx, r], *(v[idx, r] for v in one + two))


def _inverse(fl: _Flat, r: int, k: F, need: B, x0: F, x_lo: float, x_hi: float) -> F:
    """Log price at which segment ``r``'s excess demand equals ``k`` (elements ``need``)."""
    out = np.full(fl.n, _NEG)
    sel = np.flatnonzero(need)
    if sel.size == 0:
        return out
    args = fl.seg(r, sel)
    tgt = k[sel]
    scale = np.abs(tgt) + fl.vol[sel, r] + 1e-300

    def make(idx: I | None) -> Callable[[F], tuple[F, F]]:
        if idx is None:
            sub, tg = args, tgt
        else:
            sub = (args[0][:, idx], args[1][:, idx], *(v[idx] for v in args[2:]))
            tg = tgt[idx]

        def fun(x: F) -> tuple[F, F]:
            e, de = excess_demand(x, *sub)
            return tg - e, -de

        return fun

    out[sel], _ = solve_increasing(make, x0[sel], x_lo, x_hi, scale, tol=1e-10)
    return out


def clear(inp: MarketInputs, *, tol: float = 1e-9, max_iter: int = 200) -> ClearingResult:
    """Clear the three-segment market for every batch element at once.

    Parameters
    ----------
    inp : MarketInputs
        The problem.
    tol : float
        Relative tolerance on the controller balance.
    max_iter : int
        Iteration limit of the solver.

    Returns
    -------
    ClearingResult

    Examples
    --------
    A market whose supply equals base demand clears at the base price:

    >>> z = np.zeros((1, 3))
    >>> inp = MarketInputs(a=np.array([[[10.0], [0.0], [0.0]]]), eps=np.array([-0.5]),
    ...     stock=z, floor=z, target=z, kap_buy=np.ones(1), kap_sell=np.ones(1),
    ...     inv_eta=np.ones(1), inv_kink=z, prod=np.array([[10.0, 0, 0]]), theta=np.zeros(1),
    ...     fixed_supply=z, log_wedge=z, cap=np.full((1, 3), np.inf), cap_nt=np.zeros(1),
    ...     x0=z, x_lo=-7.0, x_hi=7.0)
    >>> r = clear(inp)
    >>> round(float(r.x[0, 0]), 12), round(float(r.consumption[0, 0, 0]), 9)
    (0.0, 10.0)
    """
    fl = _Flat(inp)
    n, nr = fl.n, fl.nr
    xlo, xhi = inp.x_lo, inp.x_hi

    def col(arr: F, r: int, fill: float) -> F:
        return arr[:, r] if r < nr else np.full(n, fill)

    cap = fl.cap
    cap_t = col(cap, 2, np.inf)
    capped_n = np.isfinite(cap[:, 1])
    capped_t = np.isfinite(cap_t)
    nt_open = ~capped_n
    lw_n, lw_t = fl.lw[:, 1], col(fl.lw, 2, 0.0)
    t_first = lw_t <= lw_n
    lw_a = np.where(t_first, lw_t, lw_n)
    lw_b = np.where(t_first, lw_n, lw_t)
    k_t = np.where(capped_t, cap_t, np.inf)
    k_nt = np.maximum(fl.cap_nt, 0.0)
    k_a = np.where(t_first, k_t, k_nt)
    k_b = np.where(t_first, k_nt, k_t)
    x0 = fl.x0
    # segments with any volume (skip empty ones in the inverses and the hot loop)
    has_all = fl.vol > 0
    live = [bool(np.any(has_all[:, r])) if r < nr else False for r in range(3)]
    has = np.zeros((n, 3), dtype=bool)
    has[:, :nr] = has_all
    x0_t = col(x0, 2, 0.0)
    need_n = capped_n & has[:, 1]
    qn = _inverse(fl, 1, np.where(need_n, cap[:, 1], 0.0), need_n, x0[:, 1], xlo, xhi)
    fin_a = nt_open & np.isfinite(k_a) & has[:, 2]
    fin_ab = nt_open & np.isfinite(k_a + k_b) & has[:, 2]
    q1 = _inverse(fl, 2, np.where(fin_a, k_a, 0.0), fin_a, x0_t, xlo, xhi)
    q2 = _inverse(fl, 2, np.where(fin_ab, k_a + k_b, 0.0), fin_ab, x0_t, xlo, xhi)
    need_cl = capped_t & capped_n & has[:, 2]
    qt = _inverse(fl, 2, np.where(need_cl, k_t, 0.0), need_cl, x0_t, xlo, xhi)
    k_tot_t = np.where(nt_open, k_a + k_b, k_t)
    k_n = cap[:, 1]
    out_xn = np.zeros(n)
    out_xt = np.zeros(n)
    out_in = np.zeros(n)
    out_it = np.zeros(n)
    statics = (qn, q1, q2, qt, lw_n, lw_a, lw_b, lw_t, nt_open, k_n, k_tot_t)

    def make(idx: I | None) -> Callable[[F], tuple[F, F]]:
        st: tuple[Any, ...] = statics if idx is None else tuple(v[idx] for v in statics)
        segs = [fl.seg(r, idx) if live[r] else () for r in range(3)]
        qn_, q1_, q2_, qt_, lwn, lwa, lwb, lwt, nto, kn, ktt = st

        def fun(xc: F) -> tuple[F, F]:
            if live[2]:
                xn, dxn, xt, dxt = follower_prices(
                    xc, qn_, q1_, q2_, qt_, lwn, lwa, lwb, lwt, nto, xhi
                )
            else:  # two segments: only N follows the controller
                cn = xc + lwn
                at_hi = cn >= xhi
                xn = np.minimum(np.maximum(cn, qn_), xhi)
                dxn = ((cn >= qn_) & ~at_hi).astype(np.float64)
                xt, dxt = xc, dxn
            ec, dec = excess_demand(xc, *segs[0])
            g = -ec
            dg = -dec
            imp_n = np.zeros_like(xc)
            imp_t = np.zeros_like(xc)
            if live[1]:
                en, den = excess_demand(xn, *segs[1])
                imp_n = np.minimum(en, kn)
                g = g - imp_n
                dg = dg - np.where(en > kn, 0.0, den * dxn)
            if live[2]:
                et, det = excess_demand(xt, *segs[2])
                imp_t = np.minimum(et, ktt)
                g = g - imp_t
                dg = dg - np.where(et > ktt, 0.0, det * dxt)
            sl = slice(None) if idx is None else idx
            out_xn[sl] = xn
            out_xt[sl] = xt
            out_in[sl] = imp_n
            out_it[sl] = imp_t
            return g, dg

        return fun

    scale = np.maximum(fl.vol.sum(axis=-1), 1e-12)
    x, it = solve_increasing(make, x0[:, 0], xlo, xhi, scale, tol=tol, max_iter=max_iter)
    xs = np.stack([x, out_xn, out_xt][:nr], axis=-1)
    imports = np.stack([-(out_in + out_it), out_in, out_it][:nr], axis=-1)
    cons = np.moveaxis(fl.a * np.exp(fl.eps * xs[None]), 0, -1)  # (n, nr, J)
    extra = fl.gap * np.exp(-fl.eta * np.maximum(xs - fl.k, 0.0))
    diff = fl.floor + extra - fl.stock
    inv_buy = np.where(diff >= 0.0, fl.kb, fl.ks) * diff  # net purchases into stock
    production = fl.q * np.exp(fl.theta * np.minimum(xs, 0.0))
    supply = fl.fixed + production
    at_hi = xs >= xhi
    if np.any(at_hi):
        pad = 3 - nr

        def p3(v: Any, fill: float = 0.0) -> Any:
            if not pad:
                return v
            extra_cols = np.full((*v.shape[:1], pad, *v.shape[2:]), fill, dtype=v.dtype)
            return np.concatenate([v, extra_cols], axis=1)

        cons3, imp3 = _ration(
            p3(supply), p3(xs, xlo), lw_n, lw_t, nt_open, p3(cons), p3(imports), p3(inv_buy),
            p3(at_hi, False), p3(np.isfinite(cap), True),
        )  # fmt: skip
        cons, imports = cons3[:, :nr], imp3[:, :nr]
    tot = cons.sum(axis=-1)
    shp = fl.shape
    return ClearingResult(
        x=xs.reshape(*shp, nr),
        imports=imports.reshape(*shp, nr),
        consumption=cons.reshape(*shp, nr, cons.shape[-1]),
        production=production.reshape(*shp, nr),
        stock_change=(supply + imports - tot).reshape(*shp, nr),
        iterations=it,
    )


def _ration(
    supply: F,
    xs: F,
    lw_n: F,
    lw_t: F,
    nt_open: B,
    cons: F,
    imports: F,
    inv_buy: F,
    at_hi: B,
    capped: B,
) -> tuple[F, F]:
    """Ration consumption at the price ceiling so that every balance holds.

    Uncapped segments at the ceiling that are price-linked to a controller at the ceiling
    form a pool sharing the pool's supply (net of inventory purchases and of fixed exports to
    capped segments) in proportion to demand; a capped segment at the ceiling consumes what
    its own supply and its capped imports allow.
    """
    tot = cons.sum(axis=-1)
    x, xn, xt = xs[:, 0], xs[:, 1], xs[:, 2]
    c_hi = at_hi[:, 0]
    # capped segments keep their (capped) imports and are rationed on their own
    link_n = (xn >= x + lw_n - 1e-12) & at_hi[:, 1] & ~capped[:, 1]
    link_t = (
        np.where(nt_open, xt >= x + np.minimum(lw_t, lw_n) - 1e-12, xt >= x + lw_t - 1e-12)
        & at_hi[:, 2]
        & ~capped[:, 2]
    )
    pool = np.stack([c_hi, link_n & c_hi, link_t & c_hi], axis=-1)
    # purchases into stock are rationed like consumption; releases count as supply
    buy = np.maximum(inv_buy, 0.0)
    rel = np.minimum(inv_buy, 0.0)
    dem = tot + buy
    own = supply - rel
    # imports of segments outside the pool come out of the pool: scale them down if the pool
    # (which includes the controller) cannot provide them
    outside = ~pool & c_hi[:, None]
    out_pos = np.where(outside, np.maximum(imports, 0.0), 0.0)
    out_neg = np.where(outside, np.minimum(imports, 0.0), 0.0)
    own_pool = np.where(pool, own, 0.0).sum(axis=-1) - out_neg.sum(axis=-1)
    need = out_pos.sum(axis=-1)
    g = np.clip(np.divide(own_pool, need, out=np.ones_like(need), where=need > 0), 0.0, 1.0)
    imports = np.where(outside, np.minimum(imports, 0.0) + out_pos * g[:, None], imports)
    pool_avail = own_pool - need * g
    pool_dem = np.where(pool, dem, 0.0).sum(axis=-1)
    f_pool = np.clip(
        np.divide(pool_avail, pool_dem, out=np.ones_like(pool_dem), where=pool_dem > 0), 0.0, 1.0
    )
    avail = own + imports
    f_solo = np.clip(np.divide(avail, dem, out=np.ones_like(dem), where=dem > 0), 0.0, 1.0)
    f = np.where(pool, f_pool[:, None], np.where(at_hi, f_solo, 1.0))
    cons = cons * f[..., None]
    new_imp = cons.sum(axis=-1) + buy * f + rel - supply
    imp12 = np.where(pool[:, 1:], new_imp[:, 1:], imports[:, 1:])
    imports = np.concatenate([-(imp12.sum(axis=-1, keepdims=True)), imp12], axis=-1)
    return cons, imports
