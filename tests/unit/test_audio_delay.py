"""The manual audio delay: where it enters the clock mapping (both device clocks, fed by fake streams),
its range, the output it is kept for, the set record, and the calibration program (flash and click on
the same stimulus frame, photosafe, between sets only)."""

from __future__ import annotations

import collections
from dataclasses import replace
import math
import time as _time
from types import SimpleNamespace

import numpy as np
import pytest

from bls.audio import output, ring
from bls.audio.output import AudioStatus, DeviceClock, MonotonicClock
from bls.core import avdelay, photosafe
from bls.core.clock import Anchor, AnchorMap
from bls.core.engine import IDLE, RUNNING, StimulusEngine
from bls.core.look import relative_luminance
from bls.core.preset import builtin_presets
from bls.core.room import RoomSettings
from bls.session import SessionCore, SessionRecord
from bls.session.clocks import ClockManager

FS = 48_000


def standard():
    return builtin_presets()["standard"].with_("motion", set_mode="free")


# ------------------------------------------------------------------------------------ fake streams


class FakeStream:
    latency = 0.08
    device = 3


class FakeSD:
    """Just enough sounddevice for DeviceClock to open an output: the stream is never started."""

    class CallbackAbort(Exception):
        pass

    def __init__(self):
        self.kwargs = None

    def OutputStream(self, **kwargs):
        self.kwargs = kwargs
        return FakeStream()

    def query_devices(self, device=None, kind=None):
        return [{"name": "BT Headphones", "hostapi": 0, "max_output_channels": 2}] if device is None else \
            {"name": "BT Headphones", "hostapi": 0, "max_output_channels": 2}

    def query_hostapis(self, index=None):
        return {"name": "ALSA"}


@pytest.fixture
def frozen_monotonic(monkeypatch):
    """output.py's monotonic() stands still at 500 s (only there: pytest's own clock is left alone)."""
    monkeypatch.setattr(output, "time", SimpleNamespace(monotonic=lambda: 500.0, perf_counter=_time.perf_counter))
    return 500.0


def device_anchor(clock, dac, current, frames=256):
    engine = clock.engine
    engine.owner = clock.token
    out = np.zeros((frames, 2), np.float32)
    info = SimpleNamespace(outputBufferDacTime=dac, currentTime=current)
    clock._callback(out, frames, info, SimpleNamespace(output_underflow=False))
    return clock.anchor


def test_the_device_clock_moves_each_anchor_later_by_the_delay(frozen_monotonic):
    clock = DeviceClock(StimulusEngine(standard()), sd=FakeSD())
    a0 = device_anchor(clock, dac=10.090, current=10.000)
    assert a0.time == pytest.approx(500.0 + 0.090, abs=1e-9)  # the measured latency, as before
    clock.set_delay(0.150)
    a1 = device_anchor(clock, dac=20.090, current=20.000)
    assert a1.time == pytest.approx(500.0 + 0.090 + 0.150, abs=1e-9)
    assert a1.epoch != a0.epoch  # the map starts afresh from the first delayed anchor
    clock.set_delay(-0.300)
    a2 = device_anchor(clock, dac=30.090, current=30.000)
    assert a2.time == pytest.approx(500.0 + 0.090 - 0.300, abs=1e-9)
    # a block whose timestamps are unusable falls back on the stream's latency: the delay still applies
    a3 = device_anchor(clock, dac=0.0, current=0.0)
    assert a3.time == pytest.approx(500.0 + FakeStream.latency - 0.300, abs=1e-9)


def test_the_ring_clock_moves_each_anchor_later_by_the_delay():
    clock = ring.RingClock.__new__(ring.RingClock)  # no rtmixer stream: only the anchor publication
    output._Clock.__init__(clock, StimulusEngine(standard()))
    clock._segments = collections.deque([(0, 1000)])  # ring frame r holds engine frame r + 1000
    clock._time = ring._TimeMap()
    clock._time.offset = 400.0  # stream time + 400 = monotonic time
    clock.timestamps_ok = 0
    clock._publish(4800, 12.5)
    a0 = clock.anchor
    assert (a0.frame, a0.time) == (5800, pytest.approx(412.5, abs=1e-9))
    clock.set_delay(0.2)
    clock._publish(9600, 12.6)
    a1 = clock.anchor
    assert (a1.frame, a1.time) == (10600, pytest.approx(412.6 + 0.2, abs=1e-9))
    assert a1.epoch != a0.epoch


