"""Timeouts given, changed and removed in Discord's own menus become cases "by a moderator in
Discord" and sanctions in force with their end (so the website's rules see them), and those changed
while the bot was offline are reconciled at start-up; the stand-in keeps timeouts as Discord does."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import discord
import pytest

from db import moderation
from standin.bans import HandRefused
from tests.test_e2e_core import wait_until
from tests.test_e2e_moderation import GUILD_CASES, delivered, start
from tests.test_e2e_moderation_in_discord import cases, field, may_read_the_audit_log

TIMEOUTS = "SELECT status, target_discord_id, expires_at FROM moderation_sanctions WHERE kind = 'timeout' ORDER BY id"


def close(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and b is not None and abs(a - b) < timedelta(seconds=1)


async def round_trip(harness) -> None:
    """Every gateway event sent so far has been handled (a command answered after them)."""
    await harness.member("carol").slash("about")


@pytest.mark.refusals_expected  # a timeout past 28 days, refused on purpose
async def test_the_stand_in_keeps_timeouts_as_discord_does(harness):
    bot, _ = await start(harness)
    guild_id, bob = harness.standin.guild.id, harness.member("bob")
    too_late = (datetime.now(UTC) + timedelta(days=28, minutes=1)).isoformat()
    with pytest.raises(discord.HTTPException) as refused:  # "up to 28 days in the future"
        await bot.http.edit_member(guild_id, bob.id, communication_disabled_until=too_late)
    assert refused.value.status == 400 and refused.value.code == 50035
    assert bob.member.communication_disabled_until is None
    until = datetime.now(UTC) + timedelta(days=27)
    await bot.http.edit_member(guild_id, bob.id, communication_disabled_until=until.isoformat(), reason="case #9")
    assert bob.member.communication_disabled_until == until

    async def cached_timeout():
        return bot.home_guild.get_member(int(bob.id)).timed_out_until

    cached = await wait_until(cached_timeout)  # GUILD_MEMBER_UPDATE
    assert cached == until
    may_read_the_audit_log(harness)
    (entry,) = [e async for e in bot.home_guild.audit_logs(limit=5, action=discord.AuditLogAction.member_update)]
    assert entry.target.id == int(bob.id) and entry.user.id == bot.user.id and entry.reason == "case #9"
    assert entry.before.timed_out_until is None and entry.after.timed_out_until == until
    mod, owner = harness.member("mod"), harness.member("owner")
    with pytest.raises(HandRefused):
        mod.timeout_in_discord(owner, timedelta(hours=1))  # nobody times out the owner
    with pytest.raises(HandRefused):
        harness.member("alice").timeout_in_discord(bob, timedelta(hours=1))  # Timeout Members is needed
    with pytest.raises(Exception, match="28 days"):
        mod.timeout_in_discord(bob, timedelta(days=29))


async def test_a_timeout_given_changed_and_removed_in_discord_is_on_record(harness):
    bot, _ = await start(harness)
    may_read_the_audit_log(harness)
    mod, bob = harness.member("mod"), harness.member("bob")
    mod.timeout_in_discord(bob, timedelta(hours=1), reason="cool down")
    until = bob.member.communication_disabled_until
    (case,) = await cases(bot, 1)
    assert case["action"] == "timeout" and case["reason"] == "timed out in Discord: cool down"
    assert case["metadata"]["in_discord"] is True and case["metadata"]["target_discord_id"] == bob.id
    mod_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", mod.id)
    recorded = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert recorded.moderator_id == mod_id and recorded.duration == 60
    ((status, target, expires),) = await bot.pool.fetch(TIMEOUTS)
    assert (status, target) == ("active", bob.id) and close(expires, until)
    assert await bot.pool.fetchval("SELECT count(*) FROM timers WHERE status = 'pending'") == 1
    shown = await mod.slash("mod case show", number=1)
    assert field(shown.embed, "Moderator")["value"] == f"<@{mod.id}>"
    await delivered(bot, "channel_message")  # the modlog entry; no timeout and no DM from the bot
    assert await bot.pool.fetchval("SELECT count(*) FROM outbox WHERE kind <> 'channel_message'") == 0

    harness.standin.member_updated(bob.member)  # Discord sends the event twice
    harness.standin.member_updated(bob.member)
    await round_trip(harness)
    assert len(await bot.pool.fetch(GUILD_CASES)) == 1

    mod.timeout_in_discord(bob, timedelta(hours=3), reason="still at it")  # its length changed in Discord
    longer = bob.member.communication_disabled_until

    async def moved():
        rows = await bot.pool.fetch(TIMEOUTS)
        return rows if close(rows[0]["expires_at"], longer) else None

    ((status, _, _),) = await wait_until(moved, timeout=15.0)
    assert status == "active" and len(await bot.pool.fetch(GUILD_CASES)) == 1
    timer = await bot.pool.fetchval("SELECT due_at FROM timers WHERE status = 'pending'")
    assert close(timer, longer)

    mod.timeout_in_discord(bob, None, reason="calmed down")  # removed early
    rows = await cases(bot, 2)
    assert rows[1]["action"] == "untimeout" and rows[1]["reason"] == "timeout removed in Discord: calmed down (case #1)"
    assert [r["status"] for r in await bot.pool.fetch(TIMEOUTS)] == ["lifted"]
    assert await bot.pool.fetchval("SELECT count(*) FROM timers WHERE status = 'pending'") == 0


async def test_the_bots_own_timeouts_are_not_taken_for_a_moderators_in_discord(harness):
    bot, _ = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    await mod.slash("mod timeout", member=alice, reason="heated", duration="1h")
    await delivered(bot, "timeout")
    await mod.slash("mod untimeout", member=alice, reason="calm")
    await delivered(bot, "timeout", 2)
    await round_trip(harness)
    assert [r["action"] for r in await bot.pool.fetch(GUILD_CASES)] == ["timeout", "untimeout"]
    # unreadable audit log: a timeout by hand is "a moderator in Discord"
    mod.timeout_in_discord(alice, timedelta(minutes=10))
    rows = await cases(bot, 3)
    assert rows[2]["reason"] == "timed out in Discord"
    assert (await moderation.case_by_number(bot.pool, str(bot.guild_id), 3)).moderator_id is None


async def test_timeouts_changed_while_the_bot_was_offline_are_reconciled_at_start_up(harness):
    dave, erin, frank, gina = (harness.demo.new_member(n) for n in ("dave", "erin", "frank", "gina"))
    bot, _ = await start(harness)
    mod, bob = harness.member("mod"), harness.member("bob")
    await mod.slash("mod timeout", member=bob, reason="heated", duration="1h")
    await mod.slash("mod timeout", member=dave, reason="short", duration="2s")
    await mod.slash("mod timeout", member=erin, reason="spam", duration="1h")
    await mod.slash("mod timeout", member=gina, reason="short too", duration="2s")
    await delivered(bot, "timeout", 4)
    await harness.stop_bot()
    mod.timeout_in_discord(bob, None, reason="forgiven")  # removed while the bot was away
    mod.timeout_in_discord(frank, timedelta(hours=2), reason="trolling")  # given while away
    mod.timeout_in_discord(erin, timedelta(hours=5))  # made longer while away
    await asyncio.sleep(2.2)  # dave's and gina's timeouts run out: Discord ends them, nobody lifted them
    mod.timeout_in_discord(gina, timedelta(hours=1))  # then gina is timed out again: a timeout of its own
    bot, modlog = await start(harness)
    rows = await cases(bot, 7)
    targets = [(r["action"], r["metadata"]["target_discord_id"]) for r in rows]
    assert targets[:4] == [("timeout", bob.id), ("timeout", dave.id), ("timeout", erin.id), ("timeout", gina.id)]
    assert sorted(targets[4:6]) == sorted([("timeout", frank.id), ("timeout", gina.id)])
    assert targets[6] == ("untimeout", bob.id)
    assert {r["reason"] for r in rows[4:6]} == {"timed out in Discord while the bot was offline"}
    assert rows[6]["reason"] == "timeout removed in Discord while the bot was offline (case #1)"
    summary = await harness.standin.wait_for(
        lambda o: o.kind == "message" and o.message.channel_id == modlog.id and "Timeouts changed" in o.message.content,
        past=True,
    )
    assert summary.message.content == (
        "Timeouts changed in Discord while I was offline: 2 given, 1 removed, 1 with a new end, "
        "recorded as case #5, case #6, case #7."
    )
    in_force = {r["target_discord_id"]: r for r in await bot.pool.fetch(TIMEOUTS) if r["status"] == "active"}
    assert set(in_force) == {erin.id, frank.id, gina.id}
    for member in (erin, frank, gina):
        assert close(in_force[member.id]["expires_at"], member.member.communication_disabled_until)

    async def dave_expired():
        statuses = {r["target_discord_id"]: r["status"] for r in await bot.pool.fetch(TIMEOUTS)}
        return statuses[dave.id] == "expired"

    await wait_until(dave_expired, timeout=15.0)  # ran out: ended by its expiry, with no untimeout case
    assert len(await bot.pool.fetch(GUILD_CASES)) == 7
    await harness.stop_bot()
    bot, _ = await start(harness)  # reconciled once: nothing new the second time
    assert len(await bot.pool.fetch(GUILD_CASES)) == 7


async def test_a_member_timed_out_by_hand_may_be_erased_once_it_is_removed(harness):
    harness.community = harness.demo.community_config(cogs=["cogs.core", "cogs.moderation"])
    bot = await harness.start_bot()
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    mod, bob = harness.member("mod"), harness.member("bob")
    mod.timeout_in_discord(bob, timedelta(days=2), reason="raid")
    await cases(bot, 1)
    refused = await boss.slash("erase", member=bob, reason="asked by email")
    assert refused.content == "A ban, timeout or mute is in force for that member: erase their data once it ends."
    mod.timeout_in_discord(bob, None)
    await cases(bot, 2)
    erased = await boss.slash("erase", member=bob, reason="asked by email")
    assert erased.content.startswith("Erased the personal data of that member")


async def test_a_change_by_hand_while_the_bots_own_timeout_is_still_being_sent_keeps_record_and_discord_agreeing(
    harness,
):
    bot, _ = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    path = f"/guilds/{harness.standin.guild.id}/members/{alice.id}"
    harness.standin.inject_failure("PATCH", path, status=503, times=2)  # the bot's timeout is retried
    await mod.slash("mod timeout", member=alice, reason="heated", duration="1h")
    mod.timeout_in_discord(alice, timedelta(hours=3))  # meanwhile, by hand
    await delivered(bot, "timeout", timeout=15)  # the bot's own end lands last in Discord
    await round_trip(harness)
    assert [r["action"] for r in await bot.pool.fetch(GUILD_CASES)] == ["timeout"]
    ((status, _, expires),) = await bot.pool.fetch(TIMEOUTS)
    assert status == "active" and close(expires, alice.member.communication_disabled_until)


async def test_a_timeout_given_by_hand_after_one_ran_out_is_a_case_of_its_own(harness):
    bot, _ = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    await bot.timers.stop()  # the expiry of the first is late (a busy bot): its row still says active
    await mod.slash("mod timeout", member=alice, reason="short", duration="1s")
    await delivered(bot, "timeout")
    await asyncio.sleep(1.2)  # ran out in Discord
    mod.timeout_in_discord(alice, timedelta(hours=1), reason="again")
    rows = await cases(bot, 2)
    assert [r["action"] for r in rows] == ["timeout", "timeout"] and rows[1]["reason"] == "timed out in Discord"
    statuses = [r["status"] for r in await bot.pool.fetch(TIMEOUTS)]
    assert statuses == ["superseded", "active"]
    first = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert await moderation.revisions(bot.pool, first.id) == []  # the first case is not rewritten


@pytest.mark.parametrize("first", ["live", "reconcile"])
async def test_a_timeout_changed_live_while_the_start_up_reconcile_runs_is_recorded_once_and_blocks_no_other(
    harness, first
):
    """frank's timeout, given while the bot was away, is changed by hand while the start-up
    reconcile reads the audit log: whichever records it first (the live handler, or the reconcile
    when the live handler's own audit read is slower), it is one case, its end Discord's."""
    frank, gina, erin = (harness.demo.new_member(n) for n in ("frank", "gina", "erin"))
    bot, modlog = await start(harness)
    may_read_the_audit_log(harness)
    await harness.stop_bot()
    mod = harness.member("mod")
    mod.timeout_in_discord(frank, timedelta(hours=2), reason="trolling")  # both given while the bot was away
    mod.timeout_in_discord(gina, timedelta(hours=1), reason="spam")
    audit = f"/guilds/{harness.standin.guild.id}/audit-logs"
    if first == "live":
        # A ban by hand too: the ban reconcile's two reads, first, teach discord.py the audit log's
        # rate limit, so the live handler's read is not queued behind the timeout reconcile's.
        mod.ban_in_discord(erin, reason="raid alt")
        harness.standin.inject_delay("GET", audit, seconds=0.01, times=2)
    harness.standin.inject_delay("GET", audit, seconds=3)  # the timeout reconcile reads who did it, slowly
    delay = harness.standin.failures[-1]
    if first == "reconcile":  # discord.py queues the live handler's read behind it, and it is slow too
        harness.standin.inject_delay("GET", audit, seconds=6)
    starting = asyncio.create_task(start(harness))

    async def reconcile_reading_the_audit_log():
        return delay.times == 0

    await wait_until(reconcile_reading_the_audit_log, timeout=20.0)
    mod.timeout_in_discord(frank, timedelta(hours=3), reason="still trolling")  # live, meanwhile
    bot, modlog = await starting

    async def both_on_record_with_discords_ends():
        rows = {r["target_discord_id"]: r for r in await bot.pool.fetch(TIMEOUTS) if r["status"] == "active"}
        return set(rows) == {frank.id, gina.id} and all(
            close(rows[m.id]["expires_at"], m.member.communication_disabled_until) for m in (frank, gina)
        )

    await wait_until(both_on_record_with_discords_ends, timeout=20.0)
    summary = await harness.standin.wait_for(
        lambda o: o.kind == "message" and o.message.channel_id == modlog.id and "Timeouts changed" in o.message.content,
        past=True,
    )
    given = 1 if first == "live" else 2  # frank's is the live handler's, or the reconcile's then moved
    assert f": {given} given, 0 removed, 0 with a new end" in summary.message.content
    await round_trip(harness)
    rows = await bot.pool.fetch(GUILD_CASES)
    targets = sorted(r["metadata"]["target_discord_id"] for r in rows if r["action"] == "timeout")
    assert targets == sorted([frank.id, gina.id])  # one case each: frank's not recorded twice
    case = await moderation.active_sanction(bot.pool, str(bot.guild_id), frank.id, "timeout")
    revisions = await moderation.revisions(bot.pool, case.case_id)
    # Both changes on record: the reconcile's the offline one, the live handler's its own (a move)
    assert len(revisions) == (0 if first == "live" else 1)
