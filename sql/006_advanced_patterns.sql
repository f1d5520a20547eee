-- The guide's advanced patterns the website relies on (design.md fix 13).

-- Soft delete of content.
ALTER TABLE content ADD COLUMN deleted_at TIMESTAMPTZ;
COMMENT ON COLUMN content.deleted_at IS 'Soft delete: set instead of deleting; live rows have NULL';
CREATE INDEX idx_content_active ON content (id) WHERE deleted_at IS NULL;

-- Full-text search over title and body.
ALTER TABLE content ADD COLUMN search_vector tsvector;
COMMENT ON COLUMN content.search_vector IS 'English full-text vector of title and body, kept by a trigger';
CREATE TRIGGER content_search_update
  BEFORE INSERT OR UPDATE ON content
  FOR EACH ROW EXECUTE FUNCTION tsvector_update_trigger(search_vector, 'pg_catalog.english', title, body);
CREATE INDEX idx_content_search ON content USING GIN (search_vector);

-- Content version history.
CREATE TABLE content_versions (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  content_id UUID REFERENCES content(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  title TEXT,
  body TEXT,
  changed_by TEXT REFERENCES users(id),
  changed_at TIMESTAMPTZ DEFAULT NOW(),
  change_reason TEXT,
  UNIQUE (content_id, version)
);
COMMENT ON TABLE content_versions IS 'Earlier versions of content items, newest version number highest';

-- Per-member request rate limiting.
CREATE TABLE rate_limits (
  user_id TEXT PRIMARY KEY,
  request_count INTEGER DEFAULT 0,
  window_start TIMESTAMPTZ DEFAULT NOW(),
  last_request TIMESTAMPTZ DEFAULT NOW()
);
COMMENT ON TABLE rate_limits IS 'Fixed-window request counters used by check_rate_limit()';
COMMENT ON COLUMN rate_limits.user_id IS 'Caller key (a users.id or any other stable key); not a foreign key on purpose';

/**
 * Count one request for p_user_id; false once p_max_requests were made in the current window of
 * p_window_minutes. The row is locked so concurrent calls count exactly.
 */
CREATE OR REPLACE FUNCTION check_rate_limit(p_user_id TEXT, p_max_requests INTEGER, p_window_minutes INTEGER)
RETURNS BOOLEAN AS $$
DECLARE
  v_count INTEGER;
  v_window_start TIMESTAMPTZ;
BEGIN
  INSERT INTO rate_limits (user_id, request_count, window_start, last_request)
  VALUES (p_user_id, 0, NOW(), NOW())
  ON CONFLICT (user_id) DO NOTHING;

  SELECT request_count, window_start INTO v_count, v_window_start
  FROM rate_limits WHERE user_id = p_user_id FOR UPDATE;

  IF v_window_start < NOW() - make_interval(mins => p_window_minutes) THEN
    UPDATE rate_limits SET request_count = 1, window_start = NOW(), last_request = NOW()
    WHERE user_id = p_user_id;
    RETURN true;
  END IF;

  IF v_count >= p_max_requests THEN
    RETURN false;
  END IF;

  UPDATE rate_limits SET request_count = request_count + 1, last_request = NOW()
  WHERE user_id = p_user_id;
  RETURN true;
END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION check_rate_limit(TEXT, INTEGER, INTEGER) IS 'Fixed-window rate limit: true if the request is allowed';

-- Security audit log.
CREATE TABLE security_audit (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id TEXT,
  action TEXT NOT NULL,
  table_name TEXT,
  record_id TEXT,
  ip_address INET,
  user_agent TEXT,
  success BOOLEAN,
  error_message TEXT,
  timestamp TIMESTAMPTZ DEFAULT NOW()
);
COMMENT ON TABLE security_audit IS 'Sensitive operations and their outcome (kept even when the user is deleted)';

-- Cached per-pathway statistics; the unique index lets it refresh CONCURRENTLY.
CREATE MATERIALIZED VIEW pathway_stats_cache AS
SELECT
  pathway_id,
  COUNT(DISTINCT user_id) AS total_members,
  AVG(level) AS avg_level,
  SUM(total_xp) AS total_xp,
  MAX(updated_at) AS last_updated
FROM pathway_progress
GROUP BY pathway_id;
COMMENT ON MATERIALIZED VIEW pathway_stats_cache IS 'Per-pathway member count, average level and XP; refresh concurrently';
CREATE UNIQUE INDEX idx_pathway_stats_cache ON pathway_stats_cache (pathway_id);
