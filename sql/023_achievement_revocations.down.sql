-- Rollback of 023_achievement_revocations.sql: revoked achievements may be awarded again.
DROP TABLE IF EXISTS achievement_revocations;
