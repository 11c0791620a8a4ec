"""The supply-chain network for one year and material: stages, countries, sourcing, tracing.

A :class:`SupplyChain` holds, for a material and a year, the output Q[s, c] of every node
(stage s, country c) over the stages ``mine → separation → metal → magnet`` (optionally
followed by a ``use`` stage of final consumption) and the **sourcing matrices** S_s[j, c] — the
share of stage-s inputs in country c that come from stage s−1 in country j. From those it
derives origin mixes, control shares, X-origin content and de-minimis reach, bloc balances and
the concentration and EU supply-risk tables of :mod:`oreflow.metrics`.

Pure numpy/pandas: no IO except :meth:`SupplyChain.from_default_data`, which asks
:mod:`oreflow.store` for the embedded tables. Equations, rules and references are in
``docs/model.md`` (sections *Supply chain* and *Metrics*).

Units: each stage has its own unit (``t_REO`` for mine, separation and metal; ``t_product`` —
tonnes of NdFeB — for magnets). Sourcing compares a stage's input requirement with the upstream
stage's output in **t REO-equivalent** (REO-eq): each stage carries a factor ``reo_per_unit``
[t REO-eq per unit of output], 1 for t_REO and the recipe's rare-earth content expressed as
oxide for magnets (:func:`reo_per_tonne`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from oreflow import metrics
from oreflow.errors import InputError, unknown

if TYPE_CHECKING:
    from oreflow.store import Store

__all__ = [
    "DEFAULT_RE_CONTENT_NDFEB",
    "NON_NODE_CODES",
    "RARE_EARTHS",
    "RESIDUAL_CODES",
    "STAGES",
    "USE_STAGE",
    "SupplyChain",
    "control_shares",
    "origin_matrices",
    "oxide_factor",
    "recipe_content",
    "reo_per_tonne",
    "sourcing_matrix",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Production stages in chain order.
STAGES: tuple[str, ...] = ("mine", "separation", "metal", "magnet")
#: Optional final stage: consumption of the last production stage's output by country.
USE_STAGE = "use"
#: Residual country codes kept as one node each ("other countries", "rest of world").
RESIDUAL_CODES = frozenset({"OTH", "ROW"})
#: Aggregate codes that are never nodes (their members are, or they double-count).
NON_NODE_CODES = frozenset({"WLD", "EUU", "TOP3", "TOP10", "SEL18", "MMR+CHN"})
#: The 17 rare-earth elements by symbol.
RARE_EARTHS: tuple[str, ...] = (
    "Sc", "Y", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu",
    "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu",
)  # fmt: skip
#: Rare-earth content of sintered NdFeB used when no recipe is given [t RE metal / t magnet]:
#: "about 30 %" (JMB / NEDO; recipes source ``jmb_nedo_dy40``).
DEFAULT_RE_CONTENT_NDFEB = 0.30

# Standard atomic weights [g/mol], IUPAC 2021 (abridged); Pm: mass number of the longest-lived
# isotope (145).
_ATOMIC_MASS = {
    "O": 15.999, "Sc": 44.956, "Y": 88.906, "La": 138.905, "Ce": 140.116, "Pr": 140.908,
    "Nd": 144.242, "Pm": 145.0, "Sm": 150.36, "Eu": 151.964, "Gd": 157.25, "Tb": 158.925,
    "Dy": 162.500, "Ho": 164.930, "Er": 167.259, "Tm": 168.934, "Yb": 173.045, "Lu": 174.967,
}  # fmt: skip
# Oxide formula RE_x O_y used in REO statistics: R2O3 except CeO2, Pr6O11, Tb4O7.
_OXIDE_FORMULA = {"Ce": (1, 2), "Pr": (6, 11), "Tb": (4, 7)}
_TOTAL_LABELS = frozenset({"re", "ree", "tre", "trem", "treo", "re total", "ree total"})
_REO_UNITS = frozenset({"t_REO", "t_TREO", "t REO"})
_MATERIAL_ALIASES = frozenset({"REO", "REE", "TREO"})
_PRODUCT_ALIASES = ("NdFeB", "sintered NdFeB", "RE permanent magnets", "REPM")


# ============================================================================================
# element and recipe helpers


def oxide_factor(element: str) -> float:
    """Mass of oxide per mass of rare-earth metal, for REO accounting.

    Parameters
    ----------
    element : str
        Rare-earth symbol (``"Nd"``, ``"Dy"``, …).

    Returns
    -------
    float
        M(RE_x O_y) / (x · M(RE)) [t REO / t metal]; the oxide is RE₂O₃ except CeO₂, Pr₆O₁₁
        and Tb₄O₇, the forms in which REO statistics are reported.

    Examples
    --------
    >>> round(oxide_factor("Nd"), 4)
    1.1664
    >>> round(oxide_factor("Dy"), 4)
    1.1477
    """
    if element not in RARE_EARTHS:
        raise unknown("rare-earth element", element, RARE_EARTHS)
    x, y = _OXIDE_FORMULA.get(element, (2, 3))
    mass = _ATOMIC_MASS[element]
    return (x * mass + y * _ATOMIC_MASS["O"]) / (x * mass)


def _parse_element_label(label: str) -> tuple[str, tuple[str, ...]]:
    """Classify a recipe element label: ('element'|'group'|'total'|'other', members)."""
    text = label.strip()
    if text in RARE_EARTHS:
        return "element", (text,)
    if text.lower() in _TOTAL_LABELS or text.lower().startswith(("re total", "ree total")):
        return "total", ()
    parts = [p.strip() for p in re.split(r"[+/]", text)]
    if len(parts) > 1 and all(p in RARE_EARTHS for p in parts):
        return "group", tuple(parts)
    return "other", ()


def _recipe_values(rows: pd.DataFrame) -> pd.Series:
    """Point value per row: ``wt_frac``, else the midpoint of ``wt_frac_low``/``_high``."""
    point = pd.to_numeric(rows["wt_frac"], errors="coerce")
    if "wt_frac_low" in rows and "wt_frac_high" in rows:
        low = pd.to_numeric(rows["wt_frac_low"], errors="coerce")
        high = pd.to_numeric(rows["wt_frac_high"], errors="coerce")
        point = point.fillna((low + high) / 2).fillna(low).fillna(high)
    return point


def recipe_content(
    recipes: pd.DataFrame,
    product: str = "NdFeB",
    grade: str | None = None,
    *,
    heavy_free: bool = False,
) -> pd.Series:
    """Rare-earth content of a product by element, from the ``recipes`` table.

    Parameters
    ----------
    recipes : pandas.DataFrame
        Table with columns ``product``, ``grade``, ``element``, ``wt_frac`` (and optionally
        ``wt_frac_low``/``wt_frac_high``), as in ``docs/data-model.md``. ``element`` holds a
        symbol, a group (``"Dy+Tb"``) or a total (``"RE total"``).
    product : str, default "NdFeB"
        Product name; matched exactly (case-insensitive), else as a substring.
    grade : str, optional
        Grade. A grade also matches its per-source variants (``"typical"`` matches
        ``"typical [source_id]"``). Default ``"typical"``, else ``"general"``, else the grade
        with most rows.
    heavy_free : bool, default False
        Dy/Tb-free variant: Dy and Tb set to zero and their mass added to Nd, keeping the total
        rare-earth content (as in heavy-RE-free grades that raise Nd/Pr instead).

    Returns
    -------
    pandas.Series
        Mass fraction of each rare-earth element in the product [t element / t product],
        indexed by symbol, sorted; non-rare-earth rows (Fe, B, Co, …) are left out.

    Notes
    -----
    Several rows for the same element (different sources or per-source variants of the grade)
    are averaged; a row given only as a range contributes its midpoint. A group (``Dy+Tb``)
    is split evenly among those of its members not given individually. If the grade states a
    rare-earth total larger than the sum of its element rows, the remainder is attributed to
    Nd (standing for Nd+Pr, the bulk of the RE content of NdFeB); if an NdFeB grade states
    neither a total nor any Nd/Pr (only Dy/Tb additions), the total is
    :data:`DEFAULT_RE_CONTENT_NDFEB` (30 wt %).

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"product": ["NdFeB"] * 3, "grade": ["typical"] * 3,
    ...                   "element": ["Nd", "Dy", "Fe"], "wt_frac": [0.29, 0.01, 0.66]})
    >>> recipe_content(r)
    Dy    0.01
    Nd    0.29
    Name: NdFeB (typical), dtype: float64
    """
    if recipes.empty:
        raise InputError("the recipes table is empty")
    names = recipes["product"].astype(str)
    match = names.str.lower() == product.lower()
    if not match.any():
        match = names.str.contains(product, case=False, regex=False)
    if not match.any():
        raise unknown("recipe product", product, names.unique().tolist())
    rows = recipes[match]
    grades = rows["grade"].fillna("").astype(str)
    family = grades.str.replace(r"\s*\[[^\]]*\]$", "", regex=True)  # "typical [src]" → "typical"
    if grade is None:
        lower = family.str.lower()
        preferred = [f for f in ("typical", "general") if (lower == f).any()]
        chosen = preferred[0] if preferred else str(lower.value_counts().index[0])
        pick = lower == chosen
    elif (grades == grade).any():
        chosen, pick = grade, grades == grade
    elif (family == grade).any():
        chosen, pick = grade, family == grade
    else:
        raise unknown(f"grade of {product}", grade, grades.unique().tolist())
    rows = rows[pick]
    values = _recipe_values(rows)
    individual: dict[str, list[float]] = {}
    groups: dict[tuple[str, ...], list[float]] = {}
    totals: list[float] = []
    for label, value in zip(rows["element"].astype(str), values, strict=True):
        if not np.isfinite(value):
            continue
        kind, members = _parse_element_label(label)
        if kind == "element":
            individual.setdefault(members[0], []).append(float(value))
        elif kind == "group":
            groups.setdefault(members, []).append(float(value))
        elif kind == "total":
            totals.append(float(value))
    content = {e: float(np.mean(v)) for e, v in individual.items()}
    for members, vals in groups.items():
        absent = [m for m in members if m not in individual]
        if not absent:
            continue
        rest = max(float(np.mean(vals)) - sum(content.get(m, 0.0) for m in members), 0.0)
        for m in absent:
            content[m] = content.get(m, 0.0) + rest / len(absent)
    listed = sum(content.values())
    if totals:
        total = float(np.mean(totals))
    elif "Nd" not in content and "Pr" not in content and "ndfeb" in product.lower():
        total = max(DEFAULT_RE_CONTENT_NDFEB, listed)
    else:
        total = listed
    if total > listed + 1e-12:
        content["Nd"] = content.get("Nd", 0.0) + (total - listed)
    if heavy_free:
        moved = content.pop("Dy", 0.0) + content.pop("Tb", 0.0)
        content["Nd"] = content.get("Nd", 0.0) + moved
    out = pd.Series(content, dtype=np.float64, name=f"{product} ({chosen})").sort_index()
    if (out < 0).any() or out.sum() > 1 + 1e-9:
        raise ValueError(f"recipe of {product} ({chosen}) is not a set of mass fractions")
    return out


def reo_per_tonne(content: pd.Series) -> float:
    """REO-equivalent of one tonne of product [t REO-eq / t product].

    Parameters
    ----------
    content : pandas.Series
        Mass fraction of each rare-earth element in the product [t / t]
        (:func:`recipe_content`).

    Returns
    -------
    float
        Σ_e w_e · oxide_factor(e).

    Notes
    -----
    .. math:: k = \\sum_e w_e \\, \\frac{M(\\mathrm{RE}_x\\mathrm{O}_y)}{x\\,M(\\mathrm{RE})}

    For 30 wt % of Nd this is 0.30 × 1.1664 = 0.35 t REO per t NdFeB.

    Examples
    --------
    >>> import pandas as pd
    >>> round(reo_per_tonne(pd.Series({"Nd": 0.30})), 4)
    0.3499
    """
    return float(sum(float(w) * oxide_factor(str(e)) for e, w in content.items()))


# ============================================================================================
# network algebra


def sourcing_matrix(
    supply: ArrayLike, requirement: ArrayLike, known: ArrayLike | None = None
) -> tuple[FloatArray, FloatArray]:
    """Allocate upstream supply to downstream requirement: known flows, domestic, imports.

    Parameters
    ----------
    supply : array_like, shape (n,)
        Output of the upstream stage s−1 by country [t REO-eq/yr].
    requirement : array_like, shape (n,)
        Input requirement of stage s by country [t REO-eq/yr].
    known : array_like, shape (n, n), optional
        Known flows K[j, c] from stage s−1 in j to stage s in c [t REO-eq/yr].

    Returns
    -------
    sourcing : numpy.ndarray, shape (n, n)
        S[j, c]: share of c's stage-s inputs that come from j [-]; every column sums to 1.
    allocation : numpy.ndarray, shape (n, n)
        A[j, c]: allocated flow [t REO-eq/yr]; zero columns for countries without requirement.

    Notes
    -----
    With upstream output q, requirement d and known flows K (an exporter's known flows are
    first scaled down to its output q_j if they exceed it):

    .. math::

        a_j &= \\max(q_j - \\textstyle\\sum_c K_{jc},\\,0), \\qquad
        r_c = \\max(d_c - \\textstyle\\sum_j K_{jc},\\,0)\\\\
        h_c &= \\min(a_c, r_c) \\quad\\text{(domestic supply)}\\\\
        u_j &= a_j - h_j, \\quad m_c = r_c - h_c \\quad\\text{(surplus, import need)}\\\\
        A_{jc} &= K_{jc} + \\delta_{jc} h_c + m_c\\,\\frac{u_j}{\\sum_k u_k}, \\qquad
        S_{jc} = A_{jc} \\Big/ \\sum_k A_{kc}

    If the world surplus is smaller than the import need (stocks, unrecorded output) imports
    are still split in proportion to surplus, so shares stay defined; the gap shows in
    :meth:`SupplyChain.balance`. If there is no surplus at all the import mix is the upstream
    output mix q/Σq. A country without requirement gets the column it would have at the
    margin: domestic if it has surplus, else the import mix.

    Examples
    --------
    >>> S, A = sourcing_matrix([100.0, 50.0, 0.0], [60.0, 0.0, 90.0])
    >>> S.round(3)  # c=0 domestic; c=2 imports the surplus of 0 (40) and 1 (50)
    array([[1.   , 0.   , 0.444],
           [0.   , 1.   , 0.556],
           [0.   , 0.   , 0.   ]])
    """
    q = np.asarray(supply, dtype=np.float64)
    d = np.asarray(requirement, dtype=np.float64)
    n = q.shape[0]
    if q.shape != (n,) or d.shape != (n,):
        raise ValueError("supply and requirement must be 1-d arrays of the same length")
    k = np.zeros((n, n)) if known is None else np.array(known, dtype=np.float64, copy=True)
    if k.shape != (n, n):
        raise ValueError("known flows must be an (n, n) array")
    for name, arr in (("supply", q), ("requirement", d), ("known flows", k)):
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"{name} must be finite and non-negative")
    if not q.sum() > 0:
        raise ValueError("the upstream stage has no output to source from")
    shipped = k.sum(axis=1)
    over = shipped > q
    if over.any():  # an exporter cannot ship more than it produces: scale its flows down
        k[over] *= (q[over] / shipped[over])[:, None]
    available = np.maximum(q - k.sum(axis=1), 0.0)
    need = np.maximum(d - k.sum(axis=0), 0.0)
    domestic = np.minimum(available, need)
    surplus = available - domestic
    imports = need - domestic
    total_surplus = surplus.sum()
    mix = surplus / total_surplus if total_surplus > 0 else q / q.sum()
    alloc = k
    alloc[np.diag_indices(n)] += domestic
    alloc += np.outer(mix, imports)
    col = alloc.sum(axis=0)
    empty = ~(col > 0)
    sourcing = np.divide(alloc, np.where(empty, 1.0, col)[None, :])
    if empty.any():
        fallback = np.repeat(mix[:, None], int(empty.sum()), axis=1)
        own = surplus[empty] > 0
        idx = np.flatnonzero(empty)
        fallback[:, own] = 0.0
        fallback[idx[own], np.flatnonzero(own)] = 1.0
        sourcing[:, empty] = fallback
    return sourcing, alloc


def origin_matrices(sourcing: Sequence[FloatArray] | FloatArray) -> FloatArray:
    """Upstream origin mix of every node: products of sourcing matrices.

    Parameters
    ----------
    sourcing : sequence of numpy.ndarray, shape (T, n, n)
        Sourcing matrices of the stages after the first: ``sourcing[t][j, c]`` is the share of
        stage t+1 inputs in c from stage t in j [-].

    Returns
    -------
    numpy.ndarray, shape (T + 1, n, n)
        ``O[s][j, c]``: share of the material at node (s, c) that was mined in j [-];
        columns sum to 1; ``O[0]`` is the identity.

    Notes
    -----
    .. math:: O_0 = I, \\qquad O_s = O_{s-1} S_s = S_1 S_2 \\cdots S_s
    """
    mats = np.asarray(sourcing, dtype=np.float64)
    n = mats.shape[-1]
    out = np.empty((mats.shape[0] + 1, n, n))
    out[0] = np.eye(n)
    for t in range(mats.shape[0]):  # loop over stages, not countries
        np.matmul(out[t], mats[t], out=out[t + 1])
    return out


def control_shares(
    sourcing: Sequence[FloatArray] | FloatArray,
    indicator: ArrayLike,
    *,
    from_stage: int = 0,
    counts: ArrayLike | None = None,
) -> FloatArray:
    """Probability that the material of each node passed through a controller set.

    Parameters
    ----------
    sourcing : sequence of numpy.ndarray, shape (T, n, n)
        Sourcing matrices as in :func:`origin_matrices`.
    indicator : array_like, shape (n,) or (n, m)
        1 where a country belongs to the controller set X (one column per set) [-].
    from_stage : int, default 0
        First stage (position) at which passing through X counts; nodes of earlier stages get
        NaN. 0 gives the control share; k > 0 the X-origin content "at stage k or later".
    counts : array_like of bool, shape (T + 1,), optional
        Whether each stage counts at all (False for a consumption stage, where being in X is
        not "passing through" a producer). Default: every stage counts.

    Returns
    -------
    numpy.ndarray, shape (T + 1, n) or (T + 1, n, m)
        P[s, c(, x)] in [0, 1] [-].

    Notes
    -----
    Dynamic programming over stages, with x_c = 1 if c ∈ X:

    .. math::

        P_k(c) = x_c, \\qquad
        P_s(c) = x_c + (1 - x_c) \\sum_j S_s[j, c]\\, P_{s-1}(j), \\quad s > k

    P_s(c) is the probability that a unit of material at node (s, c), traced back along the
    sourcing shares, was at a node of X at some stage between k and s.
    """
    mats = np.asarray(sourcing, dtype=np.float64)
    x = np.asarray(indicator, dtype=np.float64)
    vector = x.ndim == 1
    if vector:
        x = x[:, None]
    n_stages = mats.shape[0] + 1
    if not 0 <= from_stage < n_stages:
        raise ValueError("from_stage out of range")
    count = np.ones(n_stages, dtype=bool) if counts is None else np.asarray(counts, dtype=bool)
    p = np.full((n_stages, *x.shape), np.nan)
    p[from_stage] = x if count[from_stage] else 0.0
    for s in range(from_stage + 1, n_stages):  # loop over stages, not countries
        carried = mats[s - 1].T @ p[s - 1]
        p[s] = x + (1.0 - x) * carried if count[s] else carried
    result: FloatArray = p[..., 0] if vector else p
    return result


# ============================================================================================
# the chain


def _order_countries(codes: Iterable[str]) -> pd.Index:
    unique = sorted(set(codes))
    ordered = [c for c in unique if c not in RESIDUAL_CODES] + [
        c for c in unique if c in RESIDUAL_CODES
    ]
    return pd.Index(ordered, name="country")


class SupplyChain:
    """Supply-chain network of one material in one year.

    Parameters
    ----------
    output : pandas.DataFrame
        Output by stage (rows, names from :data:`STAGES` plus optionally ``"use"`` for final
        consumption) and country (columns, ISO3) in each stage's unit [t REO/yr for t_REO
        stages, t product/yr for magnets]. Missing values are read as no output. Stages are
        put in chain order.
    units : mapping of str to str, optional
        Unit of each stage (default ``"t_REO"``; a ``use`` stage inherits the previous stage's).
    reo_per_unit : mapping of str to float, optional
        t REO-eq per unit of each stage's output (default 1; for a magnet stage in t of NdFeB
        use :func:`reo_per_tonne` of the recipe, ≈ 0.35).
    flows : pandas.DataFrame, optional
        Known flows with columns ``stage`` (the **exporting** stage), ``exporter``,
        ``importer`` and ``tonnes`` (in the exporting stage's unit, per year).
    composition : pandas.DataFrame, optional
        Ore composition by mining country (index) and element (columns), shares of REO [-],
        rows summing to 1; enables :meth:`for_element`.
    recipe : pandas.Series, optional
        Element mass fractions of the product made at the last production stage
        (:func:`recipe_content`); used by :meth:`for_element`.
    governance : pandas.Series, optional
        Governance score by country, 0–10, higher = worse [-] (``countries.governance_score``).
    blocs : mapping of str to iterable of str, optional
        Named country groups (``{"MSP": {...}}``) that bloc methods accept by name.
    year : int, optional
        Data year.
    material : str, default "REO"
        Material label (``"REO"`` or an element symbol).
    meta : mapping, optional
        Provenance and notes carried with the chain (vintages, imputations, dropped rows).

    Notes
    -----
    The sourcing rule, origin tracing and the metrics are described in ``docs/model.md``.
    The object is immutable once built; every method returns new pandas objects.

    Examples
    --------
    >>> import pandas as pd
    >>> out = pd.DataFrame({"CHN": [70.0, 90.0], "MMR": [20.0, 0.0], "MYS": [10.0, 10.0]},
    ...                    index=["mine", "separation"])
    >>> chain = SupplyChain(out, year=2024)
    >>> chain.origin_mix("separation", "CHN").round(3).to_dict()
    {'CHN': 0.778, 'MMR': 0.222, 'MYS': 0.0}
    """

    def __init__(
        self,
        output: pd.DataFrame,
        *,
        units: Mapping[str, str] | None = None,
        reo_per_unit: Mapping[str, float] | None = None,
        flows: pd.DataFrame | None = None,
        composition: pd.DataFrame | None = None,
        recipe: pd.Series | None = None,
        governance: pd.Series | None = None,
        blocs: Mapping[str, Iterable[str]] | None = None,
        year: int | None = None,
        material: str = "REO",
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        known_stages = (*STAGES, USE_STAGE)
        labels = [str(s) for s in output.index]
        for s in labels:
            if s not in known_stages:
                raise unknown("stage", s, known_stages)
        if len(set(labels)) != len(labels):
            raise ValueError("each stage must appear once in output")
        stages = tuple(s for s in known_stages if s in labels)
        if len(stages) < 1 or stages[0] == USE_STAGE:
            raise ValueError("output needs at least one production stage")
        flow_codes: list[str] = []
        if flows is not None and not flows.empty:
            if missing := {"stage", "exporter", "importer", "tonnes"} - set(flows.columns):
                raise ValueError(f"flows lack column(s): {', '.join(sorted(missing))}")
            flow_codes = [*flows["exporter"].astype(str), *flows["importer"].astype(str)]
        countries = _order_countries([*(str(c) for c in output.columns), *flow_codes])
        frame = output.copy()
        frame.index = pd.Index(labels)
        frame.columns = pd.Index([str(c) for c in output.columns])
        q = frame.reindex(index=list(stages), columns=countries).to_numpy(dtype=np.float64)
        q = np.nan_to_num(q, nan=0.0)
        if np.any(q < 0) or not np.all(np.isfinite(q)):
            raise ValueError("output must be finite and non-negative")
        unit_map = dict(units or {})
        factor_map = dict(reo_per_unit or {})
        unit_list: list[str] = []
        factors: list[float] = []
        for s in stages:
            prev_unit = unit_list[-1] if unit_list else "t_REO"
            prev_factor = factors[-1] if factors else 1.0
            default_unit, default_factor = (
                (prev_unit, prev_factor) if s == USE_STAGE else ("t_REO", 1.0)
            )
            unit_list.append(str(unit_map.get(s, default_unit)))
            factors.append(float(factor_map.get(s, default_factor)))
        k = np.asarray(factors)
        if np.any(~(k > 0)):
            raise ValueError("reo_per_unit factors must be positive")
        known = self._known_flow_arrays(flows, stages, countries, k)
        self._set_state(
            stages=stages,
            countries=countries,
            q=q,
            units=tuple(unit_list),
            k=k,
            known=known,
            sourcing=None,
            composition=composition,
            recipe=recipe,
            governance=governance,
            blocs=blocs,
            year=year,
            material=material,
            meta=meta,
        )

    # -- construction ------------------------------------------------------------------------
    @staticmethod
    def _known_flow_arrays(
        flows: pd.DataFrame | None,
        stages: tuple[str, ...],
        countries: pd.Index,
        k: FloatArray,
    ) -> list[FloatArray | None]:
        links = len(stages) - 1
        known: list[FloatArray | None] = [None] * links
        if flows is None or flows.empty:
            return known
        position = {s: i for i, s in enumerate(stages[:-1])}
        stage_of = flows["stage"].astype(str)
        bad_stage = ~stage_of.isin(list(position))
        if bad_stage.any():
            raise ValueError(
                f"known flows must leave one of the stages {list(position)} (the exporting "
                f"stage); got {sorted(set(stage_of[bad_stage]))}"
            )
        t_idx = stage_of.map(position).to_numpy(dtype=np.intp)
        exp = countries.get_indexer(pd.Index(flows["exporter"].astype(str)))
        imp = countries.get_indexer(pd.Index(flows["importer"].astype(str)))
        tonnes = pd.to_numeric(flows["tonnes"], errors="coerce").to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(tonnes)) or np.any(tonnes < 0):
            raise ValueError("known flows must be finite and non-negative")
        n = len(countries)
        arr = np.zeros((links, n, n))
        np.add.at(arr, (t_idx, exp, imp), tonnes * k[t_idx])
        present = np.bincount(t_idx, minlength=links) > 0
        return [arr[t] if present[t] else None for t in range(links)]

    def _set_state(
        self,
        *,
        stages: tuple[str, ...],
        countries: pd.Index,
        q: FloatArray,
        units: tuple[str, ...],
        k: FloatArray,
        known: Sequence[FloatArray | None],
        sourcing: FloatArray | None,
        composition: pd.DataFrame | None,
        recipe: pd.Series | None,
        governance: pd.Series | None,
        blocs: Mapping[str, Iterable[str]] | None,
        year: int | None,
        material: str,
        meta: Mapping[str, Any] | None,
        allocation: FloatArray | None = None,
    ) -> None:
        self._stages = stages
        self._countries = countries
        self._q = q
        self._q.setflags(write=False)
        self._units = units
        self._k = k
        self._year = year
        self._material = material
        self._meta: dict[str, Any] = dict(meta or {})
        self._composition = composition
        self._recipe = recipe
        self._governance = governance
        self._blocs = {str(b): frozenset(str(c) for c in m) for b, m in (blocs or {}).items()}
        requirement = q * k[:, None]
        n = len(countries)
        n_links = len(stages) - 1
        if sourcing is None:
            s_arr = np.empty((n_links, n, n))
            a_arr = np.empty((n_links, n, n))
            for t in range(n_links):  # loop over stages, not countries
                try:
                    s_arr[t], a_arr[t] = sourcing_matrix(
                        requirement[t], requirement[t + 1], known[t]
                    )
                except ValueError as exc:
                    raise ValueError(
                        f"sourcing '{stages[t + 1]}' from '{stages[t]}': {exc}"
                    ) from exc
        else:
            s_arr = sourcing
            a_arr = allocation if allocation is not None else s_arr * requirement[1:, None, :]
        s_arr.setflags(write=False)
        a_arr.setflags(write=False)
        self._S = s_arr
        self._A = a_arr
        self._known = list(known)
        self._origin: FloatArray | None = None
        self._control_all: FloatArray | None = None

    @classmethod
    def from_tables(
        cls,
        stage_output: pd.DataFrame,
        flows: pd.DataFrame | None = None,
        composition: pd.DataFrame | None = None,
        recipes: pd.DataFrame | None = None,
        *,
        year: int = 2024,
        material: str = "REO",
        vintage: str | Mapping[str, str] | None = None,
        basis: Literal["production", "capacity"] = "production",
        vintages: pd.DataFrame | None = None,
        countries: pd.DataFrame | None = None,
        blocs: pd.DataFrame | None = None,
        demand: pd.Series | None = None,
        product: str = "NdFeB",
        grade: str | None = None,
    ) -> SupplyChain:
        """Build the chain from tables with the columns of ``docs/data-model.md``.

        Parameters
        ----------
        stage_output : pandas.DataFrame
            ``stage_output`` table: year, stage, material, iso3, basis, vintage, tonnes, unit.
        flows : pandas.DataFrame, optional
            ``flows`` table: year, stage (the exporting stage), material, exporter, importer,
            vintage, tonnes, unit. Rows in t_REO or in the exporting stage's unit are used;
            others (e.g. gross weight) are skipped and listed in ``meta["flows_skipped"]``.
        composition : pandas.DataFrame, optional
            ``composition`` table; rows whose ``deposit`` is ``country:ISO3`` give the
            country-average ore mix used by :meth:`for_element`.
        recipes : pandas.DataFrame, optional
            ``recipes`` table; the magnet stage's REO-eq factor and element contents come from
            ``product``/``grade``. Without it the magnet stage uses
            :data:`DEFAULT_RE_CONTENT_NDFEB` as Nd.
        year : int, default 2024
            Data year.
        material : str, default "REO"
            ``"REO"`` for the rare-earth chain, or an element symbol (the REO chain resolved by
            :meth:`for_element` when the table has no country-level mine rows of that element
            for the year).
        vintage : str or mapping of str to str, optional
            Edition to use; a single label applies to every stage that has rows of it (other
            stages take their newest), a mapping names one per stage. Default: newest vintage
            per key, ranked by ``vintages`` (then by label).
        basis : {"production", "capacity"}, default "production"
            Which rows of ``stage_output`` to use.
        vintages : pandas.DataFrame, optional
            ``vintages`` table (vintage, rank) ordering editions.
        countries : pandas.DataFrame, optional
            ``countries`` table: governance scores and aggregate codes.
        blocs : pandas.DataFrame, optional
            ``blocs`` table (bloc, iso3), so bloc methods accept bloc names.
        demand : pandas.Series, optional
            Final consumption of the last stage's product by country [t product/yr]; adds a
            ``use`` stage. Without it, final use is not modelled (see ``docs/model.md``).
        product, grade : str
            Recipe product and grade of the magnet stage.

        Returns
        -------
        SupplyChain
        """
        excluded = _aggregate_codes(countries)
        if material in RARE_EARTHS:
            own = stage_output[
                (stage_output["material"].astype(str) == material)
                & (pd.to_numeric(stage_output["year"], errors="coerce") == year)
                & (stage_output["basis"].astype(str) == basis)
                & (stage_output["stage"].astype(str) == "mine")
                & ~stage_output["iso3"].astype(str).isin(excluded)
            ]
            if own.empty:  # no country-level element data: resolve the REO chain
                parent = cls.from_tables(
                    stage_output, flows, composition, recipes, year=year, material="REO",
                    vintage=vintage, basis=basis, vintages=vintages, countries=countries,
                    blocs=blocs, demand=demand, product=product, grade=grade,
                )  # fmt: skip
                return parent.for_element(material)
        meta: dict[str, Any] = {"year": year, "material": material, "basis": basis}
        ranks = _vintage_ranks(vintages)
        rows = stage_output[
            (pd.to_numeric(stage_output["year"], errors="coerce") == year)
            & (stage_output["basis"].astype(str) == basis)
        ]
        if rows.empty:
            raise InputError(f"no {basis} rows in stage_output for {year}")
        recipe: pd.Series | None = None
        if recipes is not None and not recipes.empty:
            recipe = recipe_content(recipes, product, grade)
            meta["recipe"] = {"recipe": str(recipe.name), **recipe.round(6).to_dict()}
        if recipe is None or recipe.empty:
            recipe = pd.Series({"Nd": DEFAULT_RE_CONTENT_NDFEB}, name="default 30 wt% RE as Nd")
            meta["recipe"] = {"recipe": str(recipe.name), "Nd": DEFAULT_RE_CONTENT_NDFEB}
        product_factor = reo_per_tonne(recipe)
        frames: dict[str, pd.Series] = {}
        units: dict[str, str] = {}
        factors: dict[str, float] = {}
        vintages_used: dict[str, list[str]] = {}
        output_vintages: dict[tuple[str, str], str] = {}
        dropped: dict[str, float] = {}
        sources_used: dict[str, list[str]] = {}
        for stage in STAGES:
            srows = _select_material(rows[rows["stage"].astype(str) == stage], material, product)
            if srows.empty:
                continue
            wanted = vintage.get(stage) if isinstance(vintage, Mapping) else vintage
            srows = _pick_vintage(srows, ["iso3"], wanted, ranks)
            sources_used[stage] = cited_sources(srows)
            tonnes = pd.to_numeric(srows["tonnes"], errors="coerce")
            codes = srows["iso3"].astype(str)
            is_node = ~codes.isin(excluded) & tonnes.notna()
            for code, value in zip(codes[~is_node], tonnes[~is_node], strict=True):
                if code != "WLD" and np.isfinite(value):
                    dropped[f"{stage}:{code}"] = float(value)
            srows, tonnes, codes = srows[is_node], tonnes[is_node], codes[is_node]
            stage_units = (
                srows["unit"].fillna("t_REO").astype(str)
                if "unit" in srows
                else pd.Series("t_REO", index=srows.index)
            )
            row_factor = pd.Series(
                [_unit_factor(stage, u, product_factor, material) for u in stage_units],
                index=stage_units.index, dtype=float)
            if row_factor.isna().any():
                bad = sorted(set(stage_units[row_factor.isna()]))
                raise InputError(f"stage '{stage}': cannot convert unit(s) {bad} to t REO")
            if stage_units.nunique() == 1:
                units[stage] = str(stage_units.iloc[0])
                factors[stage] = float(row_factor.iloc[0])
                values = tonnes
            else:  # mixed units: express the whole stage in t REO-eq
                units[stage] = "t_REO"
                factors[stage] = 1.0
                values = tonnes * row_factor
            frames[stage] = (
                pd.Series(values.to_numpy(), index=codes.to_numpy()).groupby(level=0).sum()
            )
            if "vintage" in srows:
                vintages_used[stage] = sorted(set(srows["vintage"].dropna().astype(str)))
                output_vintages.update(
                    {(stage, c): str(v) for c, v in zip(codes, srows["vintage"], strict=True)}
                )
        if "mine" not in frames:
            raise InputError(f"no mine output of {material} in {year} ({basis})")
        missing_stages = [s for s in STAGES if s not in frames]
        for name, table in (("flows", flows), ("composition", composition),
                            ("recipes", recipes)):
            if table is not None and not table.empty:
                sources_used[name] = cited_sources(table)
        meta.update(
            vintages=vintages_used, stages_missing=missing_stages, aggregates_dropped=dropped,
            sources=sources_used,
        )
        if demand is not None:
            frames[USE_STAGE] = demand.astype(np.float64)
            units[USE_STAGE] = units[list(frames)[-2]]
        output = pd.DataFrame(frames).T.fillna(0.0)
        last = [s for s in STAGES if s in frames][-1]
        if demand is not None:
            factors[USE_STAGE] = factors[last]
        flow_frame = None
        if flows is not None and not flows.empty:
            flow_frame = _prepare_flows(
                flows, year, material, product, units, factors, excluded, ranks,
                output_vintages, meta,
            )  # fmt: skip
        comp = _country_composition(composition, meta) if composition is not None else None
        governance = None
        if countries is not None and "governance_score" in countries:
            governance = pd.Series(
                pd.to_numeric(countries["governance_score"], errors="coerce").to_numpy(),
                index=countries["iso3"].astype(str).to_numpy(),
                name="governance_score",
            )
        bloc_map: dict[str, set[str]] = {}
        if blocs is not None and not blocs.empty:
            for b, code in zip(blocs["bloc"].astype(str), blocs["iso3"].astype(str), strict=True):
                bloc_map.setdefault(b, set()).add(code)
        return cls(
            output,
            units=units,
            reo_per_unit=factors,
            flows=flow_frame,
            composition=comp,
            recipe=recipe,
            governance=governance,
            blocs=bloc_map,
            year=year,
            material=material,
            meta=meta,
        )

    @classmethod
    def from_default_data(
        cls,
        year: int = 2024,
        material: str = "REO",
        *,
        basis: Literal["production", "capacity"] = "production",
        vintage: str | Mapping[str, str] | None = None,
        demand: pd.Series | None = None,
        store: Store | None = None,
    ) -> SupplyChain:
        """Build the chain from the embedded dataset (through :mod:`oreflow.store`).

        Parameters
        ----------
        year : int, default 2024
            Data year.
        material : str, default "REO"
            ``"REO"`` or an element symbol (element-resolved REO chain).
        basis : {"production", "capacity"}, default "production"
            Rows of ``stage_output`` to use.
        vintage : str or mapping, optional
            See :meth:`from_tables`.
        demand : pandas.Series, optional
            Final consumption by country [t product/yr]; adds a ``use`` stage.
        store : oreflow.store.Store, optional
            Store to read from (default :meth:`Store.default`).

        Returns
        -------
        SupplyChain
        """
        from oreflow.store import Store

        st = store if store is not None else Store.default()

        def optional(name: str) -> pd.DataFrame | None:
            return st.table(name) if name in st.tables() else None

        chain = cls.from_tables(
            st.table("stage_output"),
            optional("flows"),
            optional("composition"),
            optional("recipes"),
            year=year,
            material=material,
            vintage=vintage,
            basis=basis,
            vintages=optional("vintages"),
            countries=optional("countries"),
            blocs=optional("blocs"),
            demand=demand,
        )
        chain._meta["dataset_version"] = st.version
        return chain

    # -- basic accessors ---------------------------------------------------------------------
    @property
    def stages(self) -> tuple[str, ...]:
        """Stages in chain order (a subset of :data:`STAGES`, plus ``use`` if modelled)."""
        return self._stages

    @property
    def supply_stages(self) -> tuple[str, ...]:
        """Production stages (every stage except ``use``)."""
        return tuple(s for s in self._stages if s != USE_STAGE)

    @property
    def countries(self) -> pd.Index:
        """Node countries (ISO3; residual codes such as ``OTH`` last)."""
        return self._countries

    @property
    def year(self) -> int | None:
        """Data year."""
        return self._year

    @property
    def material(self) -> str:
        """Material label (``"REO"`` or an element symbol)."""
        return self._material

    @property
    def meta(self) -> dict[str, Any]:
        """Provenance and notes: vintages used, imputations, skipped rows (a copy)."""
        return dict(self._meta)

    @property
    def units(self) -> pd.Series:
        """Unit of each stage's output."""
        return pd.Series(self._units, index=list(self._stages), name="unit")

    @property
    def reo_per_unit(self) -> pd.Series:
        """t REO-eq per unit of each stage's output [t REO-eq / unit]."""
        return pd.Series(self._k, index=list(self._stages), name="reo_per_unit")

    @property
    def output(self) -> pd.DataFrame:
        """Output by stage (rows) and country (columns) in each stage's unit [unit/yr]."""
        return pd.DataFrame(self._q.copy(), index=list(self._stages), columns=self._countries)

    @property
    def reo_output(self) -> pd.DataFrame:
        """Output (input requirement below the mine) in t REO-eq [t REO-eq/yr]."""
        return self.output.mul(self._k, axis=0)

    @property
    def blocs(self) -> dict[str, frozenset[str]]:
        """Named blocs known to the chain."""
        return dict(self._blocs)

    def _stage_pos(self, stage: str) -> int:
        if stage not in self._stages:
            raise unknown("stage", stage, self._stages)
        return self._stages.index(stage)

    def _country_pos(self, country: str) -> int:
        pos = int(self._countries.get_indexer(pd.Index([country]))[0])
        if pos < 0:
            raise unknown("country (node)", country, [str(c) for c in self._countries])
        return pos

    def members(self, bloc: str | Iterable[str]) -> frozenset[str]:
        """Resolve a bloc name, a country code or an iterable of codes to a set of ISO3 codes.

        Parameters
        ----------
        bloc : str or iterable of str
            A bloc name known to the chain (:attr:`blocs`), one ISO3 code, or several.

        Returns
        -------
        frozenset of str
        """
        if isinstance(bloc, str):
            if bloc in self._blocs:
                return self._blocs[bloc]
            if bloc in self._countries or re.fullmatch(r"[A-Z]{3}", bloc):
                return frozenset({bloc})
            raise unknown("bloc or country", bloc, [*self._blocs, *map(str, self._countries)])
        return frozenset(str(c) for c in bloc)

    def _mask(self, bloc: str | Iterable[str]) -> BoolArray:
        mask: BoolArray = np.asarray(self._countries.isin(list(self.members(bloc))))
        return mask

    def stage_output(self, stage: str) -> pd.Series:
        """Output of one stage by country [stage unit/yr]."""
        return pd.Series(self._q[self._stage_pos(stage)].copy(), index=self._countries, name=stage)

    def shares(self) -> pd.DataFrame:
        """Country shares of each stage's output (stages × countries) [-]."""
        return metrics.shares(self.output)

    # -- sourcing ----------------------------------------------------------------------------
    def _link(self, stage: str) -> int:
        pos = self._stage_pos(stage)
        if pos == 0:
            raise InputError(f"stage '{stage}' is the first stage: it has no sourcing matrix")
        return pos - 1

    def sourcing(self, stage: str) -> pd.DataFrame:
        """Sourcing matrix S_s of a stage: supplier j (rows) × user c (columns) [-].

        Parameters
        ----------
        stage : str
            Any stage but the first.

        Returns
        -------
        pandas.DataFrame
            S[j, c]: share of stage-``stage`` inputs in c that come from the previous stage in
            j; columns sum to 1.
        """
        t = self._link(stage)
        return pd.DataFrame(
            self._S[t].copy(),
            index=self._countries.rename("supplier"),
            columns=self._countries,
        )

    def allocation(self, stage: str) -> pd.DataFrame:
        """Allocated flows into a stage: supplier j × user c [t REO-eq/yr].

        Known flows, domestic supply and imports as allocated by :func:`sourcing_matrix`.
        """
        t = self._link(stage)
        return pd.DataFrame(
            self._A[t].copy(), index=self._countries.rename("supplier"), columns=self._countries
        )

    def balance(self) -> pd.DataFrame:
        """Mass balance of each link between stages [t REO-eq/yr].

        Returns
        -------
        pandas.DataFrame
            One row per stage after the first: ``upstream_supply`` (previous stage's output),
            ``requirement`` (this stage's input need), ``known_flows``, ``domestic``,
            ``imports`` (allocated), and ``gap`` = requirement − upstream_supply (positive:
            the downstream stage uses more than the upstream stage reports — stocks,
            unrecorded output or unit mismatch).
        """
        req = self._q * self._k[:, None]
        rows = []
        for t in range(len(self._stages) - 1):
            known = self._known[t]
            known_total = 0.0 if known is None else float(known.sum())
            diag = float(np.trace(self._A[t])) - (0.0 if known is None else float(np.trace(known)))
            allocated = float(self._A[t].sum())
            rows.append(
                {
                    "stage": self._stages[t + 1],
                    "upstream_supply": float(req[t].sum()),
                    "requirement": float(req[t + 1].sum()),
                    "known_flows": known_total,
                    "domestic": diag,
                    "imports": allocated - known_total - diag,
                    "gap": float(req[t + 1].sum() - req[t].sum()),
                }
            )
        return pd.DataFrame(rows).set_index("stage")

    # -- origin tracing ----------------------------------------------------------------------
    def origin_matrices(self) -> FloatArray:
        """Origin mix of every node as an array (stage, mine country j, node country c) [-].

        ``O[s, j, c]`` is the share of the material at (s, c) that was mined in j; see
        :func:`origin_matrices`. Cached; read-only.
        """
        if self._origin is None:
            origin = origin_matrices(self._S)
            origin.setflags(write=False)
            self._origin = origin
        return self._origin

    def origin_matrix(self, stage: str) -> pd.DataFrame:
        """Origin mix of every country's material at a stage: mine country × country [-]."""
        o = self.origin_matrices()[self._stage_pos(stage)]
        return pd.DataFrame(
            o.copy(), index=self._countries.rename("origin"), columns=self._countries
        )

    def origin_mix(self, stage: str, country: str) -> pd.Series:
        """Upstream origin mix of one node: share mined in each country [-], summing to 1.

        Parameters
        ----------
        stage : str
            Stage of the node.
        country : str
            ISO3 code of the node.

        Returns
        -------
        pandas.Series
            Share of the node's material by mining country.

        Notes
        -----
        .. math:: o(s, c) = (S_1 S_2 \\cdots S_s)[:, c]
        """
        o = self.origin_matrices()[self._stage_pos(stage)][:, self._country_pos(country)]
        return pd.Series(o.copy(), index=self._countries.rename("origin"), name=(stage, country))

    def _counts(self) -> BoolArray:
        counts: BoolArray = np.array([s != USE_STAGE for s in self._stages])
        return counts

    def origin_content(
        self, members: str | Iterable[str], from_stage: str | None = None
    ) -> pd.DataFrame:
        """Share of each node's material that passed through X at a stage ≥ ``from_stage``.

        Parameters
        ----------
        members : str or iterable of str
            The set X: a bloc name, an ISO3 code or several codes.
        from_stage : str, optional
            First stage at which X's involvement counts; default the first stage (then this
            is the control share). With ``"magnet"`` only magnets made in X count.

        Returns
        -------
        pandas.DataFrame
            Stages (rows) × countries [-] in [0, 1]; NaN for stages before ``from_stage``.
            A ``use`` stage carries the content of what is consumed (consuming in X does not
            count as passing through X).

        Notes
        -----
        .. math::

            P^{(k)}_k(c) = x_c,\\qquad
            P^{(k)}_s(c) = x_c + (1 - x_c)\\sum_j S_s[j, c]\\,P^{(k)}_{s-1}(j)

        This is the "X-origin content" a de-minimis rule looks at (material produced in X at
        any stage from k on), measured by mass of REO rather than by value.
        """
        start = 0 if from_stage is None else self._stage_pos(from_stage)
        p = control_shares(self._S, self._mask(members), from_stage=start, counts=self._counts())
        return pd.DataFrame(p, index=list(self._stages), columns=self._countries)

    def control_share(self, members: str | Iterable[str]) -> pd.DataFrame:
        """Probability that each node's material passed through X at any stage [-].

        Parameters
        ----------
        members : str or iterable of str
            The controller set X: a bloc name, an ISO3 code or several codes.

        Returns
        -------
        pandas.DataFrame
            Stages × countries, values in [0, 1]; 1 for X's own production nodes. Always at
            least the X-mined share of the node's origin mix.

        Notes
        -----
        .. math::

            P_0(c) = x_c,\\qquad
            P_s(c) = x_c + (1 - x_c)\\sum_j S_s[j, c]\\,P_{s-1}(j)
        """
        return self.origin_content(members, None)

    def control_matrices(self) -> FloatArray:
        """Control share of every single country over every node, as an array.

        Returns
        -------
        numpy.ndarray, shape (stages, n, n)
            ``C[s, x, c]``: probability that the material at (s, c) passed through country x
            [-]. Cached; read-only.
        """
        if self._control_all is None:
            n = len(self._countries)
            p = control_shares(self._S, np.eye(n), counts=self._counts())  # (stage, c, x)
            ctrl = np.ascontiguousarray(np.swapaxes(p, 1, 2))
            ctrl.setflags(write=False)
            self._control_all = ctrl
        return self._control_all

    def control_matrix(self, stage: str) -> pd.DataFrame:
        """Control share of each country (rows) over each node of a stage (columns) [-]."""
        c = self.control_matrices()[self._stage_pos(stage)]
        return pd.DataFrame(
            c.copy(), index=self._countries.rename("controller"), columns=self._countries
        )

    def deminimis_reach(
        self,
        members: str | Iterable[str],
        threshold: float = 0.001,
        *,
        from_stage: str | None = None,
        producers_only: bool = True,
    ) -> pd.DataFrame:
        """Nodes that a de-minimis rule of X reaches.

        Parameters
        ----------
        members : str or iterable of str
            The controlling country or bloc X.
        threshold : float, default 0.001
            Minimum X-origin content that brings a node under the rule [-] (0.1 %, as in
            China's October 2025 extraterritorial rule; that rule counts value, this counts
            REO mass).
        from_stage : str, optional
            First stage whose X-made material counts (default the first stage).
        producers_only : bool, default True
            List only nodes with positive output.

        Returns
        -------
        pandas.DataFrame
            Columns ``stage``, ``country``, ``output`` [stage unit/yr], ``member`` (node in X),
            ``content`` [-] and ``reached`` (content ≥ threshold).
        """
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        content = self.origin_content(members, from_stage)
        start = 0 if from_stage is None else self._stage_pos(from_stage)
        stages = list(self._stages[start:])
        values = content.loc[stages].to_numpy()
        out = self._q[start:]
        mask = self._mask(members)
        n_st, n = values.shape
        frame = pd.DataFrame(
            {
                "stage": np.repeat(stages, n),
                "country": np.tile(np.asarray(self._countries, dtype=object), n_st),
                "output": out.ravel(),
                "member": np.tile(mask, n_st),
                "content": values.ravel(),
            }
        )
        frame["reached"] = frame["content"] >= threshold - 1e-12
        if producers_only:
            frame = frame[frame["output"] > 0]
        return frame.reset_index(drop=True)

    # -- element resolution ------------------------------------------------------------------
    def composition(self) -> pd.DataFrame | None:
        """Ore composition by mining country × element (shares of REO) [-], if known."""
        return None if self._composition is None else self._composition.copy()

    def for_element(self, element: str, *, heavy_free: bool = False) -> SupplyChain:
        """Element-resolved chain: where one rare-earth element is mined, separated, used.

        Parameters
        ----------
        element : str
            Rare-earth symbol, e.g. ``"Dy"``.
        heavy_free : bool, default False
            Use the Dy/Tb-free variant of the product recipe (:func:`recipe_content`).

        Returns
        -------
        SupplyChain
            Chain with material ``element``; every stage in t of the element's oxide
            [t REO-eq/yr]; element-weighted sourcing matrices.

        Notes
        -----
        Mine output per element is output × ore composition, f₀(c) = share of the element in
        c's REO (countries with output but no composition get the output-weighted mean mix
        of the others; listed in ``meta["composition_imputed"]``):

        .. math:: E_0(c) = R_0(c)\\, f_0(c)

        The element content of a node's input follows its sources,
        f_s(c) = Σ_j S_s[j, c] f_{s−1}(j), so a separator's element mix is the mix of its
        feed. Downstream element throughput is the stage's REO-eq requirement weighted by
        that content and scaled so that the element is conserved:

        .. math:: E_s(c) = E_{tot}\\,\\frac{R_s(c) f_s(c)}{\\sum_{c'} R_s(c') f_s(c')}

        The product stage (magnets counted in t of product, and a following ``use`` stage)
        splits the conserved element in proportion to the recipe need
        N_s(c) = Q_s(c) · w_e · oxide_factor(e); the total need Σ N_s is reported in
        ``meta["recipe_need"]`` [t oxide/yr], so a recipe that asks for more of the element
        than is mined shows up there instead of breaking the mass balance (the shipped
        "typical" NdFeB recipe averages a 3 % and a 0.6–1.2 % Dy source and does). The
        element sourcing matrices weight
        each supplier by its element content:
        S^e_s[j, c] = S_s[j, c] f_{s−1}(j) / f_s(c).
        """
        if element not in RARE_EARTHS:
            raise unknown("rare-earth element", element, RARE_EARTHS)
        if self._composition is None:
            raise InputError("this chain has no ore composition; build it with a composition table")
        meta: dict[str, Any] = {**self._meta, "parent_material": self._material}
        comp = self._composition.reindex(index=self._countries)
        known_rows = comp.notna().any(axis=1).to_numpy()
        f0 = (
            comp[element].fillna(0.0).to_numpy(dtype=np.float64)
            if element in comp
            else np.zeros(len(self._countries))
        )
        req = self._q * self._k[:, None]
        mine = req[0]
        known_w = np.where(known_rows, mine, 0.0)
        if not known_w.sum() > 0:
            raise InputError("no mining country with output has an ore composition")
        mean_f = float(np.nansum(known_w * np.nan_to_num(f0)) / known_w.sum())
        imputed = [str(c) for c, k, m in zip(self._countries, known_rows, mine, strict=True)
                   if not k and m > 0]  # fmt: skip
        f0 = np.where(known_rows, f0, mean_f)
        meta["composition_imputed"] = imputed
        n_st, n = self._q.shape
        q_e = np.zeros((n_st, n))
        s_e = np.empty_like(self._S)
        q_e[0] = mine * f0
        total = float(q_e[0].sum())
        if not total > 0:
            raise InputError(f"no mine output of {element} in the chain's ore compositions")
        content = None
        in_recipe = False
        if self._recipe is not None:
            w = self._recipe.copy()
            if heavy_free:
                moved = float(w.get("Dy", 0.0)) + float(w.get("Tb", 0.0))
                w = w.drop(labels=[e for e in ("Dy", "Tb") if e in w.index])
                w["Nd"] = float(w.get("Nd", 0.0)) + moved
            content = float(w.get(element, 0.0)) * oxide_factor(element)
            # the recipe speaks of this element (or it was removed as heavy-RE-free); an
            # element it does not list (Pr, Tb lumped with Nd, Dy) follows the plants
            in_recipe = element in w.index or (heavy_free and element in ("Dy", "Tb"))
            meta["recipe_content"] = content
        product_pos = self._product_positions()
        f_prev = f0
        for t in range(1, n_st):  # loop over stages, not countries
            weighted = self._S[t - 1] * f_prev[:, None]
            f_t = weighted.sum(axis=0)
            supply_mix = q_e[t - 1] / q_e[t - 1].sum() if q_e[t - 1].sum() > 0 else None
            fallback = supply_mix if supply_mix is not None else self._S[t - 1].mean(axis=1)
            s_e[t - 1] = np.where(
                f_t[None, :] > 0, weighted / np.where(f_t > 0, f_t, 1.0)[None, :],
                fallback[:, None],
            )  # fmt: skip
            if content is not None and t in product_pos:
                # the recipe says how much each plant would need; what it gets is the
                # conserved element, split in proportion to that need (see Notes)
                need = self._q[t] * content
                meta.setdefault("recipe_need", {})[self._stages[t]] = float(need.sum())
                # a recipe without the element: it follows the plants' REO-eq requirement
                x = need if need.sum() > 0 or in_recipe else req[t] * f_t
            else:
                x = req[t] * f_t
            q_e[t] = total * x / x.sum() if x.sum() > 0 else 0.0
            f_prev = f_t
        chain = SupplyChain.__new__(SupplyChain)
        chain._set_state(
            stages=self._stages,
            countries=self._countries,
            q=q_e,
            units=tuple("t_REO" for _ in self._stages),
            k=np.ones(n_st),
            known=[None] * (n_st - 1),
            sourcing=s_e,
            composition=None,
            recipe=None,
            governance=self._governance,
            blocs=self._blocs,
            year=self._year,
            material=element,
            meta=meta,
        )
        return chain

    def _product_positions(self) -> set[int]:
        """Positions of the product stage (magnets in a product unit) and the ``use`` stage."""
        if "magnet" not in self._stages:
            return set()
        pos = self._stages.index("magnet")
        if self._units[pos] in _REO_UNITS:
            return set()
        return {pos} | ({pos + 1} if pos + 1 < len(self._stages) else set())

    # -- blocs -------------------------------------------------------------------------------
    def _bloc_rows(
        self,
        mask: BoolArray,
        controller: BoolArray | None,
        demand_basis: Literal["next_stage", "final"],
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        req = self._q * self._k[:, None]
        has_use = self._stages[-1] == USE_STAGE
        final_req = float(req[-1][mask].sum()) if has_use else np.nan
        for t, stage in enumerate(self._stages):
            if stage == USE_STAGE:
                continue
            k = self._k[t]
            output_b = float(self._q[t][mask].sum())
            if t + 1 < len(self._stages):
                alloc = self._A[t]
                supply = alloc[:, mask].sum(axis=1) / k
                imports = float(alloc[np.ix_(~mask, mask)].sum()) / k
                exports = float(alloc[np.ix_(mask, ~mask)].sum()) / k
                demand = float(req[t + 1][mask].sum()) / k
            else:
                supply = np.full(len(self._countries), np.nan)
                imports = exports = demand = np.nan
            if demand_basis == "final":
                demand = final_req / k
            cases: list[tuple[str, BoolArray | None]] = [("all", None)]
            if controller is not None:
                label = "ex_" + "+".join(str(c) for c in self._countries[controller])
                cases.append((label, controller))
            for case, removed in cases:
                sup = supply.copy()
                out_b = output_b
                if removed is not None:
                    sup[removed & np.isfinite(sup)] = 0.0
                    out_b = float(self._q[t][mask & ~removed].sum())
                series = pd.Series(sup, index=self._countries)
                total = float(np.nansum(sup)) if np.isfinite(sup).any() else np.nan
                who, share = metrics.largest_outside_supplier_share(
                    series, self._countries[mask]
                ) if np.isfinite(sup).any() else (None, np.nan)  # fmt: skip
                ctrl_share = (
                    float(supply[controller].sum()) / float(np.nansum(supply))
                    if controller is not None and removed is None and np.nansum(supply) > 0
                    else (0.0 if removed is not None else np.nan)
                )
                rows.append(
                    {
                        "stage": stage,
                        "case": case,
                        "unit": self._units[t],
                        "bloc_output": out_b,
                        "bloc_demand": demand,
                        "self_sufficiency": metrics.bloc_self_sufficiency(out_b, demand),
                        "bloc_supply": total,
                        "supply_coverage": metrics.bloc_self_sufficiency(total, demand)
                        if np.isfinite(total)
                        else np.nan,
                        "imports": imports,
                        "exports": exports,
                        "import_reliance": metrics.import_reliance(output_b, imports, exports)
                        if np.isfinite(imports)
                        else np.nan,
                        "largest_outside_supplier": who,
                        "largest_outside_share": share,
                        "controller_share": ctrl_share,
                    }
                )
        return rows

    def bloc_table(
        self,
        members: str | Iterable[str],
        *,
        controller: str | Iterable[str] | None = None,
        demand_basis: Literal["next_stage", "final"] = "next_stage",
    ) -> pd.DataFrame:
        """Bloc balance per stage: output, demand, self-sufficiency, outside suppliers.

        Parameters
        ----------
        members : str or iterable of str
            The bloc: a bloc name (:attr:`blocs`), an ISO3 code or several codes.
        controller : str or iterable of str, optional
            A country (or set) whose supply to the bloc is removed in the second case.
        demand_basis : {"next_stage", "final"}, default "next_stage"
            Bloc demand for stage-s material: the input requirement of the bloc's stage-(s+1)
            plants (``next_stage``), or the bloc's final consumption expressed in stage-s
            units (``final``, needs a ``use`` stage). The last production stage without a
            ``use`` stage has no demand (NaN).

        Returns
        -------
        pandas.DataFrame
            One row per (stage, case); ``case`` is ``all`` or ``ex_<controller>``. Columns:
            ``unit``; ``bloc_output`` and ``bloc_demand`` [unit/yr]; ``self_sufficiency`` =
            output / demand [-]; ``bloc_supply`` (stage-s material delivered to the bloc's
            next-stage plants, own supply included) [unit/yr]; ``supply_coverage`` = supply /
            demand [-]; ``imports``, ``exports`` [unit/yr]; ``import_reliance`` [-];
            ``largest_outside_supplier`` and ``largest_outside_share`` (of bloc supply) [-];
            ``controller_share`` of bloc supply [-]. Removing the controller is static
            accounting — no re-routing (that is the disruption engine's job).

        Notes
        -----
        With allocation A_s (see :func:`sourcing_matrix`) and bloc B:

        .. math::

            x_j = \\sum_{c\\in B} A_{s+1}[j, c],\\quad
            SS_B = \\frac{\\sum_{c\\in B} Q_s(c)}{D_B},\\quad
            \\sigma^{out}_B = \\max_{j\\notin B} x_j \\Big/ \\sum_j x_j
        """
        mask = self._mask(members)
        ctrl = None if controller is None else self._mask(controller)
        return pd.DataFrame(self._bloc_rows(mask, ctrl, demand_basis))

    def crma_table(
        self,
        members: str | Iterable[str] = "EU27",
        *,
        recycling_output: float | None = None,
        demand_basis: Literal["next_stage", "final"] = "next_stage",
    ) -> pd.DataFrame:
        """EU Critical Raw Materials Act benchmarks for a bloc (default EU27).

        Parameters
        ----------
        members : str or iterable of str, default "EU27"
            The bloc.
        recycling_output : float, optional
            Bloc recycling output or capacity [t REO/yr]; the recycling test is NA without it.
        demand_basis : {"next_stage", "final"}, default "next_stage"
            As in :meth:`bloc_table`.

        Returns
        -------
        pandas.DataFrame
            See :func:`oreflow.metrics.crma_benchmarks`. Built on this chain's basis
            (production or capacity); the Act's shares are of capacity.
        """
        mask = self._mask(members)
        table = pd.DataFrame(self._bloc_rows(mask, None, demand_basis)).set_index("stage")
        stages = [s for s in self.supply_stages if s in table.index]
        supplier = {}
        for t, stage in enumerate(self._stages):
            if stage not in stages:
                continue
            if t + 1 < len(self._stages):
                x = self._A[t][:, mask].sum(axis=1)
                supplier[stage] = metrics.shares(pd.Series(x, index=self._countries))
            else:  # last production stage without a use stage: bloc supply unknown
                supplier[stage] = pd.Series(np.nan, index=self._countries)
        supplier_shares = pd.DataFrame(supplier).T
        return metrics.crma_benchmarks(
            table["bloc_output"],
            table["bloc_demand"],
            supplier_shares,
            self._countries[mask],
            recycling_output=recycling_output,
        )

    # -- concentration and risk --------------------------------------------------------------
    def _governance_for(self, governance: pd.Series | None) -> pd.Series | None:
        return governance if governance is not None else self._governance

    def _hhi_wgi(
        self,
        share_rows: FloatArray,
        score: pd.Series | None,
        missing_governance: metrics.MissingGovernance,
        trade_adjustment: pd.Series | None,
    ) -> tuple[FloatArray, list[str], list[str]]:
        """WGI-weighted HHI of each row of ``share_rows`` (rows × countries).

        A residual node (OTH/ROW) without a score gets the share-weighted mean score of the
        row's scored producers. Returns values and, per row, the comma-separated codes of
        unscored producers and of imputed residual nodes.
        """
        rows = share_rows.shape[0]
        if score is None:
            return np.full(rows, np.nan), ["no governance scores given"] * rows, [""] * rows
        g = score.reindex(self._countries).to_numpy(dtype=np.float64)
        s = np.nan_to_num(share_rows, nan=0.0)
        producing = s > 0
        lacking = np.isnan(g)
        residual = np.asarray(self._countries.isin(list(RESIDUAL_CODES)))
        known = producing & ~lacking
        weight = (s * known).sum(axis=1)
        mean = np.divide(
            (s * np.nan_to_num(g) * known).sum(axis=1), weight, out=np.full(rows, np.nan),
            where=weight > 0,
        )  # fmt: skip
        imputable = residual & lacking
        grid = np.where(imputable[None, :], mean[:, None], g[None, :])
        imputed_mask = imputable[None, :] & producing & ~np.isnan(grid)
        missing_mask = producing & np.isnan(grid)
        values = metrics.wgi_weighted_hhi(
            pd.DataFrame(share_rows, columns=self._countries),
            pd.DataFrame(grid, columns=self._countries),
            trade_adjustment=trade_adjustment,
            missing=missing_governance,
        ).to_numpy(dtype=np.float64)
        codes = np.asarray(self._countries, dtype=object)
        missing = [",".join(codes[m]) for m in missing_mask]  # loop over stages
        imputed = [",".join(codes[m]) for m in imputed_mask]
        return values, missing, imputed

    def concentration_table(
        self,
        governance: pd.Series | None = None,
        *,
        missing_governance: metrics.MissingGovernance = "propagate",
        trade_adjustment: pd.Series | None = None,
    ) -> pd.DataFrame:
        """Concentration of each production stage.

        Parameters
        ----------
        governance : pandas.Series, optional
            Governance score by country, 0–10 higher = worse [-]; default the scores the chain
            was built with (``countries`` table). Without any, ``hhi_wgi`` is NaN.
        missing_governance : see :data:`oreflow.metrics.MissingGovernance`
            Treatment of a producing country without a score. A residual node (``OTH``,
            ``ROW``) without a score gets the share-weighted mean of the stage's other
            producers (listed in ``wgi_imputed``).
        trade_adjustment : pandas.Series, optional
            Export-restriction factors t_c ≥ 1 (EU methodology) by country.

        Returns
        -------
        pandas.DataFrame
            Indexed by stage, columns: ``unit``, ``total`` [unit/yr], ``n_producers``,
            ``top_producer``, ``top_share`` [-], ``cr1``, ``cr3`` [-], ``hhi`` [0–10,000],
            ``hhi_wgi`` [0–10, EU scale], ``wgi_missing`` and ``wgi_imputed`` (comma-separated
            codes). A residual node counts as one producer.
        """
        stages = list(self.supply_stages)
        pos = [self._stage_pos(s) for s in stages]
        out = self._q[pos]
        sh = metrics.shares(out)
        has = out.sum(axis=1) > 0
        top_pos = np.argmax(np.nan_to_num(sh, nan=-1.0), axis=1)
        codes = np.asarray(self._countries, dtype=object)
        score = self._governance_for(governance)
        wgi, wgi_missing, wgi_imputed = self._hhi_wgi(
            sh, score, missing_governance, trade_adjustment
        )
        return pd.DataFrame(
            {
                "unit": [self._units[p] for p in pos],
                "total": out.sum(axis=1),
                "n_producers": (out > 0).sum(axis=1),
                "top_producer": np.where(has, codes[top_pos], None),
                "top_share": np.where(has, sh[np.arange(len(pos)), top_pos], np.nan),
                "cr1": metrics.cr(sh, 1),
                "cr3": metrics.cr(sh, 3),
                "hhi": metrics.hhi(sh),
                "hhi_wgi": wgi,
                "wgi_missing": wgi_missing,
                "wgi_imputed": wgi_imputed,
            },
            index=pd.Index(stages, name="stage"),
        )

    def risk_table(
        self,
        members: str | Iterable[str] | None = None,
        *,
        import_reliance: float | Mapping[str, float] | None = None,
        eol_rir: float | Mapping[str, float] = 0.0,
        si_sr: float | Mapping[str, float] = 1.0,
        governance: pd.Series | None = None,
        missing_governance: metrics.MissingGovernance = "propagate",
        trade_adjustment: pd.Series | None = None,
    ) -> pd.DataFrame:
        """EU-style supply risk of each production stage, and the bottleneck.

        Parameters
        ----------
        members : str or iterable of str, optional
            The importer whose risk is assessed (a bloc name such as ``"EU27"``, an ISO3 code
            or codes). Without it the global view is taken: sourcing = global supply.
        import_reliance : float or mapping of stage to float, optional
            IR [-]; default computed from the chain's allocation (bloc imports and exports of
            the stage's material). Global view: 0.
        eol_rir : float or mapping of stage to float, default 0.0
            End-of-life recycling input rate [-]. Default 0: the user should supply the
            value of the EU factsheets for the material.
        si_sr : float or mapping of stage to float, default 1.0
            Substitution index for supply risk [-]; 1 = no substitute (conservative).
        governance, missing_governance, trade_adjustment
            As in :meth:`concentration_table`.

        Returns
        -------
        pandas.DataFrame
            Indexed by stage: ``hhi_wgi_global``, ``hhi_wgi_sourcing`` [0–10],
            ``import_reliance``, ``eol_rir``, ``si_sr`` [-], ``supply_risk`` [0–10] and
            ``bottleneck`` (True on the stage of highest SR). The sourcing mix of a stage is
            the supply of its material to the bloc's next-stage plants; the last production
            stage has one only if the chain has a ``use`` stage (else NaN).

        Notes
        -----
        .. math::

            SR_s = \\left[\\mathrm{HHI}^{GS}_{WGI,s}\\frac{IR_s}{2}
            + \\mathrm{HHI}^{B}_{WGI,s}\\left(1-\\frac{IR_s}{2}\\right)\\right]
            (1-\\mathrm{EoL_{RIR}})\\,SI_{SR}, \\qquad
            \\text{bottleneck} = \\arg\\max_s SR_s
        """
        score = self._governance_for(governance)
        stages = list(self.supply_stages)
        conc = self.concentration_table(
            score, missing_governance=missing_governance, trade_adjustment=trade_adjustment
        )
        glob = conc["hhi_wgi"]
        if members is None:
            sourcing_hhi = glob.copy()
            ir = pd.Series(0.0, index=stages)
        else:
            mask = self._mask(members)
            rows = pd.DataFrame(self._bloc_rows(mask, None, "next_stage")).set_index("stage")
            ir = rows["import_reliance"].reindex(stages).astype(np.float64)
            n = len(self._countries)
            mix = np.full((len(stages), n), np.nan)
            for t in range(len(stages)):  # loop over stages, not countries
                if t + 1 < len(self._stages):
                    mix[t] = metrics.shares(self._A[t][:, mask].sum(axis=1))
            values = self._hhi_wgi(mix, score, missing_governance, trade_adjustment)[0]
            sourcing_hhi = pd.Series(values, index=stages, dtype=np.float64)
        if import_reliance is not None:
            ir = _per_stage(import_reliance, stages)
        eol = _per_stage(eol_rir, stages)
        si = _per_stage(si_sr, stages)
        sr = metrics.supply_risk(glob, sourcing_hhi, ir, eol, si)
        top, _ = metrics.bottleneck(sr)
        return pd.DataFrame(
            {
                "hhi_wgi_global": glob,
                "hhi_wgi_sourcing": sourcing_hhi,
                "import_reliance": ir,
                "eol_rir": eol,
                "si_sr": si,
                "supply_risk": sr,
                "bottleneck": [s == top for s in stages],
            },
            index=pd.Index(stages, name="stage"),
        )

    def __repr__(self) -> str:
        active = int((self._q > 0).any(axis=0).sum())
        return (
            f"SupplyChain(material={self._material!r}, year={self._year}, "
            f"stages={list(self._stages)}, countries={active})"
        )


# ============================================================================================
# table parsing helpers


def _per_stage(value: float | Mapping[str, float], stages: Sequence[str]) -> pd.Series:
    if isinstance(value, Mapping):
        return pd.Series([float(value.get(s, np.nan)) for s in stages], index=list(stages))
    return pd.Series(float(value), index=list(stages))


def cited_sources(rows: pd.DataFrame) -> list[str]:
    """Sorted ``source_id`` and ``other_source_ids`` cited by ``rows``."""
    ids: set[str] = set()
    for col in ("source_id", "other_source_ids"):
        if col in rows:
            for cell in rows[col].dropna().astype(str):
                ids.update(x.strip() for x in cell.split(";") if x.strip())
    return sorted(ids)


def _aggregate_codes(countries: pd.DataFrame | None) -> frozenset[str]:
    codes = set(NON_NODE_CODES)
    if countries is not None and "kind" in countries:
        agg = countries.loc[countries["kind"].astype(str) == "aggregate", "iso3"].astype(str)
        codes |= set(agg)
    return frozenset(codes - RESIDUAL_CODES)


def _vintage_ranks(vintages: pd.DataFrame | None) -> dict[str, float]:
    if vintages is None or vintages.empty:
        return {}
    ranks = pd.to_numeric(vintages["rank"], errors="coerce")
    return {str(v): float(r) for v, r in zip(vintages["vintage"], ranks, strict=True)}


def _pick_vintage(
    rows: pd.DataFrame,
    key: list[str],
    wanted: str | None,
    ranks: Mapping[str, float],
    preferred: pd.Series | None = None,
) -> pd.DataFrame:
    """Newest vintage per key (or only ``wanted`` when the rows have it).

    ``preferred`` (aligned with ``rows``) marks rows that win over newer ones — flows whose
    vintage matches the exporter's output row.
    """
    if "vintage" not in rows or rows.empty:
        return rows
    labels = rows["vintage"].astype(str)
    if wanted is not None and (labels == wanted).any():
        return rows[labels == wanted]
    rank = labels.map(lambda v: ranks.get(v, -1.0)).astype(np.float64)
    if preferred is not None:
        rank = rank.where(~preferred.astype(bool), np.inf)
    order = pd.DataFrame({"rank": rank, "label": labels}, index=rows.index).sort_values(
        ["rank", "label"], kind="stable"
    )
    ordered = rows.loc[order.index]
    return ordered.drop_duplicates(key, keep="last")


def _select_material(rows: pd.DataFrame, material: str, product: str) -> pd.DataFrame:
    """Rows of the chain's material at a stage (the product for the magnet stage)."""
    if rows.empty:
        return rows
    names = rows["material"].astype(str)
    for choice in (material, product, *_PRODUCT_ALIASES):
        if (names == choice).any():
            return rows[names == choice]
    if material in _MATERIAL_ALIASES:
        alias = names.isin(list(_MATERIAL_ALIASES))
        if alias.any():
            return rows[alias]
    return rows.iloc[0:0]


def _unit_factor(stage: str, unit: str, product_factor: float, material: str = "REO") -> float:
    """t REO-eq per unit of output at a stage; NaN if not convertible.

    Minerals other than rare earths (Ga, W, graphite …) are counted in plain tonnes of the
    material at every stage (factor 1).
    """
    u = unit.strip()
    if u in _REO_UNITS:
        return 1.0
    rare = material in _MATERIAL_ALIASES or material in RARE_EARTHS or material in (
        _PRODUCT_ALIASES)
    if not rare and u == "t":
        return 1.0
    if stage == "magnet" and u in {"t_product", "t", "t_NdFeB"}:
        return product_factor
    if stage == "metal" and u in {"t", "t_metal"}:
        return oxide_factor("Nd")
    return float("nan")


def _prepare_flows(
    flows: pd.DataFrame,
    year: int,
    material: str,
    product: str,
    units: Mapping[str, str],
    factors: Mapping[str, float],
    excluded: frozenset[str],
    ranks: Mapping[str, float],
    output_vintages: Mapping[tuple[str, str], str],
    meta: dict[str, Any],
) -> pd.DataFrame | None:
    rows = flows[pd.to_numeric(flows["year"], errors="coerce") == year]
    kept: list[pd.DataFrame] = []
    skipped: list[str] = []
    for stage in STAGES:
        srows = _select_material(rows[rows["stage"].astype(str) == stage], material, product)
        if srows.empty or stage not in units:
            continue
        same = None
        if "vintage" in srows:
            exporter_vintage = pd.Series(
                [output_vintages.get((stage, c)) for c in srows["exporter"].astype(str)],
                index=srows.index, dtype=object)
            same = srows["vintage"].astype(str) == exporter_vintage
        srows = _pick_vintage(srows, ["exporter", "importer"], None, ranks, same)
        unit = (
            srows["unit"].fillna("t_REO").astype(str)
            if "unit" in srows
            else pd.Series("t_REO", index=srows.index)
        )
        factor = pd.Series(
            [1.0 / factors[stage] if u in {"t_REO", "t_TREO"}
             else (1.0 if u == units[stage] else np.nan) for u in unit],
            index=unit.index, dtype=float)
        bad = (
            factor.isna()
            | srows["exporter"].astype(str).isin(excluded)
            | srows["importer"].astype(str).isin(excluded)
        )
        for _, r in srows[bad].iterrows():
            skipped.append(f"{stage}:{r['exporter']}->{r['importer']} ({r.get('unit', '')})")
        good = srows[~bad]
        if good.empty:
            continue
        kept.append(
            pd.DataFrame(
                {
                    "stage": stage,
                    "exporter": good["exporter"].astype(str).to_numpy(),
                    "importer": good["importer"].astype(str).to_numpy(),
                    "tonnes": (
                        pd.to_numeric(good["tonnes"], errors="coerce") * factor[~bad]
                    ).to_numpy(),
                }
            )
        )
    meta["flows_skipped"] = skipped
    return pd.concat(kept, ignore_index=True) if kept else None


def _country_composition(composition: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame | None:
    """Country-average ore mix (rows ``deposit = country:ISO3``) as country × element."""
    deposit = composition["deposit"].astype(str)
    rows = composition[deposit.str.startswith("country:")]
    if rows.empty:
        meta["composition"] = "no country:ISO3 rows"
        return None
    iso = rows["deposit"].astype(str).str.slice(len("country:"))
    element = rows["element"].astype(str)
    share = pd.to_numeric(rows["share"], errors="coerce")
    ok = element.isin(list(RARE_EARTHS)) & share.notna()
    frame = pd.DataFrame({"iso3": iso[ok], "element": element[ok], "share": share[ok]})
    table = frame.pivot_table(index="iso3", columns="element", values="share", aggfunc="mean")
    table = table.fillna(0.0)
    sums = table.sum(axis=1)
    off = sums[(sums - 1.0).abs() > 0.01]
    if not off.empty:
        meta["composition_renormalised"] = {str(k): float(v) for k, v in off.items()}
    table = table.div(sums.where(sums > 0), axis=0).dropna(how="all")
    table.columns = pd.Index([str(c) for c in table.columns], name="element")
    table.index = pd.Index([str(c) for c in table.index], name="country")
    return table
