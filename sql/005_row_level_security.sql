-- Row level security as the guide writes it, runnable on plain PostgreSQL as well as Supabase
-- (design.md fix 12). auth.uid()/auth.jwt() read the request.jwt.claims setting that PostgREST sets;
-- auth.uid() is compared as text, since Supabase's returns uuid and the shim's text (revised for
-- Supabase: the earlier text is accepted by the runner, and 021 replaces these policies anyway);
-- they and the API roles are created only where missing, and the down migration leaves them in
-- place because they are shared with whatever else runs on the cluster (Supabase owns them there).

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN;
  END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS auth;

DO $$
BEGIN
  IF to_regprocedure('auth.jwt()') IS NULL THEN
    CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $f$
      SELECT COALESCE(NULLIF(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
    $f$;
  END IF;
  IF to_regprocedure('auth.uid()') IS NULL THEN
    CREATE FUNCTION auth.uid() RETURNS text LANGUAGE sql STABLE AS $f$
      SELECT NULLIF(auth.jwt() ->> 'sub', '')
    $f$;
  END IF;
END
$$;

-- The auth schema's grants are its owner's business: only a shim this migration created (owned by
-- us) is granted here; Supabase's own auth schema, owned by supabase_auth_admin, is left as it is.
DO $$
BEGIN
  IF (SELECT nspowner FROM pg_namespace WHERE nspname = 'auth') = (SELECT oid FROM pg_roles WHERE rolname = current_user) THEN
    GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
  END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
GRANT SELECT ON users, user_profiles, pathway_progress, notifications, content, moderation_logs
  TO anon, authenticated;
GRANT UPDATE (read) ON notifications TO authenticated;
GRANT ALL ON users, user_profiles, pathway_progress, notifications, content, moderation_logs
  TO service_role;

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE pathway_progress ENABLE ROW LEVEL SECURITY;
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE content ENABLE ROW LEVEL SECURITY;
ALTER TABLE moderation_logs ENABLE ROW LEVEL SECURITY;

-- The service role sees and changes everything, whether or not the cluster gave it BYPASSRLS.
CREATE POLICY users_service_all ON users FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY user_profiles_service_all ON user_profiles FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY pathway_progress_service_all ON pathway_progress FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY notifications_service_all ON notifications FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY content_service_all ON content FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY moderation_logs_service_all ON moderation_logs FOR ALL TO service_role USING (true) WITH CHECK (true);

CREATE POLICY users_select_own ON users
  FOR SELECT
  USING (auth.uid()::text = id OR auth.jwt() ->> 'role' = 'service_role');

-- Every public profile, and one's own even when private.
CREATE POLICY user_profiles_select_all ON user_profiles
  FOR SELECT
  USING (COALESCE((preferences ->> 'public_profile')::boolean, true) OR auth.uid()::text = user_id);

CREATE POLICY pathway_progress_select_all ON pathway_progress
  FOR SELECT
  USING (true);

CREATE POLICY notifications_select_own ON notifications
  FOR SELECT
  USING (auth.uid()::text = user_id);

CREATE POLICY notifications_update_own ON notifications
  FOR UPDATE
  USING (auth.uid()::text = user_id)
  WITH CHECK (auth.uid()::text = user_id);

CREATE POLICY content_select_published ON content
  FOR SELECT
  USING (status = 'published' OR auth.uid()::text = author_id);

CREATE POLICY moderation_logs_select_staff ON moderation_logs
  FOR SELECT
  USING (auth.jwt() ->> 'role' = 'service_role');
