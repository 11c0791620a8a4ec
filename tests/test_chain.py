"""Tests of oreflow.chain: sourcing, origin tracing, control share, elements, blocs, tables.

The toy network (3 countries, 4 stages; REO plus element resolution for Nd and Dy) is small
enough that every expected number below is computed by hand in the comments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oreflow.chain import (
    SupplyChain,
    control_shares,
    metrics,
    origin_matrices,
    oxide_factor,
    recipe_content,
    reo_per_tonne,
    sourcing_matrix,
)
from oreflow.errors import InputError

STAGES = ["mine", "separation", "metal", "magnet"]

# Toy network [t REO/yr; magnets t product/yr with 0.5 t REO-eq per t]:
#              CHN   MMR   USA
#   mine        60    20    20
#   separation  90     0    10      known flow MMR → CHN: 20 t (mine stage)
#   metal       80     0    20
#   magnet     150     0    50      (requirement 75, 0, 25 t REO-eq)
TOY_OUTPUT = pd.DataFrame(
    {
        "CHN": [60.0, 90.0, 80.0, 150.0],
        "MMR": [20.0, 0.0, 0.0, 0.0],
        "USA": [20.0, 10.0, 20.0, 50.0],
    },
    index=STAGES,
)
TOY_FLOWS = pd.DataFrame(
    {"stage": ["mine"], "exporter": ["MMR"], "importer": ["CHN"], "tonnes": [20.0]}
)
TOY_COMPOSITION = pd.DataFrame(
    {
        "Nd": [0.15, 0.20, 0.15],
        "Dy": [0.05, 0.30, 0.00],
        "La": [0.30, 0.00, 0.00],
        "Ce": [0.50, 0.00, 0.85],
        "Y": [0.00, 0.50, 0.00],
    },
    index=["CHN", "MMR", "USA"],
)
TOY_GOV = pd.Series({"CHN": 5.6, "MMR": 8.0, "USA": 2.8})


@pytest.fixture
def toy() -> SupplyChain:
    return SupplyChain(
        TOY_OUTPUT,
        units={"magnet": "t_product"},
        reo_per_unit={"magnet": 0.5},
        flows=TOY_FLOWS,
        composition=TOY_COMPOSITION,
        governance=TOY_GOV,
        blocs={"WEST": {"USA", "AUS"}},
        year=2024,
    )


# -- sourcing ---------------------------------------------------------------------------------


def test_sourcing_by_hand(toy):
    # separation: CHN needs 90: known 20 from MMR, domestic 60, imports 10 = USA's surplus
    # (USA mines 20, separates 10) → S[:, CHN] = (60, 20, 10)/90
    s = toy.sourcing("separation")
    assert s["CHN"].tolist() == pytest.approx([60 / 90, 20 / 90, 10 / 90])
    assert s["USA"].tolist() == pytest.approx([0, 0, 1])
    # MMR separates nothing: its column is the import mix at the margin (all surplus is USA's)
    assert s["MMR"].tolist() == pytest.approx([0, 0, 1])
    # metal: USA needs 20, has 10 → imports CHN's surplus 10 (90 − 80) → (0.5, 0, 0.5)
    assert toy.sourcing("metal")["USA"].tolist() == pytest.approx([0.5, 0, 0.5])
    # magnet: USA needs 25 t REO-eq, has 20 → 5 from CHN (80 − 75) → (0.2, 0, 0.8)
    assert toy.sourcing("magnet")["USA"].tolist() == pytest.approx([0.2, 0, 0.8])
    for stage in STAGES[1:]:
        assert toy.sourcing(stage).sum(axis=0).tolist() == pytest.approx([1, 1, 1])
    with pytest.raises(InputError):
        toy.sourcing("mine")


def test_allocation_and_balance(toy):
    a = toy.allocation("separation")
    assert a.loc["MMR", "CHN"] == pytest.approx(20)
    assert a.loc["USA", "CHN"] == pytest.approx(10)
    b = toy.balance()  # one row per supplying stage: where its output goes
    assert b.loc["mine", ["known_flows", "domestic", "imports", "gap"]].tolist() == (
        pytest.approx([20, 70, 10, 0])
    )
    assert b.loc["metal", "to_next_stage"] == pytest.approx(100)  # 75 + 25 t REO-eq
    assert b.loc["separation", "gap"] == pytest.approx(0)  # 100 separated, 100 to metal
    assert b.loc["magnet", "final_use"] == 0  # no final use given


def test_sourcing_matrix_edge_cases():
    # deficit: demand 150 > supply 100; c=1 needs 150 with 0 at home → imports by surplus
    s, a = sourcing_matrix([60.0, 0.0, 40.0], [0.0, 150.0, 0.0])
    assert s[:, 1].tolist() == pytest.approx([0.6, 0, 0.4])
    assert a[:, 1].sum() == pytest.approx(150)
    # no surplus anywhere: import need filled in proportion to upstream output
    s, _ = sourcing_matrix([50.0, 50.0, 0.0], [50.0, 50.0, 10.0])
    assert s[:, 2].tolist() == pytest.approx([0.5, 0.5, 0])
    # known flow larger than the importer's need: its inputs are the known flow only
    k = np.zeros((2, 2))
    k[0, 1] = 30.0
    s, _ = sourcing_matrix([40.0, 10.0], [10.0, 10.0], k)
    assert s[:, 1].tolist() == pytest.approx([1, 0])
    with pytest.raises(ValueError, match="no output"):
        sourcing_matrix([0.0, 0.0], [1.0, 0.0])
    with pytest.raises(ValueError):
        sourcing_matrix([1.0, -1.0], [1.0, 0.0])


# -- origin tracing and control ----------------------------------------------------------------


def test_origin_mix_by_hand(toy):
    # CHN separation: (2/3, 2/9, 1/9); USA separation: USA
    # USA metal = ½ CHN sep + ½ USA sep = (1/3, 1/9, 5/9)
    # USA magnet = 0.2 CHN metal (= CHN sep) + 0.8 USA metal
    #            = 0.2·(2/3, 2/9, 1/9) + 0.8·(1/3, 1/9, 5/9) = (0.4, 2/15, 7/15)
    mix = toy.origin_mix("magnet", "USA")
    assert mix.tolist() == pytest.approx([0.4, 2 / 15, 7 / 15])
    assert toy.origin_mix("mine", "MMR").tolist() == pytest.approx([0, 1, 0])
    assert toy.origin_matrix("metal")["USA"].tolist() == pytest.approx([1 / 3, 1 / 9, 5 / 9])


def test_control_share_by_hand(toy):
    c = toy.control_share("CHN")
    # USA metal: ½·1 (via CHN separation) + ½·0 = 0.5; USA magnet: 0.2·1 + 0.8·0.5 = 0.6
    assert c.loc["metal", "USA"] == pytest.approx(0.5)
    assert c.loc["magnet", "USA"] == pytest.approx(0.6)
    assert c.loc[STAGES, "CHN"].tolist() == [1.0, 1.0, 1.0, 1.0]
    # MMR only mines: its control share equals its origin share (2/15 for USA magnets)
    m = toy.control_share("MMR")
    assert m.loc["magnet", "USA"] == pytest.approx(2 / 15)
    assert m.loc["separation", "CHN"] == pytest.approx(2 / 9)
    # control share ≥ origin share: CHN 0.6 ≥ 0.4
    assert c.loc["magnet", "USA"] >= toy.origin_mix("magnet", "USA")["CHN"]
    # bloc by name
    assert toy.control_share("WEST").loc["magnet", "CHN"] == pytest.approx(1 / 9)


def test_origin_content_and_deminimis_by_hand(toy):
    # CHN content "from metal on": USA magnets hold 0.2 (CHN-made metal); from magnet on: 0
    oc = toy.origin_content("CHN", "metal")
    assert oc.loc[["mine", "separation"]].isna().all().all()
    assert oc.loc["magnet", "USA"] == pytest.approx(0.2)
    assert toy.origin_content("CHN", "magnet").loc["magnet", "USA"] == 0.0
    assert toy.origin_content("CHN", "separation").loc["magnet", "USA"] == pytest.approx(0.6)
    reach = toy.deminimis_reach("CHN", 0.001, from_stage="metal")
    row = reach[(reach["stage"] == "magnet") & (reach["country"] == "USA")].iloc[0]
    assert row["content"] == pytest.approx(0.2) and bool(row["reached"]) and not row["member"]
    assert not reach[(reach["stage"] == "metal") & (reach["country"] == "USA")]["reached"].any()
    strict = toy.deminimis_reach("CHN", 0.25, from_stage="metal")
    assert not strict[(strict["country"] == "USA")]["reached"].any()
    assert set(reach["country"]) <= {"CHN", "USA"}  # producers only


def test_control_matrices_match_single_controller_runs(toy):
    cm = toy.control_matrices()
    for x, code in enumerate(toy.countries):
        single = toy.control_share(code).to_numpy()
        np.testing.assert_allclose(cm[:, x, :], single)
    assert toy.control_matrix("magnet").loc["CHN", "USA"] == pytest.approx(0.6)


def _absorbing_origins(sourcing: np.ndarray) -> np.ndarray:
    """Origin mix by an absorbing Markov chain: B = (I − Q)⁻¹ R.

    Transient states are the nodes of stages 1..T (walking upstream); absorbing states are
    the mine nodes. Q[(s,c), (s−1,j)] = S_s[j, c] for s ≥ 2; R[(1,c), j] = S_1[j, c].
    """
    n_links, n, _ = sourcing.shape
    m = n_links * n
    q = np.zeros((m, m))
    r = np.zeros((m, n))
    for s in range(1, n_links + 1):
        rows = slice((s - 1) * n, s * n)
        if s == 1:
            r[rows, :] = sourcing[0].T
        else:
            q[rows, (s - 2) * n : (s - 1) * n] = sourcing[s - 1].T
    b = np.linalg.solve(np.eye(m) - q, r)
    return b.reshape(n_links, n, n)  # [stage−1, node c, origin j]


def _absorbing_control(sourcing: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Control share by absorption: nodes in X absorb into "hit", mine nodes outside X "miss"."""
    n_links, n, _ = sourcing.shape
    states = [(s, c) for s in range(n_links + 1) for c in range(n)]
    index = {st_: i for i, st_ in enumerate(states)}
    size = len(states)
    p = np.zeros((size, size))
    hit = np.zeros(size)
    absorbing = np.zeros(size, dtype=bool)
    for (s, c), i in index.items():
        if x[c]:
            absorbing[i] = True
            hit[i] = 1.0
        elif s == 0:
            absorbing[i] = True
        else:
            for j in range(n):
                p[i, index[(s - 1, j)]] = sourcing[s - 1][j, c]
    t = ~absorbing
    q = p[np.ix_(t, t)]
    r = p[np.ix_(t, absorbing)] @ hit[absorbing]
    out = hit.copy()
    out[t] = np.linalg.solve(np.eye(int(t.sum())) - q, r)
    return out.reshape(n_links + 1, n)


