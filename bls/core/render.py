"""Offline rendering: the exact audio the live engine would play, and the target per display frame.

The same :class:`StimulusEngine` and the same synthesis code as a live session; only the clock
differs (a loop instead of the sound card), so a render is a faithful record of what a client hears.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .atomic import AtomicFile
from .avdelay import check_delay_ms
from .engine import SAMPLE_RATE, StimulusEngine
from .preset import Preset

TRACE_FPS = 60.0
MAX_SECONDS = 4 * 3600.0  # a practice track of four hours is already absurd; streamed, so memory is flat


def render_blocks(preset: Preset, seconds: float, block: int = 1024, fps: float = TRACE_FPS,
                  start: bool = True, engine: StimulusEngine | None = None, av_offset_ms: float = 0.0):
    """Render ``seconds`` of a set started at frame 0, one block at a time.

    Yields (audio block: n x 2 float32, trace rows t, x, y, pan for the display frames inside the
    block). Memory stays flat however long the render is.

    ``av_offset_ms`` applies a manual audio delay (bls.core.avdelay, -300 to +300 ms) as the app does:
    the row at time ``t`` of the audio shows the picture of stimulus time ``t - av_offset_ms`` (x, y and
    the pan that picture stands for), so the picture of stimulus time tau is seen at tau + N against
    the audio. Before the set the target rests at the centre; for a negative offset the engine is run
    on past the audio's end (silently; nothing more is yielded as audio) for the last rows.
    """
    if not np.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    lag = check_delay_ms(av_offset_ms) / 1000.0 * SAMPLE_RATE
    total = int(round(seconds * SAMPLE_RATE))
    engine = engine or StimulusEngine(preset, max_block=max(block, 1))
    if start:
        engine.start()
    step = SAMPLE_RATE / fps
    n_trace = int(np.floor(seconds * fps)) + 1
    j = 0
    f = 0
    # past the audio's end (a negative offset: the last rows show stimulus time to come) the engine runs
    # on silently and only rows are yielded
    while f < total or (j < n_trace and j * step < total):
        n = min(block, total - f) if f < total else block
        audio = np.zeros((n if f < total else 0, 2), dtype=np.float32)
        engine.process(n, audio if f < total else None)
        f += n
        rows = []
        while j < n_trace and j * step < total and j * step - lag < f:
            smp = engine.sample(j * step - lag)
            rows.append((j * step / SAMPLE_RATE, smp.x, smp.y, smp.pan))
            j += 1
        yield audio, rows


def render(preset: Preset, seconds: float, block: int = 1024, fps: float = TRACE_FPS, start: bool = True,
           av_offset_ms: float = 0.0) -> tuple[np.ndarray, np.ndarray, StimulusEngine]:
    """Render in memory: (audio: frames x 2 float32, trace: rows of t, x, y, pan, engine)."""
    engine = StimulusEngine(preset, max_block=max(block, 1))
    pieces, rows = [], []
    for audio, trace in render_blocks(preset, seconds, block, fps, start, engine, av_offset_ms):
        pieces.append(audio)
        rows.extend(trace)
    audio = np.concatenate(pieces) if pieces else np.zeros((0, 2), np.float32)
    return audio, np.array(rows, dtype=np.float64).reshape(-1, 4), engine


class WavWriter:
    """Stereo WAV written block by block: 32-bit float (exact) or 16-bit PCM. With ``frames=None``
    the length is not known in advance: the header is completed when the writer is closed.

    Written through :class:`bls.core.atomic.AtomicFile`: streamed into a temporary file next to
    ``path`` (memory stays flat) and renamed over it on :meth:`close`; only a regular file is ever
    replaced (a link, a device or a FIFO at ``path`` raises ``WriteRefused`` before anything is
    written). An exception inside a ``with`` block, or :meth:`abort`, leaves ``path`` as it was."""

    def __init__(self, path: Path, frames: int | None, channels: int = 2, sample_rate: int = SAMPLE_RATE,
                 pcm16: bool = False):
        self.pcm16 = pcm16
        self.channels, self.sample_rate = channels, sample_rate
        self._declared = frames
        self.written = 0
        self._out = AtomicFile(path)
        self._fh = self._out.file
        try:
            self._fh.write(self._header(frames or 0))
        except BaseException:
            self._out.abort()
            raise

    def _header(self, frames: int) -> bytes:
        fmt_tag, bits = (1, 16) if self.pcm16 else (3, 32)
        block_align = self.channels * bits // 8
        size = frames * block_align
        fmt = struct.pack("<HHIIHH", fmt_tag, self.channels, self.sample_rate, self.sample_rate * block_align,
                          block_align, bits)
        chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
        if fmt_tag == 3:  # non-PCM formats carry a fact chunk
            chunks += b"fact" + struct.pack("<II", 4, frames)
        header = b"RIFF" + struct.pack("<I", 4 + len(chunks) + 8 + size) + b"WAVE" + chunks
        return header + b"data" + struct.pack("<I", size)

    def write(self, audio: np.ndarray) -> None:
        data = np.ascontiguousarray(audio, dtype=np.float32)
        self.written += len(data)
        if self.pcm16:
            self._fh.write(np.round(np.clip(data, -1.0, 1.0) * 32767.0).astype("<i2").tobytes())
        else:
            self._fh.write(data.astype("<f4").tobytes())

    def close(self) -> None:
        """Complete the file and put it in place (once; nothing after an abort)."""
        if self._out.done:
            return
        try:
            if self._declared is None:
                self._fh.seek(0)
                self._fh.write(self._header(self.written))
        except BaseException:
            self._out.abort()
            raise
        self._out.commit()

    def abort(self) -> None:
        """Discard what was written: ``path`` stays as it was."""
        self._out.abort()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.close()
        else:
            self.abort()


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, pcm16: bool = False) -> None:
    with WavWriter(path, len(audio), audio.shape[1], sample_rate, pcm16) as w:
        w.write(audio)


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


TRACE_HEADER = "t,x,y,pan\n"


def trace_lines(rows) -> str:
    return "".join(f"{t:.6f},{x:.6f},{y:.6f},{pan:.6f}\n" for t, x, y, pan in rows)


def write_trace(path: Path, trace) -> None:
    with AtomicFile(path) as fh:
        fh.write((TRACE_HEADER + trace_lines(trace)).encode("utf-8"))
