"""The manual audio delay, and the calibration program that finds it. Qt-free.

Some outputs add latency PortAudio does not know of: Bluetooth headphones play the sound 100-300 ms
after PortAudio believes it is heard. The therapist enters that *audio delay* (per output, -300 to
+300 ms; positive: the sound is heard later than PortAudio says). It enters the one clock mapping
where the measured latency does: each anchor's "heard at" time moves later by the delay
(``bls.audio.output._Clock.anchor_at``), so the picture, which shows the frame heard at the moment it
is seen, is delayed by the same amount. There is no second clock.

The calibration program finds the delay by eye and ear, between sets: the target sits at the left,
swells softly in brightness while a short soft click plays in the left ear, then moves to the right
for the same, about once a second. Flash and click peak at the *same stimulus frame* (the program's
event frames), so they coincide for the client exactly when the delay is right. Everything here is
a closed-form function of the frame: a render in any block split is the same, and the display asks
for any frame it likes.

Photosensitivity: two flashes a second (at most three are allowed); a flash changes only the
target's colour, by a share chosen so that the screen-mean luminance and red never change faster
than the limits of :mod:`bls.core.photosafe` (the same rule every other change of look keeps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from . import photosafe
from .look import Look, relative_luminance

SAMPLE_RATE = 48_000  # the engine's (kept here too: the engine imports this module)

#: the manual audio delay's range (ms) and step the controls offer
DELAY_MIN_MS = -300.0
DELAY_MAX_MS = 300.0
#: where the delay is kept in the room settings (kind "outputs", by output name)
ROOM_KIND = "outputs"
ROOM_FIELD = "audio_delay_ms"


def check_delay_ms(value) -> float:
    """The delay as a float, or ValueError with a message the therapist can act on."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"audio delay: {value!r} is not a number of milliseconds")
    if not DELAY_MIN_MS <= value <= DELAY_MAX_MS:
        raise ValueError(f"audio delay: {value:g} ms is outside {DELAY_MIN_MS:g} to +{DELAY_MAX_MS:g} ms "
                         "(Bluetooth headphones add 100 to 300 ms)")
    return float(value)


# ---------------------------------------------------------------------------- the calibration program

#: one event a side every this long: left, right, left ... (two flashes a second)
HALF_PERIOD_S = 0.5
#: the target fades in at the left; the first event comes this long after the start (or, for a target
#: whose fade-in the photosafe limits lengthen, a quarter second after the fade-in: a flash never
#: overlaps a fade, so their changes of brightness never add up)
LEAD_IN_S = 0.75
#: the target appears and goes over this long (longer if the photosafe limits ask)
FADE_S = 0.4
#: the flash: a raised-cosine swell of the target's brightness, this long from start to end
FLASH_S = 0.15
#: the flash raises the target's relative luminance by this much at its peak (towards white, all the way
#: for a light target; one within half of it of white dims towards black instead); the screen-mean change is this times the target's
#: share of the screen (at most 5 %): far below the 0.1 of a WCAG "flash"
FLASH_LUM = 0.3
#: the click: a raised-cosine burst of a sine, this long, panned fully to the event's side
CLICK_S = 0.004
CLICK_HZ = 1500.0
#: the click's peak lies this far below the tone's level setting (itself capped at -12 dBFS)
CLICK_BELOW_LEVEL_DB = 6.0
#: between two events the target glides to the other side over this long, half-way between them
MOVE_S = 0.2


def _swell(u):
    """A raised cosine, 1 at u = 0, 0 at |u| >= 0.5 (u in widths)."""
    u = np.asarray(u, dtype=np.float64)
    return np.where(np.abs(u) < 0.5, 0.5 * (1.0 + np.cos(2.0 * np.pi * u)), 0.0)


def flash_depth(look: Look) -> float:
    """How far (0..1, linear light) the flash takes the target's colour: a change of FLASH_LUM in its
    luminance, or less where the screen's luminance or red would otherwise change faster than the
    photosafe limits (a big, saturated target)."""
    peak = _flash_look(look, 1.0)
    want = min(1.0, FLASH_LUM / max(1e-9, abs(relative_luminance(peak.target) - relative_luminance(look.target))))
    dl = abs(photosafe.screen_luminance(peak) - photosafe.screen_luminance(look))
    dr = abs(photosafe.screen_redness(peak) - photosafe.screen_redness(look))
    slope = math.pi / FLASH_S  # the swell's steepest slope, per unit of depth, per second
    room = min(photosafe.MAX_LUMINANCE_SLEW / (slope * dl) if dl > 0 else math.inf,
               photosafe.MAX_RED_SLEW / (slope * dr) if dr > 0 else math.inf)
    return min(want, 0.5 * room)  # half the room: a margin for the colour mix's curvature


def _flash_look(look: Look, depth: float) -> Look:
    toward = (1.0, 1.0, 1.0) if relative_luminance(look.target) <= 1.0 - FLASH_LUM / 2 else (0.0, 0.0, 0.0)
    return look.blend(replace(look, target=toward), depth)


