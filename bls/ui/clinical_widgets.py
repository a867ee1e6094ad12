"""Small widgets for the clinician's record in the control window: a one-line label that never widens
or wraps, a spin box with a "not given" state, the history of this session's sets and the SUD trend.

They show what the session core holds (``core.clinical``): values delivered by the engine and entries
the therapist made. They decide nothing and never read the stimulus controls.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ..session.clinical import SUD_MAX, SUD_MIN, fmt_span
from . import style


def hint_label(text: str = "") -> QLabel:
    """A secondary line of text in the theme's muted colour, wrapped."""
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


class ElidedLabel(QLabel):
    """One line of text, cut with "…" to the width it gets: it never wraps, never widens the layout and
    never changes height, so what it says can change without anything around it moving. ``text()`` is
    the whole text; the tooltip shows it when it is cut (or ``tip``, when given, always)."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.tip = ""
        self.setWordWrap(False)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.setText(text)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(0, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(min(super().sizeHint().width(), 400), super().sizeHint().height())

    def shown_text(self) -> str:
        """What fits (the whole text, or its beginning and "…")."""
        return self.fontMetrics().elidedText(self.text(), Qt.ElideRight, max(0, self.contentsRect().width()))

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(ev)
        self._tip()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming
        super().setText(text)
        self._tip()

    def set_tip(self, tip: str) -> None:
        self.tip = tip
        self._tip()

    def _tip(self) -> None:
        cut = self.shown_text() != self.text()
        self.setToolTip(self.tip or (self.text() if cut else ""))

    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt API
        QFrame.paintEvent(self, ev)  # background and frame as styled
        p = QPainter(self)
        self.style().drawItemText(p, self.contentsRect(), int(self.alignment() | Qt.AlignVCenter), self.palette(),
                                  self.isEnabled(), self.shown_text(), self.foregroundRole())
        p.end()


class OptionalSpin(QSpinBox):
    """A whole number from ``lo`` to ``hi``, or "not given" (one step below ``lo``): a scale the client
    was not asked is stored as nothing, never as a number."""

    def __init__(self, lo: int, hi: int, value: int | None = None):
        super().__init__()
        self._lo = lo
        self.setRange(lo - 1, hi)
        self.setSpecialValueText("not given")
        self.set_optional(value)

    def optional(self) -> int | None:
        v = self.value()
        return None if v < self._lo else v

    def set_optional(self, value: int | None) -> None:
        self.setValue(self._lo - 1 if value is None else int(value))


# --------------------------------------------------------------------------- history of the sets


HISTORY_COLUMNS = ("Set", "Passes", "Seconds", "Speed", "Gentle", "SUD", "VOC", "Note")
_NUMERIC = {0, 1, 2, 3, 5, 6}


def _number(v, digits: int) -> str:
    if v is None:
        return "–"
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.{digits}f}"


def history_row(s: dict) -> list[str]:
    """The table's cells for one set of ``core.clinical.sets`` (as delivered, from the engine)."""
    return [str(s["n"]), _number(s.get("passes_delivered"), 1),
            "–" if s.get("seconds_delivered") is None else f"{s['seconds_delivered']:.1f}",
            fmt_span(s.get("speed_min"), s.get("speed_max"), 2),
            "yes" if s.get("gentle") else "",
            "" if s.get("sud") is None else str(s["sud"]),
            "" if s.get("voc") is None else str(s["voc"]),
            s.get("note") or ""]


