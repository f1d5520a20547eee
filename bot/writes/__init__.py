"""The write machinery: write path, journal, flushes, workers, outbox, durable timers, activity counts, analytics."""
