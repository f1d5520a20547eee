"""The command line and configuration, as the admin meets them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.config import ConfigError, load_community

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
        ("guild_id = 0", "'guild_id' = 0 is invalid: Value error, is the example's placeholder"),
        ("guild_id = -4", "Copy Server ID"),
        ("[xp]\nmessage_min = 0\nmessage_max = 5", "message_min must be at least 1"),
        ("[xp]\nvoice_per_minute = -1", "'xp.voice_per_minute' = -1 is invalid"),
        ("[xp]\nmessage_max = 100000", "'xp.message_max' = 100000 is invalid"),
        ("[xp]\nno_xp_channel_ids = [0]", "'xp.no_xp_channel_ids.0' = 0 is invalid"),
        ("[xp]\nno_xp_role_ids = [-3]", "'xp.no_xp_role_ids.0' = -3 is invalid"),
        ("[xp]\nrejoin_exclude_role_ids = [0]", "'xp.rejoin_exclude_role_ids.0' = 0 is invalid"),
        ("staff_role_ids = [0]", "'staff_role_ids.0' = 0 is invalid"),
        ("[[pathways]]\nid = 'news'\nname = 'N'\nrole_id = 0", "'pathways.0.role_id' = 0 is invalid"),
        ("[[pathways]]\nid = 'news'\nname = 'N'\nchannel_ids = [-1]", "'pathways.0.channel_ids.0' = -1 is invalid"),
        ("[[pathways]]\nid = 'news'\nname = 'N'\nrank_role_ids = {Master = 0}", "rank_role_ids.Master' = 0"),
        ("[[xp.role_rewards]]\nlevel = 5\nrole_id = 0", "'xp.role_rewards.0.role_id' = 0 is invalid"),
        ("[[xp.role_rewards]]\nlevel = 1\nrole_id = 5", "'xp.role_rewards.0.level' = 1 is invalid"),
        ("[xp.rank_titles]\n1 = ''", "'xp.rank_titles.1' = '' is invalid"),
        ("[xp.rank_titles]\n5 = 'Adept'", "rank_titles must have a title for level 1"),
        ("[announcements]\nlevel_up_template = '{member} hit {lvl}'", "unknown placeholder {lvl}"),
        ("[announcements]\nlevel_up_template = '{member.guild} up'", "unknown placeholder {member.guild}"),
        ("[announcements]\nlevel_up_template = 'level {level'", "is not a valid template"),
        ("[announcements]\nlevel_up_template = ''", "'announcements.level_up_template' = '' is invalid"),
        ("[announcements]\nlevel_up = 'channel'", "needs level_up_channel_id"),
        ("[announcements]\nmod_log_channel_id = 0", "'announcements.mod_log_channel_id' = 0 is invalid"),
        ("[moderation]\nmute_role_id = 0", "'moderation.mute_role_id' = 0 is invalid"),
        ("staff_role_ids = [42]\n[moderation]\nmute_role_id = 42", "mute_role_id is one of staff_role_ids"),
        ("[moderation.automod]\ntimeout = 'permanent'", "needs a duration"),
        ("[moderation.automod]\nflood_messages = 1", "'moderation.automod.flood_messages' = 1 is invalid"),
        ("[[moderation.escalation]]\npoints = 3\naction = 'timeout'", "a timeout rung needs a duration"),
        ("[[moderation.escalation]]\npoints = 3\naction = 'ban'\nduration = 'soon'", "is not a duration"),
        ("[[moderation.escalation]]\npoints = 3\naction = 'shame'", "'moderation.escalation.0.action' = 'shame'"),
        (
            "[[moderation.escalation]]\npoints = 3\naction = 'ban'\n[[moderation.escalation]]\npoints = 3\naction = 'kick'",
            "each escalation rung needs its own number of points",
        ),
    ],
)
def test_each_kind_of_bad_configuration_is_explained(tmp_path, toml, expected):
    path = tmp_path / "conclave.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_community(path)
    assert expected in str(info.value)


def test_chat_xp_can_be_turned_off_with_zero(tmp_path):
    path = tmp_path / "conclave.toml"
    path.write_text("guild_id = 7\n[xp]\nmessage_min = 0\nmessage_max = 0\nvoice_per_minute = 0\n")
    xp = load_community(path).xp
    assert not xp.chat_xp_on and xp.voice_per_minute == 0


def test_the_example_configuration_is_valid_once_the_server_id_is_set(tmp_path):
    example = (ROOT / "conclave.example.toml").read_text()
    with pytest.raises(ConfigError) as info:
        load_community(ROOT / "conclave.example.toml", required=True)
    assert "guild_id" in str(info.value) and "Copy Server ID" in str(info.value)
    filled = tmp_path / "conclave.toml"
    filled.write_text(example.replace("guild_id = 0", "guild_id = 123456789012345678"))
    community = load_community(filled, required=True)
    assert {p.id for p in community.pathways} == {"gaming", "lorebound", "productive", "news"}
    assert len(community.staff_role_ids) == 6


def test_the_achievements_catalog_is_read_with_the_configuration(tmp_path):
    (tmp_path / "achievements.toml").write_text((ROOT / "achievements.example.toml").read_text())
    config = tmp_path / "conclave.toml"
    config.write_text('guild_id = 7\n[achievements]\ncatalog = "achievements.toml"\n')
    community = load_community(config)
    assert [e.id for e in community.achievements.entries][:2] == ["chatterbox", "night-owl-voice"]


def test_a_bad_achievement_stops_start_up_naming_the_entry_and_key(tmp_path):
    (tmp_path / "achievements.toml").write_text(
        '[[achievement]]\nid = "ok"\nname = "Fine"\nrequirements = { type = "xp", amount = 5 }\n'
        '[[achievement]]\nid = "broken"\nname = "Broken"\n'
        'requirements = { type = "all", of = [{ type = "level", amount = 5 }, { type = "karma", amount = 1 }] }\n'
    )
    config = tmp_path / "conclave.toml"
    config.write_text('guild_id = 7\n[achievements]\ncatalog = "achievements.toml"\n')
    with pytest.raises(ConfigError) as info:
        load_community(config)
    message = str(info.value)
    assert message.startswith("invalid achievements catalog: ")
    assert "achievement #2 'broken': 'requirements.of[1].type' 'karma' is not a metric" in message
    missing = tmp_path / "elsewhere.toml"
    missing.write_text('guild_id = 7\n[achievements]\ncatalog = "nowhere.toml"\n')
    with pytest.raises(ConfigError) as info:
        load_community(missing)
    assert "nowhere.toml: the achievements catalog named in conclave.toml is not there" in str(info.value)


def test_every_setting_is_in_env_example():
    from bot.core.config import Settings

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


def test_migrate_cli_on_an_empty_data_directory_uses_the_embedded_server(tmp_path, embedded_data_dir):
    env = {"CONCLAVE_DATA_DIR": str(embedded_data_dir)}
    up = run_cli("migrate", "up", env=env, cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    status = run_cli("migrate", "status", env=env, cwd=tmp_path)
    assert "0 pending" in status.stdout
    assert (embedded_data_dir / "pgdata" / "PG_VERSION").exists()


def test_the_token_never_reaches_the_log_not_even_in_a_traceback(capsys):
    import logging

    from bot.core.logs import setup_logging

    token = "MTIzNDU2Nzg5.secret-token-value.abcdef"
    for fmt in ("text", "json"):
        setup_logging("INFO", fmt, [token])
        try:
            raise RuntimeError(f"401 Unauthorized for Bot {token}")
        except RuntimeError:
            logging.getLogger("conclave.test").exception("login failed with %s", token)
        err = capsys.readouterr().err
        assert "RuntimeError" in err and "Traceback" in err.replace("\\n", "\n")
        assert token not in err and "[redacted]" in err
    setup_logging("WARNING", "text", [])


@pytest.mark.parametrize(
    ("base", "accepted"),
    [
        ("http://127.0.0.1:8080/api/v10", True),
        ("http://localhost:8080/api/v10", True),
        ("https://discord.example.org/api/v10", True),
        ("http://discord.example.org/api/v10", False),
        ("http://10.0.0.5:8080/api/v10", False),
    ],
)
def test_a_non_local_plain_http_api_base_is_refused(tmp_path, base, accepted):
    result = run_cli("migrate", "create", "x", env={"DISCORD_API_BASE": base, "CONCLAVE_MIGRATIONS_DIR": str(tmp_path)})
    if accepted:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 2
        assert "'discord_api_base'" in result.stderr and "in the clear" in result.stderr


def test_running_with_the_examples_placeholder_server_id_says_where_to_find_the_id(tmp_path):
    config = tmp_path / "conclave.toml"
    config.write_text((ROOT / "conclave.example.toml").read_text())
    result = run_cli("run", env={"CONCLAVE_CONFIG": str(config), "DISCORD_TOKEN": "x" * 30}, cwd=tmp_path)
    assert result.returncode == 2
    assert "'guild_id' = 0 is invalid" in result.stderr and "Copy Server ID" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_first_run_with_the_example_config_asks_for_the_server_id_and_the_token_at_once(tmp_path):
    config = tmp_path / "conclave.toml"
    config.write_text((ROOT / "conclave.example.toml").read_text())
    result = run_cli("run", env={"CONCLAVE_CONFIG": str(config)}, cwd=tmp_path)
    assert result.returncode == 2
    assert "'guild_id' = 0 is invalid" in result.stderr and "DISCORD_TOKEN is not set" in result.stderr
    # Without any file either: both, in one go.
    bare = run_cli("run", env={"CONCLAVE_CONFIG": str(tmp_path / "none.toml")}, cwd=tmp_path)
    assert bare.returncode == 2
    assert "DISCORD_TOKEN is not set" in bare.stderr and "guild_id is not set" in bare.stderr
    assert "Traceback" not in result.stderr + bare.stderr


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the with ends: connections are refused


def _run_with(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    config = tmp_path / "conclave.toml"
    config.write_text("guild_id = 123456789012345678\n")
    return run_cli(
        "run",
        env={"CONCLAVE_CONFIG": str(config), "CONCLAVE_DATA_DIR": str(tmp_path / "data"), **env},
        cwd=tmp_path,
    )


def test_a_discord_api_that_cannot_be_reached_at_start_is_one_line(tmp_path):
    base = f"http://127.0.0.1:{_closed_port()}/api/v10"
    result = _run_with(tmp_path, DISCORD_TOKEN="a.fake.token", DISCORD_API_BASE=base)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("conclave:")]
    assert len(said) == 1 and said[0].startswith(f"conclave: could not reach Discord at {base} (")


def test_a_fake_token_without_a_network_is_one_line_whatever_the_network(tmp_path):
    # With no network (as here and in CI) Discord cannot be reached; with one, it refuses the token.
    env = {k: "" for k in ("DISCORD_API_BASE",)}
    result = _run_with(tmp_path, DISCORD_TOKEN="a.fake.token", **env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "could not reach Discord at https://discord.com/api/v10" in result.stderr or (
        "Discord refused the token" in result.stderr
    )
    # One line says what is wrong; beside it only the log's start and stop (the database is opened
    # before Discord, so its start and stop are logged too), no error lines.
    said = [line for line in result.stderr.splitlines() if line.startswith("conclave:")]
    logged = [line for line in result.stderr.splitlines() if not line.startswith("conclave:")]
    assert len(said) == 1 and not [line for line in logged if " ERROR " in line or " WARNING " in line], logged


def test_an_embedded_server_that_does_not_start_is_one_line_naming_its_log(tmp_path):
    config = tmp_path / "conclave.toml"
    config.write_text("guild_id = 123456789012345678\n")
    env = {"CONCLAVE_CONFIG": str(config), "CONCLAVE_DATA_DIR": str(tmp_path / "data")}
    assert run_cli("migrate", "status", env=env, cwd=tmp_path).returncode == 0  # the server is made
    # A setting PostgreSQL refuses: the server cannot start again, whatever is tried.
    conf = tmp_path / "data" / "pgdata" / "postgresql.conf"
    conf.write_text(conf.read_text() + "\nshared_buffers = 'lots'\n")
    result = run_cli("migrate", "status", env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("conclave:")]
    assert len(said) == 1, result.stderr
    assert "the embedded PostgreSQL did not start" in said[0] and str(tmp_path / "data" / "pgdata") in said[0]
