"""Pan mode "continuous_accents" ("both"): the tone follows the target and a soft swell of the level
marks each end point, starting the moment the target turns (on the stimulus clock), within the cap.

The end-point times are worked out here from the motion rules (the speed glides linearly from 0 to the
set speed over max(0.5 s, fade in); the ends are at phase 0.25 + 0.5 k), not read from the engine. The
swell is measured from the audio: the same set rendered with plain "continuous" differs only by it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bls.core import engine as eng
from bls.core.preset import Preset
from bls.core.render import render

from .helpers import CAP, FS, SpeedOracle, click_excess, random_splits, run_script, sec

ACCENT_DB = 3.5  # the documented swell: +3.5 dB, 30 ms raised-sine rise, raised-cosine fall, 110 ms in all
RISE_S, LENGTH_S = 0.03, 0.11


def preset(pan_mode="continuous_accents", level=-24.0, speed=1.0, tone_name="soft_sine", carrier=500.0,
           fade=0.05, gentle=False):
    return (Preset(name="accents", gentle=gentle)
            .with_("motion", speed_cycles_per_s=speed, set_mode="free")
            .with_("audio", tone=tone_name, level_dbfs=level, carrier_hz=carrier, pan_depth_pct=100.0,
                   pan_mode=pan_mode)
            .with_("timing", fade_in_s=fade, fade_out_s=fade))


def end_frames(speed: float, fade: float, seconds: float) -> list[int]:
    """The first frame at or after each end-point arrival (phase 0.25 + 0.5 k)."""
    oracle = SpeedOracle()
    oracle.retarget(0.0, speed, max(0.5, fade))
    out, k = [], 0
    while oracle.phase(seconds) >= 0.25 + 0.5 * k:
        out.append(math.ceil(oracle.crossing(0.25 + 0.5 * k, seconds) * FS - 1e-6))
        k += 1
    return out


def swell(accented: np.ndarray, plain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frames, gain - 1) where the plain render is loud enough to divide by: the accent's share."""
    a = np.hypot(accented[:, 0].astype(np.float64), accented[:, 1].astype(np.float64))
    p = np.hypot(plain[:, 0].astype(np.float64), plain[:, 1].astype(np.float64))
    ok = p > 0.3 * p.max()
    return np.flatnonzero(ok), a[ok] / p[ok] - 1.0


def expected_shape(dt: np.ndarray) -> np.ndarray:
    rise = np.sin(0.5 * np.pi * np.clip(dt / RISE_S, 0, 1)) ** 2
    fall = np.cos(0.5 * np.pi * np.clip((dt - RISE_S) / (LENGTH_S - RISE_S), 0, 1)) ** 2
    return np.where((dt >= 0) & (dt < LENGTH_S), np.where(dt < RISE_S, rise, fall), 0.0)


@pytest.mark.parametrize("speed", [0.6, 1.0, 1.7])
def test_a_swell_marks_each_end_point_at_the_turnaround(speed):
    seconds = 4.0
    accented, _, _ = render(preset(speed=speed), seconds, block=1000)
    plain, _, _ = render(preset("continuous", speed=speed), seconds, block=1000)
    ends = end_frames(speed, 0.05, seconds)
    assert len(ends) >= 3
    frames, share = swell(accented, plain)
    # the expected envelope from the end times worked out above: the latest end before each frame
    idx = np.searchsorted(np.array(ends), frames, side="right") - 1
    dt = np.where(idx >= 0, (frames - np.array(ends)[np.maximum(idx, 0)]) / FS, -1.0)
    expected = (10 ** (ACCENT_DB / 20) - 1) * expected_shape(dt)
    # one frame of difference in where an end lands moves the 30 ms rise by < 0.001
    assert share == pytest.approx(expected, abs=2e-3)
    for f in [f for f in ends if f + sec(LENGTH_S) < sec(seconds)]:  # every end point gets its swell, +3.5 dB at its top, 30 ms after the turn
        near = (frames >= f) & (frames < f + sec(LENGTH_S))
        assert 20 * np.log10(1 + share[near].max()) == pytest.approx(ACCENT_DB, abs=0.1)
        top = frames[near][np.argmax(share[near])]
        assert abs(top - (f + sec(RISE_S))) <= sec(0.004)
        before = (frames >= f - sec(0.1)) & (frames < f)
        assert np.all(np.abs(share[before]) < 1e-5)  # nothing before the turn


