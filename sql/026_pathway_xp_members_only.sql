-- Pathway XP goes to members of that pathway only, in SQL as in the bot (cogs/xp/grants.py), so the
-- website or any other writer calling these functions keeps the rule too:
-- - award_xp() refuses a positive amount in a pathway the member has not joined (the reason in the
--   error, as /xp give says it); taking XP back from a pathway they left stays possible.
-- - award_achievement() counts a pathway achievement's XP globally for a member outside its pathway
--   (as the bot's own awards do), and, like them, grants it again to a member who earns it again
--   after a revoke (the ledger takes a source once, so the repeat is numbered: id#2, id#3, ...).

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
  v_ptotal INTEGER;
  v_amount INTEGER := p_xp_amount;
BEGIN
  SELECT up.total_xp INTO v_total FROM user_profiles up WHERE up.user_id = p_user_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'award_xp: no profile for user %', p_user_id USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF p_pathway_id IS NOT NULL AND v_amount > 0
     AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p_user_id AND u.pathways ? p_pathway_id) THEN
    RAISE EXCEPTION 'award_xp: user % has not joined pathway %, and pathway XP goes to its members only',
      p_user_id, p_pathway_id
      USING ERRCODE = 'check_violation',
            HINT = 'Award it without the pathway (NULL), or once they have joined it.';
  END IF;
  IF p_pathway_id IS NOT NULL THEN
    SELECT pp.total_xp INTO v_ptotal FROM pathway_progress pp
    WHERE pp.user_id = p_user_id AND pp.pathway_id = p_pathway_id FOR UPDATE;
    v_total := LEAST(v_total, COALESCE(v_ptotal, 0));
  END IF;
  IF v_amount < 0 THEN
    v_amount := -LEAST(-v_amount, v_total);
  END IF;
  IF v_amount <> 0 THEN
    INSERT INTO xp_ledger (user_id, source, source_ref, pathway, amount, reason)
    VALUES (p_user_id, 'manual', 'sql:' || gen_random_uuid()::text, p_pathway_id, v_amount, 'award_xp()');
  END IF;
  RETURN QUERY SELECT * FROM apply_xp(p_user_id, p_pathway_id, v_amount);
END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION award_xp(TEXT, TEXT, INTEGER) IS 'Add XP to a member (and a pathway they joined) through the ledger; a negative amount takes at most what they have';

CREATE OR REPLACE FUNCTION award_achievement(p_user_id TEXT, p_achievement_id TEXT)
RETURNS BOOLEAN AS $$
DECLARE
  v_xp INTEGER;
  v_pathway TEXT;
  v_new BOOLEAN;
  v_earlier INTEGER;
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

  IF v_pathway IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p_user_id AND u.pathways ? v_pathway) THEN
    v_pathway := NULL;
  END IF;

  IF v_xp > 0 THEN
    SELECT count(*) INTO v_earlier FROM xp_ledger l
    WHERE l.source = 'achievement' AND l.user_id = p_user_id
      AND (l.source_ref = p_achievement_id OR starts_with(l.source_ref, p_achievement_id || '#'));
    INSERT INTO xp_ledger (user_id, source, source_ref, pathway, amount, reason)
    VALUES (p_user_id, 'achievement',
            CASE WHEN v_earlier = 0 THEN p_achievement_id ELSE p_achievement_id || '#' || (v_earlier + 1) END,
            v_pathway, v_xp, 'achievement earned')
    ON CONFLICT (source, source_ref, user_id) DO NOTHING;
    IF FOUND THEN
      PERFORM apply_xp(p_user_id, v_pathway, v_xp);
      PERFORM add_period_xp(p_user_id, v_pathway, v_xp, NOW());
    END IF;
  END IF;
  RETURN true;
END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION award_achievement(TEXT, TEXT) IS 'Award an achievement once; its XP is granted (and recorded in the ledger, and on the week and month boards) when the award is new, again after a revoke; a pathway achievement''s XP counts in its pathway for its members, globally for others';
