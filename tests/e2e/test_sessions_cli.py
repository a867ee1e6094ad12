"""``bls sessions``: real sessions made by ``bls script`` into a private data folder, then listed, shown,
exported (CSV, PDF) and deleted through the command line; every error is one clear line and a status."""

from __future__ import annotations

import csv
import io
import os
import pty
import re
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO, base_env, bls_command, no_traceback, run

pytestmark = pytest.mark.e2e

NOTE_017 = "orange kite over the junction"  # what the client said: must be gone after the delete
NOTE_020 = "blue door in the hallway"

SESSION_017 = f"""\
preset: standard
actions:
  - {{at: 0.1, do: client, code: C-017}}
  - {{at: 0.2, do: target, image: "the crash", nc: "I am helpless", pc: "I survived", voc: 3, sud: 7, body: chest}}
  - {{at: 0.3, do: medicine, route: sublingual, dose: "as prescribed", minutes_ago: 20}}
  - {{at: 0.5, do: start}}
  - {{at: 30, do: sud, value: 6}}
  - {{at: 30.5, do: voc, value: 4}}
  - {{at: 31, do: note, text: "{NOTE_017}"}}
  - {{at: 32, do: repeat}}
  - {{at: 60, do: sud, value: 3}}
  - {{at: 61, do: note, text: "=calmer, further away"}}
"""

SESSION_020 = f"""\
preset: standard
actions:
  - {{at: 0.1, do: client, code: C-020}}
  - {{at: 0.2, do: target, image: "the hallway", sud: 5}}
  - {{at: 0.5, do: start}}
  - {{at: 30, do: sud, value: 2}}
  - {{at: 31, do: note, text: "{NOTE_020}"}}
"""

# what the scripts above entered, set by set (written out here, not read from bls)
SETS_017 = [(1, 6, 4, NOTE_017), (2, 3, None, "=calmer, further away")]


