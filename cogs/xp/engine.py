"""The XP engine: grants decided in memory on the hot path, written in one transaction per flush with
their level-up effects, and the rank index moved after each commit."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import discord

from bot.core.locks import XP, RankedLock
from bot.rules.ranking import BoardKey, Rankings, XPCounter
from bot.rules.xp import (
    MessageFacts,
    MessageRules,
    VoiceClock,
    VoiceFacts,
    local_day,
    period_starts,
    voice_eligible,
)
from bot.writes.activity import ChatCount
from bot.writes.write_path import dead_letter, retry_with_fresh_rows, write_isolating
from cogs.xp.levelups import LevelUpContext, apply_level_up_effects, record_level_ups
from cogs.xp.pending import Item, Pending, PendingWrites
from db import boards, ledger, pathways
from db.faults import MissingRows

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

VOICE_TICK_S = 10.0
# The rank index is compared with the database this often (and rebuilt where it differs): at
# most a minute behind writes the bot did not make. The database's side is board_totals, kept by
# triggers (a read of a few rows); every COUNTS_CHECK_EVERY-th check (the first, then hourly) also
# counts the tables themselves, in case the triggers were bypassed (seconds at 1M members, once
# an hour: ~0.1% of a core).
RECONCILE_EVERY_S = 60.0
COUNTS_CHECK_EVERY = 60


@dataclass
class FlushOutcome:
    written: int = 0  # grants and member counts written
    refused: int = 0  # dead-lettered
    kept: int = 0  # still pending (an outage)
    result: ledger.GrantResult | None = None


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
        self.chat_xp_on = self.community.xp.chat_xp_on
        self.voice_clock = VoiceClock()
        self.rankings = Rankings()
        self.joined: dict[int, set[str]] = {}
        self.writes = PendingWrites(bot)
        self.journal = self.writes.journal
        self.activity = self.writes.activity
        self.lock = RankedLock("XP engine", XP)  # serialises flushes, staff changes and board moves
        self.stats_hooks: list[Callable[[set[str]], None]] = []  # told which members' stats a write changed
        # told of the whole voice minutes credited: member id -> (channel id, minutes)
        self.voice_hooks: list[Callable[[dict[int, tuple[int, int]]], None]] = []
        self._last_voice_tick = time.monotonic()
        self.ready = asyncio.Event()
        self.granted = 0  # grants decided since start (each one is written by a flush)
        self.reconciled = 0  # rank index checks since start

    @property
    def timezone(self) -> str:
        return self.community.xp.timezone

    # -- start-up ---------------------------------------------------------------------------

    async def load(self) -> None:
        """Joined pathways and the rank index from the database."""
        async with self.bot.pool.acquire() as conn:
            await self._load_joined(conn)
            await self.rebuild_rankings(conn)
        self.ready.set()

    async def load_joined(self) -> None:
        """Joined pathways read again (what another process recorded since this one started)."""
        async with self.bot.pool.acquire() as conn:
            await self._load_joined(conn)

    async def _load_joined(self, conn: asyncpg.Connection) -> None:
        self.joined = {
            int(discord_id): set(joined) for discord_id, joined in (await pathways.joined_by_member(conn)).items()
        }

    def current_periods(self) -> tuple:
        return period_starts(datetime.now(UTC), self.timezone)

    async def position(self, key: BoardKey, xp: int) -> int:
        """A total's place on a board (1 + members in the server with more): from the rank index when
        it holds the board, else counted in SQL."""
        found = self.rankings.position(key, xp) if self.rankings.has(key) else None
        if found is not None:
            return found
        return 1 + await boards.count_above(self.bot.pool, boards.Board(*key), xp)

    def board_keys(self) -> list[BoardKey]:
        week, month = self.current_periods()
        names = ["", *(p.id for p in self.community.pathways)]
        return [
            (period, start, name)
            for period, start in (("all", None), ("week", week), ("month", month))
            for name in names
        ]

    async def reconcile_rankings(self) -> list[BoardKey]:
        """Compare every board of the rank index with the database (members and the sum of their XP)
        and rebuild the boards that drifted: writes the bot did not make (the
        website's award_xp, a row changed by hand) or a departure missed. Bounded cost: one read of
        board_totals; a board is rebuilt only when it differs. Returns the rebuilt boards."""
        self.reconciled += 1
        if self.reconciled % COUNTS_CHECK_EVERY == 1:
            await self.check_board_counts()
        async with self.lock:
            week, month = self.current_periods()
            async with self.bot.pool.acquire() as conn:
                truth = await boards.fingerprints(conn, week, month)
                drifted = [
                    key for key in self.board_keys() if truth.get(key, (0, 0)) != self.rankings.board(key).fingerprint()
                ]
                for key in drifted:
                    histogram = await boards.histogram(conn, boards.Board(*key))
                    counter = XPCounter()
                    await asyncio.to_thread(counter.load, histogram)  # O(max XP): off the event loop
                    self.rankings.boards[key] = counter
        if drifted:
            names = ", ".join(f"{p}{'/' + b if b else ''}" for p, _, b in drifted)
            log.info("rank index: %d board(s) differed from the database and were rebuilt (%s)", len(drifted), names)
        return drifted

    async def check_board_counts(self) -> list[tuple]:
        """Count the boards from the tables and rebuild board_totals and the public boards' counts
        if the triggers that keep them were bypassed. Outside the engine's lock: flushes go on while
        it counts (one snapshot, so they never look like drift). Returns the boards that differed."""
        week, month = self.current_periods()
        async with self.bot.pool.acquire() as conn:
            differ = await boards.counts_differ(conn, week, month)
            if differ:
                names = ", ".join(f"{p}{'/' + b if b else ''}" for p, _, b in differ)
                log.warning("board counts differed from the tables (triggers bypassed?); rebuilding (%s)", names)
                await boards.rebuild_counts(conn)
        return differ

    async def rebuild_rankings(self, conn: asyncpg.Connection) -> None:
        fresh = Rankings()
        for key in self.board_keys():
            fresh.board(key).load(await boards.histogram(conn, boards.Board(*key)))
        self.rankings = fresh

    # -- the hot path -----------------------------------------------------------------------

    def on_message(self, message: discord.Message) -> None:
        """A message hook (member chat in the home guild, once each): decide the grant in memory;
        the flush writes it. Most messages arrive within their author's cooldown: they are settled
        before anything else is read off the message."""
        author = message.author
        if not self.chat_xp_on:
            return
        now = time.monotonic()
        if self.rules.cooling_down(author.id, message.content, now):
            return
        facts = message_facts(message, self.rules.no_xp_roles)
        if self.rules.why_no_xp(facts, now) is not None:
            return
        pathway = self.rules.pathway_for(self.rules.places(facts))
        if pathway is not None and pathway not in self.joined.get(author.id, ()):
            pathway = None
        self._grant(
            Pending(
                author.id,
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
        self.writes.add(pending)
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
        if credited:
            for hook in self.voice_hooks:  # e.g. event attendance: whole minutes, per channel
                hook({member_id: (eligible[member_id][1].id, minutes) for member_id, minutes in credited.items()})
        if self.community.xp.voice_per_minute == 0:
            return 0  # voice XP is off
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
                        member.id,
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
        return len(self.writes)

    @property
    def max_pending(self) -> int:
        return self.writes.max_pending

    @max_pending.setter
    def max_pending(self, value: int) -> None:
        self.writes.max_pending = value

    def spill_all(self) -> str | None:
        return self.writes.spill_all()

    # -- the flush --------------------------------------------------------------------------

    async def flush(self, *, everything: bool = False) -> FlushOutcome:
        """Write every pending grant and chat count, their totals and level-up effects, in one
        transaction (one UPDATE per member). A member the database refuses is isolated and
        dead-lettered; the others are written. During an outage everything is kept (bounded in
        memory, the rest in the local journal) and tried again with backoff."""
        async with self.lock:
            health = self.bot.write_health
            outcome = FlushOutcome()
            writes = self.writes
            if not health.may_try():
                writes.keep_within_bound()
                return outcome
            journal_path, journal_items, journal_rest = writes.next_journal_batch()
            grants, counts = writes.take(everything=everything)
            items: list[Item] = [*journal_items, *grants, *counts]
            if not items:
                return outcome
            try:
                return await self._flush_items(outcome, items, journal_path, journal_items, journal_rest)
            finally:
                writes.in_flight.done()

    async def _flush_items(
        self,
        outcome: FlushOutcome,
        items: list[Item],
        journal_path: Path | None,
        journal_items: list[Item],
        journal_rest: list[dict[str, Any]],
    ) -> FlushOutcome:
        health = self.bot.write_health
        writes = self.writes
        results: list[ledger.GrantResult] = []

        async def write(batch: list[Item]) -> None:
            results.append(await self._write(batch))

        # The journal's records stay in their file until written: only the rest is the stop's to keep.
        from_journal = {id(j) for j in journal_items}
        progress = writes.in_flight.start([i for i in items if id(i) not in from_journal])
        try:
            isolated = await write_isolating(items, write, _member_key, result=progress)
            await retry_with_fresh_rows(isolated, write, _member_key, self.bot.identity)
        except BaseException:
            # Cancelled (a stop's budget ran out): what is not known to be written goes back to
            # memory (the journal's records are still in its file).
            written = {id(i) for i in progress.written}
            writes.keep([i for i in items if id(i) not in from_journal and id(i) not in written])
            raise
        outcome.written = len(isolated.written)
        kept = list(isolated.kept)
        if isolated.refused:
            try:
                outcome.refused = await self._dead_letter(isolated.refused)
            except Exception as error:  # could not even record them: keep them for the next try
                kept.extend(item for group, _ in isolated.refused for item in group)
                isolated.outage = isolated.outage or error
        if journal_path is not None:
            # What of the journal file was not written stays in it (and only that: a count
            # replayed twice would count twice).
            remaining = [k.record() for k in kept if id(k) in from_journal] + journal_rest
            kept = [k for k in kept if id(k) not in from_journal]
            if remaining:
                writes.journal.rewrite(journal_path, remaining)
            else:
                writes.journal.done(journal_path)
        if isolated.outage is not None:
            writes.keep(kept)
            outcome.kept = len(kept)
            health.failed(isolated.outage, kept=len(writes) + writes.activity_pending)
            writes.keep_within_bound()
        else:
            health.succeeded(outcome.written)
        if self.activity is not None:
            self.activity.written([i for i in isolated.written if isinstance(i, ChatCount)])
        outcome.result = _merge(results)
        return outcome

    async def _dead_letter(self, refused: list[tuple[list[Item], BaseException]]) -> int:
        written = await dead_letter(
            self.bot.pool, self.bot.identity, refused, lambda i: "activity" if isinstance(i, ChatCount) else "xp_grant"
        )
        self.bot.refused_writes += written
        return written

    async def _write(self, batch: list[Item]) -> ledger.GrantResult:
        members = [i.member for i in batch if i.member is not None and i.user_id is None]
        ids = await self.bot.identity.ensure_many(members)
        grants = []
        activity = []
        by_user: dict[str, discord.Member] = {}
        channels: dict[str, int] = {}
        for item in batch:
            user_id = item.user_id or ids.get(item.discord_id) or self.bot.identity.cached(item.discord_id)
            if user_id is None:  # restored for someone who left, whose row is gone too
                raise MissingRows("users", [str(item.discord_id)])
            if item.member is not None:
                by_user[user_id] = item.member
            if isinstance(item, ChatCount):
                activity.append(ledger.ChatActivity(user_id, item.messages, item.last_at, item.quarter_hours()))
                continue
            week, month = period_starts(item.at, self.timezone)
            grants.append(
                ledger.Grant(
                    user_id,
                    item.source,
                    item.source_ref,
                    item.pathway,
                    item.amount,
                    item.at,
                    local_day(item.at, self.timezone),
                    week,
                    month,
                )
            )
            if item.channel_id is not None:
                channels[user_id] = item.channel_id
        async with self.bot.pool.acquire() as conn, conn.transaction():
            result = await ledger.apply_grants(conn, grants, activity=activity)
            context = LevelUpContext(self.bot, by_user, channels)
            queued = await apply_level_up_effects(conn, context, result.level_ups)
        self.move_rankings(result, by_user)
        self.stats_changed({g.user_id for g in grants} | {a.user_id for a in activity})
        if queued:
            self.bot.outbox.wake()
        return result

    def stats_changed(self, user_ids: set[str]) -> None:
        """Tell the features that follow members' stats (achievements), after the commit."""
        for hook in self.stats_hooks:
            hook(user_ids)

    def move_rankings(self, result: ledger.GrantResult, members: dict[str, discord.Member]) -> None:
        """What a committed grant moves: the rank index, and a level_up analytics row per level gained."""
        record_level_ups(self.bot, result.level_ups)
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


def _member_key(item: Item) -> int:
    return item.discord_id


def _merge(results: list[ledger.GrantResult]) -> ledger.GrantResult | None:
    if not results:
        return None
    merged = ledger.GrantResult()
    for r in results:
        merged.applied.extend(r.applied)
        merged.duplicates += r.duplicates
        merged.totals.extend(r.totals)
        merged.periods.extend(r.periods)
    return merged
