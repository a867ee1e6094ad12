"""What the client hears: constant-power panning that follows the target, the -12 dBFS cap under any
parameters, fades that reach exact silence, and no clicks whatever changes mid-set."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bls.core import engine as eng
from bls.core import motion, tone
from bls.core.preset import Preset
from bls.core.render import render

from .helpers import CAP, FS, SpeedOracle, click_excess, random_splits, run_script, sec


def quick(tone_name="soft_sine", level=-20.0, carrier=440.0, depth=100.0, path="horizontal",
          profile="sinusoidal", speed=1.0, fade_in=0.05, mode="free", passes=24, pan_mode="continuous"):
    return (Preset(name="audio")
            .with_("motion", speed_cycles_per_s=speed, path=path, profile=profile, set_mode=mode, set_passes=passes)
            .with_("audio", tone=tone_name, level_dbfs=level, carrier_hz=carrier, pan_depth_pct=depth,
                   pan_mode=pan_mode)
            .with_("timing", fade_in_s=fade_in, fade_out_s=fade_in))


def power(audio):
    a = audio.astype(np.float64)
    return a[:, 0] ** 2 + a[:, 1] ** 2


# --------------------------------------------------------------------------- panning


@given(tone_name=st.sampled_from(tone.TONES), path=st.sampled_from(motion.PATHS),
       profile=st.sampled_from(motion.PROFILES), pan_mode=st.sampled_from(tone.PAN_MODES),
       depth=st.floats(1, 100), speed=st.floats(0.3, 2.0), carrier=st.floats(150, 1000))
def test_stereo_power_follows_the_mono_signal_wherever_the_target_is(tone_name, path, profile, pan_mode, depth,
                                                                    speed, carrier):
    # the same stimulus with the pan depth at 0 is the mono reference: both channels carry
    # signal x cos(pi/4), so the mono envelope is 2 L0^2. Panning must move power between the ears,
    # never add or remove it (a linear pan law would dip 3 dB at the centre)
    p = quick(tone_name, -18.0, carrier, depth, path, profile, speed, pan_mode=pan_mode)
    mono = dataclasses.replace(p, audio=dataclasses.replace(p.audio, pan_depth_pct=0.0))
    a_pan, trace, _ = render(p, 1.6, block=777)
    a_mono, _, _ = render(mono, 1.6, block=777)
    assert np.allclose(a_mono[:, 0], a_mono[:, 1], rtol=0, atol=0)  # depth 0: dead centre
    p_pan, p_mono = power(a_pan), 2.0 * a_mono[:, 0].astype(np.float64) ** 2
    assert np.allclose(p_pan, p_mono, rtol=2e-6, atol=1e-14)
    assert p_mono.max() > 0.25 * tone.db_to_amplitude(-18.0) ** 2 or tone_name == "pulse"
    # ... and the panned render really is panned somewhere
    assert np.max(np.abs(trace[:, 3])) > 0.5 * depth / 100


@pytest.mark.parametrize("path", motion.PATHS)
@pytest.mark.parametrize("pan_mode", tone.PAN_MODES)
@pytest.mark.parametrize("depth", [100.0, 60.0])
def test_balance_follows_the_trace_pan(path, pan_mode, depth):
    p = quick("warm", -20.0, 523.0, depth, path, "sinusoidal", 1.3, pan_mode=pan_mode)
    audio, trace, _ = render(p, 3.0, block=1000)
    frames = np.round(trace[:, 0] * FS).astype(int)
    a = audio[frames].astype(np.float64)
    pw = a[:, 0] ** 2 + a[:, 1] ** 2
    loud = pw > 1e-4 * pw.max()  # skip the carrier's zero crossings and the fade-in
    assert loud.sum() > 0.8 * len(frames)
    pan = trace[loud, 3]
    balance = (a[loud, 1] ** 2 - a[loud, 0] ** 2) / pw[loud]
    # constant-power law: R^2 - L^2 = sin(pi/2 x pan) of the total, exactly at the frame the trace shows
    assert np.allclose(balance, np.sin(np.pi / 2 * pan), atol=1e-4)
    off_centre = np.abs(pan) > 0.02
    assert np.all(np.sign(balance[off_centre]) == np.sign(pan[off_centre]))
    assert np.max(np.abs(pan)) == pytest.approx(depth / 100, abs=0.02)  # reaches the set depth
    # the pan follows the target: right of centre is the right ear (x for horizontal and diagonals)
    if path != "vertical":
        x = trace[loud, 1]
        assert np.all(np.sign(pan[np.abs(x) > 0.02]) == np.sign(x[np.abs(x) > 0.02]))


# --------------------------------------------------------------------------- the level cap

wild_levels = st.floats(allow_nan=True, allow_infinity=True) | st.floats(-12.0, 200.0)


@given(level=wild_levels, level2=wild_levels, tone_name=st.sampled_from(tone.TONES),
       tone2=st.sampled_from(tone.TONES), carrier=st.floats(20.0, 20_000.0), depth=st.floats(0.0, 400.0),
       pan_mode=st.sampled_from(tone.PAN_MODES), speed=st.floats(0.05, 2.0), seed=st.integers(0, 2**32 - 1))
def test_no_parameter_can_exceed_minus_12_dbfs(level, level2, tone_name, tone2, carrier, depth, pan_mode, speed,
                                                seed):
    # validation is bypassed on purpose: the engine's own cap must hold for anything a bug elsewhere
    # (a UI control, a migration, a hand-edited file) could hand it
    a0 = Preset().audio
    audio0 = dataclasses.replace(a0, level_dbfs=level, tone=tone_name, carrier_hz=carrier, pan_depth_pct=depth,
                                 pan_mode=pan_mode)
    p = dataclasses.replace(Preset(name="loud"), audio=audio0,
                            motion=dataclasses.replace(Preset().motion, speed_cycles_per_s=speed, set_mode="free"),
                            timing=dataclasses.replace(Preset().timing, fade_in_s=0.05))
    p2 = dataclasses.replace(p, audio=dataclasses.replace(audio0, level_dbfs=level2, tone=tone2))
    if not math.isfinite(level):  # not a number at all: refused at the engine's door
        with pytest.raises(ValueError, match="not a finite number: audio.level_dbfs"):
            eng.StimulusEngine(p)
        return

    def change(e):
        if math.isfinite(level2):
            e.apply(p2)
        else:  # refused; what plays goes on
            with pytest.raises(ValueError, match="not a finite number: audio.level_dbfs"):
                e.apply(p2)
    total = sec(0.9)
    script = {0: [lambda e: e.start()], sec(0.4): [change]}
    run = run_script(p, total, script, random_splits(total, script, np.random.default_rng(seed), 64, 4096))
    audio = run.audio
    assert np.all(np.isfinite(audio))
    assert np.max(np.abs(audio)) <= CAP
    if math.isfinite(level) and level >= -12.0 and tone_name != "pulse":
        # a loud request plays at the cap, not at some safe-looking fraction of it
        assert np.max(np.abs(audio[sec(0.1):sec(0.4)])) > 0.7 * CAP


def test_the_cap_is_reached_but_not_exceeded_at_full_pan():
    p = quick("warm", -12.0, 997.0, 100.0, speed=2.0)
    audio, _, _ = render(p, 2.0, block=512)
    peak = float(np.max(np.abs(audio)))
    assert peak <= CAP and peak > 0.98 * CAP


# --------------------------------------------------------------------------- fades


def raised_cosine(n, length):
    u = np.clip(np.asarray(n, dtype=np.float64) / length, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


@pytest.mark.parametrize("tone_name", tone.TONES)
@pytest.mark.parametrize("fade_in", [0.05, 0.4, 2.0])
def test_start_fades_in_from_silence(tone_name, fade_in):
    level = -14.0
    p = quick(tone_name, level, 800.0, 100.0, speed=2.0, fade_in=fade_in)
    audio, _, _ = render(p, fade_in + 0.6, block=333)
    a = np.max(np.abs(audio.astype(np.float64)), axis=1)
    amp = tone.db_to_amplitude(level)
    assert a[0] == 0.0
    # never above the fade-in curve (a raised cosine over fade_in_s): no step, no early loudness
    n = np.arange(len(a))
    assert np.all(a <= amp * raised_cosine(n, fade_in * FS) * (1 + 1e-6) + 1e-9)
    assert np.all(a[:sec(0.001)] < amp * 1e-3)  # the first millisecond is practically silent
    if tone_name != "pulse":  # (pulses sound only at the ends)
        assert a[sec(fade_in):].max() > 0.69 * amp  # and the fade does arrive at the set level


def first_silent_frame(audio):
    """First frame from which the output is exactly zero to the end (len if never)."""
    nz = np.flatnonzero(np.any(audio != 0.0, axis=1))
    return 0 if nz.size == 0 else int(nz[-1]) + 1


@given(tone_name=st.sampled_from(tone.TONES), stop_at=st.integers(sec(0.01), sec(2.0)),
       block=st.integers(32, 4096), speed=st.floats(0.3, 2.0), level=st.floats(-60, -12))
def test_stop_reaches_exact_zero_within_the_stop_fade(tone_name, stop_at, block, speed, level):
    # Esc is asked for at frame stop_at; it takes effect at the next block edge (at most one block
    # later) and the output must be exactly zero STOP_FADE_S after that, and stay zero
    p = quick(tone_name, level, 440.0, 100.0, speed=speed, fade_in=0.3)
    e = eng.StimulusEngine(p, max_block=block)
    e.start()
    total = stop_at + block + sec(eng.STOP_FADE_S) + sec(1.6)  # past the glide and the set's end
    out = np.zeros((total, 2), np.float32)
    f = 0
    stopped = False
    while f < total:
        if not stopped and f + block > stop_at:
            e.stop()
            stopped = True
        n = min(block, total - f)
        e.process(n, out[f:f + n])
        f += n
    silent_from = first_silent_frame(out)
    assert silent_from <= stop_at + block + math.ceil(eng.STOP_FADE_S * FS)
    assert e.finished[-1].stop_reason == "stopped"
    assert e.status.state == "idle"


@pytest.mark.parametrize("tone_name", tone.TONES)
def test_stop_at_speed_reaches_exact_zero(tone_name):
    p = quick(tone_name, -15.0, 660.0, 100.0, speed=2.0, fade_in=0.1)
    stop_at = sec(1.7)
    script = {0: [lambda e: e.start()], stop_at: [lambda e: e.stop()]}
    run = run_script(p, sec(3.5), script, random_splits(sec(3.5), script, np.random.default_rng(7), 100, 2000))
    audio = run.audio
    assert np.any(audio[stop_at - sec(0.3):stop_at] != 0)  # it was playing
    assert first_silent_frame(audio) <= stop_at + math.ceil(eng.STOP_FADE_S * FS)
    assert click_excess(audio, [tone_name], 660.0)[0] <= 1.0


def peak_envelope(audio: np.ndarray, window: int) -> np.ndarray:
    """Per window of ``window`` frames (at least one carrier period): the peak of sqrt(L^2 + R^2), the
    tone's amplitude whatever the pan (constant-power law)."""
    mono = np.sqrt(audio[:, 0].astype(np.float64) ** 2 + audio[:, 1].astype(np.float64) ** 2)
    n = len(mono) // window
    return mono[: n * window].reshape(n, window).max(axis=1)


