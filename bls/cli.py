"""The command line: ``bls`` (the app), ``bls render`` (offline audio and trace), ``bls presets``,
``bls script`` (a session headless), ``bls sessions`` (the clinical records: list, show, export, delete)."""

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


def _reason(exc: OSError) -> str:
    """Why a file could not be written, in words (never an empty "()")."""
    if exc.strerror:
        return str(exc.strerror)
    return str(exc) or exc.__class__.__name__


def _cannot_write(prog: str, exc: OSError, what: str) -> None:
    """One line on stderr: which file (and which option) could not be written, and why."""
    print(f"{prog}: cannot write {what}: {_reason(exc)}", file=sys.stderr)


def _missing_preset(lib, name: str) -> str:
    """Why ``name`` is not in ``lib``: a file that holds it but failed to load (with its problems),
    or simply no such preset (with the names there are)."""
    import yaml  # noqa: PLC0415 - only to read the name out of a broken file

    from .core.library import file_stem  # noqa: PLC0415

    by_file: dict[str, list] = {}
    for prob in lib.errors():
        by_file.setdefault(prob.source, []).append(prob)
    for source, probs in by_file.items():
        path = Path(source)
        said = None
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            said = doc.get("name") if isinstance(doc, dict) else None
        except Exception:  # noqa: BLE001 - a broken file: fall back to its first "name:" line
            try:
                import re  # noqa: PLC0415

                m = re.search(r"^name:\s*['\"]?(.*?)['\"]?\s*$", path.read_text(encoding="utf-8", errors="replace"),
                              re.MULTILINE)
                said = m.group(1) if m else None
            except OSError:
                pass
        if said == name or (said is None and path.stem == file_stem(name)):
            why = "; ".join(", ".join(filter(None, (f"line {p.line}" if p.line else "", p.path))) + ": " + p.message
                            if (p.line or p.path) else p.message for p in probs)
            return (f"the preset {name!r} is in {path}, but that file failed to load: {why} "
                    f"(fix the file; 'bls presets validate {path}' checks it)")
    return f"no preset named {name!r}; available: {', '.join(lib.names())}"


class _Paragraphs(argparse.HelpFormatter):
    """Help whose description and epilog keep their paragraphs (blank lines), each wrapped."""

    def _fill_text(self, text, width, indent):
        return "\n\n".join(super(_Paragraphs, self)._fill_text(part, width, indent) for part in text.split("\n\n"))


def app_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bls", description="Bilateral stimulation for EMDR: a moving target and a panned tone on one clock.",
        formatter_class=_Paragraphs,
        epilog="The clock: while the tone plays, the sound card's own clock times both the tone and the target, so "
               "they never drift apart. With the tone off, or no sound output found, the target keeps time by the "
               "system clock, the computer's ordinary clock.\n\n"
               "Sound outputs are found through PortAudio, the sound library bls uses: it names each output as "
               "the system does (e.g. 'HDA Intel PCH: ALC3246 Analog (hw:0,0)', 'pulse', 'default').\n\n"
               "Other commands: 'bls render --help' makes an audio file (and a trace) of a set without a "
               "device; 'bls presets --help' lists, checks, imports and exports presets; 'bls script --help' "
               "runs a session headless from a script of the therapist's actions; 'bls sessions --help' lists, shows, "
               "exports (CSV, PDF) and deletes the clinical session records; 'bls relay --help' runs a relay "
               "for remote clients over the internet.")
    p.add_argument("--preset", metavar="NAME", help="preset to load (default: the last one used, or 'standard')")
    p.add_argument("--client-screen", metavar="NAME",
                   help="the screen the client watches, by its name as 'bls --list-screens' prints it (default: "
                        "the one chosen last time, else a screen other than the main one)")
    p.add_argument("--list-screens", action="store_true",
                   help="print the connected screens' names (what --client-screen accepts) and quit")
    p.add_argument("--list-audio", action="store_true",
                   help="print the sound outputs' names (what --audio-device accepts) and quit")
    p.add_argument("--start", action="store_true", help="start a set as soon as the windows are up")
    p.add_argument("--exit-after", type=_positive_seconds, metavar="SECONDS", help="quit cleanly after SECONDS")
    p.add_argument("--log", metavar="FILE.json", help="write the session log (one record per set) to FILE.json")
    p.add_argument("--audio-device", metavar="DEVICE",
                   help="the sound output for the tone (headphones), by its name as 'bls --list-audio' prints it "
                        "(default: $BLS_AUDIO_DEVICE, else the system's default output)")
    p.add_argument("--no-audio", action="store_true",
                   help="start with the tone off; the target then keeps time by the system clock (see below)")
    p.add_argument("--theme", choices=("system", "light", "dark"),
                   help="the control window's look: light, dark for a dim room, or as the system's (default: as "
                        "last chosen in the window, else the system's)")
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
    p.add_argument("--av-offset-ms", type=_av_offset_ms, default=0.0, metavar="N",
                   help="apply a manual audio delay of N ms (-300 to 300) as the app does for an output: the "
                        "trace shows the picture of stimulus time T at T + N ms of the audio (positive: the "
                        "picture later, as for Bluetooth headphones that play the sound N ms late); the WAV "
                        "is unchanged (default 0)")
    return p


