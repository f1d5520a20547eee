"""The XP rules with no I/O: which messages earn, how much, where pathway XP goes, voice eligibility."""

from __future__ import annotations

import random
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.community import CommunityConfig, RoleReward

_CUSTOM_EMOJI = re.compile(r"<a?:\w+:\d+>")
_MENTION = re.compile(r"<(?:@[!&]?|#)\d+>")
_LINK = re.compile(r"https?://\S+")


def meaningful_text(content: str) -> str:
    """The message without custom emoji, mentions and links, whitespace collapsed."""
    if "<" in content or "://" in content:
        content = _LINK.sub(" ", _MENTION.sub(" ", _CUSTOM_EMOJI.sub(" ", content)))
    return " ".join(content.split())


@dataclass(slots=True)
class MessageFacts:
    """What the rules need to know of a message (read off discord.py objects by the caller)."""

    author_id: int
    author_is_bot: bool
    is_webhook: bool
    is_system: bool
    in_guild: bool
    channel_id: int
    parent_id: int | None  # a thread's parent channel
    category_id: int | None
    role_ids: frozenset[int]
    content: str


# What the rules remember per member (their last grant for the cooldown, their last message for the
# repeat rule): the members who chatted most recently, at most RECENT_MEMBERS of them, each for
# RECENT_S after their last message (or the cooldown, if longer). A member quiet for longer starts
# afresh: their next message is not compared with one from an hour before. About 100 bytes a member
# (a hash of the last counted text; the raw text only of a message that arrived in cooldown, at most
# 4,000 characters).
RECENT_MEMBERS = 20_000
RECENT_S = 3600.0


@dataclass(slots=True)
class _Recent:
    seen: float  # their last message (monotonic seconds)
    granted: float | None = None  # their last grant
    text: int | None = None  # hash of their last counted message's meaningful text
    raw: str | None = None  # a message seen in cooldown, normalised only if the next one needs it


class MessageRules:
    """Eligibility, cooldown and repeat detection for message XP; state is in memory by design
    (the hot path never waits for the database), bounded by recency (RECENT_MEMBERS, RECENT_S)."""

    def __init__(self, community: CommunityConfig, *, rng: random.Random | None = None) -> None:
        xp = community.xp
        self.xp = xp
        self.no_xp_places = set(xp.no_xp_channel_ids)
        self.no_xp_roles = frozenset(xp.no_xp_role_ids)
        self.rng = rng or random.Random()
        self._recent: OrderedDict[int, _Recent] = OrderedDict()  # least recently seen first
        self.max_members = RECENT_MEMBERS
        self.remember_s = max(RECENT_S, xp.cooldown_seconds)
        self.pathway_of_place: dict[int, str] = {}
        for pathway in community.pathways:
            for place in (*pathway.channel_ids, *pathway.category_ids):
                self.pathway_of_place[place] = pathway.id

    @property
    def remembered(self) -> int:
        """Members whose last message is remembered."""
        return len(self._recent)

    def _seen(self, author_id: int, now: float) -> _Recent:
        """The author's entry, now the most recent; the least recent are forgotten past the bound."""
        recent = self._recent
        entry = recent.get(author_id)
        if entry is None or now - entry.seen > self.remember_s:
            entry = recent[author_id] = _Recent(now)
        else:
            entry.seen = now
        recent.move_to_end(author_id)
        while recent:
            oldest = next(iter(recent.values()))
            if len(recent) <= self.max_members and now - oldest.seen <= self.remember_s:
                break
            recent.popitem(last=False)
        return entry

    def places(self, facts: MessageFacts) -> tuple[int, ...]:
        """The channel, its parent (for threads) and the category, most specific first."""
        return tuple(p for p in (facts.channel_id, facts.parent_id, facts.category_id) if p is not None)

    def pathway_for(self, places: Iterable[int]) -> str | None:
        return next((self.pathway_of_place[p] for p in places if p in self.pathway_of_place), None)

    def counts_as_chat(self, facts: MessageFacts) -> bool:
        return facts.in_guild and not facts.author_is_bot and not facts.is_webhook and not facts.is_system

    def cooling_down(self, author_id: int, content: str, now: float) -> bool:
        """The fast path: True when the author earned XP less than the cooldown ago, so this message
        earns nothing whatever else is true of it. It is still the author's latest message for the
        repeat rule (kept as it is; normalised only when the next message needs the comparison)."""
        entry = self._recent.get(author_id)
        if entry is None or entry.granted is None or now - entry.granted >= self.xp.cooldown_seconds:
            return False
        self._seen(author_id, now).raw = content
        return True

    def why_no_xp(self, facts: MessageFacts, now: float) -> str | None:
        """None when the message earns XP (and then records it for cooldown and repeats)."""
        if not self.counts_as_chat(facts):
            return "not a member's guild message"
        if self.no_xp_places and self.no_xp_places.intersection(self.places(facts)):
            return "no-XP channel"
        if self.no_xp_roles and self.no_xp_roles & facts.role_ids:
            return "no-XP role"
        text = meaningful_text(facts.content).casefold()
        if len(text) < self.xp.min_message_length:
            return "too short"
        entry = self._seen(facts.author_id, now)
        raw, entry.raw = entry.raw, None
        previous = entry.text
        if raw is not None:
            raw_text = meaningful_text(raw).casefold()
            if len(raw_text) >= self.xp.min_message_length:  # too short: it never counted as previous
                previous = hash(raw_text)
        entry.text = hash(text)
        if previous == entry.text:
            return "repeat of the previous message"
        if entry.granted is not None and now - entry.granted < self.xp.cooldown_seconds:
            return "cooldown"
        entry.granted = now
        return None

    def amount(self) -> int:
        return self.rng.randint(self.xp.message_min, self.xp.message_max)


