"""Clocks that drive the stimulus engine: the sound card, or a monotonic stand-in.

Both publish the same thing, an :class:`~bls.core.clock.Anchor` after each block, so the display
has one code path whether or not there is sound.
"""

from __future__ import annotations

import gc
import itertools
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from ..core.clock import Anchor, dac_time_to_monotonic
from ..core.engine import SAMPLE_RATE, StimulusEngine

REQUESTED_LATENCY_S = 0.08  # latency costs nothing in sync: the anchor compensates for it
MONOTONIC_LEAD_S = 0.04  # the stand-in works this far ahead, like a sound card's buffer
MONOTONIC_TICK_S = 0.005
#: a clock that rendered nothing for this long is dead (a sound card calls back every few ms to ~0.1 s)
STALL_S = 0.5
#: how long another thread may keep the GIL while the audio callback waits for it (s)
GIL_SWITCH_INTERVAL_S = 0.0005

_epochs = itertools.count(1)


@dataclass(frozen=True)
class AudioStatus:
    ok: bool  # a device is playing
    summary: str  # one line for the therapist
    detail: str = ""  # why, and what to do
    device: str | None = None


def settle_interpreter() -> None:
    """Make the interpreter kind to a Python audio callback; call once the app is built.

    The callback needs the GIL. A thread asking for it waits up to the switch interval (5 ms by
    default) while another thread runs Python, and with JACK or low-latency ALSA the whole deadline
    is one 5.3 ms block: the interval is cut to 0.5 ms. The cyclic garbage collector runs in whichever
    thread happens to allocate, the callback included, and a full collection walks every object of
    Qt's and numpy's modules: everything alive at start-up is frozen out of it, so a collection only
    walks what the session itself created.
    """
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
    gc.collect()
    gc.freeze()


class CallbackStats:
    """Timings recorded by the clock thread into preallocated arrays (no allocation per block)."""

    def __init__(self, size: int = 8192):
        self.durations = np.zeros(size)
        self.blocks = np.zeros(size, dtype=np.int64)
        self.count = 0
        self.underflows = 0

    def record(self, duration: float, frames: int) -> None:
        i = self.count % len(self.durations)
        self.durations[i] = duration
        self.blocks[i] = frames
        self.count += 1

    def recent(self) -> tuple[np.ndarray, np.ndarray]:
        n = min(self.count, len(self.durations))
        return self.durations[:n].copy(), self.blocks[:n].copy()

    def since(self, start: int) -> tuple[np.ndarray, np.ndarray, int]:
        """The blocks recorded from number ``start`` on that the ring still holds, oldest first, and
        the number to ask from next time (read often enough, e.g. every second, nothing is lost)."""
        end, size = self.count, len(self.durations)
        start = max(start, end - size)
        idx = np.arange(start, end) % size
        return self.durations[idx], self.blocks[idx], end


class _Clock:
    is_device = False
    latency_s = 0.0

    def __init__(self, engine: StimulusEngine):
        self.engine = engine
        self.token = object()  # the engine's owner token while this clock drives it
        self.epoch = next(_epochs)
        self.anchor: Anchor | None = None
        self.stats = CallbackStats()
        self.error: str | None = None
        self.last_block_at: float | None = None  # monotonic time of the last block rendered

    def alive(self, now: float) -> bool:
        """Whether the clock still advances: no error, and a block rendered within STALL_S (once
        started). A clock that died mid-set must be replaced, or the set could never end."""
        if self.error is not None:
            return False
        return self.last_block_at is None or now - self.last_block_at <= STALL_S

    def _advance(self, n: int, out: np.ndarray | None) -> int:
        """Process ``n`` frames in engine-sized pieces; returns the first frame."""
        first = self.engine.next_frame
        done = 0
        step = self.engine.max_block
        while done < n:
            k = min(step, n - done)
            self.engine.process(k, None if out is None else out[done:done + k], self.token)
            done += k
        return first


class MonotonicClock(_Clock):
    """Stands in for the sound card: frames advance with ``time.monotonic()``; no sound."""

    name = "system clock (no sound)"

    def __init__(self, engine: StimulusEngine):
        super().__init__(engine)
        self.latency_s = MONOTONIC_LEAD_S
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bls-monotonic-clock", daemon=True)

    def start(self) -> None:
        self._origin_frame = self.engine.next_frame
        self._origin_time = time.monotonic()
        self.anchor = Anchor(self._origin_frame, self._origin_time + MONOTONIC_LEAD_S, self.epoch)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.engine.owner is not None and self.engine.owner is not self.token:
                return  # another clock drives the engine now: this one is retired
            if self.engine.busy:  # the clock it replaced is still inside process(): let it finish
                self._stop.wait(0.001)
                continue
            t_in = time.perf_counter()
            now = time.monotonic()
            target = self._origin_frame + int((now - self._origin_time) * SAMPLE_RATE)
            n = target - self.engine.next_frame
            if n > 0:
                try:
                    self._advance(n, None)
                except Exception as exc:  # never let the clock die silently
                    self.error = repr(exc)
                    return
                self.stats.record(time.perf_counter() - t_in, n)
            self.last_block_at = now
            self._stop.wait(MONOTONIC_TICK_S)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)


def import_sounddevice():
    """sounddevice, or the reason it cannot be used (returned as a string)."""
    try:
        import sounddevice as sd  # noqa: PLC0415 - imported lazily: the core must run without it
    except OSError as exc:  # libportaudio is missing
        return None, f"the PortAudio library is not installed ({exc}); on Debian/Ubuntu: apt install libportaudio2"
    except ImportError as exc:
        return None, f"the sounddevice package is missing ({exc})"
    return sd, ""


