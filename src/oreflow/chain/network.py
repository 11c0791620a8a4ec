"""The supply-chain network for one year and material: stages, countries, sourcing, tracing.

A :class:`SupplyChain` holds, for a material and a year, the output Q[s, c] of every node
(stage s, country c) over the stages ``mine → separation → metal → magnet``, the final use
U[s, c] of each stage's product by country (catalysts use separated oxides, motors use
magnets), and the **sourcing matrices**: S_s[j, c], the share of stage-s inputs in country c
that come from stage s−1 in country j, and S^U_s[j, c], the share of country c's final use of
stage-s product bought from j. From those it derives origin mixes, control shares, X-origin
content and de-minimis reach for producers and users, bloc balances and the indicator tables
of :mod:`oreflow.chain.indicators`.

Pure numpy/pandas: no IO except :meth:`SupplyChain.from_default_data`, which asks
the store (``store=``) for the tables. Equations, rules and references are in
``docs/model.md`` (sections *Supply chain* and *Metrics*).

Units: each stage has its own unit (``t_REO`` for mine, separation and metal; ``t_product`` —
tonnes of NdFeB — for magnets). Sourcing compares a stage's input requirement with the upstream
stage's output in **t REO-equivalent** (REO-eq): each stage carries a factor ``reo_per_unit``
[t REO-eq per unit of output], 1 for t_REO and the recipe's rare-earth content expressed as
oxide for magnets (:func:`reo_per_tonne`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oreflow.chain import indicators, metrics
from oreflow.chain.elements import (
    oxide_factor,
)
from oreflow.chain.names import RARE_EARTHS, REO_UNITS, RESIDUAL_CODES, STAGES
from oreflow.chain.resolve import resolve_element
from oreflow.chain.sourcing import allocate_stages, control_shares, origin_matrices
from oreflow.chain.tables import (
    aggregate_codes,
    chain_inputs,
    known_flow_arrays,
    stage_frame,
)
from oreflow.data.catalog import DEFAULT_YEAR
from oreflow.data.store import Store, resolve_store
from oreflow.errors import InputError, unknown

__all__ = ["SupplyChain"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


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
        final_use: pd.DataFrame | None = None,
        secondary: pd.DataFrame | None = None,
        elements: pd.DataFrame | None = None,
        composition: pd.DataFrame | None = None,
        recipe: pd.Series | None = None,
        governance: pd.Series | None = None,
        blocs: Mapping[str, Iterable[str]] | None = None,
        year: int | None = None,
        material: str = "REO",
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        labels = [str(s) for s in output.index]
        for s in labels:
            if s not in STAGES:
                raise unknown("stage", s, STAGES)
        if len(set(labels)) != len(labels):
            raise ValueError("each stage must appear once in output")
        stages = tuple(s for s in STAGES if s in labels)
        if not stages:
            raise ValueError("output needs at least one production stage")
        flow_codes: list[str] = []
        if flows is not None and not flows.empty:
            if missing := {"stage", "exporter", "importer", "tonnes"} - set(flows.columns):
                raise ValueError(f"flows lack column(s): {', '.join(sorted(missing))}")
            flow_codes = [*flows["exporter"].astype(str), *flows["importer"].astype(str)]
        use_codes: list[str] = []
        if final_use is not None:
            bad = [str(s) for s in final_use.index if str(s) not in stages]
            if bad:
                raise ValueError(f"final use given for stage(s) {bad} that have no output")
            use_codes = [str(c) for c in final_use.columns]
        countries = _order_countries(
            [*(str(c) for c in output.columns), *flow_codes, *use_codes])
        q = stage_frame(output, stages, countries, "output")
        u = (np.zeros_like(q) if final_use is None
             else stage_frame(final_use, stages, countries, "final use"))
        sec = (np.zeros_like(q) if secondary is None
               else stage_frame(secondary, stages, countries, "secondary feed"))
        unit_map = dict(units or {})
        factor_map = dict(reo_per_unit or {})
        unit_list = tuple(str(unit_map.get(s, "t_REO")) for s in stages)
        k = np.asarray([float(factor_map.get(s, 1.0)) for s in stages])
        if np.any(~(k > 0)):
            raise ValueError("reo_per_unit factors must be positive")
        known = known_flow_arrays(flows, stages, countries, k)
        self._set_state(
            stages=stages,
            countries=countries,
            q=q,
            u=u,
            secondary=sec * k[:, None],
            elements=elements,
            units=unit_list,
            k=k,
            known=known,
            links=None,
            composition=composition,
            recipe=recipe,
            governance=governance,
            blocs=blocs,
            year=year,
            material=material,
            meta=meta,
        )

    # -- construction ------------------------------------------------------------------------
    def _set_state(
        self,
        *,
        stages: tuple[str, ...],
        countries: pd.Index,
        q: FloatArray,
        u: FloatArray,
        secondary: FloatArray,
        elements: pd.DataFrame | None,
        units: tuple[str, ...],
        k: FloatArray,
        known: Sequence[FloatArray | None],
        links: tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None,
        composition: pd.DataFrame | None,
        recipe: pd.Series | None,
        governance: pd.Series | None,
        blocs: Mapping[str, Iterable[str]] | None,
        year: int | None,
        material: str,
        meta: Mapping[str, Any] | None,
    ) -> None:
        self._stages = stages
        self._countries = countries
        self._q = q
        self._q.setflags(write=False)
        self._u = u
        self._u.setflags(write=False)
        self._sec = secondary  # recycled feed into each stage's plants [t REO-eq/yr]
        self._elements = elements
        self._units = units
        self._k = k
        self._year = year
        self._material = material
        self._meta: dict[str, Any] = dict(meta or {})
        self._composition = composition
        self._recipe = recipe
        self._governance = governance
        self._blocs = {str(b): frozenset(str(c) for c in m) for b, m in (blocs or {}).items()}
        if links is None:
            links = allocate_stages(stages, q * k[:, None], u * k[:, None], known, secondary)
        s_arr, a_arr, su_arr, au_arr = links
        for arr in links:
            arr.setflags(write=False)
        self._S, self._A = s_arr, a_arr  # plants of stage t+1 from stage t: (links, n, n)
        self._SU, self._AU = su_arr, au_arr  # final users of stage t: (stages, n, n)
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
        year: int | None = None,
        material: str = "REO",
        vintage: str | Mapping[str, str] | None = None,
        basis: Literal["production", "capacity"] = "production",
        vintages: pd.DataFrame | None = None,
        countries: pd.DataFrame | None = None,
        blocs: pd.DataFrame | None = None,
        consumption: pd.DataFrame | None = None,
        final_use: pd.DataFrame | None = None,
        recycling: pd.DataFrame | None = None,
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
        year : int, optional
            Data year; default: the newest year with ``basis`` rows in ``stage_output``.
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
        consumption : pandas.DataFrame, optional
            ``consumption`` table (year, stage, iso3, material, tonnes, unit): final use of
            each stage's product by country, read for ``year`` (the stage's material or
            product, newest vintage per key).
        final_use : pandas.DataFrame, optional
            Final use by stage (rows) and country (columns) in each stage's unit [unit/yr];
            replaces what ``consumption`` gives for the stages it names.
        recycling : pandas.DataFrame, optional
            ``recycling`` table: feed recovered from scrap, by stage and country (REO rows)
            and the elements it carries.
        product, grade : str
            Recipe product and grade of the magnet stage.

        Returns
        -------
        SupplyChain
        """
        excluded = aggregate_codes(countries)
        if year is None:
            rows = stage_output[stage_output["basis"].astype(str) == basis]
            years = pd.to_numeric(rows["year"], errors="coerce").dropna()
            if years.empty:
                raise InputError(f"no {basis} rows in stage_output")
            year = int(years.max())
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
                    blocs=blocs, consumption=consumption, final_use=final_use,
                    recycling=recycling, product=product, grade=grade,
                )  # fmt: skip
                return parent.for_element(material)
        return cls(**chain_inputs(
            stage_output, flows, composition, recipes, year=year, material=material,
            vintage=vintage, basis=basis, vintages=vintages, countries=countries, blocs=blocs,
            consumption=consumption, final_use=final_use, recycling=recycling, product=product,
            grade=grade, excluded=excluded,
        ))

    @classmethod
    def from_default_data(
        cls,
        year: int = DEFAULT_YEAR,
        material: str = "REO",
        *,
        basis: Literal["production", "capacity"] = "production",
        vintage: str | Mapping[str, str] | None = None,
        final_use: pd.DataFrame | None = None,
        store: Store | None = None,
        stage_output: pd.DataFrame | None = None,
    ) -> SupplyChain:
        """Build the chain from the embedded dataset (through :mod:`oreflow.data.store`).

        Parameters
        ----------
        year : int, default DEFAULT_YEAR (2025)
            Data year.
        material : str, default "REO"
            ``"REO"`` or an element symbol (element-resolved REO chain).
        basis : {"production", "capacity"}, default "production"
            Rows of ``stage_output`` to use.
        vintage : str or mapping, optional
            See :meth:`from_tables`.
        final_use : pandas.DataFrame, optional
            Final use by stage and country, replacing the ``consumption`` table's rows for the
            stages it names (see :meth:`from_tables`).
        store : oreflow.data.store.Store, optional
            Store to read from (default: the embedded data with the user's imports).
        stage_output : pandas.DataFrame, optional
            Rows to use instead of the store's ``stage_output`` (e.g. without some stages).

        Returns
        -------
        SupplyChain
        """
        st = resolve_store(store)

        def optional(name: str) -> pd.DataFrame | None:
            return st.table(name) if name in st.tables() else None

        chain = cls.from_tables(
            st.table("stage_output") if stage_output is None else stage_output,
            optional("flows"), optional("composition"), optional("recipes"), year=year,
            material=material, vintage=vintage, basis=basis, vintages=optional("vintages"),
            countries=optional("countries"), blocs=optional("blocs"),
            consumption=optional("consumption"), final_use=final_use,
            recycling=optional("recycling"),
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
        """Production stages (all stages; final use is not a stage)."""
        return self._stages

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
        return self.links().members(bloc)

    def _mask(self, bloc: str | Iterable[str]) -> BoolArray:
        return self.links().mask(bloc)

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

        Known flows, domestic supply and imports as allocated by :func:`allocate`.
        """
        t = self._link(stage)
        return pd.DataFrame(
            self._A[t].copy(), index=self._countries.rename("supplier"), columns=self._countries
        )

    def balance(self) -> pd.DataFrame:
        """Mass balance of every stage's output [t REO-eq/yr].

        Returns
        -------
        pandas.DataFrame
            One row per stage: ``supply`` (the stage's output), ``to_next_stage`` (input
            requirement of the next stage's plants), ``final_use`` (consumption of this
            stage's product), ``known_flows``, ``domestic`` and ``imports`` (allocated to
            plants and users), and ``gap`` = to_next_stage + final_use − supply (negative: the
            stage makes more than is recorded as used — stock building, unrecorded use or
            losses; positive: buyers use more than is recorded as made).
        """
        supply = self._q * self._k[:, None]
        use = self._u * self._k[:, None]
        rows = []
        n_st = len(self._stages)
        for t in range(n_st):
            known = self._known[t] if t < n_st - 1 else None
            known_total = 0.0 if known is None else float(known.sum())
            alloc = self._AU[t] + (self._A[t] if t < n_st - 1 else 0.0)
            diag = float(np.trace(alloc)) - (0.0 if known is None else float(np.trace(known)))
            nxt = float(supply[t + 1].sum()) if t < n_st - 1 else 0.0
            rows.append(
                {
                    "stage": self._stages[t],
                    "supply": float(supply[t].sum()),
                    "to_next_stage": nxt,
                    "final_use": float(use[t].sum()),
                    "known_flows": known_total,
                    "domestic": diag,
                    "imports": float(alloc.sum()) - known_total - diag,
                    "gap": nxt + float(use[t].sum()) - float(supply[t].sum()),
                }
            )
        return pd.DataFrame(rows).set_index("stage")

    # -- final use ---------------------------------------------------------------------------
    @property
    def final_use(self) -> pd.DataFrame:
        """Final use of each stage's product by country (stages × countries) [unit/yr]."""
        return pd.DataFrame(self._u.copy(), index=list(self._stages), columns=self._countries)

    @property
    def secondary(self) -> pd.DataFrame:
        """Recycled feed into each stage's plants by country (stages × countries)
        [t REO-eq/yr; t oxide of the element in an element chain]."""
        return pd.DataFrame(self._sec.copy(), index=list(self._stages), columns=self._countries)

    def use_sourcing(self, stage: str) -> pd.DataFrame:
        """Where the final users of a stage's product buy it: supplier × user country [-].

        Columns sum to 1; a country without final use gets the column it would have at the
        margin (domestic if it has surplus, else the import mix).
        """
        t = self._stage_pos(stage)
        return pd.DataFrame(self._SU[t].copy(), index=self._countries.rename("supplier"),
                            columns=self._countries)

    def use_allocation(self, stage: str) -> pd.DataFrame:
        """Flows of a stage's product to final users: supplier × user country [t REO-eq/yr]."""
        t = self._stage_pos(stage)
        return pd.DataFrame(self._AU[t].copy(), index=self._countries.rename("supplier"),
                            columns=self._countries)

    def use_origin_matrix(self, stage: str) -> pd.DataFrame:
        """Where the material that each country uses at ``stage`` was mined (mine × user) [-].

        Notes
        -----
        .. math:: O^U_s = O_s\\, S^U_s
        """
        t = self._stage_pos(stage)
        o = self.origin_matrices()[t] @ self._SU[t]
        return pd.DataFrame(o, index=self._countries.rename("origin"), columns=self._countries)

    def use_origin_mix(self, stage: str, country: str) -> pd.Series:
        """Origin mix of one country's final use of a stage's product [-], summing to 1."""
        o = self.use_origin_matrix(stage).iloc[:, self._country_pos(country)]
        return pd.Series(o.to_numpy(), index=o.index, name=(stage, country))

    def use_origin_content(
        self, members: str | Iterable[str], from_stage: str | None = None
    ) -> pd.DataFrame:
        """Share of each country's final use that passed through X at a stage ≥ ``from_stage``.

        Stages × user countries [-]: using material in X does not count as passing through
        X; NaN for stages before ``from_stage``.

        Notes
        -----
        .. math:: P^U_s(c) = \\sum_j S^U_s[j, c]\\, P^{(k)}_s(j)
        """
        prod = self.origin_content(members, from_stage).to_numpy()
        values = np.einsum("sjc,sj->sc", self._SU, np.nan_to_num(prod, nan=0.0))
        values[np.isnan(prod).all(axis=1)] = np.nan
        return pd.DataFrame(values, index=list(self._stages), columns=self._countries)

    def use_control_share(self, members: str | Iterable[str]) -> pd.DataFrame:
        """Probability that each country's final use passed through X at any stage [-]."""
        return self.use_origin_content(members, None)

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
        p = control_shares(self._S, self._mask(members), from_stage=start)
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
            p = control_shares(self._S, np.eye(n))  # (stage, c, x)
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
        start = 0 if from_stage is None else self._stage_pos(from_stage)
        return indicators.deminimis_table(
            self.links(), self.origin_content(members, from_stage), self._mask(members), start,
            threshold, producers_only=producers_only)

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
            Chain with material ``element``; every stage and final use in t of the element's
            oxide [t REO-eq/yr]; element-weighted sourcing.

        Notes
        -----
        Mine output per element is output × ore composition, E₀(c) = R₀(c) f₀(c) (countries
        with output but no composition get the output-weighted mean mix of the others;
        listed in ``meta["composition_imputed"]``). The element then follows the chain as in
        :func:`oreflow.chain.resolve.resolve_element`: with the ore up to separation, with
        the recipe of the product (magnets in t of product) from there down, the separators
        meeting the metal plants' need and selling the rest to their final users. The
        recipe's total need is in ``meta["recipe_need"]``; a need larger than the separated
        element shows as ``meta["element_deficit"]`` [t oxide/yr] and a note, never as a
        silently rescaled flow.
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
        supply = self._q * self._k[:, None]
        mine = supply[0]
        known_w = np.where(known_rows, mine, 0.0)
        if not known_w.sum() > 0:
            raise InputError("no mining country with output has an ore composition")
        mean_f = float(np.nansum(known_w * np.nan_to_num(f0)) / known_w.sum())
        imputed = [str(c) for c, k, m in zip(self._countries, known_rows, mine, strict=True)
                   if not k and m > 0]  # fmt: skip
        meta["composition_imputed"] = imputed
        f0 = np.where(known_rows, f0, mean_f)
        need = None
        product = self._product_position()
        if self._recipe is not None and product is not None:
            w = self._recipe.copy()
            if heavy_free:
                moved = float(w.get("Dy", 0.0)) + float(w.get("Tb", 0.0))
                w = w.drop(labels=[e for e in ("Dy", "Tb") if e in w.index])
                w["Nd"] = float(w.get("Nd", 0.0)) + moved
            content = float(w.get(element, 0.0)) * oxide_factor(element)
            need = self._q[product] * content
            meta["recipe_content"] = content
            meta["recipe_need"] = {self._stages[product]: float(need.sum())}
        junction = self._stages.index("separation") if "separation" in self._stages else 0
        sec_e, observed = self._element_arrays(element)
        flows = resolve_element(
            supply=supply, use=self._u * self._k[:, None], allocation=self._A,
            use_allocation=self._AU, sourcing=self._S, use_sourcing=self._SU,
            mine_content=f0, product_need=need, junction=junction, secondary=self._sec,
            secondary_element=sec_e, observed=observed,
        )  # fmt: skip
        if not flows.output[0].sum() > 0:
            raise InputError(f"no mine output of {element} in the chain's ore compositions")
        meta["element_deficit"] = float(flows.deficit.sum())
        meta["element_unallocated"] = dict(zip(self._stages, map(float, flows.unallocated),
                                               strict=True))
        meta["element_notes"] = list(flows.notes)
        meta["element_unexplained"] = {
            self._stages[t]: {str(c): float(v) for c, v in zip(self._countries, row, strict=True)
                              if abs(v) > 1e-9}
            for t, row in enumerate(flows.unexplained) if np.any(np.abs(row) > 1e-9)}
        n_st = len(self._stages)
        chain = SupplyChain.__new__(SupplyChain)
        chain._set_state(
            stages=self._stages,
            countries=self._countries,
            q=flows.output,
            u=flows.final_use,
            secondary=sec_e,
            elements=None,
            units=tuple("t_REO" for _ in self._stages),
            k=np.ones(n_st),
            known=[None] * (n_st - 1),
            links=(flows.sourcing, flows.allocation, flows.use_sourcing, flows.use_allocation),
            composition=None,
            recipe=None,
            governance=self._governance,
            blocs=self._blocs,
            year=self._year,
            material=element,
            meta=meta,
        )
        return chain

    def _element_arrays(self, element: str) -> tuple[FloatArray, FloatArray]:
        """Recycled element feed and reported element output, shape (stages, n) [t oxide/yr].

        Rows for the group ``NdPr`` are split into Nd and Pr by the recipe's Pr share (the
        PrNd of magnet scrap and of separators' PrNd oxide), documented in docs/model.md.
        """
        n_st, n = self._q.shape
        sec = np.zeros((n_st, n))
        obs = np.full((n_st, n), np.nan)
        if self._elements is None or self._elements.empty:
            return sec, obs
        rows = self._elements
        part = {element: 1.0}
        if element in ("Nd", "Pr") and self._recipe is not None:
            nd, pr = float(self._recipe.get("Nd", 0.0)), float(self._recipe.get("Pr", 0.0))
            if nd + pr > 0:
                part["NdPr"] = (pr if element == "Pr" else nd) / (nd + pr)
        for kind, stage, iso3, el, tonnes in zip(
                rows["kind"].astype(str), rows["stage"].astype(str), rows["iso3"].astype(str),
                rows["element"].astype(str), pd.to_numeric(rows["tonnes"]), strict=True):
            frac = part.get(el)
            c = int(self._countries.get_indexer(pd.Index([iso3]))[0])
            if frac is None or stage not in self._stages or c < 0 or not np.isfinite(tonnes):
                continue
            t = self._stages.index(stage)
            value = float(tonnes) * frac
            if kind == "secondary":
                sec[t, c] += value
            else:
                obs[t, c] = value if np.isnan(obs[t, c]) else obs[t, c] + value
        return sec, obs

    def _product_position(self) -> int | None:
        """Position of the product stage (magnets counted in a product unit), if any."""
        if "magnet" not in self._stages:
            return None
        pos = self._stages.index("magnet")
        return None if self._units[pos] in REO_UNITS else pos

    # -- indicator tables (oreflow.chain.indicators) -----------------------------------------
    def links(self) -> indicators.Links:
        """The numbers indicator tables read (:class:`~oreflow.chain.indicators.Links`)."""
        return indicators.Links(
            stages=self._stages, countries=self._countries, q=self._q, k=self._k,
            allocation=self._A, use=self._u, use_allocation=self._AU, units=self._units,
            governance=self._governance, blocs=self._blocs,
        )

    def bloc_table(
        self,
        members: str | Iterable[str],
        *,
        controller: str | Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Bloc balance per stage; see :func:`oreflow.chain.indicators.bloc_table`."""
        return indicators.bloc_table(self.links(), members, controller=controller)

    def crma_table(
        self,
        members: str | Iterable[str] = "EU27",
        *,
        recycling_output: float | None = None,
    ) -> pd.DataFrame:
        """EU CRMA benchmarks of a bloc; see :func:`oreflow.chain.indicators.crma_table`."""
        return indicators.crma_table(self.links(), members, recycling_output=recycling_output)

    def concentration_table(
        self,
        governance: pd.Series | None = None,
        *,
        missing_governance: metrics.MissingGovernance = "propagate",
        trade_adjustment: pd.Series | None = None,
    ) -> pd.DataFrame:
        """Concentration per stage; see :func:`oreflow.chain.indicators.concentration_table`."""
        return indicators.concentration_table(
            self.links(), governance, missing_governance=missing_governance,
            trade_adjustment=trade_adjustment,
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
        """EU-style supply risk per stage; see :func:`oreflow.chain.indicators.risk_table`."""
        return indicators.risk_table(
            self.links(), members, import_reliance=import_reliance, eol_rir=eol_rir,
            si_sr=si_sr, governance=governance, missing_governance=missing_governance,
            trade_adjustment=trade_adjustment,
        )

    def __repr__(self) -> str:
        active = int((self._q > 0).any(axis=0).sum())
        return (
            f"SupplyChain(material={self._material!r}, year={self._year}, "
            f"stages={list(self._stages)}, countries={active})"
        )


