"""Clinical rules the engine itself enforces, whatever front end drives it: hard caps, fades measured
as the README defines them, gentle mode switched on mid-set, the delivered-values record, pulses that
do not depend on audio being rendered, time-bounded history, one owner, and photosensitivity."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bls.core import engine as eng
from bls.core import gentle
from bls.core.preset import Preset, builtin_presets

from .helpers import FS, sec


def run(p: Preset, seconds: float, actions=None, block: int = 480, audio: bool = True, engine=None):
    """Drive an engine; actions maps a time (s) to fn(engine), applied at that block edge."""
    e = engine or eng.StimulusEngine(p, max_block=block)
    at = {sec(t): fn for t, fn in (actions or {}).items()}
    total = sec(seconds)
    out = np.zeros((total, 2), np.float32) if audio else None
    statuses, f = [], 0
    while f < total:
        if f in at:
            at.pop(f)(e)
        n = min(block, total - f, *[a - f for a in at if a > f])
        e.process(n, None if out is None else out[f:f + n])
        f += n
        statuses.append(e.status)
    return e, out, statuses


def standard(**motion) -> Preset:
    return builtin_presets()["standard"].with_("motion", set_mode="free", **motion)


# ----------------------------------------------------------------------------- hard caps


def test_a_preset_beyond_the_schema_is_held_at_the_hard_caps_by_the_engine():
    wild = standard(speed_cycles_per_s=5.0).with_("audio", level_dbfs=0.0, carrier_hz=20000.0)
    e, out, st_ = run(wild, 6.0, {0.0: lambda e: e.start()})
    assert max(s.speed_cycles_per_s for s in st_) == pytest.approx(2.0)
    assert float(np.abs(out).max()) <= 10 ** (-12 / 20) * (1 + 1e-6)
    assert e.settings.audio.carrier_hz == 1000.0
    # and live: a change to 5 cycles/s mid-set glides to 2.0, not beyond
    e, _, st_ = run(standard(), 8.0, {0.0: lambda e: e.start(), 2.0: lambda e: e.apply(wild)}, audio=False)
    assert max(s.speed_cycles_per_s for s in st_) == pytest.approx(2.0)


# ----------------------------------------------------------------------------- fades, measured


def peak_env(audio, window):
    mono = np.sqrt(audio[:, 0].astype(float) ** 2 + audio[:, 1].astype(float) ** 2)
    n = len(mono) // window
    return mono[: n * window].reshape(n, window).max(axis=1)


@pytest.mark.parametrize("fade_s", [0.5, 2.0, 3.0])
def test_a_fade_in_of_f_seconds_reaches_within_1_db_of_the_level_in_f_seconds(fade_s):
    p = standard().with_("timing", fade_in_s=fade_s).with_("audio", carrier_hz=400.0)
    _, out, _ = run(p, fade_s * 1.5 + 1.0, {0.0: lambda e: e.start()})
    w = FS // 400  # one carrier period
    env = peak_env(out, w)
    steady = env[-int(0.5 * FS / w):].max()
    start = np.flatnonzero(np.any(out != 0, axis=1))[0] / FS
    near = np.flatnonzero(env >= steady * 10 ** (-1 / 20))[0] * w / FS
    assert near - start == pytest.approx(fade_s, abs=2 * w / FS)


# ----------------------------------------------------------------------------- soften now


def test_gentle_mode_switched_on_at_two_cycles_per_second_is_inside_the_envelope_within_3_s():
    p = standard(speed_cycles_per_s=2.0).with_("audio", level_dbfs=-12.0, carrier_hz=880.0, pan_depth_pct=100.0)
    switch = 6.0
    e, out, st_ = run(p, switch + 5.0, {0.0: lambda e: e.start(), switch: lambda e: e.apply(gentle.soften(p))},
                      block=240)
    t = np.array([s.frame for s in st_]) / FS
    v = np.array([s.speed_cycles_per_s for s in st_])
    assert v[t <= switch].max() == pytest.approx(2.0)
    assert v[t >= switch + 3.0].max() <= gentle.SPEED_MAX
    peak_after = float(np.abs(out[sec(switch + 3.0):]).max())
    assert peak_after <= 10 ** (gentle.LEVEL_MAX_DBFS / 20) * (1 + 1e-6)
    # smoothly: the speed glides (no step bigger than a block's share of the glide) and the tone's
    # level never steps (largest sample-to-sample change stays that of an 880 Hz tone at -12 dBFS)
    assert np.max(np.abs(np.diff(v))) < 0.02
    step = np.abs(np.diff(out[sec(switch - 0.1):sec(switch + 3.1)].astype(float), axis=0)).max()
    assert step <= 10 ** (-12 / 20) * 2 * math.pi * 880 / FS * 1.05
    # the target too: the look is inside the envelope 3 s after the switch
    look = e.sample(sec(switch + 3.0)).look
    assert look.diameter_pct >= gentle.DIAMETER_MIN_PCT and look.softness >= gentle.SOFTNESS_MIN_PCT / 100


# ----------------------------------------------------------------------------- the delivered record


def test_each_set_carries_what_was_delivered_at_least_every_half_second():
    p = standard(speed_cycles_per_s=2.0)
    e, _, _ = run(p, 14.0, {0.0: lambda e: e.start(), 5.0: lambda e: e.apply(p.with_("motion", speed_cycles_per_s=1.0)),
                            12.0: lambda e: e.stop()}, audio=False)
    (res,) = e.finished
    t = np.array([d.frame for d in res.samples]) / FS
    assert t[0] == pytest.approx(0.0) and t[-1] == pytest.approx(res.end_frame / FS)
    assert np.diff(t).max() <= 0.5
    speed = np.array([d.speed_cycles_per_s for d in res.samples])
    assert speed[(t > 2.0) & (t < 5.0)].min() == pytest.approx(2.0)  # run at 2.0 for a while ...
    assert speed[(t > 9.0) & (t < 12.0)].max() == pytest.approx(1.0)  # ... and brought back to 1.0
    assert all(d.level_dbfs == pytest.approx(-24.0) for d in res.samples)
    assert res.samples[-1].output_dbfs is None  # silent at the end


# ----------------------------------------------------------------------------- pulses


def test_pulse_timing_does_not_depend_on_audio_being_rendered():
    p = standard(speed_cycles_per_s=1.3).with_("audio", tone="pulse")
    heard, out_a, _ = run(p, 6.0, {0.0: lambda e: e.start()})
    # the same set, clocked without sound for its first 3.1 s (a clock without an output), then heard
    e = eng.StimulusEngine(p, max_block=480)
    e.start()
    for _ in range(sec(3.1) // 480):
        e.process(480, None)
    rest = np.zeros((sec(6.0) - sec(3.1) // 480 * 480, 2), np.float32)
    for f in range(0, len(rest), 480):
        e.process(min(480, len(rest) - f), rest[f:f + 480])
    np.testing.assert_array_equal(rest, out_a[len(out_a) - len(rest):])


# ----------------------------------------------------------------------------- history and owner


def test_the_history_is_bounded_by_stimulus_time_and_covers_it():
    p = standard()
    e = eng.StimulusEngine(p, max_block=480)
    e.start()
    for i in range(600):  # a change every 0.1 s for a minute
        if i % 10 == 0:
            e.apply(p.with_("audio", level_dbfs=-24.0 - (i // 10) % 7))
        e.process(480)
    starts = [s.start for s in e.history]
    newest = starts[-1]
    assert starts[1] > newest - eng.HISTORY_S * FS  # nothing older than needed ...
    assert starts[0] <= newest - eng.HISTORY_S * FS  # ... and all of the last HISTORY_S covered
    assert len(starts) < 2 * eng.HISTORY_S / 0.1 + 3


def test_only_the_owner_clock_advances_the_engine():
    e = eng.StimulusEngine(standard(), max_block=480)
    a, b = object(), object()
    e.owner = a
    e.start()
    out = np.ones((480, 2), np.float32)
    assert e.process(480, out, token=b) == 0 and e.next_frame == 0 and not out.any()
    e.process(480, out, token=a)
    assert e.next_frame == 480


# ----------------------------------------------------------------------------- photosensitivity

# the test's own model of the screen: WCAG relative luminance per pixel of a 64 x 36 picture with the
# target drawn as a disc of its visible diameter; computed from the looks the engine publishes

def _lin(c):
    c = np.asarray(c, float)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


_YY, _XX = np.mgrid[0:36, 0:64]


def screen_mean_luminance(look, x=0.0) -> float:
    lum = lambda rgb: float(0.2126 * _lin(rgb[0]) + 0.7152 * _lin(rgb[1]) + 0.0722 * _lin(rgb[2]))
    r = look.diameter_pct / 200 * 36
    cx = 32 + x * look.sweep * 32
    inside = ((_XX + 0.5 - cx) ** 2 + (_YY + 0.5 - 18) ** 2) <= r * r
    a = inside.mean() * look.visibility
    return lum(look.background) * (1 - a) + lum(look.target) * a


def excursions(t, y, size=0.1):
    """Times at which the signal completes a move of ``size`` away from its last turning point."""
    out, hi, lo, direction = [], y[0], y[0], 0
    for ti, yi in zip(t, y):
        hi, lo = max(hi, yi), min(lo, yi)
        if direction >= 0 and yi <= hi - size:
            out.append(ti)
            direction, lo, hi = -1, yi, yi
        elif direction <= 0 and yi >= lo + size:
            out.append(ti)
            direction, hi, lo = 1, yi, yi
    return out


LOOKS = {
    "dark": {"background_color": "#101214", "target_color": "#e8e4da"},
    "white": {"background_color": "#ffffff", "target_color": "#202020"},
    "grey": {"background_color": "#8a8a8a", "target_color": "#ffffff"},
    "red": {"background_color": "#e00000", "target_color": "#ffffff"},
    "black": {"background_color": "#000000", "target_color": "#ff0000"},
}


@given(clicks=st.lists(st.tuples(st.floats(0.05, 4.0), st.sampled_from(sorted(LOOKS)), st.booleans()),
                       min_size=2, max_size=14))
def test_whatever_is_clicked_the_screen_changes_brightness_at_most_3_times_a_second(clicks):
    p = standard()
    actions = {}
    for t, name, show in clicks:
        actions[round(t, 2)] = (lambda q: lambda e: e.apply(q))(p.with_("visual", show_target=show, **LOOKS[name]))
    e = eng.StimulusEngine(p, max_block=240)
    e.start()
    fps, f, total = 120, 0, sec(9.0)
    at = {sec(t): fn for t, fn in actions.items()}
    t_list, lum, red = [], [], []
    while f < total:
        if f in at:
            at.pop(f)(e)
        n = min(240, total - f, *[a - f for a in at if a > f])
        e.process(n)
        f += n
        while len(t_list) * FS / fps < f:
            smp = e.sample(len(t_list) * FS / fps)
            t_list.append(len(t_list) / fps)
            lum.append(screen_mean_luminance(smp.look, smp.x))
            bg = smp.look.background
            red.append(max(0.0, float(_lin(bg[0]) - _lin(bg[1]) - _lin(bg[2]))))
    done = np.array(excursions(t_list, lum))
    for t0 in done:
        assert np.count_nonzero((done >= t0) & (done < t0 + 1.0)) <= 3
    reds = np.array(excursions(t_list, red))
    assert len(reds) < 2 or np.diff(reds).min() >= 1.0  # a saturated red never flashes


def test_a_slowed_brightness_change_is_published_for_the_therapist():
    p = standard()
    e, _, st_ = run(p, 3.0, {0.5: lambda e: e.apply(p.with_("visual", **LOOKS["white"]))}, audio=False)
    slowed = [s.look_slowed_s for s in st_ if s.look_slowed_s]
    assert slowed and slowed[0] > 2.0  # dark to white: at 0.3 per second, more than 3 s


# ----------------------------------------------------------------------------- the engine trusts no caller


@pytest.mark.parametrize("section, field", [("audio", "carrier_hz"), ("audio", "pan_depth_pct"),
                                            ("motion", "set_seconds"), ("motion", "speed_cycles_per_s"),
                                            ("audio", "level_dbfs")])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_value_that_is_not_a_finite_number_is_refused_at_the_api(section, field, bad):
    good = standard()
    with pytest.raises(ValueError, match=f"not a finite number: {section}.{field}"):
        eng.StimulusEngine(good.with_(section, **{field: bad}))
    e = eng.StimulusEngine(good)
    e.start()
    with pytest.raises(ValueError, match=field):
        e.apply(good.with_(section, **{field: bad}))
    out = np.zeros((4800, 2), np.float32)
    for _ in range(20):
        e.process(4800, out)
    assert np.isfinite(out).all() and np.abs(out).max() > 0  # nothing changed: it plays on


def test_the_output_stage_turns_a_nan_into_silence_never_into_nan_samples():
    # a snapshot poisoned behind the API's back (as a bug elsewhere could): what is played is silence
    from dataclasses import replace

    from bls.core.ramp import Ramp

    e = eng.StimulusEngine(standard(), max_block=480)
    e.start()
    out = np.zeros((480, 2), np.float32)
    for _ in range(50):
        e.process(480, out)
    assert np.abs(out).max() > 0
    e._snap = replace(e._snap, carrier=Ramp.hold(float("nan"), e.next_frame))
    e.process(480, out)
    assert np.isfinite(out).all() and not out.any()


@pytest.mark.parametrize("name", ["standard", "gentle"])
def test_hurry_reaches_silence_within_its_fade_from_any_state(name):
    # a second signal: the process must exit at once, still without a cut at full level
    p = builtin_presets()[name].with_("motion", set_mode="free")
    for when in (2.0, 2.2):  # running; and 0.2 s into a gentle stop fade
        e = eng.StimulusEngine(p, max_block=480)
        e.start()
        out = np.zeros((sec(4.0), 2), np.float32)
        f = 0
        while f < len(out):
            if f == sec(2.0) and when == 2.2:
                e.stop()  # the stop fade is under way when the hurry comes
            if f == sec(when):
                e.hurry(0.05)
            e.process(480, out[f:f + 480])
            f += 480
        after = out[sec(when) + sec(0.05) + 480:]
        assert not after.any()  # silent 50 ms (and one block) after
        tail = np.abs(out[sec(when):sec(when) + sec(0.05)]).max(axis=1)
        assert tail[-48:].max() < 0.05 * max(tail[:48].max(), 1e-9)  # a fade, not a cut
