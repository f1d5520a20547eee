"""The pure rules, with no I/O: XP, progression, ranking, achievements, events and moderation."""
