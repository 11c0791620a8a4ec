"""The bottom-up rare-earth chain for 2024 and 2025: separation, metal and magnet output by
country, recycled feed, and final use by country — world totals as sums, never a published
share used as a divisor.

Every figure is either read from the fact base (company reports, USGS, MIIT quotas, industry
associations, customs) or an oreflow estimate with its equation, inputs and a low/high range in
``method``. The published China shares (IEA, USGS) are cross-checks only: ``oreflow data check``
prints them beside the shares that follow from these rows. Methods are documented in
docs/data.md (section *The balanced chain*).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .common import EST_SOURCE, EST_VINTAGE, FactBase, blank_row, share_range
from .composition import Mix
from .production import so_row
from .rows import Row, find_one, fnum, grouped, join_flags, join_ids, num, quality_flags

#: Data years of the balanced chain.
YEARS = (2024, 2025)
#: Oxide per metal of PrNd metal (Nd 1.1664, Pr as Pr6O11 1.2082, 75:25) [t REO / t metal].
PRND_OXIDE_PER_METAL = 0.75 * 1.1664 + 0.25 * 1.2082
#: Oxide per metal of Tb (Tb4O7) and Dy (Dy2O3) [t oxide / t metal].
TB_OXIDE_PER_METAL = 1.1762
DY_OXIDE_PER_METAL = 1.1477


@dataclass
class Fig:
    """A derived figure: central value, range, inputs and how it was made."""

    value: float
    low: float
    high: float
    sources: list[str] = field(default_factory=list)
    method: str = ""
    flags: list[str] = field(default_factory=list)
    basis: str = "estimate"

    @classmethod
    def of(cls, r: Row, col: str = "value") -> Fig:
        """A published figure (its range where the row gives one)."""
        v = num(r[col]) if r[col] else (num(r[f"{col}_low"]) + num(r[f"{col}_high"])) / 2
        lo = num(r[f"{col}_low"]) if r.get(f"{col}_low") else v
        hi = num(r[f"{col}_high"]) if r.get(f"{col}_high") else v
        return cls(v, lo, hi, [r["source_id"]], "", [r.get("flag", "")])


def fig_sum(figs: Iterable[Fig]) -> Fig:
    """Sum of independent figures: ranges add (a conservative, not a statistical, range)."""
    fs = list(figs)
    return Fig(sum(f.value for f in fs), sum(f.low for f in fs), sum(f.high for f in fs),
               [s for f in fs for s in f.sources], "", [x for f in fs for x in f.flags])


def rng(f: Fig) -> str:
    """' (range a-b)' text of a figure."""
    return "" if f.low == f.high else f" (range {grouped(fnum(f.low))}-{grouped(fnum(f.high))})"


def est_row(year: int, stage: str, iso3: str, f: Fig, *, unit: str, material: str = "REO",
            note: str = "", estimate: bool = True) -> Row:
    """A stage_output row for a figure (estimate unless read as published)."""
    return so_row(
        year=year, stage=stage, material=material, iso3=iso3, unit=unit, vintage=EST_VINTAGE,
        tonnes=fnum(f.value), tonnes_low=fnum(f.low) if f.low != f.value else "",
        tonnes_high=fnum(f.high) if f.high != f.value else "", estimate=estimate,
        source_id=EST_SOURCE if estimate else f.sources[0],
        other_source_ids=join_ids(f.sources if estimate else f.sources[1:]),
        flag=join_flags("derived", quality_flags(f.flags)), method=f.method, note=note,
    )


class Facts:
    """The fact-base files the balance reads, with lookups by year."""

    def __init__(self, facts: FactBase, flows: list[Row], fracs: dict[str, Mix]) -> None:
        self.down = facts.read("production", "downstream_output.csv")
        self.mine = facts.read("production", "mine_production.csv")
        self.usstat = facts.read("trade", "us_statistics.csv")
        self.ctrade = facts.read("trade", "china_trade.csv")
        self.magnets = facts.read("production", "magnet_production.csv")
        self.yields = facts.read("production", "process_yields.csv")
        self.use = facts.read("demand", "consumption.csv")
        self.dep = facts.read("demand", "import_dependence.csv")
        #: ore concentrate to separated oxides (low, central, high) [-]
        self.recovery = share_range(facts, "separation_recovery")
        self.flows = flows
        self.fracs = fracs

    def down_row(self, year: int | str, **conds: str) -> Row:
        """The downstream_output row of ``year`` matching ``conds`` (period prefix allowed)."""
        period = conds.pop("period", None)
        hits = [r for r in self.down if r["year"] == str(year)
                and all(r[k] == v for k, v in conds.items())
                and (period is None or r["period"].startswith(period))]
        if len(hits) != 1:
            raise LookupError(f"downstream_output {year} {conds} {period}: {len(hits)} rows")
        return hits[0]

    def has_down(self, year: int, **conds: str) -> bool:
        """Whether :meth:`down_row` would find a row."""
        try:
            self.down_row(year, **conds)
        except LookupError:
            return False
        return True

    def mined(self, year: int, iso3: str) -> Row:
        """USGS MCS2026 mine output row (t REO)."""
        return find_one(self.mine, edition="MCS2026", year=str(year), iso3=iso3, material="REO")

    def flows_into(self, year: int, importer: str) -> list[Row]:
        """Known mine-stage flows into ``importer`` in ``year``."""
        return [f for f in self.flows if f["year"] == year and f["importer"] == importer]


# --- separation --------------------------------------------------------------------------------


def china_separation(fx: Facts, year: int) -> tuple[Fig, dict[str, Fig]]:
    """China: smelting-separation quota (domestic ore) + imported feed x recovery + recycled."""
    quota_conds = {"stage": "separation", "iso3": "CHN", "company": "all quota holders",
                   "metric": "quota", "period": f"calendar {year}"}
    if fx.has_down(year, **quota_conds):
        quota = Fig.of(fx.down_row(year, **quota_conds))
        q_text = f"separation quota {grouped(fnum(quota.value))} t ({quota.sources[0]})"
    else:
        prev = Fig.of(fx.down_row(year - 1, **{**quota_conds, "period": f"calendar {year - 1}"}))
        mining = Fig.of(fx.mined(year, "CHN"), "tonnes")
        quota = Fig(prev.value, prev.value, mining.value, prev.sources + mining.sources,
                    flags=["estimate"])
        q_text = (f"separation quota not published for {year}: {year - 1} quota "
                  f"{grouped(fnum(prev.value))} t carried (up to the {year} mine figure "
                  f"{grouped(fnum(mining.value))} t, USGS estimate)")
    feed = fx.flows_into(year, "CHN")
    imports = sum(num(f["tonnes"]) for f in feed)
    r_lo, r_mid, r_hi = fx.recovery
    rec_conds = {"stage": "separation", "iso3": "CHN", "company": "all recyclers",
                 "material": "REO", "metric": "production", "period": f"calendar {year}"}
    if fx.has_down(year, **rec_conds):
        recycled = Fig.of(fx.down_row(year, **rec_conds))
        r_text = f"REO from NdFeB scrap {grouped(fnum(recycled.value))} t ({recycled.sources[0]})"
    else:
        prev_r = Fig.of(fx.down_row(year - 1, **{**rec_conds, "period": f"calendar {year - 1}"}))
        recycled = Fig(prev_r.value, 0.8 * prev_r.value, 1.2 * prev_r.value, prev_r.sources,
                       flags=["estimate", *prev_r.flags])
        r_text = (f"no {year} recycling figure: {year - 1} REO from scrap "
                  f"{grouped(fnum(prev_r.value))} t carried, +-20%")
    sources = [*quota.sources, *(f["source_id"] for f in feed), "miit_2016_gfzt_bbjja",
               *recycled.sources]
    total = Fig(
        quota.value + r_mid * imports + recycled.value,
        quota.low + r_lo * imports + recycled.low,
        quota.high + r_hi * imports + recycled.high,
        sources,
        f"CHN = Q + r x M + R: {q_text}, covering domestic ore only (separation of imported "
        f"feed is outside the quota); M = feed imported in {year} = "
        f"{grouped(fnum(imports))} t REO (flows table: "
        + ", ".join(f"{f['exporter']} {grouped(f['tonnes'])}" for f in feed)
        + f"); r = recovery {r_mid} (range {r_lo}-{r_hi}: MIIT 2016 minimums 92% x 96%, "
        f"miit_2016_gfzt_bbjja); {r_text}. Excludes undocumented (illegal) output, as the "
        "USGS mine figure does",
        [*quota.flags, *recycled.flags],
    )
    return total, {"quota": quota, "recycled": recycled, "imports": Fig(imports, imports,
                                                                        imports)}


def separation_rows(fx: Facts, year: int) -> tuple[list[Row], dict[str, float]]:
    """Separation output by country [t REO] and the figures later steps reuse."""
    out: list[Row] = []
    chn, parts = china_separation(fx, year)
    out.append(est_row(year, "separation", "CHN", chn, unit="t_REO",
                       note="quota-based; the IEA share is printed beside it by data check"))
    lyn = Fig.of(fx.down_row(year, stage="separation", iso3="MYS", material="REO",
                             metric="production", period=f"calendar {year}"))
    lyn.method = (f"Lynas Malaysia, sum of the four {year} quarters of finished REO production "
                  "(quarterly reports; see downstream_output)")
    out.append(est_row(year, "separation", "MYS", lyn, unit="t_REO", estimate=False))
    us = find_one(fx.usstat, edition="MCS2026", year=str(year),
                  item="production: compounds and metals (California + Utah)")
    usf = Fig.of(us)
    usf.method = "USGS MCS2026: US production of RE compounds and metals (t REO)"
    out.append(est_row(year, "separation", "USA", usf, unit="t_REO", estimate=False))
    r_lo, r_mid, r_hi = fx.recovery
    ind = Fig.of(fx.mined(year, "IND"), "tonnes")
    out.append(est_row(year, "separation", "IND", Fig(
        ind.value * r_mid, ind.value * r_lo, ind.value * r_hi, [*ind.sources, "pib_2015_irel"],
        f"IND = India's mine output {grouped(fnum(ind.value))} t REO (MCS2026) x recovery "
        f"{r_mid} ({r_lo}-{r_hi}): IREL cracks and separates Indian monazite at home; its "
        "separated output is not published", ind.flags), unit="t_REO"))
    silmet = fx.down_row(2025, stage="separation", iso3="EST", metric="capacity")
    cap = num(silmet["value"])
    out.append(est_row(year, "separation", "EST", Fig(
        0.5 * cap, 0.25 * cap, cap, [silmet["source_id"]],
        f"EST = Silmet (Neo Performance Materials) separation capacity {grouped(fnum(cap))} "
        "t/yr x utilisation 50% (25-100%): Neo publishes no plant output", [silmet["flag"]]),
        unit="t_REO"))
    rus = fx.down_row(2025, stage="separation", iso3="RUS", metric="production")
    out.append(est_row(year, "separation", "RUS", Fig(
        0.0, 0.0, 0.0, [rus["source_id"]],
        "RUS = 0: Solikamsk sells mixed RE compounds; separated oxides are planned for 2027 "
        f"({rus['source_id']})", [rus["flag"]]), unit="t_REO"))
    if year >= 2025:
        sol = fx.down_row(2025, stage="separation", iso3="FRA", metric="production")
        out.append(est_row(year, "separation", "FRA", Fig(
            500.0, 200.0, 900.0, [sol["source_id"]],
            "FRA = Solvay La Rochelle magnet-REE oxides: 'several hundred tonnes' in 2025, read "
            "as 200-900 t (midpoint 500)", [sol["flag"]]), unit="t_REO"))
    return out, {"recycled": parts["recycled"].value, "recycled_low": parts["recycled"].low,
                 "recycled_high": parts["recycled"].high}


def element_separation_rows(fx: Facts, year: int) -> list[Row]:
    """Element output at the separation stage where a producer reports it [t oxide]."""
    wanted = [("CHN", "all producers", "NdPr"), ("CHN", "all producers", "Dy"),
              ("CHN", "all producers", "Tb"), ("MYS", "Lynas Rare Earths", "NdPr")]
    out: list[Row] = []
    for iso3, company, mat in wanted:
        conds = {"stage": "separation", "iso3": iso3, "material": mat, "metric": "production",
                 "period": f"calendar {year}"}
        if company != "Lynas Rare Earths":
            conds["company"] = company
        if not fx.has_down(year, **conds):
            continue
        r = fx.down_row(year, **conds)
        f = Fig.of(r)
        f.method = f"reported {r['product']} ({r['period']})"
        out.append(est_row(year, "separation", iso3, f, unit="t_REO", material=mat,
                           estimate=False, note=f"t of {mat} oxide; {r['note']}"))
    out += heavy_zero_rows(fx, year)
    mp_conds = {"stage": "separation", "iso3": "USA", "material": "NdPr", "metric": "production",
                "period": f"calendar {year}"}
    if fx.has_down(year, **mp_conds):
        r = fx.down_row(year, **mp_conds)
        f = Fig.of(r)
        f.method = f"MP Materials separated NdPr oxide ({r['period']})"
        out.append(est_row(year, "separation", "USA", f, unit="t_REO", material="NdPr",
                           estimate=False, note="t of NdPr oxide"))
    return out


def heavy_zero_rows(fx: Facts, year: int) -> list[Row]:
    """Dy and Tb output of separators outside China that made none (or, for Lynas in 2025,
    the reported Dy+Tb split evenly as the source gives only the sum) [t oxide]."""
    lyn = fx.down_row(2025, stage="separation", iso3="MYS", material="Dy+Tb",
                      metric="production", period="2025-Q3")
    us = find_one(fx.usstat, edition="MCS2026 (Heavy)", year="2024",
                  item="net import reliance: heavy RE")
    est = fx.down_row(2025, stage="separation", iso3="EST", metric="capacity")
    out: list[Row] = []
    cases = [("USA", Fig(0.0, 0.0, 0.0, [us["source_id"]],
                         f"USA = 0: net import reliance for heavy rare earths "
                         f"{us['value']}% ({us['source_id']}): no separated Dy or Tb at home")),
             ("EST", Fig(0.0, 0.0, 0.0, [est["source_id"]],
                         f"EST = 0: Silmet separates light rare earths only ({est['product']})"))]
    if year == 2024:
        cases.append(("MYS", Fig(0.0, 0.0, 0.0, [lyn["source_id"]],
                                 "MYS = 0 in 2024: Lynas produced its first separated Dy in May "
                                 f"2025 and Tb in June 2025 ({lyn['source_id']})")))
    else:
        tot = fx.down_row(2025, stage="separation", iso3="MYS", material="Dy+Tb",
                          metric="production", period="calendar 2025")
        half = num(tot["value"]) / 2
        cases.append(("MYS", Fig(half, half, num(tot["value"]), [tot["source_id"]],
                                 f"MYS = Lynas' Dy+Tb output {tot['value']} t in 2025 (at least; "
                                 "Q3 + Q4) split evenly (the element split is not published)",
                                 [tot["flag"]])))
    for iso3, f in cases:
        for el in ("Dy", "Tb"):
            out.append(est_row(year, "separation", iso3, f, unit="t_REO", material=el,
                               note=f"t of {el} oxide"))
    return out


def recycling_rows(fx: Facts) -> list[Row]:
    """recycling: REO and elements recovered from scrap, as reported (China); the last
    reported year carried to the next data year as an estimate (+-20 %)."""
    out: list[Row] = []
    for r in fx.down:
        if r["company"] != "all recyclers" or r["metric"] != "production":
            continue
        row: Row = blank_row("recycling")
        row.update(year=int(r["year"]), stage="separation", iso3=r["iso3"],
                   material=r["material"], feed="NdFeB magnet scrap", tonnes=r["value"],
                   unit="t_REO", estimate=False, source_id=r["source_id"],
                   other_source_ids=r["other_source_ids"], flag=r["flag"],
                   note=f"{r['product']}; {r['note']}".strip("; "))
        out.append(row)
    last = max(r["year"] for r in out)
    for year in YEARS:
        if year > last:
            for r in [r for r in out if r["year"] == last]:
                n = dict(r)
                n.update(year=year, estimate=True, source_id=EST_SOURCE,
                         other_source_ids=join_ids([r["source_id"], r["other_source_ids"]]),
                         flag=join_flags("derived", r["flag"]),
                         method=f"no {year} figure: {last} value {grouped(r['tonnes'])} t "
                         f"carried ({r['source_id']}); the uncertainty is about +-20%")
                out.append(n)
    return out


def carried_element_rows(fx: Facts, year: int, ratio: float) -> list[Row]:
    """China's element output for a year without a report: the previous year's reported
    output x China's separation output year/previous year (an estimate)."""
    out: list[Row] = []
    for mat in ("NdPr", "Dy", "Tb"):
        conds = {"stage": "separation", "iso3": "CHN", "company": "all producers",
                 "material": mat, "metric": "production", "period": f"calendar {year - 1}"}
        if fx.has_down(year, **{**conds, "period": f"calendar {year}"}) or not fx.has_down(
                year - 1, **conds):
            continue
        r = fx.down_row(year - 1, **conds)
        v = num(r["value"]) * ratio
        f = Fig(v, 0.85 * v, 1.15 * v, [r["source_id"]],
                f"no {year} figure: {year - 1} output {grouped(r['value'])} t "
                f"({r['source_id']}) x China's separation output {year}/{year - 1} "
                f"{ratio:.3f}; +-15%", [r["flag"], "estimate"])
        out.append(est_row(year, "separation", "CHN", f, unit="t_REO", material=mat,
                           note=f"t of {mat} oxide"))
    return out


