"""The therapist's end of a remote session, whatever carries it: the embedded server
(:mod:`bls.remote.server`, the client connects to this computer) or a link out to ``bls relay``
(:mod:`bls.remote.link`, both sides connect out to a relay).

It runs an asyncio loop on a thread of its own and never touches Qt nor the session core: it reads
``engine.history`` (an immutable tuple, by reference) 50 times a second and sends what is new; a new
client is greeted with ``welcome`` and the whole history, so it resumes at the current phase; what the
client reports lands in :meth:`HostBridge.take_changes`, which the session core reads in its ``poll``.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time

from . import lead as leads
from . import protocol
from .feed import SnapshotFeed, session_state
from .wire import wire_caps

POLL_HZ = 50.0
PING_S = 1.0
STOP_TIMEOUT_S = 2.0


async def cancel(tasks, timeout: float = 0.5) -> None:
    """Cancels ``tasks`` and lets them finish their cleanup (bounded by ``timeout``)."""
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


def now_ms() -> float:
    return time.monotonic() * 1000.0


class HostBridge:
    """``engine``: the session's StimulusEngine (read only); ``gentle()``: whether gentle mode is on and
    ``unlocks()``: the gentle limits unlocked now (plain reads, from the loop's thread)."""

    via = "this network"

    def __init__(self, engine, gentle=lambda: False, unlocks=dict, lead_ms: float = protocol.DEFAULT_LEAD_MS):
        self.engine = engine
        self.gentle = gentle
        self.unlocks = unlocks
        self.lead_ms = lead_ms
        self.expired = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: list = []
        self._feed: SnapshotFeed | None = None
        self._lock = threading.Lock()
        self._status = {**self._blank(), "lead_ms": lead_ms}
        self._changes: list[tuple[str, dict]] = []  # ("connected"/"left"/"status"/"link", status dict)
        self._rtts: collections.deque = collections.deque(maxlen=leads.WINDOW)
        self._lead_due = False  # a new lead waits to be sent
        self.stats = {"refused": 0, "bad": 0, "flood": 0, "too_big": 0, "sent": 0}

    @staticmethod
    def _blank() -> dict:
        return {"connected": False, "rtt_ms": None, "sound": False, "screen": None, "audio": None,
                "av_offset_ms": None, "dropped_frames": 0, "frame": None}

    # ------------------------------------------------------------------ the therapist's thread

    @property
    def url(self) -> str:  # the client's link
        raise NotImplementedError

    def _run_loop(self, opener, name: str, timeout: float) -> None:
        """Starts the loop's thread and runs ``opener()`` (a coroutine function) on it; raises what it
        raised (OSError for anything else), or OSError when it did not finish within ``timeout``."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def main():
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(opener())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name=name, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            self.end("it did not start in time", 0.5)
            raise OSError(f"{self.via} did not answer in time")
        if failure:
            exc = failure[0]
            raise exc if isinstance(exc, OSError) else OSError(str(exc))

    def take_changes(self) -> list[tuple[str, dict]]:
        """What happened since the last call: ("connected" | "left" | "status" | "link", the status then)."""
        with self._lock:
            out, self._changes = self._changes, []
        return out

    @property
    def status(self) -> dict:
        with self._lock:
            return dict(self._status)

    def end(self, reason: str = "the session ended", timeout: float = STOP_TIMEOUT_S) -> None:
        """The session ended: the token expires, the client gets ``bye``, the loop stops and its thread
        is joined. Never waits longer than about ``timeout`` in all."""
        self.expired = True
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        deadline = time.monotonic() + timeout
        try:
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(reason), loop)
            fut.result(max(0.05, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - a loop that did not answer in time is stopped regardless
            pass
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:
            pass
        thread.join(max(0.05, deadline - time.monotonic()))

    # ------------------------------------------------------------------ the loop's thread

    def _client_here(self) -> bool:
        """Whether a client is there to send to."""
        raise NotImplementedError

    async def _deliver(self, text: str) -> None:
        """Sends one encoded message to the client."""
        raise NotImplementedError

    async def _shutdown(self, reason: str) -> None:
        await cancel(self._tasks)

    def _start_tasks(self) -> None:
        self._tasks = [asyncio.ensure_future(self._pump()), asyncio.ensure_future(self._pinger())]

    async def _send(self, msg: dict) -> None:
        await self._deliver(protocol.encode(msg))
        self.stats["sent"] += 1

    async def _greet(self) -> None:
        """A client (re)joined: ``welcome``, then the whole history (it resumes at the current phase)."""
        self._feed = SnapshotFeed(self.engine, self.unlocks)
        self._set("connected", **{**self._blank(), "connected": True, "lead_ms": self.lead_ms})  # before it hears anything
        self._lead_due = False  # the welcome carries the lead
        await self._send(protocol.welcome(session_state(self.engine, self.gentle()), wire_caps(), self.lead_ms))
        await self._push()

    def _set(self, kind: str | None = None, **changes) -> None:
        with self._lock:
            self._status.update(changes)
            if kind in ("status", "link") and self._changes and self._changes[-1][0] == kind:
                self._changes[-1] = (kind, dict(self._status))  # bounded: only the latest status waits
            elif kind:
                self._changes.append((kind, dict(self._status)))

    def _take(self, msg: dict) -> None:
        """A valid message from the client."""
        t = msg["type"]
        if t == "pong":
            rtt = max(0.0, now_ms() - msg["sent_ms"])
            self._rtts.append(rtt)
            proposed = leads.recommended_lead_ms(self._rtts)
            if leads.worth_changing(self.lead_ms, proposed):
                self.lead_ms = proposed
                self._lead_due = True
            self._set("status", rtt_ms=round(rtt, 1), lead_ms=self.lead_ms)
        elif t == "hello":
            s = msg["screen"]
            self._set("status", screen=(s["w"], s["h"], s["dpr"]), audio=msg["audio"])
        elif t == "status":
            self._set("status", sound=msg["sound"], av_offset_ms=msg["av_offset_ms"],
                      dropped_frames=msg["dropped_frames"], frame=msg["frame"])

    async def _push(self) -> None:
        if self._feed is None:
            return
        m = self._feed.message(now_ms())
        if m is not None:
            await self._send(m)

    async def _pump(self) -> None:
        while True:
            await asyncio.sleep(1.0 / POLL_HZ)
            if self._client_here():
                try:
                    await self._pump_once()
                except (ConnectionError, RuntimeError, protocol.ProtocolError):
                    pass

    async def _pinger(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(PING_S)
            if self._client_here():
                n += 1
                try:
                    await self._send(protocol.ping(n, now_ms()))
                except (ConnectionError, RuntimeError):
                    pass

    async def _pump_once(self) -> None:
        if self._lead_due:
            self._lead_due = False
            await self._send(protocol.lead(self.lead_ms))
        await self._push()
