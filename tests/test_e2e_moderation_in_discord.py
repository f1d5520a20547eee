"""Moderation in one path, end to end: bans and unbans made in Discord's own menus become cases (by
"a moderator in Discord", named from the audit log where the bot may read it), a lift never runs
ahead of the ban it lifts, and bans changed while the bot was offline are reconciled at start-up."""

from __future__ import annotations

import asyncio

import discord
import pytest

from db import moderation
from standin import state as s
from standin.bans import HandRefused
from tests.test_e2e_core import wait_until
from tests.test_e2e_moderation import GUILD_CASES, delivered, start

SANCTIONS = "SELECT kind, status, target_discord_id FROM moderation_sanctions ORDER BY id"


def field(embed: dict, name: str) -> dict:
    """An embed's field by name (the reason is the description, the fields follow it)."""
    return next(f for f in embed["fields"] if f["name"] == name)


async def cases(bot, count: int) -> list:
    async def enough():
        rows = await bot.pool.fetch(GUILD_CASES)
        return rows if len(rows) >= count else None

    return await wait_until(enough, timeout=15.0)  # a loaded machine (2 cores) takes its time


def may_read_the_audit_log(harness) -> None:
    role = harness.standin.bot_role
    harness.standin.set_role_permissions(role, role.permissions | s.VIEW_AUDIT_LOG)


async def test_a_ban_and_an_unban_made_in_discord_become_cases_by_a_moderator_in_discord(harness):
    bot, modlog = await start(harness)
    mod, bob, alice = harness.member("mod"), harness.member("bob"), harness.member("alice")
    mod.ban_in_discord(bob, reason="raid alt")
    (ban,) = await cases(bot, 1)
    assert ban["action"] == "ban" and ban["reason"] == "banned in Discord: raid alt"
    assert ban["metadata"]["in_discord"] is True and ban["metadata"]["target_discord_id"] == bob.id
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert case.moderator_id is None  # the bot may not read the audit log here
    shown = await mod.slash("mod case show", number=1)
    assert shown.embed["title"] == "Case #1: Banned bob"
    assert field(shown.embed, "Moderator")["value"] == "a moderator in Discord"
    assert await bot.pool.fetch(SANCTIONS) == [("ban", "active", bob.id)]
    await delivered(bot, "channel_message")  # the modlog entry; no ban, no DM from the bot
    assert await bot.pool.fetchval("SELECT count(*) FROM outbox WHERE kind <> 'channel_message'") == 0
    entry = await harness.standin.wait_for(
        lambda o: o.kind == "message" and o.message.channel_id == modlog.id, past=True
    )
    assert entry.message.embeds[0]["title"] == "Case #1: Banned bob"
    assert field(entry.message.embeds[0], "Moderator") == {
        "name": "Moderator",
        "value": "a moderator in Discord",
        "inline": True,
    }

    mod.unban_in_discord(bob)
    rows = await cases(bot, 2)
    assert rows[1]["action"] == "unban" and rows[1]["reason"] == "unbanned in Discord (case #1)"
    assert [r["status"] for r in await bot.pool.fetch(SANCTIONS)] == ["lifted"]
    # the bot's own actions are not mistaken for a moderator's in Discord
    await mod.slash("mod ban", member=alice, reason="spam")
    await delivered(bot, "ban")
    await mod.slash("mod unban", user=alice, reason="sorry")
    await delivered(bot, "unban")
    await harness.member("carol").slash("about")  # a round trip: the ban events have been handled
    assert [r["action"] for r in await bot.pool.fetch(GUILD_CASES)] == ["ban", "unban", "ban", "unban"]
    with pytest.raises(HandRefused):
        harness.member("alice").ban_in_discord(mod)  # Discord's menus need Ban Members and a higher role


async def test_with_view_audit_log_the_case_names_the_moderator_who_acted_in_discord(harness):
    bot, _ = await start(harness)
    may_read_the_audit_log(harness)
    mod, bob = harness.member("mod"), harness.member("bob")
    mod.ban_in_discord(bob, reason="raid")
    await cases(bot, 1)
    mod_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", mod.id)
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert case.moderator_id == mod_id and case.metadata["in_discord"] is True
    shown = await mod.slash("mod case show", number=1)
    assert field(shown.embed, "Moderator")["value"] == f"<@{mod.id}>"
    owner = harness.member("owner")
    owner.unban_in_discord(bob, reason="second chance")
    rows = await cases(bot, 2)
    assert rows[1]["reason"] == "unbanned in Discord: second chance (case #1)"
    owner_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", owner.id)
    assert (await moderation.case_by_number(bot.pool, str(bot.guild_id), 2)).moderator_id == owner_id


