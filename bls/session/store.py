"""The clinical record database: SQLite (the standard library's ``sqlite3``), one file per user.

Where: ``records.sqlite3`` in the user's data folder (:func:`bls.core.paths.data_dir`; ``BLS_DATA_DIR``
overrides it). The file is readable and writable by the user only (0600), its folder 0700. No network.

How it is written: a :class:`RecordStore` owns one writer thread and one connection; the session hands
it rows (the session, its targets, medicine, sets) and never waits. The thread commits each batch in one
transaction in WAL mode with ``synchronous=FULL``, so a set is on disk within milliseconds of its end and
a crash or power loss loses at most the set that was running. Rows are upserts keyed by (session, number):
a batch that fails (the database locked by another program, read-only, a full disk, damaged) stays
pending in memory and is written again, whole, when the fault clears; ``problem`` says what is wrong.

Schema versions: ``PRAGMA user_version``; :data:`MIGRATIONS` takes a database from each earlier version
to the next. A database from a newer bls is refused and never modified; a file that is not a bls
database (another program's SQLite file, a damaged file) is refused and never modified.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
from pathlib import Path

from ..core.paths import data_dir
from ..platform.files import FILES

SCHEMA_VERSION = 2
APPLICATION_ID = 0x626C7301  # "bls" 1: marks the file as bls's
DB_NAME = "records.sqlite3"
BUSY_TIMEOUT_S = 1.0  # another program holding a lock: wait this long, then retry later
RETRY_S = 3.0


def default_db_path() -> Path:
    return data_dir() / DB_NAME


class StoreError(Exception):
    """The record database cannot be used; the message says why in a therapist's words."""


# --------------------------------------------------------------------------- schema

_V1 = """
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    client_code TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    app_version TEXT,
    record_file TEXT
);
CREATE INDEX sessions_by_client ON sessions(client_code);
CREATE TABLE targets (
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    set_at TEXT,
    image TEXT, nc TEXT, pc TEXT,
    voc INTEGER CHECK (voc BETWEEN 1 AND 7),
    emotions TEXT,
    sud INTEGER CHECK (sud BETWEEN 0 AND 10),
    body TEXT,
    PRIMARY KEY (session_id, n)
);
CREATE TABLE medicine (
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    taken_at TEXT NOT NULL,
    route TEXT, dose TEXT,
    PRIMARY KEY (session_id, n)
);
CREATE TABLE sets (
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    target_n INTEGER,
    started_at TEXT, ended_at TEXT,
    started_s REAL, ended_s REAL,
    preset TEXT, stop_reason TEXT, set_mode TEXT,
    passes_requested INTEGER, passes_delivered REAL,
    seconds_requested REAL, seconds_delivered REAL,
    speed_min REAL, speed_max REAL, level_min REAL, level_max REAL,
    carrier_min REAL, carrier_max REAL, target_min REAL, target_max REAL,
    tone INTEGER, visual INTEGER, gentle INTEGER NOT NULL, unlocked TEXT NOT NULL,
    sud INTEGER CHECK (sud BETWEEN 0 AND 10),
    voc INTEGER CHECK (voc BETWEEN 1 AND 7),
    note TEXT,
    medicine_min REAL,
    audio_device TEXT, display TEXT,
    facts TEXT NOT NULL,
    PRIMARY KEY (session_id, n)
);
"""


