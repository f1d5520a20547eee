"""Interaction response time while chat streams in.

    python benchmarks/interactions.py [--rate 1000] [--seconds 20] [--members 2000]

The stand-in (its own process) streams `rate` messages a second from `members` members into the
full bot (every cog, PostgreSQL, the XP engine); meanwhile members use /rank, /leaderboard,
/profile and /about one after another. The stand-in measures each interaction from the moment it
dispatched INTERACTION_CREATE to the bot's first callback (what Discord's 3-second window counts),
and this prints p50/p99 per command and overall, and how many streamed messages the bot handled.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import random
import statistics
import sys
import tempfile
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.figures import percentile  # noqa: E402
from benchmarks.standin_process import standin_process  # noqa: E402
from bot.core.client import ConclaveBot  # noqa: E402
from db.pool import open_database  # noqa: E402

COMMANDS = [
    ("rank", {}),
    ("leaderboard", {}),
    ("profile", {}),
    ("about", {}),
    ("leaderboard", {"period": "week"}),
]


async def main(args: argparse.Namespace) -> None:
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    async with standin_process(args.members) as standin:
        info, base, config = standin.info, standin.base, standin.bot_config()
        with tempfile.TemporaryDirectory(prefix="conclave-ix-") as tmp:
            database = await open_database(None, Path(tmp), name="interactions")
            bot = ConclaveBot(config, database=database, guild_ready_timeout=0.5)
            task = asyncio.create_task(bot.start(info["token"]))
            await asyncio.wait_for(bot.guild_synced.wait(), 120)
            received_before = bot.chat_activity.received
            rng = random.Random(3)
            latencies: dict[str, list[float]] = {}
            async with aiohttp.ClientSession() as session:
                async with session.post(f"{base}/_sandbox/stream", json={"rate": args.rate, "seconds": args.seconds}):
                    pass
                await asyncio.sleep(1.0)  # let the stream reach its rate
                for command, options in itertools.cycle(COMMANDS):
                    async with session.get(f"{base}/_sandbox/stream") as r:
                        if (await r.json())["done"]:
                            break
                    member = f"member{rng.randrange(args.members):06d}"
                    body = {"member": member, "command": command, "options": options, "timeout": 10}
                    async with session.post(f"{base}/_sandbox/slash", json=body) as r:
                        data = await r.json()
                    if r.status != 200 or data.get("first_response_ms") is None:
                        raise RuntimeError(f"/{command} failed: {data}")
                    name = command + (" (week)" if options else "")
                    latencies.setdefault(name, []).append(data["first_response_ms"])
                async with session.get(f"{base}/_sandbox/stream") as r:
                    sent = (await r.json())["sent"]
            await asyncio.sleep(1.0)
            handled = bot.chat_activity.received - received_before
            await bot.close()
            task.cancel()
            database.close()
        every = [v for values in latencies.values() for v in values]
        print(
            f"stream: {sent:,} messages in {args.seconds:.0f} s ({sent / args.seconds:,.0f}/s), "
            f"bot handled {handled:,}; {len(every)} interactions from {args.members:,} members"
        )
        for name, values in latencies.items():
            print(
                f"  /{name:<20} n={len(values):4d}  p50 {statistics.median(values):7.1f} ms  "
                f"p99 {percentile(values, 99):7.1f} ms  max {max(values):7.1f} ms"
            )
        print(
            f"all interactions: p50 {statistics.median(every):.1f} ms, p99 {percentile(every, 99):.1f} ms "
            f"(interaction dispatched -> first response, measured by the stand-in)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--members", type=int, default=2000)
    asyncio.run(main(parser.parse_args()))
