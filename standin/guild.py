"""The stand-in's guild: its roles, channels, members, bans, voice states and scheduled events, the
permission and hierarchy rules Discord applies, and the GUILD_CREATE payload it sends."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from standin.state import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    PUBLIC_THREAD,
    Channel,
    Member,
    Role,
    ScheduledEvent,
    VoiceState,
    iso,
)

if TYPE_CHECKING:
    from standin.audit import AuditEntry


@dataclass
class Guild:
    id: str
    name: str
    owner_id: str
    roles: dict[str, Role] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    bans: dict[str, str | None] = field(default_factory=dict)  # user id -> reason
    audit_log: list[AuditEntry] = field(default_factory=list)  # oldest first (audit.py)
    voice_states: dict[str, VoiceState] = field(default_factory=dict)
    scheduled_events: dict[str, ScheduledEvent] = field(default_factory=dict)
    afk_channel_id: str | None = None
    premium_tier: int = 0
    premium_subscription_count: int = 0
    system_channel_id: str | None = None

    def role_named(self, name: str) -> Role:
        for role in self.roles.values():
            if role.name == name:
                return role
        raise LookupError(f"no role named {name!r}")

    def channel_named(self, name: str) -> Channel:
        name = name.lstrip("#")
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise LookupError(f"no channel named {name!r}")

    def permissions_of(self, member: Member) -> int:
        if member.user.id == self.owner_id:
            return ALL_PERMISSIONS
        perms = self.roles[self.id].permissions
        for role_id in member.roles:
            role = self.roles.get(role_id)
            if role:
                perms |= role.permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def top_position(self, member: Member) -> int:
        if member.user.id == self.owner_id:
            return 1 << 30
        return max((self.roles[r].position for r in member.roles if r in self.roles), default=0)

    def voice_state_payload(self, user_id: str, state: VoiceState | None) -> dict[str, Any]:
        member = self.members.get(user_id)
        return {
            "guild_id": self.id,
            "channel_id": state.channel_id if state else None,
            "user_id": user_id,
            "member": member.payload() if member else None,
            "session_id": state.session_id if state else secrets.token_hex(16),
            "deaf": state.deaf if state else False,
            "mute": state.mute if state else False,
            "self_deaf": state.self_deaf if state else False,
            "self_mute": state.self_mute if state else False,
            "self_stream": False,
            "self_video": False,
            "suppress": False,
            "request_to_speak_timestamp": None,
        }

    def create_payload(self, base_url: str, *, joined_at: datetime) -> dict[str, Any]:
        """The GUILD_CREATE payload (with every member, so discord.py needs no chunking)."""
        return {
            "id": self.id,
            "name": self.name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": self.owner_id,
            "afk_channel_id": self.afk_channel_id,
            "afk_timeout": 300,
            "widget_enabled": False,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": ["COMMUNITY"],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": self.system_channel_id,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": self.premium_tier,
            "premium_subscription_count": self.premium_subscription_count,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "safety_alerts_channel_id": None,
            "joined_at": iso(joined_at),
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "voice_states": [
                {k: v for k, v in self.voice_state_payload(uid, vs).items() if k != "guild_id"}
                for uid, vs in self.voice_states.items()
            ],
            "members": [m.payload() for m in self.members.values()],
            "channels": [c.payload(self.id) for c in self.channels.values() if c.type != PUBLIC_THREAD],
            "threads": [c.payload(self.id) for c in self.channels.values() if c.type == PUBLIC_THREAD],
            # Discord lists the members who are not offline (with the presences intent only).
            "presences": [
                {k: v for k, v in m.presence(self.id).items() if k != "guild_id"}
                for m in self.members.values()
                if m.status != "offline"
            ],
            "stage_instances": [],
            "guild_scheduled_events": [e.payload(self.id) for e in self.scheduled_events.values()],
            "soundboard_sounds": [],
        }
