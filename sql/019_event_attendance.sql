-- Events, second part: attendance counted from the minutes a registrant spends in the event's voice
-- channel while it is on.
ALTER TABLE event_registrations ADD COLUMN voice_minutes INTEGER NOT NULL DEFAULT 0 CHECK (voice_minutes >= 0);
COMMENT ON COLUMN event_registrations.voice_minutes IS
  'Minutes the member spent in the event''s voice channel while it was on ([events] attend_minutes of them make them attended)';
