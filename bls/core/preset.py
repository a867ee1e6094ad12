"""The preset model: the whole stimulus as frozen dataclasses, with units in the field names.

Validation reports every problem at once (file, line where known, field path, the bad value and
what is allowed); unknown keys are warnings, out-of-range values are errors (never silently
clamped). A gentle preset with values beyond the gentle envelope loads with those values at the
nearest limit, one warning each (bls.core.envelope). :func:`clamp_to_schema` and
:func:`schema_problems` hold settings made in code to the same ranges as files. YAML is read with ``yaml.safe_load`` semantics only: no tag can construct an object, and no alias is accepted. A
file is read only if it is a regular file of at most ``PRESET_MAX_BYTES`` (:func:`read_preset_bytes`:
never blocks on a FIFO or a device).
"""

from __future__ import annotations

import copy
import difflib
import math
import numbers
import os
import re
import stat
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from . import motion as _motion
from . import tone as _tone
from .paths import builtin_presets_dir

SCHEMA_VERSION = 1
SPEED_MIN = 0.05
SPEED_MAX = 2.0  # hard limit (docs/clinical-basis.md, "The 2 cycles/s hard limit")
SET_MODES = ("passes", "seconds", "free")

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


def _spec(default, *, lo=None, hi=None, choices=None, unit="", kind=None, help="", optional=False):
    """``optional``: the field may be absent (None, the default): a file leaves it out, and null in a
    file is taken as absent."""
    return field(default=default, metadata={"lo": lo, "hi": hi, "choices": choices, "unit": unit,
                                            "kind": kind, "help": help, "optional": optional})


@dataclass(frozen=True)
class Motion:
    path: str = _spec("horizontal", choices=_motion.PATHS)
    profile: str = _spec("sinusoidal", choices=_motion.PROFILES)
    speed_cycles_per_s: float = _spec(1.0, lo=SPEED_MIN, hi=SPEED_MAX, unit="cycles/s")
    set_mode: str = _spec("passes", choices=SET_MODES)
    set_passes: int = _spec(24, lo=1, hi=2000, unit="passes")
    set_seconds: float = _spec(30.0, lo=1.0, hi=3600.0, unit="s")
    sweep_width_pct: float = _spec(85.0, lo=10.0, hi=100.0, unit="% of screen")
    #: the sweep in degrees of visual angle: used instead of sweep_width_pct when the client screen's size
    #: and the viewing distance are known (bls.core.geometry); sweep_width_pct is the fallback otherwise
    sweep_width_deg: float | None = _spec(None, lo=5.0, hi=80.0, unit="degrees of visual angle", optional=True,
                                          help="the sweep in degrees, used when the screen's size is known")


@dataclass(frozen=True)
class Visual:
    show_target: bool = _spec(True)  # false: eyes closed / audio only, the screen stays neutral
    target_diameter_pct: float = _spec(5.0, lo=1.0, hi=30.0, unit="% of screen height")
    #: the target's visible diameter in degrees: used instead of target_diameter_pct when the geometry is
    #: known; target_diameter_pct is the fallback otherwise
    target_diameter_deg: float | None = _spec(None, lo=0.2, hi=10.0, unit="degrees of visual angle",
                                              optional=True, help="the target in degrees, used when the "
                                              "screen's size is known")
    target_color: str = _spec("#e8e4da", kind="color")
    target_softness_pct: float = _spec(15.0, lo=0.0, hi=100.0, unit="% of radius")
    background_color: str = _spec("#1d2126", kind="color")


@dataclass(frozen=True)
class Audio:
    enabled: bool = _spec(True)
    tone: str = _spec("soft_sine", choices=_tone.TONES)
    carrier_hz: float = _spec(440.0, lo=_tone.CARRIER_MIN_HZ, hi=_tone.CARRIER_MAX_HZ, unit="Hz")
    level_dbfs: float = _spec(-24.0, lo=_tone.LEVEL_FLOOR_DBFS, hi=_tone.LEVEL_CAP_DBFS, unit="dBFS")
    pan_mode: str = _spec("continuous", choices=_tone.PAN_MODES)
    pan_depth_pct: float = _spec(100.0, lo=0.0, hi=100.0, unit="%")


