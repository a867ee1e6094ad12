"""The embedded server for the remote client: aiohttp on a thread of its own with its own asyncio loop.

Started only when the therapist invites; bound to the address picked (default loopback; port 0: any
free port). Routes: ``/r/<token>`` the page, ``/static/<file>`` its bundled assets (``web/``),
``/ws/<token>`` its WebSocket. One token per invitation (``secrets.token_urlsafe``, 192 bits), valid
until the session ends; one client at a time. Everything is bounded: message size, messages per second
per connection, malformed messages, open connections, and every wait on stopping.

What it sends and how it reads the session is :class:`bls.remote.bridge.HostBridge`'s.
"""

from __future__ import annotations

import asyncio
import re
import secrets

from aiohttp import WSCloseCode, WSMsgType, web

from . import pages, protocol
from .bridge import STOP_TIMEOUT_S, HostBridge  # noqa: F401 - STOP_TIMEOUT_S: the bound callers rely on

MAX_MSGS_PER_S = 40  # a page sends a status a few times a second and a pong a second
MAX_BAD_MSGS = 10
MAX_CONNECTIONS = 8  # WebSockets open at once (the one client, plus refusals being closed)
# WebSocket close codes (4000-4999: the application's own)
CLOSE_ENDED, CLOSE_BUSY, CLOSE_BAD, CLOSE_FLOOD, CLOSE_REPLACED = 4000, 4409, 4400, 4429, 4408
DEVICE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")  # the page's device id (page.js deviceId)


class RemoteServer(HostBridge):
    """The client connects to this computer (a local network, or loopback)."""

    def __init__(self, engine, gentle=lambda: False, host: str = "127.0.0.1", port: int = 0,
                 lead_ms: float = protocol.DEFAULT_LEAD_MS, unlocks=dict):
        super().__init__(engine, gentle, unlocks, lead_ms)
        self.host, self.port = host, port
        self.token = secrets.token_urlsafe(24)
        self._runner: web.AppRunner | None = None
        self._client: web.WebSocketResponse | None = None
        self._device: str | None = None
        self._sockets: set = set()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/r/{self.token}"

    def start(self, timeout: float = 5.0) -> str:
        """Starts the thread and binds; returns the client's URL. OSError when the address cannot be
        bound (or the server did not come up within ``timeout``)."""
        self._run_loop(self._open, "bls-remote", timeout)
        return self.url

    # ------------------------------------------------------------------ the loop's thread

    async def _open(self) -> None:
        app = web.Application(client_max_size=protocol.MAX_BYTES)
        app.router.add_get("/r/{token}", self._page)
        app.router.add_get("/static/{name}", pages.static)
        app.router.add_get("/ws/{token}", self._ws)
        app.router.add_get("/favicon.ico", pages.no_icon)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=16)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # port 0: the one the system gave
        self._start_tasks()

    async def _shutdown(self, reason: str) -> None:
        await super()._shutdown(reason)
        ws = self._client
        if ws is not None and not ws.closed:
            try:
                await asyncio.wait_for(ws.send_str(protocol.encode(protocol.bye(reason))), 0.5)
            except Exception:  # noqa: BLE001
                pass
        for s in list(self._sockets):
            try:
                await asyncio.wait_for(s.close(code=CLOSE_ENDED, message=b"the session ended"), 0.5)
            except Exception:  # noqa: BLE001
                pass
        if self._runner is not None:
            await asyncio.wait_for(self._runner.cleanup(), 1.0)

    def _valid(self, token: str) -> bool:
        return not self.expired and secrets.compare_digest(token.encode(), self.token.encode())

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return pages.page() if self._valid(request.match_info["token"]) else pages.not_found()

    def _client_here(self) -> bool:
        return self._client is not None and not self._client.closed

    async def _deliver(self, text: str) -> None:
        ws = self._client
        if ws is None:
            raise ConnectionError("no client")
        await ws.send_str(text)

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if not self._valid(request.match_info["token"]):
            return pages.not_found()
        if pages.foreign_origin(request):
            self.stats["refused"] += 1  # another site's page trying the link in the client's browser
            return web.Response(status=403, text="this link opens only from its own page", headers=pages.HEADERS)
        if len(self._sockets) >= MAX_CONNECTIONS:
            self.stats["refused"] += 1
            return web.Response(status=503, text="too many connections", headers=pages.HEADERS)
        device = request.query.get("c", "")
        device = device if DEVICE.match(device) else None  # without an id: a device of its own each time
        ws = web.WebSocketResponse(max_msg_size=protocol.MAX_BYTES, heartbeat=None, autoping=True)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            old = self._client
            if old is not None and not old.closed:
                if device is None or device != self._device:
                    self.stats["refused"] += 1
                    await ws.close(code=CLOSE_BUSY, message=b"another client is already connected to this session")
                    return ws
                # the same device back (its old connection dropped without closing): it takes over
                self._client = None
                await old.close(code=CLOSE_REPLACED, message=b"this session was opened again on the same device")
            self._client, self._device = ws, device
            await self._serve(ws)
        finally:
            self._sockets.discard(ws)
            if self._client is ws:
                self._client = None
                self._set("left", **self._blank())
        return ws

    async def _serve(self, ws: web.WebSocketResponse) -> None:
        await self._greet()
        async for msg in read_client(ws, self.stats, lambda problems: ws.send_str(
                protocol.encode(protocol.error(problems)))):
            self._take(msg)


async def read_client(ws, stats: dict, answer_bad):
    """The valid messages a client sends on ``ws`` (an aiohttp WebSocketResponse), as an async
    generator; floods and too many malformed messages close it (bounded), each malformed one is
    answered with ``answer_bad(problems)``. Shared by the embedded server and ``bls relay``."""
    window_start, count, bad = asyncio.get_running_loop().time(), 0, 0
    async for m in ws:
        now = asyncio.get_running_loop().time()
        if now - window_start >= 1.0:
            window_start, count = now, 0
        count += 1
        if count > MAX_MSGS_PER_S:
            stats["flood"] += 1
            await ws.close(code=CLOSE_FLOOD, message=b"too many messages: at most 40 a second")
            break
        if m.type == WSMsgType.ERROR:
            stats["too_big"] += 1
            break
        if m.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            break
        msg, problems = protocol.decode(m.data, "client")
        if problems:
            bad += 1
            stats["bad"] += 1
            if bad > MAX_BAD_MSGS:
                await ws.close(code=CLOSE_BAD, message=b"too many malformed messages")
                break
            await answer_bad(problems)
            stats["sent"] += 1
            continue
        yield msg
    if ws.close_code == WSCloseCode.MESSAGE_TOO_BIG:
        stats["too_big"] += 1