def test_the_tone_follows_the_target_as_in_continuous():
    # the accent changes the level only: the balance between the ears is the continuous one
    accented, _, _ = render(preset(), 2.0, block=777)
    plain, _, _ = render(preset("continuous"), 2.0, block=777)
    loud = np.hypot(plain[:, 0], plain[:, 1]) > 1e-3
    ratio_a = accented[loud, 1].astype(np.float64) * plain[loud, 0] - accented[loud, 0].astype(np.float64) * plain[loud, 1]
    assert np.max(np.abs(ratio_a)) < 1e-6


@given(level=st.floats(-60.0, -12.0), speed=st.floats(0.3, 2.0), carrier=st.floats(150.0, 1000.0),
       tone_name=st.sampled_from(["soft_sine", "warm", "pulse"]), seed=st.integers(0, 2**32 - 1))
def test_the_accent_is_taken_within_the_cap(level, speed, carrier, tone_name, seed):
    p = preset(level=level, speed=speed, carrier=carrier, tone_name=tone_name)
    total = sec(2.5)
    script = {0: [lambda e: e.start()]}
    run = run_script(p, total, script, random_splits(total, script, np.random.default_rng(seed), 64, 4096))
    peak = np.abs(run.audio).max()
    assert peak <= CAP
    # taken within the cap, not clipped by it: a clipped tone sits at the cap for samples on end
    at_cap = np.abs(run.audio.astype(np.float64)) >= CAP * (1 - 1e-6)
    assert not np.any(at_cap[1:] & at_cap[:-1]), "the swell was clipped at the cap"


def test_near_the_cap_the_swell_shrinks_to_reach_the_cap_exactly():
    accented, _, _ = render(preset(level=-13.0, carrier=997.0), 3.0, block=512)
    plain, _, _ = render(preset("continuous", level=-13.0, carrier=997.0), 3.0, block=512)
    assert plain.max() < 0.9 * CAP  # -13 dBFS: below the cap without the accent
    assert 0.99 * CAP < np.abs(accented).max() <= CAP  # the swell reaches the cap, no further


def test_no_clicks_with_accents_and_a_change_of_mode_mid_set():
    p = preset(level=-18.0, carrier=440.0)
    total = sec(3.0)
    script = {0: [lambda e: e.start()], sec(1.03): [lambda e: e.apply(p.with_("audio", pan_mode="continuous"))],
              sec(1.9): [lambda e: e.apply(p)], sec(2.5): [lambda e: e.stop()]}
    run = run_script(p, total, script, random_splits(total, script, np.random.default_rng(3), 64, 2048))
    ratio, ch, at = click_excess(run.audio, ["soft_sine"], 440.0)
    assert ratio < 1.0, f"click at frame {at} (channel {ch}): {ratio:.2f} x the bound"


def test_gentle_mode_holds_accents_back_unless_unlocked_and_then_softer():
    gentle = preset(level=-30.0, speed=0.35, fade=2.0, gentle=True).with_(
        "audio", carrier_hz=300.0).with_("visual", target_diameter_pct=14.0, target_softness_pct=80.0,
                                         target_color="#8a7a66", background_color="#1f1a16").with_(
        "timing", rest_s=30.0).with_("audio", pan_depth_pct=70.0)
    locked = eng.StimulusEngine(gentle)
    assert locked.settings.audio.pan_mode == "continuous"  # the gentle limit holds: no accents
    seconds = 12.0
    unlocked = eng.StimulusEngine(gentle, unlocks={"pan_mode": "continuous_accents"})
    assert unlocked.settings.audio.pan_mode == "continuous_accents"
    out = np.zeros((sec(seconds), 2), np.float32)
    unlocked.start()
    for f in range(0, sec(seconds), 4000):
        unlocked.process(min(4000, sec(seconds) - f), out[f:f + 4000])
    plain, _, _ = render(gentle, seconds, block=4000)
    frames, share = swell(out, plain)
    ends = end_frames(0.35, 2.0, seconds - 0.5)
    assert len(ends) >= 3
    for f in ends[1:]:  # after the fade in: a smaller swell (+2 dB), slower (peak 80 ms after the turn)
        near = (frames >= f) & (frames < f + sec(0.35))
        assert 20 * np.log10(1 + share[near].max()) == pytest.approx(2.0, abs=0.1)
        assert abs(frames[near][np.argmax(share[near])] - (f + sec(0.08))) <= sec(0.006)