# --- metal and magnets -------------------------------------------------------------------------


def _capacity_fig(r: Row, share: tuple[float, float, float], what: str) -> Fig:
    cap = num(r["value"])
    lo, mid, hi = share
    return Fig(cap * mid, cap * lo, cap * hi, [r["source_id"]],
               f"{what}: capacity {grouped(r['value'])} t/yr ({r['company']}, {r['period']}) x "
               f"utilisation {mid:.0%} ({lo:.0%}-{hi:.0%}); no output published", [r["flag"]])


def magnet_figs(fx: Facts, year: int) -> dict[str, Fig]:
    """NdFeB output by country [t of magnets as produced (blanks in China's statistics)]."""
    figs: dict[str, Fig] = {}
    if year == 2024:
        chn = Fig.of(fx.down_row(2024, stage="magnet", iso3="CHN", company="all producers",
                                 product="NdFeB magnets", metric="production"))
        smm = find_one(fx.magnets, year="2024", iso3="CHN", metric="production")
        chn.low = num(smm["value"])
        chn.sources.append(smm["source_id"])
        chn.method = (f"CHN = {grouped(fnum(chn.value))} t NdFeB in 2024 (industry association "
                      f"via {chn.sources[0]}); low end SMM's May-2024 expectation "
                      f"{grouped(smm['value'])} t ({smm['source_id']})")
    else:
        r = fx.down_row(year, stage="magnet", iso3="CHN", metric="production",
                        period=f"{year} (annual statement)")
        chn = Fig.of(r)
        chn.high = 1.1 * chn.value
        chn.method = (f"CHN = 'more than {grouped(r['value'])} t' of NdFeB in {year} "
                      f"({r['source_id']}); range to +10%")
    figs["CHN"] = chn
    jp = find_one(fx.magnets, year="2020", iso3="JPN", metric="production")
    figs["JPN"] = Fig(num(jp["value"]), 0.8 * num(jp["value"]), 14000.0, [jp["source_id"]],
                      f"JPN = the last published national total, {grouped(jp['value'])} t "
                      f"(2020, {jp['source_id']}, itself an estimate), carried to {year}; range "
                      "-20% to the 2018 level of 'a little over 14,000 t'",
                      [jp["flag"], "estimate"])
    sev = fx.down_row(2018, stage="magnet", iso3="VNM", metric="capacity")
    figs["VNM"] = _capacity_fig(sev, (0.5, 0.75, 1.0), "VNM = Shin-Etsu Magnetic Materials "
                                "Vietnam")
    if year >= 2025:
        sgi = fx.down_row(2025, stage="magnet", iso3="VNM", metric="capacity")
        extra = _capacity_fig(sgi, (0.0, 0.25, 0.5), "plus SGI Vina, opened Feb 2025")
        figs["VNM"] = fig_sum([figs["VNM"], extra])
        figs["VNM"].method = (f"VNM = Shin-Etsu Vietnam capacity {grouped(sev['value'])} t/yr x "
                              "75% (50-100%) + SGI Vina capacity "
                              f"{grouped(sgi['value'])} t/yr (opened Feb 2025) x 25% (0-50%) "
                              "for its first year; no output published")
    sgi_k = fx.down_row(2023, stage="magnet", iso3="", metric="production")
    v = num(sgi_k["value"])
    figs["KOR"] = Fig(0.5 * v, 0.25 * v, v, [sgi_k["source_id"]],
                      f"KOR = Star Group's {grouped(sgi_k['value'])} t/yr from its Korean and "
                      "Chinese plants (2023) x Korean part 50% (25-100%): the split is not "
                      "published", [sgi_k["flag"]])
    vac = fx.down_row(2024, stage="magnet", iso3="DEU", metric="capacity")
    lo_c, hi_c = num(vac["value_low"]), num(vac["value_high"])
    figs["DEU"] = Fig(lo_c, 0.5 * lo_c, 0.5 * (lo_c + hi_c), [vac["source_id"],
                                                              *vac["other_source_ids"].split(";")],
                      f"DEU = VAC (Hanau): capacity class {grouped(fnum(lo_c))}-"
                      f"{grouped(fnum(hi_c))} t/yr ({vac['source_id']}, group capacity); taken "
                      f"as {grouped(fnum(lo_c))} t in Germany (range half of the class floor to "
                      "the class midpoint): no output published", [vac["flag"], "estimate"])
    nov = fx.down_row(2023, stage="magnet", iso3="USA", company="Noveon Magnetics",
                      metric="capacity")
    figs["USA"] = _capacity_fig(nov, (0.125, 0.25, 0.75), "USA = Noveon Magnetics")
    if year >= 2025:
        mp = fx.down_row(2025, stage="magnet", iso3="USA", metric="capacity",
                         company="MP Materials")
        extra = _capacity_fig(mp, (0.0, 0.1, 0.3), "plus MP Materials Fort Worth (trial 2025)")
        us = fig_sum([figs["USA"], extra])
        us.method = figs["USA"].method + "; " + extra.method
        figs["USA"] = us
    return figs


