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

    def progress_into(self, frames: np.ndarray, out: np.ndarray) -> np.ndarray:
        """:meth:`progress` written into ``out`` (bit for bit), allocating nothing block-sized.

        ``frames`` must be ascending (a block's frames are); ``out`` may be ``frames`` itself."""
        if self.length <= 0:
            i = int(np.searchsorted(frames, self.start, side="left"))  # where(f >= start, 1, 0)
            out[:i] = 0.0
            out[i:] = 1.0
            return out
        if out.size and frames[0] >= self.end:  # the common case: the ramp is over
            out.fill(1.0)
            return out
        np.subtract(frames, self.start, out=out)
        np.divide(out, self.length, out=out)
        np.clip(out, 0.0, 1.0, out=out)
        if self.smooth:
            np.multiply(out, np.pi, out=out)
            np.cos(out, out=out)
            np.multiply(out, 0.5, out=out)
            np.subtract(0.5, out, out=out)
        return out

    def value_into(self, frames: np.ndarray, out: np.ndarray) -> np.ndarray:
        """:meth:`value` written into ``out`` (bit for bit); ``frames`` ascending, ``out`` may be
        ``frames`` itself."""
        if self.v0 == self.v1:
            out.fill(self.v1)
            return out
        self.progress_into(frames, out)
        np.multiply(out, self.v1 - self.v0, out=out)
        np.add(out, self.v0, out=out)
        return out

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

    def integral_into(self, frames: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> np.ndarray:
        """:meth:`integral` written into ``out`` (bit for bit), allocating nothing block-sized.

        ``frames`` must be ascending (a block's frames are); ``tmp`` is scratch of the same length;
        ``out`` may be ``frames`` itself (``tmp`` may not)."""
        if self.smooth:
            raise ValueError("integral() is defined for linear ramps only")
        t = np.subtract(frames, self.start, out=tmp)
        n = t.size
        L = self.length
        dv = self.v1 - self.v0
        if n == 0:
            return out
        if L <= 0:  # where(t < 0, v0 t, v1 t)
            i0 = int(np.searchsorted(t, 0.0, side="left"))
            np.multiply(t[:i0], self.v0, out=out[:i0])
            np.multiply(t[i0:], self.v1, out=out[i0:])
            return out
        after_const = self.v0 * L + dv * L / 2.0
        lo, hi = t[0], t[-1]
        if lo > L:  # the common case: the ramp is over
            i0 = i1 = 0
        elif lo >= 0 and hi <= L:
            i0, i1 = 0, n
        else:  # where(t < 0, v0 t, where(t <= L, inside, after)), in three runs of the ascending frames
            i0 = int(np.searchsorted(t, 0.0, side="left"))
            i1 = int(np.searchsorted(t, L, side="right"))
        if i0:
            np.multiply(t[:i0], self.v0, out=out[:i0])
        if i1 > i0:  # inside: v0 t + dv (t t) / (2 L)
            o, tt = out[i0:i1], t[i0:i1]
            np.multiply(tt, tt, out=o)
            np.multiply(o, dv, out=o)
            np.divide(o, 2.0 * L, out=o)
            np.multiply(tt, self.v0, out=tt)
            np.add(o, tt, out=o)
        if i1 < n:  # after: after_const + v1 (t - L)
            o = out[i1:]
            np.subtract(t[i1:], L, out=o)
            np.multiply(o, self.v1, out=o)
            np.add(o, after_const, out=o)
        return out

    def retarget(self, frame: float, v1: float, length: float, smooth: bool | None = None) -> "Ramp":
        """A new ramp that starts at ``frame`` from this ramp's value there: continuous by design."""
        return Ramp(frame, self.value_at(frame), v1, max(0.0, length),
                    self.smooth if smooth is None else smooth)
