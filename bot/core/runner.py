"""`python -m bot run`: point discord.py at the Discord API (or a stand-in), run the bot until SIGINT
or SIGTERM, stop it gracefully within the budget, and turn how it ended into an exit status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

import aiohttp
import discord
import yarl
from discord.ext import commands

from bot.core.client import HANDOVER_GRACE_S, ConclaveBot
from bot.core.config import Config, ConfigError
from bot.core.leadership import Leadership
from db.faults import one_line
from db.leader import Fence
from db.pool import DatabaseUnreachable, open_database

log = logging.getLogger(__name__)

SHUTDOWN_BUDGET_S = 10.0


async def point_at_api(api_base: str, token: str) -> str:
    """Send all REST traffic (interaction callbacks included) to `api_base`, and take the gateway URL
    from that server's /gateway/bot, as discord.py's non-sharded client never asks for it."""
    discord.http.Route.BASE = api_base
    discord.webhook.async_.Route.BASE = api_base  # the same class today; set in case it diverges
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{api_base}/gateway/bot", headers={"Authorization": f"Bot {token}"}) as response,
    ):
        response.raise_for_status()
        data = await response.json(content_type=None)
    url = yarl.URL(data["url"])
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = url
    # Avatars and other assets come from the same server's CDN paths, where it serves them.
    discord.asset.Asset.BASE = str(yarl.URL(api_base).origin())
    return str(url)


async def stop_within_budget(bot: ConclaveBot, budget: float = SHUTDOWN_BUDGET_S) -> bool:
    """The graceful stop, cut at `budget`: past it the stop is cancelled where it stands, as the end
    of the process does (asyncio.run cancels every task left). True when it finished in time."""
    try:
        await asyncio.wait_for(bot.close(), timeout=budget)
    except TimeoutError:
        log.error("shutdown took longer than %.0f s; exiting anyway", budget)
        await bot.abandon_close()
        return False
    return True


def unreachable(error: BaseException) -> bool:
    """A failure to reach Discord at all (no network, DNS, refused, timed out), not a bug."""
    return isinstance(error, (aiohttp.ClientConnectionError, OSError, TimeoutError, discord.GatewayNotFound)) or (
        isinstance(error, aiohttp.ClientResponseError) and error.status >= 500
    )


def unreachable_line(where: str, error: BaseException) -> str:
    cause = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (
        f"conclave: could not reach Discord at {where} ({cause[:200]}). Check this machine's network "
        "connection (or DISCORD_API_BASE) and start again."
    )


EXIT_LOST_LEAD = 3  # the lease was lost (fenced): a supervisor starts the process again, as a standby
# A leader answers a handover at its next renewal (every 2 s); one that has not in this long will not.
HANDOVER_WAIT_S = 30.0
# After the grace, how long the old leader waits for its successor to say it took the cut.
CUT_TAKEN_WAIT_S = 5.0
# How long the successor asks whether it took its cut before giving up, when the database does not
# answer: past the old leader's whole window (its grace and CUT_TAKEN_WAIT_S), so the two never
# decide on different answers.
TAKE_CUT_WAIT_S = 2 * (HANDOVER_GRACE_S + CUT_TAKEN_WAIT_S)
# A test hook (tests/test_handover_window.py): the directory of the files a handover's steps wait for.
TEST_GATES = "CONCLAVE_TEST_GATES"
# A gate nobody opens is given up after this long: a test holds a step for seconds, never minutes.
TEST_GATE_WAIT_S = 120.0


class HandoverRefused(Exception):
    """--takeover: the running leader never chose a cut."""


async def lead(
    bot: ConclaveBot, leadership: Leadership, token: str, *, takeover: bool, lost: asyncio.Future[str]
) -> None:
    """Warm up (the database, migrations, cogs: everything that does not touch Discord's gateway), wait
    for the lease, then lead: the outbox, the timers, the scheduler, the gateway. With `takeover`, the
    gateway connects first and the leader is asked to hand over (README "Standby and failover")."""
    await bot.login(token)  # REST only (no gateway, no IDENTIFY); setup_hook warms everything up
    connection: asyncio.Task[None] | None = None
    fence: Fence | None = None
    if takeover and not await _someone_leads(leadership):
        # Nobody to hand over: the lease first, after the damping a crash loop earns, then the
        # gateway's IDENTIFY (a --takeover restarted in a loop must not spend one each time).
        log.info("taking over: nobody leads; taking the lease first")
        fence = await leadership.wait_for_lease(takeover=True)
    elif takeover:
        await leadership.wait_out_takeover_damping()  # a takeover loop must not burn the IDENTIFYs
        bot.follow()
        connection = asyncio.create_task(bot.connect(), name="gateway")
        await _ready_or_failed(bot, connection)
        fence = await _take_over(bot, leadership, connection)
    if fence is None:
        fence = await leadership.wait_for_lease()
    log.info("this process leads (token %d)", fence.token)

    def on_handover(successor: str) -> None:
        leadership.spawn(hand_over(bot, leadership, successor, lost), name="handover")

    def on_lease_end(keeper: asyncio.Task[str]) -> None:
        if not lost.done() and not keeper.cancelled():
            lost.set_result("fenced" if keeper.exception() is not None else keeper.result())

    leadership.start_keeping(on_handover).add_done_callback(on_lease_end)
    await bot.begin_leading()
    if connection is None:
        connection = asyncio.create_task(bot.connect(), name="gateway")
    await connection


async def _someone_leads(leadership: Leadership) -> bool:
    """A live lease (by the database's clock) that a --takeover could be handed."""
    lease = await leadership.lease()
    return lease is not None and lease.expired_for < 0


async def _ready_or_failed(bot: ConclaveBot, connection: asyncio.Task[None]) -> None:
    ready = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({ready, connection}, return_when=asyncio.FIRST_COMPLETED)
    if connection in done:
        ready.cancel()
        connection.result()  # the gateway's failure, raised here
        raise RuntimeError("the gateway closed before it was ready")


async def _take_over(bot: ConclaveBot, leadership: Leadership, connection: asyncio.Task[None]) -> Fence:
    """Ask the leader to hand over and take the events from its cut on, then the lease; with nobody
    leading (or the leader gone before choosing a cut), the lease first, then every event held."""
    while True:
        cut = await _handover_cut(leadership, connection)
        if cut is not None:
            await wait_at_test_gate("cut")
            # The cut taken on record before any event past it is handled here: a handover the old
            # leader called off meanwhile (no word from here in time) is the old leader's again.
            taken = await leadership.take_cut(cut, within=TAKE_CUT_WAIT_S)
            if taken is None:
                raise HandoverRefused(
                    f"the database did not answer for {TAKE_CUT_WAIT_S:.0f} s whether this process took its cut "
                    "(the leader carries on or hands over; check DATABASE_URL) and start it again to take over"
                )
            if not taken:
                # Not asked again at once: each attempt leaves interactions unanswered for seconds
                # (the old leader leaves them to this process until it calls the handover off); a
                # restart is damped as every takeover is (a called-off one counts).
                raise HandoverRefused(
                    "the leader called the handover off: this process did not take its cut in time "
                    "(a stalled host, or its database unreachable); start it again to take over"
                )
            bot.take_events_from(cut)
            log.info("handover: handling interactions and messages from snowflake %d on", cut)
            fence = await leadership.lease_after_take()
            if fence is None:
                bot.fence_now()  # another process leads: nothing more from this one
                raise HandoverRefused(
                    "another process took the lease while this one waited for it after its cut; "
                    "start this one again to take over or stand by"
                )
            return fence
        fence = await leadership.try_acquire(takeover=True)
        if fence is not None:
            bot.take_events_from(0)  # nobody handed over: everything held is this process's
            return fence
        await asyncio.sleep(leadership.timing.takeover_poll_s)  # another just took it: ask that one


async def wait_at_test_gate(name: str) -> None:
    """A test's hold on one step of a handover, to make its moment as long as the test needs (the
    successor between learning its cut and taking it: "cut"; the old leader after its grace, before
    it stops: "grace"): with CONCLAVE_TEST_GATES set to a directory, wait until the file `name`
    exists in it, for TEST_GATE_WAIT_S at most. Unset (production), nothing waits; nor does anything
    against Discord itself (the variable leaked into a deploy): gates hold only before a stand-in."""
    gates = os.environ.get(TEST_GATES)
    if not gates:
        return
    host = yarl.URL(discord.http.Route.BASE).host or ""
    if host == "discord.com" or host.endswith(".discord.com"):
        log.warning("handover: %s is set but ignored: the bot talks to Discord itself, not a stand-in", TEST_GATES)
        return
    gate = os.path.join(gates, name)
    log.info("handover: waiting for %s (a test's gate)", gate)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + TEST_GATE_WAIT_S
    while not os.path.exists(gate):
        if loop.time() > give_up:
            log.warning("handover: gave up waiting for %s after %.0f s; carrying on", gate, TEST_GATE_WAIT_S)
            return
        await asyncio.sleep(0.02)


async def _handover_cut(leadership: Leadership, connection: asyncio.Task[None]) -> int | None:
    """The cut the leader chose for this process (asked again every second, so a request whose asker
    died goes stale); None when nobody leads."""
    loop = asyncio.get_running_loop()
    give_up, asked_at = loop.time() + HANDOVER_WAIT_S, float("-inf")
    while not connection.done():
        lease = await leadership.lease()
        mine = lease is not None and lease.handover_to == leadership.holder
        if mine and lease.handover_cut is not None:  # type: ignore[union-attr]
            return lease.handover_cut  # type: ignore[union-attr]
        if lease is None or lease.expired_for >= 0:
            return None
        if loop.time() > give_up:
            raise HandoverRefused(
                f"the leader did not answer the request to hand over within {HANDOVER_WAIT_S:.0f} s "
                "(is it older than this version?); stop it, or start this one without --takeover to stand by"
            )
        if not mine or loop.time() - asked_at >= 1.0:
            asked_at = loop.time()
            answer = await leadership.request_handover()
            if answer == "busy":
                raise HandoverRefused("another process is taking over already; start this one again once it leads")
            if answer == "nobody":
                return None
        await asyncio.sleep(leadership.timing.takeover_poll_s)
    connection.result()  # the gateway's failure
    return None


async def hand_over(bot: ConclaveBot, leadership: Leadership, successor: str, lost: asyncio.Future[str]) -> None:
    """The leader, asked to hand over: choose the cut (past the last event it handled), let the events
    before it arrive, then stop (workers, gateway, every flush) and release the lease to the successor."""
    cut = bot.hand_events_over()
    try:
        recorded: bool | None = await leadership.set_cut(cut)
    except Exception as error:  # a statement timeout, a lost connection: the cut may be on record or not
        log.warning("handover to %s: whether the cut was recorded is unknown (%s)", successor, one_line(error))
        recorded = None
    if recorded is False or (recorded is None and await _called_off(leadership, successor, lost)):
        # Not on record (the request went away), or called off: a cut whose answer was lost could
        # reach the successor, and both would answer from it on.
        log.warning("handover to %s: the cut was not recorded; carrying on as leader", successor)
        bot.cut_below = None
        leadership.handover_to = None
        return
    log.info("handing over to %s: events from snowflake %d on are theirs", successor, cut)
    await asyncio.sleep(HANDOVER_GRACE_S)
    if not await _until_cut_taken(leadership, successor, lost) and await _called_off(leadership, successor, lost):
        bot.cut_below = None  # every event is this process's again
        log.warning("handover to %s: it never took its cut; called off, this process leads on", successor)
        return
    await wait_at_test_gate("grace")
    if not lost.done():
        lost.set_result("handover")


async def _until_cut_taken(leadership: Leadership, successor: str, lost: asyncio.Future[str]) -> bool:
    """The old leader handles every event but interactions and messages (no id to cut them by) until
    the successor says it took its cut, so none falls between the two: True once it has. A successor
    that says nothing for CUT_TAKEN_WAIT_S (it died, its database is unreachable) is not waited for
    longer (False), nor is anyone once this process lost the lease."""
    loop = asyncio.get_running_loop()
    give_up, warned = loop.time() + CUT_TAKEN_WAIT_S, False
    while loop.time() < give_up and not lost.done():
        try:
            if await leadership.cut_taken():
                return True
        except Exception as error:
            if not warned:
                log.warning("handover to %s: whether it took the cut is unknown (%s)", successor, one_line(error))
                warned = True
        await asyncio.sleep(leadership.timing.takeover_poll_s)
    if not lost.done():
        log.warning("handover to %s: no word that it took the cut in %.0f s", successor, CUT_TAKEN_WAIT_S)
    return False


async def _called_off(leadership: Leadership, successor: str, lost: asyncio.Future[str]) -> bool:
    """Call the handover off (its successor never took its cut, or the cut's own write went
    unanswered): True, this process leads on. False when the successor took the cut meanwhile (it
    leads: this process hands over), the lease is lost, or the database left it unknown for
    CUT_TAKEN_WAIT_S (handing over is the safe side: two leaders would answer twice)."""
    if lost.done():
        return False
    called_off = await leadership.call_off_handover(successor, within=CUT_TAKEN_WAIT_S)
    if called_off is None:
        log.warning("handover to %s: whether it was called off is unknown; stopping", successor)
    return bool(called_off)


async def run_forever(config: Config, *, takeover: bool = False) -> int:
    """`python -m bot run`: lead (or stand by until the lease is free) until SIGINT/SIGTERM, then stop
    gracefully within 10 s and release the lease."""
    assert config.settings.discord_token is not None
    token = config.settings.discord_token.get_secret_value()
    api = config.settings.discord_api_base or discord.http.Route.BASE
    if config.settings.discord_api_base:
        try:
            gateway = await point_at_api(config.settings.discord_api_base, token)
        except Exception as error:
            if not unreachable(error):
                raise
            print(unreachable_line(api, error), file=sys.stderr)
            return 1
        log.info("using the Discord API at %s (gateway %s)", config.settings.discord_api_base, gateway)
    # The database before Discord: a wrong or unreachable DATABASE_URL is one line, and the bot
    # never logs in to find it out.
    try:
        database = await open_database(data_dir=config.data_dir, **config.settings.database_options())
    except DatabaseUnreachable as error:
        print(f"conclave: {error}", file=sys.stderr)
        return 1
    assert config.community.guild_id is not None
    leadership = Leadership(database, config.community.guild_id)
    bot = ConclaveBot(config, database=database, owns_database=True, leadership=leadership)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    lost: asyncio.Future[str] = loop.create_future()
    runner = asyncio.create_task(lead(bot, leadership, token, takeover=takeover, lost=lost))
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({runner, stopper, lost}, return_when=asyncio.FIRST_COMPLETED)
    exit_code = 0
    why = lost.result() if lost.done() else None
    if why in ("fenced", "lost"):
        bot.fence_now()  # nothing more reaches Discord from here, before the standby can lead
        await leadership.record_fenced(bot.pool)
        print(
            "conclave: this process lost the leadership (the lease could not be renewed in time); "
            "stopping so that a standby leads (start it again to stand by)",
            file=sys.stderr,
        )
        exit_code = EXIT_LOST_LEAD
    elif runner in done and runner.exception() is not None:
        error = runner.exception()
        if isinstance(error, commands.ExtensionFailed) and isinstance(error.original, ConfigError):
            error = error.original
        if isinstance(error, ConfigError):
            print(f"conclave: {error}", file=sys.stderr)
            exit_code = 2
        elif isinstance(error, (DatabaseUnreachable, HandoverRefused)):
            print(f"conclave: {error}", file=sys.stderr)
        elif isinstance(error, discord.LoginFailure):
            log.error("Discord refused the token: check DISCORD_TOKEN")
        elif unreachable(error) and bot.user is None:  # before the login answered: Discord was not reached
            print(unreachable_line(api, error), file=sys.stderr)
        else:
            log.error("the bot stopped: %s", error, exc_info=error)
        exit_code = exit_code or 1
    log.info("handing over" if why == "handover" else "shutting down")
    bot.release_event = "handed_over" if why == "handover" else "released"
    if not await stop_within_budget(bot) and why != "handover":  # the lease is released in it
        # After a handover the successor leads whatever the stop took: exiting 1 would have a
        # restart policy start this process again, to take the lease back with another IDENTIFY.
        exit_code = exit_code or 1
    await leadership.close()
    for task in (stopper, runner):
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return exit_code
