"""The Headphones tab's "Audio delay" section: the manual delay of the output playing, and its
calibration program.

It decides nothing: the session core checks the range, allows a change only between sets, keeps the
delay per output name and runs the calibration program (bls.core.avdelay); this section shows what
the core says and forwards what the therapist does.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox

from ..core.avdelay import DELAY_MAX_MS, DELAY_MIN_MS
from ..core.engine import IDLE
from .clinical_widgets import ElidedLabel

STEP_MS = 5
CALIBRATE_HINT = "Watch the target and listen: move the delay until the flash and the click come together."
ABOUT = ("For headphones that play the sound later than the computer knows (Bluetooth: 100–300 ms): a positive "
         "delay holds the picture back by as much. Kept for each output.")


class AudioDelaySection(QFrame):
    """A section like the checks above it: a bold title, one row of controls, one line of notes (the
    whole note on hover): the Headphones tab fits a 1280×720 screen."""

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.core = session.core
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setHorizontalSpacing(8)
        lay.setVerticalSpacing(4)
        title = QLabel("Audio delay")
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        lay.addWidget(title, 0, 0)
        self.output_label = ElidedLabel()  # the output the delay is kept for
        self.output_label.setObjectName("hint")
        self.output_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        lay.addWidget(self.output_label, 0, 1)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.spin = QSpinBox()
        self.spin.setRange(int(DELAY_MIN_MS), int(DELAY_MAX_MS))
        self.spin.setSingleStep(STEP_MS)
        self.spin.setSuffix(" ms")
        self.spin.setKeyboardTracking(False)  # typed digits apply on Enter, not one by one
        self.spin.setAccessibleName("Audio delay")
        self.spin.setToolTip(f"{DELAY_MIN_MS:.0f} to +{DELAY_MAX_MS:.0f} ms; positive: the sound comes later than "
                             "the computer knows, and the picture is held back by as much.")
        row.addWidget(self.spin)
        self.reset_button = QPushButton("Reset to 0")
        self.calibrate_button = QPushButton("Calibrate")
        self.calibrate_button.setCheckable(True)
        self.calibrate_button.setToolTip(CALIBRATE_HINT)
        for b in (self.reset_button, self.calibrate_button):
            b.setObjectName("small")
            b.setFocusPolicy(Qt.NoFocus)
            row.addWidget(b)
        row.addStretch(1)
        lay.addLayout(row, 1, 0, 1, 2)
        self.hint = QLabel(ABOUT)  # two lines at most: the calibration's instruction is read whole
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        lay.addWidget(self.hint, 2, 0, 1, 2)
        lay.setColumnStretch(1, 1)
        self.spin.valueChanged.connect(self._delay_asked)
        self.reset_button.clicked.connect(lambda: self._delay_asked(0))
        self.calibrate_button.toggled.connect(self._calibrate_asked)
        self.core.delay_changed.connect(lambda _ms, _name: self.refresh())
        self.core.calibration_changed.connect(lambda _on: self.refresh())
        session.statusChanged.connect(lambda _st: self.refresh())
        session.audioStatusChanged.connect(lambda _st: self.refresh())
        self.refresh()

    # ------------------------------------------------------------------ what the core says

    def refresh(self) -> None:
        core = self.core
        name = core.delay_output
        idle = core.status.state == IDLE
        self.spin.blockSignals(True)
        self.spin.setValue(int(round(core.audio_delay_ms)))
        self.spin.blockSignals(False)
        self.calibrate_button.blockSignals(True)
        self.calibrate_button.setChecked(core.calibrating)
        self.calibrate_button.blockSignals(False)
        self.calibrate_button.setText("Stop calibrating" if core.calibrating else "Calibrate")
        usable = name is not None and idle
        self.spin.setEnabled(usable)
        self.reset_button.setEnabled(usable and core.audio_delay_ms != 0)
        self.calibrate_button.setEnabled(usable or core.calibrating)
        if name is None:
            self.output_label.setText("no sound card plays")
            self.output_label.set_tip("The delay is kept for each output: choose one under Sound.")
        else:
            self.output_label.setText(f"for “{name}”" + ("" if idle else " · changed between sets"))
            self.output_label.set_tip(f"Kept for “{name}” and used whenever it plays again.")
        text = CALIBRATE_HINT if core.calibrating else ABOUT
        self.hint.setText(text)

    # ------------------------------------------------------------------ what the therapist does

    def _delay_asked(self, ms: int) -> None:
        try:
            self.core.set_audio_delay(ms)
        except ValueError as exc:
            self.core.notice.emit(str(exc)[0].upper() + str(exc)[1:] + ".")
        self.refresh()

    def _calibrate_asked(self, on: bool) -> None:
        if on:
            self.core.start_calibration()
        else:
            self.core.stop_calibration()
        self.refresh()
