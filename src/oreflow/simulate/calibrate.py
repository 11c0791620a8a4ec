"""Calibration of the engine's behavioural parameters by approximate Bayesian computation.

:func:`calibrate` draws ``n`` parameter vectors from the priors (the distributions in
:class:`~oreflow.simulate.scenario.Parameters`), runs both calibration episodes
(:data:`~oreflow.simulate.episodes.EPISODES`) once per vector — one vectorised run per
episode, the same vectors in both — scores every run against the episode's observed record
(:func:`distance`) and keeps the closest share ``accept`` of the vectors: an ABC rejection
sample of the posterior. The same prior runs give the two one-episode posteriors of the
leave-one-episode-out validation. Everything is seeded: the same seed, draws and data give
the same sample (``oreflow calibrate --check`` compares with the shipped files).

The distance (docs/validation.md) is, per episode, a weighted mean over groups of squared
log errors — outside prices, inside prices and ratios, export volumes, and the headline
peaks (height and month) — and over episodes the root of their mean.

The prior is truncated to markets whose price-stock loop is stable (:func:`loop_gain`
below 1): a vector outside is never accepted, whatever its distance.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.data.store import Store, resolve_store
from oreflow.rng import named_stream

from .episodes import EPISODES, Episode, model_values, observations, outside_multiple, peak_month
from .posterior import POSTERIOR, calibration_dir
from .result import Result
from .run import simulate
from .scenario import Parameters, Scenario

__all__ = [
    "FITTED",
    "GROUP_WEIGHTS",
    "MAX_LOOP_GAIN",
    "Calibration",
    "EpisodeRun",
    "calibrate",
    "distance",
    "loop_gain",
    "prior_values",
    "run_episode",
    "write_calibration",
]

F = NDArray[np.float64]

#: The parameters fitted (paths into :class:`Parameters`); the others keep their sourced
#: or assumed distributions.
FITTED: tuple[str, ...] = (
    "elasticity.default",
    "user_cover_months",
    "trader_cover_months",
    "stock_adjustment_months",
    "hoarding_strength",
    "speculative_response",
    "price_cover_sensitivity",
    "price_adjustment_months",
    "expectation_memory_months",
    "price_reversion_months",
    "trade_response",
    "leakage",
    "quota_leakage",
    "quota_premium_response",
    "licence_processing_initial",
    "licence_processing_final",
    "licence_processing_ramp_months",
    "licence_capacity_months",
    "controller_supply_response",
    "state_purchase_rate",
    "state_purchase_threshold",
)
#: Weights of the observation groups in an episode's distance.
GROUP_WEIGHTS: dict[str, float] = {"outside": 1.0, "inside": 0.5, "exports": 0.5,
                                   "peak": 1.0}  # fmt: skip
#: Offset of export ratios in the log error (exports can be zero) [x baseline].
EXPORT_OFFSET = 0.05
#: Scale of peak-month errors [months].
PEAK_MONTH_SCALE = 6.0


def loop_gain(values: Mapping[str, F]) -> F:
    """Gain of the traders' price-stock loop, ``alpha * eta * c_t / (c_u + c_t)``, per vector.

    A price ``delta`` above its expected level raises the traders' desired stock by
    ``eta delta`` (docs/engine.md 4.5), the market's desired stock by the traders' share of
    cover times that, and the indicated price by ``alpha`` times the log of it (4.11): a
    gain of 1 or more feeds itself, and the price runs to its backstop and back to its
    floor with no shock to drive it (a 5% demand change grows into 0.3-13 x cycles,
    tests/test_simulate_engine.py). Priors truncated this way are the practice for models
    with such regions (e.g. the determinacy region of estimated macro models).
    """
    c_u = np.asarray(values["user_cover_months"], np.float64)
    c_t = np.asarray(values["trader_cover_months"], np.float64)
    return np.asarray(values["price_cover_sensitivity"] * values["speculative_response"]
                      * c_t / (c_u + c_t))


#: Largest loop gain a calibrated vector may have (:func:`loop_gain`).
MAX_LOOP_GAIN = 1.0


def prior_values(n: int, seed: int, names: Sequence[str] = FITTED) -> dict[str, F]:
    """``n`` draws from the priors of the fitted parameters, by path (seeded)."""
    par = Parameters(calibrated=False)
    out: dict[str, F] = {}
    for name in names:
        fld, _, key = name.partition(".")
        dist = getattr(par, fld)
        if key:
            dist = dist[key]
        out[name] = np.asarray(dist.sample(n, rng=named_stream(seed, f"prior.{name}")))
    return out


@dataclass
class EpisodeRun:
    """One episode run: the result, its observations and the model's values of them."""

    episode: Episode
    result: Result
    obs: pd.DataFrame
    values: F  # (draws, observations)
    outside: F  # (draws, steps, materials): outside price multiple

    def peaks(self) -> pd.DataFrame:
        """Observed and per-draw model peaks of the headline outside prices.

        One row per headline material: ``observed_peak``, ``observed_month`` and the model's
        per-draw ``peak``/``month`` arrays (object columns).
        """
        res = self.result
        months = res.months
        out_m = self.outside
        rows = []
        for m in self.episode.headline:
            o = self.obs[(self.obs["kind"] == "price") & (self.obs["side"] == "outside")
                         & (self.obs["material"] == m)]
            if o.empty or m not in res.materials:
                continue
            top, when = peak_month(o["observed"].to_numpy()[None, :],
                                   o["month_from"].to_numpy(dtype=np.float64))
            p, pm = peak_month(out_m[:, :, res.materials.index(m)], months)
            rows.append({"material": m, "observed_peak": float(top[0]),
                         "observed_month": float(when[0]), "peak": p, "month": pm})
        return pd.DataFrame(rows)


