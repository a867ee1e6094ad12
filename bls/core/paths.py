"""Where bls keeps things: built-in presets (package data) and the per-user config directory."""

from __future__ import annotations

from pathlib import Path

from ..platform import folders


def builtin_presets_dir() -> Path:
    """Built-in presets: inside the installed package, or ``presets/`` of a source checkout."""
    here = Path(__file__).resolve().parent.parent  # the bls package
    installed = here / "presets"
    if installed.is_dir():
        return installed
    return here.parent / "presets"


def config_dir() -> Path:
    """The per-user settings folder of the system (:mod:`bls.platform.folders`); ``BLS_CONFIG_DIR``
    overrides it."""
    return folders.config_dir()


def user_presets_dir() -> Path:
    return config_dir() / "presets"


def data_dir() -> Path:
    """Where bls keeps what it records (session records): the system's per-user data folder
    (:mod:`bls.platform.folders`); ``BLS_DATA_DIR`` overrides it (portable use, tests)."""
    return folders.data_dir()


def records_dir() -> Path:
    return data_dir() / "sessions"
