"""The dataset build (``python -m tools.dataset``) reproduces the committed tables from facts/.

The build runs in a subprocess from the repository root, as a developer runs it; it takes
well under a second.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / "facts"
TABLES = ROOT / "src" / "oreflow" / "data" / "tables"


def _build(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.dataset", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def _assert_same_tables(out: Path) -> None:
    built = sorted(p.name for p in out.iterdir())
    committed = sorted(p.name for p in TABLES.iterdir() if p.suffix in (".csv", ".json"))
    assert built == committed
    for name in committed:
        assert (out / name).read_bytes() == (TABLES / name).read_bytes(), name


def _copy_facts(tmp_path: Path) -> Path:
    src = tmp_path / "facts"
    shutil.copytree(FACTS, src, ignore=shutil.ignore_patterns("*.md"))
    return src


def test_build_reproduces_the_committed_tables(tmp_path: Path) -> None:
    out = tmp_path / "tables"
    res = _build("--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "self-check passed" in res.stdout
    _assert_same_tables(out)


def test_check_passes_on_the_committed_tables() -> None:
    res = _build("--check", "--out", str(TABLES))
    assert res.returncode == 0, res.stderr


def test_sources_files_merge_by_name(tmp_path: Path) -> None:
    """Any <family>/*_sources.csv joins; a repeated identical row is fine; resources.csv is
    not a sources file."""
    src = _copy_facts(tmp_path)
    ref = (src / "reference" / "sources.csv").read_text(encoding="utf-8").splitlines()
    # a second copy of two reference rows, in another family's sources file
    (src / "trade" / "extra_sources.csv").write_text("\n".join(ref[:3]) + "\n", encoding="utf-8")
    (src / "production" / "resources.csv").write_text("deposit,tonnes\nx,1\n", encoding="utf-8")
    out = tmp_path / "tables"
    res = _build("--src", str(src), "--out", str(out))
    assert res.returncode == 0, res.stderr
    _assert_same_tables(out)


def test_conflicting_source_fails_loudly(tmp_path: Path) -> None:
    src = _copy_facts(tmp_path)
    header, first = (src / "reference" / "sources.csv").read_text(encoding="utf-8").split("\n")[:2]
    sid = first.split(",", 1)[0]
    (src / "demand" / "sources.csv").write_text(
        f"{header}\n{sid},Someone else,Another title,2026,,\n", encoding="utf-8"
    )
    res = _build("--src", str(src), "--out", str(tmp_path / "tables"))
    assert res.returncode != 0
    assert f"source {sid!r} in demand/sources.csv differs" in res.stderr
