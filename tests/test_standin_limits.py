"""The stand-in refuses what Discord refuses: each documented limit on what an app sends, one past it
refused with Discord's 400 `50035 Invalid Form Body` (the offending field named by its path), the
limit itself accepted; interaction tokens expire after 15 minutes on the stand-in's clock; and a
user who is not in the server is a user, never a member. Requests go over HTTP as discord.py sends them."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import discord
import pytest

from standin import limits, uploads
from standin.server import StandIn

APPLICATION_COMMAND, AUTOCOMPLETE_INTERACTION = 2, 4


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    server = await StandIn().start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def http(standin: StandIn) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {standin.token}"}) as session:
        yield session


async def _call(http: aiohttp.ClientSession, method: str, url: str, body: Any) -> tuple[int, dict[str, Any]]:
    async with http.request(method, url, json=body) as response:
        text = await response.text()
        return response.status, (await response.json(content_type=None)) if text else {}


def _errors_at(answer: dict[str, Any], *path: str | int) -> list[dict[str, str]]:
    node = answer["errors"]
    for key in path:
        node = node[str(key)]
    return node["_errors"]


def _refused_at(status: int, answer: dict[str, Any], *path: str | int) -> None:
    assert (status, answer["code"], answer["message"]) == (400, 50035, "Invalid Form Body"), answer
    assert _errors_at(answer, *path), answer


def _embed(**fields: Any) -> dict[str, Any]:
    return {"type": "rich", **fields}


def _row(*components: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(components)}


def _button(custom_id: str = "b", label: str = "Go") -> dict[str, Any]:
    return {"type": 2, "style": 1, "custom_id": custom_id, "label": label}


def _select(options: int = 3, **fields: Any) -> dict[str, Any]:
    return {
        "type": 3,
        "custom_id": "s",
        "options": [{"label": f"o{i}", "value": f"v{i}"} for i in range(options)],
        **fields,
    }


def _field(name: str = "n", value: str = "v") -> dict[str, Any]:
    return {"name": name, "value": value, "inline": False}


# Each case: a message body one past a limit, the error's path, and the same body at the limit.
MESSAGE_CASES = {
    "content": ({"content": "x" * 2001}, ("content",), {"content": "x" * 2000}),
    "embed count": ({"embeds": [_embed(title="t")] * 11}, ("embeds",), {"embeds": [_embed(title="t")] * 10}),
    "title": ({"embeds": [_embed(title="t" * 257)]}, ("embeds", 0, "title"), {"embeds": [_embed(title="t" * 256)]}),
    "title, trimmed": (
        {"embeds": [_embed(title="t" * 257)]},
        ("embeds", 0, "title"),
        {"embeds": [_embed(title="  " + "t" * 256 + "\n")]},  # Discord measures embeds trimmed
    ),
    "description": (
        {"embeds": [_embed(description="d" * 4097)]},
        ("embeds", 0, "description"),
        {"embeds": [_embed(description="d" * 4096)]},
    ),
    "field count": (
        {"embeds": [_embed(fields=[_field()] * 26)]},
        ("embeds", 0, "fields"),
        {"embeds": [_embed(fields=[_field()] * 25)]},
    ),
    "field name": (
        {"embeds": [_embed(fields=[_field(name="n" * 257)])]},
        ("embeds", 0, "fields", 0, "name"),
        {"embeds": [_embed(fields=[_field(name="n" * 256)])]},
    ),
    "field value": (
        {"embeds": [_embed(fields=[_field(value="v" * 1025)])]},
        ("embeds", 0, "fields", 0, "value"),
        {"embeds": [_embed(fields=[_field(value="v" * 1024)])]},
    ),
    "empty field value": (
        {"embeds": [_embed(fields=[_field(value="  ")])]},
        ("embeds", 0, "fields", 0, "value"),
        {"embeds": [_embed(fields=[_field(value=".")])]},
    ),
    "footer": (
        {"embeds": [_embed(footer={"text": "f" * 2049})]},
        ("embeds", 0, "footer", "text"),
        {"embeds": [_embed(footer={"text": "f" * 2048})]},
    ),
    "author": (
        {"embeds": [_embed(author={"name": "a" * 257})]},
        ("embeds", 0, "author", "name"),
        {"embeds": [_embed(author={"name": "a" * 256})]},
    ),
    "6,000 in all": (
        {"embeds": [_embed(description="d" * 4000), _embed(description="d" * 2001)]},
        ("embeds",),
        {"embeds": [_embed(description="d" * 4000), _embed(description="d" * 2000)]},
    ),
    "rows": ({"components": [_row(_button(f"b{i}")) for i in range(6)]}, ("components",), None),
    "buttons in a row": (
        {"components": [_row(*[_button(f"b{i}") for i in range(6)])]},
        ("components", 0, "components"),
        {"components": [_row(*[_button(f"b{i}") for i in range(5)]) for _ in range(1)]},
    ),
    "button label": (
        {"components": [_row(_button(label="l" * 81))]},
        ("components", 0, "components", 0, "label"),
        {"components": [_row(_button(label="l" * 80))]},
    ),
    "custom_id": (
        {"components": [_row(_button(custom_id="c" * 101))]},
        ("components", 0, "components", 0, "custom_id"),
        {"components": [_row(_button(custom_id="c" * 100))]},
    ),
    "duplicate custom_id": (
        {"components": [_row(_button("same"), _button("same"))]},
        ("components", 0, "components", 1, "custom_id"),
        {"components": [_row(_button("one"), _button("two"))]},
    ),
    "select options": (
        {"components": [_row(_select(26))]},
        ("components", 0, "components", 0, "options"),
        {"components": [_row(_select(25))]},
    ),
    "select beside a button": ({"components": [_row(_select(), _button())]}, ("components", 0, "components"), None),
    "option label": (
        {"components": [_row({**_select(1), "options": [{"label": "l" * 101, "value": "v"}]})]},
        ("components", 0, "components", 0, "options", 0, "label"),
        {"components": [_row({**_select(1), "options": [{"label": "l" * 100, "value": "v"}]})]},
    ),
    "option value": (
        {"components": [_row({**_select(1), "options": [{"label": "l", "value": "v" * 101}]})]},
        ("components", 0, "components", 0, "options", 0, "value"),
        {"components": [_row({**_select(1), "options": [{"label": "l", "value": "v" * 100}]})]},
    ),
    "option description": (
        {"components": [_row({**_select(1), "options": [{"label": "l", "value": "v", "description": "d" * 101}]})]},
        ("components", 0, "components", 0, "options", 0, "description"),
        {"components": [_row({**_select(1), "options": [{"label": "l", "value": "v", "description": "d" * 100}]})]},
    ),
    "placeholder": (
        {"components": [_row(_select(placeholder="p" * 151))]},
        ("components", 0, "components", 0, "placeholder"),
        {"components": [_row(_select(placeholder="p" * 150))]},
    ),
}


@pytest.mark.parametrize("case", MESSAGE_CASES, ids=list(MESSAGE_CASES))
async def test_channel_messages_past_a_limit_are_refused_and_at_it_accepted(standin, http, case):
    over, path, at_limit = MESSAGE_CASES[case]
    channel = standin.add_channel("general")
    url = f"{standin.api_base}/channels/{channel.id}/messages"
    status, answer = await _call(http, "POST", url, {"content": "hello", **over})
    _refused_at(status, answer, *path)
    assert not [m for m in standin.messages.values() if m.channel_id == channel.id]  # nothing was posted
    assert standin.refusals[-1].path == f"/channels/{channel.id}/messages"
    assert standin.outputs[-1].kind == "refused"  # what the sandbox prompt shows
    if at_limit is not None:
        status, answer = await _call(http, "POST", url, {"content": "hello", **at_limit})
        assert status == 200, answer


async def test_edits_are_held_to_the_same_limits(standin, http):
    channel = standin.add_channel("general")
    url = f"{standin.api_base}/channels/{channel.id}/messages"
    _, sent = await _call(http, "POST", url, {"content": "short"})
    status, answer = await _call(http, "PATCH", f"{url}/{sent['id']}", {"content": "x" * 2001})
    _refused_at(status, answer, "content")
    assert standin.messages[sent["id"]].content == "short"


async def test_an_edit_names_the_messages_own_channel_and_leaves_something_to_show(standin, http):
    """As Discord answers PATCH /channels/{id}/messages/{id}: the message through another channel is
    unknown, an unknown channel is one, and an edit that leaves the message with nothing (no content,
    embeds, components or attachments) is refused as an empty message; removing the buttons of a
    message that keeps its embed is accepted."""
    general, other = standin.add_channel("general"), standin.add_channel("other")
    url = f"{standin.api_base}/channels/{general.id}/messages"
    embed = _embed(title="Game night")
    button = {"type": 2, "style": 1, "label": "Register", "custom_id": "r"}
    _, sent = await _call(http, "POST", url, {"embeds": [embed], "components": [{"type": 1, "components": [button]}]})
    status, answer = await _call(
        http, "PATCH", f"{standin.api_base}/channels/{other.id}/messages/{sent['id']}", {"content": "x"}
    )
    assert (status, answer["code"]) == (404, 10008)
    status, answer = await _call(
        http, "PATCH", f"{standin.api_base}/channels/1/messages/{sent['id']}", {"content": "x"}
    )
    assert (status, answer["code"]) == (404, 10003)
    status, answer = await _call(http, "PATCH", f"{url}/{sent['id']}", {"embeds": [], "components": []})
    assert (status, answer["code"], answer["message"]) == (400, 50006, "Cannot send an empty message")
    assert standin.messages[sent["id"]].embeds[0]["title"] == "Game night"
    status, answer = await _call(http, "PATCH", f"{url}/{sent['id']}", {"embeds": [embed], "components": []})
    assert status == 200 and answer["components"] == [] and standin.messages[sent["id"]].components == []


async def _refusal_to_discord_py(standin: StandIn, **message: Any) -> discord.HTTPException:
    """What discord.py raises when it sends this message to a channel of the stand-in."""
    channel = standin.add_channel(f"room-{len(standin.guild.channels)}")
    client = discord.http.HTTPClient(discord.utils.MISSING)
    discord.http.Route.BASE = standin.api_base
    try:
        await client.static_login(standin.token)
        with pytest.raises(discord.HTTPException) as refused:
            await client.send_message(int(channel.id), params=discord.http.handle_message_parameters(**message))
    finally:
        discord.http.Route.BASE = "https://discord.com/api/v10"
        await client.close()
    return refused.value


async def test_discord_py_sees_the_refusal_as_an_http_exception_naming_the_field(standin):
    """What the bot gets: discord.py's HTTPException with Discord's code and the field's path."""
    refused = await _refusal_to_discord_py(standin, content="x" * 2001)
    assert refused.status == 400 and refused.code == 50035
    assert "In content: Must be 2000 or fewer in length." in str(refused)


