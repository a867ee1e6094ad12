"""A gentle preset always lies inside the gentle envelope; unlocks belong to a session, never to a file.

A preset file with ``gentle: true`` and values beyond the envelope (edited by hand, or saved by an
older bls) still loads, never lost: :func:`clamp_to_gentle` brings each such value to the nearest
value the envelope allows (the limit itself, not the gentle default), and the loader says so, one
warning per value. So every reader of the file (``bls presets list|show``, ``bls render``, the app)
sees and plays the same numbers. The file on disk is never rewritten by a load.

The envelope is :mod:`bls.core.gentle`'s: what lies beyond it is whatever ``gentle.violations``
says, and its limit constants are the values clamped to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import gentle
from .preset import Preset, shown_value

#: limit key -> (section, field, the nearest allowed value) for the limits that are one number or choice
_TO_LIMIT = {
    "speed": ("motion", "speed_cycles_per_s", lambda: gentle.SPEED_MAX),
    "level": ("audio", "level_dbfs", lambda: gentle.LEVEL_MAX_DBFS),
    "pan_depth": ("audio", "pan_depth_pct", lambda: gentle.PAN_DEPTH_MAX_PCT),
    "pan_mode": ("audio", "pan_mode", lambda: "continuous"),
    "carrier": ("audio", "carrier_hz", lambda: gentle.CARRIER_MAX_HZ),
    "fade_in": ("timing", "fade_in_s", lambda: gentle.FADE_MIN_S),
    "fade_out": ("timing", "fade_out_s", lambda: gentle.FADE_MIN_S),
    "rest": ("timing", "rest_s", lambda: gentle.REST_MIN_S),
    "target_size": ("visual", "target_diameter_pct", lambda: gentle.DIAMETER_MIN_PCT),
    "target_edge": ("visual", "target_softness_pct", lambda: gentle.SOFTNESS_MIN_PCT),
}
_BISECTIONS = 24  # far below one step of an 8-bit channel


@dataclass(frozen=True)
class Clamp:
    """One value beyond the gentle envelope, and what it became (None: a limit this module does not
    know how to clamp; the value is kept and only reported)."""
    violation: gentle.Violation
    now: Any


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _hex(rgb) -> str:
    return "#" + "".join(f"{min(255, max(0, round(c))):02x}" for c in rgb)


def _scaled(colour: str, k: float) -> str:
    """The colour with every channel scaled by k: the same hue and saturation, darker."""
    return _hex(c * k for c in _rgb(colour))


def _blend(a: str, b: str, u: float) -> str:
    return _hex(x + (y - x) * u for x, y in zip(_rgb(a), _rgb(b)))


def _breaks(p: Preset, limit: str) -> bool:
    return any(v.limit == limit for v in gentle.violations(p))


def _bisect(p: Preset, limit: str, candidate) -> Preset:
    """The preset ``candidate(t)`` for the smallest t in [0, 1] found that keeps ``limit`` (t = 1 is
    known to keep it, t = 0 is the value asked for): the allowed value nearest to the one asked for."""
    bad, good = 0.0, 1.0
    for _ in range(_BISECTIONS):
        mid = (bad + good) / 2
        if _breaks(candidate(mid), limit):
            bad = mid
        else:
            good = mid
    return candidate(good)


def _darker_background(p: Preset) -> Preset:
    bg = p.visual.background_color
    return _bisect(p, "background", lambda t: p.with_("visual", background_color=_scaled(bg, 1.0 - t)))


def _softer_target(p: Preset) -> Preset:
    fg, bg = p.visual.target_color, p.visual.background_color
    return _bisect(p, "contrast", lambda t: p.with_("visual", target_color=_blend(fg, bg, t)))


def _get(p: Preset, path: str) -> Any:
    section, _, name = path.partition(".")
    return getattr(getattr(p, section), name) if name else getattr(p, section)


def gentle_clamps(p: Preset) -> tuple[Preset, list[Clamp]]:
    """``p`` brought inside the gentle envelope (unchanged if it is not gentle), and one :class:`Clamp`
    per value that was beyond it."""
    if p.gentle is not True:
        return p, []
    first = gentle.violations(p)
    if not first:
        return p, []
    found = [v for v in first if v.limit != "contrast"]
    for v in found:
        if v.limit in _TO_LIMIT:
            section, name, value = _TO_LIMIT[v.limit]
            p = p.with_(section, **{name: value()})
        elif v.limit == "background":
            p = _darker_background(p)
    # the contrast is judged against the background as it now is (a darker one can raise it)
    contrast = [v for v in gentle.violations(p) if v.limit == "contrast"]
    if contrast:
        p = _softer_target(p)
    done = {"contrast", "background", *_TO_LIMIT}
    return p, [Clamp(v, _get(p, v.field) if v.limit in done else None) for v in found + contrast]


def clamp_to_gentle(p: Preset) -> Preset:
    """``p`` inside the gentle envelope: each value beyond a limit brought to the nearest allowed
    value (numbers to the limit; pan mode to continuous; the background darkened, same hue; the
    target blended towards the background until the contrast is within the limit)."""
    return gentle_clamps(p)[0]


def _plain(allowed: str) -> str:
    """The limit in words without nested brackets: "continuous (no hard ...)" -> "continuous, no hard ..."."""
    return allowed.replace(" (", ", ").replace(")", "")


def load_message(c: Clamp) -> str:
    """What the loader says about one clamped value: "0.55 is beyond the gentle limit (at most 0.5
    cycles/s): loads as 0.5"."""
    v = c.violation
    said = f"{shown_value(v.value)} is beyond the gentle limit ({_plain(v.allowed)})"
    return said + (f": loads as {shown_value(c.now)}" if c.now is not None else ": kept as written")
