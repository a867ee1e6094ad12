"""The app as the therapist starts it, playing through a real JACK server (dummy driver) that is killed
mid-set: the set goes on on the system clock, ``--exit-after`` still quits (exit code 0, no abort in
PortAudio's JACK host API), and the record says the output stopped."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from .._jack import JackServer, missing
from .conftest import bls_command, no_traceback

pytestmark = pytest.mark.e2e

EXIT_AFTER_S = 6.0


def test_app_quits_on_time_after_its_jack_server_is_killed_mid_set(screens_env, tmp_path):
    why = missing()
    if why:
        pytest.skip(why)
    jack = JackServer(tmp_path)
    env = dict(screens_env, **jack.env)
    log = tmp_path / "L.json"
    jack.start()
    proc = None
    try:
        proc = subprocess.Popen([*bls_command(), "--preset", "standard", "--client-screen", "CLIENT", "--start",
                                 "--audio-device", "system", "--log", str(log), "--exit-after", str(EXIT_AFTER_S)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3.0)  # started, playing through JACK for a while
        jack.kill()
        t_kill = time.monotonic()
        out, err = proc.communicate(timeout=30)
        quit_s = time.monotonic() - t_kill
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        jack.close()
    no_traceback(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    assert "Assertion" not in err, err
    assert proc.returncode == 0, err
    assert quit_s < EXIT_AFTER_S + 10, quit_s  # --exit-after still quits (its fade gets up to 4 s)
    doc = json.loads(log.read_text(encoding="utf-8"))
    assert "bls: audio — Audio: system (JACK" in err, err  # it did play through the server
    assert doc["sets"][0]["stop_reason"] == "quit"
    switch = [e for e in doc["events"] if e["kind"] == "clock_switch" and e.get("during_set")]
    assert switch and switch[0]["to"] == "system clock", doc["events"]
    assert doc["audio_status"] == "No sound: the audio output stopped"
