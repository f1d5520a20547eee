"""The outbox worker: delivers queued Discord side effects with retries and backoff, honouring
rate limits, and records each outcome. Pending items survive restarts; each is delivered once."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import asyncpg
import discord

from bot.writes.worker import Worker
from bot.writes.write_path import WriteHealth
from db import dead_letters, leader, moderation, outbox
from db.faults import is_outage, one_line

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot

log = logging.getLogger(__name__)

# Told of an item's final outcome: (connection, item, delivered, error).
OutcomeHook = Callable[[asyncpg.Connection, outbox.OutboxItem, bool, str | None], Awaitable[None]]

MAX_ATTEMPTS = 8
BASE_DELAY_S = 1.0
MAX_DELAY_S = 300.0
IDLE_POLL_S = 5.0
# Discord bulk-deletes only messages younger than 14 days; older ones go one by one (a margin keeps
# a message that ages past the line while the item waits out of the bulk request).
BULK_DELETE_AGE = timedelta(days=14) - timedelta(minutes=10)
BULK_DELETE_MAX = 100
# An item queued to follow another (payload "after": its id, e.g. a ban after the DM telling the
# member) waits while that one is still being retried, for at most this long: then it goes anyway
# (a ban is not held back for long by an unreachable DM).
WAIT_FOR_PREVIOUS = timedelta(seconds=60)


# Discord reports the bot's own bans, unbans and timeouts back as gateway events; one not reported
# within this long is forgotten (a ban of someone banned already is reported by no event).
ECHO_WINDOW_S = 30.0


class Echoes:
    """The bans, unbans and timeouts the worker is making or just made, so the listeners know Discord's
    report of one for the bot's own: noted before the request (the event may arrive before the
    answer), taken by the event it causes, dropped on failure or after ECHO_WINDOW_S. Bounded by
    the actions of that window."""

    def __init__(self) -> None:
        self._notes: dict[tuple[str, str], list[float]] = {}

    def expect(self, kind: str, user_id: str) -> None:
        self._notes.setdefault((kind, user_id), []).append(time.monotonic())

    def forget(self, kind: str, user_id: str) -> None:
        self.take(kind, user_id)

    def take(self, kind: str, user_id: str) -> bool:
        """Whether an event of `kind` about `user_id` is the echo of the bot's own action (consumed)."""
        cutoff = time.monotonic() - ECHO_WINDOW_S
        for key, times in list(self._notes.items()):
            times[:] = [t for t in times if t >= cutoff]
            if not times:
                del self._notes[key]
        times = self._notes.get((kind, user_id))
        if not times:
            return False
        times.pop(0)
        if not times:
            del self._notes[(kind, user_id)]
        return True

    def __len__(self) -> int:
        return len(self._notes)


class PermanentFailure(Exception):
    """Delivery cannot succeed (closed DMs, unknown member...): record it, do not retry."""


# The error an edit_message item settles with when Discord has no such message (deleted by a
# moderator): final, and what a feature's outcome hook looks for.
MESSAGE_GONE = "message gone"


class Refused(Exception):
    """The bot will not act on this item (a role the configuration does not name, another guild)."""


class NotLeading(Exception):
    """The lease is no longer this process's (lost between the claim and the Discord call): the
    item is not sent here; its transaction rolls back and it stays pending for the leader."""


class Superseded(Exception):
    """A lift of a sanction ("lifts": its kind) while a newer sanction of that kind is in force: sent,
    it would undo the newer one (an unban queued behind a slow ban, then a ban by hand)."""


def retried_out(error: str | None) -> bool:
    """Whether a failed item's error is a transient one it was retried for until MAX_ATTEMPTS (Discord
    unavailable, rate limits, the network), not a refusal that would come again."""
    return error is not None and error.startswith(("HTTP 429", "HTTP 5", "network:"))


def backoff(attempts: int) -> float:
    return min(MAX_DELAY_S, BASE_DELAY_S * 2**attempts)


def _retry_after(error: discord.HTTPException) -> float | None:
    response = getattr(error, "response", None)
    header = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(header) if header else None
    except ValueError:
        return None


