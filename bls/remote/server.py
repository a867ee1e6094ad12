"""The embedded server for the remote client: aiohttp on a thread of its own with its own asyncio loop.

Started only when the therapist invites; bound to the address picked (default loopback; port 0: any
free port). Routes: ``/r/<token>`` the page, ``/static/<file>`` its bundled assets (``web/``),
``/ws/<token>`` its WebSocket. One token per invitation (``secrets.token_urlsafe``, 192 bits), valid
until the session ends; one client at a time. Everything is bounded: message size, messages per second
per connection, malformed messages, open connections, and every wait on stopping.

The bridge to the session never touches Qt nor the session core: the loop reads ``engine.history``
(an immutable tuple, by reference) 50 times a second and sends what is new; what the client reports
lands in :meth:`RemoteServer.take_changes`, which the session core reads in its ``poll``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from . import protocol
from .feed import SnapshotFeed, session_state
from .wire import wire_caps

WEB_DIR = Path(__file__).parent / "web"
POLL_HZ = 50.0
PING_S = 1.0
MAX_MSGS_PER_S = 40  # a page sends a status a few times a second and a pong a second
MAX_BAD_MSGS = 10
MAX_CONNECTIONS = 8  # WebSockets open at once (the one client, plus refusals being closed)
STOP_TIMEOUT_S = 2.0
CSP = ("default-src 'self'; script-src 'self'; worker-src 'self'; connect-src 'self'; style-src 'self'; "
       "img-src 'self'; media-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-store", "Cross-Origin-Opener-Policy": "same-origin"}
STATIC = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,40}\.(js|css|svg)$")
# WebSocket close codes (4000-4999: the application's own)
CLOSE_ENDED, CLOSE_BUSY, CLOSE_BAD, CLOSE_FLOOD = 4000, 4409, 4400, 4429


def _now_ms() -> float:
    return time.monotonic() * 1000.0


class RemoteServer:
    """``engine``: the session's StimulusEngine (read only); ``gentle()``: whether gentle mode is on
    (read from the loop thread: a plain attribute read)."""

    def __init__(self, engine, gentle=lambda: False, host: str = "127.0.0.1", port: int = 0,
                 lead_ms: float = protocol.DEFAULT_LEAD_MS, unlocks=dict):
        self.engine = engine
        self.gentle = gentle
        self.unlocks = unlocks  # () -> the gentle limits unlocked now (a plain read of a dict)
        self.host, self.port = host, port
        self.lead_ms = lead_ms
        self.token = secrets.token_urlsafe(24)
        self.expired = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._client: web.WebSocketResponse | None = None
        self._sockets: set = set()
        self._lock = threading.Lock()
        self._status = self._blank()
        self._changes: list[tuple[str, dict]] = []  # ("connected"/"left"/"status", status dict)
        self.stats = {"refused": 0, "bad": 0, "flood": 0, "too_big": 0, "sent": 0}

    @staticmethod
    def _blank() -> dict:
        return {"connected": False, "rtt_ms": None, "sound": False, "screen": None, "audio": None,
                "av_offset_ms": None, "dropped_frames": 0, "frame": None}

    # ------------------------------------------------------------------ the therapist's thread

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/r/{self.token}"

    def start(self, timeout: float = 5.0) -> str:
        """Starts the thread and binds; returns the client's URL. OSError when the address cannot be
        bound (or the server did not come up within ``timeout``)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def main():
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._open())
            except BaseException as exc:  # noqa: BLE001 - handed to start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name="bls-remote", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise OSError("the remote server did not start in time")
        if failure:
            exc = failure[0]
            raise exc if isinstance(exc, OSError) else OSError(str(exc))
        return self.url

    def take_changes(self) -> list[tuple[str, dict]]:
        """What happened since the last call: ("connected" | "left" | "status", the status then)."""
        with self._lock:
            out, self._changes = self._changes, []
        return out

    @property
    def status(self) -> dict:
        with self._lock:
            return dict(self._status)

    def end(self, reason: str = "the session ended", timeout: float = STOP_TIMEOUT_S) -> None:
        """The session ended: the token expires, the client gets ``bye``, the server stops and its
        thread is joined. Never waits longer than about ``timeout`` in all."""
        self.expired = True
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        deadline = time.monotonic() + timeout
        try:
            fut = asyncio.run_coroutine_threadsafe(self._close(reason), loop)
            fut.result(max(0.05, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - a loop that did not answer in time is stopped regardless
            pass
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:
            pass
        thread.join(max(0.05, deadline - time.monotonic()))

    # ------------------------------------------------------------------ the loop's thread

    async def _open(self) -> None:
        app = web.Application(client_max_size=protocol.MAX_BYTES)
        app.router.add_get("/r/{token}", self._page)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/ws/{token}", self._ws)
        # browsers ask for it unprompted: an empty answer, not a 404 in the client's console
        app.router.add_get("/favicon.ico", self._no_icon)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=16)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # port 0: the one the system gave
        self._tasks = [asyncio.ensure_future(self._pump()), asyncio.ensure_future(self._pinger())]

    async def _close(self, reason: str) -> None:
        for t in self._tasks:
            t.cancel()
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

    def _not_found(self) -> web.Response:
        return web.Response(status=404, text="This link is not valid or has expired: ask your therapist for a "
                            "new one.", headers=HEADERS)

    async def _page(self, request: web.Request) -> web.StreamResponse:
        if not self._valid(request.match_info["token"]):
            return self._not_found()
        return web.Response(body=(WEB_DIR / "index.html").read_bytes(), content_type="text/html",
                            charset="utf-8", headers=HEADERS)

    @staticmethod
    async def _no_icon(_request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = WEB_DIR / name
        if not _NAME.match(name) or not path.is_file():
            return web.Response(status=404, text="not found", headers=HEADERS)
        return web.Response(body=path.read_bytes(), content_type=STATIC[path.suffix], charset="utf-8",
                            headers=HEADERS)

    def _set(self, kind: str | None = None, **changes) -> None:
        with self._lock:
            self._status.update(changes)
            if kind == "status" and self._changes and self._changes[-1][0] == "status":
                self._changes[-1] = (kind, dict(self._status))  # bounded: only the latest status waits
            elif kind:
                self._changes.append((kind, dict(self._status)))

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if not self._valid(request.match_info["token"]):
            return self._not_found()
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            self.stats["refused"] += 1  # another site's page trying the link in the client's browser
            return web.Response(status=403, text="this link opens only from its own page", headers=HEADERS)
        if len(self._sockets) >= MAX_CONNECTIONS:
            self.stats["refused"] += 1
            return web.Response(status=503, text="too many connections", headers=HEADERS)
        ws = web.WebSocketResponse(max_msg_size=protocol.MAX_BYTES, heartbeat=None, autoping=True)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            if self._client is not None and not self._client.closed:
                self.stats["refused"] += 1
                await ws.close(code=CLOSE_BUSY, message=b"another client is already connected to this session")
                return ws
            self._client = ws
            await self._serve(ws)
        finally:
            self._sockets.discard(ws)
            if self._client is ws:
                self._client = None
                self._set("left", **self._blank())
        return ws

    async def _send(self, ws, msg: dict) -> None:
        await ws.send_str(protocol.encode(msg))
        self.stats["sent"] += 1

    async def _serve(self, ws: web.WebSocketResponse) -> None:
        self._feed = SnapshotFeed(self.engine, self.unlocks)  # a new client: the whole history
        await self._send(ws, protocol.welcome(session_state(self.engine, self.gentle()), wire_caps(), self.lead_ms))
        await self._push(ws)
        self._set("connected", **{**self._blank(), "connected": True})
        window_start, count, bad = time.monotonic(), 0, 0
        async for m in ws:
            now = time.monotonic()
            if now - window_start >= 1.0:
                window_start, count = now, 0
            count += 1
            if count > MAX_MSGS_PER_S:
                self.stats["flood"] += 1
                await ws.close(code=CLOSE_FLOOD, message=b"too many messages: at most 40 a second")
                break
            if m.type == WSMsgType.ERROR:
                self.stats["too_big"] += 1
                break
            if m.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            msg, problems = protocol.decode(m.data, "client")
            if problems:
                bad += 1
                self.stats["bad"] += 1
                if bad > MAX_BAD_MSGS:
                    await ws.close(code=CLOSE_BAD, message=b"too many malformed messages")
                    break
                await self._send(ws, protocol.error(problems))
                continue
            self._take(msg)
        if ws.close_code == WSCloseCode.MESSAGE_TOO_BIG:
            self.stats["too_big"] += 1

    def _take(self, msg: dict) -> None:
        t = msg["type"]
        if t == "pong":
            self._set("status", rtt_ms=round(max(0.0, _now_ms() - msg["sent_ms"]), 1))
        elif t == "hello":
            s = msg["screen"]
            self._set("status", screen=(s["w"], s["h"], s["dpr"]), audio=msg["audio"])
        elif t == "status":
            self._set("status", sound=msg["sound"], av_offset_ms=msg["av_offset_ms"],
                      dropped_frames=msg["dropped_frames"], frame=msg["frame"])

    async def _push(self, ws) -> None:
        m = self._feed.message(_now_ms())
        if m is not None:
            await self._send(ws, m)

    async def _pump(self) -> None:
        while True:
            await asyncio.sleep(1.0 / POLL_HZ)
            ws = self._client
            if ws is not None and not ws.closed:
                try:
                    await self._push(ws)
                except (ConnectionError, RuntimeError, protocol.ProtocolError):
                    pass

    async def _pinger(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(PING_S)
            ws = self._client
            if ws is not None and not ws.closed:
                n += 1
                try:
                    await self._send(ws, protocol.ping(n, _now_ms()))
                except (ConnectionError, RuntimeError):
                    pass
