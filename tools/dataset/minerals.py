"""Other critical minerals (fact family ``minerals``): gallium, germanium, antimony, tungsten and
natural graphite.

* ``stage_output``: production and capacity by country, year and edition from
  ``minerals/production.csv`` (USGS MCS2025 and MCS2026 tables, older editions and sourced
  estimates), plus the seed file ``minerals/mcs2025_minerals.csv``, whose eight rows must equal
  the matching rows of ``production.csv``. Figures are stored as published and converted here to
  tonnes exactly (kg x 0.001, Mt x 1,000,000).
* ``stage_shares``: the published country shares of ``production.csv`` (metric ``share``).
* ``prices``: annual prices from ``minerals/prices_annual.csv``.
* ``demand``, ``trade``, ``import_dependence``: use, trade and import reliance from
  ``minerals/consumption.csv`` (routing in :func:`consumption_rows`).

The mapping of the fact base's stage words onto the four stages of ``stage_output`` is
:data:`STAGE_OF` (documented in docs/data.md, "Other critical minerals").
"""

from __future__ import annotations

import re
from decimal import Decimal

from .common import FactBase, copy_rows
from .production import SO_KEY, so_row
from .rows import Row, add_note, dec_str, pct_to_frac, status_flag
from .trade import metric_for

#: Tonnes per published unit.
TONNES_PER_UNIT = {"t": Decimal(1), "kg": Decimal("0.001"), "Mt": Decimal(1_000_000)}

#: Stage of ``stage_output``/``stage_shares`` for a (material, stage in the fact base) pair.
#: Primary low-purity gallium is recovered from alumina (Bayer) liquor: the refining step,
#: mapped to ``separation`` as before; high-purity refining of gallium is the next step
#: (``metal``). Germanium refinery output and antimony smelting are the refining step
#: (``separation``). Refined graphite means battery-anode material (``separation``, shares only).
STAGE_OF = {
    ("Ga", "primary"): "separation",
    ("Ga", "refined"): "metal",
    ("Ge", "refinery"): "separation",
    ("Ge", "refined"): "separation",
    ("Sb", "mine"): "mine",
    ("Sb", "refinery"): "separation",
    ("W", "mine"): "mine",
    ("graphite", "mine"): "mine",
    ("graphite", "refined"): "separation",
}
#: Stage of a capacity row (fact-base stage ``capacity``) by material; a gallium capacity
#: whose note says high-purity is the ``metal`` stage.
CAPACITY_STAGE = {"Ga": "separation", "Ge": "separation", "Sb": "separation", "graphite": "mine"}

#: Production rows left out of stage_output, with the reason (docs/data.md).
SKIPPED = {
    "recycling": "secondary (recycled) output has no stage in stage_output",
    "capacity_addition": "an increment of capacity, not a capacity level",
    ("graphite", "refined"): "battery-anode shipments including synthetic graphite, "
    "not natural graphite",
}

MCS_EDITION = re.compile(r"^(MCS\d{4})(?: \(via [^)]*\))?$")


def vintage_of(r: Row) -> str:
    """The vintage label of a production row: ``MCS20xx`` (also for 'MCS2023 (via …)'
    restatements), otherwise the row's ``source_id`` (a publication without an edition)."""
    m = MCS_EDITION.match(r["edition"])
    return m.group(1) if m else r["source_id"]


def tonnes(value: str, unit: str) -> str:
    """A published quantity in tonnes, exactly ('' stays '')."""
    return dec_str(Decimal(value) * TONNES_PER_UNIT[unit]) if value else ""


def stage_for(r: Row) -> str | None:
    """The stage of a production row, or None if it stays out of stage_output."""
    if r["metric"] == "capacity":
        if r["stage"] == "recycling":
            return None
        if r["material"] == "Ga" and "high-purity" in r["note"]:
            return "metal"
        return CAPACITY_STAGE[r["material"]]
    if r["metric"] != "production" or r["stage"] == "recycling":
        return None
    if (r["material"], r["stage"]) in SKIPPED:
        return None
    return STAGE_OF[(r["material"], r["stage"])]


