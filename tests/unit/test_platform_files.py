"""File modes and safe writes per system, with the system's calls simulated (both implementations run
on any system)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from bls.platform.files import REPLACE_RETRY_S, PosixFiles, WindowsFiles, files


class FakeOs:
    """The few calls the implementations make, recorded."""

    O_RDONLY = 0
    O_NOFOLLOW = 0x20000

    def __init__(self, euid=1000, egid=1000, uid=1000, replace_fails=0, winerror=32):
        self.calls = []
        self.euid, self.egid, self.uid = euid, egid, uid
        self.replace_fails, self.winerror = replace_fails, winerror

    def geteuid(self):
        return self.euid

    def getegid(self):
        return self.egid

    def getuid(self):
        return self.uid

    def fchown(self, fd, uid, gid):
        self.calls.append(("fchown", fd, uid, gid))

    def fchmod(self, fd, mode):
        self.calls.append(("fchmod", fd, mode))

    def chmod(self, path, mode):
        self.calls.append(("chmod", path, mode))

    def open(self, path, flags):
        self.calls.append(("open", path))
        return 7

    def fsync(self, fd):
        self.calls.append(("fsync", fd))

    def close(self, fd):
        self.calls.append(("close", fd))

    def replace(self, src, dst):
        self.calls.append(("replace", src, dst))
        if self.replace_fails:
            self.replace_fails -= 1
            err = PermissionError(13, "The process cannot access the file because it is being used by another process")
            err.winerror = self.winerror
            raise err


def st(uid=1000, gid=1000, mode=0o100600):
    return SimpleNamespace(st_uid=uid, st_gid=gid, st_mode=mode)


def test_posix_keeps_a_replaced_files_owner_only_when_root():
    assert PosixFiles(FakeOs(euid=1000)).owner_to_keep(st(uid=1001)) is None
    assert PosixFiles(FakeOs(euid=0, egid=0)).owner_to_keep(st(uid=1001, gid=100)) == (1001, 100)
    assert PosixFiles(FakeOs(euid=0, egid=0)).owner_to_keep(st(uid=0, gid=0)) is None
    assert PosixFiles(FakeOs(euid=0)).owner_to_keep(None) is None


def test_posix_sets_modes_syncs_the_folder_and_knows_an_open_file():
    fake = FakeOs()
    f = PosixFiles(fake)
    f.set_mode(5, "/x/.tmp", 0o600)
    f.sync_dir("/x")
    assert fake.calls == [("fchmod", 5, 0o600), ("open", "/x"), ("fsync", 7), ("close", 7)]
    assert f.nofollow == FakeOs.O_NOFOLLOW
    assert f.too_open(st(mode=0o100644)) and f.too_open(st(mode=0o040755))
    assert not f.too_open(st(mode=0o100600)) and not f.too_open(st(uid=0, mode=0o100644))  # not ours


def test_windows_has_no_owner_no_folder_sync_and_nothing_too_open():
    fake = FakeOs()
    f = WindowsFiles(fake, sleep=lambda s: None)
    assert f.owner_to_keep(st(uid=1)) is None and f.nofollow == 0
    f.set_mode(5, r"C:\x\.tmp", 0o600)
    f.sync_dir(r"C:\x")
    assert fake.calls == [("chmod", r"C:\x\.tmp", 0o600)]
    assert not f.too_open(st(mode=0o100666))


def test_windows_tries_a_shared_file_again_then_gives_the_error():
    slept = []
    fake = FakeOs(replace_fails=3)
    WindowsFiles(fake, sleep=slept.append).replace("a.tmp", "a")
    assert [c[0] for c in fake.calls] == ["replace"] * 4 and slept == list(REPLACE_RETRY_S[:3])
    slept.clear()
    stuck = FakeOs(replace_fails=100)
    with pytest.raises(PermissionError):
        WindowsFiles(stuck, sleep=slept.append).replace("a.tmp", "a")
    assert len(stuck.calls) == len(REPLACE_RETRY_S) + 1 and sum(slept) == pytest.approx(1.27)
    other = FakeOs(replace_fails=1, winerror=1314)  # another refusal (a privilege): at once
    with pytest.raises(PermissionError):
        WindowsFiles(other, sleep=slept.append).replace("a.tmp", "a")
    assert len(other.calls) == 1


def test_the_system_picks_its_own():
    assert isinstance(files("win32"), WindowsFiles) and isinstance(files("linux"), PosixFiles)
    assert isinstance(files("darwin"), PosixFiles)
    assert files(None).name == ("windows" if os.name == "nt" else "posix")
