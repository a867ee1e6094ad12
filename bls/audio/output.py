"""Clocks that drive the stimulus engine: the sound card, or a monotonic stand-in.

Both publish the same thing, an :class:`~bls.core.clock.Anchor` after each block, so the display
has one code path whether or not there is sound.
"""

from __future__ import annotations

import atexit
import ctypes.util
import gc
import importlib.util
import itertools
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
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
    pending: bool = False  # an output is being opened; the final status follows


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
        self._delay = (0.0, next(_epochs))  # (manual audio delay in s, epoch): read and replaced as one
        self.anchor: Anchor | None = None
        self.stats = CallbackStats()
        self.error: str | None = None
        self.last_block_at: float | None = None  # monotonic time of the last block rendered

    @property
    def epoch(self) -> int:
        return self._delay[1]

    @property
    def delay_s(self) -> float:
        """The manual audio delay (s; bls.core.avdelay): how much later than PortAudio says the sound is
        heard (Bluetooth headphones: 0.1 to 0.3 s)."""
        return self._delay[0]

    def set_delay(self, seconds: float) -> None:
        """Apply a manual audio delay from the next anchor on (between sets). A new epoch goes with it,
        so the display's anchor map starts afresh from that anchor: one step, never a slew of rejected
        anchors and a re-lock."""
        self._delay = (float(seconds), next(_epochs))

    def anchor_at(self, frame: int, heard_at: float) -> Anchor:
        """The anchor for ``frame``, which PortAudio says is heard at ``heard_at`` (monotonic; the
        measured output latency is in it): the one place where the manual audio delay enters the clock
        mapping, for every device clock."""
        delay, epoch = self._delay
        return Anchor(frame, heard_at + delay, epoch)

    def _adopt_stream(self, sd, stream) -> None:
        """The opened output stream: its latency, and the output's full name (whatever part of it was
        asked for) with its host API."""
        self._sd, self.stream = sd, stream
        self.latency_s = float(stream.latency)
        info = sd.query_devices(stream.device)
        self.device_name = info["name"]
        self.name = f"{info['name']} ({sd.query_hostapis(info['hostapi'])['name']})"

    def queued_frames(self) -> int:
        """Frames rendered but not yet taken by the device (beyond its own latency): 0 when the engine is
        rendered inside the device's callback."""
        return 0

    def drain_mark(self) -> int | None:
        """A mark for :meth:`drained`: what has been rendered so far (None: nothing is rendered ahead)."""
        return None

    def drained(self, mark: int | None) -> bool:
        """Whether the device has taken everything rendered before ``mark`` was made."""
        return True

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
    """Stands in for the sound card: frames advance with ``time.monotonic()``; no sound (so no manual
    audio delay either: there is no output whose sound the picture could wait for)."""

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


#: opening an output (with its re-scan) that takes longer has failed; the app goes on without it
OPEN_DEADLINE_S = 5.0
#: a stream that has not stopped and closed within this is abandoned (a dead JACK server: never)
CLOSE_DEADLINE_S = 2.0
#: the child process that lists the outputs is killed after this
LIST_TIMEOUT_S = 5.0
JACK_HOSTAPI = "JACK Audio Connection Kit"


def _import_first():
    try:
        import sounddevice as sd  # noqa: PLC0415 - imported lazily: the core must run without it
    except OSError as exc:  # libportaudio is missing
        return None, f"the PortAudio library is not installed ({exc}); on Debian/Ubuntu: apt install libportaudio2"
    except ImportError as exc:
        return None, f"the sounddevice package is missing ({exc})"
    _no_terminate_at_exit(sd)
    return sd, ""


def _no_terminate_at_exit(sd) -> None:
    """sounddevice terminates PortAudio at exit. That is needed: left running, PortAudio's threads (an
    ALSA plugin's, a JACK client's) crash the interpreter's teardown (SIGSEGV). But with a JACK server
    that died meanwhile it aborts the process (``pa_jack.c: Terminate: Assertion 'err == 0'``), and a
    dead stream makes it hang. So PortAudio is terminated at exit only while bls's instance is clean
    (never tainted; an instance a re-scan replaced, if it was clean then); otherwise it is left alone
    (the app itself ends with ``os._exit``, see bls.cli)."""
    handler = getattr(sd, "_exit_handler", None)
    if handler is not None:
        atexit.unregister(handler)

        def terminate_if_clean():
            pa = _portaudio
            if pa._sd is None or pa._sd is sd:
                clean = not pa.tainted
            else:  # an instance a re-scan replaced: clean if nothing had gone wrong with it by then
                clean = any(m is sd and not tainted for m, _streams, tainted in pa._kept)
            if clean:
                handler()
        atexit.register(terminate_if_clean)


