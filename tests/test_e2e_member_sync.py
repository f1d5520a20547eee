"""The member sync and its log: members who changed while the bot was off, in discord_sync_log."""

from __future__ import annotations

from db import sync_log, users
from db.users import MemberSnapshot
from tests.factories import snowflake
from tests.test_e2e_faults import doctor

ROWS = "SELECT status, members_synced, details FROM discord_sync_log WHERE sync_type = 'members' ORDER BY started_at"


async def test_members_who_changed_while_the_bot_was_off_are_synced_and_logged(harness):
    bot = await harness.start_bot()
    standin = harness.standin
    alice, bob = harness.member("alice"), harness.member("bob")
    first = await bot.pool.fetch(ROWS)
    assert [r["status"] for r in first] == ["completed"]
    assert first[0]["details"]["new_members"] == first[0]["members_synced"] == len(standin.guild.members)
    await harness.stop_bot()
    standin.guild.members.pop(bob.id)  # left while nobody was listening
    standin.guild.members[alice.id].nick = "Queen Alice"
    vip = standin.add_role("VIP", position=3)
    standin.guild.members[alice.id].roles.append(vip.id)
    harness.demo.new_member("dave")
    bot = await harness.start_bot()
    rows = await bot.pool.fetch(ROWS)
    assert [r["status"] for r in rows] == ["completed", "completed"]
    details = rows[-1]["details"]
    assert (details["new_members"], details["left_members"]) == (1, 1)
    assert details["updated_members"] >= 1 and details["duration_ms"] >= 0
    by_discord = {
        r["discord_id"]: r for r in await bot.pool.fetch("SELECT discord_id, in_server, nickname, roles FROM users")
    }
    assert by_discord[bob.id]["in_server"] is False
    assert by_discord[alice.id]["nickname"] == "Queen Alice" and vip.id in by_discord[alice.id]["roles"]
    assert by_discord[harness.member("dave").id]["in_server"] is True
    # Nothing changed since: the next run writes no row of users.
    await bot.identity.sync_guild(bot.home_guild)
    again = (await sync_log.last(bot.pool, "members")).details
    assert (again["new_members"], again["updated_members"], again["left_members"]) == (0, 0, 0)
    assert bot.scheduler.get_job("members:sync") is not None
    report = doctor(harness.dsn, harness.data_dir).stdout
    assert "member sync: last completed" in report and "(0 new, 0 updated, 0 gone)" in report


async def test_the_identity_cache_keeps_the_most_recent_members_only(harness):
    """bot/core/identity.py KNOWN_IDS: the users.id of the members met most recently stay in memory, the
    least recently used go first; one who went is looked up again (the same row, no duplicate)."""
    from bot.core.identity import KNOWN_IDS
    from tests.xp_support import handled
    from tests.xp_support import start as start_xp

    bot = await start_xp(harness)
    assert bot.identity.limit == KNOWN_IDS and len(bot.identity) <= KNOWN_IDS
    bot.identity.limit = 2
    alice, bob, carol = harness.member("alice"), harness.member("bob"), harness.member("carol")
    rows_before = await bot.pool.fetchval("SELECT count(*) FROM users")
    for number, member in enumerate((alice, bob, carol, alice), start=1):
        member.say(f"message {number}")
        await handled(bot, number)
        assert len(bot.identity) <= 2
    kept = {d for d in (int(alice.id), int(bob.id), int(carol.id)) if bot.identity.cached(d) is not None}
    assert kept == {int(carol.id), int(alice.id)}  # bob, the least recently used, went
    bob.say("back again")
    await handled(bot, 5)
    assert bot.identity.cached(int(bob.id)) is not None and len(bot.identity) == 2
    assert await bot.pool.fetchval("SELECT count(*) FROM users") == rows_before
    counts = await bot.pool.fetch(
        """SELECT u.discord_id, up.message_count FROM users u JOIN user_profiles up ON up.user_id = u.id
           WHERE u.discord_id = ANY($1::text[]) ORDER BY u.discord_id""",
        [alice.id, bob.id, carol.id],
    )
    assert {r["discord_id"]: r["message_count"] for r in counts} == {alice.id: 2, bob.id: 2, carol.id: 1}


async def test_a_departure_wins_over_a_write_from_what_the_bot_held_of_the_member_before(harness):
    """A member the identity cache no longer holds (KNOWN_IDS, by recency) chats and leaves before
    the next flush: the flush's upsert from the message's (stale) member must not bring them back."""
    from tests.test_e2e_core import wait_until
    from tests.xp_support import handled
    from tests.xp_support import start as start_xp

    bot = await start_xp(harness, flush_interval_seconds=60, community={"activity_flush_seconds": 300})
    bot.identity.limit = 1
    alice, bob = harness.member("alice"), harness.member("bob")
    bob.say("hello")
    await handled(bot, 1)  # bob is the one member the cache holds now
    assert bot.identity.cached(int(alice.id)) is None
    alice.say("bye all")

    async def received() -> bool:
        return bot.chat_activity.received >= 2

    await wait_until(received)
    alice.leave_guild()
    in_server = "SELECT in_server FROM users WHERE discord_id = $1"

    async def departed() -> bool:
        return await bot.pool.fetchval(in_server, alice.id) is False

    await wait_until(departed)
    await bot.flush_all()  # her last message's XP, written after she left
    assert await bot.pool.fetchval(in_server, alice.id) is False
    assert (
        await bot.pool.fetchval(
            "SELECT up.message_count FROM user_profiles up JOIN users u ON u.id = up.user_id WHERE u.discord_id = $1",
            alice.id,
        )
        == 1
    )  # what she earned before leaving is kept
    alice.rejoin_guild()  # a join brings her back, as it should

    async def back() -> bool:
        return await bot.pool.fetchval(in_server, alice.id) is True

    await wait_until(back)


async def test_a_member_never_marked_gone_is_marked_in_the_server_by_the_bots_next_write(pool):
    """claim_member() (website sign-in before the bot saw them) and upsert_non_member() write
    in_server = false for someone who never left. The bot then meets them in the server (a message,
    a command, a role change): that must mark them in the server, as before 832da52."""
    discord_id = snowflake()
    # what claim_member() writes
    await pool.execute(
        "INSERT INTO users (discord_id, username, in_server) VALUES ($1, 'web-first', false)", discord_id
    )
    # the bot meets them as a guild member (refresh / a command's user / a message's author)
    await users.upsert_member(pool, MemberSnapshot(discord_id=discord_id, username="web-first", in_server=True))
    async with pool.acquire() as conn:
        await users.upsert_members(conn, [MemberSnapshot(discord_id=discord_id, username="web-first", in_server=True)])
    assert await pool.fetchval("SELECT in_server FROM users WHERE discord_id = $1", discord_id) is True


async def test_a_failing_after_sync_hook_does_not_skip_the_later_ones(harness, caplog):
    """One after_member_sync hook failing (a statement timeout in the pathway reconcile) is logged with
    its name; the hooks after it still run and the guild still counts as synced."""
    import asyncpg

    bot = await harness.start_bot()
    ran: list[str] = []

    async def reconcile_that_times_out() -> None:
        raise asyncpg.QueryCanceledError("canceling statement due to statement timeout")

    async def a_later_hook() -> None:
        ran.append("later")

    bot.after_member_sync.insert(0, reconcile_that_times_out)
    bot.after_member_sync.append(a_later_hook)
    bot.guild_synced.clear()
    with caplog.at_level("WARNING"):
        await bot.on_ready()
    assert ran == ["later"]
    assert bot.guild_synced.is_set()
    assert "reconcile_that_times_out" in caplog.text
