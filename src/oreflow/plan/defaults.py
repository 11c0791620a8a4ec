"""Planning defaults (issue 12): the sourced numbers behind generic options, status risks,
stockpiles and recycling, read from ``plan/defaults.yaml`` or a user's override file.

One concern: the schema of the defaults file and its safe reading, with ``file:line: field``
errors and every ``source_ids`` entry checked against the sources table. The options built
from these numbers are in :mod:`oreflow.plan.options`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from oreflow.base import FiniteModel, Model
from oreflow.data.store import Store, resolve_store
from oreflow.errors import Problem, ValidationError
from oreflow.exposure.bom_io import parse_mapping, pydantic_problems
from oreflow.yamlio import YamlInputError, key_paths, read_text

__all__ = [
    "STAGES",
    "STATUS_RULES",
    "Cited",
    "Jurisdiction",
    "PlanDefaults",
    "PlanningDefaults",
    "Probability",
    "RecyclingDefaults",
    "Span",
    "Stage",
    "StageDefaults",
    "StatusClass",
    "StockpileDefaults",
    "Value",
    "ViabilityDefaults",
    "ViabilityOpex",
    "load_defaults",
    "parse_defaults",
]

Stage = Literal["mine", "separation", "metal", "magnet"]
#: Chain stages an option adds capacity to, upstream first.
STAGES: tuple[str, ...] = ("mine", "separation", "metal", "magnet")

#: Status text (lower case) → status class; the first matching pattern wins. An empty
#: status is ``listed`` (a capacity listing of an existing plant, not a pipeline project);
#: text no pattern matches is ``unknown``.
STATUS_RULES: tuple[tuple[str, str], ...] = (
    (r"bankrupt|cancel+ed|abandoned", "defunct"),
    (r"unlikely to proceed|blocked|clouded|missed|suspended", "stalled"),
    (r"under construction|construction started|groundbreaking|commissioning q", "construction"),
    (r"ramp|inaugurated|first dy|production started|production since|commercial-scale|"
     r"small scale|expanding|trial", "ramping"),
    (r"operating", "operating"),
    (r"pre-fid|\bdfs\b|\bpea\b|feasibility|pilot|demo", "study"),
    (r"staged development|loans finalised|funded|framework", "committed"),
    (r"^planned|announced|memorandum|\bmou\b", "announced"),
)  # fmt: skip


# --------------------------------------------------------------------------------------
# The defaults: schema, loading, errors with file:line:field
# --------------------------------------------------------------------------------------


class Cited(FiniteModel):
    """Where a number comes from: source ids, or an estimate with its method (or both, for
    a number derived from sourced inputs)."""

    source_ids: list[str] = Field(default_factory=list)
    """Keys of the ``sources`` table the number comes from (or is derived from)."""
    estimate: bool = False
    """True when the number is an oreflow estimate rather than a figure of a source."""
    method: str = ""
    """How the number was derived or assumed (required for an estimate)."""

    @model_validator(mode="after")
    def _cited(self) -> Cited:
        if self.estimate and not self.method.strip():
            raise ValueError("an estimate needs a 'method' saying how it was made")
        if not self.source_ids and not self.estimate:
            raise ValueError("give 'source_ids', or 'estimate: true' with a 'method'")
        return self


class Value(Cited):
    """A positive number with an optional range."""

    value: float = Field(gt=0)
    """The central value (units in the field name that holds it)."""
    low: float | None = Field(default=None, gt=0)
    """Low end of the range."""
    high: float | None = Field(default=None, gt=0)
    """High end of the range."""

    @model_validator(mode="after")
    def _ordered(self) -> Value:
        lo = self.value if self.low is None else self.low
        hi = self.value if self.high is None else self.high
        if not lo <= self.value <= hi:
            raise ValueError(f"need low <= value <= high (got {lo:g}, {self.value:g}, {hi:g})")
        return self

    def span(self) -> tuple[float, float, float]:
        """(low, value, high) with missing ends set to the value."""
        return (self.value if self.low is None else self.low, self.value,
                self.value if self.high is None else self.high)


class Span(Cited):
    """A non-negative duration or quantity given as low / median / high."""

    low: float = Field(ge=0)
    """Low end."""
    median: float = Field(ge=0)
    """Median (the mode of a triangular reading)."""
    high: float = Field(ge=0)
    """High end."""

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if not self.low <= self.median <= self.high:
            raise ValueError(f"need low <= median <= high (got {self.low:g}, {self.median:g}, "
                             f"{self.high:g})")
        return self


class Probability(Cited):
    """A probability with its range."""

    value: float = Field(ge=0, le=1)
    """Central value."""
    low: float = Field(ge=0, le=1)
    """Low end."""
    high: float = Field(ge=0, le=1)
    """High end."""

    @model_validator(mode="after")
    def _ordered(self) -> Probability:
        if not self.low <= self.value <= self.high:
            raise ValueError(f"need low <= value <= high (got {self.low:g}, {self.value:g}, "
                             f"{self.high:g})")
        return self


class StageDefaults(Model):
    """Planning numbers of one chain stage (a generic module of new capacity)."""

    material: str
    """What the stage's capacity is counted in (``REO``, ``separated oxide``, ``metal``,
    ``NdFeB``)."""
    unit_capex_usd_per_t_per_yr: Value
    """Investment per unit of yearly capacity [USD per t/yr]."""
    lead_time_years: Span
    """Years from the decision to first output."""
    module_t_per_yr: Value
    """Size of one generic module [t material/yr]."""
    ramp_years: Value
    """Years from first output to nameplate."""
    project_lead_time_years: Span | None = None
    """Years to first output of a pipeline project of the stage with no announced start
    (default: ``lead_time_years``); for mines, a studied deposit is years past discovery."""


class StatusClass(Model):
    """Failure and delay of the projects of one status class."""

    description: str
    """What the class means."""
    pipeline: bool
    """True when projects of this class are options (not yet at full capacity, not dead)."""
    p_fail: Probability
    """Probability that a project of this class never produces."""
    delay_years: Span
    """Delay beyond the announced start [years]."""


class Jurisdiction(Model):
    """How mine lead times vary by country: the ``lead_times`` rows of one study."""

    lead_ids: list[str]
    """``lead_times`` rows giving a country's mine development time [years]."""
    reference_lead_id: str
    """``lead_times`` row giving the same study's average over all countries [years]."""
    stages: list[Stage]
    """Stages whose lead time is scaled by country value / study average."""


