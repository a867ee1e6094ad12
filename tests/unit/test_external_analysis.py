"""The outside instrument's analysis (bls/bench/external.py) on synthetic recordings built here.

Each recording is made the way a recorder would see a display and a stereo output: a display that
presents a frame every 1/60 s (optionally jittered), each frame drawing a disc at the position the
tone will play ``d`` seconds later; grabs of a 2-row strip at 229 Hz that see the last frame presented;
a constant-power-panned 440 Hz tone. The expected figures are the ones put in, never ones computed by
the module.
"""

from __future__ import annotations

import numpy as np
import pytest

from bls.bench import external

W = 1920
CENTRE, HALF = 960.0, 816.0  # where s = 0 is drawn, px from the centre to an end
RADIUS, SOFT = 27.0, 4.0
BG, FG = 32.0, 228.0
SR = 48_000
SPEED = 1.0  # cycles/s
XS = np.arange(W, dtype=np.float64)


def s_of(t):
    """The position along the path the tone plays at time t (the same law for picture and sound)."""
    return np.sin(2 * np.pi * SPEED * np.asarray(t))


def disc_row(c):
    return (BG + (FG - BG) * np.clip((RADIUS - np.abs(XS - c)) / SOFT + 0.5, 0.0, 1.0)).astype(np.uint8)


def recording(seconds=20.0, offset_ms=0.0, drift_ms_per_min=0.0, present_jitter_ms=0.0, drop_share=0.0,
              hidden=None, seed=3, audio_t0=0.05, grab_hz=229.0, refresh_hz=60.0, missed=()):
    """(grab times, profiles (grabs, 2, W), audio t0, stereo samples) of a synthetic run. ``missed``:
    frames never presented (the one before stays on screen for two refreshes)."""
    rng = np.random.default_rng(seed)
    k = np.arange(int(seconds * refresh_hz))
    k = k[~np.isin(k, list(missed))]
    due = 0.1 + k / refresh_hz  # when each frame should be seen: what it draws is for that moment
    d = (offset_ms + drift_ms_per_min * due / 60.0) / 1000.0
    frame_x = CENTRE + HALF * s_of(due + d)  # the picture shows what the sound plays d later
    # when it is really seen: late or early by the jitter (never before the previous frame)
    present = np.maximum.accumulate(due + rng.normal(0.0, present_jitter_ms / 1000.0, k.size))
    frame_shown = np.ones(k.size, dtype=bool)
    if hidden is not None:
        frame_shown[(present >= hidden[0]) & (present < hidden[1])] = False
    grabs = 0.1 + np.arange(int((seconds - 0.1) * grab_hz)) / grab_hz + rng.uniform(0, 2e-4, int((seconds - 0.1) * grab_hz))
    grabs = grabs[grabs >= present[0]]
    if drop_share:
        grabs = grabs[rng.random(grabs.size) >= drop_share]
    which = np.searchsorted(present, grabs, side="right") - 1
    profiles = np.empty((grabs.size, 2, W), dtype=np.uint8)
    for i, f in enumerate(which):
        row = disc_row(frame_x[f]) if frame_shown[f] else np.full(W, BG, dtype=np.uint8)
        profiles[i, 0] = profiles[i, 1] = row
    n = int((seconds + 0.5) * SR)
    t = audio_t0 + np.arange(n) / SR
    theta = (s_of(t) + 1.0) * np.pi / 4.0
    carrier = 0.06 * np.sin(2 * np.pi * 440.0 * t)
    audio = np.column_stack([np.cos(theta) * carrier, np.sin(theta) * carrier]).astype(np.float32)
    return grabs, profiles, audio_t0, audio


def run(rec, **kw):
    grabs, profiles, t0, audio = rec
    return external.measure_offset(grabs, profiles, t0, SR, audio, **kw)


@pytest.mark.parametrize("offset_ms", [12.0, -0.3, 41.6])
def test_a_known_offset_is_recovered_with_its_sign(offset_ms):
    r = run(recording(offset_ms=offset_ms))
    assert r.offset_ms == pytest.approx(offset_ms, abs=0.25)
    assert r.window_mean_ms == pytest.approx(offset_ms, abs=0.25)
    assert r.onset_mean_ms == pytest.approx(offset_ms, abs=0.3)
    assert r.correlation > 0.999
    # the pixel mapping is fitted from the run: it finds the screen's geometry
    assert r.half_width_px == pytest.approx(HALF, abs=2.0)
    assert r.centre_px == pytest.approx(CENTRE, abs=1.0)
    # a new frame every 1/60 s, seen from outside
    assert r.frame_rate_hz == pytest.approx(60.0, abs=1.5)
    assert r.grabs_absent == 0 and r.grabs_torn == 0
    # one-second windows of a steady offset: no spread beyond the instrument's resolution
    assert r.window_sd_ms < 0.3
    assert abs(r.drift_ms_per_10min) < 4 * r.drift_se_ms_per_10min + 1.0


