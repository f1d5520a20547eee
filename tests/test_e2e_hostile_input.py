"""Hostile input: every slash command, with the longest values its options allow (mentions, markdown,
right-to-left marks and SQL in every string), from a community in the longest-named time zone, with
members, roles, channels, pathways and achievements named as long as Discord and the configuration
let them be. Every command answers, every form it opens is submitted full, every autocomplete is
typed to the end, and nothing the bot sends is refused by the stand-in as Discord would refuse it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.community import AnnouncementConfig, ModerationConfig, XPConfig
from bot.core.config import load_achievement_catalog
from standin import state as s
from standin.control import InvalidInvocation
from standin.replies import NoAnswer, Reply, answer

ZONE = "America/Argentina/ComodRivadavia"  # the longest IANA name (32 characters)
HOSTILE = "\u202e<@&1> @everyone `;DROP TABLE users;--` **b** __u__ ||s|| ~~t~~ <#1> > q "
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11
OPTION_STRING_MAX = 6000  # a string option's longest value when the command sets no max_length
INTEGER_MAX = 2**53 - 1  # Discord's largest INTEGER option
# The accepted pass's dates (the form's start is a day ahead).
DATES = {
    "registration_deadline": timedelta(hours=12),
    "repeat_until": timedelta(days=60),
    "start": timedelta(days=2),
    "end": timedelta(days=2, hours=3),
}
# These change who is in the server, so they run last (in this order).
LAST = ["mod kick", "mod ban", "erase"]


def longest(length: int) -> str:
    return (HOSTILE * (length // len(HOSTILE) + 1))[:length]


def leaf_commands(commands: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every invocable slash command path with its options ("mod case show", [...])."""
    found: list[tuple[str, list[dict[str, Any]]]] = []

    def walk(path: str, options: list[dict[str, Any]]) -> None:
        subs = [o for o in options if o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)]
        if not subs:
            found.append((path, options))
        for sub in subs:
            walk(f"{path} {sub['name']}", sub.get("options", []))

    for command in commands:
        if command.get("type", 1) == 1:
            walk(command["name"], command.get("options", []))
    return sorted(found, key=lambda item: (LAST.index(item[0]) if item[0] in LAST else -1, item[0]))


class Hostile:
    """The guild's longest things, and the values to fill each option and form with: the longest
    hostile text everywhere (`valid=False`), or the longest values the bot accepts (`valid=True`:
    the first autocomplete suggestion, a duration, a date), to get past the first refusal."""

    def __init__(self, harness: Any, *, valid: bool) -> None:
        standin, demo = harness.standin, harness.demo
        self.standin, self.valid = standin, valid
        self.target = demo.new_member("t" * 32)  # Discord's usernames: 2-32 characters
        self.target.member.user.global_name = longest(32)
        self.target.member.nick = longest(32)
        self.role = standin.add_role(longest(100), position=5)  # role names: up to 100
        self.channel = standin.add_channel("c" * 100)  # channel names: up to 100
        self.voice = demo.voice

    def value(self, option: dict[str, Any], suggested: Any = None) -> Any:
        kind = option["type"]
        if option.get("choices"):
            return max((c["value"] for c in option["choices"]), key=lambda v: (len(str(v)), str(v)))
        if self.valid and suggested is not None:
            return suggested
        if kind == STRING:
            if self.valid and option["name"] == "duration":
                return "1w6d23h59m"
            if self.valid and option["name"] in DATES:
                return (datetime.now(ZoneInfo(ZONE)) + DATES[option["name"]]).strftime("%Y-%m-%d %H:%M")
            return longest(option.get("max_length", OPTION_STRING_MAX))
        if kind == INTEGER:
            return option.get("max_value", 1 if self.valid else INTEGER_MAX)
        if kind == NUMBER:
            return float(option.get("max_value", 2**53))
        if kind == BOOLEAN:
            return True
        if kind in (USER, MENTIONABLE):
            return self.target
        if kind == ROLE:
            return self.role
        if kind == CHANNEL:
            types = option.get("channel_types") or [s.TEXT]
            return self.voice if s.TEXT not in types and s.VOICE in types else self.channel
        if kind == ATTACHMENT:  # a file with a long name, rows of hostile names in it
            name = ("x" * 96 + ".csv") if not self.valid else "export.csv"
            rows = "".join(f"{100_000_000_000_000_000 + i},{longest(32)},{i * 10}\n" for i in range(50))
            return (name, ("id,username,xp\n" + rows).encode())
        raise AssertionError(f"no hostile value for option type {kind} ({option['name']})")

    def form(self, modal: dict[str, Any]) -> dict[str, str]:
        """Every text input of a form, filled to its maximum (with a date, a number where one is asked)."""
        values = {}
        soon = datetime.now(ZoneInfo(ZONE)) + timedelta(days=1)
        for row in modal.get("components", []):
            inputs = [row["component"]] if row.get("type") == 18 else row.get("components", [])
            for component in inputs:
                if component.get("type") != 4:
                    continue
                size = component.get("max_length", 4000)
                label = (row.get("label") or component.get("label") or "").lower()
                text = longest(size)
                if self.valid and label.startswith("start"):
                    text = soon.strftime("%Y-%m-%d %H:%M")
                elif self.valid and label.startswith("end"):
                    text = (soon + timedelta(days=13, hours=23)).strftime("%Y-%m-%d %H:%M")
                elif self.valid and ("places" in label or "rating" in label or "points" in label):
                    text = "5" * size if "places" in label else "5" if "rating" in label else "100"[:size]
                values[component["custom_id"]] = text
        return values


