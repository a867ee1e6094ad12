"""The clinician's part of a session record: client code, target, SUD/VOC and notes per set, medicine.

No Qt, no files: this module checks what the therapist enters (a clear message for anything bls
would store wrong) and keeps the session's clinical record in memory. :mod:`bls.session.store` keeps
it in SQLite; :class:`~bls.session.core.SessionCore` fills it from what was delivered.

Scales (Shapiro 2018): SUD, Subjective Units of Disturbance, 0 (none) to 10 (worst imaginable)
(Wolpe 1969); VOC, Validity of Cognition, 1 (completely false) to 7 (completely true).
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
import uuid
from dataclasses import dataclass, field

SUD_MIN, SUD_MAX = 0, 10
VOC_MIN, VOC_MAX = 1, 7
CODE_MAX = 32
NOTE_MAX = 1000  # one line: what the client noticed
TEXT_MAX = 1000  # each target field
MEDICINE_TEXT_MAX = 200
TEN_WINDOW_S = 2.0  # "1" then "0" within this many seconds is a SUD of 10
VOC_WINDOW_S = 5.0  # "V" waits this long for its digit

# the EMDR assessment fields of a target (Shapiro 2018, phase 3), in the order a therapist asks them
TARGET_FIELDS = ("image", "nc", "pc", "voc", "emotions", "sud", "body")
TARGET_LABELS = {"image": "Image", "nc": "Negative cognition", "pc": "Positive cognition", "voc": "VOC",
                 "emotions": "Emotions", "sud": "SUD", "body": "Body location"}
MEDICINE_FIELDS = ("route", "dose")

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")


class EntryError(ValueError):
    """What the therapist entered cannot be stored as it is; the message says why and what would do."""


def now_local() -> _dt.datetime:
    return _dt.datetime.now().astimezone()


def iso(t: _dt.datetime) -> str:
    return t.isoformat(timespec="seconds")


def check_code(code) -> str:
    """A client code: a pseudonym (``C-017``), never a path or a name with odd characters."""
    if not isinstance(code, str):
        raise EntryError(f"client code: {code!r} is not text; use letters, digits, '-', '_' or '.' (e.g. C-017)")
    code = unicodedata.normalize("NFC", code.strip())
    if not code:
        raise EntryError("client code: empty; give a pseudonym such as C-017 (no name is needed)")
    if len(code) > CODE_MAX:
        raise EntryError(f"client code: {len(code)} characters; at most {CODE_MAX} (e.g. C-017)")
    if "/" in code or "\\" in code:
        raise EntryError(f"client code: {code!r} contains a path separator; use letters, digits, '-', '_' or '.'")
    if not _CODE_RE.match(code) or code in (".", ".."):
        raise EntryError(f"client code: {code!r}: use letters, digits, '-', '_', '.' or spaces, starting with "
                         "a letter or digit (e.g. C-017)")
    return code


def check_text(label: str, value, limit: int = TEXT_MAX) -> str:
    """One line of free text: no control characters (tabs become spaces), at most ``limit`` characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EntryError(f"{label}: {value!r} is not text")
    value = unicodedata.normalize("NFC", value.replace("\t", " ").strip())
    bad = sorted({f"U+{ord(c):04X}" for c in value if unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn")
                  or c in "\u2028\u2029"})
    if bad:
        raise EntryError(f"{label}: contains control characters ({', '.join(bad[:5])}); one line of plain text "
                         "only")
    if len(value) > limit:
        raise EntryError(f"{label}: {len(value)} characters; at most {limit} (keep it to one line)")
    return value


def _check_int(label: str, value, lo: int, hi: int, what: str) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise EntryError(f"{label}: {value!r} is not a whole number from {lo} to {hi} ({what})")
    if not lo <= value <= hi:
        raise EntryError(f"{label}: {value} is outside {lo} to {hi} ({what})")
    return value


def check_sud(value) -> int:
    return _check_int("SUD", value, SUD_MIN, SUD_MAX, "0 = no disturbance, 10 = the worst imaginable")


def check_voc(value) -> int:
    return _check_int("VOC", value, VOC_MIN, VOC_MAX, "1 = feels completely false, 7 = completely true")


def check_target(fields: dict) -> dict:
    """The target's assessment fields, checked; every problem at once (EntryError lists them)."""
    unknown = [k for k in fields if k not in TARGET_FIELDS]
    problems = [f"target: unknown field {k!r} (fields: {', '.join(TARGET_FIELDS)})" for k in unknown]
    out = {}
    for k in TARGET_FIELDS:
        v = fields.get(k)
        try:
            if k == "sud":
                out[k] = None if v is None or v == "" else check_sud(v)
            elif k == "voc":
                out[k] = None if v is None or v == "" else check_voc(v)
            else:
                out[k] = check_text(TARGET_LABELS[k], v)
        except EntryError as exc:
            problems.append(f"target: {exc}")
    if problems:
        raise EntryError("; ".join(problems))
    return out


