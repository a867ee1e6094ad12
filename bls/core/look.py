"""The client screen's look: the target's size, edge, colour and visibility, the background, the sweep.

A :class:`Look` is plain numbers (no Qt), so the engine can glide it on the stimulus clock like every
other part of the stimulus, and any presenter (the Qt windows, a browser) draws the same thing.

Colours are kept as sRGB components in 0..1 (what a display is sent). They glide in *linear light*
(:meth:`Look.blend`), so the screen's brightness moves evenly through a change instead of lurching at
one end of it; that also makes the photosensitivity limit (``core.photosafe``) cheap to enforce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .preset import Preset

#: eyes closed (target off): the background is dimmed to this share of its brightness (sRGB value)
EYES_CLOSED_DIM = 0.6

RGB = tuple[float, float, float]


def hex_rgb(hexstr: str) -> RGB:
    """#rrggbb as sRGB components 0..1."""
    return tuple(int(hexstr[i:i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]


def to_linear(c: float) -> float:
    """sRGB component -> linear light (IEC 61966-2-1, the WCAG 2 formula)."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def to_srgb(v: float) -> float:
    v = min(1.0, max(0.0, v))
    return v * 12.92 if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055


def relative_luminance(rgb: RGB) -> float:
    """WCAG 2 relative luminance (0 black .. 1 white) of an sRGB colour."""
    r, g, b = (to_linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@dataclass(frozen=True, slots=True)
class Look:
    diameter_pct: float  # visible diameter (at half of peak brightness), % of the screen height
    softness: float  # 0..1: how much of the radius the soft edge spans
    target: RGB
    background: RGB
    sweep: float  # 0..1 of the screen
    visibility: float = 1.0  # 0 when the target is off (eyes closed): it fades, never pops

    def blend(self, other: "Look", u: float) -> "Look":
        """``u`` of the way from this look to ``other``; colours mix in linear light."""
        if u <= 0.0:
            return self
        if u >= 1.0:
            return other

        def mix(a: float, b: float) -> float:
            return a + (b - a) * u

        def mix_rgb(a: RGB, b: RGB) -> RGB:
            return tuple(to_srgb(mix(to_linear(x), to_linear(y))) for x, y in zip(a, b))  # type: ignore[return-value]

        return Look(mix(self.diameter_pct, other.diameter_pct), mix(self.softness, other.softness),
                    mix_rgb(self.target, other.target), mix_rgb(self.background, other.background),
                    mix(self.sweep, other.sweep), mix(self.visibility, other.visibility))


def look_of(p: Preset) -> Look:
    """The look a preset asks for (pass the settings as played: gentle limits applied)."""
    v, m = p.visual, p.motion
    background = hex_rgb(v.background_color)
    if not v.show_target:  # eyes closed: the screen stays neutral, and dimmer
        background = tuple(c * EYES_CLOSED_DIM for c in background)  # type: ignore[assignment]
    return Look(v.target_diameter_pct, v.target_softness_pct / 100.0, hex_rgb(v.target_color), background,
                m.sweep_width_pct / 100.0, 1.0 if v.show_target else 0.0)


def target_area_share(look: Look, aspect: float) -> float:
    """Share of a screen of width/height ``aspect`` covered by the visible disc of the target."""
    r = look.diameter_pct / 200.0  # radius in screen heights
    return min(1.0, math.pi * r * r / aspect) * look.visibility
