"""Moderation end to end: the real client, the stand-in's bans, kicks and timeouts, real rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import discord

from bot.core.community import AnnouncementConfig
from db import moderation, outbox
from db.pool import init_connection
from tests.test_e2e_core import wait_until

GUILD_CASES = "SELECT action, reason, metadata FROM moderation_logs ORDER BY id"


async def start(harness):
    modlog = harness.standin.add_channel("mod-log")
    demo = harness.demo
    harness.community = demo.community_config(
        cogs=["cogs.core", "cogs.moderation"],
        announcements=AnnouncementConfig(general_channel_id=int(demo.general.id), mod_log_channel_id=int(modlog.id)),
    )
    bot = await harness.start_bot()
    return bot, modlog


async def delivered(bot, kind: str, count: int = 1, timeout: float = 5.0) -> None:
    """Wait until the outbox has settled `count` items of this kind."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        settled = await bot.pool.fetchval("SELECT count(*) FROM outbox WHERE kind = $1 AND status <> 'pending'", kind)
        if settled >= count:
            return
        assert loop.time() < deadline, f"only {settled} {kind} item(s) settled"
        await asyncio.sleep(0.05)


async def test_a_warning_is_a_numbered_case_a_dm_and_a_modlog_entry(harness):
    bot, modlog = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    reply = await mod.slash("mod warn", member=alice, reason="please keep it civil")
    assert reply.ephemeral and reply.content == "Case #1: warn alice."
    await delivered(bot, "dm")
    await delivered(bot, "channel_message")
    dm = await harness.standin.wait_for(lambda o: o.kind == "dm", past=True)
    assert dm.message.embeds[0]["title"] == f"You were warned in {harness.standin.guild.name}"
    assert dm.message.embeds[0]["description"] == "Case #1. The reason given:\nplease keep it civil"
    entry = await harness.standin.wait_for(
        lambda o: o.kind == "message" and o.message.channel_id == modlog.id, past=True
    )
    assert entry.message.embeds[0]["title"] == "Case #1: Warned alice"
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert (case.action, case.reason) == ("warn", "please keep it civil")
    assert case.metadata["dm_sent"] is True and case.metadata["channel_id"] == harness.demo.general.id


async def test_a_note_is_never_sent_to_the_member(harness):
    bot, _ = await start(harness)
    reply = await harness.member("mod").slash("mod note", member=harness.member("bob"), reason="watch the memes")
    assert reply.content == "Case #1: note bob."
    await delivered(bot, "channel_message")
    assert await bot.pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'dm'") == 0


async def test_refusals_write_nothing(harness):
    bot, _ = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    admin = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    refusals = [
        (await mod.slash("mod warn", member=mod, reason="me"), "You can't moderate yourself."),
        (
            await mod.slash("mod ban", member=admin, reason="coup"),
            "You can only moderate members whose highest role is below yours.",
        ),
        (
            await alice.slash("mod kick", member=harness.member("bob"), reason="I don't like him"),
            "Only staff can moderate.",
        ),
        (
            await admin.slash("mod warn", member=harness.member("owner"), reason="x"),
            "Nobody can moderate the server owner.",
        ),
    ]
    for reply, expected in refusals:
        assert reply.ephemeral and reply.content == expected
    assert await bot.pool.fetchval("SELECT count(*) FROM moderation_logs") == 0
    assert await bot.pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_kicked_member_is_told_first(harness):
    bot, _ = await start(harness)
    bob = harness.member("bob")
    assert (await harness.member("mod").slash("mod kick", member=bob, reason="spam")).content == "Case #1: kick bob."
    await delivered(bot, "kick")
    kinds = [o.kind for o in harness.standin.outputs if o.kind in ("dm", "kick")]
    assert kinds == ["dm", "kick"]
    assert bob.id not in harness.standin.guild.members


