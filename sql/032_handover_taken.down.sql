-- Rollback of 032_handover_taken.sql.
ALTER TABLE bot_leader DROP COLUMN handover_taken_at;
