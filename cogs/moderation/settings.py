"""/modconfig: staff change moderation settings in Discord. conclave.toml holds the defaults; a change
is kept in community_settings (so it survives restarts), validated exactly as the file is, applied
at once, and recorded in admin_logs with the previous and the new value."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands
from pydantic import ValidationError

from bot.core.checks import STAFF_DEFAULT_PERMISSIONS, above_actor, administrative, require_staff
from bot.core.community import ModerationConfig
from bot.core.config import ConfigError
from bot.core.errors import BadInput, NotAllowed
from bot.ui.echo import echo
from bot.ui.embeds import BRAND
from db import admin_logs
from db import settings as stored

if TYPE_CHECKING:
    from bot.core.client import ConclaveBot
    from cogs.moderation.automod import Automod

log = logging.getLogger(__name__)

PREFIX = "moderation."
# setting name -> (its place in [moderation], what a value looks like)
SETTINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "warn_points": (("warn_points",), "a warning's default points, 0-100"),
    "warn_points_days": (("warn_points_days",), "days a warning's points count, 1-3650"),
    "mute_role": (("mute_role_id",), "a role mention or id, or none"),
    "escalation": (("escalation",), "rungs like 3:timeout:1h, 5:timeout:1d, 8:ban (or none)"),
    "automod": (("automod", "enabled"), "on or off"),
    "automod_flood_messages": (("automod", "flood_messages"), "messages that count as a flood, 2-100"),
    "automod_flood_seconds": (("automod", "flood_seconds"), "within this many seconds, up to 300"),
    "automod_mass_mentions": (("automod", "mass_mentions"), "members mentioned in one message, 2-100"),
    "automod_timeout": (("automod", "timeout"), "the automod timeout, e.g. 10m"),
}


def parse_value(name: str, text: str) -> Any:
    """A typed value as the TOML file would hold it; pydantic checks it after."""
    text = text.strip()
    if name == "automod":
        if text.lower() not in ("on", "off", "true", "false"):
            raise BadInput("automod is on or off.")
        return text.lower() in ("on", "true")
    if name == "mute_role":
        if text.lower() == "none":
            return None
        digits = text.removeprefix("<@&").removesuffix(">")
        if not digits.isdigit():
            raise BadInput("mute_role is a role mention or id, or none.")
        return int(digits)
    if name == "escalation":
        if text.lower() == "none":
            return []
        rungs = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            points, _, rest = part.partition(":")
            action, _, duration = rest.partition(":")
            if not points.strip().isdigit() or not action.strip():
                raise BadInput(f"'{echo(part, 40)}' is not a rung: write points:action[:duration], e.g. 3:timeout:1h.")
            rung: dict[str, Any] = {"points": int(points), "action": action.strip()}
            if duration.strip():
                rung["duration"] = duration.strip()
            rungs.append(rung)
        return rungs
    if name in ("automod_timeout",):
        return text
    try:
        return float(text) if name == "automod_flood_seconds" else int(text)
    except ValueError:
        raise BadInput(f"{name} is a number ({SETTINGS[name][1]}).") from None


def _set_path(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _get_path(source: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        source = source[key]
    return source


def effective(base: dict[str, Any], overrides: dict[str, Any]) -> ModerationConfig:
    """conclave.toml's [moderation] with the staff's changes on top, validated as the file is."""
    merged = _deep_copy(base)
    for name, value in overrides.items():
        if name in SETTINGS:
            _set_path(merged, SETTINGS[name][0], value)
    return ModerationConfig.model_validate(merged)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _shown(name: str, value: Any) -> str:
    if value is None:
        return "none"
    if name == "mute_role":
        return f"<@&{value}>"
    if name == "automod":
        return "on" if value else "off"
    if name == "escalation":
        rungs = [f"{r['points']}:{r['action']}" + (f":{r['duration']}" if r.get("duration") else "") for r in value]
        return ", ".join(rungs) or "none"
    return str(value)


def _error_text(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}"


class ModConfig(commands.Cog):
    modconfig = app_commands.Group(
        name="modconfig",
        description="Staff: moderation settings (defaults from conclave.toml)",
        guild_only=True,
        default_permissions=STAFF_DEFAULT_PERMISSIONS,
    )

    def __init__(self, bot: ConclaveBot, automod: Automod) -> None:
        self.bot = bot
        self.automod = automod
        self.base = bot.config.community.moderation.model_dump(mode="json")

    async def cog_load(self) -> None:
        overrides = await stored.with_prefix(self.bot.pool, PREFIX)
        wanted = self.base.get("mute_role_id") is not None or overrides.get("mute_role") is not None
        powers = await self._mute_role_powers() if wanted else {}
        file_role = self.base.get("mute_role_id")
        if file_role is not None and int(file_role) in powers:
            name, granted = powers[int(file_role)]
            raise ConfigError(
                f"moderation.mute_role_id: role '{name}' ({file_role}) has administrative permissions "
                f"({', '.join(granted)}); a mute role must never carry them"
            )
        chosen = overrides.get("mute_role")
        if chosen is not None and int(chosen) in powers:
            # Edited in Discord since staff chose it: never handed out; the file's value is used.
            log.warning(
                "moderation.mute_role set with /modconfig (role %s) now has administrative permissions (%s); "
                "using conclave.toml's value until staff choose another",
                chosen,
                ", ".join(powers[int(chosen)][1]),
            )
            overrides.pop("mute_role")
        try:
            self._apply(effective(self.base, overrides))
        except ValidationError as error:
            # conclave.toml changed under a staff change so they no longer fit: the file wins.
            log.warning(
                "moderation settings changed with /modconfig no longer fit conclave.toml (%s); "
                "using conclave.toml alone until staff set them again",
                _error_text(error),
            )
        if overrides:
            log.info("moderation settings changed by staff: %s", ", ".join(sorted(overrides)))

    async def _mute_role_powers(self) -> dict[int, tuple[str, list[str]]]:
        """The server's roles that carry administrative permissions: (name, which), by id."""
        try:
            roles = await self.bot.http.get_roles(self.bot.guild_id)
        except discord.NotFound:
            return {}  # not in that server: the command sync says so, with the invite link
        found = {int(r["id"]): (r["name"], administrative(int(r["permissions"]))) for r in roles}
        return {role_id: entry for role_id, entry in found.items() if entry[1]}

    def _apply(self, settings: ModerationConfig) -> None:
        self.bot.config.community.moderation = settings
        self.automod.reconfigure()

    def _require_level(self, interaction: discord.Interaction) -> None:
        require_staff(interaction, "change moderation settings")
        actor = interaction.user
        assert isinstance(actor, discord.Member)
        allowed = self.bot.config.community.moderation.action_roles.get("modconfig")
        permitted = actor.guild_permissions.administrator or (
            any(actor.get_role(r) for r in allowed) if allowed else actor.guild_permissions.manage_guild
        )
        if not permitted:
            log.info("modconfig refused: %s (%s) lacks the level", actor, actor.id)
            who = "the roles in moderation.action_roles.modconfig" if allowed else "staff with Manage Server"
            raise NotAllowed(f"Only {who} can change moderation settings.")

    @modconfig.command(name="show", description="The moderation settings in force, and which staff changed")
    async def show(self, interaction: discord.Interaction) -> None:
        require_staff(interaction, "see moderation settings")
        overrides = await stored.with_prefix(self.bot.pool, PREFIX)
        current = self.bot.config.community.moderation.model_dump(mode="json")
        lines = []
        for name, (path, _) in SETTINGS.items():
            mark = " *(changed with /modconfig)*" if name in overrides else ""
            lines.append(f"`{name}`: {discord.utils.escape_markdown(_shown(name, _get_path(current, path)))}{mark}")
        embed = discord.Embed(title="Moderation settings", description="\n".join(lines), colour=BRAND)
        embed.set_footer(text="Change one with /modconfig set; /modconfig reset goes back to conclave.toml.")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @modconfig.command(name="set", description="Change a moderation setting (kept across restarts, logged)")
    @app_commands.describe(setting="which", value="the new value (see /modconfig show)", reason="why (logged)")
    @app_commands.choices(setting=[app_commands.Choice(name=n, value=n) for n in SETTINGS])
    async def set_(
        self,
        interaction: discord.Interaction,
        setting: str,
        value: app_commands.Range[str, 1, 500],
        reason: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        self._require_level(interaction)
        parsed = parse_value(setting, value)
        if setting == "mute_role" and parsed is not None:
            self._check_mute_role(parsed, interaction.user)
        await self._change(interaction, setting, parsed, reason, remove=False)

    @modconfig.command(name="reset", description="Put a moderation setting back to conclave.toml's value")
    @app_commands.describe(setting="which", reason="why (logged)")
    @app_commands.choices(setting=[app_commands.Choice(name=n, value=n) for n in SETTINGS])
    async def reset(
        self, interaction: discord.Interaction, setting: str, reason: app_commands.Range[str, 1, 500] | None = None
    ) -> None:
        self._require_level(interaction)
        await self._change(interaction, setting, None, reason, remove=True)

    def _check_mute_role(self, role_id: int, actor: discord.abc.User) -> None:
        """A mute role the bot may give, that makes nobody staff, that the actor could give themselves
        in Discord (strictly below their highest role, unless they own the server), and that carries
        no administrative permission."""
        guild = self.bot.home_guild
        role = guild.get_role(role_id) if guild is not None else None
        if role is None:
            raise BadInput("That role is not in this server.")
        if guild is not None and guild.me is not None and role >= guild.me.top_role:
            raise BadInput(f"{role.mention} is not below my highest role, so Discord won't let me give it.")
        if role.managed or role.is_default():
            raise BadInput(f"{role.mention} can't be given by a bot.")
        if role.id in self.bot.config.community.staff_role_ids:
            raise BadInput(f"{role.mention} is a staff role: a mute role must never be one.")
        if refusal := above_actor(role, actor):
            raise NotAllowed(f"{role.mention} {refusal}")
        if powers := administrative(role.permissions):
            raise BadInput(
                f"{role.mention} has administrative permissions ({', '.join(powers)}): "
                "a mute role must never carry them."
            )

    async def _change(
        self, interaction: discord.Interaction, setting: str, value: Any, reason: str | None, *, remove: bool
    ) -> None:
        path = SETTINGS[setting][0]
        actor_id = await self.bot.identity.user_id(interaction.user)
        key = PREFIX + setting
        async with self.bot.pool.acquire() as conn, conn.transaction():
            overrides = await stored.with_prefix(conn, PREFIX)
            before = self.bot.config.community.moderation.model_dump(mode="json")
            if remove:
                overrides.pop(setting, None)
            else:
                overrides[setting] = value
            try:
                settings = effective(self.base, overrides)
            except ValidationError as error:
                raise BadInput(f"Not a valid {setting}: {_error_text(error)}.") from None
            after = settings.model_dump(mode="json")
            if remove:
                existed, _ = await stored.remove(conn, key)
            else:
                existed, _ = await stored.put(conn, key, value)
            await admin_logs.log_admin_action(
                conn,
                admin_id=actor_id,
                action="modconfig_reset" if remove else "modconfig_set",
                target_type="setting",
                target_id=key,
                previous_value={"value": _get_path(before, path), "from": "staff" if existed else "conclave.toml"},
                new_value={"value": _get_path(after, path), "from": "conclave.toml" if remove else "staff"},
                reason=reason,
            )
        self._apply(settings)
        shown = _shown(setting, _get_path(after, path))
        log.info("%s (%s) set moderation.%s to %s", interaction.user, interaction.user.id, setting, shown)
        source = " (conclave.toml's value)" if remove else ""
        await interaction.response.send_message(
            f"`{setting}` is now {discord.utils.escape_markdown(shown)}{source}. "
            f"Was: {discord.utils.escape_markdown(_shown(setting, _get_path(before, path)))}.",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )
