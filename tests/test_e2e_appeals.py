"""Appeals end to end: a banned member appeals through the button on the ban DM (sharing no server
with the bot), a member appeals with /appeal; staff decide with Accept / Deny in the modlog."""

from __future__ import annotations

from db import moderation
from tests.test_e2e_moderation import delivered, start

APPEAL_FIELD = "Why should the staff reconsider?"
NOTE_FIELD = "Message to the member (optional)"


async def appeal_entry(harness, modlog, number: int):
    output = await harness.standin.wait_for(
        lambda o: (
            o.kind == "message"
            and o.message.channel_id == modlog.id
            and o.message.embeds
            and o.message.embeds[0]["title"].startswith(f"Appeal of case #{number} ")
        ),
        past=True,
    )
    return output.message


async def test_a_banned_member_appeals_from_the_ban_dm_and_is_unbanned_when_accepted(harness):
    bot, modlog = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    await mod.slash("mod ban", member=alice, reason="raid", duration="permanent")
    await delivered(bot, "ban")
    dm = await harness.standin.wait_for(lambda o: o.kind == "dm" and o.data["recipient_id"] == alice.id, past=True)
    assert alice.id in harness.standin.guild.bans and alice.id not in harness.standin.guild.members

    modal = await alice.click(dm.message, "Appeal")  # from the DM: alice shares no server with the bot
    assert modal.modal is not None and modal.modal["title"] == "Appeal case #1"
    sent = await alice.submit(modal, {APPEAL_FIELD: "I was hacked; it's fixed now"})
    assert sent.ephemeral and sent.content.startswith("Your appeal of case #1 was sent to the staff.")
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert case.metadata["appeal_status"] == "pending" and case.metadata["appeal"]["via"] == "dm"
    assert case.metadata["appeal"]["text"] == "I was hacked; it's fixed now"

    entry = await appeal_entry(harness, modlog, 1)
    assert "I was hacked" in entry.embeds[0]["fields"][0]["value"]
    admin = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])
    rival = await admin.click(entry, "Deny")  # a second moderator opens the other decision meanwhile
    decision = await mod.click(entry, "Accept")
    decided = await mod.submit(decision, {NOTE_FIELD: "Welcome back, secure your account"})
    assert decided.message.components == [] and "Accepted by" in decided.message.embeds[0]["fields"][-1]["value"]
    await delivered(bot, "unban")
    assert alice.id not in harness.standin.guild.bans
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert case.metadata["appeal_status"] == "accepted"
    assert case.metadata["appeal"]["note"] == "Welcome back, secure your account"
    lifted = await moderation.case_by_number(bot.pool, str(bot.guild_id), 2)
    assert (lifted.action, lifted.reason) == ("unban", "appeal accepted (case #1)")
    assert await bot.pool.fetchval("SELECT count(*) FROM moderation_sanctions WHERE status = 'active'") == 0
    # Discord refuses a DM to someone who shares no server with the bot: recorded, and the button
    # on the ban DM tells them the decision instead.
    await delivered(bot, "dm", count=2)
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert case.metadata["appeal_dm_sent"] is False
    status = await alice.click(dm.message, "Appeal")
    assert status.content == "Your appeal of case #1 was accepted.\nFrom the staff: Welcome back, secure your account"
    revisions = await moderation.revisions(bot.pool, case.id)
    assert [(r.field, r.old_value, r.new_value) for r in revisions] == [
        ("appeal", None, "pending"),
        ("appeal", "pending", "accepted"),
    ]
    refused = await admin.submit(rival, {NOTE_FIELD: "no"})  # the first decision stands
    assert refused.ephemeral and refused.content == "Case #1's appeal was accepted already."


async def test_a_member_appeals_a_warning_once_and_is_told_the_decision(harness):
    bot, modlog = await start(harness)
    mod, alice, bob = harness.member("mod"), harness.member("alice"), harness.member("bob")
    await mod.slash("mod warn", member=alice, reason="spam", points=3)
    await mod.slash("mod note", member=alice, reason="private")
    choices = await alice.autocomplete("appeal", "case", "")
    assert [c["value"] for c in choices] == [1]  # notes are never shown to the member
    assert (await bob.slash("appeal", case=1, reason="not me")).content == "You have no case #1."
    assert (await alice.slash("appeal", case=2, reason="what note?")).content == "You have no case #2."
    sent = await alice.slash("appeal", case=1, reason="it was one link, not spam")
    assert sent.ephemeral and sent.content.startswith("Your appeal of case #1 was sent")
    twice = await alice.slash("appeal", case=1, reason="again")
    assert twice.content.startswith("You appealed case #1 already (one appeal per case).")

    entry = await appeal_entry(harness, modlog, 1)
    refused = await alice.click(entry, "Deny")
    assert refused.content == "Only staff can decide appeals."
    decided = await mod.submit(await mod.click(entry, "Deny"), {NOTE_FIELD: "it was spam"})
    assert "Denied by" in decided.message.embeds[0]["fields"][-1]["value"]
    await delivered(bot, "dm", count=2)
    told = await harness.standin.wait_for(
        lambda o: o.kind == "dm" and o.message.embeds and "appeal" in o.message.embeds[0]["title"], past=True
    )
    assert told.message.embeds[0]["title"] == "Your appeal was denied"
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert case.metadata["appeal_status"] == "denied" and case.metadata["appeal_dm_sent"] is True
    assert await moderation.active_points(bot.pool, str(bot.guild_id), case.target_user_id) == 3


async def test_an_accepted_warning_appeal_stops_its_points_counting(harness):
    bot, modlog = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    await mod.slash("mod warn", member=alice, reason="spam", points=3)
    await alice.slash("appeal", case=1, reason="context was missing")
    entry = await appeal_entry(harness, modlog, 1)
    await mod.submit(await mod.click(entry, "Accept"), {NOTE_FIELD: ""})
    case = await moderation.case_by_number(bot.pool, str(bot.guild_id), 1)
    assert case.metadata["appeal_status"] == "accepted" and case.metadata["appeal"]["note"] is None
    assert await moderation.active_points(bot.pool, str(bot.guild_id), case.target_user_id) == 0
    history = await mod.slash("mod history", member=alice)
    assert "[appeal accepted]" in history.embed["description"]
