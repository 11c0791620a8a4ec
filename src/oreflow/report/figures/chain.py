"""Figures of the supply chain (answers of ``oreflow concentration`` and ``oreflow trace``):
stage shares by country as bars or a world map, and the Sankey of one country's material
from the mines through separation and metal to magnets.

Built from the :class:`~oreflow.answer.Answer` the chain verbs return; the Sankey also reads
the sourcing matrices of the same chain (:func:`trace_flows`), the data behind ``trace``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from oreflow.answer import Answer
from oreflow.errors import InputError, unknown

from ._style import PALETTE, SEQUENTIAL, STAGE_COLOURS, new_figure, rgba, set_meta

if TYPE_CHECKING:
    from oreflow.data.store import Store

__all__ = ["stage_share_bars", "stage_share_map", "stage_shares", "trace_flows",
           "trace_sankey"]

#: Countries below this share of every stage are summed into "other" in the bars [-].
OTHER_BELOW = 0.01


def stage_shares(answer: Answer) -> pd.DataFrame:
    """Country shares of each stage (stages × countries) [-] from a ``concentration``
    answer, whether its ``shares`` table has the stage as index or as a column."""
    if "shares" not in answer.tables:
        raise InputError("this answer has no 'shares' table: use the answer of "
                         "oreflow.chain.analysis.concentration")
    sh = answer.tables["shares"]
    if "stage" in sh.columns:
        sh = sh.set_index("stage")
    return sh.astype(float)


def _unit(answer: Answer, stage: str) -> str:
    conc = answer.tables.get("concentration")
    if conc is not None and "unit" in conc.columns:
        row = conc[conc["stage"] == stage]
        if not row.empty:
            return str(row["unit"].iloc[0]).replace("_", " ")
    return "t"


def _sources(answer: Answer, stages: list[str]) -> list[str]:
    by = answer.meta.get("sources") or {}
    ids: list[str] = []
    if isinstance(by, dict):
        for s in stages:
            ids += list(by.get(s, []))
    return ids or list(answer.sources)


def stage_share_bars(answer: Answer) -> go.Figure:
    """Stacked bars: each country's share of every stage [%], countries under 1% of every
    stage summed into "other"; one trace per country (largest first).

    Parameters
    ----------
    answer : oreflow.answer.Answer
        From :func:`oreflow.chain.analysis.concentration`.
    """
    sh = stage_shares(answer)
    sh = sh.loc[:, (sh > 0).any()]
    big = sh.columns[(sh >= OTHER_BELOW).any()]
    order = sh[big].max().sort_values(ascending=False).index.tolist()
    rest = sh.drop(columns=order).sum(axis=1)
    material = answer.meta.get("material", "")
    year = answer.meta.get("year", "")
    fig = new_figure(f"{material} {year}: share of each stage's output by country [%]")
    stages = [str(s) for s in sh.index]
    for k, c in enumerate(order + (["other"] if (rest > 0).any() else [])):
        vals = rest if c == "other" else sh[c]
        fig.add_trace(go.Bar(x=stages, y=(vals * 100).tolist(), name=str(c),
                             marker_color=PALETTE[k % len(PALETTE)] if c != "other"
                             else "#BBBBBB",
                             hovertemplate="%{x}: %{y:.1f}%<extra>" + str(c) + "</extra>"))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="share of world output [%]", range=[0, 100])
    return set_meta(fig, _sources(answer, stages), figure="stage_share_bars",
                    material=material, year=year, unit="%")


def stage_share_map(answer: Answer, stage: str = "mine") -> go.Figure:
    """World choropleth of each country's share of one stage's output [%].

    Plotly.js draws country outlines from a world map file it would fetch from the web;
    oreflow ships that file (:func:`oreflow.report.export.topojson_dir`), and
    :func:`~oreflow.report.export.write_figure`, the report and the dashboard hand it to
    Plotly, so the map draws offline.
    """
    sh = stage_shares(answer)
    if stage not in sh.index:
        raise unknown("stage", stage, [str(s) for s in sh.index])
    full = pd.Series(sh.loc[stage], dtype=float)
    keep = [c for c in full.index if full[c] > 0 and len(str(c)) == 3 and c != "OTH"]
    row = full.loc[keep]
    material = answer.meta.get("material", "")
    year = answer.meta.get("year", "")
    fig = new_figure(f"{material} {year}: share of world {stage} output by country [%]")
    fig.add_trace(go.Choropleth(
        locations=row.index.tolist(), z=(row * 100).tolist(), locationmode="ISO-3",
        colorscale=SEQUENTIAL, colorbar={"title": {"text": "%"}}, marker_line_width=0.3,
        hovertemplate="%{location}: %{z:.1f}%<extra></extra>"))
    fig.update_geos(projection_type="natural earth", projection_rotation_lon=0,
                    center={"lon": 0, "lat": 15}, lataxis_range=[-58, 85],
                    lonaxis_range=[-180, 180], showcountries=True, countrycolor="#CCCCCC",
                    showframe=False, showland=True, landcolor="#F2F2F2")
    return set_meta(fig, _sources(answer, [stage]), figure="stage_share_map",
                    material=material, year=year, stage=stage, unit="%")


def trace_flows(answer: Answer, *, store: Store | None = None,
                min_share: float = 0.005) -> pd.DataFrame:
    """Flows behind a ``trace`` answer, stage by stage, back to the mines.

    For the traced node (country c's use or output at stage s, ``T`` units a year) the
    material at each earlier stage is split over supplier countries with the chain's
    sourcing matrices: the amount at (s, c) came from (s-1, j) in share ``S_s[j, c]``
    (``use_sourcing`` for a final use), and so on back to the mine. Every stage's links sum
    to ``T``; the mine layer's totals are ``T`` times the ``origin`` shares of the answer.

    Returns
    -------
    pandas.DataFrame
        Columns ``source_stage``, ``source``, ``target_stage``, ``target``, ``value`` [the
        node's unit/yr]; countries under ``min_share`` of ``T`` at a stage are summed into
        ``other``.
    """
    from oreflow.chain.analysis import build_chain
    from oreflow.data.catalog import DEFAULT_YEAR

    m = answer.meta
    for key in ("material", "country", "stage", "node", "tonnes"):
        if key not in m:
            raise InputError(f"this answer has no '{key}': use the answer of "
                             "oreflow.chain.analysis.trace")
    chain = build_chain(str(m["material"]), int(m.get("year") or DEFAULT_YEAR), store=store)
    stages = list(chain.stages)
    stage, country, total = str(m["stage"]), str(m["country"]), float(m["tonnes"])
    countries = [str(c) for c in chain.countries]
    pos = stages.index(stage)
    amount = np.zeros(len(countries))
    rows: list[dict[str, Any]] = []
    dest = f"{country} ({'use' if m['node'] == 'use' else 'output'})"
    if m["node"] == "use":
        su = chain.use_sourcing(stage)[country].to_numpy(dtype=float)
        amount = total * su
        for j, c in enumerate(countries):
            if amount[j] > 0:
                rows.append({"source_stage": stage, "source": c, "target_stage": "destination",
                             "target": dest, "value": float(amount[j])})
    else:
        amount[countries.index(country)] = total
    for k in range(pos, 0, -1):
        smat = chain.sourcing(stages[k]).to_numpy(dtype=float)  # supplier j x user c
        flows = smat * amount[None, :]
        for j, cj in enumerate(countries):
            for u, cu in enumerate(countries):
                if flows[j, u] > 0:
                    rows.append({"source_stage": stages[k - 1], "source": cj,
                                 "target_stage": stages[k], "target": cu,
                                 "value": float(flows[j, u])})
        amount = flows.sum(axis=1)
    df = pd.DataFrame(rows, columns=["source_stage", "source", "target_stage", "target",
                                     "value"])
    if m["node"] != "use" and df.empty:
        return df
    # small countries at a stage -> "other"
    totals: dict[tuple[str, str], float] = {}
    for _, r in df.iterrows():
        totals[(r["source_stage"], r["source"])] = totals.get(
            (r["source_stage"], r["source"]), 0.0) + r["value"]
    small = {k for k, v in totals.items() if v < min_share * total}
    df["source"] = [("other" if (a, b) in small else b)
                    for a, b in zip(df["source_stage"], df["source"], strict=True)]
    df["target"] = [("other" if (a, b) in small else b)
                    for a, b in zip(df["target_stage"], df["target"], strict=True)]
    grouped = df.groupby(["source_stage", "source", "target_stage", "target"], sort=False,
                         as_index=False)["value"].sum()
    return pd.DataFrame(grouped)


def trace_sankey(answer: Answer, *, store: Store | None = None) -> go.Figure:
    """Sankey of a ``trace`` answer: mine → separation → metal → magnet → the country,
    link widths in the traced node's unit a year (:func:`trace_flows`)."""
    flows = trace_flows(answer, store=store)
    m = answer.meta
    unit = str(m.get("unit", "t")).replace("_", " ")
    keys = list(dict.fromkeys(
        list(zip(flows["source_stage"], flows["source"], strict=True))
        + list(zip(flows["target_stage"], flows["target"], strict=True))))
    index = {k: i for i, k in enumerate(keys)}
    labels = [c if s == "destination" else f"{c} {s}" for s, c in keys]
    colours = [STAGE_COLOURS.get(s, "#444444") for s, _ in keys]
    fig = new_figure(f"{m.get('material')} {m.get('year')}: where {m.get('country')}'s "
                     f"{m.get('stage')} {m.get('node')} comes from, by stage "
                     f"[{unit}/yr]")
    fig.add_trace(go.Sankey(
        arrangement="snap", valueformat=",.0f", valuesuffix=f" {unit}/yr",
        node={"label": labels, "color": colours, "pad": 12, "thickness": 14},
        link={"source": [index[k] for k in zip(flows["source_stage"], flows["source"],
                                                strict=True)],
              "target": [index[k] for k in zip(flows["target_stage"], flows["target"],
                                                strict=True)],
              "value": flows["value"].tolist(),
              "color": [rgba(STAGE_COLOURS.get(s, "#999999"), 0.35)
                        for s in flows["source_stage"]]}))
    parts = ("mine", "separation", "metal", "magnet", "flows")
    by = m.get("sources") or {}
    ids = [i for p in parts for i in (by.get(p, []) if isinstance(by, dict) else [])]
    return set_meta(fig, ids or answer.sources, figure="trace_sankey",
                    material=m.get("material"), country=m.get("country"), unit=unit)
