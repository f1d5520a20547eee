-- 033 profiles_per_statement: every new user still gets its user_profiles row (design.md fix 9), now one
-- INSERT for all the users a statement inserts (issue 21).
--
-- 003's row trigger ran a PL/pgSQL call and a one-row INSERT per user, ~75 µs each: the import inserts
-- the members it does not know yet (a tenth of a MEE6 export) and the member sync whole guilds, thousands
-- a statement. A statement-level trigger with the statement's new rows (a transition table) inserts their
-- profiles in one set-based statement, in users.id order (the order every writer of profiles locks them
-- in); a statement that inserted no user (an upsert that updated its member) returns at once. The
-- profiles appear at the same moment as before: AFTER triggers run at the end of the user's statement.

CREATE OR REPLACE FUNCTION create_user_profile()
RETURNS TRIGGER AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM new_users) THEN
    RETURN NULL;
  END IF;
  INSERT INTO user_profiles (user_id, display_name)
  SELECT n.id, COALESCE(n.global_name, n.username) FROM new_users n ORDER BY n.id
  ON CONFLICT (user_id) DO NOTHING;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER create_user_profile_on_insert ON users;
CREATE TRIGGER create_user_profile_on_insert AFTER INSERT ON users
  REFERENCING NEW TABLE AS new_users
  FOR EACH STATEMENT EXECUTE FUNCTION create_user_profile();
