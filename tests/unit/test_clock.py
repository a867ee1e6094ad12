"""The anchor map (audio frames <-> monotonic time): drift, jitter, broken timestamps, epochs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bls.core.clock import RELOCK_AFTER, Anchor, AnchorMap, dac_time_to_monotonic

FS = 48_000


class Card:
    """A simulated sound card: frame f is heard at t0 + f / (FS * (1 + ppm 1e-6)) system seconds."""

    def __init__(self, ppm=0.0, t0=1000.0):
        self.rate = FS * (1 + ppm * 1e-6)
        self.t0 = t0

    def time(self, frame):
        return self.t0 + frame / self.rate

    def frame(self, t):
        return (t - self.t0) * self.rate


def error_ms(m: AnchorMap, card: Card, t: float) -> float:
    """How far (ms of audio) the map's answer for 'which frame is heard at t' is from the truth."""
    return (m.frame_at(t) - card.frame(t)) / FS * 1000.0


# --------------------------------------------------------------------------- dac_time_to_monotonic


def test_plausible_timestamps_are_translated_to_monotonic():
    t, ok = dac_time_to_monotonic(dac=12.080, current=12.000, now_mono=500.0, fallback_latency=0.2)
    assert ok and t == pytest.approx(500.080)


@pytest.mark.parametrize("dac,current", [
    (0.0, 0.0),  # host API gives zeros
    (0.0, 12.0), (12.0, 0.0),
    (11.9, 12.0),  # the DAC time is before the current time: backwards
    (float("nan"), 12.0), (12.0, float("nan")),
    (float("inf"), 12.0), (12.0, float("-inf")),
    (25.0, 12.0),  # an absurd 13 s lead
    (-3.0, -3.1),
])
def test_implausible_timestamps_fall_back_to_the_reported_latency(dac, current):
    t, ok = dac_time_to_monotonic(dac, current, now_mono=500.0, fallback_latency=0.085)
    assert not ok and t == pytest.approx(500.085)


@given(dac=st.floats(allow_nan=True, allow_infinity=True), current=st.floats(allow_nan=True, allow_infinity=True),
       now=st.floats(0, 1e6), lat=st.floats(0, 1))
def test_the_result_is_always_a_finite_time_near_now(dac, current, now, lat):
    t, ok = dac_time_to_monotonic(dac, current, now, lat)
    assert math.isfinite(t)
    assert now <= t <= now + 1.0 + 1e-9  # never in the past, never more than a second ahead


# --------------------------------------------------------------------------- drift