class StockpileDefaults(Model):
    """Planning numbers of a strategic stockpile."""

    months_of_cover: list[float] = Field(min_length=1)
    """Default sizes of a stock [months of the bloc's demand]."""
    months_source: Cited
    """Where the default sizes come from."""
    holding_cost_pct_per_yr: Value
    """Storage, insurance and capital cost [% of the stock's value per year]."""
    lead_time_years: Span
    """Years from the decision to a full stock."""


class RecyclingDefaults(Model):
    """Planning numbers of a generic scrap-to-oxide recycling module."""

    material: str
    """What the capacity is counted in."""
    stage: Stage
    """Stage the recycled output enters."""
    unit_capex_usd_per_t_per_yr: Value
    """Investment per unit of yearly capacity [USD per t/yr]."""
    lead_time_years: Span
    """Years from the decision to first output."""
    module_t_per_yr: Value
    """Size of one module [t/yr]."""
    ramp_years: Value
    """Years from first output to nameplate."""


class PlanningDefaults(Model):
    """Numbers of the plan as a whole (not of one option)."""

    discount_rate_pct: Value
    """Real discount rate of spending and cash flows [%/yr]."""
    demand_growth_pct_per_yr: Value
    """Growth of the bloc's demand at every stage [%/yr]."""
    build_rate_pct_per_yr: Value
    """New generic capacity of a stage the bloc may start in a year [% of world output]."""


class ViabilityOpex(Model):
    """Operating costs by stage, for the projects whose row gives none [USD/kg product]."""

    mine_usd_per_kg_reo: Value
    """Mining and concentration cost [USD per kg REO in concentrate]."""
    separation_usd_per_kg_ndpr: Value
    """All-in cash cost of a mine-to-oxide (or feed-to-oxide) producer with every cost
    charged to its NdPr output [USD per kg NdPr oxide]."""
    metal_conversion_usd_per_kg: Value
    """Oxide-to-metal conversion, excluding the oxide feed [USD per kg metal]."""
    magnet_conversion_usd_per_kg: Value
    """Metal-to-finished-magnet cost, excluding the rare-earth feed (iron, boron, energy,
    labour, machining, coating) [USD per kg NdFeB]."""