def production_rows(facts: FactBase) -> list[Row]:
    """stage_output rows of production.csv: one per key, the first in fact-base order wins
    and a later row with the same key is recorded in its note."""
    out: dict[tuple[object, ...], Row] = {}
    for r in facts.read("minerals", "production.csv"):
        stage = stage_for(r)
        if stage is None:
            continue
        unit = r["unit"]
        note = r["note"]
        if r["stage"] != stage:
            note = add_note(note, f"stage in fact base: {r['stage']}")
        vintage = vintage_of(r)
        if vintage != r["edition"]:
            note = add_note(note, f"edition in fact base: {r['edition']}")
        if unit != "t":
            note = add_note(note, f"published in {unit}")
        row = so_row(
            year=int(r["year"]),
            stage=stage,
            material=r["material"],
            iso3=r["iso3"],
            basis="capacity" if r["metric"] == "capacity" else "production",
            vintage=vintage,
            tonnes=tonnes(r["value"], unit),
            tonnes_low=tonnes(r["value_low"], unit),
            tonnes_high=tonnes(r["value_high"], unit),
            qualifier=r["qualifier"],
            unit="t",
            source_id=r["source_id"],
            other_source_ids=r["other_source_ids"],
            flag=status_flag(r["flag"], r["year_status"]),
            method=r["method"],
            note=note,
        )
        key = tuple(row[k] for k in SO_KEY)
        first = out.get(key)
        if first is None:
            out[key] = row
            continue
        if first["tonnes"] == row["tonnes"] and first["source_id"] == row["source_id"]:
            raise ValueError(f"minerals/production.csv: duplicate row {key}")
        first["note"] = add_note(
            first["note"],
            f"same key also in the fact base: {r['value']} {unit} ({r['source_id']}: {r['note']})",
        )
    return list(out.values())


def mineral_rows(facts: FactBase) -> list[Row]:
    """stage_output rows of the other critical minerals (mass in tonnes, unit ``t``).

    The seed rows of mcs2025_minerals.csv must equal the production.csv rows with the same
    key (they are the same USGS figures); a seed row without a counterpart is kept.
    """
    rows = production_rows(facts)
    index = {tuple(r[k] for k in SO_KEY): r for r in rows}
    for r in facts.read("minerals", "mcs2025_minerals.csv"):
        key = (int(r["year"]), r["stage"], r["material"], r["iso3"], "production", r["edition"])
        t = tonnes(r["value"], r["unit"])
        hit = index.get(key)
        if hit is None:
            rows.append(
                so_row(
                    year=key[0], stage=key[1], material=key[2], iso3=key[3], vintage=key[5],
                    tonnes=t, unit="t", source_id=r["source_id"],
                    flag=status_flag(r["flag"], r["year_status"]), note=r["note"],
                )
            )
        elif Decimal(hit["tonnes"]) != Decimal(t) or hit["source_id"] != r["source_id"]:
            raise ValueError(
                f"minerals: mcs2025_minerals.csv {key} = {t} t ({r['source_id']}) differs "
                f"from production.csv ({hit['tonnes']} t, {hit['source_id']})"
            )
    return rows


def share_rows(facts: FactBase) -> list[Row]:
    """stage_shares rows: the published country shares of production.csv (pct / 100).

    A recycled share of consumption is not a country share of a stage; it goes to demand
    (:func:`recycled_share_rows`).
    """

    def tf(r: Row, row: Row) -> None:
        stage = STAGE_OF[(r["material"], r["stage"])]
        note = r["note"]
        if r["other_source_ids"]:
            note = add_note(note, f"also: {r['other_source_ids']}")
        row.update(
            stage=stage,
            stage_in_source=r["stage"],
            share=pct_to_frac(r["value"]),
            basis=f"share of world {r['stage']} output (minerals/production.csv, "
            f"edition {r['edition']})",
            flag=status_flag(r["flag"], r["year_status"]),
            note=note,
        )

    rows = [
        r
        for r in facts.read("minerals", "production.csv")
        if r["metric"] == "share" and r["stage"] != "recycling"
    ]
    for r in rows:
        if r["unit"] != "pct":
            raise ValueError(f"minerals/production.csv: share row not in pct: {r}")
    return copy_rows(rows, "stage_shares", transform=tf)


# --- prices -----------------------------------------------------------------------------------


def price_rows(facts: FactBase, others: list[Row]) -> list[Row]:
    """prices rows: annual prices of prices_annual.csv as published (unit kept, edition kept).

    A row that repeats a row of ``others`` (same date, annual average, material, market,
    value, unit and source) is left out and the kept row's note says so.
    """
    seen = {
        (o["date"], o["material"], o["market"], o["value"], o["unit"], o["source_id"]): o
        for o in others
        if o["period_type"] == "annual_avg"
    }

    def tf(r: Row, row: Row) -> None:
        row["period_type"] = "annual_avg"

    out: list[Row] = []
    for row in copy_rows(
        facts.read("minerals", "prices_annual.csv"), "prices", rename={"date": "year"},
        transform=tf,
    ):
        key = (row["date"], row["material"], row["market"], row["value"], row["unit"],
               row["source_id"])
        if key in seen:
            seen[key]["note"] = add_note(seen[key]["note"], "also in minerals/prices_annual.csv")
            continue
        out.append(row)
    return out


