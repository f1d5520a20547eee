-- Rollback of 014_outbox_moderation.sql: moderation effects not yet delivered are dropped with it.
DELETE FROM outbox WHERE kind IN ('ban', 'unban', 'kick', 'timeout');
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('add_role', 'remove_role', 'dm', 'channel_message'));
COMMENT ON COLUMN outbox.kind IS NULL;
