"""Importing XP and levels from the bot a community leaves: read the export (a file, or
a leaderboard bot/importing/fetch.py fetched), map levels onto our curve, write it through the ledger
in chunks (one transaction each, resumable), quiet reward roles, and the summary. Used by
`python -m bot import` and by staff's `/xp import`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from bot.core.community import CommunityConfig as Community
from bot.importing import sources as src
from bot.importing.fetch import ImportFailed, Report
from bot.importing.fetch import fetch as fetch  # the import's one door: callers use importer.fetch
from bot.rules.xp import reward_roles_for
from db import imports

MAX_IMPORT_XP = 1_000_000  # as /xp give and /xp set: our level 101 (the rank index grows with the top XP)
STALE_S = 60  # a running import whose heartbeat is older has crashed, and may be resumed
HEARTBEAT_S = 5.0  # between heartbeats (each a commit that waits for the disk), well inside STALE_S
CHUNK = 5_000  # members per transaction: a crash loses at most one chunk's work, which the rerun redoes
LANES = 3  # chunks written side by side (members disjoint: no lock between them); 3 keep 2 cores busy


@dataclass(frozen=True)
class Options:
    source: src.Source
    by: src.Mapping_ = "level"
    dry_run: bool = False
    members_only: bool = False
    origin: str = ""
    actor_id: str | None = None


@dataclass
class Plan:
    """What an import would write: the members, their XP here, and the rows it leaves out."""

    options: Options
    mapping: src.Mapping_
    note: str | None
    wanted: list[imports.Wanted]
    skipped: list[src.Skip]
    role_rewards: list[tuple[int, str]]
    capped: int = 0

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(json.dumps([self.options.source, self.mapping, self.options.members_only]).encode())
        for w in self.wanted:
            h.update(f"{w.discord_id}:{w.amount}:{w.messages};".encode())
        return h.hexdigest()


@dataclass
class Summary:
    import_id: str | None
    plan: Plan
    imported: int = 0
    unchanged: int = 0
    total_xp: int = 0
    roles_queued: int = 0
    resumed: bool = False
    skipped: list[src.Skip] = field(default_factory=list)
    before: list[tuple[str, int]] = field(default_factory=list)
    after: list[tuple[str, int]] = field(default_factory=list)


def plan(
    parsed: src.Parsed, options: Options, *, bots: set[str] = frozenset(), actor_discord_id: str | None = None
) -> Plan:
    """The members to import (rows of bots, and of the staff member importing, left out) with their
    XP on our curve, capped at MAX_IMPORT_XP."""
    with src.without_gc():  # a million rows: see without_gc
        return _plan(parsed, options, bots, actor_discord_id)


def _plan(parsed: src.Parsed, options: Options, bots: set[str], actor_discord_id: str | None) -> Plan:
    mapping, note = src.effective_mapping(parsed, options.by)
    wanted: list[imports.Wanted] = []
    skipped = list(parsed.skipped)
    capped = 0
    for row in parsed.rows:
        if row.is_bot or row.discord_id in bots:
            skipped.append(src.Skip(row.row, row.discord_id, "a bot"))
            continue
        if row.discord_id == actor_discord_id:
            skipped.append(src.Skip(row.row, row.discord_id, "your own XP (another staff member must import it)"))
            continue
        amount = src.mapped_xp(row, parsed.source, mapping)
        if amount is None:
            skipped.append(src.Skip(row.row, row.discord_id, "no xp to copy"))
            continue
        if amount > MAX_IMPORT_XP:
            amount, capped = MAX_IMPORT_XP, capped + 1
        wanted.append(imports.Wanted(row.discord_id, row.username or row.discord_id, amount, row.messages))
    return Plan(options, mapping, note, wanted, skipped, parsed.role_rewards, capped)


def parse_bytes(data: bytes, source: src.Source) -> src.Parsed:
    try:
        return src.parse(data, source)
    except src.ImportFormatError as error:
        raise ImportFailed(str(error)) from None


# -- writing ---------------------------------------------------------------------------------


async def run(pool: asyncpg.Pool, community: Community, the_plan: Plan, *, report: Report | None = None) -> Summary:
    """Write the plan (or, dry, only measure it). The same plan run again resumes an unfinished
    import, or finds every member unchanged."""
    options = the_plan.options
    summary = Summary(None, the_plan, skipped=list(the_plan.skipped))
    wanted = the_plan.wanted
    ids = [w.discord_id for w in wanted]
    if options.members_only:
        present = await imports.members_in_server(pool, ids)
        kept = [w for w in wanted if w.discord_id in present]
        for w in wanted:
            if w.discord_id not in present:
                summary.skipped.append(src.Skip(0, w.discord_id, "not in the server (--members-only)"))
        wanted = kept
    summary.before = src.histogram_from_counts(await imports.level_counts(pool))
    if options.dry_run:
        levels = await imports.current_levels(pool, [w.discord_id for w in wanted])
        after = Counter(await imports.level_counts(pool))
        for w in wanted:
            if w.discord_id in levels:
                after[levels[w.discord_id]] -= 1
            after[src.our_level(w.amount)] += 1  # as if only the import counted (the dry run's estimate)
        summary.after = src.histogram_from_counts(after)
        summary.imported = len(wanted)
        summary.total_xp = sum(w.amount for w in wanted)
        return summary
    record = await imports.find_running(pool, the_plan.digest)
    if record is not None:
        if await imports.seconds_since_heartbeat(pool, record.id) < STALE_S:
            raise ImportFailed(
                f"this import is running now ({record.id}), or stopped less than {STALE_S} s ago: "
                "wait for it, or run it again in a minute to resume it"
            )
        summary.resumed = True
    else:
        try:
            record = await imports.start(
                pool,
                import_id=f"imp_{secrets.token_hex(4)}",
                source=options.source,
                mapping=the_plan.mapping,
                origin=options.origin or options.source,
                digest=the_plan.digest,
                members_only=options.members_only,
                rows_total=len(wanted),
                actor_id=options.actor_id,
            )
        except imports.AnotherImportRunning as busy:
            other = busy.other
            raise ImportFailed(
                f"another import is running or did not finish: {other.id} ({other.source}, {other.origin}, started "
                f"{other.started_at:%Y-%m-%d %H:%M} UTC). Run that one again to resume it, or take it back: "
                f"python -m bot import --undo {other.id}"
            ) from None
    summary.import_id = record.id
    done = 0
    chunks = iter(range(0, len(wanted), CHUNK))

    failed: list[BaseException] = []
    if summary.resumed:
        await imports.heartbeat(pool, record.id)  # at once: another process now sees it running
    beat = time.monotonic()  # when the record was last seen alive (its start, or the line above)

    async def lane() -> None:
        nonlocal done, beat
        for start in chunks:  # each lane takes the next chunk when it is free
            if failed:
                return  # another lane's chunk was refused: stop here (the rerun resumes)
            chunk = wanted[start : start + CHUNK]
            try:
                async with pool.acquire() as conn:
                    async with conn.transaction():
                        result = await imports.apply_chunk(conn, record, chunk)
                        roles = await _quiet_rewards(conn, community, result)
                    if time.monotonic() - beat >= HEARTBEAT_S:
                        beat = time.monotonic()
                        await imports.heartbeat(conn, record.id)
            except imports.ImportStopped:
                failed.append(ImportFailed(f"import {record.id} was taken back while it ran: it stopped there"))
                raise failed[-1] from None
            except BaseException as error:
                failed.append(error)
                raise
            summary.roles_queued += roles
            summary.imported += result.imported
            summary.unchanged += result.unchanged
            summary.total_xp += result.xp
            summary.skipped.extend(src.Skip(0, d, why) for d, why in result.skipped)
            done += len(chunk)
            if report is not None:
                await report(done, len(wanted))

    outcomes = await asyncio.gather(*(lane() for _ in range(LANES)), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    await imports.finish(pool, record.id, summary.unchanged)
    summary.after = src.histogram_from_counts(await imports.level_counts(pool))
    return summary


async def undo(pool: asyncpg.Pool, community: Community, import_id: str, *, report: Report | None = None) -> Summary:
    """Take one import back: each member it still gives XP to loses it, and gets back what it replaced."""
    record = await imports.get(pool, import_id)
    if record is None:
        known = ", ".join(r.id for r in await imports.recent(pool, 5)) or "none yet"
        raise ImportFailed(f"there is no import {import_id!r} (recent: {known})")
    if record.status == "undone" and not await imports.has_live_entries(pool, record.id):
        raise ImportFailed(f"import {import_id} was taken back already")
    async with pool.acquire() as conn:
        await imports.mark_undone(conn, record.id)  # chunks of it still being written finish first, then stop
    empty = Plan(Options(record.source), record.mapping, None, [], [], [])  # type: ignore[arg-type]
    summary = Summary(record.id, empty)
    summary.before = src.histogram_from_counts(await imports.level_counts(pool))
    after = ""
    done = 0
    while True:
        batch = [r["user_id"] for r in await imports.live_entries(pool, record.id, after=after, limit=CHUNK)]
        if not batch:
            break
        async with pool.acquire() as conn, conn.transaction():
            result = await imports.undo_chunk(conn, record.id, batch)
            summary.roles_queued += await _quiet_rewards(conn, community, result)
        summary.imported += result.imported
        summary.total_xp += result.xp
        done += len(batch)
        after = batch[-1]
        if report is not None:
            await report(done, max(done, record.imported))
    summary.after = src.histogram_from_counts(await imports.level_counts(pool))
    return summary


async def _quiet_rewards(conn: asyncpg.Connection, community: Community, result: imports.ChunkResult) -> int:
    """Reward roles for members in the server whose level moved (up, or down after an undo or a
    lower corrected file), quietly: no announcement, DM or notification per member (an import moves
    thousands at once). Dedupe keys as a live level-up's."""
    xp = community.xp
    if community.guild_id is None or not xp.role_rewards:
        return 0
    items: list[tuple[str, dict, str]] = []
    for change in result.level_changes:
        discord_id, in_server, roles = result.members.get(change.user_id, ("", False, []))
        if not in_server:
            continue
        keep, drop = reward_roles_for(xp.role_rewards, change.level_after, None, xp.reward_mode)
        held = {int(r) for r in roles if r.isdigit()}
        cause = "imported" if change.after > change.before else "import taken back"
        why = f"reward for level {change.level_after} ({cause})"
        key = f"reward:global:{change.level_after}:{discord_id}"
        for role_id, add in [(r, True) for r in sorted(keep - held)] + [(r, False) for r in sorted(drop & held)]:
            payload = {
                "guild_id": str(community.guild_id),
                "user_id": discord_id,
                "role_id": str(role_id),
                "reason": why,
            }
            items.append(("add_role" if add else "remove_role", payload, f"{key}:{'+' if add else '-'}{role_id}"))
    return await imports.enqueue_roles(conn, items)


