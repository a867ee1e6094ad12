"""The library's own files: exports that replace only what they may, leftovers that are cleaned up."""

from __future__ import annotations

import os
import re
import stat
import sys
import time
from pathlib import Path

import pytest

from bls.core import library as L
from bls.core.atomic import WriteRefused
from bls.core.library import LibraryError, PresetLibrary, file_stem
from bls.core.preset import Preset, dump_preset, load_preset_file

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file kinds and modes")


def calm(name: str = "calm", speed: float = 0.4) -> Preset:
    return Preset(name=name, description="For the tests.").with_("motion", speed_cycles_per_s=speed, set_passes=8)


@pytest.fixture
def user_dir(tmp_path) -> Path:
    return tmp_path / "user" / "presets"


@pytest.fixture
def lib(user_dir) -> PresetLibrary:
    return PresetLibrary(user_dir)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --------------------------------------------------------------------------- export


def test_an_empty_file_name_is_refused_and_nothing_lands_in_the_current_folder(lib, tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    for empty in ("", "   "):
        with pytest.raises(LibraryError, match="give a file name"):
            lib.export("standard", empty)
    assert names(here) == []


def test_a_missing_folder_is_refused_not_created(lib, tmp_path):
    for target in (tmp_path / "no" / "such" / "x.yaml", str(tmp_path / "nofolder") + "/"):
        with pytest.raises(LibraryError, match=r"the folder .* does not exist"):
            lib.export("standard", target)
    assert not (tmp_path / "no").exists() and not (tmp_path / "nofolder").exists()


def test_an_existing_file_is_replaced_only_with_force_and_keeps_its_mode(lib, tmp_path):
    out = tmp_path / "mine.yaml"
    out.write_text("my notes\n")
    os.chmod(out, 0o600)
    with pytest.raises(LibraryError) as exc:
        lib.export("standard", out)
    assert "already exists" in str(exc.value) and "--force" in str(exc.value) and str(out) in str(exc.value)
    assert out.read_text() == "my notes\n"
    assert lib.export("standard", out, force=True) == out
    assert load_preset_file(out)[0] == lib.get("standard") and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert names(tmp_path) == ["mine.yaml"]  # no backup, no temporary file


def test_two_names_with_one_stem_never_overwrite_each_other_in_a_folder(lib, tmp_path):
    lib.save(calm("Calm"))
    lib.save(calm("calm", 0.5))
    assert file_stem("Calm") == file_stem("calm")
    first = lib.export("Calm", tmp_path)
    with pytest.raises(LibraryError, match="already exists"):
        lib.export("calm", tmp_path)
    assert load_preset_file(first)[0].name == "Calm"


@pytest.mark.parametrize("name, file", [("Ήρεμο μέρος", "ήρεμο-μέρος.yaml"), ("Спокойное место", "спокойное-место.yaml"),
                                        ("平静的地方", "平静的地方.yaml")])
def test_names_in_any_script_export_under_their_own_file_names(lib, tmp_path, name, file):
    lib.save(calm(name))
    out = tmp_path / "share"
    out.mkdir()
    assert lib.export(name, out) == out / file
    assert load_preset_file(out / file)[0].name == name


def _mknod_null(path: Path) -> None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError as exc:
        pytest.skip(f"mknod is not permitted here: {exc}")


@posix_only
@pytest.mark.parametrize("kind", ["symlink", "device", "fifo", "symlink-to-device"])
def test_export_never_replaces_a_link_a_device_or_a_fifo_even_with_force(lib, tmp_path, kind):
    target = tmp_path / "out.yaml"
    if kind == "symlink":
        (tmp_path / "real.yaml").write_text("not bls's\n")
        target.symlink_to(tmp_path / "real.yaml")
    elif kind == "device":
        _mknod_null(target)
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        _mknod_null(tmp_path / "null")
        target.symlink_to(tmp_path / "null")
    before = os.lstat(target)
    for force in (False, True):
        with pytest.raises(WriteRefused) as exc:
            lib.export("standard", target, force=force)
        assert exc.value.filename == str(target) and "bls" in exc.value.strerror
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
    if kind == "symlink":
        assert (tmp_path / "real.yaml").read_text() == "not bls's\n"
    assert not [n for n in names(tmp_path) if n.endswith(".tmp")]


# --------------------------------------------------------------------------- leftovers


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t), follow_symlinks=False)


def test_old_temporary_files_of_bls_are_removed_at_start_and_nothing_else(user_dir, tmp_path):
    user_dir.mkdir(parents=True)
    (user_dir / "calm.yaml").write_text(dump_preset(calm()))
    old_tmp = user_dir / ".calm.yaml.0123456789ab.tmp"
    new_tmp = user_dir / ".calm.yaml.ba9876543210.tmp"  # perhaps another bls writing right now
    not_ours = [user_dir / ".notes.tmp", user_dir / "calm.yaml.bak", user_dir / ".calm.yaml.0123.tmp",
                user_dir / ".calm.yaml.0123456789AB.tmp"]
    for p in (old_tmp, new_tmp, *not_ours):
        p.write_text("x")
    (tmp_path / "elsewhere").write_text("keep")
    link = user_dir / ".x.yaml.aaaaaaaaaaaa.tmp"
    link.symlink_to(tmp_path / "elsewhere")
    for p in (old_tmp, *not_ours, link):
        _age(p, 2 * 24 * 3600)
    _age(new_tmp, 23 * 3600)
    lib = PresetLibrary(user_dir)
    assert not old_tmp.exists()
    assert new_tmp.exists() and all(p.exists() for p in not_ours) and link.is_symlink()
    assert (tmp_path / "elsewhere").read_text() == "keep" and "calm" in lib


def test_the_trash_keeps_the_newest_files_and_removes_the_oldest_first(user_dir):
    trash = user_dir / ".trash"
    trash.mkdir(parents=True)
    made = []
    for i in range(L.TRASH_KEEP + 10):
        p = trash / f"20240101-0000{i // 60:02d}-{i:06d}__p{i}.yaml"
        p.write_text(f"{i}")
        _age(p, 10_000 - i)  # p0 is the oldest
        made.append(p)
    (trash / "a note of mine.txt").write_text("not bls's")
    _age(trash / "a note of mine.txt", 10**6)
    lib = PresetLibrary(user_dir)
    assert [p.exists() for p in made] == [False] * 10 + [True] * L.TRASH_KEEP
    assert (trash / "a note of mine.txt").exists()
    # a delete keeps the trash at its size: the oldest goes, the one just trashed can be undone
    lib.save(calm())
    trashed = lib.delete("calm")
    assert trashed.exists() and not made[10].exists() and all(p.exists() for p in made[11:])
    assert len([n for n in names(trash) if re.fullmatch(r"\d{8}-\d{6}-\d{6}__.+", n)]) == L.TRASH_KEEP
    assert lib.undelete(trashed) == user_dir / "calm.yaml" and "calm" in lib


def test_renames_do_not_grow_the_trash_without_bound(lib, user_dir):
    lib.save(calm("n0"))
    for i in range(L.TRASH_KEEP + 15):
        lib.rename(f"n{i}", f"n{i + 1}")
    assert len(list((user_dir / ".trash").iterdir())) == L.TRASH_KEEP
    assert lib.names()[-1] == f"n{L.TRASH_KEEP + 15}"
