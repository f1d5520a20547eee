"""User-facing errors and the one app-command error handler: a clear ephemeral message for what we
expect, a logged reference id for what we do not. Never a traceback, never silence."""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from bot.ui.echo import echo
from bot.ui.progress import ELSEWHERE_NOTE, tell_elsewhere, token_expired
from db.faults import is_outage

log = logging.getLogger(__name__)


class UserFacingError(app_commands.AppCommandError):
    """An expected failure whose message is shown to the member as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(UserFacingError):
    pass


class BadInput(UserFacingError):
    pass


class NotAllowed(UserFacingError):
    pass


DATABASE_UNAVAILABLE = "The database is unavailable right now, so nothing was changed. Please try again in a minute."


class DatabaseUnavailable(app_commands.CheckFailure):
    """Raised before a command runs while database writes are known to be failing."""

    def __init__(self) -> None:
        super().__init__(DATABASE_UNAVAILABLE)


def _database_down(error: BaseException) -> bool:
    return is_outage(error) and not isinstance(error, discord.DiscordException)


def describe(error: BaseException) -> tuple[str, bool]:
    """The message for the member, and whether the error was expected (unexpected ones get logged)."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    if isinstance(original, UserFacingError):
        return original.message, True
    if isinstance(error, DatabaseUnavailable):
        return DATABASE_UNAVAILABLE, True
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: you can use this again in {error.retry_after:.0f} s.", True
    if isinstance(error, app_commands.MissingPermissions):
        missing = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
        return f"You need the {missing} permission to do that.", True
    if isinstance(error, (app_commands.MissingRole, app_commands.MissingAnyRole)):
        return "You don't have the role this command needs.", True
    if isinstance(error, app_commands.BotMissingPermissions):
        missing = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
        return f"I need the {missing} permission for that; ask an admin to grant it.", True
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works inside the server.", True
    if isinstance(error, (app_commands.CommandNotFound, app_commands.CommandSignatureMismatch)):
        return "This command changed since your app loaded it; please try again in a minute.", True
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command.", True
    if isinstance(error, app_commands.TransformerError):
        return f"'{echo(str(error.value), 40)}' is not a valid {error.type.name.lower().replace('_', ' ')}.", True
    if isinstance(original, discord.Forbidden):
        return "Discord refused that: I'm missing a permission or the member is above my role.", True
    if _database_down(original):
        return DATABASE_UNAVAILABLE, True
    return "", False


# Told of every failure shown to a member (the interaction's id, the message), before it is sent:
# the sandbox marks those answers. Listeners must not raise or block.
error_listeners: list[Callable[[int, str], None]] = []


async def send_ephemeral(interaction: discord.Interaction[Any], message: str) -> None:
    """`message` for the member's eyes only, whatever the command had already answered."""
    try:
        if interaction.response.is_done():
            if not await _clear_public_thinking(interaction):
                # The public "thinking" message stays: a followup would fill it in for everyone, so
                # the member is told by DM (never in the channel) rather than not at all.
                if await tell_elsewhere(interaction, message, note=ELSEWHERE_NOTE) is None:
                    log.warning("could not tell the member about an error (interaction %s)", interaction.id)
                return
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)
    except discord.HTTPException as error:
        if token_expired(error) and await tell_elsewhere(interaction, message) is not None:
            return  # a command that failed after the token's 15 minutes: told by DM
        log.warning("could not tell the member about an error (interaction %s)", interaction.id)


async def _clear_public_thinking(interaction: discord.Interaction[Any]) -> bool:
    """After a public defer, Discord's first followup fills in the "thinking" message and keeps its
    visibility (the ephemeral flag is ignored), so a refusal would be shown to everyone: the public
    "thinking" message is deleted first, and the refusal then goes out as a private message.
    False when it is still there (Discord refused to show or delete it); gone already is cleared."""
    if interaction.response.type is not discord.InteractionResponseType.deferred_channel_message:
        return True
    try:
        original = await interaction.original_response()
        if original.flags.loading and not original.flags.ephemeral:
            await interaction.delete_original_response()
    except discord.NotFound:
        return True  # already gone (deleted meanwhile): the followup makes a new (private) message
    except discord.HTTPException as error:
        if token_expired(error):
            raise  # the caller tells them by DM
        log.info("the public thinking message of interaction %s could not be removed (%s)", interaction.id, error)
        return False
    return True


async def report(interaction: discord.Interaction[Any], error: BaseException, where: str) -> None:
    """Tell the member what went wrong; log the unexpected with a reference id they can quote."""
    message, expected = describe(error)
    if not expected:
        reference = secrets.token_hex(3)
        log.error(
            "unexpected error in %s (reference %s)",
            where,
            reference,
            exc_info=error,
            extra={"reference": reference, "command": where, "user_id": interaction.user.id},
        )
        message = f"Something went wrong on our side (reference {reference}). The staff can look it up."
    for listener in error_listeners:
        listener(interaction.id, message)
    await send_ephemeral(interaction, message)


async def on_app_command_error(interaction: discord.Interaction[Any], error: app_commands.AppCommandError) -> None:
    command = interaction.command.qualified_name if interaction.command else "?"
    await report(interaction, error, f"/{command}")


async def on_view_error(interaction: discord.Interaction[Any], error: Exception, item: Any) -> None:
    """The same treatment for buttons, selects and modals."""
    custom_id = getattr(item, "custom_id", None) or type(item).__name__
    await report(interaction, error, f"component {custom_id}")


def reported(where: str) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """For a persistent button's callback (a DynamicItem, whose errors discord.py only logs): the
    member gets the same clear message as a command's error would give."""

    def wrap(callback: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(callback)
        async def run(self: Any, interaction: discord.Interaction[Any]) -> Any:
            try:
                return await callback(self, interaction)
            except Exception as error:  # reported to the member, logged if unexpected
                await report(interaction, error, where)
                return None

        return run

    return wrap