@pytest.mark.parametrize("tone_name", tone.TONES)
@pytest.mark.parametrize("fade_out", [0.05, 0.5, 2.5])
def test_completed_set_fades_out_in_exactly_its_fade_out(tone_name, fade_out):
    # README: a fade of F seconds goes from within 1 dB of the level to silence in F seconds
    p = quick(tone_name, -16.0, 392.0, 100.0, speed=1.5, mode="passes", passes=6).with_("timing", fade_out_s=fade_out)
    audio, _, e = render(p, 4.0 + 1.5 * fade_out + 1.0, block=1500)
    (res,) = e.finished
    last_pass = res.start_frame + round(res.delivered_seconds * FS)  # the glide and the fade start here
    silent_from = first_silent_frame(audio)
    assert silent_from <= last_pass + 1.3 * fade_out * FS + 1
    if tone_name != "pulse":
        assert silent_from > last_pass + fade_out * FS  # (the last pulse dies away in 0.12 s whatever the fade)
        w = math.ceil(FS / 392.0)  # one carrier period: the envelope's resolution
        env = peak_envelope(audio[last_pass - sec(0.5):], w)
        steady = env[:int(0.4 * FS / w)].max()
        near = np.flatnonzero(env >= steady * 10 ** (-1 / 20))
        t_near = (last_pass - sec(0.5) + (near[-1] + 1) * w) / FS  # the last moment within 1 dB
        assert silent_from / FS - t_near == pytest.approx(fade_out, abs=2 * w / FS)
        # ... and it is a fade, not a cut at the last pass: still sounding in the last tenth of it
        assert np.any(audio[silent_from - int(0.1 * fade_out * FS):silent_from - 1] != 0)
    assert click_excess(audio, [tone_name], 392.0)[0] <= 1.0


