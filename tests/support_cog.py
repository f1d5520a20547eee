"""A cog used only by the tests: commands that exercise every option type, components, modals and
each kind of failure, so the stand-in and the error handler are proven end to end."""

from __future__ import annotations

import asyncio

import asyncpg
import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import NotAllowed, on_view_error
from bot.ui.progress import tell_elsewhere

WORDS = ["apple", "apricot", "banana", "blueberry", "cherry"]


class Form(discord.ui.Modal, title="Tell us"):
    answer = discord.ui.TextInput(label="Answer", custom_id="answer")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"you said {self.answer.value}", ephemeral=True)


class Panel(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)
        self.on_error = on_view_error  # type: ignore[method-assign]

    @discord.ui.button(label="Press", custom_id="panel:press")
    async def press(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_message(f"pressed by {interaction.user.name}", ephemeral=True)

    @discord.ui.button(label="Form", custom_id="panel:form")
    async def form(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_modal(Form())

    @discord.ui.button(label="Break", custom_id="panel:break")
    async def broken(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        raise RuntimeError("the button broke")

    @discord.ui.select(custom_id="panel:fruit", options=[discord.SelectOption(label=w, value=w) for w in WORDS])
    async def fruit(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.edit_message(content=f"chose {', '.join(select.values)}", view=self)


class Probe(commands.Cog):
    tools = app_commands.Group(name="tools", description="Nested commands")
    deep = app_commands.Group(name="deep", description="A group in a group", parent=tools)

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="probe", description="Echo every option type")
    @app_commands.describe(member="a member", role="a role", channel="a channel", count="1 to 10")
    async def probe(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        role: discord.Role,
        channel: discord.TextChannel,
        count: app_commands.Range[int, 1, 10],
        ratio: float = 0.5,
        flag: bool = False,
        word: str = "none",
    ) -> None:
        await interaction.response.send_message(
            f"member={member.name} role={role.name} channel={channel.name} count={count} "
            f"ratio={ratio} flag={flag} word={word}",
            ephemeral=True,
        )

    @probe.autocomplete("word")
    async def word_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=w, value=w) for w in WORDS if w.startswith(current)]

    @tools.command(name="echo", description="Echo text")
    async def echo(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text)

    @deep.command(name="ping", description="Nested twice")
    async def deep_ping(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong from deep")

    @app_commands.command(name="panel", description="Buttons, a select and a modal")
    async def panel(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("the panel", view=Panel())

    @app_commands.command(name="slow", description="Defers, then answers")
    async def slow(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await asyncio.sleep(0.2)
        await interaction.followup.send("done thinking")

    @app_commands.command(name="late", description="Defers, then fails (after the test has aged the token)")
    async def late(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await asyncio.sleep(0.2)
        raise NotAllowed("You can't do that here.")

    @app_commands.command(name="draw", description="Defers publicly, then announces (after the test aged the token)")
    async def draw(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await asyncio.sleep(0.2)
        try:
            await interaction.followup.send("The winner is drawn.")
        except discord.HTTPException:  # the token's 15 minutes are over: the channel may read this
            await tell_elsewhere(interaction, "The winner is drawn.", public=True)

    @app_commands.command(name="boom", description="Fails unexpectedly")
    async def boom(self, interaction: discord.Interaction) -> None:
        raise RuntimeError("kaboom")

    @app_commands.command(name="refuse", description="Fails as expected")
    async def refuse(self, interaction: discord.Interaction) -> None:
        raise NotAllowed("You can't do that here.")

    @app_commands.command(name="dbdown", description="The database is down")
    async def dbdown(self, interaction: discord.Interaction) -> None:
        raise asyncpg.CannotConnectNowError("the database system is starting up")

    @app_commands.command(name="guarded", description="Needs manage guild")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def guarded(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("you may pass")

    @app_commands.command(name="once", description="Has a cooldown")
    @app_commands.checks.cooldown(1, 60)
    async def once(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("first time")


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Probe(bot))
