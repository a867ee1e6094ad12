"""The entry strip under the set controls: what the keys do now, what was entered for the last set,
and, after N, the one-line note editor in its place.

Two lines of fixed height whatever they say (the prompt and the entries are cut with "…", never
wrapped), so typing a SUD never moves anything on the screen.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QLineEdit,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ..core.engine import GLIDING, PAUSED, RUNNING, STOPPING
from ..session.clinical import NOTE_MAX, SUD_MAX, SUD_MIN, VOC_MAX, VOC_MIN, EntryError
from .clinical_dialogs import said
from .clinical_widgets import ElidedLabel

KEYS_PROMPT = (f"type the SUD ({SUD_MIN}–{SUD_MAX}), V + {VOC_MIN}–{VOC_MAX} for VOC, N for a note, "
               "R to repeat")
NOTE_PROMPT = "Enter saves · Esc cancels"


def pending_entry(core) -> dict:
    """SUD/VOC/note typed while the set fades out, before the set is in the record."""
    return core.pending_entry()


def entries_text(label: str, row: dict) -> str:
    """The entries after their label: "Set 3 · SUD 6 · VOC 4 · note: …" (what was entered so far)."""
    parts = []
    if row.get("sud") is not None:
        parts.append(f"SUD {row['sud']}")
    if row.get("voc") is not None:
        parts.append(f"VOC {row['voc']}")
    if row.get("note"):
        parts.append(f"note: {row['note']}")
    return " · ".join([label] + (parts or ["nothing entered yet"]))


def entry_lines(core, voc_armed: bool = False) -> tuple[str, str]:
    """(what the keys do now, what was entered) for the session's state."""
    st = core.status
    sets = core.clinical.sets
    last = entries_text(f"Set {sets[-1]['n']}", sets[-1]) if sets else ""
    if st.state in (RUNNING, PAUSED):
        what = "paused" if st.state == PAUSED else "under way"
        prompt = f"Set {st.set_index} {what} — the SUD, VOC and note go in the rest after it."
        entered = last
    elif st.state in (STOPPING, GLIDING):
        prompt = f"Set {st.set_index} ended — {KEYS_PROMPT}"
        entered = entries_text(f"Set {st.set_index}", pending_entry(core))
    elif sets:
        prompt = f"Set {sets[-1]['n']} ended — {KEYS_PROMPT}"
        entered = last
    else:
        prompt = (f"Before the first set: type the starting SUD ({SUD_MIN}–{SUD_MAX}) and V + "
                  f"{VOC_MIN}–{VOC_MAX} for the VOC of the target.")
        t = core.clinical.target
        entered = ""
        if t is not None and (t.get("sud") is not None or t.get("voc") is not None):
            entered = entries_text(f"Target {t['n']}, starting", t)
    if voc_armed:
        prompt = f"VOC: now type {VOC_MIN} (feels completely false) to {VOC_MAX} (completely true)."
    return prompt, entered


class EntryStrip(QFrame):
    """The prompt and the entries (page 0) or the note editor (page 1), in the same fixed height."""

    noteClosed = Signal(bool)  # saved?

    def __init__(self, save_note: Callable[[str], object]):
        super().__init__()
        self.setObjectName("entryStrip")
        self._save_note = save_note
        self.stack = QStackedWidget()
        self.stack.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)  # the tallest page, always
        lines = QWidget()
        lay = QVBoxLayout(lines)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.prompt = ElidedLabel()
        self.prompt.setObjectName("hint")
        self.entered = ElidedLabel()
        self.entered.setObjectName("entered")
        lay.addWidget(self.prompt)
        lay.addWidget(self.entered)
        lay.addStretch(1)
        editor = QWidget()
        lay = QVBoxLayout(editor)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.note_label = ElidedLabel()
        self.note_label.setObjectName("hint")
        self.note_edit = QLineEdit()
        self.note_edit.setMaxLength(NOTE_MAX)
        self.note_edit.setPlaceholderText("What the client noticed, in a line")
        self.note_edit.returnPressed.connect(self.save_note)
        lay.addWidget(self.note_label)
        lay.addWidget(self.note_edit)
        self.stack.addWidget(lines)
        self.stack.addWidget(editor)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 5, 10, 5)
        outer.addWidget(self.stack)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)
        self._note_for = ""

    def showEvent(self, ev) -> None:  # noqa: N802 - Qt API
        super().showEvent(ev)
        self._fit()

    def changeEvent(self, ev) -> None:  # noqa: N802 - Qt API
        super().changeEvent(ev)
        if ev.type() in (QEvent.StyleChange, QEvent.FontChange):
            self._fit()

    def _fit(self) -> None:
        """The height of the taller page, as styled (a hidden page's size is not passed up by Qt when it
        is styled later, so it is measured here)."""
        for w in (self.prompt, self.entered, self.note_label, self.note_edit):
            w.ensurePolished()
        lines = self.prompt.sizeHint().height() + self.entered.sizeHint().height() + 2
        editor = self.note_label.sizeHint().height() + self.note_edit.sizeHint().height() + 2
        self.stack.setFixedHeight(max(lines, editor))

    @property
    def editing(self) -> bool:
        """The note editor is open."""
        return self.stack.currentIndex() == 1

    def show_lines(self, prompt: str, entered: str) -> None:
        self.prompt.setText(prompt)
        self.entered.setText(entered)

    def open_note(self, label: str, text: str = "") -> None:
        """The note editor, with the note already given (if any) to correct."""
        self._note_for = label
        self._note_problem("")
        self.note_edit.setText(text)
        self.note_edit.selectAll()
        self.stack.setCurrentIndex(1)
        self.note_edit.setFocus(Qt.ShortcutFocusReason)

    def _note_problem(self, problem: str) -> None:
        self.note_label.setObjectName("notice" if problem else "hint")
        self.note_label.setText(problem or f"Note for {self._note_for} — {NOTE_PROMPT}")
        self.note_label.style().polish(self.note_label)

    def save_note(self) -> None:
        try:
            self._save_note(self.note_edit.text())
        except EntryError as exc:
            self._note_problem(said(exc) + " " + NOTE_PROMPT)
            return
        self._close(True)

    def cancel_note(self) -> None:
        if self.editing:
            self._close(False)

    def _close(self, saved: bool) -> None:
        self.stack.setCurrentIndex(0)
        self.note_edit.clear()
        self.noteClosed.emit(saved)
