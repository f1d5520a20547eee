"""`python -m bot run` as an admin runs it, pointed with DISCORD_API_BASE at a Discord API server in
another process: it logs in, syncs, answers /about, records chat, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from db import users
from db.pool import connect

ROOT = Path(__file__).resolve().parent.parent


async def poll(session, url, check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with session.get(url) as response:
            data = await response.json()
        if check(data):
            return data
        await _sleep(0.1)
    raise AssertionError(f"{url} never satisfied the check; last: {data}")


async def _sleep(seconds):
    import asyncio

    await asyncio.sleep(seconds)


async def test_the_bot_process_runs_against_a_separate_api_server(db_dsn, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DISCORD_TOKEN", "DISCORD_API_BASE")}
    env["PYTHONPATH"] = str(ROOT)
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.sandbox.serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    bot = None
    try:
        info = json.loads(server.stdout.readline())
        base = info["api_base"].removesuffix("/api/v10")
        (tmp_path / "conclave.toml").write_text(f"guild_id = {info['guild_id']}\n")
        bot_env = {
            **env,
            "DISCORD_TOKEN": info["token"],
            "DISCORD_API_BASE": info["api_base"],
            "DATABASE_URL": db_dsn,
            "LOG_FORMAT": "json",
        }
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            env=bot_env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        async with aiohttp.ClientSession() as session:
            commands = await poll(session, f"{base}/_sandbox/commands", lambda d: d["guild"])
            assert "about" in {c["name"] for c in commands["guild"]}
            await poll(session, f"{base}/_sandbox/state", lambda d: d["sessions"] == 1)

            async def ready_rows():
                conn = await connect(db_dsn)
                try:
                    return await conn.fetchval("SELECT count(*) FROM users WHERE username = 'alice'")
                finally:
                    await conn.close()

            deadline = time.monotonic() + 30
            while not await ready_rows():
                assert time.monotonic() < deadline, "the bot never synced the guild's members"
                await _sleep(0.1)

            async with session.post(f"{base}/_sandbox/slash", json={"member": "alice", "command": "about"}) as r:
                about = await r.json()
            assert r.status == 200, about
            assert "Version: 0.1.0" in about["text"] and "PostgreSQL (external)" in about["text"]
            for text in ("hello", "is anyone here?"):
                async with session.post(f"{base}/_sandbox/say", json={"member": "bob", "content": text}) as r:
                    assert r.status == 200
            await _sleep(0.3)
        bot.send_signal(signal.SIGTERM)
        _stdout, stderr = bot.communicate(timeout=15)
        assert bot.returncode == 0, stderr
        assert info["token"] not in stderr  # the token is never logged
        assert all(json.loads(line)["level"] for line in stderr.strip().splitlines())  # JSON lines
        conn = await connect(db_dsn)
        try:
            bob_discord_id = await conn.fetchval("SELECT discord_id FROM users WHERE username = 'bob'")
            assert (await users.get_profile_by_discord_id(conn, bob_discord_id)).message_count == 2
        finally:
            await conn.close()
    finally:
        if bot is not None and bot.poll() is None:
            bot.kill()
        server.terminate()
        server.wait(10)


async def test_a_bot_not_in_the_configured_server_says_so_with_the_invite_link(db_dsn, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DISCORD_TOKEN", "DISCORD_API_BASE")}
    env["PYTHONPATH"] = str(ROOT)
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.sandbox.serve", "--port", "0"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        info = json.loads(server.stdout.readline())
        (tmp_path / "conclave.toml").write_text("guild_id = 123456789012345678\n")  # not the stand-in's server
        bot_env = {**env, "DISCORD_TOKEN": info["token"], "DISCORD_API_BASE": info["api_base"], "DATABASE_URL": db_dsn}
        result = subprocess.run(
            [sys.executable, "-m", "bot", "run"], env=bot_env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        line = next(x for x in result.stderr.splitlines() if "cannot add its commands" in x)
        assert "server 123456789012345678" in line and "applications.commands scope" in line
        assert "oauth2/authorize?client_id=" in line and "guild_id=123456789012345678" in line
    finally:
        server.terminate()
        server.wait(10)