def _av_offset_ms(text: str) -> float:
    from .core.avdelay import check_delay_ms

    try:
        return check_delay_ms(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: " + str(exc).removeprefix("audio delay: ")
                                          if "outside" in str(exc) else f"{text!r} is not a number of milliseconds")


def cmd_render(argv: list[str]) -> int:
    from .core.atomic import AtomicFile
    from .core.engine import SAMPLE_RATE, StimulusEngine
    from .core.library import PresetLibrary
    from .core.render import TRACE_HEADER, WavWriter, render_blocks, trace_lines
    from .core.tone import amplitude_to_db

    args = render_parser().parse_args(argv)
    if args.trace is not None and _same_file(args.trace, args.out):
        print("bls render: --trace and --out name the same file: give the trace a file of its own", file=sys.stderr)
        return 2
    lib = PresetLibrary()
    try:
        preset = lib.get(args.preset)
    except KeyError:
        print(f"bls render: {_missing_preset(lib, args.preset)}", file=sys.stderr)
        return 2
    frames = int(round(args.seconds * SAMPLE_RATE))
    engine = StimulusEngine(preset)
    peak, n_trace = 0.0, 0
    wav = tr = None
    what = f"--out {args.out}"
    try:  # both files are streamed into temporary files and renamed into place at the end
        wav = WavWriter(Path(args.out), frames, pcm16=args.pcm16)
        if args.trace:
            what = f"--trace {args.trace}"
            tr = AtomicFile(args.trace)
            tr.write(TRACE_HEADER.encode("utf-8"))
        for audio, rows in render_blocks(preset, args.seconds, block=4800, fps=args.fps, engine=engine,
                                         av_offset_ms=args.av_offset_ms):
            what = f"--out {args.out}"
            wav.write(audio)
            if tr is not None:
                what = f"--trace {args.trace}"
                tr.write(trace_lines(rows).encode("utf-8"))
            n_trace += len(rows)
            peak = max(peak, float(np.abs(audio).max())) if len(audio) else peak
        if tr is not None:
            what = f"--trace {args.trace}"
            tr.commit()
        what = f"--out {args.out}"
        wav.close()
    except OSError as exc:
        for f in (wav, tr):
            if f is not None:
                f.abort()
        _cannot_write("bls render", exc, what)
        return 1
    sets = [s for s in engine.finished if s.end_frame <= frames]  # (a negative offset runs on for the trace)
    done = f"; set: {sets[0].delivered_passes} passes in {sets[0].delivered_seconds:.2f} s" if sets else ""
    print(f"wrote {args.out}: {args.seconds:g} s, 48 kHz stereo {'16-bit' if args.pcm16 else 'float32'}, "
          f"peak {amplitude_to_db(peak):.1f} dBFS{done}"
          + (f"; trace {args.trace}: {n_trace} frames at {args.fps:g} fps" if args.trace else "")
          + (f", picture {args.av_offset_ms:+g} ms against the audio" if args.trace and args.av_offset_ms else ""))
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
    exp = sub.add_parser("export", help="write a preset to a file to share it (FILE may be an existing folder)")
    exp.add_argument("name")
    exp.add_argument("file", metavar="FILE")
    exp.add_argument("--force", action="store_true", help="replace FILE if it is already there (only ever a "
                     "regular file: never a link, a folder or a device)")
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
            print(f"exported {args.name!r} to {lib.export(args.name, args.file, force=args.force)}")
    except (KeyError, LibraryError) as exc:
        print(f"bls presets: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        _cannot_write("bls presets", exc, exc.filename or getattr(args, "file", None) or "the file")
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
    p.add_argument("--no-record", action="store_true",
                   help="keep nothing in the session record database (a rehearsal); by default the scripted "
                        "session is kept there like any other")
    return p


def cmd_script(argv: list[str]) -> int:
    from .core.atomic import check_target
    from .core.library import PresetLibrary
    from .core.render import WavWriter
    from .session.record import SessionRecord
    from .session.script import ScriptError, load_script, run
    from .session.store import RecordStore

    args = script_parser().parse_args(argv)
    lib = PresetLibrary()
    try:
        script = load_script(Path(args.script))
        preset = lib.get(script.preset)
    except ScriptError as exc:
        for problem in exc.problems:
            print(f"bls script: {problem}", file=sys.stderr)
        return 2
    except KeyError:
        print(f"bls script: {_missing_preset(lib, script.preset)}", file=sys.stderr)
        return 2
    if args.log and args.out and _same_file(args.log, args.out):
        print("bls script: --log and --out name the same file: give each a file of its own", file=sys.stderr)
        return 2
    try:  # refuse a link, a folder or a device before the session runs, not after
        for option, target in (("--log", args.log), ("--out", args.out)):
            if target:
                what = f"{option} {target}"
                check_target(target)
    except OSError as exc:
        _cannot_write("bls script", exc, what)
        return 1
    record = SessionRecord(copies=[Path(args.log)] if args.log else [])
    store = None if args.no_record else RecordStore()
    wav = None
    what = f"--out {args.out}"
    try:
        if args.out:
            wav = WavWriter(Path(args.out), None)
        core = run(script, preset, record, sink=None if wav is None else wav.write, store=store)
        if wav is not None:
            wav.close()
    except BaseException as exc:
        if wav is not None:
            wav.abort()
        if not isinstance(exc, OSError):
            raise
        _cannot_write("bls script", exc, what)
        return 1
    for s in core.record.sets:
        unlocked = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in s["unlocked"].items())
        print(f"set {s['index']}: {s['started_s']:.2f}–{s['ended_s']:.2f} s, {s['passes_delivered']} passes, "
              f"{s['stop_reason']}{', gentle' if s['gentle'] else ''}" + (f", unlocked: {unlocked}" if unlocked else ""))
    kinds = [e["kind"] for e in core.record.events]
    print(f"{len(core.record.sets)} set(s), {len(kinds)} events"
          + (f"; record: {args.log}" if args.log else "") + (f"; audio: {args.out}" if args.out else ""))
    problem = core.close_store() if store is not None else ""
    if store is not None and not problem and core.clinical.started:
        print(f"session record: {store.path}")
    if problem:
        print(f"bls script: the session record database could not be written: {problem}"
              + ("; the clinical record is in " + args.log if args.log and not core.record.write_errors else ""),
              file=sys.stderr)
        return 1
    if core.record.write_errors:
        for e in core.record.write_errors:
            print(f"bls script: the record could not be written: {e}", file=sys.stderr)
        return 1
    return 0


