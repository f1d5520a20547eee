"""/erase leaves nothing of the member in the outbox, dead letters or local journal; /mydata exports
every case and sanction on record about the member, told or not, but the staff's notes, the
reasons they gave for voiding a case and a purge the member was never told of."""

from __future__ import annotations

import json

from bot.writes.journal import Journal
from db import dead_letters
from tests.test_e2e_achievements import start as start_achievements
from tests.test_e2e_core import wait_until
from tests.test_e2e_moderation import delivered, start
from tests.xp_support import handled
from tests.xp_support import start as start_xp

APPEAL_FIELD = "Why should the staff reconsider?"


async def test_mydata_exports_no_purge_case_the_member_was_never_told_of(harness):
    bot = await start_xp(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    alice.say("buy cheap gold at example.com")
    await handled(bot, 1)
    purged = await mod.slash("mod purge", member=alice, count=1, reason="spam link")
    assert purged.content.startswith("Case #1: deleting 1 message(s) of alice")
    await mod.slash("mod warn", member=alice, reason="no spam")
    await alice.slash("mydata")
    dm = await harness.standin.wait_for(lambda o: o.kind == "dm" and o.message.attachments, past=True)
    data = json.loads(dm.message.attachments[0].data)
    assert [c["action"] for c in data["moderation_cases"]] == ["warn"]
    assert "spam link" not in dm.message.attachments[0].data.decode()


async def test_mydata_exports_a_voided_case_and_its_lift_but_not_the_staffs_reason_for_the_void(harness):
    """The void's lift was never sent to the member and the void's reason is the staff's: the cases
    are exported (the timeout marked void, its lift as "voided by the staff"), the reason is not."""
    bot, _ = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    await mod.slash("mod warn", member=alice, reason="no spam")
    await mod.slash("mod timeout", member=alice, reason="cool off", duration="1h")
    voided = await mod.slash("mod case void", number=2, reason="wrong member: the staff's private mix-up")
    assert voided.content == "Case #2 voided."
    await delivered(bot, "dm", 2)
    rows = await bot.pool.fetch("SELECT action, reason FROM moderation_logs ORDER BY id")
    assert [r["action"] for r in rows] == ["warn", "timeout", "untimeout"]  # the void's lift, never sent to her
    await alice.slash("mydata")
    dm = await harness.standin.wait_for(lambda o: o.kind == "dm" and o.message.attachments, past=True)
    data = json.loads(dm.message.attachments[0].data)
    exported = [(c["case_number"], c["action"], c["voided"], c["told_by_dm"]) for c in data["moderation_cases"]]
    assert exported == [(1, "warn", False, True), (2, "timeout", True, True), (3, "untimeout", False, False)]
    assert data["moderation_cases"][2]["reason"] == "voided by the staff (case #2)"
    assert [(s["case_number"], s["kind"], s["status"]) for s in data["moderation_sanctions"]] == [
        (2, "timeout", "voided")
    ]
    assert "private mix-up" not in dm.message.attachments[0].data.decode()


async def test_erasure_leaves_no_discord_id_or_dm_text_in_the_outbox_dead_letters_or_journal(harness):
    bot, _ = await start(harness)
    mod, alice, bob = harness.member("mod"), harness.member("alice"), harness.member("bob")
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    await mod.slash("mod warn", member=alice, reason="a secret only the DM told")
    await mod.slash("mod warn", member=bob, reason="bob's own warning")
    await delivered(bot, "dm", 2)
    await alice.slash("appeal", case=1, reason="my phone number is 555-0199, call me")
    await delivered(bot, "channel_message", 3)
    harness.standin.users[alice.id].dms_open = False
    await mod.slash("mod warn", member=alice, reason="a DM Discord refused")  # a failed row, kept for ever
    await delivered(bot, "dm", 3)
    async with bot.pool.acquire() as conn:  # what an outage and a refused write left behind
        await dead_letters.record(
            conn,
            [
                dead_letters.Refused("xp_grant", {"discord_id": alice.id, "amount": 20}, "refused"),
                dead_letters.Refused("xp_grant", {"discord_id": bob.id, "amount": 15}, "refused"),
            ],
        )
    journal = Journal(harness.data_dir / "journal" / "xp")
    journal.spill(
        [
            {"t": "grant", "discord_id": alice.id, "user_id": None, "amount": 20},
            {"t": "grant", "discord_id": bob.id, "user_id": None, "amount": 15},
        ]
    )
    analytics = Journal(harness.data_dir / "journal" / "analytics")
    analytics.spill([{"event_type": "command_used", "discord_id": alice.id, "user_id": None, "label": "rank"}])

    done = await boss.slash("erase", member=alice.id, reason="GDPR request")  # by id: alice may have left
    assert done.ephemeral and done.content.startswith("Erased the personal data of that member")
    outbox_rows = [r["payload"] for r in await bot.pool.fetch("SELECT payload FROM outbox ORDER BY id")]
    text = json.dumps(outbox_rows)
    assert alice.id not in text
    for secret in ("a secret only the DM told", "555-0199", "a DM Discord refused"):
        assert secret not in text
    assert "bob's own warning" in text and bob.id in text  # others' rows are untouched
    letters = await bot.pool.fetch("SELECT payload, status FROM dead_letters ORDER BY id")
    assert alice.id not in json.dumps([r["payload"] for r in letters])
    assert [r["status"] for r in letters] == ["discarded", "pending"]
    kept = [r for path in journal.files() for r in journal.read(path)]
    assert kept == [{"t": "grant", "discord_id": bob.id, "user_id": None, "amount": 15}]
    counted = [r for path in analytics.files() for r in analytics.read(path)]
    assert counted == [{"event_type": "command_used", "discord_id": None, "user_id": None, "label": "rank"}]
    logged = await bot.pool.fetchval("SELECT new_value FROM admin_logs WHERE action = 'erasure'")
    assert logged["outbox_scrubbed"] >= 4 and logged["dead_letters_scrubbed"] == 1 and logged["journal_records"] == 2


async def test_an_erasure_while_a_dm_is_still_retried_scrubs_it_once_it_is_settled(harness):
    bot, _ = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    dm_channel = harness.standin.dm_channel_for(alice.id)
    harness.standin.inject_failure("POST", f"/channels/{dm_channel.id}/messages", status=503, times=2)
    await mod.slash("mod warn", member=alice, reason="told only by DM")
    done = await boss.slash("erase", member=alice, reason="asked")
    assert done.content.startswith("Erased the personal data of that member")
    await delivered(bot, "dm", timeout=15)  # it still reaches them: it was sent before the erasure
    dm = await harness.standin.wait_for(lambda o: o.kind == "dm", past=True)
    assert dm.message.embeds[0]["description"].endswith("told only by DM")  # the reason, whole
    payloads = json.dumps([r["payload"] for r in await bot.pool.fetch("SELECT payload FROM outbox")])
    assert alice.id not in payloads and "told only by DM" not in payloads


ROWS_UNDER = """SELECT up.total_xp, up.message_count FROM users u JOIN user_profiles up ON up.user_id = u.id
                WHERE u.discord_id = $1"""


async def test_erase_drops_the_xp_and_chat_counts_still_in_memory(harness):
    bot = await start_xp(harness, flush_interval_seconds=60, community={"activity_flush_seconds": 300})
    alice, bob = harness.member("alice"), harness.member("bob")
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    alice.say("hello everyone")
    bob.say("hello alice")
    await alice.slash("about")  # her row exists now; her grant and count are still in memory

    async def received():
        return bot.chat_activity.received >= 2

    await wait_until(received)
    assert bot.doors.xp.engine.writes.has_pending(int(alice.id))
    done = await boss.slash("erase", member=alice, reason="GDPR request")
    assert done.content.startswith("Erased")
    assert not bot.doors.xp.engine.writes.has_pending(int(alice.id))
    await bot.flush_all()
    assert await bot.pool.fetch(ROWS_UNDER, alice.id) == []  # nothing earned before comes back under her id
    assert [tuple(r) for r in await bot.pool.fetch(ROWS_UNDER, bob.id)] == [(20, 1)]  # others' are kept
    assert await bot.pool.fetchval("SELECT count(*) FROM xp_ledger") == 1
    changed = await bot.pool.fetchval("SELECT new_value FROM admin_logs WHERE action = 'erasure'")
    assert changed["memory_dropped"] == {"grants": 1, "messages": 1}


async def test_erase_drops_the_chat_counts_in_memory_without_xp(harness):
    demo = harness.demo
    harness.community = demo.community_config(cogs=["cogs.core"], activity_flush_seconds=300)
    bot = await harness.start_bot()
    alice = harness.member("alice")
    boss = demo.new_member("boss", roles=[demo.staff_roles[1]])
    await alice.slash("about")
    alice.say("hello everyone")

    async def counted():
        return bot.chat_activity.has_pending(int(alice.id))

    await wait_until(counted)
    assert (await boss.slash("erase", member=alice, reason="GDPR request")).content.startswith("Erased")
    await bot.flush_all()
    assert await bot.pool.fetch(ROWS_UNDER, alice.id) == []


async def test_erase_leaves_no_discord_id_in_the_outbox_dedupe_keys(harness, tmp_path):
    bot = await start_achievements(harness, tmp_path)
    mod, bob, carol = harness.member("mod"), harness.member("bob"), harness.member("carol")
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    for member in (bob, carol):  # keyed achievement:<id>:<users.id>:<discord id>
        granted = await mod.slash("achievement grant", member=member, name="Ten Messages", reason="helped")
        assert granted.ephemeral
    await delivered(bot, "channel_message", 2)
    keyed = await bot.pool.fetchval("SELECT count(*) FROM outbox WHERE dedupe_key LIKE '%' || $1 || '%'", bob.id)
    assert keyed >= 1
    assert (await boss.slash("erase", member=bob, reason="GDPR request")).content.startswith("Erased")
    rows = await bot.pool.fetch("SELECT dedupe_key, payload::text AS p FROM outbox ORDER BY id")
    assert not any(bob.id in r["p"] for r in rows)
    assert [r["dedupe_key"] for r in rows if r["dedupe_key"] and bob.id in r["dedupe_key"]] == []
    assert any(r["dedupe_key"] and carol.id in r["dedupe_key"] for r in rows)  # others' keys are kept
    erased = [r["dedupe_key"] for r in rows if r["dedupe_key"] and "erased-" in r["dedupe_key"]]
    assert len(erased) == keyed and len(set(erased)) == keyed  # each still unique


async def test_erasure_leaves_no_name_in_modlog_entries_they_moderated_nor_in_the_audit_of_their_writes(harness):
    bot, _ = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    await mod.slash("mod warn", member=alice, reason="keep it civil")
    await delivered(bot, "channel_message")
    entry = await bot.pool.fetchval("SELECT payload FROM outbox WHERE dedupe_key = 'case-modlog:1'")
    assert {"name": "Moderator", "value": "mod", "inline": True} in entry["embeds"][0]["fields"]
    alice_row = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", alice.id)
    letter = await bot.pool.fetchval(
        """INSERT INTO dead_letters (kind, payload, error, sqlstate)
           VALUES ('xp_grant', $1, $2, '23503') RETURNING id""",
        {"t": "grant", "discord_id": alice.id, "user_id": alice_row, "amount": 20},
        f"no user_profiles row for member {alice.id}",
    )
    done = await mod.slash("deadletter discard", letter_id=letter, reason="one message, not worth it")
    assert done.content == f"Dead letter {letter}: discarded."
    assert await bot.pool.fetchval("SELECT resolution FROM dead_letters") == "discarded (by mod)"

    assert (await boss.slash("erase", member=mod, reason="left the staff, asked")).content.startswith("Erased")
    entry = await bot.pool.fetchval("SELECT payload::text FROM outbox WHERE dedupe_key = 'case-modlog:1'")
    assert '"mod"' not in entry  # the modlog entry they moderated named them
    assert (await boss.slash("erase", member=alice, reason="GDPR request")).content.startswith("Erased")
    letters = await bot.pool.fetchrow("SELECT error, resolution FROM dead_letters WHERE id = $1", letter)
    assert letters["resolution"] == "discarded" and alice.id not in letters["error"]
    audit = await bot.pool.fetch(
        "SELECT previous_value::text AS p, new_value::text AS n, reason FROM admin_logs WHERE action LIKE 'dead_letter%'"
    )
    assert audit and not any(alice.id in (r["p"] or "") + (r["n"] or "") for r in audit)
    assert [r["reason"] for r in audit] == ["one message, not worth it"]


async def test_erasure_drops_the_members_voice_clock_and_their_analytics_waiting_in_memory(harness):
    from datetime import UTC, datetime

    bot = await start_xp(harness)
    alice, bob = harness.member("alice"), harness.member("bob")
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    alice.join_voice(harness.demo.voice)
    bob.join_voice(harness.demo.voice)
    alice.say("marker")
    await handled(bot, 1)
    now = datetime.now(UTC)
    assert bot.doors.xp.engine.voice_tick(elapsed=50, at=now) == 0  # 50 s each: no minute yet
    async with bot.flush_schedule.lock:  # no periodic flush meanwhile: the row stays in memory
        dave = harness.demo.new_member("dave")  # joins: a member_join row waits in the analytics buffer

        async def joined():
            return await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", dave.id)

        dave_row = await wait_until(joined)
        assert any(r.user_id == dave_row for r in bot.analytics._pending)
        for member in (bob, dave):
            erased = await boss.slash("erase", member=member, reason="GDPR request")
            assert erased.content.startswith("Erased")
        assert not any(r.user_id == dave_row or r.discord_id == dave.id for r in bot.analytics._pending)
    await bot.analytics.flush()
    assert await bot.pool.fetchval("SELECT count(*) FROM analytics WHERE user_id = $1", dave_row) == 0
    assert await bot.pool.fetchval("SELECT count(*) FROM analytics WHERE event_type = 'member_join'") >= 1
    assert bot.doors.xp.engine.voice_tick(elapsed=20, at=now) == 1  # alice's minute; bob's 50 s went with him
    await bot.flush_all()
    assert await bot.pool.fetchval("SELECT count(*) FROM users WHERE discord_id = $1", bob.id) == 0
    voice = await bot.pool.fetch(
        "SELECT u.discord_id FROM xp_ledger l JOIN users u ON u.id = l.user_id WHERE l.source = 'voice'"
    )
    assert [r["discord_id"] for r in voice] == [alice.id]


async def test_erasing_a_former_moderator_leaves_their_name_in_no_dead_letters_resolution(harness):
    bot, _ = await start(harness)
    mod, bob = harness.member("mod"), harness.member("bob")
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    await bob.slash("about")  # bob's row
    bob_row = await bot.pool.fetchval("SELECT id FROM users WHERE discord_id = $1", bob.id)
    letters = []
    for amount in (20, 15):
        letters.append(
            await bot.pool.fetchval(
                """INSERT INTO dead_letters (kind, payload, error, sqlstate)
                   VALUES ('xp_grant', $1, 'refused', '23503') RETURNING id""",
                {"t": "grant", "discord_id": bob.id, "user_id": bob_row, "amount": amount},
            )
        )
    assert (await mod.slash("deadletter discard", letter_id=letters[0], reason="not worth it")).content.endswith(
        "discarded."
    )
    assert (await boss.slash("deadletter discard", letter_id=letters[1], reason="same")).content.endswith("discarded.")
    resolutions = "SELECT resolution FROM dead_letters ORDER BY id"
    assert [r["resolution"] for r in await bot.pool.fetch(resolutions)] == ["discarded (by mod)", "discarded (by boss)"]

    assert (await boss.slash("erase", member=mod, reason="left the staff, asked")).content.startswith("Erased")
    # what was done stays; who did it goes for the erased moderator only (admin_logs keeps their row)
    assert [r["resolution"] for r in await bot.pool.fetch(resolutions)] == ["discarded", "discarded (by boss)"]
    assert [r["status"] for r in await bot.pool.fetch("SELECT status FROM dead_letters ORDER BY id")] == [
        "discarded",
        "discarded",
    ]
    logged = await bot.pool.fetchval("SELECT new_value FROM admin_logs WHERE action = 'erasure'")
    assert logged["dead_letters_scrubbed"] == 1


async def test_mydata_exports_every_case_and_sanction_on_record_whether_or_not_the_member_was_told(harness):
    """What the bot keeps about a member and acts on is theirs to see, told or not: a warning whose
    DM Discord refused, a ban and an unban made in Discord's menus (the ban refused their event
    registrations while it was in force). Only the staff's notes stay with the staff."""
    from tests.test_e2e_moderation_in_discord import cases

    bot, _ = await start(harness)
    mod, owner, alice = harness.member("mod"), harness.member("owner"), harness.member("alice")
    harness.standin.users[alice.id].dms_open = False
    await mod.slash("mod warn", member=alice, reason="never reached her")
    await mod.slash("mod note", member=alice, reason="staff eyes only")
    await delivered(bot, "dm")
    owner.ban_in_discord(alice, reason="raid")
    await cases(bot, 3)
    owner.unban_in_discord(alice, reason="it was her brother")
    await cases(bot, 4)
    alice.rejoin_guild()
    reply = await alice.slash("mydata")
    assert reply.content == "Your DMs are closed, so here it is (only you can see this)."
    data = json.loads(reply.attachments[0].data)
    assert [(c["case_number"], c["action"]) for c in data["moderation_cases"]] == [
        (1, "warn"),
        (3, "ban"),
        (4, "unban"),
    ]
    assert [c["told_by_dm"] for c in data["moderation_cases"]] == [False, False, False]
    assert data["moderation_cases"][1]["reason"] == "banned in Discord: raid"
    assert [(s["kind"], s["status"], s["case_number"]) for s in data["moderation_sanctions"]] == [("ban", "lifted", 3)]
    assert "staff eyes only" not in reply.attachments[0].data.decode()
