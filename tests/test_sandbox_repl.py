"""The sandbox's prompt as a newcomer meets it: members who are gone, unknown commands, choices by
number, Tab on an option that autocompletes. Each line it cannot act on is answered in one line."""

from __future__ import annotations

import asyncio
import io

from bot.sandbox.completion import Completer
from bot.sandbox.repl import Sandbox


async def _sandbox(harness, tmp_path):
    harness.community = harness.demo.furnish_for_sandbox()
    await harness.start_bot()
    out = io.StringIO()
    return Sandbox(harness, out, tmp_path / "sandbox-output"), out


async def _type(sandbox: Sandbox, out: io.StringIO, line: str) -> list[str]:
    """What the sandbox printed for one typed line."""
    before = len(out.getvalue())
    assert await sandbox.handle(line)
    return out.getvalue()[before:].splitlines()


async def _create_events(sandbox: Sandbox, out: io.StringIO, *titles: str) -> None:
    for title in titles:
        await _type(sandbox, out, "mod: /event create")
        created = await _type(sandbox, out, f'mod fills title="{title}" start="in 2 days 20:00"')
        assert any(f"Event **{title}** created" in line for line in created), created


async def test_a_banned_or_departed_member_is_told_they_are_not_in_the_server_and_how_to_come_back(harness, tmp_path):
    sandbox, out = await _sandbox(harness, tmp_path)
    standin = harness.standin
    carol = harness.member("carol")
    try:
        await _type(sandbox, out, 'mod: /mod ban member:carol reason:"scam links"')
        said_before = len(standin.messages)
        for line in ("carol: hello?", "carol: /profile", "carol joins voice"):
            answer = await _type(sandbox, out, line)
            assert answer == [
                "! carol is not in the server (banned): a moderator can unban them "
                "(mod: /mod unban user:carol), then: carol joins"
            ], line
        assert not [m for m in list(standin.messages.values())[said_before:] if m.author.id == carol.id]
        assert await _type(sandbox, out, "carol leaves") == ["! carol is not in the server (banned)"]
        # A banned user cannot come back by joining.
        assert await _type(sandbox, out, "carol joins") == [
            "! carol is banned from the server: a moderator can unban them (mod: /mod unban user:carol) first"
        ]
        # The DM the bot sent her still works: she appeals from it.
        assert "[form for carol] Appeal case #1" in await _type(sandbox, out, "carol clicks Appeal")

        await _type(sandbox, out, "dora joins")
        assert await _type(sandbox, out, "dora joins") == ["! dora is already in the server"]
        await _type(sandbox, out, "dora leaves")
        assert await _type(sandbox, out, "dora leaves") == ["! dora is not in the server (left)"]
        for line in ("dora: anyone here?", "dora: /rank", "dora clicks Next"):
            assert await _type(sandbox, out, line) == [
                "! dora is not in the server (left): to bring them back: dora joins"
            ], line
        await _type(sandbox, out, "dora joins")
        assert any(
            line.startswith("[#general] Conclave: Dora: level 1") for line in await _type(sandbox, out, "dora: /rank")
        )

        await _type(sandbox, out, 'mod: /mod unban user:carol reason:"password changed"')
        assert await _type(sandbox, out, "carol joins") == ["* carol joined the server"]
        assert any("Carol: level 1" in line for line in await _type(sandbox, out, "carol: /rank"))
    finally:
        sandbox.close()
    assert "Traceback" not in out.getvalue()


async def test_an_unknown_command_lists_the_slash_commands_and_a_message_menu_says_how_to_use_it(harness, tmp_path):
    sandbox, out = await _sandbox(harness, tmp_path)
    try:
        unknown = await _type(sandbox, out, "alice: /nope")
        menu = await _type(sandbox, out, "mod: /Warn")
    finally:
        sandbox.close()
    assert len(unknown) == 1 and unknown[0].startswith("! /nope is not a command here (commands: about, achievement,")
    assert "Warn" not in unknown[0] and "Note" not in unknown[0]
    assert menu == ["! Warn is a message menu, not a slash command: mod: Warn on alice's last message"]


async def test_a_choice_number_out_of_range_is_answered_in_one_line_and_the_choice_still_waits(harness, tmp_path):
    sandbox, out = await _sandbox(harness, tmp_path)
    try:
        await _create_events(sandbox, out, "Game night", "Game show")
        listed = await _type(sandbox, out, "bob: /event register event:Game")
        assert "  event: 2 matches for 'Game':" in listed
        for number in ("5", "0", "-1"):
            assert await _type(sandbox, out, number) == [
                f"! {number} is not one of the choices: type 1 to 2 (anything else drops /event register)"
            ]
        picked = await _type(sandbox, out, "2")
    finally:
        sandbox.close()
    assert any("You are registered for **Game show**" in line for line in picked)


