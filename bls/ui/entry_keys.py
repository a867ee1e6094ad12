"""The entry keys of the clinician's record (digits for the SUD, V + digit for the VOC, N for a note,
R to repeat the set) reach the session from anywhere in the app, keyboard first.

Where they go, by what has the focus:

- a text field (the client code, the note editor, a form): the field; typing there never triggers a key;
- a number field the therapist is editing: the number. A number field keeps the focus only while it is
  being edited: when a set ends the control window takes the focus back from it (see
  ``ControlWindow._hand_keys_back``), so a SUD typed right after the set is a SUD, whatever field was
  used during the set, and a field clicked in the rest takes its digits;
- a list, a slider, a button, the client display, nothing: the session. A list's type-ahead (``V``
  would choose "Vertical") never changes a setting by accident;
- a question, a form or an open list: that, until it is closed.

Escape closes the note editor (without saving) and is left to the app, which stops the set: stop
always wins. The router sits in front of the app's own key filter so it sees Escape first: it is
installed again when the control window is first shown (installing a filter again moves it in front).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QWindow
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
)

ENTRY_QT_KEYS = {getattr(Qt, f"Key_{d}"): str(d) for d in range(10)}
ENTRY_QT_KEYS.update({Qt.Key_V: "V", Qt.Key_N: "N", Qt.Key_R: "R"})
TEXT_FIELDS = (QLineEdit, QTextEdit, QPlainTextEdit)
CHORDS = Qt.ControlModifier | Qt.AltModifier | Qt.MetaModifier  # Ctrl+R etc. are not entry keys


def edits_its_keys(widget) -> bool:
    """Whether ``widget`` with the focus takes the entry keys itself (text, or a number being edited)."""
    return isinstance(widget, TEXT_FIELDS + (QAbstractSpinBox,))


class EntryKeyRouter(QObject):
    keyed = Signal(str, str)  # the key's name, the session's answer ("applied", "asked", "unchanged")

    def __init__(self, window):
        super().__init__(window)
        self.window = window

    def install(self) -> None:
        QApplication.instance().installEventFilter(self)

    def remove(self) -> None:
        QApplication.instance().removeEventFilter(self)

    def takes_keys_now(self, receiver=None) -> bool:
        """Whether an entry key sent to ``receiver`` (a widget, or a window: its focus) is the session's."""
        if isinstance(receiver, QWindow):
            receiver = receiver.focusObject()
        if edits_its_keys(QApplication.focusWidget()) or edits_its_keys(receiver):
            return False
        if QApplication.activeModalWidget() is not None or QApplication.activePopupWidget() is not None:
            return False
        box = self.window.question_box
        return not (box is not None and box.isVisible())

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 - Qt API
        if ev.type() != QEvent.KeyPress or not isinstance(ev, QKeyEvent):
            return False
        key = ev.key()
        if key == Qt.Key_Escape:
            self.window.entry_strip.cancel_note()
            return False  # the stop is the app's
        name = ENTRY_QT_KEYS.get(key)
        if name is None or ev.modifiers() & CHORDS or not self.takes_keys_now(obj):
            return False
        if not ev.isAutoRepeat():  # a key held down is one entry
            self.keyed.emit(name, self.window.session.key(name))
        return True
