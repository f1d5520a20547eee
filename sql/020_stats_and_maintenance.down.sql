-- Rollback of 020_stats_and_maintenance.sql: the daily history and the maintenance record go with it.
DROP INDEX IF EXISTS idx_outbox_delivered_at;
DROP TABLE IF EXISTS maintenance_runs;
DROP FUNCTION IF EXISTS count_daily_activity(BIGINT, BIGINT);
DROP FUNCTION IF EXISTS community_timezone();
DROP TABLE IF EXISTS server_stats_daily;
