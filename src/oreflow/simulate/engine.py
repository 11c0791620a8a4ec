"""The monthly disruption engine: stocks, licences and prices, vectorised over draws.

:func:`run_plan` advances a compiled :class:`~oreflow.simulate.state.Plan` over a chunk of
Monte Carlo :class:`~oreflow.simulate.state.Draws`. The state
(:class:`~oreflow.simulate.state.MarketState`) has shape (draws, materials, segments); the
only Python loops in a step's equations run over shocks and magnet products, never over
draws, materials or segments (sums over a few segments or sectors add whole slices, and
quantities by sector are kept on the live sectors of each kind of material,
:class:`~oreflow.simulate.state.SectorArrays`). Nothing is solved: prices are state
variables formed from inventory cover, quantities follow from prices, stocks absorb the
difference.

One step of ``dt`` months, in the order of ``docs/engine.md`` section 4 (one function each):

1. :func:`shocks_in_force` — outages, demand changes, releases, tariffs, price floors,
   de-minimis blocking and the precautionary signal from announced or binding controls.
2. :func:`planned_magnet_output` — magnet makers plan their normal share (world demand,
   the expected magnet price, cut in a glut) plus the orders other suppliers did not fill
   and the refill of a short stock, up to capacity; their element needs follow from the
   recipe.
3. :func:`production` — baseline output plus expansion, projects and recycling, cut when the
   expected price is below base (the controller's quota management has its own response).
4. :func:`desired_stocks` — users' and traders' desired stocks by tier.
5. :func:`trade_wanted` — flows between segments chase price gaps.
6. :func:`licensing` — the controller's shipments under quotas or licences (queue,
   processing, approval path, general licences).
7. :func:`ship` — exporters cannot ship more than they hold.
8. :func:`state_purchases` — the controller's state reserve buys when its price falls.
9. :func:`buy_and_consume` — users buy demand plus stock adjustment from traders; whatever
   finds no material is lost output.
10. :func:`couple_magnets` — magnet output is limited by the scarcest input (Leontief);
    unused inputs return to stock.
11. :func:`form_prices` — the indicated price from stock cover, smoothed into the quoted and
    expected prices, bounded by the backstop.
12. :func:`slow_updates` — expansion, substitution and recycling.

A flow redirect (:func:`redirect_flows`, right after 3) moves ore from the controller's
separators to another segment's, up to that segment's separation capacity; with none in
the scenario the step is skipped and nothing else changes.

Mass balance holds in every step and segment:
``production + imports + stockpile release = consumption + stock change`` (stocks include
the state reserve and output held by a de-minimis rule; :func:`mass_balance_residual`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .redirect import redirect_flows
from .state import (
    FLAG_BACKSTOP,
    FLAG_FLOOR,
    FLAG_STOCK_GUARD,
    Draws,
    MarketState,
    Plan,
    RunArrays,
    SectorArrays,
)

__all__ = [
    "LOG_FLOOR",
    "PIN_TOL",
    "STOCK_GUARD",
    "TRADE_MAX",
    "buy_and_consume",
    "couple_magnets",
    "desired_stocks",
    "form_prices",
    "import_need",
    "licensing",
    "material_elasticities",
    "planned_magnet_output",
    "price_floor",
    "production",
    "redirect_flows",
    "run_plan",
    "ship",
    "shocks_in_force",
    "slow_updates",
    "state_purchases",
    "trade_wanted",
    "unit_cost",
    "use_budgets",
]

F = NDArray[np.float64]
#: (materials, live sectors) of each kind of material (:func:`_blocks`).
Blocks = tuple[tuple[slice, NDArray[np.intp]], ...]

#: Numerical floor of prices [log multiple]: a tenth of base (flagged when it binds).
LOG_FLOOR = float(np.log(0.1))
#: Numerical guard of the price formula: stock cover counted at least this share of the
#: desired cover (flagged when it binds).
STOCK_GUARD = 0.01
#: Largest multiple of its baseline (plus diversion) a trade flow can reach in a step:
#: shipping and contracting capacity (assumption, docs/engine.md).
TRADE_MAX = 3.0
#: How far below its floor the indicated price must be for the floor to count as binding
#: [log]: at base prices the two are equal up to rounding.
PIN_TOL = 1e-9
#: Log price gap over which the controller's state purchases go from nothing to full rate.
STATE_BAND = 0.1


def _sum_short(a: F, axis: int) -> F:
    """Sum over a short axis (segments, sectors) by adding its slices in order; numpy's
    ``a.sum(axis)`` is an order of magnitude slower over a few elements."""
    parts = np.moveaxis(a, axis, 0)
    out: F = np.array(parts[0])
    for p in parts[1:]:
        out += p
    return out


def _span(idx: NDArray[np.intp]) -> slice:
    """Materials of one kind as a slice (they are contiguous, :func:`_blocks`): indexing
    with it gives views; with an index array, slower copies."""
    return slice(int(idx[0]), int(idx[-1]) + 1) if idx.size else slice(0, 0)


def _smooth(dt: float, tau: F) -> F:
    """Share of a gap closed in one step by first-order smoothing with time constant tau."""
    return np.asarray(1.0 - np.exp(-dt / tau))[:, None, None]


@dataclass(frozen=True)
class Schedule:
    """Shocks in force in one step, for a chunk of draws (arrays (D or 1, M, R)).

    ``out`` output factor after outages [0-1]; ``dm`` demand multiplier (D or 1, M, R, K);
    ``signal`` expected shortage share that drives precautionary buying [0-1]; ``block``
    share of a segment's own output held by a de-minimis rule [0-1]; ``release`` stockpile
    sales [t per step] (M, R); ``wedge`` tariff on imports from the controller [log] (M, R);
    ``floor`` producers' floor price [log] (M, R).
    """

    out: F
    dm: F
    signal: F
    block: F
    release: F
    wedge: F
    floor: F


def material_elasticities(plan: Plan, d: Draws) -> F:
    """Demand elasticities per draw, material and sector, shape (D, M, K).

    Sector draws as sampled; the magnet makers' demand for an element follows the
    Hicks-Marshall rule of derived demand for an input of a fixed-proportion product:

    .. math:: \\varepsilon_e = -\\left(s_e |\\varepsilon_{magnet}| + (1 - s_e)\\,\\sigma\\right)

    with ``s_e`` the element's cost share in the magnet (recipe x base prices),
    ``eps_magnet`` the magnet demand elasticity (the first product sector's draw) and
    ``sigma = -input_elasticity`` the short-run substitution among a magnet's inputs.
    """
    nm = plan.baseline.n_materials
    eps = np.repeat(d.eps[:, None, :], nm, axis=1)
    k = plan.kmag
    prod_k = [i for i, s in enumerate(plan.baseline.sectors) if i != k and s != "other_uses"]
    if k >= 0 and plan.el.size and plan.pr.size and prod_k:
        sigma = -d.eps[:, k][:, None]  # (D, 1)
        e_mag = np.abs(d.eps[:, prod_k[0]])[:, None]
        s = plan.input_share[plan.el][None, :]
        eps[:, plan.el, k] = -(s * e_mag + (1.0 - s) * sigma)
    return np.asarray(eps)


# --------------------------------------------------------------------------------------
# 1. Shocks in force
# --------------------------------------------------------------------------------------


def shocks_in_force(plan: Plan, d: Draws, t: int, st: MarketState) -> Schedule:
    """Outages, demand changes and policy shocks at the midpoint of step ``t``.

    The precautionary signal is, per material and segment, the largest of: ``1 - E[a]``
    for a control announced but not yet effective (``E[a]`` its mean first approval rate or
    quota share); ``1 - l`` for a control in force, with ``l`` the share of wanted controller
    exports that got through last step, and for a window quota the share of normal exports
    to the window's end that what is left of it cannot cover; an outage's share of world
    output.
    """
    tm = plan.t_mid[t]
    nd, nm, nr = d.n, plan.q0.shape[0], plan.q0.shape[1]
    signal = np.zeros((nd, nm, nr))
    block = np.zeros((nd, nm, nr))
    for i, r in enumerate(plan.restrictions):
        mr = (r.mats[:, None] & r.regs[None, :nr])[None]  # (1, M, R)
        if r.ann <= tm < min(r.eff, r.end):
            np.maximum(signal, np.where(mr, 1.0 - r.mean_approval, 0.0), out=signal)
        elif r.eff <= tm < r.end:
            fear = 1.0 - st.licensed
            if r.is_budget:  # what is left of the quota against normal exports to its end
                covered = (plan.f0[:, 0, :nr] * (r.mats[:, None] & r.regs[None, :nr])).sum()
                need = covered * max(r.end - tm, plan.dt)
                short = np.clip(1.0 - st.budget[i] / max(need, 1e-300), 0.0, 1.0)
                fear = np.maximum(fear, short[:, None, None])
            np.maximum(signal, np.where(mr, fear, 0.0), out=signal)
            if r.deminimis:
                reach = d.reach[:, i]
                rch = np.where(np.isnan(reach)[:, None, None], r.reach_base[None, :, :nr],
                               reach[:, None, None])
                cbx = np.where(np.isnan(d.cross_border)[:, None, None],
                               plan.cross_border[None, :, :nr], d.cross_border[:, None, None])
                np.maximum(block, np.where(mr, rch * cbx * (1.0 - st.licensed), 0.0), out=block)
    loss = np.zeros((nd, nm, nr))
    for j, o in enumerate(plan.outages):
        if tm < o.start:
            continue
        if tm < o.end:
            inten = 1.0
        elif o.recovery > 0 and tm < o.end + o.recovery:
            inten = 1.0 - (tm - o.end) / o.recovery
        else:
            continue
        sj = d.outage_share[:, j][:, None, None] * inten
        loss += sj * o.weight[None, :, :nr]
        np.maximum(signal, sj * o.world[None, :, None], out=signal)
    dm: F = np.ones((1, nm, nr, plan.d0.shape[2]))
    for j, dc in enumerate(plan.demands):
        if tm < dc.start or (tm >= dc.end and not dc.persist):
            continue
        years = (min(tm, dc.end) - dc.start) / 12.0
        f = (1.0 + d.dem_level[:, j]) * (1.0 + d.dem_growth[:, j]) ** years
        dm = dm * (1.0 + (f[:, None, None, None] - 1.0) * dc.mask[None, :, :nr])
    return Schedule(
        out=np.clip(1.0 - loss, 0.0, 1.0), dm=dm, signal=signal, block=block,
        release=plan.release[t][:, :nr], wedge=plan.log_wedge[t][:, :nr],
        floor=plan.log_floor[t][:, :nr],
    )  # fmt: skip


# --------------------------------------------------------------------------------------
# 2-4. Plans, production, desired stocks
# --------------------------------------------------------------------------------------


def planned_magnet_output(plan: Plan, d: Draws, t: int, sch: Schedule, st: MarketState,
                          eps: F, imports: F) -> F:
    """Magnet output the makers plan this step [t/month], (D, P, R).

    ``Y = min(capacity, N * clip(S* / S, 0.5, 1) + max(D - N - M, 0)
    + max(S* - S, 0) * a_u / dt)`` with ``N = q0 * I * out * exp(theta * min(xe, 0))`` the
    makers' normal output: ``I`` the world index of base-price magnet demand (demand
    changes, substitution), ``xe`` the expected magnet price; ``D`` the segment's magnet
    demand at the going price and ``M`` its net magnet imports last step (``imports``,
    (D, P, R) [t/month]), so ``D - N - M`` is the orders its usual suppliers did not fill;
    ``S*`` and ``S`` its desired and actual magnet stocks [t], ``a_u = 1 - exp(-dt / tau_u)``
    the users' stock adjustment per step. Makers produce their normal share, cut it when
    stocks pile up (a market that buys fewer magnets at a higher price cuts output through
    its stocks), and take the orders lost by other suppliers and the refill of a short
    segment's stock, up to their capacity = (q0 + expansion) * out + projects, raised when
    the expected price is above base.
    """
    pr = _span(plan.pr)
    nr = plan.q0.shape[1]
    if plan.pr.size == 0:
        return np.zeros((d.n, 0, nr))
    base = plan.d0[pr].sum(axis=(1, 2))  # (P,)
    shifted = plan.d0[None, pr] * sch.dm[:, pr] * (1.0 - st.sigma[:, pr])[..., None]
    cur = _sum_short(shifted.reshape(*shifted.shape[:2], -1), 2)
    index = np.divide(cur, base[None], out=np.ones_like(cur), where=base[None] > 0)
    at_price = _sum_short(shifted * np.exp(eps[:, pr][:, :, None, :] * st.x[:, pr][..., None]), 3)
    users, traders = desired_stocks(d, at_price, sch.signal[:, pr], st.x[:, pr], st.xe[:, pr])
    desired = users + traders
    stock = st.user[:, pr] + st.trader[:, pr]
    # a glut cuts output (S > S*: S*/S down to 0.5); a shortage adds the refill of the gap
    cut = np.maximum(np.divide(desired, stock, out=np.ones_like(desired), where=stock > desired),
                     0.5)
    a_u = (1.0 - np.exp(-plan.dt / d.tau_u))[:, None, None]
    refill = np.maximum(desired - stock, 0.0) * a_u / plan.dt  # [t/month]
    xe = st.xe[:, pr]
    resp = np.exp(d.sup_el[:, None, None] * np.minimum(xe, 0.0))
    q0 = plan.q0[pr][None]
    normal = q0 * index[:, :, None] * sch.out[:, pr] * resp
    unmet = np.maximum(at_price - normal - imports, 0.0)
    want = normal * cut + unmet + refill
    cap = ((q0 + st.ramp[:, pr]) * sch.out[:, pr] + _projects(plan, d, t)[:, pr]) * np.maximum(
        np.exp(d.sup_el[:, None, None] * xe), 1.0)  # fmt: skip
    return np.asarray(np.minimum(want, cap))


def production(plan: Plan, d: Draws, t: int, sch: Schedule, st: MarketState) -> F:
    """Output of the element and mineral markets [t/month], (D, M, R) (products: 0).

    ``P = ((q0 + expansion) * out + projects + recycling) * r`` with, outside the controller,
    ``r = exp(theta * min(xe, 0))`` (``xe`` the expected price, or a producers' floor where
    higher: cuts below base) and, in the controller,
    ``r = exp(-theta_C * max(xe - x, 0))``: its production quotas cut output when the
    domestic price falls below its expected level (blocked exports, an unwinding spike).
    """
    el = _span(plan.el)
    nr = plan.q0.shape[1]
    out = np.zeros((d.n, plan.q0.shape[0], nr))
    if plan.el.size == 0:
        return out
    xe = np.maximum(st.xe[:, el], sch.floor[None, el])
    resp = np.exp(d.sup_el[:, None, None] * np.minimum(xe, 0.0))
    fall = np.maximum(st.xe[:, el, 0] - st.x[:, el, 0], 0.0)
    resp[:, :, 0] = np.exp(-d.theta_c[:, None] * fall)
    base = (plan.q0[el][None] + st.ramp[:, el]) * sch.out[:, el] + _projects(plan, d, t)[:, el]
    out[:, el] = (base + st.rec[:, el]) * resp
    return out


def _projects(plan: Plan, d: Draws, t: int) -> F:
    """Pipeline projects' output [t/month], (D or 1, M, R)."""
    nr = plan.q0.shape[1]
    if plan.proj_cap.shape[0] == 0:
        return np.zeros((1, plan.q0.shape[0], nr))
    frac = np.clip((plan.t_mid[t] - d.proj_start) / d.proj_ramp[:, None], 0.0, 1.0)  # (D, P)
    cap = plan.proj_cap[..., :nr]  # a matmul per draw: twice as fast as einsum, no BLAS threads
    out = np.matmul(frac[:, None, :], cap.reshape(cap.shape[0], -1))
    return np.asarray(out.reshape(d.n, *cap.shape[1:]))