def required_sounddevice(sd=None):
    """``sd`` if given, else PortAudio's current sounddevice module; RuntimeError saying why if there is none."""
    if sd is None:
        sd, why = import_sounddevice()
        if sd is None:
            raise RuntimeError(why)
    return sd


def import_sounddevice():
    """sounddevice (PortAudio's current instance in this process), or the reason it cannot be used."""
    return portaudio().module()


class PortAudio:
    """The one owner of every PortAudio call that can block (open, start, stop, close, re-scan).

    Calls run on one worker thread, as jobs with a deadline; the GUI thread submits them and polls the
    futures, never waiting. A job past its deadline (a stream that will not stop because its JACK server
    died) leaves its thread hanging: the next job gets a fresh worker, the stream stays referenced (never
    freed under PortAudio's feet), and PortAudio's instance is *tainted*: it is never terminated again.

    Why never: PortAudio's JACK host API keeps a JACK client from ``Pa_Initialize`` on; ``Pa_Terminate``
    deactivates and closes it and asserts that both worked, so once its server is gone (killed,
    restarted) any terminate - a re-scan, or sounddevice's exit handler - aborts the process
    (``pa_jack.c: Terminate: Assertion 'err == 0'``), and with a dead stream open it hangs instead. A
    re-scan is therefore a terminate/initialize only for a clean instance without a JACK client; otherwise
    a fresh PortAudio instance is loaded from a private copy of the library and the old one is left alone.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._job_deadline: float | None = None  # when the worker's current job is overdue
        self._sd = None
        self._why = ""
        self._loaded = False
        self._kept: list = []  # instances left alone and abandoned streams: referenced for good
        self.streams: set = set()  # device clocks of the current instance whose stream is open
        self.generation = 0
        self.tainted = False
        self.workers_lost = 0

    # ---------------------------------------------------------------- the instance

    def module(self):
        """The current instance's sounddevice module, or (None, why)."""
        if not self._loaded:
            self._loaded = True
            self._sd, self._why = _import_first()
            self.generation = 1
        return self._sd, self._why

    def rescan(self) -> None:
        """Make PortAudio look for outputs again (on the worker; never raises)."""
        sd, _ = self.module()
        if sd is None or not hasattr(sd, "_terminate"):
            return
        if not self.tainted and not self.streams and not _has_jack(sd):
            try:
                sd._terminate()  # noqa: SLF001 - sounddevice's documented way to re-scan devices
                sd._initialize()  # noqa: SLF001
                return
            except Exception:  # noqa: BLE001 - a fresh instance instead
                pass
        fresh = _fresh_sounddevice(sd)
        if fresh is None:
            return  # no private copy possible: the old list stays; opening reports any real problem
        self._kept.append((sd, set(self.streams), self.tainted))
        self._sd, self.streams, self.tainted = fresh, set(), False
        self.generation += 1

    def taint(self) -> None:
        """Something went wrong under PortAudio (a stream died or would not stop, perhaps its JACK
        server): no instance of it is terminated at exit any more, the replaced ones included (their
        JACK clients may have been on the same server)."""
        self.tainted = True
        self._kept = [(m, streams, True) for m, streams, _ in self._kept]

    # ---------------------------------------------------------------- the worker

    def submit(self, fn, *args, deadline_s: float) -> Future:
        fut: Future = Future()
        fut.deadline = time.monotonic() + deadline_s
        self._jobs.put((fn, args, fut, deadline_s))
        self.pump()
        return fut

    def call(self, fn, *args, deadline_s: float):
        """Run ``fn`` on the worker and wait for it at most ``deadline_s`` (not for the GUI thread)."""
        return self.submit(fn, *args, deadline_s=deadline_s).result(timeout=deadline_s)

    def pump(self) -> None:
        """A worker runs, and a fresh one replaces a worker stuck past its job's deadline."""
        with self._lock:
            w = self._worker
            stuck = self._job_deadline is not None and time.monotonic() > self._job_deadline
            if w is not None and w.is_alive() and not stuck:
                return
            if stuck:
                self.taint()
                self.workers_lost += 1
            self._job_deadline = None
            self._worker = threading.Thread(target=self._run, name="bls-portaudio", daemon=True)
            self._worker.start()

    def stuck(self) -> bool:
        with self._lock:
            return self._job_deadline is not None and time.monotonic() > self._job_deadline

    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            job = self._jobs.get()
            fn, args, fut, deadline_s = job
            with self._lock:
                if self._worker is not me:  # replaced while this thread hung: the job is the new one's
                    self._jobs.put(job)
                    return
                self._job_deadline = time.monotonic() + deadline_s
            if fut.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
                    fut.set_exception(exc)
                else:
                    fut.set_result(result)
            with self._lock:
                if self._worker is not me:
                    return
                self._job_deadline = None


