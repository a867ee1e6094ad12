"""``bls script``: the gentle-mode findings reproduced from a script of the therapist's actions, checked
from outside (the record it writes, the audio it plays); bad scripts get clear messages."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bls.core.render import read_wav

from .conftest import base_env, bls_command, no_traceback, run

pytestmark = pytest.mark.e2e

GENTLE_SESSION = """\
preset: gentle
actions:
  - {at: 0.5, do: start}
  - {at: 4.0, do: set, field: motion.speed_cycles_per_s, value: 0.6, answer: yes}
  - {at: 6.0, do: key, key: Up}          # 0.65: further than unlocked, asks again; no
  - {at: 9.0, do: key, key: Escape}
  - {at: 16.0, do: key, key: Space}      # 4.5 s into the 30 s rest: asks; the default waits
  - {at: 18.0, do: key, key: Space, answer: yes}
  - {at: 24.0, do: gentle, on: false, answer: open}   # "Leave gentle mode?" stays open ...
  - {at: 25.0, do: key, key: B}          # ... and the clicker's stop still stops the set
"""


def script(tmp_path, text: str, *extra: str):
    path = tmp_path / "session.yaml"
    path.write_text(text)
    return run([*bls_command(), "script", str(path), *extra], base_env(), timeout=120, cwd=tmp_path)


@pytest.fixture(scope="module")
def gentle_session(tmp_path_factory):
    d = tmp_path_factory.mktemp("script")
    proc = script(d, GENTLE_SESSION, "--log", str(d / "record.json"), "--out", str(d / "session.wav"))
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    return proc, json.loads((d / "record.json").read_text()), read_wav(d / "session.wav")[0]


def kinds(doc):
    return [e["kind"] for e in doc["events"]]


def test_the_script_reports_each_action_and_writes_a_record(gentle_session):
    proc, doc, _ = gentle_session
    assert doc["schema_version"] == 2
    assert "asks “Leave the gentle limits?” Speed: 0.6 cycles/s" in proc.stdout
    assert "set 2:" in proc.stdout and "unlocked: speed 0.6" in proc.stdout
    (session_end,) = [e for e in doc["events"] if e["kind"] == "session_end"]
    assert session_end["t_s"] > 25.0


def test_an_unlock_is_one_value_and_going_further_asks_again(gentle_session):
    _, doc, _ = gentle_session
    unlocks = [e for e in doc["events"] if e["kind"] == "unlock"]
    assert [(u["limit"], u["value"]) for u in unlocks] == [("speed", 0.6)]
    asked = [e for e in doc["events"] if e["kind"] == "question"]
    assert [e["question"] for e in asked][:2] == ["unlock", "unlock"] and asked[1]["t_s"] == 6.0
    s1 = doc["sets"][0]
    speeds = [x["speed_cycles_per_s"] for x in s1["samples"]]
    assert max(speeds) == pytest.approx(0.6, abs=1e-6)  # delivered: up to the unlock, never 0.65
    assert s1["unlocked"] == {"speed": 0.6} and s1["gentle"] is True


def test_the_rest_holds_unless_the_therapist_says_yes(gentle_session):
    _, doc, _ = gentle_session
    s1, s2 = doc["sets"][:2]
    assert s2["started_s"] == pytest.approx(18.0, abs=0.011)  # not at 16.0: the safe answer waited
    (cut,) = [e for e in doc["events"] if e["kind"] == "rest_cut_short"]
    assert cut["t_s"] == 18.0 and cut["remaining_s"] == pytest.approx(30.0 - (18.0 - s1["ended_s"]), abs=0.02)


def test_a_stop_with_a_question_open_stops_the_set_and_keeps_gentle_mode(gentle_session):
    _, doc, audio = gentle_session
    s2 = doc["sets"][1]
    assert s2["stop_reason"] == "stopped" and s2["gentle"] is True
    answers = [e for e in doc["events"] if e["kind"] == "answer"]
    assert answers[-1]["answer"] == "no" and answers[-1]["why"] == "stop" and answers[-1]["t_s"] == 25.0
    assert "gentle_off" not in kinds(doc)
    # heard: silent within a second of the stop (gentle stop fade), and never above -24 dBFS
    after = audio[int(26.0 * 48000):]
    assert float(np.abs(after).max()) == 0.0
    assert 20 * math.log10(float(np.abs(audio).max())) <= -24.0 + 1e-6


@pytest.mark.parametrize("text, says", [
    ("preset: nope\nactions: []\n", "no preset named 'nope'"),
    ("actions:\n  - {at: 1, do: dance}\n", "action 1: do: 'dance' is not one of"),
    ("actions:\n  - {at: 2, do: start}\n  - {at: 1, do: stop}\n", "list actions in time order"),
    ("actions:\n  - {at: 1, do: key, key: Enter}\n", "key: 'Enter' is not one of"),
    ("actions:\n  - {at: 1, do: set, field: motion.speed_cycles_per_s}\n", "needs value"),
    ("actions: [\n", "not valid YAML"),
])
def test_a_bad_script_gets_a_clear_message(tmp_path, text, says):
    proc = script(tmp_path, text)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    no_traceback(proc)


def test_a_value_outside_the_schema_is_refused_in_the_record(tmp_path):
    proc = script(tmp_path, "preset: standard\nactions:\n  - {at: 0.5, do: start}\n"
                  "  - {at: 1.0, do: set, field: motion.speed_cycles_per_s, value: 5.0}\n  - {at: 2.0, do: stop}\n",
                  "--log", str(tmp_path / "r.json"))
    assert proc.returncode == 0 and "refused: motion.speed_cycles_per_s: 5.0 is out of range" in proc.stdout
    doc = json.loads((tmp_path / "r.json").read_text())
    assert max(x["speed_cycles_per_s"] for x in doc["sets"][0]["samples"]) <= 1.0 + 1e-9


# --------------------------------------------------------------------------- what --log and --out replace

SHORT = "preset: standard\nactions:\n  - {at: 0.5, do: start}\n  - {at: 1.5, do: stop}\n"


def test_the_log_is_private_when_new_and_keeps_its_mode(tmp_path):
    import os

    log = tmp_path / "log.json"
    proc = script(tmp_path, SHORT, "--log", str(log))
    assert proc.returncode == 0, proc.stderr
    assert (os.stat(log).st_mode & 0o777) == 0o600
    os.chmod(log, 0o640)
    assert script(tmp_path, SHORT, "--log", str(log)).returncode == 0
    assert (os.stat(log).st_mode & 0o777) == 0o640


@pytest.mark.parametrize("option", ["--log", "--out"])
@pytest.mark.parametrize("kind", ["symlink", "device"])
def test_a_link_or_a_device_is_refused_before_the_session_runs(tmp_path, option, kind):
    import os
    import stat

    target = tmp_path / "target"
    if kind == "symlink":
        (tmp_path / "precious").write_text("keep me")
        target.symlink_to(tmp_path / "precious")
    else:
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        try:
            os.mknod(target, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # what --log /dev/null would be
        except OSError as exc:
            pytest.skip(f"mknod is not permitted here: {exc}")
    before = os.lstat(target)
    proc = script(tmp_path, SHORT, option, str(target))
    no_traceback(proc)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith(f"bls script: cannot write {option} {target}: ")
    assert ("symbolic link" if kind == "symlink" else "a device") in proc.stderr
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
    if kind == "symlink":
        assert (tmp_path / "precious").read_text() == "keep me"


def test_a_script_that_is_a_fifo_an_alias_bomb_or_huge_is_refused_at_once(tmp_path):
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nactions: [*c]\n")
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as fh:
        fh.truncate(200 * 1024 * 1024)  # sparse: refused from its size, never read
    for path, says in ((fifo, "not a regular file"), (bomb, "aliases"), (huge, "too big for a session script")):
        proc = run([*bls_command(), "script", str(path)], base_env(), timeout=30, cwd=tmp_path)
        assert proc.returncode == 2 and says in proc.stderr, proc.stderr
        no_traceback(proc)