def desired_stocks(d: Draws, demand: F, signal: F, x: F, xe: F) -> tuple[F, F]:
    """Users' and traders' desired stocks [t], each (D, M, R).

    ``U* = c_u * D * (1 + h * s)`` and
    ``V* = c_t * D * (1 + h * s) * exp(eta * clip(x - xe, -1, 1))`` with ``D`` demand at the
    going price [t/month], ``s`` the precautionary signal, ``h`` the hoarding strength and
    ``eta`` the traders' speculative response to the price's departure from expectations.
    """
    fear = 1.0 + d.hoard[:, None, None] * signal
    users = d.cover_user[:, None, None] * demand * fear
    spec = np.exp(d.spec[:, None, None] * np.clip(x - xe, -1.0, 1.0))
    traders = d.cover_trader[:, None, None] * demand * fear * spec
    return users, traders


# --------------------------------------------------------------------------------------
# 5-8. Trade, licences, shipping, state purchases
# --------------------------------------------------------------------------------------


def trade_wanted(plan: Plan, d: Draws, sch: Schedule, st: MarketState, prod: F,
                 orders: F) -> F:
    """Trade flows buyers and sellers want [t/month], (D, M, R, R) from row to column.

    ``F*_ij = f0_ij * g`` for flows from or to the controller and
    ``F*_ij = max(0, (f0_ij + lambda * P_i) * g - lambda * P_i)`` between the other
    segments (``lambda`` the divertible share of output), with
    ``g = min(exp(beta * (x_j - x_i - w_ij)), TRADE_MAX)``, ``w`` a tariff on imports from
    the controller. Where segment j's price sat on its floor last step (``st.pinned``: it
    could not fall to clear a glut, e.g. held at the controller's price by the importer
    anchor), its imports from the controller are at most the buyers' orders,
    ``F*_Cj <= orders_j * f0_Cj`` (:func:`import_need`): quantities adjust where the price
    cannot. Elsewhere the flows chase the price gap, which is what ends a shortage.
    """
    nr = plan.q0.shape[1]
    gap = st.x[:, :, None, :] - st.x[:, :, :, None]  # x_j - x_i
    gap[:, :, 0, :] -= sch.wedge[None]
    np.clip(gap, -5.0, 5.0, out=gap)
    gap *= d.beta[:, None, None, None]
    g = np.minimum(np.exp(gap, out=gap), TRADE_MAX, out=gap)
    want = plan.f0[None, :, :nr, :nr] * g
    if nr > 2:
        lam = d.divert[:, None]
        for i, j in ((1, 2), (2, 1)):
            base = lam * prod[:, :, i]
            want[:, :, i, j] = np.maximum(
                (plan.f0[None, :, i, j] + base) * g[:, :, i, j] - base, 0.0)
    np.einsum("...ii->...i", want)[...] = 0.0  # the diagonal (a view)
    pinned = st.pinned[:, :, 1:nr]
    if pinned.any():  # most steps of most runs: no price on its floor, nothing to cap
        cap = orders[:, :, 1:nr] * plan.f0[None, :, 0, 1:nr]
        want[:, :, 0, 1:nr] = np.where(pinned, np.minimum(want[:, :, 0, 1:nr], cap),
                                       want[:, :, 0, 1:nr])
    return np.asarray(want)


