"""Signals end a session gracefully: the real app, real signals, the audio it really played.

The app plays through the ALSA file tap (what the PortAudio stream played, bit for bit) on top of
ALSA's ``jack`` PCM and a JACK server with the dummy driver, so the stream runs at real-time pace (the
tap's usual ``null`` slave runs hundreds of times faster than real time: a set would be over before any
signal could reach it "mid-set"). A set of ``standard`` runs ~1.5 s, then the test sends SIGTERM, SIGHUP
or SIGINT (or two SIGTERMs 50 ms apart) and checks the exit status (128 + the signal's number), that
nothing was printed as a traceback, the record (the set, ``stop_reason: quit``, a ``signal`` event and
``session_end``), and that the recording ends with a fade, not a cut.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid

import numpy as np
import pytest

from ._signal import first_sound
from .conftest import ALSA_CONF, bls_command

pytestmark = pytest.mark.e2e

SR = 48_000
#: the tap over ALSA's jack PCM, which plays into the dummy JACK server's system ports
TAP_JACK_CONF = ('pcm.tap { type file slave.pcm { type jack playback_ports { 0 system:playback_1 '
                 '1 system:playback_2 } } file { @func getenv vars [ BLS_AUDIO_TAP ] default "/dev/null" } '
                 'format "raw" }\n')
JACK_PLUGIN_DIRS = ("/usr/lib/x86_64-linux-gnu/alsa-lib", "/usr/lib/aarch64-linux-gnu/alsa-lib",
                    "/usr/lib/alsa-lib", "/usr/lib64/alsa-lib")
MID_SET_S = 1.5  # the set has played this long (recorded, at real-time pace) when the signal comes
EXIT_WITHIN_S = 6.0  # fade 0.15 s, glide home ~1.5 s at most, record, stream closed; generous for CI
ENV_WINDOW = SR // 50  # 20 ms: the envelope's window
ENV_HOP = SR // 200  # 5 ms


def _jack_plugin() -> bool:
    return any(os.path.exists(os.path.join(d, "libasound_module_pcm_jack.so")) for d in JACK_PLUGIN_DIRS)


@pytest.fixture
def jack_tap(tmp_path, screens_env):
    """(env for the app on device 'tap' at real-time pace, path of the raw float32 stereo recording)."""
    if not ALSA_CONF.exists() or shutil.which("jackd") is None or shutil.which("jack_wait") is None:
        pytest.skip("needs ALSA and jackd2 (apt install jackd2 libasound2-plugins)")
    if not _jack_plugin():
        pytest.skip("needs ALSA's jack plugin (apt install libasound2-plugins)")
    name = f"bls-signals-{uuid.uuid4().hex[:10]}"
    env = dict(screens_env, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
    server = None
    log = tmp_path / "jackd.log"
    # the machine's JACK registry holds 8 servers: other tests' servers may fill it for a moment
    for _ in range(20):
        with open(log, "w") as out:
            server = subprocess.Popen(["jackd", "--no-realtime", "-d", "dummy", "-r", str(SR), "-p", "1024"],
                                      env=env, stdout=out, stderr=subprocess.STDOUT)
        ok = subprocess.run(["jack_wait", "-w", "-t", "5"], check=False, env=env, capture_output=True).returncode == 0
        if ok and server.poll() is None:
            break
        server.kill()
        server.wait()
        server = None
        time.sleep(1.0)
    if server is None:
        pytest.skip(f"no JACK dummy server could start: {log.read_text()[-300:]}")
    conf = tmp_path / "bls-tap-jack.conf"
    conf.write_text(TAP_JACK_CONF)
    raw = tmp_path / "tap.raw"
    env.update(ALSA_CONFIG_PATH=f"{ALSA_CONF}:{conf}", BLS_AUDIO_TAP=str(raw))
    try:
        yield env, raw
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _start_app(env, log):
    return subprocess.Popen([*bls_command(), "--preset", "standard", "--client-screen", "CLIENT", "--start",
                             "--log", str(log), "--audio-device", "tap"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_mid_set(proc, raw) -> None:
    """Until the recording holds MID_SET_S of sound (the set started within the first 0.5 s)."""
    deadline = time.monotonic() + 60
    want = int((MID_SET_S + 0.5) * SR) * 8
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the app ended before the signal (status {proc.returncode}): {err}")
        if raw.exists() and raw.stat().st_size >= want:
            return
        time.sleep(0.02)
    proc.kill()
    pytest.fail("the recording did not grow: the app is not playing through the tap")


def _finish(proc) -> tuple[int, str, float]:
    t0 = time.monotonic()
    try:
        out, err = proc.communicate(timeout=EXIT_WITHIN_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the app did not exit within {EXIT_WITHIN_S} s of the signal: {err}")
    return proc.returncode, out + err, time.monotonic() - t0


def _envelope(raw_path):
    """(recording as float64 frames x 2, 20 ms RMS envelope (both channels) every 5 ms, its first frames)."""
    audio = np.fromfile(raw_path, dtype="<f4").reshape(-1, 2).astype(np.float64)
    power = np.concatenate([[0.0], np.cumsum((audio * audio).sum(axis=1))])
    starts = np.arange(0, len(audio) - ENV_WINDOW, ENV_HOP)
    env = np.sqrt(np.maximum(power[starts + ENV_WINDOW] - power[starts], 0.0) / ENV_WINDOW)
    return audio, env, starts


def _fade_at_the_end(raw_path, record) -> dict:
    """The end of the recorded sound: ms from the signal to silence, the level of the last 20 ms of
    sound and how long the level took to fall from 90 % of the steady level to silence (both relative
    to the steady level before the signal)."""
    audio, env, starts = _envelope(raw_path)
    (rec,) = record["sets"]
    sig = next(e for e in record["events"] if e["kind"] == "signal")
    onset = first_sound(audio.astype(np.float32))
    prefill = onset - 1 - rec["start_frame"]  # recording frame = engine frame + prefill
    signal_frame = round(sig["t_s"] * SR) + prefill  # where the engine was rendering at the signal
    steady = float(np.median(env[(starts > onset + SR) & (starts + ENV_WINDOW < signal_frame)]))
    loud = np.nonzero(np.abs(audio).max(axis=1) > 1e-3 * steady)[0]
    end = int(loud[-1]) + 1  # the first frame of silence for good
    last20 = float(np.sqrt((audio[end - ENV_WINDOW:end] ** 2).sum(axis=1).mean()) / steady)
    high = np.nonzero(env >= 0.9 * steady)[0]
    fall_from = int(starts[high[-1]] + ENV_WINDOW)  # the end of the last window still at 90 %
    return {"steady": steady, "signal_to_silence_ms": (end - signal_frame) / SR * 1000,
            "last_20ms": last20, "fall_ms": (end - fall_from) / SR * 1000}


def _check_record(log, first_signal: str, actions: list[str]) -> dict:
    assert log.exists(), "no session record written"
    doc = json.loads(log.read_text(encoding="utf-8"))
    (rec,) = doc["sets"]
    assert rec["audio_device"] == "tap (ALSA)", doc.get("audio_detail")
    assert rec["stop_reason"] == "quit"
    assert 0 < rec["passes_delivered"] < rec["passes_requested"]  # stopped mid-set
    signals = [e for e in doc["events"] if e["kind"] == "signal"]
    assert [e["signal"] for e in signals] == [first_signal] * len(actions)
    assert [e["action"] for e in signals] == actions
    assert doc["events"][-1]["kind"] == "session_end"
    return doc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_mid_set_fades_writes_the_record_and_exits_128_plus_signum(jack_tap, tmp_path, sig):
    env, raw = jack_tap
    log = tmp_path / "L.json"
    proc = _start_app(env, log)
    _wait_mid_set(proc, raw)
    proc.send_signal(sig)
    status, output, took = _finish(proc)
    assert status == 128 + sig, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert f"bls: {sig.name}: ending the session" in output
    doc = _check_record(log, sig.name, ["quit"])
    m = _fade_at_the_end(raw, doc)
    print(f"\n[{sig.name}] exit {status} after {took:.2f} s; signal to silence {m['signal_to_silence_ms']:.0f} ms, "
          f"fall from 90 % {m['fall_ms']:.0f} ms, last 20 ms at {m['last_20ms']:.3f} of the steady level")
    assert m["signal_to_silence_ms"] <= 1000  # the stop fade (150 ms) and a block or two
    assert m["fall_ms"] >= 100  # a fade, not a cut
    assert m["last_20ms"] < 0.1  # the last sound is far below the steady level


def test_a_second_signal_exits_at_once_without_a_cut(jack_tap, tmp_path):
    env, raw = jack_tap
    log = tmp_path / "L.json"
    proc = _start_app(env, log)
    _wait_mid_set(proc, raw)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    status, output, took = _finish(proc)
    assert status == 128 + signal.SIGTERM, output
    assert "Traceback" not in output, output
    assert "SIGTERM again: exiting now" in output
    assert took < 1.0  # no glide home, no waiting on Qt: the rest of the stop fade at most
    doc = _check_record(log, "SIGTERM", ["quit", "exit at once"])
    m = _fade_at_the_end(raw, doc)
    print(f"\n[SIGTERM x2] exit {status} after {took:.2f} s; signal to silence {m['signal_to_silence_ms']:.0f} ms, "
          f"fall from 90 % {m['fall_ms']:.0f} ms, last 20 ms at {m['last_20ms']:.3f} of the steady level")
    assert m["last_20ms"] < 0.1
    assert m["fall_ms"] >= 100
