"""Feature modules: listeners, slash commands and views. No SQL here: cogs call db/."""
