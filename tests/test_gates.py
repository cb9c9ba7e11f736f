"""The CI gates of evals/gates.toml: the shipped suite (always), HotpotQA/2Wiki dev retrieval and
PolNeAR dev extraction (when ../shared/data is present). Every gate must hold, and must bite: a figure
more than 0.02 above its gate fails too, until the gate is raised."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evals.gates import ROOT, check, cli_flags, load_gates
from tests.conftest import need_shared

GATES = load_gates()


def _eval(suite: Path, gate: dict, tmp_path: Path) -> dict:
    env = {**os.environ, "WHOSAID_HOME": str(tmp_path / "home")}
    r = subprocess.run([sys.executable, "-m", "ui.cli", "eval", str(suite), "--out", str(tmp_path / "run"), "--json", "--no-progress",
                        *cli_flags(gate)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=3600)
    assert r.returncode in (0, 1), r.stderr
    figures = json.loads(r.stdout.strip().splitlines()[-1])
    assert (r.returncode == 0) == (check(gate, figures)[0] == []), (r.returncode, r.stderr)
    return figures


def _assert_gate(gate: dict, figures: dict) -> None:
    failed, loose = check(gate, figures)
    assert failed == [], failed
    assert loose == [], loose


def test_gates_file_is_well_formed() -> None:
    assert set(GATES) == {"samples", "desk", "hotpot", "polnear", "links"}
    assert GATES["samples"]["over"] == GATES["desk"]["over"] == {"misattributed": 0.0}
    for gate in GATES.values():
        assert all(0 <= v <= 1 for v in [*gate.get("under", {}).values(), *gate.get("over", {}).values()])


def test_a_gate_fails_below_and_reports_a_loose_threshold() -> None:
    gate = {"under": {"a": 0.5, "b.c": 0.7}, "over": {"misattributed": 0.0}}
    assert check(gate, {"a": 0.51, "b": {"c": 0.71}, "misattributed": 0.0}) == ([], [])
    failed, loose = check(gate, {"a": 0.49, "b": {"c": 0.95}, "misattributed": 0.01})
    assert failed == ["a 0.49 < 0.5", "misattributed 0.01 > 0.0"] and loose and "raise the gate" in loose[0]


@pytest.mark.slow
def test_shipped_suite_gate(tmp_path: Path) -> None:
    gate = GATES["samples"]
    figures = _eval(ROOT / gate["suite"], gate, tmp_path)
    assert figures["questions"] >= 191 and figures["factual:questions"] >= 40 and figures["adversarial:questions"] >= 40
    _assert_gate(gate, figures)


@pytest.mark.slow
@pytest.mark.parametrize("name,counted,least", [("desk", "attribution:questions", 17), ("links", "gold", 30)])
def test_desk_gates(name: str, counted: str, least: int, tmp_path: Path) -> None:
    """samples/desk's gates: the story's questions (across articles and over time, "before the Ledger
    reported it was cracked") and its hand-made gold links."""
    gate = GATES[name]
    figures = _eval(ROOT / gate["suite"], gate, tmp_path)
    assert figures[counted] >= least
    _assert_gate(gate, figures)


@pytest.mark.slow
def test_hotpot_dev_retrieval_gate(tmp_path: Path) -> None:
    gate = GATES["hotpot"]
    suite = need_shared((ROOT / gate["suite"]).resolve())
    _assert_gate(gate, _eval(suite, gate, tmp_path))


@pytest.mark.slow
def test_polnear_dev_extraction_gate(tmp_path: Path) -> None:
    gate = GATES["polnear"]
    need_shared(ROOT.parent / "shared" / "data" / "attribution" / "polnear_train_dev.jsonl")
    out = tmp_path / "attribution.json"
    r = subprocess.run([sys.executable, str(ROOT / gate["bench"]), "--direct", "--json", str(out)], capture_output=True, text=True,
                       cwd=ROOT, timeout=3600)
    assert r.returncode == 0, r.stderr
    _assert_gate(gate, json.loads(out.read_text()))