# --------------------------------------------------------------------------- clicks


def sine(n, hz, amp, phase=0.0):
    return amp * np.sin(2 * np.pi * (np.arange(n) * hz / FS + phase))


def stereo(y):
    return np.stack([y, y * 0.5], axis=1).astype(np.float32)


@pytest.mark.parametrize("hz", [150.0, 440.0, 1000.0])
def test_click_detector_flags_a_small_level_step(hz):
    amp = 0.063
    y = sine(sec(0.5), hz, amp, phase=0.1)
    # a 10 % (-0.9 dB) level step where the carrier is at least half way up: a click
    i = sec(0.25) + int(np.argmax(np.abs(y[sec(0.25):sec(0.26)]) > 0.5 * amp))
    stepped = y.copy()
    stepped[i:] *= 0.9
    assert click_excess(stereo(y), ["soft_sine"], hz)[0] <= 1.0
    ratio, _, where = click_excess(stereo(stepped), ["soft_sine"], hz)
    assert ratio > 1.0 and abs(where - i) <= 1


def test_click_detector_flags_a_cut_and_a_phase_jump():
    y = sine(sec(0.3), 440.0, 0.1)
    cut = y.copy()
    cut[sec(0.2) + 17:] = 0.0
    jump = np.concatenate([y[:sec(0.15)], sine(sec(0.15), 440.0, 0.1, phase=0.25)])
    assert click_excess(stereo(cut), ["soft_sine"], 440.0)[0] > 1.0
    assert click_excess(stereo(jump), ["soft_sine"], 440.0)[0] > 1.0


