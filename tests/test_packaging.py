"""The built wheel ships every data file and the console script."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_every_data_file(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("oreflow-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data_dir = ROOT / "src" / "oreflow" / "data" / "tables"
    shipped = sorted(p.name for p in data_dir.iterdir() if p.suffix in {".csv", ".json"})
    assert "datapackage.json" in shipped
    missing = [n for n in shipped if f"oreflow/data/tables/{n}" not in names]
    assert missing == []
    assert "oreflow/py.typed" in names
    for sub in ("simulate/builtin", "examples/bom", "examples/sweeps", "plan"):
        folder = ROOT / "src" / "oreflow" / sub
        for p in folder.glob("*.yaml"):
            assert f"oreflow/{sub}/{p.name}" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "oreflow = oreflow.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
