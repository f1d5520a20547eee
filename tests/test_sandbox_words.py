"""Lines typed into the sandbox split as a person means them: quotes group, an apostrophe inside a
word is a letter, a `;` in quotes is text; and Tab completes what the server has."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from bot.sandbox.completion import Completer
from bot.sandbox.repl import Sandbox, _options
from bot.sandbox.words import answers, words
from standin.control import InvalidInvocation
from standin.render import _relative


def test_a_semicolon_inside_quotes_stays_in_the_form_answer():
    assert answers('title="Games; chess" start="tomorrow 20:00"') == {
        "title": "Games; chess",
        "start": "tomorrow 20:00",
    }
    assert answers("title=Game night; start=tomorrow 20:00") == {"title": "Game night", "start": "tomorrow 20:00"}
    assert answers('title="a; b"; start=today 18:00') == {"title": "a; b", "start": "today 18:00"}


def test_an_apostrophe_inside_a_word_is_a_letter_and_x_s_last_message_is_one_value():
    assert words("message_id:bob's last message reason:don't") == ["message_id:bob's last message", "reason:don't"]
    assert words("mod: Warn on alice's last message")[-1] == "alice's last message"
    assert words("reason:'quoted with spaces' x") == ["reason:quoted with spaces", "x"]
    assert answers("reason=it's rule 3; note=ok") == {"reason": "it's rule 3", "note": "ok"}
    with pytest.raises(ValueError, match="quote is not closed"):
        words('reason:"never closed')


def test_a_quoted_value_with_a_colon_and_a_space_fills_the_next_option_as_text():
    definitions = [{"name": "member", "type": 6}, {"name": "reason", "type": 3}]
    typed = words('alice "note: be kind"')
    assert _options(definitions, typed, "/mod note") == {"member": "alice", "reason": "note: be kind"}
    assert _options(definitions, words("alice reason: helped"), "/mod note") == {"member": "alice", "reason": "helped"}
    with pytest.raises(InvalidInvocation, match="has no option 'note'"):
        _options(definitions, words("alice note:be"), "/mod note")


async def _sandbox(harness, tmp_path):
    harness.community = harness.demo.furnish_for_sandbox()
    await harness.start_bot()
    out = io.StringIO()
    return Sandbox(harness, out, tmp_path / "sandbox-output"), out


async def test_typed_lines_with_apostrophes_a_space_after_the_colon_and_semicolons_in_quotes_reach_the_bot(
    harness, tmp_path
):
    sandbox, out = await _sandbox(harness, tmp_path)
    alice = harness.member("alice")
    try:
        for line in [
            "bob: that's a nice one, isn't it",
            "wait 2",  # the XP written
            "mod: /xp reverse message_id:bob's last message reason:\"it's a test\"",
            "mod: /xp give member:alice amount: 50 reason: helped",
            "mod: /event create",
            'mod fills title="Games; chess" start="tomorrow 20:00"',
        ]:
            before = len(out.getvalue())
            assert await sandbox.handle(line)
            refused = [a for a in out.getvalue()[before:].splitlines() if a.startswith("!")]
            assert refused == [], (line, refused)
    finally:
        sandbox.close()
    pool = harness.bot.pool
    reversal = await pool.fetchval("SELECT reason FROM xp_ledger WHERE source = 'reversal'")
    assert reversal == "it's a test"
    given = await pool.fetchrow(
        """SELECT l.amount, l.reason FROM xp_ledger l JOIN users u ON u.id = l.user_id
           WHERE u.discord_id = $1 AND l.source = 'manual'""",
        str(alice.id),
    )
    assert (given["amount"], given["reason"]) == (50, "helped")
    assert await pool.fetchval("SELECT title FROM events") == "Games; chess"


async def test_tab_completes_members_verbs_commands_subcommands_options_and_member_values(harness, tmp_path):
    sandbox, _ = await _sandbox(harness, tmp_path)
    sandbox.close()
    complete = Completer(harness).candidates
    assert complete("al") == ["alice"]
    assert "help" in complete("") and "mod" in complete("")
    assert complete("alice cl") == ["clicks"]
    assert complete("mod: /x") == ["/xp"]
    assert "give" in complete("mod: /xp ") and complete("mod: /xp gi") == ["give"]
    assert complete("mod: /xp give mem") == ["member:"]
    assert complete("mod: /xp give member:alice am") == ["amount:"]
    assert complete("mod: /xp give member:al") == ["member:alice"]
    assert complete("mod: /xp give member:alice m") == []  # member given already
    assert complete("mod: /no-such-command ") == []


def test_relative_times_read_as_discords_client_rounds_them():
    """A 10-minute timeout shown a second later read "in 9 minutes" (Discord says "in 10 minutes")."""
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert _relative(now + timedelta(minutes=10) - timedelta(seconds=1), now) == "in 10 minutes"
    assert _relative(now + timedelta(minutes=10, seconds=20), now) == "in 10 minutes"
    assert _relative(now - timedelta(days=2, hours=3), now) == "2 days ago"
    assert _relative(now + timedelta(seconds=59), now) == "in 59 seconds"
    assert _relative(now + timedelta(minutes=1), now) == "in 1 minute"
