"""The one atomic writer: old or new content at every moment, never a truncated file or a stray."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bls.core import atomic as A
from bls.core import library
from bls.core.atomic import atomic_write

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


class Crash(Exception):
    pass


def _crash(*_a, **_k):
    raise Crash("power cut")


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_library_re_exports_the_one_writer():
    assert library.atomic_write is atomic_write


def test_text_is_written_as_utf8_exactly_as_given(tmp_path):
    target = tmp_path / "a" / "b" / "x.yaml"  # the folder is created
    atomic_write(target, "désensibilisation — 0.5\r\nline two\n")
    assert target.read_bytes() == "désensibilisation — 0.5\r\nline two\n".encode()  # no newline translation
    assert names(target.parent) == ["x.yaml"]


def test_bytes_are_written_byte_for_byte(tmp_path):
    target = tmp_path / "x.bin"
    payload = bytes(range(256)) * 3
    atomic_write(target, payload)
    assert target.read_bytes() == payload
    atomic_write(target, bytearray(b"\x00\xff"))
    assert target.read_bytes() == b"\x00\xff" and names(tmp_path) == ["x.bin"]


def test_backup_keeps_the_previous_version_only_when_asked(tmp_path):
    target = tmp_path / "x.yaml"
    atomic_write(target, "one\n", backup=True)  # nothing to back up yet
    assert names(tmp_path) == ["x.yaml"]
    atomic_write(target, "two\n")  # the default: no backup
    assert names(tmp_path) == ["x.yaml"]
    atomic_write(target, "three\n", backup=True)
    assert (tmp_path / "x.yaml.bak").read_text() == "two\n" and target.read_text() == "three\n"
    atomic_write(target, "four\n")  # no backup: the old backup is left as it was
    assert (tmp_path / "x.yaml.bak").read_text() == "two\n" and target.read_text() == "four\n"
    assert names(tmp_path) == ["x.yaml", "x.yaml.bak"]


@posix_only
def test_a_new_file_gets_the_usual_mode_under_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "new.yaml", "x")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "new.yaml") == 0o640


@posix_only
def test_an_existing_file_keeps_its_mode_and_its_backup_too(tmp_path):
    target = tmp_path / "private.yaml"
    target.write_text("old")
    os.chmod(target, 0o600)
    old = os.umask(0o022)
    try:
        atomic_write(target, "new", backup=True)
    finally:
        os.umask(old)
    assert target.read_text() == "new" and mode_of(target) == 0o600
    assert mode_of(tmp_path / "private.yaml.bak") == 0o600


@posix_only
def test_an_explicit_mode_wins(tmp_path):
    target = tmp_path / "x.yaml"
    target.write_text("old")
    os.chmod(target, 0o644)
    atomic_write(target, "new", mode=0o600)
    assert mode_of(target) == 0o600
    atomic_write(tmp_path / "y.yaml", "new", mode=0o640)
    assert mode_of(tmp_path / "y.yaml") == 0o640


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name what was fsynced")
def test_the_new_file_the_backup_and_the_folder_are_fsynced_before_or_after_the_replace(tmp_path, monkeypatch):
    target = tmp_path / "x.yaml"
    target.write_text("old")
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        # at the moment of the replace, the backup already holds the whole previous version
        events.append(("replace", Path(src).name))
        assert (tmp_path / "x.yaml.bak").read_text() == "old"
        return real_replace(src, dst)

    monkeypatch.setattr(A.os, "fsync", fsync)
    monkeypatch.setattr(A.os, "replace", replace)
    atomic_write(target, "new", backup=True)
    kinds = [k for k, _ in events]
    assert kinds == ["fsync", "fsync", "replace", "fsync"]
    tmp_name = events[2][1]
    assert tmp_name.startswith(".x.yaml.") and tmp_name.endswith(".tmp")
    assert Path(events[0][1]).name == tmp_name  # the data, before the replace
    assert events[1][1] == str(tmp_path / "x.yaml.bak")  # the backup, before the replace
    assert events[3][1] == str(tmp_path)  # the folder, after it
    assert target.read_text() == "new"


@pytest.mark.parametrize("where", ["replace", "fsync", "write", "backup", "chmod"])
def test_a_failure_at_any_step_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch, where):
    target = tmp_path / "x.yaml"
    target.write_bytes(b"old content\n")
    os.chmod(target, 0o640)
    with monkeypatch.context() as m:
        if where == "replace":
            m.setattr(A.os, "replace", _crash)
        elif where == "fsync":
            m.setattr(A.os, "fsync", _crash)
        elif where == "backup":
            m.setattr(A.shutil, "copy2", _crash)
        elif where == "chmod":
            m.setattr(A.os, "fchmod", _crash)
        else:  # the disk fills up half way through
            real_fdopen = os.fdopen

            class Half:
                def __init__(self, fh):
                    self.fh = fh

                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    self.fh.close()

                def write(self, data):
                    self.fh.write(data[: len(data) // 2])
                    self.fh.flush()
                    raise OSError(errno.ENOSPC, "No space left on device")

                def __getattr__(self, name):
                    return getattr(self.fh, name)

            m.setattr(A.os, "fdopen", lambda fd, *a, **k: Half(real_fdopen(fd, *a, **k)))
        with pytest.raises((Crash, OSError)):
            atomic_write(target, "new content, much longer than the old one\n" * 50, backup=True)
    assert target.read_bytes() == b"old content\n" and mode_of(target) == 0o640
    assert [n for n in names(tmp_path) if n.endswith(".tmp")] == []
    assert set(names(tmp_path)) <= {"x.yaml", "x.yaml.bak"}


def test_a_failure_writing_a_new_file_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(A.os, "replace", _crash)
    with pytest.raises(Crash):
        atomic_write(tmp_path / "new.yaml", "x")
    assert names(tmp_path) == []


@pytest.fixture
def full_tmpfs(tmp_path):
    """A 64 KiB tmpfs holding ``x.yaml`` ("old") and a filler file that takes all the rest."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"mount is not permitted here: {proc.stderr.decode(errors='replace').strip()}")
    try:
        (mnt / "x.yaml").write_text("old\n")
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            for _ in range(10_000):
                os.write(fd, b"\0" * 512)  # unbuffered: nothing is left to flush at close
            pytest.fail("the 64 KiB tmpfs never filled up")
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_full_disk_raises_and_leaves_the_old_file_intact(full_tmpfs):
    target = full_tmpfs / "x.yaml"
    with pytest.raises(OSError) as exc:
        atomic_write(target, "new\n" * 8192, backup=True)
    assert exc.value.errno == errno.ENOSPC
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in full_tmpfs.iterdir()) in (["filler", "x.yaml"], ["filler", "x.yaml", "x.yaml.bak"])