# -- interaction responses --------------------------------------------------------------------


def _interaction(standin: StandIn, *, kind: int = APPLICATION_COMMAND):
    channel = standin.add_channel(f"room-{len(standin.guild.channels)}")
    user = standin.add_member("alice").user
    return standin.new_interaction(
        type=kind, data={"id": "1", "name": "x", "type": 1}, user=user, channel_id=channel.id
    )


def _callback_url(standin: StandIn, interaction) -> str:
    return f"{standin.api_base}/interactions/{interaction.id}/{interaction.token}/callback"


def _text_input(**fields: Any) -> dict[str, Any]:
    return {"type": 4, "custom_id": "t", "style": 1, "label": "Answer", **fields}


def _modal(*components: dict[str, Any], title: str = "Form") -> dict[str, Any]:
    return {"type": 9, "data": {"custom_id": "m", "title": title, "components": list(components)}}


MODAL_CASES = {
    "title": (
        _modal(_row(_text_input()), title="t" * 46),
        ("data", "title"),
        _modal(_row(_text_input()), title="t" * 45),
    ),
    "components": (
        _modal(*[_row(_text_input(custom_id=f"t{i}")) for i in range(6)]),
        ("data", "components"),
        _modal(*[_row(_text_input(custom_id=f"t{i}")) for i in range(5)]),
    ),
    "text input label": (
        _modal(_row(_text_input(label="l" * 46))),
        ("data", "components", 0, "components", 0, "label"),
        _modal(_row(_text_input(label="l" * 45))),
    ),
    "text input placeholder": (
        _modal(_row(_text_input(placeholder="p" * 101))),
        ("data", "components", 0, "components", 0, "placeholder"),
        _modal(_row(_text_input(placeholder="p" * 100))),
    ),
    "text input value": (
        _modal(_row(_text_input(value="v" * 4001))),
        ("data", "components", 0, "components", 0, "value"),
        _modal(_row(_text_input(value="v" * 4000))),
    ),
    "text input max_length": (
        _modal(_row(_text_input(max_length=4001))),
        ("data", "components", 0, "components", 0, "max_length"),
        _modal(_row(_text_input(max_length=4000))),
    ),
    "two inputs in a row": (
        _modal(_row(_text_input(custom_id="a"), _text_input(custom_id="b"))),
        ("data", "components", 0, "components"),
        None,
    ),
    "label": (
        _modal({"type": 18, "label": "l" * 46, "component": _text_input(label=None)}),
        ("data", "components", 0, "label"),
        _modal({"type": 18, "label": "l" * 45, "component": _text_input(label=None)}),
    ),
    "label description": (
        _modal({"type": 18, "label": "l", "description": "d" * 101, "component": _text_input(label=None)}),
        ("data", "components", 0, "description"),
        _modal({"type": 18, "label": "l", "description": "d" * 100, "component": _text_input(label=None)}),
    ),
}


