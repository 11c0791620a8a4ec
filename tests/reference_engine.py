"""Reference implementation of the disruption engine: plain loops, scalar maths.

The same model as :func:`oreflow.simulate.engine.run_plan`, written as a loop over draws,
steps, materials and segments, with scalar functions and :func:`scipy.optimize.brentq` for
every root (the vectorised engine uses its own safeguarded Newton). Kept deliberately
simple and slow; the tests check that both agree on small cases to numerical tolerance.
It shares only the compiled schedule (:class:`Plan`) and the sampled parameters
(:class:`Draws`) with the engine.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from oreflow.simulate.state import Draws, Plan, RunArrays

INF = math.inf


# --------------------------------------------------------------------------------------
# Scalar market of one material
# --------------------------------------------------------------------------------------


class Segment:
    """Demand terms of one segment: sectors, inventory behaviour, own production, supply."""

    def __init__(self, a, eps, stock, floor, target, kb, ks, eta, k, q, theta, fixed):
        self.a = list(a)
        self.eps = list(eps)
        self.stock, self.floor, self.gap = stock, floor, max(target - floor, 0.0)
        self.kb, self.ks, self.eta, self.k = kb, ks, eta, k
        self.q, self.theta, self.fixed = q, theta, fixed

    def purchase(self, x):
        desired = self.floor + self.gap * math.exp(-self.eta * max(x - self.k, 0.0))
        d = desired - self.stock
        return (self.kb if d >= 0 else self.ks) * d

    def production(self, x):
        return self.q * math.exp(self.theta * min(x, 0.0))

    def consumption(self, x):
        return [ai * math.exp(ei * x) for ai, ei in zip(self.a, self.eps, strict=True)]

    def excess(self, x):
        return sum(self.consumption(x)) + self.purchase(x) - self.production(x) - self.fixed

    def empty(self):
        return sum(self.a) + self.gap + self.stock + self.q + abs(self.fixed) <= 0


def inverse(seg, target, x_lo, x_hi, x0=0.0):
    """x with seg.excess(x) == target (excess is non-increasing), clamped to the bounds."""

    def h(x):
        return seg.excess(x) - target

    if h(x0) == 0.0:
        return x0
    if h(x_lo) <= 0:
        return x_lo
    if h(x_hi) >= 0:
        return x_hi
    return brentq(h, x_lo, x_hi, xtol=1e-15, rtol=1e-15, maxiter=500)


def clear_one(segs, fixed, lw, cap, cap_nt, x_lo, x_hi, x0=(0.0, 0.0, 0.0)):
    """Equilibrium of one material's three segments.

    Returns prices x[3], imports[3], consumption per sector [3][J], production[3] and
    stock change[3].
    """
    capped_n = math.isfinite(cap[1])
    capped_t = math.isfinite(cap[2])
    nt_open = not capped_n
    # T's two sources when N is open: C at wedge lw[2] (cap k_t), N's own output at lw[1]
    k_t = cap[2] if capped_t else INF
    k_nt = max(cap_nt, 0.0)
    if lw[2] <= lw[1]:
        (lwa, ka), (lwb, kb) = (lw[2], k_t), (lw[1], k_nt)
    else:
        (lwa, ka), (lwb, kb) = (lw[1], k_nt), (lw[2], k_t)
    neg = -1e300
    has_n, has_t = not segs[1].empty(), not segs[2].empty()
    qn = inverse(segs[1], cap[1], x_lo, x_hi, x0[1]) if capped_n and has_n else neg
    q1 = (inverse(segs[2], ka, x_lo, x_hi, x0[2])
          if nt_open and math.isfinite(ka) and has_t else neg)  # fmt: skip
    q2 = (inverse(segs[2], ka + kb, x_lo, x_hi, x0[2])
          if nt_open and math.isfinite(ka + kb) and has_t else neg)  # fmt: skip
    qt = inverse(segs[2], k_t, x_lo, x_hi, x0[2]) if capped_t and capped_n and has_t else neg
    k_tot_t = ka + kb if nt_open else k_t

    def followers(xc):
        xn = max(xc + lw[1], qn)
        if nt_open:
            ca, cb = xc + lwa, xc + lwb
            # staircase: source a at ca up to ka, then source b at cb up to kb
            if q1 <= ca:
                xst = ca
            elif q1 <= cb:
                xst = q1
            elif q2 <= cb:
                xst = cb
            else:
                xst = q2
            xt = max(xst, xn)
        else:
            xt = max(xc + lw[2], qt)
        return min(xn, x_hi), min(xt, x_hi)

    def imports(xc):
        xn, xt = followers(xc)
        imp_n = min(segs[1].excess(xn), cap[1])
        imp_t = min(segs[2].excess(xt), k_tot_t)
        return xn, xt, imp_n, imp_t

    def g(xc):
        _, _, imp_n, imp_t = imports(xc)
        return -segs[0].excess(xc) - imp_n - imp_t

    if g(x0[0]) == 0.0:
        xc = x0[0]
    elif g(x_lo) >= 0:
        xc = x_lo
    elif g(x_hi) <= 0:
        xc = x_hi
    else:
        xc = brentq(g, x_lo, x_hi, xtol=1e-15, rtol=1e-15, maxiter=500)
    xn, xt, imp_n, imp_t = imports(xc)
    xs = [xc, xn, xt]
    imp = [-(imp_n + imp_t), imp_n, imp_t]
    cons = [segs[r].consumption(xs[r]) for r in range(3)]
    prod = [segs[r].production(xs[r]) for r in range(3)]
    inv_buy = [segs[r].purchase(xs[r]) for r in range(3)]
    supply = [fixed[r] + prod[r] for r in range(3)]
    at_hi = [x >= x_hi for x in xs]
    if any(at_hi):
        cons, imp = ration(
            xs, lw, nt_open, cons, imp, inv_buy, supply, at_hi, [math.isfinite(c) for c in cap]
        )
    stock = [supply[r] + imp[r] - sum(cons[r]) for r in range(3)]
    return xs, imp, cons, prod, stock


def ration(xs, lw, nt_open, cons, imp, inv_buy, supply, at_hi, capped):
    """Rationing at the price ceiling (same rules as the engine, written plainly)."""
    x, xn, xt = xs
    link_n = at_hi[1] and xn >= x + lw[1] - 1e-12 and not capped[1]
    if nt_open:
        link_t = at_hi[2] and xt >= x + min(lw[2], lw[1]) - 1e-12
    else:
        link_t = at_hi[2] and xt >= x + lw[2] - 1e-12
    link_t = link_t and not capped[2]
    pool = [at_hi[0], link_n and at_hi[0], link_t and at_hi[0]]
    tot = [sum(c) for c in cons]
    buy = [max(v, 0.0) for v in inv_buy]
    rel = [min(v, 0.0) for v in inv_buy]
    imp = list(imp)
    pool_avail = 0.0
    pool_dem = 0.0
    need = 0.0
    for r in range(3):
        if pool[r]:
            pool_avail += supply[r] - rel[r]
            pool_dem += tot[r] + buy[r]
        elif at_hi[0]:
            pool_avail -= min(imp[r], 0.0)
            need += max(imp[r], 0.0)
    g = min(max(pool_avail / need, 0.0), 1.0) if need > 0 else 1.0
    for r in range(3):
        if not pool[r] and at_hi[0] and imp[r] > 0:
            imp[r] *= g
    pool_avail -= need * g
    f_pool = min(max(pool_avail / pool_dem, 0.0), 1.0) if pool_dem > 0 else 1.0
    new_cons = []
    fs = []
    for r in range(3):
        if pool[r]:
            f = f_pool
        elif at_hi[r]:
            avail = supply[r] - rel[r] + imp[r]
            dem = tot[r] + buy[r]
            f = min(max(avail / dem, 0.0), 1.0) if dem > 0 else 1.0
        else:
            f = 1.0
        fs.append(f)
        new_cons.append([c * f for c in cons[r]])
    new_imp = list(imp)
    for r in (1, 2):
        if pool[r]:
            new_imp[r] = sum(new_cons[r]) + buy[r] * fs[r] + rel[r] - supply[r]
    new_imp[0] = -(new_imp[1] + new_imp[2])
    return new_cons, new_imp


# --------------------------------------------------------------------------------------
# The run, one draw at a time
# --------------------------------------------------------------------------------------


def outage_intensity(tm, start, end, recovery):
    """Share of an outage in force at month ``tm``, written from the spec (docs/engine.md)
    as a trapezoid, independently of the engine's code: 0 before ``start``, 1 until ``end``,
    then a straight line down to 0 over ``recovery`` months."""
    if not start <= tm:
        return 0.0
    after_end = tm - end
    if after_end < 0:
        return 1.0
    if recovery <= 0:
        return 0.0
    return max(0.0, 1.0 - after_end / recovery)


def schedule(plan: Plan, d: Draws, i_draw: int, t: int, bind):
    """Shocks in force in step t for one draw, as nested lists [m][r]."""
    b = plan.baseline
    nm = b.n_materials
    tm = plan.t_mid[t]
    share = [[INF] * 3 for _ in range(nm)]
    signal = [[0.0] * 3 for _ in range(nm)]
    block = [[0.0] * 3 for _ in range(nm)]
    leak = [1.0] * nm
    for i, rs in enumerate(plan.restrictions):
        for m in range(nm):
            for r in range(3):
                if not (rs.mats[m] and rs.regs[r]):
                    continue
                if rs.ann <= tm < min(rs.eff, rs.end):
                    signal[m][r] = max(signal[m][r], 1.0 - rs.mean_approval)
                if rs.eff <= tm < rs.end:
                    if tm < rs.eff + d.lag[i_draw, i]:
                        sh = 0.0
                    elif math.isnan(d.quota[i_draw, i]):
                        sh = d.approval[i_draw, i]
                    else:
                        sh = d.quota[i_draw, i] / max(rs.quota_base, 1e-300)
                    share[m][r] = min(share[m][r], sh)
                    if bind[m][r] and sh > 0:
                        signal[m][r] = max(signal[m][r], 1.0 - sh)
                    if rs.deminimis:
                        reach = d.reach[i_draw, i]
                        rch = rs.reach_base[m][r] if math.isnan(reach) else reach
                        cbd = d.cross_border[i_draw]
                        cbx = plan.cross_border[m][r] if math.isnan(cbd) else cbd
                        block[m][r] = max(block[m][r], rch * cbx * (1.0 - sh))
                        if r == 2 and rs.regs[2] and not rs.regs[1]:
                            rch_n = rs.reach_base[m][1] if math.isnan(reach) else reach
                            leak[m] = min(leak[m], 1.0 - rch_n * (1.0 - sh))
    loss = [[0.0] * 3 for _ in range(nm)]
    for j, o in enumerate(plan.outages):
        inten = outage_intensity(tm, o.start, o.end, o.recovery)
        if inten == 0.0:
            continue
        sj = d.outage_share[i_draw, j] * inten
        for m in range(nm):
            for r in range(3):
                loss[m][r] += sj * o.weight[m][r]
                signal[m][r] = max(signal[m][r], sj * o.world[m])
    out = [[min(max(1.0 - loss[m][r], 0.0), 1.0) for r in range(3)] for m in range(nm)]
    nk = len(b.sectors)
    dm = [[[1.0] * nk for _ in range(3)] for _ in range(nm)]
    for j, dc in enumerate(plan.demands):
        if tm < dc.start or (tm >= dc.end and not dc.persist):
            continue
        f = (1.0 + d.dem_level[i_draw, j]) * (1.0 + d.dem_growth[i_draw, j]) ** (
            (min(tm, dc.end) - dc.start) / 12.0
        )
        for m in range(nm):
            for r in range(3):
                for k in range(nk):
                    dm[m][r][k] *= 1.0 + (f - 1.0) * dc.mask[m][r][k]
    return share, signal, block, leak, out, dm


def run_reference(plan: Plan, d: Draws) -> RunArrays:
    """Run the plan draw by draw; returns the same arrays as the engine."""
    b = plan.baseline
    nd, nm, nt = d.n, b.n_materials, plan.n_steps
    nk = len(b.sectors)
    dt = plan.dt
    el = [int(i) for i in plan.el]
    pr = [int(i) for i in plan.pr]
    k_el = [int(k) for k in plan.k_el]
    k_pr = [int(k) for k in plan.k_pr]
    kmag = plan.kmag
    q0, d0, p0 = plan.q0, plan.d0, plan.p0
    shp = (nd, nt, nm, 3)
    res = {
        k: np.zeros(shp, np.float32)
        for k in ("price", "supply", "cons", "imp", "inv", "short", "des")
    }
    inv0_all = np.zeros((nd, nm, 3), np.float32)
    cost = np.zeros((nd, nm, 3))
    short_cum = np.zeros((nd, nm, 3, nk))
    for i in range(nd):
        cover = d.cover[i]
        # per-material elasticities: magnet makers by the Hicks-Marshall rule
        eps_m = []
        for m in range(nm):
            row = list(d.eps[i])
            if m in el and kmag >= 0 and k_pr:
                s_e = plan.input_share[m]
                sigma = -d.eps[i][kmag]
                row[kmag] = -(s_e * abs(d.eps[i][k_pr[0]]) + (1.0 - s_e) * sigma)
            eps_m.append(row)
        eta = d.eta[i]
        theta = d.sup_el[i]
        kap = 1.0 - (1.0 - d.kappa[i]) ** dt
        kap_s = 1.0 - (1.0 - d.kappa_sell[i]) ** dt
        a_e = 1.0 - math.exp(-dt / d.tau_e[i])
        a_s = 1.0 - math.exp(-dt / d.tau_s[i])
        a_r = 1.0 - math.exp(-dt / d.tau_r[i])
        cons0 = [[sum(d0[m][r]) for r in range(3)] for m in range(nm)]
        inv = [[cover * cons0[m][r] for r in range(3)] for m in range(nm)]
        inv0_all[i] = np.array(inv)
        ramp_x = [[0.0] * 3 for _ in range(nm)]
        blocked = [[0.0] * 3 for _ in range(nm)]
        sigma = [[0.0] * 3 for _ in range(nm)]
        rec = [[0.0] * 3 for _ in range(nm)]
        xe = [[0.0] * 3 for _ in range(nm)]
        xs = [[0.0] * 3 for _ in range(nm)]
        xr = [[0.0] * 3 for _ in range(nm)]
        bind = [[False] * 3 for _ in range(nm)]
        xprev = [[0.0] * 3 for _ in range(nm)]
        flow = [0.0] * nm
        for t in range(nt):
            share, signal, block, leak, out_f, dm = schedule(plan, d, i, t, bind)
            tm = plan.t_mid[t]
            proj = [[0.0] * 3 for _ in range(nm)]
            for j in range(plan.proj_cap.shape[0]):
                frac = min(max((tm - d.proj_start[i, j]) / d.proj_ramp[i], 0.0), 1.0)
                for m in range(nm):
                    for r in range(3):
                        proj[m][r] += frac * plan.proj_cap[j][m][r]
            base = [[[d0[m][r][k] * dm[m][r][k] * (1.0 - sigma[m][r]) * dt for k in range(nk)]
                     for r in range(3)] for m in range(nm)]  # fmt: skip
            cons_base = [[sum(base[m][r]) / dt for r in range(3)] for m in range(nm)]
            prod0 = [[((q0[m][r] + ramp_x[m][r]) * out_f[m][r] + proj[m][r] + rec[m][r]) * dt
                      for r in range(3)] for m in range(nm)]  # fmt: skip
            flo = [[d.floor_months[i] * cons_base[m][r] for r in range(3)] for m in range(nm)]
            tgt = [[max(cover * cons_base[m][r] * (1.0 + d.hoard[i] * signal[m][r]), flo[m][r])
                    for r in range(3)] for m in range(nm)]  # fmt: skip
            # product demand index (world, base price) and magnet makers' plans
            plan_out = {}
            cap_pr = {}
            for p in pr:
                tot0 = sum(d0[p][r][k] for r in range(3) for k in range(nk))
                cur = sum(d0[p][r][k] * dm[p][r][k] * (1.0 - sigma[p][r])
                          for r in range(3) for k in range(nk))  # fmt: skip
                idx = cur / tot0 if tot0 > 0 else 1.0
                for r in range(3):
                    resp = math.exp(theta * xe[p][r])
                    plan_out[p, r] = q0[p][r] * idx * out_f[p][r] * resp
                    cap = ((q0[p][r] + ramp_x[p][r]) * out_f[p][r] + proj[p][r]) * dt
                    cap_pr[p, r] = cap * max(resp, 1.0)
            q_pr = {(p, r): min(cap_pr[p, r], plan_out[p, r] * dt) for p in pr for r in range(3)}
            xlog = [[0.0] * 3 for _ in range(nm)]
            prod = [[0.0] * 3 for _ in range(nm)]
            cons_tot = [[0.0] * 3 for _ in range(nm)]
            imp = [[0.0] * 3 for _ in range(nm)]
            d_inv = [[0.0] * 3 for _ in range(nm)]
            des = [[0.0] * 3 for _ in range(nm)]
            short = [[0.0] * 3 for _ in range(nm)]
            blk = [[0.0] * 3 for _ in range(nm)]
            buy = {}
            need = {}
            for m in el:
                for r in range(3):
                    for p in pr:
                        need[m, r, p] = (plan.recipe[m][p] * plan_out[p, r] * dt
                                         * (1.0 - sigma[m][r]))  # fmt: skip
            # ---- element markets, one material at a time
            for m in el:
                sec = []
                for r in range(3):
                    row = []
                    for k in k_el:
                        if k == kmag and pr:
                            row.append(sum(need[m, r, p] for p in pr))
                        else:
                            row.append(base[m][r][k])
                    sec.append(row)
                xsol, impm, cons, _prod, stock, flow[m] = _solve(
                    plan, t, m, sec, [eps_m[m][k] for k in k_el], prod0[m], theta, block[m],
                    inv[m], tgt[m], flo[m], xe[m], share[m], leak[m], kap, kap_s, eta,
                    xprev[m], flow[m],
                )  # fmt: skip
                for r in range(3):
                    xlog[m][r] = xsol[r]
                    p_el = prod0[m][r] * math.exp(theta * min(xsol[r], 0.0))
                    blk[m][r] = block[m][r] * p_el
                    prod[m][r] = p_el
                    imp[m][r] = impm[r]
                    d_inv[m][r] = stock[r]
                    cons_tot[m][r] = sum(cons[r])
                    des[m][r] = sum(sec[r])
                    for jj, k in enumerate(k_el):
                        sh = max(sec[r][jj] - cons[r][jj], 0.0)
                        short[m][r] += sh
                        short_cum[i, m, r, k] += sh
                        cost[i, m, r] += _cs(xsol[r], eps_m[m][k], p0[m], sec[r][jj])
                    if kmag in k_el:
                        buy[m, r] = cons[r][k_el.index(kmag)]
            # ---- magnet output from inputs (stage coupling)
            if pr and kmag in k_el:
                for r in range(3):
                    for p in pr:
                        fill_p = INF
                        for m in el:
                            if plan.recipe[m][p] > 0:
                                nt_ = sum(need[m, r, pp] for pp in pr)
                                f = buy[m, r] / nt_ if nt_ > 0 else INF
                                fill_p = min(fill_p, f)
                        if not math.isfinite(fill_p):
                            fill_p = 1.0
                        q_pr[p, r] = max(min(cap_pr[p, r], plan_out[p, r] * dt * fill_p), 0.0)
                    for m in el:
                        used = sum(plan.recipe[m][p] * q_pr[p, r] for p in pr) * (1.0 - sigma[m][r])
                        used = min(used, buy[m, r])
                        left = buy[m, r] - used
                        d_inv[m][r] += left
                        cons_tot[m][r] -= left
            # ---- magnet markets
            for p in pr:
                sec = [[base[p][r][k] for k in k_pr] for r in range(3)]
                q = [q_pr[p, r] for r in range(3)]
                xsol, impm, cons, _, stock, flow[p] = _solve(
                    plan, t, p, sec, [eps_m[p][k] for k in k_pr], q, 0.0, block[p], inv[p],
                    tgt[p], flo[p], xe[p], share[p], leak[p], kap, kap_s, eta, xprev[p], flow[p],
                )  # fmt: skip
                for r in range(3):
                    xlog[p][r] = xsol[r]
                    prod[p][r] = q[r]
                    blk[p][r] = block[p][r] * q[r]
                    imp[p][r] = impm[r]
                    d_inv[p][r] = stock[r]
                    cons_tot[p][r] = sum(cons[r])
                    des[p][r] = sum(sec[r])
                    for jj, k in enumerate(k_pr):
                        sh = max(sec[r][jj] - cons[r][jj], 0.0)
                        short[p][r] += sh
                        short_cum[i, p, r, k] += sh
                        cost[i, p, r] += _cs(xsol[r], eps_m[p][k], p0[p], sec[r][jj])
            # ---- state updates
            for m in range(nm):
                for r in range(3):
                    inv[m][r] = max(inv[m][r] + d_inv[m][r], 0.0)
                    blocked[m][r] += blk[m][r]
                    if block[m][r] <= 0:
                        inv[m][r] += blocked[m][r]
                        blocked[m][r] = 0.0
                    x = xlog[m][r]
                    px = math.exp(max(x, plan.log_floor[t][m][r]))
                    thr = d.ramp_thr[i]
                    up = min(max((px - 1.0) / (thr - 1.0), 0.0), 1.0)
                    down = min(max((1.0 - px) / (1.0 - 1.0 / thr), 0.0), 1.0)
                    rate = d.ramp[i] * plan.volume[m] * plan.ramp_weight[m][r]
                    ramp_x[m][r] = max(ramp_x[m][r] + rate * (up - down) * dt / 12.0, 0.0)
                    xs[m][r] += a_s * (x - xs[m][r])
                    gs = min(max((math.exp(xs[m][r]) - 1.0) / (d.sub_thr[i] - 1.0), 0.0), 1.0)
                    sigma[m][r] = min(sigma[m][r] + d.sub_rate[i] * gs * dt / 12.0, d.sub_cap[i])
                    xr[m][r] += a_r * (x - xr[m][r])
                    gr = min(max((math.exp(xr[m][r]) - 1.0) / (d.sub_thr[i] - 1.0), 0.0), 1.0)
                    rec[m][r] += d.rec_rate[i] * cons0[m][r] * gr * dt / 12.0
                    xe[m][r] += a_e * (x - xe[m][r])
                    bind[m][r] = math.isfinite(share[m][r]) and (
                        x > xlog[m][0] + plan.log_wedge[t][m][r] + 1e-6
                    )
                    xprev[m][r] = x
                    res["price"][i, t, m, r] = p0[m] * math.exp(x)
                    res["supply"][i, t, m, r] = prod[m][r] / dt
                    res["cons"][i, t, m, r] = cons_tot[m][r] / dt
                    res["imp"][i, t, m, r] = imp[m][r] / dt
                    res["inv"][i, t, m, r] = inv[m][r] + blocked[m][r]
                    res["short"][i, t, m, r] = short[m][r] / dt
                    res["des"][i, t, m, r] = des[m][r] / dt
    return RunArrays(
        price=res["price"],
        supply=res["supply"],
        consumption=res["cons"],
        imports=res["imp"],
        inventory=res["inv"],
        shortfall=res["short"],
        desired=res["des"],
        inventory0=inv0_all,
        cost=cost,
        shortfall_sector=short_cum,
    )


def _solve(
    plan,
    t,
    m,
    sec,
    eps,
    prod0,
    theta,
    block,
    inv,
    tgt,
    flo,
    xe,
    share,
    leak,
    kap,
    kap_s,
    eta,
    xprev,
    flow,
):
    """One material's market in one step for one draw (plain scalar code)."""
    dt = plan.dt
    caps = []
    for r in range(3):
        caps.append(share[r] * plan.x0flow[m][r] * dt if math.isfinite(share[r]) else INF)
    # lagged arbitrage between two capped destination segments
    k_nt = leak * (1.0 - block[1]) * prod0[1]
    if math.isfinite(caps[1]) and math.isfinite(caps[2]):
        gap = xprev[2] - xprev[1]
        band = 0.1
        target = k_nt * min(max(gap / band, 0.0), 1.0) - (1.0 - block[2]) * prod0[2] * min(
            max(-gap / band, 0.0), 1.0
        )
        flow = flow + 0.5 * (target - flow)
    else:
        flow = 0.0
    moved = [0.0, -flow, flow]
    segs = []
    fixed = []
    for r in range(3):
        fx = plan.release[t][m][r] + moved[r]
        fixed.append(fx)
        segs.append(
            Segment(
                sec[r],
                eps,
                inv[r],
                flo[r],
                tgt[r],
                kap,
                kap_s,
                eta,
                xe[r],
                (1.0 - block[r]) * prod0[r],
                theta,
                fx,
            )
        )
    lw = [plan.log_wedge[t][m][r] for r in range(3)]
    xs, imp, cons, prod, stock = clear_one(
        segs, fixed, lw, caps, k_nt, plan.x_lo, plan.x_hi, tuple(xprev)
    )
    imp = [imp[r] + moved[r] for r in range(3)]
    return xs, imp, cons, prod, stock, flow


def _cs(x, e, p0, a):
    """Consumer-surplus loss of one sector in one step [USD]."""
    g = x if abs(1.0 + e) < 1e-9 else math.expm1((1.0 + e) * x) / (1.0 + e)
    return a * g * p0 * 1000.0