def test_the_onset_offsets_spread_over_the_grab_interval_and_no_more():
    """Each onset is off by up to half a grab interval (uniform): sd ~ (1/229 s)/sqrt(12) = 1.26 ms."""
    r = run(recording(offset_ms=3.0))
    assert r.onset_sd_ms == pytest.approx(1000.0 / 229.0 / np.sqrt(12.0), rel=0.2)
    assert r.onset_max_abs_ms <= 3.0 + 1000.0 / 229.0 / 2 + 0.3


def test_presentation_jitter_shows_in_the_spread_not_in_the_mean():
    clean = run(recording(offset_ms=5.0))
    shaky = run(recording(offset_ms=5.0, present_jitter_ms=2.0))
    assert shaky.offset_ms == pytest.approx(5.0, abs=0.4)
    expected_sd = np.hypot(1000.0 / 229.0 / np.sqrt(12.0), 2.0)  # grab quantisation and 2 ms jitter
    assert shaky.onset_sd_ms == pytest.approx(expected_sd, rel=0.25)
    assert shaky.onset_sd_ms > 1.4 * clean.onset_sd_ms


def test_dropped_grabs_are_counted_and_do_not_move_the_offset():
    full = recording(offset_ms=-2.0)
    dropped = recording(offset_ms=-2.0, drop_share=0.25)
    r_full, r_drop = run(full), run(dropped)
    assert r_drop.grabs == len(dropped[0])
    assert 0.70 * r_full.grabs < r_drop.grabs < 0.80 * r_full.grabs
    assert r_drop.offset_ms == pytest.approx(-2.0, abs=0.35)


def test_a_slow_drift_is_measured_as_a_slope():
    # 5 ms per minute: 50 ms per 10 minutes; from 1 ms at the start to 4.3 ms after 40 s
    r = run(recording(seconds=40.0, offset_ms=1.0, drift_ms_per_min=5.0))
    assert r.drift_ms_per_10min == pytest.approx(50.0, abs=6.0)
    assert r.window_offsets_ms[0] == pytest.approx(1.0 + 5.0 * r.window_t[0] / 60.0, abs=0.5)
    assert r.window_offsets_ms[-1] == pytest.approx(1.0 + 5.0 * r.window_t[-1] / 60.0, abs=0.5)
    assert r.window_max_abs_ms == pytest.approx(1.0 + 5.0 * r.window_t[-1] / 60.0, abs=0.5)


def test_grabs_without_the_target_are_absent_and_left_out():
    rec = recording(offset_ms=4.0, hidden=(6.0, 9.0))
    r = run(rec)
    # the grabs that saw a frame presented in [6, 9): about 3 s of grabs, to a grab or two at the edges
    assert abs(r.grabs_absent - 3.0 * 229) <= 6
    assert r.grabs_valid == r.grabs - r.grabs_absent
    assert r.offset_ms == pytest.approx(4.0, abs=0.3)


def test_torn_grabs_are_rejected():
    grabs, profiles, t0, audio = recording(offset_ms=0.0)
    profiles = profiles.copy()
    rows_disagree = [100, 500, 900]  # row 1 still shows a frame 80 px away (a tear between the rows)
    two_blobs = [1200, 1600]  # the old disc not yet erased beside the new one
    partial = [2000]  # half the disc drawn
    for i in rows_disagree:
        c = np.average(XS, weights=profiles[i, 0].astype(float) - BG)
        profiles[i, 1] = disc_row(c + 80.0)
    for i in two_blobs:
        c = np.average(XS, weights=profiles[i, 0].astype(float) - BG)
        other = disc_row(c + 300.0 if c < CENTRE else c - 300.0)
        profiles[i, 0] = profiles[i, 1] = np.maximum(profiles[i, 0], other)
    for i in partial:
        c = np.average(XS, weights=profiles[i, 0].astype(float) - BG)
        row = profiles[i, 0].copy()
        row[XS > c] = BG
        profiles[i, 0] = profiles[i, 1] = row
    r = external.measure_offset(grabs, profiles, t0, SR, audio)
    assert r.grabs_torn == len(rows_disagree) + len(two_blobs) + len(partial)
    assert r.grabs_absent == 0
    track = external.picture_track(grabs, profiles)
    assert np.isnan(track.x[rows_disagree + two_blobs + partial]).all()
    assert r.offset_ms == pytest.approx(0.0, abs=0.25)


