"""Shared helpers for the unit tests: scripted engine runs, block splits, an analytic speed oracle
and a click detector.

Nothing here copies an expected output from a run: the oracle is built from the documented rules
(ease-in over ``max(0.5, fade_in_s)``, slews at ``SPEED_SLEW``, pause decelerations) and the click
bound from the physics of a smoothly enveloped carrier.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dataclasses import fields

from hypothesis import strategies as st

from bls.core import tone
from bls.core.engine import SAMPLE_RATE, StimulusEngine
from bls.core.preset import SECTIONS, Preset

FS = SAMPLE_RATE
CAP = 10.0 ** (-12.0 / 20.0)  # the hearing cap, computed here rather than read from the product

Action = Callable[[StimulusEngine], None]


def sec(seconds: float) -> int:
    return int(round(seconds * FS))


def random_splits(total: int, cuts, rng: np.random.Generator, lo: int = 1, hi: int = 4096,
                  tiny: float = 0.0) -> list[int]:
    """Block sizes covering ``total`` frames, with a block edge at every frame in ``cuts`` and random
    edges (block lengths drawn from lo..hi, or 1..8 with probability ``tiny``) in between."""
    edges = {c for c in cuts if 0 < c < total}
    f = 0
    while True:
        f += int(rng.integers(1, 9)) if rng.random() < tiny else int(rng.integers(lo, hi + 1))
        if f >= total:
            break
        edges.add(f)
    pts = [0, *sorted(edges), total]
    return [b - a for a, b in zip(pts, pts[1:])]


def cut_only_splits(total: int, cuts, max_block: int) -> list[int]:
    """As few blocks as possible: an edge only where a command must be issued (and at max_block)."""
    edges = {c for c in cuts if 0 < c < total}
    pts = [0, *sorted(edges), total]
    out: list[int] = []
    for a, b in zip(pts, pts[1:]):
        while b - a > max_block:
            out.append(max_block)
            a += max_block
        out.append(b - a)
    return out


@dataclass
class Run:
    audio: np.ndarray | None
    engine: StimulusEngine
    statuses: list = field(default_factory=list)  # status after every block


def run_script(preset: Preset, total: int, script: dict[int, list[Action]], splits: list[int],
               audio: bool = True, max_block: int | None = None,
               after_block: Callable[[StimulusEngine, int, int], None] | None = None) -> Run:
    """Drive an engine through ``splits`` (block sizes summing to ``total``), issuing the script's
    commands between blocks at the given frames (the same frames whatever the split)."""
    assert sum(splits) == total
    engine = StimulusEngine(preset, max_block=max_block or max(splits))
    out = np.zeros((total, 2), dtype=np.float32) if audio else None
    pending = dict(script)
    run = Run(out, engine)
    f = 0
    for n in splits:
        for action in pending.pop(f, ()):
            action(engine)
        engine.process(n, None if out is None else out[f:f + n])
        if after_block is not None:
            after_block(engine, f, n)
        f += n
        run.statuses.append(engine.status)
    assert not {k: v for k, v in pending.items() if k < total}, "script frames must fall on block edges"
    return run


# --------------------------------------------------------------------------- speed oracle


class SpeedOracle:
    """Target speed (cycles/s) as a piecewise-linear function of time, built from the documented
    rules; its integral is the phase. Each ``retarget`` starts a linear glide from the value at
    that moment, exactly like a therapist would describe it: "from where it is, to v, over d s"."""

    def __init__(self):
        self.t = [0.0]
        self.v = [0.0]

    def speed(self, t: float) -> float:
        return float(np.interp(t, self.t, self.v))

    def retarget(self, t: float, v1: float, duration: float) -> None:
        v_now = self.speed(t)
        keep = [i for i, ti in enumerate(self.t) if ti < t]
        self.t = [self.t[i] for i in keep] + [t, t + max(duration, 0.0)]
        self.v = [self.v[i] for i in keep] + [v_now, v1]

    def phase(self, t: float) -> float:
        """Integral of the speed from 0 to t (exact for a piecewise-linear function)."""
        ts = [x for x in self.t if x < t] + [t]
        vs = [self.speed(x) for x in ts]
        return float(sum((b - a) * (va + vb) / 2.0 for a, b, va, vb in zip(ts, ts[1:], vs, vs[1:])))

    def crossing(self, target: float, t_max: float) -> float:
        """First time at which the phase reaches ``target`` (bisection, to well below a frame)."""
        lo, hi = 0.0, t_max
        assert self.phase(hi) >= target, "oracle: the target is not reached before t_max"
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if self.phase(mid) >= target:
                hi = mid
            else:
                lo = mid
        return hi


def positions(engine: StimulusEngine, frames) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y, s at many frames at once from the engine's published snapshots: what ``sample`` gives
    frame by frame (the latest snapshot starting at or before the frame), vectorised. Tests that
    use it also check it against ``sample`` (see test_speed_and_pause)."""
    frames = np.asarray(frames, dtype=np.float64)
    hist = engine.history
    starts = np.array([s.start for s in hist], dtype=np.float64)
    idx = np.clip(np.searchsorted(starts, frames, side="right") - 1, 0, len(hist) - 1)
    x, y, s = (np.zeros_like(frames) for _ in range(3))
    for i in np.unique(idx):
        sel = idx == i
        x[sel], y[sel], s[sel] = hist[i].position(frames[sel])
    return x, y, s


