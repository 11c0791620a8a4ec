"""Vectorised market clearing: closed forms, caps, rationing, balances (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from oreflow.simulate.market import MarketInputs, clear, excess_demand, solve_increasing

X_LO, X_HI = math.log(1e-3), math.log(1e3)


def _inputs(n=1, *, a, eps=-0.3, prod, stock=None, cap=(np.inf, np.inf), cap_nt=0.0, lw=(0.0, 0.0),
            theta=0.0, gap=0.0, kap=0.5, fixed=None):  # fmt: skip
    a = np.asarray(a, dtype=float).reshape(n, 3, -1)
    z = np.zeros((n, 3))
    stock = z if stock is None else np.asarray(stock, float).reshape(n, 3)
    capv = np.full((n, 3), np.inf)
    capv[:, 1], capv[:, 2] = cap
    lwv = np.zeros((n, 3))
    lwv[:, 1], lwv[:, 2] = lw
    return MarketInputs(
        a=a,
        eps=np.full(a.shape, eps),
        stock=stock,
        floor=0.5 * stock,
        target=0.5 * stock + gap,
        kap_buy=np.full(n, kap)[:, None],
        kap_sell=np.full(n, kap)[:, None],
        inv_eta=np.ones((n, 1)),
        inv_kink=z,
        prod=np.asarray(prod, float).reshape(n, 3),
        theta=np.full((n, 1), theta),
        fixed_supply=z if fixed is None else np.asarray(fixed, float).reshape(n, 3),
        log_wedge=lwv,
        cap=capv,
        cap_nt=np.full(n, cap_nt),
        x0=z,
        x_lo=X_LO,
        x_hi=X_HI,
    )


def _balance(inp, r):
    supply = r.production + inp.fixed_supply
    return supply + r.imports - r.consumption.sum(axis=-1) - r.stock_change


def test_pooled_market_closed_form():
    # one isoelastic demand per segment, same elasticity: world price = (Q/A)^(1/eps)
    r = clear(_inputs(a=[100.0, 50.0, 30.0], prod=[150.0, 10.0, 0.0], eps=-0.4))
    expected = math.log(160.0 / 180.0) / -0.4
    assert np.allclose(r.x, expected, atol=1e-9)
    assert abs(r.imports.sum()) < 1e-9
    assert np.allclose(
        _balance(_inputs(a=[100.0, 50.0, 30.0], prod=[150.0, 10.0, 0.0]), r), 0, atol=1e-9
    )


def test_cap_binds_and_freed_supply_stays_with_controller():
    base = _inputs(a=[100.0, 0.0, 60.0], prod=[160.0, 0.0, 0.0])
    free = clear(base)
    assert np.allclose(free.x, 0.0, atol=1e-9)
    capped = clear(_inputs(a=[100.0, 0.0, 60.0], prod=[160.0, 0.0, 0.0], cap=(np.inf, 30.0)))
    assert capped.imports[0, 2] <= 30.0 + 1e-9
    assert capped.x[0, 2] > 0.5  # target price up
    assert capped.x[0, 0] < 0.0  # controller price down: freed supply stays at home
    assert np.allclose(_balance(_inputs(a=[100.0, 0.0, 60.0], prod=[160.0, 0.0, 0.0],
                                        cap=(np.inf, 30.0)), capped), 0, atol=1e-9)  # fmt: skip


def test_leakage_through_rest_of_world():
    # T capped at zero but N's own output (20) can go to T
    kw = {"a": [100.0, 20.0, 60.0], "prod": [140.0, 40.0, 0.0], "cap": (np.inf, 0.0)}
    closed = clear(_inputs(**kw, cap_nt=0.0))
    open_ = clear(_inputs(**kw, cap_nt=40.0))
    assert open_.imports[0, 2] > closed.imports[0, 2]
    assert open_.x[0, 2] < closed.x[0, 2]


def test_rationing_at_the_ceiling_keeps_balances():
    # no supply and no imports for T: price at the ceiling, consumption = what is available
    inp = _inputs(a=[100.0, 0.0, 60.0], prod=[160.0, 0.0, 0.0], cap=(np.inf, 0.0),
                  stock=[0.0, 0.0, 10.0])  # fmt: skip
    r = clear(inp)
    assert r.x[0, 2] == X_HI
    assert r.consumption[0, 2].sum() <= 10.0
    assert np.allclose(_balance(inp, r), 0.0, atol=1e-9)
    assert (inp.stock + r.stock_change)[0, 2] >= -1e-9


def test_tariff_wedge():
    r = clear(_inputs(a=[100.0, 0.0, 60.0], prod=[160.0, 0.0, 0.0], lw=(0.0, math.log(1.25))))
    assert math.isclose(r.x[0, 2] - r.x[0, 0], math.log(1.25), abs_tol=1e-9)


def test_solver_clamps_at_bounds():
    def make(idx):
        def fun(x):
            return np.full_like(x, -1.0), np.zeros_like(x)  # root beyond the upper bound

        return fun

    x, it = solve_increasing(make, np.zeros(3), -1.0, 1.0, np.ones(3), tol=1e-12)
    assert np.all(x == 1.0) and it <= 3


def test_excess_demand_derivative():
    rng = np.random.default_rng(0)
    args = [rng.uniform(0.1, 2.0, (2, 5)), -rng.uniform(0.1, 1.0, (2, 5))]
    args += [rng.uniform(0, 1, 5) for _ in range(3)]  # gap, floor, stock
    args += [np.full(5, 0.3), np.full(5, 0.8), np.full(5, 1.5), rng.normal(0, 0.2, 5)]
    args += [rng.uniform(0, 2, 5), np.full(5, 0.2), rng.uniform(0, 1, 5)]
    x = rng.normal(0, 1, 5)
    _, de = excess_demand(x, *args)
    h = 1e-6
    e2, _ = excess_demand(x + h, *args)
    e1, _ = excess_demand(x - h, *args)
    assert np.allclose((e2 - e1) / (2 * h), de, rtol=1e-4, atol=1e-6)


pos = st.floats(0.0, 200.0)


@settings(max_examples=60, deadline=None)
@given(
    a=st.lists(pos, min_size=3, max_size=3),
    prod=st.lists(pos, min_size=3, max_size=3),
    stock=st.lists(st.floats(0.0, 100.0), min_size=3, max_size=3),
    cap_n=st.one_of(st.just(np.inf), st.floats(0.0, 100.0)),
    cap_t=st.one_of(st.just(np.inf), st.floats(0.0, 100.0)),
    cap_nt=st.floats(0.0, 50.0),
    eps=st.floats(-1.5, -0.02),
    theta=st.floats(0.0, 0.5),
)
def test_balances_and_bounds_hold(a, prod, stock, cap_n, cap_t, cap_nt, eps, theta):
    a = [v + 1e-3 for v in a]  # every segment consumes something
    inp = _inputs(a=a, prod=prod, stock=stock, cap=(cap_n, cap_t), cap_nt=cap_nt, eps=eps,
                  theta=theta, gap=5.0)  # fmt: skip
    r = clear(inp)
    assert np.all(np.isfinite(r.x)) and np.all(r.x >= X_LO) and np.all(r.x <= X_HI)
    assert abs(r.imports.sum()) < 1e-8 * (1 + sum(a) + sum(prod))
    assert np.allclose(_balance(inp, r), 0.0, atol=1e-7 * (1 + sum(a) + sum(prod)))
    assert np.all(r.consumption >= -1e-12)
    if np.isfinite(cap_t):
        assert r.imports[0, 2] <= cap_t + cap_nt + 1e-7
    # stock never falls below zero (floor respected up to rationing)
    assert np.all(inp.stock + r.stock_change >= -1e-7 * (1 + sum(a)))


@settings(max_examples=40, deadline=None)
@given(
    cap_lo=st.floats(0.0, 50.0),
    extra=st.floats(0.0, 50.0),
    eps=st.floats(-1.0, -0.05),
)
def test_tighter_cap_never_lowers_target_price(cap_lo, extra, eps):
    kw = {"a": [100.0, 20.0, 60.0], "prod": [170.0, 10.0, 0.0], "eps": eps, "cap_nt": 5.0}
    tight = clear(_inputs(**kw, cap=(np.inf, cap_lo)))
    loose = clear(_inputs(**kw, cap=(np.inf, cap_lo + extra)))
    assert tight.x[0, 2] >= loose.x[0, 2] - 1e-9
    assert tight.imports[0, 2] <= loose.imports[0, 2] + 1e-9
    assert tight.x[0, 0] <= loose.x[0, 0] + 1e-9