@dataclass(frozen=True)
class Timing:
    fade_in_s: float = _spec(1.0, lo=0.05, hi=30.0, unit="s")
    fade_out_s: float = _spec(1.0, lo=0.05, hi=30.0, unit="s")
    rest_s: float = _spec(0.0, lo=0.0, hi=600.0, unit="s")


SECTIONS = {"motion": Motion, "visual": Visual, "audio": Audio, "timing": Timing}

#: schema migrations: MIGRATIONS[v] turns a version-v mapping into a version v+1 mapping. They are
#: applied to a deep copy, never to what was read, and the file on disk is never rewritten by a load.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}


def migrate(data: dict) -> dict:
    """A copy of ``data`` migrated to ``SCHEMA_VERSION`` (the caller has checked the version)."""
    out = copy.deepcopy(data)
    version = out.get("schema_version", SCHEMA_VERSION)
    while version < SCHEMA_VERSION:
        out = MIGRATIONS[version](out)
        version += 1
        out["schema_version"] = version
    return out


@dataclass(frozen=True)
class Preset:
    name: str = "untitled"
    description: str = ""
    rationale: str = ""
    gentle: bool = False
    motion: Motion = field(default_factory=Motion)
    visual: Visual = field(default_factory=Visual)
    audio: Audio = field(default_factory=Audio)
    timing: Timing = field(default_factory=Timing)
    schema_version: int = SCHEMA_VERSION

    def with_(self, section: str | None = None, **changes) -> "Preset":
        """A copy with fields changed, e.g. ``p.with_("motion", speed_cycles_per_s=1.2)``."""
        if section is None:
            return replace(self, **changes)
        return replace(self, **{section: replace(getattr(self, section), **changes)})

    def stimulus_equal(self, other: "Preset") -> bool:
        """Same stimulus, whatever the name and texts."""
        return all(getattr(self, s) == getattr(other, s) for s in SECTIONS) and self.gentle == other.gentle

    def set_length_label(self) -> str:
        m = self.motion
        if m.set_mode == "passes":
            seconds = m.set_passes * 0.5 / m.speed_cycles_per_s
            return f"{m.set_passes} passes (~{seconds:.0f} s)"
        if m.set_mode == "seconds":
            return f"{m.set_seconds:.0f} s (~{m.set_seconds * 2 * m.speed_cycles_per_s:.0f} passes)"
        return "free run"


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or doubtful) in a preset file."""
    source: str
    path: str
    message: str
    line: int | None = None
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "")
        field_ = f" {self.path}:" if self.path else ""
        return f"{where}: {self.severity}:{field_} {self.message}"

    def for_people(self, with_file: bool = True) -> str:
        """The same in words for the control window: "broken.yaml, line 3 — motion.speed_cycles_per_s:
        4 is out of range ..." (the command line keeps the compiler-like form that editors jump to)."""
        line = f"line {self.line}" if self.line else ""
        place = ", ".join(filter(None, (Path(self.source).name, line))) if with_file else line.capitalize()
        note = "Note: " if self.severity == "warning" else ""
        field_ = f"{self.path}: " if self.path else ""
        return f"{note}{place + ' — ' if place else ''}{field_}{self.message}"


class PresetError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# --------------------------------------------------------------------------- validation


_TYPES = {"str": str, "float": float, "int": int, "bool": bool, "float | None": float}


def _field_type(f) -> type:
    """The field's type (an optional field's type when it is given)."""
    return f.type if isinstance(f.type, type) else _TYPES[f.type]


def optional_field(f) -> bool:
    return bool(f.metadata.get("optional"))


