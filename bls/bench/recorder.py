"""The outside instrument: ffmpeg records the client screen and the audio output of a running design,
and :mod:`bls.bench.external` measures how far apart the target and the tone are.

``scripts/external-sync`` runs this (``python -m bls.bench.recorder --help``). For each design in turn,
on one X server and one JACK server:

1. the design runs as the user runs it, in a process of its own: bls itself (``python -m bls
   --client-screen DUMMY1 --audio-device system --start`` with a preset of one endless set at 1 cycle/s,
   raster or OpenGL client display), a naive baseline (``python -m bls.bench.baseline``: elapsed time
   per paint, or a fixed step per 16 ms tick), or the reference source of known timing
   (``python -m bls.bench.reference``, which measures the recorder's own bias), or the remote client's
   page (``python -m bls.bench.browser``: bls invited on the system clock, the link open in headed
   Chromium full screen on the client monitor, its sound to JACK through the ALSA jack plugin);
2. once its JACK ports exist and it has run ``--settle`` seconds, ONE ffmpeg process records a 2-pixel
   strip across the client screen's middle row (``x11grab`` at 229 grabs/s, a rate that is no multiple of
   the 60 Hz refresh) and the design's two JACK output ports (``-f jack``; ``jack_connect`` joins them
   to ffmpeg's inputs, beside the ports the design plays to), both streams stamped by ffmpeg's own
   wall clock (``-copyts``);
3. the recording is decoded (ffprobe for every packet's timestamp, ffmpeg for raw grey pixels and float
   samples) and analysed.

Nothing of bls's clock is used: the picture's times are ffmpeg's grab times, the sound's are ffmpeg's
JACK cycle times (a line fitted through every packet's timestamp against its first sample's index).
ffmpeg taps the design's output ports, so it gets each period's samples in the JACK cycle that renders
them; JACK says the listener hears them later by the playback latency of the ports they go to
(``jack_lsp -l system:playback_1``: 2048 frames with the dummy driver's 1024-frame periods). That
latency is added to the sound's times ("heard"), the same for every design, so the difference between
two designs does not depend on it, nor on the recorder's own bias between its two streams.

X server: Xorg's dummy driver with two monitors (``bls.bench.xdesk``), started on a free display unless
``--display`` names a running one. JACK: ``jackd -R -d dummy -r 48000 -p 1024`` (real-time, as a laptop's
sound server; ``--no-realtime`` where real-time priority is not allowed) under a name of its own
(``bls-ext-<pid>``), stopped with SIGTERM at the end (JACK's registry has 8 slots).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import external, xdesk

REPO = Path(__file__).resolve().parents[2]
DESIGNS = ("ref", "bls-raster", "bls-opengl", "bls-callback", "naive", "fixed-step", "browser")
DESIGN_LABELS = {
    "ref": "reference source of known timing (JACK + root-window bar, bls.bench.reference)",
    "bls-raster": "bls, raster client display (BLS_DISPLAY=raster)",
    "bls-opengl": "bls, OpenGL client display (BLS_DISPLAY=auto)",
    "bls-callback": "bls as before the ring: Python audio callback, raster display (BLS_AUDIO_PATH=callback)",
    "naive": "naive: elapsed monotonic() per paint, free-running tone",
    "fixed-step": "naive: fixed step per 16 ms timer tick, free-running tone",
    "browser": "the remote client's page in headed Chromium (canvas + AudioWorklet; ALSA jack plugin), "
               "bls invited on the system clock (bls.bench.browser)",
}
GRAB_HZ = 229
def realtime_allowed() -> bool:
    """Whether this process may give a thread real-time (SCHED_FIFO) priority, as a sound server does on
    a real machine (PipeWire/JACK through rtkit, CoreAudio, WASAPI's MMCSS): root, or an rtprio limit."""
    import resource  # noqa: PLC0415 - POSIX only

    try:
        if os.geteuid() == 0:
            return True
        return resource.getrlimit(resource.RLIMIT_RTPRIO)[0] > 0
    except (AttributeError, OSError, ValueError):
        return False


def jackd_args(period: int = 1024, realtime: bool | None = None) -> list[str]:
    """jackd's arguments for the dummy driver at real-time pace: a real-time server where allowed (what
    a laptop's sound server is), else ``--no-realtime`` (its own thread then misses periods under load:
    those xruns are the server's, whatever its clients do)."""
    if realtime is None:
        realtime = realtime_allowed()
    return [*(["-R"] if realtime else ["--no-realtime"]), "-d", "dummy", "-r", "48000", "-p", str(int(period))]
SR = 48_000
PRESET_NAME = "external-sync"
#: the sound's first half second is left out: jack_connect joins the left port a few ms before the right
SOUND_SKIP_S = 0.5


def missing_tools() -> str | None:
    for tool in ("ffmpeg", "ffprobe", "jackd", "jack_wait", "jack_lsp", "jack_connect"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install ffmpeg jackd2)"
    return None


def ffmpeg_has_inputs() -> str | None:
    out = subprocess.run(["ffmpeg", "-hide_banner", "-devices"], capture_output=True, text=True).stdout
    for dev in ("x11grab", "jack"):
        if not re.search(rf"^\s*D\S*\s+{dev}\b", out, re.M):
            return f"this ffmpeg has no {dev} input device"
    return None


# ------------------------------------------------------------------------------------------------ JACK

class Jack:
    """A private JACK server on the dummy driver."""

    def __init__(self, workdir: Path, name: str | None = None, args: list[str] | None = None):
        self.name = name or f"bls-ext-{os.getpid()}"
        self.args = args or jackd_args()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.vars = {"JACK_DEFAULT_SERVER": self.name, "JACK_NO_AUDIO_RESERVATION": "1"}
        self.env = dict(os.environ, **self.vars)

    def start(self) -> Jack:
        try:
            return self._start()
        except RuntimeError:
            if "-R" not in self.args:
                raise
            self.args = ["--no-realtime" if a == "-R" else a for a in self.args]  # no real-time here after all
            return self._start()

    @property
    def realtime(self) -> bool:
        return "-R" in self.args

    def _start(self) -> Jack:
        with open(self.workdir / "jackd.log", "w") as log:
            self.proc = subprocess.Popen(["jackd", "-n", self.name, *self.args], env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        ok = subprocess.run(["jack_wait", "-w", "-t", "10"], env=self.env, capture_output=True,
                            timeout=20).returncode == 0
        if not ok or self.proc.poll() is not None:
            text = (self.workdir / "jackd.log").read_text(errors="replace")
            self.stop()
            raise RuntimeError(f"jackd {self.name} did not start:\n{text[-500:]}")
        return self

    def stop(self) -> None:
        """SIGTERM (the server frees its registry slot), SIGKILL only if it will not go."""
        xdesk.stop_process(self.proc)

    def ports(self) -> list[str]:
        out = subprocess.run(["jack_lsp"], env=self.env, capture_output=True, text=True, timeout=10).stdout
        return [ln.strip() for ln in out.splitlines() if ln.strip()]

    def playback_latency_frames(self, port: str = "system:playback_1") -> int:
        out = subprocess.run(["jack_lsp", "-l", port], env=self.env, capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"playback latency = \[\s*(\d+)\s+(\d+)\s*\]", out)
        if not m:
            raise RuntimeError(f"no playback latency for {port}: {out!r}")
        return int(m.group(2))

    def connect(self, a: str, b: str) -> None:
        subprocess.run(["jack_connect", a, b], env=self.env, check=True, capture_output=True, timeout=10)


# --------------------------------------------------------------------------------------------- designs

def _preset_dir(workdir: Path) -> Path:
    """A private config dir with one preset: the standard look and tone, 1 cycle/s, one endless set."""
    cfg = workdir / "config"
    (cfg / "presets").mkdir(parents=True, exist_ok=True)
    text = (REPO / "presets" / "standard.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^name: .*$", f"name: {PRESET_NAME}", text)
    text = re.sub(r"(?m)^(\s*set_mode:) .*$", r"\1 free", text)
    (cfg / "presets" / f"{PRESET_NAME}.yaml").write_text(text, encoding="utf-8")
    return cfg


def design_command(design: str, screen: str, device: str, seconds: float, log: Path, geometry=None,
                   latency_frames: int | None = None, display: str | None = None) -> tuple[list[str], dict]:
    py = sys.executable
    if design == "ref":
        return ([py, "-m", "bls.bench.reference", "--display", str(display), "--screen", ",".join(map(str, geometry)),
                 "--latency-frames", str(latency_frames), "--seconds", f"{seconds:.0f}"], {})
    if design in ("bls-raster", "bls-opengl", "bls-callback"):
        extra = {"BLS_DISPLAY": "auto" if design == "bls-opengl" else "raster"}
        if design == "bls-callback":
            extra["BLS_AUDIO_PATH"] = "callback"
        return ([py, "-m", "bls", "--preset", PRESET_NAME, "--client-screen", screen, "--audio-device", device,
                 "--start", "--exit-after", f"{seconds:.0f}", "--log", str(log)], extra)
    if design in ("naive", "fixed-step"):
        return ([py, "-m", "bls.bench.baseline", "--design", "elapsed" if design == "naive" else "fixed-step",
                 "--client-screen", screen, "--audio-device", device, "--seconds", f"{seconds:.0f}"], {})
    if design == "browser":
        return ([py, "-m", "bls.bench.browser", "--screen", ",".join(map(str, geometry)), "--seconds", f"{seconds:.0f}",
                 "--workdir", str(log.parent / "chromium"), "--log", str(log)], {})
    raise ValueError(f"unknown design {design!r}; expected one of {', '.join(DESIGNS)}")


def _design_ports(jack: Jack, before: set[str]) -> list[str]:
    new = [p for p in jack.ports() if p not in before and not p.startswith("system:")]
    outs = sorted(p for p in new if re.search(r":out_\d+$", p))
    return outs if len(outs) >= 2 else []


# ------------------------------------------------------------------------------------------- recording

def record(env: dict, jack: Jack, strip: tuple[int, int, int], ports: list[str], seconds: float, out: Path,
           workdir: Path) -> None:
    """ffmpeg: the strip (x, y, width; 2 rows) and the JACK ports, ``seconds`` long, into ``out`` (NUT)."""
    x, y, w = strip
    client = f"extsync{os.getpid()}"
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-y", "-copyts",
           "-thread_queue_size", "4096", "-t", f"{seconds}", "-f", "x11grab", "-draw_mouse", "0",
           "-framerate", str(GRAB_HZ), "-video_size", f"{w}x2", "-i", f"{env['DISPLAY']}+{x},{y}",
           "-thread_queue_size", "4096", "-t", f"{seconds}", "-f", "jack", "-channels", "2", "-i", client,
           "-map", "0:v", "-map", "1:a", "-c:v", "rawvideo", "-pix_fmt", "gray", "-c:a", "pcm_f32le",
           "-fps_mode", "passthrough", "-f", "nut", str(out)]
    with open(workdir / "ffmpeg.log", "a") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        inputs = xdesk.wait_for(lambda: (proc.poll() is None or _fail(workdir)) and sorted(
            p for p in jack.ports() if p.startswith(f"{client}:")), 15, "ffmpeg's JACK input ports")
        for a, b in zip(ports, inputs):
            jack.connect(a, b)
        proc.wait(timeout=seconds + 60)
    finally:
        xdesk.stop_process(proc)
    if proc.returncode != 0 or not out.exists():
        _fail(workdir)


def _fail(workdir: Path):
    text = (workdir / "ffmpeg.log").read_text(errors="replace")
    raise RuntimeError(f"ffmpeg failed:\n{text[-800:]}")


def _packets(path: Path, stream: str) -> np.ndarray:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries",
                          "packet=pts_time,duration_time", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout
    rows = [ln.split(",") for ln in out.splitlines() if ln.strip()]
    return np.array([[float(a), float(b) if b not in ("", "N/A") else np.nan] for a, b in rows]).reshape(-1, 2)


def decode(path: Path, width: int) -> dict:
    """Grab times and pixels ``(grabs, 2, width)``; samples ``(frames, 2)`` and the line through the
    audio packets' timestamps: time of sample 0 and samples per second of ffmpeg's clock."""
    vp = _packets(path, "v:0")
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough",
                          "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, dtype=np.uint8)
    n = frames.size // (2 * width)
    if n != len(vp):
        raise RuntimeError(f"{n} video frames decoded for {len(vp)} packets")
    profiles = frames[: n * 2 * width].reshape(n, 2, width)
    ap = _packets(path, "a:0")
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "f32le", "-c:a",
                          "pcm_f32le", "-"], capture_output=True, check=True).stdout
    samples = np.frombuffer(pcm, dtype="<f4").reshape(-1, 2)
    sizes = np.round(ap[:, 1] * SR).astype(np.int64)
    if sizes.sum() != len(samples):
        raise RuntimeError(f"{len(samples)} samples decoded for {sizes.sum()} in the packets")
    # periods JACK never delivered (an xrun): the next packet's timestamp jumps by more than the packet;
    # the missing stretch is filled with silence, so every sample keeps its place on one timeline
    extra = np.diff(ap[:, 0]) - sizes[:-1] / SR
    missing = np.where(extra > 0.5 * sizes[:-1] / SR, np.round(extra * SR), 0).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(sizes[:-1] + missing)])
    if missing.any():
        filled = np.zeros((int(first[-1] + sizes[-1]), 2), dtype=samples.dtype)
        src = np.concatenate([[0], np.cumsum(sizes)])
        for i in range(len(sizes)):
            filled[first[i]:first[i] + sizes[i]] = samples[src[i]:src[i + 1]]
        samples = filled
    # the line through every packet (timestamp against its first sample), after ffmpeg's time filter
    # settled (the first second)
    settled = ap[:, 0] >= ap[0, 0] + 1.0
    if settled.sum() < 10:
        settled[:] = True
    slope, t0 = np.polyfit(first[settled].astype(np.float64), ap[settled, 0] - ap[0, 0], 1)
    t0 += ap[0, 0]
    resid = ap[settled, 0] - (t0 + slope * first[settled])
    return {"video_t": vp[:, 0], "profiles": profiles, "samples": samples, "audio_t0": float(t0),
            "audio_rate": float(1.0 / slope), "audio_line_resid_max_ms": float(np.abs(resid).max() * 1000.0),
            "audio_packets": int(len(ap)), "audio_gaps": int((missing > 0).sum()),
            "audio_gap_ms": float(missing.sum() / SR * 1000.0)}