# -- what it printed -------------------------------------------------------------------------


def reasons(skipped: Sequence[src.Skip]) -> list[tuple[str, int]]:
    counts: Counter[str] = Counter()
    for s in skipped:
        counts[s.reason.split(" (first at")[0] if s.reason.startswith("duplicate") else _kind(s.reason)] += 1
    return counts.most_common()


def _kind(reason: str) -> str:
    for prefix in ("xp ", "level ", "message count", "maps to"):
        if reason.startswith(prefix):
            return {"xp ": "xp out of range", "level ": "level out of range"}.get(prefix, prefix.strip())
    return reason


def summary_lines(summary: Summary, *, limit_skips: int = 10) -> list[str]:
    p = summary.plan
    dry = p.options.dry_run
    lines = []
    verb = "would import" if dry else ("resumed and imported" if summary.resumed else "imported")
    head = f"{p.options.source}: {verb} {summary.imported:,} members ({summary.total_xp:,} XP in all)"
    if summary.unchanged:
        head += f", {summary.unchanged:,} unchanged (imported before with the same XP)"
    lines.append(head + ".")
    if summary.import_id and not dry:
        lines.append(
            f"Import id: {summary.import_id} (an admin takes it back: python -m bot import --undo {summary.import_id})"
        )
    lines.append(f"Mapped by {p.mapping}" + (f" ({p.note})" if p.note else "") + ".")
    if summary.skipped:
        lines.append(
            f"Skipped {len(summary.skipped):,}: " + ", ".join(f"{why} {n:,}" for why, n in reasons(summary.skipped))
        )
        for s in summary.skipped[:limit_skips]:
            where = f"row {s.row}" if s.row else "member"
            lines.append(f"  {where} {s.discord_id or '?'}: {s.reason}")
        if len(summary.skipped) > limit_skips:
            lines.append(f"  … and {len(summary.skipped) - limit_skips:,} more")
    if p.capped:
        lines.append(f"Capped at {MAX_IMPORT_XP:,} XP (level 101): {p.capped:,} members.")
    if summary.roles_queued:
        lines.append(f"Reward roles queued quietly: {summary.roles_queued:,}.")
    lines.append("Levels       before      after" + (" (estimate)" if dry else ""))
    after = dict(summary.after)
    for name, n in summary.before:
        lines.append(f"  {name:<8} {n:>9,} {after.get(name, 0):>10,}")
    return lines


def mapping_lines(summary: Summary) -> list[str]:
    p = summary.plan
    table = src.mapping_table(p.options.source, p.mapping) or ["(the XP is copied: our curve decides each level)"]
    lines = [f"How {p.options.source} levels map here (by {p.mapping}):", *table]
    rewards = reward_lines(summary)
    return [*lines, "", *rewards] if rewards else lines


def reward_lines(summary: Summary) -> list[str]:
    """MEE6's role rewards, as a block to paste into conclave.toml (never applied on its own)."""
    block = src.suggested_role_rewards(summary.plan.role_rewards)
    if not block:
        return []
    return ["MEE6's role rewards, as a block for conclave.toml (not applied; check the levels):", block]