def metal_figs(fx: Facts, year: int, magnets: dict[str, Fig],
               re_content: float) -> dict[str, Fig]:
    """Metals and alloys for magnets by country [t REO-equivalent]."""
    figs: dict[str, Fig] = {}
    prnd = fx.down_row(2024, stage="metal", iso3="CHN", material="NdPr", metric="production")
    tb = fx.down_row(2024, stage="metal", iso3="CHN", material="Tb", metric="production")
    reo = num(prnd["value"]) * PRND_OXIDE_PER_METAL + num(tb["value"]) * TB_OXIDE_PER_METAL
    method = (f"CHN = PrNd metal {grouped(prnd['value'])} t x {PRND_OXIDE_PER_METAL:.4f} t "
              f"oxide/t (Nd2O3, Pr6O11 at 75:25) + Tb metal {grouped(tb['value'])} t x "
              f"{TB_OXIDE_PER_METAL} (2024, {prnd['source_id']}); Dy-Fe and other RE metals "
              "(La, Ce, mischmetal) are not in the data")
    if year == 2024:
        figs["CHN"] = Fig(reo, 0.95 * reo, 1.05 * reo, [prnd["source_id"]],
                          method + "; +-5% (market participants' estimate)",
                          [prnd["flag"], tb["flag"]])
    else:
        ratio = magnets["CHN"].value / num(fx.down_row(
            2024, stage="magnet", iso3="CHN", company="all producers", product="NdFeB magnets",
            metric="production")["value"])
        figs["CHN"] = Fig(reo * ratio, 0.9 * reo * ratio, 1.1 * reo * ratio,
                          [prnd["source_id"]],
                          f"no {year} figure: the 2024 value ({method}) x China's magnet output "
                          f"{year}/2024 = {ratio:.3f}; +-10%", [prnd["flag"], "estimate"])
    jp = magnets["JPN"]
    k = re_content * PRND_OXIDE_PER_METAL
    figs["JPN"] = Fig(0.75 * k * jp.value, 0.5 * k * jp.low, k * jp.high, jp.sources,
                      f"JPN = Japan's magnet output x RE content {re_content:.2%} x "
                      f"{PRND_OXIDE_PER_METAL:.4f} t oxide/t metal x share alloyed in Japan 75% "
                      "(50-100%): Japanese magnet makers alloy in-house from imported oxide "
                      "and metal; no metal output is published", ["estimate"])
    for iso3, company in (("VNM", "SEONG-AN"), ("GBR", "Less Common Metals")):
        caps = [r for r in fx.down if r["iso3"] == iso3 and r["stage"] == "metal"
                and r["company"].startswith(company) and r["metric"] == "capacity"
                and "projection" not in r["flag"]]
        if caps:
            f = _capacity_fig(caps[0], (0.25, 0.5, 1.0), f"{iso3} = {company} NdPr metal")
            figs[iso3] = Fig(f.value * PRND_OXIDE_PER_METAL, f.low * PRND_OXIDE_PER_METAL,
                             f.high * PRND_OXIDE_PER_METAL, f.sources,
                             f.method + f"; x {PRND_OXIDE_PER_METAL:.4f} t oxide/t metal",
                             f.flags)
    return figs


