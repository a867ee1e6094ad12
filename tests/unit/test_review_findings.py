"""Found by a review of the 'clinical rules in a Qt-free session core' change, each a promise the first
version did not keep (the test failed), fixed since."""

import numpy as np

from bls.core import gentle
from bls.core.engine import IDLE, SAMPLE_RATE
from bls.core.look import relative_luminance, target_area_share
from bls.core.photosafe import ASPECT, MAX_RED_SLEW, redness
from bls.core.preset import builtin_presets
from bls.session import SessionCore, SessionRecord
from bls.session.script import ScriptClock


class Run:
    def __init__(self, preset):
        def clocks(engine, _want):
            self.clock = ScriptClock(engine)
            return self.clock
        self.core = SessionCore(preset, clocks, SessionRecord())

    def at(self, t: float, sink=None) -> "Run":
        self.clock.advance_to(int(round(t * SAMPLE_RATE)), self.core, sink)
        return self


def preset(name):
    return builtin_presets()[name]


def rms_db(chunks) -> float:
    x = np.concatenate(chunks).astype(np.float64)
    v = float(np.sqrt(np.mean(x * x)))
    return 20 * np.log10(v) if v > 1e-9 else -999.0


def test_esc_silences_an_end_of_set_fade_out_within_a_second():
    r = Run(preset("gentle").with_("timing", fade_out_s=30.0).with_("motion", set_mode="seconds", set_seconds=5.0))
    c = r.core
    c.start()
    r.at(5.4)  # the time is up (5 s): the 30 s fade-out runs
    c.key("Escape")
    chunks = []
    r.at(6.4, chunks.append)
    chunks.clear()
    r.at(7.4, chunks.append)  # 1 to 2 s after Esc
    assert rms_db(chunks) < -90.0


def test_quit_during_a_gentle_time_up_keeps_the_set_in_the_record():
    from bls.app import QUIT_GLIDE_WAIT_S
    r = Run(preset("gentle").with_("motion", set_mode="seconds", set_seconds=5.0))
    c = r.core
    c.start()
    r.at(5.05)
    assert c.status.state == "stopping"
    c.quit()  # what BlsApp.request_quit does, then polls until IDLE or the deadline, then finish()
    t = 5.05
    while c.engine.status.state != IDLE and t < 5.05 + QUIT_GLIDE_WAIT_S:
        t += 0.02
        r.at(t)
    c.finish()
    assert len(c.record.sets) == 1


def test_space_right_as_a_gentle_set_ends_still_asks_about_the_rest():
    r = Run(preset("gentle"))
    c = r.core
    c.start()
    r.at(3.0)
    c.stop()
    e = c.engine
    while not e.finished:  # the clock thread runs on; the GUI has not polled yet
        e.process(480, None, r.clock.token)
    assert c.key("Space") == "asked"


def test_when_unlocks_end_the_speed_is_inside_the_envelope_within_3_s():
    r = Run(preset("gentle").with_("motion", set_mode="free"))
    c = r.core
    c.start()
    r.at(1.0)
    c.set_field("motion.speed_cycles_per_s", 2.0)
    c.answer(True)
    r.at(40.0)
    c.load_preset(preset("gentle").with_("motion", set_mode="free"), "gentle")
    r.at(43.0)
    assert c.status.speed_cycles_per_s <= gentle.SPEED_MAX + 1e-9


def _screen_red(sample) -> float:
    look = sample.look
    a = target_area_share(look, ASPECT) * sample.opacity
    return redness(look.background) * (1 - a) + redness(look.target) * a


def _screen_lum(sample) -> float:
    look = sample.look
    a = target_area_share(look, ASPECT) * sample.opacity
    return relative_luminance(look.background) * (1 - a) + relative_luminance(look.target) * a


def test_set_start_keeps_the_red_slew_limit():
    p = preset("standard").with_("visual", target_color="#ff0000", background_color="#000000",
                                 target_diameter_pct=30.0, target_softness_pct=0.0).with_("motion", set_mode="free")
    r = Run(p)
    c = r.core
    r.at(0.2)
    c.start()
    t, red = 0.2, []
    while t < 1.5:
        r.at(t)
        red.append((t, _screen_red(c.engine.sample(c.engine.next_frame))))
        t += 1 / 120
    a = np.array(red)
    slope = np.max(np.abs(np.diff(a[:, 1]) / np.diff(a[:, 0])))
    assert slope <= MAX_RED_SLEW * 1.05


def test_gentle_on_mid_set_from_a_white_background_darkens_as_fast_as_photosafety_allows():
    # the two promises meet here: everything inside the envelope within 3 s, and the screen's brightness
    # never faster than 0.3 per second. Photosafety wins: the white background darkens at an even 0.3
    # per second (not eased), inside the envelope within (1 - 0.05) / 0.3 = 3.2 s (+3 % margin), and
    # the therapist is told; everything else is inside within 3 s
    p = preset("standard").with_("visual", background_color="#ffffff", target_color="#000000").with_(
        "motion", set_mode="free")
    r = Run(p)
    c = r.core
    c.start()
    r.at(5.0)
    c.set_gentle(True)
    r.at(8.0)
    assert c.status.speed_cycles_per_s <= gentle.SPEED_MAX
    look = c.engine.sample(c.engine.next_frame).look
    assert look.diameter_pct >= gentle.DIAMETER_MIN_PCT and look.softness >= gentle.SOFTNESS_MIN_PCT / 100
    r.at(5.0 + 0.95 / 0.3 * 1.03 + 0.05)
    look = c.engine.sample(c.engine.next_frame).look
    assert relative_luminance(look.background) <= gentle.BACKGROUND_LUMINANCE_MAX + 1e-9
    assert any(e["kind"] == "photosafe_slowed" for e in c.record.events)


def test_a_change_while_a_preset_question_is_open_does_not_revive_the_previous_preset():
    a = preset("gentle").with_("motion", set_mode="free")
    b = a.with_(name="B").with_("motion", speed_cycles_per_s=0.9).with_("audio", carrier_hz=150.0)
    r = Run(a)
    c = r.core
    c.start()
    r.at(2.0)
    assert c.load_preset(b, "B") == "asked"
    c.set_field("audio.level_dbfs", -32.0)
    r.at(4.0)
    assert c.preset_name == "B"
    assert c.settings.audio.carrier_hz == 150.0  # B's carrier (inside the envelope), not A's 200 Hz


def test_a_value_beyond_the_hard_cap_is_not_recorded_as_unlocked():
    r = Run(preset("gentle").with_("motion", set_mode="free"))
    c = r.core
    c.start()
    r.at(1.0)
    c.change(c.settings.with_("motion", speed_cycles_per_s=5.0))
    if c.question is not None:
        c.answer(True)
    for e in c.record.events:
        if e["kind"] in ("unlock", "setting") and "speed" in e.get("field", ""):
            assert (e.get("value", e.get("new"))) <= 2.0
