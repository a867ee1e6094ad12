"""The benchmark's own statistics on synthetic data with known answers: frame-interval figures and the
drop rule (bls.core.timing), the simulated long session (bls.bench.drift) and the report (ratios, the
tables and their verdicts, bls.bench.report). test_timing covers the building blocks one by one; here they are fed
the frame timestamps a benchmark run produces."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from bls.bench.drift import simulate
from bls.bench.report import (
    DRIFT_ROWS,
    ROWS,
    STAND_IN_AUDIO,
    drift_table,
    part_ratios,
    ratio,
    table,
    verdict,
)
from bls.core.timing import dropped_frames, interval_stats, percentile

PERIODS = [1 / 60, 1 / 59.94, 1 / 120, 1 / 144]


def timestamps(intervals_in_periods, period, t0=1234.5):
    """Presentation times of frames separated by the given intervals (in periods)."""
    return t0 + np.concatenate([[0.0], np.cumsum(np.asarray(intervals_in_periods, dtype=np.float64) * period)])


# --------------------------------------------------------------------------- frame intervals


@pytest.mark.parametrize("period", PERIODS)
def test_a_perfect_display_has_no_drops_and_its_own_refresh_rate(period):
    s = interval_stats(timestamps([1.0] * 600, period), period)
    assert (s.count, s.dropped, s.missed) == (600, 0, 0)
    assert s.mean_ms == pytest.approx(1000 * period) and s.sd_ms == pytest.approx(0.0, abs=1e-6)
    assert s.p50_ms == pytest.approx(1000 * period) and s.p99_ms == pytest.approx(1000 * period)
    assert s.max_ms == pytest.approx(1000 * period)
    assert s.measured_hz == pytest.approx(1 / period)


def test_symmetric_jitter_gives_its_own_sd_and_no_drops():
    # intervals alternate 1.1 and 0.9 periods: mean one period, sd exactly 0.1 period, never late
    period = 1 / 60
    s = interval_stats(timestamps([1.1, 0.9] * 50, period), period)
    assert s.dropped == 0 and s.missed == 0
    assert s.mean_ms == pytest.approx(1000 * period)
    assert s.sd_ms == pytest.approx(100 * period)
    assert s.p50_ms == pytest.approx(1000 * period)  # halfway between the two middle values
    assert s.p99_ms == pytest.approx(1100 * period) and s.max_ms == pytest.approx(1100 * period)
    assert s.measured_hz == pytest.approx(60.0)


@pytest.mark.parametrize("period", PERIODS)
def test_the_drop_rule_is_more_than_1_2_periods(period):
    # exactly 1.2 x period is jitter, 1.21 x is a late frame (though no whole refresh was lost)
    assert dropped_frames([1.2 * period], period) == (0, 0)
    assert dropped_frames([1.21 * period], period) == (1, 0)
    s = interval_stats(timestamps([1, 1, 1.2, 1, 1.21, 1, 2, 1, 3, 1], period), period)
    # 1.21: late; 2: one refresh missed; 3: two refreshes missed
    assert (s.dropped, s.missed) == (3, 3)
    assert s.max_ms == pytest.approx(3000 * period)


@pytest.mark.parametrize("period", PERIODS)
def test_one_long_interval_in_a_steady_run(period):
    ivs = [1.0] * 100 + [2.6] + [1.0] * 100
    s = interval_stats(timestamps(ivs, period), period)
    assert (s.count, s.dropped, s.missed) == (201, 1, 2)  # 2.6 periods: the refreshes at 1 and 2 were missed
    assert s.max_ms == pytest.approx(2600 * period)
    assert s.p50_ms == pytest.approx(1000 * period)
    assert s.p99_ms == pytest.approx(1000 * period)  # one frame in 201 is not the 99th percentile
    assert s.mean_ms == pytest.approx(1000 * period * 202.6 / 201)


@pytest.mark.parametrize("periods,missed", [(1.5, 1), (2.5, 2), (3.5, 3), (4.5, 4)])
def test_an_interval_of_n_and_a_half_periods_missed_n_refreshes(periods, missed):
    # rounding to the nearest period, halves up: 2.5 periods late means the refreshes at 1 and 2 passed
    from bls.core.timing import FrameClock

    period = 1 / 60
    assert dropped_frames([periods * period], period) == (1, missed)
    clock = FrameClock(period)
    clock.tick(10.0)
    clock.tick(10.0 + periods * period)
    assert (clock.dropped, clock.missed) == (1, missed)


def test_percentiles_of_a_known_sample():
    values = np.arange(1, 101, dtype=np.float64)  # 1 .. 100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)  # linear: 99 + 0.01 x (100 - 99)
    assert percentile(values, 100) == 100.0 and percentile(values, 0) == 1.0
    shuffled = np.random.default_rng(7).permutation(values)
    assert percentile(shuffled, 99) == percentile(values, 99)  # order does not matter
    assert math.isnan(percentile([], 99))


# --------------------------------------------------------------------------- the simulated long session


def test_drift_with_matched_clocks_and_no_jitter_is_zero_for_both_designs():
    r = simulate(duration_s=120.0, ppm=0.0, jitter_ms=0.0)
    assert len(r.t_s) >= 110
    assert np.max(np.abs(r.bls_offset_ms)) < 1e-6
    assert np.max(np.abs(r.naive_offset_ms)) < 1e-6
    s = r.summary()
    assert s["bls"]["max_abs_ms"] < 1e-6 and s["naive"]["max_abs_ms"] < 1e-6


@pytest.fixture(scope="module")
def twenty_minutes():
    return simulate(duration_s=20 * 60.0, ppm=200.0)


def test_drift_the_naive_design_loses_200_us_per_second(twenty_minutes):
    r = twenty_minutes
    # a sound card 200 ppm fast plays 200e-6 s of sound more per second than the system clock counts,
    # so the picture (system clock) falls behind the sound by 0.2 ms per second of session: exactly
    # linear, from the moment the first sound is heard (after the output latency, well under 0.1 s)
    t, naive = r.t_s, r.naive_offset_ms
    t_zero = t[0] + naive[0] / (200e-6 * 1000)
    assert 0.0 <= t_zero < 0.1
    assert np.allclose(naive, -200e-6 * (t - t_zero) * 1000, rtol=0, atol=1e-6)
    assert naive[-1] == pytest.approx(-200e-6 * 1000 * t[-1], abs=0.02)  # about -240 ms after 20 min


@pytest.mark.parametrize("minutes", [10, 20])
def test_drift_bls_stays_within_a_millisecond_over_the_session(twenty_minutes, minutes):
    r = twenty_minutes
    keep = r.t_s <= minutes * 60.0
    assert r.t_s[keep][-1] >= minutes * 60.0 - 2.0
    assert np.max(np.abs(r.bls_offset_ms[keep])) < 1.0
    # it does not creep either: the last minute is no worse than the first
    first, last = r.t_s[keep] < 60.0, r.t_s[keep] > minutes * 60.0 - 60.0
    assert np.max(np.abs(r.bls_offset_ms[keep][last])) < 1.0
    assert abs(np.mean(r.bls_offset_ms[keep][last])) < 0.1 + abs(np.mean(r.bls_offset_ms[keep][first]))


def test_drift_summary_describes_the_series(twenty_minutes):
    r = twenty_minutes
    s = r.summary()
    assert s["ppm"] == 200.0 and s["jitter_ms"] == 0.5 and s["duration_s"] == r.t_s[-1]
    for design, series in (("bls", r.bls_offset_ms), ("naive", r.naive_offset_ms)):
        i = int(np.argmax(np.abs(series)))
        assert s[design]["max_abs_ms"] == pytest.approx(abs(series[i]))
        assert s[design]["signed_at_max_ms"] == pytest.approx(series[i])
        assert s[design]["final_ms"] == series[-1] and s[design]["mean_ms"] == pytest.approx(series.mean())
    assert s["naive"]["signed_at_max_ms"] < 0  # the sign says which way: the picture lags


@pytest.mark.parametrize("ppm", [0.0, 200.0, -200.0])
@pytest.mark.parametrize("seed", [1, 2])
def test_drift_bls_averages_the_timestamp_jitter_away(ppm, seed):
    # anchors carry +-2 ms of uniform timestamp jitter: the fitted line's error stays well below it
    jitter = 2.0
    r = simulate(duration_s=240.0, ppm=ppm, jitter_ms=jitter, seed=seed)
    err = np.abs(r.bls_offset_ms)
    assert err.max() < 0.6 * jitter  # following the last anchor would reach the whole jitter
    assert err.mean() < 0.15 * jitter  # ... and be 0.5 x jitter off on average


# --------------------------------------------------------------------------- the report


def test_ratio_is_how_many_times_the_baseline_figure_is_bls():
    assert ratio(0.5, 20.0) == 40.0
    assert ratio(-2.0, 4.0) == 2.0  # magnitudes: an offset's sign is not better or worse
    assert ratio(2.0, 0.0) == 0.0  # bls worse than a perfect baseline
    assert ratio(0, 5) == math.inf  # bls perfect, baseline not
    assert ratio(0, 0) == 1.0  # both perfect
    assert ratio(None, 3.0) is None and ratio(3.0, None) is None


def _put(d: dict, path: str, value) -> None:
    keys = path.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value


def synthetic_part(bls_values: dict | None = None, device: bool = True, busy_loops: int = 0) -> dict:
    """One part of a run with a value for every row: bls meets every target, the elapsed-time baseline
    is 10 x worse, the fixed-step one 5 x; bls ran through a real output unless ``device`` is False."""
    bls, elapsed, fixed = {}, {}, {}
    for _, path, unit, lower, target in ROWS:
        v = 0.5 * target if target is not None else {"%": 0.02, "": 3}.get(unit, 2.0)
        _put(bls, path, v)
        _put(elapsed, path, v * 10 if v else 7)
        _put(fixed, path, v * 5 if v else 4)
    for d in (bls, elapsed, fixed):
        _put(d, "audio.device", device)
        _put(d, "audio.clock", "system (JACK Audio Connection Kit)" if device else "system clock (no sound)")
    for path, v in (bls_values or {}).items():
        _put(bls, path, v)
    return {"busy_loops": busy_loops, "designs": {"bls": bls, "elapsed": elapsed, "fixed-step": fixed}}


def drift_summary(bls_max: float = 0.2) -> dict:
    return {"duration_s": 1200.0, "ppm": 200.0, "jitter_ms": 0.5,
            "bls": {"max_abs_ms": bls_max, "final_ms": 0.01}, "naive": {"max_abs_ms": 240.0, "final_ms": -240.0}}


def row(text: str, label: str) -> tuple[str, str, str, str, str]:
    """(bls, elapsed-time, fixed-step, elapsed/bls, target) cells of a row: 34 wide, then 14 each."""
    (line,) = [ln for ln in text.splitlines() if ln[:34].rstrip() == label]
    return (line[35:49].strip(), line[50:64].strip(), line[65:79].strip(), line[80:94].strip(),
            line[96:].strip())


def test_the_table_has_every_row_with_the_three_designs():
    text = table(synthetic_part())
    lines = text.splitlines()
    assert lines[0] == "IDLE; through system (JACK Audio Connection Kit)"
    assert lines[1].split() == ["figure", "bls", "elapsed-time", "fixed-step", "elapsed/bls", "target"]
    assert len(lines) == 3 + len(ROWS)
    for label, path, unit, lower, target in ROWS:
        b, e, f, rs, tg = row(text, label)
        assert "n/a" not in (b, e, f), label
        # lower-is-better rows carry the elapsed-time baseline's ratio (10 x worse here; 0 underflows
        # against 7 is infinitely better), the others none
        assert rs == ("n/a" if lower is None else "inf" if target == 0 else "10.0x"), label
        assert tg.endswith("  ok") if target is not None else tg == "", label
    assert row(text, "peak RSS")[:3] == ("75.00 MB", "750 MB", "375 MB")
    assert row(text, "render time p99 (of block length)")[0] == "2.50 %"  # a fraction of the block period
    assert "MISSED" not in text and STAND_IN_AUDIO not in text and "drift" not in text


def test_a_missed_target_says_missed_where_it_was_measured():
    part = synthetic_part({"sync.av_offset_max_abs_ms": 1.7, "cost.rss_peak_mb": 151.0, "audio.underflows": 2,
                           "audio.callback_fraction.p99": 0.06})
    text = table(part)
    for label in ("A/V offset max |.|", "peak RSS", "underflows", "render time p99 (of block length)"):
        assert row(text, label)[4].endswith("  MISSED"), label
    assert row(text, "A/V offset p99 |.|")[4] == "<= 1.00 ms  ok"
    assert text.count("MISSED") == 4


@pytest.mark.parametrize("underflows, callback_p99", [(0, 0.01), (5, 0.5)])
def test_on_the_stand_in_clock_no_audio_row_has_a_verdict(underflows, callback_p99):
    # whatever the stand-in's own "audio" figures are, they were not measured through an output
    part = synthetic_part({"audio.underflows": underflows, "audio.callback_fraction.p99": callback_p99,
                           "sync.av_offset_max_abs_ms": 1.7}, device=False)
    text = table(part)
    assert text.splitlines()[0].startswith("STAND-IN CLOCK (no sound): IDLE")
    for label, path, _, _, target in ROWS:
        tg = row(text, label)[4]
        if path.startswith("audio.") and target is not None:
            assert tg == STAND_IN_AUDIO, label
    # the rest is still judged, and can fail
    assert row(text, "A/V offset max |.|")[4] == "<= 1.00 ms  MISSED"
    assert row(text, "peak RSS")[4].endswith("  ok")
    assert text.count("MISSED") == 1


def test_verdict_is_given_only_where_it_could_fail():
    assert verdict("audio.underflows", "", 3, True, 0, on_stand_in=False) == "<= 0  MISSED"
    assert verdict("audio.underflows", "", 0, True, 0, on_stand_in=False) == "<= 0  ok"
    assert verdict("audio.underflows", "", 3, True, 0, on_stand_in=True) == STAND_IN_AUDIO
    assert verdict("sync.av_offset_max_abs_ms", "ms", 3.0, True, 1.0, on_stand_in=True) == "<= 1.00 ms  MISSED"
    assert verdict("sync.av_offset_max_abs_ms", "ms", None, True, 1.0, on_stand_in=False) == "<= 1.00 ms  n/a"
    assert verdict("visual.interval_max_ms", "ms", 99.0, True, None, on_stand_in=False) == ""


@pytest.mark.parametrize("bls_max", [0.2, 5.0])
def test_the_simulated_drift_is_labelled_and_never_judged(bls_max):
    text = drift_table(drift_summary(bls_max))
    lines = text.splitlines()
    assert lines[0].startswith("SIMULATED (not measured): a 20 min session") and "200 ppm" in lines[0]
    assert "ok" not in text.split() and "MISSED" not in text
    rows = [ln for ln in lines if ln.startswith("drift: ")]
    assert len(rows) == len(DRIFT_ROWS) and all(ln.endswith("simulated: no verdict") for ln in rows)
    (worst,) = [ln for ln in rows if ln.startswith("drift: offset max over 20 min")]
    assert worst.split()[6:10] == [f"{bls_max:.3f}" if bls_max < 1 else f"{bls_max:.2f}", "ms", "240", "ms"]


def test_a_part_under_load_says_so():
    text = table(synthetic_part(busy_loops=2))
    assert text.splitlines()[0].startswith("UNDER LOAD: 2 busy loops")
    assert table(synthetic_part(busy_loops=2, device=False)).splitlines()[0].startswith(
        "STAND-IN CLOCK (no sound): UNDER LOAD: 2 busy loops")


def test_part_ratios_are_each_baseline_over_bls():
    part = synthetic_part()
    r = part_ratios(part["designs"])
    assert set(r) == {"elapsed", "fixed-step"}
    lower = {path for _, path, _, lower, _ in ROWS if lower}
    assert set(r["elapsed"]) == set(r["fixed-step"]) == lower
    assert r["elapsed"]["sync.av_offset_p99_abs_ms"] == pytest.approx(10.0)
    assert r["fixed-step"]["sync.av_offset_p99_abs_ms"] == pytest.approx(5.0)
    assert r["elapsed"]["audio.underflows"] == math.inf


def test_missing_figures_print_n_a():
    part = synthetic_part()
    d = part["designs"]
    d["bls"]["audio"]["latency_requested_s"] = None
    del d["elapsed"]["cost"]["startup_to_first_frame_s"]
    d["bls"]["visual"]["interval_p99_ms"] = float("nan")
    del d["fixed-step"]["sync"]  # a baseline without a tone
    text = table(part)
    assert row(text, "latency requested")[0] == "n/a"
    b, e, _, rs, tg = row(text, "start-up to first frame")
    assert e == "n/a" and rs == "n/a" and b == "0.250 s" and tg.endswith("ok")  # bls's figure is still judged
    assert row(text, "frame interval p99")[0] == "n/a"
    assert row(text, "A/V offset p99 |.|")[2] == "n/a"


def test_percent_figures_print_as_what_they_are():
    text = table(synthetic_part({"cost.cpu_percent_of_one_core": 1.2, "audio.callback_fraction.max": 2.0}))
    assert row(text, "CPU (of one core)")[0] == "1.20 %"
    assert row(text, "render time max (of block length)")[0] == "200.00 %"


def test_the_table_does_not_change_the_result():
    part = synthetic_part()
    before = copy.deepcopy(part)
    table(part)
    assert part == before


def test_the_json_report_is_strict_json_whatever_the_figures():
    from bls.bench.report import json_safe

    r = {"a": float("nan"), "b": -math.inf, "c": math.inf, "d": np.float32(1.5), "e": [np.int64(3), np.nan],
         "f": {"g": np.bool_(True), "h": "text"}, "i": np.array([1.0, np.inf])}
    text = json.dumps(json_safe(r), allow_nan=False)  # raises if anything non-standard survived
    assert json.loads(text) == {"a": None, "b": None, "c": None, "d": 1.5, "e": [3, None],
                                "f": {"g": True, "h": "text"}, "i": [1.0, None]}
