"""The stand-in's wire records: what it keeps of calls, interactions, injected failures and what
the bot did (the bottom layer with state.py; routes and the app build on them)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox import state as s

INTERACTION_WINDOW_S = 3.0
WEBHOOK_TOKEN_TTL_S = 15 * 60


@dataclass
class Call:
    method: str
    path: str
    body: Any
    status: int
    at: float = field(default_factory=time.monotonic)


@dataclass
class Output:
    """Something the bot did that a person in the guild would notice."""

    # message, dm, response, edit, followup, modal, autocomplete, member_update, kick, ban, unban, ...
    kind: str
    message: s.Message | None = None
    data: dict[str, Any] = field(default_factory=dict)
    interaction_id: str | None = None


@dataclass
class Interaction:
    id: str
    token: str
    type: int
    data: dict[str, Any]
    user: s.User
    channel_id: str
    guild_id: str | None
    message: s.Message | None = None
    created: float = field(default_factory=time.monotonic)
    response_type: int | None = None
    responded: float | None = None  # monotonic time of the first callback
    original: s.Message | None = None
    followups: list[s.Message] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    choices: list[dict[str, Any]] | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Failure:
    """An injected failure: the next `times` calls matching method and path prefix get this answer."""

    method: str
    path_prefix: str
    status: int
    body: dict[str, Any]
    times: int
    retry_after: float | None = None
