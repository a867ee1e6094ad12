"""``bls bench``: run bls and the two naive baselines through one output (a private JACK server by
default), idle and under load, and the simulated hour; print the tables, write the JSON."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import numpy as np

from .drift import simulate
from .runner import run_child

#: the designs of the table, in its column order, and their headings
DESIGNS = [("bls", "bls"), ("elapsed", "elapsed-time"), ("fixed-step", "fixed-step")]
NAMES = {"bls": "bls", "elapsed": "the elapsed-time baseline", "fixed-step": "the fixed-step baseline"}
#: the baseline whose ratio to bls is printed (the fair one); the JSON has both baselines' ratios
HEADLINE_BASELINE = "elapsed"

# (label, path in a design's result, unit, lower is better, target or None)
ROWS = [
    ("refresh rate, nominal", "visual.refresh_nominal_hz", "Hz", None, None),
    ("refresh rate, measured", "visual.refresh_measured_hz", "Hz", None, None),
    ("frame interval mean", "visual.interval_mean_ms", "ms", None, None),
    ("frame interval sd", "visual.interval_sd_ms", "ms", True, None),
    ("frame interval p50", "visual.interval_p50_ms", "ms", None, None),
    ("frame interval p99", "visual.interval_p99_ms", "ms", True, None),
    ("frame interval max", "visual.interval_max_ms", "ms", True, None),
    ("dropped frames (> 1.2 x period)", "visual.dropped_frames", "", True, None),
    ("position error p50", "visual.position_error_px.p50", "px", True, 0.5),
    ("position error p99", "visual.position_error_px.p99", "px", True, 0.5),
    ("position error max", "visual.position_error_px.max", "px", True, None),
    # bls renders ahead into a ring (rtmixer's C callback plays it): its figure is that rendering's time
    # per block; the baselines render inside their Python callback
    ("render time p50 (of block length)", "audio.callback_fraction.p50", "fraction", True, None),
    ("render time p99 (of block length)", "audio.callback_fraction.p99", "fraction", True, 0.05),
    ("render time max (of block length)", "audio.callback_fraction.max", "fraction", True, None),
    ("underflows", "audio.underflows", "", True, 0),
    ("ring ran dry (bls)", "audio.ring_dry", "", True, 0),
    ("latency requested", "audio.latency_requested_s", "s", None, None),
    ("latency actual (stream)", "audio.latency_actual_s", "s", None, None),
    ("heard after callback (DAC times)", "audio.dac_lead_s", "s", None, None),
    ("A/V offset p99 |.|", "sync.av_offset_p99_abs_ms", "ms", True, 1.0),
    ("A/V offset max |.|", "sync.av_offset_max_abs_ms", "ms", True, 1.0),
    ("A/V offset mean", "sync.av_offset_mean_ms", "ms", None, None),
    ("A/V offset at the end", "sync.av_offset_final_ms", "ms", None, None),
    ("CPU (of one core)", "cost.cpu_percent_of_one_core", "%", True, 10.0),
    ("peak RSS", "cost.rss_peak_mb", "MB", True, 150.0),
    ("start-up to first frame", "cost.startup_to_first_frame_s", "s", True, 0.5),
]
#: the simulated session (bls.bench.drift): (label, key of a design's summary, unit); never a verdict
DRIFT_ROWS = [
    ("offset max over {minutes}", "max_abs_ms", "ms"),
    ("offset at the end", "final_ms", "ms"),
]
STAND_IN_AUDIO = "stand-in: not measured"


def json_safe(v):
    """``v`` with numpy scalars made plain and NaN/inf made null: strict JSON that any reader takes."""
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [json_safe(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return v


def _sizes(audio: dict) -> str:
    """Block sizes as a person reads them: "256", or "10-262" when the clock varies them."""
    lo, hi = audio.get("block_size_min"), audio.get("block_size_max")
    if lo is None or hi is None:
        return "no"
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _get(d: dict, path: str):
    for key in path.split("."):
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _fmt(v, unit: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if unit == "fraction":  # a share of something (0.05 = 5 %), printed in percent
        return f"{100 * float(v):.2f} %"
    if isinstance(v, int):
        return f"{v}"
    if abs(v) >= 100:
        return f"{v:.0f} {unit}".strip()
    if abs(v) >= 1:
        return f"{v:.2f} {unit}".strip()
    return f"{v:.3f} {unit}".strip()


def ratio(bls_v, base_v) -> float | None:
    """How many times the baseline's figure is bls's (>1: bls is lower)."""
    if bls_v is None or base_v is None:
        return None
    b, n = abs(float(bls_v)), abs(float(base_v))
    if b == 0:
        return math.inf if n > 0 else 1.0
    return n / b


def stand_in(part: dict) -> bool:
    """Whether bls ran on its stand-in clock (no output): nothing of the audio was measured then."""
    return not _get(part, "designs.bls.audio.device")


def verdict(path: str, unit: str, value, lower, target, on_stand_in: bool) -> str:
    """The target cell: the target and whether bls met it, only where the figure could have missed it.
    The stand-in clock's audio figures are its own making (it never underflows, its 'callback' is a
    thread's tick): no verdict on them."""
    if target is None:
        return ""
    if on_stand_in and path.startswith("audio."):
        return STAND_IN_AUDIO
    cell = f"{'<=' if lower else ''} {_fmt(target, unit)}".strip()
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return cell + "  n/a"
    return cell + ("  ok" if abs(float(value)) <= target + 1e-12 else "  MISSED")


