"""Every command has --help, and a flag reads as a flag ("--json", not "--json <bool>")."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ui.cli import app

COMMANDS = ["ingest", "ask", "list", "claims", "delete", "eval", "serve", "doctor"]


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]])
def test_help_shows_flags_as_flags(command: list[str]) -> None:
    r = CliRunner().invoke(app, [*command, "--help"])
    assert r.exit_code == 0, r.output
    assert "Usage: whosaid" in r.output and "<bool>" not in r.output
    for line in r.output.splitlines():
        if line.strip().startswith("--json"):
            assert line.split()[1] != "<bool>"
