"""The stand-in in a process of its own, for the benchmark drivers (so it does not share the bot's CPU)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bot.core.community import CommunityConfig
from bot.core.config import Config, Settings
from bot.core.runner import point_at_api

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RunningStandIn:
    info: dict  # api_base, token, guild_id, ... as `python -m bot.sandbox.serve` prints them
    base: str  # the server's origin, where /_sandbox lives

    def bot_config(self) -> Config:
        """A configuration for a bot in this process pointed at the stand-in."""
        settings = Settings(_env_file=None, discord_token=self.info["token"], discord_api_base=self.info["api_base"])
        return Config(settings=settings, community=CommunityConfig(guild_id=int(self.info["guild_id"])))


def pin(pid: int, core: int) -> None:
    """Keep a process on one core where the machine has two or more: the stand-in then never takes
    CPU from the client being measured, which makes rounds far steadier. PostgreSQL is not pinned."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(pid, {core})


def pin_database(database: object, core: int = 1) -> None:
    """Keep the embedded PostgreSQL (postmaster and backends; new backends inherit it) off the
    measured client's core, as it would be on its own machine: on a 2-core box the flush's SQL
    otherwise lands on the bot's core at random and the bot's rate swings by a third."""
    import psutil

    embedded = getattr(database, "embedded", None)
    pid = embedded.pid() if embedded is not None else None
    if pid is None or not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        with contextlib.suppress(psutil.Error, OSError):
            os.sched_setaffinity(process.pid, {core})


@contextlib.asynccontextmanager
async def standin_process(members: int) -> AsyncIterator[RunningStandIn]:
    """Start the stand-in with `members` extra members, point discord.py at it, stop it afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.sandbox.serve", "--port", "0", "--members", str(members)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    pin(process.pid, 1)  # the stand-in on one core, the driver and the bot on the other (see pin())
    pin(0, 0)
    try:
        info = json.loads(process.stdout.readline())  # type: ignore[union-attr]
        await point_at_api(info["api_base"], info["token"])
        yield RunningStandIn(info, info["api_base"].removesuffix("/api/v10"))
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
