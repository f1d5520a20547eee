"""Leaderboard speed at a million members.

    python benchmarks/leaderboard.py [--members 1000000] [--samples 1000] [--database-url URL]

Seeds a fresh embedded database (the bot's schema) with N members, builds the bot's rank index the
way the bot does at start-up, then times, per call, with p50 and p99:
  - a member's /rank position: their board XP from PostgreSQL + the position from the index,
  - a /leaderboard page: the first page, a page deep in the board (keyset), "my position",
for the all-time, monthly and weekly boards; and beside them the guide's user_leaderboard view
(top-10 page, one member's rank) and a plain count of higher scores, with the ratios.
Positions are exact as of the last committed flush (the index moves with every commit).
"""

from __future__ import annotations

import argparse
import asyncio
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
from benchmarks.figures import report, timed  # noqa: E402
from bot.rules.ranking import Rankings, XPCounter  # noqa: E402
from bot.rules.xp import period_starts  # noqa: E402
from cogs.xp.engine import COUNTS_CHECK_EVERY, RECONCILE_EVERY_S  # noqa: E402
from db import boards, migrate  # noqa: E402
from db.pool import create_pool, open_database  # noqa: E402


async def main(args: argparse.Namespace) -> None:
    week, month = period_starts(datetime.now(UTC), "UTC")
    with tempfile.TemporaryDirectory(prefix="conclave-lb-") as tmp:
        database = await open_database(args.database_url, Path(tmp), name="leaderboard")
        pool = await create_pool(database.dsn, min_size=1, max_size=2, command_timeout=None)  # seeding 1M rows
        async with pool.acquire() as conn:
            if not args.database_url:
                await migrate.upgrade(conn)
                started = time.perf_counter()
                await bench_seed.seed_members(conn, args.members, week_start=week, month_start=month)
                print(f"seeded {args.members:,} members in {time.perf_counter() - started:.1f} s")
            rankings = Rankings()
            started = time.perf_counter()
            keys = [("all", None, ""), ("all", None, "gaming"), ("month", month, ""), ("week", week, "")]
            for key in keys:
                rankings.board(key).load(await boards.histogram(conn, boards.Board(*key)))
            print(
                f"rank index built for {len(keys)} boards in {time.perf_counter() - started:.2f} s "
                f"(the bot does this at start-up for every board)"
            )
            grown = XPCounter()
            grown.load([(2**21, 1)])  # a board whose top XP reached 2^21
            started = time.perf_counter()
            grown.move(0, 2**21 + 1)  # a staff gift crosses the power of two: the tree doubles
            print(f"rank index growth 2^21 -> 2^22 XP values: {(time.perf_counter() - started) * 1000:.1f} ms")
            check = await timed(20, lambda i: boards.fingerprints(conn, week, month))
            counted = await timed(3, lambda i: boards.counts_differ(conn, week, month))
            per_minute = statistics.median(check) + statistics.median(counted) / COUNTS_CHECK_EVERY
            print(
                f"background rank index check: board_totals read p50 {statistics.median(check):.2f} ms "
                f"(every {RECONCILE_EVERY_S:.0f} s), the tables counted p50 {statistics.median(counted):.0f} ms "
                f"(every {COUNTS_CHECK_EVERY}th check): {per_minute:.0f} ms of database time a minute, "
                f"{per_minute / 600:.2f}% of a core"
            )
            rng = random.Random(5)
            results: dict[str, float] = {}
            for key in keys:
                board = boards.Board(*key)
                members = await bench_seed.random_board_members(conn, board, args.samples)
                label = f"{key[0]}{'/' + key[2] if key[2] else ''}"
                print(f"{label} board ({rankings.board(key).members:,} members with XP):")

                async def position(i: int, board=board, key=key, members=members) -> None:
                    xp = await boards.member_xp(conn, board, members[i % len(members)])
                    rankings.position(key, xp)

                results[f"{label} position"] = report(
                    "/rank position (board XP + index)", await timed(args.samples, position)
                )

                async def first_page(i: int, board=board, key=key) -> None:
                    rows = await boards.page(conn, board, limit=11)
                    [rankings.position(key, r.xp) for r in rows]

                results[f"{label} first page"] = report(
                    "/leaderboard first page", await timed(args.samples, first_page)
                )
                cursors = []
                for user_id in members[: min(200, len(members))]:
                    row = await boards.member_row(conn, board, user_id)
                    if row is not None:
                        cursors.append((row.xp, row.user_id))

                async def deep_page(i: int, board=board, key=key, cursors=cursors) -> None:
                    rows = await boards.page(conn, board, after=rng.choice(cursors), limit=11)
                    [rankings.position(key, r.xp) for r in rows]

                if cursors:
                    results[f"{label} deep page"] = report(
                        "/leaderboard page anywhere (Next from a row)", await timed(args.samples, deep_page)
                    )

                async def around(i: int, board=board, key=key, members=members) -> None:
                    rows = await boards.window(conn, board, members[i % len(members)], above=4, below=5)
                    [rankings.position(key, r.xp) for r in rows]

                results[f"{label} my position"] = report("/leaderboard my position", await timed(args.samples, around))

            members = await bench_seed.random_members(conn, args.samples)
            print("the guide's user_leaderboard view, same data:")
            view_calls = max(5, args.samples // 100)
            view_page = report(
                "top-10 page from the view", await timed(view_calls, lambda i: bench_seed.view_top_page(conn))
            )
            view_rank = report(
                "one member's rank from the view",
                await timed(view_calls, lambda i: bench_seed.view_member_rank(conn, members[i])),
            )
            count = report(
                "plain count of higher scores",
                await timed(view_calls * 4, lambda i: bench_seed.plain_count_above(conn, rng.randint(0, 2000))),
            )
            ours_page = max(v for k, v in results.items() if "page" in k or "my position" in k)
            ours_rank = max(v for k, v in results.items() if "position" in k and "my" not in k)
            print("summary (p99, worst board):")
            print(
                f"  /rank position {ours_rank:.3f} ms vs view {view_rank:.1f} ms: {view_rank / ours_rank:,.0f}x faster;"
                f" vs plain count {count:.1f} ms: {count / ours_rank:,.0f}x"
            )
            print(
                f"  /leaderboard page {ours_page:.3f} ms vs view {view_page:.1f} ms: {view_page / ours_page:,.0f}x faster"
            )
            print("  positions: exact as of the last committed flush (at most one flush interval, 1 s, behind)")
        await pool.close()
        database.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--database-url", help="an already seeded, migrated database (skips seeding)")
    asyncio.run(main(parser.parse_args()))
