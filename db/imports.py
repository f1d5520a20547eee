"""Imports of XP from another bot: the import's record, one chunk of members at a time through the
ledger (each member's imported XP one `import` row; a later import replaces it with a negative
`import` row and a new one), undo, and the level histogram."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

import asyncpg

from db import ledger
from db.types import Executor


@dataclass(frozen=True)
class ImportRecord:
    id: str
    source: str
    mapping: str
    origin: str
    digest: str
    members_only: bool
    status: str
    rows_total: int
    rows_done: int
    imported: int
    unchanged: int
    total_xp: int
    started_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None
    undone_at: datetime | None


class Wanted(NamedTuple):  # a row of the chunk's COPY as it is (and a million are built at once)
    """A member the import names, and the total XP it gives them."""

    discord_id: str
    username: str
    amount: int
    messages: int | None = None


class ImportStopped(Exception):
    """The import was taken back (or finished) while this chunk waited: nothing more is written."""


class AnotherImportRunning(Exception):
    def __init__(self, other: ImportRecord) -> None:
        super().__init__(other.id)
        self.other = other


@dataclass
class ChunkResult:
    imported: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (discord id, why)
    xp: int = 0
    level_changes: list[ledger.BoardChange] = field(default_factory=list)  # up or down
    members: dict[str, tuple[str, bool, list[str]]] = field(default_factory=dict)  # users.id -> (discord, in, roles)


NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # an activity time that moves no one's last activity

_COLUMNS = (
    "id, source, mapping, origin, digest, members_only, status, rows_total, rows_done, imported, unchanged, "
    "total_xp, started_at, heartbeat_at, finished_at, undone_at"
)


async def find_running(conn: Executor, digest: str) -> ImportRecord | None:
    """An import of the same rows and options that did not finish (a crash): it resumes."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM xp_imports WHERE digest = $1 AND status = 'running' ORDER BY started_at DESC LIMIT 1",
        digest,
    )
    return ImportRecord(**dict(row)) if row else None


async def get(conn: Executor, import_id: str) -> ImportRecord | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM xp_imports WHERE id = $1", import_id)
    return ImportRecord(**dict(row)) if row else None


async def recent(conn: Executor, limit: int = 10) -> list[ImportRecord]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM xp_imports ORDER BY started_at DESC LIMIT $1", limit)
    return [ImportRecord(**dict(r)) for r in rows]


async def start(
    conn: Executor,
    *,
    import_id: str,
    source: str,
    mapping: str,
    origin: str,
    digest: str,
    members_only: bool,
    rows_total: int,
    actor_id: str | None,
) -> ImportRecord:
    """Record a new import; AnotherImportRunning when one is running (or crashed and not resumed)."""
    running = await conn.fetchrow(f"SELECT {_COLUMNS} FROM xp_imports WHERE status = 'running'")
    if running is not None:
        raise AnotherImportRunning(ImportRecord(**dict(running)))
    try:
        row = await conn.fetchrow(
            f"""INSERT INTO xp_imports (id, source, mapping, origin, digest, members_only, rows_total, actor_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}""",
            import_id,
            source,
            mapping,
            origin[:300],
            digest,
            members_only,
            rows_total,
            actor_id,
        )
    except asyncpg.UniqueViolationError:  # started beside us between the two statements
        running = await conn.fetchrow(f"SELECT {_COLUMNS} FROM xp_imports WHERE status = 'running'")
        if running is None:
            raise
        raise AnotherImportRunning(ImportRecord(**dict(running))) from None
    return ImportRecord(**dict(row))


async def seconds_since_heartbeat(conn: Executor, import_id: str) -> float:
    return await conn.fetchval(
        "SELECT EXTRACT(EPOCH FROM NOW() - heartbeat_at)::float8 FROM xp_imports WHERE id = $1", import_id
    )


async def heartbeat(conn: Executor, import_id: str) -> None:
    await conn.execute("UPDATE xp_imports SET heartbeat_at = NOW() WHERE id = $1", import_id)


async def members_in_server(conn: Executor, discord_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT discord_id FROM users WHERE discord_id = ANY($1::text[]) AND in_server", list(discord_ids)
    )
    return {r["discord_id"] for r in rows}


