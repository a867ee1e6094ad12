"""Gentle mode: the locked envelope for ketamine-assisted sessions.

While a preset's ``gentle`` flag is on, every setting stays inside :data:`ENVELOPE` unless the
therapist deliberately unlocks a limit (the session log records each unlock and the values used).
:func:`violations` says what a setting would exceed; :func:`beyond` what of that no unlock covers (an
unlock confirms one value of one limit: going further asks again); :func:`effective` is what the
engine plays (every limit held at the limit, or at the value unlocked, whatever it is given);
:func:`soften` moves settings to the gentle defaults when gentle mode is switched on.

No published protocol fixes these numbers (see README, "Gentle mode"); they follow the facts in
docs/clinical-basis.md: slow and quiet, soft attacks, long fades, partial panning so the far ear never goes
silent, a large soft low-contrast target on a dark warm background, and nothing that changes abruptly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .preset import Preset

# the limits
SPEED_MAX = 0.5  # cycles/s
SPEED_SLEW = 0.05  # cycles/s per second: how fast a speed change may glide
LEVEL_MAX_DBFS = -24.0
PAN_DEPTH_MAX_PCT = 80.0
FADE_MIN_S = 2.0
CARRIER_MAX_HZ = 400.0
DIAMETER_MIN_PCT = 8.0
SOFTNESS_MIN_PCT = 50.0
CONTRAST_MAX = 4.5  # WCAG contrast ratio between target and background (below the 4.5:1 of "readable")
BACKGROUND_LUMINANCE_MAX = 0.05  # relative luminance (0 black .. 1 white)
REST_MIN_S = 10.0
# how gentle mode softens the sound and the picture (used by the engine and the display)
ATTACK_S = 0.03  # pulse attack, at least 30 ms
PULSE_LENGTH_S = 0.3  # long decay
# the end-point accents (pan mode continuous_accents), when unlocked: a smaller, slower swell
ACCENT_DB = 2.0
ACCENT_ATTACK_S = 0.08
ACCENT_LENGTH_S = 0.35
STOP_FADE_S = 0.8  # Esc still reaches silence within 1 s
STOP_DECEL_S = 1.0
PAUSE_FADE_S = 1.0
PAUSE_DECEL_S = 1.5
CHANGE_RAMP_S = 0.4  # level, pan depth, carrier and tone changes glide this long
VISUAL_GLIDE_S = 1.5
SHOW_TARGET_S = 1.5

# the defaults gentle mode moves a setting to when it is outside the envelope
DEFAULTS = {
    "speed_cycles_per_s": 0.35, "level_dbfs": -30.0, "pan_depth_pct": 70.0, "fade_in_s": 3.0,
    "fade_out_s": 3.0, "carrier_hz": 200.0, "tone": "warm", "target_diameter_pct": 14.0,
    "target_softness_pct": 80.0, "target_color": "#8a7a66", "background_color": "#1f1a16", "rest_s": 30.0,
}


@dataclass(frozen=True)
class Violation:
    limit: str  # a stable key, e.g. "speed" (what an unlock unlocks)
    field: str  # preset field path
    value: object
    allowed: str  # the limit in words
    label: str  # what it is, for the therapist
    measure: float | str = 0.0  # the number the limit is about (the contrast ratio, the luminance ...)

    def __str__(self) -> str:
        # "Speed (cycles/s)" and 0.8 read "Speed: 0.8 cycles/s — the gentle limit is at most 0.5 cycles/s"
        name, _, unit = self.label.partition(" (")
        unit = unit.rstrip(")")
        value = f"{self._value()} {unit}".strip()
        return f"{name}: {value} — the gentle limit is {self.allowed}"

    def _value(self) -> str:
        v = self.value
        return f"{v:g}" if isinstance(v, float) else str(v)


def _luminance(hexstr: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    def channel(c: int) -> float:
        s = c / 255.0
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = (int(hexstr[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = _luminance(a), _luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


#: how each limit is judged: "max" (the measure may not exceed it), "min" (may not fall below it) or
#: "choice" (only the allowed value); an unlock confirms one measure, and covers what lies between the
#: limit and that measure, nothing further
KIND = {"speed": "max", "level": "max", "pan_depth": "max", "pan_mode": "choice", "carrier": "max",
        "fade_in": "min", "fade_out": "min", "rest": "min", "target_size": "min", "target_edge": "min",
        "background": "max", "contrast": "max"}
BOUND = {"speed": SPEED_MAX, "level": LEVEL_MAX_DBFS, "pan_depth": PAN_DEPTH_MAX_PCT, "pan_mode": "continuous",
         "carrier": CARRIER_MAX_HZ, "fade_in": FADE_MIN_S, "fade_out": FADE_MIN_S, "rest": REST_MIN_S,
         "target_size": DIAMETER_MIN_PCT, "target_edge": SOFTNESS_MIN_PCT,
         "background": BACKGROUND_LUMINANCE_MAX, "contrast": CONTRAST_MAX}
_EPS = 1e-9


def violations(p: Preset) -> list[Violation]:
    """What in ``p`` lies outside the gentle envelope (empty when gentle is off)."""
    if not p.gentle:
        return []
    m, v, a, t = p.motion, p.visual, p.audio, p.timing
    out = []

    def check(bad, limit, field, value, allowed, label, measure=None):
        if bad:
            out.append(Violation(limit, field, value, allowed, label, value if measure is None else measure))

    check(m.speed_cycles_per_s > SPEED_MAX, "speed", "motion.speed_cycles_per_s", m.speed_cycles_per_s,
          f"at most {SPEED_MAX:g} cycles/s", "Speed (cycles/s)")
    check(a.level_dbfs > LEVEL_MAX_DBFS, "level", "audio.level_dbfs", a.level_dbfs,
          f"at most {LEVEL_MAX_DBFS:g} dBFS", "Level (dBFS)")
    check(a.pan_depth_pct > PAN_DEPTH_MAX_PCT, "pan_depth", "audio.pan_depth_pct", a.pan_depth_pct,
          f"at most {PAN_DEPTH_MAX_PCT:g} %, so the far ear never goes silent", "Pan depth (%)")
    check(a.pan_mode != "continuous", "pan_mode", "audio.pan_mode", a.pan_mode,
          "continuous (no hard switching between ears)", "Pan mode")
    check(a.carrier_hz > CARRIER_MAX_HZ, "carrier", "audio.carrier_hz", a.carrier_hz,
          f"at most {CARRIER_MAX_HZ:g} Hz (a warm low tone)", "Tone pitch (Hz)")
    check(t.fade_in_s < FADE_MIN_S, "fade_in", "timing.fade_in_s", t.fade_in_s,
          f"at least {FADE_MIN_S:g} s", "Fade in (s)")
    check(t.fade_out_s < FADE_MIN_S, "fade_out", "timing.fade_out_s", t.fade_out_s,
          f"at least {FADE_MIN_S:g} s", "Fade out (s)")
    check(t.rest_s < REST_MIN_S, "rest", "timing.rest_s", t.rest_s, f"at least {REST_MIN_S:g} s",
          "Rest between sets (s)")
    check(v.target_diameter_pct < DIAMETER_MIN_PCT, "target_size", "visual.target_diameter_pct",
          v.target_diameter_pct, f"at least {DIAMETER_MIN_PCT:g} % of the screen height", "Target size (%)")
    check(v.target_softness_pct < SOFTNESS_MIN_PCT, "target_edge", "visual.target_softness_pct",
          v.target_softness_pct, f"at least {SOFTNESS_MIN_PCT:g} % (a soft edge)", "Target edge softness (%)")
    lum = _luminance(v.background_color)
    check(lum > BACKGROUND_LUMINANCE_MAX, "background", "visual.background_color",
          v.background_color, "a dark background", "Background", round(lum, 6))
    ratio = contrast(v.target_color, v.background_color)
    check(ratio > CONTRAST_MAX, "contrast", "visual.target_color", v.target_color,
          f"contrast with the background at most {CONTRAST_MAX:g}:1 (it is {ratio:.1f}:1)", "Target colour",
          round(ratio, 6))
    return out


def covered(v: Violation, unlocks: Mapping[str, object]) -> bool:
    """Whether an unlock the therapist confirmed covers this violation (the same value, or one
    between the limit and the confirmed value)."""
    if v.limit not in unlocks:
        return False
    got, kind = unlocks[v.limit], KIND[v.limit]
    if kind == "choice":
        return got == v.measure
    if not isinstance(got, (int, float)) or not isinstance(v.measure, (int, float)):
        return False
    return v.measure <= got + _EPS if kind == "max" else v.measure >= got - _EPS


def beyond(p: Preset, unlocks: Mapping[str, object] = MappingProxyType({})) -> list[Violation]:
    """What in ``p`` goes past the gentle envelope and past what has been unlocked: the questions."""
    return [v for v in violations(p) if not covered(v, unlocks)]


def _blend(c1: str, c2: str, u: float) -> str:
    a = [int(c1[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(c2[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * u):02x}" for x, y in zip(a, b))


def _bisect(ok, lo: float = 0.0, hi: float = 1.0) -> float:
    """The smallest u in [lo, hi] with ok(u) (ok is monotonic, ok(hi) holds)."""
    for _ in range(24):
        mid = (lo + hi) / 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _clamp(p: Preset, v: Violation, bound) -> Preset:
    """``p`` with one limit's field moved to ``bound`` (the limit, or the value unlocked)."""
    section, _, name = v.field.partition(".")
    if v.limit == "pan_mode":
        return p.with_("audio", pan_mode=bound if bound in ("continuous", "alternating") else "continuous")
    if v.limit == "background":  # darker, same hue
        bg = p.visual.background_color
        u = _bisect(lambda s: _luminance(_blend(bg, "#000000", s)) <= bound + _EPS)
        return p.with_("visual", background_color=_blend(bg, "#000000", u))
    if v.limit == "contrast":  # keep the hue the therapist chose, move it towards the background
        bg, fg = p.visual.background_color, p.visual.target_color
        u = _bisect(lambda s: contrast(_blend(fg, bg, s), bg) <= bound + _EPS)
        return p.with_("visual", target_color=_blend(fg, bg, u))
    return p.with_(section, **{name: float(bound)})


