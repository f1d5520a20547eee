"""`python -m bot run`: point discord.py at the Discord API (or a stand-in), run the bot until SIGINT
or SIGTERM, stop it gracefully within the budget, and turn how it ended into an exit status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

import aiohttp
import discord
import yarl
from discord.ext import commands

from bot.client import ConclaveBot
from bot.config import Config, ConfigError
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


async def run_forever(config: Config) -> int:
    """`python -m bot run`: run until SIGINT/SIGTERM, then stop gracefully within 10 s."""
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
    bot = ConclaveBot(config, database=database, owns_database=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = asyncio.create_task(bot.start(token))
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    exit_code = 0
    if runner in done and runner.exception() is not None:
        error = runner.exception()
        if isinstance(error, commands.ExtensionFailed) and isinstance(error.original, ConfigError):
            error = error.original
        if isinstance(error, ConfigError):
            print(f"conclave: {error}", file=sys.stderr)
            exit_code = 2
        elif isinstance(error, DatabaseUnreachable):
            print(f"conclave: {error}", file=sys.stderr)
        elif isinstance(error, discord.LoginFailure):
            log.error("Discord refused the token: check DISCORD_TOKEN")
        elif unreachable(error) and bot.user is None:  # before the login answered: Discord was not reached
            print(unreachable_line(api, error), file=sys.stderr)
        else:
            log.error("the bot stopped: %s", error, exc_info=error)
        exit_code = exit_code or 1
    log.info("shutting down")
    if not await stop_within_budget(bot):
        exit_code = exit_code or 1
    stopper.cancel()
    if not runner.done():
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
    return exit_code
