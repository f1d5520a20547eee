"""What the community keeps about one member, for `/mydata`: their account and profile, pathways,
achievements, XP history (summed by source), notifications, event registrations, and every
moderation case about them and every sanction on record, whether or not they were told of it (a
DM refused, a ban made in Discord's menus, a lift). Withheld, as what the staff write for the
staff: notes, the reasons given for voiding a case, who the moderator was, and a purge of messages
the member was never told of (a channel clean-up, not an action on them: issue 18, item 16)."""

from __future__ import annotations

from typing import Any

from db import outbox
from db.types import Executor

# A lift opened by a void carries the void's reason ("voided: <why> (case #N)"), which the staff
# wrote for the staff: exported as what happened, without why.
_CASE_REASON = r"""CASE WHEN c.metadata ? 'lifted_case' AND starts_with(c.reason, 'voided: ')
                    THEN regexp_replace(c.reason, '^voided: .*(\(case #[^)]*\))$', 'voided by the staff \1')
                    ELSE c.reason END"""


async def member_data(conn: Executor, user_id: str) -> dict[str, Any]:
    async def rows(sql: str) -> list[dict[str, Any]]:
        return [dict(r) for r in await conn.fetch(sql, user_id)]

    account = await conn.fetchrow(
        """SELECT id, discord_id, username, global_name, nickname, roles, in_server, joined_at, server_booster,
                  boost_since, pathways, primary_pathway, pathway_join_dates, created_at, last_seen
           FROM users WHERE id = $1""",
        user_id,
    )
    profile = await conn.fetchrow(
        """SELECT display_name, bio, total_xp, level, message_count, voice_minutes, events_attended,
                  tournaments_won, activity_score, achievements, badges, preferences, last_active, created_at
           FROM user_profiles WHERE user_id = $1""",
        user_id,
    )
    return {
        "account": dict(account) if account else None,
        "profile": dict(profile) if profile else None,
        "pathways": await rows(
            """SELECT pathway_id, level, total_xp, current_rank, streak_days, events_attended, contributions, joined_at
               FROM pathway_progress WHERE user_id = $1 ORDER BY pathway_id"""
        ),
        "achievements": await rows(
            """SELECT achievement_id, progress, earned_at, showcased FROM user_achievements
               WHERE user_id = $1 ORDER BY achievement_id"""
        ),
        "achievements_revoked": await rows(
            """SELECT achievement_id, reason, revoked_at FROM achievement_revocations
               WHERE user_id = $1 ORDER BY achievement_id"""
        ),
        "xp_history": await rows(
            """SELECT source, pathway, count(*) AS entries, sum(amount) AS xp, min(created_at) AS first,
                      max(created_at) AS last
               FROM xp_ledger WHERE user_id = $1 GROUP BY source, pathway ORDER BY source, pathway"""
        ),
        "notifications": await rows(
            """SELECT title, message, type, read, action_url, created_at FROM notifications
               WHERE user_id = $1 ORDER BY created_at"""
        ),
        "event_registrations": await rows(
            """SELECT e.title, e.start_date, r.status, r.registered_at, r.attended_at, r.rating, r.feedback
               FROM event_registrations r JOIN events e ON e.id = r.event_id
               WHERE r.user_id = $1 ORDER BY r.registered_at"""
        ),
        # Every case about them the bot keeps and acts on (points, sanctions, what refuses their
        # registrations), told or not; never the staff's notes, nor a purge they were not told of.
        "moderation_cases": await rows(
            f"""SELECT (c.metadata ->> 'case_number')::int AS case_number, c.action, {_CASE_REASON} AS reason,
                      c.duration, c.created_at,
                      COALESCE((c.metadata ->> 'dm_sent')::boolean, false) AS told_by_dm,
                      c.metadata ? 'voided' AS voided,
                      c.metadata ->> 'appeal_status' AS appeal_status,
                      CASE WHEN c.metadata ? 'appeal' THEN jsonb_build_object(
                          'text', c.metadata -> 'appeal' -> 'text', 'at', c.metadata -> 'appeal' -> 'at',
                          'decided_at', c.metadata -> 'appeal' -> 'decided_at',
                          'message_to_you', c.metadata -> 'appeal' -> 'note') END AS appeal
               FROM moderation_logs c WHERE c.target_user_id = $1 AND c.action <> 'note'
                 AND (c.action <> 'purge' OR COALESCE((c.metadata ->> 'dm_sent')::boolean, false))
               ORDER BY c.created_at, c.id"""
        ),
        "moderation_sanctions": await rows(
            """SELECT (c.metadata ->> 'case_number')::int AS case_number, s.kind, s.status, s.starts_at,
                      s.expires_at, s.ended_at
               FROM moderation_sanctions s JOIN moderation_logs c ON c.id = s.case_id
               WHERE c.target_user_id = $1 ORDER BY s.id"""
        ),
        "activity_events": await rows(
            """SELECT event_type, count(*) AS events, min(timestamp) AS first, max(timestamp) AS last
               FROM analytics WHERE user_id = $1 GROUP BY event_type ORDER BY event_type"""
        ),
    }