@dataclass(frozen=True, slots=True)
class Calibration:
    """The program from frame ``start`` (until ``end``, then the target fades out). Immutable: the
    engine publishes a new one to stop it."""

    start: int
    look: Look  # the target's look (visible), fixed for the program
    click_amplitude: float  # peak of the click (0: silent)
    depth: float  # flash depth (see flash_depth)
    fade_frames: float
    lead_frames: int
    end: int | None = None

    @classmethod
    def begin(cls, start: int, look: Look, level_amplitude: float) -> Calibration:
        look = replace(look, visibility=1.0)
        seconds, eased = photosafe.glide_seconds(replace(look, visibility=0.0), look, FADE_S)
        if not eased:  # the fade is a raised cosine: its steepest slope is pi/2 times an even pace's
            seconds *= math.pi / 2
        fade = max(FADE_S, seconds)
        return cls(start, look, level_amplitude * 10.0 ** (-CLICK_BELOW_LEVEL_DB / 20.0), flash_depth(look),
                   fade * SAMPLE_RATE, round(max(LEAD_IN_S, fade + 0.25) * SAMPLE_RATE))

    def stopped(self, frame: int) -> Calibration:
        return self if self.end is not None else replace(self, end=max(int(frame), self.start))

    # -------------------------------------------------------------------------------- timeline

    @property
    def first_event(self) -> int:
        return self.start + self.lead_frames

    @staticmethod
    def half_period() -> int:
        return round(HALF_PERIOD_S * SAMPLE_RATE)

    def event_frame(self, k: int) -> int:
        """Event ``k`` (0, 1, ...): the frame where flash and click peak; even: left, odd: right."""
        return self.first_event + k * self.half_period()

    def has_event(self, k: int) -> bool:
        """Whether event ``k`` plays: every one from the first, until the stop (an event's flash ends
        before the fade-out begins)."""
        return k >= 0 and (self.end is None or self.event_frame(k) + FLASH_S * SAMPLE_RATE / 2 <= self.end)

    def covers(self, frame: float) -> bool:
        """Whether the program draws the target at ``frame`` (until its fade-out is over)."""
        return frame >= self.start and (self.end is None or frame < self.end + self.fade_frames)

    def over(self, frame: float) -> bool:
        return self.end is not None and frame >= self.end + self.fade_frames

    # -------------------------------------------------------------------------------- picture

    def x_at(self, frame: float) -> float:
        """-1 (left end of the sweep) .. +1 (right end)."""
        h = self.half_period()
        u = (frame - self.first_event) / h  # events at whole u
        k = math.floor(u)
        side = -1.0 if k % 2 == 0 else 1.0  # the side of event k (k < 0: before the first: left)
        if k < 0:
            return -1.0
        # from event k's side to the other, centred half-way to event k + 1
        m = (u - k - 0.5) * HALF_PERIOD_S / MOVE_S  # -0.5 .. 0.5 across the glide
        if m <= -0.5 or not self.has_event(k + 1):
            return side
        if m >= 0.5:
            return -side
        w = 0.5 * (1.0 - math.cos(math.pi * (m + 0.5)))
        return side + (-2.0 * side) * w

    def flash_at(self, frame: float) -> float:
        """0..1: the flash's swell at ``frame`` (1 at an event frame)."""
        k = round((frame - self.first_event) / self.half_period())
        if not self.has_event(k):
            return 0.0
        return float(_swell((frame - self.event_frame(k)) / (FLASH_S * SAMPLE_RATE)))

    def opacity_at(self, frame: float) -> float:
        if not self.covers(frame):
            return 0.0
        up = min(1.0, (frame - self.start) / self.fade_frames)
        down = 1.0 if self.end is None else max(0.0, 1.0 - (frame - self.end) / self.fade_frames)
        v = min(up, down)
        return 0.5 * (1.0 - math.cos(math.pi * v))

    def look_at(self, frame: float) -> Look:
        f = self.flash_at(frame)
        return self.look if f <= 0.0 else _flash_look(self.look, self.depth * f)

    # -------------------------------------------------------------------------------- sound

    def add_clicks(self, f0: int, out: np.ndarray, gain: float = 1.0) -> None:
        """Add the clicks sounding in frames [f0, f0 + len(out)) to ``out`` (n x 2)."""
        amp = self.click_amplitude * gain
        if amp <= 0.0:
            return
        n = len(out)
        half = CLICK_S * SAMPLE_RATE / 2.0
        h = self.half_period()
        k0 = max(0, math.floor((f0 - half - self.first_event) / h))
        k1 = math.ceil((f0 + n + half - self.first_event) / h)
        for k in range(k0, k1 + 1):
            if not self.has_event(k):
                continue
            e = self.event_frame(k)
            a, b = max(f0, math.floor(e - half)), min(f0 + n, math.ceil(e + half) + 1)
            if b <= a:
                continue
            d = np.arange(a - e, b - e, dtype=np.float64)
            burst = amp * _swell(d / (2.0 * half)) * np.sin(2.0 * np.pi * CLICK_HZ * d / SAMPLE_RATE + np.pi / 2)
            out[a - f0:b - f0, 0 if k % 2 == 0 else 1] += burst.astype(out.dtype)