def _check_value(f, value, path: str, source: str, line, shown: str | None = None,
                 ) -> tuple[Any, Problem | None]:
    """(the value as stored, None) or (None, the Problem in words); ``shown`` is how the value is
    written in the message (default: its repr, as read from a file)."""
    meta = f.metadata
    typ = _field_type(f)

    def bad(msg):
        return None, Problem(source, path, msg, line)

    if value is None and meta.get("optional"):
        return None, None  # absent: null in a file, None in code
    shown = repr(value) if shown is None else shown
    if len(shown) > 60:
        shown = shown[:57] + "..."
    if typ is bool:
        if not isinstance(value, bool):
            return bad(f"{shown} is not true or false")
        return value, None
    if typ in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return bad(f"{shown} is not a number" + (f" (expected {meta['unit']})" if meta["unit"] else ""))
        if typ is int and (isinstance(value, float) and not value.is_integer()):
            return bad(f"{shown} is not a whole number")
        lo, hi, unit = meta["lo"], meta["hi"], meta["unit"]
        if isinstance(value, float) and not math.isfinite(value):
            return bad(f"{shown} is not a finite number")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return bad(f"{shown} is out of range: allowed {lo:g} to {hi:g} {unit}".rstrip())
        return (int(value) if typ is int else float(value)), None
    if typ is str:
        if not isinstance(value, str):
            return bad(f"{shown} is not text")
        if meta["choices"] and value not in meta["choices"]:
            return bad(f"{shown} is not one of: {', '.join(meta['choices'])}")
        if meta["kind"] == "color" and not _HEX.match(value):
            return bad(f"{shown} is not a colour like \"#1d2126\"")
        return value, None
    raise TypeError(typ)


# --------------------------------------------------------------------------- hard caps for settings made in code

#: the source named by problems with settings built in code (controls, keys, the engine)
SETTINGS_SOURCE = "<settings>"
_TOP_TEXTS = ("name", "description", "rationale")
_TOP_DEFAULTS = {f.name: f.default for f in fields(Preset) if f.name in _TOP_TEXTS}
#: per section: (field name, type, lo, hi, choices, is a colour, default), read once from the schema
_LIMITS = {section: tuple((f.name, _field_type(f), f.metadata["lo"], f.metadata["hi"], f.metadata["choices"],
                           f.metadata["kind"] == "color", f.default, optional_field(f)) for f in fields(cls))
           for section, cls in SECTIONS.items()}