def test_click_detector_passes_the_fastest_legitimate_ramps():
    # 5 ms raised-cosine fades and a 50 ms linear level ramp on the warm tone at 1 kHz, and a carrier
    # glide from 150 to 1000 Hz: all smooth, none may be flagged
    n = sec(0.6)
    cyc = np.arange(n) * 1000.0 / FS
    env = np.ones(n)
    env[:sec(0.005)] = raised_cosine(np.arange(sec(0.005)), sec(0.005))
    env[sec(0.3):sec(0.305)] = 0.2 * (1.0 - raised_cosine(np.arange(sec(0.005)), sec(0.005)))
    env[sec(0.305):] = 0.0
    env[sec(0.1):sec(0.15)] = np.linspace(1.0, 0.2, sec(0.05))
    env[sec(0.15):sec(0.3)] = 0.2
    y = 0.25 * env * tone.waveform("warm", cyc)
    assert click_excess(stereo(y), ["warm"], 1000.0)[0] <= 1.0
    f = np.concatenate([np.full(sec(0.1), 150.0), np.linspace(150.0, 1000.0, sec(0.08)), np.full(sec(0.1), 1000.0)])
    glide = 0.2 * np.sin(2 * np.pi * np.cumsum(f) / FS)
    assert click_excess(stereo(glide), ["soft_sine"], 1000.0)[0] <= 1.0


def _changes(base: Preset):
    """Every live change a therapist can make, one after another (frame, preset)."""
    out, p, t = [], base, 0.6
    for section, kw in [("audio", {"level_dbfs": -12.0}), ("audio", {"tone": "warm"}),
                        ("audio", {"carrier_hz": 1000.0}), ("audio", {"pan_depth_pct": 35.0}),
                        ("motion", {"path": "vertical"}), ("motion", {"profile": "linear"}),
                        ("audio", {"pan_mode": "alternating"}), ("audio", {"enabled": False}),
                        ("audio", {"enabled": True}), ("audio", {"level_dbfs": -60.0}),
                        ("audio", {"tone": "pulse"}), ("audio", {"level_dbfs": -20.0}),
                        ("motion", {"speed_cycles_per_s": 2.0}), ("audio", {"carrier_hz": 150.0}),
                        ("audio", {"pan_depth_pct": 100.0, "pan_mode": "continuous"}),
                        ("motion", {"path": "diagonal_down", "profile": "sinusoidal"}),
                        ("audio", {"tone": "soft_sine"})]:
        p = p.with_(section, **kw)
        out.append((sec(t), p))
        t += 0.23
    return out, t


