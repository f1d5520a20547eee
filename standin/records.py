"""The stand-in's wire records: what it keeps of calls, interactions, injected failures and what
the bot did (the bottom layer with state.py; routes and the app build on them)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from standin import state as s

INTERACTION_WINDOW_S = 3.0  # "you must send an initial response within 3 seconds"
WEBHOOK_TOKEN_TTL_S = 15 * 60  # "Interaction tokens are valid for 15 minutes"


class NotInServer(LookupError):
    """Someone who is not a member (banned, or left) acts in the server: Discord would not let them
    post, talk in voice or use a command there."""

    def __init__(self, name: str, *, banned: bool) -> None:
        self.name = name
        self.banned = banned
        super().__init__(f"{name} is not in the server ({'banned' if banned else 'left'})")


class Clock:
    """The stand-in's monotonic clock, on which Discord's interaction windows (3 seconds to
    acknowledge, 15 minutes of token) are measured: real time, plus what a test advanced it by, so
    a test ages an interaction past 15 minutes without waiting for them."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


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

    # message, dm, response, edit, followup, modal, autocomplete, member_update, kick, ban, unban,
    # refused (a body Discord would refuse), ...
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
    created: float = field(default_factory=time.monotonic)  # on the stand-in's clock
    response_type: int | None = None
    responded: float | None = None  # the stand-in's clock at the first callback
    original: s.Message | None = None
    followups: list[s.Message] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    choices: list[dict[str, Any]] | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    payload: dict[str, Any] = field(default_factory=dict)  # the INTERACTION_CREATE the bot was sent


@dataclass
class Refusal:
    """A body the stand-in refused as Discord would (400, 50035 Invalid Form Body), with the errors."""

    method: str
    path: str
    errors: dict[str, Any]


@dataclass
class Failure:
    """An injected failure: the next `times` calls matching method and path prefix get this answer
    (after `delay` seconds); status 0 is no failure, only the delay (a slow Discord)."""

    method: str
    path_prefix: str
    status: int
    body: dict[str, Any]
    times: int
    retry_after: float | None = None
    delay: float = 0.0
