"""The stand-in's aiohttp application: every route module wired together (the top layer of the
routes; the server builds it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from standin import bans, rest_guild
from standin.control_http import add_control_routes
from standin.interactions import interaction_routes
from standin.rest import (
    API,
    STANDIN_KEY,
    create_dm,
    discord_middleware,
    get_application,
    get_attachment,
    get_avatar,
    get_channel,
    get_commands,
    get_gateway,
    get_me,
    get_user,
    put_commands,
)
from standin.rest_messages import (
    bulk_delete,
    delete_message,
    edit_message,
    get_message,
    list_messages,
    post_message,
    typing,
)

if TYPE_CHECKING:
    from standin.server import StandIn


def build_app(standin: StandIn) -> web.Application:
    app = web.Application(middlewares=[discord_middleware], client_max_size=64 * 1024 * 1024)
    app[STANDIN_KEY] = standin
    r = app.router
    r.add_get("/gateway", standin.gateway.handle)
    r.add_get("/attachments/{attachment_id}/{filename}", get_attachment)
    r.add_get("/avatars/{user_id}/{file}", get_avatar)
    r.add_get("/embed/avatars/{index}.png", get_avatar)
    r.add_get(f"{API}/users/@me", get_me)
    r.add_get(f"{API}/oauth2/applications/@me", get_application)
    r.add_get(f"{API}/applications/@me", get_application)
    r.add_get(f"{API}/gateway", get_gateway)
    r.add_get(f"{API}/gateway/bot", get_gateway)
    r.add_post(f"{API}/users/@me/channels", create_dm)
    r.add_get(f"{API}/users/{{user_id}}", get_user)
    r.add_put(f"{API}/applications/{{app_id}}/commands", put_commands)
    r.add_get(f"{API}/applications/{{app_id}}/commands", get_commands)
    r.add_put(f"{API}/applications/{{app_id}}/guilds/{{guild_id}}/commands", put_commands)
    r.add_get(f"{API}/applications/{{app_id}}/guilds/{{guild_id}}/commands", get_commands)
    r.add_get(f"{API}/channels/{{channel_id}}", get_channel)
    r.add_post(f"{API}/channels/{{channel_id}}/messages", post_message)
    r.add_get(f"{API}/channels/{{channel_id}}/messages", list_messages)
    r.add_post(f"{API}/channels/{{channel_id}}/messages/bulk-delete", bulk_delete)
    r.add_get(f"{API}/channels/{{channel_id}}/messages/{{message_id}}", get_message)
    r.add_patch(f"{API}/channels/{{channel_id}}/messages/{{message_id}}", edit_message)
    r.add_delete(f"{API}/channels/{{channel_id}}/messages/{{message_id}}", delete_message)
    r.add_post(f"{API}/channels/{{channel_id}}/typing", typing)
    guild = f"{API}/guilds/{{guild_id}}"
    r.add_get(guild, rest_guild.get_guild)
    r.add_get(f"{guild}/roles", rest_guild.get_roles)
    r.add_get(f"{guild}/channels", rest_guild.get_channels)
    r.add_get(f"{guild}/members", rest_guild.list_members)
    r.add_get(f"{guild}/members/{{user_id}}", rest_guild.get_member)
    r.add_patch(f"{guild}/members/{{user_id}}", rest_guild.edit_member)
    r.add_delete(f"{guild}/members/{{user_id}}", rest_guild.kick)
    r.add_put(f"{guild}/members/{{user_id}}/roles/{{role_id}}", rest_guild.add_member_role)
    r.add_delete(f"{guild}/members/{{user_id}}/roles/{{role_id}}", rest_guild.remove_member_role)
    r.add_get(f"{guild}/bans", bans.list_bans)
    r.add_get(f"{guild}/bans/{{user_id}}", bans.get_ban)
    r.add_put(f"{guild}/bans/{{user_id}}", bans.ban)
    r.add_delete(f"{guild}/bans/{{user_id}}", bans.unban)
    r.add_get(f"{guild}/audit-logs", bans.audit_logs)
    r.add_get(f"{guild}/scheduled-events", rest_guild.list_events)
    r.add_post(f"{guild}/scheduled-events", rest_guild.create_event)
    r.add_get(f"{guild}/scheduled-events/{{event_id}}", rest_guild.get_event)
    r.add_patch(f"{guild}/scheduled-events/{{event_id}}", rest_guild.edit_event)
    r.add_delete(f"{guild}/scheduled-events/{{event_id}}", rest_guild.delete_event)
    interaction_routes(r, API)
    add_control_routes(app, standin)
    return app
