"""What a hard kill loses: SIGKILL the bot while chat streams in, then count what reached PostgreSQL.

    python benchmarks/crash.py [--rate 500] [--trials 3]

The stand-in and the bot (`python -m bot run`, every message earning XP: no cooldown) run as separate
processes on an embedded PostgreSQL this script owns. After a few seconds of streaming the bot is
killed with SIGKILL (no flush, no goodbye). Lost = messages the stand-in had sent before the kill
minus message grants in the ledger. The design bound: one flush interval (1 s) of grants, plus what
was still in flight on the socket. Prints each trial and the worst, in messages and in seconds of chat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_counts import message_grants  # noqa: E402
from db.pool import connect, open_database, recreate_database  # noqa: E402


async def wait_for(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        await asyncio.sleep(0.1)


async def trial(args: argparse.Namespace, database, tmp: Path, number: int) -> tuple[int, int]:
    await recreate_database(database.dsn)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DISCORD_TOKEN")}
    env["PYTHONPATH"] = str(ROOT)
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.sandbox.serve", "--port", "0", "--members", "300"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp,
    )
    bot = None
    try:
        info = json.loads(server.stdout.readline())
        base = info["api_base"].removesuffix("/api/v10")
        config = tmp / f"conclave-{number}.toml"
        config.write_text(f"guild_id = {info['guild_id']}\n[xp]\ncooldown_seconds = 0\nflush_interval_seconds = 1.0\n")
        bot_env = {
            **env,
            "DISCORD_TOKEN": info["token"],
            "DISCORD_API_BASE": info["api_base"],
            "DATABASE_URL": database.dsn,
            "CONCLAVE_CONFIG": str(config),
            "LOG_LEVEL": "WARNING",
        }
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            env=bot_env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with aiohttp.ClientSession() as session:

            async def connected() -> bool:
                async with session.get(f"{base}/_sandbox/state") as r:
                    state = await r.json()
                async with session.get(f"{base}/_sandbox/commands") as r:
                    synced = (await r.json())["guild"]
                return state["sessions"] == 1 and bool(synced)

            await wait_for(connected, 60)
            await asyncio.sleep(2.0)  # the member sync at ready
            async with session.post(f"{base}/_sandbox/stream", json={"rate": args.rate, "seconds": 30}):
                pass
            await asyncio.sleep(args.kill_after)
            bot.send_signal(signal.SIGKILL)
            async with session.get(f"{base}/_sandbox/stream") as r:
                sent = (await r.json())["sent"]  # what the stand-in had sent when the bot died
            bot.wait(10)
        conn = await connect(database.dsn)
        try:
            written = await message_grants(conn)
        finally:
            await conn.close()
        return written, sent
    finally:
        if bot is not None and bot.poll() is None:
            bot.kill()
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="conclave-crash-") as tmp_name:
        tmp = Path(tmp_name)
        database = await open_database(None, tmp / "data", name="crash")
        worst = 0.0
        for number in range(1, args.trials + 1):
            written, sent = await trial(args, database, tmp, number)
            lost = max(0, sent - written)
            seconds = lost / args.rate
            worst = max(worst, seconds)
            print(
                f"trial {number}: {sent:,} messages sent before the kill, {written:,} grants in PostgreSQL, "
                f"lost {lost:,} ({seconds:.2f} s of chat)"
            )
        database.close()
        print(f"worst loss: {worst:.2f} s of chat at {args.rate:.0f} msg/s (bound: flush interval 1.0 s + in flight)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--kill-after", type=float, default=4.0)
    parser.add_argument("--trials", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
