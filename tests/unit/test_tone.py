"""Tone helpers: waveforms, constant-power pan law, level cap, pulse envelope."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bls.core import tone

CAP = 10.0 ** (-12.0 / 20.0)


@given(level=st.floats(allow_nan=True, allow_infinity=True))
def test_db_to_amplitude_never_exceeds_the_cap(level):
    a = tone.db_to_amplitude(level)
    assert 0.0 <= a <= CAP
    if math.isnan(level) or level < -60.0:
        assert a == 0.0  # NaN or below the floor is silence, never a loud default


@given(level=st.floats(-60.0, -12.0))
def test_db_to_amplitude_is_exact_inside_the_range(level):
    assert tone.db_to_amplitude(level) == pytest.approx(10 ** (level / 20), rel=1e-12)


@pytest.mark.parametrize("level", [-12.0, -11.9, 0.0, 6.0, 1e6, 1e308, float("inf")])
def test_db_to_amplitude_at_and_above_the_cap(level):
    assert tone.db_to_amplitude(level) == pytest.approx(CAP, rel=1e-15)
    assert tone.db_to_amplitude(level) <= CAP


@given(a=st.floats(-60, -12), b=st.floats(-60, -12))
def test_db_to_amplitude_is_monotone(a, b):
    lo, hi = sorted((a, b))
    assert tone.db_to_amplitude(lo) <= tone.db_to_amplitude(hi)
    assert tone.amplitude_to_db(tone.db_to_amplitude(a)) == pytest.approx(a, abs=1e-9)


@pytest.mark.parametrize("name", tone.TONES)
def test_waveforms_peak_at_one(name):
    cyc = np.linspace(0.0, 1.0, 1_000_001)
    w = tone.waveform(name, cyc)
    assert np.max(np.abs(w)) <= 1.0 + 1e-9
    assert np.max(np.abs(w)) >= 1.0 - 1e-6  # the level means the peak: no hidden headroom either
    assert np.allclose(tone.waveform(name, cyc + 7.0), w, atol=1e-9)  # periodic in cycles
    assert abs(float(np.mean(w))) < 1e-6  # no DC offset (a DC step on start/stop is a click)


def test_unknown_tone_is_rejected():
    with pytest.raises(ValueError):
        tone.waveform("square", 0.1)


@given(pan=st.floats(-5, 5))
def test_pan_law_is_constant_power(pan):
    left, right = tone.pan_gains(pan)
    assert float(left) ** 2 + float(right) ** 2 == pytest.approx(1.0, abs=1e-12)
    assert left >= 0 and right >= 0


def test_pan_law_ends_centre_and_direction():
    l, r = tone.pan_gains(np.array([-1.0, 0.0, 1.0, -3.0, 3.0]))
    assert l[0] == pytest.approx(1.0) and r[0] == pytest.approx(0.0, abs=1e-15)
    assert l[2] == pytest.approx(0.0, abs=1e-15) and r[2] == pytest.approx(1.0)
    assert l[1] == pytest.approx(r[1]) == pytest.approx(math.sqrt(0.5))
    assert (l[3], r[3]) == (l[0], r[0]) and (l[4], r[4]) == (l[2], r[2])  # clipped beyond the ends
    p = np.linspace(-1, 1, 1001)
    l, r = tone.pan_gains(p)
    assert np.all(np.diff(l) < 0) and np.all(np.diff(r) > 0)
    # the balance is a smooth odd function of pan: (R^2 - L^2) = sin(pi/2 * pan)
    assert np.allclose(r**2 - l**2, np.sin(np.pi / 2 * p), atol=1e-12)


@pytest.mark.parametrize("attack,duration", [(0.006, 0.12), (0.001, 0.05), (0.02, 0.3)])
def test_pulse_envelope_is_smooth_and_bounded(attack, duration):
    fs = 48_000
    dt = (np.arange(-200, int(duration * fs) + 200)) / fs
    env = tone.pulse_envelope(dt, attack, duration)
    assert np.all((env >= 0) & (env <= 1))
    assert np.all(env[dt < 0] == 0) and np.all(env[dt >= duration] == 0)
    assert env.max() == pytest.approx(1.0, abs=1e-6)
    assert dt[np.argmax(env)] == pytest.approx(attack, abs=2 / fs)
    # no step anywhere: the largest change per sample is that of a raised sine over the attack
    assert np.max(np.abs(np.diff(env))) <= math.pi / 2 / (attack * fs) * 1.01


@given(s=st.floats(-1, 1), depth=st.floats(0, 1))
def test_continuous_pan_follows_the_target_scaled_by_depth(s, depth):
    assert float(tone.pan_position(s, depth)) == pytest.approx(s * depth, abs=1e-15)
    assert float(tone.pan_position(s, depth, 0.0)) == pytest.approx(s * depth, abs=1e-15)


@given(s=st.floats(-1, 1), depth=st.floats(0, 1), alt=st.floats(0, 1))
def test_alternating_pan_sits_in_the_ear_on_the_target_side(s, depth, alt):
    full = float(tone.pan_position(s, depth, 1.0))
    assert abs(full) <= depth + 1e-15
    if abs(s) >= tone.ALTERNATE_ZONE:
        assert full == pytest.approx(math.copysign(depth, s))  # hard in one ear outside the zone
    # a blend between the two modes (while the pan mode glides) stays between them
    mixed = float(tone.pan_position(s, depth, alt))
    lo, hi = sorted((s * depth, full))
    assert lo - 1e-12 <= mixed <= hi + 1e-12
    assert mixed * s >= 0  # never on the wrong side


def test_alternating_pan_crosses_over_smoothly_not_in_a_step():
    s = np.linspace(-1, 1, 200_001)
    p = tone.pan_position(s, 1.0, 1.0)
    # the crossover is linear over the zone: slope 1 / ALTERNATE_ZONE per unit of s, no jump
    assert np.max(np.abs(np.diff(p))) <= (s[1] - s[0]) / tone.ALTERNATE_ZONE * (1 + 1e-9)
