-- What a signed-in member (authenticated) may write through the website, as the guide's supabase-js
-- examples write it, each on their own rows only (current_member_id(): their recorded Discord identity):
-- - user_profiles.preferences ("Update preferences"): the column only, a JSON object whose
--   public_profile (if present) is a boolean and achievement_notify (if present) one the bot knows.
--   XP, levels and counts stay the bot's: no other column is granted.
-- - content ("Create article", "Publish content"): a member writes their own drafts (author_id their
--   own, status draft or pending: submitted for review) with the columns the guide's insert names, and
--   changes their own content's status and published_at; publishing (any other status) takes a staff
--   member, on their own content. Nobody else's rows, and never author_id after the insert.
-- - notifications.read ("Mark as read"): granted by 010, on their own rows (021's policy).
-- user_achievements.progress is not the member's to write: the bot computes it from what they did, and
-- reaching 100 is the award (design.md 4), so a member who could write it would award themselves. The
-- guide's "Update progress" is the service role's (as its "Award achievement" insert and the
-- award_achievement() call are), which may already write user_achievements, server_stats and
-- discord_sync_log (010's service_all policies and grants).
-- The policies that read preferences.public_profile cast it to boolean, which raises on a malformed
-- value: with members writing preferences, one such value would make every reader's query fail. They
-- read it with profile_is_public() (022), as the public boards do: never raising.

-- The signed-in member's own staff status (is_staff() of anyone is the bot's and service_role's only).
CREATE FUNCTION public.current_member_is_staff() RETURNS BOOLEAN
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT public.is_staff(public.current_member_id())
$$;
COMMENT ON FUNCTION public.current_member_is_staff() IS
  'Whether the signed-in website member holds a staff role (false for anon or an unknown member)';
REVOKE EXECUTE ON FUNCTION public.current_member_is_staff() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.current_member_is_staff() TO authenticated, service_role;

-- Preferences a member may store: an object; the keys the bot reads hold values it understands.
CREATE FUNCTION public.member_preferences_valid(prefs JSONB) RETURNS BOOLEAN
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT jsonb_typeof(prefs) = 'object'
     AND COALESCE(jsonb_typeof(prefs -> 'public_profile') = 'boolean', true)
     AND COALESCE(prefs ->> 'achievement_notify' IN ('channel', 'dm', 'off'), true)
$$;
COMMENT ON FUNCTION public.member_preferences_valid(JSONB) IS
  'Whether a member may store these preferences: a JSON object, public_profile a boolean, achievement_notify channel, dm or off (each when present)';
REVOKE EXECUTE ON FUNCTION public.member_preferences_valid(JSONB) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.member_preferences_valid(JSONB) TO authenticated, service_role;

GRANT UPDATE (preferences) ON user_profiles TO authenticated;
CREATE POLICY user_profiles_update_own ON user_profiles
  FOR UPDATE TO authenticated
  USING (user_id = (SELECT public.current_member_id()))
  WITH CHECK (user_id = (SELECT public.current_member_id()) AND public.member_preferences_valid(preferences));

GRANT INSERT (type, pathway, title, slug, excerpt, body, author_id, tags, status) ON content TO authenticated;
GRANT UPDATE (status, published_at) ON content TO authenticated;
CREATE POLICY content_insert_own ON content
  FOR INSERT TO authenticated
  WITH CHECK (
    author_id = (SELECT public.current_member_id())
    AND (COALESCE(status, 'draft') IN ('draft', 'pending') OR (SELECT public.current_member_is_staff()))
  );
CREATE POLICY content_update_own ON content
  FOR UPDATE TO authenticated
  USING (author_id = (SELECT public.current_member_id()))
  WITH CHECK (
    author_id = (SELECT public.current_member_id())
    AND (COALESCE(status, 'draft') IN ('draft', 'pending') OR (SELECT public.current_member_is_staff()))
  );

DROP POLICY user_profiles_select_all ON user_profiles;
CREATE POLICY user_profiles_select_all ON user_profiles
  FOR SELECT
  USING (public.profile_is_public(preferences) OR user_id = (SELECT public.current_member_id()));

DROP POLICY pathway_progress_select_public ON pathway_progress;
CREATE POLICY pathway_progress_select_public ON pathway_progress
  FOR SELECT
  USING (
    user_id = (SELECT public.current_member_id())
    OR EXISTS (SELECT 1 FROM user_profiles up WHERE up.user_id = pathway_progress.user_id
               AND public.profile_is_public(up.preferences))
  );

DROP POLICY user_achievements_select_public ON user_achievements;
CREATE POLICY user_achievements_select_public ON user_achievements
  FOR SELECT
  USING (
    user_id = (SELECT public.current_member_id())
    OR EXISTS (SELECT 1 FROM user_profiles up WHERE up.user_id = user_achievements.user_id
               AND public.profile_is_public(up.preferences))
  );
