-- Rollback of 012_durable_timers.sql.
DROP TABLE timers;
