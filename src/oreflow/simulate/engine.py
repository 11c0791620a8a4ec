"""The monthly disruption engine, vectorised over Monte Carlo draws.

:func:`run_plan` advances a :class:`~oreflow.simulate.scenario.Scenario` and a
:class:`~oreflow.simulate.baseline.Baseline` into a :class:`~oreflow.simulate.result.Result`.
State arrays have shape (draws, materials, 3 segments); the only Python loops in a step run
over shocks and the two magnet products, never over draws or segments.

One step of ``dt`` months (see ``docs/engine.md`` for the equations):

1. Shocks in force at the step midpoint: export-restriction caps (zero during the licence lag,
   then ``approval x baseline flow``), de-minimis blocking of non-controller output,
   outages carried downstream by origin shares, demand changes, stockpile releases, price
   floors, tariffs; a precautionary-hoarding signal from announced or binding controls and
   outages.
2. Element supply: baseline output plus the bounded non-controller ramp, times outage factors,
   plus pipeline projects and recycling.
3. Element markets clear (:func:`oreflow.simulate.market.clear`): isoelastic demand by sector,
   magnet makers' derived demand, an inventory term with a floor and a hoarding target.
4. Magnet output per segment is the minimum over its elements of purchased input / content
   (stage coupling); unused inputs go to stock. Magnet markets clear.
5. Substitution/thrifting, recycling, expectations and the ramp update.

Mass balance holds in every step and segment:
``production + imports + stockpile release = consumption + stock change`` (no losses are
modelled; see :func:`mass_balance_residual`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .market import ClearingResult, MarketInputs, clear
from .state import Draws, Plan, RunArrays

__all__ = ["material_elasticities", "run_plan"]

F = NDArray[np.float64]


def _ema(dt: float, tau: F) -> F:
    return np.asarray(1.0 - np.exp(-dt / tau))


def _step_schedule(plan: Plan, d: Draws, t: int, bind: NDArray[np.bool_]) -> dict[str, Any]:
    """Shocks in force in step ``t`` for a chunk of draws (see module docstring)."""
    tm = plan.t_mid[t]
    nd = d.n
    nm = plan.baseline.n_materials
    nr = plan.q0.shape[1]
    share = np.full((nd, nm, nr), np.inf)
    signal = np.zeros((nd, nm, nr))
    block = np.zeros((nd, nm, nr))
    leak = np.ones((nd, nm))
    for i, r in enumerate(plan.restrictions):
        mr = r.mats[:, None] & r.regs[None, :]  # (nm, nr)
        if r.ann <= tm < min(r.eff, r.end):
            signal = np.maximum(signal, np.where(mr, 1.0 - r.mean_approval, 0.0)[None])
        if r.eff <= tm < r.end:
            in_lag = tm < r.eff + d.lag[:, i]
            granted = np.where(
                np.isnan(d.quota[:, i]), d.approval[:, i], d.quota[:, i] / max(r.quota_base, 1e-300)
            )
            sh = np.where(in_lag, 0.0, granted)[:, None, None]  # (nd, 1, 1)
            share = np.where(mr[None], np.minimum(share, sh), share)
            # precautionary buying where some licensed flow exists and the cap binds
            signal = np.maximum(signal, np.where(mr[None] & bind & (sh > 0), 1.0 - sh, 0.0))
            if r.deminimis:
                reach = d.reach[:, i]
                rch = np.where(
                    np.isnan(reach)[:, None, None], r.reach_base[None], reach[:, None, None]
                )
                cbx = np.where(
                    np.isnan(d.cross_border)[:, None, None],
                    plan.cross_border[None],
                    d.cross_border[:, None, None],
                )
                block = np.maximum(block, np.where(mr[None], rch * cbx * (1.0 - sh), 0.0))
                if nr == 3 and r.regs[2] and not r.regs[1]:
                    lk = 1.0 - rch[:, :, 1] * (1.0 - sh[:, :, 0])
                    leak = np.where(r.mats[None, :], np.minimum(leak, lk), leak)
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
        loss = loss + sj * o.weight[None]
        signal = np.maximum(signal, (sj[:, :, 0] * o.world[None, :])[:, :, None])
    out_factor = np.clip(1.0 - loss, 0.0, 1.0)
    dm: F = np.ones((1, nm, nr, len(plan.baseline.sectors)))
    for j, dc in enumerate(plan.demands):
        if tm < dc.start or (tm >= dc.end and not dc.persist):
            continue
        years = (min(tm, dc.end) - dc.start) / 12.0
        f = (1.0 + d.dem_level[:, j]) * (1.0 + d.dem_growth[:, j]) ** years
        dm = dm * (1.0 + (f[:, None, None, None] - 1.0) * dc.mask[None])
    return {
        "share": share,
        "signal": signal,
        "block": block,
        "leak": leak,
        "out": out_factor,
        "dm": dm,
    }


def _projects(plan: Plan, d: Draws, t: int) -> F:
    if plan.proj_cap.shape[0] == 0:
        return np.zeros((1, plan.baseline.n_materials, plan.q0.shape[1]))
    tm = plan.t_mid[t]
    frac = np.clip((tm - d.proj_start) / d.proj_ramp[:, None], 0.0, 1.0)  # (D, P)
    return np.asarray(np.einsum("dp,pmr->dmr", frac, plan.proj_cap))


def _trimmed(plan: Plan) -> Plan:
    """The plan with segment arrays cut to the live segments (drops an empty targets
    segment, so two-segment scenarios do a third less work)."""
    nr = plan.n_regions
    if nr == 3:
        return plan
    restr = tuple(
        replace(r, regs=r.regs[:nr], reach_base=r.reach_base[:, :nr]) for r in plan.restrictions
    )
    outs = tuple(replace(o, weight=o.weight[:, :nr]) for o in plan.outages)
    dems = tuple(replace(dc, mask=dc.mask[:, :nr]) for dc in plan.demands)
    return replace(
        plan,
        q0=plan.q0[:, :nr],
        d0=plan.d0[:, :nr],
        x0flow=plan.x0flow[:, :nr],
        ramp_weight=plan.ramp_weight[:, :nr],
        release=plan.release[..., :nr],
        gov0=plan.gov0[:, :nr],
        log_floor=plan.log_floor[..., :nr],
        log_wedge=plan.log_wedge[..., :nr],
        proj_cap=plan.proj_cap[..., :nr],
        cross_border=plan.cross_border[:, :nr],
        restrictions=restr,
        outages=outs,
        demands=dems,
    )


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
    if k >= 0 and plan.el.size and plan.k_pr.size:
        sigma = -d.eps[:, k][:, None]  # (D, 1)
        e_mag = np.abs(d.eps[:, plan.k_pr[0]])[:, None]
        s = plan.input_share[plan.el][None, :]
        eps[:, plan.el, k] = -(s * e_mag + (1.0 - s) * sigma)
    return np.asarray(eps)


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

    Returns
    -------
    RunArrays
    """
    full = plan
    plan = _trimmed(plan)
    nr = plan.n_regions
    b = plan.baseline
    nd, nm, nt = d.n, b.n_materials, plan.n_steps
    nk = len(b.sectors)
    dt = plan.dt
    el, pr, k_el, k_pr, kmag = plan.el, plan.pr, plan.k_el, plan.k_pr, plan.kmag
    nel, npr = el.size, pr.size
    # index elements and products by slices (views, no copies) when they are contiguous
    sel: Any = slice(int(el[0]), int(el[-1]) + 1) if nel and np.all(np.diff(el) == 1) else el
    spr: Any = slice(int(pr[0]), int(pr[-1]) + 1) if npr and np.all(np.diff(pr) == 1) else pr
    q0, d0, p0 = plan.q0, plan.d0, plan.p0
    cons0 = d0.sum(axis=2)  # (M, 3) t/month
    recipe_ep = plan.recipe[np.ix_(el, pr)]  # (E, P)
    jm = int(np.flatnonzero(k_el == kmag)[0]) if kmag >= 0 and kmag in k_el else -1
    # state
    ramp_x = np.zeros((nd, nm, nr))  # non-controller expansion [t/month]
    inv = d.cover[:, None, None] * cons0[None]
    inv0 = inv.copy()
    blocked = np.zeros((nd, nm, nr))
    sigma = np.zeros((nd, nm, nr))
    rec = np.zeros((nd, nm, nr))
    xe = np.zeros((nd, nm, nr))
    xs = np.zeros((nd, nm, nr))
    xr = np.zeros((nd, nm, nr))
    xprev = np.zeros((nd, nm, nr))
    bind = np.zeros((nd, nm, nr), dtype=bool)
    flow = np.zeros((nd, nm))  # N -> T sales between capped segments [t per step]
    # outputs
    ra = out if out is not None else RunArrays.empty(nd, nt, nm, nk)
    mi: Any = slice(None) if mat_index is None else mat_index
    # consecutive runs of output positions: (source slice, destination slice) pairs
    runs: list[tuple[slice, slice]] = [(slice(None), slice(None))]
    if mat_index is not None:
        runs = []
        start = 0
        for k in range(1, len(mat_index) + 1):
            if k == len(mat_index) or mat_index[k] != mat_index[k - 1] + 1:
                runs.append(
                    (slice(start, k), slice(int(mat_index[start]), int(mat_index[k - 1]) + 1))
                )
                start = k
    if nr < 3:  # the empty segment: base price, no flows
        for arr in (ra.supply, ra.consumption, ra.imports, ra.inventory, ra.shortfall, ra.desired):
            arr[..., nr:] = 0.0
        ra.price[:, :, mi, nr:] = full.p0[None, None, :, None]
        ra.inventory0[..., nr:] = 0.0
        ra.cost[..., nr:] = 0.0
        ra.shortfall_sector[:, :, nr:] = 0.0
    out_ = {
        "price": ra.price[..., :nr],
        "supply": ra.supply[..., :nr],
        "cons": ra.consumption[..., :nr],
        "imp": ra.imports[..., :nr],
        "inv": ra.inventory[..., :nr],
        "short": ra.shortfall[..., :nr],
        "des": ra.desired[..., :nr],
    }
    cost = np.zeros((nd, nm, nr))
    a_e = _ema(dt, d.tau_e)[:, None, None]
    a_s = _ema(dt, d.tau_s)[:, None, None]
    a_r = _ema(dt, d.tau_r)[:, None, None]
    kap = (1.0 - (1.0 - d.kappa) ** dt)[:, None, None]
    kap_s = (1.0 - (1.0 - d.kappa_sell) ** dt)[:, None, None]
    eta = d.eta[:, None, None]
    eps = material_elasticities(plan, d)  # (D, M, K)
    theta = d.sup_el[:, None, None]
    iters = 0
    # baseline demand by kind and sector [t/month]
    d0_el = d0[sel][..., k_el]  # (E, 3, Je)
    d0_pr = d0[spr][..., k_pr]  # (P, 3, Jp)
    short_el = np.zeros((nd, nel, nr, k_el.size))
    short_pr = np.zeros((nd, npr, nr, k_pr.size))
    for t in range(nt):
        sch = _step_schedule(plan, d, t, bind)
        out_f = sch["out"]
        dm = sch["dm"]
        block = sch["block"]
        proj = _projects(plan, d, t)
        # desired (base-price) demand by sector after substitution [t per step]
        keep = (1.0 - sigma)[..., None] * dt
        base_el = d0_el[None] * dm[:, sel][..., k_el] * keep[:, sel]  # (D, E, 3, Je)
        base_pr = d0_pr[None] * dm[:, spr][..., k_pr] * keep[:, spr]  # (D, P, 3, Jp)
        cons_base = np.empty((nd, nm, nr))
        cons_base[:, sel] = base_el.sum(axis=-1) / dt
        cons_base[:, spr] = base_pr.sum(axis=-1) / dt
        # own output at the base price [t per step]; cut below base within the clearing
        prod0 = ((q0[None] + ramp_x) * out_f + proj + rec) * dt
        # inventory target (raised by the hoarding signal) and floor [t]
        flo = d.floor_months[:, None, None] * cons_base
        tgt = d.cover[:, None, None] * cons_base * (1.0 + d.hoard[:, None, None] * sch["signal"])
        tgt = np.maximum(tgt, flo)
        xlog = np.empty((nd, nm, nr))
        prod = np.empty((nd, nm, nr))
        cons_tot = np.empty((nd, nm, nr))
        imp = np.empty((nd, nm, nr))
        d_inv = np.empty((nd, nm, nr))
        des = np.empty((nd, nm, nr))
        short_t = np.empty((nd, nm, nr))
        blk = np.zeros((nd, nm, nr))
        # magnet makers plan output on world demand and the expected magnet price
        resp_pr = np.exp(theta * xe[:, spr])
        plan_out = (
            q0[None][:, spr]
            * _product_index(d0, dm, sigma, pr, spr)[:, :, None]
            * out_f[:, spr]
            * resp_pr
        )
        cap_pr = ((q0[None][:, spr] + ramp_x[:, spr]) * out_f[:, spr] + proj[:, spr]) * dt
        cap_pr = cap_pr * np.maximum(resp_pr, 1.0)
        q_pr = np.minimum(cap_pr, plan_out * dt)
        # ---- element markets --------------------------------------------------------
        if nel:
            keep_e = 1.0 - sigma[:, sel]
            po = np.swapaxes(plan_out * dt, 1, 2)  # (D, 3, P)
            need_p = [recipe_ep[None, :, None, p] * po[:, None, :, p] * keep_e for p in range(npr)]
            need_tot = _add(need_p, (nd, nel, nr))  # (D, E, 3)
            sec_el = base_el
            if jm >= 0 and npr:
                sec_el[..., jm] = need_tot
            res = _clear_kind(
                plan, d, t, sel, (plan.g_el, plan.gc_el), sec_el, prod0[:, sel], theta,
                block[:, sel], inv[:, sel], tgt[:, sel], flo[:, sel], xe[:, sel], xprev[:, sel],
                sch, kap, kap_s, eta, eps[:, sel], flow[:, sel],
            )  # fmt: skip
            flow[:, sel] = res.flow  # type: ignore[attr-defined]
            iters = max(iters, res.iterations)
            cons_el = res.consumption  # (D, E, 3, Je)
            d_inv_el = res.stock_change
            cons_el_tot = _add([cons_el[..., j] for j in range(cons_el.shape[-1])], (nd, nel, nr))
            p_el = prod0[:, sel] * np.exp(theta * np.minimum(res.x, 0.0))
            blk[:, sel] = block[:, sel] * p_el
            prod[:, sel] = p_el
            # magnet output: minimum over inputs of purchase / content (stage coupling)
            if npr and jm >= 0:
                buy = cons_el[..., jm]  # (D, E, 3)
                fill = np.divide(buy, need_tot, out=np.full_like(buy, np.inf), where=need_tot > 0)
                used = np.zeros((nd, nel, nr))
                for p in range(npr):
                    uses = recipe_ep[:, p] > 0
                    fp = fill[:, uses].min(axis=1) if uses.any() else np.ones((nd, nr))
                    fp = np.where(np.isfinite(fp), fp, 1.0)  # (D, 3)
                    q_pr[:, p] = np.maximum(np.minimum(cap_pr[:, p], plan_out[:, p] * dt * fp), 0.0)
                    used += recipe_ep[None, :, None, p] * q_pr[:, p][:, None, :]
                used *= keep_e
                used = np.minimum(used, buy)
                leftover = buy - used
                d_inv_el = d_inv_el + leftover
                cons_el_tot = cons_el_tot - leftover
            xlog[:, sel] = res.x
            cons_tot[:, sel] = cons_el_tot
            imp[:, sel] = res.imports
            d_inv[:, sel] = d_inv_el
            des[:, sel] = _add([sec_el[..., j] for j in range(sec_el.shape[-1])], (nd, nel, nr))
            sh = np.maximum(sec_el - cons_el, 0.0)
            short_el += sh
            short_t[:, sel] = _add([sh[..., j] for j in range(sh.shape[-1])], (nd, nel, nr))
            cost[:, sel] += _cs_loss(res.x, eps[:, sel][..., k_el], p0[sel], sec_el)
        # ---- magnet markets ---------------------------------------------------------
        if npr:
            res = _clear_kind(
                plan, d, t, spr, (plan.g_pr, plan.gc_pr), base_pr, q_pr, np.zeros_like(theta),
                block[:, spr], inv[:, spr], tgt[:, spr], flo[:, spr], xe[:, spr], xprev[:, spr],
                sch, kap, kap_s, eta, eps[:, spr], flow[:, spr],
            )  # fmt: skip
            flow[:, spr] = res.flow  # type: ignore[attr-defined]
            iters = max(iters, res.iterations)
            xlog[:, spr] = res.x
            prod[:, spr] = q_pr
            blk[:, spr] = block[:, spr] * q_pr
            cons_tot[:, spr] = _add(
                [res.consumption[..., j] for j in range(res.consumption.shape[-1])], (nd, npr, nr)
            )
            imp[:, spr] = res.imports
            d_inv[:, spr] = res.stock_change
            des[:, spr] = _add([base_pr[..., j] for j in range(base_pr.shape[-1])], (nd, npr, nr))
            sh = np.maximum(base_pr - res.consumption, 0.0)
            short_pr += sh
            short_t[:, spr] = _add([sh[..., j] for j in range(sh.shape[-1])], (nd, npr, nr))
            cost[:, spr] += _cs_loss(res.x, eps[:, spr][..., k_pr], p0[spr], base_pr)
        # ---- state updates ----------------------------------------------------------
        inv = inv + d_inv
        if np.any(inv < -1e-6 * (1.0 + inv0)):
            raise FloatingPointError("negative inventory: mass balance broken")
        inv = np.maximum(inv, 0.0)
        blocked = blocked + blk
        free = block <= 0
        inv = np.where(free, inv + blocked, inv)
        blocked = np.where(free, 0.0, blocked)
        x = xlog
        # bounded ramp of non-controller output (incentive: market price or floor)
        px = np.exp(np.maximum(x, plan.log_floor[t][None]))
        thr = d.ramp_thr[:, None, None]
        up = np.clip((px - 1.0) / (thr - 1.0), 0.0, 1.0)
        down = np.clip((1.0 - px) / (1.0 - 1.0 / thr), 0.0, 1.0)
        rate = d.ramp[:, None, None] * plan.volume[None, :, None] * plan.ramp_weight[None]
        ramp_x = np.maximum(ramp_x + rate * (up - down) * dt / 12.0, 0.0)
        # substitution and thrifting (irreversible, capped)
        xs = xs + a_s * (x - xs)
        g_s = np.clip((np.exp(xs) - 1.0) / (d.sub_thr[:, None, None] - 1.0), 0.0, 1.0)
        sigma = np.minimum(
            sigma + d.sub_rate[:, None, None] * g_s * dt / 12.0, d.sub_cap[:, None, None]
        )
        # slow recycling response
        xr = xr + a_r * (x - xr)
        g_r = np.clip((np.exp(xr) - 1.0) / (d.sub_thr[:, None, None] - 1.0), 0.0, 1.0)
        rec = rec + d.rec_rate[:, None, None] * cons0[None] * g_r * dt / 12.0
        # expectations; which caps bound
        xe = xe + a_e * (x - xe)
        bind = np.isfinite(sch["share"]) & (x > x[..., :1] + plan.log_wedge[t][None] + 1e-6)
        xprev = x
        # record (monthly rates)
        for key, val in (
            ("price", p0[None, :, None] * np.exp(x)),
            ("supply", prod / dt),
            ("cons", cons_tot / dt),
            ("imp", imp / dt),
            ("inv", inv + blocked),
            ("short", short_t / dt),
            ("des", des / dt),
        ):
            dest = out_[key][:, t]
            for src, dst in runs:
                dest[:, dst] = val[:, src]
        if progress is not None:
            progress(1)
    short_cum = np.zeros((nd, nm, nr, nk))
    if nel:
        tmp = np.zeros((nd, nel, nr, nk))
        tmp[..., k_el] = short_el
        short_cum[:, sel] = tmp
    if npr:
        tmp = np.zeros((nd, npr, nr, nk))
        tmp[..., k_pr] = short_pr
        short_cum[:, spr] = tmp
    dest4 = ra.shortfall_sector[:, :, :nr]
    dest4[:, mi] = short_cum
    dest_inv = ra.inventory0[..., :nr]
    dest_inv[:, mi] = inv0
    dest_cost = ra.cost[..., :nr]
    dest_cost[:, mi] = cost
    ra.iterations = max(ra.iterations, iters)
    return ra


