"""Offline rendering: the exact audio the live engine would play, and the target per display frame.

The same :class:`StimulusEngine` and the same synthesis code as a live session; only the clock
differs (a loop instead of the sound card), so a render is a faithful record of what a client hears.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .engine import SAMPLE_RATE, StimulusEngine
from .preset import Preset

TRACE_FPS = 60.0


def render(preset: Preset, seconds: float, block: int = 1024, fps: float = TRACE_FPS, start: bool = True,
           ) -> tuple[np.ndarray, np.ndarray, StimulusEngine]:
    """Render ``seconds`` of a set started at frame 0.

    Returns (audio: frames x 2 float32, trace: rows of t, x, y, pan at each display frame, engine).
    """
    if not np.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    total = int(round(seconds * SAMPLE_RATE))
    engine = StimulusEngine(preset, max_block=max(block, 1))
    if start:
        engine.start()
    audio = np.zeros((total, 2), dtype=np.float32)
    n_trace = int(np.floor(seconds * fps)) + 1
    trace = np.zeros((n_trace, 4))
    t_frames = np.arange(n_trace) * (SAMPLE_RATE / fps)
    j = 0
    f = 0
    while f < total:
        n = min(block, total - f)
        engine.process(n, audio[f:f + n])
        f += n
        while j < n_trace and t_frames[j] < f:
            smp = engine.sample(t_frames[j])
            trace[j] = (t_frames[j] / SAMPLE_RATE, smp.x, smp.y, smp.pan)
            j += 1
    return audio, trace[:j], engine


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, pcm16: bool = False) -> None:
    """Stereo WAV: 32-bit float (exact) or 16-bit PCM (for players that need it)."""
    data = np.ascontiguousarray(audio, dtype=np.float32)
    channels = data.shape[1]
    if pcm16:
        payload = np.round(np.clip(data, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        fmt_tag, bits = 1, 16
    else:
        payload = data.astype("<f4").tobytes()
        fmt_tag, bits = 3, 32
    block_align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, sample_rate, sample_rate * block_align, block_align, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if fmt_tag == 3:  # non-PCM formats carry a fact chunk
        chunks += b"fact" + struct.pack("<II", 4, len(data))
    chunks += b"data" + struct.pack("<I", len(payload)) + payload
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Read back a WAV written by :func:`write_wav` (float32 or 16-bit PCM)."""
    raw = Path(path).read_bytes()
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError(f"{path} is not a WAV file")
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        body = raw[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[:16])
        elif cid == b"data":
            data = body
        pos += 8 + size + (size & 1)
    if fmt is None or data is None:
        raise ValueError(f"{path} has no fmt or data chunk")
    tag, channels, rate, _, _, bits = fmt
    if tag == 3 and bits == 32:
        arr = np.frombuffer(data, dtype="<f4")
    elif tag == 1 and bits == 16:
        arr = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767.0
    else:
        raise ValueError(f"{path}: unsupported WAV format (tag {tag}, {bits} bits)")
    return arr.reshape(-1, channels), rate


def write_trace(path: Path, trace: np.ndarray) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("t,x,y,pan\n")
        for t, x, y, pan in trace:
            fh.write(f"{t:.6f},{x:.6f},{y:.6f},{pan:.6f}\n")