class OutboxWorker(Worker):
    task_name = "outbox-worker"

    def __init__(self, bot: ConclaveBot) -> None:
        super().__init__()
        self.bot = bot
        self.health = WriteHealth("outbox deliveries")
        self._outcome_hooks: list[OutcomeHook] = []
        self.echoes = Echoes()

    async def _run(self) -> None:
        await self.bot.wait_until_ready()
        while not self._stopping:
            try:
                delivered_any = await self.deliver_due()
                if delivered_any:
                    continue
                wait = await outbox.next_due_in(self.bot.pool)
            except Exception as error:
                if not is_outage(error):
                    # Never let one bad delivery end the worker (bad rows are dead-lettered in _attempt).
                    log.exception("outbox worker failed unexpectedly; retrying later")
                else:
                    self.health.failed(error)  # one warning per outage, however long
                wait = IDLE_POLL_S
            else:
                self.health.succeeded(0)
            self._wake.clear()
            await self._sleep(min(IDLE_POLL_S, wait if wait is not None else IDLE_POLL_S))

    async def deliver_due(self) -> bool:
        """Deliver every item that is due now; True if any was handled."""
        handled = False
        while not self._stopping and not self.bot.fenced:
            try:
                async with self.bot.pool.acquire() as conn, conn.transaction():
                    item = await outbox.claim_due(conn, self.bot.fence)
                    if item is None:
                        return handled
                    handled = True
                    if not await self._waits_for_previous(conn, item):
                        await self._attempt(conn, item)
            except NotLeading as lost:
                log.warning("%s; left pending for the leader", lost)
                return handled
        return handled

    async def _still_leading(self, conn: asyncpg.Connection, item: outbox.OutboxItem) -> None:
        """The fence, checked immediately before each Discord call (the claim's check may be seconds
        old: a slow Discord, a pause): locally (the lease renewed within the fencing time), then in
        the item's transaction by the database's clock."""
        fence = self.bot.fence
        if not self.bot.may_act() or (fence is not None and not await leader.holds(conn, fence)):
            raise NotLeading(f"outbox item {item.id} ({item.kind}) not sent: this process no longer leads")

    async def _attempt(self, conn: asyncpg.Connection, item: outbox.OutboxItem) -> None:
        try:
            await self._check_allowed(conn, item)
            await self._check_still_wanted(conn, item)
            sent = await self._deliver(conn, item)
        except NotLeading:
            raise  # not an outcome: the item is the leader's to deliver
        except Superseded as exc:
            log.info("outbox item %s (%s) not sent: %s", item.id, item.kind, exc)
            await outbox.mark_refused(conn, item.id, error=f"superseded: {exc}")
        except Refused as exc:
            log.warning("outbox item %s (%s) refused: %s", item.id, item.kind, exc)
            await outbox.mark_refused(conn, item.id, error=f"refused: {exc}")
        except PermanentFailure as exc:
            log.info("outbox item %s (%s) failed for good: %s", item.id, item.kind, exc)
            await outbox.mark_failed(conn, item.id, error=str(exc))
            await self._settled(conn, item, delivered=False, error=str(exc))
        except discord.HTTPException as exc:
            reason = f"HTTP {exc.status} (code {exc.code}): {exc.text or exc}"
            if exc.status == 429 or exc.status >= 500:
                delay = _retry_after(exc) if exc.status == 429 else None
                await self._retry_or_fail(conn, item, delay if delay is not None else backoff(item.attempts), reason)
            else:
                await outbox.mark_failed(conn, item.id, error=reason)
                await self._settled(conn, item, delivered=False, error=reason)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await self._retry_or_fail(conn, item, backoff(item.attempts), f"network: {exc!r}")
        except Exception as exc:
            # A payload the worker cannot act on (a poison row): set aside, never retried in a loop
            # in front of everyone else's effects.
            error = one_line(exc)
            log.error("outbox item %s (%s) cannot be delivered (%s); kept in dead_letters", item.id, item.kind, error)
            await outbox.mark_failed(conn, item.id, error=f"unexpected: {error}")
            await self._settled(conn, item, delivered=False, error=error)
            payload = {"outbox_id": item.id, "kind": item.kind, "payload": item.payload}
            self.bot.refused_writes += await dead_letters.record(
                conn, [dead_letters.Refused("outbox", payload, error, None)]
            )
        else:
            await outbox.mark_delivered(conn, item.id)
            await self._settled(conn, dataclasses.replace(item, sent=sent), delivered=True)
        if item.payload.get("erase_after"):  # its member was erased meanwhile: nothing of them stays
            await outbox.tombstone_if_settled(conn, item.id)

    async def _waits_for_previous(self, conn: asyncpg.Connection, item: outbox.OutboxItem) -> bool:
        """Postpone an item whose predecessor is still pending: within WAIT_FOR_PREVIOUS, or until
        it settles however long that takes ("after_settled": an undo, such as the unban that lifts
        a ban, must never land before what it undoes; the predecessor's own retries bound the wait)."""
        previous = item.payload.get("after")
        if previous is None:
            return False
        # one id, or (an undo) every item it must follow
        until = await outbox.pending_until(
            conn, [int(i) for i in previous] if isinstance(previous, list) else [int(previous)]
        )
        if until is None:
            return False
        wait_until = until + timedelta(milliseconds=50)
        if not item.payload.get("after_settled"):
            give_up_at = item.created_at + WAIT_FOR_PREVIOUS
            if discord.utils.utcnow() >= give_up_at:
                return False
            wait_until = min(wait_until, give_up_at)
        await outbox.postpone(conn, item.id, wait_until)
        return True

    def on_outcome(self, hook: OutcomeHook) -> None:
        """Call `hook` in the transaction that records an item's final outcome (delivered or failed
        for good): a feature that must know, e.g. whether a case's DM arrived."""
        self._outcome_hooks.append(hook)

    async def _settled(
        self, conn: asyncpg.Connection, item: outbox.OutboxItem, *, delivered: bool, error: str | None = None
    ) -> None:
        """Run the outcome hooks, each in a savepoint of its own: a hook that fails (the row it records
        deleted meanwhile, a bug) is logged and undone alone, so the outcome still commits; the whole
        transaction rolled back would put a message already sent back to pending, to be sent again
        and again in front of every item behind it."""
        for hook in self._outcome_hooks:
            try:
                async with conn.transaction():
                    await hook(conn, item, delivered, error)
            except Exception:
                log.exception("outbox item %s (%s): an outcome hook failed; its outcome stands", item.id, item.kind)

    async def _check_allowed(self, conn: asyncpg.Connection, item: outbox.OutboxItem) -> None:
        """Act only in the home guild and only on roles the configuration names, or the role a mute of
        the member on record gave (in force, to give it) (a row anyone could insert must not make the
        bot hand out an arbitrary role)."""
        p = item.payload
        if item.kind not in outbox.GUILD_ACTIONS:
            return
        if int(p["guild_id"]) != self.bot.guild_id:
            raise Refused(f"guild {p['guild_id']} is not the configured server")
        if item.kind == "delete_messages":
            guild = self.bot.home_guild
            if guild is None or guild.get_channel_or_thread(int(p["channel_id"])) is None:
                raise Refused(f"channel {p['channel_id']} is not in the configured server")
            return
        if item.kind not in ("add_role", "remove_role"):
            return
        role_id = int(p["role_id"])
        if role_id in self.bot.config.community.managed_role_ids():
            return
        if not await moderation.gave_mute_role(
            conn, str(p["guild_id"]), str(p["user_id"]), str(role_id), in_force=item.kind == "add_role"
        ):
            raise Refused(f"role {role_id} is not one the configuration names (rewards, ranks, pathways)")

    async def _check_still_wanted(self, conn: asyncpg.Connection, item: outbox.OutboxItem) -> None:
        """A lift is queued in the transaction that ends its sanction: a sanction of that kind in force
        when it is due is a newer one, which it must not undo. An effect that applies a sanction
        ("applies": a timeout, its changed end, a mute role) is sent only while that sanction is in
        force, and a timeout's change only while no newer change of it was queued."""
        p = item.payload
        if "applies" in p:  # applies a sanction (a timeout, or its changed end): only while it is in force
            applied = await moderation.sanction_by_id(conn, int(p["applies"]))
            if applied is None or applied.status != "active":
                how = f"{applied.kind} is {applied.status}" if applied is not None else "sanction is gone"
                raise Superseded(f"the {how} (sanction {p['applies']}): not applied, it would undo what ended it")
            # A timeout's end is a value Discord keeps the last of: an older change retried after a
            # newer one would overwrite it, so only the newest change of one timeout is sent.
            if item.kind == "timeout" and (newer := await outbox.newer_applying(conn, item.id, item.kind, applied.id)):
                raise Superseded(f"a newer change of this timeout (outbox item {newer}) replaces it")
        # A message shows the last edit Discord received: an older edit (retried, or claimed late)
        # after a newer one would show stale data, so only the newest of one message is sent.
        if item.kind == "edit_message" and (newer := await outbox.newer_edit(conn, item.id, str(p["message_id"]))):
            raise Superseded(f"a newer edit of this message (outbox item {newer}) replaces it")
        kind = p.get("lifts")
        if kind is None:
            return
        newer = await moderation.active_sanction(conn, str(p["guild_id"]), str(p["user_id"]), str(kind))
        if newer is not None and kind == "mute" and "role_id" in p:
            # a newer mute that gave another role (mute_role changed since): the old role still goes
            case = await moderation.case_by_id(conn, newer.case_id)
            given = case.metadata.get("mute_role_id") if case is not None else None
            if given is not None and str(given) != str(p["role_id"]):
                return
        if newer is not None:
            raise Superseded(f"a newer {kind} is in force (sanction {newer.id}); this lift of an older one is not sent")

    async def _retry_or_fail(
        self, conn: asyncpg.Connection, item: outbox.OutboxItem, delay: float, reason: str
    ) -> None:
        if item.attempts + 1 >= MAX_ATTEMPTS:
            await outbox.mark_failed(conn, item.id, error=f"gave up after {MAX_ATTEMPTS} attempts: {reason}")
            await self._settled(conn, item, delivered=False, error=reason)
        else:
            log.info("outbox item %s retry in %.1fs: %s", item.id, delay, reason)
            await outbox.mark_retry(conn, item.id, delay_seconds=delay, error=reason)

    async def _deliver(self, conn: asyncpg.Connection, item: outbox.OutboxItem) -> dict[str, str] | None:
        """Make the item's Discord call; a posted channel message is returned ({"channel_id", "id"})."""
        p: dict[str, Any] = item.payload
        http = self.bot.http

        async def fence() -> None:
            await self._still_leading(conn, item)

        try:
            if item.kind in ("add_role", "remove_role"):
                call = http.add_role if item.kind == "add_role" else http.remove_role
                await fence()
                await call(int(p["guild_id"]), int(p["user_id"]), int(p["role_id"]), reason=p.get("reason"))
            elif item.kind == "dm":
                user = self.bot.get_user(int(p["user_id"])) or await self.bot.fetch_user(int(p["user_id"]))
                channel = user.dm_channel or await user.create_dm()
                await fence()
                await _send(http, channel.id, p)
            elif item.kind == "ban":
                await fence()
                self.echoes.expect("ban", str(p["user_id"]))
                try:
                    await http.ban(
                        int(p["user_id"]),
                        int(p["guild_id"]),
                        delete_message_seconds=int(p.get("delete_message_seconds") or 0),
                        reason=p.get("reason"),
                    )
                except BaseException:
                    self.echoes.forget("ban", str(p["user_id"]))
                    raise
            elif item.kind == "unban":
                await fence()
                self.echoes.expect("unban", str(p["user_id"]))
                try:
                    await http.unban(int(p["user_id"]), int(p["guild_id"]), reason=p.get("reason"))
                except discord.NotFound:  # not banned (any more): what it asked for holds, and no event
                    self.echoes.forget("unban", str(p["user_id"]))
                except BaseException:
                    self.echoes.forget("unban", str(p["user_id"]))
                    raise
            elif item.kind == "kick":
                await fence()
                await http.kick(int(p["user_id"]), int(p["guild_id"]), reason=p.get("reason"))
            elif item.kind == "timeout":
                await fence()
                self.echoes.expect("timeout", str(p["user_id"]))
                try:
                    await http.edit_member(
                        int(p["guild_id"]),
                        int(p["user_id"]),
                        reason=p.get("reason"),
                        communication_disabled_until=p.get("until"),
                    )
                except BaseException:
                    self.echoes.forget("timeout", str(p["user_id"]))
                    raise
            elif item.kind == "channel_message":
                await fence()
                posted = await _send(http, int(p["channel_id"]), p)
                return {"channel_id": str(posted["channel_id"]), "id": str(posted["id"])}
            elif item.kind == "edit_message":
                await fence()
                try:
                    await _edit(http, int(p["channel_id"]), int(p["message_id"]), p)
                except discord.NotFound as exc:  # deleted (or its channel): nothing to keep current
                    raise PermanentFailure(f"{MESSAGE_GONE} (code {exc.code}): {exc.text}") from exc
            elif item.kind == "delete_messages":
                ids = [int(i) for i in p["message_ids"]]
                await _delete_messages(http, int(p["channel_id"]), ids, p.get("reason"), before_each=fence)
        except discord.Forbidden as exc:
            if exc.code == 50007:
                raise PermanentFailure("the member does not accept DMs from the server (DMs closed)") from exc
            raise PermanentFailure(f"missing permissions: {exc.text}") from exc
        except discord.NotFound as exc:
            raise PermanentFailure(f"not found (code {exc.code}): {exc.text}") from exc
        return None


