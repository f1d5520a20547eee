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
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import discord

from bot.core.catalog import CatalogEntry
from bot.core.errors import NotFound
from bot.core.locks import ACHIEVEMENTS, RankedLock
from bot.rules import achievements as rules
from bot.writes.journal import Journal
from bot.writes.write_path import InFlight, WriteHealth, write_isolating
from cogs.achievements.effects import queue_reward_removal, queue_unlock_effects
from cogs.xp.adjustments import level_effects
from cogs.xp.grants import grant_in, grants_for
from db import achievement_backfill, achievements, imports, ledger, settings
from db.achievements import Achievement
from db.faults import is_outage, one_line

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

MAX_BATCH = 5000
# What members hold (achievement -> progress), remembered between evaluations so the stats query
# need not read it again: at most MAX_REMEMBERED members (least recently evaluated forgotten first),
# each re-read after REMEMBER_S (another writer, e.g. the website, may have changed it; an award is
# exactly once in the database whatever this memory says).
MAX_REMEMBERED = 100_000
REMEMBER_S = 600.0
RARITY_EVERY_S = 300  # live rarity is at most five minutes stale
IMPORTED_METRICS = {"xp", "level", "messages"}  # what an import of another bot's levels moves
BACKFILL_CHUNK = 2500  # members per award transaction of a backfill
BACKFILL_LANES = 2  # award chunks written side by side (disjoint members; the counts are taken last)
CATALOG_KEY = "achievements.catalog_ids"  # the ids the catalog file manages (to deactivate removed ones)
REVOKED = -1  # in a member's remembered holdings: staff revoked it, so it is not evaluated for them


@dataclass(frozen=True)
class Known:
    achievement: Achievement
    rule: rules.Rule
    progress: Callable[[rules.MemberStats], int]  # the rule compiled (rules.compile_rule)


@dataclass
class Evaluation:
    members: int = 0
    progress_written: int = 0
    awarded: dict[str, list[str]] = field(default_factory=dict)  # achievement id -> users.id
    waiting: list[str] = field(default_factory=list)  # not evaluated: an import is evaluated first