def _session_number(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a session number ('bls sessions list' shows them)") \
            from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a session number ('bls sessions list' shows them)")
    return n


def sessions_parser() -> argparse.ArgumentParser:
    from .session.store import default_db_path

    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", metavar="FILE", help=f"the record database to read (default: {default_db_path()}; "
                    "BLS_DATA_DIR moves it)")
    p = argparse.ArgumentParser(
        prog="bls sessions", description="The clinical session records (client code, target, SUD/VOC, notes, "
        "medicine, what each set delivered): list them, show one, export one for the client's file (CSV or "
        "PDF), or delete every session of a client for good.")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = sub.add_parser("list", parents=[db], help="every session (or one client's), oldest first")
    ls.add_argument("--client", metavar="CODE", help="only this client's sessions")
    show = sub.add_parser("show", parents=[db], help="one session as readable text")
    show.add_argument("id", type=_session_number, metavar="ID", help="the session's number ('list' shows it)")
    exp = sub.add_parser("export", parents=[db], help="write one session to a CSV (a row per set) or a PDF report")
    exp.add_argument("id", type=_session_number, metavar="ID", help="the session's number ('list' shows it)")
    exp.add_argument("--format", choices=("csv", "pdf"), help="csv or pdf (default: from the --out file's ending)")
    exp.add_argument("--out", metavar="FILE", required=True, help="the file to write (readable by you only)")
    exp.add_argument("--force", action="store_true", help="replace FILE if it is already there (only ever a "
                     "regular file: never a link, a folder or a device)")
    rm = sub.add_parser("delete", parents=[db], help="remove every session of a client for good (asks first)")
    rm.add_argument("--client", metavar="CODE", required=True, help="the client whose sessions go")
    rm.add_argument("--yes", action="store_true", help="do not ask (for scripts); without it, bls asks on the "
                    "terminal and you type the client code back")
    return p


