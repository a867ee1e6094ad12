"""The ring clock (rtmixer's C callback, the engine rendered ahead) through a real-time device.

The device: an ALSA ``file`` tap (it writes exactly the frames PortAudio played) in front of ALSA's
``jack`` plugin, on a private JACK server with the dummy driver: the device takes frames at real-time
pace, as a sound card does (the null tap of test_audio_tap.py runs faster than real time, which no
renderer working ahead of a device can follow). The product's own ``open_clock`` drives the engine.
"""

from __future__ import annotations

import glob
import json
import sys

import numpy as np
import pytest

from bls.audio import ring
from bls.core.engine import SAMPLE_RATE
from bls.core.preset import find_preset

from .. import _jack
from ._signal import first_sound
from .conftest import ALSA_CONF, HERE, base_env, no_traceback, run
from .test_audio_tap import _offline as offline_render

pytestmark = pytest.mark.e2e

CHILD = HERE / "_tap_child.py"
JACK_TAP_CONF = """
pcm.bls_jack_tap { type file slave.pcm "bls_jack_out" format "raw"
                   file { @func getenv vars [ BLS_AUDIO_TAP ] default "/dev/null" } }
pcm.bls_jack_out { type jack playback_ports { 0 system:playback_1 1 system:playback_2 } }
"""
FLOAT32_ROUNDING = 2.0 ** -23


@pytest.fixture
def jack_tap(tmp_path):
    why = _jack.missing() or ring.available()
    if not ALSA_CONF.exists():
        why = "no ALSA configuration: not a Linux/ALSA machine"
    elif not glob.glob("/usr/lib/*/alsa-lib/libasound_module_pcm_jack.so"):
        why = why or "ALSA's jack plugin is not installed (apt-get install libasound2-plugins)"
    if why:
        pytest.skip(why)
    server = _jack.JackServer(tmp_path)
    server.start()
    conf = tmp_path / "jack-tap.conf"
    conf.write_text(JACK_TAP_CONF)
    raw = tmp_path / "tap.raw"
    env = base_env(ALSA_CONFIG_PATH=f"{ALSA_CONF}:{conf}", BLS_AUDIO_TAP=str(raw), JACK_NO_AUDIO_RESERVATION="1",
                   **server.env)
    env.pop("BLS_AUDIO_PATH", None)
    try:
        yield env, raw
    finally:
        server.close()


def _play(env, *args) -> dict:
    proc = run([sys.executable, str(CHILD), "play", "standard", *map(str, args)], env, timeout=180)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    no_traceback(proc)
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["clock"] == "RingClock", doc
    assert doc["error"] is None, doc["error"]
    return doc


def _offline(frames: int, stop_frame: int) -> np.ndarray:
    return offline_render(find_preset("standard"), frames, stop_frame)[0]


def _aligned(raw: np.ndarray, expected: np.ndarray, upto: int) -> int:
    """The recording's frame where the engine's frame 0 sits (the first ``upto`` frames match exactly)."""
    onset = first_sound(raw)
    for p in range(max(0, onset - 4), onset + 1):
        if np.abs(raw[p:p + upto] - expected[:upto]).max() <= FLOAT32_ROUNDING:
            return p
    raise AssertionError(f"the recording does not match the offline render near its onset (frame {onset})")


def _residuals_ms(anchors: np.ndarray) -> np.ndarray:
    """Each anchor's distance (ms) from the line of slope 1/48000 s per frame through their median."""
    t_minus_f = anchors[:, 1] - anchors[:, 0] / SAMPLE_RATE
    return (t_minus_f - np.median(t_minus_f)) * 1000.0


def test_ring_plays_the_set_gapless_bit_for_bit_with_anchors_on_the_sample_clock_and_esc_within_300_ms(jack_tap):
    env, tap = jack_tap
    doc = _play(env, 3.0, 0.3, "bls_jack_tap")
    assert doc["dry"] == 0
    frames, stop = doc["frames"], doc["stop_frame"]
    raw = np.fromfile(tap, dtype="<f4").reshape(-1, 2)
    expected = _offline(frames, stop)
    start = _aligned(raw, expected, 1000)
    rec = raw[start:start + frames]
    assert len(rec) == frames, "the device took fewer frames than the engine says it handed over"
    # every frame the engine rendered, in order, none twice, none missing: ~30 hand-overs were gapless
    assert np.array_equal(rec, expected), "the recording differs from the offline render"
    assert doc["timestamps_bad"] == 0

    anchors = np.array(doc["anchors"], dtype=np.float64)
    played_s = frames / SAMPLE_RATE
    assert len(anchors) >= 0.5 * played_s / ring.ANCHOR_EVERY_S, len(anchors)
    assert np.all(np.diff(anchors[:, 0]) > 0)
    # the anchors lie on one line of the sample clock: an off-by-one-block hand-over would put anchors
    # 21 ms (a 1024-frame period) away from the rest
    res = _residuals_ms(anchors)
    assert np.median(np.abs(res)) < 2.0, res

    # Esc: the frames already rendered ahead (queued) come before the stop's fade; then the device's own
    # output latency, which no design can take back (the promise: silent within 300 ms plus that latency)
    last = int(np.flatnonzero(np.any(rec != 0.0, axis=1))[-1])
    taken_at_key = doc["rendered_at_stop"] - doc["queued_at_stop"]
    key_to_silence_s = (last - taken_at_key) / SAMPLE_RATE
    print(f"\n[ring] {len(anchors)} anchors, residual median {np.median(np.abs(res)):.3f} ms; Esc silent "
          f"{key_to_silence_s * 1000:.0f} ms after the key (queued {doc['queued_at_stop']} frames) plus the output "
          f"latency {doc['latency_s'] * 1000:.0f} ms")
    assert doc["queued_at_stop"] > 0  # it does render ahead
    assert key_to_silence_s <= 0.3


