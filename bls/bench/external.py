"""The outside instrument's analysis: where the target was on the screen, where the tone was in the
stereo field, and how far apart in time the two are, from a recording made by a tool that is not bls.

numpy only (no Qt, nothing of bls's clock): the input is what a recorder captured, each stream
timestamped by the recorder's own clock.

- **Video**: grabs of a thin strip of the client screen across the target's path, each with its
  timestamp and its brightness profile along x (``(grabs, width)`` or ``(grabs, rows, width)``).
- **Audio**: the stereo samples the output played, the time of the first sample and the sample rate.

The picture. Per grab, the target's x is the brightness centroid of the one bright blob above the
background (the median of the row). A grab is *absent* when no pixel stands out by
``absent_contrast`` of the run's typical target contrast, and *torn* when its rows disagree, it holds
more than one blob, or its blob is far narrower or wider than the run's typical blob (a partial frame).
Neither kind is used.

The screen shows each frame until the next one, so most grabs see a frame that was presented a while
ago: measuring them would measure the hold (half a frame on average), not the sync. Only *onsets*
are used: a grab whose target moved since the previous valid grab shows a frame presented between the
two grabs, and with a grab rate that is not a multiple of the refresh rate that moment is uniformly
spread over the interval, so the midpoint is an unbiased estimate of the presentation time (each onset
is off by up to half a grab interval; windows of many onsets average that out).

The sound. The pan law is constant power (L = cos θ, R = sin θ, θ = (pan + 1) π/4), so over any short
window the carrier cancels from the ratio of the channels' energies: θ = atan2(rms R, rms L) and
pan = 4θ/π − 1, every ``hop_s``; windows much quieter than the run's typical level (fades, silence) are
left out. With pan depth 100 % and continuous panning the pan *is* the position s along the path.

The mapping from pixels to s is fitted (s = a·x + b, least squares), not taken from bls's geometry; the
fitted half-width is reported so it can be checked against the screen. It must rise (a > 0: the target
moving right is the tone moving right); a recording where it does not has no offset. The offset d is defined by
"the picture at time t shows what the sound plays at t + d": **positive d = the picture is ahead of
the sound** (the sound is late), the sign of ``bls bench``'s A/V offset. It is found by a coarse search
over d (the mapping refitted at every step, the residual minimised, refined by a parabola through the
three best steps), then per window of ``window_s`` by Gauss-Newton on d alone, and per onset by
linearisation where the target moves fast (at least half its top speed). Drift is the least-squares
slope of the onsets' offsets against time, in ms per 10 minutes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

#: a grab whose brightest pixel stands out by less than this share of the run's typical target contrast
#: shows no target
ABSENT_CONTRAST = 0.35
#: rows of one grab whose centroids differ by more than this (px) show two frames: torn
ROW_TOLERANCE_PX = 3.0
#: a blob narrower or wider than the run's typical blob by more than this share: a partial frame, torn
WIDTH_TOLERANCE = 0.25
#: the target moved by more than this (px) since the previous valid grab: a new frame (an onset)
ONSET_PX = 0.75
#: onsets used for per-onset offsets: where the tone's position moves at least this share of its top speed
FAST_SHARE = 0.5


@dataclass
class PictureTrack:
    t: np.ndarray  # grab timestamps (s)
    x: np.ndarray  # target centroid (px), NaN when absent or torn
    absent: np.ndarray  # bool per grab
    torn: np.ndarray  # bool per grab

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.x)


@dataclass
class SoundTrack:
    t: np.ndarray  # window centres (s)
    s: np.ndarray  # position along the path heard (-1..1), NaN when too quiet
    level: np.ndarray  # RMS of both channels per window


@dataclass
class OffsetResult:
    grabs: int  # grabs in the recording
    grabs_valid: int  # target found, not torn
    grabs_absent: int
    grabs_torn: int
    onsets: int  # grabs that show a new frame, with sound under them
    onsets_fast: int  # of which where the target moves fast (per-onset offsets)
    frame_rate_hz: float | None  # the picture's update rate seen from outside (see _frame_rate)
    # frame pacing seen from outside, where the target moves fast (see frame_pacing)
    frame_interval_p50_ms: float | None
    frame_interval_p99_ms: float | None
    frame_interval_max_ms: float | None
    frames_held_long: int | None  # intervals over 1.5 x the median: a frame shown for two refreshes or more
    frame_intervals: int
    sound_windows: int  # envelope windows with sound
    correlation: float | None  # picture s against sound s at the best offset (1 = the same motion)
    half_width_px: float | None  # fitted: pixels from the centre to an end of the sweep
    centre_px: float | None  # fitted: where s = 0 is drawn
    offset_ms: float | None  # global least-squares offset (picture minus sound; + = picture ahead)
    window_s: float
    windows: int
    window_mean_ms: float | None
    window_sd_ms: float | None
    window_p99_abs_ms: float | None
    window_max_abs_ms: float | None
    onset_mean_ms: float | None
    onset_sd_ms: float | None
    onset_p99_abs_ms: float | None
    onset_max_abs_ms: float | None
    drift_ms_per_10min: float | None
    drift_se_ms_per_10min: float | None
    duration_s: float
    window_t: list = field(default_factory=list, repr=False)
    window_offsets_ms: list = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("window_t")
        d.pop("window_offsets_ms")
        return d


# ---------------------------------------------------------------------------------------------- picture

def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(m))
    return list(zip(edges[::2], edges[1::2]))


def _row_blob(row: np.ndarray, floor: float):
    """(centroid px, half-maximum width px, blobs at half maximum, contrast) of one row, or None."""
    bg = float(np.median(row))
    sig = row - bg
    peak = float(sig.max())
    if peak <= floor:
        return None, peak
    half = _runs(sig >= 0.5 * peak)
    i_peak = int(np.argmax(sig))
    # the blob: the run above 10 % of the peak that holds the peak
    lo = i_peak
    while lo > 0 and sig[lo - 1] > 0.1 * peak:
        lo -= 1
    hi = i_peak + 1
    while hi < len(sig) and sig[hi] > 0.1 * peak:
        hi += 1
    w = sig[lo:hi]
    xs = np.arange(lo, hi, dtype=np.float64)
    centroid = float((xs * w).sum() / w.sum())
    # the width of the half-maximum run holding the peak; two runs far apart are two blobs
    width = next((b - a for a, b in half if a <= i_peak < b), 1)
    blobs = 1 + sum(1 for a, b in half if not (a <= i_peak < b) and (a > hi + 2 or b < lo - 2))
    return (centroid, float(width), blobs), peak


def picture_track(t, profiles, absent_contrast: float = ABSENT_CONTRAST, row_tol_px: float = ROW_TOLERANCE_PX,
                  width_tol: float = WIDTH_TOLERANCE, noise_floor: float = 8.0) -> PictureTrack:
    """The target's x per grab (brightness centroid), NaN where it is absent or torn (see the module)."""
    t = np.asarray(t, dtype=np.float64)
    p = np.asarray(profiles)  # kept in its own type (8-bit grabs): rows are made float one at a time
    if p.ndim == 2:
        p = p[:, None, :]
    n, rows, _ = p.shape
    found = [[_row_blob(p[i, r].astype(np.float64), noise_floor) for r in range(rows)] for i in range(n)]
    peaks = np.array([[f[1] for f in g] for g in found])
    typical_peak = float(np.median(peaks.max(axis=1)[peaks.max(axis=1) > noise_floor])) if (
        peaks.max(axis=1) > noise_floor).any() else np.inf
    widths = [f[0][1] for g in found for f in g if f[0] is not None and f[1] >= absent_contrast * typical_peak]
    typical_width = float(np.median(widths)) if widths else np.nan
    x = np.full(n, np.nan)
    absent = np.zeros(n, dtype=bool)
    torn = np.zeros(n, dtype=bool)
    for i, g in enumerate(found):
        blobs = [f[0] for f in g if f[0] is not None and f[1] >= absent_contrast * typical_peak]
        if not blobs:
            absent[i] = True
            continue
        cs = np.array([b[0] for b in blobs])
        bad = (len(blobs) < rows or cs.max() - cs.min() > row_tol_px or any(b[2] > 1 for b in blobs)
               or any(abs(b[1] - typical_width) > width_tol * typical_width for b in blobs))
        if bad:
            torn[i] = True
            continue
        x[i] = float(cs.mean())
    return PictureTrack(t, x, absent, torn)