async def test_a_temporary_ban_is_lifted_once_even_across_a_restart(harness):
    bot, _ = await start(harness)
    bob = harness.member("bob")
    reply = await harness.member("mod").slash("mod ban", member=bob, reason="cool off", duration="2s")
    assert reply.content == "Case #1: ban bob (2s)."
    await delivered(bot, "ban")
    assert bob.id in harness.standin.guild.bans
    await harness.stop_bot()
    await asyncio.sleep(2.5)  # it expires while the bot is down
    bot, _ = await start(harness)
    await delivered(bot, "unban")
    assert bob.id not in harness.standin.guild.bans
    await harness.stop_bot()
    bot, _ = await start(harness)
    await asyncio.sleep(0.5)
    assert [o.kind for o in harness.standin.outputs].count("unban") == 1
    rows = await bot.pool.fetch(GUILD_CASES)
    assert [r["action"] for r in rows] == ["ban", "unban"]
    assert rows[1]["metadata"]["case_number"] == 2 and "expired (case #1)" in rows[1]["reason"]


async def test_an_old_temporary_ban_never_lifts_a_newer_permanent_one(harness):
    bot, _ = await start(harness)
    bob, mod = harness.member("bob"), harness.member("mod")
    await mod.slash("mod ban", member=bob, reason="a day off", duration="1s")
    await mod.slash("mod ban", member=bob, reason="and now for good")
    await delivered(bot, "ban", 2)
    await asyncio.sleep(2)
    await bot.timers.run_due()
    assert bob.id in harness.standin.guild.bans
    assert "unban" not in [o.kind for o in harness.standin.outputs]
    statuses = await bot.pool.fetch("SELECT status, expires_at FROM moderation_sanctions ORDER BY id")
    assert [r["status"] for r in statuses] == ["superseded", "active"] and statuses[1]["expires_at"] is None


async def test_a_manual_unban_closes_the_open_ban(harness):
    bot, _ = await start(harness)
    bob, mod = harness.member("bob"), harness.member("mod")
    await mod.slash("mod ban", member=bob, reason="raid", duration="7d")
    await delivered(bot, "ban")
    assert (await mod.slash("mod unban", user=bob, reason="appeal accepted")).content == "Case #2: unban bob."
    await delivered(bot, "unban")
    assert bob.id not in harness.standin.guild.bans
    row = await bot.pool.fetchrow("SELECT status, ended_by_case FROM moderation_sanctions")
    assert row["status"] == "lifted" and row["ended_by_case"] is not None


async def test_timeouts_are_capped_at_28_days_with_a_notice(harness):
    bot, _ = await start(harness)
    carol = harness.member("carol")
    reply = await harness.member("mod").slash("mod timeout", member=carol, reason="heated", duration="30d")
    assert reply.content == "Case #1: timeout carol (4w). Discord allows at most 28 days, so the timeout was capped."
    await delivered(bot, "timeout")
    until = harness.standin.guild.members[carol.id].communication_disabled_until
    assert timedelta(days=27, hours=23) < until - datetime.now(UTC) <= timedelta(days=28)
    bad = await harness.member("mod").slash("mod timeout", member=carol, reason="x", duration="soon")
    assert bad.ephemeral and "is not a duration" in bad.content


async def test_hostile_reasons_are_stored_exactly_and_ping_nobody(harness):
    bot, modlog = await start(harness)
    reason = ("\u202e<@&1> @everyone `; DROP TABLE users; --` **bold** " * 80)[:4000]
    await harness.member("mod").slash("mod warn", member=harness.member("alice"), reason=reason)
    await delivered(bot, "channel_message")
    assert await bot.pool.fetchval("SELECT reason FROM moderation_logs") == reason
    entry = await harness.standin.wait_for(
        lambda o: o.kind == "message" and o.message.channel_id == modlog.id, past=True
    )
    assert not entry.message.content and "@everyone" not in (entry.message.content or "")
    shown = entry.message.embeds[0]["description"]
    assert len(shown) <= 4096 and shown == "**Reason**\n" + reason  # whole (escaped, it would not fit)


