-- XP as an append-only ledger: every grant is a row, a source grants at most once, totals and levels
-- change in the same transaction. Weekly and monthly boards read per-period totals derived from it.

CREATE TABLE xp_ledger (
  id BIGSERIAL PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  source TEXT NOT NULL CHECK (source IN ('message', 'voice', 'event', 'achievement', 'manual', 'reversal')),
  source_ref TEXT NOT NULL,
  pathway TEXT CHECK (pathway IN ('gaming', 'lorebound', 'productive', 'news') OR pathway IS NULL),
  amount INTEGER NOT NULL CHECK (amount <> 0),
  reason TEXT,
  actor_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
COMMENT ON TABLE xp_ledger IS 'Append-only record of every XP grant; per member, sum(amount) = user_profiles.total_xp';
COMMENT ON COLUMN xp_ledger.source_ref IS 'What granted it: the message id, the voice minute, the event or achievement id, or a unique id for manual changes; for a reversal, the reversed message id';
COMMENT ON COLUMN xp_ledger.pathway IS 'The pathway that earned the same amount too; NULL: global XP only';
COMMENT ON COLUMN xp_ledger.amount IS 'XP added (negative for take, reset and reversal)';
COMMENT ON COLUMN xp_ledger.actor_id IS 'The staff member behind a manual change or reversal';

CREATE UNIQUE INDEX idx_xp_ledger_source ON xp_ledger (source, source_ref, user_id);
CREATE INDEX idx_xp_ledger_user_created ON xp_ledger (user_id, created_at DESC);
CREATE INDEX idx_xp_ledger_created_at ON xp_ledger (created_at DESC);

CREATE FUNCTION xp_ledger_is_append_only() RETURNS TRIGGER AS $$
BEGIN
  RAISE EXCEPTION 'xp_ledger is append-only: record a reversal or a manual change instead of editing rows'
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION xp_ledger_is_append_only() IS 'Trigger: refuses UPDATE and TRUNCATE on the XP ledger';
CREATE TRIGGER xp_ledger_no_update BEFORE UPDATE ON xp_ledger
  FOR EACH ROW EXECUTE FUNCTION xp_ledger_is_append_only();
CREATE TRIGGER xp_ledger_no_truncate BEFORE TRUNCATE ON xp_ledger
  FOR EACH STATEMENT EXECUTE FUNCTION xp_ledger_is_append_only();

CREATE TABLE xp_period_totals (
  period TEXT NOT NULL CHECK (period IN ('week', 'month')),
  period_start DATE NOT NULL,
  pathway TEXT NOT NULL DEFAULT '' CHECK (pathway IN ('', 'gaming', 'lorebound', 'productive', 'news')),
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  xp INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (period, period_start, pathway, user_id)
);
COMMENT ON TABLE xp_period_totals IS 'XP per member per week or month (and per pathway), kept from the ledger in the same transaction';
COMMENT ON COLUMN xp_period_totals.period_start IS 'First day of the ISO week (Monday) or month, in the community''s timezone';
COMMENT ON COLUMN xp_period_totals.pathway IS 'Empty string: the global board; otherwise the pathway''s board';
CREATE INDEX idx_xp_period_totals_board ON xp_period_totals (period, period_start, pathway, xp, user_id);

-- Keyset paging of the all-time boards: (xp, user_id) row comparisons walk these indexes backwards
-- from any position, so a deep page costs what the first page costs. Members with XP only.
CREATE INDEX idx_user_profiles_board ON user_profiles (total_xp, user_id) WHERE total_xp > 0;
CREATE INDEX idx_pathway_progress_board ON pathway_progress (pathway_id, total_xp, user_id) WHERE total_xp > 0;

ALTER TABLE pathway_progress ADD COLUMN last_xp_date DATE;
COMMENT ON COLUMN pathway_progress.last_xp_date IS 'Last day (community timezone) with XP in this pathway; drives streak_days';

-- XP changes made in SQL go through the ledger too, so sum(amount) always equals the totals.
-- apply_xp() is award_xp()'s former body (no ledger row); award_xp() now records a 'manual' row
-- (clamped so no total goes below zero) and award_achievement() an 'achievement' row.

CREATE FUNCTION apply_xp(p_user_id TEXT, p_pathway_id TEXT, p_xp_amount INTEGER)
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
    RAISE EXCEPTION 'apply_xp: no profile for user %', p_user_id USING ERRCODE = 'foreign_key_violation';
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
COMMENT ON FUNCTION apply_xp(TEXT, TEXT, INTEGER) IS 'Move totals, levels and ranks by an amount (no ledger row: callers record one)';

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
COMMENT ON FUNCTION award_xp(TEXT, TEXT, INTEGER) IS 'Add XP to a member (and a pathway) through the ledger; a negative amount takes at most what they have';

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
    INSERT INTO xp_ledger (user_id, source, source_ref, amount, reason)
    VALUES (p_user_id, 'achievement', p_achievement_id, v_xp, 'achievement earned')
    ON CONFLICT (source, source_ref, user_id) DO NOTHING;
    IF FOUND THEN
      PERFORM apply_xp(p_user_id, NULL, v_xp);
    END IF;
  END IF;
  RETURN true;
END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION award_achievement(TEXT, TEXT) IS 'Award an achievement once; its XP is granted (and recorded in the ledger) only when the award is new';