# --- consumption.csv: demand, trade, import_dependence ---------------------------------------


def _demand(r: Row) -> Row:
    """A demand row: the country name goes into ``region``."""
    return copy_rows([r], "demand", rename={"region": "country"})[0]


def _trade(r: Row) -> Row:
    """US (or Japanese) imports and exports: reporter = the country of the row."""
    metric = r["metric"]
    if metric in ("imports", "exports"):
        flow, partner = metric[:-1], "WLD"
        metric = metric_for(flow, r["unit"])
    elif metric == "imports_from_CHN":
        flow, partner, metric = "import", "CHN", metric_for("import", r["unit"])
    elif metric == "imports_from_CHN_change":
        flow, partner, metric = "import", "CHN", "imports change (pct)"
    else:
        raise ValueError(f"minerals/consumption.csv: no trade mapping for {metric}")
    row = copy_rows([r], "trade")[0]
    row.update(
        period=r["year"],
        reporter=r["iso3"],
        flow=flow,
        partner_iso3=partner,
        product=r["sector"] if r["sector"] != "all" else "",
        metric=metric,
    )
    return row


def _dependence(r: Row) -> Row:
    """Import shares (by supplier) and net import reliance (no supplier) as fractions."""
    supplier = r["metric"].removeprefix("import_share_") if r["metric"] != (
        "net_import_reliance") else ""
    basis = r["basis"]
    if r["metric"] == "net_import_reliance":
        basis = f"net import reliance, percent of apparent consumption ({basis})"
    if r["sector"] != "all":
        basis = f"{basis}; form: {r['sector']}"
    if r["unit"] != "pct":
        raise ValueError(f"minerals/consumption.csv: import share not in pct: {r}")
    row = copy_rows([r], "import_dependence")[0]
    row.update(
        importer_iso3=r["iso3"],
        period=r["year"],
        supplier_iso3=supplier,
        share=pct_to_frac(r["value"]),
        share_low=pct_to_frac(r["value_low"]),
        share_high=pct_to_frac(r["value_high"]),
        unit="fraction",
        basis=basis,
        note=add_note(r["note"], f"other sources: {r['other_source_ids']}")
        if r["other_source_ids"]
        else r["note"],
    )
    return row


TRADE_METRICS = ("imports", "exports", "imports_from_CHN", "imports_from_CHN_change")


def recycled_share_rows(facts: FactBase) -> list[Row]:
    """demand rows: shares of consumption met from recycled material (production.csv rows of
    metric share at stage recycling), as consumption.csv writes them for antimony."""

    def tf(r: Row, row: Row) -> None:
        row.update(
            metric="share_of_consumption",
            region=r["country"],
            sector="recycling",
            basis=f"share of consumption from recycled material (edition {r['edition']})",
            flag=status_flag(r["flag"], r["year_status"]),
        )

    rows = [
        r
        for r in facts.read("minerals", "production.csv")
        if r["metric"] == "share" and r["stage"] == "recycling"
    ]
    return copy_rows(rows, "demand", transform=tf)


def consumption_rows(facts: FactBase) -> dict[str, list[Row]]:
    """consumption.csv routed by metric: ``import_share_<ISO3>`` and ``net_import_reliance``
    to import_dependence; imports and exports to trade; the rest (consumption, stocks,
    end-use shares and ranks, demand, purchases, market value …) to demand."""
    out: dict[str, list[Row]] = {"demand": [], "trade": [], "import_dependence": []}
    for r in facts.read("minerals", "consumption.csv"):
        if "derived" in r["flag"] and not r["method"]:
            raise ValueError(f"minerals/consumption.csv: derived row without method: {r}")
        m = r["metric"]
        if m.startswith("import_share_") or m == "net_import_reliance":
            if r["method"]:
                raise ValueError(f"minerals/consumption.csv: method would be lost: {r}")
            out["import_dependence"].append(_dependence(r))
        elif m in TRADE_METRICS:
            out["trade"].append(_trade(r))
        else:
            out["demand"].append(_demand(r))
    out["demand"] += recycled_share_rows(facts)
    return out

