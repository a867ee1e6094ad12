"""A reference source of known timing, to calibrate the outside instrument's own bias.

Not bls, no Qt, no PortAudio: a JACK client (libjack through ctypes) and plain X drawing on the root
window (libX11 through ctypes), both placed on one clock.

JACK's clock is jack2's CLOCK_MONOTONIC_RAW on Linux; the picture is timed on whichever of the
monotonic clocks JACK's time matches (checked at start).

- The sound: a 440 Hz tone panned (constant power) to s(t) = sin(2π f (t − T0)), where t is the moment
  JACK says the sample is heard: the cycle's start (``jack_frames_to_time(jack_last_frame_time())``)
  plus the sample's place in the period plus the playback latency (``--latency-frames``).
- The picture: a bright bar on a dark band across the client screen's middle rows, redrawn every
  1/60 s at x = centre + half-width·s(t), t the moment of drawing: the bar is drawn for the time the
  drawing request is expected to be done (the start plus half the last request's round trip) and the
  round trip (``XSync``) is timed, so each frame's time is known to within half of it.

So by construction the picture and the sound agree to within the draw round trip: whatever offset the
instrument measures on this source is the instrument's own bias, which ``scripts/external-sync``
subtracts from the designs' offsets (``--designs ref,...``).
"""

from __future__ import annotations

import argparse
import ctypes
import signal
import sys
import time

import numpy as np

SR_DEFAULT = 48_000
CARRIER_HZ = 440.0
AMPLITUDE = 0.06
BAR_HALF_WIDTH = 27  # px: the standard target's diameter on a 1080-px screen
BAND_HALF_HEIGHT = 30
BG = 0x1D2126
FG = 0xE8E4DA

_PROCESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p)


class JackTone:
    def __init__(self, name: str, speed: float, t0: float, latency_frames: int):
        j = ctypes.CDLL("libjack.so.0")
        j.jack_client_open.restype = ctypes.c_void_p
        j.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        j.jack_port_register.restype = ctypes.c_void_p
        j.jack_port_register.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                                         ctypes.c_ulong]
        j.jack_set_process_callback.argtypes = [ctypes.c_void_p, _PROCESS, ctypes.c_void_p]
        j.jack_activate.argtypes = [ctypes.c_void_p]
        j.jack_deactivate.argtypes = [ctypes.c_void_p]
        j.jack_client_close.argtypes = [ctypes.c_void_p]
        j.jack_get_sample_rate.restype = ctypes.c_uint32
        j.jack_get_sample_rate.argtypes = [ctypes.c_void_p]
        j.jack_last_frame_time.restype = ctypes.c_uint32
        j.jack_last_frame_time.argtypes = [ctypes.c_void_p]
        j.jack_frames_to_time.restype = ctypes.c_uint64
        j.jack_frames_to_time.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        j.jack_get_time.restype = ctypes.c_uint64
        j.jack_frames_since_cycle_start.restype = ctypes.c_uint32
        j.jack_frames_since_cycle_start.argtypes = [ctypes.c_void_p]
        j.jack_port_get_buffer.restype = ctypes.POINTER(ctypes.c_float)
        j.jack_port_get_buffer.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        j.jack_connect.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        self.j = j
        status = ctypes.c_int(0)
        self.client = j.jack_client_open(name.encode(), 1, ctypes.byref(status))  # JackNoStartServer
        if not self.client:
            raise RuntimeError(f"cannot open a JACK client (status {status.value:#x})")
        self.sr = int(j.jack_get_sample_rate(self.client))
        self.ports = [j.jack_port_register(self.client, f"out_{i}".encode(), b"32 bit float mono audio", 2, 0)
                      for i in range(2)]  # JackPortIsOutput
        self.speed, self.t0, self.latency = speed, t0, latency_frames
        self.cycles = 0
        self.wake_frames: list[int] = []  # frames since the cycle's start when this callback began
        self._cb = _PROCESS(self._process)  # kept referenced for as long as the client lives
        j.jack_set_process_callback(self.client, self._cb, None)

    def clock_offset_us(self, clock_id: int) -> float:
        """JACK's time minus the clock ``clock_id`` (µs): ~0 when JACK keeps that clock's time."""
        best = None
        for _ in range(20):
            a = time.clock_gettime_ns(clock_id) / 1000.0
            t = float(self.j.jack_get_time())
            b = time.clock_gettime_ns(clock_id) / 1000.0
            if best is None or b - a < best[1]:
                best = (t - (a + b) / 2.0, b - a)
        return best[0]

    def _process(self, nframes, _arg) -> int:
        self.wake_frames.append(self.j.jack_frames_since_cycle_start(self.client))
        f0 = self.j.jack_last_frame_time(self.client)
        t_cycle = self.j.jack_frames_to_time(self.client, f0) / 1e6
        t = t_cycle + (np.arange(nframes) + self.latency) / self.sr  # when each sample is heard
        s = np.sin(2.0 * np.pi * self.speed * (t - self.t0))
        theta = (s + 1.0) * np.pi / 4.0
        carrier = AMPLITUDE * np.sin(2.0 * np.pi * CARRIER_HZ * t)
        for port, gain in zip(self.ports, (np.cos(theta), np.sin(theta))):
            buf = np.ctypeslib.as_array(self.j.jack_port_get_buffer(port, nframes), shape=(nframes,))
            buf[:] = gain * carrier
        self.cycles += 1
        return 0

    def start(self) -> None:
        if self.j.jack_activate(self.client) != 0:
            raise RuntimeError("cannot activate the JACK client")
        for i in range(2):  # beside the recorder, to the (dummy) speakers, as any player
            self.j.jack_connect(self.client, f"{self.name()}:out_{i}".encode(), f"system:playback_{i + 1}".encode())

    def name(self) -> str:
        self.j.jack_get_client_name.restype = ctypes.c_char_p
        self.j.jack_get_client_name.argtypes = [ctypes.c_void_p]
        return self.j.jack_get_client_name(self.client).decode()

    def close(self) -> None:
        self.j.jack_deactivate(self.client)
        self.j.jack_client_close(self.client)


