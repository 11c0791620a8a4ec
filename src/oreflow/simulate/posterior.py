"""The calibrated parameter sample shipped with oreflow (``simulate/calibration/``).

``oreflow calibrate`` (:mod:`oreflow.simulate.calibrate`) fits the engine's behavioural
parameters to the two calibration episodes by approximate Bayesian computation and writes
the accepted parameter vectors, one row per accepted draw, to ``posterior.csv`` (both
episodes) and ``posterior-<episode>.csv`` (one episode each, for the leave-one-episode-out
validation). Runs draw whole rows from it, so the fitted parameters keep their joint
distribution (:func:`oreflow.simulate.draws.sample_draws`).
"""

from __future__ import annotations

import csv
import threading
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from oreflow.rng import named_stream

__all__ = ["POSTERIOR", "calibration_dir", "load_posterior", "posterior_values", "read_sample"]

#: Name of the sample fitted on both episodes (the default of every run).
POSTERIOR = "posterior"

_CACHE: dict[str, dict[str, NDArray[np.float64]] | None] = {}
_LOCK = threading.Lock()


def calibration_dir() -> Path:
    """Directory of the shipped calibration files (inside the installed package)."""
    return Path(str(resources.files("oreflow.simulate").joinpath("calibration")))


def read_sample(path: Path) -> dict[str, NDArray[np.float64]]:
    """Columns of a parameter sample CSV (header = parameter paths, one row per draw)."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 2:
        raise ValueError(f"{path}: no rows")
    head, body = rows[0], rows[1:]
    data = np.array(body, dtype=np.float64)
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{path}: non-finite values")
    return {name: data[:, j].copy() for j, name in enumerate(head)}


def load_posterior(name: str = POSTERIOR) -> dict[str, NDArray[np.float64]] | None:
    """The shipped sample ``name`` (``posterior`` or ``posterior-<episode>``), or None if
    the package has none (before the first calibration). Cached."""
    with _LOCK:
        if name not in _CACHE:
            path = calibration_dir() / f"{name}.csv"
            _CACHE[name] = read_sample(path) if path.is_file() else None
        return _CACHE[name]


def posterior_values(name: str, n: int, seed: int) -> dict[str, NDArray[np.float64]]:
    """``n`` whole rows of the shipped sample ``name``, drawn with the seed's
    ``calibration.rows`` stream (as a default run draws them), by parameter path."""
    post = load_posterior(name)
    if not post:
        raise FileNotFoundError(f"no calibrated sample {name!r} in {calibration_dir()} "
                                "(run: oreflow calibrate)")
    size = len(next(iter(post.values())))
    rows = named_stream(seed, "calibration.rows").integers(0, size, n)
    return {k: v[rows] for k, v in post.items()}
