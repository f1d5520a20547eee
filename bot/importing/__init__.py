"""Importing another bot's levels: exports read, leaderboards fetched, the import through the ledger, its CLI."""
