"""Live speed changes and pause/resume: phase-continuous, slewed, no jump of the target."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bls.core import engine as eng
from bls.core import motion
from bls.core.preset import Preset

from .helpers import FS, SpeedOracle, positions, sec

# these tests look back over whole sets (see conftest.whole_history)
pytestmark = pytest.mark.usefixtures("whole_history")


def preset(speed=1.0, profile="sinusoidal", path="horizontal", fade_in=0.5):
    return (Preset(name="live")
            .with_("motion", speed_cycles_per_s=speed, profile=profile, path=path, set_mode="free")
            .with_("audio", level_dbfs=-20.0)
            .with_("timing", fade_in_s=fade_in, fade_out_s=fade_in))


def max_slope(profile):
    """Largest |d position / d phase| of a profile (position per cycle)."""
    if profile == "sinusoidal":
        return 2 * math.pi
    return 1.0 / (0.25 - motion.LINEAR_EASE_CYCLES / 2)  # the straight part ends at +-1 after the ease


def per_frame(e, f0, f1):
    """x, y, s for every frame in [f0, f1) from the engine's published snapshots (vectorised),
    spot-checked against the engine's own ``sample``."""
    frames = np.arange(f0, f1)
    x, y, s = positions(e, frames)
    for i in np.linspace(0, len(frames) - 1, 7).astype(int):
        smp = e.sample(float(frames[i]))
        assert (smp.x, smp.y, smp.s) == pytest.approx((x[i], y[i], s[i]), abs=1e-12)
    return x, y, s


def moving_snapshots(e):
    return [s for s in e.history if s.state in ("running", "paused", "stopping")]


def assert_phase_continuous(e):
    """Each snapshot takes over the phase exactly where the previous one was at its start frame."""
    snaps = moving_snapshots(e)
    for a, b in zip(snaps, snaps[1:]):
        if b.start > a.start:
            assert float(b.phase(b.start)) == pytest.approx(float(a.phase(b.start)), abs=1e-9)


@given(v1=st.floats(0.05, 2.0), v2=st.floats(0.05, 2.0), profile=st.sampled_from(motion.PROFILES),
       path=st.sampled_from(motion.PATHS), at=st.floats(0.2, 1.5), block=st.integers(16, 2048))
def test_speed_change_keeps_the_target_continuous(v1, v2, profile, path, at, block):
    p = preset(v1, profile, path)
    e = eng.StimulusEngine(p, max_block=block)
    e.start()
    f_change = sec(at) // block * block
    f = 0
    while f < f_change:
        e.process(block)
        f += block
    e.apply(p.with_("motion", speed_cycles_per_s=v2))
    slew_end = f_change + math.ceil(abs(v2 - e.status.speed_cycles_per_s) / eng.SPEED_SLEW * FS)
    # render past the change; sample frame by frame around the change and around the slew's end
    windows = [(max(0, f_change - sec(0.05)), f_change + sec(0.05)),
               (max(0, slew_end - sec(0.05)), slew_end + sec(0.05))]
    end = windows[-1][1] + block
    while f < end:
        e.process(block)
        f += block
    step = max_slope(profile) * max(v1, v2) / FS * (1 + 1e-6) + 1e-12
    for a, b in windows:
        x, y, s = per_frame(e, a, min(b, f))
        for arr in (x, y, s):
            assert np.max(np.abs(np.diff(arr))) <= step
    assert_phase_continuous(e)


@given(v1=st.floats(0.05, 2.0), v2=st.floats(0.05, 2.0), at=st.floats(0.0, 2.0))
def test_speed_slews_at_speed_slew(v1, v2, at):
    # the oracle: from the value at the moment of the change, a linear glide at SPEED_SLEW
    # (the ease-in before it: linear over max(0.5, fade_in_s))
    block = 480
    p = preset(v1, fade_in=0.5)
    o = SpeedOracle()
    o.retarget(0.0, v1, 0.5)
    e = eng.StimulusEngine(p, max_block=block)
    e.start()
    f_change = sec(at) // block * block
    t_c = f_change / FS
    if v2 != v1:  # (the same speed again is no change at all, not a new slew)
        o.retarget(t_c, v2, abs(v2 - o.speed(t_c)) / eng.SPEED_SLEW)
    f = 0
    while f < sec(o.t[-1] + 0.5):  # until the oracle's last glide is over
        if f == f_change:
            e.apply(p.with_("motion", speed_cycles_per_s=v2))
        e.process(block)
        f += block
        assert e.status.speed_cycles_per_s == pytest.approx(o.speed((f - 1) / FS), abs=1e-9)
    assert e.status.speed_cycles_per_s == pytest.approx(v2, abs=1e-12)


@pytest.mark.parametrize("profile", motion.PROFILES)
def test_repeated_speed_changes_stay_continuous_and_in_step_with_the_oracle(profile):
    p = preset(1.0, profile)
    o = SpeedOracle()
    o.retarget(0.0, 1.0, 0.5)
    e = eng.StimulusEngine(p, max_block=1000)
    e.start()
    plan = {sec(0.7): 2.0, sec(1.0): 0.3, sec(1.9): 1.7, sec(2.2): 0.05, sec(4.0): 1.2}
    prev = None
    step = max_slope(profile) * 2.0 / FS * (1 + 1e-6)
    for f in range(0, sec(6.0), 1000):
        if f in plan:
            e.apply(p.with_("motion", speed_cycles_per_s=plan[f]))
            o.retarget(f / FS, plan[f], abs(plan[f] - o.speed(f / FS)) / eng.SPEED_SLEW)
        e.process(1000)
        x, _, s = per_frame(e, f, f + 1000)
        if prev is not None:
            assert abs(x[0] - prev) <= step
        assert np.max(np.abs(np.diff(x))) <= step
        prev = x[-1]
    # the phase is the integral of the slewed speed: the position matches the oracle's
    t = 5.9
    expected = float(motion.sweep(o.phase(t), profile))
    assert e.sample(t * FS).s == pytest.approx(expected, abs=1e-6)
    assert_phase_continuous(e)


