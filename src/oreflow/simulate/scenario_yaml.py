"""Where a scenario file's problems are: pydantic error locations followed through the YAML
nodes to a line and a field path, and ``source_ids`` checked against the data.

One concern (reporting problems in a scenario file with their lines), kept out of
:mod:`oreflow.simulate.scenario`, which defines what a scenario is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from oreflow.data.store import SOURCE_KEY_TABLES, Store, resolve_store
from oreflow.errors import did_you_mean
from oreflow.yamlio import key_paths

__all__ = ["check_source_ids", "locate"]


UNION_TAGS = frozenset(
    {
        "export_restriction", "production_outage", "demand_change", "stockpile_release",
        "price_floor", "tariff", "flow_redirect", "fixed", "uniform", "triangular", "normal",
        "lognormal", "beta",
        "function-before[coerce_number(), tagged-union[Fixed,Uniform,Triangular,"
        "Normal,LogNormal,Beta]]", "function-before[_parse_date(), date]",
    }
)  # fmt: skip
"""Keys of pydantic error locations that name a union member, not a field of the file."""


def locate(node: yaml.Node | None, loc: Sequence[int | str]) -> tuple[int | None, str]:
    """Follow a pydantic error location through YAML nodes; return line and field path."""
    line = None if node is None else node.start_mark.line + 1
    path: list[str] = []
    cur = node
    for part in loc:
        if isinstance(cur, yaml.MappingNode) and isinstance(part, str):
            found = None
            for k, v in cur.value:
                if isinstance(k, yaml.ScalarNode) and k.value == part:
                    found = (k, v)
                    break
            if found is None:
                # a union tag or a key the file does not have: keep the name, stay here
                if part not in UNION_TAGS:
                    path.append(part)
                continue
            path.append(part)
            cur = found[1]
            line = found[0].start_mark.line + 1
        elif isinstance(cur, yaml.SequenceNode) and isinstance(part, int):
            if part < len(cur.value):
                cur = cur.value[part]
                line = cur.start_mark.line + 1
            path.append(f"[{part}]")
        elif isinstance(part, int):
            path.append(f"[{part}]")
        elif part not in UNION_TAGS:
            path.append(part)
    text = ""
    for p in path:
        text += p if p.startswith("[") or not text else f".{p}"
    return line, text or "<root>"


def _source_keys(store: Store | None) -> set[str]:
    """Keys a ``source_ids`` entry may name: sources, policies and licensing rows."""
    st = resolve_store(store)
    names = set(st.tables())
    keys: set[str] = set()
    for _, table, column in SOURCE_KEY_TABLES:
        if table in names:
            keys |= set(st.table(table)[column].dropna().astype(str))
    return keys


def check_source_ids(data: Any, node: yaml.Node | None, source: str,
                      store: Store | None) -> list[str]:
    """One message per ``source_ids`` entry (anywhere in the file) that names no known key."""
    found = key_paths(data, "source_ids")
    if not found:
        return []
    keys = _source_keys(store)
    out = []
    for path, sid in found:
        if isinstance(sid, str) and sid in keys:
            continue
        line, field = locate(node, path)
        where = f"{source}:{line}" if line is not None else source
        hint = did_you_mean(str(sid), keys)
        out.append(f"  {where}: field {field}: unknown source '{sid}'{hint} (source_ids are "
                   "keys of the sources, policies or licensing tables)")
    return out
