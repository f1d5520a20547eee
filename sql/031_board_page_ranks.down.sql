-- Rollback of 031_board_page_ranks.sql: the page functions as 022 wrote them (each row ranked by the
-- view, with the caller's rights).

CREATE OR REPLACE FUNCTION public.user_leaderboard_page(p_after_xp INTEGER DEFAULT NULL, p_after_id TEXT DEFAULT NULL,
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

CREATE OR REPLACE FUNCTION public.pathway_leaderboard_page(p_pathway TEXT, p_after_xp INTEGER DEFAULT NULL,
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
