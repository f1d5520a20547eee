-- Rollback of 025_private_role_checks.sql: everyone may ask again.
GRANT EXECUTE ON FUNCTION is_staff(TEXT) TO PUBLIC;
GRANT EXECUTE ON FUNCTION has_role(TEXT, TEXT) TO PUBLIC;
