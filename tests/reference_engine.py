"""Reference implementation of the disruption engine: plain loops, scalar maths.

Written from ``docs/engine.md`` section 4 (not from ``oreflow/simulate/engine.py``, which it
does not import): one Python loop over draws, steps, materials and segments, with ``math``
on floats and no array arithmetic over those axes. It shares with the vectorised engine only
the compiled schedule (:class:`~oreflow.simulate.state.Plan`: dates, masks, baseline rates)
and the sampled parameters (:class:`~oreflow.simulate.state.Draws`). Slow by design; the
tests compare it with :func:`oreflow.simulate.engine.run_plan` on small cases.

Where section 4 is silent, the choice made here is marked ``DOC SILENT`` in a comment;
where it is ambiguous, ``DOC AMBIGUOUS`` (the reading taken is then the engine's). Four
places where doc and engine first disagreed (the share ``l`` counting leaked shipments, a
quota share capped at the requirement, the magnet stock ratio with no stock left, the clip
of the trade price gap) were settled in the doc (docs/engine.md section 4) and are followed
here.
"""

from __future__ import annotations

import math

import numpy as np

from oreflow.simulate.state import (
    FLAG_BACKSTOP,
    FLAG_FLOOR,
    FLAG_STOCK_GUARD,
    Draws,
    Plan,
    Restriction,
    RunArrays,
)

INF = math.inf
#: Section 5 constants.
TRADE_MAX = 3.0
STATE_BAND = 0.1
LOG_FLOOR = math.log(0.1)
STOCK_GUARD = 0.01
PIN_TOL = 1e-9


def _smooth(dt: float, tau: float) -> float:
    """Share of a gap closed in one step by first-order smoothing (time constant tau)."""
    return 1.0 - math.exp(-dt / tau)


def _clip(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)


class _Par:
    """The sampled parameters of one draw as Python floats."""

    def __init__(self, d: Draws, i: int, backstop_cols: list[int]) -> None:
        f = float
        self.eps = [f(v) for v in d.eps[i]]
        self.backstop = [f(d.backstop[i, j]) for j in backstop_cols]
        for name in (
            "cover_user", "cover_trader", "tau_u", "hoard", "spec", "alpha", "tau_p", "tau_e",
            "tau_c", "beta", "divert", "leak", "leak_quota", "kappa_q", "k0", "k1", "tau_k",
            "tau_cap", "sup_el",
            "theta_c", "g_state",
            "delta_state", "ramp", "ramp_thr", "sub_rate", "sub_cap", "sub_thr", "tau_s",
            "rec_rate", "tau_r", "proj_ramp", "cross_border",
        ):  # fmt: skip
            setattr(self, name, f(getattr(d, name)[i]))
        self.proj_start = [f(v) for v in d.proj_start[i]]
        self.lag = [f(v) for v in d.lag[i]]
        self.approval = [[f(v) for v in a[i]] for a in d.approval]
        self.quota = [f(v) for v in d.quota[i]]
        self.budget = [f(v) for v in d.budget[i]]
        self.denied = [f(v) for v in d.denied[i]]
        self.general = [f(v) for v in d.general[i]]
        self.reach = [f(v) for v in d.reach[i]]
        self.outage_share = [f(v) for v in d.outage_share[i]]
        self.dem_level = [f(v) for v in d.dem_level[i]]
        self.dem_growth = [f(v) for v in d.dem_growth[i]]


def _grid(nm: int, nr: int, v: float = 0.0) -> list[list[float]]:
    return [[v] * nr for _ in range(nm)]


def _short(plan: Plan, rs: Restriction, left: float, tm: float) -> float:
    """Share of the normal (baseline) exports a window quota covers to its end that what is
    left of it cannot cover (4.8; DOC AMBIGUOUS: "normal exports" read as the baseline
    flows, the months to its end at least one step as for the quota's rate)."""
    nr = int(plan.n_regions)
    normal = 0.0
    for m in range(plan.q0.shape[0]):
        for r in range(nr):
            if rs.mats[m] and rs.regs[r]:
                normal += float(plan.f0[m, 0, r])
    need = normal * max(rs.end - tm, plan.dt)  # months to its end, at least a step
    return _clip(1.0 - left / need, 0.0, 1.0) if need > 0 else 0.0


