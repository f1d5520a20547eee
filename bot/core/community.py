"""What `conclave.toml` holds: the community's set-up, section by section ([xp], [announcements],
[moderation], [events], [achievements], [stats], the pathways), each validated so that no setting can
produce a row the database refuses. Loading it (and the environment's settings) is bot/core/config.py."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from bot.rules.moderation import DurationError, parse_duration

PATHWAY_IDS = ("gaming", "lorebound", "productive", "news")
PathwayId = Literal["gaming", "lorebound", "productive", "news"]

# The six staff roles the community's database guide lists (Owner, Board, Head Admin, Admin,
# Head Mod, Moderator).
DEFAULT_STAFF_ROLE_IDS = (
    1369566988128751750,
    1369197369161154560,
    1396459118025375784,
    1370702703616856074,
    1409148504026120293,
    1408079849377107989,
)

DEFAULT_PATHWAY_NAMES = {
    "gaming": "Gaming Realm",
    "lorebound": "Lorebound Realm",
    "productive": "Productive Palace",
    "news": "News Nexus",
}

DEFAULT_RANK_TITLES = {
    1: "Initiate",
    5: "Apprentice",
    10: "Journeyman",
    20: "Expert",
    35: "Master",
    50: "Grand Master",
}


# A Discord id: a positive 64-bit snowflake (what the schema's TEXT ids and Discord both accept).
Snowflake = Annotated[int, Field(gt=0, lt=2**63)]
# What conclave.example.toml carries in place of a real server id.
GUILD_ID_PLACEHOLDER = 0
GUILD_ID_HELP = (
    "put your server's id there: in Discord, turn on Developer Mode (User Settings > Advanced), "
    "then right-click the server's icon > Copy Server ID"
)
LEVEL_UP_PLACEHOLDERS = ("member", "level", "pathway", "rank")
DISCORD_MESSAGE_LIMIT = 2000


def check_template(template: str, known: tuple[str, ...]) -> str:
    """A str.format template that names only `known` placeholders (no attribute or index access)."""
    try:
        fields = [f for _, f, spec, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ValueError(f"is not a valid template ({exc}); write a literal brace as {{{{ or }}}}") from None
    allowed = ", ".join("{" + k + "}" for k in known)
    for field in fields:
        if field not in known:
            raise ValueError(f"uses the unknown placeholder {{{field}}}; the known ones are {allowed}")
    return template


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PathwayConfig(_Section):
    id: PathwayId
    name: str = Field(min_length=1)
    role_id: Snowflake | None = None
    channel_ids: list[Snowflake] = Field(default_factory=list)
    category_ids: list[Snowflake] = Field(default_factory=list)
    # Optional: a Discord role per rank title (e.g. {"Apprentice" = 123}); the member holds only the current one.
    rank_role_ids: dict[str, Snowflake] = Field(default_factory=dict)


class RoleReward(_Section):
    level: int = Field(ge=2, le=10_000)
    role_id: Snowflake
    pathway: PathwayId | None = None  # None: a reward for the global level


class XPConfig(_Section):
    # XP amounts: at least 1, or 0 meaning the source is off (the ledger refuses a 0-XP row). The
    # upper bounds keep a grant, and a day of them, far inside the schema's INTEGER columns.
    message_min: int = Field(default=15, ge=0, le=10_000)
    message_max: int = Field(default=25, ge=0, le=10_000)
    cooldown_seconds: float = Field(default=60, ge=0, le=86_400)
    min_message_length: int = Field(default=3, ge=0, le=DISCORD_MESSAGE_LIMIT)
    voice_per_minute: int = Field(default=10, ge=0, le=10_000)
    no_xp_channel_ids: list[Snowflake] = Field(default_factory=list)
    no_xp_role_ids: list[Snowflake] = Field(default_factory=list)
    timezone: str = "UTC"
    flush_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    rank_titles: dict[Annotated[int, Field(ge=1, le=10_000)], Annotated[str, Field(min_length=1, max_length=100)]] = (
        Field(default_factory=lambda: dict(DEFAULT_RANK_TITLES))
    )
    role_rewards: list[RoleReward] = Field(default_factory=list)
    reward_mode: Literal["stack", "replace"] = "stack"
    rejoin_exclude_role_ids: list[Snowflake] = Field(default_factory=list)

    @model_validator(mode="after")
    def _range(self) -> XPConfig:
        if self.message_min == 0 and self.message_max != 0:
            raise ValueError(
                f"message_min must be at least 1 (0 grants nothing and the ledger refuses it); "
                f"set message_min = message_max = 0 to turn chat XP off (message_max is {self.message_max})"
            )
        if self.message_max < self.message_min:
            raise ValueError(f"message_max ({self.message_max}) must be at least message_min ({self.message_min})")
        if 1 not in self.rank_titles:
            raise ValueError("rank_titles must have a title for level 1")
        return self

    @property
    def chat_xp_on(self) -> bool:
        return self.message_max > 0

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as 'Europe/Paris')") from None
        return value


class AnnouncementConfig(_Section):
    level_up: Literal["same", "channel", "dm", "off"] = "same"
    level_up_channel_id: Snowflake | None = None
    # Rendered, it must fit a Discord message: the placeholders add at most a mention, a pathway name and a title.
    level_up_template: str = Field(
        default="{member} reached level {level}{pathway}! Rank: {rank}", min_length=1, max_length=1_500
    )
    general_channel_id: Snowflake | None = None
    mod_log_channel_id: Snowflake | None = None

    @field_validator("level_up_template")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        return check_template(value, LEVEL_UP_PLACEHOLDERS)

    @model_validator(mode="after")
    def _channel_given(self) -> AnnouncementConfig:
        if self.level_up == "channel" and self.level_up_channel_id is None:
            raise ValueError("level_up = 'channel' needs level_up_channel_id (the channel to announce in)")
        return self


class EscalationRung(_Section):
    points: int = Field(ge=1, le=1000)
    action: Literal["timeout", "mute", "kick", "ban"]
    duration: str | None = None  # e.g. "1h", "7d" (none: permanent, for mute and ban)

    @model_validator(mode="after")
    def _valid_duration(self) -> EscalationRung:
        if self.duration is not None:
            try:
                parse_duration(self.duration)
            except DurationError as error:
                raise ValueError(str(error)) from None
        if self.action == "timeout" and self.duration is None:
            raise ValueError("a timeout rung needs a duration (at most 28 days)")
        return self


ModAction = Literal[
    "warn",
    "note",
    "timeout",
    "untimeout",
    "mute",
    "unmute",
    "kick",
    "ban",
    "unban",
    "purge",
    "case",
    "appeal",
    "modconfig",
]
ReasonPreset = Annotated[str, Field(min_length=1, max_length=100)]


class AutomodConfig(_Section):
    """Light automod, off by default: a flood or a mass mention times the member out (a case by the bot)."""

    enabled: bool = False
    flood_messages: int = Field(default=6, ge=2, le=100)  # this many messages ...
    flood_seconds: float = Field(default=5.0, gt=0, le=300)  # ... within this many seconds
    mass_mentions: int = Field(default=5, ge=2, le=100)  # this many members mentioned in one message
    timeout: str = "10m"

    @field_validator("timeout")
    @classmethod
    def _timeout_duration(cls, value: str) -> str:
        try:
            if parse_duration(value) is None:
                raise ValueError("an automod timeout needs a duration (at most 28 days), not 'permanent'")
        except DurationError as error:
            raise ValueError(str(error)) from None
        return value


class ModerationConfig(_Section):
    # The role /mod mute gives (it should deny Send Messages and Speak in every channel); the bot
    # gives it back at once to a muted member who leaves and rejoins.
    mute_role_id: Snowflake | None = None
    warn_points: int = Field(default=1, ge=0, le=100)  # a warning's points unless the moderator says
    warn_points_days: int = Field(default=30, ge=1, le=3650)  # how long a warning's points count
    # Applied once when a member's active points reach a rung (the heaviest rung a warning crosses).
    escalation: list[EscalationRung] = Field(default_factory=list)
    automod: AutomodConfig = Field(default_factory=AutomodConfig)
    # Which staff may use which action: an action listed here is only for holders of these roles
    # (and administrators); an action not listed is for all staff. E.g. ban = [<Admin role id>].
    action_roles: dict[ModAction, list[Snowflake]] = Field(default_factory=dict)
    # Reasons offered as you type a reason (with the server's most used recent ones).
    reasons: list[ReasonPreset] = Field(default_factory=list, max_length=25)

    @field_validator("escalation")
    @classmethod
    def _distinct_rungs(cls, value: list[EscalationRung]) -> list[EscalationRung]:
        points = [r.points for r in value]
        if len(set(points)) != len(points):
            raise ValueError("each escalation rung needs its own number of points")
        return sorted(value, key=lambda r: r.points)


class EventsConfig(_Section):
    """[events]: where events are announced, who hosts, when registrants are reminded."""

    channel_id: Snowflake | None = None  # announcements with Register / Leave (default: general_channel_id)
    host_role_ids: list[Snowflake] = Field(default_factory=list)  # besides staff, these may host
    reminders: list[str] = Field(default_factory=lambda: ["24h", "15m"], max_length=5)  # before the start
    default_length: str = "2h"  # an event without an end is completed this long after its start
    attend_minutes: int = Field(default=10, ge=1, le=600)  # in the event's voice channel to count as attended

    @field_validator("reminders")
    @classmethod
    def _durations(cls, value: list[str]) -> list[str]:
        for text in value:
            try:
                if parse_duration(text) is None:
                    raise ValueError("a reminder is a time before the start, e.g. 24h or 15m, not 'permanent'")
            except DurationError as error:
                raise ValueError(str(error)) from None
        return value

    @field_validator("default_length")
    @classmethod
    def _length(cls, value: str) -> str:
        try:
            if parse_duration(value) is None:
                raise ValueError("an event's default length is a duration, e.g. 2h")
        except DurationError as error:
            raise ValueError(str(error)) from None
        return value


class AchievementsConfig(_Section):
    """[achievements]: the catalog file synced at start-up, and where unlocks are announced."""

    catalog: Path | None = None  # e.g. "achievements.toml", relative to conclave.toml
    announce_channel_id: Snowflake | None = None  # default: announcements.general_channel_id
    _entries: list[Any] = PrivateAttr(default_factory=list)

    @property
    def entries(self) -> list[Any]:
        """The catalog's entries (bot.core.catalog.CatalogEntry), read when the file was loaded."""
        return self._entries


