"""Fixtures: one PostgreSQL per test session (embedded, or TEST_DATABASE_URL), a template database
migrated once, and a fresh database cloned from it for each test. TEST_POOLER=transaction (or
session) puts a real PgBouncer in that mode between the bot and the server (tests/pgbouncer.py)."""

from __future__ import annotations

import itertools
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from bot.sandbox.harness import Harness
from db import migrate
from db.embedded import EmbeddedServer
from db.pool import Database, connect, create_pool, with_database
from tests.pgbouncer import PgBouncer

TEMPLATE = f"conclave_template_{os.getpid()}"
TEST_POOLER = os.environ.get("TEST_POOLER")  # transaction | session: the harness's bot goes through PgBouncer
_counter = itertools.count()


@pytest.fixture(scope="session")
def admin_dsn() -> Iterator[str]:
    """A superuser (or CREATEDB) DSN on the server the tests use."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="conclave-test-") as tmp:
        server = EmbeddedServer(Path(tmp) / "pgdata")
        uri = server.start()
        try:
            yield uri
        finally:
            server.stop()


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    """A data directory for an embedded server of the test's own, outside pytest's tmp_path: run as
    root, the server runs as its own unprivileged user, and another pytest session starting on the
    machine makes /tmp/pytest-of-<user> private again, so that user could no longer reach its files."""
    with tempfile.TemporaryDirectory(prefix="conclave-test-") as tmp:
        yield Path(tmp) / "data"


async def _create_database(admin: str, name: str, template: str | None = None) -> None:
    conn = await asyncpg.connect(admin)
    try:
        suffix = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await conn.close()


async def _drop_database(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def template_db(admin_dsn: str) -> AsyncIterator[str]:
    await _drop_database(admin_dsn, TEMPLATE)
    await _create_database(admin_dsn, TEMPLATE)
    conn = await connect(with_database(admin_dsn, TEMPLATE))
    try:
        await migrate.upgrade(conn)
    finally:
        await conn.close()
    yield TEMPLATE
    await _drop_database(admin_dsn, TEMPLATE)


async def fresh_database(admin_dsn: str, template: str | None) -> str:
    name = f"t_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    await _create_database(admin_dsn, name, template)
    return name


@pytest.fixture
async def db_dsn(admin_dsn: str, template_db: str) -> AsyncIterator[str]:
    """A migrated database of this test's own."""
    name = await fresh_database(admin_dsn, template_db)
    yield with_database(admin_dsn, name)
    await _drop_database(admin_dsn, name)


@pytest.fixture
async def empty_dsn(admin_dsn: str) -> AsyncIterator[str]:
    """An empty database (no migrations applied)."""
    name = await fresh_database(admin_dsn, None)
    yield with_database(admin_dsn, name)
    await _drop_database(admin_dsn, name)


@pytest.fixture
async def conn(db_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(db_dsn)
    yield connection
    await connection.close()


@pytest.fixture
async def pool(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(db_dsn, min_size=1, max_size=5)
    yield p
    await p.close()


@pytest.fixture(scope="session")
def test_pooler(admin_dsn: str) -> Iterator[PgBouncer | None]:
    """PgBouncer in TEST_POOLER's mode in front of the test server, or None."""
    if not TEST_POOLER:
        yield None
        return
    with PgBouncer(admin_dsn, TEST_POOLER) as bouncer:
        yield bouncer


@pytest.fixture
async def harness(
    db_dsn: str, tmp_path: Path, test_pooler: PgBouncer | None, request: pytest.FixtureRequest
) -> AsyncIterator[Harness]:
    """The stand-in with the demo guild and the real bot connected to it, on this test's database
    (through TEST_POOLER's PgBouncer when set; the test's own connections stay direct). Whatever the
    bot sent that Discord would refuse (a 50035 Invalid Form Body: a message, modal, choice list or
    command over Discord's limits) fails the test, whatever it asserted."""
    database = Database(dsn=test_pooler.url_for(db_dsn)) if test_pooler else None
    h = await Harness.create(db_dsn, tmp_path / "data", database)
    try:
        yield h
    finally:
        await h.close()
    if request.node.get_closest_marker("refusals_expected") is None:
        refused = [f"{r.method} {r.path}: {r.errors}" for r in h.standin.refusals]
        assert not refused, "the stand-in refused what Discord would refuse:\n" + "\n".join(refused)


@pytest.fixture
async def sandbox(harness: Harness) -> Harness:
    """The harness with the bot started and ready."""
    await harness.start_bot()
    return harness


@pytest.fixture
async def probe(harness: Harness) -> Harness:
    """The started harness with the test-only probe cog loaded as well."""
    harness.community = harness.demo.community_config(cogs=["cogs.core", "tests.support_cog"])
    await harness.start_bot()
    return harness
