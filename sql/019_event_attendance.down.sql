-- Rollback of 019_event_attendance.sql.
ALTER TABLE event_registrations DROP COLUMN voice_minutes;
