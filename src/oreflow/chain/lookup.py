"""Names people type, resolved to the codes the data use: countries, blocs, materials.

A user writes ``Japan``, ``jp`` or ``JPN``; ``EU`` or ``European Union``; ``Dysprosium``,
``dy`` or ``rare earth oxide``. These pure functions map each to the one code the tables
use (``JPN``, ``EU27``, ``Dy``, ``REO``) and, when nothing matches, raise an
:class:`~oreflow.errors.InputError` whose did-you-mean compares names as well as codes
(``Japn`` → ``'JPN' (Japan)``).

- Countries: ISO 3166 alpha-3 or alpha-2 code, or the English name, common name or official
  name from :mod:`pycountry`, plus the short form of names written "Iran, Islamic Republic
  of" and a few conventional names ISO does not use (:data:`CONVENTIONAL_NAMES`); the
  project's residual nodes (``OTH``, ``ROW``, ``XEU``) and any code the caller passes in
  ``extra`` are valid too.
- Blocs: the code or the name in the ``blocs`` table (read through an explicit ``store``),
  with the parenthesis of a name dropped, punctuation and case ignored, and the aliases of
  :data:`BLOC_ALIASES` (``EU`` → ``EU27``).
- Materials: a symbol or English name of an element (:data:`ELEMENT_NAMES`), the name of a
  product or group, or an alias in :data:`MATERIAL_ALIASES` (``rare earth oxide`` → ``REO``,
  ``neodymium magnets`` → ``NdFeB``), among the codes valid where it is used.

Only :func:`data_material` and :func:`bloc_table` read the store; everything else takes
what it needs as arguments.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

import pandas as pd

from oreflow.chain.names import RESIDUAL_CODES
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError, did_you_mean, unknown

__all__ = [
    "BLOC_ALIASES",
    "CONVENTIONAL_NAMES",
    "ELEMENT_NAMES",
    "MATERIAL_ALIASES",
    "bloc_code",
    "bloc_table",
    "country_code",
    "country_names",
    "data_material",
    "material_code",
    "region_code",
]

#: English names of the residual nodes the data keep as one country each.
RESIDUAL_NAMES: dict[str, str] = {
    "OTH": "other countries", "ROW": "rest of world", "XEU": "rest of EU27"}
assert set(RESIDUAL_NAMES) == RESIDUAL_CODES

#: Conventional English names that ISO 3166 (and so pycountry) does not list, by ISO3 code.
CONVENTIONAL_NAMES: dict[str, tuple[str, ...]] = {
    "RUS": ("Russia",),
    "USA": ("United States of America", "America", "U.S.", "U.S.A."),
    "GBR": ("UK", "U.K.", "Britain", "Great Britain"),
    "TUR": ("Turkey",),
    "MMR": ("Burma",),
    "COD": ("DR Congo", "DRC", "Democratic Republic of the Congo", "Congo-Kinshasa"),
    "COG": ("Republic of the Congo", "Congo-Brazzaville"),
    "CIV": ("Ivory Coast",),
    "CZE": ("Czech Republic",),
    "BRN": ("Brunei",),
    "CPV": ("Cape Verde",),
    "SWZ": ("Swaziland",),
    "MKD": ("Macedonia",),
    "TLS": ("East Timor",),
    "VAT": ("Vatican", "Vatican City"),
}

#: Bloc aliases not derivable from the ``blocs`` table's names: alias → bloc code.
BLOC_ALIASES: dict[str, str] = {"EU": "EU27", "EUU": "EU27", "European Union": "EU27",
                                "Group of Seven": "G7"}

#: English names of the elements and minerals the data and the engine know, by symbol.
ELEMENT_NAMES: dict[str, str] = {
    "Sc": "scandium", "Y": "yttrium", "La": "lanthanum", "Ce": "cerium",
    "Pr": "praseodymium", "Nd": "neodymium", "Pm": "promethium", "Sm": "samarium",
    "Eu": "europium", "Gd": "gadolinium", "Tb": "terbium", "Dy": "dysprosium",
    "Ho": "holmium", "Er": "erbium", "Tm": "thulium", "Yb": "ytterbium", "Lu": "lutetium",
    "Ga": "gallium", "Ge": "germanium", "Sb": "antimony", "W": "tungsten", "Co": "cobalt",
    "Be": "beryllium", "Bi": "bismuth", "Ir": "iridium", "Mg": "magnesium", "Nb": "niobium",
    "Pt": "platinum", "Rh": "rhodium", "Ru": "ruthenium",
}  # fmt: skip

#: Material aliases: alias → codes it may stand for, the first one valid where it is used
#: wins (``REO`` in the data's tables, the group ``REE`` in a scenario).
MATERIAL_ALIASES: dict[str, tuple[str, ...]] = {
    "rare earth oxide": ("REO", "REE"),
    "total rare earth oxide": ("REO", "REE"),
    "TREO": ("REO", "REE"),
    "REO": ("REO", "REE"),
    "rare earths": ("REE", "REO"),
    "rare earth elements": ("REE", "REO"),
    "REE": ("REE", "REO"),
    "light rare earths": ("LREE",),
    "heavy rare earths": ("HREE",),
    "didymium": ("NdPr",),
    "Nd+Pr": ("NdPr",),
    "neodymium magnet": ("NdFeB",),
    "NdFeB magnet": ("NdFeB",),
    "neodymium iron boron": ("NdFeB",),
    "neodymium iron boron magnet": ("NdFeB",),
    "Nd Fe B": ("NdFeB",),
    "samarium cobalt": ("SmCo",),
    "samarium cobalt magnet": ("SmCo",),
    "SmCo magnet": ("SmCo",),
    "Sm Co": ("SmCo",),
    "magnets": ("magnets", "REPM"),
    "rare earth magnets": ("magnets", "REPM"),
    "permanent magnets": ("magnets", "REPM"),
    "rare earth permanent magnets": ("REPM", "magnets"),
    "graphite": ("graphite",),
}
#: Display names of products and groups without an entry in :data:`ELEMENT_NAMES`.
_OTHER_NAMES: dict[str, str] = {
    "NdFeB": "neodymium-iron-boron magnets", "SmCo": "samarium-cobalt magnets",
    "REO": "total rare-earth oxide", "REE": "all rare-earth elements",
    "LREE": "light rare earths", "HREE": "heavy rare earths", "NdPr": "didymium",
    "REPM": "rare-earth permanent magnets", "magnets": "magnet products",
}


def _key(text: str) -> str:
    """Spelling-insensitive key: accents, case, punctuation and a leading 'the' dropped.

    Examples
    --------
    >>> _key("Côte d'Ivoire"), _key("EU-27"), _key("the Netherlands")
    ('cotedivoire', 'eu27', 'netherlands')
    """
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    plain = re.sub(r"^\s*the\s+", "", plain.lower())
    return re.sub(r"[^a-z0-9]", "", plain)


# -- countries -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _country_index() -> tuple[dict[str, str], dict[str, str], dict[str, tuple[str, ...]],
                              dict[str, tuple[str, ...]]]:
    """From pycountry, built once: alpha-2 → alpha-3, name key → alpha-3, alpha-3 → names,
    and the short names that stand for several countries (key → codes)."""
    import pycountry  # imported here: it costs ~80 ms and most commands never need it

    alpha2: dict[str, str] = {}
    names: dict[str, list[str]] = {}
    short: dict[str, set[str]] = {}
    for c in pycountry.countries:
        code = str(c.alpha_3)
        alpha2[str(c.alpha_2)] = code
        spellings = [str(getattr(c, a)) for a in ("common_name", "name", "official_name")
                     if getattr(c, a, None)]
        names[code] = list(dict.fromkeys(spellings))
        for s in spellings:  # "Iran, Islamic Republic of" → "Iran"
            if "," in s:
                short.setdefault(s.split(",")[0].strip(), set()).add(code)
    for code, name in RESIDUAL_NAMES.items():
        names[code] = [name]
    index: dict[str, str] = {}
    for code, spellings in names.items():  # ISO names first: they win over short forms
        for s in spellings:
            index.setdefault(_key(s), code)
    for code, extra in CONVENTIONAL_NAMES.items():
        names[code].extend(extra)
        for s in extra:
            index.setdefault(_key(s), code)
    ambiguous: dict[str, tuple[str, ...]] = {}
    for s, codes in short.items():
        if _key(s) in index:
            continue
        if len(codes) == 1:
            (code,) = codes
            names[code].append(s)
            index[_key(s)] = code
        else:
            ambiguous[_key(s)] = tuple(sorted(codes))
    return (alpha2, index, {c: tuple(dict.fromkeys(s)) for c, s in names.items()},
            ambiguous)


def country_names() -> dict[str, tuple[str, ...]]:
    """English spellings of every country by ISO3 code, display name first (a copy)."""
    return dict(_country_index()[2])


def country_code(name: str, *, extra: Iterable[str] = ()) -> str:
    """ISO3 code of a country given by code or English name.

    Parameters
    ----------
    name : str
        ISO 3166 alpha-3 or alpha-2 code, or English name (short, common or official),
        in any case; a residual node (``OTH``, ``ROW``, ``XEU``) or one of ``extra``.
    extra : iterable of str, optional
        Further codes valid here (e.g. the ``countries`` table's aggregates), matched
        case-insensitively.

    Returns
    -------
    str
        The alpha-3 code (or the matching code of ``extra``).

    Raises
    ------
    oreflow.errors.InputError
        If nothing matches; the message suggests the closest code or name.

    Examples
    --------
    >>> [country_code(x) for x in ("Japan", "japan", "JPN", "jp", "South Korea", "Russia")]
    ['JPN', 'JPN', 'JPN', 'JPN', 'KOR', 'RUS']
    >>> country_code("Japn")
    Traceback (most recent call last):
    ...
    oreflow.errors.InputError: unknown country 'Japn' (did you mean 'JPN' (Japan)?)
    """
    alpha2, index, names, ambiguous = _country_index()
    text = str(name).strip()
    up = text.upper()
    valid = {c.upper(): c for c in extra}
    valid.update({c: c for c in names})
    if up in valid:
        return valid[up]
    if up in alpha2:
        return alpha2[up]
    hit = index.get(_key(text))
    if hit is not None:
        return hit
    if _key(text) in ambiguous:
        which = " or ".join(f"{c} ({names[c][0]})" for c in ambiguous[_key(text)])
        raise InputError(f"country '{text}' is ambiguous: {which}")
    raise unknown("country", text, valid.values(), names)


# -- blocs -----------------------------------------------------------------------------------


def bloc_table(store: Store | None = None) -> dict[str, str]:
    """Bloc codes of the store's ``blocs`` table with their names (code → name)."""
    df = resolve_store(store).table("blocs")
    first = df.drop_duplicates("bloc")
    label = first["bloc_name"] if "bloc_name" in first else first["bloc"]
    return {str(b): (str(n) if isinstance(n, str) else str(b))
            for b, n in zip(first["bloc"], label, strict=True)}


def _bloc_spellings(blocs: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Spellings of each bloc: its name, the name without a parenthesis, aliases."""
    out: dict[str, list[str]] = {}
    for code, label in blocs.items():
        out[code] = [label, re.sub(r"\s*\(.*\)\s*$", "", label)]
    for alias, code in BLOC_ALIASES.items():
        if code in out:
            out[code].append(alias)
    return {c: tuple(dict.fromkeys(s)) for c, s in out.items()}


def bloc_code(name: str, blocs: Mapping[str, str] | Iterable[str]) -> str | None:
    """The bloc code ``name`` stands for, or ``None`` if it names no bloc.

    Parameters
    ----------
    name : str
        A bloc code or name in any case and punctuation (``eu``, ``EU-27``, ``Quad``,
        ``Minerals Security Partnership``) or an alias (:data:`BLOC_ALIASES`).
    blocs : mapping of str to str, or iterable of str
        The blocs known here: code → name (:func:`bloc_table`), or codes only.

    Examples
    --------
    >>> known = {"EU27": "European Union (27 member states)", "MSP": "Minerals Security "
    ...          "Partnership", "QUAD": "Quad (members as listed)"}
    >>> [bloc_code(x, known) for x in ("EU", "eu", "European Union", "quad", "MSP", "Japan")]
    ['EU27', 'EU27', 'EU27', 'QUAD', 'MSP', None]
    """
    table = dict(blocs) if isinstance(blocs, Mapping) else {str(b): str(b) for b in blocs}
    text = str(name).strip()
    if text in table:
        return text
    key = _key(text)
    for code, spellings in _bloc_spellings(table).items():
        if key == _key(code) or any(key == _key(s) for s in spellings):
            return code
    return None


def region_code(name: str, blocs: Mapping[str, str] | Iterable[str], *,
                countries: Iterable[str] = (), kind: str = "bloc or country") -> str:
    """A bloc code if ``name`` names a bloc, else the country's ISO3 code.

    Parameters
    ----------
    name : str
        Bloc or country, as typed.
    blocs : mapping of str to str, or iterable of str
        The blocs known here (code → name, or codes).
    countries : iterable of str, optional
        Codes valid here besides ISO 3166 and the residual nodes (``extra`` of
        :func:`country_code`).
    kind : str, default "bloc or country"
        What the error calls the value.

    Raises
    ------
    oreflow.errors.InputError
        If it is neither; the did-you-mean compares bloc and country codes and names.

    Examples
    --------
    >>> region_code("EU", {"EU27": "European Union"}), region_code("Japan", ["EU27"])
    ('EU27', 'JPN')
    """
    table = dict(blocs) if isinstance(blocs, Mapping) else {str(b): str(b) for b in blocs}
    hit = bloc_code(name, table)
    if hit is not None:
        return hit
    extra = list(countries)
    try:
        return country_code(name, extra=extra)
    except InputError:
        pass
    text = str(name).strip()
    cnames: dict[str, Sequence[str]] = dict(country_names())
    hint = (did_you_mean(text, table, _bloc_spellings(table))  # a bloc first, then a country
            or did_you_mean(text, [*cnames, *extra], cnames)
            or f" (blocs: {', '.join(sorted(table))}; or a country)")
    raise InputError(f"unknown {kind} '{text}'{hint}") from None


# -- materials -------------------------------------------------------------------------------


def _singular(key: str) -> str:
    return key[:-1] if len(key) > 4 and key.endswith("s") and not key.endswith("ss") else key


def material_code(name: str, known: Iterable[str], *,
                  names: Mapping[str, str] | None = None, kind: str = "material") -> str:
    """The code among ``known`` that a material name stands for.

    Parameters
    ----------
    name : str
        A code in any case (``dy``, ``NDFEB``), an English name (``Dysprosium``,
        ``gallium``), a product or group name, or an alias (:data:`MATERIAL_ALIASES`); a
        plural is read as its singular.
    known : iterable of str
        The codes valid here (the data's ``materials`` table, or a scenario's materials and
        groups).
    names : mapping of str to str, optional
        Further names by code (the ``materials`` table's ``name`` column).
    kind : str, default "material"
        What the error calls the value.

    Raises
    ------
    oreflow.errors.InputError
        If nothing matches; the did-you-mean compares names as well as codes.

    Examples
    --------
    >>> known = ["REO", "Dy", "Nd", "Ga", "NdFeB", "SmCo"]
    >>> [material_code(x, known) for x in ("Dysprosium", "dy", "DY", "neodymium", "Gallium",
    ...                                     "rare earth oxide", "neodymium magnets")]
    ['Dy', 'Dy', 'Dy', 'Nd', 'Ga', 'REO', 'NdFeB']
    >>> material_code("Dysprosim", known)
    Traceback (most recent call last):
    ...
    oreflow.errors.InputError: unknown material 'Dysprosim' (did you mean 'Dy' (dysprosium)?)
    """
    codes = [str(c) for c in known]
    text = str(name).strip()
    if text in codes:
        return text
    spellings: dict[str, list[str]] = {c: [] for c in codes}
    for c in codes:
        for table in (names or {}, ELEMENT_NAMES, _OTHER_NAMES):
            label = table.get(c)
            if not isinstance(label, str) or not label:
                continue
            for form in (label, re.sub(r"\s*\(.*\)\s*$", "", label)):  # "(powder)" dropped
                if form and form not in spellings[c]:
                    spellings[c].append(form)
    for alias, targets in MATERIAL_ALIASES.items():
        pick = next((t for t in targets if t in spellings), None)
        if pick is not None:
            spellings[pick].append(alias)
    key = _key(text)
    for form in dict.fromkeys((key, _singular(key))):
        by_code = [c for c in codes if _key(c) == form]
        if len(by_code) == 1:
            return by_code[0]
        for c, spelled in spellings.items():
            if any(form in (_key(s), _singular(_key(s))) for s in spelled):
                return c
    raise unknown(kind, text, codes, {c: tuple(s) for c, s in spellings.items() if s})


def data_material(name: str, *, store: Store | None = None) -> str:
    """The code of the ``materials`` table that ``name`` stands for (see
    :func:`material_code`); the table's ``name`` column counts as a spelling."""
    df = resolve_store(store).table("materials")
    labels = df["name"] if "name" in df else pd.Series("", index=df.index)
    names = {str(m): str(n) for m, n in zip(df["material"], labels, strict=True)
             if isinstance(n, str)}
    return material_code(name, df["material"].astype(str).tolist(), names=names)
