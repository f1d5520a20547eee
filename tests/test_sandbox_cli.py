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


def _sandbox(script: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DISCORD_TOKEN")}
    env.update(
        PYTHONPATH=str(ROOT),
        CONCLAVE_DATA_DIR=str(tmp_path / "data"),
        CONCLAVE_CONFIG=str(tmp_path / "none.toml"),
    )
    return subprocess.run(
        [sys.executable, "-m", "bot", "sandbox"],
        input="\n".join(script) + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


def test_a_newcomer_can_use_forms_autocomplete_buttons_and_menus_and_bad_lines_get_one_line(tmp_path):
    result = _sandbox(
        [
            "wait abc",
            "alice: hello everyone",
            "bob: /leaderboard",
            "bob clicks Next",
            "mod: /mod case show number:abc",
            "alice: /stats server period:365",
            "mod: /event create",
            'mod fills title="Game night" start="tomorrow 20:00"',
            "mod: /event create",
            "mod fills",
            "Game show",
            "",
            "in 2 days 21:00",
            "",
            "",
            "bob: /event register event:Game",
            "2",
            "mod: Warn on alice's last message",
            'mod fills reason="rule 3: be kind"',
            'mod: /mod ban member:carol reason:"scam links"',
            "carol clicks Appeal",
            'carol fills why="my account was taken over"',
            'mod: /mod unban user:carol reason:"password changed"',
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert "! wait takes a number of seconds, e.g. wait 2 (not 'abc')" in out
    assert "! number: 'abc' is not a number (type one, or start it and pick)" in out
    assert "! period: '365' is not one of the choices: 7d, 30d, 90d, 365d" in out
    # The button by its label without the emoji: the board's next page was asked for.
    assert out.count("**Leaderboard") == 2
    # Forms by field label, and field by field; their fields listed by label, not by id.
    assert "  title: Title (required, up to 100 characters)" in out
    assert "Event **Game night** created and announced." in out
    assert "Event **Game show** created and announced." in out
    # Autocomplete listed, and a number picked the second.
    assert "  event: 2 matches for 'Game':" in out and "You are registered for **Game show**" in out
    # A message menu, a case about alice's message; appeals reach the modlog; a banned user by name.
    assert "Case #1: warn alice." in out
    assert "[#mod-log] Conclave: **Appeal of case #2 (ban) by carol**" in out
    assert "Case #3: unban carol." in out
    # Discord's markup as its client shows it.
    assert "<t:" not in out and "<#" not in out and "<@" not in out
    assert not [
        line
        for line in out.splitlines()
        if line.startswith("!") and "wait" not in line and "abc" not in line and "365" not in line
    ]
