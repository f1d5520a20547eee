-- Moderation cases (issue 9, first part): the guide's moderation_logs with the departures its
-- contract needs. Cases outlive an erased moderator; the action set gains the reversals the bot
-- records (untimeout, unmute); every case has a per-guild, gap-free number assigned in its
-- transaction (kept in metadata.case_number, as the guide's metadata holds case details, and made
-- unique by an expression index); temporary and permanent sanctions are rows with their expiry.

ALTER TABLE moderation_logs DROP CONSTRAINT moderation_logs_moderator_id_fkey;
ALTER TABLE moderation_logs ALTER COLUMN moderator_id DROP NOT NULL;
ALTER TABLE moderation_logs ADD CONSTRAINT moderation_logs_moderator_id_fkey
  FOREIGN KEY (moderator_id) REFERENCES users(id) ON DELETE SET NULL;
COMMENT ON COLUMN moderation_logs.moderator_id IS
  'Who acted; NULL once that account is erased (the case stays on record: a departure from the guide''s CASCADE)';

ALTER TABLE moderation_logs DROP CONSTRAINT moderation_logs_action_check;
ALTER TABLE moderation_logs ADD CONSTRAINT moderation_logs_action_check
  CHECK (action IN ('warn', 'mute', 'kick', 'ban', 'unban', 'timeout', 'note', 'untimeout', 'unmute'));
COMMENT ON COLUMN moderation_logs.action IS
  'warn, mute, kick, ban, unban, timeout, note (the guide''s), and untimeout, unmute (lifting those early)';

CREATE TABLE moderation_case_counters (
  guild_id TEXT PRIMARY KEY,
  last_case INTEGER NOT NULL DEFAULT 0 CHECK (last_case >= 0)
);
COMMENT ON TABLE moderation_case_counters IS
  'The last case number per guild; taken with a row lock in the case''s transaction, so numbers have no gaps';

CREATE UNIQUE INDEX idx_moderation_logs_case_number
  ON moderation_logs ((metadata ->> 'guild_id'), ((metadata ->> 'case_number')::integer))
  WHERE metadata ? 'case_number';
CREATE INDEX idx_moderation_logs_target_case
  ON moderation_logs (target_user_id, ((metadata ->> 'case_number')::integer) DESC)
  WHERE metadata ? 'case_number';

CREATE TABLE moderation_sanctions (
  id BIGSERIAL PRIMARY KEY,
  case_id INTEGER NOT NULL REFERENCES moderation_logs(id) ON DELETE CASCADE,
  guild_id TEXT NOT NULL,
  target_discord_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('ban', 'timeout', 'mute')),
  starts_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  expires_at TIMESTAMPTZ,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'expired', 'lifted', 'superseded', 'voided')),
  ended_at TIMESTAMPTZ,
  ended_by_case INTEGER REFERENCES moderation_logs(id) ON DELETE SET NULL
);
COMMENT ON TABLE moderation_sanctions IS
  'Bans, timeouts and mutes in force or ended; at most one active per member and kind, so an old expiry can never lift a newer sanction';
COMMENT ON COLUMN moderation_sanctions.target_discord_id IS 'The member''s Discord id (a banned member may have no users row)';
COMMENT ON COLUMN moderation_sanctions.expires_at IS 'NULL: permanent';
COMMENT ON COLUMN moderation_sanctions.status IS
  'active; expired (its timer lifted it); lifted (a moderator did); superseded (a newer sanction of the same kind replaced it); voided (its case was voided)';
CREATE UNIQUE INDEX idx_moderation_sanctions_active
  ON moderation_sanctions (guild_id, target_discord_id, kind) WHERE status = 'active';
CREATE INDEX idx_moderation_sanctions_case ON moderation_sanctions (case_id);

ALTER TABLE moderation_case_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE moderation_sanctions ENABLE ROW LEVEL SECURITY;
GRANT ALL ON moderation_case_counters, moderation_sanctions TO service_role;
GRANT USAGE ON SEQUENCE moderation_sanctions_id_seq TO service_role;
CREATE POLICY moderation_case_counters_service_all ON moderation_case_counters
  FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY moderation_sanctions_service_all ON moderation_sanctions
  FOR ALL TO service_role USING (true) WITH CHECK (true);
