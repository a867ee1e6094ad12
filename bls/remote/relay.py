"""``bls relay``: a small stateless server that the therapist's app and the client's browser both
connect out to, for sessions over the internet (no port forwarding at the therapist's).

Routes: ``/r/<token>`` the client's page and ``/static/<file>`` its assets (as the embedded server
serves them), ``/ws/<token>`` the client's WebSocket, ``/host/<token>`` the therapist's app's
WebSocket (``Authorization: Bearer <key>``, a key the relay was given), ``/healthz`` for a load
balancer. The relay forwards messages between the two sides, checking each against the protocol's
schema and limits; it keeps no session state of its own: rooms, client slots and messages live in a
broker (:mod:`bls.remote.broker`: this process, or Redis shared by several nodes), so a node that dies
loses nothing and both sides reconnect through any other.

Only stimulus parameters and timing cross it; nothing is logged but counts and short token prefixes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import sys
from types import SimpleNamespace

from aiohttp import WSMsgType, web

from . import pages, protocol
from .broker import CLIENT, ROOM, TO_CLIENT, TO_HOST, LocalBroker
from .server import (
    CLOSE_BAD,
    CLOSE_BUSY,
    CLOSE_ENDED,
    CLOSE_FLOOD,
    CLOSE_REPLACED,
    DEVICE,
    read_client,
)

ROOM_TTL_S = 60.0  # a room outlives its therapist's connection this long (the app reconnects meanwhile)
CLIENT_TTL_S = 6.0  # a client slot outlives its connection this long (renewed every third of it)
MAX_CONNECTIONS = 400  # WebSockets on one node
MAX_HOST_MSGS_PER_S = 200  # the app sends snapshots 50 times a second and a ping a second
QUEUE = 64  # messages waiting for one slow connection (1.3 s of snapshots); more and it is closed
KEY_MIN = 24


def key_id(key: str) -> str:
    """A short name of a key that does not reveal it (rooms are owned by it)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def read_keys(text: str) -> list[str]:
    """The keys in a keys file (one a line; blank lines and # comments ignored). ValueError naming
    the line of a key too short to be safe."""
    keys = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if len(line) < KEY_MIN or any(c.isspace() for c in line):
            raise ValueError(f"line {n}: a key is at least {KEY_MIN} characters without spaces "
                             "(make one with: bls relay --new-key)")
        keys.append(line)
    return keys


