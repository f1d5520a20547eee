-- One leader at a time per guild (README "Standby and failover"): the bot process holding this lease
-- row is the only one that opens Discord's gateway, answers interactions, delivers the outbox, fires
-- the timers and runs the scheduler's jobs. A lease row, not a session advisory lock: it works through
-- a transaction pooler (each statement stands alone) and carries a fencing token that every write
-- path with a side effect checks in its own transaction.
CREATE TABLE bot_leader (
  guild_id TEXT PRIMARY KEY,
  holder TEXT NOT NULL CHECK (length(holder) BETWEEN 1 AND 200),
  -- Incremented at every acquisition: a write carrying an older token is refused.
  token BIGINT NOT NULL CHECK (token >= 1),
  acquired_at TIMESTAMPTZ NOT NULL,
  renewed_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  -- A planned handover: the process that asked (python -m bot run --takeover), and the cut the
  -- leader chose (a Discord snowflake: interactions and messages from it on are the new process's).
  handover_to TEXT CHECK (length(handover_to) BETWEEN 1 AND 200),
  -- Refreshed by the asker while it waits: a request not refreshed for a few seconds (its process
  -- died) is ignored by the leader and may be replaced by another's.
  handover_asked_at TIMESTAMPTZ,
  handover_cut BIGINT CHECK (handover_cut >= 0)
);
COMMENT ON TABLE bot_leader IS
  'The leader lease of the bot processes on this database: one row per guild, a fencing token bumped at every acquisition';

CREATE TABLE bot_leader_log (
  id BIGSERIAL PRIMARY KEY,
  guild_id TEXT NOT NULL,
  holder TEXT NOT NULL,
  token BIGINT NOT NULL,
  event TEXT NOT NULL CHECK (event IN ('acquired', 'released', 'handed_over', 'fenced')),
  detail TEXT CHECK (length(detail) <= 1000),
  at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
COMMENT ON TABLE bot_leader_log IS
  'Leadership changes (acquired, released, handed over, fenced): what /about and doctor show, and what damps a flapping leadership';
CREATE INDEX idx_bot_leader_log_guild_at ON bot_leader_log (guild_id, at DESC);

ALTER TABLE bot_leader ENABLE ROW LEVEL SECURITY;
ALTER TABLE bot_leader_log ENABLE ROW LEVEL SECURITY;
GRANT ALL ON bot_leader, bot_leader_log TO service_role;
GRANT USAGE, SELECT ON SEQUENCE bot_leader_log_id_seq TO service_role;
CREATE POLICY bot_leader_service_all ON bot_leader FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY bot_leader_log_service_all ON bot_leader_log FOR ALL TO service_role USING (true) WITH CHECK (true);
