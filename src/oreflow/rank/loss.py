"""Losses to the importer per scenario, and the ranking of materials by expected loss.

Pure functions over two tables: the runner's results (one block of ``Result.summary()`` rows
per scenario, with the key columns and ``shortfall_t_mean``, ``cost_musd_mean``) and the
scenario probabilities (:class:`oreflow.rank.scenarios.ScenarioSet`). Every sum is taken with
:func:`math.fsum` and every distribution sorted on its values, so the ranking does not
depend on the order of the scenarios.

Loss of one scenario to the importer [million USD, over the 36-month horizon]::

    L = shortfall_t · p / 1000 + cost_musd

``shortfall_t`` the importer segment's cumulative shortfall [t], ``p`` its base price
[USD/kg] (the value of the material not delivered, at the price it would have cost: a lower
bound of the damage, no downstream multiple), ``cost_musd`` the consumers' surplus loss from
higher prices [M USD] (the engine's cost of the shock; negative when prices fall).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "SWANSON",
    "loss_distribution",
    "rank_materials",
    "scenario_losses",
    "weighted_quantiles",
]

#: Swanson's rule: P10, P50 and P90 carry weights 0.3, 0.4 and 0.3 of a distribution
#: (Megill 1984; Hurst, Brown and Swanson 2000), the three-point stand-in for each
#: scenario's draws in the loss distribution.
SWANSON: tuple[tuple[str, float], ...] = (("p10", 0.3), ("p50", 0.4), ("p90", 0.3))
_ROLE = "targets"


def scenario_losses(results: pd.DataFrame, probabilities: pd.DataFrame) -> pd.DataFrame:
    """Loss to the importer of every scenario [M USD], with its yearly rate.

    Parameters
    ----------
    results : pandas.DataFrame
        Runner output: ``scenario_id``, ``material``, ``role``, ``base_price_usd_per_kg``,
        ``shortfall_t_mean``, ``cost_musd_mean`` and ``shortfall_t_p10/p50/p90``,
        ``cost_musd_p10/p50/p90``. Rows of other materials (coupled markets) and segments
        are ignored.
    probabilities : pandas.DataFrame
        ``scenario_id``, ``material``, ``supplier``, ``kind``, ``severity``,
        ``duration_months``, ``rate_per_yr`` [1/yr].

    Returns
    -------
    pandas.DataFrame
        One row per scenario: the probability columns, ``price_usd_per_kg``,
        ``shortfall_t_mean``, ``cost_musd_mean``, ``loss_musd_mean`` and
        ``loss_musd_p10/p50/p90`` (shortfall and cost quantiles added, i.e. taken to rank
        the draws alike), ``lost_output_t_mean`` when given, ``expected_musd_per_yr``
        (rate x mean loss) and ``simulated`` (False: the importer's segment is missing from
        the results, loss 0).

    Examples
    --------
    >>> res = pd.DataFrame({"scenario_id": ["a"], "material": ["Dy"], "role": ["targets"],
    ...     "base_price_usd_per_kg": [200.0], "shortfall_t_mean": [10.0],
    ...     "cost_musd_mean": [3.0], "shortfall_t_p10": [0.0], "shortfall_t_p50": [10.0],
    ...     "shortfall_t_p90": [20.0], "cost_musd_p10": [1.0], "cost_musd_p50": [3.0],
    ...     "cost_musd_p90": [5.0]})
    >>> pr = pd.DataFrame({"scenario_id": ["a"], "material": ["Dy"], "rate_per_yr": [0.1]})
    >>> row = scenario_losses(res, pr).iloc[0]
    >>> float(row["loss_musd_mean"]), round(float(row["expected_musd_per_yr"]), 6)
    (5.0, 0.5)
    """
    mine = results[(results["role"] == _ROLE)]
    mine = mine.merge(probabilities[["scenario_id", "material"]], on=["scenario_id",
                                                                      "material"])
    mine = mine.drop_duplicates("scenario_id").set_index("scenario_id")
    out = probabilities.copy().reset_index(drop=True)
    ids = out["scenario_id"]
    found = ids.isin(mine.index).to_numpy()
    price = ids.map(mine["base_price_usd_per_kg"]).fillna(0.0).to_numpy(dtype=np.float64)
    out["price_usd_per_kg"] = price
    out["simulated"] = found

    def col(name: str) -> np.ndarray:
        if name not in mine:
            return np.zeros(len(out))
        return ids.map(mine[name]).fillna(0.0).to_numpy(dtype=np.float64)

    out["shortfall_t_mean"] = col("shortfall_t_mean")
    out["cost_musd_mean"] = col("cost_musd_mean")
    out["loss_musd_mean"] = out["shortfall_t_mean"] * price / 1e3 + out["cost_musd_mean"]
    for q in ("p10", "p50", "p90"):
        out[f"loss_musd_{q}"] = col(f"shortfall_t_{q}") * price / 1e3 + col(f"cost_musd_{q}")
    if "lost_output_t_mean" in mine:
        out["lost_output_t_mean"] = col("lost_output_t_mean")
    out["expected_musd_per_yr"] = out["rate_per_yr"] * out["loss_musd_mean"]
    return out


def weighted_quantiles(values: Sequence[float], weights: Sequence[float],
                       qs: Sequence[float]) -> list[float]:
    """Quantiles of a discrete distribution (inverted CDF: the smallest value whose
    cumulative weight reaches ``q``), independent of the order of the points.

    Examples
    --------
    >>> weighted_quantiles([3.0, 1.0, 2.0], [0.2, 0.5, 0.3], [0.1, 0.5, 0.9])
    [1.0, 1.0, 3.0]
    """
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    keep = w > 0
    v, w = v[keep], w[keep]
    if v.size == 0:
        return [math.nan for _ in qs]
    order = np.lexsort((w, v))
    v, w = v[order], w[order]
    cum = np.cumsum(w) / math.fsum(w.tolist())
    out = []
    for q in qs:
        k = int(np.searchsorted(cum, q - 1e-12, side="left"))
        out.append(float(v[min(k, v.size - 1)]))
    return out


def loss_distribution(losses: pd.DataFrame) -> pd.DataFrame:
    """Each material's loss distribution given a disruption [M USD]: the scenarios mixed by
    their rates, each scenario's draws stood for by its P10/P50/P90 with Swanson's weights.

    Returns
    -------
    pandas.DataFrame
        ``material``, ``loss_musd_p10``, ``loss_musd_p50``, ``loss_musd_p90``,
        ``loss_musd_mean`` (rate-weighted mean loss per disruption).
    """
    rows = []
    for m, grp in losses.groupby("material", sort=True):
        vals: list[float] = []
        wts: list[float] = []
        for q, w in SWANSON:
            vals.extend(grp[f"loss_musd_{q}"].tolist())
            wts.extend((grp["rate_per_yr"] * w).tolist())
        p10, p50, p90 = weighted_quantiles(vals, wts, (0.1, 0.5, 0.9))
        total = math.fsum(grp["rate_per_yr"].tolist())
        mean = (math.fsum((grp["rate_per_yr"] * grp["loss_musd_mean"]).tolist()) / total
                if total > 0 else math.nan)
        rows.append({"material": m, "loss_musd_p10": p10, "loss_musd_p50": p50,
                     "loss_musd_p90": p90, "loss_musd_mean": mean})
    return pd.DataFrame(rows, columns=["material", "loss_musd_p10", "loss_musd_p50",
                                       "loss_musd_p90", "loss_musd_mean"])


def rank_materials(losses: pd.DataFrame) -> pd.DataFrame:
    """Materials ranked by expected loss per year [M USD/yr], highest first.

    Returns
    -------
    pandas.DataFrame
        ``rank``, ``material``, ``expected_loss_musd_per_yr`` (sum over scenarios of rate x
        mean loss), ``probability_per_yr`` (of any disruption that reaches the importer:
        ``1 - exp(-sum of rates)``), ``loss_musd_p10/p50/p90`` (given a disruption, from
        :func:`loss_distribution`), ``worst_scenario`` (highest mean loss),
        ``worst_loss_musd``, ``worst_probability_per_yr``, ``main_supplier`` (the supplier
        whose scenarios carry most of the expected loss), ``scenarios``.
    """
    dist = loss_distribution(losses).set_index("material")
    rows = []
    for m, grp in losses.groupby("material", sort=True):
        exp = math.fsum(grp["expected_musd_per_yr"].tolist())
        rate = math.fsum(grp["rate_per_yr"].tolist())
        g = grp.sort_values(["loss_musd_mean", "scenario_id"], ascending=[False, True])
        worst = g.iloc[0]
        by_sup = {s: math.fsum(x["expected_musd_per_yr"].tolist())
                  for s, x in grp.groupby("supplier", sort=True)}
        main = sorted(by_sup.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        rows.append({
            "material": m, "expected_loss_musd_per_yr": exp,
            "probability_per_yr": -math.expm1(-rate),
            "loss_musd_p10": dist.at[m, "loss_musd_p10"],
            "loss_musd_p50": dist.at[m, "loss_musd_p50"],
            "loss_musd_p90": dist.at[m, "loss_musd_p90"],
            "worst_scenario": str(worst["scenario_id"]),
            "worst_loss_musd": float(worst["loss_musd_mean"]),
            "worst_probability_per_yr": -math.expm1(-float(worst["rate_per_yr"])),
            "main_supplier": main, "scenarios": len(grp)})
    cols = ["rank", "material", "expected_loss_musd_per_yr", "probability_per_yr",
            "loss_musd_p10", "loss_musd_p50", "loss_musd_p90", "worst_scenario",
            "worst_loss_musd", "worst_probability_per_yr", "main_supplier", "scenarios"]
    if not rows:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(rows).sort_values(["expected_loss_musd_per_yr", "material"],
                                        ascending=[False, True], ignore_index=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df[cols]
