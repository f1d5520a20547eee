"""`python -m bot sandbox`, scripted through standard input as the README shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_scripted_sandbox_session_prints_the_bots_answers_and_exits_0(tmp_path, embedded_data_dir):
    script = (
        "\n".join(
            [
                "alice: hello everyone",
                "alice: /about",
                "bob joins voice",
                "carol: /no-such-command",
                "zed: hi",
                "this is not a line",
                "help",
            ]
        )
        + "\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DISCORD_TOKEN")}
    env.update(
        PYTHONPATH=str(ROOT),
        CONCLAVE_DATA_DIR=str(embedded_data_dir),
        CONCLAVE_CONFIG=str(tmp_path / "none.toml"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "sandbox"],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Sandbox ready" in out
    assert "[#general] Conclave: **Conclave**" in out
    assert "Database: PostgreSQL (embedded)" in out
    assert "* bob joined voice (Lounge)" in out
    assert "! /no-such-command is not a command here" in out
    assert "! nobody called 'zed' is in the server" in out
    assert "! I don't understand that line; type help" in out
    assert "alice: hello everyone" in out  # the help text
    assert out.rstrip().endswith("Sandbox closed.")
    assert "Traceback" not in result.stderr
