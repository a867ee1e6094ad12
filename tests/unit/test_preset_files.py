"""The preset loader against every malformed file we could think of, and round trips.

Every bad file gives (None, problems): each problem names the file, the line where known, the field
path, the bad value and what is allowed; nothing raises, nothing in a file is ever run, and a load
never changes the file or the mapping it was given.
"""

from __future__ import annotations

import copy
import math
import os
import unicodedata
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bls.core import gentle, tone
from bls.core import preset as P
from bls.core.paths import builtin_presets_dir
from bls.core.preset import (SECTIONS, Audio, Motion, Preset, Problem, Timing, Visual, dump_preset,
                             load_preset_file, migrate, parse_preset_text, preset_from_mapping,
                             preset_to_mapping)

from .helpers import INVISIBLE

TYPES = {"str": str, "float": float, "int": int, "bool": bool, "float | None": float}


def _type(f) -> type:
    return f.type if isinstance(f.type, type) else TYPES[f.type]


#: (section, dataclass field) for every setting of the schema
SETTINGS = [(sec, f) for sec, cls in SECTIONS.items() for f in fields(cls)]
NUMERIC = [(sec, f) for sec, f in SETTINGS if _type(f) in (int, float)]
BOOLS = [(sec, f) for sec, f in SETTINGS if _type(f) is bool]
TEXTS = [(sec, f) for sec, f in SETTINGS if _type(f) is str]
CHOICES = [(sec, f) for sec, f in TEXTS if f.metadata["choices"]]
COLOURS = [(sec, f) for sec, f in TEXTS if f.metadata["kind"] == "color"]
TOP_ORDER = ["schema_version", "name", "description", "rationale", "gentle", "motion", "visual", "audio", "timing"]


def _id(item) -> str:
    sec, f = item
    return f"{sec}.{f.name}"


#: every field written (the optional ones given), so each can be replaced by a bad value
BASE_PRESET = Preset(name="t", description="A test preset.", rationale="For the tests.").with_(
    "motion", sweep_width_deg=30.0).with_("visual", target_diameter_deg=1.0)
BASE = dump_preset(BASE_PRESET)


def with_value(section: str | None, name: str, raw: str) -> tuple[str, int]:
    """BASE with one line replaced by ``name: raw`` (in ``section``); returns (text, 1-based line)."""
    lines = BASE.splitlines()
    if section is None:
        j = next(k for k, ln in enumerate(lines) if ln.startswith(f"{name}:"))
        lines[j] = f"{name}: {raw}"
    else:
        i = lines.index(f"{section}:")
        j = next(k for k in range(i + 1, len(lines)) if lines[k].startswith(f"  {name}:"))
        lines[j] = f"  {name}: {raw}"
    return "\n".join(lines) + "\n", j + 1


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def warnings(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "warning"]


def one_error(text: str, source: str = "f.yaml") -> Problem:
    preset, problems = parse_preset_text(text, source)
    assert preset is None, problems
    errs = errors(problems)
    assert len(errs) == 1, [str(p) for p in problems]
    assert errs[0].source == source
    return errs[0]


def test_the_schema_gives_every_number_a_range_and_base_is_valid():
    """The range tests below iterate the metadata: a number without a range would go unchecked."""
    assert NUMERIC and CHOICES and COLOURS and BOOLS
    for sec, f in NUMERIC:
        assert f.metadata["lo"] is not None and f.metadata["hi"] is not None, f"{sec}.{f.name}"
        if f.default is not None or not f.metadata["optional"]:  # an optional field is absent by default
            assert f.metadata["lo"] <= f.default <= f.metadata["hi"], f"{sec}.{f.name}"
    preset, problems = parse_preset_text(BASE)
    assert preset == BASE_PRESET and problems == []


# --------------------------------------------------------------------------- YAML syntax


@pytest.mark.parametrize("text, line", [
    ("name: x\nmotion:\n  speed_cycles_per_s: 1: 2\n", 3),  # a second colon
    ("name: x\nmotion:\n  speed_cycles_per_s: 1.0\n set_passes: 24\n", 4),  # bad indentation
    ("name: x\n\tmotion: {}\n", 2),  # a tab
    ("name: x\nmotion: {speed_cycles_per_s: 1.0\naudio: {}\n", 3),  # unclosed flow mapping
    ("name: x\n---\nname: y\n", 2),  # two documents
    ("name: x\n'motion: {}\n", 3),  # unclosed quote
])
def test_a_yaml_syntax_error_says_not_valid_yaml_with_its_line(text, line):
    err = one_error(text)
    assert err.message.startswith("not valid YAML: ")
    assert err.line == line
    assert str(err).startswith(f"f.yaml:{line}: error: not valid YAML: ")


# --------------------------------------------------------------------------- wrong types