def test_the_stand_in_has_no_delay_the_manager_applies_it_only_to_a_sound_card():
    engine = StimulusEngine(standard())
    stand_in = MonotonicClock(engine)
    mgr = ClockManager(engine, False, opener=lambda e, want, dev, refresh: (stand_in, AudioStatus(False, "off")))
    assert mgr.set_delay(0.15) is False and stand_in.delay_s == 0.0
    card = DeviceClock(engine, sd=FakeSD())
    mgr.clock = card
    assert mgr.set_delay(0.15) is True and card.delay_s == 0.15


def test_the_display_asks_the_same_map_and_sees_the_picture_delayed():
    """Fed with delayed anchors, the one anchor map answers 'which frame is heard at t' with the frame
    the undelayed map gives for t - delay: the picture moves later by the delay, nothing else."""
    plain, delayed = AnchorMap(FS), AnchorMap(FS)
    t0, d = 1000.0, 0.15
    for i in range(40):
        f = i * 512
        plain.add(Anchor(f, t0 + f / FS, epoch=1))
        delayed.add(Anchor(f, t0 + f / FS + d, epoch=2))
    for t in (1000.2, 1000.3, 1000.4):
        assert delayed.frame_at(t) == pytest.approx(plain.frame_at(t - d), abs=1e-6)
        assert plain.frame_at(t) - delayed.frame_at(t) == pytest.approx(d * FS, abs=1e-6)


def test_a_delay_change_between_anchors_is_taken_at_once_not_rejected_as_outliers():
    m = AnchorMap(FS)
    clock = output._Clock(StimulusEngine(standard()))
    for i in range(20):
        m.add(clock.anchor_at(i * 512, 1000.0 + i * 512 / FS))
    clock.set_delay(0.25)
    f = 20 * 512
    assert m.add(clock.anchor_at(f, 1000.0 + f / FS)) is True
    assert m.time_at(f) == pytest.approx(1000.0 + f / FS + 0.25, abs=1e-9) and m.rejected == 0


