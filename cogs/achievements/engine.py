"""The achievement engine: the catalog synced at start-up, members whose stats changed evaluated in
batches off the hot path, awards exactly once with their XP through the ledger, live rarity, and
set-based backfill.

The evaluation is one of the bot's flushes (every second, never side by side with the XP flush, and
once more at a stop): the XP flush names the members it wrote, the next evaluation reads their stats
once. Bound: the members waiting are a set of ids (at most one entry per member), evaluated
MAX_BATCH at a time; during an outage they wait (one warning, backoff), and at a stop the ones left
are kept in `<data_dir>/journal/achievements/` and evaluated at the next start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import discord

from bot import achievement_rules as rules
from bot.achievement_catalog import CatalogEntry
from bot.journal import Journal
from bot.write_path import WriteHealth, write_isolating
from bot.xp_rules import local_day, period_starts
from cogs.achievements.effects import queue_reward_removal, queue_unlock_effects
from cogs.xp.adjustments import level_effects, move_boards
from cogs.xp.levelups import LevelUpContext, apply_level_up_effects
from db import achievements, ledger, settings
from db.achievements import Achievement
from db.faults import is_outage, one_line

if TYPE_CHECKING:
    from bot.client import ConclaveBot

log = logging.getLogger(__name__)

MAX_BATCH = 5000
RARITY_EVERY_S = 300  # live rarity is at most five minutes stale
CATALOG_KEY = "achievements.catalog_ids"  # the ids the catalog file manages (to deactivate removed ones)


@dataclass(frozen=True)
class Known:
    achievement: Achievement
    rule: rules.Rule


@dataclass
class Evaluation:
    members: int = 0
    progress_written: int = 0
    awarded: dict[str, list[str]] = field(default_factory=dict)  # achievement id -> users.id


def stats_of(row: achievements.StatsRow) -> rules.MemberStats:
    return rules.MemberStats(
        xp=row.total_xp,
        level=row.level,
        messages=row.message_count,
        voice_minutes=row.voice_minutes,
        events_attended=row.events_attended,
        tournaments_won=row.tournaments_won,
        achievements_count=len(row.earned),
        member_days=row.member_days,
        pathways={
            p["pathway"]: rules.PathwayStats(
                xp=p["xp"],
                level=p["level"],
                events_attended=p["events_attended"],
                contributions=p["contributions"],
                streak_days=p["streak_days"],
            )
            for p in row.pathways
        },
    )


class AchievementEngine:
    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot
        self.journal = Journal(bot.config.data_dir / "journal" / "achievements")
        self.known: dict[str, Known] = {}
        self.reward_roles: dict[str, int] = {}
        self.pending: set[str] = set()
        self.health = WriteHealth("achievement evaluations")
        self.holders: dict[str, int] = {}
        self.members = 0
        self.rarity_at: datetime | None = None
        self.lock = asyncio.Lock()  # one evaluation or backfill at a time

    # -- catalog ----------------------------------------------------------------------------

    async def sync_catalog(self, entries: list[CatalogEntry]) -> tuple[int, int, int]:
        """Create and update the file's entries; deactivate those the file dropped or marks
        inactive; never delete (members keep what they earned). (created, updated, deactivated)"""
        async with self.bot.pool.acquire() as conn, conn.transaction():
            managed = await settings.with_prefix(conn, CATALOG_KEY)
            before = set(managed.get("", []))
            created, updated = await achievements.upsert_catalog(conn, [e.row() for e in entries])
            dropped = before - {e.id for e in entries}
            deactivated = await achievements.deactivate(conn, dropped)
            await settings.put(conn, CATALOG_KEY, sorted({e.id for e in entries}))
        self.reward_roles = {e.id: e.reward_role_id for e in entries if e.reward_role_id}
        if created or updated or deactivated:
            log.info("achievements catalog: %d created, %d updated, %d deactivated", created, updated, deactivated)
        return created, updated, deactivated

    async def load(self) -> None:
        """The active achievements and their rules; one whose requirements cannot be read (a row
        the website wrote) is left out, with a warning naming it."""
        known = {}
        for a in await achievements.list_achievements(self.bot.pool, include_hidden=True):
            try:
                known[a.id] = Known(a, rules.parse(a.requirements))
            except rules.RuleError as error:
                log.warning("achievement %r is not evaluated: its %s", a.id, error)
        self.known = known

    # -- evaluation -------------------------------------------------------------------------

    def touch(self, user_ids: Iterable[str]) -> None:
        """These members' stats changed: evaluate them at the next flush (never on the hot path)."""
        self.pending.update(user_ids)

    async def flush(self, *, everything: bool = False) -> Evaluation:
        """Evaluate the members waiting: one batch, or (`everything`: a stop, a test) until none
        is left (an award can make more to evaluate)."""
        total = Evaluation()
        while self.pending and self.health.may_try():
            batch = [self.pending.pop() for _ in range(min(MAX_BATCH, len(self.pending)))]
            try:
                done = await self.evaluate(batch)
            except Exception as error:
                self.pending.update(batch)  # evaluated again at the next try
                if is_outage(error):
                    self.health.failed(error, kept=len(self.pending))
                else:
                    log.exception("achievement evaluation failed unexpectedly; retrying with backoff")
                    self.health.failed(error, kept=len(self.pending))
                return total
            self.health.succeeded(0)
            total.members += done.members
            total.progress_written += done.progress_written
            for aid, members in done.awarded.items():
                total.awarded.setdefault(aid, []).extend(members)
            if not everything:
                break
        return total

    def spill(self) -> str | None:
        """At a stop: the members not evaluated yet are kept on disk for the next start."""
        if not self.pending:
            return None
        kept = self.journal.spill({"user_id": u} for u in sorted(self.pending))
        self.pending.clear()
        return f"{kept[1]} achievement evaluation(s) kept in {kept[0]}" if kept else None

    def replay(self) -> int:
        """At start: the evaluations a stop kept."""
        count = 0
        for path in self.journal.files():
            ids = [r["user_id"] for r in self.journal.read(path)]
            self.touch(ids)
            count += len(ids)
            self.journal.done(path)
        return count

    async def evaluate(self, user_ids: list[str]) -> Evaluation:
        """Progress of these members on every active achievement they have not earned: changed
        progress stored, those at 100 awarded (exactly once, however evaluations race)."""
        result = Evaluation(members=len(user_ids))
        async with self.lock:
            rows = await achievements.member_stats(self.bot.pool, user_ids)
            progress_rows: list[tuple[str, str, int]] = []
            qualifying: dict[str, list[str]] = {}
            for row in rows:
                stats = stats_of(row)
                earned = set(row.earned)
                for aid, known in self.known.items():
                    if aid in earned:
                        continue
                    percent = rules.progress(known.rule, stats)
                    if percent >= 100:
                        qualifying.setdefault(aid, []).append(row.user_id)
                    elif percent != row.progress.get(aid, 0):
                        progress_rows.append((row.user_id, aid, percent))
            result.progress_written = await self._save_progress(progress_rows)
            for aid, members in qualifying.items():
                result.awarded[aid] = await self.award(self.known[aid].achievement, members)
        return result

    async def _save_progress(self, rows: list[tuple[str, str, int]]) -> int:
        written = 0

        async def write(batch: list[tuple[str, str, int]]) -> None:
            nonlocal written
            async with self.bot.pool.acquire() as conn:
                written += await achievements.save_progress(conn, batch)

        isolated = await write_isolating(rows, write, lambda r: r[0])
        for group, error in isolated.refused:  # e.g. the member was erased meanwhile
            log.warning("achievement progress of %s not stored: %s", group[0][0], one_line(error))
        if isolated.outage is not None:
            raise isolated.outage
        return written

    async def award(
        self, achievement: Achievement, user_ids: list[str], *, actor_id: str | None = None, reason: str | None = None
    ) -> list[str]:
        """Award to these members (those who hold it already are passed over): the award, its XP
        through the ledger (totals, levels, period boards, rank index, level-up effects) and its
        unlock effects, in one transaction per batch; a member the database refuses is isolated."""
        awarded: list[str] = []

        async def write(batch: list[str]) -> None:
            awarded.extend(await self._award_batch(achievement, batch, actor_id, reason))

        isolated = await write_isolating(user_ids, write, lambda u: u)
        for group, error in isolated.refused:
            log.warning("achievement %r not awarded to %s: %s", achievement.id, group[0], one_line(error))
        if isolated.outage is not None:
            raise isolated.outage
        if awarded:
            self.holders[achievement.id] = self.holders.get(achievement.id, 0) + len(awarded)
            self.touch(awarded)  # its XP and the new count may unlock more
        return awarded

    async def _award_batch(
        self, achievement: Achievement, user_ids: list[str], actor_id: str | None, reason: str | None
    ) -> list[str]:
        bot = self.bot
        engine = getattr(bot, "xp_engine", None)
        guild = bot.home_guild
        lock = engine.lock if engine is not None else contextlib.nullcontext()
        result = None
        async with lock:
            async with bot.pool.acquire() as conn, conn.transaction():
                new = await achievements.award_many(conn, achievement.id, user_ids)
                if not new:
                    return []
                targets = await achievements.award_targets(conn, new)
                members: dict[str, discord.Member] = {}
                for t in targets:
                    member = guild.get_member(int(t.discord_id)) if guild is not None else None
                    if member is not None:
                        members[t.user_id] = member
                queued = 0
                if achievement.xp > 0:
                    result = await ledger.apply_grants(
                        conn,
                        await self._grants(conn, achievement, new),
                        reasons=[reason or "achievement earned"] * len(new),
                        actor_id=actor_id,
                    )
                    queued += await apply_level_up_effects(conn, LevelUpContext(bot, members, {}), result.level_ups)
                queued += await queue_unlock_effects(
                    conn, bot, achievement, targets, reward_role_id=self.reward_roles.get(achievement.id)
                )
            if result is not None and engine is not None:
                engine.move_rankings(result, members)
        if queued:
            bot.outbox.wake()
        log.info("achievement %r awarded to %d member(s)", achievement.id, len(new))
        return new

    async def _grants(self, conn: Any, achievement: Achievement, user_ids: list[str]) -> list[ledger.Grant]:
        """One grant per member; a member who earns it again after a revoke gets its XP again
        (the ledger takes a source once, so a repeat is numbered: id, id#2, ...)."""
        earlier = await achievements.grant_counts(conn, achievement.id, user_ids)
        now = datetime.now(UTC)
        tz = self.bot.config.community.xp.timezone
        week, month = period_starts(now, tz)
        day = local_day(now, tz)
        grants = []
        for uid in user_ids:
            n = earlier.get(uid, 0)
            ref = achievement.id if n == 0 else f"{achievement.id}#{n + 1}"
            grants.append(ledger.Grant(uid, "achievement", ref, None, achievement.xp, now, day, week, month))
        return grants

    # -- rarity -----------------------------------------------------------------------------

    async def refresh_rarity(self) -> None:
        self.holders, self.members = await achievements.rarity(self.bot.pool)
        self.rarity_at = datetime.now(UTC)

    def rarity_percent(self, achievement_id: str) -> float | None:
        if not self.members:
            return None
        return 100.0 * self.holders.get(achievement_id, 0) / self.members

    # -- backfill ---------------------------------------------------------------------------

    async def backfill(
        self,
        achievement_id: str,
        report: Callable[[str], Awaitable[None]] | None = None,
        *,
        chunk: int = 2000,
    ) -> tuple[int, int]:
        """Every current member's progress on one achievement in one SQL statement where the rule
        allows, then the awards in chunks (reporting as it goes). Safe to run twice: the second run
        awards nobody. Returns (progress rows written, members awarded)."""
        known = self.known.get(achievement_id)
        if known is None:
            raise LookupError(achievement_id)
        async with self.lock:
            async with self.bot.pool.acquire() as conn, conn.transaction():
                written, qualifying = await achievements.backfill(conn, achievement_id, rules.to_plan(known.rule))
            if report is not None:
                await report(f"progress computed for every member ({written:,} updated); {len(qualifying):,} qualify")
            awarded = 0
            for start in range(0, len(qualifying), chunk):
                awarded += len(await self.award(known.achievement, qualifying[start : start + chunk]))
                if report is not None:
                    done = min(start + chunk, len(qualifying))
                    await report(f"awarding: {done:,} / {len(qualifying):,}")
        return written, awarded

    async def time_based(self) -> None:
        """Achievements that move with the calendar alone (member days) are backfilled hourly."""
        for aid, known in list(self.known.items()):
            if rules.depends_on_time(known.rule):
                await self.backfill(aid)

    # -- staff ------------------------------------------------------------------------------

    async def revoke(self, achievement: Achievement, user_id: str, actor_id: str, reason: str) -> int | None:
        """Take an earned achievement back with its XP (a reversal ledger row; levels, rewards and
        the rank index follow). None if the member did not hold it; else the XP taken back."""
        bot = self.bot
        engine = getattr(bot, "xp_engine", None)
        lock = engine.lock if engine is not None else contextlib.nullcontext()
        member = None
        changes = None
        async with lock:
            async with bot.pool.acquire() as conn, conn.transaction():
                if not await achievements.revoke(conn, user_id, achievement.id):
                    return None
                taken = 0
                totals = await ledger.lock_totals(conn, user_id, None)
                taken = min(achievement.xp, totals.total_xp)
                if taken > 0:
                    revokes = await achievements.revoke_count(conn, achievement.id, user_id)
                    changes = await ledger.record_adjustment(
                        conn,
                        user_id=user_id,
                        source="reversal",
                        source_ref=f"achievement:{achievement.id}:{revokes + 1}",
                        pathway=None,
                        amount=-taken,
                        reason=f"achievement revoked: {reason}",
                        actor_id=actor_id,
                        created_at=datetime.now(UTC),
                    )
                target = (await achievements.award_targets(conn, [user_id]) or [None])[0]
                guild = bot.home_guild
                if target is not None and guild is not None:
                    member = guild.get_member(int(target.discord_id))
                reward = self.reward_roles.get(achievement.id)
                if member is not None and reward is not None:
                    await queue_reward_removal(conn, bot, target.discord_id, reward, achievement.id)
                if changes and member is not None:
                    await level_effects(conn, bot, member, user_id, changes)
            if changes and member is not None and engine is not None:
                move_boards(engine, member, changes)
        self.holders[achievement.id] = max(0, self.holders.get(achievement.id, 0) - 1)
        bot.outbox.wake()
        self.touch([user_id])
        return taken