# --------------------------------------------------------------------------- click detector

# Why this criterion (second difference against a smooth-signal bound):
#
# Every channel is y[n] = A[n] * w[n]: an envelope A (level x fades x mute x pan gain x pulse shape,
# all of which bls changes with ramps of at least 5 ms) times a carrier waveform w of peak 1 whose
# harmonics lie at k * f_carrier. For the discrete second difference,
#     D2y[n] = A[n] D2w[n] + dA+ (w[n+1]-w[n]) + dA- (w[n-1]-w[n]) + w[n] D2A[n]
# so |D2y| <= Ahat * (max|D2w| + 2 max|D1w| * e1 + e2), where Ahat is the local peak amplitude and
# e1, e2 the largest relative first and second differences a >= 5 ms ramp can give the envelope.
# A linear ramp's kink is budgeted as if the whole change took only 5 ms (e2 = 1/240 per sample),
# which keeps the bound sound for every ramp shape bls uses (and for the alternating pan's 16 ms
# crossover at 2 cycles/s). A step (click) of size delta anywhere adds |D2y| ~ delta, so any step
# above ~1.5 x Ahat x (that sum) -- about 2 % of the local amplitude (-34 dB) for a 440 Hz tone,
# less at lower carriers -- is caught wherever it falls in the carrier's cycle. The carrier's own
# slope, which is large, cancels in the second difference: that is why this is far more sensitive
# than a bound on the first difference. test_click_detector_* show that it flags real steps and
# passes the fastest legitimate fade (5 ms raised cosine at 1 kHz with the warm tone's harmonics).

MIN_RAMP_S = 0.005  # the engine's documented floor: every audible change takes at least 5 ms


def waveform_differences(tones, carrier_hz: float) -> tuple[float, float]:
    """Largest |first| and |second| difference per sample of the unit waveforms at this carrier."""
    n = np.arange(60_000, dtype=np.float64)
    cyc = n * (carrier_hz / FS) + 0.123456
    d1 = d2 = 0.0
    for t in tones:
        w = tone.waveform("soft_sine" if t == "pulse" else t, cyc)
        d1 = max(d1, float(np.max(np.abs(np.diff(w)))))
        d2 = max(d2, float(np.max(np.abs(np.diff(w, 2)))))
    return d1, d2