def import_need(d: Draws, st: MarketState, demand: F, desired: F, d0_tot: F,
                dt: float) -> tuple[F, F, F]:
    """Buyers' import requirement relative to normal, its stock-gap part and their orders,
    each (D, M, R) [x baseline].

    ``n = clip((D + max(S* - S, 0) a_u / dt) / D0, 0, TRADE_MAX)``: demand at the going price
    plus the stock gap closed in a step, over baseline demand; the gap part is
    ``n - min(D / D0, n)``. Buyers apply for licences for ``n`` times their normal imports
    from the controller (:func:`licensing` nets the gap part against applications still
    pending). Their orders count a glut too: ``clip((D + (S* - S) a_u / dt) / D0, 0,
    TRADE_MAX)`` (:func:`trade_wanted`).
    """
    a_u = 1.0 - np.exp(-dt / d.tau_u)[:, None, None]
    signed = (desired - st.user - st.trader) * a_u / dt
    pos = d0_tot[None] > 0
    n = np.divide(demand + np.maximum(signed, 0.0), d0_tot[None], out=np.ones_like(demand),
                  where=pos)
    n = np.clip(n, 0.0, TRADE_MAX)
    flow = np.divide(demand, d0_tot[None], out=np.zeros_like(demand), where=pos)
    orders = np.divide(demand + signed, d0_tot[None], out=np.ones_like(demand), where=pos)
    return (np.asarray(n), np.asarray(n - np.minimum(flow, n)),
            np.asarray(np.clip(orders, 0.0, TRADE_MAX)))