_portaudio = PortAudio()


def portaudio() -> PortAudio:
    return _portaudio


def _has_jack(sd) -> bool:
    """Whether this PortAudio instance holds a JACK client (its JACK host API is up)."""
    try:
        return any(JACK_HOSTAPI in h["name"] or "JACK" in h["name"] for h in sd.query_hostapis())
    except Exception:  # noqa: BLE001
        return True


def _fresh_sounddevice(sd):
    """A second sounddevice module bound to a private copy of libportaudio: PortAudio's own state, fresh
    (a new JACK client on the server running now). None where that cannot be done."""
    try:
        lib = getattr(sd, "_libname", None)
        path = lib if lib and os.path.isabs(lib) else _library_path(lib)
        if path is None:
            return None
        folder = tempfile.mkdtemp(prefix="bls-portaudio-")
        copy = os.path.join(folder, os.path.basename(path))
        shutil.copyfile(path, copy)
        find = ctypes.util.find_library
        ctypes.util.find_library = lambda name: copy if name == "portaudio" else find(name)
        try:
            spec = importlib.util.spec_from_file_location(f"_bls_sounddevice_{time.monotonic_ns()}", sd.__file__)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            ctypes.util.find_library = find
        _no_terminate_at_exit(module)
        return module
    except Exception:  # noqa: BLE001
        return None


def _library_path(name: str | None) -> str | None:
    """The file the dynamic loader maps for ``name`` (e.g. libportaudio.so.2)."""
    if not name:
        return None
    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            for line in fh:
                path = line.rsplit(" ", 1)[-1].strip()
                if os.path.basename(path) == name or os.path.basename(path).startswith(name + "."):
                    return path
    except OSError:
        pass
    return None


class DeviceClock(_Clock):
    """The sound card's sample clock drives everything; the callback is a thin shim.

    Opened on the PortAudio worker (:func:`open_device`); until the engine's owner token is this
    clock's, the callback plays silence and leaves the engine alone, and so again once it was handed
    to another clock (the engine is never touched by a clock that does not own it).
    """

    is_device = True

    def __init__(self, engine: StimulusEngine, device=None, sd=None):
        super().__init__(engine)
        sd = required_sounddevice(sd)
        self._adopt_stream(sd, sd.OutputStream(samplerate=SAMPLE_RATE, channels=2, dtype="float32", blocksize=0,
                                               latency=REQUESTED_LATENCY_S, device=resolve_output(sd, device),
                                               callback=self._callback))
        self.timestamps_ok = 0
        self.timestamps_bad = 0
        self.closed = False

    def _callback(self, outdata, frames, time_info, status) -> None:
        t_in = time.perf_counter()
        now = time.monotonic()
        if status.output_underflow:
            self.stats.underflows += 1
        if self.engine.owner is not self.token or self.engine.busy:
            # not (or no longer) driving, or the clock it takes over from is still inside process():
            # silence, and the engine is not touched
            outdata.fill(0)
            self.last_block_at = now
            return
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
        self.anchor = self.anchor_at(first, t)
        self.last_block_at = now
        self.stats.record(time.perf_counter() - t_in, frames)

    def start(self) -> None:
        self.last_block_at = time.monotonic()  # the first callback is due within the latency
        self.stream.start()

    def stop(self) -> None:
        """Stop and close the stream (blocking: on the PortAudio worker in the app)."""
        try:
            self.stream.stop()
        finally:
            self.stream.close()
            self.closed = True
            portaudio().streams.discard(self)