@pytest.mark.parametrize("case", MODAL_CASES, ids=list(MODAL_CASES))
async def test_modals_past_a_limit_are_refused_and_leave_the_interaction_unanswered(standin, http, case):
    over, path, at_limit = MODAL_CASES[case]
    interaction = _interaction(standin)
    status, answer = await _call(http, "POST", _callback_url(standin, interaction), over)
    _refused_at(status, answer, *path)
    assert interaction.response_type is None and interaction.modal is None  # the form never opened
    if at_limit is not None:
        status, answer = await _call(http, "POST", _callback_url(standin, interaction), at_limit)
        assert status == 204, answer
        assert interaction.modal["title"] == at_limit["data"]["title"]


async def test_interaction_messages_followups_and_edits_are_held_to_the_message_limits(standin, http):
    interaction = _interaction(standin)
    url = _callback_url(standin, interaction)
    status, answer = await _call(http, "POST", url, {"type": 4, "data": {"content": "x" * 2001}})
    _refused_at(status, answer, "data", "content")
    status, _ = await _call(http, "POST", url, {"type": 4, "data": {"content": "fine"}})
    assert status == 204
    webhook = f"{standin.api_base}/webhooks/{standin.application_id}/{interaction.token}"
    status, answer = await _call(http, "POST", webhook, {"embeds": [_embed(title="t" * 257)]})
    _refused_at(status, answer, "embeds", 0, "title")
    status, answer = await _call(http, "PATCH", f"{webhook}/messages/@original", {"content": "x" * 2001})
    _refused_at(status, answer, "content")
    assert interaction.original.content == "fine"


