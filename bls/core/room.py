"""What bls remembers about the room: per client screen (by the screen's name) and per audio output
(by the output's name), e.g. a screen's physical size and viewing distance, an output's audio delay.

One JSON file, ``room.json`` in the config directory, written atomically with a backup of the version
it replaces. Qt-free: the session core reads and writes it; the front ends only show it.

A file that cannot be read or is not what bls writes is never overwritten: the store says why
(``problem``), keeps working in memory, and writes nothing until the file is moved away. Values are
checked by whoever owns them (geometry, audio delay); the store checks only the file's shape.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .atomic import atomic_write
from .paths import config_dir
from .uistate import read_small_regular

FILE_NAME = "room.json"
FORMAT = "bls-room"
VERSION = 1
#: what the store keeps, by kind: entries are {name: {field: number}}
KINDS = ("screens", "outputs")
NAME_MAX = 200
ENTRIES_MAX = 200  # per kind: a room has a handful of screens and outputs


def room_file() -> Path:
    return config_dir() / FILE_NAME


class RoomSettings:
    """Numbers remembered per screen and per output name (see the module's docstring)."""

    def __init__(self, path: str | Path | None = None):
        self.path: Path | None = Path(path) if path is not None else room_file()
        self.problem = ""  # why the file is not read or written ("": all is well)
        self._data: dict[str, dict[str, dict[str, float]]] = {k: {} for k in KINDS}
        self._writable = True
        self._load()

    @classmethod
    def in_memory(cls) -> "RoomSettings":
        """A store with no file (``bls script``, tests): what is put is kept for this session only."""
        store = cls.__new__(cls)
        store.path, store.problem, store._writable = None, "", True
        store._data = {k: {} for k in KINDS}
        return store

    def _load(self) -> None:
        if not os.path.lexists(self.path):
            return
        text = read_small_regular(self.path)  # never blocks on a FIFO or a device
        if text is None:
            self._refuse(f"{self.path} is not a small text file bls can read; bls leaves it as it is")
            return
        try:
            doc = json.loads(text)
        except ValueError as e:
            self._refuse(f"{self.path} is not valid JSON ({e}); move it away to let bls keep room settings again")
            return
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            self._refuse(f"{self.path} is not a bls room file; bls leaves it as it is")
            return
        if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
            self._refuse(f"{self.path} was written by a newer bls (version {doc.get('version')!r}); "
                         "bls reads it but does not change it")
            self._writable = False
        for kind in KINDS:
            entries = doc.get(kind, {})
            if not isinstance(entries, dict):
                continue
            for name, values in list(entries.items())[:ENTRIES_MAX]:
                if isinstance(name, str) and 0 < len(name) <= NAME_MAX and isinstance(values, dict):
                    kept = {k: float(v) for k, v in values.items()
                            if isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                            and math.isfinite(v)}
                    if kept:
                        self._data[kind][name] = kept

    def _refuse(self, why: str) -> None:
        self.problem = why
        self._writable = False

    def get(self, kind: str, name: str | None) -> dict[str, float]:
        """What is remembered for ``name`` (a copy; empty when nothing is)."""
        self._check_kind(kind)
        return dict(self._data[kind].get(name or "", {}))

    def put(self, kind: str, name: str, values: dict[str, float]) -> None:
        """Remember ``values`` for ``name`` (merged into what is there; a value of None forgets that
        field) and write the file. Raises ValueError for a bad name or value (nothing changes); OSError if
        the file cannot be written (what is remembered in memory is kept either way, for this session)."""
        self._check_kind(kind)
        if not isinstance(name, str) or not 0 < len(name) <= NAME_MAX:
            raise ValueError(f"a {kind[:-1]} name of 1 to {NAME_MAX} characters is needed, not {name!r}")
        entry = dict(self._data[kind].get(name, {}))
        for k, v in values.items():
            if v is None:
                entry.pop(k, None)
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{k} must be a finite number, not {v!r}")
            else:
                entry[k] = float(v)
        if name not in self._data[kind] and len(self._data[kind]) >= ENTRIES_MAX:
            raise ValueError(f"bls remembers at most {ENTRIES_MAX} {kind}; forget one first")
        if entry:
            self._data[kind][name] = entry
        else:
            self._data[kind].pop(name, None)
        self._save()

    def _save(self) -> None:
        if self.path is None:  # in memory only
            return
        if not self._writable:
            raise OSError(self.problem or f"{self.path} is not written")
        doc = {"format": FORMAT, "version": VERSION, **{k: self._data[k] for k in KINDS}}
        atomic_write(self.path, json.dumps(doc, indent=2, sort_keys=True) + "\n", backup=True)

    @staticmethod
    def _check_kind(kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
