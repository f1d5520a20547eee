"""The bot through real PgBouncers (session, transaction and statement mode, tests/pgbouncer.py) in
front of the test server, as through Supabase's poolers: the mode is detected, XP is written with
nothing dead-lettered, migrations and maintenance hold their locks, an unusable pooler and a wrong
DATABASE_URL are one line."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from bot.ops.maintenance import Maintenance, Retention
from bot.sandbox.harness import Harness
from db import maintenance, migrate
from db.pool import Database, UnusablePooler, connect, create_pool, detect_pool_mode, with_database
from tests.pgbouncer import PGBOUNCER, PgBouncer, free_port
from tests.test_e2e_faults import own_server  # noqa: F401  (the fixture)
from tests.xp_support import handled, start, total_xp

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    shutil.which(PGBOUNCER) is None, reason="PgBouncer is not installed (apt-get install pgbouncer; .ci/run does)"
)
_OURS = ("DISCORD_TOKEN", "DATABASE_URL", "DATABASE_DIRECT_URL", "DATABASE_POOL_MODE", "CONCLAVE_CONFIG")
STATEMENT_MODE = (
    "goes through a pooler in statement mode, where the bot's transactions cannot run: "
    "use its transaction or session mode (PgBouncer: pool_mode = transaction)"
)


@pytest.fixture(scope="module")
def bouncers(admin_dsn: str):
    with (
        PgBouncer(admin_dsn, "transaction") as transaction,
        PgBouncer(admin_dsn, "session") as session,
        PgBouncer(admin_dsn, "statement") as statement,
    ):
        yield {"transaction": transaction, "session": session, "statement": statement}


async def cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """`python -m bot ARGS` as an admin runs it, with these settings only."""
    base = {k: v for k, v in os.environ.items() if k not in _OURS} | {"PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=base | env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(), err.decode()


def runnable(tmp_path: Path) -> dict[str, str]:
    """What `python -m bot run` needs before it looks at the database."""
    config = tmp_path / "conclave.toml"
    config.write_text("guild_id = 123456789012345678\n")
    return {"DISCORD_TOKEN": "not-a-real-token", "CONCLAVE_CONFIG": str(config), "CONCLAVE_DATA_DIR": str(tmp_path)}


async def test_the_probe_tells_a_server_a_session_pooler_and_a_transaction_pooler_apart(db_dsn, bouncers):
    direct = await detect_pool_mode(db_dsn)
    session = await detect_pool_mode(bouncers["session"].url_for(db_dsn))
    transaction = await detect_pool_mode(bouncers["transaction"].url_for(db_dsn))
    assert (direct.mode, session.mode, transaction.mode) == ("direct", "session", "transaction")
    assert transaction.how == "detected: connections share server sessions"
    assert session.how == "detected: a pooler that refuses startup parameters, one session a connection"
    with pytest.raises(UnusablePooler) as refused:
        await detect_pool_mode(bouncers["statement"].url_for(db_dsn))
    assert str(refused.value) == f"DATABASE_URL {STATEMENT_MODE}"


async def _warm(url: str, sessions: int) -> None:
    """Leave `sessions` idle server sessions in the pooler's pool: as many clients in a transaction at once."""
    clients = [await asyncpg.connect(url, statement_cache_size=0) for _ in range(sessions)]
    try:
        transactions = [c.transaction() for c in clients]
        for client, transaction in zip(clients, transactions, strict=True):
            await transaction.start()
            await client.fetchval("SELECT pg_backend_pid()")
        pids = {await c.fetchval("SELECT pg_backend_pid()") for c in clients}
        assert len(pids) == sessions
        for transaction in transactions:
            await transaction.rollback()
    finally:
        for client in clients:
            await client.close()


@pytest.mark.parametrize("idle", [0, 1, 2, 3, 5])
async def test_the_probe_sees_a_transaction_pooler_that_hands_out_sessions_round_robin(admin_dsn, db_dsn, idle):
    """PgBouncer with server_round_robin = 1 hands out idle server sessions oldest first: with two idle,
    A's two statements ran on one and B's transaction on the other, which looked like a session pooler."""
    with PgBouncer(admin_dsn, "transaction", round_robin=True) as bouncer:
        url = bouncer.url_for(db_dsn)
        await _warm(url, idle)
        found = await detect_pool_mode(url)
        assert (found.mode, found.how) == ("transaction", "detected: connections share server sessions")
        with pytest.raises(UnusablePooler, match="set DATABASE_POOL_MODE=transaction"):
            await detect_pool_mode(url, "session")
    with PgBouncer(admin_dsn, "session", round_robin=True) as bouncer:  # one session a client, whatever the order
        url = bouncer.url_for(db_dsn)
        await _warm(url, idle)
        assert (await detect_pool_mode(url)).mode == "session"