def magnet_metal_rows(fx: Facts, year: int, re_content: float) -> tuple[list[Row], dict[str, Fig],
                                                                        dict[str, Fig]]:
    """stage_output rows of the magnet and metal stages, and their figures."""
    mags = magnet_figs(fx, year)
    metals = metal_figs(fx, year, mags, re_content)
    rows = [est_row(year, "magnet", c, f, unit="t_product", material="NdFeB",
                    note="t of magnets as produced; China's statistic counts sintered blanks")
            for c, f in mags.items()]
    rows += [est_row(year, "metal", c, f, unit="t_REO",
                     note="t REO-equivalent of RE metals and alloys for magnets")
             for c, f in metals.items()]
    return rows, mags, metals


# --- the market-average magnet recipe ----------------------------------------------------------


@dataclass
class Recipe:
    """Market-average NdFeB content [t element / t magnet] with ranges, and how."""

    content: dict[str, Fig]
    note: str


def average_recipe(fx: Facts, mags: dict[str, Fig], pr_share: float, grades: list[Row],
                   apps: list[Row]) -> Recipe:
    """Dy and Tb from the separated supply, NdPr as RE total less them (see module docs)."""
    world = fig_sum(mags.values())
    ox = {"Dy": DY_OXIDE_PER_METAL, "Tb": TB_OXIDE_PER_METAL}
    share = {"Dy": (0.85, 0.95, 1.0), "Tb": (0.7, 0.85, 0.95)}
    content: dict[str, Fig] = {}
    for el in ("Dy", "Tb"):
        rep = Fig.of(fx.down_row(2024, stage="separation", iso3="CHN", company="all producers",
                                 material=el, metric="production", period="calendar 2024"))
        rec = Fig.of(fx.down_row(2024, stage="separation", iso3="CHN", company="all recyclers",
                                 material=el, metric="production", period="calendar 2024"))
        months = [num(r["value"]) for r in fx.down if r["year"] == "2024"
                  and r["iso3"] == "CHN" and r["material"] == el and r["metric"] == "production"
                  and r["period"] in ("2024-05", "2024-06")
                  and "derived" not in r.get("flag", "")]  # monthly figures, not the annualised
        smm = 12 * sum(months) / len(months)
        lo, mid, hi = share[el]
        supply = (smm, rep.value, rep.value + rec.value)
        content[el] = Fig(
            supply[1] * mid / ox[el] / world.value, supply[0] * lo / ox[el] / world.high,
            supply[2] * hi / ox[el] / world.low, [*rep.sources, *rec.sources, "smm_2024_07_mhree"],
            f"{el} = separated {el} oxide 2024 {grouped(fnum(rep.value))} t (China, "
            f"{rep.sources[0]}; range {grouped(fnum(supply[0]))} t = SMM May-June output "
            f"annualised, to {grouped(fnum(supply[2]))} t if that figure leaves out the "
            f"{grouped(fnum(rec.value))} t recovered from scrap) x share used in magnets "
            f"{mid:.0%} ({lo:.0%}-{hi:.0%}, assumption: other uses are small) / {ox[el]} t "
            f"oxide/t metal / world NdFeB output {grouped(fnum(world.value))} t "
            f"({grouped(fnum(world.low))}-{grouped(fnum(world.high))})",
            [*rep.flags, *rec.flags])
    total = next(r for r in grades if r["element"] == "RE_total" and r["grade"].startswith(
        "range over products"))
    re_tot = Fig(num(total["wt_pct"]) / 100, 0.29, 0.325,
                 [total["source_id"], "sdm_nd_price_trend"],
                 f"RE total {total['wt_pct']} wt% ({total['source_id']}; 29.0-32.5 wt%, "
                 "sdm_nd_price_trend)", [total["flag"]])
    heavy = fig_sum([content["Dy"], content["Tb"]])
    ndpr = Fig(re_tot.value - heavy.value, re_tot.low - heavy.high, re_tot.high - heavy.low,
               re_tot.sources, "")
    for el, part in (("Nd", 1 - pr_share), ("Pr", pr_share)):
        content[el] = Fig(ndpr.value * part, ndpr.low * part, ndpr.high * part, ndpr.sources,
                          f"{el} = (RE total - Dy - Tb) x {part:.3f} ({re_tot.method}; Pr/(Nd+Pr) "
                          f"{pr_share:.3f} of the Bayan Obo ore, the source of most of China's "
                          "NdPr)", re_tot.flags)
    cross = bottom_up_heavy(grades, apps)
    note = (f"market average derived from supply; bottom-up cross-check from application "
            f"shares and grade contents: Dy+Tb {cross[0]:.2%}-{cross[1]:.2%} (derived here "
            f"{heavy.value:.2%})")
    return Recipe(content, note)


