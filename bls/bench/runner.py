"""``bls bench``: measure bls and the naive baselines, each in its own process, and compare.

Each design runs the real client display (offscreen, Xvfb or a real screen: the current platform)
and a real audio output (the one given, a private JACK server's, or the default) for the same number
of seconds, in a child process of its own, so start-up time, CPU and memory are its own. Without an
output bls runs on its monotonic stand-in clock (no sound) and the baselines have no tone at all.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..core.timing import interval_stats, percentile

SPEED = 1.0  # cycles/s for both designs


def process_age_s() -> float | None:
    """Seconds since this process started (Linux), for the start-up figure."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _rss_peak_mb() -> float | None:
    """The process's peak resident memory (MB); None where the system does not say (Windows)."""
    try:
        import resource  # noqa: PLC0415 - POSIX only: never imported at import time
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 1024.0 / 1024.0


def _cpu_s() -> float:
    return time.process_time()  # user + system CPU time of this process, on every system


def _stats(values) -> dict:
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return {"n": 0, "mean": None, "p50": None, "p99": None, "max": None}
    return {"n": int(a.size), "mean": float(a.mean()), "p50": percentile(a, 50), "p99": percentile(a, 99),
            "max": float(a.max())}


class _CallbackLog:
    """Every callback timing of a long run: drained from the clock's ring buffer once a second."""

    def __init__(self, stats):
        self.stats, self.next = stats, 0
        self.durations: list[np.ndarray] = []
        self.blocks: list[np.ndarray] = []

    def drain(self) -> None:
        d, b, self.next = self.stats.since(self.next)
        self.durations.append(d)
        self.blocks.append(b)

    def all(self) -> tuple[np.ndarray, np.ndarray]:
        self.drain()
        return np.concatenate(self.durations), np.concatenate(self.blocks)


def _audio_figures(clock, requested_latency: float | None, log: _CallbackLog, t0: float = 0.0) -> dict:
    durations, blocks = log.all()
    periods = blocks / 48_000.0
    frac = durations / np.where(periods > 0, periods, np.nan)
    return {
        "clock": clock.name, "device": bool(clock.is_device),
        "callback_fraction": _stats(frac[np.isfinite(frac)]),
        "underflows": int(clock.stats.underflows),
        "ring_dry": getattr(clock, "dry", None), "filler_priority": getattr(clock, "filler_priority", None), "synthesis_lead_s": getattr(clock, "lead_s", None),
        "ring_low_water_frames": getattr(clock, "low_water_frames", None),
        "underflow_times_s": [round(t - t0, 3) for t in getattr(clock, "underflow_times", [])],
        "latency_requested_s": requested_latency, "latency_actual_s": float(clock.latency_s),
        "block_sizes": sorted({int(b) for b in blocks})[:12], "blocks": int(len(blocks)),
        "block_size_min": int(blocks.min()) if len(blocks) else None,
        "block_size_max": int(blocks.max()) if len(blocks) else None,
        # a baseline's tone: how long after its callback the output says a block's first frame is heard
        "dac_lead_s": clock.stats.lead_s() if hasattr(clock.stats, "lead_s") else None,
        "dac_times_used": int(clock.stats.dac_used) if hasattr(clock.stats, "dac_used") else None,
    }


#: the designs measured: bls, the elapsed-time baseline (the headline one) and the fixed-step baseline
DESIGNS = ("bls", "elapsed", "fixed-step")
#: older names still accepted
ALIASES = {"naive": "fixed-step"}


def _no_tone(why: str) -> dict:
    """A baseline's audio figures when its tone could not be played: none (no latency is invented)."""
    return {"clock": f"no output ({why})", "device": False, "callback_fraction": _stats([]), "underflows": None,
            "latency_requested_s": None, "latency_actual_s": None, "block_sizes": [], "blocks": 0,
            "block_size_min": None, "block_size_max": None, "dac_lead_s": None, "dac_times_used": None,
            "ring_dry": None, "synthesis_lead_s": None, "ring_low_water_frames": None, "underflow_times_s": []}