def test_the_centroid_of_a_disc_is_its_centre():
    rows = np.stack([disc_row(123.4), disc_row(1500.75)])
    track = external.picture_track([0.0, 0.01], rows)
    assert track.x == pytest.approx([123.4, 1500.75], abs=0.1)  # 8-bit grey levels


@pytest.mark.parametrize("s", [-1.0, -0.5, 0.0, 0.3, 1.0])
def test_the_pan_heard_is_read_from_the_channels_energies(s):
    theta = (s + 1.0) * np.pi / 4.0
    t = np.arange(SR // 10) / SR
    c = 0.1 * np.sin(2 * np.pi * 523.0 * t)
    st = external.sound_track(0.0, SR, np.column_stack([np.cos(theta) * c, np.sin(theta) * c]))
    assert np.nanmax(np.abs(st.s - s)) < 1e-6


def test_silence_and_fades_are_left_out_of_the_sound():
    t = np.arange(SR) / SR
    c = 0.1 * np.sin(2 * np.pi * 440.0 * t) * (t >= 0.5)  # silent for half a second
    st = external.sound_track(10.0, SR, np.column_stack([c, c]))
    assert np.isnan(st.s[st.t < 10.49]).all()
    assert np.isfinite(st.s[st.t > 10.51]).all()
    assert st.t[0] == pytest.approx(10.0 + (0.002 * SR - 1) / 2 / SR)


def test_a_recording_without_sound_or_without_a_target_gives_no_offset():
    grabs, profiles, t0, audio = recording(seconds=5.0)
    r = external.measure_offset(grabs, profiles, t0, SR, np.zeros_like(audio))
    assert r.offset_ms is None and r.onsets == 0 and r.sound_windows == 0
    blank = np.full_like(profiles, int(BG))
    r = external.measure_offset(grabs, blank, t0, SR, audio)
    assert r.offset_ms is None and r.grabs_absent == r.grabs


def test_the_start_of_the_sound_can_be_left_out():
    """A recorder that connects the left channel 40 ms before the right hears the left side alone:
    left out, the offset is the one put in."""
    grabs, profiles, t0, audio = recording(offset_ms=2.0)
    audio = audio.copy()
    first = int(0.6 * SR)
    audio[:first] = 0.0  # nothing connected yet
    audio[first:first + int(0.04 * SR), 1] = 0.0  # the left port only
    lopsided = external.measure_offset(grabs, profiles, t0, SR, audio)
    skipped = external.measure_offset(grabs, profiles, t0, SR, audio, sound_skip_s=0.5)
    assert skipped.offset_ms == pytest.approx(2.0, abs=0.25)
    assert skipped.correlation > lopsided.correlation


def test_a_tone_moving_the_other_way_is_no_match():
    """Left and right swapped: the tone moves left while the target moves right (a shift of half a cycle
    would fit the shape): no offset is reported."""
    grabs, profiles, t0, audio = recording(seconds=10.0, offset_ms=1.0)
    r = external.measure_offset(grabs, profiles, t0, SR, audio[:, ::-1])
    assert r.offset_ms is None and r.correlation is None
    assert r.grabs_valid == r.grabs  # the target was seen; it is the match that failed


def test_frames_held_for_two_refreshes_are_counted_where_the_target_moves_fast():
    # frames due at t = 3.0, 5.5 and 8.0 s, when the target crosses the centre, are never presented
    missed = [int(round((t - 0.1) * 60)) for t in (3.0, 5.5, 8.0)]
    clean, held = run(recording(offset_ms=5.0)), run(recording(offset_ms=5.0, missed=missed))
    grab_ms = 1000.0 / 229.0
    for r in (clean, held):
        assert r.frame_interval_p50_ms == pytest.approx(1000.0 / 60.0, abs=grab_ms)
        assert r.frame_intervals > 300
    assert clean.frames_held_long == 0
    assert clean.frame_interval_max_ms < 1000.0 / 60.0 + grab_ms + 0.5
    assert held.frames_held_long == 3
    assert held.frame_interval_max_ms == pytest.approx(2000.0 / 60.0, abs=grab_ms + 0.5)