def run_episode(
    episode: str | Episode,
    draws: int,
    seed: int,
    *,
    values: Mapping[str, F] | None = None,
    calibrated: bool = True,
    store: Store | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EpisodeRun:
    """Run an episode's scenario and read the model's values of its observations."""
    ep = EPISODES[episode] if isinstance(episode, str) else episode
    sc = Scenario.builtin(ep.scenario)
    if not calibrated:
        sc = sc.model_copy(update={"parameters": sc.parameters.model_copy(
            update={"calibrated": False})})
    res = simulate(sc, draws=draws, seed=seed, values=values, store=store, progress=progress)
    obs = observations(ep, sc.start, store=store)
    outside = outside_multiple(res)
    return EpisodeRun(ep, res, obs, model_values(res, obs, outside=outside), outside)


def _log_err(model: F, obs: pd.DataFrame) -> tuple[F, NDArray[np.bool_], NDArray[np.bool_]]:
    """Log errors (draws, observations) and masks of the outside and export observations."""
    o = obs["observed"].to_numpy(dtype=np.float64)
    is_exp = (obs["kind"] == "exports").to_numpy()
    off = np.where(is_exp, EXPORT_OFFSET, 0.0)
    err = np.log((np.maximum(model, 1e-9) + off) / (o + off)[None, :])
    outside = (obs["side"] == "outside").to_numpy()
    return err, outside, is_exp


def distance(run: EpisodeRun) -> F:
    """Distance of every draw of an episode run from the observed record, (draws,).

    ``sum_g w_g mse_g / sum_g w_g`` over the groups present (:data:`GROUP_WEIGHTS`): the mean
    squared log error of the outside prices, of the inside prices and ratios, of export
    volumes (offset :data:`EXPORT_OFFSET`), and of the headline peaks (log height and month
    error over :data:`PEAK_MONTH_SCALE`, each counted once per headline material).
    """
    err, outside, is_exp = _log_err(run.values, run.obs)
    inside = ~outside & ~is_exp
    total = np.zeros(err.shape[0])
    weight = 0.0
    for name, mask in (("outside", outside), ("inside", inside), ("exports", is_exp)):
        if mask.any():
            total += GROUP_WEIGHTS[name] * np.mean(err[:, mask] ** 2, axis=1)
            weight += GROUP_WEIGHTS[name]
    pk = run.peaks()
    if not pk.empty:
        sq = np.zeros(err.shape[0])
        for _, r in pk.iterrows():
            sq += np.log(np.asarray(r["peak"]) / r["observed_peak"]) ** 2
            sq += ((np.asarray(r["month"]) - r["observed_month"]) / PEAK_MONTH_SCALE) ** 2
        total += GROUP_WEIGHTS["peak"] * sq / (2 * len(pk))
        weight += GROUP_WEIGHTS["peak"]
    return np.asarray(total / weight)


@dataclass
class Calibration:
    """The outcome of :func:`calibrate`: accepted samples and the report."""

    samples: dict[str, pd.DataFrame]
    """Accepted parameter vectors: ``posterior`` (both episodes) and
    ``posterior-<episode>`` (one each)."""
    report: dict[str, Any] = field(default_factory=dict)
    """Objective, data, seed, sizes, acceptance and the posterior summary."""


def calibrate(
    draws: int = 20_000,
    seed: int = 2026,
    *,
    accept: float = 0.02,
    store: Store | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Calibration:
    """ABC rejection on both episodes; see the module docstring.

    Parameters
    ----------
    draws : int, default 20000
        Parameter vectors drawn from the priors (one engine draw each per episode).
    seed : int, default 2026
        Seed of the prior draws and of the runs' other random inputs.
    accept : float, default 0.02
        Share of vectors kept (the closest to the record).
    store : oreflow.data.store.Store, optional
        Data the baselines and observations are read from.
    progress : callable, optional
        ``progress(episode, done, total)`` during the runs.
    """
    if not 0 < accept <= 1:
        raise ValueError("accept must be in (0, 1]")
    st = resolve_store(store)
    t0 = time.perf_counter()
    vals = prior_values(draws, seed)
    dist: dict[str, F] = {}
    data: dict[str, Any] = {}
    for name, ep in EPISODES.items():
        def tick(done: int, total: int, _n: str = name) -> None:
            if progress is not None:
                progress(_n, done, total)

        run = run_episode(ep, draws, seed, values=vals, calibrated=False, store=st,
                          progress=tick)
        dist[name] = distance(run)
        data[name] = {
            "scenario": ep.scenario,
            "observations": len(run.obs),
            "by_kind": {f"{k}/{sd}": int(((run.obs["kind"] == k) & (run.obs["side"] == sd)).sum())
                        for k, sd in sorted(set(zip(run.obs["kind"], run.obs["side"],
                                                    strict=True)))},
            "sources": sorted(set(run.obs["source_id"])),
            "headline_peaks": [
                {"material": r["material"], "observed_peak": round(r["observed_peak"], 3),
                 "observed_month": r["observed_month"]} for _, r in run.peaks().iterrows()],
        }
    k = max(round(accept * draws), 1)
    frame = pd.DataFrame(vals)
    stable = loop_gain(vals) < MAX_LOOP_GAIN
    combined = np.sqrt(np.mean(np.stack(list(dist.values())), axis=0))
    picks = {POSTERIOR: combined, **{f"{POSTERIOR}-{n}": np.sqrt(d) for n, d in dist.items()}}
    picks = {label: np.where(stable, d, np.inf) for label, d in picks.items()}
    samples: dict[str, pd.DataFrame] = {}
    accepted: dict[str, Any] = {}
    for label, d in picks.items():
        idx = np.sort(np.argsort(d, kind="stable")[:k])
        samples[label] = frame.iloc[idx].reset_index(drop=True)
        accepted[label] = {
            "distance_max_accepted": float(d[idx].max()),
            "distance_p50_prior": float(np.median(d[stable])),
            "parameters": {
                c: {q: float(np.quantile(samples[label][c], p))
                    for q, p in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9))}
                for c in frame.columns},
        }
    report = {
        "method": "ABC rejection: prior draws, one simulation per draw and episode, keep the "
                  "closest share by the distance (docs/validation.md)",
        "objective": {"group_weights": GROUP_WEIGHTS, "export_offset": EXPORT_OFFSET,
                      "peak_month_scale_months": PEAK_MONTH_SCALE,
                      "combined": "sqrt(mean over episodes of the episode distance)"},
        "seed": seed, "draws": draws, "accept": accept, "accepted": k,
        "stability": {"rule": "loop_gain = price_cover_sensitivity * speculative_response * "
                              "trader_cover / (user_cover + trader_cover) < "
                              f"{MAX_LOOP_GAIN:g}",
                      "excluded": int((~stable).sum())},
        "fitted": list(FITTED), "episodes": data, "samples": accepted,
        "dataset_fingerprint": st.fingerprint(),
        "elapsed_s": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
    return Calibration(samples=samples, report=report)


def write_calibration(cal: Calibration, directory: str | Path | None = None) -> list[Path]:
    """Write the samples (CSV, 6 significant digits) and ``calibration.json``; default
    directory: the package's calibration files (:func:`calibration_dir`)."""
    out = Path(directory) if directory is not None else calibration_dir()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for label, df in cal.samples.items():
        p = out / f"{label}.csv"
        df.to_csv(p, index=False, float_format="%.6g", lineterminator="\n")
        paths.append(p)
    rep = {k: v for k, v in cal.report.items() if k != "elapsed_s"}
    p = out / "calibration.json"
    p.write_text(json.dumps(rep, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    paths.append(p)
    return paths
