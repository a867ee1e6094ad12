"""One atomic file writer (standard library only).

:func:`atomic_write` writes a temporary file in the target's folder, flushes and fsyncs it, gives it
its mode, optionally keeps the previous version as ``NAME.bak``, then ``os.replace``s it over the
target and fsyncs the folder. At every moment the target holds either the old or the new content,
never a truncated one; on any failure the temporary file is removed, the target is untouched and the
error is raised.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["atomic_write", "fsync_dir"]


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the platform allows it; not on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _new_temp(path: Path) -> tuple[int, Path]:
    """A new, empty temporary file next to ``path``, created with mode 0o666 so that the kernel
    applies the umask (reading the umask with ``os.umask`` would change it for every thread)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name next to {path}")


def atomic_write(path: str | os.PathLike, data: str | bytes, backup: bool = False, mode: int | None = None) -> None:
    """Write ``data`` (text is written as UTF-8, line endings as given) to ``path`` atomically.

    ``mode``: the file's permission bits; by default those of the file being replaced, or, for a new
    file, 0o666 less the umask. ``backup``: keep the previous version as ``path + ".bak"`` (fsynced
    before the replace; a failure while copying it leaves the target untouched).
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = None  # a new file: the mode the kernel gave the temporary file (umask applied)
    fd, tmp = _new_temp(path)
    try:
        try:
            fh = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with fh:
            fh.write(raw)
            fh.flush()
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        if mode is not None and not hasattr(os, "fchmod"):
            os.chmod(tmp, mode)
        if backup and path.exists():
            bak = path.with_name(path.name + ".bak")
            shutil.copy2(path, bak)
            with open(bak, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
