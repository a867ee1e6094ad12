"""The sound card's clock with the synthesis ahead of the device: no Python in the audio callback.

Why: a Python callback must take the GIL inside every device period. On a laptop whose two cores are
busy (a video call), or while the GUI thread is inside a long Qt call that keeps the GIL, it misses
JACK's 5 ms deadline hundreds of times in ten minutes (docs/benchmarks.md). Here the callback is
rtmixer's, in C: it copies frames from a lock-free ring buffer and never waits for Python. A Python
thread (the *filler*) renders the engine into that ring, ``LEAD_S`` ahead of what the device took.

Sync does not depend on how far ahead the filler is: the anchors come from the position the device
actually consumed. rtmixer records, for each action it starts, the DAC time of its first frame
(``actual_time``, in the stream's time base). The ring is played by a chain of actions: every
``ANCHOR_EVERY_S`` the playing action is cancelled at a stream time T and a new one, on the same ring,
is started at the same T. Both are resolved in the same callback from the same block timestamp, so the
hand-over is gapless (the new action reads the frame after the old one's last) and the new action's
``actual_time`` is the DAC time of a known ring frame: an :class:`~bls.core.clock.Anchor` as exact as
the per-block ones of the Python callback, a few times a second. The stream's time base is mapped to
``time.monotonic()`` by pairs of readings taken together (on JACK the stream time counts the device's
own frames, so a sound card off the system clock is followed, as with per-block anchors).

If the ring ever runs dry (the filler starved for longer than ``LEAD_S``), rtmixer ends the action: the
device plays silence, the dry spell is counted, and a new action is started once the ring is filled
again; its anchor is exact again, so the picture stays with the sound.

Esc: the engine's stop is rendered ``LEAD_S`` ahead of the device, so it is heard ``LEAD_S`` plus the
output latency after the key (docs/benchmarks.md measures it).
"""

from __future__ import annotations

import collections
import os
import threading
import time

import numpy as np

from ..core.engine import SAMPLE_RATE, StimulusEngine
from .output import REQUESTED_LATENCY_S, _Clock, required_sounddevice, resolve_output

#: how far ahead of the device the filler keeps the ring (s): covers the filler being held up
LEAD_S = 0.1
#: the ring's size in frames (a power of two, well above LEAD_S and any device's block)
RING_FRAMES = 32768
#: the silence the ring starts with, before the device has said how many frames it takes at a time
PREFILL_FRAMES = 8192
#: the filler's tick (s)
TICK_S = 0.004
#: how often the playing action is handed over to a new one for an anchor (s)
ANCHOR_EVERY_S = 0.1
#: a hand-over is asked for this far beyond the device's latency (s): the callback must see it in time
HANDOVER_MARGIN_S = 0.05
#: frames the filler renders per engine call (a preallocated scratch block)
CHUNK = 1024
#: the stream-time -> monotonic() offset is the median of this many recent paired readings
TIME_PAIRS = 33
#: a pair whose monotonic() readings are further apart than this was interrupted: not used (s)
PAIR_MAX_S = 0.0002
#: statistics are fetched from the callback this often (s)
STATS_EVERY_S = 0.5


def available() -> str | None:
    """None if rtmixer can be used, else why not."""
    try:
        import _rtmixer  # noqa: F401, PLC0415
        import pa_ringbuffer  # noqa: F401, PLC0415
    except ImportError as exc:
        return f"rtmixer is not installed ({exc})"
    return None


#: the filler's real-time priority where the system allows it: above every ordinary thread (a busy
#: machine's), below the audio callback's own (JACK gives its clients' threads 5 and up)
FILLER_RT_PRIORITY = 2