async def _send(http: discord.http.HTTPClient, channel_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    """Post a queued message: content, embeds and components (buttons as Discord's JSON, so any
    feature can queue a message with buttons its persistent views answer). Returns Discord's message."""
    embeds = [discord.Embed.from_dict(e) for e in payload.get("embeds") or []]
    with discord.http.handle_message_parameters(
        content=payload.get("content"),
        embeds=embeds,
        allowed_mentions=discord.AllowedMentions(users=True, roles=False, everyone=False),
    ) as params:
        if payload.get("components"):
            params.payload["components"] = payload["components"]  # type: ignore[index]
        return await http.send_message(channel_id, params=params)


async def _edit(http: discord.http.HTTPClient, channel_id: int, message_id: int, payload: dict[str, Any]) -> None:
    """Edit a message the bot posted: its embeds and components replaced (an empty list of components
    removes its buttons); its content is left as it is."""
    embeds = [discord.Embed.from_dict(e) for e in payload.get("embeds") or []]
    with discord.http.handle_message_parameters(
        embeds=embeds, allowed_mentions=discord.AllowedMentions(users=True, roles=False, everyone=False)
    ) as params:
        params.payload["components"] = payload.get("components") or []  # type: ignore[index]
        await http.edit_message(channel_id, message_id, params=params)


async def _delete_messages(
    http: discord.http.HTTPClient,
    channel_id: int,
    message_ids: list[int],
    reason: str | None,
    *,
    before_each: Callable[[], Awaitable[None]],
) -> None:
    """Delete messages the way Discord allows: up to 100 at a time while younger than 14 days, one
    by one otherwise. A message already gone counts as deleted, so a retried item is harmless."""
    recent_line = discord.utils.utcnow() - BULK_DELETE_AGE
    recent = [i for i in message_ids if discord.utils.snowflake_time(i) > recent_line]
    single = [i for i in message_ids if discord.utils.snowflake_time(i) <= recent_line]
    for start in range(0, len(recent), BULK_DELETE_MAX):
        chunk = recent[start : start + BULK_DELETE_MAX]
        if len(chunk) == 1:
            single += chunk
            continue
        try:
            await before_each()
            await http.delete_messages(channel_id, chunk, reason=reason)
        except discord.HTTPException as exc:
            if exc.status != 400:
                raise
            single += chunk  # e.g. one aged past the line meanwhile (50034): delete them one by one
    for message_id in single:
        await before_each()
        with contextlib.suppress(discord.NotFound):
            await http.delete_message(channel_id, message_id, reason=reason)
