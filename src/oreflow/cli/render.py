"""Tables for people: column metadata, the terminal renderer, safe CSV and progress.

One concern: how a result looks on a terminal and in a CSV file. Numbers and identifiers are
never wrapped inside a value; a table too wide for the terminal drops its lowest-priority
columns and says which (``--wide`` shows them all); headers carry units; shares print as
percentages (JSON and CSV keep fractions); every index or symbol (HHI, CR3, ∞ …) is explained
under the first table that shows it; a one-row table prints as ``key: value`` lines; the
list of sources folds into one line (``--sources`` for all).

Every verb module (``stress.py`` too) uses it the same way::

    out = Renderer(fmt, wide=wide, sources=show_sources, only=table)
    out.table("summary", df, title="…")      # a Rich table, or collected for --csv
    out.notes(answer.notes)
    out.sources(answer.sources_by_part)
    out.finish()                              # --csv: writes every table; checks --table

and wraps long runs in :func:`progress`. Column names the registry does not know are shown
with a readable fallback (underscores as spaces; ``_share``/``_p50`` suffixes understood).
"""

from __future__ import annotations

import csv
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, TextIO

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from oreflow.errors import unknown

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COLUMNS",
    "GLOSSARY",
    "Col",
    "PipeConsole",
    "Progress",
    "Renderer",
    "column",
    "csv_safe",
    "format_cell",
    "format_number",
    "format_share",
    "progress",
    "region_label",
    "write_csv",
]


class PipeConsole(Console):
    """A Rich console that stops quietly when its reader goes away (``oreflow … | head``):
    exit code 0 like other command-line tools, where Rich's own exits with 1."""

    def on_broken_pipe(self) -> None:
        """Point stdout at the null device (nothing more can be written) and end the
        command with exit code 0."""
        import typer

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(code=0)

Kind = Literal["share", "number", "count", "year", "text", "id", "bool"]
#: Kinds whose cells are never wrapped (a number or an identifier must stay copyable).
NO_WRAP: frozenset[str] = frozenset({"share", "number", "count", "year", "id", "bool"})


@dataclass(frozen=True)
class Col:
    """How one column is shown.

    Attributes
    ----------
    header : str
        Human header (without the unit).
    unit : str
        Unit printed as ``header [unit]``; shares get ``%`` automatically.
    kind : {"share", "number", "count", "year", "text", "id", "bool"}
        ``share`` is a fraction in the data (0.69) printed as ``69.0%``; ``id`` and numbers
        are never wrapped; ``text`` wraps at spaces.
    priority : int
        0 = always shown (a key); higher numbers are dropped first when the table is too
        wide for the terminal.
    term : str
        Glossary key explained under the first table showing this column (see
        :data:`GLOSSARY`); empty for self-explaining columns.
    inf : str
        What ``∞`` means in this column (explained when a cell shows it).
    """

    header: str
    unit: str = ""
    kind: Kind = "number"
    priority: int = 5
    term: str = ""
    inf: str = ""

    @property
    def label(self) -> str:
        """Header with its unit, e.g. ``top share [%]``."""
        unit = "%" if self.kind == "share" and not self.unit else self.unit
        return f"{self.header} [{unit}]" if unit else self.header


#: Symbols and indices explained under the first table that shows them (one line each).
GLOSSARY: dict[str, str] = {
    "HHI": "HHI = Herfindahl-Hirschman index: sum of squared percentage shares of the "
           "producers, 0-10,000 (above 2,500: highly concentrated)",
    "HHI-WGI": "HHI-WGI = HHI weighted by each producer's governance (World Bank WGI on the "
               "EU's 0-10 scale, higher = worse): sum of share² × score, 0-10 (EU method)",
    "CR1": "CR1 = share of the largest producer",
    "CR3": "CR3 = combined share of the three largest producers",
    "WGI missing": "WGI missing = producers with no governance score (HHI-WGI left blank "
                   "rather than read as zero)",
    "WGI imputed": "WGI imputed = residual nodes (OTH: the rest of the world) given the "
                   "share-weighted mean score of the stage's other producers",
    "IR": "IR = net import reliance: (imports - exports) / (output + imports - exports)",
    "EOL-RIR": "EOL-RIR = end-of-life recycling input rate: share of input from recycled "
               "old scrap (0 = no credit; pass --eol-rir)",
    "SI/SR": "SI/SR = substitution index for supply risk: 1 = no substitute (pass --si-sr)",
    "SR": "SR = EU supply risk: [HHI-WGI global × IR/2 + HHI-WGI sourcing × (1 - IR/2)] × "
          "(1 - EOL-RIR) × SI/SR, 0-10 (EU list: SR ≥ 1 is a criticality threshold)",
    "bottleneck": "bottleneck = the stage with the highest supply risk",
    "self-sufficiency": "self-sufficiency = the bloc's own output / its needs (over 100%: "
                        "it produces more than it uses)",
    "P10/P50/P90": "P10/P50/P90 = 10th, 50th (median) and 90th percentiles over the draws",
    "S1/ST": "S1 = first-order Sobol index (share of the output's variance due to the "
             "parameter alone); ST = total index (with its interactions); conf = 95% "
             "half-width",
    "de minimis": "de minimis = the controller's content passes the threshold of its "
                  "foreign-product rule",
    "multiple": "× = multiple of the level before the disruption (1 = unchanged)",
    "oreflow estimate": "oreflow estimate = a figure oreflow derived (method and range: "
                        "oreflow data check)",
}


