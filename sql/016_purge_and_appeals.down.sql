-- Rollback of 016_purge_and_appeals.sql: purge cases, appeal revisions, pending deletions and
-- settings changed with /modconfig go with it.
DELETE FROM community_settings WHERE key LIKE 'moderation.%';
COMMENT ON TABLE community_settings IS 'Configuration the SQL functions need (e.g. timezone), written by the bot at start-up';
DELETE FROM moderation_case_revisions WHERE field = 'appeal';
ALTER TABLE moderation_case_revisions DROP CONSTRAINT moderation_case_revisions_field_check;
ALTER TABLE moderation_case_revisions ADD CONSTRAINT moderation_case_revisions_field_check
  CHECK (field IN ('reason', 'duration', 'void'));
COMMENT ON COLUMN moderation_case_revisions.field IS NULL;
DELETE FROM outbox WHERE kind = 'delete_messages';
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
  'add_role', 'remove_role', 'dm', 'channel_message', 'ban', 'unban', 'kick', 'timeout'));
COMMENT ON COLUMN outbox.kind IS
  'add_role, remove_role, dm, channel_message; ban, unban, kick, timeout (moderation: {guild_id, user_id, reason, ...})';
DELETE FROM moderation_logs WHERE action = 'purge';
ALTER TABLE moderation_logs DROP CONSTRAINT moderation_logs_action_check;
ALTER TABLE moderation_logs ADD CONSTRAINT moderation_logs_action_check
  CHECK (action IN ('warn', 'mute', 'kick', 'ban', 'unban', 'timeout', 'note', 'untimeout', 'unmute'));
COMMENT ON COLUMN moderation_logs.action IS
  'warn, mute, kick, ban, unban, timeout, note (the guide''s), and untimeout, unmute (lifting those early)';