def licensing(plan: Plan, d: Draws, t: int, st: MarketState, need: F, want: F,
              gap_need: F) -> tuple[F, NDArray[np.bool_]]:
    """The controller's allowed shipments to each segment [t/month], (D, M, R), and where a
    tonnage quota is in force, (1, M, R).

    Per restriction in force on (material, segment): a rate quota allows
    ``quota / baseline controlled exports * f0``; a window quota lets the wanted flows
    ``want`` through while its budget lasts (pro rata when this step would exceed it); a
    licence regime queues applications (backlog ``B``) for the buyers' requirement
    ``need * f0`` (:func:`import_need`) not covered by a general licence — for missing stock
    (``gap_need * f0``) only net of the gap applications still pending ``B_g`` (buyers do not
    apply twice for the same stock): ``A = (1 - g) dt ((need - gap_need) f0 +
    max(gap_need f0 - a_u B_g / dt, 0))``, ``a_u = 1 - exp(-dt / tau_u)``; decides nothing during
    the licence lag, then decides ``B (1 - exp(-k dt))`` per step with a processing rate
    ``k = k1 + (k0 - k1) exp(-(t - eff - lag) / tau_k)``, at most the office's capacity
    ``TRADE_MAX f0 min((t - eff - lag) / tau_cap, 1) dt`` (built from nothing over
    ``tau_cap`` months: an office that decides a share of the whole queue from its first
    day releases the lag's backlog at once), approving the share ``a(t)`` of the
    approval path times ``1 - denied``; allowed = general-licence share x wanted + approved.
    The strictest restriction applies. Updates ``st.backlog`` and ``st.backlog_gap`` in
    place.
    """
    tm = plan.t_mid[t]
    dt = plan.dt
    nd, nm, nr = st.x.shape
    allowed = np.full((nd, nm, nr), np.inf)
    by_quota = np.zeros((1, nm, nr), bool)
    a_u = 1.0 - np.exp(-dt / d.tau_u)[:, None, None]
    for i, r in enumerate(plan.restrictions):
        mr = (r.mats[:, None] & r.regs[None, :nr])[None]
        if not (r.eff <= tm < r.end):
            st.backlog[i] = 0.0
            st.backlog_gap[i] = 0.0
            continue
        if r.is_quota or r.is_budget:
            allowed = np.where(mr, np.minimum(allowed, _quota(plan, d, i, tm, st, need)),
                               allowed)
            by_quota |= mr
            continue
        general = d.general[:, i][:, None, None] if tm >= r.general else np.zeros((nd, 1, 1))
        f0c = plan.f0[None, :, 0, :nr]
        wanted = need * f0c
        gap = gap_need * f0c
        new_gap = np.where(mr, np.maximum(gap - a_u * st.backlog_gap[i] / dt, 0.0)
                           * (1.0 - general) * dt, 0.0)
        st.backlog[i] += np.where(mr, (wanted - gap) * (1.0 - general) * dt, 0.0) + new_gap
        st.backlog_gap[i] += new_gap
        since = tm - r.eff - d.lag[:, i]  # months since decisions started (D,)
        k = d.k1 + (d.k0 - d.k1) * np.exp(-np.maximum(since, 0.0) / d.tau_k)
        decide = np.where(since >= 0, 1.0 - np.exp(-k * dt), 0.0)[:, None, None]
        step = int(np.searchsorted(r.steps, tm, side="right")) - 1
        rate = d.approval[i][:, max(step, 0)] * (1.0 - d.denied[:, i])
        capacity = TRADE_MAX * f0c * (np.clip(since / d.tau_cap, 0.0, 1.0) * dt)[:, None, None]
        decided = np.minimum(st.backlog[i] * decide, capacity)
        st.backlog_gap[i] *= 1.0 - np.divide(decided, st.backlog[i],
                                             out=np.zeros_like(decided),
                                             where=st.backlog[i] > 0)
        st.backlog[i] -= decided
        cap = general * wanted + decided * rate[:, None, None] / dt
        allowed = np.where(mr, np.minimum(allowed, cap), allowed)
    return allowed, by_quota


def _quota(plan: Plan, d: Draws, i: int, tm: float, st: MarketState, need: F) -> F:
    """Allowed shipments under tonnage quota ``i`` [t/month] (D, M, R); updates its rent.

    The quota's monthly tonnage ``Q`` (a rate quota's rate, or what is left of a window
    quota spread over the months left) is shared among the covered materials and
    destinations in proportion to the buyers' normal requirement ``W = need * f0``; the rent
    ``pi`` [USD/kg], paid on every kilogram exported, rises while ``W > Q`` and falls when
    ``W < Q``: ``pi += kappa * p_bar * clip(W/Q - 1, -1, 2) * dt`` (``p_bar`` the covered
    exports' average base price), never below 0.
    """
    r = plan.restrictions[i]
    nr = st.x.shape[2]
    mr = (r.mats[:, None] & r.regs[None, :nr])[None]
    normal = np.where(mr, need * plan.f0[None, :, 0, :nr], 0.0)
    total = normal.sum(axis=(1, 2))  # (D,) t/month
    rate = st.budget[i] / max(r.end - tm, plan.dt) if r.is_budget else d.quota[:, i] / 12.0
    frac = np.divide(rate, total, out=np.ones_like(rate), where=total > 0)
    base = (plan.f0[:, 0, :nr] * mr[0]).sum()
    p_bar = (plan.f0[:, 0, :nr] * mr[0] * plan.p0_region[:, :1]).sum() / max(base, 1e-300)
    excess = np.clip(np.divide(total, rate, out=np.full_like(rate, 3.0), where=rate > 0) - 1.0,
                     -1.0, 2.0)
    st.premium[i] = np.maximum(st.premium[i] + d.kappa_q * p_bar * excess * plan.dt, 0.0)
    return np.asarray(normal * np.minimum(frac, 1.0)[:, None, None])