async def test_case_show_and_history(harness):
    await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    for i in range(12):
        await mod.slash("mod note", member=alice, reason=f"note {i}")
    shown = await mod.slash("mod case show", number=3)
    assert shown.ephemeral and shown.embed["title"] == "Case #3: Note on alice"
    assert shown.embed["description"] == "**Reason**\nnote 2" and shown.embed["fields"][0]["value"] == f"<@{mod.id}>"
    missing = await mod.slash("mod case show", number=99)
    assert missing.content == "There is no case #99."
    await mod.slash("mod warn", member=alice, reason="one", points=2)
    await mod.slash("mod warn", member=alice, reason="two")
    await mod.slash("mod case void", number=13, reason="mistake")
    first = await mod.slash("mod history", member=alice)
    numbers = [line.split()[0] for line in first.embed["description"].splitlines()[2:]]
    assert first.embed["description"].splitlines()[0] == "Active warning points: **1**"  # #13 voided
    assert numbers == [f"**#{n}**" for n in range(14, 4, -1)]
    assert "[VOID]" in first.embed["description"].splitlines()[3]
    assert first.message.components[0]["components"][0]["disabled"] is True  # nothing newer
    older = await mod.click(first, "Older ▶")
    assert [line.split()[0] for line in older.embed["description"].splitlines()[2:]] == [
        f"**#{n}**" for n in range(4, 0, -1)
    ]
    assert older.message.components[0]["components"][1]["disabled"] is True  # nothing older
    newer = await mod.click(older, "◀ Newer")
    assert newer.embed["description"] == first.embed["description"]
    assert newer.embed["title"] == "Moderation history of alice"
    mod.lose_role(harness.demo.staff_roles[0])
    refused = await mod.click(newer, "Older ▶")
    assert refused.ephemeral and refused.content == "Only staff can read moderation history."


async def start_with_mute_role(harness, role):
    """The bot with the moderation cogs, a modlog and `role` as conclave.toml's mute role."""
    modlog = harness.standin.add_channel("mod-log")
    demo = harness.demo
    harness.community = demo.community_config(
        cogs=["cogs.core", "cogs.moderation"],
        announcements=AnnouncementConfig(general_channel_id=int(demo.general.id), mod_log_channel_id=int(modlog.id)),
        moderation={"mute_role_id": int(role.id)},
    )
    return await harness.start_bot()


async def test_a_muted_member_who_rejoins_is_muted_again_until_the_mute_ends(harness):
    muted_role = harness.standin.add_role("Muted", position=5)
    bot = await start_with_mute_role(harness, muted_role)
    mod, bob = harness.member("mod"), harness.member("bob")
    reply = await mod.slash("mod mute", member=bob, reason="spamming", duration="3s")
    assert reply.content == "Case #1: mute bob (3s)."
    await delivered(bot, "add_role")
    assert muted_role.id in harness.standin.guild.members[bob.id].roles

    bob.leave_guild()  # leaving sheds every role on Discord
    bob.rejoin_guild()
    await delivered(bot, "add_role", 2)
    assert muted_role.id in harness.standin.guild.members[bob.id].roles

    await asyncio.sleep(3)
    await bot.timers.run_due()
    await delivered(bot, "remove_role")
    assert muted_role.id not in harness.standin.guild.members[bob.id].roles
    rows = await bot.pool.fetch(GUILD_CASES)
    assert [r["action"] for r in rows] == ["mute", "unmute"]
    assert (await mod.slash("mod unmute", member=bob, reason="again?")).content == "Case #3: unmute bob."


async def test_a_mute_ends_with_the_role_it_gave_even_after_the_mute_role_changed(harness):
    first = harness.standin.add_role("Muted", position=5)
    second = harness.standin.add_role("Muted v2", position=6)
    bot, _ = await start(harness)
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    mod, bob, alice = harness.member("mod"), harness.member("bob"), harness.member("alice")
    await boss.slash("modconfig set", setting="mute_role", value=first.id)
    assert (await mod.slash("mod mute", member=bob, reason="spam")).content == "Case #1: mute bob (permanent)."
    await delivered(bot, "add_role")
    await boss.slash("modconfig set", setting="mute_role", value=second.id)
    bob.leave_guild()
    bob.rejoin_guild()  # muted again with the role he was muted with
    await delivered(bot, "add_role", 2)
    assert first.id in harness.standin.guild.members[bob.id].roles
    assert second.id not in harness.standin.guild.members[bob.id].roles
    assert (await mod.slash("mod unmute", member=bob, reason="done")).content == "Case #2: unmute bob."
    await delivered(bot, "remove_role")
    assert first.id not in harness.standin.guild.members[bob.id].roles
    removed = await bot.pool.fetchval("SELECT payload->>'role_id' FROM outbox WHERE kind = 'remove_role'")
    assert removed == first.id
    # the old role is given only while a mute that gave it is in force: a forged row is refused
    forged = {"guild_id": str(bot.guild_id), "user_id": bob.id, "role_id": first.id, "reason": "x"}
    forged_id = await outbox.enqueue(bot.pool, "add_role", forged)
    bot.outbox.wake()
    await delivered(bot, "add_role", 3)
    assert await bot.pool.fetchval("SELECT status FROM outbox WHERE id = $1", forged_id) == "refused"
    assert first.id not in harness.standin.guild.members[bob.id].roles
    # a mute from now on gives the new role
    await mod.slash("mod mute", member=alice, reason="spam")
    await delivered(bot, "add_role", 4)
    assert second.id in harness.standin.guild.members[alice.id].roles


