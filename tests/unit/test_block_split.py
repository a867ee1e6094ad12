"""Block-split invariance: the audio (and every published snapshot) of a stretch rendered in one
block equals the same stretch rendered in any split, with commands issued at the same frames.

This is what makes the audio callback's block size (which PortAudio chooses, and which varies from
callback to callback with ``blocksize=0``) irrelevant to what the client hears and sees.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bls.core import motion, tone
from bls.core.preset import Preset

from .helpers import cut_only_splits, random_splits, run_script, sec

# these tests look back over whole sets (see conftest.whole_history)
pytestmark = pytest.mark.usefixtures("whole_history")

BIG = 1 << 18  # the reference renders each stretch between two commands in a single block


def base_preset(tone_name, profile, path, speed, level, carrier, depth, fade_in, mode="free", passes=24,
                pan_mode="continuous"):
    return (Preset(name="split")
            .with_("motion", speed_cycles_per_s=speed, profile=profile, path=path, set_mode=mode, set_passes=passes)
            .with_("audio", tone=tone_name, level_dbfs=level, carrier_hz=carrier, pan_depth_pct=depth,
                   pan_mode=pan_mode)
            .with_("timing", fade_in_s=fade_in, fade_out_s=fade_in))


def assert_same_run(a, b, total):
    assert np.array_equal(a.audio, b.audio), (
        f"max diff {np.max(np.abs(a.audio - b.audio))} at frame {int(np.argmax(np.abs(a.audio - b.audio).max(1)))}")
    assert list(a.engine.finished) == list(b.engine.finished)
    assert a.engine.history == b.engine.history  # the same snapshots, pushed at the same frames
    assert a.statuses[-1] == b.statuses[-1]
    for f in np.linspace(0, total - 1, 37):
        assert a.engine.sample(f) == b.engine.sample(f)


@st.composite
def live_scripts(draw):
    """A set with a change of everything mid-set, a pause and an Esc stop at a steady speed."""
    tones = st.sampled_from(tone.TONES)
    v1 = draw(st.floats(0.5, 2.0))
    v2 = min(2.0, max(0.05, v1 + draw(st.floats(-0.5, 0.5))))
    p0 = base_preset(draw(tones), draw(st.sampled_from(motion.PROFILES)), draw(st.sampled_from(motion.PATHS)),
                     v1, draw(st.floats(-40, -12)), draw(st.floats(150, 1000)), draw(st.floats(0, 100)),
                     draw(st.floats(0.05, 0.5)), pan_mode=draw(st.sampled_from(tone.PAN_MODES)))
    p_speed = p0.with_("motion", speed_cycles_per_s=v2)
    p_audio = p_speed.with_("audio", tone=draw(tones), level_dbfs=draw(st.floats(-60, -12)),
                            carrier_hz=draw(st.floats(150, 1000)), pan_depth_pct=draw(st.floats(0, 100)),
                            enabled=draw(st.booleans()), pan_mode=draw(st.sampled_from(tone.PAN_MODES)))
    p_shape = p_audio.with_("motion", path=draw(st.sampled_from(motion.PATHS)),
                            profile=draw(st.sampled_from(motion.PROFILES)))
    frames = st.integers
    f_speed = draw(frames(sec(0.55), sec(1.0)))
    f_audio = draw(frames(sec(0.55), sec(2.0)))
    f_shape = draw(frames(sec(0.55), sec(2.0)))
    f_pause = draw(frames(sec(1.0), sec(1.5)))
    f_resume = f_pause + draw(frames(sec(0.05), sec(0.5)))
    # the stop comes once every glide has settled (resume ramp 0.5 s, slew <= 1 s)
    f_stop = draw(frames(sec(2.6), sec(3.0)))
    script: dict[int, list] = {}
    for f, act in [(0, lambda e: e.start()),
                   (f_speed, lambda e: e.apply(p_speed)),
                   (max(f_audio, f_speed + 1), lambda e: e.apply(p_audio)),
                   (max(f_shape, f_audio + 1, f_speed + 2), lambda e: e.apply(p_shape)),
                   (f_pause, lambda e: e.pause()),
                   (f_resume, lambda e: e.toggle()),
                   (f_stop, lambda e: e.stop())]:
        script.setdefault(f, []).append(act)
    return p0, script


@given(case=live_scripts(), seed=st.integers(0, 2**32 - 1), hi=st.sampled_from([512, 4096, 16384]))
def test_live_changes_render_the_same_in_any_split(case, seed, hi):
    p0, script = case
    total = sec(4.3)
    ref = run_script(p0, total, script, cut_only_splits(total, script, BIG), max_block=BIG)
    rng = np.random.default_rng(seed)
    other = run_script(p0, total, script, random_splits(total, script, rng, 9, hi, tiny=0.1), max_block=BIG)
    assert_same_run(ref, other, total)
    assert ref.engine.finished[-1].stop_reason == "stopped"
    assert np.any(ref.audio != 0) or not p0.audio.enabled


@pytest.mark.parametrize("tone_name", tone.TONES)
@given(profile=st.sampled_from(motion.PROFILES), passes=st.integers(1, 5), v1=st.floats(0.8, 2.0),
       v2=st.floats(0.8, 2.0), f_change=st.integers(sec(0.2), sec(1.5)), seed=st.integers(0, 2**32 - 1),
       level=st.floats(-40, -12))
def test_automatic_events_land_on_the_same_frame_in_any_split(tone_name, profile, passes, v1, v2, f_change,
                                                               seed, level):
    # the last pass, the glide and its end happen mid-block, at frames the engine computes itself
    p0 = base_preset(tone_name, profile, "horizontal", v1, level, 440.0, 100.0, 0.3, mode="passes", passes=passes)
    p1 = p0.with_("motion", speed_cycles_per_s=v2).with_("audio", level_dbfs=-20.0, carrier_hz=523.0)
    script = {0: [lambda e: e.start()], f_change: [lambda e: e.apply(p1)]}
    total = sec(5.5)
    ref = run_script(p0, total, script, cut_only_splits(total, script, BIG), max_block=BIG)
    other = run_script(p0, total, script, random_splits(total, script, np.random.default_rng(seed), 1, 3000,
                                                        tiny=0.05), max_block=BIG)
    assert_same_run(ref, other, total)
    (result,) = ref.engine.finished
    assert result.stop_reason == "complete" and result.delivered_passes == passes


@pytest.mark.parametrize("tone_name,profile", [("soft_sine", "sinusoidal"), ("warm", "linear"),
                                               ("pulse", "sinusoidal")])
def test_single_frame_blocks_around_every_change(tone_name, profile):
    # the extreme split: one frame per block for 8 ms around each command and each automatic event
    p0 = base_preset(tone_name, profile, "horizontal", 1.0, -18.0, 300.0, 80.0, 0.2, mode="seconds")
    p0 = p0.with_("motion", set_seconds=2.0)
    changes = [
        (sec(0.40), p0.with_("audio", level_dbfs=-30.0)),
        (sec(0.55), p0.with_("audio", level_dbfs=-30.0, tone="warm" if tone_name != "warm" else "pulse")),
        (sec(0.70), p0.with_("audio", level_dbfs=-30.0, carrier_hz=700.0, pan_depth_pct=40.0)),
        (sec(0.90), p0.with_("audio", level_dbfs=-30.0, carrier_hz=700.0, pan_depth_pct=40.0,
                             pan_mode="alternating")
         .with_("motion", speed_cycles_per_s=1.4, path="diagonal_up",
                profile="linear" if profile == "sinusoidal" else "sinusoidal")),
    ]
    script = {0: [lambda e: e.start()]}
    for f, p in changes:
        script.setdefault(f, []).append(lambda e, p=p: e.apply(p))
    total = sec(3.6)
    ref = run_script(p0, total, script, cut_only_splits(total, script, BIG), max_block=BIG)
    # automatic events of the reference run: the time-up, the glide start and the set end
    events = sorted({s.start for s in ref.engine.history} | set(script))
    edges = set()
    for f in events:
        edges.update(range(max(1, f - sec(0.004)), min(total, f + sec(0.004))))
    splits = cut_only_splits(total, edges, BIG)
    other = run_script(p0, total, script, splits, max_block=BIG)
    assert splits.count(1) > 4 * sec(0.008)
    assert_same_run(ref, other, total)
    assert ref.engine.finished[-1].stop_reason == "time"


@pytest.mark.parametrize("tone_name", ["soft_sine", "pulse"])
@given(seed=st.integers(0, 2**32 - 1), f_switch=st.integers(sec(0.3), sec(1.2)))
def test_end_point_accents_render_the_same_in_any_split(tone_name, seed, f_switch):
    # pan mode "continuous_accents": the swell at each end is tracked with the pulses, across a
    # change into and out of the mode and gentle mode switched on (unlocked) while a swell sounds
    p0 = base_preset(tone_name, "sinusoidal", "horizontal", 1.6, -14.0, 440.0, 100.0, 0.1,
                     pan_mode="continuous_accents")
    p1 = p0.with_("audio", pan_mode="continuous")
    p2 = p0.with_(gentle=True)
    unlocks = {"pan_mode": "continuous_accents", "speed": 1.6, "level": -14.0, "pan_depth": 100.0,
               "carrier": 440.0, "fade_in": 0.1, "fade_out": 0.1}
    script = {0: [lambda e: e.start()], f_switch: [lambda e: e.apply(p1)],
              f_switch + sec(0.5): [lambda e: e.apply(p0)], f_switch + sec(1.1): [lambda e: e.apply(p2, unlocks)],
              sec(3.2): [lambda e: e.stop()]}
    total = sec(4.5)
    ref = run_script(p0, total, script, cut_only_splits(total, script, BIG), max_block=BIG)
    other = run_script(p0, total, script, random_splits(total, script, np.random.default_rng(seed), 1, 3000,
                                                        tiny=0.05), max_block=BIG)
    assert_same_run(ref, other, total)