# ---------------------------------------------------------------------------------------------- a run

@contextlib.contextmanager
def signals_held():
    """Ctrl-C and SIGTERM wait until the block ends, then act as usual (main thread only; elsewhere a
    no-op): what the block starts is known to its caller before any interruption can unwind."""
    try:
        held: list[int] = []
        previous = {sig: signal.signal(sig, lambda signum, _frame: held.append(signum))
                    for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: Python delivers signals there only
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(held):
            signal.raise_signal(sig)


@contextlib.contextmanager
def busy_loops(n: int):
    """``n`` processes that each keep one core busy (pure Python loops), for a run under load; all of
    them stopped when the block ends, however it ends (each is started and remembered with signals
    held, so a Ctrl-C that lands while one starts cannot leave it running)."""
    hogs: list[subprocess.Popen] = []
    try:
        for _ in range(n):
            with signals_held():
                hogs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                             start_new_session=True))
        yield hogs
    finally:
        for hog in hogs:
            xdesk.stop_process(hog)


def run_design(design: str, desk_env: dict, jack: Jack, strip: tuple[int, int, int], screen: str, seconds: float,
               settle: float, workdir: Path, keep: bool, geometry=None, load: int = 0) -> dict:
    """Run one design, record it, analyse; the figures and what the run was."""
    wd = workdir / design
    wd.mkdir(parents=True, exist_ok=True)
    log = wd / "record.json"
    latency = jack.playback_latency_frames()
    cmd, extra = design_command(design, screen, "system", seconds + settle + 60, log, geometry, latency,
                                desk_env.get("DISPLAY"))
    env = dict(desk_env)
    env.pop("BLS_AUDIO_PATH", None)  # each design's own audio path, never the caller's
    env.update(jack.vars, **extra, BLS_CONFIG_DIR=str(_preset_dir(wd)),
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
    env.pop("BLS_AUDIO_DEVICE", None)
    before = set(jack.ports())
    proc = None
    with busy_loops(load):
        try:
            with open(wd / "design.log", "w") as out:
                proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

            def ports():
                if proc.poll() is not None:
                    raise RuntimeError(f"{design} ended early ({proc.returncode}): "
                                       + (wd / "design.log").read_text(errors="replace")[-600:])
                return _design_ports(jack, before)
            outs = xdesk.wait_for(ports, 60, f"{design}'s JACK output ports")
            deadline = time.monotonic() + settle  # the set's fade-in and speed ramp are over
            xdesk.wait_for(lambda: ports() and time.monotonic() >= deadline, settle + 5, f"{design} to settle")
            rec = wd / "recording.nut"
            t_rec = time.time()
            clocks0 = (time.clock_gettime(time.CLOCK_MONOTONIC), time.clock_gettime(time.CLOCK_MONOTONIC_RAW))
            record(dict(desk_env, **jack.vars), jack, strip, outs[:2], seconds, rec, wd)
            clocks1 = (time.clock_gettime(time.CLOCK_MONOTONIC), time.clock_gettime(time.CLOCK_MONOTONIC_RAW))
            alive = proc.poll() is None
        finally:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # bls and the baseline end gracefully on SIGTERM
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    xdesk.stop_process(proc)
    data = decode(rec, strip[2])
    origin = float(np.floor(data["video_t"][0]))
    r = external.measure_offset(data["video_t"] - origin, data["profiles"], data["audio_t0"] - origin + latency / SR,
                                data["audio_rate"], data["samples"], sound_skip_s=SOUND_SKIP_S)
    display = page = None
    try:
        doc = json.loads(log.read_text(encoding="utf-8"))
        display = doc["sets"][0].get("display")
        page = page_figures(doc.get("page_states"))
        if page is not None:
            page["page_errors"] = doc["sets"][0].get("page_errors")  # uncaught errors in the page's scripts
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        pass
    if not keep:
        rec.unlink(missing_ok=True)
    kinds = {"naive": "raster (naive elapsed-time window)", "fixed-step": "raster (naive fixed-step window)",
             "ref": "X root window, XFillRectangle + XSync"}
    return {"design": design, "label": DESIGN_LABELS[design], "display_kind": display or kinds.get(design),
            "log_tail": (wd / "design.log").read_text(errors="replace")[-400:],
            "alive_through_recording": alive, "recorded_at": dt.datetime.fromtimestamp(t_rec, dt.timezone.utc)
            .isoformat(timespec="seconds"), "seconds": seconds, "command": cmd, "env": extra,
            "busy_loops": load, "jack_playback_latency_frames": latency, "page": page,
            # JACK (jack2 on Linux) keeps CLOCK_MONOTONIC_RAW; the picture of bls and of the baseline keeps
            # CLOCK_MONOTONIC, which NTP steers: the dummy "sound card" runs off the system clock by this
            "raw_minus_system_ppm": ((clocks1[1] - clocks0[1]) - (clocks1[0] - clocks0[0]))
            / (clocks1[0] - clocks0[0]) * 1e6,
            "audio_rate_hz": data["audio_rate"],
            "audio_line_resid_max_ms": data["audio_line_resid_max_ms"], "audio_packets": data["audio_packets"],
            "audio_gaps": data["audio_gaps"], "audio_gap_ms": data["audio_gap_ms"],
            "analysis": r.summary(), "window_t_s": r.window_t, "window_offsets_ms": r.window_offsets_ms}


def page_figures(states) -> dict | None:
    """The browser page's own figures over the run (``bls.bench.browser``'s log): what it says of its A/V
    offset (its picture's line against its tone's, 0 by construction), the frames it dropped, and the
    AudioContext's output and base latency as Chromium reports them."""
    if not states:
        return None
    running = [s for s in states if s.get("clock")]

    def last(key):
        vals = [s.get(key) for s in running if isinstance(s.get(key), (int, float))]
        return vals[-1] if vals else None
    offs = [s["avOffsetMs"] for s in running if isinstance(s.get("avOffsetMs"), (int, float))]
    return {"states": len(states), "clock_running": len(running),
            "own_av_offset_max_abs_ms": max((abs(v) for v in offs), default=None),
            "dropped_frames": last("dropped"), "output_latency_s": last("outputLatencyS"),
            "base_latency_s": last("baseLatencyS"), "set_state": running[-1].get("setState") if running else None,
            "invalid": last("invalid"), "errors": last("errors")}


ROWS = [
    ("grabs (valid / absent / torn)", lambda a: f"{a['grabs']} ({a['grabs_valid']}/{a['grabs_absent']}/{a['grabs_torn']})"),
    ("frames seen (onsets), rate", lambda a: f"{a['onsets']}, {_n(a['frame_rate_hz'], '.1f')} Hz"),
    ("frame interval p50 / p99 / max (ms)", lambda a: f"{_n(a['frame_interval_p50_ms'], '.1f')} / "
     f"{_n(a['frame_interval_p99_ms'], '.1f')} / {_n(a['frame_interval_max_ms'], '.1f')}"),
    ("frames held > 1.5 intervals", lambda a: f"{a['frames_held_long']} of {a['frame_intervals']}"),
    ("correlation picture/sound", lambda a: _n(a["correlation"], ".5f")),
    ("fitted half-width, centre (px)", lambda a: f"{_n(a['half_width_px'], '.1f')}, {_n(a['centre_px'], '.1f')}"),
    ("offset, whole run (ms)", lambda a: _n(a["offset_ms"], "+.2f")),
    ("windows (2 s): mean (ms)", lambda a: _n(a["window_mean_ms"], "+.2f")),
    ("windows: sd (ms)", lambda a: _n(a["window_sd_ms"], ".2f")),
    ("windows: p99 |.| / max |.| (ms)", lambda a: f"{_n(a['window_p99_abs_ms'], '.2f')} / {_n(a['window_max_abs_ms'], '.2f')}"),
    ("frames: mean / sd (ms)", lambda a: f"{_n(a['onset_mean_ms'], '+.2f')} / {_n(a['onset_sd_ms'], '.2f')}"),
    ("frames: p99 |.| / max |.| (ms)", lambda a: f"{_n(a['onset_p99_abs_ms'], '.2f')} / {_n(a['onset_max_abs_ms'], '.2f')}"),
    ("drift (ms per 10 min, ± se)", lambda a: f"{_n(a['drift_ms_per_10min'], '+.2f')} ± {_n(a['drift_se_ms_per_10min'], '.2f')}"),
]


def _n(v, fmt: str) -> str:
    return "n/a" if v is None else format(v, fmt)


def table(results: list[dict]) -> str:
    names = [r["design"] for r in results]
    w = max(24, *(len(n) + 2 for n in names))
    lines = [f"{'figure':34s}" + "".join(f"{n:>{w}s}" for n in names), "-" * (34 + w * len(names))]
    for label, f in ROWS:
        lines.append(f"{label:34s}" + "".join(f"{f(r['analysis']):>{w}s}" for r in results))
    # the recording itself: periods JACK never delivered, and how far ffmpeg's audio timestamps strayed
    # from the line through them (about 1 ms is its time filter; more: the recorder was starved)
    lines.append(f"{'audio gaps (ms), stamps off line':34s}" + "".join(
        f"{r['audio_gaps']} ({r['audio_gap_ms']:.0f}), {r['audio_line_resid_max_ms']:.1f} ms".rjust(w) for r in results))
    ref = next((r for r in results if r["design"] == "ref"), None)
    designs = [r for r in results if r["design"] != "ref"]
    if ref is not None and ref["analysis"]["window_mean_ms"] is not None:
        bias = ref["analysis"]["window_mean_ms"]
        lines.append(f"recorder bias (the reference's offset, window mean): {bias:+.2f} ms; offsets without it:")
        for r in designs:
            m = r["analysis"]["window_mean_ms"]
            lines.append(f"  {r['design']}: {'n/a' if m is None else format(m - bias, '+.2f') + ' ms'}")
    if designs:
        base = designs[0]
        for r in designs[1:]:
            a, b = r["analysis"]["window_mean_ms"], base["analysis"]["window_mean_ms"]
            diff = "n/a" if a is None or b is None else f"{a - b:+.2f} ms"
            lines.append(f"difference {r['design']} - {base['design']} (window means; the recorder's bias cancels): {diff}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/external-sync", description=(
        "Record each design's client screen and audio output with ffmpeg (x11grab + JACK, one process, its "
        "own clock) and measure the A/V offset from outside. Positive offset: the picture is ahead of the sound."))
    p.add_argument("--designs", default="ref,bls-raster,naive",
                   help=f"comma-separated, run in this order; the first design other than ref is the base of the "
                        f"differences; ref measures the recorder's bias (default ref,bls-raster,naive; choices: "
                        f"{', '.join(DESIGNS)})")
    p.add_argument("--seconds", type=float, default=60.0, help="recording length per design (default 60)")
    p.add_argument("--settle", type=float, default=4.0,
                   help="seconds a design runs before the recording starts (default 4: past the fade-in)")
    p.add_argument("--display", help="a running X server (e.g. :97) whose --client-screen monitor to record; "
                                     "default: start Xorg's dummy driver on a free display")
    p.add_argument("--client-screen", default="DUMMY1", help="RandR monitor of the client display (default DUMMY1)")
    p.add_argument("--load", type=int, default=0, metavar="N",
                   help="run N busy loops (one core each) while each design runs and is recorded (default 0)")
    p.add_argument("--jack-period", type=int, default=1024, metavar="FRAMES",
                   help="the JACK dummy server's period (default 1024: 2048 frames of declared playback latency)")
    p.add_argument("--json", help="write every figure (and the per-window offsets) to this file")
    p.add_argument("--keep", help="keep the work files (recordings, logs) in this folder")
    a = p.parse_args(argv)
    designs = [d.strip() for d in a.designs.split(",") if d.strip()]
    for d in designs:
        if d not in DESIGNS:
            p.error(f"unknown design {d!r}; choices: {', '.join(DESIGNS)}")
    why = missing_tools() or ffmpeg_has_inputs()
    if not why and "browser" in designs:
        from . import browser  # noqa: PLC0415 - Playwright only for this design

        why = browser.missing()
    if why:
        print(f"external-sync: {why}", file=sys.stderr)
        return 2
    tmp = None
    if a.keep:
        workdir = Path(a.keep)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bls-external-")
        workdir = Path(tmp.name)
    desk = jack = None
    try:
        if a.display:
            env = dict(os.environ, DISPLAY=a.display, QT_QPA_PLATFORM="xcb")
            mons = xdesk.XDesk(int(a.display.lstrip(":").split(".")[0]), workdir, env).monitors()
        else:
            n = xdesk.free_display(97)
            if n is None:
                print("external-sync: no free X display number", file=sys.stderr)
                return 2
            desk = xdesk.XDesk(n, workdir).start()
            env, mons = desk.env, desk.monitors()
        if a.client_screen not in mons:
            print(f"external-sync: no monitor {a.client_screen} on {env['DISPLAY']}: {sorted(mons)}", file=sys.stderr)
            return 2
        cx, cy, cw, ch = mons[a.client_screen]
        strip = (cx, cy + ch // 2 - 1, cw)  # rows h/2 - 1 and h/2: through the target's centre (y = h/2)
        jack = Jack(workdir, args=jackd_args(a.jack_period)).start()
        results = []
        for d in designs:
            print(f"external-sync: {d}: {a.settle:.0f} s to settle, then {a.seconds:.0f} s recorded ...",
                  file=sys.stderr, flush=True)
            results.append(run_design(d, env, jack, strip, a.client_screen, a.seconds, a.settle, workdir,
                                      bool(a.keep), (cx, cy, cw, ch), a.load))
        ff = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.splitlines()[0]
        meta = {"date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, {platform.platform()}",
                "ffmpeg": ff, "jackd": " ".join(["jackd", *jack.args]), "grab_hz": GRAB_HZ,
                "strip": {"x": strip[0], "y": strip[1], "width": strip[2], "rows": 2},
                "busy_loops": a.load, "display": env["DISPLAY"], "command": " ".join(["scripts/external-sync", *(argv or sys.argv[1:])]),
                "offset_sign": "picture minus sound: positive = the picture is ahead (the sound is late)"}
        print(f"A/V offset measured from outside (ffmpeg x11grab {GRAB_HZ}/s + JACK, {a.seconds:.0f} s per design"
              + (f", {a.load} busy loops running)" if a.load else ")"))
        ppm = np.mean([r["raw_minus_system_ppm"] for r in results])
        print(f"  JACK's clock (CLOCK_MONOTONIC_RAW) ran {ppm:+.1f} ppm off the system clock (CLOCK_MONOTONIC): "
              f"a tone on JACK's clock and a picture on the system's drift apart by {-ppm * 0.6:+.2f} ms per 10 min")
        for r in results:
            print(f"  {r['design']}: {r['label']}; display: {r['display_kind']}; heard = JACK cycle + "
                  f"{r['jack_playback_latency_frames']} frames")
            pg = r.get("page")
            if pg:
                print(f"    the page's own figures: A/V offset max |.| {_n(pg['own_av_offset_max_abs_ms'], '.2f')} ms, "
                      f"frames dropped {pg['dropped_frames']}, AudioContext outputLatency "
                      f"{_n(pg['output_latency_s'] and pg['output_latency_s'] * 1000, '.1f')} ms, baseLatency "
                      f"{_n(pg['base_latency_s'] and pg['base_latency_s'] * 1000, '.1f')} ms")
        print(table(results))
        if a.json:
            Path(a.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2, default=float))
        return 0
    finally:
        if jack is not None:
            jack.stop()
        if desk is not None:
            desk.stop()
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