def local_peak(y: np.ndarray, half_window: int) -> np.ndarray:
    """Peak |y| over (at least) [n - half_window, n + half_window] for every n."""
    n = len(y)
    w = max(1, half_window)
    nb = -(-n // w)
    padded = np.zeros(nb * w)
    padded[:n] = np.abs(y)
    bm = padded.reshape(nb, w).max(axis=1)
    nb_max = bm.copy()
    nb_max[1:] = np.maximum(nb_max[1:], bm[:-1])
    nb_max[:-1] = np.maximum(nb_max[:-1], bm[1:])
    return np.repeat(nb_max, w)[:n]


def click_bound_factor(tones, carrier_max_hz: float) -> float:
    """The bound on |D2y| per unit of local peak amplitude (see the comment above)."""
    d1, d2 = waveform_differences(tones, carrier_max_hz)
    ramp = MIN_RAMP_S * FS
    e1 = 2.0 * (math.pi / 2.0) / ramp  # two overlapping raised-cosine ramps of the whole amplitude
    e2 = 1.0 / ramp  # a linear ramp's kink (its whole slope appearing at once), >= the cosine's curvature
    return 1.5 * (d2 + 2.0 * d1 * e1 + e2)


def click_excess(audio: np.ndarray, tones, carrier_max_hz: float, carrier_min_hz: float = 150.0,
                 pieces=None, kink: float = 0.0) -> tuple[float, int, int]:
    """(worst ratio |D2y| / bound, channel, frame): a ratio above 1 is a click.

    ``pieces``, a list of (start frame, tones, highest carrier) in frame order, sharpens the bound
    where a render changes carrier or tone: each stretch is judged with what sounds in it (and in
    the stretch before, whose glides run on into it) instead of the render's worst case.

    ``kink`` (amplitude per sample) allows the corner of a linear level ramp that is reversed before
    it gets anywhere (two level changes a few samples apart): at most |a1 - a0| / ramp length, small
    in absolute terms (1e-4 for a whole -60 .. -12 dBFS ramp of 50 ms) but possibly large next to a
    quiet signal, where the relative allowance above would not cover it.
    """
    n = len(audio)
    k = np.full(n, click_bound_factor(tones, carrier_max_hz))
    if pieces:
        prev_tones, prev_hz = set(), 0.0
        for i, (start, p_tones, p_hz) in enumerate(pieces):
            end = pieces[i + 1][0] if i + 1 < len(pieces) else n
            k[start:end] = click_bound_factor(set(p_tones) | prev_tones, max(p_hz, prev_hz))
            prev_tones, prev_hz = set(p_tones), p_hz
    half = int(math.ceil(FS / carrier_min_hz)) + 2  # at least one full carrier period each side
    worst = (0.0, -1, -1)
    for ch in range(audio.shape[1]):
        y = audio[:, ch].astype(np.float64)
        dd = np.abs(y[2:] - 2.0 * y[1:-1] + y[:-2])
        # 1e-7: float32 rounding of samples below 0.25 moves a second difference by < 4 x 7.5e-9
        bound = k[1:-1] * local_peak(y, half)[1:-1] + 1.5 * kink + 1e-7
        ratio = dd / bound
        i = int(np.argmax(ratio))
        if ratio[i] > worst[0]:
            worst = (float(ratio[i]), ch, i + 1)
    return worst


# --------------------------------------------------------------------------- presets from the schema


def field_type(f):
    """A field's type (an optional field's when it is given: "float | None" is float)."""
    return f.type if isinstance(f.type, type) else {"str": str, "float": float, "int": int, "bool": bool,
                                                    "float | None": float}[f.type]


def value_strategy(f):
    if f.metadata.get("optional"):
        return st.none() | _given_strategy(f)
    return _given_strategy(f)


def _given_strategy(f):
    meta, typ = f.metadata, field_type(f)
    if typ is bool:
        return st.booleans()
    if meta.get("choices"):
        return st.sampled_from(meta["choices"])
    if meta.get("kind") == "color":
        return st.from_regex(r"#[0-9a-fA-F]{6}", fullmatch=True)
    if typ is int:
        return st.integers(meta["lo"], meta["hi"])
    if typ is float:
        return st.floats(meta["lo"], meta["hi"], allow_nan=False)
    raise AssertionError(f"no strategy for {f.name}")


# free text for descriptions: no control characters (validation refuses them) except line breaks and
# tabs; bidi marks and joiners (format characters) are text. Names as bls keeps them: nothing that shows
# nothing (format characters and fillers are removed on load), NFC, single spaces, at most 60 characters
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc"), whitelist_characters="\n\t"), max_size=200)
INVISIBLE = ("\u034f\u115f\u1160\u3164\uffa0\u180b\u180c\u180d\u180f" + "".join(map(chr, range(0xFE00, 0xFE10)))
             + "".join(map(chr, range(0xE0100, 0xE01F0))))
names = (st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cf"), blacklist_characters=INVISIBLE), max_size=60)
         .map(lambda s: " ".join(unicodedata.normalize("NFC", s).split()))
         .filter(lambda s: bool(s) and len(s) <= 60 and s == unicodedata.normalize("NFC", s)))


@st.composite
def valid_presets(draw, gentle=None):
    """Any preset validation accepts, built from the field metadata (new fields are covered)."""
    kwargs = {}
    for section, cls in SECTIONS.items():
        kwargs[section] = cls(**{f.name: draw(value_strategy(f)) for f in fields(cls)})
    return Preset(name=draw(names), description=draw(texts), rationale=draw(texts),
                  gentle=draw(st.booleans()) if gentle is None else gentle, **kwargs)


