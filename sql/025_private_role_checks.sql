-- has_role() and is_staff() read users.roles with their owner's rights (past row-level security)
-- and, as every function, were executable by PUBLIC: through PostgREST's /rpc anyone with the
-- public key could learn any member's roles and staff status, private profiles included. They
-- are the bot's (and service_role's) helpers; the website's policies do not use them.
REVOKE EXECUTE ON FUNCTION is_staff(TEXT) FROM PUBLIC, anon, authenticated;
REVOKE EXECUTE ON FUNCTION has_role(TEXT, TEXT) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION is_staff(TEXT) TO service_role;
GRANT EXECUTE ON FUNCTION has_role(TEXT, TEXT) TO service_role;
