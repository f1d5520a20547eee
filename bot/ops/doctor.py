"""`python -m bot doctor [replay ID | discard ID]`: the health of the write paths, and what staff do
with the writes the database refused."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

import asyncpg

from bot.core.client import POOL_MAX
from bot.core.config import Config
from bot.core.leadership import describe
from bot.rules.xp import local_day, period_starts
from bot.writes.journal import Journal
from db import admin_logs, dead_letters, leader, ledger, maintenance, migrate, outbox, sync_log, timers, users
from db.faults import one_line
from db.pool import Database, database


class ReplayRefused(Exception):
    """The dead letter cannot be replayed as it is; the message says why."""


async def _member_row(conn: asyncpg.Connection, payload: dict) -> str:
    """The member's current users row: by Discord id (an erased member's fresh row), else the recorded id."""
    user_id = await users.user_id_for(conn, str(payload["discord_id"]))
    if user_id is None and payload.get("user_id") and await users.exists(conn, payload["user_id"]):
        user_id = payload["user_id"]
    if user_id is None:
        raise ReplayRefused(
            f"member {payload['discord_id']} has no users row now (deleted or erased): replayed from Discord "
            "(/deadletter replay) it goes to their fresh row while they are in the server; else discard it"
        )
    return user_id


async def replay(conn: asyncpg.Connection, letter: dead_letters.DeadLetter, timezone: str) -> str:
    """Write a dead letter again (in the caller's transaction); returns what was done."""
    p = letter.payload
    if letter.kind == "xp_grant":
        user_id = await _member_row(conn, p)
        at = datetime.fromisoformat(p["at"])
        week, month = period_starts(at, timezone)
        grant = ledger.Grant(
            user_id,
            p["source"],
            p["source_ref"],
            p["pathway"],
            int(p["amount"]),
            at,
            local_day(at, timezone),
            week,
            month,
        )
        result = await ledger.apply_grants(conn, [grant])
        if not result.applied:
            return f"{p['source']} {p['source_ref']} was in the ledger already: nothing granted twice"
        return f"granted {grant.amount} XP to {user_id} ({grant.source} {grant.source_ref})"
    if letter.kind == "activity":
        user_id = await _member_row(conn, p)
        activity = ledger.ChatActivity(user_id, int(p["messages"]), datetime.fromisoformat(p["last_at"]))
        await ledger.apply_grants(conn, [], activity=[activity])
        return f"counted {activity.messages} message(s) for {user_id}"
    if letter.kind == "outbox":
        if not await outbox.requeue(conn, int(p["outbox_id"])):
            raise ReplayRefused(f"outbox item {p['outbox_id']} is gone or delivered already")
        return f"outbox item {p['outbox_id']} queued again (the bot delivers it; a refused role stays refused)"
    raise ReplayRefused(f"unknown dead-letter kind {letter.kind}")


async def resolve(
    conn: asyncpg.Connection,
    letter_id: int,
    action: str,
    timezone: str,
    who: str,
    *,
    admin_id: str | None = None,
    reason: str | None = None,
) -> str:
    """Replay or discard one pending dead letter, atomically with its resolution and an admin_logs
    row (who: a staff member's name, or the doctor command)."""
    async with conn.transaction():
        letter = await dead_letters.get(conn, letter_id, lock=True)
        if letter is None:
            raise ReplayRefused(f"no dead letter {letter_id}")
        if letter.status != "pending":
            raise ReplayRefused(f"dead letter {letter_id} was {letter.status} already ({letter.resolution})")
        if action == "discard":
            done = "discarded"
        else:
            try:
                async with conn.transaction():
                    done = await replay(conn, letter, timezone)
            except asyncpg.PostgresError as error:
                raise ReplayRefused(f"the database refused it again: {one_line(error)}") from None
        status = "discarded" if action == "discard" else "replayed"
        await dead_letters.resolve(conn, letter_id, status=status, resolution=f"{done} (by {who})")
        # admin_logs' target types are the guide's: the member the write was for, else a setting.
        member = letter.payload.get("user_id") or (letter.payload.get("payload") or {}).get("user_id")
        await admin_logs.log_admin_action(
            conn,
            admin_id=admin_id,
            action=f"dead_letter_{action}",
            target_type="user" if member else "setting",
            target_id=str(member) if member else f"dead_letter:{letter_id}",
            previous_value={"dead_letter": letter_id, "status": "pending", "kind": letter.kind, "error": letter.error},
            new_value={"dead_letter": letter_id, "status": status, "resolution": done},
            reason=reason or f"by {who}",
        )
        return done


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


async def report(conn: asyncpg.Connection, config: Config, database: Database | None = None) -> int:
    """Print the health of everything; returns 1 when something needs an admin."""
    attention = False
    if database is not None:
        print(f"connection: {database.describe()}")
    states = await migrate.status(conn)
    pending = [s for s in states if s.state != "applied"]
    print(f"migrations: {len(states) - len(pending)} applied, {len(pending)} not applied")
    attention |= bool(pending)
    pool = await maintenance.connections(conn)
    print(
        f"database: PostgreSQL {pool.server_version}, {pool.open} connection(s) open ({pool.active} active) "
        f"of max_connections {pool.max_connections}; the bot's pool holds up to {POOL_MAX}"
    )
    attention |= pool.open >= pool.max_connections - 2
    log = await outbox.backlog(conn)
    print(
        f"outbox: {log.pending} pending (oldest {_age(log.oldest_pending_seconds)}), "
        f"{log.failed} failed, {log.refused} refused"
    )
    if config.community.guild_id is not None and not any(s.version == 30 and s.state != "applied" for s in states):
        guild = str(config.community.guild_id)
        who, changes = describe(await leader.current(conn, guild), await leader.history(conn, guild))
        print(f"leader: {who}")
        for line in changes:
            print(f"  {line}")
    pending_timers, due_timers = await timers.pending_count(conn)
    print(f"timers: {pending_timers} pending, {due_timers} due now (the bot runs them when it is up)")
    run = await sync_log.last(conn, "members")
    if run is None:
        print("member sync: never run (the bot syncs at start-up)")
    else:
        ago = _age((datetime.now(UTC) - run.started_at).total_seconds())
        d = run.details
        counts = (
            f"{run.members_synced} members ({d.get('new_members', 0)} new, "
            f"{d.get('updated_members', 0)} updated, {d.get('left_members', 0)} gone)"
        )
        outcome = counts if run.status == "completed" else run.error_message or ""
        print(f"member sync: last {run.status} {ago} ago, {outcome}")
        attention |= run.status == "failed"
    for job in await maintenance.runs(conn):
        when = _age((datetime.now(UTC) - job.last_started_at).total_seconds()) if job.last_started_at else "-"
        print(f"maintenance {job.job}: last {job.last_status} {when} ago ({job.runs} run(s)): {job.last_detail or ''}")
        attention |= job.last_status == "failed"
    kept = 0
    for kind in ("xp", "activity", "achievements", "analytics"):
        journal = Journal(config.data_dir / "journal" / kind)
        kept += journal.pending_records()
    print(f"local journal: {kept} write(s) waiting for the database (written at the next start)")
    letters = await dead_letters.pending(conn)
    total = await dead_letters.count_pending(conn)
    print(f"dead letters: {total} pending")
    for d in letters:
        what = ", ".join(f"{k}={v}" for k, v in d.payload.items() if v is not None)
        print(f"  #{d.id} {d.kind} {d.created_at:%Y-%m-%d %H:%M:%S} [{d.sqlstate or '-'}] {d.error}\n      {what}")
    if total:
        print("  replay one: python -m bot doctor replay ID   discard one: python -m bot doctor discard ID")
    attention |= bool(total)
    return 1 if attention else 0


async def run_doctor(config: Config, args: argparse.Namespace) -> int:
    async with database(data_dir=config.data_dir, **config.settings.database_options()) as db:
        conn = await db.connect()
        try:
            if args.action in ("replay", "discard"):
                try:
                    done = await resolve(conn, args.id, args.action, config.community.xp.timezone, "doctor")
                except ReplayRefused as exc:
                    print(f"conclave: {exc}", file=sys.stderr)
                    return 1
                print(f"dead letter {args.id}: {done}")
                return 0
            return await report(conn, config, db)
        finally:
            await conn.close()