async def test_a_pool_mode_setting_the_pooler_contradicts_is_refused(db_dsn, bouncers):
    with pytest.raises(UnusablePooler, match="set DATABASE_POOL_MODE=transaction"):
        await detect_pool_mode(bouncers["transaction"].url_for(db_dsn), "session")
    with pytest.raises(UnusablePooler, match="refuses startup parameters"):
        await detect_pool_mode(bouncers["session"].url_for(db_dsn), "direct")
    # What works everywhere is allowed everywhere: transaction mode on a server of its own.
    assert (await detect_pool_mode(db_dsn, "transaction")).mode == "transaction"


async def test_port_6543_is_taken_for_supabases_transaction_pooler(admin_dsn, db_dsn):
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 6543))
    except OSError:
        pytest.skip("port 6543 is in use on this machine")
    with PgBouncer(admin_dsn, "session", port=6543) as bouncer:  # a probe alone would say session
        found = await detect_pool_mode(bouncer.url_for(db_dsn))
    assert (found.mode, found.how) == ("transaction", "port 6543, Supabase's transaction pooler")


async def test_named_prepared_statements_break_through_a_transaction_pooler_and_the_bots_pool_uses_none(
    db_dsn, bouncers
):
    url = bouncers["transaction"].url_for(db_dsn)

    async def many(pool: asyncpg.Pool) -> list[int]:
        return await asyncio.gather(
            *(pool.fetchval(f"SELECT $1::int + {i % 7}, pg_sleep(0.001)::text IS NULL", i) for i in range(300))
        )

    cached = await create_pool(url, min_size=8, max_size=8, pool_mode="session")  # asyncpg's statement cache
    try:
        with pytest.raises((asyncpg.InvalidSQLStatementNameError, asyncpg.DuplicatePreparedStatementError)):
            for _ in range(5):
                await many(cached)
    finally:
        cached.terminate()
    pool = await create_pool(url, min_size=8, max_size=8, pool_mode="transaction")
    try:
        for _ in range(5):
            assert await many(pool) == [i + i % 7 for i in range(300)]
    finally:
        await pool.close()


