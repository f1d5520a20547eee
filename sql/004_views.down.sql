DROP VIEW IF EXISTS user_achievement_summary;
DROP VIEW IF EXISTS active_events;
DROP VIEW IF EXISTS pathway_leaderboard;
DROP VIEW IF EXISTS user_leaderboard;