def shown_value(value: Any) -> str:
    """A value as a person writes it: 5.0 as "5", 0.55 as "0.55", text in quotes."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _clamped(value: Any, typ: type, lo, hi, choices, colour: bool, default: Any) -> Any:
    if typ is bool:
        return value if isinstance(value, bool) else default
    if typ is str:
        if not isinstance(value, str) or (choices and value not in choices) or (colour and not _HEX.match(value)):
            return default
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return default
    if value != value:  # NaN
        return default
    value = lo if value < lo else hi if value > hi else value  # ints compare exactly, however long
    if typ is int:
        return value if type(value) is int else int(math.floor(value + 0.5))
    return value if type(value) is float else float(value)


def clamp_to_schema(p: Preset) -> Preset:
    """``p`` with every setting inside the schema: numbers to the nearest end of their range (a NaN to
    the field's default; whole-number fields stay whole numbers), unknown choices, malformed colours
    and non-booleans to the field's default, non-text names and texts to the default.

    Pure and cheap (no allocation when nothing changes: a preset already inside is returned as is).
    The hard caps of every path: the engine applies it to whatever settings it is given.
    """
    top: dict[str, Any] = {}
    for key in _TOP_TEXTS:
        if not isinstance(getattr(p, key), str):
            top[key] = _TOP_DEFAULTS[key]
    if not isinstance(p.gentle, bool):
        top["gentle"] = False
    if type(p.schema_version) is not int or p.schema_version != SCHEMA_VERSION:
        top["schema_version"] = SCHEMA_VERSION
    for section, cls in SECTIONS.items():
        sec = getattr(p, section)
        if not isinstance(sec, cls):
            top[section] = cls()
            continue
        changes = {}
        for name, typ, lo, hi, choices, colour, default, optional in _LIMITS[section]:
            value = getattr(sec, name)
            if value is None and optional:
                continue
            new = _clamped(value, typ, lo, hi, choices, colour, default)
            if new is not value and (type(new) is not type(value) or new != value):
                changes[name] = new
        if changes:
            top[section] = replace(sec, **changes)
    return replace(p, **top) if top else p


def schema_problems(p: Preset) -> list[Problem]:
    """Every setting of ``p`` outside the schema, in the words file validation uses ("5 is out of
    range: allowed 0.05 to 2 cycles/s"), with source ``"<settings>"`` and the field's path."""
    out: list[Problem] = []
    src = SETTINGS_SOURCE
    for key in _TOP_TEXTS:
        if not isinstance(value := getattr(p, key), str):
            out.append(Problem(src, key, f"{shown_value(value)[:60]} is not text"))
    if not isinstance(p.gentle, bool):
        out.append(Problem(src, "gentle", f"{shown_value(p.gentle)[:60]} is not true or false"))
    if type(p.schema_version) is not int or p.schema_version != SCHEMA_VERSION:
        out.append(Problem(src, "schema_version", f"{shown_value(p.schema_version)[:60]} is not the schema "
                           f"version of this bls ({SCHEMA_VERSION})"))
    for section, cls in SECTIONS.items():
        sec = getattr(p, section)
        if not isinstance(sec, cls):
            out.append(Problem(src, section, f"expected {section} settings, got {_kind(sec)}"))
            continue
        for f in fields(cls):
            value = getattr(sec, f.name)
            _, problem = _check_value(f, value, f"{section}.{f.name}", src, None, shown=shown_value(value))
            if problem is not None:
                out.append(problem)
    return out


def _long_number_line(text: str) -> int | None:
    """The line of the first number too long for Python to convert (composing converts nothing)."""
    try:
        nodes = [yaml.compose(text, Loader=_PresetLoader)]
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    while nodes:
        node = nodes.pop()
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int") and len(node.value) > 4000:
            return node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            nodes.extend(v for kv in node.value for v in kv)
        elif isinstance(node, yaml.SequenceNode):
            nodes.extend(node.value)
    return None


def _line_map(text: str) -> tuple[dict[tuple[str, ...], int], list[tuple[tuple[str, ...], int, int]]]:
    """Field path -> 1-based line, and the keys written twice (path, first line, second line),
    from the YAML node tree (composing constructs no object)."""
    lines: dict[tuple[str, ...], int] = {}
    repeated: list[tuple[tuple[str, ...], int, int]] = []
    try:
        root = yaml.compose(text, Loader=_PresetLoader)
    except (yaml.YAMLError, ValueError, RecursionError):
        return lines, repeated

    def walk(node, prefix, depth=0):
        if isinstance(node, yaml.MappingNode) and depth < 4:
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    path = prefix + (str(k.value),)
                    line = k.start_mark.line + 1
                    if path in lines:
                        repeated.append((path, lines[path], line))
                    lines[path] = line
                    walk(v, path, depth + 1)

    walk(root, ())
    return lines, repeated


def _unknown(key: str, section: str | None) -> str:
    """'unknown setting' with a suggestion: the nearest known name, in this section or another."""
    here = [f.name for f in fields(SECTIONS[section] if section else Preset)]
    everywhere = {f.name: sec for sec, cls in SECTIONS.items() for f in fields(cls)}
    close = difflib.get_close_matches(key, here, n=1, cutoff=0.6)
    if close:
        return f"unknown setting {key!r} (ignored): did you mean {close[0]!r}?"
    if key in everywhere:
        return f"unknown setting {key!r} here (ignored): it belongs in {everywhere[key]!r}"
    close = difflib.get_close_matches(key, list(everywhere), n=1, cutoff=0.6)
    if close:
        return (f"unknown setting {key!r} (ignored): did you mean {close[0]!r}, "
                f"which belongs in {everywhere[close[0]]!r}?")
    return f"unknown setting {key!r} (ignored); known here: {', '.join(here)}"


#: the control characters each text field may hold (line breaks and tabs in the free text only)
TEXT_CONTROLS_ALLOWED = {"name": "", "description": "\n\t", "rationale": "\n\t"}


def _is_control(c: str, allowed: str) -> bool:
    """A control character (bell, escape, NUL, ...) not in ``allowed``. Format characters (right-to-
    left marks, zero-width joiners) are text."""
    return c not in allowed and unicodedata.category(c) == "Cc"


def plain_text(text: str, allowed: str = "") -> str:
    """``text`` with every control character other than ``allowed`` replaced by a space."""
    return "".join(" " if _is_control(c, allowed) else c for c in text)


#: the longest name a preset may have (a longer one in a file loads cut to this, with a note)
NAME_MAX = 60

#: characters that show nothing and are not format characters (category Cf): the combining grapheme
#: joiner, the Hangul fillers, the Mongolian and the other variation selectors
_INVISIBLE_MORE = frozenset("\u034f\u115f\u1160\u3164\uffa0\u180b\u180c\u180d\u180f\u2800"
                            + "".join(map(chr, range(0xFE00, 0xFE10))) + "".join(map(chr, range(0xE0100, 0xE01F0))))


def _is_invisible(c: str) -> bool:
    return unicodedata.category(c) in ("Cf", "Cs") or c in _INVISIBLE_MORE


def invisible_character(text: str) -> str | None:
    """The first character in ``text`` that shows nothing (a zero-width space or joiner, a direction
    mark, a soft hyphen: Unicode format characters, and a few fillers), or None."""
    return next((c for c in text if _is_invisible(c)), None)


def without_invisible(text: str) -> str:
    return "".join(c for c in text if not _is_invisible(c))


def _code(c: str) -> str:
    name = unicodedata.name(c, "")
    return f"U+{ord(c):04X}" + (f" {name}" if name else "")


def tidy_name(raw: str) -> tuple[str, list[str]]:
    """A name as bls keeps it, read from a file or typed: control characters as spaces, characters that
    show nothing (zero-width spaces, joiners, direction marks) removed, Unicode NFC, white space
    collapsed to single spaces, at most NAME_MAX characters. Returns (the name, what changed that a
    person could see, in words; [] when only spacing or the Unicode composition changed)."""
    notes = []
    name = raw.strip()  # a block scalar's final line break is not part of the name
    if (bad := control_character(name)) is not None:
        notes.append(f"contains the control character U+{ord(bad):04X} (shown as a space)")
        name = plain_text(name)
    if (bad := invisible_character(name)) is not None:
        notes.append(f"contains the invisible character {_code(bad)} (removed)")
        name = without_invisible(name)
    name = " ".join(unicodedata.normalize("NFC", name).split())
    if len(name) > NAME_MAX:
        notes.append(f"is {len(name)} characters long (a name has at most {NAME_MAX}): listed as its first "
                     f"{NAME_MAX}; the file is left as it is")
        name = unicodedata.normalize("NFC", name[:NAME_MAX]).rstrip()
    return name, notes


def _kind(value: Any) -> str:
    """What a YAML value is, in words: "a list", "the text 'fast'", "the number 3"."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"[:60]
    return f"a {type(value).__name__}"


def control_character(text: str, allowed: str = "") -> str | None:
    """The first control character in ``text`` other than ``allowed``, or None."""
    return next((c for c in text if _is_control(c, allowed)), None)


def preset_from_mapping(data: Any, source: str = "<preset>", lines: dict | None = None,
                        ) -> tuple[Preset | None, list[Problem]]:
    """Build a Preset from a parsed mapping; returns (preset or None, every problem found)."""
    lines = lines or {}
    problems: list[Problem] = []
    if not isinstance(data, dict):
        kind = "empty" if data is None else _kind(data)
        return None, [Problem(source, "", f"the file is {kind}, expected a mapping of preset fields")]

    version = data.get("schema_version", SCHEMA_VERSION)
    if isinstance(version, bool) or not isinstance(version, int):
        problems.append(Problem(source, "schema_version", f"{version!r} is not a whole number",
                                lines.get(("schema_version",))))
    elif version > SCHEMA_VERSION:
        return None, [Problem(source, "schema_version",
                              f"this preset was written by a newer bls (schema {version}; this bls reads "
                              f"up to {SCHEMA_VERSION}); update bls to use it", lines.get(("schema_version",)))]
    elif version < 1 or any(v not in MIGRATIONS for v in range(version, SCHEMA_VERSION)):
        return None, [Problem(source, "schema_version", f"{version!r} is not a schema version this bls knows",
                              lines.get(("schema_version",)))]
    else:
        data = migrate(data)

    top: dict[str, Any] = {}
    top_fields = {f.name: f for f in fields(Preset)}
    for key, value in data.items():
        ln = lines.get((str(key),))
        if key in SECTIONS:
            section_cls = SECTIONS[key]
            if value is None:
                value = {}
            if not isinstance(value, dict):
                problems.append(Problem(source, key, f"expected a mapping of {key} settings, got {_kind(value)}", ln))
                continue
            sec_fields = {f.name: f for f in fields(section_cls)}
            kwargs = {}
            for k2, v2 in value.items():
                path = f"{key}.{k2}"
                ln2 = lines.get((str(key), str(k2)))
                if k2 not in sec_fields:
                    problems.append(Problem(source, path, _unknown(str(k2), key), ln2, "warning"))
                    continue
                checked, problem = _check_value(sec_fields[k2], v2, path, source, ln2)
                if problem:
                    problems.append(problem)
                else:
                    kwargs[k2] = checked
            top[key] = section_cls(**kwargs)
        elif key == "name":
            if not isinstance(value, str) or not value.strip():
                problems.append(Problem(source, key, f"{shown_value(value)[:60]} is not a non-empty name", ln))
                continue
            # read as a name is saved (NFC, nothing invisible, single spaces, at most NAME_MAX): what
            # is listed is what can be saved back; the file itself is never changed by a load
            name, notes = tidy_name(value)
            problems.extend(Problem(source, key, note, ln, "warning") for note in notes)
            if not name:
                what = "control" if control_character(value) is not None else "invisible"
                problems.append(Problem(source, key, f"is only {what} characters, not a name", ln))
                continue
            top[key] = name
        elif key in ("description", "rationale"):
            if not isinstance(value, str):
                problems.append(Problem(source, key, f"{shown_value(value)[:60]} is not text", ln))
            else:
                allowed = TEXT_CONTROLS_ALLOWED[key]
                if (bad := control_character(value, allowed)) is not None:
                    # pasted text can carry them (a soft line break from a word processor): the preset
                    # still loads, never lost; the therapist is told, and the next save writes plain text
                    problems.append(Problem(source, key, f"contains the control character U+{ord(bad):04X} "
                                            "(shown as a space)", ln, "warning"))
                    value = plain_text(value, allowed)
                top[key] = value
        elif key == "gentle":
            if not isinstance(value, bool):
                problems.append(Problem(source, key, f"{value!r} is not true or false", ln))
            else:
                top[key] = value
        elif key == "schema_version":
            pass
        else:
            problems.append(Problem(source, str(key), _unknown(str(key), None), ln, "warning"))
    if "name" not in data:
        problems.append(Problem(source, "name", "missing: every preset needs a name"))
    if any(p.severity == "error" for p in problems):
        return None, problems
    preset = Preset(**top)
    if preset.gentle:
        # a gentle preset lies inside the gentle envelope (unlocks hold for one session, never in a
        # file): values beyond it load as the nearest allowed value, and the therapist is told
        from .envelope import gentle_clamps, load_message  # noqa: PLC0415 - envelope builds on this module

        preset, clamps = gentle_clamps(preset)
        for c in clamps:
            path = c.violation.field
            problems.append(Problem(source, path, load_message(c), lines.get(tuple(path.split("."))), "warning"))
    return preset, problems


def _plain_yaml_problem(what: str) -> str:
    """PyYAML's words, with the ones a hand edit most often causes said plainly."""
    if "'\\t'" in what:  # "found character '\t' that cannot start any token"
        return "a tab is used to indent; indent with spaces (two per level, as bls writes it)"
    for opening, closing in (("[", "]"), ("{", "}")):
        if f"expected ',' or '{closing}'" in what:
            return f"a '{opening}' is not closed by a matching '{closing}' (or a comma is missing between items)"
    if "mapping values are not allowed here" in what:
        return "a ':' where none can be: a missing line break or indent, or text that needs quotes"
    return what


class _AliasUsed(yaml.YAMLError):
    def __init__(self, mark):
        super().__init__("an alias")
        self.problem_mark = mark


class _TooManyValues(yaml.YAMLError):
    def __init__(self, mark):
        super().__init__("too many values")
        self.problem_mark = mark


#: a preset holds under 100 values (keys included); a file with more is not one, and is refused as soon
#: as it is seen, so that no file of PRESET_MAX_BYTES takes more than a moment to read
VALUES_MAX = 1000


class _PresetLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses every alias (``*name``) as it composes, before any node is
    shared: a preset never needs one, and an alias bomb ("billion laughs") stops at its first alias,
    in time and memory bounded by the size of the text. It stops as well after VALUES_MAX values."""

    max_values = VALUES_MAX

    def __init__(self, stream):
        super().__init__(stream)
        self._values = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise _AliasUsed(self.peek_event().start_mark)
        self._values += 1
        if self._values > self.max_values:
            raise _TooManyValues(self.peek_event().start_mark)
        return super().compose_node(parent, index)


ALIAS_MESSAGE = "uses YAML aliases (&/*), which a preset never needs: write each value out in full"
TOO_MANY_MESSAGE = f"holds more than {VALUES_MAX} values (keys included), far more than a preset has"


def parse_preset_text(text: str, source: str = "<preset>") -> tuple[Preset | None, list[Problem]]:
    try:
        data = yaml.load(text, Loader=_PresetLoader)  # noqa: S506 - SafeLoader's constructors, no aliases
    except _AliasUsed as exc:
        return None, [Problem(source, "", ALIAS_MESSAGE, exc.problem_mark.line + 1)]
    except _TooManyValues as exc:
        return None, [Problem(source, "", TOO_MANY_MESSAGE, exc.problem_mark.line + 1)]
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        if problem.startswith("could not determine a constructor for the tag"):
            tag = problem.rsplit("tag ", 1)[-1].strip("'").replace("tag:yaml.org,2002:", "!!")
            return None, [Problem(source, "", f"the tag {tag} is not allowed: a preset holds plain values only "
                                  "(numbers, text, true/false); nothing in it is ever run", line)]
        return None, [Problem(source, "", f"not valid YAML: {problem}", line)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [Problem(source, "", f"not valid YAML: {_plain_yaml_problem(what)}", line)]
    except ValueError as exc:  # e.g. an integer longer than Python converts
        return None, [Problem(source, "", "not valid YAML: a number far too long to be a setting",
                              _long_number_line(text))]
    except RecursionError:
        return None, [Problem(source, "", "not valid YAML: nested too deeply to be a preset")]
    lines, repeated = _line_map(text)
    preset, problems = preset_from_mapping(data, source, lines)
    for path, first, again in repeated:
        problems.append(Problem(source, ".".join(path), f"written twice (lines {first} and {again}): the later "
                                "value counts; delete one of them", again, "warning"))
    return preset, problems


#: a preset is a few kB (the built-ins are under 2 kB): a file above this is refused unread
PRESET_MAX_BYTES = 256 * 1024

_NOT_REGULAR = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def _size_words(n: int) -> str:
    kb = -(-n // 1024)
    return f"{kb} kB" if kb < 10 * 1024 else f"{n / (1024 * 1024):.0f} MB"


def _not_preset_file(st: os.stat_result, max_bytes: int) -> str | None:
    """Why a file with this status is not read as a preset (None: it may be read)."""
    if not stat.S_ISREG(st.st_mode):
        kind = next((what for test, what in _NOT_REGULAR if test(st.st_mode)), "not a file")
        return f"not a regular file ({kind}): bls reads only preset files"
    if st.st_size > max_bytes:
        return f"too big for a preset ({_size_words(st.st_size)}; at most {_size_words(max_bytes)})"
    return None


def read_preset_bytes(path: Path, max_bytes: int = PRESET_MAX_BYTES) -> tuple[bytes | None, str]:
    """(the bytes of ``path``, "") if it is a regular file of at most ``max_bytes``, else (None, why in
    words). Never blocks and never reads more than ``max_bytes + 1`` bytes: a FIFO, a device (or a
    symlink to one) or a socket is refused from its status, before it is opened; the file is opened
    non-blocking and checked again on the open descriptor (it may have been swapped meanwhile)."""
    try:
        why = _not_preset_file(os.stat(path), max_bytes)
        if why is not None:
            return None, why
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) \
            | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags)
    except OSError as exc:
        return None, f"cannot read the file: {exc.strerror or exc}"
    try:
        why = _not_preset_file(os.fstat(fd), max_bytes)
        if why is not None:
            return None, why
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        return None, f"cannot read the file: {exc.strerror or exc}"
    finally:
        os.close(fd)
    if size > max_bytes:  # it grew while being read
        return None, f"too big for a preset (more than {_size_words(max_bytes)})"
    return b"".join(chunks), ""


def load_preset_file(path: Path) -> tuple[Preset | None, list[Problem]]:
    """A preset file, checked before it is parsed: a regular file of at most PRESET_MAX_BYTES (never
    a FIFO or a device: nothing blocks), UTF-8, YAML without aliases. Every refusal is one Problem."""
    path = Path(path)
    raw, why = read_preset_bytes(path)
    if raw is None:
        return None, [Problem(str(path), "", why)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, [Problem(str(path), "", "not a text file (it is not UTF-8): is this really a preset?")]
    return parse_preset_text(text, str(path))


def preset_to_mapping(p: Preset) -> dict[str, Any]:
    """Stable, logical key order: who it is, what it does, then the settings."""
    # what bls writes is plain text, whatever was pasted into a field
    out: dict[str, Any] = {"schema_version": p.schema_version, "name": plain_text(p.name).strip()}
    if p.description:
        out["description"] = plain_text(p.description, TEXT_CONTROLS_ALLOWED["description"])
    if p.rationale:
        out["rationale"] = plain_text(p.rationale, TEXT_CONTROLS_ALLOWED["rationale"])
    out["gentle"] = p.gentle
    for section in SECTIONS:
        sec = getattr(p, section)
        # an optional field that is absent is left out of the file
        out[section] = {f.name: getattr(sec, f.name) for f in fields(sec)
                        if not (optional_field(f) and getattr(sec, f.name) is None)}
    return out


class _Dumper(yaml.SafeDumper):
    """Long texts as folded blocks, so a description reads like a paragraph."""


def _str_representer(dumper, value: str):
    style = ">" if len(value) > 70 and "\n" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump_preset(p: Preset) -> str:
    header = ("# bls preset: one complete stimulus for a bilateral stimulation set.\n"
              "# Units are in the field names: cycles/s (left -> right -> left), passes (one sweep),\n"
              "# dBFS (0 = digital full scale; bls never plays above -12). Check a hand edit with:\n"
              "#   bls presets validate THIS_FILE\n")
    return header + yaml.dump(preset_to_mapping(p), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=96)


# --------------------------------------------------------------------------- library


def load_dir(directory: Path) -> tuple[dict[str, Preset], list[Problem]]:
    presets: dict[str, Preset] = {}
    problems: list[Problem] = []
    if not directory.is_dir():
        return presets, problems
    for path in sorted(directory.glob("*.yaml")):
        p, probs = load_preset_file(path)
        problems += probs
        if p is not None:
            presets[p.name] = p
    return presets, problems


def builtin_presets() -> dict[str, Preset]:
    presets, problems = load_dir(builtin_presets_dir())
    errors = [p for p in problems if p.severity == "error"]
    if errors:  # a broken built-in is a packaging bug: fail loudly
        raise PresetError(errors)
    return presets


def find_preset(name: str) -> Preset:
    """A preset by the name the library shows (built-ins and the user's presets)."""
    from .library import PresetLibrary  # noqa: PLC0415 - the library builds on this module

    return PresetLibrary().get(name)