class AchievementEngine:
    def __init__(self, bot: ConclaveBot) -> None:
        self.bot = bot
        self.journal = Journal(bot.config.data_dir / "journal" / "achievements")
        self.known: dict[str, Known] = {}
        self.reward_roles: dict[str, int] = {}
        self.pending: set[str] = set()
        self.in_flight: InFlight[str] = InFlight()  # the batch an evaluation under way took
        self.health = WriteHealth("achievement evaluations")
        self.holders: dict[str, int] = {}
        self.members = 0
        self.rarity_at: datetime | None = None
        self.lock = RankedLock("achievement engine", ACHIEVEMENTS)  # one evaluation or backfill at a time
        # users.id -> (when read, achievement -> progress, joined the server at)
        self.held: OrderedDict[str, tuple[float, dict[str, int], datetime | None]] = OrderedDict()

    @staticmethod
    def of(bot: ConclaveBot) -> AchievementEngine:
        """The achievements' own door as its own type, for their buttons (rebuilt from a custom id after
        a restart, they have no cog to ask): the engine without a cast."""
        door = bot.doors.achievements
        if not isinstance(door, AchievementEngine):
            raise NotFound("Achievements are not running right now: try again in a moment.")
        return door

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
                rule = rules.parse(a.requirements)
                known[a.id] = Known(a, rule, rules.compile_rule(rule))
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
            self.in_flight.start(batch)
            try:
                done = await self.evaluate(batch)
            except BaseException as error:
                if not self.in_flight.abandoned:
                    self.pending.update(batch)  # evaluated again at the next try (or kept at a stop)
                if not isinstance(error, Exception):
                    raise  # cancelled
                if not is_outage(error) and not self.health.down:  # a bug: its traceback once, not per retry
                    log.exception("achievement evaluation failed unexpectedly; retrying with backoff")
                self.health.failed(error, kept=len(self.pending))
                return total
            finally:
                self.in_flight.done()
            self.health.succeeded(0)
            if done.waiting:
                self.pending.update(done.waiting)  # after the import's evaluation (after_imports)
                return total
            total.members += done.members
            total.progress_written += done.progress_written
            for aid, members in done.awarded.items():
                total.awarded.setdefault(aid, []).extend(members)
            if not everything:
                break
        return total

    def spill(self) -> str | None:
        """At a stop: the members not evaluated yet (with those of an evaluation that cannot finish,
        on a hung database) are kept on disk for the next start."""
        self.pending.update(self.in_flight.abandon())
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
        progress stored, those at 100 awarded (exactly once, however evaluations race). While an
        import is written or not evaluated yet, nobody is (`waiting`): what it gave a member would
        be announced to them, one by one, before after_imports awards it quietly."""
        async with self.lock:
            return await self._evaluate(user_ids, announce=True, imports_first=True)

    async def _evaluate(self, user_ids: list[str], *, announce: bool, imports_first: bool) -> Evaluation:
        result = Evaluation(members=len(user_ids))
        held, joined = await self._holdings(user_ids)
        rows = await achievements.member_stats(self.bot.pool, user_ids, with_holdings=False, with_member_days=False)
        # Asked after the stats were read: an import whose rows they saw is running or unevaluated
        # now (only after_imports, under this lock, marks it evaluated).
        if imports_first and await imports.evaluation_waits(self.bot.pool):
            result.waiting = user_ids
            return result
        now = datetime.now(UTC)
        for row in rows:
            at = joined.get(row.user_id)
            row.member_days = max(0, (now - at).days) if at is not None else 0
        progress_rows: list[tuple[str, str, int]] = []
        qualifying: dict[str, list[str]] = {}
        checks = [(aid, known.progress) for aid, known in self.known.items()]
        for row in rows:
            current = held[row.user_id]
            row.achievements_count = sum(1 for p in current.values() if p == 100)
            for aid, progress_of in checks:
                before = current.get(aid, 0)
                if before == 100 or before == REVOKED:
                    continue
                percent = progress_of(row)  # type: ignore[arg-type]  (a StatsRow reads as MemberStats)
                if percent >= 100:
                    qualifying.setdefault(aid, []).append(row.user_id)
                elif percent != before:
                    progress_rows.append((row.user_id, aid, percent))
        result.progress_written = await self._save_progress(progress_rows)
        for uid, aid, percent in progress_rows:
            current = held.get(uid)
            if current is not None:
                current[aid] = percent
        for aid, members in qualifying.items():
            result.awarded[aid] = await self.award(self.known[aid].achievement, members, announce=announce)
            for uid in members:  # awarded now, or held already (e.g. the website awarded it)
                self._remember_award(uid, aid)
        return result

    async def _holdings(self, user_ids: list[str]) -> tuple[dict[str, dict[str, int]], dict[str, datetime | None]]:
        """What these members hold and when they joined: remembered, or read (and remembered)."""
        now = time.monotonic()
        known: dict[str, dict[str, int]] = {}
        joined: dict[str, datetime | None] = {}
        missing = []
        for uid in user_ids:
            entry = self.held.get(uid)
            if entry is None or now - entry[0] > REMEMBER_S:
                missing.append(uid)
            else:
                known[uid], joined[uid] = entry[1], entry[2]
                self.held.move_to_end(uid)
        if missing:
            fresh, dates, revoked = await asyncio.gather(
                achievements.holdings_of(self.bot.pool, missing),
                achievements.joined_at(self.bot.pool, missing),
                achievements.revoked_of(self.bot.pool, missing),
            )
            for uid, holding in fresh.items():
                for aid in revoked.get(uid, ()):
                    if holding.get(aid) != 100:  # held again (the website awarded it): nothing to stop
                        holding[aid] = REVOKED
                self.held[uid] = (now, holding, dates.get(uid))
                known[uid], joined[uid] = holding, dates.get(uid)
            while len(self.held) > MAX_REMEMBERED:
                self.held.popitem(last=False)
        return known, joined

    def _remember_award(self, user_id: str, achievement_id: str) -> None:
        entry = self.held.get(user_id)
        if entry is not None:
            entry[1][achievement_id] = 100

    def forget(self, user_ids: Iterable[str] | None = None) -> None:
        """Drop remembered holdings (all of them when None), e.g. after a backfill or a revoke."""
        if user_ids is None:
            self.held.clear()
            return
        for uid in user_ids:
            self.held.pop(uid, None)

    async def _save_progress(self, rows: list[tuple[str, str, int]]) -> int:
        written = 0

        async def write(batch: list[tuple[str, str, int]]) -> None:
            nonlocal written
            async with self.bot.pool.acquire() as conn:
                written += await achievements.save_progress(conn, batch)

        isolated = await write_isolating(rows, write, lambda r: r[0])
        for group, error in isolated.refused:  # e.g. the member was erased meanwhile
            log.warning("achievement progress of %s not stored: %s", group[0][0], one_line(error))
            self.forget([group[0][0]])
        if isolated.outage is not None:
            raise isolated.outage
        return written

    async def award(
        self,
        achievement: Achievement,
        user_ids: list[str],
        *,
        actor_id: str | None = None,
        reason: str | None = None,
        announce: bool = True,
        xp_locked: bool = False,
        lift_revocation: bool = False,
    ) -> list[str]:
        """Award to these members (those who hold it already are passed over, and those staff
        revoked it from unless `lift_revocation`, a staff grant): the award, its XP through the
        ledger (totals, levels, period boards, rank index, level-up effects) and its unlock
        effects, in one transaction per batch; a member the database refuses is isolated."""
        awarded: list[str] = []

        async def write(batch: list[str]) -> None:
            awarded.extend(
                await self._award_batch(achievement, batch, actor_id, reason, announce, xp_locked, lift_revocation)
            )

        isolated = await write_isolating(user_ids, write, lambda u: u)
        for group, error in isolated.refused:
            log.warning("achievement %r not awarded to %s: %s", achievement.id, group[0], one_line(error))
            self.forget(group)
        if isolated.outage is not None:
            raise isolated.outage
        if awarded:
            self.holders[achievement.id] = self.holders.get(achievement.id, 0) + len(awarded)
            self.touch(awarded)  # its XP and the new count may unlock more
        return awarded

    async def _award_batch(
        self,
        achievement: Achievement,
        user_ids: list[str],
        actor_id: str | None,
        reason: str | None,
        announce: bool,
        xp_locked: bool,
        lift_revocation: bool,
    ) -> list[str]:
        bot = self.bot
        guild = bot.home_guild
        # The XP engine's lock keeps the rank index's moves in the order of the commits (a backfill
        # holds it once for all its chunks).
        lock = bot.doors.xp_lock() if not xp_locked else contextlib.nullcontext()
        result = None
        async with lock:
            async with bot.pool.acquire() as conn, conn.transaction():
                if lift_revocation:
                    await achievements.lift_revocations(conn, achievement.id, user_ids)
                claimed = await achievements.claim_awards(conn, achievement.id, user_ids)
                new = [c[0] for c in claimed]
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
                    grants = await self._grants(conn, achievement, new)
                    result, levels = await grant_in(
                        conn, bot, grants, members, reason=reason or "achievement earned", actor_id=actor_id
                    )
                    queued += levels
                queued += await queue_unlock_effects(
                    conn,
                    bot,
                    achievement,
                    targets,
                    reward_role_id=self.reward_roles.get(achievement.id),
                    announce=announce,
                )
                await achievements.count_awards(conn, achievement.id, claimed)
            if result is not None and bot.doors.xp is not None:
                bot.doors.xp.after_grants(result, members)
        for user_id in new:
            bot.analytics.record(
                "achievement_earned",
                user_id=user_id,
                category="achievements",
                label=achievement.id,
                value=achievement.xp,
                pathway=achievement.pathway,
            )
        if queued:
            bot.outbox.wake()
        log.info("achievement %r awarded to %d member(s)", achievement.id, len(new))
        return new

    async def _grants(self, conn: Any, achievement: Achievement, user_ids: list[str]) -> list[ledger.Grant]:
        """One grant per member; a member who earns it again after a revoke gets its XP again
        (the ledger takes a source once, so a repeat is numbered: id, id#2, ...)."""
        earlier = await achievements.grant_counts(conn, achievement.id, user_ids)
        refs = {u: achievement.id if earlier.get(u, 0) == 0 else f"{achievement.id}#{earlier[u] + 1}" for u in user_ids}
        # A pathway achievement's XP counts in its pathway too (as award_achievement() does).
        return grants_for(self.bot, user_ids, "achievement", refs, achievement.pathway, achievement.xp)

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
        chunk: int = BACKFILL_CHUNK,
    ) -> tuple[int, int]:
        """Every current member's progress on one achievement in one SQL statement where the rule
        allows, then the awards in chunks (reporting as it goes): notifications and reward roles,
        no announcement or DM per member. Safe to run twice: the second run awards nobody.
        Returns (progress rows written, members awarded)."""
        known = self.known.get(achievement_id)
        if known is None:
            raise LookupError(achievement_id)
        async with self.lock:
            written, awarded = await self._backfill(known, report, chunk)
        return written, len(awarded)

    async def _backfill(
        self, known: Known, report: Callable[[str], Awaitable[None]] | None, chunk: int
    ) -> tuple[int, list[str]]:
        """A backfill under the engine's lock: (progress rows written, members awarded)."""
        achievement_id = known.achievement.id
        async with self.bot.pool.acquire() as conn, conn.transaction():
            written, qualifying = await achievement_backfill.backfill(conn, achievement_id, rules.to_plan(known.rule))
        if report is not None:
            await report(f"progress computed for every member ({written:,} updated); {len(qualifying):,} qualify")
        awarded: list[str] = []
        done = 0
        xp_lock = self.bot.doors.xp_lock()
        chunks = [qualifying[i : i + chunk] for i in range(0, len(qualifying), chunk)]
        lanes = asyncio.Semaphore(BACKFILL_LANES)

        async def run(batch: list[str]) -> None:
            nonlocal done
            async with lanes:
                # Quietly: a backfill would otherwise announce thousands of members at once.
                awarded.extend(await self.award(known.achievement, batch, announce=False, xp_locked=True))
                done += len(batch)
                if report is not None:
                    await report(f"awarding: {done:,} / {len(qualifying):,}")

        async with xp_lock:  # XP flushes wait (their grants stay in memory, bounded) until it is done
            await asyncio.gather(*(run(batch) for batch in chunks))
        self.forget()  # progress and awards written behind the evaluation's memory
        return written, awarded

    async def after_imports(self) -> int:
        """Imported XP (python -m bot import, /xp import) reaches achievements: those that read XP,
        levels or messages are backfilled quietly, once per import, and what those awards unlock in
        turn (their XP, the count of achievements) is evaluated quietly too. All of it under the
        engine's lock, so no evaluation runs in between (one would announce to each member what the
        import earned them, before its backfill). Returns the imports evaluated."""
        async with self.lock:
            pending = await imports.unevaluated(self.bot.pool)
            if not pending:
                return 0
            unlocked: set[str] = set()
            for known in list(self.known.values()):
                if rules.metrics_of(known.rule) & IMPORTED_METRICS:
                    unlocked.update((await self._backfill(known, None, BACKFILL_CHUNK))[1])
            while unlocked:
                batch = [unlocked.pop() for _ in range(min(MAX_BATCH, len(unlocked)))]
                # (they stay pending too: the evaluation after this one finds nothing more, and a
                # flush of everything waits for this one to finish)
                done = await self._evaluate(batch, announce=False, imports_first=False)
                for members in done.awarded.values():
                    unlocked.update(members)
            await imports.mark_evaluated(self.bot.pool, pending)
        return len(pending)

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
        xp = bot.doors.xp
        member = None
        changes = None
        async with bot.doors.xp_lock():
            async with bot.pool.acquire() as conn, conn.transaction():
                if not await achievements.revoke(conn, user_id, achievement.id):
                    return None
                # Recorded, or the next evaluation would award it again a second later.
                await achievements.record_revocation(conn, user_id, achievement.id, actor_id, reason)
                # What the grant gave, where it gave it: a member outside the pathway got it globally.
                grant = await achievements.outstanding_grant(conn, achievement.id, user_id)
                pathway = grant.pathway if grant is not None else None
                totals = await ledger.lock_totals(conn, user_id, pathway)
                room = min(totals.total_xp, totals.pathway_xp or 0) if pathway else totals.total_xp
                taken = min(grant.amount, room) if grant is not None else 0
                if taken > 0:
                    revokes = await achievements.revoke_count(conn, achievement.id, user_id)
                    changes = await ledger.record_adjustment(
                        conn,
                        user_id=user_id,
                        source="reversal",
                        source_ref=f"achievement:{achievement.id}:{revokes + 1}",
                        pathway=pathway,
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
            if changes and member is not None and xp is not None:
                xp.move_boards(member, changes)
        self.holders[achievement.id] = max(0, self.holders.get(achievement.id, 0) - 1)
        bot.outbox.wake()
        self.forget([user_id])
        self.touch([user_id])
        return taken
