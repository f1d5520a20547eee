-- Rollback of 015_case_revisions.sql.
DROP TABLE moderation_case_revisions;
