"""Concentration, supply-risk and bloc metrics of a supply chain.

Pure functions over numpy arrays and pandas objects: no IO, no plotting. Array conventions:

- a *distribution* over countries is a :class:`pandas.Series` indexed by ISO3 code, a
  :class:`pandas.DataFrame` whose **columns** are ISO3 codes and whose rows are groups (stages,
  materials, years), or a :class:`numpy.ndarray` whose **last axis** runs over countries;
- shares are fractions in [0, 1] (not percent); tonnes are t REO/yr unless said otherwise;
- a missing value (NaN) means "not known", never zero: functions either propagate it or ask
  what to do with it.

The concentration measures follow the antitrust convention (HHI on 0–10,000); the supply-risk
measures follow the EU criticality methodology of 2017 (shares as fractions, governance on 0–10,
results on 0–10); the bloc benchmarks follow the Critical Raw Materials Act, Regulation (EU)
2024/1252, Art. 5. Equations and references are in each function's Notes and in
``docs/model.md``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Literal, TypeAlias, overload

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CRMA_EXTRACTION",
    "CRMA_PROCESSING",
    "CRMA_RECYCLING",
    "CRMA_SINGLE_COUNTRY_CAP",
    "MissingGovernance",
    "bloc_self_sufficiency",
    "bottleneck",
    "cr",
    "crma_benchmarks",
    "hhi",
    "import_reliance",
    "largest_outside_supplier_share",
    "shares",
    "single_points_of_failure",
    "supply_risk",
    "top_producer",
    "wgi_weighted_hhi",
]

FloatArray: TypeAlias = NDArray[np.float64]
MissingGovernance: TypeAlias = Literal["propagate", "raise", "worst", "exclude"] | float
"""How :func:`wgi_weighted_hhi` treats a producer without a governance score.

