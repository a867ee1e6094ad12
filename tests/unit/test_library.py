"""The preset library: read-only built-ins, user presets that are never lost, safe exchange."""

from __future__ import annotations

import os
import re
import stat
import sys
import tempfile
import unicodedata
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bls.core import library as L
from bls.core.library import NAME_MAX, LibraryError, PresetLibrary, check_name, file_stem
from bls.core.paths import builtin_presets_dir, user_presets_dir
from bls.core.preset import Preset, dump_preset, find_preset, load_preset_file

BUILTINS = ["standard", "slow", "gentle", "resourcing", "desensitisation", "eyes-closed"]
BROKEN = "name: broken\nmotion:\n  speed_cycles_per_s: 7\n  set_passes: -1\n"


def calm(name: str = "calm", speed: float = 0.4, **kw) -> Preset:
    return Preset(name=name, description=kw.pop("description", "For the safe place."), **kw).with_(
        "motion", speed_cycles_per_s=speed, set_passes=8).with_("audio", level_dbfs=-30.0)


def gentle_calm(name: str = "calm", speed: float = 0.4) -> Preset:
    """A gentle preset inside the gentle envelope (the built-in gentle's look and sound)."""
    return (calm(name, speed, gentle=True)
            .with_("audio", level_dbfs=-30.0, carrier_hz=200.0, pan_depth_pct=70.0, tone="warm")
            .with_("timing", fade_in_s=3.0, fade_out_s=3.0, rest_s=30.0)
            .with_("visual", target_diameter_pct=14.0, target_softness_pct=80.0, target_color="#8a7a66",
                   background_color="#1f1a16"))


@pytest.fixture
def user_dir(tmp_path) -> Path:
    return tmp_path / "user" / "presets"


