"""Flow redirects (issue 15): parsing, the engine step, mass balance, the built-ins.

Toy numbers (``toy_baseline``): Dy demand is 0.03 x (700 + 150 + 150) t of magnets + 4.5 t
other uses = 34.5 t/yr; the controller makes 97% of it, 33.465 t/yr, a third of that from
Myanmar's mines (origin share 1/3): 11.155 t/yr = 0.929583 t/month; a redirect of 60% moves
0.55775 t/month.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from oreflow.cli import app
from oreflow.simulate import Scenario, simulate
from oreflow.simulate.baseline import toy_baseline
from oreflow.simulate.compile import compile_plan
from oreflow.simulate.run import mass_balance_residual, redirect_residual
from oreflow.simulate.scenario import ScenarioError

runner = CliRunner()

HEAD = """\
name: toy-redirect
start: 2025-01
horizon_months: 24
shocks:
"""


def _redirect(share: float = 0.6, unprocessed: str = "lost", capacity: str = "[]",
              ramp: int = 0) -> str:
    return HEAD + f"""\
  - kind: flow_redirect
    id: r
    country: MMR
    materials: [Dy]
    share: {share}
    start: 2025-01
    ramp_months: {ramp}
    unprocessed: {unprocessed}
    capacity: {capacity}
"""


def _run(text: str, draws: int = 8):
    return simulate(Scenario.parse_yaml(text), draws=draws, seed=3, baseline=toy_baseline())


def _col(res, name: str) -> np.ndarray:
    from oreflow.simulate.state import REDIRECT_COLUMNS

    assert res.arrays.redirect is not None
    return res.arrays.redirect[:, :, 0, REDIRECT_COLUMNS.index(name)]


# -- parsing ---------------------------------------------------------------------------


def test_parses_with_defaults():
    sc = Scenario.parse_yaml(_redirect())
    sh = sc.shocks[0]
    assert sh.kind == "flow_redirect"
    assert sh.from_buyer == "CHN" and sh.to == "rest" and sh.stage == "mine"
    sc2 = Scenario.parse_yaml(HEAD + "  - {kind: flow_redirect, country: MMR, share: 0.5, "
                                     "start: 2025-01}\n")
    assert sc2.shocks[0].materials == ["HREE"]
    assert sc2.shocks[0].unprocessed == "stock"


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    (_redirect(share=1.5), 9, "shocks[0].share", "[0, 1]"),
    (_redirect(unprocessed="burn"), 12, "shocks[0].unprocessed", "stock"),
    (_redirect(capacity="[{id: p, start: 2025-01}]"), 13,
     "shocks[0].capacity[0].t_per_yr", "required"),
    (_redirect(capacity="[{id: p, t_per_yr: -5, start: 2025-01}]"), 13,
     "shocks[0].capacity[0].t_per_yr", "[0, 1e+09]"),
    (_redirect(capacity="[{id: p, t_per_yr: 5, start: 2025-01, available_share: 2}]"), 13,
     "shocks[0].capacity[0].available_share", "[0, 1]"),
    (_redirect().replace("ramp_months: 0", "ramp_months: -1"), 11,
     "shocks[0].ramp_months", "0 or more"),
    (_redirect().replace("materials: [Dy]", "materials: [Dyy]"), 8,
     "shocks[0].materials", "Dyy"),
])
def test_bad_input_names_file_line_field(text, line, field, words):
    with pytest.raises(ScenarioError) as ei:
        Scenario.parse_yaml(text, source="r.yaml")
    msg = str(ei.value)
    assert f"r.yaml:{line}: field {field}:" in msg, msg
    assert words in msg, msg


@pytest.mark.parametrize(("patch", "words"), [
    (("country: MMR", "country: AUS"), "no origin shares for AUS"),
    (("id: r", "id: r\n    from_buyer: USA"), "not the scenario's controller"),
    (("id: r", "id: r\n    to: controller"), "controller's own segment"),
    (("materials: [Dy]", "materials: [Nd]"), "holds none of Nd"),
])
def test_compile_rejects_what_the_baseline_cannot_carry(patch, words):
    sc = Scenario.parse_yaml(_redirect().replace(*patch))
    with pytest.raises(ScenarioError, match=words):
        compile_plan(sc, toy_baseline())


# -- the engine step -------------------------------------------------------------------


def test_no_capacity_and_lost_outside_gets_nothing_controller_loses_the_feed():
    res = _run(_redirect(share=0.6, unprocessed="lost"))
    base = _run(_redirect(share=0.0, unprocessed="lost"))
    dy = res.materials.index("Dy")
    red = _col(res, "redirected_t")
    np.testing.assert_allclose(red, 0.55775, rtol=1e-9)
    assert np.all(_col(res, "separated_t") == 0) and np.all(_col(res, "stock_t") == 0)
    np.testing.assert_allclose(_col(res, "lost_t"), red)
    # first month, before prices move: the controller's Dy output is lower by exactly that
    d_c = base.arrays.supply[:, 0, dy, 0].astype(float) - res.arrays.supply[:, 0, dy, 0]
    np.testing.assert_allclose(d_c, red[:, 0], rtol=1e-5)
    np.testing.assert_allclose(res.arrays.supply[:, 0, dy, 1], base.arrays.supply[:, 0, dy, 1])


def test_stock_waits_and_is_separated_when_capacity_starts():
    cap = "[{id: plant, t_per_yr: 12, start: 2025-07}]"  # 1 t/month from month 6
    res = _run(_redirect(share=0.6, unprocessed="stock", capacity=cap))
    sep, stock, capa = (_col(res, k) for k in ("separated_t", "stock_t", "capacity_t"))
    assert np.all(sep[:, :6] == 0)
    np.testing.assert_allclose(stock[:, 5], 6 * 0.55775, rtol=1e-9)  # six months waiting
    np.testing.assert_allclose(sep[:, 6], 1.0)  # capacity binds while stock waits
    assert np.all(sep <= capa + 1e-12)
    assert np.all(np.diff(stock[:, 6:], axis=1) <= 1e-12)  # the stock is worked down
    assert np.all(_col(res, "lost_t") == 0)
    # the receiving side's Dy output carries what it separates (first separated month)
    base = _run(_redirect(share=0.6, unprocessed="stock", capacity="[]"))
    dy = res.materials.index("Dy")
    extra = res.arrays.supply[:, 6, dy, 1].astype(float) - base.arrays.supply[:, 6, dy, 1]
    assert np.all(extra > 0.9)


def test_ramp_and_plant_in_other_units():
    # a plant rated in Dy content; the redirect counts Dy too: factor 1
    cap = "[{id: p, t_per_yr: 6, materials: [Dy], start: 2025-01, ramp_months: 4}]"
    res = _run(_redirect(share=0.6, unprocessed="stock", capacity=cap, ramp=12))
    red = _col(res, "redirected_t")
    np.testing.assert_allclose(red[:, 0], 0.55775 * 0.5 / 12, rtol=1e-9)  # mid-month 0.5
    np.testing.assert_allclose(red[:, 12:], 0.55775, rtol=1e-9)
    capa = _col(res, "capacity_t")
    np.testing.assert_allclose(capa[:, 0], 0.5 * 0.5 / 4)
    np.testing.assert_allclose(capa[:, 4:], 0.5)


@pytest.mark.parametrize("unprocessed", ["stock", "lost"])
def test_mass_balance_holds(unprocessed):
    cap = "[{id: p, t_per_yr: {dist: uniform, low: 2, high: 10}, start: 2025-04}]"
    res = _run(_redirect(share=0.6, unprocessed=unprocessed, capacity=cap, ramp=6), draws=20)
    assert float(redirect_residual(res).max()) < 1e-9
    scale = float(np.abs(res.arrays.supply).max()) + 1.0
    assert float(mass_balance_residual(res).max()) <= 1e-5 * scale
    assert np.all(_col(res, "separated_t") <= _col(res, "capacity_t") + 1e-12)


def test_a_zero_redirect_changes_nothing_else():
    """Additivity: the redirect's own random streams leave every other draw alone, and a
    redirect of 0% leaves every path identical to the run without it."""
    plain = HEAD + "  - {kind: production_outage, country: MMR, stage: mine, materials: [Dy], " \
                   "share: {dist: uniform, low: 0.1, high: 0.3}, start: 2025-03}\n"
    with_zero = plain + _redirect(share=0.0).split("shocks:\n")[1]
    a, b = _run(plain), _run(with_zero)
    assert a.arrays.redirect is None and b.arrays.redirect is not None
    for name in a.arrays.PATHS:
        np.testing.assert_array_equal(getattr(a.arrays, name), getattr(b.arrays, name))
    np.testing.assert_array_equal(a.draws.outage_share, b.draws.outage_share)
    assert "redirect" not in a.tables() and "redirect" in b.tables()


# -- built-ins and CLI -----------------------------------------------------------------


@pytest.fixture(scope="module")
def builtin_runs():
    out = {}
    for name in ("myanmar-redirect", "myanmar-redirect-retaliation"):
        out[name] = simulate(Scenario.builtin(name).with_horizon(24), draws=30, seed=2)
    return out


def test_builtin_capacities_match_the_data(builtin_runs):
    from oreflow.data.store import Store

    projects = Store.default().table("projects").set_index("project_id")
    for res in builtin_runs.values():
        for sh in res.scenario.shocks:
            for c in getattr(sh, "capacity", []):
                row = projects.loc[c.id]
                assert c.t_per_yr.mean() == float(row["capacity"]), c.id
                assert c.start.year == int(row["start_year"]), c.id


def test_builtin_outside_gain_bounded_by_capacity(builtin_runs):
    for name, res in builtin_runs.items():
        assert float(redirect_residual(res).max()) < 1e-6
        red = res.plan.redirects[0]
        sep, capa, moved = (_col(res, k) for k in ("separated_t", "capacity_t", "redirected_t"))
        assert np.all(sep <= capa + 1e-9), name
        share = red.base / red.base.sum()
        for el in ("Dy", "Tb"):
            i = res.materials.index(el)
            # what the receiving side adds of Dy/Tb is at most its capacity's Dy/Tb share,
            # and Lynas' 1,500 t/yr is far below the ore moved: the capacity binds
            assert float((sep * share[i]).max()) <= 1500 / 12 * share[i] + 1e-9
            assert float(moved[:, -1].min()) > float(capa[:, -1].max()), name
        assert float(_col(res, "stock_t")[:, -1].min()) > 0, name


def test_builtin_china_dy_price_rises(builtin_runs):
    for res in builtin_runs.values():
        pm = res.price_multiple()
        dy = res.materials.index("Dy")
        assert float(np.median(pm[:, -1, dy, 0])) > 1.2


def test_cli_prints_the_redirect_table():
    res = runner.invoke(app, ["stress", "myanmar-redirect", "--draws", "10", "--horizon", "12"])
    assert res.exit_code == 0, res.output
    assert "flow redirect" in res.output and "2026-10" in res.output
    head = next(ln for ln in res.output.splitlines() if "redirected" in ln and "┃" in ln)
    assert "capacity" in head and "stock" in head and "lost" not in head  # no ore is lost
    assert "2026-02" not in res.output  # quarterly rows
    wide = runner.invoke(app, ["stress", "myanmar-redirect", "--draws", "10", "--horizon", "12",
                               "--wide"])
    assert "2026-02" in wide.output
    res = runner.invoke(app, ["stress", "myanmar-redirect", "--draws", "10", "--horizon", "12",
                              "--json"])
    payload = json.loads(res.stdout)
    rows = payload["redirect"]
    assert {r["quantity"] for r in rows} >= {"redirected_t", "separated_t", "stock_t"}
    assert len({r["month"] for r in rows}) == 12
    res = runner.invoke(app, ["stress", "myanmar-redirect", "--draws", "10", "--horizon", "6",
                              "--csv", "--table", "redirect"])
    assert res.exit_code == 0 and res.stdout.splitlines()[0].startswith("redirect,month")


def test_after_end_nothing_moves_and_the_stock_is_worked_down():
    text = _redirect(share=0.6, unprocessed="stock",
                     capacity="[{id: p, t_per_yr: 3, start: 2025-01}]")  # 0.25 t/month
    text = text.replace("    start: 2025-01\n    ramp_months", "    start: 2025-01\n"
                        "    end: 2025-07\n    ramp_months")
    res = _run(text)
    red, sep, stock = (_col(res, k) for k in ("redirected_t", "separated_t", "stock_t"))
    np.testing.assert_allclose(red[:, :6], 0.55775)
    assert np.all(red[:, 6:] == 0)
    np.testing.assert_allclose(stock[:, 5], 6 * (0.55775 - 0.25), rtol=1e-9)
    np.testing.assert_allclose(np.diff(stock[:, 5:12], axis=1), -0.25, rtol=1e-9)
    np.testing.assert_allclose(sep[:, 6:12], 0.25)
    assert np.all(stock[:, -1] == 0)
