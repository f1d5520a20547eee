"""The stand-in's audit log, as Discord keeps it: who did what to whom, why, and (for a member's
update) which values changed, newest readable first through bans.audit_logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from standin.server import StandIn

# Audit log action types (https://discord.com/developers/docs/resources/audit-log#audit-log-entry-object).
MEMBER_KICK, MEMBER_BAN_ADD, MEMBER_BAN_REMOVE, MEMBER_UPDATE = 20, 22, 23, 24
REASON_MAX = 512  # X-Audit-Log-Reason


@dataclass
class AuditEntry:
    id: str
    user_id: str | None  # who acted
    target_id: str | None
    action_type: int
    reason: str | None = None
    changes: list[dict[str, Any]] | None = None  # [{"key", "old_value", "new_value"}] (a member's update)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "user_id": self.user_id,
            "target_id": self.target_id,
            "action_type": self.action_type,
        }
        if self.reason:
            data["reason"] = self.reason
        if self.changes:
            data["changes"] = self.changes
        return data


def record_audit(
    standin: StandIn,
    actor_id: str,
    target_id: str,
    action_type: int,
    reason: str | None,
    changes: list[dict[str, Any]] | None = None,
) -> None:
    standin.guild.audit_log.append(
        AuditEntry(
            standin.ids.next(), actor_id, target_id, action_type, (reason or None) and reason[:REASON_MAX], changes
        )
    )
