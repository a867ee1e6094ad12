"""The client screen's physical size and viewing distance (Client display tab), and the readouts that
show the sweep and the target in degrees next to their %.

It only shows and forwards: the session core checks the numbers, remembers them per screen name and
decides what plays (``SessionCore.set_screen_size`` / ``set_viewing_distance``; bls.core.geometry).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractSpinBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ..core.geometry import (DEFAULT_DISTANCE_CM, DISTANCE_CM_MAX, DISTANCE_CM_MIN, ENTERED, SIZE_MM_MAX, SIZE_MM_MIN,
                             shown_degrees, shown_number)
from .clinical_widgets import ElidedLabel

SOURCE_WORDS = {ENTERED: "(entered)", "system": "(from the screen)", None: "(not known)"}
UNKNOWN_NOTE = "Set the client screen's size (Client display) to see degrees."


def _parse(text: str) -> float | str:
    """A number typed by the therapist (a decimal comma is a point), or the text itself if it is none."""
    t = text.strip().replace(",", ".")
    try:
        return float(t)
    except ValueError:
        return text.strip()


class ScreenGeometryFields(QWidget):
    """Two short rows: the screen's width × height in mm (from the system, or entered); the viewing
    distance in cm and "Screen's own size"; below them one line of notes (the widest sweep there, or why degrees are not
    known, or what was refused). A refused value stays in its field, with the reason."""

    changed = Signal()  # the geometry changed: the readouts follow

    def __init__(self, core, parent: QWidget | None = None):
        super().__init__(parent)
        self.core = core
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(QLabel("Size"))
        self.width_edit, self.height_edit = QLineEdit(), QLineEdit()
        for edit, what in ((self.width_edit, "width"), (self.height_edit, "height")):
            edit.setPlaceholderText(what)
            edit.setFixedWidth(edit.fontMetrics().horizontalAdvance("00000.0") + 16)
            edit.setAlignment(Qt.AlignRight)
            edit.setToolTip(f"The {what} of the picture the client sees, in millimetres ({SIZE_MM_MIN:g} to "
                            f"{SIZE_MM_MAX:g}): measure it if the screen does not report it, or reports it wrong.")
            edit.editingFinished.connect(self._size_edited)
        row.addWidget(self.width_edit)
        row.addWidget(QLabel("×"))
        row.addWidget(self.height_edit)
        row.addWidget(QLabel("mm"))
        self.source_label = QLabel()
        self.source_label.setObjectName("hint")
        # as wide as its widest words: the row never shifts when the source changes
        self.source_label.setFixedWidth(max(self.source_label.fontMetrics().horizontalAdvance(w)
                                            for w in SOURCE_WORDS.values()) + 4)
        row.addWidget(self.source_label)
        row.addStretch(1)
        lay.addLayout(row)
        # the second row: the distance, and the way back to the size the screen reports
        row = QHBoxLayout()
        row.setSpacing(6)
        self.reset_button = QPushButton("Screen's own size")
        self.reset_button.setObjectName("small")
        self.reset_button.setFocusPolicy(Qt.NoFocus)
        self.reset_button.setToolTip("Forget the size entered for this screen: use the size the screen reports.")
        self.reset_button.clicked.connect(self._reset)
        row.addWidget(QLabel("Distance"))
        self.distance_spin = QSpinBox()
        self.distance_spin.setRange(int(DISTANCE_CM_MIN), int(DISTANCE_CM_MAX))
        self.distance_spin.setSuffix(" cm")
        self.distance_spin.setKeyboardTracking(False)  # taken when typed in full (Enter, or leaving the field)
        self.distance_spin.setButtonSymbols(QAbstractSpinBox.NoButtons)
        self.distance_spin.setToolTip(f"From the client's eyes to the screen, {DISTANCE_CM_MIN:g} to "
                                      f"{DISTANCE_CM_MAX:g} cm ({DEFAULT_DISTANCE_CM:g} cm unless measured). "
                                      "Remembered for this screen.")
        self.distance_spin.valueChanged.connect(self._distance_edited)
        row.addWidget(self.distance_spin)
        row.addStretch(1)
        row.addWidget(self.reset_button)
        lay.addLayout(row)
        self.note = ElidedLabel()
        self.note.setObjectName("hint")
        lay.addWidget(self.note)
        self._problem = ""  # the last refusal or failure, until the next accepted value
        core.geometry_changed.connect(lambda _g: self._tell(""))  # a new size or screen: a refusal is history
        self.refresh()

    # ------------------------------------------------------------------ showing

    def refresh(self) -> None:
        g = self.core.geometry
        if self._problem:
            pass  # what was typed stays, to be corrected
        elif g is not None:
            self.width_edit.setText(shown_number(g.width_mm))
            self.height_edit.setText(shown_number(g.height_mm))
        else:
            self.width_edit.clear()
            self.height_edit.clear()
        self.source_label.setText(SOURCE_WORDS[g.source if g is not None else None])
        self.reset_button.setEnabled(g is not None and g.source == ENTERED)
        self.distance_spin.blockSignals(True)
        self.distance_spin.setValue(int(round(self.core.viewing_distance_cm())))
        self.distance_spin.blockSignals(False)
        self._show_note()
        self.changed.emit()

    def _show_note(self) -> None:
        g = self.core.geometry
        if self._problem:
            text, notice = self._problem, True
        elif g is None:
            why = self.core.geometry_note or "it is not known"
            text, notice = f"Degrees need the screen's size: {why}. Measure the picture and enter it.", True
        else:
            v, path = self.core.effective.visual, self.core.effective.motion.path
            text = (f"At {shown_number(g.distance_cm)} cm this screen shows sweeps up to "
                    f"{shown_degrees(g.max_sweep_deg(v.target_diameter_pct, v.target_softness_pct, path))} "
                    f"{'wide' if path == 'horizontal' else 'long on this path'}.")
            notice = False
        self.note.setText(text)
        self.note.setObjectName("notice" if notice else "hint")
        self.note.style().polish(self.note)

    # ------------------------------------------------------------------ forwarding

    def _size_edited(self) -> None:
        g = self.core.geometry
        w, h = self.width_edit.text().strip(), self.height_edit.text().strip()
        if g is not None and (w, h) == (shown_number(g.width_mm), shown_number(g.height_mm)):
            return  # nothing changed (the focus moved on)
        if not w or not h:
            if w or h:
                self._tell(f"Enter the {'height' if w else 'width'} too (mm).")
            return
        try:
            problem = self.core.set_screen_size(_parse(w), _parse(h))
        except ValueError as exc:
            self._tell(f"{exc} The size is not changed.")
            return
        self._tell(problem and f"The size is used, but {problem}.")

    def _reset(self) -> None:
        self._tell("")
        self._tell(self.core.forget_screen_size())

    def _distance_edited(self, value: int) -> None:
        try:
            problem = self.core.set_viewing_distance(value)
        except ValueError as exc:  # the spin box keeps to the range; the core says why if not
            self._tell(f"{exc} The distance is not changed.")
            return
        self._tell(problem and f"The distance is used, but {problem}.")

    def _tell(self, problem: str) -> None:
        self._problem = problem
        self.refresh()


# --------------------------------------------------------------------------- the readouts


def _exact(value: float, shown: float, step: float) -> float:
    """The setting itself when the control shows it (a control shows a value rounded to its step)."""
    return value if abs(value - shown) <= step / 2 + 1e-9 else shown


def sweep_text(core, shown_pct: int) -> str:
    """ "85 % wide · 32.4°" (the degrees of the sweep as drawn on the client screen; "–°" when unknown)."""
    p = core.settings
    pct = _exact(p.motion.sweep_width_pct, shown_pct, 1.0)
    g = core.geometry
    angle = (g.sweep_deg(pct, p.visual.target_diameter_pct, p.visual.target_softness_pct, p.motion.path)
             if g is not None else None)
    return f"{shown_pct} % wide · {shown_degrees(angle) if angle is not None else '–°'}"


def size_text(core, shown_pct: float) -> str:
    """ "5.0 % high · 1.4°" (the target's visible diameter)."""
    pct = _exact(core.settings.visual.target_diameter_pct, shown_pct, 0.1)
    g = core.geometry
    return f"{shown_pct:.1f} % high · {shown_degrees(g.target_deg(pct)) if g is not None else '–°'}"


#: the widest readouts: their labels keep this width, so nothing moves as the values change
WIDEST_SWEEP, WIDEST_SIZE = "100 % wide · 88.8°", "30.0 % high · 88.8°"


def fit_readout(label: QLabel, widest: str) -> None:
    label.setMinimumWidth(label.fontMetrics().horizontalAdvance(widest) + 6)


def angle_note(core) -> str:
    """One line under the sweep: what was clamped or fell back, or how to get degrees ("" when all is
    well)."""
    if core.angle_notes:
        return core.angle_notes[0]
    if core.geometry is None:
        return UNKNOWN_NOTE
    return ""
