"""Where the target is: position along the path as a function of phase.

Phase is counted in cycles (one cycle = left -> right -> left, see docs/clinical-basis.md). Phase 0 is the
centre moving towards the right (or up) end; the ends are reached at phase 0.25 + 0.5 k. A *pass*
is one sweep from one end to the other, so pass ``k`` (k >= 1) is complete at phase 0.25 + 0.5 k.

``s`` is the position along the path in -1..1; ``path_xy`` maps it to normalised screen
coordinates (x right, y up, both -1..1) and the tone's pan follows ``s``.
"""

from __future__ import annotations

import numpy as np

PATHS = ("horizontal", "vertical", "diagonal_up", "diagonal_down")
PROFILES = ("sinusoidal", "linear")

#: half-width, in cycles, of the eased zone around each reversal of the linear profile
LINEAR_EASE_CYCLES = 0.06
_K = 1.0 / (0.25 - LINEAR_EASE_CYCLES / 2.0)  # slope of the linear part (position per cycle)
_C = _K / (2.0 * LINEAR_EASE_CYCLES)  # curvature of the parabolic reversal


def sweep(phase, profile: str = "sinusoidal"):
    """Position along the path (-1..1) at the given phase (cycles)."""
    p = np.asarray(phase, dtype=np.float64)
    p = p - np.floor(p)  # keep precision for long sessions
    if profile == "sinusoidal":
        return np.sin(2.0 * np.pi * p)
    if profile == "linear":
        # constant speed, with a parabolic (constant-deceleration) turn at each end so the velocity
        # reaches zero smoothly at the reversal instead of bouncing
        r = np.where(p < 0.5, p, p - 0.5)
        q = np.minimum(r, 0.5 - r)  # 0 at the centre .. 0.25 at the end
        d = q - 0.25
        mag = np.where(q <= 0.25 - LINEAR_EASE_CYCLES, _K * q, 1.0 - _C * d * d)
        return np.where(p < 0.5, mag, -mag)
    raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")


def sweep_into(phase: np.ndarray, profile: str, out: np.ndarray, tmp: np.ndarray, tmp2: np.ndarray,
               mask: np.ndarray) -> np.ndarray:
    """:func:`sweep` written into ``out`` (bit for bit), allocating nothing block-sized.

    ``phase`` is left as it is; ``tmp``, ``tmp2`` (float64) and ``mask`` (bool) are scratch (the
    sinusoidal profile uses only ``tmp``); all distinct from ``phase`` and ``out``."""
    np.floor(phase, out=tmp)
    np.subtract(phase, tmp, out=tmp)  # p: keep precision for long sessions
    if profile == "sinusoidal":
        np.multiply(tmp, 2.0 * np.pi, out=out)
        return np.sin(out, out=out)
    if profile == "linear":
        p = tmp
        np.less(p, 0.5, out=mask)  # r = where(p < 0.5, p, p - 0.5)
        np.subtract(p, 0.5, out=out)
        np.copyto(out, p, where=mask)
        np.subtract(0.5, out, out=tmp)  # q = minimum(r, 0.5 - r)
        np.minimum(out, tmp, out=out)
        np.subtract(out, 0.25, out=tmp)  # d = q - 0.25; the turn: 1 - C d d
        np.multiply(tmp, _C, out=tmp2)
        np.multiply(tmp2, tmp, out=tmp2)
        np.subtract(1.0, tmp2, out=tmp2)
        np.less_equal(out, 0.25 - LINEAR_EASE_CYCLES, out=mask)  # mag = where(q <= .., K q, turn)
        np.multiply(out, _K, out=out)
        np.logical_not(mask, out=mask)
        np.copyto(out, tmp2, where=mask)
        np.floor(phase, out=tmp)  # where(p < 0.5, mag, -mag), p once more
        np.subtract(phase, tmp, out=tmp)
        np.logical_not(np.less(tmp, 0.5, out=mask), out=mask)
        np.negative(out, out=tmp)
        np.copyto(out, tmp, where=mask)
        return out
    raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")


_DIAG = 1.0 / np.sqrt(2.0)


def path_xy(s, path: str = "horizontal"):
    """Normalised screen position (x right, y up) for a position ``s`` along the path."""
    s = np.asarray(s, dtype=np.float64)
    if path == "horizontal":
        return s, np.zeros_like(s)
    if path == "vertical":
        return np.zeros_like(s), s
    if path == "diagonal_up":  # lower left to upper right
        return s, s
    if path == "diagonal_down":  # upper left to lower right
        return s, -s
    raise ValueError(f"unknown path {path!r}; expected one of {', '.join(PATHS)}")


def end_phase(passes: int) -> float:
    """Phase at which pass number ``passes`` is complete (the target is at an end)."""
    return 0.25 + 0.5 * passes


def passes_completed(phase) -> np.ndarray:
    """Number of complete passes at the given phase of a set that started at phase 0."""
    p = np.asarray(phase, dtype=np.float64)
    return np.maximum(0, np.floor((p - 0.25) / 0.5)).astype(np.int64)


def speed_labels(cycles_per_s: float) -> tuple[str, str, str]:
    """The three ways a therapist reads speed: cycles/s, passes/min, seconds per pass."""
    passes_per_min = cycles_per_s * 120.0
    s_per_pass = 0.5 / cycles_per_s if cycles_per_s > 0 else float("inf")
    return (f"{cycles_per_s:.2f} cycles/s", f"{passes_per_min:.0f} passes/min", f"{s_per_pass:.2f} s/pass")
