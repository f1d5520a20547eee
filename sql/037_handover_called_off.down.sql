-- Rollback of 037_handover_called_off.sql.
DELETE FROM bot_leader_log WHERE event = 'called_off';
ALTER TABLE bot_leader_log DROP CONSTRAINT bot_leader_log_event_check;
ALTER TABLE bot_leader_log ADD CONSTRAINT bot_leader_log_event_check
  CHECK (event IN ('acquired', 'released', 'handed_over', 'fenced'));
