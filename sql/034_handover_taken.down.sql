-- Rollback of 034_handover_taken.sql.
ALTER TABLE bot_leader DROP COLUMN handover_taken_at;