class StatsConfig(_Section):
    """[stats]: how often server_stats is refreshed, what is kept how long, the optional metrics endpoint."""

    refresh_minutes: int = Field(default=5, ge=1, le=1440)  # server_stats and today's daily row
    analytics_retention_days: int = Field(default=365, ge=0, le=36_500)  # 0: analytics kept for ever
    outbox_retention_days: int = Field(default=30, ge=1, le=3650)  # delivered outbox rows
    pathway_cache_minutes: int = Field(default=15, ge=1, le=1440)  # pathway_stats_cache refresh
    metrics_port: int = Field(default=0, ge=0, le=65_535)  # Prometheus endpoint; 0: off
    metrics_host: str = "127.0.0.1"


def _default_pathways() -> list[PathwayConfig]:
    return [PathwayConfig(id=p, name=n) for p, n in DEFAULT_PATHWAY_NAMES.items()]


class CommunityConfig(_Section):
    """What `conclave.toml` holds: the community's set-up."""

    guild_id: int | None = None
    data_dir: Path = Path(".conclave")
    staff_role_ids: list[Snowflake] = Field(default_factory=lambda: list(DEFAULT_STAFF_ROLE_IDS))
    pathways: list[PathwayConfig] = Field(default_factory=_default_pathways)
    xp: XPConfig = Field(default_factory=XPConfig)
    announcements: AnnouncementConfig = Field(default_factory=AnnouncementConfig)
    moderation: ModerationConfig = Field(default_factory=ModerationConfig)
    achievements: AchievementsConfig = Field(default_factory=AchievementsConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    stats: StatsConfig = Field(default_factory=StatsConfig)
    cogs: list[str] = Field(
        default_factory=lambda: [
            "cogs.core",
            "cogs.xp",
            "cogs.moderation",
            "cogs.achievements",
            "cogs.events",
            "cogs.stats",
        ]
    )
    # Message counts and last activity (not XP) are written this often; XP every xp.flush_interval_seconds.
    activity_flush_seconds: float = Field(default=5.0, gt=0, le=300)
    sync_commands_globally: bool = False
    presences_intent: bool = False

    @field_validator("guild_id")
    @classmethod
    def _real_guild(cls, value: int | None) -> int | None:
        if value == GUILD_ID_PLACEHOLDER:
            raise ValueError(f"is the example's placeholder, not a server id; {GUILD_ID_HELP}")
        if value is not None and not 0 < value < 2**63:
            raise ValueError(f"is not a Discord server id (a positive number); {GUILD_ID_HELP}")
        return value

    @field_validator("pathways")
    @classmethod
    def _distinct_pathways(cls, value: list[PathwayConfig]) -> list[PathwayConfig]:
        ids = [p.id for p in value]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"pathway ids must be distinct; repeated: {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _mute_role_makes_nobody_staff(self) -> CommunityConfig:
        if self.moderation.mute_role_id is not None and self.moderation.mute_role_id in self.staff_role_ids:
            raise ValueError("moderation.mute_role_id is one of staff_role_ids: a muted member would become staff")
        return self

    def pathway(self, pathway_id: str) -> PathwayConfig | None:
        return next((p for p in self.pathways if p.id == pathway_id), None)

    def managed_role_ids(self) -> frozenset[int]:
        """The roles the bot hands out or takes away: level rewards, rank titles, pathway roles, the
        mute role, achievement reward roles (from the catalog)."""
        roles = {r.role_id for r in self.xp.role_rewards}
        roles.update(e.reward_role_id for e in self.achievements.entries if e.reward_role_id)
        if self.moderation.mute_role_id is not None:
            roles.add(self.moderation.mute_role_id)
        for p in self.pathways:
            roles.update(p.rank_role_ids.values())
            if p.role_id is not None:
                roles.add(p.role_id)
        return frozenset(roles)
