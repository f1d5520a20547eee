-- Hardening shared by every write path and by the website's API roles (issue 8):
-- a dead-letter table for rows the database refuses, the outbox's 'refused' outcome, a ledger that
-- refuses DELETE (except an account erasure's cascade), and least privilege: RLS on every table,
-- deny by default, only the policies the website needs, and no API-role EXECUTE on functions that
-- move XP. auth.uid() is compared as text (Supabase's returns uuid; revised for Supabase, the
-- earlier text is accepted by the runner and 021 replaces these policies).

CREATE TABLE dead_letters (
  id BIGSERIAL PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('xp_grant', 'activity', 'outbox')),
  payload JSONB NOT NULL,
  error TEXT NOT NULL,
  sqlstate TEXT,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'replayed', 'discarded')),
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  resolved_at TIMESTAMPTZ,
  resolution TEXT
);
COMMENT ON TABLE dead_letters IS
  'Writes the database refused (an XP grant, a member''s counts, an outbox effect), isolated from the rest of their batch; listed by python -m bot doctor, replayed or discarded by staff';
COMMENT ON COLUMN dead_letters.payload IS 'The refused write, enough to replay it (e.g. {user_id, discord_id, source, source_ref, pathway, amount, created_at})';
COMMENT ON COLUMN dead_letters.sqlstate IS 'PostgreSQL error code of the refusal (23503: foreign key, 23514: check), NULL when the bot refused it';
COMMENT ON COLUMN dead_letters.resolution IS 'What replay or discard did, and who asked';
CREATE INDEX idx_dead_letters_pending ON dead_letters (created_at) WHERE status = 'pending';

ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'delivered', 'failed', 'refused'));
COMMENT ON COLUMN outbox.status IS
  'pending, delivered, failed (Discord refused or gave up), refused (the bot will not act on it, e.g. a role the configuration does not name)';

-- Erasing an account deletes its ledger rows through the foreign key's cascade (a nested trigger);
-- a DELETE issued on the ledger itself is refused like UPDATE and TRUNCATE.
CREATE OR REPLACE FUNCTION xp_ledger_refuse_delete() RETURNS TRIGGER AS $$
BEGIN
  IF pg_trigger_depth() > 1 THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'xp_ledger is append-only: record a reversal or a manual change instead of deleting rows'
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION xp_ledger_refuse_delete() IS 'Trigger: refuses DELETE on the XP ledger, except the cascade of an erased account';
CREATE TRIGGER xp_ledger_no_delete BEFORE DELETE ON xp_ledger
  FOR EACH ROW EXECUTE FUNCTION xp_ledger_refuse_delete();

-- Least privilege. Supabase grants its API roles ALL on every new public table by default; revoke
-- that, enable RLS everywhere (deny by default), and grant back only what the website reads.
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM anon, authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM anon, authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC, anon, authenticated;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM anon, authenticated;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM anon, authenticated;

DO $$
DECLARE
  t RECORD;
BEGIN
  FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') LOOP
    EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t.relname);
    EXECUTE format('GRANT ALL ON public.%I TO service_role', t.relname);
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public' AND tablename = t.relname
                   AND policyname = t.relname || '_service_all') THEN
      EXECUTE format('CREATE POLICY %I ON public.%I FOR ALL TO service_role USING (true) WITH CHECK (true)',
                     t.relname || '_service_all', t.relname);
    END IF;
  END LOOP;
END
$$;

-- What the website reads (005's six tables, now plus events, achievements and server stats).
GRANT SELECT ON users, user_profiles, pathway_progress, notifications, content, moderation_logs,
  events, event_registrations, achievements, user_achievements, server_stats
  TO anon, authenticated;
GRANT UPDATE (read) ON notifications TO authenticated;

-- A private profile hides its pathways too (005 showed every pathway_progress row).
DROP POLICY pathway_progress_select_all ON pathway_progress;
CREATE POLICY pathway_progress_select_public ON pathway_progress
  FOR SELECT
  USING (
    auth.uid()::text = user_id
    OR EXISTS (SELECT 1 FROM user_profiles up WHERE up.user_id = pathway_progress.user_id
               AND COALESCE((up.preferences ->> 'public_profile')::boolean, true))
  );

CREATE POLICY events_select_listed ON events
  FOR SELECT
  USING (status <> 'draft' OR auth.uid()::text = host_id);

CREATE POLICY event_registrations_select_own ON event_registrations
  FOR SELECT
  USING (auth.uid()::text = user_id);

CREATE POLICY achievements_select_visible ON achievements
  FOR SELECT
  USING (
    COALESCE(is_active, true) AND (
      NOT COALESCE(hidden, false)
      OR EXISTS (SELECT 1 FROM user_achievements ua WHERE ua.achievement_id = achievements.id
                 AND ua.user_id = auth.uid()::text AND ua.progress >= 100)
    )
  );

CREATE POLICY user_achievements_select_public ON user_achievements
  FOR SELECT
  USING (
    auth.uid()::text = user_id
    OR EXISTS (SELECT 1 FROM user_profiles up WHERE up.user_id = user_achievements.user_id
               AND COALESCE((up.preferences ->> 'public_profile')::boolean, true))
  );

CREATE POLICY server_stats_select_all ON server_stats
  FOR SELECT
  USING (true);

-- Views read with the reader's rights where the server can (PostgreSQL 15+), so a view cannot
-- show what RLS hides; on 14 they keep the owner's rights and are not granted to the API roles.
DO $$
BEGIN
  IF current_setting('server_version_num')::int >= 150000 THEN
    ALTER VIEW user_leaderboard SET (security_invoker = true);
    ALTER VIEW pathway_leaderboard SET (security_invoker = true);
    ALTER VIEW active_events SET (security_invoker = true);
    ALTER VIEW user_achievement_summary SET (security_invoker = true);
    GRANT SELECT ON user_leaderboard, pathway_leaderboard, active_events, user_achievement_summary
      TO anon, authenticated;
  END IF;
END
$$;

-- Functions that move XP or delete rows are the bot's and the service role's only.
REVOKE EXECUTE ON FUNCTION award_xp(TEXT, TEXT, INTEGER), apply_xp(TEXT, TEXT, INTEGER), award_achievement(TEXT, TEXT),
  cleanup_expired_notifications() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION award_xp(TEXT, TEXT, INTEGER), apply_xp(TEXT, TEXT, INTEGER), award_achievement(TEXT, TEXT),
  cleanup_expired_notifications() TO service_role;
