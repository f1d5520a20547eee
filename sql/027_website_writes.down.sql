-- Rollback of 027_website_writes.sql: the policies as 021 left them, no member writes but 010's.

DROP POLICY user_achievements_select_public ON user_achievements;
CREATE POLICY user_achievements_select_public ON user_achievements
  FOR SELECT
  USING (
    user_id = (SELECT public.current_member_id())
    OR EXISTS (SELECT 1 FROM user_profiles up WHERE up.user_id = user_achievements.user_id
               AND COALESCE((up.preferences ->> 'public_profile')::boolean, true))
  );

DROP POLICY pathway_progress_select_public ON pathway_progress;
CREATE POLICY pathway_progress_select_public ON pathway_progress
  FOR SELECT
  USING (
    user_id = (SELECT public.current_member_id())
    OR EXISTS (SELECT 1 FROM user_profiles up WHERE up.user_id = pathway_progress.user_id
               AND COALESCE((up.preferences ->> 'public_profile')::boolean, true))
  );

DROP POLICY user_profiles_select_all ON user_profiles;
CREATE POLICY user_profiles_select_all ON user_profiles
  FOR SELECT
  USING (COALESCE((preferences ->> 'public_profile')::boolean, true) OR user_id = (SELECT public.current_member_id()));

DROP POLICY content_update_own ON content;
DROP POLICY content_insert_own ON content;
REVOKE UPDATE (status, published_at) ON content FROM authenticated;
REVOKE INSERT (type, pathway, title, slug, excerpt, body, author_id, tags, status) ON content FROM authenticated;

DROP POLICY user_profiles_update_own ON user_profiles;
REVOKE UPDATE (preferences) ON user_profiles FROM authenticated;

DROP FUNCTION public.member_preferences_valid(JSONB);
DROP FUNCTION public.current_member_is_staff();
