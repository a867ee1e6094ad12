"""Headphone checks, played by the same engine on the same clock, measured from the audio.

The left/right check, as documented: the tone alone in the left ear for 1.2 s, alone in the right ear
(1.35 .. 2.55 s), then once across from left to right (2.7 .. 4.5 s), each part faded in and out over
0.12 s, at the set's level but at most -20 dBFS. The comfort check: a steady centred tone starting
12 dB below the set's level and rising to it over 3 s, 2 dB a step, never above the cap (in gentle
mode the gentle limit). Checks are not sets: they never enter the set record.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bls.core import checks
from bls.core import engine as eng
from bls.core.preset import Preset, builtin_presets
from bls.session import SessionCore, SessionRecord
from bls.session.script import ScriptClock

from .helpers import CAP, FS, click_excess, cut_only_splits, random_splits, run_script, sec


def db(x: float) -> float:
    return 10 ** (x / 20)


def plain(level=-24.0, tone_name="soft_sine", carrier=440.0, **audio):
    return (Preset(name="hp").with_("motion", set_mode="free")
            .with_("audio", level_dbfs=level, tone=tone_name, carrier_hz=carrier, **audio))


def window_peak(audio, a_s, b_s):
    seg = np.abs(audio[sec(a_s):sec(b_s)].astype(np.float64))
    return seg[:, 0].max(), seg[:, 1].max()


def check_run(p, level, total_s=5.5, seed=1, script=None, program=checks.LEFT_RIGHT):
    total = sec(total_s)
    script = script or {0: [lambda e: e.check(program, level)]}
    splits = random_splits(total, script, np.random.default_rng(seed), 64, 4096)
    return run_script(p, total, script, splits)


# --------------------------------------------------------------------------- left / right


@pytest.mark.parametrize("tone_name", ["soft_sine", "warm", "pulse"])
def test_left_then_right_then_across_measured_from_the_audio(tone_name):
    run = check_run(plain(-24.0, tone_name, pan_depth_pct=60.0, pan_mode="alternating"), -24.0)
    a, level = run.audio, db(-24.0)
    # left alone (the right ear silent), at the level; full pan whatever the set's pan depth
    left_l, left_r = window_peak(a, 0.12, 1.08)
    assert left_l > 0.97 * level and left_r < 1e-6 * level
    right_l, right_r = window_peak(a, 1.47, 2.43)
    assert right_r > 0.97 * level and right_l < 1e-6 * level
    # silence between the parts (the side switches there)
    assert np.abs(a[sec(1.2) + 1:sec(1.35) - 1]).max() == 0 and np.abs(a[sec(2.55) + 1:sec(2.7) - 1]).max() == 0
    # across: the balance moves once from the left to the right, never back
    f = np.arange(sec(2.85), sec(4.35), sec(0.05))
    bal = []
    for x in f:
        w = a[x:x + sec(0.05)].astype(np.float64)
        bal.append((np.sum(w[:, 1] ** 2) - np.sum(w[:, 0] ** 2)) / np.sum(w ** 2))
    assert bal[0] < -0.95 and bal[-1] > 0.95 and np.all(np.diff(bal) > -1e-9)
    # done in under 5 s: silent from 4.5 s, and the engine is idle again
    loud = np.flatnonzero(np.abs(a).max(axis=1) > 0)
    assert loud[-1] < sec(4.5) and loud[0] < sec(0.01)
    assert run.statuses[-1].state == eng.IDLE and run.statuses[-1].check == ""
    assert not run.engine.finished and run.statuses[-1].set_index == 0  # not a set


def test_the_phases_are_published_on_the_stimulus_clock():
    run = check_run(plain(), -24.0)
    e = run.engine
    # the display reads the part heard at any frame from the snapshots (as it reads the target)
    assert e.sample(sec(0.6)).check_phase == "left"
    assert e.sample(sec(1.9)).check_phase == "right"
    assert e.sample(sec(3.5)).check_phase == "across"
    assert e.sample(sec(4.9)).check_phase == ""
    assert e.sample(sec(0.6)).opacity == 0.0  # the target stays hidden


@given(level=st.floats(-80.0, 60.0), tone_name=st.sampled_from(["soft_sine", "warm", "pulse"]),
       carrier=st.floats(150.0, 1000.0), seed=st.integers(0, 2**32 - 1),
       kind=st.sampled_from(["left_right", "comfort"]))
def test_a_check_never_exceeds_the_cap(level, tone_name, carrier, seed, kind):
    p = plain(-12.0, tone_name, carrier)
    run = check_run(p, level, 4.0, seed, program=checks.PROGRAMS[kind])
    assert np.all(np.isfinite(run.audio)) and np.abs(run.audio).max() <= CAP


def test_a_check_renders_the_same_in_any_split():
    p = plain(-20.0, "warm", 523.0)
    total = sec(5.0)
    script = {0: [lambda e: e.check(checks.LEFT_RIGHT, -20.0)]}
    ref = run_script(p, total, script, cut_only_splits(total, script, 1 << 18), max_block=1 << 18)
    for seed in range(3):
        other = run_script(p, total, script, random_splits(total, script, np.random.default_rng(seed), 1, 3000),
                           max_block=1 << 18)
        assert np.array_equal(ref.audio, other.audio)


@pytest.mark.parametrize("stop_at", [0.05, 0.6, 1.27, 3.3])
def test_no_clicks_and_esc_ends_it_gently(stop_at):
    p = plain(-14.0, "warm", 700.0)
    script = {0: [lambda e: e.check(checks.LEFT_RIGHT, -14.0)], sec(stop_at): [lambda e: e.stop()]}
    run = check_run(p, -14.0, 5.0, script=script)
    ratio, ch, at = click_excess(run.audio, ["warm"], 700.0)
    assert ratio < 1.0, f"click at {at / FS:.3f} s"
    silent_from = sec(stop_at + eng.STOP_FADE_S) + 1
    assert np.abs(run.audio[silent_from:]).max() == 0
    assert run.statuses[-1].state == eng.IDLE


def test_a_check_asked_for_during_a_set_plays_nothing():
    p = plain(-24.0)
    script = {0: [lambda e: e.start()], sec(1.0): [lambda e: e.check(checks.LEFT_RIGHT, -20.0)]}
    run = check_run(p, -24.0, 3.0, script=script)
    assert all(s.check == "" for s in run.statuses)
    assert run.statuses[-1].state == eng.RUNNING


# --------------------------------------------------------------------------- through the session core


class Run:
    def __init__(self, preset):
        self.clock = None
        self.audio: list[np.ndarray] = []

        def clocks(engine, _want):
            self.clock = ScriptClock(engine)
            return self.clock
        self.core = SessionCore(preset, clocks, SessionRecord())
        self.notices: list[str] = []
        self.core.notice.connect(self.notices.append)

    def at(self, t: float) -> "Run":
        self.clock.advance_to(int(round(t * FS)), self.core, lambda b: self.audio.append(b.copy()))
        return self

    def played(self) -> np.ndarray:
        return np.concatenate(self.audio)

    def events(self, kind):
        return [e for e in self.core.record.events if e["kind"] == kind]


def test_the_left_right_check_through_the_core_is_recorded_and_never_a_set():
    r = Run(plain(-30.0))
    assert r.core.headphone_check(on_client=True) == "applied"
    assert r.core.check_kind == "left_right"
    r.at(3.0)
    assert r.core.check_kind == "left_right"
    r.at(5.0)
    assert r.core.check_kind == ""
    (ev,) = r.events("headphone_check")
    assert ev["level_dbfs"] == -30.0 and ev["on_client"] is True
    (end,) = r.events("check_end")
    assert end["check"] == "left_right" and end["reason"] == "complete"
    assert r.core.record.sets == [] and r.core.status.set_index == 0
    assert np.abs(r.played()).max() == pytest.approx(db(-30.0), rel=1e-4)  # at the set's level


def test_the_left_right_check_is_held_at_minus_20_dbfs():
    r = Run(plain(-12.0))
    r.core.headphone_check()
    r.at(5.0)
    assert np.abs(r.played()).max() == pytest.approx(db(-20.0), rel=1e-4)


@pytest.mark.parametrize("when", ["running", "paused", "ending"])
def test_refused_during_a_set_with_a_message(when):
    r = Run(plain(-24.0))
    r.core.start()
    r.at(1.0)
    if when == "paused":
        r.core.pause()
        r.at(2.0)
    if when == "ending":
        r.core.stop()
        r.at(1.05)
    assert r.core.headphone_check() == "unchanged"
    assert r.core.comfort_check() == "unchanged"
    assert r.core.check_kind == "" and "between sets" in r.notices[-1]
    assert not r.events("headphone_check")


def test_refused_during_the_rest_after_a_set():
    r = Run(plain(-24.0).with_("timing", rest_s=20.0))
    r.core.start()
    r.at(1.0)
    r.core.stop()
    r.at(3.0)
    assert r.core.headphone_check() == "unchanged" and "rest" in r.notices[-1]


def test_refused_with_the_tone_off():
    r = Run(plain(-24.0, enabled=False))
    assert r.core.headphone_check() == "unchanged" and "tone is off" in r.notices[-1]


def test_esc_ends_the_check_gently_and_space_then_starts_the_set():
    r = Run(plain(-24.0))
    r.core.headphone_check()
    r.at(0.5)
    assert r.core.key("Escape") == "applied"
    r.at(1.0)
    assert r.core.check_kind == "" and r.events("check_end")[-1]["reason"] == "stopped"
    assert np.abs(r.played()[sec(0.5 + eng.STOP_FADE_S) + 1:]).max() == 0
    r.core.headphone_check()
    r.at(1.6)
    # Space during a check: the check fades out, then the set starts (it fades in from silence)
    assert r.core.key("Space") == "applied"
    r.at(3.0)
    assert r.core.status.state == eng.RUNNING and r.core.check_kind == ""
    assert r.events("check_end")[-1]["reason"] == "set started"
    ratio, _, at = click_excess(r.played(), ["soft_sine"], 440.0)
    assert ratio < 1.0, f"click at {at / FS:.3f} s"


def amplitude_db(audio, t):
    w = audio[sec(t):sec(t) + sec(0.01)].astype(np.float64)
    return 20 * np.log10(np.sqrt(np.max(w[:, 0] ** 2 + w[:, 1] ** 2)))


def test_the_comfort_check_starts_quiet_rises_steps_and_keeps_the_level():
    r = Run(plain(-24.0))
    assert r.core.comfort_check() == "applied"
    r.at(4.0)
    a = r.played()
    assert amplitude_db(a, 0.4) < -24.0 - 10.0  # starts about 12 dB below the set's level
    assert amplitude_db(a, 3.5) == pytest.approx(-24.0, abs=0.05)  # ... and rises to it in 3 s
    # centred: both ears the same
    assert np.array_equal(a[sec(1):, 0], a[sec(1):, 1])
    assert r.core.comfort_step(-1) == -26.0
    r.at(5.0)
    assert amplitude_db(r.played(), 4.8) == pytest.approx(-26.0, abs=0.05)
    assert r.core.keep_comfort_level() == "applied"
    r.at(6.0)
    assert r.core.settings.audio.level_dbfs == -26.0 and r.core.check_kind == ""
    (kept,) = r.events("comfort_level")
    assert kept["level_dbfs"] == -26.0 and kept["previous_dbfs"] == -24.0
    assert r.events("check_end")[-1]["reason"] == "level kept"
    assert r.core.record.sets == []
    # the next set plays at the level kept
    r.core.start()
    r.at(9.0)
    assert amplitude_db(r.played(), 8.5) == pytest.approx(-26.0, abs=0.05)
    assert r.core.record.sets == [] or r.core.record.sets[0]["index"] == 1


def test_the_comfort_check_never_goes_above_the_cap():
    r = Run(plain(-16.0))
    r.core.comfort_check()
    levels = [r.core.comfort_step(+1) for _ in range(6)]
    assert levels[-1] == -12.0 and max(levels) == -12.0
    r.at(6.0)
    a = r.played()
    assert np.abs(a).max() <= CAP and amplitude_db(a, 5.5) == pytest.approx(-12.0, abs=0.05)


def test_in_gentle_mode_the_comfort_check_stays_within_the_gentle_limit():
    r = Run(builtin_presets()["gentle"])
    r.core.comfort_check()
    level = r.core.comfort_dbfs
    for _ in range(10):
        level = r.core.comfort_step(+1)
    assert level == -24.0  # the gentle level limit
    r.core.keep_comfort_level()
    r.at(6.0)
    assert r.core.settings.audio.level_dbfs == -24.0 and r.core.question is None


def test_stop_ends_the_comfort_tone_without_keeping_its_level():
    r = Run(plain(-24.0))
    r.core.comfort_check()
    r.core.comfort_step(+2)
    r.at(1.0)
    assert r.core.end_check() == "applied"
    r.at(2.0)
    assert r.core.settings.audio.level_dbfs == -24.0 and not r.events("comfort_level")
    assert np.abs(r.played()[sec(1.0 + eng.STOP_FADE_S) + 1:]).max() == 0


# --------------------------------------------------------------------------- bls script


def test_a_script_runs_the_checks_and_refuses_one_during_a_set():
    from bls.core.library import PresetLibrary
    from bls.session.script import parse_script, run

    text = """actions:
  - {at: 0.5, do: headphone_check, on_client: true}
  - {at: 6, do: comfort_check}
  - {at: 7, do: comfort, steps: -2}
  - {at: 9, do: keep_level}
  - {at: 10, do: start}
  - {at: 12, do: headphone_check}
  - {at: 13, do: stop}
