"""The filler's work per block (engine render + ring write) keeps nothing and allocates little."""

import pytest

from bls.audio import ring

pytestmark = pytest.mark.skipif(ring.available() is not None, reason="rtmixer is not installed")


def test_rendering_blocks_into_the_ring_retains_no_memory_and_allocates_no_block_sized_array():
    from bls.bench.blockcost import measure

    r = measure(blocks=1000, frames=1024, warm=200)  # past the fade-in and speed ramp
    # a list or array kept per block (a leak) would retain at least a pointer's 8 bytes per block
    assert r["bytes_retained_per_block"] < 8, r
    # a fresh float64 array of the block's frames would be 8 KiB; the scratch and the ring are preallocated
    assert r["peak_transient_bytes"] < 1024 * 8, r
    assert r["python_calls_per_block"] > 0 and r["c_calls_per_block"] > 0, r  # the profiler saw the work


def test_a_per_block_allocation_is_seen(monkeypatch):
    """The measurement itself can see an allocation (guards the test above against measuring nothing)."""
    import numpy as np

    from bls.bench import blockcost

    kept = []
    step = blockcost._filler_step

    def leaky(engine, rb, scratch, frames):
        kept.append(np.zeros(frames))  # 8 KiB per block, kept
        step(engine, rb, scratch, frames)
    monkeypatch.setattr(blockcost, "_filler_step", leaky)
    r = blockcost.measure(blocks=50, frames=1024, warm=5)
    assert r["bytes_retained_per_block"] >= 8 * 1024
    assert r["peak_transient_bytes"] >= 8 * 1024
