"""The record database when things go wrong: another program holding it locked, a read-only disk, a
full disk, a damaged file, and the process killed (SIGKILL) mid-session.

In every case the sets still run, the problem is told in words (``store.problem``, the ``record_db``
events that ``store_state`` goes with), what was already stored stays as it was, rows that wait are
written whole once the fault clears, and what could not be written at the end is kept in the
session's JSON technical record. Read-only and full disks are small tmpfs mounts (root only; skipped
with the reason elsewhere; read-only falls back to file modes when not root).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bls.core.preset import builtin_presets
from bls.session.record import SessionRecord
from bls.session.script import parse_script, run
from bls.session.store import RecordStore

from .conftest import REPO, base_env, bls_command

pytestmark = pytest.mark.e2e

STARTED = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
SET_GAP_S = 25.0  # a standard set (24 passes at 1 cycle/s, with fades) ends about 14 s after its start


def sud_of(i: int) -> int:
    return (10 - i) % 11


def note_of(i: int, client: str) -> str:
    return f"{client}: after set {i}"


def session_yaml(sets: int, client: str = "C-017", gap: float = SET_GAP_S) -> str:
    """A session of ``sets`` standard sets; after each, a SUD, a VOC and a note in the rest."""
    lines = ["preset: standard", "actions:",
             f"  - {{at: 0.1, do: client, code: {client}}}",
             "  - {at: 0.2, do: target, image: the crash, nc: I am helpless, pc: I survived, voc: 3, sud: 7}",
             "  - {at: 0.3, do: medicine, route: sublingual, dose: as prescribed, minutes_ago: 20}"]
    for i in range(1, sets + 1):
        t = 0.5 + (i - 1) * gap
        lines += [f"  - {{at: {t}, do: start}}",
                  f"  - {{at: {t + 18}, do: sud, value: {sud_of(i)}}}",
                  f"  - {{at: {t + 19}, do: voc, value: {1 + i % 7}}}",
                  f"  - {{at: {t + 20}, do: note, text: '{note_of(i, client)}'}}"]
    return "\n".join(lines) + "\n"


def expected_sets(sets: int, client: str = "C-017") -> list[tuple]:
    return [(i, sud_of(i), 1 + i % 7, note_of(i, client), "complete") for i in range(1, sets + 1)]


def read(path: Path, sql: str, args=()) -> list[tuple]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def stored_sets(db: Path, client: str) -> list[tuple]:
    return read(db, "SELECT sets.n, sud, voc, note, stop_reason FROM sets JOIN sessions ON sessions.id = session_id "
                    "WHERE client_code = ? ORDER BY sets.n", (client,))


def run_session(db: Path, record_file: Path, sets: int, client: str, on_line=None, retry_s: float = 0.05):
    """A scripted session (the app's core on a script's clock) storing into ``db``; ``on_line(line)``
    sees each action's report as it happens. Returns (core, close_store's answer, problems seen)."""
    store = RecordStore(db, retry_s=retry_s)
    said = []

    def say(line):
        said.append(line)
        if on_line is not None:
            on_line(line)

    core = None
    try:
        core = run(parse_script(session_yaml(sets, client)), builtin_presets()["standard"],
                   SessionRecord(record_file), say=say, store=store, started=STARTED)
    finally:
        if core is None:
            store.close(5.0)
    return core, core.close_store(10.0), said


def db_events(core) -> list[tuple]:
    return [(e["ok"], e.get("why", "")) for e in core.record.events if e["kind"] == "record_db"]


def files(folder: Path) -> dict:
    """Every file in ``folder`` with its bytes and modification time; SQLite's shared-memory index
    (-shm), which a reader may rebuild, by its presence only (it holds no record, only where pages are)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) if not p.name.endswith("-shm") else "present"
            for p in sorted(folder.iterdir()) if p.is_file()}


def kept_clinical(record_file: Path) -> dict:
    """The clinical record as the session's JSON technical record keeps it."""
    return json.loads(record_file.read_text())["clinical"]


