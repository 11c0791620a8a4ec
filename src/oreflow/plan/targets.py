"""What a plan must reach, and where the bloc starts from (issue 12).

One concern: the planner's targets (``magnet:self>=0.4@2030``: a stage, a measure, a bound,
a year), their presets (the EU Critical Raw Materials Act's 10/40/25% and 65% benchmarks),
and the bloc's starting balance by stage read from the built supply chain: its demand, its
own output, and where the rest of its supply comes from.

Measures (``stage:measure op value@year``)
------------------------------------------
``self``
    Self-sufficiency: the bloc's own output at the stage over its demand for the stage's
    product (its next-stage plants' need plus its final use; :func:`oreflow.chain.indicators.
    bloc_table`), ``>=``. Output counts only what the bloc's plants can run on material from
    allowed sources (stage coupling in :mod:`oreflow.plan.formulate`).
``supplier``
    The share of the bloc's supply at the stage from the single largest outside supplier
    (the controller), ``<=``: the EU's 65% benchmark.
``recycling``
    Recycled output over the bloc's demand at the first extraction stage (``mine``), ``>=``;
    written ``recycling:self>=0.25@2030``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from oreflow.chain.analysis import build_chain
from oreflow.chain.network import SupplyChain
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError, unknown
from oreflow.plan.defaults import STAGES

__all__ = [
    "MEASURES",
    "PRESETS",
    "BlocBaseline",
    "Target",
    "bloc_baseline",
    "parse_target",
    "parse_targets",
]

#: Measures a target can bound, with the comparison each takes.
MEASURES: dict[str, str] = {"self": ">=", "supplier": "<=", "recycling": ">="}

#: Named target sets (``{year}`` is the target year, default 2030).
PRESETS: dict[str, tuple[str, ...]] = {
    # Regulation (EU) 2024/1252 (CRMA) Art. 5(1): extraction >= 10%, processing >= 40%,
    # recycling >= 25% of annual consumption, and no more than 65% from one third country,
    # at each stage, by 2030 (oreflow.chain.metrics.crma_benchmarks tests the same).
    "crma": ("mine:self>=0.10@{year}", "separation:self>=0.40@{year}",
             "metal:self>=0.40@{year}", "recycling:self>=0.25@{year}",
             "mine:supplier<=0.65@{year}", "separation:supplier<=0.65@{year}",
             "metal:supplier<=0.65@{year}", "magnet:supplier<=0.65@{year}"),
    # The CRMA's single-supplier benchmark alone, at every stage.
    "eu65": ("mine:supplier<=0.65@{year}", "separation:supplier<=0.65@{year}",
             "metal:supplier<=0.65@{year}", "magnet:supplier<=0.65@{year}"),
}  # fmt: skip

_SPEC = re.compile(
    r"^\s*(?P<stage>[a-z]+)\s*:\s*(?P<measure>[a-z]+)\s*(?P<op>>=|<=)\s*"
    r"(?P<value>[0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(?P<pct>%?)\s*@\s*(?P<year>[0-9]{4})\s*$"
)
_FIRST_YEAR, _LAST_YEAR = 2000, 2100


@dataclass(frozen=True)
class Target:
    """One target: ``measure`` of the bloc at ``stage`` compared to ``value`` in ``year``.

    Attributes
    ----------
    stage : str
        A chain stage, or ``recycling``.
    measure : str
        ``self``, ``supplier`` or ``recycling`` (:data:`MEASURES`).
    op : str
        ``>=`` or ``<=``.
    value : float
        The bound, a share [0-1].
    year : int
        The year it applies to.
    spec : str
        The text it was parsed from (canonical form).
    """

    stage: str
    measure: str
    op: str
    value: float
    year: int
    spec: str

    def at(self, year: int) -> Target:
        """The same target in another year."""
        return Target(self.stage, self.measure, self.op, self.value, year,
                      _spec(self.stage, self.measure, self.op, self.value, year))


def _spec(stage: str, measure: str, op: str, value: float, year: int) -> str:
    shown = "self" if measure == "recycling" else measure
    return f"{stage}:{shown}{op}{value:g}@{year}"


def parse_target(spec: str) -> Target:
    """Parse ``stage:measure>=value@year`` (a share, or a percentage with ``%``).

    Raises
    ------
    oreflow.errors.InputError
        One line naming the target and what is wrong with it.

    Examples
    --------
    >>> parse_target("magnet:self>=0.4@2030").spec
    'magnet:self>=0.4@2030'
    >>> parse_target("separation:supplier<=65%@2030").value
    0.65
    """
    text = str(spec)
    m = _SPEC.match(text.lower())
    if m is None:
        raise InputError(f"target '{text}': expected STAGE:MEASURE>=SHARE@YEAR, e.g. "
                         "'magnet:self>=0.4@2030' or 'separation:supplier<=65%@2030'")
    stage, measure, op = m["stage"], m["measure"], m["op"]
    if stage == "recycling":
        if measure not in ("self", "recycling"):
            raise InputError(f"target '{text}': recycling takes 'self' (recycled output over "
                             "the bloc's mine-stage demand), e.g. 'recycling:self>=0.25@2030'")
        measure = "recycling"
    elif stage not in STAGES:
        raise InputError(f"target '{text}': {unknown('stage', stage, [*STAGES, 'recycling'])}")
    elif measure not in ("self", "supplier"):
        raise InputError(f"target '{text}': {unknown('measure', measure, ['self', 'supplier'])}")
    if op != MEASURES[measure]:
        raise InputError(f"target '{text}': '{measure}' takes '{MEASURES[measure]}' (a "
                         f"{'floor' if MEASURES[measure] == '>=' else 'ceiling'})")
    value = float(m["value"]) / (100.0 if m["pct"] else 1.0)
    if not 0.0 <= value <= (1.0 if measure == "supplier" else 10.0):
        raise InputError(f"target '{text}': the share must be between 0 and "
                         f"{'1' if measure == 'supplier' else '10'} (got {value:g})")
    year = int(m["year"])
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise InputError(f"target '{text}': year {year} is outside {_FIRST_YEAR}-{_LAST_YEAR}")
    return Target(stage, measure, op, value, year, _spec(stage, measure, op, value, year))


def parse_targets(specs: Iterable[str] = (), presets: Iterable[str] = (), *,
                  preset_year: int = 2030) -> tuple[Target, ...]:
    """Targets from specs and named presets (:data:`PRESETS`), duplicates dropped.

    Raises
    ------
    oreflow.errors.InputError
        A spec cannot be parsed, a preset is unknown, or no target is given.
    """
    texts = list(specs)
    for name in presets:
        key = str(name).lower()
        if key not in PRESETS:
            raise InputError(unknown("preset", str(name), list(PRESETS)))
        texts += [t.format(year=preset_year) for t in PRESETS[key]]
    out = list(dict.fromkeys(parse_target(t) for t in texts))
    if not out:
        raise InputError("no target: give --target STAGE:MEASURE>=SHARE@YEAR or --preset "
                         f"({', '.join(PRESETS)})")
    return tuple(out)


@dataclass(frozen=True)
class BlocBaseline:
    """The bloc's balance by stage in the data year, the plan's starting point.

    Attributes
    ----------
    bloc : str
        Bloc name or ISO3 code as given.
    members : tuple of str
        ISO3 members.
    controller : str
        The supplier targets are about (ISO3).
    year : int
        Data year of the chain.
    stages : tuple of str
        Chain stages, upstream first.
    table : pandas.DataFrame
        Indexed by stage: ``unit``; ``reo_per_unit`` [t REO-eq per unit]; ``demand`` (the
        bloc's next-stage plants' need plus its final use), ``output`` and the world's
        ``world_output`` [unit/yr];
        ``controller_supply``, ``other_supply`` (from non-members other than the controller)
        and ``own_supply`` (from members) to the bloc [unit/yr]; ``largest_other`` and
        ``largest_other_share`` (the largest non-member supplier other than the controller
        and its share of the bloc's supply) [-].
    recycling_t_per_yr : float
        The members' recycled output [t REO/yr] (``recycling`` table).
    world_recycling_t_per_yr : float
        The world's recycled output [t REO/yr].
    source_ids : tuple of str
        Sources of the chain's stage output and flows.
    """

    bloc: str
    members: tuple[str, ...]
    controller: str
    year: int
    stages: tuple[str, ...]
    table: pd.DataFrame
    recycling_t_per_yr: float
    world_recycling_t_per_yr: float
    source_ids: tuple[str, ...] = ()

    def value(self, stage: str, column: str) -> float:
        """A number of :attr:`table` (``demand``, ``output``, ``reo_per_unit``...)."""
        return float(self.table[column].astype(float)[stage])

    def unit(self, stage: str) -> str:
        """The stage's unit (``t_REO``, ``t_product``)."""
        return str(self.table["unit"][stage])

    def demand(self, stage: str, year: int, growth_pct_per_yr: float) -> float:
        """The bloc's demand at ``stage`` in ``year`` [stage unit/yr], grown at
        ``growth_pct_per_yr`` from the data year (never shrunk before it)."""
        years = max(0, year - self.year)
        return self.value(stage, "demand") * (1 + growth_pct_per_yr / 100.0) ** years


def _chain(store: Store, year: int | None) -> SupplyChain:
    return build_chain("REO", year, store=store) if year is not None else build_chain(
        "REO", store=store)


def bloc_baseline(bloc: str | Sequence[str], controller: str = "CHN", *,
                  year: int | None = None, store: Store | None = None) -> BlocBaseline:
    """The bloc's starting balance by stage from the REO supply chain of the data.

    Parameters
    ----------
    bloc : str or sequence of str
        A bloc of the ``blocs`` table (``MSP``, ``EU27``, ``QUAD``...), one ISO3 code, or
        several codes.
    controller : str, default "CHN"
        The outside supplier whose share the targets bound.
    year : int, optional
        Data year (default the chain's latest).
    store : oreflow.data.store.Store, optional
        Data store (default the embedded data plus user imports).

    Raises
    ------
    oreflow.errors.InputError
        Unknown bloc or country, or the controller is a member of the bloc.
    """
    st = resolve_store(store)
    chain = _chain(st, year)
    net = chain.links()
    name = bloc if isinstance(bloc, str) else "+".join(bloc)
    members = tuple(sorted(net.members(bloc)))
    mask = net.mask(list(members))
    if not mask.any():
        raise InputError(f"bloc '{name}' has no member in the {chain.year} supply chain")
    ctrl_mask = net.mask(controller)
    if not ctrl_mask.any():
        raise InputError(f"controller '{controller}' is not a country of the supply chain")
    if (ctrl_mask & mask).any():
        raise InputError(f"controller '{controller}' is a member of bloc '{name}': a bloc's "
                         "targets are about a supplier outside it")
    countries = net.countries
    rows = []
    for t, stage in enumerate(net.stages):
        if stage not in STAGES:
            continue
        k = float(net.k[t])
        alloc = net.use_allocation[t] + (net.allocation[t] if t + 1 < len(net.stages) else 0.0)
        supply = np.nan_to_num(alloc[:, mask].sum(axis=1) / k)
        demand = float(net.use[t][mask].sum())
        if t + 1 < len(net.stages):
            demand += float((net.q[t + 1] * net.k[t + 1])[mask].sum()) / k
        other = pd.Series(supply, index=countries)[~mask & ~ctrl_mask]
        total = float(supply.sum())
        rows.append({
            "stage": stage, "unit": str(net.units[t]), "reo_per_unit": k,
            "demand": demand, "output": float(np.nansum(net.q[t][mask])),
            "world_output": float(np.nansum(net.q[t])),
            "controller_supply": float(supply[ctrl_mask].sum()),
            "other_supply": float(other.sum()), "own_supply": float(supply[mask].sum()),
            "largest_other": str(other.idxmax()) if len(other) and other.max() > 0 else "",
            "largest_other_share": float(other.max()) / total if total > 0 and len(other)
            else 0.0,
        })  # fmt: skip
    table = pd.DataFrame(rows).set_index("stage")
    sec = chain.secondary
    recycled = float(sec.loc[:, [c for c in sec.columns if c in members]].to_numpy().sum())
    sources = tuple(sorted({str(sid) for ids in dict(chain.meta.get("sources", {})).values()
                            for sid in ids if sid}))
    return BlocBaseline(name, members, controller, int(chain.year or 0), tuple(table.index),
                        table, recycled, float(np.nansum(sec.to_numpy())), sources)