async def test_a_manual_unban_ends_the_sanction_so_its_old_timer_never_lifts_a_newer_ban_made_by_hand(harness):
    bot, _ = await start(harness)
    mod, bob = harness.member("mod"), harness.member("bob")
    await mod.slash("mod ban", member=bob, reason="cool off", duration="2s")
    await delivered(bot, "ban")
    mod.unban_in_discord(bob)
    await cases(bot, 2)
    assert await bot.pool.fetchval("SELECT count(*) FROM timers WHERE status = 'pending'") == 0
    mod.ban_in_discord(bob, reason="back to raiding")
    rows = await cases(bot, 3)
    assert [r["action"] for r in rows] == ["ban", "unban", "ban"]
    await asyncio.sleep(2.2)  # the first ban's expiry passes
    await bot.timers.run_due()
    assert bob.id in harness.standin.guild.bans
    assert "unban" not in [o.kind for o in harness.standin.outputs]
    assert [r["status"] for r in await bot.pool.fetch(SANCTIONS)] == ["lifted", "active"]


async def test_a_member_unbanned_by_hand_may_be_erased(harness):
    harness.community = harness.demo.community_config(cogs=["cogs.core", "cogs.moderation"])
    bot = await harness.start_bot()
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    mod, bob = harness.member("mod"), harness.member("bob")
    await mod.slash("mod ban", member=bob, reason="raid")
    await delivered(bot, "ban")
    refused = await boss.slash("erase", member=bob, reason="asked by email")
    assert refused.content == "A ban, timeout or mute is in force for that member: erase their data once it ends."
    mod.unban_in_discord(bob)
    await cases(bot, 2)
    erased = await boss.slash("erase", member=bob, reason="asked by email")
    assert erased.content.startswith("Erased the personal data of that member")


async def test_a_quick_unban_waits_for_the_ban_it_lifts(harness):
    bot, _ = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    dm_channel = harness.standin.dm_channel_for(alice.id)
    # Discord fails the DM twice: the ban waits for it (up to 60 s), the unban must wait for the ban.
    harness.standin.inject_failure("POST", f"/channels/{dm_channel.id}/messages", status=503, times=2)
    await mod.slash("mod ban", member=alice, reason="raid")
    assert (await mod.slash("mod unban", user=alice, reason="wrong person")).content == "Case #2: unban alice."
    await delivered(bot, "ban", timeout=15)
    await delivered(bot, "unban", timeout=15)
    kinds = [o.kind for o in harness.standin.outputs if o.kind in ("dm", "ban", "unban")]
    assert kinds == ["dm", "ban", "unban"]
    assert alice.id not in harness.standin.guild.bans
    await harness.member("carol").slash("about")
    assert [r["action"] for r in await bot.pool.fetch(GUILD_CASES)] == ["ban", "unban"]  # no phantom case


async def test_bans_changed_while_the_bot_was_offline_are_reconciled_at_start_up(harness):
    bot, _ = await start(harness)
    mod, bob, carol, alice = (harness.member(n) for n in ("mod", "bob", "carol", "alice"))
    await mod.slash("mod ban", member=carol, reason="spam")
    await delivered(bot, "ban")
    harness.standin.inject_failure("PUT", f"/guilds/{harness.standin.guild.id}/bans/{alice.id}", status=503, times=50)
    await mod.slash("mod ban", member=alice, reason="raid")  # still being retried at the stop
    await harness.stop_bot()
    mod.unban_in_discord(carol, reason="forgiven")
    mod.ban_in_discord(bob, reason="alt account")
    bot, modlog = await start(harness)
    rows = await bot.pool.fetch(GUILD_CASES)
    assert [(r["action"], r["metadata"]["target_discord_id"]) for r in rows] == [
        ("ban", carol.id),
        ("ban", alice.id),
        ("ban", bob.id),
        ("unban", carol.id),
    ]
    assert rows[2]["reason"] == "banned in Discord while the bot was offline: alt account"
    assert rows[3]["reason"] == "unbanned in Discord while the bot was offline (case #1)"
    statuses = {(r["target_discord_id"], r["status"]) for r in await bot.pool.fetch(SANCTIONS)}
    assert statuses == {(carol.id, "lifted"), (alice.id, "active"), (bob.id, "active")}  # alice's ban is pending
    summary = await harness.standin.wait_for(
        lambda o: (
            o.kind == "message" and o.message.channel_id == modlog.id and "while I was offline" in o.message.content
        ),
        past=True,
    )
    assert summary.message.content == (
        "Bans changed in Discord while I was offline: 1 ban(s) and 1 unban(s), recorded as case #3, case #4."
    )
    await harness.stop_bot()
    bot, _ = await start(harness)  # reconciled once: nothing new the second time
    assert len(await bot.pool.fetch(GUILD_CASES)) == 4