def _wrong_type_cases():
    for sec, f in SETTINGS:
        t = _type(f)
        if t is bool:
            yield pytest.param(sec, f.name, "3", "3 is not true or false", id=f"{sec}.{f.name}=3")
            yield pytest.param(sec, f.name, "'yes please'", "'yes please' is not true or false",
                               id=f"{sec}.{f.name}=text")
        elif t in (int, float):
            yield pytest.param(sec, f.name, "fast", "'fast' is not a number", id=f"{sec}.{f.name}=fast")
            yield pytest.param(sec, f.name, "true", "True is not a number", id=f"{sec}.{f.name}=true")
            yield pytest.param(sec, f.name, "[1, 2]", "[1, 2] is not a number", id=f"{sec}.{f.name}=list")
        else:
            yield pytest.param(sec, f.name, "12", "12 is not text", id=f"{sec}.{f.name}=12")
            yield pytest.param(sec, f.name, "{a: 1}", "{'a': 1} is not text", id=f"{sec}.{f.name}=map")


@pytest.mark.parametrize("section, name, raw, said", list(_wrong_type_cases()))
def test_a_wrong_type_names_the_field_its_line_and_the_value(section, name, raw, said):
    text, line = with_value(section, name, raw)
    err = one_error(text)
    assert (err.path, err.line) == (f"{section}.{name}", line)
    assert err.message.startswith(said)


@pytest.mark.parametrize("sec, f", NUMERIC, ids=[_id(x) for x in NUMERIC])
def test_a_number_in_the_wrong_type_says_its_unit(sec, f):
    err = one_error(with_value(sec, f.name, "fast")[0])
    assert f"(expected {f.metadata['unit']})" in err.message


def test_a_fractional_count_is_not_a_whole_number():
    text, line = with_value("motion", "set_passes", "24.5")
    err = one_error(text)
    assert (err.path, err.line, err.message) == ("motion.set_passes", line, "24.5 is not a whole number")
    preset, _ = parse_preset_text(with_value("motion", "set_passes", "30.0")[0])
    assert preset.motion.set_passes == 30 and type(preset.motion.set_passes) is int


@pytest.mark.parametrize("sec, f", CHOICES, ids=[_id(x) for x in CHOICES])
def test_a_word_outside_the_choices_lists_every_choice(sec, f):
    text, line = with_value(sec, f.name, "nonsense")
    err = one_error(text)
    assert (err.path, err.line) == (f"{sec}.{f.name}", line)
    assert err.message == f"'nonsense' is not one of: {', '.join(f.metadata['choices'])}"


@pytest.mark.parametrize("raw", ["red", "'#12345'", "'#1234567'", "'#gggggg'", "'1d2126'"])
@pytest.mark.parametrize("sec, f", COLOURS, ids=[_id(x) for x in COLOURS])
def test_a_colour_that_is_not_hex_is_refused_with_an_example(sec, f, raw):
    err = one_error(with_value(sec, f.name, raw)[0])
    assert err.path == f"{sec}.{f.name}" and "is not a colour like \"#" in err.message


@pytest.mark.parametrize("name, raw, said", [
    ("name", "12", "12 is not a non-empty name"),
    ("name", "''", "'' is not a non-empty name"),
    ("name", "'   '", "'   ' is not a non-empty name"),
    ("name", "[a]", "['a'] is not a non-empty name"),
    ("description", "[1]", "[1] is not text"),
    ("gentle", "maybe", "'maybe' is not true or false"),
    ("gentle", "1", "1 is not true or false"),
])
def test_top_level_fields_of_the_wrong_type(name, raw, said):
    text, line = with_value(None, name, raw)
    err = one_error(text)
    assert (err.path, err.line, err.message) == (name, line, said)


def test_a_missing_name_is_an_error():
    err = one_error("motion:\n  speed_cycles_per_s: 1.2\n")
    assert (err.path, err.message) == ("name", "missing: every preset needs a name")


# --------------------------------------------------------------------------- NaN, infinities, ranges


@pytest.mark.parametrize("raw, shown", [(".nan", "nan"), (".inf", "inf"), ("-.inf", "-inf"), (".NaN", "nan"),
                                        ("+.inf", "inf")])
@pytest.mark.parametrize("sec, f", NUMERIC, ids=[_id(x) for x in NUMERIC])
def test_nan_and_infinity_are_refused_for_every_number(sec, f, raw, shown):
    text, line = with_value(sec, f.name, raw)
    err = one_error(text)
    assert (err.path, err.line) == (f"{sec}.{f.name}", line)
    assert err.message.startswith(f"{shown} is not a ")
    # an int field may say "whole number"; a float field must say "finite"
    assert ("finite number" in err.message) or (_type(f) is int and "whole number" in err.message)


def _outside(f) -> list:
    lo, hi = f.metadata["lo"], f.metadata["hi"]
    if _type(f) is int:
        return [lo - 1, hi + 1, -abs(hi) - 1]
    return [round(lo - 0.01, 6), round(hi + 0.01, 6), round(hi * 10 + 1, 6)]


@pytest.mark.parametrize("sec, f", NUMERIC, ids=[_id(x) for x in NUMERIC])
def test_out_of_range_values_are_errors_naming_value_and_range_never_clamped(sec, f):
    lo, hi, unit = f.metadata["lo"], f.metadata["hi"], f.metadata["unit"]
    for value in _outside(f):
        text, line = with_value(sec, f.name, repr(value))
        err = one_error(text)
        assert (err.path, err.line) == (f"{sec}.{f.name}", line)
        assert err.message == f"{value!r} is out of range: allowed {lo:g} to {hi:g} {unit}".rstrip()


