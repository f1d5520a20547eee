"""What a member sees of the bot's answer to an interaction (a message, a modal, choices), and
waiting for it as a member would."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from standin import state as s
from standin.render import message_text

if TYPE_CHECKING:
    from standin.records import Interaction
    from standin.server import StandIn


class NoAnswer(AssertionError):
    """The bot did not answer in time (what a member would see as 'The application did not respond')."""


@dataclass
class Reply:
    """What a member sees of the bot's answer."""

    message: s.Message | None = None
    modal: dict[str, Any] | None = None
    choices: list[dict[str, Any]] | None = None
    interaction: Interaction | None = None

    @property
    def content(self) -> str:
        return self.message.content if self.message else ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.message.embeds if self.message else []

    @property
    def embed(self) -> dict[str, Any]:
        return self.embeds[0]

    @property
    def ephemeral(self) -> bool:
        return bool(self.message and self.message.ephemeral)

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.message.components if self.message else []

    @property
    def attachments(self) -> list[s.Attachment]:
        return self.message.attachments if self.message else []

    @property
    def text(self) -> str:
        """Content and every embed's visible text, for assertions that a member would read."""

        return message_text(self.message) if self.message else ""

    def button(self, label: str) -> dict[str, Any]:
        for row in self.components:
            for component in row.get("components", []):
                if component.get("label") == label:
                    return component
        raise LookupError(f"no button labelled {label!r} in {self.components}")


async def answer(standin: StandIn, interaction: Interaction, timeout: float = 5.0) -> Reply:
    """Wait for the bot's visible answer: a message, an edit of a deferred reply, a modal or choices."""
    try:
        await asyncio.wait_for(interaction.answered.wait(), timeout)
    except TimeoutError:
        raise NoAnswer(
            f"the bot did not answer interaction {interaction.id} within {timeout}s "
            f"(acknowledged: {interaction.response_type})"
        ) from None
    message = interaction.followups[-1] if interaction.followups else interaction.original
    return Reply(message=message, modal=interaction.modal, choices=interaction.choices, interaction=interaction)