@pytest.fixture
def data(tmp_path):
    """A data folder holding two real sessions: C-017's (id 1, two sets) and C-020's (id 2, one set)."""
    folder = tmp_path / "data"
    env = base_env(BLS_DATA_DIR=str(folder), PYTHONPATH=str(REPO))
    for name, text in (("s017.yaml", SESSION_017), ("s020.yaml", SESSION_020)):
        (tmp_path / name).write_text(text)
        proc = run([*bls_command(), "script", str(tmp_path / name)], env, timeout=120, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        no_traceback(proc)
    return folder, env


def bls(env, *args, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([*bls_command(), "sessions", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=kw.pop("cwd", REPO), stdin=kw.pop("stdin", subprocess.DEVNULL), **kw)
    no_traceback(proc)
    return proc


def one_line_error(proc: subprocess.CompletedProcess, status: int, *words: str) -> None:
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bls sessions"), proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_list_and_show(data):
    _folder, env = data
    proc = bls(env, "list")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()[1:]]
    assert [(r[0], r[3], r[4]) for r in rows] == [("1", "C-017", "2"), ("2", "C-020", "1")]
    only = bls(env, "list", "--client", "C-020")
    assert [line.split()[0] for line in only.stdout.splitlines()[1:]] == ["2"]
    show = bls(env, "show", "1")
    assert show.returncode == 0, show.stderr
    out = show.stdout
    assert "C-017" in out and "the crash" in out and "I am helpless" in out and "I survived" in out
    assert "sublingual" in out and "as prescribed" in out
    for n, sud, voc, note in SETS_017:
        (line,) = [x for x in out.splitlines() if re.match(rf"\s+{n}\s+\d\d:\d\d:\d\d\s", x)]
        assert line.rstrip().endswith(note), line
        assert f" {sud} " in line and (f" {voc} " in line if voc else " — " in line), line


def test_export_csv(data, tmp_path):
    _folder, env = data
    out = tmp_path / "c017.csv"
    proc = bls(env, "export", "1", "--format", "csv", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"), newline="")))
    assert [(int(r["Set"]), int(r["SUD"]), int(r["VOC"]) if r["VOC"] else None, r["Note"]) for r in rows] == \
        [(n, sud, voc, "'" + note if note.startswith("=") else note) for n, sud, voc, note in SETS_017]
    assert {r["Client code"] for r in rows} == {"C-017"} and {r["Medicine route"] for r in rows} == {"sublingual"}
    # an existing file is kept unless --force says to replace it
    out.write_text("kept")
    again = bls(env, "export", "1", "--out", str(out))
    one_line_error(again, 1, "already there", "--force")
    assert out.read_text() == "kept"
    assert bls(env, "export", "1", "--out", str(out), "--force").returncode == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbfSession,")


def test_export_pdf_without_a_display(data, tmp_path):
    _folder, env = data
    env = {k: v for k, v in env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = tmp_path / "c017.pdf"
    proc = bls(env, "export", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(b"%PDF-") and stat.S_IMODE(os.stat(out).st_mode) == 0o600
    pages = int(re.search(r"PDF, (\d+) pages?", proc.stdout).group(1))
    assert pages >= 1
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler's pdftotext is not installed")
    text = re.sub(r"\s+", " ", subprocess.run(["pdftotext", "-raw", str(out), "-"], capture_output=True, text=True,
                                              check=True).stdout)
    assert "C-017" in text and "the crash" in text and NOTE_017 in text and "=calmer, further away" in text
    assert f"Page {pages} of {pages}" in text


def test_errors_are_one_clear_line(data, tmp_path):
    folder, env = data
    one_line_error(bls(base_env(BLS_DATA_DIR=str(tmp_path / "empty"), PYTHONPATH=str(REPO)), "list"), 1,
                   "no record database")
    one_line_error(bls(env, "show", "9"), 1, "no session 9")
    one_line_error(bls(env, "list", "--client", "../etc"), 2, "client code")
    one_line_error(bls(env, "export", "1", "--out", str(tmp_path / "no-such-folder" / "x.csv")), 1, "--out")
    (tmp_path / "folder.csv").mkdir()
    one_line_error(bls(env, "export", "1", "--out", str(tmp_path / "folder.csv")), 1, "folder")
    real = tmp_path / "real.pdf"
    real.write_text("not bls's")
    (tmp_path / "link.pdf").symlink_to(real)
    one_line_error(bls(env, "export", "1", "--out", str(tmp_path / "link.pdf"), "--force"), 1, "symbolic link")
    assert real.read_text() == "not bls's"
    one_line_error(bls(env, "export", "1", "--out", str(tmp_path / "x.txt")), 2, "--format")
    # a damaged database, and one from a newer bls: refused, left as they are
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\x13" * 3000)
    before = damaged.read_bytes()
    one_line_error(bls(env, "list", "--db", str(damaged)), 1, "damaged")
    assert damaged.read_bytes() == before
    newer = tmp_path / "newer.sqlite3"
    db = sqlite3.connect(newer)
    db.execute("PRAGMA application_id=1651274497")  # 0x626C7301, bls's
    db.execute("PRAGMA user_version=99")
    db.execute("CREATE TABLE sessions (id INTEGER)")
    db.commit()
    db.close()
    one_line_error(bls(env, "show", "1", "--db", str(newer)), 1, "newer bls")
    other = tmp_path / "other.sqlite3"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE notes (x TEXT)")
    db.commit()
    db.close()
    one_line_error(bls(env, "list", "--db", str(other)), 1, "another program")


def db_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.name.startswith("records.sqlite3"))


def test_delete_refuses_without_a_terminal_or_yes(data):
    folder, env = data
    proc = bls(env, "delete", "--client", "C-017")
    one_line_error(proc, 2, "--yes", "nothing deleted", "1 session (2 sets)")
    assert [line.split()[0] for line in bls(env, "list").stdout.splitlines()[1:]] == ["1", "2"]
    assert NOTE_017.encode() in db_bytes(folder)


def on_a_terminal(env, typed: str, *args: str) -> subprocess.CompletedProcess:
    """``bls sessions ARGS`` with its standard input on a pseudo-terminal where ``typed`` is typed."""
    master, slave = pty.openpty()
    try:
        child = subprocess.Popen([*bls_command(), "sessions", *args], env=env, cwd=REPO, stdin=slave,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.write(master, typed.encode())
        out, err = child.communicate(timeout=120)
    finally:
        os.close(slave)
        os.close(master)
    proc = subprocess.CompletedProcess(child.args, child.returncode, out, err)
    no_traceback(proc)
    return proc


def test_delete_asks_for_the_code_and_then_leaves_nothing_behind(data):
    folder, env = data
    assert NOTE_017.encode() in db_bytes(folder)  # what the check below looks for is there to be found
    wrong = on_a_terminal(env, "C-018\n", "delete", "--client", "C-017")
    assert wrong.returncode == 1
    assert "1 session (2 sets) of client C-017" in wrong.stderr and "for good" in wrong.stderr
    assert "Nothing deleted" in wrong.stderr
    assert NOTE_017.encode() in db_bytes(folder)
    right = on_a_terminal(env, "C-017\n", "delete", "--client", "C-017")
    assert right.returncode == 0, right.stderr
    assert "deleted 1 session (2 sets) of client C-017" in right.stdout
    listed = bls(env, "list")
    assert [line.split()[3] for line in listed.stdout.splitlines()[1:]] == ["C-020"]
    assert "no sessions for client C-017" in bls(env, "list", "--client", "C-017").stdout
    raw = db_bytes(folder)
    assert NOTE_017.encode() not in raw and b"the crash" not in raw and b"C-017" not in raw
    assert NOTE_020.encode() in raw  # the other client's record is untouched
    assert NOTE_020 in bls(env, "show", "2").stdout


def test_delete_with_yes(data):
    folder, env = data
    proc = bls(env, "delete", "--client", "C-020", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert NOTE_020.encode() not in db_bytes(folder) and NOTE_017.encode() in db_bytes(folder)
    one_line_error(bls(env, "delete", "--client", "C-020", "--yes"), 1, "no sessions for client C-020")