@pytest.fixture
def lib(user_dir) -> PresetLibrary:
    return PresetLibrary(user_dir)


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``directory`` (recursively): bytes and mtime."""
    return {str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*")) if p.is_file()}


def yaml_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.yaml"))


# --------------------------------------------------------------------------- basics


def test_the_builtins_are_listed_first_in_clinical_order(lib):
    assert lib.names() == BUILTINS
    assert all(lib.is_builtin(n) for n in BUILTINS) and lib.problems == []
    assert lib.entries["standard"].path.parent == builtin_presets_dir()


def test_the_user_dir_is_under_bls_config_dir(private_config_dir):
    assert user_presets_dir() == private_config_dir / "presets"
    assert PresetLibrary().user_dir == private_config_dir / "presets"


def test_get_of_an_unknown_name_lists_what_exists(lib):
    with pytest.raises(KeyError, match="no preset named 'nope'; available: standard, slow"):
        lib.get("nope")


# --------------------------------------------------------------------------- round trips


def test_save_then_reload_gives_the_same_preset(lib, user_dir):
    p = gentle_calm().with_(rationale="Slow and short (CLINICAL.md).")
    path = lib.save(p)
    assert path == user_dir / "calm.yaml" and path.read_text(encoding="utf-8") == dump_preset(p)
    assert lib.get("calm") == p and not lib.is_builtin("calm")
    again = PresetLibrary(user_dir)
    assert again.get("calm") == p and again.names() == BUILTINS + ["calm"] and again.problems == []


def test_export_then_import_into_another_library_gives_the_same_preset(lib, tmp_path):
    p = calm("for Anna", 0.55, rationale="Her pace.")
    lib.save(p)
    (tmp_path / "share").mkdir()
    shared = lib.export("for Anna", tmp_path / "share" / "anna.yaml")
    assert shared == tmp_path / "share" / "anna.yaml"
    colleague = PresetLibrary(tmp_path / "colleague")
    got, problems = colleague.import_file(shared)
    assert got == p and problems == []
    assert PresetLibrary(tmp_path / "colleague").get("for Anna") == p
    assert shared.read_text(encoding="utf-8") == dump_preset(p)


def test_a_builtin_exported_and_imported_under_a_new_name_is_the_same_stimulus(lib, tmp_path):
    out = lib.export("gentle", tmp_path)  # a folder: the file is named after the preset
    assert out == tmp_path / "gentle.yaml"
    other = PresetLibrary(tmp_path / "other")
    got, _ = other.import_file(out, name="gentle (from Sam)")
    assert got == lib.get("gentle").with_(name="gentle (from Sam)")
    assert not other.is_builtin("gentle (from Sam)")


# --------------------------------------------------------------------------- built-ins are read-only


def test_builtins_cannot_be_saved_renamed_or_deleted(lib, user_dir):
    before = snapshot(builtin_presets_dir())
    for overwrite in (False, True):
        with pytest.raises(LibraryError, match="'standard' is a built-in preset and cannot be changed"):
            lib.save(Preset(name="standard").with_("motion", speed_cycles_per_s=1.9), overwrite=overwrite)
    with pytest.raises(LibraryError, match="built-in preset and cannot be renamed"):
        lib.rename("slow", "quick")
    with pytest.raises(LibraryError, match="built-in preset and cannot be deleted"):
        lib.delete("gentle")
    assert snapshot(builtin_presets_dir()) == before
    assert lib.names() == BUILTINS
    assert not user_dir.exists() or yaml_files(user_dir) == []


def test_a_builtin_can_be_duplicated_into_a_user_preset(lib):
    path = lib.duplicate("desensitisation", "desens. for Bo")
    assert lib.get("desens. for Bo") == lib.get("desensitisation").with_(name="desens. for Bo")
    assert path.name == "desens.-for-bo.yaml" and not lib.is_builtin("desens. for Bo")


# --------------------------------------------------------------------------- overwrite and backups


def test_saving_a_taken_name_without_overwrite_is_refused(lib, user_dir):
    path = lib.save(calm())
    before = snapshot(user_dir)
    with pytest.raises(LibraryError, match="a preset named 'calm' already exists"):
        lib.save(calm(speed=0.6))
    with pytest.raises(LibraryError, match="already exists"):
        lib.save(calm(name="  calm ", speed=0.6))  # the same name once tidied
    assert snapshot(user_dir) == before and lib.get("calm") == calm() and path.exists()


def test_overwrite_keeps_the_previous_version_as_a_backup(lib, user_dir):
    v1, v2, v3 = calm(speed=0.4), calm(speed=0.5), calm(speed=0.6)
    path = lib.save(v1)
    assert not path.with_name("calm.yaml.bak").exists()
    assert lib.save(v2, overwrite=True) == path
    bak = path.with_name("calm.yaml.bak")
    assert bak.read_text(encoding="utf-8") == dump_preset(v1) and path.read_text(encoding="utf-8") == dump_preset(v2)
    lib.save(v3, overwrite=True)
    assert bak.read_text(encoding="utf-8") == dump_preset(v2)
    again = PresetLibrary(user_dir)
    assert again.get("calm") == v3 and again.names() == BUILTINS + ["calm"] and again.problems == []
    assert load_preset_file(bak)[0] == v2  # the backup is a valid preset a person can restore


# --------------------------------------------------------------------------- interrupted saves


class Crash(Exception):
    pass


def _crash(*_a, **_k):
    raise Crash("power cut")


class HalfWriter:
    """A file whose write stores half the text and then fails."""

    def __init__(self, fh):
        self.fh = fh

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()

    def write(self, text):
        self.fh.write(text[: len(text) // 2])
        self.fh.flush()
        raise Crash("disk full")

    def __getattr__(self, name):
        return getattr(self.fh, name)


@pytest.mark.parametrize("where", ["replace", "fsync", "write"])
def test_an_interrupted_overwrite_leaves_the_old_file_intact(lib, user_dir, monkeypatch, where):
    old = calm(speed=0.4)
    path = lib.save(old)
    raw = path.read_bytes()
    new = calm(speed=1.5)
    with monkeypatch.context() as m:
        if where == "replace":
            m.setattr(L.os, "replace", _crash)
        elif where == "fsync":
            m.setattr(L.os, "fsync", _crash)
        else:  # the disk fills up half way through the text
            real_fdopen = os.fdopen
            m.setattr(L.os, "fdopen", lambda fd, *a, **k: HalfWriter(real_fdopen(fd, *a, **k)))
        with pytest.raises(Crash):
            lib.save(new, overwrite=True)
    assert path.read_bytes() == raw
    assert sorted(p.name for p in user_dir.iterdir()) in (["calm.yaml"], ["calm.yaml", "calm.yaml.bak"])
    again = PresetLibrary(user_dir)
    assert again.get("calm") == old and again.problems == [] and again.names() == BUILTINS + ["calm"]


def test_a_crash_between_write_and_replace_loses_nothing_and_leaves_nothing_loadable(lib, user_dir, monkeypatch):
    """A hard crash: the replace never happens and no clean-up runs (the temporary file stays)."""
    old = calm(speed=0.4)
    path = lib.save(old)
    raw = path.read_bytes()
    with monkeypatch.context() as m:
        m.setattr(L.os, "replace", _crash)
        m.setattr(L.os, "unlink", lambda *_a, **_k: None)  # the process died: nothing tidies up
        with pytest.raises(Crash):
            lib.save(calm(speed=1.5), overwrite=True)
        with pytest.raises(Crash):
            lib.save(calm("brand new"))
    strays = [p for p in user_dir.iterdir() if p.name not in ("calm.yaml", "calm.yaml.bak")]
    # the two complete temporary files are there, and the backup's link (the rename over calm.yaml.bak
    # was the first to crash) ...
    assert len(strays) == 3 and sum(p.name.startswith(".calm.yaml.bak.") for p in strays) == 1
    assert all(p.name.startswith(".") and not p.name.endswith(".yaml") for p in strays)
    assert path.read_bytes() == raw  # ... but the preset is the old one, byte for byte
    again = PresetLibrary(user_dir)  # and the loader reads neither temporary file
    assert again.names() == BUILTINS + ["calm"] and again.get("calm") == old and again.problems == []


# --------------------------------------------------------------------------- broken files


def test_a_broken_file_is_reported_and_does_not_stop_the_others(user_dir):
    user_dir.mkdir(parents=True)
    (user_dir / "a-good.yaml").write_text(dump_preset(calm("a good one")))
    (user_dir / "broken.yaml").write_text(BROKEN)
    (user_dir / "junk.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    (user_dir / "z-good.yaml").write_text(dump_preset(calm("z good one")))
    lib = PresetLibrary(user_dir)
    assert lib.names() == BUILTINS + ["a good one", "z good one"]
    by_file = {}
    for p in lib.errors():
        by_file.setdefault(Path(p.source).name, []).append(str(p))
    assert sorted(by_file) == ["broken.yaml", "junk.yaml"]
    assert by_file["broken.yaml"] == [
        f"{user_dir / 'broken.yaml'}:3: error: motion.speed_cycles_per_s: 7 is out of range: allowed 0.05 to 2 cycles/s",
        f"{user_dir / 'broken.yaml'}:4: error: motion.set_passes: -1 is out of range: allowed 1 to 2000 passes"]
    assert "not UTF-8" in by_file["junk.yaml"][0]


def test_a_broken_file_is_never_changed_by_work_on_other_presets(user_dir, tmp_path):
    user_dir.mkdir(parents=True)
    bad = user_dir / "broken.yaml"
    bad.write_text(BROKEN)
    os.utime(bad, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    junk = user_dir / "calm.yaml"  # broken, and where a preset named "calm" would naturally go
    junk.write_bytes(b"\xff\xfe junk")
    os.utime(junk, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    frozen = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (bad, junk)}

    lib = PresetLibrary(user_dir)
    path = lib.save(calm())
    assert path == user_dir / "calm-2.yaml"  # never the broken file of the same stem
    lib.save(calm(speed=0.5), overwrite=True)
    lib.save(calm("broken"))  # even a preset named like the broken file gets its own file
    lib.rename("broken", "was broken")
    lib.duplicate("calm", "calm copy")
    lib.delete("calm copy")
    lib.export("calm", tmp_path / "out.yaml")
    lib.import_file(tmp_path / "out.yaml", name="calm imported")
    lib.reload()
    PresetLibrary(user_dir)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (bad, junk)} == frozen
    assert not (user_dir / "broken.yaml.bak").exists() and not (user_dir / "calm.yaml.bak").exists()
    assert sorted(Path(p.source).name for p in lib.errors()) == ["broken.yaml", "broken.yaml", "calm.yaml"]


# --------------------------------------------------------------------------- two presets, one name


def test_two_user_files_with_the_same_name_are_both_listed_and_reported(user_dir):
    user_dir.mkdir(parents=True)
    a, b = user_dir / "twin-a.yaml", user_dir / "twin-b.yaml"
    a.write_text(dump_preset(calm("twin", 0.4)))
    b.write_text(dump_preset(calm("twin", 0.6)))
    lib = PresetLibrary(user_dir)
    assert lib.names() == BUILTINS + ["twin", "twin (twin-b.yaml)"]
    assert lib.get("twin").motion.speed_cycles_per_s == 0.4
    assert lib.get("twin (twin-b.yaml)").motion.speed_cycles_per_s == 0.6
    assert lib.entries["twin (twin-b.yaml)"].path == b
    [w] = lib.problems
    assert w.severity == "warning" and w.source == str(b)
    assert "twin-a.yaml" in w.message and "'twin (twin-b.yaml)'" in w.message and "Rename" in w.message
    assert lib.errors() == []


def test_the_second_of_two_twins_can_be_renamed_and_deleted(user_dir):
    user_dir.mkdir(parents=True)
    (user_dir / "twin-a.yaml").write_text(dump_preset(calm("twin", 0.4)))
    (user_dir / "twin-b.yaml").write_text(dump_preset(calm("twin", 0.6)))
    lib = PresetLibrary(user_dir)
    lib.rename("twin (twin-b.yaml)", "twin fast")
    assert lib.names() == BUILTINS + ["twin", "twin fast"] and lib.problems == []
    assert lib.get("twin fast").motion.speed_cycles_per_s == 0.6 and lib.get("twin").motion.speed_cycles_per_s == 0.4


def test_a_user_preset_named_like_a_builtin_is_listed_separately(user_dir):
    user_dir.mkdir(parents=True)
    mine = calm("standard", 0.7)
    (user_dir / "standard.yaml").write_text(dump_preset(mine))
    lib = PresetLibrary(user_dir)
    assert lib.names() == BUILTINS + ["standard (standard.yaml)"]
    assert lib.is_builtin("standard") and lib.get("standard").motion.speed_cycles_per_s == 1.0
    assert not lib.is_builtin("standard (standard.yaml)") and lib.get("standard (standard.yaml)") == mine
    [w] = lib.problems
    assert w.severity == "warning" and "a built-in preset" in w.message


# --------------------------------------------------------------------------- delete, undo, rename, duplicate


def test_delete_moves_to_the_trash_and_undelete_restores_byte_identical(lib, user_dir):
    path = lib.save(calm())
    raw = path.read_bytes()
    trashed = lib.delete("calm")
    assert not path.exists() and "calm" not in lib and trashed.parent == user_dir / ".trash"
    assert trashed.read_bytes() == raw
    assert "calm" not in PresetLibrary(user_dir)  # the trash is never loaded
    restored = lib.undelete(trashed)
    assert restored == path and path.read_bytes() == raw and not trashed.exists()
    assert lib.get("calm") == calm()


def test_undelete_never_overwrites_a_file_that_took_the_place(lib, user_dir):
    path = lib.save(calm())
    raw = path.read_bytes()
    trashed = lib.delete("calm")
    newer = lib.save(calm(speed=0.5))
    assert newer == path
    newer_raw = newer.read_bytes()
    restored = lib.undelete(trashed)
    assert restored == user_dir / "calm-2.yaml" and restored.read_bytes() == raw
    assert path.read_bytes() == newer_raw
    mine = [n for n in lib.names() if n not in BUILTINS]
    assert len(mine) == 2 and "calm" in mine  # both kept; one is shown with its file name
    assert {lib.entries[n].path.name for n in mine} == {"calm.yaml", "calm-2.yaml"}
    assert {lib.get(n).motion.speed_cycles_per_s for n in mine} == {0.4, 0.5}


def test_two_deletes_of_files_with_the_same_name_are_both_kept(lib, user_dir):
    lib.save(calm())
    first = lib.delete("calm")
    lib.save(calm(speed=0.5))
    second = lib.delete("calm")
    assert first != second and first.exists() and second.exists()


def test_rename_moves_the_preset_to_a_new_file_and_trashes_the_old(lib, user_dir):
    old = lib.save(calm())
    new = lib.rename("calm", "Calm place")
    assert new == user_dir / "calm-place.yaml" and not old.exists()
    assert lib.get("Calm place") == calm("Calm place") and "calm" not in lib
    assert [p.name.split("__", 1)[1] for p in (user_dir / ".trash").iterdir()] == ["calm.yaml"]
    assert lib.rename("Calm place", "Calm place") == new  # same name: nothing happens
    lib.save(calm("other"))
    with pytest.raises(LibraryError, match="a preset named 'other' already exists"):
        lib.rename("Calm place", "other")
    with pytest.raises(LibraryError, match="'standard' already exists"):
        lib.rename("Calm place", "standard")
    with pytest.raises(LibraryError, match="no preset named 'ghost'"):
        lib.rename("ghost", "x")
    assert lib.get("Calm place") == calm("Calm place")


def test_duplicate_leaves_the_source_alone(lib, user_dir):
    src = lib.save(calm())
    raw = src.read_bytes()
    lib.duplicate("calm", "calm 2")
    assert src.read_bytes() == raw and lib.get("calm 2") == calm("calm 2")
    with pytest.raises(LibraryError, match="already exists"):
        lib.duplicate("calm", "calm 2")


# --------------------------------------------------------------------------- names and file names


@pytest.mark.parametrize("bad, said", [
    ("", "a preset needs a name"), ("   ", "a preset needs a name"), ("\n\t", "a preset needs a name"),
    ("x" * (NAME_MAX + 1), f"the name is too long ({NAME_MAX + 1} characters; at most {NAME_MAX})"),
    ("a/b", "cannot contain"), ("../escape", "cannot contain"), ("a\\b", "cannot contain"),
    ("C:calm", "cannot contain"), ("a\0b", "a name cannot contain control characters (U+0000)"),
    ("bell\x07", "a name cannot contain control characters (U+0007)"),
    ("esc\x1b[2J", "a name cannot contain control characters (U+001B)"),
])
def test_bad_names_are_refused_everywhere(lib, user_dir, bad, said):
    lib.save(calm())
    before = snapshot(user_dir)
    with pytest.raises(LibraryError, match=re.escape(said)):
        check_name(bad)
    for action in (lambda: lib.save(calm(bad)), lambda: lib.rename("calm", bad),
                   lambda: lib.duplicate("standard", bad)):
        with pytest.raises(LibraryError, match=re.escape(said)):
            action()
    assert snapshot(user_dir) == before


def test_names_are_tidied_and_the_limit_is_inclusive(lib):
    assert check_name("  spaced \t  out\n") == "spaced out"
    assert check_name("x" * NAME_MAX) == "x" * NAME_MAX
    lib.save(calm("  spaced   out "))
    assert "spaced out" in lib and lib.get("spaced out").name == "spaced out"


@pytest.mark.parametrize("name, stem", [
    ("Calm Place", "calm-place"), ("Kétamine — gentle 0.3", "kétamine-—-gentle-0.3"), ("a  b__c", "a-b__c"),
    ("Ήρεμο μέρος", "ήρεμο-μέρος"), ("Спокойное место", "спокойное-место"), ("平静的地方", "平静的地方"),
    ("☺☺", "☺☺"), ("Sam's calm", "sam's-calm"), ("e\u0301te\u0301", "été"),  # NFC
])
def test_file_names_are_safe_slugs(name, stem):
    assert file_stem(name) == stem


def test_names_with_the_same_slug_get_different_files(lib, user_dir):
    paths = [lib.save(calm(n)) for n in ("My Preset", "my  preset", "MY PRESET", "my preset?", "☺", "☹")]
    names_ = [p.name for p in paths]
    assert names_[:3] == ["my-preset.yaml", "my-preset-2.yaml", "my-preset-3.yaml"]  # case and spacing: -2, -3
    assert re.fullmatch(r"my-preset-[0-9a-f]{8}\.yaml", names_[3])  # "?" is replaced: the name's hash is added
    assert names_[4:] == ["☺.yaml", "☹.yaml"]  # no longer both "preset.yaml"
    assert sorted(n for n in lib.names() if n not in BUILTINS) == sorted(
        ["My Preset", "my preset", "MY PRESET", "my preset?", "☺", "☹"])


def _same_but_case_or_spacing(a: str, b: str) -> bool:
    def key(n: str) -> str:
        n = unicodedata.normalize("NFC", " ".join(n.split())).lower()
        return re.sub(r"-{2,}", "-", re.sub(r"\s+", "-", n))
    return key(a) == key(b)


BAD_IN_FILE_NAMES = set('<>:"/\\|?*')


def _safe(stem: str) -> bool:
    return (0 < len(stem) <= 90 and not stem.startswith((".", "-")) and not stem.endswith((".", " "))
            and not any(c in BAD_IN_FILE_NAMES or unicodedata.category(c)[0] == "C" for c in stem)
            and stem == unicodedata.normalize("NFC", stem)
            and stem.split(".")[0] not in {"con", "prn", "aux", "nul", "com1", "lpt1"})


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=70), st.text(min_size=1, max_size=70))
def test_file_stems_are_safe_and_never_collapse_two_names(a, b):
    assert _safe(file_stem(a)), (a, file_stem(a))
    if file_stem(a) == file_stem(b):
        assert _same_but_case_or_spacing(a, b), (a, b, file_stem(a))


@pytest.mark.parametrize("a, b", [("what?", "what*"), ("what?", "what"), (".hidden", "hidden"), ("..", "."),
                                  ("a/b", "a-b"), ("x" * 90, "x" * 91), ("con", "con?"), ("a\x01b", "a-b")])
def test_names_that_lose_characters_get_their_own_stems(a, b):
    assert file_stem(a) != file_stem(b) and _safe(file_stem(a)) and _safe(file_stem(b))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=70), min_size=1, max_size=4))
def test_any_accepted_name_lands_in_a_new_safe_file_inside_the_user_dir(names):
    with tempfile.TemporaryDirectory() as d:
        user = Path(d) / "presets"
        lib = PresetLibrary(user, builtin_dir=Path(d) / "no-builtins")  # faster: only the user's files
        for name in names:
            try:
                clean = check_name(name)
            except LibraryError:
                with pytest.raises(LibraryError):
                    lib.save(calm(name))
                continue
            before = snapshot(user) if user.exists() else {}
            if clean in lib:
                with pytest.raises(LibraryError):
                    lib.save(calm(name))
                assert (snapshot(user) if user.exists() else {}) == before
                continue
            path = lib.save(calm(name))
            assert path.parent == user and path.name.endswith(".yaml") and _safe(path.name[:-5])
            assert path.name not in before
            assert {k: v for k, v in snapshot(user).items() if k in before} == before
            assert lib.get(clean).name == clean


# --------------------------------------------------------------------------- import


def test_importing_an_invalid_file_lists_every_problem_and_adds_nothing(lib, user_dir, tmp_path):
    src = tmp_path / "from-a-colleague.yaml"
    src.write_text("name: shared\nmotion:\n  speed_cycles_per_s: 2.5\n  set_passes: 0\naudio:\n  level_dbfs: 0\n")
    raw = src.read_bytes()
    with pytest.raises(LibraryError) as exc:
        lib.import_file(src)
    msg = str(exc.value)
    assert msg.splitlines() == [
        f"{src}:3: error: motion.speed_cycles_per_s: 2.5 is out of range: allowed 0.05 to 2 cycles/s",
        f"{src}:4: error: motion.set_passes: 0 is out of range: allowed 1 to 2000 passes",
        f"{src}:6: error: audio.level_dbfs: 0 is out of range: allowed -60 to -12 dBFS"]
    assert lib.names() == BUILTINS and src.read_bytes() == raw
    assert not user_dir.exists() or yaml_files(user_dir) == []


@pytest.mark.parametrize("text", ["", "- a\n", "!!python/object/apply:os.system ['true']\n", "name: [x\n"])
def test_importing_a_file_that_is_not_a_preset_adds_nothing(lib, user_dir, tmp_path, text):
    src = tmp_path / "x.yaml"
    src.write_text(text)
    with pytest.raises(LibraryError, match=re.escape(str(src))):
        lib.import_file(src)
    assert lib.names() == BUILTINS and (not user_dir.exists() or yaml_files(user_dir) == [])


def test_importing_a_taken_name_is_refused_and_name_works(lib, user_dir, tmp_path):
    lib.save(calm())
    src = tmp_path / "calm.yaml"
    src.write_text(dump_preset(calm(speed=0.9)))
    before = snapshot(user_dir)
    with pytest.raises(LibraryError, match="a preset named 'calm' already exists: import it under another name"):
        lib.import_file(src)
    assert snapshot(user_dir) == before
    got, _ = lib.import_file(src, name="calm (Sam)")
    assert got == calm("calm (Sam)", 0.9) and lib.get("calm (Sam)") == got and lib.get("calm") == calm()
    with pytest.raises(LibraryError, match="'standard' already exists"):
        lib.import_file(src, name="standard")
    with pytest.raises(LibraryError, match="cannot contain"):
        lib.import_file(src, name="a/b")
    (tmp_path / "std.yaml").write_text(dump_preset(Preset(name="standard")))
    with pytest.raises(LibraryError, match="'standard' already exists"):
        lib.import_file(tmp_path / "std.yaml")


def test_an_import_with_notes_returns_them_and_keeps_the_source(lib, tmp_path):
    src = tmp_path / "typo.yaml"
    src.write_text("name: typo\nmotion:\n  speed_cycle_per_s: 1.2\n")
    raw = src.read_bytes()
    got, problems = lib.import_file(src)
    assert got == Preset(name="typo") and [p.path for p in problems] == ["motion.speed_cycle_per_s"]
    assert "did you mean 'speed_cycles_per_s'" in problems[0].message
    assert src.read_bytes() == raw


# --------------------------------------------------------------------------- known bugs


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_an_exported_file_has_the_usual_permissions(lib, tmp_path):
    old = os.umask(0o022)
    try:
        out = lib.export("standard", tmp_path / "standard.yaml")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


# --------------------------------------------------------------------------- nothing outside the schema is written


SCHEMA_REFUSAL = ("cannot save 'calm': motion.speed_cycles_per_s: 5 is out of range: allowed 0.05 to 2 cycles/s; "
                  "audio.level_dbfs: -3 is out of range: allowed -60 to -12 dBFS")


def outside_schema(name: str = "calm") -> Preset:
    return calm(name).with_("motion", speed_cycles_per_s=5.0).with_("audio", level_dbfs=-3.0)


def test_save_refuses_settings_outside_the_schema_with_every_reason_and_writes_nothing(lib, user_dir):
    with pytest.raises(LibraryError) as exc:
        lib.save(outside_schema())
    assert str(exc.value) == SCHEMA_REFUSAL
    assert [(p.path, p.severity) for p in exc.value.problems] == [
        ("motion.speed_cycles_per_s", "error"), ("audio.level_dbfs", "error")]
    assert "calm" not in lib and (not user_dir.exists() or list(user_dir.iterdir()) == [])


def test_an_overwrite_outside_the_schema_leaves_the_saved_file_untouched(lib, user_dir):
    path = lib.save(calm())
    before = snapshot(user_dir)
    with pytest.raises(LibraryError, match=re.escape(SCHEMA_REFUSAL)):
        lib.save(outside_schema(), overwrite=True)
    with pytest.raises(LibraryError, match="set_passes: 0 is out of range: allowed 1 to 2000 passes"):
        lib.save(calm().with_("motion", set_passes=0), overwrite=True)
    with pytest.raises(LibraryError, match=re.escape("visual.target_color: 'red' is not a colour")):
        lib.save(calm().with_("visual", target_color="red"), overwrite=True)
    assert snapshot(user_dir) == before and not path.with_name("calm.yaml.bak").exists()
    assert PresetLibrary(user_dir).get("calm") == calm()


def test_the_edges_of_the_schema_are_saved(lib):
    edge = calm().with_("motion", speed_cycles_per_s=2.0, set_passes=2000).with_("audio", level_dbfs=-12.0)
    lib.save(edge)
    assert PresetLibrary(lib.user_dir).get("calm") == edge


def _slip_into_the_library(lib: PresetLibrary, name: str, preset: Preset) -> None:
    """A preset object that went wrong in memory (no file holds it: a load refuses such files)."""
    lib.entries[name] = replace(lib.entries[name], preset=preset)


def test_rename_duplicate_and_export_refuse_what_the_schema_does_not_allow(lib, user_dir, tmp_path):
    lib.save(calm())
    before = snapshot(user_dir)
    _slip_into_the_library(lib, "calm", outside_schema())
    with pytest.raises(LibraryError, match="motion.speed_cycles_per_s: 5 is out of range"):
        lib.rename("calm", "calmer")
    with pytest.raises(LibraryError, match="motion.speed_cycles_per_s: 5 is out of range"):
        lib.duplicate("calm", "calm copy")
    with pytest.raises(LibraryError, match="audio.level_dbfs: -3 is out of range"):
        lib.export("calm", tmp_path / "out.yaml")
    assert snapshot(user_dir) == before and not (tmp_path / "out.yaml").exists()


# --------------------------------------------------------------------------- a gentle preset stays in the envelope


def test_a_gentle_preset_beyond_the_envelope_is_not_saved(lib, user_dir):
    with pytest.raises(LibraryError) as exc:
        lib.save(gentle_calm(speed=0.55))
    assert str(exc.value) == (
        "a gentle preset stays inside the gentle limits (unlocks hold for one session only): Speed: 0.55 "
        "cycles/s — the gentle limit is at most 0.5 cycles/s. Bring it inside the limits, or untick gentle mode "
        "to save it as a preset that is not gentle.")
    assert [p.path for p in exc.value.problems] == ["motion.speed_cycles_per_s"]
    assert "calm" not in lib and (not user_dir.exists() or list(user_dir.iterdir()) == [])


def test_every_limit_beyond_the_envelope_is_named(lib):
    p = gentle_calm(speed=0.8).with_("audio", level_dbfs=-20.0).with_("timing", rest_s=5.0)
    with pytest.raises(LibraryError) as exc:
        lib.save(p)
    msg = str(exc.value)
    assert ("Speed: 0.8 cycles/s — the gentle limit is at most 0.5 cycles/s; Level: -20 dBFS — the gentle limit "
            "is at most -24 dBFS; Rest between sets: 5 s — the gentle limit is at least 10 s. Bring it") in msg
    assert [p.path for p in exc.value.problems] == ["motion.speed_cycles_per_s", "audio.level_dbfs", "timing.rest_s"]


def test_an_overwrite_beyond_the_envelope_leaves_the_saved_file_untouched(lib, user_dir):
    path = lib.save(gentle_calm())
    before = snapshot(user_dir)
    with pytest.raises(LibraryError, match="a gentle preset stays inside the gentle limits"):
        lib.save(gentle_calm().with_("visual", background_color="#ffffff"), overwrite=True)
    assert snapshot(user_dir) == before and not path.with_name("calm.yaml.bak").exists()


def test_the_same_settings_save_when_not_gentle_and_the_limit_itself_saves_as_gentle(lib):
    lib.save(gentle_calm(speed=0.55).with_(gentle=False))
    lib.save(gentle_calm("at the limit", speed=0.5).with_("audio", level_dbfs=-24.0, pan_depth_pct=80.0))
    fresh = PresetLibrary(lib.user_dir)
    assert fresh.get("calm").motion.speed_cycles_per_s == 0.55 and not fresh.get("calm").gentle
    assert fresh.get("at the limit").gentle and fresh.get("at the limit").motion.speed_cycles_per_s == 0.5
    assert fresh.problems == []


def test_rename_and_duplicate_of_a_gentle_preset_beyond_the_envelope_are_refused(lib, user_dir):
    lib.save(gentle_calm())
    before = snapshot(user_dir)
    _slip_into_the_library(lib, "calm", gentle_calm(speed=0.55))
    for action in (lambda: lib.rename("calm", "calmer"), lambda: lib.duplicate("calm", "calm copy")):
        with pytest.raises(LibraryError, match="a gentle preset stays inside the gentle limits"):
            action()
    assert snapshot(user_dir) == before



def test_a_gentle_file_beyond_the_envelope_loads_at_the_limit_and_the_file_is_not_changed(user_dir):
    user_dir.mkdir(parents=True)
    f = user_dir / "too-fast.yaml"
    f.write_text(dump_preset(gentle_calm("too fast", 0.55)))
    raw, mtime = f.read_bytes(), f.stat().st_mtime_ns
    lib = PresetLibrary(user_dir)
    assert lib.get("too fast") == gentle_calm("too fast", 0.5)
    [w] = lib.problems
    assert (w.severity, w.path, w.message) == (
        "warning", "motion.speed_cycles_per_s", "0.55 is beyond the gentle limit (at most 0.5 cycles/s): loads as 0.5")
    assert f.read_bytes() == raw and f.stat().st_mtime_ns == mtime and sorted(os.listdir(user_dir)) == ["too-fast.yaml"]
    # saved again (the therapist pressed Save), it is written as it plays
    lib.save(lib.get("too fast"), overwrite=True)
    assert PresetLibrary(user_dir).get("too fast") == gentle_calm("too fast", 0.5)
    assert f.with_name("too-fast.yaml.bak").read_bytes() == raw  # the old file is kept, as on every save


def test_render_and_the_app_find_the_same_numbers_the_list_shows(private_config_dir):
    # bls render --preset and the app's preset list both go through the library
    (private_config_dir / "presets").mkdir(parents=True)
    (private_config_dir / "presets" / "f.yaml").write_text(dump_preset(gentle_calm("too fast", 0.9)))
    assert find_preset("too fast") == gentle_calm("too fast", 0.5) == PresetLibrary().get("too fast")


def test_importing_a_gentle_file_beyond_the_envelope_imports_it_at_the_limit(lib, tmp_path):
    src = tmp_path / "shared.yaml"
    src.write_text(dump_preset(gentle_calm("shared", 0.55)))
    raw = src.read_bytes()
    got, problems = lib.import_file(src)
    assert got == gentle_calm("shared", 0.5) and lib.get("shared") == got
    assert [p.message for p in problems] == ["0.55 is beyond the gentle limit (at most 0.5 cycles/s): loads as 0.5"]
    assert load_preset_file(lib.entries["shared"].path) == (got, [])
    assert src.read_bytes() == raw