#: Heavy-RE (Dy+Tb) content range by application for the bottom-up cross-check [wt%]: the
#: conventional content of the grade class used, reduced by grain-boundary diffusion (GBD
#: uses a third to a half of the Dy, ieee_electrification_2017_03); sources in grades.csv.
HEAVY_BY_USE: dict[str, tuple[float, float]] = {
    "EV traction motors": (1.0, 5.0),  # heat-resistant 3-10% Dy (nikkei_techon_2012_11_12)
    "other automotive uses": (0.6, 3.0),  # H grade: >=3% alloyed, <0.6% GBD (mainrich_gbd_case)
    "wind power": (2.0, 4.0),  # ~4% Dy (encyclopedia_pub_heim_2023)
    "air-conditioner drive motors": (1.0, 5.0),  # heat-resistant class, as EV
    "electronic and mechanical parts": (0.0, 0.6),  # N grades: ~0% Dy (mainrich_grades_explained)
}


def bottom_up_heavy(grades: list[Row], apps: list[Row]) -> tuple[float, float]:
    """Dy+Tb content range from China's 2023 application split x content by application."""
    del grades  # the contents above are read from it by hand (see the comments)
    lo = hi = 0.0
    named = 0.0
    for r in apps:
        if r["metric"] != "share_of_ndfeb_demand" or r["source_id"] != "jsnm_ree_2023":
            continue
        key = next((k for k in HEAVY_BY_USE if r["application"].startswith(k)), None)
        if key is None:
            continue
        s = num(r["value"]) / 100
        named += s
        lo += s * HEAVY_BY_USE[key][0] / 100
        hi += s * HEAVY_BY_USE[key][1] / 100
    rest = 1 - named  # unnamed uses: 0-3 % (industrial motors H/M grades to consumer N grades)
    return lo, hi + rest * 0.03


