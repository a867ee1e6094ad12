"""Tone synthesis helpers: waveforms, the pan law and the level cap.

All waveforms have a peak of exactly 1 before the level is applied, so the output's peak is bounded
by the level, which is itself capped at ``LEVEL_CAP_DBFS`` whatever a preset or control asks.
"""

from __future__ import annotations

import numpy as np

TONES = ("soft_sine", "warm", "pulse")
TONE_LABELS = {"soft_sine": "Soft sine", "warm": "Warm", "pulse": "End-point pulses"}
#: continuous: the tone follows the target across the stereo field; alternating: the tone sits in the
#: ear on the target's side and crosses over (smoothly, within ALTERNATE_ZONE of the centre);
#: continuous_accents ("both"): the tone follows the target and a soft swell marks each end point
PAN_MODES = ("continuous", "alternating", "continuous_accents")
PAN_MODE_LABELS = {"continuous": "Follows the target", "alternating": "Alternates sides",
                   "continuous_accents": "Follows, with accents at each side"}
ALTERNATE_ZONE = 0.1
#: the accent of continuous_accents: a swell of the level by ACCENT_DB that starts the moment the target
#: turns at an end (raised-sine rise over ACCENT_ATTACK_S, raised-cosine fall, ACCENT_LENGTH_S in all).
#: It is taken within the cap: near the cap the swell is smaller (level + swell <= LEVEL_CAP)
ACCENT_DB = 3.5
ACCENT_ATTACK_S = 0.03
ACCENT_LENGTH_S = 0.11

#: the hearing-safety cap: no setting can make the output exceed this (docs/clinical-basis.md, "Hearing")
LEVEL_CAP_DBFS = -12.0
LEVEL_FLOOR_DBFS = -60.0
LEVEL_CAP = 10.0 ** (LEVEL_CAP_DBFS / 20.0)

CARRIER_MIN_HZ = 150.0
CARRIER_MAX_HZ = 1000.0

#: the warm tone: a sine with gentle 2nd and 3rd harmonics, normalised to a peak of 1
_WARM_HARMONICS = ((1, 1.0), (2, 0.22), (3, 0.08))


def _warm_peak() -> float:
    t = np.linspace(0.0, 1.0, 200_001)
    w = sum(a * np.sin(2 * np.pi * k * t) for k, a in _WARM_HARMONICS)
    return float(np.max(np.abs(w)))


_WARM_NORM = 1.0 / _warm_peak()


def db_to_amplitude(level_dbfs: float) -> float:
    """Linear amplitude for a level in dBFS, never above the cap (-12 dBFS); NaN or below the
    floor is silence."""
    level = float(level_dbfs)
    if np.isnan(level) or level < LEVEL_FLOOR_DBFS:
        return 0.0
    return 10.0 ** (min(level, LEVEL_CAP_DBFS) / 20.0)


def amplitude_to_db(amplitude: float) -> float:
    return 20.0 * np.log10(amplitude) if amplitude > 0 else -np.inf


def waveform(tone: str, cycles):
    """The tone's waveform (peak 1) at carrier phase ``cycles`` (fractional cycles)."""
    th = 2.0 * np.pi * np.asarray(cycles, dtype=np.float64)
    if tone in ("soft_sine", "pulse"):
        return np.sin(th)
    if tone == "warm":
        w = np.zeros_like(th)
        for k, a in _WARM_HARMONICS:
            w += a * np.sin(k * th)
        return w * _WARM_NORM
    raise ValueError(f"unknown tone {tone!r}; expected one of {', '.join(TONES)}")


