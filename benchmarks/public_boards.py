"""What the public website reads, at a million members, as anon.

    python benchmarks/public_boards.py [--members 1000000] [--samples 500] [--page 100]
                                       [--database-url URL]

Seeds a fresh embedded database (the bot's schema, set-based SQL) with N members, or uses an
already seeded one (--database-url), then times each request the way PostgREST makes it (one
transaction, SET LOCAL ROLE anon, the JWT claims as a local setting, the query wrapped in
json_agg), with p50 and p99:
  - user_leaderboard: the first page, a page deep in the board by XP (`total_xp=lt.X`), and
    user_leaderboard_page() after a row anywhere (exact within ties);
  - pathway_leaderboard: the same for one pathway;
  - member_position() for random members, global and per pathway;
beside the guide's own view text (a window over every member) for the first page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import bench_seed  # noqa: E402
from benchmarks.figures import report as report_p99  # noqa: E402
from benchmarks.figures import timed  # noqa: E402
from bot.rules.xp import period_starts  # noqa: E402
from db import migrate  # noqa: E402
from db.pool import open_database  # noqa: E402

ANON = json.dumps({"role": "anon"})


async def as_anon(conn: asyncpg.Connection, sql: str, *args: object) -> str:
    """One PostgREST request: the rows as one JSON body."""
    async with conn.transaction():
        await conn.execute("SET LOCAL ROLE anon")
        await conn.execute("SELECT set_config('request.jwt.claims', $1, true)", ANON)
        return await conn.fetchval(
            f"SELECT coalesce(json_agg(_postgrest_t), '[]')::text FROM ({sql}) _postgrest_t", *args
        )


def report(name: str, samples: list[float]) -> float:
    return report_p99(name, samples, width=58)


async def measure(conn: asyncpg.Connection, args: argparse.Namespace) -> None:
    n, page = args.samples, args.page
    listed = await conn.fetchval("SELECT count(*) FROM user_leaderboard")
    print(f"user_leaderboard lists {listed:,} members (in the server, public profile); page size {page}")
    # Rows anywhere in the board to continue after: a sample of listed members' (xp, id).
    cursors = [
        (r["total_xp"], r["id"])
        for r in await conn.fetch(
            "SELECT total_xp, id FROM user_leaderboard WHERE total_xp > 0 ORDER BY hashtext(id) LIMIT $1", n
        )
    ]
    gaming = [
        (r["total_xp"], r["user_id"])
        for r in await conn.fetch(
            """SELECT total_xp, user_id FROM pathway_leaderboard WHERE pathway_id = 'gaming' AND total_xp > 0
               ORDER BY hashtext(user_id) LIMIT $1""",
            n,
        )
    ]
    worst = {}
    print("user_leaderboard (global):")
    worst["first page"] = report(
        f"first page (.limit({page}))",
        await timed(n, lambda i: as_anon(conn, "SELECT * FROM user_leaderboard LIMIT $1", page)),
    )
    worst["deep page"] = report(
        "a page deep in the board (.lt('total_xp', X))",
        await timed(
            n,
            lambda i: as_anon(conn, "SELECT * FROM user_leaderboard WHERE total_xp < $1 LIMIT $2", cursors[i][0], page),
        ),
    )
    worst["page after a row"] = report(
        "user_leaderboard_page(after a row anywhere)",
        await timed(
            n,
            lambda i: as_anon(conn, "SELECT * FROM user_leaderboard_page($1, $2, $3)", *cursors[i], page),
        ),
    )
    worst["position"] = report(
        "member_position(member)",
        await timed(n, lambda i: as_anon(conn, "SELECT member_position($1) AS rank", cursors[i][1])),
    )
    print("pathway_leaderboard (gaming):")
    worst["pathway first page"] = report(
        f"first page (.eq('pathway_id', 'gaming').limit({page}))",
        await timed(
            n,
            lambda i: as_anon(conn, "SELECT * FROM pathway_leaderboard WHERE pathway_id = 'gaming' LIMIT $1", page),
        ),
    )
    worst["pathway page after a row"] = report(
        "pathway_leaderboard_page('gaming', after a row anywhere)",
        await timed(
            n,
            lambda i: as_anon(
                conn, "SELECT * FROM pathway_leaderboard_page('gaming', $1, $2, $3)", *gaming[i % len(gaming)], page
            ),
        ),
    )
    worst["pathway position"] = report(
        "member_position(member, 'gaming')",
        await timed(
            n, lambda i: as_anon(conn, "SELECT member_position($1, 'gaming') AS rank", gaming[i % len(gaming)][1])
        ),
    )
    calls = max(3, n // 100)
    guide = report(
        f"the guide's view text, first page ({calls} calls)",
        await timed(calls, lambda i: bench_seed.guide_view_top_page(conn, page)),
    )
    print("summary (p99):")
    print(f"  pages {max(v for k, v in worst.items() if 'page' in k):.3f} ms at worst (goal 20 ms)")
    print(f"  positions {max(v for k, v in worst.items() if 'position' in k):.3f} ms at worst")
    print(f"  the guide's first page {guide:,.0f} ms: {guide / worst['first page']:,.0f}x the public view's")


async def main(args: argparse.Namespace) -> None:
    if args.database_url:
        conn = await asyncpg.connect(args.database_url)
        try:
            await measure(conn, args)
        finally:
            await conn.close()
        return
    week, month = period_starts(datetime.now(UTC), "UTC")
    with tempfile.TemporaryDirectory(prefix="conclave-public-") as tmp:
        database = await open_database(None, Path(tmp), name="public_boards")
        conn = await asyncpg.connect(database.dsn)
        try:
            await migrate.upgrade(conn)
            started = time.perf_counter()
            await bench_seed.seed_members(conn, args.members, week_start=week, month_start=month)
            await bench_seed.private_profiles(conn)
            print(f"seeded {args.members:,} members in {time.perf_counter() - started:.1f} s")
            await measure(conn, args)
        finally:
            await conn.close()
            database.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--database-url", help="an already seeded database (skips seeding)")
    asyncio.run(main(parser.parse_args()))
