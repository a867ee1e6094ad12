"""The app, started from the command line with ``--exit-after``: windows on named offscreen screens,
a set run to the quit or to its end, the session log; and the app on the ALSA tap, played bit for bit.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bls.core.engine import SAMPLE_RATE, StimulusEngine
from bls.core.preset import Motion, Preset, Timing, dump_preset
from bls.core.render import render

from ._signal import av_offset, first_sound
from .conftest import bls_command, no_traceback, run

pytestmark = pytest.mark.e2e

TIMEOUT_S = 60  # generous: Qt start-up on a loaded CI machine; never a measurement
SHORT = Preset(name="e2e-short", description="4 passes at 2 cycles/s, short fades (e2e tests)",
               motion=Motion(speed_cycles_per_s=2.0, set_passes=4),
               timing=Timing(fade_in_s=0.1, fade_out_s=0.1))
NO_DEVICE = "e2e-no-such-device"


def _app(env, *args: str, exit_after: float):
    proc = run([*bls_command(), *args, "--exit-after", str(exit_after)], env, timeout=exit_after + TIMEOUT_S)
    no_traceback(proc)
    return proc


def _log(path) -> dict:
    assert path.exists(), "no session log written"
    return json.loads(path.read_text(encoding="utf-8"))


def _install_short_preset(config_dir) -> None:
    d = config_dir / "presets"
    d.mkdir(parents=True, exist_ok=True)
    (d / "e2e-short.yaml").write_text(dump_preset(SHORT), encoding="utf-8")


def _expected_short_set():
    """The set 'e2e-short' delivers, counted in stream time by the offline engine."""
    _, _, engine = render(SHORT, 6.0)
    (result,) = engine.finished
    assert result.stop_reason == "complete" and result.delivered_passes == 4
    return result


def test_app_quit_mid_set_logs_one_set(screens_env, tmp_path):
    log = tmp_path / "L.json"
    proc = _app(screens_env, "--preset", "standard", "--client-screen", "CLIENT", "--start",
                "--log", str(log), exit_after=3)
    assert proc.returncode == 0, proc.stderr
    doc = _log(log)
    assert doc["app"] == "bls" and doc["sample_rate_hz"] == 48_000
    (rec,) = doc["sets"]
    assert rec["preset"] == "standard"
    assert rec["set_mode"] == "passes" and rec["passes_requested"] == 24
    assert 0 < rec["passes_delivered"] < 24  # cut short by the quit (3 s of a ~13 s set)
    assert 0 < rec["seconds_delivered"] < 12.75
    assert rec["stop_reason"] == "quit"
    assert rec["client_screen"] == "CLIENT"
    assert isinstance(rec["refresh_hz"], (int, float)) and rec["refresh_hz"] > 0
    assert isinstance(rec["dropped_frames"], int) and rec["dropped_frames"] >= 0
    assert "audio_device" in rec and rec["audio_device"] == doc["audio_device"]
    # no output: tests/conftest.py names a missing one in $BLS_AUDIO_DEVICE (whatever this machine has)
    assert doc["audio_status"].startswith("No sound") and "bls-test-no-such-device" in doc["audio_detail"], doc
    assert rec["audio_device"] is None
    assert "bls: audio" in proc.stderr  # the reason is told on the command line too
    assert rec["end_frame"] > rec["start_frame"] >= 0


def test_app_short_user_preset_set_completes_on_its_own(screens_env, tmp_path, private_config_dir):
    _install_short_preset(private_config_dir)
    expected = _expected_short_set()
    log = tmp_path / "L.json"
    proc = _app(screens_env, "--preset", "e2e-short", "--client-screen", "CLIENT", "--start", "--log", str(log),
                "--audio-device", NO_DEVICE, exit_after=6)
    assert proc.returncode == 0, proc.stderr
    doc = _log(log)
    (rec,) = doc["sets"]
    assert rec["preset"] == "e2e-short"
    assert rec["stop_reason"] == "complete"
    assert rec["passes_requested"] == 4 and rec["passes_delivered"] == 4
    # counted in stream time (the stand-in clock's frames), so exact to the frame
    assert rec["seconds_delivered"] == pytest.approx(expected.delivered_seconds, abs=1 / SAMPLE_RATE)
    assert rec["end_frame"] - rec["start_frame"] == expected.end_frame - expected.start_frame
    assert rec["client_screen"] == "CLIENT"
    assert rec["audio_device"] is None and doc["audio_device"] is None
    assert NO_DEVICE in doc["audio_detail"]  # why there is no sound, in the log


def test_app_plays_the_set_on_the_device_bit_for_bit(screens_env, alsa_tap, tmp_path, private_config_dir):
    """The whole app on a real PortAudio stream (the tap): the log and the recorded audio."""
    tap_env, tap = alsa_tap
    env = dict(screens_env, ALSA_CONFIG_PATH=tap_env["ALSA_CONFIG_PATH"], BLS_AUDIO_TAP=str(tap),
               BLS_AUDIO_PATH=tap_env["BLS_AUDIO_PATH"])  # the null tap runs faster than real time
    _install_short_preset(private_config_dir)
    expected = _expected_short_set()
    log = tmp_path / "L.json"
    # the null device behind the tap runs far faster than real time: the set completes well within 2 s
    proc = _app(env, "--preset", "e2e-short", "--client-screen", "CLIENT", "--start", "--log", str(log),
                "--audio-device", "tap", exit_after=2)
    assert proc.returncode == 0, proc.stderr
    doc = _log(log)
    assert doc["audio_device"] == "tap (ALSA)", doc["audio_detail"]
    (rec,) = doc["sets"]
    assert rec["audio_device"] == "tap (ALSA)"
    assert rec["stop_reason"] == "complete" and rec["passes_delivered"] == 4
    assert rec["seconds_delivered"] == pytest.approx(expected.delivered_seconds, abs=1 / SAMPLE_RATE)
    start, end = rec["start_frame"], rec["end_frame"]
    assert end - start == expected.end_frame - expected.start_frame

    # what the engine renders offline for a set started at the same stream frame
    frames = end + SAMPLE_RATE // 2
    eng = StimulusEngine(SHORT)
    ref = np.zeros((frames, 2), dtype=np.float32)
    f = 0
    while f < frames:
        if f == start:
            eng.start()
        n = min(960, frames - f, start - f if f < start else frames)
        eng.process(n, ref[f:f + n])
        f += n

    # the device may run well ahead of the app before the set starts (a loaded machine): the whole
    # recording is looked at, not a guess at its first seconds
    whole = np.memmap(tap, dtype="<f4", mode="r")
    whole = whole[:len(whole) // 2 * 2].reshape(-1, 2)
    chunk = 1 << 20
    onset = next((i + first_sound(whole[i:i + chunk]) for i in range(0, len(whole), chunk)
                  if whole[i:i + chunk].any()), None)
    assert onset is not None, "the recording is silent"
    raw = np.array(whole[:onset + frames + 2 * SAMPLE_RATE])  # the set's first frame is silent, its second is not
    prefill = onset - 1 - start
    assert prefill >= 0 and len(raw) >= prefill + frames
    rec_audio = raw[prefill:prefill + frames]
    print(f"\n[app on tap] set at stream frame {start}, prefill {prefill} frames, "
          f"bit-exact: {bool(np.array_equal(rec_audio, ref))}")
    assert not raw[:onset - 1].any()
    np.testing.assert_allclose(rec_audio, ref, rtol=0, atol=2.0 ** -23)

    _, trace, _ = render(SHORT, (end - start) / SAMPLE_RATE)
    av = av_offset(raw[:prefill + frames], trace[:, 0], trace[:, 3], origin=onset - 1)
    print(f"[app on tap] A/V offset {av.offset_ms:+.4f} ms (window {av.window_ms:.1f} ms, {av.n_frames} "
          f"display frames), correlation {av.peak_correlation:.6f}, max balance error {av.max_abs_error:.4f}")
    assert abs(av.offset_ms) <= av.window_ms and av.peak_correlation > 0.999


def test_app_unknown_preset_exits_2_with_a_message(screens_env):
    proc = _app(screens_env, "--preset", "nosuch", exit_after=5)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("bls")]
    assert len(lines) == 1, proc.stderr
    assert "nosuch" in lines[0] and "standard" in lines[0], lines[0]


def test_app_unknown_client_screen_says_so_and_uses_the_second_screen(desk_screens_env, tmp_path):
    log = tmp_path / "L.json"
    proc = _app(desk_screens_env, "--preset", "standard", "--client-screen", "NOSUCH", "--start",
                "--log", str(log), "--audio-device", NO_DEVICE, exit_after=1)
    assert proc.returncode == 0, proc.stderr
    msg = [ln for ln in proc.stderr.splitlines() if "NOSUCH" in ln]
    assert len(msg) == 1 and "CLIENT" in msg[0], proc.stderr  # names the screens there are
    (rec,) = _log(log)["sets"]
    assert rec["client_screen"] == "CLIENT"  # the screen that is not the therapist's
    assert rec["stop_reason"] == "quit"


@pytest.mark.parametrize("kind", ["symlink", "device", "folder"])
def test_app_log_that_would_replace_what_is_not_ours_is_refused_at_start(screens_env, tmp_path, kind):
    import os
    import stat

    target = tmp_path / "log.json"
    victim = tmp_path / "victim.txt"
    victim.write_text("not bls's")
    if kind == "symlink":
        target.symlink_to(victim)
    elif kind == "device":
        os.mknod(target, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # a /dev/null of our own
    else:
        target.mkdir()
    proc = _app(screens_env, "--preset", "standard", "--log", str(target), exit_after=5)
    assert proc.returncode == 2, proc.stderr
    assert "cannot write --log" in proc.stderr and "Traceback" not in proc.stderr
    assert victim.read_text() == "not bls's"
    assert target.is_symlink() or not target.is_file()  # left exactly as it was


def test_app_whose_record_cannot_be_written_exits_non_zero(screens_env, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    env = dict(screens_env, BLS_DATA_DIR=str(blocked / "data"))  # a folder inside a file cannot exist
    proc = _app(env, "--preset", "standard", exit_after=1)
    assert proc.returncode == 1, proc.stderr
    assert "the session record could not be written" in proc.stderr


@pytest.mark.parametrize("state", ["a file", "a symlink loop", "cannot be created", "ui.ini oddities"])
def test_app_starts_whatever_state_the_config_folder_is_in(screens_env, tmp_path, state):
    cfg = tmp_path / "cfg"
    if state == "a file":
        cfg.write_text("not a folder")
    elif state == "a symlink loop":
        cfg.symlink_to(tmp_path / "cfg2")
        (tmp_path / "cfg2").symlink_to(cfg)
    elif state == "cannot be created":
        (tmp_path / "file").write_text("x")
        cfg = tmp_path / "file" / "cfg"
    else:
        cfg.mkdir()
        (cfg / "ui.ini").write_text("[General]\nlast_preset=a, b\nclient_badge=maybe\n\x00\xff garbage\n",
                                    encoding="latin-1")
    env = dict(screens_env, BLS_CONFIG_DIR=str(cfg))
    log = tmp_path / "L.json"
    proc = _app(env, "--preset", "standard", "--start", "--log", str(log), exit_after=2)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(log.read_text())["sets"][0]["preset"] == "standard"  # it ran a set
    if state != "ui.ini oddities":
        assert "cannot use its settings folder" in proc.stderr
