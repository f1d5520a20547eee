"""A member's refusal is theirs alone: after a public "thinking" defer, Discord's first followup keeps
the defer's visibility whatever its ephemeral flag, so the bot deletes the public "thinking" message
before it sends the refusal privately; and a late message goes to the channel only when the command
said it may (`tell_elsewhere(public=True)`), never a refusal."""

from __future__ import annotations

import logging

import pytest

from db import achievements
from tests.test_e2e_achievements import start_with_a_backfill_that_outlives_its_token
from tests.test_e2e_core import wait_until
from tests.xp_support import start


def visible_in_channel(standin, channel_id: str) -> list:
    """What everyone in the channel can read (not deleted, not ephemeral)."""
    return [m for m in standin.messages.values() if m.channel_id == channel_id and not m.deleted and not m.ephemeral]


@pytest.mark.parametrize("command", ["rank", "profile"])
async def test_a_refusal_after_a_public_defer_is_shown_to_the_member_only(harness, command):
    await start(harness)
    standin, alice = harness.standin, harness.member("alice")
    reply = await alice.slash(command, member=standin.bot_user)  # deferred publicly, then refused
    assert reply.content == "Bots don't earn XP."
    assert reply.ephemeral
    interaction = reply.interaction
    assert interaction.response_type == 5 and interaction.original.deleted  # the "thinking" message is gone
    assert not [m for m in visible_in_channel(standin, interaction.channel_id) if m.interaction_id == interaction.id]
    assert all(m.webhook_id is None or m.ephemeral for m in interaction.followups)
    deleted = [o for o in standin.outputs if o.kind == "delete" and o.interaction_id == interaction.id]
    assert [o.message.id for o in deleted] == [interaction.original.id]


async def test_an_answer_after_a_public_defer_stays_public(harness):
    """The same commands' answers still fill in the public "thinking" message (nothing deleted)."""
    await start(harness)
    reply = await harness.member("alice").slash("profile", timeout=10)
    assert not reply.ephemeral and reply.embed["title"] == "Alice's profile"
    assert reply.message is reply.interaction.original and not reply.message.deleted


def _age_the_token_once_deferred(standin):
    def observer(output):
        if output.kind == "deferred" and standin.clock.offset == 0:
            standin.clock.advance(16 * 60)

    standin.observers.append(observer)


async def test_a_late_refusal_with_dms_closed_is_never_posted_in_the_channel(probe, caplog):
    standin, alice = probe.standin, probe.member("alice")
    standin.users[alice.id].dms_open = False
    _age_the_token_once_deferred(standin)
    interaction = alice.invoke("late")
    channel_posts = f"/channels/{interaction.channel_id}/messages"

    async def settled() -> bool:  # the bot gave up telling her, or posted the refusal in the channel
        gave_up = "could not tell the member about an error" in caplog.text
        return gave_up or bool(standin.calls_to("POST", channel_posts))

    await wait_until(settled, timeout=10)
    dm = standin.dm_channel_for(alice.id)
    assert [c.status for c in standin.calls_to("POST", f"/channels/{dm.id}/messages")] == [403]  # DMs closed
    assert not standin.calls_to("POST", channel_posts)
    assert not [m for m in visible_in_channel(standin, interaction.channel_id) if "can't do that" in m.content]


async def test_a_late_announcement_the_command_made_public_goes_to_the_channel(probe):
    standin, alice = probe.standin, probe.member("alice")
    standin.users[alice.id].dms_open = False
    _age_the_token_once_deferred(standin)
    interaction = alice.invoke("draw")
    posted = await standin.wait_for(
        lambda o: o.kind == "message" and o.message.channel_id == interaction.channel_id, timeout=5
    )
    assert posted.message.content.startswith(f"<@{alice.id}> The winner is drawn.")
    assert not posted.message.ephemeral


async def test_a_backfill_outliving_its_token_with_dms_closed_stays_out_of_the_channel(harness, tmp_path, caplog):
    """The backfill's reply was private: its late progress goes by DM or nowhere, never the channel."""
    caplog.set_level(logging.INFO, logger="bot.ui.progress")
    bot = await start_with_a_backfill_that_outlives_its_token(harness, tmp_path)
    mod, standin = harness.member("mod"), harness.standin
    standin.users[mod.id].dms_open = False
    interaction = mod.invoke("achievement backfill", name="Regular")

    channel_posts = f"/channels/{interaction.channel_id}/messages"

    async def done() -> bool:  # awarded, and the late progress kept private (or posted in the channel)
        told = "private, so not" in caplog.text or bool(standin.calls_to("POST", channel_posts))
        return told and (await achievements.get(bot.pool, "regular")).total_earned == 1

    await wait_until(done, timeout=15)
    assert not standin.calls_to("POST", channel_posts)
    assert not [m for m in visible_in_channel(standin, interaction.channel_id) if "Backfill" in m.content]


async def test_a_refusal_still_reaches_the_member_when_the_thinking_message_went_meanwhile(harness):
    """The public "thinking" message is deleted (by a moderator, say) between the bot's look at it
    and its own delete, which Discord then answers 404: the refusal still goes out, privately."""
    await start(harness)
    standin, alice = harness.standin, harness.member("alice")
    standin.inject_delay("DELETE", f"/webhooks/{standin.application_id}/", seconds=0.5)
    slow_delete = standin.failures[-1]
    interaction = alice.invoke("rank", member=standin.bot_user)  # deferred publicly, then refused

    async def deleting() -> bool:
        return slow_delete.times == 0  # the bot's delete is on its way

    await wait_until(deleting)
    original = interaction.original
    original.deleted = True  # meanwhile someone deletes the "thinking" message in the channel
    standin.gateway.dispatch(
        "MESSAGE_DELETE", {"id": original.id, "channel_id": original.channel_id, "guild_id": original.guild_id}
    )

    async def told() -> bool:
        return bool(interaction.followups)

    await wait_until(told)
    refusal = interaction.followups[-1]
    assert refusal.content == "Bots don't earn XP." and refusal.ephemeral
    assert not [m for m in visible_in_channel(standin, interaction.channel_id) if m.interaction_id == interaction.id]


async def test_a_refusal_goes_by_dm_when_discord_will_not_remove_the_public_thinking_message(harness):
    """Discord fails the delete (503, each of discord.py's five tries): a followup would fill the
    public "thinking" message in for everyone, so the member is told by DM instead."""
    await start(harness)
    standin, alice = harness.standin, harness.member("alice")
    standin.inject_failure("DELETE", f"/webhooks/{standin.application_id}/", status=503, times=5)
    interaction = alice.invoke("rank", member=standin.bot_user)
    dm = await standin.wait_for(
        lambda o: o.kind == "dm" and "Bots don't earn XP." in (o.message.content or ""), timeout=60, past=True
    )
    assert dm.data["recipient_id"] == alice.id
    # It says why it came by DM, and not that 15 minutes went by (they did not).
    assert "15 minutes" not in dm.message.content and "answer you privately there" in dm.message.content
    assert interaction.followups == []  # nothing filled the public message in
    assert "Bots don't earn XP." not in (interaction.original.content or "")
