"""The ``materials`` table: rare-earth elements, groups, products and other minerals.

A classification, not facts: element names and atomic numbers are chemistry; the light/heavy
split follows USGS (D.J. Cordier, source ``usgs_cordier_ree_groups`` in
``facts/reference/materials_sources.csv``). Groups, products and the other minerals are listed
in ``materials.csv`` beside this module.
"""

from __future__ import annotations

from pathlib import Path

from .common import read_csv
from .rows import Row

#: The rare-earth elements: symbol, name, atomic number Z.
ELEMENTS = [
    ("La", "lanthanum", 57),
    ("Ce", "cerium", 58),
    ("Pr", "praseodymium", 59),
    ("Nd", "neodymium", 60),
    ("Pm", "promethium", 61),
    ("Sm", "samarium", 62),
    ("Eu", "europium", 63),
    ("Gd", "gadolinium", 64),
    ("Tb", "terbium", 65),
    ("Dy", "dysprosium", 66),
    ("Ho", "holmium", 67),
    ("Er", "erbium", 68),
    ("Tm", "thulium", 69),
    ("Yb", "ytterbium", 70),
    ("Lu", "lutetium", 71),
    ("Sc", "scandium", 21),
    ("Y", "yttrium", 39),
]

#: Groups, products and other minerals (material, kind, parent, name, note).
OTHERS_PATH = Path(__file__).with_name("materials.csv")


def ree_group(symbol: str, z: int) -> str:
    """LREE/HREE per USGS (Cordier): La-Gd light, Tb-Lu and Y heavy, Sc neither."""
    if symbol == "Sc":
        return ""
    if symbol == "Y":
        return "HREE"
    return "LREE" if z <= 64 else "HREE"


def build_materials() -> list[Row]:
    """materials: elements, groups, products and other critical minerals."""
    cls = "group per USGS (Cordier; source usgs_cordier_ree_groups)"
    out: list[Row] = []
    for sym, name, z in ELEMENTS:
        parent = ree_group(sym, z)
        note = f"Z={z}; {cls}" if parent else f"Z={z}; in neither LREE nor HREE ({cls})"
        out.append(
            {"material": sym, "kind": "element", "parent": parent, "name": name, "note": note}
        )
    return out + read_csv(OTHERS_PATH)
