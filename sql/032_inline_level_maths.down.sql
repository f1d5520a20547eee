-- Rollback of 032_inline_level_maths.sql: the level maths in PL/pgSQL as 003 wrote them.

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

CREATE OR REPLACE FUNCTION get_next_level_xp(p_current_level INTEGER)
RETURNS INTEGER AS $$
BEGIN
  RETURN (p_current_level * p_current_level) * 100;
END;
$$ LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE;
