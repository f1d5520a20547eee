-- Achievements staff took back: the bot's evaluation and backfills do not award a revoked
-- achievement to that member again (a revoke is a decision, not a stale row) until staff grant it.
CREATE TABLE achievement_revocations (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  achievement_id TEXT NOT NULL REFERENCES achievements(id) ON DELETE CASCADE,
  revoked_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  reason TEXT CHECK (char_length(reason) <= 500),
  revoked_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  PRIMARY KEY (user_id, achievement_id)
);
COMMENT ON TABLE achievement_revocations IS
  'Achievements staff revoked from a member: not awarded to them again automatically; a staff grant removes the row';
CREATE INDEX idx_achievement_revocations_achievement_id ON achievement_revocations (achievement_id);
CREATE INDEX idx_achievement_revocations_revoked_by ON achievement_revocations (revoked_by);

ALTER TABLE achievement_revocations ENABLE ROW LEVEL SECURITY;
GRANT ALL ON achievement_revocations TO service_role;
CREATE POLICY achievement_revocations_service_all ON achievement_revocations
  FOR ALL TO service_role USING (true) WITH CHECK (true);
