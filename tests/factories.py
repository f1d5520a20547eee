"""Small builders for test rows, through the real data-access layer."""

from __future__ import annotations

import itertools

from db.types import Executor
from db.users import MemberSnapshot, upsert_member

_ids = itertools.count(100_000_000_000_000_000)


def snowflake() -> str:
    return str(next(_ids))


async def make_member(conn: Executor, name: str = "member", *, roles: tuple[str, ...] = (), **kw: object) -> str:
    return await upsert_member(conn, MemberSnapshot(discord_id=snowflake(), username=name, roles=roles, **kw))
