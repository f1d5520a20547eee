-- Restore the 003 definitions of award_xp() and award_achievement().
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

DROP FUNCTION IF EXISTS apply_xp(TEXT, TEXT, INTEGER);
ALTER TABLE pathway_progress DROP COLUMN IF EXISTS last_xp_date;
DROP INDEX IF EXISTS idx_pathway_progress_board;
DROP INDEX IF EXISTS idx_user_profiles_board;
DROP TABLE IF EXISTS xp_period_totals;
DROP TABLE IF EXISTS xp_ledger;
DROP FUNCTION IF EXISTS xp_ledger_is_append_only();
