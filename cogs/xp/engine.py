"""The XP engine: grants decided in memory on the hot path, written in one transaction per flush with
their level-up effects, and the rank index moved after each commit."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import discord

from bot.ranking import BoardKey, Rankings
from bot.xp_rules import (
    MessageFacts,
    MessageRules,
    VoiceClock,
    VoiceFacts,
    local_day,
    period_starts,
    voice_eligible,
)
from cogs.xp.levelups import LevelUpContext, apply_level_up_effects
from db import boards, ledger, pathways

if TYPE_CHECKING:
    from bot.client import ConclaveBot

log = logging.getLogger(__name__)

VOICE_TICK_S = 10.0


@dataclass
class Pending:
    member: discord.Member
    source: str
    source_ref: str
    pathway: str | None
    amount: int
    at: datetime
    channel_id: int | None


_NO_ROLES: frozenset[int] = frozenset()
_CHAT_TYPES = (discord.MessageType.default, discord.MessageType.reply)


def message_facts(message: discord.Message, watched_roles: frozenset[int] = frozenset()) -> MessageFacts:
    """The facts the rules read; of the author's roles only the `watched_roles` they hold (building
    the full sorted role list per message would cost more than the rest of the hot path)."""
    channel = message.channel
    if isinstance(channel, discord.Thread):
        parent_id, parent = channel.parent_id, channel.parent
    else:
        parent_id, parent = None, channel
    author = message.author
    roles = _NO_ROLES
    if watched_roles and isinstance(author, discord.Member):
        roles = frozenset(r for r in watched_roles if author.get_role(r))
    return MessageFacts(
        author_id=author.id,
        author_is_bot=author.bot,
        is_webhook=message.webhook_id is not None,
        is_system=message.type not in _CHAT_TYPES,
        in_guild=message.guild is not None,
        channel_id=channel.id,
        parent_id=parent_id,
        category_id=getattr(parent, "category_id", None),
        role_ids=roles,
        content=message.content,
    )


class XPEngine:
    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot
        self.community = bot.config.community
        self.rules = MessageRules(self.community)
        self.voice_clock = VoiceClock()
        self.rankings = Rankings()
        self.joined: dict[int, set[str]] = {}
        self._pending: list[Pending] = []
        self.lock = asyncio.Lock()  # serialises flushes, staff changes and board moves
        self._last_voice_tick = time.monotonic()
        self.ready = asyncio.Event()
        self.granted = 0  # grants decided since start (each one is written by a flush)

    @property
    def timezone(self) -> str:
        return self.community.xp.timezone

    # -- start-up ---------------------------------------------------------------------------

    async def load(self) -> None:
        """Joined pathways and the rank index from the database."""
        async with self.bot.pool.acquire() as conn:
            for discord_id, joined in (await pathways.joined_by_member(conn)).items():
                self.joined[int(discord_id)] = set(joined)
            await self.rebuild_rankings(conn)
        self.ready.set()

    def current_periods(self) -> tuple:
        return period_starts(datetime.now(UTC), self.timezone)

    def board_keys(self) -> list[BoardKey]:
        week, month = self.current_periods()
        names = ["", *(p.id for p in self.community.pathways)]
        return [
            (period, start, name)
            for period, start in (("all", None), ("week", week), ("month", month))
            for name in names
        ]

    async def rebuild_rankings(self, conn: asyncpg.Connection) -> None:
        fresh = Rankings()
        for key in self.board_keys():
            fresh.board(key).load(await boards.histogram(conn, boards.Board(*key)))
        self.rankings = fresh

    # -- the hot path -----------------------------------------------------------------------

    def on_message(self, message: discord.Message) -> None:
        """A message hook: decide the grant in memory; the flush writes it."""
        author = message.author
        if message.guild is None or message.guild.id != self.bot.guild_id or not isinstance(author, discord.Member):
            return
        facts = message_facts(message, self.rules.no_xp_roles)
        if self.rules.why_no_xp(facts, time.monotonic()) is not None:
            return
        pathway = self.rules.pathway_for(self.rules.places(facts))
        if pathway is not None and pathway not in self.joined.get(author.id, ()):
            pathway = None
        self._grant(
            Pending(
                author,
                "message",
                str(message.id),
                pathway,
                self.rules.amount(),
                message.created_at,
                message.channel.id,
            )
        )

    def _grant(self, pending: Pending) -> None:
        self._pending.append(pending)
        self.granted += 1

    def voice_tick(self, elapsed: float | None = None, at: datetime | None = None) -> int:
        """Credit every full eligible minute in voice (called every few seconds with the time since
        the last tick measured here; tests pass `elapsed` and `at`); returns minutes credited.
        A credit's source is the wall-clock minute, so no minute is ever credited twice."""
        guild = self.bot.home_guild
        now = time.monotonic()
        measured, self._last_voice_tick = now - self._last_voice_tick, now
        # A measured gap is capped: a stalled loop or a slow start must not credit time nobody saw.
        elapsed = min(measured, 2 * VOICE_TICK_S) if elapsed is None else elapsed
        if guild is None:
            return 0
        eligible: dict[int, tuple[discord.Member, discord.VoiceChannel | discord.StageChannel]] = {}
        for channel in (*guild.voice_channels, *guild.stage_channels):
            members = channel.members
            humans = sum(1 for m in members if not m.bot)
            for member in members:
                state = member.voice
                if state is None:
                    continue
                facts = VoiceFacts(
                    member.id,
                    member.bot,
                    channel.id,
                    channel.category_id,
                    state.self_mute,
                    state.self_deaf,
                    state.deaf,
                    humans,
                )
                if voice_eligible(facts, guild.afk_channel.id if guild.afk_channel else None):
                    eligible[member.id] = (member, channel)
        credited = self.voice_clock.tick(eligible, elapsed)
        at = at or datetime.now(UTC)
        minute = int(at.timestamp() // 60)
        for member_id, minutes in credited.items():
            member, channel = eligible[member_id]
            pathway = self.rules.pathway_for((channel.id, channel.category_id or 0))
            if pathway is not None and pathway not in self.joined.get(member_id, ()):
                pathway = None
            for i in range(minutes):
                self._grant(
                    Pending(
                        member,
                        "voice",
                        str(minute - i),
                        pathway,
                        self.community.xp.voice_per_minute,
                        at,
                        None,
                    )
                )
        return sum(credited.values())

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- the flush --------------------------------------------------------------------------

    async def flush(self) -> ledger.GrantResult | None:
        """Write every pending grant, its totals and its level-up effects in one transaction."""
        async with self.lock:
            if not self._pending:
                return None
            batch, self._pending = self._pending, []
            try:
                return await self._write(batch)
            except (asyncpg.PostgresError, OSError, TimeoutError):
                self._pending[:0] = batch  # nothing is lost: retried at the next flush
                raise

    async def _write(self, batch: list[Pending]) -> ledger.GrantResult:
        ids = await self.bot.identity.ensure_many(p.member for p in batch)
        grants = []
        for p in batch:
            week, month = period_starts(p.at, self.timezone)
            grants.append(
                ledger.Grant(
                    ids[p.member.id],
                    p.source,
                    p.source_ref,
                    p.pathway,
                    p.amount,
                    p.at,
                    local_day(p.at, self.timezone),
                    week,
                    month,
                )
            )
        members = {ids[p.member.id]: p.member for p in batch}
        channels = {ids[p.member.id]: p.channel_id for p in batch if p.channel_id is not None}
        async with self.bot.pool.acquire() as conn, conn.transaction():
            result = await ledger.apply_grants(conn, grants)
            context = LevelUpContext(self.bot, members, channels)
            queued = await apply_level_up_effects(conn, context, result.level_ups)
        self.move_rankings(result, members)
        if queued:
            self.bot.outbox.wake()
        return result

    def move_rankings(self, result: ledger.GrantResult, members: dict[str, discord.Member]) -> None:
        guild = self.bot.home_guild
        for change in result.totals:
            member = members.get(change.user_id)
            if member is None or guild is None or guild.get_member(member.id) is None:
                continue  # left the server: not on the boards
            self.rankings.move(("all", None, change.board), change.before, change.after)
        week, month = self.current_periods()
        for change in result.periods:
            member = members.get(change.user_id)
            current = (change.period == "week" and change.period_start == week) or (
                change.period == "month" and change.period_start == month
            )
            if member is None or not current or guild is None or guild.get_member(member.id) is None:
                continue
            self.rankings.move((change.period, change.period_start, change.board), change.before, change.after)

    async def member_left_or_joined(self, user_id: str, *, joined: bool) -> None:
        """Take a member off every board (or put them back), serialised with flushes."""
        async with self.lock:
            week, month = self.current_periods()
            async with self.bot.pool.acquire() as conn:
                current = await boards.member_boards(conn, user_id, week, month)
            for key, xp in current.items():
                if self.rankings.has(key):
                    before, after = (0, xp) if joined else (xp, 0)
                    self.rankings.move(key, before, after)

    async def roll_periods(self) -> None:
        """At a new week or month: start the new period boards (empty) and drop the old ones."""
        week, month = self.current_periods()
        async with self.lock:
            self.rankings.forget_periods_before(week, month)
            for key in self.board_keys():
                self.rankings.board(key)