def test_a_negative_delay_beyond_what_is_rendered_shows_the_frame_the_engine_will_render():
    """-300 ms asks for frames up to ~0.3 s past what the device clock rendered: the snapshots are closed
    form, so the picture is the one the engine then renders (no command in between)."""
    e = StimulusEngine(standard())
    e.start()
    for _ in range(10):
        e.process(FS // 10)  # one second in, running
    ahead = [e.next_frame + k * 1200 for k in range(1, 13)]  # up to 300 ms beyond the last rendered frame
    early = [e.sample(f) for f in ahead]
    for _ in range(5):
        e.process(FS // 10)
    later = [e.sample(f) for f in ahead]
    assert e.status.state == RUNNING
    for a, b in zip(early, later):
        assert (a.x, a.y, a.pan, a.opacity) == pytest.approx((b.x, b.y, b.pan, b.opacity), abs=1e-9)


# ------------------------------------------------------------------------------------ range


@pytest.mark.parametrize("ms", [-300, -300.0, -12.5, 0, 150, 300])
def test_delays_within_the_range_are_taken(ms):
    assert avdelay.check_delay_ms(ms) == float(ms)


@pytest.mark.parametrize("ms", [-300.5, 301, 1000, float("nan"), float("inf"), "150", None, True])
def test_delays_outside_the_range_are_refused_with_the_range_named(ms):
    with pytest.raises(ValueError, match="audio delay"):
        avdelay.check_delay_ms(ms)
    if isinstance(ms, (int, float)) and not isinstance(ms, bool) and math.isfinite(ms):
        with pytest.raises(ValueError, match=r"-300 to \+300 ms"):
            avdelay.check_delay_ms(ms)


# ------------------------------------------------------------------------------------ the session


class FakeCardClocks:
    """A session's clocks with a sound card: advanced by hand, named by its status, delay recorded."""

    is_device = True
    anchor = None

    def __init__(self, engine, name="BT Headphones (ALSA)"):
        self.engine = engine
        self.token = object()
        engine.owner = self.token
        self.clock = SimpleNamespace(latency_s=0.0853)
        self.delays: list[float] = []
        self.status = AudioStatus(True, f"Audio: {name}", "", name)

    def set_delay(self, seconds):
        if not self.is_device:
            return False
        self.delays.append(seconds)
        return True

    def advance(self, core, seconds):
        end = self.engine.next_frame + int(round(seconds * FS))
        while self.engine.next_frame < end:
            self.engine.process(min(2400, end - self.engine.next_frame), np.zeros((2400, 2), np.float32)[
                :min(2400, end - self.engine.next_frame)], self.token)
            core.poll()

    def switch(self, core, name):
        self.status = AudioStatus(True, f"Audio: {name}", "", name)
        core.audio_changed.emit(self.status)


def make_core(tmp_path, name="BT Headphones (ALSA)"):
    holder = {}

    def clocks(engine, _want):
        holder["c"] = FakeCardClocks(engine, name)
        return holder["c"]
    core = SessionCore(standard(), clocks, SessionRecord(), room=RoomSettings(tmp_path / "room.json"))
    return core, holder["c"]


def test_the_delay_applies_to_the_clock_and_is_kept_per_output_name(tmp_path):
    core, clocks = make_core(tmp_path)
    assert core.delay_output == "BT Headphones (ALSA)" and core.audio_delay_ms == 0.0
    assert core.set_audio_delay(150) == "applied"
    assert clocks.delays[-1] == pytest.approx(0.150)
    assert RoomSettings(tmp_path / "room.json").get("outputs", "BT Headphones (ALSA)") == {"audio_delay_ms": 150.0}
    clocks.switch(core, "Speakers (ALSA)")  # another output: its own delay (none yet)
    assert core.audio_delay_ms == 0.0 and clocks.delays[-1] == 0.0
    clocks.switch(core, "BT Headphones (ALSA)")  # chosen again: restored
    assert core.audio_delay_ms == 150.0 and clocks.delays[-1] == pytest.approx(0.150)
    # a new session (the next launch) finds it for that output
    core2, clocks2 = make_core(tmp_path)
    assert core2.audio_delay_ms == 150.0 and clocks2.delays == [pytest.approx(0.150)]


def test_a_delay_out_of_range_or_during_a_set_is_refused_and_nothing_changes(tmp_path):
    core, clocks = make_core(tmp_path)
    with pytest.raises(ValueError, match=r"-300 to \+300"):
        core.set_audio_delay(350)
    core.start()
    clocks.advance(core, 0.5)
    assert core.status.state == RUNNING
    with pytest.raises(ValueError, match="between sets"):
        core.set_audio_delay(100)
    assert core.audio_delay_ms == 0.0 and clocks.delays == [0.0]
    assert RoomSettings(tmp_path / "room.json").get("outputs", "BT Headphones (ALSA)") == {}


def test_without_a_sound_card_there_is_no_delay_to_set(tmp_path):
    core, clocks = make_core(tmp_path)
    clocks.is_device = False
    clocks.status = AudioStatus(False, "Audio off")
    core.audio_changed.emit(clocks.status)
    assert core.delay_output is None
    with pytest.raises(ValueError, match="no sound card"):
        core.set_audio_delay(100)
    assert core.start_calibration() == "refused"


def test_each_set_records_the_delay_beside_the_measured_latency(tmp_path):
    core, clocks = make_core(tmp_path)
    core.set_audio_delay(-40)
    core.start()
    clocks.advance(core, 1.0)
    core.stop()
    clocks.advance(core, 3.0)
    entry = core.record.sets[-1]
    assert entry["audio_delay_ms"] == -40.0 and entry["audio_latency_ms"] == 85.3
    assert core.record.meta["audio_delay_ms"] == -40.0
    assert [e for e in core.record.events if e["kind"] == "audio_delay"][0]["ms"] == -40.0


def test_calibration_is_refused_during_a_set_and_space_stops_it_before_a_set(tmp_path):
    core, clocks = make_core(tmp_path)
    notices = []
    core.notice.connect(notices.append)
    core.start()
    clocks.advance(core, 0.5)
    assert core.start_calibration() == "refused" and "between sets" in notices[-1]
    assert core.engine.calibration is None
    core.stop()
    clocks.advance(core, 3.0)
    assert core.status.state == IDLE
    assert core.start_calibration() == "applied"
    clocks.advance(core, 0.1)
    assert core.engine.calibration is not None and core.engine.calibration.end is None
    core.set_audio_delay(120)  # the delay moves while it calibrates (between sets)
    assert core.key("Space") == "unchanged" and not core.calibrating  # the press stops it, no set starts
    clocks.advance(core, 0.1)
    assert core.status.state == IDLE and core.engine.calibration.end is not None
    assert core.key("Space") == "applied"


# ------------------------------------------------------------------------------------ the program


def run_calibration(seconds, preset=None, block=1000, stop_at=None):
    e = StimulusEngine(preset or standard())
    e.calibrate(True)
    total = int(seconds * FS)
    out = np.zeros((total, 2), np.float32)
    f = 0
    while f < total:
        n = min(block, total - f)
        if stop_at is not None and f == stop_at:
            e.calibrate(False)
        e.process(n, out[f:f + n])
        f += n
    return e, out


def test_click_and_flash_peak_on_the_same_frames_computed_from_the_programs_timing():
    e, out = run_calibration(4.0)
    half = int(avdelay.HALF_PERIOD_S * FS)
    expected = [int(avdelay.LEAD_IN_S * FS) + k * half for k in range(6)]  # the program started at frame 0
    lum = np.array([relative_luminance(e.sample(f).look.target) for f in range(4 * FS)])
    base = relative_luminance(e.sample(0).look.target)
    for k, ev in enumerate(expected):
        side = 0 if k % 2 == 0 else 1
        win = slice(ev - half // 2, ev + half // 2)
        click = np.abs(out[win, side])
        assert ev - half // 2 + int(np.argmax(click)) == ev  # the click peaks on the event frame
        assert np.abs(out[win, 1 - side]).max() == 0.0  # panned to its side only
        swell = np.abs(lum[win] - base)
        assert ev - half // 2 + int(np.argmax(swell)) == ev  # so does the flash
        assert swell.max() > 0.1  # and it is visible
        x = e.sample(ev).x
        assert x == (-1.0 if side == 0 else 1.0)  # the target sits at that side
    # the click is short and soft: under 5 ms above 1 % of its peak, its peak 6 dB under the level setting
    a = np.abs(out[:, 0])
    loud = np.flatnonzero(a[expected[0] - half // 2:expected[0] + half // 2] > 0.01 * a.max())
    assert (loud[-1] - loud[0]) / FS < 0.005
    level = 10 ** (standard().audio.level_dbfs / 20)
    assert a.max() == pytest.approx(level * 10 ** (-6 / 20), rel=1e-6)


def test_the_program_is_the_same_in_any_block_split():
    _, a = run_calibration(2.0, block=1000)
    _, b = run_calibration(2.0, block=317)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("colour,diameter,background", [
    ("#e8e4da", 5.0, "#1d2126"), ("#ff0000", 30.0, "#1d2126"), ("#202020", 30.0, "#1d2126"),
    ("#ffffff", 30.0, "#1d2126"), ("#ff0000", 30.0, "#000000")])
def test_the_flash_and_the_fades_are_photosafe_for_any_target(colour, diameter, background):
    preset = standard().with_("visual", target_color=colour, target_diameter_pct=diameter,
                              background_color=background)
    e, _ = run_calibration(5.0, preset, stop_at=3 * FS)
    step = 48  # 1 ms
    samples = [e.sample(f) for f in range(0, 5 * FS, step)]
    # what the screen shows: the target's look at its opacity (fading in at the start, out after the stop)
    shown = [replace(s.look, visibility=s.opacity) for s in samples]
    lum = np.array([photosafe.screen_luminance(lk) for lk in shown])
    red = np.array([photosafe.screen_redness(lk) for lk in shown])
    looks = [s.look for s in samples[:3 * FS // step]]
    assert np.abs(np.diff(lum)).max() / (step / FS) <= photosafe.MAX_LUMINANCE_SLEW
    assert np.abs(np.diff(red)).max() / (step / FS) <= photosafe.MAX_RED_SLEW
    target = np.array([relative_luminance(lk.target) for lk in looks])
    dev = np.abs(target - target[0])
    peaks = [i for i in range(1, len(dev) - 1) if dev[i] > 0 and dev[i] >= dev[i - 1] and dev[i] > dev[i + 1]]
    seconds = [p * step / FS for p in peaks]
    assert len(seconds) >= 4 and min(np.diff(seconds)) >= 1 / 3  # at most three flashes a second
    assert dev.max() <= 0.3 + 1e-9  # a soft change of the target alone


def test_stopped_the_target_fades_out_and_no_click_follows():
    stop = int(1.5 * FS)
    e, out = run_calibration(3.0, stop_at=stop)
    cal = e.calibration
    assert cal.end == stop
    assert np.abs(out[stop + int(0.01 * FS):]).max() == 0.0
    ops = [e.sample(f).opacity for f in range(stop, 3 * FS, 480)]
    assert ops[0] == pytest.approx(1.0) and ops[-1] == 0.0 and all(b <= a for a, b in zip(ops, ops[1:]))
    assert e.sample(3 * FS - 1).state == IDLE


def test_the_engine_starts_no_calibration_during_a_set_and_a_set_ends_one():
    e = StimulusEngine(standard())
    e.start()
    e.process(4800)
    e.calibrate(True)
    e.process(4800)
    assert e.calibration is None
    e2, _ = run_calibration(0.5)
    e2.start()
    e2.process(480)
    assert e2.calibration is None and e2.status.state == RUNNING


def test_a_command_inside_a_negative_delays_lookahead_reaches_the_picture_that_much_late():
    """The limit README states: frames drawn ahead of the rendering are the snapshot's extrapolation; a
    pause landing in between changes them once rendered."""
    e = StimulusEngine(standard())
    e.start()
    for _ in range(10):
        e.process(FS // 10)
    ahead = e.next_frame + int(0.25 * FS)
    early = e.sample(ahead)
    e.pause()
    for _ in range(5):
        e.process(FS // 10)
    assert e.sample(ahead).x != pytest.approx(early.x, abs=1e-3)


def test_calibration_needs_the_tone(tmp_path):
    core, _clocks = make_core(tmp_path)
    notices = []
    core.notice.connect(notices.append)
    core.set_field("audio.enabled", False)
    assert core.start_calibration() == "refused" and "tone" in notices[-1]
    core.set_field("audio.enabled", True)
    assert core.start_calibration() == "applied"


def test_the_calibration_and_a_headphone_check_never_play_together():
    from bls.session.core import SessionCore
    from bls.core.preset import Preset

    core = SessionCore(Preset(name="t"))
    core._delay_output = "Headphones"  # a sound card plays (the session's view of the output)
    told = []
    core.notice.connect(told.append)
    assert core.start_calibration() == "applied"
    assert core.headphone_check(False) == "unchanged" and "calibration" in told[-1]
    assert core.stop_calibration() == "applied"
    assert core.headphone_check(False) == "applied"
    assert core.start_calibration() == "refused" and "headphone check" in told[-1]


def test_esc_ends_the_calibration_as_it_ends_a_set():
    from bls.session.core import SessionCore
    from bls.core.preset import Preset

    core = SessionCore(Preset(name="t"))
    core._delay_output = "Headphones"
    assert core.start_calibration() == "applied" and core.calibrating
    core.key("Escape")
    assert not core.calibrating
    assert [e.get("on") for e in core.record.events if e["kind"] == "calibration"] == [True, False]
