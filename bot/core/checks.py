"""Who may do what: staff checks for app commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.core.errors import NotAllowed

if TYPE_CHECKING:
    from bot.core.community import CommunityConfig


# What a role handed out automatically (rewards, ranks, pathways, the mute role) must never carry:
# the bot would be giving away the server's administration, or a moderator's powers over members
# (deleting their messages, pinging everyone, renaming or silencing them, reading the audit log).
ADMINISTRATIVE = discord.Permissions(
    administrator=True,
    manage_guild=True,
    manage_roles=True,
    manage_channels=True,
    ban_members=True,
    kick_members=True,
    moderate_members=True,
    manage_webhooks=True,
    manage_messages=True,
    mention_everyone=True,
    manage_nicknames=True,
    move_members=True,
    mute_members=True,
    deafen_members=True,
    view_audit_log=True,
)


def administrative(permissions: discord.Permissions | int) -> list[str]:
    """The administrative permissions among these (their discord.py names), none for a harmless role."""
    value = permissions.value if isinstance(permissions, discord.Permissions) else int(permissions)
    return [name for name, on in discord.Permissions(value & ADMINISTRATIVE.value) if on]


def above_actor(role: discord.Role, actor: discord.abc.User) -> str | None:
    """Why the actor could not hand this role out themselves in Discord (it is not strictly below
    their highest role, and they do not own the server), None when they could."""
    if not isinstance(actor, discord.Member) or actor.guild.owner_id == actor.id:
        return None if isinstance(actor, discord.Member) else "is not a role you can give."
    if role >= actor.top_role:
        return "is not below your highest role, so you could not give it yourself."
    return None


def is_staff(member: discord.Member | discord.User, community: CommunityConfig) -> bool:
    """Holds a configured staff role, or is a server administrator."""
    if not isinstance(member, discord.Member):
        return False
    staff = set(community.staff_role_ids)
    return member.guild_permissions.administrator or any(r.id in staff for r in member.roles)


# Staff commands are hidden from members who lack this (Discord's default_member_permissions);
# server admins can grant the commands to other roles under Integrations. The server-side check
# below decides either way.
STAFF_DEFAULT_PERMISSIONS = discord.Permissions(moderate_members=True)


def require_staff(interaction: discord.Interaction, what: str) -> None:
    """Staff of the home guild only; others get a clear refusal (raised)."""
    bot = interaction.client
    home = bot.config.community.guild_id  # type: ignore[attr-defined]
    if interaction.guild_id != home:
        raise NotAllowed("Staff commands work only in the community's own server.")
    if not is_staff(interaction.user, bot.config.community):  # type: ignore[attr-defined]
        raise NotAllowed(f"Only staff can {what}.")


def staff_only(what: str) -> Any:
    """An app-command check: staff of the home guild only; others get a clear refusal."""

    async def predicate(interaction: discord.Interaction) -> bool:
        require_staff(interaction, what)
        return True

    return app_commands.check(predicate)
