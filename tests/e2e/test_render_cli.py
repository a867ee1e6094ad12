"""``bls render`` from a subprocess: the WAV, the trace, and how they agree; bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bls.core.preset import find_preset
from bls.core.render import read_wav, render

from ._signal import SR, av_offset, balance_curve, direction_changes, ends_reached, read_trace_csv
from .conftest import base_env, bls_command, no_traceback, run

pytestmark = pytest.mark.e2e

SECONDS = 15.0


def _render(tmp_path, *args: str):
    return run([*bls_command(), "render", *args], base_env(), timeout=120, cwd=tmp_path)


@pytest.fixture(scope="module")
def standard_render(tmp_path_factory):
    """One 15 s render of 'standard' with its trace (shared: the analysis tests only read it)."""
    d = tmp_path_factory.mktemp("render")
    env = base_env(BLS_CONFIG_DIR=str(d / "config"))
    wav, csv = d / "standard.wav", d / "standard.csv"
    proc = run([*bls_command(), "render", "--preset", "standard", "--seconds", str(SECONDS),
                "--out", str(wav), "--trace", str(csv)], env, timeout=120, cwd=d)
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    audio, rate = read_wav(wav)
    return proc, wav, audio, rate, read_trace_csv(csv)


def test_render_writes_float32_48k_stereo_wav_and_trace(standard_render):
    proc, wav, audio, rate, trace = standard_render
    raw = wav.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    fmt = raw.index(b"fmt ")
    tag, channels, rate_hdr, _, _, bits = np.frombuffer(raw[fmt + 8:fmt + 24], dtype="<u2,<u2,<u4,<u4,<u2,<u2")[0]
    assert (tag, channels, rate_hdr, bits) == (3, 2, 48_000, 32)  # IEEE float, stereo, 48 kHz
    assert rate == 48_000 and audio.dtype == np.float32 and audio.shape == (int(SECONDS * SR), 2)
    # the file holds exactly what the engine renders (the same synthesis code, bit for bit)
    ref, ref_trace, _ = render(find_preset("standard"), SECONDS)
    assert np.array_equal(audio, ref)
    assert trace.shape == ref_trace.shape == (int(SECONDS * 60), 4)  # t = 0 .. 15 s - 1 frame
    np.testing.assert_allclose(trace, ref_trace, rtol=0, atol=1e-6)  # CSV keeps 6 decimals
    assert np.allclose(np.diff(trace[:, 0]), 1 / 60, atol=2e-6)
    assert "wrote" in proc.stdout and "24 passes" in proc.stdout, proc.stdout


def test_render_peak_is_at_most_minus_24_dbfs(standard_render):
    _, _, audio, _, _ = standard_render
    peak_dbfs = 20 * np.log10(np.abs(audio).max())
    print(f"\n[render] standard: peak {peak_dbfs:.4f} dBFS")
    assert peak_dbfs <= -24.0 + 0.01
    assert peak_dbfs > -24.5  # the set does reach its level (not silence, not a wrong gain)


def test_render_balance_follows_trace_pan(standard_render):
    _, _, audio, _, trace = standard_render
    av = av_offset(audio, trace[:, 0], trace[:, 3])
    print(f"\n[render] A/V offset {av.offset_ms:+.4f} ms ({av.offset_frames:+.3f} frames; window "
          f"{av.window_ms:.1f} ms, {av.n_frames} display frames), correlation {av.peak_correlation:.6f}, "
          f"balance vs trace pan: max error {av.max_abs_error:.4f}, rms {av.rms_error:.4f}")
    assert abs(av.offset_ms) <= 1.0
    assert av.peak_correlation > 0.999
    assert av.max_abs_error < 0.02


def test_render_trace_shows_the_24_passes(standard_render):
    _, _, audio, _, trace = standard_render
    x = trace[:, 1]
    ends = ends_reached(x)
    turns = direction_changes(x)
    # 24 passes end to end, after the initial half pass from the centre to the right end; the last end
    # is followed by the glide back to the centre, so every end reached is a change of direction
    assert len(ends) == 24 + 1, ends
    assert len(turns) == 24 + 1
    assert np.all(np.abs(x[turns]) >= 0.99)
    assert np.array_equal(np.sign(ends), np.resize([1.0, -1.0], len(ends)))  # right, left, right, ...
    # after the set: the target rests at the centre and the tone is silent
    last_turn_t = trace[turns[-1], 0]
    rest = trace[:, 0] > last_turn_t + 1.5
    assert rest.any() and np.all(trace[rest, 1:] == 0.0)
    assert not audio[int((last_turn_t + 1.5) * SR):].any()


def test_render_pcm16(tmp_path):
    out = tmp_path / "standard16.wav"
    proc = _render(tmp_path, "--preset", "standard", "--seconds", "4", "--out", str(out), "--pcm16")
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    raw = out.read_bytes()
    fmt = raw.index(b"fmt ")
    tag, channels, rate, _, _, bits = np.frombuffer(raw[fmt + 8:fmt + 24], dtype="<u2,<u2,<u4,<u4,<u2,<u2")[0]
    assert (tag, channels, rate, bits) == (1, 2, 48_000, 16)
    audio, rate = read_wav(out)
    ref, trace, _ = render(find_preset("standard"), 4.0)
    assert audio.shape == ref.shape
    np.testing.assert_allclose(audio, ref, rtol=0, atol=0.5 / 32767 + 1e-7)  # rounding to 16 bits only
    assert "16-bit" in proc.stdout
    av = av_offset(audio, trace[:, 0], trace[:, 3])
    assert abs(av.offset_ms) <= 1.0 and av.peak_correlation > 0.999


def _one_line_error(proc, *words: str) -> str:
    """The message a user reads: the last line of stderr (argparse puts its usage lines before it)."""
    no_traceback(proc)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert lines, "no message"
    msg = lines[-1]
    assert msg.startswith("bls render"), proc.stderr
    for w in words:
        assert w in msg, msg
    body = [ln for ln in lines if not ln.startswith(("usage:", " "))]
    assert body == [msg], f"more than one line of message: {proc.stderr!r}"
    return msg


def test_render_unknown_preset(tmp_path):
    proc = _render(tmp_path, "--preset", "nosuch", "--seconds", "2", "--out", str(tmp_path / "x.wav"))
    assert proc.returncode == 2
    msg = _one_line_error(proc, "nosuch", "standard")
    assert not (tmp_path / "x.wav").exists(), msg


@pytest.mark.parametrize("seconds", ["-1", "0", "nan", "abc"])
def test_render_bad_seconds(tmp_path, seconds):
    proc = _render(tmp_path, "--seconds", seconds, "--out", str(tmp_path / "x.wav"))
    assert proc.returncode == 2
    _one_line_error(proc, "--seconds")


@pytest.mark.parametrize("where", ["missing_dir", "directory", "parent_is_a_file", "disk_full", "read_only_dir"])
def test_render_unwritable_out(tmp_path, where):
    if where == "missing_dir":
        out = tmp_path / "no" / "such" / "dir" / "x.wav"
    elif where == "directory":
        out = tmp_path
    elif where == "parent_is_a_file":
        (tmp_path / "file").write_text("")
        out = tmp_path / "file" / "x.wav"
    elif where == "disk_full":
        if not os.path.exists("/dev/full"):
            pytest.skip("no /dev/full")
        out = "/dev/full"
    else:
        if os.geteuid() == 0:
            pytest.skip("root can write into a read-only directory")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        out = ro / "x.wav"
    proc = _render(tmp_path, "--seconds", "1", "--out", str(out))
    _one_line_error(proc, "cannot write")


def test_render_absurd_length_is_refused_with_a_message(tmp_path):
    proc = _render(tmp_path, "--seconds", "1e12", "--out", str(tmp_path / "x.wav"))
    _one_line_error(proc)


# --------------------------------------------------------------------------- what --out and --trace replace


def _mknod_null(path):
    import stat

    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    except OSError as exc:
        pytest.skip(f"mknod is not permitted here: {exc}")


@pytest.mark.parametrize("option", ["--out", "--trace"])
@pytest.mark.parametrize("kind", ["symlink", "device", "fifo", "symlink-to-device"])
def test_render_never_replaces_a_link_a_device_or_a_fifo(tmp_path, option, kind):
    target = tmp_path / "target"
    if kind == "symlink":
        (tmp_path / "precious").write_bytes(b"not a render")
        target.symlink_to(tmp_path / "precious")
    elif kind == "device":
        _mknod_null(target)
    elif kind == "fifo":
        os.mkfifo(target)  # opening it to write would hang the render: it must not be opened at all
    else:
        _mknod_null(tmp_path / "null")
        target.symlink_to(tmp_path / "null")
    before = os.lstat(target)
    out = target if option == "--out" else tmp_path / "x.wav"
    extra = ["--trace", str(target)] if option == "--trace" else []
    proc = _render(tmp_path, "--seconds", "1", "--out", str(out), *extra)
    assert proc.returncode == 1
    msg = _one_line_error(proc, "cannot write", f"{option} {target}")
    assert ("symbolic link" if kind.startswith("symlink") else "not a file") in msg
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
    if kind == "symlink":
        assert (tmp_path / "precious").read_bytes() == b"not a render"
    assert not (tmp_path / "x.wav").exists()  # nothing half done is left either
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_render_trace_to_dev_full_blames_the_trace(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    proc = _render(tmp_path, "--seconds", "1", "--out", str(tmp_path / "x.wav"), "--trace", "/dev/full")
    msg = _one_line_error(proc, "cannot write", "--trace /dev/full")
    assert "--out" not in msg and "()" not in msg
    assert not (tmp_path / "x.wav").exists()


def test_render_replaces_a_regular_file_whole_and_keeps_its_mode(tmp_path):
    out = tmp_path / "x.wav"
    out.write_bytes(b"an older render")
    os.chmod(out, 0o600)
    proc = _render(tmp_path, "--seconds", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    audio, rate = read_wav(out)
    assert audio.shape == (48_000, 2) and rate == 48_000 and (os.stat(out).st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.wav"]


def test_render_to_a_full_stdout_says_so_without_a_traceback(tmp_path):
    import subprocess

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([*bls_command(), "render", "--seconds", "1", "--out", str(tmp_path / "x.wav")],
                              env=base_env(), cwd=tmp_path, stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == ["bls: cannot write to standard output: No space left on device"]


def test_render_a_preset_whose_file_failed_to_load_says_why(tmp_path):
    config = tmp_path / "config"
    (config / "presets").mkdir(parents=True)
    bad = config / "presets" / "mine.yaml"
    bad.write_text("name: calm place\nmotion:\n  speed_cycles_per_s: 9\n")
    proc = run([*bls_command(), "render", "--preset", "calm place", "--seconds", "1", "--out",
                str(tmp_path / "x.wav")], base_env(BLS_CONFIG_DIR=str(config)), timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    msg = _one_line_error(proc, "'calm place'", str(bad), "failed to load", "line 3",
                          "motion.speed_cycles_per_s: 9 is out of range")
    assert "no preset named" not in msg and not (tmp_path / "x.wav").exists()


def _turns(values: np.ndarray, step_s: float) -> list[tuple[float, float]]:
    """(time, sign) of each turnaround of a sampled curve: the extreme sample at a change of direction,
    refined by the parabola through it and its two neighbours."""
    out = []
    for i in direction_changes(values):
        j = int(i - 1 + np.argmax(np.abs(values[i - 1:i + 2]))) if 1 <= i < len(values) - 1 else int(i)
        if not 1 <= j < len(values) - 1:
            continue
        a, b, c = values[j - 1], values[j], values[j + 1]
        denom = a - 2 * b + c
        frac = 0.5 * (a - c) / denom if denom != 0 else 0.0
        out.append(((j + frac) * step_s, float(np.sign(b))))
    return out


def measured_av_shift_ms(audio: np.ndarray, trace: np.ndarray) -> tuple[float, float, int]:
    """How much later the picture reaches each end than the sound does, measured from the files alone:
    the turnarounds of x in the trace against those of the balance heard in the audio (1 ms steps).
    Returns (median, largest deviation from it, turns paired) in ms."""
    step = 48  # 1 ms
    centres = np.arange(1000 * step, len(audio) - 1000 * step, step)  # the fade-in's first second left out
    bal, energy = balance_curve(audio, centres, 120)
    loud = energy >= 0.05 * energy.max()
    heard = [(centres[0] / SR + t, s) for t, s in _turns(np.where(loud, bal, 0.0), step / SR)
             if loud[int(round(t * SR / step))] and abs(bal[int(round(t * SR / step))]) > 0.9]
    dt = float(trace[1, 0] - trace[0, 0])
    seen = [(trace[0, 0] + t, s) for t, s in _turns(trace[:, 1], dt) if abs(trace[int(round(t / dt)), 1]) > 0.99]
    shifts = []
    for t, s in seen:
        near = [h for h, hs in heard if hs == s and abs(h - t) < 0.25]
        if near:
            shifts.append((t - min(near, key=lambda h: abs(h - t))) * 1000.0)
    assert len(shifts) >= 10, (len(seen), len(heard))
    med = float(np.median(shifts))
    return med, float(np.max(np.abs(np.array(shifts) - med))), len(shifts)


@pytest.mark.parametrize("offset_ms", [0, 150, -120])
def test_av_offset_shifts_the_trace_against_the_audio_by_that_much(tmp_path, offset_ms):
    wav, csv = tmp_path / "a.wav", tmp_path / "a.csv"
    args = ["--preset", "standard", "--seconds", "10", "--out", str(wav), "--trace", str(csv), "--fps", "1000"]
    proc = _render(tmp_path, *args, *(["--av-offset-ms", str(offset_ms)] if offset_ms else []))
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    audio, _ = read_wav(wav)
    trace = read_trace_csv(csv)
    assert trace.shape == (10 * 1000, 4)
    shift, spread, n = measured_av_shift_ms(audio, trace)
    av = av_offset(audio, trace[:, 0], trace[:, 3], max_lag=int(0.2 * SR))  # the pan column agrees
    print(f"\n[render] --av-offset-ms {offset_ms}: picture turns {shift:+.3f} ms after the sound's "
          f"(±{spread:.3f} ms over {n} ends); balance vs trace pan offset {av.offset_ms:+.3f} ms")
    assert abs(shift - offset_ms) <= 1.0 and spread <= 1.0
    assert abs(av.offset_ms + offset_ms) <= 1.0 and av.peak_correlation > 0.999
    ref, _, _ = render(find_preset("standard"), 10.0)
    assert np.array_equal(audio, ref)  # the sound is the same: only the picture moves


@pytest.mark.parametrize("value", ["301", "-300.5", "1e9", "nan", "soon"])
def test_av_offset_out_of_range_is_refused_with_the_range(tmp_path, value):
    proc = _render(tmp_path, "--seconds", "1", "--out", str(tmp_path / "x.wav"), f"--av-offset-ms={value}")
    words = ("--av-offset-ms",) + (("-300 to +300 ms",) if value not in ("nan", "soon") else ("milliseconds",))
    _one_line_error(proc, *words)
    assert not (tmp_path / "x.wav").exists()
