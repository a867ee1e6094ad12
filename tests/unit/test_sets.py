"""Set length: N passes deliver exactly N passes and end at an end, then glide to the centre;
seconds mode counts running time only; free run never ends by itself. Durations are checked
against an analytic oracle built from the documented speed ramps, never against a recorded run."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bls.core import engine as eng
from bls.core import motion
from bls.core.preset import Preset
from bls.core.render import render

from .helpers import FS, SpeedOracle, click_excess, run_script, sec

# these tests look back over whole sets (see conftest.whole_history)
pytestmark = pytest.mark.usefixtures("whole_history")


def preset(speed=1.0, passes=24, mode="passes", seconds=30.0, fade_in=1.0, profile="sinusoidal",
           path="horizontal", tone_name="soft_sine"):
    return (Preset(name="sets")
            .with_("motion", speed_cycles_per_s=speed, set_passes=passes, set_mode=mode, set_seconds=seconds,
                   profile=profile, path=path)
            .with_("audio", tone=tone_name)
            .with_("timing", fade_in_s=fade_in, fade_out_s=fade_in))


def ease(fade_in):
    """The documented ease-in: the speed rises linearly over max(0.5, fade_in_s) seconds."""
    return max(0.5, fade_in)


def run_until_done(p, block, t_max, changes=(), audio=False):
    """Run a set (commands at block edges); returns the engine and the block edges."""
    e = eng.StimulusEngine(p, max_block=block)
    e.start()
    out = np.zeros((block, 2), np.float32) if audio else None
    pending = sorted(changes, key=lambda c: c[0])
    f = 0
    while f < sec(t_max) and not e.finished:
        while pending and pending[0][0] <= f:
            pending.pop(0)[1](e)
        e.process(block, out)
        f += block
    return e


def reversals(values):
    d = np.diff(values)
    d = d[d != 0]
    return int(np.count_nonzero(np.sign(d[1:]) != np.sign(d[:-1])))


@st.composite
def pass_sets(draw):
    passes = draw(st.integers(1, 30))
    # keep a set under ~25 s so that the property runs fast
    v_min = max(0.05, (0.25 + 0.5 * passes) / 22.0)
    speed = draw(st.floats(v_min, 2.0))
    return passes, speed


@given(ps=pass_sets(), fade_in=st.floats(0.05, 3.0), block=st.integers(64, 16384),
       profile=st.sampled_from(motion.PROFILES), path=st.sampled_from(motion.PATHS),
       change=st.none() | st.tuples(st.floats(0.05, 1.0), st.floats(0.05, 2.0)))
def test_a_set_of_n_passes_delivers_exactly_n(ps, fade_in, block, profile, path, change):
    passes, v1 = ps
    p = preset(v1, passes, fade_in=fade_in, profile=profile, path=path)
    oracle = SpeedOracle()
    oracle.retarget(0.0, v1, ease(fade_in))
    changes = []
    if change is not None:  # a speed change part-way through the set, at a block edge
        frac, v2 = change
        t_naive = (motion.end_phase(passes)) / v1
        f_change = int(frac * t_naive * FS) // block * block
        changes.append((f_change, lambda e: e.apply(p.with_("motion", speed_cycles_per_s=v2))))
        t = f_change / FS
        if v2 != v1:  # the same speed again is no change (the ease-in carries on)
            oracle.retarget(t, v2, abs(v2 - oracle.speed(t)) / eng.SPEED_SLEW)
    t_end = oracle.crossing(motion.end_phase(passes), 400.0)
    e = run_until_done(p, block, t_end + 3.0, changes)

    (res,) = e.finished
    assert res.stop_reason == "complete"
    assert res.delivered_passes == passes == res.requested_passes
    assert res.set_mode == "passes" and res.requested_seconds is None
    # the set ends on the first frame at which the last pass is complete (oracle: to within a frame)
    assert abs(res.delivered_seconds * FS - t_end * FS) <= 1.0 + 1e-6
    glide_at = res.start_frame + round(res.delivered_seconds * FS)
    end = e.sample(glide_at)
    assert abs(end.s) > 1.0 - 1e-6  # at an end ...
    assert np.sign(end.s) == (1.0 if passes % 2 == 0 else -1.0)  # ... the right one (right after even)
    # ... then a glide to the centre, monotone, ending exactly there
    glide = [e.sample(f) for f in np.linspace(glide_at, res.end_frame, 40)]
    mags = [abs(g.s) for g in glide]
    assert all(b <= a + 1e-12 for a, b in zip(mags, mags[1:]))
    assert (glide[-1].x, glide[-1].y, glide[-1].s) == (0.0, 0.0, 0.0)
    assert e.status.state == "idle" and e.status.passes == passes
    # an independent count: the number of direction reversals before the target comes to rest is
    # one per end reached: the first arrival (half a sweep from the centre) plus one per pass
    n_grid = max(200, 60 * (passes + 2))
    s = [e.sample(f).s for f in np.linspace(0, res.end_frame, n_grid)]
    assert reversals(s) == passes + 1


@pytest.mark.parametrize("passes,speed,fade_in", [(24, 1.0, 1.0), (12, 0.5, 1.5), (6, 2.0, 0.05), (1, 0.3, 4.0)])
def test_rendered_trace_shows_n_passes_then_the_centre(passes, speed, fade_in):
    p = preset(speed, passes, fade_in=fade_in)
    o = SpeedOracle()
    o.retarget(0.0, speed, ease(fade_in))
    t_end = o.crossing(motion.end_phase(passes), 200.0)
    audio, trace, e = render(p, t_end + 2.0, block=1024)
    (res,) = e.finished
    assert res.delivered_passes == passes and res.stop_reason == "complete"
    assert res.delivered_seconds == pytest.approx(t_end, abs=1.0 / FS)
    x = trace[:, 1]
    assert reversals(x) == passes + 1
    assert np.all(x[trace[:, 0] >= res.end_frame / FS] == 0.0)
    assert np.max(np.abs(x)) == pytest.approx(1.0, abs=1e-3)


def test_delivered_duration_for_the_standard_preset_is_analytic():
    # 24 passes at 1 cycle/s with a 1 s ease-in: the last pass ends at phase 12.25; the ease-in
    # covers 0.5 cycle in 1 s, the rest goes at 1 cycle/s: 1 + 11.75 = 12.75 s
    p = preset(1.0, 24, fade_in=1.0)
    e = run_until_done(p, 1024, 20.0)
    assert e.finished[0].delivered_seconds == pytest.approx(12.75, abs=1.0 / FS)


@given(seconds=st.floats(1.0, 6.0), speed=st.floats(0.3, 2.0), fade_in=st.floats(0.05, 0.5),
       pause_at=st.floats(0.0, 1.0), pause_len=st.floats(0.05, 3.0), block=st.integers(64, 4096))
def test_seconds_mode_ends_after_s_seconds_of_running_time(seconds, speed, fade_in, pause_at, pause_len, block):
    p = preset(speed, mode="seconds", seconds=seconds, fade_in=fade_in)
    # pause somewhere in the first part of the set, resume pause_len later (both at block edges)
    P = int(pause_at * (seconds - 0.6) * FS) // block * block
    R = P + max(1, int(pause_len * FS) // block) * block
    T = math.ceil(seconds * FS - 1e-9) + (R - P)  # the time-up frame: S s of running time
    e = eng.StimulusEngine(p, max_block=block)
    script = {0: [e.start], P: [e.pause], R: [e.toggle]}
    f = 0
    elapsed_in_pause = set()
    while f < T:
        for act in script.get(f, ()):
            act()
        n = min(block, T - f)
        e.process(n)
        f += n
        if P < f <= R:
            elapsed_in_pause.add(e.status.elapsed_s)
    assert e.status.state == "running"  # frames [0, T) rendered: still running
    assert elapsed_in_pause == {P / FS}  # the set timer stood still during the pause
    assert e.status.elapsed_s == pytest.approx((T - (R - P)) / FS, abs=1e-9)
    e.process(1)  # frame T
    assert e.status.state == "stopping"
    while e.status.state != "idle":
        e.process(block)
    (res,) = e.finished
    assert res.stop_reason == "time" and res.requested_seconds == seconds and res.set_mode == "seconds"
    # the set timer counts the deceleration after the time is up, never the pause
    assert seconds <= res.delivered_seconds <= seconds + eng.TIMEUP_DECEL_S + 1.0 / FS


def test_seconds_mode_delivered_time_does_not_depend_on_a_pause():
    p = preset(1.2, mode="seconds", seconds=5.0, fade_in=0.3)
    plain = run_until_done(p, 480, 20.0)
    paused = run_until_done(p, 480, 20.0, [(sec(1.0), lambda e: e.pause()), (sec(3.5), lambda e: e.start())])
    assert plain.finished[0].delivered_seconds == paused.finished[0].delivered_seconds

    def time_up(e):
        return next(s.start for s in e.history if s.state == "stopping")

    assert time_up(paused) - time_up(plain) == sec(2.5)  # exactly the pause, to the frame


def test_free_run_never_ends_by_itself():
    # set_passes and set_seconds are present but must be ignored: an hour later it still runs
    p = preset(1.0, passes=1, mode="free", seconds=1.0, fade_in=1.0)
    e = eng.StimulusEngine(p)
    e.start()
    for _ in range(sec(3600.0) // 16384):
        e.process(16384)
    assert e.status.state == "running" and not e.finished
    t = e.status.frame / FS
    phase = 0.5 + (t - 1.0)  # 1 s ease-in covers half a cycle, then 1 cycle/s
    assert e.status.passes == int(motion.passes_completed(phase))
    assert e.status.elapsed_s == pytest.approx(t, abs=1e-9)
    e.stop()
    for _ in range(8):  # 2.7 s: the deceleration and the glide to the centre
        e.process(16384)
    assert e.finished[0].stop_reason == "stopped" and e.finished[0].delivered_passes >= e.status.passes


def test_status_and_set_results_count_sets():
    p = preset(2.0, passes=2, fade_in=0.05)
    e = eng.StimulusEngine(p)
    for i in range(3):
        e.start()
        while len(e.finished) <= i:
            e.process(4096)
        assert e.status.set_index == i + 1
    assert [r.index for r in e.finished] == [1, 2, 3]
    assert all(r.delivered_passes == 2 for r in e.finished)
    starts = [r.start_frame for r in e.finished]
    ends = [r.end_frame for r in e.finished]
    assert all(s2 >= e2 for s2, e2 in zip(starts[1:], ends[:-1]))


@pytest.mark.parametrize("scenario", ["complete", "early-stop"])
def test_pulse_tone_set_can_end(scenario):
    # regression: engine._render used to call _wave('pulse', cph, None) once the target stopped
    # moving while the fade-out still sounded: a TypeError in the audio callback
    if scenario == "complete":  # a set of passes ends by itself: the fade-out runs into the glide
        p = preset(1.0, passes=2, fade_in=1.0, tone_name="pulse")
        script = {0: [lambda e: e.start()]}
    else:  # Esc a moment after Space: the target is barely moving, so it comes to rest at once
        p = preset(1.0, mode="free", fade_in=1.0, tone_name="pulse")
        script = {0: [lambda e: e.start()], sec(0.1): [lambda e: e.stop()]}
    total = sec(5.0)
    edges = sorted(set(range(0, total, 1024)) | set(script))
    splits = [b - a for a, b in zip(edges, edges[1:] + [total])]
    run = run_script(p, total, script, splits)
    assert run.engine.finished and run.engine.status.state == "idle"
    assert not run.audio[-sec(0.5):].any()
    assert click_excess(run.audio, ["pulse"], 440.0)[0] <= 1.0


@pytest.mark.parametrize("pause_phase", [2.0, 2.2])
def test_a_pause_just_before_the_last_pass_still_ends_at_an_end(pause_phase):
    # regression: the set length was only checked while running, so the pause's deceleration could
    # carry the target through the final end; on resume the set ended wherever the target was (or
    # one pass late). 4 passes at 2 cycles/s (0.5 s ease-in): phase(t) = 0.5 + 2 (t - 0.5); the set
    # ends at phase 2.25, and the pause deceleration (0.6 s from 2 cycles/s) covers 0.6 cycle
    passes, speed = 4, 2.0
    p = preset(speed, passes, fade_in=0.5)
    f_pause = sec(0.5 + (pause_phase - 0.5) / speed)
    e = run_until_done(p, 480, 10.0, [(f_pause, lambda e: e.pause()), (f_pause + sec(1.5), lambda e: e.start())])
    (res,) = e.finished
    assert res.delivered_passes == passes and res.stop_reason == "complete"
    glide_at = next(s.start for s in e.history if s.state == "gliding")
    end = e.sample(glide_at)
    assert abs(end.s) > 1.0 - 1e-6 and np.sign(end.s) == 1.0  # at the end where pass 4 finishes
    assert res.delivered_seconds <= f_pause / FS  # the pause is not counted
