"""Golden results for one seeded run (toy baseline, so independent of dataset updates).

Regenerate after an intended model change with ``OREFLOW_REGEN_GOLDEN=1 pytest
tests/test_simulate_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from oreflow.simulate import Scenario, simulate, toy_baseline

HERE = Path(__file__).parent / "golden"
SEED = 20260101


def _run() -> pd.DataFrame:
    sc = Scenario.from_yaml(HERE / "simulate_toy_scenario.yaml")
    res = simulate(sc, draws=200, seed=SEED, baseline=toy_baseline())
    return res.summary()


def test_golden_summary():
    got = _run()
    path = HERE / "simulate_toy_summary.csv"
    if os.environ.get("OREFLOW_REGEN_GOLDEN") == "1":
        got.to_csv(path, index=False, float_format="%.10g")
    assert path.exists(), f"golden file {path} is missing (regenerate: OREFLOW_REGEN_GOLDEN=1)"
    want = pd.read_csv(path)
    assert list(got.columns) == list(want.columns)
    assert (
        got[["material", "region", "role"]]
        .astype(str)
        .equals(want[["material", "region", "role"]].astype(str))
    )
    num = [c for c in got.columns if c not in ("material", "region", "role")]
    a = got[num].to_numpy(dtype=float)
    b = want[num].to_numpy(dtype=float)
    assert np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True)
