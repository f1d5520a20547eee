-- 022 public_boards: what the public reads (issue 17).
--
-- The guide's user_leaderboard and pathway_leaderboard ranked every member with a window function on
-- each request (seconds at a million members) and, as security-invoker views over users, showed anon
-- nobody. Here they read with their owner's rights and show only public columns (no email, roles or
-- settings) of current members with public profiles, page by index, and take each row's rank from
-- counts kept by triggers. They are not security_barrier views: a barrier makes PostgreSQL plan the
-- view for every row whenever the caller sorts (PostgREST's .order()), seconds again at 1M members;
-- what a barrier guards against, a caller's own leaky function in a filter, needs SQL the API roles
-- do not have (PostgREST filters are built-in operators on the view's public columns). The counts:
--
--   board_xp_counts     how many listed members (in the server, public profile, XP > 0) each board has
--                       per XP value, and per range of 64, 4,096 and 262,144 values: the count of members
--                       above any XP is four index ranges of at most 63 rows, whatever the board size.
--   board_level_counts  the same per level (> 1) for the global board's level_rank.
--   board_totals        per board (all-time, each week and month; global and per pathway): members in
--                       the server with XP and the sum of their XP, what the bot's rank index must agree
--                       with: its background check reads 15 rows instead of scanning every member.
--
-- Statement-level triggers (transition tables) move the counts with every change to user_profiles,
-- pathway_progress and xp_period_totals, one upsert per statement however many members it changed;
-- row-level ones the rare departures, returns and deletions. Every writer moves the global board's
-- counts, then the pathways', then the periods' (the order apply_xp and the bot's flush write their
-- tables in) and each upsert takes its rows in key order, so writers queue for a count row rather
-- than deadlock.
-- board_counts_rebuild() recomputes everything (after this migration, a TRUNCATE, or a check that
-- finds the counts wrong because triggers were bypassed).

-- Public unless preferences.public_profile says false: every spelling PostgreSQL reads as false, never
-- an error (a malformed value must not make a member's XP writes fail in the triggers).
CREATE FUNCTION public.profile_is_public(prefs JSONB) RETURNS BOOLEAN
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT COALESCE(
    lower(btrim(prefs ->> 'public_profile', E' \t\n\r\f\v')) NOT IN ('f', 'fa', 'fal', 'fals', 'false', 'n', 'no', 'of', 'off', '0'),
    true)
$$;
COMMENT ON FUNCTION public.profile_is_public(JSONB) IS
  'Whether a profile is public: preferences.public_profile is absent or not false (as the policies read it, never raising)';
REVOKE EXECUTE ON FUNCTION public.profile_is_public(JSONB) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.profile_is_public(JSONB) TO anon, authenticated, service_role;

CREATE TABLE board_xp_counts (
  board TEXT NOT NULL,
  shift INTEGER NOT NULL CHECK (shift IN (0, 6, 12, 18)),
  bucket INTEGER NOT NULL CHECK (bucket >= 0),
  listed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (board, shift, bucket)
) WITH (fillfactor = 50);
COMMENT ON TABLE board_xp_counts IS
  'Listed members (in the server, public profile, XP > 0) of each all-time board by XP >> shift: ranks in ~7 index ranges (kept by triggers)';
COMMENT ON COLUMN board_xp_counts.board IS 'Empty string: the global board; otherwise the pathway''s board';
COMMENT ON COLUMN board_xp_counts.bucket IS 'XP >> shift: at shift 0 the XP value itself';
-- A rank reads up to 63 neighbouring buckets: board_counts_rebuild() writes them in key order, and
-- half-full pages keep their updates on the same page (HOT), so neighbours stay a page or two apart.

CREATE TABLE board_level_counts (
  level INTEGER PRIMARY KEY CHECK (level > 1),
  listed INTEGER NOT NULL DEFAULT 0
);
COMMENT ON TABLE board_level_counts IS
  'Listed members of the global board per level above 1: user_leaderboard.level_rank (kept by triggers)';

CREATE TABLE board_totals (
  period TEXT NOT NULL CHECK (period IN ('all', 'week', 'month')),
  period_start DATE NOT NULL,
  board TEXT NOT NULL,
  members INTEGER NOT NULL DEFAULT 0,
  xp_sum BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (period, period_start, board)
);
COMMENT ON TABLE board_totals IS
  'Members in the server with XP on each board and the sum of their XP (the bot''s boards, private profiles included; kept by triggers)';
COMMENT ON COLUMN board_totals.period_start IS 'First day of the week or month; -infinity for the all-time boards';

ALTER TABLE board_xp_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE board_level_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE board_totals ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON board_xp_counts, board_level_counts, board_totals FROM PUBLIC, anon, authenticated;
GRANT ALL ON board_xp_counts, board_level_counts, board_totals TO service_role;
CREATE POLICY board_xp_counts_service_all ON board_xp_counts FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY board_level_counts_service_all ON board_level_counts FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY board_totals_service_all ON board_totals FOR ALL TO service_role USING (true) WITH CHECK (true);

-- Moving counts: arrays of changes (one element per member row before (-1) or after (+1)), summed
-- per key, applied in key order. Rows with no XP count nowhere.
CREATE FUNCTION public.board_counts_move(p_board TEXT[], p_xp INTEGER[], p_delta INTEGER[]) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO public.board_xp_counts AS c (board, shift, bucket, listed)
  SELECT d.board, s.shift, d.xp >> s.shift, sum(d.delta)::int
  FROM unnest(p_board, p_xp, p_delta) AS d(board, xp, delta)
  CROSS JOIN unnest('{0,6,12,18}'::int[]) AS s(shift)
  WHERE d.xp > 0
  GROUP BY 1, 2, 3
  HAVING sum(d.delta) <> 0
  ORDER BY 1, 2, 3
  ON CONFLICT (board, shift, bucket) DO UPDATE SET listed = c.listed + EXCLUDED.listed
$$;

CREATE FUNCTION public.board_levels_move(p_level INTEGER[], p_delta INTEGER[]) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO public.board_level_counts AS c (level, listed)
  SELECT d.level, sum(d.delta)::int
  FROM unnest(p_level, p_delta) AS d(level, delta)
  WHERE d.level > 1
  GROUP BY 1
  HAVING sum(d.delta) <> 0
  ORDER BY 1
  ON CONFLICT (level) DO UPDATE SET listed = c.listed + EXCLUDED.listed
$$;

CREATE FUNCTION public.board_totals_move(p_period TEXT[], p_start DATE[], p_board TEXT[], p_xp INTEGER[], p_delta INTEGER[])
RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO public.board_totals AS t (period, period_start, board, members, xp_sum)
  SELECT d.period, d.start, d.board, sum(d.delta)::int, sum(d.delta::bigint * d.xp)
  FROM unnest(p_period, p_start, p_board, p_xp, p_delta) AS d(period, start, board, xp, delta)
  WHERE d.xp > 0
  GROUP BY 1, 2, 3
  HAVING sum(d.delta) <> 0 OR sum(d.delta::bigint * d.xp) <> 0
  ORDER BY 1, 2, 3
  ON CONFLICT (period, period_start, board) DO UPDATE
    SET members = t.members + EXCLUDED.members, xp_sum = t.xp_sum + EXCLUDED.xp_sum
$$;


-- Profile rows of members in the server, each as it was (-1) or as it is (+1): the global board's
-- totals, its listed counts and levels, and, where a member's listing changed (public flag flipped,
-- profile created or deleted), their pathway boards' listed counts.
CREATE FUNCTION public.board_counts_profiles_move(p_user_ids TEXT[], p_xps INTEGER[], p_levels INTEGER[],
                                                  p_public BOOLEAN[], p_signs INTEGER[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n INTEGER := COALESCE(cardinality(p_user_ids), 0);
  xps INTEGER[];
  levels INTEGER[];
  signs INTEGER[];
  boards TEXT[];
BEGIN
  IF n = 0 THEN
    RETURN;
  END IF;
  PERFORM public.board_totals_move(array_fill('all'::text, ARRAY[n]), array_fill('-infinity'::date, ARRAY[n]),
                                   array_fill(''::text, ARRAY[n]), p_xps, p_signs);
  SELECT array_agg(m.xp), array_agg(m.level), array_agg(m.sign) INTO xps, levels, signs
  FROM unnest(p_xps, p_levels, p_public, p_signs) AS m(xp, level, pub, sign) WHERE m.pub;
  PERFORM public.board_counts_move(array_fill(''::text, ARRAY[COALESCE(cardinality(xps), 0)]), xps, signs);
  PERFORM public.board_levels_move(levels, signs);
  -- A member's pathways move by the sum of their listed signs: +1 listed now, -1 no longer, 0 as before.
  SELECT array_agg(pp.pathway_id ORDER BY pp.pathway_id), array_agg(pp.total_xp ORDER BY pp.pathway_id),
         array_agg(f.sign ORDER BY pp.pathway_id)
  INTO boards, xps, signs
  FROM (SELECT m.user_id, sum(m.sign)::int AS sign FROM unnest(p_user_ids, p_public, p_signs) AS m(user_id, pub, sign)
        WHERE m.pub GROUP BY m.user_id HAVING sum(m.sign) <> 0) f
  JOIN public.pathway_progress pp ON pp.user_id = f.user_id;
  PERFORM public.board_counts_move(boards, xps, signs);
END
$$;

-- Pathway rows of members in the server, as they were (-1) or are (+1): the pathway boards' listed
-- counts where the member's profile is public, and their totals.
CREATE FUNCTION public.board_counts_pathways_move(p_user_ids TEXT[], p_boards TEXT[], p_xps INTEGER[],
                                                  p_signs INTEGER[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n INTEGER := COALESCE(cardinality(p_user_ids), 0);
  boards TEXT[];
  xps INTEGER[];
  signs INTEGER[];
BEGIN
  IF n = 0 THEN
    RETURN;
  END IF;
  SELECT array_agg(m.board), array_agg(m.xp), array_agg(m.sign) INTO boards, xps, signs
  FROM unnest(p_user_ids, p_boards, p_xps, p_signs) AS m(user_id, board, xp, sign)
  JOIN public.user_profiles up ON up.user_id = m.user_id
  WHERE public.profile_is_public(up.preferences);
  PERFORM public.board_counts_move(boards, xps, signs);
  PERFORM public.board_totals_move(array_fill('all'::text, ARRAY[n]), array_fill('-infinity'::date, ARRAY[n]),
                                   p_boards, p_xps, p_signs);
END
$$;

-- Everything some members count for, added (1) or taken away (-1), as it is now: a member who joins
-- or leaves the server, or is deleted (before the cascade takes their rows).
CREATE FUNCTION public.board_counts_member(p_user_ids TEXT[], p_sign INTEGER) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  a TEXT[];
  b TEXT[];
  c INTEGER[];
  d INTEGER[];
  e BOOLEAN[];
  f INTEGER[];
  starts DATE[];
BEGIN
  SELECT array_agg(up.user_id), array_agg(up.total_xp), array_agg(up.level),
         array_agg(public.profile_is_public(up.preferences)), array_agg(p_sign)
  INTO a, c, d, e, f
  FROM public.user_profiles up WHERE up.user_id = ANY(p_user_ids);
  PERFORM public.board_counts_profiles_move(a, c, d, e, f);
  -- The profile move above listed or unlisted their pathways already (its signs are all p_sign);
  -- the pathway boards' totals remain.
  SELECT array_agg(pp.pathway_id ORDER BY pp.pathway_id), array_agg(pp.total_xp ORDER BY pp.pathway_id),
         array_agg(p_sign)
  INTO b, c, f
  FROM public.pathway_progress pp WHERE pp.user_id = ANY(p_user_ids);
  PERFORM public.board_totals_move(array_fill('all'::text, ARRAY[COALESCE(cardinality(b), 0)]),
                                   array_fill('-infinity'::date, ARRAY[COALESCE(cardinality(b), 0)]), b, c, f);
  SELECT array_agg(t.period), array_agg(t.period_start), array_agg(t.pathway), array_agg(t.xp), array_agg(p_sign)
  INTO a, starts, b, c, f
  FROM public.xp_period_totals t WHERE t.user_id = ANY(p_user_ids);
  PERFORM public.board_totals_move(a, starts, b, c, f);
END
$$;

-- The triggers. Transition tables hold a statement's rows; only those of members in the server count.
CREATE FUNCTION public.board_counts_on_profiles() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  a TEXT[];
  c INTEGER[];
  d INTEGER[];
  e BOOLEAN[];
  f INTEGER[];
BEGIN
  IF TG_LEVEL = 'ROW' THEN  -- an inserted profile (not the empty one every new user gets)
    SELECT ARRAY[NEW.user_id], ARRAY[NEW.total_xp], ARRAY[NEW.level], ARRAY[public.profile_is_public(NEW.preferences)], ARRAY[1]
    INTO a, c, d, e, f
    FROM public.users u WHERE u.id = NEW.user_id AND u.in_server;
  ELSIF TG_OP = 'UPDATE' THEN
    WITH changed AS (
      SELECT o.user_id, o.total_xp AS oxp, n.total_xp AS nxp, o.level AS olv, n.level AS nlv,
             public.profile_is_public(o.preferences) AS opub, public.profile_is_public(n.preferences) AS npub
      FROM board_old o JOIN board_new n ON n.user_id = o.user_id
      WHERE o.total_xp IS DISTINCT FROM n.total_xp OR o.level IS DISTINCT FROM n.level
         OR public.profile_is_public(o.preferences) <> public.profile_is_public(n.preferences)
    )
    SELECT array_agg(ch.user_id), array_agg(m.xp), array_agg(m.level), array_agg(m.pub), array_agg(m.sign)
    INTO a, c, d, e, f
    FROM changed ch JOIN public.users u ON u.id = ch.user_id
    CROSS JOIN LATERAL (VALUES (ch.oxp, ch.olv, ch.opub, -1), (ch.nxp, ch.nlv, ch.npub, 1)) AS m(xp, level, pub, sign)
    WHERE u.in_server;
  ELSE  -- DELETE
    SELECT array_agg(o.user_id), array_agg(o.total_xp), array_agg(o.level),
           array_agg(public.profile_is_public(o.preferences)), array_agg(-1)
    INTO a, c, d, e, f
    FROM board_old o JOIN public.users u ON u.id = o.user_id WHERE u.in_server;
  END IF;
  PERFORM public.board_counts_profiles_move(a, c, d, e, f);
  RETURN NULL;
END
$$;

CREATE FUNCTION public.board_counts_on_pathways() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  a TEXT[];
  b TEXT[];
  c INTEGER[];
  f INTEGER[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(n.user_id), array_agg(n.pathway_id), array_agg(n.total_xp), array_agg(1)
    INTO a, b, c, f
    FROM board_new n JOIN public.users u ON u.id = n.user_id WHERE u.in_server AND n.total_xp > 0;
  ELSIF TG_OP = 'UPDATE' THEN
    WITH changed AS (
      SELECT o.user_id AS ouser, o.pathway_id AS oboard, o.total_xp AS oxp,
             n.user_id AS nuser, n.pathway_id AS nboard, n.total_xp AS nxp
      FROM board_old o JOIN board_new n ON n.id = o.id
      WHERE o.total_xp IS DISTINCT FROM n.total_xp OR o.pathway_id <> n.pathway_id OR o.user_id <> n.user_id
    ), moves AS (
      SELECT ouser AS user_id, oboard AS board, oxp AS xp, -1 AS sign FROM changed
      UNION ALL
      SELECT nuser, nboard, nxp, 1 FROM changed
    )
    SELECT array_agg(m.user_id ORDER BY m.board, m.user_id), array_agg(m.board ORDER BY m.board, m.user_id),
           array_agg(m.xp ORDER BY m.board, m.user_id), array_agg(m.sign ORDER BY m.board, m.user_id)
    INTO a, b, c, f
    FROM moves m JOIN public.users u ON u.id = m.user_id WHERE u.in_server AND m.xp > 0;
  ELSE
    SELECT array_agg(o.user_id), array_agg(o.pathway_id), array_agg(o.total_xp), array_agg(-1)
    INTO a, b, c, f
    FROM board_old o JOIN public.users u ON u.id = o.user_id WHERE u.in_server AND o.total_xp > 0;
  END IF;
  PERFORM public.board_counts_pathways_move(a, b, c, f);
  RETURN NULL;
END
$$;

CREATE FUNCTION public.board_counts_on_periods() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  a TEXT[];
  s DATE[];
  b TEXT[];
  c INTEGER[];
  f INTEGER[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(n.period), array_agg(n.period_start), array_agg(n.pathway), array_agg(n.xp), array_agg(1)
    INTO a, s, b, c, f
    FROM board_new n JOIN public.users u ON u.id = n.user_id WHERE u.in_server AND n.xp > 0;
  ELSIF TG_OP = 'UPDATE' THEN
    WITH changed AS (
      SELECT o.period AS op, o.period_start AS os, o.pathway AS ob, o.user_id AS ou, o.xp AS ox,
             n.period AS np, n.period_start AS ns, n.pathway AS nb, n.user_id AS nu, n.xp AS nx
      FROM board_old o JOIN board_new n
        ON n.period = o.period AND n.period_start = o.period_start AND n.pathway = o.pathway AND n.user_id = o.user_id
      WHERE o.xp IS DISTINCT FROM n.xp
    ), moves AS (
      SELECT op AS period, os AS start, ob AS board, ou AS user_id, ox AS xp, -1 AS sign FROM changed
      UNION ALL
      SELECT np, ns, nb, nu, nx, 1 FROM changed
    )
    SELECT array_agg(m.period), array_agg(m.start), array_agg(m.board), array_agg(m.xp), array_agg(m.sign)
    INTO a, s, b, c, f
    FROM moves m JOIN public.users u ON u.id = m.user_id WHERE u.in_server AND m.xp > 0;
  ELSE
    SELECT array_agg(o.period), array_agg(o.period_start), array_agg(o.pathway), array_agg(o.xp), array_agg(-1)
    INTO a, s, b, c, f
    FROM board_old o JOIN public.users u ON u.id = o.user_id WHERE u.in_server AND o.xp > 0;
  END IF;
  PERFORM public.board_totals_move(a, s, b, c, f);
  RETURN NULL;
END
$$;

-- A member who joins or leaves the server, or is deleted while in it (before the cascade).
CREATE FUNCTION public.board_counts_on_users() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM public.board_counts_member(ARRAY[OLD.id], -1);
    RETURN OLD;
  END IF;
  PERFORM public.board_counts_member(ARRAY[NEW.id], CASE WHEN NEW.in_server THEN 1 ELSE -1 END);
  RETURN NULL;
END
$$;

CREATE FUNCTION public.board_counts_on_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM public.board_counts_rebuild();
  RETURN NULL;
END
$$;

-- Every count from the tables themselves. The lock makes writers wait (their triggers would move
-- counts being rebuilt); a change committed before it is read, one waiting on it lands afterwards.
-- Run in READ COMMITTED (each statement then reads what was committed before the lock).
CREATE FUNCTION public.board_counts_rebuild() RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  LOCK TABLE public.board_totals, public.board_xp_counts, public.board_level_counts IN EXCLUSIVE MODE;
  DELETE FROM public.board_totals;
  DELETE FROM public.board_xp_counts;
  DELETE FROM public.board_level_counts;
  INSERT INTO public.board_totals (period, period_start, board, members, xp_sum)
  SELECT 'all'::text, '-infinity'::date, ''::text, count(*), sum(up.total_xp)
  FROM public.user_profiles up JOIN public.users u ON u.id = up.user_id
  WHERE u.in_server AND up.total_xp > 0
  HAVING count(*) > 0
  UNION ALL
  SELECT 'all', '-infinity', pp.pathway_id, count(*), sum(pp.total_xp)
  FROM public.pathway_progress pp JOIN public.users u ON u.id = pp.user_id
  WHERE u.in_server AND pp.total_xp > 0
  GROUP BY pp.pathway_id
  UNION ALL
  SELECT t.period, t.period_start, t.pathway, count(*), sum(t.xp)
  FROM public.xp_period_totals t JOIN public.users u ON u.id = t.user_id
  WHERE u.in_server AND t.xp > 0
  GROUP BY t.period, t.period_start, t.pathway;
  INSERT INTO public.board_xp_counts (board, shift, bucket, listed)
  SELECT b.board, s.shift, b.xp >> s.shift, sum(b.n)
  FROM (
    SELECT '' AS board, up.total_xp AS xp, count(*) AS n
    FROM public.user_profiles up JOIN public.users u ON u.id = up.user_id
    WHERE u.in_server AND up.total_xp > 0 AND public.profile_is_public(up.preferences)
    GROUP BY up.total_xp
    UNION ALL
    SELECT pp.pathway_id, pp.total_xp, count(*)
    FROM public.pathway_progress pp JOIN public.users u ON u.id = pp.user_id
    JOIN public.user_profiles up ON up.user_id = pp.user_id
    WHERE u.in_server AND pp.total_xp > 0 AND public.profile_is_public(up.preferences)
    GROUP BY pp.pathway_id, pp.total_xp
  ) b
  CROSS JOIN unnest('{0,6,12,18}'::int[]) AS s(shift)
  GROUP BY 1, 2, 3
  ORDER BY 1, 2, 3;
  INSERT INTO public.board_level_counts (level, listed)
  SELECT up.level, count(*)
  FROM public.user_profiles up JOIN public.users u ON u.id = up.user_id
  WHERE u.in_server AND up.total_xp > 0 AND up.level > 1 AND public.profile_is_public(up.preferences)
  GROUP BY up.level;
END
$$;
COMMENT ON FUNCTION public.board_counts_rebuild() IS
  'Recompute board_totals, board_xp_counts and board_level_counts from the tables (the triggers keep them otherwise)';

REVOKE EXECUTE ON FUNCTION public.board_counts_move(TEXT[], INTEGER[], INTEGER[]),
  public.board_levels_move(INTEGER[], INTEGER[]),
  public.board_totals_move(TEXT[], DATE[], TEXT[], INTEGER[], INTEGER[]),
  public.board_counts_profiles_move(TEXT[], INTEGER[], INTEGER[], BOOLEAN[], INTEGER[]),
  public.board_counts_pathways_move(TEXT[], TEXT[], INTEGER[], INTEGER[]),
  public.board_counts_member(TEXT[], INTEGER),
  public.board_counts_on_profiles(), public.board_counts_on_pathways(), public.board_counts_on_periods(),
  public.board_counts_on_users(), public.board_counts_on_truncate(), public.board_counts_rebuild()
  FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.board_counts_rebuild() TO service_role;

CREATE TRIGGER board_counts_profiles_insert AFTER INSERT ON user_profiles
  FOR EACH ROW WHEN (NEW.total_xp > 0 OR NEW.level > 1 OR pg_trigger_depth() < 1)
  EXECUTE FUNCTION public.board_counts_on_profiles();
CREATE TRIGGER board_counts_profiles_update AFTER UPDATE ON user_profiles
  REFERENCING OLD TABLE AS board_old NEW TABLE AS board_new
  FOR EACH STATEMENT EXECUTE FUNCTION public.board_counts_on_profiles();
CREATE TRIGGER board_counts_profiles_delete AFTER DELETE ON user_profiles
  REFERENCING OLD TABLE AS board_old
  FOR EACH STATEMENT EXECUTE FUNCTION public.board_counts_on_profiles();
CREATE TRIGGER board_counts_pathways_insert AFTER INSERT ON pathway_progress
  REFERENCING NEW TABLE AS board_new
  FOR EACH STATEMENT EXECUTE FUNCTION public.board_counts_on_pathways();
CREATE TRIGGER board_counts_pathways_update AFTER UPDATE ON pathway_progress
  REFERENCING OLD TABLE AS board_old NEW TABLE AS board_new
  FOR EACH STATEMENT EXECUTE FUNCTION public.board_counts_on_pathways();
CREATE TRIGGER board_counts_pathways_delete AFTER DELETE ON pathway_progress
  REFERENCING OLD TABLE AS board_old
  FOR EACH STATEMENT EXECUTE FUNCTION public.board_counts_on_pathways();
CREATE TRIGGER board_counts_periods_insert AFTER INSERT ON xp_period_totals
  REFERENCING NEW TABLE AS board_new
  FOR EACH STATEMENT EXECUTE FUNCTION public.board_counts_on_periods();
CREATE TRIGGER board_counts_periods_update AFTER UPDATE ON xp_period_totals
  REFERENCING OLD TABLE AS board_old NEW TABLE AS board_new
  FOR EACH STATEMENT EXECUTE FUNCTION public.board_counts_on_periods();
CREATE TRIGGER board_counts_periods_delete AFTER DELETE ON xp_period_totals
  REFERENCING OLD TABLE AS board_old
  FOR EACH STATEMENT EXECUTE FUNCTION public.board_counts_on_periods();
CREATE TRIGGER board_counts_users_membership AFTER UPDATE OF in_server ON users
  FOR EACH ROW WHEN (COALESCE(OLD.in_server, false) IS DISTINCT FROM COALESCE(NEW.in_server, false))
  EXECUTE FUNCTION public.board_counts_on_users();
CREATE TRIGGER board_counts_users_delete BEFORE DELETE ON users
  FOR EACH ROW WHEN (OLD.in_server)
  EXECUTE FUNCTION public.board_counts_on_users();
CREATE TRIGGER board_counts_users_truncate AFTER TRUNCATE ON users
  FOR EACH STATEMENT EXECUTE FUNCTION public.board_counts_on_truncate();
CREATE TRIGGER board_counts_profiles_truncate AFTER TRUNCATE ON user_profiles
  FOR EACH STATEMENT EXECUTE FUNCTION public.board_counts_on_truncate();
CREATE TRIGGER board_counts_pathways_truncate AFTER TRUNCATE ON pathway_progress
  FOR EACH STATEMENT EXECUTE FUNCTION public.board_counts_on_truncate();
CREATE TRIGGER board_counts_periods_truncate AFTER TRUNCATE ON xp_period_totals
  FOR EACH STATEMENT EXECUTE FUNCTION public.board_counts_on_truncate();

SELECT public.board_counts_rebuild();
ANALYZE board_totals, board_xp_counts, board_level_counts;

-- The boards' keyset indexes cover every member (the public boards list members with no XP too,
-- ranked last); the bot's queries ask for XP > 0 and use them as before.
DROP INDEX idx_user_profiles_board;
CREATE INDEX idx_user_profiles_board ON user_profiles (total_xp, user_id);
DROP INDEX idx_pathway_progress_board;
CREATE INDEX idx_pathway_progress_board ON pathway_progress (pathway_id, total_xp, user_id);

-- The public boards: the guide's columns, current members with public profiles, in rank order (most
-- XP first; ties share a rank, as RANK(), and are listed by user id, descending, as the bot lists
-- them). rank = 1 + listed members with more XP, summed from board_xp_counts: on each of the three
-- lower levels, the buckets above the row's XP within its parent bucket (at most 63 rows), on the top
-- level every bucket above. The member's id is
-- the board table's column, so a filter or cursor on it is an index condition of the board's index.
DROP VIEW user_leaderboard;
CREATE VIEW user_leaderboard AS
SELECT
  up.user_id AS id,
  u.discord_id,
  u.username,
  u.avatar,
  up.display_name,
  up.total_xp,
  up.level,
  up.message_count,
  up.events_attended,
  up.tournaments_won,
  1 + COALESCE((SELECT sum(b.listed) FROM board_xp_counts b WHERE b.board = '' AND b.shift = 0
                 AND b.bucket > up.total_xp AND b.bucket <= (up.total_xp | 63)), 0)
    + COALESCE((SELECT sum(b.listed) FROM board_xp_counts b WHERE b.board = '' AND b.shift = 6
                 AND b.bucket > (up.total_xp >> 6) AND b.bucket <= ((up.total_xp >> 6) | 63)), 0)
    + COALESCE((SELECT sum(b.listed) FROM board_xp_counts b WHERE b.board = '' AND b.shift = 12
                 AND b.bucket > (up.total_xp >> 12) AND b.bucket <= ((up.total_xp >> 12) | 63)), 0)
    + COALESCE((SELECT sum(b.listed) FROM board_xp_counts b WHERE b.board = '' AND b.shift = 18
                 AND b.bucket > (up.total_xp >> 18)), 0) AS rank,
  1 + (SELECT count(*) FROM board_level_counts l WHERE l.level > up.level AND l.listed > 0) AS level_rank
FROM user_profiles up
JOIN users u ON u.id = up.user_id
WHERE u.in_server AND up.total_xp >= 0 AND profile_is_public(up.preferences)
ORDER BY up.total_xp DESC, up.user_id DESC;
COMMENT ON VIEW user_leaderboard IS
  'Global leaderboard: current members with public profiles by total XP, with rank (ties share it) and level rank; public columns only, read with the owner''s rights';

DROP VIEW pathway_leaderboard;
CREATE VIEW pathway_leaderboard AS
SELECT
  pp.pathway_id,
  pp.user_id,
  u.discord_id,
  u.username,
  u.avatar,
  up.display_name,
  pp.level,
  pp.xp,
  pp.total_xp,
  pp.current_rank,
  1 + COALESCE((SELECT sum(b.listed) FROM board_xp_counts b WHERE b.board = pp.pathway_id AND b.shift = 0
                 AND b.bucket > pp.total_xp AND b.bucket <= (pp.total_xp | 63)), 0)
    + COALESCE((SELECT sum(b.listed) FROM board_xp_counts b WHERE b.board = pp.pathway_id AND b.shift = 6
                 AND b.bucket > (pp.total_xp >> 6) AND b.bucket <= ((pp.total_xp >> 6) | 63)), 0)
    + COALESCE((SELECT sum(b.listed) FROM board_xp_counts b WHERE b.board = pp.pathway_id AND b.shift = 12
                 AND b.bucket > (pp.total_xp >> 12) AND b.bucket <= ((pp.total_xp >> 12) | 63)), 0)
    + COALESCE((SELECT sum(b.listed) FROM board_xp_counts b WHERE b.board = pp.pathway_id AND b.shift = 18
                 AND b.bucket > (pp.total_xp >> 18)), 0) AS rank
FROM pathway_progress pp
JOIN users u ON u.id = pp.user_id
JOIN user_profiles up ON up.user_id = pp.user_id
WHERE u.in_server AND pp.total_xp >= 0 AND profile_is_public(up.preferences)
ORDER BY pp.pathway_id, pp.total_xp DESC, pp.user_id DESC;
COMMENT ON VIEW pathway_leaderboard IS
  'Per-pathway leaderboard: current members with public profiles by pathway XP, with rank (ties share it); public columns only, read with the owner''s rights';

-- Listed events (drafts are their host's), whoever asks.
DROP VIEW active_events;
CREATE VIEW active_events WITH (security_barrier) AS
SELECT
  e.*,
  CARDINALITY(e.participants) AS participant_count,
  CASE
    WHEN e.start_date > NOW() THEN 'upcoming'
    WHEN e.end_date IS NULL OR e.end_date > NOW() THEN 'ongoing'
    ELSE 'completed'
  END AS computed_status
FROM events e
WHERE e.is_active = true AND e.status <> 'draft'
ORDER BY e.start_date;
COMMENT ON VIEW active_events IS
  'Listed (not draft) active events with participant count and a status computed from the clock, read with the owner''s rights';

GRANT SELECT ON user_leaderboard, pathway_leaderboard, active_events TO anon, authenticated, service_role;

-- Pages after a row (the last one shown), exact at any depth and within any tie: the rest of the
-- row's tie group, then lower XP, each an index range read in the view's order. (A caller's own
-- ORDER BY on a view with one makes PostgreSQL plan the view for all its rows: these never sort.)
CREATE FUNCTION public.user_leaderboard_page(p_after_xp INTEGER DEFAULT NULL, p_after_id TEXT DEFAULT NULL,
                                             p_limit INTEGER DEFAULT 50)
RETURNS SETOF public.user_leaderboard
LANGUAGE plpgsql STABLE AS $$
DECLARE
  got BIGINT := 0;
BEGIN
  IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000 THEN
    RAISE EXCEPTION 'p_limit must be 1 to 1000' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_after_xp IS NULL THEN
    RETURN QUERY SELECT * FROM public.user_leaderboard LIMIT p_limit;
    RETURN;
  END IF;
  IF p_after_id IS NOT NULL THEN
    RETURN QUERY SELECT * FROM public.user_leaderboard l WHERE l.total_xp = p_after_xp AND l.id < p_after_id
      LIMIT p_limit;
    GET DIAGNOSTICS got = ROW_COUNT;
  END IF;
  IF got < p_limit THEN
    RETURN QUERY SELECT * FROM public.user_leaderboard l WHERE l.total_xp < p_after_xp LIMIT p_limit - got;
  END IF;
END
$$;
COMMENT ON FUNCTION public.user_leaderboard_page(INTEGER, TEXT, INTEGER) IS
  'A page of user_leaderboard after the row (total_xp, id) last shown (none: the first page); any depth at the cost of the first';

CREATE FUNCTION public.pathway_leaderboard_page(p_pathway TEXT, p_after_xp INTEGER DEFAULT NULL,
                                                p_after_id TEXT DEFAULT NULL, p_limit INTEGER DEFAULT 50)
RETURNS SETOF public.pathway_leaderboard
LANGUAGE plpgsql STABLE AS $$
DECLARE
  got BIGINT := 0;
BEGIN
  IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000 THEN
    RAISE EXCEPTION 'p_limit must be 1 to 1000' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_after_xp IS NULL THEN
    RETURN QUERY SELECT * FROM public.pathway_leaderboard l WHERE l.pathway_id = p_pathway LIMIT p_limit;
    RETURN;
  END IF;
  IF p_after_id IS NOT NULL THEN
    RETURN QUERY SELECT * FROM public.pathway_leaderboard l
      WHERE l.pathway_id = p_pathway AND l.total_xp = p_after_xp AND l.user_id < p_after_id LIMIT p_limit;
    GET DIAGNOSTICS got = ROW_COUNT;
  END IF;
  IF got < p_limit THEN
    RETURN QUERY SELECT * FROM public.pathway_leaderboard l
      WHERE l.pathway_id = p_pathway AND l.total_xp < p_after_xp LIMIT p_limit - got;
  END IF;
END
$$;
COMMENT ON FUNCTION public.pathway_leaderboard_page(TEXT, INTEGER, TEXT, INTEGER) IS
  'A page of one pathway''s pathway_leaderboard after the row (total_xp, user_id) last shown (none: the first page)';

-- One member's rank on a public board (NULL when they are not listed there): a primary-key lookup
-- and the count above their XP.
CREATE FUNCTION public.member_position(p_member_id TEXT, p_pathway TEXT DEFAULT NULL) RETURNS BIGINT
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF p_pathway IS NULL THEN
    RETURN (SELECT l.rank FROM public.user_leaderboard l WHERE l.id = p_member_id);
  END IF;
  RETURN (SELECT l.rank FROM public.pathway_leaderboard l WHERE l.user_id = p_member_id AND l.pathway_id = p_pathway);
END
$$;
COMMENT ON FUNCTION public.member_position(TEXT, TEXT) IS
  'A member''s rank on the public global board, or on a pathway''s; NULL when they are not listed there';

REVOKE EXECUTE ON FUNCTION public.user_leaderboard_page(INTEGER, TEXT, INTEGER),
  public.pathway_leaderboard_page(TEXT, INTEGER, TEXT, INTEGER), public.member_position(TEXT, TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.user_leaderboard_page(INTEGER, TEXT, INTEGER),
  public.pathway_leaderboard_page(TEXT, INTEGER, TEXT, INTEGER), public.member_position(TEXT, TEXT)
  TO anon, authenticated, service_role;

-- The bot's "my position": the member's row on one of its boards (in the server or not; private
-- profiles included) and up to p_up rows before it, p_down after it, in four index ranges around
-- their XP (part 1: the rest of their tie group above them, 2: more XP, 3: the tie group below them,
-- 4: less XP), with the names to show. Generic plans, planned once per session: the bot plans every
-- statement afresh (skewed boards need it for pages), which made planning this one most of its cost.
CREATE FUNCTION public.board_window(p_period TEXT, p_start DATE, p_board TEXT, p_user_id TEXT, p_up INTEGER,
                                    p_down INTEGER)
RETURNS TABLE (user_id TEXT, discord_id TEXT, username TEXT, display_name TEXT, xp INTEGER, part INTEGER,
               in_server BOOLEAN)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
  me INTEGER;
BEGIN
  IF p_period = 'all' AND p_board = '' THEN
    SELECT b.total_xp INTO me FROM public.user_profiles b WHERE b.user_id = p_user_id AND b.total_xp > 0;
    IF me IS NULL THEN
      RETURN;
    END IF;
    RETURN QUERY
    WITH r AS (
      (SELECT b.user_id, b.total_xp AS xp, 1 AS part FROM public.user_profiles b
       WHERE b.total_xp = me AND b.user_id > p_user_id ORDER BY b.total_xp, b.user_id LIMIT p_up)
      UNION ALL
      (SELECT b.user_id, b.total_xp, 2 FROM public.user_profiles b
       WHERE b.total_xp > me ORDER BY b.total_xp, b.user_id LIMIT p_up)
      UNION ALL
      SELECT p_user_id, me, 0
      UNION ALL
      (SELECT b.user_id, b.total_xp, 3 FROM public.user_profiles b
       WHERE b.total_xp = me AND b.user_id < p_user_id ORDER BY b.total_xp DESC, b.user_id DESC LIMIT p_down)
      UNION ALL
      (SELECT b.user_id, b.total_xp, 4 FROM public.user_profiles b
       WHERE b.total_xp < me AND b.total_xp > 0 ORDER BY b.total_xp DESC, b.user_id DESC LIMIT p_down))
    SELECT r.user_id, u.discord_id, u.username, up.display_name, r.xp, r.part, COALESCE(u.in_server, false)
    FROM r
    CROSS JOIN LATERAL (SELECT u.discord_id, u.username, u.in_server FROM public.users u WHERE u.id = r.user_id LIMIT 1) u
    CROSS JOIN LATERAL (SELECT up.display_name FROM public.user_profiles up WHERE up.user_id = r.user_id LIMIT 1) up;
  ELSIF p_period = 'all' THEN
    SELECT b.total_xp INTO me FROM public.pathway_progress b
    WHERE b.pathway_id = p_board AND b.user_id = p_user_id AND b.total_xp > 0;
    IF me IS NULL THEN
      RETURN;
    END IF;
    RETURN QUERY
    WITH r AS (
      (SELECT b.user_id, b.total_xp AS xp, 1 AS part FROM public.pathway_progress b
       WHERE b.pathway_id = p_board AND b.total_xp = me AND b.user_id > p_user_id
       ORDER BY b.total_xp, b.user_id LIMIT p_up)
      UNION ALL
      (SELECT b.user_id, b.total_xp, 2 FROM public.pathway_progress b
       WHERE b.pathway_id = p_board AND b.total_xp > me ORDER BY b.total_xp, b.user_id LIMIT p_up)
      UNION ALL
      SELECT p_user_id, me, 0
      UNION ALL
      (SELECT b.user_id, b.total_xp, 3 FROM public.pathway_progress b
       WHERE b.pathway_id = p_board AND b.total_xp = me AND b.user_id < p_user_id
       ORDER BY b.total_xp DESC, b.user_id DESC LIMIT p_down)
      UNION ALL
      (SELECT b.user_id, b.total_xp, 4 FROM public.pathway_progress b
       WHERE b.pathway_id = p_board AND b.total_xp < me AND b.total_xp > 0
       ORDER BY b.total_xp DESC, b.user_id DESC LIMIT p_down))
    SELECT r.user_id, u.discord_id, u.username, up.display_name, r.xp, r.part, COALESCE(u.in_server, false)
    FROM r
    CROSS JOIN LATERAL (SELECT u.discord_id, u.username, u.in_server FROM public.users u WHERE u.id = r.user_id LIMIT 1) u
    CROSS JOIN LATERAL (SELECT up.display_name FROM public.user_profiles up WHERE up.user_id = r.user_id LIMIT 1) up;
  ELSE
    SELECT b.xp INTO me FROM public.xp_period_totals b
    WHERE b.period = p_period AND b.period_start = p_start AND b.pathway = p_board AND b.user_id = p_user_id
      AND b.xp > 0;
    IF me IS NULL THEN
      RETURN;
    END IF;
    RETURN QUERY
    WITH r AS (
      (SELECT b.user_id, b.xp, 1 AS part FROM public.xp_period_totals b
       WHERE b.period = p_period AND b.period_start = p_start AND b.pathway = p_board AND b.xp = me
         AND b.user_id > p_user_id ORDER BY b.xp, b.user_id LIMIT p_up)
      UNION ALL
      (SELECT b.user_id, b.xp, 2 FROM public.xp_period_totals b
       WHERE b.period = p_period AND b.period_start = p_start AND b.pathway = p_board AND b.xp > me
       ORDER BY b.xp, b.user_id LIMIT p_up)
      UNION ALL
      SELECT p_user_id, me, 0
      UNION ALL
      (SELECT b.user_id, b.xp, 3 FROM public.xp_period_totals b
       WHERE b.period = p_period AND b.period_start = p_start AND b.pathway = p_board AND b.xp = me
         AND b.user_id < p_user_id ORDER BY b.xp DESC, b.user_id DESC LIMIT p_down)
      UNION ALL
      (SELECT b.user_id, b.xp, 4 FROM public.xp_period_totals b
       WHERE b.period = p_period AND b.period_start = p_start AND b.pathway = p_board AND b.xp < me AND b.xp > 0
       ORDER BY b.xp DESC, b.user_id DESC LIMIT p_down))
    SELECT r.user_id, u.discord_id, u.username, up.display_name, r.xp, r.part, COALESCE(u.in_server, false)
    FROM r
    CROSS JOIN LATERAL (SELECT u.discord_id, u.username, u.in_server FROM public.users u WHERE u.id = r.user_id LIMIT 1) u
    CROSS JOIN LATERAL (SELECT up.display_name FROM public.user_profiles up WHERE up.user_id = r.user_id LIMIT 1) up;
  END IF;
END
$$;
COMMENT ON FUNCTION public.board_window(TEXT, DATE, TEXT, TEXT, INTEGER, INTEGER) IS
  'The bot''s boards around one member: their row and the index ranges above and below it, with names';
REVOKE EXECUTE ON FUNCTION public.board_window(TEXT, DATE, TEXT, TEXT, INTEGER, INTEGER) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.board_window(TEXT, DATE, TEXT, TEXT, INTEGER, INTEGER) TO service_role;