async def test_mute_needs_a_mute_role(harness):
    bot, _ = await start(harness)
    reply = await harness.member("mod").slash("mod mute", member=harness.member("bob"), reason="x")
    assert reply.ephemeral and "moderation.mute_role_id" in reply.content
    assert await bot.pool.fetchval("SELECT count(*) FROM moderation_logs") == 0


async def test_two_moderators_warning_at_once_escalate_once(harness):
    modlog = harness.standin.add_channel("mod-log")
    demo = harness.demo
    second = demo.new_member("mod2", roles=[demo.staff_roles[0]])
    harness.community = demo.community_config(
        cogs=["cogs.core", "cogs.moderation"],
        announcements=AnnouncementConfig(general_channel_id=int(demo.general.id), mod_log_channel_id=int(modlog.id)),
        moderation={
            "escalation": [{"points": 3, "action": "timeout", "duration": "1h"}, {"points": 8, "action": "ban"}]
        },
    )
    bot = await harness.start_bot()
    mod, bob = harness.member("mod"), harness.member("bob")
    assert (await mod.slash("mod warn", member=bob, reason="first", points=2)).content == "Case #1: warn bob."
    # Both cross 3 points if they don't see each other: exactly one may escalate.
    replies = await asyncio.gather(
        mod.slash("mod warn", member=bob, reason="again"), second.slash("mod warn", member=bob, reason="and again")
    )
    escalated = [r.content for r in replies if "threshold" in r.content]
    assert len(escalated) == 1 and "timeout (1h)" in escalated[0]
    rows = await bot.pool.fetch(GUILD_CASES)
    actions = [r["action"] for r in rows]
    assert sorted(actions) == ["timeout", "warn", "warn", "warn"]
    timeout = next(r for r in rows if r["action"] == "timeout")
    assert timeout["metadata"]["threshold"] == 3 and len(timeout["metadata"]["escalated_from"]) >= 2
    assert "active warning points (threshold 3)" in timeout["reason"]
    await delivered(bot, "timeout")
    assert harness.standin.guild.members[bob.id].communication_disabled_until is not None


async def another_waits(conn: asyncpg.Connection, on: str) -> bool:
    """Another session of this database waits for a lock (`on`: 'Lock' for a row, 'advisory')."""
    return (
        await conn.fetchval(
            """SELECT count(*) FROM pg_stat_activity
                WHERE $1 IN (wait_event_type, wait_event) AND pid <> pg_backend_pid() AND datname = current_database()""",
            on,
        )
        > 0
    )


async def test_a_warning_that_escalates_and_a_lift_of_the_same_members_timeout_at_once_do_not_deadlock(harness):
    """The warning took the case counter, then its escalation waited for the member's timeout row;
    /mod untimeout (or a void, an appeal) holds that row, then takes the counter: PostgreSQL aborted
    one of the two as a deadlock. A warning that may escalate locks the member's sanctions first."""
    harness.community = harness.demo.community_config(
        cogs=["cogs.core", "cogs.moderation"],
        moderation={"escalation": [{"points": 2, "action": "timeout", "duration": "1h"}]},
    )
    bot = await harness.start_bot()
    mod, bob = harness.member("mod"), harness.member("bob")
    await mod.slash("mod timeout", member=bob, reason="heated", duration="1h")
    await mod.slash("mod warn", member=bob, reason="one", points=1)
    guild_id = str(bot.guild_id)
    conn = await asyncpg.connect(harness.dsn)  # not one of the bot's (its pool is small)
    await init_connection(conn)
    try:
        async with conn.transaction():  # what /mod untimeout does: the timeout's row, then a case number
            assert await moderation.active_sanction(conn, guild_id, bob.id, "timeout", lock=True) is not None
            warning = asyncio.create_task(mod.slash("mod warn", member=bob, reason="two", points=1))

            await wait_until(lambda: another_waits(conn, "Lock"))
            await moderation.open_case(
                conn, guild_id=guild_id, moderator_id=None, target_user_id=None, action="note", reason="lifted"
            )
        reply = await warning
    finally:
        await conn.close()
    assert "threshold" in reply.content, reply.content
    actions = [r["action"] for r in await bot.pool.fetch(GUILD_CASES)]
    assert actions == ["timeout", "warn", "note", "warn", "timeout"]