def open_device(engine: StimulusEngine, device=None, rescan: bool = False) -> DeviceClock:
    """Open and start ``device`` (on the PortAudio worker): a running clock that plays silence until it
    is given the engine (``engine.owner = clock.token``). Raises what PortAudio raised."""
    pa = portaudio()
    if rescan:
        pa.rescan()
    sd, why = pa.module()
    if sd is None:
        raise RuntimeError(why)
    clock = _device_clock_class(sd)(engine, device, sd)
    pa.streams.add(clock)
    try:
        clock.start()
    except Exception:
        try:
            clock.stream.close()
            pa.streams.discard(clock)
        except Exception:  # noqa: BLE001
            pass
        raise
    return clock


#: ``BLS_AUDIO_PATH=callback`` plays through a Python callback (the design before the ring, for
#: measuring one against the other); the default is the ring with rtmixer's C callback when installed
AUDIO_PATH_ENV = "BLS_AUDIO_PATH"


def _device_clock_class(sd):
    """The ring (rtmixer's C callback, synthesis ahead) unless asked otherwise or rtmixer is missing."""
    from . import ring  # noqa: PLC0415

    if os.environ.get(AUDIO_PATH_ENV, "").strip().lower() == "callback" or ring.available() is not None:
        return DeviceClock
    return ring.RingClock


def close_device(clock, dead: bool = False) -> Future | None:
    """Stop a clock without waiting for it: a device clock's stream is stopped and closed on the PortAudio
    worker (a dead one taints PortAudio's instance: it is never terminated); the stand-in at once."""
    if not getattr(clock, "is_device", False) or not hasattr(clock, "stream"):
        threading.Thread(target=_stop_quietly, args=(clock,), name="bls-clock-close", daemon=True).start()
        return None
    pa = portaudio()
    if dead:
        pa.taint()
    return pa.submit(_stop_quietly, clock, deadline_s=CLOSE_DEADLINE_S)


def _stop_quietly(clock) -> None:
    try:
        clock.stop()
    except Exception:  # noqa: BLE001 - a dead stream may refuse to stop; it is dropped either way
        pass


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


def device_failed_status(exc: Exception, device=None) -> AudioStatus:
    return AudioStatus(False, "No sound: " + explain_audio_error(exc, device),
                       "The target runs on the system clock. Connect headphones and choose the output "
                       f"again under Sound, or choose another one. (For support: {exc})")


def device_status(clock) -> AudioStatus:
    detail = f"output latency {clock.latency_s * 1000:.0f} ms"
    lead = getattr(clock, "lead_s", None)
    if lead:
        detail += f"; sound computed {lead * 1000:.0f} ms ahead"
    return AudioStatus(True, f"Audio: {clock.name}", detail + " (the target follows what is heard)", clock.name)


NOT_RESPONDING = ("the audio output did not respond",
                  "The target runs on the system clock. Check the headphones or the sound server, then choose "
                  "the output again under Sound.")


def open_clock(engine: StimulusEngine, want_audio: bool, device=None, refresh: bool = False,
               ) -> tuple[_Clock, AudioStatus]:
    """The best clock available: the sound card when audio is wanted and works, else the stand-in.

    Waits for the PortAudio worker at most OPEN_DEADLINE_S (for the command line and start-up; the app
    opens an output between sets without waiting, see ClockManager). Never raises for a missing or
    broken device: the returned status says why there is no sound.
    """
    if want_audio:
        pa = portaudio()
        fut = pa.submit(open_device, engine, device, refresh, deadline_s=OPEN_DEADLINE_S)
        try:
            clock = fut.result(timeout=OPEN_DEADLINE_S)
        except TimeoutError:
            fut.add_done_callback(_close_late)
            status = AudioStatus(False, "No sound: " + NOT_RESPONDING[0], NOT_RESPONDING[1])
        except Exception as exc:  # PortAudioError, RuntimeError (no library), ValueError (bad device)
            status = device_failed_status(exc, device)
        else:
            engine.owner = clock.token  # from now on only this clock advances the engine
            return clock, device_status(clock)
    else:
        status = AudioStatus(False, "Audio off", "The target runs on the system clock.")
    clock = MonotonicClock(engine)
    engine.owner = clock.token
    clock.start()
    return clock, status


