"""The naive design most BLS tools use, kept here for comparison only (never in the product).

The picture: a timer ticks every 16 ms and moves the target by a fixed step (speed x 16 ms) per tick,
whatever time really passed. The tone: its own stream, clocked by the sound card (or the system
clock), started at the same moment but never consulted by the picture.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QRectF, QTimer
from PySide6.QtGui import QPainter, QRasterWindow

from ..core import motion
from ..core.engine import FrameSample
from ..core.timing import FrameClock
from ..core.look import Look
from ..ui.stimulus_painter import paint_stimulus

TICK_MS = 16


class NaiveDisplay(QRasterWindow):
    kind = "naive: fixed step per 16 ms timer tick"

    def __init__(self, look: Look, speed: float, refresh_hz: float):
        super().__init__()
        self.look = look
        self.speed = speed
        self.phase = 0.0
        self.frames = FrameClock(1.0 / refresh_hz)
        self.first_frame_at: float | None = None
        self.probe = None
        self._timer = QTimer(self)  # the default (coarse) timer, as such tools use
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._timer.start()

    def _tick(self) -> None:
        self.phase += self.speed * TICK_MS / 1000.0  # the fixed step: assumes exactly 16 ms passed
        self.update()

    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt API
        s = float(motion.sweep(self.phase))
        x, y = motion.path_xy(s, "horizontal")
        sample = FrameSample(0.0, float(x), float(y), s, s, 1.0, "running", self.look)
        painter = QPainter(self)
        paint_stimulus(painter, QRectF(0, 0, self.width(), self.height()), self.look, sample)
        painter.end()
        t = time.monotonic()
        self.frames.tick(t)
        if self.first_frame_at is None:
            self.first_frame_at = t
        if self.probe is not None:
            self.probe(self.phase, sample, t)
