"""The migration runner: numbered `sql/NNN_name.sql` files with `NNN_name.down.sql` rollbacks."""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from db import default_privileges

log = logging.getLogger(__name__)


def _shipped_migrations() -> Path:
    """`sql/` of a checkout, or the `conclave_sql` package data of an installed wheel."""
    return Path(str(importlib.resources.files("conclave_sql")))


MIGRATIONS_DIR = Path(os.environ.get("CONCLAVE_MIGRATIONS_DIR") or _shipped_migrations())
# Any fixed 64-bit key: every process that migrates this database takes the same one (for the
# length of the run's transaction: see _locked).
ADVISORY_LOCK_KEY = 0x436F6E636C617665  # "Conclave"
# Files revised after they shipped, with the checksums of their earlier texts: a database where an
# earlier text ran is accepted and its record updated. Only for revisions that leave such a database
# where the revised file would (005 and 010 compared auth.uid() with TEXT ids, which fails on
# Supabase, whose auth.uid() returns uuid; 021 replaces those policies on every database).
REVISED: dict[int, frozenset[str]] = {
    5: frozenset({"3e04c0389abe32952d713172e162e796f1255ca662854fa8d7df49a1a1e58a96"}),
    10: frozenset({"e8b3793f5573dbd8c92aebbce4a15d1a4b61ef2c0ab4cca63ad572eeb09806f7"}),
}
_FILE = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  checksum TEXT NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  execution_ms INTEGER
);
COMMENT ON TABLE migrations IS
  'Schema migrations applied to this database (kept by python -m bot migrate)';
COMMENT ON COLUMN migrations.checksum IS
  'SHA-256 of the up file as applied; an edited applied file is refused';
"""


class MigrationError(Exception):
    """A migration cannot run; the message says why and what to do."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up_path: Path
    down_path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.up_path.read_bytes()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:03d}_{self.name}"


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: datetime
    execution_ms: int | None


@dataclass(frozen=True)
class MigrationStatus:
    version: int
    name: str
    applied_at: datetime | None
    state: str  # applied | pending | changed | missing


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations on disk, in version order; every up file needs its down file."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        if path.name.endswith(".down.sql"):
            continue
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_name.sql (lower case)")
        version, name = int(match.group(1)), match.group(2)
        if version in found:
            raise MigrationError(f"two migrations have version {version}: {found[version].up_path.name}, {path.name}")
        down = path.with_name(f"{match.group(1)}_{name}.down.sql")
        if not down.exists():
            raise MigrationError(f"{path.name} has no rollback file {down.name}")
        found[version] = Migration(version, name, path, down)
    return [found[v] for v in sorted(found)]


async def applied(conn: asyncpg.Connection) -> dict[int, AppliedMigration]:
    await conn.execute(CREATE_MIGRATIONS_TABLE)
    rows = await conn.fetch("SELECT version, name, checksum, applied_at, execution_ms FROM migrations ORDER BY version")
    return {r["version"]: AppliedMigration(**dict(r)) for r in rows}


def _revised(m: Migration, record: AppliedMigration) -> bool:
    """The record is of an earlier text of a file revised since (see REVISED)."""
    return record.checksum != m.checksum and record.checksum in REVISED.get(m.version, frozenset())


async def _adopt_revisions(
    conn: asyncpg.Connection, migrations: list[Migration], done: dict[int, AppliedMigration]
) -> None:
    """Record the revised text's checksum where an earlier text of a revised file was applied."""
    for m in migrations:
        record = done.get(m.version)
        if record is not None and _revised(m, record):
            await conn.execute("UPDATE migrations SET checksum = $2 WHERE version = $1", m.version, m.checksum)
            done[m.version] = AppliedMigration(
                record.version, record.name, m.checksum, record.applied_at, record.execution_ms
            )
            log.info("migration %s: the earlier text was applied; its revision is recorded", m.label)


def _check_unchanged(migrations: list[Migration], done: dict[int, AppliedMigration]) -> None:
    for m in migrations:
        record = done.get(m.version)
        if record is not None and record.checksum != m.checksum and not _revised(m, record):
            raise MigrationError(
                f"migration {m.label} was edited after it was applied (checksum {record.checksum[:12]} "
                f"in the database, {m.checksum[:12]} on disk). Applied migrations are immutable: "
                f"restore the file and put the change in a new migration (python -m bot migrate create NAME)."
            )


