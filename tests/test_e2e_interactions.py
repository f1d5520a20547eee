"""Slash commands, options, components, modals and the error handler, through the stand-in."""

from __future__ import annotations

import logging

import discord
import pytest

from standin.control import InvalidInvocation
from standin.replies import NoAnswer


async def test_every_option_type_arrives_resolved(probe):
    alice, bob = probe.member("alice"), probe.member("bob")
    role = probe.standin.guild.role_named("Moderator")
    reply = await alice.slash(
        "probe", member=bob, role=role, channel="gaming-chat", count=3, ratio=0.25, flag=True, word="cherry"
    )
    assert reply.content == "member=bob role=Moderator channel=gaming-chat count=3 ratio=0.25 flag=True word=cherry"
    assert reply.ephemeral


async def test_out_of_range_input_never_reaches_the_bot(probe):
    alice, bob = probe.member("alice"), probe.member("bob")
    role = probe.standin.guild.role_named("Moderator")
    before = len(probe.standin.interactions)
    with pytest.raises(InvalidInvocation, match=r"count: 42 is outside 1\.\.10"):
        alice.invoke("probe", member=bob, role=role, channel="general", count=42)
    with pytest.raises(InvalidInvocation, match="missing required option"):
        alice.invoke("probe", member=bob)
    assert len(probe.standin.interactions) == before


async def test_autocomplete_offers_matching_choices(probe):
    choices = await probe.member("alice").autocomplete("probe", "word", "ap")
    assert [c["value"] for c in choices] == ["apple", "apricot"]


async def test_subcommands_and_nested_groups(probe):
    assert (await probe.member("bob").slash("tools echo", text="hi there")).content == "hi there"
    assert (await probe.member("bob").slash("tools deep ping")).content == "pong from deep"


async def test_buttons_selects_and_modals(probe):
    carol = probe.member("carol")
    panel = await carol.slash("panel")
    assert panel.content == "the panel"
    pressed = await probe.member("bob").click(panel, "Press")
    assert (pressed.content, pressed.ephemeral) == ("pressed by bob", True)
    chosen = await carol.choose(panel, "panel:fruit", ["banana"])
    assert chosen.content == "chose banana"
    assert panel.message.content == "chose banana"  # the panel itself was updated
    modal = await carol.click(panel, "Form")
    assert modal.modal["title"] == "Tell us"
    submitted = await carol.submit(modal, {"answer": "forty-two"})
    assert submitted.content == "you said forty-two"


async def test_a_deferred_command_answers_after_thinking(probe):
    reply = await probe.member("alice").slash("slow")
    assert reply.content == "done thinking"
    assert reply.interaction.response_type == 5


async def test_an_unexpected_error_shows_a_reference_and_is_logged(probe, caplog):
    caplog.set_level(logging.ERROR, logger="bot.core.errors")
    reply = await probe.member("alice").slash("boom")
    assert reply.ephemeral
    assert "Something went wrong on our side (reference " in reply.content
    reference = reply.content.split("reference ")[1][:6]
    logged = [r for r in caplog.records if getattr(r, "reference", None) == reference]
    assert logged and "kaboom" in str(logged[0].exc_info[1].__cause__ or logged[0].exc_info[1])
    assert "Traceback" not in reply.content


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("refuse", "You can't do that here."),
        ("dbdown", "The database is unavailable right now"),
        ("guarded", "You need the manage guild permission"),
    ],
)
async def test_expected_failures_are_clear_ephemeral_messages(probe, command, expected):
    reply = await probe.member("alice").slash(command)
    assert reply.ephemeral
    assert reply.content.startswith(expected)


async def test_a_cooldown_is_explained(probe):
    alice = probe.member("alice")
    assert (await alice.slash("once")).content == "first time"
    again = await alice.slash("once")
    assert again.ephemeral and again.content.startswith("Slow down")


async def test_a_broken_button_gets_a_reference_not_silence(probe):
    panel = await probe.member("alice").slash("panel")
    reply = await probe.member("alice").click(panel, "Break")
    assert reply.ephemeral and "reference" in reply.content


async def test_answering_too_late_is_refused_like_discord_does(probe):
    probe.standin.interaction_window = 0.0
    with pytest.raises(NoAnswer):
        await probe.member("alice").slash("about", timeout=1.0)
    callbacks = probe.standin.calls_to("POST", "/callback")
    assert callbacks and callbacks[-1].status == 404


async def test_a_failure_after_the_tokens_fifteen_minutes_is_told_by_dm(probe):
    standin, alice = probe.standin, probe.member("alice")

    def sixteen_minutes_pass_once_deferred(output):
        if output.kind == "deferred" and standin.clock.offset == 0:
            standin.clock.advance(16 * 60)

    standin.observers.append(sixteen_minutes_pass_once_deferred)
    alice.invoke("late")
    dm = standin.dm_channel_for(alice.id)
    told = await standin.wait_for(lambda o: o.kind == "dm" and o.message.channel_id == dm.id)
    assert told.message.content.startswith("You can't do that here.\n-# Discord lets me edit a reply for 15 minutes")
    webhook = f"/webhooks/{standin.application_id}/"
    assert [c.status for c in standin.calls if c.path.startswith(webhook)] == [401]  # one try, then the DM


async def test_someone_who_left_arrives_as_a_user_not_a_member(probe):
    alice = probe.member("alice")
    gone = probe.standin.add_member("gone")
    probe.standin.remove_member(gone.user.id)
    role = probe.standin.guild.role_named("Moderator")
    reply = await alice.slash("probe", member=gone.user.id, role=role, channel="general", count=1)  # a pasted id
    assert reply.ephemeral and reply.content == "'gone' is not a valid user."  # discord.py's words for "not a member"
    interaction = reply.interaction
    resolved = interaction.data["resolved"]
    assert gone.user.id in resolved["users"] and gone.user.id not in resolved.get("members", {})
    with pytest.raises(discord.NotFound) as missing:
        await probe.bot.home_guild.fetch_member(int(gone.user.id))
    assert missing.value.code == 10007
    user = await probe.bot.fetch_user(int(gone.user.id))
    assert user.name == "gone"
    assert await probe.bot.home_guild.query_members(user_ids=[int(gone.user.id)]) == []
