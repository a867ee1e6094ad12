"""Keep the screen from blanking or sleeping while a session runs.

:func:`sleep_inhibitor` picks the mechanism for this system at run time:

- Linux and the BSDs: ``org.freedesktop.ScreenSaver`` on the D-Bus session bus (through QtDBus), else
  ``org.gnome.SessionManager`` (idle inhibit);
- Windows: ``SetThreadExecutionState`` (kernel32);
- macOS: an IOKit power assertion, ``PreventUserIdleDisplaySleep``;
- anything else: nothing.

Use it from the GUI thread, the one that lives for the whole session::

    inhibitor = sleep_inhibitor()
    inhibitor.inhibit("EMDR session running")  # False when the system refused: ``how`` says why
    ...
    inhibitor.release()

Nothing system-specific is imported or loaded at import time (QtDBus, kernel32 and IOKit are reached at
the first :meth:`~SleepInhibitor.inhibit`), so this module imports on every system. A system that
refuses is not an error: the session runs as before, ``inhibit`` returns False and ``how`` says why.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol

#: the application name the desktop shows beside the reason ("bls: EMDR session running")
APP_NAME = "bls"

# Windows: SetThreadExecutionState flags (winbase.h)
ES_CONTINUOUS = 0x80000000
ES_SYSTEM_REQUIRED = 0x00000001
ES_DISPLAY_REQUIRED = 0x00000002

# macOS: IOKit/pwr_mgt/IOPMLib.h, CoreFoundation/CFString.h
MAC_ASSERTION_TYPE = "PreventUserIdleDisplaySleep"  # kIOPMAssertionTypePreventUserIdleDisplaySleep
IOPM_ASSERTION_LEVEL_ON = 255  # kIOPMAssertionLevelOn
IO_RETURN_SUCCESS = 0  # kIOReturnSuccess
CF_STRING_ENCODING_UTF8 = 0x08000100  # kCFStringEncodingUTF8
IOKIT = "/System/Library/Frameworks/IOKit.framework/IOKit"
CORE_FOUNDATION = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"

# D-Bus: org.gnome.SessionManager.Inhibit flags (1 logout, 2 user switch, 4 suspend, 8 idle)
GNOME_INHIBIT_IDLE = 8

WINDOWS_HOW = "SetThreadExecutionState (display and system required)"
MAC_HOW = f"IOKit power assertion {MAC_ASSERTION_TYPE}"
SCREENSAVER = "org.freedesktop.ScreenSaver"
GNOME_SESSION = "org.gnome.SessionManager"


class SleepInhibitor:
    """Keeps the display awake between :meth:`inhibit` and :meth:`release`.

    Both are idempotent and neither raises: ``inhibit`` returns whether the system accepted (a second
    call while active returns True and asks nothing more), ``release`` without an inhibit does nothing.
    ``how`` is a short description of the mechanism, or of why there is none ("not available: ...").
    Implementations override :meth:`_acquire` and :meth:`_release`.
    """

    def __init__(self, how: str):
        self._how = how
        self._active = False

    @property
    def active(self) -> bool:
        """Whether the system is keeping the display awake for us now."""
        return self._active

    @property
    def how(self) -> str:
        return self._how

    def inhibit(self, reason: str) -> bool:
        if self._active:
            return True
        try:
            self._active = bool(self._acquire(reason))
        except Exception as exc:  # noqa: BLE001 — a screen that may blank must never stop a session
            self._active = False
            self._how = f"not available: {_describe(exc)}"
        return self._active

    def release(self) -> None:
        if not self._active:
            return
        self._active = False
        try:
            self._release()
        except Exception as exc:  # noqa: BLE001 — releasing runs at the end of a session, on every path
            self._how = f"{self._how} (release failed: {_describe(exc)})"

    def _acquire(self, reason: str) -> bool:
        """Ask the system; set ``self._how``; return whether it accepted. May raise."""
        raise NotImplementedError

    def _release(self) -> None:
        """Give back what :meth:`_acquire` obtained. May raise."""
        raise NotImplementedError


class NullInhibitor(SleepInhibitor):
    """Inhibits nothing (a system without a known mechanism); ``how`` says so."""

    def _acquire(self, reason: str) -> bool:
        return False


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


# --- Linux and the BSDs: D-Bus ---------------------------------------------------------------------


class DBusError(Exception):
    """The session bus or a service refused."""


class SessionBus(Protocol):
    """What :class:`FreedesktopInhibitor` needs from the session bus (QtDBus, or a test's fake)."""

    def has_service(self, name: str) -> bool: ...

    def call(self, service: str, path: str, interface: str, method: str, signature: str,
             args: tuple) -> Any:
        """Call ``method`` with ``args`` marshalled as the D-Bus ``signature`` ("s", "u" only); return
        its return value (None for none). Raises :class:`DBusError`."""


#: (service = interface, object path, uninhibit method, inhibit signature, inhibit arguments), in order
_DBUS_MECHANISMS: tuple[tuple[str, str, str, str, Callable[[str], tuple]], ...] = (
    (SCREENSAVER, "/org/freedesktop/ScreenSaver", "UnInhibit", "ss",
     lambda reason: (APP_NAME, reason)),
    # app_id, toplevel X window id (none), reason, flags
    (GNOME_SESSION, "/org/gnome/SessionManager", "Uninhibit", "susu",
     lambda reason: (APP_NAME, 0, reason, GNOME_INHIBIT_IDLE)),
)


class FreedesktopInhibitor(SleepInhibitor):
    """``org.freedesktop.ScreenSaver.Inhibit(s application, s reason) -> u cookie`` on the session bus,
    given back with ``UnInhibit(u cookie)``; else ``org.gnome.SessionManager.Inhibit(s app_id,
    u toplevel_xid, s reason, u flags=8 (idle)) -> u cookie`` and ``Uninhibit(u cookie)``.

    The desktop holds the inhibit for as long as our D-Bus connection lives: QtDBus keeps the session
    bus connection for the whole process, so a crash releases it too. ``bus`` is for tests; by default
    QtDBus's session bus is connected at the first :meth:`inhibit` (create the QApplication first).
    """

    def __init__(self, bus: SessionBus | None = None):
        super().__init__(f"{SCREENSAVER} over D-Bus")
        self._bus = bus
        self._held: tuple[str, str, str, int] | None = None  # service, path, uninhibit method, cookie

    def _acquire(self, reason: str) -> bool:
        if self._bus is None:
            self._bus = QtSessionBus()
        failures = []
        for service, path, uninhibit, signature, args in _DBUS_MECHANISMS:
            if not self._bus.has_service(service):
                failures.append(f"no {service} on the session bus")
                continue
            try:
                cookie = self._bus.call(service, path, service, "Inhibit", signature, args(reason))
            except DBusError as exc:
                failures.append(f"{service} refused ({_describe(exc)})")
                continue
            self._held = (service, path, uninhibit, int(cookie))
            self._how = f"{service} over D-Bus"
            return True
        self._how = "not available: " + "; ".join(failures)
        return False

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None and self._bus is not None:
            service, path, uninhibit, cookie = held
            self._bus.call(service, path, service, uninhibit, "u", (cookie,))


#: D-Bus signature character -> the Qt type QtDBus marshals as it
_QT_TYPES = {"s": "QString", "u": "uint"}


class QtSessionBus:
    """The session bus through QtDBus, imported when this is created (at the first inhibit).

    Arguments go through a :class:`QDBusInterface` (which introspects the service) and
    ``QMetaObject.invokeMethod`` with typed ``Q_ARG``: a Python int handed to QtDBus directly is sent
    as ``i`` (or ``q``), and services match ``u`` strictly.
    """

    TIMEOUT_MS = 3000  # a call is made from the GUI thread: a hung service must not freeze it long

    def __init__(self):
        try:
            from PySide6.QtDBus import QDBusConnection
        except ImportError as exc:
            raise DBusError(f"no QtDBus ({_describe(exc)})") from exc
        self._connection = QDBusConnection.sessionBus()
        if not self._connection.isConnected():
            raise DBusError(f"no session bus ({_qt_error(self._connection.lastError()) or 'not connected'})")

    def has_service(self, name: str) -> bool:
        reply = self._connection.interface().isServiceRegistered(name)
        return reply.isValid() and bool(reply.value())

    def call(self, service: str, path: str, interface: str, method: str, signature: str,
             args: tuple) -> Any:
        from PySide6.QtCore import Q_ARG, Q_RETURN_ARG, QMetaObject, Qt
        from PySide6.QtDBus import QDBusInterface

        proxy = QDBusInterface(service, path, interface, self._connection)
        if not proxy.isValid():
            raise DBusError(_qt_error(proxy.lastError()) or f"{service} is not reachable")
        proxy.setTimeout(self.TIMEOUT_MS)
        types = [_QT_TYPES[c] for c in signature]
        meta = proxy.metaObject()
        index = meta.indexOfMethod(f"{method}({','.join(types)})")
        if index < 0:
            raise DBusError(f"{interface} has no method {method}({signature})")
        qt_args = [Q_ARG(t, v) for t, v in zip(types, args)]
        returns = meta.method(index).typeName()
        if returns in ("", "void"):
            QMetaObject.invokeMethod(proxy, method, Qt.DirectConnection, *qt_args)
            result = None
        else:
            result = QMetaObject.invokeMethod(proxy, method, Qt.DirectConnection, Q_RETURN_ARG(returns),
                                              *qt_args)
        if proxy.lastError().isValid():
            raise DBusError(_qt_error(proxy.lastError()))
        return result


def _qt_error(error) -> str:
    name, message = error.name(), error.message()
    return f"{name}: {message}" if name and message else name or message


# --- Windows ---------------------------------------------------------------------------------------


class WindowsInhibitor(SleepInhibitor):
    """``SetThreadExecutionState(ES_CONTINUOUS | ES_DISPLAY_REQUIRED | ES_SYSTEM_REQUIRED)``, given back
    with ``SetThreadExecutionState(ES_CONTINUOUS)``.

    The state belongs to the calling thread (and ends with it): call :meth:`inhibit` and
    :meth:`release` from the same thread, the GUI thread, which lives for the whole session.
    ``set_state`` is for tests; by default kernel32's function is loaded at the first inhibit.
    """

    def __init__(self, set_state: Callable[[int], int] | None = None):
        super().__init__(WINDOWS_HOW)
        self._set_state = set_state

    def _acquire(self, reason: str) -> bool:
        if self._set_state is None:
            self._set_state = kernel32_set_thread_execution_state()
        if self._set_state(ES_CONTINUOUS | ES_DISPLAY_REQUIRED | ES_SYSTEM_REQUIRED) == 0:  # NULL: failed
            self._how = "not available: SetThreadExecutionState failed"
            return False
        self._how = WINDOWS_HOW
        return True

    def _release(self) -> None:
        if self._set_state(ES_CONTINUOUS) == 0:
            raise OSError("SetThreadExecutionState failed")


def kernel32_set_thread_execution_state(load: Callable[[str], Any] | None = None) -> Callable[[int], int]:
    """kernel32's ``SetThreadExecutionState`` (EXECUTION_STATE is a 32-bit unsigned int)."""
    import ctypes

    if load is None:
        if not hasattr(ctypes, "WinDLL"):
            raise OSError("no kernel32 (not Windows)")
        load = ctypes.WinDLL
    function = load("kernel32").SetThreadExecutionState
    function.argtypes = [ctypes.c_uint32]
    function.restype = ctypes.c_uint32
    return function


# --- macOS -----------------------------------------------------------------------------------------


class MacInhibitor(SleepInhibitor):
    """An IOKit assertion: ``IOPMAssertionCreateWithName(kIOPMAssertionTypePreventUserIdleDisplaySleep,
    kIOPMAssertionLevelOn, reason, &id)``, given back with ``IOPMAssertionRelease(id)``.

    ``create(type, level, reason) -> (IOReturn, assertion id)`` and ``release(id) -> IOReturn`` are
    for tests; by default IOKit's are loaded at the first inhibit (:func:`iokit_assertion_functions`).
    """

    def __init__(self, create: Callable[[str, int, str], tuple[int, int]] | None = None,
                 release: Callable[[int], int] | None = None):
        super().__init__(MAC_HOW)
        if (create is None) != (release is None):
            raise ValueError("give both create and release, or neither")
        self._create = create
        self._release_assertion = release
        self._assertion: int | None = None

    def _acquire(self, reason: str) -> bool:
        if self._create is None:
            self._create, self._release_assertion = iokit_assertion_functions()
        result, assertion = self._create(MAC_ASSERTION_TYPE, IOPM_ASSERTION_LEVEL_ON, reason)
        if result != IO_RETURN_SUCCESS:
            self._how = f"not available: IOPMAssertionCreateWithName returned {result & 0xFFFFFFFF:#010x}"
            return False
        self._assertion = assertion
        self._how = MAC_HOW
        return True

    def _release(self) -> None:
        assertion, self._assertion = self._assertion, None
        result = self._release_assertion(assertion)
        if result != IO_RETURN_SUCCESS:
            raise OSError(f"IOPMAssertionRelease returned {result & 0xFFFFFFFF:#010x}")


def iokit_assertion_functions(load: Callable[[str], Any] | None = None,
                              ) -> tuple[Callable[[str, int, str], tuple[int, int]], Callable[[int], int]]:
    """(create, release) for :class:`MacInhibitor`, through ctypes from IOKit and CoreFoundation."""
    import ctypes

    load = load or ctypes.CDLL
    cf = load(CORE_FOUNDATION)
    iokit = load(IOKIT)
    cf.CFStringCreateWithCString.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32]
    cf.CFStringCreateWithCString.restype = ctypes.c_void_p
    cf.CFRelease.argtypes = [ctypes.c_void_p]
    cf.CFRelease.restype = None
    # IOReturn IOPMAssertionCreateWithName(CFStringRef type, IOPMAssertionLevel level (uint32),
    #                                      CFStringRef name, IOPMAssertionID *id (uint32))
    iokit.IOPMAssertionCreateWithName.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p,
                                                  ctypes.POINTER(ctypes.c_uint32)]
    iokit.IOPMAssertionCreateWithName.restype = ctypes.c_int32
    iokit.IOPMAssertionRelease.argtypes = [ctypes.c_uint32]
    iokit.IOPMAssertionRelease.restype = ctypes.c_int32

    def cf_string(text: str) -> int:
        ref = cf.CFStringCreateWithCString(None, text.encode("utf-8"), CF_STRING_ENCODING_UTF8)
        if not ref:
            raise OSError("CFStringCreateWithCString failed")
        return ref

    def create(kind: str, level: int, reason: str) -> tuple[int, int]:
        kind_ref = cf_string(kind)
        try:
            reason_ref = cf_string(reason)
            try:
                assertion = ctypes.c_uint32(0)
                result = iokit.IOPMAssertionCreateWithName(kind_ref, level, reason_ref, ctypes.byref(assertion))
                return result, assertion.value
            finally:
                cf.CFRelease(reason_ref)
        finally:
            cf.CFRelease(kind_ref)

    return create, iokit.IOPMAssertionRelease


# --- the factory -----------------------------------------------------------------------------------

_FREEDESKTOP_PLATFORMS = ("linux", "freebsd", "openbsd", "netbsd", "dragonfly", "sunos")


def sleep_inhibitor(platform: str | None = None) -> SleepInhibitor:
    """The inhibitor for ``platform`` (default: this system's ``sys.platform``). Creating one loads
    nothing; the system is asked at the first :meth:`~SleepInhibitor.inhibit`."""
    name = sys.platform if platform is None else platform
    if name == "win32":
        return WindowsInhibitor()
    if name == "darwin":
        return MacInhibitor()
    if name.startswith(_FREEDESKTOP_PLATFORMS):
        return FreedesktopInhibitor()
    return NullInhibitor(f"not available: no screen-sleep mechanism known for {name!r}")
