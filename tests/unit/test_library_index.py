"""The library keeps an index in memory: a save, rename, duplicate, delete, undelete or import updates
it with the one file it wrote, moved or restored and never re-reads the others (a save used to re-read
every preset: 1.3 s with 500 of them). What it lists is always what a fresh read of the folders lists;
``reload()`` re-reads on demand.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bls.core import library as L
from bls.core.library import LibraryError, PresetLibrary
from bls.core.preset import Preset, dump_preset

BUILTINS = ["standard", "slow", "gentle", "resourcing", "desensitisation", "eyes-closed"]


def calm(name: str, speed: float = 0.4) -> Preset:
    return Preset(name=name).with_("motion", speed_cycles_per_s=speed, set_passes=8)


def view(lib: PresetLibrary) -> tuple[list, list]:
    """Everything the library shows, in order: entries (name, preset, file, built-in) and problems."""
    return [(n, e.preset, e.path, e.builtin) for n, e in lib.entries.items()], list(lib.problems)


@pytest.fixture
def reads(monkeypatch) -> list[Path]:
    """The files the library reads from now on."""
    seen: list[Path] = []
    real = L.load_preset_file
    monkeypatch.setattr(L, "load_preset_file", lambda path: seen.append(Path(path)) or real(path))
    return seen


@pytest.fixture
def big(tmp_path) -> PresetLibrary:
    """A library of 60 user presets (one of them broken, two of them twins)."""
    user = tmp_path / "presets"
    user.mkdir()
    for i in range(57):
        (user / f"p{i:02d}.yaml").write_text(dump_preset(calm(f"p{i:02d}", 0.3 + i / 100)), encoding="utf-8")
    (user / "twin-a.yaml").write_text(dump_preset(calm("twin")), encoding="utf-8")
    (user / "twin-b.yaml").write_text(dump_preset(calm("twin", 0.5)), encoding="utf-8")
    (user / "broken.yaml").write_text("name: broken\nmotion:\n  speed_cycles_per_s: 9\n", encoding="utf-8")
    return PresetLibrary(user)


def test_a_save_reads_no_file(big, reads):
    big.save(calm("new one"))
    big.save(calm("p03", 0.9), overwrite=True)
    big.save(calm("twin", 0.6), overwrite=True, entry="twin (twin-b.yaml)")
    assert reads == []
    assert big.get("new one") == calm("new one") and big.get("p03") == calm("p03", 0.9)
    assert big.get("twin (twin-b.yaml)") == calm("twin", 0.6) and big.get("twin") == calm("twin")
    assert view(big) == view(PresetLibrary(big.user_dir))


def test_rename_duplicate_and_delete_read_no_file(big, reads):
    big.rename("p01", "first")
    big.duplicate("slow", "slow for Ann")
    big.duplicate("p02", "p02 copy")
    big.delete("p04")
    big.delete("twin")
    assert reads == []
    assert "p01" not in big and "p04" not in big and big.get("first") == calm("first", 0.31)
    assert big.get("twin") == calm("twin", 0.5) and "twin (twin-b.yaml)" not in big  # the other twin, alone now
    assert view(big) == view(PresetLibrary(big.user_dir))


def test_undelete_and_import_read_only_the_file_they_bring_in(big, reads, tmp_path):
    trashed = big.delete("p05")
    assert big.undelete(trashed) == big.user_dir / "p05.yaml"
    shared = tmp_path / "shared.yaml"
    shared.write_text(dump_preset(calm("from Sam")), encoding="utf-8")
    big.import_file(shared)
    assert reads == [big.user_dir / "p05.yaml", shared]
    assert big.get("p05") == calm("p05", 0.35) and big.get("from Sam") == calm("from Sam")
    assert view(big) == view(PresetLibrary(big.user_dir))


def test_a_refused_or_failed_save_leaves_the_index_as_it_was(big, monkeypatch):
    before = view(big)
    with pytest.raises(LibraryError):
        big.save(calm("p06", 0.9))  # taken
    with pytest.raises(LibraryError):
        big.save(calm("fast", 5.0))  # outside the schema

    def disk_full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(L, "atomic_write", disk_full)
    with pytest.raises(OSError):
        big.save(calm("p06", 0.9), overwrite=True)
    with pytest.raises(OSError):
        big.rename("p06", "sixth")
    assert view(big) == before == view(PresetLibrary(big.user_dir))


def test_a_rename_whose_move_to_the_trash_fails_lists_both_files(big, monkeypatch):
    def no_trash(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(big, "_to_trash", no_trash)
    with pytest.raises(PermissionError):
        big.rename("p07", "seventh")
    assert big.get("p07") == calm("p07", 0.37) and big.get("seventh") == calm("seventh", 0.37)
    assert view(big) == view(PresetLibrary(big.user_dir))


def test_a_file_changed_by_hand_is_seen_after_reload(big):
    (big.user_dir / "by-hand.yaml").write_text(dump_preset(calm("by hand")), encoding="utf-8")
    (big.user_dir / "p08.yaml").unlink()
    assert "by hand" not in big and "p08" in big  # the index is what bls itself did ...
    big.reload()  # ... until the folder is read again
    assert "by hand" in big and "p08" not in big
    assert view(big) == view(PresetLibrary(big.user_dir))


def test_a_save_never_overwrites_a_file_made_by_hand_since_the_last_read(big):
    by_hand = big.user_dir / "late.yaml"
    by_hand.write_text(dump_preset(calm("late", 0.7)), encoding="utf-8")
    path = big.save(calm("late"))
    assert path == big.user_dir / "late-2.yaml" and by_hand.read_text(encoding="utf-8") == dump_preset(calm("late", 0.7))


# --------------------------------------------------------------------------- the index is a fresh read

NAMES = ["calm", "Calm", "slow", "ѕlow", "twin", "a b", "café"]
ops = st.lists(st.one_of(
    st.tuples(st.just("save"), st.sampled_from(NAMES), st.floats(0.1, 1.9)),
    st.tuples(st.just("overwrite"), st.integers(0, 20), st.floats(0.1, 1.9)),
    st.tuples(st.just("rename"), st.integers(0, 20), st.sampled_from(NAMES)),
    st.tuples(st.just("duplicate"), st.integers(0, 20), st.sampled_from(NAMES)),
    st.tuples(st.just("delete"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("undelete"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("import"), st.sampled_from(NAMES), st.floats(0.1, 1.9)),
    st.tuples(st.just("by hand"), st.sampled_from(NAMES), st.integers(0, 3)),
), max_size=12)


@settings(max_examples=40, deadline=None)
@given(ops)
def test_after_any_sequence_of_actions_the_library_lists_what_a_fresh_read_lists(actions):
    with tempfile.TemporaryDirectory() as d:
        user = Path(d) / "presets"
        user.mkdir()
        (user / "twin-1.yaml").write_text(dump_preset(calm("twin")), encoding="utf-8")
        (user / "twin-2.yaml").write_text(dump_preset(calm("twin", 0.6)), encoding="utf-8")
        (user / "look.yaml").write_text('name: "st\\u0430ndard"\n', encoding="utf-8")  # Cyrillic а
        (user / "broken.yaml").write_text("name: [\n", encoding="utf-8")
        lib = PresetLibrary(user)
        trashed: list[Path] = []
        for what, a, b in actions:
            names = lib.names()
            user_names = [n for n in names if not lib.is_builtin(n)]
            try:
                if what == "save":
                    lib.save(calm(a, b))
                elif what == "overwrite" and user_names:
                    entry = user_names[a % len(user_names)]
                    lib.save(calm(lib.get(entry).name, b), overwrite=True, entry=entry)
                elif what == "rename" and user_names:
                    lib.rename(user_names[a % len(user_names)], b)
                elif what == "duplicate":
                    lib.duplicate(names[a % len(names)], b)
                elif what == "delete" and user_names:
                    trashed.append(lib.delete(user_names[a % len(user_names)]))
                elif what == "undelete" and trashed:
                    lib.undelete(trashed.pop(a % len(trashed)))
                elif what == "import":
                    src = Path(d) / "shared.yaml"
                    src.write_text(dump_preset(calm(a, b)), encoding="utf-8")
                    lib.import_file(src)
                elif what == "by hand":  # a file written by another program: seen on reload
                    (user / f"hand-{b}.yaml").write_text(dump_preset(calm(a)), encoding="utf-8")
                    lib.reload()
            except LibraryError:
                pass
            assert view(lib) == view(PresetLibrary(user)), (what, a, b)
