-- Rollback of 022_public_boards.sql: the views as 004 and 010 left them, the partial board indexes,
-- no counts.

DROP FUNCTION public.board_window(TEXT, DATE, TEXT, TEXT, INTEGER, INTEGER);
DROP FUNCTION public.member_position(TEXT, TEXT);
DROP FUNCTION public.pathway_leaderboard_page(TEXT, INTEGER, TEXT, INTEGER);
DROP FUNCTION public.user_leaderboard_page(INTEGER, TEXT, INTEGER);

DROP VIEW user_leaderboard;
CREATE VIEW user_leaderboard AS
SELECT
  u.id,
  u.discord_id,
  u.username,
  u.avatar,
  up.display_name,
  up.total_xp,
  up.level,
  up.message_count,
  up.events_attended,
  up.tournaments_won,
  RANK() OVER (ORDER BY up.total_xp DESC) AS rank,
  DENSE_RANK() OVER (ORDER BY up.level DESC) AS level_rank
FROM users u
JOIN user_profiles up ON u.id = up.user_id
WHERE u.in_server = true
ORDER BY up.total_xp DESC;
COMMENT ON VIEW user_leaderboard IS 'Global leaderboard of current members by total XP, with rank and level rank';

DROP VIEW pathway_leaderboard;
CREATE VIEW pathway_leaderboard AS
SELECT
  pp.pathway_id,
  u.id AS user_id,
  u.discord_id,
  u.username,
  u.avatar,
  up.display_name,
  pp.level,
  pp.xp,
  pp.total_xp,
  pp.current_rank,
  RANK() OVER (PARTITION BY pp.pathway_id ORDER BY pp.total_xp DESC) AS rank
FROM pathway_progress pp
JOIN users u ON pp.user_id = u.id
JOIN user_profiles up ON u.id = up.user_id
WHERE u.in_server = true
ORDER BY pp.pathway_id, pp.total_xp DESC;
COMMENT ON VIEW pathway_leaderboard IS 'Per-pathway leaderboard of current members by pathway XP';

DROP VIEW active_events;
CREATE VIEW active_events AS
SELECT
  e.*,
  CARDINALITY(e.participants) AS participant_count,
  CASE
    WHEN e.start_date > NOW() THEN 'upcoming'
    WHEN e.end_date IS NULL OR e.end_date > NOW() THEN 'ongoing'
    ELSE 'completed'
  END AS computed_status
FROM events e
WHERE e.is_active = true
ORDER BY e.start_date;
COMMENT ON VIEW active_events IS 'Active events with participant count and a status computed from the clock';

DO $$
BEGIN
  IF current_setting('server_version_num')::int >= 150000 THEN
    ALTER VIEW user_leaderboard SET (security_invoker = true);
    ALTER VIEW pathway_leaderboard SET (security_invoker = true);
    ALTER VIEW active_events SET (security_invoker = true);
    GRANT SELECT ON user_leaderboard, pathway_leaderboard, active_events TO anon, authenticated;
  END IF;
END
$$;

DROP INDEX idx_pathway_progress_board;
CREATE INDEX idx_pathway_progress_board ON pathway_progress (pathway_id, total_xp, user_id) WHERE total_xp > 0;
DROP INDEX idx_user_profiles_board;
CREATE INDEX idx_user_profiles_board ON user_profiles (total_xp, user_id) WHERE total_xp > 0;

DROP TRIGGER board_counts_periods_truncate ON xp_period_totals;
DROP TRIGGER board_counts_pathways_truncate ON pathway_progress;
DROP TRIGGER board_counts_profiles_truncate ON user_profiles;
DROP TRIGGER board_counts_users_truncate ON users;
DROP TRIGGER board_counts_users_delete ON users;
DROP TRIGGER board_counts_users_membership ON users;
DROP TRIGGER board_counts_periods_delete ON xp_period_totals;
DROP TRIGGER board_counts_periods_update ON xp_period_totals;
DROP TRIGGER board_counts_periods_insert ON xp_period_totals;
DROP TRIGGER board_counts_pathways_delete ON pathway_progress;
DROP TRIGGER board_counts_pathways_update ON pathway_progress;
DROP TRIGGER board_counts_pathways_insert ON pathway_progress;
DROP TRIGGER board_counts_profiles_delete ON user_profiles;
DROP TRIGGER board_counts_profiles_update ON user_profiles;
DROP TRIGGER board_counts_profiles_insert ON user_profiles;

DROP FUNCTION public.board_counts_on_truncate();
DROP FUNCTION public.board_counts_on_users();
DROP FUNCTION public.board_counts_on_periods();
DROP FUNCTION public.board_counts_on_pathways();
DROP FUNCTION public.board_counts_on_profiles();
DROP FUNCTION public.board_counts_rebuild();
DROP FUNCTION public.board_counts_member(TEXT[], INTEGER);
DROP FUNCTION public.board_counts_pathways_move(TEXT[], TEXT[], INTEGER[], INTEGER[]);
DROP FUNCTION public.board_counts_profiles_move(TEXT[], INTEGER[], INTEGER[], BOOLEAN[], INTEGER[]);
DROP FUNCTION public.board_totals_move(TEXT[], DATE[], TEXT[], INTEGER[], INTEGER[]);
DROP FUNCTION public.board_levels_move(INTEGER[], INTEGER[]);
DROP FUNCTION public.board_counts_move(TEXT[], INTEGER[], INTEGER[]);

DROP TABLE board_totals;
DROP TABLE board_level_counts;
DROP TABLE board_xp_counts;

DROP FUNCTION public.profile_is_public(JSONB);
