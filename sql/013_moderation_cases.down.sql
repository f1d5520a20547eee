-- Rollback of 013_moderation_cases.sql. Cases of erased moderators (moderator_id NULL) cannot go
-- back under NOT NULL: they are deleted, as the guide's CASCADE would have done.
DROP TABLE moderation_sanctions;
DROP INDEX idx_moderation_logs_target_case;
DROP INDEX idx_moderation_logs_case_number;
DROP TABLE moderation_case_counters;

DELETE FROM moderation_logs WHERE action IN ('untimeout', 'unmute') OR moderator_id IS NULL;
ALTER TABLE moderation_logs DROP CONSTRAINT moderation_logs_action_check;
ALTER TABLE moderation_logs ADD CONSTRAINT moderation_logs_action_check
  CHECK (action IN ('warn', 'mute', 'kick', 'ban', 'unban', 'timeout', 'note'));
COMMENT ON COLUMN moderation_logs.action IS NULL;

ALTER TABLE moderation_logs DROP CONSTRAINT moderation_logs_moderator_id_fkey;
ALTER TABLE moderation_logs ALTER COLUMN moderator_id SET NOT NULL;
ALTER TABLE moderation_logs ADD CONSTRAINT moderation_logs_moderator_id_fkey
  FOREIGN KEY (moderator_id) REFERENCES users(id) ON DELETE CASCADE;
COMMENT ON COLUMN moderation_logs.moderator_id IS NULL;
