"""``bls script``: a whole session, headless, from a script of the therapist's actions.

```yaml
preset: gentle                       # starting preset
actions:                             # in time order (session seconds)
  - {at: 0.5, do: start}
  - {at: 2.0, do: set, field: motion.speed_cycles_per_s, value: 0.6, answer: yes}
  - {at: 3.0, do: key, key: Up}      # keys: Space, Escape, Up, Down, PageUp, PageDown, B
  - {at: 4.0, do: gentle, on: true}
  - {at: 5.0, do: preset, name: standard, answer: no}
  - {at: 9.0, do: stop}              # also: pause, quit
  - {at: 9.5, do: client, code: C-017}
  - {at: 9.6, do: target, image: "the crash", nc: "I am helpless", pc: "I survived", voc: 3, sud: 7}
  - {at: 12.0, do: sud, value: 6}    # the set that just ended (before any set: the target's SUD)
  - {at: 12.5, do: voc, value: 4}
  - {at: 13.0, do: note, text: "calmer, image further away"}
  - {at: 13.5, do: medicine, route: sublingual, dose: "as prescribed", minutes_ago: 20}
  - {at: 14.0, do: repeat}           # another set with the settings the last one started with
  - {at: 30.0, do: headphone_check, on_client: true}  # left ear, right ear, across (4.5 s)
  - {at: 40.0, do: comfort_check}    # a steady tone at the set's level, starting quiet
  - {at: 44.0, do: comfort, steps: -1}  # 2 dB down (+1: up), never above the cap
  - {at: 46.0, do: keep_level}       # the comfort level becomes the session's level; also: end_check
  - {at: 0.0, do: invite}            # a link for a remote client (host: 127.0.0.1, port: 0 = any free;
                                     # or relay: https://relay.example.org, its key in $BLS_RELAY_KEY)
  - {at: 50.0, do: uninvite}         # the link expires, the client is told
```

``answer`` replies to a question the action raises: ``yes``, ``no`` (the default, the safe choice) or
``open`` (the question stays open while the following actions happen; ``{do: answer, answer: yes}``
answers it later). Also ``{do: screen, connected: false}`` (the client's monitor unplugged / back).
Clinical entries are checked as the script is read (a SUD of 11 is refused before anything runs) and
land in the record database like the app's (``$BLS_DATA_DIR`` applies).

It runs the same :class:`~bls.session.core.SessionCore` as the app, clocked by a loop instead of the
sound card, so it runs faster than real time; session time starts at 0. After the last action it runs
on until no set is running (at most ``until`` seconds in all, default the last action + 600 s).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from ..audio.output import AudioStatus
from ..core.engine import IDLE, SAMPLE_RATE
from ..core.preset import _AliasUsed, _PresetLoader, _TooManyValues, read_preset_bytes
from .clinical import (MEDICINE_TEXT_MAX, NOTE_MAX, TARGET_FIELDS, EntryError, check_code, check_sud, check_target,
                       check_text, check_voc, now_local)
from .core import KEYS, SessionCore
from .record import SessionRecord

ACTIONS = ("start", "stop", "pause", "quit", "key", "set", "gentle", "preset", "answer", "screen",
           "client", "target", "sud", "voc", "note", "medicine", "repeat", "headphone_check", "comfort_check",
           "comfort", "keep_level", "end_check", "invite", "uninvite")
ANSWERS = ("yes", "no", "open")
SCRIPT_MAX_BYTES = 1024 * 1024  # a script of a whole day of sessions is a few hundred kB
SCRIPT_MAX_VALUES = 100_000
BLOCK = 480  # 10 ms: how finely the script's clock advances (actions land on exact frames anyway)
MAX_SECONDS = 6 * 3600.0


class ScriptError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Action:
    at: float
    do: str
    args: dict = field(default_factory=dict)
    answer: str = "no"
    line: int | None = None


@dataclass
class Script:
    preset: str
    actions: list[Action]
    until: float | None = None


def _answer(value) -> str | None:
    if value is True:  # YAML 1.1 reads a bare yes/no as true/false
        return "yes"
    if value is False:
        return "no"
    return value if value in ANSWERS else None


class _ScriptLoader(_PresetLoader):
    """Plain values only, no aliases (as presets), and a bound on the values a session script holds."""
    max_values = SCRIPT_MAX_VALUES


def parse_script(text: str, source: str = "<script>") -> Script:
    """A script from YAML text; ScriptError lists every problem (with its action's number)."""
    try:
        data = yaml.load(text, Loader=_ScriptLoader)  # noqa: S506 - SafeLoader's constructors, no aliases
    except _AliasUsed as exc:
        raise ScriptError([f"{source}:{exc.problem_mark.line + 1}: uses YAML aliases (&/*), which a script "
                           "never needs: write each action out in full"]) from None
    except _TooManyValues:
        raise ScriptError([f"{source}: holds more than {SCRIPT_MAX_VALUES} values: too long for a session "
                           "script"]) from None
    except (ValueError, RecursionError):  # a number too long to convert, nesting far too deep
        raise ScriptError([f"{source}: not a session script: a number far too long, or nesting far too deep"]) \
            from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ScriptError([f"{source}{where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict):
        raise ScriptError([f"{source}: expected a mapping with 'preset' and 'actions'"])
    problems = []
    preset = data.get("preset", "standard")
    if not isinstance(preset, str):
        problems.append(f"{source}: preset: {preset!r} is not a preset name")
    until = data.get("until")
    if until is not None and (isinstance(until, bool) or not isinstance(until, (int, float))
                              or not 0 < until <= MAX_SECONDS):
        problems.append(f"{source}: until: {until!r} is not a number of seconds (0 to {MAX_SECONDS:g})")
    raw = data.get("actions", [])
    if not isinstance(raw, list):
        problems.append(f"{source}: actions: expected a list of actions")
        raw = []
    for key in data:
        if key not in ("preset", "actions", "until"):
            problems.append(f"{source}: unknown key {key!r} (known: preset, actions, until)")
    actions: list[Action] = []
    last_at = 0.0
    for i, a in enumerate(raw, 1):
        where = f"{source}: action {i}"
        if not isinstance(a, dict):
            problems.append(f"{where}: expected a mapping like {{at: 1.0, do: start}}")
            continue
        a = {("on" if k is True else k): v for k, v in a.items()}  # YAML 1.1 reads the key 'on' as true
        at, do = a.get("at"), a.get("do")
        if isinstance(at, bool) or not isinstance(at, (int, float)) or not 0 <= at <= MAX_SECONDS:
            problems.append(f"{where}: at: {at!r} is not a time in seconds (0 or more)")
            continue
        if at < last_at:
            problems.append(f"{where}: at {at:g} s comes before the action above it ({last_at:g} s): "
                            "list actions in time order")
        last_at = max(last_at, float(at))
        if do not in ACTIONS:
            problems.append(f"{where}: do: {do!r} is not one of: {', '.join(ACTIONS)}")
            continue
        answer = _answer(a.get("answer", "no"))
        if answer is None:
            problems.append(f"{where}: answer: {a.get('answer')!r} is not one of: yes, no, open")
            continue
        args = {k: v for k, v in a.items() if k not in ("at", "do", "answer")}
        need = {"key": ["key"], "set": ["field", "value"], "gentle": ["on"], "preset": ["name"],
                "screen": ["connected"], "client": ["code"], "sud": ["value"], "voc": ["value"],
                "note": ["text"], "comfort": ["steps"]}.get(do, [])
        missing = [k for k in need if k not in args]
        if missing:
            problems.append(f"{where}: do: {do} needs {', '.join(missing)}")
            continue
        if do == "key" and isinstance(args["key"], int) and not isinstance(args["key"], bool) and 0 <= args["key"] <= 9:
            args["key"] = str(args["key"])  # key: 5 (a YAML number) is the digit key
        if do == "key" and args["key"] not in KEYS:
            problems.append(f"{where}: key: {args['key']!r} is not one of: {', '.join(KEYS)}")
            continue
        if do in ("gentle", "screen") and not isinstance(args[need[0]], bool):
            problems.append(f"{where}: {need[0]}: {args[need[0]]!r} is not true or false")
            continue
        if do == "headphone_check" and not isinstance(args.get("on_client", False), bool):
            problems.append(f"{where}: on_client: {args['on_client']!r} is not true or false")
            continue
        if do == "invite" and (not isinstance(args.get("host", ""), str) or isinstance(args.get("port", 0), bool)
                               or not isinstance(args.get("port", 0), int) or not 0 <= args.get("port", 0) <= 65535):
            problems.append(f"{where}: invite: host must be an address and port a number (0 to 65535)")
            continue
        if do == "invite" and "relay" in args and (not isinstance(args["relay"], str) or "host" in args
                                                   or "port" in args):
            problems.append(f"{where}: invite: relay is a relay's address (https://…), without host or port")
            continue
        if do == "comfort" and (isinstance(args["steps"], bool) or not isinstance(args["steps"], int)
                                or not -30 <= args["steps"] <= 30):
            problems.append(f"{where}: steps: {args['steps']!r} is not a whole number of 2 dB steps (-30 to 30)")
            continue
        try:
            _check_entry(do, args)
        except EntryError as exc:
            problems.append(f"{where}: {exc}")
            continue
        actions.append(Action(float(at), do, args, answer))
    if problems:
        raise ScriptError(problems)
    return Script(preset, actions, None if until is None else float(until))


def _check_entry(do: str, args: dict) -> None:
    """A clinical action's values, checked as the script is read (EntryError says what is wrong)."""
    allowed = {"client": {"code"}, "target": set(TARGET_FIELDS) | {"new"}, "sud": {"value"}, "voc": {"value"},
               "note": {"text"}, "medicine": {"route", "dose", "minutes_ago"}, "repeat": set()}.get(do)
    if allowed is None:
        return
    unknown = sorted(str(k) for k in args if k not in allowed)
    if unknown:
        raise EntryError(f"do: {do}: unknown {', '.join(unknown)} (known: {', '.join(sorted(allowed)) or 'none'})")
    if do == "client":
        check_code(args["code"])
    elif do == "target":
        check_target({k: v for k, v in args.items() if k != "new"})
        if not isinstance(args.get("new", False), bool):
            raise EntryError(f"new: {args['new']!r} is not true or false")
    elif do == "sud":
        check_sud(args["value"])
    elif do == "voc":
        check_voc(args["value"])
    elif do == "note":
        check_text("note", args["text"], NOTE_MAX)
    elif do == "medicine":
        check_text("route", args.get("route"), MEDICINE_TEXT_MAX)
        check_text("dose", args.get("dose"), MEDICINE_TEXT_MAX)
        ago = args.get("minutes_ago", 0)
        if isinstance(ago, bool) or not isinstance(ago, (int, float)) or not 0 <= ago <= 24 * 60:
            raise EntryError(f"minutes_ago: {ago!r} is not a number of minutes (0 to 1440)")


def load_script(path: Path) -> Script:
    """Read defensively, as presets are: a regular file of at most SCRIPT_MAX_BYTES, opened without
    blocking (a FIFO or a device is refused at once)."""
    raw, why = read_preset_bytes(Path(path), SCRIPT_MAX_BYTES)
    if raw is None:
        why = why.replace("for a preset", "for a session script").replace("preset files", "script files")
        raise ScriptError([f"{path}: {why}"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScriptError([f"{path}: not a text file (it is not UTF-8)"]) from None
    return parse_script(text, str(path))


class ScriptClock:
    """Clocks the engine from the script's loop (no device): faster than real time, same frames."""

    is_device = False
    anchor = None

    def __init__(self, engine):
        self.engine = engine
        self.token = object()
        engine.owner = self.token
        self.status = AudioStatus(False, "Script: rendered offline", "bls script clocks the session itself.",
                                  "bls script")

    def advance_to(self, frame: int, core: SessionCore, sink=None) -> None:
        buf = np.zeros((BLOCK, 2), np.float32) if sink is not None else None
        while self.engine.next_frame < frame:
            n = min(BLOCK, frame - self.engine.next_frame)
            out = None if buf is None else buf[:n]
            self.engine.process(n, out, self.token)
            if sink is not None:
                sink(out)
            core.poll()


def run(script: Script, preset, record: SessionRecord, sink=None, say=print, store=None,
        started=None) -> SessionCore:
    """Run ``script`` from ``preset`` (a Preset), recording into ``record`` (and the clinical record
    into ``store``, a RecordStore, if given: every set and every entry is committed before the next
    action); ``sink(block)`` gets the audio if given. ``say`` reports
    each action and its outcome. The session's date and time run from ``started`` (default now) on the
    script's clock. Returns the core (its record written; the store is left to the caller to close)."""
    import datetime as _dt  # noqa: PLC0415

    from ..core.library import PresetLibrary  # noqa: PLC0415 - only for 'preset' actions

    holder = {}
    started = started or now_local()

    def clocks(engine, _want_audio):
        holder["clock"] = ScriptClock(engine)
        holder["engine"] = engine
        return holder["clock"]

    def wall():
        engine = holder.get("engine")
        return started + _dt.timedelta(seconds=engine.next_frame / SAMPLE_RATE if engine is not None else 0.0)

    core = SessionCore(preset, clocks, record, store=store, wall=wall)
    clock: ScriptClock = holder["clock"]
    core.record.meta["script"] = True
    def settle() -> None:
        """A script runs faster than real time: what a set or an entry put in the database is on disk
        before the next action, as a real rest would let it be. A store already known to fail is not
        waited for (it is tried again with every row; the JSON record keeps the rows meanwhile)."""
        if store is not None and store.pending and not store.problem:
            store.flush(5.0)

    core.set_finished.connect(lambda _entry: settle())
    core.notice.connect(lambda text: say(f"  note: {text}"))
    library = None
    for a in script.actions:
        clock.advance_to(int(round(a.at * SAMPLE_RATE)), core, sink)
        asked_before = core.question
        outcome = "unchanged"
        try:
            if a.do == "start":
                outcome = core.start()
            elif a.do == "stop":
                core.stop("stopped")
                outcome = "applied"
            elif a.do == "pause":
                core.pause()
                outcome = "applied"
            elif a.do == "quit":
                core.quit()
                outcome = "applied"
            elif a.do == "key":
                outcome = core.key(a.args["key"])
            elif a.do == "set":
                outcome = core.set_field(str(a.args["field"]), a.args["value"])
            elif a.do == "gentle":
                outcome = core.set_gentle(a.args["on"])
            elif a.do == "preset":
                library = library or PresetLibrary()
                outcome = core.load_preset(library.get(str(a.args["name"])), str(a.args["name"]))
            elif a.do == "screen":
                (core.screen_back if a.args["connected"] else core.screen_lost)("script screen")
                outcome = "applied"
            elif a.do == "answer":
                if core.question is not None:
                    core.answer(a.answer == "yes")
                    outcome = "answered"
            elif a.do == "client":
                outcome = core.set_client(a.args["code"])
            elif a.do == "target":
                fields = {k: v for k, v in a.args.items() if k != "new"}
                n = core.set_target(fields, new=True if a.args.get("new") else None)
                outcome = f"target {n}"
            elif a.do in ("sud", "voc", "note"):
                enter = {"sud": core.enter_sud, "voc": core.enter_voc, "note": core.enter_note}[a.do]
                kind, n = enter(a.args["value" if a.do != "note" else "text"])
                outcome = f"{a.do} for {'set' if kind != 'target' else 'target'} {n}"
            elif a.do == "medicine":
                taken = wall() - _dt.timedelta(minutes=float(a.args.get("minutes_ago", 0)))
                core.mark_medicine(a.args.get("route", ""), a.args.get("dose", ""), taken)
                outcome = "marked"
            elif a.do == "repeat":
                outcome = core.repeat()
            elif a.do == "headphone_check":
                outcome = core.headphone_check(bool(a.args.get("on_client", False)))
            elif a.do == "comfort_check":
                outcome = core.comfort_check()
            elif a.do == "comfort":
                level = core.comfort_step(int(a.args["steps"]))
                outcome = "unchanged" if level is None else f"{level:g} dBFS"
            elif a.do == "keep_level":
                outcome = core.keep_comfort_level()
            elif a.do == "end_check":
                outcome = core.end_check()
            elif a.do == "invite" and "relay" in a.args:
                key = os.environ.get("BLS_RELAY_KEY", "")
                if not key:
                    raise ValueError("the relay's key is not given: put it in $BLS_RELAY_KEY (never in the script)")
                outcome = core.invite(relay=a.args["relay"], key=key)
            elif a.do == "invite":
                outcome = core.invite(str(a.args.get("host", "127.0.0.1")), int(a.args.get("port", 0)))
            elif a.do == "uninvite":
                core.uninvite()
                outcome = "applied"
        except (ValueError, KeyError, OSError) as exc:
            why = str(exc) if isinstance(exc, OSError) else str(exc.args[0] if exc.args else exc)
            say(f"{a.at:8.2f} s  {a.do}: refused: {why}")
            core.event("script_refused", action=a.do, why=why)
            continue
        settle()  # an entry (client, target, SUD/VOC/note, medicine, a digit key) is on disk before going on
        q = core.question
        if q is not None and q is not asked_before and a.do != "answer":
            what = q.details[0] if q.kind == "unlock" and q.details else q.text
            say(f"{a.at:8.2f} s  {a.do}: asks “{q.title}” {what} → {a.answer}")
            if a.answer != "open":
                core.answer(a.answer == "yes")
        else:
            say(f"{a.at:8.2f} s  {a.do}: {outcome}")
    end = script.until if script.until is not None else (script.actions[-1].at if script.actions else 0.0) + 600.0
    end_frame = int(round(end * SAMPLE_RATE))
    while core.engine.next_frame < end_frame:  # run on until no set runs (or until ``until``)
        if script.until is None and core.engine.status.state == IDLE and not core.engine.finished:
            break
        clock.advance_to(min(end_frame, core.engine.next_frame + SAMPLE_RATE // 10), core, sink)
    core.quit()
    clock.advance_to(core.engine.next_frame + 5 * SAMPLE_RATE if core.engine.status.state != IDLE
                     else core.engine.next_frame, core, sink)
    core.finish()
    return core
