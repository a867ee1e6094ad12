"""Headphone checks: short programs the engine plays between sets, on the same clock and output.

A check is not a set: the target stays hidden, nothing counts as a pass, and it never enters the set
record. Its sound is a function of stimulus time since the check began (``t`` seconds): where the
tone sits (``pan``, -1 left .. +1 right, through the engine's constant-power pan law at full depth)
and how loud (``envelope`` 0..1 on top of the check's level), both :class:`Curve` s: raised-cosine
glides between breakpoints, so nothing clicks and any frame can be evaluated on its own (a check
renders the same in any split of blocks, like a set).

- The left/right check (:data:`LEFT_RIGHT`): the tone in the left ear alone, then the right ear
  alone, then once across from left to right; 4.5 s in all, each part faded in and out.
- The comfort check (:data:`COMFORT`): a steady centred tone at the set's level, starting
  ``COMFORT_START_BELOW_DB`` quieter and rising to it over ``COMFORT_RISE_S``; the therapist turns it
  up or down with the client and keeps the level for the session. It fades out by itself after
  ``COMFORT_MAX_S`` if nobody stops it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: the left/right check plays at the set's level but never above this (and never above the cap)
LEFT_RIGHT_MAX_DBFS = -20.0
#: the comfort check starts this much below the set's level and rises to it over COMFORT_RISE_S
COMFORT_START_BELOW_DB = 12.0
COMFORT_RISE_S = 3.0
COMFORT_STEP_DB = 2.0  # one press of - or +
COMFORT_FADE_IN_S = 0.3
COMFORT_MAX_S = 180.0
EDGE_S = 0.12  # each part of the left/right check fades in and out this long


@dataclass(frozen=True, slots=True)
class Curve:
    """A value over time: ``points`` ((t seconds, value), ...) in time order, joined by raised-cosine
    glides (zero slope at each point); before the first point its value, after the last the last."""
    points: tuple[tuple[float, float], ...]

    def value(self, t):
        """The curve at ``t`` (seconds; a number or an array)."""
        t = np.asarray(t, dtype=np.float64)
        pts = self.points
        out = np.full(t.shape, pts[-1][1])
        for (ta, va), (tb, vb) in reversed(list(zip(pts, pts[1:]))):
            u = np.clip((t - ta) / (tb - ta), 0.0, 1.0)
            out = np.where(t < tb, va + (vb - va) * (0.5 - 0.5 * np.cos(np.pi * u)), out)
        out = np.where(t < pts[0][0], pts[0][1], out)
        return float(out) if out.ndim == 0 else out

    def value_into(self, t: np.ndarray, out: np.ndarray) -> np.ndarray:
        """:meth:`value` (to rounding) at ascending ``t`` into ``out``, allocating nothing block-sized."""
        pts = self.points
        i = int(np.searchsorted(t, pts[0][0], side="left"))
        out[:i] = pts[0][1]
        for k in range(len(pts) - 1):
            ta, va = pts[k]
            tb, vb = pts[k + 1]
            i0 = int(np.searchsorted(t, ta, side="left"))
            i1 = int(np.searchsorted(t, tb, side="left"))
            seg = out[i0:i1]
            if va == vb:
                seg.fill(va)
                continue
            np.subtract(t[i0:i1], ta, out=seg)
            np.multiply(seg, math.pi / (tb - ta), out=seg)
            np.cos(seg, out=seg)
            np.multiply(seg, -0.5 * (vb - va), out=seg)  # va + (vb - va)(0.5 - 0.5 cos)
            np.add(seg, va + 0.5 * (vb - va), out=seg)
        i = int(np.searchsorted(t, pts[-1][0], side="left"))
        out[i:] = pts[-1][1]
        return out


@dataclass(frozen=True, slots=True)
class CheckProgram:
    kind: str  # "left_right" or "comfort"
    pan: Curve
    envelope: Curve
    phases: tuple[tuple[float, str], ...]  # (from t seconds, name), in time order
    duration_s: float

    def phase_at(self, t: float) -> str:
        """The part of the check playing at ``t`` seconds ("" before it begins and after it ends)."""
        if t < 0 or t >= self.duration_s:
            return ""
        name = ""
        for start, what in self.phases:
            if t >= start:
                name = what
        return name


def _left_right() -> CheckProgram:
    e = EDGE_S
    left, right = (0.0, 1.2), (1.35, 2.55)
    across = (2.7, 4.5)
    glide = (across[0] + e + 0.03, across[1] - e - 0.03)  # 1.5 s from hard left to hard right
    env = []
    for a, b in (left, right, across):
        env += [(a, 0.0), (a + e, 1.0), (b - e, 1.0), (b, 0.0)]
    pan = [(0.0, -1.0), (left[1] + 0.07, -1.0), (left[1] + 0.08, 1.0),  # the switches fall in silence
           (right[1] + 0.07, 1.0), (right[1] + 0.08, -1.0), (glide[0], -1.0), (glide[1], 1.0)]
    phases = ((0.0, "left"), (left[1] + 0.075, "right"), (right[1] + 0.075, "across"))
    return CheckProgram("left_right", Curve(tuple(pan)), Curve(tuple(env)), phases, across[1])


LEFT_RIGHT = _left_right()
COMFORT = CheckProgram("comfort", Curve(((0.0, 0.0),)),
                       Curve(((0.0, 1.0), (COMFORT_MAX_S - 1.0, 1.0), (COMFORT_MAX_S, 0.0))),
                       ((0.0, "comfort"),), COMFORT_MAX_S)
PROGRAMS = {p.kind: p for p in (LEFT_RIGHT, COMFORT)}
PHASE_LABELS = {"left": "Left ear…", "right": "Right ear…", "across": "Both, moving across…",
                "comfort": "Comfort tone playing"}
