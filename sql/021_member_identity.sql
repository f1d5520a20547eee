-- 021 member_identity: one member, one identity, website and bot (issue 17).
--
-- A member signed in to the website has a JWT whose `sub` is their auth user id (a uuid on Supabase),
-- while their `users` row is keyed by the bot (`user_…`) or by whoever created it first. What ties the
-- two is the Discord id that the auth server recorded when the member signed in with Discord:
-- `auth.identities` (provider 'discord', provider_id), which the member cannot change. The copy in
-- `user_metadata` (raw_user_meta_data) is editable by every user and is never read. So a member's own
-- rows are found as: auth.uid() -> auth.identities (discord) -> provider_id = users.discord_id.
--
-- On Supabase, auth.identities is Supabase Auth's and is only read. Where no auth server keeps one
-- (plain PostgreSQL with the project's shim), a table of the same shape is created in the shim's auth
-- schema for the website's auth to fill (service role only); like the rest of the shim, it is left in
-- place by the down migration.

DO $$
DECLARE
  uid_type TEXT := pg_get_function_result('auth.uid()'::regprocedure);
BEGIN
  IF to_regclass('auth.identities') IS NULL THEN
    -- user_id has the type auth.uid() returns, so the lookup below compares like with like.
    EXECUTE format($f$
      CREATE TABLE auth.identities (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id %s NOT NULL,
        provider TEXT NOT NULL,
        provider_id TEXT NOT NULL,
        identity_data JSONB NOT NULL DEFAULT '{}'::jsonb,
        created_at TIMESTAMPTZ DEFAULT NOW(),
        UNIQUE (provider_id, provider)
      )$f$, uid_type);
    CREATE INDEX identities_user_id_idx ON auth.identities (user_id);
    COMMENT ON TABLE auth.identities IS
      'Shim of Supabase Auth''s identities (created where no auth server keeps one): the sign-in identities of website users; provider ''discord'' with provider_id = the Discord user id ties a website user to their users row';
    REVOKE ALL ON auth.identities FROM PUBLIC, anon, authenticated;
    GRANT ALL ON auth.identities TO service_role;
  END IF;
END
$$;

-- The requesting website member's users.id, or NULL (anon, no Discord identity, no row yet).
-- SECURITY DEFINER: the API roles may not read auth.identities; this returns only the caller's own id.
CREATE FUNCTION public.current_member_id() RETURNS TEXT
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT u.id
  FROM auth.identities i
  JOIN public.users u ON u.discord_id = i.provider_id
  WHERE i.provider = 'discord' AND i.user_id = auth.uid()
  LIMIT 1
$$;
COMMENT ON FUNCTION public.current_member_id() IS
  'The signed-in website member''s users.id: auth.uid() -> auth.identities (provider discord, recorded by the auth server) -> users.discord_id; NULL for anon or an unknown member. user_metadata is never trusted.';
REVOKE EXECUTE ON FUNCTION public.current_member_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.current_member_id() TO anon, authenticated, service_role;

-- For a website that signs a member in before the bot has seen them: their users row, created from
-- the identity the auth server recorded (never from user_metadata), or the existing one. The bot's
-- member sync fills in the rest (in_server, roles) when it sees them in the server. Its search_path is
-- 003's (public, pg_temp): the users triggers it sets off name their tables unqualified.
CREATE FUNCTION public.claim_member() RETURNS TEXT
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  discord TEXT;
  data JSONB;
  member TEXT;
BEGIN
  SELECT i.provider_id, i.identity_data INTO discord, data
  FROM auth.identities i
  WHERE i.provider = 'discord' AND i.user_id = auth.uid()
  LIMIT 1;
  IF discord IS NULL THEN
    RETURN NULL;
  END IF;
  IF discord !~ '^[0-9]{15,20}$' THEN
    RAISE EXCEPTION 'the Discord identity % is not a Discord user id', left(discord, 40)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO public.users (discord_id, username, global_name, avatar_url, in_server)
  VALUES (
    discord,
    left(COALESCE(NULLIF(data ->> 'name', ''), NULLIF(data ->> 'full_name', ''), 'member'), 100),
    left(NULLIF(data #>> '{custom_claims,global_name}', ''), 100),
    left(NULLIF(data ->> 'avatar_url', ''), 500),
    false
  )
  ON CONFLICT (discord_id) DO NOTHING;
  SELECT u.id INTO member FROM public.users u WHERE u.discord_id = discord;
  RETURN member;
END
$$;
COMMENT ON FUNCTION public.claim_member() IS
  'The signed-in member''s users.id, creating the row from their recorded Discord identity if the bot has not yet; NULL without a Discord identity';
REVOKE EXECUTE ON FUNCTION public.claim_member() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.claim_member() TO authenticated, service_role;

-- Policies keyed on the member, not on the auth user id. `(SELECT current_member_id())` is evaluated
-- once per statement, not once per row.
DROP POLICY users_select_own ON users;
CREATE POLICY users_select_own ON users
  FOR SELECT
  USING (id = (SELECT public.current_member_id()) OR auth.jwt() ->> 'role' = 'service_role');

DROP POLICY user_profiles_select_all ON user_profiles;
CREATE POLICY user_profiles_select_all ON user_profiles
  FOR SELECT
  USING (COALESCE((preferences ->> 'public_profile')::boolean, true) OR user_id = (SELECT public.current_member_id()));

DROP POLICY notifications_select_own ON notifications;
CREATE POLICY notifications_select_own ON notifications
  FOR SELECT
  USING (user_id = (SELECT public.current_member_id()));

DROP POLICY notifications_update_own ON notifications;
CREATE POLICY notifications_update_own ON notifications
  FOR UPDATE
  USING (user_id = (SELECT public.current_member_id()))
  WITH CHECK (user_id = (SELECT public.current_member_id()));

DROP POLICY content_select_published ON content;
CREATE POLICY content_select_published ON content
  FOR SELECT
  USING (status = 'published' OR author_id = (SELECT public.current_member_id()));

DROP POLICY pathway_progress_select_public ON pathway_progress;
CREATE POLICY pathway_progress_select_public ON pathway_progress
  FOR SELECT
  USING (
    user_id = (SELECT public.current_member_id())
    OR EXISTS (SELECT 1 FROM user_profiles up WHERE up.user_id = pathway_progress.user_id
               AND COALESCE((up.preferences ->> 'public_profile')::boolean, true))
  );

DROP POLICY events_select_listed ON events;
CREATE POLICY events_select_listed ON events
  FOR SELECT
  USING (status <> 'draft' OR host_id = (SELECT public.current_member_id()));

DROP POLICY event_registrations_select_own ON event_registrations;
CREATE POLICY event_registrations_select_own ON event_registrations
  FOR SELECT
  USING (user_id = (SELECT public.current_member_id()));

DROP POLICY achievements_select_visible ON achievements;
CREATE POLICY achievements_select_visible ON achievements
  FOR SELECT
  USING (
    COALESCE(is_active, true) AND (
      NOT COALESCE(hidden, false)
      OR EXISTS (SELECT 1 FROM user_achievements ua WHERE ua.achievement_id = achievements.id
                 AND ua.user_id = (SELECT public.current_member_id()) AND ua.progress >= 100)
    )
  );

DROP POLICY user_achievements_select_public ON user_achievements;
CREATE POLICY user_achievements_select_public ON user_achievements
  FOR SELECT
  USING (
    user_id = (SELECT public.current_member_id())
    OR EXISTS (SELECT 1 FROM user_profiles up WHERE up.user_id = user_achievements.user_id
               AND COALESCE((up.preferences ->> 'public_profile')::boolean, true))
  );