``"propagate"`` (default) makes the result NaN; ``"raise"`` raises :class:`ValueError` naming the
countries; ``"worst"`` uses the worst score, 10; ``"exclude"`` drops the producer's term (the
result is then a lower bound); a number is used as the score.
"""

#: CRMA Art. 5(1)(a)(i): Union extraction capacity ≥ 10 % of Union annual consumption.
CRMA_EXTRACTION = 0.10
#: CRMA Art. 5(1)(a)(ii): Union processing capacity ≥ 40 % of Union annual consumption.
CRMA_PROCESSING = 0.40
#: CRMA Art. 5(1)(a)(iii): Union recycling capacity ≥ 25 % of Union annual consumption.
CRMA_RECYCLING = 0.25
#: CRMA Art. 5(1)(b): ≤ 65 % of Union annual consumption from a single third country, at any
#: relevant stage of processing.
CRMA_SINGLE_COUNTRY_CAP = 0.65

_TOL = 1e-9


# --------------------------------------------------------------------------------------------
# helpers


def _as_float_array(x: ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    if np.any(arr < 0):  # NaN compares False
        raise ValueError(f"{name} must be non-negative")
    return arr


def _check_shares(s: FloatArray) -> None:
    if np.any(s < -_TOL) or np.any(s > 1 + _TOL):
        raise ValueError("shares must be fractions in [0, 1] (not percent)")


def _argmax(x: pd.Series) -> tuple[Hashable | None, float]:
    """Label and value of the largest non-NaN entry (first on ties); (None, nan) if none."""
    values = x.to_numpy(dtype=np.float64)
    if values.size == 0 or np.all(np.isnan(values)):
        return None, float("nan")
    pos = int(np.nanargmax(values))
    label: Hashable = x.index[pos]
    return label, float(values[pos])


def _all_nan(s: FloatArray) -> NDArray[np.bool_]:
    result: NDArray[np.bool_] = np.all(np.isnan(s), axis=-1)
    return result


# --------------------------------------------------------------------------------------------
# concentration


@overload
def shares(output: pd.Series) -> pd.Series: ...
@overload
def shares(output: pd.DataFrame) -> pd.DataFrame: ...
@overload
def shares(output: NDArray[Any]) -> FloatArray: ...
def shares(
    output: pd.Series | pd.DataFrame | NDArray[Any],
) -> pd.Series | pd.DataFrame | FloatArray:
    """Shares of each country in total output.

    Parameters
    ----------
    output : pandas.Series, pandas.DataFrame or numpy.ndarray
        Output by country [t REO/yr, or any unit shared by all entries]. A Series is indexed by
        country; a DataFrame has countries as columns and one distribution per row; an array
        has countries on its last axis. Must be non-negative.

    Returns
    -------
    same type as ``output``
        Shares in [0, 1] [-], summing to 1 over countries. NaN entries of ``output`` (unknown
        output) are left out of the total and stay NaN. A distribution whose total is zero
        gives NaN shares.

    Notes
    -----
    .. math:: s_c = Q_c / \\sum_{c'} Q_{c'}

    Examples
    --------
    >>> import pandas as pd
    >>> shares(pd.Series({"CHN": 270_000.0, "USA": 45_000.0, "AUS": 45_000.0})).round(3)
    CHN    0.750
    USA    0.125
    AUS    0.125
    dtype: float64
    """
    x = _as_float_array(output, "output")
    total = np.nansum(x, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(total > 0, x / total, np.nan)
    if isinstance(output, pd.DataFrame):
        return pd.DataFrame(s, index=output.index, columns=output.columns)
    if isinstance(output, pd.Series):
        return pd.Series(s, index=output.index, name=output.name)
    result: FloatArray = s
    return result


@overload
def hhi(shares: pd.Series) -> float: ...
@overload
def hhi(shares: pd.DataFrame) -> pd.Series: ...
@overload
def hhi(shares: NDArray[Any]) -> FloatArray: ...
def hhi(shares: pd.Series | pd.DataFrame | NDArray[Any]) -> float | pd.Series | FloatArray:
    """Herfindahl–Hirschman index on the 0–10,000 scale.

    Parameters
    ----------
    shares : pandas.Series, pandas.DataFrame or numpy.ndarray
        Shares in [0, 1] [-] (countries on the last axis / as columns). Used as given (not
        renormalised); NaN entries are not producers and are skipped.

    Returns
    -------
    float, pandas.Series or numpy.ndarray
        HHI [-] in [10,000/n, 10,000] for n producers whose shares sum to 1; NaN for an all-NaN
        distribution. A DataFrame gives one value per row.

    Notes
    -----
    .. math:: \\mathrm{HHI} = \\sum_c (100\\, s_c)^2

    US DOJ/FTC merger guidelines call a market above 1,800 (2023 guidelines) highly
    concentrated.

    References
    ----------
    .. [1] Hirschman, A. O. (1964). The paternity of an index. American Economic Review 54(5),
       761.
    .. [2] U.S. Department of Justice and Federal Trade Commission (2023). Merger Guidelines,
       §2.1.

    Examples
    --------
    >>> import pandas as pd
    >>> hhi(pd.Series({"CHN": 0.75, "USA": 0.125, "AUS": 0.125}))
    5937.5
    """
    s = np.asarray(shares, dtype=np.float64)
    _check_shares(s)
    value = np.nansum((100.0 * s) ** 2, axis=-1)
    value = np.where(_all_nan(s), np.nan, value)
    if isinstance(shares, pd.DataFrame):
        return pd.Series(value, index=shares.index, name="hhi")
    if isinstance(shares, pd.Series):
        return float(value)
    result: FloatArray = np.asarray(value, dtype=np.float64)
    return result


@overload
def cr(shares: pd.Series, n: int = 1) -> float: ...
@overload
def cr(shares: pd.DataFrame, n: int = 1) -> pd.Series: ...
@overload
def cr(shares: NDArray[Any], n: int = 1) -> FloatArray: ...
def cr(
    shares: pd.Series | pd.DataFrame | NDArray[Any], n: int = 1
) -> float | pd.Series | FloatArray:
    """Concentration ratio CR-n: combined share of the n largest producers.

    Parameters
    ----------
    shares : pandas.Series, pandas.DataFrame or numpy.ndarray
        Shares in [0, 1] [-], countries on the last axis / as columns. NaN entries are skipped.
    n : int, default 1
        Number of largest producers (CR1, CR3, …). If fewer producers exist, all count.

    Returns
    -------
    float, pandas.Series or numpy.ndarray
        CR-n in [0, 1] [-]; NaN for an all-NaN distribution.

    Notes
    -----
    .. math:: \\mathrm{CR}_n = \\sum_{k=1}^{n} s_{(k)}, \\quad s_{(1)} \\ge s_{(2)} \\ge \\dots

    Examples
    --------
    >>> import pandas as pd
    >>> round(cr(pd.Series({"CHN": 0.7, "USA": 0.12, "MMR": 0.07, "AUS": 0.11}), 3), 6)
    0.93
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    s = np.asarray(shares, dtype=np.float64)
    _check_shares(s)
    ordered = -np.sort(-np.nan_to_num(s, nan=0.0), axis=-1)
    value = np.where(_all_nan(s), np.nan, ordered[..., :n].sum(axis=-1))
    if isinstance(shares, pd.DataFrame):
        return pd.Series(value, index=shares.index, name=f"cr{n}")
    if isinstance(shares, pd.Series):
        return float(value)
    result: FloatArray = np.asarray(value, dtype=np.float64)
    return result


