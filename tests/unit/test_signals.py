"""bls.platform.signals with the platform simulated: which signals, the wakeup socket, the GUI-side
reader, uninstall restoring what was there, Windows' console close handler."""

from __future__ import annotations

import ast
import signal
import socket
import threading
import time

import pytest

from bls.platform import signals as sigmod
from bls.platform.signals import (CONSOLE_CLOSE, CTRL_BREAK_EVENT, CTRL_C_EVENT, CTRL_CLOSE_EVENT,
                                  CTRL_SHUTDOWN_EVENT, NullSignalWatch, PosixSignalWatch, WindowsSignalWatch,
                                  signal_name, signal_watch)

SIGBREAK = getattr(signal, "SIGBREAK", 21)


class FakeSystem:
    """signal.signal, signal.set_wakeup_fd and a notifier, recorded; a real socketpair."""

    def __init__(self):
        self.handlers: dict[int, object] = {}
        self.previous = {signal.SIGTERM: "old-term", signal.SIGINT: "old-int", signal.SIGHUP: None, SIGBREAK: None}
        self.wakeup = 7  # an fd someone set before
        self.notifiers: list[FakeNotifier] = []

    def signal_fn(self, num, handler):
        old = self.handlers.get(num, self.previous.get(num))
        self.handlers[num] = handler
        return old

    def set_wakeup_fd(self, fd, warn_on_full_buffer=True):
        old, self.wakeup = self.wakeup, fd
        return old

    def watch_fd(self, fd, on_readable):
        n = FakeNotifier(fd, on_readable)
        self.notifiers.append(n)
        return n

    def kw(self):
        return {"signal_fn": self.signal_fn, "set_wakeup_fd": self.set_wakeup_fd, "watch_fd": self.watch_fd}

    def deliver(self, num: int) -> None:
        """What the C-level handler does: one byte, the signal's number, into the wakeup fd; then the
        Python-level handler runs (later, on the main thread)."""
        sock = socket.fromfd(self.wakeup, socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.send(bytes([num]))
        finally:
            sock.close()
        handler = self.handlers[num]
        assert callable(handler)
        assert handler(num, None) is None  # does nothing


class FakeNotifier:
    def __init__(self, fd, on_readable):
        self.fd, self.on_readable, self.enabled = fd, on_readable, True

    def setEnabled(self, on):  # noqa: N802 - Qt API
        self.enabled = on

    def fire(self):  # the event loop saw the fd readable
        assert self.enabled
        self.on_readable()


def test_posix_watches_term_hup_int_and_delivers_them_in_order_on_the_reader():
    sys_ = FakeSystem()
    got = []
    w = PosixSignalWatch(**sys_.kw())
    assert set(w.signals) == {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}
    w.install(got.append)
    assert set(sys_.handlers) == {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}
    assert sys_.wakeup != 7 and len(sys_.notifiers) == 1
    sys_.deliver(signal.SIGTERM)
    sys_.deliver(signal.SIGINT)
    assert got == []  # nothing runs in signal context: only the reader on the GUI thread acts
    sys_.notifiers[0].fire()
    assert got == [signal.SIGTERM, signal.SIGINT]
    sys_.notifiers[0].fire()  # nothing more waiting: nothing more delivered
    assert got == [signal.SIGTERM, signal.SIGINT]
    w.uninstall()


def test_uninstall_puts_back_the_handlers_and_wakeup_fd_from_before():
    sys_ = FakeSystem()
    w = PosixSignalWatch(**sys_.kw())
    w.install(lambda n: None)
    w.install(lambda n: None)  # idempotent: one socket, one notifier
    assert len(sys_.notifiers) == 1
    w.uninstall()
    assert sys_.handlers[signal.SIGTERM] == "old-term" and sys_.handlers[signal.SIGINT] == "old-int"
    assert sys_.handlers[signal.SIGHUP] == signal.SIG_DFL
    assert sys_.wakeup == 7
    assert not sys_.notifiers[0].enabled
    assert not w.installed
    w.uninstall()  # twice: nothing


def test_post_from_another_thread_arrives_on_the_reader():
    sys_ = FakeSystem()
    got = []
    w = PosixSignalWatch(**sys_.kw())
    w.install(got.append)
    t = threading.Thread(target=w.post, args=(CONSOLE_CLOSE,))
    t.start()
    t.join()
    sys_.notifiers[0].fire()
    assert got == [CONSOLE_CLOSE]
    w.uninstall()


def test_windows_watches_int_and_break_and_registers_a_console_handler():
    sys_ = FakeSystem()
    registered = []
    w = WindowsSignalWatch(set_console_ctrl_handler=lambda fn, add: registered.append((fn, add)) or True,
                           handler_type=lambda fn: fn, close_wait_s=5.0, **sys_.kw())
    assert set(w.signals) == {signal.SIGINT, SIGBREAK}
    got = []
    w.install(got.append)
    assert set(sys_.handlers) == {signal.SIGINT, SIGBREAK}
    (routine, add), = registered
    assert add is True
    # Ctrl+C and Ctrl+Break go on to the C runtime (SIGINT / SIGBREAK): not handled here
    assert routine(CTRL_C_EVENT) is False and routine(CTRL_BREAK_EVENT) is False
    # the console closed: posted to the GUI thread, and the system's thread waits for the session to end
    result = []
    t = threading.Thread(target=lambda: result.append(routine(CTRL_CLOSE_EVENT)))
    t.start()
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        sys_.notifiers[0].fire()
        time.sleep(0.01)
    assert got == [CONSOLE_CLOSE]
    time.sleep(0.05)
    assert t.is_alive() and result == []  # returning would let Windows end the process now
    w.uninstall()  # the session ended
    t.join(2)
    assert result == [True]
    assert registered[-1] == (routine, False)


def test_windows_console_handler_gives_up_waiting_before_windows_does():
    sys_ = FakeSystem()
    w = WindowsSignalWatch(set_console_ctrl_handler=lambda fn, add: True, handler_type=lambda fn: fn,
                           close_wait_s=0.05, **sys_.kw())
    w.install(lambda n: None)
    t0 = time.monotonic()
    assert w.console_event(CTRL_SHUTDOWN_EVENT) is True
    assert time.monotonic() - t0 < 1.0
    w.uninstall()


def test_windows_without_a_console_still_watches_the_signals():
    sys_ = FakeSystem()

    def refuse(fn, add):
        raise OSError("no console")

    w = WindowsSignalWatch(set_console_ctrl_handler=refuse, handler_type=lambda fn: fn, **sys_.kw())
    w.install(lambda n: None)
    assert set(sys_.handlers) == {signal.SIGINT, SIGBREAK}
    w.uninstall()


def test_the_factory_picks_by_platform_and_imports_nothing_of_the_system():
    assert isinstance(signal_watch("win32"), WindowsSignalWatch)
    assert isinstance(signal_watch("linux"), PosixSignalWatch)
    assert isinstance(NullSignalWatch(), NullSignalWatch)
    with open(sigmod.__file__, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    top = {a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    top |= {n.module.split(".")[0] for n in tree.body if isinstance(n, ast.ImportFrom) and n.module}
    assert top <= {"__future__", "signal", "socket", "sys", "threading", "collections", "typing"}, top


@pytest.mark.parametrize("number,name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGHUP, "SIGHUP"),
                                         (signal.SIGINT, "SIGINT"), (CONSOLE_CLOSE, "console closed")])
def test_signal_names(number, name):
    assert signal_name(number) == name


def test_exit_status_is_128_plus_the_signal():
    from bls.app import signal_exit_status

    assert signal_exit_status(signal.SIGTERM) == 143
    assert signal_exit_status(signal.SIGHUP) == 129
    assert signal_exit_status(signal.SIGINT) == 130
    assert signal_exit_status(CONSOLE_CLOSE) == 129  # like a POSIX terminal closed
    assert CTRL_CLOSE_EVENT == 2


def test_real_signal_reaches_the_reader_not_python():
    """The real signal module (POSIX): SIGHUP sent to this process is read from the socket; no Python
    handler of the test's kills it or raises."""
    if not hasattr(signal, "SIGHUP"):
        pytest.skip("POSIX only")
    notifiers = []
    got = []
    before = signal.getsignal(signal.SIGHUP)
    w = PosixSignalWatch(watch_fd=lambda fd, cb: notifiers.append(FakeNotifier(fd, cb)) or notifiers[-1])
    w.install(got.append)
    try:
        signal.raise_signal(signal.SIGHUP)
        notifiers[0].fire()
        assert got == [signal.SIGHUP]
    finally:
        w.uninstall()
    assert signal.getsignal(signal.SIGHUP) is before