def _statements(script: str) -> list[str]:
    """The statements of an SQL script, one by one (``executescript`` would commit the migration's
    transaction first and run the rest outside it)."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement: {current.strip()[:60]!r}")
    return out


def _to_v1(db: sqlite3.Connection) -> None:
    for statement in _statements(_V1):
        db.execute(statement)


_SCORE = {"sud": (0, 10), "voc": (1, 7)}


def _whole_score_checks(sql: str) -> str:
    """A v1 CREATE TABLE with its SUD/VOC checks made strict: whole numbers only (v1 let 5.5 through)."""
    for name, (lo, hi) in _SCORE.items():
        strict = f"typeof({name}) = 'integer' AND {name} BETWEEN {lo} AND {hi}"
        sql = sql.replace(f"{name} INTEGER CHECK ({name} BETWEEN {lo} AND {hi})",
                          f"{name} INTEGER CHECK ({name} IS NULL OR ({strict}))")
    return sql


def _to_v2(db: sqlite3.Connection) -> None:
    """SUD and VOC are whole numbers in the database too (v1 checked only the range). SQLite cannot
    change a table's checks: ``targets`` and ``sets`` are rebuilt with the stricter ones and their rows
    copied. A fractional score could only have been written past bls's own checks; it is rounded half
    up, so a migration never fails on an old row and nothing else changes."""
    for table in ("targets", "sets"):
        sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
        strict = _whole_score_checks(sql)
        if strict == sql:
            raise sqlite3.DatabaseError(f"the {table} table is not as bls 1 made it")
        columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        copied = [f"CAST(round({c}) AS INTEGER)" if c in _SCORE else c for c in columns]
        db.execute(strict.replace(f"CREATE TABLE {table} (", f"CREATE TABLE {table}_v2 (", 1))
        db.execute(f"INSERT INTO {table}_v2 ({', '.join(columns)}) SELECT {', '.join(copied)} FROM {table}")
        db.execute(f"DROP TABLE {table}")
        db.execute(f"ALTER TABLE {table}_v2 RENAME TO {table}")


# version k -> k + 1; every earlier version is tested (tests/unit/test_store.py)
MIGRATIONS = {0: _to_v1, 1: _to_v2}

SET_COLUMNS = ("n", "target_n", "started_at", "ended_at", "started_s", "ended_s", "preset", "stop_reason",
               "set_mode", "passes_requested", "passes_delivered", "seconds_requested", "seconds_delivered",
               "speed_min", "speed_max", "level_min", "level_max", "carrier_min", "carrier_max", "target_min",
               "target_max", "tone", "visual", "gentle", "unlocked", "sud", "voc", "note", "medicine_min", "audio_device",
               "display", "facts")
TARGET_COLUMNS = ("n", "set_at", "image", "nc", "pc", "voc", "emotions", "sud", "body")
MEDICINE_COLUMNS = ("n", "taken_at", "route", "dose")


# --------------------------------------------------------------------------- opening


def explain(exc: BaseException, path: Path | None = None) -> str:
    """An SQLite or OS error in a therapist's words. With ``path``, a vague error (SQLite's "disk I/O
    error", "unable to open database file") is made precise from the file system: read-only, full."""
    if isinstance(exc, StoreError):
        return str(exc)
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return "the record database is in use by another program (another bls?)"
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return "the record database is damaged (left as it is)"
    vague = isinstance(exc, (sqlite3.OperationalError, OSError))  # not a refused row (IntegrityError)
    found = _diagnose(path) if path is not None and vague else None
    if found:
        return found
    if "readonly" in low or "read-only" in low or "read only" in low:
        return "the record database is read-only"
    if "full" in low:
        return "the disk is full"
    if "unable to open" in low:
        return "the record database cannot be opened"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return text or exc.__class__.__name__


LOW_SPACE_BYTES = 1 << 20  # less free than this, and a write failed: the disk is full


def _diagnose(path: Path) -> str | None:
    """What the file system says about a write that failed at ``path``: read-only, or full (None:
    nothing found)."""
    folder = Path(path).parent
    statvfs = getattr(os, "statvfs", None)
    if statvfs is not None:
        try:
            vfs = statvfs(folder)
        except OSError:
            vfs = None
        if vfs is not None:
            if vfs.f_flag & getattr(os, "ST_RDONLY", 1):
                return "the disk or folder holding the record database is read-only"
            if vfs.f_bavail * vfs.f_frsize < LOW_SPACE_BYTES:
                return "the disk is full"
    if (os.path.exists(path) and not os.access(path, os.W_OK)) or not os.access(folder, os.W_OK):
        return "the record database is read-only (its file or folder cannot be written)"
    return None


