-- Progression maths, XP and achievement awards, helpers and triggers (design.md fixes 4, 5, 6, 8, 9).

CREATE TABLE rank_titles (
  min_level INTEGER PRIMARY KEY CHECK (min_level >= 1),
  title TEXT NOT NULL
);
COMMENT ON TABLE rank_titles IS 'Pathway rank title from a pathway level upward; filled by the bot from configuration';
INSERT INTO rank_titles (min_level, title) VALUES
  (1, 'Initiate'), (5, 'Apprentice'), (10, 'Journeyman'), (20, 'Expert'), (35, 'Master'), (50, 'Grand Master');

/**
 * Level for an amount of total XP: floor(sqrt(total_xp / 100)) + 1, computed exactly in integers.
 */
CREATE OR REPLACE FUNCTION calculate_level_from_xp(p_xp INTEGER)
RETURNS INTEGER AS $$
DECLARE
  v_level INTEGER;
BEGIN
  IF p_xp IS NULL OR p_xp <= 0 THEN
    RETURN 1;
  END IF;
  v_level := FLOOR(SQRT(p_xp::numeric / 100));
  -- Guard against rounding at exact squares.
  WHILE (v_level::bigint + 1) * (v_level + 1) * 100 <= p_xp LOOP
    v_level := v_level + 1;
  END LOOP;
  WHILE v_level > 0 AND v_level::bigint * v_level * 100 > p_xp LOOP
    v_level := v_level - 1;
  END LOOP;
  RETURN v_level + 1;
END;
$$ LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION calculate_level_from_xp(INTEGER) IS 'Level for total XP: floor(sqrt(xp/100)) + 1';

/**
 * Total XP at which the level after p_current_level starts: level^2 * 100.
 */
CREATE OR REPLACE FUNCTION get_next_level_xp(p_current_level INTEGER)
RETURNS INTEGER AS $$
BEGIN
  RETURN (p_current_level * p_current_level) * 100;
END;
$$ LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION get_next_level_xp(INTEGER) IS 'Total XP needed to leave a level: level^2 * 100';

CREATE OR REPLACE FUNCTION rank_title_for_level(p_level INTEGER)
RETURNS TEXT AS $$
  SELECT COALESCE(
    (SELECT title FROM rank_titles WHERE min_level <= p_level ORDER BY min_level DESC LIMIT 1),
    'Initiate')
$$ LANGUAGE sql STABLE;
COMMENT ON FUNCTION rank_title_for_level(INTEGER) IS 'Rank title of a pathway level, from rank_titles';

/**
 * Add (or, with a negative amount, take) XP atomically: the member's profile total and level, and
 * when p_pathway_id is given the pathway's xp, total_xp, level, next_level_xp and current_rank
 * (the pathway row is created if the member had none). Totals never drop below zero.
 * Returns the levels before and after, so callers can announce level-ups.
 */
CREATE OR REPLACE FUNCTION award_xp(p_user_id TEXT, p_pathway_id TEXT, p_xp_amount INTEGER)
RETURNS TABLE (
  user_level_before INTEGER,
  user_level_after INTEGER,
  user_total_xp INTEGER,
  pathway_level_before INTEGER,
  pathway_level_after INTEGER,
  pathway_total_xp INTEGER
) AS $$
DECLARE
  v_total INTEGER;
  v_level INTEGER;
  v_ptotal INTEGER;
  v_plevel INTEGER;
BEGIN
  SELECT up.total_xp, up.level INTO v_total, v_level
  FROM user_profiles up WHERE up.user_id = p_user_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'award_xp: no profile for user %', p_user_id USING ERRCODE = 'foreign_key_violation';
  END IF;

  user_level_before := v_level;
  user_total_xp := GREATEST(0, v_total + p_xp_amount);
  user_level_after := calculate_level_from_xp(user_total_xp);
  UPDATE user_profiles up
     SET total_xp = user_total_xp, level = user_level_after, last_active = NOW()
   WHERE up.user_id = p_user_id;

  IF p_pathway_id IS NOT NULL THEN
    INSERT INTO pathway_progress AS pp (user_id, pathway_id)
    VALUES (p_user_id, p_pathway_id)
    ON CONFLICT (user_id, pathway_id) DO NOTHING;

    SELECT pp.total_xp, pp.level INTO v_ptotal, v_plevel
    FROM pathway_progress pp
    WHERE pp.user_id = p_user_id AND pp.pathway_id = p_pathway_id FOR UPDATE;

    pathway_level_before := v_plevel;
    pathway_total_xp := GREATEST(0, v_ptotal + p_xp_amount);
    pathway_level_after := calculate_level_from_xp(pathway_total_xp);
    UPDATE pathway_progress pp
       SET total_xp = pathway_total_xp,
           level = pathway_level_after,
           xp = pathway_total_xp - (pathway_level_after - 1) * (pathway_level_after - 1) * 100,
           next_level_xp = get_next_level_xp(pathway_level_after),
           current_rank = rank_title_for_level(pathway_level_after),
           last_active = NOW()
     WHERE pp.user_id = p_user_id AND pp.pathway_id = p_pathway_id;
  END IF;
  RETURN NEXT;
