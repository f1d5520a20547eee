-- Durable timers: work that must happen at a time (a temporary sanction's expiry, later an event's
-- reminder) is a row here, woken by one dispatcher in the bot (sleep until the earliest, wake on a
-- sooner insert). The row is the truth: a restart or downtime makes a timer late, never lost, and a
-- timer runs once (row lock while it runs, done in the same transaction as its effect).

CREATE TABLE timers (
  id BIGSERIAL PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind ~ '^[a-z_]+$'),
  due_at TIMESTAMPTZ NOT NULL,
  payload JSONB NOT NULL DEFAULT '{}'::jsonb,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed', 'cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_error TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  done_at TIMESTAMPTZ
);
COMMENT ON TABLE timers IS 'Work due at a time (sanction expiries, reminders), run once by the bot''s timer dispatcher';
COMMENT ON COLUMN timers.kind IS 'Which handler runs it, e.g. sanction_expiry';
COMMENT ON COLUMN timers.payload IS 'JSON the handler reads, e.g. {sanction_id}';
COMMENT ON COLUMN timers.last_error IS 'Why the last run failed (it is retried with backoff, then marked failed)';
CREATE INDEX idx_timers_due ON timers (due_at, id) WHERE status = 'pending';

ALTER TABLE timers ENABLE ROW LEVEL SECURITY;
GRANT ALL ON timers TO service_role;
GRANT USAGE ON SEQUENCE timers_id_seq TO service_role;
CREATE POLICY timers_service_all ON timers FOR ALL TO service_role USING (true) WITH CHECK (true);
