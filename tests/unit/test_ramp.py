"""Ramp: the primitive behind every glide, fade and slew (values, closed-form integral, retarget)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bls.core.ramp import Ramp

values = st.floats(-5.0, 5.0, allow_nan=False)
starts = st.integers(-10_000, 10_000)
lengths = st.floats(1.0, 50_000.0)


@given(start=starts, v0=values, v1=values, length=lengths, smooth=st.booleans())
def test_endpoints_hold_exactly(start, v0, v1, length, smooth):
    r = Ramp(start, v0, v1, length, smooth)
    assert r.value_at(start) == v0
    assert r.value_at(start - 1000) == v0  # before the ramp: the old value
    tol = 1e-12 * (1 + abs(v0) + abs(v1))
    assert r.value_at(start + length) == pytest.approx(v1, abs=tol)
    assert r.value_at(start + length + 12345) == pytest.approx(v1, abs=tol)
    # once past its end, a fade to zero is exact zero (v0 + (0 - v0) x 1): silence, not -300 dB
    assert Ramp(start, v0, 0.0, length, smooth).value_at(start + length + 1) == 0.0
    assert Ramp(start, 0.0, v1, length, smooth).value_at(start + length + 1) == v1
    assert Ramp(start, v0, 0.0, round(length), smooth).value_at(start + round(length)) == 0.0
    assert r.done(start + length) and not r.done(start + length - 0.5)


@given(start=starts, v0=values, v1=values, length=lengths, smooth=st.booleans())
def test_value_is_monotone_between_endpoints(start, v0, v1, length, smooth):
    r = Ramp(start, v0, v1, length, smooth)
    f = np.linspace(start - 10, start + length + 10, 2001)
    v = r.value(f)
    d = np.diff(v) * np.sign(v1 - v0)
    assert np.all(d >= -1e-12)
    assert np.all(v >= min(v0, v1) - 1e-12) and np.all(v <= max(v0, v1) + 1e-12)


@given(v0=values, v1=values, length=st.floats(100.0, 50_000.0))
def test_smooth_ramp_has_zero_slope_at_both_ends(v0, v1, length):
    # a raised cosine: the slope ~ 0 near both ends, max slope pi/2 x (v1 - v0) / length in the middle
    r = Ramp(0, v0, v1, length, smooth=True)
    h = length * 1e-4
    span = abs(v1 - v0)
    for f in (0.0, length):
        slope = (r.value_at(f + h) - r.value_at(f - h)) / (2 * h)
        assert abs(slope) <= span / length * 1e-3 + 1e-12
    f = np.linspace(0, length, 4001)
    slopes = np.abs(np.diff(r.value(f))) / np.diff(f)
    assert slopes.max() <= math.pi / 2 * span / length * (1 + 1e-6) + 1e-12


@given(start=starts, v0=values, v1=values, length=lengths)
def test_integral_matches_numerical_integration(start, v0, v1, length):
    r = Ramp(start, v0, v1, length)
    a, b = start - 0.3 * length - 5, start + 1.7 * length + 5
    f = np.linspace(a, b, 200_001)
    v = r.value(f)
    trapz = np.concatenate([[0.0], np.cumsum((v[1:] + v[:-1]) / 2 * np.diff(f))])
    got = r.integral(f) - r.integral(a)
    scale = max(abs(v0), abs(v1), 1e-9) * (b - a)
    # the trapezoid rule is exact on each linear piece; only the two kinks leave an error
    assert np.max(np.abs(got - trapz)) <= 1e-6 * scale
    assert r.integral(start) == 0.0


@given(start=starts, v0=values, v1=values, length=st.just(0.0) | st.floats(1.0, 50_000.0))
def test_integral_is_continuous_with_derivative_equal_to_value(start, v0, v1, length):
    r = Ramp(start, v0, v1, length)
    for f in (start, start + length, start + 0.37 * length):
        for h in (1e-3,):
            left = (r.integral(f) - r.integral(f - h)) / h
            right = (r.integral(f + h) - r.integral(f)) / h
            # continuity of the integral (phase) at the kinks: one-sided slopes are the values there
            assert left == pytest.approx(r.value_at(f - h / 2), abs=1e-6 * (1 + abs(v0) + abs(v1)))
            assert right == pytest.approx(r.value_at(f + h / 2), abs=1e-6 * (1 + abs(v0) + abs(v1)))


def test_step_ramp_integral_and_value():
    r = Ramp(100, 2.0, 5.0, 0.0)
    assert r.value_at(99) == 2.0 and r.value_at(100) == 5.0
    assert float(r.integral(90)) == pytest.approx(-20.0)
    assert float(r.integral(110)) == pytest.approx(50.0)


def test_integral_of_smooth_ramp_is_refused():
    with pytest.raises(ValueError):
        Ramp(0, 0.0, 1.0, 10.0, smooth=True).integral(5)


@given(start=starts, v0=values, v1=values, length=lengths, smooth=st.booleans(),
       at=st.floats(-0.5, 1.5), new=values, new_len=st.just(0.0) | st.floats(1.0, 50_000.0))
def test_retarget_starts_from_the_current_value(start, v0, v1, length, smooth, at, new, new_len):
    r = Ramp(start, v0, v1, length, smooth)
    f = start + at * length
    r2 = r.retarget(f, new, new_len)
    if new_len > 0:  # a zero-length retarget is a deliberate step
        assert r2.value_at(f) == pytest.approx(r.value_at(f), abs=1e-12)
    assert r2.v0 == pytest.approx(r.value_at(f), abs=1e-12)
    assert r2.v1 == new and r2.start == f and r2.smooth == smooth
    assert r2.value_at(f + new_len) == pytest.approx(new, abs=1e-12)
    assert r.retarget(f, new, -5.0).length == 0.0  # a negative length is a step, never backwards


def test_hold_is_constant():
    r = Ramp.hold(0.7, start=10)
    assert np.all(r.value(np.array([-1e9, 0, 10, 1e9])) == 0.7)
    assert r.target == 0.7 and r.done(10)
