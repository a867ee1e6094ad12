"""The stimulus engine: one state machine, clocked by the audio frame counter.

The engine owns stimulus time. Its only clock is ``process(n, out)``, called by whoever owns the
frames: the PortAudio callback (real sample clock), the monotonic stand-in (no device or muted) or
the offline renderer. Each call renders frames ``[next_frame, next_frame + n)``.

Threads. The GUI never touches engine state: it posts commands (``start``, ``pause``, ``stop``,
``apply``) into a deque, and the clock thread applies them at the start of its next block. The clock
thread publishes immutable :class:`Snapshot` objects (a small history) and a :class:`Status`; the GUI
reads those by reference and evaluates the target's position for any frame with :meth:`sample`.

Exactness. A snapshot describes the stimulus from its ``start`` frame on in closed form (ramps for
speed, level, pan depth, carrier and fades; the phase as the ramp's integral), so any frame can be
evaluated on its own. Automatic events (a set reaching its last pass, a deceleration reaching rest,
a glide reaching the centre) are placed at the exact frame where they happen, never at a block
edge. Rendering a stretch in one block therefore equals rendering it in any split.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from . import gentle, motion, photosafe, tone
from .checks import COMFORT_FADE_IN_S, COMFORT_RISE_S, COMFORT_START_BELOW_DB, CheckProgram
from .look import Look, look_of
from .preset import Preset, clamp_to_schema
from .ramp import Ramp
from .synth import Scratch, ToneRenderer

SAMPLE_RATE = 48_000

# Ramp times (seconds). Every change of anything audible takes at least 5 ms (no clicks).
LEVEL_RAMP_S = 0.05
DEPTH_RAMP_S = 0.10
PAN_MODE_RAMP_S = 0.3
CARRIER_RAMP_S = 0.08
TONE_XFADE_S = 0.06
MUTE_RAMP_S = 0.10
SHAPE_XFADE_S = 0.6
PAUSE_DECEL_S = 0.6
PAUSE_FADE_S = 0.3
STOP_DECEL_S = 0.35  # Esc: the target comes to rest quickly, then glides to the centre
STOP_FADE_S = 0.15  # Esc: silence well within 300 ms (plus the device's output latency)
TIMEUP_DECEL_S = 0.8
GLIDE_MIN_S = 0.35  # glide to centre: GLIDE_MIN_S + GLIDE_PER_UNIT_S x distance from centre
GLIDE_PER_UNIT_S = 0.6
SHOW_TARGET_S = 0.4
HIDE_TARGET_S = 0.8
SPEED_SLEW = 0.5  # cycles/s per second: how fast a speed change glides
PULSE_ATTACK_S = 0.006
PULSE_LENGTH_S = 0.12
LOOK_GLIDE_S = 0.5  # size, edge, colour and background changes glide this long (or longer: photosafe)
#: the snapshots kept for the display cover this much stimulus time before the newest one: more than
#: any output latency (plus a manual audio delay) and a display frame
HISTORY_S = 2.0
#: the set record reads the delivered values from the engine's own state this often (stimulus time)
SAMPLE_EVERY_S = 0.25
#: gentle mode switched on mid-set ("soften now"): the speed is inside the envelope within this long
SOFTEN_S = 2.5
#: a fade of F seconds (preset fade_in_s / fade_out_s) goes from silence to within 1 dB of the steady
#: level in exactly F seconds: the raised-cosine ramp runs this much longer than F
FADE_STRETCH = math.pi / math.acos(1.0 - 2.0 * 10.0 ** (-1.0 / 20.0))
NO_UNLOCKS: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Feel:
    """How quickly things change: the normal feel, and the slower one of gentle mode (core.gentle)."""
    level_ramp: float = LEVEL_RAMP_S
    depth_ramp: float = DEPTH_RAMP_S
    pan_mode_ramp: float = PAN_MODE_RAMP_S
    carrier_ramp: float = CARRIER_RAMP_S
    tone_xfade: float = TONE_XFADE_S
    mute_ramp: float = MUTE_RAMP_S
    shape_xfade: float = SHAPE_XFADE_S
    pause_decel: float = PAUSE_DECEL_S
    pause_fade: float = PAUSE_FADE_S
    stop_decel: float = STOP_DECEL_S
    stop_fade: float = STOP_FADE_S
    timeup_decel: float = TIMEUP_DECEL_S
    glide_min: float = GLIDE_MIN_S
    glide_per_unit: float = GLIDE_PER_UNIT_S
    show_target: float = SHOW_TARGET_S
    hide_target: float = HIDE_TARGET_S
    speed_slew: float = SPEED_SLEW
    pulse_attack: float = PULSE_ATTACK_S
    pulse_length: float = PULSE_LENGTH_S
    look_glide: float = LOOK_GLIDE_S
    accent_attack: float = tone.ACCENT_ATTACK_S
    accent_length: float = tone.ACCENT_LENGTH_S
    accent_db: float = tone.ACCENT_DB


NORMAL = Feel()
GENTLE = Feel(level_ramp=gentle.CHANGE_RAMP_S, depth_ramp=gentle.CHANGE_RAMP_S, pan_mode_ramp=0.6,
              carrier_ramp=gentle.CHANGE_RAMP_S, tone_xfade=gentle.CHANGE_RAMP_S, mute_ramp=0.5, shape_xfade=1.5,
              pause_decel=gentle.PAUSE_DECEL_S, pause_fade=gentle.PAUSE_FADE_S, stop_decel=gentle.STOP_DECEL_S,
              stop_fade=gentle.STOP_FADE_S, timeup_decel=2.0, glide_min=0.8, glide_per_unit=1.0,
              show_target=gentle.SHOW_TARGET_S, hide_target=gentle.SHOW_TARGET_S, speed_slew=gentle.SPEED_SLEW,
              pulse_attack=gentle.ATTACK_S, pulse_length=gentle.PULSE_LENGTH_S, look_glide=gentle.VISUAL_GLIDE_S,
              accent_attack=gentle.ACCENT_ATTACK_S, accent_length=gentle.ACCENT_LENGTH_S, accent_db=gentle.ACCENT_DB)

IDLE, RUNNING, PAUSED, STOPPING, GLIDING = "idle", "running", "paused", "stopping", "gliding"
CHECK = "check"  # a headphone check plays (core.checks): between sets, the target hidden


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The stimulus from frame ``start`` on, in closed form."""
    start: int
    state: str
    phase0: float
    speed: Ramp
    path: str
    profile: str
    prev_path: str
    prev_profile: str
    shape_mix: Ramp
    glide: Ramp
    glide_from: tuple[float, float, float]
    opacity: Ramp
    fade: Ramp
    level: Ramp
    mute: Ramp
    depth: Ramp
    alternate: Ramp  # 0 = continuous pan, 1 = alternating
    carrier: Ramp
    carrier_phase0: float
    tone: str
    prev_tone: str
    tone_mix: Ramp
    look_from: Look  # the look glides from look_from to look_to along look_mix (0..1, raised cosine)
    look_to: Look
    look_mix: Ramp
    #: the end-point accents: the swell's extra amplitude as a share of the level (0: no accents)
    accent: Ramp = Ramp.hold(0.0)
    check: CheckProgram | None = None  # the headphone check playing (state CHECK), from frame check_start
    check_start: int = 0

    def check_time_into(self, frames: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Seconds since the check began, at the frames, into ``out``."""
        np.subtract(frames, self.check_start, out=out)
        return np.divide(out, SAMPLE_RATE, out=out)

    def look_at(self, frame: float) -> Look:
        if self.look_mix.done(frame):
            return self.look_to
        return self.look_from.blend(self.look_to, self.look_mix.value_at(frame))

    def phase(self, frames):
        return self.phase0 + (self.speed.integral(frames) - self.speed.integral(self.start)) / SAMPLE_RATE

    def phase_into(self, frames: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> np.ndarray:
        """:meth:`phase` written into ``out`` (bit for bit); ``frames`` ascending, ``tmp`` scratch."""
        self.speed.integral_into(frames, out, tmp)
        np.subtract(out, self.speed.integral(self.start), out=out)
        np.divide(out, SAMPLE_RATE, out=out)
        return np.add(out, self.phase0, out=out)

    def carrier_phase(self, frames):
        """Carrier phase in cycles, wrapped to keep precision over long sessions."""
        c = self.carrier_phase0 + (self.carrier.integral(frames) - self.carrier.integral(self.start)) / SAMPLE_RATE
        return c - np.floor(c)

    def carrier_phase_into(self, frames: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> np.ndarray:
        """:meth:`carrier_phase` written into ``out`` (bit for bit); ``frames`` ascending."""
        self.carrier.integral_into(frames, out, tmp)
        np.subtract(out, self.carrier.integral(self.start), out=out)
        np.divide(out, SAMPLE_RATE, out=out)
        np.add(out, self.carrier_phase0, out=out)
        np.floor(out, out=tmp)
        return np.subtract(out, tmp, out=out)

    def position(self, frames):
        """(x, y, s): normalised screen position and position along the path, at the frames."""
        f = np.asarray(frames, dtype=np.float64)
        if self.state == IDLE:
            z = np.zeros_like(f)
            return z, z, z
        if self.state == CHECK:  # the target rests hidden at the centre; s is where the tone sits
            z = np.zeros_like(f)
            return z, z, np.asarray(self.check.pan.value((f - self.check_start) / SAMPLE_RATE))
        if self.state == GLIDING:
            keep = 1.0 - self.glide.progress(f)
            gx, gy, gs = self.glide_from
            return gx * keep, gy * keep, gs * keep
        ph = self.phase(f)
        s = motion.sweep(ph, self.profile)
        x, y = motion.path_xy(s, self.path)
        if self.shape_mix.done(float(np.min(f))):
            return x, y, s
        m = self.shape_mix.value(f)
        s0 = motion.sweep(ph, self.prev_profile)
        x0, y0 = motion.path_xy(s0, self.prev_path)
        return x0 + m * (x - x0), y0 + m * (y - y0), s0 + m * (s - s0)

    def along_into(self, frames: np.ndarray, phase: np.ndarray | None, out: np.ndarray, sc) -> np.ndarray:
        """The ``s`` of :meth:`position` (bit for bit) written into ``out``, for ascending ``frames``.

        ``phase`` is :meth:`phase` at the frames if the caller has it (None: computed into
        ``sc.phase``). ``sc`` is the scratch cut to the frames (``Scratch.take``); this uses its
        ``left``, ``right``, ``tmp``, ``tmp2`` and ``mask``."""
        if self.state == IDLE:
            out.fill(0.0)
            return out
        if self.state == CHECK:
            return self.check.pan.value_into(self.check_time_into(frames, sc.tmp), out)
        if self.state == GLIDING:
            self.glide.progress_into(frames, out)
            np.subtract(1.0, out, out=out)
            return np.multiply(out, self.glide_from[2], out=out)
        tmp, tmp2, mask = sc.tmp, sc.tmp2, sc.mask
        ph = self.phase_into(frames, sc.phase, tmp) if phase is None else phase
        motion.sweep_into(ph, self.profile, out, tmp, tmp2, mask)
        if self.shape_mix.done(float(frames[0])):
            return out
        m = self.shape_mix.value_into(frames, sc.left)
        s0 = motion.sweep_into(ph, self.prev_profile, sc.right, tmp, tmp2, mask)
        np.subtract(out, s0, out=out)  # s0 + m (s - s0)
        np.multiply(out, m, out=out)
        return np.add(out, s0, out=out)

    def speed_at(self, frame: float) -> float:
        return 0.0 if self.state in (IDLE, GLIDING, CHECK) else self.speed.value_at(frame)

    def check_phase(self, frame: float) -> str:
        """The part of the headphone check heard at ``frame`` ("left", "right" ...; "" for none)."""
        if self.check is None:
            return ""
        return self.check.phase_at((frame - self.check_start) / SAMPLE_RATE)


@dataclass(frozen=True, slots=True)
class Status:
    frame: int  # first frame not yet rendered
    state: str
    set_index: int
    passes: int
    elapsed_s: float
    speed_cycles_per_s: float
    look_slowed_s: float = 0.0  # the latest change of look glides this long to keep the screen photosafe
    check: str = ""  # the headphone check playing or about to ("left_right", "comfort"; "": none)
    checks: int = 0  # check commands taken so far (a front end knows its check was seen)


class Delivered(NamedTuple):
    """What the engine delivered at one frame of a set, read from its own state (the set record)."""
    frame: int
    state: str
    gentle: bool
    speed_cycles_per_s: float
    level_dbfs: float  # the level setting as it glides (before fades)
    output_dbfs: float | None  # what reaches the ear: level x fade x mute (None: silent)
    carrier_hz: float
    pan_depth_pct: float
    target_diameter_pct: float
    target_visible: float  # 0..1: the target's opacity x visibility


@dataclass(frozen=True, slots=True)
class SetResult:
    index: int
    preset: str
    set_mode: str
    requested_passes: int | None
    requested_seconds: float | None
    delivered_passes: int
    delivered_seconds: float
    stop_reason: str  # complete | time | stopped | quit
    start_frame: int
    end_frame: int
    gentle: bool = False
    speed_cycles_per_s: float = 0.0  # the values used (after gentle limits), at the end of the set
    level_dbfs: float = 0.0
    pan_depth_pct: float = 0.0
    carrier_hz: float = 0.0
    tone: str = ""
    samples: tuple[Delivered, ...] = ()  # every SAMPLE_EVERY_S of stimulus time, and at the end


@dataclass(frozen=True, slots=True)
class FrameSample:
    """What the client display draws at one moment."""
    frame: float
    x: float
    y: float
    s: float
    pan: float
    opacity: float
    state: str
    look: Look | None = None  # the look at this frame (None: the caller's own)
    check_phase: str = ""  # the part of a headphone check heard at this frame ("left", "right" ...)


def _end_count_into(phase: np.ndarray, out: np.ndarray) -> np.ndarray:
    """floor((phase - 0.25) / 0.5): how many ends the target has reached, per frame, into ``out``."""
    np.subtract(phase, 0.25, out=out)
    np.divide(out, 0.5, out=out)
    return np.floor(out, out=out)


def _accent_of(settings: Preset, feel: Feel) -> float:
    """The accent's extra amplitude (share of the level) for these settings: 0 without accents."""
    return 10.0 ** (feel.accent_db / 20.0) - 1.0 if settings.audio.pan_mode == "continuous_accents" else 0.0


def _ramp_frames(seconds: float) -> float:
    return max(0.0, seconds) * SAMPLE_RATE


def _ceil_frame(f: float) -> int:
    return int(math.ceil(f - 1e-9))


def _fade_frames(seconds: float) -> float:
    """A preset fade: silence to within 1 dB of the level in ``seconds``."""
    return _ramp_frames(seconds) * FADE_STRETCH


def non_finite(settings: Preset) -> list[str]:
    """The numeric fields of ``settings`` that are not finite numbers (NaN, infinities)."""
    bad = []
    for section in ("motion", "visual", "audio", "timing"):
        sec = getattr(settings, section)
        for f in fields(sec):
            v = getattr(sec, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                bad.append(f"{section}.{f.name} = {v!r}")
    return bad


def _checked(settings: Preset) -> Preset:
    bad = non_finite(settings)
    if bad:
        raise ValueError("not a finite number: " + ", ".join(bad))
    return settings


def enforce(settings: Preset, unlocks: Mapping[str, object] = NO_UNLOCKS) -> Preset:
    """What the engine plays for ``settings``: every range of the preset schema (the hard caps:
    speed <= 2 cycles/s, level <= -12 dBFS ...), and in gentle mode every gentle limit, held at the
    limit or at the value unlocked for it. No path into the engine gets past this."""
    return gentle.effective(clamp_to_schema(settings), unlocks)


class StimulusEngine:
    def __init__(self, settings: Preset, sample_rate: int = SAMPLE_RATE, max_block: int = 16384,
                 unlocks: Mapping[str, object] = NO_UNLOCKS):
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"bls runs at {SAMPLE_RATE} Hz")
        settings = enforce(_checked(settings), unlocks)
        self.settings = settings
        #: the clock allowed to advance the engine (None: whoever calls, e.g. an offline render); a
        #: clock that was replaced and calls again is refused, so two clocks never drive one engine
        self.owner: object | None = None
        #: the per-block working buffers: the callback allocates no block-sized array
        self.scratch = Scratch(max_block)
        self.synth = ToneRenderer(max_block, self.scratch)
        self.max_block = max_block
        self._commands: collections.deque = collections.deque()
        self.finished: collections.deque[SetResult] = collections.deque(maxlen=256)
        self.next_frame = 0
        a, m = settings.audio, settings.motion
        self._snap = Snapshot(
            start=0, state=IDLE, phase0=0.0, speed=Ramp.hold(0.0), path=m.path, profile=m.profile,
            prev_path=m.path, prev_profile=m.profile, shape_mix=Ramp.hold(1.0), glide=Ramp.hold(1.0),
            glide_from=(0.0, 0.0, 0.0), opacity=Ramp.hold(0.0), fade=Ramp.hold(0.0),
            level=Ramp.hold(tone.db_to_amplitude(a.level_dbfs)), mute=Ramp.hold(1.0 if a.enabled else 0.0),
            depth=Ramp.hold(a.pan_depth_pct / 100.0),
            alternate=Ramp.hold(1.0 if a.pan_mode == "alternating" else 0.0), carrier=Ramp.hold(a.carrier_hz), carrier_phase0=0.0,
            tone=a.tone, prev_tone=a.tone, tone_mix=Ramp.hold(1.0),
            look_from=look_of(settings), look_to=look_of(settings), look_mix=Ramp.hold(1.0),
            accent=Ramp.hold(_accent_of(settings, GENTLE if settings.gentle else NORMAL)))
        self.history: tuple[Snapshot, ...] = (self._snap,)
        self._block: list[Snapshot] = [self._snap]
        self._set_index = 0
        self._set_start = 0
        self._run_origin = 0  # elapsed running time = frame - run_origin (pauses excluded)
        self._paused_elapsed = 0
        self._stop_reason = ""
        self._end_passes = 0
        self._end_elapsed = 0
        self._set_settings = settings
        self._set_preset = settings.name
        self._pending_shape: tuple[str, str] | None = None
        self._pending_tone: str | None = None
        self._last_k = -1
        self._last_cross = -1e18
        # attack and length of the sounding pulse, then of the sounding accent
        self._pulse_shape = (PULSE_ATTACK_S, PULSE_LENGTH_S, tone.ACCENT_ATTACK_S, tone.ACCENT_LENGTH_S)
        self._in_set = False
        self._samples: list[Delivered] = []
        self._next_sample = 0
        self._look_slowed = 0.0
        self._pending_check: tuple[CheckProgram, float] | None = None  # waits for a set's fade to end
        self._check_ending = False
        self._start_after_check = False
        self._checks = 0
        self._update_show_hide()
        self.status = Status(0, IDLE, 0, 0, 0.0, 0.0)

    # ------------------------------------------------------------------ GUI side (any thread)

    def start(self) -> None:
        """Start a set (or resume a paused one)."""
        self._commands.append(("start",))

    def pause(self) -> None:
        self._commands.append(("pause",))

    def toggle(self) -> None:
        """Space: start when idle, pause when running, resume when paused."""
        self._commands.append(("toggle",))

    def stop(self, reason: str = "stopped") -> None:
        self._commands.append(("stop", reason))

    def hurry(self, fade_s: float = 0.05) -> None:
        """Silence within ``fade_s`` (a raised-cosine fade, still no click), whatever the set is doing:
        for a process that must exit at once (a second signal). ``fade_s`` between 5 ms and 1 s."""
        if not (isinstance(fade_s, (int, float)) and math.isfinite(fade_s) and 0.005 <= fade_s <= 1.0):
            raise ValueError(f"hurry: {fade_s!r} is not a fade between 0.005 and 1 s")
        self._commands.append(("hurry", float(fade_s)))

    def check(self, program: CheckProgram, level_dbfs: float) -> None:
        """Play a headphone check (core.checks) at ``level_dbfs`` (never above the cap): only between
        sets (ignored otherwise). It ends by itself, or gently with :meth:`stop`; :meth:`start` ends it
        gently and starts the set when it is silent."""
        self._commands.append(("check", program, float(level_dbfs)))

    def check_level(self, level_dbfs: float) -> None:
        """The level of the check playing (the comfort check's - and +): it glides there."""
        self._commands.append(("check_level", float(level_dbfs)))

    def apply(self, settings: Preset, unlocks: Mapping[str, object] = NO_UNLOCKS) -> None:
        """Live settings changed: every audible or visible change glides from the current value.

        The hard caps hold whatever is given, and with gentle mode on every gentle limit too, at the
        limit or at the value in ``unlocks`` (:func:`enforce`). A value that is not a finite number
        (NaN, infinity) is refused here, on the caller's thread: ValueError, nothing changes."""
        self._commands.append(("apply", enforce(_checked(settings), unlocks)))

    @property
    def feel(self) -> Feel:
        return GENTLE if self.settings.gentle else NORMAL

    def sample(self, frame: float) -> FrameSample:
        """The target at (possibly fractional) frame ``frame``, from the published history."""
        history = self.history  # one read: the tuple is immutable
        snap = history[0]
        for s in reversed(history):
            if s.start <= frame:
                snap = s
                break
        x, y, s_ = snap.position(frame)
        pan = float(tone.pan_position(s_, snap.depth.value(frame), snap.alternate.value(frame)))
        return FrameSample(frame, float(x), float(y), float(s_), pan, float(snap.opacity.value(frame)), snap.state,
                           snap.look_at(frame), snap.check_phase(frame))

    # ------------------------------------------------------------------ clock side

    def process(self, n: int, out: np.ndarray | None = None, token: object | None = None) -> int:
        """Advance ``n`` frames, rendering them into ``out`` (n x 2 float32) if given.

        Returns the first frame of the block. Called from the audio callback: no locks, no Qt,
        no I/O. A caller that is not the engine's ``owner`` advances nothing and gets silence.
        """
        f0 = self.next_frame
        self.busy = True  # first: a clock taking over sees it before this one's owner check
        try:
            if self.owner is not None and token is not self.owner:
                if out is not None:
                    out[:n] = 0.0
                return f0
            return self._process(n, out, f0)
        finally:
            self.busy = False

    busy = False  # inside process(): a clock taking over waits until the old one is out

    def _process(self, n: int, out: np.ndarray | None, f0: int) -> int:
        f1 = f0 + n
        if n > self.max_block:
            raise ValueError(f"block of {n} frames exceeds max_block={self.max_block}")
        self._block = [self._snap]
        while self._commands:
            self._command(self._commands.popleft(), f0)
        cur = f0
        while True:
            event = self._next_event(cur, f1)
            if event is None:
                break
            cur, handler = event
            handler(cur)
        # the snapshots that cover this block (a later one at the same frame supersedes)
        block = self._block
        segs = [s for i, s in enumerate(block) if i + 1 == len(block) or block[i + 1].start > max(s.start, f0)]
        for i, snap in enumerate(segs):
            a = max(f0, snap.start)
            b = f1 if i + 1 == len(segs) else min(f1, segs[i + 1].start)
            if b > a:
                self._segment(snap, a, b, None if out is None else out[a - f0:b - f0])
        self.next_frame = f1
        self._publish_status(f1)
        return f0

    # ------------------------------------------------------------------ internals

    def _push(self, snap: Snapshot) -> None:
        self._snap = snap
        self._block.append(snap)
        # bounded by stimulus time, not by count: every snapshot that covers a frame within HISTORY_S
        # of the newest stays (the display looks back by the output latency); older ones go
        h = self.history + (snap,)
        keep_from = snap.start - HISTORY_S * SAMPLE_RATE
        i = 0
        while i + 1 < len(h) and h[i + 1].start <= keep_from:
            i += 1
        self.history = h[i:]

    def _rebased(self, f: int, **changes) -> Snapshot:
        s = self._snap
        base = {"start": f, "carrier_phase0": float(s.carrier_phase(f))}
        if s.state not in (IDLE, GLIDING, CHECK):
            base["phase0"] = float(s.phase(f))
        base.update(changes)
        return replace(s, **base)

    def _elapsed(self, f: int) -> int:
        st = self._snap.state
        if st == PAUSED:
            return self._paused_elapsed
        if st in (RUNNING, STOPPING):
            return f - self._run_origin
        return self._end_elapsed

    def _command(self, cmd: tuple, f: int) -> None:
        kind = cmd[0]
        state = self._snap.state
        if kind == "toggle":
            kind = {IDLE: "start", RUNNING: "pause", PAUSED: "start", CHECK: "start"}.get(state, "none")
        if kind == "check":
            self._checks += 1
        if state == CHECK or self._pending_check is not None:
            self._check_command(kind, cmd, f)
            return
        if kind == "check" and state == IDLE:
            self._pending_check = (cmd[1], cmd[2])
            s = self._snap
            if s.fade.value_at(f) > 0.0:  # a set's fade-out still sounds: it ends quickly, then the check
                stop_fade = _ramp_frames(self.feel.stop_fade)
                if s.fade.end > f + stop_fade:
                    self._push(self._rebased(f, fade=s.fade.retarget(f, 0.0, stop_fade, smooth=True)))
            else:
                self._begin_check(f)
        elif kind == "start":
            if state == IDLE:
                self._start_set(f)
            elif state == PAUSED:
                self._resume(f)
        elif kind == "pause" and state == RUNNING:
            s = self._snap
            self._paused_elapsed = f - self._run_origin
            self._push(self._rebased(f, state=PAUSED,
                                     speed=s.speed.retarget(f, 0.0, _ramp_frames(self.feel.pause_decel)),
                                     fade=s.fade.retarget(f, 0.0, _ramp_frames(self.feel.pause_fade), smooth=True)))
        elif kind == "stop" and state in (RUNNING, PAUSED):
            self._begin_stop(f, cmd[1], self.feel.stop_decel, _ramp_frames(self.feel.stop_fade))
        elif kind == "stop":
            self._hurry(f)
        elif kind == "hurry":
            if state in (RUNNING, PAUSED):
                self._begin_stop(f, "quit", self.feel.stop_decel, _ramp_frames(cmd[1]))
            self._hurry(f, _ramp_frames(cmd[1]))
        elif kind == "apply":
            self._apply(cmd[1], f)

    def _start_set(self, f: int) -> None:
        st = self.settings
        m, t = st.motion, st.timing
        self._set_index += 1
        self._set_start = self._run_origin = f
        self._set_settings = st
        self._set_preset = st.name
        self._stop_reason = ""
        self._last_k, self._last_cross = -1, -1e18
        s = self._snap
        self._push(self._rebased(
            f, state=RUNNING, phase0=0.0,
            speed=Ramp(f, 0.0, m.speed_cycles_per_s, _ramp_frames(max(0.5, t.fade_in_s))),
            path=m.path, profile=m.profile, prev_path=m.path, prev_profile=m.profile,
            shape_mix=Ramp.hold(1.0, f),
            opacity=s.opacity.retarget(f, 1.0, *self._show_hide(self.feel.show_target)),
            # from the current level: a set started during the last one's fade-out does not click
            fade=s.fade.retarget(f, 1.0, _fade_frames(t.fade_in_s), smooth=True)))
        self._in_set = True
        self._samples = []
        self._next_sample = f

    def _resume(self, f: int) -> None:
        s, st = self._snap, self.settings
        self._run_origin = f - self._paused_elapsed
        self._push(self._rebased(
            f, state=RUNNING,
            speed=s.speed.retarget(f, st.motion.speed_cycles_per_s, _ramp_frames(max(0.5, st.timing.fade_in_s))),
            fade=s.fade.retarget(f, 1.0, max(_ramp_frames(self.feel.pause_fade), _fade_frames(st.timing.fade_in_s)),
                                 smooth=True)))

    def _begin_stop(self, f: int, reason: str, decel_s: float, fade_frames: float) -> None:
        s = self._snap
        self._stop_reason = reason
        if s.state == PAUSED:  # the set timer does not count the pause
            self._run_origin = f - self._paused_elapsed
        speed_now = s.speed.value_at(f)
        decel = _ramp_frames(decel_s) * min(1.0, speed_now / max(s.speed.target, 1e-9)) if speed_now > 0 else 0.0
        self._push(self._rebased(f, state=STOPPING, speed=s.speed.retarget(f, 0.0, decel),
                                 fade=s.fade.retarget(f, 0.0, fade_frames, smooth=True)))
        if decel <= 0:
            self._begin_glide(f)

    def _hurry(self, f: int, fade_frames: float | None = None) -> None:
        """A stop while the set already ends by itself (slowing down at time up, gliding home, or its
        fade-out still sounding after the end): the stop still wins: silence within the stop fade, and
        the slow-down no longer than a stop's."""
        s = self._snap
        stop_fade = _ramp_frames(self.feel.stop_fade) if fade_frames is None else fade_frames
        changes = {}
        if s.fade.end > f + stop_fade and s.fade.value_at(f) > 0.0:
            changes["fade"] = s.fade.retarget(f, 0.0, stop_fade, smooth=True)
        if s.state == STOPPING:
            stop_decel = _ramp_frames(self.feel.stop_decel)
            if s.speed.end > f + stop_decel:
                changes["speed"] = s.speed.retarget(f, 0.0, stop_decel)
        if changes:
            self._push(self._rebased(f, **changes))

    def _check_command(self, kind: str, cmd: tuple, f: int) -> None:
        """A command while a headphone check plays (or waits for a set's fade to end)."""
        s = self._snap
        if s.state != CHECK:  # waiting: a stop or another start cancels it, a new check replaces it
            if kind == "check":
                self._pending_check = (cmd[1], cmd[2])
            elif kind == "check_level":
                self._pending_check = (self._pending_check[0], cmd[1])
            elif kind in ("stop", "hurry", "start"):
                self._pending_check = None
                if kind == "start":
                    self._command(("start",), f)
                else:
                    self._command(cmd, f)
            elif kind == "apply":
                self._apply(cmd[1], f)
            return
        if kind in ("stop", "hurry", "start"):
            fade = _ramp_frames(self.feel.stop_fade if kind != "hurry" else cmd[1])
            self._start_after_check = kind == "start"
            if not self._check_ending or s.fade.end > f + fade:
                self._check_ending = True
                self._push(self._rebased(f, fade=s.fade.retarget(f, 0.0, fade, smooth=True)))
        elif kind == "check_level" and not self._check_ending:
            self._push(self._rebased(f, level=s.level.retarget(f, tone.db_to_amplitude(cmd[1]),
                                                                _ramp_frames(self.feel.level_ramp))))
        elif kind == "apply":
            self._apply(cmd[1], f)

    def _begin_check(self, f: int) -> None:
        program, level_dbfs = self._pending_check
        self._pending_check = None
        self._check_ending = self._start_after_check = False
        s = self._snap
        top = tone.db_to_amplitude(level_dbfs)
        if program.kind == "comfort":  # starts quiet and rises to the level
            level = Ramp(f, tone.db_to_amplitude(level_dbfs - COMFORT_START_BELOW_DB), top,
                         _ramp_frames(COMFORT_RISE_S), True)
            fade = Ramp(f, 0.0, 1.0, _ramp_frames(COMFORT_FADE_IN_S), True)
        else:  # its own envelope fades each part in and out
            level, fade = Ramp.hold(top, f), Ramp.hold(1.0, f)
        self._push(self._rebased(
            f, state=CHECK, check=program, check_start=f, speed=Ramp.hold(0.0, f), level=level, fade=fade,
            depth=Ramp.hold(1.0, f), alternate=Ramp.hold(0.0, f), accent=Ramp.hold(0.0, f),
            opacity=s.opacity.retarget(f, 0.0, *self._show_hide(self.feel.hide_target))))

    def _end_check(self, f: int) -> None:
        """The check is over (silent now): what the set plays is back, and a start waiting begins."""
        a = self.settings.audio
        self._check_ending = False
        self._push(self._rebased(
            f, state=IDLE, check=None, fade=Ramp.hold(0.0, f), level=Ramp.hold(tone.db_to_amplitude(a.level_dbfs), f),
            depth=Ramp.hold(a.pan_depth_pct / 100.0, f),
            alternate=Ramp.hold(1.0 if a.pan_mode == "alternating" else 0.0, f),
            accent=Ramp.hold(_accent_of(self.settings, self.feel), f)))
        if self._start_after_check:
            self._start_after_check = False
            self._start_set(f)

    def end_now(self, reason: str = "quit") -> None:
        """End the running set at once, where it is (the session is closing and no clock drives the
        engine any more): its result is published like any other."""
        s, f = self._snap, self.next_frame
        self._pending_check = None
        if s.state == CHECK:  # a set waiting for the check to end does not start: the session ends
            self._block = [self._snap]
            self._start_after_check = False
            self._commands.clear()  # a start posted meanwhile is not played after the session's end
            self._end_check(f)
            return
        if s.state == IDLE:
            return
        if s.state != GLIDING:
            self._stop_reason = self._stop_reason or reason
            if s.state == PAUSED:
                self._run_origin = f - self._paused_elapsed
            self._end_passes = int(motion.passes_completed(s.phase(f)))
            self._end_elapsed = self._elapsed(f)
        self._block = [self._snap]
        self._end_set(f)

    def _begin_glide(self, f: int) -> None:
        s = self._snap
        x, y, sp = (float(v) for v in s.position(f))
        self._end_passes = int(motion.passes_completed(s.phase(f))) if s.state != IDLE else 0
        self._end_elapsed = self._elapsed(f)
        dist = max(abs(x), abs(y))
        fade = s.fade
        if self._stop_reason in ("complete", "time"):
            fade = fade.retarget(f, 0.0, _fade_frames(self._set_settings.timing.fade_out_s), smooth=True)
        self._push(self._rebased(f, state=GLIDING, speed=Ramp.hold(0.0, f),
                                 glide=Ramp(f, 0.0, 1.0, _ramp_frames(self.feel.glide_min + self.feel.glide_per_unit * dist), True),
                                 glide_from=(x, y, sp), fade=fade))

    def _end_set(self, f: int) -> None:
        s = self._snap
        self._push(self._rebased(f, state=IDLE, opacity=s.opacity.retarget(f, 0.0, *self._show_hide(self.feel.hide_target))))
        self._take_sample(f)
        self._in_set = False
        m = self._set_settings.motion
        self.finished.append(SetResult(
            index=self._set_index, preset=self._set_preset, set_mode=m.set_mode,
            requested_passes=m.set_passes if m.set_mode == "passes" else None,
            requested_seconds=m.set_seconds if m.set_mode == "seconds" else None,
            delivered_passes=self._end_passes, delivered_seconds=self._end_elapsed / SAMPLE_RATE,
            stop_reason=self._stop_reason, start_frame=self._set_start, end_frame=f,
            gentle=self._set_settings.gentle, speed_cycles_per_s=m.speed_cycles_per_s,
            level_dbfs=self._set_settings.audio.level_dbfs, pan_depth_pct=self._set_settings.audio.pan_depth_pct,
            carrier_hz=self._set_settings.audio.carrier_hz, tone=self._set_settings.audio.tone,
            samples=tuple(self._samples)))
        self._samples = []

    def _update_show_hide(self) -> None:
        """How the target appears and disappears for the current look and feel: worked out when they
        change (a command), never in the middle of a block."""
        look = self._snap.look_to
        self._show_hide_for = {}
        for base in {self.feel.show_target, self.feel.hide_target}:
            seconds, eased = photosafe.glide_seconds(replace(look, visibility=0.0), look, base)
            self._show_hide_for[base] = (_ramp_frames(seconds), eased)

    def _show_hide(self, base: float) -> tuple[float, bool]:
        """(frames, eased) for the target appearing or disappearing: ``base`` seconds, or longer where
        the screen's brightness or red would otherwise change faster than the photosafe limits."""
        if base not in self._show_hide_for:
            self._update_show_hide()
        return self._show_hide_for[base]

    def _take_sample(self, f: int) -> None:
        """The delivered values at frame ``f``, from the snapshot that plays it (the set record)."""
        s = self._snap
        level = float(s.level.value_at(f))
        out = level * float(s.fade.value_at(f)) * float(s.mute.value_at(f))
        look = s.look_at(f)
        self._samples.append(Delivered(
            f, s.state, self.settings.gentle, round(s.speed_at(f), 6), round(tone.amplitude_to_db(level), 3),
            round(tone.amplitude_to_db(out), 3) if out > 1e-7 else None, round(float(s.carrier.value_at(f)), 3),
            round(float(s.depth.value_at(f)) * 100.0, 3), round(look.diameter_pct, 3),
            round(float(s.opacity.value_at(f)) * look.visibility, 4)))
        self._next_sample = f + int(SAMPLE_EVERY_S * SAMPLE_RATE)

    def _sample_due(self, f: int) -> None:
        self._take_sample(f)

    def _apply(self, new: Preset, f: int) -> None:
        old, s = self.settings, self._snap
        self.settings = new
        if s.state in (RUNNING, PAUSED):  # set length changes count for the set under way
            self._set_settings = new
        changes = {}
        a0, a1 = old.audio, new.audio
        if s.state == CHECK:  # the check sets its own level and pan; what the set plays returns after it
            a0 = replace(a0, level_dbfs=a1.level_dbfs, pan_depth_pct=a1.pan_depth_pct, pan_mode=a1.pan_mode)
        if a1.level_dbfs != a0.level_dbfs:
            changes["level"] = s.level.retarget(f, tone.db_to_amplitude(a1.level_dbfs), _ramp_frames(self.feel.level_ramp))
        if a1.enabled != a0.enabled:
            changes["mute"] = s.mute.retarget(f, 1.0 if a1.enabled else 0.0, _ramp_frames(self.feel.mute_ramp), True)
        if a1.pan_depth_pct != a0.pan_depth_pct:
            changes["depth"] = s.depth.retarget(f, a1.pan_depth_pct / 100.0, _ramp_frames(self.feel.depth_ramp))
        if a1.pan_mode != a0.pan_mode:
            changes["alternate"] = s.alternate.retarget(f, 1.0 if a1.pan_mode == "alternating" else 0.0,
                                                        _ramp_frames(self.feel.pan_mode_ramp), True)
        accent = _accent_of(new, self.feel)
        if accent != s.accent.target and s.state != CHECK:
            changes["accent"] = s.accent.retarget(f, accent, _ramp_frames(self.feel.pan_mode_ramp), True)
        if a1.carrier_hz != a0.carrier_hz:
            changes["carrier"] = s.carrier.retarget(f, a1.carrier_hz, _ramp_frames(self.feel.carrier_ramp))
        m0, m1 = old.motion, new.motion
        if m1.speed_cycles_per_s != m0.speed_cycles_per_s and s.state == RUNNING:
            now = s.speed.value_at(f)
            glide = abs(m1.speed_cycles_per_s - now) / self.feel.speed_slew
            if new.gentle and (not old.gentle or now > gentle.SPEED_MAX):
                # soften now (gentle mode switched on, or an unlock ended): inside the envelope within SOFTEN_S
                glide = min(glide, SOFTEN_S)
            changes["speed"] = s.speed.retarget(f, m1.speed_cycles_per_s, _ramp_frames(glide))
        look = look_of(new)
        if look != s.look_to:
            now_look = s.look_at(f)
            base = self.feel.look_glide
            glide, eased = photosafe.glide_seconds(now_look, look, base)
            self._look_slowed = 0.0 if eased else glide
            changes.update(look_from=now_look, look_to=look, look_mix=Ramp(f, 0.0, 1.0, _ramp_frames(glide), eased))
        if changes:
            self._push(self._rebased(f, **changes))
        if (m1.path, m1.profile) != (self._snap.path, self._snap.profile):
            self._pending_shape = (m1.path, m1.profile)
            self._try_shape(f)
        if a1.tone != self._snap.tone:
            self._pending_tone = a1.tone
            self._try_tone(f)
        self._update_show_hide()

    def _try_shape(self, f: int) -> None:
        s = self._snap
        if self._pending_shape is None or not s.shape_mix.done(f):
            return
        path, profile = self._pending_shape
        self._pending_shape = None
        if (path, profile) == (s.path, s.profile):
            return
        if s.state in (IDLE, GLIDING):  # nothing moving: switch at once
            self._push(self._rebased(f, path=path, profile=profile, prev_path=path, prev_profile=profile))
        else:
            self._push(self._rebased(f, path=path, profile=profile, prev_path=s.path, prev_profile=s.profile,
                                     shape_mix=Ramp(f, 0.0, 1.0, _ramp_frames(self.feel.shape_xfade), True)))

    def _try_tone(self, f: int) -> None:
        s = self._snap
        if self._pending_tone is None or not s.tone_mix.done(f):
            return
        new, self._pending_tone = self._pending_tone, None
        if new != s.tone:
            self._push(self._rebased(f, tone=new, prev_tone=s.tone,
                                     tone_mix=Ramp(f, 0.0, 1.0, _ramp_frames(self.feel.tone_xfade), True)))

    def _frames(self, a: int, b: int) -> np.ndarray:
        """Frames [a, b) as float64, in the scratch ``frames`` (valid until the next call)."""
        sc = self.scratch.take(b - a)
        return np.add(sc.index, a, out=sc.frames)

    def _next_event(self, cur: int, f1: int):
        """The earliest automatic event in [cur, f1) as (frame, handler), or None."""
        s = self._snap
        events = []
        if s.state in (RUNNING, PAUSED):
            m = self._set_settings.motion
            # a pause decelerates, and the target may still reach the last end while it slows down
            if m.set_mode == "passes":
                target = motion.end_phase(m.set_passes)
                sc = self.scratch.take(f1 - cur)
                ph = s.phase_into(self._frames(cur, f1), sc.phase, sc.tmp)
                i = int(np.searchsorted(ph, target, side="left"))
                if i < len(ph):
                    events.append((cur + i, self._complete))
            elif m.set_mode == "seconds" and s.state == RUNNING:
                fe = self._run_origin + _ceil_frame(m.set_seconds * SAMPLE_RATE)
                if fe < f1:
                    events.append((max(cur, fe), self._time_up))
        elif s.state == STOPPING:
            fe = max(cur, _ceil_frame(s.speed.end))
            if fe < f1:
                events.append((fe, self._begin_glide))
        elif s.state == GLIDING:
            fe = max(cur, _ceil_frame(s.glide.end))
            if fe < f1:
                events.append((fe, self._end_set))
        elif s.state == CHECK:  # the check's own end, or the end of its fade after a stop
            fe = _ceil_frame(s.fade.end) if self._check_ending else (
                s.check_start + _ceil_frame(s.check.duration_s * SAMPLE_RATE))
            if max(cur, fe) < f1:
                events.append((max(cur, fe), self._end_check))
        elif self._pending_check is not None:
            fe = max(cur, _ceil_frame(s.fade.end))
            if fe < f1:
                events.append((fe, self._begin_check))
        if self._pending_shape is not None:
            fe = max(cur, _ceil_frame(s.shape_mix.end))
            if fe < f1:
                events.append((fe, self._try_shape))
        if self._pending_tone is not None:
            fe = max(cur, _ceil_frame(s.tone_mix.end))
            if fe < f1:
                events.append((fe, self._try_tone))
        if self._in_set and self._next_sample < f1:
            events.append((max(cur, self._next_sample), self._sample_due))
        return min(events, key=lambda e: e[0]) if events else None

    def _complete(self, f: int) -> None:
        self._stop_reason = "complete"
        self._begin_glide(f)

    def _time_up(self, f: int) -> None:
        self._begin_stop(f, "time", self.feel.timeup_decel, _fade_frames(self._set_settings.timing.fade_out_s))

    def _segment(self, snap: Snapshot, a: int, b: int, out: np.ndarray | None) -> None:
        """Frames [a, b) of one snapshot: the timeline's per-frame state (end-point pulses and
        accents), then the tone if a buffer is given. Pulse timing is the same whether or not audio is
        rendered. Everything per frame goes into the scratch buffers."""
        moving = snap.state in (RUNNING, PAUSED, STOPPING)
        pulse_on = "pulse" in (snap.tone, snap.prev_tone)
        accent_on = bool(snap.accent.v0 or snap.accent.v1)
        # the end points are marked: track each arrival (a check has no end points: a steady tone)
        marked = (pulse_on or accent_on) and snap.state != CHECK
        if out is None and not (moving and marked):  # a clock without sound, no pulse to track
            if moving:  # keep counting ends, so switching to pulses later fires no stray pulse
                self._last_k = self._end_count_at(snap, b - 1)
            return
        sc = self.scratch.take(b - a)
        frames = self._frames(a, b)
        phase = pulses = None
        if moving:
            phase = snap.phase_into(frames, sc.phase, sc.tmp)
            k = _end_count_into(phase, sc.last)
            if marked:
                pulses = self._track_pulses(k, frames)
            else:  # the end count, as above
                self._last_k = int(k[-1])
        if out is None:  # a clock without sound: events, pulses and status only
            return
        env = accent = None
        if marked:  # moving: new pulses at each end; at rest: the last pulse decays
            dt = sc.dt
            np.subtract(frames, self._last_cross if pulses is None else pulses[0], out=dt)
            np.divide(dt, SAMPLE_RATE, out=dt)
            if pulse_on:
                env = self._marks_into(dt, pulses, 0, sc.env, sc)
            if accent_on:
                accent = self._marks_into(dt, pulses, 2, sc.acc, sc)
        self.synth.render(snap, frames, phase, env, out, accent)

    def _marks_into(self, dt: np.ndarray, pulses, i: int, out: np.ndarray, sc) -> np.ndarray:
        """The envelope of the pulses (``i`` 0) or of the accents (``i`` 2) into ``out``: each mark
        keeps the shape (attack, length) it started with. ``pulses`` as from :meth:`_track_pulses`
        (None: the last mark decays); ``dt`` the seconds since the latest mark at each frame."""
        tmp, mask = sc.tmp, sc.mask
        if pulses is None:
            shape = self._pulse_shape
            return tone.pulse_envelope_into(dt, shape[i], shape[i + 1], out, tmp, mask)
        last, before, old_shape, new_shape = pulses
        env = tone.pulse_envelope_into(dt, old_shape[i], old_shape[i + 1], out, tmp, mask)
        if new_shape is not None:  # where(last == before, env, new)
            new = tone.pulse_envelope_into(dt, new_shape[i], new_shape[i + 1], sc.env2, tmp, mask)
            np.copyto(env, new, where=np.not_equal(last, before, out=mask))
        return env

    def _end_count_at(self, snap: Snapshot, frame: int) -> int:
        """The end count at one frame, the same value as at that frame of a block (elementwise)."""
        one = self.scratch.take(1)
        one.frames[0] = frame
        ph = snap.phase_into(one.frames, one.phase, one.tmp)
        return int(_end_count_into(ph, ph)[0])

    def _track_pulses(self, k: np.ndarray, frames: np.ndarray):
        """The end-point pulses: a burst each time the target reaches an end. Returns the frame of the
        latest pulse start at each frame, the one before the block, and the shapes (attack, length)
        of the pulse already sounding and of pulses started in this block (None: none started).

        ``k`` (the end count at each frame, in the scratch ``last``) is overwritten with the first."""
        mask = self.scratch.take(len(k)).mask
        mask[0] = k[0] > self._last_k  # marks = where(k > previous k, frames, -1e18)
        np.greater(k[1:], k[:-1], out=mask[1:])
        self._last_k = int(k[-1])
        marks = k
        marks.fill(-1e18)
        np.copyto(marks, frames, where=mask)
        marks[0] = max(marks[0], self._last_cross)
        last = np.maximum.accumulate(marks, out=marks)
        before = self._last_cross
        self._last_cross = float(last[-1])
        # a pulse keeps the shape it started with, even if gentle mode switches while it sounds
        old_shape = self._pulse_shape
        if self._last_cross == before:
            return last, before, old_shape, None
        feel = self.feel
        self._pulse_shape = (feel.pulse_attack, feel.pulse_length, feel.accent_attack, feel.accent_length)
        return last, before, old_shape, self._pulse_shape

    def _publish_status(self, f: int) -> None:
        s = self._snap
        last = f - 1
        passes = int(motion.passes_completed(s.phase(last))) if s.state in (RUNNING, PAUSED, STOPPING) else (
            self._end_passes if self._set_index else 0)
        self.status = Status(f, s.state, self._set_index, passes, self._elapsed(f) / SAMPLE_RATE,
                             s.speed_at(last), self._look_slowed if not s.look_mix.done(last) else 0.0,
                             s.check.kind if s.check is not None else
                             self._pending_check[0].kind if self._pending_check is not None else "", self._checks)
