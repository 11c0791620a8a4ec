"""Scenario files: pydantic models, YAML loading with line numbers, built-ins."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from pydantic import ValidationError

from oreflow.simulate import Parameters, Scenario, ScenarioError, list_builtin
from oreflow.simulate.scenario import (
    Beta,
    ExportRestriction,
    Fixed,
    LogNormal,
    Normal,
    Triangular,
    Uniform,
    expand_materials,
    month_offset,
)

REQUIRED = {"china-2010-quota", "china-2025-04", "china-2025-10", "full-embargo", "myanmar-outage"}

GOOD = """\
name: test
start: 2025-01
horizon_months: 12
shocks:
  - kind: export_restriction
    materials: [Dy, NdFeB]
    stages: [separation, magnet]
    effective: 2025-03
    licence_lag_months: {dist: uniform, low: 1, high: 3}
    approval_rate: 0.5
  - kind: demand_change
    materials: [NdFeB]
    growth_per_year: 0.1
    start: 2025-01
"""


def test_required_builtins_present_and_valid():
    names = set(list_builtin())
    assert names >= REQUIRED
    for name in names:
        sc = Scenario.builtin(name)
        assert sc.name == name
        assert re.fullmatch(r"[0-9a-f]{16}", sc.hash())
        assert sc.description and sc.title


def test_builtin_unknown_name():
    with pytest.raises(ScenarioError, match="unknown built-in"):
        Scenario.builtin("no-such-scenario")


def test_parse_and_roundtrip():
    sc = Scenario.parse_yaml(GOOD)
    assert sc.horizon_months == 12
    r = sc.shocks[0]
    assert isinstance(r, ExportRestriction)
    assert r.all_destinations
    assert isinstance(r.approval_rate, Fixed) and r.approval_rate.value == 0.5
    again = Scenario.parse_yaml(sc.to_yaml())
    assert again == sc
    assert again.hash() == sc.hash()


def test_hash_changes_with_content():
    a = Scenario.parse_yaml(GOOD)
    b = Scenario.parse_yaml(GOOD.replace("approval_rate: 0.5", "approval_rate: 0.4"))
    assert a.hash() != b.hash()


def test_frozen():
    sc = Scenario.parse_yaml(GOOD)
    with pytest.raises(ValidationError):
        sc.horizon_months = 3  # type: ignore[misc]


def test_error_names_file_line_and_field(tmp_path):
    bad = GOOD.replace("approval_rate: 0.5", "approval_rate: lots")
    p = tmp_path / "bad.yaml"
    p.write_text(bad)
    with pytest.raises(ScenarioError) as ei:
        Scenario.from_yaml(p)
    msg = str(ei.value)
    line = bad.splitlines().index("    approval_rate: lots") + 1
    assert f"bad.yaml:{line}" in msg
    assert "shocks[0].approval_rate" in msg


def test_unknown_key_rejected_with_line(tmp_path):
    bad = GOOD.replace("    approval_rate: 0.5\n", "    approval_rate: 0.5\n    aproval: 1\n")
    p = tmp_path / "typo.yaml"
    p.write_text(bad)
    with pytest.raises(ScenarioError) as ei:
        Scenario.from_yaml(p)
    line = bad.splitlines().index("    aproval: 1") + 1
    assert f"typo.yaml:{line}" in str(ei.value)
    assert "aproval" in str(ei.value)


def test_yaml_syntax_error_has_line():
    with pytest.raises(ScenarioError, match=r"<string>:\d+: not valid YAML"):
        Scenario.parse_yaml("name: x\nstart: [2025\n")


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("materials: [Xx]", "unknown material"),
        ("effective: 2025-13", "not a date"),
        ("targets: []", "targets must not be empty"),
        ("stages: [magnet]", "no mine/separation/metal stage"),
    ],
)
def test_invalid_restrictions(snippet, message):
    key = snippet.split(":")[0]
    lines = [ln for ln in GOOD.splitlines() if not ln.strip().startswith(key + ":")]
    i = lines.index("  - kind: export_restriction")
    lines.insert(i + 1, "    " + snippet)
    text = "\n".join(lines) + "\n"
    if key == "effective":
        text = text.replace("    effective: 2025-03\n", "")
    with pytest.raises(ScenarioError, match=message):
        Scenario.parse_yaml(text)


def test_step_must_divide_horizon():
    with pytest.raises(ScenarioError, match="step_months must divide"):
        Scenario.parse_yaml("name: x\nstart: 2025-01\nhorizon_months: 10\nstep_months: 3\n")


def test_one_controller_per_scenario():
    text = GOOD.replace(
        "  - kind: export_restriction\n", "  - kind: export_restriction\n    controller: USA\n"
    )
    with pytest.raises(ScenarioError, match="one controller"):
        Scenario.parse_yaml(text)


def test_suspended_before_effect_is_allowed():
    text = GOOD.replace(
        "    effective: 2025-03\n",
        "    announced: 2025-02\n    effective: 2025-04\n    end: 2025-03\n",
    )
    sc = Scenario.parse_yaml(text)
    ann, eff, end = sc.restrictions()[0].window(sc.start)
    assert ann < end < eff


def test_distributions_sample_and_mean():
    rng = np.random.default_rng(0)
    dists = [
        Fixed(value=2.0),
        Uniform(dist="uniform", low=1.0, high=3.0),
        Triangular(dist="triangular", low=0.0, mode=1.0, high=2.0),
        Normal.model_validate({"dist": "normal", "mean": 2.0, "sd": 0.1}),
        LogNormal(dist="lognormal", median=2.0, sigma=0.01),
        Beta(dist="beta", a=2.0, b=2.0, low=1.0, high=3.0),
    ]
    for d in dists:
        x = d.sample(4000, rng=rng)
        assert x.shape == (4000,)
        assert abs(x.mean() - d.mean()) < 0.05
    clipped = Normal.model_validate({"dist": "normal", "mean": 0.0, "sd": 1.0, "low": 0.0})
    assert clipped.sample(100, rng=rng).min() >= 0.0


def test_parameter_fields_documented():
    for name, f in Parameters.model_fields.items():
        assert f.description, f"Parameters.{name} lacks a docstring"
    for name, f in Scenario.model_fields.items():
        assert f.description, f"Scenario.{name} lacks a docstring"
    for name, f in ExportRestriction.model_fields.items():
        assert f.description or name == "kind", f"ExportRestriction.{name} lacks a docstring"


def test_month_offset_and_groups():
    assert month_offset(dt.date(2025, 3, 1), dt.date(2025, 1, 1)) == 2.0
    assert month_offset(dt.date(2024, 12, 1), dt.date(2025, 1, 1)) == -1.0
    assert expand_materials(["HREE"])[0] == "Y"
    assert "NdFeB" in expand_materials(["all"])


def test_bloc_targets_expand_through_the_store(store) -> None:
    """A restriction aimed at a bloc name reaches every member country, read from the store's
    blocs table (a package-path read once returned no members without any error)."""
    from oreflow.simulate.compile import resolve_regions

    sc = Scenario.parse_yaml(
        "name: eu\nstart: 2025-01\nshocks:\n"
        "  - {kind: export_restriction, materials: [Dy], targets: [EU27], effective: 2025-02}\n")
    regions = resolve_regions(sc, store=store)
    assert regions.controller == "CHN"
    assert {"DEU", "FRA", "ITA"} <= set(regions.targets)
    # the 27 members plus XEU, the node standing for members without a figure of their own
    assert len(regions.targets) == 28 and "XEU" in regions.targets


# --------------------------------------------------------------------------------------
# bad input (issue 11): the safe loader, finite bounded numbers, hints, sources


def _one_error(text: str) -> str:
    with pytest.raises(ScenarioError) as err:
        Scenario.parse_yaml(text, source="s.yaml")
    return str(err.value)


def _bomb(key: str = "x") -> str:
    """A 1 KB 'billion laughs': nine levels of ten aliases each expand to 10^9 strings."""
    text = f"name: bomb\nstart: 2025-01\n{key}:\n  - &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        text += f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n"
    return text


def test_alias_bomb_is_rejected_at_once():
    import time

    t0 = time.perf_counter()
    msg = _one_error(_bomb("shocks"))
    assert time.perf_counter() - t0 < 10  # a hang guard, not a speed target
    assert msg.startswith("s.yaml:") and "aliases" in msg and "write the values out" in msg


def test_deep_nesting_is_an_input_error_not_a_recursion_error():
    msg = _one_error("name: x\nstart: 2025-01\nshocks: " + "[" * 5000 + "]" * 5000 + "\n")
    assert re.search(r"s\.yaml:3: lists and mappings nested more than \d+ deep", msg)
    msg = _one_error("name: x\nstart: 2025-01\nparameters:\n" + "".join(
        "  " * (i + 1) + f"k{i}:\n" for i in range(200)) + "  " * 201 + "v: 1\n")
    assert "nested more than" in msg


def test_repeated_key_is_rejected_with_both_lines():
    msg = _one_error(GOOD + "horizon_months: 24\n")
    assert msg == "s.yaml:15: key 'horizon_months' appears more than once (first on line 3)"
    nested = GOOD.replace("    approval_rate: 0.5\n",
                          "    approval_rate: 0.5\n    approval_rate: 0.9\n")
    assert "s.yaml:11: key 'approval_rate' appears more than once" in _one_error(nested)


def test_too_large_text_is_rejected():
    assert "larger than 1,000,000 characters" in _one_error(GOOD + "#" * 1_000_001)


@pytest.mark.parametrize(
    "old, new, field, words",
    [
        ("approval_rate: 0.5", "approval_rate: .nan", "shocks[0].approval_rate", "finite"),
        ("approval_rate: 0.5", "approval_rate: .inf", "shocks[0].approval_rate", "finite"),
        ("approval_rate: 0.5", "approval_rate: 1e308", "shocks[0].approval_rate", "1e+12"),
        ("approval_rate: 0.5", "approval_rate: {dist: normal, mean: 0.5, sd: .nan}",
         "shocks[0].approval_rate", "finite"),
        ("approval_rate: 0.5", "approval_rate: .nan\n    duration_months: .inf",
         "shocks[0].duration_months", "finite"),
        ("approval_rate: 0.5", "approval_rate: 0.5\n    duration_months: 1e308",
         "shocks[0].duration_months", "100 years"),
        ("{dist: uniform, low: 1, high: 3}", "{dist: uniform, low: 1, high: 1e9}",
         "shocks[0].licence_lag_months", "100 years"),
        ("approval_rate: 0.5", "quota_t: .inf\n    end: 2026-01", "shocks[0].quota_t",
         "finite"),
        ("approval_rate: 0.5", "quota_t: 1e11\n    end: 2026-01", "shocks[0].quota_t",
         "world rare-earth output"),
        ("growth_per_year: 0.1", "growth_per_year: -1", "shocks[1].growth_per_year",
         "above -1"),
        ("growth_per_year: 0.1", "growth_per_year: {dist: uniform, low: -2, high: 0}",
         "shocks[1].growth_per_year", "above -1"),
        ("growth_per_year: 0.1", "growth_per_year: .nan", "shocks[1].growth_per_year",
         "finite"),
        ("growth_per_year: 0.1", "level: -1.5", "shocks[1].level", "more than 100%"),
        ("horizon_months: 12", "horizon_months: .inf", "horizon_months", "finite"),
    ],
)
def test_numbers_must_be_finite_and_sane(old, new, field, words):
    msg = _one_error(GOOD.replace(old, new))
    line = next(x for x in msg.splitlines() if f"field {field}" in x)
    assert re.match(r"\s+s\.yaml:\d+: field ", line) and words in line, msg


@pytest.mark.parametrize(
    "shock, field, words",
    [
        ("kind: production_outage\n    country: MMR\n    stage: mine\n    start: 2025-02\n"
         "    share: 1.5", "shocks[2].share", "a share"),
        ("kind: production_outage\n    country: MMR\n    stage: mine\n    start: 2025-02\n"
         "    share: 0.5\n    recovery_months: 1e308", "shocks[2].recovery_months",
         "100 years"),
        ("kind: stockpile_release\n    materials: [Dy]\n    start: 2025-02\n"
         "    duration_months: 3\n    tonnes: 1e308", "shocks[2].tonnes", "world"),
        ("kind: price_floor\n    materials: [Dy]\n    start: 2025-02\n    usd_per_kg: .inf",
         "shocks[2].usd_per_kg", "finite"),
        ("kind: tariff\n    materials: [Dy]\n    start: 2025-02\n    rate: .nan",
         "shocks[2].rate", "finite"),
        ("kind: tariff\n    materials: [Dy]\n    start: 2025-02\n    rate: 1e300",
         "shocks[2].rate", "prohibitive many times over"),
    ],
)
def test_shock_numbers_are_bounded(shock, field, words):
    msg = _one_error(GOOD + f"  - {shock}\n")
    assert f"field {field}:" in msg and words in msg, msg


@pytest.mark.parametrize(
    "param, words",
    [
        ("leakage: {dist: uniform, low: 0, high: 2}", "a share"),
        ("leakage: .nan", "finite"),
        ("user_cover_months: 1e9", "100 years"),
        ("supply_elasticity: -0.5", "cannot be negative"),
        ("recovery_tolerance: .nan", "finite"),
    ],
)
def test_parameters_are_bounded(param, words):
    name = param.split(":")[0]
    msg = _one_error(GOOD + f"parameters:\n  {param}\n")
    assert f"field parameters.{name}" in msg and words in msg, msg


def test_an_impossible_date_names_its_field():
    msg = _one_error(GOOD.replace("start: 2025-01\n", "start: 2025-02-30\n", 1))
    assert re.search(r"s\.yaml:2: field start: not a date .*'2025-02-30'", msg), msg
    msg = _one_error(GOOD.replace("effective: 2025-03", "effective: 2025-13"))
    assert "field shocks[0].effective: not a date" in msg
    msg = _one_error(GOOD.replace("effective: 2025-03", "effective: 99999"))
    assert "field shocks[0].effective: not a date" in msg


@pytest.mark.parametrize(
    "old, new, field, hint",
    [
        ("horizon_months: 12", "horizon: 12", "horizon", "horizon_months"),
        ("approval_rate: 0.5", "approval_rate: 0.5\n    duration: 6",
         "shocks[0].duration", "duration_months"),
        ("growth_per_year: 0.1", "growth_per_yr: 0.1", "shocks[1].growth_per_yr",
         "growth_per_year"),
        ("{dist: uniform, low: 1, high: 3}", "{dist: uniform, low: 1, hgh: 3}",
         "shocks[0].licence_lag_months.hgh", "high"),
    ],
)
def test_unknown_field_suggests_the_nearest(old, new, field, hint):
    msg = _one_error(GOOD.replace(old, new))
    assert f"field {field}: unknown field '{field.split('.')[-1].split(']')[-1]}' " \
           f"(did you mean '{hint}'?)" in msg, msg
    msg = _one_error(GOOD + "parameters:\n  lekage: 0.2\n")
    assert "s.yaml:16: field parameters.lekage: unknown field 'lekage' (did you mean " \
           "'leakage'?)" in msg, msg


def test_source_ids_must_name_known_sources(store):
    good = GOOD + "source_ids: [usgs_mcs2026_ree]\n"
    assert Scenario.parse_yaml(good, store=store).source_ids == ["usgs_mcs2026_ree"]
    msg = _one_error(GOOD + "source_ids: [usgs_mcs2026_ree, usgs_mcs2026_reee]\n")
    assert ("s.yaml:15: field source_ids[1]: unknown source 'usgs_mcs2026_reee' (did you "
            "mean 'usgs_mcs2026_ree'?)") in msg, msg
    shock = GOOD.replace("    approval_rate: 0.5\n",
                         "    approval_rate: 0.5\n    source_ids: [cn_2025_no18, no_such]\n")
    msg = _one_error(shock)
    assert "s.yaml:11: field shocks[0].source_ids[1]: unknown source 'no_such'" in msg, msg
    assert "cn_2025_no18" not in msg  # a policies key is a valid source id


def test_file_problems_are_input_errors_naming_the_file(tmp_path):
    from oreflow.errors import InputError

    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(ScenarioError, match=r"dir\.yaml: is a directory, not a scenario"):
        Scenario.load(tmp_path / "dir.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(GOOD.encode() + "description: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ScenarioError, match=r"latin1\.yaml:15: not UTF-8 text") as err:
        Scenario.from_yaml(bad)
    assert isinstance(err.value, InputError) and err.value.exit_code == 2
    big = tmp_path / "big.yaml"
    big.write_text(GOOD + "#" * 1_100_000)
    with pytest.raises(ScenarioError, match=r"big\.yaml: scenario file is [\d.]+ MiB, more than"):
        Scenario.load(big)
    with pytest.raises(ScenarioError, match="no such file"):
        Scenario.load(tmp_path / "nope.yaml")


def test_range_checks_refuse_nan_even_when_built_without_validation():
    from oreflow.uncertain import check_within

    nan_share = Fixed.model_construct(dist="fixed", value=float("nan"), low=None, high=None)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\] \(a share\)"):
        check_within(nan_share, 0.0, 1.0, reason="a share")
    with pytest.raises(ValidationError, match="overflow"):
        Uniform(dist="uniform", low=0.0, high=1e300)
    with pytest.raises(ValidationError, match="finite"):
        Normal(dist="normal", mean=0.0, sd=float("inf"))


def test_scenario_and_answer_have_notebook_views() -> None:
    from oreflow.chain.analysis import concentration

    sc = Scenario.builtin("china-2025-04")
    h = sc._repr_html_()
    assert sc.name in h and sc.hash() in h and "no18-2025" in h and "<table>" in h
    a = concentration("Dy")._repr_html_()
    assert "<table" in a and "concentration" in a and "sources" in a