def assert_kept_in_the_json_record(record_file: Path, sets: int, client: str) -> None:
    doc = kept_clinical(record_file)
    assert doc["client_code"] == client
    assert [(s["n"], s["sud"], s["voc"], s["note"], s["stop_reason"]) for s in doc["sets"]] == \
        expected_sets(sets, client)
    assert [(t["image"], t["sud"], t["voc"]) for t in doc["targets"]] == [("the crash", 7, 3)]
    assert [(m["route"], m["dose"], m["taken_at"]) for m in doc["medicine"]] == [
        ("sublingual", "as prescribed", "2026-03-02T08:40:00+01:00")]


@pytest.fixture
def earlier(tmp_path):
    """A database holding one earlier session of another client (C-001, 2 sets), all committed."""
    db = tmp_path / "data" / "records.sqlite3"
    _core, problem, _ = run_session(db, tmp_path / "earlier.json", 2, "C-001")
    assert problem == ""
    assert stored_sets(db, "C-001") == expected_sets(2, "C-001")
    return db


# --------------------------------------------------------------------------- locked


def test_a_database_locked_by_another_program_is_told_and_the_rows_wait_for_it(earlier, tmp_path):
    other = sqlite3.connect(earlier, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    state = {"locked": True}

    def on_line(line):  # the other program lets go after the note of set 2
        if state["locked"] and "note: note for set 2" in line:
            other.execute("COMMIT")
            state["locked"] = False

    try:
        core, problem, said = run_session(earlier, tmp_path / "session.json", 3, "C-017", on_line)
    finally:
        if state["locked"]:
            other.execute("ROLLBACK")
        other.close()
    assert not state["locked"], said
    assert [s["stop_reason"] for s in core.record.sets] == ["complete"] * 3  # the sets ran
    events = db_events(core)
    assert events[0][0] is False and "in use by another program" in events[0][1]
    assert events[-1] == (True, "")
    assert problem == ""
    assert stored_sets(earlier, "C-001") == expected_sets(2, "C-001")  # what was stored is intact
    assert stored_sets(earlier, "C-017") == expected_sets(3)  # the waiting rows were written whole
    assert "clinical" not in json.loads((tmp_path / "session.json").read_text())


def test_a_lock_that_never_goes_keeps_the_session_in_its_json_record(earlier, tmp_path):
    other = sqlite3.connect(earlier, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        core, problem, _ = run_session(earlier, tmp_path / "session.json", 2, "C-017")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert [s["stop_reason"] for s in core.record.sets] == ["complete"] * 2
    assert "in use by another program" in problem
    assert_kept_in_the_json_record(tmp_path / "session.json", 2, "C-017")
    assert stored_sets(earlier, "C-017") == []
    assert stored_sets(earlier, "C-001") == expected_sets(2, "C-001")


# --------------------------------------------------------------------------- mounts


def _mount_tmpfs(mnt: Path, size: str) -> str | None:
    """Mount a tmpfs of ``size`` on ``mnt``; the reason it could not be (None: mounted)."""
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        return "mounting a tmpfs needs root"
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return f"mount is not permitted here: {proc.stderr.strip()}"
    return None


def _umount(mnt: Path) -> None:
    if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


class ReadOnly:
    """A folder that can be made read-only and writable again: a tmpfs remounted ro (root), or file
    modes (not root: root is not stopped by them)."""

    def __init__(self, folder: Path, mounted: bool):
        self.folder, self.mounted = folder, mounted

    def protect(self) -> None:
        if self.mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(self.folder)], check=True)
        else:
            for p in self.folder.rglob("*"):
                os.chmod(p, 0o400 if p.is_file() else 0o500)

    def release(self) -> None:
        if self.mounted:
            subprocess.run(["mount", "-o", "remount,rw", str(self.folder)], check=True)
        else:
            for p in [self.folder, *self.folder.rglob("*")]:
                os.chmod(p, 0o600 if p.is_file() else 0o700)


@pytest.fixture
def readonly(tmp_path):
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if os.name == "posix" and os.geteuid() != 0:
        yield ReadOnly(mnt, mounted=False)
        ReadOnly(mnt, mounted=False).release()
        return
    why = _mount_tmpfs(mnt, "4m")
    if why:
        pytest.skip(f"read-only database: {why}, and file modes do not stop root")
    try:
        yield ReadOnly(mnt, mounted=True)
    finally:
        _umount(mnt)