async def start(harness: Any, tmp_path: Path) -> Any:
    demo = harness.demo
    modlog = harness.standin.add_channel("mod-log")
    mute = harness.standin.add_role("Muted", position=4)
    catalog = tmp_path / "achievements.toml"
    long_name = longest(100).replace('"', "'").replace("\\", "/")
    catalog.write_text(
        "[[achievement]]\n"
        f'id = "{"a" * 64}"\n'
        f'name = """{long_name}"""\n'
        f'description = """{longest(500)}"""\n'
        'requirements = { type = "messages", amount = 1 }\n'
        "[[achievement]]\n"
        'id = "hidden-one"\n'
        'name = "Hidden One"\n'
        "hidden = true\n"
        'requirements = { type = "messages", amount = 2 }\n',
        encoding="utf-8",
    )
    community = demo.community_config(
        xp=XPConfig(
            timezone=ZONE,
            message_min=20,
            message_max=20,
            cooldown_seconds=0,
            rank_titles={1: longest(100), 5: longest(100), 50: longest(100)},
        ),
        announcements=AnnouncementConfig(
            general_channel_id=int(demo.general.id),
            mod_log_channel_id=int(modlog.id),
            level_up_template=longest(1500 - 33) + " {member} {level}{pathway} {rank}",
        ),
        moderation=ModerationConfig(mute_role_id=int(mute.id), reasons=[f"{i:02} {longest(97)}" for i in range(25)]),
        achievements={"catalog": catalog},
    )
    pathways = [p.model_copy(update={"name": f"{p.id} {longest(100 - len(p.id) - 1)}"}) for p in community.pathways]
    community = community.model_copy(update={"pathways": pathways})
    load_achievement_catalog(community, tmp_path)
    harness.community = community
    return await harness.start_bot()