@pytest.mark.parametrize(
    ("choices", "path"),
    [
        ([{"name": f"c{i}", "value": f"v{i}"} for i in range(26)], ("data", "choices")),
        ([{"name": "n" * 101, "value": "v"}], ("data", "choices", 0, "name")),
        ([{"name": "", "value": "v"}], ("data", "choices", 0, "name")),
        ([{"name": "n", "value": "v" * 101}], ("data", "choices", 0, "value")),
    ],
    ids=["26 choices", "name 101", "empty name", "value 101"],
)
async def test_autocomplete_choices_past_a_limit_are_refused(standin, http, choices, path):
    interaction = _interaction(standin, kind=AUTOCOMPLETE_INTERACTION)
    url = _callback_url(standin, interaction)
    status, answer = await _call(http, "POST", url, {"type": 8, "data": {"choices": choices}})
    _refused_at(status, answer, *path)
    at_limit = [{"name": "n" * 100, "value": f"{i:03}" + "v" * 97} for i in range(25)]
    status, _ = await _call(http, "POST", url, {"type": 8, "data": {"choices": at_limit}})
    assert status == 204 and len(interaction.choices) == 25


# -- the first followup after a deferral -----------------------------------------------------


async def test_the_first_followup_after_a_defer_keeps_the_defers_visibility(standin, http):
    """Discord: "flags ... will be ignored, and the ephemerality of the message will be determined
    by the flags value in your original ACK" for the first followup of a deferred response."""
    public, private = _interaction(standin), _interaction(standin)
    for interaction, flags in ((public, 0), (private, 64)):
        status, _ = await _call(
            http, "POST", _callback_url(standin, interaction), {"type": 5, "data": {"flags": flags}}
        )
        assert status == 204
    webhook = f"{standin.api_base}/webhooks/{standin.application_id}"
    status, sent = await _call(http, "POST", f"{webhook}/{public.token}?wait=true", {"content": "no", "flags": 64})
    assert status == 200 and sent["id"] == public.original.id and not sent["flags"] & 64  # still public
    status, sent = await _call(http, "POST", f"{webhook}/{private.token}?wait=true", {"content": "yes", "flags": 0})
    assert status == 200 and sent["id"] == private.original.id and sent["flags"] & 64  # still private
    # With the public "thinking" message deleted first, a followup is a new message with its own flags.
    again = _interaction(standin)
    await _call(http, "POST", _callback_url(standin, again), {"type": 5, "data": {}})
    async with http.delete(f"{webhook}/{again.token}/messages/@original") as response:
        assert response.status == 204
    status, sent = await _call(http, "POST", f"{webhook}/{again.token}?wait=true", {"content": "mine", "flags": 64})
    assert status == 200 and sent["id"] != again.original.id and sent["flags"] & 64
    assert again.original.deleted and again.followups[-1].ephemeral


