"""What query functions accept: a pool or a connection (both have fetch/fetchrow/fetchval/execute)."""

from __future__ import annotations

import asyncpg

Executor = asyncpg.Pool | asyncpg.Connection
