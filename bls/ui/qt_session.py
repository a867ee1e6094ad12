"""The Qt adapter of the session core: signals for the windows, a timer that polls the core.

It decides nothing: every command goes to :class:`bls.session.SessionCore`, which applies the clinical
policy and keeps the record; this class only turns the core's hooks into Qt signals and calls
``poll()`` every 50 ms on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from ..core.preset import Preset
from ..core.room import RoomSettings
from ..session import SessionCore, SessionRecord
from ..session.clocks import ClockManager

POLL_MS = 50
STORE_CLOSE_WAIT_S = 5.0  # at the end: the clinical record database gets this long to take the last rows


class Session(QObject):
    statusChanged = Signal(object)  # Status
    setStarted = Signal(int)
    setFinished = Signal(dict)  # one set of the record
    settingsChanged = Signal(object)  # Preset: what now plays
    audioStatusChanged = Signal(object)  # AudioStatus
    questionOpened = Signal(object)  # Question
    questionClosed = Signal(object, bool, str)  # Question, answer, why
    notice = Signal(str)
    recordState = Signal(list)  # what keeps the record from being written (empty: written)
    clinicalChanged = Signal(str)  # "client", "target", "medicine", "entry", "set"
    noteRequested = Signal()  # the therapist pressed N: ask for the line
    storeState = Signal(str)  # what keeps the clinical record database from being written ("": written)
    checkChanged = Signal(str)  # the headphone check playing ("left_right", "comfort"; "": none)

    def __init__(self, settings: Preset, audio_device=None, record_path: Path | None = None,
                 copies: list[Path] | None = None, parent: QObject | None = None, store=None, wall=None,
                 room: RoomSettings | None = None):
        """``wall()`` is the local date and time the clinical record uses (None: the computer's clock;
        tests give their own, as ``bls script`` does). ``room``: what is remembered per output and per
        screen, one store for both (None: the room file in the config directory)."""
        super().__init__(parent)
        self.core = SessionCore(settings, lambda engine, want: ClockManager(engine, want, audio_device),
                                SessionRecord(record_path, copies), store=store, wall=wall,
                                room=room if room is not None else RoomSettings())
        c = self.core
        c.settings_changed.connect(self.settingsChanged.emit)
        c.status_changed.connect(self.statusChanged.emit)
        c.set_started.connect(self.setStarted.emit)
        c.set_finished.connect(self.setFinished.emit)
        c.question_opened.connect(self.questionOpened.emit)
        c.question_closed.connect(self.questionClosed.emit)
        c.notice.connect(self.notice.emit)
        c.audio_changed.connect(self.audioStatusChanged.emit)
        c.record_state.connect(self.recordState.emit)
        c.clinical_changed.connect(self.clinicalChanged.emit)
        c.note_requested.connect(self.noteRequested.emit)
        c.store_state.connect(self.storeState.emit)
        c.check_changed.connect(self.checkChanged.emit)
        self._poll = QTimer(self)
        self._poll.setTimerType(Qt.PreciseTimer)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(c.poll)
        self._poll.start()

    # ------------------------------------------------------------------ what the windows read

    @property
    def settings(self) -> Preset:
        return self.core.settings

    @property
    def effective(self) -> Preset:
        return self.core.effective

    @property
    def unlocks(self) -> dict:
        return self.core.unlocks

    @property
    def status(self):
        return self.core.status

    @property
    def engine(self):
        return self.core.engine

    @property
    def audio_status(self):
        return self.core.clocks.status

    @property
    def clock(self):
        return self.core.clocks.clock

    @property
    def audio_device(self):
        return self.core.clocks.device

    @property
    def question(self):
        return self.core.question

    @property
    def records(self) -> list[dict]:
        return self.core.record.sets

    @property
    def events(self) -> list[dict]:
        return self.core.record.events

    @property
    def display_info(self):
        return self.core.display_info

    @display_info.setter
    def display_info(self, fn) -> None:
        self.core.display_info = fn

    def sample_at(self, t: float):
        return self.core.sample_at(t)

    def dropped_in_set(self, info: dict):
        return self.core.dropped_in_set(info)

    # ------------------------------------------------------------------ commands (all to the core)

    def start(self) -> str:
        return self.core.start()

    def toggle(self) -> str:
        return self.core.toggle()

    def pause(self) -> None:
        self.core.pause()

    def stop(self, reason: str = "stopped") -> None:
        self.core.stop(reason)

    def key(self, name: str) -> str:
        return self.core.key(name)

    def nudge_speed(self, steps: int) -> str:
        return self.core.nudge_speed(steps)

    def set_settings(self, settings: Preset) -> str:
        return self.core.change(settings)

    def set_gentle(self, on: bool) -> str:
        return self.core.set_gentle(on)

    def load_preset(self, preset: Preset, name: str) -> str:
        return self.core.load_preset(preset, name)

    def answer(self, yes: bool) -> None:
        self.core.answer(yes)

    def set_audio_device(self, device) -> bool:
        return self.core.set_audio_device(device)

    def poll(self) -> None:
        self.core.poll()

    # ------------------------------------------------------------------ the end

    def begin_quit(self) -> None:
        """The session ends: the set stops with its fade (recorded as 'quit'), questions close."""
        self.core.quit()

    def finish(self) -> None:
        """After the fade: the last poll, the record written, the clock closed (never blocking long)."""
        self._poll.stop()
        self.core.clocks.close()
        self.core.finish()
        self.store_problem = self.core.close_store(STORE_CLOSE_WAIT_S)
