"""``bls bench`` from a subprocess: one short run (1 s per design, a simulated minute) whose JSON must hold
every figure issue 5 lists, for bls and for the naive baseline, with the ratios, and whose printed table
shows both columns. Figures are checked for presence and consistency, never against wall-clock targets."""

from __future__ import annotations

import json
import math
import os

import pytest

from bls.bench.report import ROWS, ratio, table

from .conftest import base_env, bls_command, no_traceback, run

pytestmark = pytest.mark.e2e

SECTIONS = {
    "visual": ["refresh_nominal_hz", "refresh_measured_hz", "interval_mean_ms", "interval_sd_ms", "interval_p50_ms",
               "interval_p99_ms", "interval_max_ms", "dropped_frames", "position_error_px"],
    "audio": ["callback_fraction", "underflows", "latency_requested_s", "latency_actual_s", "block_sizes",
              "block_size_min", "block_size_max"],
    "sync": ["av_offset_max_abs_ms", "av_offset_sign_at_max"],
    "cost": ["cpu_percent_of_one_core", "rss_peak_mb", "startup_to_first_frame_s"],
}


def _strict(text: str):
    """JSON as the standard has it: NaN and Infinity are not numbers a reader can rely on."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """One ``bls bench --seconds 1 --drift-minutes 1 --json OUT`` run, shared by every test here."""
    d = tmp_path_factory.mktemp("bench")
    out = d / "bench.json"
    env = base_env(QT_QPA_PLATFORM=f"offscreen:configfile={os.environ['BLS_SCREENS_FILE']}",
                   BLS_CONFIG_DIR=str(d / "config"))
    proc = run([*bls_command(), "bench", "--seconds", "1", "--drift-minutes", "1", "--json", str(out)], env,
               timeout=240, cwd=d)
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    return proc, _strict(out.read_text())


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@pytest.mark.parametrize("design", ["bls", "baseline"])
def test_every_figure_is_there_for_both_designs(bench, design):
    _, result = bench
    r = result[design]
    assert r["design"] == {"bls": "bls", "baseline": "naive"}[design]
    for section, keys in SECTIONS.items():
        missing = [k for k in keys if k not in r[section]]
        assert not missing, f"{design}.{section} lacks {missing}"
    v, a, s, c = r["visual"], r["audio"], r["sync"], r["cost"]
    # visual
    assert v["refresh_nominal_hz"] == 60.0  # what the offscreen screens report
    for k in ("refresh_measured_hz", "interval_mean_ms", "interval_sd_ms", "interval_p50_ms", "interval_p99_ms",
              "interval_max_ms"):
        assert _number(v[k]) and v[k] >= 0, k
    assert v["interval_p50_ms"] <= v["interval_p99_ms"] <= v["interval_max_ms"]
    assert v["refresh_measured_hz"] == pytest.approx(1000.0 / v["interval_mean_ms"])
    assert isinstance(v["dropped_frames"], int) and 0 <= v["dropped_frames"] <= v["frames"]
    pe = v["position_error_px"]
    assert pe["n"] > 0 and all(_number(pe[k]) for k in ("p50", "p99", "max"))
    assert 0 <= pe["p50"] <= pe["p99"] <= pe["max"]
    # audio
    cf = a["callback_fraction"]
    assert cf["n"] > 0 and 0 < cf["p50"] <= cf["p99"] <= cf["max"]
    assert isinstance(a["underflows"], int) and a["underflows"] >= 0
    assert _number(a["latency_actual_s"]) and a["latency_actual_s"] > 0
    # nothing is requested from a device that is not there (the tests name a missing one)
    assert a["device"] is False and a["latency_requested_s"] is None
    assert a["block_sizes"] and all(isinstance(b, int) and b > 0 for b in a["block_sizes"])
    assert a["block_sizes"] == sorted(set(a["block_sizes"]))
    assert a["block_size_min"] == a["block_sizes"][0] and a["block_size_max"] >= a["block_sizes"][-1]
    # sync
    assert _number(s["av_offset_max_abs_ms"]) and s["av_offset_max_abs_ms"] >= s["av_offset_p99_abs_ms"] >= 0
    assert s["av_offset_sign_at_max"] in (-1.0, 0.0, 1.0)
    assert abs(s["av_offset_mean_ms"]) <= s["av_offset_max_abs_ms"] + 1e-9
    assert "picture minus sound" in s["note"]
    # cost
    assert _number(c["cpu_percent_of_one_core"]) and c["cpu_percent_of_one_core"] >= 0
    assert _number(c["rss_peak_mb"]) and c["rss_peak_mb"] > 10  # a Qt process, in MB (not kB, not bytes)
    assert _number(c["startup_to_first_frame_s"]) and c["startup_to_first_frame_s"] > 0


def test_both_designs_ran_on_the_same_display(bench):
    _, result = bench
    b, n = result["bls"], result["baseline"]
    assert b["platform"] == n["platform"] == result["machine"]["qt_platform"] == "offscreen"
    assert b["screen"] == n["screen"]
    assert (b["screen"]["width"], b["screen"]["height"]) in ((1280, 720), (1920, 1080))  # a configured screen
    assert result["seconds"] == 1.0


def test_the_drift_summary_and_series(bench):
    _, result = bench
    d = result["drift"]
    assert d["ppm"] == 200.0 and 55.0 <= d["duration_s"] <= 60.0
    series = d["series"]
    t = series["t_s"]
    assert len(t) == len(series["bls_offset_ms"]) == len(series["naive_offset_ms"]) >= 50
    assert all(b > a for a, b in zip(t, t[1:])) and t[-1] == d["duration_s"]
    for design, key in (("bls", "bls_offset_ms"), ("naive", "naive_offset_ms")):
        s = d[design]
        assert set(s) >= {"max_abs_ms", "signed_at_max_ms", "final_ms", "mean_ms"}
        assert s["max_abs_ms"] == pytest.approx(max(abs(x) for x in series[key]))  # a minute: every point kept
        assert s["final_ms"] == series[key][-1]
    # the naive picture falls behind a 200 ppm fast sound card by 0.2 ms per second
    assert d["naive"]["final_ms"] == pytest.approx(-0.2 * t[-1], abs=0.05)


def test_every_ratio_is_the_baseline_over_bls(bench):
    _, result = bench
    ratios = result["ratios"]

    def get(d, path):
        for k in path.split("."):
            d = d[k]
        return d

    expected = {path for _, path, _, lower, _ in ROWS if lower and not path.startswith("drift.")}
    assert set(ratios) == expected | {"drift.max_abs_ms"}
    for path in expected:
        want = ratio(get(result["bls"], path), get(result["baseline"], path))
        if want is None or math.isinf(want):
            assert ratios[path] is None, path  # no figure, or bls at zero: JSON has no infinity
        else:
            assert ratios[path] == pytest.approx(want), path
    assert ratios["drift.max_abs_ms"] == pytest.approx(
        result["drift"]["naive"]["max_abs_ms"] / result["drift"]["bls"]["max_abs_ms"])


def test_the_printed_table_has_both_columns_and_every_row(bench):
    proc, result = bench
    out = proc.stdout
    lines = out.splitlines()
    assert lines[0].startswith("display: bls ") and "baseline naive" in lines[0]
    assert lines[1].split() == ["figure", "bls", "baseline", "baseline/bls", "target"]
    minutes = f"{result['drift']['duration_s'] / 60:.0f} min"
    for label, *_ in ROWS:
        label = label.format(minutes=minutes)
        (line,) = [ln for ln in lines if ln[:34].rstrip() == label]
        assert line[35:49].strip() and line[50:64].strip(), line  # a bls and a baseline cell
    # the table printed is the table of the figures written: the JSON holds what was shown
    assert table(result) in out


@pytest.mark.parametrize("args, says", [
    (["--soak", "--seconds", "nan"], "not a finite number"),
    (["--soak", "--seconds", "-1"], "give more than 0"),
    (["--soak", "--seconds", "inf"], "not a finite number"),
    (["--seconds", "nan"], "not a finite number"),
    (["--drift-minutes", "nan"], "not a finite number"),
    (["--drift-ppm", "inf"], "not a finite number"),
])
def test_bad_numbers_are_refused_before_anything_runs(args, says):
    proc = run([*bls_command(), "bench", *args], base_env(), timeout=30)
    no_traceback(proc)
    assert proc.returncode == 2 and proc.stdout == ""
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("bls bench: error: argument --") and says in last, proc.stderr
    assert "measuring" not in proc.stderr and "soak," not in proc.stderr  # nothing was started
