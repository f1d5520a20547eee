"""The stand-in's world: one guild with its roles, channels, members and messages, as Discord's API
documents them (snowflakes as strings, ISO 8601 timestamps, the documented field names)."""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1420070400000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
KICK_MEMBERS = 1 << 1
BAN_MEMBERS = 1 << 2
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
VIEW_AUDIT_LOG = 1 << 7
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
SPEAK = 1 << 21
MUTE_MEMBERS = 1 << 22
MANAGE_NICKNAMES = 1 << 27
MANAGE_ROLES = 1 << 28
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_EVENTS = 1 << 33
MODERATE_MEMBERS = 1 << 40
ALL_PERMISSIONS = (1 << 51) - 1

MEMBER_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CONNECT
    | SPEAK
    | USE_APPLICATION_COMMANDS
)

TEXT, DM, VOICE, CATEGORY, PUBLIC_THREAD = 0, 1, 2, 4, 11


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def now() -> datetime:
    return datetime.now(UTC)


class Snowflakes:
    """Ids shaped like Discord's: milliseconds since the Discord epoch, shifted, plus a counter.
    `skew` seconds are added to this machine's clock: Discord's clock and a bot host's disagree."""

    def __init__(self, *, skew: float = 0.0) -> None:
        self._counter = itertools.count()
        self.skew = skew

    def next(self, *, at: datetime | None = None) -> str:
        """A new id; `at` dates it in the past (Discord derives a message's age from its id)."""
        moment = at.timestamp() if at is not None else time.time() + self.skew
        ms = int(moment * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (next(self._counter) & 0x3FFFFF))


@dataclass
class User:
    id: str
    username: str
    global_name: str | None = None
    bot: bool = False
    avatar: str | None = None
    dms_open: bool = True
    premium_type: int = 0  # Nitro: 0 none, 1 Classic, 2 Nitro, 3 Basic (their upload limit; not sent to bots)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": self.avatar,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "primary_guild": None,
            "collectibles": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class Role:
    id: str
    name: str
    permissions: int = 0
    position: int = 0
    color: int = 0
    hoist: bool = False
    managed: bool = False
    mentionable: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": None, "tertiary_color": None},
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }


@dataclass
class Channel:
    id: str
    name: str
    type: int = TEXT
    parent_id: str | None = None
    position: int = 0
    topic: str | None = None
    recipient_id: str | None = None  # DM channels
    owner_id: str | None = None  # threads

    def payload(self, guild_id: str | None) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type, "name": self.name, "flags": 0}
        if self.type == DM:
            return {"id": self.id, "type": DM, "last_message_id": None, "flags": 0, "recipients": []}
        data.update(
            guild_id=guild_id,
            position=self.position,
            permission_overwrites=[],
            parent_id=self.parent_id,
            nsfw=False,
        )
        if self.type in (TEXT, PUBLIC_THREAD):
            data.update(topic=self.topic, last_message_id=None, rate_limit_per_user=0)
        if self.type == VOICE:
            data.update(bitrate=64000, user_limit=0, rtc_region=None, video_quality_mode=1)
        if self.type == PUBLIC_THREAD:
            data.update(owner_id=self.owner_id, message_count=0, member_count=1, total_message_sent=0)
            data["thread_metadata"] = {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": iso(now()),
                "locked": False,
            }
        return data


@dataclass
class VoiceState:
    channel_id: str
    self_mute: bool = False
    self_deaf: bool = False
    mute: bool = False
    deaf: bool = False
    session_id: str = field(default_factory=lambda: secrets.token_hex(16))


@dataclass
class Member:
    user: User
    roles: list[str] = field(default_factory=list)
    nick: str | None = None
    joined_at: datetime = field(default_factory=now)
    premium_since: datetime | None = None
    communication_disabled_until: datetime | None = None
    mute: bool = False
    deaf: bool = False
    status: str = "offline"  # online, idle, dnd or offline (what presences say)

    def presence(self, guild_id: str) -> dict[str, Any]:
        return {
            "user": {"id": self.user.id},
            "guild_id": guild_id,
            "status": self.status,
            "activities": [],
            "client_status": {} if self.status == "offline" else {"desktop": self.status},
        }

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": list(self.roles),
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": iso(self.joined_at),
            "premium_since": iso(self.premium_since),
            "deaf": self.deaf,
            "mute": self.mute,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": iso(self.communication_disabled_until),
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass
class Attachment:
    id: str
    filename: str
    data: bytes
    content_type: str | None = None

    def payload(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "filename": self.filename,
            "size": len(self.data),
            "url": f"{base_url}/attachments/{self.id}/{self.filename}",
            "proxy_url": f"{base_url}/attachments/{self.id}/{self.filename}",
            "content_type": self.content_type,
        }


@dataclass
class Message:
    id: str
    channel_id: str
    author: User
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    guild_id: str | None = None
    member: Member | None = None
    webhook_id: str | None = None
    type: int = 0
    interaction_id: str | None = None
    mentions: list[User] = field(default_factory=list)
    mention_roles: list[str] = field(default_factory=list)
    timestamp: datetime = field(default_factory=now)
    edited_timestamp: datetime | None = None
    deleted: bool = False

    EPHEMERAL = 1 << 6

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & self.EPHEMERAL)

    def payload(self, base_url: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "channel_id": self.channel_id,
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": iso(self.timestamp),
            "edited_timestamp": iso(self.edited_timestamp),
            "tts": False,
            "mention_everyone": False,
            "mentions": [u.payload() for u in self.mentions],
            "mention_roles": list(self.mention_roles),
            "attachments": [a.payload(base_url) for a in self.attachments],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": False,
            "flags": self.flags,
        }
        if self.guild_id:
            data["guild_id"] = self.guild_id
        if self.member is not None:
            data["member"] = self.member.payload(with_user=False)
        if self.webhook_id:
            data["webhook_id"] = self.webhook_id
        return data


@dataclass
class ScheduledEvent:
    id: str
    name: str
    scheduled_start_time: datetime
    creator_id: str
    description: str | None = None
    scheduled_end_time: datetime | None = None
    entity_type: int = 2  # voice
    channel_id: str | None = None
    location: str | None = None
    status: int = 1  # scheduled
    user_count: int = 0

    def payload(self, guild_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "guild_id": guild_id,
            "channel_id": self.channel_id,
            "creator_id": self.creator_id,
            "name": self.name,
            "description": self.description,
            "scheduled_start_time": iso(self.scheduled_start_time),
            "scheduled_end_time": iso(self.scheduled_end_time),
            "privacy_level": 2,
            "status": self.status,
            "entity_type": self.entity_type,
            "entity_id": None,
            "entity_metadata": {"location": self.location} if self.location else None,
            "user_count": self.user_count,
            "image": None,
        }
