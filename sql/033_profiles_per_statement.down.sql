-- Rollback of 033_profiles_per_statement.sql: a profile per inserted user row, as 003 wrote it.

DROP TRIGGER create_user_profile_on_insert ON users;

CREATE OR REPLACE FUNCTION create_user_profile()
RETURNS TRIGGER AS $$
BEGIN
  INSERT INTO user_profiles (user_id, display_name)
  VALUES (NEW.id, COALESCE(NEW.global_name, NEW.username))
  ON CONFLICT (user_id) DO NOTHING;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER create_user_profile_on_insert AFTER INSERT ON users
  FOR EACH ROW EXECUTE FUNCTION create_user_profile();
