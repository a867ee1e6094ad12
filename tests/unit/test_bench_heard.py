"""What the baselines' free-running tone is heard to play (bls/bench/heard.py, FreeRunningTone's log):
the benchmark reads the tone's position from the frames its callback rendered and the DAC times the
output gave them, so a baseline's A/V offset is the output's latency as the output reports it, never a
constant the benchmark assumes."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from bls.bench.heard import HeardTone, ToneLog

SR = 48_000
BLOCK = 1024


def fed_log(latency_s: float, t_start: float = 1000.0, blocks: int = 300, jitter_s: float = 0.0,
            block: int = BLOCK, seed: int = 3) -> ToneLog:
    """The log of a tone whose callback k runs at t_start + k blocks and whose output says each block's
    first frame is heard ``latency_s`` later (+- ``jitter_s`` of timestamp noise)."""
    rng = np.random.default_rng(seed)
    log = ToneLog()
    for k in range(blocks):
        called = t_start + k * block / SR
        heard = called + latency_s + rng.uniform(-jitter_s, jitter_s)
        log.record_block(k * block, heard, True, 0.0001, block, called)
    return log


@pytest.mark.parametrize("latency_s", [0.0, 0.0213, 0.0427, 0.09])
def test_the_elapsed_baselines_offset_is_the_latency_the_output_reports(latency_s):
    # the elapsed-time picture counts from the first callback (t_start); the listener hears frame n at
    # t_start + latency + n / SR: the picture is ahead by exactly the latency, whatever it is
    t_start, speed = 1000.0, 1.0
    heard = HeardTone(fed_log(latency_s, t_start), speed, SR)
    for t in t_start + np.linspace(1.0, 5.0, 41):
        assert heard.offset_ms(speed * (t - t_start), t) == pytest.approx(latency_s * 1000.0, abs=1e-6)
    assert heard.map.rate_ppm == pytest.approx(0.0, abs=1e-3)


def test_the_heard_phase_is_the_tones_own_frames_at_the_dac_times():
    heard = HeardTone(fed_log(0.05), 0.7, SR)
    t = 1000.0 + 3.0
    # heard at t: the frame rendered (t - 1000 - 0.05) s after the first, panned at 0.7 cycles/s
    assert heard.frame_at(t) == pytest.approx((3.0 - 0.05) * SR, abs=1e-3)
    assert heard.phase_at(t) == pytest.approx(0.7 * (3.0 - 0.05), abs=1e-9)
    assert heard.phase_at(1000.0 + 0.01) is None  # before the first frame is heard nothing is


def test_noisy_dac_times_are_averaged_by_the_line():
    heard = HeardTone(fed_log(0.0427, jitter_s=0.001), 1.0, SR)
    offsets = [heard.offset_ms(t - 1000.0, t) for t in 1000.0 + np.linspace(2.0, 6.0, 60)]
    assert np.max(np.abs(np.array(offsets) - 42.7)) < 0.5  # within half the +-1 ms timestamp noise


def test_nothing_is_known_before_the_first_block():
    heard = HeardTone(ToneLog(), 1.0, SR)
    assert heard.frame_at(5.0) is None and heard.offset_ms(1.0, 5.0) is None


def test_anchors_are_read_as_they_come_and_the_ring_keeps_the_latest():
    log = ToneLog(size=8)
    arrays = (log.first_frames, log.heard_at, log.leads, log.durations)
    for k in range(20):
        log.record_block(k * 256, 10.0 + k * 256 / SR + 0.03, True, 0.001, 256, 10.0 + k * 256 / SR)
    frames, times, nxt = log.anchors_since(0)
    assert nxt == 20 and frames.tolist() == [k * 256 for k in range(12, 20)]
    assert times == pytest.approx([10.0 + k * 256 / SR + 0.03 for k in range(12, 20)])
    assert log.anchors_since(20)[0].size == 0
    assert log.lead_s() == pytest.approx(0.03)
    assert all(a is b for a, b in zip(arrays, (log.first_frames, log.heard_at, log.leads, log.durations)))


# ------------------------------------------------------------------ the tone's callback writes the log


pytest.importorskip("PySide6")  # baseline.py holds the baselines' windows too

from bls.bench.baseline import FreeRunningTone, render_free_running  # noqa: E402


class _FakeStream:
    latency = 0.0213
    device = 0

    def __init__(self, **kwargs):
        self.kwargs = kwargs


def _query_devices(*args, **kwargs):
    one = {"name": "fake", "hostapi": 0, "max_output_channels": 2}
    return one if args or kwargs else [one]


FAKE_SD = SimpleNamespace(OutputStream=_FakeStream, query_devices=_query_devices,
                          query_hostapis=lambda i: {"name": "Fake API"})


def test_each_callback_logs_its_first_frame_and_when_the_output_says_it_is_heard():
    log = ToneLog()
    tone = FreeRunningTone(1.0, "fake", SR, log=log, sd=FAKE_SD)
    assert tone.name == "fake (Fake API)" and tone.latency_s == 0.0213 and tone.stats is log
    out = np.zeros((BLOCK, 2), dtype=np.float32)
    lead = 0.0427  # what the output says: the block's first frame is heard this long after "now"
    for k, under in enumerate((False, False, True)):
        before = time.monotonic()
        tone._callback(out, BLOCK, SimpleNamespace(outputBufferDacTime=50.0 + lead, currentTime=50.0),
                       SimpleNamespace(output_underflow=under))
        after = time.monotonic()
        assert np.array_equal(out, render_free_running(k * BLOCK, BLOCK, 1.0, SR))  # what it plays
        assert log.first_frames[k] == k * BLOCK
        assert before + lead <= log.heard_at[k] <= after + lead
        assert log.dac_ok[k] and log.blocks[k] == BLOCK and log.durations[k] > 0
    assert log.count == 3 and log.underflows == 1
    # a host API that gives no timestamps: the stream's latency, said so
    tone._callback(out, BLOCK, SimpleNamespace(outputBufferDacTime=0.0, currentTime=0.0),
                   SimpleNamespace(output_underflow=False))
    assert not log.dac_ok[3] and log.leads[3] == pytest.approx(0.0213)
    assert log.dac_used == 3 and log.count == 4


def test_without_an_output_the_tone_says_so():
    with pytest.raises(RuntimeError, match=r"free-running tone (has no audio output|cannot open the audio output "
                                           r"'bls-test-no-such-device')"):
        FreeRunningTone(1.0, "bls-test-no-such-device", SR, log=ToneLog())
