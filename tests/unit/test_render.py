"""Offline rendering: the trace matches the engine, the block size does not matter, WAV and CSV files
read back to what was written (checked with the standard library's own WAV reader where it can)."""

import wave

import numpy as np
import pytest

from bls.core import render as r
from bls.core.preset import Preset

FS = 48_000


def preset():
    return (Preset(name="render").with_("motion", speed_cycles_per_s=1.5, set_passes=4)
            .with_("timing", fade_in_s=0.2, fade_out_s=0.3))


@pytest.mark.parametrize("seconds", [0.0, -1.0, float("nan"), float("inf")])
def test_render_refuses_a_nonsense_length(seconds):
    with pytest.raises(ValueError):
        r.render(preset(), seconds)


def test_render_is_independent_of_the_block_size():
    a1, t1, e1 = r.render(preset(), 4.0, block=4096)
    a2, t2, e2 = r.render(preset(), 4.0, block=333)
    assert np.array_equal(a1, a2) and np.array_equal(t1, t2)
    assert list(e1.finished) == list(e2.finished)
    assert a1.shape == (4 * FS, 2) and a1.dtype == np.float32


@pytest.mark.parametrize("fps", [60.0, 144.0, 50.0])
def test_trace_rows_are_display_frames_with_the_engine_position(fps):
    seconds = 3.0
    audio, trace, e = r.render(preset(), seconds, block=1000, fps=fps)
    step = FS / fps
    n = int(np.ceil(seconds * FS / step))  # every display frame that falls inside the audio
    assert trace.shape == (n, 4)
    assert np.allclose(trace[:, 0], np.arange(n) / fps, atol=1e-12)
    for row in trace[:: max(1, n // 25)]:
        s = e.sample(row[0] * FS)
        assert (row[1], row[2], row[3]) == pytest.approx((s.x, s.y, s.pan), abs=1e-9)


def test_render_blocks_streams_the_same_audio_and_trace():
    audio, trace, _ = r.render(preset(), 2.5, block=700)
    pieces, rows = [], []
    for a, t in r.render_blocks(preset(), 2.5, block=700):
        assert len(a) <= 700
        pieces.append(a)
        rows.extend(t)
    assert np.array_equal(np.concatenate(pieces), audio)
    assert np.array_equal(np.array(rows), trace)


def test_unstarted_render_is_silent_and_still():
    audio, trace, e = r.render(preset(), 1.0, start=False)
    assert not audio.any() and not trace[:, 1:].any() and e.status.state == "idle"


def test_float_wav_round_trips_exactly(tmp_path):
    audio, _, _ = r.render(preset(), 1.0)
    path = tmp_path / "a.wav"
    r.write_wav(path, audio)
    back, rate = r.read_wav(path)
    assert rate == FS and back.dtype == np.float32 and np.array_equal(back, audio)
    raw = path.read_bytes()
    assert int.from_bytes(raw[4:8], "little") == len(raw) - 8  # the RIFF size is right


def test_pcm16_wav_is_readable_by_the_standard_library(tmp_path):
    audio, _, _ = r.render(preset().with_("audio", level_dbfs=-12.0), 1.0)
    path = tmp_path / "a16.wav"
    r.write_wav(path, audio, pcm16=True)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 2, FS, len(audio))
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.max(np.abs(data / 32767.0 - audio)) <= 0.5 / 32767 + 1e-7
    back, rate = r.read_wav(path)
    assert rate == FS and np.max(np.abs(back - audio)) <= 0.5 / 32767 + 1e-7


def test_streamed_wav_equals_the_whole_one(tmp_path):
    audio, _, _ = r.render(preset(), 1.0)
    whole, streamed = tmp_path / "w.wav", tmp_path / "s.wav"
    r.write_wav(whole, audio)
    with r.WavWriter(streamed, len(audio)) as w:
        for i in range(0, len(audio), 4999):
            w.write(audio[i:i + 4999])
    assert whole.read_bytes() == streamed.read_bytes()


def test_read_wav_refuses_other_files(tmp_path):
    p = tmp_path / "not.wav"
    p.write_bytes(b"ID3\x00" + bytes(100))
    with pytest.raises(ValueError):
        r.read_wav(p)


def test_trace_csv_reads_back(tmp_path):
    _, trace, _ = r.render(preset(), 2.0)
    path = tmp_path / "t.csv"
    r.write_trace(path, trace)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "t,x,y,pan" and len(lines) == len(trace) + 1
    back = np.loadtxt(path, delimiter=",", skiprows=1)
    assert np.allclose(back, trace, atol=1e-6)