@pytest.mark.parametrize("seed", [1, 2])
def test_no_clicks_through_every_kind_of_mid_set_change(seed):
    base = quick("soft_sine", -24.0, 440.0, 100.0, speed=1.0, fade_in=0.2)
    changes, t_end = _changes(base)
    script = {0: [lambda e: e.start()]}
    for f, p in changes:
        script.setdefault(f, []).append(lambda e, p=p: e.apply(p))
    t_pause = t_end + 1.5  # the speed slew (1 -> 2 cycles/s) has finished
    script[sec(t_pause)] = [lambda e: e.pause()]
    script[sec(t_pause + 0.8)] = [lambda e: e.start()]
    script[sec(t_pause + 2.0)] = [lambda e: e.stop()]
    total = sec(t_pause + 3.5)
    run = run_script(base, total, script, random_splits(total, script, np.random.default_rng(seed), 1, 3000,
                                                         tiny=0.05))
    pieces = [(0, [base.audio.tone], base.audio.carrier_hz)] + [(f, [p.audio.tone], p.audio.carrier_hz)
                                                                 for f, p in changes]
    ratio, ch, at = click_excess(run.audio, tone.TONES, 1000.0, pieces=pieces)
    assert ratio <= 1.0, f"click on channel {ch} at {at / FS:.4f} s ({ratio:.2f} x the smooth bound)"
    # the check has teeth on this very render: a 5 % level step where it is loud is flagged
    loud = int(np.argmax(np.abs(run.audio[:, 0])))
    stepped = run.audio.copy()
    stepped[loud:] *= 0.95
    assert click_excess(stepped, tone.TONES, 1000.0, pieces=pieces)[0] > 1.0
    assert run.engine.finished[-1].stop_reason == "stopped"
    assert first_silent_frame(run.audio) <= sec(t_pause + 2.0) + math.ceil(eng.STOP_FADE_S * FS)


@given(level=st.floats(-60, -12), level2=st.floats(-60, -12), carrier=st.floats(150, 1000),
       carrier2=st.floats(150, 1000), tone1=st.sampled_from(tone.TONES), tone2=st.sampled_from(tone.TONES),
       depth2=st.floats(0, 100), mode2=st.sampled_from(tone.PAN_MODES), speed=st.floats(0.5, 2.0),
       gap=st.integers(1, sec(0.2)), seed=st.integers(0, 2**32 - 1))
def test_no_clicks_under_random_changes_in_quick_succession(level, level2, carrier, carrier2, tone1, tone2, depth2,
                                                             mode2, speed, gap, seed):
    # changes that overlap each other's ramps, a mute and an unmute a moment apart
    p0 = quick(tone1, level, carrier, 100.0, speed=speed, fade_in=0.1)
    p1 = p0.with_("audio", level_dbfs=level2, carrier_hz=carrier2, tone=tone2)
    p2 = p1.with_("audio", pan_depth_pct=depth2, pan_mode=mode2, enabled=False)
    p3 = p2.with_("audio", enabled=True, level_dbfs=level)
    f1 = sec(0.5)
    script = {0: [lambda e: e.start()], f1: [lambda e: e.apply(p1)], f1 + gap: [lambda e: e.apply(p2)],
              f1 + 2 * gap: [lambda e: e.apply(p3)], sec(1.4): [lambda e: e.pause()]}
    total = sec(2.0)
    run = run_script(p0, total, script, random_splits(total, script, np.random.default_rng(seed), 16, 2048))
    # p3 turns the level ramp of p1 round a few samples after it began: allow that corner
    kink = abs(tone.db_to_amplitude(level2) - tone.db_to_amplitude(level)) / (eng.LEVEL_RAMP_S * FS)
    assert click_excess(run.audio, {tone1, tone2}, max(carrier, carrier2), kink=kink)[0] <= 1.0


# --------------------------------------------------------------------------- end-point pulses


def end_frames(speed, fade_in, seconds):
    """Frames at which the target reaches an end (phase 0.25 + 0.5 k), from the documented ease-in."""
    o = SpeedOracle()
    o.retarget(0.0, speed, max(0.5, fade_in))
    k, out = 0, []
    while o.phase(seconds) >= motion.end_phase(k):
        out.append(o.crossing(motion.end_phase(k), seconds) * FS)
        k += 1
    return np.array(out)


