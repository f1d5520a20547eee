"""Message ingestion throughput: the full bot against a bare discord.py client on the same stream.

    python benchmarks/ingest.py [--messages 50000] [--members 5000] [--rounds 2] [--default-gc]

The stand-in runs in its own process and pushes N MESSAGE_CREATE events from M members over the
gateway. (a) a bare discord.py client with one trivial on_message listener and (b) the full bot
(every cog, the activity buffer, identity, PostgreSQL) receive the same stream, in alternating
rounds, the bot once with achievements on (the default: every XP flush is followed by the
evaluation of the members it wrote) and once with them off. Prints each rate, the ratios bot/bare
(the bot's per-message overhead), and how long after
the last message the bot had written every count to PostgreSQL. Each bare round runs in a default
interpreter (the collector's thresholds reset, nothing frozen); the bot tunes its collector once ready
(gc.freeze and higher thresholds): --default-gc leaves its thresholds at Python's defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import discord

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.standin_process import pin_database, standin_process  # noqa: E402
from bot.core import client as bot_client  # noqa: E402
from bot.core.client import ConclaveBot, intents_for  # noqa: E402
from bot.core.config import Config  # noqa: E402
from db.pool import open_database, recreate_database  # noqa: E402


class Meter:
    """Counts messages as the client handles them: the time of the first and of the last.

    The rate is measured between the two on the client's side, so it is the client's capacity,
    not the stand-in's sending speed (the stand-in encodes the whole burst before it sends)."""

    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    def tick(self, _message: object = None) -> None:
        now = time.perf_counter()
        if self.count == 0:
            self.first = now
        self.count += 1
        self.last = now

    def rate(self) -> float:
        return (self.count - 1) / (self.last - self.first)


async def wait_for_count(read, target: int, timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    while read() < target:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {read()} of {target} after {timeout}s")
        await asyncio.sleep(0.005)
    return time.perf_counter()


async def burst(session: aiohttp.ClientSession, base: str, count: int) -> None:
    async with session.post(f"{base}/_sandbox/burst", json={"count": count, "channel": "general"}) as response:
        response.raise_for_status()


DEFAULT_GC = gc.get_threshold()


async def run_bare(info: dict, config: Config, count: int, session, base: str) -> float:
    # A bare client in a default interpreter: undo what a previous bot round did to the collector
    # (the bot freezes its start-up objects and raises the thresholds once it is ready).
    gc.unfreeze()
    gc.set_threshold(*DEFAULT_GC)
    gc.collect()
    meter = Meter()
    ready = asyncio.Event()
    client = discord.Client(intents=intents_for(config), guild_ready_timeout=0.5)

    @client.event
    async def on_ready() -> None:
        ready.set()

    @client.event
    async def on_message(message: discord.Message) -> None:
        meter.tick()

    task = asyncio.create_task(client.start(info["token"]))
    await asyncio.wait_for(ready.wait(), 60)
    await burst(session, base, count)
    await wait_for_count(lambda: meter.count, count, 600)
    await client.close()
    task.cancel()
    return meter.rate()


async def run_bot(info: dict, config: Config, database, count: int, session, base: str) -> tuple[float, float]:
    bot = ConclaveBot(config, database=database, guild_ready_timeout=0.5)
    task = asyncio.create_task(bot.start(info["token"]))
    await asyncio.wait_for(bot.guild_synced.wait(), 120)
    meter = Meter()
    bot.message_hooks.append(meter.tick)  # after the bot's own hooks: counts fully handled messages
    before_flushed = bot.chat_activity.flushed_messages
    await burst(session, base, count)
    finished = await wait_for_count(lambda: meter.count, count, 600)
    persisted = await wait_for_count(lambda: bot.chat_activity.flushed_messages - before_flushed, count, 600)
    await bot.close()
    task.cancel()
    return meter.rate(), persisted - finished


async def main(args: argparse.Namespace) -> None:
    if args.default_gc:
        bot_client.GC_THRESHOLDS = DEFAULT_GC
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # a busy loop skips a flush: by design
    async with standin_process(args.members) as standin:
        info, base, config = standin.info, standin.base, standin.bot_config()
        with tempfile.TemporaryDirectory(prefix="conclave-bench-") as tmp:
            database = await open_database(None, Path(tmp), name="bench")
            # The bot's data directory (journals) in the temporary one too, not the checkout's.
            config = config.model_copy(
                update={"settings": config.settings.model_copy(update={"conclave_data_dir": Path(tmp)})}
            )
            pin_database(database)
            without = [c for c in config.community.cogs if c != "cogs.achievements"]
            configs = {
                "achievements on": config,
                "achievements off": config.model_copy(
                    update={"community": config.community.model_copy(update={"cogs": without})}
                ),
            }
            bare_rates: list[float] = []
            bot_rates: dict[str, list[float]] = {name: [] for name in configs}
            lags: list[float] = []
            async with aiohttp.ClientSession() as session:
                for round_no in range(1, args.rounds + 1):
                    bare = await run_bare(info, config, args.messages, session, base)
                    bare_rates.append(bare)
                    line = f"round {round_no}: bare {bare:,.0f} msg/s"
                    for name, bot_config in configs.items():
                        await recreate_database(database.dsn)  # every run starts from the same empty community
                        bot, lag = await run_bot(info, bot_config, database, args.messages, session, base)
                        bot_rates[name].append(bot)
                        if name == "achievements on":
                            lags.append(lag)
                        line += f"; bot ({name}) {bot:,.0f} msg/s, ratio {bot / bare:.2f}"
                    print(line)
            database.close()
        print(f"messages: {args.messages:,} from {args.members:,} members, {args.rounds} round(s), medians:")
        print(f"bare discord.py client: {statistics.median(bare_rates):,.0f} messages/s")
        for name, rates in bot_rates.items():
            ratios = [b / a for a, b in zip(bare_rates, rates, strict=True)]
            print(
                f"full bot, {name}: {statistics.median(rates):,.0f} messages/s, ratio bot/bare "
                f"{statistics.median(ratios):.2f} (median of the rounds' side-by-side ratios; "
                f"range {min(ratios):.2f}-{max(ratios):.2f})"
            )
        print(f"all counts in PostgreSQL {statistics.median(lags):.2f} s after the last message was handled")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--members", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="leave the bot's collector at Python's thresholds (the bot's own code's overhead alone)",
    )
    asyncio.run(main(parser.parse_args()))
