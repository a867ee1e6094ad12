"""The schema's ranges as hard caps for settings made in code: clamp_to_schema and schema_problems."""

from __future__ import annotations

import math
import time
from dataclasses import fields, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bls.core.preset import (SECTIONS, Preset, Problem, clamp_to_schema, preset_from_mapping, preset_to_mapping,
                             schema_problems)

from .test_preset_files import NUMERIC, SETTINGS, _type, valid_presets


def errors(problems):
    return [p for p in problems if p.severity == "error"]


# --------------------------------------------------------------------------- clamp_to_schema, by example


def test_a_speed_of_5_cycles_per_s_clamps_to_2():
    p = Preset().with_("motion", speed_cycles_per_s=5.0)
    got = clamp_to_schema(p)
    assert got.motion.speed_cycles_per_s == 2.0
    assert got == Preset().with_("motion", speed_cycles_per_s=2.0)  # nothing else moved


def test_a_level_of_0_dbfs_clamps_to_the_minus_12_cap():
    got = clamp_to_schema(Preset().with_("audio", level_dbfs=0.0))
    assert got.audio.level_dbfs == -12.0 and type(got.audio.level_dbfs) is float
    assert clamp_to_schema(Preset().with_("audio", level_dbfs=-200.0)).audio.level_dbfs == -60.0


@pytest.mark.parametrize("value, expected", [
    (float("nan"), 1.0), (float("inf"), 2.0), (float("-inf"), 0.05), (0.0, 0.05), (-3, 0.05), (10**400, 2.0),
    (True, 1.0), ("fast", 1.0), (None, 1.0), (1, 1.0),
])
def test_odd_speeds_become_the_nearest_end_or_the_default(value, expected):
    got = clamp_to_schema(Preset().with_("motion", speed_cycles_per_s=value)).motion.speed_cycles_per_s
    assert got == expected and type(got) is float


@pytest.mark.parametrize("value, expected", [
    (0, 1), (-24, 1), (2001, 2000), (10**400, 2000), (12.4, 12), (12.6, 13), (float("inf"), 2000),
    (float("nan"), 24), (2500.0, 2000), ("24", 24), (False, 24),
])
def test_whole_number_fields_stay_whole_numbers(value, expected):
    got = clamp_to_schema(Preset().with_("motion", set_passes=value)).motion.set_passes
    assert got == expected and type(got) is int


def test_choices_colours_booleans_and_texts_fall_back_to_their_defaults():
    p = (Preset(name=3, description=None, rationale=["x"], gentle="yes")
         .with_("motion", path="circle", profile=None, set_mode="PASSES")
         .with_("visual", show_target="no", target_color="red", background_color="#12345")
         .with_("audio", enabled=1, tone="bell", pan_mode=0))
    got = clamp_to_schema(p)
    assert (got.name, got.description, got.rationale, got.gentle) == ("untitled", "", "", False)
    assert (got.motion.path, got.motion.profile, got.motion.set_mode) == ("horizontal", "sinusoidal", "passes")
    assert (got.visual.show_target, got.visual.target_color, got.visual.background_color) == (
        True, "#e8e4da", "#1d2126")
    assert (got.audio.enabled, got.audio.tone, got.audio.pan_mode) == (True, "soft_sine", "continuous")


def test_valid_choices_colours_and_texts_are_kept():
    p = (Preset(name="mine", description="d", rationale="r", gentle=True)
         .with_("motion", path="vertical", set_mode="free")
         .with_("visual", show_target=False, target_color="#ABCDEF", background_color="#000000")
         .with_("audio", enabled=False, tone="pulse", pan_mode="alternating"))
    assert clamp_to_schema(p) == p


def test_a_section_that_is_not_a_section_becomes_the_default_section():
    got = clamp_to_schema(replace(Preset(), timing=None))
    assert got.timing == SECTIONS["timing"]() and got.motion == Preset().motion


def test_a_preset_inside_the_schema_is_returned_as_is_without_a_copy():
    # the engine calls it on every settings change: nothing inside is copied
    p = Preset(name="x").with_("motion", speed_cycles_per_s=0.3)
    assert clamp_to_schema(p) is p


def test_it_is_cheap_enough_for_every_settings_change():
    p = Preset().with_("motion", speed_cycles_per_s=5.0).with_("audio", level_dbfs=0.0)
    clamp_to_schema(p)
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        clamp_to_schema(p)
    per_call = (time.perf_counter() - t0) / n
    assert per_call < 1e-3, f"{per_call * 1e6:.0f} µs per call"  # ~30 µs here; a settings change is not per block


# --------------------------------------------------------------------------- schema_problems, by example


def test_schema_problems_read_like_file_validation():
    p = Preset().with_("motion", speed_cycles_per_s=5.0).with_("audio", level_dbfs=-3.0, tone="bell")
    got = schema_problems(p)
    assert got == [
        Problem("<settings>", "motion.speed_cycles_per_s", "5 is out of range: allowed 0.05 to 2 cycles/s"),
        Problem("<settings>", "audio.tone", "'bell' is not one of: soft_sine, warm, pulse"),
        Problem("<settings>", "audio.level_dbfs", "-3 is out of range: allowed -60 to -12 dBFS"),
    ]
    assert str(got[0]) == "<settings>: error: motion.speed_cycles_per_s: 5 is out of range: allowed 0.05 to 2 cycles/s"


