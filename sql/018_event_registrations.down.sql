-- Rollback of 018_event_registrations.sql: waitlisted registrations are cancelled.
DROP TABLE event_schedules;
DROP INDEX idx_event_registrations_queue;
ALTER TABLE event_registrations DROP COLUMN reminders;
UPDATE event_registrations SET status = 'cancelled' WHERE status = 'waitlisted';
ALTER TABLE event_registrations DROP CONSTRAINT event_registrations_status_check;
ALTER TABLE event_registrations ADD CONSTRAINT event_registrations_status_check
  CHECK (status IN ('registered', 'attended', 'no-show', 'cancelled'));
COMMENT ON COLUMN event_registrations.status IS NULL;
