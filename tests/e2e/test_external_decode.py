"""The outside instrument's decoding (bls/bench/recorder.py ``decode``) on a NUT file that ffmpeg makes
with known timestamps: a grey strip grabbed 229 times a second from t = 1000 s, and a 440 Hz tone whose
first sample is at 1000.25 s. What the analysis gets must be those times, in one clock."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from bls.bench import recorder

pytestmark = pytest.mark.e2e


@pytest.fixture
def nut(tmp_path):
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("needs ffmpeg and ffprobe (apt-get install ffmpeg)")
    path = tmp_path / "known.nut"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "color=c=0x808080:s=64x2:r=229,format=gray",
                    "-itsoffset", "0.25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000,pan=stereo|c0=c0|c1=c0",
                    "-t", "2", "-map", "0:v", "-map", "1:a", "-c:v", "rawvideo", "-pix_fmt", "gray",
                    "-c:a", "pcm_f32le", "-output_ts_offset", "1000", "-fps_mode", "passthrough", "-f", "nut",
                    str(path)], check=True, capture_output=True, timeout=60)
    return path


def test_decode_gives_every_grab_its_time_and_the_sound_its_first_sample_time(nut):
    d = recorder.decode(nut, 64)
    t = d["video_t"]
    assert len(t) == 2 * 229
    assert t[0] == pytest.approx(1000.0, abs=1e-6)
    assert np.diff(t) == pytest.approx(np.full(len(t) - 1, 1 / 229), abs=2e-6)
    assert d["profiles"].shape == (len(t), 2, 64)
    assert d["profiles"].dtype == np.uint8
    assert len(np.unique(d["profiles"])) == 1 and 120 <= int(d["profiles"][0, 0, 0]) <= 136  # mid grey
    # the tone: first sample 0.25 s after the first grab, 48000 samples per second of the recorder's clock
    assert d["audio_t0"] == pytest.approx(1000.25, abs=1e-4)
    assert d["audio_rate"] == pytest.approx(48_000.0, abs=0.05)
    s = d["samples"]
    assert s.shape[1] == 2 and len(s) >= 1.7 * 48_000
    assert np.array_equal(s[:, 0], s[:, 1])
    assert np.abs(s).max() == pytest.approx(1 / 8, rel=0.01)  # lavfi's sine: amplitude 1/8
    k = np.argmax(np.abs(np.fft.rfft(s[:48_000, 0])))
    assert k == 440  # 1 Hz bins over one second


def test_a_period_the_recorder_never_got_keeps_the_samples_after_it_in_their_place(tmp_path, nut):
    """An xrun: one 1024-frame period missing from the recording after 1 s (the packets after it are
    stamped 21.3 ms later than the samples before them add up to). The gap is filled with silence, so
    the line through the packets is still 48000 samples per second from 1000.25 s."""
    path = tmp_path / "gap.nut"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "color=c=0x808080:s=64x2:r=229,format=gray",
                    "-itsoffset", "0.25", "-f", "lavfi",
                    "-i", "sine=frequency=440:sample_rate=48000:samples_per_frame=1024,pan=stereo|c0=c0|c1=c0,"
                          "asetpts=PTS+gte(T\\,1)*1024",
                    "-t", "2", "-map", "0:v", "-map", "1:a", "-c:v", "rawvideo", "-pix_fmt", "gray",
                    "-c:a", "pcm_f32le", "-output_ts_offset", "1000", "-fps_mode", "passthrough", "-f", "nut",
                    str(path)], check=True, capture_output=True, timeout=60)
    d = recorder.decode(path, 64)
    assert d["audio_gaps"] == 1
    assert d["audio_gap_ms"] == pytest.approx(1024 / 48, abs=0.01)
    assert d["audio_t0"] == pytest.approx(1000.25, abs=1e-4)
    assert d["audio_rate"] == pytest.approx(48_000.0, abs=0.05)
    s = d["samples"][:, 0]
    # the filled stretch is silent and a whole period long; sound on both sides of it
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (s == 0.0).astype(np.int8), [0]])))
    starts, ends = edges[::2], edges[1::2]  # runs of exact zeros (the sine touches zero now and then)
    longest = int(np.argmax(ends - starts))
    assert ends[longest] - starts[longest] >= 1024  # the filled period (a zero of the sine may adjoin it)
    assert (ends - starts)[np.arange(len(starts)) != longest].max() <= 2
    assert starts[longest] == pytest.approx(48_000, abs=1100)  # where the packets jumped: 1 s into the tone
    assert np.abs(s[ends[longest]: ends[longest] + 200]).max() > 0.1
