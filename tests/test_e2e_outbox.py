"""The durable outbox: side effects are delivered with retries, outcomes recorded, nothing lost."""

from __future__ import annotations

import asyncio

from db import outbox
from tests.test_e2e_core import wait_until


async def delivered_or_failed(pool, item_id):
    async def done():
        item = await outbox.get(pool, item_id)
        return item if item.status != "pending" else None

    return await wait_until(done, timeout=8)


def role_grant(sandbox, member: str, role: str) -> dict:
    return {
        "guild_id": sandbox.standin.guild.id,
        "user_id": sandbox.member(member).id,
        "role_id": sandbox.standin.guild.role_named(role).id,
        "reason": "test grant",
    }


async def test_a_role_grant_is_delivered_and_recorded(sandbox):
    pool = sandbox.bot.pool
    item_id = await outbox.enqueue(pool, "add_role", role_grant(sandbox, "alice", "Gaming Realm"))
    sandbox.bot.outbox.wake()
    item = await delivered_or_failed(pool, item_id)
    assert (item.status, item.attempts, item.last_error) == ("delivered", 1, None)
    role_id = sandbox.standin.guild.role_named("Gaming Realm").id
    assert role_id in sandbox.standin.guild.members[sandbox.member("alice").id].roles
    grant = await sandbox.standin.wait_for(lambda o: o.kind == "role_add", past=True)
    assert grant.data["reason"] == "test grant"


async def test_a_dm_to_a_member_with_closed_dms_fails_with_the_reason(sandbox):
    pool = sandbox.bot.pool
    bob = sandbox.member("bob")
    bob.member.user.dms_open = False
    item_id = await outbox.enqueue(pool, "dm", {"user_id": bob.id, "content": "you levelled up"})
    sandbox.bot.outbox.wake()
    item = await delivered_or_failed(pool, item_id)
    assert item.status == "failed"
    assert "DMs closed" in item.last_error
    assert item.attempts == 1


async def test_rate_limits_are_honoured_and_the_item_still_delivered(sandbox):
    pool = sandbox.bot.pool
    grant = role_grant(sandbox, "carol", "News Nexus")
    path = f"/guilds/{grant['guild_id']}/members/{grant['user_id']}/roles/{grant['role_id']}"
    sandbox.standin.inject_failure("PUT", path, status=429, retry_after=0.2, times=2)
    item_id = await outbox.enqueue(pool, "add_role", grant)
    sandbox.bot.outbox.wake()
    item = await delivered_or_failed(pool, item_id)
    assert item.status == "delivered"
    assert [c.status for c in sandbox.standin.calls_to("PUT", path)] == [429, 429, 204]


async def test_a_server_error_is_retried_with_backoff(sandbox):
    pool = sandbox.bot.pool
    channel = sandbox.demo.general
    sandbox.standin.inject_failure("POST", f"/channels/{channel.id}/messages", status=503, times=1)
    item_id = await outbox.enqueue(pool, "channel_message", {"channel_id": channel.id, "content": "Event tonight!"})
    sandbox.bot.outbox.wake()
    item = await delivered_or_failed(pool, item_id)
    assert item.status == "delivered"
    posted = await sandbox.standin.wait_for(
        lambda o: o.kind == "message" and o.message.content == "Event tonight!", past=True
    )
    assert posted.message.channel_id == channel.id
    assert [c.status for c in sandbox.standin.calls_to("POST", f"/channels/{channel.id}/messages")] == [
        503,
        200,
    ]


