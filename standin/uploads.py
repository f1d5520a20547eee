"""Discord's limits on files, as it applies them: a bot's request carries at most 10 MiB of files in
all (50 MiB in a server at boost tier 2, 100 MiB at tier 3; DMs have no boosts), else 413 `40005
Request entity too large`; a message has at most 10 attachments, else 400 `30015`; and a member's
own upload is limited by their Nitro (`premium_type`: none 10 MiB, Nitro Classic and Basic 50 MiB,
Nitro 500 MiB) or by the server's boosts, whichever is more generous (Discord's client refuses the
file before sending it).

Sources: discord/discord-api-docs reference ("Uploading Files": the limit applies to the entire
request, not individual files, and depends on the guild's boost tier), topics/opcodes-and-status-codes
(30015, 40005), resources/user (premium types)."""

from __future__ import annotations

from typing import Any

MIB = 1024 * 1024
BOT_UPLOAD_MAX = 10 * MIB  # and in DMs, whatever the server
BOOST_UPLOAD_MAX = {0: 10 * MIB, 1: 10 * MIB, 2: 50 * MIB, 3: 100 * MIB}  # guild premium_tier
PREMIUM_UPLOAD_MAX = {0: 10 * MIB, 1: 50 * MIB, 2: 500 * MIB, 3: 50 * MIB}  # none, Classic, Nitro, Basic
ATTACHMENTS_MAX = 10


class UploadRefused(Exception):
    """A request's files that Discord refuses, with its status, JSON error code and message."""

    status, code, message = 400, 0, ""

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


class RequestEntityTooLarge(UploadRefused):
    """Files together past the limit: 413, code 40005."""

    status, code, message = 413, 40005, "Request entity too large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size:,} bytes of files, over {limit:,}")
        self.size, self.limit = size, limit


class TooManyAttachments(UploadRefused):
    """More than 10 files on one message: 400, code 30015 (Discord's JSON error codes)."""

    status, code, message = 400, 30015, f"Maximum number of attachments in a message reached ({ATTACHMENTS_MAX})"

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} attachments, over {ATTACHMENTS_MAX}")


def bot_limit(premium_tier: int | None) -> int:
    """A bot's upload limit in a server of this boost tier, or in a DM (None)."""
    if premium_tier is None:
        return BOT_UPLOAD_MAX
    return max(BOT_UPLOAD_MAX, BOOST_UPLOAD_MAX.get(premium_tier, BOT_UPLOAD_MAX))


def member_limit(premium_type: int, premium_tier: int | None) -> int:
    """A member's upload limit: their Nitro's, or the server's boosts', whichever is larger."""
    return max(PREMIUM_UPLOAD_MAX.get(premium_type, PREMIUM_UPLOAD_MAX[0]), bot_limit(premium_tier))


def check_request(sizes: list[int], attachments: Any, limit: int) -> None:
    """A request's files: at most 10 (files or `attachments` entries), and their bytes together
    within `limit`."""
    count = max(len(sizes), len(attachments) if isinstance(attachments, list) else 0)
    if count > ATTACHMENTS_MAX:
        raise TooManyAttachments(count)
    if sum(sizes) > limit:
        raise RequestEntityTooLarge(sum(sizes), limit)