@pytest.mark.parametrize("sec, f", NUMERIC, ids=[_id(x) for x in NUMERIC])
def test_the_range_limits_themselves_are_allowed_exactly(sec, f):
    for value in (f.metadata["lo"], f.metadata["hi"]):
        preset, problems = parse_preset_text(with_value(sec, f.name, repr(value))[0])
        assert problems == []
        got = getattr(getattr(preset, sec), f.name)
        assert got == value and type(got) is _type(f)


@pytest.mark.parametrize("name, raw", [("set_passes", "-24"), ("set_passes", "0"), ("set_seconds", "-30.0"),
                                       ("set_seconds", "0")])
def test_a_negative_or_zero_set_length_is_refused(name, raw):
    err = one_error(with_value("motion", name, raw)[0])
    assert err.path == f"motion.{name}" and f"{raw} is out of range" in err.message


# --------------------------------------------------------------------------- not a mapping, empty, junk


@pytest.mark.parametrize("text, kind", [
    ("- name: x\n- name: y\n", "a list"),
    ("[]\n", "a list"),
    ("42\n", "the number 42"),
    ("just some words\n", "the text 'just some words'"),
    ("", "empty"),
    ("   \n\n      \n", "empty"),
    ("\n\n\n", "empty"),
    ("# only a comment\n", "empty"),
    ("~\n", "empty"),
])
def test_a_file_that_is_not_a_mapping_says_what_it_is(text, kind):
    err = one_error(text)
    assert err.path == "" and err.message == f"the file is {kind}, expected a mapping of preset fields"


@pytest.mark.parametrize("section", list(SECTIONS))
@pytest.mark.parametrize("raw,said", [("[1, 2]", "a list"), ("- a\n  - b", "a list"), ("3", "the number 3"),
                                      ("'text'", "the text 'text'")])
def test_a_section_that_is_not_a_mapping_names_the_section(section, raw, said):
    lines = BASE.splitlines()
    i = lines.index(f"{section}:")
    end = next((k for k in range(i + 1, len(lines)) if not lines[k].startswith("  ")), len(lines))
    text = "\n".join(lines[:i] + [f"{section}: {raw}" if not raw.startswith("-") else f"{section}:\n  {raw}"]
                     + lines[end:]) + "\n"
    err = one_error(text)
    assert (err.path, err.line) == (section, i + 1)
    assert err.message == f"expected a mapping of {section} settings, got {said}"


def test_an_empty_section_takes_the_defaults():
    preset, problems = parse_preset_text("name: x\nmotion:\naudio: {}\n")
    assert problems == [] and preset == Preset(name="x")


def test_whitespace_with_a_tab_is_a_clean_error_not_a_traceback():
    err = one_error("  \t\n")
    assert err.message.startswith("not valid YAML") and err.line == 1


@pytest.mark.parametrize("data", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
    bytes(range(256)),
    b"\xff\xfe" + "name: x\n".encode("utf-16-le"),
    "name: café\n".encode("latin-1"),
    b"name: x\nmotion:\n  speed_cycles_per_s: \xc3\x28\n",  # invalid UTF-8 sequence in the middle
])
def test_binary_and_invalid_utf8_files_are_not_text(tmp_path, data):
    f = tmp_path / "junk.yaml"
    f.write_bytes(data)
    preset, problems = load_preset_file(f)
    assert preset is None and len(problems) == 1
    assert problems[0].source == str(f) and problems[0].severity == "error"
    assert problems[0].message == "not a text file (it is not UTF-8): is this really a preset?"
    assert f.read_bytes() == data


@pytest.mark.parametrize("data", [b"\x00\x01\x02\x03\x04", b"name: x\x00\n", b"\x1b[31mname\x1b[0m: x\n"])
def test_control_characters_in_valid_utf8_are_not_valid_yaml(tmp_path, data):
    f = tmp_path / "ctl.yaml"
    f.write_bytes(data)
    preset, problems = load_preset_file(f)
    assert preset is None and len(problems) == 1
    assert problems[0].message.startswith("not valid YAML: ") and "special characters" in problems[0].message


def test_an_unreadable_path_is_a_problem_not_an_exception(tmp_path):
    for path, said in ((tmp_path / "missing.yaml", "cannot read the file: "),
                       (tmp_path, "not a regular file (a folder): bls reads only preset files")):
        preset, problems = load_preset_file(path)
        assert preset is None and problems[0].message.startswith(said)


def test_a_byte_order_mark_is_fine(tmp_path):
    f = tmp_path / "bom.yaml"
    f.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert load_preset_file(f) == (BASE_PRESET, [])


# --------------------------------------------------------------------------- tags never execute

CALLS: list = []


def touch(path: str) -> str:
    """Would be called by an unsafe loader for !!python/object/apply."""
    CALLS.append(path)
    Path(path).touch()
    return "touched"


class Touch:
    """Would be instantiated by an unsafe loader for !!python/object/new and !!python/object."""

    def __new__(cls, path: str | None = None):
        CALLS.append(path)
        if path:
            Path(path).touch()
        return super().__new__(cls)

    def __setstate__(self, state):
        touch(state["path"])


HERE = __name__