def waveform_into(tone: str, cycles: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """:func:`waveform` written into ``out`` (bit for bit), allocating nothing block-sized.

    ``cycles`` is left as it is (``out`` may be ``cycles`` for the sine tones); ``tmp`` is scratch."""
    if tone in ("soft_sine", "pulse"):
        np.multiply(cycles, 2.0 * np.pi, out=out)
        return np.sin(out, out=out)
    if tone == "warm":
        out.fill(0.0)
        for k, a in _WARM_HARMONICS:
            np.multiply(cycles, 2.0 * np.pi, out=tmp)
            np.multiply(tmp, k, out=tmp)
            np.sin(tmp, out=tmp)
            np.multiply(tmp, a, out=tmp)
            np.add(out, tmp, out=out)
        return np.multiply(out, _WARM_NORM, out=out)
    raise ValueError(f"unknown tone {tone!r}; expected one of {', '.join(TONES)}")


def pan_position(s, depth, alternating=0.0):
    """Pan (-1..1) for a target at ``s`` (-1..1 along the path): continuous, alternating or a blend."""
    s = np.asarray(s, dtype=np.float64)
    if np.all(np.asarray(alternating) == 0.0):
        return s * depth
    alt = np.clip(s / ALTERNATE_ZONE, -1.0, 1.0)
    return (s + (alt - s) * alternating) * depth


def pan_gains(pan):
    """Constant-power pan law: pan -1 (left) .. +1 (right) -> (left gain, right gain), L²+R² = 1."""
    theta = (np.clip(np.asarray(pan, dtype=np.float64), -1.0, 1.0) + 1.0) * (np.pi / 4.0)
    return np.cos(theta), np.sin(theta)


def pan_position_into(s: np.ndarray, depth: np.ndarray, alternating, out: np.ndarray) -> np.ndarray:
    """:func:`pan_position` written into ``out`` (bit for bit), allocating nothing block-sized.

    ``alternating`` is a number or an array like ``s``; ``out`` is none of the inputs."""
    if (np.count_nonzero(alternating) == 0) if np.ndim(alternating) else alternating == 0.0:
        return np.multiply(s, depth, out=out)
    np.divide(s, ALTERNATE_ZONE, out=out)
    np.clip(out, -1.0, 1.0, out=out)
    np.subtract(out, s, out=out)
    np.multiply(out, alternating, out=out)
    np.add(out, s, out=out)
    return np.multiply(out, depth, out=out)


def pan_gains_into(pan: np.ndarray, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pan_gains` written into ``left`` and ``right`` (bit for bit); ``right`` may be ``pan``."""
    np.clip(pan, -1.0, 1.0, out=right)
    np.add(right, 1.0, out=right)
    np.multiply(right, np.pi / 4.0, out=right)
    np.cos(right, out=left)
    np.sin(right, out=right)
    return left, right


def pulse_envelope(dt, attack_s: float, duration_s: float):
    """Envelope of an end-point pulse ``dt`` seconds after the target reached an end.

    A raised-sine attack and a raised-cosine decay: zero slope at both ends, so no click.
    """
    dt = np.asarray(dt, dtype=np.float64)
    attack_s = max(attack_s, 1e-4)
    decay = max(duration_s - attack_s, 1e-4)
    rise = np.sin(0.5 * np.pi * np.clip(dt / attack_s, 0.0, 1.0)) ** 2
    fall = np.cos(0.5 * np.pi * np.clip((dt - attack_s) / decay, 0.0, 1.0)) ** 2
    env = np.where(dt < attack_s, rise, fall)
    return np.where((dt >= 0) & (dt < duration_s), env, 0.0)


def pulse_envelope_into(dt: np.ndarray, attack_s: float, duration_s: float, out: np.ndarray, tmp: np.ndarray,
                        mask: np.ndarray) -> np.ndarray:
    """:func:`pulse_envelope` written into ``out`` (bit for bit), allocating nothing block-sized.

    ``dt`` is left as it is; ``tmp`` (float64) and ``mask`` (bool) are scratch; all distinct."""
    attack_s = max(attack_s, 1e-4)
    decay = max(duration_s - attack_s, 1e-4)
    np.divide(dt, attack_s, out=out)  # the rise
    np.clip(out, 0.0, 1.0, out=out)
    np.multiply(out, 0.5 * np.pi, out=out)
    np.sin(out, out=out)
    np.square(out, out=out)
    np.subtract(dt, attack_s, out=tmp)  # the fall
    np.divide(tmp, decay, out=tmp)
    np.clip(tmp, 0.0, 1.0, out=tmp)
    np.multiply(tmp, 0.5 * np.pi, out=tmp)
    np.cos(tmp, out=tmp)
    np.square(tmp, out=tmp)
    # where(dt < attack, rise, fall), then where((dt >= 0) & (dt < duration), env, 0), as negated masks
    np.logical_not(np.less(dt, attack_s, out=mask), out=mask)
    np.copyto(out, tmp, where=mask)
    np.logical_not(np.greater_equal(dt, 0.0, out=mask), out=mask)
    np.copyto(out, 0.0, where=mask)
    np.logical_not(np.less(dt, duration_s, out=mask), out=mask)
    np.copyto(out, 0.0, where=mask)
    return out