@dataclass(slots=True)
class VoiceFacts:
    member_id: int
    is_bot: bool
    channel_id: int
    category_id: int | None
    self_mute: bool
    self_deaf: bool
    deaf: bool
    humans_in_channel: int  # including this member


def voice_eligible(facts: VoiceFacts, afk_channel_id: int | None) -> bool:
    """Earning in voice: not a bot, not in the AFK channel, not muted or deafened by themselves,
    and at least one other human in the channel."""
    return (
        not facts.is_bot
        and facts.channel_id != afk_channel_id
        and not (facts.self_mute or facts.self_deaf or facts.deaf)
        and facts.humans_in_channel >= 2
    )


class VoiceClock:
    """Eligible seconds per member; a full minute becomes one credit, the remainder carries over."""

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}

    def forget(self, member: int, *_: object) -> None:
        """A member's partial minute dropped (erased: no time of theirs is credited after it)."""
        self.seconds.pop(member, None)

    def tick(self, eligible: Iterable[int], elapsed: float) -> dict[int, int]:
        """Add `elapsed` seconds to each eligible member; returns full minutes earned per member.
        Members no longer eligible keep their partial minute only while they stay in the tick set."""
        credited: dict[int, int] = {}
        eligible = set(eligible)
        for member in list(self.seconds):
            if member not in eligible:
                del self.seconds[member]
        for member in eligible:
            total = self.seconds.get(member, 0.0) + elapsed
            minutes = int(total // 60)
            if minutes:
                credited[member] = minutes
            self.seconds[member] = total - minutes * 60
        return credited


def period_starts(moment: datetime, timezone: str) -> tuple[date, date]:
    """The first day of the week (Monday) and of the month of `moment`, in the community's timezone."""
    local = moment.astimezone(ZoneInfo(timezone)).date()
    return local - timedelta(days=local.weekday()), local.replace(day=1)


def local_day(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


def reward_roles_for(
    rewards: Iterable[RoleReward], level: int, pathway: str | None, mode: str
) -> tuple[set[int], set[int]]:
    """(roles the member should hold, reward roles they should not) for a level on one board."""
    board = sorted((r for r in rewards if r.pathway == pathway), key=lambda r: r.level)
    earned = [r for r in board if r.level <= level]
    latest_only = {earned[-1].role_id} if earned else set()
    keep = latest_only if mode == "replace" else {r.role_id for r in earned}
    return keep, {r.role_id for r in board} - keep


def rank_role_for(rank_role_ids: Mapping[str, int], rank: str) -> tuple[int | None, set[int]]:
    """(the role of the current rank title, the other rank roles to remove)."""
    current = rank_role_ids.get(rank)
    return current, {r for r in rank_role_ids.values() if r != current}
