-- A pathway achievement's XP counts in its pathway too (its level, rank and boards move), as the
-- bot's own awards do: award_achievement() as 011 wrote it, with the achievement's pathway.

CREATE OR REPLACE FUNCTION award_achievement(p_user_id TEXT, p_achievement_id TEXT)
RETURNS BOOLEAN AS $$
DECLARE
  v_xp INTEGER;
  v_pathway TEXT;
  v_new BOOLEAN;
BEGIN
  SELECT a.xp, a.pathway INTO v_xp, v_pathway FROM achievements a
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
    INSERT INTO xp_ledger (user_id, source, source_ref, pathway, amount, reason)
    VALUES (p_user_id, 'achievement', p_achievement_id, v_pathway, v_xp, 'achievement earned')
    ON CONFLICT (source, source_ref, user_id) DO NOTHING;
    IF FOUND THEN
      PERFORM apply_xp(p_user_id, v_pathway, v_xp);
      PERFORM add_period_xp(p_user_id, v_pathway, v_xp, NOW());
    END IF;
  END IF;
  RETURN true;
END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION award_achievement(TEXT, TEXT) IS 'Award an achievement once; its XP is granted (and recorded in the ledger, and on the week and month boards) only when the award is new; a pathway achievement''s XP counts in its pathway too';
