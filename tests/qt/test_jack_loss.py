"""The audio output lost for real: a JACK server on the dummy driver, killed (SIGKILL) mid-set and while
idle, under the app (in process, offscreen). The GUI thread must never wait for PortAudio: the longest
gap between ticks of a 10 ms timer on it is measured from the kill until 3 s after. Then the server is
started again under the same name and the output chosen again under Sound: it plays again, and the
process does not abort (PortAudio is never terminated after its JACK server died)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer

from bls.core.engine import IDLE, RUNNING

from .._jack import JackServer, missing
from .conftest import wait_ms

#: the scenario runs in a process of its own: in a test process where many tests before it opened and
#: listed outputs with JACK's ALSA plugin and a CI JACK server, re-initialising PortAudio after the server
#: restart crashed the whole test run (SIGSEGV inside Pa_Initialize); see the closing note of issue 14
ISOLATED = os.environ.get("BLS_JACK_LOSS_CHILD") == "1"
in_its_own_process = pytest.mark.skipif(not ISOLATED, reason="run by test_the_jack_loss_scenario_in_its_own_process")


@pytest.mark.skipif(ISOLATED, reason="this is the child")
def test_the_jack_loss_scenario_in_its_own_process():
    why = missing()
    if why:
        pytest.skip(why)
    env = dict(os.environ, BLS_JACK_LOSS_CHILD="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", str(Path(__file__)), "-q", "-s", "-p", "no:cacheprovider",
                           "-p", "tests.qt._exit_at_once"],
                          env=env, capture_output=True, text=True, timeout=240, cwd=str(Path(__file__).parents[2]))
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"\b2 passed", proc.stdout), proc.stdout[-2000:]


#: the longest the GUI thread may go without running its timers after the kill (the issue's target is
#: 100 ms; this bound leaves room for a loaded machine, the figure is printed)
MAX_GAP_S = 0.5
OUTPUT = "system"  # PortAudio's JACK host API lists the server's playback ports under this name


class Ticks:
    """Times of a 10 ms precise timer on the GUI thread."""

    def __init__(self):
        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.setInterval(10)
        self.timer.timeout.connect(lambda: self.times.append(time.monotonic()))
        self.timer.start()

    def max_gap(self, a: float, b: float) -> float:
        ts = [a, *[t for t in self.times if a < t < b], b]
        return max(y - x for x, y in zip(ts, ts[1:]))


@pytest.fixture
def jack(tmp_path, monkeypatch):
    why = missing()
    if why:
        pytest.skip(why)
    server = JackServer(tmp_path)
    monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)  # read by libjack in this process
    server.start()
    yield server
    server.close()


@pytest.fixture
def app(qapp, jack, tmp_path):
    from bls.app import BlsApp

    a = BlsApp(qapp, preset="standard", client_screen="CLIENT", log=tmp_path / "L.json")
    yield a
    a.shutdown()
    a.control.deleteLater()
    a.display.deleteLater()
    qapp.processEvents()


def plays_on_jack(app, qtbot) -> None:
    """Choose the JACK output under Sound, as the therapist does; it takes over within a few seconds."""
    s = app.session
    app.choose_output(OUTPUT)
    qtbot.waitUntil(lambda: s.clock.is_device, timeout=10000)
    assert "JACK" in s.audio_status.summary, s.audio_status
    n = s.clock.stats.count
    qtbot.waitUntil(lambda: s.clock.stats.count > n + 5, timeout=3000)  # the server calls back


def survives_the_kill(app, jack, qtbot) -> float:
    s, ticks = app.session, Ticks()
    wait_ms(200)
    t_kill = time.monotonic()
    jack.kill()
    qtbot.waitUntil(lambda: s.audio_status.summary == "No sound: the audio output stopped", timeout=3000)
    assert app.control.audio_label.text().endswith("No sound: the audio output stopped")
    assert not s.clock.is_device
    wait_ms(int((t_kill + 3.0 - time.monotonic()) * 1000))
    gap = ticks.max_gap(t_kill, t_kill + 3.0)
    ticks.timer.stop()
    print(f"\nlongest GUI stall from the JACK kill until 3 s after: {gap * 1000:.0f} ms")
    return gap


def plays_again_after_a_restart(app, jack, qtbot) -> None:
    jack.start()  # same name: the therapist's sound server is back
    plays_on_jack(app, qtbot)


@in_its_own_process
def test_jack_killed_mid_set(app, jack, qtbot, tmp_path):
    s = app.session
    plays_on_jack(app, qtbot)
    app.control.start_button.click()
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    wait_ms(800)
    gap = survives_the_kill(app, jack, qtbot)
    assert s.status.state == RUNNING  # the set goes on, on the system clock
    frame = s.engine.next_frame
    qtbot.waitUntil(lambda: s.engine.next_frame > frame + 4800, timeout=1000)
    s.key("Escape")  # and it responds: the set stops as usual
    t = time.monotonic()
    qtbot.waitUntil(lambda: s.status.state == IDLE, timeout=2000)
    print(f"Esc to idle on the stand-in clock: {(time.monotonic() - t) * 1000:.0f} ms")
    rec = s.records[-1]
    assert rec["stop_reason"] == "stopped"
    doc = json.loads((tmp_path / "L.json").read_text(encoding="utf-8"))  # the record is written
    assert doc["sets"][-1]["stop_reason"] == "stopped"
    switch = [e for e in doc["events"] if e["kind"] == "clock_switch" and e.get("during_set")]
    assert switch and switch[0]["to"] == "system clock", doc["events"]
    assert gap < MAX_GAP_S
    plays_again_after_a_restart(app, jack, qtbot)


@in_its_own_process
def test_jack_killed_while_idle(app, jack, qtbot):
    s = app.session
    plays_on_jack(app, qtbot)
    gap = survives_the_kill(app, jack, qtbot)
    s.key("Space")  # a set on the system clock
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    s.key("Escape")
    qtbot.waitUntil(lambda: s.status.state == IDLE, timeout=2000)
    assert gap < MAX_GAP_S
    plays_again_after_a_restart(app, jack, qtbot)