def _say_error(text: str) -> None:
    print(f"bls sessions: {text}", file=sys.stderr)


def cmd_sessions(argv: list[str]) -> int:
    import sqlite3

    from .session import export as ex
    from .session.clinical import EntryError, check_code
    from .session.store import Records, StoreError, default_db_path, explain

    args = sessions_parser().parse_args(argv)
    try:  # a note may hold any character: a terminal that cannot show one gets an escape, not a crash
        sys.stdout.reconfigure(errors="backslashreplace")
    except (AttributeError, ValueError):
        pass
    path = Path(args.db) if args.db else default_db_path()
    code = None
    if getattr(args, "client", None) is not None:
        try:
            code = check_code(args.client)
        except EntryError as exc:
            _say_error(str(exc))
            return 2
    if args.action == "export":
        fmt = args.format or {".csv": "csv", ".pdf": "pdf"}.get(Path(args.out).suffix.lower())
        if fmt is None:
            _say_error(f"--out {args.out}: give --format csv or --format pdf (or a file ending in .csv or .pdf)")
            return 2
        from .core.atomic import check_target

        try:
            if check_target(args.out) is not None and not args.force:
                _say_error(f"--out {args.out}: a file is already there; give --force to replace it")
                return 1
        except OSError as exc:
            _cannot_write("bls sessions", exc, f"--out {args.out}")
            return 1
    try:
        if args.action == "delete":
            return _sessions_delete(path, code, args.yes)
        with Records(path) as records:
            if args.action == "list":
                return _sessions_list(records, code)
            session = records.session(args.id)
    except StoreError as exc:
        _say_error(str(exc))
        return 1
    except sqlite3.Error as exc:
        _say_error(f"{path}: {explain(exc)}")
        return 1
    if args.action == "show":
        print(ex.session_text(session), end="")
        return 0
    what = f"session {session['id']} ({session.get('client_code') or 'no client code'}, " \
           f"{ex.day(session.get('started_at')) or 'no date'}, {len(session.get('sets') or [])} sets)"
    try:
        if fmt == "csv":
            ex.write_csv(session, args.out)
            print(f"wrote {what} to {args.out}: CSV, a row per set")
        else:
            if sys.platform not in ("win32", "darwin") and not os.environ.get("QT_QPA_PLATFORM"):
                os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a PDF needs no display (and none may be there)
            from .ui.report import ReportError, write_pdf

            try:
                pages = write_pdf(session, args.out)
            except ReportError as exc:
                _say_error(f"cannot make the PDF: {exc}")
                return 1
            print(f"wrote {what} to {args.out}: PDF, {pages} page{'s' if pages != 1 else ''}")
    except OSError as exc:
        _cannot_write("bls sessions", exc, f"--out {args.out}")
        return 1
    return 0


def _sessions_list(records, code: str | None) -> int:
    from .session import export as ex

    rows = records.sessions(code)
    if not rows:
        print(f"no sessions for client {code} in {records.path}" if code else f"no sessions in {records.path}")
        return 0
    table = []
    for r in rows:
        target = r.get("target") or ex.EMPTY
        if len(target) > 40:
            target = target[:39].rstrip() + "…"
        end = ex.clock(r.get("ended_at"), False)
        table.append([str(r["id"]), ex.day(r.get("started_at")) or ex.EMPTY,
                      f"{ex.clock(r.get('started_at'), False)}–{end}" if end else
                      f"{ex.clock(r.get('started_at'), False)}–(not ended)",
                      r.get("client_code") or ex.EMPTY, str(r.get("sets") or 0), "yes" if r.get("gentle") else "no",
                      str(r.get("medicine") or 0) if r.get("medicine") else ex.EMPTY, target])
    for line in ex._table(["ID", "Date", "Time", "Client", "Sets", "Gentle", "Medicine", "Target"], table,
                          right={0, 4}):
        print(line)
    return 0


