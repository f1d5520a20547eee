"""The stand-in's gateway: v10 JSON over WebSocket, zlib-stream compression, heartbeats, intents,
RESUME with replay of every event after the client's sequence number."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from standin.server import StandIn

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE, RESUME, RECONNECT, REQUEST_MEMBERS = (
    0,
    1,
    2,
    3,
    4,
    6,
    7,
    8,
)
INVALID_SESSION, HELLO, HEARTBEAT_ACK = 9, 10, 11
ACK_DELAY_S = 0.05
HEARTBEAT_INTERVAL_MS = 41250

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MODERATION = 1 << 2
GUILD_VOICE_STATES = 1 << 7
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
GUILD_SCHEDULED_EVENTS = 1 << 16

EVENT_INTENTS = {
    "GUILD_CREATE": GUILDS,
    "GUILD_UPDATE": GUILDS,
    "GUILD_ROLE_CREATE": GUILDS,
    "GUILD_ROLE_UPDATE": GUILDS,
    "GUILD_ROLE_DELETE": GUILDS,
    "CHANNEL_CREATE": GUILDS,
    "CHANNEL_UPDATE": GUILDS,
    "CHANNEL_DELETE": GUILDS,
    "GUILD_MEMBER_ADD": GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": GUILD_MEMBERS,
    "GUILD_BAN_ADD": GUILD_MODERATION,
    "GUILD_BAN_REMOVE": GUILD_MODERATION,
    "VOICE_STATE_UPDATE": GUILD_VOICE_STATES,
    "PRESENCE_UPDATE": GUILD_PRESENCES,
    "GUILD_SCHEDULED_EVENT_CREATE": GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_UPDATE": GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_DELETE": GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_USER_ADD": GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_USER_REMOVE": GUILD_SCHEDULED_EVENTS,
}
MESSAGE_EVENTS = {"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"}


class _Connection:
    """One WebSocket: frames encoded (and zlib-stream compressed) in dispatch order as they are
    queued, then written by one task, so a burst of events leaves as fast as the socket takes it."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compressor = zlib.compressobj() if compress == "zlib-stream" else None
        self.queue: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        self.writer = asyncio.create_task(self._write())

    def send(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, separators=(",", ":"))
        if self.compressor is not None:
            self.queue.put_nowait(self.compressor.compress(data.encode()) + self.compressor.flush(zlib.Z_SYNC_FLUSH))
        else:
            self.queue.put_nowait(data)

    async def _write(self) -> None:
        while True:
            frame = await self.queue.get()
            if frame is None:
                return
            try:
                if isinstance(frame, bytes):
                    await self.ws.send_bytes(frame)
                else:
                    await self.ws.send_str(frame)
            except (ConnectionResetError, RuntimeError):
                return

    async def close(self, code: int = 1000) -> None:
        """Close now: frames still queued are dropped, as a real socket drop would lose them
        (a resuming client gets them again from the session's buffer)."""
        self.writer.cancel()
        with contextlib.suppress(BaseException):
            await self.writer
        with contextlib.suppress(Exception):
            await self.ws.close(code=code)


@dataclass
class Session:
    """A gateway session: survives a dropped socket so the client can RESUME it."""

    id: str
    intents: int
    user_id: str
    seq: int = 0
    buffer: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    connection: _Connection | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(self, event: str, data: dict[str, Any]) -> bool:
        if event in MESSAGE_EVENTS:
            needed = GUILD_MESSAGES if data.get("guild_id") else DIRECT_MESSAGES
            return bool(self.intents & needed)
        needed = EVENT_INTENTS.get(event)
        return needed is None or bool(self.intents & needed)

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.seq += 1
        payload = {"op": DISPATCH, "t": event, "s": self.seq, "d": data}
        self.buffer.append((self.seq, payload))
        if len(self.buffer) > 200_000:
            del self.buffer[:100_000]
        if self.connection is not None:
            self.connection.send(payload)


