-- An event's announcement in Discord, kept current: the message the outbox posted (its channel and
-- id, recorded in the transaction that marks the post delivered) and the state it shows, so a change
-- made anywhere (the bot, the website's register_for_event / leave_event, an edit, the clock) is
-- noticed by comparing this row with the event's and edited through the outbox.
CREATE TABLE event_announcements (
  event_id UUID PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
  channel_id TEXT NOT NULL CHECK (channel_id ~ '^[0-9]{1,20}$'),
  message_id TEXT NOT NULL CHECK (message_id ~ '^[0-9]{1,20}$'),
  -- What the message shows (queued last): the places taken and waiting, the status, the event row's
  -- version (events.updated_at, bumped by every edit) and a digest of the rendered message. NULL:
  -- not known (an edit failed for good), so the next check sends the current state.
  shown_registered INTEGER CHECK (shown_registered >= 0),
  shown_waitlisted INTEGER CHECK (shown_waitlisted >= 0),
  shown_status TEXT,
  shown_version TIMESTAMPTZ,
  shown_digest TEXT CHECK (length(shown_digest) <= 100),
  -- Bumped at each edit queued: the edit's dedupe key, so no two edits carry one revision.
  revision INTEGER NOT NULL DEFAULT 0 CHECK (revision >= 0),
  -- Discord answered 404 (a moderator deleted the message): never edited again.
  gone_at TIMESTAMPTZ,
  posted_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
COMMENT ON TABLE event_announcements IS
  'Each event''s announcement message in Discord and the state it shows, so the bot edits it when the event changes';

ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN (
  'add_role', 'remove_role', 'dm', 'channel_message', 'ban', 'unban', 'kick', 'timeout', 'delete_messages',
  'edit_message'));
COMMENT ON COLUMN outbox.kind IS
  'add_role, remove_role, dm, channel_message; ban, unban, kick, timeout (moderation: {guild_id, user_id, reason, ...}); delete_messages ({guild_id, channel_id, message_ids}); edit_message ({channel_id, message_id, embeds, components})';
-- The newest edit of one message is the one sent (older ones still pending are superseded).
CREATE INDEX idx_outbox_edit_message ON outbox ((payload ->> 'message_id'), id) WHERE kind = 'edit_message';

ALTER TABLE event_announcements ENABLE ROW LEVEL SECURITY;
GRANT ALL ON event_announcements TO service_role;
CREATE POLICY event_announcements_service_all ON event_announcements FOR ALL TO service_role
  USING (true) WITH CHECK (true);
