"""The command line and configuration, as the admin meets them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_community

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DATABASE_URL", "CONCLAVE_CONFIG")}
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=cwd or ROOT,
        timeout=120,
    )


def test_run_without_a_token_says_what_to_set(tmp_path):
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_configuration_names_key_value_and_expectation(tmp_path):
    config = tmp_path / "conclave.toml"
    config.write_text("guild_id = 1\n[xp]\nmessage_min = -5\n")
    result = run_cli("run", env={"CONCLAVE_CONFIG": str(config), "DISCORD_TOKEN": "x" * 20}, cwd=tmp_path)
    assert result.returncode == 2
    assert "'xp.message_min' = -5 is invalid" in result.stderr
    assert "greater than or equal to 0" in result.stderr
    assert "Traceback" not in result.stderr and "pydantic" not in result.stderr.lower()


def test_invalid_environment_setting_is_a_clear_message(tmp_path):
    result = run_cli("migrate", "status", env={"LOG_FORMAT": "yaml"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "'log_format' = 'yaml' is invalid" in result.stderr


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('guild_id = "abc"', "'guild_id' = 'abc' is invalid"),
        ("[[pathways]]\nid = 'cooking'\nname = 'Kitchen'", "'pathways.0.id' = 'cooking' is invalid"),
        ("[[pathways]]\nid = 'news'\nname = 'A'\n[[pathways]]\nid = 'news'\nname = 'B'", "repeated: news"),
        ("[xp]\nmessage_min = 30\nmessage_max = 10", "message_max (10) must be at least message_min (30)"),
        ("[xp]\ntimezone = 'Mars/Olympus'", "unknown timezone 'Mars/Olympus'"),
        ("[announcements]\nlevel_up = 'shout'", "'announcements.level_up' = 'shout' is invalid"),
        ("colour = 'blue'", "unknown key 'colour'"),
        ("guild_id = ", "is not valid TOML"),
    ],
)
def test_each_kind_of_bad_configuration_is_explained(tmp_path, toml, expected):
    path = tmp_path / "conclave.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_community(path)
    assert expected in str(info.value)


def test_the_example_configuration_is_valid():
    community = load_community(ROOT / "conclave.example.toml", required=True)
    assert {p.id for p in community.pathways} == {"gaming", "lorebound", "productive", "news"}
    assert len(community.staff_role_ids) == 6


def test_every_setting_is_in_env_example():
    from bot.config import Settings

    example = (ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        assert name.upper() in example, name


def test_migrate_cli_against_an_external_database(db_dsn, tmp_path):
    status = run_cli("migrate", "status", env={"DATABASE_URL": db_dsn}, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "0 pending" in status.stdout
    assert "001      core_schema" in status.stdout
    down = run_cli("migrate", "down", "--to", "5", env={"DATABASE_URL": db_dsn}, cwd=tmp_path)
    assert down.returncode == 0 and "rolled back 007_seed" in down.stdout
    up = run_cli("migrate", "up", env={"DATABASE_URL": db_dsn}, cwd=tmp_path)
    assert "applied 006_advanced_patterns" in up.stdout and "applied 007_seed" in up.stdout
    again = run_cli("migrate", "up", env={"DATABASE_URL": db_dsn}, cwd=tmp_path)
    assert "nothing to apply" in again.stdout


def test_migrate_cli_on_an_empty_data_directory_uses_the_embedded_server(tmp_path):
    env = {"CONCLAVE_DATA_DIR": str(tmp_path / "data")}
    up = run_cli("migrate", "up", env=env, cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    status = run_cli("migrate", "status", env=env, cwd=tmp_path)
    assert "0 pending" in status.stdout
    assert (tmp_path / "data" / "pgdata" / "PG_VERSION").exists()
