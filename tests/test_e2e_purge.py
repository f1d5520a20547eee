"""/mod purge end to end: the member's latest messages deleted through Discord's bulk and single
deletes, a purge case, and the XP those messages earned taken back through the ledger."""

from __future__ import annotations

from datetime import timedelta

from db import moderation
from standin import state as s
from tests.test_e2e_moderation import delivered
from tests.xp_support import handled, ledger_rows, start, total_xp


async def start_with_modlog(harness):
    modlog = harness.standin.add_channel("mod-log")
    bot = await start(harness, announcements={"mod_log_channel_id": int(modlog.id)})
    return bot, modlog


async def test_purge_deletes_the_latest_messages_and_reverses_their_xp(harness):
    bot, modlog = await start_with_modlog(harness)
    mod, alice, bob = harness.member("mod"), harness.member("alice"), harness.member("bob")
    old = alice.say("from three weeks ago", sent_at=s.now() - timedelta(days=21))
    kept = alice.say("an older message, beyond the count")
    spam = []
    for i in range(4):
        spam.append(alice.say(f"spam {i}"))
        bob.say(f"bob talks {i}")
    await handled(bot, 10)
    before = await total_xp(bot.pool, alice.id)
    assert before == 20 * 6

    reply = await mod.slash("mod purge", member=alice, count=4, reverse_xp=True, reason="spam wave")
    assert reply.ephemeral
    assert reply.content == (
        f"Case #1: deleting 4 message(s) of alice in <#{harness.demo.general.id}>. 80 XP taken back from 4 message(s)."
    )
    await delivered(bot, "delete_messages")
    messages = harness.standin.messages
    assert all(messages[m.id].deleted for m in spam)
    assert not messages[kept.id].deleted and not messages[old.id].deleted
    assert not any(m.deleted for m in messages.values() if m.author.id == bob.id)
    assert await total_xp(bot.pool, alice.id) == before - 80
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert case.action == "purge" and case.reason == "spam wave"
    assert sorted(case.metadata["message_ids"]) == sorted(m.id for m in spam)
    assert case.metadata["xp_reversed"] == 80 and case.metadata["messages_reversed"] == 4
    await delivered(bot, "channel_message")
    entry = await harness.standin.wait_for(
        lambda o: o.kind == "message" and o.message.channel_id == modlog.id, past=True
    )
    fields = {f["name"]: f["value"] for f in entry.message.embeds[0]["fields"]}
    assert entry.message.embeds[0]["title"] == "Case #1: Purged messages of alice"
    assert fields["XP taken back"] == "80 XP from 4 message(s)"
    assert fields["Messages"] == f"4 deleted in <#{harness.demo.general.id}>"


async def test_purge_reaches_back_past_discords_bulk_delete_window(harness):
    bot, _ = await start_with_modlog(harness)
    mod, alice, bob = harness.member("mod"), harness.member("alice"), harness.member("bob")
    old = alice.say("from three weeks ago", sent_at=s.now() - timedelta(days=21))
    recent = [alice.say(f"recent {i}") for i in range(3)]
    bystander = bob.say("I stay")
    await handled(bot, 5)
    reply = await mod.slash("mod purge", member=alice, count=10, reason="clean up")
    assert reply.content == f"Case #1: deleting 4 message(s) of alice in <#{harness.demo.general.id}>."
    await delivered(bot, "delete_messages")
    messages = harness.standin.messages
    assert all(messages[m.id].deleted for m in [old, *recent])
    assert not messages[bystander.id].deleted
    bulk = harness.standin.calls_to("POST", "/bulk-delete")
    single = harness.standin.calls_to("DELETE", f"/messages/{old.id}")
    assert len(bulk) == 1 and sorted(map(str, bulk[0].body["messages"])) == sorted(m.id for m in recent)
    assert len(single) == 1 and single[0].status == 204  # too old for bulk: one by one, as Discord requires
    assert await total_xp(bot.pool, alice.id) == 80  # not asked to take XP back
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert case.action == "purge" and case.metadata["messages"] == 4 and case.metadata["reverse_xp"] is False


async def test_purge_refusals_and_nothing_found(harness):
    bot, _ = await start_with_modlog(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    nothing = await mod.slash("mod purge", member=alice, count=3)
    assert nothing.ephemeral and nothing.content == (
        f"No messages of alice among the last 1,000 in <#{harness.demo.general.id}>."
    )
    own = await mod.slash("mod purge", member=mod, count=3)
    assert own.content == "You can't moderate yourself."
    member = await alice.slash("mod purge", member=harness.member("bob"), count=3)
    assert member.content == "Only staff can moderate."
    standin = harness.standin
    standin.set_role_permissions(standin.bot_role, standin.bot_role.permissions & ~s.MANAGE_MESSAGES)
    alice.say("hello")
    missing = await mod.slash("mod purge", member=alice, count=3)
    assert "Manage Messages" in missing.content
    assert await bot.pool.fetchval("SELECT count(*) FROM moderation_logs") == 0
    assert await bot.pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'delete_messages'") == 0


async def test_purge_reversal_is_exact_in_the_ledger(harness):
    bot, _ = await start_with_modlog(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    said = [alice.say(f"line {i}") for i in range(3)]
    await handled(bot, 3)
    await mod.slash("mod purge", member=alice, count=2, reverse_xp=True)
    await delivered(bot, "delete_messages")
    rows = await ledger_rows(bot.pool, alice.id)
    reversed_refs = sorted(r["source_ref"] for r in rows if r["source"] == "reversal")
    assert reversed_refs == sorted(m.id for m in said[1:])
    assert sum(r["amount"] for r in rows) == await total_xp(bot.pool, alice.id) == 20
    # A second purge of the same messages finds them gone and takes nothing twice.
    again = await mod.slash("mod purge", member=alice, count=3, reverse_xp=True)
    assert again.content.endswith("20 XP taken back from 1 message(s).")
    assert await total_xp(bot.pool, alice.id) == 0
