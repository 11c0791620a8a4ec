"""Compiling a scenario against a baseline: the deterministic schedule of the shocks.

:func:`compile_plan` turns shocks (dates, materials, regions, sectors) into arrays indexed by
step, material and segment (:class:`~oreflow.simulate.state.Plan`); the random parts stay in
the draws. :func:`resolve_regions` expands bloc names in a scenario's targets through the
store's ``blocs`` table. Countries, blocs and materials may be named as people write them
(``Japan``, ``EU``, ``Dysprosium``): :mod:`oreflow.chain.lookup` resolves them.

A restriction at the ``magnet`` stage that names elements but no magnet product also
controls the magnets whose recipe contains those elements (:func:`magnet_coverage`); what
it adds, and what it cannot add, is said in ``Plan.notes[RESTRICTION_NOTES]``.
"""

from __future__ import annotations

import datetime as _dt
import math

import numpy as np
from numpy.typing import NDArray

from oreflow.chain.lookup import bloc_code, bloc_table, country_code, region_code
from oreflow.chain.names import BLOC_RESIDUALS
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError

from .baseline import Baseline, Regions
from .scenario import (
    PRODUCTS,
    DemandChange,
    ExportRestriction,
    FlowRedirect,
    PriceFloor,
    ProductionOutage,
    Scenario,
    ScenarioError,
    StockpileRelease,
    Tariff,
    expand_materials,
    month_offset,
)
from .state import DemandShift, Outage, Plan, Redirect, Restriction

__all__ = ["MAGNET_ELEMENTS", "RESTRICTION_NOTES", "compile_plan", "compile_redirect",
           "magnet_coverage", "resolve_regions"]

F = NDArray[np.float64]

#: Key of :attr:`Plan.notes <oreflow.simulate.state.Plan.notes>` holding the notes on what
#: each export restriction controls (magnets added or left out), one line each.
RESTRICTION_NOTES = "restrictions"
#: Rare earths in each magnet's recipe in the embedded data (``recipes``: NdFeB market
#: average 2024, SmCo), used to name a magnet that contains a restricted element when the
#: magnet is not among the simulated materials; a magnet in the run is judged by the
#: baseline's own recipe instead.
MAGNET_ELEMENTS: dict[str, frozenset[str]] = {
    "NdFeB": frozenset({"Nd", "Pr", "Dy", "Tb"}),
    "SmCo": frozenset({"Sm"}),
}


def _country(name: str, what: str) -> str:
    """ISO3 code of a country named in a scenario, as a :class:`ScenarioError`."""
    try:
        return country_code(name)
    except InputError as exc:
        raise ScenarioError(f"{what}: {exc}") from None


def resolve_regions(scenario: Scenario, *, store: Store | None = None) -> Regions:
    """Controller and named targets, bloc names expanded through the store's ``blocs`` table.

    Parameters
    ----------
    scenario : Scenario
        Its restrictions' ``targets`` hold ISO3 codes or bloc names (``EU27``, ``G7`` …).
    store : oreflow.data.store.Store, optional
        Where the blocs are read (default: the embedded data with the user's imports).
    """
    targets: list[str] = []
    st = resolve_store(store)
    blocs = bloc_members(st)
    named = {b: n for b, n in bloc_table(st).items() if b in blocs}
    controller = _country(scenario.controller, "controller")
    for t in scenario.named_targets():
        code = bloc_code(t, named)
        if code is not None:
            members = blocs[code]
        else:
            try:
                members = (region_code(t, named, kind="target"),)
            except InputError as exc:
                raise ScenarioError(f"{exc}: not a country or a bloc") from None
        for m in members:
            if m != controller and m not in targets:
                targets.append(m)
    return Regions(controller=controller, targets=tuple(targets))


def bloc_members(store: Store) -> dict[str, tuple[str, ...]]:
    """Member countries of every bloc in the ``blocs`` table (the EU as one row ``EUU`` is
    left out: its members are listed one by one), with the bloc's residual node (``XEU`` for
    the EU27 members without a figure of their own)."""
    df = store.table("blocs")
    out: dict[str, tuple[str, ...]] = {}
    for bloc, grp in df.groupby("bloc"):
        codes = {c for c in grp["iso3"].dropna() if len(c) == 3 and c != "EUU"}
        if str(bloc) in BLOC_RESIDUALS:
            codes.add(BLOC_RESIDUALS[str(bloc)])
        out[str(bloc)] = tuple(sorted(codes))
    return out


