"""File modes and safe writes, per system (standard library only).

What differs between systems when bls writes a file safely (:mod:`bls.core.atomic`, the record
database in :mod:`bls.session.store`):

- **modes**: on POSIX a new record is made readable by its owner only (``fchmod``), a replaced file keeps
  its owner when bls runs as root (``fchown``), and a record folder or file that others could read is
  said to be so (:meth:`PosixFiles.too_open`). On Windows a file's mode is only its read-only flag;
  who may read it is the folder's access list (a user's AppData is the user's own), so there is
  nothing to set and nothing to warn about.
- **durability of a rename**: on POSIX the folder is fsync'ed after a rename; Windows has no handle
  on a folder for that (NTFS journals the rename itself).
- **replacing a file** (``os.replace``): on Windows another program briefly holding the target open
  (an antivirus scan, the search indexer, a backup tool) makes the rename fail with a sharing
  violation; it is tried again a few times over about a second before the error is given.
- **links**: ``O_NOFOLLOW`` where the system has it.

:func:`files` picks the implementation for this system at run time; each takes its system calls as
arguments, so both are tested on any system.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time
from collections.abc import Callable

#: a Windows rename refused by a sharing violation is tried again after these pauses (s): 1.27 s in all
REPLACE_RETRY_S = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)


class PosixFiles:
    name = "posix"

    def __init__(self, sys_os=os):
        self.os = sys_os
        self.nofollow = getattr(sys_os, "O_NOFOLLOW", 0)

    def owner_to_keep(self, st) -> tuple[int, int] | None:
        """The owner a replaced file keeps: only when bls runs as root and the file is someone else's."""
        if st is None or self.os.geteuid() != 0:
            return None
        own = (st.st_uid, st.st_gid)
        return own if own != (self.os.geteuid(), self.os.getegid()) else None

    def set_owner(self, fd: int, owner: tuple[int, int]) -> None:
        self.os.fchown(fd, *owner)

    def set_mode(self, fd: int, path, mode: int) -> None:
        self.os.fchmod(fd, mode)

    def sync_dir(self, directory) -> None:
        """Make a rename in ``directory`` durable."""
        try:
            fd = self.os.open(directory, self.os.O_RDONLY)
        except OSError:
            return
        try:
            self.os.fsync(fd)
        except OSError:
            pass
        finally:
            self.os.close(fd)

    def replace(self, src, dst) -> None:
        self.os.replace(src, dst)

    def too_open(self, st) -> bool:
        """A file or folder of this user's that others may read or write."""
        return st.st_uid == self.os.getuid() and bool(stat.S_IMODE(st.st_mode) & 0o077)


class WindowsFiles:
    name = "windows"
    nofollow = 0

    def __init__(self, sys_os=os, sleep: Callable[[float], None] = time.sleep):
        self.os = sys_os
        self.sleep = sleep

    def owner_to_keep(self, st) -> None:
        return None  # owners are the access list's business

    def set_owner(self, fd: int, owner) -> None:
        pass

    def set_mode(self, fd: int, path, mode: int) -> None:
        self.os.chmod(path, mode)  # only the read-only flag means anything: kept as asked

    def sync_dir(self, directory) -> None:
        pass  # no folder handle to fsync; NTFS journals the rename

    def replace(self, src, dst) -> None:
        for pause in (*REPLACE_RETRY_S, None):
            try:
                self.os.replace(src, dst)
                return
            except PermissionError as exc:  # a sharing violation (winerror 32) or access denied (5)
                if pause is None or getattr(exc, "winerror", errno.EACCES) not in (5, 32, errno.EACCES):
                    raise
                self.sleep(pause)

    def too_open(self, st) -> bool:
        return False


def files(platform: str | None = None, sys_os=os):
    """The implementation for ``platform`` (default: this system's)."""
    platform = sys.platform if platform is None else platform
    return WindowsFiles(sys_os) if platform == "win32" else PosixFiles(sys_os)


#: this system's, chosen once at import (no system call is made here)
FILES = files()
