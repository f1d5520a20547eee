"""The sandbox's side of a form (a Discord modal): its fields by label, answers given by label
(`title="Game night"`), the checks Discord's client makes before it lets a form be sent, and
relative dates ("tomorrow 20:00") written out as the bot expects them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from standin.control import InvalidInvocation, plain_label

RELATIVE_DAY = re.compile(r"^(?:(?P<word>today|tomorrow)|in (?P<days>\d{1,3}) days?) (?P<time>\d{1,2}:\d{2})$", re.I)


@dataclass(frozen=True)
class Field:
    custom_id: str
    label: str
    required: bool
    min_length: int
    max_length: int
    placeholder: str

    @property
    def key(self) -> str:
        """What a person types for it: the first word of its label ("Start (UTC), e.g. …" is start)."""
        words = plain_label(self.label).split()
        return words[0] if words else self.custom_id

    def describe(self) -> str:
        need = "required" if self.required else "optional"
        hint = f", e.g. {self.placeholder}" if self.placeholder and "e.g." not in self.label else ""
        return f"{self.key}: {self.label} ({need}, up to {self.max_length:,} characters{hint})"


def fields_of(modal: dict[str, Any]) -> list[Field]:
    found = []
    for row in modal.get("components", []):
        if row.get("type") == 18:  # a label wrapping one component
            inners = [(row["component"], row.get("label"))]
        else:
            inners = [(c, c.get("label")) for c in row.get("components", [])]
        for inner, label in inners:
            found.append(
                Field(
                    custom_id=inner["custom_id"],
                    label=label or inner.get("label") or inner["custom_id"],
                    required=inner.get("required", True),
                    min_length=inner.get("min_length", 0),
                    max_length=inner.get("max_length", 4000),
                    placeholder=inner.get("placeholder") or "",
                )
            )
    return found


def field_named(fields: list[Field], name: str) -> Field:
    """The field `name` stands for: its key, its custom id, or the start of its label."""
    wanted = plain_label(name)
    for field in fields:
        if name == field.custom_id or wanted == field.key:
            return field
    starts = [f for f in fields if wanted and plain_label(f.label).startswith(wanted)]
    if len(starts) == 1:
        return starts[0]
    keys = ", ".join(f.key for f in fields)
    raise InvalidInvocation(f"the form has no field {name!r}; its fields are {keys}")


def with_dates(text: str, timezone: str, now: datetime | None = None) -> str:
    """'tomorrow 20:00', 'today 18:30', 'in 3 days 20:00' as '2026-12-03 20:00' in `timezone`;
    anything else as it is."""
    match = RELATIVE_DAY.match(text.strip())
    if match is None:
        return text
    today = (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date()
    days = int(match["days"]) if match["days"] else (1 if match["word"].lower() == "tomorrow" else 0)
    hours, minutes = (int(p) for p in match["time"].split(":"))
    return f"{today + timedelta(days=days):%Y-%m-%d} {hours:02d}:{minutes:02d}"


def answers_for(fields: list[Field], given: dict[str, str], timezone: str) -> dict[str, str]:
    """The values by custom id, checked as Discord's client checks a form before sending it."""
    values: dict[str, str] = {}
    for name, value in given.items():
        values[field_named(fields, name).custom_id] = with_dates(value, timezone)
    for field in fields:
        value = values.get(field.custom_id, "")
        if field.required and not value:
            raise InvalidInvocation(f"the form needs {field.key} (its field '{field.label}' is required)")
        if value and not field.min_length <= len(value) <= field.max_length:
            raise InvalidInvocation(
                f"{field.key}: {len(value):,} characters, the field takes {field.min_length}-{field.max_length:,}"
            )
    return values