def _sessions_delete(path: Path, code: str, yes: bool) -> int:
    from .session.store import Records, delete_client

    with Records(path) as records:
        n_sessions, n_sets = records.count_client(code)
        if not n_sessions:
            known = records.clients()
            _say_error(f"no sessions for client {code} in {path}; nothing deleted"
                       + (f" (clients: {', '.join(known)})" if known else ""))
            return 1
    what = (f"{n_sessions} session{'s' if n_sessions != 1 else ''} ({n_sets} set{'s' if n_sets != 1 else ''}) "
            f"of client {code}")
    if not yes:
        if not (sys.stdin is not None and sys.stdin.isatty()):
            _say_error(f"deleting {what} asks for confirmation on a terminal; there is none: give --yes to "
                       "delete without asking (nothing deleted)")
            return 2
        print(f"This removes {what} from {path} for good: their targets, SUD/VOC, notes, medicine marks and "
              "the technical records bls keeps with them. Copies written elsewhere (exports, --log files) are "
              "not touched. It cannot be undone.", file=sys.stderr)
        print(f"Type the client code ({code}) to delete, or press Enter to keep everything: ", end="",
              file=sys.stderr, flush=True)
        try:
            answer = sys.stdin.readline()
        except KeyboardInterrupt:
            print("\nNothing deleted.", file=sys.stderr)
            return 1
        if answer.strip() != code:
            print("Nothing deleted" + (" (the code typed does not match)." if answer.strip() else "."),
                  file=sys.stderr)
            return 1
    sessions, sets, files = delete_client(path, code, path.parent / "sessions")
    print(f"deleted {sessions} session{'s' if sessions != 1 else ''} ({sets} set{'s' if sets != 1 else ''}) of "
          f"client {code} from {path}" + (f"; {len(files)} technical record file{'s' if len(files) != 1 else ''} "
                                          "removed" if files else ""))
    return 0


def relay_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bls relay", formatter_class=_Paragraphs,
        description="Run a relay for remote clients over the internet: the therapist's app and the client's "
        "browser both connect out to it, so nothing needs opening on the therapist's network. It forwards "
        "stimulus parameters and timing only (no names, notes or scores) and keeps no session state of its "
        "own: with --redis, several relay nodes share their rooms, and a node that stops loses nothing.",
        epilog="Put it behind a web server that adds HTTPS (Caddy or nginx: see README), and give each "
               "practice's app a key of its own (--new-key makes one; the app asks for the relay's address "
               "and the key when it invites a remote client).")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: only the "
                   "web server in front of it on the same machine)")
    p.add_argument("--port", type=int, default=8765, help="the port to listen on (default 8765)")
    p.add_argument("--keys", metavar="FILE", help="the therapists' keys, one a line (default: $BLS_RELAY_KEYS, "
                   "keys separated by spaces or commas)")
    p.add_argument("--redis", metavar="URL", help="a Redis server shared by every node (redis://host:6379/0); "
                   "without it this node keeps its rooms to itself")
    p.add_argument("--new-key", action="store_true", help="print a new random key to add to the keys file, and quit")
    return p


def _relay_error(text: str) -> None:
    print(f"bls relay: {text}", file=sys.stderr)


