"""Which clock drives the engine: the sound card, or the system clock standing in for it.

Exactly one clock drives the engine at a time: each clock carries an owner token and the engine
refuses ``process()`` from any other (``StimulusEngine.owner``). A device that stops calling back
(unplugged, a driver error) is replaced by the stand-in at once, so a running set can always end; the
dead stream is closed on a thread of its own, because closing a dead PortAudio stream can block for a
long time and nothing here may freeze the caller (the GUI thread in the app).
"""

from __future__ import annotations

import threading
import time

from ..audio.output import STALL_S, AudioStatus, MonotonicClock, open_clock

#: how long closing a clock may hold up the caller before it is left to finish on its own
CLOSE_WAIT_S = 1.0


def _stop_quietly(clock) -> None:
    try:
        clock.stop()
    except Exception:  # noqa: BLE001 - a dead stream may refuse to stop; it is dropped either way
        pass


def retire(clock, wait_s: float = 0.0) -> bool:
    """Stop ``clock`` on a thread of its own, waiting at most ``wait_s``; returns whether it stopped."""
    t = threading.Thread(target=_stop_quietly, args=(clock,), name="bls-clock-close", daemon=True)
    t.start()
    t.join(wait_s)
    return not t.is_alive()


class ClockManager:
    def __init__(self, engine, want_audio: bool, device=None, opener=None):
        self.engine = engine
        self._opener = opener  # None: bls.audio.output.open_clock (looked up when used: tests replace it)
        self.device = device
        self.clock, self.status = self._open(want_audio, device, refresh=False)
        self.device_opened = device  # the output the current clock was opened for (None: stand-in)
        self._adopt_device_name()

    def _open(self, want_audio: bool, device, refresh: bool):
        opener = self._opener or open_clock
        return opener(self.engine, want_audio, device, refresh=refresh)

    def _adopt_device_name(self) -> None:
        """An output asked for by part of its name (``--audio-device USB``) is known by its full name."""
        name = getattr(self.clock, "device_name", None)
        if isinstance(self.device, str) and name:
            self.device = name
            self.device_opened = name

    @property
    def is_device(self) -> bool:
        return bool(self.clock.is_device)

    @property
    def anchor(self):
        return self.clock.anchor

    def reopen(self, want_audio: bool, device=None) -> AudioStatus:
        """Open the clock asked for (between sets): the old one is closed first, then PortAudio looks
        for outputs again (headphones plugged in since), then the new one takes the engine."""
        self.device = device
        old = self.clock
        if not retire(old, CLOSE_WAIT_S):
            # a stream that will not close: the stand-in takes the engine; the old one stays orphaned
            pass
        self.clock, self.status = self._open(want_audio, device, refresh=True)
        self.device_opened = device if self.clock.is_device else None
        self._adopt_device_name()
        return self.status

    def check(self, now: float | None = None) -> str | None:
        """If the device clock died, hand the engine to the stand-in at once; returns why, or None."""
        clock = self.clock
        if not clock.is_device or clock.alive(time.monotonic() if now is None else now):
            return None
        why = clock.error or f"no audio for more than {STALL_S:g} s"
        stand_in = MonotonicClock(self.engine)
        self.engine.owner = stand_in.token  # the dead stream can no longer advance the engine
        stand_in.start()
        self.clock = stand_in
        self.device_opened = None
        retire(clock)  # never waited for: closing a dead stream can block
        self.status = AudioStatus(
            False, "No sound: the audio output stopped",
            "The target runs on the system clock; the set can be stopped as usual. Check the headphones, "
            f"then choose the output again under Sound. (For support: {why})")
        return why

    def close(self) -> None:
        retire(self.clock, CLOSE_WAIT_S)
