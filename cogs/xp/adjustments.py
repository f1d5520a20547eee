"""Staff changes to XP (give, take, set, reset) and reversals of what a message earned: each one a
ledger row, an admin_logs entry with the value before and after, and the same level-up effects.

XP in a pathway goes to its members only: giving (or setting higher) pathway XP to someone who has
not joined it is refused with the reason; taking and resetting work on whatever they hold."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import discord

from bot.core.errors import BadInput, NotAllowed, NotFound
from bot.rules.xp import period_starts
from cogs.xp.levelups import (
    LevelUpContext,
    apply_level_up_effects,
    record_level_ups,
    sync_rank_role,
    sync_reward_roles,
)
from db import admin_logs, boards, ledger, pathways, users
from db.ledger import BoardChange

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot
    from cogs.xp.engine import XPEngine


@dataclass(frozen=True)
class Outcome:
    before: int
    after: int
    board: str


def not_a_member(bot: ConclaveBot, who: str, pathway: str, what: str) -> str:
    """The refusal for pathway XP or a pathway achievement to someone outside the pathway."""
    config = bot.config.community.pathway(pathway)
    name = config.name if config else pathway
    return (
        f"{who} hasn't joined the {name}, and {what} goes to its members only. "
        f"They can join with /pathway join {pathway}; then try again."
    )


def _board_value(totals: ledger.Totals, pathway_xp: dict[str, int], pathway: str | None) -> int:
    return pathway_xp.get(pathway, 0) if pathway else totals.total_xp


def _planned_rows(
    action: str, amount: int, pathway: str | None, total: int, pathway_xp: dict[str, int]
) -> list[tuple[str | None, int]]:
    """The (pathway, signed amount) ledger rows for a staff action, clamped so nothing goes below 0."""
    current = pathway_xp.get(pathway, 0) if pathway else total
    room = min(total, current)  # what can be taken from this board without breaking the global total
    if action == "give":
        return [(pathway, amount)]
    if action == "take":
        return [(pathway, -min(amount, room))]
    if action == "set":
        delta = amount - current
        return [(pathway, delta if delta >= 0 else -min(-delta, room))]
    if action == "reset" and pathway:
        return [(pathway, -room)]
    # A global reset empties every pathway board, then what is left of the global total.
    rows: list[tuple[str | None, int]] = []
    remaining = total
    for name, xp in sorted(pathway_xp.items()):
        take = min(xp, remaining)
        if take > 0:
            rows.append((name, -take))
            remaining -= take
    if remaining > 0:
        rows.append((None, -remaining))
    return rows


async def adjust(
    bot: ConclaveBot,
    engine: XPEngine,
    target: discord.Member,
    actor: discord.Member,
    action: str,
    amount: int,
    pathway: str | None,
    reason: str,
) -> Outcome:
    user_id = await bot.identity.user_id(target)
    actor_id = await bot.identity.user_id(actor)
    action_id = uuid.uuid4().hex
    if action in ("set", "reset"):
        # An absolute value counts what the member earned until now: grants decided on the hot path
        # and not written yet go first (else they would land on top of it a second later).
        await engine.flush()
    now = datetime.now(UTC)
    async with engine.lock, bot.pool.acquire() as conn, conn.transaction():
        totals = await ledger.lock_totals(conn, user_id, pathway)
        pathway_xp = await ledger.pathway_totals(conn, user_id)
        before = _board_value(totals, pathway_xp, pathway)
        adds = action == "give" or (action == "set" and amount > before)
        if pathway is not None and adds and user_id not in await pathways.joined(conn, [user_id], pathway):
            raise BadInput(not_a_member(bot, target.display_name, pathway, "XP in it"))
        rows = [(p, a) for p, a in _planned_rows(action, amount, pathway, totals.total_xp, pathway_xp) if a != 0]
        if not rows:
            raise BadInput(f"Nothing to change: {target.display_name} has {before:,} XP there.")
        changes: list[BoardChange] = []
        for index, (row_pathway, row_amount) in enumerate(rows):
            recorded = await ledger.record_adjustment(
                conn,
                user_id=user_id,
                source="manual",
                source_ref=f"{action}:{action_id}:{index}",
                pathway=row_pathway,
                amount=row_amount,
                reason=reason,
                actor_id=actor_id,
                created_at=now,
            )
            changes.extend(recorded or [])
        totals_after = await ledger.lock_totals(conn, user_id, pathway)
        after = _board_value(totals_after, await ledger.pathway_totals(conn, user_id), pathway)
        await admin_logs.log_admin_action(
            conn,
            admin_id=actor_id,
            action=f"xp_{action}",
            target_type="user",
            target_id=user_id,
            previous_value={"board": pathway or "global", "xp": before, "total_xp": totals.total_xp},
            new_value={"board": pathway or "global", "xp": after, "total_xp": totals_after.total_xp},
            reason=reason,
        )
        queued = await level_effects(conn, bot, target, user_id, changes)
    move_boards(engine, target, changes)
    if queued:
        bot.outbox.wake()
    engine.stats_changed({user_id})
    return Outcome(before, after, pathway or "")


async def level_effects(
    conn: asyncpg.Connection,
    bot: ConclaveBot,
    member: discord.Member,
    user_id: str,
    changes: list[BoardChange],
) -> int:
    merged = _last_per_board(changes)
    context = LevelUpContext(bot, {user_id: member}, {})
    queued = await apply_level_up_effects(conn, context, [c for c in merged if c.level_after > c.level_before])
    for change in merged:
        if change.level_after < change.level_before:  # levels taken away: rewards and ranks follow
            queued += await sync_reward_roles(
                conn, bot, member, change.board, change.level_after, f"level {change.level_after}"
            )
            if change.board and change.rank:
                queued += await sync_rank_role(conn, bot, member, change.board, change.rank)
    return queued


def _last_per_board(changes: list[BoardChange]) -> list[BoardChange]:
    """One change per board: from the first 'before' to the last 'after'."""
    first: dict[str, BoardChange] = {}
    last: dict[str, BoardChange] = {}
    for change in changes:
        first.setdefault(change.board, change)
        last[change.board] = change
    return [
        BoardChange(
            c.user_id,
            board,
            first[board].before,
            c.after,
            first[board].level_before,
            c.level_after,
            rank=c.rank,
        )
        for board, c in last.items()
    ]


def move_boards(engine: XPEngine, member: discord.Member, changes: list[BoardChange]) -> None:
    """Once committed: the rank index moves, and each level gained is a level_up analytics row."""
    merged = _last_per_board(changes)
    record_level_ups(engine.bot, merged, action="staff")
    if member.guild.get_member(member.id) is None:
        return
    for change in merged:
        engine.rankings.move(("all", None, change.board), change.before, change.after)


@dataclass(frozen=True)
class Reversal:
    """What taking back one message's XP changed (for the rank index, after the commit)."""

    entry: ledger.LedgerEntry
    amount: int  # negative
    changes: list[BoardChange]
    member: discord.Member | None
    queued: int


