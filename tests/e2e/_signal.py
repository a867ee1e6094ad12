"""Signal analysis for the end-to-end tests: stereo balance, A/V offset, pass counting.

Pure numpy (no bls import), so what is measured does not depend on the code under test.

Balance. Over a short window the tone is ``sig * (cos θ, sin θ)`` (the constant-power pan law with
θ = (pan + 1) π/4), so the ratio of the channels' RMS gives θ = atan2(R_rms, L_rms) and the pan the
listener hears: pan = θ / (π/4) − 1, independent of level, fades and carrier.

A/V offset. The balance is evaluated on windows centred at each trace time shifted by a lag; the lag
with the highest correlation between that balance curve and the trace's pan is the offset of the sound
relative to the picture (positive: the sound comes later than the picture says). A coarse-to-fine search
gives single-frame resolution, a parabola through the peak refines it below one frame.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SR = 48_000


def read_trace_csv(path: Path) -> np.ndarray:
    """The trace written by ``bls render --trace``: rows of t, x, y, pan."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["t", "x", "y", "pan"], f"unexpected trace header {rows[0]}"
    return np.array([[float(v) for v in r] for r in rows[1:]], dtype=np.float64)


def _energy_cumsum(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio, dtype=np.float64)
    cum = np.zeros((len(a) + 1, 2))
    np.cumsum(a * a, axis=0, out=cum[1:])
    return cum


def _balance(cum: np.ndarray, centres: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray]:
    """(pan estimate, window energy) for windows [c - half, c + half] centred on integer frames c."""
    e = cum[centres + half + 1] - cum[centres - half]
    e = np.maximum(e, 0.0)  # cumsum differences can dip a hair below 0 in silence
    theta = np.arctan2(np.sqrt(e[..., 1]), np.sqrt(e[..., 0]))
    return theta / (np.pi / 4.0) - 1.0, e.sum(axis=-1)


def balance_curve(audio: np.ndarray, centres: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray]:
    return _balance(_energy_cumsum(audio), np.asarray(centres, dtype=np.int64), half)


@dataclass(frozen=True)
class AVOffset:
    offset_frames: float  # sub-frame estimate
    offset_ms: float
    peak_correlation: float
    max_abs_error: float  # |balance - trace pan| at the best integer lag, over the analysed frames
    rms_error: float
    window_ms: float
    n_frames: int  # trace frames analysed


def av_offset(audio: np.ndarray, trace_t: np.ndarray, trace_pan: np.ndarray, origin: int = 0,
              half: int = 120, max_lag: int = 2400, min_energy: float = 0.05) -> AVOffset:
    """Offset between the balance heard in ``audio`` and the pan in a trace.

    ``origin`` is the audio frame of trace time 0. Trace frames whose window (at every lag searched)
    is not inside the audio, or whose energy is below ``min_energy`` x the loudest window (silence, the
    first part of the fade-in), are left out.
    """
    cum = _energy_cumsum(audio)
    centres = origin + np.round(np.asarray(trace_t) * SR).astype(np.int64)
    pan = np.asarray(trace_pan, dtype=np.float64)
    inside = (centres - half - max_lag - 2 >= 0) & (centres + half + max_lag + 2 <= len(audio))
    centres, pan = centres[inside], pan[inside]
    _, energy = _balance(cum, centres, half)
    loud = energy >= min_energy * energy.max()
    centres, pan = centres[loud], pan[loud]
    assert len(centres) >= 20, f"only {len(centres)} trace frames have sound to analyse"
    pz = pan - pan.mean()
    pn = np.sqrt((pz * pz).sum())

    def corr(lags: np.ndarray) -> np.ndarray:
        b, _ = _balance(cum, lags[:, None] + centres[None, :], half)
        bz = b - b.mean(axis=1, keepdims=True)
        return (bz @ pz) / (np.sqrt((bz * bz).sum(axis=1)) * pn + 1e-300)

    coarse = np.arange(-max_lag, max_lag + 1, 24)
    best = int(coarse[np.argmax(corr(coarse))])
    fine = np.arange(max(-max_lag, best - 48), min(max_lag, best + 48) + 1)
    r = corr(fine)
    i = int(np.argmax(r))
    lag = float(fine[i])
    if 0 < i < len(r) - 1:
        denom = r[i - 1] - 2.0 * r[i] + r[i + 1]
        if denom < 0:
            lag += 0.5 * (r[i - 1] - r[i + 1]) / denom
    b, _ = _balance(cum, centres + int(fine[i]), half)
    err = b - pan
    return AVOffset(lag, lag * 1000.0 / SR, float(r[i]), float(np.abs(err).max()),
                    float(np.sqrt((err * err).mean())), (2 * half + 1) * 1000.0 / SR, len(centres))


def direction_changes(x: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """Indices where the target's velocity changes sign (stationary stretches are skipped)."""
    v = np.diff(np.asarray(x, dtype=np.float64))
    moving = np.flatnonzero(np.abs(v) > eps)
    s = np.sign(v[moving])
    turns = np.flatnonzero(s[1:] != s[:-1]) + 1
    return moving[turns]  # the first frame of the new direction: the sample nearest the turn


def ends_reached(x: np.ndarray, reach: float = 0.99) -> np.ndarray:
    """x at each turn that is at an end of the sweep (|x| >= reach)."""
    idx = direction_changes(x)
    xs = np.asarray(x)[idx]
    return xs[np.abs(xs) >= reach]


def first_sound(raw: np.ndarray) -> int:
    """Index of the first frame that is not exactly silent."""
    nz = np.flatnonzero(np.any(raw != 0.0, axis=1))
    assert len(nz), "the recording is silent"
    return int(nz[0])
