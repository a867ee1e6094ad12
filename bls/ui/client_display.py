"""The client's display: fullscreen on the chosen screen, only the target, no cursor.

Every frame draws the target at the position for the moment that frame will be *seen*, read from
the session's clock; nothing is moved by increments. Where OpenGL is available the window is a
``QOpenGLWindow`` with swap interval 1, repainting on ``frameSwapped`` (paced by vsync); elsewhere a
raster window repaints on a precise timer at the screen's refresh period. Both call the same paint
function.
"""

from __future__ import annotations

import os
import time
from typing import Protocol

from PySide6.QtCore import QRect, QRectF, Qt, QTimer
from PySide6.QtGui import (QGuiApplication, QOpenGLContext, QPainter, QRasterWindow, QRegion, QScreen,
                           QSurfaceFormat)
from PySide6.QtOpenGL import QOpenGLWindow

from ..core.engine import FrameSample
from ..core.timing import VSYNC_WINDOW_SWAPS, FrameClock, judge_vsync
from .stimulus_painter import paint_stimulus, target_center


class StimulusSource(Protocol):
    def sample_at(self, t: float) -> FrameSample | None: ...


#: with one screen, the client window takes this share of its width and height (bottom right), beside
#: the control window on a 1080p screen, on top of it on a smaller one
CLIENT_WINDOW_SHARE = 0.36


class DisplayCore:
    """What both window kinds share: the source, the look, the frame clock."""

    def __init__(self, source: StimulusSource, refresh_hz: float):
        self.source = source
        self.visible = True
        self.refresh_hz = refresh_hz if refresh_hz and refresh_hz > 1 else 60.0
        self.frames = FrameClock(1.0 / self.refresh_hz)
        self.last_sample: FrameSample | None = None
        self.badge = ""  # e.g. "GENTLE", when the therapist wants it shown to the client
        self.say_check = False  # the left/right headphone check is said on the screen ("left", "right")
        self.lead_s = 0.0  # how long after paint starts a frame is presented (learned, smoothed)
        self.first_frame_at: float | None = None
        self.probe = None  # benchmark hook: probe(t_visible, sample, t_presented)
        self._pending: tuple[float, FrameSample | None] | None = None

    def paint(self, painter: QPainter, rect: QRectF, t_visible: float, only=None, look=None) -> FrameSample:
        """Paint the frame seen at ``t_visible``: in the sample's look, or in ``look`` if given (a
        partial repaint keeps the look the rest of the screen shows). Returns the sample."""
        sample = self.source.sample_at(t_visible)
        self.last_sample = sample
        self._pending = (t_visible, sample)
        paint_stimulus(painter, rect, look, sample, self.visible, self.badge, only, self.say_check)
        return sample

    def presented(self, t: float, paint_started: float | None = None) -> None:
        """A frame reached the screen at ``t``: count it, learn the lead, feed the probe."""
        self.frames.tick(t)
        if self.first_frame_at is None:
            self.first_frame_at = t
        if paint_started is not None:
            self.learn_lead(t - paint_started)
        if self._pending is not None and self.probe is not None:
            self.probe(self._pending[0], self._pending[1], t)
        self._pending = None


    def learn_lead(self, seconds: float) -> None:
        """One more measured time from paint start to the frame being shown (smoothed)."""
        self.lead_s += 0.1 * (seconds - self.lead_s)


def _opengl_usable() -> bool:
    choice = os.environ.get("BLS_DISPLAY", "auto").lower()
    if choice == "raster":
        return False
    if QGuiApplication.platformName() in ("offscreen", "minimal", "vnc"):
        return False
    ctx = QOpenGLContext()
    return bool(ctx.create())