async def test_no_sanction_comes_into_force_while_a_warning_holds_the_member(harness):
    """A warning that may escalate locks the member's sanctions in force, then the case counter; a
    /mod timeout committed meanwhile brought a new one into force that its escalation then waited
    for, while a /mod untimeout held it and waited for the counter. Every action takes the member's
    lock first, so the timeout waits for the warning's transaction."""
    bot, _ = await start(harness)
    mod, bob = harness.member("mod"), harness.member("bob")
    guild_id = str(bot.guild_id)
    conn = await asyncpg.connect(harness.dsn)
    try:
        async with conn.transaction():  # a warning's transaction, holding bob
            await moderation.lock_member(conn, guild_id, bob.id)
            timing_out = asyncio.create_task(mod.slash("mod timeout", member=bob, reason="heated", duration="1h"))

            await wait_until(lambda: another_waits(conn, "advisory"))
            assert await moderation.active_sanction(conn, guild_id, bob.id, "timeout") is None
        reply = await timing_out
    finally:
        await conn.close()
    assert reply.content.startswith("Case #1: timeout bob"), reply.content
    assert await moderation.active_sanction(bot.pool, guild_id, bob.id, "timeout") is not None


async def test_case_revisions_and_void_keep_history(harness):
    bot, _ = await start(harness)
    mod, bob = harness.member("mod"), harness.member("bob")
    await mod.slash("mod ban", member=bob, reason="raid", duration="7d")
    await delivered(bot, "ban")
    edited = await mod.slash("mod case edit", number=1, reason="raid with alts", duration="3d")
    assert edited.content == "Case #1 updated; the previous values are kept."
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert (case.reason, case.duration) == ("raid with alts", 3 * 24 * 60)
    expires = await bot.pool.fetchval("SELECT expires_at FROM moderation_sanctions")
    assert abs((expires - case.created_at) - timedelta(days=3)) < timedelta(seconds=1)
    assert await bot.pool.fetchval("SELECT count(*) FROM timers WHERE status = 'pending'") == 1

    voided = await mod.slash("mod case void", number=1, reason="wrong member")
    assert voided.content == "Case #1 voided."
    await delivered(bot, "unban")
    assert bob.id not in harness.standin.guild.bans
    shown = await mod.slash("mod case show", number=1)
    assert shown.embed["title"].startswith("[VOID] Case #1")
    revisions = shown.embed["fields"][-1]["value"]
    assert "was: raid" in revisions and "duration 1w → 3d" in revisions and "voided by" in revisions
    assert await bot.pool.fetchval("SELECT count(*) FROM timers WHERE status = 'pending'") == 0
    again = await mod.slash("mod case void", number=1, reason="twice")
    assert again.content == "Case #1 was voided already."


async def test_a_voided_warning_stops_counting_toward_escalation(harness):
    demo = harness.demo
    harness.community = demo.community_config(
        cogs=["cogs.core", "cogs.moderation"],
        moderation={"escalation": [{"points": 2, "action": "timeout", "duration": "1h"}]},
    )
    bot = await harness.start_bot()
    mod, bob = harness.member("mod"), harness.member("bob")
    await mod.slash("mod warn", member=bob, reason="one")
    await mod.slash("mod case void", number=1, reason="mistaken")
    second = await mod.slash("mod warn", member=bob, reason="two")
    assert "threshold" not in second.content  # the voided warning's point no longer counts
    third = await mod.slash("mod warn", member=bob, reason="three")
    assert "threshold" in third.content
    assert await bot.pool.fetchval("SELECT count(*) FROM moderation_logs WHERE action = 'timeout'") == 1