# A chunk is copied into a temporary table (COPY: one round trip, no WAL) and written from there
# in a few set-based statements; the table is dropped at the chunk's commit or rollback, so a
# transaction pooler never sees it outlive its transaction.
_STAGE = """
CREATE TEMP TABLE xp_import_stage (
  discord_id TEXT NOT NULL,
  username TEXT NOT NULL,
  amount INTEGER NOT NULL,
  messages INTEGER,
  user_id TEXT,
  in_server BOOLEAN,
  roles TEXT[],
  prev_import TEXT,
  prev_ref TEXT,
  prev_amount INTEGER,
  state TEXT,            -- 'write', 'same' (imported before with this amount), 'done' (by this import: a resume)
  taken INTEGER NOT NULL DEFAULT 0,  -- what the replaced import's reversal takes back (never below zero)
  added INTEGER NOT NULL DEFAULT 0   -- messages added (never lower than what we counted)
) ON COMMIT DROP
"""
_STAGE_COLUMNS = ("discord_id", "username", "amount", "messages")

_STAGE_ERASED = """
DELETE FROM xp_import_stage s USING erased_members e
 WHERE e.discord_hash = encode(sha256(convert_to(s.discord_id, 'UTF8')), 'hex')
RETURNING s.discord_id
"""

_STAGE_ENSURE_USERS = """
INSERT INTO users (discord_id, username, in_server)
SELECT s.discord_id, s.username, false FROM xp_import_stage s
 WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.discord_id = s.discord_id)
 ORDER BY s.discord_id
ON CONFLICT (discord_id) DO NOTHING
"""

# The chunk's profiles locked in one order (every writer of them locks by users.id), and what each
# member holds: their live imported amount decides whether this import writes, leaves or replaces it.
_STAGE_RESOLVE = """
WITH m AS (
  SELECT u.discord_id, u.id, u.in_server, u.roles, up.total_xp, up.message_count,
         e.import_id, e.source_ref, e.amount
    FROM xp_import_stage s
    JOIN users u ON u.discord_id = s.discord_id
    JOIN user_profiles up ON up.user_id = u.id
    LEFT JOIN xp_import_entries e ON e.user_id = u.id AND e.live
   ORDER BY u.id
     FOR UPDATE OF up
)
UPDATE xp_import_stage s
   SET user_id = m.id, in_server = m.in_server, roles = m.roles,
       prev_import = m.import_id, prev_ref = m.source_ref, prev_amount = m.amount,
       state = CASE WHEN m.import_id = $1 THEN 'done'
                    WHEN m.import_id IS NOT NULL AND m.amount = s.amount THEN 'same'
                    ELSE 'write' END,
       taken = CASE WHEN m.import_id IS NOT NULL AND m.import_id <> $1 THEN LEAST(m.amount, m.total_xp) ELSE 0 END,
       added = GREATEST(0, COALESCE(s.messages, 0) - m.message_count)
  FROM m
 WHERE m.discord_id = s.discord_id
"""

_STAGE_TALLY = """
SELECT count(*) FILTER (WHERE state = 'write') AS written,
       COALESCE(sum(amount) FILTER (WHERE state = 'write'), 0) AS written_xp,
       count(*) FILTER (WHERE state = 'done') AS done,
       COALESCE(sum(prev_amount) FILTER (WHERE state = 'done'), 0) AS done_xp,
       count(*) FILTER (WHERE state = 'same') AS same,
       COALESCE(array_agg(discord_id ORDER BY discord_id) FILTER (WHERE user_id IS NULL), '{}') AS no_profile
  FROM xp_import_stage
"""

_STAGE_RETIRE = """
UPDATE xp_import_entries e SET live = false
  FROM xp_import_stage s
 WHERE s.state = 'write' AND s.prev_import IS NOT NULL AND e.user_id = s.user_id AND e.live
"""

# users.id in source_ref, not the Discord id: the ledger is append-only, and an erased member keeps no id.
_STAGE_ENTRIES = """
INSERT INTO xp_import_entries (import_id, user_id, source_ref, amount, replaced_import, replaced_amount, messages_added)
SELECT $1, s.user_id, $2 || ':' || s.user_id || ':' || $1, s.amount, s.prev_import, s.taken, s.added
  FROM xp_import_stage s WHERE s.state = 'write'
 ORDER BY s.user_id
"""

