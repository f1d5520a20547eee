"""The XP engine: grants decided in memory on the hot path, written in one transaction per flush with
their level-up effects, and the rank index moved after each commit."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import discord

from bot.activity import ChatCount
from bot.journal import Journal
from bot.ranking import BoardKey, Rankings, XPCounter
from bot.write_path import dead_letter, write_isolating
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
# The rank index is compared with the database this often (and rebuilt where it differs): at
# most a minute behind writes the bot did not make; ~1-2 s of database time at 1M members.
RECONCILE_EVERY_S = 60.0
# The bound of grants kept in memory while the database cannot be written: past it, the oldest are
# spilled to the local journal (replayed first when the database answers, and at the next start).
# Chat adds at most one grant per member per cooldown and voice one per member per minute.
MAX_PENDING_GRANTS = 50_000
# A flush replays at most this many journal records (then the next flush goes on).
JOURNAL_RECORDS_PER_FLUSH = 50_000


@dataclass(slots=True)
class Pending:
    discord_id: int
    member: discord.Member | None  # None when restored from the journal for someone not in the guild
    source: str
    source_ref: str
    pathway: str | None
    amount: int
    at: datetime
    channel_id: int | None
    user_id: str | None = None  # known when restored from the journal

    def record(self) -> dict[str, Any]:
        return {
            "t": "grant",
            "discord_id": self.discord_id,
            "user_id": self.user_id,
            "source": self.source,
            "source_ref": self.source_ref,
            "pathway": self.pathway,
            "amount": self.amount,
            "at": self.at.isoformat(),
            "channel_id": self.channel_id,
        }


Item = Pending | ChatCount


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
        self._counts_due = 0.0
        self.voice_clock = VoiceClock()
        self.rankings = Rankings()
        self.joined: dict[int, set[str]] = {}
        self._pending: list[Pending] = []
        self.lock = asyncio.Lock()  # serialises flushes, staff changes and board moves
        self.journal = Journal(bot.config.data_dir / "journal" / "xp")
        self.max_pending = MAX_PENDING_GRANTS
        # Chat counts ride in the XP flush (one UPDATE per member per flush for both).
        self.activity = bot.chat_activity
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

    async def reconcile_rankings(self) -> list[BoardKey]:
        """Compare every board of the rank index with the database (members and the sum of their XP)
        and rebuild the boards that drifted: writes the bot did not make (the
        website's award_xp, a row changed by hand) or a departure missed. Bounded cost: three
        scans; a board is rebuilt only when it differs. Returns the rebuilt boards."""
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
        self._pending.append(pending)
        self.granted += 1
        if len(self._pending) > self.max_pending:
            self._keep_within_bound()  # only while writes fail (a flush empties the buffer every interval)

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
        return len(self._pending)

    # -- the flush --------------------------------------------------------------------------

    async def flush(self, *, everything: bool = False) -> FlushOutcome:
        """Write every pending grant and chat count, their totals and level-up effects, in one
        transaction (one UPDATE per member). A member the database refuses is isolated and
        dead-lettered; the others are written. During an outage everything is kept (bounded in
        memory, the rest in the local journal) and tried again with backoff."""
        async with self.lock:
            health = self.bot.write_health
            outcome = FlushOutcome()
            if not health.may_try():
                self._keep_within_bound()
                return outcome
            journal_path, journal_items, journal_rest = self._next_journal_batch()
            grants, self._pending = self._pending, []
            counts = self._counts_to_write(grants, everything=everything)
            items: list[Item] = [*journal_items, *grants, *counts]
            if not items:
                return outcome
            results: list[ledger.GrantResult] = []

            async def write(batch: list[Item]) -> None:
                results.append(await self._write(batch))

            try:
                isolated = await write_isolating(items, write, _member_key)
            except BaseException:
                # Cancelled (a stop's budget ran out): nothing of this batch is known to be written.
                # The journal's records are still in its file: only the rest goes back to memory.
                from_journal = {id(j) for j in journal_items}
                self._keep([i for i in items if id(i) not in from_journal])
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
                from_journal = {id(j) for j in journal_items}
                remaining = [k.record() for k in kept if id(k) in from_journal] + journal_rest
                kept = [k for k in kept if id(k) not in from_journal]
                if remaining:
                    self.journal.rewrite(journal_path, remaining)
                else:
                    self.journal.done(journal_path)
            if isolated.outage is not None:
                self._keep(kept)
                outcome.kept = len(kept)
                health.failed(isolated.outage, kept=self.pending + self.activity_pending)
                self._keep_within_bound()
            else:
                health.succeeded(outcome.written)
            if self.activity is not None:
                self.activity.written([i for i in isolated.written if isinstance(i, ChatCount)])
            outcome.result = _merge(results)
            return outcome

    def _counts_to_write(self, grants: list[Pending], *, everything: bool) -> list[ChatCount]:
        """Every count when they are due (activity_flush_seconds) or the buffer is being emptied;
        otherwise only those of members whose XP is written now (same statement, no extra row)."""
        if self.activity is None:
            return []
        now = time.monotonic()
        if everything or now >= self._counts_due:
            self._counts_due = now + self.community.activity_flush_seconds
            return self.activity.take()
        return self.activity.take_for({g.discord_id for g in grants})

    @property
    def activity_pending(self) -> int:
        return self.activity.pending_members if self.activity is not None else 0

    def _keep(self, items: list[Item]) -> None:
        """Put items back in front of what arrived meanwhile (they are older)."""
        self._pending[:0] = [i for i in items if isinstance(i, Pending)]
        if self.activity is not None:
            self.activity.put_back([i for i in items if isinstance(i, ChatCount)])

    def _keep_within_bound(self) -> None:
        """Past MAX_PENDING_GRANTS, the oldest grants (and the counts so far) go to the journal."""
        if len(self._pending) <= self.max_pending:
            return
        spilled = self._pending[: len(self._pending) - self.max_pending // 2]
        counts = self.activity.take() if self.activity is not None else []
        records = [p.record() for p in spilled] + [c.record() for c in counts]
        try:
            where = self.journal.spill(records)
        except OSError:
            log.exception("could not spill %d pending writes to the journal; keeping them in memory", len(records))
            if self.activity is not None:
                self.activity.put_back(counts)
            return
        del self._pending[: len(spilled)]
        if where is not None:
            log.warning(
                "%d pending writes spilled to %s (memory bound %d grants)", where[1], where[0], self.max_pending
            )

    def spill_all(self) -> str | None:
        """At a stop the database did not let us finish: keep everything in the journal, which the
        next start writes first. Returns what was kept, or None."""
        grants, self._pending = self._pending, []
        counts = self.activity.take() if self.activity is not None else []
        where = self.journal.spill([p.record() for p in grants] + [c.record() for c in counts])
        if where is None:
            return None
        messages = sum(c.messages for c in counts)
        return f"{len(grants)} XP grant(s) and {messages} message count(s) kept in {where[0]} for the next start"

    def _next_journal_batch(self) -> tuple[Path | None, list[Item], list[dict[str, Any]]]:
        """The oldest journal file's first records (restored), and the records left after them."""
        files = self.journal.files()
        if not files:
            return None, [], []
        path = files[0]
        try:
            records = self.journal.read(path)
            items = [self._restore(r) for r in records[:JOURNAL_RECORDS_PER_FLUSH]]
        except (OSError, ValueError, KeyError, TypeError):
            log.exception("journal file %s is unreadable; moved aside as %s.bad", path, path.name)
            path.rename(path.with_suffix(".bad"))
            return None, [], []
        return path, items, records[JOURNAL_RECORDS_PER_FLUSH:]

    def _restore(self, record: dict[str, Any]) -> Item:
        guild = self.bot.home_guild
        discord_id = int(record["discord_id"])
        member = guild.get_member(discord_id) if guild is not None else None
        if record["t"] == "count":
            return ChatCount(
                discord_id,
                member,
                int(record["messages"]),
                datetime.fromisoformat(record["last_at"]),
                record["user_id"],
            )
        return Pending(
            discord_id,
            member,
            record["source"],
            record["source_ref"],
            record["pathway"],
            int(record["amount"]),
            datetime.fromisoformat(record["at"]),
            record["channel_id"],
            record["user_id"],
        )

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
            user_id = item.user_id or ids[item.discord_id]
            if item.member is not None:
                by_user[user_id] = item.member
            if isinstance(item, ChatCount):
                activity.append(ledger.ChatActivity(user_id, item.messages, item.last_at))
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
