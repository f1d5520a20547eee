"""Timeouts given, changed and removed in Discord's own menus become cases "by a moderator in
Discord" and sanctions in force with their end (so the website's rules see them), and those changed
while the bot was offline are reconciled at start-up; the stand-in keeps timeouts as Discord does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import discord
import pytest

from standin.bans import HandRefused
from tests.test_e2e_core import wait_until
from tests.test_e2e_moderation import start
from tests.test_e2e_moderation_in_discord import may_read_the_audit_log

TIMEOUTS = "SELECT status, target_discord_id, expires_at FROM moderation_sanctions WHERE kind = 'timeout' ORDER BY id"


def close(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and b is not None and abs(a - b) < timedelta(seconds=1)


async def round_trip(harness) -> None:
    """Every gateway event sent so far has been handled (a command answered after them)."""
    await harness.member("carol").slash("about")


@pytest.mark.refusals_expected  # a timeout past 28 days, refused on purpose
async def test_the_stand_in_keeps_timeouts_as_discord_does(harness):
    bot, _ = await start(harness)
    guild_id, bob = harness.standin.guild.id, harness.member("bob")
    too_late = (datetime.now(UTC) + timedelta(days=28, minutes=1)).isoformat()
    with pytest.raises(discord.HTTPException) as refused:  # "up to 28 days in the future"
        await bot.http.edit_member(guild_id, bob.id, communication_disabled_until=too_late)
    assert refused.value.status == 400 and refused.value.code == 50035
    assert bob.member.communication_disabled_until is None
    until = datetime.now(UTC) + timedelta(days=27)
    await bot.http.edit_member(guild_id, bob.id, communication_disabled_until=until.isoformat(), reason="case #9")
    assert bob.member.communication_disabled_until == until

    async def cached_timeout():
        return bot.home_guild.get_member(int(bob.id)).timed_out_until

    cached = await wait_until(cached_timeout)  # GUILD_MEMBER_UPDATE
    assert cached == until
    may_read_the_audit_log(harness)
    (entry,) = [e async for e in bot.home_guild.audit_logs(limit=5, action=discord.AuditLogAction.member_update)]
    assert entry.target.id == int(bob.id) and entry.user.id == bot.user.id and entry.reason == "case #9"
    assert entry.before.timed_out_until is None and entry.after.timed_out_until == until
    mod, owner = harness.member("mod"), harness.member("owner")
    with pytest.raises(HandRefused):
        mod.timeout_in_discord(owner, timedelta(hours=1))  # nobody times out the owner
    with pytest.raises(HandRefused):
        harness.member("alice").timeout_in_discord(bob, timedelta(hours=1))  # Timeout Members is needed
    with pytest.raises(Exception, match="28 days"):
        mod.timeout_in_discord(bob, timedelta(days=29))
