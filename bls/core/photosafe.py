"""Photosensitivity: how fast the client screen may change brightness, in every mode.

WCAG 2.1 SC 2.3.1 and ITU-R BT.1702 allow at most three flashes a second, a flash being a pair of
opposing changes of at least 10 % of the maximum relative luminance, and treat saturated red
transitions as a hazard of their own. bls enforces a stronger rule by construction: the screen-mean
relative luminance never changes faster than :data:`MAX_LUMINANCE_SLEW` (0.3 per second), so any
change of 0.1 takes at least 1/3 s and at most three fit in a second, however the therapist clicks;
the screen's saturated red never changes faster than :data:`MAX_RED_SLEW` (0.1 per second), so a red
change of 0.1 takes a second or more and red never flashes.

The engine asks :func:`glide_seconds` how long a change of look (or the target appearing or going)
must take; a change the therapist asked for faster is slowed (never dropped), and the session tells
the therapist.
"""

from __future__ import annotations

import math

from .look import Look, relative_luminance, target_area_share, to_linear

MAX_LUMINANCE_SLEW = 0.3  # screen-mean relative luminance per second
MAX_RED_SLEW = 0.1  # screen-mean saturated red (linear light) per second
#: the narrowest common screen shape: the target covers the largest share of it (a safe bound)
ASPECT = 4.0 / 3.0
_STEPS = 64
_EASE_PEAK = math.pi / 2  # peak slope of the raised cosine the look glides along, relative to its mean
_MARGIN = 1.03  # finite differences over 1/64 steps see slightly less than the true peak slope


def redness(rgb) -> float:
    """How much saturated red a colour carries (linear light): red beyond green and blue together."""
    r, g, b = (to_linear(c) for c in rgb)
    return max(0.0, r - g - b)


def screen_luminance(look: Look, aspect: float = ASPECT) -> float:
    """Screen-mean relative luminance: background, and the target over its share of the screen."""
    a = target_area_share(look, aspect)
    return relative_luminance(look.background) * (1.0 - a) + relative_luminance(look.target) * a


def screen_redness(look: Look, aspect: float = ASPECT) -> float:
    a = target_area_share(look, aspect)
    return redness(look.background) * (1.0 - a) + redness(look.target) * a


def glide_seconds(a: Look, b: Look, base_s: float) -> tuple[float, bool]:
    """How long a glide from look ``a`` to ``b`` must take, and whether it may ease in and out (a raised
    cosine). ``base_s`` eased when that keeps within the limits; else the shortest glide that does, at
    an even pace (the fastest within the limits), so a big change is slowed as little as it must be."""
    if a == b:
        return base_s, True
    lum = [screen_luminance(a.blend(b, i / _STEPS)) for i in range(_STEPS + 1)]
    red = [screen_redness(a.blend(b, i / _STEPS)) for i in range(_STEPS + 1)]
    steep_l = max(abs(y - x) for x, y in zip(lum, lum[1:])) * _STEPS
    steep_r = max(abs(y - x) for x, y in zip(red, red[1:])) * _STEPS
    even = _MARGIN * max(steep_l / MAX_LUMINANCE_SLEW, steep_r / MAX_RED_SLEW)  # seconds at an even pace
    if _EASE_PEAK * even <= base_s:
        return base_s, True
    return max(base_s, even), False