# --------------------------------------------------------------------------- pause


def run_blocks(e, f, until, block, out=None, log=None):
    while f < until:
        n = min(block, until - f)
        e.process(n, None if out is None else out[f:f + n])
        f += n
        if log is not None:
            log.append(e.status)
    return f


@pytest.mark.parametrize("v", [0.3, 1.0, 2.0])
def test_pause_decelerates_fades_and_stops_the_clock(v):
    block = 400
    p = preset(v, fade_in=0.2)
    e = eng.StimulusEngine(p, max_block=block)
    total = sec(6.0)
    out = np.zeros((total, 2), np.float32)
    e.start()
    P, R = sec(2.0), sec(4.0)
    f = run_blocks(e, 0, P, block, out)
    pos_before = e.sample(P - 1)
    e.pause()
    log = []
    f = run_blocks(e, f, R, block, out, log)
    # the speed slews linearly to 0 over PAUSE_DECEL_S, then stays 0
    for st_ in log:
        t = (st_.frame - 1 - P) / FS
        assert st_.speed_cycles_per_s == pytest.approx(max(0.0, v * (1 - t / eng.PAUSE_DECEL_S)), abs=1e-9)
        assert st_.state == "paused"
        assert st_.elapsed_s == P / FS  # the set clock stands still from the moment of the pause
    # the target comes to rest (and stays where it stopped), it does not jump back or to the centre
    rest = sec(eng.PAUSE_DECEL_S) + P
    x_rest = [e.sample(fr).x for fr in (rest, rest + 1000, R - 1)]
    assert x_rest[0] == x_rest[1] == x_rest[2]
    assert abs(e.sample(P).x - pos_before.x) <= 2 * math.pi * v / FS
    # and the sound fades to exact silence within PAUSE_FADE_S
    assert np.any(out[P - block:P] != 0)
    assert np.all(out[P + math.ceil(eng.PAUSE_FADE_S * FS):R] == 0)
    # resume: from where it rested, no jump, fading in from silence
    e.toggle()
    log = []
    f = run_blocks(e, f, total, block, out, log)
    x = per_frame(e, R - 50, R + 2000)[0]
    assert np.max(np.abs(np.diff(x))) <= 2 * math.pi * v / FS
    assert x[50] == x_rest[2]
    assert np.all(out[R] == 0) and np.max(np.abs(out[R:R + 48])) < 1e-4
    assert np.any(out[R + sec(0.5):] != 0)
    assert log[-1].elapsed_s == pytest.approx((total - (R - P)) / FS, abs=1e-9)  # pause excluded
    assert log[-1].speed_cycles_per_s == pytest.approx(v)
    assert_phase_continuous(e)


def test_toggle_starts_pauses_and_resumes():
    e = eng.StimulusEngine(preset(1.0))
    states = []
    for _ in range(3):
        e.toggle()
        e.process(4800)
        states.append(e.status.state)
    assert states == ["running", "paused", "running"]
    assert e.status.set_index == 1  # resuming is the same set, not a new one


def test_stop_while_paused_ends_the_set_without_moving_on():
    e = eng.StimulusEngine(preset(1.0))
    e.start()
    for _ in range(10):
        e.process(9600)
    e.pause()
    for _ in range(10):
        e.process(9600)
    elapsed = e.status.elapsed_s
    passes = e.status.passes
    e.stop()
    for _ in range(10):
        e.process(9600)
    (res,) = e.finished
    assert res.stop_reason == "stopped"
    assert res.delivered_seconds == pytest.approx(elapsed)
    assert res.delivered_passes == passes
    assert e.sample(e.status.frame - 1).x == 0.0  # glided to the centre


@pytest.mark.parametrize("path", motion.PATHS)
def test_sample_is_consistent_with_the_path(path):
    p = preset(1.3, "linear", path)
    e = eng.StimulusEngine(p)
    e.start()
    e.process(16000)
    e.process(16000)
    for f in np.linspace(0, 31999, 101):
        smp = e.sample(f)
        want_x, want_y = motion.path_xy(smp.s, path)
        assert (smp.x, smp.y) == (float(want_x), float(want_y))
        assert smp.pan == pytest.approx(smp.s)  # depth 100 %, continuous pan
        assert smp.frame == f
    # the target fades in over SHOW_TARGET_S
    assert e.sample(0).opacity == 0.0
    assert e.sample(sec(eng.SHOW_TARGET_S)).opacity == pytest.approx(1.0)


def test_block_limits():
    e = eng.StimulusEngine(preset(1.0), max_block=256)
    e.start()
    assert e.process(0) == 0 and e.next_frame == 0  # an empty callback is harmless
    with pytest.raises(ValueError):
        e.process(257)
    out = np.zeros((256, 2), np.float32)
    assert e.process(256, out) == 0 and e.process(256, out) == 256
    with pytest.raises(ValueError):
        eng.StimulusEngine(preset(1.0), sample_rate=44_100)