@pytest.mark.parametrize("ppm", [-200.0, 200.0])
def test_drift_is_followed_for_an_hour(ppm):
    # one anchor per 200 ms for a simulated hour (the anchor map only sees anchors, so a sparser feed
    # than the real one per block is a harder test of following the rate, not an easier one).
    # A map that kept the nominal rate would be off by 200 ppm x half its 19 s window ~ 1.9 ms at
    # the newest anchor (and a map anchored once, 720 ms after the hour): the 1 ms bound sees both
    card = Card(ppm)
    m = AnchorMap(FS)
    rng = np.random.default_rng(1)
    block = 9600
    worst = 0.0
    for i in range(sec_frames(3600.0) // block):
        f = i * block
        assert m.add(Anchor(f, card.time(f)))
        if i > 96:
            # the display asks for moments between this anchor and up to 100 ms after it
            t = card.time(f) + rng.uniform(0.0, 0.1)
            worst = max(worst, abs(error_ms(m, card, t)))
    assert worst < 1.0
    assert m.rate_ppm == pytest.approx(ppm, abs=5.0)
    assert m.rejected == 0 and m.relocks == 0


def sec_frames(seconds):
    return int(round(seconds * FS))


@given(ppm=st.floats(-250, 250), jitter_ms=st.floats(0.0, 2.0), seed=st.integers(0, 2**32 - 1))
def test_jitter_is_averaged_out(ppm, jitter_ms, seed):
    # realistic blocks (512 frames), anchor times jittered by +-jitter uniformly (scheduling noise)
    card = Card(ppm)
    m = AnchorMap(FS)
    rng = np.random.default_rng(seed)
    errs = []
    for i in range(3000):  # 32 s
        f = i * 512
        m.add(Anchor(f, card.time(f) + rng.uniform(-jitter_ms, jitter_ms) / 1000.0))
        if i > 200:
            errs.append(error_ms(m, card, card.time(f) + rng.uniform(0.0, 0.05)))
    errs = np.abs(errs)
    # a least-squares line through ~96 anchors: the error at its end has an sd of about
    # 2 x sd(jitter) / sqrt(96) (a fifth of the jitter's own sd of jitter / sqrt(3))
    sd = jitter_ms / math.sqrt(3)
    assert np.sqrt(np.mean(errs**2)) <= 0.5 * sd + 0.01
    assert errs.max() <= max(jitter_ms, 0.05)
    assert m.rejected == 0


# --------------------------------------------------------------------------- broken timestamps


def locked_map(card, n=200, block=512):
    m = AnchorMap(FS)
    for i in range(n):
        m.add(Anchor(i * block, card.time(i * block)))
    return m, n * block


@pytest.mark.parametrize("bad", ["zero", "nan", "inf", "backwards", "jump_ahead", "jump_back"])
def test_a_single_broken_anchor_is_rejected_and_changes_nothing(bad):
    card = Card(100.0)
    m, f = locked_map(card)
    t_true = card.time(f)
    t_bad = {"zero": 0.0, "nan": float("nan"), "inf": float("inf"), "backwards": card.time(f - 20 * 512),
             "jump_ahead": t_true + 0.05, "jump_back": t_true - 0.03}[bad]
    before = (m.f0, m.t0, m.spf)
    assert m.add(Anchor(f, t_bad)) is False
    assert (m.f0, m.t0, m.spf) == before
    assert m.rejected == 1
    # the next good anchors are accepted and the map is as good as ever
    for i in range(1, 20):
        assert m.add(Anchor(f + i * 512, card.time(f + i * 512)))
    assert abs(error_ms(m, card, card.time(f + 20 * 512))) < 0.01
    assert m.relocks == 0


def test_already_seen_frames_are_ignored():
    card = Card()
    m, f = locked_map(card)
    before = (m.f0, m.t0, m.spf)
    assert m.add(Anchor(f - 512, card.time(f - 512) + 5.0)) is True  # a repeat, not news
    assert (m.f0, m.t0, m.spf) == before and m.rejected == 0


@pytest.mark.parametrize("jump", [0.05, -0.04, 2.0])
def test_a_persistent_jump_relocks_after_relock_after_anchors(jump):
    # the clock really moved (a device hiccup, a host API resync): after RELOCK_AFTER agreeing
    # anchors the map follows, and not before
    card = Card(-150.0)
    m, f = locked_map(card)
    moved = Card(-150.0, t0=card.t0 + jump)
    for i in range(RELOCK_AFTER - 1):
        fr = f + i * 512
        assert m.add(Anchor(fr, moved.time(fr))) is False
        assert abs(error_ms(m, card, card.time(fr))) < 0.05  # still on the old line
    fr = f + (RELOCK_AFTER - 1) * 512
    m.add(Anchor(fr, moved.time(fr)))
    assert m.relocks == 1
    assert abs(error_ms(m, moved, moved.time(fr))) < 0.05  # now on the new one
    for i in range(RELOCK_AFTER, RELOCK_AFTER + 300):
        fr = f + i * 512
        assert m.add(Anchor(fr, moved.time(fr))) is True
    assert abs(error_ms(m, moved, moved.time(fr) + 0.05)) < 0.05
    assert m.relocks == 1


def test_a_persistent_jump_after_a_couple_of_glitches_still_relocks():
    card = Card(50.0)
    m, f = locked_map(card)
    # two fallback anchors (the stream reported no usable DAC time), then the clock jumps 50 ms
    m.add(Anchor(f, card.time(f) + 0.020))
    m.add(Anchor(f + 512, card.time(f + 512) + 0.022))
    moved = Card(50.0, t0=card.t0 + 0.05)
    for i in range(2, 200):
        fr = f + i * 512
        m.add(Anchor(fr, moved.time(fr)))
    assert m.relocks == 1
    assert abs(error_ms(m, moved, moved.time(fr))) < 1.0


def test_a_bogus_first_anchor_is_outvoted():
    card = Card()
    m = AnchorMap(FS)
    m.add(Anchor(0, 0.0))  # the very first anchor has a zero time
    for i in range(1, 40):
        m.add(Anchor(i * 512, card.time(i * 512)))
    assert abs(error_ms(m, card, card.time(40 * 512))) < 0.05


def test_an_epoch_change_resets_the_map():
    # switching between the sound card and the monotonic stand-in: a new time base, accepted at once
    card = Card(200.0)
    m, f = locked_map(card)
    other = Card(-100.0, t0=card.t0 + 37.5)
    assert m.add(Anchor(f, other.time(f), epoch=1)) is True
    assert m.locked
    assert abs(error_ms(m, other, other.time(f))) < 0.01
    for i in range(1, 200):
        assert m.add(Anchor(f + i * 512, other.time(f + i * 512), epoch=1)) is True
    assert abs(error_ms(m, other, other.time(f + 200 * 512))) < 0.05
    assert m.rejected == 0 and m.relocks == 0
    # a new epoch whose frame counter restarted from 0 is accepted too (not "already seen")
    third = Card(0.0, t0=card.t0 + 100.0)
    assert m.add(Anchor(0, third.time(0), epoch=2)) is True
    assert abs(error_ms(m, third, third.time(0))) < 0.01


def test_reset_unlocks_and_time_at_inverts_frame_at():
    card = Card(80.0)
    m, f = locked_map(card)
    for fr in (0.0, 12345.5, f + 1e6):
        assert m.frame_at(m.time_at(fr)) == pytest.approx(fr, abs=1e-6)
    m.reset()
    assert not m.locked
