"""A case's own action that Discord refuses for good (e.g. 403, code 50013: the member is above the
bot, or the bot lost the permission since the checks): the sanction was never in force, so it ends
as failed with its timer, the sanction it was to replace stays, the case says so, the modlog says
so, and the moderator who asked is told in a follow-up to their command (within its 15 minutes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
import discord

from bot.ui.echo import echo
from cogs.moderation.lifecycle import cancel_expiry
from db import moderation, outbox, timers

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

# The case actions Discord may refuse after the checks, as a sentence says each, and the outbox
# kinds of their own Discord actions (which carry the case_id).
REFUSABLE = {"ban": "ban", "kick": "kick", "timeout": "time out", "mute": "mute"}
ACTION_KINDS = ("ban", "kick", "timeout", "add_role")
# A moderator waits for the outcome of their action this long at most: a follow-up to an
# interaction is refused by Discord after 15 minutes.
TELL_WITHIN = timedelta(minutes=14)


class Outcomes:
    """The moderators waiting to hear whether Discord did what their case asked: one future per case
    in flight, dropped when it is settled or when TELL_WITHIN has passed (bounded by the actions of
    the last 14 minutes)."""

    def __init__(self) -> None:
        self._waiting: dict[int, asyncio.Future[str | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def settled(self, case_id: int, error: str | None) -> None:
        future = self._waiting.pop(case_id, None)
        if future is not None and not future.done():
            future.set_result(error)

    def tell_if_refused(self, interaction: discord.Interaction, case_id: int, number: int, what: str) -> None:
        """Follow the moderator's command up if Discord refuses the action of case `case_id`."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[case_id] = future
        task = asyncio.create_task(self._tell(interaction, case_id, number, what, future))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tell(
        self, interaction: discord.Interaction, case_id: int, number: int, what: str, future: asyncio.Future
    ) -> None:
        try:
            error = await asyncio.wait_for(future, TELL_WITHIN.total_seconds())
        except TimeoutError:
            return
        finally:
            self._waiting.pop(case_id, None)
        if error is None:
            return
        with contextlib.suppress(discord.HTTPException):
            await interaction.followup.send(refusal_text(number, what, error), ephemeral=True)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def __len__(self) -> int:
        return len(self._waiting)


def refusal_text(number: int, what: str, error: str) -> str:
    why = echo(error, 300)
    return f"Discord refused case #{number}: I could not {what} ({why}). Nothing is in force; the case says so."


def refusal_hook(bot: ConclaveBot, outcomes: Outcomes):  # noqa: ANN201  (an outbox.OutcomeHook)
    """The outbox outcome hook that records a case's own action failing for good."""

    async def refused(conn: asyncpg.Connection, item: outbox.OutboxItem, delivered: bool, error: str | None) -> None:
        case_id = item.payload.get("case_id")
        if item.kind not in ACTION_KINDS or case_id is None:
            return
        if delivered:
            outcomes.settled(int(case_id), None)
            return
        failure = error or "refused"
        case = await record_failure(conn, bot, int(case_id), failure)
        if case is None:
            return
        name = _name(bot, str(case.metadata.get("target_discord_id", "?")))
        what = f"{REFUSABLE.get(case.action, case.action)} {name}"
        log.warning("case #%d: Discord refused to %s: %s", case.number, what, failure)
        channel_id = bot.config.community.announcements.mod_log_channel_id
        if channel_id is not None:
            await outbox.enqueue(
                conn,
                "channel_message",
                {"channel_id": str(channel_id), "content": refusal_text(case.number, what, failure), "embeds": []},
                dedupe_key=f"case-failed:{case.id}",
            )
        outcomes.settled(case.id, failure)

    return refused


async def record_failure(
    conn: asyncpg.Connection, bot: ConclaveBot, case_id: int, failure: str
) -> moderation.Case | None:
    """On record: the case's action failed; its sanction ends as failed (never in force) with its
    timer, and the sanction it superseded is in force again (Discord still applies that one)."""
    case = await moderation.case_by_id(conn, case_id)
    if case is None:
        return None
    await moderation.merge_metadata(conn, case.id, {"action_failed": failure})
    sanction = await moderation.sanction_of_case(conn, case.id)
    if sanction is not None:
        await moderation.end_sanction(conn, sanction.id, status="failed")
        await cancel_expiry(conn, sanction.id)
        for restored in await moderation.restore_superseded(conn, case.id):
            if restored.expires_at is not None:
                due = max(restored.expires_at, datetime.now(UTC))
                await timers.schedule(conn, "sanction_expiry", due, {"sanction_id": restored.id})
    bot.timers.wake()
    return await moderation.case_by_id(conn, case.id)


def _name(bot: ConclaveBot, discord_id: str) -> str:
    user = bot.get_user(int(discord_id)) if discord_id.isdigit() else None
    return discord.utils.escape_markdown(str(user)) if user is not None else f"user {discord_id}"
