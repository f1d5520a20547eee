-- Statistics and operations: a daily rollup of the server's figures (server_stats keeps only the
-- current ones), the day's message and voice counters the XP and activity flushes add to, and the
-- record of scheduled maintenance runs that lets several bot processes share one database.

CREATE TABLE server_stats_daily (
  day DATE PRIMARY KEY,
  member_count INTEGER NOT NULL DEFAULT 0 CHECK (member_count >= 0),
  online_count INTEGER CHECK (online_count >= 0),
  messages BIGINT NOT NULL DEFAULT 0 CHECK (messages >= 0),
  voice_minutes BIGINT NOT NULL DEFAULT 0 CHECK (voice_minutes >= 0),
  active_members INTEGER NOT NULL DEFAULT 0 CHECK (active_members >= 0),
  joins INTEGER NOT NULL DEFAULT 0 CHECK (joins >= 0),
  leaves INTEGER NOT NULL DEFAULT 0 CHECK (leaves >= 0),
  xp JSONB NOT NULL DEFAULT '{}'::jsonb,
  pathway_members JSONB NOT NULL DEFAULT '{}'::jsonb,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
COMMENT ON TABLE server_stats_daily IS
  'One row per day (community timezone): the server''s figures kept for history; today''s row is refreshed with server_stats';
COMMENT ON COLUMN server_stats_daily.online_count IS 'Members online at the last refresh of the day; NULL when presences are not tracked';
COMMENT ON COLUMN server_stats_daily.messages IS 'Member messages that day (added by the bot''s flushes)';
COMMENT ON COLUMN server_stats_daily.voice_minutes IS 'Voice minutes that day (added by the bot''s flushes)';
COMMENT ON COLUMN server_stats_daily.active_members IS 'Members in the server who chatted or were in voice in the 7 days up to the refresh';
COMMENT ON COLUMN server_stats_daily.xp IS 'JSON: XP earned that day, {"total": n, "<pathway>": n}, from the ledger';
COMMENT ON COLUMN server_stats_daily.pathway_members IS 'JSON: pathway id -> members in the server who joined it';

CREATE FUNCTION community_timezone() RETURNS TEXT AS $$
  SELECT COALESCE((SELECT value FROM community_settings WHERE key = 'timezone'), 'UTC');
$$ LANGUAGE sql STABLE;
COMMENT ON FUNCTION community_timezone() IS 'The community''s IANA timezone (written by the bot at start-up), UTC by default';

CREATE FUNCTION count_daily_activity(p_messages BIGINT, p_voice_minutes BIGINT)
RETURNS VOID AS $$
  INSERT INTO server_stats_daily AS d (day, messages, voice_minutes)
  VALUES ((NOW() AT TIME ZONE community_timezone())::date, GREATEST(p_messages, 0), GREATEST(p_voice_minutes, 0))
  ON CONFLICT (day) DO UPDATE SET messages = d.messages + EXCLUDED.messages,
                                  voice_minutes = d.voice_minutes + EXCLUDED.voice_minutes;
$$ LANGUAGE sql;
COMMENT ON FUNCTION count_daily_activity(BIGINT, BIGINT) IS
  'Add messages and voice minutes to today''s row of server_stats_daily (community timezone)';
REVOKE EXECUTE ON FUNCTION count_daily_activity(BIGINT, BIGINT) FROM PUBLIC, anon, authenticated;

CREATE TABLE maintenance_runs (
  job TEXT PRIMARY KEY,
  last_started_at TIMESTAMPTZ,
  last_finished_at TIMESTAMPTZ,
  last_status TEXT CHECK (last_status IN ('running', 'completed', 'failed')),
  last_detail TEXT,
  runs INTEGER NOT NULL DEFAULT 0 CHECK (runs >= 0)
);
COMMENT ON TABLE maintenance_runs IS
  'Scheduled maintenance jobs: when each last ran and how it went; a job runs once per period whatever the number of bot processes';

-- The retention deletes walk these.
CREATE INDEX idx_outbox_delivered_at ON outbox (delivered_at) WHERE status = 'delivered';

ALTER TABLE server_stats_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE maintenance_runs ENABLE ROW LEVEL SECURITY;
GRANT ALL ON server_stats_daily, maintenance_runs TO service_role;
CREATE POLICY server_stats_daily_service_all ON server_stats_daily FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY maintenance_runs_service_all ON maintenance_runs FOR ALL TO service_role USING (true) WITH CHECK (true);
-- The website shows the history as it shows server_stats.
GRANT SELECT ON server_stats_daily TO anon, authenticated;
CREATE POLICY server_stats_daily_select_all ON server_stats_daily FOR SELECT USING (true);
