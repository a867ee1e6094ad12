"""The built wheel: presets and entry point inside it, and an installed copy that finds its presets
outside a source checkout."""

from __future__ import annotations

import json
import sys
import zipfile

import pytest

from bls.core import gentle, photosafe, preset, tone

from .conftest import REPO, base_env, no_traceback, run

pytestmark = pytest.mark.e2e

BUILTINS = {"standard", "slow", "gentle"}
CLINICAL_BASIS = "bls/docs/clinical-basis.md"
#: numbers the clinical basis states, written out literally (never computed from the code under test)
STATED = ("-12 dBFS", "-24 dBFS", "2 cycles/s", "0.5 cycles/s", "3 flashes", "0.3 per second", "0.1 per second")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    proc = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir",
                "-q", "-w", str(out), str(REPO)], base_env(PIP_DISABLE_PIP_VERSION_CHECK="1"),
               timeout=300, cwd=out)
    if proc.returncode != 0 and "hatchling" in proc.stderr and "No module named" in proc.stderr:
        pytest.skip("hatchling is not installed in this environment")
    assert proc.returncode == 0, proc.stderr
    (whl,) = out.glob("bls-*.whl")
    return whl


def test_wheel_contains_presets_and_entry_point(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for p in BUILTINS:
            assert f"bls/presets/{p}.yaml" in names, sorted(names)
        assert "bls/ui/assets/check.svg" in names  # drawn in every checked box
        for f in ("index.html", "page.js", "page.css", "model.js", "clock.js", "worklet.js"):
            assert f"bls/remote/web/{f}" in names  # the remote client's page: served by bls itself
        (ep,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = z.read(ep).decode()
    assert "[console_scripts]" in entry_points
    assert "bls = bls.cli:main" in entry_points.replace("  ", " ")
    assert not any(n.startswith(("tests/", "presets/")) for n in names)  # presets live inside the package


def test_wheel_ships_the_clinical_basis_and_it_states_the_enforced_numbers(wheel):
    with zipfile.ZipFile(wheel) as z:
        assert CLINICAL_BASIS in z.namelist(), sorted(z.namelist())
        doc = z.read(CLINICAL_BASIS).decode("utf-8")
    missing = [s for s in STATED if s not in doc]
    assert not missing, f"{CLINICAL_BASIS} no longer states {missing}"
    # ... and those literals are what the code enforces: changing either side fails here
    assert tone.LEVEL_CAP_DBFS == -12.0  # "-12 dBFS": the hard cap
    assert preset.Audio().level_dbfs == -24.0  # "-24 dBFS": the default level
    assert preset.SPEED_MAX == 2.0  # "2 cycles/s": the hard speed limit
    assert gentle.SPEED_MAX == 0.5  # "0.5 cycles/s": the gentle speed limit
    # "3 flashes" (WCAG 2.3.1): a general flash needs opposing changes of 0.1 relative luminance, and
    # the screen-mean luminance slews at most "0.3 per second", so at most 3 such changes fit in a second
    assert photosafe.MAX_LUMINANCE_SLEW == 0.3
    assert photosafe.MAX_RED_SLEW == 0.1  # "0.1 per second": saturated red


def test_installed_wheel_finds_its_presets_outside_the_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    elsewhere = tmp_path / "elsewhere"  # not the checkout: no presets/ next to the package
    elsewhere.mkdir()
    code = ("import json, bls, bls.core.preset as p, bls.core.paths as paths; "
            "print(json.dumps({'bls': bls.__file__, 'dir': str(paths.builtin_presets_dir()), "
            "'names': sorted(p.builtin_presets())}))")
    env = base_env(PYTHONPATH=str(site))
    proc = run([sys.executable, "-c", code], env, timeout=60, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["bls"].startswith(str(site)), f"imported bls from {doc['bls']}, not the unpacked wheel"
    assert doc["dir"] == str(site / "bls" / "presets")
    assert set(doc["names"]) >= BUILTINS

    # and the installed command line renders with them
    out = tmp_path / "slow.wav"
    proc = run([sys.executable, "-m", "bls", "render", "--preset", "slow", "--seconds", "1", "--out", str(out)],
               env, timeout=60, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    assert out.stat().st_size > 48_000 * 2 * 4


def test_pipx_installs_the_wheel_and_the_command_renders_and_runs_the_app(wheel, tmp_path):
    """What README's Install section tells a therapist with Python: ``pipx install`` the wheel, then
    ``bls``. Into a pipx home of the test's own (its own venv, the dependencies from the package index);
    the installed ``bls`` renders a track (a real stereo tone) and starts the app offscreen and quits."""
    pytest.importorskip("pipx", reason="pipx is in the test extras")
    home, bin_dir = tmp_path / "pipx", tmp_path / "bin"
    env = base_env(PIPX_HOME=str(home), PIPX_BIN_DIR=str(bin_dir), PIPX_MAN_DIR=str(tmp_path / "man"),
                   PIP_DISABLE_PIP_VERSION_CHECK="1")
    proc = run([sys.executable, "-m", "pipx", "install", "--python", sys.executable, str(wheel)], env,
               timeout=900, cwd=tmp_path)
    if proc.returncode != 0 and ("Could not find a version" in proc.stderr or "NewConnectionError" in proc.stderr):
        pytest.skip("the package index is not reachable: " + proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr[-3000:]
    bls_cmd = bin_dir / ("bls.exe" if sys.platform == "win32" else "bls")
    assert bls_cmd.exists(), proc.stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    wav = tmp_path / "set.wav"
    proc = run([str(bls_cmd), "render", "--seconds", "2", "--out", str(wav)], env, timeout=120, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    import numpy as np
    data = np.frombuffer(wav.read_bytes()[-2 * 48_000 * 4:], dtype="<f4").reshape(-1, 2)
    assert np.max(np.abs(data)) > 0.01 and np.max(np.abs(data)) <= 10 ** (-12 / 20)  # a tone, under the cap
    assert not np.allclose(data[:, 0], data[:, 1])  # panned: the ears differ
    app_env = base_env(PIPX_HOME=str(home), QT_QPA_PLATFORM="offscreen", BLS_CONFIG_DIR=str(tmp_path / "cfg"),
                       BLS_DATA_DIR=str(tmp_path / "data"))
    proc = run([str(bls_cmd), "--no-audio", "--exit-after", "1"], app_env, timeout=120, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-3000:]
    no_traceback(proc)
    venv_python = next((home / "venvs" / "bls").glob("bin/python*"), None) or \
        next((home / "venvs" / "bls").glob("Scripts/python.exe"))
    where = run([str(venv_python), "-c", "import bls, sys; print(bls.__file__)"], env, timeout=60, cwd=elsewhere)
    assert str(home) in where.stdout  # the installed copy ran, not the checkout
