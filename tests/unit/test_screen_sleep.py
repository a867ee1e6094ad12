"""Screen-sleep inhibitors, each with its platform simulated: the exact system calls and arguments,
idempotence, failure paths and what ``how`` says. The real D-Bus path is tested against a private bus in
tests/e2e/test_screen_sleep_dbus.py."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import bls
from bls.platform import screen_sleep as ss
from bls.platform.screen_sleep import (
    DBusError,
    FreedesktopInhibitor,
    MacInhibitor,
    NullInhibitor,
    WindowsInhibitor,
    sleep_inhibitor,
)

REASON = "EMDR session running"


# --- the factory and import-time behaviour ---------------------------------------------------------

@pytest.mark.parametrize("platform, cls", [
    ("linux", FreedesktopInhibitor), ("freebsd14", FreedesktopInhibitor), ("openbsd7", FreedesktopInhibitor),
    ("win32", WindowsInhibitor), ("darwin", MacInhibitor), ("emscripten", NullInhibitor),
    ("cygwin", NullInhibitor)])
def test_factory_picks_the_implementation_for_the_platform(platform, cls):
    inhibitor = sleep_inhibitor(platform)
    assert type(inhibitor) is cls
    assert inhibitor.active is False


def test_factory_reads_sys_platform_at_run_time(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert type(sleep_inhibitor()) is MacInhibitor
    monkeypatch.setattr(sys, "platform", "win32")
    assert type(sleep_inhibitor()) is WindowsInhibitor


def test_null_inhibitor_inhibits_nothing_and_says_why():
    inhibitor = sleep_inhibitor("emscripten")
    assert inhibitor.how == "not available: no screen-sleep mechanism known for 'emscripten'"
    assert inhibitor.inhibit(REASON) is False
    assert inhibitor.active is False
    inhibitor.release()
    assert inhibitor.how == "not available: no screen-sleep mechanism known for 'emscripten'"


IMPORT_PROBE = textwrap.dedent("""
    import json, sys
    for name in ("ctypes", "PySide6", "fcntl", "termios"):
        sys.modules[name] = None  # any import of these now raises ImportError
    try:
        import ctypes
        poisoned = False
    except ImportError:
        poisoned = True
    from bls.platform.screen_sleep import sleep_inhibitor
    out = {"poisoned": poisoned}
    for platform in ("linux", "win32", "darwin", "emscripten"):
        inhibitor = sleep_inhibitor(platform)
        out[platform] = [type(inhibitor).__name__, inhibitor.inhibit("r"), inhibitor.active, inhibitor.how]
        inhibitor.release()
    print(json.dumps(out))