class DeviceClock(_Clock):
    """The sound card's sample clock drives everything; the callback is a thin shim."""

    is_device = True

    def __init__(self, engine: StimulusEngine, device=None):
        super().__init__(engine)
        sd, why = import_sounddevice()
        if sd is None:
            raise RuntimeError(why)
        self._sd = sd
        self.stream = sd.OutputStream(samplerate=SAMPLE_RATE, channels=2, dtype="float32", blocksize=0,
                                      latency=REQUESTED_LATENCY_S, device=resolve_output(sd, device),
                                      callback=self._callback)
        self.latency_s = float(self.stream.latency)
        info = sd.query_devices(self.stream.device)
        hostapi = sd.query_hostapis(info["hostapi"])["name"]
        self.device_name = info["name"]  # the output's full name, whatever part of it was asked for
        self.name = f"{info['name']} ({hostapi})"
        self.timestamps_ok = 0
        self.timestamps_bad = 0

    def _callback(self, outdata, frames, time_info, status) -> None:
        t_in = time.perf_counter()
        now = time.monotonic()
        if status.output_underflow:
            self.stats.underflows += 1
        try:
            first = self._advance(frames, outdata)
        except Exception as exc:  # silence, and tell the GUI; never a burst of garbage
            outdata.fill(0)
            self.error = repr(exc)
            raise self._sd.CallbackAbort from exc
        t, ok = dac_time_to_monotonic(time_info.outputBufferDacTime, time_info.currentTime, now, self.latency_s)
        if ok:
            self.timestamps_ok += 1
        else:
            self.timestamps_bad += 1
        self.anchor = Anchor(first, t, self.epoch)
        self.last_block_at = now
        self.stats.record(time.perf_counter() - t_in, frames)

    def start(self) -> None:
        self.last_block_at = time.monotonic()  # the first callback is due within the latency
        self.stream.start()

    def stop(self) -> None:
        try:
            self.stream.stop()
        finally:
            self.stream.close()


def explain_audio_error(exc: Exception, device=None) -> str:
    """A therapist-readable reason for a failed audio output."""
    text = str(exc)
    if isinstance(exc, RuntimeError) and "PortAudio library" in text:
        return "the PortAudio library is not installed"
    if "device -1" in text or "No Default" in text or "no default" in text.lower():
        return "no audio output device was found"
    if isinstance(exc, ValueError) or "No such device" in text or "Invalid device" in text:
        return f"the audio output “{device}” is not available" if device is not None else "the audio output is not available"
    if "busy" in text.lower() or "Device unavailable" in text:
        return "the audio output is in use by another program"
    return "the audio output could not be opened"


def open_clock(engine: StimulusEngine, want_audio: bool, device=None, refresh: bool = False,
               ) -> tuple[_Clock, AudioStatus]:
    """The best clock available: the sound card when audio is wanted and works, else the stand-in.

    Never raises for a missing or broken device: the returned status says why there is no sound.
    """
    if want_audio:
        if refresh:
            refresh_devices()
        try:
            clock = DeviceClock(engine, device)
            engine.owner = clock.token  # from now on only this clock advances the engine
            clock.start()
            return clock, AudioStatus(True, f"Audio: {clock.name}",
                                      f"output latency {clock.latency_s * 1000:.0f} ms (compensated)", clock.name)
        except Exception as exc:  # PortAudioError, RuntimeError (no library), ValueError (bad device)
            status = AudioStatus(False, "No sound: " + explain_audio_error(exc, device),
                                 "The target runs on the system clock. Connect headphones and choose the output "
                                 f"again under Sound, or choose another one. (For support: {exc})")
    else:
        status = AudioStatus(False, "Audio off", "The target runs on the system clock.")
    clock = MonotonicClock(engine)
    engine.owner = clock.token
    clock.start()
    return clock, status


def refresh_devices() -> None:
    """Make PortAudio look for outputs again (it lists them once, when it starts): headphones
    plugged in since become visible. Only while no stream is open; never raises."""
    sd, _ = import_sounddevice()
    if sd is None:
        return
    try:
        sd._terminate()  # noqa: SLF001 - sounddevice's documented way to re-scan devices
        sd._initialize()  # noqa: SLF001
    except Exception:  # noqa: BLE001 - the old list stays; opening reports any real problem
        pass


def _default_hostapi(sd) -> int | None:
    try:
        return int(sd.query_devices(kind="output")["hostapi"])
    except Exception:  # noqa: BLE001 - no default output
        return None


def output_devices(refresh: bool = False) -> list[str]:
    """Names of the stereo outputs PortAudio can see, each once (empty if it cannot be loaded).

    One output appears once per host API on some systems (Windows: MME, DirectSound, WASAPI);
    the default host API's outputs are listed, others only under names it does not have.
    """
    if refresh:
        refresh_devices()
    sd, _ = import_sounddevice()
    if sd is None:
        return []
    try:
        devices = [d for d in sd.query_devices() if d["max_output_channels"] >= 2]
    except Exception:  # noqa: BLE001
        return []
    default = _default_hostapi(sd)
    ordered = [d for d in devices if d["hostapi"] == default] + [d for d in devices if d["hostapi"] != default]
    return list(dict.fromkeys(d["name"] for d in ordered))


def resolve_output(sd, device):
    """The device to open for a name from the list: the index of the output with exactly that name
    (on the default host API first), so a name listed once per host API still opens; anything else
    (an index, part of a name) goes to PortAudio as given."""
    if not isinstance(device, str):
        return device
    try:
        devices = sd.query_devices()
    except Exception:  # noqa: BLE001
        return device
    exact = [i for i, d in enumerate(devices) if d["name"] == device and d["max_output_channels"] >= 2]
    if not exact:
        return device
    default = _default_hostapi(sd)
    return next((i for i in exact if devices[i]["hostapi"] == default), exact[0])
