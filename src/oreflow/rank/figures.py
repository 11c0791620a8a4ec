"""The ranking as a picture: expected loss per material with the P10-P90 band of one
disruption's loss (matplotlib, for ``oreflow rank --plot``).

Draws from the ranking table, never recomputes it. Matplotlib is imported inside the
functions, with the non-interactive Agg backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from oreflow.plotting import check_plot_path, pyplot, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["check_plot_path", "ranking_figure", "save_figure"]







def ranking_figure(ranking: pd.DataFrame, importer: str) -> Figure:
    """Horizontal bars of the expected loss [M USD/yr] per material, highest on top, on a
    symmetric-log axis (losses span orders of magnitude and may be negative); a second panel
    gives each material's loss per disruption, P50 with a P10-P90 whisker [M USD]."""
    plt = pyplot()
    df = ranking.reset_index(drop=True)
    n = max(len(df), 1)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 0.32 * n + 1.8), sharey=True)
    y = list(range(len(df)))
    ax.barh(y, df["expected_loss_musd_per_yr"].to_numpy(dtype=float), color="#3182bd")
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlabel("expected loss [M USD/yr]")
    ax.set_yticks(y)
    ax.set_yticklabels(df["material"].astype(str).tolist())
    ax.invert_yaxis()
    mid = df["loss_musd_p50"].to_numpy(dtype=float)
    lo = np.clip(mid - df["loss_musd_p10"].to_numpy(dtype=float), 0.0, None)
    hi = np.clip(df["loss_musd_p90"].to_numpy(dtype=float) - mid, 0.0, None)
    bx.errorbar(mid, y, xerr=np.vstack([lo, hi]), fmt="o", color="#e6550d", ecolor="#636363",
                capsize=3, ms=4)
    bx.set_xscale("symlog", linthresh=0.01)
    bx.set_xlabel("loss per disruption, P50 and P10-P90 [M USD]")
    fig.suptitle(f"Criticality ranking for {importer}: expected loss from supplier "
                 "disruptions")
    fig.tight_layout()
    return cast("Figure", fig)