def _add(parts: list[F], shape: tuple[int, ...]) -> F:
    """Sum of a short list of arrays (faster than a reduction over a tiny last axis)."""
    if not parts:
        return np.zeros(shape)
    out = np.array(parts[0], dtype=np.float64, copy=True)
    for p in parts[1:]:
        out += p
    return out


def _product_index(d0: F, dm: F, sigma: F, pr: NDArray[np.intp], spr: Any) -> F:
    """World demand index of each product at the base price (1 at baseline), (D, P)."""
    if pr.size == 0:
        return np.ones((sigma.shape[0], 0))
    base = d0[spr].sum(axis=(1, 2))  # (P,)
    cur = (d0[None, spr] * dm[:, spr] * (1.0 - sigma[:, spr])[..., None]).sum(axis=(2, 3))
    return np.asarray(np.divide(cur, base[None], out=np.ones_like(cur), where=base[None] > 0))


#: Log-price gap at which the lagged N<->T arbitrage moves all available own output.
ARB_BAND = 0.1


def _clear_kind(
    plan: Plan,
    d: Draws,
    t: int,
    idx: Any,
    groups: tuple[F, NDArray[np.intp]],
    sec: F,
    prod0: F,
    theta: F,
    block: F,
    inv: F,
    tgt: F,
    flo: F,
    xe: F,
    xprev: F,
    sch: dict[str, Any],
    kap: F,
    kap_sell: F,
    eta: F,
    eps: F,
    transfer: F,
) -> ClearingResult:
    """Assemble and solve the market problem for one kind of material (elements/products).

    Terms: consumption sectors ``sec`` (isoelastic; sectors sharing an elasticity draw are
    cleared as one term and split back in proportion); the inventory term
    ``kappa (target - floor) exp(-eta max(x - xe, 0))`` (restock to target at most, sell when
    the price exceeds expectations; buying closes kap, selling kap_sell of the gap per step);
    own output net of blocked output
    ``(1 - block) prod0 exp(theta min(x, 0))`` (cuts below the base price). The returned
    consumption is per sector.
    """
    nd, nm, nr = d.n, sec.shape[1], sec.shape[2]
    gmat, gcol = groups
    share = sch["share"][:, idx]
    fin = np.isfinite(share)
    cap = np.where(fin, np.where(fin, share, 0.0) * plan.x0flow[None, idx] * plan.dt, np.inf)
    ident = gmat.shape[0] == gmat.shape[1] and np.array_equal(gmat, np.eye(gmat.shape[0]))
    a_g = sec if ident else sec @ gmat  # (D, m, 3, G)
    rel = np.broadcast_to(plan.release[t][idx][None], (nd, nm, nr))
    # lagged arbitrage between two capped destination segments: N's own output may go to T
    # (and T's to N) towards the higher price, adjusting halfway each step
    k_nt = sch["leak"][:, idx] * (1.0 - block[:, :, 1]) * prod0[:, :, 1]
    moved = np.zeros((nd, nm, nr))
    flow = np.zeros((nd, nm))
    if nr == 3:
        both = np.isfinite(cap[..., 1]) & np.isfinite(cap[..., 2])
        k_tn = (1.0 - block[:, :, 2]) * prod0[:, :, 2]
        gap = xprev[..., 2] - xprev[..., 1]
        target = k_nt * np.clip(gap / ARB_BAND, 0.0, 1.0) - k_tn * np.clip(
            -gap / ARB_BAND, 0.0, 1.0
        )
        flow = np.where(both, transfer + 0.5 * (target - transfer), 0.0)
        moved[..., 1] = -flow
        moved[..., 2] = flow
    fixed = rel + moved
    inp = MarketInputs(
        a=a_g,
        eps=eps[..., gcol][:, :, None, :],
        stock=inv,
        floor=flo,
        target=tgt,
        kap_buy=kap,
        kap_sell=kap_sell,
        inv_eta=eta,
        inv_kink=xe,
        prod=(1.0 - block) * prod0,
        theta=theta,
        fixed_supply=fixed,
        log_wedge=np.broadcast_to(plan.log_wedge[t][idx][None], (nd, nm, nr)),
        cap=cap,
        cap_nt=k_nt,
        x0=xprev,
        x_lo=plan.x_lo,
        x_hi=plan.x_hi,
    )
    res = clear(inp)
    res.imports = res.imports + moved  # record N<->T sales as trade
    res.flow = flow  # type: ignore[attr-defined]
    if not ident:
        ratio = np.divide(
            res.consumption, a_g, out=np.zeros_like(a_g), where=a_g > 0
        )  # (D, m, 3, G)
        res.consumption = sec * (ratio @ gmat.T)
    return res


def _cs_loss(x: F, eps: F, p0: F, sec: F) -> F:
    """Consumer-surplus loss against the base price, per (D, M, 3) [USD].

    For isoelastic demand ``q = A (p/p0)^eps`` the loss from ``p0`` to ``p`` is
    ``A p0 ((p/p0)^(1+eps) - 1)/(1+eps)``; ``A`` is the base-price demand in the step.
    """
    e1 = 1.0 + eps[:, :, None, :]  # (D, m, 1, J)
    z = e1 * x[..., None]
    safe = np.abs(e1) >= 1e-9
    g = np.where(safe, np.expm1(z) / np.where(safe, e1, 1.0), x[..., None])
    loss = sec * g
    loss *= p0[None, :, None, None] * 1000.0
    return np.asarray(loss.sum(axis=-1))
