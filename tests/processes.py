"""Real bot processes (`python -m bot run`) against a stand-in in its own process and one real
PostgreSQL: what the standby, failover and handover tests drive (and benchmarks/failover.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent


class BotProcess:
    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def says(self, text: str) -> bool:
        return text in self.log

    def kill(self) -> None:
        """kill -9: no flush, no release; the lease has to expire."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(20)

    @property
    def pid(self) -> int:
        return self.popen.pid


class Processes:
    """A stand-in process (`python -m bot.sandbox.serve`) and any number of bot processes, each with
    its own data directory, all on database `dsn`."""

    def __init__(self, tmp_path: Path, dsn: str, *, members: int = 0, clock_skew: float = 0.0) -> None:
        self.members = members  # beside the demo's: member000000, member000001, ...
        self.clock_skew = clock_skew  # seconds the stand-in's ids (Discord's clock) are ahead of this machine's
        self.tmp = tmp_path
        self.dsn = dsn
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "DATABASE_DIRECT_URL", "DISCORD_TOKEN", "DISCORD_API_BASE", "CONCLAVE_CONFIG")
        }
        self.env["PYTHONPATH"] = str(ROOT)
        self.standin: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self.bots: list[BotProcess] = []
        self.http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Processes:
        self.standin = subprocess.Popen(
            [
                sys.executable,
                *("-m", "bot.sandbox.serve", "--port", "0", "--members", str(self.members)),
                *("--clock-skew", str(self.clock_skew)),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.tmp,
        )
        assert self.standin.stdout is not None
        self.info = json.loads(self.standin.stdout.readline())
        self.http = aiohttp.ClientSession()
        state = await self.state()
        staff = [int(state["roles"][name]) for name in ("Moderator", "Admin")]
        (self.tmp / "conclave.toml").write_text(
            f"guild_id = {self.info['guild_id']}\nstaff_role_ids = {staff}\n"
            f"[announcements]\ngeneral_channel_id = {self.info['general_channel_id']}\n"
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        for bot in self.bots:
            if bot.popen.poll() is None:
                bot.popen.kill()
                bot.popen.wait(10)
        if self.http is not None:
            await self.http.close()
        if self.standin is not None:
            self.standin.terminate()
            self.standin.wait(10)

    @property
    def base(self) -> str:
        return self.info["api_base"].removesuffix("/api/v10")

    def start_bot(
        self, name: str, *args: str, env: dict[str, str] | None = None, metrics_port: int | None = None
    ) -> BotProcess:
        data = self.tmp / name
        data.mkdir(exist_ok=True)
        log_path = self.tmp / f"{name}.log"
        if metrics_port is not None:  # its own conclave.toml: the community's, plus its metrics port
            config = self.tmp / f"{name}.toml"
            config.write_text((self.tmp / "conclave.toml").read_text() + f"[stats]\nmetrics_port = {metrics_port}\n")
            env = {**(env or {}), "CONCLAVE_CONFIG": str(config)}
        bot_env = {
            **self.env,
            "DISCORD_TOKEN": self.info["token"],
            "DISCORD_API_BASE": self.info["api_base"],
            "DATABASE_URL": self.dsn,
            "CONCLAVE_DATA_DIR": str(data),
            **(env or {}),
        }
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", *args],
                env=bot_env,
                cwd=self.tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        bot = BotProcess(name, popen, log_path)
        self.bots.append(bot)
        return bot

    async def metric(self, port: int, name: str) -> float | None:
        """One value a bot's Prometheus endpoint serves (None: not serving yet)."""
        assert self.http is not None
        try:
            async with self.http.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
        except aiohttp.ClientError:
            return None
        values = [line.split()[-1] for line in text.splitlines() if line.startswith(f"{name} ")]
        return float(values[0]) if values else None

    # -- the stand-in over HTTP --------------------------------------------------------------------

    async def get(self, route: str, **params: str) -> Any:
        assert self.http is not None
        async with self.http.get(f"{self.base}/_sandbox/{route}", params=params) as response:
            return await response.json()

    async def post(self, route: str, body: dict[str, Any]) -> tuple[int, Any]:
        assert self.http is not None
        async with self.http.post(f"{self.base}/_sandbox/{route}", json=body) as response:
            return response.status, await response.json()

    async def state(self) -> dict[str, Any]:
        return await self.get("state")

    async def slash(self, who: str, command: str, timeout: float = 5.0, **options: Any) -> tuple[int, Any]:
        """`who` invokes `command` (its options by name); the stand-in's answer (504: none in time)."""
        return await self.post("slash", {"member": who, "command": command, "options": options, "timeout": timeout})

    async def say(self, member: str, content: str, channel: str = "general") -> None:
        status, _ = await self.post("say", {"member": member, "content": content, "channel": channel})
        assert status == 200

    # -- the database --------------------------------------------------------------------------------

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def fetchval(self, query: str, *args: Any) -> Any:
        rows = await self.fetch(query, *args)
        return rows[0][0] if rows else None

    async def leader(self) -> str | None:
        """The holder of an unexpired lease (None: nobody leads, or the first bot is still migrating)."""
        try:
            return await self.fetchval("SELECT holder FROM bot_leader WHERE expires_at > NOW()")
        except asyncpg.UndefinedTableError:
            return None

    async def holder_of(self, bot: BotProcess) -> str | None:
        return await self.fetchval(
            "SELECT holder FROM bot_leader_log WHERE split_part(holder, ':', 2) = $1 LIMIT 1", str(bot.pid)
        )


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 60.0, what: str = "the condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        await asyncio.sleep(0.1)


async def leads(processes: Processes, bot: BotProcess, *, timeout: float = 90.0) -> None:
    """`bot` holds the lease and its gateway is connected, its commands synced."""

    async def check() -> bool:
        assert bot.popen.poll() is None, f"{bot.name} exited ({bot.popen.returncode}):\n{bot.log[-3000:]}"
        holder = await processes.leader()
        state = await processes.state()
        return (
            holder is not None
            and holder.split(":")[1] == str(bot.pid)
            and state["connected"] >= 1
            and bot.says("ready as")
        )

    await eventually(check, timeout=timeout, what=f"{bot.name} leading")


async def standing_by(bot: BotProcess) -> bool:
    """`bot` is warm and waits for the lease (a check for `eventually`)."""
    assert bot.popen.poll() is None, f"{bot.name} exited ({bot.popen.returncode}):\n{bot.log[-3000:]}"
    return bot.says("standby: another process leads")