def test_origin_tracing_equals_absorbing_markov_chain(toy):
    s = np.stack([toy.sourcing(st_).to_numpy() for st_ in STAGES[1:]])
    b = _absorbing_origins(s)
    o = toy.origin_matrices()
    for stage in range(1, 4):
        np.testing.assert_allclose(o[stage], b[stage - 1].T, atol=1e-12)
    for code in toy.countries:
        x = np.asarray(toy.countries == code)
        np.testing.assert_allclose(
            toy.control_share(code).to_numpy(), _absorbing_control(s, x), atol=1e-12
        )


@st.composite
def networks(draw):
    n = draw(st.integers(2, 7))
    n_stages = draw(st.integers(2, 4))
    out = np.array(
        [[draw(st.floats(0, 100, allow_nan=False)) for _ in range(n)] for _ in range(n_stages)]
    )
    for s in range(n_stages):  # every stage produces somewhere
        if not out[s].sum() > 0:
            out[s, draw(st.integers(0, n - 1))] = 1.0
    frame = pd.DataFrame(out, index=STAGES[:n_stages], columns=[f"C{i:02d}" for i in range(n)])
    flows = None
    if draw(st.booleans()):
        j, c = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        flows = pd.DataFrame(
            {"stage": ["mine"], "exporter": [f"C{j:02d}"], "importer": [f"C{c:02d}"],
             "tonnes": [draw(st.floats(0, 50))]}
        )  # fmt: skip
    members = draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n))
    return SupplyChain(frame, flows=flows), [f"C{i:02d}" for i in sorted(members)]


