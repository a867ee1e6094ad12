"""Frame-timing statistics: intervals, percentiles and the dropped-frame rule.

A frame is *dropped* when the interval before it exceeds ``DROP_FACTOR`` x the display period
(PsychoPy's rule); ``missed`` counts how many refreshes were skipped in all.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import math

import numpy as np

DROP_FACTOR = 1.2
#: missed refreshes are the interval in periods rounded to the nearest whole, halves up (2.5 periods:
#: the refreshes at 1 and 2 passed); the extra 1e-9 absorbs the rounding of a timestamp difference
HALF_UP = 0.5 + 1e-9


@dataclass(frozen=True)
class IntervalStats:
    count: int
    mean_ms: float
    sd_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    dropped: int
    missed: int
    measured_hz: float


def percentile(values, q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a sequence; NaN when empty."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return float("nan")
    return float(np.percentile(arr, q))


def dropped_frames(intervals_s, period_s: float) -> tuple[int, int]:
    """(frames that came late, refreshes missed in all) for intervals measured against a period."""
    iv = np.asarray(intervals_s, dtype=np.float64)
    if iv.size == 0 or period_s <= 0:
        return 0, 0
    late = iv > DROP_FACTOR * period_s
    missed = np.maximum(0, np.floor(iv[late] / period_s + HALF_UP) - 1)
    return int(np.count_nonzero(late)), int(missed.sum())


def interval_stats(timestamps_s, period_s: float) -> IntervalStats:
    ts = np.asarray(timestamps_s, dtype=np.float64)
    iv = np.diff(ts)
    if iv.size == 0:
        nan = float("nan")
        return IntervalStats(0, nan, nan, nan, nan, nan, 0, 0, nan)
    dropped, missed = dropped_frames(iv, period_s)
    ms = iv * 1000.0
    return IntervalStats(int(iv.size), float(ms.mean()), float(ms.std()), percentile(ms, 50), percentile(ms, 99),
                         float(ms.max()), dropped, missed, float(1.0 / iv.mean()))


class FrameClock:
    """Presentation timestamps of the last frames plus running totals for a whole session."""

    def __init__(self, period_s: float, keep: int = 4096):
        self.period_s = period_s
        self.times: collections.deque[float] = collections.deque(maxlen=keep)
        self.frames = 0
        self.dropped = 0
        self.missed = 0

    def tick(self, t: float) -> None:
        if self.times:
            iv = t - self.times[-1]
            if iv > DROP_FACTOR * self.period_s:
                self.dropped += 1
                self.missed += max(0, math.floor(iv / self.period_s + HALF_UP) - 1)
        self.times.append(t)
        self.frames += 1

    def reset_gap(self) -> None:
        """Forget the last timestamp (after a pause in drawing that is not a drop, e.g. hidden)."""
        self.times.clear()

    def stats(self) -> IntervalStats:
        return interval_stats(list(self.times), self.period_s)


#: swaps fewer than this share of a refresh period apart, with the next frame asked for at once, mean
#: the display does not wait for vsync (a swap interval the driver ignores: llvmpipe, some VMs)
UNPACED_SHARE = 0.6
#: swap intervals looked at before deciding (unpaced frames come 2-20 times a period)
VSYNC_PROBE_SWAPS = 24
#: the judgement is kept up to date over this many recent swaps
VSYNC_WINDOW_SWAPS = 96
#: the share of intervals that must be short to show that nothing waits (a quartile: a busy machine
#: delays many swaps, which lengthens their intervals, but a display without vsync still returns a good
#: share of them far sooner than a period; a display with vsync returns almost none)
UNPACED_QUANTILE = 25


def judge_vsync(intervals, period_s: float) -> bool | None:
    """Whether swaps wait for vsync, from the intervals between swaps of frames asked for as soon as
    the last one was swapped: True (the lower quartile of the intervals is near a period or more),
    False (far shorter: nothing waits, frames are shown as soon as they are drawn), None (not enough
    swaps yet). The median was fooled under load (measured: with both cores busy, llvmpipe's swaps came
    8.8 ms apart at the median once running, but slower at start, and the window believed in vsync)."""
    values = [float(v) for v in intervals if v > 0 and math.isfinite(v)]
    if len(values) < VSYNC_PROBE_SWAPS:
        return None
    return float(np.percentile(values, UNPACED_QUANTILE)) >= UNPACED_SHARE * period_s
