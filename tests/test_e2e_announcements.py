"""An event's announcement stays current: the places taken through its buttons, the website's
registrations (found by the minute's check), edits, cancellation and the end of the event; edits go
through the outbox, one message's coalesce to the latest, and a deleted announcement is let go."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.sandbox.harness import Harness
from cogs.events.announcement import announce, refresh, refresh_stale
from db import events, outbox
from db.pool import connect
from tests import test_supabase
from tests.supabase_like import SupabaseProject, claims_for, postgrest, sign_up_with_discord
from tests.test_e2e_events import create, start, the_event, wait_status
from tests.test_e2e_moderation import delivered


def places_shown(message) -> str:
    return next(f["value"] for f in message.embeds[0]["fields"] if f["name"] == "Places")


def labels(message) -> list[str]:
    return [c["label"] for row in message.components for c in row["components"]]


async def shows(message, predicate, timeout: float = 8.0) -> None:
    """Wait until the announcement (the stand-in's copy, edited in place) satisfies `predicate`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate(message):
        assert loop.time() < deadline, f"the announcement shows {message.embeds} {message.components}"
        await asyncio.sleep(0.05)


async def announced(harness, bot, title: str = "Game night"):
    await delivered(bot, "channel_message")
    post = await harness.standin.wait_for(
        lambda o: o.kind == "message" and o.message.embeds and o.message.embeds[0]["title"] == title, past=True
    )
    return post.message


async def an_announced_event(harness, places: str):
    """The bot, an event of `places` created by a moderator, its announcement and its id."""
    bot = await start(harness)
    await create(harness.member("mod"), places=places)
    message = await announced(harness, bot)
    return bot, message, (await the_event(bot))["id"]


async def test_the_announcement_counts_the_places_taken_and_left_through_its_buttons(harness):
    bot = await start(harness)
    mod, alice, bob = harness.member("mod"), harness.member("alice"), harness.member("bob")
    await create(mod, places="1")
    message = await announced(harness, bot)
    assert places_shown(message) == "0 / 1"
    recorded = await bot.pool.fetchrow("SELECT channel_id, message_id FROM event_announcements")
    assert (recorded["channel_id"], recorded["message_id"]) == (message.channel_id, message.id)
    await alice.click(message, "Register")
    await shows(message, lambda m: places_shown(m) == "1 / 1")
    await bob.click(message, "Register")
    await shows(message, lambda m: places_shown(m) == "1 / 1, 1 waiting")
    await alice.click(message, "Leave")  # bob is promoted
    await shows(message, lambda m: places_shown(m) == "1 / 1")
    assert labels(message) == ["Register", "Leave", "Check in"]
    posted = [o for o in harness.standin.outputs if o.kind == "message" and o.message.id == message.id]
    assert len(posted) == 1  # edited, never posted again


async def test_an_edit_and_a_cancellation_show_and_the_cancelled_announcement_has_no_buttons(harness):
    bot = await start(harness)
    mod, alice = harness.member("mod"), harness.member("alice")
    await create(mod, places="5")
    message = await announced(harness, bot)
    event_id = (await the_event(bot))["id"]
    await mod.slash("event edit", event=event_id, title="Board game night", places=8)
    await shows(message, lambda m: m.embeds[0]["title"] == "Board game night" and places_shown(m) == "0 / 8")
    await alice.click(message, "Register")
    await shows(message, lambda m: places_shown(m) == "1 / 8")
    await mod.slash("event cancel", event=event_id, reason="the host is ill")
    await shows(message, lambda m: m.components == [])
    assert "This event was cancelled." in message.embeds[0]["description"]
    assert "Cancelled: the host is ill" in message.embeds[0]["footer"]["text"]


async def test_an_event_that_starts_and_ends_says_so_and_loses_its_buttons(harness):
    bot = await start(harness, reminders=[], default_length="3s")
    mod = harness.member("mod")
    await create(mod, start=timedelta(seconds=3), end=None)
    message = await announced(harness, bot)
    await wait_status(bot, "ongoing")
    await shows(message, lambda m: "Happening now" in m.embeds[0]["footer"]["text"])
    assert labels(message) == ["Register", "Leave", "Check in"]
    await wait_status(bot, "completed")
    await shows(message, lambda m: m.components == [] and "This event is over." in m.embeds[0]["description"])


async def test_website_changes_show_after_the_minutes_check(harness):
    """Registrations the website makes share event_register(): the bot learns of them only by
    comparing what the announcement shows with the rows, which the minute's pass does."""
    bot, message, event_id = await an_announced_event(harness, "20")
    async with bot.pool.acquire() as conn, conn.transaction():
        for name in ("alice", "bob"):
            user_id = await bot.identity.user_id(bot.home_guild.get_member(int(harness.member(name).id)))
            await conn.execute("SELECT 1 FROM events WHERE id = $1::uuid FOR UPDATE", event_id)
            await conn.fetchrow("SELECT * FROM event_register($1::uuid, $2, 20)", event_id, user_id)
    assert places_shown(message) == "0 / 20"
    await bot.get_cog("EventJobs")._reconcile()  # what runs every minute
    await shows(message, lambda m: places_shown(m) == "2 / 20")
    await bot.pool.execute("UPDATE events SET title = 'Website meetup' WHERE id = $1::uuid", event_id)
    await bot.get_cog("EventJobs")._reconcile()
    await shows(message, lambda m: m.embeds[0]["title"] == "Website meetup")


async def test_two_checks_at_once_queue_one_edit_and_edits_of_one_message_coalesce_to_the_latest(harness):
    bot, message, event_id = await an_announced_event(harness, "20")
    users = [await bot.identity.user_id(bot.home_guild.get_member(int(harness.member(n).id))) for n in ("alice", "bob")]
    edits_before = len([o for o in harness.standin.outputs if o.kind == "edit" and o.message.id == message.id])
    # Two changes, each with its edit queued, committed together: the older edit is never sent.
    async with bot.pool.acquire() as conn, conn.transaction():
        for user_id in users:
            await conn.execute("SELECT 1 FROM events WHERE id = $1::uuid FOR UPDATE", event_id)
            await conn.fetchrow("SELECT * FROM event_register($1::uuid, $2, 20)", event_id, user_id)
            assert await refresh(conn, event_id)
    bot.outbox.wake()
    await delivered(bot, "edit_message", 2)
    await shows(message, lambda m: places_shown(m) == "2 / 20")
    edits = [o for o in harness.standin.outputs if o.kind == "edit" and o.message.id == message.id]
    assert len(edits) - edits_before == 1
    outcomes = await bot.pool.fetch("SELECT status, last_error FROM outbox WHERE kind = 'edit_message' ORDER BY id")
    assert [o["status"] for o in outcomes] == ["refused", "delivered"]
    assert outcomes[0]["last_error"].startswith("superseded: a newer edit of this message")
    # A third member, by the website: two processes' checks at once queue one edit between them.
    carol = await bot.identity.user_id(bot.home_guild.get_member(int(harness.member("carol").id)))
    async with bot.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM events WHERE id = $1::uuid FOR UPDATE", event_id)
        await conn.fetchrow("SELECT * FROM event_register($1::uuid, $2, 20)", event_id, carol)
    assert sorted(await asyncio.gather(refresh_stale(bot), refresh_stale(bot))) == [0, 1]
    await shows(message, lambda m: places_shown(m) == "3 / 20")
    assert await bot.pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'edit_message'") == 3


async def test_an_announcement_a_moderator_deleted_is_let_go_not_retried(harness):
    alice, bob = harness.member("alice"), harness.member("bob")
    bot, message, event_id = await an_announced_event(harness, "5")
    message.deleted = True  # a moderator deletes it in Discord
    await alice.slash("event register", event=event_id)
    await delivered(bot, "edit_message")
    item = await bot.pool.fetchrow("SELECT status, attempts, last_error FROM outbox WHERE kind = 'edit_message'")
    assert (item["status"], item["attempts"]) == ("failed", 1) and item["last_error"].startswith("message gone")
    assert await bot.pool.fetchval("SELECT gone_at IS NOT NULL FROM event_announcements")
    await bob.slash("event register", event=event_id)
    await bot.get_cog("EventJobs")._reconcile()
    assert await bot.pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'edit_message'") == 1


# -- the website on a Supabase-like project ------------------------------------------------------


project, migrated = test_supabase.project, test_supabase.migrated  # its Supabase-like project's fixtures


@pytest.fixture
async def on_supabase(migrated: SupabaseProject, tmp_path) -> AsyncIterator[Harness]:
    """The stand-in and the bot, the bot connected as the project's non-superuser owner."""
    h = await Harness.create(migrated.owner_dsn, tmp_path / "data")
    try:
        yield h
    finally:
        await h.close()


async def test_a_registration_on_the_website_shows_in_the_announcement_after_the_minutes_check(on_supabase, migrated):
    bot = await start(on_supabase)
    await create(on_supabase.member("mod"), places="20")
    message = await announced(on_supabase, bot)
    event_id = (await the_event(bot))["id"]
    website = await connect(migrated.authenticator_dsn)
    try:
        alice = on_supabase.member("alice")
        claims = claims_for(await sign_up_with_discord(migrated.admin_dsn, alice.id, name="alice"))
        joined = await postgrest(
            website, "authenticated", claims, "SELECT * FROM register_for_event($1::uuid)", event_id
        )
        assert [tuple(r) for r in joined] == [("registered", None)]
        await bot.get_cog("EventJobs")._reconcile()  # what runs every minute
        await shows(message, lambda m: places_shown(m) == "1 / 20")
        await postgrest(website, "authenticated", claims, "SELECT leave_event($1::uuid)", event_id)
        await bot.get_cog("EventJobs")._reconcile()
        await shows(message, lambda m: places_shown(m) == "0 / 20")
    finally:
        await website.close()


async def test_an_event_the_website_fills_to_the_brim_still_fits_discords_limits_when_edited(harness):
    """The website writes TEXT without bounds: the edited announcement stays within Discord's limits
    (the harness fails the test on anything the stand-in refuses, as Discord would)."""
    bot, message, event_id = await an_announced_event(harness, "5")
    roles = [str(10**17 + i) for i in range(80)]
    await bot.pool.execute(
        """UPDATE events SET title = repeat('T', 5000), description = repeat('*', 5000), type = repeat('y', 3000),
                  required_roles = $2::jsonb, registration_deadline = start_date, min_level = 99,
                  required_pathway = 'gaming', rewards = '{"xp": 1000000}' WHERE id = $1::uuid""",
        event_id,
        roles,
    )
    await bot.get_cog("EventJobs")._reconcile()
    await shows(message, lambda m: m.embeds[0]["title"].startswith("TTT"))
    await bot.pool.execute(
        "UPDATE events SET status = 'cancelled', cancelled_reason = repeat('r', 5000) WHERE id = $1::uuid", event_id
    )
    await bot.get_cog("EventJobs")._reconcile()
    await shows(message, lambda m: m.components == [])
    assert harness.standin.refusals == []


async def test_an_edit_discord_refuses_is_not_sent_again_every_minute_and_the_next_change_is(harness):
    alice, bob = harness.member("alice"), harness.member("bob")
    bot, message, event_id = await an_announced_event(harness, "5")
    harness.standin.inject_failure(
        "PATCH", f"/channels/{message.channel_id}/messages/", status=403, code=50001, message="Missing Access"
    )
    await alice.slash("event register", event=event_id)
    await delivered(bot, "edit_message")
    assert await bot.pool.fetchval("SELECT status FROM outbox WHERE kind = 'edit_message'") == "failed"
    await bot.get_cog("EventJobs")._reconcile()  # what runs every minute: no edit it would refuse again
    assert await bot.pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'edit_message'") == 1
    await bob.slash("event register", event=event_id)  # access given back meanwhile
    await shows(message, lambda m: places_shown(m) == "2 / 5")


async def test_an_event_deleted_before_its_announcement_is_posted_is_posted_once_and_the_rest_delivered(harness):
    bot, _, event_id = await an_announced_event(harness, "5")
    async with bot.pool.acquire() as conn, conn.transaction():  # the website deletes it while queued
        event = await events.get(conn, event_id)
        await conn.execute("DELETE FROM outbox WHERE dedupe_key = $1", f"event-announce:{event_id}")
        assert await announce(conn, bot, event, host="x")
        await conn.execute("DELETE FROM events WHERE id = $1::uuid", event_id)
    after = await outbox.enqueue(bot.pool, "dm", {"user_id": harness.member("alice").id, "content": "after it"})
    bot.outbox.wake()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while (await outbox.get(bot.pool, after)).status == "pending":  # not stalled behind the announcement
        assert loop.time() < deadline, "the item queued after the announcement was never delivered"
        await asyncio.sleep(0.05)
    assert (await outbox.get(bot.pool, after)).status == "delivered"
    item = await bot.pool.fetchrow("SELECT status FROM outbox WHERE dedupe_key = $1", f"event-announce:{event_id}")
    assert item["status"] == "delivered"
    posts = [
        o
        for o in harness.standin.outputs
        if o.kind == "message" and o.message.embeds and o.message.embeds[0]["title"] == "Game night"
    ]
    assert len(posts) == 2  # the first announcement, and this one: once
    assert await bot.pool.fetchval("SELECT count(*) FROM event_announcements") == 0