W_LABEL, W_CELL = 34, 14


def title(part: dict) -> str:
    """What the table is: idle or under load, through which output, or the stand-in."""
    loops = part.get("busy_loops", 0)
    load = (f"UNDER LOAD: {loops} busy loop{'s' if loops != 1 else ''} (another process keeping "
            f"{'a core' if loops == 1 else f'{loops} cores'} busy)" if loops else "IDLE")
    clock = _get(part, "designs.bls.audio.clock") or "?"
    if stand_in(part):
        return f"STAND-IN CLOCK (no sound): {load}; bls on {clock}, the baselines without a tone"
    return f"{load}; through {clock}"


def table(part: dict) -> str:
    """One part of a run (idle, or under load): every figure of the three designs side by side, the
    elapsed-time baseline's ratio to bls, and bls's verdicts where they could have failed."""
    on_stand_in = stand_in(part)
    designs = part["designs"]
    head = (f"{'figure':<{W_LABEL}}" + "".join(f" {h:>{W_CELL}}" for _, h in DESIGNS)
            + f" {'elapsed/bls':>{W_CELL}}  target")
    lines = [title(part), head, "-" * (len(head) + 12)]
    for label, path, unit, lower, target in ROWS:
        values = [_get(designs.get(d, {}), path) for d, _ in DESIGNS]
        r = ratio(values[0], values[1]) if lower is not None else None
        rs = "n/a" if r is None else ("inf" if math.isinf(r) else f"{r:.1f}x")
        cells = "".join(f" {_fmt(v, unit):>{W_CELL}}" for v in values)
        lines.append(f"{label:<{W_LABEL}}{cells} {rs:>{W_CELL}}  {verdict(path, unit, values[0], lower, target, on_stand_in)}")
    return "\n".join(lines)


def drift_table(drift: dict) -> str:
    """The simulated long session: a model's output, not a measurement, so no verdict."""
    minutes = f"{drift['duration_s'] / 60:.0f} min"
    lines = [(f"SIMULATED (not measured): a {minutes} session with the sound card {drift['ppm']:g} ppm off the "
              f"system clock, {drift['jitter_ms']:g} ms timestamp jitter (bls.bench.drift)"),
             f"{'figure':<{W_LABEL}} {'bls':>{W_CELL}} {'two clocks':>{W_CELL}}  target",
             "-" * (W_LABEL + 2 * W_CELL + 12)]
    for label, key, unit in DRIFT_ROWS:
        b, n = drift["bls"].get(key), drift["naive"].get(key)
        lines.append(f"{'drift: ' + label.format(minutes=minutes):<{W_LABEL}} {_fmt(b, unit):>{W_CELL}} "
                     f"{_fmt(n, unit):>{W_CELL}}  simulated: no verdict")
    return "\n".join(lines)


def part_ratios(designs: dict) -> dict:
    """Each baseline's figure over bls's, for every lower-is-better row."""
    return {base: {path: ratio(_get(designs["bls"], path), _get(designs[base], path))
                   for _, path, _, lower, _ in ROWS if lower}
            for base, _ in DESIGNS[1:] if base in designs}


