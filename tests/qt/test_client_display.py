"""The client display draws the target exactly where position(τ) says, for a fake clock."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage

from bls.core.engine import SAMPLE_RATE, StimulusEngine
from bls.core.preset import Preset
from bls.ui.client_display import RasterClientWindow, create_client_display
from bls.core.look import look_of
from bls.ui.stimulus_painter import target_center

from .conftest import wait_ms


def screen(name):
    return next(s for s in QGuiApplication.screens() if s.name() == name)


class FakeClock:
    """Maps every display time to one chosen frame of a real engine: a stopped clock."""

    def __init__(self, engine):
        self.engine = engine
        self.frame = 0.0
        self.asked = []

    def sample_at(self, t):
        self.asked.append(t)
        return self.engine.sample(self.frame)


def run_engine(preset, seconds, block=480):
    e = StimulusEngine(preset)
    e.start()
    for _ in range(int(seconds * SAMPLE_RATE) // block):
        e.process(block)
    return e


def grab(window):
    img = screen("CLIENT").grabWindow(window.winId()).toImage().convertToFormat(QImage.Format_RGB888)
    arr = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.sizeInBytes())
    arr = arr.reshape(img.height(), img.bytesPerLine())
    return arr[:, : img.width() * 3].reshape(img.height(), img.width(), 3).astype(int)


def centroid(pixels, background):
    diff = np.abs(pixels - np.array(background)).sum(axis=2)
    ys, xs = np.nonzero(diff > 60)
    if len(xs) == 0:
        return None
    return xs.mean() + 0.5, ys.mean() + 0.5


@pytest.fixture
def display(qapp):
    windows = []

    def make(preset, clock):
        w = create_client_display(clock)
        w.place(screen("CLIENT"), True)
        windows.append(w)
        wait_ms(120)
        return w

    yield make
    for w in windows:
        w.close()
        w.deleteLater()


@pytest.mark.parametrize("path", ["horizontal", "vertical", "diagonal_up", "diagonal_down"])
@pytest.mark.parametrize("frame_s", [0.2, 0.6, 1.3, 2.05])
def test_target_is_drawn_where_position_says(display, path, frame_s):
    preset = Preset().with_("motion", path=path).with_("visual", target_softness_pct=0.0)
    engine = run_engine(preset, 3.0)
    clock = FakeClock(engine)
    clock.frame = frame_s * SAMPLE_RATE
    w = display(preset, clock)
    assert isinstance(w, RasterClientWindow)
    sample = engine.sample(clock.frame)
    look = look_of(preset)
    expected, radius = target_center(look, sample, w.width(), w.height())
    bg = tuple(round(c * 255) for c in look.background)
    found = centroid(grab(w), bg)
    assert found is not None, "no target on screen"
    assert abs(found[0] - expected.x()) < 1.0 and abs(found[1] - expected.y()) < 1.0, (found, expected)
    assert clock.asked, "the display never asked the clock"


def test_position_follows_the_clock_not_the_frame_count(display):
    """Moving the fake clock moves the target by exactly position(τ); frames in between don't matter."""
    preset = Preset().with_("visual", target_softness_pct=0.0)
    engine = run_engine(preset, 3.0)
    clock = FakeClock(engine)
    w = display(preset, clock)
    look = look_of(preset)
    bg = tuple(round(c * 255) for c in look.background)
    for frame_s in (0.9, 1.55, 2.4):
        clock.frame = frame_s * SAMPLE_RATE
        wait_ms(60)
        expected, _ = target_center(look, engine.sample(clock.frame), w.width(), w.height())
        found = centroid(grab(w), bg)
        assert abs(found[0] - expected.x()) < 1.0 and abs(found[1] - expected.y()) < 1.0


def test_neutral_screen_between_sets(display):
    """Before a set (opacity 0) the client sees only the background."""
    preset = Preset()
    engine = StimulusEngine(preset)
    engine.process(480)
    w = display(preset, FakeClock(engine))
    look = look_of(preset)
    pixels = grab(w)
    bg = np.array([round(c * 255) for c in look.background])
    assert np.abs(pixels - bg).max() <= 1


def test_fullscreen_borderless_no_cursor_on_the_named_screen(display):
    preset = Preset()
    w = display(preset, FakeClock(StimulusEngine(preset)))
    assert w.screen().name() == "CLIENT"
    assert w.geometry() == screen("CLIENT").geometry()
    assert w.flags() & Qt.FramelessWindowHint
    assert w.cursor().shape() == Qt.BlankCursor


