"""The bot: start-up (database, migrations, cogs, scheduler, command sync), graceful shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import discord
from discord.ext import commands

from bot.core.config import Config, ConfigError
from bot.core.doors import Doors
from bot.core.errors import on_app_command_error
from bot.core.identity import Identity
from bot.core.leadership import Leadership
from bot.core.scheduler import LeaderScheduler
from bot.ops.maintenance import Maintenance, Retention
from bot.ops.metrics import POLL_SECONDS, Metrics
from bot.writes.activity import ActivityBuffer, SeenMessages
from bot.writes.analytics import Analytics
from bot.writes.flushes import Flush, Flushes, Spill
from bot.writes.journal import Journal
from bot.writes.outbox import OutboxWorker
from bot.writes.timers import TimerDispatcher
from bot.writes.write_path import WriteHealth
from db import migrate, users, xp
from db.faults import is_outage, one_line
from db.leader import Fence
from db.pool import Database, open_database

log = logging.getLogger(__name__)

# The collector's thresholds once the bot is ready (Python's defaults: 700, 10, 10).
GC_THRESHOLDS = (10_000, 20, 100)
# What the invite link asks for: read and answer in channels, attach rank cards, manage the reward,
# rank and pathway roles (below its own role).
BOT_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    manage_roles=True,
    manage_messages=True,  # /mod purge
    kick_members=True,
    ban_members=True,
    moderate_members=True,  # timeouts
    view_audit_log=True,  # who banned or unbanned someone in Discord's own menus (optional)
    manage_events=True,  # events mirrored as Discord scheduled events
)
# The flushes' share of the stop budget (bot.core.runner's 10 s), counted from the start of the stop: a
# periodic flush finishing, then every final flush, all by this deadline; whatever is not written
# by then goes to the local journal. The rest of the budget: workers (bot.writes.worker, 1 s), the pool
# (2 s), the embedded server.
FINAL_FLUSH_BUDGET_S = 5.0
# How long a command waits for the buffers it is about to show to be written (write_now).
WRITE_NOW_BUDGET_S = 2.0
# A full member sync runs at start-up and this often (each run a discord_sync_log row).
MEMBER_SYNC_HOURS = 6
# The pool: what the bot's features use at most at once (flushes, the outbox, commands, timers).
POOL_MAX = 10
# Analytics rows wait in memory (bounded, see bot/writes/analytics.py) and are written this often.
ANALYTICS_FLUSH_S = 10.0
# Gateway events a process that does not lead them still lets through (discord.py's own bookkeeping).
_ALWAYS_DISPATCHED = ("connect", "disconnect", "resumed", "socket_", "shard_")
# The events cut by snowflake at a planned handover: each goes to exactly one of the two processes.
_CUT_EVENTS = ("INTERACTION_CREATE", "MESSAGE_CREATE")
# What a process taking over holds while it waits for the cut (a few seconds of chat and commands).
MAX_HELD_EVENTS = 50_000
# After choosing the cut, the old leader keeps its gateway this long for events from before it.
HANDOVER_GRACE_S = 1.0
# The bot never joins voice itself (voice XP reads voice states), so voice libraries are not needed.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


MessageHook = Callable[[discord.Message], None]


_CHAT_TYPES = (discord.MessageType.default, discord.MessageType.reply)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())  # write-now, ready


def counts_as_chat(message: discord.Message, guild_id: int) -> bool:
    """A human's ordinary message in our guild (no bots, webhooks, system messages or DMs)."""
    guild = message.guild
    return (
        guild is not None
        and guild.id == guild_id
        and message.webhook_id is None
        and message.type in _CHAT_TYPES
        and isinstance(message.author, discord.Member)
        and not message.author.bot
    )