# -- the 15 minutes of an interaction token ---------------------------------------------------


async def test_followups_and_edits_are_refused_fifteen_minutes_after_the_interaction(standin, http):
    interaction = _interaction(standin)
    status, _ = await _call(http, "POST", _callback_url(standin, interaction), {"type": 5, "data": {"flags": 64}})
    assert status == 204
    webhook = f"{standin.api_base}/webhooks/{standin.application_id}/{interaction.token}"
    standin.clock.advance(15 * 60 - 5)  # nearly 15 minutes on: still valid
    status, _ = await _call(http, "PATCH", f"{webhook}/messages/@original", {"content": "step 1"})
    assert status == 200
    standin.clock.advance(10)  # past them
    for method, url, body in (
        ("PATCH", f"{webhook}/messages/@original", {"content": "step 2"}),
        ("POST", webhook, {"content": "done"}),
        ("GET", f"{webhook}/messages/@original", None),
    ):
        status, answer = await _call(http, method, url, body)
        assert (status, answer["code"], answer["message"]) == (401, 50027, "Invalid Webhook Token")
    assert interaction.original.content == "step 1"


async def test_the_clock_also_closes_the_three_second_window(standin, http):
    interaction = _interaction(standin)
    standin.clock.advance(3.5)
    status, answer = await _call(
        http, "POST", _callback_url(standin, interaction), {"type": 4, "data": {"content": "hi"}}
    )
    assert (status, answer["code"]) == (404, 10062)


# -- application commands ---------------------------------------------------------------------


