"""Policy tables (fact family ``policy``): policies, licensing, quotas."""

from __future__ import annotations

from .common import FactBase, copy_rows
from .rows import Row, norm_iso_list, number_row, pct_to_frac


def build_policies(facts: FactBase) -> list[Row]:
    """policies: de-minimis share as a fraction; code lists normalised."""

    def tf(r: Row, row: Row) -> None:
        row["de_minimis_share"] = pct_to_frac(r["de_minimis_value_share_pct"])
        row["actor_iso3"] = norm_iso_list(r["actor_iso3"])
        row["target_iso3"] = norm_iso_list(r["target_iso3"])

    return copy_rows(facts.read("policy", "policies.csv"), "policies", transform=tf)


def build_licensing(facts: FactBase) -> list[Row]:
    """licensing: licensing_stats.csv as is."""
    return copy_rows(facts.read("policy", "licensing_stats.csv"), "licensing")


def build_quotas(facts: FactBase) -> list[Row]:
    """quotas: china_quotas.csv as is, numbered."""
    return number_row(copy_rows(facts.read("policy", "china_quotas.csv"), "quotas"), "quotas")
