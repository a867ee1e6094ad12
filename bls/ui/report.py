"""The session report for the client's file: an A4 PDF drawn with QPainter on a QPdfWriter.

Page one: who and when (client code, date, start and end, duration), the target's assessment fields,
the medicine marks (as the therapist recorded them: bls never advises), the SUD/VOC course across the
sets, then the table of sets, which flows onto further pages with its header repeated. Every page
names the client and the date at the top and says "page x of y", when and by which bls it was made,
and that the delivered values come from the stimulus engine (not the controls) at the bottom.

It works from the session dict alone (:meth:`bls.session.store.Records.session` or the live
:meth:`bls.session.core.SessionCore.clinical_document`) and needs a QGuiApplication, not a display:
:func:`write_pdf` makes one (offscreen where there is no display) when none exists. The PDF is rendered
into memory and written atomically and privately (0600), only ever over a regular file.

Text is laid out with QTextLayout (wrapped at word boundaries, or anywhere for a word wider than its
column), measured and drawn by the same object, so what is measured is what is drawn and nothing is
cut: a block that does not fit on the page goes to the next one.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import sys

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QPointF, QRectF, Qt
from PySide6.QtGui import (QColor, QFont, QFontMetricsF, QGuiApplication, QPageLayout, QPageSize, QPainter,
                           QPainterPath, QPdfWriter, QPen, QTextLayout, QTextOption)

from .. import __version__
from ..core.atomic import atomic_write
from ..session import export as ex
from ..session.clinical import TARGET_LABELS

RESOLUTION = 1200  # dots per inch of the PDF's coordinates (vector output: only the precision of placement)
LEFT, RIGHT = 18.0, 192.0  # on A4 (210 x 297 mm)
TOP, BOTTOM = 15.0, 273.0  # the content; the footer lies below BOTTOM
WIDTH = RIGHT - LEFT
PAGE_ROOM = BOTTOM - TOP - 20.0  # the height a block may take on a page below its headings, mm

INK = QColor("#1f2933")
TEXT = QColor("#323f4b")
MUTED = QColor("#616e7c")
RULE = QColor("#c3cad2")
HAIRLINE = QColor("#dfe3e8")
BAND = QColor("#f2f4f6")  # table header, every other row
ACCENT = QColor("#2f7f7a")  # the one accent (the app's): the header rule and the VOC line
FAMILIES = ["Helvetica", "Arial", "Nimbus Sans", "Liberation Sans", "DejaVu Sans"]
MINUS = "\u2212"

#: the sets table: header, width in mm (0: the rest, for the note), alignment
TABLE = (("Set", 7.5, "r"), ("Started", 13.5, "l"), ("Passes", 15.0, "r"), ("Seconds", 13.0, "r"),
         ("Speed\ncycles/s", 13.5, "r"), ("Level\ndBFS", 13.5, "r"), ("Gentle mode", 26.0, "l"),
         ("SUD", 8.0, "c"), ("VOC", 8.0, "c"), ("Min since medicine", 13.5, "r"), ("Note", 0.0, "l"))
DELIVERED_NOTE = ("Passes, seconds, speed and level are the values delivered, read from the stimulus engine as "
                  "it played, not the settings on the controls.")

_app = None  # a QGuiApplication made here (kept alive)


class ReportError(RuntimeError):
    """The report cannot be made here (no way to start Qt's font and drawing machinery)."""


def ensure_gui_app() -> QGuiApplication:
    """The QGuiApplication the drawing needs: the one running, else a new one (offscreen on a Linux or
    BSD machine without a display, so a PDF never needs one)."""
    global _app
    from PySide6.QtCore import QCoreApplication

    inst = QCoreApplication.instance()
    if isinstance(inst, QGuiApplication):
        return inst
    if inst is not None:
        raise ReportError("a PDF report needs a QGuiApplication, and a QCoreApplication is already running")
    if sys.platform not in ("win32", "darwin") and not os.environ.get("QT_QPA_PLATFORM") \
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    _app = QGuiApplication(sys.argv[:1] or ["bls"])
    return _app


# --------------------------------------------------------------------------- words


def _or_empty(text) -> str:
    text = "" if text is None else str(text)
    return text if text.strip() else ex.EMPTY


def _fixed(value, digits: int) -> str:
    return ex.fixed(value, digits).replace("-", MINUS)


def _fixed_span(lo, hi, digits: int) -> str:
    """A delivered range for the table; "−30.0 to" and "−24.0" on two lines, to keep the column narrow."""
    return ex.fixed_span(lo, hi, digits).replace(" to ", " to\n").replace("-", MINUS) or ex.EMPTY


def _passes(s: dict) -> str:
    got, asked = s.get("passes_delivered"), s.get("passes_requested")
    text = ex.number(got, 1)
    if not text:
        return ex.EMPTY
    if isinstance(asked, (int, float)) and not isinstance(asked, bool) and abs(asked - got) > 0.05:
        text = f"{text} of {ex.number(asked, 1)}"
    if s.get("stop_reason") == "stopped":
        text += "\nstopped"
    elif s.get("stop_reason") == "quit":
        text += "\nsession ended"
    return text


def _minus(text: str) -> str:
    """Negative numbers with a true minus sign (as in the rest of the report)."""
    return re.sub(r"(?<![\w.])-(?=\d)", MINUS, text)


def _relative(taken, started) -> str:
    """When a medicine mark lies relative to the session's start, in words."""
    a, b = ex.parse_time(taken), ex.parse_time(started)
    if a is None or b is None:
        return ""
    try:
        minutes = round((a - b).total_seconds() / 60.0)
    except TypeError:
        return ""
    if minutes == 0:
        return "as the session began"
    amount = f"{abs(minutes)} min" if abs(minutes) < 120 else f"{abs(minutes) // 60} h {abs(minutes) % 60:02d} min"
    return f"{amount} before the session began" if minutes < 0 else f"{amount} into the session"


def _gentle(s: dict) -> str:
    if s.get("gentle") is None:
        return ex.EMPTY
    if not s.get("gentle"):
        return "off"
    unlocked = ex.unlock_words(s.get("unlocked"))
    return "on" + (f", unlocked: {_minus(unlocked)}" if unlocked else "")


def _set_cells(s: dict, session_started) -> list[str]:
    started = ex.time_in_session(s.get("started_at"), session_started)
    med = ex.minutes(s.get("medicine_min"))
    return [ex.number(s.get("n")) or ex.EMPTY, started or ex.EMPTY, _passes(s),
            _fixed(s.get("seconds_delivered"), 1) or ex.EMPTY,
            _fixed_span(s.get("speed_min"), s.get("speed_max"), 2),
            _fixed_span(s.get("level_min"), s.get("level_max"), 1), _gentle(s),
            ex.number(s.get("sud")) or ex.EMPTY, ex.number(s.get("voc")) or ex.EMPTY, med or ex.EMPTY,
            _or_empty(s.get("note"))]


# --------------------------------------------------------------------------- layout


class _Text:
    """One piece of text laid out for a width: ``height`` (device units) and ``draw``."""

    def __init__(self, doc: _Doc, text: str, font: QFont, width: float, align: str = "l"):
        self.layout = QTextLayout(text.replace("\n", "\u2028"), font, doc.dev)
        opt = QTextOption({"l": Qt.AlignLeft, "r": Qt.AlignRight, "c": Qt.AlignHCenter}[align])
        opt.setWrapMode(QTextOption.WrapAtWordBoundaryOrAnywhere)
        self.layout.setTextOption(opt)
        self.layout.setCacheEnabled(True)
        self.layout.beginLayout()
        h = 0.0
        self.width = 0.0
        self.ascent = 0.0  # of the first line: to line up baselines of different sizes
        while True:
            line = self.layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            line.setPosition(QPointF(0.0, h))
            if not h:
                self.ascent = line.ascent()
            h += line.height()
            self.width = max(self.width, line.naturalTextWidth())
        self.layout.endLayout()
        self.height = h

    def draw(self, p: QPainter, x: float, y: float, color: QColor = TEXT) -> None:
        p.setPen(color)
        self.layout.draw(p, QPointF(x, y))


class _Doc:
    """Pages of drawing operations, laid out top to bottom; painted once the page count is known."""

    def __init__(self, dev: QPdfWriter, session: dict, generated: _dt.datetime):
        self.dev = dev
        self.k = dev.resolution() / 25.4  # device units per mm
        self.session = session
        self.generated = generated
        self.pages: list[list] = []
        self.y = 0.0
        self.new_page()

    def mm(self, v: float) -> float:
        return v * self.k

    def font(self, size: float, weight=QFont.Normal, italic: bool = False) -> QFont:
        f = QFont()
        f.setFamilies(FAMILIES)
        f.setStyleHint(QFont.SansSerif)
        f.setPointSizeF(size)
        f.setWeight(weight)
        f.setItalic(italic)
        f.setKerning(True)
        return f

    def text(self, text: str, font: QFont, width_mm: float, align: str = "l") -> _Text:
        return _Text(self, text, font, self.mm(width_mm), align)

    def draw(self, op) -> None:
        self.pages[-1].append(op)

    def chunks(self, text: str, font: QFont, width_mm: float, max_mm: float) -> list[str]:
        """``text`` cut at line starts into pieces no taller than ``max_mm`` each when laid out at
        ``width_mm`` (one piece for anything that fits a page: only a text longer than bls ever stores,
        from a damaged record, needs more)."""
        t = self.text(text, font, width_mm)
        if t.height <= self.mm(max_mm):
            return [text]
        s = t.layout.text()
        out, start, top = [], 0, 0.0
        for i in range(t.layout.lineCount()):
            line = t.layout.lineAt(i)
            if line.y() + line.height() - top > self.mm(max_mm) and line.textStart() > start:
                out.append(s[start:line.textStart()])
                start, top = line.textStart(), line.y()
        out.append(s[start:])
        return out

    def room(self) -> float:
        return self.mm(BOTTOM) - self.y

    def need(self, height: float) -> bool:
        """Start a new page unless ``height`` (device units) fits on this one; True if it did."""
        if height <= self.room():
            return False
        self.new_page()
        return True

    def new_page(self) -> None:
        self.pages.append([])
        self.y = self.mm(TOP)
        if len(self.pages) > 1:
            self._running_head()

    def gap(self, mm: float) -> None:
        self.y += self.mm(mm)

    # -- page furniture

    def _running_head(self) -> None:
        s = self.session
        left = self.text("EMDR session record", self.font(8.0, QFont.DemiBold), WIDTH / 2)
        right = self.text(f"Client {s.get('client_code') or ex.EMPTY} · {ex.long_day(s.get('started_at'))}",
                          self.font(8.0), WIDTH / 2, "r")
        y = self.y
        rule_y = y + max(left.height, right.height) + self.mm(1.2)

        def op(p):
            left.draw(p, self.mm(LEFT), y, MUTED)
            right.draw(p, self.mm(LEFT + WIDTH / 2), y, MUTED)
            p.setPen(QPen(RULE, self.mm(0.2)))
            p.drawLine(QPointF(self.mm(LEFT), rule_y), QPointF(self.mm(RIGHT), rule_y))
        self.draw(op)
        self.y = rule_y + self.mm(5.0)

    def footer(self, p: QPainter, page: int, pages: int) -> None:
        small = self.font(7.0)
        note = self.text(DELIVERED_NOTE, small, WIDTH)
        made = self.text(f"Generated by bls {__version__} on {self.generated.strftime('%Y-%m-%d at %H:%M')}",
                         small, WIDTH * 0.7)
        count = self.text(f"Page {page} of {pages}", self.font(7.0, QFont.DemiBold), WIDTH * 0.3, "r")
        y = self.mm(BOTTOM + 6.0)
        p.setPen(QPen(RULE, self.mm(0.2)))
        p.drawLine(QPointF(self.mm(LEFT), y), QPointF(self.mm(RIGHT), y))
        y += self.mm(1.6)
        note.draw(p, self.mm(LEFT), y, MUTED)
        y += note.height + self.mm(0.6)
        made.draw(p, self.mm(LEFT), y, MUTED)
        count.draw(p, self.mm(LEFT + WIDTH * 0.7), y, TEXT)

    # -- blocks

    def heading(self, title: str, keep: float = 0.0) -> None:
        """A section heading, kept on the same page as ``keep`` device units of what follows it."""
        t = self.text(title.upper(), self.heading_font(), WIDTH)
        h = t.height + self.mm(2.6)
        self.need(h + keep)
        y = self.y
        rule_y = y + t.height + self.mm(0.9)

        def op(p):
            t.draw(p, self.mm(LEFT), y, MUTED)
            p.setPen(QPen(RULE, self.mm(0.25)))
            p.drawLine(QPointF(self.mm(LEFT), rule_y), QPointF(self.mm(RIGHT), rule_y))
        self.draw(op)
        self.y += h

    def heading_font(self) -> QFont:
        f = self.font(8.5, QFont.Bold)
        f.setLetterSpacing(QFont.AbsoluteSpacing, 0.6)
        return f

    def field_rows(self, pairs: list[tuple[str, str]], label_mm: float = 42.0) -> None:
        """Label and value, one pair a row; a long value wraps in its column (and moves to the next page
        whole if it does not fit)."""
        lf, vf = self.font(9.0), self.font(9.5)
        split = []
        for label, value in pairs:
            pieces = self.chunks(value, vf, WIDTH - label_mm, PAGE_ROOM)
            split += [(label if i == 0 else "", piece) for i, piece in enumerate(pieces)]
        for label, value in split:
            lt = self.text(label, lf, label_mm - 3.0)
            vt = self.text(value, vf, WIDTH - label_mm)
            h = max(lt.height, vt.height) + self.mm(1.5)
            self.need(h)
            y = self.y

            def op(p, lt=lt, vt=vt, y=y, empty=value == ex.EMPTY):
                lt.draw(p, self.mm(LEFT), y + vt.ascent - lt.ascent, MUTED)
                vt.draw(p, self.mm(LEFT + label_mm), y, MUTED if empty else INK)
            self.draw(op)
            self.y += h

    def grid(self, cells: list[tuple[str, str]], columns: int = 3) -> None:
        """Label above value, ``columns`` to a row (the session's facts)."""
        col = WIDTH / columns
        lf, vf = self.font(7.5), self.font(10.0, QFont.DemiBold)
        for i in range(0, len(cells), columns):
            row = [(self.text(lab, lf, col - 4.0), self.text(val, vf, col - 4.0)) for lab, val in cells[i:i + columns]]
            h = max(lt.height + vt.height for lt, vt in row) + self.mm(3.0)
            self.need(h)
            y = self.y

            def op(p, row=row, y=y):
                for j, (lt, vt) in enumerate(row):
                    x = self.mm(LEFT + j * col)
                    lt.draw(p, x, y, MUTED)
                    vt.draw(p, x, y + lt.height + self.mm(0.3), INK)
            self.draw(op)
            self.y += h

    def paragraph(self, text: str, size: float = 8.5, color: QColor = MUTED, italic: bool = False) -> None:
        t = self.text(text, self.font(size, italic=italic), WIDTH)
        self.need(t.height)
        y = self.y
        self.draw(lambda p: t.draw(p, self.mm(LEFT), y, color))
        self.y += t.height

    def table(self, headers: list[tuple[str, float, str]], rows: list, title_again: str | None = None,
              size: float = 7.5, keep_rows: int = 1, title: str | None = None) -> None:
        """A table with a header row; rows flow onto further pages, the header (and ``title_again``)
        repeated there. A row is a list of cell texts, or ("group", text) for a row across the table."""
        pad_x, pad_y = 1.1, 0.9
        hf, cf = self.font(size - 0.5, QFont.DemiBold), self.font(size)
        # a column of numbers (right-aligned or centred) is widened to its widest line: a number never breaks
        fm = QFontMetricsF(cf, self.dev)
        widths = []
        for i, (_, w, a) in enumerate(headers):
            if w and a in ("r", "c"):
                lines = [line for r in rows if not (isinstance(r, tuple) and r and r[0] == "group")
                         for line in str(r[i]).split("\n")]
                w = max([w] + [fm.horizontalAdvance(line) / self.k + 2 * pad_x + 0.4 for line in lines])
            widths.append(w)
        widths = [w if w else max(WIDTH - sum(widths), 30.0) for w in widths]
        xs = [LEFT]
        for w in widths[:-1]:
            xs.append(xs[-1] + w)

        def header():
            cells = [self.text(h, hf, w - 2 * pad_x, a) for (h, _, a), w in zip(headers, widths)]
            h = max(c.height for c in cells) + self.mm(2 * pad_y)
            y = self.y

            def op(p):
                p.fillRect(QRectF(self.mm(LEFT), y, self.mm(WIDTH), h), BAND)
                for c, x in zip(cells, xs):
                    c.draw(p, self.mm(x + pad_x), y + self.mm(pad_y), MUTED)
                p.setPen(QPen(RULE, self.mm(0.3)))
                p.drawLine(QPointF(self.mm(LEFT), y + h), QPointF(self.mm(RIGHT), y + h))
            self.draw(op)
            self.y += h
            return h

        def measure_header():
            return max(self.text(h, hf, w - 2 * pad_x, a).height for (h, _, a), w in zip(headers, widths)) \
                + self.mm(2 * pad_y)

        def fit(r: list[str]) -> list[list[str]]:
            """A row taller than a page (a note longer than bls stores) as several rows, its text
            continued in the next."""
            pieces = [self.chunks(c, cf, w - 2 * pad_x, PAGE_ROOM - 20.0) for c, w in zip(r, widths)]
            depth = max(len(p) for p in pieces)
            return [[p[i] if i < len(p) else "" for p in pieces] for i in range(depth)]

        rows = [piece for r in rows for piece in ([r] if isinstance(r, tuple) else fit(r))]
        laid = []
        for r in rows:
            if isinstance(r, tuple) and r and r[0] == "group":
                t = self.text(r[1], self.font(size + 0.5, QFont.DemiBold), WIDTH - 2 * pad_x)
                laid.append(("group", t, t.height + self.mm(2 * pad_y + 1.0)))
            else:
                cells = [self.text(c, cf, w - 2 * pad_x, a) for c, w, (_, _, a) in zip(r, widths, headers)]
                laid.append(("row", cells, max(c.height for c in cells) + self.mm(2 * pad_y)))
        head_h = measure_header()
        first = sum(h for _, _, h in laid[:keep_rows])
        if title:
            self.heading(title, keep=head_h + first)
        self.need(head_h + first)
        header()
        stripe = 0
        for kind, content, h in laid:
            if self.need(h):
                if title_again:
                    self.heading(title_again, keep=head_h + h)
                header()
            y = self.y
            if kind == "group":
                def op(p, t=content, y=y, h=h):
                    t.draw(p, self.mm(LEFT + pad_x), y + self.mm(pad_y + 0.8), INK)
                    p.setPen(QPen(RULE, self.mm(0.2)))
                    p.drawLine(QPointF(self.mm(LEFT), y + h), QPointF(self.mm(RIGHT), y + h))
                stripe = 0
            else:
                shade = stripe % 2 == 1
                stripe += 1

                def op(p, cells=content, y=y, h=h, shade=shade):
                    if shade:
                        p.fillRect(QRectF(self.mm(LEFT), y, self.mm(WIDTH), h), BAND)
                    for c, x in zip(cells, xs):
                        c.draw(p, self.mm(x + pad_x), y + self.mm(pad_y), TEXT)
                    p.setPen(QPen(HAIRLINE, self.mm(0.15)))
                    p.drawLine(QPointF(self.mm(LEFT), y + h), QPointF(self.mm(RIGHT), y + h))
            self.draw(op)
            self.y += h


# --------------------------------------------------------------------------- the SUD/VOC plot


def _plot(doc: _Doc, points: list[tuple], height_mm: float = 56.0) -> None:
    """SUD (0-10, left axis, dark line, filled circles) and VOC (1-7, right axis, accent, dashed, open
    squares) across the sets; each target's starting values from its assessment before its first set."""
    y0 = doc.y
    k = doc.mm
    legend_h = 6.0
    area = QRectF(k(LEFT + 13.0), y0 + k(legend_h + 3.0), k(WIDTH - 26.0), k(height_mm - legend_h - 13.0))
    xs = [p[1] for p in points]
    x_max = max([1.0] + [float(x) for x in xs]) + 0.35  # no point sits on an axis
    x_min = -0.35

    def px(x):
        return area.left() + (float(x) - x_min) / (x_max - x_min) * area.width() if x_max > x_min else area.center().x()

    def py_sud(v):
        return area.bottom() - v / 10.0 * area.height()

    def py_voc(v):
        return area.bottom() - (v - 1) / 6.0 * area.height()

    small = doc.font(7.0)
    tiny = doc.font(6.5)
    labels = []
    for v in range(0, 11, 2):
        t = doc.text(str(v), small, 8.0, "r")
        labels.append((t, area.left() - k(10.2), py_sud(v) - t.height / 2))
    for v in range(1, 8):
        t = doc.text(str(v), small, 8.0, "l")
        labels.append((t, area.right() + k(2.0), py_voc(v) - t.height / 2))
    step = 1 if x_max <= 20 else (2 if x_max <= 40 else 5)
    x_ticks = list(range(0, int(x_max - 0.35) + 1, step))
    for n in x_ticks:
        t = doc.text(str(n), small, 8.0, "c")
        labels.append((t, px(n) - k(4.0), area.bottom() + k(1.2)))
    axis_sud = doc.text("SUD", doc.font(7.5, QFont.Bold), 12.0, "r")
    axis_voc = doc.text("VOC", doc.font(7.5, QFont.Bold), 12.0, "l")
    caption = doc.text("Set (0: the target's values at assessment, before the first set)", small, WIDTH - 26.0, "c")
    leg_sud = doc.text("SUD, 0 (no disturbance) to 10 (worst), left axis", small, 70.0)
    leg_voc = doc.text("VOC, 1 (completely false) to 7 (completely true), right axis", small, 80.0)
    targets = sorted({p[0] for p in points if p[0] is not None})
    starts = [(p[0], p[1]) for p in points if p[4] is None and p[1] > 0]
    start_labels = [(doc.text(f"Target {n}", tiny, 20.0), x) for n, x in starts]
    value_labels = []
    if len(points) <= 24:
        for p in points:
            if p[2] is not None:
                value_labels.append((doc.text(str(p[2]), tiny, 6.0, "c"), px(p[1]), py_sud(p[2])))

    def series(p: QPainter, idx: int, to_y, pen: QPen, marker: str) -> None:
        for t in targets or [None]:
            pts = [QPointF(px(q[1]), to_y(q[idx])) for q in points if q[idx] is not None and q[0] == t]
            if len(pts) > 1:
                path = QPainterPath(pts[0])
                for q in pts[1:]:
                    path.lineTo(q)
                p.setPen(pen)
                p.setBrush(Qt.NoBrush)
                p.drawPath(path)
            r = k(0.95)
            for q in pts:
                p.setPen(QPen(pen.color(), k(0.3)))
                if marker == "circle":
                    p.setBrush(pen.color())
                    p.drawEllipse(q, r, r)
                else:
                    p.setBrush(QColor("white"))
                    p.drawRect(QRectF(q.x() - r, q.y() - r, 2 * r, 2 * r))

    def op(p: QPainter) -> None:
        p.setRenderHint(QPainter.Antialiasing, True)
        # legend
        ly = y0 + k(1.0)
        lx = k(LEFT + 13.0)
        p.setPen(QPen(INK, k(0.45)))
        p.drawLine(QPointF(lx, ly + leg_sud.height / 2), QPointF(lx + k(7.0), ly + leg_sud.height / 2))
        p.setBrush(INK)
        p.drawEllipse(QPointF(lx + k(3.5), ly + leg_sud.height / 2), k(0.95), k(0.95))
        leg_sud.draw(p, lx + k(9.0), ly, TEXT)
        lx2 = lx + k(9.0) + leg_sud.width + k(8.0)
        dash = QPen(ACCENT, k(0.45))
        dash.setDashPattern([4.0, 2.5])
        p.setPen(dash)
        p.drawLine(QPointF(lx2, ly + leg_voc.height / 2), QPointF(lx2 + k(7.0), ly + leg_voc.height / 2))
        p.setPen(QPen(ACCENT, k(0.3)))
        p.setBrush(QColor("white"))
        r = k(0.95)
        p.drawRect(QRectF(lx2 + k(3.5) - r, ly + leg_voc.height / 2 - r, 2 * r, 2 * r))
        leg_voc.draw(p, lx2 + k(9.0), ly, TEXT)
        # grid and frame
        p.setBrush(Qt.NoBrush)
        for v in range(0, 11, 2):
            p.setPen(QPen(HAIRLINE if v else RULE, k(0.15 if v else 0.25)))
            p.drawLine(QPointF(area.left(), py_sud(v)), QPointF(area.right(), py_sud(v)))
        p.setPen(QPen(RULE, k(0.25)))
        p.drawLine(area.topLeft(), area.bottomLeft())
        p.drawLine(area.topRight(), area.bottomRight())
        for n in x_ticks:
            p.drawLine(QPointF(px(n), area.bottom()), QPointF(px(n), area.bottom() + k(0.8)))
        for (t, x), (_n, _x) in zip(start_labels, starts):
            sep = QPen(RULE, k(0.25))
            sep.setDashPattern([2.0, 2.0])
            p.setPen(sep)
            p.drawLine(QPointF(px(x), area.top()), QPointF(px(x), area.bottom()))
            t.draw(p, px(x) + k(0.8), area.top() + k(0.3), MUTED)
        for t, x, y in labels:
            t.draw(p, x, y, MUTED)
        axis_sud.draw(p, area.left() - k(13.5), area.top() - axis_sud.height - k(1.0), INK)
        axis_voc.draw(p, area.right() + k(1.5), area.top() - axis_voc.height - k(1.0), ACCENT)
        caption.draw(p, area.left(), area.bottom() + k(5.0), MUTED)
        # the series: VOC under SUD
        voc_pen = QPen(ACCENT, k(0.45))
        voc_pen.setDashPattern([4.0, 2.5])
        series(p, 3, py_voc, voc_pen, "square")
        series(p, 2, py_sud, QPen(INK, k(0.5)), "circle")
        for t, x, y in value_labels:
            t.draw(p, x - k(3.0), y - t.height - k(1.0), INK)
        p.setRenderHint(QPainter.Antialiasing, False)

    doc.draw(op)
    doc.y += k(height_mm)


# --------------------------------------------------------------------------- the document


def _layout(doc: _Doc, session: dict) -> None:
    s = session
    sets = s.get("sets") or []
    k = doc.mm
    # title block
    title = doc.text("EMDR session record", doc.font(18.0, QFont.DemiBold), WIDTH * 0.62)
    client = doc.text(f"Client {s.get('client_code') or ex.EMPTY}", doc.font(13.0, QFont.DemiBold), WIDTH * 0.38, "r")
    when = ex.long_day(s.get("started_at")) or "date not recorded"
    start, end = ex.clock(s.get("started_at"), False), ex.clock(s.get("ended_at"), False)
    span = f"{start}–{end}" if end else f"from {start} (in progress)"
    sub = doc.text(f"{when} · {span}", doc.font(10.0), WIDTH * 0.7)
    y = doc.y
    rule_y = y + max(title.height, client.height) + sub.height + k(2.4)

    def op(p):
        title.draw(p, k(LEFT), y, INK)
        client.draw(p, k(LEFT + WIDTH * 0.62), y + (title.height - client.height) * 0.6, INK)
        sub.draw(p, k(LEFT), y + title.height + k(0.4), MUTED)
        p.setPen(QPen(ACCENT, k(0.6)))
        p.drawLine(QPointF(k(LEFT), rule_y), QPointF(k(RIGHT), rule_y))
    doc.draw(op)
    doc.y = rule_y + k(5.0)

    # the session
    n_gentle = sum(1 for x in sets if x.get("gentle"))
    dur = ex.duration(s.get("started_at"), s.get("ended_at"))
    doc.heading("Session", keep=k(20.0))
    doc.grid([
        ("Client code", s.get("client_code") or ex.EMPTY),
        ("Date", ex.day(s.get("started_at")) or ex.EMPTY),
        ("Local time", (f"{ex.clock(s.get('started_at'))}–{ex.clock(s.get('ended_at'))}" if s.get("ended_at")
                        else f"from {ex.clock(s.get('started_at')) or ex.EMPTY} (in progress)")
         + (f" ({ex.utc_offset(s.get('started_at'))})" if ex.utc_offset(s.get("started_at")) else "")),
        ("Duration", dur or ("in progress" if not s.get("ended_at") else ex.EMPTY)),
        ("Sets", f"{len(sets)}" + ("" if not n_gentle else " (all in gentle mode)" if n_gentle == len(sets)
                                   else f" ({n_gentle} in gentle mode)")),
        ("Recorded with", f"bls {s.get('app_version')}" if s.get("app_version") else ex.EMPTY),
    ])
    ident = f"Session {s['id']} in the record database" if s.get("id") is not None \
        else "The session as it runs (exported before it ended)"
    doc.paragraph(f"{ident} · session uid {s.get('uid') or ex.EMPTY}", size=7.5)
    doc.gap(5.0)

    # the target(s)
    targets = s.get("targets") or []
    labels = dict(TARGET_LABELS, nc="Negative cognition (NC)", pc="Positive cognition (PC)",
                  voc="VOC at assessment (1–7)", sud="SUD at assessment (0–10)")
    if not targets:
        doc.heading("Target", keep=k(8.0))
        doc.paragraph("No target was recorded for this session.", size=9.0)
        doc.gap(5.0)
    for t in targets:
        name = "Target" if len(targets) == 1 else f"Target {t.get('n')}"
        first = [x.get("n") for x in sets if x.get("target_n") == t.get("n")]
        if len(targets) > 1:
            name += f" (sets {min(first)}–{max(first)})" if first else " (no sets)"
        doc.heading(name, keep=k(12.0))
        pairs = []
        for key in ("image", "nc", "pc", "voc", "emotions", "sud", "body"):
            v = t.get(key)
            pairs.append((labels[key], _or_empty(ex.number(v) if key in ("voc", "sud") else v)))
        doc.field_rows(pairs)
        doc.gap(4.0)

    # medicine
    med = s.get("medicine") or []
    doc.heading("Medicine", keep=k(10.0))
    if med:
        rows = []
        for m in med:
            at = ex.time_in_session(m.get("taken_at"), s.get("started_at"))
            rel = _relative(m.get("taken_at"), s.get("started_at"))
            rows.append([(f"{at} ({rel})" if rel else at) or ex.EMPTY, _or_empty(m.get("route")),
                         _or_empty(m.get("dose"))])
        doc.table([("Taken at", 70.0, "l"), ("Route", 40.0, "l"), ("Dose", 0.0, "l")], rows, size=8.5)
        doc.gap(1.5)
        doc.paragraph("As recorded by the therapist; bls records the time, route and dose as given and does not "
                      "advise on medicine. “Min since medicine” in the sets counts from the latest mark before "
                      "each set.", size=7.5)
    else:
        doc.paragraph("No medicine was marked in this session.", size=9.0)
    doc.gap(5.0)

    # the SUD/VOC course
    points = ex.trend(s)
    has = any(p[2] is not None or p[3] is not None for p in points)
    doc.heading("SUD and VOC across the sets", keep=k(56.0 if has else 8.0))
    if has:
        _plot(doc, points)
    else:
        doc.paragraph("No SUD or VOC was entered in this session.", size=9.0)
    doc.gap(4.0)

    # the sets
    if not sets:
        doc.heading("Sets", keep=k(8.0))
        doc.paragraph("No set was run in this session.", size=9.0)
        return
    rows = []
    current = object()
    for x in sets:
        if len(targets) > 1 and x.get("target_n") != current:
            current = x.get("target_n")
            t = ex.target_of(s, current) or {}
            rows.append(("group", f"Target {current if current is not None else ex.EMPTY}"
                         + (f": {t.get('image')}" if t.get("image") else "")))
        rows.append(_set_cells(x, s.get("started_at")))
    doc.table(list(TABLE), rows, title="Sets", title_again="Sets (continued)", keep_rows=2)


def pdf_bytes(session: dict, generated: _dt.datetime | None = None) -> tuple[bytes, int]:
    """The report as PDF bytes, and its number of pages."""
    if not isinstance(session, dict):
        raise ex.ExportError("not a session record")
    ensure_gui_app()
    generated = generated or _dt.datetime.now().astimezone()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.WriteOnly)
    writer = QPdfWriter(buf)
    writer.setResolution(RESOLUTION)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.A4), QPageLayout.Portrait, QMarginsF(0, 0, 0, 0),
                                     QPageLayout.Millimeter))
    day = ex.day(session.get("started_at"))
    writer.setTitle(f"EMDR session record {session.get('client_code') or ''} {day}".replace("  ", " ").strip())
    writer.setCreator(f"bls {__version__}")
    doc = _Doc(writer, session, generated)
    _layout(doc, session)
    pages = doc.pages
    painter = QPainter()
    if not painter.begin(writer):
        raise ReportError("Qt could not start drawing the PDF")
    try:
        for i, ops in enumerate(pages):
            if i:
                writer.newPage()
            for op in ops:
                op(painter)
            doc.footer(painter, i + 1, len(pages))
    finally:
        painter.end()
    buf.close()
    return bytes(data.data()), len(pages)


def write_pdf(session: dict, path: str | os.PathLike, generated: _dt.datetime | None = None) -> int:
    """Write the session report to ``path`` (A4 PDF), atomically and readable by the user only (0600);
    returns the number of pages. Only a regular file is ever replaced (a link, a folder or a device there
    is refused with :class:`bls.core.atomic.WriteRefused`, before anything is drawn)."""
    from ..core.atomic import check_target

    check_target(path)
    data, pages = pdf_bytes(session, generated)
    atomic_write(path, data, private=True, mode=ex.PRIVATE_MODE, make_dirs=False)
    return pages


__all__ = ["ReportError", "ensure_gui_app", "pdf_bytes", "write_pdf"]