def _region_mask(baseline: Baseline, region: str) -> NDArray[np.bool_]:
    r = np.zeros(3, dtype=bool)
    if region == "all":
        r[:] = True
    elif region in ("controller", "rest", "targets"):
        r[("controller", "rest", "targets").index(region)] = True
    elif len(region) == 3 and region.isupper():
        r[baseline.region_of(region)] = True
    else:
        try:
            code = country_code(region)
        except InputError:
            raise ScenarioError(f"unknown region {region!r}: all, controller, rest, targets "
                                "or a country") from None
        r[baseline.region_of(code)] = True
    return r


def _mat_mask(baseline: Baseline, names: list[str]) -> NDArray[np.bool_]:
    want = set(expand_materials(names))
    return np.array([m in want for m in baseline.materials])


def magnet_coverage(sh: ExportRestriction, baseline: Baseline) -> tuple[tuple[str, ...],
                                                                       list[str]]:
    """Magnets a restriction at the ``magnet`` stage controls beyond those it lists.

    Parameters
    ----------
    sh : ExportRestriction
        The restriction.
    baseline : Baseline
        The run's baseline: its materials say which magnets are simulated and its recipe
        which elements each contains.

    Returns
    -------
    (added, notes)
        Magnet products to control as well, and one line per magnet added or left out.

    Notes
    -----
    The rule: a restriction whose ``stages`` include ``magnet`` and whose ``materials``
    name elements but no magnet product controls every simulated magnet whose recipe
    contains one of those elements (NdFeB for Nd, Pr, Dy, Tb; SmCo for Sm). If it names
    a magnet product (directly or through a group such as ``magnets``), the list is taken
    as it is, and a magnet containing a listed element but left out is named in a note; a
    magnet not simulated (not in the scenario's ``materials``) cannot be controlled and is
    named too.

    Examples
    --------
    >>> from oreflow.simulate.baseline import toy_baseline
    >>> from oreflow.simulate.scenario import ExportRestriction
    >>> sh = ExportRestriction(kind="export_restriction", id="dy", materials=["Dy"],
    ...                        stages=["separation", "magnet"], effective="2025-04")
    >>> added, notes = magnet_coverage(sh, toy_baseline())
    >>> added
    ('NdFeB',)
    """
    if "magnet" not in sh.stages:
        return (), []
    listed = expand_materials(sh.materials)
    elements = [m for m in listed if m not in PRODUCTS]
    products = [m for m in listed if m in PRODUCTS]
    if not elements:
        return (), []
    b = baseline
    label = f"restriction {sh.id}" if sh.id else "an export restriction"
    added: list[str] = []
    notes: list[str] = []
    for magnet in PRODUCTS:
        if magnet in b.materials:
            j = b.index(magnet)
            inside = [e for e in elements if e in b.materials and b.recipe[b.index(e), j] > 0]
        else:
            inside = [e for e in elements if e in MAGNET_ELEMENTS.get(magnet, ())]
        if not inside or magnet in products:
            continue
        has = ", ".join(inside)
        if products:
            notes.append(f"{label}: {magnet} contains {has} but is not among its materials, "
                         f"which name {', '.join(products)}; {magnet} magnets are not "
                         f"controlled (add {magnet} to its materials to control them)")
        elif magnet not in b.materials:
            notes.append(f"{label}: {magnet} contains {has} but is not simulated (not among "
                         f"the scenario's materials), so its stage 'magnet' controls no "
                         f"{magnet}; add {magnet} to the scenario's materials")
        else:
            added.append(magnet)
            notes.append(f"{label}: stage 'magnet' also controls {magnet} (it contains {has})")
    if not products and not added and not notes:
        notes.append(f"{label}: stage 'magnet' controls nothing: no magnet recipe contains "
                     f"{', '.join(elements)}")
    return tuple(added), notes