def _c(header: str, unit: str = "", kind: Kind = "number", priority: int = 5,
       term: str = "", inf: str = "") -> Col:
    return Col(header, unit, kind, priority, term, inf)


#: Column metadata by column name. Verb modules may pass per-table overrides.
COLUMNS: dict[str, Col] = {
    # keys
    "stage": _c("stage", kind="id", priority=0),
    "material": _c("material", kind="id", priority=0),
    "product": _c("product", kind="id", priority=0),
    "input": _c("input", kind="id", priority=0),
    "bloc": _c("bloc", kind="id", priority=0),
    "case": _c("case", kind="id", priority=0),
    "controller": _c("controller", kind="id", priority=0),
    "mined_in": _c("mined in", kind="id", priority=0),
    "country": _c("country", kind="id", priority=1),
    "iso3": _c("country", kind="id", priority=0),
    "scenario": _c("scenario", kind="id", priority=0),
    "table": _c("table", kind="id", priority=0),
    "parameter": _c("parameter", kind="id", priority=0),
    "output": _c("output", kind="id", priority=0),
    "benchmark": _c("benchmark", kind="id", priority=0),
    "episode": _c("episode", kind="id", priority=0),
    "year": _c("year", kind="year", priority=0),
    "region": _c("region", kind="id", priority=1),
    "segment": _c("segment", kind="id", priority=0),
    "source_id": _c("source", kind="id", priority=8),
    "key": _c("key", kind="id", priority=4),
    "unit": _c("unit", kind="id", priority=3),
    "vintage": _c("edition", kind="id", priority=4),
    # concentration
    "total": _c("total", "unit/yr", priority=2),
    "n_producers": _c("producers", kind="count", priority=6),
    "top_producer": _c("top producer", kind="id", priority=1),
    "top_share": _c("top share", kind="share", priority=1),
    "cr1": _c("CR1", kind="share", priority=7, term="CR1"),
    "cr3": _c("CR3", kind="share", priority=3, term="CR3"),
    "hhi": _c("HHI", priority=2, term="HHI"),
    "hhi_wgi": _c("HHI-WGI", priority=4, term="HHI-WGI"),
    "wgi_missing": _c("WGI missing", kind="id", priority=8, term="WGI missing"),
    "wgi_imputed": _c("WGI imputed", kind="id", priority=8, term="WGI imputed"),
    "share": _c("share", kind="share", priority=1),
    # trace
    "mined_there": _c("mined there", kind="share", priority=1),
    "passed_through": _c("passed through", kind="share", priority=1),
    "content_from_separation": _c("separated there", kind="share", priority=3),
    "content_from_metal": _c("metal made there", kind="share", priority=4),
    "content_from_magnet": _c("magnet made there", kind="share", priority=4),
    # blocs
    "members": _c("members", kind="count", priority=3),
    "bloc_output": _c("output", "unit/yr", priority=2),
    "bloc_demand": _c("needs", "unit/yr", priority=2),
    "self_sufficiency": _c("self-sufficiency", kind="share", priority=1,
                           term="self-sufficiency"),
    "bloc_supply": _c("supply", "unit/yr", priority=6),
    "supply_coverage": _c("supply coverage", kind="share", priority=6),
    "imports": _c("imports", "unit/yr", priority=6),
    "exports": _c("exports", "unit/yr", priority=6),
    "import_reliance": _c("IR", kind="share", priority=3, term="IR"),
    "largest_outside_supplier": _c("top outside supplier", kind="id", priority=2),
    "largest_outside_share": _c("its share", kind="share", priority=3),
    "controller_share": _c("controller share", kind="share", priority=4),
    "value": _c("value", priority=1),
    "threshold": _c("threshold", priority=2),
    "comparison": _c("test", kind="id", priority=3),
    "passes": _c("passes", kind="bool", priority=1),
    "detail": _c("detail", kind="text", priority=4),
    # risk
    "hhi_wgi_global": _c("HHI-WGI global", priority=2, term="HHI-WGI"),
    "hhi_wgi_sourcing": _c("HHI-WGI sourcing", priority=3, term="HHI-WGI"),
    "eol_rir": _c("EOL-RIR", kind="share", priority=5, term="EOL-RIR"),
    "si_sr": _c("SI/SR", priority=5, term="SI/SR"),
    "supply_risk": _c("SR", priority=1, term="SR"),
    "bottleneck": _c("bottleneck", kind="bool", priority=1, term="bottleneck"),
    # exposure
    "type": _c("type", kind="id", priority=3),
    "metric": _c("metric", kind="text", priority=0),
    "p10": _c("P10", priority=2, term="P10/P50/P90"),
    "p50": _c("P50", priority=1, term="P10/P50/P90"),
    "p90": _c("P90", priority=2, term="P10/P50/P90"),
    "controller_supplier_share": _c("from controller's suppliers", kind="share", priority=2),
    "control_share": _c("controlled", kind="share", priority=1),
    "mined_in_controller": _c("mined in controller", kind="share", priority=3),
    "processed_in_controller": _c("processed in controller", kind="share", priority=3),
    "deminimis_reached": _c("de minimis", kind="bool", priority=5, term="de minimis"),
    "inventory_months": _c("stock", "months", priority=2),
    "qualification_months": _c("qualification", "months", kind="id", priority=4),
    "name": _c("name", kind="text", priority=2),
    "output_t_per_yr": _c("output", "t/yr", priority=2),
    "capacity": _c("capacity", priority=6),
    "capacity_unit": _c("capacity unit", kind="id", priority=7),
    "status": _c("status", kind="text", priority=3),
    "start_year": _c("start", kind="year", priority=5),
    "spare_capacity_t_per_yr": _c("spare", "t/yr", priority=4),
    "months_to_stockout": _c("months to stock-out", "months", priority=1,
                             inf="no stock-out within the horizon"),
    # data
    "rows": _c("rows", kind="count", priority=1),
    "user_rows": _c("your rows", kind="count", priority=4),
    "vintages": _c("editions", kind="text", priority=6),
    "description": _c("description", kind="text", priority=2),
    "tonnes": _c("tonnes", "t", priority=1),
    "estimate": _c("estimate", kind="bool", priority=5, term="oreflow estimate"),
    "basis": _c("basis", kind="id", priority=4),
    "publisher": _c("publisher", kind="text", priority=2),
    "title": _c("title", kind="text", priority=1),
    "edition": _c("edition", kind="id", priority=4),
    "licence": _c("licence", kind="text", priority=6),
    "url": _c("url", kind="id", priority=7),
    # scenarios, validation, sensitivity
    "start": _c("start", kind="id", priority=3),
    "horizon_months": _c("horizon", "months", kind="count", priority=4),
    "shocks": _c("shocks", kind="count", priority=5),
    "kind": _c("kind", kind="id", priority=2),
    "side": _c("side", kind="id", priority=2),
    "label": _c("observation", kind="text", priority=1),
    "observed": _c("observed", "×", priority=1, term="multiple"),
    "inside": _c("inside P10-P90", kind="bool", priority=1),
    "observed_peak": _c("observed peak", "×", priority=1, term="multiple"),
    "peak": _c("peak", "×", priority=1, term="multiple"),
    "observed_month": _c("observed peak month", priority=2),
    "month": _c("peak month", priority=2),
    "recovery_outside": _c("recovery outside", "months", priority=2,
                           inf="no recovery within the horizon"),
    "recovery_inside": _c("recovery inside", "months", priority=2,
                          inf="no recovery within the horizon"),
    "check": _c("check", kind="text", priority=0),
    "limit": _c("band", kind="text", priority=1),
    # disruption results (stress summary)
    "base_price_usd_per_kg": _c("base price", "USD/kg", priority=6),
    "peak_price_multiple": _c("peak price", "×", priority=1, term="multiple"),
    "mean_price_multiple": _c("mean price", "×", priority=5, term="multiple"),
    "shortfall_t": _c("shortfall", "t", priority=4),
    "shortfall_share": _c("shortfall", kind="share", priority=2),
    "lost_output_t": _c("lost output", "t", priority=5),
    "licence_backlog_months": _c("licence backlog", "months", priority=6),
    "months_to_recovery": _c("months to recovery", "months", priority=2,
                             inf="no recovery within the horizon"),
    "cost_musd": _c("cost", "M USD", priority=3),
    "at_backstop_share": _c("draws at backstop", kind="share", priority=6),
    "guard_share": _c("draws at a guard", kind="share", priority=7),
    "S1": _c("S1", priority=1, term="S1/ST"),
    "S1_conf": _c("S1 conf", priority=4, term="S1/ST"),
    "ST": _c("ST", priority=1, term="S1/ST"),
    "ST_conf": _c("ST conf", priority=4, term="S1/ST"),
}