@settings(max_examples=150, deadline=None)
@given(networks())
def test_tracing_properties(net):
    chain, members = net
    n_links = len(chain.stages) - 1
    s = np.stack([chain.sourcing(x).to_numpy() for x in chain.stages[1:]]) if n_links else None
    o = chain.origin_matrices()
    np.testing.assert_allclose(o.sum(axis=1), 1.0, atol=1e-9)  # origin mixes sum to 1
    assert np.all(o >= -1e-12)
    ctrl = chain.control_share(members).to_numpy()
    assert np.all(ctrl >= -1e-12) and np.all(ctrl <= 1 + 1e-12)
    x = np.asarray(chain.countries.isin(members))
    origin_share = o[:, x, :].sum(axis=1)  # share mined in X
    assert np.all(ctrl >= origin_share - 1e-9)  # control share ≥ origin share
    if s is not None:
        np.testing.assert_allclose(s.sum(axis=1), 1.0, atol=1e-9)
        np.testing.assert_allclose(ctrl, _absorbing_control(s, x), atol=1e-9)
        b = _absorbing_origins(s)
        for stage in range(1, n_links + 1):
            np.testing.assert_allclose(o[stage], b[stage - 1].T, atol=1e-9)
    # content from a later stage is at most the control share
    last = chain.stages[-1]
    later = chain.origin_content(members, last).loc[last].to_numpy()
    assert np.all(later <= ctrl[-1] + 1e-12)
    h = chain.concentration_table()["hhi"]
    n_prod = chain.concentration_table()["n_producers"]
    assert np.all(h <= 10_000 + 1e-6) and np.all(h >= 10_000 / n_prod - 1e-6)



_TONNES = st.one_of(st.just(0.0), st.floats(1e-3, 1e4))  # t/yr; no subnormal tonnages


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_TONNES, _TONNES, _TONNES), min_size=2, max_size=6))
def test_allocation_charges_unrecorded_supply_by_output_share(rows):
    """Each exporter ships its surplus at most, plus its output share of the gap the world's
    recorded output leaves (no small exporter is charged a large producer's shortfall)."""
    from oreflow.chain.sourcing import allocate

    q = np.array([r[0] for r in rows])
    d = np.array([[r[1] for r in rows], [r[2] for r in rows]])
    if not q.sum() > 0:
        return
    _, alloc = allocate(q, d)
    np.testing.assert_allclose(alloc.sum(axis=1), d, rtol=1e-9, atol=1e-6)  # every need met
    gap = max(d.sum() - q.sum(), 0.0)
    shipped = alloc.sum(axis=(0, 2))
    assert np.all(shipped <= q + gap * q / q.sum() + 1e-6 * (1 + d.sum()))


def _backward_paths(s, stage, country):
    """Every backward sourcing path from (stage, country) to the mine, with its probability:
    lists of countries [node, supplier at stage-1, ..., mine country]."""
    paths = [([country], 1.0)]
    for t in range(stage, 0, -1):  # S[t-1][j, c]: share of stage-t inputs in c from j
        paths = [([*path, j], w * s[t - 1][j, path[-1]])
                 for path, w in paths for j in range(s.shape[1]) if s[t - 1][j, path[-1]] > 0]
    return paths


def test_origin_and_control_shares_match_a_path_enumeration(toy):
    """Origin mixes and control shares, checked against a brute-force enumeration of every
    backward path through the sourcing matrices (no matrix product, no recursion)."""
    s = np.stack([toy.sourcing(x).to_numpy() for x in STAGES[1:]])
    n = s.shape[1]
    x = np.array([1.0, 0.0, 0.0])  # X = {CHN}
    o = origin_matrices(s)
    ctrl = control_shares(s, x)
    for stage in range(len(STAGES)):
        for c in range(n):
            paths = _backward_paths(s, stage, c)
            assert sum(w for _, w in paths) == pytest.approx(1.0)
            origin = np.zeros(n)
            for path, w in paths:
                origin[path[-1]] += w
            np.testing.assert_allclose(o[stage][:, c], origin, atol=1e-12)
            through_x = sum(w for path, w in paths if any(x[j] for j in path))
            assert ctrl[stage, c] == pytest.approx(through_x, abs=1e-12)
    np.testing.assert_allclose(toy.control_share("CHN").to_numpy(), ctrl)
    assert control_shares(s, np.eye(3)).shape == (4, 3, 3)