class _ClientWindowMixin:
    """Placement, shared by both window kinds (keys are handled application-wide by the app)."""

    def _setup(self, core: DisplayCore) -> None:
        self.core = core
        self.setTitle("Client display")
        self.setCursor(Qt.BlankCursor)
        self.setFlags(Qt.Window | Qt.FramelessWindowHint)

    def place(self, screen: QScreen, fullscreen: bool) -> None:
        """Borderless fullscreen on ``screen``, or a plain window on it (one-screen setups)."""
        self.setScreen(screen)
        geo = screen.geometry()
        if fullscreen:
            self.setFlags(Qt.Window | Qt.FramelessWindowHint)
            self.setGeometry(geo)
            self.showFullScreen()
            self.setGeometry(geo)  # without a window manager showFullScreen keeps the old size
        else:
            # on top: on a small screen the control window cannot fit beside it and must never hide it;
            # bottom right, over the settings that scroll, not over the set's buttons or the preset
            self.setFlags(Qt.Window | Qt.WindowStaysOnTopHint)
            area = screen.availableGeometry()
            w, h = int(area.width() * CLIENT_WINDOW_SHARE), int(area.height() * CLIENT_WINDOW_SHARE)
            self.setGeometry(area.x() + area.width() - w - 20, area.y() + area.height() - h - 40, w, h)
            self.showNormal()
        rate = screen.refreshRate()
        if rate and rate > 1:
            self.core.refresh_hz = rate
            self.core.frames.period_s = 1.0 / rate

    def set_say_check(self, on: bool) -> None:
        """Say the left/right check's "left" / "right" on this screen (while ``on``), repainted whole."""
        if on != self.core.say_check:
            self.core.say_check = on
            self._repaint_all()

    def set_badge(self, text: str) -> None:
        """Show ``text`` (e.g. "GENTLE") in a corner of the client screen, or nothing; the next frame
        repaints the whole screen, so a badge taken away leaves no trace."""
        if text != self.core.badge:
            self.core.badge = text
            self._repaint_all()

    def _repaint_all(self) -> None:
        self.update()


class RasterClientWindow(_ClientWindowMixin, QRasterWindow):
    """Software drawing: only the strip where the target was and will be is repainted each frame
    (the whole window when the look glides), so a frame costs little and takes a steady time."""

    kind = "raster (precise timer)"
    MARGIN_PX = 6

    def __init__(self, core: DisplayCore):
        super().__init__()
        self._setup(core)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._frame_due)
        self._next = None
        self._painted = QRect()  # where the target was last drawn
        self._full = True
        self._full_look = None  # the look of the last frame painted whole

    def _target_rect(self, sample: FrameSample | None) -> QRect:
        if sample is None or sample.opacity * sample.look.visibility <= 0.001:
            return QRect()
        centre, radius = target_center(sample.look, sample, self.width(), self.height())
        r = radius + self.MARGIN_PX
        return QRectF(centre.x() - r, centre.y() - r, 2 * r, 2 * r).toAlignedRect()

    def _frame_due(self) -> None:
        now = time.monotonic()
        period = 1.0 / self.core.refresh_hz
        src = self.core.source
        last = self.core.last_sample
        # the look glides (colour, size, background): the whole screen changes, so all of it is painted
        gliding = last is None or src.sample_at(now + self.core.lead_s + 2 * period).look != self._full_look
        if self._full or gliding or self.core.badge or self.core.say_check:
            self.update()
            return
        # where the target will be when this frame is seen, with room for the paint-time shift
        # the whole stretch the target sweeps from where it was drawn to where it may be drawn (up to
        # two periods late): one rectangle, so no strip between two positions is left out of the repaint
        swept = QRect(self._painted)
        for dt in (0.0, 0.5 * period, period, 1.5 * period, 2 * period):  # half periods: reversals too
            swept = swept.united(self._target_rect(src.sample_at(now + self.core.lead_s + dt)))
        # between half-period samples a reversal can reach ~1 px further (2 cycles/s, 1920 px): 2 px more
        self.update(QRegion(swept.adjusted(-2, -2, 2, 2)) | QRegion(QRect(0, 0, 1, 1)))

    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt API
        now = time.monotonic()
        painter = QPainter(self)
        whole = QRect(0, 0, self.width(), self.height())
        full = self._full or (ev.region() & QRegion(whole)) == QRegion(whole)
        only = None
        if not full:
            painter.setClipRegion(ev.region())
            only = list(ev.region())
        # drawn for the moment it will be seen: paint start plus the learned painting time; a partial
        # repaint keeps the look the rest of the screen has, so one frame never mixes two looks
        sample = self.core.paint(painter, QRectF(0, 0, self.width(), self.height()), now + self.core.lead_s, only,
                                 None if full else self._full_look)
        painter.end()
        self._full = False
        if full:
            self._full_look = sample.look
        elif sample.look != self._full_look:
            self._full = True  # the look changed since the last whole frame: the next frame is whole
        self._painted = self._target_rect(self.core.last_sample)
        self.core.presented(time.monotonic(), now)
        # deadline-based pacing: frames land on a grid of the refresh period, not "period after paint"
        period = 1.0 / self.core.refresh_hz
        self._next = now + period if self._next is None or now - self._next > period else self._next + period
        self._timer.start(max(1, int(round((self._next - time.monotonic()) * 1000.0))))

    def showEvent(self, ev) -> None:  # noqa: N802 - Qt API
        self._next = None
        self._full = True
        self.update()

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt API
        self._repaint_all()

    def _repaint_all(self) -> None:
        self._full = True
        self.update()


