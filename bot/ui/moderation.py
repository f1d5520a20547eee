"""Moderation's embeds: the modlog entry, one case, a member's history. Reasons are shown as typed,
never able to ping anyone (mentions are sent with no allowed mentions) or break the layout."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, timedelta
from typing import Any

import discord

from bot.rules.moderation import format_duration
from db.moderation import Case, Revision

PAST_TENSE = {
    "warn": "Warned",
    "note": "Note on",
    "timeout": "Timed out",
    "untimeout": "Timeout lifted for",
    "mute": "Muted",
    "unmute": "Unmuted",
    "kick": "Kicked",
    "ban": "Banned",
    "unban": "Unbanned",
    "purge": "Purged messages of",
}
COLOURS = {"warn": 0xF1C40F, "note": 0x95A5A6, "kick": 0xE67E22, "ban": 0xC0392B, "timeout": 0xE67E22, "mute": 0xE67E22}
REASON_SHOWN = 1000  # in a field (1,024 characters at most); whole reasons go in a description
DESCRIPTION_MAX = 4096  # Discord's limit for an embed's description (reasons are kept up to 4,000)
FIELD_MAX = 1024  # an embed field's value
EMBED_TOTAL_MAX = 6000  # title, description, field names and values, footer and author together
REVISIONS_SHOWN = 8  # the newest, in /mod case show; every one in the attached file when any is left out


def _clip(text: str | None, limit: int = REASON_SHOWN) -> str:
    text = text or "(no reason given)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def whole(text: str | None, room: int) -> str:
    """`text` as typed, markdown escaped when that still fits in `room` (escaping can double it);
    otherwise as typed (every character shown; markdown in it renders). Never cut without saying so."""
    text = text or "(no reason given)"
    escaped = discord.utils.escape_markdown(text)
    if len(escaped) <= room:
        return escaped
    if len(text) <= room:
        return text
    keep = room - 60  # room for the marker
    return text[:keep] + f"… ({len(text) - keep:,} more characters in the case)"


UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def duration_words(duration: timedelta) -> str:
    """A duration as a person says it: "10 minutes", "1 hour and 30 minutes", "7 days"."""
    seconds = int(duration.total_seconds())
    parts = []
    for name, size in UNITS:
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    if not parts:
        return "less than a second"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def notice_title(kind: str, server: str, duration: timedelta | None) -> str:
    """What the member is told happened, in a sentence."""
    length = f" for {duration_words(duration)}" if duration is not None else ""
    return {
        "warn": f"You were warned in {server}",
        "timeout": f"You were timed out in {server}{length}",
        "untimeout": f"Your timeout in {server} was lifted",
        "mute": f"You were muted in {server}{length or ' until a moderator unmutes you'}",
        "unmute": f"You were unmuted in {server}",
        "kick": f"You were kicked from {server}",
        "ban": f"You were banned from {server}{length or ' permanently'}",
        "unban": f"You were unbanned from {server}",
        "purge": f"A moderator deleted some of your messages in {server}",
    }.get(kind, f"A moderator acted on your account in {server}")


def notice_embed(
    kind: str, *, server: str, case_number: int, reason: str | None, duration: timedelta | None, appealable: bool
) -> discord.Embed:
    """The DM telling a member of a case about them, with the reason whole."""
    head = f"Case #{case_number}. The reason given:\n"
    embed = discord.Embed(
        title=notice_title(kind, server, duration)[:256],
        description=head + whole(reason, DESCRIPTION_MAX - len(head)),
        colour=COLOURS.get(kind, 0xE67E22),
    )
    if appealable:
        embed.set_footer(text="If you think this is wrong, press Appeal below (once per case).")
    return embed


def case_embed(case: Case, *, target: str, moderator: str, duration: str | None = None) -> discord.Embed:
    """One case as the modlog channel and /mod case show present it."""
    verb = PAST_TENSE.get(case.action, case.action)
    head = "**Reason**\n"
    embed = discord.Embed(
        title=f"Case #{case.number}: {verb} {discord.utils.escape_markdown(target)}",
        colour=COLOURS.get(case.action, 0x3498DB),
        timestamp=case.created_at,
        description=head + whole(case.reason, DESCRIPTION_MAX - len(head)),  # whole: up to 4,000 as typed
    )
    embed.add_field(name="Moderator", value=discord.utils.escape_markdown(moderator))
    if duration:
        embed.add_field(name="Duration", value=duration)
    meta = case.metadata
    if meta.get("expires_at"):
        embed.add_field(
            name="Expires", value=discord.utils.format_dt(discord.utils.parse_time(meta["expires_at"]), "R")
        )
    if case.action == "purge":
        where = f" in <#{meta['channel_id']}>" if meta.get("channel_id") else ""
        embed.add_field(name="Messages", value=f"{meta.get('messages', 0)} deleted{where}")
        if meta.get("reverse_xp"):
            embed.add_field(
                name="XP taken back",
                value=f"{meta.get('xp_reversed', 0):,} XP from {meta.get('messages_reversed', 0)} message(s)",
            )
    if "dm_sent" in meta:
        embed.add_field(name="DM", value="delivered" if meta["dm_sent"] else "not delivered")
    if meta.get("action_failed"):  # Discord refused the action: nothing of it is in force
        refused = _clip(discord.utils.escape_markdown(str(meta["action_failed"])), 300)
        embed.add_field(name="Not done", value=f"Discord refused it: {refused}", inline=False)
    if meta.get("capped"):
        embed.set_footer(text="Discord allows timeouts of at most 28 days: capped.")
    return embed


def history_embed(target: str, cases: Sequence[Case], *, points: int, first_page: bool) -> discord.Embed:
    embed = discord.Embed(title=f"Moderation history of {discord.utils.escape_markdown(target)}", colour=0x3498DB)
    header = f"Active warning points: **{points}**"
    if not cases:
        embed.description = f"{header}\n\n" + ("No cases." if first_page else "No more cases this way.")
        return embed
    lines = [header, ""]
    for c in cases:
        when = discord.utils.format_dt(c.created_at, "d")
        marks = " [VOID]" if "voided" in c.metadata else ""
        if c.metadata.get("appeal_status"):
            marks += f" [appeal {c.metadata['appeal_status']}]"
        lines.append(
            f"**#{c.number}** {c.action}{marks} · {when} · {_clip(discord.utils.escape_markdown(c.reason or ''), 120)}"
        )
    embed.description = "\n".join(lines)
    embed.set_footer(text=f"cases #{cases[-1].number}–#{cases[0].number}")
    return embed


def appeal_custom_id(number: int) -> str:
    return f"appeal:{number}"


def appeal_button(number: int) -> list[dict[str, Any]]:
    """The Appeal button on the DM about case `number`, as Discord's JSON (the outbox sends it; the
    moderation cog's persistent AppealButton answers it, after restarts too)."""
    button = {"type": 2, "style": 2, "label": "Appeal", "custom_id": appeal_custom_id(number)}
    return [{"type": 1, "components": [button]}]


