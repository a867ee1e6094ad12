"""The command line: ``bls`` (the app), ``bls render`` (offline audio and trace)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from .core.render import MAX_SECONDS


def _number_in(lo: float, hi: float, what: str):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {what}") from None
        if not np.isfinite(v) or v <= lo or v > hi:
            raise argparse.ArgumentTypeError(f"{text!r}: give more than {lo:g} and at most {hi:g} {what}")
        return v
    return parse


_positive_seconds = _number_in(0.0, 7 * 24 * 3600.0, "seconds")


def app_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bls", description="Bilateral stimulation for EMDR: a moving target and a panned tone on one clock.",
        epilog="Other commands: 'bls render --help' makes an audio file (and a trace) of a set without a "
               "device; 'bls presets --help' lists, checks, imports and exports presets; 'bls script --help' "
               "runs a session headless from a script of the therapist's actions.")
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
    p.add_argument("--seconds", type=_number_in(0.0, MAX_SECONDS, "seconds"), required=True,
                   help=f"length of the recording (at most {MAX_SECONDS:.0f} s)")
    p.add_argument("--out", metavar="FILE.wav", required=True, help="WAV file to write")
    p.add_argument("--trace", metavar="FILE.csv", help="also write the target per display frame: t,x,y,pan")
    p.add_argument("--fps", type=_number_in(0.0, 1000.0, "frames per second"), default=60.0,
                   help="display frames per second for --trace (default 60)")
    p.add_argument("--pcm16", action="store_true", help="16-bit PCM instead of 32-bit float")
    return p


def cmd_render(argv: list[str]) -> int:
    from .core.engine import SAMPLE_RATE, StimulusEngine
    from .core.preset import find_preset
    from .core.render import TRACE_HEADER, WavWriter, render_blocks, trace_lines
    from .core.tone import amplitude_to_db

    args = render_parser().parse_args(argv)
    try:
        preset = find_preset(args.preset)
    except KeyError as exc:
        print(f"bls render: {exc.args[0]}", file=sys.stderr)
        return 2
    frames = int(round(args.seconds * SAMPLE_RATE))
    engine = StimulusEngine(preset)
    peak, n_trace = 0.0, 0
    try:
        with WavWriter(Path(args.out), frames, pcm16=args.pcm16) as wav, \
                (open(args.trace, "w", encoding="utf-8") if args.trace else open(os.devnull, "w")) as tr:
            tr.write(TRACE_HEADER)
            for audio, rows in render_blocks(preset, args.seconds, block=4800, fps=args.fps, engine=engine):
                wav.write(audio)
                tr.write(trace_lines(rows))
                n_trace += len(rows)
                peak = max(peak, float(np.abs(audio).max()))
    except OSError as exc:
        print(f"bls render: cannot write: {exc.strerror or exc} ({exc.filename or args.out})", file=sys.stderr)
        return 1
    sets = list(engine.finished)
    done = f"; set: {sets[0].delivered_passes} passes in {sets[0].delivered_seconds:.2f} s" if sets else ""
    print(f"wrote {args.out}: {args.seconds:g} s, 48 kHz stereo {'16-bit' if args.pcm16 else 'float32'}, "
          f"peak {amplitude_to_db(peak):.1f} dBFS{done}"
          + (f"; trace {args.trace}: {n_trace} frames at {args.fps:g} fps" if args.trace else ""))
    return 0


def presets_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bls presets", description="List, check and exchange presets. Built-in "
                                "presets are read-only; yours live in " + _user_dir_hint() + ".")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("list", help="every preset, with its speed and set length")
    show = sub.add_parser("show", help="print a preset as YAML")
    show.add_argument("name")
    val = sub.add_parser("validate", help="check preset files; exits 1 if any has an error")
    val.add_argument("files", nargs="+", metavar="FILE")
    imp = sub.add_parser("import", help="check a preset file and add it to your presets")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--name", help="import under this name (e.g. when the name is taken)")
    exp = sub.add_parser("export", help="write a preset to a file to share it")
    exp.add_argument("name")
    exp.add_argument("file", metavar="FILE")
    return p


def _user_dir_hint() -> str:
    from .core.paths import user_presets_dir

    return str(user_presets_dir())


def cmd_presets(argv: list[str]) -> int:
    from .core.library import LibraryError, PresetLibrary
    from .core.motion import speed_labels
    from .core.preset import dump_preset, load_preset_file

    args = presets_parser().parse_args(argv)
    if args.action == "validate":
        failed = False
        for f in args.files:
            preset, problems = load_preset_file(Path(f))
            for prob in problems:
                print(prob)
            if preset is None:
                failed = True
            elif not problems:
                print(f"{f}: ok ({preset.name})")
        return 1 if failed else 0
    lib = PresetLibrary()
    for prob in lib.problems:
        print(f"bls presets: {prob}", file=sys.stderr)
    try:
        if args.action == "list":
            width = max(len(n) for n in lib.names())
            for name in lib.names():
                e = lib.entries[name]
                m = e.preset.motion
                kind = "built-in" if e.builtin else "yours"
                flags = " gentle" if e.preset.gentle else ""
                print(f"{name:<{width}}  {kind:<8}  {speed_labels(m.speed_cycles_per_s)[0]:>15}  "
                      f"{e.preset.set_length_label()}{flags}")
        elif args.action == "show":
            print(dump_preset(lib.get(args.name)), end="")
        elif args.action == "import":
            preset, problems = lib.import_file(Path(args.file), args.name)
            for prob in problems:
                print(prob)
            print(f"imported {preset.name!r} into {lib.entries[preset.name].path}")
        elif args.action == "export":
            print(f"exported {args.name!r} to {lib.export(args.name, Path(args.file))}")
    except (KeyError, LibraryError) as exc:
        print(f"bls presets: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"bls presets: cannot write: {exc.strerror or exc} ({exc.filename or ''})", file=sys.stderr)
        return 1
    return 0


def script_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bls script", description="Run a whole session headless from a script of the therapist's actions "
        "(YAML: a starting preset and timed actions), with the same session core as the app, faster than "
        "real time. Prints each action and what it did; --log writes the session record.")
    p.add_argument("script", metavar="SCRIPT.yaml")
    p.add_argument("--log", metavar="FILE.json", help="write the session record (JSON) to FILE.json")
    p.add_argument("--out", metavar="FILE.wav", help="also write the audio the session played (48 kHz float)")
    return p


def cmd_script(argv: list[str]) -> int:
    from .core.library import PresetLibrary
    from .core.render import WavWriter
    from .session.record import SessionRecord
    from .session.script import ScriptError, load_script, run

    args = script_parser().parse_args(argv)
    try:
        script = load_script(Path(args.script))
        preset = PresetLibrary().get(script.preset)
    except ScriptError as exc:
        for problem in exc.problems:
            print(f"bls script: {problem}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"bls script: {exc.args[0]}", file=sys.stderr)
        return 2
    record = SessionRecord(copies=[Path(args.log)] if args.log else [])
    wav = None
    try:
        if args.out:
            wav = WavWriter(Path(args.out), None)
        core = run(script, preset, record, sink=None if wav is None else wav.write)
    except OSError as exc:
        print(f"bls script: cannot write: {exc.strerror or exc} ({exc.filename or args.out})", file=sys.stderr)
        return 1
    finally:
        if wav is not None:
            wav.close()
    for s in core.record.sets:
        unlocked = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in s["unlocked"].items())
        print(f"set {s['index']}: {s['started_s']:.2f}–{s['ended_s']:.2f} s, {s['passes_delivered']} passes, "
              f"{s['stop_reason']}{', gentle' if s['gentle'] else ''}" + (f", unlocked: {unlocked}" if unlocked else ""))
    kinds = [e["kind"] for e in core.record.events]
    print(f"{len(core.record.sets)} set(s), {len(kinds)} events"
          + (f"; record: {args.log}" if args.log else "") + (f"; audio: {args.out}" if args.out else ""))
    if core.record.write_errors:
        for e in core.record.write_errors:
            print(f"bls script: the record could not be written: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "script":
        return cmd_script(argv[1:])
    if argv and argv[0] == "render":
        return cmd_render(argv[1:])
    if argv and argv[0] == "presets":
        return cmd_presets(argv[1:])
    if argv and argv[0] == "bench":
        from .bench.report import main as bench_main

        return bench_main(argv[1:])
    args = app_parser().parse_args(argv)
    from .app import run_app  # Qt is imported only for the app

    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
