"""The process: client, runner, settings and community files, errors, checks, identity, leadership, locks, doors."""