def intents_for(config: Config) -> discord.Intents:
    """Only what the features need."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.members = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = True
    intents.voice_states = True
    intents.guild_scheduled_events = True
    intents.moderation = True
    intents.presences = config.community.presences_intent
    return intents


class ConclaveBot(commands.Bot):
    def __init__(
        self,
        config: Config,
        *,
        database: Database | None = None,
        owns_database: bool | None = None,
        guild_ready_timeout: float = 2.0,
        leadership: Leadership | None = None,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents_for(config),
            help_command=None,
            guild_ready_timeout=guild_ready_timeout,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
            max_messages=1000,
        )
        self.config = config
        self.database = database
        self._owns_database = database is None if owns_database is None else owns_database
        self.pool: asyncpg.Pool = None  # type: ignore[assignment]  # set in setup_hook
        self.identity: Identity = None  # type: ignore[assignment]
        self.chat_activity: ActivityBuffer = None  # type: ignore[assignment]
        self.analytics: Analytics = None  # type: ignore[assignment]
        self.metrics: Metrics = None  # type: ignore[assignment]
        self.maintenance: Maintenance = None  # type: ignore[assignment]
        self.scheduler = LeaderScheduler(self.may_act, timezone="UTC")
        self.outbox = OutboxWorker(self)
        self.timers = TimerDispatcher(self)
        self.flush_schedule = Flushes(config.community.xp.flush_interval_seconds)
        self.write_health = WriteHealth()
        self.seen_messages = SeenMessages()
        self.refused_writes = 0  # dead-lettered since start (by every write path)
        self.message_hooks: list[MessageHook] = []
        self.after_member_sync: list[Callable[[], Awaitable[object]]] = []
        # What a feature keeps in memory about a member (a voice clock, attendance minutes), dropped
        # once /erase has erased them: called with (Discord id, users.id).
        self.erase_hooks: list[Callable[[int, str], None]] = []
        self.doors = Doors()  # what each feature offers the others (bot/core/doors.py), set as they load
        self.started_at = time.monotonic()
        self.accepting = True
        self.synced_commands: list[discord.app_commands.AppCommand] = []
        self.guild_synced = asyncio.Event()
        self._closing: asyncio.Task[None] | None = None
        self.tree.on_error = on_app_command_error
        # Leadership (bot/core/leadership.py): None runs alone, leading from the start (tests, the sandbox).
        self.leadership = leadership
        self.leading = False  # the outbox, the timers, the scheduler and command sync are started
        self.fenced = False  # the lease was lost: nothing more reaches Discord from here
        # The planned handover's cut (a snowflake): interactions and messages below it are the old
        # leader's, from it on the new one's. `cut_below`: this process handles ids < it (old leader);
        # `cut_from`: ids >= it (new leader); None: no bound on that side.
        self.cut_below: int | None = None
        self.cut_from: int | None = None
        self.release_event = "released"  # how the stop logs the lease's release ("handed_over")
        self.listening = True  # gateway events reach the listeners (False: a process taking over, until its cut)
        self.following = False  # taking over and the cut not known yet: interactions and messages are held
        self._passing = False  # an event of ours being parsed: what it dispatches goes through
        self._held: list[tuple[Callable[[dict[str, object]], None], dict[str, object]]] = []
        # The highest id of an interaction or message this process handled: a planned handover's
        # cut is the next one, so no clock (ours, the successor's or Discord's) ever places it.
        self.last_handled_id = 0
        self._ready_held = False
        self._ready_waits_for_lease = False  # the gateway was ready before this process led
        self._ready_task: asyncio.Task[None] | None = None
        if leadership is not None:  # alone (tests, the sandbox) every event is ours: nothing in the way
            for name in _CUT_EVENTS:
                parse = self._connection.parsers[name]
                self._connection.parsers[name] = lambda data, parse=parse: self._parse_if_ours(parse, data)

    @property
    def guild_id(self) -> int:
        assert self.config.community.guild_id is not None
        return self.config.community.guild_id

    @property
    def home_guild(self) -> discord.Guild | None:
        return self.get_guild(self.guild_id)

    @property
    def flushes(self) -> list[tuple[str, Flush]]:
        """The registered flushes, in the order they run."""
        return self.flush_schedule.entries

    def register_flush(
        self, name: str, flush: Flush, *, every: float | None = None, spill: Spill | None = None
    ) -> None:
        """Run `flush` every `every` seconds (default: the flush interval) and once more at shutdown;
        `spill` keeps on disk what the final flush could not write (a database outage). Flushes never
        run side by side (bot/writes/flushes.py)."""
        self.flush_schedule.register(name, flush, every=every, spill=spill)
        if self.scheduler.get_job("flush") is None:
            self.scheduler.add_job(
                self.flush_schedule.run_due,
                "interval",
                seconds=min(0.25, self.config.community.xp.flush_interval_seconds),
                id="flush",
                max_instances=1,
                coalesce=True,
                fenced=False,  # what this process counted while it led is written whatever happens
            )

    def unregister_flush(self, name: str) -> None:
        """A feature that writes this buffer itself (XP writes the chat counts with its grants)."""
        self.flush_schedule.unregister(name)

    async def write_now(self, *names: str, budget: float = WRITE_NOW_BUDGET_S) -> bool:
        """Write these buffers now (e.g. "xp": a member about to see their own figures), waiting at
        most `budget` seconds; True when they were written. During an outage nothing is tried (the
        backoff stands) and False comes back at once; a write that takes longer goes on by itself."""
        if self.write_health.down:
            return False
        task = asyncio.create_task(self.flush_schedule.run_now(set(names)), name="write-now")
        task.add_done_callback(_log_failure)
        done, _ = await asyncio.wait({task}, timeout=budget)
        return task in done and task.exception() is None and not self.write_health.down

    async def flush_all(self) -> None:
        """Write every buffer now (what the shutdown does, and what tests use to see rows at once)."""
        self.write_health.allow_now()
        await self.flush_schedule.run_all()

    async def setup_hook(self) -> None:
        settings = self.config.settings
        if self.database is None:
            self.database = await open_database(data_dir=self.config.data_dir, **settings.database_options())
        elif self.database.pool_mode is None:
            await self.database.detect(settings.database_pool_mode)
        log.info("database: %s, %s", self.database.kind, self.database.describe())
        self.pool = await self.database.create_pool(min_size=2, max_size=POOL_MAX)
        # Migrations on a connection of their own (DATABASE_DIRECT_URL when set): a big table's
        # migration may take longer than the pool's command timeout allows an ordinary statement.
        migrator = await self.database.connect(session=True)
        try:
            applied = await migrate.upgrade(migrator)
        finally:
            await migrator.close()
        if applied:
            log.info("applied %d migration(s): %s", len(applied), ", ".join(m.label for m in applied))
        async with self.pool.acquire() as conn:
            await users.sync_staff_roles(conn, [str(r) for r in self.config.community.staff_role_ids])
            await xp.sync_rank_titles(conn, self.config.community.xp.rank_titles)
            await xp.sync_timezone(conn, self.config.community.xp.timezone)
        self.identity = Identity(self.pool)
        self.chat_activity = ActivityBuffer(
            self.pool, self.identity, self.write_health, Journal(self.config.data_dir / "journal" / "activity")
        )
        self.chat_activity.load_journal()
        self.register_flush(
            "activity",
            self.chat_activity.flush,
            every=self.config.community.activity_flush_seconds,
            spill=self.chat_activity.spill,
        )
        self.analytics = Analytics(self.pool, Journal(self.config.data_dir / "journal" / "analytics"))
        self.analytics.load_journal()
        self.register_flush("analytics", self.analytics.flush, every=ANALYTICS_FLUSH_S, spill=self.analytics.spill)
        self.metrics = Metrics(self.pool, lambda: self.chat_activity.received, pool_max=POOL_MAX)
        self.metrics.leading = lambda: self.leading and not self.fenced
        self.flush_schedule.observe = self.metrics.observe_flush
        stats = self.config.community.stats
        self.maintenance = Maintenance(
            self.database.session_dsn,
            Retention(stats.analytics_retention_days, stats.outbox_retention_days, stats.pathway_cache_minutes),
            pool_mode=self.database.session_mode,
        )
        self.tree.interaction_check = self._database_answers
        for extension in self.config.community.cogs:
            await self.load_extension(extension)
        self.maintenance.schedule(self.scheduler)
        self.scheduler.add_job(
            self.metrics.poll, "interval", seconds=POLL_SECONDS, id="metrics:poll", next_run_time=datetime.now(UTC)
        )
        if stats.metrics_port:
            try:
                self.metrics.serve(stats.metrics_host, stats.metrics_port)
            except OSError as error:
                raise ConfigError(
                    f"[stats] metrics_port {stats.metrics_port} on {stats.metrics_host}: cannot listen ({error})"
                ) from None
        if self.leadership is None:
            await self.begin_leading()
        # Otherwise warm and waiting: a standby has everything but what touches Discord.

    @property
    def fence(self) -> Fence | None:
        """The lease this process holds, which the outbox, the timers and maintenance check in their
        transactions (None: running alone, no lease)."""
        return self.leadership.fence if self.leadership is not None else None

    def may_act(self) -> bool:
        """Whether this process may touch Discord or run a job with side effects right now: it leads
        (alone, or under a lease renewed within the fencing time by its own clock) and is not fenced.
        The local half of the fence: it needs no database, so it holds over a partition and the
        instant a frozen process wakes, before its renewal loop has found anything out."""
        if self.fenced or not self.leading:
            return False
        return self.leadership is None or self.leadership.fresh()

    async def begin_leading(self) -> None:
        """What only the leader runs: the scheduler (flushes, maintenance, periodic jobs), the outbox,
        the timers, and the command sync."""
        if self.leading:
            return
        self.leading = True
        self.maintenance.fence = self.fence
        self.scheduler.start()
        self.outbox.start()
        self.timers.start()
        await self.sync_commands()
        if self._ready_waits_for_lease:
            self._ready_waits_for_lease = False
            self._ready_task = asyncio.create_task(self.on_ready(), name="ready")
            self._ready_task.add_done_callback(_log_failure)

    # -- who handles which gateway event (a planned handover runs two gateways for a moment) -------

    def _ours(self, snowflake: int) -> bool:
        if self.fenced or (self.leading and self.leadership is not None and not self.leadership.fresh()):
            return False
        if self.cut_below is not None and snowflake >= self.cut_below:
            return False
        return self.cut_from is None or snowflake >= self.cut_from

    def _parse_if_ours(self, parse: Callable[[dict[str, object]], None], data: dict[str, object]) -> None:
        if self.following and not self.fenced:
            if len(self._held) < MAX_HELD_EVENTS:  # taking over: the cut is not known yet (seconds at most)
                self._held.append((parse, data))
            return
        snowflake = int(str(data["id"]))
        if self._ours(snowflake):
            self.last_handled_id = max(self.last_handled_id, snowflake)
            self._passing = True  # parsing dispatches synchronously (on_message, on_interaction)
            try:
                parse(data)
            finally:
                self._passing = False

    def dispatch(self, event_name: str, /, *args: object, **kwargs: object) -> None:
        if self.listening or self._passing or event_name.startswith(_ALWAYS_DISPATCHED):
            super().dispatch(event_name, *args, **kwargs)
        elif event_name == "ready":
            self._ready_held = True  # dispatched when this process starts handling events

    def follow(self) -> None:
        """A process taking over: its gateway connects while the leader still handles everything;
        events are held (interactions, messages) or dropped (the rest) until the cut."""
        self.listening = False
        self.following = True

    def take_events_from(self, cut: int) -> None:
        """Handle interactions and messages from snowflake `cut` on (held ones too), and every other
        event from now."""
        self.cut_from = cut
        held, self._held = self._held, []
        self.following = False
        self.listening = True
        for parse, data in held:
            self._parse_if_ours(parse, data)
        if self._ready_held:
            self._ready_held = False
            self.dispatch("ready")

    def hand_events_over(self) -> int:
        """The leader at a planned handover: interactions and messages from the returned cut on are
        the new process's. The cut is the id after the last one handled here: everything this
        process answered or counted is below it, everything it did not is the successor's (from
        the successor's held events), whatever any clock says. (Ids are Discord's, made on
        Discord's clock: a cut from this host's clock was placed wrong by as much as the two
        disagree, answering events twice or dropping them.) Every other event (a join, a ban made
        in Discord, a role, interest in a scheduled event) carries no id to cut by: this process
        goes on handling them until its gateway closes, past the moment the successor takes its
        cut, so none falls between the two; their handlers take each one once however many
        processes see it (README "Standby and failover")."""
        cut = self.last_handled_id + 1
        self.cut_below = cut
        return cut

    def fence_now(self) -> None:
        """The lease is lost: from this instant no interaction is answered, no message counted, no
        outbox item or timer claimed; the runner then stops the process (bot.close(): the workers,
        the gateway, the final flush)."""
        self.fenced = True
        self.accepting = False
        self.listening = False

    def invite_url(self) -> str:
        """The link that adds the bot to the configured server with what it needs."""
        return discord.utils.oauth_url(
            self.application_id or 0,
            permissions=BOT_PERMISSIONS,
            guild=discord.Object(id=self.guild_id),
            scopes=("bot", "applications.commands"),
            disable_guild_select=True,
        )

    async def sync_commands(self) -> None:
        try:
            if self.config.community.sync_commands_globally:
                self.synced_commands = await self.tree.sync()
            else:
                guild = discord.Object(id=self.guild_id)
                self.tree.copy_global_to(guild=guild)
                self.synced_commands = await self.tree.sync(guild=guild)
        except discord.Forbidden as error:
            # Discord answers 403 Missing Access when the bot is not in that server or was invited
            # without the applications.commands scope: one line with the fix, not a traceback.
            raise ConfigError(
                f"the bot cannot add its commands to server {self.guild_id} (Discord: {error.text or error.status}): "
                f"it is not in that server or was invited without the applications.commands scope. "
                f"Check guild_id in conclave.toml, then invite it with {self.invite_url()}"
            ) from None
        log.info("synced %d app command(s)", len(self.synced_commands))

    async def on_ready(self) -> None:
        if not self.may_act():
            # A --takeover handles events from the cut on before it holds the lease: the member
            # sync (and what follows it) waits for the lease (begin_leading), as every job does.
            self._ready_waits_for_lease = True
            return
        guild = self.home_guild
        if guild is None:
            log.error(
                "the bot is not in the configured server %s: check guild_id, or invite it with %s",
                self.guild_id,
                self.invite_url(),
            )
            return
        count = await self.identity.sync_guild(guild)
        self.scheduler.add_job(
            self._resync_members, "interval", hours=MEMBER_SYNC_HOURS, id="members:sync", replace_existing=True
        )
        for hook in self.after_member_sync:
            # e.g. the rank index, which must not count members who left while we were away. Each on
            # its own: one failing (a statement timeout) must not skip the others, nor guild_synced.
            try:
                await hook()
            except Exception as error:
                log.warning(
                    "after the member sync, %s failed (%s); carrying on",
                    getattr(hook, "__qualname__", repr(hook)),
                    one_line(error),
                    exc_info=not is_outage(error),
                )
        log.info("ready as %s in %s (%d members synced)", self.user, guild.name, count)
        # What start-up built (modules, caches, the member list, the rank index) lives as long as the
        # process: out of the collector's sight, a collection walks only what messages create. And
        # full collections less often: measured under a chat burst, the default thresholds spent a
        # fifth of the time collecting (ten full collections in three seconds).
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        self.guild_synced.set()

    async def _resync_members(self) -> None:
        """The scheduled member sync (joins, leaves and updates keep rows current in between)."""
        guild = self.home_guild
        if guild is None:
            return
        try:
            await self.identity.sync_guild(guild)
        except Exception as error:
            log.warning(
                "the scheduled member sync failed (%s); the next one is in %d h", one_line(error), MEMBER_SYNC_HOURS
            )

    async def on_message(self, message: discord.Message) -> None:
        """The hot path: every message hook runs here, in one task per message (a cog listener would
        cost a task each), and none of them waits for the database. The bot has no prefix commands,
        so commands.Bot's per-message command parsing is skipped too. Hooks see member chat in the
        home guild only, each message once (a RESUME replay delivers some twice), checked here once
        for all of them."""
        if self.accepting and counts_as_chat(message, self.guild_id) and self.seen_messages.first_time(message.id):
            for hook in self.message_hooks:
                hook(message)

    async def on_error(self, event_method: str, /, *args: object, **kwargs: object) -> None:
        """An event handler failed. A database outage is one line, no traceback (what it could not
        record, such as a join, is repaired by the member sync at the next start); anything else is
        logged in full."""
        error = sys.exc_info()[1]
        if error is not None and is_outage(error):
            log.warning("%s not recorded: the database is unavailable (%s)", event_method, one_line(error))
            return
        await super().on_error(event_method, *args, **kwargs)

    async def _database_answers(self, interaction: discord.Interaction) -> bool:
        """During a known outage, commands answer at once instead of waiting on a dead connection."""
        if self.write_health.down:
            from bot.core.errors import DatabaseUnavailable

            raise DatabaseUnavailable()
        return True

    def uptime(self) -> float:
        return time.monotonic() - self.started_at

    async def close(self) -> None:
        """Stop taking work, flush every buffer, stop the scheduler, close the pool and the database."""
        if self._closing is None:
            self._closing = asyncio.create_task(self._shutdown())
        await asyncio.shield(self._closing)

    async def abandon_close(self) -> None:
        """The stop ran out of time: cancel it where it stands (what bot.core.runner does at its cap)."""
        if self._closing is not None and not self._closing.done():
            self._closing.cancel()
            await asyncio.wait({self._closing}, timeout=1.0)

    async def _shutdown(self) -> None:
        self.accepting = False
        flush_by = asyncio.get_running_loop().time() + FINAL_FLUSH_BUDGET_S
        # The timers and the outbox worker first: a run or a delivery cut short rolls back and stays
        # pending for the next start.
        await asyncio.gather(self.timers.stop(), self.outbox.stop())
        if self.metrics is not None:
            self.metrics.stop()
        await super().close()  # the gateway stops: no new events
        # A periodic flush in progress finishes rather than being cut short by the scheduler's
        # shutdown (which cancels running jobs); a hung one is cancelled at the deadline.
        await self.flush_schedule.when_idle(self._stop_scheduler, flush_by)
        # Every buffer once more, whatever the backoff says, by the same deadline; what is not
        # written (an outage, a hung database) goes to the journal.
        self.write_health.allow_now()
        kept = await self.flush_schedule.final(flush_by)
        if self.leadership is not None and self.leading and not self.fenced:
            # Everything is written: the next process may lead at once (a standby within its poll).
            await self.leadership.release(event=self.release_event)
        if self.pool is not None:
            try:
                await asyncio.wait_for(self.pool.close(), timeout=2)
            except Exception:
                self.pool.terminate()
        if self._owns_database and self.database is not None:
            await asyncio.to_thread(self.database.close)
        refused = self.refused_writes + (self.chat_activity.refused_writes if self.chat_activity else 0)
        if not kept and not refused:
            log.info("stopped cleanly")
            return
        said = []
        if refused:
            said.append(
                f"{refused} write(s) the database refused since the start are in dead_letters (python -m bot doctor)"
            )
        said.extend(kept)
        log.warning("stopped; %s", "; ".join(said))

    def _stop_scheduler(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
