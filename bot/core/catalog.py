"""The achievements catalog file (`achievements.toml`): entries in the guide's achievement columns,
requirements in the guide's JSON format (see bot.rules.achievements), validated entry by entry so a
mistake stops start-up naming the entry and the key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.core.community import Snowflake
from bot.rules import achievements as rules

Rarity = Literal["common", "uncommon", "rare", "epic", "legendary", "mythic"]
RARITIES: tuple[str, ...] = ("common", "uncommon", "rare", "epic", "legendary", "mythic")
Category = Literal["milestone", "special", "seasonal", "pathway", "community"]
Pathway = Literal["gaming", "lorebound", "productive", "news"]


class CatalogError(ValueError):
    """A catalog entry the bot refuses; the message names the file, the entry and the key."""


class CatalogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    pathway: Pathway | None = None
    category: Category | None = None
    rarity: Rarity = "common"
    icon: str | None = Field(default=None, max_length=64)
    color: str | None = Field(default=None, pattern=r"^#[0-9A-Fa-f]{6}$")
    xp: int = Field(default=0, ge=0, le=100_000)
    points: int = Field(default=10, ge=0, le=10_000)
    hidden: bool = False
    active: bool = True
    reward_role_id: Snowflake | None = None  # given through the outbox when earned
    requirements: dict[str, Any]

    @field_validator("requirements")
    @classmethod
    def _valid_rule(cls, value: dict[str, Any]) -> dict[str, Any]:
        rules.parse(value)  # RuleError is a ValueError: pydantic reports it under this key
        return value

    @property
    def rule(self) -> rules.Rule:
        return rules.parse(self.requirements)

    def row(self) -> dict[str, Any]:
        """The achievements row it becomes (the reward role stays in the bot's memory)."""
        return self.model_dump(exclude={"reward_role_id"})


def load_catalog(path: Path) -> list[CatalogEntry]:
    """Read and validate the catalog; CatalogError on the first entry at fault."""
    if not path.exists():
        raise CatalogError(f"{path}: the achievements catalog named in conclave.toml is not there")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - {"achievement"})
    if unknown:
        raise CatalogError(f"{path}: unknown key '{unknown[0]}' (entries are [[achievement]] tables)")
    entries: list[CatalogEntry] = []
    seen: set[str] = set()
    for index, item in enumerate(raw.get("achievement", []), start=1):
        label = f"achievement #{index}" + (f" '{item['id']}'" if isinstance(item.get("id"), str) else "")
        try:
            entry = CatalogEntry.model_validate(item)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            key = ".".join(str(p) for p in error["loc"]) or "(entry)"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "is not a catalog key"
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, rules.RuleError):
                key, message = cause.key, str(cause).removeprefix(f"{cause.key}: ")
            raise CatalogError(f"{path}: {label}: '{key}' {message}") from None
        if entry.id in seen:
            raise CatalogError(f"{path}: {label}: 'id' is used twice")
        seen.add(entry.id)
        entries.append(entry)
    return entries
