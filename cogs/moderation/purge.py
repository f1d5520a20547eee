"""/mod purge's record: one case listing the deleted messages, their deletion through the outbox and,
if asked, the XP they earned taken back through the ledger, in one transaction."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cogs.moderation.lifecycle import Action, queue_modlog
from cogs.xp.adjustments import reverse_messages_in
from db import moderation, outbox
from db.moderation import Case

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot


@dataclass(frozen=True)
class Purged:
    case: Case
    messages: int
    xp_taken: int  # XP taken back (0 when not asked)
    messages_reversed: int


async def purge(
    bot: ConclaveBot, action: Action, channel_id: int, message_ids: list[int], *, reverse_xp: bool
) -> Purged:
    """A purge: one case listing the messages, their deletion queued in the outbox and, if asked,
    the XP they earned taken back through the ledger, all in one transaction (the XP engine's
    pending grants are written first, so a message seconds old is in the ledger to reverse)."""
    xp = bot.doors.xp if reverse_xp else None
    if xp is not None:
        await xp.flush()
    target_id = await bot.identity.user_id(action.target)
    moderator_id = await bot.identity.user_id(action.moderator)
    ids = [str(i) for i in message_ids]
    lock = xp.lock if xp is not None else contextlib.nullcontext()
    async with lock, bot.pool.acquire() as conn, conn.transaction():
        metadata = {
            **action.context,
            "target_discord_id": str(action.target.id),
            "channel_id": str(channel_id),
            "message_ids": ids,
            "messages": len(ids),
            "reverse_xp": reverse_xp,
        }
        case = await moderation.open_case(
            conn,
            guild_id=str(bot.guild_id),
            moderator_id=moderator_id,
            target_user_id=target_id,
            action="purge",
            reason=action.reason,
            metadata=metadata,
        )
        payload = {
            "guild_id": str(bot.guild_id),
            "channel_id": str(channel_id),
            "message_ids": ids,
            "reason": f"case #{case.number}",
        }
        await outbox.enqueue(conn, "delete_messages", payload, dedupe_key=f"case-action:{case.id}")
        reversals = []
        if xp is not None:
            reversals = await reverse_messages_in(conn, bot, moderator_id, ids, f"purge, case #{case.number}")
            taken = -sum(r.amount for r in reversals)
            await moderation.merge_metadata(conn, case.id, {"xp_reversed": taken, "messages_reversed": len(reversals)})
            case = await moderation.case_by_id(conn, case.id) or case
        await queue_modlog(conn, bot, case, target=str(action.target), moderator=str(action.moderator))
    if xp is not None:
        await xp.after_reversals(reversals)
    bot.outbox.wake()
    return Purged(case, len(ids), -sum(r.amount for r in reversals), len(reversals))
