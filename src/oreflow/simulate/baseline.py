"""The baseline market the disruption engine starts from.

A :class:`Baseline` holds, per material (17 elements plus the NdFeB and SmCo magnet products)
and market segment (controller, rest of world, named targets), the baseline production,
consumption by sector, imports from the controller and price, plus the recipes that couple
magnet production to element supply, the origin shares that carry an outage at one stage and
country to the segments downstream, and the controller-origin content that a de-minimis rule
reaches. Every number that is not read from the embedded data carries a note in
:attr:`Baseline.notes` saying how it was derived.

:func:`oreflow.simulate.baseline_data.build_baseline` makes one from a store (through
:class:`oreflow.chain.SupplyChain` where available); :func:`toy_baseline` makes a small
synthetic one for tests and examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.errors import InputError

from .scenario import PRODUCTS

__all__ = [
    "ELEMENT_SECTORS",
    "PRODUCT_SECTORS",
    "REGIONS",
    "SECTORS",
    "Baseline",
    "Project",
    "Regions",
    "check_baseline",
    "controller_flows",
    "segment_trade",
    "toy_baseline",
]

#: Segment keys, in array order: the controller, the rest of the world, the named targets.
REGIONS: tuple[str, str, str] = ("controller", "rest", "targets")
#: Demand sectors of the element markets; ``magnet_makers`` is the derived demand of magnet
#: plants (recipe x planned magnet output).
ELEMENT_SECTORS: tuple[str, ...] = ("magnet_makers", "other_uses")
#: Demand sectors of the magnet-product markets.
PRODUCT_SECTORS: tuple[str, ...] = ("automotive", "wind", "electronics", "industrial_other")
#: All sectors (array order of :attr:`Baseline.demand`).
SECTORS: tuple[str, ...] = (*ELEMENT_SECTORS, *PRODUCT_SECTORS)


@dataclass(frozen=True)
class Regions:
    """Segment membership: the controller and the named targets (ISO3 codes)."""

    controller: str = "CHN"
    """ISO3 code of the controller."""
    targets: tuple[str, ...] = ()
    """ISO3 codes of the named targets (empty: two segments)."""


@dataclass(frozen=True)
class Project:
    """A pipeline project adding supply after its lead time.

    Attributes
    ----------
    project_id : str
        Key into the ``projects`` table.
    region : int
        Segment index (0 controller, 1 rest, 2 targets).
    capacity : numpy.ndarray
        Nameplate output by material [t/yr], shape (materials,).
    start_year : float
        Announced first output as a decimal year (2026.0 = January 2026).
    source_id : str
        Source key.
    p_fail : float
        Probability that the project never produces [0-1]: in each Monte Carlo draw it
        fails with this probability and adds nothing in that draw (its own random stream,
        :func:`oreflow.simulate.draws.sample_draws`). Default 0.
    """

    project_id: str
    region: int
    capacity: NDArray[np.float64]
    start_year: float
    source_id: str = ""
    p_fail: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_fail <= 1.0:  # also rejects NaN
            raise InputError(f"project {self.project_id}: p_fail must be in [0, 1], "
                             f"got {self.p_fail!r}")


@dataclass(frozen=True)
class Baseline:
    """Baseline market per material and segment (flows in t/yr, prices in USD/kg).

    Attributes
    ----------
    year : int
        Baseline year.
    materials : tuple of str
        Material names (elements, then products), length M.
    region_labels : tuple of str
        Display labels of the three segments (e.g. ``CHN``, ``rest``, ``targets:JPN``).
    members : tuple of tuple of str
        ISO3 members of each segment (``rest`` lists the known non-members, may be partial).
    sectors : tuple of str
        Demand sectors, length K (:data:`SECTORS`).
    production : numpy.ndarray
        Output of the traded level (separated oxide/metal for elements, magnets for
        products), shape (M, 3) [t/yr].
    demand : numpy.ndarray
        Consumption by sector at the base price, shape (M, 3, K) [t/yr].
    price : numpy.ndarray
        Base price (controller FOB), shape (M,) [USD/kg].
    imports_from_controller : numpy.ndarray
        Baseline imports of each segment from the controller, shape (M, 3) [t/yr]
        (column 0 is zero).
    recipe : numpy.ndarray
        Element content of products, shape (M, M): ``recipe[e, p]`` tonnes of element ``e``
        (oxide basis) per tonne of product ``p`` [t/t].
    origin : mapping
        ``(iso3, stage) -> array (M, 3)``: share of each segment's traded-level output that
        passes through ``iso3`` at ``stage`` [0-1]. Carries outages downstream.
    controller_content : numpy.ndarray
        Share of each segment's output that contains controller-origin material at or above
        a de-minimis threshold, shape (M, 3) [0-1].
    cross_border : numpy.ndarray
        Share of each segment's output that is exported across borders inside the segment,
        shape (M, 3) [0-1].
    projects : tuple of Project
        Pipeline projects.
    trade : numpy.ndarray, optional
        Baseline trade between segments, shape (M, 3, 3): ``trade[m, i, j]`` flows from
        segment i to segment j [t/yr] (zero diagonal); its row 0 equals
        ``imports_from_controller``. None: derived by :func:`segment_trade`.
    price_by_region : numpy.ndarray, optional
        Base price in each segment's market, shape (M, 3) [USD/kg] (e.g. China domestic,
        FOB China, Rotterdam); None: ``price`` everywhere.
    notes : mapping
        Per-material list of flags/notes on fallbacks and estimates.
    provenance : mapping
        Dataset name, version and hash.
    """

    year: int
    materials: tuple[str, ...]
    region_labels: tuple[str, str, str]
    members: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
    sectors: tuple[str, ...]
    production: NDArray[np.float64]
    demand: NDArray[np.float64]
    price: NDArray[np.float64]
    imports_from_controller: NDArray[np.float64]
    recipe: NDArray[np.float64]
    origin: Mapping[tuple[str, str], NDArray[np.float64]] = field(default_factory=dict)
    controller_content: NDArray[np.float64] | None = None
    cross_border: NDArray[np.float64] | None = None
    projects: tuple[Project, ...] = ()
    trade: NDArray[np.float64] | None = None
    price_by_region: NDArray[np.float64] | None = None
    notes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    provenance: Mapping[str, str] = field(default_factory=dict)

    # -- derived views -----------------------------------------------------------------

    @property
    def n_materials(self) -> int:
        """Number of materials M."""
        return len(self.materials)

    def index(self, material: str) -> int:
        """Array index of a material."""
        return self.materials.index(material)

    @property
    def is_product(self) -> NDArray[np.bool_]:
        """Boolean mask (M,) of magnet products."""
        return np.array([m in PRODUCTS for m in self.materials])

    def region_of(self, iso3: str) -> int:
        """Segment index of a country (controller 0, targets 2, otherwise rest 1)."""
        if iso3 in self.members[0]:
            return 0
        if iso3 in self.members[2]:
            return 2
        return 1

    def subset(self, materials: Sequence[str]) -> Baseline:
        """Baseline restricted to ``materials`` (products keep only listed elements).

        Elements needed by a listed product's recipe are kept as well so that magnet
        production stays coupled to its inputs.
        """
        want = list(materials)
        for p in [m for m in want if m in PRODUCTS and m in self.materials]:
            j = self.index(p)
            for i, e in enumerate(self.materials):
                if self.recipe[i, j] > 0 and e not in want:
                    want.append(e)
        order = [m for m in self.materials if m in want]
        missing = [m for m in want if m not in self.materials]
        if missing:
            raise KeyError(f"materials not in baseline: {missing}")
        idx = np.array([self.index(m) for m in order], dtype=np.intp)
        origin = {k: v[idx] for k, v in self.origin.items()}
        projects = tuple(replace(p, capacity=p.capacity[idx]) for p in self.projects)
        return replace(
            self,
            materials=tuple(order),
            production=self.production[idx],
            demand=self.demand[idx],
            price=self.price[idx],
            imports_from_controller=self.imports_from_controller[idx],
            recipe=self.recipe[np.ix_(idx, idx)],
            origin=origin,
            controller_content=None
            if self.controller_content is None
            else self.controller_content[idx],
            cross_border=None if self.cross_border is None else self.cross_border[idx],
            projects=projects,
            trade=None if self.trade is None else self.trade[idx],
            price_by_region=None if self.price_by_region is None else self.price_by_region[idx],
            notes={m: self.notes[m] for m in order if m in self.notes},
        )

    def flows(self) -> NDArray[np.float64]:
        """Baseline trade between segments (M, 3, 3) [t/yr]: :attr:`trade` or, when absent,
        :func:`segment_trade` of the net positions."""
        if self.trade is not None:
            return self.trade
        return segment_trade(self.production, self.consumption(), self.imports_from_controller)

    def regional_price(self) -> NDArray[np.float64]:
        """Base price per material and segment (M, 3) [USD/kg]."""
        if self.price_by_region is not None:
            return self.price_by_region
        return np.repeat(self.price[:, None], 3, axis=1)

    def consumption(self) -> NDArray[np.float64]:
        """Total baseline consumption (M, 3) [t/yr]."""
        return np.asarray(self.demand.sum(axis=2))

    def to_frame(self) -> object:
        """A tidy pandas DataFrame of production, consumption and imports by segment."""
        rows = []
        cons = self.consumption()
        for i, m in enumerate(self.materials):
            for r, lab in enumerate(self.region_labels):
                rows.append(
                    {
                        "material": m,
                        "region": lab,
                        "production_t_per_yr": self.production[i, r],
                        "consumption_t_per_yr": cons[i, r],
                        "imports_from_controller_t_per_yr": self.imports_from_controller[i, r],
                        "price_usd_per_kg": self.price[i],
                    }
                )
        return pd.DataFrame(rows)


def check_baseline(b: Baseline, *, rtol: float = 1e-6) -> None:
    """Raise ``ValueError`` if the baseline is inconsistent.

    Checks: non-negative flows, positive prices, world supply equal to world consumption per
    material (a steady state), imports from the controller not above each segment's net
    imports, shares in [0, 1], recipes only from elements to products.
    """
    nm = b.n_materials
    if b.production.shape != (nm, 3) or b.demand.shape != (nm, 3, len(b.sectors)):
        raise ValueError("baseline arrays have wrong shapes")
    for name, arr in (
        ("production", b.production),
        ("demand", b.demand),
        ("imports_from_controller", b.imports_from_controller),
        ("recipe", b.recipe),
    ):
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"baseline {name} must be finite and non-negative")
    if not np.all(np.isfinite(b.price)) or np.any(b.price <= 0):
        raise ValueError("baseline prices must be positive")
    supply = b.production.sum(axis=1)
    cons = b.demand.sum(axis=(1, 2))
    bad = ~np.isclose(supply, cons, rtol=rtol, atol=1e-9)
    if np.any(bad):
        names = [b.materials[i] for i in np.flatnonzero(bad)]
        raise ValueError(f"baseline not balanced (supply != consumption) for {names}")
    net_imp = b.demand.sum(axis=2) - b.production
    if b.trade is None and np.any(
        b.imports_from_controller[:, 1:] > np.maximum(net_imp[:, 1:], 0) * (1 + rtol) + 1e-9
    ):  # with a full trade matrix a segment may import from the controller and re-export
        raise ValueError("imports from the controller exceed net imports")
    if np.any(b.imports_from_controller[:, 0] != 0):
        raise ValueError("the controller cannot import from itself")
    if b.trade is not None:
        tr = b.trade
        if tr.shape != (nm, 3, 3) or not np.all(np.isfinite(tr)) or np.any(tr < 0):
            raise ValueError("baseline trade must be (M, 3, 3), finite and non-negative")
        if np.any(np.einsum("mii->mi", tr) != 0):
            raise ValueError("baseline trade must have a zero diagonal")
        net = tr.sum(axis=1) - tr.sum(axis=2)  # imports - exports per segment
        if not np.allclose(b.production + net, b.demand.sum(axis=2), rtol=rtol, atol=1e-6):
            raise ValueError("baseline trade does not balance production and consumption "
                             "in every segment")
        if not np.allclose(tr[:, 0, :], b.imports_from_controller, rtol=rtol, atol=1e-6):
            raise ValueError("baseline trade row 0 must equal imports_from_controller")
    if b.price_by_region is not None and (
        b.price_by_region.shape != (nm, 3) or np.any(~(b.price_by_region > 0))
    ):
        raise ValueError("baseline price_by_region must be (M, 3) and positive")
    for name, arr2 in (
        ("controller_content", b.controller_content),
        ("cross_border", b.cross_border),
    ):
        if arr2 is not None and (np.any(arr2 < 0) or np.any(arr2 > 1)):
            raise ValueError(f"{name} must be in [0, 1]")
    for k, v in b.origin.items():
        if v.shape != (nm, 3) or np.any(v < 0) or np.any(v > 1 + 1e-12):
            raise ValueError(f"origin share {k} must be (nm, 3) in [0, 1]")
    prod = b.is_product
    if np.any(b.recipe[prod, :] > 0) or np.any(b.recipe[:, ~prod] > 0):
        raise ValueError("recipes must map elements (rows) to products (columns)")
    if "magnet_makers" in b.sectors and np.any(prod):
        kmag = b.sectors.index("magnet_makers")
        need = b.recipe @ b.production  # (nm, 3): element needs of magnet output
        if not np.allclose(b.demand[:, :, kmag], need, rtol=rtol, atol=1e-9):
            raise ValueError("magnet makers' demand must equal recipe x magnet production")


def controller_flows(
    production: NDArray[np.float64], consumption: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Baseline imports from the controller, from net positions (M, 3) [t/yr].

    Importing segments draw on the exporters in proportion to their surpluses (the sourcing
    rule of the supply-chain model).

    Examples
    --------
    >>> q = np.array([[90.0, 10.0, 0.0]]); d = np.array([[60.0, 20.0, 20.0]])
    >>> controller_flows(q, d)
    array([[ 0., 10., 20.]])
    """
    net = consumption - production  # + = net importer
    surplus = np.maximum(-net, 0.0)
    tot = surplus.sum(axis=1, keepdims=True)
    share_c = np.divide(surplus[:, :1], tot, out=np.zeros_like(tot), where=tot > 0)
    out = np.maximum(net, 0.0) * share_c
    out[:, 0] = 0.0
    return np.asarray(out)


