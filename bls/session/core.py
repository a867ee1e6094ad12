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

import itertools
from pathlib import Path
from collections.abc import Callable
from dataclasses import fields

from ..core import gentle
from ..core.clock import AnchorMap
from ..core.engine import IDLE, PAUSED, RUNNING, SAMPLE_RATE, FrameSample, Status, StimulusEngine
from ..core.preset import SECTIONS, SPEED_MAX, SPEED_MIN, Preset, _check_value, clamp_to_schema
from .policy import Policy, Question
from .record import SessionRecord, set_entry

SPEED_STEP = 0.05
KEYS = ("Space", "Escape", "Up", "Down", "PageUp", "PageDown", "B")


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
                 record: SessionRecord | None = None):
        """``clocks_factory(engine, want_audio)`` returns the object that clocks the engine (a
        :class:`~bls.session.clocks.ClockManager` in the app, a manual clock in ``bls script``)."""
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
        self.audio_changed.connect(lambda _status: self._audio_meta())
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
        self.event("answer", question=q.kind, answer="yes" if yes else "no", why=why)
        self.question_closed.emit(q, yes, why)
        if yes and on_yes is not None:
            on_yes()
        elif not yes:
            if on_no is not None:
                on_no()
            self.settings_changed.emit(self.settings)  # controls that moved ahead snap back

    # ------------------------------------------------------------------ sets

    def start(self) -> str:
        """Start a set (or resume a paused one). In gentle mode, early in the rest, this asks."""
        self.poll()  # a set that just ended on the clock thread owes its rest from now
        state = self.engine.status.state
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
        if state == RUNNING:
            self.engine.pause()
            return "applied"
        return self.start()

    def stop(self, reason: str = "stopped") -> None:
        """Stop always wins: an open question closes with its safe answer first."""
        if self.question is not None:
            self._close_question(False, "stop")
        self.engine.stop(reason)

    def key(self, name: str) -> str:
        """A key from the therapist (keyboard, presenter clicker, foot pedal, script)."""
        if name in ("Escape", "PageUp", "B"):
            self.stop("stopped")
            return "applied"
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
        running = self.engine.status.state != IDLE or self._start_pending
        if running:  # every change of a clinical setting during a set (or as it starts) is recorded
            for path, a, b in settings_diff(old, new):
                if path != "gentle":
                    self.event("setting", field=path, old=a, new=b)
        self.settings = new
        self.engine.apply(new, self.policy.unlocks)
        self.settings_changed.emit(new)
        if new.audio.enabled != old.audio.enabled:
            self._switch_pending = True
            self._switch_clock_if_due()

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
            self._set_unlocks = dict(self.policy.unlocks)
            self._set_display_base = dict(self.display_info())
            self.set_started.emit(st.set_index)
        for result in done:
            self._record_set(result)
        if st.look_slowed_s and st.look_slowed_s != self._look_notice:
            self.notice.emit(f"The client screen's brightness changes over {st.look_slowed_s:.1f} s, not at once: "
                             "fast brightness changes can trigger photosensitive reactions.")
            self.event("photosafe_slowed", seconds=round(st.look_slowed_s, 2))
        self._look_notice = st.look_slowed_s
        if st != prev:
            self.status_changed.emit(st)
        self.check_clock()

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

    # ------------------------------------------------------------------ the client's screen

    def screen_lost(self, name: str) -> None:
        """The client's monitor went away: a running set pauses (with its fade); the therapist is told."""
        running = self.engine.status.state == RUNNING
        self.event("screen_change", screen=name, connected=False, paused_set=running)
        if running:
            self.engine.pause()
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
        unlocked = dict(self._set_unlocks)  # every unlock that held at some moment of the set
        if result.gentle:
            unlocked.update(self.policy.unlocks)
        entry = set_entry(result, unlocked, extra)
        self.record.add_set(entry)
        self.policy.set_ended(result.end_frame, self.effective.timing.rest_s, entry["gentle"])
        self._set_display_base = {}
        self._write()
        self.set_finished.emit(entry)

    def _audio_meta(self) -> None:
        """The output as it is now, at the top of the record (each set names its own)."""
        status = self.audio_status
        if status is not None:
            self.record.meta.update(audio_device=status.device, audio_status=status.summary,
                                    audio_detail=status.detail)

    def audio_info(self) -> dict:
        status = self.audio_status
        if status is None:
            return {}
        return {"audio_device": status.device, "audio_status": status.summary}

    # ------------------------------------------------------------------ the end

    def quit(self) -> None:
        """The session ends: a running set stops (with its fade), questions close safely."""
        if self.question is not None:
            self._close_question(False, "quit")
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
