"""The built wheel: presets and entry point inside it, and an installed copy that finds its presets
outside a source checkout."""

from __future__ import annotations

import json
import sys
import zipfile

import pytest

from .conftest import REPO, base_env, no_traceback, run

pytestmark = pytest.mark.e2e

BUILTINS = {"standard", "slow", "gentle"}


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
        (ep,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = z.read(ep).decode()
    assert "[console_scripts]" in entry_points
    assert "bls = bls.cli:main" in entry_points.replace("  ", " ")
    assert not any(n.startswith(("tests/", "presets/")) for n in names)  # presets live inside the package


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