def realtime_thread() -> str:
    """Give the calling thread real-time (SCHED_FIFO) priority if the system allows it (Linux: root, or
    an rtprio limit, which members of the ``audio`` group get with jackd2); returns what it got. Safe for
    the filler: it sleeps between ticks and never spins."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(FILLER_RT_PRIORITY))  # 0: this thread (Linux)
    except (AttributeError, OSError, ValueError):
        return "normal"
    return f"real-time (SCHED_FIFO {FILLER_RT_PRIORITY})"


class _Stream:
    """rtmixer's C callback on a stream of the given sounddevice module (bls may hold a fresh PortAudio
    instance, see PortAudio.rescan; rtmixer's own Mixer is bound to the first one)."""

    def __init__(self, sd, **kwargs):
        from _rtmixer import ffi, lib  # noqa: PLC0415
        from pa_ringbuffer import init  # noqa: PLC0415

        self.ffi, self.lib = ffi, lib
        self.RingBuffer = init(ffi, lib)
        self._action_q = self.RingBuffer(ffi.sizeof("struct action*"), 64)
        self._result_q = self.RingBuffer(ffi.sizeof("struct action*"), 64)
        self._state = ffi.new("struct state*", dict(input_channels=0, output_channels=2, samplerate=0,
                                                    action_q=self._action_q._ptr, result_q=self._result_q._ptr,
                                                    actions=ffi.NULL))
        self.stream = sd._StreamBase(kind="output", dtype="float32", channels=2, callback=ffi.addressof(lib, "callback"),
                                     userdata=self._state, **kwargs)
        self._state.samplerate = self.stream.samplerate
        self._live: dict = {}  # actions the callback may still hold (kept alive: it has their addresses)
        self._tmp = ffi.new("struct action**")

    def _enqueue(self, action, keep_alive=None):
        self._tmp[0] = action
        if self._action_q.write(self._tmp) != 1:
            raise RuntimeError("rtmixer's action queue is full")
        self._live[action] = keep_alive
        return action

    def ended(self, action) -> bool:
        """Whether the callback is done with ``action`` (returned by :meth:`returned` now or earlier)."""
        return action not in self._live

    def returned(self) -> list:
        """Actions the callback is done with, since the last call."""
        done = []
        while self._result_q.readinto(self._tmp):
            a = self._tmp[0]
            self._live.pop(a, None)
            done.append(a)
        return done

    def play(self, ring, start: float):
        return self._enqueue(self.ffi.new("struct action*", dict(
            type=self.lib.PLAY_RINGBUFFER, actual_time=-1.0, requested_time=start, ringbuffer=ring._ptr,
            total_frames=self.lib.ULONG_MAX, channels=2, mapping=[1, 2])), ring)

    def cancel(self, action, at: float):
        return self._enqueue(self.ffi.new("struct action*", dict(
            type=self.lib.CANCEL, actual_time=-1.0, requested_time=at, action=action)))

    def fetch_stats(self):
        return self._enqueue(self.ffi.new("struct action*", dict(
            type=self.lib.FETCH_AND_RESET_STATS, actual_time=-1.0, requested_time=0.0)))


class _TimeMap:
    """The stream's time base -> ``time.monotonic()``: the median offset of recent paired readings."""

    def __init__(self):
        self._offsets: collections.deque[float] = collections.deque(maxlen=TIME_PAIRS)
        self.offset: float | None = None

    def read(self, stream) -> None:
        m1 = time.monotonic()
        s = stream.time
        m2 = time.monotonic()
        if m2 - m1 <= PAIR_MAX_S and s > 0:
            self._offsets.append(0.5 * (m1 + m2) - s)
            self.offset = float(np.median(self._offsets))

    def mono(self, stream_time: float) -> float:
        return stream_time + (self.offset or 0.0)