class Gateway:
    def __init__(self, standin: StandIn) -> None:
        self.standin = standin
        self.sessions: dict[str, Session] = {}
        self.connections: set[_Connection] = set()
        self.identify_count = 0
        self.resume_count = 0
        # Every session's life, in order: ("identify" | "resume" | "closed", session id); what tests
        # of several bot processes read (who was connected when, how many IDENTIFYs each cost).
        self.log: list[tuple[str, str]] = []
        self.on_ready: list[Callable[[Session], None]] = []

    # -- events -------------------------------------------------------------------------------

    def dispatch(self, event: str, data: dict[str, Any], *, message_mentions_bot: bool = False) -> None:
        for session in self.sessions.values():
            if not session.wants(event, data):
                continue
            payload = data
            if event in MESSAGE_EVENTS and not (session.intents & MESSAGE_CONTENT):
                payload = self._without_content(session, data, message_mentions_bot)
            session.dispatch(event, payload)

    @staticmethod
    def _without_content(session: Session, data: dict[str, Any], mentions_bot: bool) -> dict[str, Any]:
        """What Discord sends a bot lacking the MESSAGE_CONTENT intent."""
        author = (data.get("author") or {}).get("id")
        if mentions_bot or author == session.user_id or not data.get("guild_id"):
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every socket as a network fault would; sessions stay resumable."""
        for session in self.sessions.values():
            connection, session.connection = session.connection, None
            if connection is not None:
                await connection.close(code=code)

    @property
    def connected(self) -> int:
        """Sessions with a socket open now."""
        return sum(1 for session in self.sessions.values() if session.connection is not None)

    async def close(self) -> None:
        for connection in list(self.connections):
            await connection.close(code=1001)

    # -- the socket ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        connection = _Connection(ws, request.query.get("compress"))
        self.connections.add(connection)
        self.standin.record("GATEWAY", f"/gateway?{request.query_string}", None, 101)
        connection.send({"op": HELLO, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}, "s": None, "t": None})
        session: Session | None = None
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                frame = json.loads(msg.data)
                op, data = frame.get("op"), frame.get("d")
                if op == HEARTBEAT:
                    # After a network's round trip: discord.py notes a heartbeat's send time once the
                    # send has completed, so an instant ACK read as a whole interval behind ("Can't
                    # keep up ... 41.3s behind" over the sandbox's prompt).
                    asyncio.get_running_loop().call_later(
                        ACK_DELAY_S, connection.send, {"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None}
                    )
                elif op == IDENTIFY:
                    session = self._identify(connection, data)
                    if session is None:
                        await connection.close(code=4004)
                        break
                elif op == RESUME:
                    session = self._resume(connection, data)
                elif op == REQUEST_MEMBERS:
                    self._members_chunk(session, data)
                elif op in (PRESENCE, VOICE_STATE):
                    continue
                else:
                    await connection.close(code=4001)  # unknown opcode
                    break
        finally:
            self.connections.discard(connection)
            if session is not None:
                self.log.append(("closed", session.id))
            if session is not None and session.connection is connection:
                session.connection = None
                if ws.close_code == 1000:
                    # A client that closes with 1000 ends its session, as on Discord: no resume.
                    self.sessions.pop(session.id, None)
            await connection.close()
        return ws

    def _identify(self, connection: _Connection, data: dict[str, Any]) -> Session | None:
        token = str(data.get("token", "")).removeprefix("Bot ")
        if token != self.standin.token:
            return None
        self.identify_count += 1
        bot = self.standin.bot_user
        session = Session(id=secrets.token_hex(16), intents=int(data.get("intents", 0)), user_id=bot.id)
        self.log.append(("identify", session.id))
        session.connection = connection
        self.sessions[session.id] = session
        guild = self.standin.guild
        session.dispatch(
            "READY",
            {
                "v": 10,
                "user": {**bot.payload(), "verified": True, "mfa_enabled": False, "email": None},
                "guilds": [{"id": guild.id, "unavailable": True}],
                "session_id": session.id,
                "session_type": "normal",
                "resume_gateway_url": self.standin.gateway_url,
                "shard": [0, 1],
                "application": {"id": self.standin.application_id, "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "auth_session_id_hash": "",
                "_trace": ["conclave-standin"],
            },
        )
        create = guild.create_payload(self.standin.base_url, joined_at=self.standin.bot_joined_at)
        if not session.intents & GUILD_MEMBERS:
            in_voice = set(guild.voice_states)
            create["members"] = [
                m for m in create["members"] if m["user"]["id"] in in_voice or m["user"]["id"] == bot.id
            ]
        if not session.intents & GUILD_VOICE_STATES:
            create["voice_states"] = []
        if not session.intents & GUILD_PRESENCES:
            create["presences"] = []
        session.dispatch("GUILD_CREATE", create)
        session.ready.set()
        for callback in self.on_ready:
            callback(session)
        return session

    def _resume(self, connection: _Connection, data: dict[str, Any]) -> Session | None:
        session = self.sessions.get(str(data.get("session_id")))
        token = str(data.get("token", "")).removeprefix("Bot ")
        if session is None or token != self.standin.token:
            connection.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return None
        self.resume_count += 1
        self.log.append(("resume", session.id))
        last = int(data.get("seq") or 0)
        session.connection = connection
        for seq, payload in session.buffer:
            if seq > last:
                connection.send(payload)
        session.seq += 1
        connection.send({"op": DISPATCH, "t": "RESUMED", "s": session.seq, "d": {"_trace": ["conclave-standin"]}})
        return session

    def _members_chunk(self, session: Session | None, data: dict[str, Any]) -> None:
        if session is None:
            return
        guild = self.standin.guild
        wanted = data.get("user_ids")
        query = (data.get("query") or "").lower()
        members = [
            m.payload()
            for m in guild.members.values()
            if (wanted is None or m.user.id in {str(w) for w in wanted}) and m.user.username.lower().startswith(query)
        ]
        limit = int(data.get("limit") or 0)
        if limit:
            members = members[:limit]
        found = {m["user"]["id"] for m in members}
        chunk = {
            "guild_id": guild.id,
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            # Ids asked for that are not members (never joined, or left): Discord lists them here.
            "not_found": [str(w) for w in wanted or [] if str(w) not in found],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        session.dispatch("GUILD_MEMBERS_CHUNK", chunk)