def test_frames_are_paced_and_counted(display):
    preset = Preset()
    w = display(preset, FakeClock(StimulusEngine(preset)))
    before = w.core.frames.frames
    wait_ms(300)
    assert w.core.frames.frames > before + 5
    stats = w.core.frames.stats()
    assert stats.count > 0 and stats.p50_ms > 0


def test_visual_changes_glide_on_the_stimulus_clock_and_the_screen_shows_the_glide(display):
    # the look is part of the engine's snapshots: half way through a change of background, the client
    # screen shows a colour between the two, at the frame the clock says (not at the GUI's own time)
    preset = Preset().with_("visual", background_color="#000000")
    engine = run_engine(preset, 0.5)
    f0 = engine.next_frame
    engine.apply(preset.with_("visual", background_color="#303030"))
    for _ in range(SAMPLE_RATE // 480):
        engine.process(480)
    clock = FakeClock(engine)
    w = display(preset, clock)
    shades = []
    for dt in (0.0, 0.1, 0.25, 1.0):
        clock.frame = f0 + dt * SAMPLE_RATE
        wait_ms(80)
        shades.append(int(np.median(grab(w)[:40, :40, 0])))
    assert shades[0] == 0 and shades[-1] == 0x30, shades
    assert shades == sorted(shades) and 0 < shades[1] < shades[2] < 0x30  # a glide, not a step


@pytest.mark.parametrize("soft", [0.0, 50.0, 100.0])
def test_the_target_size_is_its_visible_diameter_at_half_brightness(display, soft):
    # what the client sees as the target is where it is at least half as bright (above the background)
    # as at its centre; that diameter is the size asked for, whatever the edge's softness
    preset = Preset().with_("visual", target_diameter_pct=8.0, target_softness_pct=soft,
                            target_color="#ffffff", background_color="#000000")
    engine = run_engine(preset, 3.0)
    clock = FakeClock(engine)
    clock.frame = 2.0 * SAMPLE_RATE
    w = display(preset, clock)
    centre, _ = target_center(look_of(preset), engine.sample(clock.frame), w.width(), w.height())
    row = grab(w)[int(centre.y()), :, 0].astype(float)
    peak = row.max()
    above = np.flatnonzero(row >= peak / 2)
    width_px = above[-1] - above[0] + 1
    assert width_px == pytest.approx(0.08 * w.height(), abs=2.5), (soft, width_px)


class MovingClock:
    """A fast target (2 cycles/s): each display time maps to the engine's frame for that time."""

    def __init__(self, engine, t0):
        self.engine, self.t0 = engine, t0

    def sample_at(self, t):
        return self.engine.sample(min(self.engine.next_frame - 1, max(0.0, (t - self.t0) * SAMPLE_RATE)))


def test_a_partial_repaint_covers_the_whole_sweep_of_a_fast_target(display, monkeypatch):
    # a repaint that comes late draws the target between the positions predicted for it: the region
    # must cover that whole stretch, or the target is cut by a stripe of the old frame
    import time

    from PySide6.QtCore import QRect
    from PySide6.QtGui import QRegion

    preset = Preset().with_("motion", speed_cycles_per_s=2.0, set_mode="free")
    engine = run_engine(preset, 8.0)
    win = display(preset, MovingClock(engine, time.monotonic() - 1.0))
    if not hasattr(win, "_frame_due"):
        pytest.skip("OpenGL window: every frame repaints the whole window")
    wait_ms(200)
    asked = []
    monkeypatch.setattr(win, "update", lambda *a: asked.append(a[0] if a else None))
    period = 1.0 / win.core.refresh_hz
    for _ in range(150):  # about a second: two cycles, four reversals
        asked.clear()
        now = time.monotonic()
        win._full = False
        win._frame_due()
        assert asked and isinstance(asked[0], QRegion)
        for late in (0.25, 0.5, 1.0, 1.5):  # paint up to 1.5 periods after the prediction
            r = win._target_rect(win.core.source.sample_at(now + win.core.lead_s + late * period))
            assert (QRegion(r) - asked[0]).isEmpty(), (late, r, asked[0].boundingRect())
        win._painted = QRect(win._target_rect(win.core.source.sample_at(now + win.core.lead_s)))
        wait_ms(7)