@asynccontextmanager
async def harness_through(bouncer: PgBouncer, db_dsn: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """The stand-in and the bot, whose database is this test's through `bouncer`."""
    harness = await Harness.create(db_dsn, tmp_path / "data", Database(dsn=bouncer.url_for(db_dsn)))
    try:
        yield harness
    finally:
        await harness.close()


async def chat(harness: Harness, rounds: int) -> None:
    """alice, bob and carol each say `rounds` messages, and the bot writes what they earned."""
    assert harness.bot is not None
    already = harness.bot.chat_activity.received
    members = [harness.member(n) for n in ("alice", "bob", "carol")]
    for round_ in range(rounds):
        for who in members:
            who.say(f"round {round_} of the pooler test from {who.member.user.username}")
    await handled(harness.bot, already + 3 * rounds)


async def test_xp_is_written_through_a_transaction_pooler_and_nothing_is_dead_lettered(db_dsn, tmp_path, bouncers):
    async with harness_through(bouncers["transaction"], db_dsn, tmp_path) as harness:
        bot = await start(harness)
        assert bot.database.pool_mode == "transaction"
        await chat(harness, 10)
        await harness.stop_bot()  # and a second start through the pooler: migrations checked again
        bot = await start(harness)
        await chat(harness, 5)
        for name in ("alice", "bob", "carol"):
            assert await total_xp(bot.pool, harness.member(name).id) == 20 * 15
        card = await harness.member("bob").slash("rank")  # a read through the pooler
        assert card.content.startswith("Bob: level ") and ", 300 XP, #" in card.content
        assert await bot.pool.fetchval("SELECT count(*) FROM dead_letters") == 0
        assert bot.refused_writes == 0


async def test_xp_is_written_through_a_session_pooler_with_custom_plans(db_dsn, tmp_path, bouncers):
    async with harness_through(bouncers["session"], db_dsn, tmp_path) as harness:
        bot = await start(harness)
        assert bot.database.pool_mode == "session"
        await chat(harness, 4)
        assert await total_xp(bot.pool, harness.member("carol").id) == 80
        assert await bot.pool.fetchval("SELECT count(*) FROM dead_letters") == 0
        for _ in range(3):  # set once the connection opens, and again after each release's RESET ALL
            async with bot.pool.acquire() as conn:
                assert await conn.fetchval("SHOW plan_cache_mode") == "force_custom_plan"


async def test_an_outage_behind_a_transaction_pooler_is_ridden_out_and_nothing_is_dead_lettered(
    own_server,  # noqa: F811  (the fixture imported above)
    tmp_path,
):
    server, dsn = own_server
    with PgBouncer(dsn, "transaction", query_wait_s=3) as bouncer:  # waiting clients get an error after 3 s
        async with harness_through(bouncer, dsn, tmp_path) as harness:
            bot = await start(harness)
            await chat(harness, 1)
            await asyncio.to_thread(server.stop)  # PgBouncer stays up: its clients see its errors
            members = [harness.member(n) for n in ("alice", "bob", "carol")]
            for round_ in range(3):
                for who in members:
                    who.say(f"said through the pooler during the outage {round_}")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while bot.chat_activity.received < 12 and loop.time() < deadline:
                await asyncio.sleep(0.05)
            deadline = loop.time() + 20  # PgBouncer makes its clients wait for a server (query_wait_timeout)
            while not bot.write_health.down and loop.time() < deadline:
                await asyncio.sleep(0.1)
            assert bot.write_health.down
            await asyncio.to_thread(server.start)
            deadline = loop.time() + 30
            while (bot.doors.xp.engine.pending or bot.write_health.down) and loop.time() < deadline:
                await asyncio.sleep(0.1)
            for who in members:
                assert await total_xp(bot.pool, who.id) == 20 * 4
            assert await bot.pool.fetchval("SELECT count(*) FROM dead_letters") == 0
            assert bot.refused_writes == 0


async def test_migrations_run_up_down_and_up_through_a_transaction_pooler(empty_dsn, bouncers):
    conn = await connect(bouncers["transaction"].url_for(empty_dsn), pool_mode="transaction")
    try:
        everything = len(migrate.discover())
        assert len(await migrate.upgrade(conn)) == everything
        assert len(await migrate.downgrade(conn, to=0)) == everything
        assert await conn.fetchval("SELECT count(*) FROM migrations") == 0
        assert len(await migrate.upgrade(conn)) == everything
    finally:
        await conn.close()


async def test_concurrent_migrations_through_a_transaction_pooler_never_interleave(empty_dsn, bouncers):
    conns = [await connect(bouncers["transaction"].url_for(empty_dsn), pool_mode="transaction") for _ in range(3)]
    try:
        results = await asyncio.wait_for(asyncio.gather(*(migrate.upgrade(c) for c in conns)), 120)
        assert sorted(len(r) for r in results) == [0, 0, len(migrate.discover())]
    finally:
        for c in conns:
            await c.close()


async def test_migrate_uses_the_direct_url_when_the_bot_goes_through_a_pooler(empty_dsn, bouncers, tmp_path):
    migrations = tmp_path / "sql"
    shutil.copytree(migrate.MIGRATIONS_DIR, migrations)
    (migrations / "900_where_from.sql").write_text(
        "CREATE TABLE where_from AS SELECT current_setting('application_name') AS app;\n"
    )
    (migrations / "900_where_from.down.sql").write_text("DROP TABLE where_from;\n")
    pooled = bouncers["transaction"].url_for(empty_dsn) + "?application_name=through-the-pooler"
    direct = empty_dsn + ("&" if "?" in empty_dsn else "?") + "application_name=direct"
    env = {"DATABASE_URL": pooled, "DATABASE_DIRECT_URL": direct, "CONCLAVE_MIGRATIONS_DIR": str(migrations)}
    code, out, err = await cli("migrate", "up", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "applied 001_core_schema" in out and "applied 900_where_from" in out
    conn = await connect(empty_dsn)
    try:
        assert await conn.fetchval("SELECT app FROM where_from") == "direct"
    finally:
        await conn.close()
    code, out, err = await cli("migrate", "status", env=env | {"DATABASE_DIRECT_URL": ""}, cwd=tmp_path)
    assert code == 0 and "0 pending" in out, err  # through the pooler alone too


async def test_maintenance_through_a_transaction_pooler_runs_each_job_once(conn, db_dsn, bouncers):
    url = bouncers["transaction"].url_for(db_dsn)
    retention = Retention(analytics_days=90, outbox_days=30, pathway_cache_minutes=15)
    processes = [Maintenance(url, retention, pool_mode="transaction") for _ in range(2)]
    for _ in range(3):
        outcomes = await asyncio.gather(*(p.run("vacuum:weekly") for p in processes))
        assert sorted(o is None for o in outcomes) == [False, True]  # one ran, the other skipped
        await conn.execute("UPDATE maintenance_runs SET last_status = 'failed'")  # due again: the lock was let go
    runs = {r.job: r for r in await maintenance.runs(conn)}
    assert runs["vacuum:weekly"].runs == 3
    assert sorted(outcome for p in processes for _, outcome in p.history) == ["ran"] * 3 + ["skipped"] * 3


async def test_a_pooler_in_statement_mode_is_refused_at_start_with_one_line(db_dsn, bouncers, tmp_path):
    url = bouncers["statement"].url_for(db_dsn)
    env = {"DATABASE_URL": url}
    results = await asyncio.gather(
        cli("run", env=env | runnable(tmp_path), cwd=tmp_path),
        cli("migrate", "up", env=env, cwd=tmp_path),
        cli("doctor", env=env, cwd=tmp_path),
    )
    for code, out, err in results:
        assert code == 1 and out == ""
        assert err == f"conclave: DATABASE_URL {STATEMENT_MODE}\n"


def _wrong_urls(admin_dsn: str, bouncer: PgBouncer) -> dict[str, tuple[str, str]]:
    """A wrong DATABASE_URL, and what its line says."""
    return {
        "bad host": (
            "postgresql://postgres:hunter2@no-such-host.invalid:5432/conclave",
            "DATABASE_URL: cannot connect to no-such-host.invalid:5432/conclave: the host name does not resolve",
        ),
        "refused port": (
            f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/conclave",
            "connection refused: nothing accepts connections there",
        ),
        "bad password": (
            bouncer.url("conclave", password="hunter2"),
            "password authentication failed (check the user and password in the URL)",  # PgBouncer's words
        ),
        "missing database": (
            with_database(admin_dsn, "no_such_database"),
            'database "no_such_database" does not exist (check the database name at the end of the URL)',
        ),
        "not a URL": (
            "postgresql://postgres:hunter2@127.0.0.1:port/conclave",
            "DATABASE_URL is not a usable PostgreSQL URL (its port is not a number)",
        ),
    }


@pytest.mark.parametrize("case", ["bad host", "refused port", "bad password", "missing database", "not a URL"])
async def test_a_wrong_database_url_is_one_line_from_run_migrate_and_doctor(case, admin_dsn, bouncers, tmp_path):
    url, said = _wrong_urls(admin_dsn, bouncers["transaction"])[case]
    env = {"DATABASE_URL": url}
    results = await asyncio.gather(
        cli("run", env=env | runnable(tmp_path), cwd=tmp_path),
        cli("migrate", "up", env=env, cwd=tmp_path),
        cli("doctor", env=env, cwd=tmp_path),
    )
    for code, out, err in results:
        assert code == 1 and out == "", err
        assert err.startswith("conclave: ") and err.endswith("\n") and err.count("\n") == 1, err
        assert said in err and "hunter2" not in err


async def test_doctor_shows_how_each_url_is_reached(db_dsn, bouncers, tmp_path):
    env = {"DATABASE_URL": bouncers["transaction"].url_for(db_dsn), "DATABASE_DIRECT_URL": db_dsn}
    code, out, err = await cli("doctor", env=env, cwd=tmp_path)
    assert code == 0, out + err
    assert (
        "connection: DATABASE_URL through a transaction pooler (detected: connections share server sessions); "
        "migrations, maintenance and backups through DATABASE_DIRECT_URL (direct)\n"
    ) in out
    code, out, err = await cli("doctor", env={"DATABASE_URL": bouncers["session"].url_for(db_dsn)}, cwd=tmp_path)
    assert code == 0, out + err
    assert "connection: DATABASE_URL through a session pooler (detected: a pooler that refuses startup" in out


async def test_a_backup_through_a_transaction_pooler_asks_for_the_direct_url(db_dsn, bouncers, tmp_path):
    pooled = {"DATABASE_URL": bouncers["transaction"].url_for(db_dsn)}
    target = tmp_path / "conclave.dump"
    code, out, err = await cli("backup", "--to", str(target), env=pooled, cwd=tmp_path)
    assert code == 1 and not target.exists()
    assert err == (
        "conclave: backup failed: pg_dump and pg_restore need a session of their own, which a transaction pooler "
        "does not keep: set DATABASE_DIRECT_URL to the direct connection string (or a session pooler's)\n"
    )
    code, out, err = await cli(
        "backup", "--to", str(target), env=pooled | {"DATABASE_DIRECT_URL": db_dsn}, cwd=tmp_path
    )
    assert code == 0, err
    assert target.stat().st_size > 0 and out.startswith(f"backup written to {target}")


async def test_an_unknown_pool_mode_is_a_configuration_error(tmp_path):
    code, out, err = await cli("migrate", "status", env={"DATABASE_POOL_MODE": "statement"}, cwd=tmp_path)
    assert out == ""
    assert code == 2 and "Traceback" not in err
    assert "environment: 'database_pool_mode' = 'statement' is invalid" in err


async def test_a_wrong_direct_url_is_one_line_naming_it(db_dsn, tmp_path):
    wrong = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/conclave"
    code, out, err = await cli(
        "migrate", "up", env={"DATABASE_URL": db_dsn, "DATABASE_DIRECT_URL": wrong}, cwd=tmp_path
    )
    assert code == 1 and out == ""
    assert err.startswith("conclave: DATABASE_DIRECT_URL: cannot connect to 127.0.0.1:") and err.count("\n") == 1
    assert "connection refused" in err and "hunter2" not in err


async def test_the_leader_lease_works_through_a_transaction_pooler_and_leaves_no_session_state(bouncers, db_dsn):
    """Each lease statement is its own transaction (its timeouts SET LOCAL): through PgBouncer's
    transaction mode the lease is held, renewed, refused to a second process and released, and no
    server session keeps a timeout the lease set."""
    from bot.core.leadership import Leadership
    from db import leader

    url = bouncers["transaction"].url_for(db_dsn)
    first, second = (
        Leadership(Database(dsn=url, pool_mode="transaction"), 77, holder=name) for name in ("first", "second")
    )
    try:
        fence = await first.try_acquire()
        assert fence is not None and await second.try_acquire() is None
        conn = await connect(url, pool_mode="transaction")
        try:
            for _ in range(5):
                assert (await leader.renew(conn, fence, 10)).held
                assert (await first.lease()).holder == "first"  # its own transaction, timeouts SET LOCAL
                assert await conn.fetchval("SHOW lock_timeout") == "0"  # whichever session answers
        finally:
            await conn.close()
        await first.release()
        assert (await second.try_acquire()).token == 2
    finally:
        await first.close()
        await second.close()


async def test_an_import_goes_in_by_copy_through_a_transaction_pooler(db_dsn, bouncers, monkeypatch):
    """Each chunk copies its members into a temporary table that lives and dies in the chunk's
    transaction, so chunks landing on different server connections of the pooler find theirs."""
    from bot.importing import importer
    from db import ledger
    from tests.test_import import community, mee6_page, mee6_player, plan_of

    monkeypatch.setattr(importer, "CHUNK", 3)
    players = [mee6_player(str(700_000_000_000_000_000 + i), 2 + i) for i in range(10)]
    pool = await create_pool(bouncers["transaction"].url_for(db_dsn), min_size=3, max_size=3, pool_mode="transaction")
    try:
        first = await importer.run(pool, community(), plan_of(mee6_page(players)))
        again = await importer.run(pool, community(), plan_of(mee6_page(players)))
        assert (first.imported, again.imported, again.unchanged) == (10, 0, 10)
        assert await pool.fetchval("SELECT count(*) FROM xp_ledger WHERE source = 'import'") == 10
        assert await ledger.ledger_mismatches(pool) == []
    finally:
        await pool.close()