async def status(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[MigrationStatus]:
    migrations = discover(directory)
    done = await applied(conn)
    result: list[MigrationStatus] = []
    on_disk = {m.version for m in migrations}
    for m in migrations:
        record = done.get(m.version)
        if record is None:
            result.append(MigrationStatus(m.version, m.name, None, "pending"))
        else:
            state = "applied" if record.checksum == m.checksum or _revised(m, record) else "changed"
            result.append(MigrationStatus(m.version, m.name, record.applied_at, state))
    for version, record in done.items():
        if version not in on_disk:
            result.append(MigrationStatus(version, record.name, record.applied_at, "missing"))
    return sorted(result, key=lambda s: s.version)


@asynccontextmanager
async def _locked(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """One transaction holding the migration lock, so two processes never migrate the same database
    at once. The lock is transaction-scoped (released with the transaction) and the run is one
    transaction, each migration a savepoint in it: through a transaction pooler the whole run stays
    on one server session, where a session lock would stay with whichever session took it.

    The connecting role's schema-level default privileges (on Supabase, the project's grants of every
    new public table, sequence and function to its API roles) are set aside for the run (and after each
    migration: defaults one sets serve its own objects only) and put back exactly as they were before
    it commits (db/default_privileges.py): what the migrations create gets only their explicit GRANTs,
    the same on Supabase as on a plain PostgreSQL, and the project's defaults are left untouched (010
    revokes the API roles' defaults, which are not ours to change)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ADVISORY_LOCK_KEY)
        kept = await default_privileges.record(conn)
        await default_privileges.clear(conn)
        yield
        await default_privileges.restore(conn, kept)


async def upgrade(
    conn: asyncpg.Connection, *, to: int | None = None, directory: Path = MIGRATIONS_DIR
) -> list[Migration]:
    """Apply pending migrations up to version `to` (all by default); returns those applied. A failed
    migration is rolled back and raised; those before it stay applied."""
    migrations = discover(directory)
    ran: list[Migration] = []
    failure: MigrationError | None = None
    async with _locked(conn):
        done = await applied(conn)
        _check_unchanged(migrations, done)
        await _adopt_revisions(conn, migrations, done)
        for m in migrations:
            if m.version in done or (to is not None and m.version > to):
                continue
            started = time.perf_counter()
            try:
                async with conn.transaction():  # a savepoint
                    await conn.execute(m.up_path.read_text(encoding="utf-8"))
                    await default_privileges.clear(conn)  # defaults it set serve its own objects only
                    await conn.execute(
                        """INSERT INTO migrations (version, name, checksum, execution_ms)
                           VALUES ($1, $2, $3, $4)""",
                        m.version,
                        m.name,
                        m.checksum,
                        int((time.perf_counter() - started) * 1000),
                    )
            except asyncpg.PostgresError as exc:
                failure = MigrationError(f"migration {m.label} failed and was rolled back: {exc}")
                failure.__cause__ = exc
                break
            ran.append(m)
    for m in ran:
        log.info("applied migration %s", m.label)
    if failure is not None:
        raise failure
    return ran


async def downgrade(
    conn: asyncpg.Connection, *, to: int | None = None, directory: Path = MIGRATIONS_DIR
) -> list[Migration]:
    """Roll back applied migrations above version `to` (by default only the newest one). A failed
    rollback is undone and raised; those rolled back before it stay so."""
    migrations = {m.version: m for m in discover(directory)}
    undone: list[Migration] = []
    failure: MigrationError | None = None
    async with _locked(conn):
        done = await applied(conn)
        _check_unchanged(list(migrations.values()), done)
        await _adopt_revisions(conn, list(migrations.values()), done)
        newest_first = sorted(done, reverse=True)
        versions = newest_first[:1] if to is None else [v for v in newest_first if v > to]
        for version in versions:
            m = migrations.get(version)
            if m is None:
                failure = MigrationError(
                    f"migration {version:03d}_{done[version].name} is applied but its files are gone; "
                    "cannot roll it back"
                )
                break
            try:
                async with conn.transaction():  # a savepoint
                    await conn.execute(m.down_path.read_text(encoding="utf-8"))
                    await default_privileges.clear(conn)
                    await conn.execute("DELETE FROM migrations WHERE version = $1", version)
            except asyncpg.PostgresError as exc:
                failure = MigrationError(f"rollback of {m.label} failed and was undone: {exc}")
                failure.__cause__ = exc
                break
            undone.append(m)
    for m in undone:
        log.info("rolled back migration %s", m.label)
    if failure is not None:
        raise failure
    return undone


def create(name: str, directory: Path = MIGRATIONS_DIR) -> tuple[Path, Path]:
    """Write the next numbered pair of empty migration files."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug:
        raise MigrationError(f"{name!r} is not a usable migration name: use letters, digits and underscores")
    existing = discover(directory)
    version = (existing[-1].version + 1) if existing else 1
    up = directory / f"{version:03d}_{slug}.sql"
    down = directory / f"{version:03d}_{slug}.down.sql"
    up.write_text(f"-- {version:03d} {slug}: what this migration changes and why.\n", encoding="utf-8")
    down.write_text(f"-- Rollback of {version:03d}_{slug}.sql: undo it exactly.\n", encoding="utf-8")
    return up, down
