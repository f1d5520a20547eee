"""Statistics at scale: a community of 100,000 members with a busy day behind it.

    python benchmarks/stats.py [--members 100000] [--ledger 200000] [--analytics 1000000]

Prints the database time of the server_stats refresh (every 5 minutes in the bot, and before each
/stats server or /stats pathway), of what /stats server reads for a year, /stats pathway's figures, the time to draw its chart for 365 days, an analytics batch of 5,000
rows, the pathway_stats_cache refresh (CONCURRENTLY), and the analytics retention delete.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_seed import seed_members  # noqa: E402
from bot.ui import charts  # noqa: E402
from db import maintenance, migrate, stats  # noqa: E402
from db.pool import create_pool, open_database  # noqa: E402


async def seed(conn, args: argparse.Namespace) -> None:
    today = date.today()
    await seed_members(conn, args.members, week_start=today - timedelta(days=today.weekday()), month_start=today)
    await conn.execute(
        """UPDATE users u SET pathways = p.ids
           FROM (SELECT user_id, jsonb_agg(pathway_id) AS ids FROM pathway_progress GROUP BY user_id) p
           WHERE p.user_id = u.id"""
    )
    # A busy day in the ledger: chat XP from a tenth of the members, some in a pathway.
    await conn.execute(
        """INSERT INTO xp_ledger (user_id, source, source_ref, pathway, amount, created_at)
           SELECT 'user_' || lpad((1 + g % ($2 / 10))::text, 9, '0'), 'message', 'bench' || g,
                  (ARRAY['gaming', 'lorebound', 'productive', 'news', NULL])[1 + g % 5], 20,
                  NOW() - (g % 3600) * INTERVAL '1 second'
           FROM generate_series(1, $1) AS g""",
        args.ledger,
        args.members,
    )
    # A year of analytics: joins, leaves and commands.
    await conn.execute(
        """INSERT INTO analytics (event_type, event_label, timestamp)
           SELECT (ARRAY['member_join', 'member_leave', 'command_used', 'command_used'])[1 + g % 4],
                  'rank', NOW() - (g % 400) * INTERVAL '1 day' - (g % 86400) * INTERVAL '1 second'
           FROM generate_series(1, $1) AS g""",
        args.analytics,
    )
    # A year of daily rows.
    await conn.execute(
        """INSERT INTO server_stats_daily (day, member_count, messages, voice_minutes, active_members, joins, leaves, xp,
                                           pathway_members)
           SELECT CURRENT_DATE - g, 90000 + g, 5000 + g % 700, 900, 8000, 40, 20,
                  jsonb_build_object('total', 100000, 'gaming', 30000, 'lorebound', 20000, 'productive', 10000,
                                     'news', 5000),
                  '{"gaming": 25000, "lorebound": 25000, "productive": 25000, "news": 25000}'
           FROM generate_series(1, 364) AS g"""
    )
    await conn.execute("ANALYZE")


async def timed(work, rounds: int = 5) -> list[float]:
    took = []
    for _ in range(rounds):
        started = time.perf_counter()
        await work()
        took.append(time.perf_counter() - started)
    return took


def ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms"


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="conclave-stats-") as tmp:
        database = await open_database(None, Path(tmp), name="stats")
        pool = await create_pool(database.dsn, min_size=1, max_size=2, command_timeout=None)
        async with pool.acquire() as conn:
            await migrate.upgrade(conn)
            started = time.perf_counter()
            await seed(conn, args)
            print(
                f"seeded {args.members:,} members, {args.ledger:,} ledger rows today, "
                f"{args.analytics:,} analytics rows in {time.perf_counter() - started:.1f} s"
            )

            async def refresh() -> None:
                await stats.refresh(conn, online_count=None, boost_level=2, boost_count=14)

            print(f"server_stats refresh (members, pathways, today's XP and moves): {ms(await timed(refresh))}")
            snapshot = await stats.refresh(conn, online_count=None, boost_level=2, boost_count=14)
            print(f"  -> {snapshot.member_count:,} members, {snapshot.xp['total']:,} XP today")

            history: list[stats.Day] = []

            async def read_year() -> None:
                nonlocal history
                await stats.current(conn)
                history = await stats.days(conn, await stats.today(conn) - timedelta(days=364))
                await stats.command_counts(conn, datetime.now(UTC) - timedelta(days=365))

            print(f"/stats server reads for a year ({len(history) or 365} days): {ms(await timed(read_year))}")
            summary = await stats.pathway_summary(conn, "gaming")
            print(
                f"/stats pathway's figures from pathway_progress ({summary.members_with_xp:,} with XP in gaming): "
                f"{ms(await timed(lambda: stats.pathway_summary(conn, 'gaming')))}"
            )
            draw = []
            for _ in range(3):
                begun = time.perf_counter()
                png = await asyncio.to_thread(
                    charts.server_chart, history, "The Conclave Realm", history[0].day, history[-1].day
                )
                draw.append(time.perf_counter() - begun)
            print(
                f"chart of {len(history)} days ({len(png) // 1024} KB PNG): first {draw[0] * 1000:.0f} ms "
                f"(imports matplotlib), then {ms(draw[1:])}"
            )

            rows = [
                stats.AnalyticsRow("command_used", datetime.now(UTC), None, str(100000000000000000 + i), label="rank")
                for i in range(5000)
            ]
            print(f"analytics batch of 5,000 rows: {ms(await timed(lambda: stats.insert_analytics(conn, rows)))}")
            print(
                f"pathway_stats_cache REFRESH CONCURRENTLY: {ms(await timed(lambda: maintenance.refresh_pathway_cache(conn), 3))}"
            )
            begun = time.perf_counter()
            deleted = await maintenance.delete_analytics_before(conn, datetime.now(UTC) - timedelta(days=365))
            print(
                f"analytics retention: {deleted:,} rows older than 365 days deleted in {time.perf_counter() - begun:.2f} s"
            )
        await pool.close()
        database.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--ledger", type=int, default=200_000)
    parser.add_argument("--analytics", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args()))
