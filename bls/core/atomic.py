"""The one file writer (standard library only): atomic, and it replaces only what is a file.

:func:`atomic_write` (a whole text or bytes) and :class:`AtomicFile` (streamed, for long renders)
write a temporary file in the target's folder, flush and fsync it, give it its mode, optionally keep
the previous version as ``NAME.bak``, then rename it over the target and fsync the folder. At every
moment the target holds either the old or the new content, never a truncated one; on any failure the
temporary file is removed, the target is untouched and the error is raised.

What is replaced: only a regular file, or nothing. A symbolic link (even one to a file: it is never
followed), a folder, a FIFO, a device or a socket at the target is refused with :class:`WriteRefused`
(an ``OSError`` whose ``strerror`` says why in plain words), before anything is written. So
``--log /dev/null`` run as root can never turn the real ``/dev/null`` into a file.

Modes: a file that is replaced keeps its mode. A new file gets 0o600 with ``private=True`` (session
records and logs), else 0o666 less the umask (exports, presets, renders); ``mode=`` overrides both.

Backups are made by renaming, never by copying in place: the current file is hard-linked to a
temporary name that is then renamed over ``NAME.bak`` (atomic: ``NAME.bak`` always holds a whole
version), and only then is the new file renamed into place. Where links are not supported, a copy
is written to a temporary file, fsynced and renamed over ``NAME.bak``.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from ..platform.files import FILES

__all__ = ["AtomicFile", "WriteRefused", "atomic_write", "check_target", "fsync_dir"]


class WriteRefused(OSError):
    """bls will not write there: ``strerror`` says why in plain words, ``filename`` is the path."""

    def __init__(self, path: str | os.PathLike, reason: str, code: int = errno.EEXIST):
        super().__init__(code, reason, os.fspath(path))

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


#: what each kind of thing is called in a refusal
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def check_target(path: str | os.PathLike) -> os.stat_result | None:
    """The ``lstat`` of an existing regular file at ``path``, None when nothing is there, or
    :class:`WriteRefused` when something is there that bls does not replace."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise WriteRefused(path, "it is a symbolic link; bls does not replace a link or write through it: "
                                 "give the path of a file")
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise WriteRefused(path, f"it is {kind}, not a file; bls replaces only regular files",
                           errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EEXIST)
    return st


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the platform allows it; not on Windows)."""
    FILES.sync_dir(directory)


def _temp_name(path: Path) -> Path:
    """bls's own pattern for temporary files: ``.NAME.<12 hex>.tmp`` next to ``path`` (the library
    removes old ones it finds)."""
    return path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")


def _new_temp(path: Path, perms: int = 0o666) -> tuple[int, Path]:
    """A new, empty temporary file next to ``path``, created with ``perms`` less the umask (reading
    the umask with ``os.umask`` would change it for every thread)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = _temp_name(path)
        try:
            return os.open(tmp, flags, perms), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name next to {path}")


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _keep_backup(path: Path) -> None:
    """Make ``path + ".bak"`` the current version of ``path`` by renaming (never by writing into
    the backup): link the file to a temporary name, rename that over the backup. Without links: copy
    to a temporary file, fsync it, rename it over the backup. The old backup stays whole until the
    rename."""
    bak = path.with_name(path.name + ".bak")
    check_target(bak)  # never replace a link, a folder or a device called NAME.bak
    tmp = _temp_name(bak)
    try:
        try:
            os.link(path, tmp)
        except (OSError, AttributeError, NotImplementedError) as exc:
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS):
                raise
            fd, tmp = _new_temp(bak, 0o600)
            os.close(fd)
            shutil.copy2(path, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        FILES.replace(tmp, bak)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_dir(path.parent)  # the backup is in place before the file is replaced


class AtomicFile:
    """A new version of ``path`` written as a stream: write to :attr:`file` (binary, seekable), then
    :meth:`commit`; :meth:`abort` (or an exception in a ``with`` block) discards it and leaves the
    target untouched. The target is checked (:func:`check_target`) before anything is written and
    again just before the rename.

    ``private``: a new file is 0o600 (records, logs), else 0o666 less the umask; an existing file
    keeps its mode; ``mode`` overrides both. ``backup``: keep the previous version as ``NAME.bak``
    (by renaming). ``overwrite=False``: never replace an existing file (``FileExistsError``, checked
    atomically at the rename where the platform has hard links). ``make_dirs``: create a missing
    folder (else the usual ``FileNotFoundError``).
    """

    def __init__(self, path: str | os.PathLike, *, private: bool = False, mode: int | None = None,
                 backup: bool = False, overwrite: bool = True, make_dirs: bool = False):
        self.path = Path(path)
        self.backup, self.overwrite = backup, overwrite
        st = check_target(self.path)
        if st is not None and not overwrite:
            raise FileExistsError(errno.EEXIST, "a file is already there", str(self.path))
        if make_dirs:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        #: a replaced file keeps its owner too (bls run as root replacing a user's file)
        self.owner = FILES.owner_to_keep(st)
        if mode is None and st is not None:
            mode = stat.S_IMODE(st.st_mode)
        elif mode is None and private:
            mode = 0o600
        self.mode = mode  # None: what the kernel gave the temporary file (umask applied)
        fd, self.tmp = _new_temp(self.path, 0o600 if private else 0o666)
        try:
            self.file = os.fdopen(fd, "w+b")
        except BaseException:
            os.close(fd)
            _unlink_quietly(self.tmp)
            raise
        self.done = False

    def write(self, data: bytes) -> int:
        return self.file.write(data)

    def commit(self) -> None:
        if self.done:
            return
        try:
            fh = self.file
            with fh:
                fh.flush()
                if self.owner is not None:
                    FILES.set_owner(fh.fileno(), self.owner)
                if self.mode is not None:
                    FILES.set_mode(fh.fileno(), self.tmp, self.mode)
                os.fsync(fh.fileno())
            st = check_target(self.path)  # it may have changed while the stream was written
            if not self.overwrite:
                self._place_new()
            else:
                if self.backup and st is not None:
                    _keep_backup(self.path)
                FILES.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self.done = True
        fsync_dir(self.path.parent)

    def _place_new(self) -> None:
        """Rename the temporary file to the target only if nothing is there (a hard link fails with
        EEXIST rather than replace; without links, the check just made has to do)."""
        try:
            os.link(self.tmp, self.path)
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, "a file is already there", str(self.path)) from None
        except (OSError, AttributeError, NotImplementedError) as exc:
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS):
                raise
            if os.path.lexists(self.path):
                raise FileExistsError(errno.EEXIST, "a file is already there", str(self.path)) from None
            FILES.replace(self.tmp, self.path)
            return
        _unlink_quietly(self.tmp)

    def abort(self) -> None:
        self.done = True
        try:
            self.file.close()
        except OSError:
            pass
        _unlink_quietly(self.tmp)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


def atomic_write(path: str | os.PathLike, data: str | bytes, backup: bool = False, mode: int | None = None, *,
                 private: bool = False, overwrite: bool = True, make_dirs: bool = True) -> None:
    """Write ``data`` (text is written as UTF-8, line endings as given) to ``path`` atomically.

    Refuses (:class:`WriteRefused`) to replace anything but a regular file. ``mode``: the file's
    permission bits; by default those of the file being replaced, or, for a new file, 0o600 when
    ``private`` else 0o666 less the umask. ``backup``: keep the previous version as ``path + ".bak"``
    (by renaming; a failure while making it leaves the target untouched). ``overwrite=False``: refuse
    (``FileExistsError``) if a file is already there. ``make_dirs``: create a missing folder.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with AtomicFile(path, private=private, mode=mode, backup=backup, overwrite=overwrite,
                    make_dirs=make_dirs) as out:
        out.write(raw)