class SanctionInForce(Exception):
    """The member has a ban, timeout or mute in force: its record needs their Discord id until it ends."""


async def erase(conn: Executor, user_id: str) -> dict[str, int]:
    """Remove a member's personal data, in the caller's transaction, keeping the record the guide
    requires, pseudonymised: the users row stays (so XP, cases and registrations still point somewhere)
    without their Discord id, names, avatar, roles or email; their notifications go; their event
    feedback and what cases kept of their messages (excerpts, evidence links, appeal texts) are
    removed; the cases themselves, with the moderators' reasons, stay. Returns what was changed."""
    found = await conn.fetchrow("SELECT discord_id, username FROM users WHERE id = $1 FOR UPDATE", user_id)
    if found is None or found["discord_id"] is None:
        return {}
    discord_id, username = found["discord_id"], found["username"]
    in_force = await conn.fetchval(
        "SELECT count(*) FROM moderation_sanctions WHERE target_discord_id = $1 AND status = 'active'", discord_id
    )
    if in_force:
        raise SanctionInForce
    # A hash of the id, not the id: an import of another bot's levels never brings them back.
    await conn.execute(
        """INSERT INTO erased_members (discord_hash) VALUES (encode(sha256(convert_to($1, 'UTF8')), 'hex'))
           ON CONFLICT DO NOTHING""",
        discord_id,
    )
    await conn.execute(
        """UPDATE users SET discord_id = 'erased:' || id, username = 'erased member', global_name = NULL,
                  nickname = NULL, avatar = NULL, avatar_url = NULL, banner = NULL, banner_url = NULL, email = NULL,
                  roles = '{}', in_server = false, pathway_join_dates = '{}'::jsonb
           WHERE id = $1""",
        user_id,
    )
    await conn.execute(
        "UPDATE user_profiles SET display_name = NULL, bio = NULL, banner = NULL WHERE user_id = $1", user_id
    )
    notifications = await conn.execute("DELETE FROM notifications WHERE user_id = $1", user_id)
    feedback = await conn.execute(
        "UPDATE event_registrations SET feedback = NULL WHERE user_id = $1 AND feedback IS NOT NULL", user_id
    )
    cases = await conn.execute(
        """UPDATE moderation_logs
           SET metadata = (metadata - 'message_excerpt' - 'evidence' - 'dm_error')
                          || jsonb_build_object('target_discord_id', 'erased')
                          || CASE WHEN metadata ? 'appeal'
                                  THEN jsonb_build_object('appeal', (metadata -> 'appeal') - 'text')
                                  ELSE '{}'::jsonb END
           WHERE target_user_id = $1""",
        user_id,
    )
    await conn.execute(
        "UPDATE moderation_sanctions SET target_discord_id = 'erased' WHERE target_discord_id = $1", discord_id
    )
    scrubbed = await _scrub_deliveries(conn, user_id, discord_id, username)
    # Analytics keep their counts (the charts) without the person: no member, session, address or browser.
    analytics = await conn.execute(
        """UPDATE analytics SET user_id = NULL, session_id = NULL, ip_address = NULL, user_agent = NULL
           WHERE user_id = $1""",
        user_id,
    )
    return {
        "analytics_detached": int(analytics.split()[-1]),
        "notifications_deleted": int(notifications.split()[-1]),
        "feedback_removed": int(feedback.split()[-1]),
        "cases_pseudonymised": int(cases.split()[-1]),
        **scrubbed,
    }


# Outbox items about a member's cases carry no Discord id but their texts (the modlog entry, the
# appeal): found by dedupe key, "<prefix>:<case id>".
_CASE_KEYS = ["case-dm", "case-modlog", "case-action", "case-failed", "appeal", "appeal-decision"]


