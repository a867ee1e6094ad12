"""The two short forms of the clinician's record: the target (EMDR assessment) and the medicine time.

Each hands what was typed to the session core, which checks it; a problem is shown in the form, in the
core's words, and nothing is stored until it is put right.
"""

from __future__ import annotations

import datetime as _dt

from PySide6.QtCore import QTime
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QTimeEdit,
    QVBoxLayout,
)

from ..session.clinical import (
    SUD_MAX,
    SUD_MIN,
    TARGET_FIELDS,
    TARGET_LABELS,
    VOC_MAX,
    VOC_MIN,
    EntryError,
)
from .clinical_widgets import OptionalSpin


def said(exc: Exception) -> str:
    """The core's message as a sentence."""
    text = str(exc).strip()
    if not text:
        return ""
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


TARGET_HINTS = {"image": "the picture of the worst part, in the client's words",
                "nc": "the negative belief about self, now",
                "pc": "the belief the client would rather have",
                "emotions": "what the client feels now",
                "body": "where it is felt in the body"}
SCALE_LABELS = {"sud": f"SUD ({SUD_MIN}–{SUD_MAX})", "voc": f"VOC ({VOC_MIN}–{VOC_MAX})"}


def _error_label() -> QLabel:
    label = QLabel()
    label.setObjectName("notice")
    label.setWordWrap(True)
    label.hide()
    return label


class _EntryForm(QDialog):
    """A form whose entries go to the session core: its message under the fields, Save and Cancel."""

    def _add_error_and_buttons(self, lay: QVBoxLayout) -> None:
        self.error = _error_label()
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.Save)
        lay.addWidget(buttons)


class TargetDialog(_EntryForm):
    """The target's assessment fields, all optional. ``new``: a new target begins (the current one
    already has sets); otherwise the current target is corrected in place (or the first one made)."""

    def __init__(self, parent, core, new: bool):
        super().__init__(parent)
        self.core = core
        self.new = new
        self.number: int | None = None  # the target's number once saved
        current = None if new else core.clinical.target
        n = current["n"] if current is not None else len(core.clinical.targets) + 1
        self.setWindowTitle(f"New target (target {n})" if new else f"Target {n}")
        lay = QVBoxLayout(self)
        lay.setSpacing(10)
        intro = QLabel("The assessment, as far as it was done. Every field is optional."
                       + (" The sets from now on go with this target." if new else ""))
        intro.setObjectName("hint")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QFormLayout()
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(8)
        self.fields: dict[str, QLineEdit | OptionalSpin] = {}
        for k in TARGET_FIELDS:
            value = current.get(k) if current is not None else None
            if k in ("sud", "voc"):
                lo, hi = (SUD_MIN, SUD_MAX) if k == "sud" else (VOC_MIN, VOC_MAX)
                w = OptionalSpin(lo, hi, value)
                w.setFixedWidth(130)
            else:
                w = QLineEdit(value or "")
                w.setPlaceholderText(TARGET_HINTS.get(k, ""))
                w.setMinimumWidth(380)
            self.fields[k] = w
            form.addRow(SCALE_LABELS.get(k, TARGET_LABELS[k]), w)
        lay.addLayout(form)
        self._add_error_and_buttons(lay)

    def values(self) -> dict:
        return {k: (w.optional() if isinstance(w, OptionalSpin) else w.text()) for k, w in self.fields.items()}

    def accept(self) -> None:
        try:
            self.number = self.core.set_target(self.values(), new=True if self.new else None)
        except EntryError as exc:
            self.error.setText(said(exc))
            self.error.show()
            return
        super().accept()


class MedicineDialog(_EntryForm):
    """When the medicine was taken (ketamine-assisted sessions): route and dose as the therapist writes
    them, the time defaulting to now. bls records it to show the minutes since; it never advises."""

    def __init__(self, parent, core):
        super().__init__(parent)
        self.core = core
        self.number: int | None = None
        self.setWindowTitle("Medicine taken")
        self._now = core.wall()
        lay = QVBoxLayout(self)
        lay.setSpacing(10)
        form = QFormLayout()
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(8)
        self.route = QLineEdit()
        self.route.setPlaceholderText("e.g. sublingual, intramuscular")
        self.route.setMinimumWidth(300)
        self.dose = QLineEdit()
        self.dose.setPlaceholderText("as given (free text)")
        self.time = QTimeEdit(QTime(self._now.hour, self._now.minute))
        self.time.setDisplayFormat("HH:mm")
        form.addRow("Route", self.route)
        form.addRow("Dose", self.dose)
        form.addRow("Time taken", self.time)
        lay.addLayout(form)
        note = QLabel("Recorded as written, to show the minutes since it was taken. bls gives no advice on "
                      "dosing.")
        note.setObjectName("hint")
        note.setWordWrap(True)
        lay.addWidget(note)
        self._add_error_and_buttons(lay)

    def taken_at(self) -> _dt.datetime:
        """The latest moment at the time shown, up to now: today, or yesterday for a time later than now
        (taken before midnight, marked after it); the moment the form opened if the time was left as it was."""
        t = self.time.time()
        if (t.hour(), t.minute()) == (self._now.hour, self._now.minute):
            return self._now
        taken = self._now.replace(hour=t.hour(), minute=t.minute(), second=0, microsecond=0)
        if taken > self._now:
            taken -= _dt.timedelta(days=1)
        return taken

    def accept(self) -> None:
        try:
            self.number = self.core.mark_medicine(self.route.text(), self.dose.text(), self.taken_at())
        except EntryError as exc:
            self.error.setText(said(exc))
            self.error.show()
            return
        super().accept()