def segment_trade(
    production: NDArray[np.float64],
    consumption: NDArray[np.float64],
    imports_from_controller: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Trade between segments (M, 3, 3) [t/yr] from net positions and controller flows.

    Row 0 is ``imports_from_controller``; what each segment still needs after its own output
    and those imports comes from the other segments' remaining surplus in proportion to it
    (the sourcing rule); flows to the controller close its balance the same way.

    Examples
    --------
    >>> q = np.array([[90.0, 10.0, 0.0]]); d = np.array([[60.0, 10.0, 30.0]])
    >>> segment_trade(q, d, controller_flows(q, d))[0]
    array([[ 0.,  0., 30.],
           [ 0.,  0.,  0.],
           [ 0.,  0.,  0.]])
    """
    nm = production.shape[0]
    out = np.zeros((nm, 3, 3))
    out[:, 0, :] = imports_from_controller
    out[:, 0, 0] = 0.0
    net = consumption - production  # + = needs imports
    net[:, 0] += out[:, 0, :].sum(axis=1)  # the controller's exports add to its need
    net[:, 1:] -= out[:, 0, 1:]
    surplus = np.maximum(-net, 0.0)
    need = np.maximum(net, 0.0)
    tot = surplus.sum(axis=1, keepdims=True)
    share = np.divide(surplus, tot, out=np.zeros_like(surplus), where=tot > 0)
    out += share[:, :, None] * need[:, None, :]
    idx = np.arange(3)
    out[:, idx, idx] = 0.0
    return out


def toy_baseline(
    *,
    targets: bool = True,
    materials: Sequence[str] = ("Nd", "Dy", "NdFeB"),
) -> Baseline:
    """A small synthetic baseline for tests and examples (not data).

    Three segments (controller, rest, targets) and up to three materials: Nd and Dy element
    markets and an NdFeB product that uses both. Numbers are round and invented.

    Parameters
    ----------
    targets : bool, default True
        Give the targets segment non-zero volumes (False: a two-segment market).
    materials : sequence of str, default ("Nd", "Dy", "NdFeB")
        Subset of the three toy materials.

    Examples
    --------
    >>> b = toy_baseline()
    >>> b.materials, b.production.shape
    (('Nd', 'Dy', 'NdFeB'), (3, 3))
    """
    mats = ("Nd", "Dy", "NdFeB")
    t = 1.0 if targets else 0.0
    # magnets (t/yr) by segment and their element content (t oxide per t magnet)
    mag_prod = np.array([700.0, 150.0 + 150.0 * (1 - t), 150.0 * t])
    content = {"Nd": 0.30, "Dy": 0.03}
    production = np.zeros((3, 3))
    demand = np.zeros((3, 3, len(SECTORS)))
    production[2] = mag_prod
    # magnet demand by sector: controller 60%, rest 20%, targets 20%
    mag_cons = mag_prod.sum() * np.array([0.6, 0.2 + 0.2 * (1 - t), 0.2 * t])
    split = np.array([0.4, 0.2, 0.25, 0.15])
    demand[2, :, 2:6] = mag_cons[:, None] * split[None, :]
    # elements: the controller produces most; the rest some Nd and a little Dy
    el_other = {
        "Nd": np.array([60.0, 30.0 + 15.0 * (1 - t), 15.0 * t]),
        "Dy": np.array([3.0, 1.0 + 0.5 * (1 - t), 0.5 * t]),
    }
    prod_share = {"Nd": np.array([0.85, 0.15, 0.0]), "Dy": np.array([0.97, 0.03, 0.0])}
    for i, e in enumerate(("Nd", "Dy")):
        demand[i, :, 0] = mag_prod * content[e]
        demand[i, :, 1] = el_other[e]
        production[i] = prod_share[e] * demand[i].sum()
    recipe = np.zeros((3, 3))
    recipe[0, 2] = content["Nd"]
    recipe[1, 2] = content["Dy"]
    cons = demand.sum(axis=2)
    imports = controller_flows(production, cons)
    origin = {
        # a third of the controller's Dy comes from a mine country "MMR"
        ("MMR", "mine"): np.array([[0.0, 0.0, 0.0], [1 / 3, 0.0, 0.0], [0.0, 0.0, 0.0]]),
        ("CHN", "separation"): np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),
    }
    controller_content = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.9, 0.9]])
    cross_border = np.array([[0.0, 0.3, 0.3], [0.0, 0.3, 0.3], [0.0, 0.5, 0.5 * t]])
    proj_cap = np.array([20.0, 1.0, 0.0])
    b = Baseline(
        year=2024,
        materials=mats,
        region_labels=("CHN", "rest", "targets:JPN" if targets else "targets"),
        members=(("CHN",), ("USA", "AUS", "MYS", "MMR"), ("JPN",) if targets else ()),
        sectors=SECTORS,
        production=production,
        demand=demand,
        price=np.array([60.0, 250.0, 50.0]),
        imports_from_controller=imports,
        recipe=recipe,
        origin=origin,
        controller_content=controller_content,
        cross_border=cross_border,
        projects=(Project("toy-mine", 1, proj_cap, 2024.5, "toy"),),
        notes=dict.fromkeys(mats, ("toy baseline: invented round numbers, not data",)),
        provenance={"dataset": "toy", "version": "0", "hash": "toy"},
    )
    check_baseline(b)
    keep = [m for m in mats if m in materials]
    return b if len(keep) == 3 else b.subset(keep)