def plot_drift(result: dict, path: Path) -> None:
    """A/V offset over the simulated session, bls against the naive design (matplotlib, optional)."""
    import matplotlib  # noqa: PLC0415 - optional extra, only for the plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    d = result["drift"]
    t = np.array(d["series"]["t_s"]) / 60.0
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, constrained_layout=True)
    top.plot(t, d["series"]["naive_offset_ms"], color="#b5483f", label="naive: picture on the system clock, "
             "tone on the sound card's")
    top.plot(t, d["series"]["bls_offset_ms"], color="#2f7f7a", label="bls: one clock (anchor map)")
    top.axhline(-45, color="#999999", lw=0.8, ls="--")
    top.text(t[-1], -45, "  45 ms: audio-early detectability (ITU-R BT.1359)", va="bottom", ha="right",
             fontsize=8, color="#666666")
    top.set_ylabel("A/V offset (ms)")
    top.set_title(f"Simulated {d['duration_s'] / 60:.0f}-minute session, sound card {d['ppm']:g} ppm off the "
                  f"system clock, ±{d['jitter_ms']:g} ms timestamp jitter", fontsize=10)
    top.legend(fontsize=8, loc="lower left")
    bottom.plot(t, d["series"]["bls_offset_ms"], color="#2f7f7a")
    bottom.axhline(1, color="#999999", lw=0.8, ls="--")
    bottom.axhline(-1, color="#999999", lw=0.8, ls="--")
    bottom.set_ylim(-1.2, 1.2)
    bottom.set_ylabel("bls only (ms)")
    bottom.set_xlabel("session time (min)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


@contextlib.contextmanager
def real_output(a):
    """The output every design plays through: (device, env for the children, what it is).

    ``--audio-device`` or ``BLS_AUDIO_DEVICE`` if given; otherwise, where jackd is installed (and not
    ``--no-jack``), a private JACK server on the dummy driver (real-time pace, no sound card), named
    ``bls-bench-<pid>``, stopped with SIGTERM at the end whatever happens; otherwise the default."""
    device = a.audio_device or os.environ.get("BLS_AUDIO_DEVICE") or None
    if device is not None:
        yield device, None, {"kind": "given", "device": device}
        return
    if a.no_jack or shutil.which("jackd") is None or shutil.which("jack_wait") is None:
        why = "--no-jack" if a.no_jack else "jackd is not installed (apt-get install jackd2)"
        yield None, None, {"kind": "default", "device": None, "why_no_jack": why}
        return
    from .recorder import Jack, jackd_args  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="bls-bench-") as tmp:
        # real-time where allowed, as a laptop's sound server (the outside recorder's server too)
        jack = Jack(Path(tmp), name=f"bls-bench-{os.getpid()}", args=jackd_args(period=a.jack_period))
        try:
            print(f"bls bench: starting a private JACK server {jack.name} (dummy driver, 48000 Hz, "
                  f"{a.jack_period}-frame periods) ...", file=sys.stderr, flush=True)
            jack.start()
            yield "system", jack.env, {"kind": "jack", "device": "system", "server": jack.name,
                                       "jackd": " ".join(["jackd", "-n", jack.name, *jack.args])}
        finally:
            jack.stop()
            print(f"bls bench: stopped the JACK server {jack.name}", file=sys.stderr, flush=True)


def _sigterm_exits():
    """SIGTERM ends ``bls bench`` as Ctrl-C does: through every ``finally`` (the JACK server, the busy
    loops). Returns the handler it replaced."""
    def stop(signum, _frame):
        raise SystemExit(128 + signum)
    try:
        return signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        return None


def _loops(n: int) -> str:
    return f"{n} busy loop{'s' if n != 1 else ''}"


def _not_real(r: dict, output: dict, baselines: bool = True) -> str | None:
    """The line that says the figures are not through a real output, and why, when they are not."""
    if r["audio"]["device"]:
        return None
    kind = output.get("kind")
    hint = {"given": f"the output {output.get('device')!r} could not be opened",
            "jack": "the private JACK server's output could not be opened"}.get(kind)
    if hint is None:
        hint = ("no default output could be opened; " + ("drop --no-jack" if output.get("why_no_jack") == "--no-jack"
                                                          else "install jackd2") + ", or give --audio-device")
    return ("bls bench: NOT THROUGH A REAL OUTPUT: bls ran on its stand-in clock (the system clock, no sound)"
            + (" and the baselines had no tone" if baselines else "") + f" ({hint})")