class RingClock(_Clock):
    """The device's clock; the engine is rendered ahead into a ring that rtmixer's C callback plays."""

    is_device = True

    def __init__(self, engine: StimulusEngine, device=None, sd=None):
        super().__init__(engine)
        sd = required_sounddevice(sd)
        self._mixer = _Stream(sd, samplerate=SAMPLE_RATE, blocksize=0, latency=REQUESTED_LATENCY_S,
                              device=resolve_output(sd, device))
        self._adopt_stream(sd, self._mixer.stream)
        self.lead_s = LEAD_S
        self.filler_priority = "not started"
        self.closed = False
        self.timestamps_ok = 0  # anchors taken
        self.timestamps_bad = 0  # hand-overs that left a gap (the new action started a block late)
        self.dry = 0  # times the ring ran dry (the device played silence until it was refilled)
        self.underflow_times: list[float] = []  # monotonic() when underflows were reported (the first 1000)
        self.low_water_frames: int | None = None  # the fewest frames the ring held before a refill
        self.device_blocks = 0
        self.device_block_min: int | None = None
        self.device_block_max: int | None = None
        self._ring = self._mixer.RingBuffer(8, RING_FRAMES)  # float32 stereo frames
        self._scratch = np.zeros((CHUNK, 2), dtype=np.float32)
        self._written = 0  # ring frames written since the start
        self._last_consumed = 0
        # which engine frame each stretch of ring frames holds: (first ring frame, engine frame - ring
        # frame), or None for silence written while this clock did not drive the engine
        self._segments: collections.deque = collections.deque([(0, None)])
        self._driving = False
        self._time = _TimeMap()
        self._action = None  # the playing ring action
        self._action_base = 0  # the ring frame its first frame is
        self._anchored = False  # its start was published as an anchor
        self._handover = None  # (cancel, next action) while a hand-over is due
        self._stats_action = None
        self._next_handover = 0.0
        self._next_stats = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bls-ring-filler", daemon=True)

    # ------------------------------------------------------------------------------------ filler thread

    def start(self) -> None:
        self.last_block_at = time.monotonic()
        self._fill(PREFILL_FRAMES)  # silence (the engine is not ours yet), more than any device's first block
        self.stream.start()
        self._time.read(self.stream)
        self._action = self._mixer.play(self._ring, 0.0)
        self._thread.start()

    def _run(self) -> None:
        self.filler_priority = realtime_thread()
        try:
            while not self._stop.is_set():
                self._tick(time.monotonic())
                self._stop.wait(TICK_S)
        except Exception as exc:  # noqa: BLE001 - never die silently: the GUI replaces a clock with an error
            self.error = repr(exc)

    def _tick(self, now: float) -> None:
        self._time.read(self.stream)
        if self._driving:
            held = self._ring.read_available
            if self.low_water_frames is None or held < self.low_water_frames:
                self.low_water_frames = held
        consumed = self._consumed()
        if consumed != self._last_consumed:  # the device takes frames: the clock is alive
            self._last_consumed = consumed
            self.last_block_at = now
        self._collect(now)
        self._fill()
        if self._action is None and self._ring.read_available >= self.lead_frames():
            self._restart()
        if now >= self._next_stats and self._stats_action is None:
            self._stats_action = self._mixer.fetch_stats()
            self._next_stats = now + STATS_EVERY_S
        if self._action is not None and self._handover is None and self._anchored and now >= self._next_handover:
            at = self.stream.time + self.latency_s + HANDOVER_MARGIN_S
            self._handover = (self._mixer.cancel(self._action, at), self._mixer.play(self._ring, at))
            self._next_handover = now + ANCHOR_EVERY_S

    def queued_frames(self) -> int:
        return int(self._ring.read_available)

    def drain_mark(self) -> int:
        # a chunk more than written: the filler may be between rendering its last chunk and writing it
        return self._written + CHUNK

    def drained(self, mark: int | None) -> bool:
        return mark is None or self._consumed() >= mark

    def _consumed(self) -> int:
        return self._written - self._ring.read_available

    def lead_frames(self) -> int:
        """How many frames the filler keeps in the ring: LEAD_S, or two of the device's blocks if more."""
        return max(int(self.lead_s * SAMPLE_RATE), 2 * (self.device_block_max or 0))

    def _fill(self, upto: int | None = None) -> None:
        """Render the engine (or silence, while it is not ours) until the ring holds the lead."""
        want = (self.lead_frames() if upto is None else upto) - self._ring.read_available
        while want > 0:
            k = min(CHUNK, want, self._ring.write_available)
            if k <= 0:
                return
            out = self._scratch[:k]
            t_in = time.perf_counter()
            mine = self.engine.owner is self.token and not self.engine.busy
            if mine:
                if not self._driving:
                    self._driving = True
                    self._segments.append((self._written, self.engine.next_frame - self._written))
                self._advance(k, out)
            else:
                if self._driving:
                    self._driving = False
                    self._segments.append((self._written, None))
                out.fill(0.0)
            self._ring.write(out)
            self._written += k
            want -= k
            if mine:
                self.stats.record(time.perf_counter() - t_in, k)

    def _engine_frame(self, ring_frame: int) -> int | None:
        seg = None
        for first, offset in self._segments:
            if first > ring_frame:
                break
            seg = offset
        return None if seg is None else ring_frame + seg

    def _publish(self, ring_frame: int, stream_time: float) -> None:
        """An anchor: ring frame ``ring_frame`` is heard at ``stream_time`` (if it holds an engine frame)."""
        frame = self._engine_frame(ring_frame)
        while len(self._segments) > 1 and self._segments[1][0] <= ring_frame:
            self._segments.popleft()  # stretches the device has played are not asked for again
        if frame is None or stream_time <= 0:
            return
        self.anchor = self.anchor_at(frame, self._time.mono(stream_time))
        self.timestamps_ok += 1

    def _collect(self, now: float) -> None:
        """What the callback did since the last tick: actions started, handed over, ended."""
        self._mixer.returned()
        if self._stats_action is not None and self._mixer.ended(self._stats_action):
            st = self._stats_action.stats
            if st.output_underflows:
                self.stats.underflows += int(st.output_underflows)
                if len(self.underflow_times) < 1000:
                    self.underflow_times.append(now)
            if st.blocks:
                self.device_blocks += int(st.blocks)
                lo, hi = int(st.min_blocksize), int(st.max_blocksize)
                self.device_block_min = lo if self.device_block_min is None else min(lo, self.device_block_min)
                self.device_block_max = hi if self.device_block_max is None else max(hi, self.device_block_max)
            self._stats_action = None
        a = self._action
        if a is None:
            return
        if not self._anchored and a.done_frames > 0:
            self._anchored = True
            self._publish(self._action_base, a.actual_time)
        if self._handover is not None:
            cancel, nxt = self._handover
            if nxt.done_frames > 0:  # the old action ended in the block where the new one began
                self._action_base += int(a.done_frames)
                if cancel.actual_time != nxt.actual_time:
                    self.timestamps_bad += 1
                self._action, self._handover = nxt, None
                self._publish(self._action_base, nxt.actual_time)
                a = nxt  # it may have run dry already, in the same block
            elif self._mixer.ended(nxt):  # taken off without playing (the ring was dry at that moment)
                self._handover = None
        if self._handover is None and self._mixer.ended(a):
            # ended without a hand-over: the ring ran dry, the device plays silence
            self.dry += 1
            self._action_base += int(a.done_frames)
            self._action = None

    def _restart(self) -> None:
        """A new action after a dry spell: it starts with the ring frame the device has not yet taken."""
        self._action_base = self._consumed()
        self._anchored = False
        self._action = self._mixer.play(self._ring, 0.0)

    # --------------------------------------------------------------------------------------------- control

    def alive(self, now: float) -> bool:
        if self.error is not None:
            return False
        if not self._thread.is_alive() and self._thread.ident is not None and not self._stop.is_set():
            return False
        return super().alive(now)

    def stop(self) -> None:
        """Stop the filler, then stop and close the stream (blocking: on the PortAudio worker in the app)."""
        from .output import portaudio  # noqa: PLC0415

        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)
        try:
            self.stream.stop()
        finally:
            self.stream.close()
            self.closed = True
            portaudio().streams.discard(self)
