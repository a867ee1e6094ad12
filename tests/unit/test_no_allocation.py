"""The audio callback allocates no block-sized arrays: ``StimulusEngine.process`` renders into
preallocated scratch buffers (``core.synth.Scratch``).

Each block is measured with ``tracemalloc`` (numpy reports its array data to it): the peak of traced
memory during the block, above what was traced when the block began. One block-sized float64
temporary is ``n x 8`` bytes, 8 KiB for the 1024-frame blocks here; the bound, 6 KiB, leaves room
only for small Python objects: views of the scratch buffers, numbers, and on an event a snapshot or
a sample of the delivered values (up to about 4 KiB measured). The old path, a fresh array for every
intermediate, peaked at 40 to 145 KiB per block.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from bls.core import engine as eng
from bls.core.preset import builtin_presets

from .helpers import sec

BLOCK = 1024
ALLOWED = 6 * 1024  # bytes above the block's starting point, at the peak of the block: < one array


def standard(**motion):
    return builtin_presets()["standard"].with_("motion", **motion)


def _changes(p):
    """Speed (a slew of seconds), the look (a photosafe glide), the tone (a crossfade into pulses)."""
    return (p.with_("motion", speed_cycles_per_s=2.0)
            .with_("visual", target_diameter_pct=12.0, background_color="#303030", target_color="#ffffff")
            .with_("audio", tone="pulse", carrier_hz=523.0, level_dbfs=-20.0))


def scenario_live_changes():
    p = standard(set_mode="free", speed_cycles_per_s=0.6).with_("audio", tone="soft_sine")
    return p, {0: lambda e: e.start(), sec(1.0) // BLOCK: lambda e: e.apply(_changes(p))}, sec(4.0)


def scenario_shape_pause_and_last_pass():
    p = (standard(set_mode="passes", set_passes=5, profile="linear", speed_cycles_per_s=1.5)
         .with_("audio", tone="warm", pan_mode="alternating", pan_depth_pct=70.0))
    q = p.with_("motion", profile="sinusoidal", path="diagonal_up").with_("audio", pan_mode="continuous")
    return p, {0: lambda e: e.start(), sec(0.7) // BLOCK: lambda e: e.apply(q),
               sec(1.2) // BLOCK: lambda e: e.pause(), sec(1.6) // BLOCK: lambda e: e.start(),
               sec(2.0) // BLOCK: lambda e: e.apply(q.with_("audio", tone="pulse"))}, sec(6.5)


def scenario_accents_and_a_headphone_check():
    """End-point accents (with pulses crossfading in), the set stopped, then the left/right check."""
    from bls.core.checks import LEFT_RIGHT

    p = standard(set_mode="free", speed_cycles_per_s=1.4).with_("audio", pan_mode="continuous_accents")
    return p, {0: lambda e: e.start(), sec(1.0) // BLOCK: lambda e: e.apply(p.with_("audio", tone="pulse")),
               sec(2.5) // BLOCK: lambda e: e.stop(), sec(4.0) // BLOCK: lambda e: e.check(LEFT_RIGHT, -24.0)}, sec(8.0)


SCENARIOS = {"live_changes": scenario_live_changes, "shape_pause_last_pass": scenario_shape_pause_and_last_pass,
             "accents_and_check": scenario_accents_and_a_headphone_check}


def block_allocations(scenario, audio: bool) -> tuple[list[int], eng.StimulusEngine]:
    """The peak traced allocation (bytes) of every block of the scenario, after a warm-up run of it.

    A therapist's command (new settings, a pause ...) is applied at the start of the next block. What
    applying it allocates (a new snapshot, the photosafe check of a new look: small Python objects,
    once per click) is set aside; the rest of that block is measured like any other."""
    p, script, total = scenario()
    blocks = total // BLOCK
    out = np.zeros((BLOCK, 2), np.float32) if audio else None

    def run(measure: bool):
        e = eng.StimulusEngine(p, max_block=BLOCK)
        peaks: list[int] = []
        aside = [0, 0]  # the peak before the last command, and what the commands kept

        if measure:
            command = e._command

            def command_aside(cmd, f):
                now, peak = tracemalloc.get_traced_memory()
                aside[0] = max(aside[0], peak - aside[1])
                command(cmd, f)
                aside[1] += tracemalloc.get_traced_memory()[0] - now
                tracemalloc.reset_peak()

            e._command = command_aside
        for i in range(blocks):
            if i in script:
                script[i](e)
            if measure:
                aside[:] = [0, 0]
                tracemalloc.reset_peak()
                start = tracemalloc.get_traced_memory()[0]
            e.process(BLOCK, out)
            if measure:
                peaks.append(max(aside[0], tracemalloc.get_traced_memory()[1] - aside[1]) - start)
        return peaks, e

    run(False)  # warm-up: every code path once (numpy's and Python's own first-call caches)
    tracemalloc.start()
    try:
        return run(True)
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("audio", [True, False], ids=["audio", "no_audio"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_block_allocates_no_block_sized_array(name, audio):
    peaks, e = block_allocations(SCENARIOS[name], audio)
    worst = int(np.argmax(peaks))
    assert peaks[worst] < ALLOWED, (
        f"block {worst} allocated up to {peaks[worst]} bytes (a block-sized float64 array is {BLOCK * 8}); "
        f"median {int(np.median(peaks))} bytes per block")
    if name == "shape_pause_last_pass":  # the last pass, the glide home and the set's end were measured
        assert [r.stop_reason for r in e.finished] == ["complete"]


def test_the_measured_blocks_run_every_part_of_the_render():
    # the live-changes scenario really has blocks with a speed slew, a look glide and a tone crossfade
    # at once, and end-point pulses, so every renderer path is under the allocation check
    p, script, total = scenario_live_changes()
    e = eng.StimulusEngine(p, max_block=BLOCK)
    out = np.zeros((BLOCK, 2), np.float32)
    all_at_once = 0
    pulses = set()
    for i in range(total // BLOCK):
        if i in script:
            script[i](e)
        e.process(BLOCK, out)
        s, f = e.history[-1], e.next_frame - 1
        slewing = s.state == eng.RUNNING and s.speed.target == 2.0 and not s.speed.done(f)
        all_at_once += slewing and not s.look_mix.done(f) and not s.tone_mix.done(f) and bool(np.any(out))
        if s.tone == "pulse" and e._last_cross > s.start:
            pulses.add(e._last_cross)
    assert all_at_once >= 2
    assert len(pulses) >= 3  # pulses started at three ends, at least