def recipe_rows(recipe: Recipe, year: int) -> list[Row]:
    """recipes rows of the market-average NdFeB."""
    out: list[Row] = []
    for el, f in recipe.content.items():
        row: Row = blank_row("recipes")
        row.update(product="NdFeB", grade=f"market average {year}", element=el,
                   wt_frac=fnum(f.value, 6), wt_frac_low=fnum(f.low, 6),
                   wt_frac_high=fnum(f.high, 6), source_id=EST_SOURCE,
                   flag=join_flags("derived", quality_flags(f.flags)),
                   note=f"{f.method}; sources {join_ids(f.sources)}; {recipe.note}")
        out.append(row)
    return out


# --- final use ---------------------------------------------------------------------------------


def use_row(year: int, stage: str, iso3: str, f: Fig, *, material: str, unit: str,
            basis: str, note: str = "") -> Row:
    """A consumption row (final use of a stage's product by a country)."""
    row: Row = blank_row("consumption")
    estimate = basis == "estimate"
    row.update(
        year=year, stage=stage, iso3=iso3, sector="all", material=material, vintage=EST_VINTAGE,
        tonnes=fnum(max(f.value, 0.0)), tonnes_low=fnum(max(f.low, 0.0)) if f.low != f.value
        else "", tonnes_high=fnum(max(f.high, 0.0)) if f.high != f.value else "", unit=unit,
        basis=basis, estimate=estimate, method=f.method,
        source_id=EST_SOURCE if estimate else f.sources[0],
        other_source_ids=join_ids(f.sources if estimate else f.sources[1:]),
        flag=join_flags("derived", quality_flags(f.flags)), note=note,
    )
    return row


