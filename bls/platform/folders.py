"""Where bls keeps its settings and its records on each system (standard library only).

The folders each system's own applications use (on Linux exactly Qt's ``QStandardPaths``
``AppConfigLocation`` and ``AppLocalDataLocation``, tested; on Windows and macOS see below):

============  ==========================================  ==============================================
system        settings (``config_dir``)                   records (``data_dir``)
============  ==========================================  ==============================================
Linux, BSD    ``$XDG_CONFIG_HOME/bls`` (``~/.config/bls``)  ``$XDG_DATA_HOME/bls`` (``~/.local/share/bls``)
Windows       ``%APPDATA%\\bls`` (roams with the user)      ``%LOCALAPPDATA%\\bls`` (stays on this computer)
macOS         ``~/Library/Application Support/bls``        the same folder
============  ==========================================  ==============================================

On Windows the records stay in the local folder on purpose: a roaming profile is copied to the
domain's server at each logoff, and clinical records should not travel there unasked. On macOS the
settings are files of bls's own, which Apple puts in Application Support (Preferences holds the
system's own preference lists). ``BLS_CONFIG_DIR``
and ``BLS_DATA_DIR`` override both (a portable install, tests). A relative XDG variable is ignored, as
the XDG specification says.

:func:`folders` picks the implementation for this system at run time; each takes its environment and
home folder as arguments, so every system's rules are tested on any system.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

APP = "bls"


class XdgFolders:
    """Linux and other free systems: the XDG Base Directory specification."""

    def __init__(self, env: Mapping[str, str], home: Callable[[], PurePath], path=PurePosixPath):
        self.env, self.home, self.path = env, home, path

    def _base(self, var: str, default: tuple[str, ...]) -> PurePath:
        value = self.env.get(var, "")
        if value and self.path(value).is_absolute():
            return self.path(value)
        return self.path(self.home(), *default)

    def config_dir(self) -> PurePath:
        return self._base("XDG_CONFIG_HOME", (".config",)) / APP

    def data_dir(self) -> PurePath:
        return self._base("XDG_DATA_HOME", (".local", "share")) / APP


class WindowsFolders:
    """Windows: the user's roaming AppData for settings, the local one for records."""

    def __init__(self, env: Mapping[str, str], home: Callable[[], PurePath], path=PureWindowsPath):
        self.env, self.home, self.path = env, home, path

    def config_dir(self) -> PurePath:
        base = self.env.get("APPDATA") or self.path(self.home(), "AppData", "Roaming")
        return self.path(base) / APP

    def data_dir(self) -> PurePath:
        base = self.env.get("LOCALAPPDATA") or self.env.get("APPDATA") or self.path(self.home(), "AppData", "Local")
        return self.path(base) / APP


class MacFolders:
    """macOS: Application Support, for settings and records alike."""

    def __init__(self, env: Mapping[str, str], home: Callable[[], PurePath], path=PurePosixPath):
        self.env, self.home, self.path = env, home, path

    def config_dir(self) -> PurePath:
        return self.path(self.home(), "Library", "Application Support", APP)

    def data_dir(self) -> PurePath:
        return self.config_dir()


def folders(platform: str | None = None, env: Mapping[str, str] | None = None,
            home: Callable[[], PurePath] | None = None):
    """The folders of ``platform`` (default: this system's ``sys.platform``)."""
    platform = sys.platform if platform is None else platform
    env = os.environ if env is None else env
    home = Path.home if home is None else home
    if platform == "win32":
        return WindowsFolders(env, home, Path if sys.platform == "win32" else PureWindowsPath)
    if platform == "darwin":
        return MacFolders(env, home, Path if sys.platform != "win32" else PurePosixPath)
    return XdgFolders(env, home, Path if sys.platform != "win32" else PurePosixPath)


def config_dir() -> Path:
    """This system's settings folder for bls; ``BLS_CONFIG_DIR`` overrides it."""
    override = os.environ.get("BLS_CONFIG_DIR")
    return Path(override).expanduser() if override else Path(folders().config_dir())


def data_dir() -> Path:
    """This system's folder for bls's records; ``BLS_DATA_DIR`` overrides it."""
    override = os.environ.get("BLS_DATA_DIR")
    return Path(override).expanduser() if override else Path(folders().data_dir())
