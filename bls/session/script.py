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
```

``answer`` replies to a question the action raises: ``yes``, ``no`` (the default, the safe choice) or
``open`` (the question stays open while the following actions happen; ``{do: answer, answer: yes}``
answers it later). Also ``{do: screen, connected: false}`` (the client's monitor unplugged / back).

It runs the same :class:`~bls.session.core.SessionCore` as the app, clocked by a loop instead of the
sound card, so it runs faster than real time; session time starts at 0. After the last action it runs
on until no set is running (at most ``until`` seconds in all, default the last action + 600 s).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from ..audio.output import AudioStatus
from ..core.engine import IDLE, SAMPLE_RATE
from ..core.preset import _AliasUsed, _PresetLoader, _TooManyValues, read_preset_bytes
from .core import KEYS, SessionCore
from .record import SessionRecord

ACTIONS = ("start", "stop", "pause", "quit", "key", "set", "gentle", "preset", "answer", "screen")
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
                "screen": ["connected"]}.get(do, [])
        missing = [k for k in need if k not in args]
        if missing:
            problems.append(f"{where}: do: {do} needs {', '.join(missing)}")
            continue
        if do == "key" and args["key"] not in KEYS:
            problems.append(f"{where}: key: {args['key']!r} is not one of: {', '.join(KEYS)}")
            continue
        if do in ("gentle", "screen") and not isinstance(args[need[0]], bool):
            problems.append(f"{where}: {need[0]}: {args[need[0]]!r} is not true or false")
            continue
        actions.append(Action(float(at), do, args, answer))
    if problems:
        raise ScriptError(problems)
    return Script(preset, actions, None if until is None else float(until))


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


def run(script: Script, preset, record: SessionRecord, sink=None, say=print) -> SessionCore:
    """Run ``script`` from ``preset`` (a Preset), recording into ``record``; ``sink(block)`` gets the
    audio if given. ``say`` reports each action and its outcome. Returns the core (its record written)."""
    from ..core.library import PresetLibrary  # noqa: PLC0415 - only for 'preset' actions

    holder = {}

    def clocks(engine, _want_audio):
        holder["clock"] = ScriptClock(engine)
        return holder["clock"]

    core = SessionCore(preset, clocks, record)
    clock: ScriptClock = holder["clock"]
    core.record.meta["script"] = True
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
        except (ValueError, KeyError) as exc:
            say(f"{a.at:8.2f} s  {a.do}: refused: {exc.args[0] if exc.args else exc}")
            core.event("script_refused", action=a.do, why=str(exc.args[0] if exc.args else exc))
            continue
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