async def test_the_stand_in_serves_bans_and_the_audit_log_as_discord_does(harness):
    bot, _ = await start(harness)
    guild_id = harness.standin.guild.id
    with pytest.raises(discord.Forbidden):  # View Audit Log is needed
        await bot.http.get_audit_logs(guild_id, limit=10)
    may_read_the_audit_log(harness)
    mod = harness.member("mod")
    for name in ("alice", "bob", "carol"):
        mod.ban_in_discord(harness.member(name), reason=f"reason {name}")
    with pytest.raises(discord.HTTPException) as too_many:
        await bot.http.get_audit_logs(guild_id, limit=101)
    assert too_many.value.status == 400 and too_many.value.code == 50035
    log = await bot.http.get_audit_logs(guild_id, limit=2, action_type=discord.AuditLogAction.ban.value)
    entries = log["audit_log_entries"]
    assert [e["target_id"] for e in entries] == [harness.member("carol").id, harness.member("bob").id]
    assert {u["id"] for u in log["users"]} >= {mod.id}
    everything = [e async for e in bot.home_guild.audit_logs(limit=None, action=discord.AuditLogAction.ban)]
    assert [e.target.id for e in everything][-1] == int(harness.member("alice").id) and everything[0].user.id == int(
        mod.id
    )
    banned = [b async for b in bot.home_guild.bans(limit=2)]
    assert len(banned) == 2 and banned[0].user.id < banned[1].user.id
    assert len([b async for b in bot.home_guild.bans(limit=None)]) == 3
    with pytest.raises(discord.HTTPException):
        await bot.http.get_bans(guild_id, limit=1001)


async def test_an_unban_queued_behind_a_slow_ban_never_lifts_a_newer_ban(harness):
    bot, _ = await start(harness)
    mod, owner, alice = harness.member("mod"), harness.member("owner"), harness.member("alice")
    guild_id = harness.standin.guild.id
    # Discord is flaky for a few seconds: the bot's ban is retried (1 s, 2 s, 4 s backoff)
    harness.standin.inject_failure("PUT", f"/guilds/{guild_id}/bans/{alice.id}", status=503, times=3)
    await mod.slash("mod ban", member=alice, reason="raid")
    await mod.slash("mod unban", user=alice, reason="wrong person")  # the lift's unban waits for the ban
    owner.ban_in_discord(alice, reason="she IS the raider")  # meanwhile, a newer ban in Discord's menus
    assert [r["action"] for r in await cases(bot, 3)] == ["ban", "unban", "ban"]
    await delivered(bot, "ban", timeout=20)
    await delivered(bot, "unban", timeout=20)
    await harness.member("carol").slash("about")  # round trip: ban events handled
    assert [s["status"] for s in await bot.pool.fetch(SANCTIONS)] == ["lifted", "active"]
    assert alice.id in harness.standin.guild.bans  # Discord agrees with the record
    unban = await bot.pool.fetchrow("SELECT status, last_error FROM outbox WHERE kind = 'unban'")
    assert unban["status"] == "refused" and unban["last_error"].startswith("superseded: a newer ban is in force")
    assert (await mod.slash("mod unban", user=alice, reason="appeal by mail")).content == "Case #4: unban alice."
    await delivered(bot, "unban", 2)
    assert alice.id not in harness.standin.guild.bans  # a lift of the ban in force still works
