-- The outbox delivers moderation's Discord effects too: bans, unbans, kicks and timeouts, with the
-- same retries and recorded outcomes as roles and messages.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
  'add_role', 'remove_role', 'dm', 'channel_message', 'ban', 'unban', 'kick', 'timeout'));
COMMENT ON COLUMN outbox.kind IS
  'add_role, remove_role, dm, channel_message; ban, unban, kick, timeout (moderation: {guild_id, user_id, reason, ...})';
