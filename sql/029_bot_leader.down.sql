-- Rollback of 029_bot_leader.sql: the lease and its log go (a bot of before leads alone again).
DROP TABLE IF EXISTS bot_leader_log;
DROP TABLE IF EXISTS bot_leader;
