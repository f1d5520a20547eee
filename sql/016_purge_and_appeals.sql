-- Moderation, second part: purges are cases too, their deletions go through the outbox, appeals
-- are decisions on a case kept with its revisions, and staff may change moderation settings in
-- Discord (kept in community_settings, each change in admin_logs).

ALTER TABLE moderation_logs DROP CONSTRAINT moderation_logs_action_check;
ALTER TABLE moderation_logs ADD CONSTRAINT moderation_logs_action_check
  CHECK (action IN ('warn', 'mute', 'kick', 'ban', 'unban', 'timeout', 'note', 'untimeout', 'unmute', 'purge'));
COMMENT ON COLUMN moderation_logs.action IS
  'warn, mute, kick, ban, unban, timeout, note (the guide''s), and untimeout, unmute (lifting those early), purge (a member''s messages deleted)';

ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
  'add_role', 'remove_role', 'dm', 'channel_message', 'ban', 'unban', 'kick', 'timeout', 'delete_messages'));
COMMENT ON COLUMN outbox.kind IS
  'add_role, remove_role, dm, channel_message; ban, unban, kick, timeout (moderation: {guild_id, user_id, reason, ...}); delete_messages ({guild_id, channel_id, message_ids})';

ALTER TABLE moderation_case_revisions DROP CONSTRAINT moderation_case_revisions_field_check;
ALTER TABLE moderation_case_revisions ADD CONSTRAINT moderation_case_revisions_field_check
  CHECK (field IN ('reason', 'duration', 'void', 'appeal'));
COMMENT ON COLUMN moderation_case_revisions.field IS
  'reason, duration, void, or appeal (new_value: the appeal''s status, pending, accepted or denied)';

COMMENT ON TABLE community_settings IS
  'Settings the SQL functions need (timezone, written by the bot at start-up) and moderation settings staff changed with /modconfig (keys moderation.*, JSON values)';
