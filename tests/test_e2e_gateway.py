"""The gateway as discord.py meets it: resume after a dropped socket, intents, Discord's REST quirks."""

from __future__ import annotations

import asyncio

import aiohttp
import discord

from bot.core.runner import point_at_api
from db import users
from tests.test_e2e_core import wait_until


async def test_a_dropped_socket_resumes_and_no_event_is_lost(sandbox):
    alice = sandbox.member("alice")
    alice.say("before the drop")
    await sandbox.standin.gateway.drop_connections()
    for i in range(5):
        alice.say(f"while disconnected {i}")
    sandbox.demo.new_member("erin")

    async def all_counted():
        profile = await users.get_profile_by_discord_id(sandbox.bot.pool, alice.id)
        return profile.message_count == 6

    await wait_until(all_counted, timeout=10)
    assert sandbox.standin.gateway.resume_count == 1
    assert sandbox.standin.gateway.identify_count == 1
    assert await wait_until(lambda: users.get_profile_by_discord_id(sandbox.bot.pool, sandbox.member("erin").id))


async def test_a_graceful_stop_writes_everything_buffered(harness):
    # Nothing is written on its own before the stop: XP and counts flush every 60 s (after the first
    # periodic flush, which runs at once at start-up: wait for it, or it may take the messages).
    harness.community = harness.demo.community_config(
        xp=harness.demo.community_config().xp.model_copy(update={"flush_interval_seconds": 60}),
        activity_flush_seconds=60,
    )
    bot = await harness.start_bot()
    await wait_until(lambda: _true_when(bot.flush_schedule.due.get("xp", 0) > 0))
    bob = harness.member("bob")
    for i in range(25):
        bob.say(f"message {i}")
    await wait_until(lambda: _true_when(bot.chat_activity.pending_messages == 25))
    pool_dsn = harness.dsn
    await harness.stop_bot()
    from db.pool import connect

    conn = await connect(pool_dsn)
    try:
        profile = await users.get_profile_by_discord_id(conn, bob.id)
        assert profile.message_count == 25
    finally:
        await conn.close()


async def _true_when(value: bool) -> bool:
    return value


async def test_without_the_message_content_intent_content_is_blanked(harness):
    standin = harness.standin
    await point_at_api(standin.api_base, standin.token)
    intents = discord.Intents.default()
    intents.message_content = False
    client = discord.Client(intents=intents)
    seen: list[discord.Message] = []
    ready = asyncio.Event()
    client.event(_on_ready(ready))

    @client.event
    async def on_message(message: discord.Message) -> None:
        seen.append(message)

    task = asyncio.create_task(client.start(standin.token))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        alice = harness.member("alice")
        alice.say("secret plans")
        alice.say("hey bot, look", mentions=[standin.bot_user])
        await wait_until(lambda: _true_when(len(seen) == 2))
        assert [m.content for m in seen] == ["", "hey bot, look"]
    finally:
        await client.close()
        task.cancel()


def _on_ready(event: asyncio.Event):
    async def on_ready() -> None:
        event.set()

    return on_ready


async def test_unknown_routes_answer_404_in_discords_format_and_are_recorded(harness):
    standin = harness.standin
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bot {standin.token}"}
        async with session.get(f"{standin.api_base}/guilds/{standin.guild.id}/widget", headers=headers) as response:
            assert response.status == 404
            assert response.headers["Content-Type"] == "application/json"
            assert await response.json() == {"code": 0, "message": "404: Not Found"}
        async with session.get(f"{standin.api_base}/users/@me") as response:
            assert response.status == 401
        async with session.get(f"{standin.api_base}/users/@me", headers=headers) as response:
            assert response.headers["Content-Type"] == "application/json"
            assert "X-RateLimit-Bucket" in response.headers and "Via" in response.headers
    assert standin.calls_to("GET", "/widget")[0].status == 404


async def test_discord_error_codes_reach_the_client(sandbox):
    guild = sandbox.bot.home_guild
    http = sandbox.bot.http
    try:
        await http.get_member(guild.id, 1234)
    except discord.NotFound as exc:
        assert exc.code == 10007
    else:
        raise AssertionError("expected Unknown Member")
    try:
        await http.unban(9999, guild.id)
    except discord.NotFound as exc:
        assert exc.code == 10026
    else:
        raise AssertionError("expected Unknown Ban")
    owner_id = int(sandbox.standin.guild.owner_id)
    try:
        await http.kick(owner_id, guild.id)
    except discord.Forbidden as exc:
        assert exc.code == 50013
    else:
        raise AssertionError("expected Missing Permissions")
