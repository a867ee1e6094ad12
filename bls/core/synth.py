"""Synthesis: the tone for a stretch of frames, rendered from one snapshot.

Stateless: everything it needs comes from the timeline (``core.engine``): the snapshot, the frames,
the target's phase over them and the envelope of end-point pulses. It writes into the caller's
buffer; the timeline never depends on whether audio is rendered at all.
"""

from __future__ import annotations

import numpy as np

from . import tone


class ToneRenderer:
    """Renders the panned tone for a snapshot into ``out`` (n x 2 float32)."""

    def __init__(self, max_block: int):
        self.max_block = max_block

    def render(self, snap, frames: np.ndarray, env: np.ndarray | None, out: np.ndarray) -> None:
        gain = snap.fade.value(frames) * snap.mute.value(frames)
        if not np.any(gain):
            out[:] = 0.0
            return
        amp = gain * snap.level.value(frames)
        cph = snap.carrier_phase(frames)
        w = _wave(snap.tone, cph, env)
        if not snap.tone_mix.done(float(frames[0])):
            m = snap.tone_mix.value(frames)
            w = (1.0 - m) * _wave(snap.prev_tone, cph, env) + m * w
        _, _, s = snap.position(frames)
        alt = snap.alternate.value(frames) if snap.alternate.v0 or snap.alternate.v1 else 0.0
        left, right = tone.pan_gains(tone.pan_position(s, snap.depth.value(frames), alt))
        sig = amp * w
        out[:, 0] = sig * left
        out[:, 1] = sig * right
        np.clip(out, -tone.LEVEL_CAP, tone.LEVEL_CAP, out=out)  # belt and braces: the cap holds


def _wave(kind: str, cph, env):
    w = tone.waveform(kind, cph)
    return w * env if kind == "pulse" and env is not None else w
