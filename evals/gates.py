"""CI gates: thresholds in ``evals/gates.toml`` checked against measured figures. A gate bites: it
fails when a figure drops below its threshold, and it is reported as loose when a figure rises more
than :data:`SLACK` above it (then the threshold is raised, so the gate keeps biting)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GATES = ROOT / "evals" / "gates.toml"
SLACK = 0.02


def load_gates(path: Path = GATES) -> dict[str, dict[str, Any]]:
    return tomllib.loads(path.read_text())


def lookup(figures: dict[str, Any], name: str) -> float | None:
    """A figure by name; dotted names reach into nested JSON ("overlap.cue.f1")."""
    value: Any = figures
    if name in figures:
        return figures[name]
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value if isinstance(value, (int, float)) else None


def check(gate: dict[str, Any], figures: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(failures, loose gates) of one gate section against the measured figures."""
    failed, loose = [], []
    for name, want in gate.get("under", {}).items():
        got = lookup(figures, name)
        if got is None or got < want:
            failed.append(f"{name} {got} < {want}")
        elif got - want > SLACK + 1e-9:
            loose.append(f"{name} {got:.4f} is more than {SLACK} above its gate {want}: raise the gate")
    for name, want in gate.get("over", {}).items():
        got = lookup(figures, name)
        if got is None or got > want:
            failed.append(f"{name} {got} > {want}")
    return failed, loose


def cli_flags(gate: dict[str, Any]) -> list[str]:
    """The gate as ``whosaid eval`` flags."""
    flags = []
    for name, want in gate.get("under", {}).items():
        flags += ["--fail-under", f"{name}={want}"]
    for name, want in gate.get("over", {}).items():
        flags += ["--fail-over", f"{name}={want}"]
    return flags
