"""The stand-in, the demo guild and the real bot wired together: for tests, the sandbox and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from discord.ext import commands

from bot.core.client import ConclaveBot
from bot.core.community import CommunityConfig
from bot.core.config import Config, Settings
from bot.core.runner import point_at_api
from bot.sandbox.demo import DemoGuild, build_demo_guild
from db.pool import Database
from standin.control import Actor
from standin.server import StandIn

log = logging.getLogger(__name__)


class Harness:
    """A running stand-in with the demo guild, and the bot connected to it."""

    def __init__(
        self, standin: StandIn, demo: DemoGuild, dsn: str, data_dir: Path, database: Database | None = None
    ) -> None:
        self.standin = standin
        self.demo = demo
        self.dsn = dsn
        self.database = database
        self.data_dir = data_dir
        self.bot: ConclaveBot | None = None
        self._task: asyncio.Task[None] | None = None
        self.community: CommunityConfig = demo.community_config()

    @classmethod
    async def create(cls, dsn: str, data_dir: Path, database: Database | None = None) -> Harness:
        standin = await StandIn().start()
        return cls(standin, build_demo_guild(standin), dsn, data_dir, database)

    def config(self) -> Config:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            discord_token=self.standin.token,
            discord_api_base=self.standin.api_base,
            conclave_data_dir=self.data_dir,
        )
        return Config(settings=settings, community=self.community)

    def member(self, name: str) -> Actor:
        return self.demo.actor(name)

    async def start_bot(self, *, timeout: float = 20.0) -> ConclaveBot:
        config = self.config()
        await point_at_api(self.standin.api_base, self.standin.token)
        database = self.database or Database(dsn=self.dsn)
        bot = ConclaveBot(config, database=database, guild_ready_timeout=0.05)
        self.bot = bot
        self._task = asyncio.create_task(bot.start(self.standin.token), name="bot")
        waiter = asyncio.create_task(bot.guild_synced.wait())
        done, _ = await asyncio.wait({waiter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            waiter.cancel()
            self._task.result()  # raises what stopped the bot
            raise RuntimeError("the bot stopped before it was ready")
        if waiter not in done:
            waiter.cancel()
            raise TimeoutError(f"the bot was not ready within {timeout}s")
        return bot

    async def stop_bot(self) -> None:
        """A graceful stop, as on SIGTERM."""
        if self.bot is not None:
            await self.bot.close()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 5)
        self.bot, self._task = None, None

    async def kill_bot(self) -> None:
        """A hard stop: no flush, no goodbye (what a crash or SIGKILL leaves behind)."""
        bot, task = self.bot, self._task
        self.bot, self._task = None, None
        if bot is None:
            return
        if bot.scheduler.running:
            bot.scheduler.shutdown(wait=False)
        await bot.outbox.stop()
        await bot.timers.stop()
        bot.flushes.clear()
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            await discord_close_quietly(bot)

    async def close(self) -> None:
        await self.stop_bot()
        await self.standin.stop()


async def discord_close_quietly(bot: ConclaveBot) -> None:
    """Drop the bot's connections without running its shutdown (flushes are already cleared)."""
    await commands.Bot.close(bot)
    if bot.pool is not None:
        bot.pool.terminate()