def test_a_read_only_database_is_told_and_the_session_kept_in_its_json_record(readonly, tmp_path):
    db = readonly.folder / "data" / "records.sqlite3"
    _core, problem, _ = run_session(db, tmp_path / "earlier.json", 2, "C-001")
    assert problem == ""
    readonly.protect()
    before = files(db.parent)
    try:
        core, problem, _ = run_session(db, tmp_path / "session.json", 2, "C-017")
        assert files(db.parent) == before  # nothing changed, not even a log file left
    finally:
        readonly.release()
    assert [s["stop_reason"] for s in core.record.sets] == ["complete"] * 2
    assert "read-only" in problem
    assert db_events(core)[0][0] is False and "read-only" in db_events(core)[0][1]
    assert_kept_in_the_json_record(tmp_path / "session.json", 2, "C-017")
    assert stored_sets(db, "C-001") == expected_sets(2, "C-001")
    assert stored_sets(db, "C-017") == []


def test_a_read_only_disk_made_writable_again_takes_the_waiting_rows_whole(readonly, tmp_path):
    db = readonly.folder / "data" / "records.sqlite3"
    _core, problem, _ = run_session(db, tmp_path / "earlier.json", 2, "C-001")
    readonly.protect()
    state = {"protected": True}

    def on_line(line):  # writable again after the note of set 2
        if state["protected"] and "note: note for set 2" in line:
            readonly.release()
            state["protected"] = False

    try:
        core, problem, said = run_session(db, tmp_path / "session.json", 3, "C-017", on_line)
    finally:
        if state["protected"]:
            readonly.release()
    assert not state["protected"], said
    events = db_events(core)
    assert events[0][0] is False and "read-only" in events[0][1], events
    assert events[-1] == (True, "") and problem == ""
    assert stored_sets(db, "C-001") == expected_sets(2, "C-001")
    assert stored_sets(db, "C-017") == expected_sets(3)


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    why = _mount_tmpfs(mnt, "1m")
    if why:
        pytest.skip(f"full disk: {why}")
    try:
        yield mnt
    finally:
        _umount(mnt)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(100_000):
            os.write(fd, b"\0" * 4096)
        pytest.fail("the tmpfs never filled up")
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_is_told_and_the_rows_are_written_whole_once_space_is_freed(small_disk, tmp_path):
    db = small_disk / "data" / "records.sqlite3"
    _core, problem, _ = run_session(db, tmp_path / "earlier.json", 2, "C-001")
    assert problem == ""
    filler = fill(small_disk)

    def on_line(line):  # space is freed after the note of set 2
        if "note: note for set 2" in line and filler.exists():
            filler.unlink()

    core, problem, said = run_session(db, tmp_path / "session.json", 3, "C-017", on_line)
    assert not filler.exists(), said
    assert [s["stop_reason"] for s in core.record.sets] == ["complete"] * 3
    events = db_events(core)
    assert events[0][0] is False and "disk is full" in events[0][1], events
    assert events[-1] == (True, "")
    assert problem == ""
    assert stored_sets(db, "C-001") == expected_sets(2, "C-001")
    assert stored_sets(db, "C-017") == expected_sets(3)


def test_a_disk_that_stays_full_keeps_the_session_in_its_json_record(small_disk, tmp_path):
    db = small_disk / "data" / "records.sqlite3"
    _core, problem, _ = run_session(db, tmp_path / "earlier.json", 2, "C-001")
    assert problem == ""
    fill(small_disk)
    core, problem, _ = run_session(db, tmp_path / "session.json", 2, "C-017")
    assert [s["stop_reason"] for s in core.record.sets] == ["complete"] * 2
    assert "disk is full" in problem
    assert_kept_in_the_json_record(tmp_path / "session.json", 2, "C-017")
    (small_disk / "filler").unlink()
    assert stored_sets(db, "C-001") == expected_sets(2, "C-001")