def use_budgets(plan: Plan, t: int, st: MarketState, legal: F) -> None:
    """Take this step's legal shipments of covered materials and destinations off the
    window quotas (in place)."""
    tm = plan.t_mid[t]
    nr = st.x.shape[2]
    for i, r in enumerate(plan.restrictions):
        if r.is_budget and r.eff <= tm < r.end:
            mr = (r.mats[:, None] & r.regs[None, :nr])[None]
            used = np.where(mr, legal, 0.0).sum(axis=(1, 2)) * plan.dt
            st.budget[i] = np.maximum(st.budget[i] - used, 0.0)


def ship(d: Draws, want: F, allowed: F, by_quota: NDArray[np.bool_], st: MarketState,
         prod: F, normal: F, dt: float, block: F) -> tuple[F, F, F]:
    """Trade flows that happen [t/month] (D, M, R, R), the controller's legal shipments
    [t/month] (D, M, R) and the licensed share (D, M, R): what got through over the buyers'
    requirement ``min(normal, wanted)``, at most 1.

    Where a licence regime is in force, smuggling, transshipment and mislabelled goods ship
    the share ``leak`` of what it holds back, ``max(min(normal, wanted) - allowed, 0)``
    (``normal`` the buyers' requirement, need x baseline flow, :func:`import_need`), outside
    the controller's export statistics; under a tonnage quota (``by_quota``), whose licences
    carry a rent that smuggled goods do not pay, the share ``leak_quota`` of ``min(normal,
    wanted)`` itself: smuggled goods compete with legal ones. The legal flow is
    ``min(wanted - leaked, allowed)``; then
    every exporter's flows are scaled down so it ships at most its traders' stock plus the
    part of its output of the step that a de-minimis rule does not hold (``block``).
    """
    flows = want.copy()
    wanted_c = want[:, :, 0, :].copy()  # contiguous: read four times
    asked = np.minimum(normal, wanted_c)
    held = np.maximum(asked - allowed, 0.0)  # 0 where no control (allowed = inf)
    leaked = np.where(by_quota, d.leak_quota[:, None, None] * asked,
                      d.leak[:, None, None] * held)
    legal = np.minimum(wanted_c - leaked, allowed)
    c = legal + leaked
    flows[:, :, 0, :] = c
    sent = asked > 0  # where= on a mask alternating by segment is slow: select instead
    licensed = np.minimum(np.where(sent, c, 1.0) / np.where(sent, asked, 1.0), 1.0)
    shipped = _sum_short(flows, 3) * dt  # (D, M, R) by exporter
    avail = np.maximum(st.trader + prod * (1.0 - block) * dt, 0.0)
    scale = np.minimum(np.divide(avail, shipped, out=np.ones_like(avail),
                                 where=shipped > avail), 1.0)
    flows *= scale[..., None]
    legal = legal * scale[:, :, :1]
    return flows, legal, licensed


def state_purchases(d: Draws, st: MarketState, demand: F, dt: float) -> F:
    """The controller's state-reserve purchases [t per step], (D, M, R) (zero outside 0).

    ``g * D_C * dt * clip((xe_C - delta - x_C) / STATE_BAND, 0, 1)``: nothing while the
    domestic price is within ``delta`` (log) of its expected level, the full rate ``g`` of
    consumption per month ``STATE_BAND`` lower — the state supports a falling price, whether
    exports are blocked (a glut at home) or a spike is unwinding.
    """
    out = np.zeros_like(st.x)
    gap = (st.xe[:, :, 0] - d.delta_state[:, None] - st.x[:, :, 0]) / STATE_BAND
    out[:, :, 0] = d.g_state[:, None] * demand[:, :, 0] * dt * np.clip(gap, 0.0, 1.0)
    return out


# --------------------------------------------------------------------------------------
# 9-10. Buying, consuming, coupling
# --------------------------------------------------------------------------------------


def buy_and_consume(
    d: Draws, st: MarketState, inflow: F, demand_k: SectorArrays, users_want: F, dt: float
) -> tuple[SectorArrays, F]:
    """Users buy from traders and consume; returns consumption by sector [t per step]
    (live sectors, like ``demand_k``) and lost output [t per step] (D, M, R). Updates stocks
    in place.

    Traders hold ``V + inflow`` (output, imports, releases, less exports and state
    purchases); users want ``W = max(0, D dt + (U* - U) a_u)`` and get ``min(W, V +
    inflow)``; they consume ``min(D dt, U + bought)``, shared among sectors in proportion to
    their demand ``demand_k`` [t/month]; demand that finds no material is lost output.
    """
    want_c = demand_k.total() * dt
    a_u = 1.0 - np.exp(-dt / d.tau_u)[:, None, None]
    wish = np.maximum(want_c + (users_want - st.user) * a_u, 0.0)
    avail = np.maximum(st.trader + inflow, 0.0)
    bought = np.minimum(wish, avail)
    st.trader = avail - bought
    have = st.user + bought
    cons = np.minimum(want_c, have)
    st.user = have - cons
    share = np.divide(cons, want_c, out=np.ones_like(cons), where=want_c > 0)
    return demand_k.scaled(dt, share), want_c - cons


