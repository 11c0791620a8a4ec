"""Element chemistry and product recipes: oxide factors, recipe contents, REO-equivalents.

Pure functions over pandas; the recipe table's columns are those of ``docs/data-model.md``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from oreflow.chain.names import RARE_EARTHS
from oreflow.errors import InputError, unknown

__all__ = ["DEFAULT_RE_CONTENT_NDFEB", "oxide_factor", "recipe_content", "reo_per_tonne"]

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


