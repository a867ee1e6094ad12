"""Mapping the audio clock onto the system clock: anchors and their smoothed fit.

After each block, the clock that drives the engine publishes an :class:`Anchor`: the block's first
frame and the monotonic time at which that frame reaches the listener (the DAC time, moved into
``time.monotonic()`` terms). The display asks "which frame is heard at the moment this picture is
seen?" and :class:`AnchorMap` answers from a least-squares line through recent anchors. The line's
slope is the true sample rate as seen by the system clock, so a sound card running 200 ppm fast or
slow is followed, not drifted from; scheduling jitter is averaged out; implausible anchors (zero or
backwards timestamps, jumps) are rejected, and a clock that really moved is re-locked.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

import numpy as np

#: an anchor whose DAC time lies further than this from the fitted line is an outlier (s)
OUTLIER_S = 0.008
#: this many consecutive outliers that agree with each other mean the clock really moved
RELOCK_AFTER = 6
#: the fitted rate may differ from nominal by at most this (a real crystal is within ~250 ppm)
MAX_RATE_ERROR = 0.002


@dataclass(frozen=True, slots=True)
class Anchor:
    frame: int  # first frame of the block
    time: float  # monotonic time (s) at which that frame is heard
    epoch: int = 0  # changes when the clock source changes (device <-> monotonic)


def dac_time_to_monotonic(dac: float, current: float, now_mono: float, fallback_latency: float,
                          ) -> tuple[float, bool]:
    """Monotonic time at which the block's first frame is heard, and whether the stream's own
    timestamps were usable.

    PortAudio reports ``outputBufferDacTime`` and ``currentTime`` in the stream's time base; some host
    APIs give zeros, values that go backwards or absurd gaps. A plausible pair is translated with the
    offset ``now_mono - current``; otherwise the block is assumed to be heard after the stream's
    reported output latency.
    """
    lead = dac - current
    if dac > 0 and current > 0 and math.isfinite(lead) and 0.0 <= lead <= 1.0:
        return now_mono + lead, True
    return now_mono + fallback_latency, False


class AnchorMap:
    """Robust, drift-following mapping between frames and monotonic time."""

    def __init__(self, sample_rate: float, window: int = 96):
        self.sample_rate = float(sample_rate)
        self._pts: collections.deque[tuple[int, float]] = collections.deque(maxlen=window)
        # the most recent outliers only: a stray glitch before a real jump must not block the relock
        self._rejects: collections.deque[tuple[int, float]] = collections.deque(maxlen=RELOCK_AFTER)
        self._epoch: int | None = None
        self._last_frame: int | None = None
        # the model: time = t0 + (frame - f0) * spf
        self.f0 = 0
        self.t0 = 0.0
        self.spf = 1.0 / self.sample_rate
        self.locked = False
        self.rejected = 0
        self.relocks = 0

    def reset(self) -> None:
        self._pts.clear()
        self._rejects.clear()
        self._last_frame = None
        self.spf = 1.0 / self.sample_rate
        self.locked = False

    def add(self, anchor: Anchor) -> bool:
        """Feed one anchor; returns False if it was rejected as implausible."""
        if anchor.epoch != self._epoch:
            self._epoch = anchor.epoch
            self.reset()
        if self._last_frame is not None and anchor.frame <= self._last_frame:
            return True  # already seen (the display polls faster than blocks arrive)
        self._last_frame = anchor.frame
        if not math.isfinite(anchor.time):
            self.rejected += 1
            return False
        if self.locked:
            err = anchor.time - self.time_at(anchor.frame)
            if abs(err) > OUTLIER_S:
                self.rejected += 1
                self._rejects.append((anchor.frame, anchor.time))
                if len(self._rejects) == RELOCK_AFTER and self._rejects_agree():
                    self._pts.clear()
                    self._pts.extend(self._rejects)
                    self._rejects.clear()
                    self.relocks += 1
                    self._fit()
                return False
        self._rejects.clear()
        self._pts.append((anchor.frame, anchor.time))
        self._fit()
        return True

    def _rejects_agree(self) -> bool:
        f = np.array([p[0] for p in self._rejects], dtype=np.float64)
        t = np.array([p[1] for p in self._rejects])
        resid = t - (t[0] + (f - f[0]) / self.sample_rate)
        return float(np.ptp(resid)) < OUTLIER_S

    def _fit(self) -> None:
        n = len(self._pts)
        f = np.fromiter((p[0] for p in self._pts), dtype=np.float64, count=n)
        t = np.fromiter((p[1] for p in self._pts), dtype=np.float64, count=n)
        fr = f[-1]
        df = f - fr
        nominal = 1.0 / self.sample_rate
        span = df[-1] - df[0]
        if n >= 8 and span >= 0.5 * self.sample_rate:
            # least squares for the slope, with the rate bounded to a physical crystal error
            dm = df - df.mean()
            slope = float(np.dot(dm, t - t.mean()) / np.dot(dm, dm))
            slope = min(max(slope, nominal * (1 - MAX_RATE_ERROR)), nominal * (1 + MAX_RATE_ERROR))
        else:
            slope = self.spf if self.locked else nominal
        intercept = float(np.mean(t - slope * df))
        self.f0, self.t0, self.spf = int(fr), intercept, slope
        self.locked = True

    def time_at(self, frame: float) -> float:
        return self.t0 + (frame - self.f0) * self.spf

    def frame_at(self, t: float) -> float:
        """The (fractional) frame heard at monotonic time ``t``."""
        return self.f0 + (t - self.t0) / self.spf

    @property
    def rate_ppm(self) -> float:
        """How far the audio clock runs from nominal, seen from the system clock (ppm)."""
        return (1.0 / (self.spf * self.sample_rate) - 1.0) * 1e6
