"""Moderation cases and sanctions on real PostgreSQL: gap-free numbers under concurrency, cases that
outlive an erased moderator, and an old sanction that can never lift a newer one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from db import moderation
from tests.factories import make_member

GUILD = "1369197369161154000"


async def test_case_numbers_have_no_gaps_and_no_repeats_under_concurrency(pool):
    async with pool.acquire() as conn:
        mod = await make_member(conn, "mod")
        target = await make_member(conn, "target")

    async def act(i: int) -> int | None:
        async with pool.acquire() as conn:
            try:
                async with conn.transaction():
                    case = await moderation.open_case(
                        conn, guild_id=GUILD, moderator_id=mod, target_user_id=target, action="warn", reason=f"#{i}"
                    )
                    if i % 4 == 0:
                        raise RuntimeError("the action failed after its case was opened")
                    return case.number
            except RuntimeError:
                return None

    numbers = [n for n in await asyncio.gather(*(act(i) for i in range(40))) if n is not None]
    assert sorted(numbers) == list(range(1, 31))  # 10 rolled back: their numbers were reused, none skipped
    async with pool.acquire() as conn, conn.transaction():
        other = await moderation.open_case(
            conn, guild_id="42", moderator_id=mod, target_user_id=target, action="note", reason="another server"
        )
    assert other.number == 1  # per guild


async def test_an_erased_moderators_cases_stay_on_record(conn):
    mod = await make_member(conn, "mod")
    target = await make_member(conn, "target")
    async with conn.transaction():
        case = await moderation.open_case(
            conn,
            guild_id=GUILD,
            moderator_id=mod,
            target_user_id=target,
            action="ban",
            reason="raid",
            duration_minutes=60,
        )
    await conn.execute("DELETE FROM users WHERE id = $1", mod)
    kept = await moderation.case_by_number(conn, GUILD, case.number)
    assert kept is not None and kept.moderator_id is None and kept.reason == "raid" and kept.duration == 60


async def test_an_old_temporary_ban_never_lifts_a_newer_permanent_one(conn):
    mod = await make_member(conn, "mod")
    target = await make_member(conn, "target")
    member = "555000111222333444"
    async with conn.transaction():
        temp_case = await moderation.open_case(
            conn, guild_id=GUILD, moderator_id=mod, target_user_id=target, action="ban", reason="1 day"
        )
        temp, _ = await moderation.start_sanction(
            conn,
            case_id=temp_case.id,
            guild_id=GUILD,
            target_discord_id=member,
            kind="ban",
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
    async with conn.transaction():
        perm_case = await moderation.open_case(
            conn, guild_id=GUILD, moderator_id=mod, target_user_id=target, action="ban", reason="for good"
        )
        perm, superseded = await moderation.start_sanction(
            conn, case_id=perm_case.id, guild_id=GUILD, target_discord_id=member, kind="ban", expires_at=None
        )
    assert [s.id for s in superseded] == [temp.id]
    # The old ban's expiry comes: it finds nothing to lift.
    assert await moderation.end_sanction(conn, temp.id, status="expired") is None
    active = await moderation.active_sanction(conn, GUILD, member, "ban")
    assert active is not None and active.id == perm.id and active.expires_at is None
    with pytest.raises(ValueError):
        await moderation.end_sanction(conn, perm.id, status="superseded")


async def test_a_members_history_pages_newest_first(conn):
    mod = await make_member(conn, "mod")
    target = await make_member(conn, "target")
    bystander = await make_member(conn, "bystander")
    for i in range(25):
        async with conn.transaction():
            await moderation.open_case(
                conn,
                guild_id=GUILD,
                moderator_id=mod,
                target_user_id=bystander if i % 5 == 0 else target,
                action="note",
                reason=f"note {i}",
            )
    pages, before = [], None
    while page := await moderation.history(conn, GUILD, target, before=before, limit=7):
        pages.append([c.number for c in page])
        before = page[-1].number
    walked = [n for p in pages for n in p]
    assert walked == sorted((i + 1 for i in range(25) if i % 5 != 0), reverse=True)
    assert [len(p) for p in pages] == [7, 7, 6]