def onsets(track: PictureTrack, onset_px: float = ONSET_PX) -> tuple[np.ndarray, np.ndarray]:
    """(estimated presentation time, x) of every new frame: a valid grab whose x differs from the
    previous grab's (which must be valid too) by more than ``onset_px``; the time is the midpoint
    between the two grabs."""
    v = track.valid
    prev_ok = np.concatenate([[False], v[:-1]]) & v
    idx = np.flatnonzero(prev_ok)
    moved = np.abs(track.x[idx] - track.x[idx - 1]) > onset_px
    idx = idx[moved]
    return 0.5 * (track.t[idx] + track.t[idx - 1]), track.x[idx]


# ------------------------------------------------------------------------------------------------ sound

def sound_track(t0: float, sample_rate: float, samples, hop_s: float = 0.001, window_s: float = 0.002,
                quiet_share: float = 0.3) -> SoundTrack:
    """The position heard, every ``hop_s``, from the channels' energies over ``window_s`` (see the
    module); NaN where the level is under ``quiet_share`` of the run's median level with sound."""
    a = np.asarray(samples, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError("samples must be (frames, 2): left, right")
    win = max(2, int(round(window_s * sample_rate)))
    hop = max(1, int(round(hop_s * sample_rate)))
    zeros = np.zeros((1, 2))
    cum = np.concatenate([zeros, np.cumsum(a * a, axis=0)])
    starts = np.arange(0, len(a) - win + 1, hop)
    e = (cum[starts + win] - cum[starts]) / win
    el, er = np.maximum(e[:, 0], 0.0), np.maximum(e[:, 1], 0.0)
    level = np.sqrt(el + er)
    loud = level[level > 1e-6]
    ref = float(np.median(loud)) if loud.size else 0.0
    theta = np.arctan2(np.sqrt(er), np.sqrt(el))
    s = 4.0 * theta / np.pi - 1.0
    s[level < quiet_share * ref] = np.nan
    if ref == 0.0:
        s[:] = np.nan
    t = t0 + (starts + (win - 1) / 2.0) / sample_rate
    return SoundTrack(t, s, level)


# ----------------------------------------------------------------------------------------------- offset

def _interp(st: SoundTrack, t: np.ndarray) -> np.ndarray:
    """The sound's s at times ``t`` (linear between windows); NaN outside or where it is silent."""
    out = np.interp(t, st.t, st.s, left=np.nan, right=np.nan)  # NaN neighbours give NaN
    return out


def _slope(st: SoundTrack, t: np.ndarray, h: float = 0.002) -> np.ndarray:
    return (_interp(st, t + h) - _interp(st, t - h)) / (2 * h)


def _fit_at(st: SoundTrack, t: np.ndarray, x: np.ndarray, d: float):
    """(residual rms, a, b, n) of s_sound(t + d) ~ a x + b."""
    y = _interp(st, t + d)
    ok = np.isfinite(y)
    if ok.sum() < 10:
        return np.inf, np.nan, np.nan, int(ok.sum())
    A = np.column_stack([x[ok], np.ones(ok.sum())])
    coef, *_ = np.linalg.lstsq(A, y[ok], rcond=None)
    r = y[ok] - A @ coef
    return float(np.sqrt(np.mean(r * r))), float(coef[0]), float(coef[1]), int(ok.sum())


def _gauss_newton(st: SoundTrack, t: np.ndarray, s_pic: np.ndarray, d: float, iters: int = 6) -> float | None:
    """The d minimising sum (s_pic - s_sound(t + d))^2, from ``d``."""
    for _ in range(iters):
        y = _interp(st, t + d)
        g = _slope(st, t + d)
        ok = np.isfinite(y) & np.isfinite(g)
        if ok.sum() < 5:
            return None
        gg = float((g[ok] ** 2).sum())
        if gg <= 0:
            return None
        step = float(((s_pic[ok] - y[ok]) * g[ok]).sum() / gg)
        d += step
        if abs(step) < 1e-7:
            break
    return d


def _frame_rate(t_on: np.ndarray) -> float | None:
    """1 / the mean interval between consecutive onsets, over intervals under 1.5 x the median (a frame
    missed where the target barely moves, at the reversals, would count as a long interval). Each
    interval is a whole number of grab intervals; their mean is the frame period."""
    if t_on.size < 3:
        return None
    iv = np.diff(t_on)
    iv = iv[iv < 1.5 * np.median(iv)]
    return float(1.0 / iv.mean()) if iv.size else None


#: frame pacing is read where the target is within this share of the half-width from the centre
PACING_MIDDLE = 0.7


def frame_pacing(t_on: np.ndarray, x_on: np.ndarray, centre: float | None, half: float | None) -> dict:
    """Intervals between consecutive onsets while the target crosses the middle of the sweep (it moves
    fast there, so every new frame is an onset; near the ends a new frame may move it less than a pixel).
    Each interval is a whole number of grab intervals (4.4 ms at 229 grabs/s): the figures are that coarse,
    but a frame held for two refreshes (33 ms at 60 Hz) stands out from one (17 ms)."""
    none = dict(frame_interval_p50_ms=None, frame_interval_p99_ms=None, frame_interval_max_ms=None,
                frames_held_long=None, frame_intervals=0)
    if centre is None or not half or t_on.size < 3:
        return none
    mid = np.abs(x_on - centre) < PACING_MIDDLE * abs(half)
    both = mid[1:] & mid[:-1]
    iv = np.diff(t_on)[both] * 1000.0
    if iv.size < 3:
        return none
    p50 = float(np.percentile(iv, 50))
    return dict(frame_interval_p50_ms=p50, frame_interval_p99_ms=float(np.percentile(iv, 99)),
                frame_interval_max_ms=float(iv.max()), frames_held_long=int((iv > 1.5 * p50).sum()),
                frame_intervals=int(iv.size))


def _pct_abs(a: np.ndarray, q: float) -> float | None:
    return float(np.percentile(np.abs(a), q)) if a.size else None


def measure_offset(video_t, profiles, audio_t0: float, sample_rate: float, samples, *, search_ms: float = 250.0,
                   step_ms: float = 0.5, window_s: float = 2.0, skip_s: float = 0.0, sound_skip_s: float = 0.0,
                   **track_args) -> OffsetResult:
    """Everything the module describes, for one recording. ``skip_s``: seconds at the start of the
    video left out (start-up); ``sound_skip_s``: seconds after the sound's first window with sound left
    out (a recorder whose two channels are connected one after the other hears one side alone at first)."""
    track = picture_track(video_t, profiles, **track_args)
    snd = sound_track(audio_t0, sample_rate, samples)
    heard = np.flatnonzero(np.isfinite(snd.s))
    if sound_skip_s > 0 and heard.size:
        snd.s[snd.t < snd.t[heard[0]] + sound_skip_s] = np.nan
    t_on, x_on = onsets(track)
    keep = t_on >= (track.t[0] + skip_s if track.t.size else 0.0)
    t_on, x_on = t_on[keep], x_on[keep]
    duration = float(track.t[-1] - track.t[0]) if track.t.size > 1 else 0.0
    base = dict(grabs=int(track.t.size), grabs_valid=int(track.valid.sum()), grabs_absent=int(track.absent.sum()),
                grabs_torn=int(track.torn.sum()), sound_windows=int(np.isfinite(snd.s).sum()), window_s=window_s,
                duration_s=duration)
    empty = dict(onsets=0, onsets_fast=0, frame_rate_hz=None, **frame_pacing(t_on, x_on, None, None), correlation=None, half_width_px=None, centre_px=None,
                 offset_ms=None, windows=0, window_mean_ms=None, window_sd_ms=None, window_p99_abs_ms=None,
                 window_max_abs_ms=None, onset_mean_ms=None, onset_sd_ms=None, onset_p99_abs_ms=None,
                 onset_max_abs_ms=None, drift_ms_per_10min=None, drift_se_ms_per_10min=None)
    if t_on.size < 20:
        return OffsetResult(**base, **empty)
    # coarse: every step of the search range, the pixel mapping refitted at each
    ds = np.arange(-search_ms, search_ms + step_ms / 2, step_ms) / 1000.0
    res = np.array([_fit_at(snd, t_on, x_on, d)[0] for d in ds])
    if not np.isfinite(res).any():
        return OffsetResult(**base, **empty)
    k = int(np.nanargmin(res))
    d0 = float(ds[k])
    if 0 < k < len(ds) - 1 and np.isfinite(res[k - 1:k + 2]).all():
        y0, y1, y2 = res[k - 1], res[k], res[k + 1]
        den = y0 - 2 * y1 + y2
        if den > 0:
            d0 += 0.5 * (y0 - y2) / den * (step_ms / 1000.0)
    _, a, b, _ = _fit_at(snd, t_on, x_on, d0)
    if not (np.isfinite(a) and np.isfinite(b) and a > 0):
        # the target moving right must be the tone moving right: anything else is no match
        return OffsetResult(**base, **empty)
    s_pic = a * x_on + b
    d_all = _gauss_newton(snd, t_on, s_pic, d0)
    d_g = d0 if d_all is None else d_all
    y = _interp(snd, t_on + d_g)
    ok = np.isfinite(y)
    corr = float(np.corrcoef(s_pic[ok], y[ok])[0, 1]) if ok.sum() > 2 and np.ptp(y[ok]) > 0 else None
    # per onset, where the target moves fast
    g = _slope(snd, t_on + d_g)
    top = float(np.nanpercentile(np.abs(g), 99)) if np.isfinite(g).any() else 0.0
    fast = ok & np.isfinite(g) & (np.abs(g) >= FAST_SHARE * top) & (np.abs(g) > 0)
    d_on = d_g + (s_pic[fast] - y[fast]) / g[fast]
    t_fast = t_on[fast]
    # per window
    wt, wd = [], []
    t_start = t_on[0]
    nwin = int(np.floor((t_on[-1] - t_start) / window_s))
    for w in range(nwin):
        sel = (t_on >= t_start + w * window_s) & (t_on < t_start + (w + 1) * window_s)
        if sel.sum() < 10:
            continue
        dw = _gauss_newton(snd, t_on[sel], s_pic[sel], d_g)
        if dw is not None and abs(dw - d_g) < search_ms / 1000.0:
            wt.append(float(t_start + (w + 0.5) * window_s))
            wd.append(dw * 1000.0)
    wd_a = np.array(wd)
    if t_fast.size > 2:
        tt = t_fast - t_fast.mean()
        slope = float((tt * (d_on - d_on.mean())).sum() / (tt * tt).sum())
        resid = d_on - d_on.mean() - slope * tt
        se = float(np.sqrt((resid ** 2).sum() / (tt.size - 2) / (tt * tt).sum()))
        drift, drift_se = slope * 600.0 * 1000.0, se * 600.0 * 1000.0
    else:
        drift = drift_se = None
    d_on_ms = d_on * 1000.0
    return OffsetResult(
        **base, onsets=int(ok.sum()), onsets_fast=int(fast.sum()),
        frame_rate_hz=_frame_rate(t_on), correlation=corr,
        **frame_pacing(t_on, x_on, float(-b / a) if a else None, float(1.0 / a) if a else None),
        half_width_px=float(1.0 / a) if a else None, centre_px=float(-b / a) if a else None,
        offset_ms=d_g * 1000.0, windows=len(wd),
        window_mean_ms=float(wd_a.mean()) if wd_a.size else None,
        window_sd_ms=float(wd_a.std(ddof=1)) if wd_a.size > 1 else None,
        window_p99_abs_ms=_pct_abs(wd_a, 99), window_max_abs_ms=float(np.abs(wd_a).max()) if wd_a.size else None,
        onset_mean_ms=float(d_on_ms.mean()) if d_on_ms.size else None,
        onset_sd_ms=float(d_on_ms.std(ddof=1)) if d_on_ms.size > 1 else None,
        onset_p99_abs_ms=_pct_abs(d_on_ms, 99), onset_max_abs_ms=float(np.abs(d_on_ms).max()) if d_on_ms.size else None,
        drift_ms_per_10min=drift, drift_se_ms_per_10min=drift_se, window_t=wt, window_offsets_ms=wd)
