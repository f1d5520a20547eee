-- Events, first part: a FIFO waitlist beyond capacity, reminders a registrant can turn off, and
-- what the bot has scheduled for each event (so it picks up rows the website writes or edits).

ALTER TABLE event_registrations DROP CONSTRAINT event_registrations_status_check;
ALTER TABLE event_registrations ADD CONSTRAINT event_registrations_status_check
  CHECK (status IN ('registered', 'attended', 'no-show', 'cancelled', 'waitlisted'));
COMMENT ON COLUMN event_registrations.status IS
  'registered, attended, no-show, cancelled (the guide''s), and waitlisted: beyond capacity, promoted in registered_at order when a place frees';
ALTER TABLE event_registrations ADD COLUMN reminders BOOLEAN NOT NULL DEFAULT true;
COMMENT ON COLUMN event_registrations.reminders IS 'false: the member turned the event''s reminders off';
CREATE INDEX idx_event_registrations_queue ON event_registrations (event_id, status, registered_at, id);

CREATE TABLE event_schedules (
  event_id UUID PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
  start_date TIMESTAMPTZ NOT NULL,
  end_date TIMESTAMPTZ,
  scheduled_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
COMMENT ON TABLE event_schedules IS
  'The start and end the bot scheduled an event''s reminders and status changes for; an event whose times differ (or that has no row) is scheduled again';
ALTER TABLE event_schedules ENABLE ROW LEVEL SECURITY;
GRANT ALL ON event_schedules TO service_role;
CREATE POLICY event_schedules_service_all ON event_schedules FOR ALL TO service_role USING (true) WITH CHECK (true);
