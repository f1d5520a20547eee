"""The container recipe: compose.yaml validated against the Compose specification (and by Docker's
own `docker compose config` where it is installed), and the Dockerfile checked for what the README
promises (slim, non-root, the wheel). CI builds the image where a Docker daemon runs (.ci/run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_compose_file_follows_the_compose_specification():
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_file_runs_the_bot_beside_the_official_postgresql_with_a_volume():
    compose = _compose()
    db, bot = compose["services"]["db"], compose["services"]["bot"]
    assert db["image"].split(":")[0] == "postgres"  # the official image (no namespace)
    volume, mount = db["volumes"][0].split(":")[:2]
    # The official image keeps its data under /var/lib/postgresql/data up to 17, under
    # /var/lib/postgresql (18/docker) from 18: the volume must be mounted where the data is.
    major = int(db["image"].split(":")[1].split(".")[0])
    assert volume in compose["volumes"]
    assert mount == ("/var/lib/postgresql" if major >= 18 else "/var/lib/postgresql/data")
    assert "ports" not in db  # reachable from the bot only
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["build"] == "." and bot["env_file"] == ".env"  # the token comes from .env
    assert "@db:5432/" in bot["environment"]["DATABASE_URL"]
    assert "${POSTGRES_PASSWORD" in db["environment"]["POSTGRES_PASSWORD"]
    mounts = {v.split(":")[1]: v for v in bot["volumes"]}
    assert mounts[bot["environment"]["CONCLAVE_CONFIG"]].endswith(":ro")
    assert mounts[bot["environment"]["CONCLAVE_DATA_DIR"]].split(":")[0] in compose["volumes"]
    # The grace period covers the bot's own stop budget (10 s), so a stop never loses a buffer.
    assert int(bot["stop_grace_period"].rstrip("s")) > 10


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker is not installed here")
def test_docker_compose_accepts_the_file(tmp_path):
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("the docker compose plugin is not installed here")
    shutil.copy(COMPOSE, tmp_path / "compose.yaml")
    (tmp_path / ".env").write_text("DISCORD_TOKEN=x\nPOSTGRES_PASSWORD=secret\n")
    (tmp_path / "conclave.toml").write_text("guild_id = 1\n")
    env = {**os.environ, "POSTGRES_PASSWORD": "secret"}
    result = subprocess.run(
        ["docker", "compose", "config", "--quiet"], cwd=tmp_path, capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_dockerfile_installs_the_wheel_slim_and_runs_as_a_non_root_user():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    bases = [line.split()[1] for line in instructions if line.startswith("FROM ")]
    assert bases and all(base.endswith("-slim") for base in bases)
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    text = "\n".join(instructions)
    assert "pip wheel" in text and "pip install /wheels/*.whl" in text
    assert instructions[-1] == 'CMD ["python", "-m", "bot", "run"]'
    # Every package the wheel ships is copied into the build stage.
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    copied = {line.split()[1] for line in instructions if line.startswith("COPY ") and "--from" not in line}
    roots = {p.split(".")[0] for p in packages if p != "conclave_sql"} | {"sql"}
    assert roots <= copied, roots - copied
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".git" in ignored and ".conclave" in ignored  # no secrets or data in the image


def test_the_compose_file_deploys_with_a_takeover_and_keeps_a_standby():
    services = _compose()["services"]
    bot, following, standby = services["bot"], services["bot-next"], services["standby"]
    # A rolling deploy alternates bot and bot-next: the new one warms up and takes over, the old
    # hands over and exits 0, and stays down; a lost lease (exit 3) or a crash starts it again.
    for half in (bot, following):
        assert half["command"] == ["python", "-m", "bot", "run", "--takeover"]
        assert half["restart"] == "on-failure" and half["image"] == bot["image"]
        assert half["environment"]["DATABASE_URL"] == bot["environment"]["DATABASE_URL"]  # one database
    assert following["profiles"] == ["deploy"]
    # The standby never takes over: it waits for the lease, and stands by again after it lost it.
    assert standby["command"] == ["python", "-m", "bot", "run"] and standby["restart"] == "unless-stopped"
    # Each process keeps its own local journal.
    data = {
        name: next(v.split(":")[0] for v in s["volumes"] if v.endswith(":/data"))
        for name, s in services.items()
        if name != "db"
    }
    assert len(set(data.values())) == 3
