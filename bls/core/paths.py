"""Where bls keeps things: built-in presets (package data) and the per-user config directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def builtin_presets_dir() -> Path:
    """Built-in presets: inside the installed package, or ``presets/`` of a source checkout."""
    here = Path(__file__).resolve().parent.parent  # the bls package
    installed = here / "presets"
    if installed.is_dir():
        return installed
    return here.parent / "presets"


def config_dir() -> Path:
    """The per-user config directory of the OS; ``BLS_CONFIG_DIR`` overrides it."""
    override = os.environ.get("BLS_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "bls"


def user_presets_dir() -> Path:
    return config_dir() / "presets"


def data_dir() -> Path:
    """Where bls keeps what it records (session records): the OS's per-user data folder;
    ``BLS_DATA_DIR`` overrides it (portable use, tests)."""
    override = os.environ.get("BLS_DATA_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or os.environ.get("APPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "bls"


def records_dir() -> Path:
    return data_dir() / "sessions"
