"""Achievements (the guide's catalog), members' progress and awards, showcase, rarity and set-based
backfill. An award is exactly once: the (user, achievement) row turns to progress 100 only from
below 100, and only the rows that turned count, get XP and get effects."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db.types import Executor

PATHWAYS = ("gaming", "lorebound", "productive", "news")
SHOWCASE_LIMIT = 3


@dataclass(frozen=True)
class Achievement:
    id: str
    name: str
    description: str | None
    pathway: str | None
    category: str | None
    rarity: str
    xp: int
    requirements: dict[str, Any]
    hidden: bool
    total_earned: int
    icon: str | None = None
    color: str | None = None
    points: int = 10
    is_active: bool = True
    first_earned_by: str | None = None
    first_earned_at: datetime | None = None


_COLUMNS = """id, name, description, pathway, category, rarity, xp, requirements, hidden, total_earned, icon,
              color, points, is_active, first_earned_by, first_earned_at"""


async def award_achievement(conn: Executor, user_id: str, achievement_id: str) -> bool:
    """The SQL function the website calls (one member); True only for a new award."""
    return await conn.fetchval("SELECT award_achievement($1, $2)", user_id, achievement_id)


async def list_achievements(conn: Executor, *, include_hidden: bool = False) -> list[Achievement]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM achievements WHERE is_active AND (NOT hidden OR $1) ORDER BY id", include_hidden
    )
    return [Achievement(**dict(r)) for r in rows]


async def all_achievements(conn: Executor) -> list[Achievement]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM achievements ORDER BY id")
    return [Achievement(**dict(r)) for r in rows]


async def get(conn: Executor, achievement_id: str) -> Achievement | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM achievements WHERE id = $1", achievement_id)
    return Achievement(**dict(row)) if row else None


async def earned_ids(conn: Executor, user_id: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT achievement_id FROM user_achievements WHERE user_id = $1 AND progress = 100", user_id
    )
    return {r["achievement_id"] for r in rows}


# -- the catalog ------------------------------------------------------------------------------


async def upsert_catalog(conn: asyncpg.Connection, entries: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Create or update catalog entries (never touching what members earned); (created, updated)."""
    created = updated = 0
    for e in entries:
        inserted = await conn.fetchval(
            """INSERT INTO achievements AS a (id, name, description, pathway, category, icon, color, xp, rarity,
                                             requirements, points, hidden, is_active)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
               ON CONFLICT (id) DO UPDATE SET
                 name = EXCLUDED.name, description = EXCLUDED.description, pathway = EXCLUDED.pathway,
                 category = EXCLUDED.category, icon = EXCLUDED.icon, color = EXCLUDED.color, xp = EXCLUDED.xp,
                 rarity = EXCLUDED.rarity, requirements = EXCLUDED.requirements, points = EXCLUDED.points,
                 hidden = EXCLUDED.hidden, is_active = EXCLUDED.is_active
               WHERE (a.name, a.description, a.pathway, a.category, a.icon, a.color, a.xp, a.rarity,
                      a.requirements, a.points, a.hidden, a.is_active)
                     IS DISTINCT FROM
                     (EXCLUDED.name, EXCLUDED.description, EXCLUDED.pathway, EXCLUDED.category, EXCLUDED.icon,
                      EXCLUDED.color, EXCLUDED.xp, EXCLUDED.rarity, EXCLUDED.requirements, EXCLUDED.points,
                      EXCLUDED.hidden, EXCLUDED.is_active)
               RETURNING (xmax = 0)""",
            e["id"],
            e["name"],
            e.get("description"),
            e.get("pathway"),
            e.get("category"),
            e.get("icon"),
            e.get("color"),
            e.get("xp", 0),
            e.get("rarity", "common"),
            e.get("requirements", {}),
            e.get("points", 10),
            e.get("hidden", False),
            e.get("active", True),
        )
        if inserted is True:
            created += 1
        elif inserted is False:
            updated += 1
    return created, updated


async def deactivate(conn: Executor, ids: Iterable[str]) -> int:
    """Take achievements out of play (members keep what they earned)."""
    status = await conn.execute(
        "UPDATE achievements SET is_active = false WHERE id = ANY($1::text[]) AND is_active", list(ids)
    )
    return int(status.split()[-1])


# -- members' stats and progress ---------------------------------------------------------------