@pytest.mark.parametrize("section, name, value, said", [
    ("motion", "speed_cycles_per_s", 2.00001, "2.00001 is out of range"),  # not rounded away
    ("motion", "speed_cycles_per_s", float("nan"), "nan is not a finite number"),
    ("motion", "set_passes", 2.5, "2.5 is not a whole number"),
    ("motion", "set_passes", 0, "0 is out of range: allowed 1 to 2000 passes"),
    ("visual", "target_color", "red", "'red' is not a colour like \"#1d2126\""),
    ("visual", "show_target", "yes", "'yes' is not true or false"),
    ("timing", "rest_s", "long", "'long' is not a number (expected s)"),
])
def test_each_kind_of_bad_setting_is_one_problem(section, name, value, said):
    [problem] = schema_problems(Preset().with_(section, **{name: value}))
    assert problem.path == f"{section}.{name}" and problem.message.startswith(said)
    assert problem.severity == "error" and problem.line is None


def test_bad_texts_and_flags_are_problems_too():
    got = schema_problems(Preset(name=None, gentle="on"))
    assert [(p.path, p.message) for p in got] == [("name", "None is not text"), ("gentle", "'on' is not true or false")]


def test_a_preset_inside_the_schema_has_no_problems():
    assert schema_problems(Preset()) == []
    assert schema_problems(Preset().with_("motion", speed_cycles_per_s=2.0).with_("audio", level_dbfs=-12.0)) == []


# --------------------------------------------------------------------------- properties


def _outside(f):
    """Values outside the field's range, and values that are not numbers at all."""
    lo, hi = f.metadata["lo"], f.metadata["hi"]
    wrong = st.sampled_from([float("nan"), float("inf"), float("-inf"), "1", True, 10**400, -10**400]
                            + ([] if f.metadata["optional"] else [None]))  # None: an optional field absent
    if _type(f) is int:
        return st.integers(max_value=lo - 1) | st.integers(min_value=hi + 1) | wrong
    above = st.floats(min_value=hi, exclude_min=True, allow_infinity=True, allow_nan=False)
    below = st.floats(max_value=lo, exclude_max=True, allow_infinity=True, allow_nan=False)
    return above | below | wrong


@st.composite
def presets_with_numbers_outside(draw):
    """A valid preset with one or more numeric settings replaced by values outside the schema."""
    p = draw(valid_presets)
    chosen = draw(st.lists(st.sampled_from(NUMERIC), min_size=1, max_size=len(NUMERIC), unique_by=lambda sf: id(sf[1])))
    for section, f in chosen:
        p = p.with_(section, **{f.name: draw(_outside(f))})
    return p, chosen


@settings(max_examples=200, deadline=None)
@given(presets_with_numbers_outside())
def test_clamped_presets_validate_cleanly_through_the_file_path(case):
    p, chosen = case
    got = clamp_to_schema(p)
    back, problems = preset_from_mapping(preset_to_mapping(got))
    assert errors(problems) == [] and back is not None
    assert schema_problems(got) == []
    assert {pr.path for pr in schema_problems(p)} >= {f"{s}.{f.name}" for s, f in chosen}
    for section, f in chosen:
        before, after = getattr(getattr(p, section), f.name), getattr(getattr(got, section), f.name)
        assert type(after) is _type(f) or (after is None and f.metadata["optional"])  # absent
        lo, hi = f.metadata["lo"], f.metadata["hi"]
        if isinstance(before, bool) or not isinstance(before, (int, float)) or before != before:  # NaN
            assert after == f.default
        elif before > hi:
            assert after == hi
        else:
            assert before < lo and after == lo


def _anything():
    return (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
            | st.sampled_from(["#1d2126", "warm", "free", "vertical", "#GGGGGG"]))


def _same(a, b) -> bool:
    """Equal values (1 and 1.0 alike; True and 1 not, NaN never)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


junk_presets = st.builds(
    Preset, name=st.text(max_size=5) | _anything(), description=_anything(), rationale=_anything(),
    gentle=_anything(),
    **{sec: st.builds(cls, **{f.name: _anything() for f in fields(cls)}) for sec, cls in SECTIONS.items()})


@settings(max_examples=200, deadline=None)
@given(junk_presets)
def test_whatever_a_setting_holds_the_clamp_ends_inside_the_schema(p):
    got = clamp_to_schema(p)
    assert schema_problems(got) == []
    assert clamp_to_schema(got) is got  # idempotent
    for section, f in SETTINGS:
        value = getattr(getattr(got, section), f.name)
        assert type(value) is _type(f) or (value is None and f.metadata["optional"])  # absent
    # and the two functions agree: problems exactly where the clamp changes something
    changed = {f"{s}.{f.name}" for s, f in SETTINGS
               if not _same(getattr(getattr(p, s), f.name), getattr(getattr(got, s), f.name))}
    reported = {pr.path for pr in schema_problems(p)}
    assert reported == changed | ({k for k in ("name", "description", "rationale", "gentle")
                                   if not isinstance(getattr(p, k), bool if k == "gentle" else str)})


@settings(max_examples=150, deadline=None)
@given(valid_presets)
def test_presets_inside_the_schema_are_returned_unchanged(p):
    assert clamp_to_schema(p) == p
    assert schema_problems(p) == []
