-- Case revisions: a moderator's correction of a case's reason or duration, or its voiding, keeps
-- what was there before. moderation_logs holds the current values (what the website shows).
CREATE TABLE moderation_case_revisions (
  id BIGSERIAL PRIMARY KEY,
  case_id INTEGER NOT NULL REFERENCES moderation_logs(id) ON DELETE CASCADE,
  field TEXT NOT NULL CHECK (field IN ('reason', 'duration', 'void')),
  old_value TEXT,
  new_value TEXT,
  editor_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
COMMENT ON TABLE moderation_case_revisions IS 'Every change to a case after it was opened (reason, duration, void), with who and when';
COMMENT ON COLUMN moderation_case_revisions.old_value IS 'The value before (a duration in minutes, NULL meaning permanent)';
CREATE INDEX idx_moderation_case_revisions_case ON moderation_case_revisions (case_id, id);
ALTER TABLE moderation_case_revisions ENABLE ROW LEVEL SECURITY;
GRANT ALL ON moderation_case_revisions TO service_role;
GRANT USAGE ON SEQUENCE moderation_case_revisions_id_seq TO service_role;
CREATE POLICY moderation_case_revisions_service_all ON moderation_case_revisions
  FOR ALL TO service_role USING (true) WITH CHECK (true);
