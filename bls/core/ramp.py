"""Ramps: the one primitive behind every glide, fade and slew.

A ramp goes from ``v0`` to ``v1`` over ``length`` frames starting at the absolute frame ``start``.
Its value and (for linear ramps) its running integral are closed-form functions of the frame, so a
block rendered in one piece equals the same frames rendered in any split, and an integrated quantity
(the target's phase, the carrier's phase) is continuous across every change by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Ramp:
    start: float
    v0: float
    v1: float
    length: float = 0.0  # frames; 0 means a step at ``start`` (used only where a step is harmless)
    smooth: bool = False  # raised-cosine shape (zero slope at both ends) instead of linear

    @classmethod
    def hold(cls, value: float, start: float = 0.0) -> "Ramp":
        return cls(start, value, value, 0.0)

    @property
    def end(self) -> float:
        return self.start + self.length

    @property
    def target(self) -> float:
        return self.v1

    def progress(self, frames):
        """Shaped progress 0..1 at the given absolute frame(s)."""
        f = np.asarray(frames, dtype=np.float64)
        if self.length <= 0:
            return np.where(f >= self.start, 1.0, 0.0)
        if f.ndim and f.size and f.min() >= self.end:  # the common case: the ramp is over
            return np.ones_like(f)
        u = np.clip((f - self.start) / self.length, 0.0, 1.0)
        if self.smooth:
            u = 0.5 - 0.5 * np.cos(np.pi * u)
        return u

    def value(self, frames):
        if self.v0 == self.v1:  # a hold: no arithmetic per frame
            return np.full(np.shape(frames), self.v1) if np.ndim(frames) else self.v1
        return self.v0 + (self.v1 - self.v0) * self.progress(frames)

    def value_at(self, frame: float) -> float:
        return float(self.value(frame))

    def done(self, frame: float) -> bool:
        return frame >= self.end

    def integral(self, frames):
        """Integral of the value from ``start`` to ``frames`` (value x frames), for linear ramps.

        Before ``start`` the ramp is taken to hold ``v0``, so the integral is negative there.
        """
        if self.smooth:
            raise ValueError("integral() is defined for linear ramps only")
        t = np.asarray(frames, dtype=np.float64) - self.start
        L = self.length
        dv = self.v1 - self.v0
        if L <= 0:
            return np.where(t < 0, self.v0 * t, self.v1 * t)
        after_const = self.v0 * L + dv * L / 2.0
        if t.ndim == 0:
            tt = float(t)
            if tt < 0:
                return self.v0 * tt
            return self.v0 * tt + dv * tt * tt / (2.0 * L) if tt <= L else after_const + self.v1 * (tt - L)
        lo, hi = (t.min(), t.max()) if t.size else (0.0, 0.0)
        if lo > L:  # the common case: the ramp is over
            return after_const + self.v1 * (t - L)
        inside = self.v0 * t + dv * (t * t) / (2.0 * L)
        if lo >= 0 and hi <= L:
            return inside
        after = after_const + self.v1 * (t - L)
        return np.where(t < 0, self.v0 * t, np.where(t <= L, inside, after))

    def retarget(self, frame: float, v1: float, length: float, smooth: bool | None = None) -> "Ramp":
        """A new ramp that starts at ``frame`` from this ramp's value there: continuous by design."""
        return Ramp(frame, self.value_at(frame), v1, max(0.0, length),
                    self.smooth if smooth is None else smooth)
