"""Shared fixtures: a toy data package for store tests, the embedded store, a CLI runner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from oreflow.data.store import Store

TOY_PACKAGE = {
    "name": "toy",
    "version": "0.0.1",
    "resources": [
        {
            "name": "sources",
            "path": "sources.csv",
            "schema": {
                "fields": [
                    {"name": "source_id", "type": "string", "constraints": {"required": True}},
                    {"name": "publisher", "type": "string"},
                    {"name": "title", "type": "string"},
                    {"name": "edition", "type": "string"},
                    {"name": "url", "type": "string"},
                    {"name": "licence", "type": "string"},
                ],
                "primaryKey": ["source_id"],
            },
        },
        {
            "name": "countries",
            "path": "countries.csv",
            "schema": {
                "fields": [
                    {"name": "iso3", "type": "string", "constraints": {"required": True}},
                    {"name": "name", "type": "string"},
                    {"name": "governance_score", "type": "number",
                     "constraints": {"minimum": 0, "maximum": 10}},
                ],
                "primaryKey": ["iso3"],
            },
        },
        {
            "name": "materials",
            "path": "materials.csv",
            "schema": {
                "fields": [
                    {"name": "material", "type": "string", "constraints": {"required": True}},
                    {"name": "kind", "type": "string",
                     "constraints": {"enum": ["element", "group", "product", "aggregate"]}},
                ],
                "primaryKey": ["material"],
            },
        },
        {
            "name": "vintages",
            "path": "vintages.csv",
            "schema": {
                "fields": [
                    {"name": "vintage", "type": "string"},
                    {"name": "rank", "type": "integer"},
                ],
                "primaryKey": ["vintage"],
            },
        },
        {
            "name": "stage_output",
            "path": "stage_output.csv",
            "schema": {
                "fields": [
                    {"name": "year", "type": "integer", "constraints": {"required": True}},
                    {"name": "stage", "type": "string", "constraints": {
                        "required": True, "enum": ["mine", "separation", "metal", "magnet"]}},
                    {"name": "material", "type": "string"},
                    {"name": "iso3", "type": "string"},
                    {"name": "basis", "type": "string"},
                    {"name": "vintage", "type": "string"},
                    {"name": "tonnes", "type": "number", "constraints": {"minimum": 0}},
                    {"name": "estimate", "type": "boolean"},
                    {"name": "source_id", "type": "string", "constraints": {"required": True}},
                ],
                "primaryKey": ["year", "stage", "material", "iso3", "basis", "vintage"],
            },
        },
    ],
}

TOY_CSV = {
    "sources.csv": "source_id,publisher,title,edition,url,licence\n"
    "usgs_a,USGS,MCS A,2025,https://example.org/a,public domain\n"
    "usgs_b,USGS,MCS B,2026,https://example.org/b,public domain\n",
    "countries.csv": "iso3,name,governance_score\nCHN,China,6.1\nUSA,United States,2.0\n"
    "AUS,Australia,1.5\nWLD,World,\n",
    "materials.csv": "material,kind\nREO,aggregate\nNd,element\n",
    "vintages.csv": "vintage,rank\nA,1\nB,2\n",
    "stage_output.csv": "year,stage,material,iso3,basis,vintage,tonnes,estimate,source_id\n"
    "2024,mine,REO,CHN,production,A,270000,false,usgs_a\n"
    "2024,mine,REO,USA,production,A,45000,false,usgs_a\n"
    "2024,mine,REO,AUS,production,A,13000,false,usgs_a\n"
    "2024,mine,REO,CHN,production,B,270000,false,usgs_b\n"
    "2024,mine,REO,USA,production,B,45500,false,usgs_b\n"
    "2024,mine,REO,AUS,production,B,29000,false,usgs_b\n",
}


@pytest.fixture
def toy_store(tmp_path: Path) -> Store:
    """A store over a 3-country toy package with two vintages and an empty user layer."""
    emb = tmp_path / "embedded"
    emb.mkdir()
    (emb / "datapackage.json").write_text(json.dumps(TOY_PACKAGE))
    for name, text in TOY_CSV.items():
        (emb / name).write_text(text)
    return Store(embedded=emb, user=tmp_path / "user")


@pytest.fixture(scope="session")
def store() -> Store:
    """The embedded default dataset, with a throw-away user directory."""
    import tempfile

    return Store(user=Path(tempfile.mkdtemp(prefix="oreflow-test-user-")))


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point ``OREFLOW_DATA_DIR`` at a temporary directory for CLI tests."""
    d = tmp_path / "oreflow-user"
    monkeypatch.setenv("OREFLOW_DATA_DIR", str(d))
    Store.default.cache_clear()
    yield d
    Store.default.cache_clear()


@pytest.fixture
def toy_cli(toy_store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The toy store as every CLI verb's default store (Store.default and Catalog.default)."""
    from oreflow.data.catalog import Catalog

    monkeypatch.setattr(Store, "default", classmethod(lambda cls: toy_store))
    monkeypatch.setattr(Catalog, "default", classmethod(lambda cls: toy_store))
    return toy_store