def couple_magnets(plan: Plan, planned: F, eps: F, st: MarketState, cons_k: SectorArrays,
                   demand_k: SectorArrays, dt: float) -> F:
    """Next step's magnet output, limited by the scarcest input; unused inputs go back.

    Magnet makers turn this step's element purchases into next step's magnets (one step of
    work in progress): for product p in segment r, ``Y = planned * min_e fill_e`` over the
    elements of its recipe, ``fill_e`` the share of their element demand they obtained.
    Inputs obtained but not needed for ``Y`` return to the users' stock and are taken out of
    ``cons_k`` (both in place). Returns ``Y`` [t/month], (D, P, R).
    """
    el, pr, k = _span(plan.el), plan.pr, plan.kmag
    got = cons_k.sector(el, k)  # (D, E, R) t per step, a view
    need = demand_k.sector(el, k) * dt
    fill = np.divide(got, need, out=np.full_like(got, np.inf), where=need > 0)
    out = np.empty_like(planned)
    used = np.zeros_like(got)
    thrift = (1.0 - st.sigma[:, el]) * np.exp(eps[:, el, k][:, :, None] * st.x[:, el])
    for j, p in enumerate(pr):
        uses = plan.recipe[el, p] > 0
        fp = fill[:, uses].min(axis=1) if uses.any() else np.ones(planned[:, j].shape)
        fp = np.where(np.isfinite(fp), np.minimum(fp, 1.0), 1.0)
        out[:, j] = planned[:, j] * fp
        used += plan.recipe[el, p][None, :, None] * thrift * out[:, j][:, None, :] * dt
    unused = got - np.minimum(used, got)
    st.user[:, el] += unused
    np.subtract(got, unused, out=got)
    return out


# --------------------------------------------------------------------------------------
# 11-12. Prices and slow updates
# --------------------------------------------------------------------------------------


def unit_cost(plan: Plan, st: MarketState) -> F:
    """Log unit cost of each magnet relative to base, (D, M, R) (-inf for other materials).

    ``c_p = ln(1 + sum_e s_ep (exp(x_e) - 1))`` with ``s_ep`` the element's cost share in
    the magnet at base prices and ``x_e`` its price in the magnet maker's segment: makers
    pass input costs on.
    """
    out = np.full(st.x.shape, -np.inf)
    if plan.pr.size and plan.el.size:
        share = plan.cost_share[np.ix_(plan.el, plan.pr)]  # (E, P)
        rise = np.matmul(share.T, np.expm1(st.x[:, _span(plan.el)]))  # (D, P, R)
        out[:, _span(plan.pr)] = np.log1p(np.maximum(rise, -0.99))
    return out


def price_floor(plan: Plan, sch: Schedule, st: MarketState, tm: float) -> F:
    """Floors of the indicated price [log], (D, M, R): the magnets' unit cost
    (:func:`unit_cost`) and, for a segment that imports from the controller, the
    controller's price plus the quota rent of a tonnage quota in force [USD/kg] plus its
    import wedge — while the controller exports at all, buyers elsewhere pay at least what
    its home market pays plus the licence (its exporters would sell at home)."""
    floor = unit_cost(plan, st)
    nr = st.x.shape[2]
    imports = plan.f0[:, 0, 1:nr] > 0  # (M, R-1)
    home = plan.p0_region[None, :, :1] * np.exp(st.x[:, :, :1])  # controller price, USD/kg
    rent = np.zeros((st.x.shape[0], st.x.shape[1], nr - 1))
    for i, r in enumerate(plan.restrictions):
        if (r.is_quota or r.is_budget) and r.eff <= tm < r.end:
            mr = (r.mats[:, None] & r.regs[None, 1:nr])[None]
            rent = np.maximum(rent, np.where(mr, st.premium[i][:, None, None], 0.0))
    anchor = np.log((home + rent) / plan.p0_region[None, :, 1:nr]) + sch.wedge[None, :, 1:nr]
    floor[:, :, 1:] = np.maximum(floor[:, :, 1:], np.where(imports[None], anchor, -np.inf))
    return floor


def form_prices(d: Draws, st: MarketState, desired: F, floor: F, x_cap: F,
                dt: float) -> NDArray[np.uint8]:
    """Quoted and expected prices from stock cover (in place); returns the flags.

    ``x_ind = max(xe + alpha * ln(S* / max(S, STOCK_GUARD S*)), floor)`` with ``S = U + V``
    the market's stock, ``S*`` its desired level and ``floor`` from :func:`price_floor`;
    ``x += (1 - exp(-dt/tau_p)) (x_ind - x)``, bounded by ``LOG_FLOOR`` and the backstop
    ``x_cap``; ``xe += (1 - exp(-dt/tau_e)) (x - xe)``. Records where the floor binds
    (``st.pinned``: :func:`trade_wanted` then caps imports at the buyers' orders).
    """
    stock = st.user + st.trader
    guard = stock < STOCK_GUARD * desired
    ratio = np.divide(desired, np.maximum(stock, STOCK_GUARD * desired),
                      out=np.ones_like(desired), where=desired > 0)
    raw = st.xe + d.alpha[:, None, None] * np.log(ratio)
    st.pinned = raw < floor - PIN_TOL
    x_ind = np.maximum(raw, floor)
    x = st.x + _smooth(dt, d.tau_p) * (x_ind - st.x)
    top = x >= x_cap
    low = x <= LOG_FLOOR
    st.x = np.clip(x, LOG_FLOOR, x_cap)
    st.xe = (st.xe + _smooth(dt, d.tau_e) * (st.x - st.xe)) * (1.0 - _smooth(dt, d.tau_c))
    flags = np.where(top, FLAG_BACKSTOP, 0) | np.where(low, FLAG_FLOOR, 0) | np.where(
        guard & (desired > 0), FLAG_STOCK_GUARD, 0)  # fmt: skip
    return flags.astype(np.uint8)


def slow_updates(plan: Plan, d: Draws, t: int, sch: Schedule, st: MarketState,
                 cons0: F) -> None:
    """Expansion outside the controller, substitution and recycling (in place).

    Expansion grows by at most ``ramp * world volume / 12`` per month while the incentive
    price (market or floor) is above base, at full speed at ``ramp_thr`` x base, and shrinks
    below base; substitution grows by ``rate * g(p_s)`` per year up to its cap and never
    reverts; recycled supply grows by ``rec_rate * consumption`` per year driven by a slow
    average price.
    """
    dt = plan.dt
    nr = plan.q0.shape[1]
    px = np.exp(np.maximum(st.x, sch.floor[None]))
    thr = d.ramp_thr[:, None, None]
    up = np.clip((px - 1.0) / (thr - 1.0), 0.0, 1.0)
    down = np.clip((1.0 - px) / (1.0 - 1.0 / thr), 0.0, 1.0)
    rate = d.ramp[:, None, None] * plan.volume[None, :, None] * plan.ramp_weight[None, :, :nr]
    st.ramp = np.maximum(st.ramp + rate * (up - down) * dt / 12.0, 0.0)
    st.xs = st.xs + _smooth(dt, d.tau_s) * (st.x - st.xs)
    g_s = np.clip((np.exp(st.xs) - 1.0) / (d.sub_thr[:, None, None] - 1.0), 0.0, 1.0)
    st.sigma = np.minimum(st.sigma + d.sub_rate[:, None, None] * g_s * dt / 12.0,
                          d.sub_cap[:, None, None])
    st.xr = st.xr + _smooth(dt, d.tau_r) * (st.x - st.xr)
    g_r = np.clip((np.exp(st.xr) - 1.0) / (d.sub_thr[:, None, None] - 1.0), 0.0, 1.0)
    st.rec = st.rec + d.rec_rate[:, None, None] * cons0[None] * g_r * dt / 12.0


