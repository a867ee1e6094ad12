"""The clinical record database (bls/session/store.py): one SQLite file, WAL, versioned schema with
forward migrations, files that are not bls's (or from a newer bls) refused and never modified, private
permissions, CHECK constraints, the writer thread (upserts, retries) and erasure.

Expected values are written out here (column names, messages' key words, bytes of files), never read
from the code under test. Faults that need a mount (read-only, full disk) and a killed process are in
tests/e2e/test_record_db_faults.py.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bls.session import store
from bls.session.store import Records, RecordStore, StoreError, connect, delete_client

OURS = 0x626C7301  # "bls" 1: the application id of a bls record database, as documented in store.py
REPO = Path(__file__).resolve().parent.parent.parent

# the schema of the current version, written out (a change of schema without a migration fails here)
COLUMNS = {
    "sessions": ["id", "uid", "client_code", "started_at", "ended_at", "app_version", "record_file"],
    "targets": ["session_id", "n", "set_at", "image", "nc", "pc", "voc", "emotions", "sud", "body"],
    "medicine": ["session_id", "n", "taken_at", "route", "dose"],
    "sets": ["session_id", "n", "target_n", "started_at", "ended_at", "started_s", "ended_s", "preset",
             "stop_reason", "set_mode", "passes_requested", "passes_delivered", "seconds_requested",
             "seconds_delivered", "speed_min", "speed_max", "level_min", "level_max", "carrier_min",
             "carrier_max", "target_min", "target_max", "tone", "visual", "gentle", "unlocked", "sud", "voc",
             "note", "medicine_min", "audio_device", "display", "facts"],
}


def session(uid="s-1", client="C-017", **kw) -> dict:
    return {"uid": uid, "client_code": client, "started_at": "2026-03-02T09:00:00+01:00", "ended_at": None,
            "app_version": "test", "record_file": None, **kw}


def set_row(n, **kw) -> dict:
    row = {"n": n, "target_n": 1, "started_at": "2026-03-02T09:01:00+01:00",
           "ended_at": "2026-03-02T09:01:14+01:00", "started_s": 60.0, "ended_s": 74.0, "preset": "standard",
           "stop_reason": "complete", "set_mode": "passes", "passes_requested": 24, "passes_delivered": 24.0,
           "seconds_requested": 30.0, "seconds_delivered": 13.7, "speed_min": 1.0, "speed_max": 1.0,
           "level_min": -24.0, "level_max": -24.0, "carrier_min": 440.0, "carrier_max": 440.0,
           "target_min": 4.0, "target_max": 4.0, "tone": True, "visual": True, "gentle": False,
           "unlocked": "{}", "sud": None, "voc": None, "note": "", "medicine_min": None,
           "audio_device": "test", "display": "test", "facts": "{}"}
    row.update(kw)
    return row


def read(path: Path, sql: str, args=()) -> list[tuple]:
    """The test's own look into the database (read-only, through the standard library)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in ``folder``: its bytes and modification time (ns)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()}


def wait_for(condition, timeout=15.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.005)  # polling a condition, not a pause the test relies on


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "data" / "records.sqlite3"


def write_sessions(path: Path, batches) -> None:
    """Rows through the writer thread (one RecordStore per session, as the app has), all committed."""
    uids = list(dict.fromkeys(sess["uid"] for sess, *_ in batches))
    for uid in uids:
        s = RecordStore(path, retry_s=0.05)
        try:
            for sess, kind, n, row in batches:
                if sess["uid"] == uid:
                    s.put(sess, kind, n, row)
            assert s.flush(10.0), s.problem
        finally:
            assert s.close(10.0)


# --------------------------------------------------------------------------- where and how


def test_the_database_is_one_file_in_the_data_folder_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("BLS_DATA_DIR", str(tmp_path / "elsewhere"))
    assert store.default_db_path() == tmp_path / "elsewhere" / "records.sqlite3"


