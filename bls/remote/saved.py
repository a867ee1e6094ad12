"""The relay a practice uses, remembered on this computer when the therapist asks: its address and the
key its operator gave (``relay.json`` in the config folder, readable by this user only, written
atomically). A file that is not what bls writes is never overwritten; a key is never logged or put in
a session record."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.atomic import atomic_write
from ..core.paths import config_dir
from ..core.uistate import read_small_regular
from .link import relay_base

FILE_NAME = "relay.json"
FORMAT = "bls-relay"
KEY_MAX = 200


def relay_file() -> Path:
    return config_dir() / FILE_NAME


class SavedRelay:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else relay_file()
        self.problem = ""  # why the file is not read or written
        self.address, self.key = "", ""
        self._foreign = False
        text = read_small_regular(self.path) if self.path.exists() or self.path.is_symlink() else ""
        if text is None:
            self._refuse(f"{self.path} is not a small text file bls can read; bls leaves it as it is")
            return
        if not text:
            return
        try:
            doc = json.loads(text)
        except ValueError:
            self._refuse(f"{self.path} is not valid JSON; move it away to let bls remember the relay again")
            return
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            self._refuse(f"{self.path} is not a bls relay file; bls leaves it as it is")
            return
        address, key = doc.get("address"), doc.get("key")
        if isinstance(address, str) and isinstance(key, str) and len(key) <= KEY_MAX:
            self.address, self.key = address, key

    def _refuse(self, why: str) -> None:
        self.problem, self._foreign = why, True

    def remember(self, address: str, key: str) -> None:
        """Keeps ``address`` (checked: ValueError) and ``key``; OSError when the file cannot be written
        (or is not bls's: it is left as it is)."""
        address = relay_base(address)
        if not key.strip() or len(key.strip()) > KEY_MAX:
            raise ValueError(f"a relay key of 1 to {KEY_MAX} characters is needed")
        if self._foreign:
            raise OSError(self.problem)
        doc = {"format": FORMAT, "version": 1, "address": address, "key": key.strip()}
        atomic_write(self.path, json.dumps(doc, indent=2) + "\n", mode=0o600, make_dirs=True)  # the key: this user only
        self.address, self.key = address, key.strip()

    def forget(self) -> None:
        """Forgets the relay (the file is removed if it is bls's)."""
        if self._foreign:
            raise OSError(self.problem)
        self.path.unlink(missing_ok=True)
        self.address, self.key = "", ""