def _command(name: str = "rank", **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": 1, "description": "Show a rank", **fields}


def _option(name: str = "member", **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": 3, "description": "who", **fields}


COMMAND_CASES = {
    "uppercase name": ([_command("Rank")], (0, "name"), [_command("rank")]),
    "name with a space": ([_command("my rank")], (0, "name"), [_command("my-rank")]),
    "name of 33": ([_command("r" * 33)], (0, "name"), [_command("r" * 32)]),
    "empty description": ([_command(description="")], (0, "description"), [_command(description="d")]),
    "description of 101": ([_command(description="d" * 101)], (0, "description"), [_command(description="d" * 100)]),
    "26 options": (
        [_command(options=[_option(f"o{i}") for i in range(26)])],
        (0, "options"),
        [_command(options=[_option(f"o{i}") for i in range(25)])],
    ),
    "option name": (
        [_command(options=[_option("Member")])],
        (0, "options", 0, "name"),
        [_command(options=[_option()])],
    ),
    "option description": (
        [_command(options=[_option(description="d" * 101)])],
        (0, "options", 0, "description"),
        [_command(options=[_option(description="d" * 100)])],
    ),
    "required after optional": (
        [_command(options=[_option("a"), _option("b", required=True)])],
        (0, "options", 1, "required"),
        [_command(options=[_option("b", required=True), _option("a")])],
    ),
    "26 choices": (
        [_command(options=[_option(choices=[{"name": f"c{i}", "value": f"v{i}"} for i in range(26)])])],
        (0, "options", 0, "choices"),
        [_command(options=[_option(choices=[{"name": f"c{i}", "value": f"v{i}"} for i in range(25)])])],
    ),
    "choice name of 101": (
        [_command(options=[_option(choices=[{"name": "c" * 101, "value": "v"}])])],
        (0, "options", 0, "choices", 0, "name"),
        [_command(options=[_option(choices=[{"name": "c" * 100, "value": "v"}])])],
    ),
    "max_length of 6001": (
        [_command(options=[_option(max_length=6001)])],
        (0, "options", 0, "max_length"),
        [_command(options=[_option(max_length=6000)])],
    ),
    "subcommand option name": (
        [_command(options=[{"name": "show", "type": 1, "description": "d", "options": [_option("Who")]}])],
        (0, "options", 0, "options", 0, "name"),
        [_command(options=[{"name": "show", "type": 1, "description": "d", "options": [_option("who")]}])],
    ),
}


@pytest.mark.parametrize("case", COMMAND_CASES, ids=list(COMMAND_CASES))
async def test_commands_past_a_limit_are_refused_and_nothing_is_registered(standin, http, case):
    over, path, at_limit = COMMAND_CASES[case]
    url = f"{standin.api_base}/applications/{standin.application_id}/guilds/{standin.guild.id}/commands"
    status, answer = await _call(http, "PUT", url, over)
    _refused_at(status, answer, *path)
    assert standin.commands.get(standin.guild.id) is None
    status, answer = await _call(http, "PUT", url, at_limit)
    assert status == 200, answer


async def test_a_scope_holds_at_most_100_slash_commands(standin, http):
    url = f"{standin.api_base}/applications/{standin.application_id}/commands"
    status, answer = await _call(http, "PUT", url, [_command(f"c{i}") for i in range(101)])
    assert (status, answer["code"]) == (400, 50035)
    status, _ = await _call(http, "PUT", url, [_command(f"c{i}") for i in range(100)])
    assert status == 200


def _command_of_size(size: int) -> dict[str, Any]:
    """A slash command whose names, descriptions and choice names and values add up to `size`."""
    left = size - len("big") - 100
    options: list[dict[str, Any]] = []
    while left > 0:
        name = f"o{len(options)}"
        left -= len(name) + len("who")
        choices = []
        while left > 0 and len(choices) < 25:
            take = min(left, 200)
            label = min(100, take - 1)
            choices.append({"name": f"{len(choices):02}".ljust(label, "n"), "value": "v" * (take - label)})
            left -= take
        options.append(_option(name, choices=choices))
    return _command("big", description="d" * 100, options=options)


async def test_a_command_over_8000_characters_in_all_is_refused(standin, http):
    """Names, descriptions and choices together: at most 8,000 characters a command (the longest
    localization of a field counts instead of it)."""
    url = f"{standin.api_base}/applications/{standin.application_id}/guilds/{standin.guild.id}/commands"
    over, at_limit = _command_of_size(8001), _command_of_size(8000)
    assert (limits.command_size(over), limits.command_size(at_limit)) == (8001, 8000)
    status, answer = await _call(http, "PUT", url, [_command("rank"), over])
    _refused_at(status, answer, 1)
    assert _errors_at(answer, 1) == [
        {"code": "APPLICATION_COMMAND_TOO_LARGE", "message": "Command exceeds maximum size (8000)"}
    ]
    assert standin.commands.get(standin.guild.id) is None
    status, answer = await _call(http, "PUT", url, [_command("rank"), at_limit])
    assert status == 200, answer
    # A field with localizations counts as its longest text: a shorter default does not make room.
    localized = _command_of_size(8001)
    localized["description"] = "d" * 99
    localized["description_localizations"] = {"fr": "é" * 100}
    assert limits.command_size(localized) == 8001
    status, answer = await _call(http, "PUT", url, [localized])
    _refused_at(status, answer, 0)


@pytest.mark.parametrize("name", ["xp", "naïve", "a-b_c'd", "नमस्ते", "สวัสดี", "123"])
def test_names_discord_accepts(name):
    assert limits.valid_name(name)


@pytest.mark.parametrize("name", ["", "XP", "two words", "emoji🙂", "semi;colon", "x" * 33])
def test_names_discord_refuses(name):
    assert not limits.valid_name(name)


# -- uploads --------------------------------------------------------------------------------

MIB = 1024 * 1024


async def _upload(http: aiohttp.ClientSession, url: str, sizes: list[int]) -> tuple[int, dict[str, Any]]:
    """A message with files of these sizes, as discord.py sends it (multipart, payload_json + files[n])."""
    form = aiohttp.FormData()
    listed = [{"id": i, "filename": f"f{i}.bin"} for i in range(len(sizes))]
    form.add_field(
        "payload_json", json.dumps({"content": "files", "attachments": listed}), content_type="application/json"
    )
    for i, size in enumerate(sizes):
        form.add_field(f"files[{i}]", b"\0" * size, filename=f"f{i}.bin", content_type="application/octet-stream")
    async with http.post(url, data=form) as response:
        return response.status, await response.json(content_type=None)


def _too_large(status: int, answer: dict[str, Any]) -> bool:
    return (status, answer) == (413, {"code": 40005, "message": "Request entity too large"})


async def test_a_bots_files_are_refused_past_10_mib_a_request(standin, http):
    url = f"{standin.api_base}/channels/{standin.add_channel('files').id}/messages"
    assert _too_large(*await _upload(http, url, [10 * MIB + 1]))
    assert _too_large(*await _upload(http, url, [6 * MIB, 4 * MIB + 1]))  # the request's files together
    status, sent = await _upload(http, url, [6 * MIB, 4 * MIB])
    assert status == 200 and [a["size"] for a in sent["attachments"]] == [6 * MIB, 4 * MIB]
    assert [r.errors["_errors"][0]["code"] for r in standin.refusals] == [40005, 40005]


async def test_a_boosted_server_takes_larger_files_but_not_in_dms(standin, http):
    standin.guild.premium_tier = 2
    url = f"{standin.api_base}/channels/{standin.add_channel('files').id}/messages"
    status, _ = await _upload(http, url, [10 * MIB + 1])
    assert status == 200
    assert _too_large(*await _upload(http, url, [50 * MIB + 1]))
    member = standin.add_member("dm")
    dm = standin.dm_channel_for(member.user.id)
    assert _too_large(*await _upload(http, f"{standin.api_base}/channels/{dm.id}/messages", [10 * MIB + 1]))
    assert _interaction(standin).payload["attachment_size_limit"] == 50 * MIB  # what discord.py's filesize_limit reads
    standin.guild.premium_tier = 3
    assert _interaction(standin).payload["attachment_size_limit"] == 100 * MIB


async def test_at_most_10_attachments_a_message(standin, http):
    url = f"{standin.api_base}/channels/{standin.add_channel('files').id}/messages"
    status, answer = await _upload(http, url, [1] * 11)
    assert (status, answer) == (
        400,
        {"code": 30015, "message": "Maximum number of attachments in a message reached (10)"},
    )
    status, sent = await _upload(http, url, [1] * 10)
    assert status == 200 and len(sent["attachments"]) == 10


async def test_discord_py_sees_a_file_too_large_as_413_code_40005(standin):
    big = discord.File(io.BytesIO(b"\0" * (10 * MIB + 1)), "big.bin")
    refused = await _refusal_to_discord_py(standin, file=big)
    assert (refused.status, refused.code) == (413, 40005)


@pytest.mark.parametrize(
    ("premium_type", "premium_tier", "limit"),
    [(0, 0, 10), (1, 0, 50), (2, 0, 500), (3, 0, 50), (0, 2, 50), (0, 3, 100), (3, 3, 100), (2, 3, 500)],
    ids=["none", "classic", "nitro", "basic", "none-tier2", "none-tier3", "basic-tier3", "nitro-tier3"],
)
def test_a_members_upload_limit_is_their_nitros_or_the_servers_whichever_is_larger(premium_type, premium_tier, limit):
    assert uploads.member_limit(premium_type, premium_tier) == limit * MIB


# -- scheduled events and people who are not in the server ------------------------------------


async def test_scheduled_event_descriptions_over_1000_are_refused(standin, http):
    voice = standin.add_channel("Lounge", type=2)
    url = f"{standin.api_base}/guilds/{standin.guild.id}/scheduled-events"
    body = {
        "name": "Game night",
        "entity_type": 2,
        "channel_id": voice.id,
        "privacy_level": 2,
        "scheduled_start_time": "2100-01-01T20:00:00+00:00",
    }
    status, answer = await _call(http, "POST", url, {**body, "description": "d" * 1001})
    _refused_at(status, answer, "description")
    status, answer = await _call(http, "POST", url, {**body, "name": "n" * 101})
    _refused_at(status, answer, "name")
    status, _ = await _call(http, "POST", url, {**body, "description": "d" * 1000})
    assert status == 200


async def test_someone_who_left_is_a_user_not_a_member(standin, http):
    gone = standin.add_member("gone")
    standin.remove_member(gone.user.id)
    status, answer = await _call(
        http, "GET", f"{standin.api_base}/guilds/{standin.guild.id}/members/{gone.user.id}", None
    )
    assert (status, answer["code"], answer["message"]) == (404, 10007, "Unknown Member")
    status, answer = await _call(http, "GET", f"{standin.api_base}/users/{gone.user.id}", None)
    assert status == 200 and answer["username"] == "gone" and "roles" not in answer


async def test_audit_log_reasons_over_512_characters_are_refused(standin, http):
    """discord.py sends the reason URL-encoded in X-Audit-Log-Reason; Discord takes 1-512 characters."""
    first, second = standin.add_member("first"), standin.add_member("second")
    url = f"{standin.api_base}/guilds/{standin.guild.id}/members"
    too_long = {"X-Audit-Log-Reason": quote("é" * 513, safe="/ ")}
    async with http.delete(f"{url}/{first.user.id}", headers=too_long) as response:
        answer = await response.json(content_type=None)
    _refused_at(response.status, answer, "reason")
    assert first.user.id in standin.guild.members  # not kicked
    at_limit = {"X-Audit-Log-Reason": quote("é" * 512, safe="/ ")}
    async with http.delete(f"{url}/{second.user.id}", headers=at_limit) as response:
        assert response.status == 204
    assert second.user.id not in standin.guild.members
