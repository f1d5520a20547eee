"""The demo guild of the sandbox and of the end-to-end tests: pathways, staff, members, a voice channel."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.community import (
    DEFAULT_PATHWAY_NAMES,
    AnnouncementConfig,
    CommunityConfig,
    ModerationConfig,
    PathwayConfig,
)
from standin import state as s
from standin.control import Actor
from standin.server import StandIn


@dataclass
class DemoGuild:
    standin: StandIn
    general: s.Channel
    voice: s.Channel
    afk: s.Channel
    pathway_channels: dict[str, s.Channel] = field(default_factory=dict)
    pathway_roles: dict[str, s.Role] = field(default_factory=dict)
    staff_roles: list[s.Role] = field(default_factory=list)
    actors: dict[str, Actor] = field(default_factory=dict)

    def actor(self, name: str) -> Actor:
        if name not in self.actors:
            member = self.standin.member_named(name)
            self.actors[name] = Actor(self.standin, member, default_channel=self.general)
        return self.actors[name]

    def new_member(self, name: str, *, roles: list[s.Role] | None = None) -> Actor:
        member = self.standin.add_member(name, roles=roles)
        self.actors[name] = Actor(self.standin, member, default_channel=self.general)
        return self.actors[name]

    def furnish_for_sandbox(self) -> CommunityConfig:
        """What `python -m bot sandbox` adds so every command in the README can be tried: a
        moderation-log channel (modlog entries, appeals), a mute role, and mod as an administrator
        too (/erase, /modconfig set). Returns the matching conclave.toml."""
        standin = self.standin
        modlog = standin.add_channel("mod-log")
        muted = standin.add_role("Muted", position=5)
        admin = standin.guild.role_named("Admin")
        mod = self.actor("mod")
        mod.gain_role(admin)
        return self.community_config(
            announcements=AnnouncementConfig(
                general_channel_id=int(self.general.id), mod_log_channel_id=int(modlog.id)
            ),
            moderation=ModerationConfig(mute_role_id=int(muted.id)),
        )

    def community_config(self, **overrides: object) -> CommunityConfig:
        """The conclave.toml that matches this guild."""
        pathways = [
            PathwayConfig(
                id=pid,
                name=DEFAULT_PATHWAY_NAMES[pid],
                role_id=int(self.pathway_roles[pid].id),
                channel_ids=[int(self.pathway_channels[pid].id)],
            )
            for pid in DEFAULT_PATHWAY_NAMES
        ]
        values: dict[str, object] = {
            "guild_id": int(self.standin.guild.id),
            "pathways": pathways,
            "staff_role_ids": [int(r.id) for r in self.staff_roles],
            "announcements": AnnouncementConfig(general_channel_id=int(self.general.id)),
            "activity_flush_seconds": 1.0,  # the demo shows counts promptly
        }
        values.update(overrides)
        return CommunityConfig(**values)


def build_demo_guild(standin: StandIn) -> DemoGuild:
    general = standin.add_channel("general")
    standin.guild.system_channel_id = general.id
    voice_category = standin.add_channel("Voice", type=s.CATEGORY)
    voice = standin.add_channel("Lounge", type=s.VOICE, parent=voice_category)
    afk = standin.add_channel("AFK", type=s.VOICE, parent=voice_category)
    standin.guild.afk_channel_id = afk.id
    demo = DemoGuild(standin=standin, general=general, voice=voice, afk=afk)
    pathways_category = standin.add_channel("Pathways", type=s.CATEGORY)
    for pid, name in DEFAULT_PATHWAY_NAMES.items():
        demo.pathway_channels[pid] = standin.add_channel(f"{pid}-chat", parent=pathways_category)
        demo.pathway_roles[pid] = standin.add_role(name, position=2)
    moderator = standin.add_role(
        "Moderator",
        permissions=s.KICK_MEMBERS | s.BAN_MEMBERS | s.MODERATE_MEMBERS | s.MANAGE_MESSAGES,
        position=10,
    )
    admin = standin.add_role("Admin", permissions=s.ADMINISTRATOR, position=20)
    demo.staff_roles = [moderator, admin]
    standin.guild.premium_subscription_count = 3
    standin.guild.premium_tier = 1
    for name in ("alice", "bob", "carol"):
        demo.new_member(name)
    standin.guild.members[demo.actor("carol").id].premium_since = s.now()
    demo.new_member("mod", roles=[moderator])
    return demo
