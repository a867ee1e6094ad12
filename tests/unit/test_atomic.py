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
def test_the_backup_is_renamed_into_place_and_everything_is_fsynced_in_order(tmp_path, monkeypatch):
    target = tmp_path / "x.yaml"
    target.write_text("old")
    (tmp_path / "x.yaml.bak").write_text("older")
    old_inode = target.stat().st_ino
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", Path(dst).name))
        if Path(dst) == target:  # the backup already holds the whole previous version
            assert (tmp_path / "x.yaml.bak").read_text() == "old"
        else:  # the old backup is whole until it is renamed over
            assert (tmp_path / "x.yaml.bak").read_text() == "older"
        return real_replace(src, dst)

    monkeypatch.setattr(A.os, "fsync", fsync)
    monkeypatch.setattr(A.os, "replace", replace)
    atomic_write(target, "new", backup=True)
    assert events[0][0] == "fsync" and Path(events[0][1]).name.startswith(".x.yaml.")  # the data
    assert events[1:] == [("replace", "x.yaml.bak"), ("fsync", str(tmp_path)),  # the backup, durable
                          ("replace", "x.yaml"), ("fsync", str(tmp_path))]  # then the file
    assert target.read_text() == "new"
    # the backup is the old file itself (a link renamed into place), not a copy written into it
    assert (tmp_path / "x.yaml.bak").stat().st_ino == old_inode
    assert names(tmp_path) == ["x.yaml", "x.yaml.bak"]


class _Half:
    """A file whose write stores half the data and then finds the disk full."""

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


STEPS = ["open", "write", "chmod", "fsync", "link", "replace-backup", "replace-file", "link-and-copy"]