# The ledger rows (the replaced import's reversal, then the new amount), and the totals, levels and
# message counts they move, as ledger.apply_grants moves them for an `import` row: no pathway, no
# period board, last activity and the server's day untouched. A row the ledger has already (a
# source grants once) moves nothing. Returns the members whose level moved (quiet reward roles).
_STAGE_GRANT = """
WITH granted AS (
  INSERT INTO xp_ledger (user_id, source, source_ref, pathway, amount, created_at, reason, actor_id)
  SELECT g.user_id, 'import', g.ref, NULL, g.amount, $3, $4, NULL
    FROM (SELECT s.user_id, 'undo:' || s.prev_ref || ':' || $1 AS ref, -s.taken AS amount, 0 AS n
            FROM xp_import_stage s WHERE s.state = 'write' AND s.taken > 0
          UNION ALL
          SELECT s.user_id, $2 || ':' || s.user_id || ':' || $1, s.amount, 1
            FROM xp_import_stage s WHERE s.state = 'write' AND s.amount > 0) g
   ORDER BY g.user_id, g.n
  ON CONFLICT (source, source_ref, user_id) DO NOTHING
  RETURNING user_id, amount
), delta AS (
  SELECT user_id, sum(amount)::int AS delta FROM granted GROUP BY user_id
), moved AS (
  UPDATE user_profiles up
     SET total_xp = up.total_xp + COALESCE(d.delta, 0),
         level = calculate_level_from_xp(up.total_xp + COALESCE(d.delta, 0)),
         message_count = up.message_count + s.added
    FROM xp_import_stage s LEFT JOIN delta d ON d.user_id = s.user_id
   WHERE s.state = 'write' AND up.user_id = s.user_id AND (COALESCE(d.delta, 0) <> 0 OR s.added <> 0)
  RETURNING up.user_id, up.total_xp, up.level, COALESCE(d.delta, 0) AS delta
)
SELECT mv.user_id, s.discord_id, s.in_server, s.roles, mv.total_xp - mv.delta AS before, mv.total_xp AS after,
       calculate_level_from_xp(mv.total_xp - mv.delta) AS level_before, mv.level AS level_after
  FROM moved mv JOIN xp_import_stage s ON s.user_id = mv.user_id
 WHERE mv.delta <> 0 AND calculate_level_from_xp(mv.total_xp - mv.delta) <> mv.level
"""


async def apply_chunk(
    conn: asyncpg.Connection, record: ImportRecord, chunk: Sequence[Wanted], *, at: datetime | None = None
) -> ChunkResult:
    """One chunk of an import, in the caller's transaction: members the database does not know yet are
    kept (a users row not in the server); each member's live imported amount becomes the wanted one
    (an equal one is left alone, a member this import already wrote, on a resume, too); message
    counts never go down. The chunk goes in by COPY and is written set-based: one statement each
    for the users, the lock, the import's entries, and the ledger rows with the totals and levels."""
    now = at or datetime.now(UTC)
    result = ChunkResult()
    # KEY SHARE: shared with the other lanes' chunks and with the heartbeat's UPDATE; an undo's
    # FOR UPDATE waits for it, and a chunk that starts after an undo sees it and stops.
    status = await conn.fetchval("SELECT status FROM xp_imports WHERE id = $1 FOR KEY SHARE", record.id)
    if status != "running":
        raise ImportStopped(record.id)
    # The chunk's commit does not wait for its WAL to reach the disk: a crash that loses it is one
    # before it committed, which the resume redoes; finish()'s commit waits for all of it.
    # The pool's sessions plan every statement with its parameters (force_custom_plan), and that
    # reaches the foreign-key checks' plans too: each of a chunk's 10,000 checks (its ledger rows and
    # entries) was planned again, a fifth of the import's time. Its own statements run once a chunk.
    await conn.execute("SET LOCAL synchronous_commit = off; SET LOCAL plan_cache_mode = auto")
    await conn.execute(_STAGE)
    await conn.copy_records_to_table(
        "xp_import_stage",
        records=chunk,  # Wanted's fields are _STAGE_COLUMNS, in order
        columns=_STAGE_COLUMNS,
    )
    await conn.execute("ANALYZE xp_import_stage")  # the planner then joins a chunk, not a table, by index
    erased = sorted(r["discord_id"] for r in await conn.fetch(_STAGE_ERASED))
    result.skipped.extend((d, "erased at their request") for d in erased)
    await conn.execute(_STAGE_ENSURE_USERS)
    await conn.execute(_STAGE_RESOLVE, record.id)
    await conn.execute("ANALYZE xp_import_stage")  # again: the writes below select by state
    tally = await conn.fetchrow(_STAGE_TALLY)
    # a users row without a profile: nothing to write to
    result.skipped.extend((d, "the member's profile is missing") for d in tally["no_profile"])
    result.imported = tally["written"] + tally["done"]  # written before a crash: the resume leaves it
    result.xp = tally["written_xp"] + tally["done_xp"]
    result.unchanged = tally["same"]
    if not tally["written"]:
        return result
    await conn.execute(_STAGE_RETIRE)
    await conn.execute(_STAGE_ENTRIES, record.id, record.source)
    moved = await conn.fetch(_STAGE_GRANT, record.id, record.source, now, f"import {record.id}")
    for r in moved:
        result.members[r["user_id"]] = (r["discord_id"], r["in_server"], list(r["roles"] or []))
        result.level_changes.append(
            ledger.BoardChange(r["user_id"], "", r["before"], r["after"], r["level_before"], r["level_after"])
        )
    return result