class HistoryTable(QTableWidget):
    """This session's sets, newest at the bottom: what was delivered and what the therapist entered.
    Read only; never takes the keyboard (the entry keys stay with the session)."""

    def __init__(self):
        super().__init__(0, len(HISTORY_COLUMNS))
        self.setHorizontalHeaderLabels(HISTORY_COLUMNS)
        self.horizontalHeaderItem(3).setToolTip("Speed delivered, cycles per second (a range if it changed)")
        self.horizontalHeaderItem(1).setToolTip("Passes delivered")
        self.horizontalHeaderItem(2).setToolTip("Seconds delivered")
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.NoSelection)
        self.setFocusPolicy(Qt.NoFocus)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.ElideRight)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignLeft | Qt.AlignVCenter)
        for i in range(len(HISTORY_COLUMNS) - 1):
            header.setSectionResizeMode(i, QHeaderView.ResizeToContents)
        for i in range(len(HISTORY_COLUMNS)):  # figures line up under their heading, on the right
            self.horizontalHeaderItem(i).setTextAlignment(
                (Qt.AlignRight if i in _NUMERIC else Qt.AlignLeft) | Qt.AlignVCenter)
        header.setSectionResizeMode(len(HISTORY_COLUMNS) - 1, QHeaderView.Stretch)
        self.setMinimumHeight(60)
        self.placeholder = "No sets yet: each set is listed here as it ends."
        # the newest set stays in view (a new row, the table made shorter) unless the therapist scrolled up
        self._at_end = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(lambda v: setattr(self, "_at_end", v >= self.verticalScrollBar().maximum()))
        bar.rangeChanged.connect(lambda _lo, hi: self._at_end and self.verticalScrollBar().setValue(hi))

    def show_sets(self, sets: list[dict]) -> None:
        grew = len(sets) > self.rowCount()
        if grew:
            self._at_end = True  # a set just ended: it is shown
        self.setRowCount(len(sets))
        for r, s in enumerate(sets):
            for c, text in enumerate(history_row(s)):
                item = self.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    item.setFlags(Qt.ItemIsEnabled)
                    item.setTextAlignment((Qt.AlignRight if c in _NUMERIC else Qt.AlignLeft) | Qt.AlignVCenter)
                    self.setItem(r, c, item)
                item.setText(text)
                if c == len(HISTORY_COLUMNS) - 1:
                    item.setToolTip(text)
            tip = f"Set {s['n']}" + (f", target {s['target_n']}" if s.get("target_n") else "") + (
                f"; stopped: {s['stop_reason']}" if s.get("stop_reason") not in (None, "complete") else "")
            self.item(r, 0).setToolTip(tip)
        if grew:
            self.scrollToBottom()
        self.viewport().update()

    def rows(self) -> list[list[str]]:
        """What the table shows, cell by cell."""
        return [[self.item(r, c).text() for c in range(self.columnCount())] for r in range(self.rowCount())]

    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt API
        super().paintEvent(ev)
        if self.rowCount() == 0:
            p = QPainter(self.viewport())
            p.setPen(QColor(style.current().muted))
            p.drawText(self.viewport().rect().adjusted(10, 8, -10, -8), Qt.AlignLeft | Qt.AlignTop | Qt.TextWordWrap,
                       self.placeholder)
            p.end()


# --------------------------------------------------------------------------- SUD trend


class SudSparkline(QWidget):
    """The SUD of the current target set by set (the starting SUD as set 0): a small line on a 0-10
    scale. Points are ``(set number, SUD)`` from ``core.clinical.sud_trend()``."""

    def __init__(self):
        super().__init__()
        self.points: list[tuple[int, int]] = []
        self.setMinimumSize(100, 40)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setToolTip("SUD of the current target after each set (0 = no disturbance, 10 = the worst); "
                        "the first point is the starting SUD")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(150, 70)

    def set_points(self, points: list[tuple[int, int]]) -> None:
        self.points = list(points)
        self.update()

    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        r = QRectF(self.rect()).adjusted(16, 6, -6, -6)
        p.setPen(QPen(QColor(style.current().line), 1))
        for level in (SUD_MIN, 5, SUD_MAX):  # the scale: 0, 5, 10
            y = r.bottom() - (level - SUD_MIN) / (SUD_MAX - SUD_MIN) * r.height()
            p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
        small = p.font()
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.75))
        p.setFont(small)
        p.setPen(QColor(style.current().muted))
        for level in (SUD_MIN, SUD_MAX):
            y = r.bottom() - (level - SUD_MIN) / (SUD_MAX - SUD_MIN) * r.height()
            p.drawText(QRectF(0, y - 8, 13, 16), Qt.AlignRight | Qt.AlignVCenter, str(level))
        if not self.points:
            p.drawText(r, Qt.AlignCenter, "no SUD yet")
            p.end()
            return
        n = len(self.points)
        step = r.width() / max(1, n - 1) if n > 1 else 0.0
        xy = [QPointF(r.left() + (i * step if n > 1 else r.width() / 2),
                      r.bottom() - (sud - SUD_MIN) / (SUD_MAX - SUD_MIN) * r.height())
              for i, (_, sud) in enumerate(self.points)]
        accent = QColor(style.current().accent_line)
        if n > 1:
            path = QPainterPath(xy[0])
            for pt in xy[1:]:
                path.lineTo(pt)
            p.setPen(QPen(accent, 2))
            p.setBrush(Qt.NoBrush)
            p.drawPath(path)
        p.setPen(Qt.NoPen)
        p.setBrush(accent)
        for pt in xy:
            p.drawEllipse(pt, 2.8, 2.8)
        p.end()


def trend_caption(points: list[tuple[int, int]], limit: int = 8) -> str:
    """The trend in figures, "8 → 6 → 4" (the last ``limit`` values; "… →" in front when there are more)."""
    values = [str(sud) for _, sud in points]
    if len(values) > limit:
        values = ["…"] + values[-limit:]
    return " → ".join(values)
