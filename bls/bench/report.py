"""``bls bench``: run both designs and the simulated hour, print the table, write the JSON."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from pathlib import Path

import numpy as np

from .drift import simulate
from .runner import run_child

# (label, path in the result, unit, lower is better, target or None)
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
    ("callback p50 (of block period)", "audio.callback_fraction.p50", "fraction", True, None),
    ("callback p99 (of block period)", "audio.callback_fraction.p99", "fraction", True, 0.05),
    ("callback max (of block period)", "audio.callback_fraction.max", "fraction", True, None),
    ("underflows", "audio.underflows", "", True, 0),
    ("latency requested", "audio.latency_requested_s", "s", None, None),
    ("latency actual", "audio.latency_actual_s", "s", None, None),
    ("A/V offset p99 |.|", "sync.av_offset_p99_abs_ms", "ms", True, 1.0),
    ("A/V offset max |.|", "sync.av_offset_max_abs_ms", "ms", True, 1.0),
    ("A/V offset mean", "sync.av_offset_mean_ms", "ms", None, None),
    ("A/V offset at the end", "sync.av_offset_final_ms", "ms", None, None),
    ("drift: offset max over {minutes}", "drift.max_abs_ms", "ms", True, 1.0),
    ("drift: offset at the end", "drift.final_ms", "ms", None, None),
    ("CPU (of one core)", "cost.cpu_percent_of_one_core", "%", True, 10.0),
    ("peak RSS", "cost.rss_peak_mb", "MB", True, 150.0),
    ("start-up to first frame", "cost.startup_to_first_frame_s", "s", True, 0.5),
]


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


def table(result: dict) -> str:
    lines = [f"{'figure':<34} {'bls':>14} {'baseline':>14} {'baseline/bls':>13}  target",
             "-" * 92]
    minutes = f"{result['drift']['duration_s'] / 60:.0f} min"
    for label, path, unit, lower, target in ROWS:
        label = label.format(minutes=minutes)
        b, n = _get(result["bls"], path), _get(result["baseline"], path)
        if path.startswith("drift."):
            b, n = _get(result["drift"]["bls"], path[6:]), _get(result["drift"]["naive"], path[6:])
        r = ratio(b, n) if lower is not None else None
        rs = "n/a" if r is None else ("inf" if math.isinf(r) else f"{r:.1f}x")
        tg = ""
        if target is not None:
            tg = f"{'<=' if lower else ''} {_fmt(target, unit)}"
            if b is not None:
                tg += "  ok" if abs(float(b)) <= target + 1e-12 else "  MISSED"
        lines.append(f"{label:<34} {_fmt(b, unit):>14} {_fmt(n, unit):>14} {rs:>13}  {tg}")
    return "\n".join(lines)


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


def soak(a) -> int:
    """A long real-time run of bls alone (display and audio), reporting the audio figures."""
    print(f"bls bench: soak, bls for {a.seconds:g} s on {a.audio_device or 'the default output'} ...",
          file=sys.stderr)
    try:
        r = run_child("bls", a.seconds, a.audio_device, a.client_screen)
    except (RuntimeError, OSError) as exc:
        print(f"bls bench: {exc}", file=sys.stderr)
        return 1
    au = r["audio"]
    print(f"audio: {au['clock']}; {au['blocks']} blocks of {_sizes(au)} frames; "
          f"latency requested {au['latency_requested_s']} s, actual {au['latency_actual_s']:.4f} s")
    cf = au["callback_fraction"]
    if au.get("ring_dry") is not None:
        print(f"ring ran dry: {au['ring_dry']} times (synthesis {au['synthesis_lead_s'] * 1000:.0f} ms ahead of the "
              f"device; the fewest frames it held before a refill: {au['ring_low_water_frames']}; filler priority: "
              f"{au.get('filler_priority')})")
    if au.get("underflow_times_s"):
        print("underflows reported at (s after the start): " + ", ".join(f"{t:.1f}" for t in au["underflow_times_s"][:20]))
    print(f"underflows: {au['underflows']} in {a.seconds:g} s; callback p50 {100 * cf['p50']:.2f} %, p99 "
          f"{100 * cf['p99']:.2f} %, max {100 * cf['max']:.2f} % of the block period")
    print(f"A/V offset p99 {r['sync']['av_offset_p99_abs_ms']:.3f} ms, max {r['sync']['av_offset_max_abs_ms']:.3f} ms; "
          f"dropped frames {r['visual']['dropped_frames']}; CPU {r['cost']['cpu_percent_of_one_core']:.1f} %")
    if a.json:
        Path(a.json).write_text(json.dumps(json_safe({"soak": r}), indent=2, allow_nan=False))
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
    p = argparse.ArgumentParser(prog="bls bench", description="Measure sync and smoothness of bls against a "
                                "naive design (fixed step per timer tick, tone on its own clock), side by side.")
    p.add_argument("--seconds", type=_finite("seconds"), default=20.0, help="how long each design runs (default 20)")
    p.add_argument("--json", metavar="FILE", help="write every figure to FILE")
    p.add_argument("--audio-device", help="PortAudio output for both designs (default: the system default)")
    p.add_argument("--client-screen", metavar="NAME", help="screen to run the display on (default: as the app)")
    p.add_argument("--drift-minutes", type=_finite("minutes"), default=60.0, help="length of the simulated session")
    p.add_argument("--drift-ppm", type=_finite("ppm"), default=200.0, help="sound card clock error for the simulation")
    p.add_argument("--plot", metavar="FILE.png", help="plot the simulated session's A/V offset (needs matplotlib: "
                   "pip install 'bls[bench]')")
    p.add_argument("--soak", action="store_true", help="bls only, audio figures only: for long real-time runs "
                   "(e.g. 600 s through JACK's dummy driver) that count underflows")
    a = p.parse_args(argv)
    if a.soak:
        if not 0 < a.seconds <= SOAK_MAX_S:
            p.error(f"argument --seconds: {a.seconds:g}: give more than 0 and at most {SOAK_MAX_S:g} seconds "
                    "for --soak")
        return soak(a)
    if not 0 < a.seconds <= 3600:
        p.error(f"argument --seconds: {a.seconds:g}: give more than 0 and at most 3600 seconds")
    if not 0 < a.drift_minutes <= 24 * 60:
        p.error(f"argument --drift-minutes: {a.drift_minutes:g}: give more than 0 and at most 1440 minutes")
    if not abs(a.drift_ppm) <= 1e5:
        p.error(f"argument --drift-ppm: {a.drift_ppm:g}: give a clock error of at most 100000 ppm either way")
    print(f"bls bench: measuring bls for {a.seconds:g} s ...", file=sys.stderr)
    try:
        bls_r = run_child("bls", a.seconds, a.audio_device, a.client_screen)
        print(f"bls bench: measuring the naive baseline for {a.seconds:g} s ...", file=sys.stderr)
        base_r = run_child("naive", a.seconds, a.audio_device, a.client_screen)
    except (RuntimeError, OSError) as exc:
        print(f"bls bench: {exc}", file=sys.stderr)
        return 1
    print(f"bls bench: simulating {a.drift_minutes:g} minutes at {a.drift_ppm:g} ppm ...", file=sys.stderr)
    drift = simulate(a.drift_minutes * 60.0, a.drift_ppm)
    step = max(1, len(drift.t_s) // 720)
    result = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "qt_platform": bls_r.get("platform")},
        "seconds": a.seconds,
        "bls": bls_r,
        "baseline": base_r,
        "drift": {**drift.summary(), "series": {"t_s": drift.t_s[::step].tolist(),
                                                "bls_offset_ms": drift.bls_offset_ms[::step].tolist(),
                                                "naive_offset_ms": drift.naive_offset_ms[::step].tolist()}},
    }
    result["ratios"] = {path: ratio(_get(bls_r, path), _get(base_r, path)) for _, path, _, lower, _ in ROWS
                        if lower and not path.startswith("drift.")}
    result["ratios"]["drift.max_abs_ms"] = ratio(drift.summary()["bls"]["max_abs_ms"],
                                                 drift.summary()["naive"]["max_abs_ms"])
    print(f"display: bls {bls_r['display']} / baseline {base_r['display']} on {bls_r['platform']} "
          f"{bls_r['screen']['width']}x{bls_r['screen']['height']}; audio: {bls_r['audio']['clock']}, "
          f"{bls_r['audio']['blocks']} blocks of {_sizes(bls_r['audio'])} frames")
    print(table(result))
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
