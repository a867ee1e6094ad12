"""Preset names are read as they are saved (Unicode NFC, nothing invisible, single spaces, at most 60
characters), and a user preset cannot pass for a built-in: a look-alike name ("ѕtandard" with a
Cyrillic ѕ, "standard" with a zero-width space) is listed with its file name and a note, and refused
on save.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bls.core.library import NAME_MAX, LibraryError, PresetLibrary, builtin_look_alike, check_name
from bls.core.preset import Preset, dump_preset, load_preset_file, parse_preset_text, tidy_name

BUILTINS = ["standard", "slow", "gentle", "resourcing", "desensitisation", "eyes-closed"]


def preset_file(folder: Path, stem: str, name: str) -> Path:
    """A preset file whose name is written as a double-quoted YAML scalar (escapes keep it exact)."""
    folder.mkdir(parents=True, exist_ok=True)
    escaped = "".join(c if c.isprintable() and c not in '"\\' else f"\\U{ord(c):08x}" for c in name)
    path = folder / f"{stem}.yaml"
    path.write_text(f'name: "{escaped}"\nmotion:\n  speed_cycles_per_s: 0.4\n', encoding="utf-8")
    return path


def name_notes(problems) -> list[str]:
    return [p.message for p in problems if p.path == "name"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# --------------------------------------------------------------------------- read as saved


def test_a_name_of_100000_characters_loads_cut_to_60_with_a_note_and_the_file_is_kept(tmp_path):
    user = tmp_path / "presets"
    f = preset_file(user, "long", "calm " + "x" * 99_995)
    raw = f.read_bytes()
    preset, problems = load_preset_file(f)
    assert preset.name == "calm " + "x" * (NAME_MAX - 5) and len(preset.name) == NAME_MAX
    assert [(p.severity, p.line) for p in problems] == [("warning", 1)]
    assert problems[0].message == ("is 100000 characters long (a name has at most 60): listed as its first 60; "
                                   "the file is left as it is")
    lib = PresetLibrary(user)
    assert lib.names() == BUILTINS + [preset.name] and lib.problems == problems
    assert check_name(preset.name) == preset.name  # what is listed can be saved back
    lib.save(Preset(name="other"))
    assert f.read_bytes() == raw  # never rewritten, never cut


@pytest.mark.parametrize("written, kept, note", [
    ("calm\u200bplace", "calmplace", "contains the invisible character U+200B ZERO WIDTH SPACE (removed)"),
    ("\u200fcalm", "calm", "contains the invisible character U+200F RIGHT-TO-LEFT MARK (removed)"),
    ("ca\u00adlm", "calm", "contains the invisible character U+00AD SOFT HYPHEN (removed)"),
    ("calm\ufeff", "calm", "contains the invisible character U+FEFF ZERO WIDTH NO-BREAK SPACE (removed)"),
    ("calm\u3164", "calm", "contains the invisible character U+3164 HANGUL FILLER (removed)"),
    ("cafe\u0301", "caf\u00e9", None),  # decomposed: composed (NFC), nothing a person sees changes
    ("my   calm\u00a0\u2003place", "my calm place", None),  # white space of any kind: one space
    ("  calm\t", "calm", None),
])
def test_names_are_read_as_they_are_saved(tmp_path, written, kept, note):
    preset, problems = load_preset_file(preset_file(tmp_path, "n", written))
    assert preset.name == kept and name_notes(problems) == ([note] if note else [])
    assert unicodedata.is_normalized("NFC", preset.name) and check_name(preset.name) == kept


def test_a_name_of_invisible_characters_only_is_not_a_name(tmp_path):
    preset, problems = load_preset_file(preset_file(tmp_path, "n", "\u200b\u200d\u2060"))
    assert preset is None and [p.message for p in problems if p.severity == "error"] == [
        "is only invisible characters, not a name"]


def test_composed_and_decomposed_spellings_are_the_same_name(tmp_path):
    user = tmp_path / "presets"
    preset_file(user, "a", "caf\u00e9")
    preset_file(user, "b", "cafe\u0301")
    lib = PresetLibrary(user)
    assert lib.names() == BUILTINS + ["caf\u00e9", "caf\u00e9 (b.yaml)"]
    assert "'café' is also the name of a.yaml; this one is listed as 'café (b.yaml)'" in lib.problems[0].message


# --------------------------------------------------------------------------- look-alikes of the built-ins


@pytest.mark.parametrize("written, builtin", [
    ("\u0455tandard", "standard"),  # Cyrillic ѕ
    ("st\u0430nd\u0430rd", "standard"),  # Cyrillic а
    ("Standard", "standard"), ("SLOW", "slow"),
    ("g\u0435ntl\u0435", "gentle"),  # Cyrillic е
    ("\u03bfslow", None),  # an extra letter: a different name
    ("eyes\u2013closed", "eyes-closed"),  # an en dash for the hyphen
    ("\uff53\uff4c\uff4f\uff57", "slow"),  # full-width letters
    ("r\u0435s\u03bfurcing", "resourcing"),  # Cyrillic е, Greek ο
])
def test_a_user_preset_that_looks_like_a_builtin_is_listed_with_its_file_name_and_a_note(tmp_path, written, builtin):
    user = tmp_path / "presets"
    f = preset_file(user, "x", written)
    raw = f.read_bytes()
    lib = PresetLibrary(user)
    if builtin is None:
        assert lib.names() == BUILTINS + [written] and lib.problems == []
        return
    shown = f"{written} (x.yaml)"
    assert lib.names() == BUILTINS + [shown] and lib.get(builtin) is lib.entries[builtin].preset
    assert lib.is_builtin(builtin) and not lib.is_builtin(shown) and lib.get(shown).name == written
    [note] = lib.problems
    assert (note.source, note.path, note.severity) == (str(f), "name", "warning")
    assert note.message.startswith(f"{written!r} looks like the built-in {builtin!r}: listed as {shown!r}")
    assert f.read_bytes() == raw


def test_a_zero_width_space_does_not_make_a_second_standard(tmp_path):
    user = tmp_path / "presets"
    preset_file(user, "x", "stan\u200bdard")
    lib = PresetLibrary(user)
    assert lib.names() == BUILTINS + ["standard (x.yaml)"] and lib.is_builtin("standard")
    assert name_notes(lib.problems)[0] == "contains the invisible character U+200B ZERO WIDTH SPACE (removed)"
    assert "'standard' is also the name of a built-in preset" in name_notes(lib.problems)[1]


def test_a_look_alike_in_the_list_can_be_renamed_or_deleted_but_not_saved_under_its_name(tmp_path):
    user = tmp_path / "presets"
    preset_file(user, "x", "\u0455low")
    lib = PresetLibrary(user)
    shown = "\u0455low (x.yaml)"
    before = snapshot(user)
    with pytest.raises(LibraryError, match=re.escape("'ѕlow' looks like the built-in preset 'slow': choose a name")):
        lib.save(lib.get(shown).with_("motion", speed_cycles_per_s=0.5), overwrite=True, entry=shown)
    assert snapshot(user) == before
    lib.rename(shown, "my slow")
    assert lib.names() == BUILTINS + ["my slow"] and lib.problems == []


#: letters and the look-alikes a name may use for them (Cyrillic, Greek), and invisible characters
HOMOGLYPHS = {"a": "\u0430", "e": "\u0435", "o": "\u043e\u03bf", "p": "\u0440\u03c1", "c": "\u0441",
              "s": "\u0455", "i": "\u0456", "d": "\u0501", "n": "\u0578", "t": "\u03c4", "-": "\u2010\u2013\u2212"}
INVISIBLES = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e"


@st.composite
def disguised_builtin(draw) -> tuple[str, str]:
    """(a built-in's name with letters swapped for look-alikes, its case changed or invisible
    characters slipped in, the built-in's name); never the name itself."""
    builtin = draw(st.sampled_from(BUILTINS))
    out = []
    for c in builtin:
        how = draw(st.sampled_from(["keep", "swap", "upper", "invisible"]))
        if how == "swap" and c in HOMOGLYPHS:
            c = draw(st.sampled_from(HOMOGLYPHS[c]))
        elif how == "upper":
            c = c.upper()
        elif how == "invisible":
            c += draw(st.sampled_from(INVISIBLES))
        out.append(c)
    disguised = "".join(out)
    if disguised == builtin:
        disguised = builtin[0].upper() + builtin[1:]
    return disguised, builtin


@settings(max_examples=60)
@given(disguised_builtin())
def test_a_disguised_builtin_name_is_refused_on_save(case):
    name, builtin = case
    with pytest.raises(LibraryError) as refused:
        check_name(name)
    said = str(refused.value)
    assert (said.endswith(f"looks like the built-in preset {builtin!r}: choose a name that cannot be mistaken for it")
            or said.startswith("a name cannot contain invisible characters (U+"))
    assert builtin_look_alike(name) == builtin


@settings(max_examples=20)
@given(disguised_builtin())
def test_a_disguised_builtin_name_is_refused_by_every_action_and_nothing_is_written(tmp_path_factory, case):
    name, _ = case
    user = tmp_path_factory.mktemp("lib") / "presets"
    lib = PresetLibrary(user)
    lib.save(Preset(name="calm"))
    before = snapshot(user)
    source = user.parent / "shared.yaml"
    source.write_text(dump_preset(Preset(name="calm 2")), encoding="utf-8")
    for action in (lambda: lib.save(Preset(name=name)), lambda: lib.rename("calm", name),
                   lambda: lib.duplicate("standard", name), lambda: lib.import_file(source, name=name)):
        with pytest.raises(LibraryError):
            action()
    assert snapshot(user) == before and lib.names() == BUILTINS + ["calm"]


@pytest.mark.parametrize("name", ["standard 2", "my slow", "gentle (from Sam)", "slower", "eyes closed",
                                  "desensitisation – long", "Σ calm", "Стандарт"])
def test_names_that_only_share_words_with_a_builtin_are_fine(name):
    assert check_name(name) == name and builtin_look_alike(name) is None


# --------------------------------------------------------------------------- load and save agree


any_name = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=90)


@settings(max_examples=80)
@given(any_name)
def test_a_loaded_name_is_tidy_and_saves_back_unchanged(raw):
    name, notes = tidy_name(raw)
    assert len(name) <= NAME_MAX and unicodedata.is_normalized("NFC", name)
    assert name == " ".join(name.split())
    assert all(unicodedata.category(c) not in ("Cc", "Cf") for c in name)
    assert tidy_name(name) == (name, [])  # read again: nothing more to tidy, nothing to say
    preset, problems = parse_preset_text(dump_preset(Preset(name="x")).replace("name: x", "name: " + _quoted(raw)))
    if not name:
        assert preset is None
        return
    assert preset.name == name and name_notes(problems) == notes
    if not any(c in name for c in "/\\:"):
        assert check_name(name, builtins=()) == name


@settings(max_examples=80)
@given(any_name)
def test_a_name_accepted_on_save_reads_back_as_itself(raw):
    try:
        name = check_name(raw, builtins=())
    except LibraryError:
        return
    back, problems = parse_preset_text(dump_preset(Preset(name=name)))
    assert problems == [] and back.name == name and tidy_name(raw)[0] == name


def _quoted(text: str) -> str:
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\U{ord(c):08x}" for c in text) + '"'
