-- Rollback of 036_event_announcements.sql: announcements are no longer kept current.
DELETE FROM outbox WHERE kind = 'edit_message';
DROP INDEX IF EXISTS idx_outbox_edit_message;
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
  'add_role', 'remove_role', 'dm', 'channel_message', 'ban', 'unban', 'kick', 'timeout', 'delete_messages'));
COMMENT ON COLUMN outbox.kind IS
  'add_role, remove_role, dm, channel_message; ban, unban, kick, timeout (moderation: {guild_id, user_id, reason, ...}); delete_messages ({guild_id, channel_id, message_ids})';
DROP TABLE IF EXISTS event_announcements;