def sounding_outside_pulses(audio, ends, start_check):
    """Frames after start_check that sound but are not within a pulse after an end arrival."""
    inside = np.zeros(len(audio), bool)
    for f in ends:
        inside[int(math.floor(f)):int(math.ceil(f + eng.PULSE_LENGTH_S * FS)) + 1] = True
    sounding = np.any(audio != 0, axis=1)
    sounding[:start_check] = False
    return np.flatnonzero(sounding & ~inside)


def test_pulses_sound_only_when_the_target_reaches_an_end():
    p = quick("pulse", -18.0, 500.0, 100.0, speed=1.3, fade_in=0.2)
    audio, _, _ = render(p, 4.0, block=700)
    ends = end_frames(1.3, 0.2, 4.0)
    assert len(sounding_outside_pulses(audio, ends, 0)) == 0
    for f in ends[:-1]:  # every arrival gets its pulse
        assert np.any(audio[int(f):int(f) + sec(eng.PULSE_LENGTH_S)] != 0)


def test_switching_to_pulses_mid_set_fires_no_stray_pulse():
    # regression: the engine used to fire a pulse at the switch, wherever the target was (a stale
    # end count in engine._track_pulses)
    p = quick("soft_sine", -18.0, 500.0, 100.0, speed=1.0, fade_in=0.5)
    # phase(t) = 0.25 + (t - 0.5) for t >= 0.5 s: the target crosses the centre (phase 2.0) at 2.25 s
    switch = sec(2.25)
    script = {0: [lambda e: e.start()], switch: [lambda e: e.apply(p.with_("audio", tone="pulse"))]}
    run = run_script(p, sec(3.5), script, [switch, sec(3.5) - switch])
    ends = end_frames(1.0, 0.5, 3.5)
    # once the 60 ms cross-fade from the sine is over, only pulses at the ends may sound
    stray = sounding_outside_pulses(run.audio, ends, switch + sec(eng.TONE_XFADE_S) + 1)
    assert len(stray) == 0, f"{len(stray)} frames of a pulse at {stray[0] / FS:.3f} s, the target at the centre"


def test_starting_a_set_during_the_previous_fade_out_does_not_click():
    # regression: engine._start_set used to restart the fade from 0 instead of from its current
    # value, cutting a still-sounding fade-out to zero in one sample
    # the gentle preset's 3 s fade-out outlasts the glide to the centre (< 1 s): the engine is idle
    # (ready for the next set) while the tone is still fading out
    p = quick("warm", -24.0, 437.0, 70.0, speed=1.0, fade_in=3.0, mode="passes", passes=2).with_(
        "timing", fade_out_s=3.0)
    e = eng.StimulusEngine(p)
    e.start()
    block, total = 500, sec(9.0)
    out = np.zeros((total, 2), np.float32)
    restart = None
    for f in range(0, total, block):
        if restart is None and e.finished:
            e.start()  # the therapist starts the next set as soon as the app allows it
            restart = f
        e.process(block, out[f:f + block])
    assert restart is not None and len(e.finished) == 2
    assert np.any(out[restart - block:restart] != 0)  # the first set's fade-out was still sounding
    ratio, ch, at = click_excess(out, ["warm"], 437.0)
    assert ratio <= 1.0, f"click at {at / FS:.4f} s (restart at {restart / FS:.4f} s)"


def test_callback_stats_hand_out_every_block_once_when_drained_in_time():
    from bls.audio.output import CallbackStats

    stats = CallbackStats(size=8)
    got, start = [], 0
    for i in range(30):
        stats.record(i / 1000, 256 + i)
        if i % 5 == 4:  # drained every 5 blocks: the ring (8) never overflows in between
            d, b, start = stats.since(start)
            got.extend(b.tolist())
    assert got == [256 + i for i in range(30)]
    # drained too late, the oldest blocks are gone: what is left comes oldest first, nothing twice
    for i in range(30, 50):
        stats.record(i / 1000, 256 + i)
    d, b, start = stats.since(start)
    assert b.tolist() == [256 + i for i in range(42, 50)] and start == 50
    assert d.tolist() == pytest.approx([i / 1000 for i in range(42, 50)])
    assert stats.since(start)[0].size == 0
