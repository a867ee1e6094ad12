"""UI state between launches (the client's screen by name, the audio output, the last preset, the
client badge): a small JSON file written by the one atomic writer, read defensively.

Only ever UI state: nothing clinical is decided from it. A file that is not a regular file, too big,
not JSON or not a mapping is ignored (the app starts with its defaults and says so) and never
overwritten until the therapist changes a setting; bls 0.1's ``ui.ini`` (QSettings, INI) is read once
when there is no JSON file yet.
"""

from __future__ import annotations

import configparser
import json
import os
import stat
from pathlib import Path

from .atomic import atomic_write

MAX_BYTES = 64 * 1024  # UI state is a few hundred bytes; anything larger is not ours


def read_small_regular(path: Path) -> str | None:
    """The text of ``path`` if it is a regular file of at most MAX_BYTES, else None (never blocks on a
    FIFO or a device: opened non-blocking and checked before reading)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_BYTES:
            return None
        data = os.read(fd, MAX_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class UiState:
    def __init__(self, folder: Path):
        self.path = Path(folder) / "ui.json"
        self.problem = ""  # what was wrong with the file, for the therapist (empty: nothing)
        self._data: dict[str, object] = {}
        self._load(Path(folder))

    def _load(self, folder: Path) -> None:
        if self.path.exists() or self.path.is_symlink():
            text = read_small_regular(self.path)
            try:
                data = json.loads(text) if text is not None else None
            except (ValueError, RecursionError):  # not JSON, a number too long to convert, nested too deep
                data = None
            if isinstance(data, dict):
                self._data = {str(k): v for k, v in data.items() if isinstance(v, (str, bool, int, float))}
            else:
                self.problem = f"{self.path} could not be read (kept as it is): bls starts with its defaults."
            return
        old = folder / "ui.ini"  # bls 0.1 (QSettings)
        text = read_small_regular(old) if old.exists() else None
        if text:
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read_string(text)
            except configparser.Error:
                return
            if parser.has_section("General"):
                for key, value in parser.items("General"):
                    self._data[key] = {"true": True, "false": False}.get(value, value)

    def get(self, key: str, default=None, kind: type | None = None):
        value = self._data.get(key, default)
        if kind is not None and not isinstance(value, kind):
            return default
        return value

    def set(self, key: str, value) -> str:
        """Remember ``value``; returns what went wrong writing it ("" when it was written)."""
        self._data[key] = value
        try:
            atomic_write(self.path, json.dumps(self._data, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            return f"{self.path}: {exc.strerror or exc}"
        self.problem = ""
        return ""