_NUMERIC_TEXT = re.compile(r"^[-+<>~≈]?[\d∞.]")
_QUANTILE = re.compile(r"^(?P<stem>.+)_(?P<q>p10|p50|p90)$")
_ISO3 = re.compile(r"^[A-Z]{3}$")
_STAGES = ("mine", "separation", "metal", "magnet", "recycling")


def column(name: str, *, numeric: bool = True, overrides: Mapping[str, Col] | None = None,
           default: Col | None = None) -> Col:
    """Metadata of column ``name``: a per-table override, the registry, or a fallback.

    The fallback understands ``<stem>_p10/_p50/_p90`` (the stem's header plus the quantile),
    ``*_share`` and ``*_id`` names, ISO3 codes and stage names (shares in pivot tables when
    ``default`` says so), and otherwise shows the name with spaces for underscores.
    """
    if overrides and name in overrides:
        return overrides[name]
    if name in COLUMNS:
        return COLUMNS[name]
    m = _QUANTILE.match(name)
    if m:
        base = column(m["stem"], numeric=numeric, default=default)
        q = m["q"].upper()
        return replace(base, header=f"{base.header} {q}", term=base.term or "P10/P50/P90",
                       priority=base.priority + (0 if q == "P50" else 2))
    if default is not None and numeric:
        return replace(default, header=name)
    if name.endswith("_share") and numeric:
        return _c(name.removesuffix("_share").replace("_", " ") + " share", kind="share")
    if name.endswith(("_id", "_ids")):
        return _c(name.replace("_", " "), kind="id", priority=7)
    if not numeric:
        return _c(name.replace("_", " "), kind="text", priority=5)
    return _c(name.replace("_", " "), priority=5)