class Relay:
    def __init__(self, keys: list[str], broker=None, log=None):
        if not keys:
            raise ValueError("a relay needs at least one key for the therapists' apps (bls relay --new-key)")
        self._keys = {key_id(k): k.encode() for k in keys}
        self.broker = broker or LocalBroker()
        self.node = secrets.token_hex(4)
        self._log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._sockets: set = set()
        self.stats = {"refused": 0, "bad": 0, "flood": 0, "too_big": 0, "sent": 0, "rooms": 0, "joined": 0}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=protocol.MAX_BYTES)
        app.router.add_get("/r/{token}", self._page)
        app.router.add_get("/static/{name}", pages.static)
        app.router.add_get("/ws/{token}", self._client)
        app.router.add_get("/host/{token}", self._host)
        app.router.add_get("/favicon.ico", pages.no_icon)
        app.router.add_get("/healthz", self._health)
        app.on_startup.append(self._startup)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _startup(self, _app) -> None:
        await self.broker.start()
        self._log(f"bls relay node {self.node}: rooms kept in {self.broker.name}")

    async def _shutdown(self, _app) -> None:
        for ws in list(self._sockets):  # each side reconnects through another node
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=1001, message=b"this relay node is stopping"), 0.5)
        await self.broker.close()

    async def _health(self, _request) -> web.Response:
        try:
            await asyncio.wait_for(self.broker.get("bls:health"), 2.0)
        except Exception as exc:  # noqa: BLE001 - the broker is unreachable: this node cannot serve
            return web.Response(status=503, text=f"broker unreachable: {exc.__class__.__name__}")
        return web.json_response({"ok": True, "node": self.node, "connections": len(self._sockets)})

    async def _room(self, token: str) -> str | None:
        if not pages.TOKEN.match(token):
            return None
        return await self.broker.get(ROOM.format(token))

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return pages.page() if await self._room(request.match_info["token"]) else pages.not_found()

    def _key(self, request: web.Request) -> str | None:
        """The id of the key the therapist's app presented, or None."""
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        given = auth[len("Bearer "):].strip().encode()
        found = None
        for kid, key in self._keys.items():  # every key compared, in constant time
            if hmac.compare_digest(given, key):
                found = kid
        return found

    # ------------------------------------------------------------------ one connection

    async def _open_ws(self, request: web.Request, queue: asyncio.Queue, on_message):
        """Prepares the WebSocket and the task that writes to it what ``queue`` holds; ``on_message``
        is the broker callback that fills the queue (a full queue closes the connection)."""
        ws = web.WebSocketResponse(max_msg_size=protocol.MAX_BYTES, heartbeat=10.0, autoping=True)
        await ws.prepare(request)
        self._sockets.add(ws)

        state = SimpleNamespace(closing=False)

        async def writer():
            while True:
                item = await queue.get()
                if isinstance(item, tuple):  # (code, reason, last message or None): close
                    state.closing = True
                    code, reason, last = item
                    if last is not None:
                        with contextlib.suppress(Exception):
                            await ws.send_str(last)
                    await ws.close(code=code, message=reason.encode())
                    return
                await ws.send_str(item)
                self.stats["sent"] += 1

        return ws, asyncio.ensure_future(writer()), state

    @staticmethod
    def _queue_put(queue: asyncio.Queue, item) -> None:
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:  # a connection that cannot keep up is closed; its side reconnects
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            queue.put_nowait((1013, "too slow to keep up", None))

    async def _host(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        kid = self._key(request)
        if kid is None:
            self.stats["refused"] += 1
            return web.Response(status=401, text="this relay does not know that key", headers=pages.HEADERS)
        if not pages.TOKEN.match(token):
            return web.Response(status=400, text="a room's token is 22 to 64 URL-safe characters",
                                headers=pages.HEADERS)
        if len(self._sockets) >= MAX_CONNECTIONS:
            return web.Response(status=503, text="this relay node is full", headers=pages.HEADERS)
        conn = secrets.token_hex(8)
        holder = f"{kid}|{conn}"
        if not await self.broker.claim(ROOM.format(token), kid, conn, ROOM_TTL_S):
            self.stats["refused"] += 1
            return web.Response(status=409, text="this room is held by another key", headers=pages.HEADERS)
        queue: asyncio.Queue = asyncio.Queue(QUEUE)

        def from_broker(data: str) -> None:
            if data[0] == "m":
                self._queue_put(queue, data[1:])
                return
            ctl = json.loads(data[1:])
            if ctl["k"] == "peer":
                self._queue_put(queue, protocol.encode(protocol.peer(ctl["event"]), "relay"))
            elif ctl["k"] == "takeover" and ctl["conn"] != conn:
                self._queue_put(queue, (CLOSE_REPLACED, "replaced by a newer connection of the same app", None))

        ws, writer, state = await self._open_ws(request, queue, from_broker)
        channel = TO_HOST.format(token)
        await self.broker.subscribe(channel, from_broker)
        self.stats["rooms"] += 1
        self._log(f"room {token[:6]}…: the therapist's app connected (node {self.node})")
        ended = False
        renewer = asyncio.ensure_future(self._renew(ROOM.format(token), holder, ROOM_TTL_S, queue, None))
        try:
            await self.broker.publish(channel, "x" + json.dumps({"k": "takeover", "conn": conn}))
            if await self.broker.get(CLIENT.format(token)):
                self._queue_put(queue, protocol.encode(protocol.peer("joined"), "relay"))
            window, count, bad = asyncio.get_running_loop().time(), 0, 0
            async for m in ws:
                now = asyncio.get_running_loop().time()
                if now - window >= 1.0:
                    window, count = now, 0
                count += 1
                if count > MAX_HOST_MSGS_PER_S:
                    self.stats["flood"] += 1
                    await ws.close(code=CLOSE_FLOOD, message=b"too many messages")
                    break
                if m.type != WSMsgType.TEXT:
                    break
                msg, problems = protocol.decode(m.data, "server")
                if problems:
                    bad += 1
                    self.stats["bad"] += 1
                    if bad > 10:
                        await ws.close(code=CLOSE_BAD, message=b"too many malformed messages")
                        break
                    continue
                text = protocol.encode(msg, "server")
                if msg["type"] == "bye":  # the session ended: the room closes and its link expires
                    ended = True
                    await self.broker.release(ROOM.format(token), holder)
                    await self.broker.publish(TO_CLIENT.format(token),
                                              "x" + json.dumps({"k": "bye", "text": text}))
                    await ws.close(code=CLOSE_ENDED, message=b"the room is closed")
                    break
                await self.broker.publish(TO_CLIENT.format(token), "m" + text)
        finally:
            await self._end_writer(writer, state, renewer)
            self._sockets.discard(ws)
            with contextlib.suppress(Exception):
                await self.broker.unsubscribe(channel, from_broker)
            self._log(f"room {token[:6]}…: the therapist's app {'closed the room' if ended else 'went'}")
        return ws

    @staticmethod
    async def _end_writer(writer: asyncio.Task, state, renewer: asyncio.Task) -> None:
        """The connection is over: a close being sent is let finish (bounded), anything else stops."""
        renewer.cancel()
        if state.closing:
            await asyncio.wait([writer], timeout=1.0)
        writer.cancel()

    async def _renew(self, key: str, holder: str, ttl_s: float, queue: asyncio.Queue, room: str | None) -> None:
        """Keeps a lease while its connection lives; a lease lost (taken over, or expired while the
        broker was away) or a room gone closes the connection."""
        while True:
            await asyncio.sleep(ttl_s / 3)
            try:
                if not await self.broker.renew(key, holder, ttl_s):
                    self._queue_put(queue, (CLOSE_REPLACED, "replaced by a newer connection", None))
                    return
                if room is not None and not await self.broker.get(room):
                    bye = protocol.encode(protocol.bye("the therapist's app is no longer connected"))
                    self._queue_put(queue, (CLOSE_ENDED, "the session ended", bye))
                    return
            except Exception:  # noqa: BLE001 - the broker is away: tried again at the next round
                continue

    async def _client(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if not await self._room(token):
            return pages.not_found()
        if pages.foreign_origin(request):
            self.stats["refused"] += 1
            return web.Response(status=403, text="this link opens only from its own page", headers=pages.HEADERS)
        if len(self._sockets) >= MAX_CONNECTIONS:
            self.stats["refused"] += 1
            return web.Response(status=503, text="this relay node is full", headers=pages.HEADERS)
        device = request.query.get("c", "")
        if not DEVICE.match(device):
            device = secrets.token_urlsafe(16)  # a page without an id is a device of its own each time
        conn = secrets.token_hex(8)
        holder = f"{device}|{conn}"
        queue: asyncio.Queue = asyncio.Queue(QUEUE)

        def from_broker(data: str) -> None:
            if data[0] == "m":
                self._queue_put(queue, data[1:])
                return
            ctl = json.loads(data[1:])
            if ctl["k"] == "bye":
                self._queue_put(queue, (CLOSE_ENDED, "the session ended", ctl["text"]))
            elif ctl["k"] == "takeover" and ctl["conn"] != conn:
                self._queue_put(queue, (CLOSE_REPLACED, "this session was opened again on the same device", None))

        ws, writer, state = await self._open_ws(request, queue, from_broker)
        if not await self.broker.claim(CLIENT.format(token), device, conn, CLIENT_TTL_S):
            self.stats["refused"] += 1
            writer.cancel()
            self._sockets.discard(ws)
            await ws.close(code=CLOSE_BUSY, message=b"another client is already connected to this session")
            return ws
        channel = TO_CLIENT.format(token)
        await self.broker.subscribe(channel, from_broker)
        self.stats["joined"] += 1
        renewer = asyncio.ensure_future(self._renew(CLIENT.format(token), holder, CLIENT_TTL_S, queue,
                                                    ROOM.format(token)))
        try:
            await self.broker.publish(channel, "x" + json.dumps({"k": "takeover", "conn": conn}))
            await self.broker.publish(TO_HOST.format(token), "x" + json.dumps({"k": "peer", "event": "joined"}))

            async def answer_bad(problems):
                self._queue_put(queue, protocol.encode(protocol.error(problems)))

            async for msg in read_client(ws, self.stats, answer_bad):
                await self.broker.publish(TO_HOST.format(token), "m" + protocol.encode(msg, "client"))
        finally:
            await self._end_writer(writer, state, renewer)
            self._sockets.discard(ws)
            with contextlib.suppress(Exception):
                await self.broker.unsubscribe(channel, from_broker)
                if await self.broker.get(CLIENT.format(token)) == holder:  # not taken over: the client left
                    await self.broker.release(CLIENT.format(token), holder)
                    await self.broker.publish(TO_HOST.format(token), "x" + json.dumps({"k": "peer", "event": "left"}))
        return ws


def new_key() -> str:
    return secrets.token_urlsafe(32)


def serve(host: str, port: int, keys: list[str], redis_url: str | None = None, log=None) -> None:
    """Runs a relay node until SIGINT/SIGTERM."""
    broker = None
    if redis_url:
        from .broker import RedisBroker

        broker = RedisBroker(redis_url)
    relay = Relay(keys, broker, log)
    web.run_app(relay.app(), host=host, port=port, access_log=None, print=lambda line: relay._log(
        f"bls relay node {relay.node}: listening on http://{host}:{port}" if "Running on" in line else line),
        shutdown_timeout=2.0)