def _prepare(path: Path, create: bool) -> None:
    """The folder exists and is the user's only (0700); the file is a regular file (or absent and, if
    ``create``, made 0600 before SQLite opens it, so its WAL and shared-memory files are 0600 too)."""
    folder = path.parent
    if create:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot make the folder {folder}: {explain(exc)}") from None
        try:
            st = folder.stat()
            if FILES.too_open(st):
                os.chmod(folder, stat.S_IMODE(st.st_mode) & 0o700)
        except OSError:
            pass  # a folder the user cannot change: the file itself is still 0600
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not create:
            raise StoreError(f"no record database at {path} yet (bls makes it with the first set)") from None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | FILES.nofollow, 0o600)
            os.close(fd)
        except FileExistsError:
            return _prepare(path, create)
        except OSError as exc:
            raise StoreError(f"cannot make {path}: {explain(exc)}") from None
        return None
    except OSError as exc:
        raise StoreError(f"cannot open {path}: {explain(exc)}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        raise StoreError(f"{path} is {kind}: bls keeps its records only in a file of its own (left as it is)")
    for suffix in SIDE_FILES:  # SQLite opens these itself, following links and waiting on a pipe
        side = Path(f"{path}{suffix}")
        try:
            side_st = os.lstat(side)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(f"cannot open {side}: {explain(exc)}") from None
        if not stat.S_ISREG(side_st.st_mode):
            kind = "a link" if stat.S_ISLNK(side_st.st_mode) else "not a regular file"
            raise StoreError(f"{side} (the record database's log) is {kind}: bls writes only files of its own; "
                             "both are left as they are")
    if create and FILES.too_open(st):
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass
    return None


SIDE_FILES = ("-wal", "-shm", "-journal")
SQLITE_MAGIC = b"SQLite format 3\x00"


def _inspect(path: Path) -> None:
    """Refuse, before SQLite opens it, a file that is not a bls record database or is from a newer
    bls: its first 100 bytes (SQLite's header) say so, and reading them changes nothing. (Opening such a
    file with SQLite for writing could change it: a log left by a crash is copied into the database
    when the last connection closes.) When a log with transactions in it lies next to the file, the
    header may be out of date: a read-only connection, which never copies the log in, decides."""
    flags = os.O_RDONLY | FILES.nofollow | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
        try:
            header = os.read(fd, 100)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StoreError(f"cannot open {path}: {explain(exc)}") from None
    if not header:
        return  # the empty file bls makes first: schema version 0
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise StoreError(f"{path}: the record database is damaged, or is not a record database at all "
                         "(left as it is)")
    cookie = int.from_bytes(header[40:44], "big")
    version = int.from_bytes(header[60:64], "big", signed=True)
    app_id = int.from_bytes(header[68:72], "big", signed=True)
    try:
        log_size = os.lstat(f"{path}-wal").st_size
    except FileNotFoundError:
        log_size = None
    except OSError as exc:
        raise StoreError(f"cannot open {path}-wal: {explain(exc)}") from None
    _refuse(path, app_id, version, has_tables=cookie != 0 and not log_size)
    if log_size is not None:
        # a log is there: a read-only connection checks (a writer closing last would copy the log in and
        # delete it; a reader leaves both as they are)
        try:
            db = sqlite3.connect(f"file:{path.as_posix()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: {explain(exc, path)}") from None
        try:
            if _check_version(db, path) > 0:
                _quick_check(db, path)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: {explain(exc, path)}") from None
        finally:
            db.close()


def _quick_check(db: sqlite3.Connection, path: Path) -> None:
    problem = db.execute("PRAGMA quick_check").fetchone()[0]
    if problem != "ok":
        raise StoreError(f"{path}: the record database is damaged ({problem}); it is left as it is")


def _refuse(path: Path, app_id: int, version: int, has_tables: bool) -> None:
    if app_id not in (0, APPLICATION_ID) or (app_id == 0 and has_tables):
        raise StoreError(f"{path} is another program's database, not bls's (left as it is)")
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer bls (record schema {version}; this bls knows up to "
                         f"{SCHEMA_VERSION}): update bls; the database is left as it is")


def _check_version(db: sqlite3.Connection, path: Path) -> int:
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] if app_id == 0 else 0
    _refuse(path, app_id, version, bool(tables))
    return version


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection to the record database at ``path``, at the current schema (migrated forwards when
    writable). StoreError for anything that makes it unusable; nothing is modified in that case."""
    path = Path(path)
    _prepare(path, create=not readonly)
    _inspect(path)
    uri = f"file:{path.as_posix()}?mode={'ro' if readonly else 'rw'}"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                             check_same_thread=True)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: {explain(exc, path)}") from None
    try:
        db.row_factory = sqlite3.Row
        version = _check_version(db, path)
        if readonly:
            if version < SCHEMA_VERSION:
                if version == 0:
                    raise StoreError(f"{path} holds no sessions yet")
                raise StoreError(f"{path} is from an older bls; open bls once to bring it up to date")
            return db
        if version > 0:  # checked before anything is written: a damaged file is left exactly as it is
            _quick_check(db, path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA secure_delete=ON")  # deleted records are overwritten, not left in free pages
        if version < SCHEMA_VERSION:
            db.execute("BEGIN IMMEDIATE")  # every step of a migration, and its version, or none of them
            try:
                version = _check_version(db, path)  # another bls may have migrated it meanwhile
                while version < SCHEMA_VERSION:
                    MIGRATIONS[version](db)
                    version += 1
                    db.execute(f"PRAGMA user_version={version}")
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return db
    except StoreError:
        db.close()
        raise
    except sqlite3.Error as exc:
        db.close()
        raise StoreError(f"{path}: {explain(exc, path)}") from None


# --------------------------------------------------------------------------- writing


def _upsert(db: sqlite3.Connection, table: str, columns: tuple[str, ...], session_id: int, row: dict) -> None:
    cols = ("session_id",) + columns
    values = [session_id] + [row.get(c) for c in columns]
    db.execute(f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
               values)


def write_batch(db: sqlite3.Connection, session: dict, rows: dict) -> None:
    """One transaction: the session row, then every (kind, n) -> row given."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "INSERT INTO sessions (uid, client_code, started_at, ended_at, app_version, record_file) "
            "VALUES (:uid, :client_code, :started_at, :ended_at, :app_version, :record_file) "
            "ON CONFLICT(uid) DO UPDATE SET client_code=excluded.client_code, ended_at=excluded.ended_at, "
            "record_file=excluded.record_file", session)
        sid = db.execute("SELECT id FROM sessions WHERE uid=?", (session["uid"],)).fetchone()[0]
        for (kind, _n), row in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            if kind == "target":
                _upsert(db, "targets", TARGET_COLUMNS, sid, row)
            elif kind == "medicine":
                _upsert(db, "medicine", MEDICINE_COLUMNS, sid, row)
            elif kind == "set":
                _upsert(db, "sets", SET_COLUMNS, sid, row)
        db.execute("COMMIT")
    except BaseException:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        raise