def effective(p: Preset, unlocks: Mapping[str, object] = MappingProxyType({})) -> Preset:
    """The settings as played and shown: every gentle limit holds, at the limit itself or at the
    value the therapist unlocked for it (never further). Without gentle mode, ``p`` unchanged."""
    if not p.gentle:
        return p
    for _ in range(4):
        todo = [v for v in violations(p) if not covered(v, unlocks)]
        if not todo:
            break
        # the contrast is judged once everything else (the background above all) is inside
        for v in [v for v in todo if v.limit != "contrast"] or todo:
            got = unlocks.get(v.limit)
            kind = KIND[v.limit]
            bound = BOUND[v.limit]
            if got is not None and kind != "choice" and isinstance(got, (int, float)):
                bound = max(bound, got) if kind == "max" else min(bound, got)
            elif got is not None and kind == "choice":
                bound = BOUND[v.limit]
            p = _clamp(p, v, bound)
    return p


def _fix(p: Preset, limit: str) -> Preset:
    """``p`` with one limit's field(s) moved inside the envelope, to the gentle default."""
    d = DEFAULTS
    if limit == "speed":
        return p.with_("motion", speed_cycles_per_s=d["speed_cycles_per_s"])
    if limit == "level":
        return p.with_("audio", level_dbfs=d["level_dbfs"])
    if limit == "pan_depth":
        return p.with_("audio", pan_depth_pct=d["pan_depth_pct"])
    if limit == "pan_mode":
        return p.with_("audio", pan_mode="continuous")
    if limit == "carrier":
        return p.with_("audio", carrier_hz=d["carrier_hz"])
    if limit in ("fade_in", "fade_out", "rest"):
        field = {"fade_in": "fade_in_s", "fade_out": "fade_out_s", "rest": "rest_s"}[limit]
        return p.with_("timing", **{field: d[field]})
    if limit == "target_size":
        return p.with_("visual", target_diameter_pct=d["target_diameter_pct"])
    if limit == "target_edge":
        return p.with_("visual", target_softness_pct=d["target_softness_pct"])
    if limit == "background":
        return p.with_("visual", background_color=d["background_color"])
    if limit == "contrast":
        bg, fg = p.visual.background_color, p.visual.target_color
        u = _bisect(lambda s: contrast(_blend(fg, bg, s), bg) <= CONTRAST_MAX)
        return p.with_("visual", target_color=_blend(fg, bg, u))
    raise KeyError(limit)


def soften(p: Preset) -> Preset:
    """Gentle mode switched on: the same settings, moved inside the envelope where they are outside
    it (to the gentle defaults, not just to the limits); the tone becomes warm if it was a pulse."""
    p = p.with_(gentle=True)
    for _ in range(3):  # a fix never creates another violation, but be sure
        todo = violations(p)
        if not todo:
            break
        for v in todo:
            p = _fix(p, v.limit)
    if p.audio.tone == "pulse":
        p = p.with_("audio", tone=DEFAULTS["tone"])
    return p
