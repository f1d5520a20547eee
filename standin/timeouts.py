"""The stand-in's member timeouts, as Discord keeps them: `communication_disabled_until` set by the
bot (PATCH the member) or by hand (Discord's own menus), at most 28 days ahead (Modify Guild Member:
"up to 28 days in the future"), each change dispatched as GUILD_MEMBER_UPDATE and written to the
audit log as a MEMBER_UPDATE entry naming the change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from standin import state as s
from standin.audit import MEMBER_UPDATE, record_audit
from standin.limits import InvalidFormBody

if TYPE_CHECKING:
    from standin.server import StandIn

TIMEOUT_MAX = timedelta(days=28)
KEY = "communication_disabled_until"


def _refused(message: str) -> InvalidFormBody:
    # Discord names the field; its per-field code is undocumented (the stand-in says BASE_TYPE_BAD_TIME)
    return InvalidFormBody({KEY: {"_errors": [{"code": "BASE_TYPE_BAD_TIME", "message": message}]}})


def parse_until(value: object) -> datetime | None:
    """The body's `communication_disabled_until`: None (no timeout), or an ISO 8601 time at most
    28 days from now (a time already past ends the timeout, as in Discord)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _refused("Could not parse the value as an ISO8601 timestamp.")
    try:
        until = datetime.fromisoformat(value)
    except ValueError:
        raise _refused("Could not parse the value as an ISO8601 timestamp.") from None
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    if until > datetime.now(UTC) + TIMEOUT_MAX:
        raise _refused("Timeouts can be at most 28 days in the future.")
    return until


def apply_timeout(standin: StandIn, member: s.Member, until: datetime | None, *, by: str, reason: str | None) -> None:
    """Set (or clear, `until` None) a member's timeout, with its audit-log entry when the value
    changed (the caller dispatches GUILD_MEMBER_UPDATE, once for all the changes of one request)."""
    old = member.communication_disabled_until
    member.communication_disabled_until = until
    if old != until:
        values = {"old_value": s.iso(old), "new_value": s.iso(until)}
        change = {"key": KEY, **{k: v for k, v in values.items() if v is not None}}  # a null is left out
        record_audit(standin, by, member.user.id, MEMBER_UPDATE, reason, [change])
