"""Which clock drives the engine: the sound card, or the system clock standing in for it.

Exactly one clock drives the engine at a time: each clock carries an owner token and the engine
refuses ``process()`` from any other (``StimulusEngine.owner``). Nothing here waits for PortAudio:
every call that can block (open, start, stop, close, re-scan) runs on the PortAudio worker
(:class:`bls.audio.output.PortAudio`) and is polled from :meth:`ClockManager.check`, which the session
calls every 50 ms. A device that stops calling back (unplugged, its JACK server killed) is replaced by
the stand-in at once, so a running set can always end; its stream is closed on the worker or, if it
never stops, abandoned. An output is opened while the stand-in runs and takes the engine between sets.
"""

from __future__ import annotations

import time

from ..audio.output import (NOT_RESPONDING, OPEN_DEADLINE_S, STALL_S, AudioStatus, MonotonicClock, close_device,
                            device_failed_status, device_status, open_clock, open_device, portaudio)

#: how long closing the clock at the end may hold up the caller (only a clock that still plays)
CLOSE_WAIT_S = 1.0


def retire(clock, wait_s: float = 0.0) -> bool:
    """Stop ``clock`` off the caller's thread, waiting at most ``wait_s``; returns whether it stopped."""
    fut = close_device(clock)
    if fut is None:
        return True
    try:
        fut.result(timeout=wait_s)
    except Exception:  # noqa: BLE001 - TimeoutError: left to finish (or hang) on the worker
        return fut.done()
    return True


class _Opening:
    """An output being opened on the PortAudio worker."""

    def __init__(self, device, future):
        self.device = device
        self.future = future


class ClockManager:
    def __init__(self, engine, want_audio: bool, device=None, opener=None):
        self.engine = engine
        self._opener = opener  # None: bls.audio.output.open_clock (looked up when used: tests replace it)
        self.device = device
        self._opening: _Opening | None = None
        self._settled: AudioStatus | None = None  # an open that finished, for the session to record
        # at start-up (no window yet) the first output is waited for, at most OPEN_DEADLINE_S
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
    def opening(self) -> bool:
        return self._opening is not None

    @property
    def anchor(self):
        return self.clock.anchor

    def set_delay(self, seconds: float) -> bool:
        """The manual audio delay for the output now playing (see ``_Clock.anchor_at``); returns whether
        it applies (False: the system clock stands in, there is no sound to wait for)."""
        if not self.clock.is_device:
            return False
        self.clock.set_delay(seconds)
        return True

    def _stand_in(self) -> None:
        """The system clock takes the engine now; the old clock is closed on the worker."""
        old = self.clock
        stand_in = MonotonicClock(self.engine)
        self.engine.owner = stand_in.token  # the old clock can no longer advance the engine
        stand_in.start()
        self.clock = stand_in
        self.device_opened = None
        if old is not None:
            close_device(old, dead=old.is_device and not old.alive(time.monotonic()))

    def reopen(self, want_audio: bool, device=None) -> AudioStatus:
        """Open the clock asked for (between sets) without waiting: the stand-in takes the engine at once,
        the old clock is closed and the output opened on the PortAudio worker (PortAudio looks for outputs
        again first: headphones plugged in since); :meth:`check` hands it the engine once it plays.
        Returns the status now (``pending`` while the output opens)."""
        self.device = device
        self._cancel_opening()
        if self.clock.is_device:
            self._stand_in()
        if not want_audio:
            self.status = AudioStatus(False, "Audio off", "The target runs on the system clock.")
            return self.status
        fut = portaudio().submit(open_device, self.engine, device, True, deadline_s=OPEN_DEADLINE_S)
        self._opening = _Opening(device, fut)
        self.status = AudioStatus(False, f"Opening the audio output “{device or 'system default'}” …",
                                  "The target runs on the system clock meanwhile.", device, pending=True)
        return self.status

    def _cancel_opening(self) -> None:
        if self._opening is not None:
            self._opening.future.add_done_callback(_close_if_opened)
            self._opening = None

    def settled(self, adopt: bool = True) -> AudioStatus | None:
        """Once an output being opened is ready or failed: the new status (once), else None. A ready
        output takes the engine only when ``adopt`` (no set runs); until then it plays silence."""
        op = self._opening
        if op is None:
            return None
        fut = op.future
        if not fut.done():
            if time.monotonic() <= fut.deadline:
                return None
            self._cancel_opening()  # it hangs in PortAudio: given up (closed if it ever opens)
            self.status = AudioStatus(False, "No sound: " + NOT_RESPONDING[0], NOT_RESPONDING[1], op.device)
            return self.status
        exc = fut.exception()
        if exc is not None:
            self._opening = None
            self.status = device_failed_status(exc, op.device)
            return self.status
        if not adopt:
            return None
        self._opening = None
        clock = fut.result()
        old = self.clock
        self.engine.owner = clock.token  # the stand-in retires itself; the device advances the engine
        self.clock = clock
        self.device_opened = op.device
        self._adopt_device_name()
        close_device(old)
        self.status = device_status(clock)
        return self.status

    def check(self, now: float | None = None) -> str | None:
        """If the device clock died, hand the engine to the stand-in at once; returns why, or None.
        Also replaces a PortAudio worker stuck past its deadline. Never blocks."""
        portaudio().pump()
        clock = self.clock
        if not clock.is_device or clock.alive(time.monotonic() if now is None else now):
            return None
        why = clock.error or f"no audio for more than {STALL_S:g} s"
        self._stand_in()  # never waited for: closing a dead stream can block for good
        self.status = AudioStatus(
            False, "No sound: the audio output stopped",
            "The target runs on the system clock; the set can be stopped as usual. Check the headphones, "
            f"then choose the output again under Sound. (For support: {why})")
        return why

    def close(self) -> None:
        """At the end: an output being opened is dropped; the clock is closed, waiting at most
        CLOSE_WAIT_S for one that still plays and not at all for a dead one."""
        self._cancel_opening()
        alive = not self.clock.is_device or self.clock.alive(time.monotonic())
        retire(self.clock, CLOSE_WAIT_S if alive else 0.0)


def _close_if_opened(fut) -> None:
    if not fut.cancelled() and fut.exception() is None:
        close_device(fut.result())
