-- Rollback of 010_hardening.sql. Default privileges are left revoked: restoring a platform's grants
-- to its API roles is not this migration's to do.

GRANT EXECUTE ON FUNCTION award_xp(TEXT, TEXT, INTEGER), apply_xp(TEXT, TEXT, INTEGER), award_achievement(TEXT, TEXT),
  cleanup_expired_notifications() TO PUBLIC;

DO $$
BEGIN
  IF current_setting('server_version_num')::int >= 150000 THEN
    REVOKE SELECT ON user_leaderboard, pathway_leaderboard, active_events, user_achievement_summary
      FROM anon, authenticated;
    ALTER VIEW user_leaderboard RESET (security_invoker);
    ALTER VIEW pathway_leaderboard RESET (security_invoker);
    ALTER VIEW active_events RESET (security_invoker);
    ALTER VIEW user_achievement_summary RESET (security_invoker);
  END IF;
END
$$;

DROP POLICY server_stats_select_all ON server_stats;
DROP POLICY user_achievements_select_public ON user_achievements;
DROP POLICY achievements_select_visible ON achievements;
DROP POLICY event_registrations_select_own ON event_registrations;
DROP POLICY events_select_listed ON events;
DROP POLICY pathway_progress_select_public ON pathway_progress;
CREATE POLICY pathway_progress_select_all ON pathway_progress
  FOR SELECT
  USING (true);

REVOKE SELECT ON events, event_registrations, achievements, user_achievements, server_stats
  FROM anon, authenticated;

DROP TRIGGER xp_ledger_no_delete ON xp_ledger;
DROP FUNCTION xp_ledger_refuse_delete();

UPDATE outbox SET status = 'failed' WHERE status = 'refused';
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'delivered', 'failed'));
COMMENT ON COLUMN outbox.status IS NULL;

DROP TABLE dead_letters;

-- RLS as 005 left it: on its six tables only.
DO $$
DECLARE
  t RECORD;
BEGIN
  FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
             AND c.relname NOT IN ('users', 'user_profiles', 'pathway_progress', 'notifications', 'content',
                                   'moderation_logs') LOOP
    EXECUTE format('DROP POLICY IF EXISTS %I ON public.%I', t.relname || '_service_all', t.relname);
    EXECUTE format('ALTER TABLE public.%I DISABLE ROW LEVEL SECURITY', t.relname);
    EXECUTE format('REVOKE ALL ON public.%I FROM service_role', t.relname);
  END LOOP;
END
$$;
