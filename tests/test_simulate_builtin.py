"""Built-in scenarios run on the embedded data; the data baseline is consistent."""

from __future__ import annotations

import numpy as np
import pytest

from oreflow.simulate import (
    Regions,
    Scenario,
    build_baseline,
    list_builtin,
    mass_balance_residual,
    simulate,
)
from oreflow.simulate.baseline import check_baseline


@pytest.mark.parametrize("name", list_builtin())
def test_builtin_runs_and_balances(name):
    sc = Scenario.builtin(name).with_horizon(12)
    res = simulate(sc, draws=6, seed=1)
    assert np.all(res.arrays.price > 0)
    scale = float(np.abs(res.arrays.supply).max()) + 1.0
    assert float(mass_balance_residual(res).max()) <= 1e-5 * scale
    s = res.summary()
    assert not s.empty
    assert res.provenance["scenario"] == name
    assert res.provenance["dataset_version"]


def test_data_baseline_2024():
    b = build_baseline(2024)
    check_baseline(b)
    assert b.materials[-2:] == ("NdFeB", "SmCo")
    assert b.price[b.index("Dy")] == pytest.approx(257.0)  # USGS MCS2026, China FOB 2024
    assert b.price[b.index("Nd")] == pytest.approx(56.0)
    # controller dominates separation and magnets
    for m in ("Dy", "Tb", "NdFeB"):
        q = b.production[b.index(m)]
        assert q[0] / q.sum() > 0.85
    # data gaps are flagged, not silent
    assert any("no supply data" in n for n in b.notes["Pm"])
    assert any("fallback" in n for n in b.notes["Tm"])
    assert any("derived" in n for n in b.notes["NdFeB"])
    # Myanmar's mines feed Chinese heavy-RE separation
    mmr = b.origin[("MMR", "mine")]
    assert mmr[b.index("Dy"), 0] > 0.2


def test_data_baseline_with_targets_and_historic():
    b = build_baseline(2024, ["Dy", "NdFeB"], Regions("CHN", ("JPN", "USA")))
    assert b.materials == ("Pr", "Nd", "Tb", "Dy", "NdFeB")  # recipe elements kept
    assert b.consumption()[:, 2].sum() > 0
    h = build_baseline(2009, ["Nd", "Dy"], Regions("CHN", ("JPN",)))
    check_baseline(h)
    assert h.price[h.index("Dy")] == pytest.approx(115.67)  # 2009 average FOB (Lynas table)
    assert any("derived" in n for n in h.notes["Dy"])
