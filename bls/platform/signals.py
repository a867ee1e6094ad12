"""Signals that end the session (SIGTERM, SIGHUP, SIGINT; on Windows Ctrl+C, Ctrl+Break and the console
window closed), delivered on the GUI thread.

A Python signal handler runs only when the interpreter gets control, which the Qt event loop (C++)
starves: a signal could wait for seconds, or until the next key press. So the handlers here do nothing at
all; the C-level handler writes the signal's number into a non-blocking socket (``signal.set_wakeup_fd``)
and a reader on the GUI thread (a ``QSocketNotifier``) reads it and calls ``on_signal(number)`` there,
at once, in order, once per signal. Nothing else runs in signal context.

:func:`signal_watch` picks the implementation for this system at run time::

    watch = signal_watch()
    watch.install(on_signal)   # on the main thread, once a QCoreApplication exists
    ...
    watch.uninstall()          # the previous handlers are back

- POSIX: SIGTERM, SIGHUP (the terminal closed), SIGINT (Ctrl+C);
- Windows: SIGINT (Ctrl+C), SIGBREAK (Ctrl+Break), and the console window closed, the user logging off or
  the system shutting down (``SetConsoleCtrlHandler``: these come on a thread of the system's, which posts
  :data:`CONSOLE_CLOSE` and then waits, because Windows ends the process when that handler returns).

Nothing system-specific is imported or loaded when this module is imported (Qt and kernel32 are reached
in :meth:`~SignalWatch.install`); every system call is injectable, so the logic is tested with the
platform simulated.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

# Windows console control events (wincon.h)
CTRL_C_EVENT = 0
CTRL_BREAK_EVENT = 1
CTRL_CLOSE_EVENT = 2
CTRL_LOGOFF_EVENT = 5
CTRL_SHUTDOWN_EVENT = 6
#: a console event the application must handle itself (the C runtime turns only Ctrl+C and Ctrl+Break
#: into signals); posted as CONSOLE_EVENT_BASE + event, above every signal number
CONSOLE_EVENT_BASE = 0x40
CONSOLE_CLOSE = CONSOLE_EVENT_BASE + CTRL_CLOSE_EVENT
CONSOLE_ENDING = (CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT)
#: Windows ends the process this long after a close event (about 5 s); the handler's thread waits a bit
#: less for the session to end, then lets it go
CONSOLE_CLOSE_WAIT_S = 4.5

OnSignal = Callable[[int], None]


def signal_name(number: int) -> str:
    """'SIGTERM', 'SIGINT' ... or the console event ('console closed')."""
    if number >= CONSOLE_EVENT_BASE:
        return {CTRL_CLOSE_EVENT: "console closed", CTRL_LOGOFF_EVENT: "user logging off",
                CTRL_SHUTDOWN_EVENT: "system shutting down"}.get(number - CONSOLE_EVENT_BASE,
                                                                  f"console event {number - CONSOLE_EVENT_BASE}")
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _ignore(signum, frame) -> None:
    """The Python-level handler: nothing. The C-level handler already wrote the number to the wakeup
    socket, and the GUI thread acts on it."""


def qt_watch_fd(fd: int, on_readable: Callable[[], None]) -> Any:
    """A QSocketNotifier on ``fd`` calling ``on_readable`` on the GUI thread; ``.setEnabled(False)`` stops it."""
    from PySide6.QtCore import QSocketNotifier  # noqa: PLC0415 - Qt only when installed in the app

    notifier = QSocketNotifier(fd, QSocketNotifier.Type.Read)
    notifier.activated.connect(lambda *_: on_readable())
    notifier.setEnabled(True)
    return notifier


class SignalWatch:
    """Delivers the signals in :attr:`signals` to ``on_signal`` on the thread that runs the event loop.

    ``install`` and ``uninstall`` are called on the main thread (Python's rule for signal handlers);
    both are idempotent. While installed, those signals neither kill the process nor raise
    ``KeyboardInterrupt``; after ``uninstall`` the handlers (and wakeup fd) from before are back.
    """

    def __init__(self, signals: tuple[int, ...], *, signal_fn: Callable = signal.signal,
                 set_wakeup_fd: Callable = signal.set_wakeup_fd, socketpair: Callable = socket.socketpair,
                 watch_fd: Callable[[int, Callable[[], None]], Any] = qt_watch_fd):
        self.signals = tuple(signals)
        self._signal = signal_fn
        self._set_wakeup_fd = set_wakeup_fd
        self._socketpair = socketpair
        self._watch_fd = watch_fd
        self._on_signal: OnSignal | None = None
        self._previous: dict[int, Any] = {}
        self._old_wakeup: int | None = None
        self._reader: socket.socket | None = None
        self._writer: socket.socket | None = None
        self._notifier: Any = None

    @property
    def installed(self) -> bool:
        return self._on_signal is not None

    def install(self, on_signal: OnSignal) -> None:
        if self.installed:
            self._on_signal = on_signal
            return
        reader, writer = self._socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        self._reader, self._writer = reader, writer
        self._notifier = self._watch_fd(reader.fileno(), self._drain)
        self._old_wakeup = self._set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        self._on_signal = on_signal
        for s in self.signals:
            self._previous[s] = self._signal(s, _ignore)
        self._install_extra()

    def uninstall(self) -> None:
        if not self.installed:
            return
        self._uninstall_extra()
        for s, previous in self._previous.items():
            self._signal(s, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
        self._set_wakeup_fd(self._old_wakeup if self._old_wakeup is not None else -1)
        self._on_signal = None
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier = None
        for sock in (self._reader, self._writer):
            if sock is not None:
                sock.close()
        self._reader = self._writer = None

    def _drain(self) -> None:
        """On the GUI thread: every number waiting in the socket, in order, to ``on_signal``."""
        reader = self._reader
        if reader is None:
            return
        numbers = b""
        while True:
            try:
                chunk = reader.recv(256)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if not chunk:
                break
            numbers += chunk
        for n in numbers:
            if self._on_signal is None:
                return
            self._on_signal(n)

    def post(self, number: int) -> None:
        """Deliver ``number`` as if a signal had come (from any thread): one byte into the socket."""
        writer = self._writer
        if writer is not None:
            try:
                writer.send(bytes([number]))
            except OSError:
                pass  # the socket is full (hundreds of signals unread) or closed: nothing more to tell

    # a system's own additions (Windows: the console control handler)
    def _install_extra(self) -> None:
        pass

    def _uninstall_extra(self) -> None:
        pass


class PosixSignalWatch(SignalWatch):
    """SIGTERM (a service manager, ``kill``), SIGHUP (the terminal closed), SIGINT (Ctrl+C)."""

    def __init__(self, **system):
        super().__init__((signal.SIGTERM, signal.SIGHUP, signal.SIGINT), **system)


class WindowsSignalWatch(SignalWatch):
    """SIGINT (Ctrl+C), SIGBREAK (Ctrl+Break), and the console closed, logoff and shutdown
    (``SetConsoleCtrlHandler``), posted as :data:`CONSOLE_EVENT_BASE` + the event.

    The console handler runs on a thread the system creates; Windows ends the process as soon as it
    returns for a close event (and at the latest after ~5 s), so after posting it waits until
    :meth:`uninstall` (the session ended) or :data:`CONSOLE_CLOSE_WAIT_S`.
    """

    def __init__(self, *, set_console_ctrl_handler: Callable | None = None, handler_type: Callable | None = None,
                 close_wait_s: float = CONSOLE_CLOSE_WAIT_S, **system):
        # signal.SIGBREAK exists on Windows only: its number (21) is used elsewhere (simulated tests)
        super().__init__((signal.SIGINT, getattr(signal, "SIGBREAK", 21)), **system)
        self._set_handler = set_console_ctrl_handler
        self._handler_type = handler_type
        self._close_wait_s = close_wait_s
        self._routine = None  # the ctypes callback: kept alive while registered
        self._ended = threading.Event()

    def _kernel32(self) -> tuple[Callable, Callable]:
        if self._set_handler is None or self._handler_type is None:
            import ctypes  # noqa: PLC0415 - Windows only
            from ctypes import wintypes  # noqa: PLC0415

            kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
            fn = kernel32.SetConsoleCtrlHandler
            handler_type = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.DWORD)
            fn.argtypes = (handler_type, wintypes.BOOL)
            fn.restype = wintypes.BOOL
            self._set_handler = self._set_handler or fn
            self._handler_type = self._handler_type or handler_type
        return self._set_handler, self._handler_type

    def console_event(self, event: int) -> bool:
        """The console control handler (a system thread). Ctrl+C and Ctrl+Break go on to the C runtime,
        which raises SIGINT / SIGBREAK; close, logoff and shutdown are posted, then it waits."""
        if event not in CONSOLE_ENDING:
            return False
        self.post(CONSOLE_EVENT_BASE + event)
        self._ended.wait(self._close_wait_s)
        return True

    def _install_extra(self) -> None:
        self._ended.clear()
        try:
            set_handler, handler_type = self._kernel32()
            routine = handler_type(self.console_event)
            if set_handler(routine, True):
                self._routine = routine
        except (OSError, AttributeError):
            self._routine = None  # no console (pythonw): there is no console to close

    def _uninstall_extra(self) -> None:
        self._ended.set()  # a waiting console handler returns: the session has ended
        if self._routine is not None:
            try:
                self._set_handler(self._routine, False)
            except OSError:
                pass
            self._routine = None


class NullSignalWatch(SignalWatch):
    """A system with no signals this module knows: nothing is installed."""

    def __init__(self):
        super().__init__(())

    def install(self, on_signal: OnSignal) -> None:
        pass

    def uninstall(self) -> None:
        pass


def signal_watch(platform: str | None = None, **system) -> SignalWatch:
    """The watch for this system (``platform``: a ``sys.platform`` value, for tests)."""
    platform = sys.platform if platform is None else platform
    if platform.startswith("win"):
        return WindowsSignalWatch(**system)
    if hasattr(signal, "SIGHUP"):
        return PosixSignalWatch(**system)
    return NullSignalWatch()