"""
    said = []
    core = run(parse_script(text), PresetLibrary().get("standard"), SessionRecord(), say=said.append)
    kinds = [e["kind"] for e in core.record.events]
    assert kinds.count("headphone_check") == 1 and "comfort_check" in kinds
    assert [e for e in core.record.events if e["kind"] == "comfort_level"][0]["level_dbfs"] == -28.0
    assert len(core.record.sets) == 1 and core.record.sets[0]["samples"][-1]["level_dbfs"] == -28.0
    assert any("headphone_check: unchanged" in line for line in said)
    assert any("between sets" in line for line in said)


@pytest.mark.parametrize("action, words", [("{at: 1, do: comfort}", "needs steps"),
                                           ("{at: 1, do: comfort, steps: 2.5}", "whole number"),
                                           ("{at: 1, do: headphone_check, on_client: 3}", "true or false")])
def test_bad_check_actions_are_refused_before_anything_runs(action, words):
    from bls.session.script import ScriptError, parse_script

    with pytest.raises(ScriptError, match=words):
        parse_script(f"actions:\n  - {action}\n")


def test_quitting_during_a_check_ends_it_and_starts_nothing():
    r = Run(plain(-24.0))
    r.core.headphone_check()
    r.at(0.5)
    r.core.start()  # Space: the set waits for the check to fade out ...
    r.core.quit()  # ... but the session ends first
    r.core.finish()
    assert r.core.status.state == eng.IDLE and r.core.record.sets == []
    assert r.events("check_end") and r.events("session_end")


def test_gentle_mode_switched_on_during_the_comfort_check_lowers_the_tone_to_its_limit():
    r = Run(plain(-14.0))
    r.core.comfort_check()
    r.at(3.5)
    assert amplitude_db(r.played(), 3.4) == pytest.approx(-14.0, abs=0.05)
    r.core.set_gentle(True)
    r.at(5.0)
    assert r.core.comfort_dbfs == -24.0
    assert amplitude_db(r.played(), 4.9) == pytest.approx(-24.0, abs=0.05)
