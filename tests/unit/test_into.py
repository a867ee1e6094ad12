"""The ``*_into`` variants (the audio callback's allocation-free path) give the same bits as the
allocating functions they mirror: ramps, sweep, waveform, pan, pulse envelope, the snapshot's phases
and position, and the whole render (against the allocating render, written out here)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bls.core import engine as eng
from bls.core import motion, tone
from bls.core.preset import builtin_presets
from bls.core.ramp import Ramp
from bls.core.synth import Scratch, ToneRenderer

from .helpers import sec


def same_bits(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


def block(first: int, n: int) -> np.ndarray:
    return first + np.arange(n, dtype=np.float64)


ramps = st.builds(Ramp, start=st.integers(0, 5000), v0=st.floats(-3, 3), v1=st.floats(-3, 3),
                  length=st.one_of(st.just(0.0), st.floats(0.5, 4000)), smooth=st.booleans())
windows = st.tuples(st.integers(-2000, 12000), st.integers(1, 3000))


@given(r=ramps, w=windows, alias=st.booleans())
def test_ramp_value_and_progress_into(r, w, alias):
    frames = block(*w)
    for name in ("progress", "value"):
        f = frames.copy()
        out = f if alias else np.empty_like(f)
        got = getattr(r, name + "_into")(f, out)
        assert got is out and same_bits(got, getattr(r, name)(frames)), name


@given(r=ramps, w=windows, alias=st.booleans())
def test_ramp_integral_into(r, w, alias):
    r = Ramp(r.start, r.v0, r.v1, r.length)  # linear ramps only
    frames = block(*w)
    f = frames.copy()
    out = f if alias else np.empty_like(f)
    assert same_bits(r.integral_into(f, out, np.empty_like(f)), r.integral(frames))


def test_integral_into_refuses_a_smooth_ramp():
    f = block(0, 4)
    with pytest.raises(ValueError):
        Ramp(0, 0.0, 1.0, 10.0, True).integral_into(f, np.empty(4), np.empty(4))


phases = st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=1, max_size=300)


@pytest.mark.parametrize("profile", motion.PROFILES)
@given(ph=phases)
def test_sweep_into(profile, ph):
    ph = np.array(ph + [0.0, 0.25, 0.5, 0.75, 0.25 - motion.LINEAR_EASE_CYCLES, -0.0, 0.4999999999, 1.0])
    n = len(ph)
    out = motion.sweep_into(ph, profile, np.empty(n), np.empty(n), np.empty(n), np.empty(n, bool))
    assert same_bits(out, motion.sweep(ph, profile))


@pytest.mark.parametrize("kind", tone.TONES)
@given(ph=phases)
def test_waveform_into(kind, ph):
    cyc = np.array(ph) % 1.0
    out = tone.waveform_into(kind, cyc, np.empty_like(cyc), np.empty_like(cyc))
    assert same_bits(out, tone.waveform(kind, cyc))


@given(data=st.data(), n=st.integers(1, 200))
def test_pan_into(data, n):
    floats = st.floats(-1.5, 1.5, allow_nan=False)
    s = np.array(data.draw(st.lists(floats, min_size=n, max_size=n)))
    depth = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    alt = data.draw(st.one_of(st.just(0.0), st.just(np.zeros(n)),
                              st.lists(st.floats(0, 1), min_size=n, max_size=n).map(np.array)))
    pan = tone.pan_position_into(s, depth, alt, np.empty(n))
    assert same_bits(pan, tone.pan_position(s, depth, alt))
    left, right = tone.pan_gains_into(pan.copy(), np.empty(n), np.empty(n))
    l0, r0 = tone.pan_gains(pan)
    assert same_bits(left, l0) and same_bits(right, r0)
    p = pan.copy()
    left, right = tone.pan_gains_into(p, np.empty(n), p)  # right may be the pan itself
    assert same_bits(left, l0) and same_bits(right, r0)


@given(dt=st.lists(st.floats(-0.5, 1.0, allow_nan=False), min_size=1, max_size=300),
       attack=st.floats(0.0, 0.05), length=st.floats(0.0, 0.4))
def test_pulse_envelope_into(dt, attack, length):
    dt = np.array(dt + [0.0, attack, length, -1e-9])
    n = len(dt)
    out = tone.pulse_envelope_into(dt, attack, length, np.empty(n), np.empty(n), np.empty(n, bool))
    assert same_bits(out, tone.pulse_envelope(dt, attack, length))


# --------------------------------------------------------------------------- snapshots and the render


def render_allocating(snap, frames, env, out):
    """The render written with the allocating functions (the path the engine used before scratch
    buffers): the reference the allocation-free render must match bit for bit."""
    gain = snap.fade.value(frames) * snap.mute.value(frames)
    if not np.any(gain):
        out[:] = 0.0
        return
    amp = gain * snap.level.value(frames)
    cph = snap.carrier_phase(frames)

    def wave(kind):
        w = tone.waveform(kind, cph)
        return w * env if kind == "pulse" and env is not None else w

    w = wave(snap.tone)
    if not snap.tone_mix.done(float(frames[0])):
        m = snap.tone_mix.value(frames)
        w = (1.0 - m) * wave(snap.prev_tone) + m * w
    _, _, s = snap.position(frames)
    alt = snap.alternate.value(frames) if snap.alternate.v0 or snap.alternate.v1 else 0.0
    left, right = tone.pan_gains(tone.pan_position(s, snap.depth.value(frames), alt))
    sig = amp * w
    out[:, 0] = sig * left
    out[:, 1] = sig * right
    np.clip(out, -tone.LEVEL_CAP, tone.LEVEL_CAP, out=out)


def snapshots_of_a_busy_set():
    """Every snapshot of a set with changes of everything: shape and tone crossfades, alternating pan,
    a pause, gentle mode, the stop, the glide home and the idle state after it."""
    p = (builtin_presets()["standard"].with_("motion", set_mode="free", profile="linear")
         .with_("audio", tone="warm", pan_mode="alternating", pan_depth_pct=60.0))
    q = (p.with_("motion", profile="sinusoidal", path="diagonal_down", speed_cycles_per_s=1.7)
         .with_("audio", tone="pulse", pan_mode="continuous", carrier_hz=300.0, level_dbfs=-30.0))
    g = q.with_("audio", tone="soft_sine", enabled=False)
    script = {sec(0.5): lambda e: e.apply(q), sec(1.5): lambda e: e.pause(), sec(1.9): lambda e: e.start(),
              sec(2.2): lambda e: e.apply(replace(g, gentle=True)),
              sec(2.6): lambda e: e.apply(g.with_("audio", enabled=True)), sec(3.5): lambda e: e.stop()}
    e = eng.StimulusEngine(p, max_block=480)
    e.start()
    snaps = []
    for f in range(0, sec(6.0), 480):
        if f in script:
            script[f](e)
        e.process(480)
        snaps.extend(s for s in e.history if not any(s is t for t in snaps))
    assert {s.state for s in snaps} >= {eng.RUNNING, eng.PAUSED, eng.STOPPING, eng.GLIDING, eng.IDLE}
    return snaps


SNAPS = snapshots_of_a_busy_set()


@given(i=st.integers(0, len(SNAPS) - 1), offset=st.integers(0, sec(1.0)), n=st.integers(1, 2048),
       pulse=st.booleans())
def test_snapshot_phases_position_and_render_into(i, offset, n, pulse):
    snap = SNAPS[i]
    frames = block(snap.start + offset, n)
    sc = Scratch(2048)
    cut = sc.take(n)
    np.copyto(cut.frames, frames)
    moving = snap.state in (eng.RUNNING, eng.PAUSED, eng.STOPPING)
    phase = None
    if moving:
        phase = snap.phase_into(cut.frames, cut.phase, cut.tmp)
        assert same_bits(phase, snap.phase(frames))
        assert same_bits(snap.carrier_phase_into(frames, np.empty(n), np.empty(n)), snap.carrier_phase(frames))
    s = snap.along_into(cut.frames, phase, np.empty(n), cut)
    assert same_bits(s, snap.position(frames)[2])
    env = tone.pulse_envelope((frames - frames[0] + 100.0) % 9000.0 / eng.SAMPLE_RATE, 0.006, 0.12) if pulse else None
    if env is not None:
        np.copyto(cut.env, env)
    got, want = np.zeros((n, 2), np.float32), np.zeros((n, 2), np.float32)
    ToneRenderer(2048, sc).render(snap, cut.frames, phase, None if env is None else cut.env, got)
    render_allocating(snap, frames, env, want)
    assert np.array_equal(got.view(np.int32), want.view(np.int32))