async def test_tab_asks_the_bots_autocomplete_for_an_options_value_and_offers_at_most_25(harness, tmp_path):
    sandbox, out = await _sandbox(harness, tmp_path)
    try:
        await _create_events(sandbox, out, "Game night", "Quiz")
        # Tab is pressed in the prompt's reader thread, while the bot runs on the event loop.
        completer = Completer(harness, asyncio.get_running_loop(), sandbox.suggested)
        game = await asyncio.to_thread(completer.candidates, "bob: /event register event:Ga")
        every = await asyncio.to_thread(completer.candidates, "bob: /event register event:")
        typing = await asyncio.to_thread(completer.candidates, 'bob: /event register event:"Game n')
        assert len(game) == 1 and game[0].startswith('event:"Game night · ') and game[0].endswith('"')
        assert typing == game
        assert len(every) == 2 and every[0] == game[0] and every[1].startswith('event:"Quiz · ')
        # The completed line, sent as it stands, picks that suggestion.
        answer = await _type(sandbox, out, f"bob: /event register {game[0]}")
        assert any("You are registered for **Game night**" in line for line in answer), answer
        # Not a member any more: no suggestions (Discord asks nothing for them).
        assert await asyncio.to_thread(completer.candidates, "carol: /event info event:") != []
        await _type(sandbox, out, "carol leaves")
        assert await asyncio.to_thread(completer.candidates, "carol: /event info event:") == []

        await _create_events(sandbox, out, *(f"Quiz {number:02}" for number in range(30)))
        quizzes = await asyncio.to_thread(completer.candidates, "bob: /event register event:Qu")
    finally:
        sandbox.close()
    assert 1 < len(quizzes) <= 25 and all(q.startswith('event:"Quiz') for q in quizzes)


async def test_a_click_a_choice_or_a_voice_move_that_makes_no_sense_is_answered_in_one_line(harness, tmp_path):
    sandbox, out = await _sandbox(harness, tmp_path)
    try:
        assert await _type(sandbox, out, "alice clicks") == [
            "! clicks what? the button's label, e.g. alice clicks Next"
        ]
        assert await _type(sandbox, out, "alice chooses") == [
            "! chooses what? the menu and the values, e.g. alice chooses <menu> <value>"
        ]
        assert await _type(sandbox, out, "alice joins voice") == ["* alice joined voice (Lounge)"]
        assert await _type(sandbox, out, "alice joins voice") == ["! alice is in voice already (Lounge)"]
        assert await _type(sandbox, out, "alice leaves voice") == ["* alice left voice"]
        assert await _type(sandbox, out, "alice leaves voice") == ["! alice is not in voice"]
    finally:
        sandbox.close()


async def test_the_last_message_of_someone_unknown_says_there_is_nobody_of_that_name(harness, tmp_path):
    sandbox, out = await _sandbox(harness, tmp_path)
    try:
        assert await _type(sandbox, out, "mod: Warn on zed's last message") == [
            "! nobody called 'zed' is in the server (try: members)"
        ]
        assert await _type(sandbox, out, "mod: Warn on bob's last message") == ["! bob has not said anything yet"]
    finally:
        sandbox.close()


async def test_an_announcement_the_bot_edits_as_places_fill_is_shown_as_edited_not_as_a_new_post(harness, tmp_path):
    sandbox, out = await _sandbox(harness, tmp_path)
    try:
        await _type(sandbox, out, "mod: /event create")
        await _type(sandbox, out, 'mod fills title="Game night" start="in 2 days 20:00" places=10')
        await _type(sandbox, out, 'bob: /event register event:"Game night"')
        for _ in range(100):  # the edit goes through the outbox
            if "Places: 1 / 10" in out.getvalue():
                break
            await asyncio.sleep(0.05)
        lines = out.getvalue().splitlines()
    finally:
        sandbox.close()
    posted = [i for i, line in enumerate(lines) if line.startswith("[#general] Conclave: **Game night**")]
    edited = [i for i, line in enumerate(lines) if line.startswith("[#general] Conclave (edited): **Game night**")]
    assert len(posted) == 1 and len(edited) == 1, lines
    assert "Places: 1 / 10" in lines[edited[0] : edited[0] + 6], lines
