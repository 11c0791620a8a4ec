"""Validation of the engine on the calibration episodes, in and out of sample.

:func:`validate` runs an episode with a calibrated sample — the one fitted on both episodes
(in sample) or the one fitted on the other episode alone (leave-one-episode-out) — and
compares every dated observation with the model's P10/P50/P90, the headline peaks (height
and month) and the recovery, and checks the bands the project holds the engine to
(:data:`BANDS`). :func:`figure` draws the observed points over the model's fan chart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.data.store import Store

from .calibrate import EpisodeRun, run_episode
from .episodes import EPISODES
from .posterior import POSTERIOR, posterior_values

__all__ = ["BANDS", "Validation", "figure", "predictive", "validate"]

F = NDArray[np.float64]

#: The bands a validation must meet (docs/validation.md): on a calibration episode (fitted
#: on both) the P50 peak within a factor ``peak_factor`` of the observed peak, its month
#: within ``peak_months``, at least ``coverage`` of the observations inside P10-P90 and the
#: P90/P50 ratio of the peak at most ``spread``; out of sample the peak within
#: ``loo_peak_factor``.
BANDS: dict[str, float] = {"peak_factor": 1.5, "peak_months": 3.0, "coverage": 0.6,
                           "spread": 3.0, "loo_peak_factor": 2.5}  # fmt: skip


@dataclass
class Validation:
    """One episode validated with one calibrated sample."""

    episode: str
    fitted_on: str
    """``both`` (in sample) or the name of the other episode (leave-one-out)."""
    run: EpisodeRun
    table: pd.DataFrame
    """Every observation with the model's ``p10``/``p50``/``p90`` and ``inside`` (bool)."""
    peaks: pd.DataFrame
    """Headline peaks: observed and model P10/P50/P90 of height and month."""
    checks: pd.DataFrame
    """The bands: ``check``, ``value``, ``limit``, ``passes``."""

    @property
    def passes(self) -> bool:
        """All bands met."""
        return bool(self.checks["passes"].all())

    def _repr_html_(self) -> str:
        """Notebook view: the verdict and the bands (with observed points over the model
        fan: :func:`oreflow.report.notebook.validation_html`)."""
        import html

        colour = "green" if self.passes else "#D55E00"
        return (f"<p style='color:{colour}'><b>{html.escape(self.verdict())}</b></p>"
                + self.checks.to_html(index=False, escape=True))

    def verdict(self) -> str:
        """One line: which bands hold."""
        failed = self.checks.loc[~self.checks["passes"], "check"].tolist()
        where = "in sample" if self.fitted_on == "both" else f"fitted on {self.fitted_on} only"
        if not failed:
            return f"{self.episode} ({where}): inside every band"
        return f"{self.episode} ({where}): outside the bands for {', '.join(failed)}"


