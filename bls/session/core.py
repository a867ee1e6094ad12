"""The session core: one engine, one clock, the clinical policy and the record. No Qt.

Every front end (the Qt app, ``bls script``, later a remote client) drives a session through this
object and nothing else: commands in (``start``, ``stop``, ``key``, ``change`` ...), questions out
(:class:`~bls.session.policy.Question`, answered with :meth:`SessionCore.answer`), and hooks for what
happened (settings, status, sets, notices). The front end calls :meth:`poll` regularly (the app every
50 ms, a script after every block); nothing here blocks or waits.

Rules decided here, never in a widget:
- gentle limits: going past one asks; a yes unlocks that value of that limit only; unlocks end when
  gentle mode ends or another preset is loaded;
- leaving gentle mode by any path asks (staying is the safe answer);
- the rest after a gentle set holds unless the therapist says yes to starting early;
- stop always wins: a stop closes whatever question is open with its safe answer, then stops;
- the record keeps what was delivered (samples from the engine's own state) and every event.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
from pathlib import Path
from collections.abc import Callable
from dataclasses import fields

from ..core import gentle
from ..core.avdelay import ROOM_FIELD, ROOM_KIND, check_delay_ms
from ..core.geometry import (DEFAULT_DISTANCE_CM, ENTERED, SYSTEM, ScreenGeometry, distance_problem, resolve,
                             size_problem, system_size, visual_angle)
from ..core.clock import AnchorMap
from ..core.paths import records_dir
from ..core.room import RoomSettings
from ..core import checks as _checks
from ..core.engine import (CHECK, GLIDING, IDLE, PAUSED, RUNNING, SAMPLE_RATE, STOPPING, FrameSample, Status,
                           StimulusEngine)
from ..core.tone import LEVEL_CAP_DBFS, LEVEL_FLOOR_DBFS
from ..core.preset import SECTIONS, SPEED_MAX, SPEED_MIN, Preset, _check_value, clamp_to_schema
from .. import __version__
from .clinical import (MEDICINE_TEXT_MAX, NOTE_MAX, ClinicalRecord, EntryError, EntryKeys, check_code, check_sud,
                       check_target, check_text, check_voc, delivered_summary, iso, now_local)
from .policy import Policy, Question
from .record import SessionRecord, default_record_path, set_entry

SPEED_STEP = 0.05
STIMULUS_KEYS = ("Space", "Escape", "Up", "Down", "PageUp", "PageDown", "B")
ENTRY_KEYS = tuple("0123456789") + ("V", "N", "R")  # SUD digits, V+digit VOC, N note, R repeat the set
KEYS = STIMULUS_KEYS + ENTRY_KEYS
MEDICINE_PAST_LIMIT = _dt.timedelta(hours=24)


class Hook:
    """A list of callbacks (a signal without Qt)."""

    def __init__(self):
        self._fns: list[Callable] = []

    def connect(self, fn: Callable) -> None:
        self._fns.append(fn)

    def emit(self, *args) -> None:
        for fn in list(self._fns):
            fn(*args)


def field_spec(path: str):
    """The dataclass field for "section.name" (KeyError if there is none)."""
    section, _, name = path.partition(".")
    if section not in SECTIONS:
        raise KeyError(path)
    for f in fields(SECTIONS[section]):
        if f.name == name:
            return f
    raise KeyError(path)


def settings_diff(a: Preset, b: Preset) -> list[tuple[str, object, object]]:
    """(field path, old, new) for every stimulus field that differs, and gentle."""
    out = []
    if a.gentle != b.gentle:
        out.append(("gentle", a.gentle, b.gentle))
    for section in SECTIONS:
        sa, sb = getattr(a, section), getattr(b, section)
        for f in fields(sa):
            va, vb = getattr(sa, f.name), getattr(sb, f.name)
            if va != vb:
                out.append((f"{section}.{f.name}", va, vb))
    return out


class SessionCore:
    def __init__(self, settings: Preset, clocks_factory: Callable | None = None,
                 record: SessionRecord | None = None, store=None,
                 wall: Callable[[], _dt.datetime] | None = None, room=None):
        """``clocks_factory(engine, want_audio)`` returns the object that clocks the engine (a
        :class:`~bls.session.clocks.ClockManager` in the app, a manual clock in ``bls script``).
        ``store`` keeps the clinical record (a :class:`~bls.session.store.RecordStore`; None: kept in
        memory only); ``wall()`` is the local date and time (a script gives its own); ``room`` remembers
        each output's audio delay and each screen's size and viewing distance (a
        :class:`~bls.core.room.RoomSettings`; None: kept in memory for this session only)."""
        self.policy = Policy()
        self.settings = self.policy.effective(settings)  # a session never starts beyond a limit
        self.preset_name = settings.name
        self.engine = StimulusEngine(self.settings)
        self.anchor_map = AnchorMap(SAMPLE_RATE)
        self.record = record or SessionRecord()
        self.clocks = clocks_factory(self.engine, self.settings.audio.enabled) if clocks_factory else None
        self.status: Status = self.engine.status
        self.question: Question | None = None
        self._on_yes: Callable[[], None] | None = None
        self._on_no: Callable[[], None] | None = None
        self._ids = itertools.count(1)
        self.display_info: Callable[[], dict] = lambda: {}
        self._set_unlocks: dict = {}
        self._set_display_base: dict = {}
        self._look_notice = 0.0
        self._start_pending = False  # a start was posted; the clock thread has not begun the set yet
        self.ended = False
        # hooks for front ends
        self.settings_changed = Hook()  # (Preset): what now plays, for the controls to show
        self.status_changed = Hook()  # (Status)
        self.set_started = Hook()  # (index)
        self.set_finished = Hook()  # (record entry dict)
        self.question_opened = Hook()  # (Question)
        self.question_closed = Hook()  # (Question, answer: bool, why: str)
        self.notice = Hook()  # (text): something the therapist should be told
        self.recorded = Hook()  # (event dict)
        self.audio_changed = Hook()  # (AudioStatus)
        self.record_state = Hook()  # (list of problems; empty: the record is written again)
        self.clinical_changed = Hook()  # (what: "client", "target", "medicine", "entry", "set")
        self.note_requested = Hook()  # (): the therapist pressed N; the front end asks for the line
        self.store_state = Hook()  # (problem: str; "": the clinical record is kept again)
        self.check_changed = Hook()  # (kind: "left_right", "comfort"; "": the headphone check ended)
        self.delay_changed = Hook()  # (ms, output name or None): the audio delay that applies now
        self.calibration_changed = Hook()  # (bool): the audio-delay calibration runs
        self.remote_changed = Hook()  # (dict, as :attr:`remote`): the remote client's link and what it reports
        self._remote = None  # the embedded server for the remote client (bls.remote.server), once invited
        # what is remembered per output and per screen; a value the file cannot take is kept in memory there
        self.room = room if room is not None else RoomSettings.in_memory()
        self._delay_ms = 0.0
        self._delay_output: str | None = None
        self._calibrating = False
        self.geometry_changed = Hook()  # (ScreenGeometry or None): the client screen's size or distance
        # the client screen in degrees: its geometry (None: its size is not known, and why), the notes about
        # settings given in degrees (a fallback, a limit)
        self.geometry: ScreenGeometry | None = None
        self.geometry_note = ""
        self.angle_notes: tuple[str, ...] = ()
        self._client_screen: tuple | None = None
        # the clinician's record (SUD/VOC, notes, target, medicine): kept in the database by ``store``
        self.wall = wall or now_local
        self.store = store
        self._store_problem = ""
        self.clinical = ClinicalRecord(started_at=iso(self.wall()), app_version=__version__,
                                       record_file=str(self.record.path) if self.record.path else None)
        self.record.meta["session_uid"] = self.clinical.uid
        self.entry_keys = EntryKeys()
        self._set_begun: dict[int, tuple] = {}  # set index -> (wall time, settings, preset name) at its start
        self._last_set: tuple | None = None  # (settings, preset name) the last set started with
        self._repeat_after = False
        self._ending_entry: dict = {}  # SUD/VOC/note typed while the set fades out and glides home
        self.check_kind = ""  # the headphone check playing or asked for ("left_right", "comfort"; "": none)
        self.check_on_client = False  # the left/right check says "left" / "right" on the client screen too
        self.comfort_dbfs: float | None = None  # the comfort check's level (None: no comfort check)
        self._check_end_reason = ""
        self.audio_changed.connect(lambda _status: self._restore_delay())
        self.audio_changed.connect(lambda _status: self._audio_meta())
        self._restore_delay()
        self._audio_meta()

    # ------------------------------------------------------------------ time

    @property
    def now_s(self) -> float:
        """Session time: the stimulus clock (frames rendered so far / 48 000)."""
        return self.engine.next_frame / SAMPLE_RATE

    @property
    def unlocks(self) -> dict:
        return dict(self.policy.unlocks)

    @property
    def effective(self) -> Preset:
        """The settings as played (hard caps and gentle limits applied)."""
        return self.policy.effective(self.settings)

    def event(self, kind: str, **data) -> dict:
        e = self.record.event(self.now_s, kind, **data)
        self.recorded.emit(e)
        self._write()
        return e

    def add_record_copy(self, path) -> str:
        """Write the record to ``path`` too, now and after every change (the therapist's way out when
        the record cannot be written where it should be). Returns what went wrong ("" when written)."""
        path = Path(path)
        if path not in self.record.copies:
            self.record.copies.append(path)
        self._write()
        problems = [p for p in self.record.write_errors if p.startswith(f"{path}:")]
        if problems:
            self.record.copies.remove(path)
            return "; ".join(problems)
        self.event("record_copy", path=str(path))
        return ""

    def _write(self) -> None:
        """Write the record (it stays whole in memory whatever happens); a failure, or the end of one,
        is told at once through ``record_state``."""
        before = list(self.record.write_errors)
        errors = self.record.write()
        if errors != before:
            self.record_state.emit(errors)

    # ------------------------------------------------------------------ questions

    def _ask(self, question: Question, on_yes: Callable[[], None], on_no: Callable[[], None] | None = None) -> str:
        if self.question is not None:
            self._close_question(False, "superseded")
        self.question, self._on_yes, self._on_no = question, on_yes, on_no
        self.event("question", question=question.kind, text=question.text, details=list(question.details))
        self.question_opened.emit(question)
        return "asked"

    def answer(self, yes: bool) -> None:
        """The therapist's answer to the open question (ignored when none is open)."""
        if self.question is not None:
            self._close_question(bool(yes), "answered")

    def _close_question(self, yes: bool, why: str) -> None:
        q, on_yes, on_no = self.question, self._on_yes, self._on_no
        self.question = self._on_yes = self._on_no = None
        repeat, self._repeat_after = self._repeat_after, False
        self.event("answer", question=q.kind, answer="yes" if yes else "no", why=why)
        self.question_closed.emit(q, yes, why)
        if yes and on_yes is not None:
            on_yes()
            if repeat:
                self.start()
        elif not yes:
            if on_no is not None:
                on_no()
            self.settings_changed.emit(self.settings)  # controls that moved ahead snap back

    # ------------------------------------------------------------------ sets

    def start(self) -> str:
        """Start a set (or resume a paused one). In gentle mode, early in the rest, this asks."""
        self.poll()  # a set that just ended on the clock thread owes its rest from now
        if self._calibrating:  # never both: the press stops the calibration; the next one starts the set
            self.stop_calibration()
            self.notice.emit("The audio delay calibration stopped. Press Space again to start the set.")
            return "unchanged"
        state = self.engine.status.state
        if self.check_kind and not self.ended:  # the check ends gently, then the set starts
            self._check_end_reason = "set started"
            self.engine.start()
            self._start_pending = True
            return "applied"
        if state == PAUSED:
            self.engine.start()
            return "applied"
        if state != IDLE or self.ended:
            return "unchanged"
        remaining = self.rest_remaining()
        if self.settings.gentle and self.policy.rest_holds and remaining > 0.5:
            rest = self.policy.rest_s

            def go():
                left = self.rest_remaining()
                if left > 0:
                    self.event("rest_cut_short", remaining_s=round(left, 2), rest_s=rest)
                self.engine.start()
                self._start_pending = True
            return self._ask(Policy.rest_question(next(self._ids), remaining, rest), go)
        self.engine.start()
        self._start_pending = True
        return "applied"

    def pause(self) -> None:
        self.engine.pause()

    def rest_remaining(self) -> float:
        """Seconds of the rest after the last set still to run (0 during a set or when none is due)."""
        if self.engine.status.state != IDLE or self.engine.finished:
            return 0.0
        return self.policy.rest_remaining(self.engine.next_frame)

    def toggle(self) -> str:
        state = self.engine.status.state
        if state == RUNNING and not self.check_kind:
            self.engine.pause()
            return "applied"
        return self.start()

    def stop(self, reason: str = "stopped") -> None:
        """Stop always wins: an open question closes with its safe answer first."""
        if self.question is not None:
            self._close_question(False, "stop")
        if self.check_kind and not self._check_end_reason:
            self._check_end_reason = "stopped"
        if self._calibrating:  # Esc ends the calibration's flashes and clicks too
            self.stop_calibration()
        self.engine.stop(reason)

    def key(self, name: str) -> str:
        """A key from the therapist (keyboard, presenter clicker, foot pedal, script)."""
        if name in ("Escape", "PageUp", "B"):
            self.entry_keys.reset()
            self.stop("stopped")
            return "applied"
        if name in ENTRY_KEYS:
            return self._entry_key(name)
        self.entry_keys.reset()
        if self.question is not None and name in ("Space", "PageDown", "Up", "Down"):
            return "unchanged"  # a question is open: it is answered first (only a stop gets past it)
        if name in ("Space", "PageDown"):
            return self.toggle()
        if name in ("Up", "Down"):
            return self.nudge_speed(1 if name == "Up" else -1)
        raise KeyError(f"unknown key {name!r}; keys: {', '.join(KEYS)}")

    # ------------------------------------------------------------------ settings

    def _supersede(self) -> None:
        """A new request while a question is open: the question closes with its safe answer first, so
        the request is made from what then plays."""
        if self.question is not None:
            self._close_question(False, "superseded")

    def nudge_speed(self, steps: int) -> str:
        self._supersede()
        m = self.settings.motion
        speed = round(min(SPEED_MAX, max(SPEED_MIN, m.speed_cycles_per_s + steps * SPEED_STEP)), 4)
        return self.change(self.settings.with_("motion", speed_cycles_per_s=speed))

    def set_field(self, path: str, value) -> str:
        """One setting by its preset path ("motion.speed_cycles_per_s"); a value outside the schema is
        refused with a message naming the allowed range, and nothing changes."""
        self._supersede()
        if path == "gentle":
            if not isinstance(value, bool):
                raise ValueError(f"gentle: {value!r} is not true or false")
            return self.set_gentle(value)
        try:
            f = field_spec(path)
        except KeyError:
            raise ValueError(f"{path}: no such setting") from None
        checked, problem = _check_value(f, value, path, "<settings>", None)
        if problem is not None:
            raise ValueError(f"{path}: {problem.message}")
        section, _, name = path.partition(".")
        return self.change(self.settings.with_(section, **{name: checked}))

    def set_gentle(self, on: bool) -> str:
        self._supersede()
        if on == self.settings.gentle:
            return "unchanged"
        if on:
            return self.change(gentle.soften(self.settings))
        return self.change(self.settings.with_(gentle=False))

    def change(self, new: Preset, name: str | None = None) -> str:
        """Make ``new`` the live settings (every change glides), asking where the policy says so.
        Returns "applied", "asked" (a question is open; the answer decides) or "unchanged"."""
        self._supersede()
        self.poll()  # what happened on the clock thread is recorded before this change
        new = clamp_to_schema(new)  # beyond the hard caps nothing is asked, recorded or played
        new = self._in_degrees(new, self.settings)
        old = self.settings
        if new == old:
            return "unchanged"
        if old.gentle and not new.gentle:
            beyond = gentle.violations(new.with_(gentle=True))
            what = (f"“{name}” is not a gentle preset: loading it turns gentle mode off." if name else
                    "This turns gentle mode off.")
            return self._ask(Policy.leave_gentle_question(next(self._ids), what, beyond),
                             lambda: self._apply(new, name))
        if not old.gentle and new.gentle:
            self.policy.forget_unlocks()
        pending = self.policy.beyond(new)
        if pending:
            def yes():
                for data in self.policy.unlock(pending):
                    self.event("unlock", **data)
                    self._set_unlocks[data["limit"]] = data["measure"]
                self._apply(new, name)
            return self._ask(Policy.unlock_question(next(self._ids), pending), yes)
        self._apply(new, name)
        return "applied"

    def load_preset(self, preset: Preset, name: str | None = None) -> str:
        """Another preset: unlocks end. A gentle preset beyond the envelope asks to unlock; kept
        inside the limits, it loads clamped (never leaving the previous preset playing)."""
        name = name or preset.name
        self._supersede()
        preset = clamp_to_schema(preset)
        preset = self._in_degrees(preset, None)
        old = self.settings
        if old.gentle and not preset.gentle:
            return self.change(preset, name)  # asks first; a yes forgets the unlocks (gentle ends)
        unlocks_before = dict(self.policy.unlocks)
        self.policy.forget_unlocks()
        pending = self.policy.beyond(preset)
        if pending:
            def yes():
                for data in self.policy.unlock(pending):
                    self.event("unlock", **data)
                    self._set_unlocks[data["limit"]] = data["measure"]
                self._apply(preset, name)

            def no():  # kept inside the limits: the preset loads clamped at them
                self._apply(self.policy.effective(preset), name)
            if unlocks_before:
                self.event("unlocks_ended", reason="another preset", limits=sorted(unlocks_before))
            self._ask(Policy.unlock_question(next(self._ids), pending), yes, no)
            return "asked"
        if unlocks_before:
            self.event("unlocks_ended", reason="another preset", limits=sorted(unlocks_before))
        self._apply(preset, name)
        return "applied"

    def _apply(self, new: Preset, name: str | None = None) -> None:
        old = self.settings
        if old.gentle and not new.gentle:
            if self.policy.unlocks:
                self.event("unlocks_ended", reason="gentle mode ended", limits=sorted(self.policy.unlocks))
            self.policy.forget_unlocks()
        if old.gentle != new.gentle:
            self.event("gentle_on" if new.gentle else "gentle_off", preset=new.name)
        if name is not None:
            self.preset_name = name
            self.event("preset", name=name)
        running = self.engine.status.state not in (IDLE, CHECK) or self._start_pending
        if running:  # every change of a clinical setting during a set (or as it starts) is recorded
            for path, a, b in settings_diff(old, new):
                if path != "gentle":
                    self.event("setting", field=path, old=a, new=b)
        self.settings = new
        self.engine.apply(new, self.policy.unlocks)
        if self.comfort_dbfs is not None and self.comfort_dbfs > self.comfort_max_dbfs():
            self.comfort_dbfs = self.comfort_max_dbfs()  # gentle mode came on: the comfort tone follows it
            self.engine.check_level(self.comfort_dbfs)
        self.settings_changed.emit(new)
        if new.audio.enabled != old.audio.enabled:
            self._switch_pending = True
            self._switch_clock_if_due()

    # ------------------------------------------------------------------ headphone checks

    _check_serial = 0  # the engine's check count once it has taken this session's latest check

    def check_refused(self) -> str:
        """Why a headphone check cannot start now ("" when it can): only between sets, never during a
        set, its ending or the rest after it, with the tone on."""
        if self.ended:
            return "The session is ending."
        if self.check_kind:
            return "A headphone check is already playing."
        if self._calibrating:
            return "The audio delay calibration is running: stop it first."
        if self.question is not None:
            return "Answer the open question first."
        if self.engine.status.state != IDLE or self._start_pending:
            return "The headphone checks play between sets: stop the set first (Esc)."
        if self.engine.finished:
            return "The set is still ending: the check can play in a moment."
        rest = self.rest_remaining()
        if rest > 0.5:
            return f"The rest after the set still runs ({rest:.0f} s): the check can play after it."
        if not self.settings.audio.enabled:
            return "The tone is off: turn it on to check the headphones."
        return ""

    def _begin_check(self, kind: str, level_dbfs: float, **data) -> str:
        self.poll()
        why = self.check_refused()
        if why:
            self.notice.emit(why)
            return "unchanged"
        self.check_kind, self._check_end_reason = kind, ""
        self._check_serial = self.engine.status.checks + 1
        self.engine.check(_checks.PROGRAMS[kind], level_dbfs)
        self.event("headphone_check" if kind == "left_right" else "comfort_check", level_dbfs=round(level_dbfs, 2),
                   **data)
        self.check_changed.emit(kind)
        return "applied"

    def headphone_check(self, on_client: bool = False) -> str:
        """The left/right check: the tone in the left ear, then the right, then once across (4.5 s),
        at the set's level but at most -20 dBFS. ``on_client``: the client screen says "left" /
        "right" too. Refused (a notice says why, "unchanged") unless between sets."""
        level = min(self.effective.audio.level_dbfs, _checks.LEFT_RIGHT_MAX_DBFS)
        self.check_on_client = bool(on_client)
        return self._begin_check("left_right", level, on_client=bool(on_client))

    def comfort_max_dbfs(self) -> float:
        """How loud the comfort check may go: the cap, and in gentle mode the gentle limit (or the
        level unlocked for this session)."""
        top = LEVEL_CAP_DBFS
        if self.settings.gentle:
            unlocked = self.policy.unlocks.get("level")
            top = min(top, max(gentle.LEVEL_MAX_DBFS, unlocked) if isinstance(unlocked, (int, float))
                      else gentle.LEVEL_MAX_DBFS)
        return top

    def comfort_check(self) -> str:
        """A steady centred tone at the set's level, starting 12 dB quieter and rising to it over 3 s;
        :meth:`comfort_step` turns it up or down, :meth:`keep_comfort_level` keeps the level."""
        level = min(self.effective.audio.level_dbfs, self.comfort_max_dbfs())
        before = self.comfort_dbfs
        if not self.check_kind:
            self.comfort_dbfs = level  # known before the front ends are told the check began
        outcome = self._begin_check("comfort", level, set_level_dbfs=self.settings.audio.level_dbfs)
        if outcome != "applied":
            self.comfort_dbfs = before
        return outcome

    def comfort_step(self, steps: int) -> float | None:
        """Up (+) or down (-) by ``steps`` x 2 dB, never above :meth:`comfort_max_dbfs`; returns the
        level (None: no comfort check plays)."""
        if self.check_kind != "comfort" or self.comfort_dbfs is None or self._check_end_reason:
            return None
        new = self.comfort_dbfs + int(steps) * _checks.COMFORT_STEP_DB
        new = round(min(self.comfort_max_dbfs(), max(LEVEL_FLOOR_DBFS, new)), 2)
        if new != self.comfort_dbfs:
            self.comfort_dbfs = new
            self.engine.check_level(new)
        return new

    def keep_comfort_level(self) -> str:
        """The comfort check's level becomes the session's level (through the normal settings path:
        recorded and held by the gentle limits like any change); the check then ends gently."""
        if self.check_kind != "comfort" or self.comfort_dbfs is None or self._check_end_reason:
            return "unchanged"
        level, before = self.comfort_dbfs, self.settings.audio.level_dbfs
        self._check_end_reason = "level kept"
        outcome = self.change(self.settings.with_("audio", level_dbfs=level))
        self.event("comfort_level", level_dbfs=level, previous_dbfs=before, outcome=outcome)
        self.engine.stop("stopped")
        return outcome

    def end_check(self) -> str:
        """Stop the headphone check gently (its fade); nothing else changes."""
        if not self.check_kind:
            return "unchanged"
        if not self._check_end_reason:
            self._check_end_reason = "stopped"
        self.engine.stop("stopped")
        return "applied"

    def _check_over(self) -> None:
        kind, reason = self.check_kind, self._check_end_reason or "complete"
        self.check_kind, self._check_end_reason = "", ""
        self.comfort_dbfs = None
        self.check_on_client = False
        self.event("check_end", check=kind, reason=reason)
        self.check_changed.emit("")

    # ------------------------------------------------------------------ the display

    def sample_at(self, t: float) -> FrameSample:
        """What the client sees at monotonic time ``t``: the frame heard at that moment."""
        anchor = getattr(self.clocks, "anchor", None) if self.clocks is not None else None
        if anchor is not None:
            self.anchor_map.add(anchor)
        if not self.anchor_map.locked:
            return self.engine.sample(self.engine.next_frame)
        return self.engine.sample(self.anchor_map.frame_at(t))

    # ------------------------------------------------------------------ polling

    _switch_pending = False

    def poll(self) -> None:
        """Read what the clock thread published: finished sets first, then the status."""
        done = []
        while self.engine.finished:
            done.append(self.engine.finished.popleft())
        st = self.engine.status
        prev = self.status
        self.status = st
        if st.set_index != prev.set_index:
            self._start_pending = False
        if st.set_index != prev.set_index and st.state != IDLE:
            self._set_begun[st.set_index] = (self.wall(), self.settings, self.preset_name)
            self._last_set = (self.settings, self.preset_name)
            self.entry_keys.reset()
            self._set_unlocks = dict(self.policy.unlocks)
            self._set_display_base = dict(self.display_info())
            if self._calibrating:  # the engine ended the program as the set began
                self._calibrating = False
                self.event("calibration", on=False, why="set started")
                self.calibration_changed.emit(False)
            self.set_started.emit(st.set_index)
        for result in done:
            self._record_set(result)
        if st.look_slowed_s and st.look_slowed_s != self._look_notice:
            self.notice.emit(f"The client screen's brightness changes over {st.look_slowed_s:.1f} s, not at once: "
                             "fast brightness changes can trigger photosensitive reactions.")
            self.event("photosafe_slowed", seconds=round(st.look_slowed_s, 2))
        self._look_notice = st.look_slowed_s
        if self.check_kind and not st.check and st.checks >= self._check_serial:
            self._check_over()
        if st != prev:
            self.status_changed.emit(st)
        self.check_clock()
        self._check_store()
        self._poll_remote()

    def check_clock(self) -> None:
        """A device that died hands over to the system clock at once (the set runs on and can be
        stopped); an output being opened takes over once it plays and no set runs; a pending change of
        clock happens once no set runs. Never waits for the sound system."""
        check = getattr(self.clocks, "check", None)
        if check is None:
            return
        why = check()
        if why:
            during = self.engine.status.state != IDLE
            self.event("clock_switch", to="system clock", why=why, during_set=during)
            # died during a set: tried once more when the set ends; while idle: left until the
            # therapist chooses the output or turns the tone on again
            self._switch_pending = during
            self.audio_changed.emit(self.clocks.status)
        settled = getattr(self.clocks, "settled", None)
        status = settled(self._between_sets()) if settled is not None else None
        if status is not None:
            self.event("clock_switch", to=status.device if status.ok else "system clock", status=status.summary)
            self.audio_changed.emit(status)
        self._switch_clock_if_due()

    def _between_sets(self) -> bool:
        return self.engine.status.state == IDLE and not self.engine.finished and not self._start_pending

    def _switch_clock_if_due(self) -> None:
        """The sound card or the stand-in clocks the session; a switch happens only between sets. The
        output is opened without waiting (the status says so); :meth:`check_clock` records the result."""
        if not self._switch_pending or self.engine.status.state != IDLE or self.engine.finished:
            return  # a set still to be recorded names the output it played through
        if self.ended:
            return  # quitting: no output is opened any more (PortAudio could still be at it at exit)
        reopen = getattr(self.clocks, "reopen", None)
        if reopen is None:
            return
        self._switch_pending = False
        want = self.settings.audio.enabled
        c = self.clocks
        if want == c.is_device and (not want or c.device_opened == c.device) and not getattr(c, "opening", False):
            return
        status = reopen(want, c.device)
        if not getattr(status, "pending", False):
            self.event("clock_switch", to=status.device or "system clock", status=status.summary)
        self.audio_changed.emit(status)

    def set_audio_device(self, device) -> bool:
        """Play through ``device`` (None: the system default). Chosen again, the same output is tried
        again. Happens between sets: returns whether it happened now (False: when the set ends)."""
        if self.clocks is None or getattr(self.clocks, "reopen", None) is None:
            return False
        self.clocks.device = device
        if not self.settings.audio.enabled:
            return True  # nothing plays: the output is opened when the tone is turned on
        self._switch_pending = True
        if self.engine.status.state != IDLE:
            return False
        self.clocks.device_opened = object()  # chosen again: open it again even if it is the same
        self._switch_clock_if_due()
        return True

    @property
    def audio_status(self):
        return getattr(self.clocks, "status", None)

    # ------------------------------------------------------------------ the client's screen in degrees

    def _in_degrees(self, new: Preset, old: Preset | None) -> Preset:
        """``new`` as it plays on the client screen: a sweep or target given in degrees sets its % from
        the geometry (bls.core.geometry.resolve; the therapist is told of a fallback or a limit). A %
        moved by the therapist (``old`` is what played) is in % from then on: its degrees are dropped."""
        if old is not None:
            was = resolve(old, self.geometry).preset
            m, v = new.motion, new.visual
            if (m.sweep_width_deg is not None and m.sweep_width_deg == old.motion.sweep_width_deg
                    and m.sweep_width_pct not in (old.motion.sweep_width_pct, was.motion.sweep_width_pct)):
                new = new.with_("motion", sweep_width_deg=None)
            if (v.target_diameter_deg is not None and v.target_diameter_deg == old.visual.target_diameter_deg
                    and v.target_diameter_pct not in (old.visual.target_diameter_pct, was.visual.target_diameter_pct)):
                new = new.with_("visual", target_diameter_deg=None)
        resolved = resolve(new, self.geometry)
        if resolved.notes != self.angle_notes:
            self.angle_notes = resolved.notes
            for note in resolved.notes:
                self.notice.emit(note)
            if resolved.notes:
                self.event("visual_angle_note", notes=list(resolved.notes))
        return resolved.preset

    def on_screen(self, preset: Preset) -> Preset:
        """``preset`` as it would play on the client screen (degrees resolved; nothing is told): what the
        live settings are compared with to say whether they differ from a preset."""
        return resolve(preset, self.geometry).preset

    def visual_angle(self, settings: Preset | None = None) -> dict:
        """The sweep and the target of ``settings`` (default: as played) in % and in degrees on the client
        screen, with the geometry used (degrees are None when the screen's size is not known)."""
        return visual_angle(settings or self.effective, self.geometry)

    def set_client_screen(self, name: str, width_px: int, height_px: int,
                          system_mm: tuple[float, float] | None = None,
                          area_px: tuple[int, int] | None = None) -> None:
        """The client display is on screen ``name`` of ``width_px`` x ``height_px`` (logical pixels), whose
        size the system reports as ``system_mm`` (``QScreen.physicalSize``; None: not reported); ``area_px``
        is the client display's size when it is a window there (None: fullscreen). The size entered for
        this screen name, and its viewing distance, are read back from the room settings."""
        self._client_screen = (name, int(width_px), int(height_px), system_mm, area_px)
        self._update_geometry()

    def _remembered(self, name: str) -> dict:
        return self.room.get("screens", name)

    def _update_geometry(self) -> None:
        geometry, why = None, ""
        if self._client_screen is not None:
            name, w, h, system, area = self._client_screen
            saved = self._remembered(name)
            distance = saved.get("distance_cm", DEFAULT_DISTANCE_CM)
            if distance_problem(distance):
                distance = DEFAULT_DISTANCE_CM
            size, source = None, ENTERED
            if "width_mm" in saved and "height_mm" in saved and not size_problem(saved["width_mm"], saved["height_mm"]):
                size = (saved["width_mm"], saved["height_mm"])
            else:
                source = SYSTEM
                size, why = system_size(w, h, *(system or (None, None)))
            if size is not None and w > 0 and h > 0:
                aw, ah = area or (0, 0)
                geometry = ScreenGeometry(name, w, h, float(size[0]), float(size[1]), float(distance), source,
                                          int(aw), int(ah))
        if (geometry, why) != (self.geometry, self.geometry_note):
            self.geometry, self.geometry_note = geometry, why
            data = geometry.as_record() if geometry is not None else {"screen": (self._client_screen or ("",))[0],
                                                                        "known": False, "why": why}
            self.event("screen_geometry", **data)
            self.geometry_changed.emit(geometry)
        resolved = self._in_degrees(self.settings, None)
        if resolved != self.settings:
            self.change(resolved)  # a sweep or target in degrees follows the screen (it glides)

    def viewing_distance_cm(self) -> float:
        """The viewing distance for the client screen (remembered for its name, else the default)."""
        if self.geometry is not None:
            return self.geometry.distance_cm
        if self._client_screen is not None:
            d = self._remembered(self._client_screen[0]).get("distance_cm", DEFAULT_DISTANCE_CM)
            return DEFAULT_DISTANCE_CM if distance_problem(d) else d
        return DEFAULT_DISTANCE_CM

    def system_screen_size(self) -> tuple[tuple[float, float] | None, str]:
        """The size the system reports for the client screen, if believable ((w, h) or None, why not)."""
        if self._client_screen is None:
            return None, "no client screen"
        _, w, h, system, _ = self._client_screen
        return system_size(w, h, *(system or (None, None)))

    def _remember_screen(self, values: dict) -> str:
        """Remember ``values`` for the client screen; returns what went wrong ("": remembered)."""
        if self._client_screen is None:
            return "no client screen is chosen"
        problem = ""
        try:
            self.room.put("screens", self._client_screen[0], values)
        except ValueError as exc:  # nothing changed
            problem = f"it is not remembered: {exc}"
        except OSError as exc:  # the store keeps it in memory
            problem = f"it holds for this session only: {getattr(exc, 'strerror', None) or exc}"
        self._update_geometry()
        return problem

    def set_screen_size(self, width_mm, height_mm) -> str:
        """The client screen's physical size as the therapist measured it (mm), remembered for this screen
        name. ValueError says why a size is refused (nothing changes); returns a problem remembering it
        ("" when remembered)."""
        why = size_problem(width_mm, height_mm)
        if why:
            raise ValueError(why[0].upper() + why[1:] + ".")
        return self._remember_screen({"width_mm": float(width_mm), "height_mm": float(height_mm)})

    def forget_screen_size(self) -> str:
        """Back to the size the screen reports (the entered size is forgotten)."""
        return self._remember_screen({"width_mm": None, "height_mm": None})

    def set_viewing_distance(self, distance_cm) -> str:
        """The distance from the client's eyes to the screen (cm), remembered for this screen name.
        ValueError says why a distance is refused (nothing changes)."""
        why = distance_problem(distance_cm)
        if why:
            raise ValueError(why[0].upper() + why[1:] + ".")
        return self._remember_screen({"distance_cm": float(distance_cm)})

    # ------------------------------------------------------------------ the client's screen

    def screen_lost(self, name: str) -> None:
        """The client's monitor went away: a running set pauses (with its fade); the therapist is told."""
        running = self.engine.status.state == RUNNING
        if running:  # posted first: the event's time is then never before the frame the pause lands on
            self.engine.pause()
        self.event("screen_change", screen=name, connected=False, paused_set=running)
        self.notice.emit(f"The client's screen “{name}” was disconnected"
                         + (": the set is paused." if running else ".")
                         + " Reconnect it; the client display returns there.")

    def screen_back(self, name: str) -> None:
        paused = self.engine.status.state == PAUSED
        self.event("screen_change", screen=name, connected=True)
        self.notice.emit(f"The client's screen “{name}” is back" + (": press Space to resume the set." if paused else "."))

    def dropped_in_set(self, info: dict) -> int | None:
        if not self._set_display_base:
            return None
        return max(0, int(info.get("dropped_frames_total", 0)) - int(self._set_display_base.get("dropped_frames_total", 0)))

    def _record_set(self, result) -> None:
        info = dict(self.display_info())
        extra = {"client_screen": info.get("screen"), "refresh_hz": info.get("refresh_hz"),
                 "display": info.get("kind"), "dropped_frames": self.dropped_in_set(info) or 0}
        extra.update(self.audio_info())
        extra["visual_angle"] = self.visual_angle()  # as played at the set's end, on the screen it played on
        unlocked = dict(self._set_unlocks)  # every unlock that held at some moment of the set
        if result.gentle:
            unlocked.update(self.policy.unlocks)
        entry = set_entry(result, unlocked, extra)
        self.record.add_set(entry)
        self.policy.set_ended(result.end_frame, self.effective.timing.rest_s, entry["gentle"])
        self._set_display_base = {}
        self._write()
        self._clinical_set(entry)
        self.set_finished.emit(entry)

    def _audio_meta(self) -> None:
        """The output as it is now, at the top of the record (each set names its own)."""
        status = self.audio_status
        if status is not None:
            info = self.audio_info()
            self.record.meta.update(audio_device=status.device, audio_status=status.summary,
                                    audio_detail=status.detail, audio_latency_ms=info.get("audio_latency_ms"),
                                    audio_delay_ms=info.get("audio_delay_ms"))

    def audio_info(self) -> dict:
        """The output as it plays now: its name and status, its measured latency and the manual audio
        delay that applies to it (both None without a sound card)."""
        status = self.audio_status
        if status is None:
            return {}
        clock = getattr(self.clocks, "clock", None)
        device = bool(getattr(self.clocks, "is_device", False))
        latency = getattr(clock, "latency_s", None) if device else None
        return {"audio_device": status.device, "audio_status": status.summary,
                "audio_latency_ms": round(latency * 1000.0, 1) if latency is not None else None,
                "audio_delay_ms": self.audio_delay_ms if self.delay_output is not None else None}

    # ------------------------------------------------------------------ the output's audio delay

    @property
    def delay_output(self) -> str | None:
        """The output the audio delay is kept for: the one playing, by the name its status reports
        (the system default output's too); None while no sound card plays."""
        return self._delay_output

    @property
    def audio_delay_ms(self) -> float:
        """The manual audio delay applied to the output playing (ms; see bls.core.avdelay)."""
        return self._delay_ms

    def stored_delay_ms(self, name: str | None) -> float:
        """The delay remembered for output ``name`` (0 when none is)."""
        if not name:
            return 0.0
        value = self.room.get(ROOM_KIND, name).get(ROOM_FIELD, 0.0)
        try:
            return check_delay_ms(value)
        except ValueError:
            return 0.0  # a value out of range in the file is not applied

    def _playing_output(self) -> str | None:
        status = self.audio_status
        if status is None or not status.ok or not getattr(self.clocks, "is_device", False):
            return None
        return status.device or None

    def _restore_delay(self) -> None:
        """The output changed (or its clock was opened again): its remembered delay applies to it."""
        name = self._playing_output()
        ms = self.stored_delay_ms(name)
        applied = name is not None and bool(getattr(self.clocks, "set_delay", lambda _s: False)(ms / 1000.0))
        now = (ms, name) if applied else (0.0, None)
        if now != (self._delay_ms, self._delay_output):
            self._delay_ms, self._delay_output = now
            self.delay_changed.emit(*now)
        if self._calibrating and self._delay_output is None:  # the sound card went: nothing to calibrate
            self.stop_calibration()

    def set_audio_delay(self, ms) -> str:
        """The manual audio delay for the output playing, -300 to +300 ms (positive: its sound is heard
        that much later than PortAudio reports, as with Bluetooth headphones). Applied through the clock
        mapping and remembered for that output's name. Only between sets: mid-set the target would jump
        by the delay times its speed. ValueError says why it was refused."""
        ms = check_delay_ms(ms)
        if not self._between_sets():
            raise ValueError("audio delay: it is changed between sets (the target would jump); "
                             "change it after this set")
        name = self._delay_output
        if name is None:
            raise ValueError("audio delay: no sound card plays (the system clock runs the target); "
                             "choose an output under Sound first")
        if ms == self._delay_ms:
            return "unchanged"
        self.clocks.set_delay(ms / 1000.0)
        old, self._delay_ms = self._delay_ms, ms
        self.event("audio_delay", output=name, ms=ms, old_ms=old)
        try:
            self.room.put(ROOM_KIND, name, {ROOM_FIELD: ms if ms else None})
        except (OSError, ValueError) as exc:
            self.notice.emit(f"The audio delay applies now but is not remembered for “{name}”: {exc}")
        self._audio_meta()
        self.delay_changed.emit(ms, name)
        return "applied"

    @property
    def calibrating(self) -> bool:
        return self._calibrating

    def start_calibration(self) -> str:
        """Start the audio-delay calibration program (bls.core.avdelay): only between sets, with the
        tone on and a sound card playing. Returns "applied", "unchanged" or "refused" (the notice
        says why)."""
        if self._calibrating:
            return "unchanged"
        why = ""
        if self.check_kind:
            why = "A headphone check is playing: the calibration can start when it ends."
        elif not self._between_sets() or self.question is not None:
            why = "The audio delay is calibrated between sets: stop the set first."
        elif not self.settings.audio.enabled:
            why = "The calibration needs the tone: turn it on first."
        elif self._delay_output is None:
            why = "The calibration needs a sound card: choose an output under Sound first."
        if why:
            self.notice.emit(why)
            return "refused"
        self._calibrating = True
        self.engine.calibrate(True)
        self.event("calibration", on=True, output=self._delay_output, delay_ms=self._delay_ms)
        self.calibration_changed.emit(True)
        return "applied"

    def stop_calibration(self) -> str:
        if not self._calibrating:
            return "unchanged"
        self._calibrating = False
        self.engine.calibrate(False)
        self.event("calibration", on=False, delay_ms=self._delay_ms)
        self.calibration_changed.emit(False)
        return "applied"

    # ------------------------------------------------------------------ the remote client (telehealth)

    def invite(self, host: str = "127.0.0.1", port: int = 0, relay: str = "", key: str = "") -> str:
        """Invites a remote client and returns its link (the same link while invited). On this network:
        the embedded server listens on ``host``:``port`` (0: any free port). Over the internet: with
        ``relay`` (a ``bls relay``'s address) and its ``key``, the app connects out to the relay and the
        link is the relay's. OSError saying why when it cannot listen or the relay refuses; ValueError
        for an address or key that is not one. Only stimulus parameters and timing are sent, never the
        clinical record. Waits until it listens or the relay answers (a relay: up to about 6 s); a front
        end that must not wait uses :meth:`remote_bridge` and :meth:`adopt_remote`."""
        if self._remote is not None:
            return self._remote.url
        bridge = self.remote_bridge(host, port, relay, key)
        bridge.start()
        return self.adopt_remote(bridge)

    def remote_bridge(self, host: str = "127.0.0.1", port: int = 0, relay: str = "", key: str = ""):
        """The embedded server or the relay link for an invitation, not started (nothing listens or
        connects yet). Its ``start()`` blocks until it listens or the relay answers and touches nothing
        of the session, so a front end may run it on another thread, then hand the started bridge to
        :meth:`adopt_remote` on its own. ValueError / OSError as :meth:`invite`."""
        if self.ended:
            raise OSError("the session has ended")
        gentle, unlocks = (lambda: bool(self.settings.gentle)), (lambda: dict(self.unlocks))
        if relay:
            from ..remote.link import RelayLink  # noqa: PLC0415 - aiohttp only when the therapist invites

            return RelayLink(self.engine, relay, key, gentle=gentle, unlocks=unlocks)
        from ..remote.server import RemoteServer  # noqa: PLC0415

        return RemoteServer(self.engine, gentle=gentle, host=host, port=port, unlocks=unlocks)

    def adopt_remote(self, bridge) -> str:
        """A started bridge (:meth:`remote_bridge`) becomes this session's remote client link; its URL.
        One that comes too late (the session ended, or another link was made meanwhile) is ended and
        OSError says why."""
        if self.ended or self._remote is not None:
            bridge.end("the session ended" if self.ended else "another link was made meanwhile", 1.0)
            raise OSError("the session has ended" if self.ended else "the remote client is already invited")
        self._remote = bridge
        if hasattr(bridge, "base"):
            self.event("remote_invited", relay=bridge.base)
        else:
            self.event("remote_invited", host=bridge.host, port=bridge.port, url=bridge.url)
        self.remote_changed.emit(self.remote)
        return bridge.url

    def uninvite(self, reason: str = "the therapist ended the remote session", timeout: float = 2.0) -> None:
        """The link expires, the client is told (``bye``) and the server stops (waits ``timeout`` at most)."""
        server, self._remote = self._remote, None
        if server is None:
            return
        self._poll_remote(server)
        was = server.status["connected"]
        server.end(reason, timeout)
        if was:
            self.event("remote_left", why=reason)
        self.event("remote_uninvited", why=reason)
        self.remote_changed.emit(self.remote)

    @property
    def remote(self) -> dict:
        """``invited``, ``url`` and, from the client: ``connected``, ``rtt_ms``, ``sound``, ``screen``
        (w, h, dpr), ``audio``, ``av_offset_ms``, ``dropped_frames``, ``frame``."""
        server = self._remote
        if server is None:
            return {"invited": False, "url": "", "connected": False}
        return {"invited": True, "url": server.url, "via": server.via, **server.status}

    def _poll_remote(self, server=None) -> None:
        server = server or self._remote
        if server is None:
            return
        changes = server.take_changes()
        for kind, st in changes:
            if kind == "connected":
                self.event("remote_connected")
            elif kind == "left":
                self.event("remote_left", why="the client left")
            elif kind == "link":
                self.event("remote_relay", state=st.get("relay", ""))
        if changes and server is self._remote:
            self.remote_changed.emit(self.remote)

    # ------------------------------------------------------------------ the end

    def quit(self) -> None:
        """The session ends: a running set stops (with its fade), questions close safely, a remote
        client is told (its link expires)."""
        self.uninvite("the session ended", timeout=1.0)  # quitting: a client slow to answer is not waited for
        if self.question is not None:
            self._close_question(False, "quit")
        self.stop_calibration()
        if self.engine.status.state != IDLE:
            self.engine.stop("quit")
        self.ended = True

    def finish(self) -> None:
        """After :meth:`quit` (and the clock closed): a set still ending is recorded where it got to
        (stop reason 'quit'), then the end of the session; the record is written."""
        self.poll()
        if self.engine.status.state != IDLE:
            self.engine.owner = object()  # no clock advances the engine any more
            self.engine.end_now("quit")
            self.engine.process(0, None, self.engine.owner)  # publishes the status
            self.poll()
        self.event("session_end")
        if self.clinical.started:
            self.clinical.ended_at = iso(self.wall())
            self._store_put()

    def close_store(self, timeout: float = 5.0) -> str:
        """At the very end: the clinical record is written (waiting at most ``timeout``). Returns what
        went wrong ("" when everything is in the database); what could not be stored is then kept in
        the technical JSON record, so nothing is lost."""
        if self.store is None:
            return ""
        written = self.store.close(timeout)
        if written:
            if self._store_problem:  # the fault cleared at the last write: said, the interim copy dropped
                self._check_store()
                self._write()
            return ""
        problem = self.store.problem or "the record database did not answer in time"
        self.record.meta["clinical"] = self.clinical_document()
        self._write()
        if self.record.path is None and len(self.record.write_errors) == len(self.record.copies):
            # no technical record was written (bls script without --log, or --log failing): the
            # clinical record gets a file of its own in the records folder
            folder = records_dir()
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError:
                pass
            self.record.path = default_record_path(folder)
            self._write()
            if not any(e.startswith(f"{self.record.path}:") for e in self.record.write_errors):
                return f"{problem}; this session's clinical record is kept in {self.record.path}"
            return problem
        self._write()
        return problem

    # ------------------------------------------------------------------ the clinician's record

    def clinical_document(self) -> dict:
        """The clinical record of this session as plain data (what the database holds)."""
        c = self.clinical
        sets = [{**{k: v for k, v in s.items() if k != "facts"}, "unlocked": json.loads(s["unlocked"])}
                for s in c.sets]
        return {"id": None, **c.session_row(), "targets": [dict(t) for t in c.targets],
                "medicine": [dict(m) for m in c.medicine], "sets": sets}

    def _store_put(self, kind: str | None = None, n: int = 0, row: dict | None = None) -> None:
        self.clinical.started = True
        if self.store is not None:
            self.store.put(self.clinical.session_row(), kind, n, row)
            if self.store.problem:  # kept in the JSON record meanwhile, written now (a crash loses nothing)
                self.record.meta["clinical"] = self.clinical_document()
                self._write()

    def _check_store(self) -> None:
        problem = self.store.problem if self.store is not None else ""
        if problem == self._store_problem:
            return
        self._store_problem = problem
        if problem:
            self.record.meta["clinical"] = self.clinical_document()
            self.event("record_db", ok=False, why=problem)
        else:
            self.record.meta.pop("clinical", None)
            self.event("record_db", ok=True)
        self.store_state.emit(problem)

    def set_client(self, code) -> str:
        """The client this session belongs to (a pseudonym such as C-017); EntryError if it is not one."""
        code = check_code(code)
        if code == self.clinical.client:
            return "unchanged"
        self.clinical.client = code
        self._store_put()
        self.clinical_changed.emit("client")
        return "applied"

    def set_target(self, fields: dict, new: bool | None = None) -> int:
        """The target being processed (the EMDR assessment fields, all optional). A target that no set
        has gone with yet is corrected in place (the fields given replace theirs; a SUD or VOC typed
        before it keeps); otherwise (or with ``new``) a new target begins. Returns its number."""
        checked = check_target(fields)
        c = self.clinical
        current = c.target
        used = current is not None and any(s.get("target_n") == current["n"] for s in c.sets)
        if new is None:
            new = current is None or used
        if new or current is None:
            current = {"n": len(c.targets) + 1}
            c.targets.append(current)
        else:
            checked = {k: v for k, v in checked.items() if k in fields}
        current.update(checked, set_at=iso(self.wall()))
        self._store_put("target", current["n"], current)
        self.clinical_changed.emit("target")
        return current["n"]

    def mark_medicine(self, route="", dose="", taken_at: _dt.datetime | None = None) -> int:
        """The time the medicine was taken (ketamine-assisted sessions); route and dose are free text,
        recorded as given, never advised or checked. Returns the mark's number."""
        route = check_text("route", route, MEDICINE_TEXT_MAX)
        dose = check_text("dose", dose, MEDICINE_TEXT_MAX)
        now = self.wall()
        taken_at = taken_at or now
        if taken_at.tzinfo is None:
            taken_at = taken_at.astimezone()
        if taken_at > now + _dt.timedelta(minutes=1):
            raise EntryError("medicine: the time taken is in the future; give the time it was taken")
        if taken_at < now - MEDICINE_PAST_LIMIT:
            raise EntryError("medicine: the time taken is more than 24 hours ago; give today's time")
        n = len(self.clinical.medicine) + 1
        row = {"n": n, "taken_at": iso(taken_at), "route": route, "dose": dose}
        self.clinical.medicine.append(row)
        self.event("medicine", n=n)  # the technical record notes that a time was marked, nothing more
        self._store_put("medicine", n, row)
        self.clinical_changed.emit("medicine")
        return n

    def minutes_since_medicine(self) -> float | None:
        return self.clinical.minutes_since_medicine(self.wall())

    def pending_entry(self) -> dict:
        """SUD/VOC/note typed while the set fades out, before that set is in the record."""
        return dict(self._ending_entry)

    def _entry_place(self, what: str) -> tuple[str, dict]:
        """Where an entry typed now goes: the set that just ended, or, before the first set, the
        target's starting values. EntryError during a set."""
        state = self.engine.status.state
        if state in (STOPPING, GLIDING) or (state == IDLE and self.engine.finished):
            return "ending", self._ending_entry  # the set is ending: the entry goes with it as it ends
        if state not in (IDLE, CHECK) or self._start_pending:
            raise EntryError(f"{what} goes with a set that has ended: enter it in the rest after the set")
        c = self.clinical
        if c.sets:
            return "set", c.sets[-1]
        if what == "a note":
            raise EntryError("a note goes with a set: enter it in the rest after a set")
        if c.target is None:
            c.targets.append({"n": 1, "set_at": iso(self.wall()), **check_target({})})
        return "target", c.target

    def _enter(self, field: str, value, what: str) -> tuple[str, int]:
        kind, row = self._entry_place(what)
        row[field] = value
        if kind == "ending":
            self.clinical_changed.emit("entry")
            return kind, self.engine.status.set_index
        self._store_put(kind, row["n"], {k: v for k, v in row.items()})
        self.clinical_changed.emit("entry")
        return kind, row["n"]

    def enter_sud(self, value) -> tuple[str, int]:
        """A SUD (0-10) for the set that just ended (before any set: the target's starting SUD).
        Returns ("set" or "target", its number)."""
        return self._enter("sud", check_sud(value), "a SUD")

    def enter_voc(self, value) -> tuple[str, int]:
        return self._enter("voc", check_voc(value), "a VOC")

    def enter_note(self, text) -> tuple[str, int]:
        """One line: what the client noticed after the set (an empty line clears it)."""
        return self._enter("note", check_text("note", text, NOTE_MAX), "a note")

    def _entry_key(self, name: str) -> str:
        if name == "N":
            self.entry_keys.reset()
            try:
                self._entry_place("a note")
            except EntryError as exc:
                self.notice.emit(str(exc)[0].upper() + str(exc)[1:] + ".")
                return "unchanged"
            self.note_requested.emit()
            return "asked"
        if name == "R":
            self.entry_keys.reset()
            return self.repeat()
        meaning = self.entry_keys.key(name, self.now_s)
        if meaning is None:
            return "unchanged"
        kind, value = meaning
        try:
            if kind == "sud":
                self.enter_sud(value)
            elif kind == "voc":
                self.enter_voc(value)
            elif kind == "voc_bad":
                self.notice.emit(f"VOC {value}: a VOC is 1 (completely false) to 7 (completely true).")
                return "unchanged"
            else:
                return "asked"  # V: waiting for its digit
        except EntryError as exc:
            self.entry_keys.reset()
            self.notice.emit(str(exc)[0].upper() + str(exc)[1:] + ".")
            return "unchanged"
        return "applied"

    def repeat(self) -> str:
        """Another set with the settings the last set started with."""
        if self.engine.status.state != IDLE or self._start_pending or self.ended:
            return "unchanged"
        if self._last_set is None:
            self.notice.emit("No set to repeat yet: start the first one with Space.")
            return "unchanged"
        settings, name = self._last_set
        if settings != self.settings:
            outcome = self.change(settings, name if name != self.preset_name else None)
            if outcome == "asked":
                self._repeat_after = True
                return "asked"
        self.event("repeat")
        return self.start()

    def _clinical_set(self, entry: dict) -> None:
        c = self.clinical
        n = entry["index"]
        begun = self._set_begun.pop(n, None)
        end_wall = self.wall()
        start_wall = begun[0] if begun else end_wall - _dt.timedelta(seconds=entry["ended_s"] - entry["started_s"])
        events = [e for e in self.record.events if entry["started_s"] <= e["t_s"] <= entry["ended_s"]]
        t = c.target
        row = {"n": n, "target_n": t["n"] if t else None, "started_at": iso(start_wall), "ended_at": iso(end_wall),
               "started_s": entry["started_s"], "ended_s": entry["ended_s"], "preset": entry["preset"],
               "stop_reason": entry["stop_reason"], "set_mode": entry["set_mode"],
               "passes_requested": entry["passes_requested"], "passes_delivered": entry["passes_delivered"],
               "seconds_requested": entry["seconds_requested"], "seconds_delivered": entry["seconds_delivered"],
               **delivered_summary(entry), "gentle": bool(entry["gentle"]),
               "unlocked": json.dumps(entry["unlocked"], sort_keys=True),
               "sud": None, "voc": None, "note": "", **self._ending_entry,
               "medicine_min": c.minutes_since_medicine(start_wall),
               "audio_device": entry.get("audio_device"), "display": entry.get("display"),
               "facts": json.dumps({**entry, "events": events}, ensure_ascii=False, allow_nan=False)}
        row["tone"], row["visual"] = bool(row["tone"]), bool(row["visual"])
        self._ending_entry = {}
        c.sets.append(row)
        self._store_put("set", n, row)
        self.clinical_changed.emit("set")