class GLClientWindow(_ClientWindowMixin, QOpenGLWindow):
    """OpenGL drawing, presented by the swap (``frameSwapped``). Where swaps wait for vsync, the next
    frame is asked for as one is swapped and drawn for the next vsync. A display that does not wait
    (the swap interval ignored: llvmpipe, some virtual machines) is told from its first swaps: frames
    then come at the refresh period from a precise timer and are drawn for the moment they will be
    shown: the middle of its swap, learned from measured paint and swap times as the raster path
    learns its own."""

    def __init__(self, core: DisplayCore):
        super().__init__(QOpenGLWindow.NoPartialUpdate)
        fmt = QSurfaceFormat.defaultFormat()
        fmt.setSwapInterval(1)
        fmt.setSwapBehavior(QSurfaceFormat.DoubleBuffer)
        self.setFormat(fmt)
        self._setup(core)
        self._last_swap: float | None = None
        self._paint_started: float | None = None
        self._paint_ended: float | None = None
        self._intervals: list[float] = []  # between the last swaps of frames asked for as they swap
        self.vsync: bool | None = None  # None: not judged yet
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.update)
        self._next: float | None = None
        self.frameSwapped.connect(self._swapped)

    @property
    def kind(self) -> str:
        if self.vsync is False:
            return "OpenGL (no vsync: paced by a precise timer)"
        return "OpenGL (vsync)" if self.vsync else "OpenGL (vsync not yet measured)"

    def _swapped(self) -> None:
        t = time.monotonic()
        period = 1.0 / self.core.refresh_hz
        if self.vsync is not False and self._last_swap is not None:
            # judged again and again while frames are asked for as they swap: a display found to wait
            # for vsync at start (slow first swaps on a busy machine) is corrected once it does not
            self._intervals.append(t - self._last_swap)
            del self._intervals[:-VSYNC_WINDOW_SWAPS]
            judged = judge_vsync(self._intervals, period)
            if judged is not None:
                self.vsync = judged
        self._last_swap = t
        self.core.presented(t)
        if not self.vsync and self._paint_started is not None and self._paint_ended is not None:
            # nothing waits: the frame reaches the screen at some moment during its swap (a copy of
            # ~2 ms for 1920x1080 on llvmpipe), which one is not told: dated at the swap's middle, the
            # error is at most half a swap either way (measured from outside: docs/benchmarks.md)
            self.core.learn_lead(0.5 * (self._paint_ended + t) - self._paint_started)
        if self.vsync is False:
            # as the raster path: frames on a grid of the refresh period, not as fast as they swap
            start = self._paint_started if self._paint_started is not None else t
            late = self._next is None or start - self._next > period
            self._next = start + period if late else self._next + period
            self._timer.start(max(0, int(round((self._next - time.monotonic()) * 1000.0))))
        else:
            self.update()

    def paintGL(self) -> None:  # noqa: N802 - Qt API
        now = time.monotonic()
        self._paint_started = now
        period = 1.0 / self.core.refresh_hz
        if self.vsync:
            # waits for vsync: this frame is presented at the next vsync after the last swap
            recent = self._last_swap is not None and now - self._last_swap <= 2 * period
            t_vis = max(now, self._last_swap + period) if recent else now
        else:
            t_vis = now + self.core.lead_s  # swapped (and shown) as soon as it is drawn
        painter = QPainter(self)
        self.core.paint(painter, QRectF(0, 0, self.width(), self.height()), t_vis)
        painter.end()
        self._paint_ended = time.monotonic()

    def showEvent(self, ev) -> None:  # noqa: N802 - Qt API
        self._next = None
        super().showEvent(ev)


def create_client_display(source: StimulusSource, refresh_hz: float = 60.0):
    core = DisplayCore(source, refresh_hz)
    return GLClientWindow(core) if _opengl_usable() else RasterClientWindow(core)
