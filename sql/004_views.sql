-- The guide's four views.

CREATE OR REPLACE VIEW user_leaderboard AS
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

CREATE OR REPLACE VIEW pathway_leaderboard AS
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

CREATE OR REPLACE VIEW active_events AS
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

CREATE OR REPLACE VIEW user_achievement_summary AS
SELECT
  u.id AS user_id,
  u.username,
  COUNT(ua.id) AS total_achievements,
  COUNT(ua.id) FILTER (WHERE a.rarity = 'common') AS common_count,
  COUNT(ua.id) FILTER (WHERE a.rarity = 'uncommon') AS uncommon_count,
  COUNT(ua.id) FILTER (WHERE a.rarity = 'rare') AS rare_count,
  COUNT(ua.id) FILTER (WHERE a.rarity = 'epic') AS epic_count,
  COUNT(ua.id) FILTER (WHERE a.rarity = 'legendary') AS legendary_count,
  COUNT(ua.id) FILTER (WHERE a.rarity = 'mythic') AS mythic_count
FROM users u
LEFT JOIN user_achievements ua ON u.id = ua.user_id AND ua.progress = 100
LEFT JOIN achievements a ON ua.achievement_id = a.id
GROUP BY u.id, u.username;
COMMENT ON VIEW user_achievement_summary IS 'Earned achievements per member, counted by rarity (in-progress rows excluded)';