async def test_warn_from_a_message_keeps_it_as_evidence(harness):
    bot, _ = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    message = alice.say("something that breaks the rules")
    modal = await mod.message_command("Warn", message)
    assert modal.modal is not None and modal.modal["title"] == "Warn Alice"
    done = await mod.submit(modal, {"Reason": "rule 3: be kind", "Points (empty: the default)": "2"})
    assert done.ephemeral and done.content == "Case #1: warn alice."
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert case.reason == "rule 3: be kind" and case.metadata["points"] == 2
    assert case.metadata["message_id"] == message.id and case.metadata["channel_id"] == message.channel_id
    assert case.metadata["message_excerpt"] == "something that breaks the rules"
    assert case.metadata["evidence"][0].endswith(f"/{message.channel_id}/{message.id}")
    refused = await alice.message_command("Note", mod.say("a moderator's message"))
    assert refused.ephemeral and refused.content == "Only staff can moderate."


async def test_automod_times_out_a_flood_and_a_mass_mention_once_each(harness):
    demo = harness.demo
    harness.community = demo.community_config(
        cogs=["cogs.core", "cogs.moderation"],
        moderation={"automod": {"enabled": True, "flood_messages": 4, "flood_seconds": 10, "mass_mentions": 3}},
    )
    bot = await harness.start_bot()
    alice, bob = harness.member("alice"), harness.member("bob")
    for i in range(6):  # one flood: one case, whatever follows while it is recorded
        alice.say(f"spam {i}")
    everyone = [harness.member(n).member.user for n in ("alice", "carol", "mod")]
    bob.say("look at this", mentions=everyone)
    await delivered(bot, "timeout", 2)
    rows = await bot.pool.fetch("SELECT action, reason, moderator_id, metadata FROM moderation_logs ORDER BY id")
    assert sorted(r["reason"] for r in rows) == [
        "automod: 4 messages within 10 s",
        "automod: mentioned 3 members in one message",
    ]
    bot_id = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", str(bot.user.id))
    assert all(r["action"] == "timeout" and r["moderator_id"] == bot_id and r["metadata"]["automod"] for r in rows)
    for who in (alice, bob):
        assert harness.standin.guild.members[who.id].communication_disabled_until is not None
    harness.member("mod").say("staff can " * 3)
    for i in range(5):
        harness.member("mod").say(f"staff flood {i}")
    await asyncio.sleep(0.5)
    assert await bot.pool.fetchval("SELECT count(*) FROM moderation_logs") == 2  # staff are not automodded


async def test_which_staff_may_use_which_action_is_configurable(harness):
    demo = harness.demo
    admin_role = demo.staff_roles[1]
    harness.community = demo.community_config(
        cogs=["cogs.core", "cogs.moderation"],
        moderation={"action_roles": {"ban": [int(admin_role.id)], "case": [int(admin_role.id)]}},
    )
    bot = await harness.start_bot()
    mod, bob = harness.member("mod"), harness.member("bob")
    refused = await mod.slash("mod ban", member=bob, reason="raid")
    assert refused.ephemeral and refused.content == "Only Admin may ban (moderation.action_roles)."
    assert (await mod.slash("mod warn", member=bob, reason="allowed")).content == "Case #1: warn bob."
    assert (await mod.slash("mod case void", number=1, reason="no")).content.startswith("Only Admin may case")
    boss = demo.new_member("boss", roles=[admin_role])
    assert (await boss.slash("mod ban", member=bob, reason="raid")).content == "Case #2: ban bob (permanent)."
    assert await bot.pool.fetchval("SELECT count(*) FROM moderation_logs") == 2


async def test_case_numbers_autocomplete_for_staff_only(harness):
    await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    for i in range(12):
        await mod.slash("mod note", member=alice, reason=f"note number {i}")
    choices = await mod.autocomplete("mod case show", "number", "1")
    assert [c["value"] for c in choices] == [12, 11, 10, 1]
    assert choices[0]["name"] == "#12 note: note number 11"
    assert len(await mod.autocomplete("mod case show", "number", "")) == 12
    assert await alice.autocomplete("mod case show", "number", "") == []


