"""The bot end to end: the real discord.py client against the stand-in, real rows in PostgreSQL."""

from __future__ import annotations

import asyncio

from db import users


async def wait_until(predicate, timeout: float = 5.0, interval: float = 0.05):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


async def test_the_bot_logs_in_and_syncs_its_commands_to_the_guild(sandbox):
    standin = sandbox.standin
    synced = standin.commands[standin.guild.id]
    assert "about" in {c["name"] for c in synced}
    assert [c.path for c in standin.calls_to("PUT", "/commands")] == [
        f"/applications/{standin.application_id}/guilds/{standin.guild.id}/commands"
    ]
    assert standin.gateway.identify_count == 1
    session = next(iter(standin.gateway.sessions.values()))
    assert session.intents & (1 << 15), "message content intent"
    assert session.intents & (1 << 1), "members intent"
    assert not session.intents & (1 << 8), "presences only by setting"


async def test_about_answers_with_version_uptime_database_and_latency(sandbox):
    reply = await sandbox.member("alice").slash("about")
    fields = {f["name"]: f["value"] for f in reply.embed["fields"]}
    assert fields["Version"] == "0.1.0"
    assert fields["Database"] == "PostgreSQL (external)"
    assert fields["Gateway latency"].endswith("ms")
    assert fields["Uptime"].endswith("s")
    assert not reply.ephemeral


async def test_every_member_is_mapped_to_a_user_row_at_start(sandbox):
    pool = sandbox.bot.pool
    for name in ("alice", "bob", "carol", "mod"):
        profile = await users.get_profile_by_discord_id(pool, sandbox.member(name).id)
        assert profile is not None and profile.in_server, name


async def test_a_member_chats_and_their_messages_are_counted(sandbox):
    alice = sandbox.member("alice")
    for text in ("hello everyone", "how is it going?", "third message"):
        alice.say(text)

    async def counted():
        profile = await users.get_profile_by_discord_id(sandbox.bot.pool, alice.id)
        return profile.message_count == 3

    await wait_until(counted)


async def test_a_new_member_gets_a_row_and_a_leaver_is_marked_gone(sandbox):
    dora = sandbox.demo.new_member("dora")

    async def known():
        return await users.get_profile_by_discord_id(sandbox.bot.pool, dora.id)

    assert (await wait_until(known)).in_server
    dora.leave_guild()

    async def gone():
        profile = await users.get_profile_by_discord_id(sandbox.bot.pool, dora.id)
        return not profile.in_server

    await wait_until(gone)


async def test_role_changes_are_written_to_the_member_row(sandbox):
    bob = sandbox.member("bob")
    bob.gain_role("Moderator")
    moderator_id = sandbox.standin.guild.role_named("Moderator").id

    async def is_staff_now():
        user_id = await users.user_id_for(sandbox.bot.pool, bob.id)
        return await users.is_staff(sandbox.bot.pool, user_id)

    await wait_until(is_staff_now)
    assert await users.has_role(sandbox.bot.pool, await users.user_id_for(sandbox.bot.pool, bob.id), moderator_id)