def measure(design: str, seconds: float, audio_device=None, screen_name: str | None = None) -> dict:
    """Run one design for ``seconds`` in this process and return every figure.

    ``bls``: the app's session and client display. ``elapsed``: the target placed from the elapsed
    ``monotonic()`` at each paint, beside a free-running tone with no latency compensation;
    ``fixed-step`` (alias ``naive``): a fixed step per 16 ms tick beside the same tone. For both
    baselines the sound heard is what the tone's callback rendered, at the moment the output says it
    is heard; without an output they have no tone, and no sync figures.
    """
    design = ALIASES.get(design, design)
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; expected one of {', '.join(DESIGNS)}")
    age_at_entry = process_age_s()
    t_entry = time.monotonic()
    from PySide6.QtCore import QEventLoop, Qt, QTimer  # noqa: PLC0415 - Qt only when measuring
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from ..app import plan_screens
    from ..core import motion
    from ..audio.output import REQUESTED_LATENCY_S
    from ..core.engine import SAMPLE_RATE
    from ..core.preset import Preset
    from ..core.look import look_of
    from ..ui.client_display import create_client_display
    from ..ui.qt_session import Session
    from ..ui.stimulus_painter import target_center

    qapp = QApplication.instance() or QApplication([])
    screen, _, fullscreen, _ = plan_screens(screen_name)
    preset = Preset(name="bench").with_("motion", speed_cycles_per_s=SPEED, set_mode="free").with_(
        "timing", fade_in_s=0.05)
    if audio_device is None:
        audio_device = os.environ.get("BLS_AUDIO_DEVICE") or None
    look = look_of(preset)
    records: list[tuple] = []
    no_tone = ""
    if design == "bls":
        session = Session(preset, audio_device)
        window = create_client_display(session, screen.refreshRate())
        clock = session.clock
        core = window.core

        def probe(t_vis, sample, t_present):
            if not session.core.anchor_map.locked:
                return  # no block rendered yet: no frame is known to be heard (the unlocked map says t x 48000)
            f_heard = session.core.anchor_map.frame_at(t_present)
            ideal = session.engine.sample(f_heard)
            records.append((t_present, sample.frame, f_heard, sample.x, ideal.x, sample.y, ideal.y))

        core.probe = probe
        frame_clock = core.frames
        kind = window.kind
    else:
        from .baseline import FreeRunningTone, NaiveDisplay, NaiveElapsedDisplay
        from .heard import HeardTone, ToneLog

        refresh = screen.refreshRate() or 60.0
        window = (NaiveElapsedDisplay if design == "elapsed" else NaiveDisplay)(look, SPEED, refresh)
        # the tone the design plays, through the same output as bls; its log is the benchmark's alone
        tone_log = ToneLog()
        try:
            clock = FreeRunningTone(SPEED, audio_device, SAMPLE_RATE, log=tone_log)
        except RuntimeError as exc:
            clock, no_tone = None, str(exc)
        heard = HeardTone(tone_log, SPEED, SAMPLE_RATE)

        def probe(phase, sample, t_present):
            # the picture shows ``phase``; the listener hears, at the moment it is presented, the tone's
            # frame the output's own DAC times say (a line through what its callback rendered)
            if clock is None:
                return
            f_heard = heard.frame_at(t_present)
            if f_heard is None or f_heard < 0:
                return  # its first frame is not heard yet
            heard_x, heard_y = motion.path_xy(motion.sweep(SPEED * f_heard / SAMPLE_RATE), "horizontal")
            f_drawn = phase / SPEED * SAMPLE_RATE  # the tone's frame that plays what the picture shows
            records.append((t_present, f_drawn, f_heard, sample.x, float(heard_x), sample.y, float(heard_y)))

        window.probe = probe
        frame_clock = window.frames
        kind = window.kind
    window.setScreen(screen)
    window.setGeometry(screen.geometry())
    window.showFullScreen()
    window.setGeometry(screen.geometry())
    width, height = window.width(), window.height()
    if design == "bls":
        from ..audio.output import settle_interpreter  # noqa: PLC0415

        settle_interpreter()  # as the app does before its event loop (the naive design does not)
        session.start()
    else:
        if clock is not None:
            clock.start()
        if design == "elapsed":
            window.start(time.monotonic())  # the naive assumption: the tone's first frame is heard now
        else:
            window.start()  # the first step is taken one tick from now
    loop = QEventLoop()
    stop = QTimer()
    stop.setTimerType(Qt.PreciseTimer)
    stop.setSingleShot(True)
    stop.timeout.connect(loop.quit)
    callbacks = _CallbackLog(clock.stats) if clock is not None else None
    drain = QTimer()
    drain.setInterval(1000)
    if callbacks is not None:
        drain.timeout.connect(callbacks.drain)
    drain.start()
    # CPU is measured over the steady part: after the first second
    warm = 1.0 if seconds > 2 else 0.0
    t0 = time.monotonic()
    warm_loop = QEventLoop()
    if warm:
        QTimer.singleShot(int(warm * 1000), warm_loop.quit)
        warm_loop.exec()
    cpu0, w0 = _cpu_s(), time.monotonic()
    stop.start(int(max(0.1, seconds - warm) * 1000))
    loop.exec()
    cpu1, w1 = _cpu_s(), time.monotonic()
    # ---- figures
    period = 1.0 / (screen.refreshRate() or 60.0)
    times = list(frame_clock.times)
    iv = interval_stats(times, period)
    rec = np.array(records, dtype=np.float64).reshape(-1, 7)
    rec = rec[rec[:, 0] >= t0 + warm] if len(rec) else rec
    if len(rec):
        # px per unit of normalised position: the same mapping the paint function uses
        from ..core.engine import FrameSample

        c0, _ = target_center(look, FrameSample(0, 0, 0, 0, 0, 1, ""), width, height)
        c1, _ = target_center(look, FrameSample(0, 1, 1, 1, 1, 1, ""), width, height)
        sx, sy = c1.x() - c0.x(), c0.y() - c1.y()
        pos_err = np.hypot((rec[:, 3] - rec[:, 4]) * sx, (rec[:, 5] - rec[:, 6]) * sy)
        offset_ms = (rec[:, 1] - rec[:, 2]) / SAMPLE_RATE * 1000.0  # picture minus sound
    else:
        pos_err = offset_ms = np.zeros(0)
    i_max = int(np.argmax(np.abs(offset_ms))) if len(offset_ms) else 0
    first = (core.first_frame_at if design == "bls" else window.first_frame_at)
    startup = None
    if first is not None and age_at_entry is not None:
        startup = age_at_entry + (first - t_entry)
    result = {
        "design": design,
        "platform": QGuiApplication.platformName(),
        "display": kind,
        "screen": {"name": screen.name(), "width": width, "height": height, "fullscreen": True},
        "visual": {
            "refresh_nominal_hz": float(screen.refreshRate()), "refresh_measured_hz": iv.measured_hz,
            "frames": int(frame_clock.frames), "interval_mean_ms": iv.mean_ms, "interval_sd_ms": iv.sd_ms,
            "interval_p50_ms": iv.p50_ms, "interval_p99_ms": iv.p99_ms, "interval_max_ms": iv.max_ms,
            "dropped_frames": int(frame_clock.dropped), "missed_refreshes": int(frame_clock.missed),
            "position_error_px": _stats(pos_err),
        },
        "audio": (_audio_figures(clock, REQUESTED_LATENCY_S if clock.is_device else None, callbacks, t0)
                  if clock is not None else _no_tone(no_tone)),
        "sync": {
            "av_offset_max_abs_ms": float(np.abs(offset_ms).max()) if len(offset_ms) else None,
            "av_offset_p99_abs_ms": percentile(np.abs(offset_ms), 99) if len(offset_ms) else None,
            "av_offset_sign_at_max": (float(np.sign(offset_ms[i_max])) if len(offset_ms) else None),
            "av_offset_mean_ms": float(offset_ms.mean()) if len(offset_ms) else None,
            "av_offset_final_ms": float(offset_ms[-1]) if len(offset_ms) else None,
            "note": "picture minus sound, in ms of stimulus time: positive = the picture is ahead",
            "heard": ("the engine's frame at the presentation time, from bls's own anchor map" if design == "bls"
                      else "the free-running tone's frame at the presentation time, from a line through the "
                      "frames its callback rendered and the DAC times the output gave them"
                      if clock is not None else "no tone: " + no_tone),
        },
        "cost": {
            "cpu_percent_of_one_core": 100.0 * (cpu1 - cpu0) / max(1e-9, w1 - w0),
            "rss_peak_mb": _rss_peak_mb(),
            "startup_to_first_frame_s": startup,
        },
    }
    if design == "bls":
        session.begin_quit()
        session.finish()
    elif clock is not None:
        clock.stop()
    window.close()
    return result


def run_child(design: str, seconds: float, audio_device=None, screen: str | None = None, env: dict | None = None,
              load: int = 0) -> dict:
    """Measure one design in a fresh process (its own start-up, CPU and memory), with ``env`` (e.g. a
    private JACK server's) and ``load`` busy processes running from before it starts until it ended."""
    from .recorder import busy_loops  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{design}.json"
        cmd = [sys.executable, "-m", "bls.bench.runner", "--design", design, "--seconds", str(seconds),
               "--out", str(out)]
        if audio_device:
            cmd += ["--audio-device", str(audio_device)]
        if screen:
            cmd += ["--screen", screen]
        with busy_loops(load):
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, env=env)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"the {design} measurement failed (exit {proc.returncode}): "
                               + (proc.stderr.strip().splitlines() or ["no output"])[-1])
        return json.loads(out.read_text())


def _child(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--design", choices=[*DESIGNS, *ALIASES], required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--audio-device")
    p.add_argument("--screen")
    a = p.parse_args(argv)
    result = measure(a.design, a.seconds, a.audio_device, a.screen)
    Path(a.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