# --------------------------------------------------------------------------- damaged


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_a_damaged_database_is_left_as_it_is_and_the_session_kept_in_its_json_record(earlier, tmp_path, how):
    if how == "garbage":
        earlier.write_bytes(os.urandom(64 * 1024))
    else:
        with open(earlier, "r+b") as fh:
            fh.truncate(earlier.stat().st_size // 2)
    before = files(earlier.parent)
    seen = {}

    def on_line(line):  # right after an entry, while the database fails, the JSON record holds it
        if "note: note for set 1" in line:
            seen["sets"] = kept_clinical(tmp_path / "session.json")["sets"]

    core, problem, _ = run_session(earlier, tmp_path / "session.json", 2, "C-017", on_line)
    assert [s["stop_reason"] for s in core.record.sets] == ["complete"] * 2
    assert "damaged" in problem and "left as it is" in problem
    assert [(s["n"], s["sud"], s["note"]) for s in seen["sets"]] == [(1, sud_of(1), note_of(1, "C-017"))]
    assert_kept_in_the_json_record(tmp_path / "session.json", 2, "C-017")
    assert files(earlier.parent) == before


@pytest.mark.parametrize("log", [False, True], ids=["no-log", "log"])
def test_bls_script_keeps_the_clinical_record_in_a_file_it_names(tmp_path, log):
    """``bls script`` writes no technical record unless asked (--log); when the database cannot take the
    session, the clinical record goes to the --log file, or without one to a file in the records
    folder, and bls says which."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "records.sqlite3").write_bytes(b"not a database at all, but the therapist's file\n" * 100)
    script = tmp_path / "session.yaml"
    script.write_text(session_yaml(2))
    extra = ["--log", str(tmp_path / "log.json")] if log else []
    proc = subprocess.run([*bls_command(), "script", str(script), *extra],
                          env=base_env(BLS_DATA_DIR=str(data), PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "damaged" in proc.stderr
    if log:
        kept = tmp_path / "log.json"
        assert not (data / "sessions").exists()
    else:
        (kept,) = list((data / "sessions").glob("session-*.json"))
    assert str(kept) in proc.stderr
    doc = kept_clinical(kept)
    assert doc["client_code"] == "C-017"
    assert [(s["n"], s["sud"], s["note"]) for s in doc["sets"]] == [(i, sud_of(i), note_of(i, "C-017")) for i in (1, 2)]
    assert (data / "records.sqlite3").read_bytes() == b"not a database at all, but the therapist's file\n" * 100


# --------------------------------------------------------------------------- killed


def _read_lines_until(proc: subprocess.Popen, predicate, timeout: float) -> list[str]:
    """stdout lines of ``proc`` up to the first for which ``predicate(line)`` holds."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if predicate(lines[-1]):
            return lines
    proc.kill()
    pytest.fail(f"the child never printed the line it was waited for; it printed: {lines!r}")


@pytest.mark.parametrize("k", [2, 4])
def test_bls_script_killed_mid_session_keeps_every_set_that_had_ended(tmp_path, k):
    data = tmp_path / "data"
    script = tmp_path / "session.yaml"
    script.write_text(session_yaml(40))  # far more sets than are run before the kill
    env = base_env(BLS_DATA_DIR=str(data), PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))  # each line as it is printed
    proc = subprocess.Popen([*bls_command(), "script", str(script)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    starts = []

    def kth_start(line):
        if "start: applied" in line:
            starts.append(line)
        return len(starts) == k

    try:
        lines = _read_lines_until(proc, kth_start, timeout=120)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, lines  # killed, not finished
    assert f"{0.5 + (k - 1) * SET_GAP_S:8.2f} s  start: applied" == lines[-1]
    db = data / "records.sqlite3"
    got = stored_sets(db, "C-017")
    assert got[:k - 1] == expected_sets(k - 1)  # every set that had ended, with its SUD, VOC and note
    assert len(got) <= k
    assert read(db, "SELECT image, sud FROM targets") == [("the crash", 7)]
    # the next bls opens it (the log left by the kill is taken in) and goes on storing
    store = RecordStore(db)
    store.put({"uid": "next", "client_code": "C-017", "started_at": "2026-03-03T09:00:00+01:00", "ended_at": None,
               "app_version": "t", "record_file": None})
    assert store.flush(10.0), store.problem
    assert store.close(10.0)
    assert read(db, "SELECT count(*) FROM sessions") == [(2,)]


CHILD = """
import sys
from bls.session.store import RecordStore
path, flushed = sys.argv[1], int(sys.argv[2])
store = RecordStore(path)
session = {"uid": "killed", "client_code": "C-017", "started_at": "2026-03-02T09:00:00+01:00", "ended_at": None,
           "app_version": "t", "record_file": None}

def row(n):
    return {"n": n, "target_n": None, "gentle": False, "unlocked": "{}", "sud": n % 11, "voc": 1 + n % 7,
            "note": f"note {n} " + "x" * 500, "facts": "{}", "stop_reason": "complete"}

for n in range(1, flushed + 1):
    store.put(session, "set", n, row(n))
assert store.flush(10.0), store.problem
print("flushed", flush=True)
n = flushed
while True:  # writing on until killed: the kill lands in the middle of writing
    n += 1
    store.put(session, "set", n, row(n))
    store.flush(10.0)
"""


def test_rows_flushed_before_a_kill_are_in_the_database_and_every_row_is_whole(tmp_path):
    db = tmp_path / "data" / "records.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), str(db), "25"],
                            env=base_env(PYTHONPATH=str(REPO)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        _read_lines_until(proc, lambda line: line == "flushed", timeout=60)
        # let it write on: wait until the database holds more than what was flushed (or a deadline)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if read(db, "SELECT count(*) FROM sets")[0][0] > 25:
                    break
            except sqlite3.OperationalError:
                pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    rows = read(db, "SELECT n, sud, voc, note, stop_reason FROM sets ORDER BY n")
    assert [r[0] for r in rows][:25] == list(range(1, 26))
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # no gap
    for n, sud, voc, note, reason in rows:  # every row whole
        assert (sud, voc, note, reason) == (n % 11, 1 + n % 7, f"note {n} " + "x" * 500, "complete")
    assert read(db, "PRAGMA integrity_check") == [("ok",)]


# --------------------------------------------------------------------------- no network

NO_NETWORK_CHILD = """
import sys
seen = []
NET = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto", "socket.bind",
       "urllib.Request", "http.client.connect", "ftplib.connect", "smtplib.connect")
sys.addaudithook(lambda event, args: seen.append(event) if event in NET else None)
from bls.cli import main
try:
    status = main(sys.argv[1:])
finally:
    print("network:", sorted(set(seen)), file=sys.stderr, flush=True)
sys.exit(status)
"""


def test_a_session_and_its_record_make_no_network_connection(tmp_path):
    """Python's audit hooks see every socket connection, name lookup and URL opened from Python."""
    data = tmp_path / "data"
    script = tmp_path / "session.yaml"
    script.write_text(session_yaml(2))
    proc = subprocess.run([sys.executable, "-c", NO_NETWORK_CHILD, "script", str(script)],
                          env=base_env(BLS_DATA_DIR=str(data), PYTHONPATH=str(REPO)), capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "network: []" in proc.stderr
    assert stored_sets(data / "records.sqlite3", "C-017") == expected_sets(2)


# --------------------------------------------------------------------------- the app


def test_the_app_with_a_damaged_database_runs_and_keeps_the_set_in_its_json_record(screens_env, tmp_path):
    """The app itself: a set runs, is quit mid-way, and with the database refused the set's clinical
    row is kept in the session's technical record in the records folder; bls says where and exits 1."""
    data = tmp_path / "appdata"
    data.mkdir()
    garbage = os.urandom(8192)
    (data / "records.sqlite3").write_bytes(garbage)
    env = dict(screens_env, BLS_DATA_DIR=str(data), PYTHONPATH=str(REPO))
    proc = subprocess.run([*bls_command(), "--preset", "standard", "--client-screen", "CLIENT", "--start",
                           "--exit-after", "2"], env=env, capture_output=True, text=True, timeout=90, cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr
    (record,) = list((data / "sessions").glob("session-*.json"))
    assert "damaged" in proc.stderr and str(record) in proc.stderr
    doc = kept_clinical(record)
    assert [(s["n"], s["stop_reason"]) for s in doc["sets"]] == [(1, "quit")]
    assert (data / "records.sqlite3").read_bytes() == garbage


def test_a_rehearsal_keeps_nothing(tmp_path):
    data = tmp_path / "data"
    script = tmp_path / "session.yaml"
    script.write_text(session_yaml(1))
    proc = subprocess.run([*bls_command(), "script", str(script), "--no-record"],
                          env=base_env(BLS_DATA_DIR=str(data), PYTHONPATH=str(REPO)), capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "sud: sud for set 1" in proc.stdout
    assert not data.exists() or list(data.rglob("*")) == []