def run_reference(
    plan: Plan,
    draws: Draws,
    *,
    mat_index: list[int] | None = None,
) -> RunArrays:
    """Run ``plan`` for every draw with scalar loops; returns float64 :class:`RunArrays`.

    ``mat_index`` gives the column of each plan material in ``draws.backstop`` when the
    draws were sampled on a larger baseline (as :func:`oreflow.simulate.simulate` does for
    markets without volume). Segments beyond ``plan.n_regions`` stay at their base price
    with zero flows (a scenario without named targets runs two segments).
    """
    b = plan.baseline
    nm = len(b.materials)
    nk = len(b.sectors)
    nt = plan.n_steps
    nr = int(plan.n_regions)
    nd = draws.n
    dt = float(plan.dt)
    el = [int(i) for i in plan.el]
    pr = [int(i) for i in plan.pr]
    kmag = int(plan.kmag)
    sectors = list(b.sectors)
    # the magnet demand elasticity: the first sector of magnet users (DOC SILENT on which)
    kprod = next((k for k, s in enumerate(sectors) if k != kmag and s != "other_uses"), -1)
    cols = list(range(nm)) if mat_index is None else [int(j) for j in mat_index]

    # plain nested lists of the baseline (t/month)
    q0 = [[float(plan.q0[m, r]) for r in range(nr)] for m in range(nm)]
    d0 = [[[float(plan.d0[m, r, k]) for k in range(nk)] for r in range(nr)] for m in range(nm)]
    d0t = [[sum(d0[m][r]) for r in range(nr)] for m in range(nm)]
    f0 = [[[float(plan.f0[m, i, j]) for j in range(nr)] for i in range(nr)] for m in range(nm)]
    p0 = [[float(plan.p0_region[m, r]) for r in range(nr)] for m in range(nm)]
    recipe = [[float(plan.recipe[e, p]) for p in range(nm)] for e in range(nm)]
    cshare = [[float(plan.cost_share[e, p]) for p in range(nm)] for e in range(nm)]
    # s_e: the element's cost share in the magnet (DOC AMBIGUOUS: the largest over magnets)
    s_in = [max((cshare[e][p] for p in pr), default=0.0) for e in range(nm)]
    # expansion: world volume [t/month] shared over the non-controller producers
    volume = [sum(q0[m]) for m in range(nm)]
    wramp = _grid(nm, nr)
    for m in range(nm):
        tot = sum(q0[m][r] for r in range(1, nr))
        for r in range(1, nr):
            wramp[m][r] = q0[m][r] / tot if tot > 0 else 0.0

    shp = (nd, nt, nm, 3)
    out = {name: np.zeros(shp) for name in RunArrays.PATHS}
    flags_out = np.zeros(shp, np.uint8)
    inv0 = np.zeros((nd, nm, 3))
    cost_out = np.zeros((nd, nm, 3))
    short_sec = np.zeros((nd, nm, 3, nk))
    for m in range(nm):
        for r in range(nr, 3):
            out["price"][:, :, m, r] = float(plan.p0_region[m, r])

    for di in range(nd):
        p = _Par(draws, di, cols)
        # elasticity per material and sector (4.3, Hicks-Marshall for magnet makers)
        eps = [list(p.eps) for _ in range(nm)]
        if kmag >= 0 and el and pr and kprod >= 0:
            sig_in = -p.eps[kmag]
            e_mag = abs(p.eps[kprod])
            for e in el:
                eps[e][kmag] = -(s_in[e] * e_mag + (1.0 - s_in[e]) * sig_in)
        x_cap = [math.log(p.backstop[m]) for m in range(nm)]
        # state
        x, xe, xs, xr = _grid(nm, nr), _grid(nm, nr), _grid(nm, nr), _grid(nm, nr)
        U = [[p.cover_user * d0t[m][r] for r in range(nr)] for m in range(nm)]
        V = [[p.cover_trader * d0t[m][r] for r in range(nr)] for m in range(nm)]
        G, B = _grid(nm, nr), _grid(nm, nr)
        Q = [_grid(nm, nr) for _ in plan.restrictions]
        Qg = [_grid(nm, nr) for _ in plan.restrictions]  # the gap part of Q [t]
        pinned = [[False] * nr for _ in range(nm)]  # last step's price on its floor
        # window quotas: what is left [t]; tonnage quotas: the rent [USD/kg]
        left = [0.0 if math.isnan(v) else v for v in p.budget]
        rent = [0.0 for _ in plan.restrictions]
        R, rec, sig = _grid(nm, nr), _grid(nm, nr), _grid(nm, nr)
        ell = _grid(nm, nr, 1.0)
        magnets = [[q0[m][r] for r in range(nr)] for m in range(nm)]  # last coupled output
        # last step's net imports [t/month] (4.2), the baseline's before the first step
        # (DOC SILENT: the first step's "last step")
        last_imp = [[sum(f0[m][i][r] for i in range(nr)) - sum(f0[m][r]) for r in range(nr)]
                    for m in range(nm)]  # fmt: skip
        for m in range(nm):
            for r in range(nr):
                inv0[di, m, r] = U[m][r] + V[m][r]
        au = 1.0 - math.exp(-dt / p.tau_u)

        for t in range(nt):
            tm = float(plan.t_mid[t])
            # ---- 4.1 shocks in force --------------------------------------------------
            signal, block = _grid(nm, nr), _grid(nm, nr)
            for i, rs in enumerate(plan.restrictions):
                for m in range(nm):
                    for r in range(nr):
                        if not (rs.mats[m] and rs.regs[r]):
                            continue
                        if rs.ann <= tm < min(rs.eff, rs.end):
                            signal[m][r] = max(signal[m][r], 1.0 - rs.mean_approval)
                        elif rs.eff <= tm < rs.end:
                            signal[m][r] = max(signal[m][r], 1.0 - ell[m][r])
                            if rs.is_budget:  # 4.8: what is left cannot cover to its end
                                signal[m][r] = max(signal[m][r], _short(plan, rs, left[i], tm))
                            if rs.deminimis:
                                reach = p.reach[i]
                                if math.isnan(reach):
                                    reach = float(rs.reach_base[m, r])
                                cb = p.cross_border
                                if math.isnan(cb):
                                    cb = float(plan.cross_border[m, r])
                                block[m][r] = max(block[m][r], reach * cb * (1.0 - ell[m][r]))
            loss = _grid(nm, nr)
            for j, o in enumerate(plan.outages):
                if tm < o.start:
                    continue
                if tm < o.end:
                    inten = 1.0
                elif o.recovery > 0 and tm < o.end + o.recovery:
                    inten = 1.0 - (tm - o.end) / o.recovery
                else:
                    continue
                sh = p.outage_share[j] * inten
                for m in range(nm):
                    for r in range(nr):
                        loss[m][r] += sh * float(o.weight[m, r])
                        signal[m][r] = max(signal[m][r], sh * float(o.world[m]))
            out_f = [[_clip(1.0 - loss[m][r], 0.0, 1.0) for r in range(nr)] for m in range(nm)]
            dm = [[[1.0] * nk for _ in range(nr)] for _ in range(nm)]
            for j, dc in enumerate(plan.demands):
                if tm < dc.start or (tm >= dc.end and not dc.persist):
                    continue
                years = (min(tm, dc.end) - dc.start) / 12.0
                fac = (1.0 + p.dem_level[j]) * (1.0 + p.dem_growth[j]) ** years
                for m in range(nm):
                    for r in range(nr):
                        for k in range(nk):
                            if dc.mask[m, r, k] > 0:
                                dm[m][r][k] *= fac
            release = [[float(plan.release[t, m, r]) for r in range(nr)] for m in range(nm)]
            wedge = [[float(plan.log_wedge[t, m, r]) for r in range(nr)] for m in range(nm)]
            floor = [[float(plan.log_floor[t, m, r]) for r in range(nr)] for m in range(nm)]
            proj = _grid(nm, nr)
            for jp in range(plan.proj_cap.shape[0]):
                # a project failed in this draw starts at +inf: frac 0 (4.4)
                frac = _clip((tm - p.proj_start[jp]) / p.proj_ramp, 0.0, 1.0)
                for m in range(nm):
                    for r in range(nr):
                        proj[m][r] += frac * float(plan.proj_cap[jp, m, r])

            # ---- 4.2 planned magnet output -------------------------------------------
            Y = _grid(nm, nr)
            for pp in pr:
                base = sum(d0t[pp])
                cur = sum(
                    d0[pp][r][k] * dm[pp][r][k] * (1.0 - sig[pp][r])
                    for r in range(nr) for k in range(nk)
                )  # fmt: skip
                index = cur / base if base > 0 else 1.0
                th = p.sup_el  # DOC AMBIGUOUS: theta of 4.2 taken as the supply elasticity
                for r in range(nr):
                    # desired over actual magnet stock (4.5 at this step's signal and prices)
                    dm_at = sum(
                        d0[pp][r][k] * dm[pp][r][k] * (1.0 - sig[pp][r])
                        * math.exp(eps[pp][k] * x[pp][r]) for k in range(nk)
                    )  # fmt: skip
                    fear = 1.0 + p.hoard * signal[pp][r]
                    spec = math.exp(p.spec * _clip(x[pp][r] - xe[pp][r], -1.0, 1.0))
                    s_des = dm_at * fear * (p.cover_user + p.cover_trader * spec)
                    s_now = U[pp][r] + V[pp][r]
                    # a glut cuts: S*/S between 0.5 and 1 (no stock: no cut)
                    ratio = _clip(s_des / s_now, 0.5, 1.0) if s_now > 0 else 1.0
                    normal = q0[pp][r] * index * out_f[pp][r] * math.exp(
                        th * min(xe[pp][r], 0.0))  # fmt: skip
                    # orders the segment's usual suppliers did not fill last step
                    unmet = max(dm_at - normal - last_imp[pp][r], 0.0)
                    refill = max(s_des - s_now, 0.0) * au / dt
                    want = normal * ratio + unmet + refill
                    cap = ((q0[pp][r] + R[pp][r]) * out_f[pp][r] + proj[pp][r]) * max(
                        math.exp(th * xe[pp][r]), 1.0)  # fmt: skip
                    Y[pp][r] = min(cap, want)

            # ---- 4.3 demand ----------------------------------------------------------
            Dref = [[[0.0] * nk for _ in range(nr)] for _ in range(nm)]
            Dk = [[[0.0] * nk for _ in range(nr)] for _ in range(nm)]
            for m in range(nm):
                for r in range(nr):
                    for k in range(nk):
                        if k == kmag and m in el and pr:
                            need = sum(recipe[m][pp] * Y[pp][r] for pp in pr)
                            Dref[m][r][k] = need * (1.0 - sig[m][r])
                        else:
                            Dref[m][r][k] = d0[m][r][k] * dm[m][r][k] * (1.0 - sig[m][r])
                        Dk[m][r][k] = Dref[m][r][k] * math.exp(eps[m][k] * x[m][r])
            D = [[sum(Dk[m][r]) for r in range(nr)] for m in range(nm)]

            # ---- 4.4 production ------------------------------------------------------
            P = _grid(nm, nr)
            for m in range(nm):
                for r in range(nr):
                    if m in pr:
                        P[m][r] = magnets[m][r]
                        continue
                    base = (q0[m][r] + R[m][r]) * out_f[m][r] + proj[m][r] + rec[m][r]
                    if r == 0:  # the controller's quotas: a fall below the expected price
                        resp = math.exp(-p.theta_c * max(xe[m][r] - x[m][r], 0.0))
                    else:  # cuts below base, the expected price raised to a price floor
                        resp = math.exp(p.sup_el * min(max(xe[m][r], floor[m][r]), 0.0))
                    P[m][r] = base * resp

            # ---- 4.5 desired stocks --------------------------------------------------
            Us, Vs = _grid(nm, nr), _grid(nm, nr)
            for m in range(nm):
                for r in range(nr):
                    fear = 1.0 + p.hoard * signal[m][r]
                    Us[m][r] = p.cover_user * D[m][r] * fear
                    spec = math.exp(p.spec * _clip(x[m][r] - xe[m][r], -1.0, 1.0))
                    Vs[m][r] = p.cover_trader * D[m][r] * fear * spec

            # ---- 4.6 trade wanted ----------------------------------------------------
            Fw = [[[0.0] * nr for _ in range(nr)] for _ in range(nm)]
            for m in range(nm):
                for i in range(nr):
                    for j in range(nr):
                        if i == j:
                            continue
                        w = wedge[m][j] if i == 0 else 0.0
                        gap = _clip(x[m][j] - x[m][i] - w, -5.0, 5.0)
                        g = min(math.exp(p.beta * gap), TRADE_MAX)
                        if i != 0 and j != 0:
                            lp = p.divert * P[m][i]
                            Fw[m][i][j] = max(0.0, (f0[m][i][j] + lp) * g - lp)
                        else:
                            Fw[m][i][j] = f0[m][i][j] * g

            # ---- 4.7 licensing -------------------------------------------------------
            # buyers' requirement n [x normal] and normal requirement W = n f0 [t/month]
            W = _grid(nm, nr)
            Wg = _grid(nm, nr)  # the stock-gap part of W [t/month]
            for m in range(nm):
                for r in range(nr):
                    signed = Us[m][r] + Vs[m][r] - U[m][r] - V[m][r]
                    gap = max(signed, 0.0)
                    # DOC SILENT: a segment without baseline demand needs 1 x normal
                    n = (D[m][r] + gap * au / dt) / d0t[m][r] if d0t[m][r] > 0 else 1.0
                    n = _clip(n, 0.0, TRADE_MAX)
                    nd_ = D[m][r] / d0t[m][r] if d0t[m][r] > 0 else 0.0
                    W[m][r] = n * f0[m][0][r]
                    Wg[m][r] = (n - min(nd_, n)) * f0[m][0][r]
                    # 4.6: where the price sat on its floor, imports at most the orders
                    if r > 0 and pinned[m][r]:
                        o = (D[m][r] + signed * au / dt) / d0t[m][r] if d0t[m][r] > 0 else 1.0
                        Fw[m][0][r] = min(Fw[m][0][r], _clip(o, 0.0, TRADE_MAX) * f0[m][0][r])
            allowed = _grid(nm, nr, INF)
            by_quota = [[False] * nr for _ in range(nm)]
            for i, rs in enumerate(plan.restrictions):
                if not (rs.eff <= tm < rs.end):
                    Q[i] = _grid(nm, nr)  # a restriction that ends drops its backlog
                    Qg[i] = _grid(nm, nr)
                    continue
                cells = [(m, r) for m in range(nm) for r in range(nr) if rs.mats[m] and rs.regs[r]]
                if rs.is_quota or rs.is_budget:
                    # Q t/month: the rate, or what is left spread over the months left (DOC
                    # AMBIGUOUS: at least one step, or the last step would ship twice what
                    # is left: the end is inside a step, the step a whole month)
                    months = max(rs.end - tm, dt)
                    qt = p.quota[i] / 12.0 if rs.is_quota else left[i] / months
                    wsum = sum(W[m][r] for m, r in cells)
                    for m, r in cells:  # shared in proportion to W
                        by_quota[m][r] = True
                        cap = qt * W[m][r] / wsum if wsum > 0 else 0.0
                        cap = min(cap, W[m][r])  # each cell at most its requirement
                        allowed[m][r] = min(allowed[m][r], cap)
                    # the rent: p_bar the covered exports' average base price (DOC
                    # AMBIGUOUS: the controller's own base price, weighted by baseline flows)
                    fsum = sum(f0[m][0][r] for m, r in cells)
                    pbar = sum(f0[m][0][r] * p0[m][0] for m, r in cells) / fsum
                    excess = _clip(wsum / qt - 1.0, -1.0, 2.0) if qt > 0 else 2.0
                    rent[i] = max(rent[i] + p.kappa_q * pbar * excess * dt, 0.0)
                    continue
                gl = p.general[i] if tm >= rs.general else 0.0
                since = tm - rs.eff - p.lag[i]
                if since >= 0:
                    kk = p.k1 + (p.k0 - p.k1) * math.exp(-since / p.tau_k)
                    share_decided = 1.0 - math.exp(-kk * dt)
                    built = min(since / p.tau_cap, 1.0)  # the office's capacity, built up
                else:
                    share_decided = 0.0
                    built = 0.0
                col = 0
                for js, start in enumerate(rs.steps):
                    if start <= tm:
                        col = js
                rate = p.approval[i][col] * (1.0 - p.denied[i])
                for m, r in cells:
                    # for missing stock, net of the gap applications still pending
                    new_gap = max(Wg[m][r] - au * Qg[i][m][r] / dt, 0.0) * (1.0 - gl) * dt
                    Q[i][m][r] += (W[m][r] - Wg[m][r]) * (1.0 - gl) * dt + new_gap
                    Qg[i][m][r] += new_gap
                    decided = min(Q[i][m][r] * share_decided,
                                  TRADE_MAX * f0[m][0][r] * built * dt)
                    if Q[i][m][r] > 0:
                        Qg[i][m][r] *= 1.0 - decided / Q[i][m][r]
                    Q[i][m][r] -= decided
                    cap = gl * W[m][r] + decided * rate / dt
                    allowed[m][r] = min(allowed[m][r], cap)

            # ---- 4.8 shipping --------------------------------------------------------
            flows = [[[Fw[m][i][j] for j in range(nr)] for i in range(nr)] for m in range(nm)]
            legal = _grid(nm, nr)
            for m in range(nm):
                for j in range(1, nr):
                    wanted = Fw[m][0][j]
                    if math.isinf(allowed[m][j]):  # no control in force
                        legal[m][j] = wanted
                        ell[m][j] = 1.0
                        continue
                    asked = min(W[m][j], wanted)  # the requirement, at most the wanted flow
                    # of what is held back; under a tonnage quota (a rent on legal
                    # goods) of the requirement itself
                    if by_quota[m][j]:
                        leaked = p.leak_quota * asked
                    else:
                        leaked = p.leak * max(asked - allowed[m][j], 0.0)
                    lg = min(wanted - leaked, allowed[m][j])
                    flows[m][0][j] = lg + leaked
                    legal[m][j] = lg
                    if asked <= 0:
                        ell[m][j] = 1.0
                    else:  # got through, legally or not
                        ell[m][j] = min(flows[m][0][j] / asked, 1.0)
                ell[m][0] = 1.0
                for i in range(nr):
                    shipped = sum(flows[m][i]) * dt
                    avail = max(V[m][i] + P[m][i] * (1.0 - block[m][i]) * dt, 0.0)
                    if shipped > avail:
                        sc = avail / shipped
                        flows[m][i] = [f * sc for f in flows[m][i]]
                        if i == 0:
                            legal[m] = [v * sc for v in legal[m]]
            for i, rs in enumerate(plan.restrictions):  # legal shipments use window quotas
                if rs.is_budget and rs.eff <= tm < rs.end:
                    used = sum(
                        legal[m][r] * dt
                        for m in range(nm) for r in range(nr) if rs.mats[m] and rs.regs[r]
                    )  # fmt: skip
                    left[i] = max(left[i] - used, 0.0)
            imports = [
                [sum(flows[m][i][r] for i in range(nr)) * dt - sum(flows[m][r]) * dt
                 for r in range(nr)]
                for m in range(nm)
            ]  # fmt: skip
            last_imp = [[imports[m][r] / dt for r in range(nr)] for m in range(nm)]

            # ---- 4.9 state purchases, buying and consumption -------------------------
            cons_k = [[[0.0] * nk for _ in range(nr)] for _ in range(nm)]
            lost = _grid(nm, nr)
            for m in range(nm):
                for r in range(nr):
                    held = block[m][r] * P[m][r] * dt
                    inflow = P[m][r] * dt - held + imports[m][r] + release[m][r]
                    buy = 0.0
                    if r == 0:
                        want_g = p.g_state * D[m][0] * dt * _clip(
                            (xe[m][0] - p.delta_state - x[m][0]) / STATE_BAND, 0.0, 1.0
                        )  # fmt: skip
                        # DOC SILENT: the reserve cannot buy more than the market holds
                        buy = min(want_g, max(V[m][r] + inflow, 0.0))
                    G[m][r] += buy
                    B[m][r] += held
                    avail = max(V[m][r] + inflow - buy, 0.0)
                    want_c = D[m][r] * dt
                    wish = max(0.0, want_c + (Us[m][r] - U[m][r]) * au)
                    bought = min(wish, avail)
                    V[m][r] = avail - bought
                    have = U[m][r] + bought
                    cons = min(want_c, have)
                    U[m][r] = have - cons
                    share = cons / want_c if want_c > 0 else 1.0
                    for k in range(nk):
                        cons_k[m][r][k] = Dk[m][r][k] * dt * share
                    lost[m][r] = want_c - cons

            # ---- 4.10 magnet coupling ------------------------------------------------
            if el and pr:
                new_mag = _grid(nm, nr)
                for r in range(nr):
                    used = dict.fromkeys(el, 0.0)
                    for pp in pr:
                        fill = INF
                        for e in el:
                            need = Dk[e][r][kmag] * dt
                            if recipe[e][pp] > 0 and need > 0:
                                fill = min(fill, cons_k[e][r][kmag] / need)
                        fp = 1.0 if math.isinf(fill) else min(fill, 1.0)
                        new_mag[pp][r] = Y[pp][r] * fp
                        for e in el:
                            thrift = (1.0 - sig[e][r]) * math.exp(eps[e][kmag] * x[e][r])
                            used[e] += recipe[e][pp] * thrift * new_mag[pp][r] * dt
                    for e in el:
                        got = cons_k[e][r][kmag]
                        unused = got - min(used[e], got)
                        U[e][r] += unused
                        cons_k[e][r][kmag] = got - unused
                magnets = new_mag
            elif pr:
                magnets = [row[:] for row in Y]
            # DOC SILENT: output held by a de-minimis rule returns to traders when it lapses
            for m in range(nm):
                for r in range(nr):
                    if block[m][r] <= 0:
                        V[m][r] += B[m][r]
                        B[m][r] = 0.0

            # ---- 4.11 prices ---------------------------------------------------------
            # floors of the indicated price, from the prices of the start of the step (DOC
            # AMBIGUOUS: all prices move together): the magnets' unit cost ...
            pfloor = _grid(nm, nr, -INF)
            for pp in pr:
                for r in range(nr):
                    rise = sum(cshare[e][pp] * (math.exp(x[e][r]) - 1.0) for e in el)
                    pfloor[pp][r] = math.log(1.0 + rise)
            # ... and for a segment importing from the controller (DOC AMBIGUOUS: in the
            # baseline) its home price plus the rent of a tonnage quota in force (the
            # largest: DOC SILENT) plus the import wedge
            for m in range(nm):
                for j in range(1, nr):
                    if f0[m][0][j] <= 0:
                        continue
                    pi = 0.0
                    for i, rs in enumerate(plan.restrictions):
                        quota = rs.is_quota or rs.is_budget
                        if quota and rs.eff <= tm < rs.end and rs.mats[m] and rs.regs[j]:
                            pi = max(pi, rent[i])
                    home = p0[m][0] * math.exp(x[m][0])
                    anchor = math.log((home + pi) / p0[m][j]) + wedge[m][j]
                    pfloor[m][j] = max(pfloor[m][j], anchor)
            a_p, a_e = _smooth(dt, p.tau_p), _smooth(dt, p.tau_e)
            revert = math.exp(-dt / p.tau_c)  # the expected price reverts to base
            for m in range(nm):
                for r in range(nr):
                    S = U[m][r] + V[m][r]
                    Ss = Us[m][r] + Vs[m][r]
                    fl = 0
                    if Ss > 0:
                        ratio = Ss / max(S, STOCK_GUARD * Ss)
                        if STOCK_GUARD * Ss > S:
                            fl |= FLAG_STOCK_GUARD
                    else:
                        ratio = 1.0
                    raw = xe[m][r] + p.alpha * math.log(ratio)
                    pinned[m][r] = raw < pfloor[m][r] - PIN_TOL  # floor binds (4.6 caps)
                    x_ind = max(raw, pfloor[m][r])
                    xn = x[m][r] + a_p * (x_ind - x[m][r])
                    if xn >= x_cap[m]:
                        fl |= FLAG_BACKSTOP
                    if xn <= LOG_FLOOR:
                        fl |= FLAG_FLOOR
                    x[m][r] = _clip(xn, LOG_FLOOR, x_cap[m])
                    xe[m][r] = (xe[m][r] + a_e * (x[m][r] - xe[m][r])) * revert
                    flags_out[di, t, m, r] = fl

            # ---- outputs of the step -------------------------------------------------
            for m in range(nm):
                for r in range(nr):
                    sh = 0.0
                    # DOC AMBIGUOUS: shortfall counted per sector, then summed
                    for k in range(nk):
                        s_k = max(Dref[m][r][k] * dt - cons_k[m][r][k], 0.0)
                        short_sec[di, m, r, k] += s_k
                        sh += s_k
                    # consumer cost (RunArrays docstring): isoelastic surplus loss
                    for k in range(nk):
                        e1 = 1.0 + eps[m][k]
                        g = math.expm1(e1 * x[m][r]) / e1 if abs(e1) >= 1e-9 else x[m][r]
                        cost_out[di, m, r] += Dref[m][r][k] * dt * g * p0[m][r] * 1000.0
                    row = out
                    row["price"][di, t, m, r] = p0[m][r] * math.exp(x[m][r])
                    row["supply"][di, t, m, r] = P[m][r]
                    row["consumption"][di, t, m, r] = sum(cons_k[m][r]) / dt
                    row["imports"][di, t, m, r] = imports[m][r] / dt
                    row["exports_controller"][di, t, m, r] = (
                        sum(legal[m][1:]) if r == 0 else legal[m][r]
                    )
                    row["inventory"][di, t, m, r] = U[m][r] + V[m][r] + G[m][r] + B[m][r]
                    row["backlog"][di, t, m, r] = sum(q[m][r] for q in Q)
                    row["shortfall"][di, t, m, r] = sh / dt
                    row["lost"][di, t, m, r] = lost[m][r] / dt
                    row["desired"][di, t, m, r] = sum(Dref[m][r])

            # ---- 4.12 slow updates ---------------------------------------------------
            a_s, a_r = _smooth(dt, p.tau_s), _smooth(dt, p.tau_r)
            for m in range(nm):
                for r in range(nr):
                    px = math.exp(max(x[m][r], floor[m][r]))
                    up = _clip((px - 1.0) / (p.ramp_thr - 1.0), 0.0, 1.0)
                    # DOC SILENT: shrinking at full speed at 1/threshold x base
                    down = _clip((1.0 - px) / (1.0 - 1.0 / p.ramp_thr), 0.0, 1.0)
                    rate = p.ramp * volume[m] * wramp[m][r]
                    R[m][r] = max(R[m][r] + rate * (up - down) * dt / 12.0, 0.0)
                    xs[m][r] += a_s * (x[m][r] - xs[m][r])
                    gs = _clip((math.exp(xs[m][r]) - 1.0) / (p.sub_thr - 1.0), 0.0, 1.0)
                    sig[m][r] = min(sig[m][r] + p.sub_rate * gs * dt / 12.0, p.sub_cap)
                    xr[m][r] += a_r * (x[m][r] - xr[m][r])
                    # DOC SILENT: recycling uses the substitution threshold and grows by
                    # its rate x baseline demand a year
                    gr = _clip((math.exp(xr[m][r]) - 1.0) / (p.sub_thr - 1.0), 0.0, 1.0)
                    rec[m][r] += p.rec_rate * d0t[m][r] * gr * dt / 12.0

    return RunArrays(
        **out,
        flags=flags_out,
        inventory0=inv0,
        cost=cost_out,
        shortfall_sector=short_sec,
    )
