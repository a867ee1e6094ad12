"""The app bundle (PyInstaller, packaging/bls.spec): built once for this module by scripts/build-bundle, then
run as a therapist without Python would run it: the bundled ``bls render`` makes the same stereo tone as
the source tree, the app starts (offscreen, and on an X server through its own xcb plugin), runs a set and
quits cleanly, the bundle carries bls's data and its relay serves the remote page from it.

The CI workflow (.github/workflows/ci.yml) builds the bundle on Linux, Windows and macOS and runs this module
on it: ``BLS_BUNDLE_DIR`` names a bundle already built (dist/bls), and nothing is built here then."""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import shutil
import socket
import struct
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from bls.core import preset as presets
from bls.core import tone

from .conftest import REPO, base_env, no_traceback, run

pytestmark = pytest.mark.e2e

WIN = sys.platform == "win32"
BUILTINS = ("standard", "slow", "gentle")
WEB = ("index.html", "page.js", "page.css", "model.js", "clock.js", "worklet.js")
BUILD_TIMEOUT_S = 1800


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """The bundle's folder (dist/bls): the one $BLS_BUNDLE_DIR names, else one built here."""
    given = os.environ.get("BLS_BUNDLE_DIR")
    if given:
        folder = Path(given).resolve()
        assert folder.is_dir(), f"BLS_BUNDLE_DIR={given} is not a folder"
        return folder
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("PyInstaller is not installed in this environment (it is in the test extras: "
                    "pip install -e '.[test]'); the bundle cannot be built")
    if WIN:
        pytest.skip("scripts/build-bundle is a bash script; on Windows the workflow builds the bundle and sets "
                    "BLS_BUNDLE_DIR")
    out = tmp_path_factory.mktemp("bundle")
    proc = run(["bash", str(REPO / "scripts" / "build-bundle")],
               base_env(BLS_BUNDLE_PYTHON=sys.executable, DIST=str(out / "dist"), WORK=str(out / "work")),
               timeout=BUILD_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    return out / "dist" / "bls"


def program(bundle: Path, console: bool = False) -> Path:
    """The bundle's executable; ``console``: the one whose output a terminal sees (Windows: bls-cli.exe)."""
    exe = bundle / (("bls-cli.exe" if console else "bls.exe") if WIN else "bls")
    assert exe.is_file(), f"no {exe.name} in {bundle}: {sorted(p.name for p in bundle.iterdir())}"
    return exe


def app_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Offscreen Qt, and config and data folders of the test's own (never the user's)."""
    env = base_env(QT_QPA_PLATFORM="offscreen", BLS_CONFIG_DIR=str(tmp_path / "config"),
                   BLS_DATA_DIR=str(tmp_path / "data"), **extra)
    env.pop("PYTHONPATH", None)  # the bundle needs no Python of ours
    return env


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """(sample rate, samples × channels) of a 32-bit float or 16-bit PCM WAV file."""
    b = path.read_bytes()
    assert b[:4] == b"RIFF" and b[8:12] == b"WAVE", b[:12]
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(b):
        cid, size = b[pos:pos + 4], struct.unpack("<I", b[pos + 4:pos + 8])[0]
        body = b[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[:16])
        elif cid == b"data":
            data = body
        pos += 8 + size + (size & 1)
    assert fmt is not None and data is not None, "no fmt or data chunk"
    kind, channels, rate, _, _, bits = fmt
    samples = (np.frombuffer(data, "<f4") if (kind, bits) == (3, 32)
               else np.frombuffer(data, "<i2").astype(np.float32) / 32768.0)
    return rate, samples.reshape(-1, channels)


def render_args(out: Path) -> list[str]:
    return ["render", "--preset", "standard", "--seconds", "3", "--out", str(out)]


def test_the_bundled_render_is_the_source_trees_stereo_tone_bit_for_bit(bundle, tmp_path):
    elsewhere = tmp_path / "elsewhere"  # not the checkout: the bundle finds its presets inside itself
    elsewhere.mkdir()
    ours = tmp_path / "bundle.wav"
    proc = run([str(program(bundle, console=True)), *render_args(ours)], app_env(tmp_path), timeout=120,
               cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    source = tmp_path / "source.wav"
    proc = run([sys.executable, "-m", "bls", *render_args(source)], base_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert ours.read_bytes() == source.read_bytes(), "the bundle renders other samples than the source tree"

    rate, x = read_wav(ours)
    assert x.shape[1] == 2 and rate == 48_000
    assert len(x) == 3 * rate
    peak = float(np.abs(x).max())
    assert peak > 10 ** (-60 / 20), "silent"
    assert 20 * np.log10(peak) <= tone.LEVEL_CAP_DBFS + 1e-6, f"peak {20 * np.log10(peak):.1f} dBFS"
    # a tone at the preset's carrier, in both channels
    carrier = presets.builtin_presets()["standard"].audio.carrier_hz
    for ch in (0, 1):
        spectrum = np.abs(np.fft.rfft(x[:, ch] * np.hanning(len(x))))
        assert abs(np.argmax(spectrum) * rate / len(x) - carrier) <= 2.0
    # ... panned with the target: when one side gets louder the other gets quieter, and each side has its turn
    env = np.sqrt((x[: len(x) // 960 * 960].reshape(-1, 960, 2) ** 2).mean(axis=1))  # 20 ms blocks
    balance = (env[:, 0] - env[:, 1]) / (env.sum(axis=1) + 1e-12)
    assert balance.max() > 0.5 and balance.min() < -0.5, (balance.min(), balance.max())
    change = np.diff(env, axis=0)
    assert np.corrcoef(change[:, 0], change[:, 1])[0, 1] < 0


def test_the_bundled_app_starts_offscreen_runs_a_set_and_quits_cleanly(bundle, tmp_path):
    env = app_env(tmp_path)
    proc = run([str(program(bundle)), "--preset", "standard", "--start", "--exit-after", "2", "--no-audio"], env,
               timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    assert "bls: audio" in proc.stderr and "Audio off" in proc.stderr, proc.stderr  # it reached its event loop
    # the set it ran is in the session record it wrote into the test's data folder
    (record,) = (tmp_path / "data" / "sessions").glob("session-*.json")
    doc = json.loads(record.read_text(encoding="utf-8"))
    (played,) = doc["sets"]
    assert played["preset"] == "standard" and played["stop_reason"] == "quit"
    assert played["seconds_delivered"] > 0


@pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("xvfb-run"),
                    reason="Linux with xvfb-run only (apt: xvfb): the bundled X11 platform plugin on a real X server")
def test_on_an_x_server_the_bundled_app_uses_its_own_xcb_plugin_runs_a_set_and_quits(bundle, tmp_path):
    env = app_env(tmp_path)
    env.pop("QT_QPA_PLATFORM")  # the desktop's platform: xcb on the X server xvfb-run starts
    env.pop("WAYLAND_DISPLAY", None)
    proc = run(["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24", str(program(bundle)), "--start",
                "--exit-after", "2", "--no-audio"], env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    assert "platform plugin" not in proc.stderr, proc.stderr  # "could not load the Qt platform plugin xcb"
    (record,) = (tmp_path / "data" / "sessions").glob("session-*.json")
    (played,) = json.loads(record.read_text(encoding="utf-8"))["sets"]
    assert played["stop_reason"] == "quit" and played["seconds_delivered"] > 0


def test_the_bundle_carries_the_presets_the_remote_page_and_the_clinical_basis(bundle, tmp_path):
    inside = bundle / "_internal" / "bls"
    for name in BUILTINS:
        assert (inside / "presets" / f"{name}.yaml").read_bytes() == (REPO / "presets" / f"{name}.yaml").read_bytes()
    for name in WEB:
        assert (inside / "remote" / "web" / name).read_bytes() == (REPO / "bls" / "remote" / "web" / name).read_bytes()
    for name in ("check.svg", "bls-icon.svg"):
        assert (inside / "ui" / "assets" / name).read_bytes() == (REPO / "bls" / "ui" / "assets" / name).read_bytes()
    assert (inside / "docs" / "clinical-basis.md").read_bytes() == (REPO / "docs" / "clinical-basis.md").read_bytes()
    # and the bundled program finds them: its preset list has the built-in ones
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = run([str(program(bundle, console=True)), "presets", "list"], app_env(tmp_path), timeout=60, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    listed = {line.split()[0] for line in proc.stdout.splitlines() if "built-in" in line}
    assert set(BUILTINS) <= listed, proc.stdout


def test_the_bundled_relay_serves_the_remote_page_from_the_bundle(bundle, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(program(bundle, console=True)), "relay", "--port", str(port)],
                            env=app_env(tmp_path, BLS_RELAY_KEYS="bundle-test-" + "k" * 32), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)  # it closed its stderr: it exited

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        seen = []
        while not (seen and "listening on" in seen[-1]):  # it says so once it listens
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                pytest.fail("the bundled relay did not say it listens: " + "".join(seen))
            assert line is not None, "the bundled relay exited: " + "".join(seen)
            seen.append(line)
        for name in ("page.js", "model.js"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/{name}", timeout=10) as r:
                assert r.status == 200
                assert r.read() == (REPO / "bls" / "remote" / "web" / name).read_bytes()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        reader.join(10)
        proc.stderr.close()


def test_the_bundled_program_runs_the_output_listers_child(bundle, tmp_path):
    """bls lists the sound outputs in a child, ``sys.executable -c CODE``: in the bundle that is bls itself,
    which must run the code (packaging/bls_main.py), not start the app."""
    from bls.audio.output import _LIST_CHILD

    proc = run([str(program(bundle)), "-c", _LIST_CHILD], app_env(tmp_path), timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    doc = json.loads(proc.stdout)
    assert "devices" in doc or "error" in doc, doc
    if "devices" in doc:  # PortAudio came along and answered (no outputs on a machine without sound is fine)
        assert isinstance(doc["devices"], list)


def pe_subsystem(exe: Path) -> int:
    """The Windows subsystem a PE executable asks for: 2 a window (no console), 3 a console."""
    b = exe.read_bytes()[:4096]
    assert b[:2] == b"MZ", exe
    pe = struct.unpack_from("<I", b, 0x3C)[0]
    assert b[pe:pe + 4] == b"PE\0\0", exe
    return struct.unpack_from("<H", b, pe + 24 + 68)[0]  # the optional header's Subsystem field


@pytest.mark.skipif(not WIN, reason="Windows only: a .exe opens a console window unless it is a window program")
def test_on_windows_bls_exe_opens_no_console_window_and_bls_cli_exe_is_the_console_one(bundle):
    assert pe_subsystem(program(bundle)) == 2  # IMAGE_SUBSYSTEM_WINDOWS_GUI
    assert pe_subsystem(program(bundle, console=True)) == 3  # IMAGE_SUBSYSTEM_WINDOWS_CUI
