"""What a baseline's free-running tone plays, and when the output says it is heard.

The benchmark's knowledge, never the design's: the naive designs ignore all of this (their picture
does not ask the tone anything). The tone's callback writes, per block and without allocating, the
frame count at the block's first frame and the moment the output says that frame is heard (its DAC
time moved to ``time.monotonic()`` terms), with the callback's duration and the underflows
(:class:`ToneLog`). :class:`HeardTone` fits a line through those anchors and answers, for a picture
presented at ``t``, which of the tone's frames is heard then and so which sweep phase the listener
hears: the tone pans to ``sweep(speed x n / sample_rate)`` for its own frame ``n``.
"""

from __future__ import annotations

import numpy as np

from ..audio.output import CallbackStats
from ..core.clock import Anchor, AnchorMap


class ToneLog(CallbackStats):
    """Per block of the free-running tone: duration and size (as :class:`CallbackStats`), the frame
    count at the block's first frame and the monotonic time it is heard, in preallocated rings."""

    def __init__(self, size: int = 8192):
        super().__init__(size)
        self.first_frames = np.zeros(size, dtype=np.int64)
        self.heard_at = np.zeros(size)
        self.dac_ok = np.zeros(size, dtype=bool)
        self.leads = np.zeros(size)  # heard_at minus the callback's start: the output's latency as it says
        self.dac_used = 0  # blocks whose heard time came from the output's own DAC time (all of them)

    def record_block(self, first: int, heard_at: float, dac_ok: bool, duration: float, frames: int,
                     called_at: float) -> None:
        """One block (the audio thread): written before the count moves on, so a reader that takes
        the count first never sees a half-written entry."""
        i = self.count % len(self.durations)
        self.first_frames[i] = first
        self.heard_at[i] = heard_at
        self.dac_ok[i] = dac_ok
        self.leads[i] = heard_at - called_at
        if dac_ok:
            self.dac_used += 1
        self.record(duration, frames)

    def lead_s(self) -> float | None:
        """The median time from a callback to its first frame being heard, over the blocks the ring
        holds (None before any block)."""
        n = min(self.count, len(self.leads))
        return float(np.median(self.leads[:n])) if n else None

    def anchors_since(self, start: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(first frames, heard times) of the blocks from number ``start`` on that the ring still
        holds, oldest first, and the number to ask from next time."""
        end, size = self.count, len(self.durations)
        start = max(start, end - size)
        idx = np.arange(start, end) % size
        return self.first_frames[idx], self.heard_at[idx], end


class HeardTone:
    """The free-running tone as the listener hears it: its anchors fitted, read at presentation times."""

    def __init__(self, log: ToneLog, speed: float, sample_rate: int = 48_000):
        self.log, self.speed, self.sample_rate = log, speed, sample_rate
        self.map = AnchorMap(sample_rate)
        self._next = 0

    def update(self) -> None:
        """Take the blocks rendered since the last call into the fitted line."""
        frames, times, self._next = self.log.anchors_since(self._next)
        for f, t in zip(frames.tolist(), times.tolist()):
            self.map.add(Anchor(int(f), float(t)))

    def frame_at(self, t: float) -> float | None:
        """The tone's frame heard at monotonic time ``t`` (None until the line is known)."""
        self.update()
        return self.map.frame_at(t) if self.map.locked else None

    def phase_at(self, t: float) -> float | None:
        """The sweep phase the tone plays at ``t`` as heard (None before its first frame is heard)."""
        n = self.frame_at(t)
        if n is None or n < 0:
            return None
        return self.speed * n / self.sample_rate

    def offset_ms(self, picture_phase: float, t: float) -> float | None:
        """Picture minus sound, in ms of stimulus time, for a picture of ``picture_phase`` presented at
        ``t``: positive, the picture is ahead of what is heard."""
        heard = self.phase_at(t)
        if heard is None:
            return None
        return (picture_phase - heard) / self.speed * 1000.0