class RecordStore:
    """Writes one session's clinical rows on a thread of its own; the caller never waits (except in
    :meth:`flush` and :meth:`close`, at the end of a session). Thread-safe ``put``."""

    def __init__(self, path: Path | None = None, retry_s: float = RETRY_S, probe: bool = False):
        """``probe``: open the database at once (on the thread), so that a database that cannot be
        used is told when the session begins, not when the first set ends (the app does this)."""
        self.path = Path(path) if path is not None else default_db_path()
        self.retry_s = retry_s
        self._probe = probe
        self._cond = threading.Condition()
        self._pending: dict[tuple, tuple[int, dict]] = {}
        self._session: dict | None = None
        self._version = 0
        self._attempts = 0
        self._closing = False
        self._kick = False
        self.problem = ""  # what stops the record being kept ("" while it is written)
        self.written = 0  # batches committed
        self._db: sqlite3.Connection | None = None
        self._thread = threading.Thread(target=self._run, name="bls-record-db", daemon=True)
        self._thread.start()

    # -- the session's side

    def put(self, session: dict, kind: str | None = None, n: int = 0, row: dict | None = None) -> None:
        """Queue the session row and (optionally) one row of ``kind`` ("target", "medicine", "set")."""
        with self._cond:
            self._version += 1
            self._session = dict(session)
            key = ("session", 0) if kind is None else (kind, n)
            self._pending[key] = (self._version, dict(row) if row is not None else {})
            self._kick = True  # a store that is failing tries again at once
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        """Rows not yet on disk."""
        with self._cond:
            return len(self._pending)

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued is committed (True), or one attempt failed, or ``timeout``."""
        with self._cond:
            start = self._attempts
            self._kick = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self._pending or (self._attempts > start and bool(self.problem)),
                                timeout)
            return not self._pending

    def close(self, timeout: float = 5.0) -> bool:
        """Write what is pending (one more attempt if the store is failing) and stop the thread; returns
        whether everything was written."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            return not self._pending

    # -- the thread

    def _run(self) -> None:
        if self._probe:
            problem = self._open()
            if problem:
                with self._cond:
                    self.problem = problem
                    self._cond.notify_all()
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closing)
                if not self._pending:
                    break
                batch = dict(self._pending)
                self._kick = False
                session = dict(self._session or {})
                closing = self._closing
            error = self._write(session, batch)
            with self._cond:
                self._attempts += 1
                if error is None:
                    for key, (version, _row) in batch.items():
                        if self._pending.get(key, (None,))[0] == version:
                            del self._pending[key]
                    self.written += 1
                    self.problem = ""
                else:
                    self.problem = error
                self._cond.notify_all()
                if error is not None:
                    if closing:
                        break  # one more attempt at the end; what failed stays in the JSON record
                    self._cond.wait_for(lambda: self._closing or self._kick, self.retry_s)
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def _open(self) -> str:
        try:
            self._db = connect(self.path)
            return ""
        except StoreError as exc:
            return str(exc)
        except (sqlite3.Error, OSError) as exc:
            return f"{self.path}: {explain(exc, self.path)}"

    def _write(self, session: dict, batch: dict) -> str | None:
        rows = {k: row for k, (_v, row) in batch.items() if k[0] != "session"}
        try:
            if self._db is None:
                self._db = connect(self.path)
            write_batch(self._db, session, rows)
            return None
        except StoreError as exc:
            return str(exc)
        except (sqlite3.Error, OSError) as exc:
            why = explain(exc, self.path)
            if self._db is not None and "in use" not in why:
                try:
                    self._db.close()
                except sqlite3.Error:
                    pass
                self._db = None  # opened again (and checked again) at the next attempt
            return f"{self.path}: {why}"
        except Exception as exc:  # noqa: BLE001 - a row bls could not write: said, kept, never fatal to the thread
            if self._db is not None and self._db.in_transaction:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            return f"{self.path}: a row could not be written ({exc.__class__.__name__}: {exc})"