async def test_pending_deliveries_survive_a_restart_and_are_delivered_once(sandbox):
    await sandbox.stop_bot()
    from db.pool import create_pool

    pool = await create_pool(sandbox.dsn)
    try:
        grant = role_grant(sandbox, "bob", "Lorebound Realm")
        first = await outbox.enqueue(pool, "add_role", grant, dedupe_key="levelup:bob:lorebound:5")
        again = await outbox.enqueue(pool, "add_role", grant, dedupe_key="levelup:bob:lorebound:5")
        assert first is not None and again is None
    finally:
        await pool.close()
    await sandbox.start_bot()
    item = await delivered_or_failed(sandbox.bot.pool, first)
    assert item.status == "delivered"
    await asyncio.sleep(0.3)  # give a duplicate delivery the chance to show
    grants = [o for o in sandbox.standin.outputs if o.kind == "role_add" and o.data["role"] == "Lorebound Realm"]
    assert len(grants) == 1


async def test_an_idle_worker_does_not_poll_the_database_in_a_loop(sandbox):
    from db import outbox as queries

    assert await queries.next_due_in(sandbox.bot.pool) is None
    before = sandbox.bot.pool.get_size(), sandbox.bot.outbox
    calls = 0
    original = queries.claim_due

    async def counting(conn):
        nonlocal calls
        calls += 1
        return await original(conn)

    queries.claim_due = counting
    try:
        await asyncio.sleep(0.5)
    finally:
        queries.claim_due = original
    assert before[1] is sandbox.bot.outbox
    assert calls <= 1


async def test_an_outbox_row_naming_a_role_the_configuration_does_not_name_is_refused(sandbox):
    # Anyone who could insert an outbox row (the website's roles cannot: see test_rls) must not get a role.
    pool = sandbox.bot.pool
    sandbox.standin.add_role("Moderator-ish", position=2)
    grant = role_grant(sandbox, "alice", "Moderator-ish")
    refused_id = await outbox.enqueue(pool, "add_role", grant)
    other_guild = await outbox.enqueue(
        pool, "add_role", role_grant(sandbox, "bob", "Gaming Realm") | {"guild_id": "42"}
    )
    allowed_id = await outbox.enqueue(pool, "add_role", role_grant(sandbox, "carol", "Gaming Realm"))
    sandbox.bot.outbox.wake()
    refused = await delivered_or_failed(pool, refused_id)
    assert refused.status == "refused" and "not one the configuration names" in refused.last_error
    assert (await delivered_or_failed(pool, other_guild)).status == "refused"
    assert (await delivered_or_failed(pool, allowed_id)).status == "delivered"
    assert int(grant["role_id"]) not in sandbox.standin.guild.members[sandbox.member("alice").id].roles


async def test_a_poison_outbox_row_is_set_aside_and_the_rest_delivered(sandbox):
    pool = sandbox.bot.pool
    poison = await outbox.enqueue(pool, "channel_message", {"content": "no channel id at all"})
    after = await outbox.enqueue(pool, "add_role", role_grant(sandbox, "alice", "News Nexus"))
    sandbox.bot.outbox.wake()
    assert (await delivered_or_failed(pool, poison)).status == "failed"
    assert (await delivered_or_failed(pool, after)).status == "delivered"
    letter = await pool.fetchrow("SELECT kind, payload FROM dead_letters")
    assert letter["kind"] == "outbox" and letter["payload"]["outbox_id"] == poison


async def test_an_outcome_hook_that_fails_leaves_a_sent_item_delivered_and_never_sent_again(sandbox):
    pool = sandbox.bot.pool
    grant = role_grant(sandbox, "alice", "Gaming Realm")
    failing = await outbox.enqueue(pool, "add_role", grant)

    async def breaks_its_statement(conn, item, delivered, error):
        if item.id == failing:
            await conn.execute("SELECT 1 / 0")  # a database error: aborts the statement's transaction

    sandbox.bot.outbox.on_outcome(breaks_its_statement)
    after = await outbox.enqueue(pool, "add_role", role_grant(sandbox, "bob", "News Nexus"))
    sandbox.bot.outbox.wake()
    assert (await delivered_or_failed(pool, after)).status == "delivered"
    assert (await delivered_or_failed(pool, failing)).status == "delivered"
    grants = [o for o in sandbox.standin.outputs if o.kind == "role_add" and o.data["role"] == "Gaming Realm"]
    assert len(grants) == 1
