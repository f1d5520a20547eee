"""Every example the README gives for the sandbox, typed into the sandbox as a newcomer would: none
may be answered with "!" (a line the sandbox cannot act on, or the bot refusing or failing) or with
"[discord refused]" (the bot sent a payload Discord would refuse), and the tour covers every command
of the README's command table."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from bot.sandbox.repl import Sandbox
from standin.control import SUB_COMMAND, SUB_COMMAND_GROUP

README = Path(__file__).resolve().parent.parent / "README.md"
# Commands the tour cannot show in a fresh sandbox, and why (their own tests cover them).
NOT_IN_THE_TOUR = {
    "deadletter replay": "needs a write the database refused (tests/test_e2e_faults.py)",
    "deadletter discard": "likewise",
    "event rate": "needs an event that has ended, with its attendees (tests/test_e2e_events.py)",
}


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _blocks(section: str) -> list[list[str]]:
    return [block.splitlines() for block in re.findall(r"```text\n(.*?)```", section, re.S)]


def readme_lines() -> list[str]:
    """The lines to type: the prompt example (lines after "> ") and the tour (every line)."""
    first, *rest = _blocks(_section(README.read_text(encoding="utf-8"), "Sandbox"))
    lines = [line[2:] for line in first if line.startswith("> ")]
    for block in rest:
        lines += [line for line in block if line.strip() and not line.startswith("#")]
    return lines


def refusals(printed: str) -> list[str]:
    """The printed lines that say something was refused: "!" (by the sandbox or the bot), or
    "[discord refused]" (a payload the stand-in refused as Discord would: the member would have seen
    nothing, or "This interaction failed")."""
    return [line for line in printed.splitlines() if line.startswith(("!", "[discord refused]"))]


def _table_commands() -> list[str]:
    """Each command cell of the Commands table, as written: "/mod warn\\|note\\|kick member reason"."""
    cells = []
    for row in _section(README.read_text(encoding="utf-8"), "Commands").splitlines():
        if row.startswith("| `/") or row.startswith('| "'):
            cells.append(row.split(" | ")[0].lstrip("| "))
    return cells


def _paths(cell: str, registered: dict[str, dict]) -> list[str]:
    """The command paths a table cell names ("/pathway join\\|leave" -> pathway join, pathway leave),
    read against the registered commands (what follows the path is its options)."""
    if cell.startswith('"'):
        return [f"menu {name}" for name in re.findall(r'"(\w+)"', cell)]
    paths = []
    for span in re.findall(r"`(/[^`]+)`", cell):
        words = span[1:].replace("\\|", "|").split()
        command = registered[words[0]]
        prefixes = [[words[0]]]
        options = command.get("options", [])
        for word in words[1:]:
            names = word.split("|")
            subs = {o["name"]: o for o in options if o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)}
            if not all(n in subs for n in names):
                break
            prefixes = [[*p, n] for p in prefixes for n in names]
            options = subs[names[0]].get("options", [])
        paths += [" ".join(p) for p in prefixes]
    return paths


def _typed_paths(lines: list[str], registered: dict[str, dict]) -> set[str]:
    typed = set()
    for line in lines:
        menu = re.match(r"^[\w.-]+: (\w+) on [\w.-]+'s last message$", line)
        if menu:
            typed.add(f"menu {menu[1]}")
        said = re.match(r"^[\w.-]+(?: in #[\w-]+)?: /(.+)$", line)
        if said:
            words = said[1].split()
            options = registered.get(words[0], {}).get("options", [])
            path = [words[0]]
            for word in words[1:]:
                sub = next((o for o in options if o["name"] == word and o["type"] in (1, 2)), None)
                if sub is None:
                    break
                path.append(word)
                options = sub.get("options", [])
            typed.add(" ".join(path))
    return typed


async def test_every_readme_example_works_in_the_sandbox_and_the_tour_covers_every_command(harness, tmp_path):
    harness.community = harness.demo.furnish_for_sandbox()
    await harness.start_bot()
    out = io.StringIO()
    sandbox = Sandbox(harness, out, tmp_path / "sandbox-output")
    lines = readme_lines()
    assert len(lines) > 60
    refused = []
    try:
        for line in lines:
            before = len(out.getvalue())
            assert await sandbox.handle(line)
            answer = out.getvalue()[before:]
            marked = refusals(answer)
            if marked:
                refused.append(f"{line}\n    {marked[0]}")
    finally:
        sandbox.close()
    assert refused == [], "README examples answered with '!' or refused by Discord:\n" + "\n".join(refused)
    # Each one did something a member would see (no line went unanswered).
    assert "Something went wrong" not in out.getvalue()
    assert harness.standin.refusals == []

    standin = harness.standin
    registered = {c["name"]: c for c in standin.commands.get(standin.guild.id, []) + standin.commands.get(None, [])}
    wanted = {p for cell in _table_commands() for p in _paths(cell, registered)}
    assert len(wanted) > 50
    missing = wanted - _typed_paths(lines, registered) - set(NOT_IN_THE_TOUR)
    assert missing == set(), f"the README's tour leaves out: {sorted(missing)}"


@pytest.mark.refusals_expected
async def test_a_payload_discord_refuses_counts_as_a_refused_line_of_the_tour(harness, tmp_path):
    out = io.StringIO()
    sandbox = Sandbox(harness, out, tmp_path / "sandbox-output")
    try:
        harness.standin.refused("POST", "/channels/1/messages", {"embeds": {"0": "too long"}})
    finally:
        sandbox.close()
    printed = out.getvalue()
    assert printed.startswith("[discord refused] POST /channels/1/messages: 400 Invalid Form Body")
    assert refusals(printed) == printed.splitlines()


async def test_at_a_terminal_a_form_is_asked_field_by_field_and_a_user_id_reaches_the_bot(harness, tmp_path):
    harness.community = harness.demo.furnish_for_sandbox()
    await harness.start_bot()
    out = io.StringIO()
    sandbox = Sandbox(harness, out, tmp_path / "sandbox-output", interactive=True)
    carol = harness.member("carol")
    try:
        for line in [
            "mod: /event create",
            "Movie night",  # title
            "",  # description: left empty
            "not a date",  # start: the bot refuses it, the form is sent as typed
            "",
            "",
            "mod: /event create",
            "Movie night",
            "",
            "tomorrow 21:00",
            "",
            "cancel",  # the last field is not asked: the form is dropped, nothing sent
            'mod: /mod ban member:carol reason:"scam links"',
            f'mod: /mod unban user:{carol.id} reason:"by id, as pasted"',
        ]:
            assert await sandbox.handle(line)
    finally:
        sandbox.close()
    text = out.getvalue()
    assert "  title: Title (required, up to 100 characters):" in text
    assert "  start: Start, e.g. 2026-12-05 20:00 (required, up to 40 characters):" in text
    assert "'not a date' is not a date and time" in text
    assert "  (form closed without sending it)" in text and "created and announced" not in text
    assert "Case #2: unban carol." in text and "Something went wrong" not in text