def _payloads(target: Path) -> list[tuple[str, int]]:
    t = str(target)
    return [
        (f"!!python/object/apply:os.system ['touch {t}']\n", 1),
        (f"!!python/object/apply:{HERE}.touch ['{t}']\n", 1),
        (f"!!python/object/new:{HERE}.Touch ['{t}']\n", 1),
        (f"!!python/object/new:{HERE}.Touch\nargs: ['{t}']\n", 1),
        (f"!!python/object:{HERE}.Touch {{path: '{t}'}}\n", 1),
        (f"name: !!python/object/apply:{HERE}.touch ['{t}']\n", 1),
        (f"name: x\nmotion:\n  speed_cycles_per_s: !!python/object/new:{HERE}.Touch ['{t}']\n", 3),
        (f"name: x\ndescription: !!python/object/apply:subprocess.check_output [['touch', '{t}']]\n", 2),
        ("name: !!python/name:os.system\n", 1),
        ("name: !!python/module:os\n", 1),
    ]


def test_the_tag_payloads_are_live_with_an_unsafe_loader(tmp_path):
    """Control: these payloads really would run code (so the next test can fail)."""
    CALLS.clear()
    for i, (text, _) in enumerate(_payloads(tmp_path / "x")[:8]):
        target = tmp_path / f"control-{i}"
        yaml.unsafe_load(text.replace(str(tmp_path / "x"), str(target)))
        assert target.exists(), text
    CALLS.clear()


@pytest.mark.parametrize("i", range(10))
def test_a_python_tag_is_refused_and_never_runs(tmp_path, i):
    target = tmp_path / "pwned"
    text, line = _payloads(target)[i]
    CALLS.clear()
    f = tmp_path / "evil.yaml"
    f.write_text(text)
    for preset, problems in (parse_preset_text(text, "evil.yaml"), load_preset_file(f)):
        assert preset is None and len(problems) == 1, problems
        p = problems[0]
        tag = text.split("!!", 1)[1].split()[0].rstrip("[{")
        assert p.message.startswith(f"the tag !!{tag} is not allowed: a preset holds plain values only")
        assert p.line == line
    assert not target.exists() and CALLS == []
    assert f.read_text() == text


# --------------------------------------------------------------------------- unknown keys and typos


def test_unknown_keys_are_warnings_and_the_preset_still_loads():
    text = BASE.replace("motion:\n", "motion:\n  wobble: 3\n").replace("gentle: false\n", "gentle: false\ncolour: red\n")
    preset, problems = parse_preset_text(text, "f.yaml")
    assert preset == BASE_PRESET
    assert errors(problems) == []
    assert sorted(p.path for p in warnings(problems)) == ["colour", "motion.wobble"]
    for p in problems:
        assert "(ignored)" in p.message and p.line is not None
        assert str(p).startswith(f"f.yaml:{p.line}: warning: {p.path}: unknown setting")


def test_an_unknown_key_does_not_hide_the_values_next_to_it():
    preset, problems = parse_preset_text("name: x\nmotion:\n  speed_cycle_per_s: 1.5\n  set_passes: 30\n")
    assert preset.motion.set_passes == 30 and preset.motion.speed_cycles_per_s == Motion().speed_cycles_per_s
    assert [p.severity for p in problems] == ["warning"]


@pytest.mark.parametrize("text, path, hint", [
    ("name: x\nmotion:\n  speed_cycle_per_s: 1.0\n", "motion.speed_cycle_per_s", "did you mean 'speed_cycles_per_s'?"),
    ("name: x\naudio:\n  level_dbf: -30\n", "audio.level_dbf", "did you mean 'level_dbfs'?"),
    ("name: x\naudio:\n  carrier_hertz: 300\n", "audio.carrier_hertz", "did you mean 'carrier_hz'?"),
    ("name: x\ndiscription: a\n", "discription", "did you mean 'description'?"),
    ("name: x\nmoton:\n  set_passes: 3\n", "moton", "did you mean 'motion'?"),
    ("name: x\nmotion:\n  level_dbfs: -30\n", "motion.level_dbfs", "it belongs in 'audio'"),
    ("name: x\nspeed_cycles_per_s: 1.2\n", "speed_cycles_per_s", "it belongs in 'motion'"),
    ("name: x\nvisual:\n  fade_in: 2\n", "visual.fade_in", "did you mean 'fade_in_s', which belongs in 'timing'?"),
])
def test_a_typo_suggests_the_right_name(text, path, hint):
    preset, problems = parse_preset_text(text)
    assert preset is not None
    assert [(p.path, p.severity) for p in problems] == [(path, "warning")]
    assert hint in problems[0].message


def test_a_key_nothing_resembles_lists_the_known_names():
    _, problems = parse_preset_text("name: x\ntiming:\n  zzzzqqq: 1\n")
    assert problems[0].message.endswith("known here: fade_in_s, fade_out_s, rest_s")


# --------------------------------------------------------------------------- versions and migrations


@pytest.mark.parametrize("version", [2, 7, 10**30])
def test_a_newer_schema_version_is_refused_with_a_clear_message(version):
    text = f"schema_version: {version}\nname: x\nmotion:\n  speed_cycles_per_s: 9\n  new_thing: 3\n"
    err = one_error(text)
    assert (err.path, err.line) == ("schema_version", 1)
    assert f"newer bls (schema {version}; this bls reads up to {P.SCHEMA_VERSION})" in err.message
    assert "update bls" in err.message


