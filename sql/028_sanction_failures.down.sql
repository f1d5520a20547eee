-- Rollback of 028_sanction_failures.sql: a sanction Discord refused reads as voided (never in force either).
UPDATE moderation_sanctions SET status = 'voided' WHERE status = 'failed';
ALTER TABLE moderation_sanctions DROP CONSTRAINT moderation_sanctions_status_check;
ALTER TABLE moderation_sanctions ADD CONSTRAINT moderation_sanctions_status_check
  CHECK (status IN ('active', 'expired', 'lifted', 'superseded', 'voided'));
COMMENT ON COLUMN moderation_sanctions.status IS
  'active; expired (its timer lifted it); lifted (a moderator did); superseded (a newer sanction of the same kind replaced it); voided (its case was voided)';