# ---------------------------------------------------------------------------------- cells


def format_number(v: float) -> str:
    """Human format: thousands separators and no decimals from 1,000 up or for whole
    numbers, one decimal from 100, 4 significant digits below (``270,000``; ``123.4``;
    ``0.9123``); ``∞`` for infinity."""
    if v != v:
        return ""
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if (v == int(v) and abs(v) < 1e15) or abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:,.1f}"
    if abs(v) < 1e-4:
        return f"{v:.2g}"
    return f"{v:.4g}"


def format_share(v: float) -> str:
    """A fraction as a percentage: ``69.4%``; ``<0.1%`` for a tiny positive share; whole
    percent from 100% up (a self-sufficiency of 6.1 is ``611%``)."""
    if v != v:
        return ""
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if v == 0:
        return "0%"
    if 0 < abs(v) < 0.0005:
        return "<0.1%" if v > 0 else "-<0.1%"
    if abs(v) >= 1:
        return f"{v:,.0%}"
    return f"{v:.1%}"


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and v != v:
        return True
    try:
        import pandas as pd

        return v is pd.NA or v is pd.NaT
    except ImportError:  # pragma: no cover
        return False


def format_cell(col: Col, v: Any) -> str:
    """The text of one cell of column ``col`` (empty for a missing value)."""
    if _is_missing(v):
        return ""
    if isinstance(v, bool) or type(v).__name__ == "bool_":
        return "yes" if v else "no"
    if isinstance(v, int | float) or type(v).__module__ == "numpy":
        try:
            x = float(v)
        except (TypeError, ValueError):
            return str(v)
        if col.kind == "share":
            return format_share(x)
        if col.kind == "year":
            return f"{x:.0f}" if math.isfinite(x) else format_number(x)
        if col.kind == "count" and math.isfinite(x) and x == int(x):
            return f"{int(x):,}"
        return format_number(x)
    return str(v)


# ------------------------------------------------------------------------------------ CSV

