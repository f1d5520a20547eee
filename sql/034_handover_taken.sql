-- A planned handover's last step on record: when the successor took its cut (README "Standby and
-- failover"). The old leader handles every event but interactions and messages until then (they
-- carry no id to cut by), so nothing done in Discord between the cut and its taking reaches neither.
ALTER TABLE bot_leader ADD COLUMN handover_taken_at TIMESTAMPTZ;
COMMENT ON COLUMN bot_leader.handover_taken_at IS
  'When the successor of a planned handover took its cut (NULL: not yet, or no handover)';