async def reverse_message(
    bot: ConclaveBot, engine: XPEngine, actor: discord.Member, message_id: str, reason: str
) -> tuple[str, Outcome]:
    """Take back what one message earned (e.g. spam), from the totals and from its week and month."""
    actor_id = await bot.identity.user_id(actor)
    async with engine.lock, bot.pool.acquire() as conn, conn.transaction():
        entries = await ledger.entries_for_source(conn, "message", message_id)
        if not entries:
            raise NotFound("That message earned no XP (check the message id: right click the message, Copy ID).")
        if entries[0].user_id == actor_id:
            raise NotAllowed("You can't change your own XP; ask another staff member.")
        reversal = await reverse_in(conn, bot, actor_id, entries[0], reason)
    await after_reversals(bot, engine, [reversal])
    changes = reversal.changes
    return reversal.entry.user_id, Outcome(changes[0].before, changes[0].after, "")


async def reverse_messages_in(
    conn: asyncpg.Connection, bot: ConclaveBot, actor_id: str, message_ids: list[str], reason: str
) -> list[Reversal]:
    """Take back what each of these messages earned, in the caller's transaction (which holds the
    engine's lock); messages that earned nothing or were taken back already are passed over."""
    reversals = []
    for message_id in message_ids:
        entries = await ledger.entries_for_source(conn, "message", message_id)
        if not entries:
            continue
        try:
            reversals.append(await reverse_in(conn, bot, actor_id, entries[0], reason))
        except BadInput:
            continue
    return reversals


async def reverse_in(
    conn: asyncpg.Connection, bot: ConclaveBot, actor_id: str, entry: ledger.LedgerEntry, reason: str
) -> Reversal:
    """One message's XP taken back: a reversal ledger row, an admin_logs entry, level-down effects."""
    message_id = entry.source_ref
    totals = await ledger.lock_totals(conn, entry.user_id, entry.pathway)
    room = min(totals.total_xp, totals.pathway_xp) if entry.pathway else totals.total_xp
    amount = -min(entry.amount, room)
    if amount == 0:
        raise BadInput("That member has no XP left to take back.")
    changes = await ledger.record_adjustment(
        conn,
        user_id=entry.user_id,
        source="reversal",
        source_ref=message_id,
        pathway=entry.pathway,
        amount=amount,
        reason=reason,
        actor_id=actor_id,
        created_at=datetime.now(UTC),
        periods=period_starts(entry.created_at, bot.config.community.xp.timezone),
    )
    if changes is None:
        raise BadInput("That message's XP was already taken back.")
    await admin_logs.log_admin_action(
        conn,
        admin_id=actor_id,
        action="xp_reverse",
        target_type="user",
        target_id=entry.user_id,
        previous_value={"message_id": message_id, "total_xp": changes[0].before},
        new_value={"message_id": message_id, "total_xp": changes[0].after, "reversed": -amount},
        reason=reason,
    )
    discord_id = await users.discord_id_for(conn, entry.user_id)
    guild = bot.home_guild
    member = guild.get_member(int(discord_id)) if guild and discord_id else None
    queued = await level_effects(conn, bot, member, entry.user_id, changes) if member else 0
    return Reversal(entry, amount, changes, member, queued)


async def after_reversals(bot: ConclaveBot, engine: XPEngine, reversals: list[Reversal]) -> None:
    """Once committed: the rank index follows the reversals and their effects are delivered."""
    tz = bot.config.community.xp.timezone
    week, month = engine.current_periods()
    for r in reversals:
        if r.member is None:
            continue
        move_boards(engine, r.member, r.changes)
        original_week, original_month = period_starts(r.entry.created_at, tz)
        for period, start, original in (("week", week, original_week), ("month", month, original_month)):
            if start == original:
                for board in ["", *([r.entry.pathway] if r.entry.pathway else [])]:
                    after = await boards.member_xp(bot.pool, boards.Board(period, start, board), r.entry.user_id)
                    engine.rankings.move((period, start, board), after - r.amount, after)
    if any(r.queued for r in reversals):
        bot.outbox.wake()
    if reversals:
        engine.stats_changed({r.entry.user_id for r in reversals})