async def test_reason_autocomplete_offers_presets_then_the_most_used(harness):
    demo = harness.demo
    harness.community = demo.community_config(
        cogs=["cogs.core", "cogs.moderation"], moderation={"reasons": ["Spam", "Harassment"]}
    )
    await harness.start_bot()
    mod, alice, bob = harness.member("mod"), harness.member("alice"), harness.member("bob")
    for reason in ("rude in voice", "spam in general", "spam in general", "SPAM links"):
        await mod.slash("mod note", member=bob, reason=reason)
    choices = await mod.autocomplete("mod warn", "reason", "spa", member=alice)
    assert [c["value"] for c in choices] == ["Spam", "spam in general", "SPAM links"]
    everything = await mod.autocomplete("mod ban", "reason", "", member=alice)
    assert [c["value"] for c in everything][:3] == ["Spam", "Harassment", "spam in general"]
    assert await alice.autocomplete("mod warn", "reason", "spa", member=bob) == []


async def test_the_ban_waits_for_the_dm_that_tells_the_member_while_discord_retries_it(harness):
    bot, _ = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    dm_channel = harness.standin.dm_channel_for(alice.id)
    harness.standin.inject_failure("POST", f"/channels/{dm_channel.id}/messages", status=503, times=1)
    await mod.slash("mod ban", member=alice, reason="raid")
    await delivered(bot, "ban")
    kinds = [o.kind for o in harness.standin.outputs if o.kind in ("dm", "ban")]
    assert kinds == ["dm", "ban"]  # told first, although Discord failed the first try
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert case.metadata["dm_sent"] is True
    dm_item = await bot.pool.fetchrow("SELECT attempts, status FROM outbox WHERE kind = 'dm'")
    assert (dm_item["attempts"], dm_item["status"]) == (2, "delivered")


async def test_members_are_told_in_plain_words_with_the_whole_reason(harness):
    bot, _ = await start(harness)
    mod, alice, bob, carol = (harness.member(n) for n in ("mod", "alice", "bob", "carol"))
    server = harness.standin.guild.name
    long_reason = ("Repeated spam in #general after two warnings, see the messages linked. " * 60)[:4000]
    await mod.slash("mod timeout", member=alice, reason=long_reason, duration="10m")
    await mod.slash("mod kick", member=bob, reason="raid")
    await mod.slash("mod ban", member=carol, reason="scam links")
    await delivered(bot, "dm", 3)
    dms = [o.message.embeds[0] for o in harness.standin.outputs if o.kind == "dm"]
    assert [d["title"] for d in dms] == [
        f"You were timed out in {server} for 10 minutes",
        f"You were kicked from {server}",
        f"You were banned from {server} permanently",
    ]
    timeout_dm = dms[0]["description"]
    assert timeout_dm == "Case #1. The reason given:\n" + long_reason  # all 4,000 characters, no cut
    assert len(timeout_dm) <= 4096
    assert dms[0]["footer"]["text"] == "If you think this is wrong, press Appeal below (once per case)."
    shown = await mod.slash("mod case show", number=1)
    assert shown.embed["description"] == "**Reason**\n" + long_reason


def test_durations_read_as_a_person_writes_them():
    from datetime import timedelta

    from bot.ui.moderation import duration_words, notice_title

    assert duration_words(timedelta(minutes=10)) == "10 minutes"
    assert duration_words(timedelta(hours=1, minutes=30)) == "1 hour and 30 minutes"
    assert duration_words(timedelta(days=7)) == "7 days"
    assert duration_words(timedelta(days=1, hours=2, minutes=3)) == "1 day, 2 hours and 3 minutes"
    assert notice_title("mute", "The Realm", None) == "You were muted in The Realm until a moderator unmutes you"
    assert notice_title("ban", "The Realm", timedelta(days=3)) == "You were banned from The Realm for 3 days"


async def test_an_unmute_queued_behind_a_slow_mute_never_ends_a_newer_mute(harness):
    muted = harness.standin.add_role("Muted", position=5)
    bot = await start_with_mute_role(harness, muted)
    mod, bob = harness.member("mod"), harness.member("bob")
    guild_id = harness.standin.guild.id
    harness.standin.inject_failure("PUT", f"/guilds/{guild_id}/members/{bob.id}/roles/{muted.id}", status=503, times=2)
    await mod.slash("mod mute", member=bob, reason="spam")
    await mod.slash("mod unmute", member=bob, reason="wrong member")  # waits for the mute's role
    assert (await mod.slash("mod mute", member=bob, reason="it was him")).content == "Case #3: mute bob (permanent)."
    await delivered(bot, "add_role", 2, timeout=15)
    await delivered(bot, "remove_role", timeout=15)
    removal = await bot.pool.fetchrow("SELECT status, last_error FROM outbox WHERE kind = 'remove_role'")
    assert removal["status"] == "refused" and removal["last_error"].startswith("superseded: a newer mute")
    assert muted.id in harness.standin.guild.members[bob.id].roles
    assert [s["status"] for s in await bot.pool.fetch("SELECT status FROM moderation_sanctions ORDER BY id")] == [
        "lifted",
        "active",
    ]