_PLAIN_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formula injection in one CSV cell.

    A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
    prefixed with ``'`` so a spreadsheet shows it as text instead of running it (OWASP
    "CSV injection"); plain numbers such as ``-12.5`` or ``+3`` are left alone.
    """
    if isinstance(value, str) and value.startswith(_DANGEROUS) \
            and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def write_csv(df: pd.DataFrame | list[dict[str, Any]], out: TextIO) -> None:
    """Write ``df`` (a DataFrame or a list of dicts) as CSV, no index, with every text cell
    and header passed through :func:`csv_safe`; numbers keep full precision and shares stay
    fractions."""
    if isinstance(df, list):
        names = list(dict.fromkeys(k for r in df for k in r))
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([csv_safe(n) for n in names])
        for r in df:
            writer.writerow([csv_safe(r.get(n)) if r.get(n) is not None else "" for n in names])
        return
    import pandas as pd

    safe = df.copy()
    safe.columns = [csv_safe(str(c)) for c in df.columns]
    for k in range(safe.shape[1]):
        s = safe.iloc[:, k]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            safe.isetitem(k, s.map(csv_safe).tolist())
    safe.to_csv(out, index=False, lineterminator="\n")


# -------------------------------------------------------------------------------- regions


def region_label(region: str, blocs: Mapping[str, Sequence[str]] | None = None) -> str:
    """A region as people name it: ``targets:AUT+BEL+…+XEU`` becomes ``EU27``.

    ``region`` is an engine region label (``controller``, ``rest``, ``CHN``,
    ``targets:<codes joined by +>``). Codes that make up a whole bloc (largest bloc first)
    are replaced by the bloc's name; codes left over are kept (``EU27+JPN``). ``blocs``
    maps bloc name to member codes (default: the store's ``blocs`` table, with each bloc's
    residual node such as ``XEU``).
    """
    if not region.startswith("targets:"):
        return region
    body, sep, suffix = region.partition(" ")
    codes = [c for c in body.removeprefix("targets:").split("+") if c]
    suffix = sep + suffix
    if len(codes) <= 3:
        return "+".join(codes) + suffix
    if blocs is None:
        try:
            from oreflow.data.store import Store
            from oreflow.simulate.compile import bloc_members

            blocs = bloc_members(Store.default())
        except Exception:  # the label is cosmetic: never fail a command over it
            blocs = {}
    left = set(codes)
    names: list[str] = []
    for name, members in sorted(blocs.items(), key=lambda kv: -len(kv[1])):
        m = set(members)
        if len(m) > 1 and m <= left:
            names.append(name)
            left -= m
    if not names:
        return f"{len(codes)} countries ({', '.join(codes[:3])}, …)" + suffix
    return "+".join(names + [c for c in codes if c in left]) + suffix


def _frame_columns(df: Any) -> list[tuple[str, list[Any], bool]]:
    """(name, values, numeric?) of each column of a DataFrame or a list of dicts (the
    pandas-free path of fast verbs such as ``data list``)."""
    if isinstance(df, list):
        names = list(dict.fromkeys(k for r in df for k in r))
        cols = []
        for n in names:
            values = [r.get(n) for r in df]
            numeric = all(isinstance(v, int | float) and not isinstance(v, bool)
                          for v in values if v is not None) and any(
                v is not None for v in values)
            cols.append((n, values, numeric))
        return cols
    import pandas as pd

    out = []
    for c in df.columns:
        s = df[c]
        values = s.tolist()
        numeric = bool(pd.api.types.is_numeric_dtype(s)) and not bool(
            pd.api.types.is_bool_dtype(s))
        if not numeric and s.dtype == object:
            present = [v for v in values if not _is_missing(v)]
            numeric = bool(present) and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in present)
        out.append((str(c), values, numeric))
    return out


# ------------------------------------------------------------------------------- renderer

_BORDER = 3  # per column: two spaces of padding and one rule


def _wrap(text: str, width: int) -> str:
    """Greedy word wrap of a header into lines of at most ``width`` cells (a no-wrap
    column wraps nothing itself)."""
    lines: list[str] = []
    for word in text.split():
        if lines and cell_len(lines[-1]) + 1 + cell_len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def _line_len(text: str) -> int:
    """Terminal cells of the longest line of ``text`` (a cell may hold several lines)."""
    return max((cell_len(line) for line in text.split("\n")), default=0)


@dataclass
class _Shown:
    name: str
    col: Col
    cells: list[str]
    width: int  # the narrowest it can be without breaking a value
    natural: int = 0  # the widest cell or header [cells]
    word: int = 0  # the longest word of a text column [cells]


class Renderer:
    """Prints one command's tables, notes, sources and explanations (or collects CSV).

    Parameters
    ----------
    fmt : Format
        ``table`` prints Rich tables; ``csv`` collects tables and writes them at
        :meth:`finish` (several tables each under a ``# table: NAME`` line); ``json`` prints
        nothing (the verb prints its own payload with :func:`oreflow.cli._app.print_json`).
    wide : bool
        Show every column whatever the terminal width (lines may be longer than it).
    sources : bool
        Print the full source list instead of one folded line.
    only : str, optional
        Print only the table of this name (``--table``); checked at :meth:`finish`.
    console : rich.console.Console, optional
        Where tables go (default: a new console on stdout, reading ``COLUMNS`` now).
    """

    def __init__(self, fmt: Any, *, wide: bool = False, sources: bool = False,
                 only: str | None = None, console: Console | None = None) -> None:
        self.fmt = str(getattr(fmt, "value", fmt))
        self.wide = wide
        self.show_sources = sources
        self.only = only
        self.console = console or PipeConsole(highlight=False)
        self.names: list[str] = []
        self._csv: list[tuple[str, pd.DataFrame | list[dict[str, Any]]]] = []
        self._seen: set[str] = set()
        self.dropped: dict[str, list[str]] = {}

    @property
    def is_table(self) -> bool:
        """True when printing for people (not --json or --csv)."""
        return self.fmt == "table"

    @property
    def width(self) -> int:
        """Terminal width the tables must fit [characters]."""
        return self.console.width

    def _wanted(self, name: str) -> bool:
        self.names.append(name)
        return self.only is None or self.only == name

    # ---- output for people

    def print(self, *objects: Any, style: str | None = None) -> None:
        """Print a line for people (nothing in --json/--csv mode)."""
        if self.is_table:
            self.console.print(*objects, style=style)

    def note(self, text: str) -> None:
        """A yellow ``note:`` line (table view only)."""
        if self.is_table:
            self.console.print(Text.assemble(("note: ", "yellow"), text))

    def notes(self, texts: Sequence[str]) -> None:
        """Several notes, in order, each once."""
        for t in dict.fromkeys(texts):
            self.note(t)

    def explain(self, *terms: str, extra: Mapping[str, str] | None = None) -> None:
        """Explain glossary ``terms`` (or ``extra`` term → text) not yet explained."""
        if not self.is_table:
            return
        for term in terms:
            text = (extra or {}).get(term) or GLOSSARY.get(term)
            if text and term not in self._seen:
                self._seen.add(term)
                self.console.print(Text(text, style="dim"))

    def sources(self, by_part: Mapping[str, Sequence[str]] | Sequence[str], *,
                hint: str = "details: oreflow data sources sources ID") -> None:
        """Sources of the numbers shown: one folded line, or all of them with ``--sources``.

        ``by_part`` maps a part of the chain (``mine``, ``flows`` …) to source ids, or is a
        plain list of ids.
        """
        if not self.is_table:
            return
        parts = dict(by_part) if isinstance(by_part, Mapping) else {"": list(by_part)}
        parts = {k: list(v) for k, v in parts.items() if v}
        ids = list(dict.fromkeys(i for v in parts.values() for i in v))
        if not ids:
            return
        if self.show_sources:
            for part, part_ids in parts.items():
                head = f"sources ({part})" if part else "sources"
                self.console.print(Text(f"{head}: {', '.join(part_ids)}", style="dim"))
            self.console.print(Text(hint, style="dim"))
            return
        first_part = next(iter(parts))
        first = parts[first_part]
        multi = len(parts) > 1
        head = f"sources ({first_part}): " if multi else "sources: "

        others = len(ids) - len(set(first))
        names = [p for p in parts if p != first_part]

        def line(k: int, *, name_parts: bool, long_hint: bool) -> str:
            text = head + ", ".join(first[:k]) + (", …" if k < len(first) else "")
            if multi and others > 0:
                text += f"; {others} more"
                if name_parts:
                    text += (f" for {', '.join(names[:2])}" + (", …" if len(names) > 2 else ""))
            elif k < len(first):
                text += f" — {len(ids)} in all"
            if k < len(ids):
                text += " (--sources lists all)" if long_hint else " (--sources)"
            return text

        variants = [line(k, name_parts=n, long_hint=True) for k in range(len(first), 0, -1)
                    for n in (True, False)] + [line(1, name_parts=False, long_hint=False)]
        chosen = next((v for v in variants if cell_len(v) <= self.width), variants[-1])
        self.console.print(Text(chosen, style="dim"), overflow="fold")
        if len(ids) == 1:
            self.console.print(Text(hint, style="dim"))

    # ---- tables

    def table(self, name: str, df: pd.DataFrame | list[dict[str, Any]], *, title: str | None = None,
              caption: str | None = None, columns: Mapping[str, Col] | None = None,
              default: Col | None = None, record: bool | None = None,
              csv_df: pd.DataFrame | list[dict[str, Any]] | None = None) -> None:
        """Show table ``name``.

        Parameters
        ----------
        df : pandas.DataFrame
            The rows as shown (shares as fractions; the renderer formats them).
        columns : mapping of str to Col, optional
            Per-table column metadata, over the registry.
        default : Col, optional
            Metadata for numeric columns the registry does not know (pivot tables whose
            columns are countries or stages: ``Col("", kind="share")``).
        record : bool, optional
            Print a one-row table as ``key: value`` lines (default: when it has one row
            and more than three columns).
        csv_df : pandas.DataFrame, optional
            What ``--csv`` writes for this table (default ``df``).
        """
        if not self._wanted(name):
            return
        if self.fmt == "csv":
            self._csv.append((name, df if csv_df is None else csv_df))
            return
        if not self.is_table:
            return
        shown = self._columns(df, columns, default)
        if record is None:
            record = len(df) == 1 and len(shown) > 3
        if record and len(df) == 1:
            self._record(shown, title)
        else:
            shown = self._grid(name, shown, len(df), title, caption if not record else None)
        if caption and record:
            self.console.print(Text(caption, style="dim"))
        self._explain_columns(shown)

    def _columns(self, df: Any, overrides: Mapping[str, Col] | None,
                 default: Col | None) -> list[_Shown]:
        out = []
        for c, values, numeric in _frame_columns(df):
            col = column(c, numeric=numeric, overrides=overrides, default=default)
            if col.kind in ("share", "number", "count") and not numeric and any(
                    isinstance(v, str) for v in values):
                col = replace(col, kind="id")  # pre-formatted text (bands, ranges)
            if c in ("region", "segment", "target", "targets"):
                cells = [region_label(v) if isinstance(v, str) else format_cell(col, v)
                         for v in values]
            else:
                cells = [format_cell(col, v) for v in values]
            if col.kind == "id" and any(" " in x and _line_len(x) > 24 for x in cells):
                col = replace(col, kind="text")  # prose, not an identifier: may wrap
            elif col.kind == "text" and any(cells) and all(
                    _NUMERIC_TEXT.match(x) and _line_len(x) <= 32 for x in cells if x):
                col = replace(col, kind="id")  # bands such as '2.1 (1.6–3.1)': keep whole
            header_words = max((cell_len(w) for w in col.label.split()), default=1)
            longest = max((_line_len(x) for x in cells), default=0)
            longest_word = 0
            if col.kind in NO_WRAP:
                width = max(longest, header_words)
            else:
                longest_word = max((cell_len(w) for x in cells for w in x.split()), default=0)
                # prose wraps at spaces; a word longer than 16 cells may fold
                width = max(header_words, min(longest_word, 16), min(longest, 10))
            out.append(_Shown(c, col, cells, width, max(longest, cell_len(col.label)),
                              longest_word))
        return out

    def _fit(self, shown: list[_Shown], n_rows: int, title: str | None,
             caption: str | None) -> tuple[Table, list[_Shown], list[_Shown]]:
        """The table, with the lowest-priority columns (rightmost first) dropped until it
        fits the terminal width without breaking a value: a no-wrap column needs its widest
        cell, a text column its longest word (Rich's own minimum), plus the rules."""
        keep = list(shown)
        dropped: list[_Shown] = []

        def need(cols: list[_Shown]) -> int:
            return sum(c.width for c in cols) + _BORDER * len(cols) + 1

        def drop_one() -> bool:
            candidates = [c for c in keep if c.col.priority > 0]
            if not candidates:
                return False
            worst = max(candidates, key=lambda c: (c.col.priority, keep.index(c)))
            keep.remove(worst)
            dropped.append(worst)
            return True

        while not self.wide and need(keep) > self.width and drop_one():
            pass
        return self._build(keep, n_rows, title, caption), keep, dropped

    def _widths(self, keep: list[_Shown]) -> list[int]:
        """Content width of each column: a no-wrap column its widest cell; text columns
        share what is left of the terminal, up to their widest cell (40 with --wide)."""
        widths = [c.width for c in keep]
        text = [k for k, c in enumerate(keep) if c.col.kind not in NO_WRAP]
        if self.wide:
            for k in text:
                widths[k] = max(keep[k].width, min(keep[k].natural, 40))
            return widths
        spare = self.width - (sum(widths) + _BORDER * len(keep) + 1)
        for k in text:  # first, left to right, room for the longest word (no folding)
            add = max(0, min(spare, keep[k].word - widths[k]))
            widths[k] += add
            spare -= add
        while spare > 0:
            grow = [k for k in text if widths[k] < keep[k].natural]
            if not grow:
                break
            for k in grow:
                if spare <= 0:
                    break
                widths[k] += 1
                spare -= 1
        return widths

    def _build(self, keep: list[_Shown], n_rows: int, title: str | None,
               caption: str | None) -> Table:
        table = Table(header_style="bold")
        for c, w in zip(keep, self._widths(keep), strict=True):
            right = c.col.kind in ("share", "number", "count", "year")
            header = _wrap(c.col.label, w) if c.col.kind in NO_WRAP else c.col.label
            table.add_column(Text(header), justify="right" if right else "left",
                             no_wrap=c.col.kind in NO_WRAP, width=w, overflow="fold")
        for i in range(n_rows):
            table.add_row(*(Text(c.cells[i]) for c in keep))
        return table

    def _grid(self, name: str, shown: list[_Shown], n_rows: int, title: str | None,
              caption: str | None) -> list[_Shown]:
        """Print the table; return the columns shown."""
        table, keep, dropped = self._fit(shown, n_rows, title, caption)
        if title:
            self.console.print(Text(title, style="bold"))
        needed = sum(self._widths(keep)) + _BORDER * len(keep) + 1
        if self.wide and needed > self.width:
            wide = PipeConsole(width=needed, highlight=False, file=self.console.file,
                           force_terminal=self.console.is_terminal,
                           no_color=self.console.no_color)
            wide.print(table)
        else:
            self.console.print(table)
        if caption:
            self.console.print(Text(caption, style="dim"))
        if dropped:
            self.dropped[name] = [c.name for c in dropped]
            labels = ", ".join(c.col.header for c in dropped)
            self.console.print(Text(f"not shown at {self.width} columns: {labels} "
                                    "(--wide shows all)", style="dim"))
        return keep

    def _record(self, shown: list[_Shown], title: str | None) -> None:
        if title:
            self.console.print(Text(title, style="bold"))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for c in shown:
            grid.add_row(Text(c.col.label), Text(c.cells[0]))
        self.console.print(grid)

    def _explain_columns(self, shown: list[_Shown]) -> None:
        terms = [c.col.term for c in shown if c.col.term]
        extra = {}
        for c in shown:
            if c.col.inf and any("∞" in x for x in c.cells):
                key = f"∞: {c.col.inf}"
                extra[key] = f"∞ = {c.col.inf}"
                terms.append(key)
        self.explain(*dict.fromkeys(terms), extra=extra)

    # ---- end

    def finish(self) -> None:
        """Write the collected CSV tables and check ``--table``.

        One table is written as plain CSV; several are written one after the other, each
        preceded by a ``# table: NAME`` line and followed by a blank line, so none is
        dropped silently (``--table NAME`` writes one as plain CSV).
        """
        if self.only is not None and self.only not in self.names:
            raise unknown("table", self.only, list(dict.fromkeys(self.names)))
        if self.fmt != "csv":
            return
        out = sys.stdout
        multi = len(self._csv) > 1
        for k, (name, df) in enumerate(self._csv):
            if multi:
                if k:
                    out.write("\n")
                out.write(f"# table: {name}\n")
            write_csv(df, out)


# ------------------------------------------------------------------------------- progress

ProgressFn = Callable[[int, int], None]


class Progress:
    """Progress of one long job on stderr (see :func:`progress`)."""

    def __init__(self, description: str, *, waiting: str | None, enabled: bool,
                 stream: TextIO | None = None) -> None:
        self.description = description
        self.enabled = enabled
        self._stream = stream
        self._bar: Any = None
        self._task: Any = None
        self._started = False
        self._decile = 0
        self._t0 = time.monotonic()
        self._t_first: float | None = None
        self._waiting = waiting

    @property
    def stream(self) -> TextIO:
        """stderr at the time of use (test runners swap it)."""
        return self._stream or sys.stderr

    def _terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        if self._terminal():
            from rich import progress as rp

            console = Console(file=self.stream)
            self._bar = rp.Progress(
                rp.SpinnerColumn(), rp.TextColumn("[bold]{task.description}"), rp.BarColumn(),
                rp.TaskProgressColumn(), rp.TimeElapsedColumn(),
                rp.TextColumn("ETA"), rp.TimeRemainingColumn(),
                console=console, transient=True)
            self._bar.__enter__()
            first = f"{self.description}: {self._waiting}" if self._waiting else \
                self.description
            self._task = self._bar.add_task(first, total=None)
        elif self._waiting:
            self._line(f"{self.description}: {self._waiting} …")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def describe(self, description: str) -> None:
        """Change what the bar says (e.g. the episode being run)."""
        self.description = description
        if self._bar is not None and self._started:
            self._bar.update(self._task, description=description)

    def update(self, done: int, total: int) -> None:
        """Record ``done`` of ``total`` steps: moves the bar, or prints a line per 10%."""
        if not self.enabled:
            return
        frac = done / total if total > 0 else 1.0
        if self._bar is not None:
            if not self._started:
                self._started = True
                self._bar.reset(self._task, total=1.0, description=self.description)
            self._bar.update(self._task, completed=frac)
            return
        now = time.monotonic()
        if self._t_first is None:
            self._t_first = now
        decile = min(int(frac * 10 + 1e-9), 10)
        if decile > self._decile:
            self._decile = decile
            elapsed = now - self._t0
            eta = (now - self._t_first) * (1 - frac) / frac if 0 < frac < 1 else 0.0
            self._line(f"{self.description}: {decile * 10}% ({elapsed:.0f} s elapsed"
                       + (f", about {eta:.0f} s left)" if 0 < frac < 1 else ")"))

    def __call__(self, done: int, total: int) -> None:
        self.update(done, total)


@contextmanager
def progress(description: str, *, waiting: str | None = None, enabled: bool = True,
             stream: TextIO | None = None) -> Iterator[Progress]:
    """Show the progress of a long job on stderr.

    On a terminal: a spinner (with ``waiting``, e.g. ``"building the baseline"``, until the
    first update), then a bar with percentage, elapsed time and ETA; it disappears when done.
    When stderr is not a terminal (a log file, CI): one plain line per 10%. The yielded
    object is a ``progress(done, total)`` callback, as the library's ``progress=`` takes;
    ``.describe(text)`` changes its label.

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> with progress("run", stream=buf) as p:
    ...     for k in range(1, 5):
    ...         p(k, 4)
    >>> [line.split(" (")[0] for line in buf.getvalue().splitlines()]
    ['run: 20%', 'run: 50%', 'run: 70%', 'run: 100%']
    """
    with Progress(description, waiting=waiting, enabled=enabled, stream=stream) as p:
        yield p
