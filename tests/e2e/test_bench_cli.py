"""``bls bench`` from a subprocess. On the stand-in clock (the tests name an output that does not exist):
one short run (1 s per design, a simulated minute, one busy loop) whose JSON must hold every figure issue 5
lists for bls and both baselines, the baselines without a tone (no figure made up for one), and whose
printed table says it is the stand-in and judges none of its audio. Through a private JACK server (skipped
without jackd): every design plays through JACK, and the elapsed-time baseline's offset is the latency
the output reports. Figures are checked for presence and consistency, never against wall-clock targets."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bls.bench.report import ROWS, STAND_IN_AUDIO, drift_table, ratio, table

from .._jack import missing
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
    """One ``bls bench --seconds 1 --drift-minutes 1 --load 1 --json OUT`` run on the stand-in clock (the
    tests name an output that does not exist), shared by the tests below."""
    d = tmp_path_factory.mktemp("bench")
    out = d / "bench.json"
    env = base_env(QT_QPA_PLATFORM=f"offscreen:configfile={os.environ['BLS_SCREENS_FILE']}",
                   BLS_CONFIG_DIR=str(d / "config"))
    proc = run([*bls_command(), "bench", "--seconds", "1", "--drift-minutes", "1", "--load", "1", "--json", str(out)],
               env, timeout=240, cwd=d)
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    return proc, _strict(out.read_text())


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _designs(result):
    (part,) = result["parts"]
    return part["designs"]


@pytest.mark.parametrize("design", ["bls", "elapsed", "fixed-step"])
def test_every_figure_is_there_for_every_design(bench, design):
    _, result = bench
    r = _designs(result)[design]
    assert r["design"] == design
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
    # cost
    assert _number(c["cpu_percent_of_one_core"]) and c["cpu_percent_of_one_core"] >= 0
    assert _number(c["rss_peak_mb"]) and c["rss_peak_mb"] > 10  # a Qt process, in MB (not kB, not bytes)
    assert _number(c["startup_to_first_frame_s"]) and c["startup_to_first_frame_s"] > 0
    # nothing is requested from a device that is not there (the tests name a missing one)
    assert a["device"] is False and a["latency_requested_s"] is None
    assert "picture minus sound" in s["note"]
    if design != "bls":
        # no output, so no tone: no sound figures at all, and no latency made up for one
        assert a["clock"].startswith("no output (the free-running tone cannot open the audio output")
        assert a["latency_actual_s"] is None and a["underflows"] is None and a["blocks"] == 0
        assert all(s[k] is None for k in ("av_offset_max_abs_ms", "av_offset_p99_abs_ms", "av_offset_mean_ms"))
        assert s["heard"].startswith("no tone: ")
        assert v["position_error_px"]["n"] == 0 and v["position_error_px"]["p99"] is None
        return
    pe = v["position_error_px"]
    assert pe["n"] > 0 and all(_number(pe[k]) for k in ("p50", "p99", "max"))
    assert 0 <= pe["p50"] <= pe["p99"] <= pe["max"]
    # audio: bls's stand-in clock
    assert a["clock"] == "system clock (no sound)"
    cf = a["callback_fraction"]
    assert cf["n"] > 0 and 0 < cf["p50"] <= cf["p99"] <= cf["max"]
    assert isinstance(a["underflows"], int) and a["underflows"] >= 0
    assert _number(a["latency_actual_s"]) and a["latency_actual_s"] > 0
    assert a["block_sizes"] and all(isinstance(b, int) and b > 0 for b in a["block_sizes"])
    assert a["block_sizes"] == sorted(set(a["block_sizes"]))
    assert a["block_size_min"] == a["block_sizes"][0] and a["block_size_max"] >= a["block_sizes"][-1]
    # sync
    assert _number(s["av_offset_max_abs_ms"]) and s["av_offset_max_abs_ms"] >= s["av_offset_p99_abs_ms"] >= 0
    assert s["av_offset_sign_at_max"] in (-1.0, 0.0, 1.0)
    assert abs(s["av_offset_mean_ms"]) <= s["av_offset_max_abs_ms"] + 1e-9


def test_every_design_ran_on_the_same_display_with_the_busy_loop_recorded(bench):
    _, result = bench
    ds = _designs(result)
    assert {r["platform"] for r in ds.values()} == {result["machine"]["qt_platform"]} == {"offscreen"}
    assert ds["bls"]["screen"] == ds["elapsed"]["screen"] == ds["fixed-step"]["screen"]
    assert (ds["bls"]["screen"]["width"], ds["bls"]["screen"]["height"]) in ((1280, 720), (1920, 1080))
    assert result["seconds"] == 1.0
    assert result["busy_loops"] == [1] and result["parts"][0]["busy_loops"] == 1
    assert result["parts"][0]["label"] == "under load (1 busy loop)" and result["parts"][0]["stand_in"] is True
    assert result["output"] == {"kind": "given", "device": "bls-test-no-such-device"}


def test_the_drift_summary_and_series(bench):
    _, result = bench
    d = result["drift"]
    assert d["ppm"] == 200.0 and 55.0 <= d["duration_s"] <= 60.0
    assert d["kind"].startswith("simulated")
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


def test_every_ratio_is_each_baseline_over_bls(bench):
    _, result = bench
    (part,) = result["parts"]
    ratios, ds = part["ratios"], part["designs"]

    def get(d, path):
        for k in path.split("."):
            d = d[k] if isinstance(d, dict) else None
        return d

    expected = {path for _, path, _, lower, _ in ROWS if lower}
    assert set(ratios) == {"elapsed", "fixed-step"}
    for base in ratios:
        assert set(ratios[base]) == expected
        for path in expected:
            want = ratio(get(ds["bls"], path), get(ds[base], path))
            if want is None or math.isinf(want):
                assert ratios[base][path] is None, path  # no figure, or bls at zero: JSON has no infinity
            else:
                assert ratios[base][path] == pytest.approx(want), path
    assert ratios["elapsed"]["sync.av_offset_p99_abs_ms"] is None  # no tone: nothing to compare


def test_the_printed_tables_say_stand_in_and_judge_nothing_they_did_not_measure(bench):
    proc, result = bench
    out = proc.stdout
    lines = out.splitlines()
    assert lines[0].startswith("display: bls ") and "elapsed-time baseline naive: elapsed" in lines[0]
    assert any(ln.startswith("bls bench: NOT THROUGH A REAL OUTPUT") for ln in lines)
    (part,) = result["parts"]
    text = table(part)
    assert text in out and drift_table(result["drift"]) in out  # the JSON holds what was shown
    head = text.splitlines()
    assert head[0].startswith("STAND-IN CLOCK (no sound): UNDER LOAD: 1 busy loop")
    assert head[1].split() == ["figure", "bls", "elapsed-time", "fixed-step", "elapsed/bls", "target"]
    for label, path, _, _, target in ROWS:
        (line,) = [ln for ln in head if ln[:34].rstrip() == label]
        if path.startswith("audio.") and target is not None:
            assert line.endswith(STAND_IN_AUDIO), line
    drift_lines = [ln for ln in out.splitlines() if ln.startswith("drift: ")]
    assert len(drift_lines) == 2 and all(ln.endswith("simulated: no verdict") for ln in drift_lines)


@pytest.mark.parametrize("args, says", [
    (["--soak", "--seconds", "nan"], "not a finite number"),
    (["--soak", "--seconds", "-1"], "give more than 0"),
    (["--soak", "--seconds", "inf"], "not a finite number"),
    (["--seconds", "nan"], "not a finite number"),
    (["--drift-minutes", "nan"], "not a finite number"),
    (["--drift-ppm", "inf"], "not a finite number"),
    (["--load", "-1"], "give 0 to 64 busy processes"),
    (["--jack-period", "3"], "give 16 to 8192 frames"),
    (["--soak", "--under-load"], "not with --soak"),
])
def test_bad_numbers_are_refused_before_anything_runs(args, says):
    proc = run([*bls_command(), "bench", *args], base_env(), timeout=30)
    no_traceback(proc)
    assert proc.returncode == 2 and proc.stdout == ""
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("bls bench: error: argument --") and says in last, proc.stderr
    assert "measuring" not in proc.stderr and "soak," not in proc.stderr  # nothing was started
    assert "JACK" not in proc.stderr


# ------------------------------------------------------------------ through a private JACK server


def _jackd_named(name: str) -> list[int]:
    """Pids of the jackd processes serving ``name`` (this user's)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"jackd" and name.encode() in argv:
            pids.append(int(entry))
    return pids


def _jack_env(tmp: Path) -> dict:
    """A child environment with no output named: ``bls bench`` then starts a JACK server of its own."""
    env = base_env(QT_QPA_PLATFORM=f"offscreen:configfile={os.environ['BLS_SCREENS_FILE']}",
                   BLS_CONFIG_DIR=str(tmp / "config"))
    env.pop("BLS_AUDIO_DEVICE", None)
    env.pop("JACK_DEFAULT_SERVER", None)  # whatever server CI runs, the benchmark uses its own
    return env


@pytest.fixture(scope="module")
def jack_bench(tmp_path_factory):
    """``bls bench --seconds 3 --drift-minutes 1 --json OUT`` with no output given: through its own JACK."""
    why = missing()
    if why:
        pytest.skip(why)
    d = tmp_path_factory.mktemp("jack-bench")
    out = d / "bench.json"
    proc = run([*bls_command(), "bench", "--seconds", "3", "--drift-minutes", "1", "--json", str(out)],
               _jack_env(d), timeout=300, cwd=d)
    m = re.search(r"private JACK server (bls-bench-\d+)", proc.stderr)
    left = _jackd_named(m.group(1)) if m else []
    for pid in left:  # a server the benchmark failed to stop is stopped here (SIGTERM), and reported below
        os.kill(pid, signal.SIGTERM)
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    return proc, _strict(out.read_text()), left


def test_without_a_device_every_design_plays_through_a_private_jack_server(jack_bench):
    proc, result, left = jack_bench
    out = result["output"]
    assert out["kind"] == "jack" and out["device"] == "system" and out["server"].startswith("bls-bench-")
    assert f"-n {out['server']}" in out["jackd"] and "-d dummy" in out["jackd"] and "-p 1024" in out["jackd"]
    # the server was stopped at the end (SIGTERM: its registry slot is free again)
    assert f"stopped the JACK server {out['server']}" in proc.stderr
    assert left == []
    (part,) = result["parts"]
    assert part["busy_loops"] == 0 and part["stand_in"] is False and result["busy_loops"] == [0]
    for design, r in part["designs"].items():
        a = r["audio"]
        assert a["device"] is True and "JACK" in a["clock"], design
        if design != "bls":  # the free-running tone renders in its callback: one JACK period a block
            assert a["block_size_min"] == a["block_size_max"] == 1024, design
        assert isinstance(a["underflows"], int) and a["callback_fraction"]["n"] > 0, design
        assert r["visual"]["position_error_px"]["n"] > 0 and _number(r["sync"]["av_offset_mean_ms"]), design
    table_text = table(part)
    assert table_text in proc.stdout and table_text.startswith("IDLE; through system (JACK")
    assert "STAND-IN" not in proc.stdout and "NOT THROUGH A REAL OUTPUT" not in proc.stdout


@pytest.mark.parametrize("design", ["elapsed", "fixed-step"])
def test_a_baselines_tone_is_heard_when_the_output_says(jack_bench, design):
    _, result, _ = jack_bench
    r = result["parts"][0]["designs"][design]
    a, s = r["audio"], r["sync"]
    lead_ms = a["dac_lead_s"] * 1000.0  # how long after its callback JACK says a block is heard
    assert a["dac_times_used"] == a["blocks"] > 0  # JACK gave every block its DAC time
    assert "free-running tone" in s["heard"]
    if design == "elapsed":
        # the picture counts from the tone's start, the sound is heard a latency later: the picture is ahead
        # by the output's latency, less the moments between its first callback and the picture's start
        # (PortAudio's start returns once the first callback ran), well within half a period; each underflow
        # (a busy machine) puts the tone a period later for good, so the picture further ahead
        period_ms = a["block_size_max"] / 48.0
        late_ms = a["underflows"] * period_ms
        assert s["av_offset_mean_ms"] > 0
        assert lead_ms - period_ms / 2 <= s["av_offset_mean_ms"] <= lead_ms + period_ms / 2 + late_ms, (s, lead_ms, a)
        # steady otherwise: nothing drifts within three seconds (one clock, read twice)
        assert s["av_offset_max_abs_ms"] - s["av_offset_mean_ms"] <= period_ms / 2 + late_ms
    bls = result["parts"][0]["designs"]["bls"]["sync"]
    assert abs(bls["av_offset_mean_ms"]) < abs(s["av_offset_mean_ms"])


def test_a_soak_runs_through_its_own_jack_server_under_load(tmp_path):
    why = missing()
    if why:
        pytest.skip(why)
    out = tmp_path / "soak.json"
    proc = run([*bls_command(), "bench", "--soak", "--seconds", "2", "--load", "1", "--json", str(out)],
               _jack_env(tmp_path), timeout=200, cwd=tmp_path)
    m = re.search(r"private JACK server (bls-bench-\d+)", proc.stderr)
    left = _jackd_named(m.group(1)) if m else []
    for pid in left:
        os.kill(pid, signal.SIGTERM)
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    doc = _strict(out.read_text())
    assert doc["busy_loops"] == 1 and doc["output"]["kind"] == "jack" and left == []
    a = doc["soak"]["audio"]
    assert a["device"] is True and "JACK" in a["clock"] and a["blocks"] > 0
    # a two-second run keeps its first frames (no warm-up left out): painted before JACK's first block, they
    # have no heard frame and are not counted (an unlocked anchor map would put them hours off)
    assert doc["soak"]["sync"]["av_offset_max_abs_ms"] < doc["soak"]["visual"]["frames"] * 1000.0 / 60.0
    assert f"audio: {a['clock']}; {a['blocks']} blocks of " in proc.stdout
    assert "stand-in" not in proc.stdout and "1 busy loop ..." in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_stops_the_busy_loops_and_the_jack_server(tmp_path, sig):
    why = missing()
    if why:
        pytest.skip(why)
    proc = subprocess.Popen([*bls_command(), "bench", "--seconds", "60", "--load", "1", "--drift-minutes", "1"],
                            env=_jack_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    server, left, hogs = None, [], []
    try:
        for line in proc.stderr:
            m = re.search(r"private JACK server (bls-bench-\d+)", line)
            server = server or (m and m.group(1))
            if "measuring bls" in line:
                break
        assert server and _jackd_named(server), "the benchmark did not start its JACK server"
        hogs = _wait_for(lambda: _children_running(proc.pid, b"while True: pass"), 30, "the busy loop")
        assert len(hogs) == 1
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:  # whatever failed, nothing is left running: the bench stops its server on SIGTERM
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        left = _jackd_named(server) if server else []
        for pid in left:
            os.kill(pid, signal.SIGTERM)  # never SIGKILL a JACK server: it would keep its registry slot
        hogs_left = [pid for pid in hogs if _running(pid, b"while True: pass")]
        for pid in hogs_left:
            os.kill(pid, signal.SIGTERM)
    assert proc.returncode == 128 + sig
    assert f"stopped the JACK server {server}" in err and "Traceback" not in err
    assert left == []
    assert hogs_left == []


def _running(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return needle in fh.read()
    except OSError:
        return False


def _children_running(ppid: int, needle: bytes) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read()
        except (OSError, ValueError, IndexError):
            continue
        if parent == ppid and needle in cmd:
            found.append(int(entry))
    return found


def _wait_for(condition, timeout_s: float, what: str):
    """Poll ``condition`` until it is true (returned) or ``timeout_s`` passed (a failure)."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = condition()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout_s:g} s")
        time.sleep(0.05)
