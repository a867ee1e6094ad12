"""The naive baseline's free-running tone (bls/bench/baseline.py): what it plays is panned by its own
frame count, block after block, with nothing else consulted."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")  # baseline.py holds the baselines' windows too

from bls.bench.baseline import render_free_running  # noqa: E402

SR = 48_000


def test_the_pan_follows_the_tones_own_frame_count():
    out = render_free_running(0, 3 * SR, 1.0, SR).astype(np.float64)
    n = np.arange(3 * SR)
    # where the carrier is loud enough to read the balance: atan2 of the channels gives the pan angle
    c = np.sin(2 * np.pi * 440.0 * n / SR)
    loud = (np.abs(c) > 0.5) & (n > SR // 10)
    theta = np.arctan2(out[loud, 1] * np.sign(c[loud]), out[loud, 0] * np.sign(c[loud]))
    s_heard = 4 * theta / np.pi - 1
    assert s_heard == pytest.approx(np.sin(2 * np.pi * n[loud] / SR), abs=1e-5)  # 1 cycle/s from frame 0
    # constant power at -24 dBFS
    power = out[loud, 0] ** 2 + out[loud, 1] ** 2
    assert np.sqrt(power) == pytest.approx(10 ** (-24 / 20) * np.abs(c[loud]), rel=1e-5)


def test_blocks_of_any_size_play_the_same_stream():
    whole = render_free_running(0, 10_000, 1.0, SR)
    parts = np.concatenate([render_free_running(0, 1024, 1.0, SR), render_free_running(1024, 333, 1.0, SR),
                            render_free_running(1357, 10_000 - 1357, 1.0, SR)])
    assert np.array_equal(whole, parts)


def test_it_starts_from_silence():
    out = render_free_running(0, SR // 10, 1.0, SR)
    assert np.abs(out[:24]).max() < 10 ** (-24 / 20) * 0.01  # the first half millisecond: a fade, no click
