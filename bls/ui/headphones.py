"""The headphone checks in the control window's Headphones tab: the left/right check and the comfort check.

The widgets only show and forward: the session core starts and ends the checks, refuses them during a
set or its rest (a notice says why), holds the levels (never above the cap; in gentle mode the gentle
limit) and records them. The part of the left/right check shown ("Left ear…") is the part heard now:
read from the stimulus clock through the session, as the preview reads the target.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from ..core import checks
from ..core.tone import LEVEL_CAP_DBFS
from .clinical_widgets import hint_label as _hint

REFRESH_MS = 50


def _button(text: str, tip: str = "") -> QPushButton:
    b = QPushButton(text)
    b.setObjectName("small")
    b.setFocusPolicy(Qt.NoFocus)  # the keys stay the session's (Space, Esc, H)
    if tip:
        b.setToolTip(tip)
    return b


def _title(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


class _Section(QFrame):
    def __init__(self, session, now: Callable[[], float]):
        super().__init__()
        self.session = session
        self.core = session.core
        self.now = now
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        session.checkChanged.connect(lambda _kind: self.refresh())
        session.statusChanged.connect(lambda _st: self.refresh())

    def refresh(self) -> None:  # pragma: no cover - each section has its own
        raise NotImplementedError


class LeftRightSection(_Section):
    """Left ear, right ear, then across: one button or the H key, under 5 s."""

    def __init__(self, session, now: Callable[[], float] = time.monotonic):
        super().__init__(session, now)
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setHorizontalSpacing(8)
        lay.setVerticalSpacing(4)
        lay.addWidget(_title("Left / right check"), 0, 0)
        self.phase_label = QLabel("")
        self.phase_label.setObjectName("readout")  # the theme's colours; bold, to be read at a glance
        font = self.phase_label.font()
        font.setBold(True)
        self.phase_label.setFont(font)
        lay.addWidget(self.phase_label, 0, 1, 1, 2, Qt.AlignRight)
        self.play_button = _button("Play left / right  (H)", "The tone in the left ear, then the right ear, then "
                                   "once across (4.5 s), at the set's level but at most "
                                   f"{checks.LEFT_RIGHT_MAX_DBFS:g} dBFS. Esc stops it.")
        self.play_button.clicked.connect(self.start)
        lay.addWidget(self.play_button, 1, 0)
        self.on_client = QCheckBox("Say it on the client screen too")
        self.on_client.setFocusPolicy(Qt.NoFocus)
        lay.addWidget(self.on_client, 1, 1, 1, 2)
        lay.setColumnStretch(1, 1)
        self.refresh()

    def start(self) -> str:
        return self.core.headphone_check(self.on_client.isChecked())

    def refresh(self) -> None:
        running = self.core.check_kind == "left_right"
        phase = self.session.sample_at(self.now()).check_phase if running else ""
        self.phase_label.setText(checks.PHASE_LABELS.get(phase, "Starting…" if running else ""))
        self.play_button.setEnabled(not self.core.check_kind)


class ComfortSection(_Section):
    """A steady tone at the set's level, starting quiet; - and + with the client; keep it for the session."""

    def __init__(self, session, now: Callable[[], float] = time.monotonic):
        super().__init__(session, now)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        top = QHBoxLayout()
        top.addWidget(_title("Comfort check"))
        top.addStretch(1)
        self.level_label = QLabel("")
        self.level_label.setObjectName("readout")
        top.addWidget(self.level_label)
        lay.addLayout(top)
        row = QHBoxLayout()
        row.setSpacing(6)
        self.play_button = _button("Play comfort tone", "A steady tone in both ears at the set's level, starting "
                                   f"{checks.COMFORT_START_BELOW_DB:g} dB quieter and rising to it over "
                                   f"{checks.COMFORT_RISE_S:g} s.")
        self.down_button = _button("−", f"{checks.COMFORT_STEP_DB:g} dB quieter (key -)")
        self.up_button = _button("+", f"{checks.COMFORT_STEP_DB:g} dB louder (key +), never above the cap")
        self.keep_button = _button("Keep this level", "The set's level becomes this level for the session")
        self.stop_button = _button("Stop", "The tone fades out; the set's level stays as it was")
        for b in (self.down_button, self.up_button):
            b.setFixedWidth(36)
        self.play_button.clicked.connect(self.core.comfort_check)
        self.down_button.clicked.connect(lambda: self.step(-1))
        self.up_button.clicked.connect(lambda: self.step(+1))
        self.keep_button.clicked.connect(self.core.keep_comfort_level)
        self.stop_button.clicked.connect(self.core.end_check)
        for b in (self.play_button, self.down_button, self.up_button, self.keep_button, self.stop_button):
            row.addWidget(b)
        row.addStretch(1)
        lay.addLayout(row)
        self.refresh()

    def step(self, steps: int) -> None:
        self.core.comfort_step(steps)
        self.refresh()

    def refresh(self) -> None:
        on = self.core.check_kind == "comfort" and self.core.comfort_dbfs is not None
        if on:
            top = self.core.comfort_max_dbfs()
            limit = "the cap" if top >= LEVEL_CAP_DBFS else "the gentle limit"
            self.level_label.setText(f"{self.core.comfort_dbfs:g} dBFS  (at most {top:g}: {limit})")
        else:
            self.level_label.setText(f"set level {self.core.settings.audio.level_dbfs:g} dBFS")
        self.play_button.setEnabled(not self.core.check_kind)
        for b in (self.down_button, self.up_button, self.keep_button, self.stop_button):
            b.setEnabled(on)


class HeadphoneChecks(QFrame):
    """Both checks, for the Headphones tab (one section)."""

    def __init__(self, session, now: Callable[[], float] = time.monotonic):
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        self.left_right = LeftRightSection(session, now)
        self.comfort = ComfortSection(session, now)
        lay.addWidget(_hint("Before the first set: check the sides and the level with the client."))
        lay.addWidget(self.left_right)
        lay.addWidget(self.comfort)
