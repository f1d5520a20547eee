"""Interaction callbacks and the interaction webhook (followups, @original), with Discord's rules:
one acknowledgement, within 3 seconds; webhook tokens valid for 15 minutes (both measured on the
stand-in's clock, which tests advance); every message, modal and choice list within Discord's limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from standin import limits, rest, rest_messages
from standin import state as s
from standin.records import Output

if TYPE_CHECKING:
    from standin.records import Interaction
    from standin.server import StandIn

PONG, MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, AUTOCOMPLETE, MODAL = 1, 4, 5, 6, 7, 8, 9
LOADING = 1 << 7


def _window_open(standin: StandIn, interaction: Interaction) -> bool:
    return standin.clock.now() - interaction.created <= standin.interaction_window


def _check_callback(kind: int, data: dict[str, Any]) -> None:
    """Discord's limits on a callback's data, before anything is acknowledged."""
    if kind in (MESSAGE, UPDATE):
        limits.check_message(data, path=("data",))
    elif kind == AUTOCOMPLETE:
        limits.check_autocomplete(data)
    elif kind == MODAL:
        limits.check_modal(data)


async def callback(request: web.Request) -> web.Response:
    standin: StandIn = rest.standin_of(request)
    interaction = standin.interactions.get(request.match_info["interaction_id"])
    if (
        interaction is None
        or interaction.token != request.match_info["token"]
        or not _window_open(standin, interaction)
    ):
        raise rest.DiscordError(404, 10062, "Unknown interaction")
    if interaction.response_type is not None:
        raise rest.DiscordError(400, 40060, "Interaction has already been acknowledged.")
    channel = standin.channel(interaction.channel_id)
    body, files = await rest.read_body(request, channel)
    kind = int(body["type"])
    data = body.get("data") or {}
    _check_callback(kind, data)
    interaction.response_type = kind
    interaction.responded = standin.clock.now()
    resource: dict[str, Any] | None = None

    if kind in (MESSAGE, DEFERRED_MESSAGE):
        if channel is None:
            raise rest.fail(rest.UNKNOWN_CHANNEL)
        message = rest_messages.message_from_body(standin, channel, data, files)
        message.interaction_id = interaction.id
        message.type = 20  # CHAT_INPUT_COMMAND reply
        if kind == DEFERRED_MESSAGE:
            message.flags |= LOADING
        interaction.original = message
        standin.post_message(message, dispatch=not message.ephemeral)
        resource = {"type": kind, "message": message.payload(standin.base_url)}
        if kind == MESSAGE:
            interaction.answered.set()
            standin.emit(Output("response", message=message, interaction_id=interaction.id))
        else:
            standin.emit(Output("deferred", message=message, interaction_id=interaction.id))
    elif kind == UPDATE:
        if interaction.message is None:
            raise rest.DiscordError(400, 50035, "Invalid Form Body: no message to update")
        rest_messages.apply_edit(interaction.message, data, files)
        interaction.original = interaction.message
        interaction.answered.set()
        standin.emit(Output("update", message=interaction.message, interaction_id=interaction.id))
        resource = {"type": kind, "message": interaction.message.payload(standin.base_url)}
    elif kind == DEFERRED_UPDATE:
        interaction.original = interaction.message
        standin.emit(Output("deferred_update", message=interaction.message, interaction_id=interaction.id))
        resource = {"type": kind}
    elif kind == AUTOCOMPLETE:
        interaction.choices = data.get("choices", [])
        interaction.answered.set()
        standin.emit(Output("autocomplete", data={"choices": interaction.choices}, interaction_id=interaction.id))
        resource = {"type": kind}
    elif kind == MODAL:
        interaction.modal = data
        interaction.answered.set()
        standin.emit(Output("modal", data=data, interaction_id=interaction.id))
        resource = {"type": kind}
    elif kind != PONG:
        raise rest.DiscordError(400, 50035, f"Invalid Form Body: unknown callback type {kind}")

    if request.query.get("with_response") not in ("1", "true", "True"):
        return rest.reply(None, 204)
    original = interaction.original
    return rest.reply(
        {
            "interaction": {
                "id": interaction.id,
                "type": interaction.type,
                "response_message_id": original.id if original else None,
                "response_message_loading": kind == DEFERRED_MESSAGE,
                "response_message_ephemeral": bool(original and original.ephemeral),
            },
            "resource": resource,
        }
    )


def _by_token(request: web.Request) -> Interaction:
    standin: StandIn = rest.standin_of(request)
    if request.match_info["app_id"] != standin.application_id:
        raise rest.DiscordError(404, 10015, "Unknown Webhook")
    interaction = standin.interaction_by_token(request.match_info["token"])
    if interaction is None or standin.clock.now() - interaction.created > standin.webhook_token_ttl:
        raise rest.DiscordError(401, 50027, "Invalid Webhook Token")
    return interaction


def _target(request: web.Request, interaction: Interaction) -> s.Message:
    message_id = request.match_info["message_id"]
    if message_id == "@original":
        if interaction.original is None or interaction.original.deleted:  # deleted: gone, as on Discord
            raise rest.fail(rest.UNKNOWN_MESSAGE)
        return interaction.original
    standin: StandIn = rest.standin_of(request)
    message = standin.messages.get(message_id)
    if message is None or message.deleted:
        raise rest.fail(rest.UNKNOWN_MESSAGE)
    return message


async def get_webhook_message(request: web.Request) -> web.Response:
    interaction = _by_token(request)
    return rest.reply(_target(request, interaction).payload(rest.standin_of(request).base_url))


async def edit_webhook_message(request: web.Request) -> web.Response:
    standin: StandIn = rest.standin_of(request)
    interaction = _by_token(request)
    message = _target(request, interaction)
    body, files = await rest.read_body(request, standin.channel(interaction.channel_id))
    limits.check_message(body)
    rest_messages.apply_edit(message, body, files)
    if not message.ephemeral:
        standin.gateway.dispatch("MESSAGE_UPDATE", message.payload(standin.base_url))
    interaction.answered.set()
    standin.emit(Output("edit", message=message, interaction_id=interaction.id))
    return rest.reply(message.payload(standin.base_url))


async def delete_webhook_message(request: web.Request) -> web.Response:
    standin: StandIn = rest.standin_of(request)
    interaction = _by_token(request)
    message = _target(request, interaction)
    message.deleted = True
    if not message.ephemeral:
        standin.gateway.dispatch(
            "MESSAGE_DELETE", {"id": message.id, "channel_id": message.channel_id, "guild_id": message.guild_id}
        )
    standin.emit(Output("delete", message=message, interaction_id=interaction.id))
    return rest.reply(None, 204)


async def followup(request: web.Request) -> web.Response:
    standin: StandIn = rest.standin_of(request)
    interaction = _by_token(request)
    if interaction.response_type is None:
        raise rest.DiscordError(404, 10062, "Unknown interaction")
    channel = standin.channel(interaction.channel_id)
    if channel is None:
        raise rest.fail(rest.UNKNOWN_CHANNEL)
    body, files = await rest.read_body(request, channel)
    limits.check_message(body)
    original = interaction.original
    if (
        original is not None
        and not original.deleted
        and original.flags & LOADING
        and interaction.response_type == DEFERRED_MESSAGE
    ):
        # The first followup after a deferral fills in the "thinking" message, as on Discord: "the
        # flags field will be ignored, and the ephemerality of the message will be determined by
        # the flags value in your original ACK" (a public defer stays public, ephemeral=True or not).
        message = original
        rest_messages.apply_edit(message, body, files)
        if not message.ephemeral:
            standin.gateway.dispatch("MESSAGE_UPDATE", message.payload(standin.base_url))
    else:
        message = rest_messages.message_from_body(standin, channel, body, files)
        message.webhook_id = standin.application_id
        standin.post_message(message, dispatch=not message.ephemeral)
    interaction.followups.append(message)
    interaction.answered.set()
    standin.emit(Output("followup", message=message, interaction_id=interaction.id))
    if request.query.get("wait") in ("true", "1", "True"):
        return rest.reply(message.payload(standin.base_url))
    return rest.reply(None, 204)


def interaction_routes(r: web.UrlDispatcher, api: str) -> None:
    r.add_post(f"{api}/interactions/{{interaction_id}}/{{token}}/callback", callback)
    w = f"{api}/webhooks/{{app_id}}/{{token}}"
    r.add_post(w, followup)
    r.add_get(f"{w}/messages/{{message_id}}", get_webhook_message)
    r.add_patch(f"{w}/messages/{{message_id}}", edit_webhook_message)
    r.add_delete(f"{w}/messages/{{message_id}}", delete_webhook_message)
