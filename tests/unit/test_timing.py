"""Frame-timing statistics: percentiles, the dropped-frame rule (> 1.2 x period), FrameClock."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bls.core.timing import FrameClock, dropped_frames, interval_stats, percentile

P60 = 1.0 / 60.0


def test_percentile_known_answers():
    assert percentile([3, 1, 2], 50) == 2.0
    assert percentile([0, 10], 25) == pytest.approx(2.5)  # linear interpolation
    assert percentile(range(101), 99) == pytest.approx(99.0)
    assert percentile([7.0], 0) == percentile([7.0], 100) == 7.0
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert math.isnan(percentile([], 50))


@given(values=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), q=st.floats(0, 100))
def test_percentile_is_within_the_data(values, q):
    p = percentile(values, q)
    assert min(values) <= p <= max(values)
    assert percentile(values, 0) == min(values) and percentile(values, 100) == max(values)


@pytest.mark.parametrize("intervals,dropped,missed", [
    ([P60] * 10, 0, 0),
    ([P60] * 5 + [2 * P60] + [P60] * 5, 1, 1),  # one refresh skipped
    ([3 * P60], 1, 2),  # two refreshes skipped
    ([1.19 * P60], 0, 0),  # jitter under the 1.2 x period rule: not a drop
    ([1.2 * P60 * 0.9999], 0, 0),
    ([1.21 * P60], 1, 0),  # late, but no whole refresh lost (rounds to one period)
    ([P60, 2 * P60, P60, 4 * P60, 0.5 * P60], 2, 4),
    ([], 0, 0),
])
def test_dropped_frames_rule(intervals, dropped, missed):
    assert dropped_frames(intervals, P60) == (dropped, missed)


def test_dropped_frames_with_a_nonsense_period_counts_nothing():
    assert dropped_frames([1.0, 2.0], 0.0) == (0, 0)
    assert dropped_frames([1.0, 2.0], -1.0) == (0, 0)


def test_interval_stats_on_a_known_sequence():
    # 120 Hz display, 100 frames on time then one frame a refresh late
    period = 1.0 / 120
    ts = list(np.arange(101) * period) + [101 * period + period]
    s = interval_stats(ts, period)
    assert s.count == 101
    assert s.dropped == 1 and s.missed == 1
    assert s.max_ms == pytest.approx(2000 * period)
    assert s.p50_ms == pytest.approx(1000 * period)
    assert s.mean_ms == pytest.approx(1000 * (102 * period) / 101)
    assert s.measured_hz == pytest.approx(101 / (102 * period))


def test_interval_stats_of_too_few_timestamps():
    for ts in ([], [1.0]):
        s = interval_stats(ts, P60)
        assert s.count == 0 and s.dropped == 0 and math.isnan(s.mean_ms) and math.isnan(s.measured_hz)


def test_frame_clock_counts_drops_and_misses():
    c = FrameClock(P60)
    t = 10.0
    for iv in [0, P60, P60, 2 * P60, P60, 3 * P60, 1.1 * P60]:
        t += iv
        c.tick(t)
    assert c.frames == 7
    assert c.dropped == 2 and c.missed == 3
    s = c.stats()
    assert s.count == 6 and s.dropped == 2 and s.missed == 3


def test_frame_clock_reset_gap_does_not_count_a_hidden_stretch():
    c = FrameClock(P60)
    c.tick(1.0)
    c.tick(1.0 + P60)
    c.reset_gap()  # the window was hidden for a while: not a drop
    c.tick(5.0)
    c.tick(5.0 + P60)
    assert c.frames == 4 and c.dropped == 0 and c.missed == 0


def test_frame_clock_keeps_a_bounded_history_but_counts_everything():
    c = FrameClock(P60, keep=50)
    for i in range(1000):
        c.tick(i * P60 + (P60 if i >= 500 else 0.0))  # one refresh skipped at frame 500
    assert len(c.times) == 50
    assert c.frames == 1000 and c.dropped == 1 and c.missed == 1
    assert c.stats().count == 49 and c.stats().dropped == 0  # the drop is no longer in the window


@given(intervals=st.lists(st.floats(0.001, 0.2), max_size=60), period=st.sampled_from([1 / 60, 1 / 120, 1 / 144]))
def test_frame_clock_agrees_with_dropped_frames(intervals, period):
    c = FrameClock(period)
    t = 100.0
    c.tick(t)
    ts = [t]
    for iv in intervals:
        t += iv
        ts.append(t)
        c.tick(t)
    assert (c.dropped, c.missed) == dropped_frames(np.diff(ts), period)
    assert c.frames == len(intervals) + 1


def test_judge_vsync_tells_unpaced_swaps_from_paced_ones():
    from bls.core.timing import VSYNC_PROBE_SWAPS, judge_vsync

    period = 1 / 60
    n = VSYNC_PROBE_SWAPS
    assert judge_vsync([period] * (n - 1), period) is None  # not enough swaps yet
    assert judge_vsync([period * 1.02, period * 0.98] * n, period) is True  # a vsync display
    assert judge_vsync([2 * period] * n, period) is True  # a slow GPU at half rate still waits for vsync
    assert judge_vsync([0.009] * n, period) is False  # ~110 swaps/s: nothing waits (llvmpipe, measured)
    # a few long gaps (the window being mapped) do not hide that the rest came far faster
    assert judge_vsync([0.009] * n + [0.1] * 3, period) is False
    assert judge_vsync([0.0, float("nan"), -1.0] * n, period) is None  # nothing usable
    # a busy machine: half the swaps delayed; without vsync the other half still come far sooner than a
    # period (the median alone said "vsync" here), with vsync none does
    assert judge_vsync([0.009] * n + [0.03] * n, period) is False
    assert judge_vsync([period] * n + [2 * period] * n, period) is True
    # triple buffering: a few swaps at start return at once, then every one waits
    assert judge_vsync([0.001] * 3 + [period] * (n - 3), period) is True