# --------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------


def _trimmed(plan: Plan) -> Plan:
    """The plan with segment arrays cut to the live segments (a scenario without named
    targets runs two segments: a third less work)."""
    nr = plan.n_regions
    if nr == 3:
        return plan
    restr = tuple(
        replace(r, regs=r.regs[:nr], reach_base=r.reach_base[:, :nr]) for r in plan.restrictions
    )
    outs = tuple(replace(o, weight=o.weight[:, :nr]) for o in plan.outages)
    dems = tuple(replace(dc, mask=dc.mask[:, :nr]) for dc in plan.demands)
    return replace(
        plan, q0=plan.q0[:, :nr], d0=plan.d0[:, :nr], f0=plan.f0[:, :nr, :nr],
        p0_region=plan.p0_region[:, :nr], ramp_weight=plan.ramp_weight[:, :nr],
        release=plan.release[..., :nr], log_floor=plan.log_floor[..., :nr],
        log_wedge=plan.log_wedge[..., :nr], proj_cap=plan.proj_cap[..., :nr],
        cross_border=plan.cross_border[:, :nr], restrictions=restr, outages=outs,
        demands=dems,
    )  # fmt: skip


def _blocks(plan: Plan) -> Blocks:
    """(materials, live sectors) of each kind: element and mineral markets, then magnets.

    Materials of a kind are contiguous in the baseline's order (elements, minerals,
    products), so each block is a slice and its arrays are views; only sectors with demand
    (and the magnet makers' sector) are computed.
    """
    out = []
    live = plan.d0.sum(axis=(0, 1)) > 0
    for idx, extra in ((plan.el, plan.kmag if plan.pr.size else -1), (plan.pr, -1)):
        if idx.size == 0:
            continue
        if not np.array_equal(idx, np.arange(idx[0], idx[-1] + 1)):
            raise ValueError("materials of one kind must be contiguous in the baseline")
        used = plan.d0[idx].sum(axis=(0, 1)) > 0
        ks = np.flatnonzero(used & live | (np.arange(live.size) == extra))
        out.append((_span(idx), ks))
    return tuple(out)


def _by_block(eps: F, blocks: Blocks) -> list[F]:
    """Elasticities (D, M, K) cut into the live sectors of each kind, (k, D, m, 1) each."""
    return [np.ascontiguousarray(np.moveaxis(eps[:, ms][..., ks], -1, 0))[..., None]
            for ms, ks in blocks]


def _demand(plan: Plan, sch: Schedule, st: MarketState, planned: F, eps_k: list[F],
            blocks: Blocks) -> tuple[SectorArrays, SectorArrays]:
    """Base-price demand and demand at the going price by sector [t/month], on the live
    sectors of each kind (``eps_k`` the elasticities of :func:`_by_block`).

    Sectors: baseline demand x demand changes x (1 - substitution); the magnet makers'
    element demand is recipe x planned magnet output x (1 - substitution). Demand at the
    price multiplies by ``exp(eps x)``.
    """
    k = plan.kmag
    els = _span(plan.el)
    base, at_price = [], []
    for (ms, ks), e in zip(blocks, eps_k, strict=True):
        keep = 1.0 - st.sigma[:, ms]
        d0 = np.moveaxis(plan.d0[ms][..., ks], -1, 0)[:, None]  # (k, 1, m, R)
        b = d0 * np.moveaxis(sch.dm[:, ms][..., ks], -1, 0) * keep
        if ms == els and plan.pr.size and k in ks:
            recipe = plan.recipe[np.ix_(plan.el, plan.pr)]  # (E, P)
            need = np.matmul(recipe, planned)  # (D, E, R)
            b[int(np.flatnonzero(ks == k)[0])] = need * keep
        base.append(b)
        at_price.append(b * np.exp(e * st.x[:, ms]))
    return SectorArrays(blocks, tuple(base)), SectorArrays(blocks, tuple(at_price))


