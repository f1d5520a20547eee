"""Files the bot sends, within Discord's upload limit where they go: as they are when they fit, else
gzip-compressed when that makes them fit, else not at all (the caller says so clearly). Discord refuses
a bot's request whose files pass the limit with 413 `40005 Request entity too large`: 10 MiB by
default and in DMs, more in a boosted server (an interaction says how much: `filesize_limit`)."""

from __future__ import annotations

import asyncio
import gzip
import io
from dataclasses import dataclass, field

import discord

DM_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES  # a DM has no server's boosts: 10 MiB
GZIP_LEVEL = 6  # most of level 9's gain on JSON, at a fraction of its time


def megabytes(size: int) -> str:
    """A size as Discord states its limits (10 MB is 10 MiB)."""
    return f"{size / 1024**2:,.1f} MB"


@dataclass
class Upload:
    """One file to send, compressed once, on first need, off the event loop."""

    body: bytes
    name: str
    _packed: bytes | None = field(default=None, repr=False)

    async def packed(self) -> bytes:
        if self._packed is None:
            self._packed = await asyncio.to_thread(gzip.compress, self.body, GZIP_LEVEL, mtime=0)
        return self._packed

    async def smallest(self) -> int:
        """The fewest bytes it can be sent in."""
        return min(len(self.body), len(await self.packed()))

    async def fitting(self, limit: int) -> tuple[bytes, str] | None:
        """Its bytes and name within `limit`: as it is, or gzipped as `name.gz`; None if neither fits."""
        if len(self.body) <= limit:
            return self.body, self.name
        packed = await self.packed()
        return (packed, f"{self.name}.gz") if len(packed) <= limit else None

    async def file(self, limit: int) -> discord.File | None:
        """A fresh discord.File within `limit` (one request uses a File up), or None."""
        fitting = await self.fitting(limit)
        return discord.File(io.BytesIO(fitting[0]), fitting[1]) if fitting else None