def test_a_new_database_is_wal_private_and_in_a_private_folder(db_path):
    old = os.umask(0)  # the most permissive umask: bls's modes may not depend on the user's
    try:
        s = RecordStore(db_path, retry_s=0.05)
        s.put(session(), "set", 1, set_row(1))
        assert s.flush(10.0), s.problem
        # while the writer's connection is open the log and its index exist: private too
        for suffix in ("", "-wal", "-shm"):
            assert stat.S_IMODE(os.stat(f"{db_path}{suffix}").st_mode) == 0o600, suffix
        assert stat.S_IMODE(os.stat(db_path.parent).st_mode) == 0o700
        assert read(db_path, "PRAGMA journal_mode") == [("wal",)]
        db = connect(db_path)  # every commit synced to disk (FULL = 2), deleted content overwritten
        try:
            assert db.execute("PRAGMA synchronous").fetchone()[0] == 2
            assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1
        finally:
            db.close()
        assert read(db_path, "PRAGMA application_id") == [(OURS,)]
        assert s.close(10.0)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600


def test_an_over_wide_folder_and_file_are_tightened(db_path):
    write_sessions(db_path, [(session(), None, 0, None)])
    os.chmod(db_path.parent, 0o755)
    os.chmod(db_path, 0o644)
    write_sessions(db_path, [(session(uid="s-2"), None, 0, None)])
    assert stat.S_IMODE(os.stat(db_path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600


def test_the_current_schema_is_as_documented(db_path):
    write_sessions(db_path, [(session(), None, 0, None)])
    for table, columns in COLUMNS.items():
        assert [r[1] for r in read(db_path, f"PRAGMA table_info({table})")] == columns, table
    assert read(db_path, "PRAGMA user_version") == [(store.SCHEMA_VERSION,)]


# --------------------------------------------------------------------------- migrations

#: rows as each version stored them, used to check a migration keeps them. A new schema version adds
#: the rows its predecessor held here (the test below fails until it does).
OLD_ROWS = {
    1: ["INSERT INTO sessions (id, uid, client_code, started_at, ended_at, app_version) VALUES "
        "(7, 'old-1', 'C-001', '2026-01-05T10:00:00+01:00', '2026-01-05T11:00:00+01:00', '0.1.0')",
        "INSERT INTO targets (session_id, n, image, nc, pc, voc, sud) VALUES "
        "(7, 1, 'the storm', 'I am weak', 'I can cope', 2, 8)",
        "INSERT INTO medicine (session_id, n, taken_at, route, dose) VALUES "
        "(7, 1, '2026-01-05T09:40:00+01:00', 'sublingual', '1 tablet')",
        "INSERT INTO sets (session_id, n, target_n, gentle, unlocked, sud, voc, note, facts) VALUES "
        "(7, 1, 1, 1, '{}', 5, 3, 'further away', '{}')"],
}


def build_at(path: Path, version: int) -> None:
    """A database as a bls at schema ``version`` left it (0: the empty file bls makes first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if version == 0:
        path.write_bytes(b"")
        return
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("BEGIN")
    for v in range(version):
        store.MIGRATIONS[v](db)
    db.execute(f"PRAGMA user_version={version}")
    db.execute(f"PRAGMA application_id={OURS}")
    for sql in OLD_ROWS[version]:
        db.execute(sql)
    db.execute("COMMIT")
    db.close()


def test_there_is_a_migration_from_every_earlier_version():
    assert sorted(store.MIGRATIONS) == list(range(store.SCHEMA_VERSION))
    assert set(range(1, store.SCHEMA_VERSION)) <= set(OLD_ROWS), "add the rows of the previous version"


@pytest.mark.parametrize("version", range(store.SCHEMA_VERSION))
def test_a_database_of_every_earlier_version_is_brought_forward(tmp_path, version):
    old, fresh = tmp_path / "old" / "records.sqlite3", tmp_path / "new" / "records.sqlite3"
    build_at(old, version)
    write_sessions(old, [(session(uid="after"), "set", 1, set_row(1, sud=4))])
    write_sessions(fresh, [(session(uid="after"), None, 0, None)])
    assert read(old, "PRAGMA user_version") == [(store.SCHEMA_VERSION,)]
    assert read(old, "PRAGMA application_id") == [(OURS,)]
    schema = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
    assert read(old, schema) == read(fresh, schema)  # the same as a database made today
    with Records(old) as r:
        sessions = {s["uid"]: s for s in r.sessions()}
        assert sessions["after"]["sets"] == 1
        if version >= 1:  # what the old version held is still there
            kept = r.session(sessions["old-1"]["id"])
            assert kept["client_code"] == "C-001"
            assert [(t["image"], t["sud"], t["voc"]) for t in kept["targets"]] == [("the storm", 8, 2)]
            assert [(m["route"], m["dose"]) for m in kept["medicine"]] == [("sublingual", "1 tablet")]
            assert [(s["sud"], s["voc"], s["note"]) for s in kept["sets"]] == [(5, 3, "further away")]


def test_a_migration_that_fails_half_way_leaves_the_database_as_it_was(db_path, monkeypatch):
    real = store.MIGRATIONS[0]

    def broken(db):
        real(db)
        raise sqlite3.OperationalError("disk I/O error")  # as if the disk failed after the tables

    monkeypatch.setitem(store.MIGRATIONS, 0, broken)
    with pytest.raises(StoreError):
        connect(db_path)
    assert read(db_path, "SELECT name FROM sqlite_master") == []
    assert read(db_path, "PRAGMA user_version") == [(0,)]
    monkeypatch.setitem(store.MIGRATIONS, 0, real)
    connect(db_path).close()  # the next start migrates it whole
    assert read(db_path, "PRAGMA user_version") == [(store.SCHEMA_VERSION,)]


def test_the_first_rows_of_a_new_database_are_written_at_the_first_attempt(db_path):
    s = RecordStore(db_path, retry_s=60.0)  # a retry would come far too late for flush
    s.put(session(), "set", 1, set_row(1, sud=3))
    assert s.flush(10.0), s.problem
    assert s.problem == "" and s.written == 1
    assert s.close(10.0)
    assert read(db_path, "SELECT n, sud FROM sets") == [(1, 3)]


# --------------------------------------------------------------------------- refusing what is not ours


def newer_database(path: Path, pending_log: bool) -> None:
    """A record database written by a bls whose schema is one past ours; with ``pending_log``, its last
    transaction is still in the -wal file, as after a crash of that bls (copied while it was open)."""
    build_at(path, 1)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA user_version={store.SCHEMA_VERSION + 1}")
    db.close()
    if pending_log:
        live = path.with_name("live.sqlite3")
        path.rename(live)
        db = sqlite3.connect(live, isolation_level=None)
        db.execute("PRAGMA wal_autocheckpoint=0")
        db.execute("INSERT INTO sessions (uid, started_at) VALUES ('newer', '2027-01-01T09:00:00+01:00')")
        for suffix in ("", "-wal", "-shm"):
            shutil.copyfile(f"{live}{suffix}", f"{path}{suffix}")
        db.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{live}{suffix}").unlink(missing_ok=True)
        assert Path(f"{path}-wal").stat().st_size > 0


@pytest.mark.parametrize("pending_log", [False, True], ids=["clean", "log-pending"])
def test_a_database_from_a_newer_bls_is_refused_and_never_modified(db_path, pending_log):
    newer_database(db_path, pending_log)
    before = files(db_path.parent)
    with pytest.raises(StoreError) as info:
        connect(db_path)
    assert "newer bls" in str(info.value) and "update bls" in str(info.value)
    with pytest.raises(StoreError, match="newer bls"):
        Records(db_path)
    s = RecordStore(db_path, retry_s=0.05)
    s.put(session(), "set", 1, set_row(1, sud=2))
    assert not s.flush(10.0)
    assert "newer bls" in s.problem
    assert not s.close(2.0)
    after = files(db_path.parent)
    assert after.keys() == before.keys()
    for name in before:  # the -shm index may be rebuilt by a reader; the database and its log never
        if not name.endswith("-shm"):
            assert after[name] == before[name], name


def other_programs_database(path: Path, how: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    if how == "wal":
        db.execute("PRAGMA journal_mode=WAL")
    if how == "app-id":
        db.execute("PRAGMA application_id=1598903374")  # another program's id ("MPBS"), no tables
    else:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        db.execute("INSERT INTO notes (text) VALUES ('another program''s data')")
    db.close()


@pytest.mark.parametrize("how", ["rollback-journal", "wal", "app-id"])
def test_another_programs_sqlite_file_is_refused_and_never_modified(db_path, how):
    other_programs_database(db_path, how)
    before = files(db_path.parent)
    with pytest.raises(StoreError, match="another program's database"):
        connect(db_path)
    s = RecordStore(db_path, retry_s=0.05)
    s.put(session(), "set", 1, set_row(1))
    assert not s.flush(10.0)
    assert "another program's database" in s.problem
    s.close(2.0)
    assert files(db_path.parent) == before


def damaged(path: Path, how: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if how == "garbage":
        path.write_bytes(bytes(range(256)) * 64)
    elif how == "text":
        path.write_text("these are my notes, not a database\n")
    else:  # a bls database cut short (a disk that failed, a copy that stopped half way)
        write_sessions(path, [(session(), "set", n, set_row(n, note="x" * 900, facts=json.dumps({"k": "y" * 3000})))
                              for n in range(1, 20)])
        size = path.stat().st_size
        assert size >= 16 * 4096
        with open(path, "r+b") as fh:
            fh.truncate(size // 2)


@pytest.mark.parametrize("how", ["garbage", "text", "truncated"])
def test_a_damaged_file_is_refused_with_a_reason_and_never_modified(db_path, how):
    damaged(db_path, how)
    before = files(db_path.parent)
    with pytest.raises(StoreError) as info:
        connect(db_path)
    assert "damaged" in str(info.value) and "left as it is" in str(info.value)
    s = RecordStore(db_path, retry_s=0.05)
    s.put(session(), "set", 1, set_row(1))
    assert not s.flush(10.0)
    assert "damaged" in s.problem
    s.close(2.0)
    assert files(db_path.parent) == before


def _child(code: str, env_path: Path, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """``code`` in a child process (a FIFO that blocked would hang the child, not the test run)."""
    prog = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from bls.session.store import RecordStore, Records, StoreError, connect
        path = Path({str(env_path)!r})
    """) + textwrap.dedent(code)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", prog], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
@pytest.mark.parametrize("where", ["", "-wal"], ids=["database", "its-log"])
def test_a_named_pipe_at_the_path_is_refused_without_blocking(db_path, where):
    if where:
        build_at(db_path, 1)
    else:
        db_path.parent.mkdir(parents=True)
    os.mkfifo(f"{db_path}{where}")
    proc = _child("""
        for opener in (connect, Records):
            try:
                opener(path)
                print("opened")
            except StoreError as exc:
                print("refused:", exc)
        s = RecordStore(path, retry_s=0.05)
        s.put({"uid": "u", "client_code": None, "started_at": "2026-01-01T00:00:00+00:00", "ended_at": None,
               "app_version": "t", "record_file": None})
        print("flushed" if s.flush(5.0) else "problem: " + s.problem)
        print("closed" if s.close(2.0) else "kept pending")
    """, db_path)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stderr
    assert lines[0].startswith("refused:") and "not a regular file" in lines[0], lines
    assert lines[1].startswith("refused:") and "not a regular file" in lines[1], lines
    assert lines[2].startswith("problem:") and "not a regular file" in lines[2], lines
    assert lines[3] == "kept pending"
    assert stat.S_ISFIFO(os.lstat(f"{db_path}{where}").st_mode)


def test_a_symlink_at_the_path_is_refused_and_its_target_left_alone(db_path, tmp_path):
    real = tmp_path / "real" / "records.sqlite3"
    write_sessions(real, [(session(), "set", 1, set_row(1, sud=6))])
    db_path.parent.mkdir(parents=True)
    db_path.symlink_to(real)
    before = files(real.parent)
    for opener in (connect, Records):
        with pytest.raises(StoreError, match="is a link"):
            opener(db_path)
    s = RecordStore(db_path, retry_s=0.05)
    s.put(session(uid="s-2"), "set", 1, set_row(1, sud=1))
    assert not s.flush(10.0) and "is a link" in s.problem
    s.close(2.0)
    assert files(real.parent) == before
    assert db_path.is_symlink()


# --------------------------------------------------------------------------- the database's own checks


@pytest.mark.parametrize("table, column, value", [
    ("sets", "sud", 11), ("sets", "sud", -1), ("sets", "voc", 0), ("sets", "voc", 8), ("sets", "sud", "high"),
    ("targets", "sud", 11), ("targets", "voc", 0), ("targets", "voc", 8)])
def test_check_constraints_keep_impossible_scores_out_even_past_the_python_checks(db_path, table, column, value):
    write_sessions(db_path, [(session(), "target", 1, {"n": 1, "image": "x"}), (session(), "set", 1, set_row(1))])
    db = connect(db_path)
    try:
        before = db.execute(f"SELECT * FROM {table}").fetchall()
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            db.execute(f"UPDATE {table} SET {column} = ?", (value,))
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            db.execute(f"INSERT INTO {table} (session_id, n, {column}{', gentle, unlocked, facts' if table == 'sets' else ''})"
                       f" VALUES (1, 9, ?{', 0, ?, ?' if table == 'sets' else ''})",
                       (value, "{}", "{}") if table == "sets" else (value,))
        assert [tuple(r) for r in db.execute(f"SELECT * FROM {table}")] == [tuple(r) for r in before]
    finally:
        db.close()
    # the same through the writer: the batch is refused whole and nothing of it is stored
    s = RecordStore(db_path, retry_s=60.0)
    row = set_row(2, **{column: value}) if table == "sets" else {"n": 2, column: value}
    s.put(session(), "set" if table == "sets" else "target", 2, row)
    assert not s.flush(10.0)
    assert "CHECK constraint failed" in s.problem
    s.close(1.0)
    assert read(db_path, f"SELECT count(*) FROM {table} WHERE n = 2") == [(0,)]


# --------------------------------------------------------------------------- the writer thread


def test_every_row_put_is_committed_and_an_upsert_keeps_the_latest(db_path):
    s = RecordStore(db_path, retry_s=0.05)
    s.put(session(client=None), None)
    s.put(session(), "target", 1, {"n": 1, "image": "the crash", "sud": 7, "voc": 3})
    s.put(session(), "medicine", 1, {"n": 1, "taken_at": "2026-03-02T08:40:00+01:00", "route": "oral", "dose": "d"})
    s.put(session(), "set", 1, set_row(1))
    assert s.flush(10.0), s.problem
    # another connection (another process would see the same) finds every row committed
    assert read(db_path, "SELECT client_code FROM sessions") == [("C-017",)]
    assert read(db_path, "SELECT n, sud, note FROM sets") == [(1, None, "")]
    s.put(session(), "set", 1, set_row(1, sud=6, note="calmer"))  # the SUD typed in the rest
    s.put(session(ended_at="2026-03-02T10:00:00+01:00"), None)
    assert s.flush(10.0), s.problem
    assert s.close(10.0)
    assert read(db_path, "SELECT n, sud, note FROM sets") == [(1, 6, "calmer")]
    assert read(db_path, "SELECT count(*), max(ended_at) FROM sessions") == [(1, "2026-03-02T10:00:00+01:00")]
    assert read(db_path, "SELECT image, sud, voc FROM targets") == [("the crash", 7, 3)]
    assert read(db_path, "SELECT route, dose FROM medicine") == [("oral", "d")]


def test_put_never_waits_for_a_database_that_is_locked(db_path):
    write_sessions(db_path, [(session(), "set", 1, set_row(1, sud=6))])
    other = sqlite3.connect(db_path, isolation_level=None, timeout=0)
    other.execute("BEGIN EXCLUSIVE")
    s = RecordStore(db_path, retry_s=0.05)
    try:
        s.put(session(), "set", 2, set_row(2))
        wait_for(lambda: "in use by another program" in s.problem, what="the lock reported")
        # the writer is now retrying against the lock; put still returns at once (a bounded call)
        for n in range(3, 30):
            s.put(session(), "set", n, set_row(n, sud=n % 11))
        assert s.pending >= 28
    finally:
        other.execute("ROLLBACK")
        other.close()
    wait_for(lambda: s.pending == 0, what="the pending rows written once the lock went")
    assert s.problem == ""
    assert s.close(10.0)
    assert read(db_path, "SELECT n, sud FROM sets ORDER BY n") == [(1, 6), (2, None)] + [(n, n % 11) for n in range(3, 30)]


def test_a_locked_database_is_said_in_words_and_the_rows_wait_whole(db_path):
    write_sessions(db_path, [(session(), "set", 1, set_row(1, sud=6, note="before the lock"))])
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    s = RecordStore(db_path, retry_s=0.05)
    s.put(session(), "set", 2, set_row(2, sud=4, note="during the lock"))
    assert not s.flush(10.0)
    assert "in use by another program" in s.problem
    assert read(db_path, "SELECT n, sud, note FROM sets") == [(1, 6, "before the lock")]
    other.execute("COMMIT")
    other.close()
    wait_for(lambda: s.pending == 0, what="the pending row written after the lock")
    assert s.problem == ""
    assert s.close(10.0)
    assert read(db_path, "SELECT n, sud, note, stop_reason, facts FROM sets ORDER BY n") == [
        (1, 6, "before the lock", "complete", "{}"), (2, 4, "during the lock", "complete", "{}")]


@pytest.mark.parametrize("error, words", [
    (sqlite3.OperationalError("database is locked"), "in use by another program"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "read-only"),
    (sqlite3.OperationalError("database or disk is full"), "disk is full"),
    (sqlite3.DatabaseError("file is not a database"), "damaged"),
    (sqlite3.DatabaseError("database disk image is malformed"), "damaged"),
])
def test_sqlite_errors_are_explained_in_words(error, words):
    assert words in store.explain(error)


# --------------------------------------------------------------------------- erasure


def two_clients(db_path: Path, folder: Path, elsewhere: Path) -> dict:
    """Two clients' sessions; C-017's first session has its technical record in ``folder``, its second
    one names a file outside it; C-042's has its own record in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    elsewhere.mkdir(parents=True, exist_ok=True)
    rec = {"a1": folder / "session-2026-03-02-090000.json", "a2": elsewhere / "session-2026-03-09-090000.json",
           "b1": folder / "session-2026-03-03-090000.json"}
    for p in rec.values():
        p.write_text('{"app": "bls", "sets": [], "events": []}')
    rows = []
    for uid, client, rf, note, image in (("a1", "C-017", rec["a1"], "SECRET-NOTE-A1", "SECRET-IMAGE-A"),
                                          ("a2", "C-017", rec["a2"], "SECRET-NOTE-A2", "SECRET-IMAGE-A"),
                                          ("b1", "C-042", rec["b1"], "note of b", "image of b")):
        sess = session(uid=uid, client=client, record_file=str(rf))
        rows += [(sess, "target", 1, {"n": 1, "image": image, "nc": "SECRET-NC-" + uid, "sud": 8}),
                 (sess, "medicine", 1, {"n": 1, "taken_at": "2026-03-02T08:40:00+01:00", "route": "SECRET-ROUTE-" + uid,
                                        "dose": "d"}),
                 (sess, "set", 1, set_row(1, sud=5, note=note)), (sess, "set", 2, set_row(2, sud=3))]
    write_sessions(db_path, rows)
    return rec


def count_rows(db_path: Path, client: str) -> dict:
    out = {"sessions": read(db_path, "SELECT count(*) FROM sessions WHERE client_code = ?", (client,))[0][0]}
    for table in ("targets", "medicine", "sets"):
        out[table] = read(db_path, f"SELECT count(*) FROM {table} JOIN sessions ON sessions.id = session_id "
                                   "WHERE client_code = ?", (client,))[0][0]
    return out


def test_erasing_a_client_removes_their_rows_and_records_and_keeps_the_others(db_path, tmp_path):
    folder, elsewhere = tmp_path / "data" / "sessions", tmp_path / "elsewhere"
    rec = two_clients(db_path, folder, elsewhere)
    assert count_rows(db_path, "C-017") == {"sessions": 2, "targets": 2, "medicine": 2, "sets": 4}
    b_before = read(db_path, "SELECT sets.* FROM sets JOIN sessions ON sessions.id = session_id "
                             "WHERE client_code = 'C-042' ORDER BY n")
    n_sessions, n_sets, removed = delete_client(db_path, "C-017", folder)
    assert (n_sessions, n_sets) == (2, 4)
    assert removed == [str(rec["a1"])]
    assert count_rows(db_path, "C-017") == {"sessions": 0, "targets": 0, "medicine": 0, "sets": 0}
    assert read(db_path, "SELECT count(*) FROM targets") == [(1,)] and read(db_path, "SELECT count(*) FROM medicine") == [(1,)]
    assert count_rows(db_path, "C-042") == {"sessions": 1, "targets": 1, "medicine": 1, "sets": 2}
    assert read(db_path, "SELECT sets.* FROM sets JOIN sessions ON sessions.id = session_id "
                         "WHERE client_code = 'C-042' ORDER BY n") == b_before
    assert not rec["a1"].exists()
    assert rec["a2"].read_text().startswith('{"app": "bls"')  # outside the records folder: never touched
    assert rec["b1"].exists()


def test_erasure_leaves_no_trace_of_the_text_in_the_file_or_its_log(db_path, tmp_path):
    folder = tmp_path / "data" / "sessions"
    two_clients(db_path, folder, tmp_path / "elsewhere")
    secrets = [b"SECRET-NOTE-A1", b"SECRET-NOTE-A2", b"SECRET-IMAGE-A", b"SECRET-NC-a1", b"SECRET-ROUTE-a2"]
    # the text is there before (the check below would prove nothing otherwise): in the file or its log
    on_disk = db_path.read_bytes() + (Path(f"{db_path}-wal").read_bytes() if Path(f"{db_path}-wal").exists() else b"")
    assert all(s in on_disk for s in secrets)
    delete_client(db_path, "C-017", folder)
    wal = Path(f"{db_path}-wal")
    data = db_path.read_bytes()
    log = wal.read_bytes() if wal.exists() else b""
    for s in secrets:
        assert s not in data and s not in log, s
    assert b"note of b" in data + log


def test_erasure_while_another_connection_holds_the_log_says_so(db_path, tmp_path):
    """A reader (the app running, another tool) keeps SQLite from emptying the log: the deletion is
    done but the text may remain in the -wal file until then; bls says so instead of claiming success."""
    folder = tmp_path / "data" / "sessions"
    two_clients(db_path, folder, tmp_path / "elsewhere")
    reader = sqlite3.connect(db_path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM sets").fetchone()
    try:
        with pytest.raises(StoreError) as info:
            delete_client(db_path, "C-017", folder)
        text = str(info.value)
        assert "deleted" in text and "another program" in text and "again" in text
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert count_rows(db_path, "C-017")["sessions"] == 0
    delete_client(db_path, "C-017", folder)  # run again once the other program let go: the log is emptied
    wal = Path(f"{db_path}-wal")
    log = wal.read_bytes() if wal.exists() else b""
    assert b"SECRET-NOTE-A1" not in log + db_path.read_bytes()


def test_erasure_removes_a_record_only_if_it_is_a_file_of_bls_in_the_folder(db_path, tmp_path):
    folder = tmp_path / "data" / "sessions"
    folder.mkdir(parents=True)
    precious = tmp_path / "precious.json"
    precious.write_text("the therapist's own file")
    link = folder / "session-2026-03-02-090000.json"
    link.symlink_to(precious)  # a link in the folder pointing outside it
    dotdot = folder / ".." / ".." / "precious-2.json"
    Path(dotdot).write_text("another own file")
    other_name = folder / "notes.json"
    other_name.write_text("not a session record")
    rows = []
    for uid, rf in (("l", link), ("d", dotdot), ("o", other_name)):
        rows.append((session(uid=uid, client="C-017", record_file=str(rf)), "set", 1, set_row(1)))
    write_sessions(db_path, rows)
    n_sessions, _sets, removed = delete_client(db_path, "C-017", folder)
    assert n_sessions == 3 and removed == []
    assert precious.read_text() == "the therapist's own file" and link.is_symlink()
    assert Path(dotdot).read_text() == "another own file"
    assert other_name.read_text() == "not a session record"


def test_erasure_removes_the_clinical_record_kept_in_a_technical_record(db_path, tmp_path):
    """While the database failed, a session's clinical record was kept in its JSON record (and the
    database never heard of that session): erasing the client removes that file too."""
    folder = tmp_path / "data" / "sessions"
    two_clients(db_path, folder, tmp_path / "elsewhere")
    kept = folder / "session-2026-03-16-090000.json"
    kept.write_text(json.dumps({"app": "bls", "clinical": {"client_code": "C-017", "sets": [{"note": "SECRET"}]},
                                "sets": [], "events": []}))
    other = folder / "session-2026-03-17-090000.json"
    other.write_text(json.dumps({"app": "bls", "clinical": {"client_code": "C-042"}, "sets": [], "events": []}))
    _n, _s, removed = delete_client(db_path, "C-017", folder)
    assert str(kept) in removed and not kept.exists()
    assert other.exists()


def test_erasing_from_a_missing_database_makes_none(db_path):
    with pytest.raises(StoreError, match="no record database"):
        delete_client(db_path, "C-017")
    assert not db_path.exists()


def test_a_row_the_writer_cannot_handle_is_said_and_the_thread_goes_on(db_path):
    s = RecordStore(db_path, retry_s=0.05)
    s.put(session(), "set", 1, set_row(1, sud=2, passes_requested=2 ** 70))  # a bug elsewhere: too big for SQLite
    assert not s.flush(10.0)
    assert "could not be written" in s.problem and "OverflowError" in s.problem
    s.put(session(), "set", 1, set_row(1, sud=2))  # the row corrected: the thread is still there to write it
    wait_for(lambda: s.pending == 0, what="the writer recovering")
    assert s.problem == ""
    assert s.close(10.0)
    assert read(db_path, "SELECT n, sud, passes_requested FROM sets ORDER BY n") == [(1, 2, 24)]


def test_a_probing_store_tells_an_unusable_database_before_any_row_is_put(db_path):
    newer_database(db_path, False)
    before = files(db_path.parent)
    s = RecordStore(db_path, probe=True)
    wait_for(lambda: s.problem, what="the probe's verdict")
    assert "newer bls" in s.problem and s.pending == 0
    assert s.close(2.0)  # nothing was put: nothing is left unwritten
    assert files(db_path.parent)["records.sqlite3"] == before["records.sqlite3"]


def test_a_probing_store_makes_a_usable_database_at_once_and_says_nothing(db_path):
    s = RecordStore(db_path, probe=True)
    wait_for(lambda: db_path.exists() and s._db is not None, what="the database opened")
    assert s.problem == ""
    assert s.close(2.0)
    assert sqlite3.connect(db_path).execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION


def test_version_1_let_a_fractional_score_in_and_version_2_rounds_it_and_refuses_new_ones(db_path):
    """v1's checks were range checks only: 5.5 got past them (written past bls's own checks). Brought
    forward, it is rounded half up (the migration never fails on an old row); from v2 on, the database
    itself refuses a score that is not a whole number."""
    build_at(db_path, 1)
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("INSERT INTO sets (session_id, n, target_n, gentle, unlocked, sud, voc, note, facts) VALUES "
               "(7, 2, 1, 1, '{}', 5.5, 2.4, 'a fraction', '{}')")
    db.execute("INSERT INTO targets (session_id, n, sud, voc) VALUES (7, 2, 6.5, NULL)")
    db.close()
    connect(db_path).close()
    assert read(db_path, "SELECT n, sud, voc, typeof(sud) FROM sets ORDER BY n") == [
        (1, 5, 3, "integer"), (2, 6, 2, "integer")]
    assert read(db_path, "SELECT n, sud, voc FROM targets ORDER BY n") == [(1, 8, 2), (2, 7, None)]
    db = sqlite3.connect(db_path, isolation_level=None)
    for sql in ("UPDATE sets SET sud = 4.5 WHERE n = 1", "UPDATE targets SET voc = 3.2 WHERE n = 1",
                "UPDATE sets SET sud = 11 WHERE n = 1"):
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            db.execute(sql)
    db.execute("UPDATE sets SET sud = '4' WHERE n = 1")  # a whole number given as text is one
    assert db.execute("SELECT sud, typeof(sud) FROM sets WHERE n = 1").fetchone() == (4, "integer")
    db.close()
