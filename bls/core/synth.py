"""Synthesis: the tone for a stretch of frames, rendered from one snapshot.

Stateless: everything it needs comes from the timeline (``core.engine``): the snapshot, the frames,
the target's phase over them and the envelope of end-point pulses. It writes into the caller's
buffer; the timeline never depends on whether audio is rendered at all.

No block-sized allocation: every intermediate goes into a :class:`Scratch` buffer, allocated once,
through the ``*_into`` variants of the ramp, motion and tone functions. Those repeat the allocating
functions' floating-point operations in the same order, so the output is bit-identical to theirs.
"""

from __future__ import annotations

import math

import numpy as np

from . import tone


class Scratch:
    """The per-block working buffers of the engine and the renderer, ``max_block`` long each,
    allocated once. A stretch of ``n`` frames works on the first ``n`` of each: :meth:`take`.

    The timeline (engine) fills ``frames``, ``phase``, ``last``, ``dt``, ``env``, ``env2`` and ``acc``;
    the renderer reads ``frames``, ``phase``, ``env`` and ``acc`` and uses the rest. ``tmp``, ``tmp2`` and
    ``mask`` are anyone's for the length of one step. ``index`` is 0, 1, 2 ... (read only).
    """

    FLOATS = ("frames", "phase", "last", "dt", "env", "env2", "acc", "gain", "cycles", "wave", "wave2", "mix", "left",
              "right", "tmp", "tmp2")
    NAMES = ("index", "mask", *FLOATS)
    __slots__ = ("max_block", "_cut", "_cut2", *NAMES)

    def __init__(self, max_block: int):
        self.max_block = max_block
        self.index = np.arange(max_block, dtype=np.float64)
        for name in self.FLOATS:
            setattr(self, name, np.empty(max_block, dtype=np.float64))
        self.mask = np.empty(max_block, dtype=bool)
        self._cut = self._cut2 = _Cut(self, max_block)

    def take(self, n: int) -> "_Cut":
        """The buffers cut to their first ``n`` (same attribute names). The views are made on first
        use and kept for the two latest lengths (the block's, and a stretch of it after an event),
        so a steady stream of equal blocks makes none."""
        cut = self._cut
        if cut.n == n:
            return cut
        if self._cut2.n == n:
            self._cut, self._cut2 = self._cut2, cut
            return self._cut
        if not 0 <= n <= self.max_block:
            raise ValueError(f"{n} frames do not fit the scratch buffers ({self.max_block})")
        self._cut, self._cut2 = _Cut(self, n), cut
        return self._cut


class _Cut:
    """The first ``n`` of every :class:`Scratch` buffer; each view is made when first read."""

    __slots__ = ("n", "_whole", *Scratch.NAMES)

    def __init__(self, whole: Scratch, n: int):
        self.n = n
        self._whole = whole

    def __getattr__(self, name: str) -> np.ndarray:  # only for a view not made yet
        if name not in Scratch.NAMES:
            raise AttributeError(name)
        view = getattr(self._whole, name)[: self.n]
        setattr(self, name, view)
        return view


class ToneRenderer:
    """Renders the panned tone for a snapshot into ``out`` (n x 2 float32)."""

    def __init__(self, max_block: int, scratch: Scratch | None = None):
        self.max_block = max_block
        self.scratch = scratch if scratch is not None else Scratch(max_block)
        if self.scratch.max_block < max_block:
            raise ValueError("the scratch buffers are shorter than max_block")

    def render(self, snap, frames: np.ndarray, phase: np.ndarray | None, env: np.ndarray | None,
               out: np.ndarray, accent: np.ndarray | None = None) -> None:
        """The tone for ``frames`` (ascending; typically the scratch ``frames``) into ``out``.

        ``phase`` is the target's phase at the frames (None when the target is not moving), ``env``
        the pulse envelope (None: no pulses), ``accent`` the envelope of the end-point accents (None:
        no accents). None is modified."""
        sc = self.scratch.take(len(frames))
        gain, tmp = sc.gain, sc.tmp
        snap.fade.value_into(frames, gain)
        np.multiply(gain, snap.mute.value_into(frames, tmp), out=gain)
        if not np.count_nonzero(gain):
            out[:] = 0.0
            return
        level = snap.level.value_into(frames, tmp)
        if accent is not None:  # level + accent x min(level x share, cap - level): within the cap
            swell = snap.accent.value_into(frames, sc.tmp2)
            np.multiply(swell, level, out=swell)
            np.minimum(swell, np.subtract(tone.LEVEL_CAP, level, out=sc.mix), out=swell)
            np.maximum(swell, 0.0, out=swell)
            np.multiply(swell, accent, out=swell)
            np.add(level, swell, out=level)
        amp = np.multiply(gain, level, out=gain)
        if snap.check is not None:  # a headphone check: its own envelope on top (core.checks)
            np.multiply(amp, snap.check.envelope.value_into(snap.check_time_into(frames, sc.tmp2), tmp), out=amp)
        cph = snap.carrier_phase_into(frames, sc.cycles, tmp)
        w = _wave_into(snap.tone, cph, env, sc.wave, tmp)
        if not snap.tone_mix.done(float(frames[0])):
            m = snap.tone_mix.value_into(frames, sc.mix)
            w0 = _wave_into(snap.prev_tone, cph, env, sc.wave2, tmp)
            np.multiply(w0, np.subtract(1.0, m, out=tmp), out=w0)  # (1 - m) w0 + m w
            np.multiply(w, m, out=w)
            np.add(w, w0, out=w)
        # the pan: s along the path (into wave2, free again), depth, alternating share
        s = snap.along_into(frames, phase, sc.wave2, sc)
        depth = snap.depth.value_into(frames, sc.tmp2)
        alt = snap.alternate.value_into(frames, sc.mix) if snap.alternate.v0 or snap.alternate.v1 else 0.0
        pan = tone.pan_position_into(s, depth, alt, sc.right)
        left, right = tone.pan_gains_into(pan, sc.left, pan)
        sig = np.multiply(amp, w, out=amp)
        out[:, 0] = np.multiply(sig, left, out=tmp)
        out[:, 1] = np.multiply(sig, right, out=tmp)
        np.clip(out, -tone.LEVEL_CAP, tone.LEVEL_CAP, out=out)  # belt and braces: the cap holds
        if not math.isfinite(float(out.sum())):  # NaN passes np.clip: never let one reach the ear
            out[:] = 0.0


def _wave_into(kind: str, cph: np.ndarray, env: np.ndarray | None, out: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    w = tone.waveform_into(kind, cph, out, tmp)
    return np.multiply(w, env, out=w) if kind == "pulse" and env is not None else w
