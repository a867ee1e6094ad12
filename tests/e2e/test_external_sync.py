"""The outside instrument end to end: ``scripts/external-sync`` starts Xorg (dummy driver, two monitors)
and a JACK dummy server of its own, runs bls on them as the user runs it (raster client display),
records the client screen's strip and bls's JACK ports with one ffmpeg process, and analyses it.

The test checks that the recording shows the target and the tone, moving together, in bls's geometry
(the standard look sweeps 85 % of the 1920-px screen: 816 px from the centre to an end), and that an
offset came out; the offset's size is the benchmark's business (docs/benchmarks.md), not this test's.

Needs ffmpeg (x11grab and jack inputs), jackd2 and Xorg's dummy driver with openbox; skips when missing.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from bls.bench import recorder, xdesk

from .conftest import REPO, base_env

pytestmark = pytest.mark.e2e

SECONDS = 8.0
GRAB_HZ = 229  # what the script asks of x11grab


def test_external_sync_records_bls_and_finds_the_target_and_the_tone(tmp_path, private_config_dir):
    why = recorder.missing_tools() or xdesk.missing() or recorder.ffmpeg_has_inputs()
    if why:
        pytest.skip(why)
    out = tmp_path / "ext.json"
    proc = subprocess.run([str(REPO / "scripts" / "external-sync"), "--designs", "bls-raster", "--seconds",
                           str(SECONDS), "--settle", "3", "--json", str(out), "--keep", str(tmp_path / "work")],
                          env=base_env(BLS_PY=sys.executable), cwd=REPO, capture_output=True, text=True, timeout=240)
    if proc.returncode == 2 and "did not start" in proc.stderr:
        pytest.skip(proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr
    (res,) = json.loads(out.read_text())["results"]
    a = res["analysis"]
    assert res["design"] == "bls-raster" and res["display_kind"] == "raster (precise timer)", res
    assert res["alive_through_recording"], res["log_tail"]
    # the strip was grabbed all along, and nearly every grab shows one whole target
    assert a["grabs"] >= 0.8 * SECONDS * GRAB_HZ, a
    assert a["grabs_valid"] >= 0.95 * a["grabs"], a
    # the tone was heard, and the picture moved with it: a new frame many times a second
    assert a["sound_windows"] >= 0.8 * SECONDS * 1000, a  # 1 ms envelope windows with sound
    assert a["onsets"] >= 20 * SECONDS, a
    assert a["correlation"] > 0.99, a
    # where bls draws the target: 85 % of 1920 px swept about the screen's centre
    assert a["half_width_px"] == pytest.approx(0.85 * 1920 / 2, abs=8), a
    assert a["centre_px"] == pytest.approx(1920 / 2, abs=8), a
    for key in ("offset_ms", "window_mean_ms", "onset_sd_ms", "drift_ms_per_10min"):
        assert a[key] is not None and math.isfinite(a[key]), (key, a)
    assert a["windows"] >= 2, a
    assert "A/V offset measured from outside" in proc.stdout, proc.stdout
