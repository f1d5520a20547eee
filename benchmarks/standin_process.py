"""The stand-in in a process of its own, for the benchmark drivers (so it does not share the bot's CPU)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bot.client import point_at_api
from bot.config import CommunityConfig, Config, Settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RunningStandIn:
    info: dict  # api_base, token, guild_id, ... as `python -m bot.sandbox.serve` prints them
    base: str  # the server's origin, where /_sandbox lives

    def bot_config(self) -> Config:
        """A configuration for a bot in this process pointed at the stand-in."""
        settings = Settings(_env_file=None, discord_token=self.info["token"], discord_api_base=self.info["api_base"])
        return Config(settings=settings, community=CommunityConfig(guild_id=int(self.info["guild_id"])))


@contextlib.asynccontextmanager
async def standin_process(members: int) -> AsyncIterator[RunningStandIn]:
    """Start the stand-in with `members` extra members, point discord.py at it, stop it afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.sandbox.serve", "--port", "0", "--members", str(members)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
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
