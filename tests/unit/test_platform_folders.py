"""Where settings and records go on each system, with the system simulated (its environment and home
folder given), and the overrides."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from bls.core import paths
from bls.platform.folders import folders


def test_linux_follows_xdg_and_ignores_a_relative_variable():
    home = lambda: PurePosixPath("/home/ana")  # noqa: E731
    f = folders("linux", {}, home)
    assert str(f.config_dir()) == "/home/ana/.config/bls"
    assert str(f.data_dir()) == "/home/ana/.local/share/bls"
    f = folders("linux", {"XDG_CONFIG_HOME": "/srv/cfg", "XDG_DATA_HOME": "/srv/data"}, home)
    assert (str(f.config_dir()), str(f.data_dir())) == ("/srv/cfg/bls", "/srv/data/bls")
    f = folders("linux", {"XDG_CONFIG_HOME": "relative/cfg", "XDG_DATA_HOME": ""}, home)
    assert (str(f.config_dir()), str(f.data_dir())) == ("/home/ana/.config/bls", "/home/ana/.local/share/bls")


def test_windows_keeps_settings_roaming_and_records_on_this_computer():
    home = lambda: PureWindowsPath(r"C:\Users\Ana")  # noqa: E731
    env = {"APPDATA": r"C:\Users\Ana\AppData\Roaming", "LOCALAPPDATA": r"C:\Users\Ana\AppData\Local"}
    f = folders("win32", env, home)
    assert str(f.config_dir()) == r"C:\Users\Ana\AppData\Roaming\bls"
    assert str(f.data_dir()) == r"C:\Users\Ana\AppData\Local\bls"
    bare = folders("win32", {}, home)  # the variables missing: the same folders under the profile
    assert str(bare.config_dir()) == r"C:\Users\Ana\AppData\Roaming\bls"
    assert str(bare.data_dir()) == r"C:\Users\Ana\AppData\Local\bls"


def test_macos_keeps_both_in_application_support():
    f = folders("darwin", {"XDG_CONFIG_HOME": "/ignored"}, lambda: PurePosixPath("/Users/ana"))
    assert str(f.config_dir()) == "/Users/ana/Library/Application Support/bls"
    assert f.data_dir() == f.config_dir()


def test_the_overrides_win_on_every_system(monkeypatch, tmp_path):
    monkeypatch.setenv("BLS_CONFIG_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("BLS_DATA_DIR", str(tmp_path / "d"))
    assert paths.config_dir() == tmp_path / "c" and paths.data_dir() == tmp_path / "d"
    assert paths.records_dir() == tmp_path / "d" / "sessions"
    monkeypatch.delenv("BLS_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr("sys.platform", "linux")
    assert paths.config_dir() == Path(tmp_path / "xdg" / "bls")