""")


def test_module_imports_and_constructs_without_any_platform_library():
    # ctypes, PySide6 and POSIX-only modules made unimportable: importing the module and creating
    # every implementation still works, and inhibit reports instead of raising
    proc = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, timeout=120,
                          cwd=str(Path(bls.__file__).parents[1]))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out.pop("poisoned") is True
    assert out["linux"][:3] == ["FreedesktopInhibitor", False, False]
    assert out["linux"][3].startswith("not available: no QtDBus (")
    assert out["win32"][:3] == ["WindowsInhibitor", False, False]
    assert out["darwin"][:3] == ["MacInhibitor", False, False]
    for platform in ("win32", "darwin"):
        assert out[platform][3].startswith("not available: "), out
    assert out["emscripten"][:3] == ["NullInhibitor", False, False]


# --- Windows ---------------------------------------------------------------------------------------

class FakeSetState:
    def __init__(self, results=()):
        self.calls: list[int] = []
        self._results = list(results)

    def __call__(self, flags: int) -> int:
        self.calls.append(flags)
        return self._results.pop(0) if self._results else 0x80000000  # the previous state (non-zero)


def test_windows_asks_for_display_and_system_continuously_then_gives_back():
    set_state = FakeSetState()
    inhibitor = WindowsInhibitor(set_state)
    assert inhibitor.inhibit(REASON) is True
    assert set_state.calls == [0x80000003]  # ES_CONTINUOUS | ES_DISPLAY_REQUIRED | ES_SYSTEM_REQUIRED
    assert inhibitor.active is True
    assert inhibitor.how == "SetThreadExecutionState (display and system required)"
    inhibitor.release()
    assert set_state.calls == [0x80000003, 0x80000000]  # ES_CONTINUOUS alone: back to normal
    assert inhibitor.active is False


def test_windows_inhibit_and_release_are_idempotent():
    set_state = FakeSetState()
    inhibitor = WindowsInhibitor(set_state)
    inhibitor.release()
    assert set_state.calls == []  # release without inhibit asks nothing
    assert inhibitor.inhibit(REASON) and inhibitor.inhibit(REASON)
    assert set_state.calls == [0x80000003]
    inhibitor.release()
    inhibitor.release()
    assert set_state.calls == [0x80000003, 0x80000000]
    assert inhibitor.inhibit(REASON) is True  # again after a release
    assert set_state.calls == [0x80000003, 0x80000000, 0x80000003]


def test_windows_refusal_is_reported_and_nothing_is_released():
    set_state = FakeSetState(results=[0])  # NULL: the call failed
    inhibitor = WindowsInhibitor(set_state)
    assert inhibitor.inhibit(REASON) is False
    assert inhibitor.active is False
    assert inhibitor.how == "not available: SetThreadExecutionState failed"
    inhibitor.release()
    assert set_state.calls == [0x80000003]


def test_windows_release_failure_does_not_raise_and_is_noted():
    inhibitor = WindowsInhibitor(FakeSetState(results=[0x80000000, 0]))
    assert inhibitor.inhibit(REASON)
    inhibitor.release()
    assert inhibitor.active is False
    assert inhibitor.how == ("SetThreadExecutionState (display and system required) "
                             "(release failed: SetThreadExecutionState failed)")


def test_windows_without_kernel32_is_reported_not_raised(monkeypatch):
    monkeypatch.delattr(ctypes, "WinDLL", raising=False)
    inhibitor = WindowsInhibitor()
    assert inhibitor.inhibit(REASON) is False
    assert inhibitor.how == "not available: no kernel32 (not Windows)"


class FakeFunction:
    """A ctypes foreign function stand-in: records calls; accepts argtypes and restype."""

    def __init__(self, result=0, effect=None):
        self.calls: list[tuple] = []
        self.result, self.effect = result, effect
        self.argtypes = self.restype = "unset"

    def __call__(self, *args):
        self.calls.append(args)
        if self.effect:
            self.effect(*args)
        return self.result() if callable(self.result) else self.result


class FakeLibrary:
    def __init__(self, **functions: FakeFunction):
        self.__dict__.update(functions)


def test_kernel32_function_is_loaded_with_32_bit_unsigned_types():
    function = FakeFunction()
    loaded = []

    def load(name):
        loaded.append(name)
        return FakeLibrary(SetThreadExecutionState=function)

    assert ss.kernel32_set_thread_execution_state(load) is function
    assert loaded == ["kernel32"]
    assert function.argtypes == [ctypes.c_uint32] and function.restype is ctypes.c_uint32


# --- macOS -----------------------------------------------------------------------------------------

class FakeIOKit:
    def __init__(self, create_results=((0, 41),), release_result=0):
        self.created: list[tuple] = []
        self.released: list[int] = []
        self._create_results = list(create_results)
        self._release_result = release_result

    def create(self, kind, level, reason):
        self.created.append((kind, level, reason))
        return self._create_results.pop(0) if self._create_results else (0, 99)

    def release(self, assertion):
        self.released.append(assertion)
        return self._release_result


def test_mac_asserts_prevent_user_idle_display_sleep_and_releases_that_assertion():
    iokit = FakeIOKit()
    inhibitor = MacInhibitor(iokit.create, iokit.release)
    assert inhibitor.inhibit(REASON) is True
    assert iokit.created == [("PreventUserIdleDisplaySleep", 255, REASON)]  # kIOPMAssertionLevelOn
    assert inhibitor.how == "IOKit power assertion PreventUserIdleDisplaySleep"
    assert inhibitor.inhibit(REASON) is True
    assert len(iokit.created) == 1
    inhibitor.release()
    inhibitor.release()
    assert iokit.released == [41]
    assert inhibitor.active is False
    assert inhibitor.inhibit(REASON) and inhibitor.active
    inhibitor.release()
    assert iokit.released == [41, 99]


def test_mac_release_without_inhibit_asks_nothing():
    iokit = FakeIOKit()
    MacInhibitor(iokit.create, iokit.release).release()
    assert iokit.released == [] and iokit.created == []


def test_mac_refusal_is_reported_and_nothing_is_released():
    iokit = FakeIOKit(create_results=[(-536870206, 0)])  # kIOReturnBadArgument, as a signed IOReturn
    inhibitor = MacInhibitor(iokit.create, iokit.release)
    assert inhibitor.inhibit(REASON) is False
    assert inhibitor.how == "not available: IOPMAssertionCreateWithName returned 0xe00002c2"
    inhibitor.release()
    assert iokit.released == []


def test_mac_release_failure_does_not_raise_and_is_noted():
    iokit = FakeIOKit(release_result=-536870199)  # another failure code
    inhibitor = MacInhibitor(iokit.create, iokit.release)
    inhibitor.inhibit(REASON)
    inhibitor.release()
    assert inhibitor.active is False
    assert inhibitor.how.endswith("(release failed: IOPMAssertionRelease returned 0xe00002c9)")


def test_mac_needs_both_fakes_or_neither():
    with pytest.raises(ValueError):
        MacInhibitor(create=FakeIOKit().create)


def _fake_frameworks(create_result=0):
    refs = iter(range(1000, 2000))
    cf = FakeLibrary(CFStringCreateWithCString=FakeFunction(result=lambda: next(refs)),
                     CFRelease=FakeFunction(result=None))

    def fill_id(kind, level, reason, assertion_ref):
        assertion_ref._obj.value = 4242  # what IOKit writes through the IOPMAssertionID pointer

    iokit = FakeLibrary(IOPMAssertionCreateWithName=FakeFunction(result=create_result, effect=fill_id),
                        IOPMAssertionRelease=FakeFunction(result=0))
    libraries = {ss.CORE_FOUNDATION: cf, ss.IOKIT: iokit}
    return cf, iokit, libraries.__getitem__


def test_iokit_functions_pass_utf8_cfstrings_and_release_them():
    cf, iokit, load = _fake_frameworks()
    create, release = ss.iokit_assertion_functions(load)
    assert create("PreventUserIdleDisplaySleep", 255, "Sitzung läuft") == (0, 4242)
    assert cf.CFStringCreateWithCString.calls == [
        (None, b"PreventUserIdleDisplaySleep", 0x08000100),  # kCFStringEncodingUTF8
        (None, "Sitzung läuft".encode("utf-8"), 0x08000100)]
    (kind_ref, level, reason_ref, _), = iokit.IOPMAssertionCreateWithName.calls
    assert (kind_ref, level, reason_ref) == (1000, 255, 1001)
    assert sorted(cf.CFRelease.calls) == [(1000,), (1001,)]  # both strings freed
    assert iokit.IOPMAssertionCreateWithName.argtypes == [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
    assert iokit.IOPMAssertionCreateWithName.restype is ctypes.c_int32
    assert cf.CFStringCreateWithCString.restype is ctypes.c_void_p  # a pointer, not a truncated int
    assert release is iokit.IOPMAssertionRelease
    assert release.argtypes == [ctypes.c_uint32]


def test_iokit_failure_still_frees_the_strings_and_reports_the_code():
    cf, iokit, load = _fake_frameworks(create_result=-536870206)
    create, _ = ss.iokit_assertion_functions(load)
    assert create("PreventUserIdleDisplaySleep", 255, REASON)[0] == -536870206
    assert sorted(cf.CFRelease.calls) == [(1000,), (1001,)]


def test_iokit_cfstring_failure_raises_after_freeing_what_was_made():
    cf, iokit, load = _fake_frameworks()
    results = iter([1000, None])
    cf.CFStringCreateWithCString.result = lambda: next(results)
    create, _ = ss.iokit_assertion_functions(load)
    with pytest.raises(OSError, match="CFStringCreateWithCString failed"):
        create("PreventUserIdleDisplaySleep", 255, REASON)
    assert cf.CFRelease.calls == [(1000,)]
    assert iokit.IOPMAssertionCreateWithName.calls == []


# --- Linux and the BSDs: D-Bus ---------------------------------------------------------------------

class FakeBus:
    """A session bus with some services; ``refuse`` names the methods that answer with an error."""

    def __init__(self, services=(), refuse=(), cookie=7):
        self.services = set(services)
        self.refuse = set(refuse)
        self.cookie = cookie
        self.calls: list[tuple] = []

    def has_service(self, name):
        return name in self.services

    def call(self, service, path, interface, method, signature, args):
        assert service in self.services
        self.calls.append((service, path, interface, method, signature, args))
        if (service, method) in self.refuse:
            raise DBusError("org.example.Refused: no")
        return self.cookie if method == "Inhibit" else None


SS_INHIBIT = ("org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver", "org.freedesktop.ScreenSaver",
              "Inhibit", "ss", ("bls", REASON))
GNOME_INHIBIT = ("org.gnome.SessionManager", "/org/gnome/SessionManager", "org.gnome.SessionManager",
                 "Inhibit", "susu", ("bls", 0, REASON, 8))


def test_dbus_screensaver_inhibit_then_uninhibit_with_its_cookie():
    bus = FakeBus({"org.freedesktop.ScreenSaver", "org.gnome.SessionManager"}, cookie=3_000_000_000)
    inhibitor = FreedesktopInhibitor(bus)
    assert inhibitor.how == "org.freedesktop.ScreenSaver over D-Bus"
    assert inhibitor.inhibit(REASON) is True
    assert inhibitor.inhibit(REASON) is True
    assert bus.calls == [SS_INHIBIT]  # the first mechanism that works, asked once
    inhibitor.release()
    inhibitor.release()
    assert bus.calls[1:] == [("org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver",
                              "org.freedesktop.ScreenSaver", "UnInhibit", "u", (3_000_000_000,))]
    assert inhibitor.active is False
    assert inhibitor.how == "org.freedesktop.ScreenSaver over D-Bus"


def test_dbus_release_without_inhibit_asks_nothing():
    bus = FakeBus({"org.freedesktop.ScreenSaver"})
    FreedesktopInhibitor(bus).release()
    assert bus.calls == []


def test_dbus_gnome_session_manager_when_there_is_no_screensaver():
    bus = FakeBus({"org.gnome.SessionManager"}, cookie=12)
    inhibitor = FreedesktopInhibitor(bus)
    assert inhibitor.inhibit(REASON) is True
    assert inhibitor.how == "org.gnome.SessionManager over D-Bus"
    inhibitor.release()
    assert bus.calls == [GNOME_INHIBIT, ("org.gnome.SessionManager", "/org/gnome/SessionManager",
                                         "org.gnome.SessionManager", "Uninhibit", "u", (12,))]


def test_dbus_gnome_session_manager_when_the_screensaver_refuses():
    bus = FakeBus({"org.freedesktop.ScreenSaver", "org.gnome.SessionManager"},
                  refuse={("org.freedesktop.ScreenSaver", "Inhibit")})
    inhibitor = FreedesktopInhibitor(bus)
    assert inhibitor.inhibit(REASON) is True
    assert bus.calls == [SS_INHIBIT, GNOME_INHIBIT]
    inhibitor.release()
    assert bus.calls[-1][:4] == ("org.gnome.SessionManager", "/org/gnome/SessionManager",
                                 "org.gnome.SessionManager", "Uninhibit")


def test_dbus_without_any_service_reports_why():
    bus = FakeBus()
    inhibitor = FreedesktopInhibitor(bus)
    assert inhibitor.inhibit(REASON) is False
    assert inhibitor.active is False
    assert inhibitor.how == ("not available: no org.freedesktop.ScreenSaver on the session bus; "
                             "no org.gnome.SessionManager on the session bus")
    inhibitor.release()
    assert bus.calls == []


def test_dbus_all_refusing_reports_each_reason():
    bus = FakeBus({"org.freedesktop.ScreenSaver", "org.gnome.SessionManager"},
                  refuse={("org.freedesktop.ScreenSaver", "Inhibit"), ("org.gnome.SessionManager", "Inhibit")})
    inhibitor = FreedesktopInhibitor(bus)
    assert inhibitor.inhibit(REASON) is False
    assert inhibitor.how == ("not available: org.freedesktop.ScreenSaver refused (org.example.Refused: no); "
                             "org.gnome.SessionManager refused (org.example.Refused: no)")
    inhibitor.release()
    assert bus.calls == [SS_INHIBIT, GNOME_INHIBIT]


def test_dbus_uninhibit_failure_does_not_raise_and_is_noted():
    bus = FakeBus({"org.freedesktop.ScreenSaver"}, refuse={("org.freedesktop.ScreenSaver", "UnInhibit")})
    inhibitor = FreedesktopInhibitor(bus)
    assert inhibitor.inhibit(REASON)
    inhibitor.release()
    assert inhibitor.active is False
    assert inhibitor.how == ("org.freedesktop.ScreenSaver over D-Bus "
                             "(release failed: org.example.Refused: no)")
    assert inhibitor.inhibit(REASON) is True  # and a new session can inhibit again
    assert inhibitor.how == "org.freedesktop.ScreenSaver over D-Bus"


def test_dbus_without_a_session_bus_reports_why_and_retries_next_time(monkeypatch):
    attempts = []

    def no_bus():
        attempts.append(1)
        raise DBusError("no session bus (org.freedesktop.DBus.Error.FileNotFound: no socket)")

    monkeypatch.setattr(ss, "QtSessionBus", no_bus)
    inhibitor = FreedesktopInhibitor()
    assert inhibitor.inhibit(REASON) is False
    assert inhibitor.how == "not available: no session bus (org.freedesktop.DBus.Error.FileNotFound: no socket)"
    assert inhibitor.inhibit(REASON) is False
    assert len(attempts) == 2
    inhibitor.release()