def _without_id(column: str) -> str:
    """A jsonb column with the Discord id $2 replaced by "erased": as a JSON number (made a string),
    as a string, or inside one; the result is still JSON."""
    bare = f"""regexp_replace({column}::text, '([:\\[,]\\s*)' || $2 || '(\\s*[,\\]}}])', '\\1"erased"\\2', 'g')"""
    return f"regexp_replace({bare}, '(^|[^0-9])' || $2 || '([^0-9]|$)', '\\1erased\\2', 'g')::jsonb"


async def _scrub_deliveries(conn: Executor, user_id: str, discord_id: str, username: str) -> dict[str, int]:
    """What the outbox and dead_letters keep of the member: every item naming their Discord id (in
    its payload or its dedupe key, which loses it) or about one of their cases loses its payload but
    for where it went (a settled one now; a pending one once it settles: it still has to reach
    Discord), dead letters about them are discarded, and those they resolved as staff lose their
    name ("discarded (by <name>)": what was done stays, who did it is in admin_logs' admin_id)."""
    named = f"(^|[^0-9]){discord_id}([^0-9]|$)"  # the id as a whole number, not inside another
    outbox_rows = await conn.execute(
        f"""UPDATE outbox
            SET payload = CASE WHEN status = 'pending' THEN payload || '{{"erase_after": true}}'
                               ELSE {outbox.TOMBSTONE} END,
                last_error = regexp_replace(last_error, $1, '\\1erased\\2', 'g'),
                -- the key keeps the effect's shape, unique (the row's id) without the member's id
                dedupe_key = regexp_replace(dedupe_key, $1, '\\1erased-' || id || '\\2', 'g')
            WHERE payload::text ~ $1
               OR dedupe_key ~ $1
               OR (split_part(dedupe_key, ':', 1) = ANY($2::text[])
                   AND split_part(dedupe_key, ':', 2) IN
                       (SELECT id::text FROM moderation_logs WHERE target_user_id = $3))
               -- the modlog entries of cases they took as a moderator name them too
               OR (split_part(dedupe_key, ':', 1) = 'case-modlog'
                   AND split_part(dedupe_key, ':', 2) IN
                       (SELECT id::text FROM moderation_logs WHERE moderator_id = $3))""",
        named,
        _CASE_KEYS,
        user_id,
    )
    letters = await conn.execute(
        """UPDATE dead_letters
           SET payload = '{"erased": true}'::jsonb,
               error = regexp_replace(error, $1, '\\1erased\\2', 'g'),
               status = CASE WHEN status = 'pending' THEN 'discarded' ELSE status END,
               resolved_at = COALESCE(resolved_at, NOW()),
               -- what was done, without who did it (a staff member's name; admin_logs keeps their row)
               resolution = COALESCE(regexp_replace(regexp_replace(resolution, $1, '\\1erased\\2', 'g'),
                                                    ' \\(by [^)]*\\)$', ''),
                                     'discarded: the member''s data was erased')
           WHERE payload::text ~ $1""",
        named,
    )
    resolved = await conn.execute(
        """UPDATE dead_letters SET resolution = regexp_replace(resolution, ' \\(by [^)]*\\)$', '')
           WHERE resolution ~ ' \\(by [^)]*\\)$'
             AND (id IN (SELECT (new_value ->> 'dead_letter')::bigint FROM admin_logs
                         WHERE admin_id = $1 AND action LIKE 'dead\\_letter\\_%' AND new_value ? 'dead_letter')
                  OR right(resolution, length($2) + 6) = ' (by ' || $2 || ')')""",
        user_id,
        username,
    )
    # The audit trail of what was done to them keeps who (admin_id) and what, not their Discord id
    # nor a name written into a reason by a tool (the doctor's "by <name>").
    audit = await conn.execute(
        f"""UPDATE admin_logs
            SET previous_value = {_without_id("previous_value")}, new_value = {_without_id("new_value")},
                reason = CASE WHEN reason ~ '^by ' THEN 'by a staff member' ELSE reason END
            WHERE target_id = $1 OR previous_value ->> 'user_id' = $1 OR new_value ->> 'user_id' = $1""",
        user_id,
        discord_id,
    )
    return {
        "outbox_scrubbed": int(outbox_rows.split()[-1]),
        "dead_letters_scrubbed": int(letters.split()[-1]) + int(resolved.split()[-1]),
        "audit_rows_scrubbed": int(audit.split()[-1]),
    }