async def test_an_unmute_behind_a_slow_mute_still_takes_its_role_when_the_newer_mute_gives_another(harness):
    first = harness.standin.add_role("Muted", position=5)
    second = harness.standin.add_role("Muted v2", position=6)
    bot, _ = await start(harness)
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    mod, bob = harness.member("mod"), harness.member("bob")
    guild_id = harness.standin.guild.id
    harness.standin.inject_failure("PUT", f"/guilds/{guild_id}/members/{bob.id}/roles/{first.id}", status=503, times=2)
    await boss.slash("modconfig set", setting="mute_role", value=first.id)
    await mod.slash("mod mute", member=bob, reason="spam")
    await mod.slash("mod unmute", member=bob, reason="wrong member")
    await boss.slash("modconfig set", setting="mute_role", value=second.id)
    await mod.slash("mod mute", member=bob, reason="it was him")
    await delivered(bot, "add_role", 2, timeout=15)
    await delivered(bot, "remove_role", timeout=15)
    assert await bot.pool.fetchval("SELECT status FROM outbox WHERE kind = 'remove_role'") == "delivered"
    roles = harness.standin.guild.members[bob.id].roles
    assert first.id not in roles and second.id in roles


async def test_case_show_marks_a_cut_revision_and_attaches_every_revision_in_full(harness):
    await start(harness)
    mod, bob = harness.member("mod"), harness.member("bob")
    await mod.slash("mod warn", member=bob, reason="first wording")
    said = [f"wording {n}: " + " ".join(f"word{n}-{i}" for i in range(400))[:3000] for n in range(3)]
    for reason in [*said, "the final wording"]:
        await mod.slash("mod case edit", number=1, reason=reason)
    void_reason = "voided because " + "it was the wrong member, " * 100
    await mod.slash("mod case void", number=1, reason=void_reason[:4000])
    shown = await mod.slash("mod case show", number=1)
    revisions = shown.embed["fields"][-1]
    assert len(revisions["value"]) <= 1024 and len(discord.Embed.from_dict(shown.embed)) <= 6000
    lines = revisions["value"].splitlines()
    assert len(lines) == 6 and all(line.endswith("…") for line in lines[1:4])  # each long old reason marked
    assert lines[0].endswith("was: first wording") and lines[-1] == "Cut to fit: every revision in full in case-1.txt"
    [attached] = shown.attachments
    assert attached.filename == "case-1.txt"
    full = attached.data.decode()
    for reason in ["first wording", *said, void_reason[:4000]]:
        assert reason in full
    assert full.count("reason changed by mod") == 4 and "voided by mod" in full

    # More revisions than the field shows: the older are in the file, and the field says so.
    await mod.slash("mod warn", member=bob, reason="short")
    for n in range(10):
        await mod.slash("mod case edit", number=2, reason=f"short {n}")
    shown = await mod.slash("mod case show", number=2)
    lines = shown.embed["fields"][-1]["value"].splitlines()
    assert lines[0] == "2 earlier revisions in case-2.txt" and lines[-1].endswith("was: short 8")
    every = shown.attachments[0].data.decode()
    assert every.count("reason changed by mod") == 10 and "; was:\nshort\n" in every


async def test_unbanning_someone_who_is_not_banned_is_refused_and_records_no_case(harness):
    bot, _ = await start(harness)
    mod, alice, bob = harness.member("mod"), harness.member("alice"), harness.member("bob")
    refused = await mod.slash("mod unban", user=alice, reason="by mistake")
    assert refused.ephemeral and refused.content == "alice is not banned."
    assert await bot.pool.fetchval("SELECT count(*) FROM moderation_logs") == 0
    # Banned in Discord's own menus (Discord is asked, whatever the bot has recorded yet): it goes ahead.
    mod.ban_in_discord(bob, reason="raid")
    lifted = await mod.slash("mod unban", user=bob, reason="second chance")
    assert lifted.content.startswith("Case #") and "unban bob" in lifted.content