def _level_changes(applied: ledger.GrantResult) -> list[ledger.BoardChange]:
    return [c for c in applied.totals if c.level_after != c.level_before]


async def finish(conn: Executor, import_id: str, unchanged: int) -> None:
    """Done: its figures counted from what it wrote (a resumed run counts each member once)."""
    await conn.execute(
        """UPDATE xp_imports i SET status = 'done', finished_at = NOW(), evaluated_at = NULL,
                  rows_done = rows_total, unchanged = $2,
                  imported = (SELECT count(*) FROM xp_import_entries e WHERE e.import_id = i.id),
                  total_xp = (SELECT COALESCE(sum(amount), 0) FROM xp_import_entries e WHERE e.import_id = i.id)
            WHERE id = $1 AND status = 'running'""",
        import_id,
        unchanged,
    )


async def live_entries(conn: Executor, import_id: str, *, after: str = "", limit: int = 5000) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT user_id FROM xp_import_entries WHERE import_id = $1 AND live AND user_id > $2
           ORDER BY user_id LIMIT $3""",
        import_id,
        after,
        limit,
    )


async def undo_chunk(conn: asyncpg.Connection, import_id: str, user_ids: Sequence[str]) -> ChunkResult:
    """Take one import back for these members (its live rows), in the caller's transaction: its XP is
    reversed (a negative `import` row, never below zero) and what it replaced comes back."""
    now = datetime.now(UTC)
    zero = date(1970, 1, 1)
    await conn.execute("SET LOCAL plan_cache_mode = auto")  # as apply_chunk: its foreign-key checks planned once
    rows = await conn.fetch(
        """SELECT e.user_id, e.source_ref, e.amount, e.replaced_import, e.replaced_amount, e.messages_added,
                  up.total_xp, u.discord_id, u.in_server, u.roles, r.source_ref AS replaced_ref
             FROM xp_import_entries e
             JOIN user_profiles up ON up.user_id = e.user_id
             JOIN users u ON u.id = e.user_id
             -- What it replaced comes back, unless that import was taken back itself.
             LEFT JOIN xp_imports ri ON ri.id = e.replaced_import AND ri.status <> 'undone'
             LEFT JOIN xp_import_entries r ON r.import_id = ri.id AND r.user_id = e.user_id
            WHERE e.import_id = $1 AND e.live AND e.user_id = ANY($2::text[])
            ORDER BY e.user_id
              FOR UPDATE OF e, up""",
        import_id,
        list(user_ids),
    )
    result = ChunkResult()
    grants: list[ledger.Grant] = []
    back: list[tuple[str, str]] = []
    messages: list[tuple[str, int]] = []
    for r in rows:
        if r["messages_added"]:
            messages.append((r["user_id"], r["messages_added"]))
        result.members[r["user_id"]] = (r["discord_id"], r["in_server"], list(r["roles"] or []))
        total = r["total_xp"]
        if r["amount"]:
            taken = min(r["amount"], total)
            total -= taken
            if taken:
                grants.append(
                    ledger.Grant(
                        r["user_id"],
                        "import",
                        f"undo:{r['source_ref']}:undo",
                        None,
                        -taken,
                        now,
                        now.date(),
                        zero,
                        zero,
                    )
                )
        if r["replaced_ref"] is not None and r["replaced_amount"]:
            ref = f"{r['replaced_ref']}:restored:{import_id}"
            grants.append(
                ledger.Grant(r["user_id"], "import", ref, None, r["replaced_amount"], now, now.date(), zero, zero)
            )
            back.append((r["user_id"], r["replaced_import"]))
        result.imported += 1
        result.xp += r["amount"]
    await conn.execute(
        "UPDATE xp_import_entries SET live = false WHERE import_id = $1 AND live AND user_id = ANY($2::text[])",
        import_id,
        [r["user_id"] for r in rows],
    )
    if back:
        await conn.execute(
            """UPDATE xp_import_entries e SET live = true FROM unnest($1::text[], $2::text[]) AS d(user_id, import_id)
                WHERE e.user_id = d.user_id AND e.import_id = d.import_id""",
            [b[0] for b in back],
            [b[1] for b in back],
        )
    if grants:
        applied = await ledger.apply_grants(conn, grants, reasons=[f"undo of import {import_id}"] * len(grants))
        result.level_changes = _level_changes(applied)
    if messages:
        await conn.execute(
            """UPDATE user_profiles up SET message_count = GREATEST(0, up.message_count - d.n)
                 FROM unnest($1::text[], $2::int[]) AS d(user_id, n) WHERE up.user_id = d.user_id""",
            [m[0] for m in messages],
            [m[1] for m in messages],
        )
    return result


async def mark_undone(conn: asyncpg.Connection, import_id: str) -> None:
    """First thing an undo does: waits for chunks being written (they hold the record FOR KEY
    SHARE); chunks after it see the status and stop, so nothing is written behind the undo."""
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM xp_imports WHERE id = $1 FOR UPDATE", import_id)
        await conn.execute(
            "UPDATE xp_imports SET status = 'undone', undone_at = NOW(), evaluated_at = NULL WHERE id = $1", import_id
        )


async def has_live_entries(conn: Executor, import_id: str) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM xp_import_entries WHERE import_id = $1 AND live)", import_id
    )


async def level_counts(conn: Executor, *, discord_ids: Sequence[str] | None = None) -> dict[int, int]:
    """How many members are at each level (of everyone the bot knows, or of these members)."""
    if discord_ids is None:
        rows = await conn.fetch("SELECT level, count(*) AS n FROM user_profiles GROUP BY level")
    else:
        rows = await conn.fetch(
            """SELECT up.level, count(*) AS n FROM user_profiles up JOIN users u ON u.id = up.user_id
                WHERE u.discord_id = ANY($1::text[]) GROUP BY up.level""",
            list(discord_ids),
        )
    return {r["level"]: r["n"] for r in rows}


async def current_levels(conn: Executor, discord_ids: Sequence[str]) -> dict[str, int]:
    rows = await conn.fetch(
        """SELECT u.discord_id, up.level FROM users u JOIN user_profiles up ON up.user_id = u.id
            WHERE u.discord_id = ANY($1::text[])""",
        list(discord_ids),
    )
    return {r["discord_id"]: r["level"] for r in rows}


CRASHED_AFTER = timedelta(minutes=5)  # a running import silent this long is evaluated as it stands


async def unevaluated(conn: Executor) -> list[str]:
    """Imports (finished or taken back) whose members' achievements the bot has not evaluated yet."""
    rows = await conn.fetch(
        """SELECT id FROM xp_imports WHERE evaluated_at IS NULL
              AND (status <> 'running' OR heartbeat_at < NOW() - $1::interval)  -- crashed ones too
            ORDER BY started_at""",
        CRASHED_AFTER,
    )
    return [r["id"] for r in rows]


async def evaluation_waits(conn: Executor) -> bool:
    """An import is being written, or its members' achievements are not evaluated yet: a member's
    evaluation waits for it (what the import earned them is awarded quietly, all at once)."""
    return await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM xp_imports
                           WHERE evaluated_at IS NULL
                              OR (status = 'running' AND heartbeat_at >= NOW() - $1::interval))""",
        CRASHED_AFTER,
    )


async def mark_evaluated(conn: Executor, import_ids: Sequence[str]) -> None:
    await conn.execute("UPDATE xp_imports SET evaluated_at = NOW() WHERE id = ANY($1::text[])", list(import_ids))


async def enqueue_roles(conn: asyncpg.Connection, items: Sequence[tuple[str, dict, str]]) -> int:
    """Role changes for the outbox in one statement: (kind, payload, dedupe key)."""
    if not items:
        return 0
    rows = await conn.fetch(
        """INSERT INTO outbox (kind, payload, dedupe_key)
           SELECT * FROM unnest($1::text[], $2::text[]::jsonb[], $3::text[])
           ON CONFLICT (dedupe_key) DO NOTHING RETURNING id""",
        [i[0] for i in items],
        [json.dumps(i[1]) for i in items],
        [i[2] for i in items],
    )
    return len(rows)
