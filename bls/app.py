"""Wiring: the session, the two windows, the client screen, the keys, UI state."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon, QKeyEvent, QScreen
from PySide6.QtWidgets import (QAbstractSpinBox, QApplication, QLineEdit, QMessageBox, QPlainTextEdit,
                               QTextEdit)

from .audio.output import OutputLister, settle_interpreter
from .core.engine import IDLE, PAUSED, RUNNING
from .core.library import PresetLibrary
from .core.paths import config_dir, records_dir
from .core.preset import Preset
from .core.atomic import check_target
from .core.uistate import UiState
from .platform.screen_sleep import sleep_inhibitor
from .platform.signals import CONSOLE_EVENT_BASE, signal_name, signal_watch
from .session.clocks import retire
from .session.record import default_record_path
from .session.store import RecordStore, default_db_path
from .ui.client_display import CLIENT_WINDOW_SHARE, create_client_display
from .ui.control_window import ControlWindow
from .ui.qt_session import Session
from .ui.style import THEME_CHOICES, apply_style

#: at quit, the running set's stop fade and glide home get this long before the windows close
QUIT_GLIDE_WAIT_S = 4.0
#: a second signal: the stop fade already under way gets at most this long to reach silence (the normal
#: stop fade is 0.15 s, so it usually does; a gentle one, 0.8 s, is cut short where it got to)
SIGNAL_FADE_WAIT_S = 0.25
#: a second signal: the fade to silence before the process exits (raised cosine: no click; within SIGNAL_FADE_WAIT_S)
SIGNAL_HURRY_FADE_S = 0.15  # the normal stop fade: a gentle 0.8 s one is shortened to it
#: a second signal: the audio stream gets this long to stop before the process exits regardless
SIGNAL_STREAM_WAIT_S = 0.3
#: a second signal: what was rendered ahead of the device (the ring's 100 ms) gets this long to be played
SIGNAL_DRAIN_WAIT_S = 0.3


def signal_exit_status(number: int) -> int:
    """The exit status of a session ended by a signal: 128 + its number, as a shell reports a process
    killed by it (SIGINT 130, SIGTERM 143, SIGHUP 129); Windows' console closed, logoff or shutdown: 129,
    like a POSIX terminal closed (SIGHUP)."""
    return 128 + (1 if number >= CONSOLE_EVENT_BASE else number)


def _silent_from_now(engine) -> bool:
    """Whether everything the engine renders from now on is silent: its stop fade (or fade-out) has
    reached zero at the frame the clock renders next."""
    fade = engine.history[-1].fade
    return fade.target == 0.0 and engine.next_frame >= fade.end


def screen_label(s: QScreen) -> str:
    g = s.geometry()
    return f"{s.name()}  ({g.width()}×{g.height()}, {s.refreshRate():.0f} Hz)"


def connected_screens() -> list[QScreen]:
    return list(QGuiApplication.screens())


def physical_size_mm(screen: QScreen) -> tuple[float, float]:
    """The size the system reports for ``screen`` (EDID; often 0 or wrong: the session core judges it)."""
    size = screen.physicalSize()
    return size.width(), size.height()


def screen_lines(screens: list[QScreen], primary: QScreen | None) -> list[str]:
    """One line per screen: its name (what --client-screen takes), then what it is."""
    lines = []
    for s in screens:
        g = s.geometry()
        mm = s.physicalSize()
        size = f", {mm.width():.0f} × {mm.height():.0f} mm" if mm.width() > 0 and mm.height() > 0 else ""
        main = ", the main screen" if s is primary else ""
        lines.append(f"{s.name()}\t{g.width()} × {g.height()} at {g.x()},{g.y()}, {s.refreshRate():.0f} Hz{size}{main}")
    return lines


def list_screens() -> int:
    """``bls --list-screens``: the connected screens by name; needs the desktop (a display)."""
    if (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))):
        print("bls: no desktop to ask for its screens (neither DISPLAY nor WAYLAND_DISPLAY is set); run this "
              "from the desktop where bls will run", file=sys.stderr)
        return 1
    qapp = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    for line in screen_lines(connected_screens(), qapp.primaryScreen()):
        print(line)
    print("(give a name with --client-screen NAME; without it bls picks a screen other than the main one)",
          file=sys.stderr)
    return 0


def plan_screens(preferred: str | None) -> tuple[QScreen, QScreen, bool, str]:
    """(client screen, therapist screen, client fullscreen?, note for the therapist).

    Screens are chosen by name, never by position in ``screens()``. The client display goes to the
    preferred screen if it is connected, else to a screen other than the primary one; the control
    window goes to the primary screen, or to another screen if the client took the primary.
    """
    screens = connected_screens()
    primary = QGuiApplication.primaryScreen()
    if primary not in screens:
        primary = screens[0]
    note = ""
    client = None
    if preferred:
        match = [s for s in screens if s.name() == preferred]
        if match:
            client = match[0]
        else:
            note = f"Screen “{preferred}” is not connected. "
    if client is None:
        others = [s for s in screens if s is not primary]
        client = others[0] if others else primary
        if note and others:
            note += f"Using “{client.name()}”."
    therapist = primary if client is not primary else next((s for s in screens if s is not client), primary)
    if client is therapist:
        return client, therapist, False, note + (
            "Only one screen is connected: the client display opens as a window here. "
            "Connect a second monitor for a fullscreen client display.")
    return client, therapist, True, note


TITLE = "bls — bilateral stimulation"
#: the app's icon: two soft dots on a line (packaging/make_icons.py renders the bundles' icons from it)
APP_ICON = Path(__file__).resolve().parent / "ui" / "assets" / "bls-icon.svg"


def hitches(n: int) -> str:
    """Dropped frames in words a therapist reads at a glance."""
    return "smooth motion" if n == 0 else f"{n} brief hitch{'' if n == 1 else 'es'} in the motion"


class BlsApp(QObject):
    def __init__(self, qapp: QApplication, preset: str | None = None, client_screen: str | None = None,
                 log: Path | None = None, audio_device=None, no_audio: bool = False, theme: str | None = None):
        super().__init__()
        self.qapp = qapp
        config_problem = ""
        try:
            config_dir().mkdir(parents=True, exist_ok=True)
        except (OSError, RuntimeError) as exc:  # a file in the way, a symlink loop, no permission
            why = getattr(exc, "strerror", None) or exc
            config_problem = (f"bls cannot use its settings folder {config_dir()} ({why}): it starts with its "
                              "defaults and the built-in presets; nothing is remembered.")
        self.ui_state = UiState(config_dir())
        # the control window's look: given, else as last chosen, else as the system's (dark follows it live)
        self.theme_choice = theme or self.ui_state.get("theme", "system", str)
        if self.theme_choice not in THEME_CHOICES:
            self.theme_choice = "system"
        apply_style(qapp, self.theme_choice)
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(self._system_look_changed)
        self.library = PresetLibrary()
        if preset is not None and preset not in self.library:
            raise KeyError(f"no preset named {preset!r}; available: {', '.join(self.library.names())}")
        name = preset or self.ui_state.get("last_preset", "standard", str)
        if name not in self.library:
            name = "standard"
        settings = self.library.get(name)
        if no_audio:
            settings = settings.with_("audio", enabled=False)
        audio_device = audio_device or os.environ.get("BLS_AUDIO_DEVICE") or self.ui_state.get("audio_device", None, str) or None
        # every session is recorded in the user's data folder; --log writes a copy there too. A folder
        # that cannot be made or written is told in the control window at the first write (at start)
        try:
            records_dir().mkdir(mode=0o700, parents=True, exist_ok=True)  # the user's only, as the database
        except OSError:
            pass
        record_path = default_record_path(records_dir())
        self.session = Session(settings, audio_device, record_path, [log] if log else [],
                               store=RecordStore(default_db_path(), probe=True))
        self.session.core.preset_name = name  # the library's name for it (twins are told apart)
        self.session.display_info = self.display_info
        self._quitting = False
        self._signalled = False
        #: the process's exit status: 0, or the status of the signal that ended the session
        self.exit_status = 0

        self._client_name = client_screen or self.ui_state.get("client_screen", None, str)
        self.screen, therapist, fullscreen, note = plan_screens(self._client_name)
        self._lost_screen: str | None = None  # the client's screen, while it is disconnected
        self.display = create_client_display(self.session, self.screen.refreshRate())
        self.session.checkChanged.connect(self._check_changed)
        screens = [(s.name(), screen_label(s)) for s in QGuiApplication.screens()]
        # the list is read afresh when it opens, by a short-lived child process on a thread of its own:
        # this thread (which also paints the client screen) never waits for PortAudio
        self.control = ControlWindow(self.session, self.library, screens, self.screen.name(), name,
                                     lambda lister=OutputLister(): lister.names())
        self.control.outputChosen.connect(self.choose_output)
        self.control.show_theme(self.theme_choice)
        self.control.themeChosen.connect(self.choose_theme)
        self.control.quitRequested.connect(self.request_quit)
        self.control.client_badge.setChecked(self.ui_state.get("client_badge", False, bool))
        self.control.client_badge.toggled.connect(self._client_badge_toggled)
        self.control.presetChosen.connect(self.load_preset)
        self.control.clientScreenChosen.connect(self.move_client)
        self.session.settingsChanged.connect(self._settings_changed)
        self._core_preset = name
        qapp.installEventFilter(self)
        QGuiApplication.instance().screenAdded.connect(self._screens_changed)
        QGuiApplication.instance().screenRemoved.connect(self._screens_changed)

        self._lay_out_control(therapist, self.screen)
        self.control.show()
        self._place(self.screen, fullscreen, note)
        self._update_badge()
        # the screens neither blank nor sleep while bls runs a session (released when it ends)
        self.sleep = sleep_inhibitor()
        held = self.sleep.inhibit("EMDR session running")
        self.session.core.event("screen_sleep", held=held, how=self.sleep.how)
        self._info_timer = QTimer(self)
        self._info_timer.setInterval(1000)
        self._info_timer.timeout.connect(self._show_info)
        self._info_timer.start()
        self._show_info()
        if config_problem or self.ui_state.problem:
            self.control.statusBar().showMessage(config_problem or self.ui_state.problem, 20000)
            if config_problem:
                print(f"bls: {config_problem}", file=sys.stderr)
        bad = sorted({Path(p.source).name for p in self.library.errors()})
        if bad:
            n, names = len(bad), ", ".join(bad[:3]) + (" …" if len(bad) > 3 else "")
            self.control.statusBar().showMessage(
                f"{n} preset file{'s' if n > 1 else ''} could not be loaded ({names}): see Preset for why.", 15000)

    # ------------------------------------------------------------------ screens

    def _lay_out_control(self, therapist: QScreen, client: QScreen) -> None:
        """The control window on the therapist's screen; beside the client window if they share it."""
        self.control.setScreen(therapist)
        ag = therapist.availableGeometry()
        w, h = min(1320, ag.width() - 40), min(900, ag.height() - 40)  # everything in view from 1280×720 up
        x = ag.x() + (ag.width() - w) // 2
        if therapist is client:
            # one screen: the control window to the left, as narrow as it can be beside the client
            # window (top right, CLIENT_WINDOW_SHARE of the width), so that stays in view
            beside = ag.width() - int(ag.width() * CLIENT_WINDOW_SHARE) - 60
            w = max(min(w, beside), min(self.control.minimumSizeHint().width(), ag.width() - 40))
            x = ag.x() + 20
        self.control.setGeometry(x, ag.y() + (ag.height() - h) // 2, w, h)

    def _place(self, screen: QScreen, fullscreen: bool, note: str) -> None:
        self.screen = screen
        self._fullscreen = fullscreen
        self.display.place(screen, fullscreen)
        g = self.display.geometry() if not fullscreen else screen.geometry()
        self.session.core.set_client_screen(screen.name(), screen.size().width(), screen.size().height(),
                                            physical_size_mm(screen), None if fullscreen else (g.width(), g.height()))
        self.control.set_preview_aspect(g.width() / max(1, g.height()))
        self._note = note
        self._show_info()
        self.control.raise_()
        self.control.activateWindow()

    def choose_theme(self, choice: str) -> None:
        """The therapist picked a look for the control window (kept for the next launch)."""
        self.theme_choice = choice if choice in THEME_CHOICES else "system"
        apply_style(self.qapp, self.theme_choice)
        self._remember("theme", self.theme_choice)
        self.control.show_theme(self.theme_choice)

    def _system_look_changed(self, *_args) -> None:
        if self.theme_choice == "system":
            apply_style(self.qapp, "system")
            self.control.update()

    def choose_output(self, device: str | None) -> None:
        """The therapist picked an audio output (or the same one again, to retry it)."""
        self._remember("audio_device", device or "")
        if not self.session.set_audio_device(device):
            self.control.statusBar().showMessage(
                f"The tone moves to “{device or 'the system default output'}” when this set ends.", 8000)

    def move_client(self, name: str) -> None:
        self._client_name = name
        self._remember("client_screen", name)
        screen, _, fullscreen, note = plan_screens(name)
        self._place(screen, fullscreen, note)

    def _screens_changed(self, *_args) -> None:
        """A monitor came or went. The client's screen gone: the set pauses with its fade and the client
        display moves onto a connected screen (never left where no screen is); back: it returns there
        and the therapist resumes."""
        names = [s.name() for s in connected_screens()]
        was = self.screen.name() if self._fullscreen else self._lost_screen
        moved = False  # the client's screen went or came back: the control window is laid out afresh
        if self._lost_screen is None and self._fullscreen and was not in names:
            self._lost_screen, moved = was, True
            self.session.core.screen_lost(was)
        elif self._lost_screen is not None and self._lost_screen in names:
            back, self._lost_screen, moved = self._lost_screen, None, True
            self.session.core.screen_back(back)
        screen, therapist, fullscreen, note = plan_screens(self._client_name)
        if not moved and (screen.name(), fullscreen) == (self.screen.name(), self._fullscreen):
            return  # another monitor came or went: the client display stays as it is, mid-set too
        if self._lost_screen is not None:
            # this note alone: the plan's ("not connected", "opens as a window here") only said it again
            where = f"is on “{screen.name()}” meanwhile" if fullscreen else "waits here, as a window"
            note = (f"The client's screen “{self._lost_screen}” is disconnected: the client display {where}. "
                    "Reconnect it to continue.")
        self.display.hide()  # re-placed from scratch: a window never stays where its screen was
        if moved:  # as at start-up: on one screen the control window (raised) must not hide the client window
            self._lay_out_control(therapist, screen)
        self._place(screen, fullscreen, note)

    def _remember(self, key: str, value) -> None:
        """UI state for the next launch; a failure to write it is told, never fatal."""
        problem = self.ui_state.set(key, value)
        if problem:
            self.control.statusBar().showMessage(f"bls could not remember this for the next launch: {problem}", 10000)

    def display_info(self) -> dict:
        core = self.display.core
        return {"screen": self.screen.name(), "refresh_hz": round(core.refresh_hz, 3), "kind": self.display.kind,
                "fullscreen": self._fullscreen, "dropped_frames_total": core.frames.dropped}

    def _show_info(self) -> None:
        i = self.display_info()
        mode = "fullscreen" if i["fullscreen"] else "window"
        # dropped frames matter during a set; between sets the screen is still and nobody watches it. Said
        # in plain words: a dropped frame is a moment the target stood still for one refresh (a "hitch")
        frames = ""
        if self.session.status.state != IDLE and (n := self.session.dropped_in_set(i)) is not None:
            frames = f" · this set: {hitches(n)}"
        elif self.session.records:
            frames = f" · last set: {hitches(self.session.records[-1].get('dropped_frames', 0))}"
        self.control.show_display_info(f"Client: {i['screen']} · {mode} · {i['refresh_hz']:.0f} Hz{frames}",
                                       self._note)

    # ------------------------------------------------------------------ presets and settings

    def load_preset(self, name: str) -> None:
        """Load a preset into the live settings: every change glides, even mid-set. The session decides
        what needs asking (leaving gentle mode, a gentle preset past a limit); until it is answered,
        what played plays on and the list shows it."""
        if name not in self.library:
            return
        self.session.load_preset(self.library.get(name), name)
        self._preset_follows()

    def _preset_follows(self) -> None:
        """The preset list and the remembered preset follow the preset the session loaded."""
        name = self.session.core.preset_name
        if name != self._core_preset and name in self.library:
            self._core_preset = name
            self._remember("last_preset", name)
            self.control.presets.set_loaded(name)
            self.control.load_settings(self.session.settings)
        else:
            self.control.presets.refresh()  # the list shows what plays

    def _settings_changed(self, p: Preset) -> None:
        self._update_badge()
        self._preset_follows()

    def _check_changed(self, _kind: str) -> None:
        """The client screen says "left" / "right" during a left/right check if the therapist asked."""
        self.display.set_say_check(self.session.core.check_on_client)

    def _client_badge_toggled(self, on: bool) -> None:
        self._remember("client_badge", on)
        self._update_badge()

    def _update_badge(self) -> None:
        show = self.session.settings.gentle and self.control.client_badge.isChecked()
        self.display.set_badge("GENTLE" if show else "")
        self.control.preview.badge = self.display.core.badge  # the preview mirrors the client screen

    # ------------------------------------------------------------------ keys

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 - Qt API
        if ev.type() != QEvent.KeyPress or not isinstance(ev, QKeyEvent):
            return False
        key = ev.key()
        focus = QApplication.focusWidget()
        # typing into a text field: the field that has the focus, or the one the key is sent to
        typing = any(isinstance(w, (QLineEdit, QTextEdit, QPlainTextEdit)) for w in (focus, obj))
        editing = typing or isinstance(focus, QAbstractSpinBox)  # a list never takes ↑/↓ from the speed
        question = self.control.question_box is not None and self.control.question_box.isVisible()
        # stop always wins: Esc, and a clicker's Page Up or B, stop the set whatever is open (the session
        # closes an open question with its safe answer); '.' is typed into numbers, B into text
        stop = key in (Qt.Key_Escape, Qt.Key_PageUp) or (key == Qt.Key_B and not typing) or (
            key == Qt.Key_Period and not editing)
        if stop:
            self.session.key("Escape")
            if QApplication.activePopupWidget() is not None:
                QApplication.activePopupWidget().close()
            self.control.centralWidget().setFocus()  # leave any field: the next ↑/↓ is the speed again
            return True
        if question or QApplication.activeModalWidget() is not None or QApplication.activePopupWidget() is not None:
            return False  # a question, a dialog or an open list has the other keys
        if key in (Qt.Key_Space, Qt.Key_PageDown) and not typing:
            if not ev.isAutoRepeat():
                self.session.key("Space")
        elif key in (Qt.Key_Up, Qt.Key_Down) and not editing:
            self.session.key("Up" if key == Qt.Key_Up else "Down")
        elif key == Qt.Key_H and not typing and not ev.modifiers() & ~Qt.KeypadModifier:
            if not ev.isAutoRepeat():
                self.control.headphones.left_right.start()  # the left/right check (refused during a set)
        elif key in (Qt.Key_Minus, Qt.Key_Plus, Qt.Key_Equal) and not editing and self.session.core.check_kind == "comfort":
            self.control.headphones.comfort.step(-1 if key == Qt.Key_Minus else 1)
        else:
            return False
        return True

    # ------------------------------------------------------------------ lifetime

    def start_set(self) -> None:
        self.session.start()

    def request_quit(self, ask: bool = True) -> None:
        """Ctrl+Q or the control window closed (or --exit-after, with ``ask`` False): the session ends.
        A running set asks first; then the set stops with its fade (the client display keeps drawing
        it), and everything closes."""
        if self._quitting:
            return
        if ask and self.session.status.state in (RUNNING, PAUSED) and not self._confirm_quit():
            return
        self._quitting = True
        self.session.begin_quit()
        deadline = time.monotonic() + QUIT_GLIDE_WAIT_S
        timer = QTimer(self)
        timer.setInterval(20)

        def tick():
            self.session.poll()
            if self.session.status.state == IDLE or time.monotonic() >= deadline:
                timer.stop()
                self.control.allow_close = True
                self.qapp.quit()  # aboutToQuit -> shutdown(): the record, the stream, the windows
        timer.timeout.connect(tick)
        timer.start()

    def on_signal(self, number: int) -> None:
        """SIGTERM, SIGHUP, SIGINT (Windows: Ctrl+C, Ctrl+Break, the console closed), on the GUI thread
        (:mod:`bls.platform.signals`). The first ends the session as a quit that does not ask: the set
        stops with its fade, the record is written, the app exits with :func:`signal_exit_status`. A
        second one exits at once (:meth:`exit_at_once`)."""
        name = signal_name(number)
        if self._signalled:
            self.exit_at_once(name)
            return
        self._signalled = True
        self.exit_status = signal_exit_status(number)
        print(f"bls: {name}: ending the session (the set stops with its fade, the record is written); "
              "a second signal exits at once", file=sys.stderr, flush=True)
        self.session.core.event("signal", signal=name, action="quit")
        modal = QApplication.activeModalWidget()  # "End the session?" open: the signal has answered it
        self.request_quit(ask=False)
        if modal is not None:
            modal.close()

    def exit_at_once(self, name: str) -> None:
        """A second signal: no glide, no waiting on Qt. The stop fade under way gets at most
        SIGNAL_FADE_WAIT_S to reach silence, then the engine is handed to no clock (the audio callback
        writes silence from its next block), the record is written, the stream gets SIGNAL_STREAM_WAIT_S
        to stop, and the process exits with the first signal's status."""
        print(f"bls: {name} again: exiting now", file=sys.stderr, flush=True)
        session, engine = self.session, self.session.engine
        engine.hurry(SIGNAL_HURRY_FADE_S)  # even a gentle 0.8 s stop fade reaches silence in 150 ms
        deadline = time.monotonic() + SIGNAL_FADE_WAIT_S
        while not _silent_from_now(engine) and time.monotonic() < deadline:
            time.sleep(0.002)
        engine.owner = object()  # no clock advances the engine: the callback writes silence
        deadline = time.monotonic() + 0.1
        while engine.busy and time.monotonic() < deadline:  # the callback finishes the block it is in
            time.sleep(0.001)
        # a clock that renders ahead (the ring) still holds the end of the fade: the device takes it
        clock = session.core.clocks.clock
        mark, deadline = clock.drain_mark(), time.monotonic() + SIGNAL_DRAIN_WAIT_S
        while not clock.drained(mark) and time.monotonic() < deadline:
            time.sleep(0.002)
        try:
            session.core.event("signal", signal=name, action="exit at once")
            session.core.quit()
            session.core.finish()  # the set where it got to (stop reason quit), session_end, written
        finally:
            retire(session.core.clocks.clock, SIGNAL_STREAM_WAIT_S)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(self.exit_status)

    def _confirm_quit(self) -> bool:
        box = QMessageBox(self.control)
        box.setIcon(QMessageBox.Question)
        box.setWindowTitle("End the session?")
        box.setText("A set is under way. End the session?")
        box.setInformativeText("The set stops with its fade, the client display closes and the session record "
                               "is written.")
        end = box.addButton("End session", QMessageBox.DestructiveRole)
        box.setDefaultButton(box.addButton("Keep going", QMessageBox.RejectRole))
        box.exec()
        return box.clickedButton() is end

    def shutdown(self) -> None:
        """Stop the set gently, write the record, close the stream and both windows; safe to call twice."""
        if getattr(self, "_shut", False):
            return
        self._shut = True
        self._info_timer.stop()
        self.qapp.removeEventFilter(self)
        app = QGuiApplication.instance()
        app.screenAdded.disconnect(self._screens_changed)
        app.screenRemoved.disconnect(self._screens_changed)
        if not self._quitting:  # quit from outside (--exit-after, a signal): the fade gets its time here
            self.session.begin_quit()
            deadline = time.monotonic() + QUIT_GLIDE_WAIT_S
            while self.session.engine.status.state != IDLE and time.monotonic() < deadline:
                self.qapp.processEvents(QEventLoop.AllEvents, 20)
                time.sleep(0.005)
        self.session.finish()
        self.sleep.release()
        self.display.close()
        self.control.allow_close = True
        self.control.close()


def identify(qapp: QApplication) -> None:
    """The application's names. Window titles end with the display name (Qt adds it where it is missing):
    the control window's title is exactly TITLE, said once; the client window's "Client display — TITLE"."""
    qapp.setApplicationName("bls")
    qapp.setApplicationDisplayName(TITLE)
    qapp.setWindowIcon(QIcon(str(APP_ICON)))  # every window's; the bundle's own icon is made from it too


def run_app(args) -> int:
    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    # signals end the session gracefully; they are read on this thread once the event loop runs, so
    # one that comes while the app starts up waits for it
    holder: list[BlsApp] = []
    signals = signal_watch()
    signals.install(lambda number: holder[0].on_signal(number) if holder else None)
    try:
        return _run(qapp, args, holder)
    finally:
        signals.uninstall()


def _run(qapp: QApplication, args, holder: list) -> int:
    identify(qapp)
    qapp.setQuitOnLastWindowClosed(True)
    apply_style(qapp)
    if args.log:  # a copy of the record goes there: refused at once if it would replace what is not ours
        try:
            check_target(Path(args.log))
        except OSError as exc:
            print(f"bls: cannot write --log {args.log}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    try:
        app = BlsApp(qapp, args.preset, args.client_screen, Path(args.log) if args.log else None,
                     args.audio_device, args.no_audio, theme=args.theme)
    except KeyError as exc:
        print(f"bls: {exc.args[0]}", file=sys.stderr)
        return 2
    holder.append(app)
    if args.client_screen and app.screen.name() != args.client_screen:
        print(f"bls: screen {args.client_screen!r} not found; available: "
              f"{', '.join(s.name() for s in QGuiApplication.screens())}", file=sys.stderr)
    qapp.aboutToQuit.connect(app.shutdown)
    app.control.destroyed.connect(qapp.quit)
    if args.start:
        QTimer.singleShot(0, app.start_set)
    if args.exit_after is not None:
        quit_timer = QTimer(app)
        quit_timer.setTimerType(Qt.PreciseTimer)
        quit_timer.setSingleShot(True)
        quit_timer.timeout.connect(lambda: app.request_quit(ask=False))
        quit_timer.start(int(args.exit_after * 1000))
    print(f"bls: audio — {app.session.audio_status.summary}"
          + (f" ({app.session.audio_status.detail})" if not app.session.audio_status.ok else ""), file=sys.stderr)
    settle_interpreter()
    status = qapp.exec()
    errors = app.session.core.record.write_errors
    if errors:  # the therapist saw it in the window; the command line is told too, and fails
        print("bls: the session record could not be written: " + "; ".join(errors), file=sys.stderr)
        return app.exit_status or status or 1
    problem = getattr(app.session, "store_problem", "")
    if problem:
        print(f"bls: the session record database could not be written ({problem}); this session's clinical "
              f"record is kept in {app.session.core.record.path}", file=sys.stderr)
        return app.exit_status or status or 1
    return app.exit_status or status