def test_a_renderer_held_up_longer_than_the_lead_costs_a_gap_of_silence_and_the_anchors_follow_it(jack_tap):
    env, tap = jack_tap
    stall_at_s, stall_s = 1.5, 4 * ring.LEAD_S
    doc = _play(env, 3.5, 0.3, "bls_jack_tap", stall_at_s, stall_s)
    assert doc["dry"] >= 1  # the ring ran dry, was noticed ...
    frames, stop = doc["frames"], doc["stop_frame"]
    raw = np.fromfile(tap, dtype="<f4").reshape(-1, 2)
    expected = _offline(frames, stop)
    start = _aligned(raw, expected, 1000)
    rec = raw[start:]
    # up to the gap, the render exactly; then silence; then the render again from the frame after the
    # last one played (nothing skipped, nothing repeated)
    diff = np.flatnonzero(np.any(rec[:frames] != expected, axis=1))
    assert len(diff), "no gap in the recording"
    g = int(diff[0])
    assert not rec[g:g + int(0.5 * stall_s * SAMPLE_RATE)].any(), "the gap is not silent"
    resume = g + int(np.flatnonzero(np.any(rec[g:] != 0.0, axis=1))[0])
    gap = resume - g
    tail = min(len(rec) - resume, frames - g) - int(0.3 * SAMPLE_RATE)
    assert tail > SAMPLE_RATE // 2
    assert np.array_equal(rec[resume:resume + tail], expected[g:g + tail]), "the sound after the gap skips or repeats"

    # ... and the anchors moved with the sound: after the gap, each engine frame is heard later by the gap
    anchors = np.array(doc["anchors"], dtype=np.float64)
    before, after = anchors[anchors[:, 0] < g - SAMPLE_RATE // 10], anchors[anchors[:, 0] > g + SAMPLE_RATE // 10]
    assert len(before) >= 3 and len(after) >= 3, (len(before), len(after))
    shift_ms = (np.median(after[:, 1] - after[:, 0] / SAMPLE_RATE)
                - np.median(before[:, 1] - before[:, 0] / SAMPLE_RATE)) * 1000.0
    print(f"\n[ring] gap {gap / SAMPLE_RATE * 1000:.1f} ms of silence; anchors moved {shift_ms:.1f} ms")
    assert gap >= stall_s * SAMPLE_RATE / 2
    assert abs(shift_ms - gap / SAMPLE_RATE * 1000.0) < 3.0


@pytest.mark.parametrize("path,clock", [("ring", "RingClock"), ("callback", "DeviceClock")])
def test_an_audio_delay_moves_the_anchors_of_a_real_stream_later_by_that_much(jack_tap, path, clock):
    """Set half-way through a set, a 150 ms audio delay moves every anchor the device clock publishes
    150 ms later against the sample clock's line (a new epoch from there), through both audio paths."""
    env, _tap = jack_tap
    env = dict(env, BLS_TAP_DELAY_MS="150", **({"BLS_AUDIO_PATH": "callback"} if path == "callback" else {}))
    proc = run([sys.executable, str(CHILD), "play", "standard", "3.0", "0.2", "bls_jack_tap"], env, timeout=180)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    no_traceback(proc)
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["clock"] == clock and doc["error"] is None, doc
    anchors = np.array(doc["anchors"], dtype=np.float64)
    epochs = np.array(doc["epochs"])
    after = epochs != epochs[0]
    assert after.any() and (~after).any() and np.all(after[np.argmax(after):])  # one change, and it holds
    t_minus_f = anchors[:, 1] - anchors[:, 0] / SAMPLE_RATE
    shift_ms = (np.median(t_minus_f[after]) - np.median(t_minus_f[~after])) * 1000.0
    res = np.concatenate([t_minus_f[~after] - np.median(t_minus_f[~after]),
                          t_minus_f[after] - np.median(t_minus_f[after])]) * 1000.0
    print(f"\n[delay] {clock}: anchors {shift_ms:+.3f} ms later after the 150 ms delay "
          f"({(~after).sum()} before, {after.sum()} after; residual median {np.median(np.abs(res)):.3f} ms)")
    assert abs(shift_ms - 150.0) <= 2.0 and np.median(np.abs(res)) < 2.0