@overload
def top_producer(shares: pd.Series) -> tuple[Hashable | None, float]: ...
@overload
def top_producer(shares: pd.DataFrame) -> pd.DataFrame: ...
def top_producer(
    shares: pd.Series | pd.DataFrame,
) -> tuple[Hashable | None, float] | pd.DataFrame:
    """Largest producer and its share.

    Parameters
    ----------
    shares : pandas.Series or pandas.DataFrame
        Shares [-] (or output — the argmax is the same) by country; a DataFrame has countries as
        columns and one distribution per row.

    Returns
    -------
    tuple or pandas.DataFrame
        ``(country, share)`` for a Series — ``(None, nan)`` if every entry is NaN; for a
        DataFrame, columns ``top_producer`` and ``top_share`` indexed like the rows. Ties go to
        the first country in column order.

    Examples
    --------
    >>> import pandas as pd
    >>> top_producer(pd.Series({"USA": 0.12, "CHN": 0.7, "MMR": 0.07}))
    ('CHN', 0.7)
    """
    if isinstance(shares, pd.Series):
        return _argmax(shares)
    values = shares.to_numpy(dtype=np.float64)
    filled = np.where(np.isnan(values), -np.inf, values)
    idx = np.argmax(filled, axis=1) if values.shape[1] else np.zeros(len(values), dtype=int)
    empty = _all_nan(values) if values.shape[1] else np.ones(len(values), dtype=bool)
    labels = np.asarray(shares.columns, dtype=object)
    top = [None if e else labels[i] for i, e in zip(idx, empty, strict=True)]
    share = np.where(
        empty, np.nan, values[np.arange(len(values)), idx] if values.shape[1] else np.nan
    )
    return pd.DataFrame({"top_producer": top, "top_share": share}, index=shares.index)


