"""Preset model and validation: round trips, every problem reported at once with its place, safe YAML."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bls.core import paths
from bls.core.preset import (SCHEMA_VERSION, SECTIONS, Preset, builtin_presets, dump_preset, load_preset_file,
                             parse_preset_text, preset_from_mapping, preset_to_mapping)

from .helpers import field_type, valid_presets


def numeric_fields():
    out = []
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            if field_type(f) in (int, float):
                out.append((section, f))
    return out


def yaml_with(section, key, value_text):
    return f"schema_version: {SCHEMA_VERSION}\nname: probe\n{section}:\n  {key}: {value_text}\n"


def errors(problems):
    return [p for p in problems if p.severity == "error"]


# --------------------------------------------------------------------------- round trips


def test_the_documented_built_ins_are_shipped():
    presets = builtin_presets()
    assert {"standard", "slow", "gentle"} <= set(presets)
    assert presets["gentle"].gentle is True and presets["standard"].gentle is False


@pytest.mark.parametrize("name", sorted(builtin_presets()))
def test_every_built_in_round_trips_exactly(name):
    p = builtin_presets()[name]
    text = dump_preset(p)
    back, problems = parse_preset_text(text, f"{name}.yaml")
    assert problems == []
    assert back == p
    assert dump_preset(back) == text  # stable: saving again changes nothing


@pytest.mark.parametrize("path", sorted(paths.builtin_presets_dir().glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_file_loads_without_a_single_warning(path):
    p, problems = load_preset_file(path)
    assert problems == [] and p is not None
    assert builtin_presets()[p.name] == p


@given(p=valid_presets(gentle=False))
def test_any_valid_preset_round_trips(p):
    # (a gentle preset round-trips exactly inside the gentle envelope; beyond it, it loads at the
    # limits: test_preset_gentle.py)
    back, problems = parse_preset_text(dump_preset(p))
    assert problems == []
    assert back == p


def test_preset_to_mapping_covers_every_field():
    p = Preset(name="x", description="d", rationale="r")
    m = preset_to_mapping(p.with_("motion", sweep_width_deg=30.0).with_("visual", target_diameter_deg=1.0))
    for section, cls in SECTIONS.items():
        assert set(m[section]) == {f.name for f in fields(cls)}
    # an optional field that is absent is left out of the file
    m = preset_to_mapping(p)
    for section, cls in SECTIONS.items():
        assert set(m[section]) == {f.name for f in fields(cls) if not f.metadata["optional"]}
    assert m["schema_version"] == SCHEMA_VERSION and m["name"] == "x"


def test_with_and_stimulus_equal():
    p = Preset(name="a")
    q = p.with_("motion", speed_cycles_per_s=1.2)
    assert q.motion.speed_cycles_per_s == 1.2 and p.motion.speed_cycles_per_s == 1.0  # a copy
    assert not p.stimulus_equal(q)
    assert p.stimulus_equal(p.with_(name="b", description="other words"))
    assert not p.stimulus_equal(p.with_(gentle=True))


@pytest.mark.parametrize("passes,speed,seconds", [(24, 1.0, 12), (12, 0.5, 12), (30, 1.5, 10)])
def test_set_length_label_uses_the_canonical_units(passes, speed, seconds):
    # one pass is half a cycle: N passes at v cycles/s last N / (2 v) seconds (docs/clinical-basis.md)
    label = Preset().with_("motion", set_passes=passes, speed_cycles_per_s=speed).set_length_label()
    assert label.startswith(f"{passes} passes") and f"~{seconds} s" in label
    label = Preset().with_("motion", set_mode="seconds", set_seconds=30.0, speed_cycles_per_s=speed).set_length_label()
    assert f"~{round(30 * 2 * speed)} passes" in label
    assert Preset().with_("motion", set_mode="free").set_length_label() == "free run"


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("section,f", numeric_fields(), ids=lambda v: getattr(v, "name", v))
def test_out_of_range_values_are_errors_with_path_line_and_range(section, f):
    lo, hi = f.metadata["lo"], f.metadata["hi"]
    for bad in (hi + 1, lo - 1, hi * 10 + 1):
        p, problems = parse_preset_text(yaml_with(section, f.name, bad), "probe.yaml")
        assert p is None
        (err,) = errors(problems)
        assert err.path == f"{section}.{f.name}" and err.line == 4 and err.source == "probe.yaml"
        assert "out of range" in err.message and f"{lo:g}" in err.message and f"{hi:g}" in err.message
    for edge in (lo, hi):  # the limits themselves are allowed
        p, problems = parse_preset_text(yaml_with(section, f.name, edge))
        assert p is not None and problems == []
        assert getattr(getattr(p, section), f.name) == edge


@pytest.mark.parametrize("section,f", numeric_fields(), ids=lambda v: getattr(v, "name", v))
@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf", "fast", "'1.0'", "true", "[1, 2]", "{a: 1}", "null"])
def test_non_numbers_and_non_finite_numbers_are_errors(section, f, text):
    if text == "null" and f.metadata["optional"]:
        return  # null is an optional field left out (test_geometry.py)
    p, problems = parse_preset_text(yaml_with(section, f.name, text))
    assert p is None
    (err,) = errors(problems)
    assert err.path == f"{section}.{f.name}"
    assert "number" in err.message


def test_fractional_whole_numbers_and_whole_floats():
    p, problems = parse_preset_text(yaml_with("motion", "set_passes", "2.5"))
    assert p is None and "whole number" in errors(problems)[0].message
    p, problems = parse_preset_text(yaml_with("motion", "set_passes", "24.0"))
    assert p is not None and p.motion.set_passes == 24 and isinstance(p.motion.set_passes, int)
    p, _ = parse_preset_text(yaml_with("motion", "speed_cycles_per_s", "1"))
    assert p.motion.speed_cycles_per_s == 1.0 and isinstance(p.motion.speed_cycles_per_s, float)


@pytest.mark.parametrize("section,key,text", [
    ("motion", "path", "circle"), ("motion", "profile", "bounce"), ("motion", "set_mode", "forever"),
    ("audio", "tone", "square"), ("audio", "pan_mode", "random"), ("audio", "enabled", "1"),
    ("audio", "enabled", "'yes'"), ("visual", "target_color", "red"), ("visual", "background_color", "'#12345'"),
    ("visual", "target_color", "'#gggggg'"), ("motion", "path", "1"),
])
def test_bad_choices_colours_and_booleans_are_errors(section, key, text):
    p, problems = parse_preset_text(yaml_with(section, key, text))
    assert p is None
    (err,) = errors(problems)
    assert err.path == f"{section}.{key}" and err.line == 4


def test_every_problem_is_reported_at_once():
    text = ("name: many\n"
            "motion:\n  speed_cycles_per_s: 9\n  set_passes: -3\n  wobble: 2\n"
            "audio:\n  level_dbfs: 0\n  tone: bell\n"
            "timing:\n  fade_in_s: .nan\n")
    p, problems = parse_preset_text(text, "many.yaml")
    assert p is None
    got = {(q.path, q.severity) for q in problems}
    assert got == {("motion.speed_cycles_per_s", "error"), ("motion.set_passes", "error"),
                   ("motion.wobble", "warning"), ("audio.level_dbfs", "error"), ("audio.tone", "error"),
                   ("timing.fade_in_s", "error")}
    lines = {q.path: q.line for q in problems}
    assert lines["motion.speed_cycles_per_s"] == 3 and lines["audio.tone"] == 8 and lines["timing.fade_in_s"] == 10
    assert all(str(q).startswith("many.yaml:") for q in problems)


def test_a_level_above_the_cap_is_refused_not_clamped():
    p, problems = parse_preset_text(yaml_with("audio", "level_dbfs", "-6"))
    assert p is None and "out of range" in errors(problems)[0].message


@pytest.mark.parametrize("text,where", [("name: x\nmotion:\n  sped: 1\n", "motion.sped"),
                                        ("name: x\ncolour: blue\n", "colour"),
                                        ("name: x\naudio:\n  speed_cycles_per_s: 1\n", "audio.speed_cycles_per_s")])
def test_unknown_keys_are_warnings_and_the_preset_still_loads(text, where):
    p, problems = parse_preset_text(text)
    assert p is not None and p.name == "x"
    (w,) = problems
    assert w.severity == "warning" and w.path == where and "unknown" in w.message
    assert p.stimulus_equal(Preset())  # ignored: nothing else changed


@pytest.mark.parametrize("text,what", [
    ("", "empty"), ("# only a comment\n", "empty"), ("   \n\n", "empty"),
    ("- name: x\n- name: y\n", "a list"), ("just words\n", "the text 'just words'"), ("42\n", "the number 42"),
])
def test_files_that_are_not_a_mapping(text, what):
    p, problems = parse_preset_text(text)
    assert p is None
    (err,) = problems
    assert err.severity == "error" and what in err.message


@pytest.mark.parametrize("section", list(SECTIONS))
def test_a_section_that_is_a_list_or_a_scalar(section):
    for value in ("[1, 2]", "3", "'text'"):
        p, problems = parse_preset_text(f"name: x\n{section}: {value}\n")
        assert p is None
        (err,) = errors(problems)
        assert err.path == section and err.line == 2 and "mapping" in err.message


def test_an_empty_section_means_defaults():
    p, problems = parse_preset_text("name: x\nmotion:\n")
    assert p is not None and problems == [] and p.motion == Preset().motion


def test_missing_or_blank_name():
    for text in ("motion: {speed_cycles_per_s: 1}\n", "name: '   '\n", "name: 12\n", "name: null\n"):
        p, problems = parse_preset_text(text)
        assert p is None and any(q.path == "name" for q in errors(problems))
    p, _ = parse_preset_text("name: '  padded  '\n")
    assert p.name == "padded"


@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system ['touch {m}']",
    "!!python/object/new:os.system ['touch {m}']",
    "!!python/name:os.system",
    "!!python/object/apply:subprocess.call [['touch', '{m}']]",
])
@pytest.mark.parametrize("where", ["top", "value", "section"])
def test_python_tags_never_execute_and_give_a_clean_problem(tmp_path, tag, where):
    marker = tmp_path / "pwned"
    payload = tag.format(m=marker)
    text = {"top": payload + "\n",
            "value": f"name: x\ndescription: {payload}\n",
            "section": f"name: x\nmotion:\n  speed_cycles_per_s: {payload}\n"}[where]
    f = tmp_path / "evil.yaml"
    f.write_text(text, encoding="utf-8")
    p, problems = load_preset_file(f)
    assert not marker.exists()
    assert p is None
    (err,) = problems
    assert err.severity == "error" and "python" in err.message and err.source == str(f)
    assert err.line == {"top": 1, "value": 2, "section": 3}[where]


def test_schema_versions():
    p, problems = parse_preset_text(f"schema_version: {SCHEMA_VERSION + 1}\nname: future\n", "f.yaml")
    assert p is None
    (err,) = problems
    assert err.path == "schema_version" and "newer" in err.message and err.line == 1
    for bad in ("0", "-1", "'one'", "1.5"):
        p, problems = parse_preset_text(f"schema_version: {bad}\nname: x\n")
        assert p is None and any(q.path == "schema_version" for q in errors(problems))
    p, problems = parse_preset_text("name: no-version\n")  # absent: the current schema
    assert p is not None and problems == []


def test_loading_never_changes_the_mapping_it_was_given():
    data = {"schema_version": SCHEMA_VERSION, "name": "x", "motion": {"speed_cycles_per_s": 1.5}}
    snapshot = yaml.safe_dump(data)
    p, _ = preset_from_mapping(data)
    assert p.motion.speed_cycles_per_s == 1.5 and yaml.safe_dump(data) == snapshot


def test_unreadable_files(tmp_path):
    p, problems = load_preset_file(tmp_path / "missing.yaml")
    assert p is None and "cannot read" in problems[0].message
    binary = tmp_path / "image.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    p, problems = load_preset_file(binary)
    assert p is None and "UTF-8" in problems[0].message


def test_invalid_yaml_reports_the_line():
    p, problems = parse_preset_text("name: x\nmotion:\n  speed_cycles_per_s: [1,\n", "broken.yaml")
    assert p is None
    (err,) = problems
    assert "YAML" in err.message and err.line is not None and err.line >= 3


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["name", "motion", "audio", "visual", "timing", "schema_version", "gentle",
                         "speed_cycles_per_s", "level_dbfs", "tone", "x"]) | st.text(max_size=8), inner, max_size=5),
    max_leaves=20)


@given(data=json_like)
def test_any_parsed_data_gives_problems_never_an_exception(data):
    p, problems = preset_from_mapping(data, "fuzz.yaml")
    assert isinstance(problems, list)
    if p is None:
        assert errors(problems)
    else:
        assert not errors(problems) and isinstance(p, Preset)
        assert all(math.isfinite(getattr(getattr(p, s), f.name)) for s, f in numeric_fields())


@given(text=st.text(max_size=300))
def test_any_text_gives_problems_never_an_exception(text):
    p, problems = parse_preset_text(text, "fuzz.yaml")
    assert p is not None or errors(problems)


# --------------------------------------------------------------------------- paths


def test_config_dir_override_and_presets_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("BLS_CONFIG_DIR", str(tmp_path / "cfg"))
    assert paths.config_dir() == tmp_path / "cfg"
    assert paths.user_presets_dir() == tmp_path / "cfg" / "presets"


def test_builtin_presets_dir_holds_the_presets():
    d = paths.builtin_presets_dir()
    assert d.is_dir() and {"standard.yaml", "slow.yaml", "gentle.yaml"} <= {p.name for p in d.glob("*.yaml")}
