"""The process: client, runner, scheduler, settings and community files, errors, checks, who is who, locks, doors."""