@overload
def single_points_of_failure(shares: pd.Series, threshold: float = 0.5) -> pd.Series: ...
@overload
def single_points_of_failure(shares: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame: ...
def single_points_of_failure(
    shares: pd.Series | pd.DataFrame, threshold: float = 0.5
) -> pd.Series | pd.DataFrame:
    """Producers whose share alone reaches a threshold.

    Parameters
    ----------
    shares : pandas.Series or pandas.DataFrame
        Shares in [0, 1] [-] by country; a DataFrame has countries as columns and one
        distribution per row (e.g. stages as rows).
    threshold : float, default 0.5
        Share at or above which losing a single country removes that much supply [-]. The EU
        CRMA uses 0.65 for the share of consumption from one third country
        (:data:`CRMA_SINGLE_COUNTRY_CAP`).

    Returns
    -------
    pandas.Series or pandas.DataFrame
        For a Series: the qualifying shares, largest first. For a DataFrame: a tidy table with
        the row label (column named like the DataFrame's index, or ``group``), ``country`` and
        ``share``, one row per qualifying (row, country).

    Examples
    --------
    >>> import pandas as pd
    >>> single_points_of_failure(pd.Series({"CHN": 0.9, "MYS": 0.06, "EST": 0.04}))
    CHN    0.9
    dtype: float64
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    if isinstance(shares, pd.Series):
        _check_shares(shares.to_numpy(dtype=np.float64))
        hit = shares[shares >= threshold - _TOL]
        return hit.sort_values(ascending=False)
    _check_shares(shares.to_numpy(dtype=np.float64))
    group = shares.index.name if shares.index.name is not None else "group"
    values = shares.to_numpy(dtype=np.float64)
    rows, cols = np.nonzero(values >= threshold - _TOL)
    long = pd.DataFrame(
        {
            str(group): shares.index[rows],
            "country": shares.columns[cols],
            "share": values[rows, cols],
        }
    )
    hit_df = long
    return hit_df.sort_values([str(group), "share"], ascending=[True, False]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# EU supply risk


def _governance_terms(
    s: FloatArray,
    score: FloatArray,
    adjustment: FloatArray,
    missing: MissingGovernance,
    countries: pd.Index,
) -> FloatArray:
    """s: (..., n) shares; score: (n,) or like s; adjustment: (n,). Σ s² g t over the last axis."""
    lacking = np.isnan(score)
    produces = np.nan_to_num(s, nan=0.0) > 0
    needed = produces & lacking  # (..., n)
    if isinstance(missing, str):
        if missing == "raise":
            if np.any(needed):
                flat = np.atleast_1d(needed.reshape(-1, needed.shape[-1]).any(axis=0)).tolist()
                names = ", ".join(str(c) for c, f in zip(countries, flat, strict=True) if f)
                raise ValueError(f"no governance score for producer(s): {names}")
            filled = np.nan_to_num(score, nan=0.0)
        elif missing == "worst":
            filled = np.where(lacking, 10.0, score)
        elif missing in ("exclude", "propagate"):
            filled = np.nan_to_num(score, nan=0.0)
        else:
            raise ValueError(f"unknown option missing={missing!r}")
    else:
        fill = float(missing)
        if not 0.0 <= fill <= 10.0:
            raise ValueError("a governance fill value must lie in [0, 10]")
        filled = np.where(lacking, fill, score)
    value = np.nansum(np.nan_to_num(s, nan=0.0) ** 2 * filled * adjustment, axis=-1)
    if missing == "propagate":
        value = np.where(np.any(needed, axis=-1), np.nan, value)
    value = np.where(_all_nan(s), np.nan, value)
    result: FloatArray = np.asarray(value, dtype=np.float64)
    return result


@overload
def wgi_weighted_hhi(
    shares: pd.Series,
    governance_score: pd.Series,
    *,
    trade_adjustment: pd.Series | None = None,
    missing: MissingGovernance = "propagate",
) -> float: ...
@overload
def wgi_weighted_hhi(
    shares: pd.DataFrame,
    governance_score: pd.Series | pd.DataFrame,
    *,
    trade_adjustment: pd.Series | None = None,
    missing: MissingGovernance = "propagate",
) -> pd.Series: ...
def wgi_weighted_hhi(
    shares: pd.Series | pd.DataFrame,
    governance_score: pd.Series | pd.DataFrame,
    *,
    trade_adjustment: pd.Series | None = None,
    missing: MissingGovernance = "propagate",
) -> float | pd.Series:
    """Governance-weighted HHI of the EU criticality methodology (HHI_WGI,t), on 0–10.

    Parameters
    ----------
    shares : pandas.Series or pandas.DataFrame
        Shares in [0, 1] [-] of each country in supply (global production, or a bloc's sourcing
        mix); a DataFrame has countries as columns and one distribution per row.
    governance_score : pandas.Series or pandas.DataFrame
        Governance score by country on 0–10, higher = worse [-]: the mean of the six World Bank
        WGI estimates rescaled as ``(2.5 − wgi) · 2`` (``countries.governance_score``). Aligned
        on country labels; a producer absent from it has no score. A DataFrame gives one row
        of scores per row of ``shares`` (e.g. scores of different years).
    trade_adjustment : pandas.Series, optional
        Trade-restriction factor t_c ≥ 1 by country (export taxes, quotas, bans) as in the 2017
        methodology [-]; countries not listed get 1 (no restriction). Default: 1 everywhere.
    missing : {"propagate", "raise", "worst", "exclude"} or float, default "propagate"
        What to do when a country with a positive share has no governance score (see
        :data:`MissingGovernance`). A missing score is never read as zero.

    Returns
    -------
    float or pandas.Series
        HHI_WGI,t [-] in [0, 10]; one value per row for a DataFrame.

    Notes
    -----
    .. math:: \\mathrm{HHI}_{WGI,t} = \\sum_c s_c^2 \\, \\mathrm{WGI}_c \\, t_c

    with s_c as a fraction and WGI_c on 0–10. This is the EU scaling (Blengini et al. 2017;
    EC 2017 guidelines): a single producer with the worst governance scores 10. Multiply by
    10,000 for the "percent" convention :math:`\\sum_c (100 s_c)^2 \\mathrm{WGI}_c` — 0–100,000 —
    that some studies use; :func:`supply_risk` expects the EU scale.

    References
    ----------
    .. [1] Blengini, G. A. et al. (2017). Assessment of the Methodology for Establishing the EU
       List of Critical Raw Materials — Background Report. JRC, EUR 28654 EN.
       doi:10.2760/73303
    .. [2] European Commission (2017). Methodology for establishing the EU list of critical raw
       materials: Guidelines. doi:10.2873/769526
    .. [3] Kaufmann, D., Kraay, A. (2024). The Worldwide Governance Indicators, World Bank.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.Series({"CHN": 0.75, "USA": 0.125, "AUS": 0.125})
    >>> g = pd.Series({"CHN": 5.6, "USA": 2.8, "AUS": 2.0})
    >>> round(wgi_weighted_hhi(s, g), 4)  # 0.75²·5.6 + 0.125²·2.8 + 0.125²·2.0
    3.225
    """
    columns = shares.columns if isinstance(shares, pd.DataFrame) else shares.index
    score: FloatArray
    if isinstance(governance_score, pd.DataFrame):
        if not isinstance(shares, pd.DataFrame):
            raise ValueError("row-wise governance scores need shares as a DataFrame")
        score = governance_score.reindex(index=shares.index, columns=columns).to_numpy(
            dtype=np.float64
        )
    else:
        score = governance_score.reindex(columns).to_numpy(dtype=np.float64)
    if np.any(score < 0) or np.any(score > 10):
        raise ValueError("governance scores must be on 0–10 (higher = worse)")
    if trade_adjustment is None:
        adjustment = np.ones(len(columns))
    else:
        adjustment = trade_adjustment.reindex(columns).fillna(1.0).to_numpy(dtype=np.float64)
        if np.any(adjustment < 1):
            raise ValueError("trade adjustment factors must be >= 1")
    s = shares.to_numpy(dtype=np.float64)
    _check_shares(s)
    value = _governance_terms(s, score, adjustment, missing, pd.Index(columns))
    if isinstance(shares, pd.DataFrame):
        return pd.Series(value, index=shares.index, name="hhi_wgi")
    return float(value)


_RiskInput: TypeAlias = float | FloatArray | pd.Series


@overload
def supply_risk(
    hhi_wgi_global: float,
    hhi_wgi_sourcing: float,
    import_reliance: float,
    eol_rir: float = 0.0,
    si_sr: float = 1.0,
) -> float: ...
@overload
def supply_risk(
    hhi_wgi_global: pd.Series,
    hhi_wgi_sourcing: _RiskInput,
    import_reliance: _RiskInput,
    eol_rir: _RiskInput = 0.0,
    si_sr: _RiskInput = 1.0,
) -> pd.Series: ...
@overload
def supply_risk(
    hhi_wgi_global: FloatArray,
    hhi_wgi_sourcing: _RiskInput,
    import_reliance: _RiskInput,
    eol_rir: _RiskInput = 0.0,
    si_sr: _RiskInput = 1.0,
) -> FloatArray: ...
def supply_risk(
    hhi_wgi_global: _RiskInput,
    hhi_wgi_sourcing: _RiskInput,
    import_reliance: _RiskInput,
    eol_rir: _RiskInput = 0.0,
    si_sr: _RiskInput = 1.0,
) -> float | FloatArray | pd.Series:
    """EU supply risk (SR) of the 2017 criticality methodology.

    Parameters
    ----------
    hhi_wgi_global : float, numpy.ndarray or pandas.Series
        HHI_WGI,t of global supply, EU scale 0–10 [-] (:func:`wgi_weighted_hhi`).
    hhi_wgi_sourcing : float, numpy.ndarray or pandas.Series
        HHI_WGI,t of the importer's actual sourcing (domestic production plus imports by
        origin), EU scale 0–10 [-].
    import_reliance : float, numpy.ndarray or pandas.Series
        Net import reliance IR in [0, 1] [-] (:func:`import_reliance`).
    eol_rir : float, numpy.ndarray or pandas.Series, default 0.0
        End-of-life recycling input rate in [0, 1] [-]: share of the material's input that
        comes from recycled old scrap. Default 0 (no credit); supply the EU factsheet value.
    si_sr : float, numpy.ndarray or pandas.Series, default 1.0
        Substitution index for supply risk in [0, 1] [-]; 1 = no substitute. Default 1
        (conservative).

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        SR [-], on the HHI_WGI scale 0–10; broadcast over the inputs. The EU list uses SR ≥ 1
        (with economic importance ≥ 2.8) as its criticality threshold. NaN inputs give NaN.

    Notes
    -----
    .. math::

        SR = \\left[\\mathrm{HHI}_{WGI,t}^{GS}\\,\\frac{IR}{2}
             + \\mathrm{HHI}_{WGI,t}^{sourcing}\\left(1 - \\frac{IR}{2}\\right)\\right]
             (1 - \\mathrm{EoL_{RIR}})\\, SI_{SR}

    Both HHI terms are on the EU scale (shares as fractions 0–1 times WGI 0–10 → 0–10), as in
    the guidelines; do not pass HHI on the 0–10,000 scale.

    References
    ----------
    .. [1] European Commission (2017). Methodology for establishing the EU list of critical raw
       materials: Guidelines, §3.2. doi:10.2873/769526
    .. [2] Blengini, G. A. et al. (2017). Assessment of the Methodology for Establishing the EU
       List of Critical Raw Materials — Background Report. JRC, EUR 28654 EN.

    Examples
    --------
    >>> round(supply_risk(4.8, 5.0, 1.0, eol_rir=0.0, si_sr=0.9), 3)
    4.41
    """
    g = np.asarray(hhi_wgi_global, dtype=np.float64)
    so = np.asarray(hhi_wgi_sourcing, dtype=np.float64)
    ir = np.asarray(import_reliance, dtype=np.float64)
    eol = np.asarray(eol_rir, dtype=np.float64)
    si = np.asarray(si_sr, dtype=np.float64)
    for name, arr, hi in (
        ("hhi_wgi_global", g, 10.0),
        ("hhi_wgi_sourcing", so, 10.0),
        ("import_reliance", ir, 1.0),
        ("eol_rir", eol, 1.0),
        ("si_sr", si, 1.0),
    ):
        if np.any(arr < -_TOL) or np.any(arr > hi + 1e-6):
            raise ValueError(f"{name} must lie in [0, {hi:g}] (EU scale)")
    value = (g * ir / 2.0 + so * (1.0 - ir / 2.0)) * (1.0 - eol) * si
    for obj in (hhi_wgi_global, hhi_wgi_sourcing, import_reliance, eol_rir, si_sr):
        if isinstance(obj, pd.Series):
            return pd.Series(np.broadcast_to(value, obj.shape), index=obj.index, name="sr")
    if value.ndim == 0:
        return float(value)
    result: FloatArray = value
    return result


def bottleneck(risk: pd.Series) -> tuple[Hashable | None, float]:
    """The stage (or other label) with the highest value, ignoring NaN.

    Parameters
    ----------
    risk : pandas.Series
        A risk or concentration measure by stage [-].

    Returns
    -------
    tuple
        ``(label, value)`` of the maximum; ``(None, nan)`` if every value is NaN. Ties go to the
        first label (the most upstream stage in chain order).

    Examples
    --------
    >>> import pandas as pd
    >>> bottleneck(pd.Series({"mine": 3.1, "separation": 4.9, "magnet": float("nan")}))
    ('separation', 4.9)
    """
    return _argmax(risk)


@overload
def import_reliance(
    production: float, imports: float, exports: float, *, clip: bool = True
) -> float: ...
@overload
def import_reliance(
    production: pd.Series, imports: _RiskInput, exports: _RiskInput, *, clip: bool = True
) -> pd.Series: ...
@overload
def import_reliance(
    production: FloatArray, imports: _RiskInput, exports: _RiskInput, *, clip: bool = True
) -> FloatArray: ...
def import_reliance(
    production: _RiskInput, imports: _RiskInput, exports: _RiskInput, *, clip: bool = True
) -> float | FloatArray | pd.Series:
    """Net import reliance.

    Parameters
    ----------
    production : float, numpy.ndarray or pandas.Series
        Domestic production [t REO/yr] (≥ 0).
    imports, exports : float, numpy.ndarray or pandas.Series
        Imports and exports of the same material at the same stage [t REO/yr] (≥ 0).
    clip : bool, default True
        Clip to [0, 1] as the EU methodology does (net exporters get 0; apparent consumption
        met from stocks cannot push IR above 1). With ``clip=False`` the raw ratio is returned
        (negative for net exporters).

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        IR [-]. If apparent consumption P + I − E is zero or negative: 0 for a net exporter
        (I < E), NaN if there is no consumption and no net trade (P + I − E = 0 and I = E).

    Notes
    -----
    .. math:: IR = \\frac{I - E}{P + I - E}

    Examples
    --------
    >>> import_reliance(production=1_000.0, imports=9_000.0, exports=0.0)
    0.9
    >>> import_reliance(production=270_000.0, imports=30_000.0, exports=60_000.0)
    0.0
    """
    p = _as_float_array(production, "production")
    i = _as_float_array(imports, "imports")
    e = _as_float_array(exports, "exports")
    net = i - e
    consumption = p + net
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(consumption > 0, net / consumption, np.nan)
    if clip:
        value = np.where(consumption > 0, np.clip(raw, 0.0, 1.0), np.nan)
        value = np.where((consumption <= 0) & (net < 0), 0.0, value)
    else:
        value = raw
    for obj in (production, imports, exports):
        if isinstance(obj, pd.Series):
            return pd.Series(np.broadcast_to(value, obj.shape), index=obj.index, name="ir")
    if value.ndim == 0:
        return float(value)
    result: FloatArray = value
    return result


# --------------------------------------------------------------------------------------------
# blocs


@overload
def bloc_self_sufficiency(bloc_output: float, bloc_demand: float) -> float: ...
@overload
def bloc_self_sufficiency(bloc_output: pd.Series, bloc_demand: _RiskInput) -> pd.Series: ...
@overload
def bloc_self_sufficiency(bloc_output: FloatArray, bloc_demand: _RiskInput) -> FloatArray: ...
def bloc_self_sufficiency(
    bloc_output: _RiskInput, bloc_demand: _RiskInput
) -> float | FloatArray | pd.Series:
    """Self-sufficiency of a bloc: its own output over its demand.

    Parameters
    ----------
    bloc_output : float, numpy.ndarray or pandas.Series
        Output of the bloc's members at a stage [t REO/yr].
    bloc_demand : float, numpy.ndarray or pandas.Series
        The bloc's demand for that stage's material, same unit [t REO/yr].

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Ratio [-], not capped (above 1 = net surplus). Zero demand gives ``inf`` if the bloc
        produces and NaN if it does not; NaN inputs give NaN.

    Notes
    -----
    .. math:: SS_B = \\sum_{c \\in B} Q_c \\Big/ D_B

    Examples
    --------
    >>> bloc_self_sufficiency(12_000.0, 40_000.0)
    0.3
    """
    out = _as_float_array(bloc_output, "bloc_output")
    dem = _as_float_array(bloc_demand, "bloc_demand")
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(dem > 0, out / dem, np.where(out > 0, np.inf, np.nan))
    value = np.where(np.isnan(out) | np.isnan(dem), np.nan, value)
    for obj in (bloc_output, bloc_demand):
        if isinstance(obj, pd.Series):
            return pd.Series(np.broadcast_to(value, obj.shape), index=obj.index, name="ss")
    if value.ndim == 0:
        return float(value)
    result: FloatArray = value
    return result


def largest_outside_supplier_share(
    supply: pd.Series, members: Iterable[Hashable]
) -> tuple[Hashable | None, float]:
    """The largest supplier outside a bloc and its share of the bloc's supply.

    Parameters
    ----------
    supply : pandas.Series
        The bloc's supply of a stage's material by supplying country, members' own supply
        included [t REO/yr].
    members : iterable of str
        ISO3 codes of the bloc's members.

    Returns
    -------
    tuple
        ``(country, share)`` where share is that country's supply over **total** bloc supply
        [-]. ``(None, 0.0)`` if no outside country supplies; ``(None, nan)`` if total supply is
        zero or unknown.

    Notes
    -----
    .. math:: \\max_{j \\notin B} \\; x_j \\Big/ \\sum_j x_j

    Examples
    --------
    >>> import pandas as pd
    >>> largest_outside_supplier_share(
    ...     pd.Series({"CHN": 80.0, "JPN": 10.0, "VNM": 5.0, "DEU": 5.0}), {"DEU", "FRA"}
    ... )
    ('CHN', 0.8)
    """
    values = _as_float_array(supply, "supply")
    total = float(np.nansum(values))
    if not total > 0:
        return None, float("nan")
    inside = supply.index.isin(list(members))
    outside = supply[~inside].dropna()
    outside = outside[outside > 0]
    if outside.empty:
        return None, 0.0
    label, top = _argmax(outside)
    return label, top / total


def crma_benchmarks(
    bloc_output: pd.Series,
    bloc_demand: pd.Series,
    supplier_shares: pd.DataFrame,
    members: Iterable[Hashable],
    *,
    recycling_output: float | None = None,
    recycling_demand: float | None = None,
    stage_roles: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Test a bloc against the EU Critical Raw Materials Act benchmarks.

    Parameters
    ----------
    bloc_output : pandas.Series
        Bloc output by stage [t REO/yr]. For the Act's own reading use capacity, not
        production.
    bloc_demand : pandas.Series
        Bloc annual consumption of each stage's material, by stage, same unit [t REO/yr].
    supplier_shares : pandas.DataFrame
        Share of the bloc's consumption of each stage's material by supplying country
        (stages as rows, countries as columns, rows summing to 1) [-].
    members : iterable of str
        ISO3 codes of the bloc (EU27 for the Act); every other country is a third country.
    recycling_output : float, optional
        Bloc recycling output (or capacity) [t REO/yr]. Without it the recycling test is NA.
    recycling_demand : float, optional
        Consumption the recycling benchmark is measured against [t REO/yr]; default the
        demand of the first extraction stage.
    stage_roles : mapping of str to str, optional
        Role of each stage: ``"extraction"`` or ``"processing"`` (others get only the 65 %
        test). Default ``{"mine": "extraction", "separation": "processing", "metal":
        "processing"}``.

    Returns
    -------
    pandas.DataFrame
        One row per test with columns ``benchmark`` (``extraction``, ``processing``,
        ``recycling``, ``single_third_country``), ``stage``, ``value`` [-], ``threshold`` [-],
        ``comparison`` (``>=`` or ``<=``), ``passes`` (nullable boolean; NA when an input is
        missing or the bloc demand is zero) and ``detail`` (the largest third country for the
        65 % test, or why a test is NA).

    Notes
    -----
    Art. 5(1) of Regulation (EU) 2024/1252 sets, for 2030: extraction capacity ≥ 10 %,
    processing capacity ≥ 40 % and recycling capacity ≥ 25 % of the Union's annual
    consumption of strategic raw materials; and not more than 65 % of the Union's annual
    consumption of each strategic raw material, at any relevant stage of processing, from a
    single third country. Here each processing stage is tested on its own (a stricter reading
    than pooling them):

    .. math::

        \\frac{Q_{B,s}}{D_{B,s}} \\ge \\theta_{role(s)}, \\qquad
        \\max_{j \\notin B} \\sigma_{B,s,j} \\le 0.65

    References
    ----------
    .. [1] Regulation (EU) 2024/1252 of 11 April 2024 establishing a framework for ensuring a
       secure and sustainable supply of critical raw materials (Critical Raw Materials Act),
       OJ L, 2024/1252, Art. 5(1).
    """
    roles = (
        dict(stage_roles)
        if stage_roles is not None
        else {
            "mine": "extraction",
            "separation": "processing",
            "metal": "processing",
        }
    )
    thresholds = {"extraction": CRMA_EXTRACTION, "processing": CRMA_PROCESSING}
    member_set = set(members)
    rows: list[dict[str, Any]] = []
    stages = list(dict.fromkeys([*bloc_output.index, *supplier_shares.index]))
    for stage in stages:
        role = roles.get(str(stage))
        if role in thresholds:
            demand = float(bloc_demand.get(stage, np.nan))
            ss = bloc_self_sufficiency(float(bloc_output.get(stage, np.nan)), demand)
            known = np.isfinite(ss) and demand > 0
            rows.append(
                {
                    "benchmark": role,
                    "stage": stage,
                    "value": ss,
                    "threshold": thresholds[role],
                    "comparison": ">=",
                    "passes": bool(ss >= thresholds[role]) if known else pd.NA,
                    "detail": "" if known else "bloc demand is zero or unknown",
                }
            )
        if stage in supplier_shares.index:
            row = supplier_shares.loc[stage]
            who, share = largest_outside_supplier_share(row, member_set)
            rows.append(
                {
                    "benchmark": "single_third_country",
                    "stage": stage,
                    "value": share,
                    "threshold": CRMA_SINGLE_COUNTRY_CAP,
                    "comparison": "<=",
                    "passes": pd.NA if np.isnan(share) else bool(share <= CRMA_SINGLE_COUNTRY_CAP),
                    "detail": "" if who is None else str(who),
                }
            )
    first_extraction = next((s for s in stages if roles.get(str(s)) == "extraction"), None)
    if recycling_demand is None and first_extraction is not None:
        recycling_demand = float(bloc_demand.get(first_extraction, np.nan))
    if recycling_output is None or recycling_demand is None:
        rec = float("nan")
    else:
        rec = bloc_self_sufficiency(float(recycling_output), float(recycling_demand))
    rows.append(
        {
            "benchmark": "recycling",
            "stage": "recycling",
            "value": rec,
            "threshold": CRMA_RECYCLING,
            "comparison": ">=",
            "passes": pd.NA if np.isnan(rec) else bool(rec >= CRMA_RECYCLING),
            "detail": "" if recycling_output is not None else "no recycling data given",
        }
    )
    table = pd.DataFrame(rows)
    table["passes"] = table["passes"].astype("boolean")
    return table