@dataclass(slots=True)
class PathwayFigures:
    xp: int
    level: int
    events_attended: int
    contributions: int
    streak_days: int


@dataclass(slots=True)
class StatsRow:
    """A member's figures, named as the achievement rules read them (bot.rules.achievements'
    MemberStats), so the rules run on these rows directly: evaluating thousands of members after a
    flush, a copy per member would cost as much as the rules."""

    user_id: str
    xp: int
    level: int
    messages: int
    voice_minutes: int
    events_attended: int
    tournaments_won: int
    member_days: int
    earned: list[str]
    progress: dict[str, int]  # in-progress rows (< 100)
    pathways: dict[str, PathwayFigures]
    achievements_count: int = 0  # earned, not counting the one being evaluated


async def member_stats(
    pool: asyncpg.Pool, user_ids: Sequence[str], *, with_holdings: bool = True, with_member_days: bool = True
) -> list[StatsRow]:
    """Everything the rules read for these members: three plain index lookups side by side (their
    profiles, their pathway rows, and their join dates; each far cheaper than one query joining
    them), put together here. Without `with_holdings`, earned and progress are left empty (the
    caller knows them); without `with_member_days`, member_days is 0 (no rule reads it)."""
    ids = list(dict.fromkeys(user_ids))

    async def profiles() -> list[asyncpg.Record]:
        return await pool.fetch(
            """SELECT user_id, total_xp, level, message_count, voice_minutes, events_attended, tournaments_won
               FROM user_profiles WHERE user_id = ANY($1::text[])""",
            ids,
        )

    async def paths() -> list[asyncpg.Record]:
        return await pool.fetch(
            """SELECT user_id, pathway_id, total_xp, level, events_attended, contributions, streak_days
               FROM pathway_progress WHERE user_id = ANY($1::text[])""",
            ids,
        )

    async def days() -> list[asyncpg.Record]:
        if not with_member_days:
            return []
        return await pool.fetch(
            """SELECT id, GREATEST(0, floor(EXTRACT(EPOCH FROM NOW() - COALESCE(joined_at, NOW())) / 86400))::int
                      AS member_days
               FROM users WHERE id = ANY($1::text[])""",
            ids,
        )

    async def held() -> dict[str, dict[str, int]]:
        return await holdings_of(pool, ids) if with_holdings else {}

    profile_rows, path_rows, day_rows, holdings = await asyncio.gather(profiles(), paths(), days(), held())
    pathways: dict[str, dict[str, PathwayFigures]] = {}
    for r in path_rows:
        pathways.setdefault(r["user_id"], {})[r["pathway_id"]] = PathwayFigures(
            r["total_xp"], r["level"], r["events_attended"], r["contributions"], r["streak_days"]
        )
    member_days = {r["id"]: r["member_days"] for r in day_rows}
    result = []
    for r in profile_rows:
        uid = r["user_id"]
        holding = holdings.get(uid, {})
        earned = [a for a, p in holding.items() if p == 100]
        result.append(
            StatsRow(
                uid,
                r["total_xp"],
                r["level"],
                r["message_count"],
                r["voice_minutes"],
                r["events_attended"],
                r["tournaments_won"],
                member_days.get(uid, 0),
                earned,
                {a: p for a, p in holding.items() if p < 100},
                pathways.get(uid, {}),
                len(earned),
            )
        )
    return result


async def joined_at(conn: Executor, user_ids: Sequence[str]) -> dict[str, datetime | None]:
    """When each member joined the server (member_days counts from it)."""
    rows = await conn.fetch("SELECT id, joined_at FROM users WHERE id = ANY($1::text[])", list(user_ids))
    return {r["id"]: r["joined_at"] for r in rows}