class RootBar:
    """A bar drawn straight onto the root window, over the client screen's middle rows."""

    def __init__(self, display: str | None, x0: int, y0: int, width: int, height: int):
        x = ctypes.CDLL("libX11.so.6")
        x.XOpenDisplay.restype = ctypes.c_void_p
        x.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x.XDefaultScreen.argtypes = [ctypes.c_void_p]
        x.XRootWindow.restype = ctypes.c_ulong
        x.XRootWindow.argtypes = [ctypes.c_void_p, ctypes.c_int]
        x.XCreateGC.restype = ctypes.c_void_p
        x.XCreateGC.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p]
        x.XSetForeground.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong]
        x.XFillRectangle.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint]
        x.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.x = x
        self.dpy = x.XOpenDisplay(display.encode() if display else None)
        if not self.dpy:
            raise RuntimeError(f"cannot open X display {display!r}")
        self.root = x.XRootWindow(self.dpy, x.XDefaultScreen(self.dpy))
        self.gc = x.XCreateGC(self.dpy, self.root, 0, None)
        self.x0, self.width = x0, width
        self.top = y0 + height // 2 - BAND_HALF_HEIGHT
        self.last: int | None = None
        self._fill(BG, 0, width)
        x.XSync(self.dpy, 0)

    def _fill(self, colour: int, left: int, w: int) -> None:
        self.x.XSetForeground(self.dpy, self.gc, colour)
        self.x.XFillRectangle(self.dpy, self.root, self.gc, self.x0 + left, self.top, w, 2 * BAND_HALF_HEIGHT)

    def draw(self, centre_px: float) -> None:
        """The bar centred on ``centre_px`` (client-screen x); the old one erased; returns when the server
        has done it (XSync)."""
        left = int(round(centre_px)) - BAR_HALF_WIDTH
        if self.last is not None:
            self._fill(BG, self.last, 2 * BAR_HALF_WIDTH + 1)
        self._fill(FG, left, 2 * BAR_HALF_WIDTH + 1)
        self.x.XSync(self.dpy, 0)
        self.last = left


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bls.bench.reference", description=__doc__.split("\n\n")[0])
    p.add_argument("--display")
    p.add_argument("--screen", required=True, help="the client screen's X,Y,WIDTH,HEIGHT in root coordinates")
    p.add_argument("--latency-frames", type=int, required=True, help="JACK's playback latency of the speakers")
    p.add_argument("--seconds", type=float, default=3600.0)
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--sweep", type=float, default=0.85, help="share of the screen width swept (default 0.85)")
    p.add_argument("--refresh", type=float, default=60.0)
    a = p.parse_args(argv)
    x0, y0, w, h = (int(v) for v in a.screen.split(","))
    half = min(a.sweep * w / 2.0, w / 2.0 - BAR_HALF_WIDTH)
    tone = JackTone("blsref", a.speed, 0.0, a.latency_frames)
    # JACK's time is one of the system's monotonic clocks (jack2 on Linux: CLOCK_MONOTONIC_RAW, which the
    # NTP frequency correction does not steer): the picture is timed on the same one
    clocks = [(c, tone.clock_offset_us(c)) for c in (time.CLOCK_MONOTONIC_RAW, time.CLOCK_MONOTONIC)]
    clock_id, offset_us = min(clocks, key=lambda c: abs(c[1]))
    if abs(offset_us) > 200:
        print(f"reference: JACK's clock is {offset_us / 1000:.3f} ms or more off the system's monotonic clocks: "
              "not usable", file=sys.stderr)
        return 2

    def now() -> float:
        return time.clock_gettime(clock_id)

    t0 = tone.t0 = now() + 0.5
    bar = RootBar(a.display, x0, y0, w, h)
    tone.start()
    stop = [False]
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.__setitem__(0, True))
    period = 1.0 / a.refresh
    half_trip = 0.0
    trips = []
    t_next = now()
    end = t_next + a.seconds
    while not stop[0] and now() < end:
        t_next += period
        delay = t_next - now()
        if delay > 0:
            time.sleep(delay)
        else:
            t_next = now()
        t_b = now()
        s = np.sin(2.0 * np.pi * a.speed * (t_b + half_trip - t0))
        bar.draw(w / 2.0 + half * s)
        trip = now() - t_b
        trips.append(trip)
        half_trip += 0.1 * (trip / 2.0 - half_trip)
    trips_ms = np.array(trips) * 1000.0
    wake_ms = np.array(tone.wake_frames[10:] or [0]) / tone.sr * 1000.0
    print(f"reference: {len(trips)} frames; draw round trip mean {trips_ms.mean():.3f} ms, p99 "
          f"{np.percentile(trips_ms, 99):.3f} ms; JACK clock - clock {clock_id} {offset_us:+.1f} us; {tone.cycles} JACK cycles; "
          f"callback began {np.median(wake_ms):.3f} ms (median; mean {wake_ms.mean():.3f}, p99 "
          f"{np.percentile(wake_ms, 99):.3f}) after the cycle's start",
          file=sys.stderr, flush=True)
    tone.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
