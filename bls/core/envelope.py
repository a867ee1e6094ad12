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

@dataclass(frozen=True)
class Clamp:
    """One value beyond the gentle envelope, and what it became."""
    violation: gentle.Violation
    now: Any


def _get(p: Preset, path: str) -> Any:
    section, _, name = path.partition(".")
    return getattr(getattr(p, section), name) if name else getattr(p, section)


def gentle_clamps(p: Preset) -> tuple[Preset, list[Clamp]]:
    """``p`` brought inside the gentle envelope (unchanged if it is not gentle), and one :class:`Clamp`
    per value that was beyond it. The clamp is the engine's own (``gentle.effective`` with nothing
    unlocked): what a file loads as is exactly what would be played."""
    if p.gentle is not True:
        return p, []
    found = gentle.violations(p)
    if not found:
        return p, []
    clamped = gentle.effective(p)
    # what moved (a contrast that the darker background already brought inside leaves the target)
    out = [Clamp(v, _get(clamped, v.field)) for v in found if _get(clamped, v.field) != _get(p, v.field)]
    if clamped.visual.target_color != p.visual.target_color and all(v.limit != "contrast" for v in found):
        # only the darker background pushed the contrast past its limit: that is said too
        darker = p.with_("visual", background_color=clamped.visual.background_color)
        out += [Clamp(v, _get(clamped, v.field)) for v in gentle.violations(darker) if v.limit == "contrast"]
    return clamped, out


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
    return said + f": loads as {shown_value(c.now)}"
