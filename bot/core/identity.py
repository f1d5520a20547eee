"""Discord members -> users rows: upserted on first contact, cached in memory for the process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable

import asyncpg
import discord

from bot.core.errors import NotFound
from bot.core.locks import KeyedLocks
from db import sync_log, users
from db.faults import one_line

log = logging.getLogger(__name__)


def snapshot(member: discord.Member | discord.User, *, in_server: bool = True) -> users.MemberSnapshot:
    """What the users table keeps of a Discord member."""
    is_member = isinstance(member, discord.Member)
    return users.MemberSnapshot(
        discord_id=str(member.id),
        username=member.name,
        global_name=member.global_name,
        nickname=member.nick if is_member else None,
        avatar=member.avatar.key if member.avatar else None,
        avatar_url=member.display_avatar.url,
        roles=[str(r.id) for r in member.roles if not r.is_default()] if is_member else [],
        in_server=in_server,
        joined_at=member.joined_at if is_member else None,
        server_booster=bool(is_member and member.premium_since),
        boost_since=member.premium_since if is_member else None,
    )


async def resolve_user(client: discord.Client, target: discord.abc.Snowflake) -> discord.Member | discord.User:
    """A user option's value as a user: Discord sends only an id for someone it resolves no member
    for (typed as an id), which discord.py hands over as a bare Object."""
    if isinstance(target, discord.Member | discord.User):
        return target
    found = client.get_user(target.id)
    if found is not None:
        return found
    try:
        return await client.fetch_user(target.id)
    except discord.NotFound:
        raise NotFound(f"There is no Discord user with id {target.id}.") from None


# The users.id of the members met most recently, kept in memory (by recency: the least recently
# used goes first). An entry is an int, a 36-character id and the order's links, about 250 bytes:
# 50,000 of them are about 12 MB. A member not kept costs one upsert at their next contact.
KNOWN_IDS = 50_000
# The members whose departure this process recorded, until they join again (by recency, at most
# this many, a few MB): what the bot still holds of them (a message's author, a moderation target)
# is written as not in the server. A snapshot is at most a flush interval old, far less than the
# time it takes this many departures to push one out.
DEPARTURES_KEPT = 10_000


class Identity:
    """The users.id of the Discord members the bot met, the `limit` most recent of them (LRU)."""

    def __init__(self, pool: asyncpg.Pool, *, limit: int = KNOWN_IDS) -> None:
        self.pool = pool
        self._ids: OrderedDict[int, str] = OrderedDict()
        self._limit = limit
        self._lock = asyncio.Lock()  # one upsert at a time, a departure's among them
        self._departed: OrderedDict[int, None] = OrderedDict()
        # Joins and departures of one member are recorded in the order Discord sent them: their
        # handlers run as concurrent tasks, and a quick leave-and-rejoin would otherwise race.
        # A lock per member with a join or departure in flight (not per member ever seen).
        self.membership_locks = KeyedLocks()

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def limit(self) -> int:
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        self._limit = value
        self._trim()

    def _trim(self) -> None:
        while len(self._ids) > self._limit:
            self._ids.popitem(last=False)

    def _snapshot(self, member: discord.Member) -> users.MemberSnapshot:
        """A member as the bot holds them: not in the server when their departure came since."""
        return snapshot(member, in_server=member.id not in self._departed)

    def cached(self, discord_id: int) -> str | None:
        known = self._ids.get(discord_id)
        if known is not None:
            self._ids.move_to_end(discord_id)
        return known

    def _remember(self, discord_id: int, user_id: str) -> None:
        """Keep a member's id as the most recent; the least recently used beyond the bound go."""
        self._ids[discord_id] = user_id
        self._ids.move_to_end(discord_id)
        self._trim()

    def forget(self, discord_id: int) -> None:
        """Drop a member whose users row is gone (erased): their next contact upserts a fresh row."""
        self._ids.pop(discord_id, None)

    async def user_id(self, member: discord.Member | discord.User) -> str:
        """The member's users.id, creating the row (and profile) on first contact. A User (not a
        Member: someone outside the server, or met in DMs) never changes their membership or roles."""
        known = self.cached(member.id)
        if known is not None:
            return known
        if not isinstance(member, discord.Member):
            return await self.outside_id(member)
        async with self._lock:
            user_id = await users.upsert_member(self.pool, self._snapshot(member))
        self._remember(member.id, user_id)
        return user_id

    async def outside_id(self, user: discord.Member | discord.User) -> str:
        """The users.id of someone whose membership this lookup must not decide (a user just banned:
        the departure is the member events' to record, and may already have been)."""
        known = self.cached(user.id)
        if known is not None:
            return known
        user_id = await users.upsert_non_member(self.pool, snapshot(user, in_server=False))
        self._remember(user.id, user_id)
        return user_id

    async def refresh(self, member: discord.Member, *, in_server: bool = True) -> str:
        """Write what changed (roles, names) and return the users.id (a departure this process
        recorded since stays: db/users.py UPSERT_MEMBER)."""
        async with self._lock:
            held = self._snapshot(member)
            user_id = await users.upsert_member(self.pool, snapshot(member, in_server=in_server and held.in_server))
        self._remember(member.id, user_id)
        return user_id

    async def ensure_many(self, members: Iterable[discord.Member]) -> dict[int, str]:
        """Upsert every member not yet known in one statement; returns the ids of these members
        (whatever the bound: a batch larger than it is answered whole)."""
        # Once each: one member twice in an upsert is refused ("cannot affect row a second time").
        wanted = {m.id: m for m in members}
        found = {i: known for i in wanted if (known := self.cached(i)) is not None}
        missing = [m for i, m in wanted.items() if i not in found]
        if missing:
            async with self._lock, self.pool.acquire() as conn:
                mapping = await users.upsert_members(conn, [self._snapshot(m) for m in missing])
            for discord_id, user_id in mapping.items():
                found[int(discord_id)] = user_id
                self._remember(int(discord_id), user_id)
        return found

    async def sync_guild(self, guild: discord.Guild) -> int:
        """At start-up and on a schedule: every member's row made to match Discord, rows of people
        who left marked so; each run a discord_sync_log row (counts, duration, the error if any)."""
        started = time.perf_counter()
        run_id = await sync_log.begin(self.pool, "members")
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                counts = await users.sync_members(conn, [snapshot(m) for m in guild.members])
        except Exception as error:
            details = {"duration_ms": round((time.perf_counter() - started) * 1000), "errors": [one_line(error)]}
            with contextlib.suppress(Exception):  # the database may be the problem
                await sync_log.fail(self.pool, run_id, one_line(error), details)
            raise
        for discord_id, user_id in counts.mapping.items():
            self._remember(int(discord_id), user_id)
        for member in guild.members:  # in the server now, whatever this process saw before
            self._departed.pop(member.id, None)
        details = {
            "total_processed": len(counts.mapping),
            "new_members": counts.new,
            "updated_members": counts.updated,
            "left_members": counts.left,
            "errors": [],
            "duration_ms": round((time.perf_counter() - started) * 1000),
        }
        await sync_log.complete(self.pool, run_id, members=len(counts.mapping), details=details)
        log.info(
            "member sync: %d members (%d new, %d updated, %d gone) in %d ms",
            len(counts.mapping),
            counts.new,
            counts.updated,
            counts.left,
            details["duration_ms"],
        )
        return len(counts.mapping)

    async def joined(self, member: discord.Member) -> users.Joined:
        """Record a join: the users.id, whether they had been here and left, and whether this call
        recorded it (not another process told of the same join, at a handover)."""
        async with self.membership_locks.turn(member.id), self._lock:
            async with self.pool.acquire() as conn, conn.transaction():
                joined = await users.mark_joined(conn, snapshot(member))
            self._departed.pop(member.id, None)
        self._remember(member.id, joined.user_id)
        return joined

    async def left(self, member: discord.Member | discord.User) -> str | None:
        """Record a departure; returns the users.id when the member was in the server until now."""
        async with self.membership_locks.turn(member.id), self._lock:
            # Under the upsert lock: an upsert of what the bot held of them either commits before
            # the departure or is made after it, knowing of it.
            self._departed[member.id] = None
            self._departed.move_to_end(member.id)
            while len(self._departed) > DEPARTURES_KEPT:
                self._departed.popitem(last=False)
            return await users.mark_left(self.pool, str(member.id))