# -- element resolution --------------------------------------------------------------------


def test_for_element_dy_by_hand(toy):
    dy = toy.for_element("Dy")
    out = dy.output
    # mine: CHN 60·0.05 = 3, MMR 20·0.30 = 6, USA 0 → 9 t Dy2O3
    assert out.loc["mine"].tolist() == pytest.approx([3, 6, 0])
    # separation: f(CHN) = (2/3)·0.05 + (2/9)·0.30 = 0.1; f(USA) = 0 → all 9 t in CHN
    assert out.loc["separation"].tolist() == pytest.approx([9, 0, 0])
    # metal: f(CHN) = 0.1, f(USA) = ½·0.1 = 0.05 → 80·0.1 = 8, 20·0.05 = 1 (sum 9, scale 1)
    assert out.loc["metal"].tolist() == pytest.approx([8, 0, 1])
    # magnet (no recipe): f(USA) = 0.2·0.1 + 0.8·0.05 = 0.06 → 75·0.1 = 7.5, 25·0.06 = 1.5
    assert out.loc["magnet"].tolist() == pytest.approx([7.5, 0, 1.5])
    # Dy in CHN separation came 1/3 from CHN ore and 2/3 from MMR ore (element-weighted)
    assert dy.sourcing("separation")["CHN"].tolist() == pytest.approx([1 / 3, 2 / 3, 0])
    assert dy.origin_mix("magnet", "USA").tolist() == pytest.approx([1 / 3, 2 / 3, 0])
    ct = dy.concentration_table()
    assert ct.loc["mine", "top_producer"] == "MMR"
    assert ct.loc["mine", "hhi"] == pytest.approx(50000 / 9)
    assert dy.material == "Dy" and set(dy.units) == {"t_REO"}


def test_for_element_nd_and_errors(toy):
    nd = toy.for_element("Nd")
    # mine: 60·0.15 = 9, 20·0.2 = 4, 20·0.15 = 3 → 16
    assert nd.output.loc["mine"].tolist() == pytest.approx([9, 4, 3])
    # separation: f(CHN) = (2/3)·0.15 + (2/9)·0.2 + (1/9)·0.15 = 29/180 → 90·29/180 = 14.5
    assert nd.output.loc["separation"].tolist() == pytest.approx([14.5, 0, 1.5])
    for stage in ["separation", "metal", "magnet"]:  # element conserved along routed stages
        assert nd.output.loc[stage].sum() == pytest.approx(16)
    with pytest.raises(InputError):
        toy.for_element("Fe")
    with pytest.raises(InputError, match="composition"):
        SupplyChain(TOY_OUTPUT).for_element("Dy")


def test_for_element_imputes_missing_composition(toy):
    comp = TOY_COMPOSITION.drop("USA")
    chain = SupplyChain(TOY_OUTPUT, flows=TOY_FLOWS, composition=comp)
    dy = chain.for_element("Dy")
    # USA imputed with the mine-output-weighted mean Dy share of CHN and MMR:
    # (60·0.05 + 20·0.30)/80 = 0.1125 → 20·0.1125 = 2.25
    assert dy.output.loc["mine", "USA"] == pytest.approx(2.25)
    assert dy.meta["composition_imputed"] == ["USA"]