def delivered_summary(entry: dict) -> dict:
    """Ranges of what was delivered while the set ran (from the engine's samples, never the controls)."""
    running = [s for s in entry.get("samples", []) if s.get("state") == "running"] or entry.get("samples", [])
    # the speed rises from 0 as a set begins (its ramp-in): the set's speed is what it rose to
    steady = list(running)
    while len(steady) > 1 and (steady[0].get("speed_cycles_per_s") or 0) < (steady[1].get("speed_cycles_per_s") or 0):
        steady.pop(0)

    def span(key, digits):
        values = [s[key] for s in (steady if key == "speed_cycles_per_s" else running)
                  if isinstance(s.get(key), (int, float))]
        if not values:
            return None, None
        return round(min(values), digits), round(max(values), digits)

    out = {}
    for key, name, digits in (("speed_cycles_per_s", "speed", 3), ("level_dbfs", "level", 1),
                              ("carrier_hz", "carrier", 1), ("target_diameter_pct", "target", 2)):
        out[f"{name}_min"], out[f"{name}_max"] = span(key, digits)
    out["tone"] = any(s.get("output_dbfs") is not None for s in running)  # heard at some moment
    out["visual"] = any((s.get("target_visible") or 0) > 0 for s in running)  # the target was seen
    return out


def fmt_span(lo, hi, digits: int = 2) -> str:
    if lo is None:
        return "–"
    if hi is None or abs(hi - lo) < 10 ** -digits / 2:
        return f"{lo:.{digits}f}"
    return f"{lo:.{digits}f}–{hi:.{digits}f}"


@dataclass
class ClinicalRecord:
    """The clinical record of one session, the truth in memory; rows are handed to the store."""

    uid: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: str = field(default_factory=lambda: iso(now_local()))
    ended_at: str | None = None
    client: str | None = None
    record_file: str | None = None  # the technical JSON record of the same session
    app_version: str = ""
    targets: list[dict] = field(default_factory=list)  # n, set_at, fields...
    medicine: list[dict] = field(default_factory=list)  # n, taken_at, route, dose
    sets: list[dict] = field(default_factory=list)  # n, target_n, summary, sud, voc, note, facts
    started: bool = False  # anything worth keeping happened (a set, an entry): the session is stored

    @property
    def target(self) -> dict | None:
        return self.targets[-1] if self.targets else None

    def session_row(self) -> dict:
        return {"uid": self.uid, "client_code": self.client, "started_at": self.started_at,
                "ended_at": self.ended_at, "app_version": self.app_version, "record_file": self.record_file}

    def set_of(self, n: int) -> dict | None:
        for s in self.sets:
            if s["n"] == n:
                return s
        return None

    def minutes_since_medicine(self, at: _dt.datetime) -> float | None:
        """Minutes from the latest medicine taken before ``at`` (None when none was)."""
        best = None
        for m in self.medicine:
            taken = _dt.datetime.fromisoformat(m["taken_at"])
            if taken <= at and (best is None or taken > best):
                best = taken
        return None if best is None else round((at - best).total_seconds() / 60.0, 1)

    def sud_trend(self) -> list[tuple[int, int]]:
        """(set number, SUD) for the current target, the target's starting SUD as set 0."""
        t = self.target
        n = t["n"] if t else None
        out = [(0, t["sud"])] if t and t.get("sud") is not None else []
        out += [(s["n"], s["sud"]) for s in self.sets if s.get("target_n") == n and s.get("sud") is not None]
        return out


class EntryKeys:
    """The keys a therapist types in the rest after a set: digits for a SUD ("1" "0" is 10), "V" then a
    digit for a VOC. Decides what a key means; the session applies it. Times are session seconds."""

    def __init__(self):
        self._last_one: float | None = None  # when a SUD of 1 was typed (a "0" soon after makes it 10)
        self._voc_armed: float | None = None

    def reset(self) -> None:
        self._last_one = self._voc_armed = None

    def key(self, name: str, t: float) -> tuple[str, int | None] | None:
        """("sud", value), ("voc", value), ("voc_armed", None), ("voc_bad", digit) or None (not ours)."""
        if name == "V":
            self._voc_armed, self._last_one = t, None
            return ("voc_armed", None)
        if len(name) != 1 or not name.isdigit():
            self.reset()
            return None
        d = int(name)
        if self._voc_armed is not None and t - self._voc_armed <= VOC_WINDOW_S:
            self._voc_armed = None
            return ("voc", d) if VOC_MIN <= d <= VOC_MAX else ("voc_bad", d)
        self._voc_armed = None
        if d == 0 and self._last_one is not None and t - self._last_one <= TEN_WINDOW_S:
            self._last_one = None
            return ("sud", 10)
        self._last_one = t if d == 1 else None
        return ("sud", d)