def magnet_use(fx: Facts, mags: dict[str, Fig]) -> dict[str, Fig]:
    """2024 final use of NdFeB magnets by country [t of finished magnets]."""
    s_lo, s_mid, s_hi, scrap = scrap_share(fx)
    chn = mags["CHN"]
    finished = Fig(chn.value * (1 - s_mid), chn.low * (1 - s_hi), chn.high * (1 - s_lo),
                   [*chn.sources, scrap["source_id"]])
    exp = find_one(fx.ctrade, period="2024", flow="export", partner_iso3="WLD", unit="t",
                   product="RE permanent magnets and magnet alloys")
    exports = num(exp["value"])
    base = find_one(fx.use, year="2020", iso3="WLD", metric="imports_from_CHN")
    scale = exports / num(base["value"])
    dest = {r["iso3"]: r for r in fx.use if r["year"] == "2020" and r["stage"] == "magnet"
            and r["metric"] == "imports_from_CHN" and r["iso3"] != "WLD"}
    out: dict[str, Fig] = {}
    scaled: dict[str, Fig] = {}
    for iso3, r in dest.items():
        v = num(r["value"]) * scale
        scaled[iso3] = Fig(v, v, v, [r["source_id"], exp["source_id"]],
                           f"imports from China = {iso3}'s 2020 imports from China "
                           f"{grouped(r['value'])} t ({r['source_id']}) x China's magnet exports "
                           f"2024/2020 {grouped(exp['value'])}/{grouped(base['value'])} = "
                           f"{scale:.3f} (destination shares held at 2020)", [r["flag"]])
    eu = find_one(fx.dep, importer_iso3="EUU", period="2024", supplier_iso3="WLD")
    eu_t = num(eu["quantity"])
    for c in ("DEU", "ITA"):
        out[c] = scaled.pop(c)
        if c in mags:
            f = fig_sum([out[c], mags[c]])
            f.method = f"{c} = imports from China ({out[c].method}) + own output ({mags[c].method})"
            out[c] = f
    named_eu = out["DEU"].value + out["ITA"].value
    out["XEU"] = Fig(eu_t - named_eu, eu_t - named_eu, eu_t - named_eu, [eu["source_id"]],
                     f"rest of EU27 = EU use {grouped(eu['quantity'])} t (European Court of "
                     f"Auditors via {eu['source_id']}) - Germany and Italy above", [eu["flag"]])
    nikkei = find_one(fx.use, year="2024", iso3="USA", metric="imports_from_CHN")
    for c, f in scaled.items():
        own = mags.get(c)
        if own is not None:
            f = fig_sum([f, own])
            f.method = (f"{c} = imports from China ({scaled[c].method}) + own output "
                        f"({own.method})")
        if c == "USA":
            f.low = 12 * num(nikkei["value"]) + (own.low if own else 0.0)
            f.sources.append(nikkei["source_id"])
            f.method += (f"; low end: 'more than {nikkei['value']} t per month' in 2024 "
                         f"({nikkei['source_id']})")
        out[c] = f
    for c in ("KOR",):
        if c not in out and c in mags:
            out[c] = mags[c]
    jp = mags["JPN"]
    out["JPN"] = Fig(jp.value, jp.low, jp.high, jp.sources,
                     "JPN = Japan's own output (imports and exports of magnets not in the data)",
                     jp.flags)
    india = find_one(fx.use, year="c.2025", iso3="IND", metric="demand")
    v = num(india["value"])
    out["IND"] = Fig(v, 0.75 * v, 1.25 * v, [india["source_id"]],
                     f"IND = industry estimate of India's demand, 'about {grouped(india['value'])}"
                     f" t/yr' (c.2025, {india['source_id']}); +-25%", [india["flag"]])
    out["CHN"] = Fig(finished.value - exports, finished.low - exports, finished.high - exports,
                     [*finished.sources, exp["source_id"]],
                     f"CHN = China's output {grouped(fnum(chn.value))} t x (1 - process scrap "
                     f"{s_mid:.1%}, {s_lo:.0%}-{s_hi:.0%} of output, {scrap['source_id']}) - "
                     f"exports {grouped(exp['value'])} t (2024, {exp['source_id']}); imports of "
                     "magnets into China are small and left out", chn.flags)
    others = sum(f.value for c, f in mags.items() if c != "CHN")
    supply = finished.value + others
    named = sum(f.value for f in out.values())
    out["OTH"] = Fig(supply - named, 0.0, max(supply - named, 0.0) * 1.5,
                     [exp["source_id"]],
                     f"OTH = world finished magnets {grouped(fnum(supply))} t (China's after "
                     "scrap, others as published) - the countries above: China's exports to "
                     "destinations the data do not name", ["estimate"])
    return out


def oxide_use(fx: Facts, sep: dict[str, float], metal: dict[str, float]) -> dict[str, Fig]:
    """2024 final use of separated oxides and compounds (not turned into magnet metal) [t REO]."""
    out: dict[str, Fig] = {}
    jsnm = {r["material"]: r for r in fx.use if r["year"] == "2024" and r["iso3"] == "JPN"
            and r["metric"] == "consumption" and r["stage"] == "oxide"}
    tot, mag = jsnm["REE"], jsnm["NdPr"]
    v = num(tot["value"]) - num(mag["value"])
    out["JPN"] = Fig(v, 0.9 * v, 1.1 * v, [tot["source_id"]],
                     f"JPN = rare-earth product demand {grouped(tot['value'])} t - Nd and "
                     f"didymium for magnets {grouped(mag['value'])} t (2024, {tot['source_id']}); "
                     "product weight read as t REO (+-10%)", [tot["flag"]], basis="reported")
    us = find_one(fx.usstat, edition="MCS2026", year="2024",
                  item="apparent consumption: compounds and metals (production + imports - "
                       "exports)")
    u = num(us["value"])
    out["USA"] = Fig(u, u, u, [us["source_id"]],
                     f"USA = apparent consumption of RE compounds and metals {grouped(us['value'])}"
                     f" t REO (2024, {us['source_id']}); mostly catalysts", [us["flag"]],
                     basis="apparent")
    eu = next(r for r in fx.use if r["year"] == "2024" and r["iso3"] == "EUU"
              and r["metric"] == "apparent_consumption")
    de = next(r for r in fx.use if r["year"] == "2024" and r["iso3"] == "DEU"
              and r["metric"] == "imports" and r["stage"] == "oxide")
    eu_imp = next(r for r in fx.use if r["year"] == "2024" and r["iso3"] == "EUU"
                  and r["metric"] == "imports")
    eu_t = num(eu["value"]) + sep.get("EST", 0.0) + sep.get("FRA", 0.0)
    de_share = num(de["value"]) / num(eu_imp["value"])
    out["DEU"] = Fig(eu_t * de_share, 0.5 * eu_t * de_share, eu_t * de_share * 1.2,
                     [eu["source_id"], de["source_id"]],
                     f"DEU = EU apparent use x Germany's share of EU imports {de_share:.1%} "
                     f"({grouped(de['value'])} of {grouped(eu_imp['value'])} t, 2024)",
                     [de["flag"]])
    out["XEU"] = Fig(eu_t - out["DEU"].value, eu_t - out["DEU"].high, eu_t - out["DEU"].low,
                     [eu["source_id"]],
                     f"rest of EU27 = EU apparent use {grouped(fnum(eu_t))} t (net imports of RE "
                     f"metals and compounds {grouped(eu['value'])} t, product weight, "
                     f"{eu['source_id']}, + EU separation output) - Germany", [eu["flag"]])
    out["IND"] = Fig(sep["IND"], sep["IND"], sep["IND"], [],
                     "IND = India's separated output, used at home (IREL supplies Indian users)",
                     ["estimate"])
    cexp = find_one(fx.ctrade, period="2024", flow="export", partner_iso3="WLD", unit="t",
                    product="rare earths (GAC category: 17 elements, metals and compounds)")
    c_exp = num(cexp["value"])
    world_sep = sum(sep.values())
    metal_total = sum(metal.values())
    oxide_world = world_sep - metal_total
    chn = sep["CHN"] - metal["CHN"] - c_exp
    out["CHN"] = Fig(chn, 0.85 * chn, 1.15 * chn, [cexp["source_id"]],
                     f"CHN = China's separated output {grouped(fnum(sep['CHN']))} t - its metal "
                     f"plants' feed {grouped(fnum(metal['CHN']))} t REO-eq"
                     f" - China's exports of RE compounds and metals {grouped(cexp['value'])} t "
                     f"(2024, product weight read as t REO, {cexp['source_id']}); +-15%",
                     [cexp["flag"], "estimate"])
    named = sum(f.value for f in out.values())
    out["OTH"] = Fig(oxide_world - named, 0.0, max(oxide_world - named, 0.0) * 1.5, [],
                     f"OTH = world separated output {grouped(fnum(world_sep))} t - metal plants' "
                     f"feed {grouped(fnum(metal_total))} t - the countries above", ["estimate"])
    return out