# --------------------------------------------------------------------------- reading and erasing


def _row(r: sqlite3.Row) -> dict:
    return {k: r[k] for k in r.keys()}


class Records:
    """Read access to the record database (``bls sessions``, exports, the control window's history)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else default_db_path()
        self.db = connect(self.path, readonly=True)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Records:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def sessions(self, client: str | None = None) -> list[dict]:
        where, args = ("WHERE s.client_code = ?", (client,)) if client is not None else ("", ())
        rows = self.db.execute(
            "SELECT s.id, s.uid, s.client_code, s.started_at, s.ended_at, "
            "(SELECT count(*) FROM sets WHERE session_id = s.id) AS sets, "
            "(SELECT coalesce(max(gentle), 0) FROM sets WHERE session_id = s.id) AS gentle, "
            "(SELECT count(*) FROM medicine WHERE session_id = s.id) AS medicine, "
            "(SELECT image FROM targets WHERE session_id = s.id ORDER BY n LIMIT 1) AS target "
            f"FROM sessions s {where} ORDER BY s.started_at, s.id", args).fetchall()
        return [_row(r) for r in rows]

    def session(self, session_id: int, facts: bool = False) -> dict:
        r = self.db.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if r is None:
            raise StoreError(f"no session {session_id} in {self.path} ('bls sessions list' shows them)")
        out = _row(r)
        out["targets"] = [_row(t) for t in self.db.execute(
            "SELECT * FROM targets WHERE session_id = ? ORDER BY n", (session_id,))]
        out["medicine"] = [_row(m) for m in self.db.execute(
            "SELECT * FROM medicine WHERE session_id = ? ORDER BY taken_at, n", (session_id,))]
        sets = []
        for s in self.db.execute("SELECT * FROM sets WHERE session_id = ? ORDER BY n", (session_id,)):
            d = _row(s)
            d["unlocked"] = json.loads(d["unlocked"] or "{}")
            d["gentle"] = bool(d["gentle"])
            facts_text = d.pop("facts")
            if facts:
                d["facts"] = json.loads(facts_text)
            sets.append(d)
        out["sets"] = sets
        return out

    def clients(self) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT client_code FROM sessions WHERE client_code IS NOT NULL ORDER BY client_code")]

    def count_client(self, code: str) -> tuple[int, int]:
        """(sessions, sets) kept for the client ``code``."""
        n_sessions = self.db.execute("SELECT count(*) FROM sessions WHERE client_code = ?", (code,)).fetchone()[0]
        n_sets = self.db.execute("SELECT count(*) FROM sets JOIN sessions ON sets.session_id = sessions.id "
                                 "WHERE sessions.client_code = ?", (code,)).fetchone()[0]
        return n_sessions, n_sets


RECORD_MAX_BYTES = 256 * 1024 * 1024  # a technical record larger than this is not read when erasing


def _kept_for(path: Path, code: str) -> bool:
    """Whether the technical record at ``path`` holds the clinical record of client ``code`` (kept there
    while the database could not be written)."""
    try:
        if os.lstat(path).st_size > RECORD_MAX_BYTES:
            return False
        fd = os.open(path, os.O_RDONLY | FILES.nofollow | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            doc = json.loads(fh.read(RECORD_MAX_BYTES + 1))
    except (OSError, ValueError, RecursionError):
        return False
    clinical = doc.get("clinical") if isinstance(doc, dict) else None
    return isinstance(clinical, dict) and clinical.get("client_code") == code


def _own_record(p: Path, folder: Path) -> bool:
    """A technical record bls wrote: a regular file (not a link) named session-*.json right in ``folder``."""
    try:
        return (p.parent.resolve() == folder and p.name.startswith("session-") and p.suffix == ".json"
                and stat.S_ISREG(os.lstat(p).st_mode))
    except OSError:
        return False


def delete_client(path: Path, code: str, records_folder: Path | None = None) -> tuple[int, int, list[str]]:
    """Remove every session of client ``code`` for good: their rows (sets, targets, medicine), the
    technical JSON records bls wrote for those sessions or that keep the client's clinical record (in
    ``records_folder`` only: a file elsewhere, a link, another name is never touched), then VACUUM and
    a truncating WAL checkpoint so nothing lingers in free pages or the log. Returns (sessions, sets,
    files removed). StoreError when the database cannot be used (nothing deleted) or when another
    program holding the database kept its log from being emptied (the rows are deleted; run it again
    once that program is closed)."""
    path = Path(path)
    _prepare(path, create=False)  # an erasure never makes a database
    db = connect(path)
    try:
        try:
            rows = db.execute("SELECT id, record_file FROM sessions WHERE client_code = ?", (code,)).fetchall()
            n_sets = db.execute("SELECT count(*) FROM sets JOIN sessions ON sets.session_id = sessions.id "
                                "WHERE sessions.client_code = ?", (code,)).fetchone()[0]
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM sessions WHERE client_code = ?", (code,))  # cascades to its rows
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: {explain(exc, path)}; nothing was deleted") from None
        removed = _remove_records(code, [r["record_file"] for r in rows], records_folder)
        what = f"the {len(rows)} session(s) of {code} were deleted" + (
            f" with {len(removed)} technical record(s)" if removed else "")
        try:
            db.execute("VACUUM")  # the database rewritten without the free pages that held them
            busy, log, done = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{what}, but {path} could not be compacted ({explain(exc, path)}): their text may "
                             "remain in unused parts of the file; run the deletion again") from None
        if busy or log or done:
            raise StoreError(f"{what}, but another program (a running bls?) has {path.name} open, so its log "
                             f"({path.name}-wal) could not be emptied and may still hold their text: close it and "
                             "run the deletion again")
    finally:
        db.close()
    return len(rows), n_sets, removed


def _remove_records(code: str, record_files: list, records_folder: Path | None) -> list[str]:
    if records_folder is None:
        return []
    folder = Path(records_folder).resolve()
    candidates = [Path(f) for f in record_files if f]
    try:
        candidates += [p for p in sorted(folder.iterdir()) if p.name.startswith("session-") and p.suffix == ".json"
                       and p not in candidates and _own_record(p, folder) and _kept_for(p, code)]
    except OSError:
        pass
    removed = []
    for p in candidates:
        if not _own_record(p, folder) or str(p) in removed:
            continue
        try:
            p.unlink()
            removed.append(str(p))
        except OSError:
            pass
    return removed