def validate(
    episode: str,
    draws: int = 500,
    seed: int = 2010,
    *,
    out_of_sample: bool = False,
    store: Store | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Validation:
    """Run ``episode`` with a calibrated sample and score it against the record.

    Parameters
    ----------
    episode : str
        ``re-2010`` or ``gage-2023``.
    draws : int, default 500
        Monte Carlo draws.
    seed : int, default 2010
        Seed (parameter rows and the scenario's own random inputs).
    out_of_sample : bool, default False
        Use the sample fitted on the other episode alone (leave-one-episode-out).
    """
    if episode not in EPISODES:
        raise KeyError(f"unknown episode {episode!r}; known: {', '.join(EPISODES)}")
    other = next(n for n in EPISODES if n != episode)
    sample = f"{POSTERIOR}-{other}" if out_of_sample else POSTERIOR
    vals = posterior_values(sample, draws, seed)
    run = run_episode(episode, draws, seed, values=vals, store=store, progress=progress)
    q = np.quantile(predictive(run.values, run.obs, seed), (0.1, 0.5, 0.9), axis=0)
    table = run.obs.copy()
    table["p10"], table["p50"], table["p90"] = q[0], q[1], q[2]
    lo = np.where(np.isfinite(table["observed_low"]), table["observed_low"], table["observed"])
    hi = np.where(np.isfinite(table["observed_high"]), table["observed_high"],
                  table["observed"])
    table["inside"] = (hi >= table["p10"]) & (lo <= table["p90"])
    pk = run.peaks()
    rec = run.result.months_to_recovery()  # (D, M, R)
    peak_rows = []
    for _, r in pk.iterrows():
        p = np.asarray(r["peak"])
        mo = np.asarray(r["month"])
        i = run.result.materials.index(r["material"])
        rec_out = rec[:, i, 1:].max(axis=1)  # every outside segment recovered
        peak_rows.append({
            "material": r["material"], "observed_peak": r["observed_peak"],
            "peak_p10": float(np.quantile(p, 0.1)), "peak_p50": float(np.quantile(p, 0.5)),
            "peak_p90": float(np.quantile(p, 0.9)), "observed_month": r["observed_month"],
            "month_p10": float(np.quantile(mo, 0.1)), "month_p50": float(np.quantile(mo, 0.5)),
            "month_p90": float(np.quantile(mo, 0.9)),
            "recovery_outside_p50": float(np.quantile(rec_out, 0.5, method="inverted_cdf")),
            "recovery_inside_p50": float(np.quantile(rec[:, i, 0], 0.5,
                                                     method="inverted_cdf")),
        })  # fmt: skip
    peaks = pd.DataFrame(peak_rows)
    checks = _checks(table, peaks, out_of_sample)
    return Validation(episode, other if out_of_sample else "both", run, table, peaks, checks)


def predictive(values: F, obs: pd.DataFrame, seed: int) -> F:
    """What the model predicts an observation to read, per draw (draws, observations): its
    value times the measurement noise of the observed series, ``exp(N(0, noise_sd))``
    (:func:`~oreflow.simulate.episodes.month_noise`; none where ``noise_sd`` is 0). Seeded
    from ``seed``, so a validation is reproducible."""
    sd = obs["noise_sd"].to_numpy(np.float64) if "noise_sd" in obs else np.zeros(len(obs))
    if not np.any(sd > 0):
        return values
    z = np.random.default_rng([seed, 7]).standard_normal(values.shape)
    return np.asarray(values * np.exp(z * sd[None, :]))


def _checks(table: pd.DataFrame, peaks: pd.DataFrame, loo: bool) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for _, p in peaks.iterrows():
        ratio = p["peak_p50"] / p["observed_peak"]
        factor = max(ratio, 1.0 / ratio)
        limit = BANDS["loo_peak_factor"] if loo else BANDS["peak_factor"]
        rows.append({"check": f"{p['material']} peak (P50 / observed)", "value": ratio,
                     "limit": f"within x{limit:g}", "passes": factor <= limit})
        if loo:
            continue
        dm = p["month_p50"] - p["observed_month"]
        rows.append({"check": f"{p['material']} peak month (P50 - observed)", "value": dm,
                     "limit": f"within {BANDS['peak_months']:g} months",
                     "passes": abs(dm) <= BANDS["peak_months"]})
        spread = p["peak_p90"] / p["peak_p50"]
        rows.append({"check": f"{p['material']} peak P90/P50", "value": spread,
                     "limit": f"at most {BANDS['spread']:g}", "passes": spread <= BANDS["spread"]})
    if not loo:
        share = float(table["inside"].mean()) if len(table) else 0.0
        rows.append({"check": "observations inside P10-P90", "value": share,
                     "limit": f"at least {BANDS['coverage']:.0%}",
                     "passes": share >= BANDS["coverage"]})
    return pd.DataFrame(rows)


def figure(v: Validation, path: str | Path) -> Path:
    """Write a PNG: per headline material the outside price fan chart (P10-P90, P50) with
    the observed multiples, the controller's domestic price, and exports against record."""
    # imported here: matplotlib takes about half a second to import and only the figure needs
    # it; `import oreflow.simulate` stays light
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = v.run.result
    months = res.months
    mats = [m for m in EPISODES[v.episode].headline if m in res.materials]
    fig, axes = plt.subplots(2, len(mats), figsize=(5.2 * len(mats), 7.2), squeeze=False)
    out_m = v.run.outside
    ins_m = res.price_multiple()[..., 0]
    t = v.table
    for j, m in enumerate(mats):
        i = res.materials.index(m)
        ax = axes[0, j]
        for series, colour, name in ((out_m[:, :, i], "tab:blue", "outside"),
                                     (ins_m[:, :, i], "tab:orange", "inside (controller)")):
            q = np.quantile(series, (0.1, 0.5, 0.9), axis=0)
            ax.fill_between(months, q[0], q[2], color=colour, alpha=0.2, lw=0)
            ax.plot(months, q[1], color=colour, lw=1.6, label=f"model {name} P50 (P10-P90)")
        o = t[(t["kind"] == "price") & (t["material"] == m)]
        for side, mk in (("outside", "o"), ("inside", "s")):
            s = o[o["side"] == side]
            ax.scatter(s["month_from"], s["observed"], marker=mk, s=18, edgecolors="k",
                       facecolors="none" if side == "inside" else "k",
                       label=f"observed {side}", zorder=3)
        ax.set_title(f"{m}: price, multiple of the pre-episode level")
        ax.set_xlabel(f"months from {res.scenario.start:%b %Y}")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax2 = axes[1, j]
        e = t[(t["kind"] == "exports") & (t["material"].isin([m, "REE"]))]
        if not e.empty:
            ax2.errorbar((e["month_from"] + e["month_to"]) / 2 - 0.5, e["p50"],
                         yerr=[e["p50"] - e["p10"], e["p90"] - e["p50"]], fmt="o", ms=3,
                         color="tab:blue", label="model P50 (P10-P90)")
            ax2.hlines(e["observed"], e["month_from"], e["month_to"] - 1e-3, color="k", lw=2,
                       label="observed (period)")
        what = "rare earths" if (e["material"] == "REE").any() else m
        ax2.set_title(f"controller's exports of {what}, x pre-episode rate")
        ax2.set_xlabel(f"months from {res.scenario.start:%b %Y}")
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=7)
    fig.suptitle(v.verdict(), fontsize=10)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p
