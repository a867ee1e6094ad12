"""The command line: ``bls`` (the app), ``bls render`` (offline audio and trace)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _positive_seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not np.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return v


def app_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bls", description="Bilateral stimulation for EMDR: a moving target and a panned tone on one clock.",
        epilog="Other commands: 'bls render --help' makes an audio file (and a trace) of a set without a device.")
    p.add_argument("--preset", metavar="NAME", help="preset to load (default: the last one used, or 'standard')")
    p.add_argument("--client-screen", metavar="NAME", help="screen for the client display, by name")
    p.add_argument("--start", action="store_true", help="start a set as soon as the windows are up")
    p.add_argument("--exit-after", type=_positive_seconds, metavar="SECONDS", help="quit cleanly after SECONDS")
    p.add_argument("--log", metavar="FILE.json", help="write the session log (one record per set) to FILE.json")
    p.add_argument("--audio-device", metavar="DEVICE",
                   help="PortAudio output device, by name (default: $BLS_AUDIO_DEVICE, else the system default)")
    p.add_argument("--no-audio", action="store_true", help="start with the tone off (the system clock runs the target)")
    return p


def render_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bls render", description="Render the exact stereo audio the live engine would play for a set "
        "(48 kHz), through the same synthesis code, without an audio device.")
    p.add_argument("--preset", metavar="NAME", default="standard", help="preset name (default: standard)")
    p.add_argument("--seconds", type=_positive_seconds, required=True, help="length of the recording")
    p.add_argument("--out", metavar="FILE.wav", required=True, help="WAV file to write")
    p.add_argument("--trace", metavar="FILE.csv", help="also write the target per display frame: t,x,y,pan")
    p.add_argument("--fps", type=_positive_seconds, default=60.0, help="display frames per second for --trace")
    p.add_argument("--pcm16", action="store_true", help="16-bit PCM instead of 32-bit float")
    return p


def cmd_render(argv: list[str]) -> int:
    from .core.preset import find_preset
    from .core.render import render, write_trace, write_wav
    from .core.tone import amplitude_to_db

    args = render_parser().parse_args(argv)
    try:
        preset = find_preset(args.preset)
    except KeyError as exc:
        print(f"bls render: {exc.args[0]}", file=sys.stderr)
        return 2
    audio, trace, engine = render(preset, args.seconds, fps=args.fps)
    try:
        write_wav(Path(args.out), audio, pcm16=args.pcm16)
        if args.trace:
            write_trace(Path(args.trace), trace)
    except OSError as exc:
        print(f"bls render: cannot write: {exc}", file=sys.stderr)
        return 1
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    sets = list(engine.finished)
    done = f"; set: {sets[0].delivered_passes} passes in {sets[0].delivered_seconds:.2f} s" if sets else ""
    print(f"wrote {args.out}: {args.seconds:g} s, 48 kHz stereo {'16-bit' if args.pcm16 else 'float32'}, "
          f"peak {amplitude_to_db(peak):.1f} dBFS{done}"
          + (f"; trace {args.trace}: {len(trace)} frames at {args.fps:g} fps" if args.trace else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "render":
        return cmd_render(argv[1:])
    args = app_parser().parse_args(argv)
    from .app import run_app  # Qt is imported only for the app

    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
