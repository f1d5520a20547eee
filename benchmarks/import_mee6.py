"""Importing a million MEE6 players, with /rank answered meanwhile.

    python benchmarks/import_mee6.py [--players 1000000] [--members 1000000]

Seeds a fresh embedded database with N members (as the member sync leaves them), writes a MEE6
leaderboard export of P players (most of them those members, the rest unknown here), then times
`python -m bot import`'s work end to end: reading and checking the file, mapping the levels, and
writing it through the ledger in chunks. Meanwhile another connection asks what /rank asks of
PostgreSQL (a member's board XP) in a loop: its p50 and p99 while the import runs. At the end the
rank index is checked the way the bot checks it (fingerprints), rebuilt if it drifted, and 200
members' positions compared with a count in SQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import bench_seed  # noqa: E402
from benchmarks.figures import percentile  # noqa: E402
from bot.core.community import CommunityConfig  # noqa: E402
from bot.importing import importer  # noqa: E402
from bot.importing import sources as src  # noqa: E402
from bot.rules.ranking import Rankings  # noqa: E402
from bot.rules.xp import period_starts  # noqa: E402
from db import boards, migrate  # noqa: E402
from db.pool import create_pool, open_database  # noqa: E402


def export(players: int, members: int) -> bytes:
    rng = random.Random(7)
    rows = []
    for g in range(1, players + 1):
        # 9 in 10 players are members the bot knows; the others left before it came.
        known = g <= members and g % 10 != 0
        discord_id = 100_000_000_000_000_000 + (g if known else members + g)
        level = min(int(rng.paretovariate(1.6)) - 1, 120)
        start, end = src.mee6_total_for_level(level), src.mee6_total_for_level(level + 1)
        into = rng.randrange(end - start)
        rows.append(
            {
                "id": str(discord_id),
                "username": f"player{g}",
                "discriminator": "0",
                "avatar": None,
                "xp": start + into,
                "level": level,
                "message_count": rng.randrange(5000),
                "detailed_xp": [into, end - start, start + into],
            }
        )
    return json.dumps({"players": rows, "role_rewards": [], "xp_per_message": [15, 25], "xp_rate": 1}).encode()


async def main(args: argparse.Namespace) -> None:
    week, month = period_starts(datetime.now(UTC), "UTC")
    with tempfile.TemporaryDirectory(prefix="conclave-import-") as tmp:
        database = await open_database(None, Path(tmp), name="importbench")
        # the import's lanes (as the CLI's pool has) and the /rank asker beside them
        pool = await create_pool(database.dsn, min_size=1, max_size=importer.LANES + 1, command_timeout=None)
        try:
            async with pool.acquire() as conn:
                await migrate.upgrade(conn)
                started = time.perf_counter()
                await bench_seed.seed_members(conn, args.members, week_start=week, month_start=month)
                print(f"seeded {args.members:,} members in {time.perf_counter() - started:.1f} s")
                board = boards.Board("all", None, "")
                rankings = Rankings()
                rankings.board(("all", None, "")).load(await boards.histogram(conn, board))
                sample = await bench_seed.random_members(conn, 500)
            path = Path(tmp) / "mee6.json"
            path.write_bytes(export(args.players, args.members))
            print(f"export: {args.players:,} players, {path.stat().st_size / 1024**2:,.0f} MB")

            latencies: list[float] = []
            done = asyncio.Event()

            async def ask_rank() -> None:
                async with pool.acquire() as conn:
                    i = 0
                    while not done.is_set():
                        began = time.perf_counter()
                        xp = await boards.member_xp(conn, board, sample[i % len(sample)])
                        rankings.position(("all", None, ""), xp)
                        latencies.append((time.perf_counter() - began) * 1000)
                        i += 1
                        await asyncio.sleep(0.02)  # a busy server: 50 /rank a second

            asker = asyncio.create_task(ask_rank())
            started = time.perf_counter()
            data = path.read_bytes()
            parsed = await asyncio.to_thread(importer.parse_bytes, data, "mee6")
            plan = importer.plan(parsed, importer.Options("mee6", origin=path.name))
            read_s = time.perf_counter() - started
            summary = await importer.run(pool, CommunityConfig(), plan)
            total_s = time.perf_counter() - started
            done.set()
            await asker
            print(
                f"imported {summary.imported:,} players ({summary.total_xp:,} XP) in {total_s:.1f} s "
                f"(reading and mapping {read_s:.1f} s, writing {total_s - read_s:.1f} s; "
                f"{summary.imported / total_s:,.0f} a second; goal <= 60 s)"
            )
            print(
                f"/rank meanwhile ({len(latencies):,} asked): p50 {statistics.median(latencies):.2f} ms, "
                f"p99 {percentile(latencies, 99):.2f} ms (goal <= 100 ms)"
            )
            async with pool.acquire() as conn:
                truth = await boards.fingerprints(conn, week, month)
                key = ("all", None, "")
                drifted = truth.get(key, (0, 0)) != rankings.board(key).fingerprint()
                if drifted:
                    rankings.board(key).load(await boards.histogram(conn, board))
                wrong = 0
                for user_id in sample[:200]:
                    xp = await boards.member_xp(conn, board, user_id)
                    expected = await boards.count_above(conn, board, xp) + 1 if xp > 0 else None
                    wrong += rankings.position(key, xp) != expected
                print(
                    f"rank index after the import: {'drifted, rebuilt by the check' if drifted else 'matched'}; "
                    f"{200 - wrong}/200 positions exact"
                )
        finally:
            await pool.close()
            database.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--players", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args()))
