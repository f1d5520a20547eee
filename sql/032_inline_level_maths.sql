-- 032 inline_level_maths: the level maths as SQL expressions the planner inlines (issue 21).
--
-- calculate_level_from_xp() and get_next_level_xp() were PL/pgSQL: a function call per row, ~2 µs,
-- several per member in every bulk write (the import's ledger statement calls it three times a member,
-- the chat flush's pathway upsert five). As one-line SQL functions with only strict, immutable parts they
-- are inlined into the calling statement (no call at all), same signatures, same results, STRICT as
-- before (NULL in, NULL out). The level is exact in integers: max(xp, 0) / 100 by integer division
-- (abs(x) + x is twice max(x, 0); bigint so no total overflows), whose float8 square root's floor is
-- exact below 2^52 (the largest here is 21,474,836); floor(sqrt(floor(y))) = floor(sqrt(y)).

CREATE OR REPLACE FUNCTION calculate_level_from_xp(p_xp INTEGER)
RETURNS INTEGER
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT floor(sqrt(((abs(p_xp::bigint) + p_xp) / 200)::float8))::integer + 1
$$;

CREATE OR REPLACE FUNCTION get_next_level_xp(p_current_level INTEGER)
RETURNS INTEGER
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT (p_current_level * p_current_level) * 100
$$;
