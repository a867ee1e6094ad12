"""Motion: position along the path as a function of phase, the paths, pass bookkeeping."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bls.core import motion

phases = st.floats(-1e4, 1e4, allow_nan=False)


@pytest.mark.parametrize("profile", motion.PROFILES)
def test_landmarks(profile):
    # phase 0: centre moving right; 0.25: right end; 0.5: centre; 0.75: left end (docs/clinical-basis.md)
    assert motion.sweep(0.0, profile) == pytest.approx(0.0, abs=1e-12)
    assert motion.sweep(0.25, profile) == pytest.approx(1.0, abs=1e-12)
    assert motion.sweep(0.5, profile) == pytest.approx(0.0, abs=1e-12)
    assert motion.sweep(0.75, profile) == pytest.approx(-1.0, abs=1e-12)
    assert motion.sweep(0.01, profile) > 0  # starts towards the right


@pytest.mark.parametrize("profile", motion.PROFILES)
@given(p=phases)
def test_bounded_periodic_and_odd(profile, p):
    s = float(motion.sweep(p, profile))
    assert -1.0 <= s <= 1.0
    assert float(motion.sweep(p + 1.0, profile)) == pytest.approx(s, abs=1e-9)
    assert float(motion.sweep(-p, profile)) == pytest.approx(-s, abs=1e-9)
    assert float(motion.sweep(p + 0.5, profile)) == pytest.approx(-s, abs=1e-9)


@pytest.mark.parametrize("profile", motion.PROFILES)
def test_ends_are_the_extremes_and_the_turns(profile):
    p = np.linspace(0, 1, 400_001)
    s = motion.sweep(p, profile)
    assert p[np.argmax(s)] == pytest.approx(0.25, abs=1e-5)
    assert p[np.argmin(s)] == pytest.approx(0.75, abs=1e-5)
    # monotone between the turns: up on [-0.25, 0.25], down on [0.25, 0.75]
    up = motion.sweep(np.linspace(-0.25, 0.25, 10_001), profile)
    down = motion.sweep(np.linspace(0.25, 0.75, 10_001), profile)
    assert np.all(np.diff(up) >= 0) and np.all(np.diff(down) <= 0)


def test_sinusoidal_is_a_sine():
    p = np.linspace(-3, 3, 1001)
    assert np.allclose(motion.sweep(p, "sinusoidal"), np.sin(2 * np.pi * p), atol=1e-12)


def test_linear_profile_has_constant_speed_and_no_slope_jump():
    e = motion.LINEAR_EASE_CYCLES
    h = 1e-6
    p = np.arange(-0.25, 1.75, h)
    s = motion.sweep(p, "linear")
    slope = np.diff(s) / h
    k = 1.0 / (0.25 - e / 2)  # position per cycle on the straight part (ends at +-1 after the ease)
    r = (p[:-1] - 0.25) % 0.5  # 0 at every turn (the ends are reached at 0.25 + 0.5 k)
    mid = np.minimum(r, 0.5 - r) > e + 2 * h  # away from the turns
    assert np.allclose(np.abs(slope[mid]), k, rtol=1e-6)
    assert np.max(np.abs(slope)) <= k * (1 + 1e-6)
    # a bounce (slope jump) would show as a second difference ~ jump x h; the parabolic turn has
    # constant second derivative k / e per cycle^2 (velocity k -> 0 over e cycles), so the second
    # difference stays below (k / e) x h^2 (~1e-10 here, a thousand times below a 0.1 % jump)
    dd = np.abs(np.diff(s, 2))
    assert dd.max() <= k / e * h * h * 1.01 + 1e-13


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError):
        motion.sweep(0.1, "zigzag")
    with pytest.raises(ValueError):
        motion.path_xy(0.1, "circle")


@given(s=st.floats(-1, 1))
def test_paths(s):
    assert tuple(map(float, motion.path_xy(s, "horizontal"))) == (s, 0.0)
    assert tuple(map(float, motion.path_xy(s, "vertical"))) == (0.0, s)
    assert tuple(map(float, motion.path_xy(s, "diagonal_up"))) == (s, s)  # lower left -> upper right
    assert tuple(map(float, motion.path_xy(s, "diagonal_down"))) == (s, -s)  # upper left -> lower right


@given(k=st.integers(0, 5000))
def test_pass_bookkeeping(k):
    end = motion.end_phase(k)
    assert int(motion.passes_completed(end)) == k
    assert int(motion.passes_completed(end - 1e-9)) == max(0, k - 1)
    assert int(motion.passes_completed(end + 0.4999)) == k
    # at the end of pass k the target is at an end: right after an even count, left after odd
    assert float(motion.sweep(end)) == pytest.approx(1.0 if k % 2 == 0 else -1.0, abs=1e-9)


def test_passes_completed_never_negative():
    assert np.all(motion.passes_completed(np.array([-5.0, 0.0, 0.2499])) == 0)


@pytest.mark.parametrize("cps", [0.25, 0.5, 1.0, 1.2, 2.0])
def test_speed_labels_follow_the_canonical_units(cps):
    # 1 cycle/s = 2 passes/s = 120 passes/min = 0.5 s per pass (docs/clinical-basis.md)
    a, b, c = motion.speed_labels(cps)
    assert float(a.split()[0]) == pytest.approx(cps, abs=0.005)
    assert float(b.split()[0]) == pytest.approx(cps * 120, abs=0.5)
    assert float(c.split()[0]) == pytest.approx(0.5 / cps, abs=0.005)
    assert "cycles/s" in a and "passes/min" in b and "s/pass" in c
    assert math.isinf(float(motion.speed_labels(0.0)[2].split()[0]))
