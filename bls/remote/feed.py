"""What the server sends, read from the engine without locks (Qt-free, no aiohttp): the snapshots the
engine published since the last read, and the session's state for ``welcome``.

``engine.history`` is an immutable tuple replaced whole by the clock thread: one read of the attribute
is a consistent view. Snapshots are immutable too, so "new" means "not in the tuple read last time"
(by identity: the previous tuple keeps its snapshots alive, so no id is reused meanwhile)."""

from __future__ import annotations

from . import protocol
from .wire import snapshot_to_wire


class SnapshotFeed:
    def __init__(self, engine, unlocks=dict):
        """``unlocks()``: the gentle limits the therapist unlocked now (they travel with the snapshots)."""
        self.engine = engine
        self.unlocks = unlocks
        self._last: tuple = ()

    def reset(self) -> None:
        """The next :meth:`take` returns the whole history (a client that (re)joins)."""
        self._last = ()

    def take(self) -> list:
        """The snapshots published since the last call, oldest first (a new client: the whole
        history, so it resumes at the current phase)."""
        history = self.engine.history  # one read
        seen = {id(s) for s in self._last}
        new = [s for s in history if id(s) not in seen]
        self._last = history
        return new[-protocol.MAX_ITEMS:]

    def message(self, now_ms: float) -> dict | None:
        """A ``snapshots`` message of the new snapshots (None: nothing new)."""
        new = self.take()
        if not new:
            return None
        # the feel (the shape of the end-point marks) and gentle mode are the engine's, read once
        feel, gentle_on, unlocks = self.engine.feel, self.engine.settings.gentle, dict(self.unlocks())
        return protocol.snapshots([snapshot_to_wire(s, feel, gentle_on, unlocks) for s in new],
                                  self.engine.next_frame, now_ms)


def session_state(engine, gentle: bool) -> dict:
    """The stimulus state the page needs on joining (no clinical data)."""
    st = engine.status
    return {"set_state": str(st.state), "set_index": int(st.set_index), "gentle": bool(gentle),
            "now_frame": int(engine.next_frame)}