# --- assembly ----------------------------------------------------------------------------------


@dataclass
class Balanced:
    """Rows of the balanced chain for the tables they belong to."""

    stage_output: list[Row]
    recycling: list[Row]
    consumption: list[Row]
    recipes: list[Row]


def _scaled(rows: list[Row], year: int, factor: float, what: str) -> list[Row]:
    """Next year's final use: this year's rows x ``factor`` (an estimate)."""
    out: list[Row] = []
    for r in rows:
        n = dict(r)
        n["year"] = year
        for col in ("tonnes", "tonnes_low", "tonnes_high"):
            if r[col] != "":
                n[col] = fnum(num(r[col]) * factor)
        n.update(basis="estimate", estimate=True, source_id=EST_SOURCE,
                 other_source_ids=join_ids([r["source_id"], r["other_source_ids"]],
                                           exclude=EST_SOURCE),
                 method=f"{year} = {year - 1} figure x {factor:.3f} ({what}; no {year} "
                 f"use by country in the data); {year - 1}: {r['method']}")
        out.append(n)
    return out


def build_balance(facts: FactBase, flows: list[Row], fracs: dict[str, Mix]) -> Balanced:
    """Separation, metal and magnet output, recycling, final use and the average recipe."""
    fx = Facts(facts, flows, fracs)
    bo = fracs["Bayan Obo, Inner Mongolia"]
    pr_share = bo["Pr"] / (bo["Nd"] + bo["Pr"])
    grades = facts.read("magnets", "grades.csv")
    apps = facts.read("magnets", "applications.csv")
    so: list[Row] = []
    uses: list[Row] = []
    recipes: list[Row] = []
    prev: dict[str, float] = {}
    chn_sep: dict[int, float] = {}
    for year in YEARS:
        sep_rows, _ = separation_rows(fx, year)
        chn_sep[year] = next(num(r["tonnes"]) for r in sep_rows if r["iso3"] == "CHN")
        so += sep_rows + element_separation_rows(fx, year)
        if year - 1 in chn_sep:
            so += carried_element_rows(fx, year, chn_sep[year] / chn_sep[year - 1])
        mags = magnet_figs(fx, year)
        recipe = average_recipe(fx, mags, pr_share, grades, apps)
        re_content = sum(f.value for f in recipe.content.values())
        mm_rows, mags, metals = magnet_metal_rows(fx, year, re_content)
        so += mm_rows
        sep = {r["iso3"]: num(r["tonnes"]) for r in sep_rows}
        finished = (mags["CHN"].value * (1 - scrap_share(fx)[1]) + sum(
            f.value for c, f in mags.items() if c != "CHN"))
        oxide_total = sum(sep.values()) - sum(f.value for f in metals.values())
        if year == YEARS[0]:
            recipes += recipe_rows(recipe, year)
            mu = magnet_use(fx, mags)
            ou = oxide_use(fx, sep, {c: f.value for c, f in metals.items()})
            year_uses = [use_row(year, "magnet", c, f, material="NdFeB", unit="t_product",
                                 basis=f.basis, note="t of finished magnets")
                         for c, f in mu.items()]
            year_uses += [use_row(year, "separation", c, f, material="REO", unit="t_REO",
                                  basis=f.basis,
                                  note="oxides and compounds used as such (catalysts, glass, "
                                       "polishing, phosphors, alloys), not via magnet metal")
                          for c, f in ou.items()]
            uses += year_uses
            prev = {"magnet": finished, "separation": oxide_total}
            base_uses = year_uses
        else:
            uses += _scaled([r for r in base_uses if r["stage"] == "magnet"], year,
                            finished / prev["magnet"], "world finished magnets "
                            f"{grouped(fnum(finished))}/{grouped(fnum(prev['magnet']))} t")
            uses += _scaled([r for r in base_uses if r["stage"] == "separation"], year,
                            oxide_total / prev["separation"], "world oxide use "
                            f"{grouped(fnum(oxide_total))}/{grouped(fnum(prev['separation']))} t")
    return Balanced(so, recycling_rows(fx), uses, recipes)


def scrap_share(fx: Facts) -> tuple[float, float, float, Row]:
    """Process scrap of magnet making as a share of output (low, mid, high) and its row."""
    r = next(r for r in fx.yields if r["metric"] == "loss" and "scrap" in r["material"])
    lo, hi = num(r["value_low"]) / 100, num(r["value_high"]) / 100
    return lo, (lo + hi) / 2, hi, r