async def settled(bot: Any, timeout: float = 30.0) -> None:
    """Until the outbox has nothing pending (the DMs, modlog entries and roles the commands queued)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await bot.pool.fetchval("SELECT count(*) FROM outbox WHERE status = 'pending' AND attempts = 0"):
        if loop.time() > deadline:
            return
        await asyncio.sleep(0.1)


class Run:
    """One pass over every command (and what its replies offer), collecting what went unanswered."""

    def __init__(self, harness: Any, hostile: Hostile, actor: Any) -> None:
        self.harness, self.hostile, self.actor = harness, hostile, actor
        self.standin = harness.standin
        self.unanswered: list[str] = []
        self.answered: list[str] = []
        self.clicked: set[tuple[str, str]] = set()

    async def command(self, path: str, definitions: list[dict[str, Any]]) -> None:
        options: dict[str, Any] = {}
        for definition in definitions:
            options[definition["name"]] = self.hostile.value(definition)
        for definition in definitions:
            if not definition.get("autocomplete"):
                continue
            name = definition["name"]
            others = {k: v for k, v in options.items() if k != name}
            for typed in (str(options[name]), ""):  # typed to the end, and nothing typed yet
                try:
                    choices = await self.actor.autocomplete(path, name, typed, timeout=15, **others)
                except NoAnswer:
                    self.unanswered.append(f"/{path} autocomplete {name}")
                    continue
                if typed == "" and choices:
                    options[name] = self.hostile.value(definition, suggested=choices[0]["value"])
        try:
            reply = await answer(self.standin, self.actor.invoke(path, **options), timeout=20)
        except InvalidInvocation as refused:  # the client's own checks: a bug in this test
            raise AssertionError(f"/{path}: {refused}") from None
        except NoAnswer:
            self.unanswered.append(f"/{path}")
            return
        self.answered.append(path)
        await self.follow(f"/{path}", reply, self.actor)

    async def follow(self, where: str, reply: Reply, actor: Any) -> None:
        """Submit the form a reply opened, filled to the maximum."""
        if reply.modal is None:
            return
        try:
            await actor.submit(reply, self.hostile.form(reply.modal), timeout=20)
        except NoAnswer:
            self.unanswered.append(f"{where} (its form)")

    async def buttons(self) -> None:
        """Click every button the bot has posted (in channels as the actor, in DMs as the recipient)."""
        standin = self.standin
        people = {a.id: a for a in (self.actor, self.hostile.target)}
        for message in list(standin.messages.values()):
            if message.deleted or message.author.id != standin.bot_user.id:
                continue
            dm = next((c for c in standin.dm_channels.values() if c.id == message.channel_id), None)
            who = people.get(dm.recipient_id) if dm is not None else self.actor
            if who is None:
                continue
            for row in message.components:
                for component in row.get("components", []):
                    key = (message.id, component.get("custom_id") or "")
                    if component.get("type") != 2 or component.get("style") == 5 or key in self.clicked:
                        continue
                    self.clicked.add(key)
                    where = f"button {component.get('label')!r}"
                    try:
                        reply = await who.click(message, component["custom_id"], timeout=20)
                    except LookupError:  # an earlier click changed this message's buttons
                        continue
                    except NoAnswer:
                        self.unanswered.append(where)
                        continue
                    await self.follow(where, reply, who)


async def run_every_command(harness: Any, tmp_path: Path, *, valid: bool) -> Run:
    bot = await start(harness, tmp_path)
    hostile = Hostile(harness, valid=valid)
    boss = harness.demo.new_member("boss", roles=[harness.demo.staff_roles[1]])  # an administrator
    boss.say(longest(2000))  # some history: XP, a message to purge, stats to chart
    hostile.target.say(longest(2000))
    await bot.flush_all()
    standin = harness.standin
    leaves = leaf_commands(standin.commands.get(standin.guild.id, []) + standin.commands.get(None, []))
    assert len(leaves) > 40, [path for path, _ in leaves]
    run = Run(harness, hostile, boss)
    for path, definitions in leaves:
        await run.command(path, definitions)
        if path == "mod warn":
            await settled(bot)
            await run.buttons()  # the warning's DM (Appeal), then the appeal's Accept / Deny
            await settled(bot)
            await run.buttons()
    await settled(bot)
    await run.buttons()
    await settled(bot)
    return run


def assert_nothing_refused(harness: Any, run: Run) -> None:
    refused = [f"{r.method} {r.path}: {r.errors}" for r in harness.standin.refusals]
    assert refused == [], "\n".join(refused)
    assert run.unanswered == []


async def test_every_command_with_its_longest_hostile_input_in_a_long_named_zone_stays_within_discords_limits(
    harness, tmp_path
):
    run = await run_every_command(harness, tmp_path, valid=False)
    assert_nothing_refused(harness, run)
    assert {"event create", "mydata", "pathway join", "mod warn", "achievement grant"} <= set(run.answered)


async def test_every_command_with_its_longest_accepted_input_in_a_long_named_zone_stays_within_discords_limits(
    harness, tmp_path
):
    run = await run_every_command(harness, tmp_path, valid=True)
    assert_nothing_refused(harness, run)
    assert run.clicked  # the replies' and announcements' buttons were tried too
    events = await harness.bot.pool.fetch("SELECT title FROM events")
    assert len(events) == 1 and len(events[0]["title"]) == 100  # the form got through, at its longest
