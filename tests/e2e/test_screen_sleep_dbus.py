"""The D-Bus sleep inhibitor against a real bus: a private ``dbus-daemon``, a fake desktop service
(``_fake_desktop_bus.py``) and the product's inhibitor in a child process (``_sleep_child.py``).

What the service records is what crossed the bus, dispatched on the exact D-Bus signature as the real
desktops do (a ``u`` sent as ``i`` would never arrive).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from .conftest import HERE, REPO, base_env

pytestmark = pytest.mark.e2e

SERVICE = HERE / "_fake_desktop_bus.py"
CHILD = HERE / "_sleep_child.py"
REASON = "EMDR session running"
COOKIE = 4_000_000_001  # what the fake service hands out (_fake_desktop_bus.COOKIE)
TIMEOUT_S = 30.0  # a guard against hanging, never a measurement

#: a session bus of our own: no service files (nothing is activated), anyone may own any name
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def wait_for(condition, what: str, timeout: float = TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return result


class Lines:
    """The lines a process writes to a pipe, read by a thread so each can be awaited with a timeout."""

    def __init__(self, pipe):
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe) -> None:
        for line in pipe:
            self._queue.put(line)
        self._queue.put("")

    def next(self, what: str) -> str:
        try:
            line = self._queue.get(timeout=TIMEOUT_S)
        except queue.Empty:
            raise AssertionError(f"timed out waiting for {what}") from None
        assert line, f"the process closed its output before {what}"
        return line


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def bus_env():
    """Environment for children on a private session bus of their own."""
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        pytest.skip("dbus-daemon is not installed (Debian: apt-get install dbus-daemon)")
    # the socket goes in a short directory (a UNIX socket path is limited to ~100 bytes)
    sock_dir = tempfile.mkdtemp(prefix="bls-dbus-")
    config = Path(sock_dir) / "bus.conf"
    config.write_text(BUS_CONFIG.format(dir=sock_dir))
    proc = subprocess.Popen([daemon, f"--config-file={config}", "--nofork", "--print-address=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        address = Lines(proc.stdout).next("dbus-daemon's address").strip()
        assert address.startswith("unix:"), address
        yield child_env(DBUS_SESSION_BUS_ADDRESS=address)
    finally:
        stop(proc)
        shutil.rmtree(sock_dir, ignore_errors=True)


def child_env(**extra: str) -> dict[str, str]:
    """This checkout's bls first on the path, whatever the interpreter has installed."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return base_env(PYTHONPATH=path, **extra)


@pytest.fixture
def desktop(bus_env, tmp_path):
    """start(kind) runs the fake desktop service on the private bus; returns a reader of its log."""
    started = []

    def start(kind: str):
        log = tmp_path / f"{kind}.jsonl"
        proc = subprocess.Popen([sys.executable, str(SERVICE), kind, str(log)], env=bus_env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(proc)

        def calls() -> list[dict]:
            if proc.poll() is not None:
                raise AssertionError(f"the fake service exited ({proc.returncode}): {proc.stderr.read()}")
            lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
            return [json.loads(line) for line in lines]

        wait_for(lambda: {"ready": True} in calls(), f"the fake {kind} service")
        return lambda: [c for c in calls() if "call" in c]

    yield start
    for proc in started:
        stop(proc)


class Child:
    """``_sleep_child.py``: inhibits at start, releases on request; its reports are JSON lines."""

    def __init__(self, env: dict[str, str]):
        self.proc = subprocess.Popen([sys.executable, str(CHILD), REASON], env=env, cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self._lines = Lines(self.proc.stdout)

    def report(self, what: str) -> dict:
        return json.loads(self._lines.next(what))

    def release(self) -> dict:
        self.proc.stdin.write("release\n")
        self.proc.stdin.flush()
        return self.report("the report after release")

    def finish(self) -> str:
        self.proc.stdin.close()
        self.proc.wait(timeout=TIMEOUT_S)
        err = self.proc.stderr.read()
        assert self.proc.returncode == 0, err
        assert "Traceback" not in err, err
        return err


@pytest.fixture
def child():
    children = []

    def start(env):
        children.append(Child(env))
        return children[-1]

    yield start
    for c in children:
        stop(c.proc)


def test_screensaver_inhibit_is_held_until_release_with_its_cookie(desktop, bus_env, child):
    calls = desktop("screensaver")
    c = child(bus_env)
    assert c.report("the report after inhibit") == {
        "ok": True, "active": True, "how": "org.freedesktop.ScreenSaver over D-Bus"}
    assert calls() == [{"call": "Inhibit", "args": ["bls", REASON], "cookie": COOKIE}]
    # held while the child lives on: nothing is given back until release
    assert c.release() == {"active": False, "how": "org.freedesktop.ScreenSaver over D-Bus"}
    wait_for(lambda: len(calls()) == 2, "UnInhibit")
    assert calls()[1] == {"call": "UnInhibit", "args": [COOKIE]}
    c.release()  # a second release asks nothing
    c.finish()
    assert len(calls()) == 2


def test_gnome_session_manager_is_the_fallback_with_the_idle_flag(desktop, bus_env, child):
    calls = desktop("gnome")
    c = child(bus_env)
    assert c.report("the report after inhibit") == {
        "ok": True, "active": True, "how": "org.gnome.SessionManager over D-Bus"}
    assert calls() == [{"call": "Inhibit", "args": ["bls", 0, REASON, 8], "cookie": COOKIE}]
    c.release()
    wait_for(lambda: len(calls()) == 2, "Uninhibit")
    assert calls()[1] == {"call": "Uninhibit", "args": [COOKIE]}
    c.finish()


def test_a_refusing_service_is_reported_not_raised(desktop, bus_env, child):
    calls = desktop("refuse")
    c = child(bus_env)
    assert c.report("the report after inhibit") == {
        "ok": False, "active": False,
        "how": "not available: org.freedesktop.ScreenSaver refused (org.example.Refused: inhibiting is "
               "switched off); no org.gnome.SessionManager on the session bus"}
    assert calls() == [{"call": "Inhibit", "args": ["bls", REASON], "refused": True}]
    c.release()  # nothing was inhibited: nothing is given back
    c.finish()
    assert len(calls()) == 1


def test_a_bus_without_any_service_is_reported_not_raised(bus_env, child):
    c = child(bus_env)
    assert c.report("the report after inhibit") == {
        "ok": False, "active": False,
        "how": "not available: no org.freedesktop.ScreenSaver on the session bus; "
               "no org.gnome.SessionManager on the session bus"}
    c.finish()


def test_no_session_bus_is_reported_not_raised(tmp_path, child):
    c = child(child_env(DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path / 'no-such-bus'}"))
    report = c.report("the report after inhibit")
    assert report["ok"] is False and report["active"] is False
    assert report["how"].startswith("not available: no session bus ("), report
    c.finish()
