-- The durable outbox: Discord side effects that must not be lost (role grants and removals, DMs,
-- announcements). A row is written in the same transaction as the state change that causes it and
-- delivered by the bot's outbox worker, with retries, until it is delivered or fails for good.

CREATE TABLE outbox (
  id BIGSERIAL PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('add_role', 'remove_role', 'dm', 'channel_message')),
  payload JSONB NOT NULL,
  dedupe_key TEXT UNIQUE,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  last_error TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  delivered_at TIMESTAMPTZ
);
COMMENT ON TABLE outbox IS 'Discord side effects waiting for delivery (role changes, DMs, announcements), with their outcome';
COMMENT ON COLUMN outbox.payload IS 'JSON: what to deliver; e.g. {guild_id, user_id, role_id, reason} or {user_id, content, embeds}';
COMMENT ON COLUMN outbox.dedupe_key IS 'Optional: a second enqueue of the same effect is ignored';
COMMENT ON COLUMN outbox.last_error IS 'Why the last attempt failed (e.g. the member has DMs closed)';

CREATE INDEX idx_outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