def _close_late(fut: Future) -> None:
    """An output that opened after it was given up on is closed again (it never had the engine)."""
    if not fut.cancelled() and fut.exception() is None:
        close_device(fut.result())


def refresh_devices() -> None:
    """Make PortAudio look for outputs again (headphones plugged in since become visible), on the
    PortAudio worker; waits at most OPEN_DEADLINE_S; never raises. Not for the GUI thread."""
    try:
        portaudio().call(portaudio().rescan, deadline_s=OPEN_DEADLINE_S)
    except Exception:  # noqa: BLE001 - the old list stays; opening reports any real problem
        pass


def _default_hostapi(sd) -> int | None:
    try:
        return int(sd.query_devices(kind="output")["hostapi"])
    except Exception:  # noqa: BLE001 - no default output
        return None


def output_names(devices, default_hostapi) -> list[str]:
    """Names of the stereo outputs in a device table, each once, the default host API's first.

    One output appears once per host API on some systems (Windows: MME, DirectSound, WASAPI);
    the default host API's outputs are listed, others only under names it does not have.
    """
    devices = [d for d in devices if d["max_output_channels"] >= 2]
    ordered = ([d for d in devices if d["hostapi"] == default_hostapi]
               + [d for d in devices if d["hostapi"] != default_hostapi])
    return list(dict.fromkeys(d["name"] for d in ordered))


def output_devices(refresh: bool = False) -> list[str]:
    """Names of the stereo outputs this process's PortAudio can see (empty if it cannot be loaded).
    In-process and blocking: the app lists them in a child process instead (:class:`OutputLister`)."""
    if refresh:
        refresh_devices()
    sd, _ = import_sounddevice()
    if sd is None:
        return []
    try:
        devices = list(sd.query_devices())
    except Exception:  # noqa: BLE001
        return []
    return output_names(devices, _default_hostapi(sd))


_LIST_CHILD = r"""
import json, os, sys
try:
    import sounddevice as sd
    devices = [{"name": d["name"], "hostapi": d["hostapi"], "max_output_channels": d["max_output_channels"]}
               for d in sd.query_devices()]
    try:
        default = int(sd.query_devices(kind="output")["hostapi"])
    except Exception:
        default = None
    out = {"devices": devices, "default_hostapi": default}
except Exception as exc:
    out = {"error": repr(exc)}
sys.stdout.write(json.dumps(out))
sys.stdout.flush()
os._exit(0)  # never Pa_Terminate: with a JACK server gone it aborts
"""


def list_outputs_in_child(timeout_s: float = LIST_TIMEOUT_S) -> list[str] | None:
    """The outputs as a fresh PortAudio sees them, listed by a short-lived child process: whatever
    PortAudio does (hang, abort) happens there, and this process's PortAudio is left as it is. None if
    the child failed or did not answer within ``timeout_s``."""
    try:
        proc = subprocess.run([sys.executable, "-c", _LIST_CHILD], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout_s, check=False)
        doc = json.loads(proc.stdout.decode("utf-8", "replace") or "{}")
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    if "devices" not in doc:
        return [] if "error" in doc else None
    return output_names(doc["devices"], doc.get("default_hostapi"))


class OutputLister:
    """The output list for the GUI: :meth:`names` returns the last list at once and has it read again
    by a child process on a thread of its own (at most every ``min_interval_s``)."""

    def __init__(self, lister=None, min_interval_s: float = 5.0):
        self._lister = lister
        self.min_interval_s = min_interval_s
        self.last: list[str] = []
        self.version = 0
        self._thread: threading.Thread | None = None
        self._started = -float("inf")

    def names(self) -> list[str]:
        self.refresh()
        return list(self.last)

    def refresh(self, force: bool = False) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        if not force and time.monotonic() - self._started < self.min_interval_s:
            return
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="bls-list-outputs", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        names = (self._lister or list_outputs_in_child)()
        if names is not None:
            self.last = names
            self.version += 1


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
