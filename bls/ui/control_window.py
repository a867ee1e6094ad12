"""The therapist's control window: run sets, tune the stimulus, see what the client sees."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence, QPainter
from PySide6.QtWidgets import (QAbstractSpinBox, QApplication, QCheckBox, QColorDialog, QComboBox, QDoubleSpinBox,
                               QFileDialog, QFrame, QGridLayout,
                               QHBoxLayout, QLabel, QMainWindow, QMessageBox, QPushButton, QScrollArea, QSizePolicy,
                               QSlider, QSpinBox, QStackedWidget, QTabWidget, QVBoxLayout, QWidget)

from ..core import gentle
from ..core.engine import CHECK, GLIDING, IDLE, PAUSED, RUNNING, STOPPING, FrameSample, Status
from ..core.motion import speed_labels
from ..core.preset import SPEED_MAX, SPEED_MIN, Preset
from ..core.tone import CARRIER_MAX_HZ, CARRIER_MIN_HZ, LEVEL_CAP_DBFS, LEVEL_FLOOR_DBFS, TONE_LABELS
from ..core.tone import PAN_MODE_LABELS
from ..session.clinical import VOC_WINDOW_S
from .audio_delay import AudioDelaySection
from .clinical_widgets import ElidedLabel, hint_label as _hint
from .entry_keys import EntryKeyRouter
from .entry_strip import EntryStrip, entry_lines, pending_entry
from .headphones import HeadphoneChecks
from .preset_panel import PresetPanel
from .remote_panel import RemotePanel
from .screen_geometry import WIDEST_SIZE, WIDEST_SWEEP, ScreenGeometryFields, angle_note, fit_readout, size_text, sweep_text
from .session_panel import SessionPanel
from .stimulus_painter import paint_stimulus
from . import style

HITCH_TIP = ("A hitch is a moment the client's screen showed the same picture twice (a dropped frame): the target "
             "paused for one refresh. A few in a set go unnoticed; many mean the computer is busy: close other "
             "programs.")

PATH_LABELS = {"horizontal": "Horizontal", "vertical": "Vertical", "diagonal_up": "Diagonal ↗",
               "diagonal_down": "Diagonal ↘"}
PROFILE_LABELS = {"sinusoidal": "Smooth swing", "linear": "Even speed"}
MODE_LABELS = {"passes": "Passes", "seconds": "Seconds", "free": "Free run"}
STATE_LABELS = {IDLE: "Ready", RUNNING: "Running", PAUSED: "Paused", STOPPING: "Ending set…",
                GLIDING: "Ending set…", CHECK: "Headphone check"}
SESSION_TAB, DISPLAY_TAB = 0, 1

STORE_WARNING = ("The clinical record is not being saved: {why}. Sets still run; entries are kept and saved when "
                 "this clears.")


def _card(title: str) -> tuple[QFrame, QVBoxLayout]:
    frame = QFrame()
    frame.setObjectName("card")
    lay = QVBoxLayout(frame)
    lay.setContentsMargins(12, 10, 12, 12)
    lay.setSpacing(8)
    label = QLabel(title.upper())
    label.setObjectName("cardTitle")
    lay.addWidget(label)
    return frame, lay


class LabeledSlider(QWidget):
    """A slider with its value shown in words beside it."""
    valueChanged = Signal(int)

    def __init__(self, lo: int, hi: int, fmt):
        super().__init__()
        self._fmt = fmt
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(lo, hi)
        self.label = QLabel()
        self.label.setObjectName("readout")
        self.label.setMinimumWidth(78)
        self.label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.label)
        self.slider.valueChanged.connect(self._changed)

    def _changed(self, v: int) -> None:
        self.label.setText(self._fmt(v))
        self.valueChanged.emit(v)

    def setValue(self, v: int) -> None:  # noqa: N802 - Qt naming
        self.slider.setValue(v)
        self.label.setText(self._fmt(self.slider.value()))

    def value(self) -> int:
        return self.slider.value()


class ColorButton(QPushButton):
    colorChanged = Signal(str)

    def __init__(self, title: str):
        super().__init__()
        self.setObjectName("swatch")
        self._title = title
        self._color = "#000000"
        self.clicked.connect(self._pick)

    def setColor(self, hexstr: str) -> None:  # noqa: N802 - Qt naming
        self._color = hexstr
        fg = "#ffffff" if QColor(hexstr).lightnessF() < 0.5 else "#1f2933"
        self.setText(hexstr)
        self.setStyleSheet(f"QPushButton#swatch {{ background: {hexstr}; color: {fg}; }}")

    def color(self) -> str:
        return self._color

    def _pick(self) -> None:
        c = QColorDialog.getColor(QColor(self._color), self, self._title)
        if c.isValid():
            self.setColor(c.name())
            self.colorChanged.emit(c.name())


#: how strongly the preview shows the target's look between sets (the client sees none)
IDLE_PREVIEW_OPACITY = 0.45


class Preview(QWidget):
    """A live mirror of the client display, drawn with the same paint function."""

    def __init__(self, session):
        super().__init__()
        self.session = session
        self.aspect = 16 / 9
        self.setMinimumSize(110, 62)  # a thumbnail: the window fits a 1280×720 screen
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.setInterval(33)
        self._timer.timeout.connect(self.update)
        self._timer.start()

    badge = ""  # what the client screen shows in its corner (mirrored, e.g. "GENTLE")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(480, 270)

    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        w, h = self.width(), self.height()
        if w / max(h, 1) > self.aspect:
            rw, rh = h * self.aspect, h
        else:
            rw, rh = w, w / self.aspect
        rect = QRectF((w - rw) / 2, (h - rh) / 2, rw, rh)
        now = time.monotonic()
        p.setClipRect(rect)
        sample = self.session.sample_at(now)
        idle = self.session.status.state == IDLE and sample.opacity <= 0.001
        if idle and self.session.settings.visual.show_target:
            # between sets the client screen is empty; the preview shows the target's look, faintly and
            # labelled, so changes to size, edge and colour can be judged before the set
            sample = FrameSample(sample.frame, 0.0, 0.0, 0.0, 0.0, IDLE_PREVIEW_OPACITY, sample.state, sample.look)
        paint_stimulus(p, rect, None, sample, badge=self.badge)
        p.setClipping(False)
        if idle:
            p.setPen(QColor(255, 255, 255, 110))  # on the client's background colour, in both themes
            box = rect.adjusted(10, 6, -10, -6)
            text = p.fontMetrics().elidedText("Between sets: client screen empty", Qt.ElideRight,
                                              int(box.width()))
            p.drawText(box, Qt.AlignLeft | Qt.AlignTop, text)
        p.setPen(QColor(style.current().frame))
        p.setBrush(Qt.NoBrush)
        p.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        p.end()


GENTLE_BADGE_TIP = ("Gentle mode: speed, level, panning, fades and the target's look stay inside locked limits; "
                    "going past one needs a confirmation.")


class _WheelGuard(QObject):
    """Swallows wheel events on a control that does not have the focus (click it first to use the
    wheel on it), so scrolling the window never changes a setting by accident."""

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 - Qt API
        if ev.type() == QEvent.Wheel and not obj.hasFocus():
            ev.ignore()  # not for this control: Qt passes it on to the column, which scrolls
            return True
        return False


class OutputCombo(QComboBox):
    """The audio outputs, listed afresh each time the list opens (headphones plugged in meanwhile).

    ``list_outputs()`` returns at once (the last list known; a new one is read in the background): for a
    few seconds after the list opens it is asked again, and a changed list is shown as it arrives.
    """

    FOLLOW_MS = 6500  # longer than the child process that lists the outputs may take
    FOLLOW_TICK_MS = 200

    def __init__(self, list_outputs: Callable[[], list[str]]):
        super().__init__()
        # a long device name ("HDA Intel PCH: ALC3246 Analog (hw:0,0)") is cut short, never widens the card
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(16)
        self.list_outputs = list_outputs
        self._shown: list[str] | None = None
        self._follow_until = 0.0
        self._follow = QTimer(self)
        self._follow.setInterval(self.FOLLOW_TICK_MS)
        self._follow.timeout.connect(self._follow_tick)
        self.setToolTip("Where the tone plays. Choosing an output again tries it again, e.g. after plugging "
                        "in headphones. A new output takes over between sets.")

    def refresh(self, current: str | None) -> None:
        self._fill(current, self.list_outputs())
        self._follow_until = time.monotonic() + self.FOLLOW_MS / 1000
        self._follow.start()

    def _fill(self, current: str | None, names: list[str]) -> None:
        self._shown = list(names)
        self.blockSignals(True)
        self.clear()
        self.addItem("System default output", None)
        for name in names:
            self.addItem(name, name)
        if current is not None and current not in names:
            self.addItem(f"{current}  (not connected)", current)
        self.setCurrentIndex(max(0, self.findData(current)))
        self.blockSignals(False)

    def _follow_tick(self) -> None:
        names = self.list_outputs()
        if names != self._shown:
            self._fill(self.currentData(), names)
        if time.monotonic() > self._follow_until:
            self._follow.stop()

    def showPopup(self) -> None:  # noqa: N802 - Qt API
        self.refresh(self.currentData())
        super().showPopup()


class _ResizeAware(QScrollArea):
    """A scroll area that says when its size, or what its content needs, changed (the settings reflow)."""
    resized = Signal()

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(ev)
        self.resized.emit()

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 - Qt API
        handled = super().eventFilter(obj, ev)  # the area's own filter on its widget (widgetResizable)
        if obj is self.widget() and ev.type() == QEvent.LayoutRequest:
            self.resized.emit()
        return handled


class ControlWindow(QMainWindow):
    presetChosen = Signal(str)
    clientScreenChosen = Signal(str)
    outputChosen = Signal(object)  # an output's name, or None for the system default
    quitRequested = Signal()  # Ctrl+Q or the window closed: the app ends the session
    themeChosen = Signal(str)  # "system", "light" or "dark"

    def __init__(self, session, library, screens: list[tuple[str, str]], client_screen: str | None,
                 loaded: str | None, list_outputs: Callable[[], list[str]] = lambda: []):
        super().__init__()
        self.session = session
        self.list_outputs = list_outputs
        self.library = library
        self._loading = False
        self.presets = PresetPanel(library, session, loaded)
        self.presets.loadRequested.connect(self.presetChosen)
        self.presets.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.setWindowTitle("bls — bilateral stimulation")  # the app's display name: said once (bls.app.identify)
        page = QWidget()
        page.setObjectName("page")
        page.setFocusPolicy(Qt.StrongFocus)  # holds the focus at start, so no field takes the keys
        self.setCentralWidget(page)
        outer = QHBoxLayout(page)
        outer.setContentsMargins(12, 10, 12, 10)
        outer.setSpacing(14)
        outer.addLayout(self._build_left(screens, client_screen), 5)
        outer.addWidget(self._build_right(), 7)
        self.add_headphones_section(AudioDelaySection(session))
        self.display_label = QLabel()
        self.display_label.setToolTip(HITCH_TIP)
        # permanent: a passing message (saved, restored ...) never hides or overlaps it
        self.statusBar().addPermanentWidget(self.display_label)
        self.theme_combo = QComboBox()  # the window's look: light, or dark for a dim room
        self.theme_combo.setObjectName("themeChoice")
        for key, label in style.THEME_CHOICES.items():
            self.theme_combo.addItem(label, key)
        self.theme_combo.setToolTip("How this window looks: light, dark for a dim room, or as the system is set. "
                                    "The client's screen keeps the preset's colours.")
        self.theme_combo.setFocusPolicy(Qt.NoFocus)
        self.theme_combo.activated.connect(lambda i: self.themeChosen.emit(self.theme_combo.itemData(i)))
        self.statusBar().addPermanentWidget(self.theme_combo)
        self.statusBar().setSizeGripEnabled(False)
        # one height whatever it shows (a message, the last set's dropped frames): the window never shifts
        self.statusBar().setFixedHeight(max(self.statusBar().fontMetrics().lineSpacing() + 8,
                                            self.theme_combo.sizeHint().height() + 2))
        self._clock = QTimer(self)
        self._clock.setInterval(100)
        self._clock.timeout.connect(self._tick)
        self._clock.start()
        self._count_is_last = False  # the counter shows the last set's passes (True) or the next set's
        self.load_settings(session.settings)
        self.show_status(session.status)
        self.show_audio(session.audio_status)
        session.statusChanged.connect(self.show_status)
        session.core.calibration_changed.connect(lambda _on: self.show_status(self.session.status))
        session.audioStatusChanged.connect(self.show_audio)
        session.settingsChanged.connect(self._settings_from_session)
        session.setFinished.connect(self._set_finished)
        session.questionOpened.connect(self.show_question)
        session.questionClosed.connect(self._question_closed)
        session.notice.connect(lambda text: self.statusBar().showMessage(text, 12000))
        session.recordState.connect(self.show_record_state)
        self.show_record_state(session.core.record.write_errors)
        self.question_box: QMessageBox | None = None
        # the clinician's record: entry keys from anywhere, the strip, the session page, the store's state
        self._voc_armed = 0  # > 0 while V waits for its digit (the number of the V that armed it)
        session.statusChanged.connect(self._entry_state)
        session.setFinished.connect(lambda _rec: self._hand_keys_back())
        session.clinicalChanged.connect(self._clinical_changed)
        session.noteRequested.connect(self.open_note)
        session.storeState.connect(self.show_store_state)
        self.entry_keys = EntryKeyRouter(self)
        self.entry_keys.keyed.connect(self._entry_keyed)
        self.entry_keys.install()
        self._refresh_entries()
        self.allow_close = False  # set by the app once the session has ended
        quit_action = QAction("Quit", self)
        # Ctrl+Q everywhere (the platform's own Quit key is empty on Windows and some desktops)
        keys = [QKeySequence("Ctrl+Q")] + [k for k in QKeySequence.keyBindings(QKeySequence.Quit)
                                          if not k.isEmpty() and k != QKeySequence("Ctrl+Q")]
        quit_action.setShortcuts(keys)
        quit_action.setShortcutContext(Qt.ApplicationShortcut)
        quit_action.triggered.connect(self.quitRequested)
        self.addAction(quit_action)
        self.quit_action = quit_action
        self.resize(1180, 700)
        # a wheel turned over the column (to scroll it) must never change a setting it passes over
        self._wheel_guard = _WheelGuard(self)
        for cls in (QComboBox, QAbstractSpinBox, QSlider):
            for w in self.findChildren(cls):
                if w.focusPolicy() == Qt.WheelFocus:
                    w.setFocusPolicy(Qt.StrongFocus)
                w.installEventFilter(self._wheel_guard)
        page.setFocus()

    # ------------------------------------------------------------------ layout

    def _build_left(self, screens, client_screen) -> QVBoxLayout:
        col = QVBoxLayout()
        col.setSpacing(12)
        card, lay = _card("Set")
        lay.setSpacing(6)
        top = QHBoxLayout()
        self.state_label = QLabel("Ready")
        self.state_label.setObjectName("state")
        top.addWidget(self.state_label)
        self.gentle_badge = QLabel("GENTLE")
        self.gentle_badge.setObjectName("badge")
        self.gentle_badge.setToolTip(GENTLE_BADGE_TIP)
        top.addWidget(self.gentle_badge, 0, Qt.AlignVCenter)
        top.addStretch(1)
        self.speed_now = QLabel()
        self.speed_now.setObjectName("readout")
        top.addWidget(self.speed_now)
        lay.addLayout(top)
        counts = QHBoxLayout()
        self.pass_label = QLabel("0")
        self.pass_label.setObjectName("bigCount")
        self.pass_of = _hint("passes")
        self.time_label = QLabel("0:00.0")
        self.time_label.setObjectName("bigTime")
        counts.addWidget(self.pass_label)
        counts.addWidget(self.pass_of, 0, Qt.AlignBottom)
        counts.addStretch(1)
        counts.addWidget(self.time_label)
        lay.addLayout(counts)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start  (Space)")
        self.start_button.setObjectName("primary")
        self.start_button.clicked.connect(self.session.toggle)
        self.stop_button = QPushButton("Stop  (Esc)")
        self.stop_button.setObjectName("secondary")
        self.stop_button.clicked.connect(lambda: self.session.stop("stopped"))
        for b in (self.start_button, self.stop_button):
            b.setFocusPolicy(Qt.NoFocus)
            b.setMinimumHeight(46)
        buttons.addWidget(self.start_button, 3)
        buttons.addWidget(self.stop_button, 2)
        lay.addLayout(buttons)
        # what the keys do after the set and what was entered: right under the buttons, where the eyes are
        self.entry_strip = EntryStrip(self.session.core.enter_note)
        self.entry_strip.noteClosed.connect(lambda _saved: self._keys_back())
        lay.addWidget(self.entry_strip)
        self.gentle_check = QCheckBox("Gentle mode (ketamine-assisted)")
        self.gentle_check.setToolTip("Slower, quieter, softer, with long fades and rests; the limits are locked "
                                     "and going past one asks first.")
        self.gentle_check.setFocusPolicy(Qt.NoFocus)
        self.gentle_check.toggled.connect(self._gentle_toggled)
        lay.addWidget(self.gentle_check)
        self.nothing_label = _hint()  # shown when neither the target nor the tone reaches the client
        self.nothing_label.setObjectName("notice")
        self.nothing_label.hide()
        lay.addWidget(self.nothing_label)
        # one line whatever it says (the keys, then the last set): the set's end moves nothing
        self.last_set = ElidedLabel("Space: start or pause · Esc: stop gently · ↑/↓: speed")
        self.last_set.setObjectName("hint")
        self.last_set.set_tip("Space starts or pauses a set; Esc ends it gently. ↑/↓ change speed. Presenter "
                              "clickers: Page Down starts or pauses, Page Up or B stops.")
        lay.addWidget(self.last_set)
        self.rest_label = ElidedLabel()  # one line whatever it says: the rest counting down moves nothing
        self.rest_label.setObjectName("hint")
        lay.addWidget(self.rest_label)
        self.record_label = _hint()  # shown while the session record cannot be written
        self.record_label.setObjectName("notice")
        self.record_label.hide()
        lay.addWidget(self.record_label)
        self.record_copy_button = QPushButton("Save the record elsewhere…")
        self.record_copy_button.setFocusPolicy(Qt.NoFocus)
        self.record_copy_button.clicked.connect(self.save_record_copy)
        self.record_copy_button.hide()
        lay.addWidget(self.record_copy_button, 0, Qt.AlignLeft)
        self.store_label = QLabel()  # shown while the clinical record database is not written
        self.store_label.setObjectName("storeWarning")
        self.store_label.setWordWrap(True)
        self.store_label.hide()
        lay.addWidget(self.store_label)
        lay.addStretch(1)  # room to spare goes below, never between the lines above
        self._resting = False  # a rest is being counted down (by the session, on the stimulus clock)
        col.addWidget(card)
        # below the set: the session's record and the client display, one at a time
        self.tabs = QTabWidget()
        self.tabs.tabBar().setFocusPolicy(Qt.NoFocus)
        self.session_panel = SessionPanel(self.session)
        self.session_panel.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.session_panel.keysBack.connect(self._keys_back)
        self.tabs.addTab(self.session_panel, "Session")
        self.tabs.setCornerWidget(self.session_panel.export_button, Qt.TopRightCorner)
        pcard = QWidget()
        play = QVBoxLayout(pcard)
        play.setContentsMargins(14, 6, 14, 6)  # tight: with the remote client's line it still fits 1280×720
        play.setSpacing(4)
        row = QHBoxLayout()
        row.addWidget(QLabel("Screen"))
        self.screen_combo = QComboBox()
        for name, label in screens:
            self.screen_combo.addItem(label, name)
        if client_screen is not None:
            i = self.screen_combo.findData(client_screen)
            if i >= 0:
                self.screen_combo.setCurrentIndex(i)
        self.screen_combo.activated.connect(lambda i: self.clientScreenChosen.emit(self.screen_combo.itemData(i)))
        row.addWidget(self.screen_combo, 1)
        play.addLayout(row)
        self.preview = Preview(self.session)
        play.addWidget(self.preview, 1)
        self.client_badge = QCheckBox("Show “GENTLE” on the client screen in gentle mode")
        self.client_badge.setFocusPolicy(Qt.NoFocus)
        play.addWidget(self.client_badge)
        self.geometry_fields = ScreenGeometryFields(self.session.core)  # size and distance: degrees
        self.geometry_fields.changed.connect(lambda: self._refresh_readouts(self.session.settings))
        play.addWidget(self.geometry_fields)
        self.screen_note = _hint()
        play.addWidget(self.screen_note)
        self.remote_panel = RemotePanel(self.session.core)  # the remote client (telehealth): its link, its state
        self.remote_panel.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        play.addWidget(self.remote_panel)
        self.tabs.addTab(pcard, "Client display")
        # the room's sound before the first set: each section (checks, the output's delay) adds itself
        # with add_headphones_section
        self.headphones_page = QWidget()
        self.headphones_layout = QVBoxLayout(self.headphones_page)
        self.headphones_layout.setContentsMargins(14, 10, 14, 10)
        self.headphones_layout.setSpacing(10)
        self.headphones_layout.addStretch(1)
        self.tabs.addTab(self.headphones_page, "Headphones")
        self.headphones = HeadphoneChecks(self.session)
        self.add_headphones_section(self.headphones)
        col.addWidget(self.tabs, 1)
        return col

    def add_headphones_section(self, widget: QWidget) -> None:
        """Add a section to the Headphones tab, below those already there."""
        self.headphones_layout.insertWidget(self.headphones_layout.count() - 1, widget)

    def _build_right(self) -> QScrollArea:
        body = QWidget()
        body.setObjectName("page")
        col = QVBoxLayout(body)
        col.setContentsMargins(0, 0, 6, 0)
        col.setSpacing(14)

        col.addWidget(self.presets)
        # below the preset, two columns side by side (Motion, Target | Sound, Timing): everything in view on
        # a 1280×720 screen; a narrow window (one screen shared with the client window) stacks them
        self._columns = QHBoxLayout()
        self._columns.setSpacing(14)
        self._stim_col, self._sound_col = QVBoxLayout(), QVBoxLayout()
        for sub in (self._stim_col, self._sound_col):
            sub.setSpacing(14)
            self._columns.addLayout(sub, 1)
        col.addLayout(self._columns)

        card, lay = _card("Motion")
        g = QGridLayout()
        g.setHorizontalSpacing(8)
        g.setVerticalSpacing(8)
        self.speed_spin = QDoubleSpinBox()
        self.speed_spin.setRange(SPEED_MIN, SPEED_MAX)
        self.speed_spin.setSingleStep(0.05)
        self.speed_spin.setDecimals(2)
        self.speed_spin.setSuffix(" cycles/s")
        self.speed_slider = QSlider(Qt.Horizontal)
        self.speed_slider.setRange(int(SPEED_MIN * 100), int(SPEED_MAX * 100))
        self.speed_readout = _hint()
        g.addWidget(QLabel("Speed"), 0, 0)
        g.addWidget(self.speed_slider, 0, 1)
        g.addWidget(self.speed_spin, 0, 2)
        g.addWidget(self.speed_readout, 1, 1, 1, 2)
        self.mode_combo = QComboBox()
        for k, v in MODE_LABELS.items():
            self.mode_combo.addItem(v, k)
        self.passes_spin = QSpinBox()
        self.passes_spin.setRange(1, 2000)
        self.passes_spin.setSuffix(" passes")
        self.seconds_spin = QDoubleSpinBox()
        self.seconds_spin.setRange(1, 3600)
        self.seconds_spin.setDecimals(0)
        self.seconds_spin.setSuffix(" s")
        self.length_stack = QStackedWidget()
        self.length_stack.addWidget(self.passes_spin)
        self.length_stack.addWidget(self.seconds_spin)
        self.length_stack.addWidget(QLabel("until you stop"))
        self.length_readout = _hint()
        g.addWidget(QLabel("Length"), 2, 0)
        g.addWidget(self.mode_combo, 2, 1)
        g.addWidget(self.length_stack, 2, 2)
        g.addWidget(self.length_readout, 3, 1, 1, 2)
        self.path_combo = QComboBox()
        for k, v in PATH_LABELS.items():
            self.path_combo.addItem(v, k)
        self.profile_combo = QComboBox()
        for k, v in PROFILE_LABELS.items():
            self.profile_combo.addItem(v, k)
        g.addWidget(QLabel("Path"), 4, 0)
        g.addWidget(self.path_combo, 4, 1)
        g.addWidget(self.profile_combo, 4, 2)
        self.sweep_slider = LabeledSlider(10, 100, lambda v: sweep_text(self.session.core, v))
        fit_readout(self.sweep_slider.label, WIDEST_SWEEP)
        g.addWidget(QLabel("Sweep"), 5, 0)
        g.addWidget(self.sweep_slider, 5, 1, 1, 2)
        self.angle_note = ElidedLabel()  # one line: a sweep the screen cannot show, or no degrees known
        self.angle_note.setObjectName("hint")
        g.addWidget(self.angle_note, 6, 1, 1, 2)
        g.setColumnStretch(1, 1)
        lay.addLayout(g)
        self._stim_col.addWidget(card)
        self.motion_card = card

        card, lay = _card("Target")
        g = QGridLayout()
        g.setHorizontalSpacing(8)
        self.size_slider = LabeledSlider(10, 300, lambda v: size_text(self.session.core, v / 10))
        fit_readout(self.size_slider.label, WIDEST_SIZE)
        self.soft_slider = LabeledSlider(0, 100, lambda v: f"{v} % soft")
        self.target_color = ColorButton("Target colour")
        self.bg_color = ColorButton("Background colour")
        g.addWidget(QLabel("Size"), 0, 0)
        g.addWidget(self.size_slider, 0, 1, 1, 3)
        g.addWidget(QLabel("Edge"), 1, 0)
        g.addWidget(self.soft_slider, 1, 1, 1, 3)
        g.addWidget(QLabel("Colour"), 2, 0)
        g.addWidget(self.target_color, 2, 1)
        g.addWidget(QLabel("Background"), 2, 2, Qt.AlignRight)
        g.addWidget(self.bg_color, 2, 3)
        self.show_target = QCheckBox("Show the target (off: sound only)")
        self.show_target.setToolTip("Off: the client's screen stays neutral, for sets with the eyes closed.")
        g.addWidget(self.show_target, 3, 0, 1, 4)
        g.setColumnStretch(1, 1)
        lay.addLayout(g)
        self._stim_col.addWidget(card)
        self.target_card = card

        card, lay = _card("Sound")
        g = QGridLayout()
        g.setHorizontalSpacing(8)
        self.audio_check = QCheckBox("Tone in headphones")
        self.tone_combo = QComboBox()
        for k, v in TONE_LABELS.items():
            self.tone_combo.addItem(v, k)
        self.carrier_spin = QSpinBox()
        self.carrier_spin.setRange(int(CARRIER_MIN_HZ), int(CARRIER_MAX_HZ))
        self.carrier_spin.setSingleStep(10)
        self.carrier_spin.setSuffix(" Hz")
        self.level_slider = LabeledSlider(int(LEVEL_FLOOR_DBFS), int(LEVEL_CAP_DBFS), lambda v: f"{v} dBFS")
        self.depth_slider = LabeledSlider(0, 100, lambda v: f"{v} % pan")
        g.addWidget(self.audio_check, 0, 0, 1, 2)
        g.addWidget(QLabel("Tone"), 1, 0)
        g.addWidget(self.tone_combo, 1, 1)
        g.addWidget(self.carrier_spin, 1, 2)
        g.addWidget(QLabel("Level"), 2, 0)
        g.addWidget(self.level_slider, 2, 1, 1, 2)
        self.pan_mode = QComboBox()
        for mode, label in PAN_MODE_LABELS.items():
            self.pan_mode.addItem(label, mode)
        g.addWidget(QLabel("Pan"), 3, 0)
        g.addWidget(self.pan_mode, 3, 1, 1, 2)
        g.addWidget(self.depth_slider, 4, 1, 1, 2)
        self.output_combo = OutputCombo(self.list_outputs)
        self.output_combo.refresh(self.session.audio_device)
        self.output_combo.activated.connect(lambda i: self.outputChosen.emit(self.output_combo.itemData(i)))
        g.addWidget(QLabel("Output"), 5, 0)
        g.addWidget(self.output_combo, 5, 1, 1, 2)
        self.audio_label = QLabel()  # what the output is doing, next to where it is chosen
        self.audio_label.setWordWrap(True)
        g.addWidget(self.audio_label, 6, 0, 1, 3)
        level_hint = _hint(f"Level never exceeds {LEVEL_CAP_DBFS:.0f} dBFS. Start quiet and ask the client.")
        level_hint.setWordWrap(True)
        g.addWidget(level_hint, 7, 0, 1, 3)
        g.setColumnStretch(1, 1)
        lay.addLayout(g)
        self._sound_col.addWidget(card)
        self.sound_card = card

        card, lay = _card("Timing")
        g = QGridLayout()
        g.setHorizontalSpacing(8)
        self.fade_in = QDoubleSpinBox()
        self.fade_out = QDoubleSpinBox()
        for w in (self.fade_in, self.fade_out):
            w.setRange(0.05, 30.0)
            w.setSingleStep(0.5)
            w.setDecimals(1)
            w.setSuffix(" s")
        self.rest = QDoubleSpinBox()
        self.rest.setRange(0, 600)
        self.rest.setDecimals(0)
        self.rest.setSingleStep(5)
        self.rest.setSuffix(" s")
        g.addWidget(QLabel("Fade in"), 0, 0)
        g.addWidget(self.fade_in, 0, 1)
        g.addWidget(QLabel("Fade out"), 0, 2)
        g.addWidget(self.fade_out, 0, 3)
        g.addWidget(QLabel("Rest between sets"), 1, 0, 1, 2)
        g.addWidget(self.rest, 1, 3)
        lay.addLayout(g)
        self._sound_col.addWidget(card)
        self.timing_card = card
        for sub in (self._stim_col, self._sound_col):
            sub.addStretch(1)
        col.addStretch(1)

        for w in (self.speed_spin, self.passes_spin, self.seconds_spin, self.carrier_spin, self.fade_in,
                  self.fade_out, self.rest):
            w.valueChanged.connect(self._edited)
        self.speed_slider.valueChanged.connect(lambda v: self.speed_spin.setValue(v / 100.0))
        for w in (self.mode_combo, self.path_combo, self.profile_combo, self.tone_combo, self.pan_mode):
            w.currentIndexChanged.connect(self._edited)
        for w in (self.sweep_slider, self.size_slider, self.soft_slider, self.level_slider, self.depth_slider):
            w.valueChanged.connect(self._edited)
        self.target_color.colorChanged.connect(self._edited)
        self.bg_color.colorChanged.connect(self._edited)
        self.audio_check.toggled.connect(self._edited)
        self.show_target.toggled.connect(self._edited)
        self._held_back = False  # a drag past a gentle limit waits for the release to ask, once
        self._sliders = [self.speed_slider] + [w.slider for w in (self.sweep_slider, self.size_slider,
                                                                  self.soft_slider, self.level_slider, self.depth_slider)]
        for sl in self._sliders:
            sl.sliderReleased.connect(self._slider_released)

        scroll = _ResizeAware()
        scroll.resized.connect(self._reflow)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        scroll.setMinimumWidth(430)
        self.settings_scroll = scroll
        self._stacked = False
        return scroll

    def _reflow(self) -> None:
        """Motion and Target beside Sound and Timing when there is room for both, else one above the other
        (scrolled): a window sharing one screen with the client window is narrow."""
        cards = (self.motion_card, self.target_card, self.sound_card, self.timing_card)
        right_margin = self.settings_scroll.widget().layout().contentsMargins().right()
        need = 2 * max(c.minimumSizeHint().width() for c in cards) + self._columns.spacing() + right_margin
        # the width without a scroll bar: side by side, nothing needs scrolling
        stacked = self.settings_scroll.width() - 2 * self.settings_scroll.frameWidth() < need
        if stacked == self._stacked:
            return
        self._stacked = stacked
        self._columns.setStretch(1, 0 if stacked else 1)
        for card in (self.sound_card, self.timing_card):
            (self._sound_col if stacked else self._stim_col).removeWidget(card)
        target = self._stim_col if stacked else self._sound_col
        for card in (self.sound_card, self.timing_card):
            target.insertWidget(target.count() - 1, card)


    # ------------------------------------------------------------------ settings <-> widgets

    def load_settings(self, p: Preset) -> None:
        """Show a preset's values in the controls (without echoing them back as edits)."""
        self._loading = True
        try:
            m, v, a = p.motion, p.visual, p.audio
            self.speed_spin.setValue(m.speed_cycles_per_s)
            self.speed_slider.setValue(int(round(m.speed_cycles_per_s * 100)))
            self.mode_combo.setCurrentIndex(self.mode_combo.findData(m.set_mode))
            self.passes_spin.setValue(m.set_passes)
            self.seconds_spin.setValue(m.set_seconds)
            self.path_combo.setCurrentIndex(self.path_combo.findData(m.path))
            self.profile_combo.setCurrentIndex(self.profile_combo.findData(m.profile))
            self.sweep_slider.setValue(int(round(m.sweep_width_pct)))
            self.size_slider.setValue(int(round(v.target_diameter_pct * 10)))
            self.soft_slider.setValue(int(round(v.target_softness_pct)))
            self.target_color.setColor(v.target_color)
            self.bg_color.setColor(v.background_color)
            self.audio_check.setChecked(a.enabled)
            self.tone_combo.setCurrentIndex(self.tone_combo.findData(a.tone))
            self.carrier_spin.setValue(int(round(a.carrier_hz)))
            self.level_slider.setValue(int(round(a.level_dbfs)))
            self.depth_slider.setValue(int(round(a.pan_depth_pct)))
            self.gentle_check.setChecked(p.gentle)
            self.pan_mode.setCurrentIndex(self.pan_mode.findData(a.pan_mode))
            self.show_target.setChecked(v.show_target)
            t = p.timing
            self.fade_in.setValue(t.fade_in_s)
            self.fade_out.setValue(t.fade_out_s)
            self.rest.setValue(t.rest_s)
        finally:
            self._loading = False
        self._refresh_readouts(p)

    def settings_from_widgets(self) -> Preset:
        """The live settings as the controls show them.

        A control shows a value rounded to its step; where it still shows the current setting, the
        setting is kept exactly, so touching one control never rounds the others (a preset made by
        hand with 0.05 s fades or a 442.5 Hz carrier stays exactly that).
        """
        p = self.session.settings
        m, v, a, t = p.motion, p.visual, p.audio, p.timing

        def keep(current: float, shown: float, step: float) -> float:
            return current if abs(current - shown) <= step / 2 + 1e-9 else float(shown)

        p = p.with_("motion", speed_cycles_per_s=keep(m.speed_cycles_per_s, round(self.speed_spin.value(), 4), 0.01),
                    set_mode=self.mode_combo.currentData(), set_passes=self.passes_spin.value(),
                    set_seconds=keep(m.set_seconds, self.seconds_spin.value(), 1.0),
                    path=self.path_combo.currentData(), profile=self.profile_combo.currentData(),
                    sweep_width_pct=keep(m.sweep_width_pct, self.sweep_slider.value(), 1.0))
        p = p.with_("timing", fade_in_s=keep(t.fade_in_s, self.fade_in.value(), 0.1),
                    fade_out_s=keep(t.fade_out_s, self.fade_out.value(), 0.1),
                    rest_s=keep(t.rest_s, self.rest.value(), 1.0))
        p = p.with_("visual", show_target=self.show_target.isChecked(),
                    target_diameter_pct=keep(v.target_diameter_pct, self.size_slider.value() / 10.0, 0.1),
                    target_softness_pct=keep(v.target_softness_pct, self.soft_slider.value(), 1.0),
                    target_color=self.target_color.color(), background_color=self.bg_color.color())
        return p.with_("audio", enabled=self.audio_check.isChecked(), tone=self.tone_combo.currentData(),
                       carrier_hz=keep(a.carrier_hz, self.carrier_spin.value(), 1.0),
                       level_dbfs=keep(a.level_dbfs, self.level_slider.value(), 1.0),
                       pan_depth_pct=keep(a.pan_depth_pct, self.depth_slider.value(), 1.0),
                       pan_mode=self.pan_mode.currentData())

    def _gentle_toggled(self, on: bool) -> None:
        if self._loading:
            return
        self.session.set_gentle(on)  # the session decides: leaving gentle mode asks first

    def show_question(self, q) -> None:
        """A question from the session (unlock, leave gentle mode, cut a rest short): a warning that
        needs a deliberate yes, the safe answer the default. It does not block: the set runs on, and
        a stop key stops it whatever is open (the session closes the question with its safe answer)."""
        self._drop_question_box()
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Warning)
        box.setWindowTitle(q.title)
        box.setText(q.text)
        # the limits (or values) named as a list; the last line says what happens
        bullets = "\n".join(f"• {d}" for d in q.details[:-1])
        box.setInformativeText("\n\n".join(filter(None, (bullets, *q.details[-1:]))))
        box.yes_button = box.addButton(q.yes, QMessageBox.DestructiveRole)
        box.no_button = box.addButton(q.no, QMessageBox.RejectRole)
        box.setDefaultButton(box.no_button)
        box.setEscapeButton(box.no_button)
        box.question = q
        box.buttonClicked.connect(lambda b, box=box: self._answered(box, b is box.yes_button))
        box.rejected.connect(lambda box=box: self._answered(box, False))
        self.question_box = box
        box.open()

    def _answered(self, box, yes: bool) -> None:
        if box is not self.question_box:
            return  # already closed by the session (a stop, a newer question)
        self.question_box = None
        if self.session.question is box.question:
            self.session.answer(yes)

    def _question_closed(self, q, yes: bool, why: str) -> None:
        if self.question_box is not None and self.question_box.question is q:
            self._drop_question_box()

    def _drop_question_box(self) -> None:
        box, self.question_box = self.question_box, None
        if box is not None:
            box.done(0)
            box.deleteLater()

    def showEvent(self, ev) -> None:  # noqa: N802 - Qt API
        super().showEvent(ev)
        # in front of the app's key filter (installed after this window was made): the note editor sees
        # Escape before the app stops the set with it
        self.entry_keys.install()

    def closeEvent(self, ev) -> None:  # noqa: N802 - Qt API
        """Closing the window ends the session (the app asks first if a set runs)."""
        if self.allow_close:
            ev.accept()
            return
        ev.ignore()
        self.quitRequested.emit()

    def _edited(self, *_) -> None:
        if self._loading:
            return
        self._loading = True
        self.speed_slider.setValue(int(round(self.speed_spin.value() * 100)))
        self._loading = False
        p = self.settings_from_widgets()
        if self._dragging() and gentle.beyond(p, self.session.unlocks):
            self._held_back = True  # past a gentle limit mid-drag: ask once, on release, for the final value
            return
        self.session.set_settings(p)

    def _dragging(self) -> bool:
        return any(sl.isSliderDown() for sl in self._sliders)

    def _slider_released(self) -> None:
        if self._held_back:
            self._held_back = False
            self._edited()

    def _settings_from_session(self, p: Preset) -> None:
        if self.session.status.state == IDLE:  # the counter now speaks of the next set
            self._count_is_last = False
            self._show_count(self.session.status)
        # changed elsewhere (keys, presets), or a question answered "no": the controls show what plays
        if self.settings_from_widgets() != p or self.gentle_check.isChecked() != p.gentle:
            self.load_settings(p)
        self._refresh_readouts(p)

    def _refresh_readouts(self, p: Preset) -> None:
        m = p.motion
        _, per_min, per_pass = speed_labels(m.speed_cycles_per_s)
        self.speed_readout.setText(f"{per_min}  ·  {per_pass}")
        self.length_stack.setCurrentIndex(("passes", "seconds", "free").index(m.set_mode))
        self.length_readout.setText(p.set_length_label())
        for sl in (self.sweep_slider, self.size_slider):  # their degrees follow the screen and the distance
            sl.setValue(sl.value())
        self.angle_note.setText(angle_note(self.session.core))
        self.presets.update_state()
        self.gentle_badge.setVisible(p.gentle)
        unlocked = sorted(self.session.unlocks) if p.gentle else []
        # what the therapist unlocked stays in view for as long as it holds
        said = ", ".join(unlocked) if len(unlocked) <= 2 else f"{len(unlocked)} limits"
        self.gentle_badge.setText("GENTLE" + (f" · {said} unlocked" if unlocked else ""))
        self.gentle_badge.setToolTip(GENTLE_BADGE_TIP + (f"\nUnlocked: {', '.join(unlocked)}." if unlocked else ""))
        self._warn_if_nothing_reaches_the_client()

    def _warn_if_nothing_reaches_the_client(self) -> None:
        p, audio = self.session.settings, self.session.audio_status
        if p.visual.show_target or (p.audio.enabled and audio.ok):
            self.nothing_label.hide()
            return
        silent, fix = (("there is no audio output", "choose an output under Sound") if p.audio.enabled
                       else ("the tone is off", "turn the tone on"))
        self.nothing_label.setText(f"Nothing reaches the client: the target is hidden and {silent}. "
                                   f"Show the target or {fix}.")
        self.nothing_label.show()

    # ------------------------------------------------------------------ status

    def show_status(self, st: Status) -> None:
        calibrating = st.state == IDLE and self.session.core.calibrating
        self.state_label.setText("Calibrating the delay" if calibrating else STATE_LABELS.get(st.state, st.state))
        self._show_count(st)
        self.start_button.setText({RUNNING: "Pause  (Space)", PAUSED: "Resume  (Space)"}.get(st.state, "Start  (Space)"))
        self.start_button.setEnabled(st.state in (IDLE, RUNNING, PAUSED, CHECK))
        self.stop_button.setEnabled(st.state in (RUNNING, PAUSED, CHECK) or calibrating)
        self.speed_now.setText(speed_labels(st.speed_cycles_per_s)[0] if st.state not in (IDLE, CHECK) else "")
        self._tick()

    def _show_count(self, st: Status) -> None:
        """The passes with the total they belong to: during a set, the set's; after it, the last set's
        (what it asked for) until the settings change; then the next set's, from 0 (never "24 of 12")."""
        m = self.session.settings.motion
        if st.state == IDLE and not self._count_is_last:
            n, total = 0, (m.set_passes if m.set_mode == "passes" else None)
        elif st.state == IDLE:
            n, total = st.passes, self.session.records[-1].get("passes_requested")
        else:
            n, total = st.passes, (m.set_passes if m.set_mode == "passes" else None)
        self.pass_label.setText(str(n))
        self.pass_of.setText(f"of {total} passes" if total else "passes")

    def _tick(self) -> None:
        e = self.session.status.elapsed_s
        self.time_label.setText(f"{int(e // 60)}:{e % 60:04.1f}")
        if self.session.status.state != IDLE:
            if self._resting or self.rest_label.text():
                self._resting = False  # the next set has started: the rest (or its "over" note) is history
                self.rest_label.setText("")
        elif self._resting:
            left = self.session.core.rest_remaining()  # counted by the session, on the stimulus clock
            if left > 0:
                secs = math.ceil(left)
                clock = f"{secs // 60}:{secs % 60:02d}"
                held = (" Starting earlier asks first (gentle mode)."
                        if self.session.settings.gentle and self.session.core.policy.rest_holds else "")
                self.rest_label.setText(f"Rest {clock} — the client screen stays neutral.{held}")
                self.start_button.setText(f"Start  (Space)  ·  rest {clock}")  # in view where the eyes are
            else:
                self._resting = False
                self.rest_label.setText("Rest over: ready for the next set.")
                self.start_button.setText("Start  (Space)")

    def _set_finished(self, rec: dict) -> None:
        self._count_is_last = True
        self._show_count(self.session.status)
        self._resting = self.session.core.rest_remaining() > 0  # counted down in _tick
        self.rest_label.setText("")
        why = {"complete": "complete", "time": "time reached", "stopped": "stopped", "quit": "ended at quit"}
        n = rec["passes_delivered"]
        self.last_set.setText(f"Set {rec['index']}: {n} pass{'' if n == 1 else 'es'} in "
                              f"{rec['seconds_delivered']:.1f} s ({why.get(rec['stop_reason'], rec['stop_reason'])}).")

    # ------------------------------------------------------------------ the clinician's record

    def _keys_back(self) -> None:
        """An entry is done (a note saved or cancelled, a form closed, the client code entered): the
        keyboard goes back to the set keys."""
        focus = QApplication.focusWidget()
        if focus is None or self.isAncestorOf(focus) or not focus.isVisible():
            self.centralWidget().setFocus(Qt.OtherFocusReason)

    def _hand_keys_back(self) -> None:
        """A set is ending: a number field used during the set lets go of the keyboard, so the SUD typed
        now is a SUD (a field clicked in the rest takes its digits again). Text being typed keeps it."""
        focus = QApplication.focusWidget()
        if isinstance(focus, QAbstractSpinBox) and self.isAncestorOf(focus):
            self.centralWidget().setFocus(Qt.OtherFocusReason)

    def _entry_state(self, st: Status) -> None:
        if st.state in (STOPPING, GLIDING):
            self._hand_keys_back()
        self._refresh_entries()

    def _refresh_entries(self) -> None:
        self.entry_strip.show_lines(*entry_lines(self.session.core, self._voc_armed > 0))

    def _clinical_changed(self, what: str) -> None:
        self._refresh_entries()
        self.session_panel.refresh()
        n = len(self.session.core.clinical.sets)
        self.tabs.setTabText(SESSION_TAB, f"Session · {n} set{'' if n == 1 else 's'}" if n else "Session")

    def _entry_keyed(self, name: str, outcome: str) -> None:
        if name == "V" and outcome == "asked":
            self._voc_armed += 1
            armed = self._voc_armed
            QTimer.singleShot(int(VOC_WINDOW_S * 1000), lambda: self._voc_expired(armed))
        else:
            self._voc_armed = 0
        self._refresh_entries()

    def _voc_expired(self, armed: int) -> None:
        if self._voc_armed == armed:
            self._voc_armed = 0
            self._refresh_entries()

    def open_note(self) -> None:
        """N: the one-line note for the set that just ended, in the entry strip (Enter saves it, Esc
        cancels it; a note already given is there to correct)."""
        core = self.session.core
        st = core.status
        if st.state in (STOPPING, GLIDING):
            n, note = st.set_index, pending_entry(core).get("note", "")
        elif core.clinical.sets:
            n, note = core.clinical.sets[-1]["n"], core.clinical.sets[-1].get("note", "")
        else:
            return  # the core asks for a note only when there is a set to go with
        self.entry_strip.open_note(f"set {n}", note or "")

    def show_store_state(self, problem: str) -> None:
        """Stays in view while the clinical record database is not written (sets run on; the record is
        kept in memory and in the session's JSON record meanwhile)."""
        if problem:
            self.store_label.setText(STORE_WARNING.format(why=problem.rstrip(".")))
        self.store_label.setVisible(bool(problem))

    def show_record_state(self, problems: list) -> None:
        """Stays in view while the record cannot be written (it is kept whole in memory meanwhile)."""
        copies = [str(p) for p in self.session.core.record.copies]
        if problems:
            self.record_label.setText("The session record cannot be written: " + "; ".join(problems)
                                      + ". It is kept in memory and written as soon as it can be."
                                      + (f" It is written to {', '.join(copies)} meanwhile." if copies else ""))
        self.record_label.setVisible(bool(problems))
        self.record_copy_button.setVisible(bool(problems))

    def ask_record_copy_path(self) -> str:
        path, _ = QFileDialog.getSaveFileName(self, "Save the session record", "session-record.json",
                                              "Session record (*.json)")
        return path

    def save_record_copy(self) -> None:
        """The therapist's way out when the record cannot be written: a copy where they choose, kept
        up to date after every set."""
        path = self.ask_record_copy_path()
        if not path:
            return
        problem = self.session.core.add_record_copy(path)
        if problem:
            QMessageBox.warning(self, "Save the session record", f"The record could not be written there: {problem}")
        else:
            self.statusBar().showMessage(f"The session record is written to {path} too, after every set.", 12000)
        self.show_record_state(self.session.core.record.write_errors)

    def show_audio(self, status) -> None:
        mark = "●" if status.ok else "○"
        self.audio_label.setText(f"{mark} {status.summary}")
        self.audio_label.setToolTip(status.detail)
        self._warn_if_nothing_reaches_the_client()

    def show_display_info(self, text: str, note: str = "") -> None:
        self.display_label.setText(text)
        self.screen_note.setText(note)
        self.screen_note.setObjectName("notice" if note else "hint")
        self.screen_note.style().polish(self.screen_note)
        # a note about the client's screen is flagged on its tab when another page is in front
        self.tabs.setTabText(DISPLAY_TAB, "Client display  ⚠" if note else "Client display")
        self.tabs.setTabToolTip(DISPLAY_TAB, note)

    def show_theme(self, choice: str) -> None:
        self.theme_combo.setCurrentIndex(max(0, self.theme_combo.findData(choice)))
        self.update()

    def set_preview_aspect(self, aspect: float) -> None:
        self.preview.aspect = aspect
        self.preview.update()
