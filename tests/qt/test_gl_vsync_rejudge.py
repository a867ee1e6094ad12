"""The OpenGL client window keeps judging whether swaps wait for vsync while it asks for frames as they
swap: slow first swaps (a busy machine at start) do not lock it into "vsync" once swaps come fast."""

from __future__ import annotations

import pytest

from bls.core.engine import FrameSample
from bls.core.look import look_of
from bls.core.preset import Preset
from bls.core.timing import VSYNC_PROBE_SWAPS, VSYNC_WINDOW_SWAPS


class _Source:
    look = look_of(Preset(name="gl"))

    def sample_at(self, t):
        return FrameSample(0.0, 0.0, 0.0, 0.0, 0.0, 1.0, "running", self.look)


@pytest.fixture
def window(qapp, monkeypatch):
    from bls.ui import client_display

    clock = {"t": 100.0}
    monkeypatch.setattr(client_display.time, "monotonic", lambda: clock["t"])
    w = client_display.GLClientWindow(client_display.DisplayCore(_Source(), 60.0))
    yield w, clock
    w._timer.stop()
    w.deleteLater()


def _swaps(w, clock, n, interval):
    for _ in range(n):
        clock["t"] += interval
        w._swapped()


def test_slow_first_swaps_then_fast_ones_end_in_no_vsync(window):
    w, clock = window
    _swaps(w, clock, VSYNC_PROBE_SWAPS + 1, 0.030)  # start-up on a busy machine: every swap late
    assert w.vsync is True and w.kind == "OpenGL (vsync)"
    _swaps(w, clock, VSYNC_WINDOW_SWAPS, 0.009)  # then what llvmpipe does: ~110 swaps a second
    assert w.vsync is False
    assert w.kind == "OpenGL (no vsync: paced by a precise timer)"


def test_a_display_that_waits_for_vsync_stays_judged_so(window):
    w, clock = window
    _swaps(w, clock, VSYNC_PROBE_SWAPS + 1, 1 / 60)
    _swaps(w, clock, 3 * VSYNC_WINDOW_SWAPS, 1 / 60)
    _swaps(w, clock, VSYNC_WINDOW_SWAPS // 2, 2 / 60)  # missed vblanks under load: longer, never shorter
    assert w.vsync is True
