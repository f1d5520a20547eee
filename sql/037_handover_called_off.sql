-- A planned handover called off by the old leader (its successor never took the cut: it died after
-- learning it), on record beside the other leadership changes, for /about and doctor.
ALTER TABLE bot_leader_log DROP CONSTRAINT bot_leader_log_event_check;
ALTER TABLE bot_leader_log ADD CONSTRAINT bot_leader_log_event_check
  CHECK (event IN ('acquired', 'released', 'handed_over', 'fenced', 'called_off'));