async def holdings_of(conn: Executor, user_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Every (achievement -> progress) row of these members (100: earned)."""
    rows = await conn.fetch(
        "SELECT user_id, achievement_id, progress FROM user_achievements WHERE user_id = ANY($1::text[])",
        list(user_ids),
    )
    held: dict[str, dict[str, int]] = {u: {} for u in user_ids}
    for r in rows:
        held[r["user_id"]][r["achievement_id"]] = r["progress"]
    return held


async def save_progress(conn: Executor, rows: Sequence[tuple[str, str, int]]) -> int:
    """Store progress below 100 for (user, achievement) pairs; an earned row is never lowered, and
    an unchanged one not rewritten. earned_at stays empty until earned."""
    if not rows:
        return 0
    # The achievements' rows first (in id order), as award_achievement() and claim_awards take them
    # before the members' rows: reached only by the foreign key's check after a member's first row
    # was written, one waited for the website's award holding it while that award waited for the row.
    await conn.execute(
        "SELECT 1 FROM achievements WHERE id = ANY($1::text[]) ORDER BY id FOR KEY SHARE",
        sorted({r[1] for r in rows}),
    )
    status = await conn.execute(
        """INSERT INTO user_achievements AS ua (user_id, achievement_id, progress, earned_at)
           SELECT u, a, p, NULL FROM unnest($1::text[], $2::text[], $3::int[]) AS t(u, a, p)
           ON CONFLICT (user_id, achievement_id) DO UPDATE SET progress = EXCLUDED.progress
           WHERE ua.progress < 100 AND ua.progress IS DISTINCT FROM EXCLUDED.progress""",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [min(99, r[2]) for r in rows],
    )
    return int(status.split()[-1])


async def award_many(conn: asyncpg.Connection, achievement_id: str, user_ids: Sequence[str]) -> list[str]:
    """Award one achievement to these members, set-based, in the caller's transaction; returns the
    members for whom it is new (the only ones to get its XP and effects)."""
    claimed = await claim_awards(conn, achievement_id, user_ids)
    await count_awards(conn, achievement_id, claimed)
    return [c[0] for c in claimed]


async def claim_awards(
    conn: asyncpg.Connection, achievement_id: str, user_ids: Sequence[str]
) -> list[tuple[str, datetime]]:
    """The award rows: a member's row turns to 100 only from below 100 (the unique (user,
    achievement) row makes racing awards wait for each other), so each award is claimed once.
    A member staff revoked it from is passed over (lift_revocations first for a staff grant).
    Returns (users.id, earned_at) of the new ones; call count_awards last in the same transaction.

    The achievement's row is locked first, as award_achievement() and revoke lock it: written
    before it, an award row made the website's award (holding the achievement's row, waiting for
    the award row) and this one (waiting for the achievement's row in the foreign key's check)
    wait for each other, a deadlock."""
    if not user_ids:
        return []
    active = await conn.fetchval("SELECT is_active FROM achievements WHERE id = $1 FOR NO KEY UPDATE", achievement_id)
    if not active:
        return []
    rows = await conn.fetch(
        """INSERT INTO user_achievements AS ua (user_id, achievement_id, progress, earned_at)
           SELECT DISTINCT u, $2, 100, clock_timestamp() FROM unnest($1::text[]) AS t(u)
           WHERE NOT EXISTS (SELECT 1 FROM achievement_revocations r WHERE r.user_id = t.u AND r.achievement_id = $2)
           ON CONFLICT (user_id, achievement_id) DO UPDATE SET progress = 100, earned_at = clock_timestamp()
           WHERE ua.progress < 100
           RETURNING user_id, earned_at""",
        list(user_ids),
        achievement_id,
    )
    new = [r["user_id"] for r in rows]
    if new:
        await conn.execute(
            """UPDATE user_profiles SET achievements = achievements || to_jsonb($2::text)
               WHERE user_id = ANY($1::text[]) AND NOT achievements ? $2""",
            new,
            achievement_id,
        )
    return [(r["user_id"], r["earned_at"]) for r in rows]


async def count_awards(conn: asyncpg.Connection, achievement_id: str, claimed: Sequence[tuple[str, datetime]]) -> None:
    """total_earned and the first earner, in the transaction that claimed the awards (which holds
    the achievement's row since claim_awards, so racing awards are counted one after another)."""
    if not claimed:
        return
    first_user, first_at = min(claimed, key=lambda c: (c[1], c[0]))
    await conn.execute(
        """UPDATE achievements SET total_earned = total_earned + $2,
                  first_earned_by = CASE WHEN first_earned_at IS NULL OR $4 < first_earned_at
                                         THEN $3 ELSE first_earned_by END,
                  first_earned_at = LEAST(first_earned_at, $4)
           WHERE id = $1""",
        achievement_id,
        len(claimed),
        first_user,
        first_at,
    )


async def revoke(conn: asyncpg.Connection, user_id: str, achievement_id: str) -> bool:
    """Take an earned achievement back (the XP is the caller's); False if it was not earned. The
    first earner is recomputed from those who still hold it."""
    await conn.execute("SELECT 1 FROM achievements WHERE id = $1 FOR UPDATE", achievement_id)
    gone = await conn.fetchval(
        """DELETE FROM user_achievements WHERE user_id = $1 AND achievement_id = $2 AND progress = 100
           RETURNING true""",
        user_id,
        achievement_id,
    )
    if not gone:
        return False
    await conn.execute(
        """UPDATE achievements a SET total_earned = GREATEST(0, a.total_earned - 1),
                  first_earned_by = first.user_id, first_earned_at = first.earned_at
           FROM (SELECT NULL) dummy
           LEFT JOIN LATERAL (SELECT ua.user_id, ua.earned_at FROM user_achievements ua
                              WHERE ua.achievement_id = $1 AND ua.progress = 100
                              ORDER BY ua.earned_at, ua.user_id LIMIT 1) first ON true
           WHERE a.id = $1""",
        achievement_id,
    )
    await conn.execute(
        "UPDATE user_profiles SET achievements = achievements - $2 WHERE user_id = $1", user_id, achievement_id
    )
    return True


async def record_revocation(
    conn: Executor, user_id: str, achievement_id: str, revoked_by: str | None, reason: str
) -> None:
    """Staff took it back: not awarded to this member again until staff grant it (lift_revocations)."""
    await conn.execute(
        """INSERT INTO achievement_revocations (user_id, achievement_id, revoked_by, reason)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (user_id, achievement_id) DO UPDATE
           SET revoked_by = EXCLUDED.revoked_by, reason = EXCLUDED.reason, revoked_at = NOW()""",
        user_id,
        achievement_id,
        revoked_by,
        reason[:500],
    )


async def lift_revocations(conn: Executor, achievement_id: str, user_ids: Sequence[str]) -> None:
    """A staff grant: the revocation no longer holds."""
    await conn.execute(
        "DELETE FROM achievement_revocations WHERE achievement_id = $1 AND user_id = ANY($2::text[])",
        achievement_id,
        list(user_ids),
    )


async def revoked_of(conn: Executor, user_ids: Sequence[str]) -> dict[str, set[str]]:
    """The achievements staff revoked from each of these members (not evaluated for them)."""
    rows = await conn.fetch(
        "SELECT user_id, achievement_id FROM achievement_revocations WHERE user_id = ANY($1::text[])", list(user_ids)
    )
    revoked: dict[str, set[str]] = {}
    for r in rows:
        revoked.setdefault(r["user_id"], set()).add(r["achievement_id"])
    return revoked


@dataclass(frozen=True)
class Holding:
    achievement_id: str
    progress: int
    earned_at: datetime | None
    showcased: bool


async def holdings(conn: Executor, user_id: str) -> dict[str, Holding]:
    rows = await conn.fetch(
        "SELECT achievement_id, progress, earned_at, showcased FROM user_achievements WHERE user_id = $1", user_id
    )
    return {r["achievement_id"]: Holding(**dict(r)) for r in rows}


class ShowcaseFull(Exception):
    pass


async def set_showcased(conn: asyncpg.Connection, user_id: str, achievement_id: str, shown: bool) -> bool:
    """Show or hide an earned achievement on the member's profile (at most SHOWCASE_LIMIT shown;
    the member's rows are locked so two requests cannot both take the last place). False if the
    member has not earned it."""
    rows = await conn.fetch(
        "SELECT achievement_id, showcased FROM user_achievements WHERE user_id = $1 AND progress = 100 FOR UPDATE",
        user_id,
    )
    if achievement_id not in {r["achievement_id"] for r in rows}:
        return False
    others = sum(1 for r in rows if r["showcased"] and r["achievement_id"] != achievement_id)
    if shown and others >= SHOWCASE_LIMIT:
        raise ShowcaseFull
    await conn.execute(
        "UPDATE user_achievements SET showcased = $3 WHERE user_id = $1 AND achievement_id = $2",
        user_id,
        achievement_id,
        shown,
    )
    return True


_A_COLUMNS = ", ".join("a." + c.strip() for c in _COLUMNS.split(","))


async def showcased(conn: Executor, user_id: str) -> list[Achievement]:
    rows = await conn.fetch(
        f"""SELECT {_A_COLUMNS}
            FROM user_achievements ua JOIN achievements a ON a.id = ua.achievement_id
            WHERE ua.user_id = $1 AND ua.showcased AND ua.progress = 100
            ORDER BY ua.earned_at LIMIT $2""",
        user_id,
        SHOWCASE_LIMIT,
    )
    return [Achievement(**dict(r)) for r in rows]


async def rarity(conn: Executor) -> tuple[dict[str, int], int]:
    """(holders among current members per achievement, current members): live rarity's inputs."""
    rows = await conn.fetch(
        """SELECT ua.achievement_id, count(*) AS holders
           FROM user_achievements ua JOIN users u ON u.id = ua.user_id
           WHERE ua.progress = 100 AND u.in_server
           GROUP BY ua.achievement_id"""
    )
    members = await conn.fetchval("SELECT count(*) FROM users WHERE in_server")
    return {r["achievement_id"]: r["holders"] for r in rows}, members


@dataclass(frozen=True)
class AwardTarget:
    user_id: str
    discord_id: str
    notify: str  # "channel", "dm" or "off" (user_profiles.preferences.achievement_notify)


async def award_targets(conn: Executor, user_ids: Sequence[str]) -> list[AwardTarget]:
    rows = await conn.fetch(
        """SELECT u.id AS user_id, u.discord_id,
                  COALESCE(up.preferences ->> 'achievement_notify', 'channel') AS notify
           FROM users u JOIN user_profiles up ON up.user_id = u.id WHERE u.id = ANY($1::text[])""",
        list(user_ids),
    )
    return [AwardTarget(**dict(r)) for r in rows]


async def grant_counts(conn: Executor, achievement_id: str, user_ids: Sequence[str]) -> dict[str, int]:
    """How many times each member was granted this achievement's XP before (re-earned after a revoke)."""
    rows = await conn.fetch(
        """SELECT user_id, count(*) AS n FROM xp_ledger
           WHERE source = 'achievement' AND user_id = ANY($2::text[])
             AND (source_ref = $1 OR starts_with(source_ref, $1 || '#'))
           GROUP BY user_id""",
        achievement_id,
        list(user_ids),
    )
    return {r["user_id"]: r["n"] for r in rows}


async def set_notify(conn: Executor, user_id: str, choice: str) -> None:
    await conn.execute(
        """UPDATE user_profiles
           SET preferences = COALESCE(preferences, '{}'::jsonb) || jsonb_build_object('achievement_notify', $2::text)
           WHERE user_id = $1""",
        user_id,
        choice,
    )


@dataclass(frozen=True)
class OutstandingGrant:
    pathway: str | None  # where its XP went: None when it counted globally (a member outside the pathway)
    amount: int


async def outstanding_grant(conn: Executor, achievement_id: str, user_id: str) -> OutstandingGrant | None:
    """What the member's latest grant of this achievement's XP gave, if no revoke took it back yet
    (grants outnumber reversals); None when nothing is outstanding."""
    row = await conn.fetchrow(
        """SELECT g.pathway, g.amount, g.grants,
                  (SELECT count(*) FROM xp_ledger r WHERE r.source = 'reversal' AND r.user_id = $2
                     AND starts_with(r.source_ref, 'achievement:' || $1 || ':')) AS reversals
           FROM (SELECT l.pathway, l.amount, count(*) OVER () AS grants FROM xp_ledger l
                 WHERE l.source = 'achievement' AND l.user_id = $2
                   AND (l.source_ref = $1 OR starts_with(l.source_ref, $1 || '#'))
                 ORDER BY l.created_at DESC, l.id DESC LIMIT 1) g""",
        achievement_id,
        user_id,
    )
    if row is None or row["grants"] <= row["reversals"]:
        return None
    return OutstandingGrant(row["pathway"], row["amount"])


async def revoke_count(conn: Executor, achievement_id: str, user_id: str) -> int:
    """How many times this member's achievement was revoked before (numbering the reversal rows)."""
    return await conn.fetchval(
        """SELECT count(*) FROM xp_ledger WHERE source = 'reversal' AND user_id = $2
             AND starts_with(source_ref, 'achievement:' || $1 || ':')""",
        achievement_id,
        user_id,
    )
