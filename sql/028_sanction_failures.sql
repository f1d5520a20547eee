-- A sanction Discord refused to apply (e.g. 403, code 50013: the member is above the bot) ends as
-- 'failed': it was never in force, so nothing lifts it later and nothing refuses on its account.
ALTER TABLE moderation_sanctions DROP CONSTRAINT moderation_sanctions_status_check;
ALTER TABLE moderation_sanctions ADD CONSTRAINT moderation_sanctions_status_check
  CHECK (status IN ('active', 'expired', 'lifted', 'superseded', 'voided', 'failed'));
COMMENT ON COLUMN moderation_sanctions.status IS
  'active; expired (its timer lifted it); lifted (a moderator did); superseded (a newer sanction of the same kind replaced it); voided (its case was voided); failed (Discord refused to apply it: never in force)';
