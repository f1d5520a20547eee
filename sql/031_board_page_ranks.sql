-- 031 board_page_ranks: the public boards' page functions rank each XP value of a page once (issue 17).
--
-- user_leaderboard_page() and pathway_leaderboard_page() read their rows from the views, which rank
-- every row they return: four index ranges of board_xp_counts (up to ~190 rows) per member, and the
-- level counts per member of the global board, most of a page's cost deep in a board, where a page of
-- 100 holds a handful of XP values (p99 at 1M members, loaded machine: 35.6 ms and 89.7 ms a page of
-- 100; benchmarks/public_boards.py). Here a page reads the view's columns without its ranks (the view
-- computes no column that is not asked for), then ranks each distinct XP value (and level) of the page
-- once, with the view's own sums. Same signatures, columns, rows and ranks.

-- A page: the rest of the row's tie group, then lower XP (each an index range in the view's order), the
-- view's columns but its ranks; then each XP value (and level) of the page ranked once, with the view's
-- own sums (1 + listed members with more XP; 1 + levels above held by listed members). With the owner's
-- rights, as the views read (the counts are not the API roles'; only the view's columns come out), one
-- switch a page: a SECURITY DEFINER helper per XP value cost more than the sums. Generic plans, planned
-- once per session: the custom plans PL/pgSQL starts with were planned anew on every call (two
-- expansions of the view), which cost more than the page.
CREATE OR REPLACE FUNCTION public.user_leaderboard_page(p_after_xp INTEGER DEFAULT NULL, p_after_id TEXT DEFAULT NULL,
                                                        p_limit INTEGER DEFAULT 50)
RETURNS SETOF public.user_leaderboard
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000 THEN
    RAISE EXCEPTION 'p_limit must be 1 to 1000' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN QUERY
  WITH tie AS MATERIALIZED (
    SELECT l.id, l.discord_id, l.username, l.avatar, l.display_name, l.total_xp, l.level, l.message_count,
           l.events_attended, l.tournaments_won
    FROM public.user_leaderboard l
    WHERE p_after_xp IS NOT NULL AND p_after_id IS NOT NULL AND l.total_xp = p_after_xp AND l.id < p_after_id
    LIMIT p_limit
  ), page AS MATERIALIZED (
    SELECT * FROM tie
    UNION ALL
    (SELECT l.id, l.discord_id, l.username, l.avatar, l.display_name, l.total_xp, l.level, l.message_count,
           l.events_attended, l.tournaments_won
     FROM public.user_leaderboard l
     WHERE l.total_xp <= CASE WHEN p_after_xp IS NULL THEN 2147483647 ELSE GREATEST(p_after_xp, 0) - 1 END
     LIMIT p_limit - (SELECT count(*) FROM tie))
  ), ranks AS MATERIALIZED (
    SELECT x.total_xp,
           1 + COALESCE((SELECT sum(b.listed) FROM public.board_xp_counts b WHERE b.board = '' AND b.shift = 0
                         AND b.bucket > x.total_xp AND b.bucket <= (x.total_xp | 63)), 0)
             + COALESCE((SELECT sum(b.listed) FROM public.board_xp_counts b WHERE b.board = '' AND b.shift = 6
                         AND b.bucket > (x.total_xp >> 6) AND b.bucket <= ((x.total_xp >> 6) | 63)), 0)
             + COALESCE((SELECT sum(b.listed) FROM public.board_xp_counts b WHERE b.board = '' AND b.shift = 12
                         AND b.bucket > (x.total_xp >> 12) AND b.bucket <= ((x.total_xp >> 12) | 63)), 0)
             + COALESCE((SELECT sum(b.listed) FROM public.board_xp_counts b WHERE b.board = '' AND b.shift = 18
                         AND b.bucket > (x.total_xp >> 18)), 0) AS rank
    FROM (SELECT DISTINCT total_xp FROM page) x
  ), level_ranks AS MATERIALIZED (
    SELECT x.level, 1 + (SELECT count(*) FROM public.board_level_counts l WHERE l.level > x.level AND l.listed > 0) AS level_rank
    FROM (SELECT DISTINCT level FROM page) x
  )
  SELECT p.id, p.discord_id, p.username, p.avatar, p.display_name, p.total_xp, p.level, p.message_count,
         p.events_attended, p.tournaments_won, r.rank, lr.level_rank
  FROM page p
  JOIN ranks r ON r.total_xp = p.total_xp
  JOIN level_ranks lr ON lr.level = p.level
  ORDER BY p.total_xp DESC, p.id DESC;
