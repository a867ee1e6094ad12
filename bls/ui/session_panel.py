"""The session page of the control window: client code, target, medicine time, this session's sets and
the SUD trend of the current target, and the export of the session.

Everything shown comes from the session core's clinical record (``core.clinical``): what the engine
delivered and what the therapist entered, never what the stimulus controls show. Every entry goes to
the core, which checks it; its message is shown where the entry was made and nothing is stored.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..session.clinical import CODE_MAX, TARGET_FIELDS, TARGET_LABELS, EntryError
from .clinical_dialogs import MedicineDialog, TargetDialog, said
from .clinical_widgets import ElidedLabel, HistoryTable, SudSparkline, trend_caption

MEDICINE_TICK_MS = 15_000  # the "minutes ago" is redrawn at least this often


def ago(minutes: float) -> str:
    m = int(minutes)
    if m < 1:
        return "just now"
    if m < 60:
        return f"{m} min ago"
    return f"{m // 60} h {m % 60:02d} min ago"


def latest_medicine(core) -> dict | None:
    """The latest time the medicine was taken, up to now."""
    now = core.wall()
    rows = [m for m in core.clinical.medicine if _dt.datetime.fromisoformat(m["taken_at"]) <= now]
    return max(rows, key=lambda m: _dt.datetime.fromisoformat(m["taken_at"])) if rows else None


def medicine_text(core) -> str:
    """The label, "Medicine taken 23 min ago (sublingual)"; "" when none was marked."""
    row = latest_medicine(core)
    minutes = core.minutes_since_medicine()
    if row is None or minutes is None:
        return ""
    return f"Medicine taken {ago(minutes)}" + (f" ({row['route']})" if row.get("route") else "")


def medicine_tip(core) -> str:
    lines = []
    for m in core.clinical.medicine:
        at = _dt.datetime.fromisoformat(m["taken_at"]).strftime("%H:%M")
        lines.append(" · ".join(filter(None, (f"Taken at {at}", m.get("route"), m.get("dose")))))
    return "\n".join(lines)


def target_text(core) -> str:
    t = core.clinical.target
    if t is None:
        return "No target yet: “Target…” records the assessment (optional)."
    parts = [f"Target {t['n']}: " + (f"“{t['image']}”" if t.get("image") else "no image given")]
    if t.get("nc"):
        parts.append(f"NC “{t['nc']}”")
    if t.get("pc"):
        parts.append(f"PC “{t['pc']}”")
    if t.get("sud") is not None:
        parts.append(f"starting SUD {t['sud']}")
    if t.get("voc") is not None:
        parts.append(f"VOC {t['voc']}")
    n = sum(1 for s in core.clinical.sets if s.get("target_n") == t["n"])
    if n:
        parts.append(f"{n} set{'' if n == 1 else 's'}")
    return " · ".join(parts)


def target_tip(core) -> str:
    t = core.clinical.target
    if t is None:
        return ""
    lines = [f"Target {t['n']}"]
    for k in TARGET_FIELDS:
        v = t.get(k)
        lines.append(f"{TARGET_LABELS[k]}: {'—' if v is None or v == '' else v}")
    return "\n".join(lines)


def target_has_sets(core) -> bool:
    t = core.clinical.target
    return t is not None and any(s.get("target_n") == t["n"] for s in core.clinical.sets)


class SessionPanel(QWidget):
    message = Signal(str)  # a passing message for the status bar
    keysBack = Signal()  # an entry is done: the keyboard goes back to the set keys

    def __init__(self, session):
        super().__init__()
        self.session = session
        self.core = session.core
        self.dialog = None  # the target or medicine form while it is open
        # top: who and what (client, target, medicine) beside the SUD trend; below: the sets
        col = QVBoxLayout(self)
        col.setContentsMargins(14, 10, 14, 12)
        col.setSpacing(8)
        top = QHBoxLayout()
        top.setSpacing(14)
        who = QVBoxLayout()
        who.setSpacing(5)
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(QLabel("Client"))
        self.client_edit = QLineEdit()
        self.client_edit.setPlaceholderText("code, e.g. C-017")
        self.client_edit.setToolTip("A pseudonym for the client (letters, digits, '-', '_', '.'); no name is "
                                    "needed. Enter keeps it.")
        self.client_edit.setMaxLength(CODE_MAX + 20)  # longer is refused with the reason, not cut silently
        self.client_edit.setFixedWidth(100)
        self.client_edit.returnPressed.connect(self._client_entered)
        self.client_edit.editingFinished.connect(self.commit_client)
        row.addWidget(self.client_edit)
        self.target_button = QPushButton("Target…")
        self.target_button.clicked.connect(self.edit_target)
        self.medicine_button = QPushButton("Medicine taken…")
        self.medicine_button.setToolTip("Ketamine-assisted sessions: record when the medicine was taken, to "
                                        "see the minutes since.")
        self.medicine_button.clicked.connect(self.mark_medicine)
        # placed by the window (in the corner of its tabs: in view whichever page is in front)
        self.export_button = QPushButton("Export…")  # short: the tabs beside it stay in view on 1280×720
        self.export_button.setToolTip("Export this session's record as a spreadsheet (CSV) or a report (PDF)")
        self.export_button.clicked.connect(self.export)
        for b in (self.target_button, self.medicine_button, self.export_button):
            b.setFocusPolicy(Qt.NoFocus)
            b.setObjectName("small")
        row.addStretch(1)
        who.addLayout(row)
        # the buttons on a line of their own: the column stays narrow enough for the settings beside it to
        # keep two columns on a 1280×720 screen, whatever the buttons say ("New target…")
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addWidget(self.target_button)
        buttons.addWidget(self.medicine_button)
        buttons.addStretch(1)
        who.addLayout(buttons)
        self.client_error = QLabel()
        self.client_error.setObjectName("notice")
        self.client_error.setWordWrap(True)
        self.client_error.hide()
        who.addWidget(self.client_error)
        self.target_summary = ElidedLabel()
        who.addWidget(self.target_summary)
        self.medicine_label = ElidedLabel()
        self.medicine_label.setObjectName("medicine")
        self.medicine_label.hide()
        who.addWidget(self.medicine_label)
        who.addStretch(1)
        top.addLayout(who, 1)
        trend = QVBoxLayout()
        trend.setContentsMargins(0, 0, 0, 0)
        trend.setSpacing(1)
        self.trend_title = ElidedLabel("SUD")
        self.trend_title.setObjectName("hint")
        self.trend = SudSparkline()
        self.trend_caption = ElidedLabel()
        self.trend_caption.setObjectName("hint")
        trend.addWidget(self.trend_title)
        trend.addWidget(self.trend, 1)
        trend.addWidget(self.trend_caption)
        box = QWidget()
        box.setLayout(trend)
        box.setMinimumWidth(90)
        box.setMaximumWidth(170)
        top.addWidget(box)
        col.addLayout(top)
        self.history = HistoryTable()
        col.addWidget(self.history, 1)

        self._medicine_timer = QTimer(self)
        self._medicine_timer.setInterval(MEDICINE_TICK_MS)
        self._medicine_timer.timeout.connect(self.refresh_medicine)
        self._medicine_timer.start()
        self.refresh()

    # ------------------------------------------------------------------ what is shown

    def refresh(self) -> None:
        core = self.core
        if not self.client_edit.hasFocus() and self.client_error.isHidden():
            self.client_edit.setText(core.clinical.client or "")
        self.target_summary.setText(target_text(core))
        self.target_summary.set_tip(target_tip(core))
        new = target_has_sets(core)
        self.target_button.setText("New target…" if new else "Target…")
        self.target_button.setToolTip(
            "The current target already has sets: a new target begins, and the sets from then on go with it."
            if new else "The target's assessment: image, cognitions, emotions, SUD, VOC, body (all optional).")
        self.history.show_sets(core.clinical.sets)
        points = core.clinical.sud_trend()
        self.trend.set_points(points)
        t = core.clinical.target
        self.trend_title.setText(f"SUD · target {t['n']}" if t else "SUD")
        self.trend_caption.setText(trend_caption(points))
        self.refresh_medicine()

    def refresh_medicine(self) -> None:
        text = medicine_text(self.core)
        self.medicine_label.setText(text)
        self.medicine_label.set_tip(medicine_tip(self.core))
        self.medicine_label.setVisible(bool(text))

    # ------------------------------------------------------------------ the client

    def commit_client(self) -> bool:
        """The code as typed goes to the core; a code it refuses is shown with why, and not kept."""
        text = self.client_edit.text()
        if not text.strip() and self.core.clinical.client is None:
            self.client_error.hide()  # nothing given yet: nothing to say
            return True
        try:
            self.core.set_client(text)
        except EntryError as exc:
            self.client_error.setText(said(exc))
            self.client_error.show()
            return False
        self.client_error.hide()
        self.client_edit.setText(self.core.clinical.client or "")
        return True

    def _client_entered(self) -> None:
        if self.commit_client():
            self.keysBack.emit()

    # ------------------------------------------------------------------ forms

    def edit_target(self) -> None:
        self._open(TargetDialog(self.window(), self.core, new=target_has_sets(self.core)))

    def mark_medicine(self) -> None:
        self._open(MedicineDialog(self.window(), self.core))

    def _open(self, dialog) -> None:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = dialog
        dialog.finished.connect(lambda _r, d=dialog: self._closed(d))
        dialog.open()  # the set runs on; Esc still stops it

    def _closed(self, dialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()
        self.refresh()
        self.keysBack.emit()

    # ------------------------------------------------------------------ export

    def ask_export_path(self) -> str:
        client = self.core.clinical.client or "session"
        day = self.core.clinical.started_at[:10]
        path, chosen = QFileDialog.getSaveFileName(self, "Export this session", f"{client}-{day}.csv",
                                                   "Spreadsheet, one row per set (*.csv);;Report (*.pdf)")
        if path and not Path(path).suffix:
            path += ".pdf" if "pdf" in chosen else ".csv"
        return path

    def tell(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)

    def export(self) -> None:
        """This session's clinical record, as it is now, to a CSV file or a PDF report."""
        path = self.ask_export_path()
        if not path:
            return
        doc = self.core.clinical_document()
        pdf = Path(path).suffix.lower() == ".pdf"
        try:
            if pdf:
                from .report import write_pdf
                write_pdf(doc, Path(path))
            else:
                from ..session.export import write_csv
                write_csv(doc, Path(path))
        except ImportError as exc:
            self.tell("Export this session", f"This version of bls cannot write a {'report' if pdf else 'CSV file'} "
                      f"({exc}). The session is kept in the record database and the session record as usual.")
            return
        except OSError as exc:
            self.tell("Export this session", f"The session could not be written to {path}: "
                      f"{exc.strerror or exc}. Nothing else is affected; choose another place.")
            return
        self.message.emit(f"This session was exported to {path}.")