def soak(a) -> int:
    """A long real-time run of bls alone (display and audio), reporting the audio figures."""
    try:
        with real_output(a) as (device, env, output):
            print(f"bls bench: soak, bls for {a.seconds:g} s on {device or 'the default output'}"
                  + (f" with {_loops(a.load)}" if a.load else "") + " ...", file=sys.stderr)
            r = run_child("bls", a.seconds, device, a.client_screen, env=env, load=a.load)
    except (RuntimeError, OSError) as exc:
        print(f"bls bench: {exc}", file=sys.stderr)
        return 1
    au = r["audio"]
    not_real = _not_real(r, output, baselines=False)
    if not_real:
        print(not_real)
    print(f"audio: {au['clock']}; {au['blocks']} blocks of {_sizes(au)} frames; "
          f"latency requested {au['latency_requested_s']} s, actual {au['latency_actual_s']:.4f} s")
    cf = au["callback_fraction"]
    if au.get("ring_dry") is not None:
        print(f"ring ran dry: {au['ring_dry']} times (synthesis {au['synthesis_lead_s'] * 1000:.0f} ms ahead of the "
              f"device; the fewest frames it held before a refill: {au['ring_low_water_frames']}; filler priority: "
              f"{au.get('filler_priority')})")
    if au.get("underflow_times_s"):
        print("underflows reported at (s after the start): " + ", ".join(f"{t:.1f}" for t in au["underflow_times_s"][:20]))
    print(f"underflows: {au['underflows']} in {a.seconds:g} s; render time p50 {100 * cf['p50']:.2f} %, p99 "
          f"{100 * cf['p99']:.2f} %, max {100 * cf['max']:.2f} % of the block period"
          + (" (stand-in: not measured)" if not_real else ""))
    print(f"A/V offset p99 {r['sync']['av_offset_p99_abs_ms']:.3f} ms, max {r['sync']['av_offset_max_abs_ms']:.3f} ms; "
          f"dropped frames {r['visual']['dropped_frames']}; CPU {r['cost']['cpu_percent_of_one_core']:.1f} %")
    if a.json:
        Path(a.json).write_text(json.dumps(json_safe({"soak": r, "busy_loops": a.load, "output": output}),
                                           indent=2, allow_nan=False))
    return 0


SOAK_MAX_S = 24 * 3600.0  # a soak longer than a day is a typing mistake