END
$$;
COMMENT ON FUNCTION public.user_leaderboard_page(INTEGER, TEXT, INTEGER) IS
  'A page of user_leaderboard after the row (total_xp, id) last shown (none: the first page); any depth at the cost of the first';

CREATE OR REPLACE FUNCTION public.pathway_leaderboard_page(p_pathway TEXT, p_after_xp INTEGER DEFAULT NULL,
                                                           p_after_id TEXT DEFAULT NULL, p_limit INTEGER DEFAULT 50)
RETURNS SETOF public.pathway_leaderboard
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000 THEN
    RAISE EXCEPTION 'p_limit must be 1 to 1000' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN QUERY
  WITH tie AS MATERIALIZED (
    SELECT l.pathway_id, l.user_id, l.discord_id, l.username, l.avatar, l.display_name, l.level, l.xp,
           l.total_xp, l.current_rank
    FROM public.pathway_leaderboard l
    WHERE p_after_xp IS NOT NULL AND p_after_id IS NOT NULL
      AND l.pathway_id = p_pathway AND l.total_xp = p_after_xp AND l.user_id < p_after_id
    LIMIT p_limit
  ), page AS MATERIALIZED (
    SELECT * FROM tie
    UNION ALL
    (SELECT l.pathway_id, l.user_id, l.discord_id, l.username, l.avatar, l.display_name, l.level, l.xp,
           l.total_xp, l.current_rank
     FROM public.pathway_leaderboard l
     WHERE l.pathway_id = p_pathway
       AND l.total_xp <= CASE WHEN p_after_xp IS NULL THEN 2147483647 ELSE GREATEST(p_after_xp, 0) - 1 END
     LIMIT p_limit - (SELECT count(*) FROM tie))
  ), ranks AS MATERIALIZED (
    SELECT x.total_xp,
           1 + COALESCE((SELECT sum(b.listed) FROM public.board_xp_counts b WHERE b.board = p_pathway AND b.shift = 0
                         AND b.bucket > x.total_xp AND b.bucket <= (x.total_xp | 63)), 0)
             + COALESCE((SELECT sum(b.listed) FROM public.board_xp_counts b WHERE b.board = p_pathway AND b.shift = 6
                         AND b.bucket > (x.total_xp >> 6) AND b.bucket <= ((x.total_xp >> 6) | 63)), 0)
             + COALESCE((SELECT sum(b.listed) FROM public.board_xp_counts b WHERE b.board = p_pathway AND b.shift = 12
                         AND b.bucket > (x.total_xp >> 12) AND b.bucket <= ((x.total_xp >> 12) | 63)), 0)
             + COALESCE((SELECT sum(b.listed) FROM public.board_xp_counts b WHERE b.board = p_pathway AND b.shift = 18
                         AND b.bucket > (x.total_xp >> 18)), 0) AS rank
    FROM (SELECT DISTINCT total_xp FROM page) x
  )
  SELECT p.pathway_id, p.user_id, p.discord_id, p.username, p.avatar, p.display_name, p.level, p.xp, p.total_xp,
         p.current_rank, r.rank
  FROM page p
  JOIN ranks r ON r.total_xp = p.total_xp
  ORDER BY p.total_xp DESC, p.user_id DESC;
END
$$;
COMMENT ON FUNCTION public.pathway_leaderboard_page(TEXT, INTEGER, TEXT, INTEGER) IS
  'A page of one pathway''s pathway_leaderboard after the row (total_xp, user_id) last shown (none: the first page)';