def appeal_embed(case: Case, *, appellant: str) -> discord.Embed:
    """The modlog entry of an appeal, for the staff to decide on."""
    appeal = case.metadata.get("appeal") or {}
    embed = discord.Embed(
        title=f"Appeal of case #{case.number} ({case.action}) by {discord.utils.escape_markdown(appellant)}",
        colour=0x9B59B6,
    )
    embed.add_field(name="Appeal", value=_clip(discord.utils.escape_markdown(appeal.get("text") or "")), inline=False)
    embed.add_field(
        name="Case reason", value=_clip(discord.utils.escape_markdown(case.reason or ""), 500), inline=False
    )
    embed.add_field(name="Sent from", value="a DM (not in the server)" if appeal.get("via") == "dm" else "the server")
    return embed


def appeal_decision_embed(case: Case, *, server: str) -> discord.Embed:
    """What the member is told of the staff's decision."""
    accepted = case.metadata.get("appeal_status") == "accepted"
    embed = discord.Embed(
        title=f"Your appeal was {'accepted' if accepted else 'denied'}",
        description=f"Case #{case.number} ({case.action}) in **{discord.utils.escape_markdown(server)}**.",
        colour=0x2ECC71 if accepted else 0xC0392B,
    )
    if accepted and case.action in ("ban", "timeout", "mute"):
        embed.add_field(name="What changes", value=f"The {case.action} is lifted.", inline=False)
    elif accepted and case.action == "warn":
        embed.add_field(name="What changes", value="The warning's points no longer count.", inline=False)
    note = (case.metadata.get("appeal") or {}).get("note")
    if note:
        embed.add_field(name="From the staff", value=_clip(note, 500), inline=False)
    return embed