def _finite(what: str):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {what}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of {what}")
        return v
    return parse


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bls bench", description="Measure sync and smoothness of bls against two "
                                "naive baselines through a real output, side by side: the elapsed-time design "
                                "(target from elapsed monotonic() at each paint, free-running tone) and the "
                                "fixed-step design (a fixed step per 16 ms tick, the same tone).")
    p.add_argument("--seconds", type=_finite("seconds"), default=20.0, help="how long each design runs (default 20)")
    p.add_argument("--json", metavar="FILE", help="write every figure to FILE")
    p.add_argument("--audio-device", help="PortAudio output for every design (default: a private JACK server's "
                   "'system' where jackd is installed, else the system default)")
    p.add_argument("--no-jack", action="store_true", help="do not start a private JACK server: the default output")
    p.add_argument("--jack-period", type=int, default=1024, metavar="FRAMES",
                   help="frames per period of the private JACK server (jackd -p; default 1024)")
    p.add_argument("--load", type=int, default=0, metavar="N", help="keep N busy processes running during each "
                   "measurement (a video call on the therapist's laptop)")
    p.add_argument("--under-load", action="store_true", help="measure everything twice: idle, then with 2 busy "
                   "processes (one per core; --load N for another number)")
    p.add_argument("--client-screen", metavar="NAME", help="screen to run the display on (default: as the app)")
    p.add_argument("--drift-minutes", type=_finite("minutes"), default=60.0, help="length of the simulated session")
    p.add_argument("--drift-ppm", type=_finite("ppm"), default=200.0, help="sound card clock error for the simulation")
    p.add_argument("--plot", metavar="FILE.png", help="plot the simulated session's A/V offset (needs matplotlib: "
                   "pip install 'bls[bench]')")
    p.add_argument("--soak", action="store_true", help="bls only, audio figures only: for long real-time runs "
                   "(e.g. 600 s through JACK's dummy driver) that count underflows")
    a = p.parse_args(argv)
    if not 0 <= a.load <= 64:
        p.error(f"argument --load: {a.load}: give 0 to 64 busy processes")
    if not 16 <= a.jack_period <= 8192:
        p.error(f"argument --jack-period: {a.jack_period}: give 16 to 8192 frames")
    if a.soak:
        if not 0 < a.seconds <= SOAK_MAX_S:
            p.error(f"argument --seconds: {a.seconds:g}: give more than 0 and at most {SOAK_MAX_S:g} seconds "
                    "for --soak")
        if a.under_load:
            p.error("argument --under-load: not with --soak (give --load N)")
        previous = _sigterm_exits()
        try:
            return soak(a)
        except KeyboardInterrupt:
            print("bls bench: interrupted", file=sys.stderr)
            return 128 + signal.SIGINT
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    if not 0 < a.seconds <= 3600:
        p.error(f"argument --seconds: {a.seconds:g}: give more than 0 and at most 3600 seconds")
    if not 0 < a.drift_minutes <= 24 * 60:
        p.error(f"argument --drift-minutes: {a.drift_minutes:g}: give more than 0 and at most 1440 minutes")
    if not abs(a.drift_ppm) <= 1e5:
        p.error(f"argument --drift-ppm: {a.drift_ppm:g}: give a clock error of at most 100000 ppm either way")
    loads = [0, a.load or 2] if a.under_load else [a.load]
    previous = _sigterm_exits()
    try:
        return _bench(a, loads)
    except KeyboardInterrupt:  # Ctrl-C: the JACK server and the busy loops were stopped on the way out
        print("bls bench: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _bench(a, loads: list[int]) -> int:
    parts = []
    try:
        with real_output(a) as (device, env, output):
            for n in loads:
                designs = {}
                for d, heading in DESIGNS:
                    print(f"bls bench: measuring {NAMES[d]} for {a.seconds:g} s"
                          + (f" with {_loops(n)}" if n else "") + " ...", file=sys.stderr)
                    designs[d] = run_child(d, a.seconds, device, a.client_screen, env=env, load=n)
                parts.append({"label": f"under load ({_loops(n)})" if n else "idle", "busy_loops": n,
                              "stand_in": not designs["bls"]["audio"]["device"], "designs": designs,
                              "ratios": part_ratios(designs)})
    except (RuntimeError, OSError) as exc:
        print(f"bls bench: {exc}", file=sys.stderr)
        return 1
    print(f"bls bench: simulating {a.drift_minutes:g} minutes at {a.drift_ppm:g} ppm ...", file=sys.stderr)
    drift = simulate(a.drift_minutes * 60.0, a.drift_ppm)
    step = max(1, len(drift.t_s) // 720)
    first = parts[0]["designs"]
    result = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "qt_platform": first["bls"].get("platform")},
        "seconds": a.seconds,
        "output": output,
        "busy_loops": [part["busy_loops"] for part in parts],
        "parts": parts,
        "drift": {**drift.summary(), "kind": "simulated (bls.bench.drift), not measured",
                  "series": {"t_s": drift.t_s[::step].tolist(),
                             "bls_offset_ms": drift.bls_offset_ms[::step].tolist(),
                             "naive_offset_ms": drift.naive_offset_ms[::step].tolist()}},
    }
    b = first["bls"]
    print(f"display: bls {b['display']} / elapsed-time baseline {first['elapsed']['display']} / fixed-step "
          f"baseline {first['fixed-step']['display']} on {b['platform']} {b['screen']['width']}x{b['screen']['height']}")
    print(f"audio: {b['audio']['clock']}, {b['audio']['blocks']} blocks of {_sizes(b['audio'])} frames"
          + (f" (private JACK server {output['server']}, dummy driver)" if output["kind"] == "jack" else ""))
    if _not_real(b, output):
        print(_not_real(b, output))
    for part in parts:
        print()
        print(table(part))
    print()
    print(drift_table(result["drift"]))
    if a.plot:
        try:
            plot_drift(result, Path(a.plot))
            print(f"wrote {a.plot}", file=sys.stderr)
        except ImportError:
            print("bls bench: --plot needs matplotlib (pip install 'bls[bench]'); the rest was measured",
                  file=sys.stderr)
    if a.json:
        Path(a.json).write_text(json.dumps(json_safe(result), indent=2, allow_nan=False))
        print(f"wrote {a.json}", file=sys.stderr)
    return 0
