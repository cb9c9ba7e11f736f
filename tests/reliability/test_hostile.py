"""Hostile files through a real `whosaid ingest`: every input is ingested or gets one clear error line
naming it; no traceback, no hang, bounded memory, and nothing already stored is lost."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.loaders import Loaded, load_file
from tests.conftest import SAMPLES
from tests.reliability.hostile import generate

CAP = 16 * 1024 * 1024


def _cli(home: Path, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    env = {**os.environ, "WHOSAID_HOME": str(home), "WHOSAID_INGEST__MAX_FILE_BYTES": str(CAP)}
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, env=env, timeout=timeout)


def _stored(home: Path) -> dict[str, str]:
    r = _cli(home, "list", "--json")
    return {row["id"]: row["origin"] for row in map(json.loads, r.stdout.splitlines())}


def _stored_elsewhere(path: Path, stored: dict[str, str]) -> bool:
    """A file whose every article repeats one stored from another file (same id, same content) is
    counted once, as unchanged."""
    found = [r for r in load_file(path) if isinstance(r, Loaded)]
    return bool(found) and all(r.article.id in stored for r in found)


def run_hostile(tmp_path: Path, count: int, big: bool) -> dict:
    home = tmp_path / "home"
    assert _cli(home, "ingest", str(SAMPLES), "--no-progress").returncode == 0
    before = _stored(home)
    folder = tmp_path / "hostile"
    kinds = generate(folder, count, big=big)
    r = _cli(home, "ingest", str(folder), "--json", "--no-progress")
    assert r.returncode in (0, 1), r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "Error:" not in r.stderr, r.stderr[-2000:]
    said = [line for line in r.stderr.splitlines() if line.strip()]
    lines = [line for line in said if not line.startswith(f"notice: {folder}/")]  # legacy encodings read, with a notice
    assert all(line.startswith(f"error: {folder}/") for line in lines), [x for x in lines if not x.startswith("error: ")][:5]
    report = json.loads(r.stdout)
    assert len(report["failed"]) == len(lines)
    stored = _stored(home)
    # nothing already stored is lost, and it is unchanged
    assert {k: before[k] for k in before} == {k: stored[k] for k in before}
    assert "unchanged 15" in _cli(home, "ingest", str(SAMPLES), "--no-progress").stdout
    # every input landed or has its own error line; every good one landed
    origins = {Path(o.split(":")[0]).name for o in stored.values()}
    failed = {Path(f["path"]).name for f in report["failed"]}
    unaccounted = [n for n in kinds if n not in origins and n not in failed and not _stored_elsewhere(folder / n, stored)]
    assert unaccounted == [], unaccounted[:10]
    assert all(n in origins for n, k in kinds.items() if k == "good")
    assert "oversize.txt" not in origins or not big
    print(f"RELIABILITY hostile tried={len(kinds)} passed={len(kinds)} lost=0 ingested={len(origins & set(kinds))} refused={len(failed)}")
    return {"inputs": len(kinds), "ingested": len(origins & set(kinds)), "refused": len(failed), "errors": len(lines)}


def test_hostile_files_fast(tmp_path: Path) -> None:
    stats = run_hostile(tmp_path, 150, big=False)
    assert stats["inputs"] == 150 and stats["refused"] > 50


@pytest.mark.soak
def test_hostile_files_soak(tmp_path: Path) -> None:
    stats = run_hostile(tmp_path, 1000, big=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"hostile soak: {stats}, peak RSS of a child {peak_mb:.0f} MB")
    assert stats["inputs"] == 1000 and peak_mb < 6000
