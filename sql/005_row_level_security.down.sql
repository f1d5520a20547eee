-- Leaves the auth schema, auth.uid()/auth.jwt() and the API roles: they are cluster-wide or
-- shared with the hosting platform (see the up migration).
DROP POLICY IF EXISTS moderation_logs_select_staff ON moderation_logs;
DROP POLICY IF EXISTS content_select_published ON content;
DROP POLICY IF EXISTS notifications_update_own ON notifications;
DROP POLICY IF EXISTS notifications_select_own ON notifications;
DROP POLICY IF EXISTS pathway_progress_select_all ON pathway_progress;
DROP POLICY IF EXISTS user_profiles_select_all ON user_profiles;
DROP POLICY IF EXISTS users_select_own ON users;
DROP POLICY IF EXISTS moderation_logs_service_all ON moderation_logs;
DROP POLICY IF EXISTS content_service_all ON content;
DROP POLICY IF EXISTS notifications_service_all ON notifications;
DROP POLICY IF EXISTS pathway_progress_service_all ON pathway_progress;
DROP POLICY IF EXISTS user_profiles_service_all ON user_profiles;
DROP POLICY IF EXISTS users_service_all ON users;

ALTER TABLE moderation_logs DISABLE ROW LEVEL SECURITY;
ALTER TABLE content DISABLE ROW LEVEL SECURITY;
ALTER TABLE notifications DISABLE ROW LEVEL SECURITY;
ALTER TABLE pathway_progress DISABLE ROW LEVEL SECURITY;
ALTER TABLE user_profiles DISABLE ROW LEVEL SECURITY;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON users, user_profiles, pathway_progress, notifications, content, moderation_logs
  FROM anon, authenticated, service_role;
