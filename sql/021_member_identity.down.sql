-- Rollback of 021_member_identity.sql: the policies of 005 and 010 again (auth.uid() compared as
-- text), without the member functions. auth.identities is left where this migration created it
-- (like the rest of the auth shim, see 005); Supabase's own is never touched.

DROP POLICY user_achievements_select_public ON user_achievements;
CREATE POLICY user_achievements_select_public ON user_achievements
  FOR SELECT
  USING (
    auth.uid()::text = user_id
    OR EXISTS (SELECT 1 FROM user_profiles up WHERE up.user_id = user_achievements.user_id
               AND COALESCE((up.preferences ->> 'public_profile')::boolean, true))
  );

DROP POLICY achievements_select_visible ON achievements;
CREATE POLICY achievements_select_visible ON achievements
  FOR SELECT
  USING (
    COALESCE(is_active, true) AND (
      NOT COALESCE(hidden, false)
      OR EXISTS (SELECT 1 FROM user_achievements ua WHERE ua.achievement_id = achievements.id
                 AND ua.user_id = auth.uid()::text AND ua.progress >= 100)
    )
  );

DROP POLICY event_registrations_select_own ON event_registrations;
CREATE POLICY event_registrations_select_own ON event_registrations
  FOR SELECT
  USING (auth.uid()::text = user_id);

DROP POLICY events_select_listed ON events;
CREATE POLICY events_select_listed ON events
  FOR SELECT
  USING (status <> 'draft' OR auth.uid()::text = host_id);

DROP POLICY pathway_progress_select_public ON pathway_progress;
CREATE POLICY pathway_progress_select_public ON pathway_progress
  FOR SELECT
  USING (
    auth.uid()::text = user_id
    OR EXISTS (SELECT 1 FROM user_profiles up WHERE up.user_id = pathway_progress.user_id
               AND COALESCE((up.preferences ->> 'public_profile')::boolean, true))
  );

DROP POLICY content_select_published ON content;
CREATE POLICY content_select_published ON content
  FOR SELECT
  USING (status = 'published' OR auth.uid()::text = author_id);

DROP POLICY notifications_update_own ON notifications;
CREATE POLICY notifications_update_own ON notifications
  FOR UPDATE
  USING (auth.uid()::text = user_id)
  WITH CHECK (auth.uid()::text = user_id);

DROP POLICY notifications_select_own ON notifications;
CREATE POLICY notifications_select_own ON notifications
  FOR SELECT
  USING (auth.uid()::text = user_id);

DROP POLICY user_profiles_select_all ON user_profiles;
CREATE POLICY user_profiles_select_all ON user_profiles
  FOR SELECT
  USING (COALESCE((preferences ->> 'public_profile')::boolean, true) OR auth.uid()::text = user_id);

DROP POLICY users_select_own ON users;
CREATE POLICY users_select_own ON users
  FOR SELECT
  USING (auth.uid()::text = id OR auth.jwt() ->> 'role' = 'service_role');

DROP FUNCTION public.claim_member();
DROP FUNCTION public.current_member_id();