END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION award_xp(TEXT, TEXT, INTEGER) IS 'Add XP to a member (and a pathway), keeping totals, levels and ranks in step';

/**
 * Award an achievement. Only a new award (no row, or a row still in progress) grants the
 * achievement's XP, bumps total_earned, records the first earner and adds the id to the profile.
 * Returns true when the award was new; false when already earned, unknown or inactive.
 */
CREATE OR REPLACE FUNCTION award_achievement(p_user_id TEXT, p_achievement_id TEXT)
RETURNS BOOLEAN AS $$
DECLARE
  v_xp INTEGER;
  v_new BOOLEAN;
BEGIN
  SELECT a.xp INTO v_xp FROM achievements a
  WHERE a.id = p_achievement_id AND a.is_active FOR UPDATE;
  IF NOT FOUND THEN
    RETURN false;
  END IF;

  WITH upsert AS (
    INSERT INTO user_achievements AS ua (user_id, achievement_id, progress, earned_at)
    VALUES (p_user_id, p_achievement_id, 100, NOW())
    ON CONFLICT (user_id, achievement_id) DO UPDATE
      SET progress = 100, earned_at = NOW()
      WHERE ua.progress < 100
    RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM upsert) INTO v_new;

  IF NOT v_new THEN
    RETURN false;
  END IF;

  UPDATE achievements a
     SET total_earned = a.total_earned + 1,
         first_earned_by = COALESCE(a.first_earned_by, p_user_id),
         first_earned_at = COALESCE(a.first_earned_at, NOW())
   WHERE a.id = p_achievement_id;

  UPDATE user_profiles up
     SET achievements = CASE WHEN up.achievements ? p_achievement_id THEN up.achievements
                             ELSE up.achievements || to_jsonb(p_achievement_id) END
   WHERE up.user_id = p_user_id;

  IF v_xp > 0 THEN
    PERFORM award_xp(p_user_id, NULL, v_xp);
  END IF;
  RETURN true;
END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION award_achievement(TEXT, TEXT) IS 'Award an achievement once; its XP is granted only when the award is new';

CREATE OR REPLACE FUNCTION cleanup_expired_notifications()
RETURNS INTEGER AS $$
DECLARE
  deleted_count INTEGER;
BEGIN
  DELETE FROM notifications WHERE expires_at IS NOT NULL AND expires_at < NOW();
  GET DIAGNOSTICS deleted_count = ROW_COUNT;
  RETURN deleted_count;
END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION cleanup_expired_notifications() IS 'Delete expired notifications; returns how many';

CREATE OR REPLACE FUNCTION increment_view_count(content_id UUID)
RETURNS VOID AS $$
  UPDATE content SET view_count = view_count + 1 WHERE id = increment_view_count.content_id
$$ LANGUAGE sql;
COMMENT ON FUNCTION increment_view_count(UUID) IS 'Count one view of a content item';

CREATE OR REPLACE FUNCTION is_staff(user_id TEXT)
RETURNS BOOLEAN AS $$
  SELECT COALESCE(
    (SELECT u.roles && ARRAY(SELECT role_id FROM public.staff_roles)
       FROM public.users u WHERE u.id = is_staff.user_id),
    false)
$$ LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp;
COMMENT ON FUNCTION is_staff(TEXT) IS 'True when the member holds one of the staff roles in staff_roles';

CREATE OR REPLACE FUNCTION has_role(user_id TEXT, role_id TEXT)
RETURNS BOOLEAN AS $$
  SELECT COALESCE(
    (SELECT has_role.role_id = ANY (u.roles) FROM public.users u WHERE u.id = has_role.user_id),
    false)
$$ LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp;
COMMENT ON FUNCTION has_role(TEXT, TEXT) IS 'True when the member holds the Discord role';

CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
  NEW.updated_at = NOW();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION update_updated_at_column() IS 'Trigger: stamp updated_at on every update';

CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_user_profiles_updated_at BEFORE UPDATE ON user_profiles
  FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_pathway_progress_updated_at BEFORE UPDATE ON pathway_progress
  FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_content_updated_at BEFORE UPDATE ON content
  FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_events_updated_at BEFORE UPDATE ON events
  FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE OR REPLACE FUNCTION create_user_profile()
RETURNS TRIGGER AS $$
BEGIN
  INSERT INTO user_profiles (user_id, display_name)
  VALUES (NEW.id, COALESCE(NEW.global_name, NEW.username))
  ON CONFLICT (user_id) DO NOTHING;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION create_user_profile() IS 'Trigger: every new user gets its user_profiles row';

CREATE TRIGGER create_user_profile_on_insert AFTER INSERT ON users
  FOR EACH ROW EXECUTE FUNCTION create_user_profile();