def cmd_relay(argv: list[str]) -> int:
    from .remote.relay import new_key, read_keys, serve

    args = relay_parser().parse_args(argv)
    if args.new_key:
        print(new_key())
        return 0
    if not 0 < args.port < 65536:
        _relay_error(f"--port {args.port} is not a port (1 to 65535)")
        return 2
    try:
        if args.keys:
            keys = read_keys(Path(args.keys).read_text(encoding="utf-8"))
        else:
            keys = read_keys("\n".join(os.environ.get("BLS_RELAY_KEYS", "").replace(",", " ").split()))
    except (OSError, UnicodeDecodeError) as exc:
        _relay_error(f"cannot read the keys file {args.keys}: {_reason(exc) if isinstance(exc, OSError) else 'not text'}")
        return 2
    except ValueError as exc:
        _relay_error(f"{args.keys or '$BLS_RELAY_KEYS'}: {exc}")
        return 2
    if not keys:
        _relay_error("no keys: give --keys FILE or $BLS_RELAY_KEYS (make a key with: bls relay --new-key)")
        return 2
    if args.redis:
        try:
            import redis  # noqa: F401
        except ImportError:
            _relay_error("--redis needs the Python package 'redis' (pip install redis, or bls's [relay] extra)")
            return 2
    try:
        serve(args.host, args.port, keys, args.redis)
    except OSError as exc:
        _relay_error(f"cannot listen on {args.host}:{args.port}: {_reason(exc)}")
        return 1
    except Exception as exc:  # noqa: BLE001 - e.g. Redis unreachable at the start: said in words
        _relay_error(f"{exc.__class__.__name__}: {exc}")
        return 1
    return 0


def _run(argv: list[str]) -> int:
    if argv and argv[0] == "script":
        return cmd_script(argv[1:])
    if argv and argv[0] == "sessions":
        return cmd_sessions(argv[1:])
    if argv and argv[0] == "render":
        return cmd_render(argv[1:])
    if argv and argv[0] == "presets":
        return cmd_presets(argv[1:])
    if argv and argv[0] == "relay":
        return cmd_relay(argv[1:])
    if argv and argv[0] == "bench":
        from .bench.report import main as bench_main

        return bench_main(argv[1:])
    args = app_parser().parse_args(argv)
    if args.list_audio:
        return list_audio()
    if args.list_screens:
        from .app import list_screens  # noqa: PLC0415 - Qt is imported only for the app

        return list_screens()
    from .app import run_app  # Qt is imported only for the app

    status = run_app(args)
    # the session is over and its record written: the process ends here, without the interpreter's
    # teardown, which would race with audio threads PortAudio may still run (a stream that would not
    # close, a JACK client): a crash at exit would hide the status
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def list_audio() -> int:
    """``bls --list-audio``: the outputs --audio-device accepts, as a fresh PortAudio sees them."""
    from .audio.output import list_outputs_in_child  # noqa: PLC0415

    names = list_outputs_in_child()
    if names is None:
        print("bls: the sound system did not answer when asked for its outputs (PortAudio failed or hung); "
              "try again, or check that the sound system runs", file=sys.stderr)
        return 1
    if not names:
        print("No sound outputs found. bls still runs: the target moves by the system clock and no tone plays. "
              "Plug in headphones or check the sound settings, then run 'bls --list-audio' again.", file=sys.stderr)
        return 0
    for name in names:
        print(name)
    print("(give one with --audio-device NAME; without it bls uses the system's default output)", file=sys.stderr)
    return 0


class _StdoutFailed(Exception):
    """Standard output could not be written (not an OSError: the commands' own ``except OSError``
    is about their files, and must not take the blame)."""

    def __init__(self, exc: OSError):
        super().__init__(exc)
        self.exc = exc


class _GuardedStdout:
    """``sys.stdout`` for the commands: a failure to write or flush it raises :class:`_StdoutFailed`."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise _StdoutFailed(exc) from exc

    def flush(self):
        try:
            return self._stream.flush()
        except OSError as exc:
            raise _StdoutFailed(exc) from exc

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _same_file(a: str, b: str) -> bool:
    """Whether two paths name the same file, through symbolic links and ``..`` too."""
    return os.path.realpath(a) == os.path.realpath(b)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not (argv and argv[0] in ("script", "sessions", "render", "presets", "bench", "relay")):
        return _run(argv)  # the app: Qt's own business
    real = sys.stdout
    sys.stdout = _GuardedStdout(real)
    try:
        status = _run(argv)
        sys.stdout.flush()
    except _StdoutFailed as failed:
        # what could not be printed is dropped: point stdout at nothing, so that the interpreter's
        # own flush at exit finds nothing to fail on
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, real.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass
        print(f"bls: cannot write to standard output: {_reason(failed.exc)}", file=sys.stderr)
        return 1
    finally:
        sys.stdout = real
    return status


if __name__ == "__main__":
    sys.exit(main())
