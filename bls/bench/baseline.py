"""The naive designs most BLS tools use, kept here for comparison only (never in the product).

The fixed-step design (``NaiveDisplay``, ``bls bench``): a timer ticks every 16 ms and moves the target
by a fixed step (speed x 16 ms) per tick, whatever time really passed. The tone: its own stream,
clocked by the sound card (or the system clock), started at the same moment but never consulted by
the picture.

The elapsed-time design (``NaiveElapsedDisplay`` + ``FreeRunningTone``, ``python -m
bls.bench.baseline``, recorded from outside by ``scripts/external-sync``): see below.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QRectF, QTimer
from PySide6.QtGui import QPainter, QRasterWindow

from ..core import motion
from ..core.clock import dac_time_to_monotonic
from ..core.engine import FrameSample
from ..core.timing import FrameClock
from ..core.look import Look
from ..ui.stimulus_painter import paint_stimulus

TICK_MS = 16


def _paint_at(window, s: float) -> tuple[FrameSample, float]:
    """Both naive windows: the target at sweep position ``s``, painted; the frame counted when painting
    ends. Returns the sample and that moment."""
    x, y = motion.path_xy(s, "horizontal")
    sample = FrameSample(0.0, float(x), float(y), s, s, 1.0, "running", window.look)
    painter = QPainter(window)
    paint_stimulus(painter, QRectF(0, 0, window.width(), window.height()), window.look, sample)
    painter.end()
    t = time.monotonic()
    window.frames.tick(t)
    if window.first_frame_at is None:
        window.first_frame_at = t
    return sample, t


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
        sample, t = _paint_at(self, float(motion.sweep(self.phase)))
        if self.probe is not None:
            self.probe(self.phase, sample, t)


# ------------------------------------------------------------------------------------------------------
# The naive elapsed-time design, run as a process of its own with a real client display and a real
# output (what the outside instrument, ``scripts/external-sync``, records beside bls).
#
# The picture: at each paint the target goes where the sweep is after the time elapsed on the system
# clock since the tone was started, ``sweep(speed x (monotonic() - t0))``; a precise timer asks for a
# paint every 16 ms. The tone: its own free-running PortAudio stream, which pans by counting its own
# frames from the first one it renders, ``sweep(speed x n / 48000)``; nothing tells the picture when a
# frame is heard (no latency compensation, no shared clock). What it plays is what its callback renders.

CARRIER_HZ = 440.0
LEVEL_DBFS = -24.0
FADE_IN_S = 0.05  # amplitude only: the motion runs at full speed from the first frame


def render_free_running(first: int, frames: int, speed: float, sample_rate: int = 48_000, out=None):
    """Frames ``first .. first + frames`` of the free-running tone, ``(frames, 2)`` float32: a sine at
    CARRIER_HZ and LEVEL_DBFS, panned (constant power) to the sweep at ``speed x n / sample_rate``."""
    import numpy as np  # noqa: PLC0415

    from ..core.tone import db_to_amplitude, pan_gains  # noqa: PLC0415

    t = (first + np.arange(frames, dtype=np.float64)) / sample_rate
    left, right = pan_gains(motion.sweep(speed * t))
    carrier = np.sin(2.0 * np.pi * CARRIER_HZ * t) * db_to_amplitude(LEVEL_DBFS) * np.minimum(1.0, t / FADE_IN_S)
    if out is None:
        out = np.empty((frames, 2), dtype=np.float32)
    out[:, 0] = left * carrier
    out[:, 1] = right * carrier
    return out


class FreeRunningTone:
    """A panned sine on its own stream, its position counted in its own frames.

    ``log`` (a :class:`~bls.bench.heard.ToneLog`) is the benchmark's: when given, each callback also
    writes there, without allocating, its first frame, when the output says that frame is heard, its
    duration and any underflow. The design itself never reads it."""

    is_device = True

    def __init__(self, speed: float, device=None, sample_rate: int = 48_000, log=None, sd=None):
        from ..audio.output import REQUESTED_LATENCY_S, import_sounddevice, resolve_output  # noqa: PLC0415

        if sd is None:
            sd, why = import_sounddevice()
            if sd is None:
                raise RuntimeError(f"the free-running tone has no audio output: {why}")
        self.speed, self.sr, self.frames = speed, sample_rate, 0
        self.log = log
        self.stats = log  # the benchmark reads the callback timings where it reads a clock's
        try:
            self.stream = sd.OutputStream(samplerate=sample_rate, channels=2, dtype="float32", blocksize=0,
                                          latency=REQUESTED_LATENCY_S, device=resolve_output(sd, device),
                                          callback=self._callback)
        except Exception as exc:  # PortAudioError, ValueError (no such device), ...
            where = "the default audio output" if device is None else f"the audio output {device!r}"
            raise RuntimeError(f"the free-running tone cannot open {where}: {exc}") from exc
        self.latency_s = float(self.stream.latency)
        info = sd.query_devices(self.stream.device)
        self.name = f"{info['name']} ({sd.query_hostapis(info['hostapi'])['name']})"

    def _callback(self, outdata, frames, time_info, status) -> None:
        t_in = time.perf_counter()
        now = time.monotonic()
        first = self.frames
        render_free_running(first, frames, self.speed, self.sr, outdata)
        self.frames += frames
        log = self.log
        if log is not None:
            if status.output_underflow:
                log.underflows += 1
            heard, ok = dac_time_to_monotonic(time_info.outputBufferDacTime, time_info.currentTime, now,
                                              self.latency_s)
            log.record_block(first, heard, ok, time.perf_counter() - t_in, frames, now)

    def start(self) -> None:
        self.stream.start()

    def stop(self) -> None:
        try:
            self.stream.stop()
        finally:
            self.stream.close()


class NaiveElapsedDisplay(QRasterWindow):
    """Fullscreen raster window: the target from the elapsed system time at each paint."""

    kind = "naive: elapsed monotonic() at each paint, 16 ms precise timer"

    def __init__(self, look: Look, speed: float, refresh_hz: float):
        super().__init__()
        from PySide6.QtCore import Qt  # noqa: PLC0415

        self.look, self.speed = look, speed
        self.t0: float | None = None
        self.frames = FrameClock(1.0 / refresh_hz)
        self.first_frame_at: float | None = None
        self.probe = None  # the benchmark's: (phase drawn, sample, moment painted)
        self.setCursor(Qt.BlankCursor)
        self.setTitle("bls bench — naive elapsed-time display")
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self.update)

    def start(self, t0: float) -> None:
        self.t0 = t0
        self._timer.start()

    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt API
        t = time.monotonic()
        phase = self.speed * (t - self.t0) if self.t0 is not None else 0.0
        sample, t_done = _paint_at(self, float(motion.sweep(phase)) if self.t0 is not None else 0.0)
        if self.probe is not None and self.t0 is not None:
            self.probe(phase, sample, t_done)


def run_elapsed(argv: list[str] | None = None) -> int:
    """``python -m bls.bench.baseline``: a naive design on a real screen and output, for ``--seconds``
    (or until SIGTERM/SIGINT), with the standard preset's look at 1 cycle/s: the elapsed-time picture
    (default) or the fixed-step one (``--design fixed-step``), beside a free-running tone."""
    import argparse  # noqa: PLC0415
    import os  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from ..app import plan_screens  # noqa: PLC0415
    from ..core.look import look_of  # noqa: PLC0415
    from ..core.preset import Preset  # noqa: PLC0415

    p = argparse.ArgumentParser(prog="python -m bls.bench.baseline", description=run_elapsed.__doc__)
    p.add_argument("--client-screen", metavar="NAME")
    p.add_argument("--audio-device", metavar="DEVICE")
    p.add_argument("--seconds", type=float, default=3600.0)
    p.add_argument("--speed", type=float, default=1.0, help="cycles/s (default 1.0)")
    p.add_argument("--design", choices=["elapsed", "fixed-step"], default="elapsed",
                   help="the picture: elapsed monotonic() at each paint, or a fixed step per 16 ms tick")
    a = p.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    screen, _, _, _ = plan_screens(a.client_screen)
    look = look_of(Preset(name="naive"))
    if a.design == "elapsed":
        window = NaiveElapsedDisplay(look, a.speed, screen.refreshRate() or 60.0)
    else:
        from PySide6.QtCore import Qt  # noqa: PLC0415

        window = NaiveDisplay(look, a.speed, screen.refreshRate() or 60.0)
        window.setCursor(Qt.BlankCursor)
    window.setScreen(screen)
    window.setGeometry(screen.geometry())
    window.showFullScreen()
    window.setGeometry(screen.geometry())
    tone = FreeRunningTone(a.speed, a.audio_device)
    tone.start()
    if a.design == "elapsed":
        window.start(time.monotonic())  # the naive assumption: the tone's first frame is heard now
    else:
        window.start()  # the first step is taken one tick from now
    print(f"naive baseline: {window.kind}; tone on {tone.name}", file=sys.stderr, flush=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: app.quit())
    wake = QTimer()  # lets Python see the signal while Qt's loop runs
    wake.start(100)
    wake.timeout.connect(lambda: None)
    QTimer.singleShot(int(a.seconds * 1000), app.quit)
    app.exec()
    try:
        tone.stop()
    finally:
        sys.stderr.flush()
        os._exit(0)  # as bls: no interpreter teardown racing PortAudio's threads


if __name__ == "__main__":
    raise SystemExit(run_elapsed())