def run_plan(
    plan: Plan,
    d: Draws,
    *,
    progress: Callable[[int], None] | None = None,
    out: RunArrays | None = None,
    mat_index: NDArray[np.intp] | None = None,
) -> RunArrays:
    """Run a compiled plan for one chunk of draws (vectorised over draws and segments).

    Parameters
    ----------
    plan : Plan
        Compiled scenario.
    d : Draws
        Parameter draws of this chunk.
    progress : callable, optional
        Called with 1 after each step.
    out : RunArrays, optional
        Preallocated arrays with exactly ``d.n`` draws (views into a larger result) to
        write into instead of allocating.
    mat_index : numpy.ndarray, optional
        Positions of the plan's materials in ``out`` (when ``out`` holds more materials,
        e.g. markets without volume that are not simulated).
    """
    full = plan
    plan = _trimmed(plan)
    nr = plan.n_regions
    nd, nm, nt, nk = d.n, plan.q0.shape[0], plan.n_steps, plan.d0.shape[2]
    dt = plan.dt
    el, pr = plan.el, plan.pr
    ra = out if out is not None else RunArrays.empty(nd, nt, nm, nk, len(plan.redirects))
    mi: Any = slice(None) if mat_index is None else mat_index
    runs = _runs(mat_index, nm)
    d0_tot = plan.d0.sum(axis=2)
    st = MarketState.initial(d0_tot, d.cover_user, d.cover_trader, d.budget)
    magnets = np.broadcast_to(plan.q0[pr][None], (nd, pr.size, nr)).copy()
    f0_pr = plan.f0[pr]  # last step's net magnet imports [t/month], baseline at the start
    mag_imports = np.broadcast_to((f0_pr.sum(axis=1) - f0_pr.sum(axis=2))[None],
                                  (nd, pr.size, nr)).copy()
    eps = material_elasticities(plan, d)
    x_cap = np.log(d.backstop[:, mi])[:, :, None]  # drawn for every baseline material
    blocks = _blocks(plan)
    eps_k = _by_block(eps, blocks)
    e1_k = [1.0 + e for e in eps_k]
    cost = np.zeros((nd, nm, nr))
    short_k = [np.zeros((ks.size, nd, ms.stop - ms.start, nr)) for ms, ks in blocks]
    _put(ra.inventory0[..., :nr], runs, st.user + st.trader)
    ore_stock = [np.zeros((nd, nm)) for _ in plan.redirects]  # redirected ore waiting [t]
    if nr < 3:  # the empty targets segment stays at its base price, without flows
        ra.price[:, :, mi, nr:] = full.p0_region[None, None, :, nr:]
    for t in range(nt):
        sch = shocks_in_force(plan, d, t, st)
        planned = planned_magnet_output(plan, d, t, sch, st, eps, mag_imports)
        base, demand_k = _demand(plan, sch, st, planned, eps_k, blocks)
        demand = demand_k.total()
        prod = production(plan, d, t, sch, st)
        prod[:, _span(pr)] = magnets
        if plan.redirects:
            red = redirect_flows(plan, d, t, prod, ore_stock)
            if ra.redirect is not None:
                ra.redirect[:, t] = red
        users_want, traders_want = desired_stocks(d, demand, sch.signal, st.x, st.xe)
        need, gap_need, orders = import_need(d, st, demand, users_want + traders_want,
                                             d0_tot, dt)
        want = trade_wanted(plan, d, sch, st, prod, orders)
        allowed, by_quota = licensing(plan, d, t, st, need, want, gap_need)
        normal = need * plan.f0[None, :, 0, :]
        flows, legal, st.licensed = ship(d, want, allowed, by_quota, st, prod, normal, dt,
                                         sch.block)
        use_budgets(plan, t, st, legal)
        imports = (_sum_short(flows, 2) - _sum_short(flows, 3)) * dt
        mag_imports = imports[:, _span(pr)] / dt
        held = sch.block * prod * dt
        inflow = prod * dt - held + imports + sch.release[None]
        buy = np.minimum(state_purchases(d, st, demand, dt),
                         np.maximum(st.trader + inflow, 0.0))
        st.state += buy
        st.blocked += held
        cons_k, lost = buy_and_consume(d, st, inflow - buy, demand_k, users_want, dt)
        if el.size and pr.size:
            magnets = couple_magnets(plan, planned, eps, st, cons_k, demand_k, dt)
        elif pr.size:
            magnets = planned
        free = sch.block <= 0  # output held by a de-minimis rule returns when it lapses
        st.trader = np.where(free, st.trader + st.blocked, st.trader)
        st.blocked = np.where(free, 0.0, st.blocked)
        flags = form_prices(d, st, users_want + traders_want,
                            price_floor(plan, sch, st, plan.t_mid[t]), x_cap, dt)
        base_dt = base.scaled(dt)
        short = SectorArrays(blocks, tuple(
            np.maximum(b - c, 0.0) for b, c in zip(base_dt.parts, cons_k.parts, strict=True)))
        for acc, s in zip(short_k, short.parts, strict=True):
            acc += s
        cost += _cs_loss(st.x, e1_k, plan.p0_region, base_dt)
        slow_updates(plan, d, t, sch, st, d0_tot)
        rows = {
            "price": plan.p0_region[None] * np.exp(st.x),
            "supply": prod,
            "consumption": cons_k.total() / dt,
            "imports": imports / dt,
            "exports_controller": _controller_exports(legal),
            "inventory": st.user + st.trader + st.state + st.blocked,
            "backlog": st.backlog.sum(axis=0),
            "shortfall": short.total() / dt,
            "lost": lost / dt,
            "desired": base.total(),
        }
        for name, val in rows.items():
            _put(getattr(ra, name)[:, t, :, :nr], runs, val)
        _put(ra.flags[:, t, :, :nr], runs, flags)
        if progress is not None:
            progress(1)
    _put(ra.shortfall_sector[:, :, :nr], runs, SectorArrays(blocks, tuple(short_k)).dense(nk))
    _put(ra.cost[..., :nr], runs, cost)
    return ra


def _runs(mat_index: NDArray[np.intp] | None, nm: int) -> list[tuple[slice, slice]]:
    """Runs of consecutive material positions: (positions in the plan, positions in the
    output) pairs of slices, so writes into the output are plain strided copies."""
    if mat_index is None:
        return [(slice(0, nm), slice(0, nm))]
    cuts = np.flatnonzero(np.diff(mat_index) != 1) + 1
    bounds = zip(np.r_[0, cuts], np.r_[cuts, mat_index.size], strict=True)
    return [(slice(int(a), int(b)), slice(int(mat_index[a]), int(mat_index[b - 1]) + 1))
            for a, b in bounds]


def _put(dest: NDArray[Any], runs: list[tuple[slice, slice]], val: NDArray[Any]) -> None:
    """Write ``val`` (D, M', R, ...) into ``dest`` (D, M, R, ...) at the material runs of
    :func:`_runs`, one segment at a time (twice as fast as a copy whose innermost axis is
    the two or three segments)."""
    for r in range(val.shape[2]):
        for src, dst in runs:
            dest[:, dst, r] = val[:, src, r]


def _controller_exports(legal: F) -> F:
    """The controller's legal shipments by destination segment, the total in column 0
    [t/month]."""
    out = legal.copy()
    out[:, :, 0] = _sum_short(out, 2)
    return out


def _cs_loss(x: F, e1_k: list[F], p0: F, base: SectorArrays) -> F:
    """Consumer-surplus loss against the base price, per (D, M, R) [USD].

    For isoelastic demand ``q = A (p/p0)^eps`` the loss from ``p0`` to ``p`` is
    ``A p0 ((p/p0)^(1+eps) - 1)/(1+eps)``; ``A`` is the base-price demand in the step [t],
    ``p0`` the segment's base price [USD/kg]; ``e1_k`` is ``1 + eps`` on the elasticities of
    :func:`_by_block`.
    """
    loss = np.zeros(x.shape)
    for (ms, _), e1, b in zip(base.blocks, e1_k, base.parts, strict=True):
        g = np.expm1(e1 * x[:, ms])  # (k, D, m, R)
        safe = np.abs(e1) >= 1e-9
        if safe.all():
            g /= e1
        else:
            g /= np.where(safe, e1, 1.0)
            np.copyto(g, x[:, ms], where=~safe)
        np.sum(b * g, axis=0, out=loss[:, ms])
    return np.asarray(loss * p0[None] * 1000.0)
