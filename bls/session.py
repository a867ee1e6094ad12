"""The session controller: one engine, one clock, the anchor map, and the session log.

It is the only object the windows talk to. It posts commands to the engine, reads what the clock
thread publishes on a slow timer (never the other way round), and maps "the moment a frame is
seen" to stimulus time for the display.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from . import __version__
from .audio.output import STALL_S, AudioStatus, MonotonicClock, open_clock
from .core.clock import AnchorMap
from .core.engine import IDLE, SAMPLE_RATE, FrameSample, SetResult, Status, StimulusEngine
from .core import gentle
from .core.preset import SPEED_MAX, SPEED_MIN, Preset

POLL_MS = 50
SPEED_STEP = 0.05


class Session(QObject):
    statusChanged = Signal(object)  # Status
    setStarted = Signal(int)
    setFinished = Signal(dict)  # one session-log record
    settingsChanged = Signal(object)  # Preset
    audioStatusChanged = Signal(object)  # AudioStatus

    def __init__(self, settings: Preset, audio_device=None, parent: QObject | None = None):
        super().__init__(parent)
        settings = gentle.effective(settings)  # a session never starts beyond a gentle limit
        self.settings = settings
        self.audio_device = audio_device
        self.engine = StimulusEngine(settings)
        self.anchor_map = AnchorMap(SAMPLE_RATE)
        self.clock, self.audio_status = open_clock(self.engine, settings.audio.enabled, audio_device)
        self._adopt_device_name()
        self._clock_device = self.audio_device  # the output the current clock was opened for
        self.status: Status = self.engine.status
        self.display_info = lambda: {}  # set by the app: client screen, refresh rate, dropped frames
        self.records: list[dict] = []
        self.log_path: Path | None = None
        self.started_at = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        self._set_display_base: dict = {}
        self._switch_pending = False
        self.unlocked: frozenset[str] = frozenset()
        self.events: list[dict] = []
        # asked when a gentle limit would be exceeded: the app shows a confirmation naming each limit
        self.confirm_unlock: Callable[[list[gentle.Violation]], bool] = lambda violations: False
        self._poll = QTimer(self)
        self._poll.setTimerType(Qt.PreciseTimer)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self.poll)
        self._poll.start()

    # ------------------------------------------------------------------ commands

    def start(self) -> None:
        self.engine.start()

    def toggle(self) -> None:
        self.engine.toggle()

    def pause(self) -> None:
        self.engine.pause()

    def stop(self, reason: str = "stopped") -> None:
        self.engine.stop(reason)

    def set_settings(self, settings: Preset) -> bool:
        """Make ``settings`` the live stimulus (every change glides). In gentle mode, going past a
        limit needs the therapist's confirmation (``confirm_unlock``); refused, nothing changes and
        the controls snap back. Returns whether the settings were taken."""
        if settings == self.settings:
            return True
        old = self.settings
        if settings.gentle != old.gentle:
            self.unlocked = frozenset()
        pending = [v for v in gentle.violations(settings) if v.limit not in self.unlocked]
        if pending:
            if not self.confirm_unlock(pending):
                self.settingsChanged.emit(self.settings)
                return False
            self.unlocked = self.unlocked | {v.limit for v in pending}
            self._event("gentle_unlock", preset=settings.name,
                        exceeded=[{"limit": v.limit, "field": v.field, "value": v.value, "gentle_limit": v.allowed}
                                  for v in pending])
        if settings.gentle != old.gentle:
            self._event("gentle_on" if settings.gentle else "gentle_off", preset=settings.name)
        self.settings = settings
        self.engine.apply(settings, self.unlocked)
        if settings.audio.enabled != old.audio.enabled:
            self._switch_pending = True
            self._switch_clock_if_due()
        self.settingsChanged.emit(settings)
        return True

    @property
    def effective(self) -> Preset:
        """The settings as played and shown (gentle limits that are not unlocked applied)."""
        return gentle.effective(self.settings, self.unlocked)

    def _event(self, kind: str, **data) -> None:
        self.events.append({"event": kind, "at": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                            "frame": self.engine.status.frame, **data})
        self.write_log()

    def nudge_speed(self, steps: int) -> None:
        m = self.settings.motion
        speed = round(min(SPEED_MAX, max(SPEED_MIN, m.speed_cycles_per_s + steps * SPEED_STEP)), 4)
        self.set_settings(self.settings.with_("motion", speed_cycles_per_s=speed))

    # ------------------------------------------------------------------ clock

    def sample_at(self, t: float) -> FrameSample:
        """What the client sees at monotonic time ``t``: the frame heard at that moment."""
        anchor = self.clock.anchor
        if anchor is not None:
            self.anchor_map.add(anchor)
        if not self.anchor_map.locked:
            return self.engine.sample(self.engine.next_frame)
        return self.engine.sample(self.anchor_map.frame_at(t))

    def _switch_clock_if_due(self) -> None:
        """Audio on/off: the sound card or the stand-in clocks the session. The switch happens only
        between sets; during a set the tone is muted or unmuted with a ramp and the switch waits."""
        if not self._switch_pending or self.engine.status.state != IDLE or self.engine.finished:
            return  # a set still to be logged names the output it played through
        self._switch_pending = False
        want = self.settings.audio.enabled
        if want == self.clock.is_device and (not want or self._clock_device == self.audio_device):
            return
        self._reopen_clock()

    def _reopen_clock(self) -> None:
        self.clock.stop()
        # no stream is open now: PortAudio may look for outputs again (headphones plugged in since)
        self.clock, self.audio_status = open_clock(self.engine, self.settings.audio.enabled, self.audio_device,
                                                   refresh=True)
        self._adopt_device_name()
        self._clock_device = self.audio_device
        self.audioStatusChanged.emit(self.audio_status)

    def _adopt_device_name(self) -> None:
        """An output asked for by part of its name (``--audio-device USB``) is known by its full name."""
        name = getattr(self.clock, "device_name", None)
        if self.audio_device is not None and isinstance(self.audio_device, str) and name:
            self.audio_device = name

    def set_audio_device(self, device: str | None) -> bool:
        """Play through ``device`` (None: the system's default output). Chosen again, the same output
        is tried again (headphones plugged in). Like every clock change this happens between sets;
        returns whether it happened now (False: when the running set ends)."""
        self.audio_device = device
        if not self.settings.audio.enabled:
            return True  # nothing plays: the output is opened when the tone is turned on
        if self.engine.status.state != IDLE:
            self._switch_pending = True
            return False
        self._reopen_clock()
        return True

    # ------------------------------------------------------------------ polling

    def poll(self) -> None:
        # the finished sets first, then the status: a set that ends between the two reads is seen
        # finished with an IDLE status next time, never finished with a stale "running" status
        done = []
        while self.engine.finished:
            done.append(self.engine.finished.popleft())
        st = self.engine.status
        prev = self.status
        self.status = st
        if st.set_index != prev.set_index and st.state != IDLE:
            self._set_display_base = dict(self.display_info())
            self.setStarted.emit(st.set_index)
        for result in done:
            self._record(result)
        if st != prev:
            self.statusChanged.emit(st)
        self._switch_clock_if_due()
        if self.clock.is_device and not self.clock.alive(time.monotonic()):
            self._fall_back_to_the_system_clock(self.clock.error or f"no audio for more than {STALL_S:g} s")

    def _fall_back_to_the_system_clock(self, why: str) -> None:
        """The output died (unplugged, a driver error): the system clock takes over at once, so the
        set runs on and can be stopped; the output is tried again when the set ends."""
        try:
            self.clock.stop()
        except Exception:  # noqa: BLE001 - a dead stream may refuse to stop; it is dropped either way
            pass
        self.clock = MonotonicClock(self.engine)  # the stand-in, never a device: nothing to open or fail
        self.clock.start()
        self._clock_device = None
        # died during a set: tried once more when the set ends; died while idle (or right after that
        # retry): left alone until the therapist chooses the output or turns the tone on again
        self._switch_pending = self.engine.status.state != IDLE
        self.audio_status = AudioStatus(
            False, "No sound: the audio output stopped",
            "The target runs on the system clock; the set can be stopped as usual. Check the headphones, "
            f"then choose the output again under Sound. (For support: {why})")
        self.audioStatusChanged.emit(self.audio_status)

    def dropped_in_set(self, info: dict) -> int | None:
        """Frames dropped since the running set started, from the display's running total."""
        if not self._set_display_base:
            return None
        return max(0, int(info.get("dropped_frames_total", 0)) - int(self._set_display_base.get("dropped_frames_total", 0)))

    def _record(self, result: SetResult) -> None:
        info = dict(self.display_info())
        rec = asdict(result)
        rec.update({
            "unlocked_limits": sorted(self.unlocked) if result.gentle else [],
            "client_screen": info.get("screen"),
            "refresh_hz": info.get("refresh_hz"),
            "display": info.get("kind"),
            "audio_device": self.audio_status.device,
            "audio_status": self.audio_status.summary,
            "dropped_frames": self.dropped_in_set(info) or 0,
        })
        self.records.append(rec)
        self.setFinished.emit(rec)
        self.write_log()

    # ------------------------------------------------------------------ log

    def log_document(self) -> dict:
        return {
            "app": "bls", "version": __version__, "started_at": self.started_at,
            "finished_at": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "platform": platform.platform(), "sample_rate_hz": SAMPLE_RATE,
            "audio_device": self.audio_status.device, "audio_status": self.audio_status.summary,
            "audio_detail": self.audio_status.detail,
            "units": {"speed": "cycles/s (left-right-left)", "pass": "one sweep from one side to the other"},
            "sets": self.records,
            "events": self.events,
        }

    def write_log(self) -> None:
        if self.log_path is None:
            return
        tmp = self.log_path.with_name(self.log_path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.log_document(), fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.log_path)

    def shutdown(self, wait_s: float = 0.0) -> None:
        """Stop a running set (logged as 'quit'), let it finish if asked, and close the clock."""
        if self.engine.status.state != IDLE:
            self.engine.stop("quit")
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and self.engine.status.state != IDLE:
                time.sleep(0.01)
        self._poll.stop()
        self.clock.stop()
        while self.engine.finished:
            self._record(self.engine.finished.popleft())
        self.write_log()
