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
