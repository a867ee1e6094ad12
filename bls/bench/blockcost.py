"""What rendering one block costs the Python interpreter: function calls and memory.

``python -m bls.bench.blockcost [--blocks N] [--frames F] [--json FILE]``

The ring clock's filler does, per block: the engine renders ``F`` frames into a preallocated scratch
array and the frames are written to rtmixer's ring buffer. This counts, over ``N`` blocks of a running
set (after a warm-up), the Python-level function calls and C calls per block (``sys.setprofile``), the
bytes still held after the run per block (a leak would show here) and the largest transient
allocation during a block (``tracemalloc``). The device's callback itself is rtmixer's C function: it
makes no Python call and allocates nothing, whatever this reports.
"""

from __future__ import annotations

import argparse
import json
import sys
import tracemalloc
from pathlib import Path

import numpy as np

from ..core.engine import SAMPLE_RATE, StimulusEngine
from ..core.preset import find_preset


def _filler_step(engine: StimulusEngine, ring, scratch: np.ndarray, frames: int) -> None:
    out = scratch[:frames]
    engine.process(frames, out)
    ring.write(out)
    ring.advance_read_index(frames)  # the device's side, done in C by rtmixer's callback


def measure(blocks: int = 2000, frames: int = 1024, warm: int = 200) -> dict:
    from pa_ringbuffer import init  # noqa: PLC0415
    from _rtmixer import ffi, lib  # noqa: PLC0415

    ring = init(ffi, lib)(8, 32768)
    engine = StimulusEngine(find_preset("standard"))
    engine.start()
    scratch = np.zeros((4096, 2), dtype=np.float32)
    for _ in range(warm):  # past the fade-in, caches warm
        _filler_step(engine, ring, scratch, frames)

    counts = {"call": 0, "c_call": 0}

    def profile(frame, event, arg):
        if event in counts:
            counts[event] += 1
    sys.setprofile(profile)
    try:
        for _ in range(blocks):
            _filler_step(engine, ring, scratch, frames)
    finally:
        sys.setprofile(None)

    tracemalloc.start()
    try:
        _filler_step(engine, ring, scratch, frames)  # tracemalloc's own first allocations
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        peak_transient = 0
        for _ in range(blocks):
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            _filler_step(engine, ring, scratch, frames)
            _, peak = tracemalloc.get_traced_memory()
            peak_transient = max(peak_transient, peak - before)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {
        "blocks": blocks, "frames_per_block": frames, "block_ms": frames / SAMPLE_RATE * 1000.0,
        "python_calls_per_block": counts["call"] / blocks, "c_calls_per_block": counts["c_call"] / blocks,
        "bytes_retained_per_block": (after - base) / blocks, "peak_transient_bytes": int(peak_transient),
        "callback": "rtmixer's C callback: no Python call, no allocation per device block",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bls.bench.blockcost", description=__doc__.split("\n\n")[0])
    p.add_argument("--blocks", type=int, default=2000)
    p.add_argument("--frames", type=int, default=1024)
    p.add_argument("--json", metavar="FILE")
    a = p.parse_args(argv)
    if not (1 <= a.blocks <= 10**6 and 1 <= a.frames <= 4096):
        p.error("give 1 to 1000000 blocks of 1 to 4096 frames")
    r = measure(a.blocks, a.frames)
    print(f"per block of {r['frames_per_block']} frames ({r['block_ms']:.1f} ms): {r['python_calls_per_block']:.1f} "
          f"Python calls, {r['c_calls_per_block']:.1f} C calls; {r['bytes_retained_per_block']:.2f} bytes retained; "
          f"largest transient allocation {r['peak_transient_bytes']} bytes. {r['callback']}.")
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
