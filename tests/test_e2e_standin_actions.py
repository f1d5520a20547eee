"""What the bot can do to the guild through the stand-in, seen from both sides: discord.py's objects
and the stand-in's record of the guild."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import discord
import pytest

from tests.test_e2e_core import wait_until


async def _true(value):
    return value


async def test_voice_joins_mutes_and_leaves_reach_the_bot(sandbox):
    bob = sandbox.member("bob")
    bob.join_voice(sandbox.demo.voice)
    guild = sandbox.bot.home_guild
    await wait_until(lambda: _true(guild.get_member(int(bob.id)).voice is not None))
    assert guild.get_member(int(bob.id)).voice.channel.name == "Lounge"
    bob.set_voice(self_mute=True)
    await wait_until(lambda: _true(guild.get_member(int(bob.id)).voice.self_mute))
    bob.leave_voice()
    await wait_until(lambda: _true(guild.get_member(int(bob.id)).voice is None))


async def test_member_edits_timeouts_kicks_bans_and_unbans(sandbox):
    guild = sandbox.bot.home_guild
    carol = guild.get_member(int(sandbox.member("carol").id))
    await carol.edit(nick="Caz", reason="asked nicely")
    until = datetime.now(UTC) + timedelta(minutes=10)
    await carol.timeout(until, reason="cool down")
    await wait_until(lambda: _true(guild.get_member(carol.id).is_timed_out()))
    assert guild.get_member(carol.id).nick == "Caz"
    updates = [o for o in sandbox.standin.outputs if o.kind == "member_update"]
    assert updates[-1].data["reason"] == "cool down"

    bob = guild.get_member(int(sandbox.member("bob").id))
    await bob.kick(reason="spam")
    await wait_until(lambda: _true(guild.get_member(bob.id) is None))
    alice = guild.get_member(int(sandbox.member("alice").id))
    await alice.ban(reason="raid")
    ban = await guild.fetch_ban(alice)
    assert ban.reason == "raid"
    await guild.unban(alice, reason="appeal accepted")
    with pytest.raises(discord.NotFound):
        await guild.fetch_ban(alice)
    kinds = [o.kind for o in sandbox.standin.outputs if o.kind in ("kick", "ban", "unban")]
    assert kinds == ["kick", "ban", "unban"]


async def test_the_bot_cannot_touch_members_above_its_role(sandbox):
    guild = sandbox.bot.home_guild
    admin_role = sandbox.standin.guild.role_named("Admin")
    admin_role.position = 200  # above the bot's role
    mod = guild.get_member(int(sandbox.member("mod").id))
    sandbox.member("mod").gain_role(admin_role)
    await asyncio.sleep(0.1)
    with pytest.raises(discord.Forbidden) as error:
        await mod.kick(reason="nope")
    assert error.value.code == 50013


async def test_scheduled_events_round_trip(sandbox):
    guild = sandbox.bot.home_guild
    start = datetime.now(UTC) + timedelta(days=1)
    event = await guild.create_scheduled_event(
        name="Game night",
        start_time=start,
        entity_type=discord.EntityType.voice,
        channel=guild.get_channel(int(sandbox.demo.voice.id)),
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    assert event.name == "Game night"
    fetched = await guild.fetch_scheduled_events()
    assert [e.name for e in fetched] == ["Game night"]
    await event.edit(name="Game night (moved)")
    await event.delete()
    assert await guild.fetch_scheduled_events() == []


async def test_files_embeds_and_dms_are_delivered(sandbox):
    channel = sandbox.bot.get_channel(int(sandbox.demo.general.id))
    embed = discord.Embed(title="Rank card", description="level 3")
    sent = await channel.send("here", embed=embed, file=discord.File(io.BytesIO(b"\x89PNG fake"), "card.png"))
    assert sent.attachments[0].filename == "card.png"
    stored = sandbox.standin.messages[str(sent.id)]
    assert stored.attachments[0].data == b"\x89PNG fake"
    assert stored.embeds[0]["title"] == "Rank card"
    alice = await sandbox.bot.fetch_user(int(sandbox.member("alice").id))
    await alice.send("welcome!")
    dm = await sandbox.standin.wait_for(lambda o: o.kind == "dm", past=True)
    assert (dm.message.content, dm.data["recipient_id"]) == ("welcome!", sandbox.member("alice").id)