@pytest.mark.parametrize("where", STEPS)
def test_a_failure_at_any_step_leaves_the_old_file_and_a_whole_backup_and_no_temporary_file(
        tmp_path, monkeypatch, where):
    target = tmp_path / "x.yaml"
    target.write_bytes(b"old content\n")
    os.chmod(target, 0o640)
    (tmp_path / "x.yaml.bak").write_bytes(b"older backup\n")
    real_replace, real_open = os.replace, os.open
    with monkeypatch.context() as m:
        if where == "open":
            m.setattr(A.os, "open", lambda *a, **k: _crash() if ".tmp" in str(a[0]) else real_open(*a, **k))
        elif where == "write":
            real_fdopen = os.fdopen
            m.setattr(A.os, "fdopen", lambda fd, *a, **k: _Half(real_fdopen(fd, *a, **k)))
        elif where == "chmod":
            m.setattr(A.os, "fchmod", _crash)
        elif where == "fsync":
            m.setattr(A.os, "fsync", _crash)
        elif where == "link":
            m.setattr(A.os, "link", lambda *a: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
        elif where == "link-and-copy":  # no links here, and the copy fails half way
            m.setattr(A.os, "link", lambda *a: (_ for _ in ()).throw(OSError(errno.EPERM, "Operation not permitted")))

            def half_copy(src, dst, **_k):
                Path(dst).write_bytes(Path(src).read_bytes()[:4])
                raise OSError(errno.ENOSPC, "No space left on device")
            m.setattr(A.shutil, "copy2", half_copy)
        else:
            fail_on = "x.yaml.bak" if where == "replace-backup" else "x.yaml"
            m.setattr(A.os, "replace", lambda s, d: _crash() if Path(d).name == fail_on else real_replace(s, d))
        with pytest.raises((Crash, OSError)):
            atomic_write(target, "new content, much longer than the old one\n" * 50, backup=True)
    assert target.read_bytes() == b"old content\n" and mode_of(target) == 0o640
    # the backup is the old backup or the whole current version: never truncated, never gone
    assert (tmp_path / "x.yaml.bak").read_bytes() in (b"older backup\n", b"old content\n")
    if where != "replace-file":
        assert (tmp_path / "x.yaml.bak").read_bytes() == b"older backup\n"
    assert names(tmp_path) == ["x.yaml", "x.yaml.bak"]


def test_without_hard_links_the_backup_is_a_copy_renamed_into_place(tmp_path, monkeypatch):
    target = tmp_path / "x.yaml"
    target.write_text("old")
    (tmp_path / "x.yaml.bak").write_text("older")
    os.chmod(target, 0o640)
    monkeypatch.setattr(A.os, "link", lambda *a: (_ for _ in ()).throw(OSError(errno.EPERM, "no links")))
    bak_inode = (tmp_path / "x.yaml.bak").stat().st_ino
    atomic_write(target, "new", backup=True)
    assert target.read_text() == "new" and (tmp_path / "x.yaml.bak").read_text() == "old"
    assert (tmp_path / "x.yaml.bak").stat().st_ino != bak_inode  # a new file, renamed over the old backup
    assert mode_of(tmp_path / "x.yaml.bak") == 0o640
    assert names(tmp_path) == ["x.yaml", "x.yaml.bak"]


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


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KiB tmpfs, unmounted afterwards."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"mount is not permitted here: {proc.stderr.decode(errors='replace').strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def _fill(mnt: Path, leave: int = 0) -> None:
    """Fill ``mnt`` up, then free ``leave`` bytes (a pad written first and removed last)."""
    if leave:
        (mnt / "pad").write_bytes(b"\0" * leave)
    fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for _ in range(10_000):
            os.write(fd, b"\0" * 512)
        pytest.fail("the tmpfs never filled up")
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    if leave:
        (mnt / "pad").unlink()


OLD, OLDER = b"old version\n" * 1400, b"older backup\n" * 1300  # about 16 KiB each


def test_a_disk_that_is_full_during_the_save_keeps_file_and_backup_whole(small_tmpfs):
    """Room for the new version (one page) but not for a copy of the old one: the backup is a link, so
    the save succeeds and the backup is the whole old version."""
    target, bak = small_tmpfs / "x.yaml", small_tmpfs / "x.yaml.bak"
    target.write_bytes(OLD)
    bak.write_bytes(OLDER)
    _fill(small_tmpfs, leave=4096)
    atomic_write(target, "new\n", backup=True)
    assert target.read_text() == "new\n" and bak.read_bytes() == OLD


def test_a_disk_that_fills_while_the_backup_is_copied_keeps_the_old_backup(small_tmpfs, monkeypatch):
    """Without links the backup is copied: the copy runs out of room; neither the file nor the old
    backup is touched (a copy made in place used to leave a truncated backup that still loaded)."""
    target, bak = small_tmpfs / "x.yaml", small_tmpfs / "x.yaml.bak"
    target.write_bytes(OLD)
    bak.write_bytes(OLDER)
    _fill(small_tmpfs, leave=4096)
    monkeypatch.setattr(A.os, "link", lambda *a: (_ for _ in ()).throw(OSError(errno.EPERM, "no links")))
    with pytest.raises(OSError) as exc:
        atomic_write(target, "new\n", backup=True)
    assert exc.value.errno == errno.ENOSPC
    assert target.read_bytes() == OLD and bak.read_bytes() == OLDER
    assert names(small_tmpfs) == ["filler", "x.yaml", "x.yaml.bak"]


# --------------------------------------------------------------------------- what is replaced

def _mknod_null(path: Path) -> None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    except OSError as exc:
        pytest.skip(f"mknod is not permitted here: {exc}")


@posix_only
@pytest.mark.parametrize("kind", ["symlink-to-file", "symlink-to-device", "dangling-symlink", "folder", "fifo",
                                  "device"])
def test_anything_but_a_regular_file_is_refused_and_left_as_it_is(tmp_path, kind):
    target = tmp_path / "log.json"
    real = tmp_path / "real.json"
    if kind == "symlink-to-file":
        real.write_text("the real file\n")
        target.symlink_to(real)
    elif kind == "symlink-to-device":
        _mknod_null(tmp_path / "null")
        target.symlink_to(tmp_path / "null")
    elif kind == "dangling-symlink":
        target.symlink_to(tmp_path / "nowhere.json")
    elif kind == "folder":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        _mknod_null(target)
    before = os.lstat(target)
    for kwargs in ({}, {"backup": True}, {"private": True}):
        with pytest.raises(A.WriteRefused) as exc:
            atomic_write(target, "{}\n", **kwargs)
        assert isinstance(exc.value, OSError) and exc.value.filename == str(target)
        said = {"symlink": "symbolic link", "dangling": "symbolic link", "folder": "a folder", "fifo": "named pipe", "device": "a device"}
        assert said[kind.split("-")[0]] in exc.value.strerror and "bls" in exc.value.strerror
        assert str(target) in str(exc.value)
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
    if kind == "symlink-to-file":
        assert real.read_text() == "the real file\n"
    assert not any(n.endswith(".tmp") or n.endswith(".bak") for n in names(tmp_path))


def test_a_symlink_called_bak_is_not_replaced_either(tmp_path):
    target = tmp_path / "x.yaml"
    target.write_text("old")
    (tmp_path / "elsewhere").write_text("not bls's")
    (tmp_path / "x.yaml.bak").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(A.WriteRefused):
        atomic_write(target, "new", backup=True)
    assert target.read_text() == "old" and (tmp_path / "x.yaml.bak").is_symlink()
    assert (tmp_path / "elsewhere").read_text() == "not bls's"
    assert names(tmp_path) == ["elsewhere", "x.yaml", "x.yaml.bak"]


# --------------------------------------------------------------------------- modes

@posix_only
def test_a_private_file_is_0600_from_its_first_byte_and_an_existing_mode_is_kept(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def replace(src, dst):
        seen.append(mode_of(Path(src)))
        return real_replace(src, dst)

    old = os.umask(0o022)
    try:
        monkeypatch.setattr(A.os, "replace", replace)
        real_fdopen = os.fdopen
        monkeypatch.setattr(A.os, "fdopen", lambda fd, *a, **k: (seen.append(stat.S_IMODE(os.fstat(fd).st_mode)),
                                                                 real_fdopen(fd, *a, **k))[1])
        atomic_write(tmp_path / "log.json", "{}", private=True)
        assert mode_of(tmp_path / "log.json") == 0o600 and seen == [0o600, 0o600]  # never readable by others
        atomic_write(tmp_path / "log.json", "{}", private=True)  # replaced: still 0600
        assert mode_of(tmp_path / "log.json") == 0o600
        atomic_write(tmp_path / "log.json", "{}")  # not private: an existing file keeps its mode all the same
        assert mode_of(tmp_path / "log.json") == 0o600
        os.chmod(tmp_path / "log.json", 0o640)
        atomic_write(tmp_path / "log.json", "{}", private=True)  # the therapist's choice is kept
        assert mode_of(tmp_path / "log.json") == 0o640
        atomic_write(tmp_path / "export.yaml", "x")  # not private: the umask
        assert mode_of(tmp_path / "export.yaml") == 0o644
    finally:
        os.umask(old)


@posix_only
def test_a_session_record_is_written_private_and_keeps_an_existing_mode(tmp_path):
    from bls.session.record import SessionRecord

    old = os.umask(0o022)
    try:
        rec = SessionRecord(tmp_path / "data" / "session.json", copies=[tmp_path / "log.json"])
        assert rec.write() == []
        assert mode_of(tmp_path / "data" / "session.json") == 0o600 and mode_of(tmp_path / "log.json") == 0o600
        os.chmod(tmp_path / "log.json", 0o640)
        assert rec.write() == []
        assert mode_of(tmp_path / "log.json") == 0o640
    finally:
        os.umask(old)


def test_a_session_record_never_replaces_a_link_and_says_so(tmp_path):
    from bls.session.record import SessionRecord

    (tmp_path / "mine.json").write_text("precious")
    (tmp_path / "log.json").symlink_to(tmp_path / "mine.json")
    errors = SessionRecord(copies=[tmp_path / "log.json"]).write()
    assert len(errors) == 1 and "symbolic link" in errors[0] and str(tmp_path / "log.json") in errors[0]
    assert (tmp_path / "log.json").is_symlink() and (tmp_path / "mine.json").read_text() == "precious"


# --------------------------------------------------------------------------- no replace; streams

def test_overwrite_false_never_replaces_a_file(tmp_path):
    target = tmp_path / "x.yaml"
    atomic_write(target, "first", overwrite=False)
    with pytest.raises(FileExistsError):
        atomic_write(target, "second", overwrite=False)
    assert target.read_text() == "first" and names(tmp_path) == ["x.yaml"]


def test_overwrite_false_loses_the_race_cleanly(tmp_path):
    """A file that appears while the stream is written is not replaced (the rename is a link)."""
    target = tmp_path / "x.yaml"
    out = A.AtomicFile(target, overwrite=False)
    out.write(b"mine")
    target.write_text("someone else's")
    with pytest.raises(FileExistsError):
        out.commit()
    assert target.read_text() == "someone else's" and names(tmp_path) == ["x.yaml"]


def test_a_stream_is_invisible_until_committed_and_an_error_discards_it(tmp_path):
    target = tmp_path / "x.wav"
    target.write_bytes(b"old")
    with A.AtomicFile(target) as out:
        out.write(b"header..")
        out.write(b"data")
        assert target.read_bytes() == b"old"  # nothing shows until the end
        out.file.seek(0)
        out.write(b"HEADER")
    assert target.read_bytes() == b"HEADER..data"
    with pytest.raises(RuntimeError):
        with A.AtomicFile(target) as out:
            out.write(b"half")
            raise RuntimeError("the render failed")
    assert target.read_bytes() == b"HEADER..data" and names(tmp_path) == ["x.wav"]


def test_a_missing_folder_is_refused_when_asked_not_to_create_it(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "no" / "x.yaml", "x", make_dirs=False)
    assert names(tmp_path) == []