@pytest.mark.parametrize("raw, said", [("0", "0 is not a schema version this bls knows"),
                                       ("-1", "-1 is not a schema version this bls knows"),
                                       ("two", "'two' is not a whole number"),
                                       ("1.5", "1.5 is not a whole number"),
                                       ("true", "True is not a whole number")])
def test_an_unknown_or_malformed_schema_version_is_refused(raw, said):
    err = one_error(f"schema_version: {raw}\nname: x\n")
    assert (err.path, err.line, err.message) == ("schema_version", 1, said)


def test_an_old_version_without_a_migration_path_is_refused(monkeypatch):
    monkeypatch.setattr(P, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(P, "MIGRATIONS", {2: lambda d: d})  # no way from 1 to 2
    err = one_error("schema_version: 1\nname: x\n")
    assert err.message == "1 is not a schema version this bls knows"
    preset, problems = parse_preset_text("schema_version: 2\nname: x\n")
    assert preset is not None and problems == []


def _rename_speed(d: dict) -> dict:
    """A version-1 -> 2 migration that (badly) edits its argument in place."""
    m = d.get("motion")
    if isinstance(m, dict) and "speed" in m:
        m["speed_cycles_per_s"] = m.pop("speed")
    return d


def test_migrations_run_on_a_copy_and_never_touch_the_file(monkeypatch, tmp_path):
    monkeypatch.setattr(P, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(P, "MIGRATIONS", {1: _rename_speed})
    data = {"schema_version": 1, "name": "old", "motion": {"speed": 1.3, "set_passes": 30}}
    before = copy.deepcopy(data)
    preset, problems = preset_from_mapping(data)
    assert problems == [] and preset.motion.speed_cycles_per_s == 1.3 and preset.motion.set_passes == 30
    assert data == before  # the mapping given is unchanged, even by a migration that edits in place

    f = tmp_path / "old.yaml"
    f.write_text("schema_version: 1\nname: old\nmotion:\n  speed: 1.3\n")
    stat = f.stat()
    raw = f.read_bytes()
    preset, problems = load_preset_file(f)
    assert problems == [] and preset.motion.speed_cycles_per_s == 1.3
    assert f.read_bytes() == raw and f.stat().st_mtime_ns == stat.st_mtime_ns
    # without the migration the same file would only warn about 'speed'
    monkeypatch.setattr(P, "SCHEMA_VERSION", 1)
    monkeypatch.setattr(P, "MIGRATIONS", {})
    _, problems = load_preset_file(f)
    assert [p.path for p in problems] == ["motion.speed"]


def test_migrate_chains_in_order_and_stamps_the_version(monkeypatch):
    monkeypatch.setattr(P, "SCHEMA_VERSION", 3)
    seen = []
    monkeypatch.setattr(P, "MIGRATIONS", {1: lambda d: (seen.append(("1->2", d["schema_version"])), d)[1],
                                          2: lambda d: (seen.append(("2->3", d["schema_version"])), d)[1]})
    data = {"schema_version": 1, "name": "x", "motion": {"a": [1]}}
    out = migrate(data)
    assert seen == [("1->2", 1), ("2->3", 2)] and out["schema_version"] == 3
    assert data["schema_version"] == 1 and out["motion"] is not data["motion"]


def test_a_current_version_file_is_not_migrated(monkeypatch):
    called = []
    monkeypatch.setattr(P, "MIGRATIONS", {0: lambda d: called.append(d) or d})
    assert parse_preset_text(BASE)[0] == BASE_PRESET and called == []


# --------------------------------------------------------------------------- every problem at once


def test_every_problem_is_reported_at_once_with_path_value_range_and_line():
    text = ("name: four\n"
            "motion:\n"
            "  speed_cycles_per_s: 3.5\n"
            "  set_passes: -2\n"
            "audio:\n"
            "  level_dbfs: -3\n"
            "timing:\n"
            "  rest_s: 9999\n")
    preset, problems = parse_preset_text(text, "four.yaml")
    assert preset is None
    assert [str(p) for p in problems] == [
        "four.yaml:3: error: motion.speed_cycles_per_s: 3.5 is out of range: allowed 0.05 to 2 cycles/s",
        "four.yaml:4: error: motion.set_passes: -2 is out of range: allowed 1 to 2000 passes",
        "four.yaml:6: error: audio.level_dbfs: -3 is out of range: allowed -60 to -12 dBFS",
        "four.yaml:8: error: timing.rest_s: 9999 is out of range: allowed 0 to 600 s",
    ]


def test_different_kinds_of_problem_are_all_reported_together():
    text = ("name: mixed\n"
            "gentle: perhaps\n"
            "motion:\n"
            "  path: circle\n"
            "  speed_cycles_per_s: .nan\n"
            "  set_passes: lots\n"
            "visual: [1]\n"
            "audio:\n"
            "  tone: sine\n"
            "  leve_dbfs: -20\n"
            "timing:\n"
            "  fade_in_s: -1\n")
    preset, problems = parse_preset_text(text)
    assert preset is None
    got = {(p.path, p.severity, p.line) for p in problems}
    assert got == {("gentle", "error", 2), ("motion.path", "error", 4),
                   ("motion.speed_cycles_per_s", "error", 5), ("motion.set_passes", "error", 6),
                   ("visual", "error", 7), ("audio.tone", "error", 9), ("audio.leve_dbfs", "warning", 10),
                   ("timing.fade_in_s", "error", 12)}


# --------------------------------------------------------------------------- never a traceback (properties)

ALL_CHOICES = sorted({c for _, f in CHOICES for c in f.metadata["choices"]})
SCHEMA_KEYS = (["schema_version", "name", "description", "rationale", "gentle"] + list(SECTIONS)
               + sorted({f.name for _, f in SETTINGS}))
keys = st.sampled_from(SCHEMA_KEYS) | st.text(max_size=10) | st.integers(-3, 3) | st.none() | st.booleans()
scalars = (st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.integers(10**300, 10**310)
           | st.floats() | st.text(max_size=16)
           | st.sampled_from(ALL_CHOICES + ["#1d2126", "#ABCDEF", "#12345"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=12)
loose_mappings = st.dictionaries(keys, values, max_size=8)
shaped_mappings = st.fixed_dictionaries({}, optional={
    "schema_version": st.integers(-1, 3) | scalars,
    "name": st.text(max_size=12) | scalars,
    "description": st.text(max_size=12) | scalars,
    "gentle": st.booleans() | scalars,
    **{sec: st.dictionaries(st.sampled_from([f.name for f in fields(cls)]) | st.text(max_size=6),
                            scalars | values, max_size=8) | values
       for sec, cls in SECTIONS.items()},
})


def assert_clean_result(result) -> None:
    """(None, at least one error) or (a valid Preset, warnings only); every problem printable."""
    assert isinstance(result, tuple) and len(result) == 2
    preset, problems = result
    assert isinstance(problems, list) and all(isinstance(p, Problem) for p in problems)
    for p in problems:
        assert p.severity in ("error", "warning") and isinstance(str(p), str)
        assert p.line is None or (isinstance(p.line, int) and p.line >= 1)
    if preset is None:
        assert errors(problems), problems
        return
    assert isinstance(preset, Preset) and not errors(problems)
    assert preset.name.strip() == preset.name and preset.name
    for sec, f in SETTINGS:
        v = getattr(getattr(preset, sec), f.name)
        if v is None and f.metadata["optional"]:
            continue  # absent
        assert type(v) is _type(f), (sec, f.name, v)
        if _type(f) in (int, float):
            assert math.isfinite(v) and f.metadata["lo"] <= v <= f.metadata["hi"], (sec, f.name, v)
    assert preset_from_mapping(preset_to_mapping(preset)) == (preset, [])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(loose_mappings | shaped_mappings | values)
def test_random_mappings_never_raise_and_are_never_changed(data):
    before = copy.deepcopy(data)
    assert_clean_result(preset_from_mapping(data, "random.yaml"))
    assert data == before


@settings(max_examples=100, deadline=None)
@given(shaped_mappings)
def test_random_mappings_written_as_yaml_never_raise(data):
    try:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        return
    assert_clean_result(parse_preset_text(text, "random.yaml"))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_random_text_never_raises(text):
    assert_clean_result(parse_preset_text(text, "random.yaml"))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(BASE)), st.integers(0, 40), st.text(max_size=12))
def test_hand_edits_gone_wrong_never_raise(at, cut, insert):
    assert_clean_result(parse_preset_text(BASE[:at] + insert + BASE[at + cut:], "edited.yaml"))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.integers(0, len(BASE)).flatmap(
    lambda at: st.binary(max_size=8).map(lambda junk: BASE.encode()[:at] + junk + BASE.encode()[at:])))
def test_random_bytes_from_disk_never_raise(tmp_path, data):
    f = tmp_path / "random.yaml"
    f.write_bytes(data)
    assert_clean_result(load_preset_file(f))
    assert f.read_bytes() == data


# --------------------------------------------------------------------------- once bugs: no traceback, ever


@pytest.mark.parametrize("field_", ["speed_cycles_per_s", "set_passes"])
def test_a_huge_integer_is_a_problem_not_a_traceback(field_):
    text = with_value("motion", field_, "9" * 400)[0]
    err = one_error(text)
    assert err.path == f"motion.{field_}" and "out of range" in err.message


def test_an_integer_of_5000_digits_is_a_problem_not_a_traceback():
    err = one_error(with_value("motion", "set_passes", "9" * 5000)[0])
    assert err.line is not None


@pytest.mark.parametrize("nest", ["[" * 3000 + "]" * 3000, "{a: " * 3000 + "1" + "}" * 3000])
def test_deep_nesting_is_a_problem_not_a_traceback(nest):
    err = one_error(f"name: x\nmotion: {nest}\n")
    assert err.severity == "error"


def test_a_complex_key_is_not_reported_as_a_forbidden_tag():
    err = one_error("name: x\n? [a, b]\n: 1\n")
    assert "tag" not in err.message and "unhashable" in err.message


def test_a_key_written_twice_is_reported():
    text = BASE.replace("  speed_cycles_per_s: 1.0\n", "  speed_cycles_per_s: 1.0\n  speed_cycles_per_s: 1.8\n")
    _, problems = parse_preset_text(text)
    assert any(p.path == "motion.speed_cycles_per_s" for p in problems)


# --------------------------------------------------------------------------- round trips and the dumped file


def _field_strategy(f):
    t, m = _type(f), f.metadata
    if t is bool:
        return st.booleans()
    if m["choices"]:
        return st.sampled_from(m["choices"])
    if m["kind"] == "color":
        return st.from_regex(r"\A#[0-9a-fA-F]{6}\Z")
    if t is int:
        return st.integers(m["lo"], m["hi"])
    if t is float:
        return st.floats(m["lo"], m["hi"], allow_nan=False)
    return st.text(max_size=20)


#: free text without control characters (refused: see test_control_characters_written_as_escapes_...),
#: except line breaks and tabs in descriptions
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc"), whitelist_characters="\n\t"), max_size=200)
#: characters that show nothing: format characters (Cf) and these; a name never holds them (they are
#: removed on load, refused on save)
names = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cf"), blacklist_characters=INVISIBLE), max_size=80)


def _as_kept(name: str) -> str:
    """A name as bls keeps it: NFC, single spaces, at most 60 characters."""
    return unicodedata.normalize("NFC", " ".join(unicodedata.normalize("NFC", name).split())[:60].strip())
#: inside the gentle envelope, whatever else (a gentle preset always lies inside it: see test_preset_gentle.py)
GENTLE_FIELDS = {
    "speed_cycles_per_s": st.floats(P.SPEED_MIN, gentle.SPEED_MAX),
    "level_dbfs": st.floats(tone.LEVEL_FLOOR_DBFS, gentle.LEVEL_MAX_DBFS), "pan_depth_pct": st.floats(0.0, gentle.PAN_DEPTH_MAX_PCT),
    "pan_mode": st.just("continuous"), "carrier_hz": st.floats(tone.CARRIER_MIN_HZ, gentle.CARRIER_MAX_HZ),
    "fade_in_s": st.floats(gentle.FADE_MIN_S, 30.0), "fade_out_s": st.floats(gentle.FADE_MIN_S, 30.0),
    "rest_s": st.floats(gentle.REST_MIN_S, 600.0), "target_diameter_pct": st.floats(gentle.DIAMETER_MIN_PCT, 30.0),
    "target_softness_pct": st.floats(gentle.SOFTNESS_MIN_PCT, 100.0),
    # every channel <= 0x3f: luminance <= 0.0497; target channels <= 0x6f: contrast <= 4.2:1 either way
    "background_color": st.from_regex(r"\A#([0-3][0-9a-fA-F]){3}\Z"),
    "target_color": st.from_regex(r"\A#([0-6][0-9a-fA-F]){3}\Z"),
}


def _presets(gentle_flag: bool):
    def strategy(f):
        return GENTLE_FIELDS[f.name] if gentle_flag and f.name in GENTLE_FIELDS else _field_strategy(f)
    return st.builds(
        Preset,
        name=names.map(_as_kept).filter(lambda s: bool(s) and len(s) <= 60 and s == " ".join(s.split())),
        description=texts, rationale=texts, gentle=st.just(gentle_flag),
        **{sec: st.builds(cls, **{f.name: strategy(f) for f in fields(cls)}) for sec, cls in SECTIONS.items()})


valid_presets = _presets(False) | _presets(True)


BUILTIN_FILES = sorted(builtin_presets_dir().glob("*.yaml"))


def test_there_are_six_builtin_files():
    assert [f.stem for f in BUILTIN_FILES] == sorted(
        ["standard", "slow", "gentle", "resourcing", "desensitisation", "eyes-closed"])


@pytest.mark.parametrize("path", BUILTIN_FILES, ids=[f.stem for f in BUILTIN_FILES])
def test_every_builtin_loads_cleanly_and_round_trips(path):
    preset, problems = load_preset_file(path)
    assert problems == [] and preset.name == path.stem and preset.description
    text = dump_preset(preset)
    assert parse_preset_text(text) == (preset, [])
    assert dump_preset(parse_preset_text(text)[0]) == text
    assert path.read_text(encoding="utf-8") == text  # the shipped file is exactly what bls writes


@settings(max_examples=120, deadline=None)
@given(valid_presets)
def test_random_valid_presets_round_trip_exactly(p):
    text = dump_preset(p)
    back, problems = parse_preset_text(text, "rt.yaml")
    assert problems == [] and back == p
    assert dump_preset(back) == text


@settings(max_examples=40, deadline=None)
@given(valid_presets)
def test_the_dumped_file_has_the_header_and_a_stable_key_order(p):
    text = dump_preset(p)
    assert text.startswith("# bls preset: one complete stimulus for a bilateral stimulation set.\n")
    assert "bls presets validate" in text.split("\nschema_version:")[0]
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    top = [k.value for k, _ in root.value]
    expected = [k for k in TOP_ORDER if not (k == "description" and not p.description)
                and not (k == "rationale" and not p.rationale)]
    assert top == expected
    for k, v in root.value:
        if k.value in SECTIONS:
            assert [kk.value for kk, _ in v.value] == [f.name for f in fields(SECTIONS[k.value])]


def test_long_descriptions_are_written_as_readable_paragraphs():
    p = Preset(name="long", description="word " * 40 + "end")
    text = dump_preset(p)
    assert "description: >-\n  word word" in text
    assert parse_preset_text(text)[0] == p


def test_loading_never_writes_next_to_the_file(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(BASE)
    bad.write_text("name: x\nmotion:\n  speed_cycles_per_s: 9\n")
    before = {f.name: f.read_bytes() for f in tmp_path.iterdir()}
    load_preset_file(good)
    load_preset_file(bad)
    assert {f.name: f.read_bytes() for f in tmp_path.iterdir()} == before


@pytest.mark.parametrize("field,raw,code,kept", [
    ("name", r'"stan\x07dard"', "0007", "stan dard"), ("name", r'"a\tb"', "0009", "a b"),
    ("description", r'"clear\e[2Jscreen"', "001B", "clear [2Jscreen"),
    ("description", r'"soft\vbreak"', "000B", "soft break"),  # a word processor's soft line break
    ("rationale", r'"nul\0byte"', "0000", "nul byte"),
])
def test_control_characters_load_as_spaces_with_a_warning(field, raw, code, kept):
    # escapes in a double-quoted scalar pass the YAML reader: the preset still loads (never lost),
    # the therapist is told, and the text shown is plain
    text, line = with_value(None, field, raw)
    preset, problems = parse_preset_text(text, "f.yaml")
    assert preset is not None and errors(problems) == []
    [w] = warnings(problems)
    assert (w.path, w.line, w.message) == (field, line, f"contains the control character U+{code} (shown as a space)")
    assert getattr(preset, field) == kept


def test_a_name_written_as_a_block_scalar_is_just_its_text():
    for raw in ("|\n  calm blue", ">\n  calm blue"):
        text, _ = with_value(None, "name", raw)
        preset, problems = parse_preset_text(text, "f.yaml")
        assert problems == [] and preset.name == "calm blue"


def test_what_bls_writes_is_plain_text_whatever_was_pasted():
    p = P.Preset(name="calm", description="line one\x0bline two\n\tindented\x07", rationale="a\x1bb")
    text = dump_preset(p)
    back, problems = parse_preset_text(text, "f.yaml")
    assert problems == []
    assert (back.description, back.rationale) == ("line one line two\n\tindented ", "a b")


def test_line_breaks_tabs_and_bidi_marks_are_plain_text_in_a_description():
    text, _ = with_value(None, "description", r'"two\tcolumns\nsecond line \u200fשלום"')
    preset, problems = parse_preset_text(text, "f.yaml")
    assert errors(problems) == [] and preset.description == "two\tcolumns\nsecond line \u200fשלום"


@pytest.mark.parametrize("text, line, said", [
    ("name: x\n\tmotion: {}\n", 2, "a tab is used to indent; indent with spaces (two per level, as bls writes it)"),
    ("name: x\nmotion:\n  path: [horizontal\n  profile: linear\n", 4,
     "a '[' is not closed by a matching ']' (or a comma is missing between items)"),
    ("name: x\nmotion: {path: horizontal\naudio: {}\n", 3,
     "a '{' is not closed by a matching '}' (or a comma is missing between items)"),
    ("name: x\nmotion:\n  path: horizontal: left\n", 3,
     "a ':' where none can be: a missing line break or indent, or text that needs quotes"),
])
def test_the_usual_hand_edit_slips_are_explained_in_plain_words(text, line, said):
    p = one_error(text)
    assert (p.line, p.message) == (line, f"not valid YAML: {said}")


def test_problems_read_as_words_in_the_control_window():
    err = Problem("/home/t/presets/anna.yaml", "motion.speed_cycles_per_s", "4 is out of range", 3)
    warn = Problem("/home/t/presets/anna.yaml", "motion.sped", "unknown setting 'sped' (ignored)", 7, "warning")
    whole = Problem("/home/t/presets/junk.yaml", "", "the file is empty, expected a mapping of preset fields")
    assert err.for_people() == "anna.yaml, line 3 — motion.speed_cycles_per_s: 4 is out of range"
    assert err.for_people(with_file=False) == "Line 3 — motion.speed_cycles_per_s: 4 is out of range"
    assert warn.for_people(with_file=False) == "Note: Line 7 — motion.sped: unknown setting 'sped' (ignored)"
    assert whole.for_people() == "junk.yaml — the file is empty, expected a mapping of preset fields"
    assert whole.for_people(with_file=False) == "the file is empty, expected a mapping of preset fields"
    assert str(err) == "/home/t/presets/anna.yaml:3: error: motion.speed_cycles_per_s: 4 is out of range"


@pytest.mark.parametrize("raw", [r'"\a"', r'"\x01\x02"', r'"\0"', r'" \t "'])
def test_a_name_of_control_characters_only_is_not_a_name(raw):
    text, line = with_value(None, "name", raw)
    p = one_error(text)
    assert (p.path, p.line) == ("name", line)
    assert p.message in ("is only control characters, not a name", f"{eval(raw)!r} is not a non-empty name")