class ViabilityDefaults(Model):
    """Numbers of the project cash flows (:mod:`oreflow.plan.viability`)."""

    project_life_years: Value
    """Years of output from first production [years]."""
    payability_pct: Value
    """Price a concentrate buyer pays, as a share of the basket value of its separated
    oxides [% of basket]."""
    metal_price_ratio: Value
    """Metal price over oxide price of the same element(s) [USD/kg metal per USD/kg oxide]."""
    opex: ViabilityOpex
    """Operating costs by stage."""


class PlanDefaults(Model):
    """Every default number of the options (``src/oreflow/plan/defaults.yaml``)."""

    stages: dict[Stage, StageDefaults]
    """Generic-module numbers by stage."""
    jurisdiction: Jurisdiction
    """Country scaling of lead times."""
    status_classes: dict[str, StatusClass]
    """Failure and delay by status class (keys used by :data:`STATUS_RULES`)."""
    generic_status: str
    """Status class whose failure and delay a generic (newly decided) option gets."""
    stockpile: StockpileDefaults
    """Stockpile numbers."""
    recycling: RecyclingDefaults
    """Recycling numbers."""
    planning: PlanningDefaults
    """Discount rate and demand growth of the plan."""
    viability: ViabilityDefaults
    """Project life, concentrate payability, metal premium and opex by stage."""

    @model_validator(mode="after")
    def _complete(self) -> PlanDefaults:
        missing = [s for s in STAGES if s not in self.stages]
        if missing:
            raise ValueError(f"stages: missing {', '.join(missing)}")
        needed = {c for _, c in STATUS_RULES} | {"unknown", "listed", self.generic_status}
        absent = sorted(needed - set(self.status_classes))
        if absent:
            raise ValueError(f"status_classes: missing {', '.join(absent)}")
        return self


def parse_defaults(text: str, *, source: str = "<string>",
                   store: Store | None = None) -> PlanDefaults:
    """Parse planning defaults from YAML text (``source`` names it in errors).

    Every ``source_ids`` entry must be a key of the store's ``sources`` table.

    Raises
    ------
    oreflow.errors.ValidationError
        One problem per broken rule, each ``file:line: column 'field': rule``.
    """
    data, loc = parse_mapping(text, source, shape="planning defaults are a YAML mapping "
                              "with 'stages', 'status_classes', ...")
    try:
        out = PlanDefaults.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError(pydantic_problems(exc, loc, PlanDefaults)) from None
    known = set(resolve_store(store).table("sources")["source_id"].astype(str))
    problems = [loc.problem(path, f"unknown source '{sid}' (source_ids are keys of the "
                            "sources table)")
                for path, sid in key_paths(data, "source_ids") if str(sid) not in known]
    if problems:
        raise ValidationError(problems)
    return out


def load_defaults(path: str | Path | None = None, *, store: Store | None = None
                  ) -> PlanDefaults:
    """The planning defaults: the packaged ``defaults.yaml``, or a user file of the same
    schema (every field required; unknown fields are errors).

    Parameters
    ----------
    path : str or pathlib.Path, optional
        A user YAML file; ``None`` reads the packaged defaults.
    store : oreflow.data.store.Store, optional
        Store whose ``sources`` table the ``source_ids`` are checked against.

    Raises
    ------
    oreflow.errors.ValidationError
        The file cannot be read or breaks the schema (``file:line: column 'field': rule``).

    Examples
    --------
    >>> load_defaults().stages["mine"].lead_time_years.median
    15.7
    """
    if path is None:
        res = resources.files("oreflow.plan").joinpath("defaults.yaml")
        return parse_defaults(res.read_text(encoding="utf-8"), source="plan/defaults.yaml",
                              store=store)
    try:
        text = read_text(path, what="planning defaults file")
    except YamlInputError as exc:
        raise ValidationError([Problem(exc.source, exc.line, None, exc.rule)]) from None
    return parse_defaults(text, source=str(path), store=store)
