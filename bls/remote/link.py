"""The therapist's app connecting out to ``bls relay`` (sessions over the internet): the same
:class:`~bls.remote.bridge.HostBridge` as the embedded server, carried by one WebSocket to the
relay's ``/host/<token>`` with the practice's key. The relay says when a client joins or leaves
(``peer``) and forwards what the client sends; a lost connection is made again (with a growing pause,
at most :data:`RETRY_MAX_S`), through whichever relay node answers, and the room lives on meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import ssl
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from . import protocol
from .bridge import HostBridge, cancel

RETRY_MIN_S, RETRY_MAX_S = 0.25, 5.0
CONNECT_TIMEOUT_S = 5.0


def relay_base(url: str) -> str:
    """The relay's base URL (``https://relay.example.org`` or ``http://host:port`` for a test), checked;
    ValueError saying what is wrong."""
    url = url.strip()
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not a relay's address (https://relay.example.org)")
    if parts.query or parts.fragment:
        raise ValueError("a relay's address has no ?query or #fragment")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class RelayLink(HostBridge):
    def __init__(self, engine, relay_url: str, key: str, gentle=lambda: False, unlocks=dict,
                 lead_ms: float = protocol.DEFAULT_LEAD_MS, ca_file: str | None = None):
        """``ca_file``: the certificate authority to trust for an https relay besides the system's
        (a practice's own; default ``$BLS_RELAY_CA``)."""
        super().__init__(engine, gentle, unlocks, lead_ms)
        ca_file = ca_file or os.environ.get("BLS_RELAY_CA") or None
        self._ssl: ssl.SSLContext | bool = True
        if ca_file:
            try:
                self._ssl = ssl.create_default_context()
                self._ssl.load_verify_locations(cafile=ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"the certificate authority {ca_file} cannot be read: {exc}") from exc
        self.base = relay_base(relay_url)
        if not key.strip():
            raise ValueError("the relay's key is empty: ask whoever runs the relay for one")
        self._key = key.strip()
        self.token = secrets.token_urlsafe(24)
        self.via = f"the relay at {urlsplit(self.base).netloc}"
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._peer = False
        self._ending = False
        self._first: asyncio.Future | None = None
        self._status["relay"] = "connecting"

    @property
    def url(self) -> str:
        return f"{self.base}/r/{self.token}"

    @property
    def host_ws_url(self) -> str:
        parts = urlsplit(self.base)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, f"{parts.path}/host/{self.token}", "", ""))

    def start(self, timeout: float = CONNECT_TIMEOUT_S + 1.0) -> str:
        """Connects to the relay; returns the client's link. OSError saying why when the relay cannot be
        reached or refuses the key (nothing keeps running then)."""

        async def opener():
            self._first = asyncio.get_running_loop().create_future()
            self._tasks = [asyncio.ensure_future(self._run())]
            problem = await self._first
            if problem:
                self._ending = True
                await cancel(self._tasks)
                raise OSError(problem)
            self._start_tasks_also()

        self._run_loop(opener, "bls-relay-link", timeout)
        return self.url

    def _start_tasks_also(self) -> None:
        run = self._tasks
        self._start_tasks()
        self._tasks += run

    # ------------------------------------------------------------------ the loop's thread

    def _client_here(self) -> bool:
        return self._peer and self._ws is not None and not self._ws.closed

    async def _deliver(self, text: str) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            raise ConnectionError("the relay is not connected")
        await ws.send_str(text)

    def _first_done(self, problem: str) -> None:
        if self._first is not None and not self._first.done():
            self._first.set_result(problem)

    async def _run(self) -> None:
        pause = RETRY_MIN_S
        headers = {"Authorization": f"Bearer {self._key}"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_S)) as http:
            while not self._ending:
                why = ""
                try:
                    async with http.ws_connect(self.host_ws_url, headers=headers, heartbeat=5.0,
                                               max_msg_size=protocol.MAX_BYTES, ssl=self._ssl) as ws:
                        self._ws = ws
                        pause = RETRY_MIN_S
                        self._set("link", relay="connected")
                        self._first_done("")
                        why = await self._serve(ws)
                except aiohttp.WSServerHandshakeError as exc:
                    why = {401: "the relay does not know this key",
                           409: "the relay gave this room to another key"}.get(exc.status, f"the relay refused ({exc.status})")
                    if exc.status in (401, 409):
                        self._first_done(why)  # a wrong key does not mend by trying again
                except aiohttp.ClientConnectorCertificateError as exc:
                    why = f"the relay's certificate is not trusted ({exc.certificate_error})"
                    self._first_done(why)
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    why = f"cannot reach the relay ({exc.__class__.__name__})"
                finally:
                    self._ws = None
                    if self._peer:
                        self._peer = False
                        self._set("left", **self._blank())
                if self._ending:
                    break
                self._first_done(why or "the relay closed the connection")
                self._set("link", relay=f"reconnecting: {why}" if why else "reconnecting")
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX_S)

    async def _serve(self, ws) -> str:
        """One connection to the relay, until it closes; returns why it closed (or "")."""
        async for m in ws:
            if m.type != aiohttp.WSMsgType.TEXT:
                break
            msg, problems = protocol.decode(m.data, "relay")
            if problems:
                self.stats["bad"] += 1
                continue
            if msg["type"] == "peer":
                if msg["event"] == "joined":
                    self._peer = True
                    with contextlib.suppress(ConnectionError, RuntimeError, protocol.ProtocolError):
                        await self._greet()
                elif self._peer:
                    self._peer = False
                    self._set("left", **self._blank())
            elif self._peer:
                self._take(msg)
        if ws.close_code == 4408:  # another app holds this room now: never fought over
            self._ending = True
            self._set("link", relay="another copy of this session took the room over")
            return "another copy of this session took the room over"
        return f"the relay closed the connection ({ws.close_code})" if ws.close_code not in (None, 1000) else ""

    async def _shutdown(self, reason: str) -> None:
        self._ending = True
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):  # the room closes and the client is told
                await asyncio.wait_for(ws.send_str(protocol.encode(protocol.bye(reason))), 0.5)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 0.5)
        await super()._shutdown(reason)