def test_recipes_and_oxide_factors():
    # Nd2O3: (2·144.242 + 3·15.999)/(2·144.242) = 336.481/288.484 = 1.16638
    assert oxide_factor("Nd") == pytest.approx(1.16638, abs=1e-5)
    assert oxide_factor("Ce") == pytest.approx((140.116 + 2 * 15.999) / 140.116)
    assert oxide_factor("Tb") == pytest.approx((4 * 158.925 + 7 * 15.999) / (4 * 158.925))
    recipes = pd.DataFrame(
        {
            "product": ["sintered NdFeB"] * 6 + ["SmCo"] * 2,
            "grade": ["typical", "typical", "typical", "typical", "H", "H", "2:17", "2:17"],
            "element": ["Nd", "Nd", "Dy", "Fe", "Dy+Tb", "RE total", "Sm", "Co"],
            "wt_frac": [0.30, np.nan, 0.02, 0.66, 0.04, 0.32, 0.25, 0.5],
            "wt_frac_low": [np.nan, 0.28, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
            "wt_frac_high": [np.nan, 0.30, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
        }
    )
    typ = recipe_content(recipes, "NdFeB")
    # Nd: mean of 0.30 and midpoint(0.28, 0.30) = 0.29 → 0.295; Dy 0.02; Fe left out
    assert typ.to_dict() == pytest.approx({"Dy": 0.02, "Nd": 0.295})
    # H: Dy+Tb 0.04 split evenly → 0.02 each; total 0.32 → remainder 0.28 to Nd
    h = recipe_content(recipes, "NdFeB", "H")
    assert h.to_dict() == pytest.approx({"Dy": 0.02, "Tb": 0.02, "Nd": 0.28})
    free = recipe_content(recipes, "NdFeB", "H", heavy_free=True)
    assert free.to_dict() == pytest.approx({"Nd": 0.32})
    # k = 0.295·1.16638 + 0.02·1.14769
    assert reo_per_tonne(typ) == pytest.approx(
        0.295 * oxide_factor("Nd") + 0.02 * oxide_factor("Dy")
    )
    assert recipe_content(recipes, "SmCo").to_dict() == pytest.approx({"Sm": 0.25})
    with pytest.raises(InputError):
        recipe_content(recipes, "ferrite")
    with pytest.raises(InputError):
        recipe_content(recipes, "NdFeB", "N52")


# -- concentration, blocs, risk --------------------------------------------------------------


def test_concentration_table_by_hand(toy):
    ct = toy.concentration_table()
    # HHI: mine 3600 + 400 + 400 = 4400; separation 8100 + 100 = 8200;
    #      metal 6400 + 400 = 6800; magnet (75 %, 25 %) 5625 + 625 = 6250
    assert ct["hhi"].tolist() == pytest.approx([4400, 8200, 6800, 6250])
    # WGI-HHI: mine 0.36·5.6 + 0.04·8 + 0.04·2.8 = 2.448; separation 0.81·5.6 + 0.01·2.8 = 4.564
    #          metal 0.64·5.6 + 0.04·2.8 = 3.696; magnet 0.5625·5.6 + 0.0625·2.8 = 3.325
    assert ct["hhi_wgi"].tolist() == pytest.approx([2.448, 4.564, 3.696, 3.325])
    assert ct["top_producer"].tolist() == ["CHN"] * 4
    assert ct["top_share"].tolist() == pytest.approx([0.6, 0.9, 0.8, 0.75])
    assert ct["cr3"].tolist() == pytest.approx([1, 1, 1, 1])
    assert ct["n_producers"].tolist() == [3, 2, 2, 2]
    assert ct.loc["magnet", "unit"] == "t_product" and ct.loc["magnet", "total"] == 200


def test_concentration_governance_missing_and_residual():
    out = TOY_OUTPUT.assign(OTH=[10.0, 0.0, 0.0, 0.0])
    chain = SupplyChain(out, reo_per_unit={"magnet": 0.5}, governance=TOY_GOV.drop("MMR"))
    ct = chain.concentration_table()
    assert np.isnan(ct.loc["mine", "hhi_wgi"])  # MMR has no score → NaN, not zero
    assert ct.loc["mine", "wgi_missing"] == "MMR"
    assert ct.loc["mine", "wgi_imputed"] == "OTH"
    assert ct.loc["separation", "hhi_wgi"] == pytest.approx(4.564)
    worst = chain.concentration_table(missing_governance="worst")
    # mine shares 60/110, 20/110, 20/110, 10/110; OTH imputed with the share-weighted mean of
    # CHN, USA (MMR unscored): (60·5.6 + 20·2.8)/80 = 4.9
    s = np.array([60, 20, 20, 10]) / 110
    expected = s[0] ** 2 * 5.6 + s[1] ** 2 * 10 + s[2] ** 2 * 2.8 + s[3] ** 2 * 4.9
    assert worst.loc["mine", "hhi_wgi"] == pytest.approx(expected)
    assert list(chain.countries)[-1] == "OTH"  # residual node last
    assert SupplyChain(TOY_OUTPUT).concentration_table()["hhi_wgi"].isna().all()


def test_bloc_table_by_hand(toy):
    bt = toy.bloc_table("USA", controller="CHN").set_index(["stage", "case"])
    mine = bt.loc[("mine", "all")]
    # USA mines 20, its separators need 10 → self-sufficiency 2; exports 10 to CHN; IR 0
    assert mine[["bloc_output", "bloc_demand", "self_sufficiency", "exports"]].tolist() == (
        pytest.approx([20, 10, 2, 10])
    )
    assert mine["import_reliance"] == 0 and mine["largest_outside_supplier"] is None
    sep = bt.loc[("separation", "all")]
    # USA separates 10, its metal plants need 20: imports 10 from CHN → SS 0.5, IR 0.5
    assert sep[["self_sufficiency", "imports", "import_reliance"]].tolist() == (
        pytest.approx([0.5, 10, 0.5])
    )
    assert sep["largest_outside_supplier"] == "CHN"
    assert sep["largest_outside_share"] == pytest.approx(0.5)
    assert sep["controller_share"] == pytest.approx(0.5)
    ex = bt.loc[("separation", "ex_CHN")]
    assert ex["bloc_supply"] == pytest.approx(10) and ex["supply_coverage"] == pytest.approx(0.5)
    metal = bt.loc[("metal", "all")]
    # metal 20 vs magnet need 25 t REO-eq → 0.8; CHN supplies 5 of 25 → 0.2
    assert metal[["self_sufficiency", "largest_outside_share"]].tolist() == pytest.approx(
        [0.8, 0.2]
    )
    assert bt.loc[("magnet", "all"), "bloc_demand"] == 0  # no final use of magnets given


def _toy_with_use(**use: dict[str, float]) -> SupplyChain:
    final = pd.DataFrame(use).T.fillna(0.0)  # stages × countries
    return SupplyChain(TOY_OUTPUT, units={"magnet": "t_product"}, reo_per_unit={"magnet": 0.5},
                       flows=TOY_FLOWS, final_use=final, governance=TOY_GOV)


def test_final_use_of_magnets_by_hand():
    chain = _toy_with_use(magnet={"CHN": 100.0, "USA": 100.0})  # t magnets used
    # magnets: CHN makes 150, uses 100 → surplus 50 goes to USA, which makes 50 and needs 100
    assert chain.use_sourcing("magnet")["USA"].tolist() == pytest.approx([0.5, 0, 0.5])
    assert chain.final_use.loc["magnet", "USA"] == 100
    bt = chain.bloc_table("USA").set_index("stage")
    assert bt.loc["magnet", "self_sufficiency"] == pytest.approx(0.5)
    assert bt.loc["magnet", "import_reliance"] == pytest.approx(0.5)
    # USA's use: ½ CHN magnets (USA content 1/9: USA ore in CHN separation) + ½ USA magnets;
    # consuming in CHN does not count as passing through CHN
    cs = chain.use_control_share("USA")
    assert cs.loc["magnet", "USA"] == pytest.approx(0.5 / 9 + 0.5)
    assert cs.loc["magnet", "CHN"] == pytest.approx(1 / 9)
    # origin of USA's magnet use, by hand: CHN separation ore is (2/3, 2/9, 1/9) CHN/MMR/USA;
    # USA metal is ½ own oxide (USA ore) + ½ CHN oxide; USA magnets 0.8 USA + 0.2 CHN metal;
    # CHN magnets are all CHN metal = CHN oxide; USA uses ½ CHN + ½ USA magnets
    chn = np.array([2 / 3, 2 / 9, 1 / 9])
    usa_metal = 0.5 * np.array([0, 0, 1]) + 0.5 * chn
    usa_magnets = 0.8 * usa_metal + 0.2 * chn
    mix = chain.use_origin_mix("magnet", "USA")
    assert mix.tolist() == pytest.approx((0.5 * chn + 0.5 * usa_magnets).tolist())
    rt = chain.risk_table("USA")
    assert np.isfinite(rt.loc["magnet", "supply_risk"])


def test_final_use_of_oxides_adds_to_bloc_demand_and_shares_domestic_supply():
    chain = _toy_with_use(separation={"USA": 5.0, "CHN": 5.0})  # t REO of oxides used
    bt = chain.bloc_table("USA").set_index("stage")
    # USA separates 10; its metal plants need 20 and its oxide users 5 → SS 10/25
    assert bt.loc["separation", "bloc_demand"] == pytest.approx(25)
    assert bt.loc["separation", "self_sufficiency"] == pytest.approx(0.4)
    # domestic supply (10) is shared in proportion to need: 8 to plants, 2 to users; USA
    # imports 15 against a world surplus of 5 (CHN 90 − 85): a third comes from CHN's surplus,
    # the other 10 (used but not recorded as made) from producers by output share, USA's
    # 10% included: +0.8 to its plants, +0.2 to its users
    assert chain.use_allocation("separation").loc["USA", "USA"] == pytest.approx(2.2)
    assert chain.allocation("metal").loc["USA", "USA"] == pytest.approx(8.8)
    assert chain.allocation("metal").loc["CHN", "USA"] == pytest.approx(4 + 7.2)
    b = chain.balance()
    # 100 separated against 100 to metal plants + 10 used: 10 t more is used than made
    assert b.loc["separation", "gap"] == pytest.approx(10)


def test_risk_table_by_hand(toy):
    rt = toy.risk_table("USA")
    # mine: sourcing = USA only → 2.8; IR 0 → SR 2.8
    # separation: sourcing (CHN .5, USA .5) → 0.25·5.6 + 0.25·2.8 = 2.1; IR 0.5
    #             SR = 4.564·0.25 + 2.1·0.75 = 1.141 + 1.575 = 2.716
    # metal: sourcing (CHN .2, USA .8) → 0.04·5.6 + 0.64·2.8 = 2.016; IR 0.2
    #        SR = 3.696·0.1 + 2.016·0.9 = 2.184
    assert rt["hhi_wgi_sourcing"].tolist()[:3] == pytest.approx([2.8, 2.1, 2.016])
    assert rt["import_reliance"].tolist()[:3] == pytest.approx([0, 0.5, 0.2])
    assert rt["supply_risk"].tolist()[:3] == pytest.approx([2.8, 2.716, 2.184])
    assert np.isnan(rt.loc["magnet", "supply_risk"])
    assert rt.index[rt["bottleneck"]].tolist() == ["mine"]
    glob = toy.risk_table()
    assert glob["supply_risk"].tolist() == pytest.approx([2.448, 4.564, 3.696, 3.325])
    assert glob.index[glob["bottleneck"]].tolist() == ["separation"]
    adj = toy.risk_table(import_reliance=1.0, eol_rir={"mine": 0.5}, si_sr=0.9)
    # global view with IR=1: SR = HHI·(1 − EoL)·SI → mine 2.448·0.5·0.9 = 1.1016
    assert adj.loc["mine", "supply_risk"] == pytest.approx(1.1016)
    assert np.isnan(adj.loc["separation", "eol_rir"])  # mapping without the stage: unknown


def test_crma_table_by_hand(toy):
    t = toy.crma_table(["USA"])
    got = {(r.benchmark, r.stage): (r.value, r.passes) for r in t.itertuples()}
    assert got[("extraction", "mine")] == (pytest.approx(2.0), True)
    assert got[("processing", "separation")] == (pytest.approx(0.5), True)
    assert got[("single_third_country", "separation")] == (pytest.approx(0.5), True)
    assert got[("single_third_country", "magnet")][1] is pd.NA
    with pytest.raises(InputError):
        toy.crma_table()  # no EU27 bloc in the toy


def test_members_resolution(toy):
    assert toy.members("WEST") == {"USA", "AUS"}
    assert toy.members("CHN") == {"CHN"}
    assert toy.members(["CHN", "MMR"]) == {"CHN", "MMR"}
    with pytest.raises(InputError, match="unknown"):
        toy.members("Atlantis")


def test_members_by_name(toy):
    # a country or bloc as people write it: English name, ISO2, any case
    assert toy.members("Myanmar") == toy.members("burma") == toy.members("mm") == {"MMR"}
    assert toy.members("west") == {"USA", "AUS"}
    with pytest.raises(InputError, match=r"did you mean 'CHN' \(China\)"):
        toy.members("Chna")


def test_constructor_validation():
    with pytest.raises(InputError, match="stage"):
        SupplyChain(TOY_OUTPUT.rename(index={"metal": "smelting"}))
    with pytest.raises(ValueError, match="non-negative"):
        SupplyChain(TOY_OUTPUT * -1)
    with pytest.raises(ValueError, match="separation"):
        SupplyChain(TOY_OUTPUT.assign(CHN=[0.0, 1, 1, 1], MMR=0.0, USA=[0.0, 1, 1, 1]))
    single = SupplyChain(TOY_OUTPUT.loc[["mine"]])
    assert single.stages == ("mine",)
    assert single.control_share("CHN").loc["mine"].tolist() == [1, 0, 0]
    # stages are put in chain order whatever the row order
    shuffled = SupplyChain(TOY_OUTPUT.iloc[::-1], reo_per_unit={"magnet": 0.5})
    assert shuffled.stages == tuple(STAGES)
    assert shuffled.output.loc["mine", "CHN"] == 60


# -- from tables ---------------------------------------------------------------------------


def _tables():
    rows = [
        # year, stage, material, iso3, basis, vintage, tonnes, unit
        (2024, "mine", "REO", "CHN", "production", "B", 60, "t_REO"),
        (2024, "mine", "REO", "MMR", "production", "B", 20, "t_REO"),
        (2024, "mine", "REO", "USA", "production", "B", 20, "t_REO"),
        (2024, "mine", "REO", "USA", "production", "A", 99, "t_REO"),  # older vintage
        (2024, "mine", "REO", "WLD", "production", "B", 100, "t_REO"),  # aggregate
        (2024, "mine", "REO", "CHN", "capacity", "B", 500, "t_REO"),  # other basis
        (2023, "mine", "REO", "CHN", "production", "B", 1, "t_REO"),  # other year
        (2024, "separation", "REO", "CHN", "production", "B", 90, "t_REO"),
        (2024, "separation", "REO", "USA", "production", "B", 10, "t_REO"),
        (2024, "metal", "REO", "CHN", "production", "B", 80, "t_REO"),
        (2024, "metal", "REO", "USA", "production", "B", 20, "t_REO"),
        (2024, "magnet", "NdFeB", "CHN", "production", "B", 150, "t_product"),
        (2024, "magnet", "NdFeB", "USA", "production", "B", 50, "t_product"),
    ]
    stage_output = pd.DataFrame(
        rows, columns=["year", "stage", "material", "iso3", "basis", "vintage", "tonnes", "unit"]
    ).assign(source_id="toy")
    flows = pd.DataFrame(
        {
            "year": [2024, 2024, 2024],
            "stage": ["mine", "mine", "mine"],
            "material": ["REO", "REO", "REO"],
            "exporter": ["MMR", "MMR", "USA"],
            "importer": ["CHN", "CHN", "CHN"],
            "vintage": ["B", "B2", "B"],
            # B2 is newer, but B matches the vintage of MMR's mine output row → B is used
            "tonnes": [20.0, 25.0, 30_000.0],
            "unit": ["t_REO", "t_REO", "t"],  # gross weight: not convertible → skipped
        }
    )
    comp_rows = [
        (f"country:{iso}", el, iso, share)
        for iso, mix in TOY_COMPOSITION.iterrows()
        for el, share in mix.items()
        if share > 0
    ] + [("Bayan Obo", "Nd", "CHN", 0.185)]
    composition = pd.DataFrame(comp_rows, columns=["deposit", "element", "iso3", "share"])
    recipes = pd.DataFrame(
        {
            "product": ["NdFeB", "NdFeB"],
            "grade": ["typical", "typical"],
            "element": ["Nd", "Dy"],
            "wt_frac": [0.30, 0.02],
        }
    )
    vintages = pd.DataFrame({"vintage": ["A", "B", "B2"], "rank": [1, 2, 3]})
    countries = pd.DataFrame(
        {
            "iso3": ["CHN", "MMR", "USA", "WLD"],
            "kind": ["country", "country", "country", "aggregate"],
            "governance_score": [5.6, 8.0, 2.8, np.nan],
        }
    )
    blocs = pd.DataFrame({"bloc": ["WEST", "WEST"], "iso3": ["USA", "AUS"]})
    return stage_output, flows, composition, recipes, vintages, countries, blocs


def test_from_tables_matches_the_toy(toy):
    so, fl, comp, rec, vin, cty, blc = _tables()
    chain = SupplyChain.from_tables(
        so, fl, comp, rec, year=2024, vintages=vin, countries=cty, blocs=blc
    )
    assert chain.stages == tuple(STAGES)
    assert list(chain.countries) == ["CHN", "MMR", "USA"]  # WLD dropped
    assert chain.output.loc["mine", "USA"] == 20  # vintage B beats A
    assert chain.units["magnet"] == "t_product"
    # magnet factor from the recipe: 0.30·1.16638 + 0.02·1.14769 = 0.37287
    k = 0.30 * oxide_factor("Nd") + 0.02 * oxide_factor("Dy")
    assert chain.reo_per_unit["magnet"] == pytest.approx(k)
    assert chain.sourcing("separation")["CHN"].tolist() == pytest.approx(
        [60 / 90, 20 / 90, 10 / 90]
    )
    assert chain.meta["flows_skipped"] == ["mine:USA->CHN (t)"]
    assert chain.meta["vintages"]["mine"] == ["B"]
    assert chain.concentration_table()["hhi_wgi"].iloc[0] == pytest.approx(2.448)
    assert chain.members("WEST") == {"USA", "AUS"}
    # element chain: the magnets hold their recipe need (CHN: 150·0.02·1.14769 = 3.443 t
    # Dy2O3); the metal plants make what the magnets need; the 9 t mined and separated
    # cover it, and what no one is recorded to use stays visible as unallocated
    dy = chain.for_element("Dy")
    assert dy.output.loc["mine"].tolist() == pytest.approx([3, 6, 0])
    magnets = so[(so["stage"] == "magnet")].groupby("iso3")["tonnes"].sum()
    need = magnets * 0.02 * oxide_factor("Dy")
    assert dy.meta["recipe_need"]["magnet"] == pytest.approx(need.sum())
    assert dy.output.loc["magnet", "CHN"] == pytest.approx(need["CHN"])
    assert dy.output.loc["magnet", "USA"] == pytest.approx(need["USA"])
    assert dy.output.loc["metal"].sum() == pytest.approx(need.sum())
    assert dy.output.loc["separation"].sum() == pytest.approx(9)
    assert dy.meta["element_deficit"] == 0
    assert dy.meta["element_unallocated"]["separation"] == pytest.approx(9 - need.sum())
    assert chain.for_element("Dy", heavy_free=True).output.loc["magnet"].sum() == 0
    # asking for an element builds the REO chain and resolves it
    direct = SupplyChain.from_tables(so, fl, comp, rec, material="Dy", vintages=vin)
    assert direct.material == "Dy"
    np.testing.assert_allclose(direct.output.to_numpy(), dy.output.to_numpy())


def test_metal_in_tonnes_of_metal_is_routed_not_a_recipe_stage():
    so, fl, comp, rec, vin, _cty, _blc = _tables()
    so["tonnes"] = so["tonnes"].astype(float)
    metal = so["stage"] == "metal"
    # metal reported in t of metal: 80 and 20 t REO-eq ↔ 80/1.16638 and 20/1.16638 t metal
    so.loc[metal, "tonnes"] = so.loc[metal, "tonnes"] / oxide_factor("Nd")
    so.loc[metal, "unit"] = "t"
    chain = SupplyChain.from_tables(so, fl, comp, rec, vintages=vin)
    assert chain.reo_per_unit["metal"] == pytest.approx(oxide_factor("Nd"))
    assert chain.reo_output.loc["metal"].tolist() == pytest.approx([80, 0, 20])
    # metal plants make the Dy their magnet customers need, whatever unit the metal is
    # counted in: CHN's magnets need 3.443 t, USA's 1.148 t, each covered by its own metal
    # (USA's metal, 20 t REO-eq, exceeds its magnets' need at this recipe, 18.6)
    need = np.array([150.0, 0.0, 50.0]) * 0.02 * oxide_factor("Dy")
    assert chain.sourcing("magnet").loc["USA", "USA"] == 1.0
    assert chain.for_element("Dy").output.loc["metal"].tolist() == pytest.approx(need.tolist())


def test_known_flows_are_capped_at_the_exporters_output():
    k = np.zeros((2, 2))
    k[1, 0] = 30.0  # country 1 "ships" 30 but produces 10 (stale vintage, stocks)
    s, a = sourcing_matrix([50.0, 10.0], [60.0, 0.0], k)
    # capped to 10 from country 1; the rest of country 0's need (50) is domestic
    assert a[:, 0].tolist() == pytest.approx([50, 10])
    assert s[:, 0].tolist() == pytest.approx([5 / 6, 1 / 6])


def test_from_tables_vintage_and_basis_choices():
    so, fl, _comp, rec, vin, _cty, _blc = _tables()
    older = SupplyChain.from_tables(so, vintage={"mine": "A"}, vintages=vin)
    assert list(older.countries) == ["CHN", "USA"]  # vintage A lists only USA's mine
    assert older.stage_output("mine").tolist() == [0, 99]
    cap = SupplyChain.from_tables(so, basis="capacity")
    assert cap.stages == ("mine",) and cap.meta["stages_missing"] == STAGES[1:]
    no_recipe = SupplyChain.from_tables(so)
    assert no_recipe.reo_per_unit["magnet"] == pytest.approx(0.30 * oxide_factor("Nd"))
    with pytest.raises(InputError, match="2031"):
        SupplyChain.from_tables(so, year=2031)
    use = pd.DataFrame({"CHN": [100.0], "USA": [100.0]}, index=["magnet"])
    with_use = SupplyChain.from_tables(so, fl, recipes=rec, final_use=use)
    assert with_use.final_use.loc["magnet", "USA"] == 100
    assert with_use.stages == tuple(STAGES)


def test_from_default_data_with_a_toy_store(toy_store):
    chain = SupplyChain.from_default_data(2024, store=toy_store)
    # the toy package has only mine rows; newest vintage B: CHN 270,000, USA 45,500, AUS 29,000
    assert chain.stages == ("mine",)
    assert chain.stage_output("mine")[["CHN", "USA", "AUS"]].tolist() == [270_000, 45_500, 29_000]
    assert chain.concentration_table().loc["mine", "top_producer"] == "CHN"
    assert "WLD" not in chain.countries


def test_default_data_china_shares_next_to_the_published_ones(store):
    """Bottom-up shares are results, not inputs: they land within 5 points of the IEA's
    2024 figures (mine 69%, separation 91-92%, magnets 94%), which are cross-checks."""
    chain = SupplyChain.from_default_data(2024, store=store)
    shares = chain.shares()
    ss = store.table("stage_shares")
    iea = ss[(ss["iso3"] == "CHN") & ss["source_id"].isin(["iea_gcmo2025", "iea_2025_10_23",
                                                             "automotiveworld_2025_06_19"])]
    for stage in ("mine", "separation", "magnet"):
        published = iea.loc[iea["stage"] == stage, "share"].astype(float)
        assert len(published), stage
        assert abs(shares.loc[stage, "CHN"] - published.max()) <= 0.05, stage
    ct = chain.concentration_table()
    assert (ct["hhi"] <= 10_000).all()
    o = chain.origin_matrices()
    np.testing.assert_allclose(o.sum(axis=1), 1.0, atol=1e-9)
    assert metrics.hhi(shares.loc["mine"]) == pytest.approx(ct.loc["mine", "hhi"])
