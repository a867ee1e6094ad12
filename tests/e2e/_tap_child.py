"""Run in a subprocess by test_audio_tap.py: a real PortAudio stream into the ALSA file tap.

ALSA_CONFIG_PATH and BLS_AUDIO_TAP must be set before sounddevice is imported, which is why this runs
in its own process. Usage:

    python _tap_child.py play PRESET STOP_AFTER_S TAIL_S [DEVICE [STALL_AT_S STALL_S]]
        # set at frame 0, Esc after STOP_AFTER_S of rendered frames, on "tap" or DEVICE; with STALL_*, the
        # engine holds up whoever renders it once, for STALL_S, at STALL_AT_S (a thread kept from running)
    python _tap_child.py nodevice DEVICE                      # DEVICE may be "-" for the default

Prints one JSON document on stdout.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

from bls.audio.output import DeviceClock, MonotonicClock, open_clock, output_devices
from bls.audio.ring import RingClock
from bls.core.engine import IDLE, SAMPLE_RATE, STOPPING, StimulusEngine
from bls.core.preset import find_preset

WALL_LIMIT_S = 60.0  # a guard against hanging, never a measurement


def wait_for(cond, what: str) -> None:
    deadline = time.monotonic() + WALL_LIMIT_S
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.002)


def _stall_once(engine: StimulusEngine, at_frame: int, seconds: float) -> None:
    process = engine.process

    def slow(n, out=None, token=None):
        if engine.next_frame >= at_frame and not slow.done:
            slow.done = True
            time.sleep(seconds)  # the renderer is held up, as by a busy machine
        return process(n, out, token)
    slow.done = False
    engine.process = slow


def play(preset_name: str, stop_after_s: float, tail_s: float, device: str = "tap",
         stall_at_s: float | None = None, stall_s: float = 0.0) -> dict:
    preset = find_preset(preset_name)
    engine = StimulusEngine(preset)
    engine.start()  # applied at the first block: the set starts at stream frame 0
    if stall_at_s is not None:
        _stall_once(engine, int(stall_at_s * SAMPLE_RATE), stall_s)
    clock, status = open_clock(engine, True, device)
    out = {"clock": type(clock).__name__, "status": dataclasses.asdict(status)}
    if not isinstance(clock, (DeviceClock, RingClock)):
        clock.stop()
        return out
    out.update(name=clock.name, latency_s=clock.latency_s)
    anchors = []
    # BLS_TAP_DELAY_MS: the manual audio delay is set half-way to the stop (the anchors say where)
    delay_ms = float(os.environ.get("BLS_TAP_DELAY_MS", "0") or 0)
    epochs = []

    def until(cond):
        while not cond():  # the anchors the clock publishes, as the display reads them
            a = clock.anchor
            if a is not None and (not anchors or anchors[-1][:2] != [a.frame, a.time]):
                anchors.append([a.frame, a.time])
                epochs.append(a.epoch)
            if delay_ms and not out.get("delay_set_at") and engine.next_frame >= 0.5 * stop_after_s * SAMPLE_RATE:
                clock.set_delay(delay_ms / 1000.0)
                out["delay_set_at"] = engine.next_frame
            time.sleep(0.002)
    deadline = time.monotonic() + WALL_LIMIT_S
    until(lambda: engine.next_frame >= stop_after_s * SAMPLE_RATE or time.monotonic() > deadline)
    out.update(rendered_at_stop=engine.next_frame, queued_at_stop=clock.queued_frames())
    engine.stop("stopped")
    wait_for(lambda: engine.status.state == IDLE and engine.finished, "the stop to finish")
    idle_at = engine.next_frame

    def taken():  # frames the device has taken (a ring clock renders ahead of it)
        return engine.next_frame - clock.queued_frames()
    wait_for(lambda: taken() >= idle_at + tail_s * SAMPLE_RATE, "the silent tail")
    frames_taken = taken()
    clock.stop()
    stops = [s.start for s in engine.history if s.state == STOPPING]
    durations, blocks = clock.stats.recent()
    out.update(
        frames=frames_taken, stop_frame=stops[0] if stops else None,
        result=dataclasses.asdict(engine.finished[0]), callbacks=clock.stats.count,
        underflows=clock.stats.underflows, block_sizes=sorted(set(int(b) for b in blocks)),
        timestamps_ok=clock.timestamps_ok, timestamps_bad=clock.timestamps_bad,
        error=clock.error, anchors=anchors, epochs=epochs, dry=getattr(clock, "dry", None))
    return out


def nodevice(device: str) -> dict:
    engine = StimulusEngine(find_preset("standard"))
    clock, status = open_clock(engine, True, None if device == "-" else device)
    out = {"clock": type(clock).__name__, "is_monotonic": isinstance(clock, MonotonicClock),
           "status": dataclasses.asdict(status), "outputs": output_devices()}
    engine.start()
    wait_for(lambda: engine.status.state != IDLE, "the stand-in clock to run the set")
    out["state"] = engine.status.state
    clock.stop()
    return out


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "play":
        extra = sys.argv[5:]
        doc = play(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), *(extra[:1] or ["tap"]),
                   *[float(x) for x in extra[1:3]])
    elif cmd == "nodevice":
        doc = nodevice(sys.argv[2])
    else:
        raise SystemExit(f"unknown command {cmd!r}")
    print(json.dumps(doc))