def _revision_parts(revision: Revision, who: str, when: str) -> tuple[str, str | None]:
    """A revision's line: what happened, and the text it carries (the old reason, why it was voided)."""
    if revision.field == "void":
        return f"voided by {who} {when}: ", revision.new_value or ""
    if revision.field == "duration":
        old, new = (
            format_duration(timedelta(minutes=int(v))) if v else "permanent"
            for v in (revision.old_value, revision.new_value)
        )
        return f"duration {old} → {new} by {who} {when}", None
    return f"reason changed by {who} {when}; was: ", revision.old_value or ""


def _shares(lengths: list[int], budget: int) -> list[int]:
    """How many characters each text keeps: the short ones whole, the long ones an equal share."""
    kept = [0] * len(lengths)
    left = max(budget, 0)
    for done, index in enumerate(sorted(range(len(lengths)), key=lengths.__getitem__)):
        kept[index] = min(lengths[index], left // (len(lengths) - done))
        left -= kept[index]
    return kept


def _cut(text: str, keep: int) -> str:
    if len(text) <= keep:
        return text
    return text[: max(keep - 1, 0)].rstrip("\\") + "…"  # no escaping backslash left before the marker


def revisions_field(
    revisions: Sequence[Revision], mentions: dict[str, str], *, room: int, filename: str
) -> tuple[str, bool]:
    """The newest revisions as /mod case show lists them in `room` characters: each text whole when
    they all fit, else cut to a share with "…" and a last line naming the attached file that holds
    them all. True when anything was left out or cut (the file is to be attached)."""
    shown = revisions[-REVISIONS_SHOWN:]
    earlier = len(revisions) - len(shown)
    head = [f"{earlier} earlier revision{'s' if earlier > 1 else ''} in {filename}"] if earlier else []
    parts = [
        _revision_parts(
            r, mentions.get(r.editor_id or "", "(erased account)"), discord.utils.format_dt(r.created_at, "R")
        )
        for r in shown
    ]
    texts = [discord.utils.escape_markdown(text) if text is not None else "" for _, text in parts]

    def assemble(bodies: list[str], tail: list[str]) -> str:
        return "\n".join([*head, *(line + body for (line, _), body in zip(parts, bodies, strict=True)), *tail])

    whole_text = assemble(texts, [])
    if len(whole_text) <= room:
        return whole_text, bool(earlier)
    tail = [f"Cut to fit: every revision in full in {filename}"]
    budget = room - len(assemble([""] * len(texts), tail))
    kept = _shares([len(t) for t in texts], budget)
    value = assemble([_cut(t, k) for t, k in zip(texts, kept, strict=True)], tail)
    return _cut(value, room), True


def revisions_file(number: int, revisions: Sequence[Revision], names: dict[str, str]) -> str:
    """Every revision of a case in full, oldest first, as plain text (the file /mod case show attaches)."""
    lines = [f"Case #{number}: every revision, oldest first (times in UTC)", ""]
    for r in revisions:
        when = r.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        line, text = _revision_parts(r, names.get(r.editor_id or "", "(erased account)"), f"on {when}")
        lines.append(line.rstrip())
        if text is not None:
            lines += [text, ""]
    return "\n".join(lines[:-1] if lines[-1] == "" else lines) + "\n"