def compile_redirect(sh: FlowRedirect, baseline: Baseline, start: _dt.date) -> Redirect:
    """Compile a flow redirect against the baseline.

    The redirected ore is measured by what the controller's separators make of it: for
    each redirected element, the origin's share of the controller's output (the baseline's
    origin shares, as for an outage) times that output [t/month]. A plant rated in other
    materials' content (``capacity[].materials``, e.g. Dy+Tb) is converted with the ore's
    own composition: ``factor = (content of the redirected materials) / (content of the
    plant's materials) / 12``.

    Raises
    ------
    ScenarioError
        If the origin, the buyer, the receiving segment or a plant's materials do not fit
        the baseline.
    """
    b = baseline
    label = f"redirect {sh.id or sh.country}"
    buyer = _country(sh.from_buyer, f"{label}: from_buyer")
    if b.region_of(buyer) != 0:
        raise ScenarioError(f"{label}: from_buyer {sh.from_buyer} is not the scenario's "
                            "controller (only the controller's purchases can be redirected)")
    key = (sh.country, sh.stage)
    if key not in b.origin:
        key = (_country(sh.country, label), sh.stage)
    if key not in b.origin:
        known = ", ".join(f"{c}/{s}" for c, s in b.origin) or "none"
        raise ScenarioError(f"{label}: the baseline has no origin shares for {sh.country} at "
                            f"stage {sh.stage} (known: {known})")
    if sh.to in ("rest", "targets"):
        dest = 1 if sh.to == "rest" else 2
    elif sh.to == "controller":
        dest = 0
    else:
        dest = b.region_of(_country(sh.to, f"{label}: to"))
    if dest == 0:
        raise ScenarioError(f"{label}: to {sh.to} is the controller's own segment")
    if dest == 2 and not b.members[2]:
        raise ScenarioError(f"{label}: to targets, but no export restriction names targets "
                            "(use to: rest)")
    content = b.origin[key][:, 0] * b.production[:, 0] / 12.0  # (M,) t/month
    content = np.where(b.is_product, 0.0, content)
    base = np.where(_mat_mask(b, sh.materials), content, 0.0)
    if not base.sum() > 0:
        raise ScenarioError(f"{label}: the controller's baseline output holds none of "
                            f"{', '.join(sh.materials)} from {sh.country} {sh.stage} output")
    c_start, c_ramp, c_factor = [], [], []
    for c in sh.capacity:
        basis = base if c.materials is None else np.where(_mat_mask(b, c.materials),
                                                            content, 0.0)
        if not basis.sum() > 0:
            raise ScenarioError(f"{label}: capacity {c.id}: the redirected ore holds none of "
                                f"{', '.join(c.materials or [])} in the simulated materials")
        c_start.append(month_offset(c.start, start))
        c_ramp.append(c.ramp_months)
        c_factor.append(float(base.sum() / basis.sum()) / 12.0)
    s0, s1 = sh.window(start)
    return Redirect(
        start=s0, end=s1, ramp=sh.ramp_months, base=base, dest=dest,
        lost=sh.unprocessed == "lost", cap_start=np.array(c_start, dtype=np.float64),
        cap_ramp=np.array(c_ramp, dtype=np.float64),
        cap_factor=np.array(c_factor, dtype=np.float64),
    )  # fmt: skip


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def compile_plan(scenario: Scenario, baseline: Baseline) -> Plan:
    """Compile the deterministic schedule of a scenario against a baseline.

    Raises
    ------
    ScenarioError
        If a shock refers to materials, sectors or origins that the baseline lacks.
    """
    b = baseline
    nm = b.n_materials
    nk = len(b.sectors)
    dt = float(scenario.step_months)
    n_t = scenario.horizon_months // scenario.step_months
    t0 = np.arange(n_t) * dt
    t_mid = t0 + 0.5 * dt
    is_prod = b.is_product
    el = np.flatnonzero(~is_prod)
    pr = np.flatnonzero(is_prod)
    kmag = b.sectors.index("magnet_makers") if "magnet_makers" in b.sectors else -1
    # cost share of each element in each magnet (recipe x base prices), at most 1 per magnet
    cost_share = np.zeros((nm, nm))
    for j in pr:
        cost_share[el, j] = b.recipe[el, j] * b.price[el] / b.price[j]
        tot = cost_share[:, j].sum()
        if tot > 1.0:
            cost_share[:, j] /= tot
    input_share = cost_share.max(axis=1) if pr.size else np.zeros(nm)
    q0 = b.production / 12.0
    d0 = b.demand / 12.0
    nonc = q0.copy()
    nonc[:, 0] = 0.0
    tot = nonc.sum(axis=1, keepdims=True)
    ramp_weight = np.divide(nonc, tot, out=np.zeros_like(nonc), where=tot > 0)
    volume = q0.sum(axis=1)
    cb = b.cross_border if b.cross_border is not None else np.full((nm, 3), 0.5)
    content = b.controller_content if b.controller_content is not None else np.zeros((nm, 3))
    restr: list[Restriction] = []
    restriction_notes: list[str] = []
    outages: list[Outage] = []
    demands: list[DemandShift] = []
    redirects: list[Redirect] = []
    release = np.zeros((n_t, nm, 3))
    log_floor = np.full((n_t, nm, 3), -np.inf)
    wedge = np.zeros((n_t, nm, 3))
    onset = math.inf
    start = scenario.start
    for sh in scenario.shocks:
        if isinstance(sh, ExportRestriction):
            ann, eff, end = sh.window(start)
            extra, said = magnet_coverage(sh, b)
            restriction_notes.extend(said)
            controlled = {*sh.controlled_materials(), *extra}
            mats = np.array([m in controlled for m in b.materials])
            regs = (
                np.array([False, True, True])
                if sh.all_destinations
                else np.array([False, False, True])
            )
            qbase = float((b.imports_from_controller * np.outer(mats, regs)).sum())
            if sh.quota_t_per_yr is not None or sh.quota_t is not None:
                if qbase <= 0:
                    raise ScenarioError(f"restriction {sh.id}: no baseline exports for a quota")
                rate = (sh.quota_t_per_yr.mean() if sh.quota_t_per_yr is not None
                        else sh.quota_t.mean() * 12.0 / max(end - eff, 1e-9))  # type: ignore[union-attr]
                mean_share = min(1.0, rate / qbase)
            else:
                first = sh.approval_rate or (sh.approval_path[0].rate if sh.approval_path
                                             else None)
                mean_share = 0.0 if first is None else first.mean()
            steps = np.array([eff, *(month_offset(st.start, start) for st in sh.approval_path)])
            gl = sh.general_licence
            general = math.inf if gl is None else max(month_offset(gl.start, start), eff)
            if not sh.all_destinations and not b.members[2]:
                raise ScenarioError(f"restriction {sh.id}: baseline has no targets segment")
            restr.append(
                Restriction(
                    ann=ann,
                    eff=eff,
                    end=end,
                    mats=mats,
                    regs=regs,
                    steps=steps,
                    general=general,
                    is_quota=sh.quota_t_per_yr is not None,
                    is_budget=sh.quota_t is not None,
                    mean_approval=mean_share,
                    quota_base=qbase,
                    deminimis=sh.de_minimis_threshold is not None,
                    reach_base=content,
                )
            )
            onset = min(onset, ann)
        elif isinstance(sh, ProductionOutage):
            s0, s1 = sh.window(start)
            key = (sh.country, sh.stage)
            if key not in b.origin:  # a country named as people write it ("Myanmar")
                key = (_country(sh.country, f"outage {sh.id or sh.country}"), sh.stage)
            if key not in b.origin:
                known = ", ".join(f"{c}/{s}" for c, s in b.origin) or "none"
                raise ScenarioError(
                    f"outage {sh.id or sh.country}: the baseline has no origin shares for "
                    f"{sh.country} at stage {sh.stage} (known: {known})"
                )
            mats = _mat_mask(b, sh.materials)
            w = np.where(mats[:, None], b.origin[key], 0.0)
            qsum = b.production.sum(axis=1)
            world = np.divide(
                (w * b.production).sum(axis=1), qsum, out=np.zeros(nm), where=qsum > 0
            )
            outages.append(Outage(s0, s1, sh.recovery_months, w, world))
            onset = min(onset, s0)
        elif isinstance(sh, DemandChange):
            s0, s1 = sh.window(start)
            mask = np.zeros((nm, 3, nk))
            mats = _mat_mask(b, sh.materials)
            regs = _region_mask(b, sh.region)
            if sh.sector == "all":
                secs = np.ones(nk, dtype=bool)
            elif sh.sector in b.sectors:
                secs = np.array([s == sh.sector for s in b.sectors])
            else:
                raise ScenarioError(
                    f"demand change {sh.id}: unknown sector {sh.sector!r} "
                    f"(baseline sectors: {', '.join(b.sectors)})"
                )
            mask[np.ix_(mats, regs, secs)] = 1.0
            demands.append(DemandShift(s0, s1, mask, sh.persist))
            onset = min(onset, s0)
        elif isinstance(sh, StockpileRelease):
            s0, s1 = sh.window(start)
            mats = _mat_mask(b, sh.materials)
            regs = _region_mask(b, sh.region)
            frac = np.array([_overlap(a, a + dt, s0, s1) for a in t0]) / (s1 - s0)
            amount = np.outer(mats, regs) * sh.tonnes
            release += frac[:, None, None] * amount[None]
            onset = min(onset, s0)
        elif isinstance(sh, PriceFloor):
            s0, s1 = sh.window(start)
            mats = _mat_mask(b, sh.materials)
            regs = _region_mask(b, sh.region)
            on = (t_mid >= s0) & (t_mid < s1)
            lf = np.log(sh.usd_per_kg / b.price)
            val = np.where(np.outer(mats, regs), lf[:, None], -np.inf)
            log_floor[on] = np.maximum(log_floor[on], val[None])
        elif isinstance(sh, FlowRedirect):
            redirects.append(compile_redirect(sh, b, start))
            onset = min(onset, redirects[-1].start)
        elif isinstance(sh, Tariff):
            s0, s1 = sh.window(start)
            mats = _mat_mask(b, sh.materials)
            regs = _region_mask(b, sh.region)
            regs[0] = False
            on = (t_mid >= s0) & (t_mid < s1)
            wedge[on] += np.outer(mats, regs)[None] * math.log1p(sh.rate)
            onset = min(onset, s0)
    live = 3 if b.members[2] and float(b.consumption()[:, 2].sum()
                                      + b.production[:, 2].sum()) > 0 else 2
    if any(r.dest >= live for r in redirects):
        raise ScenarioError("a flow redirect goes to the targets segment, which has no "
                            "production or consumption in the baseline (use to: rest)")
    if scenario.pipeline and b.projects:
        proj_cap = np.zeros((len(b.projects), nm, 3))
        for jp, p in enumerate(b.projects):
            proj_cap[jp, :, p.region] = p.capacity / 12.0
    else:
        proj_cap = np.zeros((0, nm, 3))
    return Plan(
        scenario=scenario,
        baseline=b,
        dt=dt,
        n_steps=n_t,
        t_mid=np.asarray(t_mid, dtype=np.float64),
        q0=q0,
        d0=d0,
        f0=b.flows() / 12.0,
        p0=b.price.copy(),
        p0_region=b.regional_price().copy(),
        el=el,
        pr=pr,
        kmag=kmag,
        input_share=input_share,
        cost_share=cost_share,
        recipe=b.recipe,
        ramp_weight=ramp_weight,
        volume=volume,
        restrictions=tuple(restr),
        outages=tuple(outages),
        demands=tuple(demands),
        release=release,
        log_floor=log_floor,
        log_wedge=wedge,
        proj_cap=proj_cap,
        cross_border=cb,
        onset=max(onset, 0.0) if math.isfinite(onset) else math.inf,
        redirects=tuple(redirects),
        n_regions=live,
        notes={**b.notes, RESTRICTION_NOTES: tuple(restriction_notes)}
        if restriction_notes else dict(b.notes),
    )
